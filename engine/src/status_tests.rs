use super::*;

fn tags() -> Tags {
    Tags::from([(NAME_TAG.to_string(), "ale".to_string())])
}

fn instance(id: &str, state: InstanceState) -> Instance {
    Instance {
        id: InstanceId::new(id),
        state,
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("m5.large"),
        image: ImageId::new("ami-1"),
        architecture: Architecture::X86_64,
        public_ip: None,
        launched_at: Timestamp(0),
        tags: tags(),
        group: None,
        launched_from: None,
    }
}

fn volume(attached_to: Option<&str>) -> Volume {
    let mut t = tags();
    t.insert(ROLE_TAG.into(), crate::agent::DATA_ROLE.into());
    Volume {
        id: VolumeId::new("vol-1"),
        state: if attached_to.is_some() { VolumeState::InUse } else { VolumeState::Available },
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        attached_to: attached_to.map(InstanceId::new),
        device: None,
        tags: t,
        ebs: EbsSettings::default(),
    }
}

fn address(associated_to: Option<&str>) -> Address {
    Address {
        allocation_id: AllocationId::new("eipalloc-1"),
        public_ip: "198.51.100.1".into(),
        associated_to: associated_to.map(InstanceId::new),
        tags: tags(),
    }
}

fn group(activities: &[(bool, &str)]) -> AutoScalingGroup {
    AutoScalingGroup {
        name: AutoScalingGroupName::new("ale"),
        launch: LaunchSource::Template { id: LaunchTemplateId::new("lt-1"), version: None },
        zones: vec![Zone::new("us-east-1a")],
        subnets: vec![],
        min: 1,
        max: 1,
        desired: 1,
        instances: vec![],
        activities: activities
            .iter()
            .map(|(ok, d)| ScalingActivity {
                at: Timestamp(0),
                succeeded: *ok,
                description: d.to_string(),
                error_code: (!ok).then(|| "InsufficientInstanceCapacity".to_string()),
                zones: vec![Zone::new("us-east-1a")],
            })
            .collect(),
        tags: tags(),
        deleting: false,
    }
}

fn check(resources: ServerResources, expected: (Health, &str)) {
    let s = assess(&ServerName::new("ale"), &Region::new("us-east-1"), &resources);
    assert_eq!((s.health, s.reason.as_str()), expected, "{resources:#?}");
}

