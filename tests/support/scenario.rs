//! Random scenarios for the property tests and the benchmark: sequences of seed commands
//! across several servers, interleaved with faults, all drawn from one seed. After every
//! step the invariants of DESIGN.md are checked; a violation panics with the seed, so
//! `CELLAR_SEED=<seed>` replays it.

use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::inventory::ServerResources;
use cellar_engine::model::*;
use cellar_engine::rng::Rng;
use cellar_engine::status;
use cellar_sim::{Faults, Sim};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One step of a scenario.
#[derive(Clone, Debug)]
pub enum Op {
    /// A seed command line, e.g. `create-server@duvel 20` or `stop-auto-scaling@duvel --keep-group`.
    Command(String),
    /// Amazon terminates the server's instance.
    Terminate(String),
    Capacity {
        zone: String,
        instance_type: String,
        count: u32,
    },
    Advance(u64),
    /// A newer web-server image appears (so upgrade-ami has work).
    NewImage,
}

/// A configuration tree of `n` servers (`s00`, `s01`, ...) spread over zones a-d, in a temp dir.
pub fn config(n: usize) -> (tempfile::TempDir, ConfigTree) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("platforms")).unwrap();
    std::fs::create_dir_all(dir.path().join("servers")).unwrap();
    std::fs::write(
        dir.path().join("global.ron"),
        r#"(region: "us-east-1", zone: "a", instance_type: "t3.medium", ami_type: "web-server",
            architecture: "x86_64", persist: ["/etc", "/var/www"], tags: {"owner": "ops"})"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("platforms/web.ron"), "()").unwrap();
    for i in 0..n {
        let zone = ["a", "b", "c", "d"][i % 4];
        let launch = if i % 5 == 4 { "Configuration" } else { "Template" };
        std::fs::write(
            dir.path().join(format!("servers/s{i:02}.ron")),
            format!(r#"(platform: "web", zone: "{zone}", dns_name: "s{i:02}.example.com", launch: {launch})"#),
        )
        .unwrap();
    }
    let tree = ConfigTree::load(dir.path()).unwrap();
    (dir, tree)
}

/// `len` random steps over `servers` servers.
pub fn generate(seed: u64, servers: usize, len: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut ops = Vec::new();
    for _ in 0..len {
        let s = format!("s{:02}", rng.range(0, servers as u64 - 1));
        let op = match rng.range(0, 99) {
            0..=19 => Op::Command(format!("create-server@{s} {}", rng.range(1, 64))),
            20..=29 => Op::Command(format!("stop-auto-scaling@{s}")),
            30..=34 => Op::Command(format!("stop-auto-scaling@{s} --keep-group")),
            35..=44 => Op::Command(format!("attach-instance@{s}")),
            45..=54 => Op::Command(format!("start-auto-scaling@{s}")),
            55..=59 => Op::Command(format!("upgrade-ami@{s}")),
            60..=64 => Op::Command(format!("upgrade-ami@{s} --restart")),
            65..=69 => Op::Command(format!("destroy-server@{s}")),
            70..=72 => Op::Command(format!("destroy-server@{s} --delete-data")),
            73..=80 => Op::Terminate(s),
            81..=86 => Op::Capacity {
                zone: format!("us-east-1{}", ['a', 'b', 'c', 'd'][rng.range(0, 3) as usize]),
                instance_type: "t3.medium".into(),
                count: if rng.chance(0.5) { 0 } else { 100 },
            },
            87..=95 => Op::Advance(rng.range(10, 1800)),
            _ => Op::NewImage,
        };
        ops.push(op);
    }
    ops
}

/// The faults a scenario runs with: all on, at rates that make every apply meet some.
pub fn faults() -> Faults {
    Faults {
        throttling: true,
        transient_error_rate: 0.02,
        terminations_per_hour: 0.2,
        invisible_secs: 5,
        latency_ms: (20, 400),
        ..Faults::default()
    }
}

