//! Judging plans: what planning gave ([`Planned`]), a small [`Model`] of a server read from
//! the world and what it says a command must do ([`expect`]), and the counts per kind
//! ([`Tally`]).

use cellar_engine::agent::DATA_ROLE;
use cellar_engine::backup::{due, last_scheduled, BackupSnapshot, VolumeKey};
use cellar_engine::cloud::{Cloud, CloudError};
use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory::{self};
use cellar_engine::model::*;
use cellar_engine::plan::Plan;
use cellar_engine::planner::{self, PlanError};
use cellar_sim::Sim;
use std::collections::BTreeMap;

use super::ops::*;
use super::runner::resources;

/// What planning a command gave: a failed read (an injected fault outlasted the retries)
/// is not a refusal.
pub enum Planned {
    Plan(Box<Plan>),
    Refused(PlanError),
    ReadFailed(CloudError),
}

/// Plans `line` against `cloud` with `tree`, keeping refusals and failed reads apart.
pub async fn plan_command(cloud: &dyn Cloud, tree: &ConfigTree, line: &str) -> Planned {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    let command = command::parse_words(planner::COMMANDS, &words).unwrap_or_else(|e| panic!("{line}: {e}"));
    let scope = match planner::scope(&command, tree) {
        Ok(scope) => scope,
        Err(e) => return Planned::Refused(e),
    };
    match inventory::read(cloud, &scope).await {
        Err(e) => Planned::ReadFailed(e),
        Ok(inventory) => match planner::plan(&command, tree, &inventory) {
            Ok(plan) => Planned::Plan(Box::new(plan)),
            Err(e) => Planned::Refused(e),
        },
    }
}

/// A refusal's reason, as counted and as the model names it.
pub fn reason(e: &PlanError) -> &'static str {
    match e {
        PlanError::Config(_) => "configuration",
        PlanError::NoTarget { .. } => "no target",
        PlanError::MissingEbsSize { .. } => "no EBS size",
        PlanError::UnknownRegion { .. } => "unknown region",
        PlanError::UnknownZone { .. } => "unknown zone",
        PlanError::ServerExists { .. } => "server exists",
        PlanError::NoImage { .. } => "no image",
        PlanError::ArchitectureMismatch { .. } => "architecture mismatch",
        PlanError::NoGroup { .. } => "no group",
        PlanError::AlreadyStopped { .. } => "already stopped",
        PlanError::NoVolume { .. } => "no volume",
        PlanError::MissingVolumes { .. } => "configured volume missing",
        PlanError::InstanceAttached { .. } => "instance attached",
        PlanError::GroupKeepsInstance { .. } => "group keeps its instance",
        PlanError::AlreadyAutoScaling { .. } => "already auto-scaling",
        PlanError::NotAutoScaling { .. } => "not auto-scaling",
        PlanError::MissingLaunchSettings { .. } => "launch settings gone",
        PlanError::NothingToBundle { .. } => "nothing to bundle",
        PlanError::ImageNameTaken { .. } => "image name taken",
        PlanError::BadCopyRegion { .. } => "bad copy region",
        PlanError::NothingToDestroy { .. } => "nothing to destroy",
        PlanError::NothingToSync { .. } => "nothing to sync",
        PlanError::SyncCannotChange { .. } => "sync cannot change",
        PlanError::NotAWorkspace { .. } => "not a workspace",
        PlanError::NoWorkspace { .. } => "no workspace",
        PlanError::Network(_) => "network",
        PlanError::EbsSettings { .. } | PlanError::RootVolumeTooSmall { .. } => "EBS settings",
        PlanError::RestoreNeedsAt { .. } => "no --at",
        PlanError::NoBackup { .. } => "no backup",
        PlanError::UnknownBackup { .. } => "unknown backup",
        PlanError::RestoreNowNeedsZone { .. } => "--at now without --zone",
        PlanError::RestoreUnmanaged { .. } => "instance without a group",
        PlanError::FlagConflict { .. } => "flags conflict",
    }
}

/// What the scenario knows of one server or workspace, read from the world directly
/// (not through faults): enough to say whether a command must plan or be refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// A live instance, a volume, launch settings or a group: it exists as a server.
    pub exists: bool,
    /// Anything tagged with its name, an Elastic IP included.
    pub anything: bool,
    /// Its auto scaling group: desired count, and whether its launch settings still exist.
    pub group: Option<(u32, bool)>,
    /// It has a data volume.
    pub volume: bool,
    /// Its data volume is attached to one of its live instances.
    pub held: bool,
    /// It has a live instance, and a running one.
    pub live: bool,
    pub running: bool,
    /// An image with today's bundle name (`web-server-<date>`) exists and has not failed.
    pub bundled_today: bool,
    /// The zone letter of its data volume, else of its group, else its configured one.
    pub here: char,
    /// Its group launches in another zone than the configured one (restore-server --zone
    /// moved it; sync cannot move it back).
    pub moved: bool,
    /// It has a completed backup, and every data volume has one.
    pub any_backup: bool,
    pub covered: bool,
    /// Its scheduled backup is due (the default policy: none taken since 03:00 UTC).
    pub backup_due: bool,
}

