//! The apply journal end to end: a real `kill -9` and a real SIGINT of a running `cellar
//! apply` on a paced simulator, then `cellar apply PLAN` resumes it to the end with exactly
//! one of each resource; a saved plan stopped at its DNS gate goes on once the record
//! points at the address; an interrupted compensation is finished; a corrupt journal is
//! refused with its name.

use super::*;
use std::time::{Duration, Instant};

/// Exactly what a healthy create-server leaves, one of each.
const ONE_OF_EACH: [&str; 5] = ["instance", "volume", "address", "template", "group"];

fn kinds(c: &Cellar, server: &str) -> Vec<String> {
    let mut kinds: Vec<String> =
        c.tagged(server).iter().map(|t| t.split(' ').next().unwrap_or_default().to_string()).collect();
    kinds.sort();
    kinds
}

fn one_of_each() -> Vec<String> {
    let mut kinds: Vec<String> = ONE_OF_EACH.iter().map(|k| k.to_string()).collect();
    kinds.sort();
    kinds
}

fn journal(c: &Cellar, name: &str) -> String {
    std::fs::read_to_string(c.dir.path().join(name)).unwrap_or_default()
}

/// A saved create-server plan of ommegang whose DNS record already points at the address
/// the apply will allocate (the next one, 198.51.100.2), so no gate stops it.
fn ommegang_plan(c: &Cellar) {
    c.ok(&["sim", "init"]);
    c.ok(&["sim", "dns", "ommegang.imarc.net", "198.51.100.2"]);
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
}

