//! End-to-end tests of the `cellar` binary against the built-in simulator: the CLI
//! contract, apply and status, capacity failure with compensation, replacement after a
//! termination, and bad input that must fail cleanly without touching the state file.

use cellar_engine::cloud::Filter;
use cellar_engine::model::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A scratch directory with its own simulator state; config from fixtures/config unless replaced.
struct Cellar {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

impl Cellar {
    fn new() -> Self {
        Cellar { dir: tempfile::tempdir().unwrap(), config: fixtures().join("config") }
    }

    /// A writable copy of the fixture config, for tests that break it.
    fn with_config_copy() -> Self {
        let mut c = Cellar::new();
        let target = c.dir.path().join("config");
        copy_dir(&fixtures().join("config"), &target);
        c.config = target;
        c
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("sim.db")
    }

    /// `cellar --config ... --sim-state ... ARGS` in the scratch directory, with no
    /// CELLAR_* or colour settings from the environment and no standard input.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = bare_command(self.dir.path());
        command.arg("--config").arg(&self.config).arg("--sim-state").arg(self.state()).args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        run_command(self.command(args))
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "cellar {args:?} failed\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    fn status(&self, server: &str) -> Value {
        let r = self.ok(&["status", server, "--format", "json"]);
        let all: Value = serde_json::from_str(&r.stdout).expect("status prints JSON");
        all["servers"][0].clone()
    }

    /// The saved world, whole.
    fn world(&self) -> cellar_sim::World {
        cellar_sim::SimStore::open_shared(&self.state(), &|_| {}).expect("state file opens").into_world()
    }

    /// Resources tagged for a server in the saved world, as `kind id` strings.
    fn tagged(&self, server: &str) -> Vec<String> {
        let world = self.world();
        let sim = cellar_sim::Sim::new(world);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            use cellar_engine::cloud::Cloud;
            let region = Region::new("us-east-1");
            let f = Filter::Server(ServerName::new(server));
            let mut out = Vec::new();
            for i in sim.describe_instances(&region, &f).await.unwrap() {
                if i.state.is_alive() {
                    out.push(format!("instance {}", i.id));
                }
            }
            for v in sim.describe_volumes(&region, &f).await.unwrap() {
                out.push(format!("volume {}", v.id));
            }
            for a in sim.describe_addresses(&region, &f).await.unwrap() {
                out.push(format!("address {}", a.allocation_id));
            }
            for t in sim.describe_launch_templates(&region, &f).await.unwrap() {
                out.push(format!("template {}", t.id));
            }
            for g in sim.describe_auto_scaling_groups(&region, &f).await.unwrap() {
                out.push(format!("group {}", g.name));
            }
            out
        })
    }
}

/// The `cellar` binary in `dir`, with no CELLAR_* or colour settings from the environment.
fn bare_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cellar"));
    command.current_dir(dir).stdin(Stdio::null());
    for variable in ["CELLAR_CONFIG", "CELLAR_SIM_STATE", "CELLAR_BACKEND", "NO_COLOR", "CLICOLOR_FORCE", "CLICOLOR"] {
        command.env_remove(variable);
    }
    command
}

