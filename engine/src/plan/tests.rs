use super::*;

fn step(id: u32, action: Action, after: &[u32]) -> Step {
    Step { id: StepId(id), server: server(), action, after: after.iter().map(|a| StepId(*a)).collect(), undo: None }
}

fn server() -> ServerName {
    ServerName::new("ale")
}

fn plan_of(steps: Vec<Step>) -> Plan {
    Plan {
        format: PLAN_FORMAT_VERSION,
        command: "create-server@ale 20".into(),
        scope: Scope { server: Some(server()), ..Scope::new(Region::new("us-east-1")) },
        observed: vec![],
        steps,
        tags: BTreeMap::new(),
        notes: vec![],
        settings: BTreeMap::new(),
        fleet: None,
        drift: Vec::new(),
    }
}

fn volume(size: u32) -> Action {
    Action::CreateVolume {
        zone: Zone::new("us-east-1a"),
        size_gb: size,
        ebs: EbsSettings::default(),
        device: None,
        restore_from: None,
    }
}

fn attach(volume: u32) -> Action {
    Action::AttachVolume {
        volume: Ref::Output(StepId(volume)),
        instance: Ref::Existing(InstanceId::new("i-1")),
        device: "/dev/sdf".into(),
    }
}

fn check_validate(steps: Vec<Step>, expected: Result<usize, &str>) {
    let plan = plan_of(steps);
    let got = plan.validate().map(|()| plan.depth());
    assert_eq!(got, expected.map_err(String::from));
}

#[test]
fn validation_and_depth() {
    check_validate(vec![], Ok(0));
    check_validate(vec![step(1, volume(1), &[]), step(2, volume(2), &[])], Ok(1));
    check_validate(vec![step(1, volume(1), &[]), step(2, attach(1), &[1]), step(3, volume(3), &[2])], Ok(3));
    check_validate(vec![step(1, volume(1), &[]), step(1, volume(2), &[])], Err("step #1 appears twice"));
    check_validate(vec![step(1, volume(1), &[7])], Err("step #1 depends on #7, which is not in the plan"));
    check_validate(
        vec![step(1, volume(1), &[]), step(2, attach(1), &[])],
        Err("step #2 uses the output of #1 but does not run after it"),
    );
    check_validate(vec![step(1, volume(1), &[2]), step(2, volume(2), &[1])], Err("steps form a cycle through #2"));
}

fn obs(resource: ResourceKey, observed: Observed) -> Observation {
    Observation { resource, observed }
}

fn check_stale(before: Vec<Observation>, after: Vec<Observation>, expected: &[&str]) {
    let mut plan = plan_of(vec![]);
    plan.observed = before;
    assert_eq!(staleness(&plan, &after), expected);
}

#[test]
fn stale_plans_name_what_changed() {
    let instance = |state| {
        obs(
            ResourceKey::Instance(InstanceId::new("i-0003")),
            Observed::Instance { state, zone: Zone::new("us-east-1a") },
        )
    };
    let dns = |ips: &[&str]| {
        obs(
            ResourceKey::Dns("ale.example.com".into()),
            Observed::Dns { addresses: ips.iter().map(|s| s.to_string()).collect() },
        )
    };
    check_stale(vec![instance(InstanceState::Running)], vec![instance(InstanceState::Running)], &[]);
    check_stale(
        vec![instance(InstanceState::Running)],
        vec![instance(InstanceState::Terminated)],
        &["instance i-0003 of ale: running → terminated since plan"],
    );
    check_stale(vec![instance(InstanceState::Terminated)], vec![], &[]);
    check_stale(vec![instance(InstanceState::Running)], vec![], &["instance i-0003 of ale: running → gone since plan"]);
    check_stale(
        vec![dns(&[])],
        vec![dns(&["192.0.2.1"]), instance(InstanceState::Pending)],
        &[
            "DNS record ale.example.com of ale: no A record → 192.0.2.1 since plan",
            "instance i-0003 of ale: appeared since plan (pending in us-east-1a)",
        ],
    );
}

