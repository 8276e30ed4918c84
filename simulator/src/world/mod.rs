//! The simulated AWS world: plain data plus the operations the [`crate::Sim`] maps the
//! `Cloud` trait onto, one file per resource kind (as moto lays out its EC2 models):
//!
//! | file | what it models |
//! |---|---|
//! | `mod.rs` | the [`World`] itself: its fields, ids, the log, lookups by id, accessors, [`World::check_consistency`] |
//! | `file.rs` | the state file's form of a world (field names and order, unknown fields refused) |
//! | `scheduler.rs` | [`Scheduler`]: the transitions to come, in (time, sequence) order |
//! | `clock.rs` | the virtual clock: advancing it, its limits, applying due transitions |
//! | `instances.rs` | instances: launch, termination, their state machine |
//! | `capacity.rs` | launch capacity per zone and instance type |
//! | `volumes.rs` | EBS volumes and attachments |
//! | `addresses.rs` | Elastic IPs and associations, and the per-region address quota |
//! | `images.rs` | images (AMIs), their block-device mappings, and snapshots |
//! | `launch.rs` | launch templates and launch configurations |
//! | `locks.rs` | server locks (`cellar-lock.<server>`, in the launch templates' namespace) |
//! | `groups.rs` | auto scaling groups and their reconciliation |
//! | `network.rs` | VPCs, subnets, security groups, instance profiles, key pairs: what a launch names |
//! | `tags.rs` | CreateTags / DeleteTags by resource id |
//! | `dns.rs` | the A records the DNS gate reads |
//! | `identity.rs` | IAM instance profiles, the profile each instance carries, and which agent calls they allow |
//! | `agents.rs` | when an instance's agent starts (a boot delay after running) and each instance's console output |
//! | `probes.rs` | what an outside probe of a server's service finds (not an AWS call) |
//! | `status.rs` | DescribeInstanceStatus: status checks, scheduled events and what they do, a group's EC2 health check |
//! | `index.rs` | derived lookups (resources by Name tag, addresses by instance), rebuilt on load |
//! | `lazy.rs` | a world loaded a shard at a time: what a call needs, loaded before it looks |
//! | `shards.rs` | the world split by server: each [`Shard`] closed under references, the rest the core |
//! | `inject.rs` | the faults gate every call passes |
//! | `visibility.rs` | eventual consistency of every kind but instances: what is invisible until when |
//! | `render.rs` | `cellar sim show` and `cellar sim log` |
//!
//! Invariants (every operation keeps them; [`World::check_consistency`] checks the ones a
//! hand-edited state file could break):
//! - Deterministic: ordered maps only, no wall clock, and all randomness (the injected
//!   [`Faults`]) drawn from the one seeded [`Rng`] saved in the world.
//! - Time moves only forward and only through the clock (`clock.rs`), which applies the
//!   [`Scheduler`]'s transitions in (time, seq) order and lets auto scaling groups
//!   reconcile after each one. The clock never passes [`MAX_CLOCK`].
//! - Ids come from per-prefix counters and are never reused.
//! - Every reference between resources (group members, volume attachments, address
//!   associations) names an existing instance; every launch template has a version;
//!   every group has a zone.
//! - Fields are private: only the operations change the world, and every refused
//!   operation leaves it unchanged.

use crate::faults::Faults;
use cellar_engine::cloud::{CloudError, CloudErrorKind as K, CloudResult};
use cellar_engine::limits::{Bucket, TokenBucket};
use cellar_engine::model::*;
use cellar_engine::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod addresses;
mod agents;
mod capacity;
mod clock;
mod dns;
mod file;
mod groups;
mod identity;
mod images;
mod index;
mod inject;
mod instances;
mod launch;
mod lazy;
mod locks;
mod network;
mod operator;
pub mod probes;
mod render;
mod scheduler;
mod shards;
mod status;
mod tags;
mod tokens;
mod visibility;
mod volumes;

