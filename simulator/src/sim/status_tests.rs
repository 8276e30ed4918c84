//! DescribeInstanceStatus through the `Cloud` trait (on a world put away before every use,
//! `Sim::reloading`), the status faults (impairments, scheduled events, outages) and an auto
//! scaling group's EC2 health check; the probes are `probe_tests.rs`'s.

use super::*;
use crate::faults::{EventAnnouncement, Faults, Impairment, Outage, StatusCheck};
use crate::store::{default_world, parse_world, render_world};
use crate::world::{COMPLETED_EVENT_SECS, HEALTH_CHECK_SECS, INITIALIZING_SECS, STOPPING_SECS};
use cellar_engine::agent::{user_data, AgentInvocation, DATA_ROLE};
use cellar_engine::monitoring::{CheckStatus, EventCode, InstanceChecks, MAX_STATUS_IDS};

pub(super) const T0: u64 = 1_795_564_800;

pub(super) fn east() -> Region {
    Region::new("us-east-1")
}

pub(super) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn agent_settings() -> LaunchSettings {
    LaunchSettings { instance_profile: Some(InstanceProfile::new("cellar-agent")), ..LaunchSettings::default() }
}

pub(super) fn spawn_user_data(server: &str) -> String {
    user_data(&AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new(server),
        persist: vec![],
        spawn_hook: Some("systemctl restart nginx\n".into()),
        volumes: vec![],
    })
    .expect("no NUL in the test's user data")
}

/// A world from the default one with `faults` installed, behind a `Sim`.
pub(super) fn sim_with(faults: Faults) -> Sim {
    let mut world = default_world();
    world.set_faults(faults).unwrap();
    Sim::new(world)
}

/// Server `name`: a data volume and an Elastic IP in us-east-1a, and an instance launched
/// by RunInstances with the spawn agent (which attaches and associates them once it runs,
/// 50 s from now). Returns the instance and the address's public IP.
pub(super) async fn standalone_server(sim: &Sim, name: &str) -> (InstanceId, String) {
    let r = east();
    let address = sim.allocate_address(&r, tags(&[("Name", name)])).await.unwrap();
    let request = CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        tags: tags(&[("Name", name), (ROLE_TAG, DATA_ROLE)]),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    sim.create_volume(&r, request).await.unwrap();
    let instance = sim
        .run_instance(
            &r,
            RunInstanceRequest {
                zone: Zone::new("us-east-1a"),
                instance_type: InstanceType::new("t3.small"),
                image: ImageId::new("ami-0002"),
                user_data: spawn_user_data(name),
                tags: tags(&[("Name", name)]),
                client_token: format!("create-{name}"),
                subnet: None,
                settings: agent_settings(),
            },
        )
        .await
        .unwrap();
    (instance.id, address.public_ip)
}

/// Server `name` as an auto scaling group of one launching with the spawn agent, with its
/// data volume and Elastic IP in us-east-1a.
pub(super) async fn group_server(sim: &Sim, name: &str) {
    let r = east();
    sim.allocate_address(&r, tags(&[("Name", name)])).await.unwrap();
    let request = CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        tags: tags(&[("Name", name), (ROLE_TAG, DATA_ROLE)]),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    sim.create_volume(&r, request).await.unwrap();
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: spawn_user_data(name),
        settings: agent_settings(),
    };
    let request =
        CreateLaunchTemplateRequest { name: name.into(), spec, tags: tags(&[("Name", name)]), client_token: None };
    let lt = sim.create_launch_template(&r, request).await.unwrap();
    let request = CreateAutoScalingGroupRequest {
        name: AutoScalingGroupName::new(name),
        launch: LaunchSource::Template { id: lt.id, version: None },
        zones: vec![Zone::new("us-east-1a")],
        min: 1,
        max: 1,
        desired: 1,
        tags: tags(&[("Name", name)]),
        subnets: vec![],
    };
    sim.create_auto_scaling_group(&r, request).await.unwrap();
}

/// Moves the clock to `T0 + secs`.
pub(super) async fn at(sim: &Sim, secs: u64) {
    let now = sim.now().await.0;
    assert!(T0 + secs >= now, "T0+{secs} is past (now T0+{})", now - T0);
    sim.advance(Duration::from_secs(T0 + secs - now)).await;
}

