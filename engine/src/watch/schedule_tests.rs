use super::*;

fn t(rfc3339: &str) -> Timestamp {
    let at = humantime::parse_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    Timestamp(at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
}

fn name(s: &str) -> ServerName {
    ServerName::new(s)
}

fn snaps(ids: &[&str]) -> Vec<SnapshotId> {
    ids.iter().map(|s| SnapshotId::new(*s)).collect()
}

/// One server `s` (daily at 03:00) in us-east-1, learnt and seen as given.
fn schedule(last: Option<Option<&str>>, has_volume: bool) -> BackupSchedule {
    let mut schedule = BackupSchedule::new([(name("s"), Region::new("us-east-1"), BackupPolicy::default())]);
    if let Some(last) = last {
        schedule.learn(&name("s"), last.map(t));
    }
    schedule.seen(&name("s"), has_volume);
    schedule
}

/// `kind server text` of each event, then whether it notifies.
fn said(events: &[WatchEvent]) -> Vec<(String, bool)> {
    events.iter().map(|e| (format!("{} {}", e.kind.as_str(), e.summary()), e.notifies())).collect()
}

#[test]
fn which_servers_are_due() {
    // (last scheduled backup: None = not learnt yet, Some(None) = never; a data volume;
    // now; expected: (scheduled for, missed, skipped) or nothing due)
    type Case<'a> = (Option<Option<&'a str>>, bool, &'a str, Option<(&'a str, bool, u32)>);
    let cases: &[Case] = &[
        // Not read yet: nothing is known, nothing is due.
        (None, true, "2027-01-15T09:00:00Z", None),
        // Never backed up: due at once, for the last 03:00, and nothing was missed.
        (Some(None), true, "2027-01-15T09:00:00Z", Some(("2027-01-15T03:00:00Z", false, 0))),
        // Nothing to back up (no data volume: the server does not exist).
        (Some(None), false, "2027-01-15T09:00:00Z", None),
        // Yesterday's taken: due at 03:00 today, not before.
        (Some(Some("2027-01-14T03:00:20Z")), true, "2027-01-15T02:59:59Z", None),
        (Some(Some("2027-01-14T03:00:20Z")), true, "2027-01-15T03:00:00Z", Some(("2027-01-15T03:00:00Z", false, 0))),
        // Within the hour after its time it is on time; after it, missed.
        (Some(Some("2027-01-14T03:00:20Z")), true, "2027-01-15T04:00:00Z", Some(("2027-01-15T03:00:00Z", false, 0))),
        (Some(Some("2027-01-14T03:00:20Z")), true, "2027-01-15T04:00:01Z", Some(("2027-01-15T03:00:00Z", true, 0))),
        // The machine was off three days: the latest is due, missed, and two never happened.
        (Some(Some("2027-01-12T03:00:20Z")), true, "2027-01-15T09:00:00Z", Some(("2027-01-15T03:00:00Z", true, 2))),
        // Today's taken.
        (Some(Some("2027-01-15T03:00:20Z")), true, "2027-01-15T09:00:00Z", None),
    ];
    for (last, has_volume, now, expected) in cases {
        let got: Vec<(Timestamp, bool, u32)> =
            schedule(*last, *has_volume).due(t(now)).iter().map(|d| (d.due.at, d.due.missed, d.due.skipped)).collect();
        let expected: Vec<(Timestamp, bool, u32)> = expected.iter().map(|(at, m, s)| (t(at), *m, *s)).collect();
        assert_eq!(got, expected, "last {last:?}, volume {has_volume}, now {now}");
    }
}

#[test]
fn next_due_times() {
    // (last, now, expected next due)
    let cases = [
        (Some("2027-01-15T03:00:20Z"), "2027-01-15T09:00:00Z", Some("2027-01-16T03:00:00Z")),
        (Some("2027-01-14T03:00:20Z"), "2027-01-15T09:00:00Z", Some("2027-01-15T09:00:00Z")),
        (None, "2027-01-15T09:00:00Z", Some("2027-01-15T09:00:00Z")),
        (Some("2027-01-15T02:00:00Z"), "2027-01-15T02:30:00Z", Some("2027-01-15T03:00:00Z")),
    ];
    for (last, now, expected) in cases {
        let s = schedule(Some(last), true);
        assert_eq!(s.next_due(&name("s"), t(now)), expected.map(t), "last {last:?}, now {now}");
    }
    assert_eq!(schedule(None, true).next_due(&name("s"), t("2027-01-15T09:00:00Z")), None, "not learnt");
    assert_eq!(schedule(Some(None), true).next_due(&name("other"), t("2027-01-15T09:00:00Z")), None);
}

