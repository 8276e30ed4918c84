//! A server's data volumes: one or more EBS volumes, each attached at a device name,
//! mounted at a mount point and holding some of the persisted directories.
//!
//! How a volume in AWS is tied to its configuration entry: every data volume carries
//! `cellar:role=data` (as it always has); a volume also carries `cellar:device=<device>`
//! ([`DEVICE_TAG`]) unless it is the server's first volume at the default device
//! `/dev/sdf`. A data volume without the device tag is the server's *first* volume,
//! whatever device the configuration gives it, so every server created before there were
//! several volumes (one untagged volume) is still recognised, and a one-volume server's
//! plans, tags and user data stay what they were.
//!
//! On the instance a volume is found by its volume id (`/dev/disk/by-id/nvme-Amazon_
//! Elastic_Block_Store_vol…` on Nitro instances) and by its device name only where there is
//! no NVMe (Xen, where `/dev/sdX` appears as `/dev/xvdX`): see [`script`].

pub mod script;

use crate::model::{Volume, VolumeId, VolumeState, ROLE_TAG};
use serde::{Deserialize, Serialize};

/// The tag that names a data volume's device (absent on a server's first volume at [`DEFAULT_DEVICE`]).
pub const DEVICE_TAG: &str = "cellar:device";
/// The value of [`ROLE_TAG`] on a server's data volumes.
pub const DATA_ROLE: &str = "data";
/// The role of a volume `restore-server` is restoring from a backup: not a data volume (no
/// agent attaches it) until the server's old volume has made way for it.
pub const RESTORING_ROLE: &str = "restoring";
/// The role of a data volume a restore replaced: kept, with [`REPLACED_AT_TAG`], until
/// `--delete-old` or by hand.
pub const REPLACED_ROLE: &str = "replaced";
/// When a restore replaced the volume (RFC 3339, UTC).
pub const REPLACED_AT_TAG: &str = "cellar:replaced-at";
/// The device a server's first volume is attached as unless its configuration says otherwise.
pub const DEFAULT_DEVICE: &str = "/dev/sdf";
/// Where a server's first volume is mounted unless its configuration says otherwise.
pub const DEFAULT_MOUNT: &str = "/data";

/// One data volume as the agent sees it: where it is attached, where it is mounted and the
/// directories persisted on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    pub device: String,
    pub mount: String,
    pub persist: Vec<String>,
}

impl VolumeSpec {
    /// The one volume of a server configured without `volumes`: `/dev/sdf` at `/data`.
    pub fn legacy(persist: Vec<String>) -> Self {
        VolumeSpec { device: DEFAULT_DEVICE.to_string(), mount: DEFAULT_MOUNT.to_string(), persist }
    }

    /// Whether this is [`VolumeSpec::legacy`] (its persisted directories aside).
    pub fn is_default_place(&self) -> bool {
        self.device == DEFAULT_DEVICE && self.mount == DEFAULT_MOUNT
    }
}

/// Whether `v` is one of a server's data volumes (and not deleted).
pub fn is_data(v: &Volume) -> bool {
    v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE) && v.state != VolumeState::Deleted
}

/// The device a data volume is attached as: its [`DEVICE_TAG`], or `first_device` (the
/// device of the server's first configured volume) for an untagged one.
pub fn device_of<'a>(v: &'a Volume, first_device: &'a str) -> &'a str {
    v.tags.get(DEVICE_TAG).map(String::as_str).unwrap_or(first_device)
}

/// The tags a new data volume gets besides `Name` and the configured ones: the role, and
/// the device unless it is the first volume at the default device.
/// The role a new volume is created with: `restoring` when it is restored from a backup
/// (`restore-server`), else `data`.
pub fn role_of_new(restored: bool) -> &'static str {
    match restored {
        true => RESTORING_ROLE,
        false => DATA_ROLE,
    }
}

pub fn volume_tags(device: Option<&str>, role: &str) -> Vec<(String, String)> {
    let mut tags = vec![(ROLE_TAG.to_string(), role.to_string())];
    tags.extend(device.map(|d| (DEVICE_TAG.to_string(), d.to_string())));
    tags
}

/// The server's data volumes in its configuration's order: each spec with the volume that
/// is tagged with its device (the first spec: or untagged), `None` where there is none;
/// then the data volumes no spec claims (with the device they carry).
pub fn match_volumes<'v, 's>(specs: &'s [VolumeSpec], volumes: &'v [Volume]) -> Matched<'v, 's> {
    let data: Vec<&Volume> = volumes.iter().filter(|v| is_data(v)).collect();
    let mut taken = vec![false; data.len()];
    let mut pairs = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let found = data.iter().enumerate().position(|(i, v)| {
            !taken[i]
                && match v.tags.get(DEVICE_TAG) {
                    Some(d) => *d == spec.device,
                    None => n == 0,
                }
        });
        if let Some(i) = found {
            taken[i] = true;
        }
        pairs.push((spec, found.map(|i| data[i])));
    }
    let unclaimed = data.iter().zip(&taken).filter(|(_, t)| !**t).map(|(v, _)| *v).collect();
    Matched { pairs, unclaimed }
}

/// What [`match_volumes`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'v, 's> {
    pub pairs: Vec<(&'s VolumeSpec, Option<&'v Volume>)>,
    pub unclaimed: Vec<&'v Volume>,
}

/// The link udev makes for an EBS volume on a Nitro instance: the volume id without its dash.
pub fn nvme_by_id(volume: &VolumeId) -> String {
    format!("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}", volume.as_str().replace('-', ""))
}

/// The name Linux gives a device on a Xen instance: `/dev/sdf` appears as `/dev/xvdf`.
pub fn xen_name(device: &str) -> String {
    match device.strip_prefix("/dev/sd") {
        Some(rest) => format!("/dev/xvd{rest}"),
        None => device.to_string(),
    }
}

/// Why `device` cannot be a data volume's device name, if it cannot. AWS's device naming
/// for Linux instances: `/dev/sd[b-z]` or `/dev/xvd[b-z]` for EBS volumes (`/dev/sda*` and
/// `/dev/xvda` are the root device), `/dev/sd[f-p]` recommended; cellar formats the whole
/// disk, so no partition numbers.
pub fn device_problem(device: &str) -> Option<String> {
    let letter = device.strip_prefix("/dev/sd").or_else(|| device.strip_prefix("/dev/xvd"));
    match letter.map(|l| l.as_bytes()) {
        Some([b'a', ..]) => Some(format!("{device} is the root device's name")),
        Some([c]) if (b'b'..=b'z').contains(c) => None,
        _ => Some(format!("{device:?} is not a device name EC2 takes for an EBS volume")),
    }
}

#[cfg(test)]
mod tests;
