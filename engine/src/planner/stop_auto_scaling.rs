//! `stop-auto-scaling@NAME [--keep-group]`

use super::launch::delete_launch_settings;
use super::{configured, PlanError, Planner, Planning};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "stop-auto-scaling",
    args: &[],
    flags: &[Flag::KeepGroup],
    help: "group to desired 0, terminate the instance, delete the group and its launch settings (kept with --keep-group); volume and address stay",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, _: &ServerConfig, _: &mut Scope) {}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let keep_group = p.command.has(Flag::KeepGroup);
    p.zones(configured(&config.region))?;
    let r = p.resources();
    let Some(group) = r.group() else {
        return Err(PlanError::NoGroup { server: server.clone(), region: p.scope.region.clone() });
    };
    if group.desired == 0 && keep_group {
        return Err(PlanError::AlreadyStopped { server: server.clone(), group: group.name.clone() });
    }
    let mut scale_in = None;
    if group.desired > 0 || group.min > 0 {
        scale_in = Some(p.push(
            server,
            Action::UpdateAutoScalingGroup {
                group: group.name.clone(),
                launch: None,
                min: Some(0),
                desired: Some(0),
                placement: None,
            },
            vec![],
            None,
        ));
    }
    let mut terminated = Vec::new();
    for instance in r.live_instances() {
        terminated.push(Some(p.push(
            server,
            Action::TerminateInstance { instance: instance.id.clone() },
            vec![scale_in],
            None,
        )));
    }
    if keep_group {
        p.note(format!(
            "--keep-group (the seed's \"run locally\" case): group {} and its launch settings stay, with desired 0, so nothing replaces the instance.",
            group.name
        ));
    } else {
        let mut after = terminated.clone();
        after.push(scale_in);
        let deleted = p.push(server, Action::DeleteAutoScalingGroup { group: group.name.clone() }, after, None);
        delete_launch_settings(p, server, Some(deleted));
    }
    let mut kept = Vec::new();
    let data: Vec<&str> = r.volumes.iter().filter(|v| crate::volumes::is_data(v)).map(|v| v.id.as_str()).collect();
    match data.as_slice() {
        [] => {}
        [one] => kept.push(format!("data volume {one}")),
        several => kept.push(format!("data volumes {}", several.join(", "))),
    }
    kept.extend(r.addresses.iter().map(|a| format!("Elastic IP {}", a.public_ip)));
    if !kept.is_empty() {
        p.note(format!(
            "{} stay{}, so attach-instance@{server} or start-auto-scaling@{server} can bring {server} back.",
            kept.join(" and "),
            if kept.len() == 1 { "s" } else { "" }
        ));
    }
    Ok(())
}
