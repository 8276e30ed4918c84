//! The apply journal: what an apply did, step by step, so that an interrupted apply (a
//! crash, `kill -9`, Ctrl-C, a DNS gate) can be resumed instead of started again.
//!
//! The executor hands each [`Record`] to a [`Journal`] sink and waits for it to say the
//! record is kept (the CLI writes the file atomically, with fsync) before it goes on: a
//! step's `Started` is kept before its first call, its `Done` (with the ids it created)
//! before any step that uses them starts. The engine does no I/O; the sink does.
//!
//! [`Resume::from_records`] reads a journal back into the decisions a resumed apply makes
//! ([`Resume::decide`]): a step done is taken from the journal (its output feeds later
//! steps), a step failed fails again without a call (so its server's compensation runs, or
//! finishes), a step undone is not undone twice, and every other step (never started,
//! started and never finished, blocked at a gate) runs. [`resumed_staleness`] is the stale
//! check of a resumed apply: the changes the journal says this apply made are its own.

use super::Output;
use crate::model::*;
use crate::plan::{staleness, Action, Observation, Observed, Plan, ResourceKey, Step, StepId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Record {
    /// The step is about to make its first call (with its idempotency token, if it has one).
    Started {
        step: StepId,
        token: Option<String>,
    },
    /// The step is done; `output` is what it created or found (the ids later steps use).
    Done {
        step: StepId,
        output: Output,
    },
    Failed {
        step: StepId,
        error: String,
    },
    /// Stopped at a gate (the DNS record does not point at the new address yet).
    Blocked {
        step: StepId,
        reason: String,
    },
    /// The step's compensation ran (what it created is gone).
    Undone {
        step: StepId,
    },
    UndoFailed {
        step: StepId,
        error: String,
    },
    /// The apply ended: nothing more to resume, unless it ended `Blocked` or `Cancelled`.
    Ended {
        how: Ending,
        summary: String,
    },
}

/// How an apply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ending {
    Succeeded,
    /// Stopped at a DNS gate: apply the plan again once the record is updated.
    Blocked,
    /// Ctrl-C: apply the plan again to go on.
    Cancelled,
    /// A step failed and its server's changes were undone (or the undo failed).
    Failed,
}

impl Ending {
    /// Can an apply that ended so be resumed?
    pub fn resumable(self) -> bool {
        matches!(self, Ending::Blocked | Ending::Cancelled)
    }
}

/// Where the journal's records go. `record` returns once the record is kept (on disk):
/// an error stops the step that asked (nothing unrecorded is done).
pub trait Journal: Send + Sync {
    fn record(&self, record: &Record) -> Result<(), String>;

    /// Does it keep anything? When not, the executor builds no records for it.
    fn keeps(&self) -> bool {
        true
    }
}

/// A journal that keeps nothing (library callers and tests that do not resume).
pub struct NoJournal;

impl Journal for NoJournal {
    fn record(&self, _: &Record) -> Result<(), String> {
        Ok(())
    }

    fn keeps(&self) -> bool {
        false
    }
}

/// What a resumed apply does with a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Done before: its output is taken from the journal.
    Take(Output),
    /// Failed before: fails again without a call, so its server's compensation runs.
    FailAgain(String),
    /// Started and never finished: what it made is looked for (by tag or name, see
    /// `reconcile.rs`) and taken if found; otherwise it runs again with the token it was
    /// started with ([`Resume::tokens`]), so a ClientToken call gets AWS's first answer.
    Reconcile,
    /// Never started, or blocked at a gate (which checks the record again).
    Run,
}

/// A journal read back: what each step came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub done: BTreeMap<StepId, Output>,
    pub failed: BTreeMap<StepId, String>,
    /// Started and never done, failed or blocked (interrupted mid-step).
    pub interrupted: BTreeSet<StepId>,
    pub undone: BTreeSet<StepId>,
    /// The token each started step last recorded: a resumed step sends it again (a
    /// ClientToken AWS answers with the first result; a token tag reconcile finds).
    pub tokens: BTreeMap<StepId, String>,
    /// The last `Ended`, if the apply got that far.
    pub ended: Option<Ending>,
}

