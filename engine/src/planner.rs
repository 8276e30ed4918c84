//! The pure planner: `(command, configuration, inventory) → Plan`.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan, byte for byte.
//! [`scope`] says what to read for a command ([`crate::inventory::read`] does the reading);
//! [`plan`] decides. Refusals are [`PlanError`] values that name the value, where it came
//! from (command line or config file:line) and the fix. A command with nothing to do
//! gives an empty plan with a note saying why.

use crate::agent::DATA_DEVICE;
use crate::catalog;
use crate::command::{Command, CreateServer, LaunchArgs};
use crate::config::{ConfigErrors, ConfigTree, LaunchKind, ServerConfig, Source, Sourced};
use crate::inventory::{workspace_number, Inventory, ServerResources};
use crate::model::*;
use crate::plan::*;
use std::collections::BTreeMap;
use std::fmt;

/// Where an effective setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    CommandLine(usize),
    Config(Source),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine(position) => write!(f, "command-line argument {position}"),
            Origin::Config(source) => write!(f, "{source}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("create-server@{server} needs an EBS size: give it as the first argument (e.g. `create-server@{server} 20`) or set ebs_size_gb in {file}")]
    MissingEbsSize { server: ServerName, file: String },
    #[error("region {region} (from {origin}) is not offered by this backend; regions: {known}")]
    UnknownRegion { region: Region, origin: Origin, known: String },
    #[error("zone {zone} (from {origin}) does not exist in {region}; zones: {known}")]
    UnknownZone { zone: Zone, origin: Origin, region: Region, known: String },
    #[error("server {server} already exists in {region}: {resources}\n  fix: pick a new name, or retire it first (destroy-server@{server})")]
    ServerExists { server: ServerName, region: Region, resources: String },
    #[error("no image named {ami_type}-YYYY-MM-DD for {architecture} in {region}{}\n  fix: bundle one (bundle-ami), or choose another AMI type or architecture", if available.is_empty() { String::new() } else { format!(" (images there: {available})") })]
    NoImage { ami_type: AmiType, architecture: Architecture, region: Region, available: String },
    #[error("instance type {instance_type} (from {origin}) cannot run {architecture} images; it runs {runs}")]
    ArchitectureMismatch { instance_type: InstanceType, origin: Origin, architecture: Architecture, runs: String },
    #[error("{server} has no auto scaling group in {region}, so there is no auto scaling to stop\n  fix: to bring it up use attach-instance@{server} or start-auto-scaling@{server}")]
    NoGroup { server: ServerName, region: Region },
    #[error("auto scaling of {server} is already stopped (group {group} is kept with desired 0)\n  fix: nothing to do; start-auto-scaling@{server} brings it back, stop-auto-scaling@{server} without --keep-group removes the group")]
    AlreadyStopped { server: ServerName, group: AutoScalingGroupName },
    #[error(
        "{server} has no data volume in {region}\n  fix: create the server first (create-server@{server} <ebs-gb>)"
    )]
    NoVolume { server: ServerName, region: Region },
    #[error("instance {instance} is already attached to volume {volume} of {server}\n  fix: terminate it first (or use it as it is)")]
    InstanceAttached { server: ServerName, instance: InstanceId, volume: VolumeId },
    #[error("{server} is auto-scaling: group {group} keeps its instance running, so an instance cannot be attached by hand\n  fix: stop-auto-scaling@{server} first")]
    GroupKeepsInstance { server: ServerName, group: AutoScalingGroupName },
    #[error("{server} is already auto-scaling (group {group}, desired {desired})\n  fix: nothing to do; upgrade-ami@{server} changes its image")]
    AlreadyAutoScaling { server: ServerName, group: AutoScalingGroupName, desired: u32 },
    #[error("{server} is not auto-scaling{}, and upgrade-ami changes the auto scaling group\n  fix: start-auto-scaling@{server} first, or terminate the instance and attach-instance@{server} (it takes the newest image)", group.as_ref().map(|g| format!(" (group {g} has desired 0)")).unwrap_or_else(|| " (it has no auto scaling group)".into()))]
    NotAutoScaling { server: ServerName, group: Option<AutoScalingGroupName> },
    #[error("the launch settings of group {group} ({launch}) no longer exist\n  fix: start-auto-scaling@{server} after stop-auto-scaling@{server}")]
    MissingLaunchSettings { server: ServerName, group: AutoScalingGroupName, launch: LaunchSource },
    #[error("{name} has no running instance in {region} to bundle{}\n  fix: create-workspace, then bundle-ami@workspace-N", if state.is_empty() { String::new() } else { format!(" ({state})") })]
    NothingToBundle { name: ServerName, region: Region, state: String },
    #[error("an image named {name} already exists in {region} ({image})\n  fix: bundle again tomorrow, or deregister that image first")]
    ImageNameTaken { name: String, region: Region, image: ImageId },
    #[error("cannot copy to {region}: {reason}")]
    BadCopyRegion { region: Region, reason: String },
    #[error("{server} has no resources in {region} (nothing is tagged Name={server})\n  fix: nothing to destroy")]
    NothingToDestroy { server: ServerName, region: Region },
}

/// The configuration a command plans with: a server's, or the global defaults.
enum Settings {
    Server(Box<ServerConfig>),
    Defaults(crate::config::Defaults),
}

fn settings(command: &Command, tree: &ConfigTree) -> Result<Settings, PlanError> {
    match command {
        Command::CreateWorkspace { .. } => Ok(Settings::Defaults(tree.defaults()?)),
        // A workspace has no server file: bundle it with the global defaults.
        Command::BundleAmi { workspace, .. } if !tree.server_names().contains(workspace) => {
            Ok(Settings::Defaults(tree.defaults()?))
        }
        other => {
            let server = other.server().expect("every other command names a server");
            Ok(Settings::Server(Box::new(tree.server(server)?)))
        }
    }
}

/// What must be read to plan `command`.
pub fn scope(command: &Command, tree: &ConfigTree) -> Result<Scope, PlanError> {
    let settings = settings(command, tree)?;
    Ok(scope_with(command, &settings))
}

