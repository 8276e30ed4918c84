//! One handler per [`Action`]: what applying a step does through the cloud.

use super::ctx::Ctx;
use super::{Output, StepError};
use crate::agent::{self, AgentInvocation, DATA_ROLE};
use crate::api::Api;
use crate::caller::attach_not_ready;
use crate::cloud::*;
use crate::model::*;
use crate::plan::{Action, AgentSpec, Ref, Step, StepId};
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

    fn image(&self, r: &Ref<ImageId>) -> Result<ImageId, StepError> {
        self.resolve(r, |o| match o {
            Output::Image(id) => Some(id.clone()),
            _ => None,
        })
    }
}

fn user_data(server: &ServerName, spec: &AgentSpec) -> Result<String, StepError> {
    agent::user_data(&AgentInvocation {
        mode: spec.mode,
        server: server.clone(),
        persist: spec.persist.clone(),
        spawn_hook: spec.spawn_hook.clone(),
    })
    .map_err(|e| StepError::Unexpected { what: format!("the user data of {server} cannot be written: {e}") })
}

fn launch_spec(
    server: &ServerName,
    instance_type: &InstanceType,
    image: &ImageId,
    agent: &AgentSpec,
) -> Result<LaunchSpec, StepError> {
    Ok(LaunchSpec { instance_type: instance_type.clone(), image: image.clone(), user_data: user_data(server, agent)? })
}

