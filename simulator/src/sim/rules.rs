//! Tests of the rules that make the simulator as strict as AWS for agents: identity
//! (`world/identity.rs`), the boot delay and the console (`world/agents.rs`). Each fails on
//! a simulator without the rule.

use super::*;
use crate::store::{default_world, parse_world, render_world};
use crate::Faults;
use cellar_engine::agent::{user_data, AgentInvocation, DATA_DEVICE, DATA_ROLE};

const T0: u64 = 1_795_564_800;

fn east() -> Region {
    Region::new("us-east-1")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Server x in us-east-1a: its data volume and Elastic IP, and an instance running the
/// agent (`spawn`). Returns (instance, volume, address).
async fn server_x(sim: &Sim) -> (InstanceId, VolumeId, AllocationId) {
    server_x_with(sim, Some("cellar-agent")).await
}

/// [`server_x`] with its instance launched with `profile` (or none).
async fn server_x_with(sim: &Sim, profile: Option<&str>) -> (InstanceId, VolumeId, AllocationId) {
    let r = east();
    let address = sim.allocate_address(&r, tags(&[("Name", "x")])).await.unwrap().allocation_id;
    let request = CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 8,
        tags: tags(&[("Name", "x"), (ROLE_TAG, DATA_ROLE)]),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    let volume = sim.create_volume(&r, request).await.unwrap().id;
    let invocation = AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new("x"),
        persist: vec![],
        spawn_hook: None,
        volumes: vec![],
    };
    let request = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        subnet: None,
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: user_data(&invocation).unwrap(),
        settings: LaunchSettings { instance_profile: profile.map(InstanceProfile::new), ..LaunchSettings::default() },
        tags: tags(&[("Name", "x")]),
        client_token: String::new(),
    };
    let instance = sim.run_instance(&r, request).await.unwrap().id;
    (instance, volume, address)
}

fn logged_at(sim: &Sim, message: &str) -> Option<u64> {
    sim.world().log().iter().find(|e| e.message == message).map(|e| e.at.0 - T0)
}

/// The agent starts 20 s after its instance runs (T0+30), not at the state change: the
/// operator's AttachVolume at T0+35 comes first, and the agent finds the volume attached.
/// A world saved in between keeps the agent's start.
#[tokio::test]
async fn the_agent_starts_after_its_boot_delay() {
    let sim = Sim::new(default_world());
    let (instance, volume, _) = server_x(&sim).await;
    sim.sleep(Duration::from_secs(35)).await;
    assert_eq!(logged_at(&sim, &format!("{instance}: pending -> running")), Some(30));
    assert!(sim.world().log().iter().all(|e| !e.message.starts_with(&format!("agent {instance}"))));
    assert_eq!(sim.world().agents_due(), Vec::<InstanceId>::new());
    let saved = sim.world().clone();
    assert_eq!(parse_world(&render_world(&saved)).unwrap(), saved, "the pending start is saved");
    sim.attach_volume(&east(), &volume, &instance, DATA_DEVICE).await.unwrap();
    sim.sleep(Duration::from_secs(30)).await;
    assert_eq!(logged_at(&sim, &format!("agent {instance}: spawn for server x")), Some(50));
    let done = format!("agent {instance}: done: volume {volume} already attached; associated address 198.51.100.2");
    assert_eq!(logged_at(&sim, &done), Some(50));
    let console = sim.world().console(&instance).to_vec();
    assert_eq!(
        console,
        [
            format!("cellar agent spawn: instance {instance} in us-east-1a (us-east-1)"),
            format!("cellar agent: done: volume {volume} already attached; associated address 198.51.100.2"),
        ]
    );
    let text = sim.get_console_output(&east(), &instance).await.unwrap();
    assert_eq!(text, format!("{}\n{}\n", console[0], console[1]));
    // The delay is a fault setting; an instance terminated before its agent starts never
    // runs it.
    let mut world = default_world();
    world.set_faults(Faults { agent_delay_secs: Some(100), ..Faults::default() }).unwrap();
    let sim = Sim::new(world);
    let (instance, _, _) = server_x(&sim).await;
    sim.advance(Duration::from_secs(60)).await;
    sim.terminate_instance(&east(), &instance).await.unwrap();
    sim.advance(Duration::from_secs(300)).await;
    assert!(sim.world().log().iter().all(|e| !e.message.starts_with(&format!("agent {instance}"))));
}

