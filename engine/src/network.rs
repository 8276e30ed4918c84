//! The network of a region as a cloud reports it (VPCs, subnets, security groups, key
//! pairs), the one rule for which VPC a launch goes into (the configured `vpc`, else the VPC
//! of the configured `subnets`, else the region's default VPC), and [`resolve_network`]:
//! a server's network settings resolved in it (the VPC, the subnet of its zone, security
//! group names turned into ids, the key pair), or every [`NetworkFinding`] that stands in
//! the way ([`NetworkFindings`], never empty). Pure: the planner refuses with the first finding; a `doctor` can call it for
//! every server and report them all. The inventory records what it read
//! ([`Network::observe`]).

use crate::command::Origin;
use crate::config::{LaunchConfig, Sourced};
use crate::model::*;
use crate::plan::{NetworkScope, Observation, Observed, ResourceKey};

/// VPCs, subnets and security groups of one region, sorted by id; its key pairs when
/// they were read (a configured `key_name`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<SecurityGroup>,
    /// `None`: not read (no key pair configured).
    pub key_pairs: Option<Vec<KeyName>>,
}

impl Network {
    pub fn vpc(&self, id: &VpcId) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == *id)
    }

    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.is_default)
    }

    pub fn subnet(&self, id: &SubnetId) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == *id)
    }

    /// The subnets of a VPC in a zone.
    pub fn subnets_in<'a>(&'a self, vpc: &'a VpcId, zone: &'a Zone) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets.iter().filter(move |s| s.vpc == *vpc && s.zone == *zone)
    }

    /// The VPCs of the configured subnets that exist, deduplicated.
    pub fn vpcs_of_subnets(&self, scope: &NetworkScope) -> Vec<&VpcId> {
        let mut vpcs: Vec<&VpcId> = scope.subnets.values().filter_map(|id| self.subnet(id)).map(|s| &s.vpc).collect();
        vpcs.sort();
        vpcs.dedup();
        vpcs
    }

    /// The VPC a launch with these settings goes into, if it exists: the configured
    /// `vpc`; else the one VPC of the configured subnets; else the default VPC.
    pub fn vpc_in_play(&self, scope: &NetworkScope) -> Option<&Vpc> {
        match (&scope.vpc, scope.subnets.is_empty()) {
            (Some(id), _) => self.vpc(id),
            (None, false) => match self.vpcs_of_subnets(scope).as_slice() {
                [one] => self.vpc(one),
                _ => None,
            },
            (None, true) => self.default_vpc(),
        }
    }

    /// A security group given by id (anywhere) or by name (in `vpc`).
    pub fn security_group(&self, vpc: &VpcId, name_or_id: &str) -> Option<&SecurityGroup> {
        if name_or_id.starts_with("sg-") {
            self.security_groups.iter().find(|g| g.id.as_str() == name_or_id)
        } else {
            self.security_groups.iter().find(|g| g.vpc == *vpc && g.name == name_or_id)
        }
    }

    /// What a plan records of the network (unsorted): the VPC in play, its subnets and
    /// the configured subnets, the configured security groups and key pair that exist.
    pub fn observe(&self, scope: &NetworkScope) -> Vec<Observation> {
        let mut out = Vec::new();
        if let (Some(key), Some(pairs)) = (&scope.key_name, &self.key_pairs) {
            if pairs.contains(key) {
                out.push(Observation { resource: ResourceKey::KeyPair(key.clone()), observed: Observed::KeyPair });
            }
        }
        let subnet = |s: &Subnet| Observation {
            resource: ResourceKey::Subnet(s.id.clone()),
            observed: Observed::Subnet { vpc: s.vpc.clone(), zone: s.zone.clone() },
        };
        out.extend(scope.subnets.values().filter_map(|id| self.subnet(id)).map(subnet));
        let Some(vpc) = self.vpc_in_play(scope) else {
            return out;
        };
        out.push(Observation {
            resource: ResourceKey::Vpc(vpc.id.clone()),
            observed: Observed::Vpc { default: vpc.is_default },
        });
        out.extend(self.subnets.iter().filter(|s| s.vpc == vpc.id).map(subnet));
        for name in &scope.security_groups {
            if let Some(g) = self.security_group(&vpc.id, name) {
                out.push(Observation {
                    resource: ResourceKey::SecurityGroup(g.id.clone()),
                    observed: Observed::SecurityGroup { name: g.name.clone(), vpc: g.vpc.clone() },
                });
            }
        }
        out
    }
}

