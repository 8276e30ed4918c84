//! The state file: round trips, corrupt and unknown-field files refused and left alone,
//! the lock between processes.

use super::*;
use cellar_engine::model::Timestamp;
use std::sync::Arc;

#[test]
fn missing_file_starts_from_the_default_world_and_roundtrips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state/world.ron");
    let mut store = SimStore::open(&path).unwrap();
    assert_eq!(*store.world(), default_world());
    assert!(!path.exists(), "opening does not write");
    store.world_mut().set_dns("chimay.imarc.net", vec!["198.51.100.7".into()]).unwrap();
    let later = Timestamp(store.world().now().0 + 42);
    store.world_mut().advance_clock_to(later);
    store.flush().unwrap();
    let saved = store.world().clone();
    drop(store);
    assert!(db::is_database(&path).unwrap(), "saved as a database");
    let mut reopened = SimStore::open(&path).unwrap();
    assert_eq!(*reopened.world(), saved);
    let mut changed = saved.clone();
    changed.advance_clock_to(Timestamp(changed.now().0 + 1));
    reopened.save(&changed).unwrap();
    assert_eq!(*reopened.world(), changed, "save makes it the store's world");
    drop(reopened);
    assert_eq!(*SimStore::open(&path).unwrap().world(), changed);
    // Only the state file and its lock file are left behind (no temporary files).
    let mut names: Vec<String> =
        fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["world.ron", "world.ron.lock"]);
}

