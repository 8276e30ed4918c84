//! A world loaded a shard at a time: what a command about one server of 10,000 reads.
//!
//! A world opened from a sharded store starts with its core only (`shards.rs`) and a
//! [`ShardSource`] that finds and reads the rest. Before anything looks at resources, the
//! caller says what it needs ([`Need`]); [`World::ensure`] loads the shards that hold them.
//!
//! Invariants (work in progress: not used by the store yet):
//! - **Ensure before looking.** Every `Cloud` call ensures what its request names (ids,
//!   server names, group, template and configuration names, its client token; every shard
//!   for an unfiltered describe); a clock move ensures what each due transition and each
//!   unsettled group names before applying it; what picks among every instance (random
//!   terminations) ensures every shard. Since shards are closed under references, an
//!   operation on what it ensured never meets a reference to a shard not loaded.
//! - **Counts across shards.** What AWS counts over the whole account (Elastic IPs per
//!   region, live instances per zone and type for capacity, the groups that use a launch
//!   configuration) adds the counts of the shards
//!   not loaded ([`Totals`], kept by the store with the core); a shard not loaded does not
//!   change (its transitions load it first), so its counts stand.
//! - **A failed load poisons the world.** A shard that cannot be read or does not parse is
//!   recorded ([`World::load_failure`]); the call fails with the store's words, and the
//!   store refuses to save a poisoned world, so nothing half-loaded is written back.

