//! Planning a command for a selector of servers (`upgrade-ami@web-*`): each selected
//! server is planned as the command alone would plan it (its scope read, its plan made),
//! then the plans become one fleet plan (`Plan::fleet`). A server the command refuses is
//! listed with its reason and does not stop the others, unless `--strict`.

use anyhow::{bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::command::{self, Target};
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory;
use cellar_engine::plan::{Plan, RolloutOptions};
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
    let (mut commands, mut scopes, mut refused, mut line) = (Vec::new(), Vec::new(), BTreeMap::new(), None);
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
            Err(refusal) => {
                refused.insert(server.clone(), refusal.to_string());
            }
        }
    }
    // One batched read for every server (describes by region and kind, not per server).
    let inventories = inventory::read_many(cloud, &scopes).await.context("reading the current state")?;
    let mut plans = Vec::new();
    for ((server, command), inventory) in commands.iter().zip(&inventories) {
        match planner::plan(command, tree, inventory) {
            Ok(plan) => plans.push(plan),
            Err(refusal) => {
                refused.insert(server.clone(), refusal.to_string());
            }
        }
    }
    if strict && !refused.is_empty() {
        let reasons: Vec<String> = refused.iter().map(|(s, r)| format!("{s}: {r}")).collect();
        bail!(
            "--strict: {name}@{selector} refuses {} of {} servers:\n  {}",
            refused.len(),
            servers.len(),
            reasons.join("\n  ").replace('\n', "\n  ")
        );
    }
    let line = line.unwrap_or_else(|| format!("{name}@{selector}"));
    match Plan::fleet(line, selector.to_string(), servers, plans, refused.clone(), rollout) {
        Some(plan) => Ok(plan),
        None => {
            let reasons: Vec<String> = refused.iter().map(|(s, r)| format!("{s}: {r}")).collect();
            bail!(
                "{name}@{selector} refuses every server it selects:\n  {}",
                reasons.join("\n  ").replace('\n', "\n  ")
            )
        }
    }
}