impl Resume {
    pub fn from_records(records: &[Record]) -> Resume {
        let mut r = Resume::default();
        for record in records {
            match record {
                Record::Started { step, token } => {
                    r.interrupted.insert(*step);
                    if let Some(token) = token {
                        r.tokens.insert(*step, token.clone());
                    }
                    r.ended = None;
                }
                Record::Done { step, output } => {
                    r.interrupted.remove(step);
                    r.done.insert(*step, output.clone());
                }
                Record::Failed { step, error } => {
                    r.interrupted.remove(step);
                    r.failed.insert(*step, error.clone());
                }
                Record::Blocked { step, .. } => {
                    r.interrupted.remove(step);
                }
                Record::Undone { step } => {
                    r.undone.insert(*step);
                }
                Record::UndoFailed { .. } => {}
                Record::Ended { how, .. } => r.ended = Some(*how),
            }
        }
        r
    }

    /// Did this journal record anything at all?
    pub fn is_empty(&self) -> bool {
        *self == Resume::default()
    }

    pub fn decide(&self, step: StepId) -> Decision {
        if let Some(output) = self.done.get(&step) {
            Decision::Take(output.clone())
        } else if let Some(error) = self.failed.get(&step) {
            Decision::FailAgain(error.clone())
        } else if self.interrupted.contains(&step) {
            Decision::Reconcile
        } else {
            Decision::Run
        }
    }
}

/// The ids (as text) an interrupted step's resource is not: those the plan saw and those
/// the journal says its steps made.
pub fn known_ids(plan: &Plan, resume: &Resume) -> BTreeSet<String> {
    let seen = plan.observed.iter().filter_map(|o| key_id(&o.resource));
    seen.chain(resume.done.values().flat_map(output_ids)).collect()
}

/// The stale check of a resumed apply: [`staleness`] without the changes this apply made.
/// Its own are: every resource a journal step created (by id, from the outputs); a
/// resource the plan saw that a step the journal started names; a DNS record that now
/// points at an address the journal allocated; and, for a step interrupted mid-call, a
/// resource of the kind it creates that appeared (it is reconciled when the step runs again);
/// and an instance that appeared after a started step made a group launch one.
pub fn resumed_staleness(plan: &Plan, now: &[Observation], resume: &Resume) -> Vec<String> {
    let created: BTreeSet<String> = resume.done.values().flat_map(output_ids).collect();
    let ips: BTreeSet<&str> = resume
        .done
        .values()
        .filter_map(|o| match o {
            Output::Address { public_ip, .. } => Some(public_ip.as_str()),
            _ => None,
        })
        .collect();
    let started: Vec<&Step> =
        plan.steps.iter().filter(|s| resume.done.contains_key(&s.id) || resume.interrupted.contains(&s.id)).collect();
    let named: Vec<String> = started.iter().map(|s| ron::to_string(&s.action).unwrap_or_default()).collect();
    let mut kinds: BTreeSet<&str> = plan
        .steps
        .iter()
        .filter(|s| resume.interrupted.contains(&s.id))
        .filter_map(|s| created_kind(&s.action))
        .collect();
    // A group launches an instance when a started step terminates its member, updates it
    // or creates it: an instance that appeared since is the group's doing for this apply.
    if started.iter().any(|s| makes_a_group_launch(&s.action)) {
        kinds.insert("instance");
    }
    let made_images = resume.done.values().any(|o| matches!(o, Output::Image(_))) || kinds.contains("image");
    let seen: BTreeSet<&ResourceKey> = plan.observed.iter().map(|o| &o.resource).collect();
    let stopped = stopped_instances(plan, &started, &named);
    let on_stopped = |i: &Option<InstanceId>| i.as_ref().is_some_and(|i| stopped.contains(i));
    let ours = |o: &Observation| {
        let id = key_id(&o.resource);
        match (&o.resource, &o.observed) {
            // What a started step terminates (by id, or as a member of a group it scales
            // down or deletes), and the volume and address on it, which AWS detaches and
            // disassociates as the instance goes.
            (ResourceKey::Instance(i), _) if stopped.contains(i) => true,
            (_, Observed::Volume { attached_to, .. }) if on_stopped(attached_to) => true,
            (_, Observed::Address { associated_to, .. }) if on_stopped(associated_to) => true,
            (ResourceKey::Dns(_), Observed::Dns { addresses }) => {
                !addresses.is_empty() && addresses.iter().all(|a| ips.contains(a.as_str()))
            }
            (ResourceKey::ImageFamily { .. } | ResourceKey::NewestImage { .. }, _) => made_images,
            _ if id.as_ref().is_some_and(|id| created.contains(id)) => true,
            _ if id.as_ref().is_some_and(|id| named.iter().any(|text| text.contains(id.as_str()))) => true,
            (key, _) => !seen.contains(key) && kind_of(key).is_some_and(|k| kinds.contains(k)),
        }
    };
    // A key is this apply's own if what is there now is (a DNS record pointing at our
    // address) or if what the plan saw is (a resource a journal step names).
    let mut own: BTreeSet<ResourceKey> =
        now.iter().chain(plan.observed.iter()).filter(|o| ours(o)).map(|o| o.resource.clone()).collect();
    own.extend(replaced_members(plan, now, &stopped));
    let mut before = plan.clone();
    before.observed.retain(|o| !own.contains(&o.resource));
    let kept: Vec<Observation> = now.iter().filter(|o| !own.contains(&o.resource)).cloned().collect();
    let mut changes = staleness(&before, &kept);
    changes.extend(gone_since(plan, now, resume));
    changes
}