pub use addresses::{SimAddress, DEFAULT_ADDRESS_LIMIT};
pub use agents::{AGENT_DELAY_SECS, CONSOLE_LIMIT};
pub use capacity::DEFAULT_CAPACITY;
pub use clock::{Advance, LATEST_SETTABLE, MAX_ADVANCE_SECS, MAX_CLOCK};
pub use groups::{SimGroup, GROUP_DELETE_SECS, GROUP_RETRY_SECS};
pub use identity::{AGENT_ACTIONS, AGENT_PROFILE};
pub use images::{
    copy_secs, snapshot_secs, ImageDevice, SimSnapshot, COPIED_VOLUME, COPY_BASE_SECS, COPY_SECS_PER_GIB,
    IMAGE_COPY_SECS, IMAGE_CREATE_SECS, SNAPSHOT_BASE_SECS, SNAPSHOT_SECS_PER_GIB,
};
pub use instances::{SimInstance, PENDING_SECS, SHUTDOWN_SECS, TERMINATED_VISIBLE_SECS};
pub use launch::SimTemplate;
pub use lazy::{directory_keys, MemoryShards, Need, ShardSource, Totals};
pub use network::SimVpc;
pub use operator::{DRY_RUN_ALLOWED, OPERATOR_ARN, SIM_ACCOUNT};
pub use scheduler::{Scheduled, Scheduler, Transition};
use shards::ShardIds;
pub use shards::{Shard, ShardKey, ShardKeys};
pub use status::{SimImpairment, COMPLETED_EVENT_SECS, HEALTH_CHECK_SECS, INITIALIZING_SECS, STOPPING_SECS};
pub(crate) use tokens::key as tokens_key;
pub use tokens::{Answer, TokenAnswer, INSTANCE_TOKEN_SECS};
pub use volumes::{VolumeData, VolumeToken, GENERATION_SECS, VOLUME_CREATE_SECS};

use render::tag_suffix;

/// How many events the world's log keeps: the most recent ones, older ones are dropped as
/// new ones come (and a state file with more keeps its last this many when loaded). A
/// count, not a span of virtual time: a span is unbounded under a burst (a fleet apply
/// logs tens of events per server within minutes) and empty after a long `sim advance`.
/// 10,000 events are the traces of the last few hundred server commands, about 1 MB of
/// state file; `cellar sim log --last N` shows fewer.
pub const LOG_KEEP: usize = 10_000;

/// The seed of a world that never called [`World::reseed`].
pub const DEFAULT_SEED: u64 = 0;

/// An id counter in a state file may not exceed this (2^48: far more ids than a world
/// ever hands out, and far from overflowing).
const MAX_COUNTER: u64 = 1 << 48;

/// An error as AWS would return it. The kind goes through the engine's one code-to-kind
/// mapping ([`CloudErrorKind::from_code`](cellar_engine::cloud::CloudErrorKind::from_code)),
/// so a code raised here as `Other("InvalidAMIID.Unavailable")` reaches the engine as the
/// same kind the AWS adapter gives it.
fn err(kind: K, message: impl Into<String>) -> CloudError {
    CloudError::from_code(kind.code(), message)
}

/// One line of the world's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    pub at: Timestamp,
    /// Milliseconds past `at`.
    #[serde(default, skip_serializing_if = "file::is_zero_u16")]
    pub millis: u16,
    pub message: String,
}

