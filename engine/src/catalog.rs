//! Static AWS knowledge that validation needs without asking a cloud: regions and their
//! zone letters, instance types and the architectures they run, EBS limits by volume type.
//!
//! A backend may still offer less than the catalog (the simulator's default world has
//! fewer zones); the planner checks zones against the inventory it read.

mod ebs;

pub use ebs::*;

use crate::model::Architecture;

/// The small instance type of a workspace ("always small instances") for an architecture.
pub fn workspace_instance_type(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "t3.small",
        Architecture::Arm64 => "t4g.small",
        Architecture::I386 => "m1.small",
    }
}

/// (region, zone letters) for the regions cellar knows.
pub const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "abcdef"),
    ("us-east-2", "abc"),
    ("us-west-1", "ac"),
    ("us-west-2", "abcd"),
    ("ca-central-1", "abd"),
    ("eu-west-1", "abc"),
    ("eu-west-2", "abc"),
    ("eu-central-1", "abc"),
    ("ap-northeast-1", "acd"),
    ("ap-southeast-1", "abc"),
    ("ap-southeast-2", "abc"),
    ("sa-east-1", "abc"),
];

/// Zone letters of a known region.
pub fn zone_letters(region: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(r, _)| *r == region).map(|(_, z)| *z)
}

/// (instance type, architectures it runs). Old generation types (m1.*) run i386 and x86_64,
/// Graviton types (t4g, m6g, c6g) arm64, current Intel/AMD types x86_64.
pub const INSTANCE_TYPES: &[(&str, &[Architecture])] = &[
    ("t1.micro", &[Architecture::I386, Architecture::X86_64]),
    ("m1.small", &[Architecture::I386, Architecture::X86_64]),
    ("m1.medium", &[Architecture::I386, Architecture::X86_64]),
    ("m1.large", &[Architecture::X86_64]),
    ("m1.xlarge", &[Architecture::X86_64]),
    ("c1.medium", &[Architecture::I386, Architecture::X86_64]),
    ("t2.micro", &[Architecture::X86_64]),
    ("t2.small", &[Architecture::X86_64]),
    ("t2.medium", &[Architecture::X86_64]),
    ("t3.nano", &[Architecture::X86_64]),
    ("t3.micro", &[Architecture::X86_64]),
    ("t3.small", &[Architecture::X86_64]),
    ("t3.medium", &[Architecture::X86_64]),
    ("t3.large", &[Architecture::X86_64]),
    ("t3.xlarge", &[Architecture::X86_64]),
    ("m5.large", &[Architecture::X86_64]),
    ("m5.xlarge", &[Architecture::X86_64]),
    ("m5.2xlarge", &[Architecture::X86_64]),
    ("c5.large", &[Architecture::X86_64]),
    ("c5.xlarge", &[Architecture::X86_64]),
    ("r5.large", &[Architecture::X86_64]),
    ("m6i.large", &[Architecture::X86_64]),
    ("m6i.xlarge", &[Architecture::X86_64]),
    ("t4g.micro", &[Architecture::Arm64]),
    ("t4g.small", &[Architecture::Arm64]),
    ("t4g.medium", &[Architecture::Arm64]),
    ("m6g.large", &[Architecture::Arm64]),
    ("c6g.large", &[Architecture::Arm64]),
];

/// The architectures an instance type runs, or `None` for a type cellar does not know.
pub fn instance_type_architectures(instance_type: &str) -> Option<&'static [Architecture]> {
    INSTANCE_TYPES.iter().find(|(t, _)| *t == instance_type).map(|(_, a)| *a)
}

/// The known instance type closest in spelling, for "did you mean" hints.
pub fn suggest_instance_type(instance_type: &str) -> Option<&'static str> {
    INSTANCE_TYPES
        .iter()
        .map(|(t, _)| (edit_distance(t, instance_type), *t))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, t)| t)
}

/// Levenshtein distance, for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(zone_letters("us-east-1"), Some("abcdef"));
        assert_eq!(zone_letters("mars-north-1"), None);
        assert_eq!(instance_type_architectures("t4g.small"), Some(&[Architecture::Arm64][..]));
        assert_eq!(instance_type_architectures("m9.huge"), None);
        for (input, expected) in [("m5.larg", Some("m5.large")), ("t3.smal", Some("t3.small")), ("zzz", None)] {
            assert_eq!(suggest_instance_type(input), expected, "input {input}");
        }
    }
}
