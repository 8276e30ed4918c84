//! The watch's backup schedule: for each watched server whose `backups` policy is on, when
//! its last scheduled backup was taken, and so when the next one falls due
//! ([`crate::backup::due`]). Pure: times and outcomes in, what to back up and the events
//! out.
//!
//! The watch learns each server's last scheduled backup once, from one batched read of the
//! servers' snapshots at its first look ([`BackupSchedule::learn`]); from then on it knows
//! it from what it does itself ([`BackupSchedule::settle`]), so a look reads no snapshots.
//! A backup someone else took meanwhile (cron's `cellar apply backup@all --due`) is found
//! when the watch plans its own: that plan is empty, and the schedule moves on.
//!
//! Rules:
//! - A server is due when [`crate::backup::due`] says so and its last look found a data
//!   volume (a server that does not exist has nothing to back up, and is not a failure).
//!   A server never backed up is due at once; a backup the machine was off for is due at
//!   once and said to be missed.
//! - A failed backup is tried again [`RETRY_AFTER`] later, then twice as long after each
//!   failure in a row, at most [`RETRY_AT_MOST`] apart; each failure is a `backup-failed`
//!   event.
//! - A server locked by another apply is tried again at the next look: its wait is said
//!   once per scheduled backup (`backup-postponed`), and once more as `backup-failed`
//!   (notified) when it has waited [`LOCKED_FOR_TOO_LONG`] (a lock left by a killed
//!   apply never goes away by itself).
//! - After a backup, the round deletes what retention no longer keeps: `pruned` when it
//!   deleted something, `prune-failed` when it could not.

use super::event::{BackupFacts, EventKind, WatchEvent};
use crate::backup::{due, next_at, BackupPolicy, Due};
use crate::model::{Region, ServerName, SnapshotId, Timestamp};
use std::collections::BTreeMap;

/// The wait before a failed backup is tried again (doubled after each failure in a row).
pub const RETRY_AFTER: u64 = 300;
/// The longest wait between two tries of a failing backup.
pub const RETRY_AT_MOST: u64 = 4 * 3600;
/// How long a backup may wait for another apply's lock before that is a `backup-failed`.
pub const LOCKED_FOR_TOO_LONG: u64 = 3600;

/// One server's place in the schedule.
#[derive(Clone, Debug)]
struct Entry {
    region: Region,
    policy: BackupPolicy,
    /// When its newest scheduled backup was taken: `None` until learnt, `Some(None)`: never.
    last: Option<Option<Timestamp>>,
    /// Whether its last look found a data volume.
    has_volume: bool,
    /// After a failure: not tried again before this time.
    retry_at: Option<Timestamp>,
    /// Failures in a row.
    failures: u32,
    /// The scheduled time whose wait for a lock was said, since when it waits, and whether
    /// it was said to fail.
    postponed: Option<(Timestamp, Timestamp, bool)>,
}

/// A server whose scheduled backup is due now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueBackup {
    pub server: ServerName,
    pub region: Region,
    pub due: Due,
}

/// How a round went for one server's backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupOutcome {
    /// Taken at `at`: a snapshot of each data volume.
    Taken { at: Timestamp, snapshots: Vec<SnapshotId> },
    /// Its plan had nothing to do: a scheduled backup was taken since (by someone else).
    NotDue,
    /// It could not be taken: why.
    Failed(String),
    /// Another apply holds the server's lock: who, in words.
    Locked(String),
}

/// How deleting the backups retention no longer keeps went, after a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PruneOutcome {
    Deleted(Vec<SnapshotId>),
    Failed(String),
}

/// What a round did for one due server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundReport {
    pub server: ServerName,
    pub due: Due,
    pub backup: BackupOutcome,
    /// After a backup taken: the prune.
    pub prune: Option<PruneOutcome>,
}

/// Every watched server with backups on, and when each is due.
#[derive(Clone, Debug, Default)]
pub struct BackupSchedule {
    servers: BTreeMap<ServerName, Entry>,
}

