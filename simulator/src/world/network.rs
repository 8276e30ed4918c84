//! The network and the other things a launch names: VPCs, subnets, security groups
//! (DescribeVpcs, DescribeSubnets, DescribeSecurityGroups), IAM instance profiles and key
//! pairs; and the checks RunInstances, a group's launches and launch settings make of them,
//! with AWS's error codes.
//!
//! Invariants: a subnet belongs to an existing VPC of its zone's region and a security
//! group to an existing VPC; a region has at most one default VPC, which has at most one
//! default subnet per zone and a security group named `default`; names of security
//! groups are unique within their VPC. Network ids have 8 hex digits (`subnet-00000002`),
//! as AWS's shorter ids do, so a configuration may name them.

use super::{err, World};
use cellar_engine::catalog::{ebs_limits, ebs_problems, EbsRequest};
use cellar_engine::cloud::{CloudError, CloudErrorKind as K, CloudResult};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// A VPC and its region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimVpc {
    pub id: VpcId,
    pub region: Region,
    pub is_default: bool,
}

/// Where an instance launches and with which security groups, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub subnet: SubnetId,
    pub security_groups: Vec<SecurityGroupId>,
}

impl World {
    /// A new id with 8 hex digits (`vpc-00000001`).
    fn next_network_id(&mut self, prefix: &str) -> String {
        let counter = self.counters.entry(prefix.to_string()).or_insert(0);
        *counter = counter.saturating_add(1);
        format!("{prefix}-{:08x}", *counter)
    }

    pub fn describe_vpcs(&self, region: &Region) -> Vec<Vpc> {
        self.vpcs
            .values()
            .filter(|v| v.region == *region)
            .map(|v| Vpc { id: v.id.clone(), is_default: v.is_default })
            .collect()
    }

    pub fn describe_subnets(&self, region: &Region) -> Vec<Subnet> {
        self.subnets.values().filter(|s| in_region(&s.zone, region)).cloned().collect()
    }

    pub fn describe_security_groups(&self, region: &Region) -> Vec<SecurityGroup> {
        let vpcs: Vec<&VpcId> = self.vpcs.values().filter(|v| v.region == *region).map(|v| &v.id).collect();
        self.security_groups.values().filter(|g| vpcs.contains(&&g.vpc)).cloned().collect()
    }

    pub fn describe_key_pairs(&self, region: &Region) -> Vec<KeyName> {
        self.key_pairs.get(region).into_iter().flatten().map(|k| KeyName::new(k.as_str())).collect()
    }

    fn vpc_region(&self, vpc: &VpcId) -> Option<Region> {
        self.vpcs.get(vpc).map(|v| v.region.clone())
    }

    /// Adds a VPC (a person's setting: the region must be this world's); with `default`,
    /// it becomes the region's default VPC, with a default subnet in every zone and its
    /// `default` security group.
    pub fn add_vpc(&mut self, region: &Region, default: bool) -> Result<VpcId, String> {
        let zones = self.check_region(region).map_err(|e| e.message)?.zones.clone();
        if default && self.vpcs.values().any(|v| v.region == *region && v.is_default) {
            return Err(format!("{region} already has a default VPC"));
        }
        let id = VpcId::new(self.next_network_id("vpc"));
        self.vpcs.insert(id.clone(), SimVpc { id: id.clone(), region: region.clone(), is_default: default });
        self.record(format!("created {}VPC {id} in {region}", if default { "default " } else { "" }));
        self.add_security_group(&id, "default")?;
        if default {
            for zone in zones {
                self.insert_subnet(&id, &zone, true);
            }
        }
        Ok(id)
    }

    /// Adds a subnet of `vpc` in `zone` (a zone of the VPC's region).
    pub fn add_subnet(&mut self, vpc: &VpcId, zone: &Zone) -> Result<SubnetId, String> {
        let region = self.vpc_region(vpc).ok_or_else(|| format!("VPC {vpc} does not exist"))?;
        self.check_zone(&region, zone).map_err(|e| e.message)?;
        Ok(self.insert_subnet(vpc, zone, false))
    }

    fn insert_subnet(&mut self, vpc: &VpcId, zone: &Zone, default_for_zone: bool) -> SubnetId {
        let id = SubnetId::new(self.next_network_id("subnet"));
        let subnet = Subnet { id: id.clone(), vpc: vpc.clone(), zone: zone.clone(), default_for_zone };
        self.subnets.insert(id.clone(), subnet);
        self.record(format!("created subnet {id} of {vpc} in {zone}"));
        id
    }

