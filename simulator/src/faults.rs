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

use cellar_engine::model::{InstanceType, ServerName, Timestamp, Zone};
use serde::{Deserialize, Serialize};

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
    /// per virtual hour (exponential inter-arrival times; 0 = never).
    pub terminations_per_hour: f64,
    /// "At step k of the next apply": after this many more mutating Cloud calls, Amazon
    /// terminates a live instance (of the given server, or any). Cleared once it fires.
    pub terminate_at_call: Option<TerminateAtCall>,
    /// Eventual consistency: for this many seconds after it launches (by RunInstances or
    /// by an auto scaling group), an instance is missing from DescribeInstances, and
    /// calls naming it (AttachVolume, AssociateAddress, TerminateInstances,
    /// AttachInstances) fail with `InvalidInstanceID.NotFound`.
    pub invisible_secs: u64,
    /// Each Cloud call takes a uniform draw of `[min, max]` milliseconds of virtual time.
    pub latency_ms: (u64, u64),
    /// How long instances stay `pending` (default: `world::PENDING_SECS`).
    pub boot_secs: Option<u64>,
    /// Capacity changes at given virtual times (each is removed from this list once applied).
    pub capacity: Vec<CapacityChange>,
    /// Terminations at given virtual times (each is removed from this list once applied).
    pub terminations: Vec<ScheduledTermination>,
}

/// See [`Faults::terminate_at_call`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateAtCall {
    /// Mutating Cloud calls still to be served before the termination (calls refused by
    /// throttling or an injected error do not count; calls that fail on their own do).
    /// 0 = at once, when installed.
    pub calls: u64,
    /// Whose instance to terminate; `None` lets the RNG pick any live instance.
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

/// At `at`, Amazon terminates `target`: an instance id (`i-...`) or a server name (its
/// live instance).
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

    /// Checks the rates and ranges; the error names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        let rate = self.transient_error_rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("transient_error_rate must be between 0 and 1, not {rate}"));
        }
        let per_hour = self.terminations_per_hour;
        if !(per_hour.is_finite() && per_hour >= 0.0) {
            return Err(format!("terminations_per_hour must be a finite number >= 0, not {per_hour}"));
        }
        let (min, max) = self.latency_ms;
        if min > max {
            return Err(format!("latency_ms: the minimum {min} is above the maximum {max}"));
        }
        if self.boot_secs == Some(0) {
            return Err("boot_secs must be at least 1".to_string());
        }
        for (i, t) in self.terminations.iter().enumerate() {
            if t.target.trim().is_empty() {
                return Err(format!("terminations[{i}].target is empty"));
            }
        }
        Ok(())
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
            lines.push(format!("eventual consistency: new instances invisible for {} s", self.invisible_secs));
        }
        if self.latency_ms != (0, 0) {
            lines.push(format!("latency: {}-{} ms per call", self.latency_ms.0, self.latency_ms.1));
        }
        if let Some(secs) = self.boot_secs {
            lines.push(format!("boot time: {secs} s"));
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
        lines
    }
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
mod tests;
