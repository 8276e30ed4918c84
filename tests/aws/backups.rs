//! Backups through the `cellar` binary on the endpoint: `apply backup@kwak --yes` takes a
//! snapshot of each of kwak's two data volumes, tagged so that
//! `BackupSnapshot::from_snapshot` reads each back as a backup of its volume (role and
//! device); `apply prune@kwak --yes` then deletes exactly the backups retention no longer
//! keeps, and nothing else.
//!
//! moto has no virtual clock, so days of backups cannot be waited for. The history prune
//! works on is made as those days would have left it: snapshots of the same volumes with
//! cellar's backup tags (`backup_tags`), their `cellar:backup-at` (the time retention reads)
//! set to the days before, created through the adapter. Only the tag is backdated: the
//! snapshots' own start times are now, which retention does not read when the tag is there.

use super::*;
use cellar_engine::backup::{backup_tags, BackupKind, BackupSnapshot, VolumeKey};
use cellar_engine::executor::TOKEN_TAG;
use std::collections::BTreeSet;

const DAY: u64 = 86_400;

/// kwak created on a fresh moto account, and where `apply COMMAND` through the binary keeps
/// its plan and journal (next to the simulator's state file).
struct KwakOnMoto {
    account: MotoAccount,
    _scratch: tempfile::TempDir,
    state: String,
}

