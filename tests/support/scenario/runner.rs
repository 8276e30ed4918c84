//! Running a scenario: every step, and the invariants (listed at the top of
//! `tests/properties.rs`) checked after it.

use super::crash::{race, Crashing, MemJournal};
use super::*;
use crate::support::Recorder;
use cellar_engine::agent::DATA_ROLE;
use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::journal::{resumed_staleness, Resume};
use cellar_engine::executor::walk::Cancel;
use cellar_engine::executor::{self, ApplyReport, Outcome, Policy};
use cellar_engine::executor::{apply_journaled, Journaled};
use cellar_engine::inventory;
use cellar_engine::inventory::ServerResources;
use cellar_engine::model::*;
use cellar_engine::plan::{Action, Plan};
use cellar_engine::status;
use cellar_sim::{Faults, Sim};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

mod backups;
mod fleet;

/// Reads a resumed apply tries (each through the faults) before the resume is a violation.
const RESUME_READS: usize = 20;

/// Times a killed apply is resumed before a stale refusal is taken as final, and the
/// virtual time between two tries (more than the simulator's invisibility of new instances).
const RESUME_ATTEMPTS: usize = 3;
const RESUME_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// Mixed into the resumed apply's policy seed (its retries' jitter differs from the first's).
const RESUME_SEED: u64 = 0x7e5_u64 << 32;

/// A server's resources, read from the world directly (the checker is not subject to faults).
pub(super) fn resources(sim: &Sim, server: &str) -> ServerResources {
    let region = Region::new("us-east-1");
    let f = Filter::Server(ServerName::new(server));
    let w = sim.world();
    let groups = w.describe_auto_scaling_groups(&region, &f);
    let prefix = format!("{server}-v");
    let launch_configurations = w
        .describe_launch_configurations(&region)
        .into_iter()
        .filter(|c| {
            c.name.starts_with(&prefix)
                || groups.iter().any(|g| g.launch == LaunchSource::Configuration { name: c.name.clone() })
        })
        .collect();
    ServerResources {
        instances: w.describe_instances(&region, &f),
        volumes: w.describe_volumes(&region, &f),
        addresses: w.describe_addresses(&region, &f),
        launch_templates: w.describe_launch_templates(&region, &f),
        launch_configurations,
        groups,
        snapshots: w.describe_snapshots(&region, &f),
    }
}

/// Everything in the region a failed apply could leave behind: volumes, addresses, launch
/// settings, groups and live instances outside a group (a group's own instances come and go).
fn created_ids(sim: &Sim) -> BTreeSet<String> {
    let region = Region::new("us-east-1");
    let w = sim.world();
    let mut out = BTreeSet::new();
    out.extend(w.describe_volumes(&region, &Filter::All).iter().map(|v| v.id.to_string()));
    out.extend(w.describe_addresses(&region, &Filter::All).iter().map(|a| a.allocation_id.to_string()));
    out.extend(w.describe_launch_templates(&region, &Filter::All).iter().map(|t| t.id.to_string()));
    out.extend(w.describe_launch_configurations(&region).into_iter().map(|c| c.name));
    out.extend(w.describe_auto_scaling_groups(&region, &Filter::All).iter().map(|g| g.name.to_string()));
    out.extend(
        w.describe_instances(&region, &Filter::All)
            .iter()
            .filter(|i| i.state.is_alive() && i.group.is_none())
            .map(|i| i.id.to_string()),
    );
    out
}

/// What [`created_ids`] lists that belongs to one of `servers` (by its `Name` tag; a
/// launch configuration `<server>-v<n>` and a group by their names).
fn ids_of_servers(sim: &Sim, servers: &BTreeSet<String>) -> BTreeSet<String> {
    let region = Region::new("us-east-1");
    let w = sim.world();
    let of = |tags: &Tags| tags.get(NAME_TAG).is_some_and(|n| servers.contains(n));
    let mut out = BTreeSet::new();
    out.extend(w.describe_volumes(&region, &Filter::All).iter().filter(|v| of(&v.tags)).map(|v| v.id.to_string()));
    out.extend(
        w.describe_addresses(&region, &Filter::All).iter().filter(|a| of(&a.tags)).map(|a| a.allocation_id.to_string()),
    );
    out.extend(
        w.describe_launch_templates(&region, &Filter::All).iter().filter(|t| of(&t.tags)).map(|t| t.id.to_string()),
    );
    out.extend(
        w.describe_launch_configurations(&region)
            .into_iter()
            .map(|c| c.name)
            .filter(|n| n.rsplit_once("-v").is_some_and(|(server, _)| servers.contains(server))),
    );
    out.extend(
        w.describe_auto_scaling_groups(&region, &Filter::All)
            .iter()
            .map(|g| g.name.to_string())
            .filter(|n| servers.contains(n)),
    );
    out.extend(w.describe_instances(&region, &Filter::All).iter().filter(|i| of(&i.tags)).map(|i| i.id.to_string()));
    out
}

