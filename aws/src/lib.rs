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
//! - Describe calls page through every result ([`describe_instances`] and friends use the
//!   SDK paginators or `NextToken` loops). A describe by id that finds nothing returns an
//!   empty list, as [`Filter::Id`] promises, whatever error code the API uses for it.
//! - Creating calls tag at creation (`TagSpecifications`, or the group's own tags with
//!   `PropagateAtLaunch`), so nothing exists untagged even for a moment. RunInstances
//!   carries the plan's client token.
//! - Waiting (for an instance to run, a volume to attach, a group to replace an
//!   instance) is the engine's: it polls through [`Cloud`] with backoff on [`Cloud::sleep`],
//!   which here is real time.
//!
//! No SDK type appears in this crate's public interface.

pub mod error;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;
use aws_smithy_types::base64;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;
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
            user_data: decode_user_data(data.and_then(|d| d.user_data())),
        })
    }
}

// ----- conversions (SDK → model), private to the adapter -----

fn to_tags<'a>(tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Tags {
    tags.into_iter()
        // aws:* tags are AWS's own (aws:autoscaling:groupName, aws:ec2launchtemplate:id):
        // users cannot set them and cellar does not compare them.
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect()
}

fn ec2_tags(tags: &[ec2::types::Tag]) -> Tags {
    to_tags(tags.iter().map(|t| (t.key(), t.value())))
}

fn ec2_tag_list(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter().map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build()).collect()
}

fn tag_spec(resource: ec2::types::ResourceType, tags: &Tags) -> ec2::types::TagSpecification {
    ec2::types::TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tag_list(tags))).build()
}

fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Timestamp {
    Timestamp(t.map_or(0, |t| t.secs().max(0) as u64))
}

fn parse_time(s: Option<&str>) -> Timestamp {
    let parsed =
        s.and_then(|s| aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime).ok());
    timestamp(parsed.as_ref())
}

fn architecture(s: Option<&str>) -> Architecture {
    s.and_then(Architecture::parse).unwrap_or(Architecture::X86_64)
}

fn encode_user_data(text: &str) -> String {
    base64::encode(text.as_bytes())
}