fn member(sim: &Sim, group: &str) -> Option<InstanceId> {
    sim.world().groups().get(&AutoScalingGroupName::new(group)).and_then(|g| g.instances.first().cloned())
}

/// The checks of `id` (system, instance, event descriptions), `None` when not listed.
async fn checks(sim: &Sim, id: &InstanceId) -> Option<(CheckStatus, CheckStatus, Vec<String>)> {
    let listed = sim.describe_instance_status(&east(), std::slice::from_ref(id)).await.unwrap();
    assert!(listed.len() <= 1);
    listed.into_iter().next().map(|c: InstanceChecks| {
        assert_eq!((c.instance.clone(), c.state), (id.clone(), InstanceState::Running));
        (c.system, c.instance_check, c.events.iter().map(|e| e.description.clone()).collect())
    })
}

/// `describe_instance_status(ids)` on a world with one running instance `i-0001`: the
/// error code, or the ids listed.
async fn check(ids: &[&str], expected: Result<Vec<&str>, &str>) {
    let sim = sim_with(Faults::default());
    standalone_server(&sim, "x").await;
    at(&sim, 60).await;
    let ids: Vec<InstanceId> = ids.iter().map(|i| InstanceId::new(*i)).collect();
    let got = sim.describe_instance_status(&east(), &ids).await;
    let got = got.map(|v| v.into_iter().map(|c| c.instance.to_string()).collect::<Vec<_>>()).map_err(|e| e.code);
    let expected = expected.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>()).map_err(String::from);
    assert_eq!(got, expected, "{ids:?}");
}

#[tokio::test]
async fn describe_instance_status_refuses_what_aws_refuses() {
    let many: Vec<String> = (1..=MAX_STATUS_IDS + 1).map(|k| format!("i-{k:04x}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    check(&["i-0001"], Ok(vec!["i-0001"])).await;
    check(&[], Ok(vec!["i-0001"])).await;
    check(&["i-0001", "i-0001"], Ok(vec!["i-0001"])).await;
    check(&["i-0002"], Err("InvalidInstanceID.NotFound")).await;
    check(&["i-0001", "i-0002"], Err("InvalidInstanceID.NotFound")).await;
    check(&["i-xyz"], Err("InvalidInstanceID.Malformed")).await;
    check(&["ommegang"], Err("InvalidInstanceID.Malformed")).await;
    check(&["i-0002", "i-"], Err("InvalidInstanceID.Malformed")).await;
    check(&many[..MAX_STATUS_IDS], Err("InvalidInstanceID.NotFound")).await;
    check(&many, Err("InvalidRequest")).await;
}

#[tokio::test]
async fn only_running_instances_are_listed_initializing_then_ok() {
    let sim = sim_with(Faults { invisible_secs: 5, ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    let e = sim.describe_instance_status(&east(), std::slice::from_ref(&id)).await.unwrap_err();
    assert_eq!(e.code, "InvalidInstanceID.NotFound", "not visible yet, as DescribeInstances");
    at(&sim, 10).await;
    assert_eq!(checks(&sim, &id).await, None, "pending: not listed");
    at(&sim, 30).await;
    let initializing = (CheckStatus::Initializing, CheckStatus::Initializing, vec![]);
    assert_eq!(checks(&sim, &id).await, Some(initializing.clone()), "running at +30");
    at(&sim, 30 + INITIALIZING_SECS - 1).await;
    assert_eq!(checks(&sim, &id).await, Some(initializing));
    at(&sim, 30 + INITIALIZING_SECS).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Ok, vec![])));
    sim.terminate_instance(&east(), &id).await.unwrap();
    assert_eq!(checks(&sim, &id).await, None, "shutting down: not listed, not an error");
    at(&sim, 3600).await;
    assert_eq!(checks(&sim, &id).await, None, "terminated and still visible");
    at(&sim, 2 * 3600).await;
    let e = sim.describe_instance_status(&east(), &[id]).await.unwrap_err();
    assert_eq!(e.code, "InvalidInstanceID.NotFound", "gone from describe");
    // Another region does not know it either.
    let e = sim.describe_instance_status(&Region::new("eu-west-1"), &[InstanceId::new("i-0001")]).await;
    assert_eq!(e.unwrap_err().code, "InvalidInstanceID.NotFound");
}

#[tokio::test]
async fn describe_instance_status_is_a_throttled_non_mutating_call() {
    let sim = sim_with(Faults { throttling: true, ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    let calls = sim.world().api_calls();
    let mut refused = None;
    for k in 0..=100 {
        if let Err(e) = sim.describe_instance_status(&east(), std::slice::from_ref(&id)).await {
            refused = Some((k, e.code));
            break;
        }
    }
    // A non-mutating EC2 action's bucket holds 100 requests.
    assert_eq!(refused, Some((100, "RequestLimitExceeded".to_string())));
    assert_eq!(sim.world().api_calls() - calls, 101);
    let log = sim.world().render_log(None);
    assert!(log.contains("DescribeInstanceStatus in us-east-1: RequestLimitExceeded"), "{log}");
}

#[tokio::test]
async fn an_impaired_check_shows_then_recovers() {
    let impaired = |secs| Impairment {
        at: Timestamp(T0 + 300),
        target: "i-0001".into(),
        check: StatusCheck::Instance,
        secs: Some(secs),
    };
    let sim = sim_with(Faults { impairments: vec![impaired(120)], ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    at(&sim, 299).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Ok, vec![])));
    at(&sim, 300).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Impaired, vec![])));
    assert!(sim.world().faults().impairments.is_empty(), "applied, so off the schedule");
    at(&sim, 419).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Impaired, vec![])));
    at(&sim, 420).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Ok, vec![])));
    assert!(sim.world().render_log(None).contains(&format!("{id}: impaired status check recovered")));
    assert!(sim.world().instances()[&id].impairments.is_empty());

    // While it initializes, an impairment shows at once; a target that is not running is
    // logged and skipped.
    let early = Impairment { at: Timestamp(T0 + 40), target: "x".into(), check: StatusCheck::System, secs: None };
    let pending = Impairment { at: Timestamp(T0 + 10), ..early.clone() };
    let sim = sim_with(Faults { impairments: vec![early, pending], ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    at(&sim, 40).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Impaired, CheckStatus::Initializing, vec![])));
    assert!(sim.world().render_log(None).contains("impairment fault: no running instance for x"));
    at(&sim, 40 + 86_400).await;
    assert_eq!(checks(&sim, &id).await.map(|c| c.0), Some(CheckStatus::Impaired), "until it is gone");
}

