//! `volumes`: a server's data volumes, each with its device, size, mount point and the
//! persisted directories that live on it. Layered like `persist` (a later layer's list
//! replaces an earlier one's), checked here, built into [`VolumeConfig`]s.
//!
//! ```ron
//! volumes: [
//!     (device: "/dev/sdf", mount: "/data", persist: ["/etc", "/var/www"]),   // size: <ebs-gb>
//!     (device: "/dev/sdg", size_gb: 200, mount: "/srv/db", persist: ["/var/lib/mysql"]),
//! ],
//! ```
//!
//! Without `volumes` a server has one volume, `/dev/sdf` at `/data`, holding `persist`.
//! The first volume's size is create-server's `<ebs-gb>`, else its `size_gb`, else
//! `ebs_size_gb`; every other volume needs `size_gb`. The first volume's `persist`
//! defaults to the top-level `persist`; the others' to nothing.

use super::layer::{example, Layer, Parser};
use super::scan::Item;
use super::{Problem, Source, Sourced};
use crate::catalog::{ebs_limits, EBS_ANY_MAX_GB, EBS_ANY_MIN_GB};
use crate::model::VolumeType;
use crate::volumes::{device_problem, VolumeSpec, DEFAULT_DEVICE, DEFAULT_MOUNT};
use std::collections::BTreeMap;

/// One entry of `volumes` as a file writes it.
#[derive(Clone, Debug)]
pub(crate) struct VolumeLayer {
    /// Where the entry starts.
    pub source: Source,
    pub device: Option<Sourced<String>>,
    pub size_gb: Option<Sourced<i64>>,
    pub mount: Option<Sourced<String>>,
    pub persist: Option<Sourced<Vec<Sourced<String>>>>,
}

/// One data volume of a server's effective configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VolumeConfig {
    pub device: Sourced<String>,
    /// The first volume's may be absent (create-server's `<ebs-gb>` gives it).
    pub size_gb: Option<Sourced<u32>>,
    pub mount: Sourced<String>,
    pub persist: Sourced<Vec<String>>,
}

impl VolumeConfig {
    pub fn spec(&self) -> VolumeSpec {
        VolumeSpec {
            device: self.device.value.clone(),
            mount: self.mount.value.clone(),
            persist: self.persist.value.clone(),
        }
    }
}

/// What the agent is told: `(persist, volumes)` as `AgentSpec` and `AgentInvocation` hold
/// them. One volume at `/dev/sdf` and `/data` is written as today (`persist` alone), so a
/// one-volume server's plans and user data do not change.
pub fn agent_volumes(volumes: &[VolumeConfig]) -> (Vec<String>, Vec<VolumeSpec>) {
    match volumes {
        // Checked in place: this runs once per server planned.
        [one] if one.device.value == DEFAULT_DEVICE && one.mount.value == DEFAULT_MOUNT => {
            (one.persist.value.clone(), Vec::new())
        }
        _ => (Vec::new(), volumes.iter().map(VolumeConfig::spec).collect()),
    }
}

const SUB_FIELDS: &[&str] = &["device", "size_gb", "mount", "persist"];

pub(crate) fn set_volumes(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `volumes`: expected a list of `(device: ..., size_gb: ..., mount: ..., persist: [...])`"
                .into(),
            Some(format!("write it like `{}`", example("volumes"))),
        );
        return false;
    };
    let mut entries = Vec::new();
    let mut ok = true;
    for item in &items {
        match entry(p, item) {
            Some(e) => entries.push(e),
            None => ok = false,
        }
    }
    if ok {
        layer.volumes = Some(Sourced { value: entries, source: p.source(v.pos) });
    }
    ok
}

