//! Names, ids and the observed shape of cloud resources.
//!
//! Every identifier is a newtype so that a volume id can never be passed where an
//! instance id is expected. The resource structs are what a [`crate::cloud::Cloud`]
//! reports; they are plain data, shared by the simulator and (later) the AWS adapter.

use serde::{Deserialize, Serialize};
use std::fmt;

mod launch;
pub use launch::*;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        string_newtype!(@define [Deserialize] $(#[$meta])* $name);
    };
    // A newtype whose `Deserialize` is written by hand (it validates).
    (@checked $(#[$meta:meta])* $name:ident) => {
        string_newtype!(@define [] $(#[$meta])* $name);
    };
    (@define [$($derive:ident)*] $(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, $($derive)*)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value the caller has already validated (or that came from the cloud).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_string())
            }
        }
    };
}

string_newtype!(
    @checked
    /// A server's name: the value of the `Name` tag that ties its resources together.
    /// Read from a file (a plan, a state file, a fault schedule) it is checked like one
    /// typed on the command line ([`ServerName::parse`]): it ends up in shell scripts.
    ServerName
);

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ServerName::parse(&name).map_err(serde::de::Error::custom)
    }
}
string_newtype!(InstanceId);
string_newtype!(VolumeId);
string_newtype!(
    /// An Elastic IP's allocation id (`eipalloc-...`).
    AllocationId
);
string_newtype!(ImageId);
string_newtype!(SnapshotId);
string_newtype!(LaunchTemplateId);
string_newtype!(AutoScalingGroupName);
string_newtype!(Region);
string_newtype!(
    /// A full availability zone name such as `us-east-1a`.
    Zone
);
string_newtype!(InstanceType);
string_newtype!(
    /// The family of images a server boots from (`web-server`); images are named `<type>-<YYYY-MM-DD>`.
    AmiType
);
string_newtype!(
    /// A VPC's id (`vpc-...`).
    VpcId
);
string_newtype!(
    /// A subnet's id (`subnet-...`): one zone of one VPC.
    SubnetId
);
string_newtype!(
    /// A security group's id (`sg-...`); names are resolved to ids when planning.
    SecurityGroupId
);
string_newtype!(
    /// An IAM instance profile, by name (`cellar-agent`) or ARN
    /// (`arn:aws:iam::123456789012:instance-profile/cellar-agent`).
    InstanceProfile
);
string_newtype!(
    /// The name of an EC2 key pair.
    KeyName
);

impl InstanceProfile {
    /// Whether the profile is given by ARN (RunInstances' `IamInstanceProfile.Arn`) rather
    /// than by name (`IamInstanceProfile.Name`).
    pub fn is_arn(&self) -> bool {
        self.0.starts_with("arn:")
    }
    /// The profile's name: the last part of an ARN's path, or the name itself.
    pub fn name(&self) -> &str {
        if self.is_arn() {
            self.0.rsplit('/').next().unwrap_or(&self.0)
        } else {
            &self.0
        }
    }
}

/// Why a server name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name {name:?}: {reason} (use 1-63 lowercase letters, digits and '-', starting with a letter)")]
pub struct InvalidServerName {
    pub name: String,
    pub reason: &'static str,
}

impl ServerName {
    /// Parses a user-supplied server name.
    pub fn parse(name: &str) -> Result<Self, InvalidServerName> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > 63 {
            Some("it is longer than 63 characters")
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            Some("it does not start with a lowercase letter")
        } else if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            Some("it contains a character other than a-z, 0-9 and '-'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidServerName { name: name.to_string(), reason }),
            None => Ok(Self(name.to_string())),
        }
    }
}

