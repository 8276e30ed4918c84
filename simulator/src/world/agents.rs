//! The instance agent's side of the world: when an instance's agent starts, and the
//! console output every instance keeps (GetConsoleOutput).
//!
//! Like cloud-init, the agent starts a while after its instance turns `running`
//! ([`AGENT_DELAY_SECS`], or [`Faults::agent_delay_secs`](crate::Faults::agent_delay_secs)),
//! so whatever the executor does meanwhile happens first. The start is a scheduled
//! transition ([`Transition::AgentStart`]), saved with the world like any other; when it
//! falls due the agent is queued ([`World::agents_due`]) and [`crate::Sim`] runs it.
//!
//! Invariants: an agent starts only on an instance that is still running; an instance's
//! console keeps what was printed on it, oldest first, at most [`CONSOLE_LIMIT`] bytes of
//! it (AWS keeps the last 64 KiB), and is forgotten with the instance.

use super::{Transition, World};
use cellar_engine::cloud::CloudResult;
use cellar_engine::model::*;

/// How long after its instance turns running an agent starts (cloud-init's boot).
pub const AGENT_DELAY_SECS: u64 = 20;

/// The most console output an instance keeps, as AWS does (the latest 64 KiB).
pub const CONSOLE_LIMIT: usize = 64 * 1024;

impl World {
    /// An instance with agent user data just turned running: its agent starts after the
    /// boot delay.
    pub(super) fn schedule_agent(&mut self, id: &InstanceId) {
        let delay = self.faults.agent_delay_secs.unwrap_or(AGENT_DELAY_SECS);
        self.schedule(delay, Transition::AgentStart(id.clone()));
    }

    /// [`Transition::AgentStart`]: queues the agent if its instance still runs; true when
    /// it did.
    pub(super) fn agent_start(&mut self, id: InstanceId) -> bool {
        let Some(instance) = self.instances.get(&id) else {
            return false;
        };
        if instance.state != InstanceState::Running {
            let state = instance.state;
            self.record(format!("agent {id}: not started (instance is {state})"));
            return false;
        }
        if !self.agents_due.contains(&id) {
            self.agents_due.push(id);
        }
        true
    }

    /// Appends a line to the instance's console output (what its agent prints), keeping
    /// the last [`CONSOLE_LIMIT`] bytes.
    pub fn print_to_console(&mut self, id: &InstanceId, line: &str) {
        self.ensure(&[super::Need::Id(id.to_string())]);
        if !self.instances.contains_key(id) {
            return;
        }
        let console = self.console.entry(id.clone()).or_default();
        console.push(line.to_string());
        let mut size: usize = console.iter().map(|l| l.len() + 1).sum();
        while size > CONSOLE_LIMIT && console.len() > 1 {
            size -= console.remove(0).len() + 1;
        }
    }

    /// The lines printed on an instance's console, oldest first.
    pub fn console(&self, id: &InstanceId) -> &[String] {
        self.console.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// GetConsoleOutput: the console of an instance the API knows (a terminated one too,
    /// while it is visible), decoded; empty when nothing was printed.
    pub fn get_console_output(&self, region: &Region, id: &InstanceId) -> CloudResult<String> {
        self.instance_in(region, id)?;
        let mut text = String::new();
        for line in self.console(id) {
            text.push_str(line);
            text.push('\n');
        }
        Ok(text)
    }
}
