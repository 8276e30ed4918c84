//! Whether the values make sense: per layer (each value where it is written) and per
//! server (the merged result: required fields, combinations, user data size).

use super::launch_checks;
use super::layer::{FileKind, Layer, REQUIRED};
use super::{HookChecker, Problem, Source, Sourced};
use crate::agent::{user_data, AgentInvocation, USER_DATA_LIMIT};
use crate::catalog::{self, edit_distance, EBS_ANY_MAX_GB, EBS_ANY_MIN_GB};
use crate::model::{AgentMode, Architecture, ServerName, NAME_TAG};

/// AWS's 50 tags per resource, less `Name` and one `cellar:` tag that cellar adds itself
/// (`aws:` tags do not count against the limit).
pub(crate) const MAX_CONFIGURED_TAGS: usize = 48;

fn problem(source: &Source, message: String, fix: Option<String>) -> Problem {
    Problem { source: source.clone(), message, fix }
}

fn closest<'a>(candidates: impl Iterator<Item = &'a str>, wrong: &str, max: usize) -> Option<&'a str> {
    candidates.map(|c| (edit_distance(c, wrong), c)).filter(|(d, _)| *d <= max).min().map(|(_, c)| c)
}

/// The zone letter of a `zone` value, when it is one lowercase letter.
pub(crate) fn zone_letter(zone: &str) -> Option<char> {
    let mut chars = zone.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_lowercase() => Some(c),
        _ => None,
    }
}

pub(crate) fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn example_instance_type(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "m5.large",
        Architecture::I386 => "m1.small",
        Architecture::Arm64 => "m6g.large",
    }
}

/// Problems with the values one file sets, each at the value. The hook checker runs
/// only when given (`cellar check`).
pub(crate) fn layer_problems(layer: &Layer, hooks: Option<&dyn HookChecker>) -> Vec<Problem> {
    let mut out = Vec::new();
    placement_problems(layer, &mut out);
    size_problems(layer, &mut out);
    agent_problems(layer, hooks, &mut out);
    tag_problems(layer, &mut out);
    launch_checks::layer_problems(&layer.settings, &mut out);
    super::volumes::layer_problems(layer, &mut out);
    super::watch::layer_problems(layer, &mut out);
    super::backups::layer_problems(layer, &mut out);
    out.extend(combination_problems(layer, &|_| 0));
    launch_checks::combination_problems(layer, &|_| 0, false, &mut out);
    out
}

/// Region, zone, instance type, AMI type and architecture, each on its own.
fn placement_problems(layer: &Layer, out: &mut Vec<Problem>) {
    if let Some(Sourced { value, source }) = &layer.region {
        if catalog::zone_letters(value).is_none() {
            let known: Vec<&str> = catalog::REGIONS.iter().map(|(r, _)| *r).collect();
            let fix = match closest(known.iter().copied(), value, 3) {
                Some(r) => format!("did you mean {r:?}?"),
                None => format!("known regions: {}", known.join(", ")),
            };
            out.push(problem(source, format!("unknown region {value:?}"), Some(fix)));
        }
    }
    if let Some(Sourced { value, source }) = &layer.zone {
        if zone_letter(value).is_none() {
            let fix = match value.chars().last() {
                Some(c) if c.is_ascii_lowercase() && value.len() > 1 => {
                    format!("write only the zone's letter: zone: \"{c}\"")
                }
                _ => "write the zone's letter, like zone: \"a\"".to_string(),
            };
            out.push(problem(source, format!("zone must be a single letter such as \"a\", not {value:?}"), Some(fix)));
        }
    }
    if let Some(Sourced { value, source }) = &layer.instance_type {
        if catalog::instance_type_architectures(value).is_none() {
            let fix = catalog::suggest_instance_type(value).map(|t| format!("did you mean {t:?}?"));
            out.push(problem(source, format!("unknown instance type {value:?}"), fix));
        }
    }
    if let Some(Sourced { value, source }) = &layer.ami_type {
        if value.trim().is_empty() || value.contains(char::is_whitespace) {
            out.push(problem(
                source,
                format!("invalid AMI type {value:?}: images are named <ami-type>-<YYYY-MM-DD>"),
                Some("use a name such as \"web-server\"".into()),
            ));
        }
    }
    if let Some(Sourced { value, source }) = &layer.architecture {
        if Architecture::parse(value).is_none() {
            let names: Vec<&str> = Architecture::ALL.iter().map(|a| a.as_str()).collect();
            let fix = match value.as_str() {
                "amd64" | "x86-64" | "x64" => "did you mean \"x86_64\"?".to_string(),
                "aarch64" | "arm" => "did you mean \"arm64\"?".to_string(),
                _ => format!("use one of {}", names.join(", ")),
            };
            out.push(problem(
                source,
                format!("unknown architecture {value:?} (known: {})", names.join(", ")),
                Some(fix),
            ));
        }
    }
}

