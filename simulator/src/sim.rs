//! [`Sim`]: the [`World`] behind a mutex, implementing the engine's `Cloud` trait, and
//! running the instance agent when a simulated instance boots.
//!
//! Invariants: the world lock is never held across an `.await`; every Cloud call first
//! sleeps its latency on the shared virtual clock (outside the lock, so concurrent calls
//! overlap), then passes the world's fault gate once, under one lock with its operation
//! (a call takes effect at the end of its latency); an agent runs at the
//! virtual time it starts (its instance's boot delay after `running`, `world/agents.rs`),
//! never re-entrantly, through an [`AgentCloud`] whose every call its instance's profile
//! must allow (`world/identity.rs`), and prints its outcome line on the instance's console;
//! the clock is moved only through the world's clock (`world/clock.rs`), which saturates
//! at its limits.

use crate::world::{Advance, Need, World};
use cellar_engine::agent::{self, AgentHost};
use cellar_engine::api::Api;
use cellar_engine::cloud::*;
use cellar_engine::model::*;
use cellar_engine::volumes::script::HostVolume;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The turns a sleeper that is the earliest gives the other tasks before it moves the clock
/// (see [`Sim::sleep_until_ms`]): enough for a chain of tasks each woken by the one before
/// (a step that ends, the apply it wakes, the step that apply starts) to settle.
const SETTLE_TURNS: usize = 4;

/// The simulator as a [`Cloud`]. The world lock is never held across an `.await`.
pub struct Sim {
    world: Mutex<World>,
    /// Set while an outer [`Sim::advance`] runs agents: nested advances (the agents' own
    /// sleeps, or other tasks sleeping meanwhile) then only move the clock and leave newly
    /// due agents queued for the outer loop.
    agents_running: AtomicBool,
    /// Tasks sleeping on the virtual clock (a [`Cloud::sleep`] or a call's latency), by
    /// (wake-up time in milliseconds since the epoch, arrival): the earliest one
    /// moves the clock once every runnable task has had its turn (see [`Cloud::sleep`]).
    sleepers: Mutex<BTreeSet<(u64, u64)>>,
    next_sleeper: AtomicU64,
    /// [`Sim::paced`]: each sleep also waits `1/pace` of its length in real time.
    pace: Option<u32>,
    /// [`Sim::reloading`]: the world is put away in shards before every use.
    reloading: bool,
    /// [`Sim::after_every_change`]: called with the world after every change a caller may
    /// have been told of.
    after_change: Mutex<Option<AfterChange>>,
}

/// What [`Sim::after_every_change`] calls (the CLI saves the world through its store).
pub type AfterChange = Box<dyn Fn(&mut World) + Send + Sync>;

/// Removes a sleeper from [`Sim::sleepers`] when its sleep ends or is dropped.
struct SleeperGuard<'a>(&'a Mutex<BTreeSet<(u64, u64)>>, (u64, u64));

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

/// Resets [`Sim::agents_running`] even if the advancing future is dropped or panics.
struct RunningGuard<'a>(&'a AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Sim {
    pub fn new(world: World) -> Self {
        Sim {
            world: Mutex::new(world),
            agents_running: AtomicBool::new(false),
            sleepers: Mutex::new(BTreeSet::new()),
            next_sleeper: AtomicU64::new(0),
            pace: None,
            reloading: cfg!(test),
            after_change: Mutex::new(None),
        }
    }

    /// Calls `hook` with the world (locked) after every mutating call that returned,
    /// whether its answer reached the caller or was lost (the change stands either way),
    /// and after every move of the clock (instances boot, groups replace, agents act), so a
    /// caller that saves there is never behind what any caller was told; `None` stops it.
    pub fn after_every_change(&self, hook: Option<AfterChange>) {
        *self.after_change.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// Runs the [`Sim::after_every_change`] hook, if any, with the world `w`.
    fn changed(&self, w: &mut World) {
        if let Some(hook) = self.after_change.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if self.reloading {
                // The hook sees the world as it would without the check: whole.
                w.make_whole();
            }
            hook(w);
        }
    }

