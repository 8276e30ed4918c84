//! `create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]`

use super::address::address_by_dns;
use super::launch::{check_architecture, create_launch, launch_attached, Attached, HandLaunch};
use super::{configured, pick, wait_healthy, PlanError, Planner, Planning};
use crate::command::{Arg, ArgKind, Command, CommandSpec};
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "create-server",
    args: &[
        Arg::needed(ArgKind::EbsSizeGb),
        Arg::optional(ArgKind::InstanceType),
        Arg::optional(ArgKind::AmiType),
        Arg::optional(ArgKind::Region),
        Arg::optional(ArgKind::ZoneLetter),
    ],
    flags: &[],
    help: "a new server: data volume, Elastic IP (behind a DNS gate if new), instance, launch template and auto scaling group of one",
    planner: Planner::Server { scope, plan },
};

fn scope(command: &Command, config: &ServerConfig, scope: &mut Scope) {
    if let Some((region, _)) = command.region() {
        scope.region = region;
    }
    scope.dns_name = config.dns_name.as_ref().map(|d| d.value.clone());
    scope.image = Some((pick(command.ami_type(), &config.ami_type).0, config.architecture.value));
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let size_gb = match (p.command.ebs_size_gb(), &config.ebs_size_gb) {
        (Some((size, _)), _) => size,
        (None, Some(sourced)) => sourced.value,
        (None, None) => {
            return Err(PlanError::MissingEbsSize { server: server.clone(), file: config.file.display().to_string() })
        }
    };
    let region_origin = p.command.region().map(|r| r.1).unwrap_or_else(|| configured(&config.region));
    let zone = p.zone(pick(p.command.zone_letter(), &config.zone), region_origin)?;
    let instance_type = pick(p.command.instance_type(), &config.instance_type);
    check_architecture(&instance_type, config.architecture.value)?;
    let instance_type = instance_type.0;
    refuse_existing(p, server)?;
    let image = p.image(&pick(p.command.ami_type(), &config.ami_type).0, config.architecture.value)?;
    p.tag(server, config.tag_values());

    let (address, gate) = address_by_dns(p, server, config);
    let volume =
        p.push(server, Action::CreateVolume { zone: zone.clone(), size_gb }, vec![gate], Some(Undo::DeleteVolume));
    let launch =
        HandLaunch { zone: zone.clone(), instance_type: instance_type.clone(), image, mode: AgentMode::Persist };
    let Attached { instance, attach, associate } =
        launch_attached(p, config, launch, gate, Ref::Output(volume), address.clone());
    let healthy_after = if config.auto_scale_capacity.value >= 1 {
        vec![Some(auto_scaling(
            p,
            config,
            &instance_type,
            image,
            &zone,
            gate,
            vec![Some(attach), Some(associate)],
            instance,
        ))]
    } else {
        p.note(format!(
            "auto_scale_capacity is 0 ({}): no launch template or auto scaling group; start-auto-scaling adds them later.",
            config.auto_scale_capacity.source
        ));
        vec![Some(attach), Some(associate)]
    };
    wait_healthy(p, server, Some(Ref::Output(instance)), None, healthy_after);
    p.note(format!(
        "If the instance cannot launch (for example InsufficientInstanceCapacity in {zone}), everything this apply created is removed again, the new volume{} included.",
        if address.step().is_some() { " and Elastic IP" } else { "" }
    ));
    Ok(())
}

/// Launch settings, a group of one (desired 0) once the instance is attached and
/// associated, and the instance adopted into it. Returns the adoption step.
#[allow(clippy::too_many_arguments)]
fn auto_scaling(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    instance_type: &InstanceType,
    image: &Image,
    zone: &Zone,
    gate: Option<StepId>,
    ready: Vec<Option<StepId>>,
    instance: StepId,
) -> StepId {
    let server = &config.name;
    let launch = create_launch(p, config, instance_type, image, vec![gate]);
    let group_name = AutoScalingGroupName::new(server.as_str());
    let group = p.push(
        server,
        Action::CreateAutoScalingGroup {
            name: group_name.clone(),
            launch: Ref::Output(launch),
            zone: zone.clone(),
            desired: 0,
        },
        ready,
        Some(Undo::DeleteAutoScalingGroup),
    );
    p.push(
        server,
        Action::AdoptInstance { group: group_name, instance: Ref::Output(instance) },
        vec![Some(group)],
        None,
    )
}

/// A server that already has resources (other than an address) is not created again.
fn refuse_existing(p: &Planning<'_>, server: &ServerName) -> Result<(), PlanError> {
    let r = p.resources();
    let mut existing: Vec<String> = Vec::new();
    existing.extend(r.live_instances().map(|i| format!("instance {} ({})", i.id, i.state)));
    existing.extend(r.volumes.iter().map(|v| format!("volume {}", v.id)));
    existing.extend(r.launch_templates.iter().map(|t| format!("launch template {}", t.id)));
    existing.extend(r.launch_configurations.iter().map(|c| format!("launch configuration {}", c.name)));
    existing.extend(r.groups.iter().map(|g| format!("auto scaling group {}", g.name)));
    if existing.is_empty() {
        return Ok(());
    }
    Err(PlanError::ServerExists {
        server: server.clone(),
        region: p.scope.region.clone(),
        resources: existing.join(", "),
    })
}
