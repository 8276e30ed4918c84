//! Planning a command for a selector of servers (`upgrade-ami@web-*`): each selected
//! server is planned as the command alone would plan it (its scope read, its plan made),
//! and its plan moved into the fleet plan as soon as it is made (`FleetPlanning`). A
//! server the command refuses is listed with its reason and does not stop the others,
//! unless `--strict`.

use anyhow::{bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::command::{self, Target};
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory;
use cellar_engine::model::ServerName;
use cellar_engine::plan::{FleetPlanning, Plan, RolloutOptions};
use cellar_engine::planner;
use cellar_engine::selector::Selector;
use std::collections::BTreeMap;

pub async fn plan(
    cloud: &dyn Cloud,
    tree: &ConfigTree,
    (name, selector): (&str, &Selector),
    (args, flags): (&[String], &command::Flags),
    (strict, rollout): (bool, &RolloutOptions),
) -> Result<Plan> {
    let servers = selector.select(tree)?;
    let mut fleet = FleetPlanning::new(servers.len());
    let (mut commands, mut scopes, mut line) = (Vec::new(), Vec::new(), None);
    for server in &servers {
        let command = command::parse(planner::COMMANDS, &format!("{name}@{server}"), args, flags)?;
        if command.spec().target() != Target::Server {
            bail!(
                "{name} is not about configured servers, so it takes no selector ({selector})\n  fix: name one target: {}",
                command.spec().synopsis()
            );
        }
        // The canonical command line, with the selector where the server was.
        let text = command.to_string();
        line.get_or_insert_with(|| text.replacen(&format!("@{server}"), &format!("@{selector}"), 1));
        match planner::scope(&command, tree) {
            Ok(scope) => {
                scopes.push(scope);
                commands.push((server.clone(), command));
            }
            Err(refusal) => fleet.refuse(server.clone(), refusal.to_string()),
        }
    }
    // One batched read for every server (describes by region and kind, not per server).
    let inventories = inventory::read_many(cloud, &scopes).await.context("reading the current state")?;
    drop(scopes);
    // Each server's plan goes into the fleet's as soon as it is made.
    for ((server, command), inventory) in commands.iter().zip(inventories) {
        match planner::plan(command, tree, &inventory) {
            Ok(plan) => fleet.add(plan),
            Err(refusal) => fleet.refuse(server.clone(), refusal.to_string()),
        }
    }
    let reasons = |refused: &BTreeMap<ServerName, String>| {
        let reasons: Vec<String> = refused.iter().map(|(s, r)| format!("{s}: {r}")).collect();
        reasons.join("\n  ").replace('\n', "\n  ")
    };
    if strict && !fleet.refused().is_empty() {
        bail!(
            "--strict: {name}@{selector} refuses {} of {} servers:\n  {}",
            fleet.refused().len(),
            servers.len(),
            reasons(fleet.refused())
        );
    }
    if fleet.is_empty() {
        bail!("{name}@{selector} refuses every server it selects:\n  {}", reasons(fleet.refused()));
    }
    let line = line.unwrap_or_else(|| format!("{name}@{selector}"));
    fleet.finish(line, selector.to_string(), servers, rollout).context("a fleet plan without servers")
}
