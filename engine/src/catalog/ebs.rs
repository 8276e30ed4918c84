//! EBS limits by volume type, from AWS's CreateVolume reference and the EBS volume types
//! guide: sizes, provisioned IOPS (range, ratio to size, whether required), provisioned
//! throughput (gp3 only: range, ratio to IOPS). One check, [`ebs_problems`], used by
//! `cellar check`, the planner (sizes from the command line) and the simulator's
//! CreateVolume, which answers each problem with AWS's error code ([`EbsProblem::aws_code`]).

use crate::model::VolumeType;
use std::fmt;

/// Provisioned IOPS a volume type accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IopsLimits {
    pub min: u32,
    pub max: u32,
    /// At most this many IOPS per GiB of size (above `baseline`).
    pub per_gb: u32,
    /// CreateVolume refuses the type without `Iops` (io1, io2).
    pub required: bool,
    /// What the volume gets without `Iops` (gp3: 3,000), free of the ratio to size.
    pub baseline: Option<u32>,
}

/// Provisioned throughput (MiB/s) a volume type accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThroughputLimits {
    pub min: u32,
    pub max: u32,
    /// What the volume gets without `Throughput` (gp3: 125 MiB/s).
    pub baseline: u32,
    /// At most one MiB/s per this many provisioned IOPS (gp3: 0.25 MiB/s per IOPS, so 4).
    pub iops_per_mib: u32,
}

/// What one volume type allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EbsLimits {
    pub volume_type: VolumeType,
    pub min_gb: u32,
    pub max_gb: u32,
    pub iops: Option<IopsLimits>,
    pub throughput: Option<ThroughputLimits>,
    /// Whether an instance can boot from it (st1 and sc1 cannot).
    pub bootable: bool,
}

const GP3_IOPS: IopsLimits =
    IopsLimits { min: 3_000, max: 80_000, per_gb: 500, required: false, baseline: Some(3_000) };
const GP3_THROUGHPUT: ThroughputLimits = ThroughputLimits { min: 125, max: 2_000, baseline: 125, iops_per_mib: 4 };

/// Every volume type's limits.
pub const EBS_LIMITS: [EbsLimits; 6] = [
    EbsLimits {
        volume_type: VolumeType::Gp3,
        min_gb: 1,
        max_gb: 65_536,
        iops: Some(GP3_IOPS),
        throughput: Some(GP3_THROUGHPUT),
        bootable: true,
    },
    EbsLimits { volume_type: VolumeType::Gp2, min_gb: 1, max_gb: 16_384, iops: None, throughput: None, bootable: true },
    EbsLimits {
        volume_type: VolumeType::Io1,
        min_gb: 4,
        max_gb: 16_384,
        iops: Some(IopsLimits { min: 100, max: 64_000, per_gb: 50, required: true, baseline: None }),
        throughput: None,
        bootable: true,
    },
    EbsLimits {
        volume_type: VolumeType::Io2,
        min_gb: 4,
        max_gb: 65_536,
        iops: Some(IopsLimits { min: 100, max: 256_000, per_gb: 1_000, required: true, baseline: None }),
        throughput: None,
        bootable: true,
    },
    EbsLimits {
        volume_type: VolumeType::St1,
        min_gb: 125,
        max_gb: 16_384,
        iops: None,
        throughput: None,
        bootable: false,
    },
    EbsLimits {
        volume_type: VolumeType::Sc1,
        min_gb: 125,
        max_gb: 16_384,
        iops: None,
        throughput: None,
        bootable: false,
    },
];

/// The smallest size any type allows, and the largest (what a size on the command line
/// may be before the server's type is known).
pub const EBS_ANY_MIN_GB: u32 = 1;
pub const EBS_ANY_MAX_GB: u32 = 65_536;

/// The limits of a volume type.
pub fn ebs_limits(volume_type: VolumeType) -> &'static EbsLimits {
    EBS_LIMITS.iter().find(|l| l.volume_type == volume_type).unwrap_or(&EBS_LIMITS[0])
}

/// Which setting a problem is about (so a caller can point at where it was given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EbsField {
    Size,
    Iops,
    Throughput,
    KmsKey,
}

/// Something CreateVolume refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EbsProblem {
    SizeOutOfRange { volume_type: VolumeType, size_gb: u32, min: u32, max: u32 },
    IopsNotSupported { volume_type: VolumeType },
    IopsRequired { volume_type: VolumeType },
    IopsOutOfRange { volume_type: VolumeType, iops: u32, min: u32, max: u32 },
    IopsPerGbTooHigh { volume_type: VolumeType, iops: u32, size_gb: u32, per_gb: u32 },
    ThroughputNotSupported { volume_type: VolumeType },
    ThroughputOutOfRange { throughput: u32, min: u32, max: u32 },
    ThroughputPerIopsTooHigh { throughput: u32, iops: u32, iops_per_mib: u32 },
    KmsKeyWithoutEncryption,
}

