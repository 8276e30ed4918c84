//! Instance status: DescribeInstanceStatus (EC2's two status checks and the events AWS
//! schedules), the faults that change them (impairments, scheduled events), what AWS does
//! when an event falls due, and an auto scaling group's EC2 health check.
//!
//! As AWS documents it:
//! - DescribeInstanceStatus by `InstanceIds` takes at most [`MAX_STATUS_IDS`] (more:
//!   `InvalidRequest`); a malformed id is `InvalidInstanceID.Malformed`, one the API does
//!   not know (never was, gone from describe, or still invisible under eventual
//!   consistency) `InvalidInstanceID.NotFound`, and either fails the whole call; without
//!   `IncludeAllInstances` only running instances are listed; no id: every running
//!   instance of the region.
//! - A check is `initializing` for [`INITIALIZING_SECS`] after the instance turns running
//!   (or reboots), then `ok`, or `impaired` while an impairment fault lasts (an impairment
//!   shows at once, initializing or not).
//! - An event is listed from its announcement; at its `not_before` AWS carries it out
//!   (instance-stop and instance-retirement: the instance stops, every image of this world
//!   being EBS-backed; instance-reboot and system-reboot: it reboots, its checks
//!   initializing again; system-maintenance: nothing the instance notices), and it stays
//!   listed as `[Completed] ...` for [`COMPLETED_EVENT_SECS`]. `not_after` is only reported.
//! - Auto Scaling's EC2 health check (the default health check type) counts a member
//!   unhealthy when a status check is impaired ([`HEALTH_CHECK_SECS`] after it turned
//!   impaired: the checks run periodically; the grace period is 0 s, the API's default,
//!   and cellar creates groups without one), or when a scheduled event of it falls due,
//!   and replaces it: terminates it and launches another.
//!
//! Invariants: an instance's impairments and events live on the instance (its shard);
//! every change is a scheduled transition, so a world replays from its seed and the state
//! file; state files without these fields load as instances that are `ok` with no events.

use super::{Transition, World};
use crate::faults::{EventAnnouncement, Impairment, StatusCheck};
use cellar_engine::cloud::{CloudError, CloudResult};
use cellar_engine::model::*;
use cellar_engine::monitoring::{CheckStatus, EventCode, InstanceChecks, ScheduledEvent, MAX_STATUS_IDS};
use serde::{Deserialize, Serialize};

/// How long an instance's status checks are `initializing` after it turns running or
/// reboots. AWS runs the checks every minute and publishes no figure for the first
/// result; a few minutes is what instances show.
pub const INITIALIZING_SECS: u64 = 180;
/// How long after a member's status check turns impaired its auto scaling group's EC2
/// health check notices (and replaces it).
pub const HEALTH_CHECK_SECS: u64 = 60;
/// How long a completed event stays listed (`[Completed] ...`).
pub const COMPLETED_EVENT_SECS: u64 = 7 * 86_400;
/// stopping → stopped.
pub const STOPPING_SECS: u64 = 20;

/// An impaired status check of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimImpairment {
    pub check: StatusCheck,
    pub since: Timestamp,
    /// When it ends; `None`: when the instance is gone.
    #[serde(default)]
    pub until: Option<Timestamp>,
}

impl SimImpairment {
    fn active(&self, now: Timestamp) -> bool {
        self.since <= now && self.until.is_none_or(|u| now < u)
    }
}

/// Whether `id` is an instance id as EC2 spells them (`i-` and hexadecimal digits).
fn well_formed(id: &InstanceId) -> bool {
    id.as_str().strip_prefix("i-").is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// AWS's description of an event of kind `code`.
fn event_description(code: EventCode) -> &'static str {
    match code {
        EventCode::InstanceReboot => "The instance is scheduled for a reboot",
        EventCode::SystemReboot => "The instance is scheduled for a reboot of its host",
        EventCode::SystemMaintenance => "The instance's host is scheduled for maintenance",
        EventCode::InstanceRetirement => "The instance is running on degraded hardware",
        EventCode::InstanceStop => "The instance is scheduled to stop",
    }
}

