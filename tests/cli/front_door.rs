//! The front door of the `cellar` binary: output that never panics (closed pipes, full
//! disks), help that lists every command, completions and man page, colour, exit codes,
//! bad input refused with the state file untouched, workspaces, and the README's tour.

use super::*;

/// Runs `cellar ARGS` with standard output a pipe whose reading end is closed at once (as
/// `cellar ... | head -1` leaves it); returns the exit code and standard error.
fn with_closed_stdout(c: &Cellar, args: &[&str]) -> (Option<i32>, String) {
    let mut child = c.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cellar runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("cellar ends");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let before = std::fs::read(c.state()).unwrap();
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "--format", "json"],
        &["sim", "show"],
        &["sim", "log"],
        &["plan", "create-server@ommegang", "20"],
        &["config", "ommegang"],
        &["--help"],
        &["man"],
        &["completions", "bash"],
    ];
    for args in commands {
        let (code, stderr) = with_closed_stdout(&c, args);
        assert_eq!(code, Some(0), "cellar {args:?}: {stderr}");
        assert_eq!(stderr, "", "cellar {args:?} says nothing about a closed pipe");
    }
    assert_eq!(std::fs::read(c.state()).unwrap(), before);
}

#[test]
fn an_apply_whose_output_pipe_closes_still_ends_cleanly() {
    // Stopped at the DNS gate (no terminal to ask): the new address is kept, the state saved.
    let c = Cellar::new();
    let (code, stderr) = with_closed_stdout(&c, &["apply", "create-server@ommegang", "20", "--yes"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let tagged = c.tagged("ommegang");
    assert!(tagged.len() == 1 && tagged[0].starts_with("address"), "{tagged:?}");
    // A failure is compensated as usual, and said on stderr since stdout is gone.
    c.ok(&["sim", "capacity", "us-east-1a", "m5.large", "0"]);
    let before = c.tagged("duvel");
    let (code, stderr) = with_closed_stdout(&c, &["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Apply did not complete") && stderr.contains("undone"), "{stderr}");
    assert_eq!(c.tagged("duvel"), before, "everything the apply made is undone (duvel's address was there before)");
    // A success is saved.
    c.ok(&["sim", "capacity", "us-east-1a", "m5.large", "5"]);
    let (code, stderr) = with_closed_stdout(&c, &["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(c.status("duvel")["health"], "healthy");
}

#[test]
fn a_full_disk_is_a_one_line_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("SKIPPED: no /dev/full on this system");
        return;
    };
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    let before = std::fs::read(c.state()).unwrap();
    for args in [&["status"][..], &["sim", "show"], &["plan", "create-server@duvel", "30"], &["--help"]] {
        let mut command = c.command(args);
        command.stdout(full.try_clone().unwrap());
        let r = run_command(command);
        assert_eq!(r.code, 1, "cellar {args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "cellar {args:?}: {}", r.stderr);
        assert!(r.stderr.contains("No space left on device"), "cellar {args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(c.state()).unwrap(), before);
}

/// Whitespace collapsed, so help text wrapped at any width compares with its source.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn plan_and_apply_help_list_every_command_and_flag() {
    use cellar_engine::command::Flag;
    let c = Cellar::new();
    for sub in ["plan", "apply"] {
        let help = squash(&c.ok(&[sub, "--help"]).stdout);
        for spec in cellar_engine::planner::COMMANDS {
            assert!(help.contains(&squash(&spec.synopsis())), "{sub} --help lacks {}:\n{help}", spec.synopsis());
            assert!(help.contains(&squash(spec.help)), "{sub} --help lacks the help of {}:\n{help}", spec.name);
        }
        for flag in Flag::ALL {
            assert!(help.contains(flag.name()) && help.contains(&squash(flag.help())), "{sub} --help: {help}");
        }
        assert!(help.contains("Exit codes"), "{help}");
    }
    let top = squash(&c.ok(&["--help"]).stdout);
    for expected in ["Exit codes", "3 apply stopped at a DNS gate", "diff(1)", "CELLAR_SIM_STATE", "--color"] {
        assert!(top.contains(expected), "{expected}: {top}");
    }
    assert!(squash(&c.ok(&["diff", "--help"]).stdout).contains("1 they differ, 2 trouble"));
    assert!(c.ok(&["status", "--help"]).stdout.contains("\"workspaces\""));
    assert!(squash(&c.ok(&["sim", "advance", "--help"]).stdout).contains("at most 365d"));
}

#[test]
fn completions_and_man_page() {
    let c = Cellar::new();
    let bash = c.ok(&["completions", "bash"]).stdout;
    assert!(
        bash.contains("_cellar()") && bash.contains("--keep-group") && bash.contains("--detailed-exitcode"),
        "{bash}"
    );
    assert!(c.ok(&["completions", "zsh"]).stdout.starts_with("#compdef cellar"));
    assert!(c.ok(&["completions", "fish"]).stdout.contains("complete -c cellar"));
    let r = c.run(&["completions", "tcsh"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let man = c.ok(&["man"]).stdout;
    assert!(man.starts_with(".ie") || man.contains(".TH cellar 1"), "{man}");
    assert!(man.contains(".TH cellar 1") && man.contains("Exit codes"), "{man}");
    let plan = c.ok(&["man", "plan"]).stdout;
    assert!(plan.contains("cellar\\-plan") && plan.contains("destroy\\-workspace@WORKSPACE"), "{plan}");
    let r = c.run(&["man", "plna"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\"plna\"") && r.stderr.contains("fix: one of"), "{}", r.stderr);
}

const ANSI: &str = "\x1b[";

#[test]
fn colour_only_on_a_terminal_or_when_asked() {
    let c = Cellar::new();
    let args = ["plan", "create-server@ommegang", "20"];
    let plain = c.ok(&args).stdout;
    assert!(!plain.contains(ANSI), "not a terminal: no colour\n{plain}");
    let coloured = c.ok(&[&["--color", "always"][..], &args].concat()).stdout;
    assert!(coloured.contains("\x1b[32m+\x1b[0m #1   allocate Elastic IP"), "{coloured}");
    assert!(coloured.contains("\x1b[36m?\x1b[0m #2   DNS gate"), "{coloured}");
    let stripped = coloured.replace("\x1b[0m", "").replace("\x1b[32m", "").replace("\x1b[36m", "");
    let stripped = stripped.replace("\x1b[33m", "").replace("\x1b[34m", "");
    assert_eq!(stripped, plain, "colour changes nothing else");
    assert!(!c.ok(&[&["--color", "never"][..], &args].concat()).stdout.contains(ANSI));
    // diff colours removed and added lines.
    c.ok(&["plan", "create-server@duvel", "30", "-o", "a.ron"]);
    c.ok(&["plan", "create-server@duvel", "40", "-o", "b.ron"]);
    let diff = c.run(&["diff", "--color", "always", "a.ron", "b.ron"]).stdout;
    assert!(diff.contains("\x1b[31m-  + #") && diff.contains("\x1b[32m+  + #"), "{diff}");
    assert!(!c.run(&["diff", "a.ron", "b.ron"]).stdout.contains(ANSI));
    // auto: CLICOLOR_FORCE forces colour, NO_COLOR wins over it.
    let mut forced = c.command(&args);
    forced.env("CLICOLOR_FORCE", "1");
    assert!(run_command(forced).stdout.contains(ANSI));
    let mut no_color = c.command(&args);
    no_color.env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1");
    assert!(!run_command(no_color).stdout.contains(ANSI));
    // On a terminal (util-linux's `script` gives it one), auto colours unless NO_COLOR.
    if Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let line = format!(
            "{} --config {} --sim-state {} plan create-server@ommegang 20",
            env!("CARGO_BIN_EXE_cellar"),
            c.config.display(),
            c.state().display()
        );
        for (no_color, coloured) in [(None, true), (Some("1"), false)] {
            let mut on_a_terminal = Command::new("script");
            on_a_terminal.args(["-qec", &line, "/dev/null"]).env("TERM", "xterm").env_remove("NO_COLOR");
            on_a_terminal.env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR").stdin(Stdio::null());
            if let Some(value) = no_color {
                on_a_terminal.env("NO_COLOR", value);
            }
            let r = run_command(on_a_terminal);
            assert_eq!(r.stdout.contains("\x1b[32m+"), coloured, "NO_COLOR={no_color:?}: {}{}", r.stdout, r.stderr);
        }
    }
    // status colours the health.
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let status = c.ok(&["status", "--color", "always"]).stdout;
    assert!(status.contains("\nduvel     \x1b[32mhealthy\x1b[0m  "), "{status}");
    assert!(status.contains("\nchimay    \x1b[2mabsent\x1b[0m   "), "{status}");
    let one = c.ok(&["status", "duvel", "--color", "always"]).stdout;
    assert!(one.starts_with("duvel        \x1b[32mhealthy\x1b[0m   us-east-1"), "{one}");
    assert!(!c.ok(&["status"]).stdout.contains(ANSI));
}

#[test]
fn diff_exits_as_diff1_does() {
    let c = Cellar::new();
    c.ok(&["plan", "create-server@duvel", "30", "-o", "a.ron"]);
    assert_eq!(c.ok(&["diff", "a.ron", "a.ron"]).stdout, "No differences.\n");
    let r = c.run(&["diff", "a.ron", "missing.ron"]);
    assert_eq!(r.code, 2, "an unreadable plan is trouble, not a difference: {}", r.stderr);
    assert!(r.stderr.contains("missing.ron"), "{}", r.stderr);
    std::fs::write(c.dir.path().join("garbage.ron"), "(steps: oops").unwrap();
    let r = c.run(&["diff", "garbage.ron", "a.ron"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("garbage.ron"), "{}", r.stderr);
    let r = c.run(&["diff", "a.ron"]);
    assert_eq!(r.code, 2, "a usage error is trouble too: {}", r.stderr);
}

#[test]
fn status_refuses_an_unknown_format() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    check_bad_input(&c, &["status", "--format", "ron"], &["'ron'", "text, json"]);
    check_bad_input(&c, &["plan", "create-server@duvel", "30", "--format", "yaml"], &["'yaml'", "text, json, ron"]);
}

#[test]
fn workspaces_are_listed_by_status_and_destroyed_from_the_cli() {
    let c = Cellar::new();
    c.ok(&["apply", "create-workspace", "--yes"]);
    let text = c.ok(&["status"]).stdout;
    assert!(text.contains("workspace-1  workspace us-east-1\n  instance  i-"), "{text}");
    let all: Value = serde_json::from_str(&c.ok(&["status", "--format", "json"]).stdout).unwrap();
    assert_eq!(all["servers"].as_array().map(Vec::len), Some(5), "{all:#}");
    assert_eq!(all["workspaces"][0]["name"], "workspace-1", "{all:#}");
    assert_eq!(all["workspaces"][0]["instance"]["state"], "running", "{all:#}");
    let one: Value = serde_json::from_str(&c.ok(&["status", "workspace-1", "--format", "json"]).stdout).unwrap();
    assert_eq!(
        (one["servers"].as_array().map(Vec::len), &one["workspaces"][0]["name"]),
        (Some(0), &"workspace-1".into())
    );

    let plan = c.ok(&["plan", "destroy-workspace@workspace-1", "-o", "d.ron"]).stdout;
    assert!(plan.contains("terminate"), "{plan}");
    let apply = c.ok(&["apply", "d.ron"]).stdout;
    assert!(apply.contains("Apply complete"), "{apply}");
    let all: Value = serde_json::from_str(&c.ok(&["status", "--format", "json"]).stdout).unwrap();
    assert_eq!(all["workspaces"], Value::Array(vec![]), "{all:#}");
    check_bad_input(&c, &["plan", "destroy-workspace@workspace-1"], &["workspace-1 has no instance", "fix:"]);
    check_bad_input(&c, &["status", "workspace-1"], &["workspace-1 has no live instance", "fix:"]);
    check_bad_input(&c, &["plan", "destroy-workspace@duvel"], &["duvel is not a workspace", "fix:"]);
}

#[test]
fn one_step_is_one_step() {
    let c = Cellar::new();
    c.ok(&["apply", "create-workspace", "--yes"]);
    let plan = c.ok(&["plan", "destroy-workspace@workspace-1"]).stdout;
    assert!(plan.contains("\nPlan: 1 step (1 to destroy), depth 1.\n"), "{plan}");
    let apply = c.ok(&["apply", "destroy-workspace@workspace-1", "--yes"]).stdout;
    assert!(apply.contains("\nApplying 1 step:\n"), "{apply}");
    assert!(!plan.contains("1 steps") && !apply.contains("1 steps"), "{plan}{apply}");
}

#[test]
fn absurd_durations_are_refused_before_the_world_is_touched() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    check_bad_input(&c, &["sim", "advance", "20000000000000000s"], &["20000000000000000s", "365 days", "fix:"]);
    check_bad_input(&c, &["sim", "advance", "18446744073709551615h"], &["not a duration", "fix:"]);
    check_bad_input(&c, &["sim", "advance", "10 parsecs"], &["not a duration", "90s"]);
    check_bad_input(&c, &["sim", "advance", "366d"], &["365 days"]);
    assert!(c.ok(&["sim", "advance", "1h30m"]).stdout.contains("Virtual clock now 2026-11-25T01:30:00Z"));
}

#[test]
fn empty_paths_from_the_environment_are_refused() {
    let config = fixtures().join("config");
    let cases: &[(&str, &[&str])] = &[
        ("CELLAR_SIM_STATE", &["sim", "init"]),
        ("CELLAR_SIM_STATE", &["sim", "show"]),
        ("CELLAR_SIM_STATE", &["plan", "create-server@duvel", "30"]),
        ("CELLAR_CONFIG", &["status"]),
    ];
    for (variable, args) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut command = bare_command(dir.path());
        if *variable != "CELLAR_CONFIG" {
            command.arg("--config").arg(&config);
        }
        command.env(variable, "").args(*args);
        let r = run_command(command);
        assert_eq!(r.code, 1, "{variable}= cellar {args:?}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, "", "{variable}= cellar {args:?} says nothing on stdout");
        assert!(r.stderr.contains(variable) && r.stderr.contains("fix:"), "{}", r.stderr);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{variable}= cellar {args:?} left {left:?}");
    }
}

#[test]
fn an_ebs_size_beyond_any_integer_names_the_limit() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    for server in ["create-server@x", "create-server@ommegang"] {
        check_bad_input(&c, &["plan", server, "4294967297"], &["\"4294967297\" is invalid", "65536"]);
    }
}

#[test]
fn plan_out_writes_through_a_symlink_and_refuses_what_is_not_a_file() {
    use std::os::unix::fs::{symlink, FileTypeExt};
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    let dir = c.dir.path();
    let plan = ["plan", "create-server@ommegang", "20", "-o"];
    // A symbolic link: its target gets the plan, and the link stays a link.
    std::fs::write(dir.join("real.ron"), "old").unwrap();
    symlink("real.ron", dir.join("link.ron")).unwrap();
    c.ok(&[&plan[..], &["link.ron"]].concat());
    assert!(std::fs::symlink_metadata(dir.join("link.ron")).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(dir.join("real.ron")).unwrap().contains("create-server@ommegang 20"));
    c.ok(&["show", "link.ron"]);
    // A directory.
    std::fs::create_dir(dir.join("plans.d")).unwrap();
    check_bad_input(&c, &[&plan[..], &["plans.d"]].concat(), &["plans.d", "is a directory", "fix:"]);
    // A FIFO.
    if Command::new("mkfifo").arg(dir.join("fifo.ron")).status().is_ok_and(|s| s.success()) {
        check_bad_input(&c, &[&plan[..], &["fifo.ron"]].concat(), &["fifo.ron", "is a FIFO"]);
        assert!(std::fs::symlink_metadata(dir.join("fifo.ron")).unwrap().file_type().is_fifo());
    }
    // A character device of our own (/dev/null's numbers), directly and through a link;
    // making one needs root, as CI is. Nothing outside the scratch directory is at risk.
    let device = dir.join("null.dev");
    if !Command::new("mknod").arg(&device).args(["c", "1", "3"]).status().is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: the device cases (mknod needs root)");
        return;
    }
    symlink("null.dev", dir.join("to-device.ron")).unwrap();
    for target in ["null.dev", "to-device.ron"] {
        check_bad_input(&c, &[&plan[..], &[target]].concat(), &["null.dev", "is a device", "fix:"]);
    }
    assert!(std::fs::symlink_metadata(&device).unwrap().file_type().is_char_device());
    assert!(std::fs::symlink_metadata(dir.join("to-device.ron")).unwrap().file_type().is_symlink());
}

#[test]
fn sim_capacity_in_an_unknown_zone_is_refused() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    check_bad_input(&c, &["sim", "capacity", "mars-9z", "t3.medium", "5"], &["mars-9z is not a zone of this world"]);
    check_bad_input(&c, &["sim", "capacity", "us-east-1a", "t3.mediun", "5"], &["t3.mediun", "t3.medium"]);
}

#[test]
fn sim_dns_with_an_address_that_is_not_an_ip_is_refused() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    check_bad_input(&c, &["sim", "dns", "ommegang.imarc.net", "not-an-ip"], &["\"not-an-ip\" is not an IPv4 address"]);
    check_bad_input(&c, &["sim", "dns", "../etc", "192.0.2.1"], &["is not a valid DNS host name"]);
}