/// A sequence of rounds: (when, what the round did, the events, then the times it is due
/// again after: a time when it is not due, a time when it is).
#[test]
fn rounds_move_the_schedule_and_say_what_they_did() {
    let due_at = |at: &str, missed, skipped| Due { at: t(at), missed, skipped };
    let report = |due, backup, prune| RoundReport { server: name("s"), due, backup, prune };
    let taken = |at: &str, ids: &[&str]| BackupOutcome::Taken { at: t(at), snapshots: snaps(ids) };
    type Step<'a> = (&'a str, RoundReport, Vec<(&'a str, bool)>, Option<&'a str>, Option<&'a str>);
    let on_time = due_at("2027-01-15T03:00:00Z", false, 0);
    let steps: Vec<Step> = vec![
        // Taken and pruned: said, not notified (it was on time); due again tomorrow.
        (
            "2027-01-15T03:01:30Z",
            report(on_time, taken("2027-01-15T03:00:30Z", &["snap-1", "snap-2"]), Some(PruneOutcome::Deleted(snaps(&["snap-0"])))),
            vec![
                ("backup the scheduled backup of s for 2027-01-15T03:00:00Z was taken: snap-1, snap-2", false),
                ("pruned s: 1 backup retention no longer keeps deleted: snap-0", false),
            ],
            Some("2027-01-16T02:59:59Z"),
            Some("2027-01-16T03:00:00Z"),
        ),
        // Nothing deleted: no prune event; a failed prune is notified.
        (
            "2027-01-16T03:01:00Z",
            report(due_at("2027-01-16T03:00:00Z", false, 0), taken("2027-01-16T03:00:40Z", &["snap-3"]), Some(PruneOutcome::Deleted(vec![]))),
            vec![("backup the scheduled backup of s for 2027-01-16T03:00:00Z was taken: snap-3", false)],
            None,
            Some("2027-01-17T03:00:00Z"),
        ),
        (
            "2027-01-17T03:01:00Z",
            report(due_at("2027-01-17T03:00:00Z", false, 0), taken("2027-01-17T03:00:40Z", &["snap-4"]), Some(PruneOutcome::Failed("DeleteSnapshot failed: throttled".into()))),
            vec![
                ("backup the scheduled backup of s for 2027-01-17T03:00:00Z was taken: snap-4", false),
                ("prune-failed s: deleting the backups retention no longer keeps failed: DeleteSnapshot failed: throttled", true),
            ],
            None,
            Some("2027-01-18T03:00:00Z"),
        ),
        // Failures: notified each time, tried again 5, then 10 minutes later.
        (
            "2027-01-18T03:00:30Z",
            report(due_at("2027-01-18T03:00:00Z", false, 0), BackupOutcome::Failed("CreateSnapshot failed: Unavailable".into()), None),
            vec![("backup-failed the scheduled backup of s for 2027-01-18T03:00:00Z failed: CreateSnapshot failed: Unavailable; tried again at 2027-01-18T03:05:30Z", true)],
            Some("2027-01-18T03:05:29Z"),
            Some("2027-01-18T03:05:30Z"),
        ),
        (
            "2027-01-18T03:06:00Z",
            report(due_at("2027-01-18T03:00:00Z", false, 0), BackupOutcome::Failed("timed out".into()), None),
            vec![("backup-failed the scheduled backup of s for 2027-01-18T03:00:00Z failed: timed out; tried again at 2027-01-18T03:16:00Z", true)],
            Some("2027-01-18T03:15:59Z"),
            Some("2027-01-18T03:16:00Z"),
        ),
        // Then taken, late: missed, and notified as such.
        (
            "2027-01-18T05:00:00Z",
            report(due_at("2027-01-18T03:00:00Z", true, 0), taken("2027-01-18T04:59:00Z", &["snap-5"]), None),
            vec![("backup the scheduled backup of s for 2027-01-18T03:00:00Z was taken: snap-5; missed, taken 2 hours late", true)],
            None,
            Some("2027-01-19T03:00:00Z"),
        ),
        // Someone else took it (cron): nothing said, not due until the next time.
        (
            "2027-01-19T03:00:30Z",
            report(due_at("2027-01-19T03:00:00Z", false, 0), BackupOutcome::NotDue, None),
            vec![],
            Some("2027-01-20T02:59:00Z"),
            Some("2027-01-20T03:00:00Z"),
        ),
        // Locked by another apply: said once (not notified), tried at every look...
        (
            "2027-01-20T03:00:30Z",
            report(due_at("2027-01-20T03:00:00Z", false, 0), BackupOutcome::Locked("locked by pid 7 (cellar apply x)".into()), None),
            vec![("backup-postponed the scheduled backup of s for 2027-01-20T03:00:00Z waits: locked by pid 7 (cellar apply x); tried again at each look", false)],
            None,
            Some("2027-01-20T03:01:00Z"),
        ),
        (
            "2027-01-20T03:31:00Z",
            report(due_at("2027-01-20T03:00:00Z", false, 0), BackupOutcome::Locked("locked by pid 7 (cellar apply x)".into()), None),
            vec![],
            None,
            Some("2027-01-20T03:31:30Z"),
        ),
        // ... and after an hour of it, a failure, notified once.
        (
            "2027-01-20T04:00:30Z",
            report(due_at("2027-01-20T03:00:00Z", false, 0), BackupOutcome::Locked("locked by pid 7 (cellar apply x)".into()), None),
            vec![("backup-failed the scheduled backup of s for 2027-01-20T03:00:00Z failed: it has waited 1 hour for the lock of s: locked by pid 7 (cellar apply x); if that apply is gone, `cellar unlock s` removes its lock (tried again at each look)", true)],
            None,
            Some("2027-01-20T04:01:00Z"),
        ),
        (
            "2027-01-20T04:01:00Z",
            report(due_at("2027-01-20T03:00:00Z", true, 0), BackupOutcome::Locked("locked by pid 7 (cellar apply x)".into()), None),
            vec![],
            None,
            Some("2027-01-20T04:01:30Z"),
        ),
    ];
    let mut s = schedule(Some(Some("2027-01-14T03:00:30Z")), true);
    for (now, report, expected, not_due, due) in steps {
        let events = s.settle(t(now), vec![report]);
        let expected: Vec<(String, bool)> = expected.into_iter().map(|(e, n)| (e.to_string(), n)).collect();
        assert_eq!(said(&events), expected, "at {now}");
        for e in &events {
            assert_eq!(
                (e.at, e.server.as_ref(), e.region.as_ref().map(|r| r.as_str())),
                (t(now), Some(&name("s")), Some("us-east-1"))
            );
        }
        if let Some(not_due) = not_due {
            assert_eq!(s.due(t(not_due)), vec![], "after {now}: not due at {not_due}");
        }
        if let Some(due) = due {
            assert_eq!(s.due(t(due)).len(), 1, "after {now}: due at {due}");
        }
    }
}

/// Failures in a row wait twice as long each time, at most four hours.
#[test]
fn retries_back_off() {
    let mut s = schedule(Some(None), true);
    let mut now = t("2027-01-15T09:00:00Z");
    let mut waits = Vec::new();
    for _ in 0..9 {
        let due = s.due(now)[0].due;
        let report = RoundReport { server: name("s"), due, backup: BackupOutcome::Failed("no".into()), prune: None };
        let events = s.settle(now, vec![report]);
        let retry = events[0].backup.as_ref().and_then(|b| b.retry_at).unwrap();
        waits.push((retry.0 - now.0) / 60);
        now = retry;
    }
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 240, 240, 240]);
}

