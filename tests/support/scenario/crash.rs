//! Crashes for the scenarios: a [`Crashing`] cloud kills an apply at its k-th mutating call
//! (`Api::is_mutating`), either before the call is sent or after it took effect with its
//! response lost, as `kill -9` would; [`race`] drops the apply future when that happens, so
//! the in-memory [`MemJournal`] holds exactly the records kept before the crash.
//!
//! After the crash every call of that apply waits forever (the process is gone), while the
//! world goes on: instances keep booting and their agents run when virtual time moves.

use async_trait::async_trait;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::executor::journal::{Journal, Record};
use cellar_engine::lock::LockHolder;
use cellar_engine::model::*;
use cellar_sim::Sim;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Where an apply is killed: at its `at`-th mutating call (1 = the first), before the call
/// is sent or, with `after`, once it took effect (its response never read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub at: u32,
    pub after: bool,
}

/// A journal kept in memory: what the file would hold.
#[derive(Default)]
pub struct MemJournal(pub Mutex<Vec<Record>>);

impl MemJournal {
    pub fn records(&self) -> Vec<Record> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Journal for MemJournal {
    fn record(&self, record: &Record) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(record.clone());
        Ok(())
    }
}

/// The simulator, killed at a [`CrashPoint`].
pub struct Crashing {
    sim: Arc<Sim>,
    point: CrashPoint,
    mutating: AtomicU32,
    crashed: AtomicBool,
    died: Arc<Notify>,
}

impl Crashing {
    pub fn new(sim: Arc<Sim>, point: CrashPoint) -> Self {
        Crashing { sim, point, mutating: AtomicU32::new(0), crashed: AtomicBool::new(false), died: Arc::default() }
    }

    /// Notified once the apply died.
    pub fn died(&self) -> Arc<Notify> {
        self.died.clone()
    }