/// What makes "impaired" recoverable on AWS: the group's EC2 health check replaces the
/// member HEALTH_CHECK_SECS later (the grace period is the API's default, 0 s).
#[tokio::test]
async fn a_group_replaces_a_member_whose_status_check_is_impaired() {
    let fault = Impairment { at: Timestamp(T0 + 600), target: "x".into(), check: StatusCheck::System, secs: None };
    let sim = sim_with(Faults { impairments: vec![fault], ..Faults::default() });
    group_server(&sim, "x").await;
    at(&sim, 600).await;
    let first = member(&sim, "x").unwrap();
    assert_eq!(checks(&sim, &first).await.map(|c| c.0), Some(CheckStatus::Impaired));
    at(&sim, 600 + HEALTH_CHECK_SECS - 1).await;
    assert_eq!(member(&sim, "x"), Some(first.clone()), "not noticed yet");
    at(&sim, 600 + HEALTH_CHECK_SECS).await;
    let second = member(&sim, "x").unwrap();
    assert_ne!(second, first, "replaced");
    {
        let w = sim.world();
        assert_eq!(w.instances()[&first].state, InstanceState::ShuttingDown);
        let group = &w.groups()[&AutoScalingGroupName::new("x")];
        let activity = group.activities.iter().rev().find(|a| a.description.contains(first.as_str())).unwrap();
        assert!(activity.description.contains("its system status check is impaired"), "{}", activity.description);
    }
    assert_eq!(checks(&sim, &first).await, None);
    at(&sim, 600 + HEALTH_CHECK_SECS + 30).await;
    assert_eq!(
        checks(&sim, &second).await,
        Some((CheckStatus::Initializing, CheckStatus::Initializing, vec![])),
        "the replacement is healthy, initializing"
    );
    // A short impairment (gone before the health check looks) replaces nothing.
    let short =
        Impairment { at: Timestamp(T0 + 600), target: "x".into(), check: StatusCheck::Instance, secs: Some(30) };
    let sim = sim_with(Faults { impairments: vec![short], ..Faults::default() });
    group_server(&sim, "x").await;
    at(&sim, 599).await;
    let first = member(&sim, "x").unwrap();
    at(&sim, 900).await;
    assert_eq!(member(&sim, "x"), Some(first));
}

