//! One configuration file parsed into a [`Layer`]: every field it sets, each with the
//! position of its value. Parsing reports syntax and type problems; whether the values
//! make sense is `validate`'s business.

use super::launch::{self, LaunchLayer};
use super::scan::{pos_at, ron_offset, Field, Item, Pos, Scanned};
use super::{LaunchKind, Problem, Source, Sourced};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every field a file may set, in the order `cellar config` shows them.
pub(crate) const FIELDS: &[&str] = &[
    "platform",
    "region",
    "zone",
    "instance_type",
    "ami_type",
    "architecture",
    "ebs_size_gb",
    "auto_scale_capacity",
    "persist",
    "dns_name",
    "tags",
    "spawn",
    "launch",
    "instance_profile",
    "security_groups",
    "vpc",
    "subnets",
    "key_name",
    "metadata",
    "ebs",
    "root_volume_gb",
    "volumes",
    "health_check",
    "notify",
    "backups",
];

/// Fields a server file must end up with after merging.
pub(crate) const REQUIRED: &[&str] = &["region", "zone", "instance_type", "ami_type", "architecture"];

/// What an example value of each field looks like (for "fix:" hints).
pub(crate) fn example(field: &str) -> &'static str {
    match field {
        "platform" => "platform: \"debian-web\"",
        "region" => "region: \"us-east-1\"",
        "zone" => "zone: \"a\"",
        "instance_type" => "instance_type: \"m5.large\"",
        "ami_type" => "ami_type: \"web-server\"",
        "architecture" => "architecture: \"x86_64\"",
        "ebs_size_gb" => "ebs_size_gb: 20",
        "auto_scale_capacity" => "auto_scale_capacity: 1",
        "persist" => "persist: [\"/etc\", \"/var/www\"]",
        "dns_name" => "dns_name: \"ommegang.example.com\"",
        "tags" => "tags: {\"team\": \"web\"}",
        "spawn" => "spawn: r#\"apt-get install -y figlet\"#",
        "launch" => "launch: Template",
        "instance_profile" => "instance_profile: \"cellar-agent\"",
        "security_groups" => "security_groups: [\"web\", \"sg-0123456789abcdef0\"]",
        "vpc" => "vpc: \"vpc-0123456789abcdef0\"",
        "subnets" => "subnets: {\"a\": \"subnet-0123456789abcdef0\"}",
        "key_name" => "key_name: \"ops\"",
        "metadata" => "metadata: (http_tokens: Required, hop_limit: 2)",
        "metadata.http_tokens" => "http_tokens: Required",
        "metadata.hop_limit" => "hop_limit: 2",
        "ebs" => "ebs: (type: gp3, iops: 3000, throughput: 125, encrypted: true)",
        "ebs.type" => "type: gp3",
        "ebs.iops" => "iops: 3000",
        "ebs.throughput" => "throughput: 125",
        "ebs.encrypted" => "encrypted: true",
        "ebs.kms_key" => "kms_key: \"alias/aws/ebs\"",
        "root_volume_gb" => "root_volume_gb: 16",
        "volumes" => "volumes: [(device: \"/dev/sdf\", mount: \"/data\", persist: [\"/etc\"]), (device: \"/dev/sdg\", size_gb: 100, mount: \"/srv/db\", persist: [\"/var/lib/mysql\"])]",
        "volumes.device" => "device: \"/dev/sdg\"",
        "volumes.size_gb" => "size_gb: 100",
        "volumes.mount" => "mount: \"/srv/db\"",
        "volumes.persist" => "persist: [\"/var/lib/mysql\"]",
        "health_check" => "health_check: (http: \"https://{dns_name}/health\", expect_status: 200, timeout_secs: 5)",
        "health_check.http" => "http: \"https://{dns_name}/health\"",
        "health_check.tcp" => "tcp: \"{address}:22\"",
        "health_check.expect_status" => "expect_status: 200",
        "health_check.timeout_secs" => "timeout_secs: 5",
        "notify" => "notify: (webhooks: [(url: \"https://hooks.example.com/cellar\")], commands: [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]], remind_every_mins: 60)",
        "notify.webhooks" => "webhooks: [(url: \"https://hooks.example.com/cellar\"), (url: \"https://hooks.slack.com/services/T0/B0/x\", body: Slack)]",
        "notify.webhooks.url" => "url: \"https://hooks.example.com/cellar\"",
        "notify.webhooks.body" => "body: Slack",
        "notify.commands" => "commands: [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]]",
        "notify.remind_every_mins" => "remind_every_mins: 60",
        "backups" => "backups: (daily_at: \"03:00\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [\"us-west-2\"])",
        "backups.daily_at" => "daily_at: \"03:00\"",
        "backups.keep_daily" => "keep_daily: 8",
        "backups.keep_weekly" => "keep_weekly: 4",
        "backups.keep_monthly" => "keep_monthly: 3",
        "backups.copy_to" => "copy_to: [\"us-west-2\"]",
        _ => "",
    }
}

