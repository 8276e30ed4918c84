//! EBS volumes: CreateVolume (creating → available), DeleteVolume, AttachVolume,
//! DetachVolume, DescribeVolumes.
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

impl World {
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
        self.record(format!(
            "created volume {id} ({} GiB {}, {}) in {}{}",
            volume.size_gb,
            volume.ebs.volume_type,
            volume.ebs.details(),
            volume.zone,
            tag_suffix(&volume.tags)
        ));
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
    let CreateVolumeRequest { client_token: _, zone, size_gb, tags, ebs } = request;
    format!("{zone} {size_gb} {tags:?} {ebs:?}")
}
