//! Launch settings resolved for a plan: the VPC (the configured `vpc`, else the VPC of the
//! configured `subnets`, else the default VPC: `network::Network::vpc_in_play`), the
//! subnet of the launch's zone, security group names turned into ids, the instance
//! profile, key pair, metadata options and root volume. Every refusal names the value,
//! where it was configured and the fix.

use super::{configured, Origin, PlanError, Planning};
use crate::catalog::{ebs_problems, EbsField, EbsRequest};
use crate::config::{EbsConfig, LaunchConfig, Sourced};
use crate::model::*;
use crate::network::Network;

/// Where and with what an instance (or a group's instances) launches.
pub struct Resolved {
    /// The subnet of the zone asked for (`None` when no zone was asked for).
    pub subnet: Option<SubnetId>,
    pub settings: LaunchSettings,
}

/// Resolves the launch settings of `launch` for `image`, and the subnet of `zone` if
/// given; `with_profile` is false for a workspace (no agent, so no instance profile).
/// Adds a note saying what the names resolved to.
pub fn resolve(
    p: &mut Planning<'_>,
    launch: &LaunchConfig,
    image: &Image,
    zone: Option<&Zone>,
    with_profile: bool,
) -> Result<Resolved, PlanError> {
    let network = &p.inventory.network;
    let vpc = vpc(p, network, launch)?;
    let subnet = zone.map(|z| subnet(network, launch, &vpc, z)).transpose()?;
    let groups = security_groups(network, launch, &vpc)?;
    let root_volume = root_volume(launch, image)?;
    let settings = LaunchSettings {
        instance_profile: launch.instance_profile.as_ref().filter(|_| with_profile).map(|p| p.value.clone()),
        security_groups: groups.iter().map(|g| g.id.clone()).collect(),
        key_name: launch.key_name.as_ref().map(|k| k.value.clone()),
        metadata: launch.metadata(),
        root_volume,
    };
    let default = if network.vpc(&vpc).is_some_and(|v| v.is_default) { " (the region's default VPC)" } else { "" };
    let into = match (&subnet, zone) {
        (Some(s), Some(z)) => format!("subnet {s} of {z} in {vpc}{default}"),
        _ => format!("{vpc}{default}"),
    };
    let groups = if groups.is_empty() {
        "the VPC's default security group".to_string()
    } else {
        let named: Vec<String> = groups.iter().map(|g| format!("{} is {}", g.name, g.id)).collect();
        format!("security group {}", named.join(", "))
    };
    p.note(format!("Launches go into {into}; {groups}."));
    Ok(Resolved { subnet, settings })
}

/// The VPC launches go into, or why there is none.
fn vpc(p: &Planning<'_>, network: &Network, launch: &LaunchConfig) -> Result<VpcId, PlanError> {
    let scope = launch.network_scope();
    if let Some(vpc) = network.vpc_in_play(&scope) {
        return Ok(vpc.id.clone());
    }
    let region = p.scope.region.clone();
    if let Some(v) = &launch.vpc {
        let known: Vec<&str> = network.vpcs.iter().map(|v| v.id.as_str()).collect();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Err(PlanError::UnknownVpc { vpc: v.value.clone(), origin: configured(v), region, known });
    }
    if let Some(missing) = launch.subnets.values().find(|s| network.subnet(&s.value).is_none()) {
        return Err(PlanError::UnknownSubnet { subnet: missing.value.clone(), origin: configured(missing), region });
    }
    if let Some(first) = launch.subnets.values().next() {
        let vpcs: Vec<&str> = network.vpcs_of_subnets(&scope).into_iter().map(|v| v.as_str()).collect();
        return Err(PlanError::SubnetsInSeveralVpcs { origin: configured(first), vpcs: vpcs.join(", ") });
    }
    Err(PlanError::NoDefaultVpc { region })
}

/// The subnet of `zone` in `vpc`: the configured one for its letter, else (no `subnets`
/// configured) the one subnet of the VPC there (the default VPC: its default subnet).
fn subnet(network: &Network, launch: &LaunchConfig, vpc: &VpcId, zone: &Zone) -> Result<SubnetId, PlanError> {
    if let Some(configured_subnet) = launch.subnets.get(&zone.letter()) {
        return check_subnet(network, configured_subnet, vpc, zone);
    }
    let here: Vec<&Subnet> = network.subnets_in(vpc, zone).collect();
    let names = |subnets: &[&Subnet]| subnets.iter().map(|s| s.id.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(first) = launch.subnets.values().next() {
        let listed: Vec<String> = launch.subnets.keys().map(|k| k.to_string()).collect();
        let fix = match here.first() {
            Some(s) => format!(
                "add `\"{}\": \"{}\"` to subnets (subnets of {vpc} there: {})",
                zone.letter(),
                s.id,
                names(&here)
            ),
            None => format!(
                "create a subnet of {vpc} in {zone} and add it to subnets, or use a zone of {}",
                listed.join(", ")
            ),
        };
        return Err(PlanError::NoSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            why: format!(": subnets ({}) names zones {} only", first.source, listed.join(", ")),
            fix,
        });
    }
    let default: Vec<&Subnet> = here.iter().copied().filter(|s| s.default_for_zone).collect();
    match (here.as_slice(), default.as_slice()) {
        (_, [one]) | ([one], _) => Ok(one.id.clone()),
        ([], _) => Err(PlanError::NoSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            why: String::new(),
            fix: format!(
                "create a subnet of {vpc} in {zone} (or a default subnet: aws ec2 create-default-subnet --availability-zone {zone}), or choose another zone"
            ),
        }),
        (many, _) => Err(PlanError::AmbiguousSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            subnets: many.iter().map(|s| s.id.clone()).collect(),
        }),
    }
}

