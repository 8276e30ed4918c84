//! `cellar watch`'s backups: when a watched server's scheduled backup falls due (the
//! engine's `watch::BackupSchedule`, learnt from one batched read of the servers' snapshots
//! at the first look), a **round** takes it as `cellar apply backup@SERVERS --due --yes`
//! would, then prunes what retention no longer keeps (`prune@SERVERS`), and says what it
//! did as watch events.
//!
//! A round, region by region: the lock of each due server (`locks::take_free`: a server
//! another apply holds is left for the next look); `backup@<those> --due` planned as a fleet
//! plan under the locks (so nothing can move it stale; planned as `fleet::plan_each` plans,
//! from one batched read) and applied unattended, saved and
//! journaled under `journals/` as `cellar apply COMMAND` does; then `prune@<those backed
//! up>` the same way; the locks released.
//!
//! A round runs **alongside the looks**, as a task of its own on the watch's one thread
//! (a local task: the watch runs in a `tokio::task::LocalSet`; the loop hears of its end
//! while it looks and waits: [`drive`]), so a backup that waits
//! minutes for its snapshots holds up no look. On the simulator both share the virtual
//! clock as the executor's steps share it (each sleeper its own task), so a watch on it is
//! as deterministic with backups as without. Only one round runs at a time; a server that
//! falls due meanwhile is taken by the next. SIGTERM or Ctrl-C during a round stops it
//! ([`Backups::abort`]): its locks are released and its journal left as a killed apply's
//! (snapshots already asked for complete on their own, and count as taken).

use crate::backend::Checkpoint;
use crate::commands::apply;
use crate::locks::{self, Held};
use anyhow::Result;
use cellar_engine::backup::{last_scheduled, BackupKind, BackupSnapshot};
use cellar_engine::cloud::Cloud;
use cellar_engine::command::{self, Flag};
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::walk::Cancel;
use cellar_engine::executor::{ApplyReport, Outcome, Output};
use cellar_engine::inventory;
use cellar_engine::model::{Region, ServerName, Snapshot, SnapshotId, Timestamp};
use cellar_engine::plan::{Action, Plan, RolloutOptions, Scope};
use cellar_engine::planner;
use cellar_engine::watch::{
    BackupOutcome, BackupSchedule, DueBackup, Observation, PruneOutcome, RoundReport, WatchEvent,
};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The watched servers' backups: their schedule and the round under way, if any.
pub struct Backups {
    cloud: Arc<dyn Cloud>,
    tree: Arc<ConfigTree>,
    journals: PathBuf,
    checkpoint: Checkpoint,
    schedule: BackupSchedule,
    running: Option<Round>,
}

/// A round under way: its task.
struct Round {
    task: JoinHandle<Vec<RoundReport>>,
    /// The locks it holds now (its region's), for [`Backups::abort`].
    held: Arc<Mutex<Option<Held>>>,
    cancel: Cancel,
    servers: Vec<ServerName>,
}

impl Backups {
    /// The backups of `servers` whose `backups` is not `Off`; the plans and journals of
    /// the rounds go into `journals`.
    pub fn new(
        cloud: Arc<dyn Cloud>,
        tree: Arc<ConfigTree>,
        servers: &[ServerName],
        journals: PathBuf,
    ) -> Result<Self> {
        let mut scheduled = Vec::new();
        for name in servers {
            let config = tree.server(name)?;
            if let Some(policy) = config.backups.value.clone() {
                scheduled.push((name.clone(), config.region.value.clone(), policy));
            }
        }
        Ok(Backups {
            cloud,
            tree,
            journals,
            checkpoint: Checkpoint::none(),
            schedule: BackupSchedule::new(scheduled),
            running: None,
        })
    }

    /// Saves the simulator's world before each journal record, as `cellar apply` does.
    pub(crate) fn with_checkpoint(self, checkpoint: Checkpoint) -> Self {
        Backups { checkpoint, ..self }
    }

