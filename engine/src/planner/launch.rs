//! Launch settings: what a server's instances launch with (instance type, image, agent),
//! as launch templates or launch configurations for its auto scaling group.

use super::{pick, Origin, PlanError, Planning};
use crate::catalog;
use crate::command::{Arg, ArgKind, Command, Flag};
use crate::config::{LaunchKind, ServerConfig};
use crate::model::*;
use crate::plan::*;

/// What the agent of a launched instance is told to do.
/// The volumes part of an [`AgentSpec`] (`mode` and `spawn_hook` are the caller's).
fn agent_volumes(config: &ServerConfig) -> AgentSpec {
    let (persist, volumes) = crate::config::agent_volumes(&config.volumes.value);
    AgentSpec { mode: AgentMode::Spawn, persist, spawn_hook: None, volumes }
}

pub fn agent_spec(config: &ServerConfig, mode: AgentMode) -> AgentSpec {
    AgentSpec { mode, spawn_hook: config.spawn.as_ref().map(|h| h.value.clone()), ..agent_volumes(config) }
}

/// Refuses an instance type that cannot run images of `architecture`.
pub fn check_architecture(instance_type: &(InstanceType, Origin), architecture: Architecture) -> Result<(), PlanError> {
    if let Some(runs) = catalog::instance_type_architectures(instance_type.0.as_str()) {
        if !runs.contains(&architecture) {
            let runs: Vec<&str> = runs.iter().map(|a| a.as_str()).collect();
            return Err(PlanError::ArchitectureMismatch {
                instance_type: instance_type.0.clone(),
                origin: instance_type.1.clone(),
                architecture,
                runs: runs.join(", "),
            });
        }
    }
    Ok(())
}

/// The `[type] [ami-type] [arch]` arguments of attach-instance and start-auto-scaling.
pub const LAUNCH_ARGS: &[Arg] =
    &[Arg::optional(ArgKind::InstanceType), Arg::optional(ArgKind::AmiType), Arg::optional(ArgKind::Architecture)];

/// What attach-instance and start-auto-scaling read besides the server: its DNS record
/// and the newest image of the chosen type and architecture.
pub fn launch_scope(command: &Command, config: &ServerConfig, scope: &mut Scope) {
    scope.dns_name = config.dns_name.as_ref().map(|d| d.value.clone());
    scope.image = Some(LaunchChoice::image_of(command, config));
    scope.network = Some(config.launch_settings.network_scope());
}

/// What upgrade-ami and sync read besides the server: the newest image of its configured
/// type and architecture, and its network.
pub fn configured_launch_scope(_: &Command, config: &ServerConfig, scope: &mut Scope) {
    scope.image = Some((config.ami_type.value.clone(), config.architecture.value));
    scope.network = Some(config.launch_settings.network_scope());
}

/// The `[type] [ami-type] [arch]` choice of attach-instance and start-auto-scaling: the
/// command line over the configuration.
pub struct LaunchChoice {
    pub instance_type: InstanceType,
    pub ami_type: AmiType,
    pub architecture: Architecture,
}

impl LaunchChoice {
    /// The AMI type and architecture (what the scope reads images for); infallible.
    pub fn image_of(command: &Command, config: &ServerConfig) -> (AmiType, Architecture) {
        (pick(command.ami_type(), &config.ami_type).0, pick(command.architecture(), &config.architecture).0)
    }

    pub fn of(command: &Command, config: &ServerConfig) -> Result<LaunchChoice, PlanError> {
        let instance_type = pick(command.instance_type(), &config.instance_type);
        let (ami_type, architecture) = Self::image_of(command, config);
        check_architecture(&instance_type, architecture)?;
        Ok(LaunchChoice { instance_type: instance_type.0, ami_type, architecture })
    }
}