fn check_corrupt(text: &str, line: usize, column: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.ron");
    fs::write(&path, text).unwrap();
    let e = SimStore::open(&path).unwrap_err();
    match &e {
        StoreError::Corrupt { path: p, line: l, column: c, .. } => {
            assert_eq!((p, *l, *c), (&path, line, column), "{e}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let message = e.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("line {line}, column {column}")), "{message}");
    assert!(message.contains("cellar sim init"), "{message}");
    assert_eq!(fs::read(&path).unwrap(), text.as_bytes(), "the file is left as it was");
}

#[test]
fn corrupt_files_are_reported_and_left_alone() {
    check_corrupt("(\n    now: 12,\n    regions: [oops],\n)\n", 3, 19);
    check_corrupt("not ron at all", 1, 4);
    check_corrupt("(\n    now: 12,\n    regions: [],\n    images: {\n", 5, 1);
    check_corrupt("", 1, 1);
}

#[test]
fn init_overwrites_even_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.ron");
    fs::write(&path, "garbage").unwrap();
    let mut fresh = default_world();
    fresh.reseed(7);
    let store = SimStore::init(&path, fresh.clone()).unwrap();
    assert_eq!(*store.world(), fresh);
    drop(store);
    assert_eq!(*SimStore::open(&path).unwrap().world(), fresh);
    assert_eq!(parse_world(DEFAULT_WORLD_RON).unwrap(), default_world());
}

#[test]
fn concurrent_updates_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("world.ron"));
    let start = default_world().now().0;
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let path = Arc::clone(&path);
            std::thread::spawn(move || {
                for n in 0..50 {
                    let mut store = SimStore::open(&path).unwrap();
                    let world = store.world_mut();
                    world.advance_clock_to(Timestamp(world.now().0 + 1));
                    world.record(format!("thread {t} update {n}"));
                    store.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let world = SimStore::open(&path).unwrap().into_world();
    assert_eq!(world.now().0, start + 100);
    assert_eq!(world.log().len(), 100);
}

/// A world with one of everything the state file nests: an instance, a group, a template,
/// an address, a snapshot, scheduled transitions, log entries, faults.
fn busy_world_text() -> String {
    use cellar_engine::cloud::{CreateAutoScalingGroupRequest, CreateLaunchTemplateRequest, CreateVolumeRequest};
    use cellar_engine::model::*;
    let r = Region::new("us-east-1");
    let mut w = default_world();
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings::default(),
    };
    let request = CreateLaunchTemplateRequest { name: "x".into(), spec, tags: Tags::new(), client_token: None };
    let lt = w.create_launch_template(&r, request).unwrap();
    let group = CreateAutoScalingGroupRequest {
        name: AutoScalingGroupName::new("x"),
        launch: LaunchSource::Template { id: lt.id, version: None },
        zones: vec![Zone::new("us-east-1a")],
        min: 1,
        max: 1,
        desired: 1,
        tags: Tags::new(),
        subnets: vec![],
    };
    w.create_auto_scaling_group(&r, group).unwrap();
    w.advance_clock_to(Timestamp(w.now().0 + 1));
    let volume = CreateVolumeRequest {
        client_token: None,
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        tags: Tags::new(),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    let volume = w.create_volume(&r, volume).unwrap();
    w.advance_clock_to(Timestamp(w.now().0 + 10));
    w.create_snapshot(&r, &volume.id, Tags::new()).unwrap();
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings::default(),
    };
    w.create_launch_configuration(&r, "x-lc", spec).unwrap();
    w.set_faults(crate::Faults { throttling: true, ..crate::Faults::default() }).unwrap();
    w.begin_call(cellar_engine::api::Api::DescribeVolumes, Some(&r), false).unwrap();
    render_world(&w)
}

/// Adds `bogus: 1,` after the line starting (indentation aside) with the last of `after`,
/// looked for after the lines of the ones before it; opens the file, and expects it refused
/// naming the field, its line and the file, left untouched.
fn check_unknown_field(after: &[&str], expected_struct_fields: &str) {
    let text = busy_world_text();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut at = 0;
    for marker in after {
        let found = lines[at..].iter().position(|l| l.trim_start().starts_with(marker));
        at += found.unwrap_or_else(|| panic!("no {marker} in\n{text}"));
    }
    let indent = lines[at].len() - lines[at].trim_start().len();
    lines.insert(at + 1, format!("{}bogus: 1,", " ".repeat(indent)));
    let edited = lines.join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.ron");
    fs::write(&path, &edited).unwrap();
    let e = SimStore::open(&path).unwrap_err();
    match &e {
        StoreError::UnknownField { path: p, line, field, expected, .. } => {
            assert_eq!((p, *line, field.as_str()), (&path, at + 2, "bogus"), "after {after:?}: {e}");
            assert!(expected.contains(expected_struct_fields), "after {after:?}: {expected}");
        }
        other => panic!("after {after:?}: expected UnknownField, got {other:?}"),
    }
    let message = e.to_string();
    for needle in [&path.display().to_string(), &format!("line {}, column ", at + 2), "`bogus`", "cellar sim init"] {
        assert!(message.contains(needle), "{needle:?} missing in {message}");
    }
    assert_eq!(fs::read(&path).unwrap(), edited.as_bytes(), "the file is left as it was");
}

#[test]
fn unknown_fields_are_refused_not_dropped() {
    // (where, the fields known there): the simulator's structs ...
    check_unknown_field(&["now:"], "now, millis, rng, faults");
    check_unknown_field(
        &["default_capacity:"],
        "agents_due, instance_profiles, default_instance_profile, instance_profile_of, operator_actions, console, log",
    );
    check_unknown_field(&["throttling:"], "throttling, transient_error_rate");
    check_unknown_field(&["instances:", "launched_at:"], "id, state, zone");
    check_unknown_field(&["instances:", "client_token:"], "user_data, client_token");
    check_unknown_field(&["addresses:", "public_ip:"], "allocation_id, region, public_ip");
    check_unknown_field(&["templates:", "default_version:"], "versions, default_version");
    check_unknown_field(&["groups:", "desired:"], "min, max, desired");
    check_unknown_field(&["snapshots:", "volume:"], "volume, size_gb");
    check_unknown_field(&["scheduled:", "seq:"], "at, seq, transition");
    check_unknown_field(&["log:", "message:"], "at, millis, message");
    // ... and the engine's types inside them.
    check_unknown_field(&["regions:", "region:"], "region, zones");
    check_unknown_field(&["images:", "architecture:"], "id, name, architecture");
    check_unknown_field(&["volumes:", "attached_to:"], "size_gb, attached_to, device");
    check_unknown_field(&["templates:", "versions:", "image:"], "instance_type, image, user_data");
    check_unknown_field(&["launch_configurations:", "created_at:"], "name, spec, created_at");
    check_unknown_field(&["launch_configurations:", "spec:", "image:"], "instance_type, image, user_data");
    check_unknown_field(&["groups:", "launch:", "id:"], "id, version");
    check_unknown_field(&["groups:", "activities:", "description:"], "succeeded, description, error_code");
    check_unknown_field(&["buckets:", "tokens:"], "tokens, updated_ms");
}

/// `cellar check` validates zones against the engine's catalog and `plan` against the
/// backend: the default world offers exactly the catalog's zones, so the two agree.
#[test]
fn the_default_world_has_the_catalogs_zones() {
    for info in default_world().regions() {
        let letters: String = info.zones.iter().map(|z| z.letter()).collect();
        assert_eq!(
            Some(letters.as_str()),
            cellar_engine::catalog::zone_letters(info.region.as_str()),
            "{}",
            info.region
        );
    }
}

/// The default world's `cellar-agent` instance profile allows exactly the actions of
/// docs/agent-iam-policy.json (what the README tells operators to give the agent's role).
#[test]
fn the_default_worlds_agent_profile_is_the_documented_policy() {
    let policy: std::collections::BTreeSet<String> = include_str!("../../../docs/agent-iam-policy.json")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("\"ec2:") || l.starts_with("\"autoscaling:"))
        .map(|l| l.trim_matches([',', '"']).to_string())
        .collect();
    let world = default_world();
    assert_eq!(world.instance_profiles().get("cellar-agent"), Some(&policy));
    assert_eq!(policy.len(), 7, "{policy:?}");
    let actions: std::collections::BTreeSet<String> =
        crate::world::AGENT_ACTIONS.iter().map(|a| a.to_string()).collect();
    assert_eq!(actions, policy);
}

/// A world with an instance launched without a profile (i-0001) and a launch template
/// whose settings name none.
fn world_with_profileless_launches() -> World {
    use cellar_engine::cloud::{CreateLaunchTemplateRequest, RunInstanceRequest};
    use cellar_engine::model::*;
    let mut w = default_world();
    let east = Region::new("us-east-1");
    let spec = LaunchSpec {
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings::default(),
    };
    let run = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        subnet: None,
        instance_type: spec.instance_type.clone(),
        image: spec.image.clone(),
        user_data: String::new(),
        settings: LaunchSettings::default(),
        tags: Tags::new(),
        client_token: String::new(),
    };
    w.run_instance(&east, run).unwrap();
    let template = CreateLaunchTemplateRequest { name: "x".into(), spec, tags: Tags::new(), client_token: None };
    w.create_launch_template(&east, template).unwrap();
    w
}

