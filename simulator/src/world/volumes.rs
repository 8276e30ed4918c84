//! EBS volumes: CreateVolume (creating → available), DeleteVolume, AttachVolume,
//! DetachVolume, DescribeVolumes, and each volume's simulated data generation.
//!
//! **Data generations.** A volume's data is modelled as a generation number that grows
//! while the volume is attached to a running instance: one generation per whole virtual
//! minute ([`GENERATION_SECS`]) of each unbroken stretch of such time. Nothing ticks: a
//! volume keeps its generation as of the start of its current stretch and when that
//! stretch began ([`VolumeData`]), and the generation at any moment is computed from the
//! clock. A stretch ends (its whole minutes counted, the rest dropped) when the volume
//! detaches or its instance stops or starts shutting down; one begins when it is attached
//! to a running instance (an instance is never pending with a volume attached: AttachVolume
//! refuses one). A new volume has generation 0, one restored from a snapshot the
//! snapshot's. The data is kept with the volume (its shard), left out of the state file when
//! it is all zero, so older state files load with every volume at generation 0, not writing
//! until its next attachment.
//!
//! Invariants: a volume is `in-use` exactly when it names the instance it is attached to
//! (and its device); that instance exists, is in the same zone, and has no other volume
//! on the same device; a volume detaches when its instance terminates; only an
//! `available` volume can be deleted. Type, size, IOPS, throughput and encryption stay within
//! the catalog's EBS limits (`catalog::ebs_problems`), refused with AWS's codes.

use super::{err, tag_suffix, Transition, World};
use cellar_engine::catalog::{ebs_problems, EbsRequest};
use cellar_engine::cloud::{CloudError, CloudErrorKind as K, CloudResult, CreateVolumeRequest, Filter};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// creating → available for a volume.
pub const VOLUME_CREATE_SECS: u64 = 5;

/// A volume's data advances one generation per this many seconds attached to a running
/// instance (see the module doc).
pub const GENERATION_SECS: u64 = 60;

/// A volume's simulated data (see the module doc): its generation as of `writing_since`
/// (or for good, while it is not written), and since when it has been attached to a
/// running instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeData {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writing_since: Option<Timestamp>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl VolumeData {
    /// The generation at `now`.
    pub fn at(&self, now: Timestamp) -> u64 {
        let written = self.writing_since.map_or(0, |since| now.0.saturating_sub(since.0) / GENERATION_SECS);
        self.generation.saturating_add(written)
    }

    fn is_empty(&self) -> bool {
        *self == VolumeData::default()
    }
}

impl World {
    /// A volume's data generation at the world's now (see the module doc); `None` for a
    /// volume the world does not hold.
    pub fn volume_generation(&self, id: &VolumeId) -> Option<u64> {
        self.volumes.contains_key(id).then(|| self.volume_data.get(id).map_or(0, |d| d.at(self.now)))
    }

    /// Starts or ends a volume's writing stretch after its attachment or its instance's
    /// state changed: written while attached to a running instance.
    pub(super) fn refresh_writes(&mut self, id: &VolumeId) {
        let writing = self
            .volumes
            .get(id)
            .and_then(|v| v.attached_to.as_ref())
            .and_then(|i| self.instances.get(i))
            .is_some_and(|i| i.state == InstanceState::Running);
        let now = self.now;
        let data = self.volume_data.entry(id.clone()).or_default();
        match (data.writing_since, writing) {
            (None, true) => data.writing_since = Some(now),
            (Some(_), false) => *data = VolumeData { generation: data.at(now), writing_since: None },
            _ => {}
        }
        if data.is_empty() {
            self.volume_data.remove(id);
        }
    }

    /// [`World::refresh_writes`] of every volume attached to `instance`.
    pub(super) fn refresh_writes_of(&mut self, instance: &InstanceId) {
        let attached: Vec<VolumeId> =
            self.volumes.values().filter(|v| v.attached_to.as_ref() == Some(instance)).map(|v| v.id.clone()).collect();
        for volume in attached {
            self.refresh_writes(&volume);
        }
    }

    pub fn describe_volumes(&self, region: &Region, filter: &Filter) -> Vec<Volume> {
        super::index::select(&self.volumes, &self.index.volumes, filter)
            .filter(|v| v.zone.region() == *region && filter.matches(v.id.as_str(), &v.tags))
            .filter(|v| self.visible(v.id.as_str()))
            .cloned()
            .collect()
    }