/// What a scenario did, for determinism checks and the benchmark.
pub struct ScenarioRun {
    /// The world's event trace with virtual timestamps (only rendered when asked for).
    pub trace: Option<String>,
    pub api_calls: u64,
    pub applies: usize,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs one scenario and checks the invariants after every step. Panics on a violation.
pub fn run(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> ScenarioRun {
    rt().block_on(run_async(seed, tree, servers, ops, false))
}

/// [`run`], also rendering the world's event trace.
pub fn run_traced(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> ScenarioRun {
    rt().block_on(run_async(seed, tree, servers, ops, true))
}

/// A server's resources, read from the world directly (the checker is not subject to faults).
fn resources(sim: &Sim, server: &str) -> ServerResources {
    let region = Region::new("us-east-1");
    let f = Filter::Server(ServerName::new(server));
    let w = sim.world();
    let groups = w.describe_auto_scaling_groups(&region, &f);
    let prefix = format!("{server}-v");
    let launch_configurations = w
        .describe_launch_configurations(&region)
        .into_iter()
        .filter(|c| {
            c.name.starts_with(&prefix)
                || groups.iter().any(|g| g.launch == LaunchSource::Configuration { name: c.name.clone() })
        })
        .collect();
    ServerResources {
        instances: w.describe_instances(&region, &f),
        volumes: w.describe_volumes(&region, &f),
        addresses: w.describe_addresses(&region, &f),
        launch_templates: w.describe_launch_templates(&region, &f),
        launch_configurations,
        groups,
    }
}

fn ids(r: &ServerResources) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(r.volumes.iter().map(|v| v.id.to_string()));
    out.extend(r.addresses.iter().map(|a| a.allocation_id.to_string()));
    out.extend(r.launch_templates.iter().map(|t| t.id.to_string()));
    out.extend(r.launch_configurations.iter().map(|c| c.name.clone()));
    out.extend(r.groups.iter().map(|g| g.name.to_string()));
    out.extend(r.live_instances().filter(|i| i.group.is_none()).map(|i| i.id.to_string()));
    out
}

async fn run_async(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op], trace: bool) -> ScenarioRun {
    let mut world = cellar_sim::default_world();
    world.reseed(seed);
    world.set_faults(faults()).expect("valid faults");
    let sim = Arc::new(Sim::new(world));
    let names: Vec<String> = (0..servers).map(|i| format!("s{i:02}")).collect();
    let mut images = 0;
    let mut applies = 0;
    let fail = |step: usize, what: String| -> ! {
        panic!("invariant violated at step {step} (replay: CELLAR_SEED={seed} CELLAR_LEN={}): {what}", ops.len())
    };
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Command(line) => {
                let server = line.split(['@', ' ']).nth(1).unwrap().to_string();
                let volumes_before = volumes_by_server(&sim);
                let before = resources(&sim, &server);
                let plan = match super::plan_in(&*sim, tree, line).await {
                    Ok(plan) => plan,
                    Err(_) => continue, // refused (or the reads failed): planning changes nothing
                };
                applies += 1;
                let policy = Policy { seed: seed.wrapping_add(step as u64), ..Policy::default() };
                let operator = Arc::new(super::Recorder::new(true));
                let report = executor::apply(sim.clone(), operator, &plan, policy).await;
                // Plan honesty: every planned step has exactly one outcome, and nothing else ran.
                let planned: BTreeSet<_> = plan.steps.iter().map(|s| s.id).collect();
                let reported: BTreeSet<_> = report.outcomes.keys().copied().collect();
                if planned != reported {
                    fail(step, format!("{line}: outcomes {reported:?} for steps {planned:?}"));
                }
                let volumes_after = volumes_by_server(&sim);
                let after = resources(&sim, &server);
                for (name, volumes) in &volumes_before {
                    // No data loss: a data volume disappears only by destroy --delete-data, after a snapshot.
                    let now = volumes_after.get(name).map(Vec::as_slice).unwrap_or_default();
                    let lost: Vec<&Volume> = volumes.iter().filter(|v| !now.iter().any(|w| w.id == v.id)).collect();
                    let allowed = *name == server && line.contains("--delete-data");
                    if !lost.is_empty() && !allowed {
                        fail(step, format!("{line}: data volume(s) {lost:?} of {name} lost"));
                    }
                    let snapshots = sim.world().describe_snapshots(&Region::new("us-east-1"), &Filter::All);
                    for v in &lost {
                        if !snapshots.iter().any(|snap| snap.volume == v.id) {
                            fail(step, format!("{line}: volume {} of {name} deleted without a snapshot", v.id));
                        }
                    }
                }
                for (name, volumes) in &volumes_after {
                    if volumes.len() > 1 {
                        fail(step, format!("{line}: {name} has {} data volumes", volumes.len()));
                    }
                }
                // No leaks: a failed apply leaves nothing it created, except what the report lists.
                if !report.succeeded() {
                    let left_listed: BTreeSet<String> = report
                        .undone
                        .iter()
                        .filter(|u| u.result.is_err())
                        .map(|u| match &u.target {
                            executor::Output::Address { allocation_id, .. } => allocation_id.to_string(),
                            executor::Output::Launch(LaunchSource::Configuration { name }) => name.clone(),
                            executor::Output::Launch(LaunchSource::Template { id, .. }) => id.to_string(),
                            other => other.to_string(),
                        })
                        .collect();
                    let created: Vec<String> = ids(&after).difference(&ids(&before)).cloned().collect();
                    let leaked: Vec<&String> = created.iter().filter(|id| !left_listed.contains(*id)).collect();
                    if !leaked.is_empty() {
                        fail(step, format!("{line} failed ({}) and leaked {leaked:?}", report.summary()));
                    }
                    let failed = report.outcomes.values().any(|o| matches!(o, Outcome::Failed(_)));
                    if !failed {
                        fail(step, format!("{line}: not succeeded but nothing failed: {report:?}"));
                    }
                } else if !line.starts_with("create-workspace") {
                    // Idempotence: the same command again is empty or refused.
                    if let Ok(again) = super::plan_in(&*sim, tree, line).await {
                        if !again.is_empty() {
                            fail(
                                step,
                                format!("{line} applied, but planning it again gives:\n{}", again.render_text()),
                            );
                        }
                    }
                }
            }
            Op::Terminate(server) => {
                let id = sim.world().server_instance(&ServerName::new(server.as_str()));
                if let Some(id) = id {
                    let _ = sim.with_world(|w| w.terminate_instance_by_amazon(&id));
                }
            }
            Op::Capacity { zone, instance_type, count } => sim
                .with_world(|w| {
                    w.set_capacity(&Zone::new(zone.as_str()), &InstanceType::new(instance_type.as_str()), *count)
                })
                .unwrap(),
            Op::Advance(secs) => sim.advance(Duration::from_secs(*secs)).await,
            Op::NewImage => {
                images += 1;
                let name = format!("web-server-2027-01-{images:02}");
                sim.with_world(|w| w.add_image(&name, Architecture::X86_64, &Region::new("us-east-1"), Tags::new()));
            }
        }
    }
    // Convergence: with capacity back and faults off, every auto-scaling server heals.
    sim.with_world(|w| {
        w.set_faults(Faults::default()).unwrap();
        for zone in ["a", "b", "c", "d"] {
            w.set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), 100).unwrap();
        }
    });
    sim.advance(Duration::from_secs(1800)).await;
    for name in &names {
        let s = status::read(&*sim, &ServerName::new(name.as_str()), &Region::new("us-east-1")).await.unwrap();
        let auto_scaling = s.auto_scaling.as_ref().is_some_and(|g| g.desired > 0);
        if auto_scaling && s.health != status::Health::Healthy {
            fail(ops.len(), format!("{name} did not converge: {:?} {}", s.health, s.reason));
        }
        let live = sim
            .describe_instances(&Region::new("us-east-1"), &Filter::Server(ServerName::new(name.as_str())))
            .await
            .unwrap()
            .iter()
            .filter(|i| i.state.is_alive())
            .count();
        if live > 1 {
            fail(ops.len(), format!("{name} has {live} live instances"));
        }
    }
    let world = sim.world();
    ScenarioRun { trace: trace.then(|| world.render_log(None)), api_calls: world.api_calls(), applies }
}

/// Every server's data volumes (by `Name` tag), in one pass.
fn volumes_by_server(sim: &Sim) -> std::collections::BTreeMap<String, Vec<Volume>> {
    let mut out: std::collections::BTreeMap<String, Vec<Volume>> = Default::default();
    for v in sim.world().describe_volumes(&Region::new("us-east-1"), &Filter::All) {
        if let Some(name) = v.tags.get(NAME_TAG) {
            out.entry(name.clone()).or_default().push(v);
        }
    }
    out
}

/// Where the property tests' fixtures live.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}
