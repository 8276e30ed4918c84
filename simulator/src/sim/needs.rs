//! What each `Cloud` call needs loaded before it runs, for a world loaded a shard at a
//! time (`world/lazy.rs`): the ids, names and client tokens its request names.
//!
//! Invariant: a request's needs cover everything its operation looks up by id, name or
//! token, and every `Name` it gives a resource (so the new resource joins its server's
//! shard loaded, never a second copy of it); describes without a filter need everything.

use crate::world::{tokens_key, Need};
use cellar_engine::api::Api;
use cellar_engine::cloud::{
    CreateAutoScalingGroupRequest, CreateLaunchTemplateRequest, CreateVolumeRequest, Filter, RunInstanceRequest,
    UpdateAutoScalingGroupRequest,
};
use cellar_engine::model::*;

pub(crate) fn id(id: &(impl std::fmt::Display + ?Sized)) -> Need {
    Need::Id(id.to_string())
}

pub(crate) fn group(name: &AutoScalingGroupName) -> Need {
    Need::Group(name.to_string())
}

/// The server whose `Name` the tags give, if any.
pub(crate) fn named(tags: &Tags) -> Vec<Need> {
    tags.get(NAME_TAG).map(|n| Need::Name(n.clone())).into_iter().collect()
}

/// A describe of EC2 resources by `filter`.
pub(crate) fn by_filter(filter: &Filter) -> Vec<Need> {
    match filter {
        Filter::All => vec![Need::All],
        Filter::Server(name) => vec![Need::Name(name.to_string())],
        Filter::Servers(names) => names.iter().map(|n| Need::Name(n.to_string())).collect(),
        Filter::Id(id) => vec![Need::Id(id.clone())],
    }
}

/// DescribeInstanceStatus of `ids`; no id: every instance of the region.
pub(crate) fn instance_status(ids: &[InstanceId]) -> Vec<Need> {
    if ids.is_empty() {
        return vec![Need::All];
    }
    ids.iter().map(id).collect()
}

/// A describe of auto scaling groups (whose "id" is their name).
pub(crate) fn groups_by_filter(filter: &Filter) -> Vec<Need> {
    match filter {
        Filter::Id(name) => vec![Need::Group(name.clone())],
        other => by_filter(other),
    }
}

fn token(api: Api, region: &Region, token: Option<&str>) -> Option<Need> {
    token.filter(|t| !t.is_empty()).map(|t| Need::Token(tokens_key(api, region, t)))
}

pub(crate) fn create_volume(region: &Region, request: &CreateVolumeRequest) -> Vec<Need> {
    let mut needs = named(&request.tags);
    needs.extend(request.snapshot.as_ref().map(id));
    let volume_token = request.client_token.as_deref().filter(|t| !t.is_empty());
    needs.extend(volume_token.map(|t| Need::Token(format!("{region}/{t}"))));
    needs
}

pub(crate) fn run_instance(region: &Region, request: &RunInstanceRequest) -> Vec<Need> {
    let mut needs = named(&request.tags);
    if !request.client_token.is_empty() {
        needs.push(Need::Token(request.client_token.clone()));
    }
    needs.extend(token(Api::RunInstances, region, Some(&request.client_token)));
    needs
}

/// CreateTags on an EC2 resource: it, and the server a new `Name` ties it to.
pub(crate) fn tagging(resource: &str, tags: &Tags) -> Vec<Need> {
    let mut needs = vec![Need::Id(resource.to_string())];
    needs.extend(named(tags));
    needs
}

pub(crate) fn create_template(region: &Region, request: &CreateLaunchTemplateRequest) -> Vec<Need> {
    let mut needs = named(&request.tags);
    needs.push(Need::TemplateName(region.clone(), request.name.clone()));
    needs.extend(token(Api::CreateLaunchTemplate, region, request.client_token.as_deref()));
    needs
}

pub(crate) fn template_version(region: &Region, template: &LaunchTemplateId, client_token: Option<&str>) -> Vec<Need> {
    let mut needs = vec![id(template)];
    needs.extend(token(Api::CreateLaunchTemplateVersion, region, client_token));
    needs
}

/// A server lock: its name in the launch templates' namespace (locks themselves carry no
/// `Name` and stay in the core).
pub(crate) fn lock(region: &Region, server: &ServerName) -> Vec<Need> {
    vec![Need::TemplateName(region.clone(), cellar_engine::lock::object_name(server))]
}

fn launch(source: &LaunchSource) -> Vec<Need> {
    match source {
        LaunchSource::Template { id: t, .. } => vec![id(t)],
        LaunchSource::Configuration { .. } => vec![],
    }
}

pub(crate) fn create_group(request: &CreateAutoScalingGroupRequest) -> Vec<Need> {
    let mut needs = named(&request.tags);
    needs.push(group(&request.name));
    needs.extend(launch(&request.launch));
    needs
}

pub(crate) fn update_group(name: &AutoScalingGroupName, update: &UpdateAutoScalingGroupRequest) -> Vec<Need> {
    let mut needs = vec![group(name)];
    needs.extend(update.launch.iter().flat_map(launch));
    needs
}

pub(crate) fn group_tagging(name: &AutoScalingGroupName, tags: &Tags) -> Vec<Need> {
    let mut needs = vec![group(name)];
    needs.extend(named(tags));
    needs
}

pub(crate) fn snapshot(volume: &VolumeId, tags: &Tags) -> Vec<Need> {
    let mut needs = vec![id(volume)];
    needs.extend(named(tags));
    needs
}

/// CopySnapshot: the source, and the server its tags name.
pub(crate) fn copy_snapshot(snapshot: &SnapshotId, tags: &Tags) -> Vec<Need> {
    let mut needs = vec![id(snapshot)];
    needs.extend(named(tags));
    needs
}
