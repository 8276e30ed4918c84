//! Fault injection: determinism, each kind of fault, the fault schedule file.
//!
//! Randomized tests print their seed; set `CELLAR_SIM_SEED` to replay one.

use super::*;
use crate::store::{default_world, parse_world, render_world};
use crate::{Sim, World};
use cellar_engine::agent::{user_data, AgentInvocation, DATA_DEVICE, DATA_ROLE};
use cellar_engine::cloud::{
    Cloud, CloudErrorKind, CreateAutoScalingGroupRequest, CreateLaunchTemplateRequest, CreateVolumeRequest, Filter,
    RunInstanceRequest,
};
use cellar_engine::model::*;
use cellar_engine::monitoring::EventCode;
use std::time::Duration;

const T0: u64 = 1_795_564_800;
const EXAMPLE: &str = include_str!("../../../fixtures/worlds/faults-example.ron");

fn seed() -> u64 {
    let seed = std::env::var("CELLAR_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
    println!("seed {seed} (replay with CELLAR_SIM_SEED={seed})");
    seed
}

fn east() -> Region {
    Region::new("us-east-1")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn run_request(server: &str, user_data: String, token: &str) -> RunInstanceRequest {
    RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data,
        tags: tags(&[("Name", server)]),
        client_token: token.to_string(),
        subnet: None,
        settings: agent_settings(),
    }
}

fn spawn_user_data(server: &str) -> String {
    user_data(&AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new(server),
        persist: vec![],
        spawn_hook: Some("systemctl restart nginx\n".into()),
        volumes: vec![],
    })
    .expect("no NUL in the test's user data")
}

/// A world from the default one, reseeded, with `faults` installed.
fn world_with(seed: u64, faults: Faults) -> World {
    let mut world = default_world();
    world.reseed(seed);
    world.set_faults(faults).unwrap();
    world
}

fn sim_with(seed: u64, faults: Faults) -> Sim {
    Sim::new(world_with(seed, faults))
}

/// Server `name` in us-east-1a: data volume, EIP, launch template (agent `spawn`), group of one.
async fn auto_scaling_server(sim: &Sim, name: &str) -> (VolumeId, AllocationId) {
    let r = east();
    let address = sim.allocate_address(&r, tags(&[("Name", name)])).await.unwrap();
    let volume = sim
        .create_volume(
            &r,
            CreateVolumeRequest {
                client_token: None,
                zone: Zone::new("us-east-1a"),
                size_gb: 20,
                tags: tags(&[("Name", name), (ROLE_TAG, DATA_ROLE)]),
                ebs: EbsSettings::default(),
                snapshot: None,
            },
        )
        .await
        .unwrap();
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: spawn_user_data(name),
        settings: agent_settings(),
    };
    let lt = sim
        .create_launch_template(
            &r,
            CreateLaunchTemplateRequest { name: name.into(), spec, tags: tags(&[("Name", name)]), client_token: None },
        )
        .await
        .unwrap();
    sim.create_auto_scaling_group(&r, group_request(name, LaunchSource::Template { id: lt.id, version: None }))
        .await
        .unwrap();
    (volume.id, address.allocation_id)
}

fn group_request(name: &str, launch: LaunchSource) -> CreateAutoScalingGroupRequest {
    CreateAutoScalingGroupRequest {
        name: AutoScalingGroupName::new(name),
        launch,
        zones: vec![Zone::new("us-east-1a")],
        min: 1,
        max: 1,
        desired: 1,
        tags: tags(&[("Name", name)]),
        subnets: vec![],
    }
}

/// One running instance in group `name`, the data volume attached, the EIP associated.
fn check_healthy(world: &World, name: &str, volume: &VolumeId, address: &AllocationId) -> InstanceId {
    let live: Vec<_> = world.instances().values().filter(|i| i.is_live()).collect();
    assert_eq!(live.len(), 1, "one live instance:\n{}", world.render_summary());
    let instance = live[0];
    assert_eq!(instance.state, InstanceState::Running, "{}", world.render_summary());
    assert_eq!(world.groups()[&AutoScalingGroupName::new(name)].instances, vec![instance.id.clone()]);
    let v = &world.volumes()[volume];
    assert_eq!((v.attached_to.as_ref(), v.device.as_deref()), (Some(&instance.id), Some(DATA_DEVICE)));
    assert_eq!(world.addresses()[address].associated_to.as_ref(), Some(&instance.id), "{}", world.render_log(None));
    instance.id.clone()
}

fn count_logged(world: &World, needle: &str) -> usize {
    world.log().iter().filter(|e| e.message.contains(needle)).count()
}

/// Every fault at once (the schedule relative to the default world's clock).
fn every_fault() -> Faults {
    Faults {
        throttling: true,
        transient_error_rate: 0.2,
        terminations_per_hour: 4.0,
        terminate_at_call: Some(TerminateAtCall { calls: 5, server: None }),
        invisible_secs: 4,
        latency_ms: (10, 900),
        boot_secs: Some(40),
        agent_delay_secs: Some(15),
        capacity: vec![
            CapacityChange {
                at: Timestamp(T0 + 600),
                zone: Zone::new("us-east-1a"),
                instance_type: InstanceType::new("t3.small"),
                count: 0,
            },
            CapacityChange {
                at: Timestamp(T0 + 1200),
                zone: Zone::new("us-east-1a"),
                instance_type: InstanceType::new("t3.small"),
                count: 50,
            },
        ],
        terminations: vec![ScheduledTermination { at: Timestamp(T0 + 3000), target: "x".into() }],
        lost_responses: Some(LostResponses { rate: 0.1, at_call: Some(2), apis: vec![] }),
        impairments: vec![Impairment {
            at: Timestamp(T0 + 5),
            target: "x".into(),
            check: StatusCheck::System,
            secs: Some(30),
        }],
        unreachable: vec![Unreachable { at: Timestamp(T0 + 2), server: ServerName::new("x"), secs: 60 }],
        scheduled_events: vec![EventAnnouncement {
            at: Timestamp(T0 + 1),
            target: "x".into(),
            code: EventCode::InstanceReboot,
            not_before: Timestamp(T0 + 10),
            not_after: None,
        }],
        outages: vec![Outage { at: Timestamp(T0 + 8), secs: 2 }],
    }
}

