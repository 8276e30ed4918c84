//! What `cellar watch` looks at beyond a server's resources: EC2's status checks and
//! scheduled events (DescribeInstanceStatus, through [`crate::cloud::Cloud`]), and an
//! outside probe of the server's service ([`Prober`]), with the configuration that says
//! how to probe a server and whom to notify ([`HealthCheck`], [`Notify`]).
//!
//! Pure types and one trait; the simulator and the CLI implement [`Prober`] (simulated on
//! the simulator, a real HTTP or TCP request against AWS).

use crate::model::{InstanceId, InstanceState, Region, ServerName, Timestamp, Zone};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The result of one of EC2's status checks (DescribeInstanceStatus's
/// `SystemStatus.Status` / `InstanceStatus.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Ok,
    Impaired,
    Initializing,
    InsufficientData,
    NotApplicable,
}

impl CheckStatus {
    /// AWS's spelling (`insufficient-data`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Impaired => "impaired",
            CheckStatus::Initializing => "initializing",
            CheckStatus::InsufficientData => "insufficient-data",
            CheckStatus::NotApplicable => "not-applicable",
        }
    }

    /// AWS's spelling back; `None` for anything else.
    pub fn parse(s: &str) -> Option<CheckStatus> {
        [
            CheckStatus::Ok,
            CheckStatus::Impaired,
            CheckStatus::Initializing,
            CheckStatus::InsufficientData,
            CheckStatus::NotApplicable,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a scheduled event (DescribeInstanceStatus's `Events[].Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventCode {
    InstanceReboot,
    SystemReboot,
    SystemMaintenance,
    InstanceRetirement,
    InstanceStop,
}

impl EventCode {
    pub const ALL: &'static [EventCode] = &[
        EventCode::InstanceReboot,
        EventCode::SystemReboot,
        EventCode::SystemMaintenance,
        EventCode::InstanceRetirement,
        EventCode::InstanceStop,
    ];

    /// AWS's spelling (`instance-retirement`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventCode::InstanceReboot => "instance-reboot",
            EventCode::SystemReboot => "system-reboot",
            EventCode::SystemMaintenance => "system-maintenance",
            EventCode::InstanceRetirement => "instance-retirement",
            EventCode::InstanceStop => "instance-stop",
        }
    }

    pub fn parse(s: &str) -> Option<EventCode> {
        EventCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event AWS scheduled for an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    /// AWS's event id (`instance-event-0123456789abcdef0`).
    pub id: String,
    pub code: EventCode,
    /// AWS's description; a completed event's starts with `[Completed]`, a cancelled one's
    /// with `[Canceled]`.
    pub description: String,
    /// The earliest time it happens.
    pub not_before: Timestamp,
    /// The latest (absent for some kinds).
    pub not_after: Option<Timestamp>,
}

impl ScheduledEvent {
    /// Whether it is still to come: not `[Completed]` nor `[Canceled]`.
    pub fn is_pending(&self) -> bool {
        !(self.description.starts_with("[Completed]") || self.description.starts_with("[Canceled]"))
    }
}

/// One instance's status checks and scheduled events, as DescribeInstanceStatus reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceChecks {
    pub instance: InstanceId,
    pub zone: Zone,
    pub state: InstanceState,
    /// The system status check (AWS's hardware and network under the instance).
    pub system: CheckStatus,
    /// The instance status check (the instance's own reachability).
    pub instance_check: CheckStatus,
    pub events: Vec<ScheduledEvent>,
}

/// The most instance ids DescribeInstanceStatus takes in one request.
pub const MAX_STATUS_IDS: usize = 100;

/// What a probe asks of a server, its placeholders filled in ([`HealthCheck::target_for`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeTarget {
    /// An HTTP(S) GET of `url`, answered with `expect_status`.
    Http { url: String, expect_status: u16 },
    /// A TCP connection to `host:port`.
    Tcp { host: String, port: u16 },
}

impl fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeTarget::Http { url, .. } => write!(f, "GET {url}"),
            ProbeTarget::Tcp { host, port } => write!(f, "TCP {host}:{port}"),
        }
    }
}

