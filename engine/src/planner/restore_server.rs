//! `restore-server@NAME --at DATE|SNAPSHOT|now [--zone LETTER] [--delete-old]`: the
//! server's data volumes replaced by volumes restored from its backups, in its zone or
//! another.
//!
//! The order makes every failure leave the server as it was:
//! 1. the new volumes are created from the chosen backups (role `restoring`: no agent
//!    attaches them); if one cannot be created, nothing of the server has been touched;
//! 2. the group goes to desired 0 and the instance is terminated (its volumes detach);
//! 3. each new volume takes its old one's place (`SwapDataVolume`: the old one is kept,
//!    tagged `replaced` with the time, until `--delete-old`);
//! 4. the group, moved to the new zone's subnet if the zone changes, launches an instance
//!    whose agent attaches the new volumes; the plan waits until the server is healthy;
//! 5. with `--delete-old`, each replaced volume is snapshotted (unless `--at now` just did)
//!    and deleted: no data volume goes without a snapshot of what it held last.
//!
//! Each of 2–4 is undone if a later step fails: the group goes back to desired 0 in its
//! old zone, the volumes swap back, the group relaunches as it was, and the new volumes are
//! deleted. `--at now` snapshots the volumes once the server is stopped and restores those:
//! the way to move a server to another zone (an availability-zone outage, a zone out of
//! capacity).

use super::{configured, wait_healthy, Origin, PlanError, Planner, Planning};
use crate::backup::{BackupSnapshot, RestoreAt, SnapshotBackup, VolumeKey};
use crate::command::{Command, CommandSpec, Flag};
use crate::config::ServerConfig;
use crate::model::*;
use crate::plan::*;
use std::collections::BTreeMap;

/// The tag on a drill's workspace naming the server whose backups it holds.
pub const DRILL_TAG: &str = "cellar:drill-of";

pub const SPEC: CommandSpec = CommandSpec {
    name: "restore-server",
    args: &[],
    flags: &[Flag::At, Flag::Zone, Flag::DeleteOld, Flag::Drill],
    help: "replace the data volumes with ones restored from the backups of --at (a date, a snapshot, or now), in the server's zone or --zone's; the old ones are kept unless --delete-old; --drill restores onto a new workspace instead, the server untouched",
    planner: Planner::Server { scope, plan },
};

fn scope(command: &Command, config: &ServerConfig, scope: &mut Scope) {
    scope.snapshots = true;
    scope.network = Some(config.launch_settings.network_scope());
    if command.has(Flag::Drill) {
        scope.image = Some((config.ami_type.value.clone(), config.architecture.value));
        scope.workspaces = true;
    }
}

/// What a volume is restored from: a backup, or a snapshot the plan takes.
enum Source<'a> {
    Backup(BackupSnapshot),
    Fresh(&'a Volume),
}

