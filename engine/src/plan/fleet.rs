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
    ) -> Option<Plan> {
        let base = plans.iter().find(|p| !p.is_empty()).or(plans.first())?.scope.clone();
        let (changing, unchanged): (Vec<Plan>, Vec<Plan>) = plans.into_iter().partition(|p| !p.is_empty());
        let others: Vec<Scope> = changing.iter().skip(1).map(|p| p.scope.clone()).collect();
        let mut merged = Plan::merge(changing);
        merged.notes.extend(unchanged.into_iter().flat_map(|p| p.notes));
        merged.command = command;
        merged.scope = base;
        merged.fleet = Some(Fleet { selector, servers: selected, scopes: others, refused });
        Some(merged)
    }

    /// Every scope the plan read: its own, and a fleet's other servers'.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        std::iter::once(&self.scope).chain(self.fleet.iter().flat_map(|f| f.scopes.iter()))
    }

    /// The summary of a fleet plan, one row per selected server; empty for one server.
    pub fn fleet_rows(&self) -> Vec<FleetRow> {
        let Some(fleet) = &self.fleet else { return Vec::new() };
        fleet
            .servers
            .iter()
            .map(|server| {
                let steps: Vec<&Action> =
                    self.steps.iter().filter(|s| &s.server == server).map(|s| &s.action).collect();
                FleetRow {
                    server: server.clone(),
                    steps: steps.len(),
                    restarts: steps
                        .iter()
                        .any(|a| matches!(a, Action::TerminateInstance { .. } | Action::DeleteAutoScalingGroup { .. })),
                    refused: fleet.refused.get(server).cloned(),
                }
            })
            .collect()
    }

    /// The problem of a fleet plan loaded from a file, if any.
    pub(super) fn fleet_problem(&self) -> Option<String> {
        let fleet = self.fleet.as_ref()?;
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
}
