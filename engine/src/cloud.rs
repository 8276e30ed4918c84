//! The `Cloud` trait: the only way the engine touches the world.
//!
//! The simulator (`cellar-sim`) and the AWS adapter (feature `aws`) implement it. Calls
//! are per region, as AWS clients are. Errors carry the AWS error code as a typed variant
//! ([`CloudErrorKind`]); whether one is retried, and for how long, is the retry table of
//! [`crate::caller::Policy::retry_for`]. Nothing matches on message text. Time is part of the world too: [`Cloud::now`] and
//! [`Cloud::sleep`] let the simulator run on a virtual clock while the AWS backend sleeps
//! for real.

use crate::lock::LockHolder;
use crate::model::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The AWS error codes cellar distinguishes. Each kind stands for one code or a few
/// spellings of it (EC2's and Auto Scaling's, [`CloudErrorKind::from_code`]); anything else
/// is [`CloudErrorKind::Other`] with the code kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CloudErrorKind {
    InsufficientInstanceCapacity,
    RequestLimitExceeded,
    Unavailable,
    InternalError,
    IncorrectInstanceState,
    IncorrectState,
    InstanceLimitExceeded,
    VolumeZoneMismatch,
    VolumeInUse,
    InvalidInstanceIdNotFound,
    InvalidVolumeNotFound,
    InvalidAddressNotFound,
    InvalidAmiIdNotFound,
    InvalidSnapshotNotFound,
    InvalidLaunchTemplateNotFound,
    InvalidParameterValue,
    InvalidZoneNotFound,
    AlreadyExists,
    AutoScalingGroupNotFound,
    ResourceInUse,
    /// No credentials could be loaded: the chain (profile, access-key variables, SSO,
    /// instance role) found none, or its provider failed. Nothing was sent. Code
    /// `NoCredentials` (cellar's own, like `Unavailable`: AWS never answers it).
    NoCredentials,
    /// AWS refused the credentials: `AuthFailure` (EC2), `UnrecognizedClientException`,
    /// `InvalidClientTokenId` (Auto Scaling, STS), `SignatureDoesNotMatch` (a wrong secret).
    AuthFailure,
    /// Temporary credentials past their expiry: `ExpiredToken`, `ExpiredTokenException`.
    ExpiredToken,
    /// The credentials are good but lack the IAM permission: `UnauthorizedOperation`
    /// (EC2), `AccessDenied` (Auto Scaling, STS), `AccessDeniedException`.
    UnauthorizedOperation,
    /// EC2's answer to a request sent with `DryRun`: it would have succeeded.
    DryRunOperation,
    /// Any other AWS error code, kept verbatim.
    Other(String),
}

impl CloudErrorKind {
    /// The AWS error code, as the API spells it.
    pub fn code(&self) -> &str {
        match self {
            CloudErrorKind::InsufficientInstanceCapacity => "InsufficientInstanceCapacity",
            CloudErrorKind::RequestLimitExceeded => "RequestLimitExceeded",
            CloudErrorKind::Unavailable => "Unavailable",
            CloudErrorKind::InternalError => "InternalError",
            CloudErrorKind::IncorrectInstanceState => "IncorrectInstanceState",
            CloudErrorKind::IncorrectState => "IncorrectState",
            CloudErrorKind::InstanceLimitExceeded => "InstanceLimitExceeded",
            CloudErrorKind::VolumeZoneMismatch => "InvalidVolume.ZoneMismatch",
            CloudErrorKind::VolumeInUse => "VolumeInUse",
            CloudErrorKind::InvalidInstanceIdNotFound => "InvalidInstanceID.NotFound",
            CloudErrorKind::InvalidVolumeNotFound => "InvalidVolume.NotFound",
            CloudErrorKind::InvalidAddressNotFound => "InvalidAddress.NotFound",
            CloudErrorKind::InvalidAmiIdNotFound => "InvalidAMIID.NotFound",
            CloudErrorKind::InvalidSnapshotNotFound => "InvalidSnapshot.NotFound",
            CloudErrorKind::InvalidLaunchTemplateNotFound => "InvalidLaunchTemplateId.NotFound",
            CloudErrorKind::InvalidParameterValue => "InvalidParameterValue",
            CloudErrorKind::InvalidZoneNotFound => "InvalidZone.NotFound",
            CloudErrorKind::AlreadyExists => "AlreadyExists",
            CloudErrorKind::AutoScalingGroupNotFound => "AutoScalingGroup.NotFound",
            CloudErrorKind::ResourceInUse => "ResourceInUse",
            CloudErrorKind::NoCredentials => "NoCredentials",
            CloudErrorKind::AuthFailure => "AuthFailure",
            CloudErrorKind::ExpiredToken => "ExpiredToken",
            CloudErrorKind::UnauthorizedOperation => "UnauthorizedOperation",
            CloudErrorKind::DryRunOperation => "DryRunOperation",
            CloudErrorKind::Other(code) => code,
        }
    }