/// Groups whose only change is their members, where a member the plan saw is one a started
/// step terminates: the group replacing it (a `--restart` of a group launching its
/// template's `$Latest`, which no step names) is this apply's doing. A changed size or
/// launch is not.
fn replaced_members(plan: &Plan, now: &[Observation], stopped: &BTreeSet<InstanceId>) -> Vec<ResourceKey> {
    let sizes = |o: &Observation| match &o.observed {
        Observed::Group { launch, desired, instances } => Some((launch.clone(), *desired, instances.clone())),
        _ => None,
    };
    let groups_now: BTreeMap<&ResourceKey, &Observation> =
        now.iter().filter(|o| matches!(o.observed, Observed::Group { .. })).map(|o| (&o.resource, o)).collect();
    plan.observed
        .iter()
        .filter_map(|before| {
            let (launch, desired, members) = sizes(before)?;
            let after = groups_now.get(&before.resource).and_then(|o| sizes(o))?;
            let replaced = members.iter().any(|i| stopped.contains(i));
            (replaced && (after.0, after.1) == (launch, desired)).then(|| before.resource.clone())
        })
        .collect()
}

/// The instances the plan saw that may have terminated by this apply's doing: those a
/// started step names, the members of a group it scales or deletes, and those already
/// shutting down.
fn stopped_instances(plan: &Plan, started: &[&Step], named: &[String]) -> BTreeSet<InstanceId> {
    let groups: BTreeSet<&AutoScalingGroupName> = started
        .iter()
        .filter_map(|s| match &s.action {
            Action::UpdateAutoScalingGroup { group, .. } | Action::DeleteAutoScalingGroup { group } => Some(group),
            _ => None,
        })
        .collect();
    let mut out = BTreeSet::new();
    for o in &plan.observed {
        match (&o.resource, &o.observed) {
            (ResourceKey::Instance(id), _) if named.iter().any(|text| text.contains(id.as_str())) => {
                out.insert(id.clone());
            }
            // Already going when the plan was made: it can only end terminated.
            (ResourceKey::Instance(id), Observed::Instance { state: InstanceState::ShuttingDown, .. }) => {
                out.insert(id.clone());
            }
            (ResourceKey::Group(name), Observed::Group { instances, .. }) if groups.contains(name) => {
                out.extend(instances.iter().cloned());
            }
            _ => {}
        }
    }
    out
}