/// A copy of the world as it is now, with no faults: planning on it reads exactly this
/// moment (no latency moves its clock, nothing is throttled, nothing fails, nobody
/// terminates anything), and leaves the scenario's own world and random draws untouched.
fn quiet_copy(sim: &Sim) -> Sim {
    let mut copy = sim.world().clone_without_log();
    copy.set_faults(Faults::default()).expect("no faults are valid faults");
    Sim::new(copy).reloading()
}

/// Every server's volumes (by `Name` tag: its data volumes, and those a restore replaced or
/// is restoring), in one pass.
fn volumes_by_server(sim: &Sim) -> BTreeMap<String, Vec<Volume>> {
    let mut out: BTreeMap<String, Vec<Volume>> = Default::default();
    for v in sim.world().describe_volumes(&Region::new("us-east-1"), &Filter::All) {
        if let Some(name) = v.tags.get(NAME_TAG) {
            out.entry(name.clone()).or_default().push(v);
        }
    }
    out
}

/// One scenario in progress: the world, what has been counted, and how to report a
/// violation (the step, the whole sequence and the line that replays it).
pub(super) struct Runner<'a> {
    seed: u64,
    tree: &'a ConfigTree,
    ops: &'a [Op],
    sim: Arc<Sim>,
    region: Region,
    images: usize,
    /// Armed by `!crash`: where the next apply is killed.
    crash: Option<CrashPoint>,
    pub applies: usize,
    pub tally: Tally,
}

/// What the world held before a command, to check the apply against.
struct Before {
    volumes: BTreeMap<String, Vec<Volume>>,
    ids: BTreeSet<String>,
    snapshots: BTreeSet<String>,
}

impl<'a> Runner<'a> {
    /// `reload_check`: the simulator puts its world away before every use and loads back
    /// only what the use ensures ([`Sim::reloading`]), which catches a call reading what it
    /// did not load, at a cost of what each use loads (and of the whole world each time the
    /// runner looks at it whole).
    pub fn new(seed: u64, tree: &'a ConfigTree, ops: &'a [Op], reload_check: bool) -> Self {
        let mut world = cellar_sim::default_world();
        world.reseed(seed);
        world.set_faults(faults()).expect("valid faults");
        Runner {
            seed,
            tree,
            ops,
            sim: Arc::new(if reload_check { Sim::new(world).reloading() } else { Sim::new(world) }),
            region: Region::new("us-east-1"),
            images: 0,
            crash: None,
            applies: 0,
            tally: Tally::default(),
        }
    }

    /// The violation at `step`, with what to run to see it again.
    /// What the invariants compare an apply's outcome with.
    fn before(&self) -> Before {
        Before {
            volumes: volumes_by_server(&self.sim),
            ids: created_ids(&self.sim),
            snapshots: self.snapshots().into_iter().map(|s| s.id.to_string()).collect(),
        }
    }

    fn fail(&self, step: usize, what: String) -> String {
        let ops = self.ops;
        let at = ops.get(step).map(|op| format!(" ({op})")).unwrap_or_else(|| " (after the last step)".into());
        format!(
            "invariant violated at step {step}{at}: {what}\n  steps: {}\n  replay: CELLAR_SEED={} CELLAR_OPS='{}' cargo test -p cellar --test properties replay",
            ops.len(),
            self.seed,
            render_ops(ops)
        )
    }

