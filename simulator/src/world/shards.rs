//! A world split by server, so that a command about one server reads and writes that
//! server's part of the world, not all of it.
//!
//! A [`Shard`] holds every resource of one group of servers: the instances, volumes (and their data),
//! snapshots, Elastic IPs, launch templates, server locks and auto scaling groups whose
//! `Name` tag names one of them, the console output of those instances and the client
//! tokens whose answer is one of those resources. What is left (the clock, the faults,
//! the network, images, the scheduler, the log, untagged resources, and launch
//! configurations, which carry no tags and of which AWS allows 200 a region) is the
//! *core*.
//!
//! Invariants:
//! - **Shards are closed under references.** Resources that refer to each other are in
//!   one shard, whatever their `Name`: a volume attached to an instance, an address
//!   associated with it, a group and its members, its launch template, an
//!   instance and the template version it was launched from, a token and its answer. So an
//!   operation on a loaded shard never follows a reference into one that is not loaded.
//!   A shard's key is the smallest `Name` among its resources ([`World::shard_keys`]);
//!   resources tied to no `Name` stay in the core, and so do the snapshots of images (the
//!   core's images refer to them).
//! - [`World::take_shards`] then [`World::absorb`] of every shard gives the world back,
//!   equal to what it was (index included); the simulator's tests check it.

use super::{SimAddress, SimGroup, SimInstance, SimSnapshot, SimTemplate, TokenAnswer, VolumeData, VolumeToken, World};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A hash map keyed by what the world's own ids and names are, not by what an adversary
/// picks: rustc's Fx hash (`rustc-hash`) rather than SipHash, which was a tenth of the
/// reload check's cost (every call's shards split again by [`World::shard_keys`]).
pub(super) type HashMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// The key of a shard: the smallest `Name` tag among its resources.
pub type ShardKey = String;

/// The resources of one shard (see the module doc), in the state file's form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) instances: BTreeMap<InstanceId, SimInstance>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) volumes: BTreeMap<VolumeId, Volume>,
    /// The data of those volumes (absent in older shards: generation 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) volume_data: BTreeMap<VolumeId, VolumeData>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) snapshots: BTreeMap<SnapshotId, SimSnapshot>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) addresses: BTreeMap<AllocationId, SimAddress>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) templates: BTreeMap<LaunchTemplateId, SimTemplate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) locks: BTreeMap<Region, BTreeMap<String, Tags>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) groups: BTreeMap<AutoScalingGroupName, SimGroup>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) client_tokens: BTreeMap<String, InstanceId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) volume_tokens: BTreeMap<String, VolumeToken>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) tokens: BTreeMap<String, TokenAnswer>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) console: BTreeMap<InstanceId, Vec<String>>,
}

/// The ids of what a shard holds that [`World::check_absorbed`] checks.
pub(super) struct ShardIds {
    pub(super) templates: Vec<LaunchTemplateId>,
    pub(super) groups: Vec<AutoScalingGroupName>,
    pub(super) volumes: Vec<VolumeId>,
    pub(super) addresses: Vec<AllocationId>,
}