/// Reads the model of `name` from the world.
pub fn model(sim: &Sim, name: &str) -> Model {
    let r = resources(sim, name);
    let live: Vec<&Instance> = r.instances.iter().filter(|i| i.state.is_alive()).collect();
    let data = r.volumes.iter().find(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE));
    let group = r.groups.first().map(|g| {
        let settings = match &g.launch {
            LaunchSource::Template { id, .. } => r.launch_templates.iter().any(|t| t.id == *id),
            LaunchSource::Configuration { name } => r.launch_configurations.iter().any(|c| c.name == *name),
        };
        (g.desired, settings)
    });
    let exists = !live.is_empty()
        || !r.volumes.is_empty()
        || !r.launch_templates.is_empty()
        || !r.launch_configurations.is_empty()
        || !r.groups.is_empty();
    let w = sim.world();
    let today = format!("web-server-{}", w.now().date());
    let backups: Vec<BackupSnapshot> =
        r.snapshots.iter().filter_map(BackupSnapshot::from_snapshot).filter(|b| b.server().as_str() == name).collect();
    let completed: Vec<&BackupSnapshot> = backups.iter().filter(|b| b.state() == SnapshotState::Completed).collect();
    let data_keys: Vec<VolumeKey> = r
        .volumes
        .iter()
        .filter(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE))
        .filter_map(VolumeKey::of)
        .collect();
    let last_scheduled = last_scheduled(&ServerName::new(name), &r.snapshots);
    // The configured zone of `sNN` (`scenario::config`): a, b, c, d in turn.
    let configured =
        name.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()).map_or('a', |i| ['a', 'b', 'c', 'd'][i % 4]);
    let here = data
        .map(|v| v.zone.letter())
        .or_else(|| r.groups.first().and_then(|g| g.zones.first()).map(Zone::letter))
        .unwrap_or(configured);
    Model {
        exists,
        anything: exists || !r.addresses.is_empty(),
        group,
        volume: data.is_some(),
        held: data.and_then(|v| v.attached_to.as_ref()).is_some_and(|id| live.iter().any(|i| i.id == *id)),
        live: !live.is_empty(),
        running: live.iter().any(|i| i.state == InstanceState::Running),
        bundled_today: w
            .describe_images(&Region::new("us-east-1"))
            .iter()
            .any(|i| i.name == today && i.state != ImageState::Failed),
        here,
        moved: r.groups.first().and_then(|g| g.zones.first()).is_some_and(|z| z.letter() != configured),
        any_backup: !completed.is_empty(),
        covered: data_keys.iter().all(|k| completed.iter().any(|b| b.volume() == k)),
        backup_due: due(&super::backup_policy(), last_scheduled, w.now()).is_some(),
    }
}

