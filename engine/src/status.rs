//! Server health, the seed's monitoring view: is each server running with its volume
//! attached and its address associated, and if not, why.
//!
//! [`assess`] is pure (resources in, status out); [`read`] fetches the resources.

use crate::cloud::{Cloud, CloudError};
use crate::inventory::{self, ServerResources};
use crate::model::*;
use crate::plan::Scope;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Instance running, data volume attached to it, Elastic IP associated with it.
    Healthy,
    /// An instance is up but something is missing (or it is still booting).
    Degraded,
    /// The server should run (it has an auto scaling group) but has no instance.
    Down,
    /// Not running on purpose: no auto scaling group and no instance (or a stopped one).
    Stopped,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Stopped => "stopped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    pub id: InstanceId,
    pub state: InstanceState,
    pub zone: Zone,
    #[serde(rename = "type")]
    pub instance_type: InstanceType,
    pub ami: ImageId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeStatus {
    pub id: VolumeId,
    pub size_gb: u32,
    pub state: VolumeState,
    pub attached_to: Option<InstanceId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressStatus {
    pub public_ip: String,
    pub associated_to: Option<InstanceId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AutoScalingStatus {
    pub group: AutoScalingGroupName,
    pub desired: u32,
    /// `null` when the group follows the template's latest version.
    pub template_version: Option<u32>,
}

/// One server's status; this is also the JSON schema of `cellar status --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    pub name: ServerName,
    pub region: Region,
    pub health: Health,
    /// Why the server is not healthy (empty when it is).
    pub reason: String,
    pub instance: Option<InstanceStatus>,
    pub volume: Option<VolumeStatus>,
    pub address: Option<AddressStatus>,
    pub auto_scaling: Option<AutoScalingStatus>,
}

/// Decides a server's health from its resources. Pure.
pub fn assess(name: &ServerName, region: &Region, r: &ServerResources) -> ServerStatus {
    let instance = r.current_instance();
    let volume = r.data_volume();
    let address = instance
        .and_then(|i| {
            r.addresses
                .iter()
                .find(|a| a.associated_to.as_ref() == Some(&i.id))
        })
        .or_else(|| r.addresses.first());
    let group = r.group();

    let (health, reason) = match instance {
        Some(i) if i.state == InstanceState::Running => {
            let mut missing = Vec::new();
            match volume {
                None => missing.push("no data volume".to_string()),
                Some(v) if v.attached_to.as_ref() != Some(&i.id) => {
                    missing.push(format!("data volume {} is not attached to {}", v.id, i.id))
                }
                Some(_) => {}
            }
            match address {
                None => missing.push("no Elastic IP".to_string()),
                Some(a) if a.associated_to.as_ref() != Some(&i.id) => missing.push(format!(
                    "Elastic IP {} is not associated with {}",
                    a.public_ip, i.id
                )),
                Some(_) => {}
            }
            if missing.is_empty() {
                (Health::Healthy, String::new())
            } else {
                (Health::Degraded, missing.join("; "))
            }
        }
        Some(i) if i.state == InstanceState::Pending => {
            (Health::Degraded, format!("instance {} is starting", i.id))
        }
        Some(i) if group.is_none() => {
            (Health::Stopped, format!("instance {} is {}", i.id, i.state))
        }
        Some(i) => (Health::Down, format!("instance {} is {}", i.id, i.state)),
        None => match group {
            Some(g) => {
                let why = g
                    .activities
                    .iter()
                    .rev()
                    .find(|a| !a.succeeded)
                    .filter(|_| g.activities.last().is_some_and(|a| !a.succeeded))
                    .map(|a| format!("failed to respawn: {}", a.description))
                    .unwrap_or_else(|| {
                        format!("auto scaling group {} has no running instance", g.name)
                    });
                (Health::Down, why)
            }
            None if r.is_empty() => (
                Health::Stopped,
                format!("not created (nothing is tagged Name={name})"),
            ),
            None => (
                Health::Stopped,
                "no instance and no auto scaling group (auto scaling stopped)".to_string(),
            ),
        },
    };

    ServerStatus {
        name: name.clone(),
        region: region.clone(),
        health,
        reason,
        instance: instance.map(|i| InstanceStatus {
            id: i.id.clone(),
            state: i.state,
            zone: i.zone.clone(),
            instance_type: i.instance_type.clone(),
            ami: i.image.clone(),
        }),
        volume: volume.map(|v| VolumeStatus {
            id: v.id.clone(),
            size_gb: v.size_gb,
            state: v.state,
            attached_to: v.attached_to.clone(),
        }),
        address: address.map(|a| AddressStatus {
            public_ip: a.public_ip.clone(),
            associated_to: a.associated_to.clone(),
        }),
        auto_scaling: group.map(|g| AutoScalingStatus {
            group: g.name.clone(),
            desired: g.desired,
            template_version: g.template_version,
        }),
    }
}

/// Reads and assesses one server.
pub async fn read(
    cloud: &dyn Cloud,
    name: &ServerName,
    region: &Region,
) -> Result<ServerStatus, CloudError> {
    let scope = Scope {
        region: region.clone(),
        server: Some(name.clone()),
        dns_name: None,
        image: None,
    };
    let inventory = inventory::read(cloud, &scope).await?;
    Ok(assess(name, region, &inventory.resources))
}

/// The text table of `cellar status`.
pub fn render_text(statuses: &[ServerStatus]) -> String {
    let mut out = String::new();
    for s in statuses {
        out.push_str(&format!(
            "{:<12} {:<9} {}\n",
            s.name.as_str(),
            s.health.as_str(),
            s.region
        ));
        if let Some(i) = &s.instance {
            out.push_str(&format!(
                "  instance  {} {} {} {} {}\n",
                i.id, i.state, i.zone, i.instance_type, i.ami
            ));
        }
        if let Some(v) = &s.volume {
            let on = v
                .attached_to
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  volume    {} {} GiB {}{on}\n",
                v.id, v.size_gb, v.state
            ));
        }
        if let Some(a) = &s.address {
            let on = a
                .associated_to
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_else(|| " unassociated".into());
            out.push_str(&format!("  address   {}{on}\n", a.public_ip));
        }
        if let Some(g) = &s.auto_scaling {
            let v = g
                .template_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "$Latest".into());
            out.push_str(&format!(
                "  group     {} desired {} template version {v}\n",
                g.group, g.desired
            ));
        }
        if !s.reason.is_empty() {
            out.push_str(&format!("  reason    {}\n", s.reason));
        }
    }
    out
}
