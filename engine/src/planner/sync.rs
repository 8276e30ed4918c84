//! `sync@NAME [--restart]`: the configuration is the desired state.
//!
//! Compares what the server's group launches (its launch template's latest version, or
//! its launch configuration) with what the configuration says: the instance type, the
//! image (the newest of the server's AMI type and architecture), the agent's user data
//! (spawn hook, persisted directories, volumes) and the launch settings (instance profile,
//! security groups, key pair, metadata options, root volume); and the configured tags with
//! those of each of its resources. Every difference is a [`Drift`] (old → new, with the
//! file:line of the configured value). A launch difference becomes a new launch settings
//! version and a group update (as upgrade-ami makes), and with `--restart` the instance's
//! replacement; a tag difference becomes a [`Action::TagResource`] step per resource.
//! What sync cannot change in place (the group's subnet, a server without a group whose
//! instance was attached by hand) is refused with the command that does change it.

use super::launch::{
    agent_spec, check_architecture, configured_launch_scope, current_launch, relaunch, restart, NewLaunch,
};
use super::{configured, network, PlanError, Planner, Planning};
use crate::agent::{parse_user_data, AgentInvocation};
use crate::command::{CommandSpec, Flag};
use crate::config::{ServerConfig, DEFAULT_SOURCE};
use crate::inventory::ServerResources;
use crate::model::*;
use crate::plan::*;
use std::sync::Arc;

pub const SPEC: CommandSpec = CommandSpec {
    name: "sync",
    args: &[],
    flags: &[Flag::Restart],
    help: "makes the server match its configuration: a new launch settings version when the instance type, newest image, spawn hook, volumes or launch settings differ, and the configured tags on every resource; --restart replaces the instance now",
    planner: Planner::Server { scope: configured_launch_scope, plan },
};

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    p.zones(configured(&config.region))?;
    let r = p.resources();
    if r.is_empty() {
        return Err(PlanError::NothingToSync { server: server.clone(), region: p.scope.region.clone() });
    }
    if config.volumes.value.len() > 1 {
        // The new launch settings' agent mounts every configured volume: each must exist.
        super::volumes::existing(p, config)?;
    }
    p.tag(server, config.tag_values());
    let found = Found::of(p, server);
    let Some(group) = r.group() else {
        return hand_launched(p, config, r);
    };
    let instance_type = (config.instance_type.value.clone(), configured(&config.instance_type));
    check_architecture(&instance_type, config.architecture.value)?;
    let image = p.image(&config.ami_type.value, config.architecture.value)?;
    let resolved = network::resolve(p, &config.launch_settings, image, Some(&config.zone_name()), true)?;
    let subnets: Vec<SubnetId> = resolved.subnet.iter().cloned().collect();
    if group.subnets != subnets {
        return Err(PlanError::SyncCannotChange {
            server: server.clone(),
            what: format!("the subnet of group {} ({} → {})", group.name, list(&group.subnets), list(&subnets)),
            configured_at: found.source(&format!("subnets.{}", config.zone.value)),
        });
    }
    let current = current_launch(p, server, group)?;
    let desired = NewLaunch {
        instance_type: instance_type.0,
        image,
        agent: agent_spec(config, AgentMode::Spawn),
        settings: resolved.settings,
    };
    let drift = launch_drift(&found, current, &desired, &p.inventory.images);
    let tagged = tag_drift(p, config, r);
    if drift.is_empty() {
        let behind = instance_behind(p, &found, group, current);
        if tagged == 0 && !behind {
            p.note(format!("{server} matches its configuration."));
        }
        return Ok(());
    }
    let settings: Vec<&str> = drift.iter().map(|d| d.setting.as_str()).collect();
    p.note(format!("The group launches {server} with its configured {} from now on.", settings.join(", ")));
    for d in drift {
        p.drift(d);
    }
    let launched_as = LaunchedAs { instance_type: desired.instance_type.clone(), image: desired.image.id.clone() };
    let update = relaunch(p, server, group, desired);
    restart(p, server, Some(update), launched_as);
    Ok(())
}

/// What a comparison found, for one server.
struct Found<'a> {
    server: &'a ServerName,
    /// The server's settings as the plan records them (with their sources).
    settings: Arc<[Setting]>,
}

