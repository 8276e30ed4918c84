//! [`Sim`]: the [`World`] behind a mutex, implementing the engine's `Cloud` trait, and
//! running the instance agent when a simulated instance boots.
//!
//! Invariants: the world lock is never held across an `.await`; every Cloud call passes
//! the world's fault gate once, under one lock with its operation; agents run at the
//! virtual time their instance boots, never re-entrantly; the clock is moved only through
//! the world's clock (`world/clock.rs`), which saturates at its limits.

use crate::world::{Advance, World};
use async_trait::async_trait;
use cellar_engine::agent::{self, AgentHost};
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The simulator as a [`Cloud`]. The world lock is never held across an `.await`.
pub struct Sim {
    world: Mutex<World>,
    /// Set while an outer [`Sim::advance`] runs agents: nested advances (the agents' own
    /// sleeps, or other tasks sleeping meanwhile) then only move the clock and leave newly
    /// due agents queued for the outer loop.
    agents_running: AtomicBool,
    /// Tasks sleeping on the virtual clock, by (wake-up second, arrival): the earliest one
    /// moves the clock once every runnable task has had its turn (see [`Cloud::sleep`]).
    sleepers: Mutex<BTreeSet<(u64, u64)>>,
    next_sleeper: AtomicU64,
}

/// Removes a sleeper from [`Sim::sleepers`] when its sleep ends or is dropped.
struct SleeperGuard<'a>(&'a Mutex<BTreeSet<(u64, u64)>>, (u64, u64));

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

/// Resets [`Sim::agents_running`] even if the advancing future is dropped or panics.
struct RunningGuard<'a>(&'a AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Sim {
    pub fn new(world: World) -> Self {
        Sim {
            world: Mutex::new(world),
            agents_running: AtomicBool::new(false),
            sleepers: Mutex::new(BTreeSet::new()),
            next_sleeper: AtomicU64::new(0),
        }
    }

    pub fn into_world(self) -> World {
        self.world.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the world. Do not hold the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the world locked.
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world())
    }

    /// One Cloud call: the world's fault gate ([`World::begin_call`]: latency, throttling,
    /// transient errors), the operation, then [`World::end_call`] — all under one lock.
    fn call<T>(
        &self,
        api: Api,
        region: Option<&Region>,
        unfiltered: bool,
        op: impl FnOnce(&mut World) -> CloudResult<T>,
    ) -> CloudResult<T> {
        self.with_world(|w| {
            w.begin_call(api, region, unfiltered)?;
            let result = op(w);
            w.end_call(api);
            result
        })
    }

    /// Advances virtual time by `duration`, ending on a whole second (rounded up), running
    /// the agent of every instance that boots meanwhile at the virtual time it boots.
    /// A duration beyond [`World::check_advance`]'s limits is cut short at them: callers
    /// with a duration from a person (`cellar sim advance`) call `check_advance` first.
    pub async fn advance(&self, duration: Duration) {
        let target = self.with_world(|w| w.advance_target(duration));
        self.advance_until(target).await;
    }

    /// Advances virtual time to `target` (see [`Sim::advance`]; the clock stops at
    /// [`MAX_CLOCK`](crate::world::MAX_CLOCK)).
    pub async fn advance_until(&self, target: Timestamp) {
        if self.agents_running.swap(true, Ordering::SeqCst) {
            // Nested (an agent sleeping): move the clock only.
            self.with_world(|w| w.advance_clock_to(target));
            return;
        }
        let _guard = RunningGuard(&self.agents_running);
        loop {
            let due = self.with_world(World::take_agents_due);
            if !due.is_empty() {
                for id in due {
                    self.run_agent(&id).await;
                }
                continue;
            }
            if self.with_world(|w| w.advance_to(target)) == Advance::Reached
                && self.with_world(|w| w.agents_due().is_empty())
            {
                break;
            }
        }
    }

    async fn run_agent(&self, id: &InstanceId) {
        let prepared = self.with_world(|w| {
            let Some(instance) = w.instances().get(id) else {
                w.record(format!("agent {id}: skipped (instance is gone)"));
                return None;
            };
            if instance.state != InstanceState::Running {
                let state = instance.state;
                w.record(format!("agent {id}: skipped (instance is {state})"));
                return None;
            }
            let invocation = agent::parse_user_data(&instance.user_data)?;
            let region = instance.zone.region();
            w.record(format!("agent {id}: {} for server {}", invocation.mode, invocation.server));
            Some((invocation, region))
        });
        let Some((invocation, region)) = prepared else {
            return;
        };
        let host = SimHost { sim: self, instance: id.clone(), region };
        let outcome = agent::run(self, &host, &invocation).await;
        self.with_world(|w| match outcome {
            Ok(report) => w.record(format!("agent {id}: done: {}", report.steps.join("; "))),
            Err(e) => w.record(format!("agent {id}: failed: {}", error_chain(&e))),
        });
    }
}

