//! Backups: scheduled EBS snapshots of every data volume of a server, and which of them
//! retention keeps. Pure: no I/O and no clock (every time is given), so the same snapshots
//! and time give the same answer.
//!
//! A backup is a snapshot carrying cellar's tags ([`backup_tags`]): `Name=<server>`,
//! `cellar:backup=scheduled|manual` ([`BACKUP_TAG`], the kind), the volume's
//! `cellar:role` and, unless it is the server's first volume, its `cellar:device`
//! ([`VolumeKey`]), and `cellar:backup-at` ([`BACKUP_AT_TAG`]: when it was taken, which a
//! copy in another region keeps although its own start time is the copy's).
//!
//! **When.** One scheduled backup a day at the policy's `daily_at` (UTC). [`due`]: the
//! most recent `daily_at` at or before now is due if no scheduled backup was taken since;
//! one the machine was off for is due at once, and said to be missed.
//!
//! **Retention** ([`retention`]), per volume of a server (its role and device, so a
//! recreated or restored volume continues its series), grandfather-father-son over
//! calendar periods (UTC days, ISO weeks from Monday, UTC months): `keep_daily: N` keeps
//! the volume as it was at the end of each of the last N days, that is for each of those
//! days the newest completed backup taken by its end; `keep_weekly` and `keep_monthly`
//! the same for weeks and months. With a backup every day this is the newest backup of
//! each day, week and month, as restic and borg keep them; a day without a backup (the
//! machine was off) is stood for by the backup before it, which is kept while that day is
//! among the last N. A backup kept by several rules counts for each, as in restic.
//!
//! How this differs from restic's `forget`: `--keep-daily 7` keeps the newest snapshot of
//! each of the last 7 days *that have one*, so a gap makes it reach further back and a
//! kept snapshot's end depends on the backups still to come; `--keep-within-daily 7d`
//! counts calendar time, back from the latest snapshot. cellar counts calendar periods
//! like the latter, back from the server's newest completed backup (not from now), so
//! backups that stop (a stopped server, a broken schedule) never make retention delete
//! more, and a kept backup's end is a date known in advance ([`Verdict::Keep`]'s
//! `expires`); and it keeps the backup standing for a day without one, so whatever could
//! be restored as of any moment of the last N days still can, gaps or not.
//!
//! Invariants, whatever the policy:
//! - the newest completed backup of every volume is kept;
//! - a pending backup is kept (it may yet complete, and it may be all there is);
//! - a manual backup is kept: it is the operator's to delete;
//! - the backups of a server that no longer exists are all kept, unless `orphans`: then
//!   the periods count back from now, and each volume's newest backup is still kept;
//! - nothing cellar did not make is ever deleted: [`retention`] only takes
//!   [`BackupSnapshot`]s, which only [`BackupSnapshot::from_snapshot`] makes, and only
//!   of a snapshot whose tags are all cellar's.
//!
//! The default policy ([`BackupPolicy::default`]): daily at 03:00 UTC, 8 days, 4 weeks and
//! 3 months. The seed asks that local copies can be restored from 3 to 7 days past: the
//! volume as it was on each of the days 3 to 7 days before today. Counted back from
//! today's backup, 7 days are today and the 6 before it, so `keep_daily` is 8 (tested by
//! running a year hour by hour, with a week of the machine off, where 7 falls short). The
//! 4 weekly and 3 monthly ones cost little (EBS snapshots are incremental) and reach back
//! past a mistake noticed late. 03:00 UTC is night in Europe and evening in the Americas,
//! away from most traffic.

use crate::model::{Region, ServerName, Snapshot, SnapshotId, SnapshotState, Tags, Timestamp, Volume, VolumeId};
use crate::model::{NAME_TAG, ROLE_TAG};
use crate::volumes::DEVICE_TAG;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The tag that makes a snapshot one of cellar's backups; its value is the [`BackupKind`].
pub const BACKUP_TAG: &str = "cellar:backup";
/// When the backup was taken (RFC 3339, UTC); kept by its copies in other regions.
pub const BACKUP_AT_TAG: &str = "cellar:backup-at";