#[test]
fn health() {
    let r = |instances, volume: Option<Volume>, address: Option<Address>, groups| ServerResources {
        instances,
        volumes: volume.into_iter().collect(),
        addresses: address.into_iter().collect(),
        launch_templates: vec![],
        launch_configurations: vec![],
        groups,
        snapshots: vec![],
    };
    use InstanceState::*;
    check(
        r(vec![instance("i-1", Running)], Some(volume(Some("i-1"))), Some(address(Some("i-1"))), vec![group(&[])]),
        (Health::Healthy, ""),
    );
    check(
        r(vec![instance("i-1", Running)], Some(volume(None)), Some(address(Some("i-1"))), vec![group(&[])]),
        (Health::Degraded, "data volume vol-1 is not attached to i-1"),
    );
    check(
        r(vec![instance("i-1", Running)], Some(volume(Some("i-1"))), Some(address(None)), vec![]),
        (Health::Degraded, "Elastic IP 198.51.100.1 is not associated with i-1"),
    );
    // Attached or associated, but to another instance (the old one of a replacement):
    // not the server's.
    check(
        r(vec![instance("i-1", Running)], Some(volume(Some("i-9"))), Some(address(Some("i-1"))), vec![group(&[])]),
        (Health::Degraded, "data volume vol-1 is not attached to i-1"),
    );
    check(
        r(vec![instance("i-1", Running)], Some(volume(Some("i-1"))), Some(address(Some("i-9"))), vec![group(&[])]),
        (Health::Degraded, "Elastic IP 198.51.100.1 is not associated with i-1"),
    );
    check(
        r(vec![instance("i-2", Pending)], Some(volume(None)), Some(address(None)), vec![group(&[])]),
        (Health::Degraded, "instance i-2 is starting"),
    );
    check(
        r(
            vec![instance("i-1", Terminated)],
            Some(volume(None)),
            Some(address(None)),
            vec![group(&[(true, "launched i-1"), (false, "Launching a new EC2 instance failed")])],
        ),
        (Health::Down, "failed to respawn: InsufficientInstanceCapacity in us-east-1a"),
    );
    check(
        r(
            vec![],
            Some(volume(None)),
            Some(address(None)),
            vec![group(&[(false, "no capacity"), (true, "launched i-3")])],
        ),
        (Health::Down, "auto scaling group ale has no running instance"),
    );
    check(
        r(vec![instance("i-1", Terminated)], Some(volume(None)), Some(address(None)), vec![]),
        (Health::Stopped, "no instance and no auto scaling group (auto scaling stopped)"),
    );
    check(
        r(vec![instance("i-1", Stopped)], Some(volume(Some("i-1"))), Some(address(Some("i-1"))), vec![]),
        (Health::Stopped, "instance i-1 is stopped"),
    );
    // A stopped instance is down if the group wants it running, stopped if not.
    check(
        r(vec![instance("i-1", Stopped)], Some(volume(Some("i-1"))), Some(address(Some("i-1"))), vec![group(&[])]),
        (Health::Down, "instance i-1 is stopped"),
    );
    let mut kept = group(&[]);
    kept.desired = 0;
    check(
        r(vec![instance("i-1", Stopped)], Some(volume(Some("i-1"))), Some(address(Some("i-1"))), vec![kept]),
        (Health::Stopped, "instance i-1 is stopped"),
    );
    check(r(vec![], None, None, vec![]), (Health::Absent, "nothing exists (no resource is tagged Name=ale)"));
    // Half there: not stopped on purpose, and the reason says what is missing.
    check(
        r(vec![], None, Some(address(None)), vec![]),
        (Health::Incomplete, "no data volume; no instance; no auto scaling group"),
    );
    check(
        r(vec![instance("i-1", Stopped)], Some(volume(Some("i-1"))), None, vec![]),
        (Health::Incomplete, "no Elastic IP; instance i-1 is stopped"),
    );
    let mut kept = group(&[]);
    kept.desired = 0;
    check(
        r(vec![], None, None, vec![kept]),
        (Health::Incomplete, "no data volume; no Elastic IP; auto scaling stopped: group ale is kept with desired 0"),
    );
    let mut kept = group(&[]);
    kept.desired = 0;
    check(
        r(vec![], Some(volume(None)), Some(address(None)), vec![kept]),
        (Health::Stopped, "auto scaling stopped: group ale is kept with desired 0"),
    );
}

/// The agent's outcome tag: a failure makes a running server degraded with the agent's
/// words; success, or an unreadable tag, changes nothing; details and JSON show it.
#[test]
fn the_agents_outcome_tag_is_read() {
    let tagged = |value: &str| {
        let mut i = instance("i-1", InstanceState::Running);
        i.tags.insert(crate::agent::OUTCOME_TAG.into(), value.into());
        ServerResources {
            instances: vec![i],
            volumes: vec![volume(Some("i-1"))],
            addresses: vec![address(Some("i-1"))],
            groups: vec![group(&[])],
            ..Default::default()
        }
    };
    check(
        tagged("setup-failed 2026-11-27T04:10:00Z: spawn hook failed: exit status 1"),
        (Health::Degraded, "agent on i-1 failed: spawn hook failed: exit status 1"),
    );
    // The cloud side: the resources tell (whole here: an apply after the agent set them right).
    check(tagged("failed 2026-11-27T04:10:00Z: server ale has no data volume"), (Health::Healthy, ""));
    let mut detached = tagged("failed 2026-11-27T04:10:00Z: could not attach vol-1: VolumeInUse (x)");
    detached.volumes[0].attached_to = None;
    check(
        detached,
        (
            Health::Degraded,
            "data volume vol-1 is not attached to i-1; agent on i-1 could not attach vol-1: VolumeInUse (x)",
        ),
    );
    check(tagged("done 2026-11-27T04:10:00Z"), (Health::Healthy, ""));
    check(tagged("something else"), (Health::Healthy, ""));
    let s = assess(&ServerName::new("ale"), &Region::new("us-east-1"), &tagged("setup-failed 2026-11-27T04:10:00Z: x"));
    assert!(render_text(std::slice::from_ref(&s)).contains("  agent     2026-11-27T04:10:00Z failed: x\n"));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["instance"]["agent"]["succeeded"], false);
    assert_eq!(json["instance"]["agent"]["failed_at"], "machine");
    assert_eq!(json["instance"]["agent"]["reason"], "x");
    assert_eq!(json["instance"]["agent"]["at"], 1_795_752_600);
}