/// What a journal step made (and no undo removed) that is no longer there.
fn gone_since(plan: &Plan, now: &[Observation], resume: &Resume) -> Vec<String> {
    let owner = plan.scope.server.as_ref().map(|s| format!(" of {s}")).unwrap_or_default();
    let there: BTreeSet<String> = now
        .iter()
        .filter(|o| !matches!(o.observed, Observed::Instance { state: InstanceState::Terminated, .. }))
        .filter_map(|o| key_id(&o.resource))
        .collect();
    // A server with a failed step was being compensated: its undos may have run without
    // their `Undone` being kept yet (the resume finishes the compensation).
    let compensating: BTreeSet<&ServerName> =
        plan.steps.iter().filter(|s| resume.failed.contains_key(&s.id)).map(|s| &s.server).collect();
    let server_of = |id: &StepId| plan.steps.iter().find(|s| s.id == *id).map(|s| &s.server);
    let mut gone = Vec::new();
    for (step, output) in resume.done.iter().filter(|(step, _)| !resume.undone.contains(step)) {
        if server_of(step).is_some_and(|server| compensating.contains(server)) {
            continue;
        }
        let Some(kind) = output_kind(output) else { continue };
        for id in output_ids(output).into_iter().filter(|id| !there.contains(id)) {
            gone.push(format!("{kind} {id}{owner}, made by step {step} of this apply: gone since"));
        }
    }
    gone
}

/// The kind of an output the plan's inventory reads back (snapshots and images it does not).
fn output_kind(output: &Output) -> Option<&'static str> {
    match output {
        Output::Address { .. } => Some("address"),
        Output::Volume(_) => Some("volume"),
        Output::Instance(_) => Some("instance"),
        Output::Launch(LaunchSource::Template { .. }) => Some("launch template"),
        Output::Launch(LaunchSource::Configuration { .. }) => Some("launch configuration"),
        Output::Group(_) => Some("auto scaling group"),
        Output::Nothing | Output::Snapshot(_) | Output::Image(_) => None,
    }
}

/// The ids an output names, as text.
fn output_ids(output: &Output) -> Vec<String> {
    match output {
        Output::Nothing => vec![],
        Output::Address { allocation_id, .. } => vec![allocation_id.to_string()],
        Output::Volume(id) => vec![id.to_string()],
        Output::Instance(id) => vec![id.to_string()],
        Output::Launch(LaunchSource::Template { id, .. }) => vec![id.to_string()],
        Output::Launch(LaunchSource::Configuration { name }) => vec![name.to_string()],
        Output::Group(name) => vec![name.to_string()],
        Output::Snapshot(id) => vec![id.to_string()],
        Output::Image(id) => vec![id.to_string()],
    }
}

/// The id of a resource key, as text (none for images, DNS and the network).
fn key_id(key: &ResourceKey) -> Option<String> {
    match key {
        ResourceKey::Instance(id) => Some(id.to_string()),
        ResourceKey::Volume(id) => Some(id.to_string()),
        ResourceKey::Address(id) => Some(id.to_string()),
        ResourceKey::LaunchTemplate(id) => Some(id.to_string()),
        ResourceKey::LaunchConfiguration(name) => Some(name.clone()),
        ResourceKey::Group(name) => Some(name.to_string()),
        _ => None,
    }
}

fn kind_of(key: &ResourceKey) -> Option<&'static str> {
    match key {
        ResourceKey::Instance(_) => Some("instance"),
        ResourceKey::Volume(_) => Some("volume"),
        ResourceKey::Address(_) => Some("address"),
        ResourceKey::LaunchTemplate(_) => Some("launch template"),
        ResourceKey::LaunchConfiguration(_) => Some("launch configuration"),
        ResourceKey::Group(_) => Some("group"),
        _ => None,
    }
}

/// The kind of resource an action creates, if it creates one the plan observes.
fn makes_a_group_launch(action: &Action) -> bool {
    matches!(
        action,
        Action::TerminateInstance { .. }
            | Action::UpdateAutoScalingGroup { .. }
            | Action::CreateAutoScalingGroup { .. }
            | Action::AdoptInstance { .. }
    )
}

fn created_kind(action: &Action) -> Option<&'static str> {
    match action {
        Action::RunInstance { .. } => Some("instance"),
        Action::CreateVolume { .. } => Some("volume"),
        Action::AllocateAddress { .. } => Some("address"),
        Action::CreateLaunchTemplate { .. } => Some("launch template"),
        Action::CreateLaunchConfiguration { .. } => Some("launch configuration"),
        Action::CreateAutoScalingGroup { .. } => Some("group"),
        Action::CreateImage { .. } | Action::CopyImage { .. } => Some("image"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