/// The default time of the daily backup, UTC (hour, minute).
pub const DEFAULT_DAILY_AT: (u8, u8) = (3, 0);
/// The default number of days, weeks and months whose newest backup is kept.
pub const DEFAULT_KEEP_DAILY: u32 = 8;
pub const DEFAULT_KEEP_WEEKLY: u32 = 4;
pub const DEFAULT_KEEP_MONTHLY: u32 = 3;
/// The most days, weeks or months a policy may keep (ten years of days).
pub const MAX_KEEP: u32 = 3650;
/// How long after its time a scheduled backup is still on time; later, it was missed
/// (the machine was off, or nothing was running cellar's schedule).
pub const LATE_AFTER_SECS: u64 = 3600;

const DAY: u64 = 86_400;

/// When a server is backed up and how long its backups are kept.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct BackupPolicy {
    /// The time of the daily backup, UTC: (hour 0–23, minute 0–59).
    pub daily_at: (u8, u8),
    /// The number of days whose newest backup is kept.
    pub keep_daily: u32,
    /// The number of ISO weeks whose newest backup is kept.
    pub keep_weekly: u32,
    /// The number of months whose newest backup is kept.
    pub keep_monthly: u32,
    /// Regions each backup is copied to (none of them the server's own).
    pub copy_to: Vec<Region>,
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            daily_at: DEFAULT_DAILY_AT,
            keep_daily: DEFAULT_KEEP_DAILY,
            keep_weekly: DEFAULT_KEEP_WEEKLY,
            keep_monthly: DEFAULT_KEEP_MONTHLY,
            copy_to: Vec::new(),
        }
    }
}

impl BackupPolicy {
    /// `daily_at` as `HH:MM`.
    pub fn daily_at_text(&self) -> String {
        format!("{:02}:{:02}", self.daily_at.0, self.daily_at.1)
    }

    /// Seconds after midnight UTC of the daily backup.
    fn offset(&self) -> u64 {
        u64::from(self.daily_at.0) * 3600 + u64::from(self.daily_at.1) * 60
    }
}

/// Why a backup was taken.
#[derive(Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// By the daily schedule; retention deletes it when no rule keeps it.
    Scheduled,
    /// By an operator; retention never deletes it.
    Manual,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Scheduled => "scheduled",
            BackupKind::Manual => "manual",
        }
    }
    /// The kind a [`BACKUP_TAG`] value names; `None` for any other value.
    pub fn parse(s: &str) -> Option<Self> {
        [BackupKind::Scheduled, BackupKind::Manual].into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for BackupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of a server's volumes a backup is of: its role (`data`) and its device, `None`
/// for the server's first volume (which carries no device tag, see [`crate::volumes`]).
#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(deny_unknown_fields)]
pub struct VolumeKey {
    pub role: String,
    pub device: Option<String>,
}

impl VolumeKey {
    /// The key of a volume as the cloud reports it; `None` for one without a role tag
    /// (not a volume cellar made for a server).
    pub fn of(volume: &Volume) -> Option<VolumeKey> {
        Some(VolumeKey { role: volume.tags.get(ROLE_TAG)?.clone(), device: volume.tags.get(DEVICE_TAG).cloned() })
    }
}

/// What makes a plan's snapshot a backup (`backup@SERVER`): its kind and the volume it is
/// of; the executor tags it with [`backup_tags`] at the time it is taken.
#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBackup {
    pub kind: BackupKind,
    pub volume: VolumeKey,
}

/// The tags of a backup of `volume` of `server` taken at `at`.
pub fn backup_tags(server: &ServerName, volume: &VolumeKey, kind: BackupKind, at: Timestamp) -> Tags {
    let mut tags = Tags::new();
    tags.insert(NAME_TAG.to_string(), server.as_str().to_string());
    tags.insert(BACKUP_TAG.to_string(), kind.as_str().to_string());
    tags.insert(ROLE_TAG.to_string(), volume.role.clone());
    if let Some(device) = &volume.device {
        tags.insert(DEVICE_TAG.to_string(), device.clone());
    }
    tags.insert(BACKUP_AT_TAG.to_string(), at.rfc3339());
    tags
}

