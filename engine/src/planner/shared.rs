//! What the servers of a fleet plan share, worked out once per fleet instead of once per
//! server ([`super::plan_shared`]): the observations of their region (its images,
//! workspaces and network) are recorded by the first server's plan with steps and left out
//! of the others' (the fleet plan holds each once), and the network resolution of servers
//! with the same launch settings (as a platform gives them) is made once.
//!
//! Both are keyed by what they are made from, compared by value: the region part of the
//! scope and the region's data in the server's inventory (a fleet's inventories are read
//! together, one read per region, so they are equal; one that is not gets its own entry),
//! and for a resolution also the launch settings with where each was configured, the image,
//! the zone and whether an instance profile is used. So a shared result is exactly what the
//! server's own planning would have made; only the allocation is saved.

use super::network::Resolved;
use super::PlanError;
use crate::config::LaunchConfig;
use crate::inventory::Inventory;
use crate::model::*;
use crate::network::Network;
use crate::plan::{NetworkScope, Observation, Scope};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Shared planning of a fleet's servers. Every plan with steps made with it must go into
/// the same fleet plan (`FleetPlanning::add`): after the first, such a plan leaves out the
/// observations of its region, which the fleet plan already holds.
#[derive(Debug, Default)]
pub struct Shared {
    regions: Vec<RegionRead>,
    resolutions: Vec<Resolution>,
    /// The region the last plan recorded, with that plan's observations without it (see
    /// [`Shared::take_recording`]).
    recording: Option<(usize, Vec<Observation>)>,
}

/// A region as a fleet's servers read it.
#[derive(Clone, Debug)]
struct RegionRead {
    scope: RegionScope,
    images: Arc<Vec<Image>>,
    other_images: BTreeMap<Region, Vec<Image>>,
    workspaces: Vec<Instance>,
    network: Arc<Network>,
    /// Whether a plan with steps recorded this region's observations.
    recorded: bool,
}

/// The part of a scope about its region rather than its server.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RegionScope {
    region: Region,
    image: Option<(AmiType, Architecture)>,
    image_family: Option<(AmiType, Vec<Region>)>,
    workspaces: bool,
    network: Option<NetworkScope>,
}

impl RegionScope {
    fn matches(&self, scope: &Scope) -> bool {
        self.region == scope.region
            && self.image == scope.image
            && self.image_family == scope.image_family
            && self.workspaces == scope.workspaces
            && self.network == scope.network
    }

    fn of(scope: &Scope) -> RegionScope {
        RegionScope {
            region: scope.region.clone(),
            image: scope.image.clone(),
            image_family: scope.image_family.clone(),
            workspaces: scope.workspaces,
            network: scope.network.clone(),
        }
    }
}

impl RegionRead {
    fn matches(&self, scope: &Scope, inventory: &Inventory) -> bool {
        self.scope.matches(scope)
            // Shared by the inventories of one read: mostly the same, else compared.
            && (Arc::ptr_eq(&self.network, &inventory.network) || self.network == inventory.network)
            && (Arc::ptr_eq(&self.images, &inventory.images) || self.images == inventory.images)
            && self.workspaces == inventory.workspaces
            && self.other_images == inventory.other_images
    }

    /// Whether `other` is the same read of the same region (another thread's, see
    /// `planner::fleet`).
    fn same(&self, other: &RegionRead) -> bool {
        self.scope == other.scope
            && (Arc::ptr_eq(&self.network, &other.network) || self.network == other.network)
            && (Arc::ptr_eq(&self.images, &other.images) || self.images == other.images)
            && self.workspaces == other.workspaces
            && self.other_images == other.other_images
    }
}

/// A network resolution made for one region read, launch settings, image and zone.
#[derive(Debug)]
struct Resolution {
    region: usize,
    launch: LaunchConfig,
    image: Image,
    zone: Option<Zone>,
    with_profile: bool,
    /// The resolution and its note, or the refusal.
    result: Result<(Resolved, String), PlanError>,
}

impl Shared {
    /// The index of the region read of `scope` in `inventory`, added if new.
    fn region(&mut self, scope: &Scope, inventory: &Inventory) -> usize {
        if let Some(i) = self.regions.iter().position(|r| r.matches(scope, inventory)) {
            return i;
        }
        self.regions.push(RegionRead {
            scope: RegionScope::of(scope),
            images: inventory.images.clone(),
            other_images: inventory.other_images.clone(),
            workspaces: inventory.workspaces.clone(),
            network: inventory.network.clone(),
            recorded: false,
        });
        self.regions.len() - 1
    }

    /// What a plan of `scope` records: the server's observations, and its region's unless
    /// a plan with steps made with `self` recorded them already. `with_steps`: whether this
    /// plan has steps (a fleet plan keeps the observations of those only).
    pub(super) fn observe(&mut self, scope: &Scope, inventory: &Inventory, with_steps: bool) -> Vec<Observation> {
        let region = self.region(scope, inventory);
        let mut out = inventory.observe_server(scope);
        self.recording = None;
        if !self.regions[region].recorded {
            if with_steps {
                let mut alone = out.clone();
                crate::inventory::sort_observations(&mut alone);
                self.recording = Some((region, alone));
            }
            out.extend(inventory.observe_region(scope));
            self.regions[region].recorded = with_steps;
        }
        crate::inventory::sort_observations(&mut out);
        out
    }

    /// Whether the last plan made with `self` recorded its region's observations: the
    /// region, and what that plan would have recorded had the region been recorded before.
    pub(super) fn take_recording(&mut self) -> Option<(usize, Vec<Observation>)> {
        self.recording.take()
    }

    /// Whether a plan made with `self` recorded the observations of `other`'s region
    /// `region`; if none did, the region counts as recorded from now on.
    pub(super) fn recorded_before(&mut self, other: &Shared, region: usize) -> bool {
        let read = &other.regions[region];
        if self.regions.iter().any(|r| r.recorded && r.same(read)) {
            return true;
        }
        self.regions.push(RegionRead { recorded: true, ..read.clone() });
        false
    }

    /// The resolution of `launch` for `image` and `zone` in `scope`'s region as `inventory`
    /// read it, made by `resolve` the first time; with its note.
    pub(super) fn resolution(
        &mut self,
        (scope, inventory): (&Scope, &Inventory),
        launch: &LaunchConfig,
        (image, zone, with_profile): (&Image, Option<&Zone>, bool),
        resolve: impl FnOnce() -> Result<(Resolved, String), PlanError>,
    ) -> Result<(Resolved, String), PlanError> {
        let region = self.region(scope, inventory);
        let found = self.resolutions.iter().find(|r| {
            r.region == region
                && r.with_profile == with_profile
                && r.zone.as_ref() == zone
                && r.image == *image
                && r.launch == *launch
        });
        if let Some(found) = found {
            return found.result.clone();
        }
        let result = resolve();
        self.resolutions.push(Resolution {
            region,
            launch: launch.clone(),
            image: image.clone(),
            zone: zone.cloned(),
            with_profile,
            result: result.clone(),
        });
        result
    }
}
