//! The simulator through the `Cloud` trait: agents at boot, group replacement, the shared
//! virtual clock of concurrent sleepers.

use super::*;
use crate::store::{default_world, parse_world, render_world};
use crate::world::ImageDevice;
use cellar_engine::agent::{user_data, AgentInvocation, DATA_DEVICE, DATA_ROLE};
use cellar_engine::cloud::ImageOptions;

const T0: u64 = 1_795_564_800;
const HOOK: &str = "apt-get update\napt-get install -y nginx\nsystemctl restart nginx\n";

fn east() -> Region {
    Region::new("us-east-1")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn agent_user_data(mode: AgentMode, persist: &[&str]) -> String {
    user_data(&AgentInvocation {
        mode,
        server: ServerName::new("x"),
        persist: persist.iter().map(|p| p.to_string()).collect(),
        spawn_hook: Some(HOOK.into()),
        volumes: vec![],
    })
    .expect("no NUL in the test's user data")
}

/// A server `x`: data volume and EIP in us-east-1a (the volume is available after 5 s).
async fn server_resources(sim: &Sim) -> (VolumeId, AllocationId) {
    let r = east();
    let address = sim.allocate_address(&r, tags(&[("Name", "x")])).await.unwrap();
    let volume = sim
        .create_volume(
            &r,
            CreateVolumeRequest {
                client_token: None,
                zone: Zone::new("us-east-1a"),
                size_gb: 20,
                tags: tags(&[("Name", "x"), (ROLE_TAG, DATA_ROLE)]),
                ebs: EbsSettings::default(),
                snapshot: None,
            },
        )
        .await
        .unwrap();
    (volume.id, address.allocation_id)
}

async fn auto_scaling_server(sim: &Sim) -> (VolumeId, AllocationId) {
    let r = east();
    let resources = server_resources(sim).await;
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: agent_user_data(AgentMode::Spawn, &[]),
        settings: agent_settings(),
    };
    let lt = sim
        .create_launch_template(
            &r,
            CreateLaunchTemplateRequest { name: "x".into(), spec, tags: tags(&[("Name", "x")]), client_token: None },
        )
        .await
        .unwrap();
    sim.create_auto_scaling_group(
        &r,
        CreateAutoScalingGroupRequest {
            name: AutoScalingGroupName::new("x"),
            launch: LaunchSource::Template { id: lt.id, version: None },
            zones: vec![Zone::new("us-east-1a")],
            min: 1,
            max: 1,
            desired: 1,
            tags: tags(&[("Name", "x")]),
            subnets: vec![],
        },
    )
    .await
    .unwrap();
    resources
}

/// The server is healthy: one running instance in its group, the data volume attached to
/// it, the EIP associated with it. Returns the instance.
fn check_healthy(sim: &Sim, volume: &VolumeId, address: &AllocationId) -> InstanceId {
    let w = sim.world();
    let live: Vec<&crate::world::SimInstance> = w.instances().values().filter(|i| i.is_live()).collect();
    assert_eq!(live.len(), 1, "one live instance:\n{}", w.render_summary());
    let instance = live[0];
    assert_eq!(instance.state, InstanceState::Running);
    let group = &w.groups()[&AutoScalingGroupName::new("x")];
    assert_eq!(group.instances, vec![instance.id.clone()]);
    let v = &w.volumes()[volume];
    assert_eq!(
        (v.state, v.attached_to.as_ref(), v.device.as_deref()),
        (VolumeState::InUse, Some(&instance.id), Some(DATA_DEVICE)),
        "{}",
        w.render_summary()
    );
    assert_eq!(w.addresses()[address].associated_to.as_ref(), Some(&instance.id));
    instance.id.clone()
}

/// The world survives a trip through its state file format, mid-flight.
fn check_roundtrip(sim: &Sim) {
    let world = sim.world().clone();
    assert_eq!(parse_world(&render_world(&world)).unwrap(), world);
}

fn log_messages(sim: &Sim) -> Vec<(u64, String)> {
    sim.world().log().iter().map(|e| (e.at.0 - T0, e.message.clone())).collect()
}

fn logged(sim: &Sim, message: &str) -> Option<u64> {
    log_messages(sim).into_iter().find(|(_, m)| m == message).map(|(at, _)| at)
}

