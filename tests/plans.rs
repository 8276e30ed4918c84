//! Reviewed plan snapshots: `plans/` holds the text and RON rendering of every command in
//! its main situations (and the message of each refusal), ids, addresses and tokens
//! replaced by placeholders. A reviewer reads `plans/` to see what each command does; a
//! change to a plan shows up as a snapshot diff in review.

mod support;

/// (snapshot name, world changes and commands applied first, the command planned)
const SITUATIONS: &[(&str, &[&str], &str)] = &[
    // create-server
    ("create-server-new-address", &[], "create-server@ommegang 20"),
    ("create-server-reuse-address", &[], "create-server@duvel 30"),
    ("create-server-no-auto-scaling", &[], "create-server@chimay 10"),
    ("create-server-launch-configuration", &[], "create-server@achel 15"),
    ("create-server-refused-exists", &["create-server@duvel 30"], "create-server@duvel 30"),
    ("create-server-two-volumes", &[], "create-server@kwak 40"),
    // stop-auto-scaling
    ("stop-auto-scaling", &["create-server@duvel 30"], "stop-auto-scaling@duvel"),
    ("stop-auto-scaling-keep-group", &["create-server@duvel 30"], "stop-auto-scaling@duvel --keep-group"),
    ("stop-auto-scaling-launch-configuration", &["create-server@achel 15"], "stop-auto-scaling@achel"),
    (
        "stop-auto-scaling-after-keep-group",
        &["create-server@duvel 30", "stop-auto-scaling@duvel --keep-group"],
        "stop-auto-scaling@duvel",
    ),
    ("stop-auto-scaling-refused-no-group", &["create-server@chimay 10"], "stop-auto-scaling@chimay"),
    (
        "stop-auto-scaling-refused-already-stopped",
        &["create-server@duvel 30", "stop-auto-scaling@duvel --keep-group"],
        "stop-auto-scaling@duvel --keep-group",
    ),
    // attach-instance
    ("attach-instance", &["create-server@duvel 30", "stop-auto-scaling@duvel"], "attach-instance@duvel"),
    (
        "attach-instance-other-type",
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "attach-instance@duvel m1.small web-server x86_64",
    ),
    ("attach-instance-refused-attached", &["create-server@chimay 10"], "attach-instance@chimay"),
    (
        "attach-instance-refused-auto-scaling",
        &["create-server@duvel 30", "!capacity us-east-1a m5.large 0", "!terminate duvel", "!advance 60"],
        "attach-instance@duvel",
    ),
    ("attach-instance-refused-no-volume", &[], "attach-instance@duvel"),
    ("attach-instance-two-volumes", &["create-server@kwak 40", "stop-auto-scaling@kwak"], "attach-instance@kwak"),
    // start-auto-scaling
    ("start-auto-scaling-launches", &["create-server@duvel 30", "stop-auto-scaling@duvel"], "start-auto-scaling@duvel"),
    ("start-auto-scaling-adopts-running-instance", &["create-server@chimay 10"], "start-auto-scaling@chimay"),
    (
        "start-auto-scaling-kept-group",
        &["create-server@duvel 30", "stop-auto-scaling@duvel --keep-group"],
        "start-auto-scaling@duvel t3.large",
    ),
    (
        "start-auto-scaling-launch-configuration",
        &["create-server@achel 15", "stop-auto-scaling@achel --keep-group"],
        "start-auto-scaling@achel",
    ),
    ("start-auto-scaling-refused-already", &["create-server@duvel 30"], "start-auto-scaling@duvel"),
    // upgrade-ami
    ("upgrade-ami", &["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"], "upgrade-ami@duvel"),
    (
        "upgrade-ami-restart",
        &["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"],
        "upgrade-ami@duvel --restart",
    ),
    (
        "upgrade-ami-launch-configuration",
        &["create-server@achel 15", "!image web-server-2026-12-01 x86_64 us-east-1"],
        "upgrade-ami@achel --restart",
    ),
    ("upgrade-ami-already-newest", &["create-server@duvel 30"], "upgrade-ami@duvel"),
    (
        "upgrade-ami-refused-not-auto-scaling",
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "upgrade-ami@duvel",
    ),
    // sync
    ("sync-tags-of-a-reused-address", &["create-server@duvel 30"], "sync@duvel"),
    ("sync-matches", &["create-server@duvel 30", "sync@duvel"], "sync@duvel"),
    (
        "sync-newer-image-restart",
        &["create-server@duvel 30", "sync@duvel", "!image web-server-2026-12-01 x86_64 us-east-1"],
        "sync@duvel --restart",
    ),
    (
        "sync-launch-configuration",
        &["create-server@achel 15", "!image web-server-2026-12-01 x86_64 us-east-1"],
        "sync@achel --restart",
    ),
    ("sync-no-group", &["create-server@chimay 10"], "sync@chimay"),
    ("sync-refused-nothing", &[], "sync@ommegang"),
    // create-workspace
    ("create-workspace", &[], "create-workspace"),
    ("create-workspace-second", &["create-workspace"], "create-workspace"),
    ("create-workspace-arm64", &[], "create-workspace web-server arm64 us-east-1"),
    ("create-workspace-refused-no-image", &[], "create-workspace web-server i386 us-west-2"),
    // bundle-ami
    ("bundle-ami", &["create-workspace"], "bundle-ami@workspace-1 web-server --copy-to us-west-2"),
    ("bundle-ami-server", &["create-server@ommegang 20"], "bundle-ami@ommegang"),
    ("bundle-ami-refused-name-taken", &["create-workspace", "bundle-ami@workspace-1"], "bundle-ami@workspace-1"),
    ("bundle-ami-refused-no-instance", &[], "bundle-ami@workspace-9"),
    // destroy-server
    ("destroy-server", &["create-server@duvel 30"], "destroy-server@duvel"),
    ("destroy-server-delete-data", &["create-server@duvel 30"], "destroy-server@duvel --delete-data"),
    ("destroy-server-two-volumes-delete-data", &["create-server@kwak 40"], "destroy-server@kwak --delete-data"),
    (
        "destroy-server-after-stop",
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "destroy-server@duvel --delete-data",
    ),
    ("destroy-server-volume-only", &["create-server@duvel 30", "destroy-server@duvel"], "destroy-server@duvel"),
    ("destroy-server-refused-nothing", &[], "destroy-server@chimay"),
    // backup, prune
    ("backup-scheduled", &["create-server@kwak 40"], "backup@kwak"),
    ("backup-manual", &["create-server@kwak 40", "backup@kwak"], "backup@kwak"),
    ("backup-not-due", &["create-server@kwak 40", "backup@kwak"], "backup@kwak --due"),
    ("backup-refused-no-volume", &[], "backup@kwak"),
    (
        "prune-keeps-all",
        &["create-server@duvel 30", "backup@duvel", "!advance 86400", "backup@duvel --due"],
        "prune@duvel",
    ),
    (
        "prune-server-gone",
        &["create-server@duvel 30", "backup@duvel", "destroy-server@duvel --delete-data"],
        "prune@duvel",
    ),
    // restore-server
    (
        "restore-server",
        &["create-server@kwak 40", "backup@kwak", "!advance 3600"],
        "restore-server@kwak --at 2026-11-25",
    ),
    ("restore-server-zone-now", &["create-server@kwak 40"], "restore-server@kwak --at now --zone b --delete-old"),
    ("restore-server-drill", &["create-server@kwak 40", "backup@kwak"], "restore-server@kwak --at 2026-11-25 --drill"),
    ("restore-server-refused-no-backup", &["create-server@kwak 40"], "restore-server@kwak --at 2026-11-25"),
];