/// Why a server's network settings cannot be used in a region, naming the value, where it
/// was configured, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkFinding {
    #[error("{region} has no default VPC, and neither vpc nor subnets is configured\n  fix: set `vpc: \"vpc-...\"` or `subnets: {{\"a\": \"subnet-...\"}}` (global.ron, the platform or the server)")]
    NoDefaultVpc { region: Region },
    #[error("VPC {vpc} (from {origin}) does not exist in {region} (VPCs there: {known})\n  fix: name one of them")]
    UnknownVpc { vpc: VpcId, origin: Origin, region: Region, known: String },
    #[error("subnet {subnet} (from {origin}) does not exist in {region}\n  fix: name a subnet of the region (aws ec2 describe-subnets)")]
    UnknownSubnet { subnet: SubnetId, origin: Origin, region: Region },
    #[error("the subnets configured at {origin} are in several VPCs ({vpcs}); a server launches into one VPC\n  fix: name subnets of one VPC")]
    SubnetsInSeveralVpcs { origin: Origin, vpcs: String },
    #[error("subnet {subnet} (from {origin}) is in {subnet_vpc}, not in VPC {vpc}\n  fix: name a subnet of {vpc}, or change vpc")]
    SubnetOutsideVpc { subnet: SubnetId, origin: Origin, subnet_vpc: VpcId, vpc: VpcId },
    #[error("subnet {subnet} (from {origin}) is in {subnet_zone}, not in {zone}\n  fix: give zone {letter} a subnet of {zone}", letter = zone.letter())]
    SubnetInOtherZone { subnet: SubnetId, origin: Origin, subnet_zone: Zone, zone: Zone },
    #[error("zone {zone} has no subnet in VPC {vpc}{why}\n  fix: {fix}")]
    NoSubnet { zone: Zone, vpc: VpcId, why: String, fix: String },
    #[error("VPC {vpc} has {count} subnets in zone {zone} ({subnets}), and none is configured for it\n  fix: choose one: `subnets: {{\"{letter}\": \"{first}\"}}`", count = subnets.len(), letter = zone.letter(), first = subnets.first().map(|s| s.as_str()).unwrap_or(""), subnets = subnets.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))]
    AmbiguousSubnet { zone: Zone, vpc: VpcId, subnets: Vec<SubnetId> },
    #[error("security group {group} (from {origin}) does not exist in VPC {vpc} (groups there: {known})\n  fix: create it, or name one of those")]
    UnknownSecurityGroup { group: String, origin: Origin, vpc: VpcId, known: String },
    #[error("security group {group} (from {origin}) is in {group_vpc}, not in VPC {vpc} where the server launches\n  fix: name a group of {vpc}")]
    SecurityGroupOutsideVpc { group: SecurityGroupId, origin: Origin, group_vpc: VpcId, vpc: VpcId },
    #[error("key pair {key} (from {origin}) does not exist in {region}\n  fix: create or import it there (aws ec2 import-key-pair --region {region}), or leave key_name out")]
    UnknownKeyPair { key: KeyName, origin: Origin, region: Region },
}

/// Every finding of [`resolve_network`]: never empty (the first is what the planner
/// refuses with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkFindings {
    pub first: Box<NetworkFinding>,
    pub more: Vec<NetworkFinding>,
}

impl NetworkFindings {
    fn from_vec(mut all: Vec<NetworkFinding>) -> Option<NetworkFindings> {
        if all.is_empty() {
            return None;
        }
        let first = Box::new(all.remove(0));
        Some(NetworkFindings { first, more: all })
    }

    /// The findings in order.
    pub fn iter(&self) -> impl Iterator<Item = &NetworkFinding> {
        std::iter::once(&*self.first).chain(&self.more)
    }
}

/// A server's network settings resolved in a region's [`Network`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedNetwork {
    pub vpc: Vpc,
    /// The subnet of the zone asked for (`None` when no zone was asked for).
    pub subnet: Option<SubnetId>,
    /// The configured groups, in order (empty: the VPC's default group).
    pub security_groups: Vec<SecurityGroup>,
    /// The configured key pair, known to exist when the network's key pairs were read.
    pub key_name: Option<KeyName>,
}

fn configured<T>(sourced: &Sourced<T>) -> Origin {
    Origin::Config(sourced.source.clone())
}

