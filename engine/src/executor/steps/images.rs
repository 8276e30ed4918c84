//! Images: bundling an instance, copying to other regions.

use super::super::ctx::Ctx;
use super::super::{Output, StepError};
use crate::api::Api;
use crate::cloud::ImageOptions;
use crate::model::*;
use crate::plan::StepId;

/// Images the instance as `name` (rebooting it and leaving devices out as `options` says)
/// and waits until the image is available.
pub(super) async fn create_image(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    instance: &InstanceId,
    name: &str,
    options: &ImageOptions,
) -> Result<Output, StepError> {
    let tags = ctx.tags(server);
    let image = ctx
        .call(id, Api::CreateImage, || ctx.cloud.create_image(&ctx.region, instance, name, tags.clone(), options))
        .await?;
    ctx.wait_image(id, &ctx.region, &image.id).await?;
    Ok(Output::Image(image.id))
}

/// Copies the image to `to` under the same name and waits until it is available there.
pub(super) async fn copy_image(
    ctx: &Ctx,
    id: StepId,
    image: &ImageId,
    to: &Region,
    name: &str,
) -> Result<Output, StepError> {
    let copy = ctx.call(id, Api::CopyImage, || ctx.cloud.copy_image(&ctx.region, image, to, name)).await?;
    ctx.wait_image(id, to, &copy.id).await?;
    Ok(Output::Image(copy.id))
}