    /// Virtual time follows the wall clock, `pace` times faster (1: as fast as AWS): each
    /// sleep (a wait for an instance to boot, a volume to attach, a retry's backoff) also
    /// takes `1/pace` of its length in real time, for rehearsals that feel like AWS and for
    /// tests that interrupt a running apply. Not saved with the world.
    pub fn paced(mut self, pace: u32) -> Self {
        self.pace = Some(pace.max(1));
        self
    }

    pub fn into_world(self) -> World {
        let mut world = self.world.into_inner().unwrap_or_else(|e| e.into_inner());
        world.make_whole_checked();
        world
    }

    /// Locks the world, whole (with [`Sim::reloading`], the shards put away are loaded
    /// back first). Do not hold the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut world = self.core();
        if self.reloading {
            world.make_whole_checked();
        }
        world
    }

    /// Locks the world as it is: with [`Sim::reloading`], between two uses, its core only
    /// (what the simulator itself reads there: the clock, the random draws, the agents due,
    /// the log).
    fn core(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A check for tests: every use of the world (a call, a move of the clock, an agent's
    /// start, a probe) starts with its shards put away and loads back only what the use
    /// ensures ([`World::reload_lazily`]), and what it loaded (and made) is put away again
    /// after it, as a store's save would. A call or transition that looks at what it did
    /// not ensure then misbehaves, and the tests that check its outcome fail; one that
    /// changes a shard it did not load panics, and so does a shard put away a use at a time
    /// that is not what putting the whole world away would give (checked whenever the world
    /// is looked at whole: [`Sim::world`], [`Sim::with_world`]). Putting away costs what a
    /// use loaded, not what the world holds; a call whose API mutates nothing and that made
    /// or deleted nothing puts its shards back as they came ([`World::put_away_read`]). On
    /// in the simulator's own tests.
    pub fn reloading(mut self) -> Self {
        self.reloading = true;
        self
    }

    /// Runs `f` with the world locked, whole (see [`Sim::world`]).
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world())
    }

    /// Runs `f` with the world locked as it is (see [`Sim::core`]): for what reads or
    /// changes only the core.
    fn with_core<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.core())
    }

    /// [`Sim::with_world`] for what a lazily loaded world runs: a `Cloud` call, a move of
    /// the clock, an agent's start; with [`Sim::reloading`], on a world put away, put away
    /// again after.
    fn use_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        self.use_world_as(false, f)
    }

    /// [`Sim::use_world`]; `reads` for a use that changes nothing it loads (a call whose API
    /// does not mutate): with [`Sim::reloading`], what it loaded is put back as it came
    /// when nothing was made or deleted ([`World::put_away_read`]), else split again.
    fn use_world_as<T>(&self, reads: bool, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = self.core();
        if !self.reloading {
            return f(&mut world);
        }
        if !world.is_put_away() {
            world.reload_lazily();
        }
        let result = f(&mut world);
        if reads {
            world.put_away_read();
        } else {
            world.reload_lazily();
        }
        result
    }

    /// One Cloud call by the operator (see [`Sim::call_as`]).
    async fn call<T>(
        &self,
        api: Api,
        region: Option<&Region>,
        unfiltered: bool,
        needs: Vec<Need>,
        op: impl FnOnce(&mut World) -> CloudResult<T> + Send,
    ) -> CloudResult<T> {
        self.call_as(None, api, region, unfiltered, needs, op).await
    }

    /// One Cloud call: its latency ([`World::draw_latency_ms`]) passes as a sleep of this
    /// caller on the shared virtual clock ([`Sim::pass_latency`]), then, under one lock, the
    /// world's fault gate ([`World::begin_call`]: throttling, transient errors), the
    /// caller's permission (an agent's call, `agent` naming its instance: the instance
    /// profile's; the operator's: its policy), the operation, [`World::end_call`] and
    /// [`World::lose_response`] (a lost response: the change stands, the caller sees an
    /// error). So the call takes effect, and sees the world, at the end of its latency; a
    /// caller dropped during it never reached AWS.
    async fn call_as<T>(
        &self,
        agent: Option<&InstanceId>,
        api: Api,
        region: Option<&Region>,
        unfiltered: bool,
        mut needs: Vec<Need>,
        op: impl FnOnce(&mut World) -> CloudResult<T> + Send,
    ) -> CloudResult<T> {
        let latency = self.with_core(World::draw_latency_ms);
        if latency > 0 {
            self.pass_latency(latency).await;
        }
        self.use_world_as(!api.is_mutating(), |w| {
            needs.extend(agent.map(needs::id));
            w.ensure(&needs);
            if let Some(failure) = w.load_failure() {
                return Err(CloudError::new(CloudErrorKind::Other("SimulatorStateUnreadable".into()), failure));
            }
            if agent.is_none() && api != Api::DnsLookup {
                w.check_outage(api, region)?;
            }
            w.begin_call(api, region, unfiltered)?;
            let result = w.authorize_caller(agent, api).and_then(|()| op(w));
            w.end_call(api);
            #[cfg(test)]
            if let Err(e) = w.check_index().and_then(|()| w.check_shards()) {
                panic!("after {api:?}: {e}");
            }
            let changed = result.is_ok() && api.is_mutating();
            let answer = match result {
                Ok(v) => w.lose_response(api).map_or(Ok(v), Err),
                Err(e) => Err(e),
            };
            if changed {
                self.changed(w);
            }
            answer
        })
    }

    /// Itself as [`Sim`] (what the `Cloud` implementation shared with [`AgentCloud`] asks).
    fn sim(&self) -> &Sim {
        self
    }

    /// The operator's calls are made by no instance.
    fn agent(&self) -> Option<&InstanceId> {
        None
    }

    /// Advances virtual time by `duration`, ending on a whole second (rounded up), running
    /// the agent of every instance that boots meanwhile at the virtual time it boots.
    /// A duration beyond [`World::check_advance`]'s limits is cut short at them: callers
    /// with a duration from a person (`cellar sim advance`) call `check_advance` first.
    pub async fn advance(&self, duration: Duration) {
        let target = self.with_core(|w| w.advance_target(duration));
        self.advance_until(target).await;
    }

    /// Advances virtual time to `target` (see [`Sim::advance`]; the clock stops at
    /// [`MAX_CLOCK`](crate::world::MAX_CLOCK)).
    pub async fn advance_until(&self, target: Timestamp) {
        self.advance_until_ms(target.0.saturating_mul(1000), true).await;
    }

    /// Advances virtual time to `target_ms` (milliseconds since the epoch), running the
    /// agent of every instance that boots meanwhile at the virtual time it boots, then
    /// calls the [`Sim::after_every_change`] hook: always if `always_hook`, else only if
    /// something may have changed (the clock reached another second, where transitions
    /// fall due and groups act, or an agent ran), so a call's sub-second latency does not
    /// save the world.
    async fn advance_until_ms(&self, target_ms: u64, always_hook: bool) {
        if self.agents_running.swap(true, Ordering::SeqCst) {
            // Nested (an agent sleeping): move the clock only.
            self.use_world(|w| w.advance_clock_to_ms(target_ms));
            return;
        }
        let _guard = RunningGuard(&self.agents_running);
        let before = self.with_core(|w| w.now());
        let mut agents_ran = false;
        loop {
            let due = self.with_core(World::take_agents_due);
            if !due.is_empty() {
                agents_ran = true;
                for id in due {
                    self.run_agent(&id).await;
                }
                continue;
            }
            if self.use_world(|w| w.advance_to_ms(target_ms)) == Advance::Reached
                && self.with_core(|w| w.agents_due().is_empty())
            {
                break;
            }
        }
        self.with_core(|w| {
            if always_hook || agents_ran || w.now() != before {
                self.changed(w);
            }
        });
    }

    async fn run_agent(&self, id: &InstanceId) {
        let prepared = self.use_world(|w| {
            w.ensure(&[Need::Id(id.to_string())]);
            let Some(instance) = w.instances().get(id) else {
                w.record(format!("agent {id}: skipped (instance is gone)"));
                return None;
            };
            if instance.state != InstanceState::Running {
                let state = instance.state;
                w.record(format!("agent {id}: skipped (instance is {state})"));
                return None;
            }
            let invocation = agent::parse_user_data(&instance.user_data)?;
            let (region, zone) = (instance.zone.region(), instance.zone.clone());
            w.record(format!("agent {id}: {} for server {}", invocation.mode, invocation.server));
            let mode = invocation.mode;
            w.print_to_console(id, &format!("cellar agent {mode}: instance {id} in {zone} ({region})"));
            Some((invocation, region))
        });
        let Some((invocation, region)) = prepared else {
            return;
        };
        let host = SimHost { sim: self, instance: id.clone(), region: region.clone() };
        let cloud = AgentCloud { sim: self, instance: id.clone() };
        let outcome = agent::run(&cloud, &host, &invocation).await;
        let line = agent::outcome_line(&outcome);
        let recorded = agent::record_outcome(&cloud, &region, id, &outcome).await;
        self.use_world(|w| {
            match &outcome {
                Ok(report) => w.record(format!("agent {id}: done: {}", report.steps.join("; "))),
                Err(e) => w.record(format!("agent {id}: failed: {}", agent::error_chain(e))),
            }
            if let Err(e) = recorded {
                w.record(format!("agent {id}: could not tag its outcome: {e}"));
            }
            w.print_to_console(id, &line);
        });
    }

    /// [`Cloud::sleep`]: sleeps on the virtual clock for `duration`, to the millisecond (a
    /// client pacing its calls at 2 a second must not wake on whole seconds), see
    /// [`Sim::sleep_until_ms`]. Agents sleeping inside an advance only move the clock.
    pub(crate) async fn sleep_on_clock(&self, duration: Duration) {
        if self.agents_running.load(Ordering::SeqCst) {
            return self.advance(duration).await;
        }
        if let Some(pace) = self.pace {
            tokio::time::sleep(duration / pace).await;
        }
        let wake = self.with_core(|w| w.sleep_target_ms(duration));
        self.sleep_until_ms(wake).await;
    }

    /// A call's latency of `ms` milliseconds: the caller sleeps on the shared virtual clock
    /// (to the millisecond), so calls made at once overlap. An agent's call passes none: an
    /// agent runs whole inside an advance, where nothing else runs, so its latency on the
    /// shared clock would stop every other caller meanwhile (a thousand booting instances'
    /// agents, about 0.45 s each, stopped a fleet apply's callers for 450 s); on AWS the
    /// agent's calls overlap everyone else's. Its sleeps (polls) still move the clock.
    async fn pass_latency(&self, ms: u64) {
        if self.agents_running.load(Ordering::SeqCst) {
            return;
        }
        if let Some(pace) = self.pace {
            tokio::time::sleep(Duration::from_millis(ms) / pace).await;
        }
        let wake = self.with_core(|w| w.now_ms().saturating_add(ms));
        self.sleep_until_ms(wake).await;
    }

    /// Sleeps until the virtual clock reads `wake` (milliseconds since the epoch).
    /// Concurrent sleepers share the clock, as real time is shared: each registers its
    /// wake-up time; a sleeper that is the earliest once every other runnable task has had
    /// a turn (one `yield_now` round of the current-thread runtime) moves the clock to its
    /// wake-up time, if it still is the earliest after [`SETTLE_TURNS`] more turns. So two
    /// tasks sleeping 5 s at once wake after 5 s, not 10, and two calls of 100 ms made at
    /// once both return 100 ms later; and a task woken by another that ended (an apply whose
    /// step is done, on a task of its own beside `cellar watch`'s looks) starts its next
    /// call or sleep before a later sleeper moves the clock past it.
    async fn sleep_until_ms(&self, wake: u64) {
        let key = (wake, self.next_sleeper.fetch_add(1, Ordering::SeqCst));
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        let _guard = SleeperGuard(&self.sleepers, key);
        let earliest = || self.sleepers.lock().unwrap_or_else(|e| e.into_inner()).first() == Some(&key);
        loop {
            if self.with_core(|w| w.now_ms() >= wake) {
                return;
            }
            tokio::task::yield_now().await;
            if self.with_core(|w| w.now_ms() >= wake) {
                return;
            }
            if !earliest() {
                continue;
            }
            let now = self.with_core(|w| w.now_ms());
            for _ in 0..SETTLE_TURNS {
                tokio::task::yield_now().await;
            }
            if self.with_core(|w| w.now_ms()) == now && earliest() {
                self.advance_until_ms(wake, false).await;
            }
        }
    }
}

