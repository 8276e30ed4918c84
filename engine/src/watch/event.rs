//! What the watch reports: a [`WatchEvent`], its text line and its JSON (the schema of
//! docs/watch-events.md, versioned by [`WATCH_EVENT_VERSION`]).

use crate::model::{InstanceId, Region, ServerName, SnapshotId, Timestamp};
use crate::monitoring::ScheduledEvent;
use crate::status::Health;
use serde::Serialize;

/// The version of the event JSON (docs/watch-events.md): changed when a field changes
/// meaning or disappears, not when one is added.
pub const WATCH_EVENT_VERSION: u32 = 1;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An incident began, or got worse, at `down`: the server should serve and does not.
    Down,
    /// An incident began at `degraded` (or `incomplete`): up, but something is missing.
    Degraded,
    /// An incident still lasts ([`crate::monitoring::Notify::remind_every`] after its last
    /// notification).
    Reminder,
    /// The incident ended: the server is healthy again.
    Recovered,
    /// The incident ended because the server is now stopped or absent on purpose.
    Resolved,
    /// A change of health outside any incident (healthy → stopped, absent → healthy): said
    /// on the watch's output, not notified.
    Changed,
    /// AWS scheduled an event (retirement, reboot, maintenance) for the server's instance.
    Scheduled,
    /// The watch cannot read the cloud: its own incident (no server's health is judged meanwhile).
    ConnectionLost,
    /// The watch reads the cloud again.
    ConnectionRestored,
    /// A server's scheduled backup was taken (said on the output; notified when it was
    /// missed: nothing ran the schedule at its time).
    Backup,
    /// A server's scheduled backup could not be taken (it is tried again later), or could
    /// not for an hour because another apply holds the server's lock.
    BackupFailed,
    /// A server's scheduled backup waits: another apply holds the server's lock (tried again
    /// at each look); said on the output, once per scheduled backup.
    BackupPostponed,
    /// Backups that retention no longer keeps were deleted after a scheduled backup; said
    /// on the output.
    Pruned,
    /// Deleting the backups retention no longer keeps failed (tried again after the next
    /// backup).
    PruneFailed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Down => "down",
            EventKind::Degraded => "degraded",
            EventKind::Reminder => "reminder",
            EventKind::Recovered => "recovered",
            EventKind::Resolved => "resolved",
            EventKind::Changed => "changed",
            EventKind::Scheduled => "scheduled",
            EventKind::ConnectionLost => "connection-lost",
            EventKind::ConnectionRestored => "connection-restored",
            EventKind::Backup => "backup",
            EventKind::BackupFailed => "backup-failed",
            EventKind::BackupPostponed => "backup-postponed",
            EventKind::Pruned => "pruned",
            EventKind::PruneFailed => "prune-failed",
        }
    }
}

/// The incident an event belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentRef {
    /// `<server>-<unix time it began>` (`connection-<time>` for a lost connection): the same
    /// for every event of the incident, so a receiver can thread them.
    pub id: String,
    pub started: Timestamp,
}

/// One event of the watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// When the watch saw it (the backend's clock: virtual on the simulator).
    pub at: Timestamp,
    /// `None` for the connection's events.
    pub server: Option<ServerName>,
    pub region: Option<Region>,
    /// The server's health now.
    pub health: Option<Health>,
    /// Its health before (`None` at the first look).
    pub previous: Option<Health>,
    /// Why (the status reason, the probe's error, AWS's words); empty when healthy.
    pub reason: String,
    pub instance: Option<InstanceId>,
    pub incident: Option<IncidentRef>,
    /// The scheduled event, for [`EventKind::Scheduled`].
    pub scheduled: Option<ScheduledEvent>,
    /// The backup, for the backup kinds ([`EventKind::Backup`], ...).
    pub backup: Option<BackupFacts>,
}

