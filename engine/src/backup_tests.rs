//! Tests of `backup`: due times, retention's rules and invariants, the tags read back.

use super::*;
use crate::model::SnapshotState::{Completed, Pending};

fn t(rfc3339: &str) -> Timestamp {
    let at = humantime::parse_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    Timestamp(at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
}

fn policy(keep_daily: u32, keep_weekly: u32, keep_monthly: u32) -> BackupPolicy {
    BackupPolicy { keep_daily, keep_weekly, keep_monthly, ..BackupPolicy::default() }
}

fn volume(device: &str) -> VolumeKey {
    VolumeKey { role: "data".into(), device: (!device.is_empty()).then(|| device.to_string()) }
}

/// A snapshot as the cloud reports it, with cellar's tags.
fn snapshot(id: &str, device: &str, at: Timestamp, state: SnapshotState, kind: BackupKind) -> Snapshot {
    Snapshot {
        id: SnapshotId::new(id),
        volume: VolumeId::new(format!("vol-{}", if device.is_empty() { "sdf" } else { &device[5..] })),
        size_gb: 20,
        state,
        // A copy's own start time is later; cellar:backup-at is what counts.
        created_at: at.plus_secs(600),
        tags: backup_tags(&ServerName::new("s"), &volume(device), kind, at),
    }
}

/// One backup: (id, device ("" for the first volume), taken at, pending, manual).
type Row<'a> = (&'a str, &'a str, &'a str, SnapshotState, BackupKind);
use BackupKind::{Manual as M, Scheduled as S};

/// The retention of `rows` at `now`, each backup's verdict as text.
fn check(policy: &BackupPolicy, now: &str, exists: bool, orphans: bool, rows: &[Row], expected: &[(&str, &str)]) {
    let backups: Vec<BackupSnapshot> = rows
        .iter()
        .map(|(id, device, at, state, kind)| {
            BackupSnapshot::from_snapshot(&snapshot(id, device, t(at), *state, *kind)).expect("a backup")
        })
        .collect();
    let got: Vec<(String, String)> = retention(policy, &backups, t(now), exists, orphans)
        .decisions
        .iter()
        .map(|d| (d.id.to_string(), d.verdict.to_string()))
        .collect();
    let expected: Vec<(String, String)> = expected.iter().map(|(i, v)| (i.to_string(), v.to_string())).collect();
    assert_eq!(got, expected, "now {now}");
}

