//! Fault injection: what makes the simulated AWS hostile.
//!
//! A [`Faults`] value lives in the [`World`](crate::World) (installed with
//! [`World::set_faults`](crate::World::set_faults)) and can also be written on its own as a
//! RON "fault schedule" ([`parse_faults`]; see `fixtures/worlds/faults-example.ron`). Every
//! random decision draws from the world's one seeded `Rng`, and every delay runs on the
//! virtual clock, so a world with faults replays exactly from its seed.
//!
//! The default is no faults at all: worlds and state files without a `faults` field behave
//! as before.
//!
//! Invariants: a [`Faults`] a world holds passed [`Faults::validate`]: rates are in range,
//! every duration and count is within its documented bound (`MAX_*` below), so no
//! arithmetic on them can overflow, every time is before the end of virtual time, and
//! every server name is one `ServerName::parse` accepts.

use crate::world::MAX_CLOCK;
use cellar_engine::api::Api;
use cellar_engine::model::{InstanceType, ServerName, Timestamp, Zone};
use cellar_engine::monitoring::EventCode;
use serde::{Deserialize, Serialize};

/// The most [`Faults::invisible_secs`] may be: one day.
pub const MAX_INVISIBLE_SECS: u64 = 86_400;
/// The most either bound of [`Faults::latency_ms`] may be: one minute per call.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// The most [`Faults::boot_secs`] may be: one day.
pub const MAX_BOOT_SECS: u64 = 86_400;
/// The most [`Faults::terminations_per_hour`] may be: one a second, the clock's resolution.
pub const MAX_TERMINATIONS_PER_HOUR: f64 = 3600.0;
/// The most [`TerminateAtCall::calls`] may be.
pub const MAX_CALLS: u64 = 1_000_000;
/// The longest an impairment, an unreachable service or an outage may last (`secs`): 30 days.
pub const MAX_FAULT_SECS: u64 = 30 * 86_400;
/// How far after its announcement a scheduled event may fall due (`not_before - at`), and
/// its window (`not_after - not_before`) may last: 365 days.
pub const MAX_EVENT_NOTICE_SECS: u64 = 365 * 86_400;

/// The faults a world injects. Every field is optional in RON (missing = no such fault).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Enforce AWS's API token buckets (`cellar_engine::limits::Bucket`) per region on the
    /// virtual clock: a call finding its bucket empty fails with `RequestLimitExceeded`
    /// and changes nothing.
    pub throttling: bool,
    /// Probability (0..=1) that a Cloud call fails with `InternalError` or `Unavailable`
    /// (50/50) before doing anything.
    pub transient_error_rate: f64,
    /// Average number of live (pending or running) instances Amazon terminates on its own
    /// per virtual hour (exponential inter-arrival times; 0 = never; at most
    /// [`MAX_TERMINATIONS_PER_HOUR`]).
    pub terminations_per_hour: f64,
    /// "At step k of the next apply": after this many more mutating Cloud calls, Amazon
    /// terminates a live instance (of the given server, or any). Cleared once it fires.
    pub terminate_at_call: Option<TerminateAtCall>,
    /// Eventual consistency, for every kind the world models: for this many seconds after
    /// it launches (by RunInstances or by an auto scaling group), an instance is missing
    /// from DescribeInstances, and calls naming it (AttachVolume, AssociateAddress,
    /// TerminateInstances, AttachInstances) fail with `InvalidInstanceID.NotFound`; so is a
    /// new volume (`InvalidVolume.NotFound`), address (`InvalidAllocationID.NotFound`),
    /// launch template (`InvalidLaunchTemplateId.NotFound`; named by a group, or a new
    /// version of it: `ValidationError`), auto scaling group (left out of
    /// DescribeAutoScalingGroups; `AutoScalingGroup.NotFound`), image (`InvalidAMIID.NotFound`)
    /// and snapshot (`InvalidSnapshot.NotFound`) after it is created (see
    /// `world/visibility.rs`). One setting for all: AWS's consistency is not per kind. At
    /// most [`MAX_INVISIBLE_SECS`].
    pub invisible_secs: u64,
    /// Each Cloud call takes a uniform draw of `[min, max]` milliseconds of virtual time
    /// (`max` at most [`MAX_LATENCY_MS`]).
    pub latency_ms: (u64, u64),
    /// How long instances stay `pending` (default: `world::PENDING_SECS`; 1 to
    /// [`MAX_BOOT_SECS`]).
    pub boot_secs: Option<u64>,
    /// How long after its instance turns running an agent starts, as cloud-init would
    /// (default: `world::AGENT_DELAY_SECS`; 0 to [`MAX_BOOT_SECS`]).
    pub agent_delay_secs: Option<u64>,
    /// Capacity changes at given virtual times (each is removed from this list once applied).
    pub capacity: Vec<CapacityChange>,
    /// Terminations at given virtual times (each is removed from this list once applied).
    pub terminations: Vec<ScheduledTermination>,
    /// Lost responses: a mutating call takes effect, then the caller sees `InternalError`
    /// or a timeout (`Unavailable`), as when AWS acted and the answer never arrived.
    pub lost_responses: Option<LostResponses>,
    /// At given virtual times, an instance's system or instance status check turns
    /// `impaired` (DescribeInstanceStatus) for a while; an auto scaling group replaces a
    /// member whose check is impaired (see `world/status.rs`). Each is removed from this
    /// list once applied.
    pub impairments: Vec<Impairment>,
    /// Windows during which a server's service answers no outside probe (the simulator's
    /// `Prober`), whatever its instance; EC2 sees nothing wrong.
    pub unreachable: Vec<Unreachable>,
    /// Events AWS announces for an instance (DescribeInstanceStatus lists them) and carries
    /// out at their `not_before` (see `world/status.rs`). Each is removed from this list
    /// once announced.
    pub scheduled_events: Vec<EventAnnouncement>,
    /// Windows during which every call of the operator (cellar's own, not an agent's)
    /// fails with `Unavailable` before reaching AWS, as when the connection to AWS is lost.
    pub outages: Vec<Outage>,
}