use super::{Shard, ShardKey, Transition, World};
use cellar_engine::model::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How many shards [`World::ensure`] reads from its source at once (one read transaction
/// each): few enough that the shards parsed but not yet absorbed stay small beside the
/// world, many enough that a transaction's cost is spread.
const LOAD_BATCH: usize = 256;

/// Where the shards of a lazily loaded world come from (the store).
pub trait ShardSource: Send + Sync {
    /// The shard that holds what the directory key names (see [`Need::directory_key`]).
    fn locate(&self, key: &str) -> Result<Option<ShardKey>, String>;
    /// Reads one shard.
    fn load(&self, shard: &str) -> Result<Shard, String>;
    /// [`ShardSource::locate`] of several keys (a store answers them in one read).
    fn locate_many(&self, keys: &[String]) -> Result<Vec<Option<ShardKey>>, String> {
        keys.iter().map(|k| self.locate(k)).collect()
    }
    /// [`ShardSource::load`] of several shards (a store reads them in one go).
    fn load_many(&self, shards: &[ShardKey]) -> Result<Vec<Shard>, String> {
        shards.iter().map(|s| self.load(s)).collect()
    }
    /// Every shard.
    fn shards(&self) -> Result<Vec<ShardKey>, String>;
    /// Where the shards are, for messages (`simulator state file .cellar/sim.db`).
    fn name(&self) -> String;
}

/// Shards held in memory: the source of [`World::reload_lazily`] (and a model of the
/// store's, which keeps them on disk). Like the store, it takes back what a world put away
/// ([`World::reload_lazily`] again): the shards that world loaded are replaced by what they
/// became, the others stay as they were.
pub struct MemoryShards(std::sync::Mutex<Parked>);

#[derive(Default)]
struct Parked {
    /// Each shard, with the directory keys it is found under.
    shards: BTreeMap<ShardKey, (Shard, BTreeSet<String>)>,
    /// Directory key → the shard it is found in.
    directory: super::shards::HashMap<String, ShardKey>,
    /// The shards handed over to the world (left empty here until put back).
    taken: BTreeSet<ShardKey>,
}

impl Parked {
    fn insert(&mut self, key: ShardKey, shard: Shard) {
        let keys = directory_keys(&shard);
        for k in &keys {
            self.directory.insert(k.clone(), key.clone());
        }
        self.shards.insert(key, (shard, keys));
    }

    fn remove(&mut self, key: &str) {
        self.taken.remove(key);
        if let Some((_, keys)) = self.shards.remove(key) {
            for k in keys {
                if self.directory.get(&k).is_some_and(|s| s == key) {
                    self.directory.remove(&k);
                }
            }
        }
    }
}

impl MemoryShards {
    pub fn new(shards: BTreeMap<ShardKey, Shard>) -> Self {
        let mut parked = Parked::default();
        for (key, shard) in shards {
            parked.insert(key, shard);
        }
        MemoryShards(std::sync::Mutex::new(parked))
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, Parked> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counts of every shard.
    pub fn totals(&self) -> Totals {
        self.parked().shards.values().fold(Totals::default(), |mut t, (s, _)| {
            t.add(&Totals::of(s));
            t
        })
    }

    /// Whether it holds a shard by that key.
    fn holds(&self, key: &str) -> bool {
        self.parked().shards.contains_key(key)
    }

    /// Takes back what a world put away: the shards `loaded` (what the world had taken out)
    /// are dropped, `shards` (what the world's loaded part splits into now) put in.
    fn put_back(&self, loaded: &BTreeSet<ShardKey>, shards: BTreeMap<ShardKey, Shard>) {
        let mut parked = self.parked();
        for key in loaded {
            parked.remove(key);
        }
        for (key, shard) in shards {
            parked.insert(key, shard);
        }
    }

    /// Takes back shards a world loaded and did not change (see [`World::put_away_read`]):
    /// each goes back where it was, under the directory keys it had. In debug builds, shards
    /// whose directory keys are not those they had are all given back (nothing taken).
    fn put_back_unchanged(&self, shards: Vec<(ShardKey, Shard)>) -> Result<(), Vec<(ShardKey, Shard)>> {
        let mut parked = self.parked();
        if cfg!(debug_assertions)
            && shards
                .iter()
                .any(|(key, shard)| parked.shards.get(key).is_none_or(|(_, keys)| *keys != directory_keys(shard)))
        {
            return Err(shards);
        }
        for (key, shard) in shards {
            parked.taken.remove(&key);
            if let Some(entry) = parked.shards.get_mut(&key) {
                entry.0 = shard;
            }
        }
        Ok(())
    }

    /// Where each sharded resource is: in its shard (`Some(key)`), or not sharded.
    fn partition(&self) -> super::shards::HashMap<super::shards::Node, ShardKey> {
        let parked = self.parked();
        let mut out = super::shards::HashMap::default();
        for (key, (shard, _)) in &parked.shards {
            out.extend(shard.nodes().into_iter().map(|n| (n, key.clone())));
        }
        out
    }
}

impl ShardSource for MemoryShards {
    fn locate(&self, key: &str) -> Result<Option<ShardKey>, String> {
        Ok(self.parked().directory.get(key).cloned())
    }

    /// Hands the shard over (no copy): the world that loads it puts it back, as it is then,
    /// when it is put away again ([`MemoryShards::put_back`]). So two worlds cannot share
    /// one `MemoryShards`: the second to load a shard would find none and be poisoned.
    fn load(&self, shard: &str) -> Result<Shard, String> {
        let mut parked = self.parked();
        if !parked.taken.insert(shard.to_string()) {
            return Err(format!("shard {shard} was loaded already"));
        }
        let found = parked.shards.get_mut(shard).map(|(s, _)| std::mem::take(s));
        found.ok_or_else(|| format!("no shard {shard}"))
    }

    fn shards(&self) -> Result<Vec<ShardKey>, String> {
        Ok(self.parked().shards.keys().cloned().collect())
    }

    fn name(&self) -> String {
        "shards in memory".to_string()
    }
}

/// What an operation is about to look at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Everything (an unfiltered describe, `sim show`, a random termination).
    All,
    /// The resources whose `Name` tag has this value.
    Name(String),
    /// A resource by id: instance, volume, snapshot, allocation or launch template.
    Id(String),
    /// An auto scaling group by name.
    Group(String),
    /// A launch template or server lock by name, in a region.
    TemplateName(Region, String),
    /// A client token's first answer, by the token map's key.
    Token(String),
}

impl Need {
    /// The key the store's directory files it under.
    pub fn directory_key(&self) -> Option<String> {
        Some(match self {
            Need::All => return None,
            Need::Name(name) => format!("name/{name}"),
            Need::Id(id) => format!("id/{id}"),
            Need::Group(name) => format!("group/{name}"),
            Need::TemplateName(region, name) => format!("template/{region}/{name}"),
            Need::Token(key) => format!("token/{key}"),
        })
    }
}

impl Transition {
    /// What applying it looks at.
    pub fn needs(&self) -> Vec<Need> {
        match self {
            Transition::InstanceRunning(id)
            | Transition::InstanceTerminated(id)
            | Transition::InstanceRemoved(id)
            | Transition::AgentStart(id) => vec![Need::Id(id.to_string())],
            Transition::VolumeAvailable(id) => vec![Need::Id(id.to_string())],
            Transition::SnapshotCompleted(id) => vec![Need::Id(id.to_string())],
            Transition::GroupRetry(name) | Transition::GroupDeleted(name) => vec![Need::Group(name.to_string())],
            // Picks among every live instance.
            Transition::RandomTermination => vec![Need::All],
            Transition::FaultTermination(t) => target_needs(&t.target),
            Transition::FaultImpairment(f) => target_needs(&f.target),
            Transition::FaultEvent(e) => target_needs(&e.target),
            Transition::ImpairmentEnded(id)
            | Transition::EventDue(id, _)
            | Transition::EventExpired(id, _)
            | Transition::InstanceStopped(id) => vec![Need::Id(id.to_string())],
            Transition::GroupHealthCheck(name) => vec![Need::Group(name.to_string())],
            // Images (and their snapshots) and capacity are the core's.
            Transition::ImageAvailable(_) | Transition::FaultCapacity(_) => vec![],
        }
    }
}

/// A fault's target: an instance id, or a server name (its live instance).
fn target_needs(target: &str) -> Vec<Need> {
    let target = target.trim();
    if target.starts_with("i-") {
        vec![Need::Id(target.to_string())]
    } else {
        vec![Need::Name(target.to_string())]
    }
}

/// Every directory key under which a shard is found.
pub fn directory_keys(shard: &Shard) -> BTreeSet<String> {
    let mut needs = Vec::new();
    let named = |tags: &Tags, needs: &mut Vec<Need>| {
        if let Some(name) = tags.get(NAME_TAG) {
            needs.push(Need::Name(name.clone()));
        }
    };
    for (id, i) in &shard.instances {
        needs.push(Need::Id(id.to_string()));
        named(&i.tags, &mut needs);
    }
    for (id, v) in &shard.volumes {
        needs.push(Need::Id(id.to_string()));
        named(&v.tags, &mut needs);
    }
    for (id, s) in &shard.snapshots {
        needs.push(Need::Id(id.to_string()));
        named(&s.tags, &mut needs);
    }
    for (id, a) in &shard.addresses {
        needs.push(Need::Id(id.to_string()));
        named(&a.tags, &mut needs);
    }
    for (id, t) in &shard.templates {
        needs.push(Need::Id(id.to_string()));
        needs.push(Need::TemplateName(t.region.clone(), t.name.clone()));
        named(&t.tags, &mut needs);
    }
    for (region, locks) in &shard.locks {
        for (name, tags) in locks {
            needs.push(Need::TemplateName(region.clone(), name.clone()));
            named(tags, &mut needs);
        }
    }
    for (name, g) in &shard.groups {
        needs.push(Need::Group(name.to_string()));
        named(&g.tags, &mut needs);
    }
    // A volume token is tied to the `Name` of the volume it answered (`World::shard_keys`),
    // which may be gone since: the token alone can give the shard its key.
    for answer in shard.volume_tokens.values() {
        named(&answer.volume.tags, &mut needs);
    }
    let tokens = shard.client_tokens.keys().chain(shard.volume_tokens.keys()).chain(shard.tokens.keys());
    needs.extend(tokens.map(|t| Need::Token(t.clone())));
    needs.iter().filter_map(Need::directory_key).collect()
}

/// What AWS counts over the whole account, for the shards not loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Elastic IPs held, per region.
    #[serde(default)]
    pub addresses: BTreeMap<Region, u32>,
    /// Live (pending or running) instances per zone and instance type.
    #[serde(default)]
    pub live: BTreeMap<Zone, BTreeMap<InstanceType, u32>>,
    /// The groups using each launch configuration (which stay in the core), per region.
    #[serde(default)]
    pub configuration_users: BTreeMap<Region, BTreeMap<String, BTreeSet<AutoScalingGroupName>>>,
}

