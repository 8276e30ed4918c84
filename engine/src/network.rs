//! The network of a region as a cloud reports it (VPCs, subnets, security groups), and
//! the one rule for which VPC a launch goes into: the configured `vpc`, else the VPC of the
//! configured `subnets`, else the region's default VPC. The inventory records what it read
//! of that VPC ([`Network::observe`]); the planner resolves subnets and group names in it
//! (`planner/network.rs`, which explains every refusal).

use crate::model::*;
use crate::plan::{NetworkScope, Observation, Observed, ResourceKey};

/// VPCs, subnets and security groups of one region, sorted by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<SecurityGroup>,
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
    /// the configured subnets, and the configured security groups that exist.
    pub fn observe(&self, scope: &NetworkScope) -> Vec<Observation> {
        let mut out = Vec::new();
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
        }
    }

    fn scope(vpc: Option<&str>, subnets: &[(char, &str)], groups: &[&str]) -> NetworkScope {
        NetworkScope {
            vpc: vpc.map(VpcId::new),
            subnets: subnets.iter().map(|(z, s)| (*z, SubnetId::new(*s))).collect(),
            security_groups: groups.iter().map(|g| g.to_string()).collect(),
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
        let got: Vec<String> = n
            .observe(&scope(Some("vpc-2"), &[('a', "subnet-1a")], &["web", "db"]))
            .iter()
            .map(|o| format!("{}: {}", o.resource, o.observed))
            .collect();
        assert_eq!(
            got,
            [
                "subnet subnet-1a: in us-east-1a of vpc-1",
                "VPC vpc-2: not the default VPC",
                "subnet subnet-2a: in us-east-1a of vpc-2",
                "subnet subnet-2b: in us-east-1b of vpc-2",
                "security group sg-2: web in vpc-2",
            ]
        );
    }
}
