//! The watch's memory: each server's health as last judged and its open incident, turned
//! into events as observations come. Pure: observations and times in, events out.
//!
//! Rules:
//! - An **incident** is a stretch during which a server is degraded, incomplete or down
//!   (`Health::severity` ≥ 1). Its beginning is notified once (`degraded` or `down`);
//!   getting worse (degraded → down) is notified once more; getting better within it
//!   (down → degraded while a replacement boots) is not; a reminder follows every
//!   `remind_every` after the last notification while it lasts; it ends with `recovered`
//!   (healthy) or `resolved` (stopped or absent on purpose).
//! - A server unhealthy at the first look opens its incident at once (the watch may start
//!   in the middle of one); one healthy, stopped or absent at the first look says nothing.
//! - Changes outside an incident (healthy → stopped) are `changed`: said, not notified.
//! - A scheduled event of the server's instance is announced once (by its id) while pending.
//! - A server that ran without an auto scaling group (none configured, `auto_scale_capacity:
//!   0`) and whose instance is then gone, the group still absent, is down: nobody stopped
//!   its auto scaling, its instance was terminated (by Amazon or by hand) and nothing
//!   replaces it. `cellar status`, which has no history, calls it stopped.
//! - The connection: a cycle that could not read the cloud opens the watch's own incident
//!   (`connection-lost`), once; the next cycle that reads closes it. Servers' health is not
//!   judged meanwhile (what cannot be seen has not changed).