fn scope_with(command: &Command, settings: &Settings) -> Scope {
    let (region, ami_type, architecture, dns_name) = match settings {
        Settings::Server(c) => (
            c.region.value.clone(),
            c.ami_type.value.clone(),
            c.architecture.value,
            c.dns_name.as_ref().map(|d| d.value.clone()),
        ),
        Settings::Defaults(d) => (d.region.value.clone(), d.ami_type.value.clone(), d.architecture.value, None),
    };
    let mut scope = Scope { server: command.server().cloned(), ..Scope::new(region) };
    match command {
        Command::CreateServer(c) => {
            scope.region = c.region.clone().unwrap_or(scope.region);
            scope.dns_name = dns_name;
            scope.image = Some((c.ami_type.clone().unwrap_or(ami_type), architecture));
        }
        Command::AttachInstance { launch, .. } | Command::StartAutoScaling { launch, .. } => {
            scope.dns_name = dns_name;
            scope.image =
                Some((launch.ami_type.clone().unwrap_or(ami_type), launch.architecture.unwrap_or(architecture)));
        }
        Command::UpgradeAmi { .. } => scope.image = Some((ami_type, architecture)),
        Command::CreateWorkspace { ami_type: t, architecture: a, region } => {
            scope.region = region.clone().unwrap_or(scope.region);
            scope.image = Some((t.clone().unwrap_or(ami_type), a.unwrap_or(architecture)));
            scope.workspaces = true;
        }
        Command::BundleAmi { ami_type: t, copy_to, .. } => {
            let mut regions = vec![scope.region.clone()];
            regions.extend(copy_to.iter().cloned());
            scope.image_family = Some((t.clone().unwrap_or(ami_type), regions));
        }
        Command::StopAutoScaling { .. } | Command::DestroyServer { .. } => {}
    }
    scope
}

/// Makes the plan. Pure.
pub fn plan(command: &Command, tree: &ConfigTree, inventory: &Inventory) -> Result<Plan, PlanError> {
    let settings = settings(command, tree)?;
    let scope = scope_with(command, &settings);
    let mut p = Planning { command, scope, inventory, b: Builder::default() };
    match (command, &settings) {
        (Command::CreateServer(c), Settings::Server(config)) => p.create_server(c, config)?,
        (Command::StopAutoScaling { server, keep_group }, Settings::Server(config)) => {
            p.stop_auto_scaling(server, *keep_group, config)?
        }
        (Command::AttachInstance { server, launch }, Settings::Server(config)) => {
            p.attach_instance(server, launch, config)?
        }
        (Command::StartAutoScaling { server, launch }, Settings::Server(config)) => {
            p.start_auto_scaling(server, launch, config)?
        }
        (Command::UpgradeAmi { server, restart }, Settings::Server(config)) => {
            p.upgrade_ami(server, *restart, config)?
        }
        (Command::CreateWorkspace { .. }, Settings::Defaults(defaults)) => p.create_workspace(defaults)?,
        (Command::BundleAmi { workspace, copy_to, .. }, settings) => {
            let tags = match settings {
                Settings::Server(c) => c.tag_values(),
                Settings::Defaults(d) => d.tag_values(),
            };
            p.bundle_ami(workspace, copy_to, tags)?
        }
        (Command::DestroyServer { server, delete_data }, Settings::Server(config)) => {
            p.destroy_server(server, *delete_data, config)?
        }
        _ => unreachable!("settings() returns the kind each command needs"),
    }
    Ok(p.finish())
}

/// A plan under construction: steps get ids in the order they are pushed.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    notes: Vec<String>,
    tags: BTreeMap<ServerName, Tags>,
}

impl Builder {
    fn push(&mut self, action: Action, after: Vec<Option<StepId>>, undo: Option<Undo>) -> StepId {
        let id = StepId(self.steps.len() as u32 + 1);
        let mut after: Vec<StepId> = after.into_iter().flatten().collect();
        after.extend(action.references());
        after.sort();
        after.dedup();
        self.steps.push(Step { id, action, after, undo });
        id
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

struct Planning<'a> {
    command: &'a Command,
    scope: Scope,
    inventory: &'a Inventory,
    b: Builder,
}

fn pick<T: Clone>(cli: &Option<T>, position: usize, sourced: &Sourced<T>) -> (T, Origin) {
    match cli {
        Some(v) => (v.clone(), Origin::CommandLine(position)),
        None => (sourced.value.clone(), Origin::Config(sourced.source.clone())),
    }
}

fn agent_spec(config: &ServerConfig, mode: AgentMode) -> AgentSpec {
    AgentSpec {
        mode,
        persist: config.persist.value.clone(),
        spawn_hook: config.spawn.as_ref().map(|h| h.value.clone()),
    }
}

impl<'a> Planning<'a> {
    fn resources(&self) -> &'a ServerResources {
        &self.inventory.resources
    }

    fn finish(self) -> Plan {
        Plan {
            format: PLAN_FORMAT_VERSION,
            command: self.command.to_string(),
            observed: self.inventory.observe(&self.scope),
            scope: self.scope,
            steps: self.b.steps,
            tags: self.b.tags,
            notes: self.b.notes,
        }
    }