/// A scripted session: every call's outcome goes into the transcript (errors included).
async fn script(sim: &Sim, round: u32) -> Vec<String> {
    let r = east();
    let mut out = Vec::new();
    let mut note = |what: String| out.push(what);
    for k in 0..8 {
        let token = format!("run-{round}-{k}");
        let user_data = if k % 2 == 0 { spawn_user_data("x") } else { String::new() };
        note(format!("{:?}", sim.run_instance(&r, run_request("x", user_data, &token)).await.map(|i| i.id)));
        note(format!("{:?}", sim.describe_instances(&r, &Filter::All).await.map(|v| v.len())));
    }
    note(format!(
        "{:?}",
        sim.create_volume(
            &r,
            CreateVolumeRequest {
                client_token: None,
                zone: Zone::new("us-east-1a"),
                size_gb: 20,
                tags: tags(&[("Name", "x"), (ROLE_TAG, DATA_ROLE)]),
                ebs: EbsSettings::default(),
                snapshot: None,
            }
        )
        .await
        .map(|v| v.id)
    ));
    note(format!("{:?}", sim.allocate_address(&r, tags(&[("Name", "x")])).await.map(|a| a.allocation_id)));
    note(format!("{:?}", sim.resolve_dns("duvel.imarc.net").await));
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: spawn_user_data("x"),
        settings: agent_settings(),
    };
    let name = format!("x{round}");
    let lt = sim
        .create_launch_template(
            &r,
            CreateLaunchTemplateRequest { name: name.clone(), spec, tags: Tags::new(), client_token: None },
        )
        .await;
    note(format!("{:?}", lt.as_ref().map(|t| t.id.clone())));
    if let Ok(lt) = lt {
        let request = group_request(&name, LaunchSource::Template { id: lt.id, version: None });
        note(format!("{:?}", sim.create_auto_scaling_group(&r, request).await));
    }
    for _ in 0..6 {
        sim.advance(Duration::from_secs(600)).await;
        note(format!("{:?}", sim.describe_instances(&r, &Filter::Server(ServerName::new("x"))).await.map(|v| v.len())));
        note(format!("{:?}", sim.describe_auto_scaling_groups(&r, &Filter::All).await.map(|v| v.len())));
    }
    out
}

#[tokio::test]
async fn same_seed_same_world_and_log_with_every_fault_on() {
    let seed = seed();
    let run = |seed: u64| async move {
        let sim = sim_with(seed, every_fault());
        let transcript = script(&sim, 0).await;
        (sim.into_world(), transcript)
    };
    let (a, ta) = run(seed).await;
    let (b, tb) = run(seed).await;
    assert_eq!(ta, tb);
    assert_eq!(render_world(&a), render_world(&b));
    assert_eq!(a.render_log(None), b.render_log(None));
    assert_eq!(a.render_summary(), b.render_summary());
    // The faults did happen.
    let log = a.render_log(None);
    for needle in ["(injected fault)", "terminate_at_call", "(fault schedule)", "pending -> running"] {
        assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
    }
    assert!(a.api_calls() > 30);
    assert!(a.log().iter().any(|e| e.millis != 0), "latency moves the clock by milliseconds");

    let (c, tc) = run(seed.wrapping_add(1)).await;
    assert_ne!(c.render_log(None), a.render_log(None), "another seed, another trace");
    assert_ne!(tc, ta);
}

#[tokio::test]
async fn a_saved_world_replays_exactly() {
    let seed = seed();
    let sim = sim_with(seed, every_fault());
    script(&sim, 0).await;
    let saved = render_world(&sim.world());
    let reloaded = parse_world(&saved).unwrap();
    assert_eq!(reloaded, *sim.world(), "the state file keeps the rng, faults, buckets and clock");
    let replay = Sim::new(reloaded);
    let (ta, tb) = (script(&sim, 1).await, script(&replay, 1).await);
    assert_eq!(ta, tb);
    assert_eq!(render_world(&sim.into_world()), render_world(&replay.into_world()));
}

#[tokio::test]
async fn throttling_uses_the_aws_token_buckets() {
    let sim = sim_with(seed(), Faults { throttling: true, ..Faults::default() });
    let r = east();
    for k in 0..5 {
        sim.run_instance(&r, run_request("x", String::new(), &format!("t{k}"))).await.unwrap();
    }
    let e = sim.run_instance(&r, run_request("x", String::new(), "t5")).await.unwrap_err();
    assert_eq!((&e.kind, e.message.as_str()), (&CloudErrorKind::RequestLimitExceeded, "Request limit exceeded."));
    assert!(e.retryable());
    assert_eq!(sim.world().instances().len(), 5, "a throttled call changes nothing");
    // Other buckets and other regions are separate.
    sim.describe_instances(&r, &Filter::Server(ServerName::new("x"))).await.unwrap();
    sim.allocate_address(&r, Tags::new()).await.unwrap();
    let west = RunInstanceRequest {
        zone: Zone::new("us-west-2a"),
        image: ImageId::new("ami-0003"),
        ..run_request("x", String::new(), "w0")
    };
    sim.run_instance(&Region::new("us-west-2"), west).await.unwrap();
    // RunInstances refills 2 per second: a token is back after 500 ms.
    sim.with_world(|w| w.advance_by_ms(499));
    let e = sim.run_instance(&r, run_request("x", String::new(), "t5")).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::RequestLimitExceeded);
    sim.with_world(|w| w.advance_by_ms(1));
    sim.run_instance(&r, run_request("x", String::new(), "t5")).await.unwrap();
    assert!(sim.run_instance(&r, run_request("x", String::new(), "t6")).await.is_err());
    assert_eq!(count_logged(&sim.world(), "RequestLimitExceeded (throttled, RunInstances bucket)"), 3);
}

