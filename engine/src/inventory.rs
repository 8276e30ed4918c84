//! Reading what exists: a server's resources by `Name` tag, the region's zones and images,
//! and the server's DNS record. This is the one engine module that calls a [`Cloud`] before
//! planning; the planner itself only sees the [`Inventory`] value.

use crate::agent::DATA_ROLE;
use crate::api::Api;
use crate::caller::{Caller, Policy, Request};
use crate::cloud::{Cloud, CloudError, Filter, MAX_FILTER_VALUES};
use crate::model::*;
use crate::network::Network;
use crate::plan::{Observation, Observed, ResourceKey, Scope};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The number of a workspace name (`workspace-3` → 3).
pub fn workspace_number(name: &str) -> Option<u32> {
    name.strip_prefix("workspace-")?.parse().ok().filter(|n| *n > 0)
}

/// The resources tagged `Name=<server>` in one region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerResources {
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    pub addresses: Vec<Address>,
    pub launch_templates: Vec<LaunchTemplate>,
    /// Launch configurations named `<server>-v<n>` (they cannot be tagged).
    pub launch_configurations: Vec<LaunchConfiguration>,
    pub groups: Vec<AutoScalingGroup>,
    /// The server's snapshots, when the scope asks for them (not observed, and not counted
    /// by [`ServerResources::is_empty`]: a destroyed server's backups outlive it).
    pub snapshots: Vec<Snapshot>,
}

impl ServerResources {
    /// What a plan records of the server's resources (unsorted).
    fn observe(&self) -> Vec<Observation> {
        let mut out = Vec::new();
        let mut add = |resource, observed| out.push(Observation { resource, observed });
        for i in &self.instances {
            add(ResourceKey::Instance(i.id.clone()), Observed::Instance { state: i.state, zone: i.zone.clone() });
        }
        for v in &self.volumes {
            let observed = Observed::Volume { state: v.state, attached_to: v.attached_to.clone(), size_gb: v.size_gb };
            add(ResourceKey::Volume(v.id.clone()), observed);
        }
        for a in &self.addresses {
            let observed = Observed::Address { public_ip: a.public_ip.clone(), associated_to: a.associated_to.clone() };
            add(ResourceKey::Address(a.allocation_id.clone()), observed);
        }
        for t in &self.launch_templates {
            let observed = Observed::LaunchTemplate {
                latest_version: t.latest_version,
                image: t.latest.image.clone(),
                instance_type: t.latest.instance_type.clone(),
            };
            add(ResourceKey::LaunchTemplate(t.id.clone()), observed);
        }
        for c in &self.launch_configurations {
            let observed = Observed::LaunchConfiguration {
                image: c.spec.image.clone(),
                instance_type: c.spec.instance_type.clone(),
            };
            add(ResourceKey::LaunchConfiguration(c.name.clone()), observed);
        }
        for g in &self.groups {
            let observed =
                Observed::Group { launch: g.launch.clone(), desired: g.desired, instances: g.instances.clone() };
            add(ResourceKey::Group(g.name.clone()), observed);
        }
        out
    }

    /// Instances that are not shutting down or terminated.
    pub fn live_instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.state.is_alive())
    }
    /// The server's (first) data volume: tagged `cellar:role=data` and, where there are
    /// several, the one without a `cellar:device` tag (see `crate::volumes`).
    pub fn data_volume(&self) -> Option<&Volume> {
        let data = || self.volumes.iter().filter(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE));
        data().find(|v| !v.tags.contains_key(crate::volumes::DEVICE_TAG)).or_else(|| data().next())
    }
    pub fn group(&self) -> Option<&AutoScalingGroup> {
        self.groups.first()
    }
    /// The live instance the data volume is attached to.
    pub fn attached_instance(&self) -> Option<&Instance> {
        let holder = self.data_volume()?.attached_to.as_ref()?;
        self.live_instances().find(|i| i.id == *holder)
    }
    /// The instance that is the server now: a running one, else any live one.
    pub fn current_instance(&self) -> Option<&Instance> {
        self.live_instances().find(|i| i.state == InstanceState::Running).or_else(|| self.live_instances().next())
    }
    pub fn is_empty(&self) -> bool {
        self.instances.iter().all(|i| !i.state.is_alive())
            && self.volumes.is_empty()
            && self.addresses.is_empty()
            && self.launch_templates.is_empty()
            && self.launch_configurations.is_empty()
            && self.groups.is_empty()
    }
}

