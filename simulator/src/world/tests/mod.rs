//! Unit tests of the world, by resource kind: instances, volumes, addresses and tags here;
//! `groups.rs` (launch templates, configurations, auto scaling groups), `images.rs`
//! (images, snapshots, their summary), `network.rs` (what a launch names: subnets,
//! security groups, instance profiles, key pairs).

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
        subnet: None,
        settings: LaunchSettings {
            instance_profile: Some(InstanceProfile::new("cellar-agent")),
            ..LaunchSettings::default()
        },
    }
}

fn launch(w: &mut World, zone_name: &str) -> InstanceId {
    w.run_instance(&east(), run_request(zone_name, "t3.small", "ami-0002", "")).unwrap().id
}

fn volume(w: &mut World, zone_name: &str) -> VolumeId {
    let request = CreateVolumeRequest {
        client_token: None,
        zone: zone(zone_name),
        size_gb: 20,
        tags: tags(&[("Name", "x"), (ROLE_TAG, "data")]),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
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
    let bad = CreateVolumeRequest {
        client_token: None,
        zone: zone("us-east-1z"),
        size_gb: 20,
        tags: Tags::new(),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    assert_eq!(kind(w.create_volume(&east(), bad)), Err(K::InvalidZoneNotFound));
    let huge = CreateVolumeRequest {
        client_token: None,
        zone: zone("us-east-1a"),
        size_gb: 70_000,
        tags: Tags::new(),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
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
    // The same token with other parameters is refused, and launches nothing.
    let mismatch = error(w.run_instance(&east(), run_request("us-east-1b", "t3.small", "ami-0002", "tok-1")));
    assert_eq!(mismatch.0, "IdempotentParameterMismatch", "{mismatch:?}");
    let mismatch = error(w.run_instance(&east(), run_request("us-east-1a", "t3.large", "ami-0002", "tok-1")));
    assert_eq!(mismatch.0, "IdempotentParameterMismatch", "{mismatch:?}");
    assert_eq!(w.instances.len(), 4);
}

#[test]
fn attach_and_detach_volumes() {
    let mut w = default_world();
    let r = east();
    let i_a = launch(&mut w, "us-east-1a");
    let v_a = volume(&mut w, "us-east-1a");
    let v_b = volume(&mut w, "us-east-1b");
    let v_c = volume(&mut w, "us-east-1a");
    // Volume still creating, instance still pending.
    assert_eq!(kind(w.attach_volume(&r, &v_a, &i_a, "/dev/sdf")), Err(K::IncorrectState));
    w.advance_clock_to(Timestamp(T0 + 10));
    assert_eq!(kind(w.attach_volume(&r, &v_a, &i_a, "/dev/sdf")), Err(K::IncorrectInstanceState));
    w.advance_clock_to(Timestamp(T0 + 30));
    let checks: &[(&VolumeId, &str, Result<(), K>)] = &[
        (&v_b, "/dev/sdf", Err(K::VolumeZoneMismatch)),
        (&v_a, "/dev/sdf", Ok(())),
        (&v_a, "/dev/sdg", Err(K::VolumeInUse)),
        // A second volume: not at a device in use, nor at a name EC2 does not take.
        (&v_c, "/dev/sdf", Err(K::InvalidParameterValue)),
        (&v_c, "/dev/nvme1n1", Err(K::InvalidParameterValue)),
        (&v_c, "sdg", Err(K::InvalidParameterValue)),
        (&v_c, "/dev/sdg", Ok(())),
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
        settings: LaunchSettings::default(),
    };
    let request =
        CreateLaunchTemplateRequest { name: name.into(), spec, tags: tags(&[("Name", name)]), client_token: None };
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
        subnets: vec![],
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

fn spec(instance_type: &str, image: &str) -> LaunchSpec {
    LaunchSpec {
        instance_type: InstanceType::new(instance_type),
        image: ImageId::new(image),
        user_data: String::new(),
        settings: LaunchSettings::default(),
    }
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
    assert_eq!(zones, vec![("us-east-1".into(), 6), ("us-west-2".into(), 4)]);
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
        "region us-east-1 (zones a, b, c, d, e, f)",
        "i-0001  running  us-east-1a  t3.small  ami-0002  profile cellar-agent  [Name=x]",
        "eipalloc-0001  198.51.100.1  unassociated  [Name=duvel]",
        "us-east-1b m5.large: 0 more launches",
        "Elastic IP quota: 5 per region",
        "cellar-agent: autoscaling:DescribeAutoScalingInstances, ",
        "chimay.imarc.net -> 198.51.100.9",
        "i-0001: pending -> running",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
}

mod backups;
mod groups;
mod images;
mod index;
mod network;
mod shards;
mod tokens;
mod visibility;

/// A world with a group, a volume and an address in use, changed by `edit` as a hand-edited
/// state file could be: `check_consistency` finds the expected problem (or none).
fn check_consistency(edit: impl FnOnce(&mut World), expected: Result<(), &str>) {
    let mut w = default_world();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&east(), group_request("x", &lt, 1)).unwrap();
    let v = volume(&mut w, "us-east-1a");
    w.advance_clock_to(Timestamp(T0 + 30));
    let id = live_members(&w, "x")[0].clone();
    w.attach_volume(&east(), &v, &id, "/dev/sdf").unwrap();
    w.associate_address(&east(), &AllocationId::new("eipalloc-0001"), &id).unwrap();
    edit(&mut w);
    let reloaded = parse_world(&render_world(&w)).unwrap();
    assert_eq!(reloaded.check_consistency().as_ref().map(|_| ()).map_err(String::as_str), expected);
}

#[test]
fn hand_edited_worlds_are_checked() {
    let gone = |w: &mut World| {
        w.instances.clear();
    };
    check_consistency(|_| {}, Ok(()));
    check_consistency(
        |w| w.now = Timestamp(MAX_CLOCK.0 + 1),
        Err("the clock (253402300800) is past 9990-01-02T23:59:59Z, the latest a world may stand at (the years after are for its waits)"),
    );
    check_consistency(|w| w.millis = 1000, Err("millis is 1000, not below 1000"));
    check_consistency(
        |w| w.faults.boot_secs = Some(u64::MAX),
        Err("faults.boot_secs is 18446744073709551615, above the limit of 86400 (one day); use a smaller value"),
    );
    check_consistency(
        |w| {
            w.dns.insert("x.net".into(), vec!["not-an-ip".into()]);
        },
        Err("dns: \"not-an-ip\" is not an IPv4 address (an A record for x.net holds dotted-decimal IPv4 addresses \
             such as 198.51.100.7)"),
    );
    check_consistency(
        |w| {
            w.counters.insert("i".into(), u64::MAX);
        },
        Err("the id counter for \"i\" is 18446744073709551615, above 281474976710656"),
    );
    check_consistency(
        |w| w.templates.values_mut().for_each(|t| t.versions.clear()),
        Err("launch template lt-0001 has no versions"),
    );
    check_consistency(
        |w| w.groups.values_mut().for_each(|g| g.zones.clear()),
        Err("auto scaling group x has no zones"),
    );
    check_consistency(
        |w| w.groups.values_mut().for_each(|g| g.desired = 5),
        Err("auto scaling group x has desired capacity 5 outside its min 1 and max 1"),
    );
    check_consistency(gone, Err("auto scaling group x lists instance i-0001, which does not exist"));
    check_consistency(
        |w| {
            w.groups.clear();
            gone(w);
        },
        Err("volume vol-0001 is attached to instance i-0001, which does not exist"),
    );
    check_consistency(
        |w| {
            w.groups.clear();
            w.volumes.clear();
            gone(w);
        },
        Err("address eipalloc-0001 is associated with instance i-0001, which does not exist"),
    );
    check_consistency(
        |w| w.instances.values_mut().for_each(|i| i.instance_profile = Some("cellar agent".into())),
        Err("instances: i-0001: instance_profile: \"cellar agent\" is not an instance profile name (1-128 letters, digits and + = , . @ _ -)"),
    );
    check_consistency(
        |w| {
            w.instance_profiles.insert("cellar agent".into(), Default::default());
        },
        Err("instance_profiles: \"cellar agent\" is not an instance profile name (1-128 letters, digits and + = , . @ _ -)"),
    );
    check_consistency(
        |w| {
            w.instance_profiles.insert("x".into(), ["AttachVolume".to_string()].into());
        },
        Err(
            "instance_profiles: x: \"AttachVolume\" is not an IAM action (service:Operation, such as ec2:AttachVolume)",
        ),
    );
    check_consistency(
        |w| {
            w.console.insert(InstanceId::new("i-0009"), vec!["hello".into()]);
        },
        Err("console names instance i-0009, which does not exist"),
    );
    check_consistency(
        |w| {
            w.image_devices.insert(ImageId::new("ami-0099"), vec![]);
        },
        Err("image_devices lists image ami-0099, which does not exist"),
    );
}

/// Five Elastic IPs per region (AWS's default quota): the sixth AllocateAddress in a region
/// fails with AddressLimitExceeded and changes nothing; another region has its own five;
/// a raised quota allows more, and releasing one makes room. Today's simulator has no quota.
#[test]
fn elastic_ips_are_limited_per_region() {
    let mut w = default_world();
    let r = east();
    assert_eq!(w.address_limit(), DEFAULT_ADDRESS_LIMIT);
    for _ in 0..4 {
        w.allocate_address(&r, Tags::new()).unwrap();
    }
    let before = w.clone_without_log();
    let e = w.allocate_address(&r, Tags::new()).unwrap_err();
    assert_eq!((e.code.as_str(), e.kind.clone()), ("AddressLimitExceeded", K::Other("AddressLimitExceeded".into())));
    assert!(!e.retryable(), "a quota does not lift by retrying");
    assert_eq!(w.clone_without_log(), before, "a refusal changes nothing");
    for _ in 0..5 {
        w.allocate_address(&Region::new("us-west-2"), Tags::new()).unwrap();
    }
    w.release_address(&r, &AllocationId::new("eipalloc-0001")).unwrap();
    w.allocate_address(&r, Tags::new()).unwrap();
    w.set_address_limit(6).unwrap();
    w.allocate_address(&r, Tags::new()).unwrap();
    assert!(w.set_address_limit(addresses_max() + 1).is_err());
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w, "the quota is saved");
}

fn addresses_max() -> u32 {
    super::addresses::MAX_ADDRESS_LIMIT
}

/// The log keeps the last [`LOG_KEEP`] events, in memory and through the state file; a
/// file with more (written before the limit) loads with its last ones.
#[test]
fn the_log_keeps_the_most_recent_events() {
    let check = |w: &World, first: usize, last: usize| {
        let messages: Vec<&str> = w.log().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), last + 1 - first);
        assert_eq!(
            (messages[0], messages[messages.len() - 1]),
            (&*format!("event {first}"), &*format!("event {last}"))
        );
    };
    let mut w = World::new(Timestamp(T0), Vec::new());
    for n in 0..LOG_KEEP + 5 {
        w.record(format!("event {n}"));
    }
    check(&w, 5, LOG_KEEP + 4);
    let loaded = parse_world(&render_world(&w)).unwrap();
    assert_eq!(loaded, w);
    // An older file with more entries than the window.
    let mut text = render_world(&w);
    let extra: String = (LOG_KEEP + 5..LOG_KEEP + 8).map(|n| format!("(at: {T0}, message: \"event {n}\"),")).collect();
    let at = text.rfind(']').expect("the log's closing bracket");
    text.insert_str(at, &extra);
    let loaded = parse_world(&text).unwrap();
    check(&loaded, 8, LOG_KEEP + 7);
}
