//! The simulated AWS world: plain data plus the operations the [`crate::Sim`] maps the
//! `Cloud` trait onto.
//!
//! Everything is deterministic: ordered maps only, no wall clock, and all randomness (the
//! injected [`Faults`]) drawn from the one seeded [`Rng`] saved in the world. Time moves
//! only through [`World::advance_to`] (and [`World::advance_by_ms`]), which applies
//! scheduled transitions in (time, seq) order and lets auto scaling groups reconcile after
//! each one.

use crate::faults::{CapacityChange, Faults, ScheduledTermination};
use cellar_engine::agent::parse_user_data;
use cellar_engine::catalog;
use cellar_engine::cloud::{
    CloudError, CloudErrorKind as K, CloudResult, CreateAutoScalingGroupRequest, CreateLaunchTemplateRequest,
    CreateVolumeRequest, Filter, RunInstanceRequest, UpdateAutoScalingGroupRequest,
};
use cellar_engine::limits::{Bucket, TokenBucket};
use cellar_engine::model::*;
use cellar_engine::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// pending → running.
pub const PENDING_SECS: u64 = 30;
/// shutting-down → terminated.
pub const SHUTDOWN_SECS: u64 = 20;
/// How long a terminated instance stays visible to describe.
pub const TERMINATED_VISIBLE_SECS: u64 = 3600;
/// creating → available for a volume.
pub const VOLUME_CREATE_SECS: u64 = 5;
/// pending → available for an image made by CreateImage.
pub const IMAGE_CREATE_SECS: u64 = 300;
/// pending → available for an image made by CopyImage (in the target region).
pub const IMAGE_COPY_SECS: u64 = 600;
/// pending → completed for a snapshot.
pub const SNAPSHOT_SECS: u64 = 60;
/// How long an auto scaling group waits after a failed launch before it tries again.
pub const GROUP_RETRY_SECS: u64 = 60;
/// Launches possible per (zone, instance type) unless [`World::set_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: u32 = 1000;
/// Scaling activities kept per group (newest last).
const MAX_ACTIVITIES: usize = 20;

/// The seed of a world that never called [`World::reseed`].
pub const DEFAULT_SEED: u64 = 0;

fn default_capacity() -> u32 {
    DEFAULT_CAPACITY
}

fn default_rng() -> Rng {
    Rng::new(DEFAULT_SEED)
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// An error as AWS would return it. The kind goes through the engine's one code-to-kind
/// mapping ([`CloudErrorKind::from_code`](cellar_engine::cloud::CloudErrorKind::from_code)),
/// so a code raised here as `Other("InvalidAMIID.Unavailable")` reaches the engine as the
/// same kind the AWS adapter gives it.
fn err(kind: K, message: impl Into<String>) -> CloudError {
    CloudError::from_code(kind.code(), message)
}

/// One line of the world's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: Timestamp,
    /// Milliseconds past `at`.
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub millis: u16,
    pub message: String,
}