/// The whole simulated account: saved as RON between CLI runs (see `file.rs` for its form).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "file::WorldFile")]
pub struct World {
    /// The virtual clock, whole seconds (see [`World::now`]; `millis` holds the rest).
    now: Timestamp,
    /// Milliseconds past `now` (API latency moves the clock by milliseconds); below 1000.
    millis: u16,
    /// The one source of randomness (every fault draws from it): saved, so a world replays.
    rng: Rng,
    /// The faults this world injects (none by default); always valid ([`Faults::validate`]).
    faults: Faults,
    /// Cloud calls served through [`crate::Sim`] (for benchmarks).
    api_calls: u64,
    /// AWS's API token buckets per region, used while [`Faults::throttling`] is on.
    buckets: BTreeMap<Region, BTreeMap<Bucket, TokenBucket>>,
    /// Last id handed out per prefix (`i`, `vol`, `eipalloc`, `lt`, `ami`, `snap`).
    counters: BTreeMap<String, u64>,
    regions: Vec<RegionInfo>,
    /// Launches possible for (zone, type) pairs without an override, minus live instances.
    default_capacity: u32,
    /// Overrides: launches still possible per zone and instance type. A launch takes one;
    /// terminations do not give it back (set it again to restore capacity).
    capacity: BTreeMap<Zone, BTreeMap<InstanceType, u32>>,
    images: BTreeMap<ImageId, Image>,
    /// The block-device mappings of images made by CreateImage (see `images.rs`).
    image_devices: BTreeMap<ImageId, Vec<ImageDevice>>,
    instances: BTreeMap<InstanceId, SimInstance>,
    volumes: BTreeMap<VolumeId, Volume>,
    /// Each volume's simulated data, where it is not all zero (see `volumes.rs`).
    volume_data: BTreeMap<VolumeId, VolumeData>,
    snapshots: BTreeMap<SnapshotId, SimSnapshot>,
    addresses: BTreeMap<AllocationId, SimAddress>,
    /// Elastic IPs an account may hold per region (AWS's default quota is 5).
    address_limit: u32,
    templates: BTreeMap<LaunchTemplateId, SimTemplate>,
    /// Server locks per region: object name → tags (see `locks.rs`).
    locks: BTreeMap<Region, BTreeMap<String, Tags>>,
    /// Launch configurations per region, by name (they carry no tags and no id).
    launch_configurations: BTreeMap<Region, BTreeMap<String, LaunchConfiguration>>,
    groups: BTreeMap<AutoScalingGroupName, SimGroup>,
    vpcs: BTreeMap<VpcId, SimVpc>,
    subnets: BTreeMap<SubnetId, Subnet>,
    security_groups: BTreeMap<SecurityGroupId, SecurityGroup>,
    /// Key pair names per region.
    key_pairs: BTreeMap<Region, BTreeSet<String>>,
    /// Host name → A records (valid host names, IPv4 addresses: see `dns.rs`).
    dns: BTreeMap<String, Vec<String>>,
    /// RunInstances client tokens already used.
    client_tokens: BTreeMap<String, InstanceId>,
    /// CreateVolume client tokens already used: the first answer, kept after the volume is
    /// gone (AWS keeps them at least 24 hours; the simulator for good).
    volume_tokens: BTreeMap<String, VolumeToken>,
    /// The other client tokens' first answers (see `tokens.rs`).
    tokens: BTreeMap<String, TokenAnswer>,
    /// Transitions to come.
    scheduler: Scheduler,
    /// Resources of every kind but instances not visible to the API yet, by key, with the
    /// virtual millisecond each becomes visible (see `visibility.rs`).
    invisible: BTreeMap<String, u64>,
    /// Instances whose agent should run now (their boot delay has passed).
    agents_due: Vec<InstanceId>,
    /// IAM instance profiles: name → the actions its role allows (see `identity.rs`).
    instance_profiles: BTreeMap<String, BTreeSet<String>>,
    /// What the operator's credentials (cellar's own calls) may do: `None` allows
    /// everything, as an administrator's would (see `operator.rs`).
    operator_actions: Option<BTreeSet<String>>,
    /// What each instance printed on its console (see `agents.rs`).
    console: BTreeMap<InstanceId, Vec<String>>,
    /// The most recent [`LOG_KEEP`] events, oldest first.
    log: VecDeque<LogEntry>,
    /// Derived lookups (by Name tag, by association), not saved: see `index.rs`.
    index: index::Index,
    /// The shards still in the store, for a world loaded a shard at a time (`lazy.rs`).
    lazy: lazy::Lazy,
    /// How many log entries the world recorded in its history ([`World::log_seq`]).
    log_seq: u64,
}