    /// Runs every step, then the end-of-sequence checks.
    pub async fn run(&mut self, servers: usize) -> Result<(), String> {
        for (step, op) in self.ops.iter().enumerate() {
            match op {
                Op::Command(cmd) => self.command(step, cmd).await?,
                Op::Terminate(server) => {
                    let id = self.sim.world().server_instance(&ServerName::new(server_name(*server)));
                    if let Some(id) = id {
                        let _ = self.sim.with_world(|w| w.terminate_instance_by_amazon(&id));
                    }
                }
                Op::Capacity { zone, count } => self.sim.with_world(|w| {
                    w.set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), *count)
                        .expect("a zone and type of the world")
                }),
                Op::Advance(secs) => self.sim.advance(Duration::from_secs(*secs)).await,
                Op::Cron(days) => {
                    for _ in 0..*days {
                        self.sim.advance(Duration::from_secs(86_400)).await;
                        for server in 0..servers {
                            self.command(step, &Cmd::Backup { server, due: true }).await?;
                        }
                    }
                }
                Op::NewImage => {
                    self.images += 1;
                    let name = format!("web-server-2027-01-{:02}", self.images);
                    let region = self.region.clone();
                    self.sim.with_world(|w| w.add_image(&name, Architecture::X86_64, &region, Tags::new()));
                }
                Op::Crash(point) => self.crash = Some(*point),
                Op::Fleet { cmds, max_unavailable } => self.fleet(step, cmds, *max_unavailable).await?,
            }
        }
        self.converges(servers).await
    }

    /// A command: planned through the faults and judged by the model, applied, and the
    /// apply checked.
    async fn command(&mut self, step: usize, cmd: &Cmd) -> Result<(), String> {
        let line = cmd.line();
        let target = cmd.target();
        let model_before = target.as_deref().map(|t| model(&self.sim, t));
        let planned = plan_command(&*self.sim, self.tree, &line).await;
        let model_after = target.as_deref().map(|t| model(&self.sim, t));
        let counts = self.tally.0.entry(cmd.kind()).or_default();
        let plan = match planned {
            Planned::ReadFailed(_) => {
                counts.read_failed += 1;
                return Ok(());
            }
            Planned::Refused(ref e) => Err(e.clone()),
            Planned::Plan(plan) => Ok(*plan),
        };
        // The model judges the plan only when the server did not change while it was being
        // planned (time passes under latency: boots, terminations).
        if model_before == model_after {
            // Only create-workspace has no target, and it always plans.
            let want = model_before.as_ref().map_or(Ok(()), |m| expect(cmd, m));
            let got = plan.as_ref().map(|_| ()).map_err(reason);
            if got != want {
                let said = match &plan {
                    Err(e) => format!("refused: {e}"),
                    Ok(p) => format!("planned:\n{}", p.render_text()),
                };
                let what = format!("{line}: the model ({model_before:?}) expects {want:?}, but it was {said}");
                return Err(self.fail(step, what));
            }
        } else {
            counts.unjudged += 1;
        }
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                *counts.refused.entry(reason(&e)).or_default() += 1;
                return Ok(());
            }
        };
        counts.planned += 1;
        if plan.is_empty() {
            counts.empty += 1;
            return Ok(());
        }
        // What the apply's outcome is compared with (planning only read the world).
        let before = self.before();
        let backups_before = self.backups_before(cmd);
        self.applies += 1;
        let policy = Policy { seed: self.seed.wrapping_add(step as u64), ..Policy::default() };
        let report = match self.crash.take() {
            None => executor::apply(self.sim.clone(), Arc::new(Recorder::new(true)), &plan, policy).await,
            Some(point) => match self.crash_and_resume(step, cmd, &plan, policy, point).await? {
                Some(report) => report,
                None => return Ok(()), // refused as stale on resume (counted)
            },
        };
        self.check_apply(step, &line, std::slice::from_ref(cmd), &plan, &report, &before)?;
        self.check_backups(step, &line, &report, backups_before)?;
        let counts = self.tally.0.entry(cmd.kind()).or_default();
        if !report.succeeded() {
            counts.failed += 1;
            return self.check_no_leaks(step, &line, &report, &before, None);
        }
        counts.applied += 1;
        if matches!(cmd, Cmd::CreateWorkspace | Cmd::Backup { due: false, .. } | Cmd::Restore { .. }) {
            // Planning it again plans the next workspace, another manual backup, another restore.
            return Ok(());
        }
        self.check_idempotent(step, cmd, &plan).await
    }

    /// The apply killed at `point`, then resumed as `cellar apply PLAN` would: the journal
    /// read back, the resumed stale check, the rest applied. `None`: the resume was refused
    /// as stale (someone else changed the world meanwhile: Amazon, time). An apply that
    /// never reached its crash point ends as usual.
    async fn crash_and_resume(
        &mut self,
        step: usize,
        cmd: &Cmd,
        plan: &Plan,
        policy: Policy,
        point: CrashPoint,
    ) -> Result<Option<ApplyReport>, String> {
        let journal = Arc::new(MemJournal::default());
        let crashing = Arc::new(Crashing::new(self.sim.clone(), point));
        let died = crashing.died();
        let first = Journaled { journal: journal.clone(), resume: Resume::default() };
        let (operator, cancel) = (Arc::new(Recorder::new(true)), Cancel::default());
        let applied = apply_journaled(crashing, operator, plan, policy.clone(), &cancel, first);
        if let Some(report) = race(applied, died).await {
            return Ok(Some(report));
        }
        self.tally.0.entry(cmd.kind()).or_default().crashed += 1;
        let resume = Resume::from_records(&journal.records());
        // The person runs `cellar apply PLAN` again; refused as stale (an instance the
        // killed apply launched is not visible yet, as on AWS), again a little later.
        let mut stale = Vec::new();
        for attempt in 0..RESUME_ATTEMPTS {
            if attempt > 0 {
                self.sim.advance(RESUME_AGAIN_AFTER).await;
            }
            stale = self.resume_staleness(step, cmd, plan, &resume).await?;
            if stale.is_empty() {
                break;
            }
        }
        if !stale.is_empty() {
            if std::env::var_os("CELLAR_SHOW_STALE").is_some() {
                eprintln!("stale on resume ({}, {point:?}): {stale:?}", cmd.line());
            }
            return Ok(None);
        }
        self.tally.0.entry(cmd.kind()).or_default().resumed += 1;
        let policy = Policy { seed: policy.seed ^ RESUME_SEED, ..policy };
        let resumed = Journaled { journal, resume };
        let operator = Arc::new(Recorder::new(true));
        Ok(Some(apply_journaled(self.sim.clone(), operator, plan, policy, &Cancel::default(), resumed).await))
    }

    /// The stale check of `cellar apply PLAN` resuming `resume`: what changed since the plan
    /// that the journal does not account for. Its reads go through the faults (each tried
    /// again, as a person would).
    async fn resume_staleness(
        &self,
        step: usize,
        cmd: &Cmd,
        plan: &Plan,
        resume: &Resume,
    ) -> Result<Vec<String>, String> {
        let mut read = Err(String::new());
        for _ in 0..RESUME_READS {
            read = inventory::read(&*self.sim, &plan.scope).await.map_err(|e| e.to_string());
            if read.is_ok() {
                break;
            }
        }
        let now = read.map_err(|e| self.fail(step, format!("{}: reading for the resume failed: {e}", cmd.line())))?;
        Ok(resumed_staleness(plan, &now.observe(&plan.scope), resume))
    }

    /// Plan honesty, no data loss, one data volume per server.
    fn check_apply(
        &self,
        step: usize,
        line: &str,
        cmds: &[Cmd],
        plan: &Plan,
        report: &ApplyReport,
        before: &Before,
    ) -> Result<(), String> {
        let planned: BTreeSet<_> = plan.steps.iter().map(|s| s.id).collect();
        let reported: BTreeSet<_> = report.outcomes.keys().copied().collect();
        if planned != reported {
            return Err(self.fail(step, format!("{line}: outcomes {reported:?} for steps {planned:?}")));
        }
        let volumes_after = volumes_by_server(&self.sim);
        let snapshots = self.snapshots();
        // A CreateSnapshot retried after a lost response, or resumed after a crash, must not
        // snapshot the same volume twice.
        let mut new_per_volume: BTreeMap<String, usize> = BTreeMap::new();
        for snap in snapshots.iter().filter(|s| !before.snapshots.contains(s.id.as_str())) {
            *new_per_volume.entry(snap.volume.to_string()).or_default() += 1;
        }
        if let Some((volume, n)) = new_per_volume.iter().find(|(_, n)| **n > 1) {
            return Err(self.fail(step, format!("{line}: {n} snapshots of {volume} made")));
        }
        for (name, volumes) in &before.volumes {
            let now = volumes_after.get(name).map(Vec::as_slice).unwrap_or_default();
            let lost: Vec<&Volume> = volumes.iter().filter(|v| !now.iter().any(|w| w.id == v.id)).collect();
            let allowed = cmds.iter().any(|cmd| {
                matches!(cmd, Cmd::DestroyServer { delete_data: true, .. } | Cmd::Restore { delete_old: true, .. })
                    && cmd.target().as_deref() == Some(name.as_str())
            });
            if !lost.is_empty() && !allowed {
                return Err(self.fail(step, format!("{line}: data volume(s) {lost:?} of {name} lost")));
            }
            if let Some(v) = lost.iter().find(|v| !snapshots.iter().any(|snap| snap.volume == v.id)) {
                return Err(self.fail(step, format!("{line}: volume {} of {name} deleted without a snapshot", v.id)));
            }
        }
        let data = |v: &&Volume| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE);
        if let Some((name, n)) =
            volumes_after.iter().map(|(name, vs)| (name, vs.iter().filter(data).count())).find(|(_, n)| *n > 1)
        {
            return Err(self.fail(step, format!("{line}: {name} has {n} data volumes")));
        }
        // A lost AllocateAddress response retried must not allocate a second address.
        let mut addresses: BTreeMap<String, usize> = BTreeMap::new();
        for a in self.sim.world().describe_addresses(&self.region, &Filter::All) {
            *addresses.entry(a.tags.get(NAME_TAG).cloned().unwrap_or_default()).or_default() += 1;
        }
        match addresses.iter().find(|(_, n)| **n > 1) {
            Some((name, n)) => Err(self.fail(step, format!("{line}: {name} has {n} Elastic IPs"))),
            None => Ok(()),
        }
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.sim.world().describe_snapshots(&self.region, &Filter::All)
    }

    /// No leaks: a failed apply leaves nothing it created, except what its report lists as
    /// failed compensations; and it names a failed step.
    /// A failed apply left nothing it created but what its compensation lists as left;
    /// for a fleet (`failed`: the servers that failed), only the failed servers' creations
    /// are undone, the others' stay.
    fn check_no_leaks(
        &self,
        step: usize,
        line: &str,
        report: &ApplyReport,
        before: &Before,
        failed: Option<&BTreeSet<String>>,
    ) -> Result<(), String> {
        let left_listed: BTreeSet<String> = report
            .undone
            .iter()
            .filter(|u| u.result.is_err())
            .map(|u| match &u.target {
                executor::Output::Address { allocation_id, .. } => allocation_id.to_string(),
                executor::Output::Launch(LaunchSource::Configuration { name }) => name.clone(),
                executor::Output::Launch(LaunchSource::Template { id, .. }) => id.to_string(),
                other => other.to_string(),
            })
            .collect();
        let mut created: Vec<String> = created_ids(&self.sim).difference(&before.ids).cloned().collect();
        if let Some(failed) = failed {
            let theirs = ids_of_servers(&self.sim, failed);
            created.retain(|id| theirs.contains(id));
        }
        let leaked: Vec<&String> = created.iter().filter(|id| !left_listed.contains(*id)).collect();
        if !leaked.is_empty() {
            return Err(self.fail(step, format!("{line} failed ({}) and leaked {leaked:?}", report.summary())));
        }
        if !report.outcomes.values().any(|o| matches!(o, Outcome::Failed(_))) {
            return Err(self.fail(step, format!("{line}: not succeeded but nothing failed: {report:?}")));
        }
        Ok(())
    }

    /// Idempotence: the same command again, on the world exactly as the apply left it, is
    /// empty or refused for the reason the model gives. One known race is let through: an
    /// instance the group launches during a sync, before the apply's group update (after an
    /// Amazon termination), runs the old settings; the sync's wait accepts it as the new
    /// one, and the next sync (`instance` drift) replaces it ([`sync_race`]).
    async fn check_idempotent(&self, step: usize, cmd: &Cmd, applied: &Plan) -> Result<(), String> {
        let line = cmd.line();
        let Some(target) = cmd.target() else { return Ok(()) };
        let quiet = quiet_copy(&self.sim);
        let now = model(&quiet, &target);
        let want = expect(cmd, &now);
        let problem = match plan_command(&quiet, self.tree, &line).await {
            Planned::ReadFailed(e) => Some(format!("{line} applied, but planning it again failed: {e}")),
            Planned::Plan(again) if sync_race(cmd, applied, &again) => None,
            Planned::Plan(again) if !again.is_empty() => {
                Some(format!("{line} applied, but planning it again gives:\n{}", again.render_text()))
            }
            Planned::Plan(_) if want.is_ok() => None,
            Planned::Refused(e) if want == Err(reason(&e)) => None,
            Planned::Plan(_) => {
                Some(format!("{line} applied; planning it again should be refused ({want:?}) but plans nothing"))
            }
            Planned::Refused(e) => Some(format!(
                "{line} applied; planning it again is refused ({e}), but the model ({now:?}) expects {want:?}"
            )),
        };
        problem.map_or(Ok(()), |what| Err(self.fail(step, what)))
    }

    /// Convergence: with capacity back and faults off, every auto-scaling server heals;
    /// and no server or workspace has two live instances.
    async fn converges(&self, servers: usize) -> Result<(), String> {
        let (sim, region, end) = (&self.sim, &self.region, self.ops.len());
        sim.with_world(|w| {
            w.set_faults(Faults::default()).expect("no faults are valid faults");
            for zone in ["a", "b", "c", "d"] {
                w.set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), 100)
                    .expect("a zone and type of the world");
            }
        });
        sim.advance(Duration::from_secs(1800)).await;
        for name in (0..servers).map(server_name) {
            let s = status::read(&**sim, &ServerName::new(name.as_str()), region).await.expect("no faults now");
            let auto_scaling = s.auto_scaling.as_ref().is_some_and(|g| g.desired > 0);
            if auto_scaling && s.health != status::Health::Healthy {
                return Err(self.fail(end, format!("{name} did not converge: {:?} {}", s.health, s.reason)));
            }
        }
        let mut live: BTreeMap<String, usize> = BTreeMap::new();
        for i in sim.describe_instances(region, &Filter::All).await.expect("no faults now") {
            if let Some(name) = i.tags.get(NAME_TAG).filter(|_| i.state.is_alive()) {
                *live.entry(name.clone()).or_default() += 1;
            }
        }
        match live.iter().find(|(_, n)| **n > 1) {
            Some((name, n)) => Err(self.fail(end, format!("{name} has {n} live instances"))),
            None => Ok(()),
        }
    }

    /// The run's outcome.
    pub fn finish(self, trace: bool) -> ScenarioRun {
        let world = self.sim.world();
        ScenarioRun {
            trace: trace.then(|| world.render_log(None)),
            api_calls: world.api_calls(),
            applies: self.applies,
            tally: self.tally.clone(),
        }
    }
}

