//! `cellar watch`: every configured server checked at an interval, and each change of its
//! health reported once, as an event.
//!
//! - [`observe`] reads one cycle: the servers' status (batched by region and kind, as
//!   `cellar status` reads it), EC2's status checks and scheduled events of their running
//!   instances (DescribeInstanceStatus, 100 instances a call) and each configured outside
//!   probe ([`crate::monitoring::Prober`], many at once).
//! - [`Tracker`] is pure: it turns each cycle's observations into [`WatchEvent`]s
//!   (incidents opened, worsened, reminded, recovered; scheduled events announced; the
//!   connection to the cloud lost and back).
//!
//! - [`BackupSchedule`] is pure: which watched servers' scheduled backups are due, and the
//!   events of what a backup round did (`backup`, `backup-failed`, `pruned`, ...); the
//!   round itself (locks, plans, applies) is the caller's.
//!
//! The loop (how often, for how long, where events go) is the caller's: the CLI's
//! `cellar watch`, and the benchmark that measures the time from a fault to its event.

mod event;
mod observe;
mod schedule;
mod tracker;

pub use event::{BackupFacts, EventKind, IncidentRef, WatchEvent, WATCH_EVENT_VERSION};
pub use observe::{observe, policy, Observation, Target, PROBES_AT_ONCE};
pub use schedule::{
    BackupOutcome, BackupSchedule, DueBackup, PruneOutcome, RoundReport, LOCKED_FOR_TOO_LONG, RETRY_AFTER,
    RETRY_AT_MOST,
};
pub use tracker::{judge, Tracker, PROBE_FAILURES_FOR_DOWN};