#[tokio::test]
async fn throttling_bucket_capacities() {
    // (call, how many succeed back to back before the first RequestLimitExceeded)
    type Call = for<'a> fn(&'a Sim, u32) -> futures_like::Boxed<'a>;
    let cases: [(&str, Call, u32); 4] = [
        (
            "unfiltered DescribeInstances",
            |s, _| Box::pin(async move { s.describe_instances(&east(), &Filter::All).await.map(drop) }),
            50,
        ),
        (
            "filtered DescribeVolumes",
            |s, _| {
                Box::pin(
                    async move { s.describe_volumes(&east(), &Filter::Server(ServerName::new("x"))).await.map(drop) },
                )
            },
            100,
        ),
        (
            "AllocateAddress (mutating)",
            |s, _| Box::pin(async move { s.allocate_address(&east(), Tags::new()).await.map(drop) }),
            50,
        ),
        (
            "CreateVolume",
            |s, _| {
                Box::pin(async move {
                    s.create_volume(
                        &east(),
                        CreateVolumeRequest {
                            client_token: None,
                            zone: Zone::new("us-east-1b"),
                            size_gb: 8,
                            tags: Tags::new(),
                            ebs: EbsSettings::default(),
                            snapshot: None,
                        },
                    )
                    .await
                    .map(drop)
                })
            },
            100,
        ),
    ];
    for (what, call, capacity) in cases {
        let sim = sim_with(1, Faults { throttling: true, ..Faults::default() });
        sim.with_world(|w| w.set_address_limit(1000)).unwrap(); // throttling, not the quota
        for k in 0..capacity {
            call(&sim, k).await.unwrap_or_else(|e| panic!("{what}: call {k} failed: {e}"));
        }
        let e = call(&sim, capacity).await.unwrap_err();
        assert_eq!(e.kind, CloudErrorKind::RequestLimitExceeded, "{what}");
    }
}

/// Boxed futures for the table above (no extra dependency).
mod futures_like {
    use cellar_engine::cloud::CloudResult;
    use std::future::Future;
    use std::pin::Pin;
    pub type Boxed<'a> = Pin<Box<dyn Future<Output = CloudResult<()>> + Send + 'a>>;
}

/// A spread of calls, read-only and mutating; each returns whether it succeeded.
async fn assorted_calls(sim: &Sim) -> Vec<Result<(), CloudErrorKind>> {
    let r = east();
    let mut results = Vec::new();
    for k in 0..10 {
        results.push(sim.describe_regions(&[]).await.map(drop).map_err(|e| e.kind));
        results.push(sim.describe_instances(&r, &Filter::All).await.map(drop).map_err(|e| e.kind));
        results.push(sim.resolve_dns("duvel.imarc.net").await.map(drop).map_err(|e| e.kind));
        let request = run_request("x", String::new(), &format!("tr{k}"));
        results.push(sim.run_instance(&r, request).await.map(drop).map_err(|e| e.kind));
        results.push(sim.allocate_address(&r, Tags::new()).await.map(drop).map_err(|e| e.kind));
    }
    results
}

#[tokio::test]
async fn transient_errors_at_rate_one_and_zero() {
    let seed = seed();
    for (rate, expect_all_fail) in [(1.0, true), (0.0, false)] {
        let sim = sim_with(seed, Faults { transient_error_rate: rate, ..Faults::default() });
        sim.with_world(|w| w.set_address_limit(1000)).unwrap(); // transient errors, not the quota
        let before = sim.world().instances().len();
        let results = assorted_calls(&sim).await;
        if expect_all_fail {
            assert!(results
                .iter()
                .all(|r| matches!(r, Err(CloudErrorKind::InternalError | CloudErrorKind::Unavailable))));
            assert!(results.contains(&Err(CloudErrorKind::InternalError)), "both kinds occur");
            assert!(results.contains(&Err(CloudErrorKind::Unavailable)), "both kinds occur");
            assert_eq!(sim.world().instances().len(), before, "a failed call does nothing");
            assert_eq!(count_logged(&sim.world(), "(injected fault)"), results.len());
        } else {
            assert!(results.iter().all(Result::is_ok), "{results:?}");
            assert_eq!(count_logged(&sim.world(), "(injected fault)"), 0);
        }
        assert_eq!(sim.world().api_calls(), results.len() as u64);
    }
}