fn plan(p: &mut Planning<'_>, config: &ServerConfig) -> Result<(), PlanError> {
    let server = &config.name;
    let region = p.scope.region.clone();
    let Some(at) = p.command.at().cloned() else {
        return Err(PlanError::RestoreNeedsAt { server: server.clone() });
    };
    p.zones(configured(&config.region))?;
    let r = p.resources();
    let now = p.inventory.now;
    let data: Vec<&Volume> = r.volumes.iter().filter(|v| crate::volumes::is_data(v)).collect();
    let group = r.group();
    let live: Vec<&Instance> = r.live_instances().collect();
    if let (None, Some(instance)) = (group, live.first()) {
        return Err(PlanError::RestoreUnmanaged { server: server.clone(), instance: instance.id.clone() });
    }
    let here = data.first().map(|v| v.zone.clone()).or_else(|| group.and_then(|g| g.zones.first().cloned()));
    let here = here.unwrap_or_else(|| config.zone_name());
    let zone = match p.command.zone_flag() {
        Some(letter) => p.zone((letter, Origin::Flag(Flag::Zone.name())), configured(&config.region))?,
        None => here.clone(),
    };
    let moving = zone != here;
    let drill = p.command.has(Flag::Drill);
    if drill && p.command.has(Flag::DeleteOld) {
        return Err(PlanError::FlagConflict {
            flags: "--drill and --delete-old".into(),
            why: "a drill leaves the server and its volumes untouched".into(),
        });
    }
    // A drill of `--at now` snapshots the running server's volumes: any zone will do.
    let sources = sources(p, config, &at, &data, moving || drill)?;
    if drill {
        return self::drill(p, config, (&at, &sources), &zone);
    }
    let subnet = match moving {
        true => {
            crate::network::resolve_network(&p.inventory.network, &config.launch_settings, &region, Some(&zone))
                .map_err(|findings| PlanError::Network(*findings.first))?
                .subnet
        }
        false => None,
    };
    p.tag_configured(config);

    // With backups, the new volumes come first: nothing is touched if one cannot be made.
    let mut created: BTreeMap<&VolumeKey, StepId> = BTreeMap::new();
    if matches!(at, RestoreAt::Snapshot(_) | RestoreAt::Time(_)) {
        for (key, source) in &sources {
            if let Source::Backup(b) = source {
                let from = (Ref::Existing(b.id().clone()), b.size_gb());
                created.insert(key, create(p, config, key, from, &zone, None)?);
            }
        }
    }
    let stopped = stop(p, server, group, &live, created.values().map(|s| Some(*s)).collect());
    if matches!(at, RestoreAt::Now) {
        for (key, source) in &sources {
            let Source::Fresh(volume) = source else { continue };
            let snapshot = p.push(
                server,
                Action::CreateSnapshot {
                    volume: volume.id.clone(),
                    backup: Some(SnapshotBackup { kind: crate::backup::BackupKind::Manual, volume: (*key).clone() }),
                },
                stopped.clone(),
                None,
            );
            created
                .insert(key, create(p, config, key, (Ref::Output(snapshot), volume.size_gb), &zone, Some(snapshot))?);
        }
    }
    let mut swapped = Vec::new();
    for (key, step) in &created {
        let retire = data.iter().find(|v| VolumeKey::of(v).as_ref() == Some(*key)).map(|v| v.id.clone());
        let mut after = stopped.clone();
        after.push(Some(*step));
        let swap = Action::SwapDataVolume { retire, restore: Ref::Output(*step) };
        swapped.push(Some(p.push(server, swap, after, Some(Undo::SwapBack))));
    }
    let healthy = start(p, server, group, (&zone, subnet, moving), swapped, live.first().map(|i| i.id.clone()));
    let retired: Vec<&&Volume> =
        data.iter().filter(|v| VolumeKey::of(v).is_some_and(|k| created.contains_key(&k))).collect();
    retire(p, server, &at, &retired, healthy);
    p.note(data_age(&at, &sources, now));
    if moving {
        p.note(format!(
            "{server} moves from {here} to {zone}; set zone: \"{}\" in {} so that its configuration says where it lives.",
            zone.letter(),
            config.zone.source
        ));
    }
    if group.is_none() {
        p.note(format!(
            "{server} has no auto scaling group: start-auto-scaling@{server} brings it up on the restored volumes."
        ));
    }
    Ok(())
}

