//! `backup@SERVER`: a snapshot of every data volume, tagged so that retention and
//! `restore-server` know it for one of cellar's backups.

use super::*;
use cellar_engine::backup::{BackupKind, BackupSnapshot};

/// kwak's two volumes are each snapshotted once, tagged as a backup with the volume's
/// role and device and the time: the first is its scheduled backup (a server never backed
/// up is due at once), the next a manual one, and `--due` takes nothing more that day; a
/// server with nothing to back up is refused by name, and a fleet backup lists it and backs
/// up the others.
#[test]
fn backup_snapshots_every_data_volume_as_a_tagged_backup() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    let plan = c.ok(&["plan", "backup@kwak"]).stdout;
    assert!(plan.contains("back up volume vol-0001: a scheduled snapshot"), "{plan}");
    assert!(plan.contains("back up volume vol-0002 (/dev/sdg): a scheduled snapshot"), "{plan}");
    assert!(plan.contains("the scheduled backup of kwak for") && plan.contains("is due: taken now"), "{plan}");
    assert!(plan.contains("crash-consistent"), "{plan}");
    c.ok(&["apply", "backup@kwak", "--due", "--yes"]);
    let plan = c.ok(&["plan", "backup@kwak", "--due"]).stdout;
    assert!(plan.contains("kwak's scheduled backup is not due") && plan.contains("No changes"), "{plan}");
    let plan = c.ok(&["plan", "backup@kwak"]).stdout;
    assert!(plan.contains("back up volume vol-0002 (/dev/sdg): a manual snapshot"), "{plan}");
    assert!(plan.contains("Manual backups are kept until deleted by hand"), "{plan}");
    let before = c.world().now();
    c.ok(&["apply", "backup@kwak", "--yes"]);
    let world = c.world();
    let backups: Vec<BackupSnapshot> = world
        .snapshots()
        .values()
        .filter_map(|s| BackupSnapshot::from_snapshot(&s.to_model()))
        .filter(|b| b.kind() == BackupKind::Manual)
        .collect();
    assert_eq!(backups.len(), 2, "{:?}", world.snapshots());
    for b in &backups {
        assert_eq!((b.server().as_str(), b.kind(), b.volume().role.as_str()), ("kwak", BackupKind::Manual, "data"));
        assert!(b.taken_at() >= before, "{b:?}");
    }
    let devices: Vec<Option<&str>> = backups.iter().map(|b| b.volume().device.as_deref()).collect();
    assert_eq!(devices, [None, Some("/dev/sdg")]);
    // `cellar backups` lists them, newest first, with what retention does (a manual backup
    // is never pruned), as a table and as JSON.
    let table = c.ok(&["backups", "kwak"]).stdout;
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.starts_with("TAKEN"), "{table}");
    assert!(
        table.contains("vol-0002 (/dev/sdg)") && table.contains("manual") && table.contains("completed"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&c.ok(&["backups", "kwak", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["policy"]["daily_at"], "03:00");
    assert_eq!(json["backups"].as_array().unwrap().len(), 4);
    let reasons = &json["backups"][0]["retention"]["keep"]["reasons"];
    assert!(reasons.as_array().unwrap().contains(&Value::from("manual")), "{json:#}");
    let none = c.ok(&["backups", "duvel"]).stdout;
    assert!(none.starts_with("duvel has no backups in us-east-1"), "{none}");
    let r = c.run(&["backups", "nosuch"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown server nosuch"), "{}", r.stderr);
    // achel was never created: nothing to back up.
    let r = c.run(&["plan", "backup@achel"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("achel has no data volume in us-east-1"), "{}", r.stderr);
    // A fleet: the others are listed as refused, kwak is planned.
    let fleet = c.ok(&["plan", "backup@all"]).stdout;
    assert!(fleet.contains("back up volume vol-0001") && fleet.contains("achel has no data volume"), "{fleet}");
}

/// The backups of `server` in the saved world, each with the data generation it captured,
/// oldest first (then by device and id).
pub(super) fn backup_generations(c: &Cellar, server: &str) -> Vec<(BackupSnapshot, u64)> {
    let world = c.world();
    let mut out: Vec<_> = world
        .snapshots()
        .values()
        .filter_map(|s| Some((BackupSnapshot::from_snapshot(&s.to_model())?, s.generation)))
        .filter(|(b, _)| b.server().as_str() == server)
        .collect();
    out.sort_by_key(|(b, _)| (b.taken_at(), b.volume().device.clone(), b.id().to_string()));
    out
}

/// The backups of `server` in the saved world, oldest first.
pub(super) fn backups_of(c: &Cellar, server: &str) -> Vec<BackupSnapshot> {
    backup_generations(c, server).into_iter().map(|(b, _)| b).collect()
}

/// Twelve days of scheduled backups (`backup@kwak --due` once a day, as cron runs it) and
/// one manual one: `prune@kwak` deletes the scheduled ones retention no longer keeps and
/// nothing else; once kwak is destroyed its backups are all kept, until `--orphans`: then
/// they age out (retention counted back from now), but for each volume's newest and the
/// manual ones (the operator's to delete).
#[test]
fn prune_deletes_what_retention_no_longer_keeps() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "backup@kwak", "--yes"]);
    c.ok(&["apply", "backup@kwak", "--yes"]); // manual: the scheduled one is taken
    for _ in 0..12 {
        c.ok(&["sim", "advance", "1d"]);
        let applied = c.ok(&["apply", "backup@kwak", "--due", "--yes"]).stdout;
        assert!(applied.contains("a scheduled snapshot"), "{applied}");
    }
    let before = backups_of(&c, "kwak");
    assert_eq!(before.len(), 2 * 14, "{before:?}");
    let plan = c.ok(&["plan", "prune@kwak"]).stdout;
    let deletes = plan.lines().filter(|l| l.contains("delete backup snap-")).count();
    assert!(deletes > 0 && plan.contains("a newer backup of its"), "{plan}");
    assert!(plan.contains(&format!("retention keeps {} of kwak's 28 backups", 28 - deletes)), "{plan}");
    c.ok(&["apply", "prune@kwak", "--yes"]);
    let after = backups_of(&c, "kwak");
    assert_eq!(after.len(), 28 - deletes);
    // Nothing deleted but scheduled backups; each volume keeps its newest and its last 8 days.
    assert!(before.iter().filter(|b| b.kind() == BackupKind::Manual).all(|m| after.contains(m)));
    for device in [None, Some("/dev/sdg")] {
        let of = |all: &[BackupSnapshot]| -> Vec<BackupSnapshot> {
            all.iter()
                .filter(|b| b.volume().device.as_deref() == device && b.kind() == BackupKind::Scheduled)
                .cloned()
                .collect()
        };
        let (was, is) = (of(&before), of(&after));
        assert_eq!(is.last(), was.last(), "{device:?}: the newest is kept");
        assert!(is.len() >= 8, "{device:?}: {is:?}");
    }
    let json: Value = serde_json::from_str(&c.ok(&["backups", "kwak", "--format", "json"]).stdout).unwrap();
    assert!(json["backups"].as_array().unwrap().iter().all(|b| b["retention"]["keep"].is_object()), "{json:#}");
    assert!(c.ok(&["plan", "prune@kwak"]).stdout.contains("No changes"));

    // Destroyed (its data snapshotted first: a snapshot, not a backup): its backups stay.
    c.ok(&["apply", "destroy-server@kwak", "--delete-data", "--yes"]);
    let snapshots_before = c.world().snapshots().len();
    let plan = c.ok(&["plan", "prune@kwak"]).stdout;
    assert!(plan.contains("No changes") && plan.contains("kwak no longer exists"), "{plan}");
    assert!(plan.contains("prune@kwak --orphans prunes them by its retention"), "{plan}");
    // Nothing has aged out yet; four months on, everything has but each volume's newest.
    assert!(c.ok(&["plan", "prune@kwak", "--orphans"]).stdout.contains("No changes"));
    c.ok(&["sim", "advance", "120d"]);
    assert!(c.ok(&["plan", "prune@kwak"]).stdout.contains("No changes"));
    let plan = c.ok(&["plan", "prune@kwak", "--orphans"]).stdout;
    assert!(plan.contains("of kwak, which no longer exists"), "{plan}");
    c.ok(&["apply", "prune@kwak", "--orphans", "--yes"]);
    let left = backups_of(&c, "kwak");
    let scheduled = left.iter().filter(|b| b.kind() == BackupKind::Scheduled).count();
    let manual = left.iter().filter(|b| b.kind() == BackupKind::Manual).count();
    assert_eq!((scheduled, manual), (2, 2), "{left:?}");
    assert_eq!(c.world().snapshots().len(), snapshots_before - (after.len() - left.len()));
}

/// With `copy_to`, each backup is copied to the other region with its backup tags (its
/// time, kind and volume) once complete, and prune deletes what retention drops there too,
/// as a series of its own.
#[test]
fn backups_are_copied_and_their_copies_pruned() {
    let c = Cellar::with_config_copy();
    let duvel = c.config.join("servers/duvel.ron");
    let text = std::fs::read_to_string(&duvel).unwrap();
    let text = text.replacen(
        "platform: \"debian-web\",",
        "platform: \"debian-web\",\n    backups: (keep_daily: 1, keep_weekly: 0, keep_monthly: 0, copy_to: [\"us-west-2\"]),",
        1,
    );
    std::fs::write(&duvel, text).unwrap();
    c.ok(&["apply", "create-server@duvel", "20", "--yes", "--dns-confirmed"]);
    let plan = c.ok(&["plan", "backup@duvel"]).stdout;
    assert!(plan.contains("copy the backup of #1 to us-west-2"), "{plan}");
    assert!(plan.contains("each backup is copied to us-west-2 once complete"), "{plan}");
    c.ok(&["apply", "backup@duvel", "--yes"]);
    c.ok(&["sim", "advance", "1d"]);
    c.ok(&["apply", "backup@duvel", "--due", "--yes"]);
    let world = c.world();
    let in_region = |region: &str| -> Vec<BackupSnapshot> {
        world
            .snapshots()
            .values()
            .filter(|s| s.region.as_str() == region)
            .filter_map(|s| BackupSnapshot::from_snapshot(&s.to_model()))
            .collect()
    };
    let (east, west) = (in_region("us-east-1"), in_region("us-west-2"));
    assert_eq!((east.len(), west.len()), (2, 2), "{east:?} {west:?}");
    let times = |b: &[BackupSnapshot]| -> Vec<(Timestamp, BackupKind)> {
        let mut t: Vec<_> = b.iter().map(|b| (b.taken_at(), b.kind())).collect();
        t.sort();
        t
    };
    assert_eq!(times(&east), times(&west), "a copy is the same backup: its time and kind");
    assert!(west.iter().all(|b| b.state() == SnapshotState::Completed), "the apply waited for the copies");
    drop(world);
    // One day kept: the first backup goes, here and in us-west-2.
    let plan = c.ok(&["plan", "prune@duvel"]).stdout;
    assert!(plan.contains("(the copy in us-west-2)"), "{plan}");
    assert!(plan.contains("retention keeps 2 of duvel's 4 backups (copies included)"), "{plan}");
    c.ok(&["apply", "prune@duvel", "--yes"]);
    let world = c.world();
    let left: Vec<&str> = world.snapshots().values().map(|s| s.region.as_str()).collect();
    assert_eq!(left, ["us-east-1", "us-west-2"], "the newest backup and its copy");
}