/// Everything a plan for one scope is made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub regions: Vec<RegionInfo>,
    pub resources: ServerResources,
    /// Images in the scope's region (shared by the inventories of one read).
    pub images: Arc<Vec<Image>>,
    /// A records of the scope's DNS name (empty when it has none or there is no name).
    pub dns: Vec<String>,
    /// Images of the scope's image-family regions other than the scope's region.
    pub other_images: BTreeMap<Region, Vec<Image>>,
    /// Workspace instances of the region (when the scope asks for them).
    pub workspaces: Vec<Instance>,
    /// VPCs, subnets and security groups of the region (when the scope names a network),
    /// shared by the inventories of one read.
    pub network: Arc<Network>,
    /// The backend's clock when the inventory was read (bundle-ami dates its image with it).
    pub now: Timestamp,
    /// The server's snapshots in each of the scope's `copies` regions (its backups' copies).
    pub copies: BTreeMap<Region, Vec<Snapshot>>,
}

impl Inventory {
    pub fn zones_of(&self, region: &Region) -> Option<&[Zone]> {
        self.regions.iter().find(|r| r.region == *region).map(|r| r.zones.as_slice())
    }

    /// The newest image of a type and architecture: the latest date in its name.
    pub fn newest_image(&self, ami_type: &AmiType, architecture: Architecture) -> Option<&Image> {
        self.images
            .iter()
            .filter(|i| i.architecture == architecture && i.state == ImageState::Available)
            .filter_map(|i| {
                split_image_name_str(&i.name).filter(|(t, _)| *t == ami_type.as_str()).map(|(_, date)| (date, i))
            })
            .max_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.id.cmp(&b.1.id)))
            .map(|(_, i)| i)
    }

    /// What the plan records of this inventory, sorted: everything of the server, the newest
    /// image the scope asks about, and the DNS record.
    pub fn observe(&self, scope: &Scope) -> Vec<Observation> {
        let mut out = self.observe_server(scope);
        out.extend(self.observe_region(scope));
        sort_observations(&mut out);
        out
    }

    /// What the plan records of the scope's server alone: its resources and its DNS record
    /// (unsorted).
    pub fn observe_server(&self, scope: &Scope) -> Vec<Observation> {
        let mut out = self.resources.observe();
        if let Some(host) = &scope.dns_name {
            out.push(Observation {
                resource: ResourceKey::Dns(host.clone()),
                observed: Observed::Dns { addresses: self.dns.clone() },
            });
        }
        out
    }

    /// What the plan records of the scope's region, the same for every server of a fleet
    /// read together: workspaces, image names, the newest image and the network (unsorted).
    pub fn observe_region(&self, scope: &Scope) -> Vec<Observation> {
        let mut out = Vec::new();
        for i in &self.workspaces {
            out.push(Observation {
                resource: ResourceKey::Instance(i.id.clone()),
                observed: Observed::Instance { state: i.state, zone: i.zone.clone() },
            });
        }
        if let Some((ami_type, regions)) = &scope.image_family {
            for region in regions {
                let images = if *region == scope.region { &self.images[..] } else { self.images_in(region) };
                let mut names: Vec<String> = images
                    .iter()
                    .filter(|i| i.state != ImageState::Failed)
                    .filter(|i| i.type_and_date().is_some_and(|(t, _)| t == *ami_type))
                    .map(|i| i.name.clone())
                    .collect();
                names.sort();
                out.push(Observation {
                    resource: ResourceKey::ImageFamily { region: region.clone(), ami_type: ami_type.clone() },
                    observed: Observed::ImageNames { names },
                });
            }
        }
        if let Some((ami_type, architecture)) = &scope.image {
            let observed = match self.newest_image(ami_type, *architecture) {
                Some(i) => Observed::Image { id: i.id.clone(), name: i.name.clone() },
                None => Observed::NoImage,
            };
            out.push(Observation {
                resource: ResourceKey::NewestImage { ami_type: ami_type.clone(), architecture: *architecture },
                observed,
            });
        }
        if let Some(network) = &scope.network {
            out.extend(self.network.observe(network));
        }
        out
    }

    /// The images read of another region (none when that region was not read).
    fn images_in(&self, region: &Region) -> &[Image] {
        self.other_images.get(region).map(Vec::as_slice).unwrap_or_default()
    }

    /// The name of an image (in any region read) with this name, if one exists and has not failed.
    pub fn image_named(&self, region: &Region, name: &str) -> Option<&Image> {
        let images = if self.other_images.contains_key(region) { self.images_in(region) } else { &self.images[..] };
        images.iter().find(|i| i.name == name && i.state != ImageState::Failed)
    }
}