impl Totals {
    /// A shard's counts.
    pub fn of(shard: &Shard) -> Totals {
        let mut totals = Totals::default();
        for a in shard.addresses.values() {
            *totals.addresses.entry(a.region.clone()).or_default() += 1;
        }
        for i in shard.instances.values().filter(|i| i.is_live()) {
            *totals.live.entry(i.zone.clone()).or_default().entry(i.instance_type.clone()).or_default() += 1;
        }
        for g in shard.groups.values() {
            if let LaunchSource::Configuration { name } = &g.launch {
                let users = totals.configuration_users.entry(g.region.clone()).or_default();
                users.entry(name.clone()).or_default().insert(g.name.clone());
            }
        }
        totals
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Totals) {
        for (region, n) in &other.addresses {
            *self.addresses.entry(region.clone()).or_default() += n;
        }
        for (zone, types) in &other.live {
            for (instance_type, n) in types {
                *self.live.entry(zone.clone()).or_default().entry(instance_type.clone()).or_default() += n;
            }
        }
        for (region, configurations) in &other.configuration_users {
            for (name, groups) in configurations {
                let users = self.configuration_users.entry(region.clone()).or_default();
                users.entry(name.clone()).or_default().extend(groups.iter().cloned());
            }
        }
    }

    /// Takes `other`'s counts away (saturating: a store's totals are never trusted to
    /// go below zero).
    pub fn subtract(&mut self, other: &Totals) {
        for (region, n) in &other.addresses {
            if let Some(held) = self.addresses.get_mut(region) {
                *held = held.saturating_sub(*n);
            }
        }
        for (zone, types) in &other.live {
            for (instance_type, n) in types {
                if let Some(live) = self.live.get_mut(zone).and_then(|t| t.get_mut(instance_type)) {
                    *live = live.saturating_sub(*n);
                }
            }
        }
        for (region, configurations) in &other.configuration_users {
            for (name, groups) in configurations {
                if let Some(users) = self.configuration_users.get_mut(region).and_then(|c| c.get_mut(name)) {
                    users.retain(|g| !groups.contains(g));
                }
            }
        }
        self.addresses.retain(|_, n| *n > 0);
        self.live.retain(|_, types| {
            types.retain(|_, n| *n > 0);
            !types.is_empty()
        });
        self.configuration_users.retain(|_, c| {
            c.retain(|_, groups| !groups.is_empty());
            !c.is_empty()
        });
    }
}

