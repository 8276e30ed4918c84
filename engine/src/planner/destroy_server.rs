//! `destroy-server@NAME [--delete-data]`

use super::launch::delete_launch_settings;
use super::{configured, PlanError, Planner, Planning};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "destroy-server",
    args: &[],
    flags: &[Flag::DeleteData],
    help: "delete the group, terminate the instances, delete launch settings, release addresses; the data volume stays unless --delete-data (snapshot first)",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, _: &ServerConfig, _: &mut Scope) {}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let delete_data = p.command.has(Flag::DeleteData);
    p.zones(configured(&config.region))?;
    let r = p.resources();
    if r.is_empty() {
        return Err(PlanError::NothingToDestroy { server: server.clone(), region: p.scope.region.clone() });
    }
    p.tag_configured(config);
    let group =
        r.group().map(|g| p.push(server, Action::DeleteAutoScalingGroup { group: g.name.clone() }, vec![], None));
    let terminated: Vec<Option<StepId>> = r
        .live_instances()
        .map(|i| Some(p.push(server, Action::TerminateInstance { instance: i.id.clone() }, vec![group], None)))
        .collect();
    delete_launch_settings(p, server, group);
    for a in &r.addresses {
        p.push(
            server,
            Action::ReleaseAddress { address: a.allocation_id.clone(), public_ip: a.public_ip.clone() },
            terminated.clone(),
            None,
        );
    }
    for v in &r.volumes {
        if delete_data {
            let snapshot =
                p.push(server, Action::CreateSnapshot { volume: v.id.clone(), backup: None }, terminated.clone(), None);
            p.push(server, Action::DeleteVolume { volume: v.id.clone() }, vec![Some(snapshot)], None);
            p.note(format!(
                "--delete-data: volume {} ({} GiB) is snapshotted first, then deleted; the snapshot (tagged Name={server}) is kept.",
                v.id, v.size_gb
            ));
        } else {
            p.note(format!(
                "Volume {} ({} GiB) stays with its data (tagged Name={server}); destroy-server@{server} --delete-data snapshots and deletes it.",
                v.id, v.size_gb
            ));
        }
    }
    if p.is_empty() {
        p.note(format!("Nothing but the data volume is left of {server}."));
    }
    Ok(())
}
