//! The virtual clock: moving it forward and applying what falls due on the way.
//!
//! Invariants: the clock only moves forward, only here, and never past [`MAX_CLOCK`]
//! (every move saturates there, so no arithmetic on it can overflow). Due transitions
//! apply in (time, seq) order, the clock standing at each one's time, and auto scaling
//! groups reconcile after each. One move of the clock asked for by a person covers at most
//! [`MAX_ADVANCE_SECS`] and ends no later than [`LATEST_SETTABLE`]: [`World::check_advance`]
//! refuses more, and a state file whose clock is later is inconsistent. The ten years from
//! there to [`MAX_CLOCK`] are headroom: an apply's waits always have time to pass (a clock
//! stuck at its end would make every poll wait forever).

use super::{Transition, World};
use cellar_engine::model::Timestamp;
use std::time::Duration;

/// The end of virtual time: 9999-12-31T23:59:59Z. The clock stops there.
pub const MAX_CLOCK: Timestamp = Timestamp(253_402_300_799);

/// The latest time a person may move the clock to (`sim advance`, a state file): ten years
/// before [`MAX_CLOCK`], so what runs after always has virtual time to pass.
pub const LATEST_SETTABLE: Timestamp = Timestamp(MAX_CLOCK.0 - 10 * 365 * 86_400);

/// The longest single advance [`World::check_advance`] accepts (and `cellar sim advance`
/// offers): 365 days, far more than any scenario needs.
pub const MAX_ADVANCE_SECS: u64 = 365 * 86_400;

/// Why [`World::advance_to`] returned.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// The clock reached the target.
    Reached,
    /// An instance's agent just started (its boot delay after `running` passed): it is
    /// queued in [`World::agents_due`] and should run at the current virtual time.
    AgentsDue,
}