/// An agent's calls are those of its instance's profile: without ec2:AssociateAddress the
/// agent attaches the volume but its AssociateAddress is refused with UnauthorizedOperation,
/// and the console says so; the operator's same call succeeds. Auto Scaling refuses with
/// AccessDenied.
#[tokio::test]
async fn an_agents_calls_need_its_profiles_permission() {
    let mut world = default_world();
    let actions = ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeAddresses", "ec2:AttachVolume"];
    world.set_instance_profile_actions("narrow", &actions).unwrap();
    let sim = Sim::new(world);
    let (instance, volume, address) = server_x_with(&sim, Some("narrow")).await;
    assert_eq!(sim.world().instance_profile(&instance), Some("narrow"));
    sim.advance(Duration::from_secs(60)).await;
    {
        let w = sim.world();
        assert_eq!(w.volumes()[&volume].attached_to.as_ref(), Some(&instance));
        assert_eq!(w.addresses()[&address].associated_to, None);
        let line = w.console(&instance).last().cloned().unwrap();
        assert_eq!(
            line,
            format!(
                "cellar agent: failed: could not associate {address} (198.51.100.2): UnauthorizedOperation \
                 (instance profile narrow does not allow ec2:AssociateAddress)"
            )
        );
        let e = w.authorize(&instance, Api::DescribeAutoScalingGroups).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("AccessDenied", "instance profile narrow does not allow autoscaling:DescribeAutoScalingGroups")
        );
        assert_eq!(w.authorize(&instance, Api::DnsLookup), Ok(()), "DNS needs no AWS permission");
    }
    sim.associate_address(&east(), &address, &instance).await.unwrap();
    // A profile set by hand, or none.
    sim.with_world(|w| w.set_instance_profile(&instance, None)).unwrap();
    let e = sim.with_world(|w| w.authorize(&instance, Api::DescribeInstances)).unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::UnauthorizedOperation);
    assert!(sim.with_world(|w| w.set_instance_profile(&InstanceId::new("i-0999"), Some("narrow"))).is_err());
}

/// An agent tags its own instance with its outcome (`cellar:agent`), and nothing else: its
/// role's CreateTags is conditioned on the calling instance and on that one key, and the
/// simulator refuses the rest as IAM would. A profile without CreateTags (an older world's)
/// leaves no tag, and the console still says how it went.
#[tokio::test]
async fn an_agent_tags_its_own_instance_with_its_outcome_only() {
    let sim = Sim::new(default_world());
    let (instance, volume, _) = server_x(&sim).await;
    sim.advance(Duration::from_secs(60)).await;
    let tag = sim.world().instances()[&instance].tags.get(cellar_engine::agent::OUTCOME_TAG).cloned();
    let (outcome, _, _) = cellar_engine::agent::parse_outcome_tag(&tag.clone().unwrap_or_default())
        .unwrap_or_else(|| panic!("no outcome tag: {tag:?}"));
    assert_eq!(outcome, cellar_engine::agent::AgentOutcome::Done(String::new()));
    let agent = AgentCloud { sim: &sim, instance: instance.clone() };
    let refused = |e: CloudError| (e.code, e.message.contains("only on its own instance with the key cellar:agent"));
    let other_key = agent.create_tags(&east(), instance.as_str(), tags(&[("owner", "me")])).await.unwrap_err();
    assert_eq!(refused(other_key), ("UnauthorizedOperation".to_string(), true));
    let other_resource =
        agent.create_tags(&east(), volume.as_str(), tags(&[(cellar_engine::agent::OUTCOME_TAG, "done")])).await;
    assert_eq!(refused(other_resource.unwrap_err()), ("UnauthorizedOperation".to_string(), true));
    assert!(!sim.world().volumes()[&volume].tags.contains_key(cellar_engine::agent::OUTCOME_TAG));
    // Without ec2:CreateTags in the profile: no tag, the outcome still on the console.
    let mut world = default_world();
    let actions = [
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeAddresses",
        "ec2:AttachVolume",
        "ec2:AssociateAddress",
    ];
    world.set_instance_profile_actions("untagging", &actions).unwrap();
    let sim = Sim::new(world);
    let (instance, _, _) = server_x_with(&sim, Some("untagging")).await;
    sim.advance(Duration::from_secs(60)).await;
    let w = sim.world();
    assert!(!w.instances()[&instance].tags.contains_key(cellar_engine::agent::OUTCOME_TAG));
    assert!(w.console(&instance).last().unwrap().starts_with("cellar agent: done"));
    assert!(w.log().iter().any(|e| e
        .message
        .starts_with(&format!("agent {instance}: could not tag its outcome: UnauthorizedOperation"))));
}

