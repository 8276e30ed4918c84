//! `upgrade-ami@NAME [--restart]`

use super::launch::{agent_spec, configured_launch_scope, current_launch, relaunch, restart, NewLaunch};
use super::network;
use super::{configured, PlanError, Planner, Planning};
use crate::command::{CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::LaunchedAs;

pub const SPEC: CommandSpec = CommandSpec {
    name: "upgrade-ami",
    args: &[],
    flags: &[Flag::Restart],
    help:
        "the group launches the newest image of the server's type and architecture; --restart replaces the instance now",
    planner: Planner::Server { scope: configured_launch_scope, plan },
};

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    p.zones(configured(&config.region))?;
    let r = p.resources();
    let group = match r.group() {
        Some(g) if g.desired > 0 => g,
        other => {
            return Err(PlanError::NotAutoScaling { server: server.clone(), group: other.map(|g| g.name.clone()) })
        }
    };
    if config.volumes.value.len() > 1 {
        // The new launch settings' agent mounts every configured volume: each must exist.
        super::volumes::existing(p, config)?;
    }
    let current = current_launch(p, server, group)?;
    let image = p.image(&config.ami_type.value, config.architecture.value)?;
    p.tag_configured(config);
    if current.image == image.id {
        p.note(format!(
            "{server} already launches from {} ({}), the newest {} image for {} in {}.",
            image.name, image.id, config.ami_type.value, config.architecture.value, p.scope.region
        ));
        // The instance may still run an older image (an upgrade without --restart, or a
        // replacement the group launched from the settings before): --restart replaces it.
        if p.resources().current_instance().is_some_and(|i| i.image != image.id) {
            let launched_as = LaunchedAs { instance_type: current.instance_type.clone(), image: image.id.clone() };
            restart(p, server, None, launched_as);
        }
        return Ok(());
    }
    let instance_type = current.instance_type.clone();
    let agent = agent_spec(config, AgentMode::Spawn);
    let settings = network::resolve(p, &config.launch_settings, image, None, true)?.settings;
    let launched_as = LaunchedAs { instance_type: instance_type.clone(), image: image.id.clone() };
    let update = relaunch(p, server, group, NewLaunch { instance_type, image, agent, settings });
    p.note(format!(
        "The group launches {} ({}) from now on; it launched {} before.",
        image.name, image.id, current.image
    ));
    restart(p, server, Some(update), launched_as);
    Ok(())
}
