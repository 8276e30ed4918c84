//! Benchmark: whole property-test scenarios per second and simulated API calls per second.
//!
//! Each scenario is the property suite's: 10 servers, 30 random steps drawn from the seed by
//! the suite's proptest strategy (seed commands, workspace ones included, planned, judged by
//! the model and applied; terminations, capacity shortages, time passing), every fault on
//! (throttling, transient errors, random terminations, eventual consistency, latency),
//! applies killed at a mutating call and resumed from their journal (`!crash` steps),
//! the invariants checked after every step and convergence at the end. One thread (a
//! current-thread tokio runtime), so the figure is per core.
//!
//! Two passes over the same scenarios: as the property suite runs them, with the
//! simulator's reload check (`Sim::reloading`: the world put away in shards and loaded back
//! around every call and clock move, a test of the simulator's laziness that costs what each
//! call loads), and without it (the same calls, checks and outcomes; what the engine and
//! simulator cost).
//!
//! Run: `cargo bench -p cellar --no-default-features --bench scenarios` (without the AWS
//! backend, which the bench does not use; `CELLAR_BENCH_SCENARIOS=N` to change the count).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;
use support::scenario;

fn main() {
    let servers = 10;
    let steps = 30;
    let count: u64 = std::env::var("CELLAR_BENCH_SCENARIOS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let (_dir, tree) = scenario::config(servers);
    let scenarios: Vec<_> = (0..count).map(|seed| (seed, scenario::generate(seed, servers, steps))).collect();
    let passes: [(&str, Run); 2] =
        [("with the reload check", scenario::run), ("without the reload check", scenario::run_without_reload_check)];
    for (pass, run) in passes {
        // Warm up allocator and caches.
        for (seed, ops) in scenarios.iter().take(5) {
            run(*seed, &tree, servers, ops).unwrap_or_else(|v| panic!("{v}"));
        }
        let started = Instant::now();
        let (mut calls, mut applies) = (0u64, 0usize);
        for (seed, ops) in &scenarios {
            let done = run(*seed, &tree, servers, ops).unwrap_or_else(|v| panic!("{v}"));
            calls += done.api_calls;
            applies += done.applies;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{pass}:");
        println!("  scenarios: {count} ({servers} servers, {steps} steps each, faults on), {applies} applies");
        println!("  time: {secs:.2} s");
        println!("  scenarios/s: {:.0}", count as f64 / secs);
        println!("  simulated API calls/s: {:.0} ({calls} calls)", calls as f64 / secs);
        println!("  mean scenario: {:.2} ms", secs * 1000.0 / count as f64);
    }
}

type Run = fn(u64, &cellar_engine::config::ConfigTree, usize, &[scenario::Op]) -> Result<scenario::ScenarioRun, String>;