    /// How many watched servers are backed up.
    pub fn len(&self) -> usize {
        self.schedule.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schedule.is_empty()
    }

    /// Whether a round is under way.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// After a look that read the servers (`observations`, at `now`): what it saw of their
    /// data volumes; at the first (and until it succeeds) the servers' last scheduled
    /// backups, in one batched read; then, unless a round is under way, a round of the
    /// servers due now (a local task: call this within a `tokio::task::LocalSet`). A failed
    /// read is tried again at the next look.
    pub async fn after_look(&mut self, now: Timestamp, observations: &[Observation]) {
        for o in observations {
            self.schedule.seen(&o.status.name, o.status.volume.is_some());
        }
        let unlearnt = self.schedule.unlearnt();
        if !unlearnt.is_empty() {
            let scopes: Vec<Scope> = unlearnt
                .iter()
                .map(|(server, region)| Scope {
                    server: Some(server.clone()),
                    snapshots: true,
                    ..Scope::new(region.clone())
                })
                .collect();
            let Ok(read) = inventory::read_many(&*self.cloud, &scopes).await else { return };
            for ((server, _), inventory) in unlearnt.iter().zip(&read) {
                self.schedule.learn(server, last_scheduled(server, &inventory.resources.snapshots));
            }
        }
        if self.running.is_some() {
            return;
        }
        let due = self.schedule.due(now);
        if due.is_empty() {
            return;
        }
        let held = Arc::new(Mutex::new(None));
        let cancel = Cancel::default();
        let servers = due.iter().map(|d| d.server.clone()).collect();
        let round = RoundCtx {
            cloud: self.cloud.clone(),
            tree: self.tree.clone(),
            journals: self.journals.clone(),
            checkpoint: self.checkpoint.clone(),
            held: held.clone(),
            cancel: cancel.clone(),
        };
        self.running = Some(Round { task: tokio::task::spawn_local(round.run(due)), held, cancel, servers });
    }

    /// Waits for the round under way to end (forever if none is), and returns its events.
    pub async fn next_end(&mut self) -> Vec<WatchEvent> {
        let Some(round) = self.running.as_mut() else { return std::future::pending().await };
        let reports = match (&mut round.task).await {
            Ok(reports) => reports,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Vec::new(),
        };
        self.running = None;
        let now = self.cloud.now().await;
        self.schedule.settle(now, reports)
    }

    /// The round under way run to its end, alone; its events (none without a round).
    pub async fn finish(&mut self) -> Vec<WatchEvent> {
        match self.running {
            Some(_) => self.next_end().await,
            None => Vec::new(),
        }
    }

    /// Stops the round under way at once (the watch was told to stop): its locks are
    /// released; the servers it was backing up.
    pub async fn abort(&mut self) -> Vec<ServerName> {
        let Some(round) = self.running.take() else { return Vec::new() };
        round.cancel.cancel();
        let Round { task, held, servers, .. } = round;
        task.abort();
        // Gone once it says so (it never runs again).
        let _ = task.await;
        let held = held.lock().ok().and_then(|mut h| h.take());
        if let Some(held) = held {
            held.release(&*self.cloud).await;
        }
        servers
    }
}

/// Runs `work` to its end while the backup round under way (if any) goes on alongside;
/// a round that ends meanwhile has its events given to `said` at once.
pub async fn drive<F: Future>(
    backups: &mut Option<Backups>,
    work: F,
    said: &mut impl FnMut(Vec<WatchEvent>) -> Result<()>,
) -> Result<F::Output> {
    tokio::pin!(work);
    loop {
        let Some(b) = backups.as_mut().filter(|b| b.running()) else { return Ok(work.await) };
        // In this order, so the watch is the same every time on the simulator's clock.
        tokio::select! {
            biased;
            done = &mut work => return Ok(done),
            events = b.next_end() => said(events)?,
        }
    }
}