#[tokio::test]
async fn terminate_at_call_fires_once_after_k_mutating_calls() {
    for k in [1u64, 3] {
        let sim = sim_with(seed(), Faults::default());
        sim.with_world(|w| w.set_address_limit(1000)).unwrap(); // mutating calls, not the quota
        let r = east();
        let victim = sim.run_instance(&r, run_request("x", String::new(), "v")).await.unwrap().id;
        let bystander = sim.run_instance(&r, run_request("y", String::new(), "b")).await.unwrap().id;
        sim.advance(Duration::from_secs(60)).await;
        let faults = Faults {
            terminate_at_call: Some(TerminateAtCall { calls: k, server: Some(ServerName::new("x")) }),
            ..Faults::default()
        };
        sim.with_world(|w| w.set_faults(faults)).unwrap();
        let state = |sim: &Sim, id: &InstanceId| sim.world().instances()[id].state;
        for call in 1..=k + 3 {
            // Reads do not count.
            sim.describe_instances(&r, &Filter::All).await.unwrap();
            sim.describe_addresses(&r, &Filter::All).await.unwrap();
            sim.allocate_address(&r, Tags::new()).await.unwrap();
            let expected = if call < k { InstanceState::Running } else { InstanceState::ShuttingDown };
            assert_eq!(state(&sim, &victim), expected, "k = {k}, after mutating call {call}");
        }
        let w = sim.world();
        assert_eq!(w.instances()[&bystander].state, InstanceState::Running, "only x's instance");
        assert_eq!(count_logged(&w, "terminated by Amazon (terminate_at_call fault)"), 1, "once");
        assert_eq!(w.faults().terminate_at_call, None, "the fault clears");
    }
    // calls: 0 fires when installed; no live instance of the server is logged.
    let mut w = world_with(1, Faults::default());
    let faults = Faults {
        terminate_at_call: Some(TerminateAtCall { calls: 0, server: Some(ServerName::new("nobody")) }),
        ..Faults::default()
    };
    w.set_faults(faults).unwrap();
    assert_eq!(count_logged(&w, "terminate_at_call fault: no live instance of server nobody"), 1);
    assert_eq!(w.faults().terminate_at_call, None);
}

#[tokio::test]
async fn random_terminations_kill_instances_and_the_group_replaces_them() {
    let seed = seed();
    let sim = sim_with(seed, Faults::default());
    let (volume, address) = auto_scaling_server(&sim, "x").await;
    sim.advance(Duration::from_secs(120)).await;
    check_healthy(&sim.world(), "x", &volume, &address);
    sim.with_world(|w| w.set_faults(Faults { terminations_per_hour: 6.0, ..Faults::default() })).unwrap();
    sim.advance(Duration::from_secs(5 * 3600)).await;
    {
        let w = sim.world();
        let killed = count_logged(&w, "terminated by Amazon (random fault)");
        let launched = count_logged(&w, "by group x");
        assert!(killed >= 10, "about 30 expected in 5 hours, got {killed}:\n{}", w.render_log(None));
        assert!(launched >= killed, "{launched} launches for {killed} terminations");
        let failed = count_logged(&w, ": failed:");
        assert!(failed < killed, "most replacements' agents finish ({failed} failed):\n{}", w.render_log(None));
    }
    // The faults stop: the server converges.
    sim.with_world(|w| w.set_faults(Faults::default())).unwrap();
    sim.advance(Duration::from_secs(600)).await;
    let w = sim.world();
    check_healthy(&w, "x", &volume, &address);
    assert!(!w.scheduler().events().iter().any(|s| s.transition == crate::world::Transition::RandomTermination));
}

#[tokio::test]
async fn new_instances_are_invisible_for_a_while() {
    // What the instance is used with is made before the fault is on (every new resource
    // is invisible under it: `new_resources_of_every_kind_are_invisible_for_a_while`).
    let sim = sim_with(seed(), Faults { boot_secs: Some(5), ..Faults::default() });
    let r = east();
    let volume = sim
        .create_volume(
            &r,
            CreateVolumeRequest {
                client_token: None,
                zone: Zone::new("us-east-1a"),
                size_gb: 8,
                tags: Tags::new(),
                ebs: EbsSettings::default(),
                snapshot: None,
            },
        )
        .await
        .unwrap()
        .id;
    let address = sim.allocate_address(&r, Tags::new()).await.unwrap().allocation_id;
    let not_found = |e: cellar_engine::cloud::CloudError| e.kind == CloudErrorKind::InvalidInstanceIdNotFound;
    let group = AutoScalingGroupName::new("g");
    let lt = sim
        .create_launch_template(
            &r,
            CreateLaunchTemplateRequest {
                name: "g".into(),
                spec: LaunchSpec {
                    instance_type: InstanceType::new("t3.small"),
                    image: ImageId::new("ami-0002"),
                    user_data: String::new(),
                    settings: agent_settings(),
                },
                tags: Tags::new(),
                client_token: None,
            },
        )
        .await
        .unwrap();
    let mut request = group_request("g", LaunchSource::Template { id: lt.id, version: None });
    (request.min, request.desired) = (0, 0);
    sim.create_auto_scaling_group(&r, request).await.unwrap();
    sim.with_world(|w| w.set_faults(Faults { invisible_secs: 10, boot_secs: Some(5), ..Faults::default() })).unwrap();
    let id = sim.run_instance(&r, run_request("x", String::new(), "inv")).await.unwrap().id;
    // RunInstances returned it; a retry with the same token does too.
    assert_eq!(sim.run_instance(&r, run_request("x", String::new(), "inv")).await.unwrap().id, id);
    for wait_ms in [0, 6_000, 3_999] {
        sim.with_world(|w| w.advance_by_ms(wait_ms));
        let all = sim.describe_instances(&r, &Filter::All).await.unwrap();
        assert!(all.iter().all(|i| i.id != id), "visible after {wait_ms} ms");
        assert!(sim.describe_instances(&r, &Filter::Server(ServerName::new("x"))).await.unwrap().is_empty());
        assert!(not_found(sim.attach_volume(&r, &volume, &id, DATA_DEVICE).await.unwrap_err()));
        assert!(not_found(sim.associate_address(&r, &address, &id).await.unwrap_err()));
        assert!(not_found(sim.attach_instance_to_group(&r, &group, &id).await.unwrap_err()));
        assert!(not_found(sim.terminate_instance(&r, &id).await.unwrap_err()));
    }
    // 10 s after RunInstances: visible, and (booted after 5 s) usable.
    sim.with_world(|w| w.advance_by_ms(1));
    let all = sim.describe_instances(&r, &Filter::All).await.unwrap();
    assert_eq!(all.iter().find(|i| i.id == id).map(|i| i.state), Some(InstanceState::Running));
    sim.attach_volume(&r, &volume, &id, DATA_DEVICE).await.unwrap();
    sim.associate_address(&r, &address, &id).await.unwrap();
    sim.attach_instance_to_group(&r, &group, &id).await.unwrap();

    // The group's own launches are invisible too.
    sim.terminate_instance(&r, &id).await.unwrap();
    sim.advance(Duration::from_secs(1)).await;
    let replacement = {
        let w = sim.world();
        let members = &w.groups()[&group].instances;
        assert_eq!(members.len(), 1, "{}", w.render_summary());
        assert!(w.render_summary().contains("invisible until"));
        members[0].clone()
    };
    let seen = || async { sim.describe_instances(&r, &Filter::All).await.unwrap().iter().any(|i| i.id == replacement) };
    assert!(!seen().await);
    sim.advance(Duration::from_secs(10)).await;
    assert!(seen().await);
}

