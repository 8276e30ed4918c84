//! The executor: applies a [`Plan`] through a [`Cloud`].
//!
//! Outline:
//!
//! 1. [`walk`] walks the plan's graph (knowing nothing of what steps do): ready steps in
//!    id order, each working in one of the policy's `concurrency` slots
//!    ([`crate::caller::Slots`]; a step sleeping holds none); a failed step's dependents
//!    and its server's unstarted steps are skipped while other servers' steps go on.
//! 2. Each step runs its handler ([`steps`]) with the outputs of the steps it runs after
//!    ([`Ref::Output`](crate::plan::Ref) inputs).
//! 3. When the walk ends, the completed steps of each failed server that name an
//!    [`Undo`] are undone in reverse order of completion ([`undo`], compensation).
//! 4. The [`ApplyReport`] says what was done, failed, skipped, blocked and undone.
//!
//! A DNS gate that is not confirmed *blocks* instead of failing: its dependents are skipped
//! and nothing is undone, so the address it waits for survives to the next apply.
//!
//! Every creating call is exactly once under lost responses ([`token`]): calls that take
//! a ClientToken carry the step's token, the others tag what they create with it and look
//! it up before a retry.
//!
//! Every cloud call and every wait goes through the [`Caller`] (retries by one table,
//! backoff with seeded jitter, client-side token buckets; polls on [`Cloud::sleep`], so on
//! the simulator minutes pass in virtual time).

mod board;
mod ctx;
mod deleting;
pub mod journal;
mod reconcile;
mod steps;
mod token;
mod undo;
pub mod walk;

pub use crate::caller::Policy;
pub use token::TOKEN_TAG;

use crate::api::Api;
use crate::caller::Caller;
use crate::cloud::*;
use crate::model::*;
use crate::plan::*;
use ctx::Ctx;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use walk::{Cancel, Finish, Task};

/// The person (or flag) that answers gates, and where progress goes.
pub trait Operator: Send + Sync {
    /// Asked at a DNS gate when `host` does not point at `ip` yet: has the record been
    /// updated (or will it be), so that apply may go on?
    fn confirm_dns(&self, host: &str, ip: &str) -> bool;
    /// Progress, as it happens.
    fn event(&self, event: &Event);
    /// How long a DNS gate waits for the record to point at the address before it asks
    /// (`--wait-dns`); it looks the name up again every [`DNS_POLL`].
    fn dns_wait(&self) -> Option<Duration> {
        None
    }
    /// Between two lookups of a waiting DNS gate: let `interval` pass (in real time: the
    /// record is changed outside; the CLI also lets other commands at the simulator's state).
    fn dns_pause(&self, _host: &str, _ip: &str, _interval: Duration) {}
}

/// How often a DNS gate that waits ([`Operator::dns_wait`]) looks the name up again.
pub const DNS_POLL: Duration = Duration::from_secs(5);

/// Progress of an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Started {
        step: StepId,
        at: Timestamp,
        summary: String,
    },
    Done {
        step: StepId,
        at: Timestamp,
        output: String,
    },
    Failed {
        step: StepId,
        at: Timestamp,
        error: String,
    },
    Skipped {
        step: StepId,
        because: StepId,
    },
    Blocked {
        step: StepId,
        at: Timestamp,
        reason: String,
    },
    Retrying {
        step: StepId,
        at: Timestamp,
        api: Api,
        error: String,
        attempt: u32,
        delay: Duration,
    },
    /// A step has waited `elapsed` (more than [`ctx::WAIT_REPORTED_AFTER`]) for `what`
    /// (`instance i-0007 to run`); sent after every look, so a listener picks its pace.
    Waiting {
        step: StepId,
        at: Timestamp,
        what: String,
        elapsed: Duration,
    },
    Undoing {
        step: StepId,
        at: Timestamp,
        what: String,
    },
    Undone {
        step: StepId,
        at: Timestamp,
    },
    UndoFailed {
        step: StepId,
        at: Timestamp,
        error: String,
    },
    /// A rolling fleet plan starts wave `wave` of `of` with these servers.
    WaveStarted {
        wave: usize,
        of: usize,
        servers: Vec<ServerName>,
    },
    /// A server whose steps all succeeded is not healthy at its wave's health gate: it
    /// counts as failed (nothing of it is undone).
    Unhealthy {
        server: ServerName,
        reason: String,
    },
    /// Wave `wave` of `of` ended: `healthy` servers passed its health gate, `failed` did not
    /// (a step failed, or unhealthy); `budget_left`: failures before no new wave starts.
    /// `checked`: some server of the wave was checked for health (a wave that only stops
    /// servers passes when its steps did).
    WaveDone {
        wave: usize,
        of: usize,
        healthy: usize,
        failed: usize,
        budget_left: Option<usize>,
        checked: bool,
    },
}

