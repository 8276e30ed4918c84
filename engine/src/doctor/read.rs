//! The doctor's questions to the cloud, every one through a [`Caller`] (throttling and 5xx
//! retried, credentials and permissions never). Nothing here decides anything: the answers
//! go to `assess`.

use super::{dry_runs_for, NetworkReading, Reading, ServerReading};
use crate::api::Api;
use crate::caller::{Caller, Policy};
use crate::cloud::{Cloud, CloudError, CloudResult, Filter};
use crate::config::{ConfigTree, LaunchKind, ServerConfig};
use crate::inventory::ServerResources;
use crate::model::{Image, Region};
use crate::network::Network;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the credentials are asked about when no server is configured.
const HOME_REGION: &str = "us-east-1";

/// Asks the cloud everything [`super::assess`] needs about every server of `tree`.
pub async fn read(cloud: &dyn Cloud, tree: &ConfigTree) -> Reading {
    let caller = Caller::new(&policy());
    let configs: Vec<_> = tree.server_names().into_iter().map(|name| (tree.server(&name), name)).collect();
    let mut regions: Vec<Region> =
        configs.iter().filter_map(|(c, _)| c.as_ref().ok()).map(|c| c.region.value.clone()).collect();
    regions.sort();
    regions.dedup();
    let home = regions.first().cloned().unwrap_or_else(|| Region::new(HOME_REGION));
    let identity = caller.call(cloud, Api::GetCallerIdentity, || cloud.caller_identity(&home)).await;
    let mut servers: Vec<ServerReading> = configs
        .into_iter()
        .map(|(config, name)| ServerReading {
            name,
            config,
            images: None,
            reads: Vec::new(),
            dry_runs: Vec::new(),
            network: None,
        })
        .collect();
    if identity.as_ref().is_err_and(|e| e.kind.is_credentials()) {
        // Every other question would fail the same way.
        return Reading { identity, regions: None, servers };
    }
    let described = caller.call(cloud, Api::DescribeRegions, || cloud.describe_regions(&regions)).await;
    let mut images: BTreeMap<Region, CloudResult<Vec<Image>>> = BTreeMap::new();
    for region in &regions {
        let found = caller.call(cloud, Api::DescribeImages, || cloud.describe_images(region)).await;
        images.insert(region.clone(), found);
    }
    let mut networks: BTreeMap<Region, Arc<Result<Network, CloudError>>> = BTreeMap::new();
    for region in &regions {
        // Key pairs only where a server names one (DescribeKeyPairs is a permission more).
        let keys = servers
            .iter()
            .filter_map(|s| s.config.as_ref().ok())
            .any(|c| c.region.value == *region && c.launch_settings.key_name.is_some());
        let network = crate::inventory::read_network_with(cloud, &caller, region, keys).await;
        networks.insert(region.clone(), Arc::new(network));
    }
    let now = cloud.now().await;
    for server in &mut servers {
        let Ok(config) = &server.config else { continue };
        server.images = images.get(&config.region.value).cloned();
        let (reads, resources) = read_server(cloud, &caller, config).await;
        server.reads = reads;
        server.network = networks.get(&config.region.value).map(|n| NetworkReading { network: n.clone() });
        let newest = match &server.images {
            Some(Ok(images)) => newest_image(images, config),
            _ => None,
        };
        let network = server.network.as_ref().and_then(|n| n.network.as_ref().as_ref().ok());
        for request in dry_runs_for(config, newest.as_ref(), network, &resources, now) {
            let region = &config.region.value;
            let answer = caller.call(cloud, request.api(), || cloud.dry_run(region, &request)).await;
            server.dry_runs.push((request.api(), answer));
        }
    }
    Reading { identity, regions: Some(described), servers }
}

/// The reads' policy (throttling and 5xx retried, credentials and permissions never),
/// but a NotFound is an answer here, not eventual consistency: the dry runs name
/// placeholder ids where a server has no such resource yet, and AWS may answer
/// `InvalidInstanceID.NotFound` (moto does) rather than the permission.
fn policy() -> Policy {
    Policy { consistency_window: std::time::Duration::ZERO, ..Policy::for_reads() }
}

/// The newest image of the server's AMI type and architecture, as the planner picks it.
pub(super) fn newest_image(images: &[Image], config: &ServerConfig) -> Option<Image> {
    let inventory = crate::inventory::Inventory { images: images.to_vec().into(), ..Default::default() };
    inventory.newest_image(&config.ami_type.value, config.architecture.value).cloned()
}

/// The describes every plan of the server makes, each answer kept, and what they found
/// (real ids make the dry runs realistic).
async fn read_server(
    cloud: &dyn Cloud,
    caller: &Caller,
    config: &ServerConfig,
) -> (Vec<(Api, Result<(), CloudError>)>, ServerResources) {
    let (region, filter) = (&config.region.value, Filter::Server(config.name.clone()));
    let mut reads = Vec::new();
    let mut r = ServerResources::default();
    let mut keep = |api: Api, answer: Result<(), CloudError>| reads.push((api, answer));
    let instances = caller.call(cloud, Api::DescribeInstances, || cloud.describe_instances(region, &filter)).await;
    r.instances = instances.as_ref().map_or_else(|_| Vec::new(), Clone::clone);
    keep(Api::DescribeInstances, instances.map(drop));
    let volumes = caller.call(cloud, Api::DescribeVolumes, || cloud.describe_volumes(region, &filter)).await;
    r.volumes = volumes.as_ref().map_or_else(|_| Vec::new(), Clone::clone);
    keep(Api::DescribeVolumes, volumes.map(drop));
    let addresses = caller.call(cloud, Api::DescribeAddresses, || cloud.describe_addresses(region, &filter)).await;
    r.addresses = addresses.as_ref().map_or_else(|_| Vec::new(), Clone::clone);
    keep(Api::DescribeAddresses, addresses.map(drop));
    let templates =
        caller.call(cloud, Api::DescribeLaunchTemplates, || cloud.describe_launch_templates(region, &filter)).await;
    keep(Api::DescribeLaunchTemplates, templates.map(drop));
    let groups = caller
        .call(cloud, Api::DescribeAutoScalingGroups, || cloud.describe_auto_scaling_groups(region, &filter))
        .await;
    keep(Api::DescribeAutoScalingGroups, groups.map(drop));
    if config.launch.value == LaunchKind::Configuration {
        let configurations = caller
            .call(cloud, Api::DescribeLaunchConfigurations, || cloud.describe_launch_configurations(region))
            .await;
        keep(Api::DescribeLaunchConfigurations, configurations.map(drop));
    }
    // destroy-server --delete-data and bundle-ami read snapshots.
    let snapshots = caller.call(cloud, Api::DescribeSnapshots, || cloud.describe_snapshots(region, &filter)).await;
    keep(Api::DescribeSnapshots, snapshots.map(drop));
    // status reads a degraded server's console (its agent's outcome line).
    if let Some(instance) = r.current_instance().map(|i| i.id.clone()) {
        let console = caller.call(cloud, Api::GetConsoleOutput, || cloud.get_console_output(region, &instance)).await;
        keep(Api::GetConsoleOutput, console.map(drop));
        // cellar watch reads its status checks and scheduled events.
        let ids = [instance];
        let checks =
            caller.call(cloud, Api::DescribeInstanceStatus, || cloud.describe_instance_status(region, &ids)).await;
        keep(Api::DescribeInstanceStatus, checks.map(drop));
    }
    (reads, r)
}