#[test]
fn plan_files() {
    let plan = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
    let text = plan.to_ron();
    assert_eq!(Plan::from_ron("p.ron", &text).unwrap(), plan);
    let check_err = |text: &str, expected: &str| {
        let e = Plan::from_ron("p.ron", text).unwrap_err().to_string();
        assert!(e.starts_with(expected), "got {e}");
    };
    check_err(&text.replace("format: 4", "format: 5"), "p.ron: plan format 5 is not supported");
    check_err(
        &text.replace("format: 4", "format: 3"),
        "p.ron: plan format 3 is not supported (this cellar reads format 4)",
    );
    check_err(&text[..40], "p.ron:");
    check_err("", "p.ron:1:1: not a cellar plan");
    let dangling = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[5])]);
    check_err(&dangling.to_ron(), "p.ron: the plan is inconsistent: step #2 depends on #5");
    // A field this version does not know (a newer cellar's, or a hand edit) is refused, not dropped.
    check_err(&text.replacen("undo: None,", "undo: None,\n            retries: 3,", 1), "p.ron:");
    let e =
        Plan::from_ron("p.ron", &text.replacen("size_gb: 20,", "size_gb: 20, iops: 3000,", 1)).unwrap_err().to_string();
    assert!(e.contains("iops"), "{e}");
    let e = Plan::from_ron("p.ron", &text.replacen("encrypted: true,", "encrypted: true, fast: true,", 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fast"), "{e}");
    // A server name goes into shell scripts: read from a file it is checked like a typed one.
    let hostile = text.replacen("server: \"ale\"", "server: \"ale\\ntouch /tmp/x\"", 1);
    assert_ne!(hostile, text);
    let e = Plan::from_ron("p.ron", &hostile).unwrap_err().to_string();
    assert!(e.contains("invalid server name"), "{e}");
}

#[test]
fn edited_plans_are_refused() {
    let text = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]).to_ron();
    assert!(text.starts_with(file::DIGEST_PREFIX), "{text}");
    let edited = "p.ron: the plan was changed after it was made";
    let no_digest = "p.ron: the plan has no digest line";
    let (first, rest) = text.split_once('\n').unwrap();
    let cases: Vec<(String, &str)> = vec![
        (text.replacen("size_gb: 20,", "size_gb: 99999,", 1), edited),
        (text.replacen("create-server@ale 20", "create-server@ale 21", 1), edited),
        (rest.to_string(), no_digest),
        (format!("// reviewed\n{rest}"), no_digest),
        (format!("{}0\n{rest}", &first[..first.len() - 1]), edited),
        (format!("{first}\n{rest}\n"), edited),
    ];
    for (changed, expected) in cases {
        let e = Plan::from_ron("p.ron", &changed).unwrap_err().to_string();
        assert!(e.starts_with(expected), "expected {expected:?}, got {e}");
        assert!(e.contains("fix: make the plan again"), "{e}");
    }
}

#[test]
fn diff_shows_changed_actions() {
    let old = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
    let new = plan_of(vec![step(1, volume(30), &[]), step(2, attach(1), &[1])]);
    assert_eq!(diff(&old, "a.ron", &old, "b.ron"), "");
    let d = diff(&old, "a.ron", &new, "b.ron");
    assert!(d.starts_with("--- a.ron\n+++ b.ron\n@@"), "{d}");
    assert!(d.contains("\n-  + #1   create data volume of ale: 20 GiB gp3 in us-east-1a\n"), "{d}");
    assert!(d.contains("\n+  + #1   create data volume of ale: 30 GiB gp3 in us-east-1a\n"), "{d}");
    assert!(!d.contains("-  ~ #2"), "an unchanged step is context, not a change: {d}");
}

fn version(hook: Option<&str>) -> Action {
    Action::CreateLaunchTemplateVersion {
        template: LaunchTemplateId::new("lt-1"),
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-1"),
        image_name: "web-server-2026-08-04".into(),
        agent: AgentSpec {
            mode: AgentMode::Spawn,
            persist: vec![],
            spawn_hook: hook.map(str::to_string),
            volumes: vec![],
        },
        settings: LaunchSettings::default(),
    }
}

fn with_settings(mut plan: Plan, settings: &[&str]) -> Plan {
    let parsed = settings.iter().map(|s| Setting::try_from(s.to_string()).unwrap()).collect();
    plan.settings.insert(server(), parsed);
    plan
}

