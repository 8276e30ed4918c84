//! Launch capacity per availability zone and instance type (what
//! `InsufficientInstanceCapacity` is made of).
//!
//! Invariants: without an override a (zone, type) pair has room for
//! [`DEFAULT_CAPACITY`] live instances; an override counts the launches still possible
//! (each launch takes one, terminations do not give it back). Overrides exist only for
//! zones of this world and instance types the engine's catalog knows.

use super::World;
use cellar_engine::catalog;
use cellar_engine::model::*;

/// Launches possible per (zone, instance type) unless [`World::set_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: u32 = 1000;

impl World {
    fn live_count(&self, zone: &Zone, instance_type: &InstanceType) -> u32 {
        let live =
            self.instances.values().filter(|i| i.is_live() && i.zone == *zone && i.instance_type == *instance_type);
        u32::try_from(live.count()).unwrap_or(u32::MAX).saturating_add(self.unloaded_live(zone, instance_type))
    }

    /// How many more instances of the type can launch in the zone.
    pub fn available_capacity(&self, zone: &Zone, instance_type: &InstanceType) -> u32 {
        match self.capacity.get(zone).and_then(|m| m.get(instance_type)) {
            Some(n) => *n,
            None => self.default_capacity.saturating_sub(self.live_count(zone, instance_type)),
        }
    }

    /// The zone and instance type of a capacity setting must exist: the zone in this world,
    /// the type in the engine's catalog. The error names the value and what would do.
    pub(super) fn check_capacity_target(&self, zone: &Zone, instance_type: &InstanceType) -> Result<(), String> {
        self.check_world_zone(zone)?;
        if catalog::instance_type_architectures(instance_type.as_str()).is_none() {
            let hint = match catalog::suggest_instance_type(instance_type.as_str()) {
                Some(t) => format!("did you mean {t}?"),
                None => format!(
                    "known types: {}",
                    catalog::INSTANCE_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(format!("{instance_type} is not an instance type cellar knows ({hint})"));
        }
        Ok(())
    }

    /// From now on, `n` more instances of the type can launch in the zone (each launch
    /// takes one; terminations do not give them back). Refuses (world unchanged) a zone
    /// this world does not have and an instance type the engine's catalog does not know.
    pub fn set_capacity(&mut self, zone: &Zone, instance_type: &InstanceType, n: u32) -> Result<(), String> {
        self.check_capacity_target(zone, instance_type)?;
        self.capacity.entry(zone.clone()).or_default().insert(instance_type.clone(), n);
        self.record(format!("capacity for {instance_type} in {zone} set to {n}"));
        Ok(())
    }

    /// Drops an override: the pair falls back to the default capacity.
    #[cfg(test)]
    pub(crate) fn clear_capacity(&mut self, zone: &Zone, instance_type: &InstanceType) {
        if let Some(m) = self.capacity.get_mut(zone) {
            m.remove(instance_type);
            if m.is_empty() {
                self.capacity.remove(zone);
            }
        }
        self.record(format!("capacity for {instance_type} in {zone} back to the default"));
    }

    pub(super) fn consume_capacity(&mut self, zone: &Zone, instance_type: &InstanceType) {
        if let Some(n) = self.capacity.get_mut(zone).and_then(|m| m.get_mut(instance_type)) {
            *n = n.saturating_sub(1);
        }
    }

    /// The capacity overrides, per zone and instance type.
    pub fn capacity_overrides(&self) -> impl Iterator<Item = (&Zone, &InstanceType, u32)> {
        self.capacity.iter().flat_map(|(z, m)| m.iter().map(move |(t, n)| (z, t, *n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::default_world;

    /// `set_capacity(zone, type, 5)` on the default world: Ok, or the error; a refusal
    /// leaves the world unchanged.
    fn check(zone: &str, instance_type: &str, expected: Result<(), &str>) {
        let mut w = default_world();
        let before = w.clone();
        let got = w.set_capacity(&Zone::new(zone), &InstanceType::new(instance_type), 5);
        assert_eq!(got.as_ref().map_err(String::as_str), expected.as_ref().map_err(|e| *e), "{zone} {instance_type}");
        if got.is_err() {
            assert_eq!(w, before, "a refused setting changes nothing");
        } else {
            assert_eq!(w.available_capacity(&Zone::new(zone), &InstanceType::new(instance_type)), 5);
        }
    }

    #[test]
    fn capacity_is_set_only_for_zones_and_types_that_exist() {
        check("us-east-1a", "t3.medium", Ok(()));
        check("us-west-2c", "m5.large", Ok(()));
        check(
            "mars-9z",
            "t3.medium",
            Err("mars-9z is not a zone of this world (its zones: us-east-1a, us-east-1b, us-east-1c, us-east-1d, \
                 us-east-1e, us-east-1f, us-west-2a, us-west-2b, us-west-2c, us-west-2d)"),
        );
        check("us-east-1z", "t3.medium", Err("us-east-1z is not a zone of this world (its zones: us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f, us-west-2a, us-west-2b, us-west-2c, us-west-2d)"));
        check(
            "us-east-1a",
            "t3.mediun",
            Err("t3.mediun is not an instance type cellar knows (did you mean t3.medium?)"),
        );
        let e =
            default_world().set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("quantum.huge"), 1).unwrap_err();
        assert!(e.starts_with("quantum.huge is not an instance type cellar knows (known types: "), "{e}");
        assert!(e.contains("t3.medium"), "{e}");
    }
}