/// What a step produced, for the steps that refer to it (and the journal keeps).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
        call: Api,
        #[source]
        source: CloudError,
    },
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    #[error("{what}")]
    Unexpected { what: String },
    #[error("{host} does not point at {ip} and the DNS change was not confirmed")]
    DnsNotConfirmed { host: String, ip: String },
    /// The journal could not keep a record: the step does not go on unrecorded.
    #[error("the journal could not be written: {0}")]
    Journal(String),
    /// Failed in the apply this one resumes (its server's compensation runs again).
    #[error("failed before the apply was resumed: {0}")]
    FailedBefore(String),
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(Output),
    Failed(StepError),
    Skipped {
        because: StepId,
    },
    Blocked(StepError),
    /// Not started: the apply was cancelled.
    Cancelled,
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
    /// `done 9, failed 0, skipped 0, blocked 0, undone 0` (and `, cancelled N` if any were).
    pub fn summary(&self) -> String {
        let cancelled = self.count(|o| matches!(o, Outcome::Cancelled));
        format!(
            "done {}, failed {}, skipped {}, blocked {}, undone {}{}",
            self.count(|o| matches!(o, Outcome::Done(_))),
            self.count(|o| matches!(o, Outcome::Failed(_))),
            self.count(|o| matches!(o, Outcome::Skipped { .. })),
            self.count(|o| matches!(o, Outcome::Blocked(_))),
            self.undone.iter().filter(|u| u.result.is_ok()).count(),
            if cancelled > 0 { format!(", cancelled {cancelled}") } else { String::new() }
        )
    }
}

/// Applies `plan`. The plan must be [`Plan::validate`]d (loading and planning do that).
pub async fn apply(cloud: Arc<dyn Cloud>, operator: Arc<dyn Operator>, plan: &Plan, policy: Policy) -> ApplyReport {
    apply_cancellable(cloud, operator, plan, policy, &Cancel::default()).await
}

/// [`apply`] that starts no further step once `cancel` is cancelled (the steps running
/// then finish, and the failed servers' compensation still runs). What the cancelled
/// servers' finished steps created stays: only a caller that keeps a journal (to resume
/// from, [`apply_journaled`]) should cancel.
pub async fn apply_cancellable(
    cloud: Arc<dyn Cloud>,
    operator: Arc<dyn Operator>,
    plan: &Plan,
    policy: Policy,
    cancel: &Cancel,
) -> ApplyReport {
    let journal = Journaled { journal: Arc::new(journal::NoJournal), resume: journal::Resume::default() };
    apply_journaled(cloud, operator, plan, policy, cancel, journal).await
}

/// Where an apply records what it does, and what an earlier apply of the same plan did.
pub struct Journaled {
    pub journal: Arc<dyn journal::Journal>,
    /// The journal read back ([`journal::Resume::from_records`]); empty for a first apply.
    pub resume: journal::Resume,
}

