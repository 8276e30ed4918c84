//! `backup@NAME [--due]`: one snapshot of every data volume of the server, now, tagged as a
//! backup (`crate::backup::backup_tags`: the server, the volume's role and device, the kind
//! and the time it is taken).
//!
//! The kind: when the server's scheduled backup is due (`crate::backup::due`: none taken
//! since the last `daily_at`), this is it, a scheduled backup, and a late one (the machine
//! was off, nothing ran the schedule) is said to be missed; otherwise a manual one, which
//! retention never deletes. `--due` takes only the due scheduled backup: what cron and
//! `cellar watch` run, so that running it twice takes nothing the second time.

use super::{PlanError, Planner, Planning};
use crate::backup::{due, last_scheduled, next_at, BackupKind, Due, SnapshotBackup, VolumeKey};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::model::{Region, Timestamp, VolumeId};
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "backup",
    args: &[],
    flags: &[Flag::Due],
    help: "snapshot every data volume now (crash-consistent): the scheduled backup if it is due, else a manual one",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, _: &ServerConfig, scope: &mut Scope) {
    scope.snapshots = true;
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let r = p.resources();
    let now = p.inventory.now;
    let volumes: Vec<(VolumeId, VolumeKey)> = r
        .volumes
        .iter()
        .filter(|v| crate::volumes::is_data(v))
        .filter_map(|v| Some((v.id.clone(), VolumeKey::of(v)?)))
        .collect();
    let last_scheduled = last_scheduled(server, &r.snapshots);
    let policy = config.backups.value.as_ref();
    let scheduled = policy.and_then(|policy| due(policy, last_scheduled, now));
    let kind = match (scheduled, p.command.has(Flag::Due)) {
        (Some(_), _) => BackupKind::Scheduled,
        (None, false) => BackupKind::Manual,
        (None, true) => {
            p.note(match (policy, last_scheduled) {
                (None, _) => format!("{server} has backups: Off ({}): nothing is due.", config.backups.source),
                (Some(policy), last) => format!(
                    "{server}'s scheduled backup is not due: the last was taken {}; the next is due at {}.",
                    last.map_or_else(|| "never".to_string(), |t| t.utc_minute()),
                    next_at(policy, now).map_or_else(|| "never".to_string(), Timestamp::utc_minute)
                ),
            });
            return Ok(());
        }
    };
    if volumes.is_empty() {
        return Err(PlanError::NoVolume { server: server.clone(), region: p.scope.region.clone() });
    }
    let copy_to = policy.map(|p| p.copy_to.clone()).unwrap_or_default();
    for (volume, key) in volumes {
        let backup = Some(SnapshotBackup { kind, volume: key });
        let taken = p.push(server, Action::CreateSnapshot { volume, backup }, vec![], None);
        for to in &copy_to {
            p.push(server, Action::CopySnapshot { snapshot: Ref::Output(taken), to: to.clone() }, vec![], None);
        }
    }
    if !copy_to.is_empty() {
        let regions: Vec<&str> = copy_to.iter().map(Region::as_str).collect();
        p.note(format!(
            "each backup is copied to {} once complete (`copy_to`, {}): a copy takes its own time, longer than the snapshot, and is pruned there by the same retention.",
            regions.join(", "),
            config.backups.source
        ));
    }
    if let Some(d) = scheduled {
        p.note(scheduled_note(server, d, now));
    }
    p.note(format!(
        "crash-consistent: each snapshot holds what was on its volume at one instant, as after a power cut; a database \
         on {server} recovers from it as from a crash (flush or stop it first for a clean copy).{}",
        match kind {
            BackupKind::Manual => " Manual backups are kept until deleted by hand.",
            BackupKind::Scheduled => "",
        }
    ));
    Ok(())
}

/// What the plan says of a due scheduled backup: on time, or missed (and how many days
/// went without one).
fn scheduled_note(server: &crate::model::ServerName, d: Due, now: Timestamp) -> String {
    let mut note = format!("the scheduled backup of {server} for {}", d.at.utc_minute());
    if d.missed {
        note.push_str(&format!(
            " was missed (due {} ago: the machine was off, or nothing ran the schedule); it is taken now",
            d.at.age_words(now)
        ));
        if d.skipped > 0 {
            note.push_str(&format!(
                ", and the {} scheduled backup{} before it never happened",
                d.skipped,
                if d.skipped == 1 { "" } else { "s" }
            ));
        }
        note.push('.');
    } else {
        note.push_str(" is due: taken now.");
    }
    note
}
