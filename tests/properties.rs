//! Property tests: random sequences of seed commands across several servers and
//! workspaces, interleaved with world changes (Amazon terminations, capacity going to 0 and
//! back, virtual time passing, newer images), all under every fault the simulator injects
//! (AWS token-bucket throttling, transient 5xx, random terminations, new instances
//! invisible for a while, latency, lost responses: a create or tag call that takes effect
//! and then fails). `tests/support/scenario/` runs them.
//!
//! # The invariants
//!
//! After every command (planned through the faults, then applied):
//!
//! 1. **The model agrees.** A small model of each server or workspace, read from the world
//!    itself (exists / has a group and its desired count / has a data volume / the volume is
//!    held by a live instance / has a running instance / today's image exists), says whether
//!    the command must plan or be refused and for which reason; the planner must do exactly
//!    that (e.g. create-server of a server that does not exist plans, stop-auto-scaling of a
//!    server with no group is refused with "no group"). A plan whose reads failed under
//!    injected faults is counted apart, not as a refusal; a server that changed while it was
//!    being planned (time passes under latency) is counted as unjudged.
//! 2. **Plan honesty.** Every step of an applied plan has exactly one outcome, and no other
//!    outcome is reported.
//! 3. **No data loss.** A server's volume disappears only through `destroy-server
//!    --delete-data` or `restore-server --delete-old` of its own server, and only after a
//!    snapshot of it exists.
//! 4. **One data volume, one address.** No server ever has two data volumes (those a
//!    restore replaced or is restoring are not data volumes) or two Elastic IPs (a
//!    CreateVolume or AllocateAddress whose response was lost is not made twice), and no
//!    command snapshots a volume twice.
//! 5. **Backups keep their promises** (`scenario/runner/backups.rs`; the scenarios' servers
//!    keep one day of backups, so that days passing under cron, `!cron N`, make prune delete):
//!    a restore returns each data volume to the generation of the newest completed backup at
//!    or before `--at` (or, moving with `--at now`, to the generation the volume had when the
//!    server stopped, which its fresh snapshot holds), plus at most what the new instance wrote
//!    since; a failed restore leaves the server as it was (the same data volumes, none marked
//!    replaced, the group in its zone); a prune keeps each volume's backup standing for each of
//!    the days retention promises (and so its newest), and leaves nothing retention would delete.
//! 6. **No leaks.** A failed apply leaves nothing it created (volumes, addresses, launch
//!    templates and configurations, groups, instances outside a group), except what its
//!    report lists as failed compensations; and a failed apply names a failed step.
//! 7. **Idempotence.** After a successful apply, the same command planned again on the
//!    world exactly as the apply left it (a quiet copy: no faults, no clock movement, so no
//!    Amazon termination can happen in between) is empty or refused for the reason the model
//!    gives; a failed read there is a violation. create-workspace, a manual backup and
//!    restore-server are exempt (planning them again plans the next workspace, backup or
//!    restore).
//!
//! At the end of the sequence:
//!
//! 8. **Convergence.** With capacity back and faults off, after 30 virtual minutes every
//!    server whose group wants an instance is healthy (this is where Amazon's terminations
//!    are checked: the group replaces the instance and the agent re-attaches).
//! 9. **No duplicates.** No server or workspace has two live instances (a retried
//!    RunInstances never launches twice).
//!
//! With crashes: a `!crash K before|after` step kills the next apply at its K-th mutating
//! call, before the call is sent or after it took effect with its response lost, as
//! `kill -9` would (`scenario/crash.rs`: every later call of that apply never returns, and the
//! apply future is dropped; its instances keep booting and their agents run). The apply is
//! then resumed as `cellar apply PLAN` resumes it: the journal kept so far read back
//! (`Resume::from_records`), the resumed stale check (`resumed_staleness`; a resume it refuses,
//! because someone else changed the world meanwhile, is counted and not applied), and
//! `apply_journaled`. Invariants 2-7 are checked on the resumed apply against the world
//! before the killed one (nothing leaked, nothing created twice, no data lost), and 8-9 at
//! the end. The crash point is a step of the sequence, so it shrinks and replays like any other.
//!
//! And across runs:
//!
//! 10. **Determinism.** The same seed and sequence give the same trace, byte for byte.
//! 11. **Coverage.** Over a whole run of the property test (at least 100 cases), every kind
//!     of command was planned and applied at least once, and some apply was killed and
//!     resumed; the counts per kind are printed.
//!
//! Proptest generates the sequence itself (`scenario::op_strategy`), so a failure shrinks
//! to the shortest sequence of the simplest steps that still fails; it is printed with the
//! line that replays it: `CELLAR_SEED=<seed> CELLAR_OPS='<steps>' cargo test -p cellar
//! --test properties replay`. `CELLAR_SEED=<seed> [CELLAR_LEN=<len>]` alone replays the
//! seeded generator's sequence (what the benchmark runs). Minimal failing cases are kept in
//! `tests/properties.proptest-regressions` and replayed first.
//!
//! `CELLAR_PROPTEST_CASES=N` sets the number of cases (default 1,000: about 4 s in a debug build).
//! The 100,000-case run with crashes (BENCHMARKS.md), optimised as the benchmark is:
//! `CELLAR_PROPTEST_CASES=100000 cargo test --profile bench -p cellar --no-default-features
//! --test properties invariants_hold_under_faults`.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestError, TestRunner};
use std::io::Write;
use std::sync::Mutex;
use support::scenario::{self, Tally};

