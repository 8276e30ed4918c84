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
//! )
//! ```
//!
//! The launch settings (from `instance_profile` on) are described in `launch.rs`.
//!
//! A server file also names its platform (`platform: "debian-web"`). Later layers
//! override earlier ones field by field, tags merge key by key, and every effective
//! value remembers the file and line:column it came from ([`Source`]).
//!
//! [`ConfigTree::load`] parses a directory; [`ConfigTree::server`] merges and validates
//! one server; [`check`] (`cellar check`) validates everything and reports every problem.

#[cfg(test)]
mod files_tests;
#[cfg(test)]
mod hooks_tests;
mod launch;
mod launch_checks;
#[cfg(test)]
mod launch_tests;
mod layer;
mod scan;
mod settings;
#[cfg(test)]
mod tests;
mod validate;
mod volumes;
#[cfg(test)]
mod volumes_tests;

use crate::model::{AmiType, Architecture, InstanceType, Region, ServerName, Zone};
pub use launch::{EbsConfig, LaunchConfig};
use layer::{FileKind, Layer};
use serde::{Deserialize, Serialize};
pub use settings::{settings_of, Setting};
use std::collections::BTreeMap;
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
    /// hook renders as a raw string `r#"..."#` (several lines).
    pub fn entries(&self) -> Vec<(String, String, Source)> {
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

/// The parsed files of one configuration directory.
#[derive(Clone, Debug)]
pub struct ConfigTree {
    dir: PathBuf,
    /// `None` when there is no `global.ron`.
    global: Option<Layer>,
    platforms: BTreeMap<String, Layer>,
    servers: BTreeMap<ServerName, Layer>,
    /// Server files whose name is not a valid server name (still checked for `cellar check`).
    misnamed: Vec<Layer>,
    /// Problems found while reading and parsing the files.
    problems: Vec<Problem>,
    /// Each server's effective configuration, worked out on first use of that server (the
    /// tree is immutable once built, planning asks for the same server more than once, and
    /// a command about one server of many must not pay for the others).
    resolved: BTreeMap<ServerName, Resolved>,
}

/// A server's effective configuration and its settings as a plan records them, each
/// worked out on first use (`cellar status` needs no settings).
#[derive(Clone, Debug, Default)]
struct Resolved {
    config: OnceLock<Result<ServerConfig, ConfigErrors>>,
    settings: OnceLock<Arc<[Setting]>>,
}

const GLOBAL_FILE: &str = "global.ron";
const PLATFORMS_DIR: &str = "platforms";
const SERVERS_DIR: &str = "servers";

impl ConfigTree {
    /// Reads and parses DIR. `Err` lists every problem found (not just the first).
    pub fn load(dir: &Path) -> Result<ConfigTree, ConfigErrors> {
        let tree = Self::read(dir)?;
        if tree.problems.is_empty() {
            Ok(tree)
        } else {
            Err(ConfigErrors(finish(tree.problems)))
        }
    }

    /// Reads DIR's files and parses them, keeping the problems in the tree; `Err` only
    /// when DIR cannot be read at all.
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
        let mut dir_problems = Vec::new();
        let mut read = |rel: PathBuf| {
            let path = dir.join(&rel);
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((rel, text)),
                Err(e) => problems.push(unreadable(&path, &e)),
            }
        };
        // `symlink_metadata`: a dangling global.ron link is reported, not taken for absent.
        if std::fs::symlink_metadata(dir.join(GLOBAL_FILE)).is_ok() {
            read(PathBuf::from(GLOBAL_FILE));
        }
        for sub in [PLATFORMS_DIR, SERVERS_DIR] {
            let entries = match std::fs::read_dir(dir.join(sub)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    dir_problems.push(unreadable(&dir.join(sub), &e));
                    continue;
                }
            };
            // Every `*.ron` entry, whatever it is: a dangling link, a link loop or a
            // directory is a problem to report, not a file to skip silently.
            let mut names: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| Path::new(n).extension().is_some_and(|x| x == "ron"))
                .collect();
            names.sort();
            for name in names {
                read(Path::new(sub).join(name));
            }
        }
        let mut tree = Self::from_files(dir, files);
        tree.problems.extend(problems);
        tree.problems.extend(dir_problems);
        Ok(tree)
    }

    /// Builds a tree from (path relative to DIR, text) pairs: `global.ron`,
    /// `platforms/<platform>.ron`, `servers/<name>.ron`; other paths are ignored.
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
            resolved: BTreeMap::new(),
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
                SERVERS_DIR => FileKind::Server(stem.clone()),
                _ => continue,
            };
            let (layer, problems) = layer::parse(file.clone(), kind.clone(), text.as_ref());
            tree.problems.extend(problems);
            match kind {
                FileKind::Global => tree.global = Some(layer),
                FileKind::Platform(name) => {
                    tree.platforms.insert(name, layer);
                }
                FileKind::Server(name) => match ServerName::parse(&name) {
                    Ok(server) => {
                        tree.resolved.insert(server.clone(), Resolved::default());
                        tree.servers.insert(server, layer);
                    }
                    Err(e) => {
                        let lower = name.to_ascii_lowercase().replace(['_', ' ', '.'], "-");
                        let fix = ServerName::parse(&lower).ok().map(|n| {
                            format!("rename it to {}", dir.join(SERVERS_DIR).join(format!("{n}.ron")).display())
                        });
                        tree.problems.push(Problem {
                            source: Source { file, line: 1, column: 1 },
                            message: format!("the file name is not a valid server name: {e}"),
                            fix,
                        });
                        tree.misnamed.push(layer);
                    }
                },
            }
        }
        tree
    }

    /// The configuration directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The servers that have a file, sorted.
    pub fn server_names(&self) -> Vec<ServerName> {
        self.servers.keys().cloned().collect()
    }

    /// The platform a server's own file names (unresolved: the platform may not exist).
    pub fn platform_of(&self, server: &ServerName) -> Option<&str> {
        self.servers.get(server)?.platform.as_ref().map(|p| p.value.as_str())
    }

    /// The platforms that have a file, sorted.
    pub fn platform_names(&self) -> Vec<String> {
        self.platforms.keys().cloned().collect()
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

    /// Problems of one server: its platform, its layers' values (without hook checks
    /// unless `hooks`), its merged configuration. Returns the merge when the platform resolved.
    fn server_problems(
        &self,
        name: &ServerName,
        server: &Layer,
        hooks: Option<&dyn HookChecker>,
    ) -> (Option<Layer>, Vec<Problem>) {
        let (chain, resolved, mut problems) = self.chain(server);
        for layer in &chain {
            problems.extend(self.problems.iter().filter(|p| p.source.file == layer.file).cloned());
            problems.extend(validate::layer_problems(layer, hooks));
        }
        if !resolved {
            return (None, problems);
        }
        let merged = layer::merge(&server.file, server.kind.clone(), &chain);
        problems.extend(validate::merged_problems(name, &chain, &merged));
        (Some(merged), problems)
    }

    /// Every problem of the tree: parse problems, every file's values, every server. Each
    /// distinct spawn hook is given to `hooks` once, however many servers share it.
    fn all_problems(&self, hooks: Option<&dyn HookChecker>) -> Vec<Problem> {
        let once = hooks.map(OncePerScript::new);
        let hooks = once.as_ref().map(|h| h as &dyn HookChecker);
        let mut problems = self.problems.clone();
        for layer in self.global.iter().chain(self.platforms.values()) {
            problems.extend(validate::layer_problems(layer, hooks));
        }
        for layer in &self.misnamed {
            problems.extend(self.chain(layer).2);
            problems.extend(validate::layer_problems(layer, hooks));
        }
        for (name, server) in &self.servers {
            // Layer problems of the chain were added above or are added here; `finish` dedups.
            problems.extend(self.server_problems(name, server, hooks).1);
        }
        finish(problems)
    }

    /// The effective configuration of one server. Errors: unknown server, unknown or
    /// missing platform, missing required field, invalid value (spawn hooks are not
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

    fn resolved(&self, name: &ServerName) -> Result<(&ServerConfig, &Resolved), ConfigErrors> {
        let resolved = self.resolved.get(name).ok_or_else(|| self.unknown_server(name))?;
        let config = resolved.config.get_or_init(|| self.resolve_server(name)).as_ref().map_err(Clone::clone)?;
        Ok((config, resolved))
    }

    fn unknown_server(&self, name: &ServerName) -> ConfigErrors {
        let path = self.dir.join(SERVERS_DIR).join(format!("{name}.ron"));
        let known: Vec<String> = self.servers.keys().map(|s| s.to_string()).collect();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        ConfigErrors(vec![Problem {
            source: Source::file(&path),
            message: format!("unknown server {name} (known servers: {known})"),
            fix: Some(format!("add {} with at least `platform: \"<platform>\"`", path.display())),
        }])
    }

    fn resolve_server(&self, name: &ServerName) -> Result<ServerConfig, ConfigErrors> {
        let Some(server) = self.servers.get(name) else {
            return Err(self.unknown_server(name));
        };
        let (merged, problems) = self.server_problems(name, server, None);
        match merged {
            Some(m) if problems.is_empty() => Ok(build(name, m)),
            _ => Err(ConfigErrors(finish(problems))),
        }
    }
}