impl LogEntry {
    /// `YYYY-MM-DDTHH:MM:SSZ`, or with `.mmm` before the `Z` when `millis` is asked for.
    pub fn stamp(&self, millis: bool) -> String {
        stamp(self.at, self.millis, millis)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.mmmZ` with `with_millis`.
fn stamp(at: Timestamp, millis: u16, with_millis: bool) -> String {
    let text = at.rfc3339();
    if with_millis {
        format!("{}.{millis:03}Z", text.trim_end_matches('Z'))
    } else {
        text
    }
}

/// A state change the world will make on its own at a given virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// pending → running (and, with agent user data, the agent becomes due).
    InstanceRunning(InstanceId),
    /// shutting-down → terminated: volumes detach, addresses disassociate.
    InstanceTerminated(InstanceId),
    /// A terminated instance disappears from describe.
    InstanceRemoved(InstanceId),
    /// creating → available.
    VolumeAvailable(VolumeId),
    /// A group whose launch failed may try again.
    GroupRetry(AutoScalingGroupName),
    /// Fault: Amazon terminates a random live instance; the next one is then scheduled
    /// ([`Faults::terminations_per_hour`]).
    RandomTermination,
    /// Fault: a capacity change from [`Faults::capacity`].
    FaultCapacity(CapacityChange),
    /// Fault: a termination from [`Faults::terminations`].
    FaultTermination(ScheduledTermination),
    /// pending → available (CreateImage, CopyImage).
    ImageAvailable(ImageId),
    /// pending → completed.
    SnapshotCompleted(SnapshotId),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub at: Timestamp,
    pub seq: u64,
    pub transition: Transition,
}

/// Why [`World::advance_to`] returned.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// The clock reached the target.
    Reached,
    /// An instance with agent user data just reached `running`: its agent is queued in
    /// [`World::agents_due`] and should run at the current virtual time.
    AgentsDue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInstance {
    pub id: InstanceId,
    pub state: InstanceState,
    pub zone: Zone,
    pub instance_type: InstanceType,
    pub image: ImageId,
    pub architecture: Architecture,
    pub launched_at: Timestamp,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub group: Option<AutoScalingGroupName>,
    #[serde(default)]
    pub user_data: String,
    #[serde(default)]
    pub client_token: Option<String>,
    /// Eventual consistency ([`Faults::invisible_secs`]): until this virtual time (in
    /// milliseconds since the epoch) the API does not know the instance yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_at_ms: Option<u64>,
}

impl SimInstance {
    /// Pending or running: counts for capacity and for its auto scaling group.
    pub fn is_live(&self) -> bool {
        matches!(self.state, InstanceState::Pending | InstanceState::Running)
    }

    /// Whether the API knows the instance at `now_ms` (see [`SimInstance::visible_at_ms`]).
    pub fn is_visible(&self, now_ms: u64) -> bool {
        self.visible_at_ms.is_none_or(|t| now_ms >= t)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAddress {
    pub allocation_id: AllocationId,
    pub region: Region,
    pub public_ip: String,
    #[serde(default)]
    pub associated_to: Option<InstanceId>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTemplate {
    pub id: LaunchTemplateId,
    pub name: String,
    pub region: Region,
    /// Version `n` is `versions[n - 1]`.
    pub versions: Vec<LaunchSpec>,
    pub default_version: u32,
    #[serde(default)]
    pub tags: Tags,
}

impl SimTemplate {
    pub fn latest_version(&self) -> u32 {
        self.versions.len() as u32
    }
    pub fn version(&self, version: u32) -> Option<&LaunchSpec> {
        version.checked_sub(1).and_then(|i| self.versions.get(i as usize))
    }
    pub fn to_model(&self) -> LaunchTemplate {
        LaunchTemplate {
            id: self.id.clone(),
            name: self.name.clone(),
            latest_version: self.latest_version(),
            default_version: self.default_version,
            latest: self.versions.last().cloned().expect("a launch template has at least one version"),
            tags: self.tags.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimGroup {
    pub name: AutoScalingGroupName,
    pub region: Region,
    /// The launch template version or launch configuration new instances launch from.
    pub launch: LaunchSource,
    pub zones: Vec<Zone>,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    #[serde(default)]
    pub instances: Vec<InstanceId>,
    #[serde(default)]
    pub activities: Vec<ScalingActivity>,
    #[serde(default)]
    pub tags: Tags,
    /// After a failed launch: no new attempt before this time.
    #[serde(default)]
    pub retry_at: Option<Timestamp>,
}

impl SimGroup {
    pub fn to_model(&self) -> AutoScalingGroup {
        AutoScalingGroup {
            name: self.name.clone(),
            launch: self.launch.clone(),
            zones: self.zones.clone(),
            min: self.min,
            max: self.max,
            desired: self.desired,
            instances: self.instances.clone(),
            activities: self.activities.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// A snapshot and the region it lives in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSnapshot {
    pub id: SnapshotId,
    pub region: Region,
    pub volume: VolumeId,
    pub size_gb: u32,
    pub state: SnapshotState,
    pub created_at: Timestamp,
    #[serde(default)]
    pub tags: Tags,
}

impl SimSnapshot {
    pub fn to_model(&self) -> Snapshot {
        Snapshot {
            id: self.id.clone(),
            volume: self.volume.clone(),
            size_gb: self.size_gb,
            state: self.state,
            created_at: self.created_at,
            tags: self.tags.clone(),
        }
    }
}

/// The whole simulated account: saved as RON between CLI runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct World {
    /// The virtual clock, whole seconds (see [`World::now`]; [`World::millis`] holds the rest).
    pub now: Timestamp,
    /// Milliseconds past `now` (API latency moves the clock by milliseconds).
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub millis: u16,
    /// The one source of randomness (every fault draws from it): saved, so a world replays.
    #[serde(default = "default_rng")]
    pub rng: Rng,
    /// The faults this world injects (none by default).
    #[serde(default, skip_serializing_if = "Faults::is_none")]
    pub faults: Faults,
    /// Cloud calls served through [`crate::Sim`] (for benchmarks).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub api_calls: u64,
    /// AWS's API token buckets per region, used while [`Faults::throttling`] is on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buckets: BTreeMap<Region, BTreeMap<Bucket, TokenBucket>>,
    /// Last id handed out per prefix (`i`, `vol`, `eipalloc`, `lt`, `ami`, `snap`).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    pub regions: Vec<RegionInfo>,
    /// Launches possible for (zone, type) pairs without an override, minus live instances.
    #[serde(default = "default_capacity")]
    pub default_capacity: u32,
    /// Overrides: launches still possible per zone and instance type. A launch takes one;
    /// terminations do not give it back (set it again to restore capacity).
    #[serde(default)]
    pub capacity: BTreeMap<Zone, BTreeMap<InstanceType, u32>>,
    #[serde(default)]
    pub images: BTreeMap<ImageId, Image>,
    #[serde(default)]
    pub instances: BTreeMap<InstanceId, SimInstance>,
    #[serde(default)]
    pub volumes: BTreeMap<VolumeId, Volume>,
    #[serde(default)]
    pub snapshots: BTreeMap<SnapshotId, SimSnapshot>,
    #[serde(default)]
    pub addresses: BTreeMap<AllocationId, SimAddress>,
    #[serde(default)]
    pub templates: BTreeMap<LaunchTemplateId, SimTemplate>,
    /// Launch configurations per region, by name (they carry no tags and no id).
    #[serde(default)]
    pub launch_configurations: BTreeMap<Region, BTreeMap<String, LaunchConfiguration>>,
    #[serde(default)]
    pub groups: BTreeMap<AutoScalingGroupName, SimGroup>,
    /// Host name → A records.
    #[serde(default)]
    pub dns: BTreeMap<String, Vec<String>>,
    /// RunInstances client tokens already used.
    #[serde(default)]
    pub client_tokens: BTreeMap<String, InstanceId>,
    /// Transitions to come, ordered by (at, seq).
    #[serde(default)]
    pub scheduled: Vec<Scheduled>,
    #[serde(default)]
    pub next_seq: u64,
    /// Instances whose agent should run now (they just reached `running`).
    #[serde(default)]
    pub agents_due: Vec<InstanceId>,
    #[serde(default)]
    pub log: Vec<LogEntry>,
}

impl World {
    /// An empty world: the given regions, nothing in them.
    pub fn new(now: Timestamp, regions: Vec<RegionInfo>) -> Self {
        World {
            now,
            millis: 0,
            rng: default_rng(),
            faults: Faults::default(),
            api_calls: 0,
            buckets: BTreeMap::new(),
            counters: BTreeMap::new(),
            regions,
            default_capacity: DEFAULT_CAPACITY,
            capacity: BTreeMap::new(),
            images: BTreeMap::new(),
            instances: BTreeMap::new(),
            volumes: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            addresses: BTreeMap::new(),
            templates: BTreeMap::new(),
            launch_configurations: BTreeMap::new(),
            groups: BTreeMap::new(),
            dns: BTreeMap::new(),
            client_tokens: BTreeMap::new(),
            scheduled: Vec::new(),
            next_seq: 0,
            agents_due: Vec::new(),
            log: Vec::new(),
        }
    }

    // ----- bookkeeping -----

    /// Appends a log entry at the current virtual time.
    pub fn record(&mut self, message: impl Into<String>) {
        self.log.push(LogEntry { at: self.now, millis: self.millis, message: message.into() });
    }

    /// The virtual clock in whole seconds.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The virtual clock in milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.now.0 * 1000 + u64::from(self.millis)
    }

    /// Restarts the world's random number generator from `seed` (faults drawn from now on
    /// replay exactly for the same seed and the same calls).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// The next id for a prefix: `i-0001`, `vol-0001`, ...
    pub fn next_id(&mut self, prefix: &str) -> String {
        let counter = self.counters.entry(prefix.to_string()).or_insert(0);
        *counter += 1;
        format!("{prefix}-{:04x}", *counter)
    }

    fn schedule(&mut self, after_secs: u64, transition: Transition) {
        self.schedule_at(self.now.plus_secs(after_secs), transition);
    }

    /// Schedules a transition at an absolute time (one in the past applies at the next advance).
    fn schedule_at(&mut self, at: Timestamp, transition: Transition) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pos = self.scheduled.partition_point(|s| (s.at, s.seq) <= (at, seq));
        self.scheduled.insert(pos, Scheduled { at, seq, transition });
    }

    fn check_region(&self, region: &Region) -> CloudResult<&RegionInfo> {
        self.regions.iter().find(|r| r.region == *region).ok_or_else(|| {
            err(K::Other("UnknownRegion".into()), format!("region {region} does not exist in this world"))
        })
    }

    fn check_zone(&self, region: &Region, zone: &Zone) -> CloudResult<()> {
        let known = self.regions.iter().any(|r| r.region == *region && r.zones.contains(zone));
        if known {
            Ok(())
        } else {
            Err(err(K::InvalidZoneNotFound, format!("Invalid availability zone: [{zone}]")))
        }
    }

    /// An instance the API knows (in the region, and visible: see [`Faults::invisible_secs`]).
    fn instance_in(&self, region: &Region, id: &InstanceId) -> CloudResult<&SimInstance> {
        let now_ms = self.now_ms();
        self.instances
            .get(id)
            .filter(|i| i.zone.region() == *region && i.is_visible(now_ms))
            .ok_or_else(|| err(K::InvalidInstanceIdNotFound, format!("The instance ID '{id}' does not exist")))
    }

    fn volume_in(&self, region: &Region, id: &VolumeId) -> CloudResult<&Volume> {
        self.volumes
            .get(id)
            .filter(|v| v.zone.region() == *region)
            .ok_or_else(|| err(K::InvalidVolumeNotFound, format!("The volume '{id}' does not exist.")))
    }

    fn address_in(&self, region: &Region, id: &AllocationId) -> CloudResult<&SimAddress> {
        self.addresses
            .get(id)
            .filter(|a| a.region == *region)
            .ok_or_else(|| err(K::InvalidAddressNotFound, format!("The allocation ID '{id}' does not exist")))
    }

    fn template_in(&self, region: &Region, id: &LaunchTemplateId) -> CloudResult<&SimTemplate> {
        self.templates.get(id).filter(|t| t.region == *region).ok_or_else(|| {
            err(
                K::InvalidLaunchTemplateNotFound,
                format!("The specified launch template, with template ID {id}, does not exist."),
            )
        })
    }

    fn group_in(&self, region: &Region, name: &AutoScalingGroupName) -> CloudResult<&SimGroup> {
        self.groups.get(name).filter(|g| g.region == *region).ok_or_else(|| {
            err(
                K::AutoScalingGroupNotFound,
                format!("AutoScalingGroup name not found - AutoScalingGroup '{name}' not found"),
            )
        })
    }

    fn launch_configuration_in(&self, region: &Region, name: &str) -> CloudResult<&LaunchConfiguration> {
        self.launch_configurations.get(region).and_then(|m| m.get(name)).ok_or_else(|| {
            err(
                K::Other("ValidationError".into()),
                format!("Launch configuration name not found - Launch configuration {name} not found"),
            )
        })
    }

    fn image_in(&self, region: &Region, id: &ImageId) -> CloudResult<&Image> {
        self.images
            .get(id)
            .filter(|i| i.region == *region)
            .ok_or_else(|| err(K::InvalidAmiIdNotFound, format!("The image id '[{id}]' does not exist")))
    }

    /// The instance settings a launch source stands for (the template version, `$Latest`
    /// resolved now, or the launch configuration's); errors if it does not exist.
    fn launch_spec(&self, region: &Region, launch: &LaunchSource) -> CloudResult<LaunchSpec> {
        match launch {
            LaunchSource::Template { id, version } => {
                let template = self.template_in(region, id)?;
                let version = version.unwrap_or_else(|| template.latest_version());
                template.version(version).cloned().ok_or_else(|| {
                    err(
                        K::InvalidParameterValue,
                        format!("The specified launch template version {version} of {id} does not exist"),
                    )
                })
            }
            LaunchSource::Configuration { name } => Ok(self.launch_configuration_in(region, name)?.spec.clone()),
        }
    }

    fn public_ip_of(&self, id: &InstanceId) -> Option<String> {
        self.addresses.values().find(|a| a.associated_to.as_ref() == Some(id)).map(|a| a.public_ip.clone())
    }

    fn instance_model(&self, i: &SimInstance) -> Instance {
        Instance {
            id: i.id.clone(),
            state: i.state,
            zone: i.zone.clone(),
            instance_type: i.instance_type.clone(),
            image: i.image.clone(),
            architecture: i.architecture,
            public_ip: self.public_ip_of(&i.id),
            launched_at: i.launched_at,
            tags: i.tags.clone(),
            group: i.group.clone(),
        }
    }

    fn address_model(a: &SimAddress) -> Address {
        Address {
            allocation_id: a.allocation_id.clone(),
            public_ip: a.public_ip.clone(),
            associated_to: a.associated_to.clone(),
            tags: a.tags.clone(),
        }
    }

    // ----- capacity -----

    fn live_count(&self, zone: &Zone, instance_type: &InstanceType) -> u32 {
        self.instances.values().filter(|i| i.is_live() && i.zone == *zone && i.instance_type == *instance_type).count()
            as u32
    }

    /// How many more instances of the type can launch in the zone.
    pub fn available_capacity(&self, zone: &Zone, instance_type: &InstanceType) -> u32 {
        match self.capacity.get(zone).and_then(|m| m.get(instance_type)) {
            Some(n) => *n,
            None => self.default_capacity.saturating_sub(self.live_count(zone, instance_type)),
        }
    }

    /// From now on, `n` more instances of the type can launch in the zone (each launch
    /// takes one; terminations do not give them back).
    pub fn set_capacity(&mut self, zone: &Zone, instance_type: &InstanceType, n: u32) {
        self.capacity.entry(zone.clone()).or_default().insert(instance_type.clone(), n);
        self.record(format!("capacity for {instance_type} in {zone} set to {n}"));
    }

    /// Drops an override: the pair falls back to the default capacity.
    pub fn clear_capacity(&mut self, zone: &Zone, instance_type: &InstanceType) {
        if let Some(m) = self.capacity.get_mut(zone) {
            m.remove(instance_type);
            if m.is_empty() {
                self.capacity.remove(zone);
            }
        }
        self.record(format!("capacity for {instance_type} in {zone} back to the default"));
    }

    fn consume_capacity(&mut self, zone: &Zone, instance_type: &InstanceType) {
        if let Some(n) = self.capacity.get_mut(zone).and_then(|m| m.get_mut(instance_type)) {
            *n = n.saturating_sub(1);
        }
    }

    // ----- DNS -----

    /// Sets (or, with no addresses, removes) a host's A records.
    pub fn set_dns(&mut self, host: &str, ips: Vec<String>) {
        if ips.is_empty() {
            self.dns.remove(host);
            self.record(format!("dns {host} removed"));
        } else {
            self.record(format!("dns {host} -> {}", ips.join(", ")));
            self.dns.insert(host.to_string(), ips);
        }
    }

    pub fn resolve_dns(&self, host: &str) -> Vec<String> {
        self.dns.get(host).cloned().unwrap_or_default()
    }

    // ----- images -----

    /// Registers an image (what bundle-ami will do); returns its id.
    pub fn add_image(&mut self, name: &str, architecture: Architecture, region: &Region, tags: Tags) -> ImageId {
        let id = ImageId::new(self.next_id("ami"));
        let image = Image {
            id: id.clone(),
            name: name.to_string(),
            architecture,
            region: region.clone(),
            created_at: self.now,
            state: ImageState::Available,
            tags,
        };
        self.images.insert(id.clone(), image);
        self.record(format!("registered image {id} ({name}, {architecture}) in {region}"));
        id
    }

    /// AMI names: 3-128 characters; letters, digits and `( ) [ ] . / - ' @ _` and spaces.
    fn check_image_name(name: &str) -> CloudResult<()> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
        if (3..=128).contains(&name.chars().count()) && name.chars().all(allowed) {
            Ok(())
        } else {
            Err(err(
                K::Other("InvalidAMIName.Malformed".into()),
                format!(
                    "AMI name '{name}' is invalid: AMI names must be between 3 and 128 characters long, and may contain \
                     letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'"
                ),
            ))
        }
    }

