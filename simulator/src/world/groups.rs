//! Auto scaling groups: Create-, Update-, Delete-, DescribeAutoScalingGroups,
//! AttachInstances, scaling activities, and the reconciliation that runs whenever time
//! moves on (replace lost members, terminate extras, retry failed launches later).
//!
//! Invariants: min <= desired <= max; members are live instances of this group, listed
//! once; after a failed launch the group waits [`GROUP_RETRY_SECS`] before trying again;
//! at most `MAX_ACTIVITIES` activities are kept (newest last).
//!
//! Deletion is asynchronous, as on AWS: DeleteAutoScalingGroup marks the group deleting
//! (`Status: "Delete in progress"`) and terminates its members; the group launches nothing
//! more, keeps its name (CreateAutoScalingGroup: `AlreadyExists`) and its launch
//! configuration (DeleteLaunchConfiguration: `ResourceInUse`), refuses changes
//! (`ValidationError`) and a second delete (`ScalingActivityInProgress`), and disappears
//! ([`Transition::GroupDeleted`], looked at every [`GROUP_DELETE_SECS`]) once every member
//! is terminated.

use super::render::zone_list;
use super::{err, Transition, World};
use cellar_engine::cloud::{
    CloudError, CloudErrorKind as K, CloudResult, CreateAutoScalingGroupRequest, Filter, UpdateAutoScalingGroupRequest,
};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// How long an auto scaling group waits after a failed launch before it tries again.
pub const GROUP_RETRY_SECS: u64 = 60;
/// Scaling activities kept per group (newest last).
const MAX_ACTIVITIES: usize = 20;
/// Auto Scaling's tags per group.
const MAX_GROUP_TAGS: usize = 50;
/// A deleting group is looked at this long after DeleteAutoScalingGroup, and again as long
/// as a member is not terminated yet; it disappears at the first look that finds none.
pub const GROUP_DELETE_SECS: u64 = 15;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimGroup {
    pub name: AutoScalingGroupName,
    pub region: Region,
    /// The launch template version or launch configuration new instances launch from.
    pub launch: LaunchSource,
    pub zones: Vec<Zone>,
    /// The subnets it launches into (`VPCZoneIdentifier`); empty: the default VPC's.
    #[serde(default)]
    pub subnets: Vec<SubnetId>,
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
    /// DeleteAutoScalingGroup was called: the group waits for its members to terminate
    /// (see the module doc). Absent in older state files: not deleting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

impl SimGroup {
    pub fn to_model(&self) -> AutoScalingGroup {
        AutoScalingGroup {
            name: self.name.clone(),
            launch: self.launch.clone(),
            zones: self.zones.clone(),
            subnets: self.subnets.clone(),
            min: self.min,
            max: self.max,
            desired: self.desired,
            instances: self.instances.clone(),
            activities: self.activities.clone(),
            tags: self.tags.clone(),
            deleting: self.deleting,
        }
    }
}

impl World {
    fn group_in(&self, region: &Region, name: &AutoScalingGroupName) -> CloudResult<&SimGroup> {
        let visible = self.visible(&Self::group_key(name));
        self.groups.get(name).filter(|g| g.region == *region && visible).ok_or_else(|| {
            err(
                K::AutoScalingGroupNotFound,
                format!("AutoScalingGroup name not found - AutoScalingGroup '{name}' not found"),
            )
        })
    }

    /// The group, refused while it is being deleted (as UpdateAutoScalingGroup and
    /// AttachInstances are on AWS).
    fn group_to_change(&self, region: &Region, name: &AutoScalingGroupName) -> CloudResult<&SimGroup> {
        let group = self.group_in(region, name)?;
        if group.deleting {
            return Err(CloudError::from_code(
                "ValidationError",
                "The AutoScaling group may not be modified while it is pending delete",
            ));
        }
        Ok(group)
    }

    pub fn describe_auto_scaling_groups(&self, region: &Region, filter: &Filter) -> Vec<AutoScalingGroup> {
        super::index::select(&self.groups, &self.index.groups, filter)
            .filter(|g| g.region == *region && filter.matches(g.name.as_str(), &g.tags))
            .filter(|g| self.visible(&Self::group_key(&g.name)))
            .map(SimGroup::to_model)
            .collect()
    }

    pub fn create_auto_scaling_group(
        &mut self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.check_region(region)?;
        super::tags::check_tags(&Tags::new(), &request.tags)?;
        if self.groups.contains_key(&request.name) {
            return Err(err(
                K::AlreadyExists,
                format!(
                    "AutoScalingGroup by this name already exists - A group with the name {} already exists",
                    request.name
                ),
            ));
        }
        let spec = self.group_launch_spec(region, &request.launch)?;
        if request.zones.is_empty() {
            return Err(err(K::InvalidParameterValue, "At least one Availability Zone is required"));
        }
        for zone in &request.zones {
            self.check_zone(region, zone)?;
        }
        self.check_group_subnets(region, &request.zones, &request.subnets, &spec.settings)?;
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
            subnets: request.subnets,
            min: request.min,
            max: request.max,
            desired: request.desired,
            instances: Vec::new(),
            activities: Vec::new(),
            tags: request.tags,
            retry_at: None,
            deleting: false,
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
        self.hide_new(Self::group_key(&request.name));
        self.index.groups.add(&group.tags, &request.name);
        self.index.unsettled.mark(&request.name);
        self.groups.insert(request.name, group);
        Ok(())
    }

    pub fn attach_instance_to_group(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        let Some(desired) = self.check_attach(region, name, instance_id)? else {
            return Ok(()); // already a member
        };
        let group = self.groups.get_mut(name).expect("checked");
        group.desired = desired;
        if group.min == 0 {
            group.min = 1.min(desired);
        }
        group.instances.push(instance_id.clone());
        let (min, desired) = (group.min, group.desired);
        self.index.unsettled.mark(name);
        self.instances.get_mut(instance_id).expect("checked").group = Some(name.clone());
        self.push_activity(name, true, format!("Attaching an existing EC2 instance: {instance_id}"), None);
        self.record(format!("attached {instance_id} to group {name} (min {min}, desired {desired})"));
        Ok(())
    }

    /// AttachInstances' checks; the group's desired capacity once the instance is attached,
    /// or `None` when it is a member already.
    fn check_attach(
        &self,
        region: &Region,
        name: &AutoScalingGroupName,
        instance_id: &InstanceId,
    ) -> CloudResult<Option<u32>> {
        let group = self.group_to_change(region, name)?;
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
            Some(g) if g == name && group.instances.contains(instance_id) => return Ok(None),
            Some(g) if self.groups.contains_key(g) && g != name => {
                return Err(err(
                    K::InvalidParameterValue,
                    format!("The instance {instance_id} is already part of Auto Scaling group {g}"),
                ));
            }
            _ => {}
        }
        // AWS: attaching raises the desired capacity by the instances attached, and fails if
        // that would exceed the group's maximum.
        let desired = group.desired + 1;
        if desired > group.max {
            return Err(err(
                K::Other("ValidationError".into()),
                format!(
                    "Attaching {instance_id} would raise the desired capacity of {name} to {desired}, above its maximum {}",
                    group.max
                ),
            ));
        }
        Ok(Some(desired))
    }

    /// UpdateAutoScalingGroup. Unset fields stay as they are, except that (as AWS does) a
    /// new min above the desired capacity raises it and a new max below it lowers it. An
    /// explicit desired capacity must lie within min..=max. Lowering the desired capacity
    /// below the live instances terminates the newest extras right away; raising it launches
    /// on the next reconciliation (when time advances). A new launch source applies to
    /// later launches only.
    /// CreateOrUpdateTags: refused while the group is being deleted, and past Auto Scaling's
    /// 50 tags a group (`LimitExceeded`); a key the group has is overwritten.
    pub fn create_or_update_group_tags(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        tags: Tags,
    ) -> CloudResult<()> {
        let group = self.group_to_change(region, name)?;
        super::tags::check_tags(&Tags::new(), &tags)?;
        let distinct = group.tags.keys().chain(tags.keys()).collect::<std::collections::BTreeSet<_>>().len();
        if distinct > MAX_GROUP_TAGS {
            return Err(CloudError::from_code(
                "LimitExceeded",
                format!("The number of tags on Auto Scaling group {name} would exceed the limit of {MAX_GROUP_TAGS}"),
            ));
        }
        let text: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let group = self.groups.get_mut(name).expect("checked");
        let before = group.tags.clone();
        group.tags.extend(tags);
        self.index.groups.retag(&before, &group.tags, name);
        self.record(format!("tagged auto scaling group {name}: {}", text.join(", ")));
        Ok(())
    }

    pub fn update_auto_scaling_group(
        &mut self,
        region: &Region,
        name: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        let group = self.group_to_change(region, name)?;
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
            self.group_launch_spec(region, launch)?;
        }
        if let Some((zones, subnets)) = &update.placement {
            if zones.is_empty() {
                return Err(err(K::InvalidParameterValue, "At least one Availability Zone is required"));
            }
            for zone in zones {
                self.check_zone(region, zone)?;
            }
            let launch = update.launch.clone().unwrap_or_else(|| group.launch.clone());
            let spec = self.group_launch_spec(region, &launch)?;
            self.check_group_subnets(region, zones, subnets, &spec.settings)?;
        }
        self.index.unsettled.mark(name);
        if let Some((zones, subnets)) = update.placement.clone() {
            self.move_group(name, zones, subnets);
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
        if group.deleting {
            return Err(CloudError::from_code(
                "ScalingActivityInProgress",
                "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.",
            ));
        }
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
            self.push_activity(
                name,
                true,
                format!("Terminating EC2 instance: {id} (the group is being deleted)"),
                None,
            );
            self.begin_termination(id, &format!("force-deleting group {name}"));
        }
        let group = self.groups.get_mut(name).expect("checked");
        group.deleting = true;
        group.retry_at = None;
        self.scheduler.cancel(|t| matches!(t, Transition::GroupRetry(g) if g == name));
        self.record(format!("auto scaling group {name}: delete in progress"));
        self.schedule(GROUP_DELETE_SECS, Transition::GroupDeleted(name.clone()));
        Ok(())
    }

    /// [`Transition::GroupDeleted`]: a deleting group disappears once every member is
    /// terminated (or gone); otherwise it is looked at again later.
    pub(super) fn group_deleted(&mut self, name: &AutoScalingGroupName) {
        let Some(group) = self.groups.get(name).filter(|g| g.deleting) else {
            return;
        };
        let terminating =
            group.instances.iter().any(|i| self.instances.get(i).is_some_and(|i| i.state != InstanceState::Terminated));
        if terminating {
            self.schedule(GROUP_DELETE_SECS, Transition::GroupDeleted(name.clone()));
            return;
        }
        if let Some(group) = self.groups.remove(name) {
            self.index.groups.remove(&group.tags, name);
        }
        self.record(format!("deleted auto scaling group {name}"));
    }

    pub(super) fn push_activity(
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

    ///
    /// Only the groups that may have something to do are looked at (`index.rs`'s
    /// `Unsettled`, in name order as before): one whose member stopped being live, whose
    /// capacity or membership changed, that was created or may retry, or that is still
    /// short of its desired capacity; a settled group's reconciliation would do nothing.
    /// So a clock move costs the groups in motion, not every group of the world.
    pub(super) fn reconcile_groups(&mut self) {
        let names: Vec<AutoScalingGroupName> = match self.index.unsettled.0.replace(std::collections::BTreeSet::new()) {
            None => {
                self.ensure(&[super::Need::All]);
                self.groups.keys().cloned().collect()
            }
            Some(set) => set.into_iter().collect(),
        };
        let needs: Vec<super::Need> = names.iter().map(|n| super::Need::Group(n.to_string())).collect();
        self.ensure(&needs);
        for name in names {
            self.reconcile_group(&name);
            let unsettled = self.groups.get(&name).is_some_and(|g| {
                !g.deleting && (g.retry_at.is_some() || (g.instances.len() as u64) < u64::from(g.desired))
            });
            if unsettled {
                self.index.unsettled.mark(&name);
            }
        }
    }

    /// Drops members that are no longer pending/running, terminates extras above the
    /// desired capacity and launches replacements.
    fn reconcile_group(&mut self, name: &AutoScalingGroupName) {
        if self.groups.get(name).is_none_or(|g| g.deleting) {
            return; // gone, or being deleted: it launches and scales nothing more
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
    /// New zones and subnets for the group (UpdateAutoScalingGroup's `AvailabilityZones`,
    /// `VPCZoneIdentifier`): as AWS does, a member in a zone the group leaves is terminated,
    /// and the group launches its replacement in the new zones.
    fn move_group(&mut self, name: &AutoScalingGroupName, zones: Vec<Zone>, subnets: Vec<SubnetId>) {
        let Some(group) = self.groups.get_mut(name) else {
            return;
        };
        if (&group.zones, &group.subnets) == (&zones, &subnets) {
            return;
        }
        let moved = format!("group {name}: launches in {} from now on", zone_list(&zones));
        (group.zones, group.subnets) = (zones, subnets);
        let members = group.instances.clone();
        let zones = group.zones.clone();
        self.record(moved);
        for id in members {
            let outside = self.instances.get(&id).is_some_and(|i| i.is_live() && !zones.contains(&i.zone));
            if outside {
                self.push_activity(
                    name,
                    true,
                    format!("Terminating EC2 instance: {id} (its zone is no longer one of the group's)"),
                    None,
                );
                self.begin_termination(&id, &format!("the zones of group {name} changed"));
            }
        }
        self.drop_lost_members(name);
    }

    fn drop_lost_members(&mut self, name: &AutoScalingGroupName) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let (keep, lost): (Vec<InstanceId>, Vec<InstanceId>) =
            group.instances.iter().cloned().partition(|id| self.instances.get(id).is_some_and(|i| i.is_live()));
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
        // Into each of its subnets (`VPCZoneIdentifier`), else the default VPC of each zone.
        let places: Vec<(Zone, Option<SubnetId>)> = if group.subnets.is_empty() {
            zones.iter().map(|z| (z.clone(), None)).collect()
        } else {
            let zone_of = |s: &SubnetId| self.subnets.get(s).map(|s| s.zone.clone());
            group.subnets.iter().filter_map(|s| Some((zone_of(s)?, Some(s.clone())))).collect()
        };
        let tags = group.tags.clone();
        let spec = self.launch_spec(&region, &group.launch);
        let mut failure = None;
        match spec {
            Ok(spec) => {
                for (zone, subnet) in &places {
                    match self.launch(&region, (zone, subnet.as_ref()), &spec, tags.clone(), Some(name.clone()), None) {
                        Ok(id) => {
                            let from = self.launched_version(&region, &self.groups[name].launch);
                            if let Some(instance) = self.instances.get_mut(&id) {
                                instance.launched_from = from;
                            }
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
        let e = failure.unwrap_or_else(|| {
            CloudError::from_code("ValidationError", format!("group {name} has no subnet that exists"))
        });
        let description = format!(
            "Launching a new EC2 instance. Status Reason: {}: {}. Launching EC2 instance failed in {}.",
            e.kind.code(),
            e.message,
            zone_list(&zones)
        );
        self.record(format!("group {name}: {description} Retrying in {GROUP_RETRY_SECS} s."));
        self.push_activity(name, false, description, Some((e.kind.code().to_string(), zones.clone())));
        self.groups.get_mut(name).expect("exists").retry_at =
            Some(Timestamp(self.now.0.saturating_add(GROUP_RETRY_SECS)));
        self.schedule(GROUP_RETRY_SECS, Transition::GroupRetry(name.clone()));
        false
    }

    /// [`Transition::GroupRetry`]: the group may launch again.
    pub(super) fn group_retry(&mut self, name: &AutoScalingGroupName) {
        if let Some(group) = self.groups.get_mut(name) {
            if group.retry_at.is_some_and(|t| t <= self.now) {
                group.retry_at = None;
            }
            self.index.unsettled.mark(name);
        }
    }
}