fn event(code: EventCode, announced: u64, due: u64) -> EventAnnouncement {
    EventAnnouncement {
        at: Timestamp(T0 + announced),
        target: "x".into(),
        code,
        not_before: Timestamp(T0 + due),
        not_after: Some(Timestamp(T0 + due + 3600)),
    }
}

#[tokio::test]
async fn scheduled_events_are_listed_carried_out_and_completed() {
    // A reboot: checks initializing again, then the event is [Completed] for a week.
    let sim =
        sim_with(Faults { scheduled_events: vec![event(EventCode::InstanceReboot, 400, 1000)], ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    at(&sim, 400).await;
    let listed = sim.describe_instance_status(&east(), std::slice::from_ref(&id)).await.unwrap();
    let e = &listed[0].events[0];
    assert_eq!(
        (e.code, e.description.as_str(), e.not_before, e.not_after, e.is_pending()),
        (
            EventCode::InstanceReboot,
            "The instance is scheduled for a reboot",
            Timestamp(T0 + 1000),
            Some(Timestamp(T0 + 4600)),
            true
        )
    );
    assert!(e.id.starts_with("instance-event-"), "{}", e.id);
    at(&sim, 1000).await;
    let (system, instance, events) = checks(&sim, &id).await.unwrap();
    assert_eq!((system, instance), (CheckStatus::Initializing, CheckStatus::Initializing));
    assert_eq!(events, vec!["[Completed] The instance is scheduled for a reboot".to_string()]);
    at(&sim, 1000 + INITIALIZING_SECS).await;
    assert_eq!(checks(&sim, &id).await.map(|c| (c.0, c.1)), Some((CheckStatus::Ok, CheckStatus::Ok)));
    at(&sim, 1000 + COMPLETED_EVENT_SECS).await;
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Ok, vec![])), "no longer listed");

    // A retirement: the instance stops (EBS-backed), keeping its volume and address; a
    // stopped instance is not listed.
    let sim = sim_with(Faults {
        scheduled_events: vec![event(EventCode::InstanceRetirement, 400, 1000)],
        ..Faults::default()
    });
    let (id, ip) = standalone_server(&sim, "x").await;
    at(&sim, 999).await;
    assert!(checks(&sim, &id).await.unwrap().2[0].starts_with("The instance is running on degraded hardware"));
    at(&sim, 1000).await;
    assert_eq!(sim.world().instances()[&id].state, InstanceState::Stopping);
    at(&sim, 1000 + STOPPING_SECS).await;
    assert_eq!(sim.world().instances()[&id].state, InstanceState::Stopped);
    assert_eq!(checks(&sim, &id).await, None);
    {
        let w = sim.world();
        assert!(w.addresses().values().any(|a| a.public_ip == ip && a.associated_to.as_ref() == Some(&id)));
        assert!(w.volumes().values().any(|v| v.attached_to.as_ref() == Some(&id)));
        assert!(w.instances()[&id].events[0].description.starts_with("[Completed] "));
    }
    // instance-stop likewise; system-maintenance changes nothing the instance notices.
    for (code, state) in
        [(EventCode::InstanceStop, InstanceState::Stopped), (EventCode::SystemMaintenance, InstanceState::Running)]
    {
        let sim = sim_with(Faults { scheduled_events: vec![event(code, 400, 1000)], ..Faults::default() });
        let (id, _) = standalone_server(&sim, "x").await;
        at(&sim, 1100).await;
        assert_eq!(sim.world().instances()[&id].state, state, "{code}");
    }
}

