//! The network of a region (DescribeVpcs, DescribeSubnets, DescribeSecurityGroups, each
//! paged to the end; DescribeKeyPairs), and the launch settings as the EC2 and Auto Scaling APIs spell them
//! (RunInstances, launch template data, launch configurations), both ways.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

/// Every VPC of the region (its id and whether it is the default VPC).
pub(crate) async fn describe_vpcs(cloud: &AwsCloud, region: &Region) -> CloudResult<Vec<Vpc>> {
    let mut out = Vec::new();
    let mut pages = cloud.ec2(region).describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeVpcs, e))?;
        out.extend(page.vpcs().iter().map(|v| Vpc {
            id: VpcId::new(v.vpc_id().unwrap_or_default()),
            is_default: v.is_default().unwrap_or(false),
        }));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every subnet of the region, with its VPC and zone.
pub(crate) async fn describe_subnets(cloud: &AwsCloud, region: &Region) -> CloudResult<Vec<Subnet>> {
    let mut out = Vec::new();
    let mut pages = cloud.ec2(region).describe_subnets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeSubnets, e))?;
        out.extend(page.subnets().iter().map(|s| Subnet {
            id: SubnetId::new(s.subnet_id().unwrap_or_default()),
            vpc: VpcId::new(s.vpc_id().unwrap_or_default()),
            zone: Zone::new(s.availability_zone().unwrap_or_default()),
            default_for_zone: s.default_for_az().unwrap_or(false),
        }));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every security group of the region (id, name, VPC); the rules are not read.
pub(crate) async fn describe_security_groups(cloud: &AwsCloud, region: &Region) -> CloudResult<Vec<SecurityGroup>> {
    let mut out = Vec::new();
    let mut pages = cloud.ec2(region).describe_security_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeSecurityGroups, e))?;
        out.extend(page.security_groups().iter().map(|g| SecurityGroup {
            id: SecurityGroupId::new(g.group_id().unwrap_or_default()),
            name: g.group_name().unwrap_or_default().to_string(),
            vpc: VpcId::new(g.vpc_id().unwrap_or_default()),
        }));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The names of every key pair of the region (DescribeKeyPairs is not paginated).
pub(crate) async fn describe_key_pairs(cloud: &AwsCloud, region: &Region) -> CloudResult<Vec<KeyName>> {
    let out = cloud.ec2(region).describe_key_pairs().send().await.map_err(|e| from_sdk(Api::DescribeKeyPairs, e))?;
    let mut names: Vec<KeyName> = out.key_pairs().iter().filter_map(|k| k.key_name()).map(KeyName::new).collect();
    names.sort();
    Ok(names)
}

fn i32_of(n: u32) -> i32 {
    count(n)
}

