//! `create-workspace [ami-type] [arch] [region]`

use super::network::{self, Resolved};
use super::{pick, PlanError, Planner, Planning};
use crate::catalog;
use crate::command::{Arg, ArgKind, Command, CommandSpec};
use crate::config::Defaults;
use crate::inventory::workspace_number;
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "create-workspace",
    args: &[Arg::optional(ArgKind::AmiType), Arg::optional(ArgKind::Architecture), Arg::optional(ArgKind::Region)],
    flags: &[],
    help: "one small instance (workspace-N) from the newest image, untouched: no address, no volume, no agent",
    planner: Planner::Defaults { scope, plan },
};

fn scope(command: &Command, defaults: &Defaults, scope: &mut Scope) {
    scope.region = pick(command.region(), &defaults.region).0;
    scope.image =
        Some((pick(command.ami_type(), &defaults.ami_type).0, pick(command.architecture(), &defaults.architecture).0));
    scope.workspaces = true;
    scope.network = Some(defaults.launch_settings.network_scope());
}

fn plan(p: &mut Planning<'_>, defaults: &Defaults) -> Result<(), PlanError> {
    let region_origin = pick(p.command.region(), &defaults.region).1;
    let zones = p.zones(region_origin)?;
    // The global zone letter when the region has it, else the region's first zone.
    let zone = Zone::in_region(&p.scope.region, defaults.zone.value);
    let zone = match zones.first() {
        Some(first) if !zones.contains(&zone) => first.clone(),
        _ => zone,
    };
    let image = p.image(
        &pick(p.command.ami_type(), &defaults.ami_type).0,
        pick(p.command.architecture(), &defaults.architecture).0,
    )?;
    let Resolved { subnet, settings, .. } = network::resolve(p, &defaults.launch_settings, image, Some(&zone), false)?;
    let name = next_workspace(p);
    p.scope.server = Some(name.clone());
    let mut tags = defaults.tag_values();
    tags.insert(ROLE_TAG.to_string(), "workspace".to_string());
    p.tag(&name, tags);
    launch_workspace(p, &name, image, (zone, subnet), settings);
    p.note(format!(
        "The workspace is {name}: the newest image untouched (no Elastic IP, no data volume, no agent, no spawn hook). Bundle it with bundle-ami@{name}; destroy-workspace@{name} when done."
    ));
    p.note("Every create-workspace makes a new workspace: planning it again plans the next one.");
    Ok(())
}

/// The next workspace's name: one more than the highest live `workspace-N` of the region
/// (the scope must read the workspaces).
pub fn next_workspace(p: &Planning<'_>) -> ServerName {
    let n = p
        .inventory
        .workspaces
        .iter()
        .filter(|i| i.state.is_alive())
        .filter_map(|i| workspace_number(i.tags.get(NAME_TAG)?))
        .max()
        .unwrap_or(0)
        + 1;
    ServerName::new(format!("workspace-{n}"))
}

/// The workspace's instance (the small type of `image`'s architecture, no agent) and the wait
/// until it runs; returns both steps.
pub fn launch_workspace(
    p: &mut Planning<'_>,
    name: &ServerName,
    image: &Image,
    (zone, subnet): (Zone, Option<SubnetId>),
    settings: LaunchSettings,
) -> (StepId, StepId) {
    let client_token = p.client_token(name, 0);
    let instance = p.push(
        name,
        Action::RunInstance {
            zone,
            subnet,
            instance_type: InstanceType::new(catalog::workspace_instance_type(image.architecture)),
            image: image.id.clone(),
            image_name: image.name.clone(),
            agent: None,
            settings,
            client_token,
        },
        vec![],
        Some(Undo::TerminateInstance),
    );
    let running = p.push(name, Action::WaitRunning { instance: Ref::Output(instance) }, vec![], None);
    (instance, running)
}