impl Found<'_> {
    fn of<'a>(p: &Planning<'_>, server: &'a ServerName) -> Found<'a> {
        Found { server, settings: p.recorded_settings(server) }
    }

    /// Where the configured value of `setting` comes from (`servers/duvel.ron:5:20`).
    fn source(&self, setting: &str) -> String {
        let recorded = self.settings.iter().find(|s| s.name == setting);
        recorded.map_or_else(|| DEFAULT_SOURCE.to_string(), |s| s.source.clone())
    }

    fn drift(&self, setting: &str, launched: String, configured: String) -> Drift {
        Drift {
            server: self.server.clone(),
            setting: setting.to_string(),
            launched,
            configured,
            source: self.source(setting),
        }
    }
}

/// Every setting in which `current` (what the group launches) differs from `desired`.
fn launch_drift(found: &Found<'_>, current: &LaunchSpec, desired: &NewLaunch<'_>, images: &[Image]) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut differ = |setting: &str, launched: String, configured: String| {
        if launched != configured {
            out.push(found.drift(setting, launched, configured));
        }
    };
    differ("instance_type", current.instance_type.to_string(), desired.instance_type.to_string());
    if current.image != desired.image.id {
        let launched = match images.iter().find(|i| i.id == current.image) {
            Some(i) => format!("{} ({})", i.id, i.name),
            None => current.image.to_string(),
        };
        let newest = format!("{} ({}, the newest of the type)", desired.image.id, desired.image.name);
        differ("ami_type", launched, newest);
    }
    match parse_user_data(&current.user_data) {
        Some(launched) => agent_drift(&launched, &desired.agent, &mut differ),
        None => differ("spawn", "user data that is not cellar's agent".into(), "cellar's agent".into()),
    }
    settings_drift(&current.settings, &desired.settings, &mut differ);
    out
}

/// The agent's part: the spawn hook (compared as a script), persisted directories, volumes.
fn agent_drift(launched: &AgentInvocation, desired: &AgentSpec, differ: &mut impl FnMut(&str, String, String)) {
    let hook = |h: &Option<String>| h.clone().unwrap_or_else(|| "(no spawn hook)\n".to_string());
    differ("spawn", hook(&launched.spawn_hook), hook(&desired.spawn_hook));
    differ("persist", format!("{:?}", launched.persist), format!("{:?}", desired.persist));
    let volumes = |v: &[crate::volumes::VolumeSpec]| {
        let each: Vec<String> = v.iter().map(|v| format!("{} at {}: {:?}", v.device, v.mount, v.persist)).collect();
        format!("[{}]", each.join("; "))
    };
    differ("volumes", volumes(&launched.volumes), volumes(&desired.volumes));
}

/// The launch settings' part, one configuration setting each.
fn settings_drift(launched: &LaunchSettings, desired: &LaunchSettings, differ: &mut impl FnMut(&str, String, String)) {
    let profile = |s: &LaunchSettings| s.instance_profile.as_ref().map_or("None".to_string(), |p| p.to_string());
    differ("instance_profile", profile(launched), profile(desired));
    let groups = |s: &LaunchSettings| list(&s.security_groups);
    differ("security_groups", groups(launched), groups(desired));
    let key = |s: &LaunchSettings| s.key_name.as_ref().map_or("None".to_string(), |k| k.to_string());
    differ("key_name", key(launched), key(desired));
    let tokens = |s: &LaunchSettings| format!("{:?}", s.metadata.http_tokens);
    differ("metadata.http_tokens", tokens(launched), tokens(desired));
    let hops = |s: &LaunchSettings| s.metadata.hop_limit.map_or("None".to_string(), |h| h.to_string());
    differ("metadata.hop_limit", hops(launched), hops(desired));
    let root = |s: &LaunchSettings| s.root_volume.as_ref().map_or("the image's".to_string(), |r| r.to_string());
    differ("root_volume_gb", root(launched), root(desired));
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let each: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("[{}]", each.join(", "))
}

/// The group's launch settings match, but the instance still runs what it launched with
/// before (a sync without --restart, or a replacement launched before the group's update):
/// with --restart it is replaced. An instance launched from a template version is compared
/// by version (AWS's `aws:ec2launchtemplate:version` tag: a hook or setting change shows);
/// one launched otherwise (adopted by the group) by its type and image.
fn instance_behind(p: &mut Planning<'_>, found: &Found<'_>, group: &AutoScalingGroup, current: &LaunchSpec) -> bool {
    let Some(instance) = p.resources().current_instance() else { return false };
    let (image, instance_type) = (&instance.image, &instance.instance_type);
    let (launched, configured) = match (&instance.launched_from, launched_version(p.resources(), group)) {
        (Some((template, version)), Some((now, latest))) if (template, *version) != (&now, latest) => {
            (format!("{template} version {version}"), format!("{now} version {latest}"))
        }
        (Some(_), Some(_)) => return false,
        _ if *image == current.image && *instance_type == current.instance_type => return false,
        _ => (format!("{instance_type} from {image}"), format!("{} from {}", current.instance_type, current.image)),
    };
    let (id, server) = (instance.id.clone(), found.server);
    let source = format!("what group {} launches", group.name);
    p.drift(Drift { source, ..found.drift("instance", launched, configured) });
    match p.command.has(Flag::Restart) {
        true => {
            let launched_as = LaunchedAs { instance_type: current.instance_type.clone(), image: current.image.clone() };
            restart(p, server, None, launched_as)
        }
        false => p.note(format!(
            "{server}'s group launches its configured settings, but instance {id} was launched with older ones (pass --restart to replace it)."
        )),
    }
    true
}