/// The replaced volumes once the server is healthy again (`healthy`): with `--delete-old`
/// each is snapshotted (unless `--at now` just did: what it held last is not lost; a plain
/// snapshot, not a backup, so no restore picks it) and deleted; otherwise kept, and said so.
fn retire(p: &mut Planning<'_>, server: &ServerName, at: &RestoreAt, retired: &[&&Volume], healthy: Option<StepId>) {
    if p.command.has(Flag::DeleteOld) {
        let fresh = matches!(at, RestoreAt::Now);
        for v in retired {
            let snapshot = (!fresh).then(|| {
                p.push(server, Action::CreateSnapshot { volume: v.id.clone(), backup: None }, vec![healthy], None)
            });
            p.push(server, Action::DeleteVolume { volume: v.id.clone() }, vec![healthy, snapshot], None);
        }
        if !fresh && !retired.is_empty() {
            p.note(format!(
                "--delete-old: each replaced volume is snapshotted before it is deleted (a snapshot tagged Name={server}, not a backup), so what it held last is not lost."
            ));
        }
    } else if !retired.is_empty() {
        let ids: Vec<&str> = retired.iter().map(|v| v.id.as_str()).collect();
        p.note(format!(
            "The replaced volume{} {} stay{} (tagged cellar:role=replaced and cellar:replaced-at): delete {} once the restored data is right, or plan with --delete-old.",
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", "),
            if ids.len() == 1 { "s" } else { "" },
            if ids.len() == 1 { "it" } else { "them" }
        ));
    }
}

/// `--drill`: the backups restored onto a new workspace (the next `workspace-N`, from the
/// server's image type, no agent) in `zone`, each volume attached at its device; the
/// server is not touched. `--at now` snapshots its volumes as they run (crash-consistent).
fn drill(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    (at, sources): (&RestoreAt, &BTreeMap<VolumeKey, Source<'_>>),
    zone: &Zone,
) -> Result<(), PlanError> {
    let server = &config.name;
    let image = p.image(&config.ami_type.value, config.architecture.value)?;
    let super::network::Resolved { subnet, settings } =
        super::network::resolve(p, &config.launch_settings, image, Some(zone), false)?;
    let workspace = super::create_workspace::next_workspace(p);
    let mut tags = config.tag_values();
    tags.insert(ROLE_TAG.to_string(), "workspace".to_string());
    tags.insert(DRILL_TAG.to_string(), server.to_string());
    p.tag(&workspace, tags);
    let (instance, running) =
        super::create_workspace::launch_workspace(p, &workspace, image, (zone.clone(), subnet), settings);
    let mut devices = Vec::new();
    for (key, source) in sources {
        let (from, size_gb) = match source {
            Source::Backup(b) => (Ref::Existing(b.id().clone()), b.size_gb()),
            Source::Fresh(v) => {
                let backup = SnapshotBackup { kind: crate::backup::BackupKind::Manual, volume: key.clone() };
                let action = Action::CreateSnapshot { volume: v.id.clone(), backup: Some(backup) };
                (Ref::Output(p.push(server, action, vec![], None)), v.size_gb)
            }
        };
        let after = from.step();
        let ebs = super::network::data_volume(&config.launch_settings.ebs, size_gb, configured(&config.volumes))?;
        let device = key.device.clone().unwrap_or_else(|| crate::volumes::DEFAULT_DEVICE.to_string());
        let action = Action::CreateVolume {
            zone: zone.clone(),
            size_gb,
            ebs,
            device: key.device.clone(),
            restore_from: Some(from),
        };
        let volume = p.push(&workspace, action, vec![after], Some(Undo::DeleteVolume));
        let attach = Action::AttachVolume {
            volume: Ref::Output(volume),
            instance: Ref::Output(instance),
            device: device.clone(),
        };
        p.push(&workspace, attach, vec![Some(running)], None);
        devices.push(device);
    }
    p.note(data_age(at, sources, p.inventory.now));
    p.note(format!(
        "A restore drill: {server} is not touched. {workspace} gets {server}'s backups as volumes at {} (mount them to check the data, e.g. `sudo mount {} /mnt`); destroy-workspace@{workspace} deletes it and them.",
        devices.join(", "),
        devices.first().map(String::as_str).unwrap_or(crate::volumes::DEFAULT_DEVICE)
    ));
    Ok(())
}

/// For each of the server's volumes (its data volumes, or those its backups are of when it
/// has none left), what it is restored from.
fn sources<'a>(
    p: &Planning<'a>,
    config: &ServerConfig,
    at: &RestoreAt,
    data: &[&'a Volume],
    moving: bool,
) -> Result<BTreeMap<VolumeKey, Source<'a>>, PlanError> {
    let server = &config.name;
    let region = &p.scope.region;
    if let RestoreAt::Now = at {
        if !moving {
            return Err(PlanError::RestoreNowNeedsZone { server: server.clone(), region: region.clone() });
        }
        if data.is_empty() {
            return Err(PlanError::NoVolume { server: server.clone(), region: region.clone() });
        }
        return Ok(data.iter().filter_map(|v| Some((VolumeKey::of(v)?, Source::Fresh(v)))).collect());
    }
    let backups: Vec<BackupSnapshot> = p
        .resources()
        .snapshots
        .iter()
        .filter_map(BackupSnapshot::from_snapshot)
        .filter(|b| b.server() == server && b.state() == SnapshotState::Completed)
        .collect();
    let (until, named) = match at {
        RestoreAt::Snapshot(id) => {
            let Some(named) = backups.iter().find(|b| b.id() == id) else {
                return Err(PlanError::UnknownBackup {
                    server: server.clone(),
                    snapshot: id.clone(),
                    region: region.clone(),
                });
            };
            (named.taken_at(), Some(named.volume().clone()))
        }
        RestoreAt::Time(t) => (*t, None),
        RestoreAt::Now => unreachable!("handled above"),
    };
    let mut keys: Vec<VolumeKey> = data.iter().filter_map(|v| VolumeKey::of(v)).collect();
    if keys.is_empty() {
        keys = backups.iter().map(|b| b.volume().clone()).collect();
        keys.sort();
        keys.dedup();
    }
    if keys.is_empty() {
        return Err(PlanError::NoVolume { server: server.clone(), region: region.clone() });
    }
    let mut out = BTreeMap::new();
    for key in keys {
        let of_key = || backups.iter().filter(|b| *b.volume() == key);
        let chosen = match (&named, at) {
            (Some(k), RestoreAt::Snapshot(id)) if *k == key => of_key().find(|b| b.id() == id),
            _ => of_key().filter(|b| b.taken_at() <= until).max_by_key(|b| (b.taken_at(), b.id().clone())),
        };
        let Some(chosen) = chosen else {
            return Err(PlanError::NoBackup {
                server: server.clone(),
                volume: key.device.clone().unwrap_or_else(|| crate::volumes::DEFAULT_DEVICE.to_string()),
                at: until.utc_minute(),
                oldest: of_key().map(|b| b.taken_at()).min().map(Timestamp::utc_minute).unwrap_or_default(),
            });
        };
        let chosen = chosen.clone();
        out.insert(key, Source::Backup(chosen));
    }
    Ok(out)
}