/// A configured subnet exists, is in `vpc` and in `zone`.
fn check_subnet(
    network: &Network,
    configured_subnet: &Sourced<SubnetId>,
    vpc: &VpcId,
    zone: &Zone,
) -> Result<SubnetId, PlanError> {
    let id = &configured_subnet.value;
    let origin = configured(configured_subnet);
    let Some(found) = network.subnet(id) else {
        return Err(PlanError::UnknownSubnet { subnet: id.clone(), origin, region: zone.region() });
    };
    if found.vpc != *vpc {
        return Err(PlanError::SubnetOutsideVpc {
            subnet: id.clone(),
            origin,
            subnet_vpc: found.vpc.clone(),
            vpc: vpc.clone(),
        });
    }
    if found.zone != *zone {
        return Err(PlanError::SubnetInOtherZone {
            subnet: id.clone(),
            origin,
            subnet_zone: found.zone.clone(),
            zone: zone.clone(),
        });
    }
    Ok(id.clone())
}

/// The configured security groups in `vpc`, by name or id.
fn security_groups(network: &Network, launch: &LaunchConfig, vpc: &VpcId) -> Result<Vec<SecurityGroup>, PlanError> {
    let mut out = Vec::new();
    for group in &launch.security_groups.value {
        let origin = configured(group);
        match network.security_group(vpc, &group.value) {
            Some(g) if g.vpc == *vpc => out.push(g.clone()),
            Some(g) => {
                return Err(PlanError::SecurityGroupOutsideVpc {
                    group: g.id.clone(),
                    origin,
                    group_vpc: g.vpc.clone(),
                    vpc: vpc.clone(),
                })
            }
            None => {
                let known: Vec<&str> =
                    network.security_groups.iter().filter(|g| g.vpc == *vpc).map(|g| g.name.as_str()).collect();
                return Err(PlanError::UnknownSecurityGroup {
                    group: group.value.clone(),
                    origin,
                    vpc: vpc.clone(),
                    known: if known.is_empty() { "none".into() } else { known.join(", ") },
                });
            }
        }
    }
    Ok(out)
}

/// The root volume mapping for `image`: gp3, encrypted like the data volume, sized by
/// `root_volume_gb` (at least the image's root snapshot) or as the snapshot; `None` when
/// the image does not say its root device.
fn root_volume(launch: &LaunchConfig, image: &Image) -> Result<Option<RootVolume>, PlanError> {
    let Some(device) = &image.root_device else {
        return Ok(None);
    };
    if let (Some(size), Some(image_size)) = (&launch.root_volume_gb, image.root_size_gb) {
        if size.value < image_size {
            return Err(PlanError::RootVolumeTooSmall {
                size: size.value,
                origin: configured(size),
                image: image.name.clone(),
                image_size,
            });
        }
    }
    Ok(Some(RootVolume {
        device: device.clone(),
        size_gb: launch.root_volume_gb.as_ref().map(|s| s.value).or(image.root_size_gb),
        volume_type: VolumeType::Gp3,
        encrypted: launch.ebs.encrypted.value,
        kms_key: launch.ebs.kms_key.as_ref().map(|k| k.value.clone()),
    }))
}

/// The data volume's EBS settings for a volume of `size_gb` (which came from `size_origin`),
/// or the first problem CreateVolume would refuse.
pub fn data_volume(ebs: &EbsConfig, size_gb: u32, size_origin: Origin) -> Result<EbsSettings, PlanError> {
    let settings = ebs.settings();
    let request = EbsRequest {
        volume_type: settings.volume_type,
        size_gb: Some(size_gb),
        iops: settings.iops,
        throughput: settings.throughput,
        encrypted: settings.encrypted,
        kms_key: settings.kms_key.is_some(),
    };
    match ebs_problems(&request).into_iter().next() {
        None => Ok(settings),
        Some(problem) => {
            let origin = match problem.field() {
                EbsField::Size => size_origin,
                EbsField::Iops => ebs.iops.as_ref().map_or_else(|| configured(&ebs.volume_type), configured),
                EbsField::Throughput => {
                    ebs.throughput.as_ref().map_or_else(|| configured(&ebs.volume_type), configured)
                }
                EbsField::KmsKey => ebs.kms_key.as_ref().map_or_else(|| configured(&ebs.encrypted), configured),
            };
            Err(PlanError::EbsSettings { problem: problem.to_string(), origin, fix: problem.fix() })
        }
    }
}
