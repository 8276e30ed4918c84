//! Benchmark: planning a fleet command for many servers, from inventory in memory to the
//! plan (target: 10,000 servers in at most 50 ms; ten times the servers at most eleven
//! times the time), and loading a configuration of that many servers.
//!
//! Every server is a copy of the fixture's duvel (its own name, DNS name, group, launch
//! template and resources' Name tags), created once on the simulator by create-server and
//! read once; a newer image makes `upgrade-ami@… --restart` plan three steps per server and
//! a rolling change of 10% at a time. The time covers, per server, the command's parse and
//! its scope (one thread, as `cellar plan` does them before its batched read), then its plan
//! and its move into its part of the fleet plan (`FleetPlanning::add`, one part per thread),
//! the parts moved in (`FleetPlanning::absorb`), and the fleet plan's summary and waves
//! (`FleetPlanning::finish`). Loading the configuration and working
//! out every server's configuration, settings and extra tags (`ConfigTree::planned`, once per
//! tree, as a command does on first use) are timed apart: "config load" and "resolve"; a
//! real command pays "resolve" once, inside its planning.
//!
//! Run: `cargo bench -p cellar --no-default-features --bench fleet`
//! (`CELLAR_BENCH_FLEET=1000,10000` for the fleet sizes; each is run
//! `CELLAR_BENCH_RUNS` times, 5 unless told, the sizes taking turns run by run, and the
//! medians are reported, with the median of the run-by-run ratios; `CELLAR_BENCH_COLD=1`
//! empties the CPU's caches before each run; `CELLAR_BENCH_TIMES=1` prints every run's time).
//!
//! The servers are planned on as many threads as `cellar plan` uses on this machine
//! (`planner::threads_for`), then again on one thread, with the allocator of the `cellar`
//! binary.

#[path = "../tests/support/mod.rs"]
mod support;

use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory::{self, Inventory};
use cellar_engine::model::*;
use cellar_engine::plan::{FleetPlanning, Plan, RolloutOptions, Unavailable};
use cellar_engine::planner;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

// The allocator the `cellar` binary runs with.
cellar_cli::cellar_allocator!();

fn main() {
    let sizes: Vec<usize> = std::env::var("CELLAR_BENCH_FLEET")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 10_000]);
    let runs: usize = std::env::var("CELLAR_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    // Caches emptied before each run: the servers' configurations and inventories are not
    // left in the CPU's caches by the run before (1,000 servers' fit in them, 10,000 do not).
    let cold = std::env::var_os("CELLAR_BENCH_COLD").is_some();
    let base = base_inventory();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fleets: Vec<Fleet> = sizes.iter().map(|&n| Fleet::new(&base, n, cores)).collect();
    // The sizes take turns, run by run, so a change of the machine's load meets them alike;
    // the ratio is also taken run by run, and its median reported.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); fleets.len()];
    let mut alone: Vec<Vec<f64>> = vec![Vec::new(); fleets.len()];
    let mut steps = vec![0; fleets.len()];
    for _ in 0..runs {
        for (i, fleet) in fleets.iter().enumerate() {
            let (took, n) = fleet.run(fleet.threads, cold);
            times[i].push(took);
            steps[i] = n;
        }
    }
    for (i, fleet) in fleets.iter().enumerate() {
        if fleet.threads > 1 {
            for _ in 0..runs {
                alone[i].push(fleet.run(1, cold).0);
            }
        }
    }
    let mut medians = Vec::new();
    for (i, fleet) in fleets.iter().enumerate() {
        if std::env::var_os("CELLAR_BENCH_TIMES").is_some() {
            println!("  {} servers on {} thread(s), in order: {:.1?} ms", fleet.n, fleet.threads, times[i]);
        }
        let (median, fastest, slowest) = spread(&times[i]);
        let one = if alone[i].is_empty() { median } else { spread(&alone[i]).0 };
        println!(
            "{} servers: plan {median:.1} ms median of {runs} ({fastest:.1}–{slowest:.1}) on {} thread{}, {:.2} µs a server, {} steps; on one thread {one:.1} ms; config load {:.0} ms, resolve {:.0} ms",
            fleet.n,
            fleet.threads,
            if fleet.threads == 1 { "" } else { "s" },
            median * 1000.0 / fleet.n as f64,
            steps[i],
            fleet.load_ms,
            fleet.resolve_ms,
        );
        medians.push(median);
    }
    for i in 1..fleets.len() {
        let (n1, n2) = (fleets[i - 1].n, fleets[i].n);
        let ratios: Vec<f64> = times[i].iter().zip(&times[i - 1]).map(|(t2, t1)| t2 / t1).collect();
        let (ratio, low, high) = spread(&ratios);
        println!(
            "{n2}/{n1} servers: {:.1}× the servers, {:.2}× the time (medians); run by run {ratio:.2}× median ({low:.2}–{high:.2})",
            n2 as f64 / n1 as f64,
            medians[i] / medians[i - 1]
        );
    }
}

/// One fleet size: its configuration (loaded and resolved once) and inventories.
struct Fleet {
    n: usize,
    _dir: tempfile::TempDir,
    tree: ConfigTree,
    inventories: Vec<Inventory>,
    threads: usize,
    load_ms: f64,
    resolve_ms: f64,
}

