//! A server's data volumes in its plans: create-server creates every configured volume
//! (each compensated by its deletion); attach-instance attaches every one the server has,
//! each at its device (see `crate::volumes` for how a volume is tied to its entry).

use super::network;
use super::{configured, PlanError, Planning};
use crate::command::Origin;
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;
use crate::volumes::{match_volumes, VolumeSpec, DEFAULT_DEVICE};

/// The configured volumes as the agent and the matching see them.
pub fn specs(config: &ServerConfig) -> Vec<VolumeSpec> {
    config.volumes.value.iter().map(|v| v.spec()).collect()
}

/// A CreateVolume step per configured volume after `gate`, the first of `first_size`
/// (create-server's size and where it came from), the others of their configured sizes.
/// Returns each step with its device. The first volume at `/dev/sdf` is untagged, as a
/// one-volume server's always was; every other carries its device.
pub fn create_all(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    zone: &Zone,
    (first_size, first_origin): (u32, Origin),
    gate: Option<StepId>,
) -> Result<Vec<(Ref<VolumeId>, String)>, PlanError> {
    let mut sized = Vec::new();
    for (n, v) in config.volumes.value.iter().enumerate() {
        let size = match (n, &v.size_gb) {
            (0, _) => (first_size, first_origin.clone()),
            (_, Some(s)) => (s.value, configured(s)),
            (_, None) => {
                return Err(PlanError::MissingEbsSize {
                    server: config.name.clone(),
                    file: config.file.display().to_string(),
                })
            }
        };
        let ebs = network::data_volume(&config.launch_settings.ebs, size.0, size.1)?;
        sized.push((v.device.value.clone(), size.0, ebs));
    }
    let mut out = Vec::new();
    for (n, (device, size_gb, ebs)) in sized.into_iter().enumerate() {
        let tagged = (n > 0 || device != DEFAULT_DEVICE).then(|| device.clone());
        let step = p.push(
            &config.name,
            Action::CreateVolume { zone: zone.clone(), size_gb, ebs, device: tagged, restore_from: None },
            vec![gate],
            Some(Undo::DeleteVolume),
        );
        out.push((Ref::Output(step), device));
    }
    Ok(out)
}

/// The server's existing data volumes, each with the device its configuration gives it, in
/// the configuration's order; a configured volume that does not exist is a refusal (its
/// agent could not mount it). The first is the one attach and start place instances by.
pub fn existing<'r>(p: &Planning<'r>, config: &ServerConfig) -> Result<Vec<(&'r Volume, String)>, PlanError> {
    let specs = specs(config);
    let r = p.resources();
    let matched = match_volumes(&specs, &r.volumes);
    let missing: Vec<&str> =
        matched.pairs.iter().filter(|(_, v)| v.is_none()).map(|(s, _)| s.device.as_str()).collect();
    if matched.pairs.first().is_some_and(|(_, v)| v.is_none()) && specs.len() == 1 {
        return Err(PlanError::NoVolume { server: config.name.clone(), region: p.scope.region.clone() });
    }
    if !missing.is_empty() {
        return Err(PlanError::MissingVolumes {
            server: config.name.clone(),
            devices: missing.join(", "),
            origin: configured(&config.volumes),
        });
    }
    Ok(matched.pairs.into_iter().filter_map(|(s, v)| Some((v?, s.device.clone()))).collect())
}