/// Sorts observations by resource, each resource once (the plan's order).
pub fn sort_observations(observations: &mut Vec<Observation>) {
    observations.sort_by(|a, b| a.resource.cmp(&b.resource));
    observations.dedup_by(|a, b| a.resource == b.resource);
}

/// Reads the inventory a scope needs. Resources of the server are read by `Name` tag;
/// throttled and failed reads are retried (through a [`Caller`] with [`Policy::for_reads`]).
pub async fn read(cloud: &dyn Cloud, scope: &Scope) -> Result<Inventory, CloudError> {
    let mut read = read_many(cloud, std::slice::from_ref(scope)).await?;
    Ok(read.pop().unwrap_or_default())
}

/// The inventories of many scopes (a fleet plan's servers), in their order, read in
/// batches: each kind of resource with one describe per region and [`MAX_FILTER_VALUES`]
/// servers (pages as AWS gives them), the zones once, each region's images, workspaces and
/// network once; only DNS names are looked up one by one. The calls grow with the pages,
/// not with the servers.
pub async fn read_many(cloud: &dyn Cloud, scopes: &[Scope]) -> Result<Vec<Inventory>, CloudError> {
    read_many_with(cloud, scopes, &Policy::for_reads()).await
}

/// [`read_many`] with its calls retried by `policy`.
pub async fn read_many_with(
    cloud: &dyn Cloud,
    scopes: &[Scope],
    policy: &Policy,
) -> Result<Vec<Inventory>, CloudError> {
    let caller = Caller::new(policy);
    let mut zones_of: Vec<Region> = Vec::new();
    for scope in scopes {
        zones_of.push(scope.region.clone());
        zones_of.extend(scope.image_family.iter().flat_map(|(_, regions)| regions.iter().cloned()));
        zones_of.extend(scope.copies.iter().cloned());
    }
    zones_of.sort();
    zones_of.dedup();
    let regions = caller.call(cloud, Api::DescribeRegions, || cloud.describe_regions(&zones_of)).await?;
    let now = cloud.now().await;
    let base = Inventory { regions, now, ..Default::default() };
    let mut by_region: BTreeMap<Region, RegionRead> = BTreeMap::new();
    for scope in scopes.iter().filter(|s| base.zones_of(&s.region).is_some()) {
        let region = by_region.entry(scope.region.clone()).or_default();
        region.servers.extend(scope.server.iter().cloned());
        region.images |= scope.image.is_some() || scope.image_family.is_some();
        region.workspaces |= scope.workspaces;
        region.network |= scope.network.is_some();
        region.key_pairs |= scope.network.as_ref().is_some_and(|n| n.key_name.is_some());
        region.snapshots |= scope.snapshots;
    }
    for (region, read) in &mut by_region {
        read.read(cloud, &caller, region).await?;
    }
    let mut copies = read_copies(cloud, &caller, &base, scopes).await?;
    let mut other_images: BTreeMap<Region, Vec<Image>> = BTreeMap::new();
    let mut out = Vec::with_capacity(scopes.len());
    // How many scopes still want each region's reads: the last one takes them (no copy).
    let mut wanting: BTreeMap<&Region, usize> = BTreeMap::new();
    let mut servers_left: BTreeMap<&ServerName, usize> = BTreeMap::new();
    for scope in scopes {
        *wanting.entry(&scope.region).or_default() += 1;
        if let Some(server) = &scope.server {
            *servers_left.entry(server).or_default() += 1;
        }
    }
    for scope in scopes {
        let mut inventory = base.clone();
        // Nothing more can be read of an unknown region; the planner reports it.
        let Some(read) = by_region.get_mut(&scope.region) else {
            out.push(inventory);
            continue;
        };
        let left = wanting.get_mut(&scope.region).map(|n| {
            *n -= 1;
            *n
        });
        let last = left == Some(0);
        if let Some(server) = &scope.server {
            let left = servers_left.get_mut(server).map(|n| {
                *n -= 1;
                *n
            });
            inventory.resources = read.resources_of(server, left == Some(0));
        }
        if scope.image.is_some() || scope.image_family.is_some() {
            inventory.images = take_or_clone(&mut read.images_read, last);
        }
        for other in scope.image_family.iter().flat_map(|(_, r)| r.iter()).filter(|r| **r != scope.region) {
            if inventory.zones_of(other).is_none() {
                continue; // the planner reports the unknown region
            }
            if !other_images.contains_key(other) {
                let mut images = caller.call(cloud, Api::DescribeImages, || cloud.describe_images(other)).await?;
                images.sort_by(|a, b| a.id.cmp(&b.id));
                other_images.insert(other.clone(), images);
            }
            inventory.other_images.insert(other.clone(), other_images[other].clone());
        }
        if scope.workspaces {
            inventory.workspaces = take_or_clone(&mut read.workspaces_read, last);
        }
        if let Some(host) = &scope.dns_name {
            let mut dns = caller.call(cloud, Api::DnsLookup, || cloud.resolve_dns(host)).await?;
            dns.sort();
            inventory.dns = dns;
        }
        if scope.network.is_some() {
            inventory.network = take_or_clone(&mut read.network_read, last);
        }
        if let Some(server) = &scope.server {
            for region in &scope.copies {
                let snapshots = copies.get_mut(region).and_then(|c| c.remove(server)).unwrap_or_default();
                inventory.copies.insert(region.clone(), snapshots);
            }
        }
        out.push(inventory);
    }
    Ok(out)
}

