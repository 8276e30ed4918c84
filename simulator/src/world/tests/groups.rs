//! Launch templates, launch configurations and auto scaling groups.

use super::*;

#[test]
fn launch_templates_and_versions() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    assert_eq!(lt.as_str(), "lt-0001");
    let dup = CreateLaunchTemplateRequest {
        name: "x".into(),
        spec: w.templates[&lt].versions[0].clone(),
        tags: Tags::new(),
        client_token: None,
    };
    assert_eq!(kind(w.create_launch_template(&r, dup)), Err(K::AlreadyExists));
    let mut spec = w.templates[&lt].versions[0].clone();
    spec.image = ImageId::new("ami-0001");
    let model = w.create_launch_template_version(&r, &lt, spec, None).unwrap();
    assert_eq!((model.latest_version, model.default_version, model.latest.image.as_str()), (2, 1, "ami-0001"));
    w.create_auto_scaling_group(&r, group_request("x", &lt, 0)).unwrap();
    assert_eq!(kind(w.delete_launch_template(&r, &lt)), Err(K::ResourceInUse));
    w.delete_auto_scaling_group(&r, &AutoScalingGroupName::new("x"), false).unwrap();
    assert_eq!(kind(w.delete_launch_template(&r, &lt)), Err(K::ResourceInUse), "the group is still being deleted");
    w.advance_clock_to(Timestamp(T0 + GROUP_DELETE_SECS));
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
        // Auto Scaling's word for a launch template that does not exist: ValidationError.
        (group_request("x", &LaunchTemplateId::new("lt-ffff"), 1), K::InvalidParameterValue),
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
    assert!(w.describe_auto_scaling_groups(&r, &Filter::All)[0].deleting, "until its instance is terminated");
    let now = w.now().0;
    w.advance_clock_to(Timestamp(now + SHUTDOWN_SECS.max(GROUP_DELETE_SECS) + GROUP_DELETE_SECS));
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
    // AWS raises the desired capacity by one and refuses above the maximum, even when the
    // group's own instance is gone: desired 1 of max 1 takes no second instance.
    let another = launch(&mut w, "us-east-1a");
    let refused = error(w.attach_instance_to_group(&r, &name, &another));
    assert_eq!(refused.0, "ValidationError", "{refused:?}");
    assert!(refused.1.contains("above its maximum 1"), "{refused:?}");
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
    assert_eq!(error(w.delete_launch_configuration(&r, "x-2026-11-25")), in_use, "the group is being deleted");
    w.advance_clock_to(Timestamp(T0 + 30 + SHUTDOWN_SECS + GROUP_DELETE_SECS));
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
    let model = w.create_launch_template_version(&r, &lt, spec("t3.medium", "ami-0001"), None).unwrap();
    assert_eq!((model.latest_version, model.latest.instance_type.as_str()), (2, "t3.medium"));
    assert_eq!(
        kind(w.create_launch_template_version(
            &r,
            &LaunchTemplateId::new("lt-ffff"),
            spec("t3.small", "ami-0002"),
            None
        )),
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
        placement: None,
    };
    let moving = |zones: &[&str], subnets: &[&str]| UpdateAutoScalingGroupRequest {
        placement: Some((zones.iter().map(|z| zone(z)).collect(), subnets.iter().map(|s| SubnetId::new(*s)).collect())),
        ..Default::default()
    };
    let in_b = w.subnets.values().find(|s| s.zone == zone("us-east-1b")).expect("default subnet").id.to_string();
    let cases: Vec<(UpdateAutoScalingGroupRequest, (&str, &str))> = vec![
        (moving(&[], &[]), ("InvalidParameterValue", "At least one Availability Zone is required")),
        (
            moving(&["us-east-1c"], &[&in_b]),
            (
                "ValidationError",
                "The availability zones of the specified subnets and the Auto Scaling group do not match",
            ),
        ),
        (moving(&["us-east-1c"], &["subnet-ffff"]), ("ValidationError", "The subnet ID 'subnet-ffff' does not exist")),
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
                "ValidationError",
                "You must use a valid fully-formed launch template. The specified launch template, with template ID lt-ffff, does not exist.",
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

/// UpdateAutoScalingGroup with new zones (restore-server --zone): as on AWS, a member in a
/// zone the group leaves is terminated and its replacement launches in the new zone.
#[test]
fn moving_a_group_to_another_zone_replaces_its_member_there() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_from("x", template_source(&lt, None), 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 120));
    let first = live_members(&w, "x");
    assert_eq!(first.len(), 1);
    assert_eq!(w.instances[&first[0]].zone, zone("us-east-1a"));
    let in_b = w.subnets.values().find(|s| s.zone == zone("us-east-1b")).expect("default subnet").id.clone();
    let update = UpdateAutoScalingGroupRequest {
        placement: Some((vec![zone("us-east-1b")], vec![in_b.clone()])),
        ..Default::default()
    };
    w.update_auto_scaling_group(&r, &AutoScalingGroupName::new("x"), update).unwrap();
    let group = &w.groups[&AutoScalingGroupName::new("x")];
    assert_eq!((group.zones.clone(), group.subnets.clone()), (vec![zone("us-east-1b")], vec![in_b]));
    assert!(!w.instances[&first[0]].is_live() || w.instances[&first[0]].state == InstanceState::ShuttingDown);
    w.advance_clock_to(Timestamp(T0 + 600));
    let now = live_members(&w, "x");
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first);
    assert_eq!(w.instances[&now[0]].zone, zone("us-east-1b"));
    assert_eq!(state(&w, &first[0]), Some(InstanceState::Terminated));
}

