//! Server health, the seed's monitoring view: is each server running with its volume
//! attached and its address associated, and if not, why.
//!
//! [`assess`] is pure (resources in, status out); [`read`] fetches the resources.

use crate::agent::AgentOutcome;
use crate::api::Api;
use crate::caller::{Caller, Policy, Request};
use crate::cloud::{Cloud, CloudError, Filter};
use crate::inventory::{self, ServerResources};
use crate::model::*;
use crate::plan::Scope;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Instance running, data volume attached to it, Elastic IP associated with it.
    Healthy,
    /// An instance is up but something is missing (or it is still booting).
    Degraded,
    /// The server should run (it has an auto scaling group) but has no instance.
    Down,
    /// Not running on purpose: auto scaling stopped (no group, or one kept with desired 0)
    /// and no running instance, its data volume and Elastic IP kept.
    Stopped,
    /// Configured, but nothing of it exists (never created, or destroyed).
    Absent,
    /// Not running and not whole either: some of its resources exist, but not its data
    /// volume or its Elastic IP (a half-created or half-destroyed server); the reason
    /// names what is missing.
    Incomplete,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Stopped => "stopped",
            Health::Absent => "absent",
            Health::Incomplete => "incomplete",
        }
    }

    /// How bad it is, for `cellar status --fail-on`: 0 fine or as intended (healthy,
    /// stopped, absent), 1 needs a look (degraded, incomplete), 2 not serving when it
    /// should (down).
    pub fn severity(self) -> u8 {
        match self {
            Health::Healthy | Health::Stopped | Health::Absent => 0,
            Health::Degraded | Health::Incomplete => 1,
            Health::Down => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    pub id: InstanceId,
    pub state: InstanceState,
    pub zone: Zone,
    #[serde(rename = "type")]
    pub instance_type: InstanceType,
    pub ami: ImageId,
    /// When it was launched (seconds since the Unix epoch, the backend's clock).
    pub launched_at: Timestamp,
    /// What its agent's outcome tag (`cellar:agent`) says; `None` before the agent ran, or
    /// for an agent that could not tag (its console output may still say).
    pub agent: Option<AgentStatus>,
}

/// An agent's outcome, as it tagged its instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentStatus {
    pub succeeded: bool,
    /// When it finished (seconds since the Unix epoch, the backend's clock).
    pub at: Timestamp,
    /// Where a failed agent stopped: `cloud` (what it needed from AWS was missing or
    /// refused: the resources show it too, and a later apply may have fixed it) or
    /// `machine` (persist, mount or the spawn hook: the instance is not set up).
    pub failed_at: Option<crate::agent::FailedAt>,
    /// Why it failed; empty when it succeeded.
    pub reason: String,
}

