//! Benchmark: the same 20-server scenario on the simulator and on a local AWS endpoint
//! (moto server, through the real SDK), timed in one run; prints the ratio.
//!
//! Scenario: plan `create-server@sNN 10` for 20 servers, apply the 20 plans as one merged
//! plan (up to 32 actions at once), then plan and apply `destroy-server@sNN --delete-data`
//! for all 20 the same way. Both backends start from the same images, no faults.
//!
//! Run: `bash scripts/bench-endpoint.sh` (starts moto like the tests do, then
//! `cargo bench --profile release --bench endpoint`); `CELLAR_BENCH_ROUNDS=N` repeats the pair.

#[path = "../tests/support/mod.rs"]
mod support;

use cellar_engine::cloud::Cloud;
use cellar_engine::executor::{self, Policy};
use cellar_engine::plan::Plan;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVERS: usize = 20;

async fn run(cloud: Arc<dyn Cloud>, tree: &cellar_engine::config::ConfigTree, policy: &Policy) -> (Duration, usize) {
    let started = Instant::now();
    let mut steps = 0;
    for command in ["create-server@s{i} 10", "destroy-server@s{i} --delete-data"] {
        let mut plans = Vec::new();
        for i in 0..SERVERS {
            let line = command.replace("{i}", &format!("{i:02}"));
            plans.push(support::plan_in(&*cloud, tree, &line).await.unwrap_or_else(|e| panic!("{line}: {e}")));
        }
        let plan = Plan::merge(plans);
        steps += plan.steps.len();
        let report =
            executor::apply(cloud.clone(), Arc::new(support::Recorder::new(true)), &plan, policy.clone()).await;
        assert!(report.succeeded(), "{command}: {report:#?}");
    }
    (started.elapsed(), steps)
}

fn main() {
    let Some(upstream) = support::moto::moto_endpoint("bench endpoint") else { return };
    let rounds: usize = std::env::var("CELLAR_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let (_dir, tree) = support::scenario::config(SERVERS);
    // The simulator runs on a current-thread runtime (its virtual clock needs all sleepers on
    // one thread); moto's side on two worker threads, as the CLI's HTTP calls would overlap.
    let sim_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let (sim_time, sim_steps) = sim_runtime.block_on(async {
            let sim: Arc<dyn Cloud> = Arc::new(cellar_sim::Sim::new(cellar_sim::default_world()));
            let policy = Policy { concurrency: 32, ..Policy::default() };
            run(sim, &tree, &policy).await
        });
        runtime.block_on(async {
            let account = support::aws::MotoAccount::open_with(&upstream, false).await;
            let policy = Policy { concurrency: 32, ..support::aws::fast_policy() };
            let (moto_time, moto_steps) = run(account.cloud(), &tree, &policy).await;
            let calls = account.endpoint.seen().len();
            let ratio = moto_time.as_secs_f64() / sim_time.as_secs_f64();
            ratios.push(ratio);
            println!(
                "round {round}: simulator {:.1} ms ({sim_steps} steps), moto {:.0} ms ({moto_steps} steps, {calls} HTTP calls, {:.1} ms/call): moto/simulator = {ratio:.0}x",
                sim_time.as_secs_f64() * 1000.0,
                moto_time.as_secs_f64() * 1000.0,
                moto_time.as_secs_f64() * 1000.0 / calls.max(1) as f64,
            );
        });
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!("median moto/simulator ratio over {rounds} rounds: {:.0}x", ratios[ratios.len() / 2]);
}
