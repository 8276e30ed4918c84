//! What every step handler works with: the cloud, the [`Caller`] every call and poll goes
//! through, the operator who hears of progress, and the reads and waits steps share.

use super::token::Tokens;
use super::{Event, Operator, StepError};
use crate::api::Api;
use crate::caller::{Caller, Polled, Request, Retry};
use crate::cloud::*;
use crate::model::*;
use crate::plan::{Step, StepId};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a wait goes unreported: a longer one says what it waits for.
pub const WAIT_REPORTED_AFTER: Duration = Duration::from_secs(10);

pub(super) struct Ctx {
    pub cloud: Arc<dyn Cloud>,
    pub operator: Arc<dyn Operator>,
    pub caller: Caller,
    /// The `--parallelism` slots steps work in (sleeping, they hold none).
    pub slots: crate::caller::Slots,
    /// The servers waiting to be healthy, looked at together (`board.rs`).
    pub board: super::board::Board,
    /// The servers waiting for an instance to run or terminate, their instances looked at
    /// together (`board.rs`).
    pub instance_board: super::board::Board,
    /// The servers waiting for a snapshot to complete, their snapshots looked at together
    /// (`board.rs`).
    pub snapshot_board: super::board::Board,
    pub region: Region,
    /// The configured extra tags of each server (the plan's).
    pub tags: BTreeMap<ServerName, Tags>,
    /// The plan's steps, by id.
    pub steps: BTreeMap<StepId, Arc<Step>>,
    /// Each step's idempotency token (`token.rs`; a resumed apply's interrupted steps keep
    /// the one their journal recorded).
    pub tokens: Tokens,
    /// The steps a resumed apply's journal says were started and never finished: their
    /// first attempt may have made its resource already.
    pub interrupted: BTreeSet<StepId>,
}

