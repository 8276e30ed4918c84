//! Benchmark: the peak memory of a command against what its own data needs (target: ≤ 2×),
//! on a world the world bench kept (`benches/world.rs` with `CELLAR_BENCH_KEEP=1`).
//!
//! A counting global allocator (live and peak heap bytes, over the binary's mimalloc) runs
//! the command in-process through the CLI's own entry point (`cellar_cli::main_with_args`,
//! the code path of the binary), and measures the data the command must hold, each part on
//! its own:
//!
//! - every command: the configuration it loads (`ConfigTree::load`, every server's file);
//! - `status` (all): the world (every shard, as the in-memory `World`), the servers'
//!   status read from it (`status::read_many`), and the text printed (its bytes);
//! - `status ONE`: the core of the world plus that server's shard, its status, its text.
//!
//! The peak heap during the command divided by that data is the figure. The process's
//! peak RSS (`/usr/bin/time -f %M` of the real binary) is measured too: it adds the
//! program's code, the allocator's slack and the database's page cache, which the heap
//! does not count.
//!
//! Run: `CELLAR_BENCH_MEMORY_DIR=DIR cargo bench -p cellar --no-default-features --bench memory >/dev/null`
//! where DIR holds `config/` and `sim.db` (what `CELLAR_BENCH_KEEP=1` prints for a size);
//! the command's own output goes to stdout, the figures to stderr.

#[path = "timed_cellar.rs"]
mod timed_cellar;

use cellar_cli::allocator::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `cellar` binary's allocator (mimalloc), counting the bytes live and the most live at
/// once.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to mimalloc unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { MiMalloc.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live bytes now, and the peak since the last call (the peak is reset to what is live).
fn sample() -> (usize, usize) {
    let live = LIVE.load(Ordering::Relaxed);
    (live, PEAK.swap(live, Ordering::Relaxed))
}

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let Some(dir) = std::env::var_os("CELLAR_BENCH_MEMORY_DIR") else {
        eprintln!("memory bench: set CELLAR_BENCH_MEMORY_DIR to a directory the world bench kept (CELLAR_BENCH_KEEP=1); SKIPPED");
        return;
    };
    let dir = Path::new(&dir);
    let (config, state) = (dir.join("config"), dir.join("sim.db"));
    let one = "web-00000";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let asked = |names: Vec<String>| -> Vec<_> {
        names
            .into_iter()
            .map(|n| (cellar_engine::model::ServerName::new(n), cellar_engine::model::Region::new("us-east-1")))
            .collect()
    };

    // What `status` (all) must hold: the whole world, every server's status, the text.
    let quiet = |_: &str| {};
    let (world, world_bytes) = measured("the whole world", "while loading it", || {
        cellar_sim::SimStore::open_shared(&state, &quiet).expect("open the state").into_world()
    });
    let (tree, config_bytes) = measured("the configuration (every command loads it)", "while loading it", || {
        cellar_engine::config::ConfigTree::load(&config).expect("the configuration")
    });
    let names: Vec<String> = tree.server_names().iter().map(|n| n.as_str().to_string()).collect();
    let sim = cellar_sim::Sim::new(world);
    let (statuses, status_bytes) = measured("every server's status", "above the world while reading it", || {
        rt.block_on(cellar_engine::status::read_many(&sim, &asked(names))).expect("read the status")
    });
    drop((statuses, sim));
    let all = ["status".to_string()];
    let all_text = text_bytes(&config, &state, &all);
    report("status (all)", config_bytes + world_bytes + status_bytes + all_text.0, &config, &state, &all, all_text.1);
    let bare = ["status".to_string(), "--no-drift".to_string()];
    let bare_text = text_bytes(&config, &state, &bare);
    report(
        "  --no-drift",
        config_bytes + world_bytes + status_bytes + bare_text.0,
        &config,
        &state,
        &bare,
        bare_text.1,
    );

    // What `status ONE` must hold: the core, the server's shard, its status, its text.
    let before = sample().0;
    let mut store = cellar_sim::SimStore::open_lazily(&state, &quiet, true).expect("open the state");
    store.world_mut().ensure(&[cellar_sim::world::Need::Name(one.to_string())]);
    let world_bytes = sample().0 - before;
    let sim = cellar_sim::Sim::new(store.into_world());
    let before = sample().0;
    let status = rt.block_on(cellar_engine::status::read_many(&sim, &asked(vec![one.to_string()]))).expect("status");
    let status_bytes = sample().0 - before;
    drop((status, sim));
    let words = ["status".to_string(), one.to_string()];
    let one_text = text_bytes(&config, &state, &words);
    eprintln!(
        "status ONE without the configuration: {:.2} MiB (the core, the shard, the status, the text)",
        (world_bytes + status_bytes + one_text.0) as f64 / MIB
    );
    report("status ONE", config_bytes + world_bytes + status_bytes + one_text.0, &config, &state, &words, one_text.1);
}

/// What `make` returns, and the heap it holds once made; prints that and the peak above the
/// heap before, as `LABEL: X MiB, peak WHILE Y MiB`.
fn measured<T>(label: &str, while_: &str, make: impl FnOnce() -> T) -> (T, usize) {
    let before = sample().0;
    let made = make();
    let (after, peak) = sample();
    eprintln!(
        "{label}: {:.1} MiB, peak {while_} {:.1} MiB",
        (after - before) as f64 / MIB,
        (peak - before) as f64 / MIB
    );
    (made, after - before)
}

/// The bytes `cellar WORDS` prints, and the process's peak RSS in bytes.
fn text_bytes(config: &Path, state: &Path, words: &[String]) -> (usize, usize) {
    let timed = timed_cellar::run(config, state, words);
    (timed.output.stdout.len(), timed.rss_kib as usize * 1024)
}

/// Runs `cellar WORDS` in-process and prints its data, peak heap, peak RSS and the ratio.
fn report(label: &str, data: usize, config: &Path, state: &Path, words: &[String], rss: usize) {
    let mut args: Vec<std::ffi::OsString> = vec!["cellar".into(), "--config".into(), config.into()];
    args.extend(["--sim-state".into(), state.as_os_str().to_owned()]);
    args.extend(words.iter().map(Into::into));
    let before = sample().0;
    let code = cellar_cli::main_with_args(args);
    let (after, peak) = sample();
    assert_eq!(code, 0, "cellar {} failed", words.join(" "));
    let peak = peak - before;
    eprintln!(
        "{label:<14} data {:>7.1} MiB, peak heap {:>7.1} MiB (ratio {:.2}), peak RSS {:>7.1} MiB (ratio {:.2}), left live {:.1} MiB",
        data as f64 / MIB,
        peak as f64 / MIB,
        peak as f64 / data as f64,
        rss as f64 / MIB,
        rss as f64 / data as f64,
        after.saturating_sub(before) as f64 / MIB
    );
}