/// The data volume's size and the auto scaling capacity.
fn size_problems(layer: &Layer, out: &mut Vec<Problem>) {
    if let Some(Sourced { value, source }) = &layer.ebs_size_gb {
        if *value < i64::from(EBS_ANY_MIN_GB) || *value > i64::from(EBS_ANY_MAX_GB) {
            out.push(problem(
                source,
                format!(
                    "ebs_size_gb must be between {EBS_ANY_MIN_GB} and {EBS_ANY_MAX_GB} (GiB, the smallest and largest EBS volumes), not {value}"
                ),
                None,
            ));
        }
    }
    if let Some(Sourced { value, source }) = &layer.auto_scale_capacity {
        if !(0..=1).contains(value) {
            out.push(problem(
                source,
                format!(
                    "auto_scale_capacity must be 0 (no auto scaling group) or 1 (keep the server running), not {value}"
                ),
                None,
            ));
        }
    }
}

/// What the instance agent is given: persisted directories, the DNS name, the spawn hook (checked by `hooks`, `bash -n`, when given).
fn agent_problems(layer: &Layer, hooks: Option<&dyn HookChecker>, out: &mut Vec<Problem>) {
    if let Some(persist) = &layer.persist {
        for Sourced { value, source } in &persist.value {
            if !value.starts_with('/') {
                out.push(problem(
                    source,
                    format!("persisted directory {value:?} is not an absolute path"),
                    Some(format!("write it as \"/{}\"", value.trim_start_matches("./"))),
                ));
            } else if value.chars().any(char::is_control) {
                out.push(problem(
                    source,
                    format!("persisted directory {value:?} contains a control character (a NUL, tab or line break)"),
                    Some("write the directory's path without it".into()),
                ));
            }
        }
    }
    if let Some(Sourced { value, source }) = &layer.dns_name {
        if !valid_dns_name(value) {
            out.push(problem(
                source,
                format!("invalid DNS name {value:?}"),
                Some("use a host name such as \"ommegang.example.com\"".into()),
            ));
        }
    }
    if let (Some(spawn), Some(hooks)) = (&layer.spawn, hooks) {
        if let Err(errors) = hooks.check(&spawn.value) {
            for e in errors {
                let at =
                    (e.line as usize).checked_sub(1).and_then(|i| layer.spawn_lines.get(i)).unwrap_or(&spawn.source);
                out.push(problem(
                    at,
                    format!("spawn hook: syntax error on line {} of the script: {}", e.line, e.message),
                    Some("check the script with `bash -n`".into()),
                ));
            }
        }
    }
}

/// Tag keys cellar or AWS reserve, and AWS's key and value lengths.
fn tag_problems(layer: &Layer, out: &mut Vec<Problem>) {
    for (key, (Sourced { value, source }, value_source)) in &layer.tags {
        let lower = key.to_ascii_lowercase();
        let reserved = if key == NAME_TAG {
            Some("cellar sets `Name` to the server's name")
        } else if lower.starts_with("cellar:") {
            Some("keys starting with `cellar:` are cellar's own")
        } else if lower.starts_with("aws:") {
            Some("keys starting with `aws:` are reserved by AWS")
        } else {
            None
        };
        if let Some(why) = reserved {
            out.push(problem(source, format!("tag key {key:?} is reserved: {why}"), Some("choose another key".into())));
        } else if key.is_empty() || key.chars().count() > 128 {
            out.push(problem(source, "tag keys must be 1 to 128 characters long".into(), None));
        }
        if value.chars().count() > 256 {
            out.push(problem(value_source, format!("the value of tag {key:?} is longer than 256 characters"), None));
        }
    }
}

/// Values that are fine alone but not together: a zone outside its region, an instance
/// type that cannot run the architecture. The problem is reported at whichever of the
/// two comes from the later layer (`rank`), the instance type / zone on a tie.
pub(crate) fn combination_problems(layer: &Layer, rank: &dyn Fn(&Source) -> usize) -> Vec<Problem> {
    let mut out = Vec::new();
    let later = |a: &Source, b: &Source| {
        if rank(b) > rank(a) {
            b.clone()
        } else {
            a.clone()
        }
    };
    if let (Some(region), Some(zone)) = (&layer.region, &layer.zone) {
        if let (Some(letters), Some(letter)) = (catalog::zone_letters(&region.value), zone_letter(&zone.value)) {
            if !letters.contains(letter) {
                let list: Vec<String> = letters.chars().map(String::from).collect();
                out.push(problem(
                    &later(&zone.source, &region.source),
                    format!(
                        "zone {:?} does not exist in region {} (its zones are {})",
                        zone.value,
                        region.value,
                        list.join(", ")
                    ),
                    Some(format!("use one of {}", list.join(", "))),
                ));
            }
        }
    }
    if let (Some(itype), Some(arch)) = (&layer.instance_type, &layer.architecture) {
        if let (Some(runs), Some(a)) =
            (catalog::instance_type_architectures(&itype.value), Architecture::parse(&arch.value))
        {
            if !runs.contains(&a) {
                let runs: Vec<&str> = runs.iter().map(|a| a.as_str()).collect();
                out.push(problem(
                    &later(&itype.source, &arch.source),
                    format!("instance type {} cannot run {} (it runs {})", itype.value, a, runs.join(", ")),
                    Some(format!(
                        "set architecture to {}, or choose an instance type that runs {a} such as {}",
                        runs.join(" or "),
                        example_instance_type(a)
                    )),
                ));
            }
        }
    }
    out
}