/// What the model says of `cmd`: it must plan (`Ok`, possibly nothing to do), or be
/// refused for this reason.
pub fn expect(cmd: &Cmd, m: &Model) -> Result<(), &'static str> {
    let desired = m.group.map_or(0, |g| g.0);
    match cmd {
        Cmd::CreateServer { .. } if m.exists => Err("server exists"),
        Cmd::CreateServer { .. } => Ok(()),
        Cmd::StopAutoScaling { keep_group, .. } => match m.group {
            None => Err("no group"),
            Some((0, _)) if *keep_group => Err("already stopped"),
            Some(_) => Ok(()),
        },
        Cmd::AttachInstance { .. } if !m.volume => Err("no volume"),
        Cmd::AttachInstance { .. } if m.held => Err("instance attached"),
        Cmd::AttachInstance { .. } if desired > 0 => Err("group keeps its instance"),
        Cmd::AttachInstance { .. } => Ok(()),
        Cmd::StartAutoScaling { .. } if desired > 0 => Err("already auto-scaling"),
        Cmd::StartAutoScaling { .. } if !m.volume => Err("no volume"),
        Cmd::StartAutoScaling { .. } => Ok(()),
        Cmd::UpgradeAmi { .. } => match m.group {
            Some((d, true)) if d > 0 => Ok(()),
            Some((d, false)) if d > 0 => Err("launch settings gone"),
            _ => Err("not auto-scaling"),
        },
        // One-volume servers launched with their configured type: nothing sync cannot change.
        Cmd::Sync { .. } if !m.anything => Err("nothing to sync"),
        Cmd::Sync { .. } if m.moved => Err("sync cannot change"),
        Cmd::Sync { .. } => match m.group {
            Some((_, false)) => Err("launch settings gone"),
            _ => Ok(()),
        },
        Cmd::DestroyServer { .. } if m.anything => Ok(()),
        Cmd::DestroyServer { .. } => Err("nothing to destroy"),
        Cmd::CreateWorkspace => Ok(()),
        Cmd::BundleAmi { .. } if !m.running => Err("nothing to bundle"),
        Cmd::BundleAmi { .. } if m.bundled_today => Err("image name taken"),
        Cmd::BundleAmi { .. } => Ok(()),
        Cmd::DestroyWorkspace { .. } if m.live => Ok(()),
        Cmd::DestroyWorkspace { .. } => Err("no workspace"),
        Cmd::Backup { due: true, .. } if !m.backup_due => Ok(()),
        Cmd::Backup { .. } if !m.volume => Err("no volume"),
        Cmd::Backup { .. } | Cmd::Prune { .. } => Ok(()),
        Cmd::Restore { .. } if m.group.is_none() && m.live => Err("instance without a group"),
        Cmd::Restore { at: RestoreTo::Now(zone), .. } if *zone == m.here => Err("--at now without --zone"),
        Cmd::Restore { at: RestoreTo::Now(_), .. } if !m.volume => Err("no volume"),
        Cmd::Restore { at: RestoreTo::Latest, .. } if !m.volume && !m.any_backup => Err("no volume"),
        Cmd::Restore { at: RestoreTo::Latest, .. } if !m.covered => Err("no backup"),
        Cmd::Restore { .. } => Ok(()),
    }
}

/// What happened to one kind of command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Plans made (empty ones included).
    pub planned: u64,
    /// Plans with nothing to do.
    pub empty: u64,
    /// Non-empty plans applied successfully.
    pub applied: u64,
    /// Non-empty plans whose apply failed (and was compensated).
    pub failed: u64,
    /// Refusals by reason.
    pub refused: BTreeMap<&'static str, u64>,
    /// Plans not made because a read failed under injected faults (not refusals).
    pub read_failed: u64,
    /// Plans the model could not judge: the server changed while it was being planned.
    pub unjudged: u64,
    /// Applies killed mid-way (`!crash`), each then resumed or found stale.
    pub crashed: u64,
    /// Killed applies resumed from their journal (the rest were refused as stale).
    pub resumed: u64,
}

/// [`Counts`] per kind of command ([`KINDS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<&'static str, Counts>);

impl Tally {
    pub fn kind(&self, kind: &str) -> Counts {
        self.0.get(kind).cloned().unwrap_or_default()
    }

    pub fn add(&mut self, other: &Tally) {
        for (kind, c) in &other.0 {
            let t = self.0.entry(kind).or_default();
            t.planned += c.planned;
            t.empty += c.empty;
            t.applied += c.applied;
            t.failed += c.failed;
            t.read_failed += c.read_failed;
            t.unjudged += c.unjudged;
            t.crashed += c.crashed;
            t.resumed += c.resumed;
            for (why, n) in &c.refused {
                *t.refused.entry(why).or_default() += n;
            }
        }
    }

    /// Killed applies and resumed ones, over every kind.
    pub fn crashes(&self) -> (u64, u64) {
        self.0.values().fold((0, 0), |(c, r), k| (c + k.crashed, r + k.resumed))
    }

    /// One line per kind: `create-server planned 41 (empty 0) applied 38 failed 3 refused 12
    /// (server exists: 12) read failures 1`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for kind in KINDS {
            let c = self.kind(kind);
            let refused: u64 = c.refused.values().sum();
            let why: Vec<String> = c.refused.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            let why = if why.is_empty() { String::new() } else { format!(" ({})", why.join(", ")) };
            out.push_str(&format!(
                "{kind:<30} planned {} (empty {}) applied {} failed {} refused {refused}{why} read failures {}",
                c.planned, c.empty, c.applied, c.failed, c.read_failed
            ));
            if c.unjudged > 0 {
                out.push_str(&format!(" unjudged {}", c.unjudged));
            }
            if c.crashed > 0 {
                out.push_str(&format!(" crashed {} resumed {}", c.crashed, c.resumed));
            }
            out.push('\n');
        }
        out
    }
}
