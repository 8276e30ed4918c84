//! Fleet plans: one command for many servers (`upgrade-ami@web-*`), one plan, reviewed
//! once. The servers' own plans are merged ([`Plan::merge`]: steps renumbered, each server's
//! steps grouped together); the plan keeps the selector, every server it selected, the
//! scope of each server with steps (the stale check reads each again) and the servers the
//! command refused, with why (they are left alone, and do not stop the others).
//!
//! Invariants: a fleet plan is of one region (the executor applies in one); `servers` is
//! sorted and holds every server with steps and every refused one; its text starts with a
//! summary table (server, steps, whether it restarts, refusal).

use super::{Action, Drift, Plan, Scope, Step, PLAN_FORMAT_VERSION};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// What makes a plan a fleet plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// The selector as given (`web-*`, `platform=debian-web`).
    pub selector: String,
    /// Every server it selected, sorted.
    pub servers: Vec<ServerName>,
    /// The scopes of the servers with steps but the first, whose scope is the plan's.
    pub scopes: Vec<Scope>,
    /// The servers the command refused, and why.
    pub refused: BTreeMap<ServerName, String>,
    /// Waves, when servers restart (or a rollout option was given); `None`: all at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// How many servers may be down at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unavailable {
    Servers(u32),
    Percent(u32),
}

impl Unavailable {
    /// `3` or `20%`; 0 and more than 100% are refused.
    pub fn parse(text: &str) -> Result<Unavailable, String> {
        let bad = || {
            format!("--max-unavailable {text:?}: write a number of servers (3) or a share of them (20%), at least 1")
        };
        match text.strip_suffix('%') {
            Some(p) => match p.parse::<u32>() {
                Ok(p @ 1..=100) => Ok(Unavailable::Percent(p)),
                _ => Err(bad()),
            },
            None => match text.parse::<u32>() {
                Ok(n @ 1..) => Ok(Unavailable::Servers(n)),
                _ => Err(bad()),
            },
        }
    }

    /// Servers per wave out of `total` (at least 1).
    pub fn of(self, total: usize) -> usize {
        match self {
            Unavailable::Servers(n) => n as usize,
            Unavailable::Percent(p) => (total * p as usize).div_ceil(100),
        }
        .max(1)
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Servers(n) => write!(f, "{n}"),
            Unavailable::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// What the person asked of a rolling change (`--max-unavailable`, `--canary`,
/// `--stop-after-failures`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutOptions {
    pub max_unavailable: Option<Unavailable>,
    pub canary: Option<u32>,
    pub stop_after_failures: Option<u32>,
}

impl RolloutOptions {
    fn given(&self) -> bool {
        *self != RolloutOptions::default()
    }
}

/// The waves of a rolling change: each wave's servers start together, and the next wave
/// starts only once they are healthy (by the rules of `cellar status`); once
/// `stop_after_failures` servers failed, no new wave starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub max_unavailable: Unavailable,
    /// How many servers the first wave holds alone (0: no canary).
    pub canary: u32,
    pub stop_after_failures: Option<u32>,
    pub waves: Vec<Vec<ServerName>>,
}

impl Rollout {
    /// The waves for `servers` (those with steps, sorted): the canaries first, then waves
    /// of `max_unavailable`.
    pub fn new(servers: &[ServerName], options: &RolloutOptions) -> Rollout {
        let max_unavailable = options.max_unavailable.unwrap_or(Unavailable::Servers(1));
        let canary = options.canary.unwrap_or(0).min(servers.len() as u32);
        let (first, rest) = servers.split_at(canary as usize);
        let mut waves: Vec<Vec<ServerName>> = Vec::new();
        if !first.is_empty() {
            waves.push(first.to_vec());
        }
        waves.extend(rest.chunks(max_unavailable.of(servers.len())).map(|c| c.to_vec()));
        Rollout { max_unavailable, canary, stop_after_failures: options.stop_after_failures, waves }
    }
}