    /// Adds a security group named `name` to `vpc` (names are unique within a VPC).
    pub fn add_security_group(&mut self, vpc: &VpcId, name: &str) -> Result<SecurityGroupId, String> {
        if !self.vpcs.contains_key(vpc) {
            return Err(format!("VPC {vpc} does not exist"));
        }
        if name.is_empty() || name.starts_with("sg-") {
            return Err(format!("{name:?} is not a security group name"));
        }
        if self.security_groups.values().any(|g| g.vpc == *vpc && g.name == name) {
            return Err(format!("VPC {vpc} already has a security group named {name}"));
        }
        let id = SecurityGroupId::new(self.next_network_id("sg"));
        let group = SecurityGroup { id: id.clone(), name: name.to_string(), vpc: vpc.clone() };
        self.security_groups.insert(id.clone(), group);
        self.record(format!("created security group {id} ({name}) in {vpc}"));
        Ok(id)
    }

    /// Adds a key pair to a region.
    pub fn add_key_pair(&mut self, region: &Region, name: &str) -> Result<(), String> {
        self.check_region(region).map_err(|e| e.message)?;
        if name.is_empty() || name.len() > 255 || !name.is_ascii() {
            return Err(format!("{name:?} is not a key pair name"));
        }
        self.key_pairs.entry(region.clone()).or_default().insert(name.to_string());
        self.record(format!("created key pair {name} in {region}"));
        Ok(())
    }

    pub fn vpcs(&self) -> &std::collections::BTreeMap<VpcId, SimVpc> {
        &self.vpcs
    }

    pub fn subnets(&self) -> &std::collections::BTreeMap<SubnetId, Subnet> {
        &self.subnets
    }

    pub fn security_groups(&self) -> &std::collections::BTreeMap<SecurityGroupId, SecurityGroup> {
        &self.security_groups
    }

    /// The subnet an instance in `zone` launches into: `subnet` (which must exist in the
    /// region and be in `zone`), else the default VPC's default subnet of `zone`.
    fn launch_subnet(&self, region: &Region, zone: &Zone, subnet: Option<&SubnetId>) -> CloudResult<&Subnet> {
        if let Some(id) = subnet {
            let found = self.subnets.get(id).filter(|s| s.zone.region() == *region).ok_or_else(|| {
                err(K::Other("InvalidSubnetID.NotFound".into()), format!("The subnet ID '{id}' does not exist"))
            })?;
            if found.zone != *zone {
                return Err(err(
                    K::InvalidParameterValue,
                    format!(
                        "Value ({zone}) for parameter availabilityZone is invalid. Subnet '{id}' is in the availability zone {}",
                        found.zone
                    ),
                ));
            }
            return Ok(found);
        }
        let vpc = self
            .vpcs
            .values()
            .find(|v| v.region == *region && v.is_default)
            .ok_or_else(|| err(K::Other("VPCIdNotSpecified".into()), "No default VPC for this user"))?;
        self.subnets.values().find(|s| s.vpc == vpc.id && s.zone == *zone && s.default_for_zone).ok_or_else(|| {
            err(
                K::Other("MissingInput".into()),
                format!(
                    "No default subnet for availability zone {zone} in the default VPC {}. Please specify a subnet.",
                    vpc.id
                ),
            )
        })
    }

    /// Security groups that exist in `region` and all belong to `vpc`; none named: `vpc`'s
    /// `default` group. `code_for_missing` is EC2's `InvalidGroup.NotFound` or Auto
    /// Scaling's `ValidationError`.
    fn launch_groups(
        &self,
        region: &Region,
        vpc: Option<&VpcId>,
        groups: &[SecurityGroupId],
        code_for_missing: &str,
    ) -> CloudResult<Vec<SecurityGroupId>> {
        let mut found = Vec::new();
        for id in groups {
            let group =
                self.security_groups.get(id).filter(|g| self.vpc_region(&g.vpc).as_ref() == Some(region)).ok_or_else(
                    || CloudError::from_code(code_for_missing, format!("The security group '{id}' does not exist")),
                )?;
            found.push(group);
        }
        let vpc = vpc.or(found.first().map(|g| &g.vpc));
        if let (Some(vpc), Some(other)) = (vpc, found.iter().find(|g| Some(&g.vpc) != vpc)) {
            return Err(err(
                K::Other("InvalidParameter".into()),
                format!("Security group {} (of {}) and {vpc} belong to different networks.", other.id, other.vpc),
            ));
        }
        if found.is_empty() {
            let default = vpc.and_then(|v| self.security_groups.values().find(|g| g.vpc == *v && g.name == "default"));
            return Ok(default.map(|g| vec![g.id.clone()]).unwrap_or_default());
        }
        Ok(found.iter().map(|g| g.id.clone()).collect())
    }

