//! Running commands against the AWS backend on a moto account, and the simulator side of
//! the differential suite.
//!
//! moto does not boot anything: an instance's user data never runs. [`Booter`] stands in
//! for cloud-init: it watches the account and, half a second after an instance is first
//! seen running, runs the engine's agent for it (as `cellar agent persist|spawn` would on
//! a real instance), so a replacement instance re-attaches the volume and re-associates the
//! address exactly as on AWS.

#![allow(dead_code)]

use super::moto::Endpoint;
use cellar_aws::{AwsCloud, AwsOptions};
use cellar_engine::agent::{self, AgentHost, AgentInvocation};
use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::executor::{self, ApplyReport, Policy};
use cellar_engine::model::*;
use cellar_engine::volumes::script::HostVolume;
use cellar_engine::volumes::VolumeSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// An account on moto with the AWS backend pointed at it, and a booter running agents.
pub struct MotoAccount {
    pub endpoint: Endpoint,
    pub cloud: Arc<AwsCloud>,
    pub booted: Arc<Mutex<Vec<String>>>,
    booter: tokio::task::JoinHandle<()>,
}

impl Drop for MotoAccount {
    fn drop(&mut self) {
        self.booter.abort();
    }
}

pub async fn connect(url: &str) -> Arc<AwsCloud> {
    Arc::new(
        AwsCloud::connect(AwsOptions {
            endpoint_url: Some(url.to_string()),
            static_credentials: Some(("testing".into(), "testing".into())),
            attempt_timeout: Some(Duration::from_secs(20)),
            ..AwsOptions::default()
        })
        .await,
    )
}

impl MotoAccount {
    pub async fn open(upstream: &str) -> MotoAccount {
        Self::open_with(upstream, true).await
    }

    /// `boot`: run agents on new instances as cloud-init would (else nothing runs them).
    pub async fn open_with(upstream: &str, boot: bool) -> MotoAccount {
        let endpoint = Endpoint::start(upstream);
        let cloud = connect(&endpoint.url).await;
        let booted = Arc::new(Mutex::new(Vec::new()));
        let booter = if boot { tokio::spawn(boot_loop(cloud.clone(), booted.clone())) } else { tokio::spawn(async {}) };
        MotoAccount { endpoint, cloud, booted, booter }
    }

    pub fn cloud(&self) -> Arc<dyn Cloud> {
        self.cloud.clone()
    }
}

/// Retry and wait settings for a local endpoint: the same rules as on AWS, on a shorter clock.
pub fn fast_policy() -> Policy {
    Policy {
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        throttle_window: Duration::from_secs(20),
        capacity_window: Duration::from_secs(2),
        consistency_window: Duration::from_secs(20),
        poll: Duration::from_millis(200),
        wait_timeout: Duration::from_secs(60),
        ..Policy::default()
    }
}

/// A host whose local side effects (persist, hook) are only recorded: on moto there is no
/// disk to copy, and the cloud side is what the tests compare.
pub struct RecordingHost {
    pub instance: InstanceId,
    pub region: Region,
}

impl AgentHost for RecordingHost {
    fn identity(&self) -> (InstanceId, Region) {
        (self.instance.clone(), self.region.clone())
    }
    fn persist(&self, _volumes: &[HostVolume]) -> Result<(), String> {
        Ok(())
    }
    fn mount(&self, _volumes: &[HostVolume]) -> Result<(), String> {
        Ok(())
    }
    fn run_hook(&self, _script: &str) -> Result<(), String> {
        Ok(())
    }
}

