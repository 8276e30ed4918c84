use super::*;
use crate::store::{default_world, parse_world, render_world};
use cellar_engine::cloud::{
    CreateAutoScalingGroupRequest, CreateLaunchTemplateRequest, CreateVolumeRequest, Filter, RunInstanceRequest,
    UpdateAutoScalingGroupRequest,
};

const T0: u64 = 1_795_564_800;

fn east() -> Region {
    Region::new("us-east-1")
}

fn zone(name: &str) -> Zone {
    Zone::new(name)
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn run_request(zone_name: &str, instance_type: &str, image: &str, token: &str) -> RunInstanceRequest {
    RunInstanceRequest {
        zone: zone(zone_name),
        instance_type: InstanceType::new(instance_type),
        image: ImageId::new(image),
        user_data: String::new(),
        tags: tags(&[("Name", "x")]),
        client_token: token.to_string(),
    }
}

fn launch(w: &mut World, zone_name: &str) -> InstanceId {
    w.run_instance(&east(), run_request(zone_name, "t3.small", "ami-0002", "")).unwrap().id
}

fn volume(w: &mut World, zone_name: &str) -> VolumeId {
    let request =
        CreateVolumeRequest { zone: zone(zone_name), size_gb: 20, tags: tags(&[("Name", "x"), (ROLE_TAG, "data")]) };
    w.create_volume(&east(), request).unwrap().id
}

fn state(w: &World, id: &InstanceId) -> Option<InstanceState> {
    w.instances.get(id).map(|i| i.state)
}

fn kind<T: std::fmt::Debug>(result: CloudResult<T>) -> Result<(), K> {
    result.map(|_| ()).map_err(|e| e.kind)
}

/// Advances to `T0 + secs` and expects the instance's state (`None`: gone from describe).
fn check_states(w: &mut World, id: &InstanceId, steps: &[(u64, Option<InstanceState>)]) {
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(state(w, id), *expected, "{id} at T0+{secs}");
        let described = w.describe_instances(&east(), &Filter::All).into_iter().find(|i| i.id == *id);
        assert_eq!(described.map(|i| i.state), *expected, "describe {id} at T0+{secs}");
    }
}

#[test]
fn instance_lifecycle_over_virtual_time() {
    use InstanceState::*;
    let mut w = default_world();
    let id = launch(&mut w, "us-east-1a");
    assert_eq!(id.as_str(), "i-0001");
    check_states(&mut w, &id, &[(0, Some(Pending)), (29, Some(Pending)), (30, Some(Running)), (40, Some(Running))]);
    w.terminate_instance(&east(), &id).unwrap();
    check_states(
        &mut w,
        &id,
        &[
            (40, Some(ShuttingDown)),
            (59, Some(ShuttingDown)),
            (60, Some(Terminated)),
            (60 + 3599, Some(Terminated)),
            (60 + 3600, None),
        ],
    );
    assert_eq!(w.now, Timestamp(T0 + 3660));
    // Terminating twice is fine (AWS is idempotent here); an unknown id is not.
    let other = launch(&mut w, "us-east-1b");
    w.terminate_instance(&east(), &other).unwrap();
    w.terminate_instance(&east(), &other).unwrap();
    assert_eq!(kind(w.terminate_instance(&east(), &InstanceId::new("i-ffff"))), Err(K::InvalidInstanceIdNotFound));
}

#[test]
fn volume_lifecycle() {
    let mut w = default_world();
    let v = volume(&mut w, "us-east-1a");
    let states = |w: &World| w.volumes.get(&v).map(|v| v.state);
    assert_eq!(states(&w), Some(VolumeState::Creating));
    w.advance_clock_to(Timestamp(T0 + 4));
    assert_eq!(states(&w), Some(VolumeState::Creating));
    w.advance_clock_to(Timestamp(T0 + 5));
    assert_eq!(states(&w), Some(VolumeState::Available));
    w.delete_volume(&east(), &v).unwrap();
    assert!(w.describe_volumes(&east(), &Filter::All).is_empty());
    assert_eq!(kind(w.delete_volume(&east(), &v)), Err(K::InvalidVolumeNotFound));
    let bad = CreateVolumeRequest { zone: zone("us-east-1z"), size_gb: 20, tags: Tags::new() };
    assert_eq!(kind(w.create_volume(&east(), bad)), Err(K::InvalidZoneNotFound));
    let huge = CreateVolumeRequest { zone: zone("us-east-1a"), size_gb: 20_000, tags: Tags::new() };
    assert_eq!(kind(w.create_volume(&east(), huge)), Err(K::InvalidParameterValue));
}

fn check_run(zone_name: &str, instance_type: &str, image: &str, expected: Result<(), K>) {
    let mut w = default_world();
    let before = w.instances.len();
    let got = kind(w.run_instance(&east(), run_request(zone_name, instance_type, image, "")));
    assert_eq!(got, expected, "run {instance_type} from {image} in {zone_name}");
    let launched = w.instances.len() - before;
    assert_eq!(launched, usize::from(expected.is_ok()), "instances launched");
}

#[test]
fn run_instance_validation() {
    check_run("us-east-1a", "t3.small", "ami-0002", Ok(()));
    check_run("us-east-1d", "t3.small", "ami-0002", Ok(()));
    check_run("us-east-1z", "t3.small", "ami-0002", Err(K::InvalidZoneNotFound));
    check_run("us-west-2a", "t3.small", "ami-0003", Err(K::InvalidZoneNotFound));
    check_run("us-east-1a", "t3.small", "ami-0003", Err(K::InvalidAmiIdNotFound));
    check_run("us-east-1a", "t3.small", "ami-9999", Err(K::InvalidAmiIdNotFound));
    check_run("us-east-1a", "m9.huge", "ami-0002", Err(K::InvalidParameterValue));
    check_run("us-east-1a", "t4g.small", "ami-0002", Err(K::InvalidParameterValue));
    check_run("us-east-1a", "t4g.small", "ami-0004", Ok(()));
    check_run("us-east-1a", "t3.small", "ami-0004", Err(K::InvalidParameterValue));
    check_run("us-east-1a", "m1.small", "ami-0005", Ok(()));
    check_run("us-east-1a", "t3.small", "ami-0005", Err(K::InvalidParameterValue));
}