    /// The zones of the scope's region, or the unknown-region refusal.
    fn zones(&self, origin: Origin) -> Result<&'a [Zone], PlanError> {
        let region = &self.scope.region;
        self.inventory.zones_of(region).ok_or_else(|| {
            let known: Vec<&str> = self.inventory.regions.iter().map(|r| r.region.as_str()).collect();
            PlanError::UnknownRegion { region: region.clone(), origin, known: known.join(", ") }
        })
    }

    fn zone(&self, letter: (char, Origin), region_origin: Origin) -> Result<Zone, PlanError> {
        let zones = self.zones(region_origin)?;
        let zone = Zone::in_region(&self.scope.region, letter.0);
        if !zones.contains(&zone) {
            let letters: Vec<String> = zones.iter().map(|z| z.letter().to_string()).collect();
            return Err(PlanError::UnknownZone {
                zone,
                origin: letter.1,
                region: self.scope.region.clone(),
                known: letters.join(", "),
            });
        }
        Ok(zone)
    }

    /// The newest available image the scope asks for.
    fn image(&self) -> Result<&'a Image, PlanError> {
        let (ami_type, architecture) = self.scope.image.clone().expect("scope asks for an image");
        self.inventory.newest_image(&ami_type, architecture).ok_or_else(|| {
            let available: Vec<&str> = self.inventory.images.iter().map(|i| i.name.as_str()).collect();
            PlanError::NoImage {
                ami_type,
                architecture,
                region: self.scope.region.clone(),
                available: available.join(", "),
            }
        })
    }

    fn client_token(&self, server: &ServerName, salt: u32) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(self.command.to_string().as_bytes());
        feed(ron::to_string(&self.inventory.observe(&self.scope)).unwrap_or_default().as_bytes());
        feed(&salt.to_le_bytes());
        let name: String = server.as_str().chars().take(40).collect();
        format!("cellar-{name}-{hash:016x}")
    }

    fn tag(&mut self, server: &ServerName, tags: Tags) {
        self.b.tags.insert(server.clone(), tags);
    }

    /// The Elastic IP a server's instance gets. An address already on the server's instance
    /// stays. create-server (`follow_dns`) follows the seed: the server's address that the
    /// DNS record points at; else one still waiting for its DNS record (behind a gate); else
    /// a new one (behind a gate when a DNS name is configured). attach-instance and
    /// start-auto-scaling keep the server's existing address whatever DNS says, and only
    /// allocate (as create-server does) when it has none. Returns the address and the gate
    /// everything else must wait for.
    fn address(
        &mut self,
        server: &ServerName,
        config: &ServerConfig,
        follow_dns: bool,
    ) -> (Ref<AllocationId>, Option<StepId>) {
        let r = self.resources();
        let dns = &self.inventory.dns;
        if let Some((a, i)) = r
            .addresses
            .iter()
            .find_map(|a| Some((a, r.live_instances().find(|i| Some(&i.id) == a.associated_to.as_ref())?)))
        {
            self.b.note(format!(
                "Elastic IP {} ({}) stays: it is associated with {server}'s instance {}.",
                a.public_ip, a.allocation_id, i.id
            ));
            return (Ref::Existing(a.allocation_id.clone()), None);
        }
        // Free: on no instance, or still shown on one of the server's instances that is
        // shutting down or terminated (AWS drops the association only once the instance is
        // gone; some endpoints keep it).
        let unassociated = |a: &&Address| {
            a.associated_to.as_ref().is_none_or(|id| r.instances.iter().any(|i| i.id == *id && !i.state.is_alive()))
        };
        if !follow_dns {
            if let Some(a) = r.addresses.iter().find(unassociated) {
                let mismatch = match &config.dns_name {
                    Some(host) if !dns.contains(&a.public_ip) => {
                        format!(" ({} points elsewhere: update the record if it should reach this server)", host.value)
                    }
                    _ => String::new(),
                };
                self.b
                    .note(format!("Elastic IP {} ({}) of {server} is reused{mismatch}.", a.public_ip, a.allocation_id));
                return (Ref::Existing(a.allocation_id.clone()), None);
            }
        }
        let Some(host) = config.dns_name.as_ref().map(|d| d.value.clone()) else {
            return match r.addresses.iter().find(unassociated) {
                Some(a) => {
                    self.b.note(format!(
                        "No dns_name is configured; the unassociated Elastic IP {} ({}) of {server} is reused.",
                        a.public_ip, a.allocation_id
                    ));
                    (Ref::Existing(a.allocation_id.clone()), None)
                }
                None => {
                    self.b.note("No dns_name is configured, so no DNS record is checked for the new Elastic IP.");
                    let id = self.b.push(
                        Action::AllocateAddress { server: server.clone(), awaiting_dns: None },
                        vec![],
                        Some(Undo::ReleaseAddress),
                    );
                    (Ref::Output(id), None)
                }
            };
        };
        if let Some(a) = r.addresses.iter().filter(unassociated).find(|a| dns.contains(&a.public_ip)) {
            self.b.note(format!(
                "Elastic IP {} ({}) is reused: {host} already points at it.",
                a.public_ip, a.allocation_id
            ));
            return (Ref::Existing(a.allocation_id.clone()), None);
        }
        for a in &r.addresses {
            if !a.tags.contains_key(AWAITING_DNS_TAG) {
                self.b.note(format!(
                    "Elastic IP {} ({}) of {server} does not match the DNS record of {host} and is left as it is.",
                    a.public_ip, a.allocation_id
                ));
            }
        }
        let record = if dns.is_empty() {
            format!("{host} has no A record")
        } else {
            format!("{host} points at {}", dns.join(", "))
        };
        let address = match r.addresses.iter().filter(unassociated).find(|a| a.tags.contains_key(AWAITING_DNS_TAG)) {
            Some(a) => {
                self.b.note(format!(
                    "Elastic IP {} ({}) allocated by an earlier apply is still waiting for its DNS record ({record}); it is reused.",
                    a.public_ip, a.allocation_id
                ));
                Ref::Existing(a.allocation_id.clone())
            }
            None => {
                self.b.note(format!("A new Elastic IP is allocated: {record}, which is not an address of {server}."));
                let id = self.b.push(
                    Action::AllocateAddress { server: server.clone(), awaiting_dns: Some(host.clone()) },
                    vec![],
                    Some(Undo::ReleaseAddress),
                );
                Ref::Output(id)
            }
        };
        let gate = self.b.push(
            Action::DnsGate { server: server.clone(), host: host.clone(), address: address.clone() },
            vec![],
            None,
        );
        self.b.note(format!(
            "Apply stops at {gate} until {host} points at the address: update the record, then confirm at the prompt or pass --dns-confirmed. Nothing else is created before that."
        ));
        (address, Some(gate))
    }

    /// A new launch template (or, with `launch: Configuration`, launch configuration) for
    /// the server's group, with agent `spawn` user data.
    fn create_launch(
        &mut self,
        server: &ServerName,
        config: &ServerConfig,
        instance_type: &InstanceType,
        image: &Image,
        after: Vec<Option<StepId>>,
    ) -> StepId {
        let agent = agent_spec(config, AgentMode::Spawn);
        let (image, image_name, instance_type) = (image.id.clone(), image.name.clone(), instance_type.clone());
        match config.launch.value {
            LaunchKind::Template => self.b.push(
                Action::CreateLaunchTemplate {
                    server: server.clone(),
                    name: server.to_string(),
                    instance_type,
                    image,
                    image_name,
                    agent,
                },
                after,
                Some(Undo::DeleteLaunchTemplate),
            ),
            LaunchKind::Configuration => {
                let name = self.next_launch_configuration_name(server);
                self.b.note(format!(
                    "The group launches from launch configuration {name} (launch: Configuration in {}); AWS accounts created on or after 2024-10-01 cannot create launch configurations.",
                    config.launch.source
                ));
                self.b.push(
                    Action::CreateLaunchConfiguration {
                        server: server.clone(),
                        name,
                        instance_type,
                        image,
                        image_name,
                        agent,
                    },
                    after,
                    Some(Undo::DeleteLaunchConfiguration),
                )
            }
        }
    }

    /// `<server>-v<n>`, one past the highest existing n.
    fn next_launch_configuration_name(&self, server: &ServerName) -> String {
        let prefix = format!("{server}-v");
        let n = self
            .resources()
            .launch_configurations
            .iter()
            .filter_map(|c| c.name.strip_prefix(&prefix)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        format!("{prefix}{}", n + 1)
    }

    fn check_architecture(instance_type: &(InstanceType, Origin), architecture: Architecture) -> Result<(), PlanError> {
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

    fn create_server(&mut self, c: &CreateServer, config: &ServerConfig) -> Result<(), PlanError> {
        let server = &c.server;
        let size_gb = match (c.ebs_size_gb, &config.ebs_size_gb) {
            (Some(size), _) => size,
            (None, Some(sourced)) => sourced.value,
            (None, None) => {
                return Err(PlanError::MissingEbsSize {
                    server: server.clone(),
                    file: config.file.display().to_string(),
                })
            }
        };
        let region_origin = pick(&c.region, 4, &config.region).1;
        let zone = self.zone(pick(&c.zone_letter, 5, &config.zone), region_origin)?;
        let instance_type = pick(&c.instance_type, 2, &config.instance_type);
        Self::check_architecture(&instance_type, config.architecture.value)?;
        let instance_type = instance_type.0;

        let r = self.resources();
        let mut existing: Vec<String> = Vec::new();
        existing.extend(r.live_instances().map(|i| format!("instance {} ({})", i.id, i.state)));
        existing.extend(r.volumes.iter().map(|v| format!("volume {}", v.id)));
        existing.extend(r.launch_templates.iter().map(|t| format!("launch template {}", t.id)));
        existing.extend(r.launch_configurations.iter().map(|c| format!("launch configuration {}", c.name)));
        existing.extend(r.groups.iter().map(|g| format!("auto scaling group {}", g.name)));
        if !existing.is_empty() {
            return Err(PlanError::ServerExists {
                server: server.clone(),
                region: self.scope.region.clone(),
                resources: existing.join(", "),
            });
        }
        let image = self.image()?;
        self.tag(server, config.tag_values());

        let (address, gate) = self.address(server, config, true);
        let volume = self.b.push(
            Action::CreateVolume { server: server.clone(), zone: zone.clone(), size_gb },
            vec![gate],
            Some(Undo::DeleteVolume),
        );
        let instance = self.b.push(
            Action::RunInstance {
                server: server.clone(),
                zone: zone.clone(),
                instance_type: instance_type.clone(),
                image: image.id.clone(),
                image_name: image.name.clone(),
                agent: Some(agent_spec(config, AgentMode::Persist)),
                client_token: self.client_token(server, 0),
            },
            vec![gate],
            Some(Undo::TerminateInstance),
        );
        let attach = self.b.push(
            Action::AttachVolume {
                server: server.clone(),
                volume: Ref::Output(volume),
                instance: Ref::Output(instance),
                device: DATA_DEVICE.to_string(),
            },
            vec![],
            None,
        );
        let associate = self.b.push(
            Action::AssociateAddress {
                server: server.clone(),
                address: address.clone(),
                instance: Ref::Output(instance),
            },
            vec![],
            None,
        );
        let mut healthy_after = vec![Some(attach), Some(associate)];
        if config.auto_scale_capacity.value >= 1 {
            let launch = self.create_launch(server, config, &instance_type, image, vec![gate]);
            let group_name = AutoScalingGroupName::new(server.as_str());
            let group = self.b.push(
                Action::CreateAutoScalingGroup {
                    server: server.clone(),
                    name: group_name.clone(),
                    launch: Ref::Output(launch),
                    zone: zone.clone(),
                    desired: 0,
                },
                vec![Some(attach), Some(associate)],
                Some(Undo::DeleteAutoScalingGroup),
            );
            let adopt = self.b.push(
                Action::AdoptInstance { server: server.clone(), group: group_name, instance: Ref::Output(instance) },
                vec![Some(group)],
                None,
            );
            healthy_after = vec![Some(adopt)];
        } else {
            self.b.note(format!(
                "auto_scale_capacity is 0 ({}): no launch template or auto scaling group; start-auto-scaling adds them later.",
                config.auto_scale_capacity.source
            ));
        }
        self.b.push(
            Action::WaitHealthy { server: server.clone(), instance: Some(Ref::Output(instance)), replacing: None },
            healthy_after,
            None,
        );
        self.b.note(format!(
            "If the instance cannot launch (for example InsufficientInstanceCapacity in {zone}), everything this apply created is removed again, the new volume{} included.",
            if address.step().is_some() { " and Elastic IP" } else { "" }
        ));
        Ok(())
    }

    fn stop_auto_scaling(
        &mut self,
        server: &ServerName,
        keep_group: bool,
        config: &ServerConfig,
    ) -> Result<(), PlanError> {
        self.zones(Origin::Config(config.region.source.clone()))?;
        let r = self.resources();
        let Some(group) = r.group() else {
            return Err(PlanError::NoGroup { server: server.clone(), region: self.scope.region.clone() });
        };
        if group.desired == 0 && keep_group {
            return Err(PlanError::AlreadyStopped { server: server.clone(), group: group.name.clone() });
        }
        let mut scale_in = None;
        if group.desired > 0 || group.min > 0 {
            scale_in = Some(self.b.push(
                Action::UpdateAutoScalingGroup {
                    server: server.clone(),
                    group: group.name.clone(),
                    launch: None,
                    min: Some(0),
                    desired: Some(0),
                },
                vec![],
                None,
            ));
        }
        let mut terminated = Vec::new();
        for instance in r.live_instances() {
            terminated.push(Some(self.b.push(
                Action::TerminateInstance { server: server.clone(), instance: instance.id.clone() },
                vec![scale_in],
                None,
            )));
        }
        if keep_group {
            self.b.note(format!(
                "--keep-group (the seed's \"run locally\" case): group {} and its launch settings stay, with desired 0, so nothing replaces the instance.",
                group.name
            ));
        } else {
            let mut after = terminated.clone();
            after.push(scale_in);
            let deleted = self.b.push(
                Action::DeleteAutoScalingGroup { server: server.clone(), group: group.name.clone() },
                after,
                None,
            );
            self.delete_launch_settings(server, Some(deleted));
        }
        let mut kept = Vec::new();
        if let Some(v) = r.data_volume() {
            kept.push(format!("data volume {}", v.id));
        }
        kept.extend(r.addresses.iter().map(|a| format!("Elastic IP {}", a.public_ip)));
        if !kept.is_empty() {
            self.b.note(format!(
                "{} stay{}, so attach-instance@{server} or start-auto-scaling@{server} can bring {server} back.",
                kept.join(" and "),
                if kept.len() == 1 { "s" } else { "" }
            ));
        }
        Ok(())
    }

    /// Deletes every launch template and launch configuration of the server.
    fn delete_launch_settings(&mut self, server: &ServerName, after: Option<StepId>) {
        let r = self.resources();
        for t in &r.launch_templates {
            self.b.push(
                Action::DeleteLaunchTemplate { server: server.clone(), template: t.id.clone() },
                vec![after],
                None,
            );
        }
        for c in &r.launch_configurations {
            self.b.push(
                Action::DeleteLaunchConfiguration { server: server.clone(), name: c.name.clone() },
                vec![after],
                None,
            );
        }
    }

    /// Type and architecture for attach-instance and start-auto-scaling: command line over config.
    fn launch_choice(launch: &LaunchArgs, config: &ServerConfig) -> Result<InstanceType, PlanError> {
        let instance_type = pick(&launch.instance_type, 1, &config.instance_type);
        Self::check_architecture(&instance_type, launch.architecture.unwrap_or(config.architecture.value))?;
        Ok(instance_type.0)
    }

    fn attach_instance(
        &mut self,
        server: &ServerName,
        launch: &LaunchArgs,
        config: &ServerConfig,
    ) -> Result<(), PlanError> {
        self.zones(Origin::Config(config.region.source.clone()))?;
        let instance_type = Self::launch_choice(launch, config)?;
        let r = self.resources();
        let Some(volume) = r.data_volume() else {
            return Err(PlanError::NoVolume { server: server.clone(), region: self.scope.region.clone() });
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
        let image = self.image()?;
        self.tag(server, config.tag_values());
        let (address, gate) = self.address(server, config, false);
        let zone = volume.zone.clone();
        self.b.note(format!("The instance is launched in {zone}, the zone of data volume {}.", volume.id));
        let instance = self.b.push(
            Action::RunInstance {
                server: server.clone(),
                zone,
                instance_type,
                image: image.id.clone(),
                image_name: image.name.clone(),
                agent: Some(agent_spec(config, AgentMode::Spawn)),
                client_token: self.client_token(server, 0),
            },
            vec![gate],
            Some(Undo::TerminateInstance),
        );
        let attach = self.b.push(
            Action::AttachVolume {
                server: server.clone(),
                volume: Ref::Existing(volume.id.clone()),
                instance: Ref::Output(instance),
                device: DATA_DEVICE.to_string(),
            },
            vec![],
            None,
        );
        let associate = self.b.push(
            Action::AssociateAddress { server: server.clone(), address, instance: Ref::Output(instance) },
            vec![],
            None,
        );
        self.b.push(
            Action::WaitHealthy { server: server.clone(), instance: Some(Ref::Output(instance)), replacing: None },
            vec![Some(attach), Some(associate)],
            None,
        );
        self.b.note(format!(
            "No auto scaling group: nothing replaces this instance if it stops. Terminate it when you are done, or start-auto-scaling@{server} to keep it running. If the zone has no capacity for it, the launch fails and nothing is left behind."
        ));
        Ok(())
    }

    fn start_auto_scaling(
        &mut self,
        server: &ServerName,
        launch: &LaunchArgs,
        config: &ServerConfig,
    ) -> Result<(), PlanError> {
        self.zones(Origin::Config(config.region.source.clone()))?;
        let instance_type = Self::launch_choice(launch, config)?;
        let r = self.resources();
        if let Some(group) = r.group().filter(|g| g.desired > 0) {
            return Err(PlanError::AlreadyAutoScaling {
                server: server.clone(),
                group: group.name.clone(),
                desired: group.desired,
            });
        }
        let Some(volume) = r.data_volume() else {
            return Err(PlanError::NoVolume { server: server.clone(), region: self.scope.region.clone() });
        };
        let image = self.image()?;
        self.tag(server, config.tag_values());
        if config.auto_scale_capacity.value == 0 {
            self.b.note(format!(
                "auto_scale_capacity is 0 ({}), but start-auto-scaling enables auto scaling regardless.",
                config.auto_scale_capacity.source
            ));
        }
        let (address, gate) = self.address(server, config, false);
        let zone = volume.zone.clone();
        let kept = r.group();
        // Launch settings: a new version of the kept group's template, else new settings.
        let kept_template = kept.and_then(|g| match &g.launch {
            LaunchSource::Template { id, .. } if r.launch_templates.iter().any(|t| t.id == *id) => Some(id.clone()),
            _ => None,
        });
        let launch_step = match (kept_template, config.launch.value) {
            (Some(template), LaunchKind::Template) => self.b.push(
                Action::CreateLaunchTemplateVersion {
                    server: server.clone(),
                    template,
                    instance_type: instance_type.clone(),
                    image: image.id.clone(),
                    image_name: image.name.clone(),
                    agent: agent_spec(config, AgentMode::Spawn),
                },
                vec![gate],
                None,
            ),
            (kept_template, kind) => {
                // A leftover template named after the server would clash with the new one.
                let mut after = vec![gate];
                if kind == LaunchKind::Template {
                    for t in r.launch_templates.iter().filter(|t| Some(&t.id) != kept_template.as_ref()) {
                        after.push(Some(self.b.push(
                            Action::DeleteLaunchTemplate { server: server.clone(), template: t.id.clone() },
                            vec![gate],
                            None,
                        )));
                    }
                }
                self.create_launch(server, config, &instance_type, image, after)
            }
        };
        let adopt_instance = r.attached_instance().filter(|i| i.state == InstanceState::Running);
        let group_name = kept.map(|g| g.name.clone()).unwrap_or_else(|| AutoScalingGroupName::new(server.as_str()));
        let desired = if adopt_instance.is_some() { 0 } else { 1 };
        let group_step = match kept {
            Some(_) => self.b.push(
                Action::UpdateAutoScalingGroup {
                    server: server.clone(),
                    group: group_name.clone(),
                    launch: Some(Ref::Output(launch_step)),
                    min: Some(desired),
                    desired: Some(desired),
                },
                vec![],
                None,
            ),
            None => self.b.push(
                Action::CreateAutoScalingGroup {
                    server: server.clone(),
                    name: group_name.clone(),
                    launch: Ref::Output(launch_step),
                    zone: zone.clone(),
                    desired,
                },
                vec![],
                Some(Undo::DeleteAutoScalingGroup),
            ),
        };
        if let Some(LaunchSource::Configuration { name }) = kept.map(|g| &g.launch) {
            self.b.push(
                Action::DeleteLaunchConfiguration { server: server.clone(), name: name.clone() },
                vec![Some(group_step)],
                None,
            );
        }
        match adopt_instance {
            Some(instance) => {
                self.b.note(format!(
                    "Instance {} already runs with the data volume attached: the group adopts it instead of launching another.",
                    instance.id
                ));
                let already = r.addresses.iter().any(|a| {
                    a.associated_to.as_ref() == Some(&instance.id) && address == Ref::Existing(a.allocation_id.clone())
                });
                let associate = (!already).then(|| {
                    self.b.push(
                        Action::AssociateAddress {
                            server: server.clone(),
                            address,
                            instance: Ref::Existing(instance.id.clone()),
                        },
                        vec![gate],
                        None,
                    )
                });
                let adopt = self.b.push(
                    Action::AdoptInstance {
                        server: server.clone(),
                        group: group_name,
                        instance: Ref::Existing(instance.id.clone()),
                    },
                    vec![Some(group_step), associate],
                    None,
                );
                self.b.push(
                    Action::WaitHealthy {
                        server: server.clone(),
                        instance: Some(Ref::Existing(instance.id.clone())),
                        replacing: None,
                    },
                    vec![Some(adopt)],
                    None,
                );
            }
            None => {
                self.b.note(format!(
                    "No instance runs: the group launches one in {zone} (the zone of data volume {}), and its agent attaches the volume and associates the address.",
                    volume.id
                ));
                self.b.push(
                    Action::WaitHealthy { server: server.clone(), instance: None, replacing: None },
                    vec![Some(group_step)],
                    None,
                );
            }
        }
        Ok(())
    }

    fn upgrade_ami(&mut self, server: &ServerName, restart: bool, config: &ServerConfig) -> Result<(), PlanError> {
        self.zones(Origin::Config(config.region.source.clone()))?;
        let r = self.resources();
        let group = match r.group() {
            Some(g) if g.desired > 0 => g,
            other => {
                return Err(PlanError::NotAutoScaling { server: server.clone(), group: other.map(|g| g.name.clone()) })
            }
        };
        let current_spec = match &group.launch {
            LaunchSource::Template { id, .. } => r.launch_templates.iter().find(|t| t.id == *id).map(|t| &t.latest),
            LaunchSource::Configuration { name } => {
                r.launch_configurations.iter().find(|c| c.name == *name).map(|c| &c.spec)
            }
        };
        let Some(current) = current_spec else {
            return Err(PlanError::MissingLaunchSettings {
                server: server.clone(),
                group: group.name.clone(),
                launch: group.launch.clone(),
            });
        };
        let image = self.image()?;
        self.tag(server, config.tag_values());
        if current.image == image.id {
            self.b.note(format!(
                "{server} already launches from {} ({}), the newest {} image for {} in {}.",
                image.name, image.id, config.ami_type.value, config.architecture.value, self.scope.region
            ));
            return Ok(());
        }
        let instance_type = current.instance_type.clone();
        let agent = agent_spec(config, AgentMode::Spawn);
        let new_launch = match &group.launch {
            LaunchSource::Template { id, .. } => self.b.push(
                Action::CreateLaunchTemplateVersion {
                    server: server.clone(),
                    template: id.clone(),
                    instance_type,
                    image: image.id.clone(),
                    image_name: image.name.clone(),
                    agent,
                },
                vec![],
                None,
            ),
            LaunchSource::Configuration { .. } => {
                let name = self.next_launch_configuration_name(server);
                self.b.push(
                    Action::CreateLaunchConfiguration {
                        server: server.clone(),
                        name,
                        instance_type,
                        image: image.id.clone(),
                        image_name: image.name.clone(),
                        agent,
                    },
                    vec![],
                    Some(Undo::DeleteLaunchConfiguration),
                )
            }
        };
        let update = self.b.push(
            Action::UpdateAutoScalingGroup {
                server: server.clone(),
                group: group.name.clone(),
                launch: Some(Ref::Output(new_launch)),
                min: None,
                desired: None,
            },
            vec![],
            None,
        );
        if let LaunchSource::Configuration { name } = &group.launch {
            self.b.push(
                Action::DeleteLaunchConfiguration { server: server.clone(), name: name.clone() },
                vec![Some(update)],
                None,
            );
        }
        self.b.note(format!(
            "The group launches {} ({}) from now on; it launched {} before.",
            image.name, image.id, current.image
        ));
        let current_instance = r.current_instance();
        match (restart, current_instance) {
            (true, Some(old)) => {
                let terminate = self.b.push(
                    Action::TerminateInstance { server: server.clone(), instance: old.id.clone() },
                    vec![Some(update)],
                    None,
                );
                self.b.push(
                    Action::WaitHealthy { server: server.clone(), instance: None, replacing: Some(old.id.clone()) },
                    vec![Some(terminate)],
                    None,
                );
                self.b.note(format!(
                    "--restart: instance {} is terminated now; the group replaces it from the new image and the agent re-attaches the data volume and the address.",
                    old.id
                ));
            }
            (false, Some(old)) => self.b.note(format!(
                "The upgrade is not complete until instance {} is terminated (pass --restart to replace it now).",
                old.id
            )),
            (_, None) => self.b.note("No instance runs now; the group's next launch uses the new image."),
        }
        Ok(())
    }

    fn create_workspace(&mut self, defaults: &crate::config::Defaults) -> Result<(), PlanError> {
        let Command::CreateWorkspace { region, .. } = self.command else { unreachable!() };
        let region_origin = match region {
            Some(_) => Origin::CommandLine(3),
            None => Origin::Config(defaults.region.source.clone()),
        };
        let zones = self.zones(region_origin)?;
        // The global zone letter when the region has it, else the region's first zone.
        let zone = Zone::in_region(&self.scope.region, defaults.zone.value);
        let zone = if zones.contains(&zone) { zone } else { zones[0].clone() };
        let image = self.image()?;
        let architecture = image.architecture;
        let n = self
            .inventory
            .workspaces
            .iter()
            .filter(|i| i.state.is_alive())
            .filter_map(|i| workspace_number(i.tags.get(NAME_TAG)?))
            .max()
            .unwrap_or(0)
            + 1;
        let name = ServerName::new(format!("workspace-{n}"));
        let instance_type = InstanceType::new(catalog::workspace_instance_type(architecture));
        let mut tags = defaults.tag_values();
        tags.insert(ROLE_TAG.to_string(), "workspace".to_string());
        self.tag(&name, tags);
        self.scope.server = Some(name.clone());
        let instance = self.b.push(
            Action::RunInstance {
                server: name.clone(),
                zone,
                instance_type,
                image: image.id.clone(),
                image_name: image.name.clone(),
                agent: None,
                client_token: self.client_token(&name, 0),
            },
            vec![],
            Some(Undo::TerminateInstance),
        );
        self.b.push(Action::WaitRunning { server: name.clone(), instance: Ref::Output(instance) }, vec![], None);
        self.b.note(format!(
            "The workspace is {name}: the newest image untouched (no Elastic IP, no data volume, no agent, no spawn hook). Bundle it with bundle-ami@{name}; terminate it when done."
        ));
        self.b.note("Every create-workspace makes a new workspace: planning it again plans the next one.");
        Ok(())
    }

    fn bundle_ami(&mut self, workspace: &ServerName, copy_to: &[Region], tags: Tags) -> Result<(), PlanError> {
        let region = self.scope.region.clone();
        self.zones(Origin::CommandLine(0))?;
        for target in copy_to {
            if *target == region {
                return Err(PlanError::BadCopyRegion {
                    region: target.clone(),
                    reason: format!("the image is created there ({region}); copy only to other regions"),
                });
            }
            if self.inventory.zones_of(target).is_none() {
                return Err(PlanError::BadCopyRegion {
                    region: target.clone(),
                    reason: "this backend does not offer that region".into(),
                });
            }
        }
        let r = self.resources();
        let Some(instance) = r.live_instances().find(|i| i.state == InstanceState::Running) else {
            let state = r.instances.iter().map(|i| format!("{} is {}", i.id, i.state)).collect::<Vec<_>>().join(", ");
            return Err(PlanError::NothingToBundle { name: workspace.clone(), region, state });
        };
        let (ami_type, _) = self.scope.image_family.clone().expect("bundle scope has an image family");
        let name = format!("{ami_type}-{}", self.inventory.now.date());
        for target in std::iter::once(&region).chain(copy_to) {
            if let Some(taken) = self.inventory.image_named(target, &name) {
                return Err(PlanError::ImageNameTaken { name, region: target.clone(), image: taken.id.clone() });
            }
        }
        self.tag(workspace, tags);
        let image = self.b.push(
            Action::CreateImage { server: workspace.clone(), instance: instance.id.clone(), name: name.clone() },
            vec![],
            None,
        );
        for target in copy_to {
            self.b.push(
                Action::CopyImage {
                    server: workspace.clone(),
                    image: Ref::Output(image),
                    to: target.clone(),
                    name: name.clone(),
                },
                vec![],
                None,
            );
        }
        self.b.note(format!(
            "The image is named {name}: its type and the backend's date ({}), which is how other commands find the newest image.",
            self.inventory.now.date()
        ));
        Ok(())
    }

    fn destroy_server(
        &mut self,
        server: &ServerName,
        delete_data: bool,
        config: &ServerConfig,
    ) -> Result<(), PlanError> {
        self.zones(Origin::Config(config.region.source.clone()))?;
        let r = self.resources();
        if r.is_empty() {
            return Err(PlanError::NothingToDestroy { server: server.clone(), region: self.scope.region.clone() });
        }
        self.tag(server, config.tag_values());
        let group = r.group().map(|g| {
            self.b.push(Action::DeleteAutoScalingGroup { server: server.clone(), group: g.name.clone() }, vec![], None)
        });
        let terminated: Vec<Option<StepId>> = r
            .live_instances()
            .map(|i| {
                Some(self.b.push(
                    Action::TerminateInstance { server: server.clone(), instance: i.id.clone() },
                    vec![group],
                    None,
                ))
            })
            .collect();
        self.delete_launch_settings(server, group);
        for a in &r.addresses {
            self.b.push(
                Action::ReleaseAddress {
                    server: server.clone(),
                    address: a.allocation_id.clone(),
                    public_ip: a.public_ip.clone(),
                },
                terminated.clone(),
                None,
            );
        }
        for v in &r.volumes {
            if delete_data {
                let snapshot = self.b.push(
                    Action::CreateSnapshot { server: server.clone(), volume: v.id.clone() },
                    terminated.clone(),
                    None,
                );
                self.b.push(
                    Action::DeleteVolume { server: server.clone(), volume: v.id.clone() },
                    vec![Some(snapshot)],
                    None,
                );
                self.b.note(format!(
                    "--delete-data: volume {} ({} GiB) is snapshotted first, then deleted; the snapshot (tagged Name={server}) is kept.",
                    v.id, v.size_gb
                ));
            } else {
                self.b.note(format!(
                    "Volume {} ({} GiB) stays with its data (tagged Name={server}); destroy-server@{server} --delete-data snapshots and deletes it.",
                    v.id, v.size_gb
                ));
            }
        }
        if self.b.steps.is_empty() {
            self.b.note(format!("Nothing but the data volume is left of {server}."));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;
    use crate::config::ConfigTree;
    use crate::inventory::{Inventory, ServerResources};
    use std::path::Path;

    const GLOBAL: &str = r#"(
    region: "us-east-1",
    zone: "a",
    instance_type: "m5.large",
    ami_type: "web-server",
    architecture: "x86_64",
    persist: ["/etc", "/var/www"],
)"#;

    fn config(server_file: &str) -> ConfigTree {
        ConfigTree::from_files(
            Path::new("cfg"),
            [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/ale.ron", server_file)],
        )
    }

    fn tags(server: &str) -> Tags {
        Tags::from([(NAME_TAG.to_string(), server.to_string())])
    }

    fn address(id: &str, ip: &str, extra: &[(&str, &str)]) -> Address {
        let mut t = tags("ale");
        for (k, v) in extra {
            t.insert(k.to_string(), v.to_string());
        }
        Address { allocation_id: AllocationId::new(id), public_ip: ip.into(), associated_to: None, tags: t }
    }

    fn world(resources: ServerResources, dns: &[&str]) -> Inventory {
        let region = Region::new("us-east-1");
        let image = |id: &str, name: &str, arch| Image {
            id: ImageId::new(id),
            name: name.into(),
            architecture: arch,
            region: region.clone(),
            created_at: Timestamp(0),
            state: ImageState::Available,
            tags: Tags::new(),
        };
        Inventory {
            regions: vec![RegionInfo {
                region: region.clone(),
                zones: "abcd".chars().map(|c| Zone::in_region(&region, c)).collect(),
            }],
            resources,
            images: vec![
                image("ami-1", "web-server-2026-04-02", Architecture::X86_64),
                image("ami-2", "web-server-2026-08-04", Architecture::X86_64),
                image("ami-3", "web-server-2026-11-01", Architecture::Arm64),
                image("ami-4", "base-2026-10-01", Architecture::X86_64),
            ],
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Plans `command` and renders the outcome as one line per step (or the error).
    fn check(command_line: &str, server_file: &str, inventory: Inventory, expected: &[&str]) {
        let mut words = command_line.split_whitespace();
        let target = words.next().unwrap();
        let args: Vec<String> = words.map(String::from).collect();
        let command = command::parse(target, &args, &command::Flags::default()).unwrap();
        let got: Vec<String> = match plan(&command, &config(server_file), &inventory) {
            Ok(p) => {
                p.validate().expect("planned plans are valid");
                p.steps
                    .iter()
                    .map(|s| {
                        let after: Vec<String> = s.after.iter().map(|a| a.to_string()).collect();
                        format!("{} {} [{}]", s.id, s.action.describe().1, after.join(" "))
                    })
                    .collect()
            }
            Err(e) => vec![format!("error: {e}")],
        };
        assert_eq!(got, expected, "command {command_line}");
    }

    const WITH_DNS: &str = r#"(platform: "web", dns_name: "ale.example.com", zone: "b")"#;

    #[test]
    fn fresh_server_with_new_address_has_a_gate_first() {
        check(
            "create-server@ale 20",
            WITH_DNS,
            world(ServerResources::default(), &["203.0.113.1"]),
            &[
                "#1 allocate Elastic IP for ale []",
                "#2 DNS gate: ale.example.com must point at the address of #1 before apply goes on [#1]",
                "#3 create data volume of ale: 20 GiB gp3 in us-east-1b [#2]",
                "#4 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b [#2]",
                "#5 attach the volume of #3 to the instance of #4 as /dev/sdf [#3 #4]",
                "#6 associate the address of #1 with the instance of #4 [#1 #4]",
                "#7 create launch template ale for ale: m5.large from web-server-2026-08-04 [#2]",
                "#8 create auto scaling group ale of one in us-east-1b from the launch settings of #7 [#5 #6 #7]",
                "#9 put the instance of #4 into auto scaling group ale [#4 #8]",
                "#10 wait until ale is healthy on the instance of #4 [#4 #9]",
            ],
        );
    }

    #[test]
    fn address_matching_dns_is_reused() {
        let r = ServerResources { addresses: vec![address("eipalloc-9", "198.51.100.9", &[])], ..Default::default() };
        check(
            "create-server@ale 20 t3.small - - c",
            WITH_DNS,
            world(r, &["198.51.100.9"]),
            &[
                "#1 create data volume of ale: 20 GiB gp3 in us-east-1c []",
                "#2 launch instance of ale: t3.small from web-server-2026-08-04 in us-east-1c []",
                "#3 attach the volume of #1 to the instance of #2 as /dev/sdf [#1 #2]",
                "#4 associate address eipalloc-9 with the instance of #2 [#2]",
                "#5 create launch template ale for ale: t3.small from web-server-2026-08-04 []",
                "#6 create auto scaling group ale of one in us-east-1c from the launch settings of #5 [#3 #4 #5]",
                "#7 put the instance of #2 into auto scaling group ale [#2 #6]",
                "#8 wait until ale is healthy on the instance of #2 [#2 #7]",
            ],
        );
    }

    #[test]
    fn address_awaiting_dns_is_reused_behind_a_gate() {
        let waiting = address("eipalloc-7", "198.51.100.7", &[(AWAITING_DNS_TAG, "ale.example.com")]);
        let stale = address("eipalloc-3", "198.51.100.3", &[]);
        let r = ServerResources { addresses: vec![stale, waiting], ..Default::default() };
        let inventory = world(r, &["203.0.113.1"]);
        check(
            "create-server@ale 20",
            WITH_DNS,
            inventory.clone(),
            &[
                "#1 DNS gate: ale.example.com must point at address eipalloc-7 before apply goes on []",
                "#2 create data volume of ale: 20 GiB gp3 in us-east-1b [#1]",
                "#3 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b [#1]",
                "#4 attach the volume of #2 to the instance of #3 as /dev/sdf [#2 #3]",
                "#5 associate address eipalloc-7 with the instance of #3 [#3]",
                "#6 create launch template ale for ale: m5.large from web-server-2026-08-04 [#1]",
                "#7 create auto scaling group ale of one in us-east-1b from the launch settings of #6 [#4 #5 #6]",
                "#8 put the instance of #3 into auto scaling group ale [#3 #7]",
                "#9 wait until ale is healthy on the instance of #3 [#3 #8]",
            ],
        );
        let cmd = command::parse("create-server@ale", &["20".into()], &command::Flags::default()).unwrap();
        let notes = plan(&cmd, &config(WITH_DNS), &inventory).unwrap().notes.join("\n");
        assert!(notes.contains("198.51.100.3 (eipalloc-3) of ale does not match the DNS record"), "{notes}");
    }

    #[test]
    fn no_auto_scaling_and_no_dns() {
        check(
            "create-server@ale 5",
            r#"(platform: "web", auto_scale_capacity: 0)"#,
            world(ServerResources::default(), &[]),
            &[
                "#1 allocate Elastic IP for ale []",
                "#2 create data volume of ale: 5 GiB gp3 in us-east-1a []",
                "#3 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1a []",
                "#4 attach the volume of #2 to the instance of #3 as /dev/sdf [#2 #3]",
                "#5 associate the address of #1 with the instance of #3 [#1 #3]",
                "#6 wait until ale is healthy on the instance of #3 [#3 #4 #5]",
            ],
        );
    }

    #[test]
    fn refusals() {
        let existing = ServerResources {
            volumes: vec![Volume {
                id: VolumeId::new("vol-1"),
                state: VolumeState::Available,
                zone: Zone::new("us-east-1b"),
                size_gb: 20,
                attached_to: None,
                device: None,
                tags: tags("ale"),
            }],
            ..Default::default()
        };
        check(
            "create-server@ale 20",
            WITH_DNS,
            world(existing, &[]),
            &["error: server ale already exists in us-east-1: volume vol-1\n  fix: pick a new name, or retire it first (destroy-server@ale)"],
        );
        check(
            "create-server@ale",
            WITH_DNS,
            world(ServerResources::default(), &[]),
            &["error: create-server@ale needs an EBS size: give it as the first argument (e.g. `create-server@ale 20`) or set ebs_size_gb in cfg/servers/ale.ron"],
        );
        check(
            "create-server@ale 20 - - - f",
            WITH_DNS,
            world(ServerResources::default(), &[]),
            &["error: zone us-east-1f (from command-line argument 5) does not exist in us-east-1; zones: a, b, c, d"],
        );
        check(
            "create-server@ale 20 - - us-west-2",
            WITH_DNS,
            world(ServerResources::default(), &[]),
            &["error: region us-west-2 (from command-line argument 4) is not offered by this backend; regions: us-east-1"],
        );
        check(
            "create-server@ale 20 - db",
            WITH_DNS,
            world(ServerResources::default(), &[]),
            &["error: no image named db-YYYY-MM-DD for x86_64 in us-east-1 (images there: web-server-2026-04-02, web-server-2026-08-04, web-server-2026-11-01, base-2026-10-01)\n  fix: bundle one (bundle-ami), or choose another AMI type or architecture"],
        );
        check(
            "create-server@ale 20 t4g.small",
            WITH_DNS,
            world(ServerResources::default(), &[]),
            &["error: instance type t4g.small (from command-line argument 2) cannot run x86_64 images; it runs arm64"],
        );
    }

    #[test]
    fn same_inputs_same_plan_bytes() {
        let cmd = command::parse("create-server@ale", &["20".into()], &command::Flags::default()).unwrap();
        let a = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
        let b = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
        assert_eq!(a.to_ron(), b.to_ron());
        let reread = Plan::from_ron("p.ron", &a.to_ron()).unwrap();
        assert_eq!(reread, a);
    }
}
