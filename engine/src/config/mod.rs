//! Layered configuration: `DIR/global.ron`, then `DIR/platforms/<platform>.ron`, then
//! `DIR/servers/<name>.ron` (the seed's global settings, platform settings and server
//! settings, included in that order).
//!
//! Every file is a RON struct whose fields are all optional:
//!
//! ```ron
//! (
//!     region: "us-east-1",
//!     zone: "a",
//!     instance_type: "m5.large",
//!     ami_type: "web-server",
//!     architecture: "x86_64",        // x86_64 | i386 | arm64
//!     ebs_size_gb: 20,               // optional default for create-server
//!     auto_scale_capacity: 1,        // 1: auto scaling group of one; 0: none
//!     persist: ["/etc", "/var/www"],
//!     dns_name: "ommegang.example.com",
//!     tags: {"team": "web"},
//!     spawn: r#"apt-get install -y figlet"#,
//!     launch: Template,              // or Configuration (old accounts)
//!     instance_profile: "cellar-agent",   // required for every server: its agent's role
//!     security_groups: ["web"],      // names (resolved in the VPC) or sg- ids
//!     vpc: "vpc-0123abcd",           // or subnets: {"a": "subnet-...", ...}; neither: the default VPC
//!     key_name: "ops",
//!     metadata: (http_tokens: Required, hop_limit: 2),
//!     ebs: (type: gp3, iops: 3000, throughput: 125, encrypted: true, kms_key: "alias/ebs"),
//!     root_volume_gb: 16,
//!     volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/etc"])],
//!     health_check: (http: "https://{dns_name}/health", expect_status: 200, timeout_secs: 5),
//!                                    // or (tcp: "{address}:22", timeout_secs: 3)
//!     notify: (webhooks: [(url: "https://hooks.example.com/cellar", body: Json)],   // or Slack
//!              commands: [["/usr/local/bin/page-oncall", "--team", "web"]],
//!              remind_every_mins: 60),   // 0: never remind
//!     backups: (daily_at: "03:00", keep_daily: 8, keep_weekly: 4, keep_monthly: 3,
//!               copy_to: ["us-west-2"]),   // or Off; without it: these defaults, no copies
//! )
//! ```
//!
//! The launch settings (from `instance_profile` to `root_volume_gb`) are described in
//! `launch.rs`, `volumes` in `volumes.rs`, and `health_check` and `notify` (what `cellar
//! watch` probes and whom it tells; not launch settings, so no plan records them) in
//! `watch.rs`, and `backups` (the data volumes' daily snapshots and their retention; not a
//! launch setting either) in `backups.rs`.
//!
//! A server file also names its platform (`platform: "debian-web"`). Later layers
//! override earlier ones field by field, tags merge key by key, and every effective
//! value remembers the file and line:column it came from ([`Source`]).
//!
//! [`ConfigTree::load`] parses global.ron and the platform files of a directory and lists
//! its server files; [`ConfigTree::server`] reads, merges and validates one server (a
//! command is refused for the problems of the files it uses, and never reads the others);
//! [`check`] (`cellar check`) reads and validates everything and reports every problem.

mod backups;
#[cfg(test)]
mod backups_tests;
mod defaults;
#[cfg(test)]
mod field_checks;
#[cfg(test)]
mod files_tests;
#[cfg(test)]
mod hooks_tests;
mod launch;
mod launch_checks;
#[cfg(test)]
mod launch_tests;
mod layer;
mod listing;
#[cfg(test)]
mod reading_tests;
mod scan;
mod settings;
#[cfg(test)]
mod tests;
mod validate;
mod volumes;
#[cfg(test)]
mod volumes_tests;
mod watch;
#[cfg(test)]
mod watch_tests;

use crate::model::{AmiType, Architecture, InstanceType, Region, ServerName, Zone};
pub use defaults::Defaults;
pub use launch::{EbsConfig, LaunchConfig};
use layer::{FileKind, Layer};
use listing::{Parsed, ServerFile};
use serde::{Deserialize, Serialize};
pub use settings::{settings_of, Setting};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
pub use volumes::{agent_volumes, VolumeConfig};

/// Where a value came from: a file and a 1-based line and column. Defaults come from
/// the file `(default)` at line 0, column 0.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Source {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