/// Whether a describe call asks for everything (AWS's unfiltered-describe bucket).
fn unfiltered(filter: &Filter) -> bool {
    matches!(filter, Filter::All)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The simulated machine an agent runs on: its side effects become log entries.
struct SimHost<'a> {
    sim: &'a Sim,
    instance: InstanceId,
    region: Region,
}

impl AgentHost for SimHost<'_> {
    fn identity(&self) -> (InstanceId, Region) {
        (self.instance.clone(), self.region.clone())
    }

    fn persist(&self, directories: &[String]) -> Result<(), String> {
        let id = &self.instance;
        self.sim.with_world(|w| w.record(format!("agent {id}: persisted {}", directories.join(", "))));
        Ok(())
    }

    fn mount(&self, directories: &[String]) -> Result<(), String> {
        let id = &self.instance;
        self.sim.with_world(|w| w.record(format!("agent {id}: mounted {}", directories.join(", "))));
        Ok(())
    }

    fn run_hook(&self, script: &str) -> Result<(), String> {
        let id = &self.instance;
        let lines = script.lines().count();
        self.sim.with_world(|w| w.record(format!("agent {id}: ran spawn hook ({lines} lines)")));
        Ok(())
    }
}

#[async_trait]
impl Cloud for Sim {
    /// Every region with its zones (the simulator has them at hand; `_zones_of` is a hint).
    async fn describe_regions(&self, _zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
        self.call(Api::DescribeRegions, None, false, |w| Ok(w.regions()))
    }

    async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>> {
        self.call(
            Api::DescribeInstances,
            Some(region),
            unfiltered(filter),
            |w| Ok(w.describe_instances(region, filter)),
        )
    }