/// A server's line in the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetRow {
    pub server: ServerName,
    pub steps: usize,
    /// Its running instance is replaced or stopped.
    pub restarts: bool,
    pub refused: Option<String>,
}

/// A fleet plan made one server at a time: each server's plan is moved into the fleet's as
/// soon as it is made ([`FleetPlanning::add`]: steps renumbered, nothing copied), so no
/// server's plan outlives its merge, and what the summary and the waves need is noted on
/// the way. [`FleetPlanning::finish`] gives what [`Plan::fleet`] gives for the same plans.
#[derive(Debug, Default)]
pub struct FleetPlanning {
    /// The merge of the plans with steps, in the order they were added; its scope is the
    /// first one's.
    merged: Option<Plan>,
    /// The scope of the first plan added (the fleet's when no server has steps).
    first_scope: Option<Scope>,
    /// The scopes of the plans with steps but the first.
    scopes: Vec<Scope>,
    /// The notes and drift of the plans without steps.
    unchanged_notes: Vec<String>,
    unchanged_drift: Vec<Drift>,
    /// Each server with steps, and whether its running instance is replaced or stopped.
    changing: HashMap<ServerName, bool>,
    refused: BTreeMap<ServerName, String>,
    /// How many plans are expected (room is made for that many like the first).
    expected: usize,
}

impl FleetPlanning {
    /// A fleet plan of up to `servers` servers' plans.
    pub fn new(servers: usize) -> FleetPlanning {
        FleetPlanning { changing: HashMap::with_capacity(servers), expected: servers, ..FleetPlanning::default() }
    }

    /// The plan the command made for one server (one without steps too: its notes are kept).
    pub fn add(&mut self, mut plan: Plan) {
        if self.first_scope.is_none() {
            self.first_scope = Some(plan.scope.clone());
        }
        if plan.is_empty() {
            self.unchanged_notes.append(&mut plan.notes);
            self.unchanged_drift.append(&mut plan.drift);
            return;
        }
        for run in plan.steps.chunk_by(|a, b| a.server == b.server) {
            *self.changing.entry(run[0].server.clone()).or_default() |= run.iter().any(restarts);
        }
        match &mut self.merged {
            Some(merged) => self.scopes.push(merged.append(plan)),
            None => {
                // Room for the other servers' plans like this one, so the fleet's lists
                // are not copied as they grow.
                let others = self.expected.saturating_sub(1);
                plan.steps.reserve(plan.steps.len() * others);
                plan.observed.reserve(plan.observed.len() * others);
                plan.notes.reserve(plan.notes.len() * others);
                self.scopes.reserve(others);
                self.merged = Some(Plan { format: PLAN_FORMAT_VERSION, fleet: None, ..plan });
            }
        }
    }

    /// Moves the plans `other` holds in after this one's, as if they had been added here
    /// one by one (a fleet planned in parts, one per thread: `planner::plan_fleet`).
    pub fn absorb(&mut self, other: FleetPlanning) {
        if self.first_scope.is_none() {
            self.first_scope = other.first_scope;
        }
        self.unchanged_notes.extend(other.unchanged_notes);
        self.unchanged_drift.extend(other.unchanged_drift);
        if self.changing.is_empty() {
            self.changing = other.changing;
        } else {
            self.changing.extend(other.changing);
        }
        let mut refused = other.refused;
        self.refused.append(&mut refused);
        let Some(plan) = other.merged else { return };
        match &mut self.merged {
            Some(merged) => self.scopes.push(merged.append(plan)),
            None => self.merged = Some(plan),
        }
        if self.scopes.is_empty() {
            self.scopes = other.scopes;
        } else {
            self.scopes.extend(other.scopes);
        }
    }

    /// How many observations the plans with steps added so far hold.
    pub fn observation_count(&self) -> usize {
        self.merged.as_ref().map_or(0, |m| m.observed.len())
    }

