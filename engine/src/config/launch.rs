//! The launch settings of a configuration file: the instance profile, the network
//! (`security_groups`, `vpc`, `subnets`), `key_name`, `metadata`, `ebs` and
//! `root_volume_gb`. Parsed here into a [`LaunchLayer`] (part of a `Layer`), merged like
//! the other fields (the sub-fields of `metadata` and `ebs` one by one, `subnets` zone by
//! zone, as tags merge key by key), checked in `launch_checks.rs`, and built into the
//! typed [`LaunchConfig`] a server (or the global defaults) plans with.
//!
//! ```ron
//! (
//!     instance_profile: "cellar-agent",          // name or ARN
//!     security_groups: ["web", "sg-0123456789abcdef0"],
//!     vpc: "vpc-0123456789abcdef0",              // or subnets: {"a": "subnet-...", "b": "subnet-..."}
//!     key_name: "ops",
//!     metadata: (http_tokens: Required, hop_limit: 2),
//!     ebs: (type: gp3, iops: 6000, throughput: 250, encrypted: true, kms_key: "alias/ebs"),
//!     root_volume_gb: 16,
//! )
//! ```

use super::layer::{example, set, Layer, Parser};
use super::scan::Item;
use super::{Source, Sourced};
use crate::model::*;
use crate::plan::NetworkScope;
use std::collections::BTreeMap;

/// The launch settings one file sets (or, merged, a server's).
#[derive(Clone, Debug, Default)]
pub(crate) struct LaunchLayer {
    pub instance_profile: Option<Sourced<String>>,
    /// The list (sourced at the list) and each entry (sourced at the entry).
    pub security_groups: Option<Sourced<Vec<Sourced<String>>>>,
    pub vpc: Option<Sourced<String>>,
    /// Zone letter as written → (subnet id sourced at the key, source of the id itself).
    pub subnets: BTreeMap<String, (Sourced<String>, Source)>,
    pub key_name: Option<Sourced<String>>,
    pub http_tokens: Option<Sourced<HttpTokens>>,
    pub hop_limit: Option<Sourced<i64>>,
    pub volume_type: Option<Sourced<VolumeType>>,
    pub iops: Option<Sourced<i64>>,
    pub throughput: Option<Sourced<i64>>,
    pub encrypted: Option<Sourced<bool>>,
    pub kms_key: Option<Sourced<String>>,
    pub root_volume_gb: Option<Sourced<i64>>,
}

impl LaunchLayer {
    /// Whether the layer sets `field` (`metadata`, `ebs`: any sub-field; `subnets`: any zone);
    /// `None` for a field that is not a launch setting.
    pub fn has(&self, field: &str) -> Option<bool> {
        Some(match field {
            "instance_profile" => self.instance_profile.is_some(),
            "security_groups" => self.security_groups.is_some(),
            "vpc" => self.vpc.is_some(),
            "subnets" => !self.subnets.is_empty(),
            "key_name" => self.key_name.is_some(),
            "metadata" => self.http_tokens.is_some() || self.hop_limit.is_some(),
            "ebs" => {
                self.volume_type.is_some()
                    || self.iops.is_some()
                    || self.throughput.is_some()
                    || self.encrypted.is_some()
                    || self.kms_key.is_some()
            }
            "root_volume_gb" => self.root_volume_gb.is_some(),
            _ => return None,
        })
    }

    /// `later` overrides this layer field by field (sub-field by sub-field, zone by zone).
    pub fn merge_from(&mut self, later: &LaunchLayer) {
        macro_rules! over {
            ($($f:ident),*) => {$(
                if later.$f.is_some() {
                    self.$f = later.$f.clone();
                }
            )*};
        }
        over!(
            instance_profile,
            security_groups,
            vpc,
            key_name,
            http_tokens,
            hop_limit,
            volume_type,
            iops,
            throughput,
            encrypted,
            kms_key,
            root_volume_gb
        );
        for (k, v) in &later.subnets {
            self.subnets.insert(k.clone(), v.clone());
        }
    }
}

pub(crate) fn set_instance_profile(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set(&mut layer.settings.instance_profile, p.value("instance_profile", v))
}

pub(crate) fn set_vpc(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set(&mut layer.settings.vpc, p.value("vpc", v))
}

pub(crate) fn set_key_name(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set(&mut layer.settings.key_name, p.value("key_name", v))
}

pub(crate) fn set_root_volume_gb(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set(&mut layer.settings.root_volume_gb, p.value("root_volume_gb", v))
}

pub(crate) fn set_security_groups(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `security_groups`: expected a list of security group names or ids".into(),
            Some(format!("write it like `{}`", example("security_groups"))),
        );
        return false;
    };
    let entries: Vec<_> = items.iter().filter_map(|i| p.value::<String>("security_groups", i)).collect();
    let ok = entries.len() == items.len();
    if ok {
        layer.settings.security_groups = Some(Sourced { value: entries, source: p.source(v.pos) });
    }
    ok
}

