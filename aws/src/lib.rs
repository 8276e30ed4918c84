//! cellar's AWS backend: the engine's [`Cloud`] trait on aws-sdk-ec2 and aws-sdk-autoscaling.
//!
//! Outline:
//! - [`AwsCloud::connect`] loads aws-config's default chain (environment, profiles, SSO,
//!   instance metadata), honouring `AWS_ENDPOINT_URL` or an explicit endpoint, and makes
//!   one EC2 and one Auto Scaling client per region on first use.
//! - Every call maps its SDK error to a [`CloudError`] by AWS error *code* ([`error`]).
//!   The SDK's own retries are switched off: the engine's executor and reads retry with
//!   their own backoff, jitter and client-side token buckets, which are the same for the
//!   simulator and for AWS and are what the tests exercise.
//! - Describe calls page through every result (`instances::describe_instances` and friends use the
//!   SDK paginators or `NextToken` loops). A describe by id that finds nothing returns an
//!   empty list, as [`Filter::Id`] promises, whatever error code the API uses for it.
//! - Creating calls tag at creation (`TagSpecifications`, or the group's own tags with
//!   `PropagateAtLaunch`), so nothing exists untagged even for a moment. RunInstances
//!   carries the plan's client token.
//! - Waiting (for an instance to run, a volume to attach, a group to replace an
//!   instance) is the engine's: it polls through [`Cloud`] with backoff on [`Cloud::sleep`],
//!   which here is real time.
//!
//! Layout: one module per resource kind (`regions`, `instances`, `volumes`, `addresses`,
//! `images`, `launch`, `groups`, `network`: VPCs, subnets, security groups and the launch
//! settings' SDK spellings), each holding the calls the `Cloud` impl here delegates to;
//! `convert` maps SDK types to the engine's model; [`error`] maps error codes.
//!
//! No SDK type appears in this crate's public interface.

mod addresses;
mod convert;
mod dry_run;
pub mod error;
mod groups;
mod images;
mod instances;
mod launch;
mod locks;
mod network;
mod regions;
mod volumes;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;
use aws_sdk_sts as sts;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::lock::LockHolder;
use cellar_engine::model::*;
use convert::decode_base64_text;
use error::from_sdk;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to reach AWS. Everything left `None` comes from aws-config's default chain.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Overrides the endpoint of both services (otherwise `AWS_ENDPOINT_URL`, or AWS's).
    pub endpoint_url: Option<String>,
    /// A named profile from `~/.aws/config` (otherwise `AWS_PROFILE`, or the default).
    pub profile: Option<String>,
    /// Fixed credentials (access key id, secret), for local endpoints such as moto.
    pub static_credentials: Option<(String, String)>,
    /// Longest wait for one HTTP attempt (default 30 s).
    pub attempt_timeout: Option<Duration>,
}

#[derive(Clone)]
struct Clients {
    ec2: ec2::Client,
    asg: asg::Client,
}

/// The [`Cloud`] of real AWS (or of an AWS-compatible endpoint).
pub struct AwsCloud {
    base: SdkConfig,
    clients: Mutex<HashMap<Region, Clients>>,
}

/// The region whose endpoint answers DescribeRegions when the caller names none.
const HOME_REGION: &str = "us-east-1";