/// The cloud as an instance's agent sees it: the simulator's, with every call made with
/// the credentials of the instance's profile (`world/identity.rs`).
pub(crate) struct AgentCloud<'a> {
    sim: &'a Sim,
    instance: InstanceId,
}

impl AgentCloud<'_> {
    /// One Cloud call by the agent (see [`Sim::call_as`]).
    async fn call<T>(
        &self,
        api: Api,
        region: Option<&Region>,
        unfiltered: bool,
        needs: Vec<Need>,
        op: impl FnOnce(&mut World) -> CloudResult<T> + Send,
    ) -> CloudResult<T> {
        self.sim.call_as(Some(&self.instance), api, region, unfiltered, needs, op).await
    }

    fn sim(&self) -> &Sim {
        self.sim
    }

    /// The instance whose profile the agent's calls are made with.
    fn agent(&self) -> Option<&InstanceId> {
        Some(&self.instance)
    }
}

/// Whether a describe call asks for everything (AWS's unfiltered-describe bucket).
pub(crate) fn unfiltered(filter: &Filter) -> bool {
    matches!(filter, Filter::All)
}

/// EC2 refuses a describe whose filter has more than 200 values (`FilterLimitExceeded`),
/// and so does the simulator.
pub(crate) fn ec2_filter_values(filter: &Filter) -> cellar_engine::cloud::CloudResult<()> {
    match filter {
        Filter::Servers(names) if names.len() > cellar_engine::cloud::MAX_FILTER_VALUES => {
            Err(cellar_engine::cloud::CloudError::from_code(
                "FilterLimitExceeded",
                format!(
                    "The request uses too many filters or too many filter values: {} values for tag:Name, at most {}.",
                    names.len(),
                    cellar_engine::cloud::MAX_FILTER_VALUES
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The simulated machine an agent runs on: its side effects become log entries.
struct SimHost<'a> {
    sim: &'a Sim,
    instance: InstanceId,
    region: Region,
}

/// The persisted directories of every volume, in order (what the trace records).
fn directories(volumes: &[HostVolume]) -> Vec<&str> {
    volumes.iter().flat_map(|v| v.spec.persist.iter().map(String::as_str)).collect()
}

impl AgentHost for SimHost<'_> {
    fn identity(&self) -> (InstanceId, Region) {
        (self.instance.clone(), self.region.clone())
    }

    fn persist(&self, volumes: &[HostVolume]) -> Result<(), String> {
        let id = &self.instance;
        let directories = directories(volumes);
        self.sim.with_core(|w| w.record(format!("agent {id}: persisted {}", directories.join(", "))));
        Ok(())
    }

    fn mount(&self, volumes: &[HostVolume]) -> Result<(), String> {
        let id = &self.instance;
        let directories = directories(volumes);
        self.sim.with_core(|w| w.record(format!("agent {id}: mounted {}", directories.join(", "))));
        Ok(())
    }

    fn run_hook(&self, script: &str) -> Result<(), String> {
        let id = &self.instance;
        let lines = script.lines().count();
        self.sim.with_core(|w| w.record(format!("agent {id}: ran spawn hook ({lines} lines)")));
        Ok(())
    }
}

#[cfg(test)]
mod backup_tests;
mod cloud;
mod needs;
mod probe;
#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod rules;
#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod volume_tests;
