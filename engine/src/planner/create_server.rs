//! `create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]`

use super::address::address_by_dns;
use super::launch::{check_architecture, create_launch, launch_attached, Attached, HandLaunch};
use super::network::{self, Resolved};
use super::volumes;
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
    scope.network = Some(config.launch_settings.network_scope());
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let first_size = config.volumes.value.first().and_then(|v| v.size_gb.as_ref());
    let (size_gb, size_origin) = match (p.command.ebs_size_gb(), first_size) {
        (Some(size), _) => size,
        // The first volume's `size_gb`, else `ebs_size_gb` (see config/volumes.rs).
        (None, Some(sourced)) => (sourced.value, configured(sourced)),
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
    let Resolved { subnet, settings, .. } = network::resolve(p, &config.launch_settings, image, Some(&zone), true)?;
    p.tag_configured(config);

    let (address, gate) = address_by_dns(p, server, config);
    let volumes = volumes::create_all(p, config, &zone, (size_gb, size_origin), gate)?;
    let launch = HandLaunch {
        zone: zone.clone(),
        subnet: subnet.clone(),
        settings: settings.clone(),
        instance_type: instance_type.clone(),
        image,
        mode: AgentMode::Persist,
    };
    let Attached { instance, attach, associate } = launch_attached(p, config, launch, gate, volumes, address.clone());
    let mut ready: Vec<Option<StepId>> = attach.into_iter().map(Some).collect();
    ready.push(Some(associate));
    let healthy_after = if config.auto_scale_capacity.value >= 1 {
        let group = Group { zone: &zone, subnet, settings: &settings, gate, ready };
        vec![Some(auto_scaling(p, config, (&instance_type, image), group, instance))]
    } else {
        p.note(format!(
            "auto_scale_capacity is 0 ({}): no launch template or auto scaling group; start-auto-scaling adds them later.",
            config.auto_scale_capacity.source
        ));
        ready
    };
    wait_healthy(p, server, Some(Ref::Output(instance)), None, healthy_after);
    p.note(format!(
        "If the instance cannot launch (for example InsufficientInstanceCapacity in {zone}), everything this apply created is removed again, the new volume{}{} included.",
        if config.volumes.value.len() > 1 { "s" } else { "" },
        if address.step().is_some() { " and Elastic IP" } else { "" }
    ));
    Ok(())
}

/// Where the group goes and what it waits for.
struct Group<'a> {
    zone: &'a Zone,
    subnet: Option<SubnetId>,
    settings: &'a LaunchSettings,
    /// The DNS gate, if any.
    gate: Option<StepId>,
    /// The group is created once these are done (the instance attached and associated).
    ready: Vec<Option<StepId>>,
}

/// Launch settings, a group of one (desired 0) once the instance is attached and
/// associated, and the instance adopted into it. Returns the adoption step.
fn auto_scaling(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    (instance_type, image): (&InstanceType, &Image),
    g: Group<'_>,
    instance: StepId,
) -> StepId {
    let server = &config.name;
    let launch = create_launch(p, config, (instance_type, image), g.settings, vec![g.gate]);
    let group_name = AutoScalingGroupName::new(server.as_str());
    let group = p.push(
        server,
        Action::CreateAutoScalingGroup {
            name: group_name.clone(),
            launch: Ref::Output(launch),
            zone: g.zone.clone(),
            subnet: g.subnet,
            desired: 0,
        },
        g.ready,
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
