//! `cellar doctor`'s questions to AWS: who the credentials are (STS GetCallerIdentity) and
//! whether each changing call would be allowed (EC2's `DryRun`, on the same request
//! builders the real calls use, so a setting added to a call is checked too).
//!
//! A dry run's "yes" is an error response with the code `DryRunOperation`; the engine's
//! `CloudErrorKind::from_code` names it, and it becomes [`DryRunAnswer::Allowed`] here. Any
//! other answer is returned as the error it is (`UnauthorizedOperation` names a missing
//! permission). Auto Scaling has no DryRun.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

/// Who the credentials are. STS is asked in `region` (a regional endpoint).
pub(crate) async fn caller_identity(cloud: &AwsCloud, region: &Region) -> CloudResult<CallerIdentity> {
    let out = cloud.sts(region).get_caller_identity().send().await.map_err(|e| from_sdk(Api::GetCallerIdentity, e))?;
    Ok(CallerIdentity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

/// Sends `request` with DryRun.
pub(crate) async fn dry_run(cloud: &AwsCloud, region: &Region, request: &DryRun) -> CloudResult<DryRunAnswer> {
    let api = request.api();
    let ec2 = cloud.ec2(region);
    let sent = match request {
        DryRun::RunInstances(r) => {
            { crate::instances::run_instances_call(cloud, region, r).dry_run(true).send().await.map(|_| ()) }
                .map_err(|e| from_sdk(api, e))
        }
        DryRun::CreateVolume(r) => {
            { crate::volumes::create_volume_call(cloud, region, r).dry_run(true).send().await.map(|_| ()) }
                .map_err(|e| from_sdk(api, e))
        }
        DryRun::CreateLaunchTemplate(r) => {
            { crate::launch::create_launch_template_call(cloud, region, r).dry_run(true).send().await.map(|_| ()) }
                .map_err(|e| from_sdk(api, e))
        }
        DryRun::AttachVolume { volume, instance, device } => ec2
            .attach_volume()
            .volume_id(volume.as_str())
            .instance_id(instance.as_str())
            .device(device)
            .dry_run(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(Api::AttachVolume, e)),
        DryRun::AllocateAddress { tags } => ec2
            .allocate_address()
            .domain(ec2::types::DomainType::Vpc)
            .tag_specifications(tag_spec(ec2::types::ResourceType::ElasticIp, tags))
            .dry_run(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(Api::AllocateAddress, e)),
        DryRun::AssociateAddress { address, instance } => ec2
            .associate_address()
            .allocation_id(address.as_str())
            .instance_id(instance.as_str())
            .allow_reassociation(true)
            .dry_run(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(Api::AssociateAddress, e)),
        DryRun::CreateTags { resource, tags } => ec2
            .create_tags()
            .resources(resource)
            .set_tags(Some(ec2_tag_list(tags)))
            .dry_run(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(Api::CreateTags, e)),
        DryRun::TerminateInstances { instance } => ec2
            .terminate_instances()
            .instance_ids(instance.as_str())
            .dry_run(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(Api::TerminateInstances, e)),
    };
    match sent {
        Err(e) if e.kind == CloudErrorKind::DryRunOperation => Ok(DryRunAnswer::Allowed),
        Err(e) => Err(e),
        // AWS never carries out a dry run; an endpoint that did is not answering the question.
        Ok(()) => Err(CloudError::new(
            CloudErrorKind::Other("DryRunIgnored".into()),
            format!("{api}: the endpoint carried out a request sent with DryRun instead of answering DryRunOperation"),
        )),
    }
}