/// The file name of the source of a default value.
pub const DEFAULT_SOURCE: &str = "(default)";

impl Source {
    /// The source of a value no file gives.
    pub fn default_value() -> Self {
        Source { file: PathBuf::from(DEFAULT_SOURCE), line: 0, column: 0 }
    }
    /// Whether this is [`Source::default_value`].
    pub fn is_default(&self) -> bool {
        self.line == 0 && self.file.as_os_str() == DEFAULT_SOURCE
    }
    /// A whole file (no position), e.g. a server file that does not exist.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Source { file: file.into(), line: 0, column: 0 }
    }
}

/// `file:line:column`, or just `file` when there is no position (line 0, as for defaults).
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }
    /// The same value transformed, from the same place.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced { value: f(self.value), source: self.source }
    }

    /// A value no file gives.
    pub fn default_value(value: T) -> Self {
        Sourced { value, source: Source::default_value() }
    }
}

/// How an auto scaling group launches instances. Launch templates are the default;
/// launch configurations are deprecated by AWS and only for old accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum LaunchKind {
    #[default]
    Template,
    Configuration,
}

impl LaunchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchKind::Template => "Template",
            LaunchKind::Configuration => "Configuration",
        }
    }
}

impl fmt::Display for LaunchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The effective configuration of one server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    /// From the file name `servers/<name>.ron`.
    pub name: ServerName,
    /// The server file.
    pub file: PathBuf,
    pub platform: Sourced<String>,
    pub region: Sourced<Region>,
    pub zone: Sourced<char>,
    pub instance_type: Sourced<InstanceType>,
    pub ami_type: Sourced<AmiType>,
    pub architecture: Sourced<Architecture>,
    pub ebs_size_gb: Option<Sourced<u32>>,
    pub auto_scale_capacity: Sourced<u32>,
    pub persist: Sourced<Vec<String>>,
    pub dns_name: Option<Sourced<String>>,
    pub tags: BTreeMap<String, Sourced<String>>,
    pub spawn: Option<Sourced<String>>,
    pub launch: Sourced<LaunchKind>,
    /// Instance profile, network, key pair, metadata options, EBS settings, root volume.
    pub launch_settings: LaunchConfig,
    /// The data volumes, the first one first (sourced at `volumes`; the default source:
    /// the field is not set, and the one volume is `/dev/sdf` at `/data` with `persist`).
    pub volumes: Sourced<Vec<VolumeConfig>>,
    /// The outside probe `cellar watch` sends (`health_check`); `None`: EC2's status checks only.
    pub health_check: Option<Sourced<crate::monitoring::HealthCheck>>,
    /// Where `cellar watch` sends the server's incidents besides its output (`notify`).
    pub notify: Option<Sourced<crate::monitoring::Notify>>,
    /// When its data volumes are backed up and how long backups are kept (`backups`):
    /// the defaults (with the default source) when no layer sets it, `None` for
    /// `backups: Off` (sourced where it is written). Every server is backed up unless
    /// its configuration says `Off`.
    pub backups: Sourced<Option<crate::backup::BackupPolicy>>,
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A RON raw string `r#"..."#` with enough `#` that the text cannot end it.
fn raw_string(s: &str) -> String {
    let mut hashes = "#".to_string();
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{s}\"{hashes}")
}

impl ServerConfig {
    /// Every effective value with its source, in a fixed field order, for
    /// `cellar config SERVER`: (field name, value rendered as RON-ish text, source).
    /// Each tag is its own entry (`tags.team`); with no tags there is one `tags` entry
    /// `{}`. Absent optional values render as `None` with the default source. The spawn
    /// hook renders as a raw string `r#"..."#` (several lines). `health_check`, `notify`
    /// and `backups` come last, each one line of RON with its defaults written out
    /// (`backups`: or `Off`).
    pub fn entries(&self) -> Vec<(String, String, Source)> {
        let mut out = self.setting_entries();
        watch::entries(&self.health_check, &self.notify, &mut out);
        backups::entry(&self.backups, &mut out);
        out
    }