    /// CreateVolume. A client token used before in the region returns the first answer
    /// when the parameters are the same (even after that volume is gone), and
    /// `IdempotentParameterMismatch` when they differ, as AWS does.
    pub fn create_volume(&mut self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        let token = request.client_token.clone().filter(|t| !t.is_empty());
        let key = token.map(|t| format!("{region}/{t}"));
        let params = volume_params(&request);
        if let Some(earlier) = key.as_ref().and_then(|k| self.volume_tokens.get(k)) {
            if earlier.params != params {
                let id = &earlier.volume.id;
                return Err(err(
                    K::Other("IdempotentParameterMismatch".into()),
                    format!("The client token was used for {id} with other parameters."),
                ));
            }
            let volume = earlier.volume.clone();
            self.record(format!("CreateVolume: client token already used, {} returned again", volume.id));
            return Ok(volume);
        }
        let volume = self.new_volume(region, request)?;
        if let Some(key) = key {
            self.volume_tokens.insert(key, VolumeToken { params, volume: volume.clone() });
        }
        Ok(volume)
    }

    fn new_volume(&mut self, region: &Region, request: CreateVolumeRequest) -> CloudResult<Volume> {
        self.check_zone(region, &request.zone)?;
        super::tags::check_tags(&Tags::new(), &request.tags)?;
        let ebs = &request.ebs;
        let limits = EbsRequest {
            volume_type: ebs.volume_type,
            size_gb: Some(request.size_gb),
            iops: ebs.iops,
            throughput: ebs.throughput,
            encrypted: ebs.encrypted,
            kms_key: ebs.kms_key.is_some(),
        };
        if let Some(problem) = ebs_problems(&limits).into_iter().next() {
            return Err(CloudError::from_code(problem.aws_code(), problem.to_string()));
        }
        let generation = match &request.snapshot {
            Some(snapshot) => self.restorable(region, snapshot, request.size_gb)?,
            None => 0,
        };
        let id = VolumeId::new(self.next_id("vol"));
        let volume = Volume {
            id: id.clone(),
            state: VolumeState::Creating,
            zone: request.zone,
            size_gb: request.size_gb,
            attached_to: None,
            device: None,
            tags: request.tags,
            ebs: request.ebs,
        };
        let from =
            request.snapshot.as_ref().map(|s| format!(" from {s} (generation {generation})")).unwrap_or_default();
        self.record(format!(
            "created volume {id} ({} GiB {}, {}) in {}{from}{}",
            volume.size_gb,
            volume.ebs.volume_type,
            volume.ebs.details(),
            volume.zone,
            tag_suffix(&volume.tags)
        ));
        if generation > 0 {
            self.volume_data.insert(id.clone(), VolumeData { generation, writing_since: None });
        }
        self.index.volumes.add(&volume.tags, &id);
        self.volumes.insert(id.clone(), volume.clone());
        self.hide_new(id.to_string());
        self.schedule(VOLUME_CREATE_SECS, Transition::VolumeAvailable(id));
        Ok(volume)
    }

    pub fn delete_volume(&mut self, region: &Region, id: &VolumeId) -> CloudResult<()> {
        let volume = self.volume_in(region, id)?;
        match volume.state {
            VolumeState::Available => {}
            VolumeState::InUse => {
                let holder = volume.attached_to.as_ref().map(|i| i.to_string()).unwrap_or_default();
                return Err(err(K::VolumeInUse, format!("Volume {id} is currently attached to {holder}")));
            }
            other => {
                return Err(err(K::IncorrectState, format!("The volume '{id}' is '{other}'")));
            }
        }
        if let Some(volume) = self.volumes.remove(id) {
            self.index.volumes.remove(&volume.tags, id);
        }
        self.volume_data.remove(id);
        self.record(format!("deleted volume {id}"));
        Ok(())
    }

    pub fn attach_volume(
        &mut self,
        region: &Region,
        volume_id: &VolumeId,
        instance_id: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        self.check_attachment(region, volume_id, instance_id, device)?;
        let volume = self.volumes.get_mut(volume_id).expect("checked above");
        volume.state = VolumeState::InUse;
        volume.attached_to = Some(instance_id.clone());
        volume.device = Some(device.to_string());
        self.refresh_writes(volume_id);
        self.record(format!("attached volume {volume_id} to {instance_id} as {device}"));
        Ok(())
    }