/// Applies one step.
pub(super) async fn run(ctx: &Ctx, step: &Step, inputs: &Inputs) -> Result<Output, StepError> {
    let (id, server, cloud, region) = (step.id, &step.server, &*ctx.cloud, &ctx.region);
    match &step.action {
        Action::AllocateAddress { awaiting_dns } => allocate_address(ctx, id, server, awaiting_dns.as_deref()).await,
        Action::DnsGate { host, address } => dns_gate(ctx, id, host, &inputs.address(address)?).await,
        Action::CreateVolume { zone, size_gb } => create_volume(ctx, id, server, zone, *size_gb).await,
        Action::RunInstance { zone, instance_type, image, agent, client_token, .. } => {
            let request = RunInstanceRequest {
                zone: zone.clone(),
                instance_type: instance_type.clone(),
                image: image.clone(),
                user_data: agent.as_ref().map(|a| user_data(server, a)).transpose()?.unwrap_or_default(),
                tags: ctx.tags(server),
                client_token: client_token.clone(),
            };
            let i = ctx.call(id, Api::RunInstances, || cloud.run_instance(region, request.clone())).await?;
            Ok(Output::Instance(i.id))
        }
        Action::AttachVolume { volume, instance, device } => {
            attach_volume(ctx, id, &inputs.volume(volume)?, &inputs.instance(instance)?, device).await
        }
        Action::AssociateAddress { address, instance } => {
            let (address, instance) = (inputs.address(address)?, inputs.instance(instance)?);
            ctx.wait_running(id, &instance).await?;
            if ctx.address(id, &address).await?.associated_to.as_ref() != Some(&instance) {
                ctx.call(id, Api::AssociateAddress, || cloud.associate_address(region, &address, &instance)).await?;
            }
            Ok(Output::Nothing)
        }
        Action::CreateLaunchTemplate { name, instance_type, image, agent, .. } => {
            let request = CreateLaunchTemplateRequest {
                name: name.clone(),
                spec: launch_spec(server, instance_type, image, agent)?,
                tags: ctx.tags(server),
            };
            let t = ctx
                .call(id, Api::CreateLaunchTemplate, || cloud.create_launch_template(region, request.clone()))
                .await?;
            Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
        }
        Action::CreateLaunchTemplateVersion { template, instance_type, image, agent, .. } => {
            let spec = launch_spec(server, instance_type, image, agent)?;
            let t = ctx
                .call(id, Api::CreateLaunchTemplateVersion, || {
                    cloud.create_launch_template_version(region, template, spec.clone())
                })
                .await?;
            Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
        }
        Action::CreateLaunchConfiguration { name, instance_type, image, agent, .. } => {
            let spec = launch_spec(server, instance_type, image, agent)?;
            let c = ctx
                .call(id, Api::CreateLaunchConfiguration, || {
                    cloud.create_launch_configuration(region, name, spec.clone())
                })
                .await?;
            Ok(Output::Launch(LaunchSource::Configuration { name: c.name }))
        }
        Action::CreateAutoScalingGroup { name, launch, zone, desired } => {
            let request = CreateAutoScalingGroupRequest {
                name: name.clone(),
                launch: inputs.launch(launch)?,
                zones: vec![zone.clone()],
                min: (*desired).min(1),
                max: 1,
                desired: *desired,
                tags: ctx.tags(server),
            };
            ctx.call(id, Api::CreateAutoScalingGroup, || cloud.create_auto_scaling_group(region, request.clone()))
                .await?;
            Ok(Output::Group(name.clone()))
        }
        Action::UpdateAutoScalingGroup { group, launch, min, desired } => {
            let update = UpdateAutoScalingGroupRequest {
                launch: launch.as_ref().map(|l| inputs.launch(l)).transpose()?,
                min: *min,
                max: None,
                desired: *desired,
            };
            ctx.call(id, Api::UpdateAutoScalingGroup, || {
                cloud.update_auto_scaling_group(region, group, update.clone())
            })
            .await?;
            Ok(Output::Nothing)
        }
        Action::AdoptInstance { group, instance } => {
            let instance = inputs.instance(instance)?;
            ctx.wait_running(id, &instance).await?;
            ctx.call(id, Api::AttachInstances, || cloud.attach_instance_to_group(region, group, &instance)).await?;
            Ok(Output::Nothing)
        }
        Action::DeleteAutoScalingGroup { group } => ctx.delete_group(id, group).await.map(|()| Output::Nothing),
        Action::TerminateInstance { instance } => ctx.terminate(id, instance).await.map(|()| Output::Nothing),
        Action::DeleteLaunchTemplate { template } => ctx
            .call(id, Api::DeleteLaunchTemplate, || cloud.delete_launch_template(region, template))
            .await
            .map(|()| Output::Nothing),
        Action::DeleteLaunchConfiguration { name } => ctx
            .call(id, Api::DeleteLaunchConfiguration, || cloud.delete_launch_configuration(region, name))
            .await
            .map(|()| Output::Nothing),
        Action::ReleaseAddress { address, .. } => {
            ctx.call(id, Api::ReleaseAddress, || cloud.release_address(region, address)).await.map(|()| Output::Nothing)
        }
        Action::CreateSnapshot { volume } => create_snapshot(ctx, id, server, volume).await,
        Action::DeleteVolume { volume } => ctx.delete_volume(id, volume).await.map(|()| Output::Nothing),
        Action::CreateImage { instance, name } => {
            let tags = ctx.tags(server);
            let image =
                ctx.call(id, Api::CreateImage, || cloud.create_image(region, instance, name, tags.clone())).await?;
            ctx.wait_image(id, region, &image.id).await?;
            Ok(Output::Image(image.id))
        }
        Action::CopyImage { image, to, name } => {
            let image = inputs.image(image)?;
            let copy = ctx.call(id, Api::CopyImage, || cloud.copy_image(region, &image, to, name)).await?;
            ctx.wait_image(id, to, &copy.id).await?;
            Ok(Output::Image(copy.id))
        }
        Action::WaitRunning { instance } => {
            ctx.wait_running(id, &inputs.instance(instance)?).await?;
            Ok(Output::Nothing)
        }
        Action::WaitHealthy { instance, replacing } => {
            let instance = instance.as_ref().map(|i| inputs.instance(i)).transpose()?;
            wait_healthy(ctx, id, server, instance, replacing.as_ref()).await
        }
    }
}

async fn allocate_address(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    awaiting_dns: Option<&str>,
) -> Result<Output, StepError> {
    let mut tags = ctx.tags(server);
    if let Some(host) = awaiting_dns {
        tags.insert(AWAITING_DNS_TAG.to_string(), host.to_string());
    }
    let a = ctx.call(id, Api::AllocateAddress, || ctx.cloud.allocate_address(&ctx.region, tags.clone())).await?;
    Ok(Output::Address { allocation_id: a.allocation_id, public_ip: a.public_ip })
}