/// The lazily loaded part of a world: `None` for a world that is whole (made in memory,
/// or read whole).
#[derive(Clone, Default)]
pub(super) struct Lazy(pub(super) Option<Box<LazyState>>);

pub(super) struct LazyState {
    source: Arc<dyn ShardSource>,
    loaded: BTreeSet<ShardKey>,
    /// Directory keys already looked up.
    located: std::collections::HashSet<String>,
    /// Every shard is loaded.
    whole: bool,
    /// Counts of the shards not loaded.
    unloaded: Totals,
    /// Why a shard could not be loaded (the world is then poisoned: see the module doc).
    failure: Option<String>,
    /// The source, when it holds what [`World::reload_lazily`] put away (it takes back
    /// what the world loads, as a store's save would).
    parked: Option<Arc<MemoryShards>>,
    /// With `parked`: what each shard loaded since held when it was loaded (see
    /// [`World::put_away_read`]).
    held: Vec<(ShardKey, Held)>,
    /// With `parked`: how many sharded resources the core held when it was put away.
    core_len: usize,
}

/// The keys of what a shard held when a use of the reload check loaded it: what
/// [`World::put_away_read`] takes back out of the world.
#[derive(Clone, Default)]
struct Held {
    instances: Vec<InstanceId>,
    console: Vec<InstanceId>,
    volumes: Vec<VolumeId>,
    volume_data: Vec<VolumeId>,
    snapshots: Vec<SnapshotId>,
    addresses: Vec<AllocationId>,
    templates: Vec<LaunchTemplateId>,
    groups: Vec<AutoScalingGroupName>,
    client_tokens: Vec<String>,
    volume_tokens: Vec<String>,
    tokens: Vec<String>,
    locks: Vec<(Region, String)>,
}

/// Runs `$m!(field)` for each map a shard and a world both hold by key (not the locks).
macro_rules! keyed_maps {
    ($m:ident) => {
        $m!(instances);
        $m!(console);
        $m!(volumes);
        $m!(volume_data);
        $m!(snapshots);
        $m!(addresses);
        $m!(templates);
        $m!(groups);
        $m!(client_tokens);
        $m!(volume_tokens);
        $m!(tokens);
    };
}