#[tokio::test]
async fn group_replaces_a_terminated_instance_and_the_agent_reattaches() {
    let sim = Sim::new(default_world());
    let (volume, address) = auto_scaling_server(&sim).await;
    sim.advance(Duration::from_secs(300)).await;
    assert_eq!(sim.now().await, Timestamp(T0 + 300));
    let first = check_healthy(&sim, &volume, &address);
    // The agent ran its boot delay (20 s) after the instance booted (T0+30), at that
    // virtual time.
    assert_eq!(logged(&sim, &format!("{first}: pending -> running")), Some(30));
    assert_eq!(logged(&sim, &format!("agent {first}: ran spawn hook (3 lines)")), Some(50));
    assert_eq!(
        logged(
            &sim,
            &format!("agent {first}: done: attached volume {volume} as /dev/sdf; associated address 198.51.100.2; ran spawn hook")
        ),
        Some(50)
    );

    sim.with_world(|w| w.terminate_instance_by_amazon(&first)).unwrap();
    sim.advance(Duration::from_secs(300)).await;
    let second = check_healthy(&sim, &volume, &address);
    assert_ne!(first, second);
    assert_eq!(sim.world().instances()[&first].state, InstanceState::Terminated);
    check_roundtrip(&sim);
    assert_eq!(logged(&sim, &format!("agent {second}: ran spawn hook (3 lines)")), Some(350));
    // The volume followed: detached from the old instance when it terminated (+20 s),
    // attached to the new one by its agent when it started (booted +30 s, agent +20 s).
    assert_eq!(logged(&sim, &format!("detached volume {volume} from terminated {first}")), Some(320));
    assert_eq!(logged(&sim, &format!("attached volume {volume} to {second} as /dev/sdf")), Some(350));
    let describe = sim.describe_instances(&east(), &Filter::Server(ServerName::new("x"))).await.unwrap();
    let ip = describe.iter().find(|i| i.id == second).and_then(|i| i.public_ip.clone());
    assert_eq!(ip.as_deref(), Some("198.51.100.2"));
}

#[tokio::test]
async fn no_capacity_means_no_replacement_until_it_returns() {
    let sim = Sim::new(default_world());
    let (volume, address) = auto_scaling_server(&sim).await;
    sim.advance(Duration::from_secs(60)).await;
    let first = check_healthy(&sim, &volume, &address);

    sim.with_world(|w| {
        w.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("t3.small"), 0).unwrap();
        w.terminate_instance_by_amazon(&first).unwrap();
    });
    sim.advance(Duration::from_secs(300)).await;
    {
        let w = sim.world();
        assert!(w.instances().values().all(|i| !i.is_live()), "{}", w.render_summary());
        let activities = &w.groups()[&AutoScalingGroupName::new("x")].activities;
        let last = activities.last().unwrap();
        assert!(!last.succeeded);
        assert!(last.description.contains("InsufficientInstanceCapacity"), "{}", last.description);
        assert_eq!(w.volumes()[&volume].state, VolumeState::Available, "the data volume waits, detached");
    }
    check_roundtrip(&sim);
    let groups = sim.describe_auto_scaling_groups(&east(), &Filter::Server(ServerName::new("x"))).await.unwrap();
    assert!(groups[0].instances.is_empty());

    sim.with_world(|w| w.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("t3.small"), 1)).unwrap();
    sim.advance(Duration::from_secs(120)).await;
    let second = check_healthy(&sim, &volume, &address);
    assert_ne!(first, second);
}

#[tokio::test]
async fn persist_agent_waits_for_its_volume_through_nested_sleeps() {
    let mut world = default_world();
    // The agent starts as its instance boots, so that it finds its volume still creating.
    world.set_faults(crate::Faults { agent_delay_secs: Some(0), ..Default::default() }).unwrap();
    let sim = Sim::new(world);
    let r = east();
    let instance = sim
        .run_instance(
            &r,
            RunInstanceRequest {
                zone: Zone::new("us-east-1a"),
                instance_type: InstanceType::new("t3.small"),
                image: ImageId::new("ami-0002"),
                user_data: agent_user_data(AgentMode::Persist, &["/etc", "/var/www"]),
                tags: tags(&[("Name", "x")]),
                client_token: "create-x".into(),
                subnet: None,
                settings: agent_settings(),
            },
        )
        .await
        .unwrap();
    // The volume is created late: still `creating` when the instance boots at +30, so the
    // agent polls (calling sleep from inside an advance) until it is available at +34.
    sim.sleep(Duration::from_millis(29_000)).await;
    assert_eq!(sim.now().await, Timestamp(T0 + 29));
    let (volume, address) = server_resources(&sim).await;
    sim.sleep(Duration::from_secs(60)).await;
    assert_eq!(sim.now().await, Timestamp(T0 + 89));
    let id = instance.id;
    let w = sim.world();
    assert_eq!(w.volumes()[&volume].attached_to.as_ref(), Some(&id), "{}", w.render_summary());
    assert_eq!(w.addresses()[&address].associated_to.as_ref(), Some(&id));
    drop(w);
    assert_eq!(logged(&sim, &format!("agent {id}: persist for server x")), Some(30));
    assert_eq!(logged(&sim, &format!("attached volume {volume} to {id} as /dev/sdf")), Some(35));
    assert_eq!(logged(&sim, &format!("agent {id}: persisted /etc, /var/www")), Some(35));
    assert!(!sim.agents_running.load(Ordering::SeqCst));
}