impl EbsProblem {
    /// The error code CreateVolume answers with.
    pub fn aws_code(&self) -> &'static str {
        match self {
            EbsProblem::IopsNotSupported { .. }
            | EbsProblem::IopsRequired { .. }
            | EbsProblem::ThroughputNotSupported { .. } => "InvalidParameterCombination",
            EbsProblem::KmsKeyWithoutEncryption => "InvalidParameterDependency",
            _ => "InvalidParameterValue",
        }
    }

    /// The setting to change.
    pub fn field(&self) -> EbsField {
        match self {
            EbsProblem::SizeOutOfRange { .. } | EbsProblem::IopsPerGbTooHigh { .. } => EbsField::Size,
            EbsProblem::IopsNotSupported { .. }
            | EbsProblem::IopsRequired { .. }
            | EbsProblem::IopsOutOfRange { .. } => EbsField::Iops,
            EbsProblem::ThroughputNotSupported { .. }
            | EbsProblem::ThroughputOutOfRange { .. }
            | EbsProblem::ThroughputPerIopsTooHigh { .. } => EbsField::Throughput,
            EbsProblem::KmsKeyWithoutEncryption => EbsField::KmsKey,
        }
    }

    /// How to fix it, in words.
    pub fn fix(&self) -> String {
        match self {
            EbsProblem::SizeOutOfRange { min, max, .. } => {
                format!("use a size from {min} to {max} GiB, or another type")
            }
            EbsProblem::IopsNotSupported { .. } => "remove iops, or use gp3, io1 or io2".into(),
            EbsProblem::IopsRequired { volume_type } => {
                let l = ebs_limits(*volume_type).iops.unwrap_or(GP3_IOPS);
                format!("set iops ({} to {})", l.min, l.max)
            }
            EbsProblem::IopsOutOfRange { min, max, .. } => format!("set iops from {min} to {max}"),
            EbsProblem::IopsPerGbTooHigh { iops, per_gb, .. } => {
                format!("make the volume at least {} GiB, or provision fewer IOPS", iops.div_ceil(*per_gb))
            }
            EbsProblem::ThroughputNotSupported { .. } => "remove throughput, or use gp3".into(),
            EbsProblem::ThroughputOutOfRange { min, max, .. } => format!("set throughput from {min} to {max} MiB/s"),
            EbsProblem::ThroughputPerIopsTooHigh { throughput, iops_per_mib, .. } => {
                format!("provision at least {} IOPS, or less throughput", throughput * iops_per_mib)
            }
            EbsProblem::KmsKeyWithoutEncryption => "set encrypted: true, or remove kms_key".into(),
        }
    }
}

impl fmt::Display for EbsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EbsProblem::SizeOutOfRange { volume_type, size_gb, min, max } => {
                write!(f, "a {volume_type} volume of {size_gb} GiB is outside {volume_type}'s sizes, {min} to {max} GiB")
            }
            EbsProblem::IopsNotSupported { volume_type } => {
                write!(f, "{volume_type} volumes take no provisioned IOPS (only gp3, io1 and io2 do)")
            }
            EbsProblem::IopsRequired { volume_type } => {
                write!(f, "{volume_type} volumes need provisioned IOPS (the iops setting)")
            }
            EbsProblem::IopsOutOfRange { volume_type, iops, min, max } => {
                write!(f, "{iops} IOPS is outside {volume_type}'s range, {min} to {max} IOPS")
            }
            EbsProblem::IopsPerGbTooHigh { volume_type, iops, size_gb, per_gb } => write!(
                f,
                "{iops} IOPS on {size_gb} GiB is more than {volume_type}'s maximum of {per_gb} IOPS per GiB ({} IOPS)",
                u64::from(*per_gb) * u64::from(*size_gb)
            ),
            EbsProblem::ThroughputNotSupported { volume_type } => {
                write!(f, "{volume_type} volumes take no provisioned throughput (only gp3 does)")
            }
            EbsProblem::ThroughputOutOfRange { throughput, min, max } => {
                write!(f, "{throughput} MiB/s is outside gp3's throughput range, {min} to {max} MiB/s")
            }
            EbsProblem::ThroughputPerIopsTooHigh { throughput, iops, iops_per_mib } => write!(
                f,
                "{throughput} MiB/s is more than gp3 allows with {iops} IOPS: at most 1 MiB/s per {iops_per_mib} IOPS ({} MiB/s)",
                iops / iops_per_mib
            ),
            EbsProblem::KmsKeyWithoutEncryption => f.write_str("a KMS key is given but encryption is off"),
        }
    }
}

