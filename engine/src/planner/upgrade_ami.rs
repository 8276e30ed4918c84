//! `upgrade-ami@NAME [--restart]`

use super::launch::{agent_spec, next_launch_configuration_name};
use super::network;
use super::{configured, wait_healthy, PlanError, Planner, Planning};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "upgrade-ami",
    args: &[],
    flags: &[Flag::Restart],
    help:
        "the group launches the newest image of the server's type and architecture; --restart replaces the instance now",
    planner: Planner::Server { scope, plan },
};

fn scope(_: &Command, config: &ServerConfig, scope: &mut Scope) {
    scope.image = Some((config.ami_type.value.clone(), config.architecture.value));
    scope.network = Some(config.launch_settings.network_scope());
}

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
    p.tag(server, config.tag_values());
    if current.image == image.id {
        p.note(format!(
            "{server} already launches from {} ({}), the newest {} image for {} in {}.",
            image.name, image.id, config.ami_type.value, config.architecture.value, p.scope.region
        ));
        return Ok(());
    }
    let instance_type = current.instance_type.clone();
    let agent = agent_spec(config, AgentMode::Spawn);
    let settings = network::resolve(p, &config.launch_settings, image, None, true)?.settings;
    let new_launch = match &group.launch {
        LaunchSource::Template { id, .. } => p.push(
            server,
            Action::CreateLaunchTemplateVersion {
                template: id.clone(),
                instance_type,
                image: image.id.clone(),
                image_name: image.name.clone(),
                agent,
                settings,
            },
            vec![],
            None,
        ),
        LaunchSource::Configuration { .. } => {
            let name = next_launch_configuration_name(p, server);
            p.push(
                server,
                Action::CreateLaunchConfiguration {
                    name,
                    instance_type,
                    image: image.id.clone(),
                    image_name: image.name.clone(),
                    agent,
                    settings,
                },
                vec![],
                Some(Undo::DeleteLaunchConfiguration),
            )
        }
    };
    let update = p.push(
        server,
        Action::UpdateAutoScalingGroup {
            group: group.name.clone(),
            launch: Some(Ref::Output(new_launch)),
            min: None,
            desired: None,
        },
        vec![],
        None,
    );
    if let LaunchSource::Configuration { name } = &group.launch {
        p.push(server, Action::DeleteLaunchConfiguration { name: name.clone() }, vec![Some(update)], None);
    }
    p.note(format!(
        "The group launches {} ({}) from now on; it launched {} before.",
        image.name, image.id, current.image
    ));
    restart(p, server, update);
    Ok(())
}

/// What the group launches now (its template's latest version, or its launch configuration).
fn current_launch<'a>(
    p: &Planning<'a>,
    server: &ServerName,
    group: &AutoScalingGroup,
) -> Result<&'a LaunchSpec, PlanError> {
    let r = p.resources();
    let spec = match &group.launch {
        LaunchSource::Template { id, .. } => r.launch_templates.iter().find(|t| t.id == *id).map(|t| &t.latest),
        LaunchSource::Configuration { name } => {
            r.launch_configurations.iter().find(|c| c.name == *name).map(|c| &c.spec)
        }
    };
    spec.ok_or_else(|| PlanError::MissingLaunchSettings {
        server: server.clone(),
        group: group.name.clone(),
        launch: group.launch.clone(),
    })
}

/// With --restart, the current instance is terminated after the group update and the
/// group replaces it; without, a note says the upgrade completes at the next replacement.
fn restart(p: &mut Planning<'_>, server: &ServerName, update: StepId) {
    match (p.command.has(Flag::Restart), p.resources().current_instance()) {
        (true, Some(old)) => {
            let terminate =
                p.push(server, Action::TerminateInstance { instance: old.id.clone() }, vec![Some(update)], None);
            wait_healthy(p, server, None, Some(old.id.clone()), vec![Some(terminate)]);
            p.note(format!(
                "--restart: instance {} is terminated now; the group replaces it from the new image and the agent re-attaches the data volume and the address.",
                old.id
            ));
        }
        (false, Some(old)) => p.note(format!(
            "The upgrade is not complete until instance {} is terminated (pass --restart to replace it now).",
            old.id
        )),
        (_, None) => p.note("No instance runs now; the group's next launch uses the new image."),
    }
}
