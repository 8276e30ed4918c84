//! Conversions between the SDK's types and the engine's model: tags, times, user data,
//! instances, volumes, addresses, images, snapshots, filters, launch settings, status checks.

use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;
use aws_smithy_types::base64;
use cellar_engine::cloud::*;
use cellar_engine::model::*;
use cellar_engine::monitoring::{CheckStatus, EventCode, InstanceChecks, ScheduledEvent};
use std::collections::HashMap;

pub(crate) fn to_tags<'a>(tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Tags {
    tags.into_iter()
        // aws:* tags are AWS's own (aws:autoscaling:groupName, aws:ec2launchtemplate:id):
        // users cannot set them and cellar does not compare them.
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect()
}

pub(crate) fn ec2_tags(tags: &[ec2::types::Tag]) -> Tags {
    to_tags(tags.iter().map(|t| (t.key(), t.value())))
}

pub(crate) fn ec2_tag_list(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter().map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build()).collect()
}

pub(crate) fn tag_spec(resource: ec2::types::ResourceType, tags: &Tags) -> ec2::types::TagSpecification {
    ec2::types::TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tag_list(tags))).build()
}

pub(crate) fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Timestamp {
    Timestamp(t.map_or(0, |t| t.secs().max(0) as u64))
}

pub(crate) fn parse_time(s: Option<&str>) -> Timestamp {
    let parsed =
        s.and_then(|s| aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime).ok());
    timestamp(parsed.as_ref())
}

pub(crate) fn architecture(s: Option<&str>) -> Architecture {
    s.and_then(Architecture::parse).unwrap_or(Architecture::X86_64)
}

pub(crate) fn encode_user_data(text: &str) -> String {
    base64::encode(text.as_bytes())
}

pub(crate) fn decode_base64_text(encoded: Option<&str>) -> String {
    encoded
        .and_then(|e| base64::decode(e).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

pub(crate) fn instance_state(state: Option<&ec2::types::InstanceState>) -> InstanceState {
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

pub(crate) fn instance(i: &ec2::types::Instance, groups: &HashMap<String, String>) -> Instance {
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
        launched_from: launched_from(i.tags()),
    }
}

/// The launch template version AWS tagged the instance with (`aws:ec2launchtemplate:id`
/// and `aws:ec2launchtemplate:version`, which `ec2_tags` leaves out as AWS's own).
fn launched_from(tags: &[ec2::types::Tag]) -> Option<(LaunchTemplateId, u32)> {
    let tag = |key: &str| tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value());
    let version = tag("aws:ec2launchtemplate:version")?.parse().ok()?;
    Some((LaunchTemplateId::new(tag("aws:ec2launchtemplate:id")?), version))
}

pub(crate) fn volume(v: &ec2::types::Volume) -> Volume {
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
        ebs: crate::network::ebs_of_volume(v),
    }
}

pub(crate) fn address(a: &ec2::types::Address) -> Address {
    Address {
        allocation_id: AllocationId::new(a.allocation_id().unwrap_or_default()),
        public_ip: a.public_ip().unwrap_or_default().to_string(),
        // Some endpoints (moto) send an empty InstanceId for an unassociated address.
        associated_to: a.instance_id().filter(|i| !i.is_empty()).map(InstanceId::new),
        tags: ec2_tags(a.tags()),
    }
}

pub(crate) fn image(i: &ec2::types::Image, region: &Region) -> Image {
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
        root_device: i.root_device_name().map(str::to_string),
        root_size_gb: root_size_gb(i),
    }
}

/// The size of the snapshot behind the image's root device mapping.
pub(crate) fn root_size_gb(i: &ec2::types::Image) -> Option<u32> {
    let root = i.root_device_name()?;
    let mapping = i.block_device_mappings().iter().find(|m| m.device_name() == Some(root))?;
    mapping.ebs()?.volume_size().and_then(|s| u32::try_from(s).ok())
}

