//! One scenario test for each warning in the seed document, on the simulator with faults:
//!
//! - "If an EBS volume can be created, but the zone is full of instances, the EBS volume
//!   will be removed." (create-server in a full zone)
//! - "Instances themselves can be terminated arbitrarily (by us or by amazon)": the group
//!   replaces the instance and the agent brings the volume and the address back.
//! - "This command can fail if a volume is in a zone which is otherwise full"
//!   (attach-instance in a full zone: a clear failure, nothing leaked).
//! - "notify us if they are terminated ... and fail to respawn properly": status says
//!   `down` with the reason, and `healthy` again once capacity returns.
//! - A big apply under AWS's throttling (50 servers) completes without duplicate instances.

mod support;

use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::{Action, Plan};
use cellar_engine::status;
use cellar_sim::{Faults, Sim};
use std::sync::Arc;
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Latency, eventual consistency and some 5xx errors: the background of every scenario here.
fn unreliable() -> Faults {
    Faults { transient_error_rate: 0.05, invisible_secs: 5, latency_ms: (20, 300), ..Faults::default() }
}

fn hostile_world(seed: u64) -> Arc<Sim> {
    let mut world = cellar_sim::default_world();
    world.reseed(seed);
    world.set_faults(unreliable()).unwrap();
    Arc::new(Sim::new(world))
}

async fn health(sim: &Sim, server: &str) -> (status::Health, String) {
    let s = status::read(sim, &ServerName::new(server), &Region::new("us-east-1")).await.unwrap();
    (s.health, s.reason)
}

#[test]
fn zone_full_at_create_server_removes_the_volume() {
    rt().block_on(async {
        let sim = hostile_world(11);
        sim.with_world(|w| w.set_capacity(&Zone::new("us-east-1b"), &InstanceType::new("t3.medium"), 0)).unwrap();
        let plan = support::plan(&*sim, "create-server@ommegang 20").await.unwrap();
        let report =
            executor::apply(sim.clone(), Arc::new(support::Recorder::new(true)), &plan, Policy::default()).await;
        assert!(!report.succeeded());
        let failed: Vec<String> = report
            .outcomes
            .values()
            .filter_map(|o| match o {
                Outcome::Failed(e) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("InsufficientInstanceCapacity") && failed[0].contains("us-east-1b"), "{failed:?}");
        assert!(report.undone.iter().all(|u| u.result.is_ok()), "{:#?}", report.undone);
        let volumes = sim.describe_volumes(&Region::new("us-east-1"), &Filter::All).await.unwrap();
        assert!(volumes.is_empty(), "the volume is removed again: {volumes:#?}");
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        assert_eq!(support::tagged(&*sim, "ommegang").await, Vec::<String>::new());
    });
}

#[test]
fn instance_terminated_by_amazon_is_replaced_and_the_agent_reattaches() {
    rt().block_on(async {
        let sim = hostile_world(12);
        support::apply(&sim, "create-server@duvel 30").await;
        let old = sim.world().server_instance(&ServerName::new("duvel")).unwrap();
        sim.with_world(|w| w.terminate_instance_by_amazon(&old)).unwrap();
        sim.advance(Duration::from_secs(600)).await;
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        let (h, reason) = health(&sim, "duvel").await;
        assert_eq!(h, status::Health::Healthy, "{reason}");
        let new = sim.world().server_instance(&ServerName::new("duvel")).unwrap();
        assert_ne!(new, old);
        let log = sim.world().render_log(None);
        assert!(log.contains(&format!("agent {new}")), "the new instance's agent ran:\n{log}");
    });
}

/// Two data volumes (fixture kwak): the replacement's agent attaches both, each at its
/// device, and associates the address, under the same faults.
#[test]
fn a_replacement_gets_both_volumes_back_through_its_agent() {
    rt().block_on(async {
        let sim = hostile_world(12);
        support::apply(&sim, "create-server@kwak 40").await;
        let old = sim.world().server_instance(&ServerName::new("kwak")).unwrap();
        sim.with_world(|w| w.terminate_instance_by_amazon(&old)).unwrap();
        sim.advance(Duration::from_secs(600)).await;
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        let (h, reason) = health(&sim, "kwak").await;
        assert_eq!(h, status::Health::Healthy, "{reason}");
        let new = sim.world().server_instance(&ServerName::new("kwak")).unwrap();
        assert_ne!(new, old);
        let kwak = Filter::Server(ServerName::new("kwak"));
        let mut volumes: Vec<(u32, Option<InstanceId>, Option<String>)> = sim
            .describe_volumes(&Region::new("us-east-1"), &kwak)
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.size_gb, v.attached_to, v.device))
            .collect();
        volumes.sort();
        let on_new = |device: &str| (Some(new.clone()), Some(device.to_string()));
        assert_eq!(
            volumes,
            [(40, on_new("/dev/sdf").0, on_new("/dev/sdf").1), (200, on_new("/dev/sdg").0, on_new("/dev/sdg").1)]
        );
        let log = sim.world().render_log(None);
        for attached in ["as /dev/sdf", "as /dev/sdg"] {
            assert!(log.contains(&format!("to {new} {attached}")), "the agent attached {attached}:\n{log}");
        }
        assert!(log.contains(&format!("agent {new}: mounted /etc, /home, /root, /var/www, /var/lib/mysql")), "{log}");
    });
}

