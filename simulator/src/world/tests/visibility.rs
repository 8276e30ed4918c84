//! Eventual consistency for every kind (`Faults::invisible_secs`, `world/visibility.rs`).

use super::*;
use crate::Faults;

const SECS: u64 = 10;

/// What a check sees of one new resource: whether its describe lists it, and what a call
/// naming it answers.
type Check = Box<dyn Fn(&mut World) -> (bool, Result<(), K>)>;

/// Each new resource is missing from its describe and refused by id with AWS's code for
/// its kind until `SECS` have passed, then listed and accepted.
#[test]
fn new_resources_of_every_kind_are_invisible_for_a_while() {
    let mut w = default_world();
    let r = east();
    // Made before the fault is on: what the new resources are made of or from.
    let old_volume = volume(&mut w, "us-east-1a");
    let instance = launch(&mut w, "us-east-1a");
    let old_template = template(&mut w, "old");
    w.create_auto_scaling_group(&r, group_request("g", &old_template, 0)).unwrap();
    w.advance_clock_to(Timestamp(T0 + PENDING_SECS));
    w.set_faults(Faults { invisible_secs: SECS, ..Faults::default() }).unwrap();
    let made_at = w.now();

    let volume = volume(&mut w, "us-east-1a");
    let address = w.allocate_address(&r, tags(&[("Name", "x")])).unwrap().allocation_id;
    let new_template = template(&mut w, "x");
    let version = w.create_launch_template_version(&r, &old_template, spec("t3.small", "ami-0002"), None).unwrap();
    let snapshot = w.create_snapshot(&r, &old_volume, tags(&[("Name", "x")])).unwrap().id;
    let image = w.create_image(&r, &instance, "x-image", Tags::new(), &Default::default()).unwrap().id;
    w.create_auto_scaling_group(&r, group_request("h", &old_template, 0)).unwrap();
    let group = AutoScalingGroupName::new("h");

    let checks: Vec<(&str, K, Check)> = vec![
        ("volume", K::InvalidVolumeNotFound, {
            let (id, r) = (volume.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_volumes(&r, &Filter::Id(id.to_string())).len() == 1;
                (seen, kind(w.clone().delete_volume(&r, &id)))
            })
        }),
        ("address", K::InvalidAddressNotFound, {
            let (id, r) = (address.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_addresses(&r, &Filter::Id(id.to_string())).len() == 1;
                (seen, kind(w.clone().release_address(&r, &id)))
            })
        }),
        ("launch template", K::InvalidLaunchTemplateNotFound, {
            let (id, r) = (new_template.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_launch_templates(&r, &Filter::Id(id.to_string())).len() == 1;
                (seen, kind(w.clone().create_launch_template_version(&r, &id, spec("t3.small", "ami-0002"), None)))
            })
        }),
        // Auto Scaling's answer for a launch template it cannot see yet: ValidationError.
        ("launch template named by a group", K::InvalidParameterValue, {
            let (id, r) = (new_template.clone(), r.clone());
            Box::new(move |w| {
                let result = kind(w.clone().create_auto_scaling_group(&r, group_request("y", &id, 0)));
                (result.is_ok(), result) // nothing to describe: the call says it all
            })
        }),
        ("launch template version", K::InvalidParameterValue, {
            let (id, n, r) = (old_template.clone(), version.latest_version, r.clone());
            let launch = LaunchSource::Template { id, version: Some(n) };
            Box::new(move |w| {
                let update = UpdateAutoScalingGroupRequest { launch: Some(launch.clone()), ..Default::default() };
                let result = kind(w.clone().update_auto_scaling_group(&r, &AutoScalingGroupName::new("g"), update));
                (result.is_ok(), result)
            })
        }),
        ("snapshot", K::InvalidSnapshotNotFound, {
            let (id, r) = (snapshot.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_snapshots(&r, &Filter::Id(id.to_string())).len() == 1;
                (seen, kind(w.clone().create_tags(&r, id.as_str(), tags(&[("k", "v")]))))
            })
        }),
        ("image", K::InvalidAmiIdNotFound, {
            let (id, r) = (image.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_images(&r).iter().any(|i| i.id == id);
                (seen, kind(w.clone().create_tags(&r, id.as_str(), tags(&[("k", "v")]))))
            })
        }),
        ("group", K::AutoScalingGroupNotFound, {
            let (name, r) = (group.clone(), r.clone());
            Box::new(move |w| {
                let seen = w.describe_auto_scaling_groups(&r, &Filter::All).iter().any(|g| g.name == name);
                let update = UpdateAutoScalingGroupRequest { desired: Some(0), ..Default::default() };
                (seen, kind(w.clone().update_auto_scaling_group(&r, &name, update)))
            })
        }),
    ];
    for (what, code, check) in &checks {
        let mut w = w.clone();
        assert_eq!(check(&mut w), (false, Err(code.clone())), "{what}: invisible at first");
        w.advance_clock_to(Timestamp(made_at.0 + SECS - 1));
        assert_eq!(check(&mut w), (false, Err(code.clone())), "{what}: invisible 1 s before");
        w.advance_clock_to(Timestamp(made_at.0 + SECS));
        assert_eq!(check(&mut w), (true, Ok(())), "{what}: visible after {SECS} s");
    }
    let summary = w.render_summary();
    assert!(
        summary.contains("not visible yet (eventual consistency): ") && summary.contains("group:h until"),
        "{summary}"
    );
    assert!(summary.contains(&format!("{volume} until")), "{summary}");
    // Saved and loaded, what is invisible stays so; a world without the fault hides nothing.
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
    let mut quiet = default_world();
    let v = volume_of(&mut quiet);
    assert_eq!(quiet.describe_volumes(&r, &Filter::Id(v.to_string())).len(), 1);
    assert!(!render_world(&quiet).contains("invisible"), "nothing written without the fault");
}

/// `$Latest` is the newest version the API sees: within a new version's window a group's
/// launch gets the version before it, and a describe shows that one as the latest.
#[test]
fn latest_is_the_newest_visible_version() {
    let mut w = default_world();
    let r = east();
    let id = template(&mut w, "t"); // version 1: t3.small
    w.set_faults(Faults { invisible_secs: SECS, ..Faults::default() }).unwrap();
    let made_at = w.now();
    w.create_launch_template_version(&r, &id, spec("m5.large", "ami-0002"), None).unwrap();
    let latest = template_source(&id, None);
    let seen = |w: &World| {
        let described = w.describe_launch_templates(&r, &Filter::Id(id.to_string()));
        let launched = w.launch_spec(&r, &latest).unwrap().instance_type.to_string();
        (described[0].latest_version, described[0].latest.instance_type.to_string(), launched)
    };
    assert_eq!(seen(&w), (1, "t3.small".into(), "t3.small".into()), "within the window");
    w.advance_clock_to(Timestamp(made_at.0 + SECS - 1));
    assert_eq!(seen(&w), (1, "t3.small".into(), "t3.small".into()), "1 s before");
    w.advance_clock_to(Timestamp(made_at.0 + SECS));
    assert_eq!(seen(&w), (2, "m5.large".into(), "m5.large".into()), "after {SECS} s");
    // A version named by number is the one named, seen or not (a group names it only once
    // UpdateAutoScalingGroup accepted it).
    assert_eq!(w.launch_spec(&r, &template_source(&id, Some(1))).unwrap().instance_type.to_string(), "t3.small");
}

fn volume_of(w: &mut World) -> VolumeId {
    volume(w, "us-east-1a")
}