/// The snapshots of the scopes' servers in their `copies` regions, by region and server:
/// each region read with one describe per [`MAX_FILTER_VALUES`] servers (an unknown
/// region is left out: the planner reports it).
async fn read_copies(
    cloud: &dyn Cloud,
    caller: &Caller,
    base: &Inventory,
    scopes: &[Scope],
) -> Result<BTreeMap<Region, BTreeMap<ServerName, Vec<Snapshot>>>, CloudError> {
    let mut wanted: BTreeMap<&Region, std::collections::BTreeSet<&ServerName>> = BTreeMap::new();
    for scope in scopes {
        for region in scope.copies.iter().filter(|r| base.zones_of(r).is_some()) {
            wanted.entry(region).or_default().extend(scope.server.iter());
        }
    }
    let mut out: BTreeMap<Region, BTreeMap<ServerName, Vec<Snapshot>>> = BTreeMap::new();
    for (region, servers) in wanted {
        let servers: Vec<ServerName> = servers.into_iter().cloned().collect();
        let by_server = out.entry(region.clone()).or_default();
        for chunk in servers.chunks(MAX_FILTER_VALUES) {
            let filter = Filter::Servers(chunk.to_vec());
            let found =
                caller.call(cloud, Api::DescribeSnapshots, || cloud.describe_snapshots(region, &filter)).await?;
            for s in found {
                if let Some(name) = s.tags.get(NAME_TAG).and_then(|n| ServerName::parse(n).ok()) {
                    by_server.entry(name).or_default().push(s);
                }
            }
        }
    }
    Ok(out)
}