/// What a round works with.
struct RoundCtx {
    cloud: Arc<dyn Cloud>,
    tree: Arc<ConfigTree>,
    journals: PathBuf,
    checkpoint: Checkpoint,
    held: Arc<Mutex<Option<Held>>>,
    cancel: Cancel,
}

impl RoundCtx {
    /// Backs up the due servers, region by region, and prunes those backed up.
    async fn run(self, due: Vec<DueBackup>) -> Vec<RoundReport> {
        let mut by_region: BTreeMap<Region, Vec<DueBackup>> = BTreeMap::new();
        for d in due {
            by_region.entry(d.region.clone()).or_default().push(d);
        }
        let mut reports = Vec::new();
        for (region, due) in by_region {
            reports.extend(self.region(&region, due).await);
        }
        reports
    }

    /// The round in one region: locks, backup, prune, locks released.
    async fn region(&self, region: &Region, due: Vec<DueBackup>) -> Vec<RoundReport> {
        let names: BTreeSet<ServerName> = due.iter().map(|d| d.server.clone()).collect();
        let mut backups: BTreeMap<ServerName, BackupOutcome> = BTreeMap::new();
        let mut prunes: BTreeMap<ServerName, PruneOutcome> = BTreeMap::new();
        let holder = locks::this_process(None);
        match locks::take_free(&*self.cloud, region, &names, &holder).await {
            Err(e) => {
                let why = one_line(&format!("{e:#}"));
                backups.extend(names.iter().map(|s| (s.clone(), BackupOutcome::Failed(why.clone()))));
            }
            Ok((held, busy)) => {
                for (server, other) in busy {
                    backups.insert(server, BackupOutcome::Locked(format!("server locked by another apply: {other}")));
                }
                let locked = held.servers().to_vec();
                if let Ok(mut slot) = self.held.lock() {
                    *slot = Some(held);
                }
                if !locked.is_empty() {
                    let dues: Vec<&DueBackup> = due.iter().filter(|d| locked.contains(&d.server)).collect();
                    backups.extend(self.backup(region, &dues).await);
                    let taken: Vec<ServerName> = locked
                        .iter()
                        .filter(|s| matches!(backups.get(*s), Some(BackupOutcome::Taken { .. })))
                        .cloned()
                        .collect();
                    if !taken.is_empty() && !self.cancel.is_cancelled() {
                        prunes.extend(self.prune(region, &taken).await);
                    }
                }
                let held = self.held.lock().ok().and_then(|mut h| h.take());
                if let Some(held) = held {
                    held.release(&*self.cloud).await;
                }
            }
        }
        due.into_iter()
            .map(|d| RoundReport {
                backup: backups.remove(&d.server).unwrap_or(BackupOutcome::Failed("not attempted".into())),
                prune: prunes.remove(&d.server),
                server: d.server,
                due: d.due,
            })
            .collect()
    }

    /// `backup@SERVERS --due`, planned and applied. A server whose plan has nothing to do
    /// had its scheduled backup taken since it fell due (by cron, or by the snapshot of an
    /// attempt that failed while waiting for it): that one is reported.
    async fn backup(&self, region: &Region, due: &[&DueBackup]) -> BTreeMap<ServerName, BackupOutcome> {
        let servers: Vec<ServerName> = due.iter().map(|d| d.server.clone()).collect();
        let mut flags = command::Flags::default();
        flags.set(Flag::Due);
        let applied = match self.plan_and_apply("backup", region, &servers, &flags).await {
            Ok(applied) => applied,
            Err(why) => return servers.into_iter().map(|s| (s, BackupOutcome::Failed(why.clone()))).collect(),
        };
        let at = self.cloud.now().await;
        let mut out: BTreeMap<ServerName, BackupOutcome> =
            applied.refused.into_iter().map(|(s, why)| (s, BackupOutcome::Failed(why))).collect();
        for d in due {
            if out.contains_key(&d.server) {
                continue;
            }
            let outcome = match applied.ended.get(&d.server) {
                None => taken_since(&d.server, d.due.at, applied.snapshots.get(&d.server).map_or(&[], Vec::as_slice)),
                Some(Ended::Done(outputs)) => {
                    let snapshots: Vec<SnapshotId> = outputs
                        .iter()
                        .filter_map(|(_, o)| match o {
                            Output::Snapshot(id) => Some(id.clone()),
                            _ => None,
                        })
                        .collect();
                    BackupOutcome::Taken { at, snapshots }
                }
                Some(Ended::Failed(why)) => BackupOutcome::Failed(why.clone()),
            };
            out.insert(d.server.clone(), outcome);
        }
        out
    }

