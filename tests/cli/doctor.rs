//! `cellar doctor` on the simulator, whose operator has an IAM policy (`cellar sim
//! operator-policy`) and whose EC2 calls answer DryRun as AWS does (moto does not check
//! permissions, so a missing one is tested here). Every finding names the server, the
//! setting with its file:line, and the fix; the doctor changes nothing.

use super::*;

/// `cellar doctor` after `cellar sim operator-policy POLICY...`: its exit code, and what its
/// output must (and must not) say.
fn check(policy: &[&str], code: i32, says: &[&str], never: &[&str]) {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    if !policy.is_empty() {
        let mut args = vec!["sim", "operator-policy"];
        args.extend(policy);
        c.ok(&args);
    }
    let before = std::fs::read(c.state()).unwrap();
    let r = c.run(&["doctor"]);
    assert_eq!(r.code, code, "{policy:?}\n{}{}", r.stdout, r.stderr);
    for needed in says {
        assert!(r.stdout.contains(needed), "{policy:?}: expected {needed:?} in\n{}", r.stdout);
    }
    for unwanted in never {
        assert!(!r.stdout.contains(unwanted), "{policy:?}: {unwanted:?} in\n{}", r.stdout);
    }
    assert_eq!(std::fs::read(c.state()).unwrap(), before, "doctor changed the state file");
}

#[test]
fn doctor_reports_what_the_operators_policy_lacks() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/iam-policy.json");
    let docs = docs.to_str().unwrap();
    let global = "config/global.ron:8:13"; // region
                                           // An administrator (the default world's operator): ready.
    check(
        &[],
        0,
        &[
            "ok      credentials: account 123456789012 as arn:aws:iam::123456789012:user/cellar-operator",
            "allowed (DryRun): ec2:RunInstances, ec2:CreateLaunchTemplate, ec2:CreateVolume",
            "allowed: ec2:DescribeInstances, ec2:DescribeVolumes, ec2:DescribeAddresses, ec2:DescribeLaunchTemplates, \
autoscaling:DescribeAutoScalingGroups, ec2:DescribeSnapshots",
            "note    not tried: Auto Scaling has no DryRun",
            "0 errors, 0 warnings, 1 note",
        ],
        &["error   "],
    );
    // cellar's own policy: ready too.
    check(&["--file", docs], 0, &["0 errors"], &["error   "]);
    // Without RunInstances: an error per server, naming the action, AWS's message and the fix.
    check(
        &["--file", docs, "--without", "ec2:RunInstances"],
        1,
        &[
            "error   duvel: ec2:RunInstances (region at ",
            global,
            "ec2:RunInstances is not allowed in us-east-1 (UnauthorizedOperation: You are not authorized to perform this operation. \
User: arn:aws:iam::123456789012:user/cellar-operator is not authorized to perform: ec2:RunInstances",
            "fix: allow ec2:RunInstances for these credentials (docs/iam-policy.json lists every action cellar needs)",
            "5 errors",
            "fix the errors above before the first apply",
        ],
        &["allowed (DryRun): ec2:RunInstances"],
    );
    // Without iam:PassRole: launching with the agent's instance profile is refused for it
    // (a dependent action), and the fix names it.
    check(
        &["--file", docs, "--without", "iam:PassRole"],
        1,
        &[
            "error   duvel: ec2:RunInstances (region at ",
            "ec2:RunInstances needs iam:PassRole, which is not allowed in us-east-1",
            "iam:PassRole on resource: arn:aws:iam::123456789012:role/cellar-agent",
            "fix: allow iam:PassRole for these credentials",
        ],
        &["allowed (DryRun): ec2:RunInstances"],
    );
    // Reads only: every changing call refused; Auto Scaling's reads too, in its own words.
    check(
        &["ec2:Describe*"],
        1,
        &[
            "error   ommegang: autoscaling:DescribeAutoScalingGroups",
            "AccessDenied",
            "error   ommegang: ec2:CreateVolume",
            "error   ommegang: ec2:AllocateAddress",
        ],
        &[],
    );
}

