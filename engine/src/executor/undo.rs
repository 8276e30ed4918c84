//! Compensation: undoing what a failed server's apply created, newest first.

use super::ctx::Ctx;
use super::journal::{Journal, Record};
use super::steps::{swap_back, update_group, Sizes};
use super::{Event, Output, StepError, UndoRecord};
use crate::api::Api;
use crate::model::*;
use crate::plan::{Action, Plan, Ref, StepId, Undo};
use std::collections::BTreeMap;

/// Undoes the completed steps of each stopped server that name an [`Undo`], newest first.
/// A server stopped by a blocked gate is left as it is (the address it waits for survives
/// to the next apply).
pub(super) async fn compensate(
    ctx: &Ctx,
    journal: &dyn Journal,
    plan: &Plan,
    stopped: &BTreeMap<ServerName, StepId>,
    blocked: impl Fn(StepId) -> bool,
    completed: &[StepId],
    outputs: &BTreeMap<StepId, Output>,
) -> Vec<UndoRecord> {
    let steps: BTreeMap<StepId, &crate::plan::Step> = plan.steps.iter().map(|s| (s.id, s)).collect();
    let mut undone = Vec::new();
    for (server, cause) in stopped {
        if blocked(*cause) {
            continue;
        }
        for id in completed.iter().rev() {
            let step = steps[id];
            let (Some(undo), Some(target)) = (&step.undo, outputs.get(id)) else { continue };
            if step.server != *server {
                continue;
            }
            ctx.operator.event(&Event::Undoing { step: *id, at: ctx.cloud.now().await, what: undo.describe() });
            let result = run(ctx, step, undo, target, outputs).await;
            let at = ctx.cloud.now().await;
            let record = match &result {
                Ok(()) => {
                    ctx.operator.event(&Event::Undone { step: *id, at });
                    Record::Undone { step: *id }
                }
                Err(e) => {
                    ctx.operator.event(&Event::UndoFailed { step: *id, at, error: e.to_string() });
                    Record::UndoFailed { step: *id, error: e.to_string() }
                }
            };
            if let Err(e) = journal.record(&record) {
                // Said, not hidden: a resume would undo this step again.
                let error = format!("the journal could not record this undo: {e}");
                ctx.operator.event(&Event::UndoFailed { step: *id, at, error });
            }
            undone.push(UndoRecord { step: *id, undo: undo.clone(), target: target.clone(), result });
        }
    }
    undone
}

/// Undoes one step: `target` is what the step produced; a change to what existed before
/// is undone from what the step's action names (and `outputs`, the outputs it used).
async fn run(
    ctx: &Ctx,
    step: &crate::plan::Step,
    undo: &Undo,
    target: &Output,
    outputs: &BTreeMap<StepId, Output>,
) -> Result<(), StepError> {
    let (cloud, region, id) = (&*ctx.cloud, &ctx.region, step.id);
    match (&step.action, undo) {
        (Action::UpdateAutoScalingGroup { group, .. }, Undo::UpdateAutoScalingGroup { min, desired, placement }) => {
            let sizes = Sizes { min: Some(*min), desired: Some(*desired), placement: placement.as_ref() };
            return update_group(ctx, id, group, (None, false), sizes).await;
        }
        (Action::SwapDataVolume { retire, restore }, Undo::SwapBack) => {
            let restored = match restore {
                Ref::Existing(v) => Some(v.clone()),
                Ref::Output(made) => match outputs.get(made) {
                    Some(Output::Volume(v)) => Some(v.clone()),
                    _ => None,
                },
            };
            let restored = restored.ok_or_else(|| StepError::Unexpected {
                what: format!("cannot swap back at {id}: the restored volume is unknown"),
            })?;
            return swap_back(ctx, id, retire.as_ref(), &restored).await;
        }
        _ => {}
    }
    let step = id;
    match (undo.clone(), target) {
        (Undo::DeleteAutoScalingGroup, Output::Group(name)) => ctx.delete_group(step, name).await,
        (Undo::TerminateInstance, Output::Instance(id)) => ctx.terminate(step, id).await,
        (Undo::DeleteLaunchTemplate, Output::Launch(LaunchSource::Template { id, .. })) => {
            ctx.delete_launch_template(step, id).await
        }
        (Undo::DeleteLaunchConfiguration, Output::Launch(LaunchSource::Configuration { name })) => {
            ctx.delete_launch_configuration(step, name).await
        }
        (Undo::DeleteVolume, Output::Volume(id)) => ctx.delete_volume(step, id).await,
        (Undo::ReleaseAddress, Output::Address { allocation_id, .. }) => {
            ctx.call(step, Api::ReleaseAddress, || cloud.release_address(region, allocation_id)).await
        }
        _ => Err(StepError::Unexpected { what: format!("cannot {} of {step}: it produced {target}", undo.describe()) }),
    }
}