    /// [`ServerConfig::entries`] but `health_check`, `notify` and `backups`: what a plan
    /// records ([`settings_of`]). Those say how `cellar watch` looks at the server and
    /// when it is backed up, not what the cloud holds, so changing them must not make a
    /// saved plan stale.
    pub(crate) fn setting_entries(&self) -> Vec<(String, String, Source)> {
        fn entry<T>(out: &mut Vec<(String, String, Source)>, name: &str, v: &Sourced<T>, text: String) {
            out.push((name.to_string(), text, v.source.clone()));
        }
        fn optional<T>(
            out: &mut Vec<(String, String, Source)>,
            name: &str,
            v: &Option<Sourced<T>>,
            render: impl Fn(&T) -> String,
        ) {
            match v {
                Some(v) => out.push((name.to_string(), render(&v.value), v.source.clone())),
                None => out.push((name.to_string(), "None".to_string(), Source::default_value())),
            }
        }
        let mut out = Vec::new();
        entry(&mut out, "platform", &self.platform, quote(&self.platform.value));
        entry(&mut out, "region", &self.region, quote(self.region.value.as_str()));
        entry(&mut out, "zone", &self.zone, quote(&self.zone.value.to_string()));
        entry(&mut out, "instance_type", &self.instance_type, quote(self.instance_type.value.as_str()));
        entry(&mut out, "ami_type", &self.ami_type, quote(self.ami_type.value.as_str()));
        entry(&mut out, "architecture", &self.architecture, quote(self.architecture.value.as_str()));
        optional(&mut out, "ebs_size_gb", &self.ebs_size_gb, |v| v.to_string());
        entry(&mut out, "auto_scale_capacity", &self.auto_scale_capacity, self.auto_scale_capacity.value.to_string());
        let persist: Vec<String> = self.persist.value.iter().map(|d| quote(d)).collect();
        entry(&mut out, "persist", &self.persist, format!("[{}]", persist.join(", ")));
        optional(&mut out, "dns_name", &self.dns_name, |v| quote(v));
        if self.tags.is_empty() {
            out.push(("tags".to_string(), "{}".to_string(), Source::default_value()));
        }
        for (key, value) in &self.tags {
            out.push((format!("tags.{key}"), quote(&value.value), value.source.clone()));
        }
        optional(&mut out, "spawn", &self.spawn, |v| raw_string(v));
        entry(&mut out, "launch", &self.launch, self.launch.value.to_string());
        self.launch_settings.entries(&mut out);
        volumes::entries(!self.volumes.source.is_default(), &self.volumes.value, &mut out);
        out
    }

    /// The server's availability zone (`us-east-1b`).
    pub fn zone_name(&self) -> Zone {
        Zone::in_region(&self.region.value, self.zone.value)
    }

    /// The extra tags as plain key/value pairs.
    pub fn tag_values(&self) -> crate::model::Tags {
        self.tags.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect()
    }
}

/// One problem in the configuration, at the offending value or field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Problem {
    pub source: Source,
    pub message: String,
    pub fix: Option<String>,
}

/// `file:line:column: message`, then `\n  fix: ...` when there is a fix.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// Every problem found, sorted by file, line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A syntax error a [`HookChecker`] found, at a 1-based line of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSyntaxError {
    pub line: u32,
    pub message: String,
}

/// Syntax checker for spawn hooks. The CLI implements it by running `bash -n`.
pub trait HookChecker {
    fn check(&self, script: &str) -> Result<(), Vec<HookSyntaxError>>;
}

/// A [`HookChecker`] that checks each distinct script once (a platform's hook is in the
/// chain of every server on the platform; `bash -n` is a process per call).
struct OncePerScript<'a> {
    inner: &'a dyn HookChecker,
    seen: std::cell::RefCell<std::collections::HashMap<String, Result<(), Vec<HookSyntaxError>>>>,
}

impl<'a> OncePerScript<'a> {
    fn new(inner: &'a dyn HookChecker) -> Self {
        OncePerScript { inner, seen: Default::default() }
    }
}

impl HookChecker for OncePerScript<'_> {
    fn check(&self, script: &str) -> Result<(), Vec<HookSyntaxError>> {
        if let Some(result) = self.seen.borrow().get(script) {
            return result.clone();
        }
        let result = self.inner.check(script);
        self.seen.borrow_mut().insert(script.to_string(), result.clone());
        result
    }
}