fn snapshot(name: &str, setup: &[&str], command_line: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let planned = rt.block_on(async {
        let sim = support::world_after(setup).await;
        support::plan(&*sim, command_line).await
    });
    let description = if setup.is_empty() {
        command_line.to_string()
    } else {
        format!("{command_line}\nafter: {}", setup.join("; "))
    };
    insta::with_settings!({
        snapshot_path => "../plans",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => description,
        filters => vec![
            (r"\b(i|vol|eipalloc|ami|lt|snap)-[0-9a-f]{4,17}\b", "$1-[id]"),
            (r"\b198\.51\.100\.\d+\b", "[address]"),
            (r"\b203\.0\.113\.\d+\b", "[dns-address]"),
            (r"cellar-([a-z0-9-]+?)-[0-9a-f]{16}", "cellar-$1-[token]"),
            (r"[^\s(]*fixtures/config/", "fixtures/config/"),
            // The digest changes with every byte of the plan: the content below is what is reviewed.
            (r"sha256 of the lines below: [0-9a-f]{64}", "sha256 of the lines below: [sha256]"),
        ],
    }, {
        match planned {
            Ok(plan) => {
                insta::assert_snapshot!(format!("{name}.text"), plan.render_text());
                insta::assert_snapshot!(format!("{name}.ron"), plan.to_ron());
            }
            Err(refusal) => insta::assert_snapshot!(format!("{name}.refused"), refusal),
        }
    });
}

