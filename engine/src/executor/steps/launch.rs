//! Instances and the launch settings (templates, configurations) they launch from.

use super::super::ctx::Ctx;
use super::super::{Output, StepError};
use crate::agent::{self, AgentInvocation};
use crate::api::Api;
use crate::cloud::*;
use crate::model::*;
use crate::plan::{AgentSpec, StepId};

/// What an instance of `server` launches with.
pub(super) struct Launch<'a> {
    pub server: &'a ServerName,
    pub instance_type: &'a InstanceType,
    pub image: &'a ImageId,
    /// `None`: no user data at all (a workspace).
    pub agent: Option<&'a AgentSpec>,
    pub settings: &'a LaunchSettings,
}

impl Launch<'_> {
    fn user_data(&self) -> Result<String, StepError> {
        let Some(spec) = self.agent else { return Ok(String::new()) };
        agent::user_data(&AgentInvocation {
            mode: spec.mode,
            server: self.server.clone(),
            persist: spec.persist.clone(),
            spawn_hook: spec.spawn_hook.clone(),
            volumes: spec.volumes.clone(),
        })
        .map_err(|e| StepError::Unexpected { what: format!("the user data of {} cannot be written: {e}", self.server) })
    }

    fn spec(&self) -> Result<LaunchSpec, StepError> {
        Ok(LaunchSpec {
            instance_type: self.instance_type.clone(),
            image: self.image.clone(),
            user_data: self.user_data()?,
            settings: self.settings.clone(),
        })
    }
}

/// RunInstances with the plan's client token: a retry never launches twice.
pub(super) async fn run_instance(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    (zone, subnet): (&Zone, Option<&SubnetId>),
    client_token: &str,
) -> Result<Output, StepError> {
    let request = RunInstanceRequest {
        zone: zone.clone(),
        subnet: subnet.cloned(),
        instance_type: launch.instance_type.clone(),
        image: launch.image.clone(),
        user_data: launch.user_data()?,
        settings: launch.settings.clone(),
        tags: ctx.tags(launch.server),
        client_token: client_token.to_string(),
    };
    let i = ctx.call(id, Api::RunInstances, || ctx.cloud.run_instance(&ctx.region, request.clone())).await?;
    Ok(Output::Instance(i.id))
}

pub(super) async fn create_launch_template(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    name: &str,
) -> Result<Output, StepError> {
    let request =
        CreateLaunchTemplateRequest { name: name.to_string(), spec: launch.spec()?, tags: ctx.tags(launch.server) };
    let t = ctx
        .call(id, Api::CreateLaunchTemplate, || ctx.cloud.create_launch_template(&ctx.region, request.clone()))
        .await?;
    Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
}

pub(super) async fn create_launch_template_version(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    template: &LaunchTemplateId,
) -> Result<Output, StepError> {
    let spec = launch.spec()?;
    let t = ctx
        .call(id, Api::CreateLaunchTemplateVersion, || {
            ctx.cloud.create_launch_template_version(&ctx.region, template, spec.clone())
        })
        .await?;
    Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
}

pub(super) async fn create_launch_configuration(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    name: &str,
) -> Result<Output, StepError> {
    let spec = launch.spec()?;
    let c = ctx
        .call(id, Api::CreateLaunchConfiguration, || {
            ctx.cloud.create_launch_configuration(&ctx.region, name, spec.clone())
        })
        .await?;
    Ok(Output::Launch(LaunchSource::Configuration { name: c.name }))
}

pub(super) async fn delete_launch_template(
    ctx: &Ctx,
    id: StepId,
    template: &LaunchTemplateId,
) -> Result<(), StepError> {
    ctx.call(id, Api::DeleteLaunchTemplate, || ctx.cloud.delete_launch_template(&ctx.region, template)).await
}

pub(super) async fn delete_launch_configuration(ctx: &Ctx, id: StepId, name: &str) -> Result<(), StepError> {
    ctx.call(id, Api::DeleteLaunchConfiguration, || ctx.cloud.delete_launch_configuration(&ctx.region, name)).await
}

/// Waits until the server is healthy on `instance`, or (when `None`) on whichever instance
/// is current other than `replacing`.
pub(super) async fn wait_healthy(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    instance: Option<InstanceId>,
    replacing: Option<&InstanceId>,
) -> Result<Output, StepError> {
    ctx.wait(id, format!("{server} to be healthy"), || async {
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