fn template_profile(w: &World) -> Option<String> {
    let t = w
        .describe_launch_templates(&cellar_engine::model::Region::new("us-east-1"), &cellar_engine::cloud::Filter::All);
    t[0].latest.settings.instance_profile.as_ref().map(|p| p.to_string())
}

/// Older state files are migrated (see `world/file.rs`): one from before instance profiles
/// gives its instances and its launch settings without a profile the documented agent
/// profile; one from while launches named no profile (`default_instance_profile`,
/// `instance_profile_of`) keeps each instance's profile and gives launch settings the old
/// default. Today's form keeps a launch without a profile without one, and writes neither
/// old field.
#[test]
fn older_state_files_keep_their_agents_rights() {
    let i = cellar_engine::model::InstanceId::new("i-0001");
    let world = world_with_profileless_launches();
    assert_eq!(world.instance_profile(&i), None);
    assert_eq!(template_profile(&world), None);
    let text = render_world(&world);
    assert!(!text.contains("default_instance_profile") && !text.contains("instance_profile_of"), "{text}");
    assert_eq!(parse_world(&text).unwrap(), world, "today's form reads back as it was");

    // Before instance profiles: no `instance_profiles`, no profile on instances.
    let start = text.find("    instance_profiles:").unwrap();
    let end = text.find("    log:").unwrap();
    let old = format!("{}{}", &text[..start], &text[end..]).replace("        instance_profile: None,\n", "");
    assert!(!old.contains("instance_profile"), "{old}");
    let migrated = parse_world(&old).unwrap();
    assert_eq!(migrated.instance_profile(&i), Some("cellar-agent"));
    assert_eq!(template_profile(&migrated).as_deref(), Some("cellar-agent"));
    assert_eq!(migrated.instance_profiles(), default_world().instance_profiles());

    // While launches named no profile: the world's default and each instance's profile.
    let middle = text.replace("        instance_profile: None,\n", "").replace(
        "    log:",
        "    default_instance_profile: Some(\"cellar-agent\"),\n    instance_profile_of: {\"i-0001\": \"narrow\"},\n    log:",
    );
    let migrated = parse_world(&middle).unwrap();
    assert_eq!(migrated.instance_profile(&i), Some("narrow"));
    assert_eq!(template_profile(&migrated).as_deref(), Some("cellar-agent"));
    let saved = render_world(&migrated);
    assert!(!saved.contains("default_instance_profile") && !saved.contains("instance_profile_of"), "{saved}");
}