/// What a backup event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFacts {
    /// The scheduled time (`daily_at`) the backup is for; `None` for the prune events.
    pub scheduled_for: Option<Timestamp>,
    /// Taken more than an hour after that time, or after days without one: the machine
    /// was off, or nothing ran the schedule.
    pub missed: bool,
    /// How many scheduled backups before it never happened.
    pub skipped: u32,
    /// The snapshots taken ([`EventKind::Backup`], one per data volume) or deleted
    /// ([`EventKind::Pruned`]).
    pub snapshots: Vec<SnapshotId>,
    /// When it is tried again ([`EventKind::BackupFailed`], [`EventKind::BackupPostponed`]).
    pub retry_at: Option<Timestamp>,
}

/// The JSON of an event (docs/watch-events.md).
#[derive(Serialize)]
struct EventJson<'a> {
    version: u32,
    kind: EventKind,
    at: String,
    at_unix: u64,
    server: Option<&'a ServerName>,
    region: Option<&'a Region>,
    health: Option<Health>,
    previous: Option<Health>,
    reason: &'a str,
    instance: Option<&'a InstanceId>,
    incident: Option<IncidentJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled: Option<ScheduledJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<BackupJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pruned: Option<PrunedJson<'a>>,
    text: String,
}

#[derive(Serialize)]
struct BackupJson<'a> {
    scheduled_for: Option<String>,
    missed: bool,
    skipped: u32,
    snapshots: &'a [SnapshotId],
    retry_at: Option<String>,
}

#[derive(Serialize)]
struct PrunedJson<'a> {
    deleted: usize,
    snapshots: &'a [SnapshotId],
}

#[derive(Serialize)]
struct IncidentJson<'a> {
    id: &'a str,
    started: String,
    /// Seconds from its start to this event.
    duration_secs: u64,
}

#[derive(Serialize)]
struct ScheduledJson<'a> {
    id: &'a str,
    code: &'a str,
    description: &'a str,
    not_before: String,
    not_after: Option<String>,
}

impl WatchEvent {
    /// Whether the event goes to the notification targets (webhooks, commands); every
    /// event goes to the watch's output. A change outside an incident, a postponed backup
    /// and a prune are only said; a backup is notified when it was missed.
    pub fn notifies(&self) -> bool {
        match self.kind {
            EventKind::Changed | EventKind::BackupPostponed | EventKind::Pruned => false,
            EventKind::Backup => self.backup.as_ref().is_some_and(|b| b.missed),
            _ => true,
        }
    }

    /// A backup event of `server` (its [`BackupFacts`] and `reason`), at `at`.
    pub fn about_backup(
        kind: EventKind,
        at: Timestamp,
        (server, region): (&ServerName, &Region),
        facts: BackupFacts,
        reason: String,
    ) -> WatchEvent {
        WatchEvent {
            kind,
            at,
            server: Some(server.clone()),
            region: Some(region.clone()),
            health: None,
            previous: None,
            reason,
            instance: None,
            incident: None,
            scheduled: None,
            backup: Some(facts),
        }
    }

    /// How long the incident has lasted at this event.
    pub fn incident_duration(&self) -> Option<u64> {
        self.incident.as_ref().map(|i| self.at.0.saturating_sub(i.started.0))
    }

