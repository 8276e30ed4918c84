//! The configuration as desired state: `sync@SELECTOR` finds each kind of drift, shows it
//! as old → new with its file:line (a hook as a unified diff), makes it go away when
//! applied, and is a drift check with `--detailed-exitcode`.

use super::*;
use serde_json::json;

/// A copy of the fixtures with duvel created and synced once (its reused address gets the
/// configured tags), so the next sync has nothing to do.
fn duvel_in_sync() -> Cellar {
    let c = Cellar::with_config_copy();
    c.ok(&["apply", "create-server@duvel", "30", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "sync@duvel", "--yes"]);
    let r = c.ok(&["plan", "sync@duvel", "--detailed-exitcode"]);
    assert!(r.stdout.contains("\nNo changes.\n"), "{}", r.stdout);
    assert!(r.stdout.contains("duvel matches its configuration."), "{}", r.stdout);
    c
}

fn edit(c: &Cellar, file: &str, from: &str, to: &str) {
    let path = c.config.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Edits the configuration (file, from, to); `sync@duvel --restart --detailed-exitcode`
/// exits 2 and shows `expected` lines; applied, the server matches: exit 0, "No changes.".
fn check(c: &Cellar, (file, from, to): (&str, &str, &str), expected: &[&str]) {
    edit(c, file, from, to);
    let r = c.run(&["plan", "sync@duvel", "--restart", "--detailed-exitcode", "-o", "sync.plan.ron"]);
    assert_eq!(r.code, 2, "{from:?} → {to:?}: {}\n{}", r.stdout, r.stderr);
    for needle in expected {
        assert!(r.stdout.contains(needle), "{from:?} → {to:?}: no {needle:?} in:\n{}", r.stdout);
    }
    c.ok(&["apply", "sync.plan.ron"]);
    let r = c.run(&["plan", "sync@duvel", "--restart", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{from:?} → {to:?} still differs after the apply:\n{}", r.stdout);
    assert!(r.stdout.contains("\nNo changes.\n"), "{}", r.stdout);
}

#[test]
fn each_kind_of_drift_is_found_shown_and_synced() {
    let c = duvel_in_sync();
    let duvel = "servers/duvel.ron";
    check(
        &c,
        (duvel, r#"instance_type: "m5.large","#, r#"instance_type: "t3.large","#),
        &[
            "Differs from the configuration:\n  duvel: instance_type m5.large → t3.large (servers/duvel.ron:",
            "add a version to launch template",
            "terminate instance i-",
            "wait until duvel is healthy on a new instance",
        ],
    );
    // A spawn hook added, then changed: shown as a unified diff of the script.
    check(
        &c,
        (
            duvel,
            r#"dns_name: "duvel.imarc.net","#,
            "dns_name: \"duvel.imarc.net\",\n    spawn: r#\"apt-get update\napt-get -y upgrade openssl\n\"#,",
        ),
        &[
            "  duvel: spawn differs (servers/duvel.ron:",
            "      -(no spawn hook)\n",
            "      +apt-get -y upgrade openssl\n",
        ],
    );
    check(
        &c,
        (duvel, "upgrade openssl", "upgrade openssl libssl3"),
        &[
            "      --- launched\n      +++ configured\n",
            "      -apt-get -y upgrade openssl\n      +apt-get -y upgrade openssl libssl3\n",
        ],
    );
    // A sync without --restart changes the group only; the instance it launched with the old
    // hook is found by its launch template version and replaced by the next sync --restart.
    edit(&c, duvel, "upgrade openssl libssl3", "upgrade openssl libssl3 curl");
    c.ok(&["apply", "sync@duvel", "--yes"]);
    let r = c.run(&["plan", "sync@duvel", "--restart", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stdout.contains("  duvel: instance lt-0001 version 4 → lt-0001 version 5 (what group duvel launches)\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("terminate instance i-"), "{}", r.stdout);
    c.ok(&["apply", "sync@duvel", "--restart", "--yes"]);
    check(
        &c,
        ("platforms/debian-web.ron", r#""/var/log/apache2"]"#, r#""/var/log/apache2", "/srv"]"#),
        &["  duvel: persist [", r#""/var/log/apache2", "/srv"] (platforms/debian-web.ron:"#],
    );
    check(
        &c,
        (duvel, r#"instance_type: "t3.large","#, "instance_type: \"t3.large\",\n    metadata: (hop_limit: 2),"),
        &["  duvel: metadata.hop_limit None → 2 (servers/duvel.ron:"],
    );
    check(
        &c,
        (duvel, r#"instance_type: "t3.large","#, "instance_type: \"t3.large\",\n    root_volume_gb: 30,"),
        &["  duvel: root_volume_gb root volume 8 GiB gp3 on /dev/xvda", "→ root volume 30 GiB gp3"],
    );
    // A tag: set on every resource of the server (and on its group, for its next instances).
    check(
        &c,
        (duvel, r#""environment": "staging","#, r#""environment": "production","#),
        &[
            r#"  duvel: tags.environment on instance i-"#,
            r#" "staging" → "production" (servers/duvel.ron:"#,
            "tag auto scaling group duvel of duvel: environment=production",
            "tag launch template lt-",
        ],
    );
    let r = c.ok(&["status", "duvel", "--format", "json"]);
    assert!(r.stdout.contains(r#""health": "healthy""#), "{}", r.stdout);
    // `cellar status` says whether each server matches its configuration.
    let r = c.ok(&["status", "duvel"]);
    assert!(r.stdout.contains("\n  config    matches\n"), "{}", r.stdout);
    edit(&c, "servers/duvel.ron", r#"instance_type: "t3.large","#, r#"instance_type: "t3.xlarge","#);
    let r = c.ok(&["status", "duvel"]);
    assert!(
        r.stdout.contains("\n  config    differs: instance_type (cellar plan sync@duvel --restart)\n"),
        "{}",
        r.stdout
    );
    let report: Value = serde_json::from_str(&c.ok(&["status", "duvel", "--format", "json"]).stdout).unwrap();
    let drift = &report["servers"][0]["drift"][0];
    assert_eq!(
        (&drift["setting"], &drift["launched"], &drift["configured"]),
        (&json!("instance_type"), &json!("t3.large"), &json!("t3.xlarge"))
    );
    edit(&c, "servers/duvel.ron", r#""team": "web","#, r#""team": "ops","#);
    let r = c.ok(&["status", "duvel"]);
    assert!(
        r.stdout.contains("\n  config    differs: tags.team, instance_type (cellar plan sync@duvel --restart)\n"),
        "{}",
        r.stdout
    );
    let r = c.ok(&["status", "duvel", "--no-drift"]);
    assert!(!r.stdout.contains("config "), "{}", r.stdout);
}

/// A newer image is drift too; a server that does not exist is refused with the fix.
#[test]
fn a_newer_image_is_drift_and_a_missing_server_is_refused() {
    let c = duvel_in_sync();
    let mut store = cellar_sim::SimStore::open(&c.state()).unwrap();
    let mut world = store.world().clone();
    world.add_image("web-server-2026-12-01", Architecture::X86_64, &Region::new("us-east-1"), Tags::new());
    store.save(&world).unwrap();
    drop(store);
    let r = c.run(&["plan", "sync@duvel", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.contains("  duvel: ami_type ami-0002 (web-server-2026-08-04) → ami-"), "{}", r.stdout);
    assert!(
        r.stdout.contains(" (web-server-2026-12-01, the newest of the type) (platforms/debian-web.ron:6:15)\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("pass --restart to replace it now"), "{}", r.stdout);
    let r = c.run(&["plan", "sync@ommegang"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("ommegang has no resources in us-east-1"), "{}", r.stderr);
    assert!(r.stderr.contains("fix: create it first (create-server@ommegang <ebs-gb>)"), "{}", r.stderr);
}

/// The security-patch runbook: a platform's spawn hook changes; one fleet plan shows the
/// hook's diff for every server it reaches (not one with its own hook) and replaces their
/// instances in waves; afterwards the fleet matches; a server that does not exist is a
/// refusal in the table.
#[test]
fn a_platform_hook_change_rolls_through_the_fleet() {
    let c = Cellar::with_config_copy();
    for (server, gb) in [("duvel", "30"), ("ommegang", "20")] {
        c.ok(&["apply", &format!("create-server@{server}"), gb, "--yes", "--dns-confirmed"]);
    }
    c.ok(&["apply", "sync@duvel,ommegang", "--yes"]);
    edit(
        &c,
        "platforms/debian-web.ron",
        r#"ami_type: "web-server","#,
        "ami_type: \"web-server\",\n    spawn: r#\"apt-get -y upgrade openssl\n\"#,",
    );
    let r = c.run(&[
        "plan",
        "sync@all",
        "--restart",
        "--max-unavailable",
        "50%",
        "--detailed-exitcode",
        "-o",
        "patch.plan",
    ]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for needle in [
        "\n  duvel         3  yes       \n",
        // ommegang's own hook overrides the platform's: it matches.
        "\n  ommegang      0  no        \n",
        "\n  1 to change, 1 without changes, 3 refused.\n",
        "\n  refused kwak: kwak has no resources in us-east-1",
        "  duvel: spawn differs (platforms/debian-web.ron:",
        "      -(no spawn hook)\n      +apt-get -y upgrade openssl\n",
    ] {
        assert!(r.stdout.contains(needle), "no {needle:?} in:\n{}", r.stdout);
    }
    let r = c.ok(&["apply", "patch.plan"]);
    assert!(r.stdout.contains("Apply complete: done 3, failed 0"), "{}", r.stdout);
    let r = c.run(&["plan", "sync@duvel,ommegang", "--restart", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("duvel matches its configuration.") && r.stdout.contains("ommegang matches"),
        "{}",
        r.stdout
    );
}

/// A fleet apply killed (`kill -9`) in its first wave resumes from its journal: the first
/// server's replacement is not made twice, the second wave runs, both end on the new type.
#[test]
fn a_half_done_fleet_apply_resumes_per_server() {
    let c = Cellar::with_config_copy();
    for (server, gb) in [("duvel", "30"), ("ommegang", "20")] {
        c.ok(&["apply", &format!("create-server@{server}"), gb, "--yes", "--dns-confirmed"]);
    }
    c.ok(&["apply", "sync@duvel,ommegang", "--yes"]);
    edit(&c, "platforms/debian-web.ron", r#"instance_type: "t3.medium","#, r#"instance_type: "t3.large","#);
    edit(&c, "servers/duvel.ron", r#"instance_type: "m5.large","#, r#"instance_type: "t3.large","#);
    c.ok(&["plan", "sync@duvel,ommegang", "--restart", "-o", "p.ron"]);
    let journal = c.dir.path().join("p.journal.ron");
    let mut command = c.command(&["apply", "p.ron", "--sim-pace", "10"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("cellar starts");
    let start = std::time::Instant::now();
    // duvel's steps are #1-#3 (version, terminate, wait; its group launches the template's
    // latest version): killed once its old instance is terminated, while the first wave
    // waits for the replacement.
    while !std::fs::read_to_string(&journal).unwrap_or_default().contains("Done( step: 2,") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the apply ended ({status}) before it was killed");
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "duvel's terminate not journaled in 30 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let r = c.ok(&["apply", "p.ron"]);
    assert!(r.stdout.contains("Resuming the apply journaled in p.journal.ron"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete: done 6, failed 0"), "{}", r.stdout);
    for server in ["duvel", "ommegang"] {
        let status = c.status(server);
        assert_eq!(
            (&status["health"], &status["instance"]["type"]),
            (&json!("healthy"), &json!("t3.large")),
            "{server}"
        );
        let instances = c.tagged(server).iter().filter(|t| t.starts_with("instance ")).count();
        assert_eq!(instances, 1, "{server}: {:?}", c.tagged(server));
    }
    let r = c.run(&["plan", "sync@duvel,ommegang", "--restart", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}
