//! Planning the servers of a fleet plan on every core: the servers are cut into one
//! contiguous part per thread, each part is planned as [`super::plan_shared`] plans one
//! server after the other (with its own [`Shared`]), and the parts are moved into the fleet
//! plan in order ([`FleetPlanning::absorb`]).
//!
//! Invariant: the fleet plan is the same, byte for byte, whatever the number of threads.
//! Each server's plan depends only on its command, the configuration and its inventory;
//! what [`Shared`] saves is allocation, except the region's observations, which only the
//! first plan with steps of each region read records. A part cannot know what the parts
//! before it recorded, so when a later part's plan recorded a region an earlier part
//! already had, its observations are put back to what they would have been
//! ([`Shared::take_recording`]).

use super::{plan_shared, Shared};
use crate::command::Command;
use crate::config::ConfigTree;
use crate::inventory::Inventory;
use crate::model::ServerName;
use crate::plan::{FleetPlanning, Observation};
use std::ops::Range;

/// Fewer servers than this in a part are not worth a thread of their own.
pub const SERVERS_PER_THREAD: usize = 500;

/// The number of parts to plan `servers` servers in on a machine of `cores` cores (the
/// caller asks the machine; the planner does not): one per core, each of at least
/// [`SERVERS_PER_THREAD`] servers.
pub fn threads_for(servers: usize, cores: usize) -> usize {
    cores.min(servers / SERVERS_PER_THREAD).max(1)
}

/// Plans each server's command of `commands` with its inventory (the same place in
/// `inventories`) into `fleet`, in their order, in `threads` parts at once; a server the
/// command refuses is added as a refusal.
pub fn plan_fleet(
    fleet: &mut FleetPlanning,
    tree: &ConfigTree,
    commands: &[(ServerName, Command)],
    inventories: &[Inventory],
    threads: usize,
) {
    assert_eq!(commands.len(), inventories.len(), "one inventory per command");
    let total = commands.len();
    let per_part = total.div_ceil(threads.max(1)).max(1);
    let planned: Vec<Part> = std::thread::scope(|scope| {
        let mut parts = commands.chunks(per_part).zip(inventories.chunks(per_part));
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| scope.spawn(move || plan_part(tree, part, part.0.len()))).collect();
        // The first part makes room for the whole fleet: the others move in without a copy
        // of what is there.
        let mut planned = vec![plan_part(tree, first, total)];
        for other in others {
            planned.push(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        planned
    });
    let mut recorded = Shared::default();
    for mut part in planned {
        let mut again = Vec::new();
        for recording in part.recordings {
            if recorded.recorded_before(&part.shared, recording.region) {
                again.push((recording.observations, recording.alone));
            }
        }
        // From the last: each replacement leaves the ranges before it where they were.
        for (range, alone) in again.into_iter().rev() {
            part.fleet.replace_observations(range, alone);
        }
        fleet.absorb(part.fleet);
    }
}

/// A part of a fleet planned by one thread.
struct Part {
    fleet: FleetPlanning,
    shared: Shared,
    recordings: Vec<Recording>,
}

/// A plan of a part that recorded the observations of its region.
struct Recording {
    /// The region (in the part's [`Shared`]).
    region: usize,
    /// Where the plan's observations are in the part's.
    observations: Range<usize>,
    /// The plan's observations had its region been recorded before.
    alone: Vec<Observation>,
}

fn plan_part(
    tree: &ConfigTree,
    (commands, inventories): (&[(ServerName, Command)], &[Inventory]),
    expected: usize,
) -> Part {
    let mut part = Part { fleet: FleetPlanning::new(expected), shared: Shared::default(), recordings: Vec::new() };
    for ((server, command), inventory) in commands.iter().zip(inventories) {
        match plan_shared(command, tree, inventory, Some(&mut part.shared)) {
            Ok(plan) => {
                let start = part.fleet.observation_count();
                let recording = part.shared.take_recording();
                part.fleet.add(plan);
                if let Some((region, alone)) = recording {
                    let observations = start..part.fleet.observation_count();
                    part.recordings.push(Recording { region, observations, alone });
                }
            }
            Err(refusal) => part.fleet.refuse(server.clone(), refusal.to_string()),
        }
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(servers: usize, cores: usize, expected: usize) {
        assert_eq!(threads_for(servers, cores), expected, "{servers} servers on {cores} cores");
    }

    #[test]
    fn a_part_per_core_of_at_least_its_share_of_servers() {
        check(0, 8, 1);
        check(SERVERS_PER_THREAD - 1, 8, 1);
        check(2 * SERVERS_PER_THREAD, 8, 2);
        check(2 * SERVERS_PER_THREAD, 1, 1);
        check(10_000, 2, 2);
        check(10_000, 64, 10_000 / SERVERS_PER_THREAD);
    }
}