    /// The event as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        let json = EventJson {
            version: WATCH_EVENT_VERSION,
            kind: self.kind,
            at: self.at.rfc3339(),
            at_unix: self.at.0,
            server: self.server.as_ref(),
            region: self.region.as_ref(),
            health: self.health,
            previous: self.previous,
            reason: &self.reason,
            instance: self.instance.as_ref(),
            incident: self.incident.as_ref().map(|i| IncidentJson {
                id: &i.id,
                started: i.started.rfc3339(),
                duration_secs: self.at.0.saturating_sub(i.started.0),
            }),
            scheduled: self.scheduled.as_ref().map(|s| ScheduledJson {
                id: &s.id,
                code: s.code.as_str(),
                description: &s.description,
                not_before: s.not_before.rfc3339(),
                not_after: s.not_after.map(Timestamp::rfc3339),
            }),
            backup: self.backup.as_ref().filter(|_| !self.is_prune()).map(|b| BackupJson {
                scheduled_for: b.scheduled_for.map(Timestamp::rfc3339),
                missed: b.missed,
                skipped: b.skipped,
                snapshots: &b.snapshots,
                retry_at: b.retry_at.map(Timestamp::rfc3339),
            }),
            pruned: self
                .backup
                .as_ref()
                .filter(|_| self.is_prune())
                .map(|b| PrunedJson { deleted: b.snapshots.len(), snapshots: &b.snapshots }),
            text: self.summary(),
        };
        serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The event in a sentence, without its time: `ommegang is down (was healthy): …`.
    pub fn summary(&self) -> String {
        let server = self.server.as_ref().map_or("", |s| s.as_str());
        let was = self.previous.map(|p| format!(" (was {})", p.as_str())).unwrap_or_default();
        let why = |reason: &str| if reason.is_empty() { String::new() } else { format!(": {reason}") };
        let lasted = self.incident_duration().map(duration_text).unwrap_or_default();
        match self.kind {
            EventKind::Down | EventKind::Degraded => {
                let health = self.health.map_or("down", Health::as_str);
                format!("{server} is {health}{was}{}", why(&self.reason))
            }
            EventKind::Reminder => {
                let health = self.health.map_or("down", Health::as_str);
                format!("{server} is still {health}, for {lasted}{}", why(&self.reason))
            }
            EventKind::Recovered => format!("{server} recovered after {lasted}{was}"),
            EventKind::Resolved => {
                let health = self.health.map_or("stopped", Health::as_str);
                format!("{server} is {health}{was}, which ends the incident after {lasted}{}", why(&self.reason))
            }
            EventKind::Changed => {
                let health = self.health.map_or("", Health::as_str);
                format!("{server} is {health}{was}{}", why(&self.reason))
            }
            EventKind::Scheduled => match &self.scheduled {
                Some(s) => {
                    let instance = self.instance.as_ref().map(|i| format!(" of {i}")).unwrap_or_default();
                    format!(
                        "{server}: AWS scheduled {}{instance}, not before {}: {}",
                        s.code,
                        s.not_before.rfc3339(),
                        s.description
                    )
                }
                None => format!("{server}: AWS scheduled an event"),
            },
            EventKind::ConnectionLost => format!("cannot read the cloud{}", why(&self.reason)),
            EventKind::ConnectionRestored => format!("reading the cloud again after {lasted}"),
            EventKind::Backup
            | EventKind::BackupFailed
            | EventKind::BackupPostponed
            | EventKind::Pruned
            | EventKind::PruneFailed => self.backup_summary(server),
        }
    }

    fn is_prune(&self) -> bool {
        matches!(self.kind, EventKind::Pruned | EventKind::PruneFailed)
    }

    /// [`WatchEvent::summary`] of the backup kinds.
    fn backup_summary(&self, server: &str) -> String {
        let none = BackupFacts { scheduled_for: None, missed: false, skipped: 0, snapshots: vec![], retry_at: None };
        let b = self.backup.as_ref().unwrap_or(&none);
        let ids = || b.snapshots.iter().map(SnapshotId::as_str).collect::<Vec<_>>().join(", ");
        let retry = b.retry_at.map(|t| format!("; tried again at {}", t.rfc3339())).unwrap_or_default();
        let what = match b.scheduled_for {
            Some(at) => format!("the scheduled backup of {server} for {}", at.rfc3339()),
            None => format!("the scheduled backup of {server}"),
        };
        match self.kind {
            EventKind::Backup => {
                let mut text = format!("{what} was taken: {}", ids());
                if let (true, Some(at)) = (b.missed, b.scheduled_for) {
                    text.push_str(&format!("; missed, taken {} late", at.age_words(self.at)));
                    match b.skipped {
                        0 => {}
                        1 => text.push_str(" (the day before went without one)"),
                        n => text.push_str(&format!(" (the {n} days before went without one)")),
                    }
                }
                text
            }
            EventKind::BackupFailed => format!("{what} failed: {}{retry}", self.reason),
            EventKind::BackupPostponed => format!("{what} waits: {}{retry}", self.reason),
            EventKind::Pruned => {
                let n = b.snapshots.len();
                format!(
                    "{server}: {n} backup{} retention no longer keeps deleted: {}",
                    if n == 1 { "" } else { "s" },
                    ids()
                )
            }
            _ => format!("{server}: deleting the backups retention no longer keeps failed: {}", self.reason),
        }
    }

    /// The event's text line: its time, its kind in capitals and [`WatchEvent::summary`].
    pub fn to_text(&self) -> String {
        format!("{} {:<19} {}", self.at.rfc3339(), self.kind.as_str().to_uppercase(), self.summary())
    }
}