    /// AMI names are unique per region among images that are not `failed`.
    fn check_image_name_free(&self, region: &Region, name: &str) -> CloudResult<()> {
        Self::check_image_name(name)?;
        match self.images.values().find(|i| i.region == *region && i.name == name && i.state != ImageState::Failed) {
            Some(taken) => Err(err(
                K::Other("InvalidAMIName.Duplicate".into()),
                format!("AMI name {name} is already in use by AMI {}", taken.id),
            )),
            None => Ok(()),
        }
    }

    fn insert_pending_image(
        &mut self,
        region: &Region,
        name: &str,
        architecture: Architecture,
        tags: Tags,
        available_after: u64,
    ) -> Image {
        let id = ImageId::new(self.next_id("ami"));
        let image = Image {
            id: id.clone(),
            name: name.to_string(),
            architecture,
            region: region.clone(),
            created_at: self.now,
            state: ImageState::Pending,
            tags,
        };
        self.images.insert(id.clone(), image.clone());
        self.schedule(available_after, Transition::ImageAvailable(id));
        image
    }

    /// CreateImage: images a running or stopped instance. The image is `pending` for
    /// [`IMAGE_CREATE_SECS`], then `available`.
    pub fn create_image(
        &mut self,
        region: &Region,
        instance_id: &InstanceId,
        name: &str,
        tags: Tags,
    ) -> CloudResult<Image> {
        let instance = self.instance_in(region, instance_id)?;
        if !matches!(instance.state, InstanceState::Running | InstanceState::Stopped) {
            return Err(err(
                K::IncorrectInstanceState,
                format!(
                    "The instance '{instance_id}' is not in a valid state for this operation ({}).",
                    instance.state
                ),
            ));
        }
        let architecture = instance.architecture;
        self.check_image_name_free(region, name)?;
        let image = self.insert_pending_image(region, name, architecture, tags, IMAGE_CREATE_SECS);
        self.record(format!(
            "creating image {} ({name}, {architecture}) from {instance_id} in {region}: pending{}",
            image.id,
            tag_suffix(&image.tags)
        ));
        Ok(image)
    }

    /// CopyImage: copies an available image to `target_region` under `name` (tags are not
    /// copied, as with AWS's default `CopyImageTags=false`). The copy is `pending` for
    /// [`IMAGE_COPY_SECS`], then `available`.
    pub fn copy_image(
        &mut self,
        source_region: &Region,
        image_id: &ImageId,
        target_region: &Region,
        name: &str,
    ) -> CloudResult<Image> {
        self.check_region(target_region)?;
        let source = self.image_in(source_region, image_id)?;
        if source.state != ImageState::Available {
            return Err(err(
                K::IncorrectState,
                format!(
                    "Image {image_id} is not in a valid state for this operation (it is {}).",
                    image_state(source.state)
                ),
            ));
        }
        let architecture = source.architecture;
        self.check_image_name_free(target_region, name)?;
        let image = self.insert_pending_image(target_region, name, architecture, Tags::new(), IMAGE_COPY_SECS);
        self.record(format!(
            "copying image {image_id} ({source_region}) to {} ({name}) in {target_region}: pending",
            image.id
        ));
        Ok(image)
    }

    // ----- snapshots -----

    /// CreateSnapshot: the snapshot is `pending` for [`SNAPSHOT_SECS`], then `completed`
    /// (even if the volume is deleted meanwhile, as AWS allows).
    pub fn create_snapshot(&mut self, region: &Region, volume_id: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        let volume = self.volume_in(region, volume_id)?;
        if !matches!(volume.state, VolumeState::Available | VolumeState::InUse) {
            return Err(err(
                K::IncorrectState,
                format!("The volume '{volume_id}' is not in a valid state for this operation ({}).", volume.state),
            ));
        }
        let size_gb = volume.size_gb;
        let id = SnapshotId::new(self.next_id("snap"));
        let snapshot = SimSnapshot {
            id: id.clone(),
            region: region.clone(),
            volume: volume_id.clone(),
            size_gb,
            state: SnapshotState::Pending,
            created_at: self.now,
            tags,
        };
        self.record(format!(
            "creating snapshot {id} of volume {volume_id} ({size_gb} GiB): pending{}",
            tag_suffix(&snapshot.tags)
        ));
        let model = snapshot.to_model();
        self.snapshots.insert(id.clone(), snapshot);
        self.schedule(SNAPSHOT_SECS, Transition::SnapshotCompleted(id));
        Ok(model)
    }

    pub fn describe_snapshots(&self, region: &Region, filter: &Filter) -> Vec<Snapshot> {
        self.snapshots
            .values()
            .filter(|s| s.region == *region && filter.matches(s.id.as_str(), &s.tags))
            .map(SimSnapshot::to_model)
            .collect()
    }

    // ----- describe -----

    pub fn regions(&self) -> Vec<RegionInfo> {
        self.regions.clone()
    }

    /// DescribeInstances (instances still invisible under [`Faults::invisible_secs`] are left out).
    pub fn describe_instances(&self, region: &Region, filter: &Filter) -> Vec<Instance> {
        let now_ms = self.now_ms();
        self.instances
            .values()
            .filter(|i| i.zone.region() == *region && i.is_visible(now_ms) && filter.matches(i.id.as_str(), &i.tags))
            .map(|i| self.instance_model(i))
            .collect()
    }

    pub fn describe_volumes(&self, region: &Region, filter: &Filter) -> Vec<Volume> {
        self.volumes
            .values()
            .filter(|v| v.zone.region() == *region && filter.matches(v.id.as_str(), &v.tags))
            .cloned()
            .collect()
    }

    pub fn describe_addresses(&self, region: &Region, filter: &Filter) -> Vec<Address> {
        self.addresses
            .values()
            .filter(|a| a.region == *region && filter.matches(a.allocation_id.as_str(), &a.tags))
            .map(Self::address_model)
            .collect()
    }

