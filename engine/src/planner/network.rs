//! Launch settings resolved for a plan: the network (`network::resolve_network`: the VPC,
//! the subnet of the launch's zone, security group names turned into ids, the key pair),
//! the instance profile, metadata options and root volume; the data volume's EBS settings.
//! Every refusal names the value, where it was configured and the fix.

use super::{configured, Origin, PlanError, Planning};
use crate::catalog::{ebs_problems, EbsField, EbsRequest};
use crate::config::{EbsConfig, LaunchConfig};
use crate::inventory::Inventory;
use crate::model::*;
use crate::network::{resolve_network, ResolvedNetwork};

/// Where and with what an instance (or a group's instances) launches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The subnet of the zone asked for (`None` when no zone was asked for).
    pub subnet: Option<SubnetId>,
    pub settings: LaunchSettings,
}

/// Resolves the launch settings of `launch` for `image`, and the subnet of `zone` if
/// given ([`resolve_network`]; its first finding is the refusal); `with_profile` is false
/// for a workspace (no agent, so no instance profile). Adds a note saying what the names
/// resolved to. In a fleet, servers with the same settings share one resolution
/// ([`super::Shared`]).
pub fn resolve(
    p: &mut Planning<'_>,
    launch: &LaunchConfig,
    image: &Image,
    zone: Option<&Zone>,
    with_profile: bool,
) -> Result<Resolved, PlanError> {
    let (scope, inventory) = (&p.scope, p.inventory);
    let resolve = || resolve_alone(inventory, &scope.region, launch, image, zone, with_profile);
    let (resolved, note) = match p.shared.as_deref_mut() {
        Some(shared) => shared.resolution((scope, inventory), launch, (image, zone, with_profile), resolve)?,
        None => resolve()?,
    };
    p.note(note);
    Ok(resolved)
}

/// [`resolve`] for one server, with its note.
fn resolve_alone(
    inventory: &Inventory,
    region: &Region,
    launch: &LaunchConfig,
    image: &Image,
    zone: Option<&Zone>,
    with_profile: bool,
) -> Result<(Resolved, String), PlanError> {
    let resolved = resolve_network(&inventory.network, launch, region, zone)
        .map_err(|findings| PlanError::Network(*findings.first))?;
    let settings = launch_settings(launch, &resolved, image, with_profile)?;
    let vpc = &resolved.vpc.id;
    let default = if resolved.vpc.is_default { " (the region's default VPC)" } else { "" };
    let into = match (&resolved.subnet, zone) {
        (Some(s), Some(z)) => format!("subnet {s} of {z} in {vpc}{default}"),
        _ => format!("{vpc}{default}"),
    };
    let groups = if resolved.security_groups.is_empty() {
        "the VPC's default security group".to_string()
    } else {
        let named: Vec<String> = resolved.security_groups.iter().map(|g| format!("{} is {}", g.name, g.id)).collect();
        format!("security group {}", named.join(", "))
    };
    Ok((Resolved { subnet: resolved.subnet, settings }, format!("Launches go into {into}; {groups}.")))
}

/// The settings an instance of `image` launches with, once its network is resolved (the
/// planner's and `cellar doctor`'s dry runs alike).
pub fn launch_settings(
    launch: &LaunchConfig,
    resolved: &ResolvedNetwork,
    image: &Image,
    with_profile: bool,
) -> Result<LaunchSettings, PlanError> {
    Ok(LaunchSettings {
        instance_profile: launch.instance_profile.as_ref().filter(|_| with_profile).map(|p| p.value.clone()),
        security_groups: resolved.security_groups.iter().map(|g| g.id.clone()).collect(),
        key_name: resolved.key_name.clone(),
        metadata: launch.metadata(),
        root_volume: root_volume(launch, image)?,
    })
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