#[tokio::test]
async fn latency_is_a_sleep_of_its_caller_on_the_shared_clock() {
    let sim = sim_with(seed(), Faults { latency_ms: (100, 300), ..Faults::default() });
    let r = east();
    let mut last = sim.world().now_ms();
    for _ in 0..40 {
        sim.describe_images(&r).await.unwrap();
        let now = sim.world().now_ms();
        assert!((100..=300).contains(&(now - last)), "one call took {} ms", now - last);
        last = now;
    }
    // Calls made at once overlap, as AWS's do: three calls of one second each take one second.
    let sim = sim_with(7, Faults { latency_ms: (1000, 1000), ..Faults::default() });
    let start = sim.world().now_ms();
    let (a, b, c) = tokio::join!(sim.describe_images(&r), sim.describe_vpcs(&r), sim.describe_subnets(&r));
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(sim.world().now_ms(), start + 1000);
    assert_eq!(sim.world().api_calls(), 3);
    // A call and a sleep made at once: the call returns after its latency, the sleep at its end.
    let sim = sim_with(7, Faults { latency_ms: (250, 250), ..Faults::default() });
    let (call, slept) = tokio::join!(
        async {
            let id = sim.run_instance(&r, run_request("x", String::new(), "t")).await.unwrap().id;
            (id, sim.world().now_ms())
        },
        async {
            sim.sleep(Duration::from_secs(2)).await;
            sim.world().now_ms()
        }
    );
    assert_eq!((call.1, slept), (T0 * 1000 + 250, (T0 + 2) * 1000));
    // The call took effect at the end of its latency: the instance was launched then.
    {
        let w = sim.world();
        let launched = w.log().iter().find(|e| e.message.contains(call.0.as_str())).expect("the launch is logged");
        assert_eq!((launched.at, launched.millis), (Timestamp(T0), 250), "{}", launched.message);
    }
    // Agents that fall due while a call's latency passes run then, at the time they start
    // (their own calls pass no latency: the agent runs whole while nothing else runs, and
    // on AWS its calls overlap everyone else's).
    let mut w = world_with(7, Faults { latency_ms: (1000, 1000), agent_delay_secs: Some(0), ..Faults::default() });
    w.advance_by_ms(250);
    let sim = Sim::new(w);
    let id = sim.run_instance(&r, run_request("x", spawn_user_data("x"), "")).await.unwrap().id;
    for _ in 0..31 {
        sim.describe_images(&r).await.unwrap();
    }
    {
        let w = sim.world();
        assert_eq!(w.instances()[&id].state, InstanceState::Running);
        assert!(w.agents_due().is_empty(), "the agent ran during a call's latency");
        let failure = format!("agent {id}: failed: server x has no data volume");
        let failed = w.log().iter().find(|e| e.message.starts_with(&failure)).expect("the agent's failure is logged");
        let started = w.log().iter().find(|e| e.message.starts_with(&format!("agent {id}: spawn"))).unwrap();
        assert_eq!(
            (failed.at, failed.millis),
            (started.at, started.millis),
            "its two calls of a second each passed no time on the shared clock"
        );
        let log = w.render_log(Some(3));
        assert_eq!(log.lines().count(), 3);
        assert!(log.lines().last().is_some_and(|l| l.contains("no data volume")), "{log}");
    }
    // Without agents, an advance ends on a whole second.
    let sim = sim_with(8, Faults { latency_ms: (1, 999), ..Faults::default() });
    sim.describe_images(&r).await.unwrap();
    let before = sim.world().now_ms();
    assert_ne!(before % 1000, 0);
    sim.advance(Duration::from_millis(100)).await;
    assert_eq!(sim.world().now_ms(), (before + 100).div_ceil(1000) * 1000);
}

