//! The index (`world/index.rs`): describes by Name tag and by id find what a full scan
//! would, and a Name change moves a resource in it.

use super::*;

/// Every describe by `filter` in us-east-1, as `kind id` lines (what the index serves).
fn described(w: &World, filter: &Filter) -> Vec<String> {
    let r = east();
    let mut out: Vec<String> = Vec::new();
    out.extend(w.describe_instances(&r, filter).iter().map(|i| format!("instance {}", i.id)));
    out.extend(w.describe_volumes(&r, filter).iter().map(|v| format!("volume {}", v.id)));
    out.extend(w.describe_addresses(&r, filter).iter().map(|a| format!("address {}", a.allocation_id)));
    out.extend(w.describe_launch_templates(&r, filter).iter().map(|t| format!("template {}", t.id)));
    out.extend(w.describe_snapshots(&r, filter).iter().map(|s| format!("snapshot {}", s.id)));
    out.extend(w.describe_auto_scaling_groups(&r, filter).iter().map(|g| format!("group {}", g.name)));
    out
}

fn server(name: &str) -> Filter {
    Filter::Server(ServerName::new(name))
}

/// What a full scan of every resource in us-east-1 finds for `filter` (the reference).
fn scanned(w: &World, filter: &Filter) -> Vec<String> {
    let all = described(w, &Filter::All);
    all.into_iter()
        .filter(|line| {
            let (kind, id) = line.split_once(' ').expect("kind id");
            let tags = match kind {
                "instance" => w.instances[&InstanceId::new(id)].tags.clone(),
                "volume" => w.volumes[&VolumeId::new(id)].tags.clone(),
                "address" => w.addresses[&AllocationId::new(id)].tags.clone(),
                "template" => w.templates[&LaunchTemplateId::new(id)].tags.clone(),
                "snapshot" => w.snapshots[&SnapshotId::new(id)].tags.clone(),
                _ => w.groups[&AutoScalingGroupName::new(id)].tags.clone(),
            };
            filter.matches(id, &tags)
        })
        .collect()
}

/// After each step, the describes by `x`, `y`, both and by each id agree with a full scan,
/// the index equals one built from scratch, and the resources named `expected_x` /
/// `expected_y` are the ones found.
fn check(w: &World, step: &str, expected_x: &[&str], expected_y: &[&str]) {
    w.check_index().unwrap_or_else(|e| panic!("{step}: {e}"));
    let both = Filter::Servers(vec![ServerName::new("x"), ServerName::new("y")]);
    for filter in [server("x"), server("y"), both] {
        assert_eq!(described(w, &filter), scanned(w, &filter), "{step}: {filter:?}");
    }
    let kinds = |lines: Vec<String>| {
        lines.into_iter().map(|l| l.split_once(' ').unwrap().0.to_string()).collect::<Vec<String>>()
    };
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    assert_eq!(kinds(described(w, &server("x"))), names(expected_x), "{step}: Name=x");
    assert_eq!(kinds(described(w, &server("y"))), names(expected_y), "{step}: Name=y");
    for line in described(w, &Filter::All) {
        let id = line.split_once(' ').unwrap().1;
        if line.starts_with("group") {
            continue;
        }
        assert_eq!(described(w, &Filter::Id(id.to_string())), vec![line.clone()], "{step}: by id {id}");
    }
}

#[test]
fn a_name_change_moves_the_resource_in_the_index() {
    let mut w = default_world();
    let r = east();
    // Every kind that carries a Name, created as server x (the fixture's duvel is there too).
    let i = launch(&mut w, "us-east-1a");
    let v = volume(&mut w, "us-east-1a");
    let a = w.allocate_address(&r, tags(&[("Name", "x")])).unwrap().allocation_id;
    let t = template(&mut w, "x");
    w.advance_clock_to(Timestamp(T0 + 30));
    let s = w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap().id;
    let all = ["instance", "volume", "address", "template", "snapshot"];
    check(&w, "created", &all, &[]);
    let ids = [i.to_string(), v.to_string(), a.to_string(), t.to_string(), s.to_string()];
    // Renamed one kind at a time: it moves from x to y.
    let mut moved: Vec<&str> = Vec::new();
    for (kind, id) in all.iter().zip(&ids) {
        w.create_tags(&r, id, tags(&[("Name", "y")])).unwrap();
        moved.push(kind);
        let stay: Vec<&str> = all.iter().copied().filter(|k| !moved.contains(k)).collect();
        check(&w, &format!("{kind} renamed to y"), &stay, &moved);
    }
    // Another tag leaves the name as it is; deleting Name takes them out of both.
    w.create_tags(&r, &ids[0], tags(&[("k", "v")])).unwrap();
    check(&w, "another tag", &[], &all);
    for id in &ids {
        w.delete_tags(&r, id, vec!["Name".into()]).unwrap();
    }
    check(&w, "Name deleted", &[], &[]);
    // And back: named x again.
    for id in &ids {
        w.create_tags(&r, id, tags(&[("Name", "x")])).unwrap();
    }
    check(&w, "named x again", &all, &[]);
    // Removed resources leave the index.
    w.release_address(&r, &a).unwrap();
    w.delete_launch_template(&r, &t).unwrap();
    check(&w, "address and template removed", &["instance", "volume", "snapshot"], &[]);
}