pub(super) async fn run_async(
    seed: u64,
    tree: &ConfigTree,
    servers: usize,
    ops: &[Op],
    (trace, reload_check): (bool, bool),
) -> Result<ScenarioRun, String> {
    let mut runner = Runner::new(seed, tree, ops, reload_check);
    runner.run(servers).await?;
    Ok(runner.finish(trace))
}

/// The race [`Runner::check_idempotent`] lets through: the next sync finds only an
/// instance running the old settings, and it is not one the applied sync saw and replaced:
/// the group launched it during the apply, before the apply's group update (after an
/// Amazon termination of the instance the plan saw, or while it had none).
fn sync_race(cmd: &Cmd, applied: &Plan, again: &Plan) -> bool {
    let target = cmd.target().unwrap_or_default();
    let terminated = |plan: &Plan| -> BTreeSet<InstanceId> {
        plan.steps
            .iter()
            .filter(|s| s.server.as_str() == target)
            .filter_map(|s| match &s.action {
                Action::TerminateInstance { instance } => Some(instance.clone()),
                _ => None,
            })
            .collect()
    };
    matches!(cmd, Cmd::Sync { .. })
        && terminated(applied).is_disjoint(&terminated(again))
        && !again.drift.is_empty()
        && again.drift.iter().all(|d| d.setting == "instance")
}
