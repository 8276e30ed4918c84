//! EBS volumes (create, attach, detach, delete) and snapshots.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

pub(crate) async fn describe_volumes(cloud: &AwsCloud, region: &Region, filter: &Filter) -> CloudResult<Vec<Volume>> {
    let (filters, ids) = ec2_filter(filter);
    let result = async {
        let mut out = Vec::new();
        let mut pages =
            cloud.ec2(region).describe_volumes().set_filters(filters).set_volume_ids(ids).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeVolumes, e))?;
            out.extend(page.volumes().iter().map(volume));
        }
        Ok(out)
    }
    .await;
    empty_if_missing(filter, result)
}

/// The CreateVolume call of `request`, unsent (sent for real, or with DryRun by `dry_run.rs`).
pub(crate) fn create_volume_call(
    cloud: &AwsCloud,
    region: &Region,
    request: &CreateVolumeRequest,
) -> ec2::operation::create_volume::builders::CreateVolumeFluentBuilder {
    cloud
        .ec2(region)
        .create_volume()
        .availability_zone(request.zone.as_str())
        .size(count(request.size_gb))
        .volume_type(ec2::types::VolumeType::from(request.ebs.volume_type.as_str()))
        .set_iops(request.ebs.iops.map(count))
        .set_throughput(request.ebs.throughput.map(count))
        .encrypted(request.ebs.encrypted)
        .set_kms_key_id(request.ebs.kms_key.clone())
        .set_client_token(request.client_token.clone())
        .set_snapshot_id(request.snapshot.as_ref().map(|s| s.to_string()))
        .tag_specifications(tag_spec(ec2::types::ResourceType::Volume, &request.tags))
}

pub(crate) async fn create_volume(
    cloud: &AwsCloud,
    region: &Region,
    request: CreateVolumeRequest,
) -> CloudResult<Volume> {
    let out = create_volume_call(cloud, region, &request).send().await.map_err(|e| from_sdk(Api::CreateVolume, e))?;
    Ok(Volume {
        id: VolumeId::new(out.volume_id().unwrap_or_default()),
        state: VolumeState::Creating,
        zone: Zone::new(out.availability_zone().unwrap_or(request.zone.as_str())),
        size_gb: out.size().map_or(request.size_gb, |s| s.max(0) as u32),
        attached_to: None,
        device: None,
        tags: request.tags,
        ebs: request.ebs,
    })
}

pub(crate) async fn delete_volume(cloud: &AwsCloud, region: &Region, volume: &VolumeId) -> CloudResult<()> {
    cloud
        .ec2(region)
        .delete_volume()
        .volume_id(volume.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteVolume, e))?;
    Ok(())
}

pub(crate) async fn attach_volume(
    cloud: &AwsCloud,
    region: &Region,
    volume: &VolumeId,
    instance: &InstanceId,
    device: &str,
) -> CloudResult<()> {
    cloud
        .ec2(region)
        .attach_volume()
        .volume_id(volume.as_str())
        .instance_id(instance.as_str())
        .device(device)
        .send()
        .await
        .map_err(|e| from_sdk(Api::AttachVolume, e))?;
    Ok(())
}

/// Always names the instance (moto crashes without it; AWS checks it).
pub(crate) async fn detach_volume(
    cloud: &AwsCloud,
    region: &Region,
    volume: &VolumeId,
    instance: &InstanceId,
) -> CloudResult<()> {
    cloud
        .ec2(region)
        .detach_volume()
        .volume_id(volume.as_str())
        .instance_id(instance.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::DetachVolume, e))?;
    Ok(())
}

pub(crate) async fn create_snapshot(
    cloud: &AwsCloud,
    region: &Region,
    volume: &VolumeId,
    tags: Tags,
) -> CloudResult<Snapshot> {
    let out = cloud
        .ec2(region)
        .create_snapshot()
        .volume_id(volume.as_str())
        .tag_specifications(tag_spec(ec2::types::ResourceType::Snapshot, &tags))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateSnapshot, e))?;
    Ok(Snapshot {
        id: SnapshotId::new(out.snapshot_id().unwrap_or_default()),
        volume: volume.clone(),
        size_gb: out.volume_size().unwrap_or(0).max(0) as u32,
        state: SnapshotState::Pending,
        created_at: timestamp(out.start_time()),
        tags,
    })
}

pub(crate) async fn describe_snapshots(
    cloud: &AwsCloud,
    region: &Region,
    filter: &Filter,
) -> CloudResult<Vec<Snapshot>> {
    let (filters, ids) = ec2_filter(filter);
    let result = async {
        let mut out = Vec::new();
        let mut pages = cloud
            .ec2(region)
            .describe_snapshots()
            .owner_ids("self")
            .set_filters(filters)
            .set_snapshot_ids(ids)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Api::DescribeSnapshots, e))?;
            out.extend(page.snapshots().iter().map(snapshot));
        }
        Ok(out)
    }
    .await;
    empty_if_missing(filter, result)
}

pub(crate) async fn delete_snapshot(cloud: &AwsCloud, region: &Region, snapshot: &SnapshotId) -> CloudResult<()> {
    cloud
        .ec2(region)
        .delete_snapshot()
        .snapshot_id(snapshot.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteSnapshot, e))?;
    Ok(())
}

/// CopySnapshot, sent to the target region's endpoint (`SourceRegion` names the source),
/// tagged at creation. AWS's CopySnapshot has no `ClientToken`. Its answer holds the new id
/// only: the size is the source's, read first (as CopyImage reads its source image).
pub(crate) async fn copy_snapshot(
    cloud: &AwsCloud,
    source_region: &Region,
    snapshot: &SnapshotId,
    target_region: &Region,
    tags: Tags,
) -> CloudResult<Snapshot> {
    let source = describe_snapshots(cloud, source_region, &Filter::Id(snapshot.to_string())).await?;
    let size_gb = source.iter().find(|s| s.id == *snapshot).map_or(0, |s| s.size_gb);
    let out = cloud
        .ec2(target_region)
        .copy_snapshot()
        .source_region(source_region.as_str())
        .source_snapshot_id(snapshot.as_str())
        .tag_specifications(tag_spec(ec2::types::ResourceType::Snapshot, &tags))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CopySnapshot, e))?;
    Ok(Snapshot {
        id: SnapshotId::new(out.snapshot_id().unwrap_or_default()),
        // AWS gives a copy an arbitrary volume id ("should not be used for any purpose").
        volume: VolumeId::new("vol-ffffffff"),
        size_gb,
        state: SnapshotState::Pending,
        created_at: cloud.now().await,
        tags,
    })
}