/// The CreateVolume of `key`'s new volume in `zone`, from `snapshot` of `size_gb` (after
/// `after`), as large as the volume it replaces if that grew since.
fn create(
    p: &mut Planning<'_>,
    config: &ServerConfig,
    key: &VolumeKey,
    (snapshot, size_gb): (Ref<SnapshotId>, u32),
    zone: &Zone,
    after: Option<StepId>,
) -> Result<StepId, PlanError> {
    let current = p.resources().volumes.iter().filter(|v| crate::volumes::is_data(v));
    let size_gb = current.filter(|v| VolumeKey::of(v).as_ref() == Some(key)).map(|v| v.size_gb).fold(size_gb, u32::max);
    let ebs = super::network::data_volume(&config.launch_settings.ebs, size_gb, configured(&config.volumes))?;
    let action = Action::CreateVolume {
        zone: zone.clone(),
        size_gb,
        ebs,
        device: key.device.clone(),
        restore_from: Some(snapshot),
    };
    Ok(p.push(&config.name, action, vec![after], Some(Undo::DeleteVolume)))
}

/// Stops the server after `after`: its group to desired 0 (undone by putting its sizes
/// back) and its live instances terminated (their volumes detach). What comes next runs
/// after the returned steps.
fn stop(
    p: &mut Planning<'_>,
    server: &ServerName,
    group: Option<&AutoScalingGroup>,
    live: &[&Instance],
    after: Vec<Option<StepId>>,
) -> Vec<Option<StepId>> {
    let scale_in = group.filter(|g| g.desired > 0 || g.min > 0).map(|g| {
        let action = Action::UpdateAutoScalingGroup {
            group: g.name.clone(),
            launch: None,
            min: Some(0),
            desired: Some(0),
            placement: None,
        };
        let undo = Undo::UpdateAutoScalingGroup { min: g.min, desired: g.desired, placement: None };
        p.push(server, action, after.clone(), Some(undo))
    });
    let mut out = after;
    out.push(scale_in);
    let terminated: Vec<Option<StepId>> = live
        .iter()
        .map(|i| Some(p.push(server, Action::TerminateInstance { instance: i.id.clone() }, out.clone(), None)))
        .collect();
    out.extend(terminated);
    out
}