/// `4m30s`, `1h0m`, `45s`.
pub fn duration_text(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::EventCode;

    fn event(kind: EventKind) -> WatchEvent {
        WatchEvent {
            kind,
            at: Timestamp(1_800_000_270),
            server: Some(ServerName::new("ale")),
            region: Some(Region::new("us-east-1")),
            health: Some(Health::Down),
            previous: Some(Health::Healthy),
            reason: "failed to respawn: InsufficientInstanceCapacity in us-east-1a".into(),
            instance: None,
            incident: Some(IncidentRef { id: "ale-1800000000".into(), started: Timestamp(1_800_000_000) }),
            scheduled: None,
            backup: None,
        }
    }

    #[test]
    fn text_lines() {
        let check = |e: WatchEvent, expected: &str| assert_eq!(e.to_text(), expected);
        check(
            event(EventKind::Down),
            "2027-01-15T08:04:30Z DOWN                ale is down (was healthy): failed to respawn: InsufficientInstanceCapacity in us-east-1a",
        );
        check(
            WatchEvent {
                health: Some(Health::Healthy),
                previous: Some(Health::Down),
                reason: String::new(),
                ..event(EventKind::Recovered)
            },
            "2027-01-15T08:04:30Z RECOVERED           ale recovered after 4m30s (was down)",
        );
        check(
            event(EventKind::Reminder),
            "2027-01-15T08:04:30Z REMINDER            ale is still down, for 4m30s: failed to respawn: InsufficientInstanceCapacity in us-east-1a",
        );
        let scheduled = WatchEvent {
            instance: Some(InstanceId::new("i-0003")),
            scheduled: Some(ScheduledEvent {
                id: "instance-event-1".into(),
                code: EventCode::InstanceRetirement,
                description: "The instance is running on degraded hardware".into(),
                not_before: Timestamp(1_800_600_000),
                not_after: None,
            }),
            incident: None,
            ..event(EventKind::Scheduled)
        };
        check(
            scheduled.clone(),
            "2027-01-15T08:04:30Z SCHEDULED           ale: AWS scheduled instance-retirement of i-0003, not before 2027-01-22T06:40:00Z: The instance is running on degraded hardware",
        );
        let json: serde_json::Value = serde_json::from_str(&scheduled.to_json()).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["kind"], "scheduled");
        assert_eq!(json["scheduled"]["code"], "instance-retirement");
        assert_eq!(json["scheduled"]["not_before"], "2027-01-22T06:40:00Z");
        assert_eq!(json["incident"], serde_json::Value::Null);
        let json: serde_json::Value = serde_json::from_str(&event(EventKind::Down).to_json()).unwrap();
        assert_eq!(json["incident"]["duration_secs"], 270);
        assert_eq!(json["at"], "2027-01-15T08:04:30Z");
        assert_eq!(json["health"], "down");
        assert_eq!(json["previous"], "healthy");
        assert!(json.get("scheduled").is_none());
    }

    #[test]
    fn durations() {
        for (secs, text) in [(0, "0s"), (59, "59s"), (60, "1m0s"), (3599, "59m59s"), (3600, "1h0m"), (90_061, "25h1m")]
        {
            assert_eq!(duration_text(secs), text);
        }
    }
}