use super::event::{EventKind, IncidentRef, WatchEvent};
use super::observe::Observation;
use crate::model::{InstanceId, InstanceState, ServerName, Timestamp};
use crate::monitoring::{CheckStatus, ProbeOutcome};
use crate::status::Health;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How many failed probes in a row make a running server down (one failure can be a
/// dropped packet).
pub const PROBE_FAILURES_FOR_DOWN: u32 = 2;

/// A server's health this cycle, from its status, its instance's status checks and its
/// probe (with `failures` failed probes in a row, this one included), and the instance it
/// last saw running without an auto scaling group (`unguarded`). Pure.
///
/// A running instance whose system or instance status check is impaired is down (AWS
/// cannot reach it, and its group will replace it); one whose probe failed
/// [`PROBE_FAILURES_FOR_DOWN`] times in a row is down with the probe's error.
pub fn judge(observation: &Observation, failures: u32, unguarded: Option<&InstanceId>) -> (Health, String) {
    let status = &observation.status;
    let running = status.instance.as_ref().filter(|i| i.state == InstanceState::Running);
    if let Some(was) = unguarded.filter(|_| running.is_none() && status.auto_scaling.is_none()) {
        if matches!(status.health, Health::Stopped | Health::Incomplete) {
            let now = match &status.instance {
                Some(i) if &i.id == was => format!("is {}", i.state),
                _ => "is gone".to_string(),
            };
            return (Health::Down, format!("instance {was} {now} and no auto scaling group replaces it"));
        }
    }
    if let (Some(instance), Some(checks)) = (running, &observation.checks) {
        if checks.instance == instance.id {
            let which = match (checks.system, checks.instance_check) {
                (CheckStatus::Impaired, _) => Some("system status check (AWS's hardware or network)"),
                (_, CheckStatus::Impaired) => Some("instance status check (the instance does not answer)"),
                _ => None,
            };
            if let Some(which) = which {
                return (Health::Down, format!("instance {} is impaired: its {which} failed", instance.id));
            }
        }
    }
    if let (Some(_), Some((target, ProbeOutcome::Failed(why)))) = (running, &observation.probe) {
        if failures >= PROBE_FAILURES_FOR_DOWN && matches!(status.health, Health::Healthy | Health::Degraded) {
            return (Health::Down, format!("health check {target} failed {failures} times in a row: {why}"));
        }
    }
    (status.health, status.reason.clone())
}

/// What the tracker remembers of a server.
#[derive(Clone, Debug)]
struct Tracked {
    health: Health,
    probe_failures: u32,
    /// The instance last seen running while the server had no auto scaling group.
    unguarded: Option<InstanceId>,
    incident: Option<Incident>,
    /// The scheduled events already announced (by id).
    announced: BTreeSet<String>,
}

#[derive(Clone, Debug)]
struct Incident {
    reference: IncidentRef,
    /// The worst health of the incident so far (what was last notified as a beginning or a
    /// worsening).
    worst: Health,
    last_notified: Timestamp,
}

/// The lost connection, while it lasts.
#[derive(Clone, Debug)]
struct Lost {
    reference: IncidentRef,
}

/// Each server's health as last judged, turned into events.
#[derive(Debug, Default)]
pub struct Tracker {
    servers: HashMap<ServerName, Tracked>,
    /// Reminder interval per server (`notify.remind_every`); absent: never.
    remind_every: HashMap<ServerName, Duration>,
    lost: Option<Lost>,
}

impl Tracker {
    /// A tracker that reminds of a lasting incident of each server at its interval.
    pub fn new(remind_every: impl IntoIterator<Item = (ServerName, Option<Duration>)>) -> Tracker {
        Tracker {
            remind_every: remind_every.into_iter().filter_map(|(name, every)| Some((name, every?))).collect(),
            ..Tracker::default()
        }
    }

    /// Whether the connection is lost (the last cycle could not read the cloud).
    pub fn connection_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// The servers in an incident now, with their health.
    pub fn unhealthy(&self) -> Vec<(&ServerName, Health)> {
        let mut out: Vec<_> =
            self.servers.iter().filter(|(_, t)| t.incident.is_some()).map(|(n, t)| (n, t.health)).collect();
        out.sort_by_key(|(name, _)| *name);
        out
    }

    /// A cycle that could not read the cloud: `connection-lost` the first time.
    pub fn unreadable(&mut self, at: Timestamp, why: &str) -> Vec<WatchEvent> {
        if self.lost.is_some() {
            return Vec::new();
        }
        let reference = IncidentRef { id: format!("connection-{}", at.0), started: at };
        self.lost = Some(Lost { reference: reference.clone() });
        vec![connection_event(EventKind::ConnectionLost, at, why.to_string(), reference)]
    }

    /// One cycle's observations, read at `at`: the events they make, in server order.
    pub fn observe(&mut self, at: Timestamp, observations: &[Observation]) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        if let Some(lost) = self.lost.take() {
            events.push(connection_event(EventKind::ConnectionRestored, at, String::new(), lost.reference));
        }
        for observation in observations {
            let remind = self.remind_every.get(&observation.status.name).copied();
            let tracked = self.servers.get_mut(&observation.status.name);
            events.extend(match tracked {
                Some(tracked) => next(tracked, at, observation, remind),
                None => {
                    let (tracked, events) = first(at, observation);
                    self.servers.insert(observation.status.name.clone(), tracked);
                    events
                }
            });
        }
        events
    }
}

fn connection_event(kind: EventKind, at: Timestamp, reason: String, reference: IncidentRef) -> WatchEvent {
    WatchEvent {
        kind,
        at,
        server: None,
        region: None,
        health: None,
        previous: None,
        reason,
        instance: None,
        incident: Some(reference),
        scheduled: None,
        backup: None,
    }
}

/// The failures in a row after this cycle's probe.
fn failures_after(before: u32, observation: &Observation) -> u32 {
    match &observation.probe {
        Some((_, ProbeOutcome::Failed(_))) => before.saturating_add(1),
        _ => 0,
    }
}

/// The instance running without a group after this observation: the running one if the
/// server has no group, else none (a group now guards it); kept while nothing runs.
fn unguarded_after(before: Option<InstanceId>, observation: &Observation) -> Option<InstanceId> {
    let status = &observation.status;
    if status.auto_scaling.is_some() {
        return None;
    }
    match status.instance.as_ref().filter(|i| i.state == InstanceState::Running) {
        Some(i) => Some(i.id.clone()),
        None => before,
    }
}