#[test]
fn capacity_exhaustion() {
    let mut w = default_world();
    let (a, t3) = (zone("us-east-1a"), InstanceType::new("t3.small"));
    w.set_capacity(&a, &t3, 1).unwrap();
    launch(&mut w, "us-east-1a");
    assert_eq!(w.available_capacity(&a, &t3), 0);
    let e = w.run_instance(&east(), run_request("us-east-1a", "t3.small", "ami-0002", "")).unwrap_err();
    assert_eq!(e.kind, K::InsufficientInstanceCapacity);
    assert!(e.retryable());
    assert_eq!(
        e.message,
        "We currently do not have sufficient t3.small capacity in the Availability Zone you requested (us-east-1a)"
    );
    assert_eq!(w.instances.len(), 1, "no instance for the failed launch");
    // Other zones and types are unaffected; the default pool shrinks with live instances.
    launch(&mut w, "us-east-1b");
    let b = zone("us-east-1b");
    assert_eq!(w.available_capacity(&b, &t3), DEFAULT_CAPACITY - 1);
    w.set_capacity(&a, &t3, 2).unwrap();
    launch(&mut w, "us-east-1a");
    assert_eq!(w.available_capacity(&a, &t3), 1);
    w.clear_capacity(&a, &t3);
    assert_eq!(w.available_capacity(&a, &t3), DEFAULT_CAPACITY - 2);
    assert!(w.capacity.is_empty());
}

#[test]
fn client_token_is_idempotent() {
    let mut w = default_world();
    let first = w.run_instance(&east(), run_request("us-east-1a", "t3.small", "ami-0002", "tok-1")).unwrap();
    w.advance_clock_to(Timestamp(T0 + 10));
    let again = w.run_instance(&east(), run_request("us-east-1a", "t3.small", "ami-0002", "tok-1")).unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(w.instances.len(), 1);
    let other = w.run_instance(&east(), run_request("us-east-1a", "t3.small", "ami-0002", "tok-2")).unwrap();
    assert_ne!(first.id, other.id);
    assert_eq!(w.instances.len(), 2);
    // No token: every call launches.
    launch(&mut w, "us-east-1a");
    launch(&mut w, "us-east-1a");
    assert_eq!(w.instances.len(), 4);
}

#[test]
fn attach_and_detach_volumes() {
    let mut w = default_world();
    let r = east();
    let i_a = launch(&mut w, "us-east-1a");
    let v_a = volume(&mut w, "us-east-1a");
    let v_b = volume(&mut w, "us-east-1b");
    // Volume still creating, instance still pending.
    assert_eq!(kind(w.attach_volume(&r, &v_a, &i_a, "/dev/sdf")), Err(K::IncorrectState));
    w.advance_clock_to(Timestamp(T0 + 10));
    assert_eq!(kind(w.attach_volume(&r, &v_a, &i_a, "/dev/sdf")), Err(K::IncorrectInstanceState));
    w.advance_clock_to(Timestamp(T0 + 30));
    let checks: &[(&VolumeId, &str, Result<(), K>)] = &[
        (&v_b, "/dev/sdf", Err(K::VolumeZoneMismatch)),
        (&v_a, "/dev/sdf", Ok(())),
        (&v_a, "/dev/sdg", Err(K::VolumeInUse)),
    ];
    for (v, device, expected) in checks {
        assert_eq!(kind(w.attach_volume(&r, v, &i_a, device)), *expected, "attach {v} as {device}");
    }
    assert_eq!(kind(w.attach_volume(&r, &VolumeId::new("vol-ffff"), &i_a, "/dev/sdh")), Err(K::InvalidVolumeNotFound));
    let v = &w.volumes[&v_a];
    assert_eq!(
        (v.state, v.attached_to.as_ref(), v.device.as_deref()),
        (VolumeState::InUse, Some(&i_a), Some("/dev/sdf"))
    );
    assert_eq!(kind(w.delete_volume(&r, &v_a)), Err(K::VolumeInUse));
    w.detach_volume(&r, &v_a, &i_a).unwrap();
    assert_eq!(w.volumes[&v_a].state, VolumeState::Available);
    assert_eq!(kind(w.detach_volume(&r, &v_a, &i_a)), Err(K::IncorrectState));
    // Termination detaches the volume and disassociates the address.
    w.attach_volume(&r, &v_a, &i_a, "/dev/sdf").unwrap();
    let eip = w.allocate_address(&r, tags(&[("Name", "x")])).unwrap().allocation_id;
    w.associate_address(&r, &eip, &i_a).unwrap();
    assert_eq!(w.describe_instances(&r, &Filter::All)[0].public_ip.as_deref(), Some("198.51.100.2"));
    w.terminate_instance(&r, &i_a).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    assert_eq!(w.volumes[&v_a].state, VolumeState::Available);
    assert_eq!(w.volumes[&v_a].attached_to, None);
    assert_eq!(w.addresses[&eip].associated_to, None);
    assert_eq!(w.describe_instances(&r, &Filter::All)[0].public_ip, None);
}