impl World {
    /// An empty world: the given regions, nothing in them.
    pub fn new(now: Timestamp, regions: Vec<RegionInfo>) -> Self {
        World {
            now: now.min(MAX_CLOCK),
            millis: 0,
            rng: Rng::new(DEFAULT_SEED),
            faults: Faults::default(),
            api_calls: 0,
            buckets: BTreeMap::new(),
            counters: BTreeMap::new(),
            regions,
            default_capacity: DEFAULT_CAPACITY,
            capacity: BTreeMap::new(),
            images: BTreeMap::new(),
            image_devices: BTreeMap::new(),
            instances: BTreeMap::new(),
            volumes: BTreeMap::new(),
            volume_data: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            addresses: BTreeMap::new(),
            address_limit: DEFAULT_ADDRESS_LIMIT,
            templates: BTreeMap::new(),
            locks: BTreeMap::new(),
            launch_configurations: BTreeMap::new(),
            groups: BTreeMap::new(),
            vpcs: BTreeMap::new(),
            subnets: BTreeMap::new(),
            security_groups: BTreeMap::new(),
            key_pairs: BTreeMap::new(),
            dns: BTreeMap::new(),
            client_tokens: BTreeMap::new(),
            volume_tokens: BTreeMap::new(),
            tokens: BTreeMap::new(),
            scheduler: Scheduler::default(),
            invisible: BTreeMap::new(),
            agents_due: Vec::new(),
            instance_profiles: BTreeMap::new(),
            operator_actions: None,
            console: BTreeMap::new(),
            log: VecDeque::new(),
            index: index::Index::default(),
            lazy: lazy::Lazy::default(),
            log_seq: 0,
        }
    }

    // ----- bookkeeping -----