pub(crate) fn set_subnets(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let Some(entries) = p.scanned.map(v) else {
        p.problem(
            v.pos,
            "invalid value for `subnets`: expected a map from zone letters to subnet ids".into(),
            Some(format!("write it like `{}`", example("subnets"))),
        );
        return false;
    };
    let mut ok = true;
    for (k, val) in &entries {
        let (Some(key), Some(value)) = (p.value::<String>("subnets", k), p.value::<String>("subnets", val)) else {
            ok = false;
            continue;
        };
        if layer.settings.subnets.contains_key(&key.value) {
            p.problem(k.pos, format!("zone {:?} is given twice", key.value), Some("remove one of them".into()));
            continue;
        }
        layer.settings.subnets.insert(key.value, (Sourced { value: value.value, source: key.source }, value.source));
    }
    ok
}

/// Reads one sub-field of a struct-valued field into the layer; false when invalid (reported).
type SubSetter = fn(&mut LaunchLayer, &mut Parser<'_>, &Item) -> bool;

const METADATA_SETTERS: &[(&str, SubSetter)] = &[
    ("http_tokens", |l, p, v| set(&mut l.http_tokens, p.value("metadata.http_tokens", v))),
    ("hop_limit", |l, p, v| set(&mut l.hop_limit, p.value("metadata.hop_limit", v))),
];

const EBS_SETTERS: &[(&str, SubSetter)] = &[
    ("type", |l, p, v| set(&mut l.volume_type, p.value("ebs.type", v))),
    ("iops", |l, p, v| set(&mut l.iops, p.value("ebs.iops", v))),
    ("throughput", |l, p, v| set(&mut l.throughput, p.value("ebs.throughput", v))),
    ("encrypted", |l, p, v| set(&mut l.encrypted, p.value("ebs.encrypted", v))),
    ("kms_key", |l, p, v| set(&mut l.kms_key, p.value("ebs.kms_key", v))),
];

pub(crate) fn set_metadata(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set_struct(layer, p, v, "metadata", METADATA_SETTERS)
}

pub(crate) fn set_ebs(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    set_struct(layer, p, v, "ebs", EBS_SETTERS)
}

/// A struct-valued field `name: (sub: value, ...)`, each sub-field through its setter.
fn set_struct(layer: &mut Layer, p: &mut Parser<'_>, v: &Item, name: &str, setters: &[(&str, SubSetter)]) -> bool {
    let Some(fields) = p.scanned.fields(v) else {
        p.problem(
            v.pos,
            format!("invalid value for `{name}`: expected `(field: value, ...)`"),
            Some(format!("write it like `{}`", example(name))),
        );
        return false;
    };
    let allowed: Vec<&str> = setters.iter().map(|(f, _)| *f).collect();
    let mut seen = Vec::new();
    let mut ok = true;
    for field in &fields {
        let Some((sub, setter)) = setters.iter().find(|(f, _)| *f == field.name) else {
            let suggestion = super::layer::did_you_mean(&allowed, &field.name);
            p.problem(
                field.name_pos,
                format!("unknown field `{}` in `{name}` (allowed fields: {})", field.name, allowed.join(", ")),
                suggestion,
            );
            ok = false;
            continue;
        };
        if seen.contains(sub) {
            p.problem(
                field.name_pos,
                format!("field `{name}.{sub}` is given twice"),
                Some("remove one of them".into()),
            );
            continue;
        }
        seen.push(sub);
        ok &= setter(&mut layer.settings, p, &field.value);
    }
    ok
}

/// The data volume's EBS settings, each with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EbsConfig {
    pub volume_type: Sourced<VolumeType>,
    pub iops: Option<Sourced<u32>>,
    pub throughput: Option<Sourced<u32>>,
    pub encrypted: Sourced<bool>,
    pub kms_key: Option<Sourced<String>>,
}

impl EbsConfig {
    /// The settings CreateVolume is given.
    pub fn settings(&self) -> EbsSettings {
        EbsSettings {
            volume_type: self.volume_type.value,
            iops: self.iops.as_ref().map(|v| v.value),
            throughput: self.throughput.as_ref().map(|v| v.value),
            encrypted: self.encrypted.value,
            kms_key: self.kms_key.as_ref().map(|v| v.value.clone()),
        }
    }
}

/// What a server's instances launch with and its data volume is made with (see the
/// module doc), each value with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LaunchConfig {
    pub instance_profile: Option<Sourced<InstanceProfile>>,
    /// Names (resolved in the server's VPC when planning) or ids; empty: the VPC's default group.
    pub security_groups: Sourced<Vec<Sourced<String>>>,
    pub vpc: Option<Sourced<VpcId>>,
    pub subnets: BTreeMap<char, Sourced<SubnetId>>,
    pub key_name: Option<Sourced<KeyName>>,
    pub http_tokens: Sourced<HttpTokens>,
    pub hop_limit: Option<Sourced<u8>>,
    pub ebs: EbsConfig,
    pub root_volume_gb: Option<Sourced<u32>>,
}

