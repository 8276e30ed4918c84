//! Auto scaling groups of one: describe (with scaling activities), create, adopt an instance, update, delete.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_autoscaling as asg;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

pub(crate) async fn describe_auto_scaling_groups(
    cloud: &AwsCloud,
    region: &Region,
    filter: &Filter,
) -> CloudResult<Vec<AutoScalingGroup>> {
    let mut request = cloud.asg(region).describe_auto_scaling_groups();
    match filter {
        Filter::All => {}
        Filter::Server(name) => {
            request = request
                .filters(asg::types::Filter::builder().name(format!("tag:{NAME_TAG}")).values(name.as_str()).build())
        }
        Filter::Servers(names) => {
            let values = names.iter().map(|n| n.to_string()).collect();
            request = request
                .filters(asg::types::Filter::builder().name(format!("tag:{NAME_TAG}")).set_values(Some(values)).build())
        }
        Filter::Id(name) => request = request.auto_scaling_group_names(name),
    }
    let mut raw = Vec::new();
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeAutoScalingGroups, e))?;
        raw.extend(page.auto_scaling_groups().iter().cloned());
    }
    let mut out = Vec::new();
    for g in raw {
        let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
        let launch = match (g.launch_template(), g.launch_configuration_name()) {
            (Some(t), _) => LaunchSource::Template {
                id: LaunchTemplateId::new(t.launch_template_id().unwrap_or_default()),
                version: t.version().and_then(|v| v.parse().ok()),
            },
            (None, Some(c)) => LaunchSource::Configuration { name: c.to_string() },
            (None, None) => LaunchSource::Configuration { name: String::new() },
        };
        let activities = cloud
            .asg(region)
            .describe_scaling_activities()
            .auto_scaling_group_name(&name)
            .max_records(20)
            .send()
            .await
            .map_err(|e| from_sdk(Api::DescribeScalingActivities, e))?;
        // AWS lists the newest first; the engine reads them oldest first. Activities
        // still in progress have no outcome yet and are left out.
        let activities = activities
            .activities()
            .iter()
            .rev()
            .filter(|a| {
                use asg::types::ScalingActivityStatusCode as S;
                matches!(a.status_code(), Some(S::Successful | S::Failed | S::Cancelled))
            })
            .map(|a| {
                use asg::types::ScalingActivityStatusCode as S;
                let succeeded = matches!(a.status_code(), Some(S::Successful));
                // AWS reports a failed launch as prose in StatusMessage, with no error
                // code field; cellar shows the message and does not parse it.
                let description = match a.status_message() {
                    Some(m) if !succeeded && !m.is_empty() => m.to_string(),
                    _ => a.description().unwrap_or_default().to_string(),
                };
                ScalingActivity {
                    at: timestamp(a.start_time()),
                    succeeded,
                    description,
                    error_code: None,
                    zones: a.details().and_then(zone_of_details).into_iter().collect(),
                }
            })
            .collect();
        out.push(AutoScalingGroup {
            name: AutoScalingGroupName::new(name),
            launch,
            zones: g.availability_zones().iter().map(Zone::new).collect(),
            subnets: subnets_of(g.vpc_zone_identifier()),
            min: g.min_size().unwrap_or(0).max(0) as u32,
            max: g.max_size().unwrap_or(0).max(0) as u32,
            desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
            instances: g.instances().iter().filter_map(|i| i.instance_id()).map(InstanceId::new).collect(),
            activities,
            tags: to_tags(g.tags().iter().map(|t| (t.key(), t.value()))),
            // `Status` is set only while DeleteAutoScalingGroup is in progress
            // ("Delete in progress").
            deleting: g.status().is_some_and(|s| !s.is_empty()),
        });
    }
    Ok(out)
}

/// Tags of `group` as Auto Scaling takes them, each propagated to the instances it launches.
fn group_tags<'a>(group: &'a AutoScalingGroupName, tags: &'a Tags) -> impl Iterator<Item = asg::types::Tag> + 'a {
    tags.iter().map(move |(k, v)| {
        asg::types::Tag::builder()
            .resource_id(group.as_str())
            .resource_type("auto-scaling-group")
            .key(k)
            .value(v)
            .propagate_at_launch(true)
            .build()
    })
}

