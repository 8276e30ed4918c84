//! Whether the launch settings make sense: each value where it is written (ids, names,
//! ranges), combinations (EBS type with IOPS, throughput, size and KMS key; subnets'
//! zones with the region), and the instance profile every server's agent needs.

use super::launch::LaunchLayer;
use super::layer::{example, Layer};
use super::validate::zone_letter;
use super::{Problem, Source, Sourced};
use crate::catalog::{self, ebs_limits, ebs_problems, EbsField, EbsRequest};
use crate::model::{ServerName, VolumeType};

/// Most security groups AWS allows on one network interface (5 until the quota is raised).
pub(crate) const MAX_SECURITY_GROUPS: usize = 16;
/// The instance metadata service's hop limits.
const HOP_LIMITS: std::ops::RangeInclusive<i64> = 1..=64;

fn problem(source: &Source, message: String, fix: Option<String>) -> Problem {
    Problem { source: source.clone(), message, fix }
}

/// `prefix-` and 8 or 17 lowercase hex digits (`sg-0123456789abcdef0`).
pub(crate) fn is_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// An IAM name: 1 to 128 of letters, digits and `+=,.@_-`.
fn is_iam_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// Why an instance profile (name or ARN) is not one, if it is not.
fn profile_problem(value: &str) -> Option<String> {
    let Some(rest) = value.strip_prefix("arn:") else {
        return (!is_iam_name(value))
            .then(|| "an instance profile name is 1 to 128 letters, digits and +=,.@_- (or give its ARN)".to_string());
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let ok = match parts.as_slice() {
        [partition, "iam", "", account, resource] => {
            partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("instance-profile/").is_some_and(|path| path.split('/').all(is_iam_name))
        }
        _ => false,
    };
    (!ok).then(|| "an instance profile ARN looks like arn:aws:iam::123456789012:instance-profile/NAME".to_string())
}

/// Why a security group name is not one, if it is not (AWS: up to 255 characters of
/// letters, digits, spaces and `._-:/()#,@[]+=&;{}!$*`).
fn group_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.chars().count() > 255 {
        Some("a security group name is 1 to 255 characters")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)) {
        Some("a security group name has only letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*")
    } else {
        None
    }
}

/// A KMS key id, alias, or the ARN of either.
fn is_kms_key(value: &str) -> bool {
    let key_id = |id: &str| {
        let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
        let parts: Vec<&str> = id.split('-').collect();
        let uuid = matches!(parts.as_slice(), [a, b, c, d, e] if hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12));
        uuid || id.strip_prefix("mrk-").is_some_and(|h| hex(h, 32))
    };
    let alias = |a: &str| {
        a.strip_prefix("alias/")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c)))
    };
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return match parts.as_slice() {
            [partition, "kms", region, account, resource] => {
                partition.starts_with("aws")
                    && !region.is_empty()
                    && account.len() == 12
                    && (resource.strip_prefix("key/").is_some_and(key_id) || alias(resource))
            }
            _ => false,
        };
    }
    key_id(value) || alias(value)
}

/// Problems with the launch settings one file sets, each at the value.
pub(crate) fn layer_problems(l: &LaunchLayer, out: &mut Vec<Problem>) {
    if let Some(Sourced { value, source }) = &l.instance_profile {
        if let Some(why) = profile_problem(value) {
            out.push(problem(source, format!("invalid instance profile {value:?}: {why}"), None));
        }
    }
    network_problems(l, out);
    if let Some(Sourced { value, source }) = &l.key_name {
        if value.is_empty() || value.len() > 255 || !value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
            out.push(problem(
                source,
                format!("invalid key pair name {value:?}: AWS allows 1 to 255 ASCII characters"),
                None,
            ));
        }
    }
    if let Some(Sourced { value, source }) = &l.hop_limit {
        if !HOP_LIMITS.contains(value) {
            out.push(problem(
                source,
                format!(
                    "metadata.hop_limit must be between {} and {}, not {value}",
                    HOP_LIMITS.start(),
                    HOP_LIMITS.end()
                ),
                None,
            ));
        }
    }
    number_problems(l, out);
    if let Some(Sourced { value, source }) = &l.kms_key {
        if !is_kms_key(value) {
            out.push(problem(
                source,
                format!("invalid KMS key {value:?}"),
                Some(
                    "give a key id (1234abcd-12ab-34cd-56ef-1234567890ab), an alias (alias/NAME) or the ARN of either"
                        .into(),
                ),
            ));
        }
    }
}

