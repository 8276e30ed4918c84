//! Rolling fleet plans, in-process: waves run one after the other, each after the one
//! before passed its health gate; once the error budget is spent no new wave starts.

use super::support::{plan, world_after, Recorder};
use cellar_engine::executor::{self, Event, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::{Plan, RolloutOptions, Unavailable};
use std::collections::BTreeMap;
use std::sync::Arc;

const SERVERS: [&str; 4] = ["achel", "duvel", "kwak", "ommegang"];

/// The four auto-scaling fixture servers created, a newer image, and no t3.medium capacity
/// left in us-east-1d (achel's zone): achel's replacement cannot launch.
async fn upgrade_with_achel_failing(
    options: RolloutOptions,
) -> (Arc<cellar_sim::Sim>, Plan, Vec<Event>, executor::ApplyReport) {
    let sim = world_after(&[
        "create-server@achel 10",
        "create-server@duvel 30",
        "create-server@kwak 10",
        "create-server@ommegang 20",
        "!image web-server-2026-12-01 x86_64 us-east-1",
        "!capacity us-east-1d t3.medium 0",
    ])
    .await;
    let mut plans = Vec::new();
    for server in SERVERS {
        plans.push(plan(&*sim, &format!("upgrade-ami@{server} --restart")).await.unwrap());
    }
    let names = SERVERS.iter().map(|s| ServerName::new(*s)).collect();
    let fleet =
        Plan::fleet("upgrade-ami@all --restart".into(), "all".into(), names, plans, BTreeMap::new(), &options).unwrap();
    fleet.validate().unwrap();
    let recorder = Arc::new(Recorder::new(true));
    let report = executor::apply(sim.clone(), recorder.clone(), &fleet, Policy::default()).await;
    let events = recorder.events.lock().unwrap().clone();
    (sim, fleet, events, report)
}

/// (wave, healthy, failed, budget left) of every wave that ended.
fn waves_done(events: &[Event]) -> Vec<(usize, usize, usize, Option<usize>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WaveDone { wave, healthy, failed, budget_left, .. } => {
                Some((*wave, *healthy, *failed, *budget_left))
            }
            _ => None,
        })
        .collect()
}

fn image_of(sim: &cellar_sim::Sim, server: &str) -> String {
    let world = sim.world();
    let id = world.server_instance(&ServerName::new(server)).unwrap();
    world.instances()[&id].image.to_string()
}

#[tokio::test]
async fn a_rolling_upgrade_stops_once_its_error_budget_is_spent() {
    let options =
        RolloutOptions { max_unavailable: Some(Unavailable::Servers(1)), canary: None, stop_after_failures: Some(1) };
    let (sim, plan, events, report) = upgrade_with_achel_failing(options).await;
    assert_eq!(waves_done(&events), [(1, 0, 1, Some(0))], "only achel's wave ran: {events:#?}");
    for step in &plan.steps {
        let outcome = &report.outcomes[&step.id];
        if step.server.as_str() == "achel" {
            assert!(!matches!(outcome, Outcome::Skipped { .. }), "{} {outcome:?}", step.id);
        } else {
            assert!(matches!(outcome, Outcome::Skipped { .. }), "{} of {}: {outcome:?}", step.id, step.server);
        }
    }
    for server in ["duvel", "kwak", "ommegang"] {
        assert_eq!(image_of(&sim, server), "ami-0002", "{server} was left alone");
    }
}

#[tokio::test]
async fn a_rolling_upgrade_within_its_budget_goes_on_wave_by_wave() {
    let options = RolloutOptions {
        max_unavailable: Some(Unavailable::Percent(50)),
        canary: Some(1),
        stop_after_failures: Some(2),
    };
    let (sim, plan, events, report) = upgrade_with_achel_failing(options).await;
    let rollout = plan.fleet.as_ref().unwrap().rollout.as_ref().unwrap();
    let waves: Vec<Vec<&str>> = rollout.waves.iter().map(|w| w.iter().map(|s| s.as_str()).collect()).collect();
    assert_eq!(waves, [vec!["achel"], vec!["duvel", "kwak"], vec!["ommegang"]], "canary alone, then 50% of 4");
    assert_eq!(waves_done(&events), [(1, 0, 1, Some(1)), (2, 2, 0, Some(1)), (3, 1, 0, Some(1))]);
    // Each wave starts only after the one before ended.
    let position = |wanted: &dyn Fn(&Event) -> bool| events.iter().position(wanted).unwrap();
    let wave_2 = position(&|e| matches!(e, Event::WaveStarted { wave: 2, .. }));
    let wave_1_done = position(&|e| matches!(e, Event::WaveDone { wave: 1, .. }));
    assert!(wave_1_done < wave_2, "{events:#?}");
    assert!(!report.succeeded());
    for server in ["duvel", "kwak", "ommegang"] {
        assert_ne!(image_of(&sim, server), "ami-0002", "{server} was upgraded");
    }
}