#[test]
fn an_empty_path_is_refused_and_locks_nothing() {
    let Err(e) = SimStore::open(Path::new("")) else { panic!("an empty path was accepted") };
    let e = e.to_string();
    assert!(e.contains("the state file's path is empty"), "{e}");
    assert!(SimStore::init(Path::new(""), default_world()).is_err());
}

/// The holder writes who it is into the lock file; a wait longer than a second is said once,
/// naming it; a shorter one is not said.
#[test]
fn a_wait_for_the_lock_says_once_who_holds_it() {
    for (held_ms, expected_reports) in [(200u64, 0usize), (1600, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("world.ron");
        let held = SimStore::open(&path).unwrap();
        let written = fs::read_to_string(lock_path(&path)).unwrap();
        assert_eq!(written, format!("{}\n", holder()));
        assert!(written.starts_with(&format!("pid {}: ", std::process::id())), "{written}");
        let said = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (waiter_path, waiter_said) = (path.clone(), said.clone());
        let waiter = std::thread::spawn(move || {
            let report = |h: &str| waiter_said.lock().unwrap().push(h.to_string());
            SimStore::open_reporting(&waiter_path, &report).map(drop)
        });
        std::thread::sleep(Duration::from_millis(held_ms));
        drop(held);
        waiter.join().unwrap().unwrap();
        let said = said.lock().unwrap().clone();
        assert_eq!(said.len(), expected_reports, "held {held_ms} ms: {said:?}");
        assert!(said.iter().all(|h| *h == written.trim()), "{said:?}");
    }
}

/// Opens the store at `path` with `access`.
fn open_as(path: &Path, access: Access) -> Result<SimStore, StoreError> {
    match access {
        Access::Exclusive => SimStore::open(path),
        Access::Shared => SimStore::open_shared(path, &|_| {}),
    }
}

/// While a store opened with `first` is held, whether an open with `second` waits (and,
/// if it does, that it gets the lock once the first is dropped).
fn check_waits(first: Access, second: Access, expected_wait: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.ron");
    SimStore::init(&path, default_world()).unwrap();
    let held = open_as(&path, first).unwrap();
    let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (other_path, other_opened) = (path.clone(), opened.clone());
    let other = std::thread::spawn(move || {
        let store = open_as(&other_path, second);
        other_opened.store(true, std::sync::atomic::Ordering::SeqCst);
        store.map(drop)
    });
    std::thread::sleep(Duration::from_millis(300));
    let waited = !opened.load(std::sync::atomic::Ordering::SeqCst);
    drop(held);
    other.join().unwrap().unwrap();
    assert_eq!(waited, expected_wait, "{first:?} held, then {second:?}");
}

/// Read-only commands (`status`, `plan`, `sim show`) share the lock; a writer waits for
/// every reader, and readers wait for a writer.
#[test]
fn readers_share_the_lock_and_a_writer_waits_for_them() {
    check_waits(Access::Shared, Access::Shared, false);
    check_waits(Access::Shared, Access::Exclusive, true);
    check_waits(Access::Exclusive, Access::Shared, true);
    check_waits(Access::Exclusive, Access::Exclusive, true);
}

/// A store opened shared reads the world as a writer would, and refuses to save it; the
/// file stays byte-identical.
#[test]
fn a_shared_store_reads_and_never_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.ron");
    let mut world = default_world();
    world.record("something happened");
    SimStore::init(&path, world.clone()).unwrap();
    let before = fs::read(&path).unwrap();
    let mut store = SimStore::open_shared(&path, &|_| {}).unwrap();
    assert!(store.is_shared());
    assert_eq!(store.world(), &world);
    for refused in [store.flush(), store.write(&mut world.clone()), store.save(&world)] {
        assert!(matches!(refused, Err(StoreError::ReadOnly { .. })), "{refused:?}");
    }
    drop(store);
    assert_eq!(fs::read(&path).unwrap(), before);
    assert!(!SimStore::open(&path).unwrap().is_shared());
}