#[test]
fn elastic_ips() {
    let mut w = default_world();
    let r = east();
    let eip = w.allocate_address(&r, tags(&[("Name", "x")])).unwrap();
    assert_eq!((eip.allocation_id.as_str(), eip.public_ip.as_str()), ("eipalloc-0002", "198.51.100.2"));
    let server_x = Filter::Server(ServerName::new("x"));
    assert_eq!(w.describe_addresses(&r, &server_x).len(), 1);
    assert_eq!(w.describe_addresses(&r, &Filter::All).len(), 2, "duvel's address is in the fixture");
    assert!(w.describe_addresses(&Region::new("us-west-2"), &Filter::All).is_empty());
    let i1 = launch(&mut w, "us-east-1a");
    assert_eq!(kind(w.associate_address(&r, &eip.allocation_id, &i1)), Err(K::IncorrectInstanceState));
    let i2 = launch(&mut w, "us-east-1b");
    w.advance_clock_to(Timestamp(T0 + 30));
    w.associate_address(&r, &eip.allocation_id, &i1).unwrap();
    w.associate_address(&r, &eip.allocation_id, &i2).unwrap();
    assert_eq!(w.addresses[&eip.allocation_id].associated_to.as_ref(), Some(&i2), "re-association moves it");
    assert_eq!(kind(w.release_address(&r, &eip.allocation_id)), Err(K::IncorrectState));
    assert_eq!(kind(w.release_address(&r, &AllocationId::new("eipalloc-ffff"))), Err(K::InvalidAddressNotFound));
    w.terminate_instance(&r, &i2).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    w.release_address(&r, &eip.allocation_id).unwrap();
    assert_eq!(kind(w.release_address(&r, &eip.allocation_id)), Err(K::InvalidAddressNotFound));
}

#[test]
fn tags_by_resource_id() {
    let mut w = default_world();
    let r = east();
    let i = launch(&mut w, "us-east-1a");
    let v = volume(&mut w, "us-east-1a");
    for resource in [i.as_str(), v.as_str(), "eipalloc-0001", "ami-0002"] {
        w.create_tags(&r, resource, tags(&[("k", "v")])).unwrap();
        w.delete_tags(&r, resource, vec!["Name".into()]).unwrap();
    }
    assert_eq!(w.instances[&i].tags, tags(&[("k", "v")]));
    assert_eq!(w.volumes[&v].tags, tags(&[("k", "v"), (ROLE_TAG, "data")]));
    assert_eq!(w.addresses[&AllocationId::new("eipalloc-0001")].tags, tags(&[("k", "v")]));
    for (resource, expected) in [
        ("i-ffff", K::InvalidInstanceIdNotFound),
        ("vol-ffff", K::InvalidVolumeNotFound),
        ("eipalloc-ffff", K::InvalidAddressNotFound),
        ("lt-ffff", K::InvalidLaunchTemplateNotFound),
        ("ami-0003", K::InvalidAmiIdNotFound),
        ("bogus", K::InvalidParameterValue),
    ] {
        assert_eq!(kind(w.create_tags(&r, resource, Tags::new())), Err(expected), "{resource}");
    }
}

fn template(w: &mut World, name: &str) -> LaunchTemplateId {
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: "#!/bin/bash\necho not an agent\n".into(),
    };
    let request = CreateLaunchTemplateRequest { name: name.into(), spec, tags: tags(&[("Name", name)]) };
    w.create_launch_template(&east(), request).unwrap().id
}

fn group_request(name: &str, template: &LaunchTemplateId, desired: u32) -> CreateAutoScalingGroupRequest {
    CreateAutoScalingGroupRequest {
        name: AutoScalingGroupName::new(name),
        launch: LaunchSource::Template { id: template.clone(), version: None },
        zones: vec![zone("us-east-1a")],
        min: desired,
        max: 1,
        desired,
        tags: tags(&[("Name", name)]),
    }
}

fn live_members(w: &World, group: &str) -> Vec<InstanceId> {
    w.groups[&AutoScalingGroupName::new(group)]
        .instances
        .iter()
        .filter(|i| w.instances[*i].is_live())
        .cloned()
        .collect()
}

#[test]
fn launch_templates_and_versions() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    assert_eq!(lt.as_str(), "lt-0001");
    let dup =
        CreateLaunchTemplateRequest { name: "x".into(), spec: w.templates[&lt].versions[0].clone(), tags: Tags::new() };
    assert_eq!(kind(w.create_launch_template(&r, dup)), Err(K::AlreadyExists));
    let mut spec = w.templates[&lt].versions[0].clone();
    spec.image = ImageId::new("ami-0001");
    let model = w.create_launch_template_version(&r, &lt, spec).unwrap();
    assert_eq!((model.latest_version, model.default_version, model.latest.image.as_str()), (2, 1, "ami-0001"));
    w.create_auto_scaling_group(&r, group_request("x", &lt, 0)).unwrap();
    assert_eq!(kind(w.delete_launch_template(&r, &lt)), Err(K::ResourceInUse));
    w.delete_auto_scaling_group(&r, &AutoScalingGroupName::new("x"), false).unwrap();
    w.delete_launch_template(&r, &lt).unwrap();
    assert!(w.describe_launch_templates(&r, &Filter::All).is_empty());
    assert_eq!(kind(w.delete_launch_template(&r, &lt)), Err(K::InvalidLaunchTemplateNotFound));
}

