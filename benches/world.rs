//! Benchmark: whole `cellar` processes on a simulated world of many servers (targets: a
//! command about one server ≤ 50 ms wall, `status` of all 10,000 ≤ 2 s, peak memory ≤ 2×
//! what the command's own data needs).
//!
//! For each size N it writes a configuration of N servers like the fixture's duvel
//! (`web-00000` …, plus one more, `new-0`, not created) and builds the world in-process:
//! every server created by `create-server@web-… 30` through the planner and the executor
//! on `cellar_sim::Sim` (the Elastic IP quota raised to fit), then a newer image so
//! `upgrade-ami` has something to plan. The world is saved through `SimStore`, then the
//! real `cellar` binary (this package's, `CARGO_BIN_EXE_cellar`) is run, one process per
//! command, several times each, under `/usr/bin/time -f %M` for its peak RSS:
//!
//! - `status web-00000`, `plan upgrade-ami@web-00000 --restart`, `status` (all, and with
//!   `--no-drift`: without the comparison with the configuration, which reads and plans
//!   `sync` for every server);
//! - `apply create-server@new-0 30 --yes --dns-confirmed` (on a fresh copy of the state
//!   file each run, synced to disk first; neither is timed);
//! - `sim show | head` is not timed (its output is the whole world by design).
//!
//! In-process, before the processes: the API calls of reading 10, 100, 1,000, ... servers
//! at once (a fleet plan's inventory, and `status`), which grow with the number of pages.
//!
//! Run: `cargo bench -p cellar --no-default-features --bench world`
//! (`CELLAR_BENCH_WORLD=1000,10000` for the sizes, `CELLAR_BENCH_RUNS=5` for the runs;
//! the median is reported with the fastest and slowest run; `CELLAR_BENCH_KEEP=1` keeps
//! each size's configuration and state file and prints where).

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "timed_cellar.rs"]
mod timed_cellar;

use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::{self, Policy};
use cellar_engine::inventory;
use cellar_engine::model::*;
use cellar_engine::planner;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::var("CELLAR_BENCH_WORLD")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 10_000]);
    let runs: usize = std::env::var("CELLAR_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    for &n in &sizes {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let dir = if std::env::var_os("CELLAR_BENCH_KEEP").is_some() {
            let kept = dir.keep();
            println!("{n} servers: kept in {}", kept.display());
            Kept::Path(kept)
        } else {
            Kept::Temp(dir)
        };
        let config = dir.path().join("config");
        write_config(&config, n);
        let state = dir.path().join("sim.db");
        let started = Instant::now();
        build_world(&config, &state, n);
        let bytes = std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0);
        println!(
            "{n} servers: world built in {:.1} s, state file {:.1} MB",
            started.elapsed().as_secs_f64(),
            bytes as f64 / 1e6
        );
        phases(&state);
        let one = name(0);
        let cases: [(&str, Vec<String>); 5] = [
            ("status ONE", vec!["status".into(), one.clone()]),
            ("plan upgrade-ami@ONE", vec!["plan".into(), format!("upgrade-ami@{one}"), "--restart".into()]),
            ("status (all)", vec!["status".into()]),
            ("status (all) --no-drift", vec!["status".into(), "--no-drift".into()]),
            (
                "apply create-server@NEW",
                ["apply", "create-server@new-0", "30", "--yes", "--dns-confirmed"].map(String::from).to_vec(),
            ),
        ];
        for (label, words) in cases {
            let mutating = words[0] == "apply";
            let mut samples = Vec::new();
            for _ in 0..runs {
                let run_state = if mutating {
                    let copy = dir.path().join("run.db");
                    std::fs::copy(&state, &copy).expect("copy the state file");
                    // On disk before the clock starts: else the apply's first fdatasync
                    // writes the whole copy's dirty pages (141 MB at 10,000 servers).
                    std::fs::File::open(&copy).and_then(|f| f.sync_all()).expect("sync the copy");
                    copy
                } else {
                    state.clone()
                };
                samples.push(run(&config, &run_state, &words));
            }
            samples.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (median, rss) = samples[samples.len() / 2];
            let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
            println!(
                "  {label:<24} {median:>8.1} ms median of {runs} ({:.1}–{:.1}), peak RSS {:.1} MiB (max {:.1})",
                samples[0].0,
                samples[samples.len() - 1].0,
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            );
        }
    }
}

/// The state file's phases in-process, each the median of 3: opening it whole (every
/// shard and the log, what `sim show` does), opening its core only (what a command that
/// talks to the simulator as a cloud does first), and that plus one server's shard.
fn phases(state: &Path) {
    let median = |f: &mut dyn FnMut()| {
        let mut times: Vec<f64> = (0..3)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        times[1]
    };
    let quiet = |_: &str| {};
    let whole = median(&mut || drop(cellar_sim::SimStore::open_shared(state, &quiet).unwrap().into_world()));
    let core = median(&mut || drop(cellar_sim::SimStore::open_lazily(state, &quiet, true).unwrap()));
    let one = median(&mut || {
        let mut store = cellar_sim::SimStore::open_lazily(state, &quiet, true).unwrap();
        store.world_mut().ensure(&[cellar_sim::world::Need::Name(name(0))]);
        assert_eq!(store.world().loaded_shards().map(|s| s.len()), Some(1));
    });
    println!("  state file phases (ms, median of 3): open whole {whole:.1}, open the core {core:.1}, core and one server {one:.1}");
}