/// Which of EC2's two status checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCheck {
    /// The system status check: AWS's hardware, power and network under the instance.
    System,
    /// The instance status check: the instance's own reachability (its operating system).
    Instance,
}

impl StatusCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCheck::System => "system",
            StatusCheck::Instance => "instance",
        }
    }
}

/// At `at`, `target` (an instance id, or a server name: its live instance) gets its `check`
/// impaired, for `secs` seconds (`None`: until the instance is gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impairment {
    pub at: Timestamp,
    pub target: String,
    pub check: StatusCheck,
    #[serde(default)]
    pub secs: Option<u64>,
}

/// From `at`, for `secs` seconds, `server`'s service answers no outside probe (as a broken
/// service, a full disk or a firewall rule would): a probe times out. Status checks stay
/// `ok` and no auto scaling group notices. The window is the server's, not its instance's:
/// a replacement instance is unreachable too until the window ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unreachable {
    pub at: Timestamp,
    pub server: ServerName,
    pub secs: u64,
}

/// At `at`, AWS announces an event of kind `code` for `target` (an instance id, or a
/// server name: its live instance), due at `not_before` (at or after `at`), `not_after`
/// the end of its window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventAnnouncement {
    pub at: Timestamp,
    pub target: String,
    pub code: EventCode,
    pub not_before: Timestamp,
    #[serde(default)]
    pub not_after: Option<Timestamp>,
}

/// From `at`, for `secs` seconds, the operator's calls fail with `Unavailable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub at: Timestamp,
    pub secs: u64,
}

impl Outage {
    /// Whether the outage covers the virtual time `now`: `[at, at + secs)`.
    pub fn covers(&self, now: Timestamp) -> bool {
        self.at <= now && now.0 < self.at.0.saturating_add(self.secs)
    }
}

impl Unreachable {
    /// Whether the window covers the virtual time `now`: `[at, at + secs)`.
    pub fn covers(&self, now: Timestamp) -> bool {
        self.at <= now && now.0 < self.at.0.saturating_add(self.secs)
    }
}