#[test]
fn group_validation() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    let cases: Vec<(CreateAutoScalingGroupRequest, K)> = vec![
        (group_request("x", &LaunchTemplateId::new("lt-ffff"), 1), K::InvalidLaunchTemplateNotFound),
        (
            CreateAutoScalingGroupRequest { zones: vec![zone("us-east-1z")], ..group_request("x", &lt, 1) },
            K::InvalidZoneNotFound,
        ),
        (CreateAutoScalingGroupRequest { desired: 2, ..group_request("x", &lt, 1) }, K::InvalidParameterValue),
        (
            CreateAutoScalingGroupRequest {
                launch: LaunchSource::Template { id: lt.clone(), version: Some(7) },
                ..group_request("x", &lt, 1)
            },
            K::InvalidParameterValue,
        ),
    ];
    for (request, expected) in cases {
        let what = format!("{request:?}");
        assert_eq!(kind(w.create_auto_scaling_group(&r, request)), Err(expected), "{what}");
    }
    w.create_auto_scaling_group(&r, group_request("x", &lt, 1)).unwrap();
    assert_eq!(kind(w.create_auto_scaling_group(&r, group_request("x", &lt, 1))), Err(K::AlreadyExists));
    let missing = AutoScalingGroupName::new("nope");
    assert_eq!(kind(w.delete_auto_scaling_group(&r, &missing, true)), Err(K::AutoScalingGroupNotFound));
}

#[test]
fn group_keeps_one_instance_and_retries_without_capacity() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_request("x", &lt, 1)).unwrap();
    assert!(w.instances.is_empty(), "launches happen when time advances");
    w.advance_clock_to(Timestamp(T0 + 60));
    let members = live_members(&w, "x");
    assert_eq!(members.len(), 1);
    let first = members[0].clone();
    let instance = &w.instances[&first];
    assert_eq!((instance.state, instance.group.as_ref().map(|g| g.as_str())), (InstanceState::Running, Some("x")));
    assert_eq!(instance.tags.get(NAME_TAG).map(String::as_str), Some("x"));
    assert_eq!(w.agents_due, Vec::<InstanceId>::new(), "no agent user data, no agent");

    // Terminated by Amazon while the zone has no capacity: the group records the failure
    // and retries every 60 s.
    w.terminate_instance_by_amazon(&first).unwrap();
    w.set_capacity(&zone("us-east-1a"), &InstanceType::new("t3.small"), 0).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60 + 150));
    assert!(live_members(&w, "x").is_empty());
    let group = &w.groups[&AutoScalingGroupName::new("x")];
    let failures: Vec<&ScalingActivity> = group.activities.iter().filter(|a| !a.succeeded).collect();
    assert_eq!(failures.len(), 3, "at +0, +60 and +120: {:#?}", group.activities);
    assert!(
        failures[0]
            .description
            .starts_with("Launching a new EC2 instance. Status Reason: InsufficientInstanceCapacity"),
        "{}",
        failures[0].description
    );
    assert!(failures[0].description.contains("us-east-1a"));
    assert_eq!(failures.iter().map(|a| a.at.0 - T0).collect::<Vec<_>>(), vec![60, 120, 180]);
    assert_eq!(w.instances.len(), 1, "only the terminated one");

    w.set_capacity(&zone("us-east-1a"), &InstanceType::new("t3.small"), 5).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60 + 150 + 60));
    let members = live_members(&w, "x");
    assert_eq!(members.len(), 1);
    assert_ne!(members[0], first);
    let last = w.groups[&AutoScalingGroupName::new("x")].activities.last().unwrap();
    assert!(last.succeeded && last.description == format!("Launching a new EC2 instance: {}", members[0]));
    assert_eq!(w.available_capacity(&zone("us-east-1a"), &InstanceType::new("t3.small")), 4);

    // Delete: refused while it has instances, unless forced (which terminates them).
    let name = AutoScalingGroupName::new("x");
    assert_eq!(kind(w.delete_auto_scaling_group(&r, &name, false)), Err(K::ResourceInUse));
    w.delete_auto_scaling_group(&r, &name, true).unwrap();
    assert_eq!(w.instances[&members[0]].state, InstanceState::ShuttingDown);
    assert!(w.describe_auto_scaling_groups(&r, &Filter::All).is_empty());
}

#[test]
fn adopting_an_instance() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_request("x", &lt, 0)).unwrap();
    let name = AutoScalingGroupName::new("x");
    let outside = launch(&mut w, "us-east-1b");
    let inside = launch(&mut w, "us-east-1a");
    assert_eq!(kind(w.attach_instance_to_group(&r, &name, &outside)), Err(K::InvalidParameterValue));
    w.attach_instance_to_group(&r, &name, &inside).unwrap();
    w.attach_instance_to_group(&r, &name, &inside).unwrap();
    let g = &w.groups[&name];
    assert_eq!((g.min, g.desired, g.max, g.instances.clone()), (1, 1, 1, vec![inside.clone()]));
    assert_eq!(w.instances[&inside].group.as_ref(), Some(&name));
    w.advance_clock_to(Timestamp(T0 + 120));
    assert_eq!(live_members(&w, "x"), vec![inside.clone()], "no extra launch");
    w.terminate_instance(&r, &inside).unwrap();
    assert_eq!(kind(w.attach_instance_to_group(&r, &name, &inside)), Err(K::IncorrectInstanceState));
}

