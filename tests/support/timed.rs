//! Applies timed on the simulator's virtual clock under AWS's token buckets and latency
//! (faults `throttling` and `latency_ms`), with the calls counted by bucket: what the
//! benches `fleet_apply` and `backups` share.

use cellar_engine::caller::{CallCounts, Policy};
use cellar_engine::cloud::Cloud;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor;
use cellar_engine::limits::Bucket;
use cellar_engine::model::*;
use cellar_engine::plan::{Plan, RolloutOptions};
use cellar_sim::{Faults, Sim};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// AWS's API latency as the simulator draws it per call (milliseconds, min and max;
/// `CELLAR_BENCH_LATENCY_MS=MIN,MAX`).
pub fn latency_ms() -> (u64, u64) {
    let given = std::env::var("CELLAR_BENCH_LATENCY_MS").ok().and_then(|v| {
        let (min, max) = v.split_once(',')?;
        Some((min.trim().parse().ok()?, max.trim().parse().ok()?))
    });
    given.unwrap_or((50, 150))
}

pub fn faults() -> Faults {
    Faults { throttling: true, latency_ms: latency_ms(), ..Faults::default() }
}

/// A list of numbers from the environment variable `var` (`100,1000`), else `default`.
pub fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// The apply's `--parallelism`: `CELLAR_BENCH_PARALLELISM`, 8 by default as in `cellar apply`.
pub fn parallelism() -> usize {
    std::env::var("CELLAR_BENCH_PARALLELISM").ok().and_then(|p| p.parse().ok()).unwrap_or(8)
}

/// The default world with room for `n` servers (addresses, capacity in every zone).
pub fn world(n: usize) -> Arc<Sim> {
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

/// `command` (`{}` for the server) planned for every server of `tree`, each alone (planned
/// without faults: the benchmarks measure the apply).
pub async fn plans_each(sim: &Sim, tree: &ConfigTree, command: &str) -> Vec<Plan> {
    let mut plans = Vec::new();
    for server in tree.server_names() {
        let line = command.replace("{}", server.as_str());
        plans.push(super::plan_in(sim, tree, &line).await.unwrap_or_else(|e| panic!("{line}: {e}")));
    }
    plans
}

/// `command` (`{}` for the server) planned for every server of `tree` and merged.
pub async fn plans(sim: &Sim, tree: &ConfigTree, command: &str) -> Plan {
    let plan = Plan::merge(plans_each(sim, tree, command).await);
    plan.validate().unwrap();
    plan
}

/// `command` (`{}` for the server) for every server of `tree` as one fleet plan of the
/// selector `all` (`line` its command line, as `cellar plan` writes it), with `options`.
pub async fn fleet(sim: &Sim, tree: &ConfigTree, (command, line): (&str, &str), options: &RolloutOptions) -> Plan {
    let plans = plans_each(sim, tree, command).await;
    let servers = tree.server_names();
    let plan = Plan::fleet(line.to_string(), "all".into(), servers, plans, BTreeMap::new(), options).unwrap();
    plan.validate().unwrap();
    plan
}

pub struct Measured {
    /// Virtual seconds.
    pub took: u64,
    /// When each step ended, in virtual seconds from the apply's start.
    pub ended: BTreeMap<cellar_engine::plan::StepId, u64>,
    pub counts: Arc<CallCounts>,
}

impl Measured {
    /// The virtual seconds from the start to the end of the last step whose description
    /// starts with `what` (`launch instance`), if the plan has one.
    pub fn last_end(&self, plan: &Plan, what: &str) -> Option<u64> {
        plan.steps
            .iter()
            .filter(|s| s.describe().1.starts_with(what))
            .filter_map(|s| self.ended.get(&s.id))
            .max()
            .copied()
    }
}

/// Applies `plan` with AWS's buckets and latency, from full buckets (a minute after the
/// planning's reads); panics unless it succeeds. `CELLAR_BENCH_STEPS=1` prints the steps'
/// timeline; `CELLAR_BENCH_TRACE=FILE` (with it) appends each step's server, kind, start and
/// end (virtual seconds from the apply's start, tab-separated) to FILE.
pub async fn measured(sim: &Arc<Sim>, plan: &Plan, parallelism: usize) -> Measured {
    let timeline = std::env::var("CELLAR_BENCH_STEPS").is_ok();
    timed(sim, plan, parallelism, faults(), timeline).await
}

/// [`measured`] with the world's `faults` (`Faults::default()`: none, for a set-up), and
/// no timeline.
pub async fn measured_with(sim: &Arc<Sim>, plan: &Plan, parallelism: usize, faults: Faults) -> Measured {
    timed(sim, plan, parallelism, faults, false).await
}

async fn timed(sim: &Arc<Sim>, plan: &Plan, parallelism: usize, faults: Faults, timeline: bool) -> Measured {
    sim.with_world(|w| w.set_faults(faults)).unwrap();
    sim.advance(Duration::from_secs(60)).await;
    let counts = Arc::new(CallCounts::default());
    let policy = Policy { concurrency: parallelism, seed: 12, counts: Some(counts.clone()), ..Policy::default() };
    let operator = Arc::new(super::Recorder::new(true));
    let started = sim.now().await.0;
    let report = executor::apply(sim.clone(), operator.clone(), plan, policy).await;
    let took = sim.now().await.0 - started;
    let events = operator.events.lock().unwrap();
    if timeline {
        steps_timeline(plan, &events, started);
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
    let ended = events
        .iter()
        .filter_map(|e| match e {
            executor::Event::Done { step, at, .. } => Some((*step, at.0 - started)),
            _ => None,
        })
        .collect();
    Measured { took, ended, counts }
}

/// Prints calls made and needed, and the duration against the lower bound: the larger of
/// `critical` (virtual seconds) and, per bucket, (calls needed − capacity) ÷ refill.
/// `buckets`: how many of the busiest buckets to list; `target`: the ratio aimed at.
pub fn report(what: &str, m: &Measured, critical: u64, (buckets, target): (usize, f64)) {
    let by_bucket = m.counts.by_bucket();
    let made: u64 = m.counts.by_request().values().map(|c| c.0).sum();
    let throttled: u64 = m.counts.by_request().values().map(|c| c.1).sum();
    let needed = made - throttled;
    let mut bounds: Vec<(f64, Bucket, u64)> =
        by_bucket.iter().map(|(&b, &(calls, thr))| (b.least_seconds(calls - thr), b, calls - thr)).collect();
    bounds.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.2.cmp(&a.2)));
    let bucket_bound = bounds.first().map_or(0.0, |b| b.0);
    let bound = bucket_bound.max(critical as f64);
    println!("{what}");
    println!(
        "  calls: {made} made, {needed} needed ({throttled} throttled) = {:.3}× (target ≤ 1.05×)",
        made as f64 / needed.max(1) as f64
    );
    println!(
        "  lower bound {bound:.0} s = max(critical path {critical} s, busiest bucket {bucket_bound:.0} s); took {} s = {:.3}× (target ≤ {target}×)",
        m.took,
        m.took as f64 / bound.max(1.0)
    );
    let parts: Vec<String> = bounds
        .iter()
        .take(buckets)
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
                if let Ok(path) = std::env::var("CELLAR_BENCH_TRACE") {
                    use std::io::Write;
                    let server =
                        plan.steps.iter().find(|s| s.id == *step).map(|s| s.server.to_string()).unwrap_or_default();
                    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
                    writeln!(f, "{server}\t{k}\t{}\t{}", from - start, at.0 - start).unwrap();
                }
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
