//! The account's images: describe, CreateImage, CopyImage.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

/// The account's own images (`Owners=self`): the images cellar bundles and boots.
pub(crate) async fn describe_images(cloud: &AwsCloud, region: &Region) -> CloudResult<Vec<Image>> {
    let mut out = Vec::new();
    let mut pages = cloud.ec2(region).describe_images().owners("self").into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(Api::DescribeImages, e))?;
        out.extend(page.images().iter().map(|i| image(i, region)));
    }
    Ok(out)
}

/// CreateImage: `NoReboot` as `options` says (AWS reboots by default), a `NoDevice` mapping
/// (an empty `NoDevice` string, as the API takes it) for each excluded device, and the tags
/// on the image and on the snapshots it makes.
pub(crate) async fn create_image(
    cloud: &AwsCloud,
    region: &Region,
    instance: &InstanceId,
    name: &str,
    tags: Tags,
    options: &ImageOptions,
) -> CloudResult<Image> {
    let excluded: Vec<ec2::types::BlockDeviceMapping> = options
        .exclude_devices
        .iter()
        .map(|device| ec2::types::BlockDeviceMapping::builder().device_name(device).no_device("").build())
        .collect();
    let tag_specs = (!tags.is_empty()).then(|| {
        vec![tag_spec(ec2::types::ResourceType::Image, &tags), tag_spec(ec2::types::ResourceType::Snapshot, &tags)]
    });
    let out = cloud
        .ec2(region)
        .create_image()
        .instance_id(instance.as_str())
        .name(name)
        .no_reboot(options.no_reboot)
        .set_block_device_mappings((!excluded.is_empty()).then_some(excluded))
        .set_tag_specifications(tag_specs)
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateImage, e))?;
    let described = cloud
        .describe_instances(region, &Filter::Id(instance.to_string()))
        .await?
        .into_iter()
        .next()
        .map(|i| i.architecture);
    Ok(Image {
        id: ImageId::new(out.image_id().unwrap_or_default()),
        name: name.to_string(),
        architecture: described.unwrap_or(Architecture::X86_64),
        region: region.clone(),
        created_at: cloud.now().await,
        state: ImageState::Pending,
        tags,
        // Known once the image is available (DescribeImages); a pending image is not launched.
        root_device: None,
        root_size_gb: None,
    })
}

/// CopyImage is called in the target region, naming the source region.
pub(crate) async fn copy_image(
    cloud: &AwsCloud,
    source_region: &Region,
    image: &ImageId,
    target_region: &Region,
    (name, client_token): (&str, Option<&str>),
) -> CloudResult<Image> {
    let source = cloud
        .ec2(source_region)
        .describe_images()
        .image_ids(image.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::DescribeImages, e))?;
    let source = source.images().first();
    let arch = source.and_then(|i| i.architecture()).map(|a| a.as_str().to_string());
    let (root_device, root_size_gb) =
        (source.and_then(|i| i.root_device_name()).map(str::to_string), source.and_then(root_size_gb));
    let out = cloud
        .ec2(target_region)
        .copy_image()
        .source_region(source_region.as_str())
        .source_image_id(image.as_str())
        .name(name)
        .set_client_token(client_token.map(str::to_string))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CopyImage, e))?;
    Ok(Image {
        id: ImageId::new(out.image_id().unwrap_or_default()),
        name: name.to_string(),
        architecture: architecture(arch.as_deref()),
        region: target_region.clone(),
        created_at: cloud.now().await,
        state: ImageState::Pending,
        tags: Tags::new(),
        root_device,
        root_size_gb,
    })
}
