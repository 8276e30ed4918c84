//! Server locks (`cellar_engine::lock`): a launch template named `cellar-lock.<server>`,
//! created, described and deleted by name. Launch template names are unique per account
//! and region, so CreateLaunchTemplate is the atomic "take": a taken name fails with
//! `InvalidLaunchTemplateName.AlreadyExistsException` (kind `AlreadyExists`). The holder
//! is in the template's tags (and, for a person looking at the console, in its version
//! description); its launch data is one instance tag naming the lock, which launches
//! nothing (`LaunchTemplateData` is required, all its members optional).

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::lock::{object_name, LockHolder, LOCK_TAG};
use cellar_engine::model::*;

/// AWS's longest version description.
const DESCRIPTION_LIMIT: usize = 255;

pub(crate) async fn create_server_lock(
    cloud: &AwsCloud,
    region: &Region,
    server: &ServerName,
    holder: &LockHolder,
) -> CloudResult<()> {
    let mut marker = Tags::new();
    marker.insert(LOCK_TAG.to_string(), server.to_string());
    let data = ec2::types::RequestLaunchTemplateData::builder()
        .tag_specifications(
            ec2::types::LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ec2::types::ResourceType::Instance)
                .set_tags(Some(ec2_tag_list(&marker)))
                .build(),
        )
        .build();
    let description: String =
        format!("cellar lock of {server}, held by {holder}").chars().take(DESCRIPTION_LIMIT).collect();
    cloud
        .ec2(region)
        .create_launch_template()
        .launch_template_name(object_name(server))
        .version_description(description)
        .launch_template_data(data)
        .tag_specifications(tag_spec(ec2::types::ResourceType::LaunchTemplate, &holder.to_tags(server)))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateLaunchTemplate, e))?;
    Ok(())
}

pub(crate) async fn describe_server_lock(
    cloud: &AwsCloud,
    region: &Region,
    server: &ServerName,
) -> CloudResult<Option<LockHolder>> {
    let result = cloud
        .ec2(region)
        .describe_launch_templates()
        .launch_template_names(object_name(server))
        .send()
        .await
        .map_err(|e| from_sdk(Api::DescribeLaunchTemplates, e));
    match result {
        Ok(out) => Ok(out.launch_templates().first().map(|t| LockHolder::from_tags(&ec2_tags(t.tags())))),
        Err(e) if is_missing(&e.kind) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn delete_server_lock(cloud: &AwsCloud, region: &Region, server: &ServerName) -> CloudResult<()> {
    cloud
        .ec2(region)
        .delete_launch_template()
        .launch_template_name(object_name(server))
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteLaunchTemplate, e))?;
    Ok(())
}