#[test]
fn same_operations_same_world() {
    let run = || {
        let mut w = default_world();
        let lt = template(&mut w, "x");
        w.create_auto_scaling_group(&east(), group_request("x", &lt, 1)).unwrap();
        volume(&mut w, "us-east-1a");
        w.advance_clock_to(Timestamp(T0 + 100));
        let id = live_members(&w, "x")[0].clone();
        w.terminate_instance_by_amazon(&id).unwrap();
        w.advance_clock_to(Timestamp(T0 + 5000));
        w
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(render_world(&a), render_world(&b));
}

#[test]
fn default_world_fixture() {
    let w = default_world();
    assert_eq!(w.now, Timestamp(T0));
    assert_eq!(w.now.rfc3339(), "2026-11-25T00:00:00Z");
    let zones: Vec<(String, usize)> = w.regions.iter().map(|r| (r.region.to_string(), r.zones.len())).collect();
    assert_eq!(zones, vec![("us-east-1".into(), 4), ("us-west-2".into(), 3)]);
    for image in w.images.values() {
        let (_, date) = image.type_and_date().expect("images are named <type>-<date>");
        assert_eq!(image.created_at.date(), date, "{}", image.name);
    }
    assert_eq!(w.resolve_dns("duvel.imarc.net"), vec!["198.51.100.1".to_string()]);
    assert_eq!(w.resolve_dns("ommegang.imarc.net").len(), 1);
    assert!(!w.addresses.values().any(|a| a.public_ip == w.resolve_dns("ommegang.imarc.net")[0]));
    assert!(w.resolve_dns("chimay.imarc.net").is_empty());
    // Rendering and parsing give back the same world.
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
}

#[test]
fn summary_and_lookup() {
    let mut w = default_world();
    let id = launch(&mut w, "us-east-1a");
    w.advance_clock_to(Timestamp(T0 + 30));
    w.set_capacity(&zone("us-east-1b"), &InstanceType::new("m5.large"), 0).unwrap();
    w.set_dns("chimay.imarc.net", vec!["198.51.100.9".into()]).unwrap();
    assert_eq!(w.find_server_instance(&ServerName::new("x")).map(|i| i.id), Some(id.clone()));
    assert_eq!(w.find_server_instance(&ServerName::new("duvel")), None);
    assert_eq!(w.server_instance(&ServerName::new("x")), Some(id.clone()));
    let summary = w.render_summary();
    for needle in [
        "clock: 2026-11-25T00:00:30Z",
        "region us-east-1 (zones a, b, c, d)",
        "i-0001  running  us-east-1a  t3.small  ami-0002  [Name=x]",
        "eipalloc-0001  198.51.100.1  unassociated  [Name=duvel]",
        "us-east-1b m5.large: 0 more launches",
        "chimay.imarc.net -> 198.51.100.9",
        "i-0001: pending -> running",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
}

fn spec(instance_type: &str, image: &str) -> LaunchSpec {
    LaunchSpec { instance_type: InstanceType::new(instance_type), image: ImageId::new(image), user_data: String::new() }
}

fn config_source(name: &str) -> LaunchSource {
    LaunchSource::Configuration { name: name.into() }
}

fn template_source(id: &LaunchTemplateId, version: Option<u32>) -> LaunchSource {
    LaunchSource::Template { id: id.clone(), version }
}

/// A group `name` in us-east-1a launching from `launch`, min 0 max 1.
fn group_from(name: &str, launch: LaunchSource, desired: u32) -> CreateAutoScalingGroupRequest {
    CreateAutoScalingGroupRequest { min: 0, launch, ..group_request(name, &LaunchTemplateId::new("unused"), desired) }
}

fn error<T: std::fmt::Debug>(result: CloudResult<T>) -> (String, String) {
    let e = result.unwrap_err();
    (e.code, e.message)
}

/// (instance type, image, state) of the group's live members.
fn member_specs(w: &World, group: &str) -> Vec<(String, String, InstanceState)> {
    live_members(w, group)
        .iter()
        .map(|id| {
            let i = &w.instances[id];
            (i.instance_type.to_string(), i.image.to_string(), i.state)
        })
        .collect()
}

#[test]
fn launch_configuration_lifecycle() {
    let mut w = default_world();
    let (r, west) = (east(), Region::new("us-west-2"));
    let lc = w.create_launch_configuration(&r, "x-2026-11-25", spec("m5.large", "ami-0001")).unwrap();
    assert_eq!((lc.name.as_str(), lc.created_at), ("x-2026-11-25", Timestamp(T0)));
    let cases: Vec<(&str, LaunchSpec, (&str, &str))> = vec![
        (
            "x-2026-11-25",
            spec("t3.small", "ami-0002"),
            (
                "AlreadyExists",
                "Launch Configuration by this name already exists - A launch configuration already exists with the name x-2026-11-25",
            ),
        ),
        (
            "y",
            spec("t3.small", "ami-0003"),
            ("ValidationError", "AMI ami-0003 is invalid: The image id '[ami-0003]' does not exist"),
        ),
        ("y", spec("m9.huge", "ami-0002"), ("ValidationError", "Invalid instance type: m9.huge")),
    ];
    for (name, spec, (code, message)) in cases {
        let what = format!("{name} {spec:?}");
        assert_eq!(error(w.create_launch_configuration(&r, name, spec)), (code.into(), message.into()), "{what}");
    }
    // Names are per region: the same name is free in us-west-2.
    w.create_launch_configuration(&west, "x-2026-11-25", spec("t3.small", "ami-0003")).unwrap();
    let names = |w: &World, region: &Region| -> Vec<String> {
        w.describe_launch_configurations(region).into_iter().map(|c| c.name).collect()
    };
    assert_eq!(names(&w, &r), vec!["x-2026-11-25"]);
    assert_eq!(names(&w, &west), vec!["x-2026-11-25"]);

    // A group launches from the configuration's spec.
    assert_eq!(
        error(w.create_auto_scaling_group(&r, group_from("x", config_source("nope"), 1))),
        ("ValidationError".into(), "Launch configuration name not found - Launch configuration nope not found".into())
    );
    w.create_auto_scaling_group(&r, group_from("x", config_source("x-2026-11-25"), 1)).unwrap();
    assert_eq!(w.describe_auto_scaling_groups(&r, &Filter::All)[0].launch, config_source("x-2026-11-25"));
    w.advance_clock_to(Timestamp(T0 + 30));
    assert_eq!(member_specs(&w, "x"), vec![("m5.large".into(), "ami-0001".into(), InstanceState::Running)]);

    // In use: refused; once the group is gone, deleted; then unknown.
    let in_use = (
        "ResourceInUse".to_string(),
        "Cannot delete launch configuration x-2026-11-25 because it is attached to AutoScalingGroup x".to_string(),
    );
    assert_eq!(error(w.delete_launch_configuration(&r, "x-2026-11-25")), in_use);
    w.delete_auto_scaling_group(&r, &AutoScalingGroupName::new("x"), true).unwrap();
    w.delete_launch_configuration(&r, "x-2026-11-25").unwrap();
    assert!(names(&w, &r).is_empty());
    assert_eq!(names(&w, &west), vec!["x-2026-11-25"], "the other region's is untouched");
    assert_eq!(
        error(w.delete_launch_configuration(&r, "x-2026-11-25")),
        (
            "ValidationError".into(),
            "Launch configuration name not found - Launch configuration x-2026-11-25 not found".into()
        )
    );
    assert!(w.log.iter().any(|e| e.message == "deleted launch configuration x-2026-11-25 in us-east-1"));
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
}

#[test]
fn template_version_pinning_and_latest() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_from("pinned", template_source(&lt, Some(1)), 1)).unwrap();
    w.create_auto_scaling_group(&r, group_from("latest", template_source(&lt, None), 1)).unwrap();
    let model = w.create_launch_template_version(&r, &lt, spec("t3.medium", "ami-0001")).unwrap();
    assert_eq!((model.latest_version, model.latest.instance_type.as_str()), (2, "t3.medium"));
    assert_eq!(
        kind(w.create_launch_template_version(&r, &LaunchTemplateId::new("lt-ffff"), spec("t3.small", "ami-0002"))),
        Err(K::InvalidLaunchTemplateNotFound)
    );
    w.advance_clock_to(Timestamp(T0 + 30));
    let running = |t: &str, i: &str| vec![(t.to_string(), i.to_string(), InstanceState::Running)];
    assert_eq!(member_specs(&w, "pinned"), running("t3.small", "ami-0002"));
    assert_eq!(member_specs(&w, "latest"), running("t3.medium", "ami-0001"));
    // Pinned to version 2 now: the running instance stays as it is; its replacement uses v2.
    let pinned = AutoScalingGroupName::new("pinned");
    let update = UpdateAutoScalingGroupRequest { launch: Some(template_source(&lt, Some(2))), ..Default::default() };
    w.update_auto_scaling_group(&r, &pinned, update).unwrap();
    assert_eq!(member_specs(&w, "pinned"), running("t3.small", "ami-0002"));
    let old = live_members(&w, "pinned")[0].clone();
    w.terminate_instance_by_amazon(&old).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    assert_eq!(member_specs(&w, "pinned"), running("t3.medium", "ami-0001"));
    assert!(w.render_summary().contains("pinned  lt-0001@v2  us-east-1a"), "{}", w.render_summary());
}