/// Sorts by file, line, column and drops duplicates.
fn finish(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort();
    problems.dedup();
    problems
}

/// One configuration directory: global.ron and the platform files parsed, the server
/// files listed, each read and parsed on first use.
///
/// A command is refused for the problems of the files it uses (its servers' files, their
/// platforms' files, global.ron), with the same messages `cellar check` gives for them;
/// the other server files are not read, so a mistake in one server's file never blocks a
/// command about another. [`check`] reads and validates every file.
#[derive(Clone, Debug)]
pub struct ConfigTree {
    dir: PathBuf,
    /// `None` when there is no `global.ron`.
    global: Option<Layer>,
    platforms: BTreeMap<String, Layer>,
    servers: BTreeMap<ServerName, ServerFile>,
    /// Server files whose name is not a valid server name (only `cellar check` reads them).
    misnamed: Vec<ServerFile>,
    /// Problems found while listing the directory and parsing global.ron and the platforms.
    problems: Vec<Problem>,
    /// A subdirectory (`platforms`, `servers`) that cannot be listed: no command runs.
    unlisted: Vec<Problem>,
    /// Each server's effective configuration, worked out on first use of that server (the
    /// tree is immutable once built, planning asks for the same server more than once, and
    /// a command about one server of many must not pay for the others). Hashed: a fleet
    /// plan looks up every server, and a look-up in a tree of 10,000 names compares
    /// about 14 of them out of cold memory.
    resolved: HashMap<ServerName, Resolved>,
}

/// A server's configuration, settings and extra tags, as the tree keeps them
/// ([`ConfigTree::planned`]).
#[derive(Clone, Copy, Debug)]
pub struct Planned<'a> {
    pub config: &'a ServerConfig,
    pub settings: &'a Arc<[Setting]>,
    pub tags: &'a Arc<crate::model::Tags>,
}

/// A server's effective configuration and its settings as a plan records them, each
/// worked out on first use (`cellar status` needs no settings).
#[derive(Clone, Debug, Default)]
struct Resolved {
    /// Boxed: a configuration is a few kilobytes, reserved for every listed server.
    config: OnceLock<Box<Result<ServerConfig, ConfigErrors>>>,
    settings: OnceLock<Arc<[Setting]>>,
    /// The extra tags ([`ServerConfig::tag_values`]), shared by the plans that record them.
    tags: OnceLock<Arc<crate::model::Tags>>,
}

const GLOBAL_FILE: &str = "global.ron";
const PLATFORMS_DIR: &str = "platforms";
const SERVERS_DIR: &str = "servers";

impl ConfigTree {
    /// Reads global.ron and the platform files of DIR and lists its server files. `Err`
    /// when DIR or one of its subdirectories cannot be read; the problems of the files are
    /// those of the servers that use them ([`ConfigTree::server`]) and [`check`]'s.
    pub fn load(dir: &Path) -> Result<ConfigTree, ConfigErrors> {
        let tree = Self::read(dir)?;
        if tree.unlisted.is_empty() {
            Ok(tree)
        } else {
            Err(ConfigErrors(finish(tree.unlisted)))
        }
    }

    /// Reads DIR's global and platform files, lists its server files, and keeps the
    /// problems in the tree; `Err` only when DIR cannot be read at all.
    fn read(dir: &Path) -> Result<ConfigTree, ConfigErrors> {
        if !dir.is_dir() {
            return Err(ConfigErrors(vec![Problem {
                source: Source::file(dir),
                message: "configuration directory not found".into(),
                fix: Some(format!(
                    "create {} (and {}/<platform>.ron, {}/<name>.ron)",
                    dir.join(GLOBAL_FILE).display(),
                    dir.join(PLATFORMS_DIR).display(),
                    dir.join(SERVERS_DIR).display()
                )),
            }]));
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        let mut read = |rel: PathBuf| {
            let path = dir.join(&rel);
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((rel, text)),
                Err(e) => problems.push(listing::unreadable(&path, &e)),
            }
        };
        // `symlink_metadata`: a dangling global.ron link is reported, not taken for absent.
        if std::fs::symlink_metadata(dir.join(GLOBAL_FILE)).is_ok() {
            read(PathBuf::from(GLOBAL_FILE));
        }
        let mut unlisted = Vec::new();
        let mut listed = |sub: &str| {
            listing::ron_entries(&dir.join(sub)).unwrap_or_else(|p| {
                unlisted.push(p);
                None
            })
        };
        let platforms = listed(PLATFORMS_DIR);
        let servers = listed(SERVERS_DIR);
        for name in platforms.unwrap_or_default() {
            read(Path::new(PLATFORMS_DIR).join(name));
        }
        let mut tree = Self::from_files(dir, files);
        tree.problems.extend(problems);
        tree.unlisted = unlisted;
        for name in servers.unwrap_or_default() {
            let path = dir.join(SERVERS_DIR).join(&name);
            let stem = Path::new(&name).file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            tree.add_server(ServerFile::on_disk(path, stem));
        }
        Ok(tree)
    }

