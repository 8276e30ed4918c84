//! `prune@NAME [--orphans]`: deletes the server's backups that its retention no longer
//! keeps (`crate::backup::retention`), in its region and, as their own series, their copies
//! in its policy's `copy_to` regions. Only snapshots cellar tagged as backups are ever
//! considered; a volume's newest completed backup, a pending one and a manual one are
//! kept. A server that no longer exists (nothing of it left but backups) keeps all of its
//! backups until `--orphans`: then they age out, retention's periods counted back from now
//! rather than from a newest backup that will never come, and each volume's newest stays.

use super::{PlanError, Planner, Planning};
use crate::backup::{retention, BackupPolicy, BackupSnapshot, KeepReason, Verdict};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::model::{Region, ServerName, Snapshot};
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "prune",
    args: &[],
    flags: &[Flag::Orphans],
    help: "delete the server's backups (and their copies) its retention no longer keeps (never the newest of a volume, never one cellar did not make)",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, config: &ServerConfig, scope: &mut Scope) {
    scope.snapshots = true;
    scope.copies = config.backups.value.as_ref().map(|p| p.copy_to.clone()).unwrap_or_default();
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let Some(policy) = config.backups.value.as_ref() else {
        p.note(format!("{server} has backups: Off ({}): retention deletes nothing.", config.backups.source));
        return Ok(());
    };
    let r = p.resources();
    let inventory = p.inventory;
    let exists = !r.is_empty();
    let mut counts = prune_region(p, (server, policy, exists), None, &r.snapshots);
    for region in &policy.copy_to {
        let copies = inventory.copies.get(region).map(Vec::as_slice).unwrap_or_default();
        let (kept, all) = prune_region(p, (server, policy, exists), Some(region), copies);
        counts = (counts.0 + kept, counts.1 + all);
    }
    let (kept, all) = counts;
    let copies = if policy.copy_to.is_empty() { "" } else { " (copies included)" };
    p.note(match (all, p.is_empty()) {
        (0, _) => format!("{server} has no backups in {}.", p.scope.region),
        (1, true) => format!("retention keeps {server}'s one backup{copies}; nothing to delete."),
        (_, true) => format!("retention keeps all {kept} backups of {server}{copies}; nothing to delete."),
        (_, false) => format!(
            "retention keeps {kept} of {server}'s {all} backups{copies} (see `cellar backups {server}` for why each is kept)."
        ),
    });
    Ok(())
}

/// Plans the deletions of `server`'s backups among `snapshots`, in `region` (a copy region)
/// or the plan's; returns how many it keeps and how many there are.
fn prune_region(
    p: &mut Planning<'_>,
    (server, policy, exists): (&ServerName, &BackupPolicy, bool),
    region: Option<&Region>,
    snapshots: &[Snapshot],
) -> (usize, usize) {
    let now = p.inventory.now;
    let backups: Vec<BackupSnapshot> =
        snapshots.iter().filter_map(BackupSnapshot::from_snapshot).filter(|b| b.server() == server).collect();
    let orphans = p.command.has(Flag::Orphans);
    let decided = retention(policy, &backups, now, exists, orphans);
    let mut gone_kept = Vec::new();
    let mut deleted = 0;
    for (backup, decision) in backups.iter().zip(&decided.decisions) {
        match &decision.verdict {
            Verdict::Delete(why) => {
                let why = match exists {
                    true => why.to_string(),
                    false => {
                        format!("{} old, of {server}, which no longer exists; {why}", backup.taken_at().age_words(now))
                    }
                };
                let action = Action::DeleteSnapshot {
                    region: region.cloned(),
                    snapshot: backup.id().clone(),
                    volume: backup.volume_id().clone(),
                    taken_at: backup.taken_at(),
                    size_gb: backup.size_gb(),
                    why,
                };
                p.push(server, action, vec![], None);
                deleted += 1;
            }
            Verdict::Keep { reasons, .. } if reasons.contains(&KeepReason::ServerGone) => gone_kept.push(backup),
            Verdict::Keep { .. } => {}
        }
    }
    if !gone_kept.is_empty() {
        let size: u64 = gone_kept.iter().map(|b| u64::from(b.size_gb())).sum();
        let mut note = format!(
            "{server} no longer exists (nothing tagged Name={server} but backups): its {} backup{}{} ({size} GiB) {} kept; prune@{server} --orphans prunes them by its retention counted back from now, so they age out (each volume's newest stays):",
            gone_kept.len(),
            if gone_kept.len() == 1 { "" } else { "s" },
            region.map(|r| format!(" in {r}")).unwrap_or_default(),
            if gone_kept.len() == 1 { "is" } else { "are" }
        );
        for b in &gone_kept {
            note.push_str(&format!(
                "\n  {} of {}, taken {} ({} old), {} GiB",
                b.id(),
                b.volume_id(),
                b.taken_at().utc_minute(),
                b.taken_at().age_words(now),
                b.size_gb()
            ));
        }
        p.note(note);
    }
    (backups.len() - deleted, backups.len())
}
