//! Planning a command for a selector of servers (`upgrade-ami@web-*`): each selected
//! server is planned as the command alone would plan it (its scope read in one batched
//! read of all, its plan made), and its plan moved into the fleet plan as soon as it is
//! made (`FleetPlanning`), on every core (`planner::plan_fleet`). A
//! server the command refuses is listed with its reason and does not stop the others,
//! unless `--strict`.

use anyhow::{bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::command::{self, Command, Target};
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory::{self, Inventory};
use cellar_engine::model::ServerName;
use cellar_engine::plan::{FleetPlanning, Plan, RolloutOptions};
use cellar_engine::planner::{self, PlanError};
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
    let (mut commands, mut line) = (Vec::new(), None);
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
        commands.push((server.clone(), command));
    }
    let (commands, inventories) =
        read_scoped(cloud, tree, commands, |server, refusal| fleet.refuse(server, refusal.to_string())).await?;
    // Planned on every core; the plan is the same with any number of threads.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    planner::plan_fleet(&mut fleet, tree, &commands, &inventories, planner::threads_for(commands.len(), cores));
    drop((commands, inventories));
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

/// Plans each of `commands` (one per server) as it would be planned alone, with one batched
/// read of every scope ([`read_scoped`]); `each` gets each server's plan or refusal as soon
/// as it is made. The plans are for one fleet plan: the observations of their region are in
/// the first plan with steps only (`planner::plan_shared`).
pub async fn plan_each(
    cloud: &dyn Cloud,
    tree: &ConfigTree,
    commands: Vec<(ServerName, Command)>,
    mut each: impl FnMut(ServerName, Result<Plan, PlanError>),
) -> Result<()> {
    let (commands, inventories) =
        read_scoped(cloud, tree, commands, |server, refusal| each(server, Err(refusal))).await?;
    // What the servers share (their region's observations, the resolution of the same
    // launch settings) is worked out once: every plan with steps goes into one fleet plan.
    let mut shared = planner::Shared::default();
    for ((server, command), inventory) in commands.into_iter().zip(inventories) {
        each(server, planner::plan_shared(&command, tree, &inventory, Some(&mut shared)));
    }
    Ok(())
}

/// The commands of `commands` (one per server) whose scope the command does not refuse
/// (`refuse` gets the others), and the inventory of each scope, read in one batched read
/// (describes by region and kind, not per server).
async fn read_scoped(
    cloud: &dyn Cloud,
    tree: &ConfigTree,
    commands: Vec<(ServerName, Command)>,
    mut refuse: impl FnMut(ServerName, PlanError),
) -> Result<(Vec<(ServerName, Command)>, Vec<Inventory>)> {
    let (mut scoped, mut scopes) = (Vec::new(), Vec::new());
    for (server, command) in commands {
        match planner::scope(&command, tree) {
            Ok(scope) => {
                scopes.push(scope);
                scoped.push((server, command));
            }
            Err(refusal) => refuse(server, refusal),
        }
    }
    let inventories = inventory::read_many(cloud, &scopes).await.context("reading the current state")?;
    Ok((scoped, inventories))
}