impl LaunchConfig {
    pub fn metadata(&self) -> MetadataOptions {
        MetadataOptions { http_tokens: self.http_tokens.value, hop_limit: self.hop_limit.as_ref().map(|h| h.value) }
    }

    /// What the planner reads of the network for these settings.
    pub fn network_scope(&self) -> NetworkScope {
        NetworkScope {
            vpc: self.vpc.as_ref().map(|v| v.value.clone()),
            subnets: self.subnets.iter().map(|(k, v)| (*k, v.value.clone())).collect(),
            security_groups: self.security_groups.value.iter().map(|g| g.value.clone()).collect(),
            key_name: self.key_name.as_ref().map(|k| k.value.clone()),
        }
    }

    /// `cellar config`'s entries for these settings (see `ServerConfig::entries`).
    pub(crate) fn entries(&self, out: &mut Vec<(String, String, Source)>) {
        fn some<T>(
            out: &mut Vec<(String, String, Source)>,
            name: &str,
            v: &Option<Sourced<T>>,
            f: impl Fn(&T) -> String,
        ) {
            match v {
                Some(v) => out.push((name.to_string(), f(&v.value), v.source.clone())),
                None => out.push((name.to_string(), "None".to_string(), Source::default_value())),
            }
        }
        fn one<T>(out: &mut Vec<(String, String, Source)>, name: &str, v: &Sourced<T>, f: impl Fn(&T) -> String) {
            out.push((name.to_string(), f(&v.value), v.source.clone()));
        }
        let quote = |s: &str| format!("{s:?}");
        some(out, "instance_profile", &self.instance_profile, |v| quote(v.as_str()));
        let groups: Vec<String> = self.security_groups.value.iter().map(|g| quote(&g.value)).collect();
        one(out, "security_groups", &self.security_groups, |_| format!("[{}]", groups.join(", ")));
        some(out, "vpc", &self.vpc, |v| quote(v.as_str()));
        if self.subnets.is_empty() {
            out.push(("subnets".to_string(), "{}".to_string(), Source::default_value()));
        }
        for (zone, subnet) in &self.subnets {
            out.push((format!("subnets.{zone}"), quote(subnet.value.as_str()), subnet.source.clone()));
        }
        some(out, "key_name", &self.key_name, |v| quote(v.as_str()));
        one(out, "metadata.http_tokens", &self.http_tokens, |v| format!("{v:?}"));
        some(out, "metadata.hop_limit", &self.hop_limit, |v| v.to_string());
        one(out, "ebs.type", &self.ebs.volume_type, |v| v.to_string());
        some(out, "ebs.iops", &self.ebs.iops, |v| v.to_string());
        some(out, "ebs.throughput", &self.ebs.throughput, |v| v.to_string());
        one(out, "ebs.encrypted", &self.ebs.encrypted, |v| v.to_string());
        some(out, "ebs.kms_key", &self.ebs.kms_key, |v| quote(v));
        some(out, "root_volume_gb", &self.root_volume_gb, |v| v.to_string());
    }
}

/// The typed launch settings of a merged, validated layer (defaults where no layer gives a
/// value; values that did not validate are left out, which only happens for layers whose
/// problems are reported).
pub(crate) fn build(l: &LaunchLayer) -> LaunchConfig {
    fn num<T: TryFrom<i64>>(v: &Option<Sourced<i64>>) -> Option<Sourced<T>> {
        let v = v.as_ref()?;
        Some(Sourced { value: T::try_from(v.value).ok()?, source: v.source.clone() })
    }
    fn map<T>(v: &Option<Sourced<String>>, f: impl Fn(&str) -> T) -> Option<Sourced<T>> {
        v.as_ref().map(|v| Sourced { value: f(&v.value), source: v.source.clone() })
    }
    LaunchConfig {
        instance_profile: map(&l.instance_profile, |s| InstanceProfile::new(s)),
        security_groups: l.security_groups.clone().unwrap_or_else(|| Sourced::default_value(Vec::new())),
        vpc: map(&l.vpc, |s| VpcId::new(s)),
        subnets: l
            .subnets
            .iter()
            .filter_map(|(k, (v, _))| {
                let letter = super::validate::zone_letter(k)?;
                Some((letter, Sourced { value: SubnetId::new(v.value.as_str()), source: v.source.clone() }))
            })
            .collect(),
        key_name: map(&l.key_name, |s| KeyName::new(s)),
        http_tokens: l.http_tokens.clone().unwrap_or_else(|| Sourced::default_value(HttpTokens::Required)),
        hop_limit: num(&l.hop_limit),
        ebs: EbsConfig {
            volume_type: l.volume_type.clone().unwrap_or_else(|| Sourced::default_value(VolumeType::Gp3)),
            iops: num(&l.iops),
            throughput: num(&l.throughput),
            encrypted: l.encrypted.clone().unwrap_or_else(|| Sourced::default_value(true)),
            kms_key: l.kms_key.clone(),
        },
        root_volume_gb: num(&l.root_volume_gb),
    }
}