#[tokio::test]
async fn capacity_schedule_fails_the_group_then_restores_it() {
    let sim = sim_with(seed(), Faults::default());
    let (volume, address) = auto_scaling_server(&sim, "x").await;
    sim.advance(Duration::from_secs(300)).await;
    let first = check_healthy(&sim.world(), "x", &volume, &address);
    let t = T0 + 360;
    let change = |at: u64, count: u32| CapacityChange {
        at: Timestamp(at),
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        count,
    };
    let faults = Faults {
        capacity: vec![change(t, 0), change(t + 600, 10)],
        terminations: vec![ScheduledTermination { at: Timestamp(t + 30), target: "x".into() }],
        ..Faults::default()
    };
    sim.with_world(|w| w.set_faults(faults)).unwrap();
    sim.advance(Duration::from_secs(120)).await;
    {
        let w = sim.world();
        assert_eq!(w.instances()[&first].state, InstanceState::Terminated);
        assert_eq!(count_logged(&w, "terminated by Amazon (scheduled fault)"), 1);
        let activity = w.groups()[&AutoScalingGroupName::new("x")].activities.last().unwrap().clone();
        assert!(!activity.succeeded);
        assert!(activity.description.contains("InsufficientInstanceCapacity"), "{}", activity.description);
        assert!(activity.description.ends_with("in us-east-1a."), "{}", activity.description);
        assert!(w.render_log(None).contains("Status Reason: InsufficientInstanceCapacity"));
        assert!(w.instances().values().all(|i| !i.is_live()));
    }
    sim.advance(Duration::from_secs(900)).await;
    let w = sim.world();
    let second = check_healthy(&w, "x", &volume, &address);
    let launched_at = w.instances()[&second].launched_at.0;
    assert!((t + 600..=t + 660).contains(&launched_at), "replaced at +{}", launched_at - t);
    assert!(w.faults().capacity.is_empty() && w.faults().terminations.is_empty(), "the schedule is consumed");
    assert_eq!(w.available_capacity(&Zone::new("us-east-1a"), &InstanceType::new("t3.small")), 9);
}

#[test]
fn scheduled_termination_targets() {
    // (target, what the log says)
    for (target, expected) in [
        ("x", "i-0001: running -> shutting-down (terminated by Amazon (scheduled fault))"),
        ("i-0001", "i-0001: running -> shutting-down (terminated by Amazon (scheduled fault))"),
        ("i-00ff", "scheduled termination fault: no live instance for i-00ff"),
        ("nobody", "scheduled termination fault: no live instance for nobody"),
    ] {
        let mut w = world_with(3, Faults::default());
        w.run_instance(&east(), run_request("x", String::new(), "")).unwrap();
        let at = Timestamp(T0 + 100);
        w.set_faults(Faults {
            terminations: vec![ScheduledTermination { at, target: target.into() }],
            ..Faults::default()
        })
        .unwrap();
        w.advance_clock_to(Timestamp(T0 + 99));
        assert_eq!(count_logged(&w, expected), 0, "{target}: too early");
        w.advance_clock_to(at);
        assert_eq!(count_logged(&w, expected), 1, "{target}:\n{}", w.render_log(None));
    }
}

#[test]
fn the_example_fault_schedule_parses_and_installs() {
    let faults = parse_faults(EXAMPLE).unwrap();
    assert!(faults.throttling);
    assert_eq!(faults.transient_error_rate, 0.02);
    assert_eq!(faults.terminations_per_hour, 0.5);
    assert_eq!(faults.terminate_at_call, Some(TerminateAtCall { calls: 4, server: Some(ServerName::new("ommegang")) }));
    assert_eq!((faults.invisible_secs, faults.latency_ms, faults.boot_secs), (5, (20, 150), Some(45)));
    assert_eq!(faults.capacity.len(), 2);
    assert_eq!(faults.capacity[0].zone, Zone::new("us-east-1a"));
    assert_eq!(faults.terminations[1].target, "i-0001");
    assert_eq!(faults.impairments[0].check, StatusCheck::System);
    assert_eq!(faults.unreachable[0].server, ServerName::new("duvel"));
    assert_eq!(faults.scheduled_events[0].code, EventCode::InstanceRetirement);
    assert_eq!(faults.outages[0], Outage { at: Timestamp(1_795_582_800), secs: 120 });
    assert_eq!(parse_faults(&render_faults(&faults)).unwrap(), faults);
    let mut w = default_world();
    w.set_faults(faults.clone()).unwrap();
    assert!(w.render_summary().contains("throttling: AWS token buckets enforced"));
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
    // Partial schedules: a missing field is no such fault.
    assert_eq!(parse_faults("()").unwrap(), Faults::default());
    let partial = parse_faults("(throttling: true, latency_ms: (1, 2))").unwrap();
    assert_eq!(partial, Faults { throttling: true, latency_ms: (1, 2), ..Faults::default() });
    assert!(parse_faults("(throttle: true)").is_err(), "unknown fields are reported");
}

/// The example's header tells how to install it and describes every field of [`Faults`].
#[test]
fn the_example_fault_schedule_documents_every_field() {
    let header: String = EXAMPLE.lines().take_while(|l| l.starts_with("//")).collect::<Vec<_>>().join("\n");
    assert!(header.contains("cellar sim faults fixtures/worlds/faults-example.ron"), "{header}");
    assert!(!header.contains("World::set_faults") && !header.contains("parse_faults"), "no Rust in the header");
    let fields: Vec<String> = render_faults(&Faults::default())
        .lines()
        .filter_map(|l| l.strip_prefix("    ")?.split_once(':').map(|(f, _)| f.to_string()))
        .filter(|f| !f.starts_with(' '))
        .collect();
    assert_eq!(fields.len(), 15, "{fields:?}");
    for field in fields {
        assert!(header.contains(&format!("//   {field} ")), "the header does not describe {field}:\n{header}");
    }
}