fn run_command(mut command: Command) -> Run {
    let output = command.output().expect("cellar runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn plan_save_apply_status_healthy() {
    let c = Cellar::new();
    let plan = c.ok(&["plan", "create-server@ommegang", "20", "-o", "ommegang.plan.ron"]);
    assert!(plan.stdout.contains("create data volume of ommegang: 20 GiB gp3"), "{}", plan.stdout);
    assert!(plan.stdout.contains("DNS gate"), "ommegang's DNS does not match any address: {}", plan.stdout);
    let shown = c.ok(&["show", "ommegang.plan.ron"]);
    assert_eq!(shown.stdout, plan.stdout.split("\nSaved the plan").next().unwrap());

    let apply = c.ok(&["apply", "ommegang.plan.ron", "--dns-confirmed"]);
    assert!(apply.stdout.contains("Apply complete"), "{}", apply.stdout);
    assert!(apply.stdout.contains("failed 0, skipped 0"), "{}", apply.stdout);

    let s = c.status("ommegang");
    assert_eq!(s["name"], "ommegang");
    assert_eq!(s["health"], "healthy", "{s:#}");
    assert_eq!(s["instance"]["state"], "running");
    assert_eq!(s["instance"]["zone"], "us-east-1b");
    let instance = s["instance"]["id"].as_str().unwrap();
    assert_eq!(s["volume"]["attached_to"], instance);
    assert_eq!(s["volume"]["size_gb"], 20);
    assert_eq!(s["address"]["associated_to"], instance);
    assert_eq!(s["auto_scaling"]["group"], "ommegang");
    assert_eq!(s["auto_scaling"]["desired"], 1);

    // The instance's agent runs its first boot (persist) and the spawn hook after its boot
    // delay, once the apply is done.
    c.ok(&["sim", "advance", "1m"]);
    let log = c.ok(&["sim", "show"]).stdout;
    assert!(log.contains("persisted"), "{log}");
}

#[test]
fn detailed_exitcode_reports_changes() {
    let c = Cellar::new();
    let r = c.run(&["plan", "create-server@duvel", "30", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let r = c.run(&["plan", "create-server@duvel", "30"]);
    assert_eq!(r.code, 0);
}

#[test]
fn address_matching_dns_is_reused_without_gate() {
    let c = Cellar::new();
    let plan = c.ok(&["plan", "create-server@duvel", "30"]);
    assert!(plan.stdout.contains("is reused: duvel.imarc.net already points at it"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("DNS gate"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("allocate Elastic IP"), "{}", plan.stdout);
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!(c.status("duvel")["health"], "healthy");
}

#[test]
fn unconfirmed_dns_gate_stops_and_keeps_the_address_for_next_time() {
    let c = Cellar::new();
    let r = c.run(&["apply", "create-server@ommegang", "20", "--yes"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("stopped"), "{}", r.stdout);
    // Only the new address exists, still waiting for its record.
    let tagged = c.tagged("ommegang");
    assert_eq!(tagged.len(), 1, "{tagged:?}");
    assert!(tagged[0].starts_with("address"), "{tagged:?}");

    let again = c.ok(&["plan", "create-server@ommegang", "20"]);
    assert!(again.stdout.contains("still waiting for its DNS record"), "{}", again.stdout);
    assert!(!again.stdout.contains("allocate Elastic IP"), "{}", again.stdout);

    // Once the record points at it, the address is reused and there is no gate.
    let world = c.world();
    let ip = world_address_ip(&c, "ommegang");
    drop(world);
    c.ok(&["sim", "dns", "ommegang.imarc.net", &ip]);
    let after = c.ok(&["plan", "create-server@ommegang", "20"]);
    assert!(!after.stdout.contains("DNS gate"), "{}", after.stdout);
    c.ok(&["apply", "create-server@ommegang", "20", "--yes"]);
    assert_eq!(c.status("ommegang")["health"], "healthy");
}

fn world_address_ip(c: &Cellar, server: &str) -> String {
    let s = c.status(server);
    s["address"]["public_ip"].as_str().expect("server has an address").to_string()
}

#[test]
fn no_capacity_fails_and_leaves_nothing_behind() {
    let c = Cellar::new();
    c.ok(&["sim", "capacity", "us-east-1b", "t3.medium", "0"]);
    let r = c.run(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("InsufficientInstanceCapacity"), "{}", r.stdout);
    assert!(r.stdout.contains("undone"), "{}", r.stdout);
    assert_eq!(c.tagged("ommegang"), Vec::<String>::new(), "{}", r.stdout);
}

#[test]
fn terminated_instance_is_replaced_and_agent_reattaches() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    let before = c.status("ommegang");
    let old = before["instance"]["id"].as_str().unwrap().to_string();
    c.ok(&["sim", "terminate", "ommegang"]);
    let down = c.status("ommegang");
    assert_ne!(down["health"], "healthy", "{down:#}");
    c.ok(&["sim", "advance", "10m"]);
    let after = c.status("ommegang");
    let new = after["instance"]["id"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(after["health"], "healthy", "{after:#}");
    assert_eq!(after["volume"]["id"], before["volume"]["id"]);
    assert_eq!(after["volume"]["attached_to"], new.as_str());
    assert_eq!(after["address"]["public_ip"], before["address"]["public_ip"]);
    assert_eq!(after["address"]["associated_to"], new.as_str());
}

#[test]
fn existing_server_is_refused_and_stale_plans_too() {
    let c = Cellar::new();
    c.ok(&["plan", "create-server@duvel", "30", "-o", "duvel.ron"]);
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let r = c.run(&["plan", "create-server@duvel", "30"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("server duvel already exists in us-east-1"), "{}", r.stderr);
    let r = c.run(&["apply", "duvel.ron"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("is stale"), "{}", r.stderr);
    assert!(r.stderr.contains("appeared since plan"), "{}", r.stderr);
}

#[test]
fn stale_plan_names_the_changed_dns_record() {
    let c = Cellar::new();
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    c.ok(&["sim", "dns", "ommegang.imarc.net", "192.0.2.99"]);
    let before = std::fs::read(c.state()).unwrap();
    let r = c.run(&["apply", "p.ron", "--dns-confirmed"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("DNS record ommegang.imarc.net of ommegang:"), "{}", r.stderr);
    assert!(r.stderr.contains("→ 192.0.2.99 since plan"), "{}", r.stderr);
    assert_eq!(std::fs::read(c.state()).unwrap(), before, "a refused apply leaves the state alone");
}

/// Bad input: exit 1, a message naming the place and the fix, the state file byte-identical.
fn check_bad_input(c: &Cellar, args: &[&str], expected: &[&str]) {
    let before = std::fs::read(c.state()).ok();
    let r = c.run(args);
    assert_eq!(r.code, 1, "cellar {args:?}\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for e in expected {
        assert!(r.stderr.contains(e), "cellar {args:?}: expected {e:?} in stderr:\n{}", r.stderr);
    }
    assert_eq!(std::fs::read(c.state()).ok(), before, "cellar {args:?} changed the state file");
}

#[test]
fn bad_command_line_input() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    check_bad_input(&c, &["plan", "create-server@westmalle", "20"], &["westmalle", "servers/westmalle.ron"]);
    check_bad_input(&c, &["plan", "create-server@ommegang", "0"], &["\"0\" is invalid", "between 1 and 65536"]);
    check_bad_input(&c, &["plan", "create-server@ommegang", "65537"], &["\"65537\" is invalid"]);
    check_bad_input(&c, &["plan", "create-server@ommegang", "20", "-", "-", "mars-1"], &["unknown region"]);
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20", "-", "-", "-", "g"],
        &["zone us-east-1g (from command-line argument 5) does not exist in us-east-1", "zones: a, b, c, d, e, f"],
    );
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20", "-", "-", "eu-west-1"],
        &["region eu-west-1 (from command-line argument 4) is not offered by this backend"],
    );
    check_bad_input(
        &c,
        &["apply", "create-server@ommegang", "20"],
        &["refusing to apply without confirmation", "--yes"],
    );
}

#[test]
fn corrupt_state_and_plan_files() {
    let c = Cellar::new();
    std::fs::write(c.state(), "(now: 12, instances: {oops").unwrap();
    check_bad_input(&c, &["status", "ommegang"], &["sim.db", "cellar sim init"]);
    check_bad_input(&c, &["plan", "create-server@ommegang", "20"], &["sim.db"]);

    let c = Cellar::new();
    c.ok(&["plan", "create-server@ommegang", "20", "-o", "p.ron"]);
    let plan = std::fs::read_to_string(c.dir.path().join("p.ron")).unwrap();
    std::fs::write(c.dir.path().join("broken.ron"), &plan[..plan.len() / 2]).unwrap();
    check_bad_input(&c, &["apply", "broken.ron"], &["broken.ron:", "not a cellar plan", "cellar plan"]);
    std::fs::write(c.dir.path().join("future.ron"), plan.replacen("format: 4", "format: 99", 1)).unwrap();
    check_bad_input(&c, &["show", "future.ron"], &["plan format 99 is not supported"]);
    std::fs::write(c.dir.path().join("cycle.ron"), plan.replacen("after: [],", "after: [9],", 1)).unwrap();
    check_bad_input(&c, &["apply", "cycle.ron"], &["cycle.ron: the plan is inconsistent"]);
    check_bad_input(&c, &["apply", "missing.ron"], &["missing.ron"]);
}

#[test]
fn bad_config_files() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    c.ok(&["check"]);
    let server = c.config.join("servers/ommegang.ron");
    let text = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, text.replacen('(', "(\n    colour: \"blue\",", 1)).unwrap();
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20"],
        &["ommegang.ron:3:5: unknown field `colour`", "allowed fields"],
    );
    let r = c.run(&["check"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("servers/ommegang.ron:3:5"), "{}", r.stderr);

    std::fs::write(&server, "(platform: \"debian-web\", zone: \"b\"").unwrap();
    check_bad_input(&c, &["plan", "create-server@ommegang", "20"], &["ommegang.ron:1:"]);
}

/// The network is resolved at plan time: a zone with no subnet names the zone and the VPC,
/// an unknown security group names the VPC and its groups, each at its file:line with the
/// fix; the state file is untouched.
#[test]
fn network_settings_are_refused_at_plan_time() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    let server = c.config.join("servers/ommegang.ron");
    let text = std::fs::read_to_string(&server).unwrap();
    let with = |extra: &str| text.replacen('(', &format!("(\n    {extra}"), 1);
    std::fs::write(&server, with("subnets: {\"a\": \"subnet-00000001\"},")).unwrap();
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20"],
        &[
            "zone us-east-1b has no subnet in VPC vpc-00000001: subnets (",
            "ommegang.ron:3:15) names zones a only",
            "fix: add `\"b\": \"subnet-00000002\"` to subnets",
        ],
    );
    std::fs::write(&server, with("security_groups: [\"db\"],")).unwrap();
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20"],
        &[
            "security group db (from ",
            "ommegang.ron:3:23) does not exist in VPC vpc-00000001 (groups there: default, web)",
        ],
    );
}

/// `sim key-pair`, `sim security-group` and `sim vpc` make what a configuration names;
/// `sim show` lists them; a plan then resolves them. Bad input changes nothing.
#[test]
fn sim_network_commands_make_what_configs_name() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    let server = c.config.join("servers/ommegang.ron");
    let text = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, text.replacen('(', "(\n    key_name: \"ops\", security_groups: [\"web\", \"db\"],", 1))
        .unwrap();
    check_bad_input(&c, &["plan", "create-server@ommegang", "20"], &["security group db (from "]);
    assert!(c.ok(&["sim", "security-group", "db"]).stdout.contains("(db) created in vpc-00000001."));
    check_bad_input(
        &c,
        &["plan", "create-server@ommegang", "20"],
        &["key pair ops (from ", "does not exist in us-east-1"],
    );
    assert!(c.ok(&["sim", "key-pair", "ops"]).stdout.contains("Key pair ops created in us-east-1."));
    let plan = c.ok(&["plan", "create-server@ommegang", "20"]).stdout;
    assert!(plan.contains("key pair ops") && plan.contains("security group web is sg-00000002, db is sg-"), "{plan}");
    let made = c.ok(&["sim", "vpc", "b", "c"]).stdout;
    assert!(made.contains("VPC vpc-") && made.contains("in us-east-1b.") && made.contains("in us-east-1c."), "{made}");
    let shown = c.ok(&["sim", "show"]).stdout;
    assert!(shown.contains("    key pairs: ops") && shown.contains(" db"), "{shown}");
    check_bad_input(&c, &["sim", "key-pair", "ops", "--region", "mars-1"], &["sim key-pair:", "mars-1"]);
    check_bad_input(
        &c,
        &["sim", "security-group", "db"],
        &["sim security-group:", "already has a security group named db"],
    );
    check_bad_input(&c, &["sim", "vpc", "q"], &["sim vpc:", "us-east-1q"]);
    check_bad_input(&c, &["sim", "vpc", "bb"], &["sim vpc: \"bb\" is not a zone letter"]);
}

