//! [`Caller`]: the one way the engine calls a [`Cloud`], retries a failed call and polls
//! for a state.
//!
//! The executor's steps, the inventory and status reads, and the instance agent all go
//! through a `Caller`, so one table ([`Policy::retry_for`]) decides which errors are
//! retried and for how long, one backoff (capped exponential with seeded "equal jitter")
//! spaces the retries, and one client-side copy of AWS's token buckets paces the calls.
//! Waiting is on the cloud's clock ([`Cloud::sleep`]), virtual in the simulator.

use crate::api::Api;
use crate::cloud::{Cloud, CloudError, CloudErrorKind, CloudResult, Filter};
use crate::limits::{Bucket, TokenBucket};
use crate::model::Timestamp;
use crate::rng::Rng;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod slots;

pub use slots::{sleep, unslotted, Slots};

/// Concurrency, retry and wait settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// At most this many steps at once (the executor's walk).
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
    /// How long a NotFound (`InvalidInstanceID.NotFound`, `InvalidVolume.NotFound`, ...) is
    /// taken for eventual consistency (a fresh resource not visible yet) rather than a
    /// missing one; also how long a create's lookup after a lost response keeps looking.
    pub consistency_window: Duration,
    /// Time between two looks while polling for a state.
    pub poll: Duration,
    /// The longest poll for one state.
    pub wait_timeout: Duration,
    /// Mirror AWS's token buckets client-side, so a big apply slows down instead of failing.
    pub client_rate_limit: bool,
    /// Seeds the backoff jitter (runs replay exactly from a seed).
    pub seed: u64,
    /// Where the calls are counted, if anywhere (benchmarks, tests).
    pub counts: Option<Arc<CallCounts>>,
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
            counts: None,
        }
    }
}

/// How long a failed call is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryFor {
    /// The error is final.
    Never,
    /// Retried while the time since the first attempt stays within the window.
    Within(Duration),
    /// Retried until this many errors of the kind (5xx: bounded by count, not time).
    Attempts(u32),
}

/// A call as AWS's buckets see it: its operation, and whether it is sent without a filter
/// (an unfiltered describe draws from a smaller bucket, [`Api::buckets`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    pub api: Api,
    pub unfiltered: bool,
}

impl Request {
    /// A describe sent with `filter` (unfiltered when it is `Filter::All`).
    pub fn describe(api: Api, filter: &Filter) -> Request {
        Request { api, unfiltered: matches!(filter, Filter::All) }
    }

    /// The buckets the call draws from.
    pub fn buckets(self) -> Vec<Bucket> {
        self.api.buckets(self.unfiltered)
    }
}

impl From<Api> for Request {
    /// A call with a filter or ids, or that takes none: cellar describes a region's
    /// security groups whole (no filter), every other describe it names by filter or id
    /// unless it says otherwise ([`Request::describe`]).
    fn from(api: Api) -> Request {
        Request { api, unfiltered: api == Api::DescribeSecurityGroups }
    }
}

/// Calls counted by request: every attempt, and those the cloud throttled.
#[derive(Debug, Default)]
pub struct CallCounts {
    counts: Mutex<BTreeMap<Request, (u64, u64)>>,
}

impl CallCounts {
    fn add(&self, request: Request, throttled: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(request).or_default();
        entry.0 += 1;
        entry.1 += u64::from(throttled);
    }

    /// (attempts, throttled attempts) of each request made.
    pub fn by_request(&self) -> BTreeMap<Request, (u64, u64)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// (attempts, throttled attempts) of each bucket drawn from.
    pub fn by_bucket(&self) -> BTreeMap<Bucket, (u64, u64)> {
        let mut out: BTreeMap<Bucket, (u64, u64)> = BTreeMap::new();
        for (request, (made, throttled)) in self.by_request() {
            for bucket in request.buckets() {
                let entry = out.entry(bucket).or_default();
                entry.0 += made;
                entry.1 += throttled;
            }
        }
        out
    }
}

impl Policy {
    /// For what nobody retries when it gives up: the reads of a plan or a status, and the
    /// instance agent, which runs once at boot, unattended. 5xx and missing responses are
    /// retried 10 times with the backoff capped at 30 s (about two to three minutes),
    /// the patience of the reads before this policy existed.
    pub fn for_reads() -> Policy {
        Policy { max_attempts: 10, backoff_cap: Duration::from_secs(30), ..Policy::default() }
    }