/// Starts `cellar apply p.ron` on a simulator paced 10× and waits until its journal says
/// the instance was launched; the apply is then in the middle of its attach and associate
/// waits (tens of virtual seconds, seconds of real time).
fn apply_until_launched(c: &Cellar) -> std::process::Child {
    let mut command = c.command(&["apply", "p.ron", "--dns-confirmed", "--sim-pace", "10"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("cellar starts");
    let start = Instant::now();
    while !journal(c, "p.journal.ron").contains("Instance(") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the apply ended ({status}) before it was interrupted:\n{}", journal(c, "p.journal.ron"));
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no launch journaled in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Resumes p.ron to the end and checks the result: one of each, healthy, journal ended.
fn resume_to_the_end(c: &Cellar) -> Run {
    let r = c.ok(&["apply", "p.ron", "--dns-confirmed"]);
    assert!(r.stdout.contains("Resuming the apply journaled in p.journal.ron"), "{}", r.stdout);
    assert!(r.stdout.contains("(from the journal)"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete"), "{}", r.stdout);
    assert_eq!(kinds(c, "ommegang"), one_of_each());
    assert_eq!(c.status("ommegang")["health"], "healthy");
    assert!(journal(c, "p.journal.ron").contains("how: Succeeded"), "{}", journal(c, "p.journal.ron"));
    r
}

#[test]
fn kill_9_mid_apply_then_apply_resumes_with_one_of_each() {
    let c = Cellar::new();
    ommegang_plan(&c);
    let mut child = apply_until_launched(&c);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // The simulated world kept what the apply did before it was killed, as AWS would.
    let kept = kinds(&c, "ommegang");
    assert!(kept.contains(&"instance".to_string()) && kept.contains(&"address".to_string()), "{kept:?}");
    assert!(!journal(&c, "p.journal.ron").contains("Ended("), "{}", journal(&c, "p.journal.ron"));
    resume_to_the_end(&c);
    // Applied to the end: the same plan is not applied twice.
    let again = c.run(&["apply", "p.ron"]);
    assert_eq!(again.code, 1, "{}{}", again.stdout, again.stderr);
    assert!(again.stderr.contains("the plan in p.ron was applied already (succeeded"), "{}", again.stderr);
    assert!(again.stderr.contains("fix: make a new plan"), "{}", again.stderr);
}

#[test]
fn ctrl_c_lets_running_steps_finish_then_apply_resumes() {
    let c = Cellar::new();
    ommegang_plan(&c);
    let child = apply_until_launched(&c);
    let sent = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(130), "{stdout}{stderr}");
    assert!(stdout.contains("Interrupted: no new step starts"), "{stdout}");
    assert!(stderr.contains("resume with `cellar apply p.ron`"), "{stderr}");
    let written = journal(&c, "p.journal.ron");
    assert!(written.contains("how: Cancelled"), "{written}");
    // Every step started was finished and journaled before the exit.
    let started = written.matches("Started(").count();
    let finished = written.matches("Done(").count() + written.matches("Failed(").count();
    assert_eq!(started, finished, "{written}");
    resume_to_the_end(&c);
}

#[test]
fn a_saved_plan_stopped_at_the_gate_goes_on_once_the_record_points_at_it() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    let r = c.run(&["apply", "p.ron"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Update the record, then run `cellar apply p.ron` again"), "{}", r.stdout);
    // Again before the record is updated: the same stop, nothing more created.
    let r = c.run(&["apply", "p.ron"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("does not point at 198.51.100.2"), "{}", r.stdout);
    assert_eq!(kinds(&c, "ommegang"), ["address"]);
    c.ok(&["sim", "dns", "ommegang.imarc.net", "198.51.100.2"]);
    let r = c.ok(&["apply", "p.ron"]);
    assert!(r.stdout.contains("#1 done: 198.51.100.2 (eipalloc-0002) (from the journal)"), "{}", r.stdout);
    assert_eq!(kinds(&c, "ommegang"), one_of_each());
    assert_eq!(c.status("ommegang")["health"], "healthy");
    // `cellar show` prints the plan and its journal, or the journal alone.
    let shown = c.ok(&["show", "p.ron"]).stdout;
    assert!(shown.contains("Apply journal (p.journal.ron):") && shown.contains("how: Succeeded"), "{shown}");
    let records = c.ok(&["show", "p.journal.ron"]).stdout;
    assert_eq!(records.matches("Blocked(").count(), 2, "{records}");
    assert!(records.starts_with("(\n    plan: \"p.ron\""), "{records}");
}

#[test]
fn a_resumed_apply_finishes_an_interrupted_compensation() {
    let c = Cellar::new();
    ommegang_plan(&c);
    let mut child = apply_until_launched(&c);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // As if step #8 (the group, which cannot have started yet) had failed and the process
    // had died before undoing anything.
    let path = c.dir.path().join("p.journal.ron");
    let mut written = journal(&c, "p.journal.ron");
    assert!(written.ends_with('\n'), "{written}");
    written.push_str("Failed(step: 8, error: \"CreateAutoScalingGroup failed: injected\")\n");
    std::fs::write(&path, written).unwrap();
    let r = c.run(&["apply", "p.ron"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("failed before the apply was resumed: CreateAutoScalingGroup failed: injected"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("undone 4"), "{}", r.stdout);
    assert_eq!(kinds(&c, "ommegang"), Vec::<String>::new());
    assert!(journal(&c, "p.journal.ron").contains("how: Failed"));
    let again = c.run(&["apply", "p.ron"]);
    assert!(again.stderr.contains("failed, and its changes were undone"), "{}", again.stderr);
}

#[test]
fn a_corrupt_journal_is_refused_with_its_name_and_the_world_is_untouched() {
    let c = Cellar::new();
    ommegang_plan(&c);
    std::fs::write(c.dir.path().join("p.journal.ron"), "(plan: \"p.ron\", records: [Done(step: 1,").unwrap();
    let before = std::fs::read(c.state()).unwrap();
    for args in [&["apply", "p.ron"][..], &["show", "p.ron"], &["show", "p.journal.ron"]] {
        let r = c.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("the apply journal p.journal.ron is not valid (line 1"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("fix:"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(c.state()).unwrap(), before);
}

#[test]
fn apply_of_a_command_journals_it_under_the_state_directory() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let mut names: Vec<String> = std::fs::read_dir(c.dir.path().join("journals"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("duvel-") && names[0].ends_with(".plan.journal.ron"), "{names:?}");
    assert!(names[1].ends_with(".plan.ron"), "{names:?}");
    let shown = c.ok(&["show", &format!("journals/{}", names[0])]).stdout;
    assert!(shown.contains("how: Succeeded"), "{shown}");
}

/// `script` (util-linux) gives the apply a terminal, so it asks at the DNS gate.
fn script_available() -> bool {
    let found = Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "`script` (util-linux) is needed for the prompt tests");
        eprintln!("SKIPPED: `script` (util-linux) is not installed");
    }
    found
}

#[test]
fn while_the_apply_asks_at_the_dns_gate_other_commands_run() {
    use std::io::Write;
    if !script_available() {
        return;
    }
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    let apply = c.command(&["apply", "p.ron"]);
    let line: Vec<String> = std::iter::once(apply.get_program())
        .chain(apply.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let out = c.dir.path().join("apply.out");
    let mut child = Command::new("script")
        .current_dir(c.dir.path())
        .args(["-qfec", &line.join(" ")])
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&out).unwrap_or_default().contains("Type 'yes'") {
        assert!(start.elapsed() < Duration::from_secs(30), "no prompt: {}", std::fs::read_to_string(&out).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The prompt asks for `cellar sim dns`: it must not wait for the apply's lock.
    let (sender, receiver) = std::sync::mpsc::channel();
    let dns = c.command(&["sim", "dns", "ommegang.imarc.net", "198.51.100.2"]);
    std::thread::spawn(move || sender.send(run_command(dns).code).unwrap());
    assert_eq!(receiver.recv_timeout(Duration::from_secs(20)), Ok(0), "sim dns waited for the apply's lock");
    child.stdin.as_mut().unwrap().write_all(b"yes\n").unwrap();
    assert!(child.wait().unwrap().success(), "{}", std::fs::read_to_string(&out).unwrap());
    assert!(std::fs::read_to_string(&out).unwrap().contains("Apply complete"));
    assert_eq!(kinds(&c, "ommegang"), one_of_each());
    // The apply went on in the world `sim dns` changed: saved at its end, the record is there.
    assert!(c.ok(&["sim", "show"]).stdout.contains("ommegang.imarc.net -> 198.51.100.2"));
}

#[test]
fn wait_dns_goes_on_once_the_record_points_at_the_address() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    let out = c.dir.path().join("apply.out");
    let mut command = c.command(&["apply", "p.ron", "--wait-dns", "2m"]);
    command.stdout(std::fs::File::create(&out).unwrap()).stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&out).unwrap_or_default().contains("waiting up to 2m for ommegang.imarc.net") {
        assert!(start.elapsed() < Duration::from_secs(30), "no wait: {}", std::fs::read_to_string(&out).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The simulator's state is not held while the gate waits.
    c.ok(&["sim", "dns", "ommegang.imarc.net", "198.51.100.2"]);
    let output = child.wait_with_output().unwrap();
    let stdout = std::fs::read_to_string(&out).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Apply complete"), "{stdout}");
    assert_eq!(kinds(&c, "ommegang"), one_of_each());
}

#[test]
fn wait_dns_takes_a_duration() {
    let c = Cellar::new();
    let r = c.run(&["apply", "p.ron", "--wait-dns", "soon"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--wait-dns"), "{}", r.stderr);
}

#[test]
fn ctrl_c_twice_stops_at_once_and_the_journal_still_resumes() {
    let c = Cellar::new();
    ommegang_plan(&c);
    let out = c.dir.path().join("apply.out");
    let mut command = c.command(&["apply", "p.ron", "--dns-confirmed", "--sim-pace", "10"]);
    command.stdout(std::fs::File::create(&out).unwrap()).stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let start = Instant::now();
    let interrupt =
        || assert!(Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap().success());
    while !journal(&c, "p.journal.ron").contains("Instance(") {
        assert!(start.elapsed() < Duration::from_secs(30), "no launch journaled in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt();
    while !std::fs::read_to_string(&out).unwrap().contains("Ctrl-C again stops at once") {
        assert!(start.elapsed() < Duration::from_secs(30), "no interruption said");
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Stopped at once; the journal says what was done: resume with `cellar apply p.ron`"),
        "{stderr}"
    );
    assert!(!journal(&c, "p.journal.ron").contains("Ended("));
    resume_to_the_end(&c);
}

/// The simulator keeps every call that returned, as AWS would: an apply killed while it
/// waits for the volume it just created (one step at a time, so no other step's record
/// saved the world since the volume's `Started`) leaves the volume in the state file, and
/// the resumed apply takes it instead of making a second one.
#[test]
fn kill_9_right_after_a_create_returned_leaves_what_it_created() {
    let c = Cellar::new();
    ommegang_plan(&c);
    let args = ["apply", "p.ron", "--dns-confirmed", "--sim-pace", "2", "--parallelism", "1"];
    let mut command = c.command(&args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("cellar starts");
    let start = Instant::now();
    // Step 3 creates the volume, then waits 5 virtual seconds (2.5 s here) for it.
    while !journal(&c, "p.journal.ron").contains("step: 3,") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the apply ended ({status}) too early:\n{}", journal(&c, "p.journal.ron"));
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the volume's step never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let written = journal(&c, "p.journal.ron");
    assert!(!written.contains("Volume("), "killed before the volume's step was done:\n{written}");
    let volumes: Vec<String> = c.tagged("ommegang").into_iter().filter(|t| t.starts_with("volume ")).collect();
    assert_eq!(volumes.len(), 1, "the created volume is in the state file: {:?}", c.tagged("ommegang"));
    resume_to_the_end(&c);
}