/// Security groups, the VPC and the subnets, each on its own.
fn network_problems(l: &LaunchLayer, out: &mut Vec<Problem>) {
    if let Some(groups) = &l.security_groups {
        let mut seen: Vec<&str> = Vec::new();
        for Sourced { value, source } in &groups.value {
            if value.starts_with("sg-") && !is_id(value, "sg") {
                out.push(problem(
                    source,
                    format!("{value:?} is not a security group id (sg- and 8 or 17 hex digits); names cannot start with sg-"),
                    None,
                ));
            } else if let Some(why) = (!value.starts_with("sg-")).then(|| group_name_problem(value)).flatten() {
                out.push(problem(source, format!("invalid security group name {value:?}: {why}"), None));
            }
            if seen.contains(&value.as_str()) {
                out.push(problem(
                    source,
                    format!("security group {value:?} is given twice"),
                    Some("remove one of them".into()),
                ));
            }
            seen.push(value);
        }
        if groups.value.len() > MAX_SECURITY_GROUPS {
            out.push(problem(
                &groups.source,
                format!(
                    "{} security groups: AWS allows at most {MAX_SECURITY_GROUPS} per network interface (5 unless the quota was raised)",
                    groups.value.len()
                ),
                None,
            ));
        }
    }
    if let Some(Sourced { value, source }) = &l.vpc {
        if !is_id(value, "vpc") {
            out.push(problem(source, format!("{value:?} is not a VPC id (vpc- and 8 or 17 hex digits)"), None));
        }
    }
    for (zone, (subnet, value_source)) in &l.subnets {
        if zone_letter(zone).is_none() {
            out.push(problem(
                &subnet.source,
                format!("subnets are keyed by zone letter such as \"a\", not {zone:?}"),
                Some(format!("write it like `{}`", example("subnets"))),
            ));
        }
        if !is_id(&subnet.value, "subnet") {
            out.push(problem(
                value_source,
                format!("{:?} is not a subnet id (subnet- and 8 or 17 hex digits)", subnet.value),
                None,
            ));
        }
    }
}

/// IOPS, throughput and the root volume's size, each on its own.
fn number_problems(l: &LaunchLayer, out: &mut Vec<Problem>) {
    for (name, v) in [("ebs.iops", &l.iops), ("ebs.throughput", &l.throughput)] {
        if let Some(Sourced { value, source }) = v {
            if *value < 1 || *value > i64::from(u32::MAX) {
                out.push(problem(source, format!("{name} must be a positive number, not {value}"), None));
            }
        }
    }
    if let Some(Sourced { value, source }) = &l.root_volume_gb {
        let gp3 = ebs_limits(VolumeType::Gp3);
        if *value < i64::from(gp3.min_gb) || *value > i64::from(gp3.max_gb) {
            out.push(problem(
                source,
                format!(
                    "root_volume_gb must be between {} and {} (GiB, a gp3 root volume), not {value}",
                    gp3.min_gb, gp3.max_gb
                ),
                None,
            ));
        }
    }
}