    /// Never returns once the process died.
    async fn dead(&self) {
        if self.crashed.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    async fn die(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        self.died.notify_one();
        std::future::pending::<()>().await;
    }

    /// One call: counted if it mutates, and the crash where the point says.
    async fn call<T>(&self, api: Api, call: impl Future<Output = T>) -> T {
        self.dead().await;
        let nth = if api.is_mutating() { self.mutating.fetch_add(1, Ordering::SeqCst) + 1 } else { 0 };
        let here = nth == self.point.at;
        if here && !self.point.after {
            self.die().await;
        }
        let result = call.await;
        if here {
            self.die().await;
        }
        // Another task of the apply died meanwhile: this answer is never read.
        self.dead().await;
        result
    }
}

/// Runs `apply` until it finishes (`Some`) or the process dies (`None`: the future is
/// dropped at once, as `kill -9` would stop it; its steps run as tasks of a `JoinSet`, which
/// aborts them when dropped). The steps' tasks die on their own, so the death is signalled.
pub async fn race<T>(apply: impl Future<Output = T>, died: Arc<Notify>) -> Option<T> {
    tokio::select! {
        biased;
        () = died.notified() => None,
        done = apply => Some(done),
    }
}

#[async_trait]
impl Cloud for Crashing {
    async fn describe_regions(&self, zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
        self.call(Api::DescribeRegions, self.sim.describe_regions(zones_of)).await
    }
    async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>> {
        self.call(Api::DescribeInstances, self.sim.describe_instances(region, filter)).await
    }
    async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
        self.call(Api::DescribeVolumes, self.sim.describe_volumes(region, filter)).await
    }
    async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>> {
        self.call(Api::DescribeAddresses, self.sim.describe_addresses(region, filter)).await
    }
    async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>> {
        self.call(Api::DescribeImages, self.sim.describe_images(region)).await
    }
    async fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<LaunchTemplate>> {
        self.call(Api::DescribeLaunchTemplates, self.sim.describe_launch_templates(region, filter)).await
    }
    async fn describe_auto_scaling_groups(
        &self,
        region: &Region,
        filter: &Filter,
    ) -> CloudResult<Vec<AutoScalingGroup>> {
        self.call(Api::DescribeAutoScalingGroups, self.sim.describe_auto_scaling_groups(region, filter)).await
    }
    async fn describe_vpcs(&self, region: &Region) -> CloudResult<Vec<Vpc>> {
        self.call(Api::DescribeVpcs, self.sim.describe_vpcs(region)).await
    }
    async fn describe_subnets(&self, region: &Region) -> CloudResult<Vec<Subnet>> {
        self.call(Api::DescribeSubnets, self.sim.describe_subnets(region)).await
    }
    async fn describe_security_groups(&self, region: &Region) -> CloudResult<Vec<SecurityGroup>> {
        self.call(Api::DescribeSecurityGroups, self.sim.describe_security_groups(region)).await
    }
    async fn describe_key_pairs(&self, region: &Region) -> CloudResult<Vec<KeyName>> {
        self.call(Api::DescribeKeyPairs, self.sim.describe_key_pairs(region)).await
    }
    async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        self.call(Api::CreateVolume, self.sim.create_volume(region, request)).await
    }
    async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()> {
        self.call(Api::DeleteVolume, self.sim.delete_volume(region, volume)).await
    }
    async fn attach_volume(
        &self,
        region: &Region,
        volume: &VolumeId,
        instance: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        self.call(Api::AttachVolume, self.sim.attach_volume(region, volume, instance, device)).await
    }
    async fn detach_volume(&self, region: &Region, volume: &VolumeId, instance: &InstanceId) -> CloudResult<()> {
        self.call(Api::DetachVolume, self.sim.detach_volume(region, volume, instance)).await
    }
    async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address> {
        self.call(Api::AllocateAddress, self.sim.allocate_address(region, tags)).await
    }
    async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()> {
        self.call(Api::ReleaseAddress, self.sim.release_address(region, address)).await
    }
    async fn associate_address(
        &self,
        region: &Region,
        address: &AllocationId,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        self.call(Api::AssociateAddress, self.sim.associate_address(region, address, instance)).await
    }
    async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        self.call(Api::CreateTags, self.sim.create_tags(region, resource, tags)).await
    }
    async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        self.call(Api::DeleteTags, self.sim.delete_tags(region, resource, keys)).await
    }
    async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        self.call(Api::RunInstances, self.sim.run_instance(region, request)).await
    }
    async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()> {
        self.call(Api::TerminateInstances, self.sim.terminate_instance(region, instance)).await
    }
    async fn get_console_output(&self, region: &Region, instance: &InstanceId) -> CloudResult<String> {
        self.call(Api::GetConsoleOutput, self.sim.get_console_output(region, instance)).await
    }

    async fn describe_instance_status(
        &self,
        region: &Region,
        instances: &[InstanceId],
    ) -> CloudResult<Vec<cellar_engine::monitoring::InstanceChecks>> {
        self.call(Api::DescribeInstanceStatus, self.sim.describe_instance_status(region, instances)).await
    }
    async fn create_launch_template(
        &self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        self.call(Api::CreateLaunchTemplate, self.sim.create_launch_template(region, request)).await
    }
    async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()> {
        self.call(Api::DeleteLaunchTemplate, self.sim.delete_launch_template(region, template)).await
    }
    // Server locks are launch templates on AWS: their calls are those operations.
    async fn create_server_lock(&self, region: &Region, server: &ServerName, holder: &LockHolder) -> CloudResult<()> {
        self.call(Api::CreateLaunchTemplate, self.sim.create_server_lock(region, server, holder)).await
    }
    async fn describe_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<Option<LockHolder>> {
        self.call(Api::DescribeLaunchTemplates, self.sim.describe_server_lock(region, server)).await
    }
    async fn delete_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<()> {
        self.call(Api::DeleteLaunchTemplate, self.sim.delete_server_lock(region, server)).await
    }
    async fn create_launch_template_version(
        &self,
        region: &Region,
        template: &LaunchTemplateId,
        spec: LaunchSpec,
        client_token: Option<&str>,
    ) -> CloudResult<LaunchTemplate> {
        let call = self.sim.create_launch_template_version(region, template, spec, client_token);
        self.call(Api::CreateLaunchTemplateVersion, call).await
    }
    async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>> {
        self.call(Api::DescribeLaunchConfigurations, self.sim.describe_launch_configurations(region)).await
    }
    async fn create_launch_configuration(
        &self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        self.call(Api::CreateLaunchConfiguration, self.sim.create_launch_configuration(region, name, spec)).await
    }
    async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()> {
        self.call(Api::DeleteLaunchConfiguration, self.sim.delete_launch_configuration(region, name)).await
    }
    async fn create_auto_scaling_group(
        &self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.call(Api::CreateAutoScalingGroup, self.sim.create_auto_scaling_group(region, request)).await
    }
    async fn attach_instance_to_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        self.call(Api::AttachInstances, self.sim.attach_instance_to_group(region, group, instance)).await
    }
    async fn update_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        self.call(Api::UpdateAutoScalingGroup, self.sim.update_auto_scaling_group(region, group, update)).await
    }
    async fn create_or_update_group_tags(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        tags: Tags,
    ) -> CloudResult<()> {
        self.call(Api::CreateOrUpdateTags, self.sim.create_or_update_group_tags(region, group, tags)).await
    }
    async fn delete_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()> {
        self.call(Api::DeleteAutoScalingGroup, self.sim.delete_auto_scaling_group(region, group, force)).await
    }
    async fn create_image(
        &self,
        region: &Region,
        instance: &InstanceId,
        name: &str,
        tags: Tags,
        options: &ImageOptions,
    ) -> CloudResult<Image> {
        self.call(Api::CreateImage, self.sim.create_image(region, instance, name, tags, options)).await
    }
    async fn copy_image(
        &self,
        source_region: &Region,
        image: &ImageId,
        target_region: &Region,
        name: &str,
        client_token: Option<&str>,
    ) -> CloudResult<Image> {
        self.call(Api::CopyImage, self.sim.copy_image(source_region, image, target_region, name, client_token)).await
    }
    async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        self.call(Api::CreateSnapshot, self.sim.create_snapshot(region, volume, tags)).await
    }
    async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>> {
        self.call(Api::DescribeSnapshots, self.sim.describe_snapshots(region, filter)).await
    }
    async fn delete_snapshot(&self, region: &Region, snapshot: &SnapshotId) -> CloudResult<()> {
        self.call(Api::DeleteSnapshot, self.sim.delete_snapshot(region, snapshot)).await
    }
    async fn copy_snapshot(
        &self,
        source_region: &Region,
        snapshot: &SnapshotId,
        target_region: &Region,
        tags: Tags,
    ) -> CloudResult<Snapshot> {
        self.call(Api::CopySnapshot, self.sim.copy_snapshot(source_region, snapshot, target_region, tags)).await
    }
    async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>> {
        self.call(Api::DnsLookup, self.sim.resolve_dns(host)).await
    }
    async fn caller_identity(&self, region: &Region) -> CloudResult<Option<CallerIdentity>> {
        self.call(Api::GetCallerIdentity, self.sim.caller_identity(region)).await
    }
    async fn dry_run(&self, region: &Region, request: &DryRun) -> CloudResult<DryRunAnswer> {
        self.dead().await;
        self.sim.dry_run(region, request).await
    }
    async fn now(&self) -> Timestamp {
        self.dead().await;
        self.sim.now().await
    }
    async fn now_ms(&self) -> u64 {
        self.dead().await;
        self.sim.now_ms().await
    }
    async fn sleep(&self, duration: Duration) {
        self.dead().await;
        self.sim.sleep(duration).await;
        self.dead().await;
    }
}
