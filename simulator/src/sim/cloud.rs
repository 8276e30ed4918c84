//! The simulator's [`Cloud`] implementation, written once for the two callers a world
//! has: the operator ([`Sim`]: the executor, the inventory, `status`) and an instance's
//! agent ([`AgentCloud`]: the same calls, each first authorized against the instance
//! profile of the instance the agent runs on, `world/identity.rs`).

use super::{ec2_filter_values, needs, unfiltered, AgentCloud, Sim};
use async_trait::async_trait;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::lock::LockHolder;
use cellar_engine::model::*;
use std::time::Duration;

macro_rules! sim_cloud {
    ($cloud:ty) => {
        #[async_trait]
        impl Cloud for $cloud {
            /// Every region with its zones (the simulator has them at hand; `_zones_of` is a hint).
            async fn describe_regions(&self, _zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
                self.call(Api::DescribeRegions, None, false, vec![], |w| Ok(w.regions())).await
            }

            async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>> {
                self.call(Api::DescribeInstances, Some(region), unfiltered(filter), needs::by_filter(filter), |w| {
                    ec2_filter_values(filter)?;
                    Ok(w.describe_instances(region, filter))
                })
                .await
            }

            async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
                self.call(Api::DescribeVolumes, Some(region), unfiltered(filter), needs::by_filter(filter), |w| {
                    ec2_filter_values(filter)?;
                    Ok(w.describe_volumes(region, filter))
                })
                .await
            }

            async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>> {
                self.call(Api::DescribeAddresses, Some(region), false, needs::by_filter(filter), |w| {
                    ec2_filter_values(filter)?;
                    Ok(w.describe_addresses(region, filter))
                })
                .await
            }

            async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>> {
                self.call(Api::DescribeImages, Some(region), false, vec![], |w| Ok(w.describe_images(region))).await
            }

            async fn describe_launch_templates(
                &self,
                region: &Region,
                filter: &Filter,
            ) -> CloudResult<Vec<LaunchTemplate>> {
                self.call(Api::DescribeLaunchTemplates, Some(region), false, needs::by_filter(filter), |w| {
                    ec2_filter_values(filter)?;
                    Ok(w.describe_launch_templates(region, filter))
                })
                .await
            }

            async fn describe_auto_scaling_groups(
                &self,
                region: &Region,
                filter: &Filter,
            ) -> CloudResult<Vec<AutoScalingGroup>> {
                self.call(Api::DescribeAutoScalingGroups, Some(region), false, needs::groups_by_filter(filter), |w| {
                    Ok(w.describe_auto_scaling_groups(region, filter))
                })
                .await
            }

            async fn describe_vpcs(&self, region: &Region) -> CloudResult<Vec<Vpc>> {
                self.call(Api::DescribeVpcs, Some(region), false, vec![], |w| Ok(w.describe_vpcs(region))).await
            }

            async fn describe_subnets(&self, region: &Region) -> CloudResult<Vec<Subnet>> {
                self.call(Api::DescribeSubnets, Some(region), false, vec![], |w| Ok(w.describe_subnets(region))).await
            }

            async fn describe_security_groups(&self, region: &Region) -> CloudResult<Vec<SecurityGroup>> {
                self.call(Api::DescribeSecurityGroups, Some(region), true, vec![], |w| {
                    Ok(w.describe_security_groups(region))
                })
                .await
            }

            async fn describe_key_pairs(&self, region: &Region) -> CloudResult<Vec<KeyName>> {
                self.call(Api::DescribeKeyPairs, Some(region), false, vec![], |w| Ok(w.describe_key_pairs(region)))
                    .await
            }

            async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
                self.call(Api::CreateVolume, Some(region), false, needs::create_volume(region, &request), |w| {
                    w.create_volume(region, request)
                })
                .await
            }

            async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()> {
                self.call(Api::DeleteVolume, Some(region), false, vec![needs::id(volume)], |w| {
                    w.delete_volume(region, volume)
                })
                .await
            }

            async fn attach_volume(
                &self,
                region: &Region,
                volume: &VolumeId,
                instance: &InstanceId,
                device: &str,
            ) -> CloudResult<()> {
                self.call(Api::AttachVolume, Some(region), false, vec![needs::id(volume), needs::id(instance)], |w| {
                    w.attach_volume(region, volume, instance, device)
                })
                .await
            }

            async fn detach_volume(
                &self,
                region: &Region,
                volume: &VolumeId,
                instance: &InstanceId,
            ) -> CloudResult<()> {
                self.call(Api::DetachVolume, Some(region), false, vec![needs::id(volume), needs::id(instance)], |w| {
                    w.detach_volume(region, volume, instance)
                })
                .await
            }

            async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address> {
                self.call(Api::AllocateAddress, Some(region), false, needs::named(&tags), |w| {
                    w.allocate_address(region, tags)
                })
                .await
            }

            async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()> {
                self.call(Api::ReleaseAddress, Some(region), false, vec![needs::id(address)], |w| {
                    w.release_address(region, address)
                })
                .await
            }

            async fn associate_address(
                &self,
                region: &Region,
                address: &AllocationId,
                instance: &InstanceId,
            ) -> CloudResult<()> {
                self.call(
                    Api::AssociateAddress,
                    Some(region),
                    false,
                    vec![needs::id(address), needs::id(instance)],
                    |w| w.associate_address(region, address, instance),
                )
                .await
            }

            async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
                let agent = self.agent();
                self.call(Api::CreateTags, Some(region), false, needs::tagging(resource, &tags), |w| {
                    if let Some(instance) = agent {
                        w.authorize_agent_tags(instance, resource, &tags)?;
                    }
                    w.create_tags(region, resource, tags)
                })
                .await
            }

            async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
                self.call(Api::DeleteTags, Some(region), false, vec![needs::id(resource)], |w| {
                    w.delete_tags(region, resource, keys)
                })
                .await
            }

            async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
                let agent = self.agent();
                let profile = request.settings.instance_profile.as_ref().map(|p| p.name().to_string());
                self.call(Api::RunInstances, Some(region), false, needs::run_instance(region, &request), |w| {
                    w.authorize_launch(agent, Api::RunInstances, profile.as_deref(), false)?;
                    w.run_instance(region, request)
                })
                .await
            }

            async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()> {
                self.call(Api::TerminateInstances, Some(region), false, vec![needs::id(instance)], |w| {
                    w.terminate_instance(region, instance)
                })
                .await
            }

            async fn get_console_output(&self, region: &Region, instance: &InstanceId) -> CloudResult<String> {
                self.call(Api::GetConsoleOutput, Some(region), false, vec![needs::id(instance)], |w| {
                    w.get_console_output(region, instance)
                })
                .await
            }

            async fn describe_instance_status(
                &self,
                region: &Region,
                instances: &[InstanceId],
            ) -> CloudResult<Vec<cellar_engine::monitoring::InstanceChecks>> {
                self.call(Api::DescribeInstanceStatus, Some(region), false, needs::instance_status(instances), |w| {
                    w.describe_instance_status(region, instances)
                })
                .await
            }

            async fn create_launch_template(
                &self,
                region: &Region,
                request: CreateLaunchTemplateRequest,
            ) -> CloudResult<LaunchTemplate> {
                self.call(
                    Api::CreateLaunchTemplate,
                    Some(region),
                    false,
                    needs::create_template(region, &request),
                    |w| w.create_launch_template(region, request),
                )
                .await
            }

            async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()> {
                self.call(Api::DeleteLaunchTemplate, Some(region), false, vec![needs::id(template)], |w| {
                    w.delete_launch_template(region, template)
                })
                .await
            }

            async fn create_launch_template_version(
                &self,
                region: &Region,
                template: &LaunchTemplateId,
                spec: LaunchSpec,
                client_token: Option<&str>,
            ) -> CloudResult<LaunchTemplate> {
                self.call(
                    Api::CreateLaunchTemplateVersion,
                    Some(region),
                    false,
                    needs::template_version(region, template, client_token),
                    |w| w.create_launch_template_version(region, template, spec, client_token),
                )
                .await
            }

            async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>> {
                self.call(Api::DescribeLaunchConfigurations, Some(region), false, vec![], |w| {
                    Ok(w.describe_launch_configurations(region))
                })
                .await
            }

            async fn create_launch_configuration(
                &self,
                region: &Region,
                name: &str,
                spec: LaunchSpec,
            ) -> CloudResult<LaunchConfiguration> {
                let agent = self.agent();
                let profile = spec.settings.instance_profile.as_ref().map(|p| p.name().to_string());
                self.call(Api::CreateLaunchConfiguration, Some(region), false, vec![], |w| {
                    w.authorize_launch(agent, Api::CreateLaunchConfiguration, profile.as_deref(), false)?;
                    w.create_launch_configuration(region, name, spec)
                })
                .await
            }

            async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()> {
                self.call(Api::DeleteLaunchConfiguration, Some(region), false, vec![], |w| {
                    w.delete_launch_configuration(region, name)
                })
                .await
            }

            async fn create_auto_scaling_group(
                &self,
                region: &Region,
                request: CreateAutoScalingGroupRequest,
            ) -> CloudResult<()> {
                let agent = self.agent();
                self.call(Api::CreateAutoScalingGroup, Some(region), false, needs::create_group(&request), |w| {
                    w.authorize_group_launch(agent, Api::CreateAutoScalingGroup, region, Some(&request.launch))?;
                    w.create_auto_scaling_group(region, request)
                })
                .await
            }

            async fn attach_instance_to_group(
                &self,
                region: &Region,
                group: &AutoScalingGroupName,
                instance: &InstanceId,
            ) -> CloudResult<()> {
                self.call(
                    Api::AttachInstances,
                    Some(region),
                    false,
                    vec![needs::group(group), needs::id(instance)],
                    |w| w.attach_instance_to_group(region, group, instance),
                )
                .await
            }

            async fn update_auto_scaling_group(
                &self,
                region: &Region,
                group: &AutoScalingGroupName,
                update: UpdateAutoScalingGroupRequest,
            ) -> CloudResult<()> {
                let agent = self.agent();
                self.call(Api::UpdateAutoScalingGroup, Some(region), false, needs::update_group(group, &update), |w| {
                    w.authorize_group_launch(agent, Api::UpdateAutoScalingGroup, region, update.launch.as_ref())?;
                    w.update_auto_scaling_group(region, group, update)
                })
                .await
            }

            async fn create_or_update_group_tags(
                &self,
                region: &Region,
                group: &AutoScalingGroupName,
                tags: Tags,
            ) -> CloudResult<()> {
                self.call(Api::CreateOrUpdateTags, Some(region), false, needs::group_tagging(group, &tags), |w| {
                    w.create_or_update_group_tags(region, group, tags)
                })
                .await
            }

            async fn delete_auto_scaling_group(
                &self,
                region: &Region,
                group: &AutoScalingGroupName,
                force: bool,
            ) -> CloudResult<()> {
                self.call(Api::DeleteAutoScalingGroup, Some(region), false, vec![needs::group(group)], |w| {
                    w.delete_auto_scaling_group(region, group, force)
                })
                .await
            }

            async fn create_image(
                &self,
                region: &Region,
                instance: &InstanceId,
                name: &str,
                tags: Tags,
                options: &ImageOptions,
            ) -> CloudResult<Image> {
                self.call(Api::CreateImage, Some(region), false, vec![needs::id(instance)], |w| {
                    w.create_image(region, instance, name, tags, options)
                })
                .await
            }

            async fn copy_image(
                &self,
                source_region: &Region,
                image: &ImageId,
                target_region: &Region,
                name: &str,
                client_token: Option<&str>,
            ) -> CloudResult<Image> {
                self.call(Api::CopyImage, Some(target_region), false, vec![], |w| {
                    w.copy_image(source_region, image, target_region, (name, client_token))
                })
                .await
            }

            async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
                self.call(Api::CreateSnapshot, Some(region), false, needs::snapshot(volume, &tags), |w| {
                    w.create_snapshot(region, volume, tags)
                })
                .await
            }

            async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>> {
                self.call(Api::DescribeSnapshots, Some(region), false, needs::by_filter(filter), |w| {
                    ec2_filter_values(filter)?;
                    Ok(w.describe_snapshots(region, filter))
                })
                .await
            }

            async fn delete_snapshot(&self, region: &Region, snapshot: &SnapshotId) -> CloudResult<()> {
                self.call(Api::DeleteSnapshot, Some(region), false, vec![needs::id(snapshot)], |w| {
                    w.delete_snapshot(region, snapshot)
                })
                .await
            }

            async fn copy_snapshot(
                &self,
                source_region: &Region,
                snapshot: &SnapshotId,
                target_region: &Region,
                tags: Tags,
            ) -> CloudResult<Snapshot> {
                self.call(Api::CopySnapshot, Some(target_region), false, needs::copy_snapshot(snapshot, &tags), |w| {
                    w.copy_snapshot(source_region, snapshot, target_region, tags)
                })
                .await
            }

            async fn create_server_lock(
                &self,
                region: &Region,
                server: &ServerName,
                holder: &LockHolder,
            ) -> CloudResult<()> {
                self.call(Api::CreateLaunchTemplate, Some(region), false, needs::lock(region, server), |w| {
                    w.create_server_lock(region, server, holder)
                })
                .await
            }

            async fn describe_server_lock(
                &self,
                region: &Region,
                server: &ServerName,
            ) -> CloudResult<Option<LockHolder>> {
                self.call(Api::DescribeLaunchTemplates, Some(region), false, needs::lock(region, server), |w| {
                    Ok(w.describe_server_lock(region, server))
                })
                .await
            }

            async fn delete_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<()> {
                self.call(Api::DeleteLaunchTemplate, Some(region), false, needs::lock(region, server), |w| {
                    w.delete_server_lock(region, server)
                })
                .await
            }

            async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>> {
                self.call(Api::DnsLookup, None, false, vec![], |w| Ok(w.resolve_dns(host))).await
            }

            /// Who the caller is: the operator, or the agent's instance profile's role.
            async fn caller_identity(&self, _region: &Region) -> CloudResult<Option<CallerIdentity>> {
                let agent = self.agent();
                self.call(Api::GetCallerIdentity, None, false, vec![], |w| Ok(Some(w.caller_identity(agent)))).await
            }

            /// As AWS: `DryRunOperation` if the caller may make the call, else its refusal.
            async fn dry_run(&self, region: &Region, request: &DryRun) -> CloudResult<DryRunAnswer> {
                let (agent, api) = (self.agent(), request.api());
                let profile = match request {
                    DryRun::RunInstances(r) => r.settings.instance_profile.as_ref().map(|p| p.name().to_string()),
                    _ => None,
                };
                let answer = self
                    .call(api, Some(region), false, vec![], |w| {
                        w.authorize_launch(agent, api, profile.as_deref(), false)?;
                        w.dry_run(agent, api)
                    })
                    .await;
                match answer {
                    Err(e) if e.kind == CloudErrorKind::DryRunOperation => Ok(DryRunAnswer::Allowed),
                    Err(e) => Err(e),
                    // World::dry_run always answers with a code; were it not to, say so.
                    Ok(()) => Err(CloudError::new(CloudErrorKind::InternalError, "the dry run was not answered")),
                }
            }

            async fn now(&self) -> Timestamp {
                self.sim().with_core(|w| w.now())
            }

            async fn now_ms(&self) -> u64 {
                self.sim().with_core(|w| w.now_ms())
            }

            async fn sleep(&self, duration: Duration) {
                self.sim().sleep_on_clock(duration).await
            }
        }
    };
}

sim_cloud!(Sim);
sim_cloud!(AgentCloud<'_>);