#[test]
fn bad_faults_are_refused_naming_the_field() {
    let zone = |z: &str| CapacityChange {
        at: Timestamp(T0),
        zone: Zone::new(z),
        instance_type: InstanceType::new("t3.small"),
        count: 1,
    };
    let cases: Vec<(Faults, &str)> = vec![
        (Faults { transient_error_rate: 1.5, ..Faults::default() }, "transient_error_rate"),
        (Faults { transient_error_rate: -0.1, ..Faults::default() }, "transient_error_rate"),
        (Faults { transient_error_rate: f64::NAN, ..Faults::default() }, "transient_error_rate"),
        (Faults { terminations_per_hour: -1.0, ..Faults::default() }, "terminations_per_hour"),
        (Faults { terminations_per_hour: f64::INFINITY, ..Faults::default() }, "terminations_per_hour"),
        (Faults { latency_ms: (5, 2), ..Faults::default() }, "latency_ms"),
        (Faults { boot_secs: Some(0), ..Faults::default() }, "boot_secs"),
        (Faults { capacity: vec![zone("us-east-1a"), zone("eu-west-9z")], ..Faults::default() }, "capacity[1].zone"),
        (Faults { terminations_per_hour: 3600.5, ..Faults::default() }, "terminations_per_hour"),
        (Faults { invisible_secs: u64::MAX, ..Faults::default() }, "invisible_secs is 18446744073709551615, above"),
        (Faults { invisible_secs: MAX_INVISIBLE_SECS + 1, ..Faults::default() }, "invisible_secs is 86401, above"),
        (Faults { latency_ms: (0, u64::MAX), ..Faults::default() }, "latency_ms is 18446744073709551615, above"),
        (Faults { latency_ms: (u64::MAX, u64::MAX), ..Faults::default() }, "latency_ms is"),
        (Faults { latency_ms: (0, MAX_LATENCY_MS + 1), ..Faults::default() }, "latency_ms is 60001, above"),
        (Faults { boot_secs: Some(u64::MAX), ..Faults::default() }, "boot_secs is 18446744073709551615, above"),
        (Faults { boot_secs: Some(MAX_BOOT_SECS + 1), ..Faults::default() }, "boot_secs is 86401, above"),
        (
            Faults { agent_delay_secs: Some(u64::MAX), ..Faults::default() },
            "agent_delay_secs is 18446744073709551615, above",
        ),
        (at_call(u64::MAX, None), "terminate_at_call.calls is 18446744073709551615, above"),
        (at_call(MAX_CALLS + 1, None), "terminate_at_call.calls is 1000001, above"),
        (at_call(1, Some("../etc")), "terminate_at_call.server: invalid server name \"../etc\""),
        (at_call(1, Some("Duvel")), "terminate_at_call.server: invalid server name \"Duvel\""),
        (terminate(T0, "../etc"), "terminations[0].target: invalid server name \"../etc\""),
        (terminate(T0, "duvel/../x"), "terminations[0].target: invalid server name"),
        (terminate(T0, "i-../etc"), "terminations[0].target: \"i-../etc\" is not an instance id"),
        (terminate(T0, "i-"), "terminations[0].target: \"i-\" is not an instance id"),
        (terminate(T0, " "), "terminations[0].target: it is empty"),
        (terminate(u64::MAX, "duvel"), "terminations[0].at is 18446744073709551615, after 9999-12-31T23:59:59Z"),
        (
            Faults {
                capacity: vec![CapacityChange { at: Timestamp(u64::MAX), ..zone("us-east-1a") }],
                ..Faults::default()
            },
            "capacity[0].at",
        ),
        (
            Faults {
                capacity: vec![CapacityChange { instance_type: InstanceType::new("t3.mediun"), ..zone("us-east-1a") }],
                ..Faults::default()
            },
            "capacity[0].instance_type: t3.mediun is not an instance type cellar knows (did you mean t3.medium?)",
        ),
        (impair(T0, "duvel", Some(0)), "impairments[0].secs must be at least 1"),
        (impair(T0, "duvel", Some(MAX_FAULT_SECS + 1)), "impairments[0].secs is 2592001, above the limit"),
        (impair(T0, "Duvel", None), "impairments[0].target: invalid server name"),
        (impair(T0, "i-zz", None), "impairments[0].target: \"i-zz\" is not an instance id"),
        (impair(u64::MAX, "duvel", None), "impairments[0].at is 18446744073709551615, after"),
        (unreachable(T0, "../etc", 60), "unreachable[0].server: invalid server name"),
        (unreachable(T0, "duvel", 0), "unreachable[0].secs must be at least 1"),
        (unreachable(T0, "duvel", u64::MAX), "unreachable[0].secs is 18446744073709551615, above"),
        (unreachable(u64::MAX, "duvel", 1), "unreachable[0].at"),
        (announce(T0, "duvel", T0 - 1, None), "scheduled_events[0].not_before (1795564799) is before its announcement"),
        (
            announce(T0, "duvel", T0 + MAX_EVENT_NOTICE_SECS + 1, None),
            "scheduled_events[0].not_before - at is 31536001, above the limit of 31536000 s (365 days)",
        ),
        (announce(T0, "duvel", u64::MAX, None), "scheduled_events[0].not_before is 18446744073709551615, after"),
        (announce(T0, "duvel", T0 + 10, Some(T0 + 9)), "scheduled_events[0].not_after (1795564809) is before"),
        (announce(T0, "duvel", T0, Some(u64::MAX)), "scheduled_events[0].not_after is 18446744073709551615, after"),
        (announce(T0, "Duvel", T0, None), "scheduled_events[0].target: invalid server name"),
        (outage(T0, 0), "outages[0].secs must be at least 1"),
        (outage(T0, MAX_FAULT_SECS + 1), "outages[0].secs is 2592001, above"),
        (outage(u64::MAX, 1), "outages[0].at"),
    ];
    for (faults, field) in cases {
        let mut w = default_world();
        let before = w.clone();
        let e = w.set_faults(faults).unwrap_err();
        assert!(e.starts_with(field), "expected {field:?}, got {e}");
        assert_eq!(w, before, "a refused schedule changes nothing");
    }
}

