//! cellar's engine: model, configuration, pure planner, plan, executor, the `Cloud`
//! trait and the instance agent. See ARCHITECTURE.md for the invariants.

pub mod agent;
pub mod api;
pub mod backup;
pub mod caller;
pub mod catalog;
pub mod cloud;
pub mod command;
pub mod config;
pub mod doctor;
pub mod executor;
pub mod files;
pub mod inventory;
pub mod limits;
pub mod lock;
pub mod model;
pub mod monitoring;
pub mod network;
pub mod plan;
pub mod planner;
pub mod rng;
pub mod selector;
pub mod status;
pub mod volumes;
pub mod watch;