/// A fleet's inventory read in batches is each server's inventory read alone, and its
/// describes grow with the pages (200 servers a filter), not with the servers.
#[tokio::test]
async fn a_fleet_is_read_in_batches_the_same_as_one_by_one() {
    use cellar_engine::{inventory, planner};
    let sim = world_after(&["create-server@duvel 30", "create-server@ommegang 20", "create-server@achel 10"]).await;
    let tree = super::support::fixture_config();
    let mut scopes = Vec::new();
    for server in SERVERS {
        let command = cellar_engine::command::parse(
            planner::COMMANDS,
            &format!("upgrade-ami@{server}"),
            &[],
            &Default::default(),
        )
        .unwrap();
        scopes.push(planner::scope(&command, &tree).unwrap());
    }
    let batched = inventory::read_many(&*sim, &scopes).await.unwrap();
    for (scope, read) in scopes.iter().zip(&batched) {
        let alone = inventory::read(&*sim, scope).await.unwrap();
        assert_eq!(read.resources, alone.resources, "{:?}", scope.server);
        assert_eq!(read.observe(scope), alone.observe(scope), "{:?}", scope.server);
    }
    assert!(!batched[1].resources.is_empty() && batched[2].resources.is_empty(), "duvel has resources, kwak none");
    // Calls for 4, 200 and 401 servers (the others exist only in name): one more page of
    // describes for every 200 names, and a DNS lookup per server with a name.
    let calls = |n: usize| {
        let sim = sim.clone();
        let mut scopes = scopes.clone();
        let first = scopes[0].clone();
        scopes.extend((0..n.saturating_sub(4)).map(|i| {
            let mut s = first.clone();
            s.server = Some(ServerName::new(format!("web-{i}")));
            s.dns_name = None;
            s
        }));
        async move {
            let before = sim.world().api_calls();
            inventory::read_many(&*sim, &scopes).await.unwrap();
            sim.world().api_calls() - before
        }
    };
    let (four, two_hundred, four_hundred_one) = (calls(4).await, calls(200).await, calls(401).await);
    assert_eq!(two_hundred, four, "200 servers are one page");
    assert_eq!(four_hundred_one, four + 2 * 5, "401 servers: two more pages of the five kinds");
}

/// Four servers replaced in one wave at `--parallelism 1`: a step sleeping (the wait for
/// its instance to terminate, the wait for the new one to be healthy) holds no slot, so the
/// four replacements overlap and the wave takes about one replacement's time, not four.
#[tokio::test]
async fn steps_that_sleep_hold_no_parallelism_slot() {
    let sim = world_after(&[
        "create-server@achel 10",
        "create-server@duvel 30",
        "create-server@kwak 10",
        "create-server@ommegang 20",
        "!image web-server-2026-12-01 x86_64 us-east-1",
    ])
    .await;
    let mut plans = Vec::new();
    for server in SERVERS {
        plans.push(plan(&*sim, &format!("upgrade-ami@{server} --restart")).await.unwrap());
    }
    let one_took = {
        let alone = world_after(&["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"]).await;
        let upgrade = plan(&*alone, "upgrade-ami@duvel --restart").await.unwrap();
        let started = alone.world().now().0;
        let report = executor::apply(alone.clone(), Arc::new(Recorder::new(true)), &upgrade, Policy::default()).await;
        assert!(report.succeeded(), "{}", report.summary());
        let ended = alone.world().now().0;
        ended - started
    };
    let names = SERVERS.iter().map(|s| ServerName::new(*s)).collect();
    let options = RolloutOptions { max_unavailable: Some(Unavailable::Percent(100)), ..RolloutOptions::default() };
    let fleet =
        Plan::fleet("upgrade-ami@all --restart".into(), "all".into(), names, plans, BTreeMap::new(), &options).unwrap();
    assert_eq!(fleet.waves().len(), 1);
    let started = sim.world().now().0;
    let policy = Policy { concurrency: 1, ..Policy::default() };
    let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &fleet, policy).await;
    assert!(report.succeeded(), "{}", report.summary());
    let took = sim.world().now().0 - started;
    assert!(one_took > 20, "a replacement waits for a termination and a boot ({one_took} s)");
    assert!(took * 2 < one_took * 3, "4 replacements at parallelism 1 took {took} s; one alone {one_took} s");
}

/// `backup@all`'s waits for its snapshots to complete poll one shared look at the waiting
/// servers' snapshots: the fleet makes about one DescribeSnapshots per poll of its longest
/// wait (kwak's 200 GiB volume, 260 s), not one per snapshot and poll (119 for these
/// five snapshots).
#[tokio::test]
async fn a_fleets_snapshot_waits_share_their_looks() {
    let sim = world_after(&[
        "create-server@achel 10",
        "create-server@duvel 30",
        "create-server@kwak 10",
        "create-server@ommegang 20",
    ])
    .await;
    let mut plans = Vec::new();
    for server in SERVERS {
        plans.push(plan(&*sim, &format!("backup@{server}")).await.unwrap());
    }
    let names = SERVERS.iter().map(|s| ServerName::new(*s)).collect();
    let fleet =
        Plan::fleet("backup@all".into(), "all".into(), names, plans, BTreeMap::new(), &RolloutOptions::default())
            .unwrap();
    assert_eq!(fleet.steps.len(), 5, "a snapshot of each data volume, two of kwak's");
    let counts = Arc::new(cellar_engine::caller::CallCounts::default());
    let policy = Policy { counts: Some(counts.clone()), ..Policy::default() };
    let started = sim.world().now().0;
    let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &fleet, policy.clone()).await;
    assert!(report.succeeded(), "{}", report.summary());
    let took = sim.world().now().0 - started;
    assert!(took >= 260, "kwak's 200 GiB snapshot takes 260 s; the apply took {took} s");
    let describes: u64 = counts
        .by_request()
        .iter()
        .filter(|(r, _)| r.api == cellar_engine::api::Api::DescribeSnapshots)
        .map(|(_, (made, _))| made)
        .sum();
    // A look a poll, and at the start one more for each server joining the waits.
    let polls = took / policy.poll.as_secs() + 1 + SERVERS.len() as u64;
    assert!(describes <= polls, "{describes} DescribeSnapshots in {took} s: more than a look a poll ({polls})");
}
