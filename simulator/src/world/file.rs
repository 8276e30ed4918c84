//! The RON form of a [`World`]: the core of a state file (`store/db.rs`), a world written by a person or an older cellar, `fixtures/worlds/default.ron`.
//!
//! Invariants: the field names, their order and when each is left out are the state file
//! format, so a world saved by this version reads back identical and byte-identical when
//! saved again. A field this version does not know is refused (`deny_unknown_fields`),
//! never silently dropped on the next save. The [`Scheduler`] is written as the two
//! top-level fields it always had (`scheduled`, `next_seq`). The engine's model types
//! inside refuse unknown fields themselves.
//!
//! Older state files are read and migrated (the next save writes today's form):
//! - written before instance profiles existed (no `instance_profiles`): the world gets the
//!   documented `cellar-agent` profile ([`identity::AGENT_ACTIONS`]), and its instances and
//!   its launch templates' and configurations' settings that name no profile get it, so
//!   its agents, and those of the instances its groups launch, keep the rights they had.
//!   `instance_profiles` is therefore always written, `{}` included.
//! - written while launches named no profile (`default_instance_profile`, the profile such
//!   launches got, and `instance_profile_of`, each instance's): each instance keeps its
//!   profile, and launch settings that name none get the old default. Neither field is
//!   written any more: an instance carries its profile itself, and a launch without one
//!   has none.

use super::identity;
use super::{
    ImageDevice, LogEntry, Scheduled, Scheduler, SimAddress, SimGroup, SimInstance, SimSnapshot, SimTemplate, SimVpc,
    TokenAnswer, VolumeData, VolumeToken, World,
};
use crate::faults::Faults;
use cellar_engine::limits::{Bucket, TokenBucket};
use cellar_engine::model::*;
use cellar_engine::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub(super) fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn default_capacity() -> u32 {
    super::DEFAULT_CAPACITY
}

fn default_address_limit() -> u32 {
    super::DEFAULT_ADDRESS_LIMIT
}

fn is_default_address_limit(n: &u32) -> bool {
    *n == super::DEFAULT_ADDRESS_LIMIT
}

/// A state file from before instance profiles: the documented agent profile.
fn agent_profiles() -> BTreeMap<String, BTreeSet<String>> {
    let actions = identity::AGENT_ACTIONS.iter().map(|a| a.to_string()).collect();
    BTreeMap::from([(identity::AGENT_PROFILE.to_string(), actions)])
}

/// Reads a field that is always written, so its absence marks an older file.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Writes a field read with [`present`] (always `Some` when written).
fn as_present<S: serde::Serializer, T: Serialize>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => v.serialize(s),
        None => s.serialize_none(),
    }
}

fn default_rng() -> Rng {
    Rng::new(super::DEFAULT_SEED)
}

/// A world as written in its state file (see the module doc).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorldFile {
    now: Timestamp,
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    millis: u16,
    #[serde(default = "default_rng")]
    rng: Rng,
    #[serde(default, skip_serializing_if = "Faults::is_none")]
    faults: Faults,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    api_calls: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    buckets: BTreeMap<Region, BTreeMap<Bucket, TokenBucket>>,
    #[serde(default)]
    counters: BTreeMap<String, u64>,
    regions: Vec<RegionInfo>,
    #[serde(default = "default_capacity")]
    default_capacity: u32,
    #[serde(default)]
    capacity: BTreeMap<Zone, BTreeMap<InstanceType, u32>>,
    #[serde(default)]
    images: BTreeMap<ImageId, Image>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    image_devices: BTreeMap<ImageId, Vec<ImageDevice>>,
    #[serde(default)]
    instances: BTreeMap<InstanceId, SimInstance>,
    #[serde(default)]
    volumes: BTreeMap<VolumeId, Volume>,
    /// Absent in older files: every volume at generation 0.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    volume_data: BTreeMap<VolumeId, VolumeData>,
    #[serde(default)]
    snapshots: BTreeMap<SnapshotId, SimSnapshot>,
    #[serde(default)]
    addresses: BTreeMap<AllocationId, SimAddress>,
    #[serde(default = "default_address_limit", skip_serializing_if = "is_default_address_limit")]
    address_limit: u32,
    #[serde(default)]
    templates: BTreeMap<LaunchTemplateId, SimTemplate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    locks: BTreeMap<Region, BTreeMap<String, Tags>>,
    #[serde(default)]
    launch_configurations: BTreeMap<Region, BTreeMap<String, LaunchConfiguration>>,
    #[serde(default)]
    groups: BTreeMap<AutoScalingGroupName, SimGroup>,
    #[serde(default)]
    vpcs: BTreeMap<VpcId, SimVpc>,
    #[serde(default)]
    subnets: BTreeMap<SubnetId, Subnet>,
    #[serde(default)]
    security_groups: BTreeMap<SecurityGroupId, SecurityGroup>,
    #[serde(default)]
    key_pairs: BTreeMap<Region, BTreeSet<String>>,
    #[serde(default)]
    dns: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    client_tokens: BTreeMap<String, InstanceId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    volume_tokens: BTreeMap<String, VolumeToken>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tokens: BTreeMap<String, TokenAnswer>,
    #[serde(default)]
    scheduled: Vec<Scheduled>,
    #[serde(default)]
    next_seq: u64,
    /// Resources not visible yet (eventual consistency); absent in older files: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    invisible: BTreeMap<String, u64>,
    #[serde(default)]
    agents_due: Vec<InstanceId>,
    /// Absent only in a file from before instance profiles (see the module doc).
    #[serde(default, deserialize_with = "present", serialize_with = "as_present")]
    instance_profiles: Option<BTreeMap<String, BTreeSet<String>>>,
    /// Read from older files only (see the module doc).
    #[serde(default, skip_serializing)]
    default_instance_profile: Option<String>,
    /// Read from older files only (see the module doc).
    #[serde(default, skip_serializing)]
    instance_profile_of: BTreeMap<InstanceId, String>,
    /// The operator's allowed actions; absent: everything (an administrator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operator_actions: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    console: BTreeMap<InstanceId, Vec<String>>,
    #[serde(default)]
    log: VecDeque<LogEntry>,
    /// How many entries were ever recorded; absent (older files): as many as `log` holds.
    #[serde(default, deserialize_with = "present")]
    log_seq: Option<u64>,
}