    /// The kind of an AWS error code, EC2's and Auto Scaling's spellings alike (Auto
    /// Scaling says `Throttling` where EC2 says `RequestLimitExceeded`). The one mapping
    /// from codes to kinds: the AWS adapter reads response codes through it and the
    /// simulator raises its errors through it, so both give the same kind for a code.
    pub fn from_code(code: &str) -> CloudErrorKind {
        use CloudErrorKind as K;
        match code {
            "InsufficientInstanceCapacity" | "InsufficientCapacity" => K::InsufficientInstanceCapacity,
            "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => K::RequestLimitExceeded,
            "Unavailable" | "ServiceUnavailable" => K::Unavailable,
            "InternalError" | "InternalFailure" | "ServerInternal" => K::InternalError,
            "IncorrectInstanceState" => K::IncorrectInstanceState,
            "IncorrectState" => K::IncorrectState,
            "InstanceLimitExceeded" => K::InstanceLimitExceeded,
            "InvalidVolume.ZoneMismatch" => K::VolumeZoneMismatch,
            "VolumeInUse" => K::VolumeInUse,
            "InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed" => K::InvalidInstanceIdNotFound,
            "InvalidVolume.NotFound" => K::InvalidVolumeNotFound,
            "InvalidAddress.NotFound" | "InvalidAllocationID.NotFound" => K::InvalidAddressNotFound,
            "InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable" => K::InvalidAmiIdNotFound,
            "InvalidSnapshot.NotFound" => K::InvalidSnapshotNotFound,
            "InvalidLaunchTemplateId.NotFound" | "InvalidLaunchTemplateName.NotFoundException" => {
                K::InvalidLaunchTemplateNotFound
            }
            "InvalidParameterValue" | "ValidationError" => K::InvalidParameterValue,
            "InvalidZone.NotFound" => K::InvalidZoneNotFound,
            "AutoScalingGroup.NotFound" => K::AutoScalingGroupNotFound,
            "AlreadyExists" | "AlreadyExistsFault" | "InvalidLaunchTemplateName.AlreadyExistsException" => {
                K::AlreadyExists
            }
            "ResourceInUse" | "ResourceInUseFault" | "ScalingActivityInProgress" | "ScalingActivityInProgressFault" => {
                K::ResourceInUse
            }
            "NoCredentials" => K::NoCredentials,
            "AuthFailure" | "UnrecognizedClientException" | "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                K::AuthFailure
            }
            "ExpiredToken" | "ExpiredTokenException" => K::ExpiredToken,
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => K::UnauthorizedOperation,
            "DryRunOperation" => K::DryRunOperation,
            other => K::Other(other.to_string()),
        }
    }

    /// Whether the error is about the credentials themselves (none found, refused, expired):
    /// the fix is the credential chain, never waiting.
    pub fn is_credentials(&self) -> bool {
        matches!(self, CloudErrorKind::NoCredentials | CloudErrorKind::AuthFailure | CloudErrorKind::ExpiredToken)
    }

    /// Whether the retry table ([`crate::caller::Policy::retry_for`]) retries this kind at all.
    pub fn retryable(&self) -> bool {
        crate::caller::Policy::default().retry_for(self) != crate::caller::RetryFor::Never
    }
}