/// Which layer a file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Global,
    Platform(String),
    Server(String),
}

/// The fields one file sets (or, after [`merge`], the effective fields of a server).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub file: PathBuf,
    pub kind: FileKind,
    /// The file could not be parsed at all: it contributes nothing.
    pub broken: bool,
    /// Fields whose value could not be parsed (so "missing" is not reported for them).
    pub failed: BTreeSet<&'static str>,
    pub platform: Option<Sourced<String>>,
    pub region: Option<Sourced<String>>,
    pub zone: Option<Sourced<String>>,
    pub instance_type: Option<Sourced<String>>,
    pub ami_type: Option<Sourced<String>>,
    pub architecture: Option<Sourced<String>>,
    pub ebs_size_gb: Option<Sourced<i64>>,
    pub auto_scale_capacity: Option<Sourced<i64>>,
    /// The list (sourced at the list) and each entry (sourced at the entry).
    pub persist: Option<Sourced<Vec<Sourced<String>>>>,
    pub dns_name: Option<Sourced<String>>,
    /// Tag key → (value sourced at the key, source of the value itself).
    pub tags: BTreeMap<String, (Sourced<String>, Source)>,
    pub spawn: Option<Sourced<String>>,
    /// Where each line of the spawn hook starts in the file.
    pub spawn_lines: Vec<Source>,
    pub launch: Option<Sourced<LaunchKind>>,
    /// Instance profile, network, key pair, metadata options, EBS settings, root volume.
    pub settings: LaunchLayer,
    /// The data volumes (the list sourced at the list); `None`: one volume, as without it.
    pub volumes: Option<Sourced<Vec<super::volumes::VolumeLayer>>>,
    /// What `cellar watch` probes (sourced at the value). Boxed, as `notify`: most layers
    /// set neither, and a layer is kept for every server file read.
    pub health_check: Option<Box<Sourced<super::watch::HealthCheckLayer>>>,
    /// Whom `cellar watch` tells (sourced at the value).
    pub notify: Option<Box<Sourced<super::watch::NotifyLayer>>>,
    /// When the data volumes are backed up, and for how long (sourced at the value).
    pub backups: Option<Box<Sourced<super::backups::BackupsLayer>>>,
}

impl Layer {
    pub fn empty(file: PathBuf, kind: FileKind) -> Self {
        Layer {
            file,
            kind,
            broken: false,
            failed: BTreeSet::new(),
            platform: None,
            region: None,
            zone: None,
            instance_type: None,
            ami_type: None,
            architecture: None,
            ebs_size_gb: None,
            auto_scale_capacity: None,
            persist: None,
            dns_name: None,
            tags: BTreeMap::new(),
            spawn: None,
            spawn_lines: Vec::new(),
            launch: None,
            settings: LaunchLayer::default(),
            volumes: None,
            health_check: None,
            notify: None,
            backups: None,
        }
    }

    /// Whether the layer sets `field` (tags: any tag).
    pub fn has(&self, field: &str) -> bool {
        match field {
            "platform" => self.platform.is_some(),
            "region" => self.region.is_some(),
            "zone" => self.zone.is_some(),
            "instance_type" => self.instance_type.is_some(),
            "ami_type" => self.ami_type.is_some(),
            "architecture" => self.architecture.is_some(),
            "ebs_size_gb" => self.ebs_size_gb.is_some(),
            "auto_scale_capacity" => self.auto_scale_capacity.is_some(),
            "persist" => self.persist.is_some(),
            "dns_name" => self.dns_name.is_some(),
            "tags" => !self.tags.is_empty(),
            "spawn" => self.spawn.is_some(),
            "launch" => self.launch.is_some(),
            "volumes" => self.volumes.is_some(),
            "health_check" => self.health_check.is_some(),
            "notify" => self.notify.is_some(),
            "backups" => self.backups.is_some(),
            other => self.settings.has(other).unwrap_or(false),
        }
    }
}

