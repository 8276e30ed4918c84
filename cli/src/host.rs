//! `cellar agent` on a real instance: the machine side of the agent.
//!
//! The cloud side (find the data volumes and the Elastic IP by tag, attach, associate) is
//! the engine's `agent::run`, the same code the simulator runs on boot. This module runs
//! what it does to the machine: the engine's `volumes::script` (find each volume's disk by
//! its volume id, make its file system on first use, mount it, copy (first boot) or
//! bind-mount (every boot) the persisted directories, record the mounts in `/etc/fstab`),
//! then the spawn hook. `--dry-run` prints the scripts instead of running them; the
//! scripts are tested in the engine (`engine/src/volumes/tests.rs`).

use crate::output::Output;
use cellar_engine::agent::AgentHost;
use cellar_engine::model::{InstanceId, Region};
use cellar_engine::volumes::script::{directories_script, HostVolume};
use std::io::Write;
use std::process::{Command, Stdio};

pub struct SystemHost {
    pub instance: InstanceId,
    pub region: Region,
    /// Print the scripts instead of running them.
    pub dry_run: bool,
    /// Where `--dry-run` prints them.
    pub out: Output,
}

impl SystemHost {
    fn run(&self, what: &str, script: &str) -> Result<(), String> {
        if self.dry_run {
            return self
                .out
                .print(&format!("--- {what} (dry run: not executed)\n{script}---\n"))
                .map_err(|e| e.to_string());
        }
        let mut child = Command::new("bash")
            .arg("-s")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start bash for {what}: {e}"))?;
        let mut stdin = child.stdin.take().ok_or_else(|| format!("cannot pass the {what} script to bash: no stdin"))?;
        stdin.write_all(script.as_bytes()).map_err(|e| format!("cannot pass the {what} script to bash: {e}"))?;
        drop(stdin);
        let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{what} script exited with {status}"))
        }
    }
}

impl AgentHost for SystemHost {
    fn identity(&self) -> (InstanceId, Region) {
        (self.instance.clone(), self.region.clone())
    }

    fn persist(&self, volumes: &[HostVolume]) -> Result<(), String> {
        self.run("persist", &directories_script(volumes, true))
    }

    fn mount(&self, volumes: &[HostVolume]) -> Result<(), String> {
        self.run("mount", &directories_script(volumes, false))
    }

    fn run_hook(&self, script: &str) -> Result<(), String> {
        self.run("spawn hook", script)
    }
}