#[test]
fn the_index_is_rebuilt_on_load_and_follows_associations() {
    let mut w = default_world();
    let r = east();
    let eip = w.allocate_address(&r, tags(&[("Name", "x")])).unwrap();
    let i1 = launch(&mut w, "us-east-1a");
    let i2 = launch(&mut w, "us-east-1b");
    w.advance_clock_to(Timestamp(T0 + 30));
    let ip_of = |w: &World, i: &InstanceId| w.describe_instances(&r, &Filter::Id(i.to_string()))[0].public_ip.clone();
    w.associate_address(&r, &eip.allocation_id, &i1).unwrap();
    assert_eq!((ip_of(&w, &i1), ip_of(&w, &i2)), (Some(eip.public_ip.clone()), None));
    w.associate_address(&r, &eip.allocation_id, &i2).unwrap();
    assert_eq!((ip_of(&w, &i1), ip_of(&w, &i2)), (None, Some(eip.public_ip.clone())), "re-association moves it");
    w.check_index().unwrap();
    // The state file has no index; loading builds the same one (World's == compares it).
    let loaded = parse_world(&render_world(&w)).unwrap();
    assert_eq!(loaded, w);
    assert_eq!(described(&loaded, &server("x")), described(&w, &server("x")));
    w.terminate_instance(&r, &i2).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    assert_eq!(ip_of(&w, &i2), None, "a terminated instance's address is disassociated");
    w.check_index().unwrap();
    w.advance_clock_to(Timestamp(T0 + 4000));
    assert!(w.describe_instances(&r, &Filter::Id(i2.to_string())).is_empty(), "gone after an hour");
    w.check_index().unwrap();
}

/// Auto Scaling's CreateOrUpdateTags: overwrites a key, moves the group in the index when
/// its Name changes, refuses past 50 tags (`LimitExceeded`) and while the group is being
/// deleted (`ValidationError`), and a group that does not exist (as UpdateAutoScalingGroup).
#[test]
fn group_tags_are_created_or_updated_as_auto_scaling_does() {
    let mut w = default_world();
    let r = east();
    let t = template(&mut w, "x");
    w.create_auto_scaling_group(&r, group_request("x", &t, 0)).unwrap();
    let name = AutoScalingGroupName::new("x");
    let code = |result: cellar_engine::cloud::CloudResult<()>| match result {
        Ok(()) => "ok".to_string(),
        Err(e) => e.code,
    };
    assert_eq!(code(w.create_or_update_group_tags(&r, &name, tags(&[("team", "web")]))), "ok");
    assert_eq!(code(w.create_or_update_group_tags(&r, &name, tags(&[("team", "ops")]))), "ok");
    let group = |w: &World| w.describe_auto_scaling_groups(&r, &Filter::All).into_iter().find(|g| g.name == name);
    assert_eq!(group(&w).unwrap().tags.get("team").map(String::as_str), Some("ops"));
    w.create_or_update_group_tags(&r, &name, tags(&[("Name", "y")])).unwrap();
    w.check_index().unwrap();
    assert_eq!(w.describe_auto_scaling_groups(&r, &server("y")).len(), 1);
    assert!(w.describe_auto_scaling_groups(&r, &server("x")).is_empty());
    let many: Tags = (0..50).map(|i| (format!("k{i:02}"), "v".to_string())).collect();
    assert_eq!(code(w.create_or_update_group_tags(&r, &name, many)), "LimitExceeded");
    let missing = AutoScalingGroupName::new("nope");
    // A group that does not exist: refused as UpdateAutoScalingGroup refuses it.
    let update = w.update_auto_scaling_group(&r, &missing, Default::default());
    assert_eq!(code(w.create_or_update_group_tags(&r, &missing, tags(&[("k", "v")]))), code(update));
    w.delete_auto_scaling_group(&r, &name, true).unwrap();
    assert!(group(&w).is_some_and(|g| g.deleting), "a deleted group stays while it is being deleted");
    assert_eq!(code(w.create_or_update_group_tags(&r, &name, tags(&[("k", "v")]))), "ValidationError");
}
