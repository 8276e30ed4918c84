//! Reconciling a step a journal says was started and never finished (the process died in
//! the middle of it): did its create happen? A resource tagged for the server (or named
//! as the step names it) that neither the plan saw nor the journal records is the step's,
//! and is taken as its output instead of creating a second one.
//!
//! A resumed step has the token it was started with (`journal::Resume::tokens`), so
//! RunInstances is found by its token tag (running it again with its ClientToken would
//! return the same instance on AWS, but not on endpoints that ignore the token, as moto
//! does). Steps not listed here run again: their calls either change nothing twice
//! (attach, associate, update, waits) or are found by their tokens (see ARCHITECTURE.md).

use super::ctx::Ctx;
use super::{Output, StepError};
use crate::api::Api;
use crate::cloud::Filter;
use crate::model::*;
use crate::plan::{Action, Step};
use std::collections::BTreeSet;

/// What the interrupted `step` made, if it can be found; `known` holds the ids the plan
/// saw and the journal's outputs (text), which are never the step's.
pub(super) async fn find(ctx: &Ctx, step: &Step, known: &BTreeSet<String>) -> Result<Option<Output>, StepError> {
    let (cloud, region, id) = (&*ctx.cloud, &ctx.region, step.id);
    let by_tag = Filter::Server(step.server.clone());
    let new = |id: &str| !known.contains(id);
    let found = match &step.action {
        Action::AllocateAddress { .. } => {
            let all = ctx.call(id, Api::DescribeAddresses, || cloud.describe_addresses(region, &by_tag)).await?;
            let mut found: Vec<Output> = all
                .into_iter()
                .filter(|a| new(a.allocation_id.as_str()))
                .map(|a| Output::Address { allocation_id: a.allocation_id, public_ip: a.public_ip })
                .collect();
            pick(step, &mut found)?
        }
        Action::CreateVolume { device, restore_from, .. } => {
            let role = crate::volumes::role_of_new(restore_from.is_some());
            let wanted = crate::volumes::volume_tags(device.as_deref(), role);
            let all = ctx.call(id, Api::DescribeVolumes, || cloud.describe_volumes(region, &by_tag)).await?;
            let mut found: Vec<Output> = all
                .into_iter()
                .filter(|v| new(v.id.as_str()) && wanted.iter().all(|(k, val)| v.tags.get(k) == Some(val)))
                .filter(|v| device.is_some() || !v.tags.contains_key(crate::volumes::DEVICE_TAG))
                .map(|v| Output::Volume(v.id))
                .collect();
            pick(step, &mut found)?
        }
        Action::RunInstance { .. } => {
            let token = ctx.token(id);
            let all = ctx.call(id, Api::DescribeInstances, || cloud.describe_instances(region, &by_tag)).await?;
            let mut found: Vec<Output> = all
                .into_iter()
                .filter(|i| i.state.is_alive() && new(i.id.as_str()))
                .filter(|i| i.tags.get(super::TOKEN_TAG) == Some(&token))
                .map(|i| Output::Instance(i.id))
                .collect();
            pick(step, &mut found)?
        }
        Action::CreateLaunchTemplate { name, .. } => {
            let all =
                ctx.call(id, Api::DescribeLaunchTemplates, || cloud.describe_launch_templates(region, &by_tag)).await?;
            let mut found: Vec<Output> = all
                .into_iter()
                .filter(|t| &t.name == name && new(t.id.as_str()))
                .map(|t| Output::Launch(LaunchSource::Template { id: t.id, version: None }))
                .collect();
            pick(step, &mut found)?
        }
        Action::CreateAutoScalingGroup { name, .. } => {
            let all = ctx
                .call(id, Api::DescribeAutoScalingGroups, || cloud.describe_auto_scaling_groups(region, &by_tag))
                .await?;
            let mut found: Vec<Output> = all
                .into_iter()
                .filter(|g| &g.name == name && !g.deleting && new(g.name.as_str()))
                .map(|g| Output::Group(g.name))
                .collect();
            pick(step, &mut found)?
        }
        _ => None,
    };
    Ok(found)
}

/// The one candidate; several are an error naming them (a person must choose).
fn pick(step: &Step, found: &mut Vec<Output>) -> Result<Option<Output>, StepError> {
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => {
            let names: Vec<String> = found.iter().map(|o| o.to_string()).collect();
            Err(StepError::Unexpected {
                what: format!(
                    "step {} was interrupted and {} now exist that the plan did not see: {}; remove the extra one by hand, then apply again",
                    step.id,
                    found.len(),
                    names.join(", ")
                ),
            })
        }
    }
}