    pub fn describe_images(&self, region: &Region) -> Vec<Image> {
        self.images.values().filter(|i| i.region == *region).cloned().collect()
    }

    pub fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> Vec<LaunchTemplate> {
        self.templates
            .values()
            .filter(|t| t.region == *region && filter.matches(t.id.as_str(), &t.tags))
            .map(SimTemplate::to_model)
            .collect()
    }

    pub fn describe_auto_scaling_groups(&self, region: &Region, filter: &Filter) -> Vec<AutoScalingGroup> {
        self.groups
            .values()
            .filter(|g| g.region == *region && filter.matches(g.name.as_str(), &g.tags))
            .map(SimGroup::to_model)
            .collect()
    }

    /// The live instance (running preferred, then newest) tagged `Name=<server>`, in any region.
    pub fn find_server_instance(&self, server: &ServerName) -> Option<Instance> {
        self.instances
            .values()
            .filter(|i| i.state.is_alive() && i.tags.get(NAME_TAG).map(String::as_str) == Some(server.as_str()))
            .max_by_key(|i| (i.state == InstanceState::Running, i.launched_at, i.id.clone()))
            .map(|i| self.instance_model(i))
    }

    /// The id of [`World::find_server_instance`] (for `cellar sim terminate SERVER`).
    pub fn server_instance(&self, server: &ServerName) -> Option<InstanceId> {
        self.find_server_instance(server).map(|i| i.id)
    }

    // ----- volumes -----

    pub fn create_volume(&mut self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        self.check_zone(region, &request.zone)?;
        if !(catalog::EBS_MIN_GB..=catalog::EBS_MAX_GB).contains(&request.size_gb) {
            return Err(err(
                K::InvalidParameterValue,
                format!(
                    "Volume of {}GiB is outside the allowed range {}-{}GiB for gp3",
                    request.size_gb,
                    catalog::EBS_MIN_GB,
                    catalog::EBS_MAX_GB
                ),
            ));
        }
        let id = VolumeId::new(self.next_id("vol"));
        let volume = Volume {
            id: id.clone(),
            state: VolumeState::Creating,
            zone: request.zone,
            size_gb: request.size_gb,
            attached_to: None,
            device: None,
            tags: request.tags,
        };
        self.record(format!(
            "created volume {id} ({} GiB) in {}{}",
            volume.size_gb,
            volume.zone,
            tag_suffix(&volume.tags)
        ));
        self.volumes.insert(id.clone(), volume.clone());
        self.schedule(VOLUME_CREATE_SECS, Transition::VolumeAvailable(id));
        Ok(volume)
    }

    pub fn delete_volume(&mut self, region: &Region, id: &VolumeId) -> CloudResult<()> {
        let volume = self.volume_in(region, id)?;
        match volume.state {
            VolumeState::Available => {}
            VolumeState::InUse => {
                let holder = volume.attached_to.as_ref().map(|i| i.to_string()).unwrap_or_default();
                return Err(err(K::VolumeInUse, format!("Volume {id} is currently attached to {holder}")));
            }
            other => {
                return Err(err(K::IncorrectState, format!("The volume '{id}' is '{other}'")));
            }
        }
        self.volumes.remove(id);
        self.record(format!("deleted volume {id}"));
        Ok(())
    }

    pub fn attach_volume(
        &mut self,
        region: &Region,
        volume_id: &VolumeId,
        instance_id: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        let volume = self.volume_in(region, volume_id)?;
        let instance = self.instance_in(region, instance_id)?;
        if volume.zone != instance.zone {
            return Err(err(
                K::VolumeZoneMismatch,
                format!(
                    "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}' ({} vs {})",
                    volume.zone, instance.zone
                ),
            ));
        }
        match volume.state {
            VolumeState::Available => {}
            VolumeState::InUse => {
                return Err(err(K::VolumeInUse, format!("{volume_id} is already attached to an instance")));
            }
            other => {
                return Err(err(
                    K::IncorrectState,
                    format!("The volume '{volume_id}' is not 'available' (it is '{other}')"),
                ));
            }
        }
        if !matches!(instance.state, InstanceState::Running | InstanceState::Stopped) {
            return Err(err(
                K::IncorrectInstanceState,
                format!(
                    "The instance '{instance_id}' is not in a valid state for this operation ({}).",
                    instance.state
                ),
            ));
        }
        let device_taken = self
            .volumes
            .values()
            .any(|v| v.attached_to.as_ref() == Some(instance_id) && v.device.as_deref() == Some(device));
        if device_taken {
            return Err(err(K::InvalidParameterValue, format!("Attachment point {device} is already in use")));
        }
        let volume = self.volumes.get_mut(volume_id).expect("checked above");
        volume.state = VolumeState::InUse;
        volume.attached_to = Some(instance_id.clone());
        volume.device = Some(device.to_string());
        self.record(format!("attached volume {volume_id} to {instance_id} as {device}"));
        Ok(())
    }

    pub fn detach_volume(
        &mut self,
        region: &Region,
        volume_id: &VolumeId,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        let volume = self.volume_in(region, volume_id)?;
        if volume.attached_to.as_ref() != Some(instance_id) {
            return Err(err(
                K::IncorrectState,
                format!("Volume '{volume_id}' is not attached to instance '{instance_id}' (it is '{}')", volume.state),
            ));
        }
        self.release_volume(volume_id);
        self.record(format!("detached volume {volume_id} from {instance_id}"));
        Ok(())
    }

    fn release_volume(&mut self, volume_id: &VolumeId) {
        if let Some(volume) = self.volumes.get_mut(volume_id) {
            volume.state = VolumeState::Available;
            volume.attached_to = None;
            volume.device = None;
        }
    }

    // ----- addresses -----

    pub fn allocate_address(&mut self, region: &Region, tags: Tags) -> CloudResult<Address> {
        self.check_region(region)?;
        let id = self.next_id("eipalloc");
        let n = self.counters["eipalloc"];
        let public_ip = format!("198.51.{}.{}", 100 + n / 256, n % 256);
        let address = SimAddress {
            allocation_id: AllocationId::new(id.clone()),
            region: region.clone(),
            public_ip: public_ip.clone(),
            associated_to: None,
            tags,
        };
        self.record(format!("allocated address {id} ({public_ip}) in {region}{}", tag_suffix(&address.tags)));
        let model = Self::address_model(&address);
        self.addresses.insert(address.allocation_id.clone(), address);
        Ok(model)
    }

    pub fn release_address(&mut self, region: &Region, id: &AllocationId) -> CloudResult<()> {
        let address = self.address_in(region, id)?;
        if let Some(instance) = &address.associated_to {
            return Err(err(
                K::IncorrectState,
                format!(
                    "The address {} ({id}) is associated with {instance}; disassociate it first",
                    address.public_ip
                ),
            ));
        }
        let ip = address.public_ip.clone();
        self.addresses.remove(id);
        self.record(format!("released address {id} ({ip})"));
        Ok(())
    }

    pub fn associate_address(
        &mut self,
        region: &Region,
        id: &AllocationId,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        self.address_in(region, id)?;
        let instance = self.instance_in(region, instance_id)?;
        if !matches!(instance.state, InstanceState::Running | InstanceState::Stopped) {
            return Err(err(
                K::IncorrectInstanceState,
                format!(
                    "The instance '{instance_id}' is not in a valid state for this operation ({}).",
                    instance.state
                ),
            ));
        }
        // An instance has one public address: another EIP on it is disassociated.
        let displaced: Vec<AllocationId> = self
            .addresses
            .values()
            .filter(|a| a.associated_to.as_ref() == Some(instance_id) && a.allocation_id != *id)
            .map(|a| a.allocation_id.clone())
            .collect();
        for other in displaced {
            self.addresses.get_mut(&other).expect("listed above").associated_to = None;
            self.record(format!("disassociated address {other} from {instance_id} (replaced)"));
        }
        let address = self.addresses.get_mut(id).expect("checked above");
        let previous = address.associated_to.replace(instance_id.clone());
        let ip = address.public_ip.clone();
        match previous {
            Some(prev) if prev == *instance_id => {}
            Some(prev) => self.record(format!("moved address {id} ({ip}) from {prev} to {instance_id}")),
            None => self.record(format!("associated address {id} ({ip}) with {instance_id}")),
        }
        Ok(())
    }

    // ----- tags -----

