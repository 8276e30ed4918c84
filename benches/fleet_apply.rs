//! Benchmark: a fleet apply and a rolling restart on the simulator with AWS's token
//! buckets and latency (faults `throttling` and `latency_ms`), on its virtual clock.
//!
//! For N servers (`s00`, `s01`, ... of `tests/support/scenario`: zones a–d, every fifth
//! launching from a launch configuration), it reports:
//! - `create-server` of all N in one plan (`Plan::merge`), then `upgrade-ami --restart` of
//!   all N as a fleet plan rolling 10% at a time (`--max-unavailable 10%`);
//! - the calls made (every attempt of the apply's `Caller`) and the calls needed (made less
//!   those AWS throttled), by token bucket;
//! - the virtual duration against the lower bound: the larger of one server's critical
//!   path (the same plan for one server alone on the same faults) and, per bucket, (calls
//!   needed − the bucket's capacity) ÷ its refill rate;
//! - for the rolling restart: waves, one server's replacement time (alone), the total and
//!   total ÷ (waves × one replacement).
//!
//! Run: `cargo bench -p cellar --no-default-features --bench fleet_apply`
//! (`CELLAR_BENCH_FLEET_APPLY=100,1000` for the fleet sizes; `CELLAR_BENCH_PARALLELISM`
//! for the apply's `--parallelism`, 8 by default as in `cellar apply`).

#[path = "../tests/support/mod.rs"]
mod support;

use cellar_engine::caller::{CallCounts, Policy};
use cellar_engine::cloud::Cloud;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor;
use cellar_engine::limits::Bucket;
use cellar_engine::model::*;
use cellar_engine::plan::{Plan, RolloutOptions, Unavailable};
use cellar_sim::{Faults, Sim};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// AWS's API latency as the simulator draws it per call (milliseconds, min and max;
/// `CELLAR_BENCH_LATENCY_MS=MIN,MAX`).
fn latency_ms() -> (u64, u64) {
    let given = std::env::var("CELLAR_BENCH_LATENCY_MS").ok().and_then(|v| {
        let (min, max) = v.split_once(',')?;
        Some((min.trim().parse().ok()?, max.trim().parse().ok()?))
    });
    given.unwrap_or((50, 150))
}

fn faults() -> Faults {
    Faults { throttling: true, latency_ms: latency_ms(), ..Faults::default() }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("CELLAR_BENCH_FLEET_APPLY")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000]);
    let parallelism: usize = std::env::var("CELLAR_BENCH_PARALLELISM").ok().and_then(|p| p.parse().ok()).unwrap_or(8);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // One server alone: the critical paths.
        let (one_create, after_launch, one_replace) = {
            let (_dir, tree) = support::scenario::config(1);
            let sim = world(1);
            let create = measured(&sim, &plans(&sim, &tree, "create-server@{} 10").await, 8).await;
            let after_launch = create.took - create.last_launch.unwrap_or(0);
            support::change(&sim, "!image web-server-2030-01-01 x86_64 us-east-1").await;
            let upgrade = rolling(&sim, &tree).await;
            let replace = measured(&sim, &upgrade, 8).await;
            (create.took, after_launch, replace.took)
        };
        println!(
            "one server alone: create-server {one_create} s ({after_launch} s of it after the instance's launch), upgrade-ami --restart {one_replace} s"
        );
        for &n in &sizes {
            let wall = Instant::now();
            let (_dir, tree) = support::scenario::config(n);
            let sim = world(n);
            let create = plans(&sim, &tree, "create-server@{} 10").await;
            let created = measured(&sim, &create, parallelism).await;
            report(&format!("{n} servers: create-server (parallelism {parallelism})"), &created, one_create);
            // RunInstances is the busiest bucket: the last launch cannot be sent before its
            // refill allows, and the last server needs what follows a launch after it.
            let launches = Bucket::Request(cellar_engine::api::Api::RunInstances).least_seconds(n as u64);
            let pipeline = launches + after_launch as f64;
            println!(
                "  pipeline bound {pipeline:.0} s = RunInstances' refill {launches:.0} s + one server's {after_launch} s after its launch; took {:.3}× that",
                created.took as f64 / pipeline.max(1.0)
            );
            support::change(&sim, "!image web-server-2030-01-01 x86_64 us-east-1").await;
            let upgrade = rolling(&sim, &tree).await;
            let waves = upgrade.waves().len();
            let upgraded = measured(&sim, &upgrade, parallelism).await;
            report(&format!("{n} servers: upgrade-ami --restart --max-unavailable 10%"), &upgraded, one_replace);
            let per_wave = waves as f64 * one_replace as f64;
            println!(
                "  rolling: {waves} waves × {one_replace} s = {per_wave:.0} s; took {} s = {:.3}× (target ≤ 1.1×)",
                upgraded.took,
                upgraded.took as f64 / per_wave
            );
            // A wave starts with its plan's changing calls (a template version, the group's
            // update, the termination); those drawn from one bucket beyond its capacity wait
            // for its refill (it refills between waves), so each wave takes at least that
            // on top of one replacement.
            let per_wave = |calls: u64| calls.div_ceil(waves.max(1) as u64);
            let mut changing: BTreeMap<Bucket, u64> = BTreeMap::new();
            for (request, (calls, throttled)) in upgraded.counts.by_request() {
                if request.api.is_mutating() {
                    for bucket in request.buckets() {
                        *changing.entry(bucket).or_default() += calls - throttled;
                    }
                }
            }
            let (drain, busiest) = changing
                .into_iter()
                .map(|(b, calls)| (b.least_seconds(per_wave(calls)), b))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, Bucket::AutoScaling));
            let wave_bound = waves as f64 * (one_replace as f64 + drain);
            println!(
                "  a wave's changing calls: {busiest} needs {drain:.1} s of refill a wave; waves × (one + that) = {wave_bound:.0} s; took {:.3}× that",
                upgraded.took as f64 / wave_bound.max(1.0)
            );
            println!("  (wall {:.1} s)", wall.elapsed().as_secs_f64());
        }
    });
}