impl World {
    /// DescribeInstanceStatus by `ids` (see the module doc for what is refused).
    pub fn describe_instance_status(&self, region: &Region, ids: &[InstanceId]) -> CloudResult<Vec<InstanceChecks>> {
        if ids.len() > MAX_STATUS_IDS {
            return Err(CloudError::from_code(
                "InvalidRequest",
                format!(
                    "{} exceeds the maximum number of instance IDs that can be specificied ({MAX_STATUS_IDS}). \
                     Please specify fewer than {MAX_STATUS_IDS} instance IDs.",
                    ids.len()
                ),
            ));
        }
        if let Some(bad) = ids.iter().find(|id| !well_formed(id)) {
            return Err(CloudError::from_code("InvalidInstanceID.Malformed", format!("Invalid id: \"{bad}\"")));
        }
        let now_ms = self.now_ms();
        let mut listed: Vec<&super::SimInstance> = if ids.is_empty() {
            self.instances.values().filter(|i| i.zone.region() == *region && i.is_visible(now_ms)).collect()
        } else {
            let mut found = Vec::new();
            for id in ids {
                found.push(self.instance_in(region, id)?);
            }
            found
        };
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        listed.dedup_by(|a, b| a.id == b.id);
        Ok(listed.into_iter().filter(|i| i.state == InstanceState::Running).map(|i| self.checks_of(i)).collect())
    }

    /// An instance's status as DescribeInstanceStatus reports it.
    fn checks_of(&self, i: &super::SimInstance) -> InstanceChecks {
        let check = |which: StatusCheck| {
            if i.state != InstanceState::Running {
                CheckStatus::NotApplicable
            } else if i.impairments.iter().any(|f| f.check == which && f.active(self.now)) {
                CheckStatus::Impaired
            } else if i.booted_at.is_some_and(|b| self.now.0 < b.0.saturating_add(INITIALIZING_SECS)) {
                CheckStatus::Initializing
            } else {
                CheckStatus::Ok
            }
        };
        InstanceChecks {
            instance: i.id.clone(),
            zone: i.zone.clone(),
            state: i.state,
            system: check(StatusCheck::System),
            instance_check: check(StatusCheck::Instance),
            events: i.events.clone(),
        }
    }

    /// Whether a status check of the instance is impaired now (for the simulator's probes
    /// and the groups' health check).
    pub fn impaired_checks(&self, id: &InstanceId) -> Vec<StatusCheck> {
        let Some(i) = self.instances.get(id) else { return Vec::new() };
        let mut checks: Vec<StatusCheck> =
            i.impairments.iter().filter(|f| f.active(self.now)).map(|f| f.check).collect();
        checks.sort();
        checks.dedup();
        checks
    }

    /// The instance a fault's target names: an instance id that is still alive, or a
    /// server name's live instance (running preferred). Its needs are the transition's.
    pub(super) fn fault_target(&self, target: &str) -> Option<InstanceId> {
        let target = target.trim();
        if target.starts_with("i-") {
            Some(InstanceId::new(target)).filter(|id| self.instances.get(id).is_some_and(|i| i.state.is_alive()))
        } else {
            self.find_server_instance(&ServerName::new(target)).map(|i| i.id)
        }
    }