fn entry(p: &mut Parser<'_>, item: &Item) -> Option<VolumeLayer> {
    let Some(fields) = p.scanned.fields(item) else {
        p.problem(
            item.pos,
            "invalid entry in `volumes`: expected `(device: ..., size_gb: ..., mount: ..., persist: [...])`".into(),
            Some(format!("write it like `{}`", example("volumes"))),
        );
        return None;
    };
    let mut e = VolumeLayer { source: p.source(item.pos), device: None, size_gb: None, mount: None, persist: None };
    let mut ok = true;
    let mut seen = Vec::new();
    for field in &fields {
        let name = field.name.as_str();
        if !SUB_FIELDS.contains(&name) {
            let suggestion = super::layer::did_you_mean(SUB_FIELDS, name);
            p.problem(
                field.name_pos,
                format!("unknown field `{name}` in a volume (allowed fields: {})", SUB_FIELDS.join(", ")),
                suggestion,
            );
            ok = false;
            continue;
        }
        if seen.contains(&name) {
            p.problem(
                field.name_pos,
                format!("field `volumes.{name}` is given twice"),
                Some("remove one of them".into()),
            );
            ok = false;
            continue;
        }
        seen.push(name);
        let value = &field.value;
        let set = match name {
            "device" => p.value("volumes.device", value).map(|v| e.device = Some(v)),
            "size_gb" => p.value("volumes.size_gb", value).map(|v| e.size_gb = Some(v)),
            "mount" => p.value("volumes.mount", value).map(|v| e.mount = Some(v)),
            _ => persist(p, value).map(|v| e.persist = Some(v)),
        };
        ok &= set.is_some();
    }
    ok.then_some(e)
}

fn persist(p: &mut Parser<'_>, v: &Item) -> Option<Sourced<Vec<Sourced<String>>>> {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `volumes.persist`: expected a list of directories".into(),
            Some(format!("write it like `{}`", example("volumes.persist"))),
        );
        return None;
    };
    let entries: Vec<_> = items.iter().filter_map(|i| p.value::<String>("volumes.persist", i)).collect();
    (entries.len() == items.len()).then(|| Sourced { value: entries, source: p.source(v.pos) })
}

fn problem(source: &Source, message: String, fix: Option<String>) -> Problem {
    Problem { source: source.clone(), message, fix }
}

/// Problems of one file's `volumes`, each at the value: missing or invalid devices, mount
/// points and sizes, and what two volumes share.
pub(crate) fn layer_problems(layer: &Layer, out: &mut Vec<Problem>) {
    let Some(volumes) = &layer.volumes else { return };
    if volumes.value.is_empty() {
        out.push(problem(
            &volumes.source,
            "`volumes` is empty: a server has at least one data volume".into(),
            Some(format!(
                "list at least one, or remove `volumes` for one volume at {DEFAULT_DEVICE} and {DEFAULT_MOUNT}"
            )),
        ));
    }
    for (n, v) in volumes.value.iter().enumerate() {
        entry_problems(n, v, out);
    }
    let mut devices = BTreeMap::new();
    let mut mounts = BTreeMap::new();
    let mut dirs = BTreeMap::new();
    for v in &volumes.value {
        if let Some(d) = &v.device {
            once(&mut devices, d, "device", out);
        }
        if let Some(m) = &v.mount {
            once(&mut mounts, m, "mount point", out);
        }
        for dir in v.persist.iter().flat_map(|p| &p.value) {
            once(&mut dirs, dir, "persisted directory", out);
        }
    }
    nesting_problems(&volumes.value, out);
}

