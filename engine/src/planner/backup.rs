//! `backup@NAME`: one snapshot of every data volume of the server, now, tagged as a manual
//! backup (`crate::backup::backup_tags`: the server, the volume's role and device, the
//! kind and the time it is taken).

use super::{PlanError, Planner, Planning};
use crate::backup::{BackupKind, SnapshotBackup, VolumeKey};
use crate::command::{Command, CommandSpec};
use crate::config::ServerConfig;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "backup",
    args: &[],
    flags: &[],
    help: "snapshot every data volume now (crash-consistent), tagged as a manual backup of the server",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, _: &ServerConfig, _: &mut Scope) {}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let r = p.resources();
    let volumes: Vec<(crate::model::VolumeId, VolumeKey)> = r
        .volumes
        .iter()
        .filter(|v| crate::volumes::is_data(v))
        .filter_map(|v| Some((v.id.clone(), VolumeKey::of(v)?)))
        .collect();
    if volumes.is_empty() {
        return Err(PlanError::NoVolume { server: server.clone(), region: p.scope.region.clone() });
    }
    for (volume, key) in volumes {
        let backup = Some(SnapshotBackup { kind: BackupKind::Manual, volume: key });
        p.push(server, Action::CreateSnapshot { volume, backup }, vec![], None);
    }
    p.note(format!(
        "crash-consistent: each snapshot holds what was on its volume at one instant, as after a power cut; a database \
         on {server} recovers from it as from a crash (flush or stop it first for a clean copy). Manual backups are kept until deleted by hand."
    ));
    Ok(())
}
