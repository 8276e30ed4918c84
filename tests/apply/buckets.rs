//! The client-side token buckets against the simulator's (the same table, `limits.rs`):
//! which bucket paces which call.

use cellar_engine::api::Api;
use cellar_engine::caller::{CallCounts, Caller, Policy, Request};
use cellar_engine::cloud::{Cloud, CloudErrorKind, Filter};
use cellar_engine::limits::Bucket;
use cellar_engine::model::*;
use cellar_sim::{Faults, Sim};
use std::sync::Arc;

fn throttling_sim() -> Sim {
    let mut world = cellar_sim::default_world();
    world.set_faults(Faults { throttling: true, ..Faults::default() }).unwrap();
    Sim::new(world)
}

/// `n` describes of instances (`filter`), then how many virtual seconds they took and how
/// many attempts the simulator throttled.
async fn burst(sim: &Sim, caller: &Caller, counts: &CallCounts, n: usize, filter: &Filter) -> (u64, u64) {
    let region = Region::new("us-east-1");
    let started = sim.now().await.0;
    let before: u64 = counts.by_request().values().map(|c| c.1).sum();
    for _ in 0..n {
        caller
            .call(sim, Request::describe(Api::DescribeInstances, filter), || sim.describe_instances(&region, filter))
            .await
            .unwrap();
    }
    let throttled: u64 = counts.by_request().values().map(|c| c.1).sum();
    (sim.now().await.0 - started, throttled - before)
}

fn counted() -> (Caller, Arc<CallCounts>) {
    let counts = Arc::new(CallCounts::default());
    (Caller::new(&Policy { counts: Some(counts.clone()), ..Policy::default() }), counts)
}

#[tokio::test]
async fn filtered_describes_are_not_paced_by_the_unfiltered_bucket() {
    let sim = throttling_sim();
    let (caller, counts) = counted();
    // (describes, filter, least and most virtual seconds they take, from full buckets)
    // 100 filtered: DescribeInstances' own bucket holds 100, so no wait at all.
    let (took, throttled) = burst(&sim, &caller, &counts, 100, &Filter::Server(ServerName::new("x"))).await;
    assert_eq!((took, throttled), (0, 0), "100 filtered describes from a full bucket of 100");
    // 100 unfiltered: the unfiltered bucket (50, 10 a second) is another, still full; the
    // 50 beyond its capacity take 5 s of refill, and the simulator throttles none.
    let (took, throttled) = burst(&sim, &caller, &counts, 100, &Filter::All).await;
    assert!((5..=6).contains(&took), "100 unfiltered describes took {took} s, not about 5");
    assert_eq!(throttled, 0, "paced, not throttled");
    let made = counts.by_request();
    assert_eq!(made.get(&Request { api: Api::DescribeInstances, unfiltered: false }), Some(&(100, 0)));
    assert_eq!(made.get(&Request { api: Api::DescribeInstances, unfiltered: true }), Some(&(100, 0)));
}

#[tokio::test]
async fn auto_scaling_calls_draw_from_their_own_bucket() {
    let sim = throttling_sim();
    let (caller, counts) = counted();
    let region = Region::new("us-east-1");
    let (capacity, _) = cellar_engine::limits::AUTO_SCALING_RATE;
    for _ in 0..capacity as usize {
        caller
            .call(&sim, Api::DescribeAutoScalingGroups, || sim.describe_auto_scaling_groups(&region, &Filter::All))
            .await
            .unwrap();
    }
    // The caller kept a margin in hand (it waited for the last ones' refill): called
    // directly, the simulator has those few left, then refuses the next Auto Scaling call
    // as Auto Scaling does.
    let margin = cellar_engine::limits::TokenBucket::margin(Bucket::AutoScaling) as usize;
    let mut left = 0;
    let e = loop {
        match sim.describe_auto_scaling_groups(&region, &Filter::All).await {
            Ok(_) => left += 1,
            Err(e) => break e,
        }
        assert!(left <= margin + 1, "Auto Scaling's bucket was not nearly empty after {capacity} calls");
    };
    assert_eq!((e.kind, e.code.as_str()), (CloudErrorKind::RequestLimitExceeded, "Throttling"));
    // Auto Scaling's bucket is empty; EC2's are untouched.
    let (took, throttled) = burst(&sim, &caller, &counts, 100, &Filter::Server(ServerName::new("x"))).await;
    assert_eq!((took, throttled), (0, 0));
    // The caller waits for the refill instead (and learns the bucket is empty).
    let started = sim.now().await.0;
    caller
        .call(&sim, Api::DescribeAutoScalingGroups, || sim.describe_auto_scaling_groups(&region, &Filter::All))
        .await
        .unwrap();
    assert!(sim.now().await.0 - started <= 1, "one token refills within a second");
}
