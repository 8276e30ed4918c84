//! Which cloud a command talks to: the built-in simulator (a state file) or AWS.
//!
//! A [`Backend`] hands out the engine's `Arc<dyn Cloud>`; [`Backend::finish`] saves the
//! simulator's world after a command that changed it (AWS keeps its own state).

use anyhow::{anyhow, Result};
use cellar_engine::cloud::Cloud;
use cellar_sim::{Sim, SimStore};
use clap::ValueEnum;
use std::path::Path;
use std::sync::Arc;

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
    sim: Option<(SimStore, Arc<Sim>)>,
}

impl Backend {
    /// Opens the backend; for the simulator this takes the state file's lock until
    /// [`Backend::finish`] or drop.
    pub async fn open(kind: BackendKind, sim_state: &Path) -> Result<Backend> {
        match kind {
            BackendKind::Sim => {
                let store = SimStore::open(sim_state)?;
                let sim = Arc::new(Sim::new(store.world().clone()));
                Ok(Backend { cloud: sim.clone(), sim: Some((store, sim)) })
            }
            BackendKind::Aws => Ok(Backend { cloud: aws_cloud().await?, sim: None }),
        }
    }

    pub fn cloud(&self) -> Arc<dyn Cloud> {
        self.cloud.clone()
    }

    /// Saves what the command changed (the simulator's world); nothing to do for AWS.
    pub fn finish(self) -> Result<()> {
        let Backend { cloud, sim } = self;
        drop(cloud);
        if let Some((mut store, sim)) = sim {
            let sim = Arc::try_unwrap(sim).map_err(|_| anyhow!("internal error: simulator still in use"))?;
            store.save(&sim.into_world())?;
        }
        Ok(())
    }
}

#[cfg(feature = "aws")]
pub async fn aws_cloud() -> Result<Arc<dyn Cloud>> {
    Ok(Arc::new(cellar_aws::AwsCloud::connect(cellar_aws::AwsOptions::default()).await))
}

#[cfg(not(feature = "aws"))]
pub async fn aws_cloud() -> Result<Arc<dyn Cloud>> {
    anyhow::bail!(
        "this cellar was built without AWS support\n  fix: rebuild with the `aws` feature (it is on by default): cargo build -p cellar --features aws"
    )
}