    /// AttachVolume's checks, in AWS's order: both exist, same zone, the volume available,
    /// the instance running or stopped, the device free on it.
    fn check_attachment(
        &self,
        region: &Region,
        volume_id: &VolumeId,
        instance_id: &InstanceId,
        device: &str,
    ) -> CloudResult<()> {
        let volume = self.volume_in(region, volume_id)?;
        let instance = self.instance_in(region, instance_id)?;
        if volume.zone != instance.zone {
            return Err(err(
                K::VolumeZoneMismatch,
                format!(
                    "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}' ({} vs {})",
                    volume.zone, instance.zone
                ),
            ));
        }
        match volume.state {
            VolumeState::Available => {}
            VolumeState::InUse => {
                return Err(err(K::VolumeInUse, format!("{volume_id} is already attached to an instance")));
            }
            other => {
                return Err(err(
                    K::IncorrectState,
                    format!("The volume '{volume_id}' is not 'available' (it is '{other}')"),
                ));
            }
        }
        Self::check_running_or_stopped(instance)?;
        if !valid_attach_device(device) {
            return Err(err(
                K::InvalidParameterValue,
                format!("Value ({device}) for parameter device is invalid. {device} is not a valid EBS device name."),
            ));
        }
        let device_taken = self
            .volumes
            .values()
            .any(|v| v.attached_to.as_ref() == Some(instance_id) && v.device.as_deref() == Some(device));
        if device_taken {
            return Err(err(K::InvalidParameterValue, format!("Attachment point {device} is already in use")));
        }
        Ok(())
    }

    /// Detaches a volume from the instance it is attached to.
    pub fn detach_volume(
        &mut self,
        region: &Region,
        volume_id: &VolumeId,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        let volume = self.volume_in(region, volume_id)?;
        if volume.attached_to.as_ref() != Some(instance_id) {
            return Err(err(
                K::IncorrectState,
                format!("Volume '{volume_id}' is not attached to instance '{instance_id}' (it is '{}')", volume.state),
            ));
        }
        self.release_volume(volume_id);
        self.record(format!("detached volume {volume_id} from {instance_id}"));
        Ok(())
    }

    fn release_volume(&mut self, volume_id: &VolumeId) {
        if let Some(volume) = self.volumes.get_mut(volume_id) {
            volume.state = VolumeState::Available;
            volume.attached_to = None;
            volume.device = None;
        }
        self.refresh_writes(volume_id);
    }

    /// Detaches every volume of a terminated instance.
    pub(super) fn release_volumes_of(&mut self, id: &InstanceId) {
        let volumes: Vec<VolumeId> =
            self.volumes.values().filter(|v| v.attached_to.as_ref() == Some(id)).map(|v| v.id.clone()).collect();
        for volume in volumes {
            self.release_volume(&volume);
            self.record(format!("detached volume {volume} from terminated {id}"));
        }
    }

    /// [`Transition::VolumeAvailable`]: creating → available.
    pub(super) fn volume_available(&mut self, id: &VolumeId) {
        if let Some(volume) = self.volumes.get_mut(id) {
            if volume.state == VolumeState::Creating {
                volume.state = VolumeState::Available;
                self.record(format!("volume {id}: creating -> available"));
            }
        }
    }
}

/// A device name AttachVolume takes on Linux: `/dev/sd[a-z]`, `/dev/xvd[a-z]` (AWS's
/// Linux device naming), optionally with a partition number.
fn valid_attach_device(device: &str) -> bool {
    let Some(rest) = device.strip_prefix("/dev/sd").or_else(|| device.strip_prefix("/dev/xvd")) else {
        return false;
    };
    let mut chars = rest.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_digit()) && rest.len() <= 3
}

/// The first answer to a CreateVolume with a client token, and what it was asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeToken {
    /// The request's parameters (all but the token), as compared on a retry.
    pub params: String,
    pub volume: Volume,
}

/// The parameters AWS compares for a repeated client token.
fn volume_params(request: &CreateVolumeRequest) -> String {
    let CreateVolumeRequest { client_token: _, zone, size_gb, tags, ebs, snapshot } = request;
    // Without a snapshot, as tokens kept before volumes could be restored were written.
    match snapshot {
        None => format!("{zone} {size_gb} {tags:?} {ebs:?}"),
        Some(snapshot) => format!("{zone} {size_gb} {tags:?} {ebs:?} {snapshot}"),
    }
}