fn at_call(calls: u64, server: Option<&str>) -> Faults {
    Faults {
        terminate_at_call: Some(TerminateAtCall { calls, server: server.map(ServerName::new) }),
        ..Faults::default()
    }
}

fn impair(at: u64, target: &str, secs: Option<u64>) -> Faults {
    let impairment = Impairment { at: Timestamp(at), target: target.into(), check: StatusCheck::Instance, secs };
    Faults { impairments: vec![impairment], ..Faults::default() }
}

fn unreachable(at: u64, server: &str, secs: u64) -> Faults {
    Faults {
        unreachable: vec![Unreachable { at: Timestamp(at), server: ServerName::new(server), secs }],
        ..Faults::default()
    }
}

fn announce(at: u64, target: &str, not_before: u64, not_after: Option<u64>) -> Faults {
    let event = EventAnnouncement {
        at: Timestamp(at),
        target: target.into(),
        code: EventCode::InstanceStop,
        not_before: Timestamp(not_before),
        not_after: not_after.map(Timestamp),
    };
    Faults { scheduled_events: vec![event], ..Faults::default() }
}

fn outage(at: u64, secs: u64) -> Faults {
    Faults { outages: vec![Outage { at: Timestamp(at), secs }], ..Faults::default() }
}

fn terminate(at: u64, target: &str) -> Faults {
    Faults {
        terminations: vec![ScheduledTermination { at: Timestamp(at), target: target.into() }],
        ..Faults::default()
    }
}

/// Every bound reached at once: installed, and a launch, calls and a long advance do not
/// overflow anywhere.
#[tokio::test]
async fn faults_at_their_bounds_are_accepted_and_run() {
    let faults = Faults {
        transient_error_rate: 0.0,
        terminations_per_hour: MAX_TERMINATIONS_PER_HOUR,
        invisible_secs: MAX_INVISIBLE_SECS,
        latency_ms: (MAX_LATENCY_MS, MAX_LATENCY_MS),
        boot_secs: Some(MAX_BOOT_SECS),
        ..at_call(MAX_CALLS, Some("x"))
    };
    for target in ["x", "i-0001", "i-00ff"] {
        default_world().set_faults(terminate(T0 + 10, target)).unwrap();
    }
    let sim = sim_with(seed(), faults.clone());
    sim.run_instance(&east(), run_request("x", String::new(), "t")).await.unwrap();
    assert_eq!(sim.now().await, Timestamp(T0 + 60), "one minute of latency");
    sim.advance(Duration::from_secs(3 * 86_400)).await;
    assert_eq!(sim.now().await, Timestamp(T0 + 60 + 3 * 86_400));
    assert!(count_logged(&sim.world(), "terminated by Amazon (random fault)") > 0);
    // Without random terminations the instance boots after a day.
    let sim = sim_with(seed(), Faults { terminations_per_hour: 0.0, ..faults });
    let id = sim.run_instance(&east(), run_request("x", String::new(), "t")).await.unwrap().id;
    sim.advance(Duration::from_secs(86_400 - 1)).await;
    assert_eq!(sim.world().instances()[&id].state, InstanceState::Pending);
    sim.advance(Duration::from_secs(1)).await;
    assert_eq!(sim.world().instances()[&id].state, InstanceState::Running);
}

#[test]
fn a_state_file_with_faults_beyond_their_bounds_is_inconsistent() {
    for (field, value, expected) in [
        ("boot_secs", "Some(18446744073709551615)", "faults.boot_secs is 18446744073709551615, above"),
        ("latency_ms", "(0, 18446744073709551615)", "faults.latency_ms is 18446744073709551615, above"),
        ("invisible_secs", "18446744073709551615", "faults.invisible_secs is 18446744073709551615, above"),
    ] {
        let text = render_world(&default_world()).replacen("(\n", &format!("(\n    faults: ({field}: {value}),\n"), 1);
        let e = parse_world(&text).unwrap().check_consistency().unwrap_err();
        assert!(e.starts_with(expected), "{field}: {e}");
    }
}

#[test]
fn worlds_without_faults_load_and_save_as_before() {
    let w = default_world();
    assert!(w.faults().is_none());
    let text = render_world(&w);
    for field in ["faults", "millis", "buckets", "api_calls"] {
        assert!(!text.contains(field), "{field} written for a world without faults");
    }
    assert!(w.render_summary().contains("faults: none"));
}

#[test]
fn the_log_renders_one_line_per_entry() {
    let mut w = default_world();
    w.record("first");
    w.record("second");
    assert_eq!(w.render_log(Some(2)), "2026-11-25T00:00:00Z  first\n2026-11-25T00:00:00Z  second\n");
    w.advance_by_ms(1_042);
    w.record("third");
    assert_eq!(w.render_log(Some(2)), "2026-11-25T00:00:00.000Z  second\n2026-11-25T00:00:01.042Z  third\n");
    assert_eq!(w.render_log(None).lines().count(), w.log().len());
    assert_eq!(w.render_log(Some(0)), "");
}

/// Launch settings naming the default world's agent profile (`cellar-agent`), so the
/// instance's agent has the rights of docs/agent-iam-policy.json.
fn agent_settings() -> LaunchSettings {
    LaunchSettings { instance_profile: Some(InstanceProfile::new("cellar-agent")), ..LaunchSettings::default() }
}