const SERVERS: usize = 4;

/// Below this many cases the coverage invariant is not asserted (a few cases cannot be
/// expected to apply every kind of command).
const COVERAGE_CASES: u32 = 100;

fn cases() -> u32 {
    std::env::var("CELLAR_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// Prints to the terminal even when the test harness captures output.
fn show(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[test]
fn invariants_hold_under_faults() {
    let (_dir, tree) = scenario::config(SERVERS);
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("../tests/properties.proptest-regressions"))),
        ..ProptestConfig::default()
    };
    let total = Mutex::new(Tally::default());
    // The seed drives the world's faults; it is kept while the steps shrink.
    let strategy = (any::<u64>().no_shrink(), prop::collection::vec(scenario::op_strategy(SERVERS), 1..40));
    let result =
        TestRunner::new(config).run(&strategy, |(seed, ops)| match scenario::run(seed, &tree, SERVERS, &ops) {
            Ok(run) => {
                total.lock().unwrap().add(&run.tally);
                Ok(())
            }
            Err(violation) => Err(TestCaseError::fail(violation)),
        });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (seed, ops))) => {
            // The minimal case again, for its own violation and replay line.
            let violation = scenario::run(seed, &tree, SERVERS, &ops).err().unwrap_or(why.to_string());
            panic!(
                "minimal failing sequence ({} steps, seed {seed}):\n{}\n{violation}",
                ops.len(),
                ops.iter().map(|op| format!("  {op}\n")).collect::<String>(),
            )
        }
        Err(TestError::Abort(why)) => panic!("proptest aborted: {why}"),
    }
    let total = total.into_inner().unwrap();
    let (crashed, resumed) = total.crashes();
    show(&format!(
        "property scenarios: {} cases, {crashed} applies killed mid-way, {resumed} of them resumed, per kind of command:\n{}",
        cases(),
        total.render()
    ));
    if cases() < COVERAGE_CASES {
        show(&format!("(coverage not asserted: fewer than {COVERAGE_CASES} cases)\n"));
        return;
    }
    let missing: Vec<&str> = scenario::KINDS
        .iter()
        .copied()
        .filter(|kind| {
            let c = total.kind(kind);
            c.planned == 0 || c.applied == 0
        })
        .collect();
    assert!(missing.is_empty(), "never planned and applied: {missing:?}\n{}", total.render());
    assert!(resumed > 0, "no apply was killed and resumed ({crashed} killed)\n{}", total.render());
}

/// `CELLAR_SEED=<seed> CELLAR_OPS='<steps>'` reruns a printed sequence;
/// `CELLAR_SEED=<seed> [CELLAR_LEN=<len>]` reruns the seeded generator's sequence. Without
/// `CELLAR_SEED` it replays the compensation case kept in the regressions file: a launch
/// in a full zone fails and everything the apply created is removed again.
#[test]
fn replay() {
    let seed: Option<u64> = std::env::var("CELLAR_SEED").ok().map(|v| v.parse().expect("CELLAR_SEED is a u64"));
    let (seed, ops) = match (seed, std::env::var("CELLAR_OPS")) {
        (Some(seed), Ok(text)) => (seed, scenario::parse_ops(&text).unwrap_or_else(|e| panic!("CELLAR_OPS: {e}"))),
        (Some(seed), Err(_)) => {
            let len = std::env::var("CELLAR_LEN").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
            show(&format!("scenario CELLAR_SEED={seed} CELLAR_LEN={len}\n"));
            (seed, scenario::generate(seed, SERVERS, len))
        }
        (None, _) => {
            let ops = scenario::parse_ops("!capacity us-east-1a t3.medium 0; create-server@s00 1").unwrap();
            let (_dir, tree) = scenario::config(SERVERS);
            let run = scenario::run(3_721_136_554_096_257_023, &tree, SERVERS, &ops).unwrap_or_else(|v| panic!("{v}"));
            let c = run.tally.kind("create-server");
            assert_eq!((c.planned, c.applied, c.failed), (1, 0, 1), "{}", run.tally.render());
            return;
        }
    };
    show(&format!("steps: {}\n", scenario::render_ops(&ops)));
    let (_dir, tree) = scenario::config(SERVERS);
    match scenario::run(seed, &tree, SERVERS, &ops) {
        Ok(run) => show(&run.tally.render()),
        Err(violation) => panic!("{violation}"),
    }
}