/// Puts each of `items` into the resources of the server its `Name` tag names.
fn file_by_name<T>(
    resources: &mut BTreeMap<ServerName, ServerResources>,
    items: Vec<T>,
    tags: impl Fn(&T) -> &Tags,
    list: impl Fn(&mut ServerResources) -> &mut Vec<T>,
) {
    for item in items {
        if let Some(name) = tags(&item).get(NAME_TAG).and_then(|n| ServerName::parse(n).ok()) {
            list(resources.entry(name).or_default()).push(item);
        }
    }
}

/// The value itself for its last user, a copy for the others.
fn take_or_clone<T: Clone + Default>(value: &mut T, last: bool) -> T {
    if last {
        std::mem::take(value)
    } else {
        value.clone()
    }
}

/// What is read of one region for many scopes, and what was read.
#[derive(Default)]
struct RegionRead {
    servers: std::collections::BTreeSet<ServerName>,
    images: bool,
    workspaces: bool,
    network: bool,
    key_pairs: bool,
    snapshots: bool,
    /// Every resource tagged with one of `servers`' names, by name.
    resources: BTreeMap<ServerName, ServerResources>,
    launch_configurations: Vec<LaunchConfiguration>,
    images_read: Arc<Vec<Image>>,
    workspaces_read: Vec<Instance>,
    network_read: Arc<Network>,
}

impl RegionRead {
    async fn read(&mut self, cloud: &dyn Cloud, caller: &Caller, region: &Region) -> Result<(), CloudError> {
        let names: Vec<ServerName> = self.servers.iter().cloned().collect();
        for chunk in names.chunks(MAX_FILTER_VALUES) {
            let filter = match chunk {
                [one] => Filter::Server(one.clone()),
                many => Filter::Servers(many.to_vec()),
            };
            let instances =
                caller.call(cloud, Api::DescribeInstances, || cloud.describe_instances(region, &filter)).await?;
            let volumes = caller.call(cloud, Api::DescribeVolumes, || cloud.describe_volumes(region, &filter)).await?;
            let addresses =
                caller.call(cloud, Api::DescribeAddresses, || cloud.describe_addresses(region, &filter)).await?;
            let templates = caller
                .call(cloud, Api::DescribeLaunchTemplates, || cloud.describe_launch_templates(region, &filter))
                .await?;
            let groups = caller
                .call(cloud, Api::DescribeAutoScalingGroups, || cloud.describe_auto_scaling_groups(region, &filter))
                .await?;
            let r = &mut self.resources;
            file_by_name(r, instances, |i| &i.tags, |s| &mut s.instances);
            file_by_name(r, volumes, |v| &v.tags, |s| &mut s.volumes);
            file_by_name(r, addresses, |a| &a.tags, |s| &mut s.addresses);
            file_by_name(r, templates, |t| &t.tags, |s| &mut s.launch_templates);
            file_by_name(r, groups, |g| &g.tags, |s| &mut s.groups);
            if self.snapshots {
                let snapshots =
                    caller.call(cloud, Api::DescribeSnapshots, || cloud.describe_snapshots(region, &filter)).await?;
                file_by_name(&mut self.resources, snapshots, |s| &s.tags, |s| &mut s.snapshots);
            }
        }
        if !names.is_empty() {
            self.launch_configurations = caller
                .call(cloud, Api::DescribeLaunchConfigurations, || cloud.describe_launch_configurations(region))
                .await?;
        }
        if self.images {
            let mut images = caller.call(cloud, Api::DescribeImages, || cloud.describe_images(region)).await?;
            images.sort_by(|a, b| a.id.cmp(&b.id));
            self.images_read = Arc::new(images);
        }
        if self.workspaces {
            let all = caller
                .call(cloud, Request::describe(Api::DescribeInstances, &Filter::All), || {
                    cloud.describe_instances(region, &Filter::All)
                })
                .await?;
            self.workspaces_read = all
                .into_iter()
                .filter(|i| i.tags.get(NAME_TAG).is_some_and(|n| workspace_number(n).is_some()))
                .collect();
            self.workspaces_read.sort_by(|a, b| a.id.cmp(&b.id));
        }
        if self.network {
            self.network_read = Arc::new(read_network_with(cloud, caller, region, self.key_pairs).await?);
        }
        Ok(())
    }