impl Held {
    fn of(shard: &Shard) -> Held {
        let mut held = Held::default();
        macro_rules! keys {
            ($f:ident) => {
                held.$f = shard.$f.keys().cloned().collect();
            };
        }
        keyed_maps!(keys);
        held.locks = shard.locks.iter().flat_map(|(r, l)| l.keys().map(|n| (r.clone(), n.clone()))).collect();
        held
    }

    fn len(&self) -> usize {
        let mut n = self.locks.len();
        macro_rules! count {
            ($f:ident) => {
                n += self.$f.len();
            };
        }
        keyed_maps!(count);
        n
    }
}

impl Clone for LazyState {
    fn clone(&self) -> Self {
        LazyState {
            source: Arc::clone(&self.source),
            loaded: self.loaded.clone(),
            located: self.located.clone(),
            whole: self.whole,
            unloaded: self.unloaded.clone(),
            failure: self.failure.clone(),
            parked: self.parked.clone(),
            held: self.held.clone(),
            core_len: self.core_len,
        }
    }
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("whole"),
            Some(s) => write!(f, "lazy: {} shard(s) loaded", s.loaded.len()),
        }
    }
}

/// Like the index: derived, left out of a world's `==`.
impl PartialEq for Lazy {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl World {
    /// Makes this (core-only) world load its shards from `source` as they are needed;
    /// `totals` are the counts of every shard (kept by the store with the core).
    pub fn load_lazily(&mut self, source: Arc<dyn ShardSource>, totals: Totals) {
        self.lazy = Lazy(Some(Box::new(LazyState {
            source,
            loaded: BTreeSet::new(),
            located: Default::default(),
            whole: false,
            unloaded: totals,
            failure: None,
            parked: None,
            held: Vec::new(),
            core_len: 0,
        })));
    }

    /// Puts every shard away, to be loaded again as they are needed, from memory: what the
    /// simulator's reload check does around every call and clock move ([`crate::Sim::reloading`]),
    /// so a call that does not ensure what it looks at fails the tests.
    ///
    /// As a store's save does, it costs what the world has loaded, not what it holds: a
    /// world that was put away here and loaded only some shards since puts back just those
    /// (split again as they are now, with what was made meanwhile) and keeps the others as
    /// they were. A key the loaded part would be put away under that names a shard it did
    /// not load is a use that did not ensure what it changed: a store's save would write
    /// over that shard, and here it panics. A whole world (or one loaded from elsewhere) is
    /// put away whole. The shards kept are checked to be what putting the whole world away
    /// would give ([`World::make_whole_checked`]).
    pub fn reload_lazily(&mut self) {
        let parked = self.lazy.0.as_ref().filter(|s| s.failure.is_none()).and_then(|s| s.parked.clone());
        let Some(parked) = parked else {
            self.make_whole();
            let keys = self.shard_keys();
            let shards = Arc::new(MemoryShards::new(self.take_shards(&keys)));
            let totals = shards.totals();
            self.load_lazily(Arc::clone(&shards) as Arc<dyn ShardSource>, totals);
            let core_len = self.sharded_len();
            if let Some(state) = self.lazy.0.as_mut() {
                state.parked = Some(shards);
                state.core_len = core_len;
            }
            return;
        };
        let loaded = self.lazy.0.as_ref().map(|s| s.loaded.clone()).unwrap_or_default();
        let keys = self.shard_keys();
        let unseen: Vec<&ShardKey> =
            keys.shards().into_iter().filter(|k| !loaded.contains(*k) && parked.holds(k)).collect();
        assert!(
            unseen.is_empty(),
            "the reload check: what the world loaded would be put away as shard(s) {unseen:?}, which it did \
             not load (a call or transition changed what it did not ensure)"
        );
        let mut totals = self.unloaded_totals();
        let shards = self.take_shards(&keys);
        for shard in shards.values() {
            totals.add(&Totals::of(shard));
        }
        parked.put_back(&loaded, shards);
        self.parked_again(parked, totals);
    }

    /// Starts again from the world put away in `parked` (nothing loaded; `totals`: the
    /// counts of every shard).
    fn parked_again(&mut self, parked: Arc<MemoryShards>, totals: Totals) {
        self.load_lazily(Arc::clone(&parked) as Arc<dyn ShardSource>, totals);
        let core_len = self.sharded_len();
        if let Some(state) = self.lazy.0.as_mut() {
            state.parked = Some(parked);
            state.core_len = core_len;
        }
    }

