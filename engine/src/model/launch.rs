//! What an instance launches with besides its type, image and user data: the network it
//! joins, its IAM instance profile, key pair, metadata options and root volume; the data
//! volume's EBS settings; and the VPCs, subnets and security groups a cloud reports.

use super::{InstanceProfile, KeyName, SecurityGroupId, SubnetId, VpcId, Zone};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An EBS volume type cellar creates (`standard`, the old magnetic type, is left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    #[default]
    Gp3,
    Gp2,
    Io1,
    Io2,
    St1,
    Sc1,
}

impl VolumeType {
    pub const ALL: [VolumeType; 6] =
        [VolumeType::Gp3, VolumeType::Gp2, VolumeType::Io1, VolumeType::Io2, VolumeType::St1, VolumeType::Sc1];

    /// AWS's spelling (`gp3`).
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeType::Gp3 => "gp3",
            VolumeType::Gp2 => "gp2",
            VolumeType::Io1 => "io1",
            VolumeType::Io2 => "io2",
            VolumeType::St1 => "st1",
            VolumeType::Sc1 => "sc1",
        }
    }

    pub fn parse(s: &str) -> Option<VolumeType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The instance metadata service's `HttpTokens`: `Required` is IMDSv2 only (session
/// tokens), `Optional` also answers IMDSv1's plain GETs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum HttpTokens {
    #[default]
    Required,
    Optional,
}

impl HttpTokens {
    /// AWS's spelling (`required`).
    pub fn as_str(self) -> &'static str {
        match self {
            HttpTokens::Required => "required",
            HttpTokens::Optional => "optional",
        }
    }

    pub fn parse(s: &str) -> Option<HttpTokens> {
        [HttpTokens::Required, HttpTokens::Optional].into_iter().find(|t| t.as_str() == s)
    }
}

/// An instance's metadata options (RunInstances' `MetadataOptions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetadataOptions {
    pub http_tokens: HttpTokens,
    /// `HttpPutResponseHopLimit`; `None` leaves AWS's default (1, or 2 for images that ask).
    pub hop_limit: Option<u8>,
}

impl fmt::Display for MetadataOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.http_tokens {
            HttpTokens::Required => f.write_str("IMDSv2 required")?,
            HttpTokens::Optional => f.write_str("IMDSv1 and IMDSv2 (tokens optional)")?,
        }
        match self.hop_limit {
            Some(n) => write!(f, ", hop limit {n}"),
            None => Ok(()),
        }
    }
}

/// How the data volume is made (CreateVolume's `VolumeType`, `Iops`, `Throughput`,
/// `Encrypted`, `KmsKeyId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbsSettings {
    pub volume_type: VolumeType,
    /// Provisioned IOPS (gp3, io1, io2); `None` is the type's baseline.
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3 only).
    pub throughput: Option<u32>,
    /// `false` leaves encryption to the account's setting ("encryption by default").
    pub encrypted: bool,
    /// A KMS key (id, alias or ARN); `None` is the account's default EBS key.
    pub kms_key: Option<String>,
}

impl Default for EbsSettings {
    fn default() -> Self {
        EbsSettings { volume_type: VolumeType::Gp3, iops: None, throughput: None, encrypted: true, kms_key: None }
    }
}

impl EbsSettings {
    /// `3000 IOPS, 250 MiB/s, encrypted with alias/ebs`: what the type does not say.
    pub fn details(&self) -> String {
        let mut parts = Vec::new();
        if let Some(iops) = self.iops {
            parts.push(format!("{iops} IOPS"));
        }
        if let Some(throughput) = self.throughput {
            parts.push(format!("{throughput} MiB/s"));
        }
        parts.push(encryption(self.encrypted, self.kms_key.as_deref()));
        parts.join(", ")
    }
}

/// `encrypted (the account's default KMS key)`, `encrypted with KEY`, or `encryption as the account's default`.
pub fn encryption(encrypted: bool, kms_key: Option<&str>) -> String {
    match (encrypted, kms_key) {
        (true, Some(key)) => format!("encrypted with {key}"),
        (true, None) => "encrypted (the account's default EBS key)".to_string(),
        (false, _) => "encryption as the account's default".to_string(),
    }
}

/// The root volume of a launched instance (a block device mapping for the image's root
/// device). Always gp3: st1 and sc1 cannot boot, and io1/io2 need IOPS sized for a data volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootVolume {
    /// The image's root device name (`/dev/xvda`).
    pub device: String,
    /// `None` keeps the size of the image's snapshot.
    pub size_gb: Option<u32>,
    pub volume_type: VolumeType,
    pub encrypted: bool,
    pub kms_key: Option<String>,
}

impl fmt::Display for RootVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("root volume ")?;
        if let Some(size) = self.size_gb {
            write!(f, "{size} GiB ")?;
        }
        write!(f, "{} on {}, {}", self.volume_type, self.device, encryption(self.encrypted, self.kms_key.as_deref()))
    }
}

/// Launch settings carried alike by RunInstances, launch template versions and launch
/// configurations. The subnet is not among them: it is where one instance or group goes
/// (RunInstances' `SubnetId`, a group's `VPCZoneIdentifier`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LaunchSettings {
    /// The IAM instance profile the instance (and its agent) runs with.
    pub instance_profile: Option<InstanceProfile>,
    /// Empty: the VPC's default security group.
    pub security_groups: Vec<SecurityGroupId>,
    pub key_name: Option<KeyName>,
    pub metadata: MetadataOptions,
    /// `None`: the image's root volume as it is.
    pub root_volume: Option<RootVolume>,
}

impl LaunchSettings {
    /// One line for people: profile, groups, key, metadata options.
    pub fn summary(&self) -> String {
        let profile = match &self.instance_profile {
            Some(p) => format!("instance profile {p}"),
            None => "no instance profile".to_string(),
        };
        let groups = if self.security_groups.is_empty() {
            "the VPC's default security group".to_string()
        } else {
            let ids: Vec<&str> = self.security_groups.iter().map(|g| g.as_str()).collect();
            format!("security groups {}", ids.join(", "))
        };
        let key = match &self.key_name {
            Some(k) => format!("key pair {k}"),
            None => "no key pair".to_string(),
        };
        format!("{profile}; {groups}; {key}; {}", self.metadata)
    }
}

/// A VPC as a cloud reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    pub id: VpcId,
    /// The region's default VPC (where instances go when no subnet is named).
    pub is_default: bool,
}

/// A subnet: one zone of one VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub id: SubnetId,
    pub vpc: VpcId,
    pub zone: Zone,
    /// The default VPC's subnet for its zone.
    pub default_for_zone: bool,
}

/// A security group: a name unique within its VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub name: String,
    pub vpc: VpcId,
}
