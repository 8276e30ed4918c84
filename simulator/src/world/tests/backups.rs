//! Backup data: volumes' data generations, what snapshots capture, restoring a snapshot
//! (CreateVolume's `SnapshotId`), DeleteSnapshot and CopySnapshot, with AWS's refusals.

use super::*;
use crate::world::{copy_secs, snapshot_secs, COPIED_VOLUME, GENERATION_SECS};
use cellar_engine::cloud::ImageOptions;

/// What a call gives: nothing, or AWS's code and message.
type Outcome = Result<(), (&'static str, String)>;

fn west() -> Region {
    Region::new("us-west-2")
}

/// A volume of `size_gb` (Name x) in `zone_name`, restored from `snapshot` if given.
fn request(zone_name: &str, size_gb: u32, snapshot: Option<&SnapshotId>) -> CreateVolumeRequest {
    CreateVolumeRequest {
        client_token: None,
        zone: zone(zone_name),
        size_gb,
        tags: tags(&[("Name", "x"), (ROLE_TAG, "data")]),
        ebs: EbsSettings::default(),
        snapshot: snapshot.cloned(),
    }
}

/// An instance running at T0+30 with a 20 GiB volume attached from T0+30: written from then.
fn written_volume(w: &mut World) -> (InstanceId, VolumeId) {
    let instance = launch(w, "us-east-1a");
    let v = volume(w, "us-east-1a");
    w.advance_clock_to(Timestamp(T0 + 30));
    w.attach_volume(&east(), &v, &instance, "/dev/sdf").unwrap();
    (instance, v)
}

/// A completed snapshot of `v` taken now; the clock moves to its completion.
fn completed_snapshot(w: &mut World, v: &VolumeId) -> SnapshotId {
    let snapshot = w.create_snapshot(&east(), v, tags(&[("Name", "x")])).unwrap();
    let done = w.now().0 + snapshot_secs(snapshot.size_gb);
    w.advance_clock_to(Timestamp(done));
    assert_eq!(w.snapshots[&snapshot.id].state, SnapshotState::Completed);
    snapshot.id
}

#[test]
fn a_volume_advances_a_generation_per_minute_attached_to_a_running_instance() {
    let mut w = default_world();
    let r = east();
    let instance = launch(&mut w, "us-east-1a"); // running at T0+30
    let v = volume(&mut w, "us-east-1a");
    assert_eq!(w.volume_generation(&v), Some(0), "a new volume");
    assert_eq!(w.volume_generation(&VolumeId::new("vol-ffff")), None);
    w.advance_clock_to(Timestamp(T0 + 600));
    assert_eq!(w.volume_generation(&v), Some(0), "not attached: nothing written");
    w.attach_volume(&r, &v, &instance, "/dev/sdf").unwrap();
    // (seconds after T0, what happens then, the generation after it)
    let steps: &[(u64, &str, u64)] = &[
        (600 + GENERATION_SECS - 1, "", 0),
        (600 + GENERATION_SECS, "", 1),
        (600 + 10 * GENERATION_SECS + 30, "", 10),
        // Detached: the half minute is dropped, nothing more is written.
        (600 + 10 * GENERATION_SECS + 30, "detach", 10),
        (600 + 20 * GENERATION_SECS, "", 10),
        (600 + 20 * GENERATION_SECS, "attach", 10),
        (600 + 25 * GENERATION_SECS, "", 15),
        // Terminating the instance ends the stretch at once (shutting-down writes nothing).
        (600 + 25 * GENERATION_SECS, "terminate", 15),
        (600 + 40 * GENERATION_SECS, "", 15),
    ];
    for (secs, action, expected) in steps {
        w.advance_clock_to(Timestamp(T0 + secs));
        match *action {
            "detach" => w.detach_volume(&r, &v, &instance).unwrap(),
            "attach" => w.attach_volume(&r, &v, &instance, "/dev/sdf").unwrap(),
            "terminate" => w.terminate_instance(&r, &instance).unwrap(),
            _ => {}
        }
        assert_eq!(w.volume_generation(&v), Some(*expected), "at T0+{secs} after {action:?}");
    }
    assert_eq!(w.volumes[&v].state, VolumeState::Available, "released by the termination");
    w.check_consistency().unwrap();
}

#[test]
fn a_stopped_instance_writes_nothing() {
    let mut w = default_world();
    let (instance, v) = written_volume(&mut w);
    w.advance_clock_to(Timestamp(T0 + 30 + 3 * GENERATION_SECS));
    assert_eq!(w.volume_generation(&v), Some(3));
    // A scheduled instance-stop event stops it (running -> stopping -> stopped); the
    // volume stays attached and is no longer written.
    w.begin_stop(&instance, cellar_engine::monitoring::EventCode::InstanceStop);
    w.advance_clock_to(Timestamp(T0 + 30 + 30 * GENERATION_SECS));
    assert_eq!(w.instances[&instance].state, InstanceState::Stopped);
    assert_eq!(w.volume_generation(&v), Some(3));
    assert_eq!(w.volumes[&v].attached_to.as_ref(), Some(&instance));
}

#[test]
fn a_snapshot_captures_the_generation_at_the_call_and_a_restore_starts_there() {
    let mut w = default_world();
    let r = east();
    let (instance, v) = written_volume(&mut w);
    w.advance_clock_to(Timestamp(T0 + 30 + 10 * GENERATION_SECS));
    let snapshot = w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap();
    assert_eq!(w.snapshot_generation(&snapshot.id), Some(10), "what was written when the call was made");
    // More writes while it is pending, and after: the snapshot keeps what it captured.
    w.advance_clock_to(Timestamp(T0 + 30 + 15 * GENERATION_SECS + snapshot_secs(20)));
    assert_eq!(w.snapshots[&snapshot.id].state, SnapshotState::Completed);
    assert_eq!((w.volume_generation(&v), w.snapshot_generation(&snapshot.id)), (Some(15 + 1), Some(10)));
    // Restored in another zone of the region, larger: the snapshot's generation.
    let restored = w.create_volume(&r, request("us-east-1b", 30, Some(&snapshot.id))).unwrap();
    assert_eq!((restored.zone.as_str(), restored.size_gb), ("us-east-1b", 30));
    assert_eq!(w.volume_generation(&restored.id), Some(10));
    assert!(w.log.iter().any(|e| e.message.contains(&format!("from {} (generation 10)", snapshot.id))));
    // It grows from there once written; the original goes on on its own.
    w.advance_clock_to(Timestamp(w.now().0 + 5));
    let other = launch(&mut w, "us-east-1b");
    w.advance_clock_to(Timestamp(w.now().0 + 30));
    w.attach_volume(&r, &restored.id, &other, "/dev/sdf").unwrap();
    w.advance_clock_to(Timestamp(w.now().0 + 2 * GENERATION_SECS));
    assert_eq!(w.volume_generation(&restored.id), Some(12));
    w.terminate_instance(&r, &instance).unwrap();
    w.check_consistency().unwrap();
    w.check_index().unwrap();
}

#[test]
fn create_volume_from_a_snapshot_follows_aws_rules() {
    let mut w = default_world();
    let r = east();
    let (_, v) = written_volume(&mut w);
    let pending = w.create_snapshot(&r, &v, Tags::new()).unwrap().id;
    let cases: &[(&str, Region, CreateVolumeRequest, &str, &str)] = &[
        (
            "unknown snapshot",
            r.clone(),
            request("us-east-1a", 20, Some(&SnapshotId::new("snap-ffff"))),
            "InvalidSnapshot.NotFound",
            "The snapshot 'snap-ffff' does not exist.",
        ),
        (
            "pending snapshot",
            r.clone(),
            request("us-east-1a", 20, Some(&pending)),
            "IncorrectState",
            "Snapshot snap-0001 is in invalid state - pending",
        ),
    ];
    for (what, region, req, code, message) in cases {
        let before = w.clone_without_log();
        assert_eq!(error(w.create_volume(region, req.clone())), (code.to_string(), message.to_string()), "{what}");
        assert_eq!(w.clone_without_log(), before, "{what}: a refusal changes nothing");
    }
    w.advance_clock_to(Timestamp(w.now().0 + snapshot_secs(20)));
    let cases: &[(&str, Region, CreateVolumeRequest, &str, &str)] = &[
        (
            "smaller than the snapshot",
            r.clone(),
            request("us-east-1a", 19, Some(&pending)),
            "InvalidParameterValue",
            "Volume of size 19GB is smaller than snapshot 'snap-0001', expect size >= 20GB",
        ),
        (
            "the snapshot is in another region",
            west(),
            request("us-west-2a", 20, Some(&pending)),
            "InvalidSnapshot.NotFound",
            "The snapshot 'snap-0001' does not exist.",
        ),
    ];
    for (what, region, req, code, message) in cases {
        let before = w.clone_without_log();
        assert_eq!(error(w.create_volume(region, req.clone())), (code.to_string(), message.to_string()), "{what}");
        assert_eq!(w.clone_without_log(), before, "{what}: a refusal changes nothing");
    }
    // A client token covers the snapshot: the same request returns the first volume, one
    // naming no snapshot is another request.
    let with_token = |snapshot: Option<&SnapshotId>| CreateVolumeRequest {
        client_token: Some("t1".into()),
        ..request("us-east-1c", 20, snapshot)
    };
    let first = w.create_volume(&r, with_token(Some(&pending))).unwrap();
    assert_eq!(w.create_volume(&r, with_token(Some(&pending))).unwrap().id, first.id);
    assert_eq!(
        kind(w.create_volume(&r, with_token(None))),
        Err(K::Other("IdempotentParameterMismatch".into())),
        "the same token without the snapshot"
    );
}

#[test]
fn delete_snapshot_refuses_one_an_image_uses() {
    let mut w = default_world();
    let r = east();
    let (instance, v) = written_volume(&mut w);
    let image = w.create_image(&r, &instance, "x-image", Tags::new(), &ImageOptions::default()).unwrap();
    let used = w.image_block_devices(&image.id)[0].snapshot.clone().unwrap();
    let own = w.create_snapshot(&r, &v, tags(&[("Name", "x")])).unwrap().id;
    let cases: &[(Region, &SnapshotId, Outcome)] = &[
        (
            r.clone(),
            &SnapshotId::new("snap-ffff"),
            Err(("InvalidSnapshot.NotFound", "The snapshot 'snap-ffff' does not exist.".into())),
        ),
        (west(), &own, Err(("InvalidSnapshot.NotFound", format!("The snapshot '{own}' does not exist.")))),
        (
            r.clone(),
            &used,
            Err(("InvalidSnapshot.InUse", format!("The snapshot {used} is currently in use by {}", image.id))),
        ),
        // Pending: AWS deletes it (the copy of the data is abandoned).
        (r.clone(), &own, Ok(())),
        (r.clone(), &own, Err(("InvalidSnapshot.NotFound", format!("The snapshot '{own}' does not exist.")))),
    ];
    for (region, id, expected) in cases {
        let before = w.clone_without_log();
        match expected {
            Ok(()) => w.delete_snapshot(region, id).unwrap(),
            Err((code, message)) => {
                assert_eq!(error(w.delete_snapshot(region, id)), (code.to_string(), message.clone()), "{id}");
                assert_eq!(w.clone_without_log(), before, "{id}: a refusal changes nothing");
            }
        }
    }
    assert!(w.describe_snapshots(&r, &Filter::Server(ServerName::new("x"))).iter().all(|s| s.id != own));
    assert!(
        !w.scheduler.events().iter().any(|e| e.transition == Transition::SnapshotCompleted(own.clone())),
        "a deleted snapshot never completes"
    );
    w.check_consistency().unwrap();
    w.check_index().unwrap();
}

#[test]
fn copy_snapshot_is_pending_in_the_target_region_and_keeps_the_generation() {
    let mut w = default_world();
    let r = east();
    let (_, v) = written_volume(&mut w);
    w.advance_clock_to(Timestamp(T0 + 30 + 7 * GENERATION_SECS));
    let pending = w.create_snapshot(&r, &v, Tags::new()).unwrap().id;
    let before = w.clone_without_log();
    let refusals: &[(Region, &SnapshotId, Region, Tags, &str)] = &[
        (r.clone(), &pending, west(), Tags::new(), "IncorrectState"),
        (r.clone(), &SnapshotId::new("snap-ffff"), west(), Tags::new(), "InvalidSnapshot.NotFound"),
        (west(), &pending, west(), Tags::new(), "InvalidSnapshot.NotFound"),
        (r.clone(), &pending, Region::new("mars-north-1"), Tags::new(), "UnknownRegion"),
        (r.clone(), &pending, west(), tags(&[("aws:x", "y")]), "InvalidParameterValue"),
    ];
    for (source, id, target, tags, code) in refusals {
        let got = w.copy_snapshot(source, id, target, tags.clone()).map_err(|e| e.code);
        assert_eq!(got.map(|_| ()), Err(code.to_string()), "{source} {id} -> {target}");
        assert_eq!(w.clone_without_log(), before, "a refusal changes nothing");
    }
    w.advance_clock_to(Timestamp(w.now().0 + snapshot_secs(20)));
    let copy = w.copy_snapshot(&r, &pending, &west(), tags(&[("Name", "x")])).unwrap();
    assert_eq!(
        (copy.volume.as_str(), copy.size_gb, copy.state, &copy.tags),
        (COPIED_VOLUME, 20, SnapshotState::Pending, &tags(&[("Name", "x")]))
    );
    assert_eq!(w.snapshot_generation(&copy.id), Some(7));
    let copied_at = w.now().0;
    let state = |w: &World| w.describe_snapshots(&west(), &Filter::Id(copy.id.to_string())).first().map(|s| s.state);
    for (secs, expected) in [(copy_secs(20) - 1, SnapshotState::Pending), (copy_secs(20), SnapshotState::Completed)] {
        w.advance_clock_to(Timestamp(copied_at + secs));
        assert_eq!(state(&w), Some(expected), "{secs} s after the copy");
    }
    assert!(w.describe_snapshots(&r, &Filter::Id(copy.id.to_string())).is_empty(), "in the target region only");
    // A copy in the same region is a copy too; each call makes one (no client token).
    let again = w.copy_snapshot(&r, &pending, &r, Tags::new()).unwrap();
    assert_ne!(again.id, copy.id);
    // Restored in the target region: the source's generation.
    w.advance_clock_to(Timestamp(w.now().0 + copy_secs(20)));
    let restored = w.create_volume(&west(), request("us-west-2a", 20, Some(&copy.id))).unwrap();
    assert_eq!(w.volume_generation(&restored.id), Some(7));
    w.check_consistency().unwrap();
    w.check_index().unwrap();
}

#[test]
fn generations_are_saved_with_the_world_and_older_files_load_at_zero() {
    let mut w = default_world();
    let (_, v) = written_volume(&mut w);
    w.advance_clock_to(Timestamp(T0 + 30 + 4 * GENERATION_SECS));
    let snapshot = completed_snapshot(&mut w, &v);
    let restored = w.create_volume(&east(), request("us-east-1a", 20, Some(&snapshot))).unwrap().id;
    let text = render_world(&w);
    assert!(text.contains("volume_data:"), "{text}");
    let loaded = parse_world(&text).unwrap();
    assert!(loaded == w, "a saved world reads back equal");
    assert_eq!(render_world(&loaded), text, "and byte-identical when saved again");
    for id in [&v, &restored] {
        assert_eq!(loaded.volume_generation(id), w.volume_generation(id), "{id}");
    }
    assert_eq!(loaded.snapshot_generation(&snapshot), Some(4));
    // Shards: a volume's data goes with it, and comes back whole.
    let mut split = w.clone();
    let keys = split.shard_keys();
    let shards = split.take_shards(&keys);
    assert!(split.volume_data.is_empty(), "every volume here is Name x's");
    assert_eq!(shards["x"].volume_data.len(), 2);
    for shard in shards.into_values() {
        split.absorb(shard);
    }
    assert!(split == w);
    // What an older cellar wrote: no volume_data, no generation on snapshots (the form
    // this version writes for a world with no generation yet); it loads at generation 0.
    let mut old = w.clone();
    old.volume_data.clear();
    old.snapshots.values_mut().for_each(|s| s.generation = 0);
    let old_text = render_world(&old);
    assert!(!old_text.contains("volume_data:") && !old_text.contains("generation:"), "{old_text}");
    let old = parse_world(&old_text).unwrap();
    assert_eq!((old.volume_generation(&v), old.snapshot_generation(&snapshot)), (Some(0), Some(0)));
    // Data for a volume that does not exist is an inconsistent file.
    let mut bad = w.clone();
    bad.volume_data.insert(VolumeId::new("vol-ffff"), VolumeData::default());
    assert_eq!(bad.check_consistency(), Err("volume_data lists volume vol-ffff, which does not exist".into()));
}