/// A missed backup after days off is said with the days that went without, and its JSON
/// carries the facts (versioned like every event).
#[test]
fn a_missed_backup_in_json() {
    let mut s = schedule(Some(Some("2027-01-12T03:00:20Z")), true);
    let now = t("2027-01-15T09:00:00Z");
    let due = s.due(now);
    assert_eq!(due.len(), 1);
    let report = RoundReport {
        server: name("s"),
        due: due[0].due,
        backup: BackupOutcome::Taken { at: now, snapshots: snaps(&["snap-9"]) },
        prune: Some(PruneOutcome::Deleted(snaps(&["snap-1", "snap-2"]))),
    };
    let events = s.settle(now, vec![report]);
    assert_eq!(
        events[0].summary(),
        "the scheduled backup of s for 2027-01-15T03:00:00Z was taken: snap-9; missed, taken 6 hours late (the 2 days before went without one)"
    );
    let json: serde_json::Value = serde_json::from_str(&events[0].to_json()).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["kind"], "backup");
    assert_eq!(json["server"], "s");
    assert_eq!(json["backup"]["scheduled_for"], "2027-01-15T03:00:00Z");
    assert_eq!(json["backup"]["missed"], true);
    assert_eq!(json["backup"]["skipped"], 2);
    assert_eq!(json["backup"]["snapshots"], serde_json::json!(["snap-9"]));
    assert_eq!(json["backup"]["retry_at"], serde_json::Value::Null);
    assert!(json.get("pruned").is_none() && json.get("scheduled").is_none(), "{json}");
    let pruned: serde_json::Value = serde_json::from_str(&events[1].to_json()).unwrap();
    assert_eq!(pruned["kind"], "pruned");
    assert_eq!(pruned["pruned"]["deleted"], 2);
    assert_eq!(pruned["pruned"]["snapshots"], serde_json::json!(["snap-1", "snap-2"]));
    assert!(pruned.get("backup").is_none(), "{pruned}");
    assert_eq!(
        events[1].to_text(),
        "2027-01-15T09:00:00Z PRUNED              s: 2 backups retention no longer keeps deleted: snap-1, snap-2"
    );
}