/// Resolves `launch`'s network settings in `network` (of `region`): the VPC, the subnet of
/// `zone` (if asked for), every security group (a name in that VPC, or an id), and the key
/// pair (when `network.key_pairs` was read). Every finding is returned, not only the first
/// (a missing VPC stops the rest: nothing else can be resolved without it).
pub fn resolve_network(
    network: &Network,
    launch: &LaunchConfig,
    region: &Region,
    zone: Option<&Zone>,
) -> Result<ResolvedNetwork, NetworkFindings> {
    let vpc = find_vpc(network, launch, region)
        .map_err(|first| NetworkFindings { first: Box::new(first), more: Vec::new() })?
        .clone();
    let mut findings = Vec::new();
    let subnet = match zone.map(|z| find_subnet(network, launch, &vpc.id, z)).transpose() {
        Ok(s) => s,
        Err(f) => {
            findings.push(f);
            None
        }
    };
    let mut security_groups = Vec::new();
    for group in &launch.security_groups.value {
        match find_group(network, &vpc.id, group) {
            Ok(g) => security_groups.push(g.clone()),
            Err(f) => findings.push(f),
        }
    }
    if let (Some(key), Some(known)) = (&launch.key_name, &network.key_pairs) {
        if !known.contains(&key.value) {
            findings.push(NetworkFinding::UnknownKeyPair {
                key: key.value.clone(),
                origin: configured(key),
                region: region.clone(),
            });
        }
    }
    if let Some(findings) = NetworkFindings::from_vec(findings) {
        return Err(findings);
    }
    Ok(ResolvedNetwork { vpc, subnet, security_groups, key_name: launch.key_name.as_ref().map(|k| k.value.clone()) })
}

/// The VPC launches go into, or why there is none.
fn find_vpc<'a>(network: &'a Network, launch: &LaunchConfig, region: &Region) -> Result<&'a Vpc, NetworkFinding> {
    let scope = launch.network_scope();
    if let Some(vpc) = network.vpc_in_play(&scope) {
        return Ok(vpc);
    }
    let region = region.clone();
    if let Some(v) = &launch.vpc {
        let known: Vec<&str> = network.vpcs.iter().map(|v| v.id.as_str()).collect();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Err(NetworkFinding::UnknownVpc { vpc: v.value.clone(), origin: configured(v), region, known });
    }
    if let Some(missing) = launch.subnets.values().find(|s| network.subnet(&s.value).is_none()) {
        return Err(NetworkFinding::UnknownSubnet {
            subnet: missing.value.clone(),
            origin: configured(missing),
            region,
        });
    }
    if let Some(first) = launch.subnets.values().next() {
        let vpcs: Vec<&str> = network.vpcs_of_subnets(&scope).into_iter().map(|v| v.as_str()).collect();
        return Err(NetworkFinding::SubnetsInSeveralVpcs { origin: configured(first), vpcs: vpcs.join(", ") });
    }
    Err(NetworkFinding::NoDefaultVpc { region })
}

/// The subnet of `zone` in `vpc`: the configured one for its letter, else (no `subnets`
/// configured) the one subnet of the VPC there (the default VPC: its default subnet).
fn find_subnet(network: &Network, launch: &LaunchConfig, vpc: &VpcId, zone: &Zone) -> Result<SubnetId, NetworkFinding> {
    if let Some(configured_subnet) = launch.subnets.get(&zone.letter()) {
        return check_subnet(network, configured_subnet, vpc, zone);
    }
    let here: Vec<&Subnet> = network.subnets_in(vpc, zone).collect();
    let names = |subnets: &[&Subnet]| subnets.iter().map(|s| s.id.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(first) = launch.subnets.values().next() {
        let listed: Vec<String> = launch.subnets.keys().map(|k| k.to_string()).collect();
        let fix = match here.first() {
            Some(s) => format!(
                "add `\"{}\": \"{}\"` to subnets (subnets of {vpc} there: {})",
                zone.letter(),
                s.id,
                names(&here)
            ),
            None => format!(
                "create a subnet of {vpc} in {zone} and add it to subnets, or use a zone of {}",
                listed.join(", ")
            ),
        };
        return Err(NetworkFinding::NoSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            why: format!(": subnets ({}) names zones {} only", first.source, listed.join(", ")),
            fix,
        });
    }
    let default: Vec<&Subnet> = here.iter().copied().filter(|s| s.default_for_zone).collect();
    match (here.as_slice(), default.as_slice()) {
        (_, [one]) | ([one], _) => Ok(one.id.clone()),
        ([], _) => Err(NetworkFinding::NoSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            why: String::new(),
            fix: format!(
                "create a subnet of {vpc} in {zone} (or a default subnet: aws ec2 create-default-subnet --availability-zone {zone}), or choose another zone"
            ),
        }),
        (many, _) => Err(NetworkFinding::AmbiguousSubnet {
            zone: zone.clone(),
            vpc: vpc.clone(),
            subnets: many.iter().map(|s| s.id.clone()).collect(),
        }),
    }
}