/// Two plans that read the same but launch another spawn hook, or were made from other
/// settings: the diff shows the script's unified diff and each setting old → new.
#[test]
fn diff_shows_hook_content_and_settings() {
    let hook_a = "#!/bin/bash\napt-get update\nsystemctl restart nginx\n";
    let hook_b = "#!/bin/bash\napt-get update\napt-get -y upgrade openssl\nsystemctl restart nginx\n";
    let old = with_settings(
        plan_of(vec![step(1, version(Some(hook_a)), &[])]),
        &["instance_type = \"t3.small\" # global.ron:3:20"],
    );
    let new = with_settings(
        plan_of(vec![step(1, version(Some(hook_b)), &[])]),
        &["instance_type = \"t3.large\" # servers/ale.ron:2:20"],
    );
    assert_eq!(old.render_text().lines().count(), new.render_text().lines().count());
    let d = diff(&old, "a.ron", &new, "b.ron");
    let expected_hook = "\nSpawn hook of ale (runs as root on every new instance):\n--- a.ron (ale)\n+++ b.ron (ale)\n@@ -1,3 +1,4 @@\n #!/bin/bash\n apt-get update\n+apt-get -y upgrade openssl\n systemctl restart nginx\n";
    assert!(d.ends_with(expected_hook), "{d}");
    assert!(
        d.contains("\nSettings of ale that differ:\n  instance_type: \"t3.small\" (global.ron:3:20) → \"t3.large\" (servers/ale.ron:2:20)\n"),
        "{d}"
    );
    // A hook added or removed is a diff against nothing.
    let none = plan_of(vec![step(1, version(None), &[])]);
    let d = diff(&none, "a.ron", &plan_of(vec![step(1, version(Some(hook_a)), &[])]), "b.ron");
    assert!(d.contains("@@ -0,0 +1,3 @@\n+#!/bin/bash\n"), "{d}");
    assert_eq!(diff(&new, "a.ron", &new, "b.ron"), "");
}

#[test]
fn merge_renumbers_steps_and_references() {
    let one = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
    let merged = Plan::merge(vec![one.clone(), one]);
    merged.validate().unwrap();
    assert_eq!(merged.steps.len(), 4);
    assert_eq!(merged.steps[3].after, vec![StepId(3)]);
    assert_eq!(merged.steps[3].action.references(), vec![StepId(3)]);
    assert_eq!(merged.depth(), 2);
}

#[test]
fn dot_marks_compensation_edges() {
    let mut s = step(1, volume(20), &[]);
    s.undo = Some(Undo::DeleteVolume);
    let dot = plan_of(vec![s, step(2, attach(1), &[1])]).render_dot();
    assert!(dot.contains("s1 -> s2;"), "{dot}");
    assert!(dot.contains("s1 -> u1 [style=dashed, color=red"), "{dot}");
    assert!(dot.starts_with("digraph plan {") && dot.ends_with("}\n"));
}

fn plan_for(server: &str, steps: Vec<Action>) -> Plan {
    let name = ServerName::new(server);
    let mut plan = plan_of(vec![]);
    plan.scope.server = Some(name.clone());
    plan.steps = steps
        .into_iter()
        .enumerate()
        .map(|(i, action)| Step { id: StepId(i as u32 + 1), server: name.clone(), action, after: vec![], undo: None })
        .collect();
    plan
}