    /// The instance profile, key pair and metadata options of a launch (what AWS checks
    /// whatever the network).
    fn check_launch_identity(&self, region: &Region, settings: &LaunchSettings) -> CloudResult<()> {
        if let Some(profile) = &settings.instance_profile {
            if !self.instance_profiles.contains_key(profile.name()) || (profile.is_arn() && !profile_arn_ok(profile)) {
                let parameter = if profile.is_arn() { "iamInstanceProfile.arn" } else { "iamInstanceProfile.name" };
                return Err(err(
                    K::InvalidParameterValue,
                    format!(
                        "Value ({profile}) for parameter {parameter} is invalid. Invalid IAM Instance Profile name"
                    ),
                ));
            }
        }
        if let Some(key) = &settings.key_name {
            if !self.key_pairs.get(region).is_some_and(|k| k.contains(key.as_str())) {
                return Err(err(
                    K::Other("InvalidKeyPair.NotFound".into()),
                    format!("The key pair '{key}' does not exist"),
                ));
            }
        }
        if let Some(hops) = settings.metadata.hop_limit.filter(|h| !(1..=64).contains(h)) {
            return Err(err(
                K::InvalidParameterValue,
                format!("The HttpPutResponseHopLimit {hops} is not valid. Specify a value between 1 and 64."),
            ));
        }
        Ok(())
    }

    /// The root volume mapping: on the image's root device, at least its snapshot's size,
    /// within its type's limits, a type that boots, a KMS key only with encryption.
    fn check_root_volume(&self, image: &Image, root: &RootVolume) -> CloudResult<()> {
        let mapping = |message: String| err(K::Other("InvalidBlockDeviceMapping".into()), message);
        if image.root_device.as_deref() != Some(root.device.as_str()) {
            return Err(mapping(format!(
                "The device {} is not the root device of {} ({}); only the root device can be mapped here",
                root.device,
                image.id,
                image.root_device.as_deref().unwrap_or("none")
            )));
        }
        if let (Some(size), Some(snapshot)) = (root.size_gb, image.root_size_gb) {
            if size < snapshot {
                return Err(mapping(format!(
                    "Volume of size {size}GB is smaller than snapshot of {}, expect size >= {snapshot}GB",
                    image.id
                )));
            }
        }
        if !ebs_limits(root.volume_type).bootable {
            return Err(err(
                K::Other("InvalidParameterCombination".into()),
                format!("{} volumes cannot be used as boot volumes", root.volume_type),
            ));
        }
        let request = EbsRequest {
            volume_type: root.volume_type,
            size_gb: root.size_gb,
            iops: None,
            throughput: None,
            encrypted: root.encrypted,
            kms_key: root.kms_key.is_some(),
        };
        match ebs_problems(&request).into_iter().next() {
            Some(p) => Err(CloudError::from_code(p.aws_code(), format!("root volume: {p}"))),
            None => Ok(()),
        }
    }

    /// Everything RunInstances (or a group's launch) checks of the network and settings;
    /// where the instance goes when it may launch.
    pub(crate) fn check_launch_settings(
        &self,
        region: &Region,
        zone: &Zone,
        subnet: Option<&SubnetId>,
        image: &Image,
        settings: &LaunchSettings,
    ) -> CloudResult<Placement> {
        let subnet = self.launch_subnet(region, zone, subnet)?;
        let security_groups =
            self.launch_groups(region, Some(&subnet.vpc), &settings.security_groups, "InvalidGroup.NotFound")?;
        self.check_launch_identity(region, settings)?;
        if let Some(root) = &settings.root_volume {
            self.check_root_volume(image, root)?;
        }
        Ok(Placement { subnet: subnet.id.clone(), security_groups })
    }

    /// What CreateLaunchTemplate(Version) checks of the settings (a group's launch checks
    /// the rest, with its subnet): the security groups exist and share a VPC, the key pair
    /// exists, the metadata options are valid. AWS answers such a template with a warning
    /// and creates it; the simulator refuses it with the warning's code (stricter).
    /// `auto_scaling`: Auto Scaling's CreateLaunchConfiguration, which says `ValidationError`.
    pub(crate) fn check_launch_spec_settings(
        &self,
        region: &Region,
        settings: &LaunchSettings,
        auto_scaling: bool,
    ) -> CloudResult<()> {
        let missing = if auto_scaling { "ValidationError" } else { "InvalidGroup.NotFound" };
        self.launch_groups(region, None, &settings.security_groups, missing)?;
        if auto_scaling && settings.root_volume.as_ref().is_some_and(|r| r.kms_key.is_some()) {
            // Auto Scaling's `Ebs` has no KmsKeyId: such a request cannot be made.
            return Err(err(
                K::Other("ValidationError".into()),
                "a launch configuration's block device mapping cannot name a KMS key".to_string(),
            ));
        }
        self.check_launch_identity(region, settings)
    }

