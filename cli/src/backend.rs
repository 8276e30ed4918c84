//! Which cloud a command talks to: the built-in simulator (a state file) or AWS.
//!
//! A [`Backend`] hands out the engine's `Arc<dyn Cloud>`; [`Backend::finish`] saves the
//! simulator's world after a command that changed it (AWS keeps its own state), and a
//! [`Checkpoint`] saves it in the middle of an apply (before each journal record), so a
//! killed apply leaves the simulated world as AWS would be: with what was done so far.

use crate::commands::Ctx;
use anyhow::{anyhow, Result};
use cellar_engine::cloud::Cloud;
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
    sim: Option<(Arc<Mutex<SimStore>>, Arc<Sim>)>,
}

/// Saves the simulator's world as it is now (nothing for AWS, which keeps its own).
#[derive(Clone)]
pub struct Checkpoint(Option<(Arc<Mutex<SimStore>>, Arc<Sim>)>);

impl Checkpoint {
    pub fn save(&self) -> Result<()> {
        if let Some((store, sim)) = &self.0 {
            let world = sim.world().clone();
            store.lock().map_err(|_| anyhow!("internal error: simulator store poisoned"))?.save(&world)?;
        }
        Ok(())
    }
}

impl Backend {
    /// Opens the backend the global options chose (`--backend`, `--sim-state`,
    /// `--profile`); for the simulator this takes the state file's lock until
    /// [`Backend::finish`] or drop.
    pub async fn open(ctx: &Ctx) -> Result<Backend> {
        match ctx.backend {
            BackendKind::Sim => {
                let store = SimStore::open(&ctx.sim_state)?;
                let sim = Sim::new(store.world().clone());
                let sim = Arc::new(match ctx.sim_pace {
                    Some(pace) => sim.paced(pace),
                    None => sim,
                });
                Ok(Backend { cloud: sim.clone(), sim: Some((Arc::new(Mutex::new(store)), sim)) })
            }
            BackendKind::Aws => Ok(Backend { cloud: aws_cloud(ctx.profile.as_deref()).await?, sim: None }),
        }
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