    /// Replaces the observations at `range` (one added plan's) with `observations`.
    pub fn replace_observations(&mut self, range: std::ops::Range<usize>, observations: Vec<super::Observation>) {
        if let Some(merged) = &mut self.merged {
            merged.observed.splice(range, observations);
        }
    }

    /// A server the command refused, and why.
    pub fn refuse(&mut self, server: ServerName, reason: String) {
        self.refused.insert(server, reason);
    }

    /// Whether no plan was added yet (every server so far was refused).
    pub fn is_empty(&self) -> bool {
        self.first_scope.is_none()
    }

    /// The servers refused so far, and why.
    pub fn refused(&self) -> &BTreeMap<ServerName, String> {
        &self.refused
    }

    /// The fleet plan of `command` (the command line with the selector) for the servers
    /// `selected`, with waves when servers restart or `options` were given. `None` when no
    /// plan was added (every server was refused): the caller reports the refusals.
    pub fn finish(
        self,
        command: String,
        selector: String,
        selected: Vec<ServerName>,
        options: &RolloutOptions,
    ) -> Option<Plan> {
        let first_scope = self.first_scope?;
        let mut merged = self.merged.unwrap_or_else(|| Plan::merge(Vec::new()));
        if merged.is_empty() {
            merged.scope = first_scope;
        }
        merged.notes.extend(self.unchanged_notes);
        merged.drift.extend(self.unchanged_drift);
        merged.command = command;
        let changing: Vec<ServerName> = selected.iter().filter(|s| self.changing.contains_key(*s)).cloned().collect();
        let restarts = changing.iter().any(|s| self.changing.get(s) == Some(&true));
        let rollout = (restarts || options.given()).then(|| Rollout::new(&changing, options));
        merged.fleet = Some(Fleet { selector, servers: selected, scopes: self.scopes, refused: self.refused, rollout });
        Some(merged)
    }
}

/// Whether a step replaces or stops the server's running instance.
fn restarts(step: &Step) -> bool {
    matches!(step.action, Action::TerminateInstance { .. } | Action::DeleteAutoScalingGroup { .. })
}

impl Plan {
    /// The fleet plan of `command` (the command line with the selector) from the plans of
    /// the servers `selected` that the command did not refuse (empty ones included: their
    /// notes are kept) and the refusals of the others. `None` when every server was
    /// refused: the caller reports the refusals. See [`FleetPlanning`], which this is.
    pub fn fleet(
        command: String,
        selector: String,
        selected: Vec<ServerName>,
        plans: Vec<Plan>,
        refused: BTreeMap<ServerName, String>,
        options: &RolloutOptions,
    ) -> Option<Plan> {
        let mut fleet = FleetPlanning::new(plans.len());
        plans.into_iter().for_each(|plan| fleet.add(plan));
        refused.into_iter().for_each(|(server, reason)| fleet.refuse(server, reason));
        fleet.finish(command, selector, selected, options)
    }