async fn boot_loop(cloud: Arc<AwsCloud>, booted: Arc<Mutex<Vec<String>>>) {
    let region = Region::new(REGION);
    let mut first_seen: BTreeMap<InstanceId, Instant> = BTreeMap::new();
    let mut done: BTreeSet<InstanceId> = BTreeSet::new();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(instances) = cloud.describe_instances(&region, &Filter::All).await else { continue };
        for instance in instances {
            if instance.state != InstanceState::Running || done.contains(&instance.id) {
                continue;
            }
            let Some(name) = instance.tags.get(NAME_TAG) else { continue };
            if name.starts_with("workspace-") {
                done.insert(instance.id.clone()); // workspaces run no agent
                continue;
            }
            let seen = *first_seen.entry(instance.id.clone()).or_insert_with(Instant::now);
            if seen.elapsed() < Duration::from_millis(500) {
                continue; // booting
            }
            let mode = if instance.group.is_some() { AgentMode::Spawn } else { AgentMode::Persist };
            // moto keeps no user data to read back: the volumes come from the fixture config
            // (none for a one-volume server, whose agent attaches its one volume at /dev/sdf).
            let volumes = configured_volumes(name);
            let invocation = AgentInvocation {
                mode,
                server: ServerName::new(name.as_str()),
                persist: vec![],
                spawn_hook: None,
                volumes,
            };
            let host = RecordingHost { instance: instance.id.clone(), region: region.clone() };
            let outcome = agent::run(&*cloud, &host, &invocation).await;
            let _ = agent::record_outcome(&*cloud, &region, &instance.id, &outcome).await;
            match outcome {
                Ok(report) => {
                    booted.lock().unwrap().push(format!("{} {mode}: {}", instance.id, report.steps.join("; ")));
                    done.insert(instance.id.clone());
                }
                Err(e) => booted.lock().unwrap().push(format!("{} {mode} failed (will retry): {e}", instance.id)),
            }
        }
    }
}

/// The `volumes` a server's agent is given, from the fixture config.
fn configured_volumes(name: &str) -> Vec<VolumeSpec> {
    let tree = super::fixture_config();
    match ServerName::parse(name).ok().and_then(|n| tree.server(&n).ok()) {
        Some(config) => cellar_engine::config::agent_volumes(&config.volumes.value).1,
        None => Vec::new(),
    }
}

/// Plans and applies `command_line` on `cloud` with the fixture config, DNS gates confirmed.
pub async fn apply_on(cloud: Arc<dyn Cloud>, command_line: &str, policy: Policy) -> Result<ApplyReport, String> {
    let plan = super::plan(&*cloud, command_line).await?;
    let report = executor::apply(cloud, Arc::new(super::Recorder::new(true)), &plan, policy).await;
    Ok(report)
}

/// What a server looks like, with ids replaced by roles: the live instance is `live`,
/// terminated ones are counted; images are named, not numbered.
#[derive(Debug, PartialEq, Eq)]
pub struct Normalized {
    pub lines: Vec<String>,
}

impl std::fmt::Display for Normalized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