    /// One server's resources (taken by its `last` scope), sorted, with its launch configurations (`<server>-v<n>`, or
    /// the one its group uses).
    fn resources_of(&mut self, server: &ServerName, last: bool) -> ServerResources {
        let mut r = match last {
            true => self.resources.remove(server).unwrap_or_default(),
            false => self.resources.get(server).cloned().unwrap_or_default(),
        };
        // A group being deleted (its instances terminating) is gone for planning and status:
        // it is not the server's group, nor observed (its disappearance makes no plan stale).
        // Its name stays taken until it is gone: the executor's CreateAutoScalingGroup and
        // deletes of its launch settings wait for it (`executor/deleting.rs`).
        r.groups.retain(|g| !g.deleting);
        let prefix = format!("{server}-v");
        r.launch_configurations = self
            .launch_configurations
            .iter()
            .filter(|c| {
                c.name.strip_prefix(&prefix).is_some_and(|n| n.parse::<u32>().is_ok())
                    || r.groups.iter().any(|g| g.launch == LaunchSource::Configuration { name: c.name.clone() })
            })
            .cloned()
            .collect();
        r.launch_configurations.sort_by(|a, b| a.name.cmp(&b.name));
        r.instances.sort_by(|a, b| a.id.cmp(&b.id));
        r.volumes.sort_by(|a, b| a.id.cmp(&b.id));
        r.addresses.sort_by(|a, b| a.allocation_id.cmp(&b.allocation_id));
        r.launch_templates.sort_by(|a, b| a.id.cmp(&b.id));
        r.groups.sort_by(|a, b| a.name.cmp(&b.name));
        r.snapshots.sort_by(|a, b| a.id.cmp(&b.id));
        r
    }
}

/// The network of `region` (VPCs, subnets, security groups, and with `key_pairs` its key
/// pairs), for [`crate::network::resolve_network`]: what a `doctor` reads once per region
/// before resolving every server's settings in it.
pub async fn read_network(cloud: &dyn Cloud, region: &Region, key_pairs: bool) -> Result<Network, CloudError> {
    read_network_with(cloud, &Caller::new(&Policy::for_reads()), region, key_pairs).await
}