#[test]
fn check_reports_every_problem() {
    let c = Cellar::with_config_copy();
    std::fs::write(c.config.join("servers/orval.ron"), "(\n    platform: \"debian-web\",\n    instance_type: \"m5.huge\",\n    zone: \"q\",\n    spawn: \"if then\",\n)\n").unwrap();
    std::fs::write(c.config.join("servers/rochefort.ron"), "(platform: \"nope\")\n").unwrap();
    let r = c.run(&["check"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for expected in ["orval.ron:3:", "orval.ron:4:", "orval.ron:5:", "rochefort.ron:1:"] {
        assert!(r.stderr.contains(expected), "expected {expected} in:\n{}", r.stderr);
    }
}

#[test]
fn config_shows_sources() {
    let c = Cellar::new();
    let r = c.ok(&["config", "ommegang"]);
    for expected in ["global.ron:", "platforms/debian-web.ron:", "servers/ommegang.ron:", "ommegang.imarc.net"] {
        assert!(r.stdout.contains(expected), "expected {expected} in:\n{}", r.stdout);
    }
}

#[test]
fn help_explains() {
    let c = Cellar::new();
    let r = c.ok(&["--help"]);
    assert!(r.stdout.contains("Exit codes"), "{}", r.stdout);
    let r = c.ok(&["plan", "--help"]);
    assert!(r.stdout.contains("create-server@NAME <ebs-gb>"), "{}", r.stdout);
}

#[test]
fn concurrent_processes_do_not_lose_each_others_changes() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    let children: Vec<_> = (0..12)
        .map(|k| {
            Command::new(env!("CARGO_BIN_EXE_cellar"))
                .arg("--config")
                .arg(&c.config)
                .arg("--sim-state")
                .arg(c.state())
                .args(["sim", "dns", &format!("host{k}.example.com"), &format!("192.0.2.{k}")])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let world = c.world();
    for k in 0..12 {
        assert_eq!(world.resolve_dns(&format!("host{k}.example.com")), vec![format!("192.0.2.{k}")], "record {k} lost");
    }
}

#[test]
fn commands_with_flags_plan_and_apply_from_the_cli() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let plan = c.ok(&["plan", "stop-auto-scaling@duvel", "--keep-group", "-o", "stop.ron"]);
    assert!(plan.stdout.contains("Plan for `stop-auto-scaling@duvel --keep-group`"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("delete auto scaling group"), "{}", plan.stdout);
    c.ok(&["apply", "stop.ron"]);
    assert_eq!(c.status("duvel")["health"], "stopped");
    assert_eq!(c.status("duvel")["auto_scaling"]["desired"], 0);
    c.ok(&["apply", "start-auto-scaling@duvel", "--yes"]);
    assert_eq!(c.status("duvel")["health"], "healthy");
    c.ok(&["apply", "create-workspace", "--yes"]);
    let bundle = c.ok(&["apply", "bundle-ami@workspace-1", "--copy-to", "us-west-2", "--yes"]);
    assert!(bundle.stdout.contains("copy the image of #1 to us-west-2 as web-server-2026-11-25"), "{}", bundle.stdout);
    check_bad_input(
        &c,
        &["plan", "upgrade-ami@duvel", "--keep-group"],
        &["--keep-group does not apply to upgrade-ami"],
    );
}

#[test]
fn nothing_to_do_is_no_changes_and_exit_zero() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let r = c.run(&["plan", "upgrade-ami@duvel", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    assert!(r.stdout.contains("already launches from web-server-2026-08-04"), "{}", r.stdout);
    let r = c.run(&["apply", "upgrade-ami@duvel"]);
    assert_eq!(r.code, 0, "an empty plan needs no confirmation: {}{}", r.stdout, r.stderr);
}

#[test]
fn refusals_leave_the_state_alone() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    check_bad_input(
        &c,
        &["plan", "start-auto-scaling@duvel"],
        &["duvel is already auto-scaling (group duvel, desired 1)"],
    );
    check_bad_input(&c, &["apply", "attach-instance@duvel", "--yes"], &["is already attached to volume"]);
    check_bad_input(&c, &["plan", "stop-auto-scaling@chimay"], &["chimay has no auto scaling group"]);
    check_bad_input(&c, &["plan", "upgrade-ami@chimay"], &["chimay is not auto-scaling"]);
    check_bad_input(&c, &["plan", "destroy-server@chimay"], &["chimay has no resources"]);
    check_bad_input(&c, &["plan", "bundle-ami@workspace-3"], &["workspace-3 has no running instance"]);
    check_bad_input(&c, &["plan", "create-workspace@w"], &["create-workspace takes no server"]);
}

#[test]
fn stale_plan_of_another_command_is_refused_from_the_cli() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["plan", "stop-auto-scaling@duvel", "-o", "stop.ron"]);
    c.ok(&["sim", "terminate", "duvel"]);
    let r = c.run(&["apply", "stop.ron"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("of duvel: running → shutting-down since plan"), "{}", r.stderr);
    assert!(r.stderr.contains("cellar plan stop-auto-scaling@duvel -o stop.ron"), "{}", r.stderr);
}

#[test]
fn diff_and_graph_of_saved_plans() {
    let c = Cellar::new();
    c.ok(&["plan", "create-server@duvel", "30", "-o", "a.ron"]);
    c.ok(&["plan", "create-server@duvel", "40", "t3.large", "-o", "b.ron"]);
    let same = c.ok(&["diff", "a.ron", "a.ron"]);
    assert_eq!(same.stdout, "No differences.\n");
    let r = c.run(&["diff", "a.ron", "b.ron"]);
    assert_eq!(r.code, 1, "plans that differ exit 1, like diff(1)");
    assert!(r.stdout.starts_with("--- a.ron\n+++ b.ron\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n-  + #1   create data volume of duvel: 30 GiB gp3 in us-east-1a\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n+  + #1   create data volume of duvel: 40 GiB gp3 in us-east-1a\n"), "{}", r.stdout);
    assert!(r.stdout.contains("t3.large"), "{}", r.stdout);

    let dot = c.ok(&["graph", "a.ron"]).stdout;
    assert!(dot.starts_with("digraph plan {"), "{dot}");
    assert!(dot.contains("s1 -> s3;"), "the volume is attached after it is created: {dot}");
    assert!(dot.contains("[style=dashed, color=red, label=\"on failure\"]"), "{dot}");
}

#[test]
fn fault_schedules_logs_and_seeds_from_the_cli() {
    let c = Cellar::new();
    c.ok(&["sim", "init", "--seed", "7"]);
    let example = fixtures().join("worlds/faults-example.ron");
    c.ok(&["sim", "faults", example.to_str().unwrap()]);
    let shown = c.ok(&["sim", "show"]).stdout;
    assert!(shown.contains("throttling"), "{shown}");
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let log = c.ok(&["sim", "log"]).stdout;
    assert!(log.lines().count() > 10, "{log}");
    assert!(log.lines().all(|l| l.starts_with("2026-11-25T")), "every entry has its virtual time:\n{log}");
    assert_eq!(c.ok(&["sim", "log", "--last", "3"]).stdout.lines().count(), 3);

    // The same seed and the same commands give the same trace.
    let d = Cellar::new();
    d.ok(&["sim", "init", "--seed", "7"]);
    d.ok(&["sim", "faults", example.to_str().unwrap()]);
    d.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!(d.ok(&["sim", "log"]).stdout, log);

    std::fs::write(c.dir.path().join("bad.ron"), "(throttling: yes)").unwrap();
    check_bad_input(&c, &["sim", "faults", "bad.ron"], &["bad.ron:1:", "not a fault schedule", "faults-example.ron"]);
    std::fs::write(c.dir.path().join("rate.ron"), "(transient_error_rate: 2.0)").unwrap();
    check_bad_input(&c, &["sim", "faults", "rate.ron"], &["rate.ron", "transient_error_rate"]);
    c.ok(&["sim", "faults", &fixtures().join("worlds/no-faults.ron").to_string_lossy()]);
    assert!(c.ok(&["sim", "show"]).stdout.contains("faults: none"));
}

#[test]
fn failed_respawn_shows_down_then_healthy_in_status() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["sim", "capacity", "us-east-1a", "m5.large", "0"]);
    c.ok(&["sim", "terminate", "duvel"]);
    c.ok(&["sim", "advance", "2m"]);
    let s = c.status("duvel");
    assert_eq!(s["health"], "down", "{s:#}");
    assert_eq!(s["reason"], "failed to respawn: InsufficientInstanceCapacity in us-east-1a");
    let text = c.ok(&["status", "duvel"]).stdout;
    assert!(text.contains("down") && text.contains("failed to respawn"), "{text}");
    // The other servers were never created: absent, which --fail-on never counts.
    assert_eq!(c.status("ommegang")["health"], "absent");
    check_fail_on(
        &c,
        &[(&["--fail-on", "down"], 2), (&["--fail-on", "degraded"], 2), (&["ommegang", "--fail-on", "down"], 0)],
    );
    c.ok(&["sim", "capacity", "us-east-1a", "m5.large", "5"]);
    c.ok(&["sim", "advance", "5m"]);
    assert_eq!(c.status("duvel")["health"], "healthy");
    check_fail_on(&c, &[(&["--fail-on", "down"], 0), (&["--fail-on", "degraded"], 0), (&[], 0)]);
}

