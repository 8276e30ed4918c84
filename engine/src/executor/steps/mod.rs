//! One handler per [`Action`]: what applying a step does through the cloud, by resource
//! kind: [`network`] (addresses, the DNS gate), [`storage`] (volumes, snapshots),
//! [`launch`] (instances and launch settings), [`groups`] (auto scaling), [`images`],
//! [`tags`] (tags on existing resources).

mod groups;
mod images;
mod launch;
mod network;
mod storage;
mod tags;

pub(super) use groups::{update_group, Sizes};
pub(super) use storage::swap_back;

use super::ctx::Ctx;
use super::{Output, StepError};
use crate::cloud::ImageOptions;
use crate::model::*;
use crate::plan::{Action, Ref, Step, StepId};
use std::collections::BTreeMap;

/// The outputs of the steps a step runs after, by step.
pub(super) struct Inputs(pub BTreeMap<StepId, Output>);

impl Inputs {
    fn resolve<T: Clone>(&self, r: &Ref<T>, pick: impl Fn(&Output) -> Option<T>) -> Result<T, StepError> {
        match r {
            Ref::Existing(v) => Ok(v.clone()),
            Ref::Output(step) => self
                .0
                .get(step)
                .and_then(pick)
                .ok_or_else(|| StepError::Unexpected { what: format!("{step} produced no usable output") }),
        }
    }

    fn instance(&self, r: &Ref<InstanceId>) -> Result<InstanceId, StepError> {
        self.resolve(r, |o| match o {
            Output::Instance(id) => Some(id.clone()),
            _ => None,
        })
    }

    fn volume(&self, r: &Ref<VolumeId>) -> Result<VolumeId, StepError> {
        self.resolve(r, |o| match o {
            Output::Volume(id) => Some(id.clone()),
            _ => None,
        })
    }

    fn address(&self, r: &Ref<AllocationId>) -> Result<AllocationId, StepError> {
        self.resolve(r, |o| match o {
            Output::Address { allocation_id, .. } => Some(allocation_id.clone()),
            _ => None,
        })
    }

    fn launch(&self, r: &Ref<LaunchSource>) -> Result<LaunchSource, StepError> {
        self.resolve(r, |o| match o {
            Output::Launch(source) => Some(source.clone()),
            _ => None,
        })
    }

    fn snapshot(&self, r: &Ref<SnapshotId>) -> Result<SnapshotId, StepError> {
        self.resolve(r, |o| match o {
            Output::Snapshot(id) => Some(id.clone()),
            _ => None,
        })
    }

    fn image(&self, r: &Ref<ImageId>) -> Result<ImageId, StepError> {
        self.resolve(r, |o| match o {
            Output::Image(id) => Some(id.clone()),
            _ => None,
        })
    }
}

