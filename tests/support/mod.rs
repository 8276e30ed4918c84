//! Helpers shared by the top-level tests: the fixture configuration, planning against a
//! simulator in-process, and an operator that records events and answers gates.
#![allow(dead_code)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod moto;
pub mod scenario;
pub mod timed;

use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::{Event, Operator};
use cellar_engine::inventory;
use cellar_engine::model::*;
use cellar_engine::plan::Plan;
use cellar_engine::planner;
use std::path::Path;
use std::sync::Mutex;

pub fn fixture_config() -> ConfigTree {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    ConfigTree::load(&dir).expect("fixture config loads")
}

/// Plans `command_line` (e.g. `create-server@ommegang 20`) against `cloud` with the
/// fixture configuration.
pub async fn plan(cloud: &dyn Cloud, command_line: &str) -> Result<Plan, String> {
    plan_in(cloud, &fixture_config(), command_line).await
}

/// Plans `command_line` (flags such as `--keep-group` or `--copy-to REGION` included)
/// against `cloud` with the configuration `tree`.
pub async fn plan_in(cloud: &dyn Cloud, tree: &ConfigTree, command_line: &str) -> Result<Plan, String> {
    let words: Vec<String> = command_line.split_whitespace().map(String::from).collect();
    let command = command::parse_words(planner::COMMANDS, &words).map_err(|e| e.to_string())?;
    let scope = planner::scope(&command, tree).map_err(|e| e.to_string())?;
    let inventory = inventory::read(cloud, &scope).await.map_err(|e| e.to_string())?;
    planner::plan(&command, tree, &inventory).map_err(|e| e.to_string())
}

/// Answers DNS gates with a fixed answer and records every event.
pub struct Recorder {
    pub confirm: bool,
    pub events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new(confirm: bool) -> Self {
        Recorder { confirm, events: Mutex::new(Vec::new()) }
    }
}

impl Operator for Recorder {
    fn confirm_dns(&self, _host: &str, _ip: &str) -> bool {
        self.confirm
    }
    fn event(&self, event: &Event) {
        self.events.lock().unwrap().push(event.clone());
    }
}

/// Every resource tagged for `server` in us-east-1 that is not terminated, as `kind id`.
pub async fn tagged(cloud: &dyn Cloud, server: &str) -> Vec<String> {
    let region = Region::new("us-east-1");
    let f = Filter::Server(ServerName::new(server));
    let mut out = Vec::new();
    for i in cloud.describe_instances(&region, &f).await.unwrap() {
        if i.state.is_alive() {
            out.push(format!("instance {} {}", i.id, i.state));
        }
    }
    for v in cloud.describe_volumes(&region, &f).await.unwrap() {
        out.push(format!("volume {} {}", v.id, v.state));
    }
    for a in cloud.describe_addresses(&region, &f).await.unwrap() {
        out.push(format!("address {}", a.allocation_id));
    }
    for t in cloud.describe_launch_templates(&region, &f).await.unwrap() {
        out.push(format!("template {}", t.id));
    }
    for g in cloud.describe_auto_scaling_groups(&region, &f).await.unwrap() {
        out.push(format!("group {}", g.name));
    }
    out
}

/// Plans and applies `command_line` on `sim` (DNS gates confirmed); panics if either fails.
pub async fn apply(sim: &std::sync::Arc<cellar_sim::Sim>, command_line: &str) -> cellar_engine::executor::ApplyReport {
    let plan = plan(&**sim, command_line).await.unwrap_or_else(|e| panic!("{command_line}: {e}"));
    let report = cellar_engine::executor::apply(
        sim.clone(),
        std::sync::Arc::new(Recorder::new(true)),
        &plan,
        cellar_engine::executor::Policy::default(),
    )
    .await;
    assert!(report.succeeded(), "{command_line} did not apply: {report:#?}");
    report
}

/// A simulator whose default world has seen `setup` applied in order. A line starting
/// with `!` is a world change instead of a command: `!terminate SERVER`, `!advance SECONDS`,
/// `!capacity ZONE TYPE N`, `!dns HOST IP...`, `!image NAME ARCH REGION` (a new available image),
/// `!delete-group SERVER` (DeleteAutoScalingGroup with ForceDelete, not waited for).
pub async fn world_after(setup: &[&str]) -> std::sync::Arc<cellar_sim::Sim> {
    let sim = std::sync::Arc::new(cellar_sim::Sim::new(cellar_sim::default_world()));
    for line in setup {
        change(&sim, line).await;
    }
    sim
}

pub async fn change(sim: &std::sync::Arc<cellar_sim::Sim>, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["!terminate", server] => {
            let id = sim.world().server_instance(&ServerName::new(*server)).expect("server has an instance");
            sim.with_world(|w| w.terminate_instance_by_amazon(&id)).unwrap();
        }
        ["!advance", secs] => sim.advance(std::time::Duration::from_secs(secs.parse().unwrap())).await,
        ["!dns", host, ips @ ..] => {
            sim.with_world(|w| w.set_dns(host, ips.iter().map(|s| s.to_string()).collect())).unwrap()
        }
        ["!capacity", zone, instance_type, n] => sim
            .with_world(|w| w.set_capacity(&Zone::new(*zone), &InstanceType::new(*instance_type), n.parse().unwrap()))
            .unwrap(),
        ["!image", name, arch, region] => {
            let arch = Architecture::parse(arch).unwrap();
            sim.with_world(|w| w.add_image(name, arch, &Region::new(*region), Tags::new()));
        }
        ["!delete-group", server] => sim
            .with_world(|w| {
                w.delete_auto_scaling_group(&Region::new("us-east-1"), &AutoScalingGroupName::new(*server), true)
            })
            .unwrap(),
        [bang, ..] if bang.starts_with('!') => panic!("unknown world change {line}"),
        _ => {
            apply(sim, line).await;
        }
    }
}