/// `status --format json` is versioned (docs/status-json.md) and says each health by its
/// name: a half-created server (only its address, kept at a DNS gate) is incomplete.
#[test]
fn status_json_is_versioned_and_names_each_health() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!(c.run(&["apply", "create-server@ommegang", "20", "--yes"]).code, 3);
    let all: Value = serde_json::from_str(&c.ok(&["status", "--format", "json", "--no-drift"]).stdout).unwrap();
    assert_eq!(all["version"], 1);
    let health: Vec<(&str, &str)> = all["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["health"].as_str().unwrap()))
        .collect();
    assert_eq!(
        health,
        [
            ("achel", "absent"),
            ("chimay", "absent"),
            ("duvel", "healthy"),
            ("kwak", "absent"),
            ("ommegang", "incomplete")
        ]
    );
    assert_eq!(c.status("ommegang")["reason"], "no data volume; no instance; no auto scaling group");
}

/// Several servers are a table, a line each; one server is its details. The image is named
/// with its age, and flagged once a newer one of its type exists; `-o wide` adds volumes and
/// what the group launches from.
#[test]
fn status_of_several_servers_is_a_table_a_line_each() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    assert_eq!(c.run(&["apply", "create-server@ommegang", "20", "--yes"]).code, 3);
    c.ok(&["sim", "advance", "2h"]);
    let line = |text: &str, name: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
        line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
    };
    let table = c.ok(&["status", "--no-drift"]).stdout;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let columns = ["NAME", "HEALTH", "SINCE", "INSTANCE", "TYPE", "IMAGE", "AGE", "ZONE", "ADDRESS", "GROUP", "CONFIG"];
    assert_eq!(header, [&columns[..], &["REASON"]].concat(), "{table}");
    assert_eq!(table.lines().count(), 6, "a header and a line per server:\n{table}");
    let duvel = line(&table, "duvel");
    assert_eq!(duvel[..6], ["duvel", "healthy", "2h", "i-0001", "m5.large", "web-server-2026-08-04"], "{table}");
    assert_eq!(line(&table, "ommegang")[1], "incomplete", "{table}");
    assert_eq!(line(&table, "achel")[1..3], ["absent", "-"], "{table}");
    // A newer image of the type: duvel's is outdated.
    c.ok(&["apply", "create-workspace", "--yes"]);
    c.ok(&["apply", "bundle-ami@workspace-1", "--yes"]);
    let table = c.ok(&["status", "duvel,ommegang", "-o", "wide"]).stdout;
    let duvel = line(&table, "duvel");
    assert_eq!(duvel[5], "web-server-2026-08-04 (outdated)", "{table}");
    assert!(
        duvel.contains(&"vol-0001 30GiB".to_string()) && duvel.contains(&"template $Latest".to_string()),
        "{table}"
    );
    assert!(duvel.contains(&"differs".to_string()), "{table}");
    // One server: its details, with its group's last scaling activity.
    let details = c.ok(&["status", "duvel"]).stdout;
    assert!(details.starts_with("duvel        healthy   us-east-1\n  instance  i-0001"), "{details}");
    let activity = details.lines().find(|l| l.starts_with("  activity  ")).unwrap_or_else(|| panic!("{details}"));
    assert!(activity.contains(" succeeded: "), "{details}");
}

