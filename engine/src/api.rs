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
    /// EC2's status checks and scheduled events of running instances (`cellar watch`).
    DescribeInstanceStatus => Ec2, false;
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
    /// Retention and restore: a snapshot deleted, or copied to another region.
    DeleteSnapshot => Ec2, true;
    CopySnapshot => Ec2, true;
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
    /// The token buckets the call draws from (a token from each; see [`crate::limits`]):
    /// an EC2 action's own request bucket, or for a describe of instances, volumes,
    /// snapshots or security groups sent without a filter (`unfiltered`: cellar's
    /// `Filter::All`, or a describe that takes none) its smaller unfiltered bucket;
    /// RunInstances and TerminateInstances also a resource bucket (one instance a call);
    /// every Auto Scaling action the one Auto Scaling bucket; STS and DNS none.
    pub fn buckets(self, unfiltered: bool) -> Vec<Bucket> {
        match self.service() {
            Service::Sts | Service::Dns => return Vec::new(),
            Service::AutoScaling => return vec![Bucket::AutoScaling],
            Service::Ec2 => {}
        }
        match self {
            Api::DescribeInstances | Api::DescribeVolumes | Api::DescribeSnapshots | Api::DescribeSecurityGroups
                if unfiltered =>
            {
                vec![Bucket::Unfiltered(self)]
            }
            Api::RunInstances | Api::TerminateInstances => vec![Bucket::Request(self), Bucket::Resource(self)],
            _ => vec![Bucket::Request(self)],
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

    #[test]
    fn calls_map_to_buckets() {
        use Bucket::*;
        // (call, sent unfiltered, the buckets it draws from)
        let table: &[(Api, bool, &[Bucket])] = &[
            (Api::DescribeInstances, true, &[Unfiltered(Api::DescribeInstances)]),
            (Api::DescribeInstances, false, &[Request(Api::DescribeInstances)]),
            (Api::DescribeVolumes, true, &[Unfiltered(Api::DescribeVolumes)]),
            (Api::DescribeVolumes, false, &[Request(Api::DescribeVolumes)]),
            (Api::DescribeSecurityGroups, true, &[Unfiltered(Api::DescribeSecurityGroups)]),
            (Api::DescribeSnapshots, false, &[Request(Api::DescribeSnapshots)]),
            // Not in the unfiltered category: its own request bucket either way.
            (Api::DescribeAddresses, true, &[Request(Api::DescribeAddresses)]),
            (Api::DescribeImages, true, &[Request(Api::DescribeImages)]),
            (Api::RunInstances, false, &[Request(Api::RunInstances), Resource(Api::RunInstances)]),
            (Api::TerminateInstances, false, &[Request(Api::TerminateInstances), Resource(Api::TerminateInstances)]),
            (Api::CreateVolume, false, &[Request(Api::CreateVolume)]),
            (Api::DeleteTags, false, &[Request(Api::DeleteTags)]),
            (Api::AttachVolume, false, &[Request(Api::AttachVolume)]),
            (Api::CreateLaunchTemplateVersion, false, &[Request(Api::CreateLaunchTemplateVersion)]),
            (Api::DeleteSnapshot, false, &[Request(Api::DeleteSnapshot)]),
            (Api::CopySnapshot, false, &[Request(Api::CopySnapshot)]),
            // Auto Scaling's calls share one bucket, not EC2's.
            (Api::DescribeAutoScalingGroups, true, &[AutoScaling]),
            (Api::UpdateAutoScalingGroup, false, &[AutoScaling]),
            (Api::CreateLaunchConfiguration, false, &[AutoScaling]),
            (Api::DeleteAutoScalingGroup, false, &[AutoScaling]),
            (Api::GetCallerIdentity, false, &[]),
            (Api::DnsLookup, false, &[]),
        ];
        for (api, unfiltered, expected) in table {
            assert_eq!(api.buckets(*unfiltered), expected.to_vec(), "{api} unfiltered={unfiltered}");
        }
        // Every EC2 call has its own request bucket (limits are per action).
        for &api in Api::ALL.iter().filter(|a| a.service() == Service::Ec2) {
            assert!(api.buckets(false).contains(&Request(api)), "{api}");
        }
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