/// [`apply_cancellable`] keeping a journal, and resuming the one given: steps done are
/// taken from it, steps failed fail again (their server is compensated, steps undone are
/// not undone twice), every other step runs. The caller records [`journal::Record::Ended`].
pub async fn apply_journaled(
    cloud: Arc<dyn Cloud>,
    operator: Arc<dyn Operator>,
    plan: &Plan,
    policy: Policy,
    cancel: &Cancel,
    journaled: Journaled,
) -> ApplyReport {
    let Journaled { journal, resume } = journaled;
    let salt = cloud.now().await.0;
    let steps: BTreeMap<StepId, Arc<Step>> = plan.steps.iter().map(|s| (s.id, Arc::new(s.clone()))).collect();
    let ctx = Arc::new(Ctx {
        cloud,
        operator,
        caller: Caller::new(&policy),
        slots: crate::caller::Slots::new(policy.concurrency),
        board: Default::default(),
        instance_board: board::Board::instances_only(),
        snapshot_board: board::Board::snapshots_only(),
        region: plan.scope.region.clone(),
        tags: plan.tags.iter().map(|(server, tags)| (server.clone(), Tags::clone(tags))).collect(),
        steps,
        // A step the journal started keeps the token it was started with.
        tokens: token::Tokens::new(plan, salt, resume.tokens.clone()),
        interrupted: resume.interrupted.clone(),
    });
    let waves = plan.waves();
    let rolling = plan.fleet.as_ref().and_then(|f| f.rollout.as_ref());
    let budget = rolling.and_then(|r| r.stop_after_failures);
    // Only an interrupted step is reconciled, against the ids known to be not its own.
    let known =
        Arc::new(if resume.interrupted.is_empty() { Default::default() } else { journal::known_ids(plan, &resume) });
    let resume = Arc::new(resume);
    let mut report = ApplyReport::default();
    let mut failed: BTreeSet<ServerName> = BTreeSet::new();
    // Once the error budget is spent: the failure that spent it (later waves are skipped).
    let mut spent: Option<StepId> = None;
    for (n, wave) in waves.iter().enumerate() {
        let members: BTreeSet<&ServerName> = wave.iter().collect();
        let steps: Vec<&Step> = plan.steps.iter().filter(|s| members.contains(&s.server)).collect();
        if n > 0 && cancel.is_cancelled() {
            // Ctrl-C: the waves not started are cancelled (a resume starts them).
            report.outcomes.extend(steps.iter().map(|s| (s.id, Outcome::Cancelled)));
            continue;
        }
        if let Some(because) = spent {
            for step in steps {
                ctx.operator.event(&Event::Skipped { step: step.id, because });
                report.outcomes.insert(step.id, Outcome::Skipped { because });
            }
            continue;
        }
        if rolling.is_some() {
            ctx.operator.event(&Event::WaveStarted { wave: n + 1, of: waves.len(), servers: wave.clone() });
        }
        let run = WaveRun { ctx: &ctx, journal: &journal, resume: &resume, known: &known, cancel };
        let (stopped, outcomes, undone) = run.walk(plan, &steps).await;
        report.outcomes.extend(outcomes);
        report.undone.extend(undone);
        let Some(rolling) = rolling else { continue };
        let gate = health_gate(&ctx, wave, &steps, &stopped).await;
        for (server, last) in &gate.unhealthy {
            failed.insert(server.clone());
            if budget.is_some_and(|b| failed.len() >= b as usize) {
                spent = spent.or(*last);
            }
        }
        let healthy = gate.passed;
        failed.extend(stopped.keys().cloned());
        if budget.is_some_and(|b| failed.len() >= b as usize) {
            spent = spent.or(stopped.values().copied().max());
        }
        let budget_left = rolling.stop_after_failures.map(|b| (b as usize).saturating_sub(failed.len()));
        ctx.operator.event(&Event::WaveDone {
            wave: n + 1,
            of: waves.len(),
            healthy,
            failed: wave.len() - healthy,
            budget_left,
            checked: gate.checked,
        });
    }
    report
}

/// The end of a wave's health gate.
struct Gate {
    /// Servers that passed: healthy, or (a plan that does not end up) whose steps did.
    passed: usize,
    /// Servers whose steps succeeded but that are not healthy, with their last step.
    unhealthy: Vec<(ServerName, Option<StepId>)>,
    /// Whether any server of the wave was checked for health.
    checked: bool,
}

