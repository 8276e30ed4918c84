//! `start-auto-scaling@NAME [type] [ami-type] [arch]`

use super::address::address_kept;
use super::launch::{agent_spec, create_launch, launch_scope, LaunchChoice, LAUNCH_ARGS};
use super::network::{self, Resolved};
use super::{configured, wait_healthy, PlanError, Planner, Planning};
use crate::command::CommandSpec;
use crate::config::{LaunchKind, ServerConfig};
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "start-auto-scaling",
    args: LAUNCH_ARGS,
    flags: &[],
    help: "launch settings and an auto scaling group of one in the data volume's zone; a running attached instance is adopted",
    planner: Planner::Server { scope: launch_scope, plan },
};

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    p.zones(configured(&config.region))?;
    let choice = LaunchChoice::of(p.command, config)?;
    let r = p.resources();
    if let Some(group) = r.group().filter(|g| g.desired > 0) {
        return Err(PlanError::AlreadyAutoScaling {
            server: server.clone(),
            group: group.name.clone(),
            desired: group.desired,
        });
    }
    // Every configured volume must exist (the agent mounts them all); the first places the group.
    let volume = super::volumes::existing(p, config)?[0].0;
    let image = p.image(&choice.ami_type, choice.architecture)?;
    let Resolved { subnet, settings, .. } =
        network::resolve(p, &config.launch_settings, image, Some(&volume.zone), true)?;
    p.tag_configured(config);
    if config.auto_scale_capacity.value == 0 {
        p.note(format!(
            "auto_scale_capacity is 0 ({}), but start-auto-scaling enables auto scaling regardless.",
            config.auto_scale_capacity.source
        ));
    }
    let (address, gate) = address_kept(p, server, config);
    let launch = launch_settings(p, config, (&choice, image), &settings, gate);
    let adopt_instance = r.attached_instance().filter(|i| i.state == InstanceState::Running);
    let desired = if adopt_instance.is_some() { 0 } else { 1 };
    let (group_name, group_step) = group(p, server, launch, (&volume.zone, subnet), desired);
    match adopt_instance {
        Some(instance) => {
            p.note(format!(
                "Instance {} already runs with the data volume attached: the group adopts it instead of launching another.",
                instance.id
            ));
            let already = r.addresses.iter().any(|a| {
                a.associated_to.as_ref() == Some(&instance.id) && address == Ref::Existing(a.allocation_id.clone())
            });
            let associate = (!already).then(|| {
                p.push(
                    server,
                    Action::AssociateAddress { address, instance: Ref::Existing(instance.id.clone()) },
                    vec![gate],
                    None,
                )
            });
            let adopt = p.push(
                server,
                Action::AdoptInstance { group: group_name, instance: Ref::Existing(instance.id.clone()) },
                vec![Some(group_step), associate],
                None,
            );
            wait_healthy(p, server, Some(Ref::Existing(instance.id.clone())), None, vec![Some(adopt)]);
        }
        None => {
            p.note(format!(
                "No instance runs: the group launches one in {} (the zone of data volume {}), and its agent attaches the volume and associates the address.",
                volume.zone, volume.id
            ));
            wait_healthy(p, server, None, None, vec![Some(group_step)]);
        }
    }
    Ok(())
}

/// The launch settings the group launches from: a new version of a kept group's
/// template (the group then launches the template's `$Latest`), else new settings (after
/// deleting a leftover template named after the server, which would clash with the new
/// one). Returns the step that makes them and what the group is given.
fn launch_settings(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    (choice, image): (&LaunchChoice, &Image),
    settings: &LaunchSettings,
    gate: Option<StepId>,
) -> (StepId, Ref<LaunchSource>) {
    let server = &config.name;
    let r = p.resources();
    let kept_template = r.group().and_then(|g| match &g.launch {
        LaunchSource::Template { id, .. } if r.launch_templates.iter().any(|t| t.id == *id) => Some(id.clone()),
        _ => None,
    });
    match (kept_template, config.launch.value) {
        (Some(template), LaunchKind::Template) => {
            let step = p.push(
                server,
                Action::CreateLaunchTemplateVersion {
                    template: template.clone(),
                    instance_type: choice.instance_type.clone(),
                    image: image.id.clone(),
                    image_name: image.name.clone(),
                    agent: agent_spec(config, AgentMode::Spawn),
                    settings: settings.clone(),
                },
                vec![gate],
                None,
            );
            (step, Ref::Existing(LaunchSource::Template { id: template, version: None }))
        }
        (kept_template, kind) => {
            let mut after = vec![gate];
            if kind == LaunchKind::Template {
                for t in r.launch_templates.iter().filter(|t| Some(&t.id) != kept_template.as_ref()) {
                    after.push(Some(p.push(
                        server,
                        Action::DeleteLaunchTemplate { template: t.id.clone() },
                        vec![gate],
                        None,
                    )));
                }
            }
            let step = create_launch(p, config, (&choice.instance_type, image), settings, after);
            (step, Ref::Output(step))
        }
    }
}

/// The kept group pointed at the new launch settings, or a new group of one in the data
/// volume's zone; a kept group's old launch configuration is deleted after.
fn group(
    p: &mut Planning<'_>,
    server: &ServerName,
    (made, launch): (StepId, Ref<LaunchSource>),
    (zone, subnet): (&Zone, Option<SubnetId>),
    desired: u32,
) -> (AutoScalingGroupName, StepId) {
    let kept = p.resources().group();
    let name = kept.map(|g| g.name.clone()).unwrap_or_else(|| AutoScalingGroupName::new(server.as_str()));
    let step = match kept {
        Some(_) => p.push(
            server,
            Action::UpdateAutoScalingGroup {
                placement: None,
                group: name.clone(),
                launch: Some(launch),
                min: Some(desired),
                desired: Some(desired),
            },
            vec![Some(made)],
            None,
        ),
        None => p.push(
            server,
            Action::CreateAutoScalingGroup { name: name.clone(), launch, zone: zone.clone(), subnet, desired },
            vec![Some(made)],
            Some(Undo::DeleteAutoScalingGroup),
        ),
    };
    if let Some(LaunchSource::Configuration { name: old }) = kept.map(|g| &g.launch) {
        p.push(server, Action::DeleteLaunchConfiguration { name: old.clone() }, vec![Some(step)], None);
    }
    (name, step)
}