/// Later layers override earlier ones field by field; tags merge key by key.
pub(crate) fn merge(file: &Path, kind: FileKind, chain: &[&Layer]) -> Layer {
    let mut out = Layer::empty(file.to_path_buf(), kind);
    for layer in chain {
        macro_rules! over {
            ($($f:ident),*) => {$(
                if layer.$f.is_some() {
                    out.$f = layer.$f.clone();
                }
            )*};
        }
        over!(
            platform,
            region,
            zone,
            instance_type,
            ami_type,
            architecture,
            ebs_size_gb,
            auto_scale_capacity,
            persist,
            dns_name,
            launch,
            volumes,
            health_check,
            notify,
            backups
        );
        if layer.spawn.is_some() {
            out.spawn = layer.spawn.clone();
            out.spawn_lines = layer.spawn_lines.clone();
        }
        for (k, v) in &layer.tags {
            out.tags.insert(k.clone(), v.clone());
        }
        out.settings.merge_from(&layer.settings);
        out.broken |= layer.broken;
        out.failed.extend(layer.failed.iter().copied());
    }
    out
}

pub(super) struct Parser<'a> {
    file: &'a Path,
    pub scanned: &'a Scanned<'a>,
    problems: Vec<Problem>,
}

impl<'a> Parser<'a> {
    pub fn source(&self, pos: Pos) -> Source {
        Source { file: self.file.to_path_buf(), line: pos.line, column: pos.column }
    }

    pub fn problem(&mut self, pos: Pos, message: String, fix: Option<String>) {
        self.problems.push(Problem { source: self.source(pos), message, fix });
    }

    /// Parses one value with `ron`, mapping an error back into the file.
    pub fn value<T: DeserializeOwned>(&mut self, field: &str, item: &Item) -> Option<Sourced<T>> {
        let src = self.scanned.text_of(item);
        match ron::de::from_str::<T>(src) {
            Ok(value) => Some(Sourced { value, source: self.source(item.pos) }),
            Err(e) => {
                // Values are single tokens or lists and maps of them: point at the value.
                let message = match field {
                    "launch" => format!("expected `Template` or `Configuration`, not `{src}`"),
                    "metadata.http_tokens" => format!("expected `Required` or `Optional`, not `{src}`"),
                    "notify.webhooks.body" => format!("expected `Json` or `Slack`, not `{src}`"),
                    "ebs.type" => {
                        let types: Vec<&str> = crate::model::VolumeType::ALL.iter().map(|t| t.as_str()).collect();
                        format!("expected one of {}, not `{src}`", types.join(", "))
                    }
                    _ => e.code.to_string(),
                };
                self.problem(
                    item.pos,
                    format!("invalid value for `{field}`: {message}"),
                    Some(format!("write it like `{}`", example(field))),
                );
                None
            }
        }
    }
}

/// Parses one file. A file holding nothing but comments is an empty layer.
pub(crate) fn parse(file: PathBuf, kind: FileKind, text: &str) -> (Layer, Vec<Problem>) {
    let mut layer = Layer::empty(file.clone(), kind.clone());
    let (scanned, fields) = match structure(&file, text) {
        Ok(Some(parts)) => parts,
        Ok(None) => return (layer, Vec::new()),
        Err(problem) => {
            layer.broken = true;
            return (layer, vec![problem]);
        }
    };
    let mut p = Parser { file: &file, scanned: &scanned, problems: Vec::new() };
    let is_server = matches!(kind, FileKind::Server(_));
    let mut seen = BTreeSet::new();
    for field in &fields {
        let Some(&(name, setter)) = SETTERS.iter().find(|(f, _)| *f == field.name) else {
            unknown_field(&mut p, field, is_server);
            continue;
        };
        if name == "platform" && !is_server {
            p.problem(
                field.name_pos,
                "field `platform` is only allowed in server files".into(),
                Some("name the platform in each servers/<name>.ron instead".into()),
            );
            continue;
        }
        if !seen.insert(name) {
            p.problem(field.name_pos, format!("field `{name}` is given twice"), Some("remove one of them".into()));
            continue;
        }
        if !setter(&mut layer, &mut p, &field.value) {
            layer.failed.insert(name);
        }
    }
    let problems = p.problems;
    (layer, problems)
}

/// The file's top-level struct and its fields; `None` for a file of comments only; the
/// syntax problem otherwise.
fn structure<'t>(file: &Path, text: &'t str) -> Result<Option<(Scanned<'t>, Vec<Field>)>, Problem> {
    let at = |pos: Pos, message: String| Problem {
        source: Source { file: file.to_path_buf(), line: pos.line, column: pos.column },
        message,
        fix: None,
    };
    let scanned = Scanned::new(text);
    if matches!(&scanned, Ok(s) if s.is_empty()) {
        return Ok(None);
    }
    if let Err(e) = ron::de::from_str::<ron::Value>(text) {
        let pos = pos_at(text, ron_offset(text, e.position.line, e.position.col));
        return Err(at(pos, format!("malformed RON: {}", e.code)));
    }
    let scanned = scanned.map_err(|(pos, message)| at(pos, format!("malformed RON: {message}")))?;
    let fields = scanned.top_struct().map_err(|(pos, message)| at(pos, message))?;
    Ok(Some((scanned, fields)))
}

