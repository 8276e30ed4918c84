//! The pure planner: `(command, configuration, inventory) → Plan`.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan, byte for byte.
//! [`scope`] says what to read for a command ([`crate::inventory::read`] does the reading);
//! [`plan`] decides. Refusals are [`PlanError`] values that name the value, where it came
//! from (command line or config file:line) and the fix. A command with nothing to do
//! gives an empty plan with a note saying why.
//!
//! Layout: one module per command, each holding its [`CommandSpec`] (what the parser and
//! the CLI help read) and its planning; [`COMMANDS`] lists them. Adding a command is one
//! module and one line in that list. The shared pieces: [`address`] (which Elastic IP a
//! server gets), [`launch`] (launch templates and configurations, instance type and
//! architecture), and the [`Planning`] builder here (steps, notes, tags, zones, images).

mod address;
mod attach_instance;
mod backup;
mod bundle_ami;
mod create_server;
mod create_workspace;
mod destroy_server;
mod destroy_workspace;
mod fleet;
mod launch;
mod network;
mod prune;
mod restore_server;
mod shared;
mod start_auto_scaling;
mod stop_auto_scaling;
mod sync;
#[cfg(test)]
mod tests;
mod upgrade_ami;
mod volumes;
#[cfg(test)]
mod volumes_tests;

pub use crate::command::Origin;
use crate::command::{Command, CommandSpec};
use crate::config::{ConfigErrors, ConfigTree, Defaults, ServerConfig, Sourced};
use crate::inventory::{Inventory, ServerResources};
use crate::model::*;
use crate::plan::*;
pub use fleet::{plan_fleet, threads_for, SERVERS_PER_THREAD};
pub use network::{data_volume, launch_settings};
pub use shared::Shared;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every command, in the order `cellar plan --help` lists them.
pub const COMMANDS: &[&CommandSpec] = &[
    &create_server::SPEC,
    &stop_auto_scaling::SPEC,
    &attach_instance::SPEC,
    &start_auto_scaling::SPEC,
    &upgrade_ami::SPEC,
    &sync::SPEC,
    &create_workspace::SPEC,
    &bundle_ami::SPEC,
    &destroy_server::SPEC,
    &destroy_workspace::SPEC,
    &backup::SPEC,
    &prune::SPEC,
    &restore_server::SPEC,
];

/// How a command is planned, by the configuration it plans with. The variant decides the
/// command's target: a configured server, a workspace (or server), or none.
#[derive(Debug)]
pub enum Planner {
    /// `command@SERVER`, with the server's configuration.
    Server { scope: ScopeFn<ServerConfig>, plan: PlanFn<ServerConfig> },
    /// `command@WORKSPACE`: a configured server's configuration, else the global defaults.
    Workspace { scope: ScopeFn<Settings>, plan: PlanFn<Settings> },
    /// No target: the global defaults.
    Defaults { scope: ScopeFn<Defaults>, plan: PlanFn<Defaults> },
}

