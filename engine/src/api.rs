//! The AWS operations cellar uses, as one typed enum.
//!
//! Every call through [`crate::cloud::Cloud`] names its [`Api`]: the executor's client-side
//! token buckets, the simulator's server-side ones, "does this call change anything" (the
//! simulator's terminate-at-call fault counts mutating calls), log lines, and the test that
//! keeps `docs/iam-policy.json` in step with the AWS adapter all read it from here, so an
//! operation is never a string that one place spells differently from another.

use crate::limits::Bucket;
use std::fmt;

/// The AWS service an operation belongs to (the prefix of its IAM action).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Ec2,
    AutoScaling,
    /// STS: who the credentials are (`cellar doctor`).
    Sts,
    /// Not AWS: the system resolver (DNS lookups of the servers' host names).
    Dns,
}

impl Service {
    /// The IAM action prefix (`ec2`, `autoscaling`); `None` for what needs no AWS permission.
    pub fn iam_prefix(self) -> Option<&'static str> {
        match self {
            Service::Ec2 => Some("ec2"),
            Service::AutoScaling => Some("autoscaling"),
            Service::Sts => Some("sts"),
            Service::Dns => None,
        }
    }
}

macro_rules! apis {
    ($($(#[$doc:meta])* $variant:ident => $service:ident, $mutating:literal;)*) => {
        /// One AWS operation (or the DNS lookup) cellar makes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Api {
            $($(#[$doc])* $variant,)*
        }

        impl Api {
            /// Every operation, in declaration order.
            pub const ALL: &'static [Api] = &[$(Api::$variant,)*];

            /// The operation's name as AWS spells it (`DescribeInstances`).
            #[allow(unreachable_patterns)]
            pub fn name(self) -> &'static str {
                match self {
                    Api::DnsLookup => "DNS lookup",
                    $(Api::$variant => stringify!($variant),)*
                }
            }

            pub fn service(self) -> Service {
                match self {
                    $(Api::$variant => Service::$service,)*
                }
            }

            /// Whether the call changes anything (AWS's mutating/non-mutating split).
            pub fn is_mutating(self) -> bool {
                match self {
                    $(Api::$variant => $mutating,)*
                }
            }
        }
    };
}

apis! {
    DescribeRegions => Ec2, false;
    DescribeAvailabilityZones => Ec2, false;
    DescribeInstances => Ec2, false;
    DescribeVolumes => Ec2, false;
    DescribeAddresses => Ec2, false;
    DescribeImages => Ec2, false;
    DescribeSnapshots => Ec2, false;
    DescribeLaunchTemplates => Ec2, false;
    DescribeLaunchTemplateVersions => Ec2, false;
    DescribeVpcs => Ec2, false;
    DescribeSubnets => Ec2, false;
    DescribeSecurityGroups => Ec2, false;
    /// The key pairs of the region (whether a configured `key_name` exists).
    DescribeKeyPairs => Ec2, false;
    /// An instance's console output (what its agent printed at boot; `status` reads it).
    GetConsoleOutput => Ec2, false;
    CreateVolume => Ec2, true;
    DeleteVolume => Ec2, true;
    AttachVolume => Ec2, true;
    DetachVolume => Ec2, true;
    AllocateAddress => Ec2, true;
    ReleaseAddress => Ec2, true;
    AssociateAddress => Ec2, true;
    CreateTags => Ec2, true;
    DeleteTags => Ec2, true;
    RunInstances => Ec2, true;
    TerminateInstances => Ec2, true;
    CreateLaunchTemplate => Ec2, true;
    CreateLaunchTemplateVersion => Ec2, true;
    DeleteLaunchTemplate => Ec2, true;
    CreateImage => Ec2, true;
    CopyImage => Ec2, true;
    CreateSnapshot => Ec2, true;
    DescribeAutoScalingGroups => AutoScaling, false;
    DescribeAutoScalingInstances => AutoScaling, false;
    DescribeScalingActivities => AutoScaling, false;
    DescribeLaunchConfigurations => AutoScaling, false;
    CreateLaunchConfiguration => AutoScaling, true;
    DeleteLaunchConfiguration => AutoScaling, true;
    CreateAutoScalingGroup => AutoScaling, true;
    UpdateAutoScalingGroup => AutoScaling, true;
    CreateOrUpdateTags => AutoScaling, true;
    AttachInstances => AutoScaling, true;
    DeleteAutoScalingGroup => AutoScaling, true;
    /// Who the credentials are (`cellar doctor`). AWS requires no permission for it: an
    /// explicit deny does not stop it, so it is in no policy ([`Api::iam_action`] is `None`).
    GetCallerIdentity => Sts, false;
    /// A DNS lookup of a host name (the system resolver on AWS; the world's table in the simulator).
    DnsLookup => Dns, false;
}

impl Api {
    /// The token bucket the call draws from; `unfiltered` marks a describe of everything.
    pub fn bucket(self, unfiltered: bool) -> Bucket {
        match self {
            Api::DescribeInstances | Api::DescribeVolumes if unfiltered => Bucket::UnfilteredDescribe,
            Api::RunInstances => Bucket::RunInstances,
            Api::TerminateInstances => Bucket::TerminateInstances,
            Api::CreateVolume | Api::DeleteVolume => Bucket::VolumeCreateDelete,
            Api::CreateTags | Api::DeleteTags => Bucket::Tags,
            api if !api.is_mutating() => Bucket::NonMutating,
            _ => Bucket::Mutating,
        }
    }

    /// The IAM action that allows the call (`ec2:DescribeInstances`); `None` for DNS and
    /// for STS GetCallerIdentity, which needs no permission.
    pub fn iam_action(self) -> Option<String> {
        if self == Api::GetCallerIdentity {
            return None;
        }
        Some(format!("{}:{}", self.service().iam_prefix()?, self.name()))
    }

    /// Reads an operation name back (`DescribeInstances`, or `DNS lookup`).
    pub fn parse(name: &str) -> Option<Api> {
        Api::ALL.iter().copied().find(|a| a.name() == name)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(api: Api, unfiltered: bool, expected: Bucket) {
        assert_eq!(api.bucket(unfiltered), expected, "{api} unfiltered={unfiltered}");
    }

    #[test]
    fn calls_map_to_buckets() {
        check(Api::DescribeInstances, true, Bucket::UnfilteredDescribe);
        check(Api::DescribeInstances, false, Bucket::NonMutating);
        check(Api::DescribeAddresses, true, Bucket::NonMutating);
        check(Api::RunInstances, false, Bucket::RunInstances);
        check(Api::TerminateInstances, false, Bucket::TerminateInstances);
        check(Api::CreateVolume, false, Bucket::VolumeCreateDelete);
        check(Api::DeleteTags, false, Bucket::Tags);
        check(Api::AttachVolume, false, Bucket::Mutating);
        check(Api::DeleteAutoScalingGroup, false, Bucket::Mutating);
        check(Api::DnsLookup, false, Bucket::NonMutating);
    }

    #[test]
    fn names_round_trip_and_reads_do_not_mutate() {
        for &api in Api::ALL {
            assert_eq!(Api::parse(api.name()), Some(api));
            let reads = api.name().starts_with("Describe") || api.name().starts_with("Get") || api == Api::DnsLookup;
            assert_eq!(api.is_mutating(), !reads, "{api}");
        }
        assert_eq!(Api::DescribeInstances.iam_action().as_deref(), Some("ec2:DescribeInstances"));
        assert_eq!(Api::AttachInstances.iam_action().as_deref(), Some("autoscaling:AttachInstances"));
        assert_eq!(Api::DnsLookup.iam_action(), None);
        assert_eq!(Api::GetCallerIdentity.iam_action(), None);
        assert_eq!(Api::GetCallerIdentity.service(), Service::Sts);
    }
}
