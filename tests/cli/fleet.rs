//! Fleets: selectors (`web-*`, `all`, `platform=NAME`, `tag:KEY=VALUE`, lists) on the
//! commands that take them.

use super::*;

/// (selector, the servers `cellar status SELECTOR --format json` reports, in order)
#[test]
fn status_takes_a_selector() {
    let c = Cellar::new();
    for (selector, expected) in [
        ("o*,duvel", &["duvel", "ommegang"][..]),
        ("all", &["achel", "chimay", "duvel", "kwak", "ommegang"]),
        ("platform=debian-web", &["achel", "chimay", "duvel", "kwak", "ommegang"]),
        ("tag:team=web", &["duvel", "ommegang"]),
        ("?hima?", &["chimay"]),
    ] {
        let r = c.ok(&["status", selector, "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let names: Vec<&str> =
            report["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{selector}");
        assert_eq!(report["workspaces"], serde_json::json!([]), "{selector}");
    }
    let r = c.run(&["status", "nope-*"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("selector nope-* selects no server (known: achel, chimay, duvel, kwak, ommegang)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: write a name, a comma list"), "{}", r.stderr);
}

/// duvel and ommegang created (auto-scaling), the others not.
fn two_servers_up() -> Cellar {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    c
}

/// One plan for the fleet: a summary table, refusals that do not stop the others, the
/// steps grouped by server; the saved plan applies (journaled) and stops both.
#[test]
fn a_fleet_plan_lists_refusals_and_applies_the_rest() {
    let c = two_servers_up();
    let r = c.ok(&["plan", "stop-auto-scaling@all", "-o", "fleet.plan.ron"]);
    for needle in [
        "Plan for `stop-auto-scaling@all` in us-east-1:\n\n5 servers selected by all:\n",
        "\n  server    steps  restarts  refused\n  achel         0  no        achel has no auto scaling group in us-east-1",
        "\n  duvel         4  yes       \n",
        "\n  2 to change, 0 without changes, 3 refused.\n",
        "\n  refused kwak: kwak has no auto scaling group in us-east-1, so there is no auto scaling to stop\n      fix: ",
        "\nduvel:\n\n  ~ #1   update auto scaling group duvel: min 0, desired 0\n",
        "\nommegang:\n\n  ~ #5   update auto scaling group ommegang: min 0, desired 0\n",
    ] {
        assert!(r.stdout.contains(needle), "no {needle:?} in:\n{}", r.stdout);
    }
    let r = c.ok(&["apply", "fleet.plan.ron"]);
    assert!(r.stdout.contains("Apply complete: done 8, failed 0"), "{}", r.stdout);
    assert!(c.dir.path().join("fleet.plan.journal.ron").exists());
    let status: serde_json::Value =
        serde_json::from_str(&c.ok(&["status", "duvel,ommegang", "--format", "json"]).stdout).unwrap();
    let health: Vec<&str> =
        status["servers"].as_array().unwrap().iter().map(|s| s["health"].as_str().unwrap()).collect();
    assert_eq!(health, ["stopped", "stopped"]);
}

#[test]
fn strict_refuses_a_fleet_plan_with_any_refusal_and_nothing_is_changed() {
    let c = two_servers_up();
    let before = std::fs::read(c.state()).unwrap();
    for args in
        [&["plan", "stop-auto-scaling@all", "--strict"][..], &["apply", "stop-auto-scaling@all", "--strict", "--yes"]]
    {
        let r = c.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(
                "--strict: stop-auto-scaling@all refuses 3 of 5 servers:\n  achel: achel has no auto scaling group"
            ),
            "{}",
            r.stderr
        );
    }
    assert_eq!(std::fs::read(c.state()).unwrap(), before, "nothing changed");
    let r = c.ok(&["plan", "stop-auto-scaling@duvel,ommegang", "--strict"]);
    assert!(r.stdout.contains("2 to change, 0 without changes, 0 refused."), "{}", r.stdout);
}

/// The stale check of a saved fleet plan reads every server again.
#[test]
fn a_saved_fleet_plan_is_stale_when_any_of_its_servers_changed() {
    let c = two_servers_up();
    c.ok(&["plan", "stop-auto-scaling@duvel,ommegang", "-o", "fleet.plan.ron"]);
    c.ok(&["sim", "terminate", "ommegang"]);
    let r = c.run(&["apply", "fleet.plan.ron"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("is stale") && r.stderr.contains("running → shutting-down since plan"), "{}", r.stderr);
}

#[test]
fn a_fleet_selector_that_plans_nothing_or_does_not_apply_is_refused() {
    let c = Cellar::new();
    let r = c.run(&["plan", "stop-auto-scaling@platform=debian-web"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("stop-auto-scaling@platform=debian-web refuses every server it selects:\n  achel: "),
        "{}",
        r.stderr
    );
    let r = c.run(&["plan", "bundle-ami@workspace-*"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("selects no server"), "{}", r.stderr);
    let r = c.run(&["plan", "bundle-ami@all"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("bundle-ami is not about configured servers, so it takes no selector (all)"),
        "{}",
        r.stderr
    );
}

/// Servers that stop or restart change in waves: the plan shows them, the apply says
/// each wave's result (text and JSON).
#[test]
fn a_rolling_fleet_plan_shows_and_reports_its_waves() {
    let c = two_servers_up();
    let r = c.ok(&[
        "plan",
        "stop-auto-scaling@duvel,ommegang",
        "--canary",
        "1",
        "--stop-after-failures",
        "1",
        "-o",
        "f.plan.ron",
    ]);
    assert!(
        r.stdout.contains("\n  Rolling: 2 waves (at most 1 server at once, the first 1 as canary); each wave starts once the one before is healthy; no new wave starts once 1 server failed.\n    wave 1: duvel\n    wave 2: ommegang\n"),
        "{}",
        r.stdout
    );
    let graph = c.ok(&["graph", "f.plan.ron"]).stdout;
    assert!(
        graph.contains("subgraph cluster_wave_1 {") && graph.contains("[style=bold, label=\"healthy\"]"),
        "{graph}"
    );
    let r = c.ok(&["apply", "f.plan.ron"]);
    let waves: Vec<&str> =
        r.stdout.lines().map(str::trim).filter(|l| l.starts_with("wave ") && l.contains('/')).collect();
    assert_eq!(
        waves,
        [
            "wave 1/2: duvel",
            "wave 1/2: 1 done, 0 failed, budget 1 left",
            "wave 2/2: ommegang",
            "wave 2/2: 1 done, 0 failed, budget 1 left"
        ],
        "{}",
        r.stdout
    );

    let c = two_servers_up();
    let r = c.ok(&["apply", "stop-auto-scaling@duvel,ommegang", "--yes", "--format", "json"]);
    let done: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| o["event"] == "wave_done")
        .collect();
    assert_eq!(done.len(), 2, "{}", r.stdout);
    assert_eq!(
        (&done[1]["wave"], &done[1]["of"], &done[1]["failed"]),
        (&2.into(), &2.into(), &0.into()),
        "{}",
        done[1]
    );
}

#[test]
fn rollout_options_need_a_selector_and_a_new_plan() {
    let c = two_servers_up();
    let r = c.run(&["plan", "stop-auto-scaling@duvel", "--canary", "1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("are for a selector of several servers (`stop-auto-scaling@duvel` names one)"),
        "{}",
        r.stderr
    );
    c.ok(&["plan", "stop-auto-scaling@duvel,ommegang", "-o", "f.plan.ron"]);
    let r = c.run(&["apply", "f.plan.ron", "--max-unavailable", "2"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the waves are in the plan"), "{}", r.stderr);
    let r = c.run(&["plan", "stop-auto-scaling@all", "--max-unavailable", "0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("at least 1"), "{}", r.stderr);
}