impl Ctx {
    /// Calls the cloud through the [`Caller`]; retries are reported as the step's events.
    pub async fn call<T, F, Fut>(&self, step: StepId, request: impl Into<Request>, f: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let request = request.into();
        let api = request.api;
        let operator = &self.operator;
        let on_retry = move |r: &Retry<'_>| {
            operator.event(&Event::Retrying {
                step,
                at: r.at,
                api: r.api,
                error: r.error.to_string(),
                attempt: r.attempt,
                delay: r.delay,
            });
        };
        self.caller
            .call_reporting(&*self.cloud, request, &on_retry, f)
            .await
            .map_err(|source| StepError::Cloud { call: api, source })
    }

    /// A creating call made exactly once under lost responses: `make` through the
    /// [`Caller`] (its retries), but every attempt after the first (and the first of a step
    /// interrupted in an earlier apply, [`Ctx::interrupted`]) asks `find` first for what an
    /// earlier attempt of this step made (by its token, tag or unique name), and takes it. When the call fails after more than one attempt, `find` has the last
    /// word: what an attempt whose response was lost made is this step's result, so the
    /// step succeeds (and is compensated like any other) instead of leaking it.
    /// `(api, find_api)`: the creating call and the describe `find` makes.
    ///
    /// What a lost attempt made may not be visible yet (eventual consistency): after an
    /// attempt whose outcome is unknown (a 5xx or no response), `find` answering nothing is
    /// only believed once the policy's consistency window has passed since that attempt
    /// ([`Ctx::settled_find`]); until then it looks again. So a lost response and
    /// an invisible result never make a second resource, at the price of waiting out the
    /// window after a 5xx that made nothing. After a refusal (capacity, throttling) one
    /// look is enough: nothing was made.
    pub async fn create_once<T, Find, FindFut, Make, MakeFut>(
        &self,
        step: StepId,
        (api, find_api): (Api, Api),
        find: Find,
        make: Make,
    ) -> Result<T, StepError>
    where
        Find: Fn() -> FindFut,
        FindFut: Future<Output = CloudResult<Option<T>>>,
        Make: Fn() -> MakeFut,
        MakeFut: Future<Output = CloudResult<T>>,
    {
        let attempts = AtomicU32::new(0);
        // A step a killed apply started may have made its resource already: look first, and
        // as after a call of unknown outcome (which the killed apply's last call was): what
        // it made may not be visible yet, so nothing found counts only once the consistency
        // window since the resume has passed.
        let resumed = self.interrupted.contains(&step);
        // When the latest attempt whose outcome is unknown (it may have made something)
        // ended, in the cloud's seconds; `u64::MAX`: none so far.
        let unknown = AtomicU64::new(if resumed { self.cloud.now().await.0 } else { u64::MAX });
        let made = self
            .call(step, api, || {
                let first = attempts.fetch_add(1, Ordering::Relaxed) == 0 && !resumed;
                let (find, make, unknown) = (&find, &make, &unknown);
                async move {
                    if !first {
                        let found = match unknown.load(Ordering::Relaxed) {
                            u64::MAX => find().await?,
                            since => self.settled_find(find, Timestamp(since), None).await?,
                        };
                        if let Some(found) = found {
                            return Ok(found);
                        }
                    }
                    let made = make().await;
                    let outcome_unknown =
                        |e: &CloudError| matches!(e.kind, CloudErrorKind::InternalError | CloudErrorKind::Unavailable);
                    if made.as_ref().is_err_and(outcome_unknown) {
                        unknown.store(self.cloud.now().await.0, Ordering::Relaxed);
                    }
                    made
                }
            })
            .await;
        match made {
            Err(error) if attempts.load(Ordering::Relaxed) > 1 || resumed => {
                let since = unknown.load(Ordering::Relaxed);
                let look = || async {
                    match since {
                        u64::MAX => find().await,
                        since => self.settled_find(&find, Timestamp(since), None).await,
                    }
                };
                match self.call(step, find_api, look).await {
                    Ok(Some(found)) => Ok(found),
                    _ => Err(error),
                }
            }
            made => made,
        }
    }

    /// `find`, looked at again (soon at first, then less often) while it finds nothing and
    /// the consistency window since `since` (when the latest attempt of unknown outcome
    /// ended, or the look began) has not passed (a new resource may not be visible yet);
    /// nothing found after that is nothing. With `report` (the step and what it waits for),
    /// a wait past [`WAIT_REPORTED_AFTER`] is reported after every look.
    async fn settled_find<T, E, Find, FindFut>(
        &self,
        find: Find,
        since: Timestamp,
        report: Option<(StepId, &str)>,
    ) -> Result<Option<T>, E>
    where
        Find: Fn() -> FindFut,
        FindFut: Future<Output = Result<Option<T>, E>>,
    {
        let window = self.caller.policy().consistency_window.as_secs();
        let mut interval = self.caller.policy().poll;
        loop {
            if let Some(found) = find().await? {
                return Ok(Some(found));
            }
            let at = self.cloud.now().await;
            let waited = at.0.saturating_sub(since.0);
            if waited >= window {
                return Ok(None);
            }
            let elapsed = Duration::from_secs(waited);
            if let Some((step, what)) = report.filter(|_| elapsed >= WAIT_REPORTED_AFTER) {
                self.operator.event(&Event::Waiting { step, at, what: what.to_string(), elapsed });
            }
            crate::caller::sleep(&*self.cloud, next_look(&mut interval, window - waited)).await;
        }
    }

    /// `call`, made again (soon at first, then less often) while it fails with an error of
    /// `kind` and the consistency window has not passed: for a refusal that means "not
    /// visible yet" but comes in a generic code (Auto Scaling's `ValidationError` for a launch
    /// template created a moment before). Only for calls naming what this apply just made: the
    /// caller decides that, never the message. A wait past [`WAIT_REPORTED_AFTER`] is reported.
    pub async fn settle<T, F, Fut>(
        &self,
        step: StepId,
        kind: CloudErrorKind,
        what: String,
        mut call: F,
    ) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let since = self.cloud.now().await;
        let window = self.caller.policy().consistency_window.as_secs();
        let mut interval = self.caller.policy().poll;
        loop {
            match call().await {
                Err(e @ StepError::Cloud { .. }) if matches!(&e, StepError::Cloud { source, .. } if source.kind == kind) =>
                {
                    let at = self.cloud.now().await;
                    let elapsed = at.0.saturating_sub(since.0);
                    if elapsed >= window {
                        return Err(e);
                    }
                    let elapsed = Duration::from_secs(elapsed);
                    if elapsed >= WAIT_REPORTED_AFTER {
                        self.operator.event(&Event::Waiting { step, at, what: what.clone(), elapsed });
                    }
                    let left = window - elapsed.as_secs();
                    crate::caller::sleep(&*self.cloud, next_look(&mut interval, left)).await;
                }
                other => return other,
            }
        }
    }

    /// Polls `check` until it gives `Some`, for at most the policy's wait timeout. A wait
    /// longer than [`WAIT_REPORTED_AFTER`] is reported after every look ([`Event::Waiting`]).
    pub async fn wait<T, F, Fut>(&self, step: StepId, what: String, check: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, StepError>>,
    {
        let operator = &self.operator;
        let on_wait = |at: Timestamp, elapsed: Duration| {
            if elapsed >= WAIT_REPORTED_AFTER {
                operator.event(&Event::Waiting { step, at, what: what.clone(), elapsed });
            }
        };
        match self.caller.poll_reporting(&*self.cloud, &on_wait, check).await? {
            Polled::Ready(v) => Ok(v),
            Polled::TimedOut { waited } => Err(StepError::Timeout { what, waited }),
        }
    }

    /// The step's idempotency token.
    pub fn token(&self, step: StepId) -> String {
        match self.steps.get(&step) {
            Some(s) => self.tokens.get(s, self.tags.get(&s.server)),
            None => format!("cellar-{}", step.0),
        }
    }

    /// The tags of everything created for `server`: the configured extra tags plus `Name`.
    pub fn tags(&self, server: &ServerName) -> Tags {
        let mut tags = self.tags.get(server).cloned().unwrap_or_default();
        tags.insert(NAME_TAG.to_string(), server.to_string());
        tags
    }

    pub async fn instance(&self, step: StepId, id: &InstanceId) -> Result<Option<Instance>, StepError> {
        let filter = Filter::Id(id.to_string());
        let found =
            self.call(step, Api::DescribeInstances, || self.cloud.describe_instances(&self.region, &filter)).await?;
        Ok(found.into_iter().find(|i| i.id == *id))
    }

    pub async fn volume(&self, step: StepId, id: &VolumeId) -> Result<Option<Volume>, StepError> {
        let filter = Filter::Id(id.to_string());
        let found =
            self.call(step, Api::DescribeVolumes, || self.cloud.describe_volumes(&self.region, &filter)).await?;
        Ok(found.into_iter().find(|v| v.id == *id))
    }

    /// The address (one allocated a moment before may not be visible yet: looked at again
    /// within the consistency window).
    pub async fn address(&self, step: StepId, id: &AllocationId) -> Result<Address, StepError> {
        let filter = Filter::Id(id.to_string());
        let look = || async {
            let found = self
                .call(step, Api::DescribeAddresses, || self.cloud.describe_addresses(&self.region, &filter))
                .await?;
            Ok(found.into_iter().find(|a| a.allocation_id == *id))
        };
        self.seen(look).await?.ok_or_else(|| StepError::Unexpected { what: format!("address {id} no longer exists") })
    }

    /// The volume, looked at again within the consistency window while it is not found
    /// (one created a moment before may not be visible yet); `None` after that.
    pub async fn volume_seen(&self, step: StepId, id: &VolumeId) -> Result<Option<Volume>, StepError> {
        self.seen(|| self.volume(step, id)).await
    }

    /// `look` (a describe of one resource this apply made or names), made again (soon at
    /// first, then less often) while it finds nothing and the consistency window has not
    /// passed: a new resource may not be visible yet (eventual consistency). Nothing found
    /// after the window is nothing: a resource that truly does not exist is still reported
    /// missing.
    pub async fn seen<T, F, Fut>(&self, look: F) -> Result<Option<T>, StepError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, StepError>>,
    {
        self.settled_find(look, self.cloud.now().await, None).await
    }

    /// [`Ctx::seen`] for a wait the operator is told about: `look` finds what `step` made
    /// only once it is `what` (visible to the API); a wait past [`WAIT_REPORTED_AFTER`] is
    /// reported after every look ([`Event::Waiting`]).
    pub async fn seen_reporting<T, F, Fut>(&self, step: StepId, what: &str, look: F) -> Result<Option<T>, StepError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, StepError>>,
    {
        self.settled_find(look, self.cloud.now().await, Some((step, what))).await
    }

    /// The instance `id`, polled by `step`: from the apply's batched look at the instances
    /// of the servers waiting ([`Ctx::instance_board`], which the caller has entered the
    /// step's server on), or described by id for a step of no server.
    async fn polled_instance(&self, step: StepId, id: &InstanceId) -> Result<Option<Instance>, StepError> {
        match self.steps.get(&step) {
            Some(s) => self.instance_on_board(step, &s.server, id).await,
            None => self.instance(step, id).await,
        }
    }

    /// Puts the step's server on [`Ctx::instance_board`] while it waits.
    fn waiting_for_instances(&self, step: StepId) -> Option<super::board::Waiting<'_>> {
        self.steps.get(&step).map(|s| self.instance_board.enter(&s.server))
    }

    /// Waits until the instance runs. A fresh id may not be visible yet (eventual
    /// consistency). Polls share one describe with the other instance waits (`board.rs`).
    pub async fn wait_running(&self, step: StepId, id: &InstanceId) -> Result<Instance, StepError> {
        let _waiting = self.waiting_for_instances(step);
        self.wait(step, format!("instance {id} to run"), || async {
            match self.polled_instance(step, id).await? {
                Some(i) if i.state == InstanceState::Running => Ok(Some(i)),
                Some(i) if !i.state.is_alive() || i.state == InstanceState::Stopped => {
                    Err(StepError::Unexpected { what: format!("instance {id} is {} instead of running", i.state) })
                }
                _ => Ok(None),
            }
        })
        .await
    }

    /// Terminates an instance (a missing one counts as terminated) and waits until it is.
    pub async fn terminate(&self, step: StepId, id: &InstanceId) -> Result<(), StepError> {
        match self.call(step, Api::TerminateInstances, || self.cloud.terminate_instance(&self.region, id)).await {
            Err(StepError::Cloud { source, .. }) if source.kind == CloudErrorKind::InvalidInstanceIdNotFound => {
                return Ok(())
            }
            other => other?,
        }
        self.wait_terminated(step, id, format!("instance {id} to terminate")).await
    }

    /// Waits until the instance is terminated (or gone). Polls share one describe with the
    /// other instance waits (`board.rs`).
    pub async fn wait_terminated(&self, step: StepId, id: &InstanceId, what: String) -> Result<(), StepError> {
        let _waiting = self.waiting_for_instances(step);
        self.wait(step, what, || async {
            Ok(self.polled_instance(step, id).await?.is_none_or(|i| i.state == InstanceState::Terminated).then_some(()))
        })
        .await
    }

    /// Waits until the snapshot `id` of `server` is completed (`what`, as reported). A fresh
    /// id may not be visible yet (eventual consistency). Polls share one describe of the
    /// waiting servers' snapshots with the other snapshot waits (`board.rs`).
    pub async fn wait_snapshot(
        &self,
        step: StepId,
        (server, id): (&ServerName, &SnapshotId),
        what: String,
    ) -> Result<(), StepError> {
        let _waiting = self.snapshot_board.enter(server);
        self.wait(step, what, || async {
            let found = self.snapshot_on_board(step, server, id).await?;
            Ok(found.is_some_and(|s| s.state == SnapshotState::Completed).then_some(()))
        })
        .await
    }

    /// Waits until the volume is detached (available), then deletes it; a missing volume is fine.
    pub async fn delete_volume(&self, step: StepId, id: &VolumeId) -> Result<(), StepError> {
        // A volume this apply just created may not be visible yet: gone only after the window.
        if self.volume_seen(step, id).await?.is_none() {
            return Ok(());
        }
        let gone = self
            .wait(step, format!("volume {id} to be detached"), || async {
                Ok(match self.volume(step, id).await? {
                    None => Some(true),
                    Some(v) if v.state == VolumeState::Available => Some(false),
                    Some(_) => None,
                })
            })
            .await?;
        if gone {
            return Ok(());
        }
        self.call(step, Api::DeleteVolume, || self.cloud.delete_volume(&self.region, id)).await
    }

    /// Waits until the image is available in `region`.
    pub async fn wait_image(&self, step: StepId, region: &Region, id: &ImageId) -> Result<(), StepError> {
        self.wait(step, format!("image {id} to become available in {region}"), || async {
            let images = self.call(step, Api::DescribeImages, || self.cloud.describe_images(region)).await?;
            match images.iter().find(|i| i.id == *id).map(|i| i.state) {
                Some(ImageState::Available) => Ok(Some(())),
                Some(ImageState::Failed) => Err(StepError::Unexpected { what: format!("image {id} failed") }),
                _ => Ok(None),
            }
        })
        .await
    }
}

/// Whether the server has a data volume and every one is attached to `instance`.
pub(super) fn all_attached(volumes: &[Volume], instance: &InstanceId) -> bool {
    let data: Vec<&Volume> = volumes.iter().filter(|v| crate::volumes::is_data(v)).collect();
    !data.is_empty() && data.iter().all(|v| v.attached_to.as_ref() == Some(instance))
}

/// The wait before the next look within the consistency window: short at first (a new
/// resource shows within seconds), each twice the last up to 30 s, never past the window's
/// end (`left` seconds away), so the last look is at the end.
fn next_look(interval: &mut Duration, left: u64) -> Duration {
    let wait = (*interval).min(Duration::from_secs(left));
    *interval = (*interval * 2).min(Duration::from_secs(30));
    wait
}
