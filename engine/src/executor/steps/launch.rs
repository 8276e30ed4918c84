//! Instances and the launch settings (templates, configurations) they launch from.

use super::super::ctx::Ctx;
use super::super::{Output, StepError, TOKEN_TAG};
use crate::agent::{self, AgentInvocation};
use crate::api::Api;
use crate::cloud::*;
use crate::model::*;
use crate::plan::{AgentSpec, LaunchedAs, StepId};

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

/// RunInstances with the step's token as its client token (the plan's `client_token` is
/// one of the step's parameters the token covers, so each apply of the plan has its own,
/// and a resumed apply the one its journal recorded): a retry never launches twice. The
/// instance carries the token as a tag too, so that a launch whose every answer was lost
/// is found (and is the step's result) rather than leaked.
pub(super) async fn run_instance(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    (zone, subnet): (&Zone, Option<&SubnetId>),
) -> Result<Output, StepError> {
    let client_token = &ctx.token(id);
    let client_token = client_token.as_str();
    let request = RunInstanceRequest {
        zone: zone.clone(),
        subnet: subnet.cloned(),
        instance_type: launch.instance_type.clone(),
        image: launch.image.clone(),
        user_data: launch.user_data()?,
        settings: launch.settings.clone(),
        tags: ctx.tags(launch.server).into_iter().chain([(TOKEN_TAG.to_string(), client_token.to_string())]).collect(),
        client_token: client_token.to_string(),
    };
    let filter = Filter::Server(launch.server.clone());
    let find = || async {
        let found = ctx.cloud.describe_instances(&ctx.region, &filter).await?;
        Ok(found
            .into_iter()
            .find(|i| i.state.is_alive() && i.tags.get(TOKEN_TAG).map(String::as_str) == Some(client_token)))
    };
    let make = || ctx.cloud.run_instance(&ctx.region, request.clone());
    let i = ctx.create_once(id, (Api::RunInstances, Api::DescribeInstances), find, make).await?;
    Ok(Output::Instance(i.id))
}

pub(super) async fn create_launch_template(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    name: &str,
) -> Result<Output, StepError> {
    let token = ctx.token(id);
    let mut tags = ctx.tags(launch.server);
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    let client_token = Some(token.clone());
    let request = CreateLaunchTemplateRequest { name: name.to_string(), spec: launch.spec()?, tags, client_token };
    // Template names are unique per region; the token tag tells this step's own template.
    let filter = Filter::Server(launch.server.clone());
    let find = || async {
        let found = ctx.cloud.describe_launch_templates(&ctx.region, &filter).await?;
        Ok(found.into_iter().find(|t| t.name == name && t.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.create_launch_template(&ctx.region, request.clone());
    let t = ctx.create_once(id, (Api::CreateLaunchTemplate, Api::DescribeLaunchTemplates), find, make).await?;
    // A group made from it launches the template's latest version (`$Latest`): a later
    // CreateLaunchTemplateVersion is what the group launches next, with no group update.
    Ok(Output::Launch(LaunchSource::Template { id: t.id, version: None }))
}

pub(super) async fn create_launch_template_version(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    template: &LaunchTemplateId,
) -> Result<Output, StepError> {
    let spec = launch.spec()?;
    // The step's token as ClientToken: a retry after a lost answer gets the version the
    // first call made instead of making another.
    let token = ctx.token(id);
    let t = ctx
        .call(id, Api::CreateLaunchTemplateVersion, || {
            ctx.cloud.create_launch_template_version(&ctx.region, template, spec.clone(), Some(&token))
        })
        .await?;
    let version = t.latest_version;
    // The server's group launches `$Latest`, which resolves to the newest version AWS sees:
    // a version made a moment before may not be visible yet (eventual consistency), and an
    // instance the group launched now would get the one before. The step ends once a
    // describe shows it, so what follows (a --restart's termination) launches this one.
    let filter = Filter::Id(template.to_string());
    let look = || async {
        let found = ctx
            .call(id, Api::DescribeLaunchTemplates, || ctx.cloud.describe_launch_templates(&ctx.region, &filter))
            .await?;
        Ok(found.into_iter().find(|t| t.id == *template && t.latest_version >= version).map(|_| ()))
    };
    let what = format!("version {version} of launch template {template} to be visible");
    ctx.seen_reporting(id, &what, look).await?.ok_or_else(|| StepError::Unexpected {
        what: format!(
            "version {version} of launch template {template} is still not visible after the consistency window"
        ),
    })?;
    Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(version) }))
}

