//! What the planner saw of each resource it read ([`Observation`]), and the stale check
//! that compares it with what apply reads again ([`staleness`]).

use super::Plan;
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A resource the planner looked at, by identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ResourceKey {
    Instance(InstanceId),
    Volume(VolumeId),
    Address(AllocationId),
    LaunchTemplate(LaunchTemplateId),
    LaunchConfiguration(String),
    Group(AutoScalingGroupName),
    /// The names of the images of a type in a region.
    ImageFamily {
        region: Region,
        ami_type: AmiType,
    },
    /// The newest image of a type and architecture in the plan's region.
    NewestImage {
        ami_type: AmiType,
        architecture: Architecture,
    },
    /// The A records of a DNS name.
    Dns(String),
    /// The VPC a launch goes into.
    Vpc(VpcId),
    /// A subnet of that VPC, or one the configuration names.
    Subnet(SubnetId),
    /// A security group the configuration names (by name in that VPC, or by id).
    SecurityGroup(SecurityGroupId),
    /// The key pair the configuration names.
    KeyPair(KeyName),
}

/// What the planner saw of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Observed {
    Instance {
        state: InstanceState,
        zone: Zone,
    },
    Volume {
        state: VolumeState,
        attached_to: Option<InstanceId>,
        size_gb: u32,
    },
    Address {
        public_ip: String,
        associated_to: Option<InstanceId>,
    },
    LaunchTemplate {
        latest_version: u32,
        image: ImageId,
        instance_type: InstanceType,
    },
    LaunchConfiguration {
        image: ImageId,
        instance_type: InstanceType,
    },
    Group {
        launch: LaunchSource,
        desired: u32,
        instances: Vec<InstanceId>,
    },
    ImageNames {
        names: Vec<String>,
    },
    Image {
        id: ImageId,
        name: String,
    },
    NoImage,
    Dns {
        addresses: Vec<String>,
    },
    Vpc {
        default: bool,
    },
    Subnet {
        vpc: VpcId,
        zone: Zone,
    },
    SecurityGroup {
        name: String,
        vpc: VpcId,
    },
    /// The key pair exists (a missing one is not observed: "gone since plan").
    KeyPair,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub resource: ResourceKey,
    pub observed: Observed,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceKey::Instance(id) => write!(f, "instance {id}"),
            ResourceKey::Volume(id) => write!(f, "volume {id}"),
            ResourceKey::Address(id) => write!(f, "address {id}"),
            ResourceKey::LaunchTemplate(id) => write!(f, "launch template {id}"),
            ResourceKey::LaunchConfiguration(name) => write!(f, "launch configuration {name}"),
            ResourceKey::ImageFamily { region, ami_type } => write!(f, "{ami_type} images in {region}"),
            ResourceKey::Group(name) => write!(f, "auto scaling group {name}"),
            ResourceKey::NewestImage { ami_type, architecture } => {
                write!(f, "newest {ami_type} image for {architecture}")
            }
            ResourceKey::Dns(host) => write!(f, "DNS record {host}"),
            ResourceKey::Vpc(id) => write!(f, "VPC {id}"),
            ResourceKey::Subnet(id) => write!(f, "subnet {id}"),
            ResourceKey::SecurityGroup(id) => write!(f, "security group {id}"),
            ResourceKey::KeyPair(name) => write!(f, "key pair {name}"),
        }
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Instance { state, zone } => write!(f, "{state} in {zone}"),
            Observed::Volume { state, attached_to, size_gb } => {
                write!(f, "{state}, {size_gb} GiB")?;
                match attached_to {
                    Some(i) => write!(f, ", attached to {i}"),
                    None => Ok(()),
                }
            }
            Observed::Address { public_ip, associated_to } => match associated_to {
                Some(i) => write!(f, "{public_ip} on {i}"),
                None => write!(f, "{public_ip}, unassociated"),
            },
            Observed::LaunchTemplate { latest_version, image, instance_type } => {
                write!(f, "version {latest_version} ({instance_type} from {image})")
            }
            Observed::LaunchConfiguration { image, instance_type } => write!(f, "{instance_type} from {image}"),
            Observed::Group { launch, desired, instances } => {
                let ids: Vec<&str> = instances.iter().map(|i| i.as_str()).collect();
                write!(f, "desired {desired}, instances [{}], {launch}", ids.join(", "))
            }
            Observed::ImageNames { names } if names.is_empty() => f.write_str("none"),
            Observed::ImageNames { names } => f.write_str(&names.join(", ")),
            Observed::Image { id, name } => write!(f, "{name} ({id})"),
            Observed::NoImage => f.write_str("none"),
            Observed::Dns { addresses } if addresses.is_empty() => f.write_str("no A record"),
            Observed::Dns { addresses } => f.write_str(&addresses.join(", ")),
            Observed::Vpc { default: true } => f.write_str("the default VPC"),
            Observed::Vpc { default: false } => f.write_str("not the default VPC"),
            Observed::Subnet { vpc, zone } => write!(f, "in {zone} of {vpc}"),
            Observed::SecurityGroup { name, vpc } => write!(f, "{name} in {vpc}"),
            Observed::KeyPair => f.write_str("exists"),
        }
    }
}

/// Compares what a plan saw with what is there now; one line per difference, e.g.
/// `instance i-0003 of ommegang: running in us-east-1b → terminated since plan`.
pub fn staleness(plan: &Plan, now: &[Observation]) -> Vec<String> {
    let before: BTreeMap<&ResourceKey, &Observed> = plan.observed.iter().map(|o| (&o.resource, &o.observed)).collect();
    let after: BTreeMap<&ResourceKey, &Observed> = now.iter().map(|o| (&o.resource, &o.observed)).collect();
    let owner = plan.scope.server.as_ref().map(|s| format!(" of {s}")).unwrap_or_default();
    let gone = |o: &Observed| matches!(o, Observed::Instance { state: InstanceState::Terminated, .. });
    let mut changes = Vec::new();
    for (key, old) in &before {
        match after.get(key) {
            Some(new) if new == old => {}
            Some(new) => changes.push(format!("{key}{owner}: {} → {} since plan", short(old), short(new))),
            None if gone(old) => {}
            None => changes.push(format!("{key}{owner}: {} → gone since plan", short(old))),
        }
    }
    for (key, new) in &after {
        if !before.contains_key(key) && !gone(new) {
            changes.push(format!("{key}{owner}: appeared since plan ({new})"));
        }
    }
    changes
}

/// The most telling part of an observation, for stale messages.
fn short(o: &Observed) -> String {
    match o {
        Observed::Instance { state, .. } => state.to_string(),
        other => other.to_string(),
    }
}