/// Every server of the wave whose steps all succeeded and whose plan ends with it up
/// (a `WaitHealthy` step) must be healthy by `cellar status`'s rules, its agent's result
/// included; the others pass when their steps did. The servers checked are read together
/// (`status::read_many`: a describe per kind and 200 servers, not per server).
async fn health_gate(ctx: &Ctx, wave: &[ServerName], steps: &[&Step], stopped: &BTreeMap<ServerName, StepId>) -> Gate {
    let wants_health = |server: &ServerName| {
        steps.iter().any(|s| &s.server == server && matches!(s.action, Action::WaitHealthy { .. }))
    };
    let mut gate = Gate { passed: 0, unhealthy: Vec::new(), checked: wave.iter().any(&wants_health) };
    let mut checked = Vec::new();
    for server in wave.iter().filter(|s| !stopped.contains_key(*s)) {
        if wants_health(server) {
            checked.push((server.clone(), ctx.region.clone()));
        } else {
            gate.passed += 1;
        }
    }
    if checked.is_empty() {
        return gate;
    }
    let read = crate::status::read_many(&*ctx.cloud, &checked).await;
    for (k, (server, _)) in checked.iter().enumerate() {
        let reason = match read.as_ref().map(|statuses| statuses.get(k)) {
            Ok(Some(status)) if status.health == crate::status::Health::Healthy => {
                gate.passed += 1;
                continue;
            }
            Ok(Some(status)) => format!("{server} is {} after its steps: {}", status.health.as_str(), status.reason),
            Ok(None) => format!("{server}: its health was not read"),
            Err(e) => format!("{server}: its health could not be read: {e}"),
        };
        ctx.operator.event(&Event::Unhealthy { server: server.clone(), reason });
        let last = steps.iter().filter(|s| &s.server == server).map(|s| s.id).max();
        gate.unhealthy.push((server.clone(), last));
    }
    gate
}

/// What a wave's walk shares.
struct WaveRun<'a> {
    ctx: &'a Arc<Ctx>,
    journal: &'a Arc<dyn journal::Journal>,
    resume: &'a Arc<journal::Resume>,
    known: &'a Arc<std::collections::BTreeSet<String>>,
    cancel: &'a Cancel,
}

impl WaveRun<'_> {
    /// Walks `steps` (one wave's) and compensates its failed servers: the servers stopped
    /// (and the step that stopped each), every step's outcome, the undos run.
    async fn walk(
        &self,
        plan: &Plan,
        steps: &[&Step],
    ) -> (BTreeMap<ServerName, StepId>, BTreeMap<StepId, Outcome>, Vec<UndoRecord>) {
        let tasks: Vec<Task<ServerName>> = steps
            .iter()
            .map(|s| Task { id: s.id, group: s.server.clone(), after: s.after.clone(), waits: s.action.only_waits() })
            .collect();
        let run = |id: StepId, inputs: BTreeMap<StepId, Output>| {
            let (ctx, journal, known) = (self.ctx.clone(), self.journal.clone(), self.known.clone());
            let cancel = self.cancel.clone();
            // Every step of the plan is in the context (shared, not cloned per run).
            let step = self.ctx.steps.get(&id).cloned();
            let decision = self.resume.decide(id);
            // Boxed: a step's future holds every handler's state (tens of KB), and the walk
            // moves it twice before it runs; a box moves as a pointer.
            Box::pin(async move {
                // The walk starts every ready step; each works in one of the `--parallelism`
                // slots (first come, first served), and gives it up while it sleeps.
                let slots = ctx.slots.clone();
                slots
                    .run(async {
                        if cancel.is_cancelled() {
                            return Finish::Cancelled;
                        }
                        match step {
                            Some(step) => {
                                resume_step(&ctx, &*journal, &step, (decision, &known), steps::Inputs(inputs)).await
                            }
                            None => {
                                Finish::Failed(StepError::Unexpected { what: format!("step {id} is not in the plan") })
                            }
                        }
                    })
                    .await
            })
        };
        let on_skip = |step, because| self.ctx.operator.event(&Event::Skipped { step, because });
        let walked = walk::walk(&tasks, usize::MAX, self.cancel, run, &on_skip).await;
        let mut outcomes = BTreeMap::new();
        let mut outputs = BTreeMap::new();
        for (id, outcome) in walked.outcomes {
            let outcome = match outcome {
                walk::Outcome::Done(output) => {
                    outputs.insert(id, output.clone());
                    Outcome::Done(output)
                }
                walk::Outcome::Failed(e) => Outcome::Failed(e),
                walk::Outcome::Blocked(e) => Outcome::Blocked(e),
                walk::Outcome::Skipped { because } => Outcome::Skipped { because },
                walk::Outcome::Cancelled => Outcome::Cancelled,
            };
            outcomes.insert(id, outcome);
        }
        let blocked = |id| matches!(outcomes.get(&id), Some(Outcome::Blocked(_)));
        let completed: Vec<StepId> =
            walked.completed.iter().copied().filter(|id| !self.resume.undone.contains(id)).collect();
        let undone =
            undo::compensate(self.ctx, &**self.journal, plan, &walked.stopped, blocked, &completed, &outputs).await;
        (walked.stopped, outcomes, undone)
    }
}