#[test]
fn every_command_situation_matches_its_reviewed_plan() {
    let mut names = std::collections::BTreeSet::new();
    for (name, setup, command) in SITUATIONS {
        assert!(names.insert(name), "{name} appears twice");
        snapshot(name, setup, command);
    }
}

#[test]
fn refusal_situations_are_refused_and_others_planned() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (name, setup, command) in SITUATIONS {
        let planned = rt.block_on(async {
            let sim = support::world_after(setup).await;
            support::plan(&*sim, command).await
        });
        assert_eq!(planned.is_err(), name.contains("-refused"), "{name}: {planned:?}");
    }
}

/// A fleet planned as `cellar plan upgrade-ami@all` plans it (`planner::plan_shared`) is
/// the plan of its servers planned alone, but for the observations of their region (the
/// newest image, the VPC, subnets and security group): recorded once, not once per
/// server. The stale check still sees a change there.
#[test]
fn a_fleet_plan_records_its_region_once() {
    use cellar_engine::executor::journal::{resumed_staleness, Resume};
    use cellar_engine::plan::{Plan, ResourceKey, RolloutOptions};
    use cellar_engine::{command, inventory, model::ServerName, planner};
    const SERVERS: [&str; 4] = ["achel", "duvel", "kwak", "ommegang"];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sim = support::world_after(&[
            "create-server@achel 10",
            "create-server@duvel 30",
            "create-server@kwak 10",
            "create-server@ommegang 20",
            "!image web-server-2026-12-01 x86_64 us-east-1",
        ])
        .await;
        let tree = support::fixture_config();
        let (mut alone, mut together) = (Vec::new(), Vec::new());
        let mut shared = planner::Shared::default();
        for server in SERVERS {
            let words = [format!("upgrade-ami@{server}"), "--restart".to_string()];
            let command = command::parse_words(planner::COMMANDS, &words).unwrap();
            let scope = planner::scope(&command, &tree).unwrap();
            let inventory = inventory::read(&*sim, &scope).await.unwrap();
            alone.push(planner::plan(&command, &tree, &inventory).unwrap());
            together.push(planner::plan_shared(&command, &tree, &inventory, Some(&mut shared)).unwrap());
        }
        let regional = |key: &ResourceKey| {
            matches!(
                key,
                ResourceKey::NewestImage { .. }
                    | ResourceKey::Vpc(_)
                    | ResourceKey::Subnet(_)
                    | ResourceKey::SecurityGroup(_)
                    | ResourceKey::KeyPair(_)
            )
        };
        for (i, (alone, together)) in alone.iter().zip(&together).enumerate() {
            assert!(!alone.is_empty(), "{}", alone.render_text());
            let mut expected = alone.clone();
            if i > 0 {
                expected.observed.retain(|o| !regional(&o.resource));
            }
            assert_eq!(*together, expected, "server {i}: its plan, without the region's observations after the first");
            assert!(alone.observed.iter().filter(|o| regional(&o.resource)).count() >= 3);
        }
        let names: Vec<ServerName> = SERVERS.iter().map(|s| ServerName::new(*s)).collect();
        let fleet = |plans| {
            let options = RolloutOptions::default();
            Plan::fleet(
                "upgrade-ami@all --restart".into(),
                "all".into(),
                names.clone(),
                plans,
                Default::default(),
                &options,
            )
            .unwrap()
        };
        let (each, shared) = (fleet(alone), fleet(together));
        // Every resource once; the same observations as the servers' own plans together.
        let keys: std::collections::BTreeSet<_> = shared.observed.iter().map(|o| &o.resource).collect();
        assert_eq!(keys.len(), shared.observed.len(), "{:?}", shared.observed);
        let mut distinct = each.observed.clone();
        distinct.sort_by(|a, b| a.resource.cmp(&b.resource));
        distinct.dedup();
        let mut recorded = shared.observed.clone();
        recorded.sort_by(|a, b| a.resource.cmp(&b.resource));
        assert_eq!(recorded, distinct);
        assert!(each.observed.len() > shared.observed.len());
        assert_eq!((&shared.steps, &shared.notes, &shared.fleet), (&each.steps, &each.notes, &each.fleet));
        // The saved form reads back, and apply's stale check (every scope read again) passes...
        let saved = Plan::from_ron("fleet.ron", &shared.to_ron()).unwrap();
        assert_eq!(saved, shared);
        let scopes: Vec<_> = saved.scopes().cloned().collect();
        assert_eq!(scopes.len(), SERVERS.len());
        let now = |read: Vec<inventory::Inventory>| -> Vec<_> {
            scopes.iter().zip(&read).flat_map(|(scope, read)| read.observe(scope)).collect()
        };
        let read = inventory::read_many(&*sim, &scopes).await.unwrap();
        assert_eq!(resumed_staleness(&saved, &now(read), &Resume::default()), Vec::<String>::new());
        // ...until the region changes: a newer image makes the plan stale.
        support::change(&sim, "!image web-server-2026-12-02 x86_64 us-east-1").await;
        let read = inventory::read_many(&*sim, &scopes).await.unwrap();
        let stale = resumed_staleness(&saved, &now(read), &Resume::default());
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].starts_with("newest web-server image for x86_64"), "{stale:?}");
    });
}

