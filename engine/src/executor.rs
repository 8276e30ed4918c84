//! The executor: applies a [`Plan`] through a [`Cloud`].
//!
//! Outline (the shape of cargo's job queue and Terraform's dag walk):
//!
//! 1. Count each step's unfinished dependencies (its in-degree); steps with none are ready.
//! 2. Start ready steps, in id order, on a tokio `JoinSet`, at most `concurrency` at once.
//!    A step's [`Ref::Output`] inputs are resolved from the outputs of finished steps.
//! 3. When a step finishes, its dependents' in-degrees drop; those reaching zero are ready.
//! 4. When a step fails, its server is marked failed: its dependents and every not yet
//!    started step of the same server are skipped; other servers' steps go on.
//! 5. When the walk ends, the completed steps of each failed server that name an [`Undo`]
//!    are undone in reverse order of completion (compensation).
//! 6. The [`ApplyReport`] says what was done, failed, skipped, blocked and undone.
//!
//! A DNS gate that is not confirmed *blocks* instead of failing: its dependents are skipped
//! and nothing is undone, so the address it waits for survives to the next apply.
//!
//! Every cloud call goes through [`call`], which retries retryable errors with capped
//! exponential backoff (capacity shortages for a bounded time only); every wait polls
//! through [`Cloud::sleep`], so on the simulator minutes pass in virtual time.

use crate::agent::{self, AgentInvocation, DATA_ROLE};
use crate::cloud::*;
use crate::limits::{Bucket, TokenBucket};
use crate::model::*;
use crate::plan::*;
use crate::rng::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The person (or flag) that answers gates, and where progress goes.
pub trait Operator: Send + Sync {
    /// Asked at a DNS gate when `host` does not point at `ip` yet: has the record been
    /// updated (or will it be), so that apply may go on?
    fn confirm_dns(&self, host: &str, ip: &str) -> bool;
    /// Progress, as it happens.
    fn event(&self, event: &Event);
}

/// Progress of an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Started { step: StepId, at: Timestamp, summary: String },
    Done { step: StepId, at: Timestamp, output: String },
    Failed { step: StepId, at: Timestamp, error: String },
    Skipped { step: StepId, because: StepId },
    Blocked { step: StepId, at: Timestamp, reason: String },
    Retrying { step: StepId, at: Timestamp, error: String, attempt: u32, delay: Duration },
    Undoing { step: StepId, at: Timestamp, what: String },
    Undone { step: StepId, at: Timestamp },
    UndoFailed { step: StepId, at: Timestamp, error: String },
}

/// What a step produced, for the steps that refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Nothing,
    Address { allocation_id: AllocationId, public_ip: String },
    Volume(VolumeId),
    Instance(InstanceId),
    Launch(LaunchSource),
    Group(AutoScalingGroupName),
    Snapshot(SnapshotId),
    Image(ImageId),
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Nothing => f.write_str("ok"),
            Output::Address { allocation_id, public_ip } => write!(f, "{public_ip} ({allocation_id})"),
            Output::Volume(id) => write!(f, "{id}"),
            Output::Instance(id) => write!(f, "{id}"),
            Output::Launch(source) => write!(f, "{source}"),
            Output::Group(name) => write!(f, "{name}"),
            Output::Snapshot(id) => write!(f, "{id}"),
            Output::Image(id) => write!(f, "{id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{call} failed: {source}")]
    Cloud {
        call: &'static str,
        #[source]
        source: CloudError,
    },
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    #[error("{what}")]
    Unexpected { what: String },
    #[error("{host} does not point at {ip} and the DNS change was not confirmed")]
    DnsNotConfirmed { host: String, ip: String },
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(Output),
    Failed(StepError),
    Skipped { because: StepId },
    Blocked(StepError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoRecord {
    pub step: StepId,
    pub undo: Undo,
    pub target: Output,
    pub result: Result<(), StepError>,
}

/// The end of an apply: every step's outcome (in step order) and the compensations run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub outcomes: BTreeMap<StepId, Outcome>,
    pub undone: Vec<UndoRecord>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.outcomes.values().all(|o| matches!(o, Outcome::Done(_)))
    }
    pub fn blocked(&self) -> bool {
        self.outcomes.values().any(|o| matches!(o, Outcome::Blocked(_)))
    }
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.values().filter(|o| f(o)).count()
    }
    /// `done 9, failed 0, skipped 0, blocked 0, undone 0`.
    pub fn summary(&self) -> String {
        format!(
            "done {}, failed {}, skipped {}, blocked {}, undone {}",
            self.count(|o| matches!(o, Outcome::Done(_))),
            self.count(|o| matches!(o, Outcome::Failed(_))),
            self.count(|o| matches!(o, Outcome::Skipped { .. })),
            self.count(|o| matches!(o, Outcome::Blocked(_))),
            self.undone.iter().filter(|u| u.result.is_ok()).count()
        )
    }
}