/// The problem of a configuration file that cannot be read, saying why in words: a
/// dangling symbolic link, a loop of links, a directory, or the system's reason.
fn unreadable(path: &Path, e: &std::io::Error) -> Problem {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let (message, fix) = match e.kind() {
        _ if link && link_loops(path) => (
            "is a symbolic link that leads round in a loop".to_string(),
            Some("point the link at a real file, or remove it".to_string()),
        ),
        std::io::ErrorKind::NotFound if link => {
            let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            (
                format!("is a symbolic link to {target}, which does not exist"),
                Some("point the link at an existing file, or remove it".to_string()),
            )
        }
        std::io::ErrorKind::IsADirectory => (
            "is a directory, not a configuration file".to_string(),
            Some("rename it so it does not end in .ron".to_string()),
        ),
        _ => (format!("cannot read the file: {e}"), None),
    };
    Problem { source: Source::file(path), message, fix }
}

/// Whether following `path`'s symbolic links never reaches a non-link.
fn link_loops(path: &Path) -> bool {
    matches!(crate::files::follow_links(path), Err(crate::files::LinkError::Loop { .. }))
}

/// The global settings alone, for commands that have no server file: create-workspace,
/// and bundle-ami of a workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub region: Sourced<Region>,
    pub zone: Sourced<char>,
    pub ami_type: Sourced<AmiType>,
    pub architecture: Sourced<Architecture>,
    pub tags: BTreeMap<String, Sourced<String>>,
    /// The global layer's launch settings (a workspace launches with them, less the
    /// instance profile: it runs no agent).
    pub launch_settings: LaunchConfig,
}

