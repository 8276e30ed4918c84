//! cellar-sim: an in-memory EC2/EBS/EIP/AMI/ASG world implementing the engine's
//! [`Cloud`](cellar_engine::cloud::Cloud) trait on a virtual clock.
//!
//! - [`World`] is plain, serializable data plus the operations (validation, AWS-like
//!   errors, the instance/volume state machines, auto scaling reconciliation). It is
//!   deterministic: ordered maps, a virtual clock, counters for ids.
//! - [`Sim`] wraps a world in a mutex, implements `Cloud`, and runs the instance agent
//!   (`cellar_engine::agent::run`) whenever a simulated instance with agent user data boots.
//! - [`SimStore`] keeps the world in a locked RON state file between processes.
//! - [`Faults`] make the world hostile (throttling, transient errors, random and scheduled
//!   terminations, eventual consistency, latency, capacity changes), seeded and replayable.
//!
//! Simulator types never leak past this crate's API into the engine: the engine only
//! sees `Cloud` and the model types.

pub mod faults;
mod sim;
pub mod store;
pub mod world;

pub use faults::{
    parse_faults, render_faults, CapacityChange, EventAnnouncement, Faults, Impairment, LostResponses, Outage,
    ScheduledTermination, StatusCheck, TerminateAtCall, Unreachable,
};
pub use sim::{AfterChange, Sim};
pub use store::{default_world, parse_world, render_world, SimStore, StoreError};
pub use world::{Advance, LogEntry, World};