pub(super) async fn create_launch_configuration(
    ctx: &Ctx,
    id: StepId,
    launch: &Launch<'_>,
    name: &str,
) -> Result<Output, StepError> {
    let spec = launch.spec()?;
    // Configurations take no tags: the name (unique per region, chosen by the plan) with
    // this step's settings is this step's earlier attempt.
    let find = || async {
        let found = ctx.cloud.describe_launch_configurations(&ctx.region).await?;
        Ok(found.into_iter().find(|c| c.name == name && c.spec == spec))
    };
    let make = || ctx.cloud.create_launch_configuration(&ctx.region, name, spec.clone());
    let c =
        ctx.create_once(id, (Api::CreateLaunchConfiguration, Api::DescribeLaunchConfigurations), find, make).await?;
    Ok(Output::Launch(LaunchSource::Configuration { name: c.name }))
}

pub(super) async fn delete_launch_template(
    ctx: &Ctx,
    id: StepId,
    template: &LaunchTemplateId,
) -> Result<(), StepError> {
    ctx.delete_launch_template(id, template).await
}

pub(super) async fn delete_launch_configuration(ctx: &Ctx, id: StepId, name: &str) -> Result<(), StepError> {
    ctx.delete_launch_configuration(id, name).await
}

/// What a `WaitHealthy` waits for: the server healthy on `instance`, or (when `None`) on
/// whichever instance is current other than `replacing`, launched as `launched_as`.
pub(super) struct Waited<'a> {
    pub instance: Option<InstanceId>,
    pub replacing: Option<&'a InstanceId>,
    pub launched_as: Option<&'a LaunchedAs>,
}

/// Waits until the server is healthy (see [`Waited`]; running first): running, with its
/// data volumes (every one) attached and an address associated. A running replacement of
/// another type or image than `launched_as` fails the step at once (the group launched it
/// before its update: waiting would not change it). Every poll reads the apply's batched
/// look at the servers waiting (`board.rs`), not four describes of its own.
pub(super) async fn wait_healthy(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    waited: Waited<'_>,
) -> Result<Output, StepError> {
    let Waited { instance, replacing, launched_as } = waited;
    let _waiting = ctx.board.enter(server);
    ctx.wait(id, format!("{server} to be healthy"), || async {
        let look = ctx.board_look(id, server).await?;
        let target = match &instance {
            Some(i) => look.instances(server).find(|x| x.id == *i),
            None => {
                let mut current: Vec<&Instance> =
                    look.instances(server).filter(|i| i.state.is_alive() && Some(&i.id) != replacing).collect();
                current.sort_by_key(|i| (i.state != InstanceState::Running, i.id.clone()));
                current.first().copied()
            }
        };
        let Some(target) = target.filter(|i| i.state == InstanceState::Running) else { return Ok(None) };
        if let Some(wanted) = launched_as.filter(|w| (&target.instance_type, &target.image) != (&w.instance_type, &w.image)) {
            return Err(StepError::Unexpected {
                what: format!(
                    "instance {} of {server} runs {} from {}, not {} from {}: its group launched it before the group's update (the old instance gone early)\n  fix: plan the command again; it replaces the instance",
                    target.id, target.instance_type, target.image, wanted.instance_type, wanted.image
                ),
            });
        }
        let attached = super::super::ctx::all_attached(&look.volumes(server), &target.id);
        let associated = look.addresses(server).any(|a| a.associated_to.as_ref() == Some(&target.id));
        Ok((attached && associated).then_some(()))
    })
    .await?;
    Ok(Output::Nothing)
}