fn to_zero() -> UpdateAutoScalingGroupRequest {
    UpdateAutoScalingGroupRequest { desired: Some(0), ..Default::default() }
}

/// DeleteAutoScalingGroup is asynchronous, as on AWS: the group stays, deleting, while its
/// instances terminate, refusing what AWS refuses (each with AWS's code), then disappears.
#[test]
fn group_deletion_is_asynchronous() {
    let mut w = default_world();
    let r = east();
    let lc = "x-v1";
    w.create_launch_configuration(&r, lc, spec("t3.small", "ami-0001")).unwrap();
    w.create_auto_scaling_group(&r, group_from("x", config_source(lc), 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 30));
    let member = live_members(&w, "x")[0].clone();
    let name = AutoScalingGroupName::new("x");
    w.delete_auto_scaling_group(&r, &name, true).unwrap();
    let deleted_at = T0 + 30;

    let described = w.describe_auto_scaling_groups(&r, &Filter::All);
    assert_eq!(
        described.iter().map(|g| (g.name.as_str(), g.deleting, g.instances.clone())).collect::<Vec<_>>(),
        vec![("x", true, vec![member.clone()])],
        "described, delete in progress, with its terminating member"
    );
    assert_eq!(state(&w, &member), Some(InstanceState::ShuttingDown));
    let refusals: Vec<(&str, CloudResult<()>, (&str, &str))> = vec![
        (
            "a group of the same name",
            w.clone().create_auto_scaling_group(&r, group_from("x", config_source(lc), 1)),
            ("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name x already exists"),
        ),
        (
            "an update",
            w.clone().update_auto_scaling_group(&r, &name, to_zero()),
            ("ValidationError", "The AutoScaling group may not be modified while it is pending delete"),
        ),
        (
            "an attach",
            {
                let mut w = w.clone();
                let other = launch(&mut w, "us-east-1a");
                w.attach_instance_to_group(&r, &name, &other)
            },
            ("ValidationError", "The AutoScaling group may not be modified while it is pending delete"),
        ),
        (
            "deleting its launch configuration",
            w.clone().delete_launch_configuration(&r, lc),
            ("ResourceInUse", "Cannot delete launch configuration x-v1 because it is attached to AutoScalingGroup x"),
        ),
        (
            "a second delete",
            w.clone().delete_auto_scaling_group(&r, &name, true),
            (
                "ScalingActivityInProgress",
                "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.",
            ),
        ),
    ];
    for (what, result, (code, message)) in refusals {
        assert_eq!(error(result), (code.to_string(), message.to_string()), "{what}");
    }
    assert_eq!(K::from_code("ScalingActivityInProgress"), K::ResourceInUse);
    assert_eq!(K::from_code("ValidationError"), K::InvalidParameterValue);

    // Saved and loaded, the deleting state stays.
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
    assert!(w.render_summary().contains("DELETE IN PROGRESS"), "{}", w.render_summary());

    // Nothing is launched in its place while it is deleting; it is looked at every
    // GROUP_DELETE_SECS and disappears at the first look after its member terminated.
    w.advance_clock_to(Timestamp(deleted_at + GROUP_DELETE_SECS));
    assert_eq!(state(&w, &member), Some(InstanceState::ShuttingDown));
    assert!(w.groups.contains_key(&name), "its member still shuts down");
    w.advance_clock_to(Timestamp(deleted_at + 2 * GROUP_DELETE_SECS - 1));
    assert_eq!(state(&w, &member), Some(InstanceState::Terminated));
    assert!(w.groups.contains_key(&name), "not looked at again yet");
    w.advance_clock_to(Timestamp(deleted_at + 2 * GROUP_DELETE_SECS));
    assert!(w.describe_auto_scaling_groups(&r, &Filter::All).is_empty(), "gone");
    assert_eq!(w.instances.keys().cloned().collect::<Vec<_>>(), vec![member], "nothing launched in its place");
    assert_eq!(kind(w.delete_auto_scaling_group(&r, &name, true)), Err(K::AutoScalingGroupNotFound));
    w.delete_launch_configuration(&r, lc).unwrap();
    w.create_launch_configuration(&r, lc, spec("t3.small", "ami-0001")).unwrap();
    w.create_auto_scaling_group(&r, group_from("x", config_source(lc), 1)).unwrap();
    assert!(!w.groups[&name].deleting, "the name is free again");
}