/// The default world with room for `n` servers (addresses, capacity in every zone).
fn world(n: usize) -> Arc<Sim> {
    let mut world = cellar_sim::default_world();
    world.reseed(12);
    world.set_address_limit(n as u32 + 1).unwrap();
    for zone in ["a", "b", "c", "d"] {
        world
            .set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), n as u32 + 1)
            .unwrap();
    }
    Arc::new(Sim::new(world))
}

/// `command` (`{}` for the server) planned for every server of `tree` and merged (planned
/// without faults: the benchmark measures the apply).
async fn plans(sim: &Sim, tree: &ConfigTree, command: &str) -> Plan {
    let mut plans = Vec::new();
    for server in tree.server_names() {
        let line = command.replace("{}", server.as_str());
        plans.push(support::plan_in(sim, tree, &line).await.unwrap_or_else(|e| panic!("{line}: {e}")));
    }
    let plan = Plan::merge(plans);
    plan.validate().unwrap();
    plan
}

/// `upgrade-ami@all --restart --max-unavailable 10%` as a fleet plan.
async fn rolling(sim: &Sim, tree: &ConfigTree) -> Plan {
    let servers = tree.server_names();
    let mut plans = Vec::new();
    for server in &servers {
        let line = format!("upgrade-ami@{server} --restart");
        plans.push(support::plan_in(sim, tree, &line).await.unwrap_or_else(|e| panic!("{line}: {e}")));
    }
    let options =
        RolloutOptions { max_unavailable: Some(Unavailable::Percent(10)), canary: None, stop_after_failures: None };
    let command = "upgrade-ami@all --restart --max-unavailable 10%".to_string();
    let plan = Plan::fleet(command, "all".into(), servers, plans, BTreeMap::new(), &options).unwrap();
    plan.validate().unwrap();
    plan
}

struct Measured {
    /// Virtual seconds.
    took: u64,
    /// Virtual seconds from the start to the end of the last instance launch (`launch
    /// instance` step), if the plan has one.
    last_launch: Option<u64>,
    counts: Arc<CallCounts>,
}