    /// Appends a log entry at the current virtual time.
    pub fn record(&mut self, message: impl Into<String>) {
        if self.log.len() >= LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry { at: self.now, millis: self.millis, message: message.into() });
        self.log_seq += 1;
    }

    /// Restarts the world's random number generator from `seed` (faults drawn from now on
    /// replay exactly for the same seed and the same calls).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// The next id for a prefix: `i-0001`, `vol-0001`, ...
    fn next_id(&mut self, prefix: &str) -> String {
        let counter = self.counters.entry(prefix.to_string()).or_insert(0);
        *counter = counter.saturating_add(1);
        format!("{prefix}-{:04x}", *counter)
    }

    /// Schedules a transition `after_secs` from now (saturating: never wraps the clock).
    fn schedule(&mut self, after_secs: u64, transition: Transition) {
        let at = Timestamp(self.now.0.saturating_add(after_secs));
        self.scheduler.schedule_at(at, transition);
    }

    // ----- read access -----

    /// The virtual clock in whole seconds.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The virtual clock in milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.now.0.saturating_mul(1000).saturating_add(u64::from(self.millis))
    }

    /// The faults this world injects.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Cloud calls served through [`crate::Sim`] so far.
    pub fn api_calls(&self) -> u64 {
        self.api_calls
    }

    /// Every region with its zones.
    pub fn regions(&self) -> Vec<RegionInfo> {
        self.regions.clone()
    }

    /// Every instance the world holds (including ones still invisible to the API).
    pub fn instances(&self) -> &BTreeMap<InstanceId, SimInstance> {
        &self.instances
    }

    pub fn volumes(&self) -> &BTreeMap<VolumeId, Volume> {
        &self.volumes
    }

    pub fn addresses(&self) -> &BTreeMap<AllocationId, SimAddress> {
        &self.addresses
    }

    pub fn images(&self) -> &BTreeMap<ImageId, Image> {
        &self.images
    }

    pub fn snapshots(&self) -> &BTreeMap<SnapshotId, SimSnapshot> {
        &self.snapshots
    }

    pub fn templates(&self) -> &BTreeMap<LaunchTemplateId, SimTemplate> {
        &self.templates
    }

    pub fn groups(&self) -> &BTreeMap<AutoScalingGroupName, SimGroup> {
        &self.groups
    }

    /// The transitions to come.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Instances whose agent should run now.
    pub fn agents_due(&self) -> &[InstanceId] {
        &self.agents_due
    }

    /// Hands the due agents to the caller (who runs them) and empties the queue.
    pub fn take_agents_due(&mut self) -> Vec<InstanceId> {
        std::mem::take(&mut self.agents_due)
    }

    /// The event log, oldest first: the last [`LOG_KEEP`] events.
    pub fn log(&self) -> &VecDeque<LogEntry> {
        &self.log
    }

    /// A copy of the world without its event log: what a what-if (planning on the world as
    /// it is now, elsewhere) needs, without copying the whole trace.
    pub fn clone_without_log(&mut self) -> World {
        let log = std::mem::take(&mut self.log);
        let copy = self.clone();
        self.log = log;
        copy
    }

    // ----- lookups as the API sees them -----

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

    /// For settings given by a person (`cellar sim capacity`, a fault schedule): the zone
    /// must be one of this world's. The error names the zone and the world's zones.
    fn check_world_zone(&self, zone: &Zone) -> Result<(), String> {
        if self.regions.iter().any(|r| r.zones.contains(zone)) {
            return Ok(());
        }
        let zones: Vec<&str> = self.regions.iter().flat_map(|r| r.zones.iter().map(Zone::as_str)).collect();
        Err(format!("{zone} is not a zone of this world (its zones: {})", zones.join(", ")))
    }

    /// An instance the API knows (in the region, and visible: see [`Faults::invisible_secs`]).
    fn instance_in(&self, region: &Region, id: &InstanceId) -> CloudResult<&SimInstance> {
        let now_ms = self.now_ms();
        self.instances
            .get(id)
            .filter(|i| i.zone.region() == *region && i.is_visible(now_ms))
            .ok_or_else(|| err(K::InvalidInstanceIdNotFound, format!("The instance ID '{id}' does not exist")))
    }

    /// Refuses an instance that is neither running nor stopped, as the EC2 calls that act
    /// on an instance (AttachVolume, AssociateAddress, CreateImage) do.
    fn check_running_or_stopped(instance: &SimInstance) -> CloudResult<()> {
        if matches!(instance.state, InstanceState::Running | InstanceState::Stopped) {
            return Ok(());
        }
        Err(err(
            K::IncorrectInstanceState,
            format!("The instance '{}' is not in a valid state for this operation ({}).", instance.id, instance.state),
        ))
    }

    fn volume_in(&self, region: &Region, id: &VolumeId) -> CloudResult<&Volume> {
        self.volumes
            .get(id)
            .filter(|v| v.zone.region() == *region && self.visible(id.as_str()))
            .ok_or_else(|| err(K::InvalidVolumeNotFound, format!("The volume '{id}' does not exist.")))
    }

    fn address_in(&self, region: &Region, id: &AllocationId) -> CloudResult<&SimAddress> {
        self.addresses.get(id).filter(|a| a.region == *region && self.visible(id.as_str())).ok_or_else(|| {
            CloudError::from_code("InvalidAllocationID.NotFound", format!("The allocation ID '{id}' does not exist"))
        })
    }

    fn image_in(&self, region: &Region, id: &ImageId) -> CloudResult<&Image> {
        self.images
            .get(id)
            .filter(|i| i.region == *region && self.visible(id.as_str()))
            .ok_or_else(|| err(K::InvalidAmiIdNotFound, format!("The image id '[{id}]' does not exist")))
    }

    // ----- consistency -----

    /// The invariants a hand-edited state file could break and the world's code relies
    /// on: the clock within its range, valid faults and DNS records, counters far from
    /// overflow, every template with a version, every group with a zone and existing
    /// members, attachments and associations naming existing instances. The first broken
    /// one, in words.
    pub fn check_consistency(&self) -> Result<(), String> {
        self.check_clock_and_settings()?;
        self.check_network()?;
        self.check_resources(
            self.templates.values(),
            self.groups.values(),
            self.volumes.values(),
            self.addresses.values(),
        )?;
        if let Some(image) = self.image_devices.keys().find(|i| !self.images.contains_key(*i)) {
            return Err(format!("image_devices lists image {image}, which does not exist"));
        }
        if let Some(volume) = self.volume_data.keys().find(|v| !self.volumes.contains_key(*v)) {
            return Err(format!("volume_data lists volume {volume}, which does not exist"));
        }
        self.check_locks()?;
        self.check_identity()?;
        self.check_operator()
    }

    /// The part of [`World::check_consistency`] about the given resources (a shard's, when
    /// a lazily loaded world loads it): templates with versions, groups with zones, sizes
    /// in order and existing members, attachments and associations naming instances.
    fn check_resources<'a>(
        &self,
        templates: impl Iterator<Item = &'a SimTemplate>,
        groups: impl Iterator<Item = &'a SimGroup>,
        volumes: impl Iterator<Item = &'a Volume>,
        addresses: impl Iterator<Item = &'a SimAddress>,
    ) -> Result<(), String> {
        for t in templates {
            if t.versions.is_empty() {
                return Err(format!("launch template {} has no versions", t.id));
            }
        }
        for g in groups {
            if g.zones.is_empty() {
                return Err(format!("auto scaling group {} has no zones", g.name));
            }
            if !(g.min <= g.desired && g.desired <= g.max) {
                return Err(format!(
                    "auto scaling group {} has desired capacity {} outside its min {} and max {}",
                    g.name, g.desired, g.min, g.max
                ));
            }
            if let Some(missing) = g.instances.iter().find(|i| !self.instances.contains_key(*i)) {
                return Err(format!("auto scaling group {} lists instance {missing}, which does not exist", g.name));
            }
        }
        for v in volumes {
            if let Some(i) = v.attached_to.as_ref().filter(|i| !self.instances.contains_key(*i)) {
                return Err(format!("volume {} is attached to instance {i}, which does not exist", v.id));
            }
        }
        for a in addresses {
            if let Some(i) = a.associated_to.as_ref().filter(|i| !self.instances.contains_key(*i)) {
                return Err(format!(
                    "address {} is associated with instance {i}, which does not exist",
                    a.allocation_id
                ));
            }
        }
        Ok(())
    }

    /// [`World::check_resources`] of what `shard` held, once absorbed.
    fn check_absorbed(&self, shard: &ShardIds) -> Result<(), String> {
        self.check_resources(
            shard.templates.iter().filter_map(|id| self.templates.get(id)),
            shard.groups.iter().filter_map(|name| self.groups.get(name)),
            shard.volumes.iter().filter_map(|id| self.volumes.get(id)),
            shard.addresses.iter().filter_map(|id| self.addresses.get(id)),
        )
    }

    /// The part of [`World::check_consistency`] about single values.
    fn check_clock_and_settings(&self) -> Result<(), String> {
        if self.now > LATEST_SETTABLE {
            return Err(format!(
                "the clock ({}) is past {}, the latest a world may stand at (the years after are for its waits)",
                self.now.0,
                LATEST_SETTABLE.rfc3339()
            ));
        }
        if self.millis >= 1000 {
            return Err(format!("millis is {}, not below 1000", self.millis));
        }
        self.check_faults(&self.faults).map_err(|e| format!("faults.{e}"))?;
        for (host, ips) in &self.dns {
            dns::check_record(host, ips).map_err(|e| format!("dns: {e}"))?;
        }
        if let Some((prefix, n)) = self.counters.iter().find(|(_, n)| **n > MAX_COUNTER) {
            return Err(format!("the id counter for {prefix:?} is {n}, above {MAX_COUNTER}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
