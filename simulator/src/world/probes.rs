//! What an outside probe of a server's service finds (the simulator's
//! [`Prober`](cellar_engine::monitoring::Prober), `sim/probe.rs`): not an AWS call, so it
//! is neither counted, throttled nor refused by an outage.
//!
//! The probe's host is an IPv4 address or a DNS name, resolved through the world's DNS
//! table (`cellar sim dns`); the address must be an Elastic IP associated with an instance
//! (instances have no other public address in this world). The service answers only when
//! that instance is running, has booted (its agent's boot delay after it turned running or
//! rebooted), neither status check is impaired, no `unreachable` fault covers the server,
//! and its agent printed `done` (the spawn hook started the service). Every port is the
//! service's.
//!
//! Invariants: pure (a look at the world, no change); it ensures the probed server's shard,
//! and every shard only when the address is not the server's own.

use super::{Need, World};
use crate::faults::StatusCheck;
use cellar_engine::agent::{parse_outcome, AgentOutcome};
use cellar_engine::model::*;
use cellar_engine::monitoring::{ProbeRequest, ProbeTarget};

/// What a probe found, before it is put in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// The service answered (HTTP: with 200).
    Answered,
    /// The machine is up, nothing listens: the service is not started (or its agent failed).
    Refused,
    /// Nothing answered: the instance is not running, still booting, impaired, or an
    /// `unreachable` fault covers the server. The probe waits its whole timeout.
    TimedOut,
    /// The address is not associated with any instance.
    NoRoute(String),
    /// The DNS name has no A record.
    Unresolved(String),
}

/// The host a probe connects to (an HTTP URL's, without scheme, user, port or path).
pub fn probe_host(target: &ProbeTarget) -> String {
    match target {
        ProbeTarget::Tcp { host, .. } => host.clone(),
        ProbeTarget::Http { url, .. } => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            host.split(':').next().unwrap_or_default().to_string()
        }
    }
}

fn is_ipv4(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

impl World {
    /// What a probe of `request` finds now (see the module doc).
    pub fn probe(&mut self, request: &ProbeRequest) -> ProbeAnswer {
        self.ensure(&[Need::Name(request.server.to_string())]);
        let host = probe_host(&request.target);
        let ip = if is_ipv4(&host) {
            host
        } else {
            match self.resolve_dns(&host.to_ascii_lowercase()).into_iter().next() {
                Some(ip) => ip,
                None => return ProbeAnswer::Unresolved(host),
            }
        };
        let holder = |w: &World| w.addresses.values().find(|a| a.public_ip == ip).map(|a| a.associated_to.clone());
        let associated = match holder(self) {
            Some(found) => found,
            None => {
                // Another server's address (a DNS record pointing elsewhere): look everywhere.
                self.ensure(&[Need::All]);
                holder(self).flatten()
            }
        };
        let Some(id) = associated else {
            return ProbeAnswer::NoRoute(ip);
        };
        let Some(instance) = self.instances.get(&id) else {
            return ProbeAnswer::NoRoute(ip);
        };
        if instance.state != InstanceState::Running {
            return ProbeAnswer::TimedOut;
        }
        let boot = self.faults.agent_delay_secs.unwrap_or(super::AGENT_DELAY_SECS);
        if instance.booted_at.is_some_and(|b| self.now.0 < b.0.saturating_add(boot)) {
            return ProbeAnswer::TimedOut;
        }
        let impaired = self.impaired_checks(&id);
        if impaired.contains(&StatusCheck::System) || impaired.contains(&StatusCheck::Instance) {
            return ProbeAnswer::TimedOut;
        }
        let server = instance.tags.get(NAME_TAG).map(|n| ServerName::new(n.clone()));
        let covered = |s: &ServerName| self.faults.unreachable_at(s, self.now).is_some();
        if covered(&request.server) || server.as_ref().is_some_and(covered) {
            return ProbeAnswer::TimedOut;
        }
        match parse_outcome(&self.console(&id).join("\n")) {
            Some(AgentOutcome::Done(_)) => ProbeAnswer::Answered,
            Some(AgentOutcome::Failed(_)) | None => ProbeAnswer::Refused,
        }
    }
}
