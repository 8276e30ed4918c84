//! The backup invariants, checked around every backup, prune and restore apply (read from
//! the world directly, not through faults):
//! - a restore returns each data volume to the generation of the backup it chose (the
//!   newest completed one at or before `--at`), or, moving with `--at now`, to the
//!   generation the old volume had when the server stopped (no data lost in the move);
//! - a failed restore leaves the server as it was: the same data volumes, none marked
//!   replaced, the group in its zone;
//! - a prune keeps, for each volume, the backup that stands for each of the last
//!   `keep_daily` days (and so the newest), and leaves nothing retention would delete.

use super::*;
use cellar_engine::backup::{retention, BackupSnapshot, Verdict, VolumeKey};

const DAY: u64 = 86_400;

/// What a backup command's checks compare the world after its apply with.
pub(in crate::support::scenario) enum BackupsBefore {
    Restore {
        server: String,
        to: RestoreTo,
        at: Timestamp,
        /// Each data volume before: its key, id and generation.
        data: Vec<(VolumeKey, VolumeId, u64)>,
        /// The generation each volume must come back with, at least (by key).
        floor: BTreeMap<VolumeKey, u64>,
        zones: Option<Vec<Zone>>,
    },
    Prune {
        server: String,
        at: Timestamp,
        /// The backups that must survive (each volume's stand-in for each kept day).
        promised: BTreeSet<SnapshotId>,
        completed: BTreeSet<SnapshotId>,
        exists: bool,
        orphans: bool,
    },
}

/// `server`'s backups in the world, with the data generation each captured.
fn backups_of(sim: &Sim, server: &str) -> Vec<(BackupSnapshot, u64)> {
    let w = sim.world();
    w.snapshots()
        .values()
        .filter_map(|s| Some((BackupSnapshot::from_snapshot(&s.to_model())?, s.generation)))
        .filter(|(b, _)| b.server().as_str() == server)
        .collect()
}

fn completed(backups: &[(BackupSnapshot, u64)]) -> impl Iterator<Item = &(BackupSnapshot, u64)> {
    backups.iter().filter(|(b, _)| b.state() == SnapshotState::Completed)
}

/// Each volume's backup standing for each of the last `keep_daily` days before `anchor`'s:
/// the newest completed one taken by that day's end.
fn daily_stand_ins(backups: &[(BackupSnapshot, u64)], anchor: Timestamp, keep_daily: u32) -> BTreeSet<SnapshotId> {
    let keys: BTreeSet<&VolumeKey> = completed(backups).map(|(b, _)| b.volume()).collect();
    let mut out = BTreeSet::new();
    for key in keys {
        for d in 0..u64::from(keep_daily) {
            let Some(end) = (anchor.0 / DAY).checked_sub(d).map(|day| Timestamp((day + 1) * DAY - 1)) else { break };
            let stand_in = completed(backups)
                .filter(|(b, _)| b.volume() == key && b.taken_at() <= end)
                .max_by_key(|(b, _)| (b.taken_at(), b.id().clone()));
            out.extend(stand_in.map(|(b, _)| b.id().clone()));
        }
    }
    out
}

/// The server's data volumes: key, id, generation.
fn data_volumes(sim: &Sim, server: &str) -> Vec<(VolumeKey, VolumeId, u64)> {
    let volumes = resources(sim, server).volumes;
    let w = sim.world();
    let mut out: Vec<_> = volumes
        .iter()
        .filter(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE))
        .filter_map(|v| Some((VolumeKey::of(v)?, v.id.clone(), w.volume_generation(&v.id)?)))
        .collect();
    out.sort();
    out
}