/// The template version the group launches now (`$Latest`: the template's latest).
fn launched_version(r: &ServerResources, group: &AutoScalingGroup) -> Option<(LaunchTemplateId, u32)> {
    let LaunchSource::Template { id, version } = &group.launch else { return None };
    let latest = r.launch_templates.iter().find(|t| t.id == *id)?.latest_version;
    Some((id.clone(), version.unwrap_or(latest)))
}

/// A server whose instance was attached by hand (no group): its launch cannot change in
/// place; its tags can.
fn hand_launched(p: &mut Planning<'_>, config: &ServerConfig, r: &ServerResources) -> Result<(), PlanError> {
    let tagged = tag_drift(p, config, r);
    if let Some(instance) = r.current_instance() {
        if instance.instance_type != config.instance_type.value {
            return Err(PlanError::SyncCannotChange {
                server: config.name.clone(),
                what: format!(
                    "the instance type of instance {} ({} → {}), which was attached by hand",
                    instance.id, instance.instance_type, config.instance_type.value
                ),
                configured_at: Found::of(p, &config.name).source("instance_type"),
            });
        }
    }
    if tagged == 0 {
        p.note(format!("{} has no auto scaling group: only its tags are compared.", config.name));
    }
    Ok(())
}

/// A TagResource step for each resource of the server missing a configured tag or carrying
/// another value; returns how many. Tags the configuration does not name are left alone
/// (cellar cannot tell them from tags others put there).
fn tag_drift(p: &mut Planning<'_>, config: &ServerConfig, r: &ServerResources) -> usize {
    let wanted = config.tag_values();
    let missing = |tags: &Tags| -> Tags {
        wanted.iter().filter(|(k, v)| tags.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut targets: Vec<(TagTarget, Tags)> = Vec::new();
    targets.extend(r.live_instances().map(|i| (TagTarget::Instance(i.id.clone()), missing(&i.tags))));
    targets.extend(r.volumes.iter().map(|v| (TagTarget::Volume(v.id.clone()), missing(&v.tags))));
    targets.extend(r.addresses.iter().map(|a| (TagTarget::Address(a.allocation_id.clone()), missing(&a.tags))));
    targets.extend(r.launch_templates.iter().map(|t| (TagTarget::LaunchTemplate(t.id.clone()), missing(&t.tags))));
    targets.extend(r.groups.iter().map(|g| (TagTarget::Group(g.name.clone()), missing(&g.tags))));
    let found = Found::of(p, &config.name);
    let mut count = 0;
    for (resource, tags) in targets.into_iter().filter(|(_, tags)| !tags.is_empty()) {
        for (key, value) in &tags {
            let setting = format!("tags.{key}");
            let launched = current_tag(r, &resource, key).map_or("(not set)".to_string(), |v| format!("{v:?}"));
            p.drift(Drift {
                server: config.name.clone(),
                setting: format!("{setting} on {resource}"),
                launched,
                configured: format!("{value:?}"),
                source: found.source(&setting),
            });
        }
        p.push(&config.name, Action::TagResource { resource, tags }, vec![], None);
        count += 1;
    }
    count
}

fn current_tag<'r>(r: &'r ServerResources, resource: &TagTarget, key: &str) -> Option<&'r String> {
    let tags = match resource {
        TagTarget::Instance(id) => &r.instances.iter().find(|i| i.id == *id)?.tags,
        TagTarget::Volume(id) => &r.volumes.iter().find(|v| v.id == *id)?.tags,
        TagTarget::Address(id) => &r.addresses.iter().find(|a| a.allocation_id == *id)?.tags,
        TagTarget::LaunchTemplate(id) => &r.launch_templates.iter().find(|t| t.id == *id)?.tags,
        TagTarget::Group(name) => &r.groups.iter().find(|g| g.name == *name)?.tags,
    };
    tags.get(key)
}