/// One of cellar's backups, read back from its snapshot's tags. Only
/// [`BackupSnapshot::from_snapshot`] makes one, so whatever [`retention`] is given was
/// made by cellar.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct BackupSnapshot {
    id: SnapshotId,
    volume_id: VolumeId,
    server: ServerName,
    volume: VolumeKey,
    kind: BackupKind,
    taken_at: Timestamp,
    state: SnapshotState,
    size_gb: u32,
}

impl BackupSnapshot {
    /// The backup a snapshot is; `None` for a snapshot cellar did not make: no
    /// `cellar:backup` tag, or one whose value is not a kind cellar writes, or no valid
    /// `Name` or `cellar:role`. When `cellar:backup-at` is missing or unreadable, the
    /// snapshot's start time stands for it.
    pub fn from_snapshot(snapshot: &Snapshot) -> Option<BackupSnapshot> {
        let tags = &snapshot.tags;
        let kind = BackupKind::parse(tags.get(BACKUP_TAG)?)?;
        let server = ServerName::parse(tags.get(NAME_TAG)?).ok()?;
        let volume = VolumeKey { role: tags.get(ROLE_TAG)?.clone(), device: tags.get(DEVICE_TAG).cloned() };
        let taken_at = tags
            .get(BACKUP_AT_TAG)
            .and_then(|at| humantime::parse_rfc3339(at).ok())
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(snapshot.created_at, |d| Timestamp(d.as_secs()));
        Some(BackupSnapshot {
            id: snapshot.id.clone(),
            volume_id: snapshot.volume.clone(),
            server,
            volume,
            kind,
            taken_at,
            state: snapshot.state,
            size_gb: snapshot.size_gb,
        })
    }

    pub fn id(&self) -> &SnapshotId {
        &self.id
    }
    /// The volume it was taken of (the volume may be gone since).
    pub fn volume_id(&self) -> &VolumeId {
        &self.volume_id
    }
    pub fn server(&self) -> &ServerName {
        &self.server
    }
    pub fn volume(&self) -> &VolumeKey {
        &self.volume
    }
    pub fn kind(&self) -> BackupKind {
        self.kind
    }
    /// When it was taken ([`BACKUP_AT_TAG`]).
    pub fn taken_at(&self) -> Timestamp {
        self.taken_at
    }
    pub fn state(&self) -> SnapshotState {
        self.state
    }
    pub fn size_gb(&self) -> u32 {
        self.size_gb
    }
}

/// What `restore-server --at` restores: the newest backups at or before a time, the backups
/// taken with one snapshot, or fresh snapshots taken as the restore begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreAt {
    /// Fresh snapshots of the server's volumes, taken once it is stopped (moving zones).
    Now,
    /// The backup with this snapshot, and the other volumes' backups taken with it.
    Snapshot(SnapshotId),
    /// The newest completed backup of each volume at or before this time.
    Time(Timestamp),
}

impl RestoreAt {
    /// `now`, `snap-...`, a UTC date (`2026-11-24`: its end, 23:59:59) or time
    /// (`2026-11-24T03:00:00Z`, `2026-11-24 03:00`).
    pub fn parse(text: &str) -> Result<RestoreAt, String> {
        let text = text.trim();
        if text == "now" {
            return Ok(RestoreAt::Now);
        }
        if let Some(id) = text.strip_prefix("snap-") {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err("a snapshot id is snap- and letters or digits (`cellar backups NAME` lists them)".into());
            }
            return Ok(RestoreAt::Snapshot(SnapshotId::new(text)));
        }
        // humantime's weak RFC 3339 wants `YYYY-MM-DD HH:MM:SS`: a date alone means its end,
        // a time without seconds its first second.
        let mut normal = text.trim_end_matches('Z').replacen('T', " ", 1);
        match normal.len() {
            10 => normal.push_str(" 23:59:59"),
            16 => normal.push_str(":00"),
            _ => {}
        }
        let at = humantime::parse_rfc3339_weak(&normal).map_err(|e| {
            format!("{e}: give a UTC date (2026-11-24), a time (2026-11-24T03:00:00Z), a snapshot id (snap-...) or now")
        })?;
        let secs = at.duration_since(std::time::UNIX_EPOCH).map_err(|_| "a time before 1970".to_string())?.as_secs();
        Ok(RestoreAt::Time(Timestamp(secs)))
    }
}