fn unknown_field(p: &mut Parser<'_>, field: &Field, is_server: bool) {
    let name = field.name.as_str();
    let allowed: Vec<&str> = FIELDS.iter().copied().filter(|f| is_server || *f != "platform").collect();
    let suggestion = did_you_mean(&allowed, name);
    p.problem(field.name_pos, format!("unknown field `{name}` (allowed fields: {})", allowed.join(", ")), suggestion);
}

/// "did you mean `f`?" for the allowed field closest to an unknown `name` (within 3 edits).
pub(crate) fn did_you_mean(allowed: &[&str], name: &str) -> Option<String> {
    allowed
        .iter()
        .map(|f| (crate::catalog::edit_distance(f, name), *f))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, f)| format!("did you mean `{f}`?"))
}

/// Reads one field's value into the layer; false when the value is invalid (reported).
type Setter = fn(&mut Layer, &mut Parser<'_>, &Item) -> bool;

/// How each field of [`FIELDS`] is read (a test keeps the two lists the same).
const SETTERS: &[(&str, Setter)] = &[
    ("platform", |l, p, v| set(&mut l.platform, p.value("platform", v))),
    ("region", |l, p, v| set(&mut l.region, p.value("region", v))),
    ("zone", |l, p, v| set(&mut l.zone, p.value("zone", v))),
    ("instance_type", |l, p, v| set(&mut l.instance_type, p.value("instance_type", v))),
    ("ami_type", |l, p, v| set(&mut l.ami_type, p.value("ami_type", v))),
    ("architecture", |l, p, v| set(&mut l.architecture, p.value("architecture", v))),
    ("ebs_size_gb", |l, p, v| set(&mut l.ebs_size_gb, p.value("ebs_size_gb", v))),
    ("auto_scale_capacity", |l, p, v| set(&mut l.auto_scale_capacity, p.value("auto_scale_capacity", v))),
    ("persist", set_persist),
    ("dns_name", |l, p, v| set(&mut l.dns_name, p.value("dns_name", v))),
    ("tags", set_tags),
    ("spawn", set_spawn),
    ("launch", |l, p, v| set(&mut l.launch, p.value("launch", v))),
    ("instance_profile", launch::set_instance_profile),
    ("security_groups", launch::set_security_groups),
    ("vpc", launch::set_vpc),
    ("subnets", launch::set_subnets),
    ("key_name", launch::set_key_name),
    ("metadata", launch::set_metadata),
    ("ebs", launch::set_ebs),
    ("root_volume_gb", launch::set_root_volume_gb),
    ("volumes", super::volumes::set_volumes),
    ("health_check", super::watch::set_health_check),
    ("notify", super::watch::set_notify),
    ("backups", super::backups::set_backups),
];

fn set_spawn(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let ok = set(&mut layer.spawn, p.value("spawn", v));
    if ok {
        layer.spawn_lines = p.scanned.string_line_starts(v).into_iter().map(|pos| p.source(pos)).collect();
    }
    ok
}

fn set_persist(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `persist`: expected a list of directories".into(),
            Some(format!("write it like `{}`", example("persist"))),
        );
        return false;
    };
    let entries: Vec<_> = items.iter().filter_map(|i| p.value::<String>("persist", i)).collect();
    let ok = entries.len() == items.len();
    if ok {
        layer.persist = Some(Sourced { value: entries, source: p.source(v.pos) });
    }
    ok
}

fn set_tags(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let Some(entries) = p.scanned.map(v) else {
        p.problem(
            v.pos,
            "invalid value for `tags`: expected a map of strings".into(),
            Some(format!("write it like `{}`", example("tags"))),
        );
        return false;
    };
    let mut ok = true;
    for (k, val) in &entries {
        let key = p.value::<String>("tags", k);
        let value = p.value::<String>("tags", val);
        let (Some(key), Some(value)) = (key, value) else {
            ok = false;
            continue;
        };
        if layer.tags.contains_key(&key.value) {
            p.problem(k.pos, format!("tag {:?} is given twice", key.value), Some("remove one of them".into()));
            continue;
        }
        layer.tags.insert(key.value, (Sourced { value: value.value, source: key.source }, value.source));
    }
    ok
}

pub(super) fn set<T>(slot: &mut Option<Sourced<T>>, value: Option<Sourced<T>>) -> bool {
    let ok = value.is_some();
    *slot = value;
    ok
}

#[cfg(test)]
mod setter_tests {
    use super::*;

    #[test]
    fn every_field_has_exactly_one_setter() {
        let names: Vec<&str> = SETTERS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, FIELDS);
    }
}