#[test]
fn update_group_scales_in_and_out() {
    let mut w = default_world();
    let r = east();
    let name = AutoScalingGroupName::new("x");
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_from("x", template_source(&lt, None), 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 30));
    let first = live_members(&w, "x")[0].clone();

    // Down to 0: the instance is terminated and leaves the group at once.
    let to = |desired: u32| UpdateAutoScalingGroupRequest { desired: Some(desired), ..Default::default() };
    w.update_auto_scaling_group(&r, &name, to(0)).unwrap();
    let g = &w.groups[&name];
    assert_eq!((g.min, g.max, g.desired, g.instances.len()), (0, 1, 0, 0));
    assert_eq!(g.activities.last().unwrap().description, format!("Terminating EC2 instance: {first}"));
    assert_eq!(w.instances[&first].state, InstanceState::ShuttingDown);
    assert!(w.log.iter().any(|e| e.message == format!("{first}: running -> shutting-down (scale-in of group x)")));
    w.advance_clock_to(Timestamp(T0 + 300));
    assert_eq!(w.instances[&first].state, InstanceState::Terminated);
    assert!(live_members(&w, "x").is_empty(), "no replacement at desired 0");

    // Back to 1: the next reconciliation launches one.
    w.update_auto_scaling_group(&r, &name, to(1)).unwrap();
    assert!(live_members(&w, "x").is_empty(), "launches happen when time advances");
    w.advance_clock_to(Timestamp(T0 + 330));
    let second = live_members(&w, "x");
    assert_eq!(second.len(), 1);
    assert_ne!(second[0], first);
    assert_eq!(w.instances[&second[0]].state, InstanceState::Running);

    // Two members, desired 1: the newest goes.
    let wide = UpdateAutoScalingGroupRequest { max: Some(2), desired: Some(2), ..Default::default() };
    w.update_auto_scaling_group(&r, &name, wide).unwrap();
    w.advance_clock_to(Timestamp(T0 + 400));
    let both = live_members(&w, "x");
    assert_eq!(both.len(), 2);
    w.update_auto_scaling_group(&r, &name, to(1)).unwrap();
    assert_eq!(live_members(&w, "x"), vec![second[0].clone()], "the older instance stays");
    assert_eq!(w.instances[&both[1]].state, InstanceState::ShuttingDown);

    // Without a desired capacity, AWS moves it into the new bounds.
    let bounds = [(Some(1), None, (1, 2, 1)), (None, Some(1), (1, 1, 1)), (Some(0), Some(3), (0, 3, 1))];
    for (min, max, expected) in bounds {
        w.update_auto_scaling_group(&r, &name, UpdateAutoScalingGroupRequest { min, max, ..Default::default() })
            .unwrap();
        let g = &w.groups[&name];
        assert_eq!((g.min, g.max, g.desired), expected, "min {min:?} max {max:?}");
    }
    w.update_auto_scaling_group(&r, &name, UpdateAutoScalingGroupRequest { min: Some(2), ..Default::default() })
        .unwrap();
    assert_eq!(w.groups[&name].desired, 2, "a min above the desired capacity raises it");
    w.update_auto_scaling_group(
        &r,
        &name,
        UpdateAutoScalingGroupRequest { min: Some(0), max: Some(0), ..Default::default() },
    )
    .unwrap();
    assert_eq!((w.groups[&name].desired, live_members(&w, "x").len()), (0, 0), "a max below it lowers it");
}