    /// [`World::reload_lazily`] after a use that only read what it loaded (a call whose
    /// API changes nothing): when the world holds exactly what the core held when it was
    /// put away and what the use loaded, each shard loaded goes back as it came, under its
    /// key and directory keys, without the world being split again (which costs what the
    /// loaded shards hold, several times over: a server's shard holds its snapshots). Debug
    /// builds also check that splitting would give those shards (their resources' keys,
    /// their directory keys). Anything else (a resource made or deleted, a world loaded
    /// whole or poisoned) is put away by [`World::reload_lazily`], checks included.
    pub fn put_away_read(&mut self) {
        let Some(state) = self.lazy.0.as_ref().filter(|s| s.failure.is_none() && s.parked.is_some()) else {
            return self.reload_lazily();
        };
        let expected = state.core_len + state.held.iter().map(|(_, h)| h.len()).sum::<usize>();
        let unchanged = state.held.len() == state.loaded.len()
            && self.sharded_len() == expected
            && state.held.iter().all(|(_, h)| self.holds(h));
        if !unchanged || (cfg!(debug_assertions) && !self.split_as_held()) {
            return self.reload_lazily();
        }
        let Some(state) = self.lazy.0.as_mut() else { return };
        let (held, parked) = (std::mem::take(&mut state.held), state.parked.clone());
        let Some(parked) = parked else { return };
        let mut totals = self.unloaded_totals();
        let shards: Vec<(ShardKey, Shard)> = held.iter().map(|(key, h)| (key.clone(), self.take_held(h))).collect();
        for (_, shard) in &shards {
            totals.add(&Totals::of(shard));
        }
        // Rebuilt for the core, as `take_shards` does.
        let unsettled = std::mem::take(&mut self.index.unsettled);
        self.index = super::index::Index::build(self);
        self.index.unsettled = unsettled;
        match parked.put_back_unchanged(shards) {
            Ok(()) => self.parked_again(parked, totals),
            Err(shards) => {
                for (_, shard) in shards {
                    self.absorb(shard);
                }
                if let Some(state) = self.lazy.0.as_mut() {
                    state.held = held;
                }
                self.reload_lazily();
            }
        }
    }

    /// How many sharded resources (what [`World::take_shards`] would look at) the world holds.
    fn sharded_len(&self) -> usize {
        let mut n: usize = self.locks.values().map(BTreeMap::len).sum();
        macro_rules! count {
            ($f:ident) => {
                n += self.$f.len();
            };
        }
        keyed_maps!(count);
        n
    }

    /// Whether the world holds everything `held` names.
    fn holds(&self, held: &Held) -> bool {
        macro_rules! all {
            ($f:ident) => {
                if !held.$f.iter().all(|k| self.$f.contains_key(k)) {
                    return false;
                }
            };
        }
        keyed_maps!(all);
        held.locks.iter().all(|(r, n)| self.locks.get(r).is_some_and(|l| l.contains_key(n)))
    }

    /// Whether splitting the world would put each resource the loaded shards held back in
    /// the shard it came from.
    fn split_as_held(&self) -> bool {
        let Some(state) = self.lazy.0.as_ref() else { return false };
        let keys = self.shard_keys();
        state.held.iter().all(|(key, held)| {
            let nodes = super::shards::resource_nodes!(held, iter, held.locks.iter().map(|(r, n)| (r, n)));
            nodes.iter().all(|node| keys.of(node) == Some(key))
        })
    }

    /// Takes what `held` names out of the world (its index left as it is).
    fn take_held(&mut self, held: &Held) -> Shard {
        let mut shard = Shard::default();
        macro_rules! take {
            ($f:ident) => {
                for k in &held.$f {
                    if let Some(v) = self.$f.remove(k) {
                        shard.$f.insert(k.clone(), v);
                    }
                }
            };
        }
        keyed_maps!(take);
        for (region, name) in &held.locks {
            if let Some(locks) = self.locks.get_mut(region) {
                if let Some(tags) = locks.remove(name) {
                    shard.locks.entry(region.clone()).or_default().insert(name.clone(), tags);
                }
                if locks.is_empty() {
                    self.locks.remove(region);
                }
            }
        }
        shard
    }