/// An error returned by a [`Cloud`] call: its kind, the code exactly as the service spelled
/// it (`InvalidAMIID.Unavailable` is of kind `InvalidAmiIdNotFound`), and AWS's (or the
/// simulator's) message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct CloudError {
    pub kind: CloudErrorKind,
    pub code: String,
    pub message: String,
}

impl CloudError {
    pub fn new(kind: CloudErrorKind, message: impl Into<String>) -> Self {
        Self { code: kind.code().to_string(), kind, message: message.into() }
    }
    /// An error from an AWS error code ([`CloudErrorKind::from_code`]).
    pub fn from_code(code: &str, message: impl Into<String>) -> Self {
        Self { kind: CloudErrorKind::from_code(code), code: code.to_string(), message: message.into() }
    }
    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// The most values AWS takes in one describe filter (EC2 and Auto Scaling alike).
pub const MAX_FILTER_VALUES: usize = 200;

/// Which resources a describe call returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every resource of the kind in the region.
    All,
    /// Resources tagged `Name=<server>`.
    Server(ServerName),
    /// Resources tagged `Name=` one of these (at most [`MAX_FILTER_VALUES`]): one describe
    /// for many servers.
    Servers(Vec<ServerName>),
    /// The one resource with this id (`InstanceIds=[...]` and the like). An id that does not
    /// exist (or is not visible yet) gives an empty list, not an error.
    Id(String),
}

