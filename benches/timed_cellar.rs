//! The real `cellar` binary of this package run once under `/usr/bin/time -f %M`, for the
//! benches that time whole processes (`world.rs`, `memory.rs`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// A finished `cellar` process: its output, wall milliseconds and peak RSS in KiB (each
/// bench reads what it reports).
#[allow(dead_code)]
pub struct Timed {
    pub output: Output,
    pub ms: f64,
    pub rss_kib: u64,
}

/// Runs `cellar --config CONFIG --sim-state STATE WORDS`, its peak RSS written next to
/// the state file; panics with its output unless it succeeds.
pub fn run(config: &Path, state: &Path, words: &[String]) -> Timed {
    let rss_file = state.with_extension("rss");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_cellar"))
        .arg("--config")
        .arg(config)
        .arg("--sim-state")
        .arg(state)
        .args(words)
        .output()
        .expect("run /usr/bin/time cellar");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        output.status.success(),
        "cellar {} failed ({}): {}\n{}",
        words.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout).lines().take(20).collect::<Vec<_>>().join("\n")
    );
    let rss_kib = std::fs::read_to_string(&rss_file).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    Timed { output, ms, rss_kib }
}