/// Applies one step.
pub(super) async fn run(ctx: &Ctx, step: &Step, inputs: &Inputs) -> Result<Output, StepError> {
    let (id, server) = (step.id, &step.server);
    let nothing = |()| Output::Nothing;
    match &step.action {
        Action::AllocateAddress { awaiting_dns } => {
            network::allocate_address(ctx, id, server, awaiting_dns.as_deref()).await
        }
        Action::DnsGate { host, address } => network::dns_gate(ctx, id, host, &inputs.address(address)?).await,
        Action::AssociateAddress { address, instance } => {
            network::associate_address(ctx, id, &inputs.address(address)?, &inputs.instance(instance)?).await
        }
        Action::ReleaseAddress { address, .. } => network::release_address(ctx, id, address).await.map(nothing),
        Action::CreateVolume { zone, size_gb, ebs, device, restore_from } => {
            let snapshot = restore_from.as_ref().map(|s| inputs.snapshot(s)).transpose()?;
            storage::create_volume(ctx, id, server, (zone, *size_gb), ebs, device.as_deref(), snapshot).await
        }
        Action::SwapDataVolume { retire, restore } => {
            storage::swap_data_volume(ctx, id, retire.as_ref(), &inputs.volume(restore)?).await.map(nothing)
        }
        Action::AttachVolume { volume, instance, device } => {
            storage::attach_volume(ctx, id, &inputs.volume(volume)?, &inputs.instance(instance)?, device).await
        }
        Action::CreateSnapshot { volume, backup } => {
            storage::create_snapshot(ctx, id, server, volume, backup.as_ref()).await
        }
        Action::DeleteVolume { volume } => ctx.delete_volume(id, volume).await.map(nothing),
        Action::DeleteSnapshot { region, snapshot, .. } => {
            storage::delete_snapshot(ctx, id, region.as_ref().unwrap_or(&ctx.region), snapshot).await.map(nothing)
        }
        Action::CopySnapshot { snapshot, to } => {
            storage::copy_snapshot(ctx, id, server, &inputs.snapshot(snapshot)?, to).await
        }
        Action::RunInstance { zone, subnet, instance_type, image, agent, settings, .. } => {
            let launch = launch::Launch { server, instance_type, image, agent: agent.as_ref(), settings };
            launch::run_instance(ctx, id, &launch, (zone, subnet.as_ref())).await
        }
        Action::TerminateInstance { instance } => ctx.terminate(id, instance).await.map(nothing),
        Action::TagResource { resource, tags } => tags::tag_resource(ctx, id, resource, tags).await.map(nothing),
        Action::WaitRunning { instance } => {
            ctx.wait_running(id, &inputs.instance(instance)?).await.map(|_| Output::Nothing)
        }
        Action::WaitHealthy { instance, replacing, launched_as } => {
            let instance = instance.as_ref().map(|i| inputs.instance(i)).transpose()?;
            let waited = launch::Waited { instance, replacing: replacing.as_ref(), launched_as: launched_as.as_ref() };
            launch::wait_healthy(ctx, id, server, waited).await
        }
        Action::CreateLaunchTemplate { name, instance_type, image, agent, settings, .. } => {
            let launch = launch::Launch { server, instance_type, image, agent: Some(agent), settings };
            launch::create_launch_template(ctx, id, &launch, name).await
        }
        Action::CreateLaunchTemplateVersion { template, instance_type, image, agent, settings, .. } => {
            let launch = launch::Launch { server, instance_type, image, agent: Some(agent), settings };
            launch::create_launch_template_version(ctx, id, &launch, template).await
        }
        Action::CreateLaunchConfiguration { name, instance_type, image, agent, settings, .. } => {
            let launch = launch::Launch { server, instance_type, image, agent: Some(agent), settings };
            launch::create_launch_configuration(ctx, id, &launch, name).await
        }
        Action::DeleteLaunchTemplate { template } => {
            launch::delete_launch_template(ctx, id, template).await.map(nothing)
        }
        Action::DeleteLaunchConfiguration { name } => {
            launch::delete_launch_configuration(ctx, id, name).await.map(nothing)
        }
        Action::CreateAutoScalingGroup { name, launch, zone, subnet, desired } => {
            let placement = (zone, subnet.as_ref());
            let fresh = matches!(launch, Ref::Output(_));
            groups::create_group(ctx, id, server, name, (&inputs.launch(launch)?, fresh), placement, *desired).await
        }
        Action::UpdateAutoScalingGroup { group, launch, min, desired, placement } => {
            let fresh = matches!(launch, Some(Ref::Output(_)));
            let launch = launch.as_ref().map(|l| inputs.launch(l)).transpose()?;
            let sizes = groups::Sizes { min: *min, desired: *desired, placement: placement.as_ref() };
            groups::update_group(ctx, id, group, (launch, fresh), sizes).await.map(nothing)
        }
        Action::AdoptInstance { group, instance } => {
            groups::adopt_instance(ctx, id, group, &inputs.instance(instance)?).await.map(nothing)
        }
        Action::DeleteAutoScalingGroup { group } => ctx.delete_group(id, group).await.map(nothing),
        Action::CreateImage { instance, name, no_reboot, exclude_devices } => {
            let options = ImageOptions { no_reboot: *no_reboot, exclude_devices: exclude_devices.clone() };
            images::create_image(ctx, id, server, instance, name, &options).await
        }
        Action::CopyImage { image, to, name } => images::copy_image(ctx, id, &inputs.image(image)?, to, name).await,
    }
}