#[test]
fn attach_instance_in_a_full_zone_fails_clearly_and_leaks_nothing() {
    rt().block_on(async {
        let sim = hostile_world(13);
        support::apply(&sim, "create-server@duvel 30").await;
        support::apply(&sim, "stop-auto-scaling@duvel").await;
        // Read without faults (this read has no retries), then the faults are back on.
        let faults = sim.world().faults().clone();
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        let before = support::tagged(&*sim, "duvel").await;
        sim.with_world(|w| w.set_faults(faults).unwrap());
        sim.with_world(|w| w.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("m5.large"), 0)).unwrap();
        let plan = support::plan(&*sim, "attach-instance@duvel").await.unwrap();
        let report =
            executor::apply(sim.clone(), Arc::new(support::Recorder::new(true)), &plan, Policy::default()).await;
        let run = plan.steps.iter().find(|s| matches!(s.action, Action::RunInstance { .. })).unwrap();
        match &report.outcomes[&run.id] {
            Outcome::Failed(e) => {
                let e = e.to_string();
                assert!(e.contains("InsufficientInstanceCapacity"), "{e}");
                assert!(e.contains("m5.large") && e.contains("us-east-1a"), "names the type and the zone: {e}");
            }
            other => panic!("{other:?}"),
        }
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        assert_eq!(support::tagged(&*sim, "duvel").await, before, "nothing leaked, nothing lost");
    });
}

#[test]
fn failed_respawn_is_reported_down_and_recovers_with_capacity() {
    rt().block_on(async {
        let sim = hostile_world(14);
        support::apply(&sim, "create-server@duvel 30").await;
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        sim.with_world(|w| w.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("m5.large"), 0)).unwrap();
        let old = sim.world().server_instance(&ServerName::new("duvel")).unwrap();
        sim.with_world(|w| w.terminate_instance_by_amazon(&old)).unwrap();
        sim.advance(Duration::from_secs(120)).await;
        let (h, reason) = health(&sim, "duvel").await;
        assert_eq!(h, status::Health::Down);
        assert_eq!(reason, "failed to respawn: InsufficientInstanceCapacity in us-east-1a");
        sim.with_world(|w| w.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("m5.large"), 10)).unwrap();
        sim.advance(Duration::from_secs(300)).await;
        let (h, reason) = health(&sim, "duvel").await;
        assert_eq!(h, status::Health::Healthy, "{reason}");
    });
}

/// Creates 50 servers in one apply under AWS's throttling; returns how many calls AWS
/// throttled and how long the apply took in virtual seconds.
fn big_apply(client_rate_limit: bool) -> (usize, u64) {
    rt().block_on(async {
        const SERVERS: usize = 50;
        let (_dir, tree) = support::scenario::config(SERVERS);
        let mut world = cellar_sim::default_world();
        world.reseed(15);
        // An account running 50 servers has had its Elastic IP quota (5) raised.
        world.set_address_limit(SERVERS as u32 + 1).unwrap();
        world
            .set_faults(Faults {
                throttling: true,
                invisible_secs: 10,
                transient_error_rate: 0.02,
                ..Faults::default()
            })
            .unwrap();
        let sim = Arc::new(Sim::new(world));
        let mut plans = Vec::new();
        for i in 0..SERVERS {
            plans.push(support::plan_in(&*sim, &tree, &format!("create-server@s{i:02} 10")).await.unwrap());
        }
        let plan = Plan::merge(plans);
        plan.validate().unwrap();
        // Planning 50 servers at one instant drains the account's describe bucket; a
        // minute passes before the apply (as between plan and apply), and it refills.
        sim.advance(std::time::Duration::from_secs(60)).await;
        let operator = Arc::new(support::Recorder::new(true));
        let policy = Policy { concurrency: 32, seed: 15, client_rate_limit, ..Policy::default() };
        let started = sim.now().await;
        let report = executor::apply(sim.clone(), operator.clone(), &plan, policy).await;
        let took = sim.now().await.0 - started.0;
        assert!(report.succeeded(), "{}", report.summary());
        let throttled = operator
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, executor::Event::Retrying { error, .. } if error.contains("RequestLimitExceeded")))
            .count();
        sim.with_world(|w| w.set_faults(Faults::default()).unwrap());
        let instances = sim.describe_instances(&Region::new("us-east-1"), &Filter::All).await.unwrap();
        for i in 0..SERVERS {
            let name = format!("s{i:02}");
            let live = instances.iter().filter(|x| x.state.is_alive() && x.tags.get(NAME_TAG) == Some(&name)).count();
            assert_eq!(live, 1, "{name} has {live} instances: a retried RunInstances launched twice");
            assert_eq!(health(&sim, &name).await.0, status::Health::Healthy, "{name}");
        }
        (throttled, took)
    })
}

#[test]
fn big_throttled_apply_completes_without_duplicate_instances() {
    // Without client-side buckets AWS throttles the apply; the retries still get it done.
    let (throttled_raw, took_raw) = big_apply(false);
    assert!(throttled_raw > 0, "50 servers at once exceed AWS's buckets");
    // With them (the default) the apply paces itself: far fewer calls are throttled (the
    // instances' agents share the account's buckets, so a few still are).
    let (throttled, took) = big_apply(true);
    eprintln!("without client buckets: {throttled_raw} throttled, {took_raw} s; with: {throttled} throttled, {took} s");
    assert!(throttled * 2 < throttled_raw, "client-side buckets: {throttled} vs {throttled_raw} throttled");
    eprintln!("50 servers in {took} virtual seconds");
}
