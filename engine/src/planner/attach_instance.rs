//! `attach-instance@NAME [type] [ami-type] [arch]`

use super::address::address_kept;
use super::launch::{agent_spec, launch_scope, LaunchChoice, LAUNCH_ARGS};
use super::{configured, wait_healthy, PlanError, Planner, Planning};
use crate::agent::DATA_DEVICE;
use crate::command::CommandSpec;
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "attach-instance",
    args: LAUNCH_ARGS,
    flags: &[],
    help: "an instance by hand in the data volume's zone from the newest image, attached and associated; no auto scaling group",
    planner: Planner::Server { scope: launch_scope, plan },
};

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    p.zones(configured(&config.region))?;
    let choice = LaunchChoice::of(p.command, config)?;
    let r = p.resources();
    let Some(volume) = r.data_volume() else {
        return Err(PlanError::NoVolume { server: server.clone(), region: p.scope.region.clone() });
    };
    if let Some(holder) = r.attached_instance() {
        return Err(PlanError::InstanceAttached {
            server: server.clone(),
            instance: holder.id.clone(),
            volume: volume.id.clone(),
        });
    }
    if let Some(group) = r.group().filter(|g| g.desired > 0) {
        return Err(PlanError::GroupKeepsInstance { server: server.clone(), group: group.name.clone() });
    }
    let image = p.image(&choice.ami_type, choice.architecture)?;
    p.tag(server, config.tag_values());
    let (address, gate) = address_kept(p, server, config);
    let zone = volume.zone.clone();
    p.note(format!("The instance is launched in {zone}, the zone of data volume {}.", volume.id));
    let client_token = p.client_token(server, 0);
    let instance = p.push(
        server,
        Action::RunInstance {
            zone,
            instance_type: choice.instance_type,
            image: image.id.clone(),
            image_name: image.name.clone(),
            agent: Some(agent_spec(config, AgentMode::Spawn)),
            client_token,
        },
        vec![gate],
        Some(Undo::TerminateInstance),
    );
    let attach = p.push(
        server,
        Action::AttachVolume {
            volume: Ref::Existing(volume.id.clone()),
            instance: Ref::Output(instance),
            device: DATA_DEVICE.to_string(),
        },
        vec![],
        None,
    );
    let associate = p.push(server, Action::AssociateAddress { address, instance: Ref::Output(instance) }, vec![], None);
    wait_healthy(p, server, Some(Ref::Output(instance)), None, vec![Some(attach), Some(associate)]);
    p.note(format!(
        "No auto scaling group: nothing replaces this instance if it stops. Terminate it when you are done, or start-auto-scaling@{server} to keep it running. If the zone has no capacity for it, the launch fails and nothing is left behind."
    ));
    Ok(())
}