/// Whether `path` is `dir` or lies under it (`/` is reported on its own, not here).
fn within(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    !dir.is_empty() && (path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')))
}

/// A mount point inside another volume's (mounted in the wrong order it would be hidden),
/// or inside a persisted directory (the bind mount would hide it).
fn nesting_problems(volumes: &[VolumeLayer], out: &mut Vec<Problem>) {
    let mounts: Vec<&Sourced<String>> = volumes.iter().filter_map(|v| v.mount.as_ref()).collect();
    for m in &mounts {
        if let Some(outer) = mounts.iter().find(|o| o.value != m.value && within(&m.value, &o.value)) {
            out.push(problem(
                &m.source,
                format!(
                    "mount point {:?} is inside another volume's mount point {:?} ({})",
                    m.value, outer.value, outer.source
                ),
                Some("mount each volume on a directory of its own, side by side (such as /data and /srv/db)".into()),
            ));
        }
        let dirs = volumes.iter().flat_map(|v| v.persist.iter().flat_map(|p| &p.value));
        if let Some(dir) = dirs.into_iter().find(|d| within(&m.value, &d.value)) {
            out.push(problem(
                &m.source,
                format!(
                    "mount point {:?} is inside persisted directory {:?} ({}), whose bind mount would hide it",
                    m.value, dir.value, dir.source
                ),
                Some("mount the volume outside the persisted directories".into()),
            ));
        }
    }
}

/// A value given to a second volume: a problem at the second, naming the first.
fn once(seen: &mut BTreeMap<String, Source>, v: &Sourced<String>, what: &str, out: &mut Vec<Problem>) {
    match seen.get(&v.value) {
        Some(first) => out.push(problem(
            &v.source,
            format!("{what} {:?} is given to two volumes (the other at {first})", v.value),
            Some(format!("give each volume its own {what}")),
        )),
        None => {
            seen.insert(v.value.clone(), v.source.clone());
        }
    }
}

fn entry_problems(n: usize, v: &VolumeLayer, out: &mut Vec<Problem>) {
    match &v.device {
        None => out.push(problem(
            &v.source,
            format!("volume {} has no `device`", n + 1),
            Some("add `device: \"/dev/sdg\"` (/dev/sdf to /dev/sdp are EC2's recommended names)".into()),
        )),
        Some(d) => {
            if let Some(why) = device_problem(&d.value) {
                out.push(problem(
                    &d.source,
                    format!("invalid volume device: {why}"),
                    Some("use /dev/sdf to /dev/sdp (EC2's recommended names for EBS volumes on Linux)".into()),
                ));
            }
        }
    }
    match &v.mount {
        None => out.push(problem(
            &v.source,
            format!("volume {} has no `mount`", n + 1),
            Some("add `mount: \"/srv/db\"`".into()),
        )),
        Some(m) => path_problems(m, "mount point", true, out),
    }
    match &v.size_gb {
        None if n > 0 => out.push(problem(&v.source, format!("volume {} has no `size_gb` (only the first volume's size can come from create-server's <ebs-gb>)", n + 1), Some("add `size_gb: 100`".into()))),
        None => {}
        Some(s) if s.value < i64::from(EBS_ANY_MIN_GB) || s.value > i64::from(EBS_ANY_MAX_GB) => out.push(problem(
            &s.source,
            format!("size_gb must be between {EBS_ANY_MIN_GB} and {EBS_ANY_MAX_GB} (GiB, the smallest and largest EBS volumes), not {}", s.value),
            None,
        )),
        Some(_) => {}
    }
    for dir in v.persist.iter().flat_map(|p| &p.value) {
        path_problems(dir, "persisted directory", false, out);
    }
}

/// An absolute path without control characters (a mount point: without white space, which
/// `/etc/fstab` cannot hold, and not `/`).
fn path_problems(v: &Sourced<String>, what: &str, mount: bool, out: &mut Vec<Problem>) {
    let value = &v.value;
    if !value.starts_with('/') {
        out.push(problem(
            &v.source,
            format!("{what} {value:?} is not an absolute path"),
            Some(format!("write it as \"/{}\"", value.trim_start_matches("./"))),
        ));
    } else if value.chars().any(char::is_control) {
        out.push(problem(
            &v.source,
            format!("{what} {value:?} contains a control character (a NUL, tab or line break)"),
            Some("write the path without it".into()),
        ));
    } else if mount && value.trim_end_matches('/').is_empty() {
        out.push(problem(
            &v.source,
            format!("{what} {value:?} is the root file system"),
            Some("mount the volume on a directory of its own, such as \"/srv/db\"".into()),
        ));
    } else if mount && value.chars().any(char::is_whitespace) {
        out.push(problem(
            &v.source,
            format!("{what} {value:?} contains white space, which /etc/fstab cannot hold"),
            Some("choose a mount point without spaces".into()),
        ));
    }
}

/// Problems of a server's merged `volumes`: sizes within the EBS type's limits, and a
/// directory of the top-level `persist` (the first volume's unless it lists its own) that
/// another volume holds too.
pub(crate) fn merged_problems(merged: &Layer, out: &mut Vec<Problem>) {
    let Some(volumes) = &merged.volumes else { return };
    let volume_type = merged.settings.volume_type.as_ref().map_or(VolumeType::Gp3, |t| t.value);
    let limits = ebs_limits(volume_type);
    for s in volumes.value.iter().filter_map(|v| v.size_gb.as_ref()) {
        if (i64::from(EBS_ANY_MIN_GB)..=i64::from(EBS_ANY_MAX_GB)).contains(&s.value)
            && !(i64::from(limits.min_gb)..=i64::from(limits.max_gb)).contains(&s.value)
        {
            out.push(problem(
                &s.source,
                format!(
                    "size_gb {} is outside {volume_type} volumes' {} to {} GiB",
                    s.value, limits.min_gb, limits.max_gb
                ),
                Some(format!("give a size from {} to {} GiB, or another `ebs.type`", limits.min_gb, limits.max_gb)),
            ));
        }
    }
    let (Some(first), Some(inherited)) = (volumes.value.first(), &merged.persist) else { return };
    if first.persist.is_some() {
        return;
    }
    let inherited: BTreeMap<&str, &Source> = inherited.value.iter().map(|d| (d.value.as_str(), &d.source)).collect();
    for dir in volumes.value.iter().skip(1).flat_map(|v| v.persist.iter().flat_map(|p| &p.value)) {
        if let Some(at) = inherited.get(dir.value.as_str()) {
            out.push(problem(
                &dir.source,
                format!(
                    "persisted directory {:?} is on this volume and, through `persist` ({at}), on the first volume",
                    dir.value
                ),
                Some("give the first volume its own `persist` list without it".into()),
            ));
        }
    }
}

/// The effective volumes of a merged, validated layer.
pub(crate) fn build(
    merged: &Layer,
    ebs_size_gb: &Option<Sourced<u32>>,
    persist: &Sourced<Vec<String>>,
) -> Vec<VolumeConfig> {
    let Some(volumes) = &merged.volumes else {
        return vec![VolumeConfig {
            device: Sourced::default_value(DEFAULT_DEVICE.to_string()),
            size_gb: ebs_size_gb.clone(),
            mount: Sourced::default_value(DEFAULT_MOUNT.to_string()),
            persist: persist.clone(),
        }];
    };
    let at = |v: &VolumeLayer, s: &Option<Sourced<String>>, default: &str| {
        s.clone().unwrap_or_else(|| Sourced::new(default.to_string(), v.source.clone()))
    };
    volumes
        .value
        .iter()
        .enumerate()
        .map(|(n, v)| VolumeConfig {
            device: at(v, &v.device, DEFAULT_DEVICE),
            size_gb: v
                .size_gb
                .as_ref()
                .and_then(|s| Some(Sourced::new(u32::try_from(s.value).ok()?, s.source.clone())))
                .or_else(|| if n == 0 { ebs_size_gb.clone() } else { None }),
            mount: at(v, &v.mount, DEFAULT_MOUNT),
            persist: match (&v.persist, n) {
                (Some(p), _) => Sourced::new(p.value.iter().map(|d| d.value.clone()).collect(), p.source.clone()),
                (None, 0) => persist.clone(),
                (None, _) => Sourced::new(Vec::new(), v.source.clone()),
            },
        })
        .collect()
}

/// `cellar config`'s entries: `volumes` `None` without the field; else each volume's values.
pub(crate) fn entries(merged_set: bool, volumes: &[VolumeConfig], out: &mut Vec<(String, String, Source)>) {
    if !merged_set {
        out.push(("volumes".to_string(), "None".to_string(), Source::default_value()));
        return;
    }
    let quote = |s: &str| format!("{s:?}");
    for (n, v) in volumes.iter().enumerate() {
        out.push((format!("volumes[{n}].device"), quote(&v.device.value), v.device.source.clone()));
        match &v.size_gb {
            Some(s) => out.push((format!("volumes[{n}].size_gb"), s.value.to_string(), s.source.clone())),
            None => out.push((format!("volumes[{n}].size_gb"), "None".to_string(), Source::default_value())),
        }
        out.push((format!("volumes[{n}].mount"), quote(&v.mount.value), v.mount.source.clone()));
        let dirs: Vec<String> = v.persist.value.iter().map(|d| quote(d)).collect();
        out.push((format!("volumes[{n}].persist"), format!("[{}]", dirs.join(", ")), v.persist.source.clone()));
    }
}
