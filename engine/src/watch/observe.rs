//! One cycle's reading: the servers' status, their running instances' status checks and
//! scheduled events, and their outside probes.

use crate::api::Api;
use crate::caller::{Caller, Policy};
use crate::cloud::{Cloud, CloudError, CloudErrorKind};
use crate::model::{InstanceId, InstanceState, Region, ServerName};
use crate::monitoring::{HealthCheck, InstanceChecks, ProbeOutcome, ProbeRequest, ProbeTarget, Prober, MAX_STATUS_IDS};
use crate::status::{self, ServerStatus};
use futures_util::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A server the watch looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: ServerName,
    pub region: Region,
    /// Its configured `dns_name` (for a health check's `{dns_name}`).
    pub dns_name: Option<String>,
    pub health_check: Option<HealthCheck>,
}

/// What one cycle saw of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub status: ServerStatus,
    /// Its running instance's status checks and events (`None`: no running instance, or
    /// DescribeInstanceStatus did not list it yet).
    pub checks: Option<InstanceChecks>,
    /// Its probe and what it found (`None`: no `health_check`, or nothing to probe: no
    /// running instance, or no address for `{address}`).
    pub probe: Option<(ProbeTarget, ProbeOutcome)>,
}

/// How many probes run at once.
pub const PROBES_AT_ONCE: usize = 64;

/// The reads' policy ([`observe`]'s caller passes it; a benchmark adds its call counts): a cycle gives up after a few tries within seconds (the connection is
/// then reported lost, and the next cycle tries again), and a NotFound is not waited out (an
/// instance listed a moment ago is gone: the next cycle sees it).
pub fn policy() -> Policy {
    Policy {
        max_attempts: 3,
        backoff_cap: Duration::from_secs(4),
        throttle_window: Duration::from_secs(20),
        consistency_window: Duration::ZERO,
        ..Policy::for_reads()
    }
}

/// Reads one cycle: every target's status (batched: describes grow with the pages, not the
/// servers), then DescribeInstanceStatus of the running instances, 100 a call, then the
/// probes, [`PROBES_AT_ONCE`] at a time. `Err` when the cloud cannot be read (after the
/// retries): the caller reports the connection lost.
pub async fn observe(
    cloud: &dyn Cloud,
    prober: &dyn Prober,
    targets: &[Target],
    policy: &Policy,
) -> Result<Vec<Observation>, CloudError> {
    let asked: Vec<(ServerName, Region)> = targets.iter().map(|t| (t.name.clone(), t.region.clone())).collect();
    let statuses = status::read_many_with(cloud, &asked, policy).await?;
    let mut checks = instance_checks(cloud, &statuses, policy).await?;
    let probes: Vec<Option<ProbeRequest>> = targets.iter().zip(&statuses).map(|(t, s)| probe_for(t, s)).collect();
    let mut outcomes: Vec<Option<ProbeOutcome>> = vec![None; probes.len()];
    let done: Vec<(usize, ProbeOutcome)> = stream::iter(probes.iter().enumerate())
        .filter_map(|(i, p)| async move { p.as_ref().map(|p| (i, p)) })
        .map(|(i, p)| async move { (i, prober.probe(p).await) })
        .buffer_unordered(PROBES_AT_ONCE)
        .collect()
        .await;
    for (i, outcome) in done {
        outcomes[i] = Some(outcome);
    }
    Ok(statuses
        .into_iter()
        .zip(probes)
        .zip(outcomes)
        .map(|((status, probe), outcome)| {
            let running = status.instance.as_ref().filter(|i| i.state == InstanceState::Running);
            Observation {
                checks: running.and_then(|i| checks.remove(&i.id)),
                probe: probe.zip(outcome).map(|(p, o)| (p.target, o)),
                status,
            }
        })
        .collect())
}

/// The probe of a server whose instance runs, its placeholders filled from its
/// configuration and its Elastic IP.
fn probe_for(target: &Target, status: &ServerStatus) -> Option<ProbeRequest> {
    let check = target.health_check.as_ref()?;
    status.instance.as_ref().filter(|i| i.state == InstanceState::Running)?;
    let address = status.address.as_ref().map(|a| a.public_ip.as_str());
    Some(ProbeRequest {
        server: target.name.clone(),
        region: target.region.clone(),
        target: check.target_for(target.dns_name.as_deref(), address)?,
        timeout: check.timeout,
    })
}

/// DescribeInstanceStatus of every running instance, by region, [`MAX_STATUS_IDS`] a call.
/// A call refused with a NotFound (an instance gone since the status was read) leaves
/// its instances without checks this cycle.
async fn instance_checks(
    cloud: &dyn Cloud,
    statuses: &[ServerStatus],
    policy: &Policy,
) -> Result<HashMap<InstanceId, InstanceChecks>, CloudError> {
    let mut by_region: BTreeMap<&Region, Vec<InstanceId>> = BTreeMap::new();
    for s in statuses {
        if let Some(i) = s.instance.as_ref().filter(|i| i.state == InstanceState::Running) {
            by_region.entry(&s.region).or_default().push(i.id.clone());
        }
    }
    let caller = Caller::new(policy);
    let mut out = HashMap::new();
    for (region, ids) in by_region {
        for batch in ids.chunks(MAX_STATUS_IDS) {
            match caller
                .call(cloud, Api::DescribeInstanceStatus, || cloud.describe_instance_status(region, batch))
                .await
            {
                Ok(found) => out.extend(found.into_iter().map(|c| (c.instance.clone(), c))),
                Err(e) if e.kind == CloudErrorKind::InvalidInstanceIdNotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}