#[test]
fn a_fleet_plan_merges_servers_and_keeps_their_scopes_and_refusals() {
    let names = |list: &[&str]| list.iter().map(|n| ServerName::new(*n)).collect::<Vec<_>>();
    let terminate = || Action::TerminateInstance { instance: InstanceId::new("i-1") };
    let plans = vec![plan_for("a", vec![volume(20)]), plan_for("b", vec![]), plan_for("c", vec![terminate()])];
    let refused: BTreeMap<ServerName, String> = [(ServerName::new("d"), "d has no group".to_string())].into();
    let fleet = Plan::fleet(
        "x@all".into(),
        "all".into(),
        names(&["a", "b", "c", "d"]),
        plans,
        refused,
        &RolloutOptions::default(),
    )
    .unwrap();
    fleet.validate().unwrap();
    assert_eq!(
        fleet.steps.iter().map(|s| (s.id.0, s.server.to_string())).collect::<Vec<_>>(),
        [(1, "a".into()), (2, "c".into())]
    );
    let scopes: Vec<String> = fleet.scopes().map(|s| s.server.as_ref().unwrap().to_string()).collect();
    assert_eq!(scopes, ["a", "c"], "the servers with steps are read again");
    let rows: Vec<(String, usize, bool, Option<String>)> =
        fleet.fleet_rows().into_iter().map(|r| (r.server.to_string(), r.steps, r.restarts, r.refused)).collect();
    assert_eq!(
        rows,
        [
            ("a".into(), 1, false, None),
            ("b".into(), 0, false, None),
            ("c".into(), 1, true, None),
            ("d".into(), 0, false, Some("d has no group".into()))
        ]
    );
    let text = fleet.render_text();
    assert!(text.contains("\n  2 to change, 1 without changes, 1 refused.\n"), "{text}");
    // c restarts: a rolling change of one server at a time, drawn as waves.
    assert!(text.contains("\n  Rolling: 2 waves (at most 1 server at once); each wave starts once the one before is healthy; failed servers do not stop the rollout.\n    wave 1: a\n    wave 2: c\n"), "{text}");
    let dot = fleet.render_dot();
    assert!(
        dot.contains(
            "subgraph cluster_wave_2 {\n    label=\"wave 2: c\"; style=rounded;\n    s2;\n  }\n  s1 -> s2 [style=bold"
        ),
        "{dot}"
    );
    assert_eq!(fleet.waves(), [names(&["a"]), names(&["c"])]);
    // Saved and loaded as it is.
    assert_eq!(Plan::from_ron("fleet.ron", &fleet.to_ron()).unwrap(), fleet);
    // A fleet plan is of one region, and lists every server it touches.
    let mut other = fleet.clone();
    other.fleet.as_mut().unwrap().scopes[0].region = Region::new("eu-west-1");
    assert!(other.validate().unwrap_err().contains("a fleet plan is of one region"));
    let mut unwaved = fleet.clone();
    unwaved.fleet.as_mut().unwrap().rollout.as_mut().unwrap().waves.pop();
    assert_eq!(unwaved.validate().unwrap_err(), "its waves must hold every server with steps exactly once");
    let mut stray = fleet.clone();
    stray.fleet.as_mut().unwrap().servers.retain(|s| s.as_str() != "c");
    stray.fleet.as_mut().unwrap().rollout = None;
    assert_eq!(stray.validate().unwrap_err(), "server c has steps or a refusal but is not among the fleet's servers");
    assert!(Plan::fleet(
        "x@all".into(),
        "all".into(),
        names(&["d"]),
        vec![],
        BTreeMap::new(),
        &RolloutOptions::default()
    )
    .is_none());
}

/// No server has steps: the fleet plan reads the first server's scope, keeps every note
/// in order, and has no waves; servers added one at a time give the same plan.
#[test]
fn a_fleet_plan_without_steps_keeps_the_first_scope_and_every_note() {
    let unchanged = |name: &str| Plan { notes: vec![format!("{name} is current")], ..plan_for(name, vec![]) };
    let names: Vec<ServerName> = ["b", "c"].iter().map(|n| ServerName::new(*n)).collect();
    let options = RolloutOptions::default();
    let fleet = Plan::fleet(
        "x@all".into(),
        "all".into(),
        names.clone(),
        vec![unchanged("b"), unchanged("c")],
        BTreeMap::new(),
        &options,
    )
    .unwrap();
    fleet.validate().unwrap();
    assert_eq!(fleet.scope.server, Some(ServerName::new("b")));
    assert_eq!(fleet.notes, ["b is current", "c is current"]);
    assert!(fleet.steps.is_empty() && fleet.fleet.as_ref().unwrap().rollout.is_none());
    let mut planning = FleetPlanning::new(1);
    planning.add(unchanged("b"));
    planning.add(unchanged("c"));
    assert_eq!(planning.finish("x@all".into(), "all".into(), names, &options).unwrap(), fleet);
}

#[test]
fn waves_are_the_canaries_then_max_unavailable_at_a_time() {
    let servers: Vec<ServerName> = (1..=10).map(|n| ServerName::new(format!("s-{n:02}"))).collect();
    let check = |unavailable: &str, canary: Option<u32>, expected: &[usize]| {
        let options = RolloutOptions {
            max_unavailable: Some(Unavailable::parse(unavailable).unwrap()),
            canary,
            stop_after_failures: None,
        };
        let sizes: Vec<usize> = Rollout::new(&servers, &options).waves.iter().map(Vec::len).collect();
        assert_eq!(sizes, expected, "{unavailable} canary {canary:?}");
    };
    check("1", None, &[1; 10]);
    check("3", None, &[3, 3, 3, 1]);
    check("20%", None, &[2, 2, 2, 2, 2]);
    check("25%", Some(1), &[1, 3, 3, 3]);
    check("100%", Some(20), &[10]);
    check("1%", None, &[1; 10]);
    for bad in ["0", "0%", "101%", "x", "-1", ""] {
        assert!(Unavailable::parse(bad).unwrap_err().contains("--max-unavailable"), "{bad}");
    }
}