    /// Every scope the plan read: its own, and a fleet's other servers'.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        std::iter::once(&self.scope).chain(self.fleet.iter().flat_map(|f| f.scopes.iter()))
    }

    /// The summary of a fleet plan, one row per selected server; empty for one server.
    pub fn fleet_rows(&self) -> Vec<FleetRow> {
        let Some(fleet) = &self.fleet else { return Vec::new() };
        let mut by_server: BTreeMap<&ServerName, (usize, bool)> = BTreeMap::new();
        // A server's steps are together: one look-up per server, not per step.
        for run in self.steps.chunk_by(|a, b| a.server == b.server) {
            let row = by_server.entry(&run[0].server).or_default();
            row.0 += run.len();
            row.1 |= run.iter().any(restarts);
        }
        fleet
            .servers
            .iter()
            .map(|server| {
                let (steps, restarts) = by_server.get(server).copied().unwrap_or_default();
                FleetRow { server: server.clone(), steps, restarts, refused: fleet.refused.get(server).cloned() }
            })
            .collect()
    }

    /// The waves the apply runs one after the other: a rolling fleet plan's, else one
    /// wave of every server.
    pub fn waves(&self) -> Vec<Vec<ServerName>> {
        match self.fleet.as_ref().and_then(|f| f.rollout.as_ref()) {
            Some(rollout) => rollout.waves.clone(),
            None => {
                let servers: std::collections::BTreeSet<&ServerName> = self.steps.iter().map(|s| &s.server).collect();
                vec![servers.into_iter().cloned().collect()]
            }
        }
    }

    /// The problem of a fleet plan loaded from a file, if any.
    pub(super) fn fleet_problem(&self) -> Option<String> {
        let fleet = self.fleet.as_ref()?;
        if let Some(rollout) = &fleet.rollout {
            let in_waves: std::collections::BTreeSet<&ServerName> = rollout.waves.iter().flatten().collect();
            let with_steps: std::collections::BTreeSet<&ServerName> = self.steps.iter().map(|s| &s.server).collect();
            let count: usize = rollout.waves.iter().map(Vec::len).sum();
            if in_waves != with_steps || count != in_waves.len() {
                return Some("its waves must hold every server with steps exactly once".into());
            }
        }
        if let Some(other) = fleet.scopes.iter().find(|s| s.region != self.scope.region) {
            return Some(format!(
                "a fleet plan is of one region, but it reads {} in {} and {}",
                other.server.as_ref().map(|s| s.as_str()).unwrap_or("a server"),
                other.region,
                self.scope.region
            ));
        }
        let known: std::collections::BTreeSet<&ServerName> = fleet.servers.iter().collect();
        let stray = self.steps.iter().map(|s| &s.server).chain(fleet.refused.keys()).find(|s| !known.contains(s));
        stray.map(|s| format!("server {s} has steps or a refusal but is not among the fleet's servers"))
    }
}

/// The summary table and the refusals, for the text rendering.
pub(super) fn render_summary(plan: &Plan, out: &mut String) {
    let rows = plan.fleet_rows();
    let Some(fleet) = &plan.fleet else { return };
    let width = rows.iter().map(|r| r.server.as_str().len()).max().unwrap_or(6).max(6);
    let _ = writeln!(out, "\n{} servers selected by {}:\n", rows.len(), fleet.selector);
    let _ = writeln!(out, "  {:<width$}  steps  restarts  refused", "server");
    for row in &rows {
        let restarts = if row.restarts { "yes" } else { "no" };
        let refused = row.refused.as_deref().map(|r| r.lines().next().unwrap_or(r)).unwrap_or("");
        let _ = writeln!(out, "  {:<width$}  {:>5}  {:<8}  {refused}", row.server.as_str(), row.steps, restarts);
    }
    let planned = rows.iter().filter(|r| r.steps > 0).count();
    let (refused, unchanged) = (fleet.refused.len(), rows.len() - planned - fleet.refused.len());
    let _ = writeln!(out, "\n  {planned} to change, {unchanged} without changes, {refused} refused.");
    for (server, reason) in &fleet.refused {
        let _ = writeln!(out, "\n  refused {server}: {}", reason.replace('\n', "\n    "));
    }
    if let Some(rollout) = &fleet.rollout {
        let budget = match rollout.stop_after_failures {
            Some(n) => format!("no new wave starts once {n} server{} failed", if n == 1 { "" } else { "s" }),
            None => "failed servers do not stop the rollout".to_string(),
        };
        let _ = writeln!(
            out,
            "\n  Rolling: {} wave{} (at most {} server{} at once{}); each wave starts once the one before is healthy; {budget}.",
            rollout.waves.len(),
            if rollout.waves.len() == 1 { "" } else { "s" },
            rollout.max_unavailable,
            if rollout.max_unavailable == Unavailable::Servers(1) { "" } else { "s" },
            if rollout.canary > 0 { format!(", the first {} as canary", rollout.canary) } else { String::new() },
        );
        for (i, wave) in rollout.waves.iter().enumerate() {
            let names: Vec<&str> = wave.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, "    wave {}: {}", i + 1, names.join(", "));
        }
    }
}