/// Passes when `host` points at the address, or the operator confirms it will; then the
/// address loses its awaiting-DNS tag.
async fn dns_gate(ctx: &Ctx, id: StepId, host: &str, address: &AllocationId) -> Result<Output, StepError> {
    let ip = ctx.address(id, address).await?.public_ip;
    let records = ctx.call(id, Api::DnsLookup, || ctx.cloud.resolve_dns(host)).await?;
    if !records.contains(&ip) && !ctx.operator.confirm_dns(host, &ip) {
        return Err(StepError::DnsNotConfirmed { host: host.to_string(), ip });
    }
    ctx.call(id, Api::DeleteTags, || {
        ctx.cloud.delete_tags(&ctx.region, address.as_str(), vec![AWAITING_DNS_TAG.to_string()])
    })
    .await?;
    Ok(Output::Nothing)
}

async fn create_volume(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    zone: &Zone,
    size_gb: u32,
) -> Result<Output, StepError> {
    let mut tags = ctx.tags(server);
    tags.insert(ROLE_TAG.to_string(), DATA_ROLE.to_string());
    let request = CreateVolumeRequest { zone: zone.clone(), size_gb, tags };
    let v = ctx.call(id, Api::CreateVolume, || ctx.cloud.create_volume(&ctx.region, request.clone())).await?;
    ctx.wait(format!("volume {} to become available", v.id), || async {
        Ok(ctx.volume(id, &v.id).await?.filter(|v| v.state == VolumeState::Available).map(|_| ()))
    })
    .await?;
    Ok(Output::Volume(v.id))
}

/// Attaches once the instance runs; the agent on the instance may have attached it
/// already, which is success.
async fn attach_volume(
    ctx: &Ctx,
    id: StepId,
    volume: &VolumeId,
    instance: &InstanceId,
    device: &str,
) -> Result<Output, StepError> {
    ctx.wait_running(id, instance).await?;
    ctx.wait(format!("volume {volume} to be attached to {instance}"), || async {
        let v = ctx
            .volume(id, volume)
            .await?
            .ok_or_else(|| StepError::Unexpected { what: format!("volume {volume} no longer exists") })?;
        match (&v.attached_to, v.state) {
            (Some(holder), _) if holder == instance => Ok(Some(())),
            (None, VolumeState::Available) => {
                match ctx.cloud.attach_volume(&ctx.region, volume, instance, device).await {
                    Ok(()) => Ok(None),
                    Err(e) if attach_not_ready(&e) => Ok(None),
                    Err(source) => Err(StepError::Cloud { call: Api::AttachVolume, source }),
                }
            }
            (Some(holder), _) => {
                Err(StepError::Unexpected { what: format!("volume {volume} is attached to {holder}") })
            }
            _ => Ok(None),
        }
    })
    .await?;
    Ok(Output::Nothing)
}

async fn create_snapshot(ctx: &Ctx, id: StepId, server: &ServerName, volume: &VolumeId) -> Result<Output, StepError> {
    let tags = ctx.tags(server);
    let snapshot =
        ctx.call(id, Api::CreateSnapshot, || ctx.cloud.create_snapshot(&ctx.region, volume, tags.clone())).await?;
    let filter = Filter::Id(snapshot.id.to_string());
    ctx.wait(format!("snapshot {} of {volume} to complete", snapshot.id), || async {
        let all = ctx.call(id, Api::DescribeSnapshots, || ctx.cloud.describe_snapshots(&ctx.region, &filter)).await?;
        Ok(all.iter().any(|s| s.id == snapshot.id && s.state == SnapshotState::Completed).then_some(()))
    })
    .await?;
    Ok(Output::Snapshot(snapshot.id))
}

/// Waits until the server is healthy on `instance`, or (when `None`) on whichever instance
/// is current other than `replacing`.
async fn wait_healthy(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    instance: Option<InstanceId>,
    replacing: Option<&InstanceId>,
) -> Result<Output, StepError> {
    ctx.wait(format!("{server} to be healthy"), || async {
        let target = match &instance {
            Some(i) => Some(i.clone()),
            None => ctx.current_instance(id, server, replacing).await?.map(|i| i.id),
        };
        match target {
            Some(i) if ctx.healthy_on(id, server, &i).await? => Ok(Some(())),
            _ => Ok(None),
        }
    })
    .await?;
    Ok(Output::Nothing)
}