/// Since when: a running server from its instance's launch, a down one from its group's
/// last activity (the failed respawn), an absent one from nothing.
#[test]
fn since_when() {
    let mut running = instance("i-1", InstanceState::Running);
    running.launched_at = Timestamp(100);
    let healthy = ServerResources {
        instances: vec![running],
        volumes: vec![volume(Some("i-1"))],
        addresses: vec![address(Some("i-1"))],
        groups: vec![group(&[])],
        ..Default::default()
    };
    let mut failed = group(&[(true, "launched i-1"), (false, "no capacity")]);
    failed.activities[1].at = Timestamp(900);
    let down = ServerResources {
        instances: vec![instance("i-1", InstanceState::Terminated)],
        volumes: vec![volume(None)],
        addresses: vec![address(None)],
        groups: vec![failed],
        ..Default::default()
    };
    let since = |r: &ServerResources| assess(&ServerName::new("ale"), &Region::new("us-east-1"), r).since();
    assert_eq!(since(&healthy), Some(Timestamp(100)));
    assert_eq!(since(&down), Some(Timestamp(900)));
    assert_eq!(since(&ServerResources::default()), None);
}

#[test]
fn an_agents_failure_is_the_reason() {
    let i = InstanceId::new("i-1");
    assert_eq!(
        agent_reason(&i, "cellar agent: failed: could not attach vol-1: UnauthorizedOperation (x)\n"),
        Some("agent on i-1 could not attach vol-1: UnauthorizedOperation (x)".to_string())
    );
    assert_eq!(
        agent_reason(&i, "cellar agent: failed: server ale has no Elastic IP\n"),
        Some("agent on i-1 failed: server ale has no Elastic IP".to_string())
    );
    assert_eq!(agent_reason(&i, "cellar agent: done: ran spawn hook\n"), None);
    assert_eq!(agent_reason(&i, "no agent here\n"), None);
}

#[test]
fn the_address_is_the_one_on_the_instance() {
    // A second address (a leftover awaiting its DNS record, say) listed first does not
    // make a server whose instance has its address degraded.
    let mut spare = address(None);
    spare.allocation_id = AllocationId::new("eipalloc-0");
    spare.public_ip = "198.51.100.9".into();
    let resources = ServerResources {
        instances: vec![instance("i-1", InstanceState::Running)],
        volumes: vec![volume(Some("i-1"))],
        addresses: vec![spare, address(Some("i-1"))],
        launch_templates: vec![],
        launch_configurations: vec![],
        groups: vec![group(&[])],
        snapshots: vec![],
    };
    check(resources.clone(), (Health::Healthy, ""));
    let s = assess(&ServerName::new("ale"), &Region::new("us-east-1"), &resources);
    assert_eq!(s.address.map(|a| a.public_ip), Some("198.51.100.1".to_string()));
}

