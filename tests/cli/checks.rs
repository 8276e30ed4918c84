//! Bad input caught by `cellar check`, the simulator's strictness and the user data, end to
//! end through the binary: a clear error, a non-zero exit, nothing changed.

use super::*;

/// `cellar check` on a copy of the fixture config with `edit` applied: exit 1 and every
/// expected text in the report.
fn check_reports(edit: impl FnOnce(&Path), expected: &[&str]) {
    let c = Cellar::with_config_copy();
    edit(&c.config);
    let r = c.run(&["check"]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    for e in expected {
        assert!(all.contains(e), "expected {e:?} in:\n{all}");
    }
}

#[test]
fn check_agrees_with_plan_on_zones() {
    // us-west-2 has a zone d on AWS: check accepts it and so does plan.
    let c = Cellar::with_config_copy();
    std::fs::write(c.config.join("servers/westy.ron"), r#"(platform: "debian-web", region: "us-west-2", zone: "d")"#)
        .unwrap();
    c.ok(&["check"]);
    c.ok(&["sim", "init"]);
    let r = c.ok(&["plan", "create-server@westy", "10"]);
    assert!(r.stdout.contains("in us-west-2d"), "{}", r.stdout);
    // A zone AWS does not have there is refused by both.
    std::fs::write(c.config.join("servers/westy.ron"), r#"(platform: "debian-web", region: "us-west-2", zone: "e")"#)
        .unwrap();
    let r = c.run(&["check"]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("zone \"e\" does not exist in region us-west-2 (its zones are a, b, c, d)"), "{all}");
}

#[test]
fn check_reports_more_tags_than_aws_allows() {
    let tags: Vec<String> = (0..60).map(|i| format!("\"t{i:02}\": \"x\"")).collect();
    check_reports(
        |config| {
            std::fs::write(
                config.join("servers/duvel.ron"),
                format!("(platform: \"debian-web\", tags: {{{}}})", tags.join(", ")),
            )
            .unwrap()
        },
        // 60 of its own and 3 from global.ron and its platform.
        &["server duvel has 63 tags; AWS allows 50 per resource", "at most 48 can be configured"],
    );
}

#[test]
fn check_reports_dangling_links_and_link_loops_in_servers() {
    check_reports(
        |config| {
            std::os::unix::fs::symlink("nowhere.ron", config.join("servers/ghost.ron")).unwrap();
            std::os::unix::fs::symlink("b.ron", config.join("servers/a.ron")).unwrap();
            std::os::unix::fs::symlink("a.ron", config.join("servers/b.ron")).unwrap();
        },
        &[
            "servers/ghost.ron: is a symbolic link to nowhere.ron, which does not exist",
            "servers/a.ron: is a symbolic link that leads round in a loop",
            "servers/b.ron: is a symbolic link that leads round in a loop",
        ],
    );
}

#[test]
fn fault_files_with_absurd_numbers_or_hostile_names_are_refused() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    let write = |name: &str, text: &str| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let boot = write("boot.ron", "(boot_secs: Some(18446744073709551615))");
    check_bad_input(&c, &["sim", "faults", &boot], &["boot.ron", "boot_secs"]);
    let latency = write("latency.ron", "(latency_ms: (0, 18446744073709551615))");
    check_bad_input(&c, &["sim", "faults", &latency], &["latency.ron", "latency_ms"]);
    let name = write("name.ron", r#"(terminations: [(at: 1795564900, target: "../etc")])"#);
    check_bad_input(&c, &["sim", "faults", &name], &["name.ron", "../etc"]);
    // A fault file at its limits is accepted, and the world goes on under it.
    let ok = write("ok.ron", "(boot_secs: Some(86400))");
    c.ok(&["sim", "faults", &ok]);
    c.ok(&["sim", "advance", "1h"]);
}

#[test]
fn a_state_file_with_a_field_this_version_does_not_know_is_refused_and_kept() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    // The world in RON, as a person writes one (the state file reads it as such).
    let text = cellar_sim::render_world(&c.world());
    let edited = text.replacen("(\n", "(\n    quota: 5,\n", 1);
    assert_ne!(edited, text);
    std::fs::write(c.state(), &edited).unwrap();
    for args in [&["status"][..], &["sim", "show"], &["sim", "advance", "1m"]] {
        check_bad_input(&c, args, &["quota"]);
    }
    assert_eq!(std::fs::read_to_string(c.state()).unwrap(), edited, "the file is left as it was");
}

/// A spawn hook with the line that ended the user data's heredoc before: the whole hook
/// reaches the agent (the simulated agent reports the hook's line count), nothing of it
/// is cut off.
#[test]
fn a_hostile_spawn_hook_reaches_the_agent_whole() {
    let c = Cellar::with_config_copy();
    let hook = "echo one\nCELLAR_SPAWN_HOOK\necho escaped\nCELLAR_SPAWN_HOOK_1\necho three\n";
    std::fs::write(
        c.config.join("servers/chimay.ron"),
        format!("(platform: \"debian-web\", zone: \"c\", auto_scale_capacity: 0, spawn: r#\"{hook}\"#)"),
    )
    .unwrap();
    c.ok(&["sim", "init"]);
    c.ok(&["apply", "create-server@chimay", "10", "--yes"]);
    // The agent starts after its boot delay, once the apply is done.
    c.ok(&["sim", "advance", "1m"]);
    let log = c.ok(&["sim", "log"]).stdout;
    assert!(log.contains("ran spawn hook (5 lines)"), "{log}");
}

#[test]
fn sim_show_speaks_words_not_debug_text() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["apply", "create-server@chimay", "10", "--yes", "--dns-confirmed"]);
    c.ok(&["sim", "terminate", "chimay"]);
    let show = c.ok(&["sim", "show"]).stdout;
    assert!(show.contains("next at 2026-11-25T00:00:55Z: i-0001 finishes shutting down"), "{show}");
    c.ok(&["sim", "advance", "30s"]);
    let show = c.ok(&["sim", "show"]).stdout;
    assert!(show.contains("i-0001 disappears from describe"), "{show}");
    for debug in ["(\"", "InstanceId(", "InstanceRemoved", "Some("] {
        assert!(!show.contains(debug), "`sim show` prints Rust debug text {debug:?}:\n{show}");
    }
}