/// A new launch template (or, with `launch: Configuration`, launch configuration) for the
/// server's group, with agent `spawn` user data and the resolved launch settings.
pub fn create_launch(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    (instance_type, image): (&InstanceType, &Image),
    settings: &LaunchSettings,
    after: Vec<Option<StepId>>,
) -> StepId {
    let server = &config.name;
    let agent = agent_spec(config, AgentMode::Spawn);
    let (image, image_name, instance_type) = (image.id.clone(), image.name.clone(), instance_type.clone());
    let settings = settings.clone();
    match config.launch.value {
        LaunchKind::Template => p.push(
            server,
            Action::CreateLaunchTemplate {
                name: server.to_string(),
                instance_type,
                image,
                image_name,
                agent,
                settings,
            },
            after,
            Some(Undo::DeleteLaunchTemplate),
        ),
        LaunchKind::Configuration => {
            let name = next_launch_configuration_name(p, server);
            p.note(format!(
                "The group launches from launch configuration {name} (launch: Configuration in {}); AWS accounts created on or after 2024-10-01 cannot create launch configurations.",
                config.launch.source
            ));
            p.push(
                server,
                Action::CreateLaunchConfiguration { name, instance_type, image, image_name, agent, settings },
                after,
                Some(Undo::DeleteLaunchConfiguration),
            )
        }
    }
}

/// `<server>-v<n>`, one past the highest existing n.
pub fn next_launch_configuration_name(p: &Planning<'_>, server: &ServerName) -> String {
    let prefix = format!("{server}-v");
    let n = p
        .resources()
        .launch_configurations
        .iter()
        .filter_map(|c| c.name.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", n + 1)
}

/// Deletes every launch template and launch configuration of the server, after `after`.
pub fn delete_launch_settings(p: &mut Planning<'_>, server: &ServerName, after: Option<StepId>) {
    let r = p.resources();
    for t in &r.launch_templates {
        p.push(server, Action::DeleteLaunchTemplate { template: t.id.clone() }, vec![after], None);
    }
    for c in &r.launch_configurations {
        p.push(server, Action::DeleteLaunchConfiguration { name: c.name.clone() }, vec![after], None);
    }
}

/// An instance launched by hand (not by a group) for the server.
pub struct HandLaunch<'a> {
    pub zone: Zone,
    pub subnet: Option<SubnetId>,
    pub settings: LaunchSettings,
    pub instance_type: InstanceType,
    pub image: &'a Image,
    /// `persist` on the server's first boot, `spawn` after.
    pub mode: AgentMode,
}

/// The steps of [`launch_attached`]: the instance, the attach and the associate.
pub struct Attached {
    pub instance: StepId,
    /// One attach per data volume.
    pub attach: Vec<StepId>,
    pub associate: StepId,
}

/// Launches an instance after `gate`, attaches each of `volumes` (at its device) to it and associates `address`
/// with it (each once it runs); an instance that cannot launch is terminated again.
pub fn launch_attached(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    launch: HandLaunch<'_>,
    gate: Option<StepId>,
    volumes: Vec<(Ref<VolumeId>, String)>,
    address: Ref<AllocationId>,
) -> Attached {
    let server = &config.name;
    let client_token = p.client_token(server, 0);
    let instance = p.push(
        server,
        Action::RunInstance {
            zone: launch.zone,
            subnet: launch.subnet,
            instance_type: launch.instance_type,
            image: launch.image.id.clone(),
            image_name: launch.image.name.clone(),
            agent: Some(agent_spec(config, launch.mode)),
            settings: launch.settings,
            client_token,
        },
        vec![gate],
        Some(Undo::TerminateInstance),
    );
    let attach = volumes
        .into_iter()
        .map(|(volume, device)| {
            p.push(server, Action::AttachVolume { volume, instance: Ref::Output(instance), device }, vec![], None)
        })
        .collect();
    let associate = p.push(server, Action::AssociateAddress { address, instance: Ref::Output(instance) }, vec![], None);
    Attached { instance, attach, associate }
}

/// Launch settings a group is to launch from (a new version of its template, or a new
/// launch configuration).
pub struct NewLaunch<'a> {
    pub instance_type: InstanceType,
    pub image: &'a Image,
    pub agent: AgentSpec,
    pub settings: LaunchSettings,
}