    /// Builds a tree from (path relative to DIR, text) pairs: `global.ron`,
    /// `platforms/<platform>.ron`, `servers/<name>.ron`; other paths are ignored. Server
    /// files are parsed on first use, as [`ConfigTree::load`]'s.
    pub(crate) fn from_files<P: AsRef<Path>, T: AsRef<str>>(
        dir: &Path,
        files: impl IntoIterator<Item = (P, T)>,
    ) -> ConfigTree {
        let mut tree = ConfigTree {
            dir: dir.to_path_buf(),
            global: None,
            platforms: BTreeMap::new(),
            servers: BTreeMap::new(),
            misnamed: Vec::new(),
            problems: Vec::new(),
            unlisted: Vec::new(),
            resolved: HashMap::new(),
        };
        for (rel, text) in files {
            let rel = rel.as_ref();
            let file = dir.join(rel);
            let parent = rel.parent().and_then(|p| p.to_str()).unwrap_or("");
            let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            if rel.extension() != Some(std::ffi::OsStr::new("ron")) {
                continue;
            }
            let kind = match parent {
                "" if stem == "global" => FileKind::Global,
                PLATFORMS_DIR => FileKind::Platform(stem.clone()),
                SERVERS_DIR => {
                    tree.add_server(ServerFile::in_memory(file, stem, text.as_ref().to_string()));
                    continue;
                }
                _ => continue,
            };
            let (layer, problems) = layer::parse(file.clone(), kind.clone(), text.as_ref());
            tree.problems.extend(problems);
            match kind {
                FileKind::Global => tree.global = Some(layer),
                FileKind::Platform(name) => {
                    tree.platforms.insert(name, layer);
                }
                FileKind::Server(_) => unreachable!("server files are added above"),
            }
        }
        tree
    }

    /// A listed server file: a server when its name is a valid server name, else a
    /// misnamed file (a problem, known from the listing alone).
    fn add_server(&mut self, file: ServerFile) {
        let stem = file.stem.as_str();
        match ServerName::parse(stem) {
            Ok(server) => {
                self.resolved.insert(server.clone(), Resolved::default());
                self.servers.insert(server, file);
            }
            Err(e) => {
                let lower = stem.to_ascii_lowercase().replace(['_', ' ', '.'], "-");
                let fix = ServerName::parse(&lower)
                    .ok()
                    .map(|n| format!("rename it to {}", self.dir.join(SERVERS_DIR).join(format!("{n}.ron")).display()));
                self.problems.push(Problem {
                    source: Source { file: file.path.clone(), line: 1, column: 1 },
                    message: format!("the file name is not a valid server name: {e}"),
                    fix,
                });
                self.misnamed.push(file);
            }
        }
    }

    /// The server files that no command but [`check`] reads, because their name is not a
    /// valid server name (known from the listing alone; the CLI warns about them, as a
    /// server the operator meant to have would otherwise be missing from `all` silently).
    pub fn misnamed_files(&self) -> Vec<Problem> {
        let misnamed: Vec<&Path> = self.misnamed.iter().map(|f| f.path.as_path()).collect();
        self.problems.iter().filter(|p| misnamed.contains(&p.source.file.as_path())).cloned().collect()
    }

