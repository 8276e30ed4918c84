//! Fleet ops: one command for several servers, planned as `cellar plan CMD@s01,s03` plans
//! it (every server's scope, one batched read, a plan per server, [`Plan::fleet`]) and
//! applied in waves. Each server's plan or refusal is judged by the model as a single
//! command's is; after the apply, the same invariants hold, and each server's command
//! planned again is empty or refused as the model says.

use super::*;
use cellar_engine::command;
use cellar_engine::plan::{RolloutOptions, Unavailable};
use cellar_engine::planner::{self, PlanError};

impl Runner<'_> {
    pub(super) async fn fleet(&mut self, step: usize, cmds: &[Cmd], max_unavailable: u32) -> Result<(), String> {
        let line = fleet_line(cmds, max_unavailable);
        let targets: Vec<String> = cmds.iter().filter_map(Cmd::target).collect();
        let models_before: Vec<Model> = targets.iter().map(|t| model(&self.sim, t)).collect();
        let Some(results) = self.plan_each(cmds).await else {
            self.tally.0.entry("fleet").or_default().read_failed += 1;
            return Ok(());
        };
        let mut plans = Vec::new();
        let mut refused = BTreeMap::new();
        for (i, (cmd, result)) in cmds.iter().zip(results).enumerate() {
            let now = model(&self.sim, &targets[i]);
            let counts = self.tally.0.entry(cmd.kind()).or_default();
            if now == models_before[i] {
                let (want, got) = (expect(cmd, &now), result.as_ref().map(|_| ()).map_err(reason));
                if want != got {
                    let what =
                        format!("{line}: for {}, the model ({now:?}) expects {want:?}, but got {got:?}", targets[i]);
                    return Err(self.fail(step, what));
                }
            } else {
                counts.unjudged += 1;
            }
            match result {
                Ok(plan) => {
                    counts.planned += 1;
                    plans.push(plan);
                }
                Err(e) => {
                    *counts.refused.entry(reason(&e)).or_default() += 1;
                    refused.insert(ServerName::new(targets[i].as_str()), e.to_string());
                }
            }
        }
        let servers: Vec<ServerName> = targets.iter().map(|t| ServerName::new(t.as_str())).collect();
        let options =
            RolloutOptions { max_unavailable: Some(Unavailable::Servers(max_unavailable)), ..Default::default() };
        let selector = targets.join(",");
        let Some(plan) = Plan::fleet(line.clone(), selector, servers, plans, refused, &options) else {
            return Ok(()); // every server refused (judged above)
        };
        let counts = self.tally.0.entry("fleet").or_default();
        counts.planned += 1;
        if plan.is_empty() {
            counts.empty += 1;
            return Ok(());
        }
        // What the apply's outcome is compared with (planning only read the world).
        let before = self.before();
        self.applies += 1;
        let policy = Policy { seed: self.seed.wrapping_add(step as u64), ..Policy::default() };
        let report = executor::apply(self.sim.clone(), Arc::new(Recorder::new(true)), &plan, policy).await;
        self.check_apply(step, &line, cmds, &plan, &report, &before)?;
        let counts = self.tally.0.entry("fleet").or_default();
        let failed: BTreeSet<String> = plan
            .steps
            .iter()
            .filter(|s| matches!(report.outcomes.get(&s.id), Some(Outcome::Failed(_))))
            .map(|s| s.server.to_string())
            .collect();
        if !report.succeeded() {
            counts.failed += 1;
            self.check_no_leaks(step, &line, &report, &before, Some(&failed))?;
        } else {
            counts.applied += 1;
        }
        // The servers that did not fail are done: their commands planned again change nothing.
        for cmd in cmds.iter().filter(|c| !failed.contains(&c.target().unwrap_or_default())) {
            self.check_idempotent(step, cmd, &plan).await?;
        }
        Ok(())
    }

    /// Each command's plan or refusal, from one batched read of every scope; `None` when
    /// the read failed (faults).
    async fn plan_each(&self, cmds: &[Cmd]) -> Option<Vec<Result<Plan, PlanError>>> {
        let mut results: Vec<Option<Result<Plan, PlanError>>> = Vec::new();
        let (mut scopes, mut commands) = (Vec::new(), Vec::new());
        for cmd in cmds {
            let line = cmd.line();
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            let command = command::parse_words(planner::COMMANDS, &words).unwrap_or_else(|e| panic!("{line}: {e}"));
            match planner::scope(&command, self.tree) {
                Ok(scope) => {
                    scopes.push(scope);
                    commands.push((results.len(), command));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let inventories = inventory::read_many(&*self.sim, &scopes).await.ok()?;
        for ((i, command), inventory) in commands.iter().zip(&inventories) {
            results[*i] = Some(planner::plan(command, self.tree, inventory));
        }
        Some(results.into_iter().map(|r| r.expect("every command planned or refused")).collect())
    }
}
