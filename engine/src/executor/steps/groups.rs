//! Auto scaling groups of one.

use super::super::ctx::Ctx;
use super::super::{Output, StepError};
use crate::api::Api;
use crate::cloud::*;
use crate::model::*;
use crate::plan::StepId;

/// A group of at most one instance in `zone`; `desired` 0 when an instance is adopted
/// afterwards, 1 when the group launches its own. `fresh`: the launch template or
/// configuration was made by this apply (see [`settle_launch`]).
pub(super) async fn create_group(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    name: &AutoScalingGroupName,
    (launch, fresh): (&LaunchSource, bool),
    (zone, subnet): (&Zone, Option<&SubnetId>),
    desired: u32,
) -> Result<Output, StepError> {
    let request = CreateAutoScalingGroupRequest {
        name: name.clone(),
        launch: launch.clone(),
        zones: vec![zone.clone()],
        subnets: subnet.into_iter().cloned().collect(),
        min: desired.min(1),
        max: 1,
        desired,
        tags: ctx.tags(server),
    };
    // A group takes no token (and its tags propagate to its instances): the group of this
    // name, of this server, launching from this source, not being deleted, is this step's
    // earlier attempt.
    let filter = Filter::Server(server.clone());
    let find = || async {
        let found = ctx.cloud.describe_auto_scaling_groups(&ctx.region, &filter).await?;
        Ok(found.into_iter().find(|g| g.name == *name && g.launch == *launch && !g.deleting).map(|_| ()))
    };
    let make = || ctx.cloud.create_auto_scaling_group(&ctx.region, request.clone());
    // The name stays taken while an older group of that name is being deleted: wait for it.
    let apis = (Api::CreateAutoScalingGroup, Api::DescribeAutoScalingGroups);
    settle_launch(ctx, id, launch, fresh, || {
        ctx.past_deleting_groups(
            id,
            CloudErrorKind::AlreadyExists,
            |g| g.name == *name,
            || ctx.create_once(id, apis, &find, &make),
        )
    })
    .await?;
    Ok(Output::Group(name.clone()))
}

/// Auto Scaling refuses a launch template (or version) EC2 created a moment before and has
/// not made visible to it yet with a generic `ValidationError` ("You must use a valid
/// fully-formed launch template"), which cellar does not tell apart by its message. When
/// the launch was made by this apply (`fresh`: the step takes it from an earlier step's
/// output), that refusal is taken for eventual consistency and the call made again within
/// the consistency window; for a launch the apply did not make, it fails at once.
async fn settle_launch<T, F, Fut>(
    ctx: &Ctx,
    id: StepId,
    launch: &LaunchSource,
    fresh: bool,
    mut call: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StepError>>,
{
    if !fresh {
        return call().await;
    }
    let what = format!("{launch} to be visible to Auto Scaling");
    ctx.settle(id, CloudErrorKind::InvalidParameterValue, what, call).await
}

/// What an update sets besides the launch settings (`None`: left as it is).
pub(crate) struct Sizes<'a> {
    pub min: Option<u32>,
    pub desired: Option<u32>,
    pub placement: Option<&'a crate::plan::GroupPlacement>,
}

pub(crate) async fn update_group(
    ctx: &Ctx,
    id: StepId,
    group: &AutoScalingGroupName,
    (launch, fresh): (Option<LaunchSource>, bool),
    Sizes { min, desired, placement }: Sizes<'_>,
) -> Result<(), StepError> {
    let placement = placement.map(|p| (vec![p.zone.clone()], p.subnet.iter().cloned().collect()));
    let update = UpdateAutoScalingGroupRequest { launch: launch.clone(), min, max: None, desired, placement };
    let call = || {
        ctx.call(id, Api::UpdateAutoScalingGroup, || {
            ctx.cloud.update_auto_scaling_group(&ctx.region, group, update.clone())
        })
    };
    match &launch {
        Some(launch) => settle_launch(ctx, id, launch, fresh, call).await,
        None => call().await,
    }
}

/// Puts the running instance under the group's care, once it runs.
pub(super) async fn adopt_instance(
    ctx: &Ctx,
    id: StepId,
    group: &AutoScalingGroupName,
    instance: &InstanceId,
) -> Result<(), StepError> {
    ctx.wait_running(id, instance).await?;
    ctx.call(id, Api::AttachInstances, || ctx.cloud.attach_instance_to_group(&ctx.region, group, instance)).await
}