    fn tags_of_mut(&mut self, region: &Region, resource: &str) -> CloudResult<&mut Tags> {
        let not_found = |kind: K, what: &str| err(kind, format!("The {what} '{resource}' does not exist"));
        if resource.starts_with("i-") {
            let id = InstanceId::new(resource);
            self.instance_in(region, &id)?;
            Ok(&mut self.instances.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("vol-") {
            let id = VolumeId::new(resource);
            self.volume_in(region, &id)?;
            Ok(&mut self.volumes.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("eipalloc-") {
            let id = AllocationId::new(resource);
            self.address_in(region, &id)?;
            Ok(&mut self.addresses.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("lt-") {
            let id = LaunchTemplateId::new(resource);
            self.template_in(region, &id)?;
            Ok(&mut self.templates.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("snap-") {
            let id = SnapshotId::new(resource);
            match self.snapshots.get_mut(&id).filter(|s| s.region == *region) {
                Some(snapshot) => Ok(&mut snapshot.tags),
                None => Err(err(
                    K::Other("InvalidSnapshot.NotFound".into()),
                    format!("The snapshot '{resource}' does not exist."),
                )),
            }
        } else if resource.starts_with("ami-") {
            let id = ImageId::new(resource);
            match self.images.get_mut(&id).filter(|i| i.region == *region) {
                Some(image) => Ok(&mut image.tags),
                None => Err(not_found(K::InvalidAmiIdNotFound, "image id")),
            }
        } else {
            Err(err(K::InvalidParameterValue, format!("Invalid id: \"{resource}\"")))
        }
    }

    pub fn create_tags(&mut self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        let text = tag_suffix(&tags);
        target.extend(tags);
        self.record(format!("tagged {resource}{text}"));
        Ok(())
    }

    pub fn delete_tags(&mut self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        for key in &keys {
            target.remove(key);
        }
        self.record(format!("removed tags {} from {resource}", keys.join(", ")));
        Ok(())
    }

    // ----- instances -----

    pub fn run_instance(&mut self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        if !request.client_token.is_empty() {
            if let Some(id) = self.client_tokens.get(&request.client_token) {
                if let Some(existing) = self.instances.get(id) {
                    return Ok(self.instance_model(existing));
                }
            }
        }
        let spec =
            LaunchSpec { instance_type: request.instance_type, image: request.image, user_data: request.user_data };
        let token = Some(request.client_token).filter(|t| !t.is_empty());
        let id = self.launch(region, &request.zone, &spec, request.tags, None, token)?;
        Ok(self.instance_model(&self.instances[&id]))
    }

    /// Validates and launches one instance (pending; running after [`PENDING_SECS`] or
    /// [`Faults::boot_secs`]; invisible to the API for [`Faults::invisible_secs`]).
    fn launch(
        &mut self,
        region: &Region,
        zone: &Zone,
        spec: &LaunchSpec,
        tags: Tags,
        group: Option<AutoScalingGroupName>,
        client_token: Option<String>,
    ) -> CloudResult<InstanceId> {
        self.check_zone(region, zone)?;
        let image = self.image_in(region, &spec.image)?;
        if image.state != ImageState::Available {
            return Err(err(
                K::Other("InvalidAMIID.Unavailable".into()),
                format!("The image id '[{}]' is not available (it is {})", spec.image, image_state(image.state)),
            ));
        }
        let architecture = image.architecture;
        let instance_type = &spec.instance_type;
        let type_archs = catalog::instance_type_architectures(instance_type.as_str()).ok_or_else(|| {
            err(K::InvalidParameterValue, format!("Invalid value '{instance_type}' for InstanceType."))
        })?;
        if !type_archs.contains(&architecture) {
            let names: Vec<&str> = type_archs.iter().map(|a| a.as_str()).collect();
            return Err(err(
                K::InvalidParameterValue,
                format!(
                    "The architecture '{}' of the specified instance type does not match the architecture '{architecture}' \
                     of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.",
                    names.join(", ")
                ),
            ));
        }
        if self.available_capacity(zone, instance_type) == 0 {
            return Err(err(
                K::InsufficientInstanceCapacity,
                format!(
                    "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested ({zone})"
                ),
            ));
        }
        self.consume_capacity(zone, instance_type);
        let id = InstanceId::new(self.next_id("i"));
        let instance = SimInstance {
            id: id.clone(),
            state: InstanceState::Pending,
            zone: zone.clone(),
            instance_type: instance_type.clone(),
            image: spec.image.clone(),
            architecture,
            launched_at: self.now,
            tags,
            group: group.clone(),
            user_data: spec.user_data.clone(),
            client_token: client_token.clone(),
            visible_at_ms: match self.faults.invisible_secs {
                0 => None,
                secs => Some(self.now_ms() + secs * 1000),
            },
        };
        let by = group.as_ref().map(|g| format!(" by group {g}")).unwrap_or_default();
        self.record(format!(
            "launched {id} ({instance_type}, {}) in {zone}{by}{}",
            spec.image,
            tag_suffix(&instance.tags)
        ));
        self.instances.insert(id.clone(), instance);
        if let Some(token) = client_token {
            self.client_tokens.insert(token, id.clone());
        }
        self.schedule(self.faults.boot_secs.unwrap_or(PENDING_SECS), Transition::InstanceRunning(id.clone()));
        Ok(id)
    }

    pub fn terminate_instance(&mut self, region: &Region, id: &InstanceId) -> CloudResult<()> {
        self.instance_in(region, id)?;
        self.begin_termination(id, "TerminateInstances");
        Ok(())
    }

    /// AWS terminates the instance on its own (hardware retirement, spot, a bad day).
    pub fn terminate_instance_by_amazon(&mut self, id: &InstanceId) -> CloudResult<()> {
        if !self.instances.contains_key(id) {
            return Err(err(K::InvalidInstanceIdNotFound, format!("The instance ID '{id}' does not exist")));
        }
        self.begin_termination(id, "terminated by Amazon");
        Ok(())
    }

    fn begin_termination(&mut self, id: &InstanceId, cause: &str) {
        let instance = self.instances.get_mut(id).expect("caller checked");
        if !instance.state.is_alive() {
            return; // already shutting down or terminated: TerminateInstances is idempotent
        }
        let old = instance.state;
        instance.state = InstanceState::ShuttingDown;
        self.agents_due.retain(|a| a != id);
        self.record(format!("{id}: {old} -> shutting-down ({cause})"));
        self.schedule(SHUTDOWN_SECS, Transition::InstanceTerminated(id.clone()));
    }

    // ----- launch templates -----

    pub fn create_launch_template(
        &mut self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        self.check_region(region)?;
        if self.templates.values().any(|t| t.region == *region && t.name == request.name) {
            return Err(err(K::AlreadyExists, format!("Launch template name already in use: {}", request.name)));
        }
        let id = LaunchTemplateId::new(self.next_id("lt"));
        let template = SimTemplate {
            id: id.clone(),
            name: request.name,
            region: region.clone(),
            versions: vec![request.spec],
            default_version: 1,
            tags: request.tags,
        };
        self.record(format!("created launch template {id} ({}) version 1", template.name));
        let model = template.to_model();
        self.templates.insert(id, template);
        Ok(model)
    }

    /// Adds a version; returns the template with its new latest version.
    pub fn create_launch_template_version(
        &mut self,
        region: &Region,
        id: &LaunchTemplateId,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchTemplate> {
        self.template_in(region, id)?;
        let template = self.templates.get_mut(id).expect("checked");
        template.versions.push(spec);
        let version = template.latest_version();
        let model = template.to_model();
        self.record(format!("created launch template {id} version {version}"));
        Ok(model)
    }

    pub fn delete_launch_template(&mut self, region: &Region, id: &LaunchTemplateId) -> CloudResult<()> {
        self.template_in(region, id)?;
        let uses = |g: &&SimGroup| matches!(&g.launch, LaunchSource::Template { id: t, .. } if t == id);
        if let Some(group) = self.groups.values().find(uses) {
            return Err(err(
                K::ResourceInUse,
                format!("Launch template {id} is in use by auto scaling group {}", group.name),
            ));
        }
        self.templates.remove(id);
        self.record(format!("deleted launch template {id}"));
        Ok(())
    }

    // ----- launch configurations -----

    pub fn describe_launch_configurations(&self, region: &Region) -> Vec<LaunchConfiguration> {
        self.launch_configurations.get(region).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// CreateLaunchConfiguration: immutable, named settings (names are unique per region).
    pub fn create_launch_configuration(
        &mut self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        self.check_region(region)?;
        let validation = |message: String| err(K::Other("ValidationError".into()), message);
        if name.is_empty() || name.chars().count() > 255 {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'launchConfigurationName' failed to satisfy constraint: \
                 Member must have length between 1 and 255"
            )));
        }
        if self.launch_configurations.get(region).is_some_and(|m| m.contains_key(name)) {
            return Err(err(
                K::AlreadyExists,
                format!("Launch Configuration by this name already exists - A launch configuration already exists with the name {name}"),
            ));
        }
        if let Err(e) = self.image_in(region, &spec.image) {
            return Err(validation(format!("AMI {} is invalid: {}", spec.image, e.message)));
        }
        if catalog::instance_type_architectures(spec.instance_type.as_str()).is_none() {
            return Err(validation(format!("Invalid instance type: {}", spec.instance_type)));
        }
        let configuration = LaunchConfiguration { name: name.to_string(), spec, created_at: self.now };
        self.record(format!(
            "created launch configuration {name} ({}, {}) in {region}",
            configuration.spec.instance_type, configuration.spec.image
        ));
        self.launch_configurations.entry(region.clone()).or_default().insert(name.to_string(), configuration.clone());
        Ok(configuration)
    }

    /// DeleteLaunchConfiguration: refused (ResourceInUse) while a group uses it.
    pub fn delete_launch_configuration(&mut self, region: &Region, name: &str) -> CloudResult<()> {
        self.launch_configuration_in(region, name)?;
        let uses = |g: &&SimGroup| {
            g.region == *region && matches!(&g.launch, LaunchSource::Configuration { name: n } if n == name)
        };
        if let Some(group) = self.groups.values().find(uses) {
            return Err(err(
                K::ResourceInUse,
                format!(
                    "Cannot delete launch configuration {name} because it is attached to AutoScalingGroup {}",
                    group.name
                ),
            ));
        }
        if let Some(m) = self.launch_configurations.get_mut(region) {
            m.remove(name);
            if m.is_empty() {
                self.launch_configurations.remove(region);
            }
        }
        self.record(format!("deleted launch configuration {name} in {region}"));
        Ok(())
    }

    // ----- auto scaling groups -----

    pub fn create_auto_scaling_group(
        &mut self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.check_region(region)?;
        if self.groups.contains_key(&request.name) {
            return Err(err(
                K::AlreadyExists,
                format!(
                    "AutoScalingGroup by this name already exists - A group with the name {} already exists",
                    request.name
                ),
            ));
        }
        self.launch_spec(region, &request.launch)?;
        if request.zones.is_empty() {
            return Err(err(K::InvalidParameterValue, "At least one Availability Zone is required"));
        }
        for zone in &request.zones {
            self.check_zone(region, zone)?;
        }
        if !(request.min <= request.desired && request.desired <= request.max) {
            return Err(err(
                K::InvalidParameterValue,
                format!(
                    "Desired capacity:{} must be between the specified min size:{} and max size:{}",
                    request.desired, request.min, request.max
                ),
            ));
        }
        let group = SimGroup {
            name: request.name.clone(),
            region: region.clone(),
            launch: request.launch,
            zones: request.zones,
            min: request.min,
            max: request.max,
            desired: request.desired,
            instances: Vec::new(),
            activities: Vec::new(),
            tags: request.tags,
            retry_at: None,
        };
        self.record(format!(
            "created auto scaling group {} (min {} max {} desired {}) in {} from {}",
            group.name,
            group.min,
            group.max,
            group.desired,
            zone_list(&group.zones),
            group.launch
        ));
        self.groups.insert(request.name, group);
        Ok(())
    }

    pub fn attach_instance_to_group(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        let group = self.group_in(region, name)?;
        let instance = self.instance_in(region, instance_id)?;
        if !instance.is_live() {
            return Err(err(
                K::IncorrectInstanceState,
                format!("Instance {instance_id} is not in correct state ({})", instance.state),
            ));
        }
        if !group.zones.contains(&instance.zone) {
            return Err(err(
                K::InvalidParameterValue,
                format!("Instance {instance_id} is in {}, not in an Availability Zone of group {name}", instance.zone),
            ));
        }
        match &instance.group {
            Some(g) if g == name && group.instances.contains(instance_id) => return Ok(()),
            Some(g) if self.groups.contains_key(g) && g != name => {
                return Err(err(
                    K::InvalidParameterValue,
                    format!("The instance {instance_id} is already part of Auto Scaling group {g}"),
                ));
            }
            _ => {}
        }
        let live_others = group
            .instances
            .iter()
            .filter(|i| *i != instance_id && self.instances.get(*i).is_some_and(SimInstance::is_live))
            .count() as u32;
        let desired = group.desired.max(live_others + 1);
        if desired > group.max {
            return Err(err(
                K::InvalidParameterValue,
                format!("Attaching {instance_id} would raise the desired capacity of {name} to {desired}, above its maximum {}", group.max),
            ));
        }
        let group = self.groups.get_mut(name).expect("checked");
        group.desired = desired;
        if group.min == 0 {
            group.min = 1.min(desired);
        }
        group.instances.push(instance_id.clone());
        let (min, desired) = (group.min, group.desired);
        self.instances.get_mut(instance_id).expect("checked").group = Some(name.clone());
        self.push_activity(name, true, format!("Attaching an existing EC2 instance: {instance_id}"), None);
        self.record(format!("attached {instance_id} to group {name} (min {min}, desired {desired})"));
        Ok(())
    }

    /// UpdateAutoScalingGroup. Unset fields stay as they are, except that (as AWS does) a
    /// new min above the desired capacity raises it and a new max below it lowers it. An
    /// explicit desired capacity must lie within min..=max. Lowering the desired capacity
    /// below the live instances terminates the newest extras right away; raising it launches
    /// on the next reconciliation (when time advances). A new launch source applies to
    /// later launches only.
    pub fn update_auto_scaling_group(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        let group = self.group_in(region, name)?;
        let min = update.min.unwrap_or(group.min);
        let max = update.max.unwrap_or(group.max);
        if min > max {
            return Err(err(
                K::InvalidParameterValue,
                format!("Max bound, {max}, must be greater than or equal to min bound, {min}"),
            ));
        }
        let desired = match update.desired {
            Some(d) if !(min..=max).contains(&d) => {
                return Err(err(
                    K::InvalidParameterValue,
                    format!("Desired capacity:{d} must be between the specified min size:{min} and max size:{max}"),
                ));
            }
            Some(d) => d,
            None => group.desired.clamp(min, max),
        };
        if let Some(launch) = &update.launch {
            self.launch_spec(region, launch)?;
        }
        let group = self.groups.get_mut(name).expect("checked");
        let before = (group.min, group.max, group.desired);
        (group.min, group.max, group.desired) = (min, max, desired);
        let relaunch = update.launch.filter(|l| *l != group.launch);
        if let Some(launch) = &relaunch {
            group.launch = launch.clone();
        }
        if before != (min, max, desired) {
            self.record(format!(
                "group {name}: min {} max {} desired {} -> min {min} max {max} desired {desired}",
                before.0, before.1, before.2
            ));
        }
        if let Some(launch) = relaunch {
            self.record(format!("group {name}: new instances launch from {launch}"));
        }
        self.drop_lost_members(name);
        self.scale_in(name);
        Ok(())
    }

    pub fn delete_auto_scaling_group(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()> {
        let group = self.group_in(region, name)?;
        let members: Vec<InstanceId> = group
            .instances
            .iter()
            .filter(|i| self.instances.get(*i).is_some_and(|i| i.state.is_alive()))
            .cloned()
            .collect();
        if !members.is_empty() && !force {
            return Err(err(
                K::ResourceInUse,
                "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
            ));
        }
        for id in &members {
            self.begin_termination(id, &format!("force-deleting group {name}"));
        }
        self.groups.remove(name);
        self.record(format!("deleted auto scaling group {name}"));
        Ok(())
    }

    fn push_activity(
        &mut self,
        name: &AutoScalingGroupName,
        succeeded: bool,
        description: String,
        failure: Option<(String, Vec<Zone>)>,
    ) {
        let at = self.now;
        if let Some(group) = self.groups.get_mut(name) {
            let (error_code, zones) = failure.unzip();
            group.activities.push(ScalingActivity {
                at,
                succeeded,
                description,
                error_code,
                zones: zones.unwrap_or_default(),
            });
            let excess = group.activities.len().saturating_sub(MAX_ACTIVITIES);
            group.activities.drain(..excess);
        }
    }

    fn reconcile_groups(&mut self) {
        let names: Vec<AutoScalingGroupName> = self.groups.keys().cloned().collect();
        for name in names {
            self.reconcile_group(&name);
        }
    }

    /// Drops members that are no longer pending/running, terminates extras above the
    /// desired capacity and launches replacements.
    fn reconcile_group(&mut self, name: &AutoScalingGroupName) {
        if !self.groups.contains_key(name) {
            return;
        }
        self.drop_lost_members(name);
        self.scale_in(name);
        let group = &self.groups[name];
        if group.retry_at.is_some_and(|t| t > self.now) {
            return;
        }
        let missing = group.desired.saturating_sub(group.instances.len() as u32);
        for _ in 0..missing {
            if !self.group_launch(name) {
                break;
            }
        }
    }

    /// Takes members that are no longer pending/running out of the group.
    fn drop_lost_members(&mut self, name: &AutoScalingGroupName) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let (keep, lost): (Vec<InstanceId>, Vec<InstanceId>) =
            group.instances.iter().cloned().partition(|id| self.instances.get(id).is_some_and(SimInstance::is_live));
        if !lost.is_empty() {
            self.groups.get_mut(name).expect("exists").instances = keep;
            for id in lost {
                let state = self.instances.get(&id).map(|i| i.state.as_str()).unwrap_or("gone");
                self.push_activity(
                    name,
                    true,
                    format!("Terminating EC2 instance: {id} (taken out of service: the instance is {state})"),
                    None,
                );
                self.record(format!("group {name}: {id} is {state}; removed from the group"));
            }
        }
    }

    /// With more live members than the desired capacity, terminates the newest extras and
    /// takes them out of the group (members must be live: call [`Self::drop_lost_members`] first).
    fn scale_in(&mut self, name: &AutoScalingGroupName) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let desired = group.desired;
        let mut members: Vec<(Timestamp, InstanceId)> =
            group.instances.iter().map(|id| (self.instances[id].launched_at, id.clone())).collect();
        let count = members.len() as u32;
        if count <= desired {
            return;
        }
        members.sort();
        let extras: Vec<InstanceId> = members.split_off(desired as usize).into_iter().rev().map(|(_, id)| id).collect();
        for id in extras {
            self.groups.get_mut(name).expect("exists").instances.retain(|i| *i != id);
            self.push_activity(name, true, format!("Terminating EC2 instance: {id}"), None);
            self.record(format!(
                "group {name}: {count} live instance(s) for desired capacity {desired}; terminating {id} (newest first)"
            ));
            self.begin_termination(&id, &format!("scale-in of group {name}"));
        }
    }

    /// One launch attempt for a group; false (and a retry scheduled) when it failed.
    fn group_launch(&mut self, name: &AutoScalingGroupName) -> bool {
        let group = &self.groups[name];
        let region = group.region.clone();
        let zones = group.zones.clone();
        let tags = group.tags.clone();
        let spec = self.launch_spec(&region, &group.launch);
        let mut failure = None;
        match spec {
            Ok(spec) => {
                for zone in &zones {
                    match self.launch(&region, zone, &spec, tags.clone(), Some(name.clone()), None) {
                        Ok(id) => {
                            let group = self.groups.get_mut(name).expect("exists");
                            group.instances.push(id.clone());
                            group.retry_at = None;
                            self.push_activity(name, true, format!("Launching a new EC2 instance: {id}"), None);
                            return true;
                        }
                        Err(e) => failure = Some(e),
                    }
                }
            }
            Err(e) => failure = Some(e),
        }
        let e = failure.expect("a launch failed or there were zones");
        let description = format!(
            "Launching a new EC2 instance. Status Reason: {}: {}. Launching EC2 instance failed in {}.",
            e.kind.code(),
            e.message,
            zone_list(&zones)
        );
        self.record(format!("group {name}: {description} Retrying in {GROUP_RETRY_SECS} s."));
        self.push_activity(name, false, description, Some((e.kind.code().to_string(), zones.clone())));
        self.groups.get_mut(name).expect("exists").retry_at = Some(self.now.plus_secs(GROUP_RETRY_SECS));
        self.schedule(GROUP_RETRY_SECS, Transition::GroupRetry(name.clone()));
        false
    }

    // ----- time -----

    /// Applies one transition; true when an agent became due.
    fn apply(&mut self, transition: Transition) -> bool {
        match transition {
            Transition::InstanceRunning(id) => {
                let Some(instance) = self.instances.get_mut(&id) else {
                    return false;
                };
                if instance.state != InstanceState::Pending {
                    return false;
                }
                instance.state = InstanceState::Running;
                let agent = parse_user_data(&instance.user_data).is_some();
                self.record(format!("{id}: pending -> running"));
                if agent {
                    self.agents_due.push(id);
                }
                agent
            }
            Transition::InstanceTerminated(id) => {
                let Some(instance) = self.instances.get_mut(&id) else {
                    return false;
                };
                if instance.state != InstanceState::ShuttingDown {
                    return false;
                }
                instance.state = InstanceState::Terminated;
                self.record(format!("{id}: shutting-down -> terminated"));
                let volumes: Vec<VolumeId> = self
                    .volumes
                    .values()
                    .filter(|v| v.attached_to.as_ref() == Some(&id))
                    .map(|v| v.id.clone())
                    .collect();
                for volume in volumes {
                    self.release_volume(&volume);
                    self.record(format!("detached volume {volume} from terminated {id}"));
                }
                let addresses: Vec<AllocationId> = self
                    .addresses
                    .values()
                    .filter(|a| a.associated_to.as_ref() == Some(&id))
                    .map(|a| a.allocation_id.clone())
                    .collect();
                for address in addresses {
                    self.addresses.get_mut(&address).expect("listed").associated_to = None;
                    self.record(format!("disassociated address {address} from terminated {id}"));
                }
                self.schedule(TERMINATED_VISIBLE_SECS, Transition::InstanceRemoved(id));
                false
            }
            Transition::InstanceRemoved(id) => {
                if self.instances.get(&id).is_some_and(|i| i.state == InstanceState::Terminated) {
                    self.instances.remove(&id);
                    self.client_tokens.retain(|_, i| *i != id);
                    self.record(format!("{id}: no longer visible"));
                }
                false
            }
            Transition::VolumeAvailable(id) => {
                if let Some(volume) = self.volumes.get_mut(&id) {
                    if volume.state == VolumeState::Creating {
                        volume.state = VolumeState::Available;
                        self.record(format!("volume {id}: creating -> available"));
                    }
                }
                false
            }
            Transition::ImageAvailable(id) => {
                if let Some(image) = self.images.get_mut(&id) {
                    if image.state == ImageState::Pending {
                        image.state = ImageState::Available;
                        let name = image.name.clone();
                        self.record(format!("image {id} ({name}): pending -> available"));
                    }
                }
                false
            }
            Transition::SnapshotCompleted(id) => {
                if let Some(snapshot) = self.snapshots.get_mut(&id) {
                    if snapshot.state == SnapshotState::Pending {
                        snapshot.state = SnapshotState::Completed;
                        self.record(format!("snapshot {id}: pending -> completed"));
                    }
                }
                false
            }
            Transition::GroupRetry(name) => {
                if let Some(group) = self.groups.get_mut(&name) {
                    if group.retry_at.is_some_and(|t| t <= self.now) {
                        group.retry_at = None;
                    }
                }
                false
            }
            Transition::RandomTermination => {
                self.random_termination();
                false
            }
            Transition::FaultCapacity(change) => {
                self.scheduled_capacity_change(change);
                false
            }
            Transition::FaultTermination(termination) => {
                self.scheduled_termination(termination);
                false
            }
        }
    }

    /// Moves the clock to `t`, applying due transitions in (time, seq) order and letting
    /// groups reconcile after each. Returns early ([`Advance::AgentsDue`]) right after an
    /// instance with agent user data reaches `running`; call again to go on.
    pub fn advance_to(&mut self, t: Timestamp) -> Advance {
        // Groups act when time moves on a whole second or something is due (a call's
        // sub-second latency alone does not make them look again).
        if t > self.now || self.scheduled.first().is_some_and(|s| s.at <= t) {
            self.reconcile_groups();
        }
        while self.scheduled.first().is_some_and(|s| s.at <= t) {
            let next = self.scheduled.remove(0);
            if next.at > self.now {
                self.now = next.at;
                self.millis = 0;
            }
            let agent_due = self.apply(next.transition);
            self.reconcile_groups();
            if agent_due {
                return Advance::AgentsDue;
            }
        }
        if t > self.now {
            self.now = t;
            self.millis = 0;
            self.reconcile_groups();
        }
        Advance::Reached
    }

    /// Advances without running agents (they stay queued in [`World::agents_due`]).
    pub fn advance_clock_to(&mut self, t: Timestamp) {
        while self.advance_to(t) == Advance::AgentsDue {}
    }

    /// [`World::advance_to`] with a target in milliseconds since the epoch.
    pub fn advance_to_ms(&mut self, target_ms: u64) -> Advance {
        if self.advance_to(Timestamp(target_ms / 1000)) == Advance::AgentsDue {
            return Advance::AgentsDue;
        }
        if target_ms > self.now_ms() {
            self.millis = (target_ms % 1000) as u16;
        }
        Advance::Reached
    }

    /// Moves the clock `ms` milliseconds on without running agents (they stay queued in
    /// [`World::agents_due`]).
    pub fn advance_by_ms(&mut self, ms: u64) {
        let target = self.now_ms() + ms;
        while self.advance_to_ms(target) == Advance::AgentsDue {}
    }

    /// The structural invariants a hand-edited state file could break and the world's code
    /// relies on: every template has a version, every group a zone and existing members,
    /// attachments and associations name existing instances. The first broken one, in words.
    pub fn check_consistency(&self) -> Result<(), String> {
        for t in self.templates.values() {
            if t.versions.is_empty() {
                return Err(format!("launch template {} has no versions", t.id));
            }
        }
        for g in self.groups.values() {
            if g.zones.is_empty() {
                return Err(format!("auto scaling group {} has no zones", g.name));
            }
            if let Some(missing) = g.instances.iter().find(|i| !self.instances.contains_key(*i)) {
                return Err(format!("auto scaling group {} lists instance {missing}, which does not exist", g.name));
            }
        }
        for v in self.volumes.values() {
            if let Some(i) = v.attached_to.as_ref().filter(|i| !self.instances.contains_key(*i)) {
                return Err(format!("volume {} is attached to instance {i}, which does not exist", v.id));
            }
        }
        for a in self.addresses.values() {
            if let Some(i) = a.associated_to.as_ref().filter(|i| !self.instances.contains_key(*i)) {
                return Err(format!(
                    "address {} is associated with instance {i}, which does not exist",
                    a.allocation_id
                ));
            }
        }
        Ok(())
    }

    // ----- rendering -----

    /// A readable multi-line summary (`cellar sim show`).
    pub fn render_summary(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "clock: {} ({})", stamp(self.now, self.millis, self.millis != 0), self.now.0);
        let faults = self.faults.describe();
        if faults.is_empty() {
            let _ = writeln!(out, "faults: none");
        } else {
            let _ = writeln!(out, "faults:");
            for line in faults {
                let _ = writeln!(out, "  {line}");
            }
        }
        if self.api_calls > 0 {
            let _ = writeln!(out, "api calls served: {}", self.api_calls);
        }
        for region in &self.regions {
            let r = &region.region;
            let letters: String = region.zones.iter().map(|z| z.letter().to_string()).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "\nregion {r} (zones {letters})");

            let instances: Vec<&SimInstance> = self.instances.values().filter(|i| i.zone.region() == *r).collect();
            section(&mut out, "instances", instances.len());
            for i in instances {
                let ip = self.public_ip_of(&i.id).map(|ip| format!("  ip {ip}")).unwrap_or_default();
                let group = i.group.as_ref().map(|g| format!("  group {g}")).unwrap_or_default();
                let agent = parse_user_data(&i.user_data).map(|a| format!("  agent {}", a.mode)).unwrap_or_default();
                let hidden = match i.visible_at_ms {
                    Some(t) if !i.is_visible(self.now_ms()) => {
                        format!("  invisible until {}", stamp(Timestamp(t / 1000), (t % 1000) as u16, t % 1000 != 0))
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "    {}  {}  {}  {}  {}{ip}{group}{agent}{hidden}{}",
                    i.id,
                    i.state,
                    i.zone,
                    i.instance_type,
                    i.image,
                    tag_suffix(&i.tags)
                );
            }

            let volumes: Vec<&Volume> = self.volumes.values().filter(|v| v.zone.region() == *r).collect();
            section(&mut out, "volumes", volumes.len());
            for v in volumes {
                let attached = match (&v.attached_to, &v.device) {
                    (Some(i), Some(d)) => format!("  attached to {i} as {d}"),
                    (Some(i), None) => format!("  attached to {i}"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "    {}  {}  {}  {} GiB{attached}{}",
                    v.id,
                    v.state,
                    v.zone,
                    v.size_gb,
                    tag_suffix(&v.tags)
                );
            }

            let addresses: Vec<&SimAddress> = self.addresses.values().filter(|a| a.region == *r).collect();
            section(&mut out, "addresses", addresses.len());
            for a in addresses {
                let assoc = match &a.associated_to {
                    Some(i) => format!("associated with {i}"),
                    None => "unassociated".to_string(),
                };
                let _ = writeln!(out, "    {}  {}  {assoc}{}", a.allocation_id, a.public_ip, tag_suffix(&a.tags));
            }

            let images: Vec<&Image> = self.images.values().filter(|i| i.region == *r).collect();
            section(&mut out, "images", images.len());
            for i in images {
                let state = match i.state {
                    ImageState::Available => String::new(),
                    other => format!("  {}", image_state(other)),
                };
                let _ = writeln!(out, "    {}  {}  {}{state}{}", i.id, i.name, i.architecture, tag_suffix(&i.tags));
            }

            let snapshots: Vec<&SimSnapshot> = self.snapshots.values().filter(|s| s.region == *r).collect();
            section(&mut out, "snapshots", snapshots.len());
            for s in snapshots {
                let _ = writeln!(
                    out,
                    "    {}  {}  of {}  {} GiB  started {}{}",
                    s.id,
                    snapshot_state(s.state),
                    s.volume,
                    s.size_gb,
                    s.created_at.rfc3339(),
                    tag_suffix(&s.tags)
                );
            }

            let templates: Vec<&SimTemplate> = self.templates.values().filter(|t| t.region == *r).collect();
            section(&mut out, "launch templates", templates.len());
            for t in templates {
                let latest = t.versions.last().expect("at least one version");
                let agent =
                    parse_user_data(&latest.user_data).map(|a| format!("  agent {}", a.mode)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {}  {}  v{} (default v{})  {}  {}{agent}{}",
                    t.id,
                    t.name,
                    t.latest_version(),
                    t.default_version,
                    latest.instance_type,
                    latest.image,
                    tag_suffix(&t.tags)
                );
            }

            let configurations = self.launch_configurations.get(r).map(|m| m.len()).unwrap_or(0);
            section(&mut out, "launch configurations", configurations);
            for c in self.launch_configurations.get(r).into_iter().flat_map(|m| m.values()) {
                let agent =
                    parse_user_data(&c.spec.user_data).map(|a| format!("  agent {}", a.mode)).unwrap_or_default();
                let _ = writeln!(out, "    {}  {}  {}{agent}", c.name, c.spec.instance_type, c.spec.image);
            }

            let groups: Vec<&SimGroup> = self.groups.values().filter(|g| g.region == *r).collect();
            section(&mut out, "auto scaling groups", groups.len());
            for g in groups {
                let members = if g.instances.is_empty() {
                    "no instances".to_string()
                } else {
                    format!("instances {}", g.instances.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", "))
                };
                let retry = g.retry_at.map(|t| format!("  retry at {}", t.rfc3339())).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {}  {}  {}  min {} max {} desired {}  {members}{retry}{}",
                    g.name,
                    launch_label(&g.launch),
                    zone_list(&g.zones),
                    g.min,
                    g.max,
                    g.desired,
                    tag_suffix(&g.tags)
                );
                if let Some(a) = g.activities.last() {
                    let status = if a.succeeded { "ok" } else { "FAILED" };
                    let _ = writeln!(out, "      last activity {} {status}: {}", a.at.rfc3339(), a.description);
                }
            }
        }

        let overrides: Vec<(&Zone, &InstanceType, &u32)> =
            self.capacity.iter().flat_map(|(z, m)| m.iter().map(move |(t, n)| (z, t, n))).collect();
        let _ = writeln!(out, "\ncapacity: {} per zone and type unless overridden", self.default_capacity);
        for (zone, itype, n) in overrides {
            let _ = writeln!(out, "  {zone} {itype}: {n} more launches");
        }
        if !self.dns.is_empty() {
            let _ = writeln!(out, "\ndns:");
            for (host, ips) in &self.dns {
                let _ = writeln!(out, "  {host} -> {}", ips.join(", "));
            }
        }
        if let Some(next) = self.scheduled.first() {
            let _ = writeln!(
                out,
                "\nscheduled: {} transition(s), next at {} ({:?})",
                self.scheduled.len(),
                next.at.rfc3339(),
                next.transition
            );
        }
        if !self.agents_due.is_empty() {
            let ids: Vec<&str> = self.agents_due.iter().map(|i| i.as_str()).collect();
            let _ = writeln!(out, "agents due: {}", ids.join(", "));
        }
        let start = self.log.len().saturating_sub(10);
        let _ = writeln!(out, "\nlast {} of {} log entries:", self.log.len() - start, self.log.len());
        for line in self.render_log(Some(10)).lines() {
            let _ = writeln!(out, "  {line}");
        }
        out
    }

    /// The event trace (`cellar sim log`), one line per entry: `YYYY-MM-DDTHH:MM:SSZ  message`,
    /// with `.mmm` milliseconds on every line when any shown entry has some. `last` keeps
    /// only the newest entries.
    pub fn render_log(&self, last: Option<usize>) -> String {
        use std::fmt::Write;
        let start = last.map_or(0, |n| self.log.len().saturating_sub(n));
        let entries = &self.log[start..];
        let millis = entries.iter().any(|e| e.millis != 0);
        let mut out = String::new();
        for entry in entries {
            let _ = writeln!(out, "{}  {}", entry.stamp(millis), entry.message);
        }
        out
    }
}

fn section(out: &mut String, title: &str, count: usize) {
    use std::fmt::Write;
    if count == 0 {
        let _ = writeln!(out, "  {title}: none");
    } else {
        let _ = writeln!(out, "  {title}:");
    }
}

fn image_state(state: ImageState) -> &'static str {
    match state {
        ImageState::Pending => "pending",
        ImageState::Available => "available",
        ImageState::Failed => "failed",
    }
}

fn snapshot_state(state: SnapshotState) -> &'static str {
    match state {
        SnapshotState::Pending => "pending",
        SnapshotState::Completed => "completed",
    }
}

/// `lt-0001@v2`, `lt-0001@$Latest` or `lc:name`, for the summary.
fn launch_label(launch: &LaunchSource) -> String {
    match launch {
        LaunchSource::Template { id, version: Some(v) } => format!("{id}@v{v}"),
        LaunchSource::Template { id, version: None } => format!("{id}@$Latest"),
        LaunchSource::Configuration { name } => format!("lc:{name}"),
    }
}

fn zone_list(zones: &[Zone]) -> String {
    zones.iter().map(|z| z.as_str()).collect::<Vec<_>>().join(", ")
}

/// `  [Name=x cellar:role=data]`, or nothing for no tags.
fn tag_suffix(tags: &Tags) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("  [{}]", parts.join(" "))
}

mod inject;

#[cfg(test)]
mod tests;