    /// `prune@SERVERS`, planned and applied.
    async fn prune(&self, region: &Region, servers: &[ServerName]) -> BTreeMap<ServerName, PruneOutcome> {
        let applied = match self.plan_and_apply("prune", region, servers, &command::Flags::default()).await {
            Ok(applied) => applied,
            Err(why) => return servers.iter().map(|s| (s.clone(), PruneOutcome::Failed(why.clone()))).collect(),
        };
        let mut out: BTreeMap<ServerName, PruneOutcome> =
            applied.refused.into_iter().map(|(s, why)| (s, PruneOutcome::Failed(why))).collect();
        for server in servers {
            if out.contains_key(server) {
                continue;
            }
            let outcome = match applied.ended.get(server) {
                None => PruneOutcome::Deleted(Vec::new()),
                Some(Ended::Done(_)) => PruneOutcome::Deleted(
                    applied
                        .plan
                        .iter()
                        .flat_map(|p| &p.steps)
                        .filter(|s| &s.server == server)
                        .filter_map(|s| match &s.action {
                            Action::DeleteSnapshot { snapshot, .. } => Some(snapshot.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                Some(Ended::Failed(why)) => PruneOutcome::Failed(why.clone()),
            };
            out.insert(server.clone(), outcome);
        }
        out
    }

    /// `NAME@SERVERS` with `flags`, planned as one fleet plan (each server as the command
    /// alone plans it, their scopes read in one batched read) and applied unattended.
    /// `Err`: why nothing could be planned or applied.
    async fn plan_and_apply(
        &self,
        name: &str,
        region: &Region,
        servers: &[ServerName],
        flags: &command::Flags,
    ) -> Result<Applied, String> {
        let mut commands = Vec::new();
        for server in servers {
            let command = command::parse(planner::COMMANDS, &format!("{name}@{server}"), &[], flags)
                .map_err(|e| one_line(&e.to_string()))?;
            commands.push((server.clone(), command));
        }
        let selector = servers.iter().map(ServerName::as_str).collect::<Vec<_>>().join(",");
        let line = commands
            .first()
            .map(|(server, c)| c.to_string().replacen(&format!("@{server}"), &format!("@{selector}"), 1))
            .unwrap_or_default();
        // Each server planned as the command alone plans it, from one batched read of their
        // scopes (as `fleet::plan_each`; the snapshots read are kept for the report).
        let (mut plans, mut refused, mut scoped, mut scopes) = (Vec::new(), BTreeMap::new(), Vec::new(), Vec::new());
        for (server, command) in commands {
            match planner::scope(&command, &self.tree) {
                Ok(scope) => {
                    scopes.push(scope);
                    scoped.push((server, command));
                }
                Err(e) => drop(refused.insert(server, one_line(&e.to_string()))),
            }
        }
        let inventories = inventory::read_many(&*self.cloud, &scopes)
            .await
            .map_err(|e| one_line(&format!("planning {line}: reading the current state: {e}")))?;
        let mut shared = planner::Shared::default();
        let mut snapshots = BTreeMap::new();
        for ((server, command), inventory) in scoped.into_iter().zip(inventories) {
            match planner::plan_shared(&command, &self.tree, &inventory, Some(&mut shared)) {
                Ok(plan) => plans.push(plan),
                Err(e) => drop(refused.insert(server.clone(), one_line(&e.to_string()))),
            }
            snapshots.insert(server, inventory.resources.snapshots);
        }
        let plan = Plan::fleet(line, selector, servers.to_vec(), plans, refused.clone(), &RolloutOptions::default());
        let mut applied = Applied { plan: None, refused, ended: BTreeMap::new(), snapshots };
        let Some(plan) = plan.filter(|p| !p.is_empty()) else { return Ok(applied) };
        let journal = format!("watch-{name}-{region}");
        let report = apply::apply_unattended(
            (self.cloud.clone(), self.checkpoint.clone()),
            &plan,
            (&self.journals, &journal),
            &self.cancel,
        )
        .await
        .map_err(|e| one_line(&format!("{e:#}")))?;
        applied.ended = ended_by_server(&plan, &report);
        applied.plan = Some(plan);
        Ok(applied)
    }
}

/// A command planned and applied for some servers.
struct Applied {
    /// The fleet plan applied (`None`: nothing to do).
    plan: Option<Plan>,
    /// The servers the command refused, and why.
    refused: BTreeMap<ServerName, String>,
    /// How each server with steps ended.
    ended: BTreeMap<ServerName, Ended>,
    /// Each server's snapshots, as read to plan.
    snapshots: BTreeMap<ServerName, Vec<Snapshot>>,
}

/// The scheduled backups of `server` taken at or after `slot` among `snapshots`, as one
/// backup taken when the last of them was; else [`BackupOutcome::NotDue`].
fn taken_since(server: &ServerName, slot: Timestamp, snapshots: &[Snapshot]) -> BackupOutcome {
    let since: Vec<BackupSnapshot> = snapshots
        .iter()
        .filter_map(BackupSnapshot::from_snapshot)
        .filter(|b| b.server() == server && b.kind() == BackupKind::Scheduled && b.taken_at() >= slot)
        .collect();
    let Some(at) = since.iter().map(BackupSnapshot::taken_at).max() else { return BackupOutcome::NotDue };
    let mut snapshots: Vec<SnapshotId> = since.iter().map(|b| b.id().clone()).collect();
    snapshots.sort();
    BackupOutcome::Taken { at, snapshots }
}

/// How a server's steps ended.
enum Ended {
    /// Every step done: their outputs, in step order.
    Done(Vec<(u32, Output)>),
    /// Why not.
    Failed(String),
}

fn ended_by_server(plan: &Plan, report: &ApplyReport) -> BTreeMap<ServerName, Ended> {
    let mut out: BTreeMap<ServerName, Ended> = BTreeMap::new();
    for step in &plan.steps {
        let outcome = report.outcomes.get(&step.id);
        let entry = out.entry(step.server.clone()).or_insert_with(|| Ended::Done(Vec::new()));
        let Ended::Done(outputs) = entry else { continue };
        match outcome {
            Some(Outcome::Done(output)) => outputs.push((step.id.0, output.clone())),
            Some(Outcome::Failed(e)) => *entry = Ended::Failed(one_line(&e.to_string())),
            Some(Outcome::Cancelled) => *entry = Ended::Failed("stopped before it was done".into()),
            Some(Outcome::Blocked(e)) => *entry = Ended::Failed(one_line(&e.to_string())),
            Some(Outcome::Skipped { because }) => {
                let why = match report.outcomes.get(because) {
                    Some(Outcome::Failed(e)) => one_line(&e.to_string()),
                    _ => format!("skipped after step {because}"),
                };
                *entry = Ended::Failed(why);
            }
            None => *entry = Ended::Failed("not applied".into()),
        }
    }
    out
}

/// A message of several lines (a refusal and its fix) on one line, for an event.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}