/// See [`Faults::lost_responses`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LostResponses {
    /// Probability (0..=1) that a mutating call that succeeded loses its response.
    pub rate: f64,
    /// The response of the k-th mutating call from now (1 = the next) that succeeds is
    /// lost, once; calls refused before they run do not count. At most [`MAX_CALLS`].
    pub at_call: Option<u64>,
    /// The operations whose responses may be lost, as AWS spells them (`CreateVolume`);
    /// empty: every mutating operation.
    pub apis: Vec<String>,
}

impl LostResponses {
    /// Whether `api`'s responses may be lost.
    pub fn covers(&self, api: Api) -> bool {
        api.is_mutating() && (self.apis.is_empty() || self.apis.iter().any(|a| a == api.name()))
    }

    fn validate(&self) -> Result<(), String> {
        let rate = self.rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("lost_responses.rate must be between 0 and 1, not {rate}"));
        }
        if self.at_call == Some(0) {
            return Err("lost_responses.at_call must be at least 1 (the next mutating call)".to_string());
        }
        at_most("lost_responses.at_call", self.at_call.unwrap_or(0), MAX_CALLS, "")?;
        for (i, name) in self.apis.iter().enumerate() {
            if !Api::ALL.iter().any(|a| a.is_mutating() && a.name() == name) {
                let known: Vec<&str> = Api::ALL.iter().filter(|a| a.is_mutating()).map(|a| a.name()).collect();
                return Err(format!(
                    "lost_responses.apis[{i}]: {name:?} is not a mutating operation cellar calls (one of {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// See [`Faults::terminate_at_call`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateAtCall {
    /// Mutating Cloud calls still to be served before the termination (calls refused by
    /// throttling or an injected error do not count; calls that fail on their own do).
    /// 0 = at once, when installed; at most [`MAX_CALLS`].
    pub calls: u64,
    /// Whose instance to terminate (a valid server name); `None` lets the RNG pick any
    /// live instance.
    #[serde(default)]
    pub server: Option<ServerName>,
}

/// From `at` on, `count` more instances of `instance_type` can launch in `zone` (as
/// [`World::set_capacity`](crate::World::set_capacity)). An `at` in the past applies at the
/// next advance of the clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityChange {
    pub at: Timestamp,
    pub zone: Zone,
    pub instance_type: InstanceType,
    pub count: u32,
}

/// At `at`, Amazon terminates `target`: an instance id (`i-` and hexadecimal digits) or a
/// valid server name (its live instance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledTermination {
    pub at: Timestamp,
    pub target: String,
}

impl Faults {
    /// True when nothing is injected.
    pub fn is_none(&self) -> bool {
        *self == Faults::default()
    }

    /// Checks the rates, bounds, times and names; the error starts with the bad field's
    /// name and says what would do.
    pub fn validate(&self) -> Result<(), String> {
        let rate = self.transient_error_rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("transient_error_rate must be between 0 and 1, not {rate}"));
        }
        let per_hour = self.terminations_per_hour;
        if !(per_hour.is_finite() && (0.0..=MAX_TERMINATIONS_PER_HOUR).contains(&per_hour)) {
            return Err(format!(
                "terminations_per_hour must be a number from 0 to {MAX_TERMINATIONS_PER_HOUR}, not {per_hour}"
            ));
        }
        if let Some(t) = &self.terminate_at_call {
            at_most("terminate_at_call.calls", t.calls, MAX_CALLS, "")?;
            if let Some(server) = &t.server {
                ServerName::parse(server.as_str()).map_err(|e| format!("terminate_at_call.server: {e}"))?;
            }
        }
        at_most("invisible_secs", self.invisible_secs, MAX_INVISIBLE_SECS, " (one day)")?;
        let (min, max) = self.latency_ms;
        if min > max {
            return Err(format!("latency_ms: the minimum {min} is above the maximum {max}"));
        }
        at_most("latency_ms", max, MAX_LATENCY_MS, " (one minute per call)")?;
        if self.boot_secs == Some(0) {
            return Err("boot_secs must be at least 1".to_string());
        }
        at_most("boot_secs", self.boot_secs.unwrap_or(0), MAX_BOOT_SECS, " (one day)")?;
        at_most("agent_delay_secs", self.agent_delay_secs.unwrap_or(0), MAX_BOOT_SECS, " (one day)")?;
        if let Some(lost) = &self.lost_responses {
            lost.validate()?;
        }
        for (i, c) in self.capacity.iter().enumerate() {
            check_time(&format!("capacity[{i}].at"), c.at)?;
        }
        for (i, t) in self.terminations.iter().enumerate() {
            check_time(&format!("terminations[{i}].at"), t.at)?;
            check_target(&t.target).map_err(|e| format!("terminations[{i}].target: {e}"))?;
        }
        for (i, f) in self.impairments.iter().enumerate() {
            check_time(&format!("impairments[{i}].at"), f.at)?;
            check_target(&f.target).map_err(|e| format!("impairments[{i}].target: {e}"))?;
            if let Some(secs) = f.secs {
                check_secs(&format!("impairments[{i}].secs"), secs)?;
            }
        }
        for (i, u) in self.unreachable.iter().enumerate() {
            check_time(&format!("unreachable[{i}].at"), u.at)?;
            ServerName::parse(u.server.as_str()).map_err(|e| format!("unreachable[{i}].server: {e}"))?;
            check_secs(&format!("unreachable[{i}].secs"), u.secs)?;
        }
        for (i, e) in self.scheduled_events.iter().enumerate() {
            check_time(&format!("scheduled_events[{i}].at"), e.at)?;
            check_target(&e.target).map_err(|err| format!("scheduled_events[{i}].target: {err}"))?;
            check_time(&format!("scheduled_events[{i}].not_before"), e.not_before)?;
            if e.not_before < e.at {
                return Err(format!(
                    "scheduled_events[{i}].not_before ({}) is before its announcement at ({}); AWS announces an event before it is due",
                    e.not_before.0, e.at.0
                ));
            }
            at_most(
                &format!("scheduled_events[{i}].not_before - at"),
                e.not_before.0 - e.at.0,
                MAX_EVENT_NOTICE_SECS,
                " s (365 days)",
            )?;
            if let Some(not_after) = e.not_after {
                check_time(&format!("scheduled_events[{i}].not_after"), not_after)?;
                if not_after < e.not_before {
                    return Err(format!(
                        "scheduled_events[{i}].not_after ({}) is before its not_before ({}); the window ends after it starts",
                        not_after.0, e.not_before.0
                    ));
                }
                at_most(
                    &format!("scheduled_events[{i}].not_after - not_before"),
                    not_after.0 - e.not_before.0,
                    MAX_EVENT_NOTICE_SECS,
                    " s (365 days)",
                )?;
            }
        }
        for (i, o) in self.outages.iter().enumerate() {
            check_time(&format!("outages[{i}].at"), o.at)?;
            check_secs(&format!("outages[{i}].secs"), o.secs)?;
        }
        Ok(())
    }

    /// Whether an outage covers the virtual time `now` (the operator's calls fail).
    pub fn outage_at(&self, now: Timestamp) -> Option<&Outage> {
        self.outages.iter().find(|o| o.covers(now))
    }

    /// Whether an `unreachable` window covers `server` at the virtual time `now`.
    pub fn unreachable_at(&self, server: &ServerName, now: Timestamp) -> Option<&Unreachable> {
        self.unreachable.iter().find(|u| u.server == *server && u.covers(now))
    }

    /// One line per active fault (for `cellar sim show`); empty when there are none.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.throttling {
            lines.push("throttling: AWS token buckets enforced per region".to_string());
        }
        if self.transient_error_rate > 0.0 {
            lines.push(format!(
                "transient errors: {}% of calls fail (InternalError / Unavailable)",
                self.transient_error_rate * 100.0
            ));
        }
        if self.terminations_per_hour > 0.0 {
            lines.push(format!("random terminations: {} per hour on average", self.terminations_per_hour));
        }
        if let Some(t) = &self.terminate_at_call {
            let whom = match &t.server {
                Some(s) => format!("{s}'s instance"),
                None => "a random live instance".to_string(),
            };
            lines.push(format!("terminate {whom} after {} more mutating call(s)", t.calls));
        }
        if self.invisible_secs > 0 {
            lines.push(format!(
                "eventual consistency: new resources of every kind invisible for {} s",
                self.invisible_secs
            ));
        }
        if self.latency_ms != (0, 0) {
            lines.push(format!("latency: {}-{} ms per call", self.latency_ms.0, self.latency_ms.1));
        }
        if let Some(secs) = self.boot_secs {
            lines.push(format!("boot time: {secs} s"));
        }
        if let Some(secs) = self.agent_delay_secs {
            lines.push(format!("agents start {secs} s after their instance runs"));
        }
        if let Some(lost) = &self.lost_responses {
            let which = if lost.apis.is_empty() { "mutating calls".to_string() } else { lost.apis.join(", ") };
            if lost.rate > 0.0 {
                lines.push(format!("lost responses: {}% of {which} take effect, then fail", lost.rate * 100.0));
            }
            if let Some(k) = lost.at_call {
                lines.push(format!("lost response: the {k}th succeeding call of {which} from now"));
            }
        }
        for c in &self.capacity {
            lines.push(format!(
                "at {}: capacity for {} in {} set to {}",
                c.at.rfc3339(),
                c.instance_type,
                c.zone,
                c.count
            ));
        }
        for t in &self.terminations {
            lines.push(format!("at {}: terminate {}", t.at.rfc3339(), t.target));
        }
        for f in &self.impairments {
            let how_long = f.secs.map_or_else(|| "until it is gone".to_string(), |s| format!("for {s} s"));
            lines.push(format!(
                "at {}: the {} status check of {} impaired {how_long}",
                f.at.rfc3339(),
                f.check.as_str(),
                f.target
            ));
        }
        for u in &self.unreachable {
            lines.push(format!("at {}: {}'s service unreachable for {} s", u.at.rfc3339(), u.server, u.secs));
        }
        for e in &self.scheduled_events {
            lines.push(format!(
                "at {}: AWS announces {} for {}, not before {}",
                e.at.rfc3339(),
                e.code,
                e.target,
                e.not_before.rfc3339()
            ));
        }
        for o in &self.outages {
            lines.push(format!(
                "at {}: connection to AWS lost for {} s (every call Unavailable)",
                o.at.rfc3339(),
                o.secs
            ));
        }
        lines
    }
}

