//! Images: bundling an instance, copying to other regions.

use super::super::ctx::Ctx;
use super::super::{Output, StepError, TOKEN_TAG};
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
    let token = ctx.token(id);
    let mut tags = ctx.tags(server);
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    // CreateImage takes no ClientToken; image names are unique per region, and the token
    // tag tells this step's own image.
    let find = || async {
        let found = ctx.cloud.describe_images(&ctx.region).await?;
        Ok(found.into_iter().find(|i| i.name == name && i.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.create_image(&ctx.region, instance, name, tags.clone(), options);
    let image = ctx.create_once(id, (Api::CreateImage, Api::DescribeImages), find, make).await?;
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
    // The copy's name is unique in the target region (the plan checked it was free), and
    // the step's token is its ClientToken.
    let find = || async { Ok(ctx.cloud.describe_images(to).await?.into_iter().find(|i| i.name == name)) };
    let token = ctx.token(id);
    let make = || ctx.cloud.copy_image(&ctx.region, image, to, name, Some(&token));
    let copy = ctx.create_once(id, (Api::CopyImage, Api::DescribeImages), find, make).await?;
    ctx.wait_image(id, to, &copy.id).await?;
    Ok(Output::Image(copy.id))
}