#[tokio::test]
async fn agent_failures_are_logged() {
    // No data volume for x: the agent reports it instead of hanging.
    let sim = Sim::new(default_world());
    let r = east();
    let request = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: agent_user_data(AgentMode::Spawn, &[]),
        tags: tags(&[("Name", "x")]),
        client_token: String::new(),
        subnet: None,
        settings: agent_settings(),
    };
    let id = sim.run_instance(&r, request.clone()).await.unwrap().id;
    // An instance without agent user data boots without an agent.
    let plain =
        sim.run_instance(&r, RunInstanceRequest { user_data: "#!/bin/sh\n".into(), ..request }).await.unwrap().id;
    sim.advance(Duration::from_secs(60)).await;
    assert_eq!(
        logged(&sim, &format!("agent {id}: failed: server x has no data volume (tag cellar:role=data)")),
        Some(50)
    );
    assert!(log_messages(&sim).iter().all(|(_, m)| !m.starts_with(&format!("agent {plain}"))));
}

#[tokio::test]
async fn cloud_calls_map_errors_and_time() {
    let sim = Sim::new(default_world());
    let r = east();
    assert_eq!(sim.describe_regions(&[]).await.unwrap().len(), 2);
    assert_eq!(sim.describe_images(&r).await.unwrap().len(), 6);
    assert_eq!(sim.resolve_dns("duvel.imarc.net").await.unwrap(), vec!["198.51.100.1".to_string()]);
    assert!(sim.resolve_dns("chimay.imarc.net").await.unwrap().is_empty());
    let e = sim.release_address(&r, &AllocationId::new("eipalloc-00ff")).await.unwrap_err();
    // AWS's code for an allocation id; retried within the consistency window (a new
    // address may not be visible yet).
    assert_eq!(
        (e.code.as_str(), e.kind.code(), e.retryable()),
        ("InvalidAllocationID.NotFound", "InvalidAddress.NotFound", true)
    );
    assert_eq!(sim.now().await, Timestamp(T0));
    sim.sleep(Duration::from_millis(1)).await;
    assert_eq!(sim.now_ms().await, T0 * 1000 + 1, "sleep is to the millisecond");
    sim.sleep(Duration::from_millis(999)).await;
    let world = sim.into_world();
    assert_eq!(world.now(), Timestamp(T0 + 1));
}

