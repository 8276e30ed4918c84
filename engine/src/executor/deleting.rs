//! Auto scaling group deletion is asynchronous on AWS: after DeleteAutoScalingGroup the
//! group stays (`Status: "Delete in progress"`, [`AutoScalingGroup::deleting`]) while its
//! instances terminate, and only then disappears. Meanwhile its name is taken
//! (CreateAutoScalingGroup: `AlreadyExists`) and its launch template or configuration is
//! in use (`ResourceInUse`).
//!
//! So a step that deletes a group waits until the group is gone, and a create or delete
//! refused because of a group that is being deleted (one an interrupted apply, or someone
//! else, began deleting) waits until that group is gone and is made again. The same refusal
//! caused by a group that is *not* being deleted is a real conflict and stays an error: the
//! group's status decides, never the error's message.

use super::ctx::Ctx;
use super::StepError;
use crate::api::Api;
use crate::cloud::*;
use crate::model::*;
use crate::plan::StepId;
use std::future::Future;

/// How many times a call is made again after waiting for deleting groups (each wait is
/// bounded by the policy's wait timeout); a group that is deleted and created again in
/// between by someone else would otherwise keep the step going.
const ROUNDS: u32 = 3;

impl Ctx {
    /// The group of this name, deleting or not.
    pub async fn group(
        &self,
        step: StepId,
        name: &AutoScalingGroupName,
    ) -> Result<Option<AutoScalingGroup>, StepError> {
        let filter = Filter::Id(name.to_string());
        let groups = self
            .call(step, Api::DescribeAutoScalingGroups, || {
                self.cloud.describe_auto_scaling_groups(&self.region, &filter)
            })
            .await?;
        Ok(groups.into_iter().find(|g| g.name == *name))
    }

    /// Waits until the group no longer exists (a deleting group disappears once its
    /// instances are terminated).
    pub async fn wait_group_gone(&self, step: StepId, name: &AutoScalingGroupName) -> Result<(), StepError> {
        self.wait(step, format!("auto scaling group {name} to be deleted"), || async {
            Ok(self.group(step, name).await?.is_none().then_some(()))
        })
        .await
    }

    /// Deletes a group with its instances and waits until they are terminated and the
    /// group is gone, so whatever follows (a group of the same name, deleting its launch
    /// settings) is not refused. A group already being deleted is only waited for; a
    /// refused delete that finds the group deleting or gone (a retry after a lost
    /// response: `ScalingActivityInProgress`, or not found) took effect.
    pub async fn delete_group(&self, step: StepId, name: &AutoScalingGroupName) -> Result<(), StepError> {
        // A group this apply just created may not be visible yet: gone only after the window.
        let Some(group) = self.seen(|| self.group(step, name)).await? else { return Ok(()) };
        if !group.deleting {
            let deleted = self
                .call(step, Api::DeleteAutoScalingGroup, || {
                    self.cloud.delete_auto_scaling_group(&self.region, name, true)
                })
                .await;
            if let Err(error) = deleted {
                if self.group(step, name).await?.is_some_and(|g| !g.deleting) {
                    return Err(error);
                }
            }
        }
        for instance in &group.instances {
            self.wait_terminated(step, instance, format!("instance {instance} of group {name} to terminate")).await?;
        }
        self.wait_group_gone(step, name).await
    }

    /// Makes `call`; when it fails with an error of `kind` while a group `blocks` picks is
    /// being deleted, waits until every such group is gone and makes it again (at most
    /// [`ROUNDS`] times). Any other failure, or one with no such group, is the step's.
    pub async fn past_deleting_groups<T, B, F, Fut>(
        &self,
        step: StepId,
        kind: CloudErrorKind,
        blocks: B,
        mut call: F,
    ) -> Result<T, StepError>
    where
        B: Fn(&AutoScalingGroup) -> bool,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let mut round = 0;
        loop {
            let error = match call().await {
                Err(StepError::Cloud { call: api, source }) if source.kind == kind && round < ROUNDS => {
                    StepError::Cloud { call: api, source }
                }
                done => return done,
            };
            round += 1;
            let groups = self
                .call(step, Api::DescribeAutoScalingGroups, || {
                    self.cloud.describe_auto_scaling_groups(&self.region, &Filter::All)
                })
                .await?;
            let deleting: Vec<AutoScalingGroupName> =
                groups.into_iter().filter(|g| g.deleting && blocks(g)).map(|g| g.name).collect();
            if deleting.is_empty() {
                return Err(error);
            }
            for name in &deleting {
                self.wait_group_gone(step, name).await?;
            }
        }
    }

    /// DeleteLaunchTemplate, after any group being deleted that still launches from it.
    pub async fn delete_launch_template(&self, step: StepId, id: &LaunchTemplateId) -> Result<(), StepError> {
        let uses = |g: &AutoScalingGroup| matches!(&g.launch, LaunchSource::Template { id: t, .. } if t == id);
        self.past_deleting_groups(step, CloudErrorKind::ResourceInUse, uses, || {
            self.call(step, Api::DeleteLaunchTemplate, || self.cloud.delete_launch_template(&self.region, id))
        })
        .await
    }

    /// DeleteLaunchConfiguration, after any group being deleted that still launches from it.
    pub async fn delete_launch_configuration(&self, step: StepId, name: &str) -> Result<(), StepError> {
        let uses = |g: &AutoScalingGroup| matches!(&g.launch, LaunchSource::Configuration { name: n } if n == name);
        self.past_deleting_groups(step, CloudErrorKind::ResourceInUse, uses, || {
            self.call(step, Api::DeleteLaunchConfiguration, || {
                self.cloud.delete_launch_configuration(&self.region, name)
            })
        })
        .await
    }
}
