//! The transitions the world will make on its own at given virtual times.
//!
//! Invariants: the [`Scheduler`] owns its events and their sequence numbers. Events are
//! kept sorted by (time, sequence); sequence numbers are handed out in increasing order
//! and never reused, so two events at the same second apply in the order they were
//! scheduled: the same calls always give the same order.

use crate::faults::{CapacityChange, EventAnnouncement, Impairment, ScheduledTermination};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// A state change the world will make on its own at a given virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// pending → running (and, with agent user data, its [`Transition::AgentStart`] is
    /// scheduled after the boot delay).
    InstanceRunning(InstanceId),
    /// shutting-down → terminated: volumes detach, addresses disassociate.
    InstanceTerminated(InstanceId),
    /// A terminated instance disappears from describe.
    InstanceRemoved(InstanceId),
    /// creating → available.
    VolumeAvailable(VolumeId),
    /// A group whose launch failed may try again.
    GroupRetry(AutoScalingGroupName),
    /// A deleting group disappears if its instances are terminated (else it is looked at
    /// again later).
    GroupDeleted(AutoScalingGroupName),
    /// Fault: Amazon terminates a random live instance; the next one is then scheduled
    /// ([`Faults::terminations_per_hour`](crate::Faults::terminations_per_hour)).
    RandomTermination,
    /// Fault: a capacity change from [`Faults::capacity`](crate::Faults::capacity).
    FaultCapacity(CapacityChange),
    /// Fault: a termination from [`Faults::terminations`](crate::Faults::terminations).
    FaultTermination(ScheduledTermination),
    /// pending → available (CreateImage, CopyImage).
    ImageAvailable(ImageId),
    /// pending → completed.
    SnapshotCompleted(SnapshotId),
    /// The instance's agent starts (cloud-init ran its user data), if it still runs.
    AgentStart(InstanceId),
    /// Fault: a status check turns impaired, from [`Faults::impairments`](crate::Faults::impairments).
    FaultImpairment(Impairment),
    /// Fault: AWS announces an event, from [`Faults::scheduled_events`](crate::Faults::scheduled_events).
    FaultEvent(EventAnnouncement),
    /// An instance's impairments that have run their course end (`status.rs`).
    ImpairmentEnded(InstanceId),
    /// A scheduled event (by its id) falls due: AWS carries it out (`status.rs`).
    EventDue(InstanceId, String),
    /// A completed event (by its id) is no longer listed.
    EventExpired(InstanceId, String),
    /// stopping → stopped.
    InstanceStopped(InstanceId),
    /// An auto scaling group's EC2 health check looks at its members (`status.rs`).
    GroupHealthCheck(AutoScalingGroupName),
}

impl Transition {
    /// A transition installed by [`World::set_faults`](crate::World::set_faults) (replaced
    /// when faults are installed again).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Transition::RandomTermination
                | Transition::FaultCapacity(_)
                | Transition::FaultTermination(_)
                | Transition::FaultImpairment(_)
                | Transition::FaultEvent(_)
        )
    }
}

/// One scheduled transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub at: Timestamp,
    pub seq: u64,
    pub transition: Transition,
}

/// The transitions to come, in (time, sequence) order (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scheduler {
    events: Vec<Scheduled>,
    next_seq: u64,
}

impl Scheduler {
    /// From a state file's `scheduled` and `next_seq`: sorted, and with `next_seq` above
    /// every sequence number in use (a hand-edited file may have neither).
    pub(super) fn from_parts(mut events: Vec<Scheduled>, next_seq: u64) -> Scheduler {
        events.sort_by_key(|s| (s.at, s.seq));
        let in_use = events.iter().map(|s| s.seq.saturating_add(1)).max().unwrap_or(0);
        Scheduler { events, next_seq: next_seq.max(in_use) }
    }

    /// The state file's `scheduled` and `next_seq`.
    pub(super) fn parts(&self) -> (&Vec<Scheduled>, &u64) {
        (&self.events, &self.next_seq)
    }

    /// Schedules a transition at an absolute time (one in the past applies at the next advance).
    pub(super) fn schedule_at(&mut self, at: Timestamp, transition: Transition) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let pos = self.events.partition_point(|s| (s.at, s.seq) <= (at, seq));
        self.events.insert(pos, Scheduled { at, seq, transition });
    }

    /// The earliest event, if it is due at `t`.
    pub(super) fn pop_due(&mut self, t: Timestamp) -> Option<Scheduled> {
        if self.is_due(t) {
            Some(self.events.remove(0))
        } else {
            None
        }
    }

    /// Whether an event is due at `t`.
    pub(super) fn is_due(&self, t: Timestamp) -> bool {
        self.events.first().is_some_and(|s| s.at <= t)
    }

    /// Drops the events `remove` picks.
    pub(super) fn cancel(&mut self, remove: impl Fn(&Transition) -> bool) {
        self.events.retain(|s| !remove(&s.transition));
    }

    /// The events to come, earliest first.
    pub fn events(&self) -> &[Scheduled] {
        &self.events
    }

    /// The sequence number the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &Scheduler) -> Vec<(u64, u64)> {
        s.events().iter().map(|e| (e.at.0, e.seq)).collect()
    }

    #[test]
    fn events_keep_time_then_sequence_order() {
        let mut s = Scheduler::default();
        for at in [5, 3, 5, 1, 3] {
            s.schedule_at(Timestamp(at), Transition::RandomTermination);
        }
        assert_eq!(ids(&s), vec![(1, 3), (3, 1), (3, 4), (5, 0), (5, 2)]);
        assert_eq!(s.next_seq(), 5);
        assert_eq!(s.pop_due(Timestamp(0)), None);
        assert_eq!(s.pop_due(Timestamp(3)).map(|e| e.seq), Some(3));
        assert_eq!(s.pop_due(Timestamp(3)).map(|e| e.seq), Some(1));
        assert_eq!(ids(&s), vec![(3, 4), (5, 0), (5, 2)]);
    }

    #[test]
    fn a_hand_edited_schedule_is_put_in_order() {
        let event = |at, seq| Scheduled { at: Timestamp(at), seq, transition: Transition::RandomTermination };
        let s = Scheduler::from_parts(vec![event(9, 0), event(2, 7), event(2, 1)], 3);
        assert_eq!(ids(&s), vec![(2, 1), (2, 7), (9, 0)]);
        assert_eq!(s.next_seq(), 8, "never hands out a sequence number in use");
        assert_eq!(Scheduler::from_parts(vec![], 12).next_seq(), 12);
    }
}