    /// The configuration directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The servers that have a file, sorted.
    pub fn server_names(&self) -> Vec<ServerName> {
        self.servers.keys().cloned().collect()
    }

    /// The server files read so far (tests: what a command reads).
    #[cfg(test)]
    fn parsed_servers(&self) -> Vec<&str> {
        let servers = self.servers.iter().filter(|(_, f)| f.is_parsed()).map(|(n, _)| n.as_str());
        servers.chain(self.misnamed.iter().filter(|f| f.is_parsed()).map(|f| f.stem.as_str())).collect()
    }

    /// Whether `name` has a server file (read or not).
    pub fn has_server(&self, name: &ServerName) -> bool {
        self.servers.contains_key(name)
    }

    /// The platform a server's own file names (unresolved: the platform may not exist);
    /// `Ok(None)` when it names none. Reads the server's file. Errors: an unknown server,
    /// or a file that cannot be read or parsed far enough to tell (its problems).
    pub fn platform_of(&self, server: &ServerName) -> Result<Option<&str>, ConfigErrors> {
        let parsed = self.parsed(server)?;
        match &parsed.layer {
            Some(layer) if !layer.broken && !layer.failed.contains("platform") => {
                Ok(layer.platform.as_ref().map(|p| p.value.as_str()))
            }
            _ => Err(ConfigErrors(finish(parsed.problems.clone()))),
        }
    }

    /// A server's effective tags (global.ron's, its platform's, its own, merged key by
    /// key), from its files alone: what `tag:KEY=VALUE` selects by, without validating
    /// the rest. Errors: an unknown server, or the problems that keep the tags from being
    /// known (a file of the chain that cannot be read, or parsed as far as its tags, an
    /// unknown or missing platform).
    pub fn tags_of(&self, server: &ServerName) -> Result<BTreeMap<String, String>, ConfigErrors> {
        let parsed = self.parsed(server)?;
        let Some(layer) = &parsed.layer else { return Err(ConfigErrors(finish(parsed.problems.clone()))) };
        let (chain, resolved, mut problems) = self.chain(layer);
        let unknown = |l: &Layer| l.broken || l.failed.contains("tags");
        if !resolved || chain.iter().any(|l| unknown(l)) {
            for l in chain.iter().filter(|l| unknown(l) || l.file == layer.file) {
                problems.extend(self.parse_problems(l, parsed));
            }
            return Err(ConfigErrors(finish(problems)));
        }
        Ok(chain.iter().flat_map(|l| &l.tags).map(|(k, (v, _))| (k.clone(), v.value.clone())).collect())
    }

    /// The platforms that have a file, sorted.
    pub fn platform_names(&self) -> Vec<String> {
        self.platforms.keys().cloned().collect()
    }

    /// A server's file, read and parsed on first use. Errors: an unknown server.
    fn parsed(&self, name: &ServerName) -> Result<&Parsed, ConfigErrors> {
        Ok(self.servers.get(name).ok_or_else(|| self.unknown_server(name))?.parsed())
    }

    /// The reading and parsing problems of a layer of a server's chain (`server`: the
    /// server file's own, which it keeps).
    fn parse_problems(&self, layer: &Layer, server: &Parsed) -> Vec<Problem> {
        if matches!(layer.kind, FileKind::Server(_)) {
            return server.problems.clone();
        }
        self.problems.iter().filter(|p| p.source.file == layer.file).cloned().collect()
    }