/// The region's VPCs, subnets and security groups, sorted by id; its key pairs if asked.
pub(crate) async fn read_network_with(
    cloud: &dyn Cloud,
    caller: &Caller,
    region: &Region,
    key_pairs: bool,
) -> Result<Network, CloudError> {
    let mut vpcs = caller.call(cloud, Api::DescribeVpcs, || cloud.describe_vpcs(region)).await?;
    let mut subnets = caller.call(cloud, Api::DescribeSubnets, || cloud.describe_subnets(region)).await?;
    let mut security_groups =
        caller.call(cloud, Api::DescribeSecurityGroups, || cloud.describe_security_groups(region)).await?;
    vpcs.sort_by(|a, b| a.id.cmp(&b.id));
    subnets.sort_by(|a, b| a.id.cmp(&b.id));
    security_groups.sort_by(|a, b| a.id.cmp(&b.id));
    let key_pairs = if key_pairs {
        let mut keys = caller.call(cloud, Api::DescribeKeyPairs, || cloud.describe_key_pairs(region)).await?;
        keys.sort();
        Some(keys)
    } else {
        None
    };
    Ok(Network { vpcs, subnets, security_groups, key_pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(images: &[(&str, &str, Architecture, ImageState)], query: (&str, Architecture), expected: Option<&str>) {
        let inventory = Inventory {
            images: images
                .iter()
                .map(|(id, name, arch, state)| Image {
                    id: ImageId::new(*id),
                    name: name.to_string(),
                    architecture: *arch,
                    region: Region::new("us-east-1"),
                    created_at: Timestamp(0),
                    state: *state,
                    tags: Tags::new(),
                    root_device: None,
                    root_size_gb: None,
                })
                .collect::<Vec<_>>()
                .into(),
            ..Default::default()
        };
        let got = inventory.newest_image(&AmiType::new(query.0), query.1).map(|i| i.id.as_str());
        assert_eq!(got, expected, "query {query:?}");
    }

    #[test]
    fn newest_image_by_type_architecture_and_date_in_name() {
        use Architecture::*;
        use ImageState::*;
        let images = [
            ("ami-1", "web-server-2026-08-04", X86_64, Available),
            ("ami-2", "web-server-2026-04-02", X86_64, Available),
            ("ami-3", "web-server-2026-12-01", Arm64, Available),
            ("ami-4", "web-server-extra-2027-01-01", X86_64, Available),
            ("ami-5", "web-server-latest", X86_64, Available),
        ];
        check(&images, ("web-server", X86_64), Some("ami-1"));
        check(&images, ("web-server", Arm64), Some("ami-3"));
        check(&images, ("web-server-extra", X86_64), Some("ami-4"));
        check(&images, ("web-server", I386), None);
        check(&images, ("db", X86_64), None);
    }

    #[test]
    fn newest_image_is_an_available_one() {
        use Architecture::*;
        use ImageState::*;
        // A newer image still being made (bundle-ami in progress), or one that failed, is not
        // launched from: the newest available one is.
        let images = [
            ("ami-1", "web-server-2026-08-04", X86_64, Available),
            ("ami-6", "web-server-2026-11-25", X86_64, Pending),
            ("ami-7", "web-server-2026-11-26", X86_64, Failed),
        ];
        check(&images, ("web-server", X86_64), Some("ami-1"));
        check(&images[1..], ("web-server", X86_64), None);
        // The same date twice: the higher id, so the choice does not depend on listing order.
        let twins = [("ami-2", "web-server-2026-08-04", X86_64, Available), images[0]];
        check(&twins, ("web-server", X86_64), Some("ami-2"));
    }

    #[test]
    fn workspace_numbers() {
        let check = |name: &str, expected: Option<u32>| assert_eq!(workspace_number(name), expected, "{name}");
        check("workspace-1", Some(1));
        check("workspace-12", Some(12));
        check("workspace-0", None);
        check("workspace-", None);
        check("workspace-x", None);
        check("duvel", None);
        check("my-workspace-1", None);
    }

    fn instance(id: &str, state: InstanceState) -> Instance {
        Instance {
            id: InstanceId::new(id),
            state,
            zone: Zone::new("us-east-1a"),
            instance_type: InstanceType::new("m5.large"),
            image: ImageId::new("ami-1"),
            architecture: Architecture::X86_64,
            public_ip: None,
            launched_at: Timestamp(0),
            tags: Tags::new(),
            group: None,
            launched_from: None,
        }
    }

    #[test]
    fn current_instance_is_a_running_one_else_any_live_one() {
        use InstanceState::*;
        let check = |instances: &[(&str, InstanceState)], expected: Option<&str>| {
            let r = ServerResources {
                instances: instances.iter().map(|(id, state)| instance(id, *state)).collect(),
                ..Default::default()
            };
            assert_eq!(r.current_instance().map(|i| i.id.as_str()), expected, "{instances:?}");
        };
        check(&[], None);
        check(&[("i-1", Pending), ("i-2", Running)], Some("i-2"));
        check(&[("i-1", Running), ("i-2", Pending)], Some("i-1"));
        check(&[("i-1", ShuttingDown), ("i-2", Stopped)], Some("i-2"));
        check(&[("i-1", Terminated), ("i-2", ShuttingDown)], None);
    }
}