#[tokio::test]
async fn a_group_replaces_a_member_when_its_event_falls_due() {
    let sim = sim_with(Faults {
        scheduled_events: vec![event(EventCode::InstanceRetirement, 400, 1000)],
        ..Faults::default()
    });
    group_server(&sim, "x").await;
    at(&sim, 999).await;
    let first = member(&sim, "x").unwrap();
    assert_eq!(checks(&sim, &first).await.unwrap().2.len(), 1);
    at(&sim, 1000).await;
    let second = member(&sim, "x").unwrap();
    assert_ne!(first, second);
    assert_eq!(sim.world().instances()[&first].state, InstanceState::ShuttingDown);
    let log = sim.world().render_log(None);
    assert!(
        log.contains(&format!("group x: {first} is unhealthy (a scheduled event (instance-retirement) is due)")),
        "{log}"
    );
}

#[tokio::test]
async fn an_outage_fails_the_operators_calls_with_unavailable() {
    let outage = Outage { at: Timestamp(T0 + 100), secs: 60 };
    let sim = sim_with(Faults { outages: vec![outage], ..Faults::default() });
    let (id, _) = standalone_server(&sim, "x").await;
    at(&sim, 100).await;
    let calls = sim.world().api_calls();
    let e = sim.describe_instance_status(&east(), std::slice::from_ref(&id)).await.unwrap_err();
    assert_eq!((&e.kind, e.code.as_str()), (&CloudErrorKind::Unavailable, "Unavailable"));
    assert!(e.retryable());
    let e = sim.describe_instances(&east(), &Filter::All).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Unavailable);
    assert_eq!(sim.world().api_calls(), calls, "never reached AWS: not counted");
    assert_eq!(sim.resolve_dns("x.example.com").await, Ok(vec![]), "DNS is not AWS");
    assert!(sim.world().render_log(None).contains("DescribeInstances in us-east-1: Unavailable (outage fault until"));
    at(&sim, 160).await;
    assert!(sim.describe_instance_status(&east(), &[id]).await.is_ok(), "[at, at+secs): over at +160");
}

#[tokio::test]
async fn an_agent_works_through_an_outage() {
    // The instance boots at +30; its agent runs at +50, inside the outage.
    let sim = sim_with(Faults { outages: vec![Outage { at: Timestamp(T0 + 40), secs: 60 }], ..Faults::default() });
    let (id, ip) = standalone_server(&sim, "x").await;
    at(&sim, 60).await;
    let w = sim.world();
    assert!(w.addresses().values().any(|a| a.public_ip == ip && a.associated_to.as_ref() == Some(&id)));
}

#[tokio::test]
async fn status_faults_and_their_state_survive_the_state_file() {
    let faults = Faults {
        impairments: vec![Impairment {
            at: Timestamp(T0 + 300),
            target: "x".into(),
            check: StatusCheck::System,
            secs: Some(900),
        }],
        scheduled_events: vec![event(EventCode::SystemReboot, 200, 5000), event(EventCode::InstanceStop, 7000, 8000)],
        outages: vec![Outage { at: Timestamp(T0 + 9000), secs: 30 }],
        unreachable: vec![crate::faults::Unreachable {
            at: Timestamp(T0 + 100),
            server: ServerName::new("x"),
            secs: 60,
        }],
        ..Faults::default()
    };
    let sim = sim_with(faults);
    standalone_server(&sim, "x").await;
    at(&sim, 400).await;
    let world = sim.world().clone();
    let text = render_world(&world);
    assert!(text.contains("impairments") && text.contains("instance-event-"), "{text}");
    let reloaded = parse_world(&text).unwrap();
    assert_eq!(reloaded, world);
    // Both go on the same way.
    let replay = Sim::new(reloaded);
    for s in [&sim, &replay] {
        at(s, 9000).await;
    }
    assert_eq!(render_world(&sim.into_world()), render_world(&replay.into_world()));
}

/// A state file from before status checks: instances without the new fields load as
/// instances whose checks are `ok` (no boot to initialize from) and with no events.
#[tokio::test]
async fn older_state_files_load_with_ok_checks() {
    let sim = sim_with(Faults::default());
    let (id, _) = standalone_server(&sim, "x").await;
    at(&sim, 60).await;
    let text = render_world(&sim.world());
    let old = text.replace(&format!("booted_at: Some({}),", T0 + 30), "");
    assert_ne!(old, text, "the field was there to remove");
    let sim = Sim::new(parse_world(&old).unwrap());
    assert_eq!(checks(&sim, &id).await, Some((CheckStatus::Ok, CheckStatus::Ok, vec![])));
}