impl From<WorldFile> for World {
    fn from(mut f: WorldFile) -> World {
        let (instance_profiles, old_default) = match f.instance_profiles.take() {
            Some(profiles) => (profiles, f.default_instance_profile.take()),
            None => {
                for i in f.instances.values_mut() {
                    i.instance_profile.get_or_insert_with(|| identity::AGENT_PROFILE.to_string());
                }
                (agent_profiles(), Some(identity::AGENT_PROFILE.to_string()))
            }
        };
        for (id, profile) in std::mem::take(&mut f.instance_profile_of) {
            if let Some(i) = f.instances.get_mut(&id) {
                i.instance_profile = Some(profile);
            }
        }
        if let Some(profile) = old_default {
            let specs = f.templates.values_mut().flat_map(|t| t.versions.iter_mut());
            let configurations = f.launch_configurations.values_mut().flat_map(|c| c.values_mut()).map(|c| &mut c.spec);
            for spec in specs.chain(configurations) {
                spec.settings.instance_profile.get_or_insert_with(|| InstanceProfile::new(profile.as_str()));
            }
        }
        let log_seq = f.log_seq.unwrap_or(f.log.len() as u64).max(f.log.len() as u64);
        let mut world = World {
            now: f.now,
            millis: f.millis,
            rng: f.rng,
            faults: f.faults,
            api_calls: f.api_calls,
            buckets: f.buckets,
            counters: f.counters,
            regions: f.regions,
            default_capacity: f.default_capacity,
            capacity: f.capacity,
            images: f.images,
            image_devices: f.image_devices,
            instances: f.instances,
            volumes: f.volumes,
            volume_data: f.volume_data,
            snapshots: f.snapshots,
            addresses: f.addresses,
            address_limit: f.address_limit,
            templates: f.templates,
            locks: f.locks,
            launch_configurations: f.launch_configurations,
            groups: f.groups,
            vpcs: f.vpcs,
            subnets: f.subnets,
            security_groups: f.security_groups,
            key_pairs: f.key_pairs,
            dns: f.dns,
            client_tokens: f.client_tokens,
            volume_tokens: f.volume_tokens,
            tokens: f.tokens,
            scheduler: Scheduler::from_parts(f.scheduled, f.next_seq),
            invisible: f.invisible,
            agents_due: f.agents_due,
            instance_profiles,
            operator_actions: f.operator_actions,
            console: f.console,
            log: {
                let mut log = f.log;
                log.drain(..log.len().saturating_sub(super::LOG_KEEP));
                log
            },
            index: super::index::Index::default(),
            lazy: super::lazy::Lazy::default(),
            log_seq,
        };
        world.index = super::index::Index::build(&world);
        world
    }
}