impl InstanceStatus {
    fn of(i: &Instance) -> Self {
        let tag = i.tags.get(crate::agent::OUTCOME_TAG).and_then(|v| crate::agent::parse_outcome_tag(v));
        let agent = tag.map(|(outcome, at, failed_at)| match outcome {
            AgentOutcome::Done(_) => AgentStatus { succeeded: true, at, failed_at, reason: String::new() },
            AgentOutcome::Failed(why) => AgentStatus { succeeded: false, at, failed_at, reason: why },
        });
        InstanceStatus {
            id: i.id.clone(),
            state: i.state,
            zone: i.zone.clone(),
            instance_type: i.instance_type.clone(),
            ami: i.image.clone(),
            launched_at: i.launched_at,
            agent,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeStatus {
    pub id: VolumeId,
    pub size_gb: u32,
    pub state: VolumeState,
    pub attached_to: Option<InstanceId>,
    /// Its `cellar:device` tag: absent on a server's first volume at `/dev/sdf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl VolumeStatus {
    fn of(v: &Volume) -> Self {
        VolumeStatus {
            id: v.id.clone(),
            size_gb: v.size_gb,
            state: v.state,
            attached_to: v.attached_to.clone(),
            device: v.tags.get(crate::volumes::DEVICE_TAG).cloned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressStatus {
    pub public_ip: String,
    pub associated_to: Option<InstanceId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AutoScalingStatus {
    pub group: AutoScalingGroupName,
    pub desired: u32,
    /// The launch template version the group launches; `null` for `$Latest` or a launch configuration.
    pub template_version: Option<u32>,
    /// The launch configuration the group launches from, if it uses one.
    pub launch_configuration: Option<String>,
    /// The group's most recent scaling activity (a launch, a termination, a failed launch
    /// and why), if AWS still lists one.
    pub last_activity: Option<ActivityStatus>,
}

/// A scaling activity of a server's group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActivityStatus {
    /// When it started (seconds since the Unix epoch, the backend's clock).
    pub at: Timestamp,
    pub succeeded: bool,
    /// AWS's description (`Launching a new EC2 instance: i-0002`).
    pub description: String,
}

/// One server's status; this is also the JSON schema of each element of `servers` in `cellar status --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    pub name: ServerName,
    pub region: Region,
    pub health: Health,
    /// Why the server is not healthy (empty when it is).
    pub reason: String,
    pub instance: Option<InstanceStatus>,
    pub volume: Option<VolumeStatus>,
    /// The server's other data volumes (a server with `volumes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_volumes: Vec<VolumeStatus>,
    pub address: Option<AddressStatus>,
    pub auto_scaling: Option<AutoScalingStatus>,
}

impl ServerStatus {
    /// Since when the server has been as it is, as far as AWS tells: a running or starting
    /// instance, since its launch; a server down or stopped, since its group's last scaling
    /// activity (the failed respawn, the termination); `None` when nothing dates it.
    pub fn since(&self) -> Option<Timestamp> {
        let activity = self.auto_scaling.as_ref().and_then(|g| g.last_activity.as_ref()).map(|a| a.at);
        match self.health {
            Health::Healthy | Health::Degraded => self.instance.as_ref().map(|i| i.launched_at),
            Health::Down | Health::Stopped => activity,
            Health::Absent | Health::Incomplete => None,
        }
    }
}

/// A server not running on purpose: stopped, with `stopped` as the reason, when its data
/// volume and Elastic IP are kept; else incomplete, naming what is missing, then
/// `incomplete` (`stopped` when not given).
fn stopped_or_incomplete(
    volume: Option<&Volume>,
    address: Option<&Address>,
    stopped: String,
    incomplete: Option<&str>,
) -> (Health, String) {
    let missing: String = [(volume.is_none(), "no data volume; "), (address.is_none(), "no Elastic IP; ")]
        .into_iter()
        .filter_map(|(missing, what)| missing.then_some(what))
        .collect();
    match missing.is_empty() {
        true => (Health::Stopped, stopped),
        false => (Health::Incomplete, format!("{missing}{}", incomplete.unwrap_or(&stopped))),
    }
}

/// Decides a server's health from its resources. Pure.
pub fn assess(name: &ServerName, region: &Region, r: &ServerResources) -> ServerStatus {
    let instance = r.current_instance();
    let volume = r.data_volume();
    let others: Vec<&Volume> =
        r.volumes.iter().filter(|v| crate::volumes::is_data(v) && Some(&v.id) != volume.map(|v| &v.id)).collect();
    let address = instance
        .and_then(|i| r.addresses.iter().find(|a| a.associated_to.as_ref() == Some(&i.id)))
        .or_else(|| r.addresses.first());
    let group = r.group();

    let (health, reason) = match instance {
        Some(i) if i.state == InstanceState::Running => {
            let mut missing = Vec::new();
            match volume {
                None => missing.push("no data volume".to_string()),
                Some(v) if v.attached_to.as_ref() != Some(&i.id) => {
                    missing.push(format!("data volume {} is not attached to {}", v.id, i.id))
                }
                Some(_) => {}
            }
            for v in others.iter().filter(|v| v.attached_to.as_ref() != Some(&i.id)) {
                missing.push(format!("data volume {} is not attached to {}", v.id, i.id));
            }
            // The machine side failed: nothing else shows it. (A failure on the cloud side
            // shows in the resources, and an apply after it may have set them right.)
            if let Some((why, crate::agent::FailedAt::Machine)) = tagged_failure(i) {
                missing.push(why);
            }
            match address {
                None => missing.push("no Elastic IP".to_string()),
                Some(a) if a.associated_to.as_ref() != Some(&i.id) => {
                    missing.push(format!("Elastic IP {} is not associated with {}", a.public_ip, i.id))
                }
                Some(_) => {}
            }
            if missing.is_empty() {
                (Health::Healthy, String::new())
            } else {
                (Health::Degraded, missing.join("; "))
            }
        }
        Some(i) if i.state == InstanceState::Pending => (Health::Degraded, format!("instance {} is starting", i.id)),
        Some(i) if group.is_none_or(|g| g.desired == 0) => {
            stopped_or_incomplete(volume, address, format!("instance {} is {}", i.id, i.state), None)
        }
        Some(i) => (Health::Down, format!("instance {} is {}", i.id, i.state)),
        None => match group {
            Some(g) if g.desired == 0 => stopped_or_incomplete(
                volume,
                address,
                format!("auto scaling stopped: group {} is kept with desired 0", g.name),
                None,
            ),
            Some(g) => (Health::Down, why_down(g)),
            None if r.is_empty() => (Health::Absent, format!("nothing exists (no resource is tagged Name={name})")),
            None => stopped_or_incomplete(
                volume,
                address,
                "no instance and no auto scaling group (auto scaling stopped)".to_string(),
                Some("no instance; no auto scaling group"),
            ),
        },
    };

    // A degraded or down server whose agent stopped on the cloud side: its words say why,
    // as its console line would (the machine side is among the missing above).
    let reason = match instance.and_then(tagged_failure) {
        Some((why, crate::agent::FailedAt::Cloud)) if matches!(health, Health::Degraded | Health::Down) => {
            format!("{reason}; {why}")
        }
        _ => reason,
    };
    ServerStatus {
        name: name.clone(),
        region: region.clone(),
        health,
        reason,
        instance: instance.map(InstanceStatus::of),
        volume: volume.map(VolumeStatus::of),
        other_volumes: others.into_iter().map(VolumeStatus::of).collect(),
        address: address
            .map(|a| AddressStatus { public_ip: a.public_ip.clone(), associated_to: a.associated_to.clone() }),
        auto_scaling: group.map(|g| AutoScalingStatus {
            group: g.name.clone(),
            desired: g.desired,
            template_version: match &g.launch {
                LaunchSource::Template { version, .. } => *version,
                LaunchSource::Configuration { .. } => None,
            },
            launch_configuration: match &g.launch {
                LaunchSource::Configuration { name } => Some(name.clone()),
                LaunchSource::Template { .. } => None,
            },
            last_activity: g.activities.last().map(|a| ActivityStatus {
                at: a.at,
                succeeded: a.succeeded,
                description: a.description.clone(),
            }),
        }),
    }
}

/// Why an auto-scaling server has no instance: the group's last activity if it failed
/// (AWS's error code and zone), else that nothing runs.
fn why_down(g: &AutoScalingGroup) -> String {
    g.activities
        .iter()
        .rev()
        .find(|a| !a.succeeded)
        .filter(|_| g.activities.last().is_some_and(|a| !a.succeeded))
        .map(|a| match &a.error_code {
            Some(code) => {
                let zones: Vec<&str> = a.zones.iter().map(Zone::as_str).collect();
                format!("failed to respawn: {code} in {}", zones.join(", "))
            }
            None => format!("failed to respawn: {}", a.description),
        })
        .unwrap_or_else(|| format!("auto scaling group {} has no running instance", g.name))
}

/// Reads and assesses one server. A degraded or down server whose instance has booted
/// also has that instance's console output read (one more call, for unhealthy servers
/// only): if its agent printed a failure, the reason says so ([`agent_reason`]).
pub async fn read(cloud: &dyn Cloud, name: &ServerName, region: &Region) -> Result<ServerStatus, CloudError> {
    let mut read = read_many(cloud, &[(name.clone(), region.clone())]).await?;
    read.pop().ok_or_else(|| CloudError::new(crate::cloud::CloudErrorKind::InternalError, "no status was read"))
}

/// How many servers [`read_many`] reads at once: five pages of names (a describe names
/// [`crate::cloud::MAX_FILTER_VALUES`]), so the inventories held at a time stay small
/// beside the world while the describes still grow with the pages (one DescribeRegions
/// more per batch).
const READ_BATCH: usize = 5 * crate::cloud::MAX_FILTER_VALUES;

/// The status of many servers, in their order, read in batches of [`READ_BATCH`]
/// ([`inventory::read_many`]: describes grow with the pages, not the servers), plus one
/// console output per degraded or down server. Each batch's inventories are assessed and
/// dropped before the next is read (holding them all would be a copy of the world).
pub async fn read_many(cloud: &dyn Cloud, servers: &[(ServerName, Region)]) -> Result<Vec<ServerStatus>, CloudError> {
    read_many_with(cloud, servers, &Policy::for_reads()).await
}

/// [`read_many`] with the console reads retried by `policy` (`cellar watch` gives up sooner).
pub async fn read_many_with(
    cloud: &dyn Cloud,
    servers: &[(ServerName, Region)],
    policy: &Policy,
) -> Result<Vec<ServerStatus>, CloudError> {
    let caller = Caller::new(policy);
    let mut out = Vec::with_capacity(servers.len());
    for batch in servers.chunks(READ_BATCH) {
        let scopes: Vec<Scope> = batch
            .iter()
            .map(|(name, region)| Scope { server: Some(name.clone()), ..Scope::new(region.clone()) })
            .collect();
        let inventories = inventory::read_many_with(cloud, &scopes, policy).await?;
        for ((name, region), inventory) in batch.iter().zip(&inventories) {
            out.push(assess_with_console(cloud, &caller, name, region, &inventory.resources).await);
        }
    }
    Ok(out)
}

/// Why the agent of `instance` failed, from its outcome tag, in [`agent_reason`]'s words,
/// and where it stopped.
fn tagged_failure(instance: &Instance) -> Option<(String, crate::agent::FailedAt)> {
    let value = instance.tags.get(crate::agent::OUTCOME_TAG)?;
    match crate::agent::parse_outcome_tag(value)? {
        (outcome @ AgentOutcome::Failed(_), _, Some(stage)) => Some((outcome_reason(&instance.id, outcome)?, stage)),
        _ => None,
    }
}

/// A server's status, with its agent's failure from the console output of a degraded or
/// down instance that has booted and whose agent left no outcome tag (an agent that could
/// not tag; one of an older cellar).
async fn assess_with_console(
    cloud: &dyn Cloud,
    caller: &Caller,
    name: &ServerName,
    region: &Region,
    resources: &ServerResources,
) -> ServerStatus {
    let mut status = assess(name, region, resources);
    let booted = status.instance.as_ref().filter(|i| i.state != InstanceState::Pending && i.agent.is_none());
    if let (Health::Degraded | Health::Down, Some(instance)) = (status.health, booted) {
        let id = instance.id.clone();
        // The console is a hint: a server is as unhealthy without it, so a failed read
        // (no permission, say) leaves the reason as it is.
        if let Ok(console) = caller.call(cloud, Api::GetConsoleOutput, || cloud.get_console_output(region, &id)).await {
            if let Some(why) = agent_reason(&id, &console) {
                status.reason = format!("{}; {why}", status.reason);
            }
        }
    }
    status
}

/// What an instance's console output says of its agent, if it failed: `agent on i-… could
/// not attach vol-…: UnauthorizedOperation (…)`. Pure.
pub fn agent_reason(instance: &InstanceId, console: &str) -> Option<String> {
    outcome_reason(instance, crate::agent::parse_outcome(console)?)
}

/// [`agent_reason`] of an outcome however it was read (console line or tag).
fn outcome_reason(instance: &InstanceId, outcome: AgentOutcome) -> Option<String> {
    match outcome {
        AgentOutcome::Failed(why) if why.starts_with("could not ") => Some(format!("agent on {instance} {why}")),
        AgentOutcome::Failed(why) => Some(format!("agent on {instance} failed: {why}")),
        AgentOutcome::Done(_) => None,
    }
}

/// A workspace (`workspace-N`, made by create-workspace): an instance and nothing else.
/// This is also the JSON schema of the `workspaces` list of `cellar status --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkspaceStatus {
    pub name: ServerName,
    pub region: Region,
    pub instance: InstanceStatus,
}

/// The live workspaces of `region` (one unfiltered DescribeInstances), by number.
pub async fn workspaces(cloud: &dyn Cloud, region: &Region) -> Result<Vec<WorkspaceStatus>, CloudError> {
    let caller = Caller::new(&Policy::for_reads());
    let instances = caller
        .call(cloud, Request::describe(Api::DescribeInstances, &Filter::All), || {
            cloud.describe_instances(region, &Filter::All)
        })
        .await?;
    let mut out: Vec<(u32, WorkspaceStatus)> = instances
        .into_iter()
        .filter(|i| i.state.is_alive())
        .filter_map(|i| {
            let name = i.tags.get(NAME_TAG)?;
            let n = inventory::workspace_number(name)?;
            let status = WorkspaceStatus {
                name: ServerName::new(name.clone()),
                region: region.clone(),
                instance: InstanceStatus::of(&i),
            };
            Some((n, status))
        })
        .collect();
    out.sort_by(|a, b| (a.0, &a.1.instance.id).cmp(&(b.0, &b.1.instance.id)));
    Ok(out.into_iter().map(|(_, w)| w).collect())
}

/// The text lines of `cellar status` for workspaces.
pub fn render_workspaces_text(workspaces: &[WorkspaceStatus]) -> String {
    let mut out = String::new();
    for w in workspaces {
        let i = &w.instance;
        out.push_str(&format!("{:<12} {:<9} {}\n", w.name.as_str(), "workspace", w.region));
        out.push_str(&format!("  instance  {} {} {} {} {}\n", i.id, i.state, i.zone, i.instance_type, i.ami));
    }
    out
}

/// The text table of `cellar status`.
pub fn render_text(statuses: &[ServerStatus]) -> String {
    let mut out = String::new();
    for s in statuses {
        out.push_str(&format!("{:<12} {:<9} {}\n", s.name.as_str(), s.health.as_str(), s.region));
        if let Some(i) = &s.instance {
            out.push_str(&format!("  instance  {} {} {} {} {}\n", i.id, i.state, i.zone, i.instance_type, i.ami));
            if let Some(a) = &i.agent {
                let how = if a.succeeded { "done".to_string() } else { format!("failed: {}", a.reason) };
                out.push_str(&format!("  agent     {} {how}\n", a.at.rfc3339()));
            }
        }
        for v in s.volume.iter().chain(&s.other_volumes) {
            let on = v.attached_to.as_ref().map(|i| format!(" on {i}")).unwrap_or_default();
            let device = v.device.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
            out.push_str(&format!("  volume    {} {} GiB {}{on}{device}\n", v.id, v.size_gb, v.state));
        }
        if let Some(a) = &s.address {
            let on = a.associated_to.as_ref().map(|i| format!(" on {i}")).unwrap_or_else(|| " unassociated".into());
            out.push_str(&format!("  address   {}{on}\n", a.public_ip));
        }
        if let Some(g) = &s.auto_scaling {
            let from = match (&g.launch_configuration, g.template_version) {
                (Some(name), _) => format!("launch configuration {name}"),
                (None, Some(v)) => format!("template version {v}"),
                (None, None) => "template version $Latest".to_string(),
            };
            out.push_str(&format!("  group     {} desired {} {from}\n", g.group, g.desired));
            if let Some(a) = &g.last_activity {
                let outcome = if a.succeeded { "succeeded" } else { "failed" };
                out.push_str(&format!("  activity  {} {outcome}: {}\n", a.at.rfc3339(), a.description));
            }
        }
        if !s.reason.is_empty() {
            out.push_str(&format!("  reason    {}\n", s.reason));
        }
    }
    out
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