#[test]
fn the_fault_example_installs_as_its_header_says() {
    let example = fixtures().join("worlds/faults-example.ron");
    let header = std::fs::read_to_string(&example).unwrap();
    assert!(header.contains("cellar sim faults fixtures/worlds/faults-example.ron"), "{header}");
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["sim", "faults", example.to_str().unwrap()]);
    let show = c.ok(&["sim", "show"]).stdout;
    assert!(show.contains("throttling") && !show.contains("faults: none"), "{show}");
}

/// A mistake in one server's file stops the commands that use that file, with its
/// file:line:column, and no other: an emergency change to another server goes through.
/// A misnamed server file is warned about (no command but `check` reads it). Each row:
/// (arguments, exit code, texts expected in the output, texts that must not be there).
#[test]
fn a_broken_server_file_stops_only_the_commands_that_use_it() {
    let c = Cellar::with_config_copy();
    std::fs::write(c.config.join("servers/kwak.ron"), "(\n    platform: \"debian-web\"\n    zone: \"c\",\n)\n")
        .unwrap();
    std::fs::write(c.config.join("servers/Achel_2.ron"), "(platform: \"debian-web\")\n").unwrap();
    let kwak = "servers/kwak.ron:3:5: malformed RON: Expected comma";
    let misnamed = "warning: ";
    type Case<'a> = (&'a [&'a str], i32, &'a [&'a str], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &["config", "duvel"],
            0,
            &["instance_type", misnamed, "Achel_2.ron:1:1: the file name is not a valid server name"],
            &[kwak],
        ),
        (&["plan", "create-server@duvel", "30"], 0, &["create-server@duvel"], &[kwak]),
        (&["status", "duvel"], 0, &["duvel"], &[kwak]),
        (&["status", "o*,duvel"], 0, &["ommegang"], &[kwak]),
        (&["status", "tag:team=web"], 1, &["cannot tell whether kwak is selected", kwak], &[]),
        (&["status", "platform=debian-web"], 1, &["cannot tell whether kwak is selected", kwak], &[]),
        (&["config", "kwak"], 1, &[kwak], &[]),
        (&["plan", "upgrade-ami@kwak"], 1, &[kwak], &[]),
        (&["status"], 1, &[kwak], &[]),
        (
            &["check"],
            1,
            &[kwak, "Achel_2.ron:1:1: the file name is not a valid server name", "2 problems found"],
            &[misnamed],
        ),
    ];
    for (args, code, expected, unexpected) in cases {
        let r = c.run(args);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, *code, "cellar {args:?}:\n{all}");
        for e in *expected {
            assert!(all.contains(e), "cellar {args:?}: expected {e:?} in:\n{all}");
        }
        for e in *unexpected {
            assert!(!all.contains(e), "cellar {args:?}: unexpected {e:?} in:\n{all}");
        }
    }
}

/// `health_check` and `notify`: `cellar check` reports every problem at its value, with
/// the `{dns_name}` of a server without one; `cellar config` shows both, defaults written
/// out.
#[test]
fn check_reports_health_check_and_notify_problems() {
    check_reports(
        |config| {
            std::fs::write(
                config.join("servers/westy.ron"),
                r#"(
    platform: "debian-web",
    health_check: (tcp: "{dns_name}:22", timeout_secs: 90),
    notify: (
        webhooks: [(url: "https://ops:secret@hooks.example.com/cellar"), (url: "https://hooks.example.com/x", body: Teams)],
        commands: [["bin/page-oncall", "--team", "web"]],
        remind_every_mins: 20000,
    ),
)
"#,
            )
            .unwrap()
        },
        &[
            "servers/westy.ron:3:25: the health check uses {dns_name}, and server westy has no `dns_name`",
            "servers/westy.ron:3:56: health_check.timeout_secs must be between 1 and 60 (seconds), not 90",
            "servers/westy.ron:5:26: invalid webhook URL \"https://ops:secret@hooks.example.com/cellar\": it has a user \
             name or password in it (`user:password@`)",
            "servers/westy.ron:5:117: invalid value for `notify.webhooks.body`: expected `Json` or `Slack`, not `Teams`",
            "fix: write it like `body: Slack`",
            "servers/westy.ron:6:21: program \"bin/page-oncall\" is a relative path",
            "servers/westy.ron:7:28: notify.remind_every_mins must be between 0 (never remind) and 10080 (a week), not \
             20000",
            "6 problems found",
        ],
    );
    let c = Cellar::new();
    let shown = c.ok(&["config", "ommegang"]).stdout;
    for expected in [
        "  health_check         = (http: \"https://{dns_name}/\", expect_status: 200, timeout_secs: 5) # ",
        "servers/ommegang.ron:27:19\n",
        "  notify               = (webhooks: [], commands: [], remind_every_mins: 60) # ",
        "servers/ommegang.ron:30:13\n",
    ] {
        assert!(shown.contains(expected), "expected {expected:?} in:\n{shown}");
    }
}