#[test]
fn update_group_refuses_invalid_changes() {
    let mut w = default_world();
    let r = east();
    let name = AutoScalingGroupName::new("x");
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_from("x", template_source(&lt, None), 1)).unwrap();
    let before = w.groups[&name].clone();
    let update = |min: Option<u32>, max: Option<u32>, desired: Option<u32>| UpdateAutoScalingGroupRequest {
        min,
        max,
        desired,
        launch: None,
    };
    let cases: Vec<(UpdateAutoScalingGroupRequest, (&str, &str))> = vec![
        (
            update(None, None, Some(2)),
            ("InvalidParameterValue", "Desired capacity:2 must be between the specified min size:0 and max size:1"),
        ),
        (
            update(Some(1), None, Some(0)),
            ("InvalidParameterValue", "Desired capacity:0 must be between the specified min size:1 and max size:1"),
        ),
        (
            update(Some(2), None, None),
            ("InvalidParameterValue", "Max bound, 1, must be greater than or equal to min bound, 2"),
        ),
        (
            update(None, Some(3), Some(4)),
            ("InvalidParameterValue", "Desired capacity:4 must be between the specified min size:0 and max size:3"),
        ),
        (
            UpdateAutoScalingGroupRequest { launch: Some(config_source("nope")), ..Default::default() },
            ("ValidationError", "Launch configuration name not found - Launch configuration nope not found"),
        ),
        (
            UpdateAutoScalingGroupRequest { launch: Some(template_source(&lt, Some(2))), ..Default::default() },
            ("InvalidParameterValue", "The specified launch template version 2 of lt-0001 does not exist"),
        ),
        (
            UpdateAutoScalingGroupRequest {
                launch: Some(template_source(&LaunchTemplateId::new("lt-ffff"), None)),
                ..Default::default()
            },
            (
                "InvalidLaunchTemplateId.NotFound",
                "The specified launch template, with template ID lt-ffff, does not exist.",
            ),
        ),
    ];
    for (request, (code, message)) in cases {
        let what = format!("{request:?}");
        assert_eq!(error(w.update_auto_scaling_group(&r, &name, request)), (code.into(), message.into()), "{what}");
        assert_eq!(w.groups[&name], before, "unchanged after {what}");
    }
    let missing = AutoScalingGroupName::new("nope");
    assert_eq!(kind(w.update_auto_scaling_group(&r, &missing, to_zero())), Err(K::AutoScalingGroupNotFound));
    assert_eq!(
        kind(w.update_auto_scaling_group(&Region::new("us-west-2"), &name, to_zero())),
        Err(K::AutoScalingGroupNotFound)
    );
}

fn to_zero() -> UpdateAutoScalingGroupRequest {
    UpdateAutoScalingGroupRequest { desired: Some(0), ..Default::default() }
}

fn image_states(w: &World, region: &Region) -> Vec<(String, String, ImageState)> {
    w.describe_images(region)
        .into_iter()
        .filter(|i| i.state != ImageState::Available || i.created_at.0 >= T0)
        .map(|i| (i.id.to_string(), i.name, i.state))
        .collect()
}