impl fmt::Display for RestoreAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreAt::Now => f.write_str("now"),
            RestoreAt::Snapshot(id) => write!(f, "{id}"),
            RestoreAt::Time(at) => f.write_str(&at.rfc3339()),
        }
    }
}

/// When the newest scheduled backup of `server` among `snapshots` was taken (`None` if it
/// has none): what [`due`] counts from. Pending ones count (the backup is under way), and
/// snapshots cellar did not make, manual backups and other servers' are left out.
pub fn last_scheduled(server: &ServerName, snapshots: &[Snapshot]) -> Option<Timestamp> {
    snapshots
        .iter()
        .filter_map(BackupSnapshot::from_snapshot)
        .filter(|b| b.server() == server && b.kind() == BackupKind::Scheduled)
        .map(|b| b.taken_at())
        .max()
}

/// A scheduled backup that is due.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// The scheduled time it is for: the most recent `daily_at` at or before now.
    pub at: Timestamp,
    /// Whether it is taken more than [`LATE_AFTER_SECS`] after `at` (the machine was off,
    /// or nothing ran the schedule, at that time).
    pub missed: bool,
    /// Scheduled times before `at`, since the last scheduled backup, that went without
    /// one (lost for good: a backup is of the volume as it is now).
    pub skipped: u32,
}

/// The scheduled backup due at `now`, given when the last one was taken; `None` when one
/// was taken since the most recent `daily_at` (or none has come yet). A server that was
/// never backed up is due at once, and nothing was missed.
pub fn due(policy: &BackupPolicy, last_scheduled: Option<Timestamp>, now: Timestamp) -> Option<Due> {
    let at = last_slot(policy, now)?;
    let skipped = match last_scheduled {
        Some(last) if last >= at => return None,
        // The scheduled times after `last` and before `at`.
        Some(last) => next_at(policy, last).map_or(0, |first| ((at.0.saturating_sub(first.0)) / DAY) as u32),
        None => 0,
    };
    let missed = last_scheduled.is_some() && (now.0 - at.0 > LATE_AFTER_SECS || skipped > 0);
    Some(Due { at, missed, skipped })
}

/// The most recent `daily_at` at or before `t`; `None` before the first.
fn last_slot(policy: &BackupPolicy, t: Timestamp) -> Option<Timestamp> {
    let today = t.0 / DAY * DAY + policy.offset();
    if today <= t.0 {
        Some(Timestamp(today))
    } else {
        today.checked_sub(DAY).map(Timestamp)
    }
}

/// The first `daily_at` strictly after `t` (`None` past the end of time).
pub fn next_at(policy: &BackupPolicy, t: Timestamp) -> Option<Timestamp> {
    let today = (t.0 / DAY).checked_mul(DAY)?.checked_add(policy.offset())?;
    if today > t.0 {
        Some(Timestamp(today))
    } else {
        today.checked_add(DAY).map(Timestamp)
    }
}

/// A calendar period of the retention rules.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// A UTC day.
    Day,
    /// An ISO week (Monday to Sunday, UTC).
    Week,
    /// A calendar month (UTC).
    Month,
}

impl Period {
    const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// How many periods `policy` keeps.
    fn keep(self, policy: &BackupPolicy) -> u32 {
        match self {
            Period::Day => policy.keep_daily,
            Period::Week => policy.keep_weekly,
            Period::Month => policy.keep_monthly,
        }
    }