/// Adds what a command reads to the scope (which starts with the region and the server).
pub type ScopeFn<S> = fn(&Command, &S, &mut Scope);
/// Plans the command into the [`Planning`].
pub type PlanFn<S> = for<'a> fn(&mut Planning<'a>, &S) -> Result<(), PlanError>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("{command} needs a server or workspace: {synopsis}")]
    NoTarget { command: &'static str, synopsis: String },
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
    #[error("{server} has no data volume for {devices}, which `volumes` ({origin}) names\n  fix: a volume added to the configuration after create-server is not created by cellar: create it in the server's zone and tag it Name={server} cellar:role=data cellar:device=<device>, or remove it from `volumes`")]
    MissingVolumes { server: ServerName, devices: String, origin: Origin },
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
    #[error("{server} has no resources in {region} (nothing is tagged Name={server}), so there is nothing to match to its configuration\n  fix: create it first (create-server@{server} <ebs-gb>)")]
    NothingToSync { server: ServerName, region: Region },
    #[error("{server}: sync cannot change {what} in place (configured at {configured_at})\n  fix: stop-auto-scaling@{server} then start-auto-scaling@{server} launches with the configured settings; or change the configuration back")]
    SyncCannotChange { server: ServerName, what: String, configured_at: String },
    #[error("{name} is not a workspace: workspaces are named workspace-N (create-workspace makes them)\n  fix: destroy-server@{name} retires a server")]
    NotAWorkspace { name: ServerName },
    #[error(
        "workspace {name} has no instance in {region}\n  fix: nothing to destroy; `cellar status` lists the workspaces"
    )]
    NoWorkspace { name: ServerName, region: Region },
    /// The server's network settings do not resolve in its region (see `network::NetworkFinding`).
    #[error(transparent)]
    Network(#[from] crate::network::NetworkFinding),
    #[error("the data volume: {problem} (from {origin})\n  fix: {fix}")]
    EbsSettings { problem: String, origin: Origin, fix: String },
    #[error("restore-server@{server} needs --at: which backups to restore\n  fix: --at 2026-11-24 (the newest backups at or before that day's end, UTC), --at 2026-11-24T03:00Z, --at snap-... (`cellar backups {server}` lists them), or --at now with --zone (move the server)")]
    RestoreNeedsAt { server: ServerName },
    #[error("{server} has no completed backup of {volume} at or before {at}{}\n  fix: choose a later --at (`cellar backups {server}` lists the backups), or back it up first (backup@{server})", if oldest.is_empty() { String::new() } else { format!(" (its oldest is of {oldest})") })]
    NoBackup { server: ServerName, volume: String, at: String, oldest: String },
    #[error("{snapshot} is not a completed backup of {server} in {region}\n  fix: `cellar backups {server}` lists its backups")]
    UnknownBackup { server: ServerName, snapshot: SnapshotId, region: Region },
    #[error("restore-server@{server} --at now restores the volumes as they are, so it only moves the server: give --zone LETTER (another zone of {region})")]
    RestoreNowNeedsZone { server: ServerName, region: Region },
    #[error("{server} runs instance {instance} without an auto scaling group: restore-server could not bring it back if the restore failed\n  fix: stop it first (terminate the instance), or start-auto-scaling@{server} so that its group runs it")]
    RestoreUnmanaged { server: ServerName, instance: InstanceId },
    #[error("{flags} do not go together: {why}")]
    FlagConflict { flags: String, why: String },
    #[error("root_volume_gb {size} (from {origin}) is smaller than image {image}'s root snapshot ({image_size} GiB)\n  fix: set root_volume_gb to at least {image_size}, or leave it out")]
    RootVolumeTooSmall { size: u32, origin: Origin, image: String, image_size: u32 },
}

/// The configuration a workspace command plans with: a configured server's, or the
/// global defaults.
pub enum Settings {
    Server(Box<ServerConfig>),
    Defaults(Box<Defaults>),
}

impl Settings {
    pub fn region(&self) -> &Sourced<Region> {
        match self {
            Settings::Server(c) => &c.region,
            Settings::Defaults(d) => &d.region,
        }
    }
    pub fn ami_type(&self) -> &Sourced<AmiType> {
        match self {
            Settings::Server(c) => &c.ami_type,
            Settings::Defaults(d) => &d.ami_type,
        }
    }
    pub fn tag_values(&self) -> Tags {
        match self {
            Settings::Server(c) => c.tag_values(),
            Settings::Defaults(d) => d.tag_values(),
        }
    }
}

/// The server a `Planner::Server` or `Planner::Workspace` command names.
fn target(command: &Command) -> Result<&ServerName, PlanError> {
    command.server().ok_or_else(|| PlanError::NoTarget { command: command.name(), synopsis: command.spec().synopsis() })
}

fn workspace_settings(command: &Command, tree: &ConfigTree) -> Result<Settings, PlanError> {
    let name = target(command)?;
    // A workspace has no server file: it plans with the global defaults.
    Ok(if tree.server_names().contains(name) {
        Settings::Server(Box::new(tree.server(name)?))
    } else {
        Settings::Defaults(Box::new(tree.defaults()?))
    })
}

/// The scope every command starts from: its region and its server.
fn base_scope(command: &Command, region: &Region) -> Scope {
    Scope { server: command.server().cloned(), ..Scope::new(region.clone()) }
}

