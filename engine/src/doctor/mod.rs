//! `cellar doctor`: before the first plan against an account, is everything there that
//! cellar will need? For every configured server: the credentials (whose account), the
//! server's region and zone, an image of its AMI type and architecture, the reads cellar
//! makes, and the permissions of the changing calls (EC2's `DryRun`; Auto Scaling has none).
//!
//! Two halves, as inventory and planner are: [`read`] asks the cloud (through a
//! [`crate::caller::Caller`], so throttling is retried and credentials errors are not), and
//! [`assess`] decides, purely, what the answers mean. Every [`Finding`] names its server,
//! the setting and the file:line its value came from, and the fix.
//!
//! The launch settings' network (security groups, subnets or VPC, key pair) is described
//! once per region into a [`NetworkReading`] and resolved per server with the planner's own
//! `network::resolve_network`; the dry runs carry the settings the planner would send
//! (`planner::launch_settings`), so AWS checks the instance profile's `iam:PassRole`, the
//! groups and the subnet as the first apply will.

mod assess;
mod read;
#[cfg(test)]
mod tests;

pub use assess::{assess, dry_runs_for, NOT_TRIED};
pub use read::read;

use crate::api::Api;
use crate::cloud::{CallerIdentity, CloudError, DryRunAnswer};
use crate::config::{ConfigErrors, ServerConfig, Source};
use crate::model::{Image, RegionInfo, ServerName};
use std::fmt;

/// How much a finding matters. `cellar doctor` exits 1 when any is an `Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Ok,
    /// Something the doctor could not check, and says so.
    Note,
    /// Possibly a problem: the answer did not settle it.
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a finding is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Credentials,
    /// The server's configuration files.
    Config,
    Region,
    Zone,
    Image,
    /// The describe calls cellar makes before every plan, together.
    Reads,
    /// A describe call cellar makes before every plan.
    Read(Api),
    /// The changing calls tried with DryRun, together.
    Permissions,
    /// A changing call, tried with DryRun.
    Permission(Api),
    /// Calls the doctor cannot try (Auto Scaling has no DryRun, ...).
    NotTried,
    /// The launch settings' network: VPC, subnet of the zone, security groups, key pair.
    Network,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Credentials => f.write_str("credentials"),
            Subject::Config => f.write_str("configuration"),
            Subject::Region => f.write_str("region"),
            Subject::Zone => f.write_str("zone"),
            Subject::Image => f.write_str("image"),
            Subject::Reads => f.write_str("reads"),
            Subject::Permissions => f.write_str("permissions"),
            Subject::Read(api) | Subject::Permission(api) => {
                f.write_str(api.iam_action().as_deref().unwrap_or(api.name()))
            }
            Subject::NotTried => f.write_str("not tried"),
            Subject::Network => f.write_str("network"),
        }
    }
}

/// A configuration setting a finding is about: its field name and where its value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub field: &'static str,
    pub source: Source,
}

/// One thing the doctor found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// `None` for what concerns the account or every server (the credentials).
    pub server: Option<ServerName>,
    pub subject: Subject,
    pub setting: Option<Setting>,
    pub message: String,
    pub fix: Option<String>,
}

/// `error  duvel: zone (zone at fixtures/config/servers/duvel.ron:4:11): ...`, then `fix: ...`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} ", self.severity.as_str())?;
        if let Some(server) = &self.server {
            write!(f, "{server}: ")?;
        }
        write!(f, "{}", self.subject)?;
        if let Some(setting) = &self.setting {
            write!(f, " ({} at {})", setting.field, setting.source)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n        fix: {fix}")?;
        }
        Ok(())
    }
}

/// What [`read`] found out, for [`assess`].
#[derive(Clone, Debug)]
pub struct Reading {
    /// `Ok(None)`: the backend has no credentials to check (the simulator).
    pub identity: Result<Option<CallerIdentity>, CloudError>,
    /// `None` when the credentials failed, so nothing else was asked.
    pub regions: Option<Result<Vec<RegionInfo>, CloudError>>,
    pub servers: Vec<ServerReading>,
}

/// What was read for one server.
#[derive(Clone, Debug)]
pub struct ServerReading {
    pub name: ServerName,
    pub config: Result<ServerConfig, ConfigErrors>,
    /// The images of the server's region (`None`: not read).
    pub images: Option<Result<Vec<Image>, CloudError>>,
    /// Each describe cellar makes for the server, and its answer.
    pub reads: Vec<(Api, Result<(), CloudError>)>,
    /// Each changing call tried with DryRun, and its answer.
    pub dry_runs: Vec<(Api, Result<DryRunAnswer, CloudError>)>,
    /// What `read::network` described of the server's network (`None`: nothing read).
    pub network: Option<NetworkReading>,
}

/// The network of a server's region (VPCs, subnets, security groups, key pairs), as
/// described once per region and shared by its servers; the read's error is kept, as
/// `ServerReading::reads` are, so `assess` can tell "not allowed" from "not found".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkReading {
    pub network: std::sync::Arc<Result<crate::network::Network, CloudError>>,
}

/// Every finding, and whether any is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// `2 errors, 1 warning, 3 notes, 12 ok`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
        format!(
            "{}, {}, {}, {} ok",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            plural(self.count(Severity::Note), "note"),
            self.count(Severity::Ok)
        )
    }
}