/// An event about `observation`'s server.
fn server_event(kind: EventKind, at: Timestamp, observation: &Observation, judged: (Health, String)) -> WatchEvent {
    WatchEvent {
        kind,
        at,
        server: Some(observation.status.name.clone()),
        region: Some(observation.status.region.clone()),
        health: Some(judged.0),
        previous: None,
        reason: judged.1,
        instance: observation.status.instance.as_ref().map(|i| i.id.clone()),
        incident: None,
        scheduled: None,
        backup: None,
    }
}

/// The first look at a server.
fn first(at: Timestamp, observation: &Observation) -> (Tracked, Vec<WatchEvent>) {
    let probe_failures = failures_after(0, observation);
    let judged = judge(observation, probe_failures, None);
    let mut tracked =
        Tracked { health: judged.0, probe_failures, unguarded: None, incident: None, announced: BTreeSet::new() };
    tracked.unguarded = unguarded_after(None, observation);
    let mut events = Vec::new();
    if judged.0.severity() > 0 {
        let incident = open(&mut tracked, at, observation);
        events
            .push(WatchEvent { incident: Some(incident), ..server_event(opening(judged.0), at, observation, judged) });
    }
    events.extend(scheduled(&mut tracked, at, observation));
    (tracked, events)
}

fn opening(health: Health) -> EventKind {
    match health {
        Health::Down => EventKind::Down,
        _ => EventKind::Degraded,
    }
}

fn open(tracked: &mut Tracked, at: Timestamp, observation: &Observation) -> IncidentRef {
    let reference = IncidentRef { id: format!("{}-{}", observation.status.name, at.0), started: at };
    tracked.incident = Some(Incident { reference: reference.clone(), worst: tracked.health, last_notified: at });
    reference
}

/// A later look at a server.
fn next(tracked: &mut Tracked, at: Timestamp, observation: &Observation, remind: Option<Duration>) -> Vec<WatchEvent> {
    tracked.probe_failures = failures_after(tracked.probe_failures, observation);
    let judged = judge(observation, tracked.probe_failures, tracked.unguarded.as_ref());
    tracked.unguarded = unguarded_after(tracked.unguarded.take(), observation);
    let previous = tracked.health;
    let health = judged.0;
    tracked.health = health;
    let mut events = Vec::new();
    let event = |kind, incident: Option<IncidentRef>, judged| WatchEvent {
        previous: Some(previous),
        incident,
        ..server_event(kind, at, observation, judged)
    };
    match tracked.incident.as_mut() {
        None if health.severity() > 0 => {
            let incident = open(tracked, at, observation);
            events.push(event(opening(health), Some(incident), judged));
        }
        None if health != previous => events.push(event(EventKind::Changed, None, judged)),
        None => {}
        Some(incident) if health.severity() == 0 => {
            let kind = if health == Health::Healthy { EventKind::Recovered } else { EventKind::Resolved };
            let reference = incident.reference.clone();
            tracked.incident = None;
            events.push(event(kind, Some(reference), judged));
        }
        Some(incident) if health.severity() > incident.worst.severity() => {
            incident.worst = health;
            incident.last_notified = at;
            events.push(event(EventKind::Down, Some(incident.reference.clone()), judged));
        }
        Some(incident) => {
            if let Some(every) = remind.filter(|every| !every.is_zero()) {
                if at.0.saturating_sub(incident.last_notified.0) >= every.as_secs() {
                    incident.last_notified = at;
                    events.push(event(EventKind::Reminder, Some(incident.reference.clone()), judged));
                }
            }
        }
    }
    events.extend(scheduled(tracked, at, observation));
    events
}

/// The pending scheduled events of the server's instance not announced before.
fn scheduled(tracked: &mut Tracked, at: Timestamp, observation: &Observation) -> Vec<WatchEvent> {
    let Some(checks) = &observation.checks else { return Vec::new() };
    let mut events = Vec::new();
    for event in checks.events.iter().filter(|e| e.is_pending()) {
        if tracked.announced.insert(event.id.clone()) {
            events.push(WatchEvent {
                instance: Some(checks.instance.clone()),
                scheduled: Some(event.clone()),
                reason: event.description.clone(),
                ..server_event(EventKind::Scheduled, at, observation, (tracked.health, String::new()))
            });
        }
    }
    events
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
