//! Which cloud a command talks to: the built-in simulator (a state file) or AWS.
//!
//! A [`Backend`] hands out the engine's `Arc<dyn Cloud>`; [`Backend::finish`] saves the
//! simulator's world after a command that changed it (AWS keeps its own state), and a
//! [`Checkpoint`] saves it in the middle of an apply (before each journal record), so a
//! killed apply leaves the simulated world as AWS would be: with what was done so far.

use crate::commands::Ctx;
use anyhow::{anyhow, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::monitoring::Prober;
use cellar_sim::{Sim, SimStore};
use clap::ValueEnum;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The built-in EC2/EBS/Auto Scaling simulator (state in --sim-state).
    Sim,
    /// Amazon Web Services through the AWS SDK: credentials and endpoint from the usual
    /// chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance role; AWS_ENDPOINT_URL).
    Aws,
}

pub struct Backend {
    cloud: Arc<dyn Cloud>,
    sim: Option<SimParts>,
}

/// The locked state file (`None` while [`Checkpoint::released`] lets others in) and the world.
type SimParts = (Arc<Mutex<Option<SimStore>>>, Arc<Sim>);

/// Saves the simulator's world as it is now (nothing for AWS, which keeps its own).
#[derive(Clone)]
pub struct Checkpoint(Option<SimParts>);

impl Checkpoint {
    /// One that saves nothing (AWS keeps its own state; a simulator nobody saves).
    pub fn none() -> Checkpoint {
        Checkpoint(None)
    }

    pub fn save(&self) -> Result<()> {
        if let Some((store, sim)) = &self.0 {
            // The world's lock, then the store's: the order `save_every_change`'s hook takes them in.
            let mut world = sim.world();
            let store = store.lock().map_err(|_| poisoned())?;
            let store = store.as_ref().ok_or_else(|| {
                anyhow!(
                    "the simulator state could not be locked and read again after the DNS prompt (see the error above)"
                )
            })?;
            store.write(&mut world)?;
        }
        Ok(())
    }

    /// From now on, saves the world after every mutating call that returned and every move
    /// of the clock ([`Sim::after_every_change`]), and once now: the state file is never
    /// behind what a caller was told, so a `kill -9` leaves the simulated world as AWS
    /// would be (per call). While [`Checkpoint::released`] lets others in, nothing is saved
    /// (nothing of this apply runs meanwhile). A failed save is said once on stderr; the
    /// next journal record's save fails its step.
    pub fn save_every_change(&self) -> Result<()> {
        let Some((store, sim)) = &self.0 else { return Ok(()) };
        let store = store.clone();
        let said = std::sync::atomic::AtomicBool::new(false);
        sim.after_every_change(Some(Box::new(move |world| {
            let saved = match store.lock() {
                Ok(guard) => guard.as_ref().map_or(Ok(()), |s| s.write(world).map_err(|e| anyhow!(e))),
                Err(_) => Err(poisoned()),
            };
            if let Err(e) = saved {
                if !said.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    crate::output::stderr(&format!("error: saving the simulator's state after a call: {e:#}\n"));
                }
            }
        })));
        self.save()
    }

    /// Runs `f` (a question to a person) with the simulator's state saved and its lock
    /// released, so other commands (`cellar sim dns`, `status`) run meanwhile; then locks
    /// and reads it again: what they changed is the world the apply goes on in. The whole
    /// process waits in `f` (the apply's runtime has one thread), so nothing of this apply
    /// changes the world meanwhile.
    pub fn released<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let released = self.release()?;
        let answer = f();
        self.reacquire(released)?;
        Ok(answer)
    }

    /// [`Checkpoint::released`] for a wait: the state saved and unlocked while `wait` runs
    /// (`cellar watch` between two looks at the pace of `--sim-pace`), then locked and read
    /// again.
    pub async fn released_while<F: std::future::Future>(&self, wait: F) -> Result<F::Output> {
        let released = self.release()?;
        let answer = wait.await;
        self.reacquire(released)?;
        Ok(answer)
    }

    /// [`Checkpoint::save`], unless the state file is let go (a wait of
    /// [`Checkpoint::released_while`] cut short: the world was saved when it was let go).
    pub fn save_if_held(&self) -> Result<()> {
        match &self.0 {
            Some((store, _)) if store.lock().map_err(|_| poisoned())?.is_none() => Ok(()),
            _ => self.save(),
        }
    }

    /// Saves the world and lets the state file go; its path (`None` for AWS).
    fn release(&self) -> Result<Option<std::path::PathBuf>> {
        let Some((store, _)) = &self.0 else { return Ok(None) };
        self.save()?;
        let path = store.lock().map_err(|_| poisoned())?.take().map(|s| s.path().to_path_buf());
        path.map(Some).ok_or_else(|| anyhow!("internal error: simulator state released twice"))
    }

    /// Locks and reads the state file again, the world becoming what it holds.
    fn reacquire(&self, path: Option<std::path::PathBuf>) -> Result<()> {
        let (Some((store, sim)), Some(path)) = (&self.0, path) else { return Ok(()) };
        let mut reopened = open_store_lazily(&path, false)?;
        let world = reopened.take_world();
        sim.with_world(|w| *w = world);
        *store.lock().map_err(|_| poisoned())? = Some(reopened);
        Ok(())
    }
}

