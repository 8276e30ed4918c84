//! Tags on a server's existing resources (what `sync` changes when the configured tags
//! moved on): EC2's CreateTags, or Auto Scaling's CreateOrUpdateTags for a group. Both
//! overwrite a key the resource has, so a repeated step changes nothing more.

use super::super::ctx::Ctx;
use super::super::StepError;
use crate::api::Api;
use crate::model::*;
use crate::plan::{StepId, TagTarget};

pub(super) async fn tag_resource(ctx: &Ctx, id: StepId, resource: &TagTarget, tags: &Tags) -> Result<(), StepError> {
    let ec2 = match resource {
        TagTarget::Instance(i) => i.as_str(),
        TagTarget::Volume(v) => v.as_str(),
        TagTarget::Address(a) => a.as_str(),
        TagTarget::LaunchTemplate(t) => t.as_str(),
        TagTarget::Group(g) => {
            let call = || ctx.cloud.create_or_update_group_tags(&ctx.region, g, tags.clone());
            return ctx.call(id, Api::CreateOrUpdateTags, call).await;
        }
    };
    ctx.call(id, Api::CreateTags, || ctx.cloud.create_tags(&ctx.region, ec2, tags.clone())).await
}