#[test]
fn the_tags_are_read_back_and_only_cellars_snapshots_are_backups() {
    let at = t("2026-08-03T03:00:00Z");
    let tags = backup_tags(&ServerName::new("ommegang"), &volume("/dev/sdg"), BackupKind::Scheduled, at);
    let expected: Tags = [
        ("Name", "ommegang"),
        ("cellar:backup", "scheduled"),
        ("cellar:backup-at", "2026-08-03T03:00:00Z"),
        ("cellar:device", "/dev/sdg"),
        ("cellar:role", "data"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(tags, expected);
    // The first volume has no device tag, as the volume itself has none.
    let first = backup_tags(&ServerName::new("s"), &volume(""), BackupKind::Manual, at);
    assert_eq!(first.get(DEVICE_TAG), None);
    assert_eq!(first.get(BACKUP_TAG).map(String::as_str), Some("manual"));

    let s = snapshot("snap-1", "/dev/sdg", at, Completed, BackupKind::Manual);
    let b = BackupSnapshot::from_snapshot(&s).expect("a backup");
    assert_eq!(
        (b.id().as_str(), b.server().as_str(), b.volume(), b.kind(), b.taken_at(), b.state()),
        ("snap-1", "s", &volume("/dev/sdg"), BackupKind::Manual, at, Completed)
    );
    // Without cellar:backup-at, the snapshot's start time stands for it.
    let mut no_at = s.clone();
    no_at.tags.remove(BACKUP_AT_TAG);
    assert_eq!(BackupSnapshot::from_snapshot(&no_at).unwrap().taken_at(), at.plus_secs(600));
    // Not cellar's: no kind, a kind cellar does not write, no server, no role.
    for (key, value) in [
        (BACKUP_TAG, None),
        (BACKUP_TAG, Some("daily")),
        (NAME_TAG, None),
        (NAME_TAG, Some("Not A Name")),
        (ROLE_TAG, None),
    ] {
        let mut other = s.clone();
        match value {
            Some(v) => other.tags.insert(key.to_string(), v.to_string()),
            None => other.tags.remove(key),
        };
        assert_eq!(BackupSnapshot::from_snapshot(&other), None, "{key}={value:?}");
    }
    let v = Volume {
        id: VolumeId::new("vol-1"),
        state: crate::model::VolumeState::InUse,
        zone: crate::model::Zone::new("us-east-1a"),
        size_gb: 20,
        attached_to: None,
        device: None,
        tags: [(ROLE_TAG.to_string(), "data".to_string())].into_iter().collect(),
        ebs: Default::default(),
    };
    assert_eq!(VolumeKey::of(&v), Some(volume("")));
}

#[test]
fn a_backup_is_due_once_a_day_and_a_missed_one_at_once() {
    let d = BackupPolicy::default();
    let late = BackupPolicy { daily_at: (23, 59), ..BackupPolicy::default() };
    let due_at = |at: &str, missed: bool, skipped: u32| Some(Due { at: t(at), missed, skipped });
    for (policy, last, now, expected) in [
        // Never backed up: due at once, nothing missed.
        (&d, None, "2026-08-03T02:00:00Z", due_at("2026-08-02T03:00:00Z", false, 0)),
        (&d, None, "2026-08-03T03:00:00Z", due_at("2026-08-03T03:00:00Z", false, 0)),
        (&late, None, "2026-08-03T00:00:00Z", due_at("2026-08-02T23:59:00Z", false, 0)),
        // Yesterday's was taken: nothing before 03:00, then today's.
        (&d, Some("2026-08-02T03:00:05Z"), "2026-08-03T02:59:59Z", None),
        (&d, Some("2026-08-02T03:00:05Z"), "2026-08-03T03:00:00Z", due_at("2026-08-03T03:00:00Z", false, 0)),
        (&d, Some("2026-08-02T03:00:05Z"), "2026-08-03T04:00:00Z", due_at("2026-08-03T03:00:00Z", false, 0)),
        // More than an hour late: the machine was off at 03:00.
        (&d, Some("2026-08-02T03:00:05Z"), "2026-08-03T04:00:01Z", due_at("2026-08-03T03:00:00Z", true, 0)),
        // Taken (late) today: nothing more today.
        (&d, Some("2026-08-03T10:00:00Z"), "2026-08-03T23:00:00Z", None),
        // Off for a week: due at once, the 7 days before are lost.
        (&d, Some("2026-07-26T03:00:00Z"), "2026-08-03T10:05:00Z", due_at("2026-08-03T03:00:00Z", true, 7)),
        (&d, Some("2026-07-26T03:00:00Z"), "2026-08-03T03:00:00Z", due_at("2026-08-03T03:00:00Z", true, 7)),
        // A last backup after now (a clock set back): not due.
        (&d, Some("2026-08-04T03:00:00Z"), "2026-08-03T12:00:00Z", None),
    ] {
        assert_eq!(due(policy, last.map(t), t(now)), expected, "last {last:?}, now {now}");
    }
    assert_eq!(next_at(&d, t("2026-08-03T03:00:00Z")), Some(t("2026-08-04T03:00:00Z")));
    assert_eq!(next_at(&d, t("2026-08-03T02:59:59Z")), Some(t("2026-08-03T03:00:00Z")));
}

#[test]
fn two_volumes_pending_and_manual_backups_and_the_newest() {
    // Wednesday 5 August 2026: keep 2 days and 1 week. The next backup (Thursday) falls
    // in this week, so the week's newest is kept only until then.
    let rows: &[Row] = &[
        ("a0", "", "2026-08-02T03:00:00Z", Completed, S), // Sunday, last week
        ("a1", "", "2026-08-03T03:00:00Z", Completed, S),
        ("a2", "", "2026-08-04T03:00:00Z", Completed, S),
        ("a3", "", "2026-08-04T15:00:00Z", Completed, M),
        ("a4", "", "2026-08-05T03:00:00Z", Completed, S),
        ("b0", "/dev/sdg", "2026-08-03T03:00:00Z", Completed, S),
        ("b1", "/dev/sdg", "2026-08-04T03:00:00Z", Completed, S),
        ("b2", "/dev/sdg", "2026-08-05T03:00:00Z", Pending, S),
    ];
    check(
        &policy(2, 1, 0),
        "2026-08-05T12:00:00Z",
        true,
        false,
        rows,
        &[
            ("a0", "delete: older than every rule keeps"),
            ("a1", "delete: a newer backup of its week is kept"),
            ("a2", "delete: a newer backup of its day is kept"),
            ("a3", "keep (daily, manual)"),
            ("a4", "keep (newest, daily, weekly) until 2026-08-07T00:00:00Z"),
            ("b0", "delete: a newer backup of its week is kept"),
            // The newest completed one of its volume, whatever is pending (which will
            // stand for Wednesday once completed).
            ("b1", "keep (newest, daily, weekly) until 2026-08-06T00:00:00Z"),
            ("b2", "keep (pending)"),
        ],
    );
    // With nothing kept by the calendar, the newest completed one of each volume still is.
    check(
        &policy(0, 0, 0),
        "2026-08-05T12:00:00Z",
        true,
        false,
        rows,
        &[
            ("a0", "delete: older than every rule keeps"),
            ("a1", "delete: older than every rule keeps"),
            ("a2", "delete: older than every rule keeps"),
            ("a3", "keep (manual)"),
            ("a4", "keep (newest)"),
            ("b0", "delete: older than every rule keeps"),
            ("b1", "keep (newest)"),
            ("b2", "keep (pending)"),
        ],
    );
}

#[test]
fn a_week_of_missed_days() {
    // Backups each day to Sunday 26 July, the machine off for a week, then a late one on
    // Monday 3 August. The backup of the 26th stands for the days of the gap.
    let rows: &[Row] = &[
        ("jul20", "", "2026-07-20T03:00:00Z", Completed, S),
        ("jul24", "", "2026-07-24T03:00:00Z", Completed, S),
        ("jul25", "", "2026-07-25T03:00:00Z", Completed, S),
        ("jul26", "", "2026-07-26T03:00:00Z", Completed, S),
        ("aug03", "", "2026-08-03T10:00:00Z", Completed, S),
    ];
    let d = BackupPolicy::default();
    check(
        &d,
        "2026-08-03T10:05:00Z",
        true,
        false,
        rows,
        &[
            ("jul20", "delete: a newer backup of its week is kept"),
            ("jul24", "delete: a newer backup of its week is kept"),
            ("jul25", "delete: a newer backup of its week is kept"),
            // The state of 27 July to 2 August (the last 8 days: 27 July to 3 August).
            ("jul26", "keep (daily, weekly, monthly) until 2026-10-01T00:00:00Z"),
            ("aug03", "keep (newest, daily, weekly, monthly) until 2026-08-11T00:00:00Z"),
        ],
    );
    // The days before the gap while the machine is off: nothing is deleted that was
    // kept the day it stopped (the periods count back from the newest backup).
    check(
        &d,
        "2026-08-02T23:00:00Z",
        true,
        false,
        &rows[..4],
        &[
            // Monday's stands for the days to Thursday, when the next was taken.
            ("jul20", "keep (daily) until 2026-07-31T00:00:00Z"),
            ("jul24", "keep (daily) until 2026-08-01T00:00:00Z"),
            ("jul25", "keep (daily) until 2026-08-02T00:00:00Z"),
            // If backups resume tomorrow, it stands for July's end.
            ("jul26", "keep (newest, daily, weekly, monthly) until 2026-10-01T00:00:00Z"),
        ],
    );
}

#[test]
fn orphans_are_kept_unless_pruned_and_then_down_to_each_volumes_newest() {
    let rows: &[Row] = &[
        ("a1", "", "2026-08-02T03:00:00Z", Completed, S),
        ("a2", "", "2026-08-03T03:00:00Z", Completed, S),
        ("b1", "/dev/sdg", "2026-08-03T03:00:00Z", Completed, S),
        ("m1", "", "2026-07-01T09:00:00Z", Completed, M),
    ];
    let d = BackupPolicy::default();
    let gone = "keep (server gone)";
    check(&d, "2026-11-15T00:00:00Z", false, false, rows, &[("a1", gone), ("a2", gone), ("b1", gone), ("m1", gone)]);
    // Pruned: the periods count back from now; the newest of each volume stays.
    check(
        &d,
        "2026-11-15T00:00:00Z",
        false,
        true,
        rows,
        &[
            ("a1", "delete: older than every rule keeps"),
            ("a2", "keep (newest, daily, weekly, monthly)"),
            ("b1", "keep (newest, daily, weekly, monthly)"),
            ("m1", "keep (manual)"),
        ],
    );
    // Soon after the server went: what is within the periods is kept until its date.
    check(
        &d,
        "2026-08-05T00:00:00Z",
        false,
        true,
        rows,
        &[
            // The last of its week: kept while that week is among the last 4.
            ("a1", "keep (daily, weekly) until 2026-08-24T00:00:00Z"),
            ("a2", "keep (newest, daily, weekly, monthly)"),
            ("b1", "keep (newest, daily, weekly, monthly)"),
            // It stands for the volume until 2 August, July's last.
            ("m1", "keep (daily, weekly, monthly, manual)"),
        ],
    );
}

#[test]
fn a_volume_no_longer_backed_up_keeps_its_newest() {
    // /dev/sdg left the configuration in August; the server's backups went on.
    let rows: &[Row] = &[
        ("g1", "/dev/sdg", "2026-08-02T03:00:00Z", Completed, S),
        ("g2", "/dev/sdg", "2026-08-03T03:00:00Z", Completed, S),
        ("f1", "", "2026-11-14T03:00:00Z", Completed, S),
        ("f2", "", "2026-11-15T03:00:00Z", Completed, S),
    ];
    check(
        &BackupPolicy::default(),
        "2026-11-15T04:00:00Z",
        true,
        false,
        rows,
        &[
            ("g1", "delete: older than every rule keeps"),
            // No backup of it is to come: kept while it is the newest, no date.
            ("g2", "keep (newest, daily, weekly, monthly)"),
            ("f1", "keep (daily) until 2026-11-22T00:00:00Z"),
            // Sunday's: its week is over, the month is not.
            ("f2", "keep (newest, daily, weekly, monthly) until 2026-12-07T00:00:00Z"),
        ],
    );
}

/// A year, hour by hour, of a server with two volumes backed up when due (and off for a
/// week in March, and for two days in June), pruned after every backup: at every hour,
/// the volume as it was at the end of each of the days 3 to 7 days before today can be
/// restored (its newest backup by then is still there) with the default policy (and
/// not with 7 daily backups), and no more than 16 backups of a volume are kept.
#[test]
fn the_default_policy_restores_from_3_to_7_days_past() {
    assert_eq!(restorable(&BackupPolicy::default()), Ok(()));
    let short = restorable(&policy(7, 4, 3)).unwrap_err();
    assert!(short.contains("7 days before"), "{short}");
}

fn restorable(policy: &BackupPolicy) -> Result<(), String> {
    // From the first scheduled time; the machine is back after 03:00, so each day has
    // one backup (a second one the same day would replace the first).
    let start = t("2026-01-01T03:00:00Z").0;
    let off = [("2026-03-10T00:00:00Z", "2026-03-17T05:00:00Z"), ("2026-06-05T02:00:00Z", "2026-06-07T06:00:00Z")];
    let off: Vec<(u64, u64)> = off.iter().map(|(a, b)| (t(a).0, t(b).0)).collect();
    let mut taken: Vec<Timestamp> = Vec::new(); // every scheduled backup, oldest first
    let mut kept: Vec<Snapshot> = Vec::new();
    let mut last = None;
    for hour in 0..365 * 24 {
        let now = Timestamp(start + hour * 3600);
        if off.iter().any(|(a, b)| (*a..*b).contains(&now.0)) {
            continue;
        }
        if due(policy, last, now).is_some() {
            for device in ["", "/dev/sdg"] {
                kept.push(snapshot(&format!("snap-{hour}-{}", device.len()), device, now, Completed, S));
            }
            taken.push(now);
            last = Some(now);
            let backups: Vec<BackupSnapshot> = kept.iter().filter_map(BackupSnapshot::from_snapshot).collect();
            let r = retention(policy, &backups, now, true, false);
            let delete = r.to_delete();
            kept.retain(|s| !delete.contains(&&s.id));
        }
        for volume in ["vol-sdf", "vol-sdg"] {
            let times: Vec<Timestamp> =
                kept.iter().filter(|s| s.volume.as_str() == volume).map(|s| s.created_at).collect();
            if times.len() > 16 {
                return Err(format!("{}: {} backups of {volume} kept", now.rfc3339(), times.len()));
            }
            for back in 3..=7 {
                let end_of_day = Timestamp((now.0 / DAY - back + 1) * DAY - 1);
                let Some(point) = taken.iter().rev().find(|b| **b <= end_of_day) else { continue };
                if !times.contains(&point.plus_secs(600)) {
                    return Err(format!(
                        "{}: the backup of {} ({back} days before) of {volume} is gone",
                        now.rfc3339(),
                        point.rfc3339(),
                    ));
                }
            }
        }
    }
    Ok(())
}
