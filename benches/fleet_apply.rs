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

use cellar_engine::config::ConfigTree;
use cellar_engine::limits::Bucket;
use cellar_engine::plan::{Plan, RolloutOptions, Unavailable};
use std::collections::BTreeMap;
use std::time::Instant;
use support::timed::{measured, parallelism, plans, report, sizes, world};

fn main() {
    let sizes = sizes("CELLAR_BENCH_FLEET_APPLY", &[100, 1000]);
    let parallelism = parallelism();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // One server alone: the critical paths.
        let (one_create, after_launch, one_replace) = {
            let (_dir, tree) = support::scenario::config(1);
            let sim = world(1);
            let plans_of_one = plans(&sim, &tree, "create-server@{} 10").await;
            let create = measured(&sim, &plans_of_one, 8).await;
            let after_launch = create.took - create.last_end(&plans_of_one, "launch instance").unwrap_or(0);
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
            report(&format!("{n} servers: create-server (parallelism {parallelism})"), &created, one_create, (4, 1.05));
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
            report(&format!("{n} servers: upgrade-ami --restart --max-unavailable 10%"), &upgraded, one_replace, (4, 1.05));
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
            // Each replacement's agent, once its instance boots, attaches the server's data
            // volumes and associates its address: calls of the same account, drawn from
            // AttachVolume's and AssociateAddress's buckets (mutating: 50, 5/s), all within
            // a few seconds of each other in a wave, since the wave's instances boot together.
            let (agent_drain, agent_bucket) = agents_refill(&create, &upgrade.waves());
            let agent_bound = waves as f64 * (one_replace as f64 + drain.max(agent_drain));
            println!(
                "  a wave's agents: {agent_bucket} needs {agent_drain:.1} s of refill a wave; waves × (one + the larger refill) = {agent_bound:.0} s; took {:.3}× that",
                upgraded.took as f64 / agent_bound.max(1.0)
            );
            println!("  (wall {:.1} s)", wall.elapsed().as_secs_f64());
        }
    });
}

/// The refill a wave's agents need beyond the buckets' capacity, for the largest wave: one
/// AttachVolume per data volume the server's create made, one AssociateAddress per server.
fn agents_refill(create: &Plan, waves: &[Vec<cellar_engine::model::ServerName>]) -> (f64, Bucket) {
    use cellar_engine::api::Api;
    use cellar_engine::plan::Action;
    let mut volumes: BTreeMap<&cellar_engine::model::ServerName, u64> = BTreeMap::new();
    for step in &create.steps {
        if matches!(step.action, Action::CreateVolume { .. }) {
            *volumes.entry(&step.server).or_default() += 1;
        }
    }
    let mut worst = (0.0, Bucket::Request(Api::AttachVolume));
    for wave in waves {
        let attaches: u64 = wave.iter().map(|s| volumes.get(s).copied().unwrap_or(0)).sum();
        for (bucket, calls) in [
            (Bucket::Request(Api::AttachVolume), attaches),
            (Bucket::Request(Api::AssociateAddress), wave.len() as u64),
        ] {
            let seconds = bucket.least_seconds(calls);
            if seconds > worst.0 {
                worst = (seconds, bucket);
            }
        }
    }
    worst
}

/// `upgrade-ami@all --restart --max-unavailable 10%` as a fleet plan.
async fn rolling(sim: &cellar_sim::Sim, tree: &ConfigTree) -> Plan {
    let options =
        RolloutOptions { max_unavailable: Some(Unavailable::Percent(10)), canary: None, stop_after_failures: None };
    let command = ("upgrade-ami@{} --restart", "upgrade-ami@all --restart --max-unavailable 10%");
    support::timed::fleet(sim, tree, command, &options).await
}
