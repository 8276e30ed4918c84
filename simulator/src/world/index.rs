//! Lookups that make a describe cost what it returns, not the size of the world: every
//! resource kind a server owns, by its `Name` tag, and every instance's Elastic IPs.
//!
//! Invariants: the index is derived data, never saved (the state file holds the resources;
//! loading a world rebuilds it with [`Index::build`]); every operation that creates or
//! removes a resource, changes a `Name` tag (CreateTags, DeleteTags) or an address's
//! association updates it in the same call, so it always equals [`Index::build`] of the
//! world (the simulator's own tests check this after every `Cloud` call).

use super::World;
use cellar_engine::cloud::Filter;
use cellar_engine::model::*;
use std::collections::{BTreeMap, BTreeSet};

/// Ids of one kind by the value of their `Name` tag (resources without one are not listed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ByName<K: Ord>(BTreeMap<String, BTreeSet<K>>);

impl<K: Ord> Default for ByName<K> {
    fn default() -> Self {
        ByName(BTreeMap::new())
    }
}

impl<K: Ord + Clone> ByName<K> {
    pub(super) fn add(&mut self, tags: &Tags, id: &K) {
        if let Some(name) = tags.get(NAME_TAG) {
            self.0.entry(name.clone()).or_default().insert(id.clone());
        }
    }

    pub(super) fn remove(&mut self, tags: &Tags, id: &K) {
        if let Some(name) = tags.get(NAME_TAG) {
            if let Some(ids) = self.0.get_mut(name) {
                ids.remove(id);
                if ids.is_empty() {
                    self.0.remove(name);
                }
            }
        }
    }

    /// Moves `id` from the name in `before` to the name in `after` (a CreateTags or
    /// DeleteTags that may have changed it).
    pub(super) fn retag(&mut self, before: &Tags, after: &Tags, id: &K) {
        if before.get(NAME_TAG) != after.get(NAME_TAG) {
            self.remove(before, id);
            self.add(after, id);
        }
    }

    /// The ids a describe with `filter` may return, in id order; `None`: every resource of
    /// the kind (`Filter::All`, and `Filter::Id`, which the caller looks up directly).
    pub(super) fn candidates(&self, filter: &Filter) -> Option<BTreeSet<&K>> {
        match filter {
            Filter::All | Filter::Id(_) => None,
            Filter::Server(name) => Some(self.0.get(name.as_str()).into_iter().flatten().collect()),
            Filter::Servers(names) => Some(names.iter().filter_map(|n| self.0.get(n.as_str())).flatten().collect()),
        }
    }
}

/// The auto scaling groups whose next reconciliation may do something (see
/// [`World::reconcile_groups`]): `None` (a world just made or loaded) means every group.
/// A cache, like the index: not saved, and left out of a world's `==` (a loaded world
/// looks at every group once, then only at these).
#[derive(Clone, Debug, Default)]
pub(super) struct Unsettled(pub(super) Option<BTreeSet<AutoScalingGroupName>>);

impl PartialEq for Unsettled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Unsettled {}

impl Unsettled {
    /// The group may have something to do at its next reconciliation.
    pub(super) fn mark(&mut self, group: &AutoScalingGroupName) {
        if let Some(set) = &mut self.0 {
            set.insert(group.clone());
        }
    }
}

/// Every index of a world (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Index {
    pub(super) instances: ByName<InstanceId>,
    pub(super) volumes: ByName<VolumeId>,
    pub(super) addresses: ByName<AllocationId>,
    pub(super) templates: ByName<LaunchTemplateId>,
    pub(super) groups: ByName<AutoScalingGroupName>,
    pub(super) snapshots: ByName<SnapshotId>,
    /// The addresses associated with each instance.
    pub(super) associated: BTreeMap<InstanceId, BTreeSet<AllocationId>>,
    /// The groups to look at when the clock moves.
    pub(super) unsettled: Unsettled,
}

impl Index {
    /// The index of `world`'s resources, from scratch.
    pub(super) fn build(world: &World) -> Index {
        let mut index = Index::default();
        for (id, i) in &world.instances {
            index.instances.add(&i.tags, id);
        }
        for (id, v) in &world.volumes {
            index.volumes.add(&v.tags, id);
        }
        for (id, a) in &world.addresses {
            index.addresses.add(&a.tags, id);
            if let Some(instance) = &a.associated_to {
                index.associate(instance, id);
            }
        }
        for (id, t) in &world.templates {
            index.templates.add(&t.tags, id);
        }
        for (name, g) in &world.groups {
            index.groups.add(&g.tags, name);
        }
        for (id, s) in &world.snapshots {
            index.snapshots.add(&s.tags, id);
        }
        index
    }

    pub(super) fn associate(&mut self, instance: &InstanceId, address: &AllocationId) {
        self.associated.entry(instance.clone()).or_default().insert(address.clone());
    }

    pub(super) fn disassociate(&mut self, instance: &InstanceId, address: &AllocationId) {
        if let Some(addresses) = self.associated.get_mut(instance) {
            addresses.remove(address);
            if addresses.is_empty() {
                self.associated.remove(instance);
            }
        }
    }
}

/// The values of `map` a describe with `filter` may return (by the index `by_name` of the
/// kind, or the id for `Filter::Id`), in id order; the caller still applies the filter's
/// region and visibility.
pub(super) fn select<'a, K: Ord + Clone + for<'s> From<&'s str>, V>(
    map: &'a BTreeMap<K, V>,
    by_name: &ByName<K>,
    filter: &Filter,
) -> Box<dyn Iterator<Item = &'a V> + 'a> {
    if let Filter::Id(id) = filter {
        return Box::new(map.get(&K::from(id.as_str())).into_iter());
    }
    match by_name.candidates(filter) {
        None => Box::new(map.values()),
        Some(ids) => {
            let values: Vec<&'a V> = ids.into_iter().filter_map(|id| map.get(id)).collect();
            Box::new(values.into_iter())
        }
    }
}

impl World {
    /// Whether the index equals one built from scratch (the simulator's tests call this
    /// after every `Cloud` call).
    #[cfg(test)]
    pub(crate) fn check_index(&self) -> Result<(), String> {
        let built = Index::build(self);
        if self.index == built {
            Ok(())
        } else {
            Err(format!("the index drifted:\n kept: {:?}\n built: {built:?}", self.index))
        }
    }

    /// Whether splitting the world into its shards and putting them back gives it back
    /// (the simulator's tests call this after every `Cloud` call).
    #[cfg(test)]
    pub(crate) fn check_shards(&self) -> Result<(), String> {
        let mut split = self.clone();
        let keys = split.shard_keys();
        let shards = split.take_shards(&keys);
        for shard in shards.into_values() {
            split.absorb(shard);
        }
        if split == *self && split.index == self.index {
            Ok(())
        } else {
            Err("splitting the world into shards and absorbing them did not give it back".to_string())
        }
    }
}