#[test]
fn state_files_without_the_deleting_field_load() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_request("x", &lt, 0)).unwrap();
    let text = render_world(&w);
    assert!(!text.contains("deleting"), "not written while false: {text}");
    let loaded = parse_world(&text).unwrap();
    assert!(!loaded.groups[&AutoScalingGroupName::new("x")].deleting);
}

/// Server locks share the launch templates' namespace (a name is taken once per region),
/// survive the state file, and a broken one is caught by the consistency check.
#[test]
fn server_locks() {
    use cellar_engine::lock::{object_name, LockHolder};
    let mut w = default_world();
    let r = east();
    let server = ServerName::new("ommegang");
    let holder = LockHolder { pid: Some(42), command: Some("cellar apply p.ron".into()), ..LockHolder::default() };
    assert_eq!(w.describe_server_lock(&r, &server), None);
    w.create_server_lock(&r, &server, &holder).unwrap();
    let again = w.create_server_lock(&r, &server, &LockHolder::default()).unwrap_err();
    assert_eq!(
        (again.kind, again.code.as_str()),
        (K::AlreadyExists, "InvalidLaunchTemplateName.AlreadyExistsException")
    );
    assert_eq!(w.describe_server_lock(&r, &server), Some(holder.clone()));
    assert_eq!(w.describe_server_lock(&Region::new("us-west-2"), &server), None, "per region");
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.micro"),
        image: ImageId::new("ami-0001"),
        user_data: String::new(),
        settings: LaunchSettings::default(),
    };
    let same_name = CreateLaunchTemplateRequest {
        name: object_name(&server),
        spec: spec.clone(),
        tags: Tags::new(),
        client_token: None,
    };
    assert_eq!(kind(w.create_launch_template(&r, same_name)), Err(K::AlreadyExists), "one namespace");
    assert!(w.describe_launch_templates(&r, &Filter::Server(server.clone())).is_empty(), "no server's resource");
    let reloaded = parse_world(&render_world(&w)).unwrap();
    assert_eq!(reloaded.describe_server_lock(&r, &server), Some(holder));
    assert_eq!(reloaded.check_consistency(), Ok(()));
    w.delete_server_lock(&r, &server).unwrap();
    assert_eq!(kind(w.delete_server_lock(&r, &server)), Err(K::InvalidLaunchTemplateNotFound));
    assert_eq!(render_world(&w), render_world(&parse_world(&render_world(&w)).unwrap()));
    assert!(!render_world(&w).contains("locks:"), "no locks, no field: older state files stay as they were");
    // A hand-edited lock under another server's name is refused.
    let text = render_world(&reloaded).replace("\"cellar:lock\": \"ommegang\"", "\"cellar:lock\": \"duvel\"");
    let edited = parse_world(&text).unwrap();
    assert!(edited.check_consistency().unwrap_err().contains("cellar-lock.ommegang"), "{text}");
}