    /// The layers of a server in order, and the problems of resolving its platform.
    fn chain<'a>(&'a self, server: &'a Layer) -> (Vec<&'a Layer>, bool, Vec<Problem>) {
        let (platform, problems) = validate::platform_problems(
            server,
            self.platforms.keys().map(String::as_str),
            &self.dir.join(PLATFORMS_DIR),
        );
        let platform = platform.and_then(|p| self.platforms.get(&p));
        let mut chain: Vec<&Layer> = self.global.iter().collect();
        chain.extend(platform);
        chain.push(server);
        (chain, platform.is_some(), problems)
    }

    /// Problems of one server: its files' reading and parsing, its platform, its layers'
    /// values (without hook checks unless `hooks`), its merged configuration. Returns the
    /// merge when the file was read and the platform resolved.
    fn server_problems(
        &self,
        name: &ServerName,
        parsed: &Parsed,
        hooks: Option<&dyn HookChecker>,
    ) -> (Option<Layer>, Vec<Problem>) {
        let Some(server) = &parsed.layer else { return (None, parsed.problems.clone()) };
        let (chain, resolved, mut problems) = self.chain(server);
        for layer in &chain {
            problems.extend(self.parse_problems(layer, parsed));
            problems.extend(validate::layer_problems(layer, hooks));
        }
        if !resolved {
            return (None, problems);
        }
        let merged = layer::merge(&server.file, server.kind.clone(), &chain);
        problems.extend(validate::merged_problems(name, &chain, &merged));
        (Some(merged), problems)
    }

    /// Every problem of the tree: every file read and parsed, every file's values, every
    /// server. Each distinct spawn hook is given to `hooks` once, however many servers
    /// share it.
    fn all_problems(&self, hooks: Option<&dyn HookChecker>) -> Vec<Problem> {
        let once = hooks.map(OncePerScript::new);
        let hooks = once.as_ref().map(|h| h as &dyn HookChecker);
        let mut problems = self.problems.clone();
        problems.extend(self.unlisted.iter().cloned());
        for layer in self.global.iter().chain(self.platforms.values()) {
            problems.extend(validate::layer_problems(layer, hooks));
        }
        for file in &self.misnamed {
            let parsed = file.parsed();
            problems.extend(parsed.problems.iter().cloned());
            if let Some(layer) = &parsed.layer {
                problems.extend(self.chain(layer).2);
                problems.extend(validate::layer_problems(layer, hooks));
            }
        }
        for (name, file) in &self.servers {
            // Layer problems of the chain were added above or are added here; `finish` dedups.
            problems.extend(self.server_problems(name, file.parsed(), hooks).1);
        }
        finish(problems)
    }

    /// The effective configuration of one server. Errors: unknown server, a server file
    /// that cannot be read or parsed, unknown or missing platform, a problem in global.ron
    /// or the platform's file, missing required field, invalid value (spawn hooks are not
    /// syntax-checked here; [`check`] does that).
    pub fn server(&self, name: &ServerName) -> Result<ServerConfig, ConfigErrors> {
        self.server_ref(name).cloned()
    }

    /// [`ConfigTree::server`] without the copy: the tree keeps each server's
    /// configuration once worked out (planning a fleet asks for every server twice).
    pub fn server_ref(&self, name: &ServerName) -> Result<&ServerConfig, ConfigErrors> {
        self.resolved(name).map(|(config, _)| config)
    }

    /// The settings of one server as a plan records them ([`settings_of`]), worked out
    /// once per tree and shared by the plans that record them. Errors: those of
    /// [`ConfigTree::server`].
    pub fn settings(&self, name: &ServerName) -> Result<&Arc<[Setting]>, ConfigErrors> {
        let (config, resolved) = self.resolved(name)?;
        Ok(resolved.settings.get_or_init(|| settings_of(config, &self.dir).into()))
    }

    /// The extra tags of one server ([`ServerConfig::tag_values`]), worked out once per
    /// tree and shared by the plans that record them. Errors: those of
    /// [`ConfigTree::server`].
    pub fn tag_values(&self, name: &ServerName) -> Result<&Arc<crate::model::Tags>, ConfigErrors> {
        let (config, resolved) = self.resolved(name)?;
        Ok(resolved.tags.get_or_init(|| Arc::new(config.tag_values())))
    }

    /// [`ConfigTree::server_ref`], [`ConfigTree::settings`] and [`ConfigTree::tag_values`]
    /// in one look-up (what a plan for one server records of it).
    pub fn planned(&self, name: &ServerName) -> Result<Planned<'_>, ConfigErrors> {
        let (config, resolved) = self.resolved(name)?;
        Ok(Planned {
            config,
            settings: resolved.settings.get_or_init(|| settings_of(config, &self.dir).into()),
            tags: resolved.tags.get_or_init(|| Arc::new(config.tag_values())),
        })
    }

    /// Drops what was worked out for `names` (configuration, settings, tags): a command
    /// that goes through a big fleet a batch at a time (`cellar status`) holds one batch's,
    /// not every server's. Asked again, they are worked out again.
    pub fn forget(&mut self, names: &[ServerName]) {
        for name in names {
            if let Some(resolved) = self.resolved.get_mut(name) {
                *resolved = Resolved::default();
            }
        }
    }

    fn resolved(&self, name: &ServerName) -> Result<(&ServerConfig, &Resolved), ConfigErrors> {
        let resolved = self.resolved.get(name).ok_or_else(|| self.unknown_server(name))?;
        let config = resolved
            .config
            .get_or_init(|| Box::new(self.resolve_server(name)))
            .as_ref()
            .as_ref()
            .map_err(Clone::clone)?;
        Ok((config, resolved))
    }

    /// An unknown server, the known ones (the first ten of many) and how to add it.
    fn unknown_server(&self, name: &ServerName) -> ConfigErrors {
        let path = self.dir.join(SERVERS_DIR).join(format!("{name}.ron"));
        let mut known: Vec<&str> = self.servers.keys().take(10).map(|s| s.as_str()).collect();
        let more = self.servers.len().saturating_sub(known.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        if known.is_empty() {
            known.push("none");
        }
        ConfigErrors(vec![Problem {
            source: Source::file(&path),
            message: format!("unknown server {name} (known servers: {}{more})", known.join(", ")),
            fix: Some(format!("add {} with at least `platform: \"<platform>\"`", path.display())),
        }])
    }

    fn resolve_server(&self, name: &ServerName) -> Result<ServerConfig, ConfigErrors> {
        let (merged, problems) = self.server_problems(name, self.parsed(name)?, None);
        match merged {
            Some(m) if problems.is_empty() => Ok(build(name, m)),
            _ => Err(ConfigErrors(finish(problems))),
        }
    }
}

