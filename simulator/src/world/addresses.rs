//! Elastic IPs: AllocateAddress, ReleaseAddress, AssociateAddress, DescribeAddresses,
//! and the account's quota of them per region (AWS's default is [`DEFAULT_ADDRESS_LIMIT`];
//! AllocateAddress beyond it fails with `AddressLimitExceeded`).
//!
//! Invariants: an address is associated with at most one instance, which exists, and an
//! instance has at most one address (associating another disassociates the first); an
//! associated address cannot be released; addresses disassociate when their instance
//! terminates. Public IPs come from the allocation counter (198.51.100.0/22, a
//! documentation range), so they are deterministic.

use super::{err, tag_suffix, World};
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult, Filter};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// Elastic IPs an account may hold per region unless its quota was raised (AWS's default).
pub const DEFAULT_ADDRESS_LIMIT: u32 = 5;

/// The highest quota [`World::set_address_limit`] accepts (far above any account's).
pub const MAX_ADDRESS_LIMIT: u32 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAddress {
    pub allocation_id: AllocationId,
    pub region: Region,
    pub public_ip: String,
    #[serde(default)]
    pub associated_to: Option<InstanceId>,
    #[serde(default)]
    pub tags: Tags,
}

impl SimAddress {
    fn to_model(&self) -> Address {
        Address {
            allocation_id: self.allocation_id.clone(),
            public_ip: self.public_ip.clone(),
            associated_to: self.associated_to.clone(),
            tags: self.tags.clone(),
        }
    }
}

impl World {
    /// The public IP of the address associated with the instance, if any.
    pub(super) fn public_ip_of(&self, id: &InstanceId) -> Option<String> {
        let allocation = self.index.associated.get(id)?.first()?;
        self.addresses.get(allocation).map(|a| a.public_ip.clone())
    }

    pub fn describe_addresses(&self, region: &Region, filter: &Filter) -> Vec<Address> {
        super::index::select(&self.addresses, &self.index.addresses, filter)
            .filter(|a| a.region == *region && filter.matches(a.allocation_id.as_str(), &a.tags))
            .filter(|a| self.visible(a.allocation_id.as_str()))
            .map(SimAddress::to_model)
            .collect()
    }

    /// The Elastic IPs the account may hold in each region.
    pub fn address_limit(&self) -> u32 {
        self.address_limit
    }

    /// Sets the Elastic IP quota per region (`cellar sim address-quota`); at most
    /// [`MAX_ADDRESS_LIMIT`]. Addresses already held above a lowered quota stay.
    pub fn set_address_limit(&mut self, limit: u32) -> Result<(), String> {
        if limit > MAX_ADDRESS_LIMIT {
            return Err(format!("an address quota of {limit} is above the limit of {MAX_ADDRESS_LIMIT}"));
        }
        self.address_limit = limit;
        self.record(format!("Elastic IP quota: {limit} per region"));
        Ok(())
    }

    pub fn allocate_address(&mut self, region: &Region, tags: Tags) -> CloudResult<Address> {
        self.check_region(region)?;
        super::tags::check_tags(&Tags::new(), &tags)?;
        let held = self.addresses.values().filter(|a| a.region == *region).count() + self.unloaded_addresses(region);
        if held >= self.address_limit as usize {
            return Err(err(
                K::Other("AddressLimitExceeded".into()),
                format!(
                    "The maximum number of addresses has been reached ({held} of {} in {region}).",
                    self.address_limit
                ),
            ));
        }
        let id = self.next_id("eipalloc");
        let n = self.counters["eipalloc"];
        let public_ip = format!("198.51.{}.{}", 100 + n / 256, n % 256);
        let address = SimAddress {
            allocation_id: AllocationId::new(id.clone()),
            region: region.clone(),
            public_ip: public_ip.clone(),
            associated_to: None,
            tags,
        };
        self.record(format!("allocated address {id} ({public_ip}) in {region}{}", tag_suffix(&address.tags)));
        let model = address.to_model();
        self.hide_new(address.allocation_id.to_string());
        self.index.addresses.add(&address.tags, &address.allocation_id);
        self.addresses.insert(address.allocation_id.clone(), address);
        Ok(model)
    }

    pub fn release_address(&mut self, region: &Region, id: &AllocationId) -> CloudResult<()> {
        let address = self.address_in(region, id)?;
        if let Some(instance) = &address.associated_to {
            return Err(err(
                K::IncorrectState,
                format!(
                    "The address {} ({id}) is associated with {instance}; disassociate it first",
                    address.public_ip
                ),
            ));
        }
        let ip = address.public_ip.clone();
        if let Some(address) = self.addresses.remove(id) {
            self.index.addresses.remove(&address.tags, id);
        }
        self.record(format!("released address {id} ({ip})"));
        Ok(())
    }

    pub fn associate_address(
        &mut self,
        region: &Region,
        id: &AllocationId,
        instance_id: &InstanceId,
    ) -> CloudResult<()> {
        self.address_in(region, id)?;
        let instance = self.instance_in(region, instance_id)?;
        Self::check_running_or_stopped(instance)?;
        // An instance has one public address: another EIP on it is disassociated.
        let displaced: Vec<AllocationId> =
            self.index.associated.get(instance_id).into_iter().flatten().filter(|a| *a != id).cloned().collect();
        for other in displaced {
            self.addresses.get_mut(&other).expect("listed above").associated_to = None;
            self.index.disassociate(instance_id, &other);
            self.record(format!("disassociated address {other} from {instance_id} (replaced)"));
        }
        let address = self.addresses.get_mut(id).expect("checked above");
        let previous = address.associated_to.replace(instance_id.clone());
        let ip = address.public_ip.clone();
        if let Some(prev) = &previous {
            self.index.disassociate(prev, id);
        }
        self.index.associate(instance_id, id);
        match previous {
            Some(prev) if prev == *instance_id => {}
            Some(prev) => self.record(format!("moved address {id} ({ip}) from {prev} to {instance_id}")),
            None => self.record(format!("associated address {id} ({ip}) with {instance_id}")),
        }
        Ok(())
    }

    /// Disassociates every address of a terminated instance.
    pub(super) fn release_addresses_of(&mut self, id: &InstanceId) {
        let addresses: Vec<AllocationId> = self.index.associated.remove(id).into_iter().flatten().collect();
        for address in addresses {
            self.addresses.get_mut(&address).expect("listed").associated_to = None;
            self.record(format!("disassociated address {address} from terminated {id}"));
        }
    }
}
