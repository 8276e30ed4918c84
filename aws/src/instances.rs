//! Instances: describe (with their auto scaling group), RunInstances with the plan's client
//! token, subnet and launch settings, TerminateInstances, GetConsoleOutput,
//! DescribeInstanceStatus (status checks and scheduled events).

use crate::convert::*;
use crate::error::from_sdk;
use crate::network::{ec2_metadata, ec2_profile, ec2_root_mapping};
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;
use cellar_engine::monitoring::InstanceChecks;
use std::collections::HashMap;

pub(crate) async fn describe_instances(
    cloud: &AwsCloud,
    region: &Region,
    filter: &Filter,
) -> CloudResult<Vec<Instance>> {
    let (filters, ids) = ec2_filter(filter);
    let result = async {
        let mut raw = Vec::new();
        let mut pages =
            cloud.ec2(region).describe_instances().set_filters(filters).set_instance_ids(ids).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeInstances, e))?;
            for reservation in page.reservations() {
                raw.extend(reservation.instances().iter().cloned());
            }
        }
        let live: Vec<String> = raw
            .iter()
            .filter(|i| instance_state(i.state()).is_alive())
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        let groups = if live.is_empty() { HashMap::new() } else { cloud.groups_of(region, &live).await? };
        Ok(raw.iter().map(|i| instance(i, &groups)).collect())
    }
    .await;
    empty_if_missing(filter, result)
}

/// The RunInstances call of `request`, unsent: `run_instance` sends it, `cellar doctor`
/// sends it with DryRun (`dry_run.rs`), so a launch setting added here is checked too.
pub(crate) fn run_instances_call(
    cloud: &AwsCloud,
    region: &Region,
    request: &RunInstanceRequest,
) -> ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
    cloud
        .ec2(region)
        .run_instances()
        .image_id(request.image.as_str())
        .instance_type(ec2::types::InstanceType::from(request.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .placement(ec2::types::Placement::builder().availability_zone(request.zone.as_str()).build())
        .user_data(encode_user_data(&request.user_data))
        .client_token(&request.client_token)
        .set_subnet_id(request.subnet.as_ref().map(|s| s.to_string()))
        .set_iam_instance_profile(request.settings.instance_profile.as_ref().map(ec2_profile))
        .set_security_group_ids(
            Some(request.settings.security_groups.iter().map(|g| g.to_string()).collect::<Vec<_>>())
                .filter(|g| !g.is_empty()),
        )
        .set_key_name(request.settings.key_name.as_ref().map(|k| k.to_string()))
        .metadata_options(ec2_metadata(&request.settings.metadata))
        .set_block_device_mappings(request.settings.root_volume.as_ref().map(|r| vec![ec2_root_mapping(r)]))
        .tag_specifications(tag_spec(ec2::types::ResourceType::Instance, &request.tags))
}

pub(crate) async fn run_instance(
    cloud: &AwsCloud,
    region: &Region,
    request: RunInstanceRequest,
) -> CloudResult<Instance> {
    let out = run_instances_call(cloud, region, &request).send().await.map_err(|e| from_sdk(Api::RunInstances, e))?;
    let launched = out.instances().first().ok_or_else(|| {
        CloudError::new(CloudErrorKind::InternalError, "RunInstances: the response lists no instance")
    })?;
    Ok(instance(launched, &HashMap::new()))
}

pub(crate) async fn terminate_instance(cloud: &AwsCloud, region: &Region, instance: &InstanceId) -> CloudResult<()> {
    cloud
        .ec2(region)
        .terminate_instances()
        .instance_ids(instance.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::TerminateInstances, e))?;
    Ok(())
}

/// GetConsoleOutput, base64-decoded (invalid UTF-8 replaced). Without `Latest`, which only
/// Nitro instance types offer: the buffered output AWS posts after boot, where the agent's
/// outcome line lands.
pub(crate) async fn get_console_output(
    cloud: &AwsCloud,
    region: &Region,
    instance: &InstanceId,
) -> CloudResult<String> {
    let out = cloud
        .ec2(region)
        .get_console_output()
        .instance_id(instance.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::GetConsoleOutput, e))?;
    Ok(decode_base64_text(out.output()))
}

/// DescribeInstanceStatus by `InstanceIds` (none: every running instance of the region),
/// without `IncludeAllInstances`, every page. AWS refuses more than 100 ids
/// (`InvalidRequest`) and an id it does not know (`InvalidInstanceID.NotFound`); both reach
/// the caller as AWS's errors.
pub(crate) async fn describe_instance_status(
    cloud: &AwsCloud,
    region: &Region,
    instances: &[InstanceId],
) -> CloudResult<Vec<InstanceChecks>> {
    let ids: Vec<String> = instances.iter().map(|i| i.to_string()).collect();
    let mut pages = cloud
        .ec2(region)
        .describe_instance_status()
        .set_instance_ids(Some(ids).filter(|ids| !ids.is_empty()))
        .into_paginator()
        .send();
    let mut checks = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeInstanceStatus, e))?;
        checks.extend(page.instance_statuses().iter().map(instance_checks));
    }
    Ok(checks)
}