impl Shard {
    pub(super) fn ids(&self) -> ShardIds {
        ShardIds {
            templates: self.templates.keys().cloned().collect(),
            groups: self.groups.keys().cloned().collect(),
            volumes: self.volumes.keys().cloned().collect(),
            addresses: self.addresses.keys().cloned().collect(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        *self == Shard::default()
    }
}

/// A node of the reference graph: a resource (by kind and id) or a `Name` tag's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Node {
    Name(String),
    Instance(String),
    Volume(String),
    Snapshot(String),
    Address(String),
    Template(String),
    Lock(String, String),
    Group(String),
    Token(String),
    /// Pinned to the core (the snapshots of images).
    Core,
}

/// The nodes of the resources a shard or a world holds (not the `Name`s: see [`Node`]),
/// each kind's ids listed by `$ids` (`keys` of a shard's or world's maps, `iter` of the
/// lists of ids a use of the reload check loaded), and its locks as `$locks`, (region,
/// name) pairs: the one place an id becomes its node.
macro_rules! resource_nodes {
    ($x:expr, $ids:ident, $locks:expr) => {{
        use $crate::world::shards::Node;
        let x = $x;
        let mut nodes = Vec::new();
        nodes.extend(x.instances.$ids().map(|id| Node::Instance(id.to_string())));
        nodes.extend(x.volumes.$ids().map(|id| Node::Volume(id.to_string())));
        nodes.extend(x.snapshots.$ids().map(|id| Node::Snapshot(id.to_string())));
        nodes.extend(x.addresses.$ids().map(|id| Node::Address(id.to_string())));
        nodes.extend(x.templates.$ids().map(|id| Node::Template(id.to_string())));
        nodes.extend(x.groups.$ids().map(|name| Node::Group(name.to_string())));
        nodes.extend(x.client_tokens.$ids().map(|t| Node::Token(format!("run/{t}"))));
        nodes.extend(x.volume_tokens.$ids().map(|t| Node::Token(format!("volume/{t}"))));
        nodes.extend(x.tokens.$ids().map(|t| Node::Token(format!("other/{t}"))));
        nodes.extend($locks.map(|(region, name)| Node::Lock(region.to_string(), name.clone())));
        nodes
    }};
}
pub(super) use resource_nodes;

/// The (region, name) pairs of a shard's or a world's locks.
macro_rules! lock_pairs {
    ($x:expr) => {
        $x.locks.iter().flat_map(|(region, locks)| locks.keys().map(move |name| (region, name)))
    };
}

impl Shard {
    /// The nodes of what it holds.
    pub(super) fn nodes(&self) -> Vec<Node> {
        resource_nodes!(self, keys, lock_pairs!(self))
    }
}

/// Union-find over [`Node`]s (path halving, union by size).
#[derive(Default)]
struct Components {
    index: HashMap<Node, usize>,
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl Components {
    fn node(&mut self, node: Node) -> usize {
        if let Some(&i) = self.index.get(&node) {
            return i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.size.push(1);
        self.index.insert(node, i);
        i
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn join(&mut self, a: Node, b: Node) {
        let (a, b) = (self.node(a), self.node(b));
        let (mut a, mut b) = (self.root(a), self.root(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }

    /// Ties a resource to the value of its `Name` tag, if it has one.
    fn named(&mut self, node: Node, tags: &Tags) {
        match tags.get(NAME_TAG) {
            Some(name) => self.join(node, Node::Name(name.clone())),
            None => {
                self.node(node);
            }
        }
    }

    /// Each node's shard: the smallest `Name` in its component, `None` (the core) when
    /// there is none or the component is pinned to the core.
    fn keys(mut self) -> HashMap<Node, Option<ShardKey>> {
        let mut best: HashMap<usize, Option<ShardKey>> = HashMap::default();
        let mut pinned = Vec::new();
        let nodes: Vec<(Node, usize)> = std::mem::take(&mut self.index).into_iter().collect();
        for (node, i) in &nodes {
            let root = self.root(*i);
            match node {
                Node::Name(name) => {
                    let slot = best.entry(root).or_insert(None);
                    if slot.as_ref().is_none_or(|b| name < b) {
                        *slot = Some(name.clone());
                    }
                }
                Node::Core => pinned.push(root),
                _ => {}
            }
        }
        for root in pinned {
            best.insert(root, None);
        }
        nodes
            .into_iter()
            .map(|(node, i)| {
                let root = self.root(i);
                (node, best.get(&root).cloned().flatten())
            })
            .collect()
    }
}

/// The shard of every sharded resource of a world (see [`World::shard_keys`]).
pub struct ShardKeys(HashMap<Node, Option<ShardKey>>);

impl ShardKeys {
    pub(super) fn of(&self, node: &Node) -> Option<&ShardKey> {
        self.0.get(node).and_then(Option::as_ref)
    }

    /// Every shard that holds something.
    pub fn shards(&self) -> std::collections::BTreeSet<&ShardKey> {
        self.0.values().flatten().collect()
    }
}

/// The node a token's answer is.
fn answer_node(answer: &super::Answer) -> Option<Node> {
    match answer {
        super::Answer::LaunchTemplate(t) => Some(Node::Template(t.id.to_string())),
        super::Answer::Instance(i) => Some(Node::Instance(i.id.to_string())),
        super::Answer::Image(_) => None,
    }
}

impl World {
    /// The shard of each sharded resource (see the module doc for the rules).
    pub fn shard_keys(&self) -> ShardKeys {
        let mut c = Components::default();
        for (id, i) in &self.instances {
            let node = Node::Instance(id.to_string());
            c.named(node.clone(), &i.tags);
            if let Some(g) = &i.group {
                c.join(node.clone(), Node::Group(g.to_string()));
            }
            if let Some((t, _)) = &i.launched_from {
                c.join(node, Node::Template(t.to_string()));
            }
        }
        for (id, v) in &self.volumes {
            let node = Node::Volume(id.to_string());
            c.named(node.clone(), &v.tags);
            if let Some(i) = &v.attached_to {
                c.join(node, Node::Instance(i.to_string()));
            }
        }
        let image_snapshots: std::collections::BTreeSet<String> =
            self.image_devices.values().flatten().filter_map(|d| d.snapshot.as_ref().map(|s| s.to_string())).collect();
        for (id, s) in &self.snapshots {
            let node = Node::Snapshot(id.to_string());
            c.named(node.clone(), &s.tags);
            if image_snapshots.contains(id.as_str()) {
                c.join(node, Node::Core);
            }
        }
        for (id, a) in &self.addresses {
            let node = Node::Address(id.to_string());
            c.named(node.clone(), &a.tags);
            if let Some(i) = &a.associated_to {
                c.join(node, Node::Instance(i.to_string()));
            }
        }
        for (id, t) in &self.templates {
            c.named(Node::Template(id.to_string()), &t.tags);
        }
        for (region, locks) in &self.locks {
            for (name, tags) in locks {
                c.named(Node::Lock(region.to_string(), name.clone()), tags);
            }
        }
        for (name, g) in &self.groups {
            let node = Node::Group(name.to_string());
            c.named(node.clone(), &g.tags);
            for i in &g.instances {
                c.join(node.clone(), Node::Instance(i.to_string()));
            }
            if let LaunchSource::Template { id, .. } = &g.launch {
                c.join(node, Node::Template(id.to_string()));
            }
        }
        for (token, id) in &self.client_tokens {
            c.join(Node::Token(format!("run/{token}")), Node::Instance(id.to_string()));
        }
        for (token, answer) in &self.volume_tokens {
            let node = Node::Token(format!("volume/{token}"));
            c.join(node.clone(), Node::Volume(answer.volume.id.to_string()));
            c.named(node, &answer.volume.tags);
        }
        for (token, answer) in &self.tokens {
            let node = Node::Token(format!("other/{token}"));
            match answer_node(&answer.answer) {
                Some(target) => c.join(node, target),
                None => c.join(node, Node::Core),
            }
        }
        ShardKeys(c.keys())
    }

    /// The nodes of the resources the world holds now (for a world put away: the core's).
    pub(super) fn core_nodes(&self) -> Vec<Node> {
        resource_nodes!(self, keys, lock_pairs!(self))
    }

    /// Whether each resource of `expected` is where putting this (whole) world away would put
    /// it: in the shard named, or in the core (`None`).
    pub(super) fn check_partition(&self, expected: &HashMap<Node, Option<ShardKey>>) -> Result<(), String> {
        let keys = self.shard_keys();
        let mut wrong: Vec<String> = expected
            .iter()
            .filter_map(|(node, want)| {
                let got = keys.of(node);
                (got != want.as_ref()).then(|| format!("{node:?} was put away in {want:?}, belongs in {got:?}"))
            })
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
        wrong.sort();
        wrong.truncate(5);
        Err(format!("the shards put away a call at a time are not those of the whole world: {}", wrong.join("; ")))
    }

    /// Moves every sharded resource out of the world into its shard (`keys` from
    /// [`World::shard_keys`] of this world), leaving the core, and the index of what is
    /// left.
    pub fn take_shards(&mut self, keys: &ShardKeys) -> BTreeMap<ShardKey, Shard> {
        let mut shards: BTreeMap<ShardKey, Shard> = BTreeMap::new();
        macro_rules! take {
            ($field:ident, $node:expr) => {{
                let all = std::mem::take(&mut self.$field);
                for (id, value) in all {
                    let node = $node(&id);
                    match keys.of(&node) {
                        Some(key) => {
                            shards.entry(key.clone()).or_default().$field.insert(id, value);
                        }
                        None => {
                            self.$field.insert(id, value);
                        }
                    }
                }
            }};
        }
        take!(instances, |id: &InstanceId| Node::Instance(id.to_string()));
        take!(console, |id: &InstanceId| Node::Instance(id.to_string()));
        take!(volumes, |id: &VolumeId| Node::Volume(id.to_string()));
        take!(volume_data, |id: &VolumeId| Node::Volume(id.to_string()));
        take!(snapshots, |id: &SnapshotId| Node::Snapshot(id.to_string()));
        take!(addresses, |id: &AllocationId| Node::Address(id.to_string()));
        take!(templates, |id: &LaunchTemplateId| Node::Template(id.to_string()));
        take!(groups, |name: &AutoScalingGroupName| Node::Group(name.to_string()));
        take!(client_tokens, |token: &String| Node::Token(format!("run/{token}")));
        take!(volume_tokens, |token: &String| Node::Token(format!("volume/{token}")));
        take!(tokens, |token: &String| Node::Token(format!("other/{token}")));
        for (region, locks) in std::mem::take(&mut self.locks) {
            for (name, tags) in locks {
                let target = match keys.of(&Node::Lock(region.to_string(), name.clone())) {
                    Some(key) => &mut shards.entry(key.clone()).or_default().locks,
                    None => &mut self.locks,
                };
                target.entry(region.clone()).or_default().insert(name, tags);
            }
        }
        // Rebuilt for the core; which groups may act is kept (it is not derived).
        let unsettled = std::mem::take(&mut self.index.unsettled);
        self.index = super::index::Index::build(self);
        self.index.unsettled = unsettled;
        shards
    }

    /// Puts a shard's resources (back) into the world and indexes them.
    pub fn absorb(&mut self, shard: Shard) {
        let Shard {
            instances,
            volumes,
            volume_data,
            snapshots,
            addresses,
            templates,
            locks,
            groups,
            client_tokens,
            volume_tokens,
            tokens,
            console,
        } = shard;
        for (id, i) in instances {
            self.index.instances.add(&i.tags, &id);
            let before = self.instances.insert(id, i);
            debug_assert!(before.is_none(), "absorbed an instance the world already held");
        }
        for (id, v) in volumes {
            self.index.volumes.add(&v.tags, &id);
            self.volumes.insert(id, v);
        }
        self.volume_data.extend(volume_data);
        for (id, s) in snapshots {
            self.index.snapshots.add(&s.tags, &id);
            self.snapshots.insert(id, s);
        }
        for (id, a) in addresses {
            self.index.addresses.add(&a.tags, &id);
            if let Some(instance) = &a.associated_to {
                self.index.associate(instance, &id);
            }
            self.addresses.insert(id, a);
        }
        for (id, t) in templates {
            self.index.templates.add(&t.tags, &id);
            self.templates.insert(id, t);
        }
        for (name, g) in groups {
            self.index.groups.add(&g.tags, &name);
            self.groups.insert(name, g);
        }
        for (region, locks) in locks {
            self.locks.entry(region).or_default().extend(locks);
        }
        debug_assert!(
            console.keys().all(|i| !self.console.contains_key(i)),
            "absorbed console output of an instance the world already had output for: a call printed to \
             the console of an instance it did not ensure"
        );
        self.client_tokens.extend(client_tokens);
        self.volume_tokens.extend(volume_tokens);
        self.tokens.extend(tokens);
        self.console.extend(console);
    }
}