/// The operator's policy: a dry run answers DryRunOperation or UnauthorizedOperation naming
/// the action (changing nothing), a real call it does not allow is refused with the same
/// code, and the caller's identity is the operator's (or an agent's role).
#[tokio::test]
async fn the_operators_policy_answers_dry_runs_and_refuses_calls() {
    let sim = Sim::new(default_world());
    let r = east();
    let volume = DryRun::CreateVolume(CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 8,
        tags: Tags::new(),
        ebs: EbsSettings::default(),
        snapshot: None,
    });
    assert_eq!(sim.dry_run(&r, &volume).await, Ok(DryRunAnswer::Allowed), "an administrator by default");
    let identity = sim.caller_identity(&r).await.unwrap().unwrap();
    assert_eq!(
        (identity.account.as_str(), identity.arn.as_str()),
        (crate::world::SIM_ACCOUNT, crate::world::OPERATOR_ARN)
    );
    sim.with_world(|w| w.set_operator_actions(Some(&["ec2:Describe*".to_string()]))).unwrap();
    let refused = sim.dry_run(&r, &volume).await.unwrap_err();
    assert_eq!(refused.kind, CloudErrorKind::UnauthorizedOperation);
    assert!(refused.message.contains("is not authorized to perform: ec2:CreateVolume"), "{}", refused.message);
    let request = CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 8,
        tags: Tags::new(),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    assert_eq!(sim.create_volume(&r, request).await.unwrap_err().kind, CloudErrorKind::UnauthorizedOperation);
    assert!(sim.describe_volumes(&r, &Filter::All).await.unwrap().is_empty(), "nothing made, reads allowed");
    let group = sim.describe_auto_scaling_groups(&r, &Filter::All).await.unwrap_err();
    assert_eq!(group.code, "AccessDenied", "Auto Scaling's spelling");
    // The policy survives the state file.
    let world = parse_world(&render_world(&sim.with_world(|w| w.clone_without_log()))).unwrap();
    assert_eq!(world.operator_actions().map(|a| a.len()), Some(1));
}

/// iam:PassRole, a dependent action: launching with an instance profile needs it as well as
/// the call's own action (RunInstances, its DryRun, CreateLaunchConfiguration, a group given
/// a launch template that names a profile, which also needs ec2:RunInstances); a launch
/// without a profile does not. Refused in AWS's words, naming the role.
#[tokio::test]
async fn launching_with_a_profile_needs_pass_role() {
    let sim = Sim::new(default_world());
    let r = east();
    let policy = |patterns: &[&str]| -> Vec<String> { patterns.iter().map(|p| p.to_string()).collect() };
    // Everything of EC2 and Auto Scaling, nothing of IAM.
    sim.with_world(|w| w.set_operator_actions(Some(&policy(&["ec2:*", "autoscaling:*"])))).unwrap();
    let launch = |profile: Option<&str>| RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        subnet: None,
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings { instance_profile: profile.map(InstanceProfile::new), ..LaunchSettings::default() },
        tags: tags(&[("Name", "x")]),
        client_token: String::new(),
    };
    let refused = sim.run_instance(&r, launch(Some("cellar-agent"))).await.unwrap_err();
    assert_eq!(refused.kind, CloudErrorKind::UnauthorizedOperation);
    let said = "is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/cellar-agent";
    assert!(refused.message.contains(said), "{}", refused.message);
    assert!(sim.describe_instances(&r, &Filter::All).await.unwrap().is_empty(), "nothing launched");
    let dry = sim.dry_run(&r, &DryRun::RunInstances(launch(Some("cellar-agent")))).await.unwrap_err();
    assert!(dry.message.contains(said), "the dry run says so too: {}", dry.message);
    assert_eq!(sim.dry_run(&r, &DryRun::RunInstances(launch(None))).await, Ok(DryRunAnswer::Allowed));
    sim.run_instance(&r, launch(None)).await.expect("no profile, no role to pass");

    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings { instance_profile: Some(InstanceProfile::new("cellar-agent")), ..Default::default() },
    };
    let configuration = sim.create_launch_configuration(&r, "x-1", spec.clone()).await.unwrap_err();
    assert_eq!((configuration.code.as_str(), configuration.message.contains(said)), ("AccessDenied", true));
    let request =
        CreateLaunchTemplateRequest { name: "x".into(), spec, tags: tags(&[("Name", "x")]), client_token: None };
    let template = sim.create_launch_template(&r, request).await.expect("a template passes no role yet").id;
    let group = CreateAutoScalingGroupRequest {
        name: AutoScalingGroupName::new("x"),
        launch: LaunchSource::Template { id: template, version: None },
        zones: vec![Zone::new("us-east-1a")],
        min: 1,
        max: 1,
        desired: 1,
        tags: tags(&[("Name", "x")]),
        subnets: vec![],
    };
    let refused = sim.create_auto_scaling_group(&r, group.clone()).await.unwrap_err();
    assert_eq!((refused.code.as_str(), refused.message.contains(said)), ("AccessDenied", true));
    // With PassRole but not RunInstances, the group is refused for that.
    let no_launch = policy(&["ec2:Describe*", "ec2:CreateTags", "autoscaling:*", "iam:PassRole"]);
    sim.with_world(|w| w.set_operator_actions(Some(&no_launch))).unwrap();
    let refused = sim.create_auto_scaling_group(&r, group.clone()).await.unwrap_err();
    assert!(refused.message.contains("is not authorized to perform: ec2:RunInstances"), "{}", refused.message);
    sim.with_world(|w| w.set_operator_actions(None)).unwrap();
    sim.create_auto_scaling_group(&r, group).await.expect("an administrator may");
}