/// The typed configuration of a merged, validated layer.
fn build(name: &ServerName, m: Layer) -> ServerConfig {
    let ebs_size_gb = m.ebs_size_gb.clone().map(|v| Sourced { value: v.value as u32, source: v.source });
    let persist = m
        .persist
        .clone()
        .map(|p| Sourced { value: p.value.into_iter().map(|e| e.value).collect(), source: p.source })
        .unwrap_or_else(|| Sourced::default_value(Vec::new()));
    let volumes = Sourced {
        value: volumes::build(&m, &ebs_size_gb, &persist),
        source: m.volumes.as_ref().map_or_else(Source::default_value, |v| v.source.clone()),
    };
    let (health_check, notify) = (watch::build_health_check(&m), watch::build_notify(&m));
    let backups = backups::build(&m);
    fn req<T, U>(v: Option<Sourced<T>>, f: impl FnOnce(T) -> U) -> Sourced<U> {
        let v = v.expect("validated: required fields are present");
        Sourced { value: f(v.value), source: v.source }
    }
    ServerConfig {
        name: name.clone(),
        file: m.file.clone(),
        platform: req(m.platform, |p| p),
        region: req(m.region, Region::new),
        zone: req(m.zone, |z| validate::zone_letter(&z).expect("validated zone letter")),
        instance_type: req(m.instance_type, InstanceType::new),
        ami_type: req(m.ami_type, AmiType::new),
        architecture: req(m.architecture, |a| Architecture::parse(&a).expect("validated architecture")),
        ebs_size_gb,
        auto_scale_capacity: m
            .auto_scale_capacity
            .map(|v| Sourced { value: v.value as u32, source: v.source })
            .unwrap_or_else(|| Sourced::default_value(1)),
        persist,
        dns_name: m.dns_name,
        tags: m.tags.into_iter().map(|(k, (v, _))| (k, v)).collect(),
        spawn: m.spawn,
        launch: m.launch.unwrap_or_else(|| Sourced::default_value(LaunchKind::Template)),
        launch_settings: launch::build(&m.settings),
        volumes,
        health_check,
        notify,
        backups,
    }
}

/// `cellar check`: validates the whole tree and returns every problem, sorted by file,
/// line and column. Empty means the configuration is fine.
pub fn check(dir: &Path, hooks: &dyn HookChecker) -> Vec<Problem> {
    match ConfigTree::read(dir) {
        Ok(tree) => tree.all_problems(Some(hooks)),
        Err(errors) => errors.0,
    }
}