/// A step of a resumed apply: taken from the journal, failed again, reconciled or run.
/// `known`: the ids that are not an interrupted step's ([`journal::known_ids`]).
async fn resume_step(
    ctx: &Ctx,
    journal: &dyn journal::Journal,
    step: &Step,
    (decision, known): (journal::Decision, &std::collections::BTreeSet<String>),
    inputs: steps::Inputs,
) -> Finish<Output, StepError> {
    let at = ctx.cloud.now().await;
    let failed = |error: StepError| {
        ctx.operator.event(&Event::Failed { step: step.id, at, error: error.to_string() });
        Finish::Failed(error)
    };
    let reconcile = match decision {
        journal::Decision::Take(output) => {
            ctx.operator.event(&Event::Done { step: step.id, at, output: format!("{output} (from the journal)") });
            return Finish::Done(output);
        }
        journal::Decision::FailAgain(error) => return failed(StepError::FailedBefore(error)),
        journal::Decision::Reconcile => true,
        journal::Decision::Run => false,
    };
    let keeps = journal.keeps();
    if keeps {
        let started = journal::Record::Started { step: step.id, token: Some(ctx.token(step.id)) };
        if let Err(e) = journal.record(&started) {
            return failed(StepError::Journal(e));
        }
    }
    let found = if reconcile { reconcile::find(ctx, step, known).await } else { Ok(None) };
    let finish = match found {
        Ok(Some(output)) => {
            let output_text = format!("{output} (made before the interruption, found again)");
            ctx.operator.event(&Event::Done { step: step.id, at: ctx.cloud.now().await, output: output_text });
            Finish::Done(output)
        }
        Ok(None) => run_step(ctx, step, inputs).await,
        Err(e) => failed(e),
    };
    if !keeps {
        return finish;
    }
    let record = match &finish {
        Finish::Done(output) => journal::Record::Done { step: step.id, output: output.clone() },
        Finish::Failed(e) => journal::Record::Failed { step: step.id, error: e.to_string() },
        Finish::Blocked(e) => journal::Record::Blocked { step: step.id, reason: e.to_string() },
        Finish::Cancelled => return finish,
    };
    match (journal.record(&record), finish) {
        (Ok(()), finish) => finish,
        // Done but not recorded: failed, so nothing builds on what the journal lacks
        // (a resume reconciles the step).
        (Err(e), _) => Finish::Failed(StepError::Journal(e)),
    }
}

/// Runs one step with its progress events.
async fn run_step(ctx: &Ctx, step: &Step, inputs: steps::Inputs) -> Finish<Output, StepError> {
    let id = step.id;
    ctx.operator.event(&Event::Started { step: id, at: ctx.cloud.now().await, summary: step.describe().1 });
    let result = steps::run(ctx, step, &inputs).await;
    let at = ctx.cloud.now().await;
    match result {
        Ok(output) => {
            ctx.operator.event(&Event::Done { step: id, at, output: output.to_string() });
            Finish::Done(output)
        }
        Err(error @ StepError::DnsNotConfirmed { .. }) => {
            ctx.operator.event(&Event::Blocked { step: id, at, reason: error.to_string() });
            Finish::Blocked(error)
        }
        Err(error) => {
            ctx.operator.event(&Event::Failed { step: id, at, error: error.to_string() });
            Finish::Failed(error)
        }
    }
}
