//! Elastic IPs and the DNS gate.

use super::super::ctx::Ctx;
use super::super::{Output, StepError, TOKEN_TAG};

use crate::api::Api;
use crate::cloud::Filter;
use crate::model::*;
use crate::plan::StepId;

pub(super) async fn allocate_address(
    ctx: &Ctx,
    id: StepId,
    server: &ServerName,
    awaiting_dns: Option<&str>,
) -> Result<Output, StepError> {
    let mut tags = ctx.tags(server);
    if let Some(host) = awaiting_dns {
        tags.insert(AWAITING_DNS_TAG.to_string(), host.to_string());
    }
    // AllocateAddress takes no ClientToken: the address carries the step's token as a tag,
    // and every attempt after the first looks for it first (a lost response's address).
    let token = ctx.token(id);
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    let filter = Filter::Server(server.clone());
    let find = || async {
        let found = ctx.cloud.describe_addresses(&ctx.region, &filter).await?;
        Ok(found.into_iter().find(|a| a.tags.get(TOKEN_TAG) == Some(&token)))
    };
    let make = || ctx.cloud.allocate_address(&ctx.region, tags.clone());
    let a = ctx.create_once(id, (Api::AllocateAddress, Api::DescribeAddresses), find, make).await?;
    Ok(Output::Address { allocation_id: a.allocation_id, public_ip: a.public_ip })
}

/// Passes when `host` points at the address (looked up again every
/// [`DNS_POLL`](crate::executor::DNS_POLL) while the operator waits, `--wait-dns`), or the
/// operator confirms it will; then the address loses its awaiting-DNS tag.
pub(super) async fn dns_gate(ctx: &Ctx, id: StepId, host: &str, address: &AllocationId) -> Result<Output, StepError> {
    let ip = ctx.address(id, address).await?.public_ip;
    let mut records = ctx.call(id, Api::DnsLookup, || ctx.cloud.resolve_dns(host)).await?;
    let polls =
        ctx.operator.dns_wait().map_or(0, |limit| limit.as_secs().div_ceil(crate::executor::DNS_POLL.as_secs()));
    for _ in 0..polls {
        if records.contains(&ip) {
            break;
        }
        ctx.operator.dns_pause(host, &ip, crate::executor::DNS_POLL);
        records = ctx.call(id, Api::DnsLookup, || ctx.cloud.resolve_dns(host)).await?;
    }
    if !records.contains(&ip) && !ctx.operator.confirm_dns(host, &ip) {
        return Err(StepError::DnsNotConfirmed { host: host.to_string(), ip });
    }
    ctx.call(id, Api::DeleteTags, || {
        ctx.cloud.delete_tags(&ctx.region, address.as_str(), vec![AWAITING_DNS_TAG.to_string()])
    })
    .await?;
    Ok(Output::Nothing)
}

/// Associates the address once the instance runs, unless it already is (the agent may
/// have done it).
pub(super) async fn associate_address(
    ctx: &Ctx,
    id: StepId,
    address: &AllocationId,
    instance: &InstanceId,
) -> Result<Output, StepError> {
    ctx.wait_running(id, instance).await?;
    if ctx.address(id, address).await?.associated_to.as_ref() != Some(instance) {
        ctx.call(id, Api::AssociateAddress, || ctx.cloud.associate_address(&ctx.region, address, instance)).await?;
    }
    Ok(Output::Nothing)
}

pub(super) async fn release_address(ctx: &Ctx, id: StepId, address: &AllocationId) -> Result<(), StepError> {
    ctx.call(id, Api::ReleaseAddress, || ctx.cloud.release_address(&ctx.region, address)).await
}
