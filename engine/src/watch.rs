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
//! The loop (how often, for how long, where events go) is the caller's: the CLI's
//! `cellar watch`, and the benchmark that measures the time from a fault to its event.

mod event;
mod observe;
mod tracker;

pub use event::{EventKind, IncidentRef, WatchEvent, WATCH_EVENT_VERSION};
pub use observe::{observe, policy, Observation, Target, PROBES_AT_ONCE};
pub use tracker::{judge, Tracker, PROBE_FAILURES_FOR_DOWN};
