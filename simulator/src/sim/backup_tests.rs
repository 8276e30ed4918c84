//! Backups through the `Cloud` trait, on a world put away in shards before every call
//! (`Sim::reloading`, on in these tests): a snapshot of one server's volume restored as
//! another server's, copied to another region and deleted, each call ensuring only what
//! its request names.

use super::*;
use crate::store::default_world;
use crate::world::{copy_secs, snapshot_secs, GENERATION_SECS};
use cellar_engine::agent::DATA_ROLE;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn volume_request(name: &str, zone: &str, size_gb: u32, snapshot: Option<&SnapshotId>) -> CreateVolumeRequest {
    CreateVolumeRequest {
        client_token: None,
        zone: Zone::new(zone),
        size_gb,
        tags: tags(&[("Name", name), (ROLE_TAG, DATA_ROLE)]),
        ebs: EbsSettings::default(),
        snapshot: snapshot.cloned(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_restores_copies_and_deletes_across_shards() {
    let sim = Sim::new(default_world()).reloading();
    let (east, west) = (Region::new("us-east-1"), Region::new("us-west-2"));
    let volume = sim.create_volume(&east, volume_request("x", "us-east-1a", 20, None)).await.unwrap().id;
    let run = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        subnet: None,
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        settings: LaunchSettings::default(),
        tags: tags(&[("Name", "x")]),
        client_token: "x".into(),
    };
    let instance = sim.run_instance(&east, run).await.unwrap().id;
    sim.advance(Duration::from_secs(60)).await;
    sim.attach_volume(&east, &volume, &instance, "/dev/sdf").await.unwrap();
    sim.advance(Duration::from_secs(5 * GENERATION_SECS)).await;
    let generation = sim.world().volume_generation(&volume).unwrap();
    assert_eq!(generation, 5, "written while its shard was put away between calls");

    let snapshot = sim.create_snapshot(&east, &volume, tags(&[("Name", "x")])).await.unwrap();
    let early = sim.create_volume(&east, volume_request("y", "us-east-1b", 20, Some(&snapshot.id))).await;
    assert_eq!(early.map(|_| ()).map_err(|e| e.kind), Err(CloudErrorKind::IncorrectState), "still pending");
    sim.advance(Duration::from_secs(snapshot_secs(20))).await;

    // Server y's volume from server x's snapshot, in another zone: x's shard is loaded for it.
    let restored = sim.create_volume(&east, volume_request("y", "us-east-1b", 40, Some(&snapshot.id))).await.unwrap();
    assert_eq!(sim.world().volume_generation(&restored.id), Some(generation));
    let small = sim.create_volume(&east, volume_request("y", "us-east-1b", 10, Some(&snapshot.id))).await;
    assert_eq!(small.map(|_| ()).map_err(|e| e.code), Err("InvalidParameterValue".to_string()));

    let copy = sim.copy_snapshot(&east, &snapshot.id, &west, tags(&[("Name", "y")])).await.unwrap();
    assert_eq!((copy.state, copy.size_gb), (SnapshotState::Pending, 20));
    sim.advance(Duration::from_secs(copy_secs(20))).await;
    let described = sim.describe_snapshots(&west, &Filter::Server(ServerName::new("y"))).await.unwrap();
    assert_eq!(described.iter().map(|s| (&s.id, s.state)).collect::<Vec<_>>(), [(&copy.id, SnapshotState::Completed)]);
    assert_eq!(sim.world().snapshot_generation(&copy.id), Some(generation));

    sim.delete_snapshot(&east, &snapshot.id).await.unwrap();
    let again = sim.delete_snapshot(&east, &snapshot.id).await;
    assert_eq!(again.map_err(|e| e.kind), Err(CloudErrorKind::InvalidSnapshotNotFound));
    assert!(sim.describe_snapshots(&east, &Filter::All).await.unwrap().is_empty());
    let gone = sim.create_volume(&east, volume_request("y", "us-east-1a", 20, Some(&snapshot.id))).await;
    assert_eq!(gone.map(|_| ()).map_err(|e| e.kind), Err(CloudErrorKind::InvalidSnapshotNotFound));
    // The copy outlives its source.
    let from_copy = sim.create_volume(&west, volume_request("y", "us-west-2a", 20, Some(&copy.id))).await.unwrap();
    assert_eq!(sim.world().volume_generation(&from_copy.id), Some(generation));
    sim.world().check_consistency().unwrap();
}