    async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
        self.call(Api::DescribeVolumes, Some(region), unfiltered(filter), |w| Ok(w.describe_volumes(region, filter)))
    }

    async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>> {
        self.call(Api::DescribeAddresses, Some(region), false, |w| Ok(w.describe_addresses(region, filter)))
    }

    async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>> {
        self.call(Api::DescribeImages, Some(region), false, |w| Ok(w.describe_images(region)))
    }

    async fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<LaunchTemplate>> {
        self.call(
            Api::DescribeLaunchTemplates,
            Some(region),
            false,
            |w| Ok(w.describe_launch_templates(region, filter)),
        )
    }

    async fn describe_auto_scaling_groups(
        &self,
        region: &Region,
        filter: &Filter,
    ) -> CloudResult<Vec<AutoScalingGroup>> {
        self.call(Api::DescribeAutoScalingGroups, Some(region), false, |w| {
            Ok(w.describe_auto_scaling_groups(region, filter))
        })
    }

    async fn describe_vpcs(&self, region: &Region) -> CloudResult<Vec<Vpc>> {
        self.call(Api::DescribeVpcs, Some(region), false, |w| Ok(w.describe_vpcs(region)))
    }

    async fn describe_subnets(&self, region: &Region) -> CloudResult<Vec<Subnet>> {
        self.call(Api::DescribeSubnets, Some(region), false, |w| Ok(w.describe_subnets(region)))
    }

    async fn describe_security_groups(&self, region: &Region) -> CloudResult<Vec<SecurityGroup>> {
        self.call(Api::DescribeSecurityGroups, Some(region), false, |w| Ok(w.describe_security_groups(region)))
    }

    async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        self.call(Api::CreateVolume, Some(region), false, |w| w.create_volume(region, request))
    }

    async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()> {
        self.call(Api::DeleteVolume, Some(region), false, |w| w.delete_volume(region, volume))
    }

    async fn attach_volume(
        &self,
        region: &Region,
        volume: &VolumeId,
        instance: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        self.call(Api::AttachVolume, Some(region), false, |w| w.attach_volume(region, volume, instance, device))
    }

    async fn detach_volume(&self, region: &Region, volume: &VolumeId, instance: &InstanceId) -> CloudResult<()> {
        self.call(Api::DetachVolume, Some(region), false, |w| w.detach_volume(region, volume, instance))
    }

    async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address> {
        self.call(Api::AllocateAddress, Some(region), false, |w| w.allocate_address(region, tags))
    }

    async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()> {
        self.call(Api::ReleaseAddress, Some(region), false, |w| w.release_address(region, address))
    }

    async fn associate_address(
        &self,
        region: &Region,
        address: &AllocationId,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        self.call(Api::AssociateAddress, Some(region), false, |w| w.associate_address(region, address, instance))
    }

    async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        self.call(Api::CreateTags, Some(region), false, |w| w.create_tags(region, resource, tags))
    }

    async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        self.call(Api::DeleteTags, Some(region), false, |w| w.delete_tags(region, resource, keys))
    }

    async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        self.call(Api::RunInstances, Some(region), false, |w| w.run_instance(region, request))
    }

    async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()> {
        self.call(Api::TerminateInstances, Some(region), false, |w| w.terminate_instance(region, instance))
    }

    async fn create_launch_template(
        &self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        self.call(Api::CreateLaunchTemplate, Some(region), false, |w| w.create_launch_template(region, request))
    }

    async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()> {
        self.call(Api::DeleteLaunchTemplate, Some(region), false, |w| w.delete_launch_template(region, template))
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        template: &LaunchTemplateId,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchTemplate> {
        self.call(Api::CreateLaunchTemplateVersion, Some(region), false, |w| {
            w.create_launch_template_version(region, template, spec)
        })
    }

    async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>> {
        self.call(Api::DescribeLaunchConfigurations, Some(region), false, |w| {
            Ok(w.describe_launch_configurations(region))
        })
    }

    async fn create_launch_configuration(
        &self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        self.call(Api::CreateLaunchConfiguration, Some(region), false, |w| {
            w.create_launch_configuration(region, name, spec)
        })
    }

    async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()> {
        self.call(Api::DeleteLaunchConfiguration, Some(region), false, |w| w.delete_launch_configuration(region, name))
    }

    async fn create_auto_scaling_group(
        &self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.call(Api::CreateAutoScalingGroup, Some(region), false, |w| w.create_auto_scaling_group(region, request))
    }

    async fn attach_instance_to_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        self.call(Api::AttachInstances, Some(region), false, |w| w.attach_instance_to_group(region, group, instance))
    }

    async fn update_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.call(Api::UpdateAutoScalingGroup, Some(region), false, |w| {
            w.update_auto_scaling_group(region, group, update)
        })
    }

    async fn delete_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()> {
        self.call(Api::DeleteAutoScalingGroup, Some(region), false, |w| {
            w.delete_auto_scaling_group(region, group, force)
        })
    }

    async fn create_image(&self, region: &Region, instance: &InstanceId, name: &str, tags: Tags) -> CloudResult<Image> {
        self.call(Api::CreateImage, Some(region), false, |w| w.create_image(region, instance, name, tags))
    }

    async fn copy_image(
        &self,
        source_region: &Region,
        image: &ImageId,
        target_region: &Region,
        name: &str,
    ) -> CloudResult<Image> {
        self.call(Api::CopyImage, Some(target_region), false, |w| {
            w.copy_image(source_region, image, target_region, name)
        })
    }

    async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        self.call(Api::CreateSnapshot, Some(region), false, |w| w.create_snapshot(region, volume, tags))
    }

    async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>> {
        self.call(Api::DescribeSnapshots, Some(region), false, |w| Ok(w.describe_snapshots(region, filter)))
    }

    async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>> {
        self.call(Api::DnsLookup, None, false, |w| Ok(w.resolve_dns(host)))
    }

    async fn now(&self) -> Timestamp {
        self.with_world(|w| w.now())
    }

    /// Sleeps on the virtual clock. Concurrent sleepers share it, as real time is shared:
    /// each registers its wake-up second; a sleeper that is the earliest once every other
    /// runnable task has had a turn (one `yield_now` round of the current-thread runtime)
    /// moves the clock to its wake-up time. So two tasks sleeping 5 s at once wake after
    /// 5 s, not 10. Agents sleeping inside an advance only move the clock.
    async fn sleep(&self, duration: Duration) {
        if self.agents_running.load(Ordering::SeqCst) {
            return self.advance(duration).await;
        }
        let wake = self.with_world(|w| w.advance_target(duration).0);
        let key = (wake, self.next_sleeper.fetch_add(1, Ordering::SeqCst));
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        let _guard = SleeperGuard(&self.sleepers, key);
        loop {
            if self.with_world(|w| w.now_ms() >= wake * 1000) {
                return;
            }
            tokio::task::yield_now().await;
            if self.with_world(|w| w.now_ms() >= wake * 1000) {
                return;
            }
            let earliest = self.sleepers.lock().unwrap_or_else(|e| e.into_inner()).first() == Some(&key);
            if earliest {
                self.advance_until(Timestamp(wake)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
