//! `destroy-workspace@WORKSPACE [region]`

use super::{pick, PlanError, Planner, Planning, Settings};
use crate::command::{Arg, ArgKind, Command, CommandSpec};
use crate::inventory::workspace_number;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "destroy-workspace",
    args: &[Arg::optional(ArgKind::Region)],
    flags: &[],
    help: "terminate a workspace's instance (what create-workspace made) in its region (default: the global one), and delete a restore drill's volumes; its images stay",
    planner: Planner::Workspace { scope, plan },
};

fn scope(command: &Command, settings: &Settings, scope: &mut Scope) {
    scope.region = pick(command.region(), settings.region()).0;
}

fn plan(p: &mut Planning<'_>, settings: &Settings) -> Result<(), PlanError> {
    let Some(workspace) = p.scope.server.clone() else {
        return Err(PlanError::NoTarget { command: SPEC.name, synopsis: SPEC.synopsis() });
    };
    if workspace_number(workspace.as_str()).is_none() {
        return Err(PlanError::NotAWorkspace { name: workspace });
    }
    p.zones(pick(p.command.region(), settings.region()).1)?;
    let r = p.resources();
    let live: Vec<_> = r.live_instances().collect();
    if live.is_empty() && r.volumes.is_empty() {
        return Err(PlanError::NoWorkspace { name: workspace, region: p.scope.region.clone() });
    }
    let terminated: Vec<Option<StepId>> = live
        .into_iter()
        .map(|i| Some(p.push(&workspace, Action::TerminateInstance { instance: i.id.clone() }, vec![], None)))
        .collect();
    // A restore drill's volumes (`restore-server --drill`): restored copies, not data.
    for v in &r.volumes {
        p.push(&workspace, Action::DeleteVolume { volume: v.id.clone() }, terminated.clone(), None);
    }
    p.note(format!("Images bundled from {workspace} stay; only its instance and volumes go."));
    Ok(())
}