fn u32_of(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

fn volume_type_of(s: Option<&str>) -> VolumeType {
    s.and_then(VolumeType::parse).unwrap_or_default()
}

// ---- RunInstances ----

pub(crate) fn ec2_profile(profile: &InstanceProfile) -> ec2::types::IamInstanceProfileSpecification {
    let b = ec2::types::IamInstanceProfileSpecification::builder();
    if profile.is_arn() { b.arn(profile.as_str()) } else { b.name(profile.as_str()) }.build()
}

pub(crate) fn ec2_metadata(m: &MetadataOptions) -> ec2::types::InstanceMetadataOptionsRequest {
    ec2::types::InstanceMetadataOptionsRequest::builder()
        .http_tokens(ec2::types::HttpTokensState::from(m.http_tokens.as_str()))
        .http_endpoint(ec2::types::InstanceMetadataEndpointState::Enabled)
        .set_http_put_response_hop_limit(m.hop_limit.map(i32::from))
        .build()
}

pub(crate) fn ec2_root_mapping(root: &RootVolume) -> ec2::types::BlockDeviceMapping {
    let ebs = ec2::types::EbsBlockDevice::builder()
        .set_volume_size(root.size_gb.map(i32_of))
        .volume_type(ec2::types::VolumeType::from(root.volume_type.as_str()))
        .encrypted(root.encrypted)
        .set_kms_key_id(root.kms_key.clone())
        .delete_on_termination(true)
        .build();
    ec2::types::BlockDeviceMapping::builder().device_name(&root.device).ebs(ebs).build()
}

// ---- launch template data ----

pub(crate) fn template_settings(
    mut b: ec2::types::builders::RequestLaunchTemplateDataBuilder,
    s: &LaunchSettings,
) -> ec2::types::builders::RequestLaunchTemplateDataBuilder {
    if let Some(p) = &s.instance_profile {
        let spec = ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        let spec = if p.is_arn() { spec.arn(p.as_str()) } else { spec.name(p.as_str()) };
        b = b.iam_instance_profile(spec.build());
    }
    if !s.security_groups.is_empty() {
        b = b.set_security_group_ids(Some(s.security_groups.iter().map(|g| g.to_string()).collect()));
    }
    if let Some(k) = &s.key_name {
        b = b.key_name(k.as_str());
    }
    b = b.metadata_options(
        ec2::types::LaunchTemplateInstanceMetadataOptionsRequest::builder()
            .http_tokens(ec2::types::LaunchTemplateHttpTokensState::from(s.metadata.http_tokens.as_str()))
            .http_endpoint(ec2::types::LaunchTemplateInstanceMetadataEndpointState::Enabled)
            .set_http_put_response_hop_limit(s.metadata.hop_limit.map(i32::from))
            .build(),
    );
    if let Some(root) = &s.root_volume {
        let ebs = ec2::types::LaunchTemplateEbsBlockDeviceRequest::builder()
            .set_volume_size(root.size_gb.map(i32_of))
            .volume_type(ec2::types::VolumeType::from(root.volume_type.as_str()))
            .encrypted(root.encrypted)
            .set_kms_key_id(root.kms_key.clone())
            .delete_on_termination(true)
            .build();
        b = b.block_device_mappings(
            ec2::types::LaunchTemplateBlockDeviceMappingRequest::builder().device_name(&root.device).ebs(ebs).build(),
        );
    }
    b
}

/// The settings of a launch template version as DescribeLaunchTemplateVersions reports them.
pub(crate) fn settings_of_template(d: Option<&ec2::types::ResponseLaunchTemplateData>) -> LaunchSettings {
    let Some(d) = d else { return LaunchSettings::default() };
    let profile = d.iam_instance_profile().and_then(|p| p.arn().or(p.name())).map(InstanceProfile::new);
    let metadata = d.metadata_options().map_or_else(MetadataOptions::default, |m| MetadataOptions {
        http_tokens: m.http_tokens().and_then(|t| HttpTokens::parse(t.as_str())).unwrap_or_default(),
        hop_limit: m.http_put_response_hop_limit().and_then(|h| u8::try_from(h).ok()),
    });
    let root_volume = d.block_device_mappings().iter().find_map(|m| {
        let ebs = m.ebs()?;
        Some(RootVolume {
            device: m.device_name()?.to_string(),
            size_gb: u32_of(ebs.volume_size()),
            volume_type: volume_type_of(ebs.volume_type().map(|t| t.as_str())),
            encrypted: ebs.encrypted().unwrap_or(false),
            kms_key: ebs.kms_key_id().map(str::to_string),
        })
    });
    LaunchSettings {
        instance_profile: profile,
        security_groups: d.security_group_ids().iter().map(SecurityGroupId::new).collect(),
        key_name: d.key_name().map(KeyName::new),
        metadata,
        root_volume,
    }
}

// ---- launch configurations ----

/// A launch configuration cannot name a KMS key for its block devices (Auto Scaling's
/// `Ebs` has no `KmsKeyId`): refused here rather than silently encrypted with another key.
pub(crate) fn configuration_settings(
    mut b: asg::operation::create_launch_configuration::builders::CreateLaunchConfigurationFluentBuilder,
    s: &LaunchSettings,
) -> CloudResult<asg::operation::create_launch_configuration::builders::CreateLaunchConfigurationFluentBuilder> {
    if let Some(p) = &s.instance_profile {
        b = b.iam_instance_profile(p.as_str());
    }
    if !s.security_groups.is_empty() {
        b = b.set_security_groups(Some(s.security_groups.iter().map(|g| g.to_string()).collect()));
    }
    if let Some(k) = &s.key_name {
        b = b.key_name(k.as_str());
    }
    b = b.metadata_options(
        asg::types::InstanceMetadataOptions::builder()
            .http_tokens(asg::types::InstanceMetadataHttpTokensState::from(s.metadata.http_tokens.as_str()))
            .http_endpoint(asg::types::InstanceMetadataEndpointState::Enabled)
            .set_http_put_response_hop_limit(s.metadata.hop_limit.map(i32::from))
            .build(),
    );
    if let Some(root) = &s.root_volume {
        if root.kms_key.is_some() {
            return Err(CloudError::from_code(
                "InvalidParameterCombination",
                "a launch configuration cannot name a KMS key for its root volume; use a launch template",
            ));
        }
        let ebs = asg::types::Ebs::builder()
            .set_volume_size(root.size_gb.map(i32_of))
            .volume_type(root.volume_type.as_str())
            .encrypted(root.encrypted)
            .delete_on_termination(true)
            .build();
        b = b.block_device_mappings(
            asg::types::BlockDeviceMapping::builder().device_name(&root.device).ebs(ebs).build(),
        );
    }
    Ok(b)
}

/// The settings of a launch configuration as DescribeLaunchConfigurations reports them.
pub(crate) fn settings_of_configuration(c: &asg::types::LaunchConfiguration) -> LaunchSettings {
    let metadata = c.metadata_options().map_or_else(MetadataOptions::default, |m| MetadataOptions {
        http_tokens: m.http_tokens().and_then(|t| HttpTokens::parse(t.as_str())).unwrap_or_default(),
        hop_limit: m.http_put_response_hop_limit().and_then(|h| u8::try_from(h).ok()),
    });
    let root_volume = c.block_device_mappings().iter().find_map(|m| {
        let ebs = m.ebs()?;
        Some(RootVolume {
            device: m.device_name()?.to_string(),
            size_gb: u32_of(ebs.volume_size()),
            volume_type: volume_type_of(ebs.volume_type()),
            encrypted: ebs.encrypted().unwrap_or(false),
            kms_key: None,
        })
    });
    LaunchSettings {
        instance_profile: c.iam_instance_profile().filter(|p| !p.is_empty()).map(InstanceProfile::new),
        security_groups: c.security_groups().iter().map(SecurityGroupId::new).collect(),
        key_name: c.key_name().filter(|k| !k.is_empty()).map(KeyName::new),
        metadata,
        root_volume,
    }
}

/// The EBS settings of a volume as DescribeVolumes reports them.
pub(crate) fn ebs_of_volume(v: &ec2::types::Volume) -> EbsSettings {
    let volume_type = volume_type_of(v.volume_type().map(|t| t.as_str()));
    let limits = cellar_engine::catalog::ebs_limits(volume_type);
    EbsSettings {
        volume_type,
        iops: limits.iops.and(u32_of(v.iops())),
        throughput: limits.throughput.and(u32_of(v.throughput())),
        encrypted: v.encrypted().unwrap_or(false),
        kms_key: v.kms_key_id().map(str::to_string),
    }
}