    /// A group's subnets: each exists in the region, is in one of the group's zones, and
    /// every subnet is in the VPC of the launch settings' security groups.
    pub(crate) fn check_group_subnets(
        &self,
        region: &Region,
        zones: &[Zone],
        subnets: &[SubnetId],
        settings: &LaunchSettings,
    ) -> CloudResult<()> {
        let validation = |message: String| err(K::Other("ValidationError".into()), message);
        for id in subnets {
            let subnet = self
                .subnets
                .get(id)
                .filter(|s| s.zone.region() == *region)
                .ok_or_else(|| validation(format!("The subnet ID '{id}' does not exist")))?;
            if !zones.contains(&subnet.zone) {
                return Err(validation(
                    "The availability zones of the specified subnets and the Auto Scaling group do not match".into(),
                ));
            }
            if let Some(g) = settings
                .security_groups
                .iter()
                .filter_map(|g| self.security_groups.get(g))
                .find(|g| g.vpc != subnet.vpc)
            {
                return Err(validation(format!(
                    "The security group {} of the launch settings is in {}, not in {} of subnet {id}",
                    g.id, g.vpc, subnet.vpc
                )));
            }
        }
        Ok(())
    }

    /// `sim show`'s network of a region: each VPC with its subnets and security groups,
    /// and the key pairs.
    pub(super) fn render_network(&self, out: &mut String, region: &Region) {
        use std::fmt::Write;
        let vpcs: Vec<&SimVpc> = self.vpcs.values().filter(|v| v.region == *region).collect();
        let keys = self.key_pairs.get(region).filter(|k| !k.is_empty());
        if vpcs.is_empty() && keys.is_none() {
            return;
        }
        let _ = writeln!(out, "  network:");
        for v in vpcs {
            let _ = writeln!(out, "    {}{}", v.id, if v.is_default { " (default VPC)" } else { "" });
            for s in self.subnets.values().filter(|s| s.vpc == v.id) {
                let default = if s.default_for_zone { "  default for its zone" } else { "" };
                let _ = writeln!(out, "      subnet {}  {}{default}", s.id, s.zone);
            }
            let groups: Vec<String> = self
                .security_groups
                .values()
                .filter(|g| g.vpc == v.id)
                .map(|g| format!("{} {}", g.id, g.name))
                .collect();
            if !groups.is_empty() {
                let _ = writeln!(out, "      security groups: {}", groups.join(", "));
            }
        }
        if let Some(keys) = keys {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let _ = writeln!(out, "    key pairs: {}", keys.join(", "));
        }
    }

    /// The invariants of the network a hand-edited state file could break.
    pub(super) fn check_network(&self) -> Result<(), String> {
        for s in self.subnets.values() {
            match self.vpcs.get(&s.vpc) {
                None => return Err(format!("subnet {} is in VPC {}, which does not exist", s.id, s.vpc)),
                Some(v) if v.region != s.zone.region() => {
                    return Err(format!("subnet {} is in {}, outside its VPC's region {}", s.id, s.zone, v.region))
                }
                Some(_) => {}
            }
        }
        if let Some(g) = self.security_groups.values().find(|g| !self.vpcs.contains_key(&g.vpc)) {
            return Err(format!("security group {} is in VPC {}, which does not exist", g.id, g.vpc));
        }
        for region in &self.regions {
            if self.vpcs.values().filter(|v| v.region == region.region && v.is_default).count() > 1 {
                return Err(format!("{} has more than one default VPC", region.region));
            }
        }
        Ok(())
    }
}

/// Whether `zone` is a zone of `region` (`us-east-1a` of `us-east-1`), without allocating.
fn in_region(zone: &Zone, region: &Region) -> bool {
    let (zone, region) = (zone.as_str(), region.as_str());
    zone.len() == region.len() + 1 && zone.starts_with(region)
}

/// An instance profile ARN's form: `arn:aws:iam::<12 digits>:instance-profile/...`.
fn profile_arn_ok(profile: &InstanceProfile) -> bool {
    let parts: Vec<&str> = profile.as_str().splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", p, "iam", "", account, resource]
        if p.starts_with("aws") && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
            && resource.starts_with("instance-profile/"))
}