/// A configured subnet exists, is in `vpc` and in `zone`.
fn check_subnet(
    network: &Network,
    configured_subnet: &Sourced<SubnetId>,
    vpc: &VpcId,
    zone: &Zone,
) -> Result<SubnetId, NetworkFinding> {
    let id = &configured_subnet.value;
    let origin = configured(configured_subnet);
    let Some(found) = network.subnet(id) else {
        return Err(NetworkFinding::UnknownSubnet { subnet: id.clone(), origin, region: zone.region() });
    };
    if found.vpc != *vpc {
        return Err(NetworkFinding::SubnetOutsideVpc {
            subnet: id.clone(),
            origin,
            subnet_vpc: found.vpc.clone(),
            vpc: vpc.clone(),
        });
    }
    if found.zone != *zone {
        return Err(NetworkFinding::SubnetInOtherZone {
            subnet: id.clone(),
            origin,
            subnet_zone: found.zone.clone(),
            zone: zone.clone(),
        });
    }
    Ok(id.clone())
}

/// A configured security group (a name in `vpc`, or an id of a group in `vpc`).
fn find_group<'a>(
    network: &'a Network,
    vpc: &VpcId,
    group: &Sourced<String>,
) -> Result<&'a SecurityGroup, NetworkFinding> {
    let origin = configured(group);
    match network.security_group(vpc, &group.value) {
        Some(g) if g.vpc == *vpc => Ok(g),
        Some(g) => Err(NetworkFinding::SecurityGroupOutsideVpc {
            group: g.id.clone(),
            origin,
            group_vpc: g.vpc.clone(),
            vpc: vpc.clone(),
        }),
        None => {
            let known: Vec<&str> =
                network.security_groups.iter().filter(|g| g.vpc == *vpc).map(|g| g.name.as_str()).collect();
            Err(NetworkFinding::UnknownSecurityGroup {
                group: group.value.clone(),
                origin,
                vpc: vpc.clone(),
                known: if known.is_empty() { "none".into() } else { known.join(", ") },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        let subnet = |id: &str, vpc: &str, zone: &str, default_for_zone| Subnet {
            id: SubnetId::new(id),
            vpc: VpcId::new(vpc),
            zone: Zone::new(zone),
            default_for_zone,
        };
        let group = |id: &str, name: &str, vpc: &str| SecurityGroup {
            id: SecurityGroupId::new(id),
            name: name.into(),
            vpc: VpcId::new(vpc),
        };
        Network {
            vpcs: vec![
                Vpc { id: VpcId::new("vpc-1"), is_default: true },
                Vpc { id: VpcId::new("vpc-2"), is_default: false },
            ],
            subnets: vec![
                subnet("subnet-1a", "vpc-1", "us-east-1a", true),
                subnet("subnet-2a", "vpc-2", "us-east-1a", false),
                subnet("subnet-2b", "vpc-2", "us-east-1b", false),
            ],
            security_groups: vec![group("sg-1", "web", "vpc-1"), group("sg-2", "web", "vpc-2")],
            key_pairs: Some(vec![KeyName::new("ops")]),
        }
    }

    fn scope(vpc: Option<&str>, subnets: &[(char, &str)], groups: &[&str]) -> NetworkScope {
        NetworkScope {
            vpc: vpc.map(VpcId::new),
            subnets: subnets.iter().map(|(z, s)| (*z, SubnetId::new(*s))).collect(),
            security_groups: groups.iter().map(|g| g.to_string()).collect(),
            key_name: None,
        }
    }

    #[test]
    fn the_vpc_in_play() {
        let n = network();
        let check = |s: NetworkScope, expected: Option<&str>| {
            assert_eq!(n.vpc_in_play(&s).map(|v| v.id.as_str()), expected, "{s:?}");
        };
        check(scope(None, &[], &[]), Some("vpc-1"));
        check(scope(Some("vpc-2"), &[], &[]), Some("vpc-2"));
        check(scope(Some("vpc-9"), &[], &[]), None);
        check(scope(None, &[('a', "subnet-2a"), ('b', "subnet-2b")], &[]), Some("vpc-2"));
        check(scope(None, &[('a', "subnet-1a"), ('b', "subnet-2b")], &[]), None);
        check(scope(None, &[('a', "subnet-9")], &[]), None);
        let no_default = Network { vpcs: vec![Vpc { id: VpcId::new("vpc-2"), is_default: false }], ..n.clone() };
        assert_eq!(no_default.vpc_in_play(&scope(None, &[], &[])), None);
    }

    #[test]
    fn groups_by_name_in_the_vpc_or_by_id() {
        let n = network();
        let id = |vpc: &str, name: &str| n.security_group(&VpcId::new(vpc), name).map(|g| g.id.as_str());
        assert_eq!(id("vpc-1", "web"), Some("sg-1"));
        assert_eq!(id("vpc-2", "web"), Some("sg-2"));
        assert_eq!(id("vpc-2", "sg-1"), Some("sg-1"));
        assert_eq!(id("vpc-2", "db"), None);
    }

    #[test]
    fn observes_the_vpc_its_subnets_and_the_named_groups() {
        let n = network();
        let mut with_key = scope(Some("vpc-2"), &[('a', "subnet-1a")], &["web", "db"]);
        with_key.key_name = Some(KeyName::new("ops"));
        let got: Vec<String> = n.observe(&with_key).iter().map(|o| format!("{}: {}", o.resource, o.observed)).collect();
        assert_eq!(
            got,
            [
                "key pair ops: exists",
                "subnet subnet-1a: in us-east-1a of vpc-1",
                "VPC vpc-2: not the default VPC",
                "subnet subnet-2a: in us-east-1a of vpc-2",
                "subnet subnet-2b: in us-east-1b of vpc-2",
                "security group sg-2: web in vpc-2",
            ]
        );
    }

    /// Launch settings naming `vpc`, `subnets`, `groups` and `key`, each at `s.ron:LINE:1`
    /// (vpc line 1, subnets 2, groups 3, key 4).
    fn launch(vpc: Option<&str>, subnets: &[(char, &str)], groups: &[&str], key: Option<&str>) -> LaunchConfig {
        use crate::config::{EbsConfig, Source};
        fn sourced<T>(value: T, line: u32) -> Sourced<T> {
            Sourced { value, source: Source { file: "s.ron".into(), line, column: 1 } }
        }
        LaunchConfig {
            instance_profile: None,
            security_groups: sourced(groups.iter().map(|g| sourced(g.to_string(), 3)).collect(), 3),
            vpc: vpc.map(|v| sourced(VpcId::new(v), 1)),
            subnets: subnets.iter().map(|(z, s)| (*z, sourced(SubnetId::new(*s), 2))).collect(),
            key_name: key.map(|k| sourced(KeyName::new(k), 4)),
            http_tokens: Sourced::default_value(HttpTokens::Required),
            hop_limit: None,
            ebs: EbsConfig {
                volume_type: Sourced::default_value(VolumeType::Gp3),
                iops: None,
                throughput: None,
                encrypted: Sourced::default_value(true),
                kms_key: None,
            },
            root_volume_gb: None,
        }
    }

    /// `resolve_network` in us-east-1a (or with no zone): the resolution in words, or
    /// every finding's first line.
    fn check(n: &Network, l: LaunchConfig, zone: Option<&str>, expected: Result<&str, &[&str]>) {
        let zone = zone.map(Zone::new);
        let got = resolve_network(n, &l, &Region::new("us-east-1"), zone.as_ref())
            .map(|r| {
                let groups: Vec<&str> = r.security_groups.iter().map(|g| g.id.as_str()).collect();
                let subnet = r.subnet.as_ref().map_or("-", |s| s.as_str());
                format!("{} {subnet} [{}] {:?}", r.vpc.id, groups.join(" "), r.key_name.map(|k| k.to_string()))
            })
            .map_err(|fs| {
                fs.iter().map(|f| f.to_string().lines().next().unwrap_or("").to_string()).collect::<Vec<_>>()
            });
        let expected = expected.map(str::to_string).map_err(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, expected);
    }

    #[test]
    fn resolves_a_servers_network_or_lists_every_finding() {
        let n = network();
        let a = Some("us-east-1a");
        check(&n, launch(None, &[], &[], None), a, Ok("vpc-1 subnet-1a [] None"));
        check(&n, launch(None, &[], &["web"], Some("ops")), a, Ok("vpc-1 subnet-1a [sg-1] Some(\"ops\")"));
        check(&n, launch(Some("vpc-2"), &[], &["web"], None), a, Ok("vpc-2 subnet-2a [sg-2] None"));
        check(&n, launch(Some("vpc-2"), &[], &["sg-2"], None), None, Ok("vpc-2 - [sg-2] None"));
        check(&n, launch(None, &[('a', "subnet-2a")], &[], None), a, Ok("vpc-2 subnet-2a [] None"));
        // A zone with no subnet names the zone and the VPC.
        check(
            &n,
            launch(Some("vpc-2"), &[], &[], None),
            Some("us-east-1c"),
            Err(&["zone us-east-1c has no subnet in VPC vpc-2"]),
        );
        check(
            &n,
            launch(None, &[('a', "subnet-2a")], &[], None),
            Some("us-east-1b"),
            Err(&["zone us-east-1b has no subnet in VPC vpc-2: subnets (s.ron:2:1) names zones a only"]),
        );
        // Every finding, not only the first.
        check(
            &n,
            launch(Some("vpc-2"), &[], &["db", "sg-1"], Some("nobody")),
            a,
            Err(&[
                "security group db (from s.ron:3:1) does not exist in VPC vpc-2 (groups there: web)",
                "security group sg-1 (from s.ron:3:1) is in vpc-1, not in VPC vpc-2 where the server launches",
                "key pair nobody (from s.ron:4:1) does not exist in us-east-1",
            ]),
        );
        check(
            &n,
            launch(None, &[('a', "subnet-1a"), ('b', "subnet-2b")], &[], None),
            a,
            Err(&["the subnets configured at s.ron:2:1 are in several VPCs (vpc-1, vpc-2); a server launches into one VPC"]),
        );
        check(
            &n,
            launch(Some("vpc-2"), &[('a', "subnet-1a")], &[], None),
            a,
            Err(&["subnet subnet-1a (from s.ron:2:1) is in vpc-1, not in VPC vpc-2"]),
        );
        check(
            &n,
            launch(Some("vpc-2"), &[('a', "subnet-2b")], &[], None),
            a,
            Err(&["subnet subnet-2b (from s.ron:2:1) is in us-east-1b, not in us-east-1a"]),
        );
        check(
            &n,
            launch(None, &[('a', "subnet-9")], &[], None),
            a,
            Err(&["subnet subnet-9 (from s.ron:2:1) does not exist in us-east-1"]),
        );
        check(
            &n,
            launch(Some("vpc-9"), &[], &[], None),
            a,
            Err(&["VPC vpc-9 (from s.ron:1:1) does not exist in us-east-1 (VPCs there: vpc-1, vpc-2)"]),
        );
    }

    #[test]
    fn settings_without_a_vpc_or_subnet_or_key_list_why() {
        let n = network();
        let a = Some("us-east-1a");
        let no_default = Network { vpcs: vec![Vpc { id: VpcId::new("vpc-2"), is_default: false }], ..n.clone() };
        check(
            &no_default,
            launch(None, &[], &[], None),
            a,
            Err(&["us-east-1 has no default VPC, and neither vpc nor subnets is configured"]),
        );
        // Key pairs not read: not judged.
        let unread = Network { key_pairs: None, ..n.clone() };
        check(&unread, launch(None, &[], &[], Some("nobody")), a, Ok("vpc-1 subnet-1a [] Some(\"nobody\")"));
        // Two subnets of the VPC in the zone, none configured.
        let mut two = n.clone();
        two.subnets.push(Subnet {
            id: SubnetId::new("subnet-2a2"),
            vpc: VpcId::new("vpc-2"),
            zone: Zone::new("us-east-1a"),
            default_for_zone: false,
        });
        check(
            &two,
            launch(Some("vpc-2"), &[], &[], None),
            a,
            Err(&["VPC vpc-2 has 2 subnets in zone us-east-1a (subnet-2a, subnet-2a2), and none is configured for it"]),
        );
    }
}
