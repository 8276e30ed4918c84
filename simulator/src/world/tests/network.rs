//! The network a launch names: what RunInstances, launch templates, launch configurations
//! and groups refuse, with AWS's error codes (EC2's error code reference: InvalidGroup.NotFound,
//! InvalidSubnetID.NotFound, InvalidKeyPair.NotFound, InvalidParameter for "a security group
//! and a subnet in different VPCs", InvalidParameterValue for a bad parameter value).
//! Before the network model the simulator launched all of these.

use super::*;

/// The default world plus a second VPC of us-east-1 (`vpc-00000003`) with a subnet in
/// us-east-1a (`subnet-0000000b`) and its default group (`sg-00000005`); a key pair `ops`.
fn world() -> World {
    let mut w = default_world();
    let vpc = w.add_vpc(&east(), false).unwrap();
    assert_eq!(vpc.as_str(), "vpc-00000003");
    assert_eq!(w.add_subnet(&vpc, &zone("us-east-1a")).unwrap().as_str(), "subnet-0000000b");
    w.add_key_pair(&east(), "ops").unwrap();
    w
}

/// What a launch names, changed from `run_request`'s (cellar-agent, default VPC).
struct Launch {
    subnet: Option<&'static str>,
    groups: &'static [&'static str],
    profile: Option<&'static str>,
    key: Option<&'static str>,
}

const PLAIN: Launch = Launch { subnet: None, groups: &[], profile: Some("cellar-agent"), key: None };

fn settings(l: &Launch) -> LaunchSettings {
    LaunchSettings {
        instance_profile: l.profile.map(InstanceProfile::new),
        security_groups: l.groups.iter().map(|g| SecurityGroupId::new(*g)).collect(),
        key_name: l.key.map(KeyName::new),
        ..LaunchSettings::default()
    }
}

/// RunInstances in us-east-1a with `l`: Ok with (subnet, groups) of the instance, or the
/// error code; a refusal launches nothing.
fn check_run(l: Launch, expected: Result<(&str, &[&str]), &str>) {
    let mut w = world();
    let request = RunInstanceRequest {
        subnet: l.subnet.map(SubnetId::new),
        settings: settings(&l),
        ..run_request("us-east-1a", "t3.small", "ami-0002", "")
    };
    let got = w.run_instance(&east(), request).map(|i| {
        let sim = &w.instances[&i.id];
        let groups: Vec<String> = sim.security_groups.iter().map(|g| g.to_string()).collect();
        (sim.subnet.as_ref().map(|s| s.to_string()).unwrap_or_default(), groups)
    });
    match (got, expected) {
        (Ok((subnet, groups)), Ok((want_subnet, want_groups))) => {
            assert_eq!((subnet.as_str(), groups), (want_subnet, want_groups.iter().map(|g| g.to_string()).collect()));
        }
        (Err(e), Err(code)) => {
            assert_eq!(e.code, code, "{}", e.message);
            assert!(w.instances.is_empty(), "a refused launch launched something");
        }
        (got, expected) => panic!("expected {expected:?}, got {got:?}"),
    }
}