impl KwakOnMoto {
    async fn open(test: &str) -> Option<KwakOnMoto> {
        let upstream = moto_endpoint(test)?;
        let account = MotoAccount::open(&upstream).await;
        let report = apply_on(account.cloud(), "create-server@kwak 40", fast_policy()).await.unwrap();
        assert!(report.succeeded(), "{report:#?}");
        let scratch = tempfile::tempdir().unwrap();
        let state = scratch.path().join("sim.db").display().to_string();
        Some(KwakOnMoto { account, _scratch: scratch, state })
    }
    fn url(&self) -> String {
        self.account.endpoint.url.clone()
    }
    fn env(&self) -> [(&str, &str); 1] {
        [("CELLAR_SIM_STATE", self.state.as_str())]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_backup_tags_its_snapshots_and_prune_deletes_what_retention_drops() {
    let Some(kwak_on) = KwakOnMoto::open("cli_backup_tags_its_snapshots_and_prune_deletes_what_retention_drops").await
    else {
        return;
    };
    let (account, cloud) = (&kwak_on.account, kwak_on.account.cloud());
    let (url, env) = (kwak_on.url(), kwak_on.env());
    let (r, server) = (region(), ServerName::new("kwak"));
    let kwak = Filter::Server(server.clone());

    let before = cloud.now().await;
    let out = cellar_aws(&url, &["apply", "backup@kwak", "--yes"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let after = cloud.now().await;
    let volumes: Vec<Volume> =
        cloud.describe_volumes(&r, &kwak).await.unwrap().into_iter().filter(cellar_engine::volumes::is_data).collect();
    assert_eq!(volumes.len(), 2, "{volumes:#?}");
    let snapshots = cloud.describe_snapshots(&r, &kwak).await.unwrap();
    assert_eq!(snapshots.len(), 2, "one snapshot per data volume: {snapshots:#?}");
    let mut taken = Vec::new();
    for volume in &volumes {
        let snapshot = snapshots.iter().find(|s| s.volume == volume.id).expect("a snapshot of each volume");
        let backup = BackupSnapshot::from_snapshot(snapshot).unwrap_or_else(|| panic!("not a backup: {snapshot:#?}"));
        assert_eq!(backup.server(), &server);
        assert_eq!(Some(backup.volume()), VolumeKey::of(volume).as_ref(), "{snapshot:#?}");
        // Never backed up, so the scheduled backup is due: this is it.
        assert_eq!(backup.kind(), BackupKind::Scheduled, "{snapshot:#?}");
        let at = backup.taken_at();
        assert!(before.0 <= at.0 && at.0 <= after.0, "taken at {at:?}, not between {before:?} and {after:?}");
        taken.push(at);
        assert!(snapshot.tags.contains_key(TOKEN_TAG), "{snapshot:#?}");
        assert_eq!(snapshot.state, SnapshotState::Completed, "the apply waited for it: {snapshot:#?}");
    }
    let second = volumes.iter().find(|v| v.tags.contains_key(cellar_engine::volumes::DEVICE_TAG)).unwrap();
    assert_eq!(VolumeKey::of(second).unwrap().device.as_deref(), Some("/dev/sdg"));

    // The days before, as the daily backups at 03:00 UTC would have left them, and on the
    // day before two more taken earlier that day (as when the schedule was run by hand).
    // Retention counts the days back from the newest backup's: the one just taken.
    let today = taken.iter().max().unwrap().0 / DAY * DAY;
    let at = |days_ago: u64, hour: u64| Timestamp(today - days_ago * DAY + hour * 3600);
    let mut dropped = BTreeSet::new();
    let mut history = Vec::new();
    for volume in &volumes {
        let key = VolumeKey::of(volume).unwrap();
        let backup = |taken: Timestamp, kind: BackupKind| {
            let tags = backup_tags(&server, &key, kind, taken);
            let (cloud, r, id) = (cloud.clone(), r.clone(), volume.id.clone());
            async move { cloud.create_snapshot(&r, &id, tags).await.unwrap().id }
        };
        // Days 1 to 7 before today: kept (today and the 7 days before are the default's 8).
        for days_ago in 1..=7 {
            history.push(backup(at(days_ago, 3), BackupKind::Scheduled).await);
        }
        // Earlier the same day as a newer one: no day, week or month ends with them.
        for hour in [1, 2] {
            dropped.insert(backup(at(1, hour), BackupKind::Scheduled).await);
        }
        // A manual backup of long ago: the operator's, never retention's.
        history.push(backup(at(400, 12), BackupKind::Manual).await);
    }
    // A snapshot of kwak's that cellar did not take (no backup tags): never pruned.
    let name: Tags = [("Name".to_string(), "kwak".to_string())].into();
    let foreign = cloud.create_snapshot(&r, &volumes[0].id, name).await.unwrap().id;
    let ids = |snapshots: Vec<Snapshot>| snapshots.into_iter().map(|s| s.id).collect::<BTreeSet<_>>();
    let all = ids(cloud.describe_snapshots(&r, &kwak).await.unwrap());
    assert_eq!(all.len(), 2 + history.len() + dropped.len() + 1, "{all:?}");
    assert!(history.iter().chain(&dropped).chain([&foreign]).all(|id| all.contains(id)));

    let out = cellar_aws(&url, &["apply", "prune@kwak", "--yes"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("retention keeps 18 of kwak's 22 backups"), "{said}");
    let left = ids(cloud.describe_snapshots(&r, &kwak).await.unwrap());
    let expected: BTreeSet<SnapshotId> = all.difference(&dropped).cloned().collect();
    assert_eq!(left, expected, "exactly the four taken earlier on the day before are gone");
    assert_eq!(account.endpoint.seen_actions("DeleteSnapshot").len(), 4);

    // Nothing more to prune.
    let out = cellar_aws(&url, &["plan", "prune@kwak"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("retention keeps all 18 backups of kwak; nothing to delete."), "{}", text(&out));
}

/// A restore into another zone through the binary on the endpoint: kwak's backup (taken
/// by `apply backup@kwak`) restored with `--at <its snapshot> --zone b`: new volumes from
/// the snapshots in us-east-1b, the old ones kept and tagged replaced, the group moved to
/// us-east-1b (UpdateAutoScalingGroup's AvailabilityZones and VPCZoneIdentifier), and the
/// server healthy there on the restored volumes (the booter runs the agent as cloud-init).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_restore_moves_a_server_into_another_zone() {
    let Some(kwak_on) = KwakOnMoto::open("cli_restore_moves_a_server_into_another_zone").await else { return };
    let cloud = kwak_on.account.cloud();
    let (url, env) = (kwak_on.url(), kwak_on.env());
    let (r, server) = (region(), ServerName::new("kwak"));
    let kwak = Filter::Server(server.clone());
    let out = cellar_aws(&url, &["apply", "backup@kwak", "--yes"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let old: Vec<Volume> =
        cloud.describe_volumes(&r, &kwak).await.unwrap().into_iter().filter(cellar_engine::volumes::is_data).collect();
    assert_eq!(old.len(), 2);
    assert!(old.iter().all(|v| v.zone.as_str() != "us-east-1b"), "{old:#?}");
    let snapshots = cloud.describe_snapshots(&r, &kwak).await.unwrap();
    let first = snapshots.iter().find(|s| s.volume == old[0].id).expect("a backup of the first volume");

    let at = first.id.to_string();
    let out = cellar_aws(&url, &["plan", "restore-server@kwak", "--at", &at, "--zone", "b"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("kwak moves from"), "{}", text(&out));
    let out = cellar_aws(&url, &["apply", "restore-server@kwak", "--at", &at, "--zone", "b", "--yes"], &env).await;
    assert!(out.status.success(), "{}", text(&out));

    let volumes = cloud.describe_volumes(&r, &kwak).await.unwrap();
    let data: Vec<&Volume> = volumes.iter().filter(|v| cellar_engine::volumes::is_data(v)).collect();
    assert_eq!(data.len(), 2, "{volumes:#?}");
    for v in &data {
        assert_eq!(v.zone.as_str(), "us-east-1b", "{v:#?}");
        assert!(old.iter().all(|o| o.id != v.id), "{v:#?}");
    }
    for o in &old {
        let now = volumes.iter().find(|v| v.id == o.id).expect("the replaced volume is kept");
        assert_eq!(now.tags.get(ROLE_TAG).map(String::as_str), Some(cellar_engine::volumes::REPLACED_ROLE), "{now:#?}");
        assert!(now.tags.contains_key(cellar_engine::volumes::REPLACED_AT_TAG), "{now:#?}");
    }
    let groups = cloud.describe_auto_scaling_groups(&r, &kwak).await.unwrap();
    assert_eq!(groups[0].zones.iter().map(Zone::as_str).collect::<Vec<_>>(), ["us-east-1b"], "{groups:#?}");
    assert_eq!(health(&*cloud, "kwak").await, Health::Healthy);
}
