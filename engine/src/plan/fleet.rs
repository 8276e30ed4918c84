//! Fleet plans: one command for many servers (`upgrade-ami@web-*`), one plan, reviewed
//! once. The servers' own plans are merged ([`Plan::merge`]: steps renumbered, each server's
//! steps grouped together); the plan keeps the selector, every server it selected, the
//! scope of each server with steps (the stale check reads each again) and the servers the
//! command refused, with why (they are left alone, and do not stop the others).
//!
//! Invariants: a fleet plan is of one region (the executor applies in one); `servers` is
//! sorted and holds every server with steps and every refused one; its text starts with a
//! summary table (server, steps, whether it restarts, refusal).

use super::{Action, Plan, Scope};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

impl Plan {
    /// The fleet plan of `command` (the command line with the selector) from the plans of
    /// the servers `selected` that the command did not refuse (empty ones included: their
    /// notes are kept) and the refusals of the others. `None` when every server was
    /// refused: the caller reports the refusals.
    pub fn fleet(
        command: String,
        selector: String,
        selected: Vec<ServerName>,
        plans: Vec<Plan>,
        refused: BTreeMap<ServerName, String>,
        options: &RolloutOptions,
    ) -> Option<Plan> {
        let base = plans.iter().find(|p| !p.is_empty()).or(plans.first())?.scope.clone();
        let (changing, unchanged): (Vec<Plan>, Vec<Plan>) = plans.into_iter().partition(|p| !p.is_empty());
        let others: Vec<Scope> = changing.iter().skip(1).map(|p| p.scope.clone()).collect();
        let mut merged = Plan::merge(changing);
        for plan in unchanged {
            merged.notes.extend(plan.notes);
            merged.drift.extend(plan.drift);
        }
        merged.command = command;
        merged.scope = base;
        merged.fleet = Some(Fleet { selector, servers: selected, scopes: others, refused, rollout: None });
        let restarts = merged.fleet_rows().iter().any(|r| r.restarts);
        if restarts || options.given() {
            let changing: Vec<ServerName> =
                merged.fleet_rows().into_iter().filter(|r| r.steps > 0).map(|r| r.server).collect();
            if let Some(fleet) = merged.fleet.as_mut() {
                fleet.rollout = Some(Rollout::new(&changing, options));
            }
        }
        Some(merged)
    }

    /// Every scope the plan read: its own, and a fleet's other servers'.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        std::iter::once(&self.scope).chain(self.fleet.iter().flat_map(|f| f.scopes.iter()))
    }

    /// The summary of a fleet plan, one row per selected server; empty for one server.
    pub fn fleet_rows(&self) -> Vec<FleetRow> {
        let Some(fleet) = &self.fleet else { return Vec::new() };
        let mut by_server: BTreeMap<&ServerName, (usize, bool)> = BTreeMap::new();
        for step in &self.steps {
            let row = by_server.entry(&step.server).or_default();
            row.0 += 1;
            row.1 |= matches!(step.action, Action::TerminateInstance { .. } | Action::DeleteAutoScalingGroup { .. });
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