/// A broken tree: an AMI type with no image and a zone letter the account does not offer,
/// each named with its file:line and the fix.
#[test]
fn doctor_names_the_broken_settings() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    let duvel = c.config.join("servers/duvel.ron");
    let text = std::fs::read_to_string(&duvel).unwrap();
    std::fs::write(&duvel, text.replacen("    platform:", "    ami_type: \"db-server\",\n    platform:", 1)).unwrap();
    let r = c.run(&["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let at = format!("{}:3:15", duvel.display());
    let said = &r.stdout;
    assert!(
        said.contains(&format!("error   duvel: image (ami_type at {at}): no image named db-server-YYYY-MM-DD")),
        "{said}"
    );
    assert!(said.contains("web-server x86_64)") && said.contains("fix: bundle one"), "{said}");
    assert!(said.contains("ok      ommegang: image"), "the other servers are fine:\n{said}");
}

/// The network as the planner resolves it: a VPC with no subnet in the server's zone and a
/// security group that does not exist are errors at their settings' file:line, with the
/// fix; the other servers, in the default VPC, resolve.
#[test]
fn doctor_names_the_missing_group_and_subnet() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    let made = c.ok(&["sim", "vpc", "b"]).stdout;
    let vpc = made.split_whitespace().nth(1).expect("VPC id").to_string();
    assert!(vpc.starts_with("vpc-"), "{made}");
    let duvel = c.config.join("servers/duvel.ron");
    let text = std::fs::read_to_string(&duvel).unwrap();
    let settings = format!("    vpc: \"{vpc}\",\n    security_groups: [\"nosuch\"],\n    platform:");
    std::fs::write(&duvel, text.replacen("    platform:", &settings, 1)).unwrap();
    let r = c.run(&["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let said = &r.stdout;
    let vpc_at = format!("error   duvel: network (vpc at {}:3:10): zone us-east-1", duvel.display());
    assert!(said.contains(&vpc_at) && said.contains(&format!("has no subnet in VPC {vpc}")), "{said}");
    let group_at =
        format!("error   duvel: network (security_groups at {}:4:23): security group nosuch", duvel.display());
    assert!(said.contains(&group_at) && said.contains("fix: create it, or name one of those"), "{said}");
    assert!(said.contains("ok      ommegang: network (") && said.contains("security groups web (sg-"), "{said}");
}

/// `--format json`: the same findings for scripts, and `ready`.
#[test]
fn doctor_prints_json() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["sim", "operator-policy", "ec2:Describe*", "autoscaling:Describe*"]);
    let r = c.run(&["doctor", "--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("doctor prints JSON");
    assert_eq!(report["ready"], Value::Bool(false));
    let findings = report["findings"].as_array().unwrap();
    let run = findings
        .iter()
        .find(|f| f["server"] == "duvel" && f["subject"] == "ec2:RunInstances")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(run["severity"], "error");
    assert_eq!(run["setting"], "region");
    assert!(run["at"].as_str().unwrap().ends_with("config/global.ron:8:13"), "{run}");
    assert!(run["fix"].as_str().unwrap().starts_with("allow ec2:RunInstances"), "{run}");
    assert_eq!(
        report["summary"]["errors"].as_u64(),
        Some(findings.iter().filter(|f| f["severity"] == "error").count() as u64)
    );
}

/// `sim operator-policy` refuses what it cannot model, and changes nothing then.
#[test]
fn operator_policy_bad_input() {
    let c = Cellar::with_config_copy();
    c.ok(&["sim", "init"]);
    let policy = c.dir.path().join("deny.json");
    std::fs::write(&policy, r#"{"Statement": [{"Effect": "Deny", "Action": "ec2:RunInstances"}]}"#).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/iam-policy.json");
    let (policy, docs) = (policy.to_str().unwrap(), docs.to_str().unwrap());
    check_bad_input(&c, &["sim", "operator-policy", "ec2"], &["\"ec2\" is not an IAM action"]);
    check_bad_input(&c, &["sim", "operator-policy", "--file", policy], &["deny.json", "only Allow statements"]);
    check_bad_input(
        &c,
        &["sim", "operator-policy", "--file", docs, "--without", "ec2:RunInstance"],
        &["does not allow ec2:RunInstance", "fix:"],
    );
    check_bad_input(&c, &["sim", "operator-policy", "--file", "/nonexistent.json"], &["cannot read IAM policy"]);
    check_bad_input(&c, &["sim", "operator-policy"], &["required arguments were not provided", "<ACTIONS>"]);
    // Set, shown, and back to an administrator.
    c.ok(&["sim", "operator-policy", "ec2:Describe*"]);
    assert!(c.ok(&["sim", "show"]).stdout.contains("operator policy (what cellar's own calls may do): ec2:Describe*"));
    c.ok(&["sim", "operator-policy", "--admin"]);
    assert!(!c.ok(&["sim", "show"]).stdout.contains("operator policy (what"));
}

/// A server that exists: its console is read too (status reads it), the dry runs name its
/// resources where harmless, and nothing changes.
#[test]
fn doctor_on_a_running_server() {
    let c = Cellar::new();
    c.ok(&["sim", "init"]);
    c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    let before = std::fs::read(c.state()).unwrap();
    let r = c.ok(&["doctor"]);
    assert!(r.stdout.contains("ec2:DescribeSnapshots, ec2:GetConsoleOutput"), "{}", r.stdout);
    assert_eq!(std::fs::read(c.state()).unwrap(), before, "doctor changed the state file");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/iam-policy.json");
    c.ok(&["sim", "operator-policy", "--file", docs.to_str().unwrap(), "--without", "ec2:GetConsoleOutput"]);
    let r = c.run(&["doctor"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("error   ommegang: ec2:GetConsoleOutput") && r.stdout.contains("1 error,"),
        "{}",
        r.stdout
    );
    // The policy is saved with the world (and its refusal of real calls is the simulator's
    // rules test, the_operators_policy_answers_dry_runs_and_refuses_calls).
    assert_eq!(c.world().operator_actions().map(|a| a.contains("ec2:GetConsoleOutput")), Some(false));
}
