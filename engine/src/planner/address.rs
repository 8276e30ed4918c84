//! Which Elastic IP a server's instance gets.
//!
//! An address already on the server's live instance always stays. After that:
//! - create-server follows the seed ([`address_by_dns`]): the server's address that the
//!   DNS record points at; else one still waiting for its DNS record (behind a gate); else
//!   a new one (behind a gate when a DNS name is configured).
//! - attach-instance and start-auto-scaling keep the server's existing address whatever
//!   DNS says ([`address_kept`]), and only allocate (as create-server does) when it has none.
//!
//! Both return the address and the DNS gate everything else must wait for.

use super::Planning;
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;

/// An address and the gate (if any) that must pass before it is used.
pub type AddressChoice = (Ref<AllocationId>, Option<StepId>);

/// The address already associated with one of the server's live instances.
fn on_live_instance(p: &mut Planning<'_>, server: &ServerName) -> Option<AllocationId> {
    let r = p.resources();
    let (a, i) = r
        .addresses
        .iter()
        .find_map(|a| Some((a, r.live_instances().find(|i| Some(&i.id) == a.associated_to.as_ref())?)))?;
    p.note(format!(
        "Elastic IP {} ({}) stays: it is associated with {server}'s instance {}.",
        a.public_ip, a.allocation_id, i.id
    ));
    Some(a.allocation_id.clone())
}

/// Free: on no instance, or still shown on one of the server's instances that is shutting
/// down or terminated (AWS drops the association only once the instance is gone; some
/// endpoints keep it).
fn unassociated<'a>(p: &Planning<'a>) -> impl Iterator<Item = &'a Address> {
    let r = p.resources();
    r.addresses.iter().filter(move |a| {
        a.associated_to.as_ref().is_none_or(|id| r.instances.iter().any(|i| i.id == *id && !i.state.is_alive()))
    })
}

/// attach-instance and start-auto-scaling: the server's existing address whatever DNS
/// says (a note warns when DNS points elsewhere); a new one only when it has none.
pub fn address_kept(p: &mut Planning<'_>, server: &ServerName, config: &ServerConfig) -> AddressChoice {
    if let Some(id) = on_live_instance(p, server) {
        return (Ref::Existing(id), None);
    }
    if let Some(a) = unassociated(p).next() {
        let mismatch = match &config.dns_name {
            Some(host) if !p.inventory.dns.contains(&a.public_ip) => {
                format!(" ({} points elsewhere: update the record if it should reach this server)", host.value)
            }
            _ => String::new(),
        };
        let id = a.allocation_id.clone();
        p.note(format!("Elastic IP {} ({}) of {server} is reused{mismatch}.", a.public_ip, a.allocation_id));
        return (Ref::Existing(id), None);
    }
    address_by_dns(p, server, config)
}

/// create-server, by the seed's rule: the server's address the DNS record points at; else
/// one still waiting for its record (behind a gate); else a new one (behind a gate when a
/// DNS name is configured).
pub fn address_by_dns(p: &mut Planning<'_>, server: &ServerName, config: &ServerConfig) -> AddressChoice {
    if let Some(id) = on_live_instance(p, server) {
        return (Ref::Existing(id), None);
    }
    let Some(host) = config.dns_name.as_ref().map(|d| d.value.clone()) else {
        return without_dns_name(p, server);
    };
    let dns = &p.inventory.dns;
    if let Some(a) = unassociated(p).find(|a| dns.contains(&a.public_ip)) {
        let id = a.allocation_id.clone();
        p.note(format!("Elastic IP {} ({}) is reused: {host} already points at it.", a.public_ip, a.allocation_id));
        return (Ref::Existing(id), None);
    }
    for a in &p.resources().addresses {
        if !a.tags.contains_key(AWAITING_DNS_TAG) {
            p.note(format!(
                "Elastic IP {} ({}) of {server} does not match the DNS record of {host} and is left as it is.",
                a.public_ip, a.allocation_id
            ));
        }
    }
    let record = if dns.is_empty() {
        format!("{host} has no A record")
    } else {
        format!("{host} points at {}, which is not an address of {server}", dns.join(", "))
    };
    let address = match unassociated(p).find(|a| a.tags.contains_key(AWAITING_DNS_TAG)) {
        Some(a) => {
            let id = a.allocation_id.clone();
            p.note(format!(
                "Elastic IP {} ({}) allocated by an earlier apply is still waiting for its DNS record ({record}); it is reused.",
                a.public_ip, a.allocation_id
            ));
            Ref::Existing(id)
        }
        None => {
            p.note(format!("A new Elastic IP is allocated: {record}."));
            let id = p.push(
                server,
                Action::AllocateAddress { awaiting_dns: Some(host.clone()) },
                vec![],
                Some(Undo::ReleaseAddress),
            );
            Ref::Output(id)
        }
    };
    let gate = p.push(server, Action::DnsGate { host: host.clone(), address: address.clone() }, vec![], None);
    p.note(format!(
        "Apply stops at {gate} until {host} points at the address: update the record, then confirm at the prompt or pass --dns-confirmed. Nothing else is created before that."
    ));
    (address, Some(gate))
}

/// No DNS name is configured: an unassociated address of the server, else a new one; no gate.
fn without_dns_name(p: &mut Planning<'_>, server: &ServerName) -> AddressChoice {
    if let Some(a) = unassociated(p).next() {
        let id = a.allocation_id.clone();
        p.note(format!(
            "No dns_name is configured; the unassociated Elastic IP {} ({}) of {server} is reused.",
            a.public_ip, a.allocation_id
        ));
        return (Ref::Existing(id), None);
    }
    p.note("No dns_name is configured, so no DNS record is checked for the new Elastic IP.");
    let id = p.push(server, Action::AllocateAddress { awaiting_dns: None }, vec![], Some(Undo::ReleaseAddress));
    (Ref::Output(id), None)
}
