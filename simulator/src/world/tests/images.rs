//! Images (CreateImage, CopyImage), snapshots, and how the summary shows them.

use super::*;
use crate::world::{snapshot_secs, ImageDevice, SNAPSHOT_BASE_SECS, SNAPSHOT_SECS_PER_GIB};
use cellar_engine::cloud::ImageOptions;

fn image_states(w: &World, region: &Region) -> Vec<(String, String, ImageState)> {
    w.describe_images(region)
        .into_iter()
        .filter(|i| i.state != ImageState::Available || i.created_at.0 >= T0)
        .map(|i| (i.id.to_string(), i.name, i.state))
        .collect()
}

#[test]
fn create_and_copy_images() {
    use ImageState::*;
    let mut w = default_world();
    let (r, west) = (east(), Region::new("us-west-2"));
    let arm = w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0004", "")).unwrap().id;
    let name = "x-2026-11-25";
    assert_eq!(
        kind(w.create_image(&r, &arm, name, Tags::new(), &ImageOptions::default())),
        Err(K::IncorrectInstanceState),
        "still pending"
    );
    w.advance_clock_to(Timestamp(T0 + 30));
    let failures: &[(&str, &str, (&str, &str))] = &[
        ("i-ffff", name, ("InvalidInstanceID.NotFound", "The instance ID 'i-ffff' does not exist")),
        (
            "i-0001",
            "web-server-2026-08-04",
            ("InvalidAMIName.Duplicate", "AMI name web-server-2026-08-04 is already in use by AMI ami-0002"),
        ),
        (
            "i-0001",
            "x*",
            (
                "InvalidAMIName.Malformed",
                "AMI name 'x*' is invalid: AMI names must be between 3 and 128 characters long, and may contain \
                 letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
            ),
        ),
    ];
    for (instance, image_name, (code, message)) in failures {
        let got =
            error(w.create_image(&r, &InstanceId::new(*instance), image_name, Tags::new(), &ImageOptions::default()));
        assert_eq!(got, (code.to_string(), message.to_string()), "image {image_name} of {instance}");
    }
    let image = w.create_image(&r, &arm, name, tags(&[("Name", "x")]), &ImageOptions::default()).unwrap();
    assert_eq!(
        (image.id.as_str(), image.architecture, image.state, image.created_at, image.region.as_str()),
        ("ami-0009", Architecture::Arm64, Pending, Timestamp(T0 + 30), "us-east-1")
    );
    assert_eq!(image.tags, tags(&[("Name", "x")]));
    assert_eq!(
        error(w.create_image(&r, &arm, name, Tags::new(), &ImageOptions::default())),
        ("InvalidAMIName.Duplicate".into(), "AMI name x-2026-11-25 is already in use by AMI ami-0009".into()),
        "a pending image holds its name"
    );
    // Not launchable, not copyable while pending.
    assert_eq!(
        error(w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", ""))),
        ("InvalidAMIID.Unavailable".into(), "The image id '[ami-0009]' is not available (it is pending)".into())
    );
    assert_eq!(
        kind(w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", ""))),
        Err(K::InvalidAmiIdNotFound),
        "the same kind as the AWS adapter gives this code"
    );
    assert_eq!(kind(w.copy_image(&r, &image.id, &west, (name, None))), Err(K::IncorrectState));

    let steps: &[(u64, ImageState)] = &[(30 + 299, Pending), (30 + 300, Available)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(image_states(&w, &r), vec![("ami-0009".into(), name.into(), *expected)], "at T0+{secs}");
    }
    w.run_instance(&r, run_request("us-east-1a", "t4g.small", "ami-0009", "")).unwrap();

    // Copy to us-west-2: pending there for 10 minutes; the name must be free there.
    let copy_failures: &[(&str, &str, &str, K)] = &[
        ("ami-ffff", "us-west-2", name, K::InvalidAmiIdNotFound),
        ("ami-0003", "us-west-2", name, K::InvalidAmiIdNotFound),
        ("ami-0009", "us-west-2", "base-2026-08-04", K::Other("InvalidAMIName.Duplicate".into())),
        ("ami-0009", "eu-west-1", name, K::Other("UnknownRegion".into())),
    ];
    for (source, target, copy_name, expected) in copy_failures {
        let got = kind(w.copy_image(&r, &ImageId::new(*source), &Region::new(*target), (copy_name, None)));
        assert_eq!(got, Err(expected.clone()), "copy {source} to {target} as {copy_name}");
    }
    let copy = w.copy_image(&r, &image.id, &west, (name, None)).unwrap();
    let t_copy = 330;
    assert_eq!((copy.id.as_str(), copy.state, copy.architecture), ("ami-000a", Pending, Architecture::Arm64));
    assert!(copy.tags.is_empty(), "CopyImage does not copy tags by default");
    let steps: &[(u64, ImageState)] = &[(t_copy, Pending), (t_copy + 599, Pending), (t_copy + 600, Available)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(image_states(&w, &west), vec![("ami-000a".into(), name.into(), *expected)], "at T0+{secs}");
    }
    assert!(w.log.iter().any(|e| e.message == "image ami-000a (x-2026-11-25): pending -> available"));
    w.run_instance(&west, run_request("us-west-2a", "t4g.small", "ami-000a", "")).unwrap();

    // A failed image's name is free again.
    w.images.get_mut(&ImageId::new("ami-000a")).unwrap().state = Failed;
    w.copy_image(&r, &image.id, &west, (name, None)).unwrap();
}

#[test]
fn snapshots_complete_even_after_their_volume_is_deleted() {
    let mut w = default_world();
    let r = east();
    let v = volume(&mut w, "us-east-1a");
    assert_eq!(kind(w.create_snapshot(&r, &v, Tags::new())), Err(K::IncorrectState), "volume still creating");
    assert_eq!(kind(w.create_snapshot(&r, &VolumeId::new("vol-ffff"), Tags::new())), Err(K::InvalidVolumeNotFound));
    w.advance_clock_to(Timestamp(T0 + 5));
    assert_eq!(kind(w.create_snapshot(&Region::new("us-west-2"), &v, Tags::new())), Err(K::InvalidVolumeNotFound));
    let snap = w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap();
    assert_eq!(
        (snap.id.as_str(), &snap.volume, snap.size_gb, snap.state, snap.created_at),
        ("snap-0001", &v, 20, SnapshotState::Pending, Timestamp(T0 + 5))
    );
    w.delete_volume(&r, &v).unwrap();
    w.create_tags(&r, "snap-0001", tags(&[("k", "v")])).unwrap();
    assert_eq!(
        error(w.create_tags(&r, "snap-ffff", Tags::new())),
        ("InvalidSnapshot.NotFound".into(), "The snapshot 'snap-ffff' does not exist.".into())
    );
    let described = |w: &World, region: &Region, filter: &Filter| -> Vec<(String, SnapshotState)> {
        w.describe_snapshots(region, filter).into_iter().map(|s| (s.id.to_string(), s.state)).collect()
    };
    let x = Filter::Server(ServerName::new("x"));
    // A 20 GiB volume's snapshot takes its base time plus its size's seconds.
    let done = 5 + snapshot_secs(20);
    assert_eq!(done, 5 + SNAPSHOT_BASE_SECS + 20 * SNAPSHOT_SECS_PER_GIB);
    let steps: &[(u64, SnapshotState)] = &[(done - 1, SnapshotState::Pending), (done, SnapshotState::Completed)];
    for (secs, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        assert_eq!(described(&w, &r, &x), vec![("snap-0001".to_string(), *expected)], "at T0+{secs}");
    }
    assert!(described(&w, &r, &Filter::Server(ServerName::new("duvel"))).is_empty());
    assert!(described(&w, &Region::new("us-west-2"), &Filter::All).is_empty());
    assert_eq!(w.snapshots[&SnapshotId::new("snap-0001")].tags, tags(&[("Name", "x"), ("k", "v")]));
    assert!(w.log.iter().any(|e| e.message == "snapshot snap-0001: pending -> completed"));
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
}

#[test]
fn summary_shows_configurations_pending_images_and_snapshots() {
    let mut w = default_world();
    let r = east();
    w.create_launch_configuration(&r, "x-lc", spec("t3.small", "ami-0002")).unwrap();
    w.create_auto_scaling_group(&r, group_from("x", config_source("x-lc"), 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 30));
    let id = live_members(&w, "x")[0].clone();
    w.create_image(&r, &id, "x-2026-11-25", Tags::new(), &ImageOptions::default()).unwrap();
    let v = volume(&mut w, "us-east-1a");
    w.advance_clock_to(Timestamp(T0 + 35));
    w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap();
    let summary = w.render_summary();
    for needle in [
        "launch configurations:\n    x-lc  t3.small  ami-0002\n",
        "x  lc:x-lc  us-east-1a  min 0 max 1 desired 1  instances i-0001",
        "ami-0009  x-2026-11-25  x86_64  pending\n",
        "ami-0002  web-server-2026-08-04  x86_64\n",
        "snap-0001  pending  of vol-0001  20 GiB  started 2026-11-25T00:00:35Z  [Name=x]",
        "region us-west-2 (zones a, b, c, d)\n",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
    let west = summary.split("region us-west-2").nth(1).unwrap();
    assert!(west.contains("launch configurations: none") && west.contains("snapshots: none"), "{west}");
}

/// CreateImage as AWS documents it: a running instance reboots unless NoReboot; every
/// attached volume is snapshotted into the image's block-device mappings, tagged as the
/// image; an excluded device is NoDevice and not snapshotted; a malformed device name is
/// refused and changes nothing. Today's CreateImage neither reboots nor snapshots.
#[test]
fn create_image_reboots_and_snapshots_every_attached_volume_but_the_excluded() {
    let mut w = default_world();
    let r = east();
    let id = launch(&mut w, "us-east-1a");
    let (data, other) = (volume(&mut w, "us-east-1a"), volume(&mut w, "us-east-1a"));
    w.advance_clock_to(Timestamp(T0 + 30));
    w.attach_volume(&r, &data, &id, "/dev/sdf").unwrap();
    w.attach_volume(&r, &other, &id, "/dev/sdg").unwrap();
    let rebooted = |w: &World| w.log.iter().filter(|e| e.message.contains("rebooting for CreateImage")).count();

    let bad = ImageOptions { no_reboot: false, exclude_devices: vec!["/dev/sd f".into()] };
    let before = w.clone_without_log();
    assert_eq!(kind(w.create_image(&r, &id, "x-bad", Tags::new(), &bad)), Err(K::InvalidParameterValue));
    assert_eq!(w.clone_without_log(), before, "a refusal changes nothing");

    let image = w.create_image(&r, &id, "x-all", tags(&[("Name", "x")]), &ImageOptions::default()).unwrap();
    assert_eq!(rebooted(&w), 1, "the instance reboots by default");
    let devices = w.image_block_devices(&image.id).to_vec();
    assert_eq!(devices.iter().map(|d| d.device.as_str()).collect::<Vec<_>>(), ["/dev/sdf", "/dev/sdg"]);
    for d in &devices {
        let snapshot = &w.snapshots[d.snapshot.as_ref().expect("a snapshot per attached volume")];
        assert_eq!(snapshot.tags, tags(&[("Name", "x")]), "tagged as the image");
        assert_eq!(
            Some(&snapshot.volume),
            w.volumes.values().find(|v| v.device.as_ref() == Some(&d.device)).map(|v| &v.id)
        );
    }

    let options = ImageOptions { no_reboot: true, exclude_devices: vec!["/dev/sdf".into()] };
    let image = w.create_image(&r, &id, "x-no-data", Tags::new(), &options).unwrap();
    assert_eq!(rebooted(&w), 1, "NoReboot: no second reboot");
    let devices = w.image_block_devices(&image.id).to_vec();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1], ImageDevice { device: "/dev/sdf".into(), snapshot: None }, "NoDevice");
    let snapshot = &w.snapshots[devices[0].snapshot.as_ref().unwrap()];
    assert_eq!((devices[0].device.as_str(), &snapshot.volume), ("/dev/sdg", &other));
    assert_eq!(w.snapshots.len(), 3, "none of the excluded data volume");
    assert_eq!(parse_world(&render_world(&w)).unwrap(), w);
}