/// Problems of a server's merged configuration. `chain` is the layers in order
/// (global, platform, server), `merged` their merge.
pub(crate) fn merged_problems(name: &ServerName, chain: &[&Layer], merged: &Layer) -> Vec<Problem> {
    let mut out = Vec::new();
    if merged.broken {
        return out; // the syntax error says it all
    }
    let server_start = Source { file: merged.file.clone(), line: 1, column: 1 };
    for field in REQUIRED {
        if !merged.has(field) && !merged.failed.contains(field) {
            let files: Vec<String> = chain.iter().map(|l| l.file.display().to_string()).collect();
            out.push(problem(
                &server_start,
                format!("server {name} has no `{field}`: no layer sets it"),
                Some(format!("set `{}` in {}", super::layer::example(field), files.join(" or "))),
            ));
        }
    }
    let rank = |s: &Source| chain.iter().position(|l| l.file == s.file).unwrap_or(0);
    out.extend(combination_problems(merged, &rank));
    launch_checks::combination_problems(merged, &rank, true, &mut out);
    out.extend(launch_checks::missing_profile(name, chain, merged));
    super::volumes::merged_problems(merged, &mut out);
    super::watch::merged_problems(name, merged, &mut out);
    super::backups::merged_problems(name, merged, &mut out);
    if merged.tags.len() > MAX_CONFIGURED_TAGS {
        // Where the last tag comes from: the layer that pushed the count over.
        let at =
            merged.tags.values().map(|(key, _)| &key.source).max_by_key(|s| (rank(s), s.line)).unwrap_or(&server_start);
        out.push(problem(
            at,
            format!(
                "server {name} has {} tags; AWS allows 50 per resource, and cellar adds up to {} of its own (Name, cellar:role or cellar:awaiting-dns), so at most {MAX_CONFIGURED_TAGS} can be configured",
                merged.tags.len(),
                50 - MAX_CONFIGURED_TAGS
            ),
            Some("remove tags from the server, its platform or global.ron".into()),
        ));
    }

    let persist: Vec<String> =
        merged.persist.as_ref().map(|p| p.value.iter().map(|e| e.value.clone()).collect()).unwrap_or_default();
    let spawn_hook = merged.spawn.as_ref().map(|s| s.value.clone());
    let at = merged
        .spawn
        .as_ref()
        .map(|s| &s.source)
        .or(merged.persist.as_ref().map(|p| &p.source))
        .unwrap_or(&server_start);
    let (persist, volumes) =
        super::volumes::agent_volumes(&super::volumes::build(merged, &None, &Sourced::default_value(persist)));
    match user_data(&AgentInvocation { mode: AgentMode::Persist, server: name.clone(), persist, spawn_hook, volumes }) {
        Ok(text) if text.len() > USER_DATA_LIMIT => out.push(problem(
            at,
            format!(
                "the user data of server {name} would be {} bytes, over AWS's limit of {USER_DATA_LIMIT} bytes",
                text.len()
            ),
            Some("shorten the spawn hook: keep long scripts on the AMI or the data volume and call them".into()),
        )),
        Ok(_) => {}
        Err(e) => out.push(problem(
            at,
            format!("the user data of server {name} cannot be written: {e}"),
            Some("remove the NUL byte".into()),
        )),
    }
    out
}

/// Problems resolving a server file's platform; returns the platform's name when it exists.
pub(crate) fn platform_problems<'a>(
    server: &Layer,
    platforms: impl Iterator<Item = &'a str> + Clone,
    platforms_dir: &std::path::Path,
) -> (Option<String>, Vec<Problem>) {
    debug_assert!(matches!(server.kind, FileKind::Server(_)));
    let known: Vec<&str> = platforms.clone().collect();
    let choice = if known.is_empty() {
        format!("there are no platform files in {}", platforms_dir.display())
    } else {
        format!("platforms: {}", known.join(", "))
    };
    match &server.platform {
        None if server.broken || server.failed.contains("platform") => (None, Vec::new()),
        None => (
            None,
            vec![problem(
                &Source { file: server.file.clone(), line: 1, column: 1 },
                "server file does not name its `platform`".into(),
                Some(format!("add `platform: \"{}\"` ({choice})", known.first().copied().unwrap_or("<platform>"))),
            )],
        ),
        Some(Sourced { value, source }) => {
            if known.contains(&value.as_str()) {
                (Some(value.clone()), Vec::new())
            } else {
                let path = platforms_dir.join(format!("{value}.ron"));
                let fix = match closest(known.iter().copied(), value, 3) {
                    Some(p) => format!("did you mean {p:?}? ({choice})"),
                    None => format!("create {} ({choice})", path.display()),
                };
                (
                    None,
                    vec![problem(
                        source,
                        format!("unknown platform {value:?}: {} does not exist", path.display()),
                        Some(fix),
                    )],
                )
            }
        }
    }
}