impl BackupSchedule {
    /// The servers (with their region and policy) the watch backs up; a server with
    /// `backups: Off` is left out by the caller.
    pub fn new(servers: impl IntoIterator<Item = (ServerName, Region, BackupPolicy)>) -> BackupSchedule {
        let entry = |region, policy| Entry {
            region,
            policy,
            last: None,
            has_volume: false,
            retry_at: None,
            failures: 0,
            postponed: None,
        };
        BackupSchedule {
            servers: servers.into_iter().map(|(name, region, policy)| (name, entry(region, policy))).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// The servers whose last scheduled backup is not known yet (read them, then
    /// [`BackupSchedule::learn`]).
    pub fn unlearnt(&self) -> Vec<(ServerName, Region)> {
        self.servers.iter().filter(|(_, e)| e.last.is_none()).map(|(n, e)| (n.clone(), e.region.clone())).collect()
    }

    /// When `server`'s newest scheduled backup was taken (`None`: never), as read.
    pub fn learn(&mut self, server: &ServerName, last: Option<Timestamp>) {
        if let Some(e) = self.servers.get_mut(server) {
            e.last = Some(last);
        }
    }

    /// Whether the last look found a data volume of `server`.
    pub fn seen(&mut self, server: &ServerName, has_volume: bool) {
        if let Some(e) = self.servers.get_mut(server) {
            e.has_volume = has_volume;
        }
    }

    /// The servers due at `now`, in name order: learnt, with a data volume, not waiting to
    /// be tried again, and [`crate::backup::due`].
    pub fn due(&self, now: Timestamp) -> Vec<DueBackup> {
        self.servers
            .iter()
            .filter(|(_, e)| e.has_volume && e.retry_at.is_none_or(|at| at <= now))
            .filter_map(|(name, e)| {
                let due = due(&e.policy, e.last?, now)?;
                Some(DueBackup { server: name.clone(), region: e.region.clone(), due })
            })
            .collect()
    }

    /// When `server`'s next scheduled backup falls due, as far as the schedule knows now
    /// (`None`: not watched, not learnt yet, or never). One due now, or waiting to be tried
    /// again, is due at once or at its retry.
    pub fn next_due(&self, server: &ServerName, now: Timestamp) -> Option<Timestamp> {
        let e = self.servers.get(server)?;
        let last = e.last?;
        let at = match due(&e.policy, last, now) {
            Some(_) => now,
            None => next_at(&e.policy, last.unwrap_or(now).max(now))?,
        };
        Some(e.retry_at.map_or(at, |retry| retry.max(at)))
    }

    /// What a round did, learnt at `now`: the schedule moves on, and the events to report,
    /// in the order of `reports`.
    pub fn settle(&mut self, now: Timestamp, reports: Vec<RoundReport>) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        for report in reports {
            let Some(e) = self.servers.get_mut(&report.server) else { continue };
            let region = e.region.clone();
            let who = (&report.server, &region);
            let facts = |snapshots, retry_at| BackupFacts {
                scheduled_for: Some(report.due.at),
                missed: report.due.missed,
                skipped: report.due.skipped,
                snapshots,
                retry_at,
            };
            match report.backup {
                BackupOutcome::Taken { at: taken, snapshots } => {
                    e.last = Some(Some(taken));
                    (e.retry_at, e.failures, e.postponed) = (None, 0, None);
                    events.push(WatchEvent::about_backup(
                        EventKind::Backup,
                        now,
                        who,
                        facts(snapshots, None),
                        String::new(),
                    ));
                }
                BackupOutcome::NotDue => {
                    // Taken since the schedule last knew: not due again before the next time.
                    e.last = Some(Some(now));
                    (e.retry_at, e.failures, e.postponed) = (None, 0, None);
                }
                BackupOutcome::Failed(why) => {
                    let wait = RETRY_AFTER.saturating_mul(1u64 << e.failures.min(16)).min(RETRY_AT_MOST);
                    e.failures = e.failures.saturating_add(1);
                    let retry = now.plus_secs(wait);
                    e.retry_at = Some(retry);
                    events.push(WatchEvent::about_backup(
                        EventKind::BackupFailed,
                        now,
                        who,
                        facts(vec![], Some(retry)),
                        why,
                    ));
                }
                BackupOutcome::Locked(holder) => {
                    let slot = report.due.at;
                    let (since, said_failed) = match e.postponed {
                        Some((s, since, failed)) if s == slot => (since, failed),
                        _ => {
                            e.postponed = Some((slot, now, false));
                            let why = format!("{holder}; tried again at each look");
                            events.push(WatchEvent::about_backup(
                                EventKind::BackupPostponed,
                                now,
                                who,
                                facts(vec![], None),
                                why,
                            ));
                            continue;
                        }
                    };
                    if !said_failed && now.0.saturating_sub(since.0) >= LOCKED_FOR_TOO_LONG {
                        e.postponed = Some((slot, since, true));
                        let why = format!(
                            "it has waited {} for the lock of {}: {holder}; if that apply is gone, `cellar unlock {}` removes its lock (tried again at each look)",
                            since.age_words(now),
                            report.server,
                            report.server
                        );
                        events.push(WatchEvent::about_backup(
                            EventKind::BackupFailed,
                            now,
                            who,
                            facts(vec![], None),
                            why,
                        ));
                    }
                }
            }
            let prune_facts =
                |snapshots| BackupFacts { scheduled_for: None, missed: false, skipped: 0, snapshots, retry_at: None };
            match report.prune {
                Some(PruneOutcome::Deleted(ids)) if !ids.is_empty() => {
                    events.push(WatchEvent::about_backup(EventKind::Pruned, now, who, prune_facts(ids), String::new()));
                }
                Some(PruneOutcome::Failed(why)) => {
                    events.push(WatchEvent::about_backup(EventKind::PruneFailed, now, who, prune_facts(vec![]), why));
                }
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