    /// [`Transition::FaultImpairment`]: the target's check turns impaired and the fault
    /// leaves the schedule; a group it belongs to health-checks it [`HEALTH_CHECK_SECS`] on.
    pub(super) fn fault_impairment(&mut self, fault: Impairment) {
        if let Some(pos) = self.faults.impairments.iter().position(|f| *f == fault) {
            self.faults.impairments.remove(pos);
        }
        let Some(id) = self.fault_target(&fault.target).filter(|id| self.instances[id].state == InstanceState::Running)
        else {
            self.record(format!("impairment fault: no running instance for {}", fault.target));
            return;
        };
        let until = fault.secs.map(|s| self.now.plus_secs(s).min(super::MAX_CLOCK));
        let instance = self.instances.get_mut(&id).expect("found above");
        instance.impairments.push(SimImpairment { check: fault.check, since: self.now, until });
        let group = instance.group.clone();
        let how_long = fault.secs.map_or_else(|| "until it is gone".to_string(), |s| format!("for {s} s"));
        self.record(format!("{id}: {} status check impaired {how_long} (fault schedule)", fault.check.as_str()));
        if let Some(until) = until {
            self.scheduler.schedule_at(until, Transition::ImpairmentEnded(id.clone()));
        }
        if let Some(group) = group {
            self.schedule(HEALTH_CHECK_SECS, Transition::GroupHealthCheck(group));
        }
    }

    /// [`Transition::ImpairmentEnded`]: impairments that have run their course are dropped.
    pub(super) fn impairment_ended(&mut self, id: &InstanceId) {
        let now = self.now;
        let Some(instance) = self.instances.get_mut(id) else { return };
        let before = instance.impairments.len();
        instance.impairments.retain(|f| f.until.is_none_or(|u| now < u));
        if instance.impairments.len() < before {
            self.record(format!("{id}: impaired status check recovered"));
        }
    }

    /// [`Transition::FaultEvent`]: AWS announces the event (DescribeInstanceStatus lists
    /// it) and it leaves the fault schedule; it falls due at its `not_before`.
    pub(super) fn fault_event(&mut self, fault: EventAnnouncement) {
        if let Some(pos) = self.faults.scheduled_events.iter().position(|f| *f == fault) {
            self.faults.scheduled_events.remove(pos);
        }
        let Some(id) = self.fault_target(&fault.target) else {
            self.record(format!("scheduled event fault: no live instance for {}", fault.target));
            return;
        };
        let event_id = self.next_id("instance-event");
        let event = ScheduledEvent {
            id: event_id.clone(),
            code: fault.code,
            description: event_description(fault.code).to_string(),
            not_before: fault.not_before,
            not_after: fault.not_after,
        };
        self.instances.get_mut(&id).expect("found above").events.push(event);
        self.record(format!(
            "{id}: AWS scheduled {} ({event_id}) not before {} (fault schedule)",
            fault.code,
            fault.not_before.rfc3339()
        ));
        self.scheduler.schedule_at(fault.not_before, Transition::EventDue(id, event_id));
    }

    /// [`Transition::EventDue`]: AWS carries the event out (see the module doc); a group's
    /// member is replaced by its group instead. The event is then `[Completed]`.
    pub(super) fn event_due(&mut self, id: &InstanceId, event_id: &str) {
        let Some(instance) = self.instances.get(id) else { return };
        let Some(event) = instance.events.iter().find(|e| e.id == event_id && e.is_pending()) else { return };
        let code = event.code;
        let (state, group) = (instance.state, instance.group.clone());
        let deleting = group.as_ref().is_some_and(|g| self.groups.get(g).is_none_or(|g| g.deleting));
        match (state, &group) {
            (InstanceState::Running | InstanceState::Pending, Some(name)) if !deleting => {
                let name = name.clone();
                self.replace_unhealthy(&name, id, &format!("a scheduled event ({code}) is due"));
            }
            (InstanceState::Running, _) => match code {
                EventCode::InstanceStop | EventCode::InstanceRetirement => self.begin_stop(id, code),
                EventCode::InstanceReboot | EventCode::SystemReboot => self.reboot(id, code),
                EventCode::SystemMaintenance => self.record(format!("{id}: system maintenance done ({event_id})")),
            },
            _ => self.record(format!("{id}: {code} ({event_id}) due, the instance is {state}: nothing to do")),
        }
        if let Some(event) = self.instances.get_mut(id).and_then(|i| i.events.iter_mut().find(|e| e.id == event_id)) {
            event.description = format!("[Completed] {}", event.description);
            self.schedule(COMPLETED_EVENT_SECS, Transition::EventExpired(id.clone(), event_id.to_string()));
        }
    }