/// Whole milliseconds in `duration`, rounded up, saturating at `u64::MAX`.
pub(crate) fn duration_ms(duration: Duration) -> u64 {
    let ms = duration.as_millis().saturating_add(u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000)));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl World {
    /// Whether the clock may move `duration` on (`cellar sim advance` asks first): at most
    /// [`MAX_ADVANCE_SECS`] at a time, and not past [`LATEST_SETTABLE`]. The error names the
    /// duration, the limit and the fix. Moves beyond it are cut short at the limit.
    pub fn check_advance(&self, duration: Duration) -> Result<(), String> {
        let secs = duration.as_secs();
        if duration > Duration::from_secs(MAX_ADVANCE_SECS) {
            return Err(format!(
                "cannot advance the virtual clock by {secs} s: one advance covers at most {MAX_ADVANCE_SECS} s \
                 (365 days); advance in smaller steps"
            ));
        }
        let target = self.now_ms().saturating_add(duration_ms(duration)).div_ceil(1000);
        if target > LATEST_SETTABLE.0 {
            return Err(format!(
                "cannot advance the virtual clock by {secs} s: it is {} and may be moved to {} at the latest",
                self.now.rfc3339(),
                LATEST_SETTABLE.rfc3339()
            ));
        }
        Ok(())
    }

    /// The millisecond `duration` from now (since the epoch), cut short at the limits of
    /// [`World::check_advance`]: where a caller's sleep ends.
    pub fn sleep_target_ms(&self, duration: Duration) -> u64 {
        let ms = duration_ms(duration).min(MAX_ADVANCE_SECS * 1000);
        self.now_ms().saturating_add(ms).min(MAX_CLOCK.0.saturating_mul(1000))
    }

    /// The whole second `duration` from now (rounded up), cut short at the limits of
    /// [`World::check_advance`].
    pub fn advance_target(&self, duration: Duration) -> Timestamp {
        let ms = duration_ms(duration).min(MAX_ADVANCE_SECS * 1000);
        Timestamp(self.now_ms().saturating_add(ms).div_ceil(1000).min(MAX_CLOCK.0))
    }

    /// Moves the clock to `t` (at most [`MAX_CLOCK`]), applying due transitions in (time,
    /// seq) order and letting groups reconcile after each. Returns early
    /// ([`Advance::AgentsDue`]) right after an agent starts; call again to go on.
    pub fn advance_to(&mut self, t: Timestamp) -> Advance {
        let t = t.min(MAX_CLOCK);
        // Groups act when time moves on a whole second or something is due (a call's
        // sub-second latency alone does not make them look again).
        if t > self.now || self.scheduler.is_due(t) {
            self.reconcile_groups();
        }
        while let Some(next) = self.scheduler.pop_due(t) {
            if next.at > self.now {
                self.now = next.at;
                self.millis = 0;
            }
            self.ensure(&next.transition.needs());
            let agent_due = self.apply(next.transition);
            self.reconcile_groups();
            if agent_due {
                return Advance::AgentsDue;
            }
        }
        if t > self.now {
            self.now = t;
            self.millis = 0;
            self.reconcile_groups();
        }
        Advance::Reached
    }

    /// Advances without running agents (they stay queued in [`World::agents_due`]).
    pub fn advance_clock_to(&mut self, t: Timestamp) {
        while self.advance_to(t) == Advance::AgentsDue {}
    }

    /// [`World::advance_to`] with a target in milliseconds since the epoch.
    pub fn advance_to_ms(&mut self, target_ms: u64) -> Advance {
        let target_ms = target_ms.min(MAX_CLOCK.0 * 1000);
        if self.advance_to(Timestamp(target_ms / 1000)) == Advance::AgentsDue {
            return Advance::AgentsDue;
        }
        if target_ms > self.now_ms() {
            self.millis = (target_ms % 1000) as u16;
        }
        Advance::Reached
    }

    /// Moves the clock `ms` milliseconds on without running agents (they stay queued in
    /// [`World::agents_due`]).
    pub fn advance_by_ms(&mut self, ms: u64) {
        self.advance_clock_to_ms(self.now_ms().saturating_add(ms));
    }

    /// Moves the clock to `target_ms` (milliseconds since the epoch) without running agents
    /// (they stay queued in [`World::agents_due`]).
    pub fn advance_clock_to_ms(&mut self, target_ms: u64) {
        while self.advance_to_ms(target_ms) == Advance::AgentsDue {}
    }

    /// Applies one transition; true when an agent became due.
    fn apply(&mut self, transition: Transition) -> bool {
        match transition {
            Transition::InstanceRunning(id) => self.instance_running(id),
            Transition::AgentStart(id) => return self.agent_start(id),
            Transition::InstanceTerminated(id) => self.instance_terminated(id),
            Transition::InstanceRemoved(id) => {
                self.instance_removed(&id);
                self.forget_instance(&id);
            }
            Transition::VolumeAvailable(id) => self.volume_available(&id),
            Transition::ImageAvailable(id) => self.image_available(&id),
            Transition::SnapshotCompleted(id) => self.snapshot_completed(&id),
            Transition::GroupRetry(name) => self.group_retry(&name),
            Transition::GroupDeleted(name) => self.group_deleted(&name),
            Transition::RandomTermination => self.random_termination(),
            Transition::FaultCapacity(change) => self.scheduled_capacity_change(change),
            Transition::FaultTermination(termination) => self.scheduled_termination(termination),
            Transition::FaultImpairment(fault) => self.fault_impairment(fault),
            Transition::FaultEvent(fault) => self.fault_event(fault),
            Transition::ImpairmentEnded(id) => self.impairment_ended(&id),
            Transition::EventDue(id, event) => self.event_due(&id, &event),
            Transition::EventExpired(id, event) => self.event_expired(&id, &event),
            Transition::InstanceStopped(id) => self.instance_stopped(&id),
            Transition::GroupHealthCheck(name) => self.group_health_check(&name),
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::default_world;

    const DAY: u64 = 86_400;

    /// `check_advance(secs)` from the default world's clock (2026-11-25): Ok, or the start of
    /// the error.
    fn check(secs: u64, expected: Result<(), &str>) {
        let w = default_world();
        let got = w.check_advance(Duration::from_secs(secs));
        match (&got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(start)) => assert!(e.starts_with(start), "{secs} s: {e}"),
            _ => panic!("{secs} s: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn advances_beyond_the_limit_are_refused() {
        check(0, Ok(()));
        check(90, Ok(()));
        check(MAX_ADVANCE_SECS, Ok(()));
        check(MAX_ADVANCE_SECS + 1, Err(&format!("cannot advance the virtual clock by {} s", MAX_ADVANCE_SECS + 1)));
        check(20_000_000_000_000_000, Err("cannot advance the virtual clock by 20000000000000000 s"));
        check(u64::MAX, Err("cannot advance"));
        let mut late = default_world();
        late.advance_clock_to(Timestamp(LATEST_SETTABLE.0 - DAY));
        assert_eq!(late.check_advance(Duration::from_secs(DAY)), Ok(()));
        let e = late.check_advance(Duration::from_secs(DAY + 1)).unwrap_err();
        assert!(e.contains("may be moved to 9990-01-02T23:59:59Z at the latest"), "{e}");
        let e = default_world().check_advance(Duration::MAX).unwrap_err();
        assert!(e.contains("advance in smaller steps"), "{e}");
    }

    #[test]
    fn the_clock_saturates_instead_of_wrapping() {
        let mut w = default_world();
        let start = w.now();
        assert_eq!(w.advance_target(Duration::from_secs(u64::MAX)), Timestamp(start.0 + MAX_ADVANCE_SECS));
        assert_eq!(w.advance_target(Duration::from_millis(1)), Timestamp(start.0 + 1), "rounds up");
        w.advance_clock_to(Timestamp(u64::MAX));
        assert_eq!(w.now(), MAX_CLOCK);
        w.advance_by_ms(u64::MAX);
        assert_eq!((w.now(), w.now_ms()), (MAX_CLOCK, MAX_CLOCK.0 * 1000));
        assert_eq!(w.advance_target(Duration::from_secs(DAY)), MAX_CLOCK);
        assert!(w.check_advance(Duration::from_secs(1)).is_err());
        // A world standing at the end of time could never let a wait pass: not a state to keep.
        assert!(w.check_consistency().unwrap_err().contains("the latest a world may stand at"));
    }
}