#[tokio::test]
async fn new_cloud_calls_through_the_trait() {
    let sim = Sim::new(default_world());
    let cloud: &dyn Cloud = &sim;
    let r = east();
    let (volume, address) = server_resources(&sim).await;
    // A group launching from a launch configuration whose user data runs the agent.
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.medium"),
        image: ImageId::new("ami-0001"),
        user_data: agent_user_data(AgentMode::Spawn, &[]),
        settings: agent_settings(),
    };
    let lc = cloud.create_launch_configuration(&r, "x-1", spec).await.unwrap();
    assert_eq!(cloud.describe_launch_configurations(&r).await.unwrap(), vec![lc]);
    let name = AutoScalingGroupName::new("x");
    let request = CreateAutoScalingGroupRequest {
        name: name.clone(),
        launch: LaunchSource::Configuration { name: "x-1".into() },
        zones: vec![Zone::new("us-east-1a")],
        min: 0,
        max: 1,
        desired: 1,
        tags: tags(&[("Name", "x")]),
        subnets: vec![],
    };
    cloud.create_auto_scaling_group(&r, request).await.unwrap();
    sim.advance(Duration::from_secs(60)).await;
    let first = check_healthy(&sim, &volume, &address);
    let launched = sim.world().instances()[&first].clone();
    assert_eq!((launched.instance_type.as_str(), launched.image.as_str()), ("t3.medium", "ami-0001"));
    let e = cloud.delete_launch_configuration(&r, "x-1").await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::ResourceInUse);

    // Image the instance, leaving its data volume out, and copy the image west.
    let options = ImageOptions { no_reboot: false, exclude_devices: vec![DATA_DEVICE.to_string()] };
    let image = cloud.create_image(&r, &first, "x-2026-11-25", tags(&[("Name", "x")]), &options).await.unwrap();
    assert_eq!(image.state, ImageState::Pending);
    let devices = sim.world().image_block_devices(&image.id).to_vec();
    assert_eq!(devices, vec![ImageDevice { device: DATA_DEVICE.into(), snapshot: None }], "NoDevice, no snapshot");
    sim.advance(Duration::from_secs(300)).await;
    let states: Vec<(ImageId, ImageState)> =
        cloud.describe_images(&r).await.unwrap().into_iter().map(|i| (i.id, i.state)).collect();
    assert!(states.contains(&(image.id.clone(), ImageState::Available)), "{states:?}");
    let west = Region::new("us-west-2");
    let copy = cloud.copy_image(&r, &image.id, &west, "x-2026-11-25", None).await.unwrap();
    sim.advance(Duration::from_secs(600)).await;
    let copied = cloud.describe_images(&west).await.unwrap().into_iter().find(|i| i.id == copy.id).unwrap();
    assert_eq!(copied.state, ImageState::Available);

    // A new template version for a template-based group, then scale the first group in.
    let lt_spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: agent_settings(),
    };
    let lt = cloud
        .create_launch_template(
            &r,
            CreateLaunchTemplateRequest {
                name: "y".into(),
                spec: lt_spec.clone(),
                tags: Tags::new(),
                client_token: None,
            },
        )
        .await
        .unwrap();
    let v2 = cloud
        .create_launch_template_version(&r, &lt.id, LaunchSpec { image: image.id.clone(), ..lt_spec }, None)
        .await
        .unwrap();
    assert_eq!((v2.latest_version, v2.latest.image.clone()), (2, image.id.clone()));
    let update = UpdateAutoScalingGroupRequest { desired: Some(0), ..Default::default() };
    cloud.update_auto_scaling_group(&r, &name, update).await.unwrap();
    let groups = cloud.describe_auto_scaling_groups(&r, &Filter::All).await.unwrap();
    assert_eq!((groups[0].desired, groups[0].instances.len()), (0, 0));
    sim.advance(Duration::from_secs(30)).await;
    assert_eq!(sim.world().instances()[&first].state, InstanceState::Terminated);
    assert_eq!(sim.world().volumes()[&volume].state, VolumeState::Available, "the data volume is released");

    // Snapshot the data volume before deleting it.
    let snapshot = cloud.create_snapshot(&r, &volume, tags(&[("Name", "x")])).await.unwrap();
    cloud.delete_volume(&r, &volume).await.unwrap();
    sim.advance(Duration::from_secs(crate::world::snapshot_secs(snapshot.size_gb))).await;
    let snapshots = cloud.describe_snapshots(&r, &Filter::Server(ServerName::new("x"))).await.unwrap();
    assert_eq!(
        snapshots.iter().map(|s| (&s.id, s.state)).collect::<Vec<_>>(),
        vec![(&snapshot.id, SnapshotState::Completed)]
    );
    check_roundtrip(&sim);
}

/// Launch settings naming the default world's agent profile (`cellar-agent`), so the
/// instance's agent has the rights of docs/agent-iam-policy.json.
fn agent_settings() -> LaunchSettings {
    LaunchSettings { instance_profile: Some(InstanceProfile::new("cellar-agent")), ..LaunchSettings::default() }
}

/// EC2 takes at most 200 values in a filter; a describe with more is refused, as on AWS.
#[tokio::test]
async fn describes_refuse_more_than_200_filter_values() {
    let sim = Sim::new(default_world());
    let r = Region::new("us-east-1");
    let names = |n: usize| Filter::Servers((0..n).map(|i| ServerName::new(format!("s-{i}"))).collect());
    assert_eq!(sim.describe_instances(&r, &names(200)).await.unwrap(), vec![]);
    let refused = sim.describe_instances(&r, &names(201)).await.unwrap_err();
    assert_eq!(refused.code, "FilterLimitExceeded", "{refused:?}");
    assert_eq!(sim.describe_volumes(&r, &names(201)).await.unwrap_err().code, "FilterLimitExceeded");
}