/// Launch settings that are fine alone but not together: a subnet for a zone the region
/// does not have; an EBS type with IOPS, throughput, size or KMS key it does not take (in
/// one file only when it names the type; merged always). Reported at the later value by
/// `rank`, as `validate::combination_problems` does.
pub(crate) fn combination_problems(
    layer: &Layer,
    rank: &dyn Fn(&Source) -> usize,
    merged: bool,
    out: &mut Vec<Problem>,
) {
    let later = |a: &Source, b: &Source| if rank(b) > rank(a) { b.clone() } else { a.clone() };
    if let Some(region) = &layer.region {
        if let Some(letters) = catalog::zone_letters(&region.value) {
            for (zone, (subnet, _)) in &layer.settings.subnets {
                if zone_letter(zone).is_some_and(|z| !letters.contains(z)) {
                    let list: Vec<String> = letters.chars().map(String::from).collect();
                    out.push(problem(
                        &later(&subnet.source, &region.source),
                        format!(
                            "subnets names zone {zone:?}, which region {} does not have (its zones are {})",
                            region.value,
                            list.join(", ")
                        ),
                        None,
                    ));
                }
            }
        }
    }
    let l = &layer.settings;
    if let (Some(kind), Some(key)) = (&layer.launch, &l.kms_key) {
        if kind.value == super::LaunchKind::Configuration {
            out.push(problem(
                &later(&kind.source, &key.source),
                "ebs.kms_key cannot go with `launch: Configuration`: a launch configuration cannot name a KMS key for the root volume".into(),
                Some("use `launch: Template`, or leave kms_key out (the account's default EBS key)".into()),
            ));
        }
    }
    if !merged && l.volume_type.is_none() {
        return;
    }
    let positive = |v: &Option<Sourced<i64>>| v.as_ref().and_then(|v| u32::try_from(v.value).ok()).filter(|v| *v > 0);
    let request = EbsRequest {
        volume_type: l.volume_type.as_ref().map_or(VolumeType::Gp3, |t| t.value),
        size_gb: positive(&layer.ebs_size_gb).filter(|s| *s <= catalog::EBS_ANY_MAX_GB),
        iops: positive(&l.iops),
        throughput: positive(&l.throughput),
        encrypted: l.encrypted.as_ref().is_none_or(|e| e.value),
        kms_key: l.kms_key.is_some(),
    };
    for p in ebs_problems(&request) {
        let field = match p.field() {
            EbsField::Size => layer.ebs_size_gb.as_ref().map(|v| &v.source),
            EbsField::Iops => l.iops.as_ref().map(|v| &v.source),
            EbsField::Throughput => l.throughput.as_ref().map(|v| &v.source),
            EbsField::KmsKey => l.kms_key.as_ref().map(|v| &v.source),
        };
        let type_source = l.volume_type.as_ref().map(|t| &t.source).or(l.encrypted.as_ref().map(|e| &e.source));
        let at = match (field, type_source) {
            (Some(f), Some(t)) => later(f, t),
            (Some(s), None) | (None, Some(s)) => s.clone(),
            (None, None) => layer_start(layer),
        };
        out.push(problem(&at, format!("ebs: {p}"), Some(p.fix())));
    }
}

fn layer_start(layer: &Layer) -> Source {
    Source { file: layer.file.clone(), line: 1, column: 1 }
}

/// A server without an instance profile: its agent has no permissions at all.
pub(crate) fn missing_profile(name: &ServerName, chain: &[&Layer], merged: &Layer) -> Option<Problem> {
    if merged.settings.instance_profile.is_some() || merged.failed.contains("instance_profile") {
        return None;
    }
    let files: Vec<String> = chain.iter().map(|l| l.file.display().to_string()).collect();
    Some(problem(
        &layer_start(merged),
        format!(
            "server {name} has no `instance_profile`: its agent (cellar agent, in the user data) calls EC2 with the instance's role, so without one it cannot attach the data volume or associate the address"
        ),
        Some(format!(
            "create an instance profile whose role allows docs/agent-iam-policy.json, and set `{}` in {}",
            example("instance_profile"),
            files.join(" or ")
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_profiles_and_keys() {
        for (value, prefix, ok) in [
            ("sg-0123abcd", "sg", true),
            ("sg-0123456789abcdef0", "sg", true),
            ("sg-0123ABCD", "sg", false),
            ("sg-0123abc", "sg", false),
            ("vpc-0123abcd", "sg", false),
            ("subnet-0123456789abcdef0", "subnet", true),
        ] {
            assert_eq!(is_id(value, prefix), ok, "{value}");
        }
        for (value, ok) in [
            ("cellar-agent", true),
            ("arn:aws:iam::123456789012:instance-profile/cellar-agent", true),
            ("arn:aws:iam::123456789012:instance-profile/team/cellar-agent", true),
            ("arn:aws:iam::12345:instance-profile/cellar-agent", false),
            ("arn:aws:iam::123456789012:role/cellar-agent", false),
            ("cellar agent", false),
            ("", false),
        ] {
            assert_eq!(profile_problem(value).is_none(), ok, "{value}");
        }
        for (value, ok) in [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", true),
            ("mrk-1234abcd12ab34cd56ef1234567890ab", true),
            ("alias/ebs", true),
            ("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true),
            ("arn:aws:kms:us-east-1:123456789012:alias/ebs", true),
            ("ebs", false),
            ("arn:aws:kms:us-east-1:123456789012:key/nope", false),
        ] {
            assert_eq!(is_kms_key(value), ok, "{value}");
        }
    }
}
