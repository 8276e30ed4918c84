//! Renderings of a plan for people: text, Graphviz DOT, and the diff of two plans.

use super::{Change, Plan, StepId};
use crate::model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

impl Plan {
    /// Human text: one block per step with `+` create, `-` destroy, `~` change, `?` gate, `=` wait.
    pub fn render_text(&self) -> String {
        self.render_text_with(&|change| change.sign().to_string())
    }

    /// [`Plan::render_text`] with each change sign coloured by ANSI escape codes (for a
    /// terminal; the caller decides whether to colour).
    pub fn render_text_colored(&self) -> String {
        self.render_text_with(&|change| format!("{}{}\x1b[0m", ansi_color(change), change.sign()))
    }

    fn render_text_with(&self, sign_of: &dyn Fn(Change) -> String) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Plan for `{}` in {}:", self.command, self.scope.region);
        super::fleet::render_summary(self, &mut out);
        if self.steps.is_empty() {
            out.push_str("\nNo changes.\n");
        }
        super::drift::render_drift(&self.drift, &mut out);
        let mut counts: BTreeMap<Change, usize> = BTreeMap::new();
        let mut server = None;
        for step in &self.steps {
            // A fleet plan's steps are grouped by server (the merge keeps each together).
            if self.fleet.is_some() && server != Some(&step.server) {
                server = Some(&step.server);
                let _ = writeln!(out, "\n{}:", step.server);
            }
            let (change, text) = step.describe();
            *counts.entry(change).or_default() += 1;
            let _ = writeln!(out, "\n  {} {:<4} {text}", sign_of(change), step.id.to_string());
            for detail in step.action.details() {
                let _ = writeln!(out, "         {detail}");
            }
            if !step.after.is_empty() {
                let deps: Vec<String> = step.after.iter().map(|d| d.to_string()).collect();
                let _ = writeln!(out, "         after {}", deps.join(", "));
            }
            if let Some(undo) = &step.undo {
                let _ = writeln!(out, "         if the apply fails: {}", undo.describe());
            }
        }
        if counts.contains_key(&Change::Create) {
            for (server, tags) in &self.tags {
                let mut all = vec![format!("{NAME_TAG}={server}")];
                all.extend(tags.iter().map(|(k, v)| format!("{k}={v}")));
                let _ = writeln!(out, "\nTags on everything created for {server}: {}", all.join(", "));
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n");
            for note in &self.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        if !self.steps.is_empty() {
            let kinds: Vec<String> = counts.iter().map(|(change, n)| change.count(*n)).collect();
            let n = self.steps.len();
            let steps = if n == 1 { "step" } else { "steps" };
            let _ = writeln!(out, "\nPlan: {n} {steps} ({}), depth {}.", kinds.join(", "), self.depth());
        }
        out
    }

    /// Graphviz DOT: steps as boxes; dependencies solid; each undo as a dashed red edge to a
    /// compensation node.
    pub fn render_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
        let _ = writeln!(out, "  label={:?};", format!("{} ({})", self.command, self.scope.region));
        for step in &self.steps {
            let (change, text) = step.describe();
            let _ = writeln!(out, "  s{} [label={:?}];", step.id.0, format!("{} {change} {text}", step.id));
        }
        // A rolling fleet plan's waves: a box each, and an edge from each wave to the next
        // (the next starts once the one before is healthy).
        if let Some(rollout) = self.fleet.as_ref().and_then(|f| f.rollout.as_ref()) {
            // Each server's wave, then each wave's steps in plan order: one pass over the
            // steps (a wave's list looked up per step is quadratic at 10,000 servers).
            let wave_of: std::collections::HashMap<&ServerName, usize> =
                rollout.waves.iter().enumerate().flat_map(|(n, wave)| wave.iter().map(move |s| (s, n))).collect();
            let mut steps_of: Vec<Vec<StepId>> = vec![Vec::new(); rollout.waves.len()];
            for step in &self.steps {
                if let Some(&n) = wave_of.get(&step.server) {
                    steps_of[n].push(step.id);
                }
            }
            let mut previous: Option<StepId> = None;
            for (n, (wave, ids)) in rollout.waves.iter().zip(&steps_of).enumerate() {
                let names: Vec<&str> = wave.iter().map(|s| s.as_str()).collect();
                let _ = writeln!(out, "  subgraph cluster_wave_{} {{", n + 1);
                let _ =
                    writeln!(out, "    label={:?}; style=rounded;", format!("wave {}: {}", n + 1, names.join(", ")));
                for id in ids {
                    let _ = writeln!(out, "    s{};", id.0);
                }
                out.push_str("  }\n");
                if let (Some(from), Some(to)) = (previous, ids.first()) {
                    let _ = writeln!(out, "  s{} -> s{} [style=bold, label=\"healthy\"];", from.0, to.0);
                }
                previous = ids.last().copied().or(previous);
            }
        }
        for step in &self.steps {
            for dep in &step.after {
                let _ = writeln!(out, "  s{} -> s{};", dep.0, step.id.0);
            }
        }
        for step in &self.steps {
            if let Some(undo) = &step.undo {
                let _ = writeln!(
                    out,
                    "  u{} [label={:?}, style=dashed, color=red, fontcolor=red];\n  s{} -> u{} [style=dashed, color=red, label=\"on failure\"];",
                    step.id.0,
                    undo.describe(),
                    step.id.0,
                    step.id.0
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

/// What changed between two saved plans, for review: a unified diff of their text
/// renderings (one block per step, so each changed action shows as its own hunk), then
/// each server's settings that differ (old → new, with their file:line), then each spawn
/// hook that differs as a unified diff of the script (the text says only "spawn hook of N
/// lines"). Empty when all three are the same.
pub fn diff(old: &Plan, old_name: &str, new: &Plan, new_name: &str) -> String {
    let mut out = String::new();
    let (old_text, new_text) = (old.render_text(), new.render_text());
    if old_text != new_text {
        out.push_str(&unified(&old_text, &new_text, (old_name, new_name)));
    }
    let servers: std::collections::BTreeSet<&ServerName> = old.settings.keys().chain(new.settings.keys()).collect();
    for server in servers {
        let (was, now) = (old.settings.get(server), new.settings.get(server));
        let changes = super::changed_settings(was.map_or(&[], |s| &s[..]), now.map_or(&[], |s| &s[..]));
        if !changes.is_empty() {
            let _ = writeln!(out, "\nSettings of {server} that differ:");
            for change in changes {
                let _ = writeln!(out, "  {change}");
            }
        }
    }
    let (old_hooks, new_hooks) = (spawn_hooks(old), spawn_hooks(new));
    let servers: std::collections::BTreeSet<&ServerName> = old_hooks.keys().chain(new_hooks.keys()).copied().collect();
    for server in servers {
        let (was, now) = (old_hooks.get(server).copied().flatten(), new_hooks.get(server).copied().flatten());
        if was != now {
            let _ = writeln!(out, "\nSpawn hook of {server} (runs as root on every new instance):");
            let headers = (format!("{old_name} ({server})"), format!("{new_name} ({server})"));
            out.push_str(&unified(was.unwrap_or(""), now.unwrap_or(""), (&headers.0, &headers.1)));
        }
    }
    out
}

/// Each server's spawn hook, as the plan's first launching step of it gives it (`None`:
/// its launches have none); servers the plan launches nothing for are absent.
fn spawn_hooks(plan: &Plan) -> BTreeMap<&ServerName, Option<&str>> {
    let mut hooks = BTreeMap::new();
    for step in &plan.steps {
        if let Some(agent) = step.action.agent() {
            hooks.entry(&step.server).or_insert(agent.spawn_hook.as_deref());
        }
    }
    hooks
}

fn unified(old: &str, new: &str, (old_name, new_name): (&str, &str)) -> String {
    let mut text =
        similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(old_name, new_name).to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The ANSI colour of a change sign: green create, red destroy, yellow change, cyan gate,
/// blue wait (Terraform's colours where it has them).
fn ansi_color(change: Change) -> &'static str {
    match change {
        Change::Create => "\x1b[32m",
        Change::Destroy => "\x1b[31m",
        Change::Modify => "\x1b[33m",
        Change::Gate => "\x1b[36m",
        Change::Wait => "\x1b[34m",
    }
}