impl Filter {
    /// Whether the resource `id` with `tags` passes the filter.
    pub fn matches(&self, id: &str, tags: &Tags) -> bool {
        match self {
            Filter::All => true,
            Filter::Server(name) => tags.get(NAME_TAG).map(String::as_str) == Some(name.as_str()),
            Filter::Servers(names) => tags.get(NAME_TAG).is_some_and(|n| names.iter().any(|s| s.as_str() == n)),
            Filter::Id(wanted) => wanted == id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateVolumeRequest {
    /// The idempotency token (AWS's `ClientToken`): the same token with the same parameters
    /// returns the first volume instead of making another; `None` sends none.
    pub client_token: Option<String>,
    pub zone: Zone,
    pub size_gb: u32,
    /// Applied at creation (TagSpecifications): nothing exists untagged even for a moment.
    pub tags: Tags,
    /// Type, IOPS, throughput, encryption.
    pub ebs: EbsSettings,
    /// The snapshot to restore (AWS's `SnapshotId`): it must exist in the region and be
    /// `completed`, and `size_gb` be at least its size; any zone of the region. `None`: an
    /// empty volume.
    pub snapshot: Option<SnapshotId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInstanceRequest {
    pub zone: Zone,
    /// The subnet of `zone` to launch into; `None`: the default VPC's subnet of the zone.
    pub subnet: Option<SubnetId>,
    pub instance_type: InstanceType,
    pub image: ImageId,
    pub user_data: String,
    /// Profile, security groups, key pair, metadata options, root volume.
    pub settings: LaunchSettings,
    pub tags: Tags,
    /// Idempotency token: a retried call with the same token never launches twice.
    pub client_token: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateLaunchTemplateRequest {
    pub name: String,
    pub spec: LaunchSpec,
    pub tags: Tags,
    /// The idempotency token (AWS's `ClientToken`); `None` sends none.
    pub client_token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateAutoScalingGroupRequest {
    pub name: AutoScalingGroupName,
    pub launch: LaunchSource,
    pub zones: Vec<Zone>,
    /// The subnets of `zones` to launch into (`VPCZoneIdentifier`); empty: the default VPC's.
    pub subnets: Vec<SubnetId>,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub tags: Tags,
}

/// Changes to an auto scaling group; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateAutoScalingGroupRequest {
    pub launch: Option<LaunchSource>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub desired: Option<u32>,
    /// New zones and subnets (`AvailabilityZones`, `VPCZoneIdentifier`; no subnets: the
    /// default VPC's). Instances in a zone the group leaves are terminated and replaced.
    pub placement: Option<(Vec<Zone>, Vec<SubnetId>)>,
}

/// Who the credentials are (STS GetCallerIdentity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

/// A changing call sent with EC2's `DryRun` flag (`cellar doctor`): AWS checks the
/// permission and answers `DryRunOperation` (allowed) or `UnauthorizedOperation` (not),
/// changing nothing. Auto Scaling has no such flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DryRun {
    RunInstances(RunInstanceRequest),
    CreateVolume(CreateVolumeRequest),
    AttachVolume { volume: VolumeId, instance: InstanceId, device: String },
    AllocateAddress { tags: Tags },
    AssociateAddress { address: AllocationId, instance: InstanceId },
    CreateLaunchTemplate(CreateLaunchTemplateRequest),
    CreateTags { resource: String, tags: Tags },
    TerminateInstances { instance: InstanceId },
}

impl DryRun {
    /// The operation tried.
    pub fn api(&self) -> crate::api::Api {
        use crate::api::Api;
        match self {
            DryRun::RunInstances(_) => Api::RunInstances,
            DryRun::CreateVolume(_) => Api::CreateVolume,
            DryRun::AttachVolume { .. } => Api::AttachVolume,
            DryRun::AllocateAddress { .. } => Api::AllocateAddress,
            DryRun::AssociateAddress { .. } => Api::AssociateAddress,
            DryRun::CreateLaunchTemplate(_) => Api::CreateLaunchTemplate,
            DryRun::CreateTags { .. } => Api::CreateTags,
            DryRun::TerminateInstances { .. } => Api::TerminateInstances,
        }
    }
}

/// What a backend says to a [`DryRun`] it did not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRunAnswer {
    /// `DryRunOperation`: the call would have been allowed.
    Allowed,
    /// The backend does not model dry runs (the simulator).
    NotModelled,
}

/// How CreateImage treats the instance and its volumes ([`Cloud::create_image`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Image without shutting the instance down and rebooting it first (AWS's `NoReboot`;
    /// by default AWS reboots it, so the snapshots are taken of volumes at rest).
    pub no_reboot: bool,
    /// Devices left out of the image (a block-device mapping with `NoDevice` each): a
    /// server's data volume, which stays the server's and must not be copied into an image.
    pub exclude_devices: Vec<String>,
}

/// Everything cellar asks of a cloud. Implemented by the simulator and the AWS adapter.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// Every region; the zones of those in `zones_of` (AWS answers zones one region per
    /// call, so a backend may leave the others' lists empty).
    async fn describe_regions(&self, zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>>;
    async fn describe_instances(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Instance>>;
    async fn describe_volumes(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>>;
    async fn describe_addresses(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Address>>;
    async fn describe_images(&self, region: &Region) -> CloudResult<Vec<Image>>;
    async fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<LaunchTemplate>>;
    async fn describe_auto_scaling_groups(
        &self,
        region: &Region,
        filter: &Filter,
    ) -> CloudResult<Vec<AutoScalingGroup>>;
    /// Every VPC of the region.
    async fn describe_vpcs(&self, region: &Region) -> CloudResult<Vec<Vpc>>;
    /// Every subnet of the region.
    async fn describe_subnets(&self, region: &Region) -> CloudResult<Vec<Subnet>>;
    /// Every security group of the region.
    async fn describe_security_groups(&self, region: &Region) -> CloudResult<Vec<SecurityGroup>>;
    /// The names of every key pair of the region.
    async fn describe_key_pairs(&self, region: &Region) -> CloudResult<Vec<KeyName>>;

    async fn create_volume(&self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume>;
    async fn delete_volume(&self, region: &Region, volume: &VolumeId) -> CloudResult<()>;
    async fn attach_volume(
        &self,
        region: &Region,
        volume: &VolumeId,
        instance: &InstanceId,
        device: &str,
    ) -> CloudResult<()>;
    async fn detach_volume(&self, region: &Region, volume: &VolumeId, instance: &InstanceId) -> CloudResult<()>;

    async fn allocate_address(&self, region: &Region, tags: Tags) -> CloudResult<Address>;
    async fn release_address(&self, region: &Region, address: &AllocationId) -> CloudResult<()>;
    async fn associate_address(
        &self,
        region: &Region,
        address: &AllocationId,
        instance: &InstanceId,
    ) -> CloudResult<()>;
    async fn create_tags(&self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()>;
    async fn delete_tags(&self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()>;

    async fn run_instance(&self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance>;
    async fn terminate_instance(&self, region: &Region, instance: &InstanceId) -> CloudResult<()>;
    /// The instance's console output (GetConsoleOutput, decoded): what it printed at boot,
    /// its agent's outcome line included; empty when there is none yet.
    async fn get_console_output(&self, region: &Region, instance: &InstanceId) -> CloudResult<String>;
    /// EC2's status checks and scheduled events of `instances` (DescribeInstanceStatus by
    /// `InstanceIds`, at most [`crate::monitoring::MAX_STATUS_IDS`]): only the running
    /// ones are listed (AWS's default, without `IncludeAllInstances`); an id that does
    /// not exist fails the call with `InvalidInstanceID.NotFound`, as on AWS.
    /// More than that many ids is refused with `InvalidRequest`; an empty list describes
    /// every running instance of the region (AWS's default).
    async fn describe_instance_status(
        &self,
        region: &Region,
        instances: &[InstanceId],
    ) -> CloudResult<Vec<crate::monitoring::InstanceChecks>>;

    async fn create_launch_template(
        &self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate>;
    async fn delete_launch_template(&self, region: &Region, template: &LaunchTemplateId) -> CloudResult<()>;
    /// Adds a version to a template; returns the template with `latest_version` = the new one.
    /// `client_token`: AWS's `ClientToken` (the same token and spec: the first answer again).
    async fn create_launch_template_version(
        &self,
        region: &Region,
        template: &LaunchTemplateId,
        spec: LaunchSpec,
        client_token: Option<&str>,
    ) -> CloudResult<LaunchTemplate>;

    /// Launch configurations cannot be tagged: callers find a server's by name.
    async fn describe_launch_configurations(&self, region: &Region) -> CloudResult<Vec<LaunchConfiguration>>;
    async fn create_launch_configuration(
        &self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration>;
    /// Fails with ResourceInUse while a group uses it.
    async fn delete_launch_configuration(&self, region: &Region, name: &str) -> CloudResult<()>;

    async fn create_auto_scaling_group(
        &self,
        region: &Region,
        request: CreateAutoScalingGroupRequest,
    ) -> CloudResult<()>;
    /// Puts a running instance under the group's care and raises min/desired to 1.
    async fn attach_instance_to_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        instance: &InstanceId,
    ) -> CloudResult<()>;
    async fn update_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        update: UpdateAutoScalingGroupRequest,
    ) -> CloudResult<()>;
    /// Sets tags on the group (Auto Scaling's CreateOrUpdateTags), propagated to the
    /// instances it launches from then on; a key it has is overwritten.
    async fn create_or_update_group_tags(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        tags: Tags,
    ) -> CloudResult<()>;
    /// Deletes the group; with `force`, its instances are terminated too.
    async fn delete_auto_scaling_group(
        &self,
        region: &Region,
        group: &AutoScalingGroupName,
        force: bool,
    ) -> CloudResult<()>;

    /// Images an instance (CreateImage): the instance reboots unless `options.no_reboot`;
    /// every attached EBS volume but `options.exclude_devices` is snapshotted into the
    /// image (the tags go on the image and its snapshots). The image is `Pending` until it
    /// can be launched.
    async fn create_image(
        &self,
        region: &Region,
        instance: &InstanceId,
        name: &str,
        tags: Tags,
        options: &ImageOptions,
    ) -> CloudResult<Image>;
    /// Copies an image to another region (CopyImage), under `name`; `Pending` there at first.
    /// `client_token`: AWS's `ClientToken` (the same token and request: the first copy again).
    async fn copy_image(
        &self,
        source_region: &Region,
        image: &ImageId,
        target_region: &Region,
        name: &str,
        client_token: Option<&str>,
    ) -> CloudResult<Image>;

    async fn create_snapshot(&self, region: &Region, volume: &VolumeId, tags: Tags) -> CloudResult<Snapshot>;
    async fn describe_snapshots(&self, region: &Region, filter: &Filter) -> CloudResult<Vec<Snapshot>>;
    /// Deletes a snapshot (DeleteSnapshot): `InvalidSnapshot.NotFound` if the region has
    /// none by that id, `InvalidSnapshot.InUse` while an image's block-device mapping uses it.
    async fn delete_snapshot(&self, region: &Region, snapshot: &SnapshotId) -> CloudResult<()>;
    /// Copies a `completed` snapshot to `target_region` (CopySnapshot, sent to the target
    /// region's endpoint), tagged `tags` at creation; `Pending` there at first. AWS's
    /// CopySnapshot takes no `ClientToken`: a caller that retries finds its first copy by a
    /// tag, as with CreateSnapshot.
    async fn copy_snapshot(
        &self,
        source_region: &Region,
        snapshot: &SnapshotId,
        target_region: &Region,
        tags: Tags,
    ) -> CloudResult<Snapshot>;

    /// Takes `server`'s lock in `region` ([`crate::lock`]): one atomic create of the lock
    /// object (a launch template named `cellar-lock.<server>` on AWS), tagged with the
    /// holder. `AlreadyExists` if the lock is taken.
    async fn create_server_lock(&self, region: &Region, server: &ServerName, holder: &LockHolder) -> CloudResult<()>;
    /// Who holds `server`'s lock in `region`; `None` if nobody does.
    async fn describe_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<Option<LockHolder>>;
    /// Deletes `server`'s lock object; `InvalidLaunchTemplateName.NotFoundException` (kind
    /// `InvalidLaunchTemplateNotFound`) if there is none.
    async fn delete_server_lock(&self, region: &Region, server: &ServerName) -> CloudResult<()>;

    /// Looks a host name up in DNS (A records).
    async fn resolve_dns(&self, host: &str) -> CloudResult<Vec<String>>;

    /// Who the credentials are (`cellar doctor`), asked in `region`; `None` for a backend
    /// that has no credentials or accounts (the simulator, by default).
    async fn caller_identity(&self, _region: &Region) -> CloudResult<Option<CallerIdentity>> {
        Ok(None)
    }

    /// Sends `request` with `DryRun` (`cellar doctor`): `Allowed`, or the error AWS
    /// answered (`UnauthorizedOperation` names a missing permission). A backend that does
    /// not model dry runs answers `NotModelled` (the default).
    async fn dry_run(&self, _region: &Region, _request: &DryRun) -> CloudResult<DryRunAnswer> {
        Ok(DryRunAnswer::NotModelled)
    }

    /// The backend's current time (virtual in the simulator).
    async fn now(&self) -> Timestamp;
    /// The backend's current time in milliseconds since the epoch (the client-side token
    /// buckets pace calls on it: whole seconds would let a call made at 10.9 s and one at
    /// 11.0 s look a second apart). Defaults to [`Cloud::now`]'s whole seconds.
    async fn now_ms(&self) -> u64 {
        self.now().await.0.saturating_mul(1000)
    }
    /// Waits `duration` on the backend's clock (the simulator advances its virtual clock).
    async fn sleep(&self, duration: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, expected: CloudErrorKind, retryable: bool) {
        let kind = CloudErrorKind::from_code(code);
        assert_eq!(kind, expected, "code {code}");
        assert_eq!(kind.retryable(), retryable, "code {code}");
    }

    #[test]
    fn codes() {
        use CloudErrorKind as K;
        check("InsufficientInstanceCapacity", K::InsufficientInstanceCapacity, true);
        check("RequestLimitExceeded", K::RequestLimitExceeded, true);
        check("Throttling", K::RequestLimitExceeded, true);
        check("Unavailable", K::Unavailable, true);
        check("InternalError", K::InternalError, true);
        check("InvalidInstanceID.NotFound", K::InvalidInstanceIdNotFound, true); // eventual consistency, for a while
        check("InvalidVolume.ZoneMismatch", K::VolumeZoneMismatch, false);
        // Every NotFound is retried within the consistency window (a new resource not
        // visible yet), an image not available yet too.
        check("InvalidAMIID.Unavailable", K::InvalidAmiIdNotFound, true);
        check("InvalidVolume.NotFound", K::InvalidVolumeNotFound, true);
        check("InvalidAllocationID.NotFound", K::InvalidAddressNotFound, true);
        check("InvalidSnapshot.NotFound", K::InvalidSnapshotNotFound, true);
        check("InvalidLaunchTemplateId.NotFound", K::InvalidLaunchTemplateNotFound, true);
        check("InvalidLaunchTemplateName.NotFoundException", K::InvalidLaunchTemplateNotFound, true);
        check("AutoScalingGroup.NotFound", K::AutoScalingGroupNotFound, true);
        // Auto Scaling's generic refusal (also of a launch template not visible yet) is
        // retried only by the step that made that template (`executor/steps/groups.rs`).
        check("ValidationError", K::InvalidParameterValue, false);
        check("AlreadyExists", K::AlreadyExists, false);
        check("InvalidLaunchTemplateName.AlreadyExistsException", K::AlreadyExists, false);
        check("ResourceInUse", K::ResourceInUse, false);
        check("ValidationError", K::InvalidParameterValue, false);
        // Credentials and permissions are final at once: waiting never fixes them.
        check("UnauthorizedOperation", K::UnauthorizedOperation, false);
        check("AccessDenied", K::UnauthorizedOperation, false);
        check("AuthFailure", K::AuthFailure, false);
        check("UnrecognizedClientException", K::AuthFailure, false);
        check("InvalidClientTokenId", K::AuthFailure, false);
        check("SignatureDoesNotMatch", K::AuthFailure, false);
        check("ExpiredToken", K::ExpiredToken, false);
        check("NoCredentials", K::NoCredentials, false);
        check("DryRunOperation", K::DryRunOperation, false);
        assert!(K::NoCredentials.is_credentials() && K::ExpiredToken.is_credentials());
        assert!(!K::UnauthorizedOperation.is_credentials() && !K::Unavailable.is_credentials());
        // The code round-trips for every kind the engine names.
        for kind in [
            K::InsufficientInstanceCapacity,
            K::RequestLimitExceeded,
            K::Unavailable,
            K::InternalError,
            K::IncorrectInstanceState,
            K::IncorrectState,
            K::InstanceLimitExceeded,
            K::VolumeZoneMismatch,
            K::VolumeInUse,
            K::InvalidInstanceIdNotFound,
            K::InvalidVolumeNotFound,
            K::InvalidAddressNotFound,
            K::InvalidAmiIdNotFound,
            K::InvalidSnapshotNotFound,
            K::InvalidLaunchTemplateNotFound,
            K::InvalidParameterValue,
            K::InvalidZoneNotFound,
            K::AlreadyExists,
            K::AutoScalingGroupNotFound,
            K::ResourceInUse,
            K::NoCredentials,
            K::AuthFailure,
            K::ExpiredToken,
            K::UnauthorizedOperation,
            K::DryRunOperation,
        ] {
            assert_eq!(CloudErrorKind::from_code(kind.code()), kind);
        }
    }
}
