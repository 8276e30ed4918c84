//! Data volumes and snapshots.

use super::super::ctx::Ctx;
use super::super::{Output, StepError, TOKEN_TAG};
use crate::api::Api;
use crate::caller::attach_not_ready;
use crate::cloud::*;
use crate::model::*;
use crate::plan::StepId;

pub(super) async fn create_volume(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    (zone, size_gb): (&Zone, u32),
    ebs: &EbsSettings,
    device: Option<&str>,
    snapshot: Option<SnapshotId>,
) -> Result<Output, StepError> {
    let mut tags = ctx.tags(server);
    tags.extend(crate::volumes::volume_tags(device, crate::volumes::role_of_new(snapshot.is_some())));
    // The step's token goes as ClientToken and as a tag: an endpoint that ignores the
    // ClientToken (moto) still gets no second volume after a lost response.
    let token = ctx.token(id);
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    let client_token = Some(token.clone());
    let request = CreateVolumeRequest { client_token, zone: zone.clone(), size_gb, tags, ebs: ebs.clone(), snapshot };
    let filter = Filter::Server(server.clone());
    let find = || async {
        let found = ctx.cloud.describe_volumes(&ctx.region, &filter).await?;
        Ok(found.into_iter().find(|v| v.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.create_volume(&ctx.region, request.clone());
    let v = ctx.create_once(id, (Api::CreateVolume, Api::DescribeVolumes), find, make).await?;
    ctx.wait(id, format!("volume {} to become available", v.id), || async {
        Ok(ctx.volume(id, &v.id).await?.filter(|v| v.state == VolumeState::Available).map(|_| ()))
    })
    .await?;
    Ok(Output::Volume(v.id))
}

/// Attaches once the instance runs; the agent on the instance may have attached it
/// already, which is success.
pub(super) async fn attach_volume(
    ctx: &Ctx,
    id: StepId,
    volume: &VolumeId,
    instance: &InstanceId,
    device: &str,
) -> Result<Output, StepError> {
    ctx.wait_running(id, instance).await?;
    ctx.wait(id, format!("volume {volume} to be attached to {instance}"), || async {
        let v = ctx
            .volume_seen(id, volume)
            .await?
            .ok_or_else(|| StepError::Unexpected { what: format!("volume {volume} no longer exists") })?;
        match (&v.attached_to, v.state) {
            (Some(holder), _) if holder == instance => Ok(Some(())),
            (None, VolumeState::Available) => {
                match ctx
                    .call(id, Api::AttachVolume, || ctx.cloud.attach_volume(&ctx.region, volume, instance, device))
                    .await
                {
                    Ok(()) => Ok(None),
                    Err(StepError::Cloud { source, .. }) if attach_not_ready(&source) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            (Some(holder), _) => {
                Err(StepError::Unexpected { what: format!("volume {volume} is attached to {holder}") })
            }
            _ => Ok(None),
        }
    })
    .await?;
    Ok(Output::Nothing)
}

pub(super) async fn create_snapshot(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    volume: &VolumeId,
    backup: Option<&crate::backup::SnapshotBackup>,
) -> Result<Output, StepError> {
    let token = ctx.token(id);
    let mut tags = ctx.tags(server);
    if let Some(b) = backup {
        tags.extend(crate::backup::backup_tags(server, &b.volume, b.kind, ctx.cloud.now().await));
    }
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    // CreateSnapshot takes no ClientToken: the token tag, looked up before a retry.
    let server_filter = Filter::Server(server.clone());
    let find = || async {
        let found = ctx.cloud.describe_snapshots(&ctx.region, &server_filter).await?;
        Ok(found.into_iter().find(|s| s.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.create_snapshot(&ctx.region, volume, tags.clone());
    let snapshot = ctx.create_once(id, (Api::CreateSnapshot, Api::DescribeSnapshots), find, make).await?;
    // One look at every waiting server's snapshots a poll, shared: a fleet's backups polled
    // one id at a time would keep DescribeSnapshots' bucket empty for the whole apply.
    let what = format!("snapshot {} of {volume} to complete", snapshot.id);
    ctx.wait_snapshot(id, (server, &snapshot.id), what).await?;
    Ok(Output::Snapshot(snapshot.id))
}

/// Deletes a snapshot; one already gone (deleted by a person, or by this step before a
/// crash) is done. NotFound is not waited out: the describe by id is the answer.
pub(super) async fn delete_snapshot(
    ctx: &Ctx,
    id: StepId,
    region: &Region,
    snapshot: &SnapshotId,
) -> Result<(), StepError> {
    let filter = Filter::Id(snapshot.to_string());
    let found = ctx.call(id, Api::DescribeSnapshots, || ctx.cloud.describe_snapshots(region, &filter)).await?;
    if !found.iter().any(|s| s.id == *snapshot) {
        return Ok(());
    }
    match ctx.call(id, Api::DeleteSnapshot, || ctx.cloud.delete_snapshot(region, snapshot)).await {
        Err(StepError::Cloud { source, .. }) if source.kind == CloudErrorKind::InvalidSnapshotNotFound => Ok(()),
        other => other,
    }
}

/// Makes `restore` the data volume in place of `retire`: the retired one is tagged
/// `replaced` with the time first, so that at no moment are two data volumes of one
/// device (nor a restored one a data volume while the old still is one).
pub(super) async fn swap_data_volume(
    ctx: &Ctx,
    id: StepId,
    retire: Option<&VolumeId>,
    restore: &VolumeId,
) -> Result<(), StepError> {
    use crate::volumes::{DATA_ROLE, REPLACED_AT_TAG, REPLACED_ROLE};
    if let Some(old) = retire {
        let at = ctx.cloud.now().await.rfc3339();
        let tags = Tags::from([(ROLE_TAG.to_string(), REPLACED_ROLE.to_string()), (REPLACED_AT_TAG.to_string(), at)]);
        tag_volume(ctx, id, old, tags).await?;
    }
    tag_volume(ctx, id, restore, Tags::from([(ROLE_TAG.to_string(), DATA_ROLE.to_string())])).await
}

/// Undoes [`swap_data_volume`]: the restored volume is `restoring` again, then the retired
/// one the data volume (its replaced-at tag removed).
pub(crate) async fn swap_back(
    ctx: &Ctx,
    id: StepId,
    retire: Option<&VolumeId>,
    restore: &VolumeId,
) -> Result<(), StepError> {
    use crate::volumes::{DATA_ROLE, REPLACED_AT_TAG, RESTORING_ROLE};
    tag_volume(ctx, id, restore, Tags::from([(ROLE_TAG.to_string(), RESTORING_ROLE.to_string())])).await?;
    if let Some(old) = retire {
        tag_volume(ctx, id, old, Tags::from([(ROLE_TAG.to_string(), DATA_ROLE.to_string())])).await?;
        let keys = vec![REPLACED_AT_TAG.to_string()];
        let target = old.to_string();
        ctx.call(id, Api::DeleteTags, || ctx.cloud.delete_tags(&ctx.region, &target, keys.clone())).await?;
    }
    Ok(())
}

async fn tag_volume(ctx: &Ctx, id: StepId, volume: &VolumeId, tags: Tags) -> Result<(), StepError> {
    let target = volume.to_string();
    ctx.call(id, Api::CreateTags, || ctx.cloud.create_tags(&ctx.region, &target, tags.clone())).await
}

/// Copies a backup to `to` with its tags (its time, kind and volume: the copy is the same
/// backup there) and waits until the copy is complete. CopySnapshot takes no ClientToken:
/// the step's token tag, looked up in `to` before a retry.
pub(super) async fn copy_snapshot(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    snapshot: &SnapshotId,
    to: &Region,
) -> Result<Output, StepError> {
    let by_id = Filter::Id(snapshot.to_string());
    let source = ctx.call(id, Api::DescribeSnapshots, || ctx.cloud.describe_snapshots(&ctx.region, &by_id)).await?;
    let Some(source) = source.into_iter().find(|s| s.id == *snapshot) else {
        return Err(StepError::Unexpected { what: format!("snapshot {snapshot} is gone: nothing to copy") });
    };
    let token = ctx.token(id);
    let mut tags = source.tags;
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    let server_filter = Filter::Server(server.clone());
    let find = || async {
        let found = ctx.cloud.describe_snapshots(to, &server_filter).await?;
        Ok(found.into_iter().find(|s| s.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.copy_snapshot(&ctx.region, snapshot, to, tags.clone());
    let copy = ctx.create_once(id, (Api::CopySnapshot, Api::DescribeSnapshots), find, make).await?;
    let copy_filter = Filter::Id(copy.id.to_string());
    ctx.wait(id, format!("copy {} of {snapshot} to complete in {to}", copy.id), || async {
        let all = ctx.call(id, Api::DescribeSnapshots, || ctx.cloud.describe_snapshots(to, &copy_filter)).await?;
        Ok(all.iter().any(|s| s.id == copy.id && s.state == SnapshotState::Completed).then_some(()))
    })
    .await?;
    Ok(Output::Snapshot(copy.id))
}