pub(crate) fn snapshot(s: &ec2::types::Snapshot) -> Snapshot {
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
pub(crate) fn ec2_filter(filter: &Filter) -> (Option<Vec<ec2::types::Filter>>, Option<Vec<String>>) {
    match filter {
        Filter::All => (None, None),
        Filter::Server(name) => (
            Some(vec![ec2::types::Filter::builder().name(format!("tag:{NAME_TAG}")).values(name.as_str()).build()]),
            None,
        ),
        Filter::Servers(names) => (
            Some(vec![ec2::types::Filter::builder()
                .name(format!("tag:{NAME_TAG}"))
                .set_values(Some(names.iter().map(|n| n.to_string()).collect()))
                .build()]),
            None,
        ),
        Filter::Id(id) => (None, Some(vec![id.clone()])),
    }
}

/// A describe by id of something that does not exist answers with a NotFound code (or,
/// for some ids, a Malformed one); [`Filter::Id`] promises an empty list instead.
pub(crate) fn empty_if_missing<T>(filter: &Filter, result: CloudResult<Vec<T>>) -> CloudResult<Vec<T>> {
    match result {
        Err(e) if matches!(filter, Filter::Id(_)) && is_missing(&e.kind) => Ok(Vec::new()),
        other => other,
    }
}

pub(crate) fn is_missing(kind: &CloudErrorKind) -> bool {
    use CloudErrorKind as K;
    match kind {
        K::InvalidInstanceIdNotFound
        | K::InvalidVolumeNotFound
        | K::InvalidAddressNotFound
        | K::InvalidAmiIdNotFound
        | K::InvalidSnapshotNotFound
        | K::InvalidLaunchTemplateNotFound => true,
        K::Other(code) => code.ends_with(".NotFound") || code.ends_with(".Malformed"),
        _ => false,
    }
}

pub(crate) fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(crate) fn launch_template_spec(source: &LaunchSource) -> Option<asg::types::LaunchTemplateSpecification> {
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

pub(crate) fn launch_configuration_name(source: &LaunchSource) -> Option<String> {
    match source {
        LaunchSource::Configuration { name } => Some(name.clone()),
        LaunchSource::Template { .. } => None,
    }
}

/// A launch template version's data: image, type, user data and the launch settings
/// (profile, security groups, key pair, metadata options, root volume).
pub(crate) fn template_data(spec: &LaunchSpec) -> ec2::types::RequestLaunchTemplateData {
    let b = ec2::types::RequestLaunchTemplateData::builder()
        .image_id(spec.image.as_str())
        .instance_type(ec2::types::InstanceType::from(spec.instance_type.as_str()))
        .user_data(encode_user_data(&spec.user_data));
    crate::network::template_settings(b, &spec.settings).build()
}

/// A status check's summary (`ok`, `impaired`, ...); one this version does not know is
/// `insufficient-data`.
fn check_status(summary: Option<&ec2::types::InstanceStatusSummary>) -> CheckStatus {
    summary
        .and_then(|s| s.status())
        .and_then(|s| CheckStatus::parse(s.as_str()))
        .unwrap_or(CheckStatus::InsufficientData)
}

/// One instance of DescribeInstanceStatus: its checks and its scheduled events (an event
/// of a kind this version does not know is left out).
pub(crate) fn instance_checks(s: &ec2::types::InstanceStatus) -> InstanceChecks {
    let events = s
        .events()
        .iter()
        .filter_map(|e| {
            Some(ScheduledEvent {
                id: e.instance_event_id().unwrap_or_default().to_string(),
                code: EventCode::parse(e.code()?.as_str())?,
                description: e.description().unwrap_or_default().to_string(),
                not_before: timestamp(e.not_before()),
                not_after: e.not_after().map(|t| timestamp(Some(t))),
            })
        })
        .collect();
    InstanceChecks {
        instance: InstanceId::new(s.instance_id().unwrap_or_default()),
        zone: Zone::new(s.availability_zone().unwrap_or_default()),
        state: instance_state(s.instance_state()),
        system: check_status(s.system_status()),
        instance_check: check_status(s.instance_status()),
        events,
    }
}