/// What must be read to plan `command`.
pub fn scope(command: &Command, tree: &ConfigTree) -> Result<Scope, PlanError> {
    Ok(match command.spec().planner {
        Planner::Server { scope, .. } => {
            let config = tree.server_ref(target(command)?)?;
            let mut s = base_scope(command, &config.region.value);
            scope(command, config, &mut s);
            s
        }
        Planner::Workspace { scope, .. } => {
            let settings = workspace_settings(command, tree)?;
            let mut s = base_scope(command, &settings.region().value);
            scope(command, &settings, &mut s);
            s
        }
        Planner::Defaults { scope, .. } => {
            let defaults = tree.defaults()?;
            let mut s = base_scope(command, &defaults.region.value);
            scope(command, &defaults, &mut s);
            s
        }
    })
}

/// Makes the plan. Pure.
pub fn plan(command: &Command, tree: &ConfigTree, inventory: &Inventory) -> Result<Plan, PlanError> {
    plan_shared(command, tree, inventory, None)
}

/// [`plan`] for one server of a fleet plan: with `shared`, what the fleet's servers share
/// is worked out once (see [`Shared`], whose plans with steps must all go into one fleet
/// plan). The same plan as [`plan`] makes, but for the region's observations once recorded.
pub fn plan_shared(
    command: &Command,
    tree: &ConfigTree,
    inventory: &Inventory,
    shared: Option<&mut Shared>,
) -> Result<Plan, PlanError> {
    let planning = match command.spec().planner {
        Planner::Server { scope, plan } => {
            let planned = tree.planned(target(command)?)?;
            let config = planned.config;
            let mut p = Planning::new(command, base_scope(command, &config.region.value), inventory);
            p.shared = shared;
            scope(command, config, &mut p.scope);
            // Recorded first: a planner names where a setting comes from (`source_of`).
            p.settings.insert(config.name.clone(), planned.settings.clone());
            p.configured_tags = Some((&config.name, planned.tags.clone()));
            plan(&mut p, config)?;
            p
        }
        Planner::Workspace { scope, plan } => {
            let settings = workspace_settings(command, tree)?;
            let mut p = Planning::new(command, base_scope(command, &settings.region().value), inventory);
            p.shared = shared;
            scope(command, &settings, &mut p.scope);
            plan(&mut p, &settings)?;
            p
        }
        Planner::Defaults { scope, plan } => {
            let defaults = tree.defaults()?;
            let mut p = Planning::new(command, base_scope(command, &defaults.region.value), inventory);
            p.shared = shared;
            scope(command, &defaults, &mut p.scope);
            plan(&mut p, &defaults)?;
            p
        }
    };
    Ok(planning.finish())
}

/// A plan under construction: steps get ids in the order they are pushed.
pub struct Planning<'a> {
    pub command: &'a Command,
    /// What the plan reads (and apply re-reads); a command may name its server late
    /// (create-workspace picks the workspace's number).
    pub scope: Scope,
    pub inventory: &'a Inventory,
    steps: Vec<Step>,
    notes: Vec<String>,
    tags: BTreeMap<ServerName, Arc<Tags>>,
    settings: BTreeMap<ServerName, Arc<[crate::plan::Setting]>>,
    drift: Vec<crate::plan::Drift>,
    /// What a fleet's servers share, when planning one of them.
    shared: Option<&'a mut Shared>,
    /// The planned server's extra tags as the configuration tree keeps them
    /// (`ConfigTree::tag_values`), shared instead of copied into every plan.
    configured_tags: Option<(&'a ServerName, Arc<Tags>)>,
}

impl<'a> Planning<'a> {
    fn new(command: &'a Command, scope: Scope, inventory: &'a Inventory) -> Self {
        Planning {
            shared: None,
            configured_tags: None,
            command,
            scope,
            inventory,
            steps: Vec::new(),
            notes: Vec::new(),
            tags: BTreeMap::new(),
            settings: BTreeMap::new(),
            drift: Vec::new(),
        }
    }

    /// Adds a step for `server` that runs after the given steps (and after every step whose
    /// output the action uses); returns its id.
    pub fn push(
        &mut self,
        server: &ServerName,
        action: Action,
        after: Vec<Option<StepId>>,
        undo: Option<Undo>,
    ) -> StepId {
        let id = StepId(self.steps.len() as u32 + 1);
        let mut after: Vec<StepId> = after.into_iter().flatten().collect();
        after.extend(action.references());
        after.sort();
        after.dedup();
        self.steps.push(Step { id, server: server.clone(), action, after, undo });
        id
    }

