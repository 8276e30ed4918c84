//! Commands run on a server's own instance, without `@SERVER` (the seed's "run locally":
//! logged into a server, `run.sh stop-auto-scaling` acted on that server).
//!
//! The engine's parser says when a command wants its server from the instance
//! (`command::server_from_instance`) and parses it once the server is known
//! (`command::parse_on_instance`, which also sets the local case's flags). Finding the
//! server is here: the instance's id and region from the metadata service (IMDSv2,
//! `imds.rs`, with short timeouts: off EC2 nothing answers), then the instance's `Name`
//! tag through the same AWS backend the command uses.

use crate::backend::BackendKind;
use crate::commands::Ctx;
use anyhow::{bail, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::model::ServerName;

/// The server of the instance cellar runs on, for `command` typed without `@SERVER`.
pub async fn server_of_this_instance(ctx: &Ctx, cloud: &dyn Cloud, command: &str) -> Result<ServerName> {
    if ctx.backend == BackendKind::Sim {
        bail!(
            "{command} names no server, and the simulator has no instance cellar could be running on\n  \
fix: name the server ({command}@NAME); without @NAME, `cellar --backend aws` on a server's own EC2 instance takes the server from the instance's Name tag"
        );
    }
    on_ec2(cloud, command).await
}

#[cfg(not(feature = "aws"))]
async fn on_ec2(_cloud: &dyn Cloud, command: &str) -> Result<ServerName> {
    bail!(
        "{command} names no server, and finding the server of this instance needs AWS support, which this cellar was built without\n  \
fix: name the server ({command}@NAME), or install a cellar built with the `aws` feature (on by default)"
    )
}

#[cfg(feature = "aws")]
async fn on_ec2(cloud: &dyn Cloud, command: &str) -> Result<ServerName> {
    use anyhow::Context;
    use cellar_engine::api::Api;
    use cellar_engine::caller::{Caller, Policy};
    use cellar_engine::cloud::Filter;
    use cellar_engine::model::NAME_TAG;

    let imds = crate::imds::Imds::from_env_quick();
    // The token and three values, each within the quick timeout; the whole within this.
    let patience = crate::imds::QUICK * 5;
    let identity = match tokio::time::timeout(patience, imds.identity()).await {
        Ok(Ok(identity)) => identity,
        Ok(Err(e)) => bail!("{}", not_on_ec2(command, &e.to_string())),
        Err(_) => bail!("{}", not_on_ec2(command, &format!("{}: no answer within {patience:?}", imds.endpoint()))),
    };
    let (instance, region) = (&identity.instance, &identity.region);
    let caller = Caller::new(&Policy::for_reads());
    let by_id = Filter::Id(instance.to_string());
    let found = caller
        .call(cloud, Api::DescribeInstances, || cloud.describe_instances(region, &by_id))
        .await
        .with_context(|| format!("reading the Name tag of this instance ({instance} in {region})"))?;
    let Some(found) = found.into_iter().next() else {
        bail!(
            "this instance ({instance}, from the metadata service) is not in {region} for these credentials\n  \
fix: run cellar with the instance's own role (leave AWS_PROFILE and the access-key variables unset), or name the server ({command}@NAME)"
        );
    };
    let Some(name) = found.tags.get(NAME_TAG) else {
        bail!(
            "this instance ({instance} in {region}) has no Name tag, so it is not a cellar server\n  \
fix: name the server ({command}@NAME); instances cellar launches are tagged Name=<server> at creation"
        );
    };
    let server = ServerName::parse(name).with_context(|| {
        format!("this instance ({instance} in {region}) is tagged Name={name:?}, which is not a server name; name the server ({command}@NAME)")
    })?;
    crate::output::stderr(&format!(
        "cellar: on instance {instance} in {region}, tagged Name={server}: the command is about {server}\n"
    ));
    Ok(server)
}

/// Off EC2 (or with the metadata service off): say so, and how to name the server instead.
#[cfg(feature = "aws")]
fn not_on_ec2(command: &str, what: &str) -> String {
    format!(
        "{command} names no server, and cellar could not ask the instance metadata service which instance it runs on \
({what}): this works only on a server's own EC2 instance\n  \
fix: name the server ({command}@NAME), or run it on the server's instance (IMDSv2 must be reachable there)"
    )
}
