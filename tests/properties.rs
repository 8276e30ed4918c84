//! Property tests: random sequences of commands across several servers, interleaved with
//! random faults (throttling, transient errors, terminations, invisibility, latency,
//! capacity shortages), checking DESIGN.md's invariants after every step: no data loss, no
//! leaks, convergence, idempotence, plan honesty — and determinism (same seed, same trace).
//!
//! `CELLAR_PROPTEST_CASES=N` sets the number of cases (default 256, a few seconds in CI).
//! A failure prints `CELLAR_SEED=<seed> CELLAR_LEN=<len>`; set those to
//! replay exactly that scenario. Minimal failing cases proptest finds are kept in
//! `tests/properties.proptest-regressions` and replayed first.

mod support;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use support::scenario;

const SERVERS: usize = 4;

fn cases() -> u32 {
    std::env::var("CELLAR_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn check(seed: u64, len: usize) {
    let (_dir, tree) = scenario::config(SERVERS);
    let ops = scenario::generate(seed, SERVERS, len);
    eprintln!("scenario CELLAR_SEED={seed} CELLAR_LEN={len}");
    scenario::run(seed, &tree, SERVERS, &ops);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("../tests/properties.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_under_faults(seed in any::<u64>(), len in 1usize..40) {
        check(seed, len);
    }
}

/// `CELLAR_SEED=<seed> [CELLAR_LEN=<len>] cargo test --test properties replay` reruns one scenario.
#[test]
fn replay() {
    let Some(seed) = std::env::var("CELLAR_SEED").ok().and_then(|v| v.parse().ok()) else {
        return;
    };
    let len = std::env::var("CELLAR_LEN").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    check(seed, len);
}

#[test]
fn same_seed_same_trace() {
    let (_dir, tree) = scenario::config(SERVERS);
    for seed in [1u64, 42, 7_777] {
        let ops = scenario::generate(seed, SERVERS, 30);
        let a = scenario::run_traced(seed, &tree, SERVERS, &ops);
        let b = scenario::run_traced(seed, &tree, SERVERS, &ops);
        assert_eq!(a.trace, b.trace, "seed {seed}: two runs differ");
        assert!(a.applies > 0, "seed {seed} applied nothing");
        let c = scenario::run_traced(seed + 1, &tree, SERVERS, &scenario::generate(seed + 1, SERVERS, 30));
        assert_ne!(a.trace, c.trace, "seeds {seed} and {} gave the same trace", seed + 1);
    }
}