impl AwsCloud {
    /// Loads configuration and credentials (lazily: nothing is called until the first
    /// request, so a missing credential is reported by the first call, with its code).
    pub async fn connect(options: AwsOptions) -> AwsCloud {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(options.attempt_timeout.unwrap_or(Duration::from_secs(30)))
            .build();
        // HTTPS over rustls with ring; certificates from the system's trust store.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some((id, secret)) = &options.static_credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "cellar-static",
            ));
        }
        AwsCloud { base: loader.load().await, clients: Mutex::new(HashMap::new()) }
    }

    fn clients(&self, region: &Region) -> Clients {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let ec2_config =
                    ec2::config::Builder::from(&self.base).region(ec2::config::Region::new(region.to_string())).build();
                let asg_config =
                    asg::config::Builder::from(&self.base).region(asg::config::Region::new(region.to_string())).build();
                Clients { ec2: ec2::Client::from_conf(ec2_config), asg: asg::Client::from_conf(asg_config) }
            })
            .clone()
    }

    /// An STS client for `region` (made per call: `cellar doctor` asks once).
    fn sts(&self, region: &Region) -> sts::Client {
        let config =
            sts::config::Builder::from(&self.base).region(sts::config::Region::new(region.to_string())).build();
        sts::Client::from_conf(config)
    }

    fn ec2(&self, region: &Region) -> ec2::Client {
        self.clients(region).ec2
    }

    fn asg(&self, region: &Region) -> asg::Client {
        self.clients(region).asg
    }

    /// The Auto Scaling group of each of these instances (DescribeAutoScalingInstances:
    /// authoritative, unlike the `aws:autoscaling:groupName` tag, which outlives a detach).
    async fn groups_of(&self, region: &Region, ids: &[String]) -> CloudResult<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(50) {
            let mut pages = self
                .asg(region)
                .describe_auto_scaling_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(Api::DescribeAutoScalingInstances, e))?;
                for i in page.auto_scaling_instances() {
                    if let (Some(id), Some(group)) = (i.instance_id(), i.auto_scaling_group_name()) {
                        out.insert(id.to_string(), group.to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    /// The spec of one launch template version (`$Latest` when `version` is `None`).
    async fn template_spec(&self, region: &Region, id: &str, version: Option<i64>) -> CloudResult<LaunchSpec> {
        let version = version.map_or_else(|| "$Latest".to_string(), |v| v.to_string());
        let out = self
            .ec2(region)
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(version)
            .send()
            .await
            .map_err(|e| from_sdk(Api::DescribeLaunchTemplateVersions, e))?;
        let data = out.launch_template_versions().first().and_then(|v| v.launch_template_data());
        Ok(LaunchSpec {
            instance_type: InstanceType::new(
                data.and_then(|d| d.instance_type()).map(|t| t.as_str().to_string()).unwrap_or_default(),
            ),
            image: ImageId::new(data.and_then(|d| d.image_id()).unwrap_or_default()),
            user_data: decode_base64_text(data.and_then(|d| d.user_data())),
            settings: network::settings_of_template(data),
        })
    }
}

#[async_trait]
impl Cloud for AwsCloud {
    /// Regions (DescribeRegions), and the zones (DescribeAvailabilityZones) of the regions
    /// asked for, concurrently; other regions' zone lists stay empty.
    async fn describe_regions(&self, zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
        regions::describe_regions(self, zones_of).await
    }

    async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>> {
        instances::describe_instances(self, region, filter).await
    }

    async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
        volumes::describe_volumes(self, region, filter).await
    }

    /// DescribeAddresses is not paginated: it returns every address of the region.
    async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>> {
        addresses::describe_addresses(self, region, filter).await
    }

    /// The account's own images (`Owners=self`): the images cellar bundles and boots.
    async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>> {
        images::describe_images(self, region).await
    }

    async fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<LaunchTemplate>> {
        launch::describe_launch_templates(self, region, filter).await
    }

    async fn describe_auto_scaling_groups(
        &self,
        region: &Region,
        filter: &Filter,
    ) -> CloudResult<Vec<AutoScalingGroup>> {
        groups::describe_auto_scaling_groups(self, region, filter).await
    }

    async fn describe_vpcs(&self, region: &Region) -> CloudResult<Vec<Vpc>> {
        network::describe_vpcs(self, region).await
    }

    async fn describe_subnets(&self, region: &Region) -> CloudResult<Vec<Subnet>> {
        network::describe_subnets(self, region).await
    }

    async fn describe_security_groups(&self, region: &Region) -> CloudResult<Vec<SecurityGroup>> {
        network::describe_security_groups(self, region).await
    }

    async fn describe_key_pairs(&self, region: &Region) -> CloudResult<Vec<KeyName>> {
        network::describe_key_pairs(self, region).await
    }

    async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        volumes::create_volume(self, region, request).await
    }

    async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()> {
        volumes::delete_volume(self, region, volume).await
    }

    async fn attach_volume(
        &self,
        region: &Region,
        volume: &VolumeId,
        instance: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        volumes::attach_volume(self, region, volume, instance, device).await
    }

    /// Always names the instance (moto crashes without it; AWS checks it).
    async fn detach_volume(&self, region: &Region, volume: &VolumeId, instance: &InstanceId) -> CloudResult<()> {
        volumes::detach_volume(self, region, volume, instance).await
    }

    async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address> {
        addresses::allocate_address(self, region, tags).await
    }

    async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()> {
        addresses::release_address(self, region, address).await
    }

    /// Moves the address onto the instance even if it is on another one (the replacement
    /// instance takes over its predecessor's address).
    async fn associate_address(
        &self,
        region: &Region,
        address: &AllocationId,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        addresses::associate_address(self, region, address, instance).await
    }

    async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        addresses::create_tags(self, region, resource, tags).await
    }

    async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        addresses::delete_tags(self, region, resource, keys).await
    }

    async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        instances::run_instance(self, region, request).await
    }

    async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()> {
        instances::terminate_instance(self, region, instance).await
    }

    async fn get_console_output(&self, region: &Region, instance: &InstanceId) -> CloudResult<String> {
        instances::get_console_output(self, region, instance).await
    }

    async fn describe_instance_status(
        &self,
        region: &Region,
        instances: &[InstanceId],
    ) -> CloudResult<Vec<cellar_engine::monitoring::InstanceChecks>> {
        instances::describe_instance_status(self, region, instances).await
    }

    async fn create_launch_template(
        &self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        launch::create_launch_template(self, region, request).await
    }

    async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()> {
        launch::delete_launch_template(self, region, template).await
    }

    async fn create_server_lock(&self, region: &Region, server: &ServerName, holder: &LockHolder) -> CloudResult<()> {
        locks::create_server_lock(self, region, server, holder).await
    }

    async fn describe_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<Option<LockHolder>> {
        locks::describe_server_lock(self, region, server).await
    }

    async fn delete_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<()> {
        locks::delete_server_lock(self, region, server).await
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        template: &LaunchTemplateId,
        spec: LaunchSpec,
        client_token: Option<&str>,
    ) -> CloudResult<LaunchTemplate> {
        launch::create_launch_template_version(self, region, template, spec, client_token).await
    }

    async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>> {
        launch::describe_launch_configurations(self, region).await
    }

    async fn create_launch_configuration(
        &self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        launch::create_launch_configuration(self, region, name, spec).await
    }

    async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()> {
        launch::delete_launch_configuration(self, region, name).await
    }

    /// The group's tags propagate to the instances it launches, so a replacement is
    /// tagged `Name=<server>` from its first moment.
    async fn create_auto_scaling_group(
        &self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        groups::create_auto_scaling_group(self, region, request).await
    }

    /// AttachInstances (which raises the desired capacity by one), then min to 1 if it was 0,
    /// so the group replaces the instance if it dies.
    async fn attach_instance_to_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        groups::attach_instance_to_group(self, region, group, instance).await
    }

    async fn create_or_update_group_tags(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        tags: Tags,
    ) -> CloudResult<()> {
        groups::create_or_update_group_tags(self, region, group, tags).await
    }

    async fn update_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        groups::update_auto_scaling_group(self, region, group, update).await
    }

    async fn delete_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()> {
        groups::delete_auto_scaling_group(self, region, group, force).await
    }

    async fn create_image(
        &self,
        region: &Region,
        instance: &InstanceId,
        name: &str,
        tags: Tags,
        options: &ImageOptions,
    ) -> CloudResult<Image> {
        images::create_image(self, region, instance, name, tags, options).await
    }

    /// CopyImage is called in the target region, naming the source region.
    async fn copy_image(
        &self,
        source_region: &Region,
        image: &ImageId,
        target_region: &Region,
        name: &str,
        client_token: Option<&str>,
    ) -> CloudResult<Image> {
        images::copy_image(self, source_region, image, target_region, (name, client_token)).await
    }

    async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        volumes::create_snapshot(self, region, volume, tags).await
    }

    async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>> {
        volumes::describe_snapshots(self, region, filter).await
    }

    async fn delete_snapshot(&self, region: &Region, snapshot: &SnapshotId) -> CloudResult<()> {
        volumes::delete_snapshot(self, region, snapshot).await
    }

    async fn copy_snapshot(
        &self,
        source_region: &Region,
        snapshot: &SnapshotId,
        target_region: &Region,
        tags: Tags,
    ) -> CloudResult<Snapshot> {
        volumes::copy_snapshot(self, source_region, snapshot, target_region, tags).await
    }

    /// The system resolver (A records). A name that does not resolve gives an empty list:
    /// the planner then treats DNS as not pointing at any address of the server, which
    /// only ever leads to the DNS gate, never to reusing a wrong address.
    async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>> {
        regions::resolve_dns(host).await
    }

    /// STS GetCallerIdentity, at the region's STS endpoint.
    async fn caller_identity(&self, region: &Region) -> CloudResult<Option<CallerIdentity>> {
        dry_run::caller_identity(self, region).await.map(Some)
    }

    async fn dry_run(&self, region: &Region, request: &DryRun) -> CloudResult<DryRunAnswer> {
        dry_run::dry_run(self, region, request).await
    }

    async fn now(&self) -> Timestamp {
        Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    async fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_zones() {
        use crate::groups::zone_of_details;
        assert_eq!(
            zone_of_details(r#"{"Subnet ID":"subnet-1","Availability Zone":"us-east-1b"}"#),
            Some(Zone::new("us-east-1b"))
        );
        assert_eq!(zone_of_details("{}"), None);
    }

    #[test]
    fn user_data_round_trips() {
        use crate::convert::{decode_base64_text, encode_user_data};
        for text in ["", "#!/bin/bash\necho hi\n", "ünïcode ✓"] {
            assert_eq!(decode_base64_text(Some(&encode_user_data(text))), text);
        }
        assert_eq!(decode_base64_text(None), "");
    }
}

#[cfg(test)]
mod policy_tests {
    use cellar_engine::api::Api;
    use std::collections::BTreeSet;

    /// The adapter's source files that call AWS.
    const SOURCES: &[&str] = &[
        include_str!("lib.rs"),
        include_str!("regions.rs"),
        include_str!("instances.rs"),
        include_str!("volumes.rs"),
        include_str!("addresses.rs"),
        include_str!("images.rs"),
        include_str!("launch.rs"),
        include_str!("locks.rs"),
        include_str!("groups.rs"),
        include_str!("dry_run.rs"),
        include_str!("network.rs"),
    ];

    /// The operation named by every `from_sdk` call of the adapter: every API call it makes.
    fn operations_called() -> BTreeSet<String> {
        SOURCES
            .iter()
            .flat_map(|whole| {
                // The adapter's code, not these tests.
                let source = &whole[..whole.find("#[cfg(test)]").unwrap_or(whole.len())];
                source
                    .match_indices("from_sdk(Api::")
                    // GetCallerIdentity needs no permission: no action.
                    .filter_map(|(at, m)| {
                        let rest = &source[at + m.len()..];
                        let name = &rest[..rest.find(',').unwrap()];
                        Api::parse(name).unwrap_or_else(|| panic!("{name} is not an Api")).iam_action()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn actions(policy: &str) -> BTreeSet<String> {
        policy
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("\"ec2:") || l.starts_with("\"autoscaling:"))
            .map(|l| l.trim_matches([',', '"']).to_string())
            .collect()
    }

    /// docs/iam-policy.json is least privilege: exactly the calls the adapter makes, which
    /// are every AWS operation of the engine's `Api`.
    #[test]
    fn the_documented_policy_lists_exactly_the_calls_made() {
        let called = operations_called();
        let every: BTreeSet<String> = Api::ALL.iter().filter_map(|a| a.iam_action()).collect();
        assert_eq!(called, every, "the adapter calls every AWS operation of Api, and only those");
        assert_eq!(actions(include_str!("../../docs/iam-policy.json")), called);
        // The agent's role needs a subset: what `agent::run` reaches.
        // Launches name an instance profile, whose role EC2 may only take with iam:PassRole.
        let policy = include_str!("../../docs/iam-policy.json");
        assert!(policy.contains("\"iam:PassRole\""), "docs/iam-policy.json must allow iam:PassRole");
        assert!(policy.contains("\"iam:PassedToService\": \"ec2.amazonaws.com\""));
        let agent = actions(include_str!("../../docs/agent-iam-policy.json"));
        assert!(agent.is_subset(&called), "{agent:?}");
    }
}