/// `cellar status ARGS` exits with each code, and prints the status either way.
#[track_caller]
fn check_fail_on(c: &Cellar, cases: &[(&[&str], i32)]) {
    for (args, code) in cases {
        let words: Vec<&str> = ["status", "--no-drift"].into_iter().chain(args.iter().copied()).collect();
        let r = c.run(&words);
        assert_eq!(r.code, *code, "cellar {}: {}{}", words.join(" "), r.stdout, r.stderr);
        assert!(r.stdout.contains("duvel") || r.stdout.contains("ommegang"), "{}", r.stdout);
    }
}

/// `sim address-quota` sets the Elastic IP quota: at 1 (duvel's address is held), the
/// create-server that must allocate fails with AddressLimitExceeded and leaves nothing;
/// `sim show` shows the quota; an absurd quota is refused and changes nothing.
#[test]
fn the_address_quota_is_a_sim_setting() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    assert!(c.ok(&["sim", "address-quota", "1"]).stdout.contains("1 Elastic IP(s) per region"));
    let r = c.run(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AddressLimitExceeded"), "{}", r.stdout);
    let show = c.ok(&["sim", "show"]).stdout;
    assert!(show.contains("Elastic IP quota: 1 per region"), "{show}");
    assert!(!show.contains("Name=ommegang"), "nothing left behind:\n{show}");
    check_bad_input(&c, &["sim", "address-quota", "100001"], &["sim address-quota", "above the limit of 100000"]);
}