fn decode_user_data(encoded: Option<&str>) -> String {
    encoded
        .and_then(|e| base64::decode(e).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn instance_state(state: Option<&ec2::types::InstanceState>) -> InstanceState {
    use ec2::types::InstanceStateName as S;
    match state.and_then(|s| s.name()) {
        Some(S::Running) => InstanceState::Running,
        Some(S::Stopping) => InstanceState::Stopping,
        Some(S::Stopped) => InstanceState::Stopped,
        Some(S::ShuttingDown) => InstanceState::ShuttingDown,
        Some(S::Terminated) => InstanceState::Terminated,
        _ => InstanceState::Pending,
    }
}

fn instance(i: &ec2::types::Instance, groups: &HashMap<String, String>) -> Instance {
    let id = i.instance_id().unwrap_or_default();
    Instance {
        id: InstanceId::new(id),
        state: instance_state(i.state()),
        zone: Zone::new(i.placement().and_then(|p| p.availability_zone()).unwrap_or_default()),
        instance_type: InstanceType::new(i.instance_type().map(|t| t.as_str()).unwrap_or_default()),
        image: ImageId::new(i.image_id().unwrap_or_default()),
        architecture: architecture(i.architecture().map(|a| a.as_str())),
        public_ip: i.public_ip_address().filter(|ip| !ip.is_empty()).map(str::to_string),
        launched_at: timestamp(i.launch_time()),
        tags: ec2_tags(i.tags()),
        group: groups.get(id).map(|g| AutoScalingGroupName::new(g.as_str())),
    }
}

fn volume(v: &ec2::types::Volume) -> Volume {
    use ec2::types::{VolumeAttachmentState as A, VolumeState as S};
    let attachment =
        v.attachments().iter().find(|a| matches!(a.state(), Some(A::Attached | A::Attaching | A::Busy) | None));
    Volume {
        id: VolumeId::new(v.volume_id().unwrap_or_default()),
        state: match v.state() {
            Some(S::Creating) => VolumeState::Creating,
            Some(S::InUse) => VolumeState::InUse,
            Some(S::Deleting) => VolumeState::Deleting,
            Some(S::Deleted) => VolumeState::Deleted,
            _ => VolumeState::Available,
        },
        zone: Zone::new(v.availability_zone().unwrap_or_default()),
        size_gb: v.size().unwrap_or(0).max(0) as u32,
        attached_to: attachment.and_then(|a| a.instance_id()).filter(|i| !i.is_empty()).map(InstanceId::new),
        device: attachment.and_then(|a| a.device()).filter(|d| !d.is_empty()).map(str::to_string),
        tags: ec2_tags(v.tags()),
    }
}

fn address(a: &ec2::types::Address) -> Address {
    Address {
        allocation_id: AllocationId::new(a.allocation_id().unwrap_or_default()),
        public_ip: a.public_ip().unwrap_or_default().to_string(),
        // Some endpoints (moto) send an empty InstanceId for an unassociated address.
        associated_to: a.instance_id().filter(|i| !i.is_empty()).map(InstanceId::new),
        tags: ec2_tags(a.tags()),
    }
}

fn image(i: &ec2::types::Image, region: &Region) -> Image {
    use ec2::types::ImageState as S;
    Image {
        id: ImageId::new(i.image_id().unwrap_or_default()),
        name: i.name().unwrap_or_default().to_string(),
        architecture: architecture(i.architecture().map(|a| a.as_str())),
        region: region.clone(),
        created_at: parse_time(i.creation_date()),
        state: match i.state() {
            Some(S::Available) => ImageState::Available,
            Some(S::Pending) | Some(S::Transient) => ImageState::Pending,
            _ => ImageState::Failed,
        },
        tags: ec2_tags(i.tags()),
    }
}

fn snapshot(s: &ec2::types::Snapshot) -> Snapshot {
    Snapshot {
        id: SnapshotId::new(s.snapshot_id().unwrap_or_default()),
        volume: VolumeId::new(s.volume_id().unwrap_or_default()),
        size_gb: s.volume_size().unwrap_or(0).max(0) as u32,
        state: match s.state() {
            Some(ec2::types::SnapshotState::Completed) => SnapshotState::Completed,
            _ => SnapshotState::Pending,
        },
        created_at: timestamp(s.start_time()),
        tags: ec2_tags(s.tags()),
    }
}

/// `(filters, ids)` for an EC2 describe call: by `Name` tag, or by id.
fn ec2_filter(filter: &Filter) -> (Option<Vec<ec2::types::Filter>>, Option<Vec<String>>) {
    match filter {
        Filter::All => (None, None),
        Filter::Server(name) => (
            Some(vec![ec2::types::Filter::builder().name(format!("tag:{NAME_TAG}")).values(name.as_str()).build()]),
            None,
        ),
        Filter::Id(id) => (None, Some(vec![id.clone()])),
    }
}

/// A describe by id of something that does not exist answers with a NotFound code (or,
/// for some ids, a Malformed one); [`Filter::Id`] promises an empty list instead.
fn empty_if_missing<T>(filter: &Filter, result: CloudResult<Vec<T>>) -> CloudResult<Vec<T>> {
    match result {
        Err(e) if matches!(filter, Filter::Id(_)) && is_missing(&e.kind) => Ok(Vec::new()),
        other => other,
    }
}

fn is_missing(kind: &CloudErrorKind) -> bool {
    use CloudErrorKind as K;
    match kind {
        K::InvalidInstanceIdNotFound
        | K::InvalidVolumeNotFound
        | K::InvalidAddressNotFound
        | K::InvalidAmiIdNotFound
        | K::InvalidLaunchTemplateNotFound => true,
        K::Other(code) => code.ends_with(".NotFound") || code.ends_with(".Malformed"),
        _ => false,
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn launch_template_spec(source: &LaunchSource) -> Option<asg::types::LaunchTemplateSpecification> {
    match source {
        LaunchSource::Template { id, version } => Some(
            asg::types::LaunchTemplateSpecification::builder()
                .launch_template_id(id.as_str())
                .version(version.map_or_else(|| "$Latest".to_string(), |v| v.to_string()))
                .build(),
        ),
        LaunchSource::Configuration { .. } => None,
    }
}

fn launch_configuration_name(source: &LaunchSource) -> Option<String> {
    match source {
        LaunchSource::Configuration { name } => Some(name.clone()),
        LaunchSource::Template { .. } => None,
    }
}

fn template_data(spec: &LaunchSpec) -> ec2::types::RequestLaunchTemplateData {
    ec2::types::RequestLaunchTemplateData::builder()
        .image_id(spec.image.as_str())
        .instance_type(ec2::types::InstanceType::from(spec.instance_type.as_str()))
        .user_data(encode_user_data(&spec.user_data))
        .build()
}

#[async_trait]
impl Cloud for AwsCloud {
    /// Regions (DescribeRegions), and the zones (DescribeAvailabilityZones) of the regions
    /// asked for, concurrently; other regions' zone lists stay empty.
    async fn describe_regions(&self, zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
        let home = zones_of.first().cloned().unwrap_or_else(|| Region::new(HOME_REGION));
        let out = self.ec2(&home).describe_regions().send().await.map_err(|e| from_sdk(Api::DescribeRegions, e))?;
        let mut regions: Vec<RegionInfo> = out
            .regions()
            .iter()
            .filter_map(|r| r.region_name())
            .map(|r| RegionInfo { region: Region::new(r), zones: Vec::new() })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for region in regions.iter().map(|r| r.region.clone()).filter(|r| zones_of.contains(r)) {
            let client = self.ec2(&region);
            tasks.spawn(async move {
                let out = client
                    .describe_availability_zones()
                    .send()
                    .await
                    .map_err(|e| from_sdk(Api::DescribeAvailabilityZones, e))?;
                let mut zones: Vec<Zone> = out
                    .availability_zones()
                    .iter()
                    // Local Zones and Wavelength Zones are not where cellar puts servers.
                    .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                    .filter_map(|z| z.zone_name())
                    .map(Zone::new)
                    .collect();
                zones.sort();
                Ok::<_, CloudError>((region, zones))
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (region, zones) = joined.map_err(|e| {
                CloudError::new(CloudErrorKind::InternalError, format!("DescribeAvailabilityZones: {e}"))
            })??;
            if let Some(info) = regions.iter_mut().find(|r| r.region == region) {
                info.zones = zones;
            }
        }
        regions.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(regions)
    }

    async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>> {
        let (filters, ids) = ec2_filter(filter);
        let result = async {
            let mut raw = Vec::new();
            let mut pages = self
                .ec2(region)
                .describe_instances()
                .set_filters(filters)
                .set_instance_ids(ids)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(Api::DescribeInstances, e))?;
                for reservation in page.reservations() {
                    raw.extend(reservation.instances().iter().cloned());
                }
            }
            let live: Vec<String> = raw
                .iter()
                .filter(|i| instance_state(i.state()).is_alive())
                .filter_map(|i| i.instance_id().map(str::to_string))
                .collect();
            let groups = if live.is_empty() { HashMap::new() } else { self.groups_of(region, &live).await? };
            Ok(raw.iter().map(|i| instance(i, &groups)).collect())
        }
        .await;
        empty_if_missing(filter, result)
    }

    async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
        let (filters, ids) = ec2_filter(filter);
        let result = async {
            let mut out = Vec::new();
            let mut pages =
                self.ec2(region).describe_volumes().set_filters(filters).set_volume_ids(ids).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(Api::DescribeVolumes, e))?;
                out.extend(page.volumes().iter().map(volume));
            }
            Ok(out)
        }
        .await;
        empty_if_missing(filter, result)
    }

    /// DescribeAddresses is not paginated: it returns every address of the region.
    async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>> {
        let (filters, ids) = ec2_filter(filter);
        let result = self
            .ec2(region)
            .describe_addresses()
            .set_filters(filters)
            .set_allocation_ids(ids)
            .send()
            .await
            .map_err(|e| from_sdk(Api::DescribeAddresses, e))
            .map(|out| out.addresses().iter().map(address).collect());
        empty_if_missing(filter, result)
    }

    /// The account's own images (`Owners=self`): the images cellar bundles and boots.
    async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>> {
        let mut out = Vec::new();
        let mut pages = self.ec2(region).describe_images().owners("self").into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeImages, e))?;
            out.extend(page.images().iter().map(|i| image(i, region)));
        }
        Ok(out)
    }

    async fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<LaunchTemplate>> {
        let (filters, ids) = ec2_filter(filter);
        let result = async {
            let mut raw = Vec::new();
            let mut pages = self
                .ec2(region)
                .describe_launch_templates()
                .set_filters(filters)
                .set_launch_template_ids(ids)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(Api::DescribeLaunchTemplates, e))?;
                raw.extend(page.launch_templates().iter().cloned());
            }
            let mut out = Vec::new();
            for t in raw {
                let id = t.launch_template_id().unwrap_or_default().to_string();
                out.push(LaunchTemplate {
                    latest: self.template_spec(region, &id, None).await?,
                    id: LaunchTemplateId::new(id),
                    name: t.launch_template_name().unwrap_or_default().to_string(),
                    latest_version: t.latest_version_number().unwrap_or(1).max(0) as u32,
                    default_version: t.default_version_number().unwrap_or(1).max(0) as u32,
                    tags: ec2_tags(t.tags()),
                });
            }
            Ok(out)
        }
        .await;
        empty_if_missing(filter, result)
    }

    async fn describe_auto_scaling_groups(
        &self,
        region: &Region,
        filter: &Filter,
    ) -> CloudResult<Vec<AutoScalingGroup>> {
        let mut request = self.asg(region).describe_auto_scaling_groups();
        match filter {
            Filter::All => {}
            Filter::Server(name) => {
                request = request.filters(
                    asg::types::Filter::builder().name(format!("tag:{NAME_TAG}")).values(name.as_str()).build(),
                )
            }
            Filter::Id(name) => request = request.auto_scaling_group_names(name),
        }
        let mut raw = Vec::new();
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeAutoScalingGroups, e))?;
            raw.extend(page.auto_scaling_groups().iter().cloned());
        }
        let mut out = Vec::new();
        for g in raw {
            let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
            let launch = match (g.launch_template(), g.launch_configuration_name()) {
                (Some(t), _) => LaunchSource::Template {
                    id: LaunchTemplateId::new(t.launch_template_id().unwrap_or_default()),
                    version: t.version().and_then(|v| v.parse().ok()),
                },
                (None, Some(c)) => LaunchSource::Configuration { name: c.to_string() },
                (None, None) => LaunchSource::Configuration { name: String::new() },
            };
            let activities = self
                .asg(region)
                .describe_scaling_activities()
                .auto_scaling_group_name(&name)
                .max_records(20)
                .send()
                .await
                .map_err(|e| from_sdk(Api::DescribeScalingActivities, e))?;
            // AWS lists the newest first; the engine reads them oldest first. Activities
            // still in progress have no outcome yet and are left out.
            let activities = activities
                .activities()
                .iter()
                .rev()
                .filter(|a| {
                    use asg::types::ScalingActivityStatusCode as S;
                    matches!(a.status_code(), Some(S::Successful | S::Failed | S::Cancelled))
                })
                .map(|a| {
                    use asg::types::ScalingActivityStatusCode as S;
                    let succeeded = matches!(a.status_code(), Some(S::Successful));
                    // AWS reports a failed launch as prose in StatusMessage, with no error
                    // code field; cellar shows the message and does not parse it.
                    let description = match a.status_message() {
                        Some(m) if !succeeded && !m.is_empty() => m.to_string(),
                        _ => a.description().unwrap_or_default().to_string(),
                    };
                    ScalingActivity {
                        at: timestamp(a.start_time()),
                        succeeded,
                        description,
                        error_code: None,
                        zones: a.details().and_then(zone_of_details).into_iter().collect(),
                    }
                })
                .collect();
            out.push(AutoScalingGroup {
                name: AutoScalingGroupName::new(name),
                launch,
                zones: g.availability_zones().iter().map(Zone::new).collect(),
                min: g.min_size().unwrap_or(0).max(0) as u32,
                max: g.max_size().unwrap_or(0).max(0) as u32,
                desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
                instances: g.instances().iter().filter_map(|i| i.instance_id()).map(InstanceId::new).collect(),
                activities,
                tags: to_tags(g.tags().iter().map(|t| (t.key(), t.value()))),
            });
        }
        Ok(out)
    }

    async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        let out = self
            .ec2(region)
            .create_volume()
            .availability_zone(request.zone.as_str())
            .size(count(request.size_gb))
            .volume_type(ec2::types::VolumeType::Gp3)
            .tag_specifications(tag_spec(ec2::types::ResourceType::Volume, &request.tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateVolume, e))?;
        Ok(Volume {
            id: VolumeId::new(out.volume_id().unwrap_or_default()),
            state: VolumeState::Creating,
            zone: Zone::new(out.availability_zone().unwrap_or(request.zone.as_str())),
            size_gb: out.size().map_or(request.size_gb, |s| s.max(0) as u32),
            attached_to: None,
            device: None,
            tags: request.tags,
        })
    }

    async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()> {
        self.ec2(region)
            .delete_volume()
            .volume_id(volume.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::DeleteVolume, e))?;
        Ok(())
    }

    async fn attach_volume(
        &self,
        region: &Region,
        volume: &VolumeId,
        instance: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        self.ec2(region)
            .attach_volume()
            .volume_id(volume.as_str())
            .instance_id(instance.as_str())
            .device(device)
            .send()
            .await
            .map_err(|e| from_sdk(Api::AttachVolume, e))?;
        Ok(())
    }

    /// Always names the instance (moto crashes without it; AWS checks it).
    async fn detach_volume(&self, region: &Region, volume: &VolumeId, instance: &InstanceId) -> CloudResult<()> {
        self.ec2(region)
            .detach_volume()
            .volume_id(volume.as_str())
            .instance_id(instance.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::DetachVolume, e))?;
        Ok(())
    }

    async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address> {
        let out = self
            .ec2(region)
            .allocate_address()
            .domain(ec2::types::DomainType::Vpc)
            .tag_specifications(tag_spec(ec2::types::ResourceType::ElasticIp, &tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::AllocateAddress, e))?;
        Ok(Address {
            allocation_id: AllocationId::new(out.allocation_id().unwrap_or_default()),
            public_ip: out.public_ip().unwrap_or_default().to_string(),
            associated_to: None,
            tags,
        })
    }

    async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()> {
        self.ec2(region)
            .release_address()
            .allocation_id(address.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::ReleaseAddress, e))?;
        Ok(())
    }

    /// Moves the address onto the instance even if it is on another one (the replacement
    /// instance takes over its predecessor's address).
    async fn associate_address(
        &self,
        region: &Region,
        address: &AllocationId,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        self.ec2(region)
            .associate_address()
            .allocation_id(address.as_str())
            .instance_id(instance.as_str())
            .allow_reassociation(true)
            .send()
            .await
            .map_err(|e| from_sdk(Api::AssociateAddress, e))?;
        Ok(())
    }

    async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        self.ec2(region)
            .create_tags()
            .resources(resource)
            .set_tags(Some(ec2_tag_list(&tags)))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateTags, e))?;
        Ok(())
    }

    async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        let tags = keys.into_iter().map(|k| ec2::types::Tag::builder().key(k).build()).collect();
        self.ec2(region)
            .delete_tags()
            .resources(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::DeleteTags, e))?;
        Ok(())
    }

    async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        let out = self
            .ec2(region)
            .run_instances()
            .image_id(request.image.as_str())
            .instance_type(ec2::types::InstanceType::from(request.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .placement(ec2::types::Placement::builder().availability_zone(request.zone.as_str()).build())
            .user_data(encode_user_data(&request.user_data))
            .client_token(&request.client_token)
            .tag_specifications(tag_spec(ec2::types::ResourceType::Instance, &request.tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::RunInstances, e))?;
        let launched = out.instances().first().ok_or_else(|| {
            CloudError::new(CloudErrorKind::InternalError, "RunInstances: the response lists no instance")
        })?;
        Ok(instance(launched, &HashMap::new()))
    }

    async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()> {
        self.ec2(region)
            .terminate_instances()
            .instance_ids(instance.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::TerminateInstances, e))?;
        Ok(())
    }

    async fn create_launch_template(
        &self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        let out = self
            .ec2(region)
            .create_launch_template()
            .launch_template_name(&request.name)
            .launch_template_data(template_data(&request.spec))
            .tag_specifications(tag_spec(ec2::types::ResourceType::LaunchTemplate, &request.tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateLaunchTemplate, e))?;
        let t = out.launch_template().ok_or_else(|| {
            CloudError::new(CloudErrorKind::InternalError, "CreateLaunchTemplate: the response has no template")
        })?;
        Ok(LaunchTemplate {
            id: LaunchTemplateId::new(t.launch_template_id().unwrap_or_default()),
            name: request.name,
            latest_version: t.latest_version_number().unwrap_or(1).max(0) as u32,
            default_version: t.default_version_number().unwrap_or(1).max(0) as u32,
            latest: request.spec,
            tags: request.tags,
        })
    }

    async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()> {
        self.ec2(region)
            .delete_launch_template()
            .launch_template_id(template.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::DeleteLaunchTemplate, e))?;
        Ok(())
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        template: &LaunchTemplateId,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchTemplate> {
        let out = self
            .ec2(region)
            .create_launch_template_version()
            .launch_template_id(template.as_str())
            .launch_template_data(template_data(&spec))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateLaunchTemplateVersion, e))?;
        let version = out.launch_template_version();
        let described = self.describe_launch_templates(region, &Filter::Id(template.to_string())).await?;
        let mut t = described.into_iter().next().ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::InvalidLaunchTemplateNotFound,
                format!("launch template {template} vanished"),
            )
        })?;
        t.latest_version = version.and_then(|v| v.version_number()).map_or(t.latest_version, |v| v.max(0) as u32);
        t.latest = spec;
        Ok(t)
    }

    async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>> {
        let mut out = Vec::new();
        let mut pages = self.asg(region).describe_launch_configurations().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeLaunchConfigurations, e))?;
            out.extend(page.launch_configurations().iter().map(|c| LaunchConfiguration {
                name: c.launch_configuration_name().unwrap_or_default().to_string(),
                spec: LaunchSpec {
                    instance_type: InstanceType::new(c.instance_type().unwrap_or_default()),
                    image: ImageId::new(c.image_id().unwrap_or_default()),
                    user_data: decode_user_data(c.user_data()),
                },
                created_at: timestamp(c.created_time()),
            }));
        }
        Ok(out)
    }

    async fn create_launch_configuration(
        &self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        self.asg(region)
            .create_launch_configuration()
            .launch_configuration_name(name)
            .image_id(spec.image.as_str())
            .instance_type(spec.instance_type.as_str())
            .user_data(encode_user_data(&spec.user_data))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateLaunchConfiguration, e))?;
        Ok(LaunchConfiguration { name: name.to_string(), spec, created_at: self.now().await })
    }

    async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()> {
        self.asg(region)
            .delete_launch_configuration()
            .launch_configuration_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(Api::DeleteLaunchConfiguration, e))?;
        Ok(())
    }

    /// The group's tags propagate to the instances it launches, so a replacement is
    /// tagged `Name=<server>` from its first moment.
    async fn create_auto_scaling_group(
        &self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        let tags = request.tags.iter().map(|(k, v)| {
            asg::types::Tag::builder()
                .resource_id(request.name.as_str())
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        });
        self.asg(region)
            .create_auto_scaling_group()
            .auto_scaling_group_name(request.name.as_str())
            .set_launch_template(launch_template_spec(&request.launch))
            .set_launch_configuration_name(launch_configuration_name(&request.launch))
            .set_availability_zones(Some(request.zones.iter().map(|z| z.to_string()).collect()))
            .min_size(count(request.min))
            .max_size(count(request.max))
            .desired_capacity(count(request.desired))
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateAutoScalingGroup, e))?;
        Ok(())
    }

    /// AttachInstances (which raises the desired capacity by one), then min to 1 if it was 0,
    /// so the group replaces the instance if it dies.
    async fn attach_instance_to_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        instance: &InstanceId,
    ) -> CloudResult<()> {
        let current = self.describe_auto_scaling_groups(region, &Filter::Id(group.to_string())).await?;
        let current = current.into_iter().next().ok_or_else(|| {
            CloudError::new(CloudErrorKind::AutoScalingGroupNotFound, format!("auto scaling group {group} not found"))
        })?;
        if !current.instances.contains(instance) {
            self.asg(region)
                .attach_instances()
                .auto_scaling_group_name(group.as_str())
                .instance_ids(instance.as_str())
                .send()
                .await
                .map_err(|e| from_sdk(Api::AttachInstances, e))?;
        }
        if current.min == 0 {
            self.asg(region)
                .update_auto_scaling_group()
                .auto_scaling_group_name(group.as_str())
                .min_size(1)
                .send()
                .await
                .map_err(|e| from_sdk(Api::UpdateAutoScalingGroup, e))?;
        }
        Ok(())
    }

    async fn update_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()> {
        let launch = update.launch.as_ref();
        self.asg(region)
            .update_auto_scaling_group()
            .auto_scaling_group_name(group.as_str())
            .set_launch_template(launch.and_then(launch_template_spec))
            .set_launch_configuration_name(launch.and_then(launch_configuration_name))
            .set_min_size(update.min.map(count))
            .set_max_size(update.max.map(count))
            .set_desired_capacity(update.desired.map(count))
            .send()
            .await
            .map_err(|e| from_sdk(Api::UpdateAutoScalingGroup, e))?;
        Ok(())
    }

    async fn delete_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()> {
        self.asg(region)
            .delete_auto_scaling_group()
            .auto_scaling_group_name(group.as_str())
            .force_delete(force)
            .send()
            .await
            .map_err(|e| from_sdk(Api::DeleteAutoScalingGroup, e))?;
        Ok(())
    }

    async fn create_image(&self, region: &Region, instance: &InstanceId, name: &str, tags: Tags) -> CloudResult<Image> {
        let out = self
            .ec2(region)
            .create_image()
            .instance_id(instance.as_str())
            .name(name)
            .set_tag_specifications((!tags.is_empty()).then(|| vec![tag_spec(ec2::types::ResourceType::Image, &tags)]))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateImage, e))?;
        let described = self
            .describe_instances(region, &Filter::Id(instance.to_string()))
            .await?
            .into_iter()
            .next()
            .map(|i| i.architecture);
        Ok(Image {
            id: ImageId::new(out.image_id().unwrap_or_default()),
            name: name.to_string(),
            architecture: described.unwrap_or(Architecture::X86_64),
            region: region.clone(),
            created_at: self.now().await,
            state: ImageState::Pending,
            tags,
        })
    }

    /// CopyImage is called in the target region, naming the source region.
    async fn copy_image(
        &self,
        source_region: &Region,
        image: &ImageId,
        target_region: &Region,
        name: &str,
    ) -> CloudResult<Image> {
        let source = self
            .ec2(source_region)
            .describe_images()
            .image_ids(image.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::DescribeImages, e))?;
        let arch = source.images().first().and_then(|i| i.architecture()).map(|a| a.as_str().to_string());
        let out = self
            .ec2(target_region)
            .copy_image()
            .source_region(source_region.as_str())
            .source_image_id(image.as_str())
            .name(name)
            .send()
            .await
            .map_err(|e| from_sdk(Api::CopyImage, e))?;
        Ok(Image {
            id: ImageId::new(out.image_id().unwrap_or_default()),
            name: name.to_string(),
            architecture: architecture(arch.as_deref()),
            region: target_region.clone(),
            created_at: self.now().await,
            state: ImageState::Pending,
            tags: Tags::new(),
        })
    }

    async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        let out = self
            .ec2(region)
            .create_snapshot()
            .volume_id(volume.as_str())
            .tag_specifications(tag_spec(ec2::types::ResourceType::Snapshot, &tags))
            .send()
            .await
            .map_err(|e| from_sdk(Api::CreateSnapshot, e))?;
        Ok(Snapshot {
            id: SnapshotId::new(out.snapshot_id().unwrap_or_default()),
            volume: volume.clone(),
            size_gb: out.volume_size().unwrap_or(0).max(0) as u32,
            state: SnapshotState::Pending,
            created_at: timestamp(out.start_time()),
            tags,
        })
    }

    async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>> {
        let (filters, ids) = ec2_filter(filter);
        let result = async {
            let mut out = Vec::new();
            let mut pages = self
                .ec2(region)
                .describe_snapshots()
                .owner_ids("self")
                .set_filters(filters)
                .set_snapshot_ids(ids)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk(Api::DescribeSnapshots, e))?;
                out.extend(page.snapshots().iter().map(snapshot));
            }
            Ok(out)
        }
        .await;
        empty_if_missing(filter, result)
    }

    /// The system resolver (A records). A name that does not resolve gives an empty list:
    /// the planner then treats DNS as not pointing at any address of the server, which
    /// only ever leads to the DNS gate, never to reusing a wrong address.
    async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>> {
        let host = host.to_string();
        let resolved = tokio::task::spawn_blocking(move || {
            use std::net::ToSocketAddrs;
            (host.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.filter(|a| a.is_ipv4()).map(|a| a.ip().to_string()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        let mut resolved = resolved;
        resolved.sort();
        resolved.dedup();
        Ok(resolved)
    }

    async fn now(&self) -> Timestamp {
        Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The zone in a scaling activity's `Details` JSON (`{"Availability Zone":"us-east-1a",...}`).
fn zone_of_details(details: &str) -> Option<Zone> {
    let key = "\"Availability Zone\"";
    let rest = &details[details.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(Zone::new(&rest[..rest.find('"')?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_zones() {
        assert_eq!(
            zone_of_details(r#"{"Subnet ID":"subnet-1","Availability Zone":"us-east-1b"}"#),
            Some(Zone::new("us-east-1b"))
        );
        assert_eq!(zone_of_details("{}"), None);
    }

    #[test]
    fn user_data_round_trips() {
        for text in ["", "#!/bin/bash\necho hi\n", "ünïcode ✓"] {
            assert_eq!(decode_user_data(Some(&encode_user_data(text))), text);
        }
        assert_eq!(decode_user_data(None), "");
    }
}

#[cfg(test)]
mod policy_tests {
    use cellar_engine::api::Api;
    use std::collections::BTreeSet;

    /// The operation named by every `from_sdk` call in this file: every API call the adapter makes.
    fn operations_called() -> BTreeSet<String> {
        let whole = include_str!("lib.rs");
        // The adapter's code, not these tests.
        let source = &whole[..whole.find("#[cfg(test)]").unwrap()];
        source
            .match_indices("from_sdk(Api::")
            .map(|(at, m)| {
                let rest = &source[at + m.len()..];
                let name = &rest[..rest.find(',').unwrap()];
                Api::parse(name).unwrap_or_else(|| panic!("{name} is not an Api")).iam_action().unwrap()
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
        let agent = actions(include_str!("../../docs/agent-iam-policy.json"));
        assert!(agent.is_subset(&called), "{agent:?}");
    }
}