#[test]
fn run_instances_checks_the_network_and_what_it_names() {
    // The default VPC's subnet of the zone and its default group, when nothing is named.
    check_run(PLAIN, Ok(("subnet-00000001", &["sg-00000001"])));
    check_run(
        Launch { groups: &["sg-00000002"], key: Some("ops"), ..PLAIN },
        Ok(("subnet-00000001", &["sg-00000002"])),
    );
    check_run(Launch { subnet: Some("subnet-0000000b"), ..PLAIN }, Ok(("subnet-0000000b", &["sg-00000005"])));
    check_run(Launch { groups: &["sg-0000dead"], ..PLAIN }, Err("InvalidGroup.NotFound"));
    check_run(Launch { groups: &["sg-00000004"], ..PLAIN }, Err("InvalidGroup.NotFound") /* us-west-2's */);
    check_run(Launch { subnet: Some("subnet-0000dead"), ..PLAIN }, Err("InvalidSubnetID.NotFound"));
    check_run(
        Launch { subnet: Some("subnet-00000007"), ..PLAIN },
        Err("InvalidSubnetID.NotFound"), /* us-west-2a */
    );
    check_run(Launch { subnet: Some("subnet-00000002"), ..PLAIN }, Err("InvalidParameterValue") /* us-east-1b */);
    check_run(Launch { subnet: Some("subnet-0000000b"), groups: &["sg-00000002"], ..PLAIN }, Err("InvalidParameter"));
    check_run(Launch { groups: &["sg-00000005"], ..PLAIN }, Err("InvalidParameter") /* the other VPC's group */);
    check_run(Launch { profile: Some("web-agent"), ..PLAIN }, Err("InvalidParameterValue"));
    check_run(
        Launch { profile: Some("arn:aws:iam::123456789012:instance-profile/web-agent"), ..PLAIN },
        Err("InvalidParameterValue"),
    );
    check_run(
        Launch { profile: Some("arn:aws:iam::123456789012:instance-profile/cellar-agent"), ..PLAIN },
        Ok(("subnet-00000001", &["sg-00000001"])),
    );
    check_run(Launch { key: Some("nobody"), ..PLAIN }, Err("InvalidKeyPair.NotFound"));
    // An instance launched without a profile has none (no credentials), as on AWS.
    check_run(Launch { profile: None, ..PLAIN }, Ok(("subnet-00000001", &["sg-00000001"])));
    let mut w = world();
    let request = RunInstanceRequest {
        settings: settings(&Launch { profile: None, ..PLAIN }),
        ..run_request("us-east-1a", "t3.small", "ami-0002", "")
    };
    let id = w.run_instance(&east(), request).unwrap().id;
    assert_eq!(w.instance_profile(&id), None);
}

/// CreateLaunchTemplate (and CreateLaunchConfiguration) with `l`'s settings: Ok, or the code.
fn check_settings(l: Launch, expected: Result<(), &str>) {
    let mut w = world();
    let spec = LaunchSpec { settings: settings(&l), ..spec("t3.small", "ami-0002") };
    let request =
        CreateLaunchTemplateRequest { name: "x".into(), spec: spec.clone(), tags: Tags::new(), client_token: None };
    let got = w.create_launch_template(&east(), request).map(|_| ()).map_err(|e| e.code);
    assert_eq!(got, expected.map_err(str::to_string), "template");
    // Auto Scaling says ValidationError where EC2 names the missing thing.
    let got = w.create_launch_configuration(&east(), "x-v1", spec).map(|_| ()).map_err(|e| e.code);
    let expected = expected.map_err(|c| if c == "InvalidGroup.NotFound" { "ValidationError" } else { c });
    assert_eq!(got, expected.map_err(str::to_string), "configuration");
}

/// A launch configuration cannot carry a KMS key for its root volume (Auto Scaling's `Ebs`
/// has no KmsKeyId); a launch template can.
#[test]
fn a_root_volume_kms_key_needs_a_launch_template() {
    let mut w = world();
    let root = RootVolume {
        device: "/dev/xvda".into(),
        size_gb: Some(16),
        volume_type: VolumeType::Gp3,
        encrypted: true,
        kms_key: Some("alias/ebs".into()),
    };
    let settings = LaunchSettings { root_volume: Some(root), ..settings(&PLAIN) };
    let spec = LaunchSpec { settings, ..spec("t3.small", "ami-0002") };
    let e = w.create_launch_configuration(&east(), "x-v1", spec.clone()).unwrap_err();
    assert_eq!(e.code, "ValidationError", "{}", e.message);
    let request = CreateLaunchTemplateRequest { name: "x".into(), spec, tags: Tags::new(), client_token: None };
    w.create_launch_template(&east(), request).unwrap();
}

