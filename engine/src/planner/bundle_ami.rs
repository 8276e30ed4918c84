//! `bundle-ami@WORKSPACE [ami-type] [--copy-to REGION ...]`

use super::{configured, pick, PlanError, Planner, Planning, Settings};
use crate::command::{Arg, ArgKind, Command, CommandSpec, Flag};
use crate::model::*;
use crate::plan::*;

pub const SPEC: CommandSpec = CommandSpec {
    name: "bundle-ami",
    args: &[Arg::optional(ArgKind::AmiType)],
    flags: &[Flag::CopyTo],
    help: "image <ami-type>-<YYYY-MM-DD> of the workspace's running instance, copied to other regions on request",
    planner: Planner::Workspace { scope, plan },
};

fn scope(command: &Command, settings: &Settings, scope: &mut Scope) {
    let mut regions = vec![scope.region.clone()];
    regions.extend(command.copy_to().iter().cloned());
    scope.image_family = Some((pick(command.ami_type(), settings.ami_type()).0, regions));
}

fn plan(p: &mut Planning<'_>, settings: &Settings) -> Result<(), PlanError> {
    let region = p.scope.region.clone();
    let Some(workspace) = p.scope.server.clone() else {
        return Err(PlanError::NoTarget { command: SPEC.name, synopsis: SPEC.synopsis() });
    };
    p.zones(configured(settings.region()))?;
    let copy_to = p.command.copy_to();
    for target in copy_to {
        if *target == region {
            return Err(PlanError::BadCopyRegion {
                region: target.clone(),
                reason: format!("the image is created there ({region}); copy only to other regions"),
            });
        }
        if p.inventory.zones_of(target).is_none() {
            return Err(PlanError::BadCopyRegion {
                region: target.clone(),
                reason: "this backend does not offer that region".into(),
            });
        }
    }
    let r = p.resources();
    let Some(instance) = r.live_instances().find(|i| i.state == InstanceState::Running) else {
        let state = r.instances.iter().map(|i| format!("{} is {}", i.id, i.state)).collect::<Vec<_>>().join(", ");
        return Err(PlanError::NothingToBundle { name: workspace, region, state });
    };
    let ami_type = pick(p.command.ami_type(), settings.ami_type()).0;
    let name = format!("{ami_type}-{}", p.inventory.now.date());
    for target in std::iter::once(&region).chain(copy_to) {
        if let Some(taken) = p.inventory.image_named(target, &name) {
            return Err(PlanError::ImageNameTaken { name, region: target.clone(), image: taken.id.clone() });
        }
    }
    // A server's data volumes stay out of the image (`NoDevice`): they are the server's
    // data, not part of what a new instance should boot with.
    let data: Vec<(String, VolumeId)> = r
        .volumes
        .iter()
        .filter(|v| v.attached_to.as_ref() == Some(&instance.id))
        .filter(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(crate::agent::DATA_ROLE))
        .map(|v| (v.device.clone().unwrap_or_else(|| crate::agent::DATA_DEVICE.to_string()), v.id.clone()))
        .collect();
    let instance_id = instance.id.clone();
    if crate::inventory::workspace_number(workspace.as_str()).is_none() {
        p.note(format!(
            "Server {workspace}'s instance {instance_id} reboots while it is imaged (AWS's default, so the snapshots \
             are of volumes at rest): it is unreachable for a minute or two."
        ));
    }
    for (device, volume) in &data {
        p.note(format!("Data volume {volume} ({device}) is left out of the image: it stays {workspace}'s alone."));
    }
    p.tag(&workspace, settings.tag_values());
    let exclude_devices = data.into_iter().map(|(device, _)| device).collect();
    let action = Action::CreateImage { instance: instance_id, name: name.clone(), no_reboot: false, exclude_devices };
    let image = p.push(&workspace, action, vec![], None);
    for target in copy_to {
        p.push(
            &workspace,
            Action::CopyImage { image: Ref::Output(image), to: target.clone(), name: name.clone() },
            vec![],
            None,
        );
    }
    p.note(format!(
        "The image is named {name}: its type and the backend's date ({}), which is how other commands find the newest image.",
        p.inventory.now.date()
    ));
    Ok(())
}