#[cfg(not(feature = "aws"))]
#[test]
fn the_agent_without_aws_support_says_so() {
    let c = Cellar::new();
    let r = c.run(&["agent", "spawn", "--server", "ommegang"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("built without") && r.stderr.contains("fix:"), "{}", r.stderr);
}

/// The agent asks the metadata service `AWS_EC2_METADATA_SERVICE_ENDPOINT` names (a local
/// stand-in), says who it is, then fails on the AWS API (a closed port), naming the step.
#[cfg(feature = "aws")]
#[test]
fn the_agent_reads_its_identity_from_the_metadata_endpoint() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                lines.push(line.trim().to_ascii_lowercase());
            }
            let first = lines.first().cloned().unwrap_or_default();
            let token = lines.iter().any(|l| l == "x-aws-ec2-metadata-token: t");
            let (status, headers, body) = match first.split_whitespace().nth(1).unwrap_or("") {
                "/latest/api/token" => (200, "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n", "t"),
                _ if !token => (401, "", ""),
                "/latest/meta-data/instance-id" => (200, "", "i-0abc"),
                "/latest/meta-data/placement/availability-zone" => (200, "", "us-east-1b"),
                "/latest/meta-data/placement/region" => (200, "", "us-east-1"),
                _ => (404, "", ""),
            };
            let response = format!("HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len());
            let mut stream = stream;
            let _ = stream.write_all(response.as_bytes());
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let aws = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let c = Cellar::new();
    let mut command = c.command(&["agent", "spawn", "--server", "ommegang", "--dry-run"]);
    command
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)
        .env("AWS_ENDPOINT_URL", &aws)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    let r = run_command(command);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("cellar agent spawn: instance i-0abc in us-east-1b (us-east-1)"), "{}", r.stdout);
    assert!(r.stderr.contains("could not describe instance"), "{}", r.stderr);
    assert!(r.stdout.contains("cellar agent: failed: could not describe instance"), "{}", r.stdout);
}

/// README's five-minute tour: every `$ cellar ...` line, run in order on a fresh world, must
/// succeed, and every line shown after it (except `...`) must appear in what it prints.
#[test]
fn the_readme_tour_works() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("## A five-minute tour").expect("README has the tour");
    let tour = &readme[start..];
    let tour = &tour[..tour[3..].find("\n## ").map_or(tour.len(), |end| end + 3)];
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in tour.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.to_string(), Vec::new()));
        } else if let Some((_, shown)) = steps.last_mut() {
            if line.trim() != "..." && !line.trim().is_empty() {
                shown.push(line.to_string());
            }
        }
    }
    assert!(steps.len() >= 10, "{steps:?}");
    let c = Cellar::new();
    for (command, shown) in &steps {
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "cellar", "{command}");
        let r = c.ok(&words[1..]);
        // The tour's state file is .cellar/tour.ron; this test's is its own.
        let stdout = r.stdout.replace(&c.state().display().to_string(), ".cellar/tour.ron");
        let stdout = stdout.replace(&c.config.display().to_string(), "fixtures/config");
        for line in shown {
            assert!(stdout.contains(line.as_str()), "`{command}` did not print {line:?}:\n{stdout}");
        }
    }
}