/// Retry and wait settings.
#[derive(Clone, Debug)]
pub struct Policy {
    pub concurrency: usize,
    /// Attempts for 5xx errors (InternalError, Unavailable).
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long to keep retrying RequestLimitExceeded before failing.
    pub throttle_window: Duration,
    /// How long to keep retrying InsufficientInstanceCapacity before failing (then the
    /// server's apply fails and is compensated; it is never moved to another zone).
    pub capacity_window: Duration,
    /// How long InvalidInstanceID.NotFound is taken for eventual consistency (a fresh
    /// instance not visible yet) rather than a missing instance.
    pub consistency_window: Duration,
    pub poll: Duration,
    pub wait_timeout: Duration,
    /// Mirror AWS's token buckets client-side, so a big apply slows down instead of failing.
    pub client_rate_limit: bool,
    /// Seeds the backoff jitter (runs replay exactly from a seed).
    pub seed: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            concurrency: 8,
            max_attempts: 6,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(20),
            throttle_window: Duration::from_secs(600),
            capacity_window: Duration::from_secs(120),
            consistency_window: Duration::from_secs(120),
            poll: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(900),
            client_rate_limit: true,
            seed: 0,
        }
    }
}

struct Ctx {
    cloud: Arc<dyn Cloud>,
    tags: BTreeMap<ServerName, Tags>,
    operator: Arc<dyn Operator>,
    policy: Policy,
    caller: Caller,
    region: Region,
}