/// A second data volume (tagged with its device): every one must be attached, and each is shown.
#[test]
fn every_data_volume_counts() {
    let second = |attached_to: Option<&str>| {
        let mut v = volume(attached_to);
        v.id = VolumeId::new("vol-2");
        v.size_gb = 200;
        v.tags.insert(crate::volumes::DEVICE_TAG.into(), "/dev/sdg".into());
        v
    };
    let server = |volumes: Vec<Volume>| ServerResources {
        instances: vec![instance("i-1", InstanceState::Running)],
        volumes,
        addresses: vec![address(Some("i-1"))],
        groups: vec![group(&[])],
        ..Default::default()
    };
    // The untagged volume is the first, whatever order the describe lists them in.
    check(server(vec![second(Some("i-1")), volume(Some("i-1"))]), (Health::Healthy, ""));
    check(
        server(vec![volume(Some("i-1")), second(None)]),
        (Health::Degraded, "data volume vol-2 is not attached to i-1"),
    );
    check(
        server(vec![second(None), volume(None)]),
        (Health::Degraded, "data volume vol-1 is not attached to i-1; data volume vol-2 is not attached to i-1"),
    );
    let s = assess(
        &ServerName::new("ale"),
        &Region::new("us-east-1"),
        &server(vec![second(Some("i-1")), volume(Some("i-1"))]),
    );
    assert_eq!(
        render_text(std::slice::from_ref(&s)).lines().filter(|l| l.contains("volume")).collect::<Vec<_>>(),
        ["  volume    vol-1 20 GiB in-use on i-1", "  volume    vol-2 200 GiB in-use on i-1 (/dev/sdg)"]
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!((json["volume"].get("device"), &json["other_volumes"][0]["device"]), (None, &"/dev/sdg".into()));
}

#[test]
fn text_table() {
    let healthy = ServerResources {
        instances: vec![instance("i-1", InstanceState::Running)],
        volumes: vec![volume(Some("i-1"))],
        addresses: vec![address(Some("i-1"))],
        launch_templates: vec![],
        launch_configurations: vec![],
        groups: vec![group(&[])],
        snapshots: vec![],
    };
    let stopped = ServerResources { volumes: vec![volume(None)], addresses: vec![address(None)], ..Default::default() };
    let region = Region::new("us-east-1");
    let statuses =
        [assess(&ServerName::new("ale"), &region, &healthy), assess(&ServerName::new("stout"), &region, &stopped)];
    assert_eq!(
        render_text(&statuses),
        "ale          healthy   us-east-1\n\
         \x20 instance  i-1 running us-east-1a m5.large ami-1\n\
         \x20 volume    vol-1 20 GiB in-use on i-1\n\
         \x20 address   198.51.100.1 on i-1\n\
         \x20 group     ale desired 1 template version $Latest\n\
         stout        stopped   us-east-1\n\
         \x20 volume    vol-1 20 GiB available\n\
         \x20 address   198.51.100.1 unassociated\n\
         \x20 reason    no instance and no auto scaling group (auto scaling stopped)\n"
    );
}

#[test]
fn json_has_the_documented_fields() {
    let resources = ServerResources {
        instances: vec![instance("i-1", InstanceState::Running)],
        volumes: vec![volume(Some("i-1"))],
        addresses: vec![address(Some("i-1"))],
        launch_templates: vec![],
        launch_configurations: vec![],
        groups: vec![group(&[])],
        snapshots: vec![],
    };
    let s = assess(&ServerName::new("ale"), &Region::new("us-east-1"), &resources);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["health"], "healthy");
    assert_eq!(json["instance"]["type"], "m5.large");
    assert_eq!(json["instance"]["ami"], "ami-1");
    assert_eq!(json["volume"]["size_gb"], 20);
    assert_eq!(json["volume"]["attached_to"], "i-1");
    assert_eq!(json["address"]["associated_to"], "i-1");
    assert_eq!(json["auto_scaling"]["desired"], 1);
    assert_eq!(json["auto_scaling"]["template_version"], serde_json::Value::Null);
}
