//! `backup@SERVER`: a snapshot of every data volume, tagged so that retention and
//! `restore-server` know it for one of cellar's backups.

use super::*;
use cellar_engine::backup::{BackupKind, BackupSnapshot};

/// kwak's two volumes are each snapshotted once, tagged as a manual backup with the
/// volume's role and device and the time; a server with nothing to back up is refused by
/// name, and a fleet backup lists it and backs up the others.
#[test]
fn backup_snapshots_every_data_volume_as_a_tagged_backup() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    let plan = c.ok(&["plan", "backup@kwak"]).stdout;
    assert!(plan.contains("back up volume vol-0001: a manual snapshot"), "{plan}");
    assert!(plan.contains("back up volume vol-0002 (/dev/sdg): a manual snapshot"), "{plan}");
    assert!(plan.contains("crash-consistent"), "{plan}");
    let before = c.world().now();
    c.ok(&["apply", "backup@kwak", "--yes"]);
    let world = c.world();
    let backups: Vec<BackupSnapshot> =
        world.snapshots().values().filter_map(|s| BackupSnapshot::from_snapshot(&s.to_model())).collect();
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
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.starts_with("TAKEN"), "{table}");
    assert!(
        table.contains("vol-0002 (/dev/sdg)") && table.contains("manual") && table.contains("completed"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&c.ok(&["backups", "kwak", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["policy"]["daily_at"], "03:00");
    assert_eq!(json["backups"].as_array().unwrap().len(), 2);
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