/// Applies `plan` with AWS's buckets and latency, from full buckets (a minute after the
/// planning's reads); panics unless it succeeds.
async fn measured(sim: &Arc<Sim>, plan: &Plan, parallelism: usize) -> Measured {
    sim.with_world(|w| w.set_faults(faults())).unwrap();
    sim.advance(Duration::from_secs(60)).await;
    let counts = Arc::new(CallCounts::default());
    let policy = Policy { concurrency: parallelism, seed: 12, counts: Some(counts.clone()), ..Policy::default() };
    let operator = Arc::new(support::Recorder::new(true));
    let started = sim.now().await.0;
    let report = executor::apply(sim.clone(), operator.clone(), plan, policy).await;
    let took = sim.now().await.0 - started;
    if std::env::var("CELLAR_BENCH_STEPS").is_ok() {
        steps_timeline(plan, &operator.events.lock().unwrap(), started);
    }
    sim.with_world(|w| w.set_faults(Faults::default())).unwrap();
    if !report.succeeded() {
        let failed: Vec<String> = report
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, executor::Outcome::Failed(_)))
            .take(5)
            .map(|(step, o)| format!("{step:?}: {o:?}"))
            .collect();
        eprintln!("failed steps (the first five):\n{}", failed.join("\n"));
    }
    assert!(report.succeeded(), "{}: {}", plan.command.chars().take(80).collect::<String>(), report.summary());
    let launches: Vec<_> =
        plan.steps.iter().filter(|s| s.describe().1.starts_with("launch instance")).map(|s| s.id).collect();
    let last_launch = operator
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            executor::Event::Done { step, at, .. } if launches.contains(step) => Some(at.0 - started),
            _ => None,
        })
        .max();
    Measured { took, last_launch, counts }
}

/// Prints calls made and needed, and the duration against the lower bound.
fn report(what: &str, m: &Measured, critical: u64) {
    let by_bucket = m.counts.by_bucket();
    let made: u64 = m.counts.by_request().values().map(|c| c.0).sum();
    let throttled: u64 = m.counts.by_request().values().map(|c| c.1).sum();
    let needed = made - throttled;
    let mut bounds: Vec<(f64, Bucket, u64)> =
        by_bucket.iter().map(|(&b, &(calls, thr))| (b.least_seconds(calls - thr), b, calls - thr)).collect();
    bounds.sort_by(|a, b| b.0.total_cmp(&a.0));
    let bucket_bound = bounds.first().map_or(0.0, |b| b.0);
    let bound = bucket_bound.max(critical as f64);
    println!("{what}");
    println!(
        "  calls: {made} made, {needed} needed ({throttled} throttled) = {:.3}× (target ≤ 1.05×)",
        made as f64 / needed.max(1) as f64
    );
    println!(
        "  lower bound {bound:.0} s = max(critical path {critical} s, busiest bucket {bucket_bound:.0} s); took {} s = {:.3}× (target ≤ 1.05×)",
        m.took,
        m.took as f64 / bound.max(1.0)
    );
    let parts: Vec<String> = bounds
        .iter()
        .take(4)
        .map(|(secs, b, calls)| {
            let (capacity, refill) = b.rate();
            format!("{b}: {calls} calls, ({calls} − {capacity}) ÷ {refill}/s = {secs:.0} s")
        })
        .collect();
    println!("  busiest buckets: {}", parts.join("; "));
    let throttled_by: Vec<String> =
        by_bucket.iter().filter(|(_, c)| c.1 > 0).map(|(b, (_, thr))| format!("{b}: {thr}")).collect();
    if !throttled_by.is_empty() {
        println!("  throttled, by bucket: {}", throttled_by.join(", "));
    }
}

/// By kind of step (its action's first words): how many, their mean duration, and when the
/// last ended (virtual seconds from the apply's start). `CELLAR_BENCH_STEPS=1`.
fn steps_timeline(plan: &Plan, events: &[executor::Event], start: u64) {
    let kind: BTreeMap<_, String> = plan
        .steps
        .iter()
        .map(|s| (s.id, s.describe().1.split_whitespace().take(2).collect::<Vec<_>>().join(" ")))
        .collect();
    let mut began = BTreeMap::new();
    let mut by_kind: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for e in events {
        match e {
            executor::Event::Started { step, at, .. } => {
                began.insert(*step, at.0);
            }
            executor::Event::Done { step, at, .. } => {
                let k = kind.get(step).cloned().unwrap_or_default();
                let from = began.get(step).copied().unwrap_or(at.0);
                let entry = by_kind.entry(k).or_default();
                entry.0 += 1;
                entry.1 += at.0 - from;
                entry.2 = entry.2.max(at.0 - start);
                entry.3 = if entry.3 == 0 { from - start } else { entry.3.min(from - start) };
            }
            _ => {}
        }
    }
    for (k, (n, total, last, first)) in by_kind {
        println!(
            "    {k:<40} {n:>5} steps, mean {:>5.1} s, first start {first:>5} s, last end {last:>5} s",
            total as f64 / n as f64
        );
    }
}