/// Applies `plan`. The plan must be [`Plan::validate`]d (loading and planning do that).
pub async fn apply(cloud: Arc<dyn Cloud>, operator: Arc<dyn Operator>, plan: &Plan, policy: Policy) -> ApplyReport {
    let ctx = Arc::new(Ctx {
        cloud,
        tags: plan.tags.clone(),
        operator,
        caller: Caller::new(&policy),
        policy,
        region: plan.scope.region.clone(),
    });
    let mut report = ApplyReport::default();
    let mut indegree: BTreeMap<StepId, usize> = plan.steps.iter().map(|s| (s.id, s.after.len())).collect();
    let mut dependents: BTreeMap<StepId, Vec<StepId>> = BTreeMap::new();
    for step in &plan.steps {
        for dep in &step.after {
            dependents.entry(*dep).or_default().push(step.id);
        }
    }
    let mut ready: VecDeque<StepId> = indegree.iter().filter(|(_, d)| **d == 0).map(|(id, _)| *id).collect();
    let mut outputs: BTreeMap<StepId, Output> = BTreeMap::new();
    let mut completion_order: Vec<StepId> = Vec::new();
    // server → the step whose failure (or block) stopped it
    let mut stopped: BTreeMap<ServerName, StepId> = BTreeMap::new();
    let mut running: JoinSet<(StepId, Result<Output, StepError>)> = JoinSet::new();

    loop {
        while running.len() < ctx.policy.concurrency.max(1) {
            let Some(id) = ready.pop_front() else { break };
            let step = plan.step(id).expect("validated plan");
            if let Some(because) = stopped.get(step.action.server()) {
                skip(&ctx, &mut report, &dependents, id, *because);
                continue;
            }
            let action = step.action.clone();
            let inputs = outputs.clone();
            let ctx2 = ctx.clone();
            ctx.operator.event(&Event::Started { step: id, at: ctx.cloud.now().await, summary: action.describe().1 });
            running.spawn(async move { (id, run_step(&ctx2, id, &action, &inputs).await) });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (id, result) = match joined {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let step = plan.step(id).expect("validated plan");
        let at = ctx.cloud.now().await;
        match result {
            Ok(output) => {
                ctx.operator.event(&Event::Done { step: id, at, output: output.to_string() });
                outputs.insert(id, output.clone());
                completion_order.push(id);
                report.outcomes.insert(id, Outcome::Done(output));
                for dependent in dependents.get(&id).cloned().unwrap_or_default() {
                    let d = indegree.get_mut(&dependent).expect("known step");
                    *d -= 1;
                    if *d == 0 && !report.outcomes.contains_key(&dependent) {
                        let pos = ready.iter().position(|r| *r > dependent).unwrap_or(ready.len());
                        ready.insert(pos, dependent);
                    }
                }
            }
            Err(error) => {
                let blocked = matches!(error, StepError::DnsNotConfirmed { .. });
                if blocked {
                    ctx.operator.event(&Event::Blocked { step: id, at, reason: error.to_string() });
                    report.outcomes.insert(id, Outcome::Blocked(error));
                } else {
                    ctx.operator.event(&Event::Failed { step: id, at, error: error.to_string() });
                    report.outcomes.insert(id, Outcome::Failed(error));
                }
                stopped.entry(step.action.server().clone()).or_insert(id);
                for dependent in dependents.get(&id).cloned().unwrap_or_default() {
                    skip(&ctx, &mut report, &dependents, dependent, id);
                }
            }
        }
    }
    // Steps never reached (a dependency was skipped) are skipped too.
    for step in &plan.steps {
        if !report.outcomes.contains_key(&step.id) {
            let because = stopped.get(step.action.server()).copied().unwrap_or(step.id);
            report.outcomes.insert(step.id, Outcome::Skipped { because });
        }
    }

    // Compensation: undo the failed servers' completed steps, newest first.
    for (server, cause) in &stopped {
        if matches!(report.outcomes.get(cause), Some(Outcome::Blocked(_))) {
            continue;
        }
        for id in completion_order.iter().rev() {
            let step = plan.step(*id).expect("validated plan");
            let (Some(undo), Some(target)) = (step.undo, outputs.get(id)) else {
                continue;
            };
            if step.action.server() != server {
                continue;
            }
            ctx.operator.event(&Event::Undoing { step: *id, at: ctx.cloud.now().await, what: undo.describe().into() });
            let result = run_undo(&ctx, *id, undo, target).await;
            let at = ctx.cloud.now().await;
            match &result {
                Ok(()) => ctx.operator.event(&Event::Undone { step: *id, at }),
                Err(e) => ctx.operator.event(&Event::UndoFailed { step: *id, at, error: e.to_string() }),
            }
            report.undone.push(UndoRecord { step: *id, undo, target: target.clone(), result });
        }
    }
    report
}

fn skip(ctx: &Ctx, report: &mut ApplyReport, dependents: &BTreeMap<StepId, Vec<StepId>>, id: StepId, because: StepId) {
    if report.outcomes.contains_key(&id) {
        return;
    }
    ctx.operator.event(&Event::Skipped { step: id, because });
    report.outcomes.insert(id, Outcome::Skipped { because });
    for dependent in dependents.get(&id).cloned().unwrap_or_default() {
        skip(ctx, report, dependents, dependent, because);
    }
}

/// Retries, backoff jitter and client-side rate limits for cloud calls.
///
/// Retryable errors are retried with capped exponential backoff and "equal jitter" (half
/// the delay fixed, half drawn from the seeded RNG): throttling for `throttle_window`,
/// 5xx for `max_attempts`, capacity for `capacity_window`, InvalidInstanceID.NotFound
/// (eventual consistency) for `consistency_window`. With `client_rate_limit`, each call
/// first takes a token from a client-side copy of AWS's bucket for that API, sleeping
/// until one is there.
pub struct Caller {
    policy: Policy,
    rng: std::sync::Mutex<Rng>,
    buckets: std::sync::Mutex<BTreeMap<Bucket, TokenBucket>>,
}

impl Caller {
    pub fn new(policy: &Policy) -> Self {
        Caller {
            policy: policy.clone(),
            rng: std::sync::Mutex::new(Rng::new(policy.seed)),
            buckets: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The delay before retry `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        let full = self.policy.backoff_base.saturating_mul(factor).min(self.policy.backoff_cap);
        let half = full / 2;
        let jitter = self.rng.lock().expect("rng lock").unit();
        half + half.mul_f64(jitter)
    }

    async fn take_token(&self, cloud: &dyn Cloud, api: &str) {
        if !self.policy.client_rate_limit {
            return;
        }
        let bucket = Bucket::of(api, api.starts_with("Describe"));
        loop {
            let now_ms = cloud.now().await.0 * 1000;
            let wait = {
                let mut buckets = self.buckets.lock().expect("bucket lock");
                let b = buckets.entry(bucket).or_insert_with(|| TokenBucket::full(bucket, now_ms));
                if b.try_take(bucket, now_ms) {
                    0
                } else {
                    b.wait_ms(bucket, now_ms).max(1)
                }
            };
            if wait == 0 {
                return;
            }
            cloud.sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Calls `f` (the API `api`) until it succeeds or its error is final.
    pub async fn call<T, F, Fut>(
        &self,
        cloud: &dyn Cloud,
        api: &str,
        report: &(dyn Fn(Timestamp, u32, &CloudError, Duration) + Send + Sync),
        mut f: F,
    ) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let started = cloud.now().await;
        let mut attempt = 1;
        // 5xx errors are bounded by count, the others by time: count 5xx on their own so
        // a few of them between capacity retries do not end the capacity window early.
        let mut server_errors = 0;
        loop {
            self.take_token(cloud, api).await;
            let error = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let window = match error.kind {
                CloudErrorKind::InsufficientInstanceCapacity => Some(self.policy.capacity_window),
                CloudErrorKind::RequestLimitExceeded => Some(self.policy.throttle_window),
                CloudErrorKind::InvalidInstanceIdNotFound => Some(self.policy.consistency_window),
                CloudErrorKind::Unavailable | CloudErrorKind::InternalError => {
                    server_errors += 1;
                    None
                }
                _ => return Err(error),
            };
            let delay = self.backoff(attempt);
            let now = cloud.now().await;
            let waited = Duration::from_secs(now.0.saturating_sub(started.0));
            let give_up = match window {
                Some(window) => waited + delay > window,
                None => server_errors >= self.policy.max_attempts,
            };
            if give_up {
                return Err(error);
            }
            report(now, attempt, &error, delay);
            cloud.sleep(delay).await;
            attempt += 1;
        }
    }
}

impl Ctx {
    async fn call<T, F, Fut>(&self, step: StepId, name: &'static str, f: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let operator = &self.operator;
        let report = move |at: Timestamp, attempt: u32, e: &CloudError, delay: Duration| {
            operator.event(&Event::Retrying { step, at, error: e.to_string(), attempt, delay });
        };
        self.caller.call(&*self.cloud, name, &report, f).await.map_err(|source| StepError::Cloud { call: name, source })
    }

    /// Polls `check` until it returns `Some`, sleeping `poll` between tries.
    async fn wait<T, F, Fut>(&self, what: String, mut check: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, StepError>>,
    {
        let started = self.cloud.now().await;
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            let waited = Duration::from_secs(self.cloud.now().await.0.saturating_sub(started.0));
            if waited >= self.policy.wait_timeout {
                return Err(StepError::Timeout { what, waited });
            }
            self.cloud.sleep(self.policy.poll).await;
        }
    }

    async fn instance(&self, step: StepId, id: &InstanceId) -> Result<Option<Instance>, StepError> {
        let filter = Filter::Id(id.to_string());
        let found =
            self.call(step, "DescribeInstances", || self.cloud.describe_instances(&self.region, &filter)).await?;
        Ok(found.into_iter().find(|i| i.id == *id))
    }

    async fn volume(&self, step: StepId, id: &VolumeId) -> Result<Option<Volume>, StepError> {
        let filter = Filter::Id(id.to_string());
        let found = self.call(step, "DescribeVolumes", || self.cloud.describe_volumes(&self.region, &filter)).await?;
        Ok(found.into_iter().find(|v| v.id == *id))
    }

    async fn address(&self, step: StepId, id: &AllocationId) -> Result<Address, StepError> {
        let filter = Filter::Id(id.to_string());
        let found =
            self.call(step, "DescribeAddresses", || self.cloud.describe_addresses(&self.region, &filter)).await?;
        found
            .into_iter()
            .find(|a| a.allocation_id == *id)
            .ok_or_else(|| StepError::Unexpected { what: format!("address {id} no longer exists") })
    }

    /// Waits until the instance runs. A fresh id may not be visible yet (eventual consistency).
    async fn wait_running(&self, step: StepId, id: &InstanceId) -> Result<Instance, StepError> {
        self.wait(format!("instance {id} to run"), || async {
            match self.instance(step, id).await? {
                Some(i) if i.state == InstanceState::Running => Ok(Some(i)),
                Some(i) if !i.state.is_alive() || i.state == InstanceState::Stopped => {
                    Err(StepError::Unexpected { what: format!("instance {id} is {} instead of running", i.state) })
                }
                _ => Ok(None),
            }
        })
        .await
    }
}

fn resolve<T: Clone>(
    r: &Ref<T>,
    outputs: &BTreeMap<StepId, Output>,
    pick: impl Fn(&Output) -> Option<T>,
) -> Result<T, StepError> {
    match r {
        Ref::Existing(v) => Ok(v.clone()),
        Ref::Output(step) => outputs
            .get(step)
            .and_then(pick)
            .ok_or_else(|| StepError::Unexpected { what: format!("{step} produced no usable output") }),
    }
}

fn as_instance(o: &Output) -> Option<InstanceId> {
    match o {
        Output::Instance(id) => Some(id.clone()),
        _ => None,
    }
}
fn as_volume(o: &Output) -> Option<VolumeId> {
    match o {
        Output::Volume(id) => Some(id.clone()),
        _ => None,
    }
}
fn as_address(o: &Output) -> Option<AllocationId> {
    match o {
        Output::Address { allocation_id, .. } => Some(allocation_id.clone()),
        _ => None,
    }
}
fn as_launch(o: &Output) -> Option<LaunchSource> {
    match o {
        Output::Launch(source) => Some(source.clone()),
        _ => None,
    }
}
fn as_image(o: &Output) -> Option<ImageId> {
    match o {
        Output::Image(id) => Some(id.clone()),
        _ => None,
    }
}

impl Ctx {
    /// The tags of everything created for `server`: the configured extra tags plus `Name`.
    fn tags(&self, server: &ServerName) -> Tags {
        let mut tags = self.tags.get(server).cloned().unwrap_or_default();
        tags.insert(NAME_TAG.to_string(), server.to_string());
        tags
    }

    /// The server's instance that is current now (running first), other than `except`.
    async fn current_instance(
        &self,
        step: StepId,
        server: &ServerName,
        except: Option<&InstanceId>,
    ) -> Result<Option<Instance>, StepError> {
        let filter = Filter::Server(server.clone());
        let mut all =
            self.call(step, "DescribeInstances", || self.cloud.describe_instances(&self.region, &filter)).await?;
        all.retain(|i| i.state.is_alive() && Some(&i.id) != except);
        all.sort_by_key(|i| (i.state != InstanceState::Running, i.id.clone()));
        Ok(all.into_iter().next())
    }

    /// Whether `server` runs on `instance` with its data volume attached and an address associated.
    async fn healthy_on(&self, step: StepId, server: &ServerName, instance: &InstanceId) -> Result<bool, StepError> {
        let filter = Filter::Server(server.clone());
        let running = self.instance(step, instance).await?.is_some_and(|i| i.state == InstanceState::Running);
        let volumes = self.call(step, "DescribeVolumes", || self.cloud.describe_volumes(&self.region, &filter)).await?;
        let attached = volumes.iter().any(|v| {
            v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE) && v.attached_to.as_ref() == Some(instance)
        });
        let addresses =
            self.call(step, "DescribeAddresses", || self.cloud.describe_addresses(&self.region, &filter)).await?;
        let associated = addresses.iter().any(|a| a.associated_to.as_ref() == Some(instance));
        Ok(running && attached && associated)
    }

    /// Terminates an instance (a missing one counts as terminated) and waits until it is.
    async fn terminate(&self, step: StepId, id: &InstanceId) -> Result<(), StepError> {
        match self.call(step, "TerminateInstances", || self.cloud.terminate_instance(&self.region, id)).await {
            Err(StepError::Cloud { source, .. }) if source.kind == CloudErrorKind::InvalidInstanceIdNotFound => {
                return Ok(())
            }
            other => other?,
        }
        self.wait(format!("instance {id} to terminate"), || async {
            Ok(self.instance(step, id).await?.is_none_or(|i| i.state == InstanceState::Terminated).then_some(()))
        })
        .await
    }

    /// Deletes a group with its instances and waits until they are terminated.
    async fn delete_group(&self, step: StepId, name: &AutoScalingGroupName) -> Result<(), StepError> {
        let filter = Filter::Id(name.to_string());
        let groups = self
            .call(step, "DescribeAutoScalingGroups", || self.cloud.describe_auto_scaling_groups(&self.region, &filter))
            .await?;
        let Some(group) = groups.into_iter().find(|g| g.name == *name) else { return Ok(()) };
        self.call(step, "DeleteAutoScalingGroup", || self.cloud.delete_auto_scaling_group(&self.region, name, true))
            .await?;
        for instance in &group.instances {
            self.wait(format!("instance {instance} of group {name} to terminate"), || async {
                Ok(self
                    .instance(step, instance)
                    .await?
                    .is_none_or(|i| i.state == InstanceState::Terminated)
                    .then_some(()))
            })
            .await?;
        }
        Ok(())
    }

    /// Waits until the volume is detached (available), then deletes it; a missing volume is fine.
    async fn delete_volume(&self, step: StepId, id: &VolumeId) -> Result<(), StepError> {
        let gone = self
            .wait(format!("volume {id} to be detached"), || async {
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
        self.call(step, "DeleteVolume", || self.cloud.delete_volume(&self.region, id)).await
    }

    /// Waits until the image is available in `region`.
    async fn wait_image(&self, step: StepId, region: &Region, id: &ImageId) -> Result<(), StepError> {
        self.wait(format!("image {id} to become available in {region}"), || async {
            let images = self.call(step, "DescribeImages", || self.cloud.describe_images(region)).await?;
            match images.iter().find(|i| i.id == *id).map(|i| i.state) {
                Some(ImageState::Available) => Ok(Some(())),
                Some(ImageState::Failed) => Err(StepError::Unexpected { what: format!("image {id} failed") }),
                _ => Ok(None),
            }
        })
        .await
    }
}

fn user_data(server: &ServerName, spec: &AgentSpec) -> String {
    agent::user_data(&AgentInvocation {
        mode: spec.mode,
        server: server.clone(),
        persist: spec.persist.clone(),
        spawn_hook: spec.spawn_hook.clone(),
    })
}

async fn run_step(
    ctx: &Ctx,
    step: StepId,
    action: &Action,
    outputs: &BTreeMap<StepId, Output>,
) -> Result<Output, StepError> {
    let cloud = &*ctx.cloud;
    let region = &ctx.region;
    match action {
        Action::AllocateAddress { server, awaiting_dns } => {
            let mut tags = ctx.tags(server);
            if let Some(host) = awaiting_dns {
                tags.insert(AWAITING_DNS_TAG.to_string(), host.clone());
            }
            let a = ctx.call(step, "AllocateAddress", || cloud.allocate_address(region, tags.clone())).await?;
            Ok(Output::Address { allocation_id: a.allocation_id, public_ip: a.public_ip })
        }
        Action::DnsGate { host, address, .. } => {
            let id = resolve(address, outputs, as_address)?;
            let ip = ctx.address(step, &id).await?.public_ip;
            let records = ctx.call(step, "DNS lookup", || cloud.resolve_dns(host)).await?;
            if !records.contains(&ip) && !ctx.operator.confirm_dns(host, &ip) {
                return Err(StepError::DnsNotConfirmed { host: host.clone(), ip });
            }
            ctx.call(step, "DeleteTags", || cloud.delete_tags(region, id.as_str(), vec![AWAITING_DNS_TAG.to_string()]))
                .await?;
            Ok(Output::Nothing)
        }
        Action::CreateVolume { server, zone, size_gb } => {
            let mut tags = ctx.tags(server);
            tags.insert(ROLE_TAG.to_string(), DATA_ROLE.to_string());
            let request = CreateVolumeRequest { zone: zone.clone(), size_gb: *size_gb, tags };
            let v = ctx.call(step, "CreateVolume", || cloud.create_volume(region, request.clone())).await?;
            ctx.wait(format!("volume {} to become available", v.id), || async {
                Ok(ctx.volume(step, &v.id).await?.filter(|v| v.state == VolumeState::Available).map(|_| ()))
            })
            .await?;
            Ok(Output::Volume(v.id))
        }
        Action::RunInstance { server, zone, instance_type, image, agent, client_token, .. } => {
            let request = RunInstanceRequest {
                zone: zone.clone(),
                instance_type: instance_type.clone(),
                image: image.clone(),
                user_data: agent.as_ref().map(|a| user_data(server, a)).unwrap_or_default(),
                tags: ctx.tags(server),
                client_token: client_token.clone(),
            };
            let i = ctx.call(step, "RunInstances", || cloud.run_instance(region, request.clone())).await?;
            Ok(Output::Instance(i.id))
        }
        Action::AttachVolume { volume, instance, device, .. } => {
            let volume = resolve(volume, outputs, as_volume)?;
            let instance = resolve(instance, outputs, as_instance)?;
            ctx.wait_running(step, &instance).await?;
            // The agent on the instance may have attached it already: that is success.
            ctx.wait(format!("volume {volume} to be attached to {instance}"), || async {
                let v = ctx
                    .volume(step, &volume)
                    .await?
                    .ok_or_else(|| StepError::Unexpected { what: format!("volume {volume} no longer exists") })?;
                match (&v.attached_to, v.state) {
                    (Some(holder), _) if *holder == instance => Ok(Some(())),
                    (None, VolumeState::Available) => match cloud
                        .attach_volume(region, &volume, &instance, device)
                        .await
                    {
                        Ok(()) => Ok(None),
                        Err(e)
                            if e.retryable()
                                || matches!(e.kind, CloudErrorKind::VolumeInUse | CloudErrorKind::IncorrectState) =>
                        {
                            Ok(None)
                        }
                        Err(source) => Err(StepError::Cloud { call: "AttachVolume", source }),
                    },
                    (Some(holder), _) => {
                        Err(StepError::Unexpected { what: format!("volume {volume} is attached to {holder}") })
                    }
                    _ => Ok(None),
                }
            })
            .await?;
            Ok(Output::Nothing)
        }
        Action::AssociateAddress { address, instance, .. } => {
            let address = resolve(address, outputs, as_address)?;
            let instance = resolve(instance, outputs, as_instance)?;
            ctx.wait_running(step, &instance).await?;
            if ctx.address(step, &address).await?.associated_to.as_ref() != Some(&instance) {
                ctx.call(step, "AssociateAddress", || cloud.associate_address(region, &address, &instance)).await?;
            }
            Ok(Output::Nothing)
        }
        Action::CreateLaunchTemplate { server, name, instance_type, image, agent, .. } => {
            let request = CreateLaunchTemplateRequest {
                name: name.clone(),
                spec: LaunchSpec {
                    instance_type: instance_type.clone(),
                    image: image.clone(),
                    user_data: user_data(server, agent),
                },
                tags: ctx.tags(server),
            };
            let t = ctx
                .call(step, "CreateLaunchTemplate", || cloud.create_launch_template(region, request.clone()))
                .await?;
            Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
        }
        Action::CreateLaunchTemplateVersion { server, template, instance_type, image, agent, .. } => {
            let spec = LaunchSpec {
                instance_type: instance_type.clone(),
                image: image.clone(),
                user_data: user_data(server, agent),
            };
            let t = ctx
                .call(step, "CreateLaunchTemplateVersion", || {
                    cloud.create_launch_template_version(region, template, spec.clone())
                })
                .await?;
            Ok(Output::Launch(LaunchSource::Template { id: t.id, version: Some(t.latest_version) }))
        }
        Action::CreateLaunchConfiguration { server, name, instance_type, image, agent, .. } => {
            let spec = LaunchSpec {
                instance_type: instance_type.clone(),
                image: image.clone(),
                user_data: user_data(server, agent),
            };
            let c = ctx
                .call(step, "CreateLaunchConfiguration", || {
                    cloud.create_launch_configuration(region, name, spec.clone())
                })
                .await?;
            Ok(Output::Launch(LaunchSource::Configuration { name: c.name }))
        }
        Action::CreateAutoScalingGroup { server, name, launch, zone, desired } => {
            let request = CreateAutoScalingGroupRequest {
                name: name.clone(),
                launch: resolve(launch, outputs, as_launch)?,
                zones: vec![zone.clone()],
                min: (*desired).min(1),
                max: 1,
                desired: *desired,
                tags: ctx.tags(server),
            };
            ctx.call(step, "CreateAutoScalingGroup", || cloud.create_auto_scaling_group(region, request.clone()))
                .await?;
            Ok(Output::Group(name.clone()))
        }
        Action::UpdateAutoScalingGroup { group, launch, min, desired, .. } => {
            let update = UpdateAutoScalingGroupRequest {
                launch: launch.as_ref().map(|l| resolve(l, outputs, as_launch)).transpose()?,
                min: *min,
                max: None,
                desired: *desired,
            };
            ctx.call(step, "UpdateAutoScalingGroup", || cloud.update_auto_scaling_group(region, group, update.clone()))
                .await?;
            Ok(Output::Nothing)
        }
        Action::AdoptInstance { group, instance, .. } => {
            let instance = resolve(instance, outputs, as_instance)?;
            ctx.wait_running(step, &instance).await?;
            ctx.call(step, "AttachInstances", || cloud.attach_instance_to_group(region, group, &instance)).await?;
            Ok(Output::Nothing)
        }
        Action::DeleteAutoScalingGroup { group, .. } => {
            ctx.delete_group(step, group).await?;
            Ok(Output::Nothing)
        }
        Action::TerminateInstance { instance, .. } => {
            ctx.terminate(step, instance).await?;
            Ok(Output::Nothing)
        }
        Action::DeleteLaunchTemplate { template, .. } => {
            ctx.call(step, "DeleteLaunchTemplate", || cloud.delete_launch_template(region, template)).await?;
            Ok(Output::Nothing)
        }
        Action::DeleteLaunchConfiguration { name, .. } => {
            ctx.call(step, "DeleteLaunchConfiguration", || cloud.delete_launch_configuration(region, name)).await?;
            Ok(Output::Nothing)
        }
        Action::ReleaseAddress { address, .. } => {
            ctx.call(step, "ReleaseAddress", || cloud.release_address(region, address)).await?;
            Ok(Output::Nothing)
        }
        Action::CreateSnapshot { server, volume } => {
            let tags = ctx.tags(server);
            let snapshot =
                ctx.call(step, "CreateSnapshot", || cloud.create_snapshot(region, volume, tags.clone())).await?;
            let filter = Filter::Id(snapshot.id.to_string());
            ctx.wait(format!("snapshot {} of {volume} to complete", snapshot.id), || async {
                let all = ctx.call(step, "DescribeSnapshots", || cloud.describe_snapshots(region, &filter)).await?;
                Ok(all.iter().any(|s| s.id == snapshot.id && s.state == SnapshotState::Completed).then_some(()))
            })
            .await?;
            Ok(Output::Snapshot(snapshot.id))
        }
        Action::DeleteVolume { volume, .. } => {
            ctx.delete_volume(step, volume).await?;
            Ok(Output::Nothing)
        }
        Action::CreateImage { server, instance, name } => {
            let tags = ctx.tags(server);
            let image =
                ctx.call(step, "CreateImage", || cloud.create_image(region, instance, name, tags.clone())).await?;
            ctx.wait_image(step, region, &image.id).await?;
            Ok(Output::Image(image.id))
        }
        Action::CopyImage { image, to, name, .. } => {
            let image = resolve(image, outputs, as_image)?;
            let copy = ctx.call(step, "CopyImage", || cloud.copy_image(region, &image, to, name)).await?;
            ctx.wait_image(step, to, &copy.id).await?;
            Ok(Output::Image(copy.id))
        }
        Action::WaitRunning { instance, .. } => {
            let instance = resolve(instance, outputs, as_instance)?;
            ctx.wait_running(step, &instance).await?;
            Ok(Output::Nothing)
        }
        Action::WaitHealthy { server, instance, replacing } => {
            let instance = instance.as_ref().map(|i| resolve(i, outputs, as_instance)).transpose()?;
            ctx.wait(format!("{server} to be healthy"), || async {
                let target = match &instance {
                    Some(id) => Some(id.clone()),
                    None => ctx.current_instance(step, server, replacing.as_ref()).await?.map(|i| i.id),
                };
                match target {
                    Some(id) if ctx.healthy_on(step, server, &id).await? => Ok(Some(())),
                    _ => Ok(None),
                }
            })
            .await?;
            Ok(Output::Nothing)
        }
    }
}

async fn run_undo(ctx: &Ctx, step: StepId, undo: Undo, target: &Output) -> Result<(), StepError> {
    let cloud = &*ctx.cloud;
    let region = &ctx.region;
    let wrong =
        || StepError::Unexpected { what: format!("cannot {} of {step}: it produced {target}", undo.describe()) };
    match (undo, target) {
        (Undo::DeleteAutoScalingGroup, Output::Group(name)) => ctx.delete_group(step, name).await,
        (Undo::TerminateInstance, Output::Instance(id)) => ctx.terminate(step, id).await,
        (Undo::DeleteLaunchTemplate, Output::Launch(LaunchSource::Template { id, .. })) => {
            ctx.call(step, "DeleteLaunchTemplate", || cloud.delete_launch_template(region, id)).await
        }
        (Undo::DeleteLaunchConfiguration, Output::Launch(LaunchSource::Configuration { name })) => {
            ctx.call(step, "DeleteLaunchConfiguration", || cloud.delete_launch_configuration(region, name)).await
        }
        (Undo::DeleteVolume, Output::Volume(id)) => ctx.delete_volume(step, id).await,
        (Undo::ReleaseAddress, Output::Address { allocation_id, .. }) => {
            ctx.call(step, "ReleaseAddress", || cloud.release_address(region, allocation_id)).await
        }
        _ => Err(wrong()),
    }
}