impl Fleet {
    fn new(base: &Inventory, n: usize, cores: usize) -> Fleet {
        let dir = tempfile::tempdir().expect("a temporary directory");
        write_config(dir.path(), n);
        let started = Instant::now();
        let tree = ConfigTree::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Every server's effective configuration, settings and extra tags, worked out once
        // per tree (as a command does on first use), outside the planning time.
        let started = Instant::now();
        for server in tree.server_names() {
            tree.planned(&server).unwrap_or_else(|e| panic!("{e}"));
        }
        let resolve_ms = started.elapsed().as_secs_f64() * 1000.0;
        let inventories: Vec<Inventory> = (0..n).map(|i| renamed(base, &name(i))).collect();
        let threads = planner::threads_for(n, cores);
        Fleet { n, _dir: dir, tree, inventories, threads, load_ms, resolve_ms }
    }

    /// One timed planning on `threads` threads: milliseconds, and the plan's steps.
    fn run(&self, threads: usize, cold: bool) -> (f64, usize) {
        if cold {
            evict_caches();
        }
        let started = Instant::now();
        let plan = plan_fleet(&self.tree, &self.inventories, threads);
        let took = started.elapsed().as_secs_f64() * 1000.0;
        (took, plan.steps.len())
    }
}

/// Median, lowest and highest of `values` (not empty).
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    (sorted[sorted.len() / 2], sorted[0], sorted[sorted.len() - 1])
}

/// Reads and writes 128 MiB, four times this machine's last-level cache, so that what a
/// run reads comes from memory as in a fresh process.
fn evict_caches() {
    let mut buffer = vec![1u8; 128 << 20];
    for i in (0..buffer.len()).step_by(64) {
        buffer[i] = buffer[i].wrapping_add(1);
    }
    std::hint::black_box(&buffer);
}

fn name(i: usize) -> String {
    format!("web-{i:05}")
}

/// duvel created and read on the simulator, with a newer image to upgrade to.
fn base_inventory() -> Inventory {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let sim =
            support::world_after(&["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"]).await;
        let tree = support::fixture_config();
        let command = command::parse(planner::COMMANDS, "upgrade-ami@duvel", &[], &Default::default()).unwrap();
        let scope = planner::scope(&command, &tree).unwrap();
        inventory::read(&*sim, &scope).await.unwrap()
    })
}

/// The fixture's global and platform files, and `n` servers like duvel.
fn write_config(dir: &Path, n: usize) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    std::fs::create_dir_all(dir.join("platforms")).unwrap();
    std::fs::create_dir_all(dir.join("servers")).unwrap();
    std::fs::copy(fixtures.join("global.ron"), dir.join("global.ron")).unwrap();
    std::fs::copy(fixtures.join("platforms/debian-web.ron"), dir.join("platforms/debian-web.ron")).unwrap();
    for i in 0..n {
        let text = format!(
            "(\n    platform: \"debian-web\",\n    dns_name: \"{}.example.net\",\n    instance_type: \"m5.large\",\n    tags: {{\"team\": \"web\", \"environment\": \"staging\"}},\n)\n",
            name(i)
        );
        std::fs::write(dir.join(format!("servers/{}.ron", name(i))), text).unwrap();
    }
}

/// duvel's inventory as server `name`'s: its group, template and tags renamed.
fn renamed(base: &Inventory, name: &str) -> Inventory {
    let mut inventory = base.clone();
    let server = name.to_string();
    let r = &mut inventory.resources;
    let retag = |tags: &mut Tags| {
        tags.insert(NAME_TAG.to_string(), server.clone());
    };
    r.instances.iter_mut().for_each(|i| retag(&mut i.tags));
    r.volumes.iter_mut().for_each(|v| retag(&mut v.tags));
    r.addresses.iter_mut().for_each(|a| retag(&mut a.tags));
    for t in &mut r.launch_templates {
        retag(&mut t.tags);
        t.name = server.clone();
    }
    for g in &mut r.groups {
        retag(&mut g.tags);
        g.name = AutoScalingGroupName::new(server.clone());
    }
    inventory
}

/// `upgrade-ami@all --restart` for every server of `tree`, 10% at a time, as `cellar plan
/// upgrade-ami@all` plans it (`commands/fleet.rs`): each server's command parsed and
/// scoped, then the servers planned on `threads` threads (`planner::plan_fleet`).
fn plan_fleet(tree: &ConfigTree, inventories: &[Inventory], threads: usize) -> Plan {
    let servers = tree.server_names();
    let flags = command::Flags(BTreeMap::from([(command::Flag::Restart, vec![])]));
    let mut fleet = FleetPlanning::new(servers.len());
    let mut commands = Vec::with_capacity(servers.len());
    for server in &servers {
        let command = command::parse(planner::COMMANDS, &format!("upgrade-ami@{server}"), &[], &flags).unwrap();
        let _scope = planner::scope(&command, tree).unwrap();
        commands.push((server.clone(), command));
    }
    planner::plan_fleet(&mut fleet, tree, &commands, inventories, threads);
    assert!(fleet.refused().is_empty(), "refused: {:?}", fleet.refused());
    let options = RolloutOptions {
        max_unavailable: Some(Unavailable::Percent(10)),
        canary: Some(1),
        stop_after_failures: Some(10),
    };
    fleet.finish("upgrade-ami@all --restart".into(), "all".into(), servers, &options).unwrap()
}