impl Runner<'_> {
    /// What the checks of a backup, prune or restore need from the world before its apply.
    pub(super) fn backups_before(&self, cmd: &Cmd) -> Option<BackupsBefore> {
        let at = self.sim.world().now();
        match cmd {
            Cmd::Restore { server, at: to, .. } => {
                let server = server_name(*server);
                let data = data_volumes(&self.sim, &server);
                let backups = backups_of(&self.sim, &server);
                let floor = match to {
                    RestoreTo::Now(_) => data.iter().map(|(k, _, g)| (k.clone(), *g)).collect(),
                    RestoreTo::Latest => {
                        let mut newest: BTreeMap<VolumeKey, (Timestamp, SnapshotId, u64)> = BTreeMap::new();
                        for (b, g) in completed(&backups) {
                            let entry = (b.taken_at(), b.id().clone(), *g);
                            let slot = newest.entry(b.volume().clone()).or_insert_with(|| entry.clone());
                            if (&entry.0, &entry.1) > (&slot.0, &slot.1) {
                                *slot = entry;
                            }
                        }
                        newest.into_iter().map(|(k, (_, _, g))| (k, g)).collect()
                    }
                };
                let zones = resources(&self.sim, &server).groups.first().map(|g| g.zones.clone());
                Some(BackupsBefore::Restore { server, to: *to, at, data, floor, zones })
            }
            Cmd::Prune { server, orphans } => {
                let server = server_name(*server);
                let backups = backups_of(&self.sim, &server);
                let exists = !resources(&self.sim, &server).is_empty();
                let policy = crate::support::scenario::backup_policy();
                let newest = completed(&backups).map(|(b, _)| b.taken_at()).max();
                let promised = match (exists, *orphans) {
                    // A gone server's backups are all kept, unless orphans are pruned: then
                    // the days count back from now.
                    (false, false) => backups.iter().map(|(b, _)| b.id().clone()).collect(),
                    (false, true) => daily_stand_ins(&backups, at, policy.keep_daily),
                    (true, _) => {
                        newest.map_or_else(BTreeSet::new, |n| daily_stand_ins(&backups, n.min(at), policy.keep_daily))
                    }
                };
                let completed = completed(&backups).map(|(b, _)| b.id().clone()).collect();
                Some(BackupsBefore::Prune { server, at, promised, completed, exists, orphans: *orphans })
            }
            _ => None,
        }
    }

    /// The backup invariants (see the module doc) after the apply `report`.
    pub(super) fn check_backups(
        &self,
        step: usize,
        line: &str,
        report: &ApplyReport,
        before: Option<BackupsBefore>,
    ) -> Result<(), String> {
        match before {
            None => Ok(()),
            Some(BackupsBefore::Restore { server, to, at, data, floor, zones }) => {
                if report.succeeded() {
                    self.check_restored(step, line, (&server, to, at), &data, &floor)
                } else {
                    self.check_as_it_was(step, line, report, &server, &data, zones)
                }
            }
            Some(BackupsBefore::Prune { server, at, promised, completed, exists, orphans }) => {
                let after = backups_of(&self.sim, &server);
                let left: BTreeSet<&SnapshotId> = after.iter().map(|(b, _)| b.id()).collect();
                if let Some(gone) = promised.iter().find(|id| !left.contains(id)) {
                    return Err(self.fail(step, format!("{line}: deleted {gone}, which retention promises to keep")));
                }
                let now_completed: BTreeSet<SnapshotId> =
                    self::completed(&after).map(|(b, _)| b.id().clone()).collect();
                if !report.succeeded() || !now_completed.is_subset(&completed) {
                    return Ok(()); // a backup completed meanwhile: retention may see more to do
                }
                let snapshots: Vec<BackupSnapshot> = after.into_iter().map(|(b, _)| b).collect();
                let decided = retention(&crate::support::scenario::backup_policy(), &snapshots, at, exists, orphans);
                match decided.decisions.iter().find(|d| matches!(d.verdict, Verdict::Delete(_))) {
                    Some(d) => {
                        Err(self.fail(step, format!("{line}: {} is kept past its promise ({:?})", d.id, d.verdict)))
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// After a successful restore: each data volume holds its floor generation, plus at
    /// most what the new instance wrote since (one generation a minute).
    fn check_restored(
        &self,
        step: usize,
        line: &str,
        (server, to, at): (&str, RestoreTo, Timestamp),
        data: &[(VolumeKey, VolumeId, u64)],
        floor: &BTreeMap<VolumeKey, u64>,
    ) -> Result<(), String> {
        let now = data_volumes(&self.sim, server);
        let elapsed = self.sim.world().now().0.saturating_sub(at.0);
        let slack = elapsed / 60 + 2;
        for (key, lo) in floor {
            let Some((_, id, got)) = now.iter().find(|(k, _, _)| k == key) else {
                return Err(self.fail(step, format!("{line}: {server} has no data volume {key:?} after the restore")));
            };
            if data.iter().any(|(_, old, _)| old == id) {
                return Err(self.fail(step, format!("{line}: {server}'s volume {id} was not replaced")));
            }
            if *got < *lo || *got > lo + slack {
                let what = match to {
                    RestoreTo::Latest => "the newest backup's",
                    RestoreTo::Now(_) => "the volume's when it stopped",
                };
                return Err(self.fail(
                    step,
                    format!("{line}: {server}'s {id} is at generation {got}, but {what} is {lo} (+{slack} at most)"),
                ));
            }
        }
        // Moving: the fresh snapshot holds what the old volume ended with.
        if let RestoreTo::Now(_) = to {
            let w = self.sim.world();
            for (_, old, _) in data {
                let Some(last) = w.volume_generation(old) else { continue }; // --delete-old
                let fresh = w
                    .snapshots()
                    .values()
                    .filter(|s| s.volume == *old && s.created_at >= at)
                    .map(|s| s.generation)
                    .max();
                if fresh != Some(last) {
                    return Err(self.fail(
                        step,
                        format!("{line}: {old} ended at generation {last}, but its snapshot holds {fresh:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// After a failed restore whose compensation all succeeded: the server's data volumes
    /// are the ones it had, none tagged replaced, and its group launches where it did.
    fn check_as_it_was(
        &self,
        step: usize,
        line: &str,
        report: &ApplyReport,
        server: &str,
        data: &[(VolumeKey, VolumeId, u64)],
        zones: Option<Vec<Zone>>,
    ) -> Result<(), String> {
        if report.undone.iter().any(|u| u.result.is_err()) {
            return Ok(()); // what is left is listed (the no-leaks invariant)
        }
        let r = resources(&self.sim, server);
        let ids =
            |d: &[(VolumeKey, VolumeId, u64)]| -> Vec<VolumeId> { d.iter().map(|(_, id, _)| id.clone()).collect() };
        let now = data_volumes(&self.sim, server);
        if ids(&now) != ids(data) {
            let what = format!("{line} failed, and {server}'s data volumes are {:?}, not {:?}", ids(&now), ids(data));
            return Err(self.fail(step, what));
        }
        // Its data volumes carry no mark of the restore (one an earlier restore replaced does).
        let marked = |v: &&Volume| v.tags.contains_key(cellar_engine::volumes::REPLACED_AT_TAG);
        if let Some(v) = r.volumes.iter().filter(marked).find(|v| data.iter().any(|(_, id, _)| *id == v.id)) {
            return Err(self.fail(step, format!("{line} failed, and {} is still marked replaced", v.id)));
        }
        let zones_now = r.groups.first().map(|g| g.zones.clone());
        if zones_now != zones {
            return Err(
                self.fail(step, format!("{line} failed, and the group launches in {zones_now:?}, not {zones:?}"))
            );
        }
        Ok(())
    }
}