    /// Whether the world is put away by [`World::reload_lazily`] with nothing loaded since.
    pub fn is_put_away(&self) -> bool {
        self.lazy.0.as_ref().is_some_and(|s| s.parked.is_some() && s.loaded.is_empty() && s.failure.is_none())
    }

    /// Loads every shard not loaded yet and forgets where they came from.
    /// (A world whose load failed stays as it is: poisoned.)
    pub fn make_whole(&mut self) {
        self.ensure(&[Need::All]);
        if self.load_failure().is_none() {
            self.lazy = Lazy(None);
        }
    }

    /// [`World::make_whole`] between two uses of the reload check ([`crate::Sim::reloading`]):
    /// a world that [`World::reload_lazily`] put away, nothing loaded since, is checked on the
    /// way: every resource must be in the shard (or the core) that putting the whole world
    /// away would put it in, else it panics (the shards are put away a use at a time).
    pub fn make_whole_checked(&mut self) {
        let expected = self.lazy.0.as_ref().filter(|_| self.is_put_away()).and_then(|s| s.parked.as_ref()).map(|p| {
            let mut expected: super::shards::HashMap<_, Option<ShardKey>> =
                p.partition().into_iter().map(|(node, key)| (node, Some(key))).collect();
            expected.extend(self.core_nodes().into_iter().map(|node| (node, None)));
            expected
        });
        self.make_whole();
        if let Some(expected) = expected {
            if let Err(problem) = self.check_partition(&expected) {
                panic!("the reload check: {problem}");
            }
        }
    }

    /// Loads the shards that hold what `needs` names (nothing for a whole world).
    pub fn ensure(&mut self, needs: &[Need]) {
        let Some(state) = self.lazy.0.as_ref() else {
            return;
        };
        if state.whole || state.failure.is_some() {
            return;
        }
        let source = Arc::clone(&state.source);
        let mut wanted = BTreeSet::new();
        let mut keys = Vec::new();
        for need in needs {
            match need.directory_key() {
                // A key found once needs no second look: its shard is loaded, or no shard
                // held it, and what this world made since is in memory.
                Some(key) => {
                    if self.lazy.0.as_ref().is_some_and(|s| !s.located.contains(&key)) {
                        keys.push(key);
                    }
                }
                None => match source.shards() {
                    Ok(all) => {
                        wanted.extend(all);
                        if let Some(state) = self.lazy.0.as_mut() {
                            state.whole = true;
                        }
                    }
                    Err(e) => return self.poison(e),
                },
            }
        }
        if !keys.is_empty() {
            match source.locate_many(&keys) {
                Ok(found) => wanted.extend(found.into_iter().flatten()),
                Err(e) => return self.poison(e),
            }
            if let Some(state) = self.lazy.0.as_mut() {
                state.located.extend(keys);
            }
        }
        let wanted: Vec<ShardKey> =
            wanted.into_iter().filter(|s| self.lazy.0.as_ref().is_some_and(|l| !l.loaded.contains(s))).collect();
        if wanted.is_empty() {
            return;
        }
        // A batch at a time, each absorbed before the next is read: loading every shard
        // then holds the world and one batch, not the world twice (parsed, then absorbed).
        let mut absorbed = Vec::new();
        for batch in wanted.chunks(LOAD_BATCH) {
            let loaded = match source.load_many(batch) {
                Ok(loaded) => loaded,
                Err(e) => return self.poison(e),
            };
            for (key, shard) in batch.iter().zip(loaded) {
                let totals = Totals::of(&shard);
                absorbed.push(shard.ids());
                if let Some(state) = self.lazy.0.as_mut().filter(|s| s.parked.is_some()) {
                    state.held.push((key.clone(), Held::of(&shard)));
                }
                self.absorb(shard);
                if let Some(state) = self.lazy.0.as_mut() {
                    state.unloaded.subtract(&totals);
                    state.loaded.insert(key.clone());
                }
            }
        }
        // What a hand-edited or damaged shard could break (see `check_consistency`), in
        // the shards just loaded (so loading many costs what they hold).
        for ids in &absorbed {
            if let Err(problem) = self.check_absorbed(ids) {
                self.poison(format!(
                    "{} is inconsistent: {problem}; run `cellar sim init` to reset it to the default world",
                    source.name()
                ));
                return;
            }
        }
    }

    fn poison(&mut self, failure: String) {
        if let Some(state) = self.lazy.0.as_mut() {
            state.failure.get_or_insert(failure);
        }
    }