    /// [`Transition::EventExpired`]: a completed event is no longer listed.
    pub(super) fn event_expired(&mut self, id: &InstanceId, event_id: &str) {
        if let Some(instance) = self.instances.get_mut(id) {
            instance.events.retain(|e| e.id != event_id || e.is_pending());
        }
    }

    /// running → stopping (→ stopped after [`STOPPING_SECS`]): its volumes stay attached
    /// and its Elastic IP associated, as on AWS; its agent, if not started yet, never starts.
    pub(super) fn begin_stop(&mut self, id: &InstanceId, code: EventCode) {
        let Some(instance) = self.instances.get_mut(id) else { return };
        instance.state = InstanceState::Stopping;
        instance.impairments.clear();
        self.agents_due.retain(|a| a != id);
        self.scheduler.cancel(|t| matches!(t, Transition::AgentStart(a) if a == id));
        self.record(format!("{id}: running -> stopping (scheduled event {code})"));
        self.refresh_writes_of(id);
        self.schedule(STOPPING_SECS, Transition::InstanceStopped(id.clone()));
    }

    /// [`Transition::InstanceStopped`]: stopping → stopped.
    pub(super) fn instance_stopped(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get_mut(id) else { return };
        if instance.state != InstanceState::Stopping {
            return;
        }
        instance.state = InstanceState::Stopped;
        self.record(format!("{id}: stopping -> stopped"));
    }

    /// The instance reboots: its checks are initializing again, a system reboot moves it
    /// off impaired hardware; what it ran comes back (its agent does not run again).
    fn reboot(&mut self, id: &InstanceId, code: EventCode) {
        let now = self.now;
        let Some(instance) = self.instances.get_mut(id) else { return };
        instance.booted_at = Some(now);
        if code == EventCode::SystemReboot {
            instance.impairments.retain(|f| f.check != StatusCheck::System);
        }
        self.record(format!("{id}: rebooted (scheduled event {code})"));
    }

    /// [`Transition::GroupHealthCheck`]: the group replaces every member whose status
    /// check has been impaired for [`HEALTH_CHECK_SECS`].
    pub(super) fn group_health_check(&mut self, name: &AutoScalingGroupName) {
        let Some(group) = self.groups.get(name).filter(|g| !g.deleting) else { return };
        let now = self.now;
        let unhealthy: Vec<(InstanceId, StatusCheck)> = group
            .instances
            .iter()
            .filter_map(|id| {
                let i = self.instances.get(id).filter(|i| i.state == InstanceState::Running)?;
                let f = i
                    .impairments
                    .iter()
                    .find(|f| f.active(now) && f.since.0.saturating_add(HEALTH_CHECK_SECS) <= now.0)?;
                Some((id.clone(), f.check))
            })
            .collect();
        for (id, check) in unhealthy {
            self.replace_unhealthy(name, &id, &format!("its {} status check is impaired", check.as_str()));
        }
    }

    /// The group takes an unhealthy member out of service and terminates it; its
    /// reconciliation launches the replacement.
    fn replace_unhealthy(&mut self, name: &AutoScalingGroupName, id: &InstanceId, why: &str) {
        if let Some(group) = self.groups.get_mut(name) {
            group.instances.retain(|i| i != id);
        }
        self.push_activity(
            name,
            true,
            format!("Terminating EC2 instance: {id} (an EC2 health check found it unhealthy: {why})"),
            None,
        );
        self.record(format!("group {name}: {id} is unhealthy ({why}); terminating it"));
        self.begin_termination(id, &format!("unhealthy in group {name}"));
        self.index.unsettled.mark(name);
    }
}