/// One probe of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    pub server: ServerName,
    pub region: Region,
    pub target: ProbeTarget,
    pub timeout: Duration,
}

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ProbeOutcome {
    /// It answered as expected.
    Up,
    /// It did not: why (`connection refused`, `timed out after 5s`, `HTTP 503, expected 200`).
    Failed(String),
}

/// Probes servers from outside: the simulator simulates it, the CLI sends a real request.
#[async_trait]
pub trait Prober: Send + Sync {
    async fn probe(&self, request: &ProbeRequest) -> ProbeOutcome;
}

/// A server's `health_check` as configured: where to probe, with `{dns_name}` and
/// `{address}` still in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub kind: HealthCheckKind,
    /// How long a probe may take before it counts as failed.
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckKind {
    /// `http: "https://{dns_name}/health"` (http or https), `expect_status` (default 200).
    Http { url: String, expect_status: u16 },
    /// `tcp: "{address}:22"`.
    Tcp { host: String, port: u16 },
}

/// The placeholders a health check may use.
pub const PLACEHOLDERS: &[&str] = &["{dns_name}", "{address}"];

impl HealthCheck {
    /// The probe for a server whose DNS name is `dns_name` and Elastic IP `address`; `None`
    /// when a placeholder it uses has no value (no address yet: nothing to probe).
    pub fn target_for(&self, dns_name: Option<&str>, address: Option<&str>) -> Option<ProbeTarget> {
        let fill = |text: &str| -> Option<String> {
            let mut out = text.to_string();
            if out.contains("{dns_name}") {
                out = out.replace("{dns_name}", dns_name?);
            }
            if out.contains("{address}") {
                out = out.replace("{address}", address?);
            }
            Some(out)
        };
        Some(match &self.kind {
            HealthCheckKind::Http { url, expect_status } => {
                ProbeTarget::Http { url: fill(url)?, expect_status: *expect_status }
            }
            HealthCheckKind::Tcp { host, port } => ProbeTarget::Tcp { host: fill(host)?, port: *port },
        })
    }
}

/// Where a server's incidents are sent, besides the watch's standard output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Notify {
    pub webhooks: Vec<Webhook>,
    /// Commands run once per notification: the program and its arguments (no shell), the
    /// event in `CELLAR_*` environment variables and as JSON on standard input.
    pub commands: Vec<Vec<String>>,
    /// How often an incident that lasts is notified again; `None`: never.
    pub remind_every: Option<Duration>,
}

/// One webhook: an HTTP(S) POST of each notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub url: String,
    pub body: WebhookBody,
}

/// The body a webhook gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookBody {
    /// The event's documented JSON (docs/watch-events.md).
    #[default]
    Json,
    /// A Slack-compatible `{"text": "..."}`.
    Slack,
}

/// The default reminder interval of a lasting incident.
pub const DEFAULT_REMIND_EVERY: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_or_the_probe_waits() {
        let check = |kind: HealthCheckKind, dns: Option<&str>, address: Option<&str>, expected: Option<ProbeTarget>| {
            let hc = HealthCheck { kind, timeout: Duration::from_secs(5) };
            assert_eq!(hc.target_for(dns, address), expected);
        };
        let http = |url: &str| HealthCheckKind::Http { url: url.into(), expect_status: 200 };
        check(
            http("https://{dns_name}/health"),
            Some("ale.example.com"),
            None,
            Some(ProbeTarget::Http { url: "https://ale.example.com/health".into(), expect_status: 200 }),
        );
        check(http("http://{address}:8080/"), Some("ale.example.com"), None, None);
        check(
            HealthCheckKind::Tcp { host: "{address}".into(), port: 22 },
            None,
            Some("198.51.100.1"),
            Some(ProbeTarget::Tcp { host: "198.51.100.1".into(), port: 22 }),
        );
        check(
            http("http://status.example.com/"),
            None,
            None,
            Some(ProbeTarget::Http { url: "http://status.example.com/".into(), expect_status: 200 }),
        );
    }

    #[test]
    fn spellings_round_trip() {
        for code in EventCode::ALL {
            assert_eq!(EventCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(CheckStatus::parse("insufficient-data"), Some(CheckStatus::InsufficientData));
        assert_eq!(CheckStatus::parse("fine"), None);
    }
}