/// A volume's settings as CreateVolume would receive them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EbsRequest {
    pub volume_type: VolumeType,
    /// `None` when the size is not known yet (checked later).
    pub size_gb: Option<u32>,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key: bool,
}

/// Everything CreateVolume would refuse in `request`, in the order AWS checks: size,
/// IOPS, throughput, encryption.
pub fn ebs_problems(request: &EbsRequest) -> Vec<EbsProblem> {
    let limits = ebs_limits(request.volume_type);
    let volume_type = request.volume_type;
    let mut out = Vec::new();
    if let Some(size_gb) = request.size_gb.filter(|s| !(limits.min_gb..=limits.max_gb).contains(s)) {
        out.push(EbsProblem::SizeOutOfRange { volume_type, size_gb, min: limits.min_gb, max: limits.max_gb });
    }
    out.extend(iops_problems(request, limits));
    out.extend(throughput_problems(request, limits));
    if request.kms_key && !request.encrypted {
        out.push(EbsProblem::KmsKeyWithoutEncryption);
    }
    out
}

fn iops_problems(request: &EbsRequest, limits: &EbsLimits) -> Option<EbsProblem> {
    let volume_type = request.volume_type;
    let Some(l) = limits.iops else {
        return request.iops.map(|_| EbsProblem::IopsNotSupported { volume_type });
    };
    let Some(iops) = request.iops else {
        return l.required.then_some(EbsProblem::IopsRequired { volume_type });
    };
    if !(l.min..=l.max).contains(&iops) {
        return Some(EbsProblem::IopsOutOfRange { volume_type, iops, min: l.min, max: l.max });
    }
    let size_gb = request.size_gb?;
    let allowed = u64::from(l.per_gb) * u64::from(size_gb);
    let free = u64::from(l.baseline.unwrap_or(0));
    (u64::from(iops) > allowed.max(free)).then_some(EbsProblem::IopsPerGbTooHigh {
        volume_type,
        iops,
        size_gb,
        per_gb: l.per_gb,
    })
}

fn throughput_problems(request: &EbsRequest, limits: &EbsLimits) -> Option<EbsProblem> {
    let throughput = request.throughput?;
    let Some(l) = limits.throughput else {
        return Some(EbsProblem::ThroughputNotSupported { volume_type: request.volume_type });
    };
    if !(l.min..=l.max).contains(&throughput) {
        return Some(EbsProblem::ThroughputOutOfRange { throughput, min: l.min, max: l.max });
    }
    let iops = request.iops.or(limits.iops.and_then(|i| i.baseline)).unwrap_or(0);
    (throughput > l.baseline && u64::from(throughput) * u64::from(l.iops_per_mib) > u64::from(iops))
        .then_some(EbsProblem::ThroughputPerIopsTooHigh { throughput, iops, iops_per_mib: l.iops_per_mib })
}

#[cfg(test)]
mod tests {
    use super::*;
    use VolumeType::*;

    fn request(volume_type: VolumeType, size_gb: u32, iops: Option<u32>, throughput: Option<u32>) -> EbsRequest {
        EbsRequest { volume_type, size_gb: Some(size_gb), iops, throughput, encrypted: true, kms_key: false }
    }

    fn check(r: EbsRequest, expected: &[(&str, &str)]) {
        let got: Vec<(String, &str)> = ebs_problems(&r).iter().map(|p| (p.to_string(), p.aws_code())).collect();
        let expected: Vec<(String, &str)> = expected.iter().map(|(m, c)| (m.to_string(), *c)).collect();
        assert_eq!(got, expected, "{r:?}");
    }

    #[test]
    fn sizes_by_type_at_both_ends() {
        for l in EBS_LIMITS {
            let iops = l.iops.filter(|i| i.required).map(|i| i.min);
            check(request(l.volume_type, l.min_gb, iops, None), &[]);
            check(request(l.volume_type, l.max_gb, iops, None), &[]);
            let t = l.volume_type;
            let (min, max) = (l.min_gb, l.max_gb);
            check(
                request(t, min - 1, iops, None),
                &[(
                    &format!("a {t} volume of {} GiB is outside {t}'s sizes, {min} to {max} GiB", min - 1),
                    "InvalidParameterValue",
                )],
            );
            check(
                request(t, max + 1, iops, None),
                &[(
                    &format!("a {t} volume of {} GiB is outside {t}'s sizes, {min} to {max} GiB", max + 1),
                    "InvalidParameterValue",
                )],
            );
        }
    }

