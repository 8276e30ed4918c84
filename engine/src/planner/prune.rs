//! `prune@NAME [--orphans]`: deletes the server's backups that its retention no longer
//! keeps (`crate::backup::retention`). Only snapshots cellar tagged as backups are ever
//! considered; a volume's newest completed backup, a pending one and a manual one are
//! kept. A server that no longer exists (nothing of it left but backups) keeps all of its
//! backups until `--orphans`: then they age out, retention's periods counted back from now
//! rather than from a newest backup that will never come, and each volume's newest stays.

use super::{PlanError, Planner, Planning};
use crate::backup::{retention, BackupSnapshot, KeepReason, Verdict};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "prune",
    args: &[],
    flags: &[Flag::Orphans],
    help: "delete the server's backups its retention no longer keeps (never the newest of a volume, never one cellar did not make)",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, _: &ServerConfig, scope: &mut Scope) {
    scope.snapshots = true;
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let r = p.resources();
    let now = p.inventory.now;
    let Some(policy) = config.backups.value.as_ref() else {
        p.note(format!("{server} has backups: Off ({}): retention deletes nothing.", config.backups.source));
        return Ok(());
    };
    let backups: Vec<BackupSnapshot> =
        r.snapshots.iter().filter_map(BackupSnapshot::from_snapshot).filter(|b| b.server() == server).collect();
    let exists = !r.is_empty();
    let orphans = p.command.has(Flag::Orphans);
    let decided = retention(policy, &backups, now, exists, orphans);
    let mut gone_kept = Vec::new();
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
                    snapshot: backup.id().clone(),
                    volume: backup.volume_id().clone(),
                    taken_at: backup.taken_at(),
                    size_gb: backup.size_gb(),
                    why,
                };
                p.push(server, action, vec![], None);
            }
            Verdict::Keep { reasons, .. } if reasons.contains(&KeepReason::ServerGone) => gone_kept.push(backup),
            Verdict::Keep { .. } => {}
        }
    }
    if !gone_kept.is_empty() {
        let size: u64 = gone_kept.iter().map(|b| u64::from(b.size_gb())).sum();
        let mut note = format!(
            "{server} no longer exists (nothing tagged Name={server} but backups): its {} backups ({size} GiB) are kept; prune@{server} --orphans prunes them by its retention counted back from now, so they age out (each volume's newest stays):",
            gone_kept.len()
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
    let kept = backups.len() - p.steps_len();
    p.note(match (backups.len(), p.is_empty()) {
        (0, _) => format!("{server} has no backups in {}.", p.scope.region),
        (_, true) => format!("retention keeps all {kept} backups of {server}; nothing to delete."),
        (_, false) => format!(
            "retention keeps {kept} of {server}'s {} backups (see `cellar backups {server}` for why each is kept).",
            backups.len()
        ),
    });
    Ok(())
}