#[test]
fn inconsistent_state_file_is_refused_not_a_crash() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    // Hand-edit the state file: the group's zone list emptied.
    let text = cellar_sim::render_world(&c.world());
    let group = text.find("groups: {").expect("duvel's group");
    let zones = group + text[group..].find("zones: [").expect("the group's zones");
    let end = zones + text[zones..].find(']').expect("end of the zones");
    std::fs::write(c.state(), format!("{}zones: []{}", &text[..zones], &text[end + 1..])).unwrap();
    check_bad_input(
        &c,
        &["status", "duvel"],
        &["sim.db is inconsistent: auto scaling group duvel has no zones", "cellar sim init"],
    );
    check_bad_input(&c, &["sim", "advance", "1m"], &["is inconsistent"]);
}

/// Bad input caught by `cellar check`, the simulator's strictness and the user data.
#[path = "cli/checks.rs"]
mod checks;

/// The front door: output (closed pipes, full disks), help, completions and man page,
/// colour, exit codes, bad input, workspaces, and the README's tour.
#[path = "cli/front_door.rs"]
mod front_door;

/// First contact with a real account, off AWS: missing credentials fail fast with the
/// credential chain named, `--profile`, and local commands refused off EC2.
#[cfg(feature = "aws")]
#[path = "cli/first_contact.rs"]
mod first_contact;