    /// The retry table: which error kinds are retried, and for how long.
    ///
    /// | kind | retried |
    /// |---|---|
    /// | InsufficientInstanceCapacity | within `capacity_window` |
    /// | RequestLimitExceeded (EC2) / Throttling (Auto Scaling) | within `throttle_window` |
    /// | NotFound of an instance, volume, address, image, snapshot, launch template or group (a fresh one not visible yet) | within `consistency_window` |
    /// | InternalError, Unavailable (5xx, no response) | `max_attempts` times |
    /// | NoCredentials, AuthFailure, ExpiredToken, UnauthorizedOperation | never: the fix is the credentials or the policy |
    /// | anything else | never |
    pub fn retry_for(&self, kind: &CloudErrorKind) -> RetryFor {
        match kind {
            CloudErrorKind::InsufficientInstanceCapacity => RetryFor::Within(self.capacity_window),
            CloudErrorKind::RequestLimitExceeded => RetryFor::Within(self.throttle_window),
            CloudErrorKind::InvalidInstanceIdNotFound
            | CloudErrorKind::InvalidVolumeNotFound
            | CloudErrorKind::InvalidAddressNotFound
            | CloudErrorKind::InvalidAmiIdNotFound
            | CloudErrorKind::InvalidSnapshotNotFound
            | CloudErrorKind::InvalidLaunchTemplateNotFound
            | CloudErrorKind::AutoScalingGroupNotFound => RetryFor::Within(self.consistency_window),
            CloudErrorKind::Unavailable | CloudErrorKind::InternalError => RetryFor::Attempts(self.max_attempts),
            CloudErrorKind::NoCredentials
            | CloudErrorKind::AuthFailure
            | CloudErrorKind::ExpiredToken
            | CloudErrorKind::UnauthorizedOperation => RetryFor::Never,
            _ => RetryFor::Never,
        }
    }
}

/// AttachVolume refused because the volume or the instance is not ready for it yet (the
/// volume still detaching from a dying instance, the instance still pending or not yet
/// visible): the caller's poll looks again later rather than fail. The executor and the
/// agent both attach data volumes through a [`Caller`] (which retries throttling and 5xx
/// by the table) and both decide the rest by this.
pub fn attach_not_ready(error: &CloudError) -> bool {
    matches!(
        error.kind,
        CloudErrorKind::VolumeInUse | CloudErrorKind::IncorrectState | CloudErrorKind::InvalidInstanceIdNotFound
    )
}

/// A retry about to happen, for progress reports.
#[derive(Debug)]
pub struct Retry<'a> {
    pub api: Api,
    pub at: Timestamp,
    /// 1 for the first retry.
    pub attempt: u32,
    pub error: &'a CloudError,
    pub delay: Duration,
}

/// The outcome of [`Caller::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Polled<T> {
    Ready(T),
    /// The state did not come within the policy's `wait_timeout`; `waited` is how long.
    TimedOut {
        waited: Duration,
    },
}

/// Calls, retries and polls through a [`Cloud`] under one [`Policy`].
pub struct Caller {
    policy: Policy,
    rng: Mutex<Rng>,
    buckets: Mutex<BTreeMap<Bucket, TokenBucket>>,
}

impl Caller {
    pub fn new(policy: &Policy) -> Self {
        Caller { policy: policy.clone(), rng: Mutex::new(Rng::new(policy.seed)), buckets: Mutex::new(BTreeMap::new()) }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The delay before retry `attempt` (1-based): capped exponential, half of it fixed and
    /// half drawn from the seeded RNG.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        let full = self.policy.backoff_base.saturating_mul(factor).min(self.policy.backoff_cap);
        let half = full / 2;
        let jitter = self.rng.lock().unwrap_or_else(|e| e.into_inner()).unit();
        half + half.mul_f64(jitter)
    }