impl Zone {
    /// `us-east-1` + `a` → `us-east-1a`.
    pub fn in_region(region: &Region, letter: char) -> Self {
        Self(format!("{}{}", region.as_str(), letter))
    }
    /// The zone's letter (`a` of `us-east-1a`).
    pub fn letter(&self) -> char {
        self.0.chars().last().unwrap_or('?')
    }
    /// The region the zone belongs to (`us-east-1` of `us-east-1a`).
    pub fn region(&self) -> Region {
        let mut s = self.0.clone();
        s.pop();
        Region(s)
    }
}

/// CPU architecture of an image or instance type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "i386")]
    I386,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub const ALL: [Architecture; 3] = [Architecture::X86_64, Architecture::I386, Architecture::Arm64];
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::I386 => "i386",
            Architecture::Arm64 => "arm64",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds since the Unix epoch, on whatever clock the backend keeps (virtual in the simulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The UTC calendar date, `YYYY-MM-DD` (used to name images).
    pub fn date(self) -> String {
        let (y, m, d) = civil_from_days((self.0 / 86_400) as i64);
        format!("{y:04}-{m:02}-{d:02}")
    }
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(self) -> String {
        let secs = self.0 % 86_400;
        format!("{}T{:02}:{:02}:{:02}Z", self.date(), secs / 3600, secs / 60 % 60, secs % 60)
    }
    /// `secs` later, saturating at the end of representable time rather than wrapping.
    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }
    /// `YYYY-MM-DD HH:MM UTC`, as a plan tells people when something was.
    pub fn utc_minute(self) -> String {
        let secs = self.0 % 86_400;
        format!("{} {:02}:{:02} UTC", self.date(), secs / 3600, secs / 60 % 60)
    }
    /// How long before `now` this was, in words and its two largest units (`1 day 6 hours`,
    /// `3 hours`, `12 minutes`, `less than a minute`); a time after `now` is `less than a
    /// minute` too.
    pub fn age_words(self, now: Timestamp) -> String {
        let secs = now.0.saturating_sub(self.0);
        let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        let (d, h, m) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
        match (d, h, m) {
            (1.., 0, _) => unit(d, "day"),
            (1.., _, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
            (0, 1.., 0) => unit(h, "hour"),
            (0, 1.., _) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
            (0, 0, 1..) => unit(m, "minute"),
            _ => "less than a minute".to_string(),
        }
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A key/value tag. Every resource cellar creates carries `Name=<server>`.
pub type Tags = std::collections::BTreeMap<String, String>;

/// The tag that ties a server's resources together.
pub const NAME_TAG: &str = "Name";
/// Marks the data volume of a server (as opposed to any other volume carrying its name).
pub const ROLE_TAG: &str = "cellar:role";
/// Set on an Elastic IP allocated by cellar whose DNS record has not been confirmed yet.
pub const AWAITING_DNS_TAG: &str = "cellar:awaiting-dns";

/// EC2's instance lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }
    /// Pending, running, stopping or stopped: the instance still exists in a useful sense.
    pub fn is_alive(self) -> bool {
        !matches!(self, InstanceState::ShuttingDown | InstanceState::Terminated)
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    Creating,
    Available,
    InUse,
    Deleting,
    Deleted,
}

impl VolumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Creating => "creating",
            VolumeState::Available => "available",
            VolumeState::InUse => "in-use",
            VolumeState::Deleting => "deleting",
            VolumeState::Deleted => "deleted",
        }
    }
}

