//! Elastic IPs (allocate, associate, release) and tags on EC2 resources.

use crate::convert::*;
use crate::error::from_sdk;
use crate::AwsCloud;
use aws_sdk_ec2 as ec2;
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;

/// DescribeAddresses is not paginated: it returns every address of the region.
pub(crate) async fn describe_addresses(
    cloud: &AwsCloud,
    region: &Region,
    filter: &Filter,
) -> CloudResult<Vec<Address>> {
    let (filters, ids) = ec2_filter(filter);
    let result = cloud
        .ec2(region)
        .describe_addresses()
        .set_filters(filters)
        .set_allocation_ids(ids)
        .send()
        .await
        .map_err(|e| from_sdk(Api::DescribeAddresses, e))
        .map(|out| out.addresses().iter().map(address).collect());
    empty_if_missing(filter, result)
}

pub(crate) async fn allocate_address(cloud: &AwsCloud, region: &Region, tags: Tags) -> CloudResult<Address> {
    let out = cloud
        .ec2(region)
        .allocate_address()
        .domain(ec2::types::DomainType::Vpc)
        .tag_specifications(tag_spec(ec2::types::ResourceType::ElasticIp, &tags))
        .send()
        .await
        .map_err(|e| from_sdk(Api::AllocateAddress, e))?;
    Ok(Address {
        allocation_id: AllocationId::new(out.allocation_id().unwrap_or_default()),
        public_ip: out.public_ip().unwrap_or_default().to_string(),
        associated_to: None,
        tags,
    })
}

pub(crate) async fn release_address(cloud: &AwsCloud, region: &Region, address: &AllocationId) -> CloudResult<()> {
    cloud
        .ec2(region)
        .release_address()
        .allocation_id(address.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(Api::ReleaseAddress, e))?;
    Ok(())
}

/// Moves the address onto the instance even if it is on another one (the replacement
/// instance takes over its predecessor's address).
pub(crate) async fn associate_address(
    cloud: &AwsCloud,
    region: &Region,
    address: &AllocationId,
    instance: &InstanceId,
) -> CloudResult<()> {
    cloud
        .ec2(region)
        .associate_address()
        .allocation_id(address.as_str())
        .instance_id(instance.as_str())
        .allow_reassociation(true)
        .send()
        .await
        .map_err(|e| from_sdk(Api::AssociateAddress, e))?;
    Ok(())
}

pub(crate) async fn create_tags(cloud: &AwsCloud, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
    cloud
        .ec2(region)
        .create_tags()
        .resources(resource)
        .set_tags(Some(ec2_tag_list(&tags)))
        .send()
        .await
        .map_err(|e| from_sdk(Api::CreateTags, e))?;
    Ok(())
}

pub(crate) async fn delete_tags(
    cloud: &AwsCloud,
    region: &Region,
    resource: &str,
    keys: Vec<String>,
) -> CloudResult<()> {
    let tags = keys.into_iter().map(|k| ec2::types::Tag::builder().key(k).build()).collect();
    cloud
        .ec2(region)
        .delete_tags()
        .resources(resource)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| from_sdk(Api::DeleteTags, e))?;
    Ok(())
}