/// A size's directory: removed at the end, or kept (`CELLAR_BENCH_KEEP`).
enum Kept {
    Temp(tempfile::TempDir),
    Path(PathBuf),
}

impl Kept {
    fn path(&self) -> &Path {
        match self {
            Kept::Temp(dir) => dir.path(),
            Kept::Path(path) => path,
        }
    }
}

fn name(i: usize) -> String {
    format!("web-{i:05}")
}

/// The fixture's global and platform files, `n` servers like duvel, and `new-0`.
fn write_config(dir: &Path, n: usize) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    std::fs::create_dir_all(dir.join("platforms")).unwrap();
    std::fs::create_dir_all(dir.join("servers")).unwrap();
    std::fs::copy(fixtures.join("global.ron"), dir.join("global.ron")).unwrap();
    std::fs::copy(fixtures.join("platforms/debian-web.ron"), dir.join("platforms/debian-web.ron")).unwrap();
    let names = (0..n).map(name).chain(["new-0".to_string()]);
    for server in names {
        let text = format!(
            "(\n    platform: \"debian-web\",\n    dns_name: \"{server}.example.net\",\n    instance_type: \"m5.large\",\n    tags: {{\"team\": \"web\", \"environment\": \"staging\"}},\n)\n"
        );
        std::fs::write(dir.join(format!("servers/{server}.ron")), text).unwrap();
    }
}

/// Creates `n` servers in-process and saves the world to `state`.
fn build_world(config: &Path, state: &Path, n: usize) {
    let tree = ConfigTree::load(config).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut world = cellar_sim::default_world();
    let room = u32::try_from(2 * n + 10).unwrap();
    world.set_address_limit(room).unwrap();
    world.set_capacity(&Zone::new("us-east-1a"), &InstanceType::new("m5.large"), room).unwrap();
    let sim = Arc::new(cellar_sim::Sim::new(world));
    let started = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            let line = format!("create-server@{} 30", name(i));
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            let command = command::parse_words(planner::COMMANDS, &words).unwrap();
            let scope = planner::scope(&command, &tree).unwrap();
            let inventory = inventory::read(&*sim, &scope).await.unwrap();
            let plan = planner::plan(&command, &tree, &inventory).unwrap_or_else(|e| panic!("{line}: {e}"));
            let report =
                executor::apply(sim.clone(), Arc::new(support::Recorder::new(true)), &plan, Policy::default()).await;
            assert!(report.succeeded(), "{line} did not apply: {report:#?}");
            if (i + 1) % 1000 == 0 {
                eprintln!("  created {} servers in {:.1} s", i + 1, started.elapsed().as_secs_f64());
            }
        }
        // Let the agents run, so the servers are healthy.
        sim.advance(std::time::Duration::from_secs(120)).await;
    });
    sim.with_world(|w| {
        w.add_image(
            "web-server-2030-01-01",
            Architecture::parse("x86_64").unwrap(),
            &Region::new("us-east-1"),
            Tags::new(),
        )
    });
    rt.block_on(count_reads(&sim, &tree, n));
    let world = Arc::try_unwrap(sim).ok().expect("the simulator is not shared any more").into_world();
    cellar_sim::SimStore::init(state, world).expect("save the world");
}

/// The API calls of reading 10, 100, 1,000, ... of the `n` servers at once (a fleet plan's
/// `inventory::read_many` for `upgrade-ami@…`, and `status::read_many`), counted by the
/// simulator: they grow with the pages (200 servers a describe), not with the servers.
async fn count_reads(sim: &cellar_sim::Sim, tree: &ConfigTree, n: usize) {
    let mut m = 10;
    while m <= n {
        let scopes: Vec<_> = (0..m)
            .map(|i| {
                let words = [format!("upgrade-ami@{}", name(i)), "--restart".to_string()];
                let command = command::parse_words(planner::COMMANDS, &words).unwrap();
                planner::scope(&command, tree).unwrap()
            })
            .collect();
        let before = sim.world().api_calls();
        inventory::read_many(sim, &scopes).await.unwrap();
        let plan_reads = sim.world().api_calls() - before;
        let asked: Vec<_> = (0..m).map(|i| (ServerName::new(name(i)), Region::new("us-east-1"))).collect();
        let before = sim.world().api_calls();
        let statuses = cellar_engine::status::read_many(sim, &asked).await.unwrap();
        let status_reads = sim.world().api_calls() - before;
        assert_eq!(statuses.len(), m);
        println!(
            "  reads for {m:>6} servers: plan's inventory {plan_reads:>4} calls, status {status_reads:>4} calls ({:.2} and {:.2} a server)",
            plan_reads as f64 / m as f64,
            status_reads as f64 / m as f64
        );
        m *= 10;
    }
}

/// Runs `cellar WORDS` on `config` and `state`: wall milliseconds and peak RSS in KiB.
fn run(config: &Path, state: &Path, words: &[String]) -> (f64, u64) {
    let timed = timed_cellar::run(config, state, words);
    (timed.ms, timed.rss_kib)
}