    /// A decision worth telling the reviewer.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// How many steps are planned so far.
    pub fn steps_len(&self) -> usize {
        self.steps.len()
    }

    /// The effective settings the plan records for `server` (each with its file:line,
    /// relative to the configuration directory); empty for a command without a server.
    pub fn recorded_settings(&self, server: &ServerName) -> std::sync::Arc<[crate::plan::Setting]> {
        self.settings.get(server).cloned().unwrap_or_else(|| Vec::new().into())
    }

    /// A setting of the server that differs from its configuration (`sync`).
    pub fn drift(&mut self, drift: crate::plan::Drift) {
        self.drift.push(drift);
    }

    /// The extra tags put on everything created for `server`.
    pub fn tag(&mut self, server: &ServerName, tags: impl Into<Arc<Tags>>) {
        self.tags.insert(server.clone(), tags.into());
    }

    /// The configured extra tags of `config`'s server, put on everything created for it:
    /// the tree's shared copy when it is the server planned, else worked out.
    pub fn tag_configured(&mut self, config: &ServerConfig) {
        let tags = match &self.configured_tags {
            Some((server, tags)) if **server == config.name => tags.clone(),
            _ => Arc::new(config.tag_values()),
        };
        self.tags.insert(config.name.clone(), tags);
    }

    /// The resources of the scope's server.
    pub fn resources(&self) -> &'a ServerResources {
        &self.inventory.resources
    }

    fn finish(self) -> Plan {
        let observed = match self.shared {
            Some(shared) => shared.observe(&self.scope, self.inventory, !self.steps.is_empty()),
            None => self.inventory.observe(&self.scope),
        };
        Plan {
            format: PLAN_FORMAT_VERSION,
            command: self.command.to_string(),
            observed,
            scope: self.scope,
            steps: self.steps,
            tags: self.tags,
            notes: self.notes,
            settings: self.settings,
            fleet: None,
            drift: self.drift,
        }
    }

    /// The zones of the scope's region, or the unknown-region refusal.
    pub fn zones(&self, origin: Origin) -> Result<&'a [Zone], PlanError> {
        let region = &self.scope.region;
        self.inventory.zones_of(region).ok_or_else(|| {
            let known: Vec<&str> = self.inventory.regions.iter().map(|r| r.region.as_str()).collect();
            PlanError::UnknownRegion { region: region.clone(), origin, known: known.join(", ") }
        })
    }

    /// The zone of `letter` in the scope's region, or the unknown-zone refusal.
    pub fn zone(&self, letter: (char, Origin), region_origin: Origin) -> Result<Zone, PlanError> {
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

    /// The newest available image of this type and architecture in the scope's region.
    pub fn image(&self, ami_type: &AmiType, architecture: Architecture) -> Result<&'a Image, PlanError> {
        self.inventory.newest_image(ami_type, architecture).ok_or_else(|| {
            let available: Vec<&str> = self.inventory.images.iter().map(|i| i.name.as_str()).collect();
            PlanError::NoImage {
                ami_type: ami_type.clone(),
                architecture,
                region: self.scope.region.clone(),
                available: available.join(", "),
            }
        })
    }

    /// The RunInstances idempotency token: a hash of the command, what the planner saw and
    /// `salt`, so the same plan retried never launches twice and no randomness is needed.
    pub fn client_token(&self, server: &ServerName, salt: u32) -> String {
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
}

/// The command-line value if given, else the configured one, with where it came from.
pub fn pick<T: Clone>(cli: Option<(T, Origin)>, sourced: &Sourced<T>) -> (T, Origin) {
    cli.unwrap_or_else(|| (sourced.value.clone(), Origin::Config(sourced.source.clone())))
}

/// Where a configured value came from.
pub fn configured<T>(sourced: &Sourced<T>) -> Origin {
    Origin::Config(sourced.source.clone())
}

/// Waits until `server` is healthy on `instance` (or on whichever instance is current
/// other than `replacing`), after `after`.
pub fn wait_healthy(
    p: &mut Planning<'_>,
    server: &ServerName,
    instance: Option<Ref<InstanceId>>,
    replacing: Option<InstanceId>,
    after: Vec<Option<StepId>>,
) -> StepId {
    p.push(server, Action::WaitHealthy { instance, replacing, launched_as: None }, after, None)
}