    #[test]
    fn iops_by_type() {
        check(request(Gp3, 20, None, None), &[]);
        check(request(Gp3, 20, Some(3_000), None), &[]);
        check(request(Gp3, 20, Some(10_000), None), &[]);
        check(
            request(Gp3, 20, Some(10_001), None),
            &[(
                "10001 IOPS on 20 GiB is more than gp3's maximum of 500 IOPS per GiB (10000 IOPS)",
                "InvalidParameterValue",
            )],
        );
        // The baseline 3,000 IOPS hold for the smallest gp3 volume.
        check(request(Gp3, 1, Some(3_000), None), &[]);
        check(
            request(Gp3, 20, Some(2_999), None),
            &[("2999 IOPS is outside gp3's range, 3000 to 80000 IOPS", "InvalidParameterValue")],
        );
        check(
            request(Gp3, 200, Some(80_001), None),
            &[("80001 IOPS is outside gp3's range, 3000 to 80000 IOPS", "InvalidParameterValue")],
        );
        for t in [Gp2, St1, Sc1] {
            check(
                request(t, 500, Some(3_000), None),
                &[(
                    &format!("{t} volumes take no provisioned IOPS (only gp3, io1 and io2 do)"),
                    "InvalidParameterCombination",
                )],
            );
        }
        for t in [Io1, Io2] {
            check(
                request(t, 100, None, None),
                &[(&format!("{t} volumes need provisioned IOPS (the iops setting)"), "InvalidParameterCombination")],
            );
        }
        check(request(Io1, 100, Some(5_000), None), &[]);
        check(
            request(Io1, 100, Some(5_001), None),
            &[(
                "5001 IOPS on 100 GiB is more than io1's maximum of 50 IOPS per GiB (5000 IOPS)",
                "InvalidParameterValue",
            )],
        );
        check(request(Io2, 100, Some(100_000), None), &[]);
        check(
            request(Io2, 300, Some(256_001), None),
            &[("256001 IOPS is outside io2's range, 100 to 256000 IOPS", "InvalidParameterValue")],
        );
    }

    #[test]
    fn throughput_is_gp3_only_and_bounded_by_iops() {
        check(request(Gp3, 20, None, Some(125)), &[]);
        check(request(Gp3, 20, None, Some(750)), &[]);
        check(
            request(Gp3, 20, None, Some(751)),
            &[(
                "751 MiB/s is more than gp3 allows with 3000 IOPS: at most 1 MiB/s per 4 IOPS (750 MiB/s)",
                "InvalidParameterValue",
            )],
        );
        check(request(Gp3, 20, Some(8_000), Some(2_000)), &[]);
        check(
            request(Gp3, 20, None, Some(124)),
            &[("124 MiB/s is outside gp3's throughput range, 125 to 2000 MiB/s", "InvalidParameterValue")],
        );
        check(
            request(Gp3, 200, Some(9_000), Some(2_001)),
            &[("2001 MiB/s is outside gp3's throughput range, 125 to 2000 MiB/s", "InvalidParameterValue")],
        );
        for t in [Gp2, St1, Sc1] {
            check(
                request(t, 500, None, Some(250)),
                &[(
                    &format!("{t} volumes take no provisioned throughput (only gp3 does)"),
                    "InvalidParameterCombination",
                )],
            );
        }
        check(
            request(Io2, 100, Some(1_000), Some(250)),
            &[("io2 volumes take no provisioned throughput (only gp3 does)", "InvalidParameterCombination")],
        );
    }

    #[test]
    fn a_kms_key_needs_encryption() {
        let r = EbsRequest { encrypted: false, kms_key: true, ..request(Gp3, 20, None, None) };
        check(r, &[("a KMS key is given but encryption is off", "InvalidParameterDependency")]);
        check(EbsRequest { encrypted: true, ..r }, &[]);
        check(EbsRequest { kms_key: false, ..r }, &[]);
    }

    #[test]
    fn an_unknown_size_checks_the_rest() {
        let r = EbsRequest { size_gb: None, ..request(Io1, 1, Some(64_000), None) };
        check(r, &[]);
        assert!(EBS_LIMITS.iter().all(|l| l.min_gb >= EBS_ANY_MIN_GB && l.max_gb <= EBS_ANY_MAX_GB));
    }
}