impl Defaults {
    pub fn tag_values(&self) -> crate::model::Tags {
        self.tags.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect()
    }
}

impl ConfigTree {
    /// The global layer's region, zone, AMI type, architecture and tags. Errors: a missing
    /// global.ron or field, or an invalid value in it.
    pub fn defaults(&self) -> Result<Defaults, ConfigErrors> {
        let path = self.dir.join(GLOBAL_FILE);
        let Some(global) = &self.global else {
            return Err(ConfigErrors(vec![Problem {
                source: Source::file(&path),
                message:
                    "there is no global.ron, and this command takes its region, zone, AMI type and architecture from it"
                        .into(),
                fix: Some(format!("create {} with region, zone, ami_type and architecture", path.display())),
            }]));
        };
        let mut problems: Vec<Problem> =
            self.problems.iter().filter(|p| p.source.file == global.file).cloned().collect();
        problems.extend(validate::layer_problems(global, None));
        let mut missing = |field: &str, present: bool| {
            if !present {
                problems.push(Problem {
                    source: Source { file: path.clone(), line: 1, column: 1 },
                    message: format!("{field} is not set in global.ron, and this command needs it"),
                    fix: Some(format!("add `{field}: {}` to {}", layer::example(field), path.display())),
                });
            }
        };
        missing("region", global.region.is_some());
        missing("zone", global.zone.is_some());
        missing("ami_type", global.ami_type.is_some());
        missing("architecture", global.architecture.is_some());
        if !problems.is_empty() {
            return Err(ConfigErrors(finish(problems)));
        }
        let g = global.clone();
        let req = |v: Option<Sourced<String>>| v.expect("checked above");
        let zone = req(g.zone);
        let architecture = req(g.architecture);
        Ok(Defaults {
            region: req(g.region).map(Region::new),
            zone: Sourced {
                value: validate::zone_letter(&zone.value).expect("validated zone letter"),
                source: zone.source,
            },
            ami_type: req(g.ami_type).map(AmiType::new),
            architecture: Sourced {
                value: Architecture::parse(&architecture.value).expect("validated architecture"),
                source: architecture.source,
            },
            launch_settings: launch::build(&g.settings),
            tags: g.tags.into_iter().map(|(k, (v, _))| (k, v)).collect(),
        })
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