    /// The number of the period `t` is in (consecutive periods have consecutive numbers).
    fn index(self, t: Timestamp) -> i64 {
        let day = (t.0 / DAY) as i64;
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: day -3 is the Monday of week 0.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let date = t.date();
                let mut parts = date.split('-').map(|p| p.parse::<i64>().unwrap_or(0));
                let (year, month) = (parts.next().unwrap_or(1970), parts.next().unwrap_or(1));
                year * 12 + month - 1
            }
        }
    }

    /// When period number `index` starts.
    fn start(self, index: i64) -> Timestamp {
        let day = match self {
            Period::Day => index,
            Period::Week => index * 7 - 3,
            Period::Month => days_from_civil(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1),
        };
        Timestamp((day.max(0) as u64).saturating_mul(DAY))
    }

    fn rule(self) -> KeepReason {
        match self {
            Period::Day => KeepReason::Daily,
            Period::Week => KeepReason::Weekly,
            Period::Month => KeepReason::Monthly,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// Days since 1970-01-01 of a date (Howard Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Why retention keeps a backup.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum KeepReason {
    /// The newest of its day, within the last `keep_daily` days.
    Daily,
    /// The newest of its ISO week, within the last `keep_weekly` weeks.
    Weekly,
    /// The newest of its month, within the last `keep_monthly` months.
    Monthly,
    /// The newest completed backup of its volume.
    Newest,
    /// Not completed yet.
    Pending,
    /// Taken by an operator.
    Manual,
    /// Its server no longer exists (and orphans are not pruned).
    ServerGone,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeepReason::Daily => "daily",
            KeepReason::Weekly => "weekly",
            KeepReason::Monthly => "monthly",
            KeepReason::Newest => "newest",
            KeepReason::Pending => "pending",
            KeepReason::Manual => "manual",
            KeepReason::ServerGone => "server gone",
        })
    }
}

/// Why retention deletes a backup.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteReason {
    /// It is within a rule's periods, but a newer backup of its period is kept (the
    /// shortest such period).
    Superseded(Period),
    /// It is older than every rule's periods.
    Expired,
}

impl fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteReason::Superseded(period) => write!(f, "a newer backup of its {} is kept", period.name()),
            DeleteReason::Expired => f.write_str("older than every rule keeps"),
        }
    }
}

/// What retention does with one backup.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Kept, for these reasons. `expires`: when the last calendar rule that keeps it stops
    /// keeping it, if backups go on as scheduled (a day, week or month that future
    /// scheduled backups still fall in does not count: a newer backup will take its
    /// place); `None` when no date is known: a pending, manual or orphaned backup, or one
    /// kept only as its volume's newest or until the next backup replaces it.
    Keep {
        reasons: Vec<KeepReason>,
        expires: Option<Timestamp>,
    },
    Delete(DeleteReason),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Keep { reasons, expires } => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                write!(f, "keep ({})", reasons.join(", "))?;
                if let Some(at) = expires {
                    write!(f, " until {}", at.rfc3339())?;
                }
                Ok(())
            }
            Verdict::Delete(why) => write!(f, "delete: {why}"),
        }
    }
}

/// One backup and what retention does with it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub id: SnapshotId,
    pub verdict: Verdict,
}

/// What [`retention`] decided: one decision per backup, in the order given.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    pub decisions: Vec<Decision>,
}

impl Retention {
    /// The backups to delete.
    pub fn to_delete(&self) -> Vec<&SnapshotId> {
        self.decisions.iter().filter(|d| matches!(d.verdict, Verdict::Delete(_))).map(|d| &d.id).collect()
    }
}