/// `field` must be at most `max`.
fn at_most(field: &str, value: u64, max: u64, what: &str) -> Result<(), String> {
    if value > max {
        return Err(format!("{field} is {value}, above the limit of {max}{what}; use a smaller value"));
    }
    Ok(())
}

/// A fault's duration: 1 to [`MAX_FAULT_SECS`].
fn check_secs(field: &str, secs: u64) -> Result<(), String> {
    if secs == 0 {
        return Err(format!("{field} must be at least 1"));
    }
    at_most(field, secs, MAX_FAULT_SECS, " (30 days)")
}

/// A fault's time must be before the end of virtual time.
fn check_time(field: &str, at: Timestamp) -> Result<(), String> {
    if at > MAX_CLOCK {
        return Err(format!(
            "{field} is {}, after {} ({}), the end of virtual time",
            at.0,
            MAX_CLOCK.rfc3339(),
            MAX_CLOCK.0
        ));
    }
    Ok(())
}

/// A termination target: an instance id (`i-` and hexadecimal digits) or a server name.
fn check_target(target: &str) -> Result<(), String> {
    if target.trim().is_empty() {
        return Err("it is empty (give a server name or an instance id such as i-0001)".to_string());
    }
    if let Some(hex) = target.strip_prefix("i-") {
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(());
        }
        return Err(format!("{target:?} is not an instance id (i- and hexadecimal digits, such as i-0001)"));
    }
    ServerName::parse(target).map(|_| ()).map_err(|e| format!("{e}, or an instance id such as i-0001"))
}

/// Parses a fault schedule (a [`Faults`] in RON; missing fields mean no such fault).
pub fn parse_faults(text: &str) -> Result<Faults, ron::error::SpannedError> {
    ron::de::from_str(text)
}

/// Renders faults as RON (the format [`parse_faults`] reads).
pub fn render_faults(faults: &Faults) -> String {
    let config = ron::ser::PrettyConfig::default().struct_names(false);
    let mut text = ron::ser::to_string_pretty(faults, config).expect("faults always serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod lost_tests;
#[cfg(test)]
mod tests;