fn poisoned() -> anyhow::Error {
    anyhow!("internal error: simulator store poisoned")
}

impl Backend {
    /// Opens the backend the global options chose (`--backend`, `--sim-state`,
    /// `--profile`); for the simulator this takes the state file's lock until
    /// [`Backend::finish`] or drop.
    pub async fn open(ctx: &Ctx) -> Result<Backend> {
        Self::open_with(ctx, false).await
    }

    /// [`Backend::open`] for a command that never saves the simulator's world (`status`,
    /// `plan`, `doctor`): the state file is locked shared, so such commands run together
    /// (a writer waits for them, they for a writer). What the command's calls do to the
    /// world in memory (the virtual clock a retry's backoff moves, the faults' random
    /// draws, throttling buckets, `api_calls`) is dropped with it, as it always was for
    /// these commands: [`Backend::finish`] and a [`Checkpoint`] of it refuse to save.
    pub async fn open_read_only(ctx: &Ctx) -> Result<Backend> {
        Self::open_with(ctx, true).await
    }

    async fn open_with(ctx: &Ctx, read_only: bool) -> Result<Backend> {
        Self::open_paced(ctx, read_only, ctx.sim_pace).await
    }

    /// [`Backend::open`] with the simulator's sleeps taking no real time whatever
    /// `--sim-pace` says: `cellar watch` keeps the pace itself, between two looks, with the
    /// state file unlocked ([`Checkpoint::released_while`]).
    pub async fn open_unpaced(ctx: &Ctx) -> Result<Backend> {
        Self::open_paced(ctx, false, None).await
    }

    async fn open_paced(ctx: &Ctx, read_only: bool, pace: Option<u32>) -> Result<Backend> {
        match ctx.backend {
            BackendKind::Sim => {
                let mut store = open_store_lazily(&ctx.sim_state, read_only)?;
                let sim = Sim::new(store.take_world());
                let sim = Arc::new(match pace {
                    Some(pace) => sim.paced(pace),
                    None => sim,
                });
                Ok(Backend { cloud: sim.clone(), sim: Some((Arc::new(Mutex::new(Some(store))), sim)) })
            }
            BackendKind::Aws => Ok(Backend { cloud: aws_cloud(ctx.profile.as_deref()).await?, sim: None }),
        }
    }

    /// How the backend's servers are probed from outside: simulated on the simulator, real
    /// HTTP and TCP requests from this machine against AWS.
    pub fn prober(&self) -> Arc<dyn Prober> {
        match &self.sim {
            Some((_, sim)) => sim.clone(),
            None => Arc::new(crate::probe::NetworkProber),
        }
    }

    /// Whether this is the simulator (its clock is virtual).
    pub fn is_simulated(&self) -> bool {
        self.sim.is_some()
    }

    pub fn cloud(&self) -> Arc<dyn Cloud> {
        self.cloud.clone()
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint(self.sim.clone())
    }

    /// Saves what the command changed (the simulator's world); nothing to do for AWS.
    pub fn finish(self) -> Result<()> {
        Checkpoint(self.sim).save()
    }
}

/// Locks and reads the simulator's state; a wait for another process's lock is said once
/// on stderr, after a second: `waiting for the simulator state, held by pid 4242: cellar
/// apply ommegang.plan.ron`.
pub fn open_store(path: &std::path::Path) -> Result<SimStore, cellar_sim::StoreError> {
    SimStore::open_reporting(path, &say_waiting)
}

/// [`open_store`] with a shared lock, for reading only ([`SimStore::open_shared`]).
pub fn open_store_shared(path: &std::path::Path) -> Result<SimStore, cellar_sim::StoreError> {
    SimStore::open_shared(path, &say_waiting)
}

/// [`open_store`] (or, `shared`, [`open_store_shared`]) loading the world a server at a
/// time, as the command's calls need it ([`SimStore::open_lazily`]): what a command that
/// talks to the simulator as to a cloud uses.
pub fn open_store_lazily(path: &std::path::Path, shared: bool) -> Result<SimStore, cellar_sim::StoreError> {
    SimStore::open_lazily(path, &say_waiting, shared)
}

/// [`SimStore::init`], saying a wait as [`open_store`] does.
pub fn init_store(path: &std::path::Path, world: cellar_sim::World) -> Result<SimStore, cellar_sim::StoreError> {
    SimStore::init_reporting(path, world, &say_waiting)
}

fn say_waiting(holder: &str) {
    crate::output::stderr(&format!("waiting for the simulator state, held by {holder}\n"));
}

/// The AWS backend: aws-config's chain, with `profile` (`--profile`) instead of
/// `AWS_PROFILE` when given.
#[cfg(feature = "aws")]
pub async fn aws_cloud(profile: Option<&str>) -> Result<Arc<dyn Cloud>> {
    let options = cellar_aws::AwsOptions { profile: profile.map(str::to_string), ..cellar_aws::AwsOptions::default() };
    Ok(Arc::new(cellar_aws::AwsCloud::connect(options).await))
}

#[cfg(not(feature = "aws"))]
pub async fn aws_cloud(_profile: Option<&str>) -> Result<Arc<dyn Cloud>> {
    anyhow::bail!(
        "this cellar was built without AWS support\n  fix: rebuild with the `aws` feature (it is on by default): cargo build -p cellar --features aws"
    )
}