/// Which of a server's backups `policy` keeps at `now` (see the module's documentation
/// for the rules and invariants). `snapshots`: the server's backups in one region;
/// `server_exists`: whether anything of the server but backups is left (`prune@`: its
/// resources); `orphans`: whether the backups of a server that is gone are pruned too.
pub fn retention(
    policy: &BackupPolicy,
    snapshots: &[BackupSnapshot],
    now: Timestamp,
    server_exists: bool,
    orphans: bool,
) -> Retention {
    if !server_exists && !orphans {
        let keep = Verdict::Keep { reasons: vec![KeepReason::ServerGone], expires: None };
        let decisions = snapshots.iter().map(|s| Decision { id: s.id.clone(), verdict: keep.clone() }).collect();
        return Retention { decisions };
    }
    let completed = |s: &&BackupSnapshot| s.state == SnapshotState::Completed;
    // The periods count back from the server's newest completed backup (from now for an
    // orphan, whose backups have stopped for good); never from a time after now.
    let anchor = match server_exists {
        true => snapshots.iter().filter(completed).map(|s| s.taken_at).max().map_or(now, |t| t.min(now)),
        false => now,
    };
    // Where the next scheduled backup will fall (an orphan has none).
    let next = if server_exists { next_at(policy, now) } else { None };
    let mut by_volume: BTreeMap<(&ServerName, &VolumeKey), Vec<&BackupSnapshot>> = BTreeMap::new();
    let mut pending: BTreeMap<(&ServerName, &VolumeKey), Vec<Timestamp>> = BTreeMap::new();
    for s in snapshots {
        match s.state {
            SnapshotState::Completed => by_volume.entry((&s.server, &s.volume)).or_default().push(s),
            SnapshotState::Pending => pending.entry((&s.server, &s.volume)).or_default().push(s.taken_at),
        }
    }
    let mut verdicts: BTreeMap<&SnapshotId, Verdict> = BTreeMap::new();
    for (key, volume) in by_volume.iter_mut() {
        volume.sort_by(|a, b| (b.taken_at, &b.id).cmp(&(a.taken_at, &a.id)));
        for (j, s) in volume.iter().enumerate() {
            // The next newer backup of the volume: the one after it; for the newest, a
            // newer pending one, else the next scheduled one if backups of the volume go
            // on (not when its newest is older than the server's: it left the server).
            let newer = if j > 0 {
                Some(volume[j - 1].taken_at)
            } else {
                let pending = pending.get(key).into_iter().flatten().filter(|t| **t > s.taken_at).min().copied();
                let current = Period::Day.index(s.taken_at) == Period::Day.index(anchor);
                pending.or(next.filter(|_| current))
            };
            verdicts.insert(&s.id, verdict(policy, s, j == 0, newer, anchor));
        }
    }
    let pending = Verdict::Keep { reasons: vec![KeepReason::Pending], expires: None };
    let decisions = snapshots
        .iter()
        .map(|s| Decision {
            id: s.id.clone(),
            verdict: verdicts.get(&s.id).cloned().unwrap_or_else(|| pending.clone()),
        })
        .collect();
    Retention { decisions }
}

/// The verdict on completed backup `s` of a volume: `newest` whether it is the volume's
/// newest, `newer` when the volume's next newer backup was (or, for the newest, will be)
/// taken. For each rule, `s` is the volume as it was at the end of each period from its own
/// to the one before `newer`'s (to the anchor's for the newest, as things are): kept when
/// one of those is among the rule's last periods.
fn verdict(
    policy: &BackupPolicy,
    s: &BackupSnapshot,
    newest: bool,
    newer: Option<Timestamp>,
    anchor: Timestamp,
) -> Verdict {
    let mut reasons = Vec::new();
    let mut expires: Option<Timestamp> = None;
    let mut superseded = None;
    for period in Period::ALL {
        let keep = i64::from(period.keep(policy));
        let first = period.index(s.taken_at);
        let current = period.index(anchor);
        let last = match (newest, newer) {
            (true, _) => current.max(first),
            (false, newer) => newer.map_or(first, |t| period.index(t) - 1),
        };
        if keep == 0 {
            continue;
        }
        if last < first {
            if current - first < keep {
                superseded.get_or_insert(period);
            }
            continue;
        }
        if last <= current - keep {
            continue; // every period it stands for is older than the rule keeps
        }
        reasons.push(period.rule());
        // The last period it will stand for, if backups go on as scheduled; none when a
        // newer backup of its own period is to come (it takes its place) or none is.
        let until = match (newest, newer) {
            (true, Some(next)) => Some(period.index(next) - 1).filter(|l| *l >= first),
            (true, None) => None,
            (false, _) => Some(last),
        };
        if let Some(until) = until {
            let end = period.start(until + keep);
            expires = Some(expires.map_or(end, |e| e.max(end)));
        }
    }
    if newest {
        reasons.insert(0, KeepReason::Newest);
    }
    if s.kind == BackupKind::Manual {
        reasons.push(KeepReason::Manual);
        expires = None;
    }
    if reasons.is_empty() {
        Verdict::Delete(superseded.map_or(DeleteReason::Expired, DeleteReason::Superseded))
    } else {
        Verdict::Keep { reasons, expires }
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