    /// How many log entries the world recorded in its whole history: its log holds the
    /// last of them, the one at `i` being number `log_seq - log.len() + i` (a store
    /// appends the ones it does not have yet).
    pub fn log_seq(&self) -> u64 {
        self.log_seq
    }

    /// Takes the log out (a store writes it apart from the core); put it back with
    /// [`World::restore_log`].
    pub fn take_log(&mut self) -> std::collections::VecDeque<super::LogEntry> {
        std::mem::take(&mut self.log)
    }

    pub fn restore_log(&mut self, log: std::collections::VecDeque<super::LogEntry>) {
        self.log = log;
    }

    /// Puts log entries read from a store in front of what was recorded since (keeping the
    /// last [`super::LOG_KEEP`]).
    pub fn prepend_log(&mut self, mut older: std::collections::VecDeque<super::LogEntry>) {
        older.append(&mut self.log);
        older.drain(..older.len().saturating_sub(super::LOG_KEEP));
        self.log = older;
    }

    /// The shards a store should hold for this world: the world's sharded resources are
    /// moved out (see [`World::take_shards`]); put them back with [`World::absorb`].
    pub fn split_for_save(&mut self) -> BTreeMap<ShardKey, Shard> {
        let keys = self.shard_keys();
        self.take_shards(&keys)
    }

    /// The auto scaling groups that may act at the next move of the clock, for a store to
    /// keep with the core (a world loaded lazily then looks at those, not at every group,
    /// which would load every shard). A world that has not looked at its groups since it
    /// was loaded whole gives those short of or beyond their capacity, retrying, or with a
    /// member that stopped being live: a superset of what its first look would act on.
    pub fn unsettled_groups(&self) -> std::collections::BTreeSet<AutoScalingGroupName> {
        if let Some(set) = &self.index.unsettled.0 {
            return set.clone();
        }
        let acts = |g: &super::SimGroup| {
            !g.deleting
                && (g.retry_at.is_some()
                    || g.instances.len() as u64 != u64::from(g.desired)
                    || g.instances.iter().any(|i| self.instances.get(i).is_none_or(|i| !i.is_live())))
        };
        self.groups.values().filter(|g| acts(g)).map(|g| g.name.clone()).collect()
    }

    /// Sets the groups that may act at the next move of the clock (see
    /// [`World::unsettled_groups`]).
    pub fn set_unsettled_groups(&mut self, groups: std::collections::BTreeSet<AutoScalingGroupName>) {
        self.index.unsettled.0 = Some(groups);
    }

    /// Counts of the shards not loaded (zero for a whole world).
    pub fn unloaded_totals(&self) -> Totals {
        self.lazy.0.as_ref().filter(|s| !s.whole).map(|s| s.unloaded.clone()).unwrap_or_default()
    }

    /// Why a shard could not be loaded, if one could not.
    pub fn load_failure(&self) -> Option<&str> {
        self.lazy.0.as_ref().and_then(|s| s.failure.as_deref())
    }

    /// The shards loaded so far (`None`: the world is whole).
    pub fn loaded_shards(&self) -> Option<&BTreeSet<ShardKey>> {
        self.lazy.0.as_ref().filter(|s| !s.whole).map(|s| &s.loaded)
    }

    /// Elastic IPs held in `region` by the shards not loaded (0 for a whole world).
    pub(super) fn unloaded_addresses(&self, region: &Region) -> usize {
        let held = self.lazy.0.as_ref().and_then(|s| s.unloaded.addresses.get(region).copied());
        held.unwrap_or(0) as usize
    }

    /// A group in the shards not loaded that uses the launch configuration, if any.
    pub(super) fn unloaded_configuration_user(&self, region: &Region, name: &str) -> Option<AutoScalingGroupName> {
        let users = self.lazy.0.as_ref()?.unloaded.configuration_users.get(region)?.get(name)?;
        users.first().cloned()
    }

    /// Live instances of the type in the zone in the shards not loaded (0 for a whole world).
    pub(super) fn unloaded_live(&self, zone: &Zone, instance_type: &InstanceType) -> u32 {
        let live = self.lazy.0.as_ref().and_then(|s| s.unloaded.live.get(zone)?.get(instance_type).copied());
        live.unwrap_or(0)
    }
}