/// Makes the group launch from `new`: a new version of its launch template, or a new
/// launch configuration (the old one deleted after the switch); returns the step after
/// which the group launches `new`.
///
/// A group on its template's `$Latest` (as cellar makes them) launches the new version as
/// soon as AWS sees it: no group update, so a fleet's rolling change costs Auto Scaling
/// nothing for its template servers. A group pinned to a version number is moved to
/// `$Latest` in the same step that would have pinned the new one.
pub fn relaunch(p: &mut Planning<'_>, server: &ServerName, group: &AutoScalingGroup, new: NewLaunch<'_>) -> StepId {
    let NewLaunch { instance_type, image, agent, settings } = new;
    let (image, image_name) = (image.id.clone(), image.name.clone());
    match &group.launch {
        LaunchSource::Template { id, version } => {
            let template = id.clone();
            let action =
                Action::CreateLaunchTemplateVersion { template, instance_type, image, image_name, agent, settings };
            let created = p.push(server, action, vec![], None);
            if version.is_none() {
                return created;
            }
            let latest = LaunchSource::Template { id: id.clone(), version: None };
            update_launch(p, server, group, Ref::Existing(latest), Some(created))
        }
        LaunchSource::Configuration { name: old } => {
            let name = next_launch_configuration_name(p, server);
            let action = Action::CreateLaunchConfiguration { name, instance_type, image, image_name, agent, settings };
            let created = p.push(server, action, vec![], Some(Undo::DeleteLaunchConfiguration));
            let update = update_launch(p, server, group, Ref::Output(created), None);
            p.push(server, Action::DeleteLaunchConfiguration { name: old.clone() }, vec![Some(update)], None);
            update
        }
    }
}

/// The group pointed at `launch` (after `after`, if given).
fn update_launch(
    p: &mut Planning<'_>,
    server: &ServerName,
    group: &AutoScalingGroup,
    launch: Ref<LaunchSource>,
    after: Option<StepId>,
) -> StepId {
    let action = Action::UpdateAutoScalingGroup {
        placement: None,
        group: group.name.clone(),
        launch: Some(launch),
        min: None,
        desired: None,
    };
    p.push(server, action, vec![after], None)
}

/// What the group launches now (its template's latest version, or its launch configuration).
pub fn current_launch<'a>(
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

/// With --restart, the current instance is terminated after `update` (the step after which
/// the group launches the new settings) and the group replaces it with one `launched_as`
/// what the group now launches (the wait refuses a replacement launched from the settings
/// before, the old instance gone early); with no instance, the apply waits for the group's
/// own launch; without --restart, a note says the upgrade completes at the next replacement.
pub fn restart(p: &mut Planning<'_>, server: &ServerName, update: Option<StepId>, launched_as: LaunchedAs) {
    match (p.command.has(Flag::Restart), p.resources().current_instance()) {
        (true, Some(old)) => {
            let terminate = p.push(server, Action::TerminateInstance { instance: old.id.clone() }, vec![update], None);
            let wait =
                Action::WaitHealthy { instance: None, replacing: Some(old.id.clone()), launched_as: Some(launched_as) };
            p.push(server, wait, vec![Some(terminate)], None);
            p.note(format!(
                "--restart: instance {} is terminated now; the group replaces it from the new image and the agent re-attaches the data volume and the address.",
                old.id
            ));
        }
        (false, Some(old)) => p.note(format!(
            "The upgrade is not complete until instance {} is terminated (pass --restart to replace it now).",
            old.id
        )),
        (true, None) => {
            // The group launches one of its own: --restart still ends with the server
            // healthy on what the group now launches (one launched before the update, the
            // race this wait is for, fails the step).
            let wait = Action::WaitHealthy { instance: None, replacing: None, launched_as: Some(launched_as) };
            p.push(server, wait, vec![update], None);
            p.note("No instance runs now; the group's next launch uses the new image, and --restart waits for it to be healthy.");
        }
        (false, None) => p.note("No instance runs now; the group's next launch uses the new image."),
    }
}