/// A fleet planned on several threads (`planner::plan_fleet`, as `cellar plan` plans on a
/// machine with several cores) is the plan made on one, byte for byte: each part records
/// its region's observations with its first plan with steps, and the fleet keeps the first
/// part's only. The fleet mixes servers with steps, one already on the newest image
/// (no steps) and refusals (chimay has no auto scaling, ommegang was never created).
#[test]
fn a_fleet_plan_is_the_same_on_any_number_of_threads() {
    use cellar_engine::plan::{FleetPlanning, Plan, RolloutOptions};
    use cellar_engine::{command, inventory, model::ServerName, planner};
    const SERVERS: [&str; 5] = ["achel", "chimay", "duvel", "kwak", "ommegang"];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sim = support::world_after(&[
            "create-server@achel 10",
            "create-server@chimay 10",
            "create-server@duvel 30",
            "!image web-server-2026-12-01 x86_64 us-east-1",
            "create-server@kwak 10",
        ])
        .await;
        let tree = support::fixture_config();
        let (mut commands, mut scopes) = (Vec::new(), Vec::new());
        for server in SERVERS {
            let words = [format!("upgrade-ami@{server}"), "--restart".to_string()];
            let command = command::parse_words(planner::COMMANDS, &words).unwrap();
            scopes.push(planner::scope(&command, &tree).unwrap());
            commands.push((ServerName::new(server), command));
        }
        let inventories = inventory::read_many(&*sim, &scopes).await.unwrap();
        let names: Vec<ServerName> = SERVERS.iter().map(|s| ServerName::new(*s)).collect();
        let plan_on = |threads: usize| -> Plan {
            let mut fleet = FleetPlanning::new(SERVERS.len());
            planner::plan_fleet(&mut fleet, &tree, &commands, &inventories, threads);
            let options = RolloutOptions::default();
            fleet.finish("upgrade-ami@all --restart".into(), "all".into(), names.clone(), &options).unwrap()
        };
        let one = plan_on(1);
        // Two with steps, one without, two refused.
        let rows = one.fleet_rows();
        let steps: Vec<(&str, usize, bool)> =
            rows.iter().map(|r| (r.server.as_str(), r.steps, r.refused.is_some())).collect();
        assert_eq!(
            steps,
            [("achel", 5, false), ("chimay", 0, true), ("duvel", 3, false), ("kwak", 0, false), ("ommegang", 0, true)],
            "{}",
            one.render_text()
        );
        // As the servers' plans made one after the other with one `Shared` (`plan_each`).
        let mut shared = planner::Shared::default();
        let (mut plans, mut refused) = (Vec::new(), std::collections::BTreeMap::new());
        for ((server, command), inventory) in commands.iter().zip(&inventories) {
            match planner::plan_shared(command, &tree, inventory, Some(&mut shared)) {
                Ok(plan) => plans.push(plan),
                Err(refusal) => drop(refused.insert(server.clone(), refusal.to_string())),
            }
        }
        let options = RolloutOptions::default();
        let sequential =
            Plan::fleet("upgrade-ami@all --restart".into(), "all".into(), names.clone(), plans, refused, &options)
                .unwrap();
        assert_eq!(one.to_ron(), sequential.to_ron());
        for threads in 2..=SERVERS.len() + 1 {
            assert_eq!(plan_on(threads).to_ron(), one.to_ron(), "on {threads} threads");
        }
    });
}
