//! Server locks end to end: two `cellar apply` processes on one server (the first waiting
//! at its DNS gate with `--wait-dns`), the second refused naming the first; the lock a
//! `kill -9` leaves, refused to other plans, taken over by the same plan's resumption,
//! removed by `cellar unlock` (which refuses without a terminal and without `--yes`); a
//! command waiting for the simulator's state names the process holding it.

use super::*;
use std::time::{Duration, Instant};

fn journal(c: &Cellar, name: &str) -> String {
    std::fs::read_to_string(c.dir.path().join(name)).unwrap_or_default()
}

/// Two saved plans of ommegang: p.ron and q.ron (another size), made on a fresh world;
/// with `dns`, its record points at the address p.ron's apply will allocate.
fn two_plans(c: &Cellar, dns: bool) {
    c.ok(&["sim", "init"]);
    if dns {
        c.ok(&["sim", "dns", "ommegang.imarc.net", "198.51.100.2"]);
    }
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    c.ok(&["plan", "create-server@ommegang", "30", "-o", "q.ron"]);
}

/// Starts `cellar apply p.ron ARGS` paced 10× (unless ARGS pace it) and waits until its
/// journal has `marker`.
fn apply_until(c: &Cellar, args: &[&str], marker: &str) -> std::process::Child {
    let mut all = vec!["apply", "p.ron"];
    if !args.contains(&"--sim-pace") {
        all.extend(["--sim-pace", "10"]);
    }
    all.extend_from_slice(args);
    let mut command = c.command(&all);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("cellar starts");
    let start = Instant::now();
    while !journal(c, "p.journal.ron").contains(marker) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the apply ended ({status}) too early:\n{}", journal(c, "p.journal.ron"));
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no {marker} journaled in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The refusal of an apply of q.ron while `holder` holds ommegang; with `still`, the
/// holder is gone, so the state file must be left byte-identical.
/// An apply of `p.ron` killed (`kill -9`) once its instance was launched: its pid, whose
/// lock now refuses others.
fn killed_after_its_launch(c: &Cellar) -> u32 {
    let mut first = apply_until(c, &["--dns-confirmed"], "Instance(");
    let pid = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    check_refused_by(c, pid, true);
    pid
}

fn check_refused_by(c: &Cellar, holder: u32, still: bool) {
    // The killed apply's state file is repaired by the first process that opens it (its
    // content stays as the last save left it); after that, a refused apply changes no byte.
    let repaired = c.world();
    let before = std::fs::read(c.state()).unwrap();
    let r = c.run(&["apply", "q.ron"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: server ommegang is locked by another apply: "), "{}", r.stderr);
    for expected in [format!("pid {holder} on "), " since 2".into(), "apply p.ron".into()] {
        assert!(first.contains(&expected), "{expected:?} in {first}");
    }
    assert!(r.stderr.contains("fix: wait for that apply to end") && r.stderr.contains("`cellar unlock ommegang`"));
    if still {
        assert_eq!(std::fs::read(c.state()).unwrap(), before, "a refused apply leaves the state alone");
        assert!(c.world() == repaired);
    }
    assert!(!c.dir.path().join("q.journal.ron").exists(), "a refused apply journals nothing");
}

#[test]
fn a_second_apply_to_a_server_is_refused_naming_the_first() {
    let c = Cellar::new();
    two_plans(&c, false);
    // The first waits at its DNS gate (the record never points at its address), with the
    // simulator's state unlocked between lookups, holding ommegang's lock all along.
    let mut first = apply_until(&c, &["--wait-dns", "10m"], "Done(");
    check_refused_by(&c, first.id(), false);
    // Reading is never locked out.
    assert_eq!(c.status("ommegang")["health"], "incomplete", "only its address exists so far");
    c.ok(&["plan", "create-server@ommegang", "20"]);
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_killed_apply_s_lock_is_refused_to_others_taken_over_by_its_plan_or_removed() {
    let c = Cellar::new();
    two_plans(&c, true);
    let pid = killed_after_its_launch(&c);

    // unlock shows the holder, says it looks stale, and asks: no terminal, no --yes: refused.
    let r = c.run(&["unlock", "ommegang"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("ommegang is locked in us-east-1 by pid {pid} on ")), "{}", r.stdout);
    assert!(r.stdout.contains("It looks stale: its process is no longer running on this host."), "{}", r.stdout);
    assert!(r.stderr.contains("without confirmation: standard input is not a terminal"), "{}", r.stderr);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    check_refused_by(&c, pid, true);

    // The same plan, resuming its journal on this host, takes its dead predecessor's lock.
    let r = c.ok(&["apply", "p.ron", "--dns-confirmed"]);
    assert!(r.stderr.contains(&format!("Taking over the lock of ommegang left by pid {pid} on ")), "{}", r.stderr);
    assert!(r.stdout.contains("Resuming the apply journaled in p.journal.ron"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete"), "{}", r.stdout);
    assert!(c.world().locks().next().is_none(), "an apply that ends releases its locks");
    let r = c.ok(&["unlock", "ommegang"]);
    assert!(r.stdout.contains("ommegang is not locked in us-east-1: nothing to do."), "{}", r.stdout);
}

#[test]
fn unlock_yes_removes_a_killed_apply_s_lock_and_its_plan_resumes() {
    let c = Cellar::new();
    two_plans(&c, true);
    killed_after_its_launch(&c);
    let r = c.ok(&["unlock", "ommegang", "--yes"]);
    assert!(r.stdout.contains("Removed the lock of ommegang."), "{}", r.stdout);
    assert!(c.world().locks().next().is_none());
    let r = c.ok(&["apply", "p.ron", "--dns-confirmed"]);
    assert!(!r.stderr.contains("Taking over"), "{}", r.stderr);
    assert!(r.stdout.contains("Resuming the apply journaled in p.journal.ron") && r.stdout.contains("Apply complete"));
    assert_eq!(c.status("ommegang")["health"], "healthy");
}

#[test]
fn unlock_names_a_server() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    let r = c.run(&["unlock", "Not_A_Server"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Not_A_Server"), "{}", r.stderr);
}

/// A command that finds the simulator's state locked says once, after a second, who holds
/// it, and goes on when it is free.
#[test]
fn a_command_waiting_for_the_simulator_state_says_who_holds_it() {
    let c = Cellar::new();
    two_plans(&c, true);
    let first = apply_until(&c, &["--dns-confirmed", "--sim-pace", "3"], "Instance(");
    let pid = first.id();
    let r = c.ok(&["status", "ommegang"]);
    let waits: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("waiting for the simulator state")).collect();
    assert_eq!(waits.len(), 1, "{}", r.stderr);
    assert!(
        waits[0].starts_with(&format!("waiting for the simulator state, held by pid {pid}: cellar ")),
        "{}",
        waits[0]
    );
    assert!(waits[0].contains(" apply p.ron --dns-confirmed --sim-pace 3"), "{}", waits[0]);
    let output = first.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(r.stdout.contains("healthy"), "status read the world the apply left: {}", r.stdout);
}