pub async fn normalized(cloud: &dyn Cloud, server: &str) -> Normalized {
    // The idempotency token tag hashes the apply's start time, which differs between the
    // two backends: it is compared for presence, not value. The agent's outcome tag is left
    // out: here the agent runs as soon as the instance runs, in the simulator after its boot
    // delay, so at a given step one may have tagged and the other not yet (its outcome is
    // compared through the resources it attached and associated).
    let tags = |t: &Tags| -> Tags {
        t.iter()
            .filter(|(k, _)| k.as_str() != cellar_engine::agent::OUTCOME_TAG)
            .map(|(k, v)| {
                let v = if k == cellar_engine::executor::TOKEN_TAG { "<token>".to_string() } else { v.clone() };
                (k.clone(), v)
            })
            .collect()
    };
    let region = Region::new(REGION);
    let filter = Filter::Server(ServerName::new(server));
    let images: BTreeMap<ImageId, String> =
        cloud.describe_images(&region).await.unwrap().into_iter().map(|i| (i.id, i.name)).collect();
    let image = |id: &ImageId| images.get(id).cloned().unwrap_or_else(|| format!("unknown image {id}"));
    let instances = cloud.describe_instances(&region, &filter).await.unwrap();
    let live: Vec<&Instance> = instances.iter().filter(|i| i.state.is_alive()).collect();
    let mut role: BTreeMap<InstanceId, String> = BTreeMap::new();
    for (n, i) in live.iter().enumerate() {
        role.insert(i.id.clone(), if n == 0 { "live".to_string() } else { format!("live#{n}") });
    }
    let who = |id: &InstanceId| role.get(id).cloned().unwrap_or_else(|| "a terminated instance".to_string());
    let mut lines = Vec::new();
    lines.push(format!("terminated instances: {}", instances.len() - live.len()));
    for i in &live {
        lines.push(format!(
            "instance {}: {} {} {} {} group={:?} tags={:?}",
            who(&i.id),
            i.state,
            i.zone,
            i.instance_type,
            image(&i.image),
            i.group.as_ref().map(|g| g.to_string()),
            tags(&i.tags)
        ));
    }
    // DescribeVolumes' order is unspecified (moto's differs from the simulator's): by device.
    let mut volumes = cloud.describe_volumes(&region, &filter).await.unwrap();
    volumes.sort_by(|a, b| (&a.device, a.size_gb).cmp(&(&b.device, b.size_gb)));
    for v in volumes {
        lines.push(format!(
            "volume: {} {} {} GiB attached to {:?} as {:?} tags={:?}",
            v.state,
            v.zone,
            v.size_gb,
            v.attached_to.as_ref().map(&who),
            v.device,
            tags(&v.tags)
        ));
    }
    for a in cloud.describe_addresses(&region, &filter).await.unwrap() {
        // AWS disassociates an Elastic IP from an instance that terminates; moto keeps the
        // association to the dead instance. Follow AWS: an address on no live instance is
        // unassociated.
        let on_live = a.associated_to.as_ref().filter(|id| role.contains_key(*id));
        lines.push(format!("address: associated to {:?} tags={:?}", on_live.map(&who), tags(&a.tags)));
    }
    for t in cloud.describe_launch_templates(&region, &filter).await.unwrap() {
        lines.push(format!(
            "launch template {}: latest v{} {} {} agent {:?} tags={:?}",
            t.name,
            t.latest_version,
            t.latest.instance_type,
            image(&t.latest.image),
            agent::parse_user_data(&t.latest.user_data).map(|a| a.mode),
            tags(&t.tags)
        ));
    }
    let prefix = format!("{server}-v");
    for c in cloud.describe_launch_configurations(&region).await.unwrap() {
        if c.name.starts_with(&prefix) {
            lines.push(format!("launch configuration {}: {} {}", c.name, c.spec.instance_type, image(&c.spec.image)));
        }
    }
    for g in cloud.describe_auto_scaling_groups(&region, &filter).await.unwrap() {
        let launch = match &g.launch {
            LaunchSource::Template { version, .. } => format!("template version {version:?}"),
            LaunchSource::Configuration { name } => format!("configuration {name}"),
        };
        let members: Vec<String> = g.instances.iter().map(&who).collect();
        lines.push(format!(
            "group {}: {launch} zones {:?} min {} max {} desired {} instances {members:?} tags={:?}",
            g.name,
            g.zones.iter().map(|z| z.to_string()).collect::<Vec<_>>(),
            g.min,
            g.max,
            g.desired,
            g.tags
        ));
    }
    let mut snapshots: Vec<String> = cloud
        .describe_snapshots(&region, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| format!("snapshot: {} GiB tags={:?}", s.size_gb, tags(&s.tags)))
        .collect();
    snapshots.sort();
    lines.extend(snapshots);
    Normalized { lines }
}

/// Waits (on the backend's clock) until `check` holds, up to `limit`.
pub async fn eventually<F, Fut>(cloud: &dyn Cloud, limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = cloud.now().await;
    loop {
        if check().await {
            return;
        }
        if cloud.now().await.0.saturating_sub(start.0) > limit.as_secs() {
            panic!("timed out waiting for {what}");
        }
        cloud.sleep(Duration::from_millis(200)).await;
    }
}
