//! Eventual consistency ([`Faults::invisible_secs`](crate::Faults::invisible_secs)) for every
//! kind but instances (which carry their own `visible_at_ms`): for that long after it is
//! created, a volume, address, launch template (or version), auto scaling group, image or
//! snapshot is missing from its describe, and calls naming it fail with AWS's NotFound
//! for its kind (a launch template or version named by CreateAutoScalingGroup or
//! UpdateAutoScalingGroup: `ValidationError`, as AWS answers).
//!
//! Invariants: keys are the resource id (`vol-…`, `eipalloc-…`, `lt-…`, `ami-…`, `snap-…`),
//! `lt-…#N` for version N of a launch template, `group:NAME` for a group; an entry maps to
//! the virtual millisecond the resource becomes visible, and entries already past are
//! dropped whenever one is added, so the map holds only what is invisible now or soon.

use super::World;

impl World {
    /// Starts the invisibility of a resource just created (nothing without the fault).
    pub(super) fn hide_new(&mut self, key: String) {
        let secs = self.faults.invisible_secs;
        if secs == 0 {
            return;
        }
        let now_ms = self.now_ms();
        self.invisible.retain(|_, at| *at > now_ms);
        self.invisible.insert(key, now_ms.saturating_add(secs.saturating_mul(1000)));
    }

    /// Whether the API sees the resource of this key now.
    pub(super) fn visible(&self, key: &str) -> bool {
        self.invisible.get(key).is_none_or(|at| self.now_ms() >= *at)
    }

    /// The key of a group.
    pub(super) fn group_key(name: &impl std::fmt::Display) -> String {
        format!("group:{name}")
    }

    /// The key of a launch template version.
    pub(super) fn version_key(id: &impl std::fmt::Display, version: u32) -> String {
        format!("{id}#{version}")
    }

    /// Resources not visible yet, with the millisecond each becomes visible (`sim show`).
    pub fn invisible(&self) -> impl Iterator<Item = (&str, u64)> {
        let now_ms = self.now_ms();
        self.invisible.iter().filter(move |(_, at)| **at > now_ms).map(|(k, at)| (k.as_str(), *at))
    }
}