/// Starts the server again after the swaps: its group (moved to `zone` if `moving`) back to
/// one instance, then waits until it is healthy. Undone by the group to desired 0 in its
/// old zone. A group that was stopped (desired 0) stays stopped, only moved. Returns the
/// step the rest waits for.
fn start(
    p: &mut Planning<'_>,
    server: &ServerName,
    group: Option<&AutoScalingGroup>,
    (zone, subnet, moving): (&Zone, Option<SubnetId>, bool),
    swapped: Vec<Option<StepId>>,
    replacing: Option<InstanceId>,
) -> Option<StepId> {
    let Some(g) = group else { return swapped.into_iter().flatten().max() };
    let placement = moving.then(|| GroupPlacement { zone: zone.clone(), subnet });
    let old_placement = moving.then(|| GroupPlacement {
        zone: g.zones.first().cloned().unwrap_or_else(|| zone.clone()),
        subnet: g.subnets.first().cloned(),
    });
    let running = g.desired > 0;
    if !running && placement.is_none() {
        p.note(format!("{server}'s group {} is stopped (desired 0) and stays so: start-auto-scaling@{server} brings it up on the restored volumes.", g.name));
        return swapped.into_iter().flatten().max();
    }
    let (min, desired) = if running { (Some(g.min.max(1)), Some(g.desired)) } else { (None, None) };
    let action = Action::UpdateAutoScalingGroup { group: g.name.clone(), launch: None, min, desired, placement };
    let undo = Undo::UpdateAutoScalingGroup { min: 0, desired: 0, placement: old_placement };
    let started = p.push(server, action, swapped, Some(undo));
    if !running {
        p.note(format!("{server}'s group {} is stopped (desired 0) and stays so, moved to {zone}: start-auto-scaling@{server} brings it up there.", g.name));
        return Some(started);
    }
    Some(wait_healthy(p, server, None, replacing, vec![Some(started)]))
}

/// "data as of 2026-11-24 03:00 UTC, 1 day 6 hours old": the oldest backup restored.
fn data_age(at: &RestoreAt, sources: &BTreeMap<VolumeKey, Source<'_>>, now: Timestamp) -> String {
    let oldest = sources
        .values()
        .filter_map(|s| match s {
            Source::Backup(b) => Some(b.taken_at()),
            Source::Fresh(_) => None,
        })
        .min();
    match (at, oldest) {
        (_, Some(t)) => format!("Data as of {}, {} old (the backups restored).", t.utc_minute(), t.age_words(now)),
        _ => "Data as of the moment the server has stopped: the volumes are snapshotted then (kept as manual backups), and restored from those snapshots.".into(),
    }
}
