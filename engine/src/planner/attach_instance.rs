//! `attach-instance@NAME [type] [ami-type] [arch]`

use super::address::address_kept;
use super::launch::{launch_attached, launch_scope, Attached, HandLaunch, LaunchChoice, LAUNCH_ARGS};
use super::network::{self, Resolved};
use super::volumes;
use super::{configured, wait_healthy, PlanError, Planner, Planning};
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
    let volumes = volumes::existing(p, config)?;
    let volume = volumes[0].0;
    for (v, _) in &volumes {
        if let Some(holder) = v.attached_to.as_ref().and_then(|h| r.live_instances().find(|i| i.id == *h)) {
            return Err(PlanError::InstanceAttached {
                server: server.clone(),
                instance: holder.id.clone(),
                volume: v.id.clone(),
            });
        }
    }
    if let Some(group) = r.group().filter(|g| g.desired > 0) {
        return Err(PlanError::GroupKeepsInstance { server: server.clone(), group: group.name.clone() });
    }
    let image = p.image(&choice.ami_type, choice.architecture)?;
    let zone = volume.zone.clone();
    let Resolved { subnet, settings, .. } = network::resolve(p, &config.launch_settings, image, Some(&zone), true)?;
    p.tag_configured(config);
    let (address, gate) = address_kept(p, server, config);
    p.note(format!("The instance is launched in {zone}, the zone of data volume {}.", volume.id));
    let launch =
        HandLaunch { zone, subnet, settings, instance_type: choice.instance_type, image, mode: AgentMode::Spawn };
    let Attached { instance, attach, associate } = launch_attached(
        p,
        config,
        launch,
        gate,
        volumes.iter().map(|(v, d)| (Ref::Existing(v.id.clone()), d.clone())).collect(),
        address,
    );
    let mut after: Vec<Option<StepId>> = attach.into_iter().map(Some).collect();
    after.push(Some(associate));
    wait_healthy(p, server, Some(Ref::Output(instance)), None, after);
    p.note(format!(
        "No auto scaling group: nothing replaces this instance if it stops. Terminate it when you are done, or start-auto-scaling@{server} to keep it running. If the zone has no capacity for it, the launch fails and nothing is left behind."
    ));
    Ok(())
}