#[test]
fn create_and_copy_images() {
    use ImageState::*;
    let mut w = default_world();
    let (r, west) = (east(), Region::new("us-west-2"));
    let arm = w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0004", "")).unwrap().id;
    let name = "x-2026-11-25";
    assert_eq!(kind(w.create_image(&r, &arm, name, Tags::new())), Err(K::IncorrectInstanceState), "still pending");
    w.advance_clock_to(Timestamp(T0 + 30));
    let failures: &[(&str, &str, (&str, &str))] = &[
        ("i-ffff", name, ("InvalidInstanceID.NotFound", "The instance ID 'i-ffff' does not exist")),
        (
            "i-0001",
            "web-server-2026-08-04",
            ("InvalidAMIName.Duplicate", "AMI name web-server-2026-08-04 is already in use by AMI ami-0002"),
        ),
        (
            "i-0001",
            "x*",
            (
                "InvalidAMIName.Malformed",
                "AMI name 'x*' is invalid: AMI names must be between 3 and 128 characters long, and may contain \
                 letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
            ),
        ),
    ];
    for (instance, image_name, (code, message)) in failures {
        let got = error(w.create_image(&r, &InstanceId::new(*instance), image_name, Tags::new()));
        assert_eq!(got, (code.to_string(), message.to_string()), "image {image_name} of {instance}");
    }
    let image = w.create_image(&r, &arm, name, tags(&[("Name", "x")])).unwrap();
    assert_eq!(
        (image.id.as_str(), image.architecture, image.state, image.created_at, image.region.as_str()),
        ("ami-0009", Architecture::Arm64, Pending, Timestamp(T0 + 30), "us-east-1")
    );
    assert_eq!(image.tags, tags(&[("Name", "x")]));
    assert_eq!(
        error(w.create_image(&r, &arm, name, Tags::new())),
        ("InvalidAMIName.Duplicate".into(), "AMI name x-2026-11-25 is already in use by AMI ami-0009".into()),
        "a pending image holds its name"
    );
    // Not launchable, not copyable while pending.
    assert_eq!(
        error(w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", ""))),
        ("InvalidAMIID.Unavailable".into(), "The image id '[ami-0009]' is not available (it is pending)".into())
    );
    assert_eq!(
        kind(w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", ""))),
        Err(K::InvalidAmiIdNotFound),
        "the same kind as the AWS adapter gives this code"
    );
    assert_eq!(kind(w.copy_image(&r, &image.id, &west, name)), Err(K::IncorrectState));

    let steps: &[(u64, ImageState)] = &[(30 + 299, Pending), (30 + 300, Available)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(image_states(&w, &r), vec![("ami-0009".into(), name.into(), *expected)], "at T0+{secs}");
    }
    w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", "")).unwrap();

    // Copy to us-west-2: pending there for 10 minutes; the name must be free there.
    let copy_failures: &[(&str, &str, &str, K)] = &[
        ("ami-ffff", "us-west-2", name, K::InvalidAmiIdNotFound),
        ("ami-0003", "us-west-2", name, K::InvalidAmiIdNotFound),
        ("ami-0009", "us-west-2", "base-2026-08-04", K::Other("InvalidAMIName.Duplicate".into())),
        ("ami-0009", "eu-west-1", name, K::Other("UnknownRegion".into())),
    ];
    for (source, target, copy_name, expected) in copy_failures {
        let got = kind(w.copy_image(&r, &ImageId::new(*source), &Region::new(*target), copy_name));
        assert_eq!(got, Err(expected.clone()), "copy {source} to {target} as {copy_name}");
    }
    let copy = w.copy_image(&r, &image.id, &west, name).unwrap();
    let t_copy = 330;
    assert_eq!((copy.id.as_str(), copy.state, copy.architecture), ("ami-000a", Pending, Architecture::Arm64));
    assert!(copy.tags.is_empty(), "CopyImage does not copy tags by default");
    let steps: &[(u64, ImageState)] = &[(t_copy, Pending), (t_copy + 599, Pending), (t_copy + 600, Available)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(image_states(&w, &west), vec![("ami-000a".into(), name.into(), *expected)], "at T0+{secs}");
    }
    assert!(w.log.iter().any(|e| e.message == "image ami-000a (x-2026-11-25): pending -> available"));
    w.run_instance(&west, run_request("us-west-2a", "t4g.small", "ami-000a", "")).unwrap();

    // A failed image's name is free again.
    w.images.get_mut(&ImageId::new("ami-000a")).unwrap().state = Failed;
    w.copy_image(&r, &image.id, &west, name).unwrap();
}

#[test]
fn snapshots_complete_even_after_their_volume_is_deleted() {
    let mut w = default_world();
    let r = east();
    let v = volume(&mut w, "us-east-1a");
    assert_eq!(kind(w.create_snapshot(&r, &v, Tags::new())), Err(K::IncorrectState), "volume still creating");
    assert_eq!(kind(w.create_snapshot(&r, &VolumeId::new("vol-ffff"), Tags::new())), Err(K::InvalidVolumeNotFound));
    w.advance_clock_to(Timestamp(T0 + 5));
    assert_eq!(kind(w.create_snapshot(&Region::new("us-west-2"), &v, Tags::new())), Err(K::InvalidVolumeNotFound));
    let snap = w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap();
    assert_eq!(
        (snap.id.as_str(), &snap.volume, snap.size_gb, snap.state, snap.created_at),
        ("snap-0001", &v, 20, SnapshotState::Pending, Timestamp(T0 + 5))
    );
    w.delete_volume(&r, &v).unwrap();
    w.create_tags(&r, "snap-0001", tags(&[("k", "v")])).unwrap();
    assert_eq!(
        error(w.create_tags(&r, "snap-ffff", Tags::new())),
        ("InvalidSnapshot.NotFound".into(), "The snapshot 'snap-ffff' does not exist.".into())
    );
    let described = |w: &World, region: &Region, filter: &Filter| -> Vec<(String, SnapshotState)> {
        w.describe_snapshots(region, filter).into_iter().map(|s| (s.id.to_string(), s.state)).collect()
    };
    let x = Filter::Server(ServerName::new("x"));
    let steps: &[(u64, SnapshotState)] = &[(5 + 59, SnapshotState::Pending), (5 + 60, SnapshotState::Completed)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(described(&w, &r, &x), vec![("snap-0001".to_string(), *expected)], "at T0+{secs}");
    }
    assert!(described(&w, &r, &Filter::Server(ServerName::new("duvel"))).is_empty());
    assert!(described(&w, &Region::new("us-west-2"), &Filter::All).is_empty());
    assert_eq!(w.snapshots[&SnapshotId::new("snap-0001")].tags, tags(&[("Name", "x"), ("k", "v")]));
    assert!(w.log.iter().any(|e| e.message == "snapshot snap-0001: pending -> completed"));
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
}

#[test]
fn summary_shows_configurations_pending_images_and_snapshots() {
    let mut w = default_world();
    let r = east();
    w.create_launch_configuration(&r, "x-lc", spec("t3.small", "ami-0002")).unwrap();
    w.create_auto_scaling_group(&r, group_from("x", config_source("x-lc"), 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 30));
    let id = live_members(&w, "x")[0].clone();
    w.create_image(&r, &id, "x-2026-11-25", Tags::new()).unwrap();
    let v = volume(&mut w, "us-east-1a");
    w.advance_clock_to(Timestamp(T0 + 35));
    w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap();
    let summary = w.render_summary();
    for needle in [
        "launch configurations:\n    x-lc  t3.small  ami-0002\n",
        "x  lc:x-lc  us-east-1a  min 0 max 1 desired 1  instances i-0001",
        "ami-0009  x-2026-11-25  x86_64  pending\n",
        "ami-0002  web-server-2026-08-04  x86_64\n",
        "snap-0001  pending  of vol-0001  20 GiB  started 2026-11-25T00:00:35Z  [Name=x]",
        "region us-west-2 (zones a, b, c)\n",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
    let west = summary.split("region us-west-2").nth(1).unwrap();
    assert!(west.contains("launch configurations: none") && west.contains("snapshots: none"), "{west}");
}
