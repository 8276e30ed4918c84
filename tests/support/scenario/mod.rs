//! Random scenarios for the property tests and the benchmark: sequences of seed commands
//! across several servers and workspaces, interleaved with world changes (Amazon
//! terminations, capacity shortages, time passing, newer images), all under every fault.
//!
//! [`run`] checks the invariants listed at the top of `tests/properties.rs` after every
//! step and returns the first violation (with the sequence and the line that replays it).
//! It also judges every plan or refusal against a small model of the world ([`Model`],
//! [`expect`]), and counts per kind of command what was planned, applied, refused (and
//! why) and which plans could not be made because reads failed ([`Tally`]).
//!
//! Sequences come from [`op_strategy`] (proptest generates and shrinks them op by op) or,
//! for seeded replays and the benchmark, from [`generate`]: the same strategy driven by a
//! generator seeded from one `u64`.

mod crash;
mod model;
mod ops;
mod runner;

pub use crash::CrashPoint;
pub use model::*;
pub use ops::*;
use runner::run_async;

use cellar_engine::config::ConfigTree;
use cellar_sim::{Faults, LostResponses};
use std::path::Path;

/// A configuration tree of `n` servers (`s00`, `s01`, ...) spread over zones a-d, in a temp dir.
pub fn config(n: usize) -> (tempfile::TempDir, ConfigTree) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("platforms")).unwrap();
    std::fs::create_dir_all(dir.path().join("servers")).unwrap();
    std::fs::write(
        dir.path().join("global.ron"),
        r#"(region: "us-east-1", zone: "a", instance_type: "t3.medium", ami_type: "web-server",
            architecture: "x86_64", persist: ["/etc", "/var/www"], tags: {"owner": "ops"},
            instance_profile: "cellar-agent",
            backups: (keep_daily: 1, keep_weekly: 0, keep_monthly: 0))"#,
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

/// The `backups` of every scenario server (`global.ron` of [`config`]): daily at 03:00,
/// kept 1 day, short enough for a sequence's days to make prune delete.
pub fn backup_policy() -> cellar_engine::backup::BackupPolicy {
    cellar_engine::backup::BackupPolicy { keep_daily: 1, keep_weekly: 0, keep_monthly: 0, ..Default::default() }
}

/// The faults a scenario runs with: all on, at rates that make every apply meet some.
pub fn faults() -> Faults {
    Faults {
        throttling: true,
        transient_error_rate: 0.02,
        terminations_per_hour: 0.2,
        invisible_secs: 5,
        latency_ms: (20, 400),
        lost_responses: Some(LostResponses { rate: 0.1, at_call: None, apis: lost_response_apis() }),
        ..Faults::default()
    }
}

/// The operations whose responses the scenarios lose (taking effect, then failing): the
/// creates that are exactly once under lost responses (a ClientToken, or a token tag looked
/// up before the retry) and the calls whose retry is harmless.
fn lost_response_apis() -> Vec<String> {
    [
        "RunInstances",
        "CreateVolume",
        "AllocateAddress",
        "CreateLaunchTemplate",
        "CreateLaunchConfiguration",
        "CreateAutoScalingGroup",
        "CreateSnapshot",
        "CreateImage",
        "CopyImage",
        "CreateTags",
        "DeleteTags",
    ]
    .map(String::from)
    .to_vec()
}

/// What a scenario did, for determinism checks, the counts and the benchmark.
pub struct ScenarioRun {
    /// The world's event trace with virtual timestamps (only rendered when asked for).
    pub trace: Option<String>,
    pub api_calls: u64,
    /// Non-empty plans applied (successfully or not).
    pub applies: usize,
    pub tally: Tally,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs one scenario with the world's faults seeded by `seed`, checking the invariants
/// after every step. `Err` is the first violation, with the line that replays it.
pub fn run(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> Result<ScenarioRun, String> {
    rt().block_on(run_async(seed, tree, servers, ops, (false, true)))
}

/// [`run`], also rendering the world's event trace.
pub fn run_traced(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> Result<ScenarioRun, String> {
    rt().block_on(run_async(seed, tree, servers, ops, (true, true)))
}

/// [`run`] without the simulator's reload check (`Sim::reloading`: the world put away and
/// loaded back around every call and clock move, a test of the simulator's laziness that
/// costs what each call loads): the same calls, checks and outcome, for the benchmark.
pub fn run_without_reload_check(
    seed: u64,
    tree: &ConfigTree,
    servers: usize,
    ops: &[Op],
) -> Result<ScenarioRun, String> {
    rt().block_on(run_async(seed, tree, servers, ops, (false, false)))
}

/// Where the property tests' fixtures live.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}
