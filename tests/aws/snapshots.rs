//! Backups through the adapter and on the simulator alike: a volume restored from a
//! snapshot (CreateVolume's `SnapshotId`), CopySnapshot to another region (tagged at
//! creation, sent to the target region with `SourceRegion`) and DeleteSnapshot.
//!
//! Only what both backends answer alike is compared here. The refusals of a pending
//! snapshot, of a volume smaller than its snapshot and of deleting a snapshot an image
//! uses, and data generations (moto has no data), are the simulator's tests
//! (`simulator/src/world/tests/backups.rs`); this test does not rely on moto for them.

use super::*;
use cellar_engine::cloud::CreateVolumeRequest;

fn volume_request(zone: &str, size_gb: u32, snapshot: Option<&SnapshotId>) -> CreateVolumeRequest {
    let tags = [("Name".to_string(), "ommegang".to_string())].into();
    CreateVolumeRequest {
        client_token: None,
        zone: Zone::new(zone),
        size_gb,
        tags,
        ebs: EbsSettings::default(),
        snapshot: snapshot.cloned(),
    }
}

async fn completed(cloud: &dyn Cloud, region: &Region, id: &SnapshotId) {
    eventually(cloud, Duration::from_secs(900), &format!("{id} to complete"), || async {
        let found = cloud.describe_snapshots(region, &Filter::Id(id.to_string())).await.unwrap_or_default();
        found.iter().any(|s| s.state == SnapshotState::Completed)
    })
    .await;
}

/// The same calls on either backend; what the endpoint was sent is checked by the caller.
async fn snapshots_on(cloud: &dyn Cloud, backend: &str) -> (SnapshotId, SnapshotId) {
    let (east, west) = (region(), Region::new("us-west-2"));
    let volume = cloud.create_volume(&east, volume_request("us-east-1a", 20, None)).await.unwrap();
    eventually(cloud, Duration::from_secs(60), "the volume", || async {
        let found = cloud.describe_volumes(&east, &Filter::Id(volume.id.to_string())).await.unwrap_or_default();
        found.iter().any(|v| v.state == VolumeState::Available)
    })
    .await;
    let tags: Tags = [("Name".to_string(), "ommegang".to_string())].into();
    let snapshot = cloud.create_snapshot(&east, &volume.id, tags.clone()).await.unwrap();
    completed(cloud, &east, &snapshot.id).await;

    // Restored in another zone of the region.
    let restored = cloud.create_volume(&east, volume_request("us-east-1b", 30, Some(&snapshot.id))).await.unwrap();
    assert_eq!((restored.zone.as_str(), restored.size_gb), ("us-east-1b", 30), "{backend}");
    let missing = SnapshotId::new("snap-0123456789abcdef0");
    let none = cloud.create_volume(&east, volume_request("us-east-1a", 20, Some(&missing))).await.unwrap_err();
    assert_eq!(none.kind, CloudErrorKind::InvalidSnapshotNotFound, "{backend}: {none}");

    // Copied to another region, tagged there at creation.
    let copy = cloud.copy_snapshot(&east, &snapshot.id, &west, tags.clone()).await.unwrap();
    assert_eq!((copy.state, copy.size_gb, &copy.tags), (SnapshotState::Pending, 20, &tags), "{backend}");
    completed(cloud, &west, &copy.id).await;
    let there = cloud.describe_snapshots(&west, &Filter::Server(ServerName::new("ommegang"))).await.unwrap();
    assert_eq!(there.iter().map(|s| &s.id).collect::<Vec<_>>(), [&copy.id], "{backend}");
    assert!(cloud.describe_snapshots(&east, &Filter::Id(copy.id.to_string())).await.unwrap().is_empty(), "{backend}");

    // Deleted; a second delete is InvalidSnapshot.NotFound; the copy stays.
    cloud.delete_snapshot(&east, &snapshot.id).await.unwrap();
    let again = cloud.delete_snapshot(&east, &snapshot.id).await.unwrap_err();
    assert_eq!(again.kind, CloudErrorKind::InvalidSnapshotNotFound, "{backend}: {again}");
    let left = cloud.describe_snapshots(&east, &Filter::Server(ServerName::new("ommegang"))).await.unwrap();
    assert!(left.is_empty(), "{backend}: {left:?}");
    let from_copy = cloud.create_volume(&west, volume_request("us-west-2a", 20, Some(&copy.id))).await.unwrap();
    assert_eq!(from_copy.size_gb, 20, "{backend}");
    (snapshot.id, copy.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_restore_copy_and_delete_through_the_adapter() {
    let Some(upstream) = moto_endpoint("snapshots_restore_copy_and_delete_through_the_adapter") else { return };
    let account = MotoAccount::open(&upstream).await;
    let (snapshot, copy) = snapshots_on(&*account.cloud(), "moto").await;
    let sent = |action: &str| account.endpoint.seen_actions(action);
    let restores: Vec<_> = sent("CreateVolume").into_iter().filter(|s| s.params.contains_key("SnapshotId")).collect();
    assert_eq!(restores.len(), 3, "{restores:?}");
    assert_eq!(restores[0].params["SnapshotId"], snapshot.to_string());
    let copies = sent("CopySnapshot");
    assert_eq!(copies.len(), 1, "{copies:?}");
    let p = &copies[0].params;
    assert_eq!((p["SourceRegion"].as_str(), p["SourceSnapshotId"].as_str()), ("us-east-1", snapshot.as_str()));
    assert_eq!(p["TagSpecification.1.ResourceType"], "snapshot");
    assert!(!p.contains_key("ClientToken"), "AWS's CopySnapshot takes none: {p:?}");
    assert_eq!(sent("DeleteSnapshot").len(), 2);
    assert!(!copy.as_str().is_empty());

    // The simulator on a current-thread runtime of its own, as its shared clock needs.
    let sim = sim_like_fresh_account();
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(snapshots_on(&*sim, "simulator"))
    })
    .await
    .unwrap();
}
