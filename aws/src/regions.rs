//! Regions and zones (DescribeRegions, DescribeAvailabilityZones) and DNS lookups.

use crate::error::from_sdk;
use crate::{AwsCloud, HOME_REGION};
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

/// Regions (DescribeRegions), and the zones (DescribeAvailabilityZones) of the regions
/// asked for, concurrently; other regions' zone lists stay empty.
pub(crate) async fn describe_regions(cloud: &AwsCloud, zones_of: &[Region]) -> CloudResult<Vec<RegionInfo>> {
    let home = zones_of.first().cloned().unwrap_or_else(|| Region::new(HOME_REGION));
    let out = cloud.ec2(&home).describe_regions().send().await.map_err(|e| from_sdk(Api::DescribeRegions, e))?;
    let mut regions: Vec<RegionInfo> = out
        .regions()
        .iter()
        .filter_map(|r| r.region_name())
        .map(|r| RegionInfo { region: Region::new(r), zones: Vec::new() })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for region in regions.iter().map(|r| r.region.clone()).filter(|r| zones_of.contains(r)) {
        let client = cloud.ec2(&region);
        tasks.spawn(async move {
            let out = client
                .describe_availability_zones()
                .send()
                .await
                .map_err(|e| from_sdk(Api::DescribeAvailabilityZones, e))?;
            let mut zones: Vec<Zone> = out
                .availability_zones()
                .iter()
                // Local Zones and Wavelength Zones are not where cellar puts servers.
                .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                .filter_map(|z| z.zone_name())
                .map(Zone::new)
                .collect();
            zones.sort();
            Ok::<_, CloudError>((region, zones))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (region, zones) = joined
            .map_err(|e| CloudError::new(CloudErrorKind::InternalError, format!("DescribeAvailabilityZones: {e}")))??;
        if let Some(info) = regions.iter_mut().find(|r| r.region == region) {
            info.zones = zones;
        }
    }
    regions.sort_by(|a, b| a.region.cmp(&b.region));
    Ok(regions)
}

/// The system resolver (A records). A name that does not resolve gives an empty list:
/// the planner then treats DNS as not pointing at any address of the server, which
/// only ever leads to the DNS gate, never to reusing a wrong address.
pub(crate) async fn resolve_dns(host: &str) -> CloudResult<Vec<String>> {
    let host = host.to_string();
    let resolved = tokio::task::spawn_blocking(move || {
        use std::net::ToSocketAddrs;
        (host.as_str(), 0)
            .to_socket_addrs()
            .map(|addrs| addrs.filter(|a| a.is_ipv4()).map(|a| a.ip().to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    let mut resolved = resolved;
    resolved.sort();
    resolved.dedup();
    Ok(resolved)
}