#[test]
fn launch_settings_are_checked_when_written() {
    check_settings(PLAIN, Ok(()));
    check_settings(Launch { groups: &["sg-00000002"], key: Some("ops"), ..PLAIN }, Ok(()));
    check_settings(Launch { groups: &["sg-0000dead"], ..PLAIN }, Err("InvalidGroup.NotFound"));
    check_settings(Launch { groups: &["sg-00000002", "sg-00000005"], ..PLAIN }, Err("InvalidParameter"));
    check_settings(Launch { profile: Some("web-agent"), ..PLAIN }, Err("InvalidParameterValue"));
    check_settings(Launch { key: Some("nobody"), ..PLAIN }, Err("InvalidKeyPair.NotFound"));
}

/// A group's subnet must be in its zone, and in the VPC of its launch settings' groups.
#[test]
fn groups_check_their_subnets() {
    let check = |groups: &'static [&'static str], subnet: &str, expected: Result<(), &str>| {
        let mut w = world();
        let spec = LaunchSpec { settings: settings(&Launch { groups, ..PLAIN }), ..spec("t3.small", "ami-0002") };
        w.create_launch_configuration(&east(), "x-v1", spec).unwrap();
        let request = CreateAutoScalingGroupRequest {
            subnets: vec![SubnetId::new(subnet)],
            ..group_from("x", config_source("x-v1"), 1)
        };
        let got = w.create_auto_scaling_group(&east(), request).map_err(|e| e.code);
        assert_eq!(got, expected.map_err(str::to_string), "{groups:?} {subnet}");
    };
    check(&[], "subnet-00000001", Ok(()));
    check(&["sg-00000005"], "subnet-0000000b", Ok(()));
    check(&[], "subnet-0000dead", Err("ValidationError"));
    check(&[], "subnet-00000002", Err("ValidationError"));
    check(&["sg-00000002"], "subnet-0000000b", Err("ValidationError"));
}

/// `sim show` shows each region's network: VPCs, their subnets and groups, key pairs.
#[test]
fn the_summary_shows_the_network() {
    let summary = world().render_summary();
    for needle in [
        "  network:\n    vpc-00000001 (default VPC)\n      subnet subnet-00000001  us-east-1a  default for its zone\n",
        "      security groups: sg-00000001 default, sg-00000002 web\n",
        "    vpc-00000003\n      subnet subnet-0000000b  us-east-1a\n      security groups: sg-00000005 default\n    key pairs: ops\n",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
}

/// A group launches with its launch settings: when the instance profile they name is
/// deleted, the group's next launch fails with RunInstances' code (as a scaling activity),
/// and no instance comes up without a profile.
#[test]
fn a_groups_launch_naming_a_deleted_profile_fails() {
    let mut w = world();
    let spec = LaunchSpec { settings: settings(&PLAIN), ..spec("t3.small", "ami-0002") };
    let request = CreateLaunchTemplateRequest { name: "x".into(), spec, tags: Tags::new(), client_token: None };
    let lt = w.create_launch_template(&east(), request).unwrap().id;
    w.create_auto_scaling_group(&east(), group_request("x", &lt, 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    let first = live_members(&w, "x")[0].clone();
    assert_eq!(w.instance_profile(&first), Some("cellar-agent"));
    w.remove_instance_profile("cellar-agent").unwrap();
    w.terminate_instance_by_amazon(&first).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60 + 150));
    assert!(live_members(&w, "x").is_empty());
    let failed = w.groups[&AutoScalingGroupName::new("x")].activities.iter().find(|a| !a.succeeded).cloned();
    let failed = failed.expect("a failed launch");
    assert_eq!(failed.error_code.as_deref(), Some("InvalidParameterValue"), "{}", failed.description);
    assert!(failed.description.contains("iamInstanceProfile.name"), "{}", failed.description);
}