/// `cellar doctor` on the simulator: the operator's policy, DryRun, broken settings, JSON.
#[path = "cli/doctor.rs"]
mod doctor;

/// A plan is what was reviewed (edited plans, configuration changes) and what the person
/// sees while it is applied (waits, retries, `apply --format json`).
#[path = "cli/review.rs"]
mod review;

/// The apply journal: `kill -9` and Ctrl-C of a running apply, then resuming it; the DNS
/// gate as a pause; an interrupted compensation finished; a corrupt journal refused.
#[path = "cli/journal.rs"]
mod journal;

/// Fleets: selectors on the commands that take them.
#[path = "cli/fleet.rs"]
mod fleet;

/// The CLI on a generated configuration of 1,000 servers.
#[path = "cli/fleet_large.rs"]
mod fleet_large;

/// One operator at a time: a second apply to a server is refused naming the holder; a
/// killed apply's lock, `cellar unlock`, and the same plan taking its own lock over.
#[path = "cli/locks.rs"]
mod locks;

/// The configuration as desired state: `sync` finds drift, shows it and makes it go away.
#[path = "cli/sync.rs"]
mod sync;

// `cellar watch`.
#[path = "cli/watch.rs"]
mod watch;

// `backup@SERVER`.
#[path = "cli/backup.rs"]
mod backup;

// `restore-server@SERVER`: to a day's backups, into another zone, and undone on failure.
#[path = "cli/restore.rs"]
mod restore;

// Scheduled backups: `cellar watch` takes them alongside its looks, cron with `apply`.
#[path = "cli/backup_schedule.rs"]
mod backup_schedule;