    /// Takes a token from each client-side bucket of `request` (one per action, as AWS
    /// limits each action on its own; Auto Scaling's shared one), sleeping until each has
    /// one. A token not there yet is reserved (the bucket goes into debt) and the call waits
    /// until it has refilled: callers are served in the order they asked, so none starves
    /// behind later ones. The mirror starts full and follows the cloud's clock (to the
    /// millisecond, [`Cloud::now_ms`]); a throttled answer empties it
    /// ([`Caller::throttled`]), since others (the instances' agents, other operators) draw
    /// from the same account buckets.
    async fn take_token(&self, cloud: &dyn Cloud, request: Request) -> Duration {
        if !self.policy.client_rate_limit {
            return Duration::ZERO;
        }
        let wanted = request.buckets();
        if wanted.is_empty() {
            return Duration::ZERO;
        }
        let now_ms = cloud.now_ms().await;
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let mut wait = 0;
            for &bucket in &wanted {
                let b = buckets.entry(bucket).or_insert_with(|| TokenBucket::full(bucket, now_ms));
                wait = wait.max(b.reserve(bucket, now_ms));
            }
            wait
        };
        if wait == 0 {
            return Duration::ZERO;
        }
        slots::sleep_for_token(cloud, Duration::from_millis(wait)).await;
        Duration::from_millis(cloud.now_ms().await.saturating_sub(now_ms))
    }

    /// The cloud throttled `request`: its request bucket (the first) is empty there, so the
    /// mirror empties it too and the next calls wait for its refill instead of each being
    /// refused.
    async fn throttled(&self, cloud: &dyn Cloud, request: Request) {
        let Some(&bucket) = request.buckets().first() else { return };
        let now_ms = cloud.now_ms().await;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.entry(bucket).or_insert_with(|| TokenBucket::full(bucket, now_ms)).drain(bucket, now_ms);
    }

    /// Calls `f` (the operation `api`) until it succeeds or its error is final by
    /// [`Policy::retry_for`]; `on_retry` hears of each retry before its backoff.
    pub async fn call_reporting<T, F, Fut>(
        &self,
        cloud: &dyn Cloud,
        api: impl Into<Request>,
        on_retry: &(dyn Fn(&Retry<'_>) + Send + Sync),
        f: F,
    ) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        self.call_inner(cloud, api.into(), on_retry, f).await
    }

    /// [`Caller::call_reporting`] without progress reports (reads for a plan or a status,
    /// the agent).
    pub async fn call<T, F, Fut>(&self, cloud: &dyn Cloud, api: impl Into<Request>, f: F) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        self.call_inner(cloud, api.into(), &|_| {}, f).await
    }

    async fn call_inner<T, F, Fut>(
        &self,
        cloud: &dyn Cloud,
        request: Request,
        on_retry: &(dyn Fn(&Retry<'_>) + Send + Sync),
        mut f: F,
    ) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let api = request.api;
        let started = cloud.now().await;
        let mut attempt = 1;
        // Errors bounded by count (5xx) are counted on their own, so a few of them between
        // capacity retries do not end the capacity window early.
        let mut counted = 0;
        // Time spent queued for the client-side buckets: the client's own pacing, not AWS
        // refusing, so it does not count towards a retry window (a call throttled once
        // re-queues behind the calls reserved before it, which at 10,000 servers can be
        // minutes away).
        let mut paced = Duration::ZERO;
        loop {
            paced += self.take_token(cloud, request).await;
            let result = f().await;
            let throttled = result.as_ref().is_err_and(|e| e.kind == CloudErrorKind::RequestLimitExceeded);
            if let Some(counts) = &self.policy.counts {
                counts.add(request, throttled);
            }
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if throttled && self.policy.client_rate_limit {
                self.throttled(cloud, request).await;
            }
            let delay = self.backoff(attempt);
            let now = cloud.now().await;
            let waited = Duration::from_secs(now.0.saturating_sub(started.0)).saturating_sub(paced);
            let give_up = match self.policy.retry_for(&error.kind) {
                RetryFor::Never => true,
                RetryFor::Within(window) => waited + delay > window,
                RetryFor::Attempts(max) => {
                    counted += 1;
                    counted >= max
                }
            };
            if give_up {
                return Err(error);
            }
            on_retry(&Retry { api, at: now, attempt, error: &error, delay });
            sleep(cloud, delay).await;
            attempt += 1;
        }
    }

    /// Looks with `check` until it returns `Some`, sleeping the policy's `poll` between
    /// looks, for at most its `wait_timeout`. An error from `check` ends the poll.
    pub async fn poll<T, E, F, Fut>(&self, cloud: &dyn Cloud, check: F) -> Result<Polled<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        self.poll_reporting(cloud, &|_, _| {}, check).await
    }

    /// [`Caller::poll`] that tells `on_wait` the time and how long it has waited, after
    /// every look that did not find the state.
    pub async fn poll_reporting<T, E, F, Fut>(
        &self,
        cloud: &dyn Cloud,
        on_wait: &(dyn Fn(Timestamp, Duration) + Send + Sync),
        mut check: F,
    ) -> Result<Polled<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let started = cloud.now().await;
        loop {
            if let Some(v) = check().await? {
                return Ok(Polled::Ready(v));
            }
            let now = cloud.now().await;
            let waited = Duration::from_secs(now.0.saturating_sub(started.0));
            if waited >= self.policy.wait_timeout {
                return Ok(Polled::TimedOut { waited });
            }
            on_wait(now, waited);
            sleep(cloud, self.policy.poll).await;
        }
    }
}