/// A world as its state file is written: [`WorldFile`]'s fields, in its order and with its
/// rules for leaving one out, borrowed from the world (saving copies nothing).
#[derive(Serialize)]
#[serde(rename = "WorldFile")]
struct WorldFileRef<'a> {
    now: &'a Timestamp,
    #[serde(skip_serializing_if = "ref_zero_u16")]
    millis: &'a u16,
    rng: &'a Rng,
    #[serde(skip_serializing_if = "ref_no_faults")]
    faults: &'a Faults,
    #[serde(skip_serializing_if = "ref_zero_u64")]
    api_calls: &'a u64,
    #[serde(skip_serializing_if = "ref_empty_map")]
    buckets: &'a BTreeMap<Region, BTreeMap<Bucket, TokenBucket>>,
    counters: &'a BTreeMap<String, u64>,
    regions: &'a Vec<RegionInfo>,
    default_capacity: &'a u32,
    capacity: &'a BTreeMap<Zone, BTreeMap<InstanceType, u32>>,
    images: &'a BTreeMap<ImageId, Image>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    image_devices: &'a BTreeMap<ImageId, Vec<ImageDevice>>,
    instances: &'a BTreeMap<InstanceId, SimInstance>,
    volumes: &'a BTreeMap<VolumeId, Volume>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    volume_data: &'a BTreeMap<VolumeId, VolumeData>,
    snapshots: &'a BTreeMap<SnapshotId, SimSnapshot>,
    addresses: &'a BTreeMap<AllocationId, SimAddress>,
    #[serde(skip_serializing_if = "ref_default_address_limit")]
    address_limit: &'a u32,
    templates: &'a BTreeMap<LaunchTemplateId, SimTemplate>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    locks: &'a BTreeMap<Region, BTreeMap<String, Tags>>,
    launch_configurations: &'a BTreeMap<Region, BTreeMap<String, LaunchConfiguration>>,
    groups: &'a BTreeMap<AutoScalingGroupName, SimGroup>,
    vpcs: &'a BTreeMap<VpcId, SimVpc>,
    subnets: &'a BTreeMap<SubnetId, Subnet>,
    security_groups: &'a BTreeMap<SecurityGroupId, SecurityGroup>,
    key_pairs: &'a BTreeMap<Region, BTreeSet<String>>,
    dns: &'a BTreeMap<String, Vec<String>>,
    client_tokens: &'a BTreeMap<String, InstanceId>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    volume_tokens: &'a BTreeMap<String, VolumeToken>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    tokens: &'a BTreeMap<String, TokenAnswer>,
    scheduled: &'a Vec<Scheduled>,
    next_seq: &'a u64,
    #[serde(skip_serializing_if = "ref_empty_map")]
    invisible: &'a BTreeMap<String, u64>,
    agents_due: &'a Vec<InstanceId>,
    instance_profiles: &'a BTreeMap<String, BTreeSet<String>>,
    #[serde(skip_serializing_if = "ref_none")]
    operator_actions: &'a Option<BTreeSet<String>>,
    #[serde(skip_serializing_if = "ref_empty_map")]
    console: &'a BTreeMap<InstanceId, Vec<String>>,
    log: &'a VecDeque<LogEntry>,
    log_seq: &'a u64,
}

fn ref_zero_u16(n: &&u16) -> bool {
    **n == 0
}

fn ref_zero_u64(n: &&u64) -> bool {
    **n == 0
}

fn ref_no_faults(f: &&Faults) -> bool {
    f.is_none()
}

fn ref_empty_map<K, V>(m: &&BTreeMap<K, V>) -> bool {
    m.is_empty()
}

fn ref_default_address_limit(n: &&u32) -> bool {
    is_default_address_limit(n)
}

fn ref_none<T>(o: &&Option<T>) -> bool {
    o.is_none()
}

impl Serialize for World {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let w = self;
        let (scheduled, next_seq) = w.scheduler.parts();
        WorldFileRef {
            now: &w.now,
            millis: &w.millis,
            rng: &w.rng,
            faults: &w.faults,
            api_calls: &w.api_calls,
            buckets: &w.buckets,
            counters: &w.counters,
            regions: &w.regions,
            default_capacity: &w.default_capacity,
            capacity: &w.capacity,
            images: &w.images,
            image_devices: &w.image_devices,
            instances: &w.instances,
            volumes: &w.volumes,
            volume_data: &w.volume_data,
            snapshots: &w.snapshots,
            addresses: &w.addresses,
            address_limit: &w.address_limit,
            templates: &w.templates,
            locks: &w.locks,
            launch_configurations: &w.launch_configurations,
            groups: &w.groups,
            vpcs: &w.vpcs,
            subnets: &w.subnets,
            security_groups: &w.security_groups,
            key_pairs: &w.key_pairs,
            dns: &w.dns,
            client_tokens: &w.client_tokens,
            volume_tokens: &w.volume_tokens,
            tokens: &w.tokens,
            scheduled,
            next_seq,
            invisible: &w.invisible,
            agents_due: &w.agents_due,
            instance_profiles: &w.instance_profiles,
            operator_actions: &w.operator_actions,
            console: &w.console,
            log: &w.log,
            log_seq: &w.log_seq,
        }
        .serialize(serializer)
    }
}
