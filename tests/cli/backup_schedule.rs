//! Scheduled backups, as `cellar watch` takes them (alongside its looks) and as cron does
//! with `cellar apply backup@all --due --yes` and `prune@all --yes`: on time, missed while
//! the machine was off, failing, and under way while a server goes down.

use super::watch::{add_to_global, events, faults, kinds};
use super::*;
use cellar_engine::backup::{BackupKind, BackupSnapshot};

/// The scheduled backups of `server` in the saved world, oldest first.
fn scheduled(c: &Cellar, server: &str) -> Vec<BackupSnapshot> {
    let mut backups = super::backup::backups_of(c, server);
    backups.retain(|b| b.kind() == BackupKind::Scheduled);
    backups
}

/// Seconds since the epoch of an RFC 3339 time.
fn unix(rfc3339: &Value) -> u64 {
    let text = rfc3339.as_str().unwrap_or_else(|| panic!("a time: {rfc3339}"));
    let at = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Two days of watching take each server's two daily backups, on time (within a look of
/// 03:00 UTC, snapshotting every data volume), and prune after each what retention (here a
/// day) no longer keeps; cron's command before it found nothing due the second time and
/// said so. Nothing else happens meanwhile: no health event.
#[test]
fn watch_takes_two_daily_backups_of_each_volume_and_prunes() {
    let c = Cellar::with_config_copy();
    add_to_global(&c, "backups: (keep_daily: 1, keep_weekly: 0, keep_monthly: 0)");
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    // Cron's command: the first backups (never backed up: due at once), then nothing due.
    let first = c.ok(&["apply", "backup@all", "--due", "--yes"]).stdout;
    assert!(first.contains("Apply complete: done 3, failed 0"), "{first}");
    let again = c.run(&["apply", "backup@all", "--due", "--yes"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    for server in ["kwak", "duvel"] {
        assert!(again.stdout.contains(&format!("{server}'s scheduled backup is not due")), "{}", again.stdout);
    }
    let before: Vec<String> =
        ["kwak", "duvel"].iter().flat_map(|s| scheduled(&c, s)).map(|b| b.id().to_string()).collect();
    assert_eq!(before.len(), 3, "{before:?}");

    let start = c.world().now().0;
    let r = c.ok(&["watch", "--for", "2d", "--interval", "10m", "--format", "json"]);
    assert!(r.stderr.contains("5 backed up on schedule"), "{}", r.stderr);
    let got = events(&r.stdout);
    let seen: Vec<String> = kinds(&got, start).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        seen,
        [
            "backup duvel",
            "pruned duvel",
            "backup kwak",
            "pruned kwak",
            "backup duvel",
            "pruned duvel",
            "backup kwak",
            "pruned kwak"
        ],
        "{}",
        r.stdout
    );
    let mut slots = Vec::new();
    for e in got.iter().filter(|e| e["kind"] == "backup") {
        let slot = unix(&e["backup"]["scheduled_for"]);
        assert_eq!(slot % 86_400, 3 * 3600, "at 03:00 UTC: {e}");
        let at = e["at_unix"].as_u64().unwrap();
        // Said once the round's snapshots completed (kwak's 200 GiB volume takes 260 s).
        assert!(slot < at && at <= slot + 600 + 600, "{e}");
        assert_eq!(e["backup"]["missed"], false, "{e}");
        assert_eq!(
            e["backup"]["snapshots"].as_array().unwrap().len(),
            if e["server"] == "kwak" { 2 } else { 1 },
            "{e}"
        );
        slots.push(slot);
    }
    assert_eq!(slots[0], slots[1]);
    assert_eq!(slots[2], slots[0] + 86_400);
    // Taken at the first look after 03:00 (10 minutes apart).
    for server in ["kwak", "duvel"] {
        let taken: Vec<u64> = scheduled(&c, server).iter().map(|b| b.taken_at().0).collect();
        assert!(taken.iter().all(|t| slots[2] < *t && *t <= slots[2] + 600), "{server}: {taken:?}");
    }
    // Each prune deleted the backup of every volume the day before held.
    let deleted: Vec<(String, u64)> = got
        .iter()
        .filter(|e| e["kind"] == "pruned")
        .map(|e| (e["server"].as_str().unwrap().to_string(), e["pruned"]["deleted"].as_u64().unwrap()))
        .collect();
    assert_eq!(deleted, [("duvel".into(), 1), ("kwak".into(), 2), ("duvel".into(), 1), ("kwak".into(), 2)]);
    // Left: each volume's newest, the second day's.
    for (server, volumes) in [("kwak", 2), ("duvel", 1)] {
        let left = scheduled(&c, server);
        assert_eq!(left.len(), volumes, "{server}: {left:?}");
        assert!(left.iter().all(|b| b.taken_at().0 > slots[2]), "{server}: {left:?}");
    }
    let world = c.world();
    assert!(before.iter().all(|id| !world.snapshots().keys().any(|k| k.to_string() == *id)), "pruned: {before:?}");
    // The text lines say the same.
    let text = c.ok(&["watch", "--for", "1d", "--interval", "10m"]).stdout;
    let backup = text.lines().find(|l| l.contains(" BACKUP ") && l.contains("kwak")).expect(&text);
    assert!(backup.contains("the scheduled backup of kwak for") && backup.contains("was taken: snap-"), "{backup}");
    assert!(text.lines().any(|l| l.contains(" PRUNED ") && l.contains("kwak: 2 backups")), "{text}");
}

/// The machine was off three days: the watch takes the backup at its first look, says it
/// was missed (and that two days went without one) and notifies it; cron's command says the
/// same in its plan.
#[test]
fn a_missed_backup_is_taken_at_once_and_reported_as_missed() {
    let c = Cellar::with_config_copy();
    let log = c.dir.path().join("notified.log");
    let script = c.dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s %s\\n' \"$CELLAR_EVENT\" \"$CELLAR_SERVER\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    add_to_global(&c, &format!(r#"notify: (commands: [["{}"]])"#, script.display()));
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "backup@kwak", "--due", "--yes"]);
    c.ok(&["sim", "advance", "3d"]);
    let start = c.world().now().0;
    let r = c.ok(&["watch", "kwak", "--for", "10m", "--format", "json"]);
    let got = events(&r.stdout);
    assert_eq!(kinds(&got, start).into_iter().map(|(_, k)| k).collect::<Vec<_>>(), ["backup kwak"], "{}", r.stdout);
    let e = &got[0];
    assert_eq!(e["backup"]["missed"], true, "{e}");
    assert_eq!(e["backup"]["skipped"], 2, "{e}");
    let slot = unix(&e["backup"]["scheduled_for"]);
    assert_eq!(slot, (start / 86_400) * 86_400 + 3 * 3600 - if start % 86_400 < 3 * 3600 { 86_400 } else { 0 });
    // Taken at the first look, said once its snapshots completed (the 200 GiB one: 260 s).
    let taken: Vec<u64> = scheduled(&c, "kwak").iter().map(|b| b.taken_at().0).filter(|t| *t >= start).collect();
    assert_eq!(taken, [start, start], "{e}");
    assert!(e["at_unix"].as_u64().unwrap() <= start + 600, "{e}");
    assert!(
        e["text"].as_str().unwrap().contains("missed, taken")
            && e["text"].as_str().unwrap().contains("(the 2 days before went without one)"),
        "{e}"
    );
    // A missed backup is notified (an on-time one is not).
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "backup kwak\n");

    // Off again for two days, and cron runs first: its plan and output say it was missed.
    c.ok(&["sim", "advance", "2d"]);
    let cron = c.ok(&["apply", "backup@all", "--due", "--yes"]).stdout;
    assert!(cron.contains("the scheduled backup of kwak for") && cron.contains("was missed"), "{cron}");
    assert!(cron.contains("and the 1 scheduled backup before it never happened"), "{cron}");
    assert!(cron.contains("Apply complete: done 2, failed 0"), "{cron}");
    let pruned = c.ok(&["apply", "prune@all", "--yes"]);
    assert!(pruned.stdout.contains("retention keeps all 6 backups of kwak"), "{}", pruned.stdout);
}

