//! Launch templates (and their versions) and launch configurations.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

pub(crate) async fn describe_launch_templates(
    cloud: &AwsCloud,
    region: &Region,
    filter: &Filter,
) -> CloudResult<Vec<LaunchTemplate>> {
    let (filters, ids) = ec2_filter(filter);
    let result = async {
        let mut raw = Vec::new();
        let mut pages = cloud
            .ec2(region)
            .describe_launch_templates()
            .set_filters(filters)
            .set_launch_template_ids(ids)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeLaunchTemplates, e))?;
            raw.extend(page.launch_templates().iter().cloned());
        }
        let mut out = Vec::new();
        for t in raw {
            let id = t.launch_template_id().unwrap_or_default().to_string();
            out.push(LaunchTemplate {
                latest: cloud.template_spec(region, &id, None).await?,
                id: LaunchTemplateId::new(id),
                name: t.launch_template_name().unwrap_or_default().to_string(),
                latest_version: t.latest_version_number().unwrap_or(1).max(0) as u32,
                default_version: t.default_version_number().unwrap_or(1).max(0) as u32,
                tags: ec2_tags(t.tags()),
            });
        }
        Ok(out)
    }
    .await;
    empty_if_missing(filter, result)
}

/// The CreateLaunchTemplate call of `request`, unsent (sent for real, or with DryRun by
/// `dry_run.rs`).
pub(crate) fn create_launch_template_call(
    cloud: &AwsCloud,
    region: &Region,
    request: &CreateLaunchTemplateRequest,
) -> ec2::operation::create_launch_template::builders::CreateLaunchTemplateFluentBuilder {
    cloud
        .ec2(region)
        .create_launch_template()
        .launch_template_name(&request.name)
        .set_client_token(request.client_token.clone())
        .launch_template_data(template_data(&request.spec))
        .tag_specifications(tag_spec(ec2::types::ResourceType::LaunchTemplate, &request.tags))
}

pub(crate) async fn create_launch_template(
    cloud: &AwsCloud,
    region: &Region,
    request: CreateLaunchTemplateRequest,
) -> CloudResult<LaunchTemplate> {
    let out = create_launch_template_call(cloud, region, &request)
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateLaunchTemplate, e))?;
    let t = out.launch_template().ok_or_else(|| {
        CloudError::new(CloudErrorKind::InternalError, "CreateLaunchTemplate: the response has no template")
    })?;
    Ok(LaunchTemplate {
        id: LaunchTemplateId::new(t.launch_template_id().unwrap_or_default()),
        name: request.name,
        latest_version: t.latest_version_number().unwrap_or(1).max(0) as u32,
        default_version: t.default_version_number().unwrap_or(1).max(0) as u32,
        latest: request.spec,
        tags: request.tags,
    })
}

pub(crate) async fn delete_launch_template(
    cloud: &AwsCloud,
    region: &Region,
    template: &LaunchTemplateId,
) -> CloudResult<()> {
    cloud
        .ec2(region)
        .delete_launch_template()
        .launch_template_id(template.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteLaunchTemplate, e))?;
    Ok(())
}

pub(crate) async fn create_launch_template_version(
    cloud: &AwsCloud,
    region: &Region,
    template: &LaunchTemplateId,
    spec: LaunchSpec,
    client_token: Option<&str>,
) -> CloudResult<LaunchTemplate> {
    let out = cloud
        .ec2(region)
        .create_launch_template_version()
        .launch_template_id(template.as_str())
        .set_client_token(client_token.map(str::to_string))
        .launch_template_data(template_data(&spec))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateLaunchTemplateVersion, e))?;
    let version = out.launch_template_version();
    let described = cloud.describe_launch_templates(region, &Filter::Id(template.to_string())).await?;
    let mut t = described.into_iter().next().ok_or_else(|| {
        CloudError::new(CloudErrorKind::InvalidLaunchTemplateNotFound, format!("launch template {template} vanished"))
    })?;
    t.latest_version = version.and_then(|v| v.version_number()).map_or(t.latest_version, |v| v.max(0) as u32);
    t.latest = spec;
    Ok(t)
}

pub(crate) async fn describe_launch_configurations(
    cloud: &AwsCloud,
    region: &Region,
) -> CloudResult<Vec<LaunchConfiguration>> {
    let mut out = Vec::new();
    let mut pages = cloud.asg(region).describe_launch_configurations().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeLaunchConfigurations, e))?;
        out.extend(page.launch_configurations().iter().map(|c| LaunchConfiguration {
            name: c.launch_configuration_name().unwrap_or_default().to_string(),
            spec: LaunchSpec {
                instance_type: InstanceType::new(c.instance_type().unwrap_or_default()),
                image: ImageId::new(c.image_id().unwrap_or_default()),
                user_data: decode_base64_text(c.user_data()),
                settings: crate::network::settings_of_configuration(c),
            },
            created_at: timestamp(c.created_time()),
        }));
    }
    Ok(out)
}

pub(crate) async fn create_launch_configuration(
    cloud: &AwsCloud,
    region: &Region,
    name: &str,
    spec: LaunchSpec,
) -> CloudResult<LaunchConfiguration> {
    let request = cloud
        .asg(region)
        .create_launch_configuration()
        .launch_configuration_name(name)
        .image_id(spec.image.as_str())
        .instance_type(spec.instance_type.as_str())
        .user_data(encode_user_data(&spec.user_data));
    crate::network::configuration_settings(request, &spec.settings)?
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateLaunchConfiguration, e))?;
    Ok(LaunchConfiguration { name: name.to_string(), spec, created_at: cloud.now().await })
}

pub(crate) async fn delete_launch_configuration(cloud: &AwsCloud, region: &Region, name: &str) -> CloudResult<()> {
    cloud
        .asg(region)
        .delete_launch_configuration()
        .launch_configuration_name(name)
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteLaunchConfiguration, e))?;
    Ok(())
}