/// The group's tags propagate to the instances it launches, so a replacement is
/// tagged `Name=<server>` from its first moment.
pub(crate) async fn create_auto_scaling_group(
    cloud: &AwsCloud,
    region: &Region,
    request: CreateAutoScalingGroupRequest,
) -> CloudResult<()> {
    let tags = group_tags(&request.name, &request.tags);
    cloud
        .asg(region)
        .create_auto_scaling_group()
        .auto_scaling_group_name(request.name.as_str())
        .set_launch_template(launch_template_spec(&request.launch))
        .set_launch_configuration_name(launch_configuration_name(&request.launch))
        .set_availability_zones(Some(request.zones.iter().map(|z| z.to_string()).collect()))
        .set_vpc_zone_identifier(
            Some(request.subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")).filter(|s| !s.is_empty()),
        )
        .min_size(count(request.min))
        .max_size(count(request.max))
        .desired_capacity(count(request.desired))
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateAutoScalingGroup, e))?;
    Ok(())
}

/// AttachInstances (which raises the desired capacity by one), then min to 1 if it was 0,
/// so the group replaces the instance if it dies.
pub(crate) async fn attach_instance_to_group(
    cloud: &AwsCloud,
    region: &Region,
    group: &AutoScalingGroupName,
    instance: &InstanceId,
) -> CloudResult<()> {
    let current = cloud.describe_auto_scaling_groups(region, &Filter::Id(group.to_string())).await?;
    let current = current.into_iter().next().ok_or_else(|| {
        CloudError::new(CloudErrorKind::AutoScalingGroupNotFound, format!("auto scaling group {group} not found"))
    })?;
    if !current.instances.contains(instance) {
        cloud
            .asg(region)
            .attach_instances()
            .auto_scaling_group_name(group.as_str())
            .instance_ids(instance.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(Api::AttachInstances, e))?;
    }
    if current.min == 0 {
        cloud
            .asg(region)
            .update_auto_scaling_group()
            .auto_scaling_group_name(group.as_str())
            .min_size(1)
            .send()
            .await
            .map_err(|e| from_sdk(Api::UpdateAutoScalingGroup, e))?;
    }
    Ok(())
}

pub(crate) async fn update_auto_scaling_group(
    cloud: &AwsCloud,
    region: &Region,
    group: &AutoScalingGroupName,
    update: UpdateAutoScalingGroupRequest,
) -> CloudResult<()> {
    let launch = update.launch.as_ref();
    let (zones, subnets) = match &update.placement {
        Some((zones, subnets)) => (
            Some(zones.iter().map(|z| z.to_string()).collect::<Vec<_>>()),
            Some(subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")).filter(|s| !s.is_empty()),
        ),
        None => (None, None),
    };
    cloud
        .asg(region)
        .update_auto_scaling_group()
        .auto_scaling_group_name(group.as_str())
        .set_launch_template(launch.and_then(launch_template_spec))
        .set_launch_configuration_name(launch.and_then(launch_configuration_name))
        .set_availability_zones(zones)
        .set_vpc_zone_identifier(subnets)
        .set_min_size(update.min.map(count))
        .set_max_size(update.max.map(count))
        .set_desired_capacity(update.desired.map(count))
        .send()
        .await
        .map_err(|e| from_sdk(Api::UpdateAutoScalingGroup, e))?;
    Ok(())
}

pub(crate) async fn create_or_update_group_tags(
    cloud: &AwsCloud,
    region: &Region,
    group: &AutoScalingGroupName,
    tags: Tags,
) -> CloudResult<()> {
    cloud
        .asg(region)
        .create_or_update_tags()
        .set_tags(Some(group_tags(group, &tags).collect()))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateOrUpdateTags, e))?;
    Ok(())
}

pub(crate) async fn delete_auto_scaling_group(
    cloud: &AwsCloud,
    region: &Region,
    group: &AutoScalingGroupName,
    force: bool,
) -> CloudResult<()> {
    cloud
        .asg(region)
        .delete_auto_scaling_group()
        .auto_scaling_group_name(group.as_str())
        .force_delete(force)
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteAutoScalingGroup, e))?;
    Ok(())
}

/// The zone in a scaling activity's `Details` JSON (`{"Availability Zone":"us-east-1a",...}`).
pub(crate) fn zone_of_details(details: &str) -> Option<Zone> {
    let key = "\"Availability Zone\"";
    let rest = &details[details.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(Zone::new(&rest[..rest.find('"')?]))
}

/// The subnets of a group's `VPCZoneIdentifier` (comma-separated; empty: none).
fn subnets_of(vpc_zone_identifier: Option<&str>) -> Vec<SubnetId> {
    vpc_zone_identifier
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SubnetId::new)
        .collect()
}