/// The minimal cases the crashes found, each a bug fixed since: every one must now be
/// killed, resumed (not refused as stale) and keep the invariants.
#[test]
fn crashes_found_resume() {
    let cases = [
        // The resumed apply used new tokens: the snapshot the killed apply made under its
        // token was not found, and the volume was snapshotted twice.
        (1, "create-server@s00 1; stop-auto-scaling@s00; !crash 2 after; destroy-server@s00 --delete-data"),
        // The instance the killed apply launched was not visible yet: the resume is refused
        // as stale once, and goes on when run again 10 s later.
        (23_994_859_326_343_949, "!crash 5 before; stop-auto-scaling@s00; create-server@s03 1; attach-instance@s03"),
        // Stale by its own changes: the terminated instance's volume detached and address
        // disassociated by AWS.
        (1, "create-server@s00 1; !crash 1 after; stop-auto-scaling@s00"),
        (1, "create-server@s00 1; !crash 1 after; destroy-server@s00"),
        // Killed while undoing a failed launch (no capacity): stale by what the undo removed.
        (1, "!capacity us-east-1a t3.medium 0; !crash 10 after; create-server@s00 1"),
    ];
    let (_dir, tree) = scenario::config(SERVERS);
    for (seed, text) in cases {
        let ops = scenario::parse_ops(text).unwrap();
        let run = scenario::run(seed, &tree, SERVERS, &ops).unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(run.tally.crashes(), (1, 1), "{text}: (killed, resumed)\n{}", run.tally.render());
    }
}

#[test]
fn same_seed_same_trace() {
    let (_dir, tree) = scenario::config(SERVERS);
    for seed in [1u64, 42, 7_777] {
        let ops = scenario::generate(seed, SERVERS, 30);
        assert_eq!(ops, scenario::generate(seed, SERVERS, 30), "seed {seed}: the generator is not deterministic");
        let a = scenario::run_traced(seed, &tree, SERVERS, &ops).unwrap_or_else(|v| panic!("{v}"));
        let b = scenario::run_traced(seed, &tree, SERVERS, &ops).unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(a.trace, b.trace, "seed {seed}: two runs differ");
        assert_eq!(a.tally, b.tally, "seed {seed}: two runs counted differently");
        assert!(a.applies > 0, "seed {seed} applied nothing");
        let other = scenario::generate(seed + 1, SERVERS, 30);
        let c = scenario::run_traced(seed + 1, &tree, SERVERS, &other).unwrap_or_else(|v| panic!("{v}"));
        assert_ne!(a.trace, c.trace, "seeds {seed} and {} gave the same trace", seed + 1);
    }
}

/// The printed form of a sequence reads back as the same sequence (so a printed failure replays).
#[test]
fn printed_steps_read_back() {
    for seed in 0..50 {
        let ops = scenario::generate(seed, SERVERS, 39);
        let text = scenario::render_ops(&ops);
        assert_eq!(scenario::parse_ops(&text), Ok(ops), "{text}");
    }
    let check = |text: &str, expected: Result<usize, &str>| {
        assert_eq!(
            scenario::parse_ops(text).map(|ops| ops.len()).map_err(|e| e.to_string()),
            expected.map_err(String::from),
            "{text}"
        );
    };
    check(
        "create-server@s01 20; stop-auto-scaling@s01 --keep-group; !terminate s00; !capacity us-east-1b t3.medium 0; !advance 60; !new-image; bundle-ami@workspace-2",
        Ok(7),
    );
    check("!crash 3 before; !crash 12 after", Ok(2));
    check("!crash 0 before", Err("cannot read the scenario step \"!crash 0 before\""));
    check("!crash 3 during", Err("cannot read the scenario step \"!crash 3 during\""));
    check("attach-instance@s01 --restart", Err("cannot read the scenario step \"attach-instance@s01 --restart\""));
    check("!advance soon", Err("cannot read the scenario step \"!advance soon\""));
}