impl fmt::Display for VolumeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: InstanceId,
    pub state: InstanceState,
    pub zone: Zone,
    pub instance_type: InstanceType,
    pub image: ImageId,
    pub architecture: Architecture,
    pub public_ip: Option<String>,
    pub launched_at: Timestamp,
    pub tags: Tags,
    /// The auto scaling group the instance belongs to, if any.
    pub group: Option<AutoScalingGroupName>,
    /// The launch template version it was launched from (AWS's `aws:ec2launchtemplate:id`
    /// and `aws:ec2launchtemplate:version` tags), if it was launched from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_from: Option<(LaunchTemplateId, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub id: VolumeId,
    pub state: VolumeState,
    pub zone: Zone,
    pub size_gb: u32,
    pub attached_to: Option<InstanceId>,
    pub device: Option<String>,
    pub tags: Tags,
    /// Type, IOPS, throughput and encryption.
    #[serde(default)]
    pub ebs: EbsSettings,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub allocation_id: AllocationId,
    pub public_ip: String,
    pub associated_to: Option<InstanceId>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub id: ImageId,
    pub name: String,
    pub architecture: Architecture,
    pub region: Region,
    pub created_at: Timestamp,
    /// Images being created or copied are `Pending` until they can be launched.
    #[serde(default)]
    pub state: ImageState,
    pub tags: Tags,
    /// The root device's name (`/dev/xvda`), where a launch's root volume mapping goes.
    #[serde(default)]
    pub root_device: Option<String>,
    /// The size of the root device's snapshot: the smallest root volume it can boot.
    #[serde(default)]
    pub root_size_gb: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageState {
    Pending,
    #[default]
    Available,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotState {
    Pending,
    Completed,
}

impl SnapshotState {
    /// AWS's spelling (`pending`, `completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Pending => "pending",
            SnapshotState::Completed => "completed",
        }
    }
}

/// A point-in-time copy of a volume (taken before a data volume is deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub volume: VolumeId,
    pub size_gb: u32,
    pub state: SnapshotState,
    pub created_at: Timestamp,
    pub tags: Tags,
}

impl Image {
    /// The AMI type and date of an image named `<type>-<YYYY-MM-DD>`.
    pub fn type_and_date(&self) -> Option<(AmiType, String)> {
        split_image_name(&self.name)
    }
}

/// Splits `web-server-2026-08-03` into (`web-server`, `2026-08-03`).
pub fn split_image_name(name: &str) -> Option<(AmiType, String)> {
    split_image_name_str(name).map(|(ami_type, date)| (AmiType::new(ami_type), date.to_string()))
}

/// [`split_image_name`] without copying (the planner looks at every image of the region
/// for every server).
pub fn split_image_name_str(name: &str) -> Option<(&str, &str)> {
    if name.len() < 12 || !name.is_char_boundary(name.len() - 10) {
        return None;
    }
    let (head, date) = name.split_at(name.len() - 10);
    let ami_type = head.strip_suffix('-')?;
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if ami_type.is_empty() || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return None;
    }
    Some((ami_type, date))
}

/// What an instance runs at first boot (from its user data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgentMode {
    /// First boot of a new server: persist the configured directories onto the data volume.
    Persist,
    /// Every later boot: re-attach the volume and EIP, run the spawn hook.
    Spawn,
}

impl AgentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentMode::Persist => "persist",
            AgentMode::Spawn => "spawn",
        }
    }
}

impl fmt::Display for AgentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The instance settings a launch template version carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    pub instance_type: InstanceType,
    pub image: ImageId,
    pub user_data: String,
    /// Profile, security groups, key pair, metadata options, root volume.
    #[serde(default)]
    pub settings: LaunchSettings,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplate {
    pub id: LaunchTemplateId,
    pub name: String,
    pub latest_version: u32,
    pub default_version: u32,
    /// The spec of the latest version.
    pub latest: LaunchSpec,
    pub tags: Tags,
}

/// What an auto scaling group launches its instances from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LaunchSource {
    /// A launch template version; `None` means "always the latest version" (`$Latest`).
    Template { id: LaunchTemplateId, version: Option<u32> },
    /// A launch configuration (deprecated by AWS; for old accounts).
    Configuration { name: String },
}

impl fmt::Display for LaunchSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchSource::Template { id, version: Some(v) } => write!(f, "launch template {id} version {v}"),
            LaunchSource::Template { id, version: None } => write!(f, "launch template {id} version $Latest"),
            LaunchSource::Configuration { name } => write!(f, "launch configuration {name}"),
        }
    }
}