/// A backup under way holds up no look: duvel's first backup (a 30 GiB snapshot, 90 s) is
/// still running when its instance is terminated and cannot respawn; the watch says it is
/// down at the next look, then the backup when its snapshot completes.
#[test]
fn a_backup_under_way_does_not_hold_up_the_looks() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["sim", "advance", "2m"]);
    let t = faults(
        &c,
        r#"(
        capacity: [(at: {t+0}, zone: "us-east-1a", instance_type: "m5.large", count: 0)],
        terminations: [(at: {t+40}, target: "duvel")],
    )"#,
    );
    let r = c.ok(&["watch", "duvel", "--for", "5m", "--format", "json"]);
    let got = events(&r.stdout);
    let seen = kinds(&got, t);
    let names: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(names, ["down duvel", "backup duvel"], "{seen:?}");
    // The first look after the termination (30 s apart), before the backup ended.
    assert!((40..=70).contains(&seen[0].0), "{seen:?}");
    assert!(seen[1].0 >= 90, "{seen:?}");
    // The data volume it snapshotted is the server's (its instance gone).
    assert_eq!(got[1]["backup"]["snapshots"].as_array().unwrap().len(), 1, "{}", got[1]);
}

/// An API outage fails the backup under way: `backup-failed` (notified, with AWS's words and
/// when it is tried again), the watch goes on (the outage is its own incident), and the
/// backup is taken once the API is back.
#[test]
fn a_failing_backup_is_tried_again_and_never_stops_the_watch() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["sim", "advance", "2m"]);
    let t = faults(&c, "(outages: [(at: {t+1}, secs: 900)])");
    let r = c.ok(&["watch", "duvel", "--for", "40m", "--format", "json"]);
    let got = events(&r.stdout);
    let seen = kinds(&got, t);
    let names: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    let failed: Vec<&Value> = got.iter().filter(|e| e["kind"] == "backup-failed").collect();
    assert!(!failed.is_empty(), "{seen:?}");
    // The first failure within the outage's first minute: the snapshot asked for at once,
    // its wait for it failed.
    assert!(seen.iter().any(|(at, k)| k == "backup-failed duvel" && *at <= 90), "{seen:?}");
    assert!(names.contains(&"connection-lost") && names.contains(&"connection-restored"), "{seen:?}");
    assert_eq!(names.last(), Some(&"backup duvel"), "{seen:?}");
    for f in &failed {
        assert!(f["reason"].as_str().unwrap().contains("Unavailable"), "{f}");
        let retry = unix(&f["backup"]["retry_at"]);
        assert!(retry > f["at_unix"].as_u64().unwrap(), "{f}");
    }
    // Tried again no sooner than said, and taken after the outage.
    let taken = seen.last().unwrap().0;
    assert!(taken >= 900, "{seen:?}");
    assert_eq!(got.last().unwrap()["backup"]["missed"], false, "within the hour: {}", got.last().unwrap());
    assert_eq!(scheduled(&c, "duvel").len(), 1);
    // The lock its first round could not release (the API was down) was taken over by its
    // next round, and released: another apply takes it.
    assert!(r.stderr.contains("could not read the lock of duvel to release it"), "{}", r.stderr);
    c.ok(&["apply", "backup@duvel", "--yes"]);
}
