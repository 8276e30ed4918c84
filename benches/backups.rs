//! Benchmark: `backup@all` and `prune@all` for a fleet on the simulator with AWS's token
//! buckets and latency (faults `throttling` and `latency_ms`), on its virtual clock.
//!
//! For N servers (`s00`, `s01`, ... of `tests/support/scenario`, each with one data volume
//! of 10 GiB, created without faults first), it reports:
//! - `backup@all` as one fleet plan (a CreateSnapshot step per server, each waiting for its
//!   snapshot to complete: 60 s + 1 s/GiB on the simulator), applied at `--parallelism 8`;
//! - its virtual duration against the lower bound: the larger of one snapshot's own time
//!   (the same plan for one server alone on the same faults: create and complete) and, per
//!   bucket, (calls needed − the bucket's capacity) ÷ its refill rate (CreateSnapshot's
//!   bucket, 100 and 5/s, for 1,000 servers); and against the pipeline bound: the last
//!   CreateSnapshot cannot be sent before its bucket's refill allows, and its snapshot then
//!   takes one snapshot's time;
//! - the calls made and needed, by bucket;
//! - then D days of the scheduled backup (`backup@all --due` at 03:00 every day, without
//!   faults) and `prune@all` timed the same way (DeleteSnapshot's bucket: 50, 5/s).
//!
//! Run: `cargo bench -p cellar --no-default-features --bench backups`
//! (`CELLAR_BENCH_BACKUPS=100,1000` for the fleet sizes, 1,000 by default;
//! `CELLAR_BENCH_BACKUP_DAYS` the days of backups before the prune, 14 by default, 0 for
//! no prune; `CELLAR_BENCH_BACKUP_GIB` the data volumes' size, 10 by default;
//! `CELLAR_BENCH_PARALLELISM` the apply's `--parallelism`, 8 by default;
//! `CELLAR_BENCH_LATENCY_MS=MIN,MAX`, 50–150 by default; `CELLAR_BENCH_STEPS=1` the steps'
//! timeline).

#[path = "../tests/support/mod.rs"]
mod support;

use cellar_engine::api::Api;
use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::config::ConfigTree;
use cellar_engine::limits::Bucket;
use cellar_engine::model::{Region, Timestamp};
use cellar_engine::plan::{Plan, RolloutOptions};
use cellar_sim::{Faults, Sim};
use std::sync::Arc;
use std::time::Instant;
use support::timed::{measured, measured_with, parallelism, plans, report, sizes, world};

const DAY: u64 = 86_400;
/// The default policy's scheduled backup (03:00 UTC), and a minute past it.
const DAILY_AT: u64 = 3 * 3600 + 60;

fn main() {
    let sizes = sizes("CELLAR_BENCH_BACKUPS", &[1000]);
    let days: u64 = std::env::var("CELLAR_BENCH_BACKUP_DAYS").ok().and_then(|d| d.parse().ok()).unwrap_or(14);
    let gib: u32 = std::env::var("CELLAR_BENCH_BACKUP_GIB").ok().and_then(|g| g.parse().ok()).unwrap_or(10);
    let parallelism = parallelism();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // One server alone: one snapshot's own time, one prune's.
        let (one_backup, one_prune) = {
            let (_dir, tree) = support::scenario::config(1);
            let sim = created(1, &tree, gib).await;
            let one = measured(&sim, &fleet(&sim, &tree, ("backup", "")).await, 8).await;
            let prune = match days {
                0 => None,
                days => {
                    daily_backups(&sim, &tree, days).await;
                    let plan = fleet(&sim, &tree, ("prune", "")).await;
                    Some(measured(&sim, &plan, 8).await.took)
                }
            };
            (one.took, prune)
        };
        println!(
            "one server alone: backup {one_backup} s (a snapshot of {gib} GiB: its create, {} s to complete, the poll that sees it){}",
            60 + gib,
            one_prune.map(|p| format!(", prune after {days} days {p} s")).unwrap_or_default()
        );
        for &n in &sizes {
            let wall = Instant::now();
            let (_dir, tree) = support::scenario::config(n);
            let sim = created(n, &tree, gib).await;
            let set_up = wall.elapsed().as_secs_f64();
            let plan = fleet(&sim, &tree, ("backup", "")).await;
            let backed_up = measured(&sim, &plan, parallelism).await;
            report(
                &format!("{n} servers: backup@all, {} snapshots (parallelism {parallelism})", plan.steps.len()),
                &backed_up,
                one_backup,
                (usize::MAX, 1.1),
            );
            // The last snapshot's CreateSnapshot waits for its bucket's refill; then it
            // takes one snapshot's time.
            let creates = needed(&backed_up, Api::CreateSnapshot);
            let refill = Bucket::Request(Api::CreateSnapshot).least_seconds(creates);
            let pipeline = refill + one_backup as f64;
            println!(
                "  pipeline bound {pipeline:.0} s = CreateSnapshot's refill {refill:.0} s + one snapshot's {one_backup} s; took {:.3}× that (target ≤ 1.1×)",
                backed_up.took as f64 / pipeline.max(1.0)
            );
            if let Some(one_prune) = one_prune {
                daily_backups(&sim, &tree, days).await;
                let plan = fleet(&sim, &tree, ("prune", "")).await;
                let pruned = measured(&sim, &plan, parallelism).await;
                let deletes = plan.steps.len();
                let snapshots = sim.describe_snapshots(&Region::new("us-east-1"), &Filter::All).await.unwrap().len();
                report(
                    &format!(
                        "{n} servers: prune@all after {days} days of backups, {deletes} deletes ({snapshots} snapshots left)"
                    ),
                    &pruned,
                    one_prune,
                    (usize::MAX, 1.1),
                );
            }
            println!("  (wall {:.1} s, of which {set_up:.1} s creating the servers)", wall.elapsed().as_secs_f64());
        }
    });
}

/// A world of `n` servers of `tree` with data volumes of `gib` GiB, created (one merged create-server plan, no faults).
async fn created(n: usize, tree: &ConfigTree, gib: u32) -> Arc<Sim> {
    let sim = world(n);
    let create = plans(&sim, tree, &format!("create-server@{{}} {gib}")).await;
    measured_with(&sim, &create, 64, Faults::default()).await;
    sim
}

/// `COMMAND@all FLAGS` as one fleet plan.
async fn fleet(sim: &Sim, tree: &ConfigTree, (command, flags): (&str, &str)) -> Plan {
    let (each, all) = (format!("{command}@{{}} {flags}"), format!("{command}@all {flags}"));
    support::timed::fleet(sim, tree, (&each, all.trim_end()), &RolloutOptions::default()).await
}

/// `days` days of the scheduled backup: `backup@all --due` a minute past 03:00 UTC each
/// day (no faults: the set-up of the prune).
async fn daily_backups(sim: &Arc<Sim>, tree: &ConfigTree, days: u64) {
    for _ in 0..days {
        let now = sim.now().await.0;
        let next = (now + DAY - DAILY_AT) / DAY * DAY + DAILY_AT;
        sim.advance_until(Timestamp(next.max(now))).await;
        let plan = fleet(sim, tree, ("backup", "--due")).await;
        measured_with(sim, &plan, 64, Faults::default()).await;
    }
}

/// The calls of `api` the measured apply needed (made less throttled).
fn needed(m: &support::timed::Measured, api: Api) -> u64 {
    m.counts.by_request().iter().filter(|(r, _)| r.api == api).map(|(_, (made, throttled))| made - throttled).sum()
}
