//! `cellar check` of the launch settings: each value where it is written, the EBS
//! combinations with the limit named, and the instance profile every server's agent needs.

use super::*;

const GLOBAL: &str = r#"(region: "us-east-1", zone: "a", instance_type: "m5.large", ami_type: "web-server",
    architecture: "x86_64", instance_profile: "cellar-agent")
"#;

/// Every problem `cellar check` reports when the server file `s.ron` holds `server` (and
/// the global file `global`), as `file:line:column: message (fix)`.
fn check_with(global: &str, server: &str, expected: &[&str]) {
    let files = [("global.ron", global), ("platforms/web.ron", "()"), ("servers/s.ron", server)];
    let tree = ConfigTree::from_files(Path::new("cfg"), files.into_iter().collect::<BTreeMap<&str, &str>>());
    let got: Vec<String> = tree
        .all_problems(None)
        .iter()
        .map(|p| match &p.fix {
            Some(fix) => format!("{}: {} (fix: {fix})", p.source, p.message),
            None => format!("{}: {}", p.source, p.message),
        })
        .collect();
    assert_eq!(got, expected, "server file: {server}");
}

fn check(server: &str, expected: &[&str]) {
    check_with(GLOBAL, server, expected);
}

/// Auto Scaling's launch configurations have no KMS key for their block devices.
#[test]
fn a_kms_key_needs_a_launch_template() {
    check(
        r#"(platform: "web", launch: Configuration, ebs: (kms_key: "alias/ebs"))"#,
        &["cfg/servers/s.ron:1:27: ebs.kms_key cannot go with `launch: Configuration`: a launch configuration cannot \
           name a KMS key for the root volume (fix: use `launch: Template`, or leave kms_key out (the account's \
           default EBS key))"],
    );
    check(r#"(platform: "web", launch: Template, ebs: (kms_key: "alias/ebs"))"#, &[]);
}

#[test]
fn valid_launch_settings_pass() {
    check(
        r#"(platform: "web", security_groups: ["web", "sg-0123456789abcdef0"], vpc: "vpc-01234567",
            key_name: "ops", metadata: (http_tokens: Optional, hop_limit: 2),
            ebs: (type: io2, iops: 8000, encrypted: true, kms_key: "alias/ebs"), ebs_size_gb: 100, root_volume_gb: 16)"#,
        &[],
    );
    check(r#"(platform: "web", subnets: {"a": "subnet-01234567", "b": "subnet-0123456789abcdef0"})"#, &[]);
    check(r#"(platform: "web", ebs: (type: gp3, iops: 6000, throughput: 500), ebs_size_gb: 20)"#, &[]);
    check(r#"(platform: "web", ebs: (type: st1), ebs_size_gb: 500)"#, &[]);
}

#[test]
fn a_server_without_an_instance_profile_is_an_error_naming_the_agent_policy() {
    let global = GLOBAL.replace(r#", instance_profile: "cellar-agent""#, "");
    check_with(
        &global,
        r#"(platform: "web")"#,
        &["cfg/servers/s.ron:1:1: server s has no `instance_profile`: its agent (cellar agent, in the user data) calls \
           EC2 with the instance's role, so without one it cannot attach the data volume or associate the address \
           (fix: create an instance profile whose role allows docs/agent-iam-policy.json, and set \
           `instance_profile: \"cellar-agent\"` in cfg/global.ron or cfg/platforms/web.ron or cfg/servers/s.ron)"],
    );
    check_with(
        &global,
        r#"(platform: "web", instance_profile: "arn:aws:iam::123456789012:instance-profile/web")"#,
        &[],
    );
}

#[test]
fn values_are_checked_where_they_are_written() {
    check(
        r#"(platform: "web", instance_profile: "cellar agent")"#,
        &["cfg/servers/s.ron:1:37: invalid instance profile \"cellar agent\": an instance profile name is 1 to 128 \
           letters, digits and +=,.@_- (or give its ARN)"],
    );
    check(
        r#"(platform: "web", security_groups: ["sg-123", "web", "web"])"#,
        &[
            "cfg/servers/s.ron:1:37: \"sg-123\" is not a security group id (sg- and 8 or 17 hex digits); names cannot start with sg-",
            "cfg/servers/s.ron:1:54: security group \"web\" is given twice (fix: remove one of them)",
        ],
    );
    check(
        r#"(platform: "web", vpc: "vpc-12")"#,
        &["cfg/servers/s.ron:1:24: \"vpc-12\" is not a VPC id (vpc- and 8 or 17 hex digits)"],
    );
    check(
        r#"(platform: "web", subnets: {"z": "subnet-01234567"})"#,
        &["cfg/servers/s.ron:1:29: subnets names zone \"z\", which region us-east-1 does not have (its zones are a, b, c, d, e, f)"],
    );
    check(
        r#"(platform: "web", metadata: (hop_limit: 65))"#,
        &["cfg/servers/s.ron:1:41: metadata.hop_limit must be between 1 and 64, not 65"],
    );
    check(
        r#"(platform: "web", ebs: (kms_key: "my key"))"#,
        &["cfg/servers/s.ron:1:34: invalid KMS key \"my key\" (fix: give a key id (1234abcd-12ab-34cd-56ef-1234567890ab), \
           an alias (alias/NAME) or the ARN of either)"],
    );
}

/// Invalid EBS combinations name the limit (AWS's documented limits per volume type).
#[test]
fn ebs_combinations_name_the_limit() {
    let one = |server: &str| {
        let files = [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/s.ron", server)];
        let tree = ConfigTree::from_files(Path::new("cfg"), files.into_iter().collect::<BTreeMap<&str, &str>>());
        tree.all_problems(None).iter().map(|p| p.message.clone()).collect::<Vec<_>>()
    };
    let check_ebs = |ebs: &str, size: u32, expected: &str| {
        let got = one(&format!(r#"(platform: "web", ebs: ({ebs}), ebs_size_gb: {size})"#));
        assert!(matches!(got.as_slice(), [m] if m.contains(expected)), "ebs: ({ebs}), {size} GiB: {got:?}");
    };
    check_ebs("type: gp2, iops: 3000", 20, "gp2");
    check_ebs("type: io2, iops: 1000, throughput: 200", 100, "throughput");
    check_ebs("type: io1", 100, "io1");
    check_ebs("type: io1, iops: 100", 2, "4");
    check_ebs("type: st1", 100, "125");
    check_ebs("type: gp2", 16385, "16384");
    check_ebs("type: gp3, iops: 90000", 1000, "80000");
    check_ebs("type: gp3, iops: 3000, throughput: 2001", 1000, "2000");
    check_ebs("type: gp3, encrypted: false, kms_key: \"alias/ebs\"", 20, "encrypt");
}

#[test]
fn a_layer_says_which_fields_it_sets() {
    let every = r#"(platform: "web", region: "us-east-1", zone: "a", instance_type: "m5.large",
        ami_type: "web-server", architecture: "x86_64", ebs_size_gb: 20, auto_scale_capacity: 1,
        persist: ["/etc"], dns_name: "s.example.com", tags: {"team": "web"}, spawn: "true",
        launch: Template, instance_profile: "p", security_groups: [], vpc: "vpc-01234567",
        subnets: {"a": "subnet-01234567"}, key_name: "k", metadata: (hop_limit: 2), ebs: (iops: 3000),
        root_volume_gb: 8, volumes: [(device: "/dev/sdf", mount: "/data")],
        health_check: (tcp: "{address}:22"), notify: (), backups: Off)"#;
    let kind = || layer::FileKind::Server("s".into());
    let (full, problems) = layer::parse("s.ron".into(), kind(), every);
    assert_eq!(problems, vec![]);
    let (empty, _) = layer::parse("s.ron".into(), kind(), "(tags: {})");
    for field in layer::FIELDS {
        assert!(full.has(field), "{field} is set");
        assert!(!empty.has(field), "{field} is not set");
    }
    assert!(!full.has("colour"));
}