/// A launch configuration: immutable instance settings, named (AWS cannot tag them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchConfiguration {
    pub name: String,
    pub spec: LaunchSpec,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroup {
    pub name: AutoScalingGroupName,
    pub launch: LaunchSource,
    pub zones: Vec<Zone>,
    /// The subnets it launches into (`VPCZoneIdentifier`); empty: the default VPC's.
    #[serde(default)]
    pub subnets: Vec<SubnetId>,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub instances: Vec<InstanceId>,
    /// Most recent scaling activities, newest last (e.g. a failed launch and why).
    pub activities: Vec<ScalingActivity>,
    pub tags: Tags,
    /// DeleteAutoScalingGroup is in progress (AWS's `Status: "Delete in progress"`): the
    /// group's instances are terminating; it refuses changes and its name stays taken until
    /// it is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingActivity {
    pub at: Timestamp,
    pub succeeded: bool,
    pub description: String,
    /// For a failed launch: the AWS error code (`InsufficientInstanceCapacity`) ...
    #[serde(default)]
    pub error_code: Option<String>,
    /// ... and the zones the launch was tried in.
    #[serde(default)]
    pub zones: Vec<Zone>,
}

/// A region and its availability zones, as the backend reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionInfo {
    pub region: Region,
    pub zones: Vec<Zone>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_age_words(seconds: u64, expected: &str) {
        assert_eq!(Timestamp(1_000_000).age_words(Timestamp(1_000_000 + seconds)), expected, "{seconds} s");
    }

    #[test]
    fn ages_in_words() {
        check_age_words(0, "less than a minute");
        check_age_words(59, "less than a minute");
        check_age_words(60, "1 minute");
        check_age_words(3_599, "59 minutes");
        check_age_words(3_600, "1 hour");
        check_age_words(2 * 3_600 + 60, "2 hours 1 minute");
        check_age_words(86_400 + 6 * 3_600 + 59, "1 day 6 hours");
        check_age_words(3 * 86_400 + 59 * 60, "3 days");
        assert_eq!(Timestamp(10).age_words(Timestamp(5)), "less than a minute");
        assert_eq!(Timestamp(1_795_489_200).utc_minute(), "2026-11-24 03:00 UTC");
    }

    fn check_name(input: &str, expected: Result<(), &str>) {
        let got = ServerName::parse(input).map(|_| ()).map_err(|e| e.reason);
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn server_names() {
        check_name("ommegang", Ok(()));
        check_name("duvel-2", Ok(()));
        check_name("", Err("it is empty"));
        check_name("Duvel", Err("it does not start with a lowercase letter"));
        check_name("2beers", Err("it does not start with a lowercase letter"));
        check_name("du vel", Err("it contains a character other than a-z, 0-9 and '-'"));
        check_name(&"a".repeat(64), Err("it is longer than 63 characters"));
    }

    fn check_image_name(input: &str, expected: Option<(&str, &str)>) {
        let got = split_image_name(input);
        let got = got.as_ref().map(|(t, d)| (t.as_str(), d.as_str()));
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn image_names() {
        check_image_name("web-server-2026-08-03", Some(("web-server", "2026-08-03")));
        check_image_name("db-2026-12-01", Some(("db", "2026-12-01")));
        check_image_name("web-server", None);
        check_image_name("-2026-08-03", None);
        check_image_name("web-server-2026-8-03x", None);
    }

    #[test]
    fn dates() {
        for (secs, expected) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_612_861, "2026-11-25T13:21:01Z"),
        ] {
            assert_eq!(Timestamp(secs).rfc3339(), expected, "secs {secs}");
        }
    }

    #[test]
    fn zones() {
        let z = Zone::new("us-east-1a");
        assert_eq!((z.letter(), z.region()), ('a', Region::new("us-east-1")));
        assert_eq!(Zone::in_region(&Region::new("us-west-2"), 'c').as_str(), "us-west-2c");
    }
}
