use super::*;

const DIR: &str = "cfg";

/// Reports a syntax error on every line of a hook that contains `BROKEN`.
struct FakeHooks;

impl HookChecker for FakeHooks {
    fn check(&self, script: &str) -> Result<(), Vec<HookSyntaxError>> {
        let errors: Vec<_> = script
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("BROKEN"))
            .map(|(i, _)| HookSyntaxError { line: i as u32 + 1, message: "unexpected token".into() })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

const GLOBAL: &str = r#"// global
(
    region: "us-east-1",
    zone: "a",
    instance_type: "m5.large",
    ami_type: "web-server",
    architecture: "x86_64",
    persist: ["/etc"],
    tags: {"owner": "ops", "team": "all"}, instance_profile: "cellar-agent",
)
"#;

const PLATFORM: &str = r#"(
    instance_type: "t3.medium",
    tags: {"team": "web"},
    persist: ["/etc", "/var/www"],
)
"#;

const SERVER: &str = r#"(
    platform: "web",
    zone: "b",
    tags: {"app": "shop"},
)
"#;

/// The base tree (global, platform `web`, server `s`) with some files replaced or added;
/// a file replaced by `None` is removed.
fn tree(changes: &[(&str, Option<&str>)]) -> ConfigTree {
    let mut files: BTreeMap<&str, &str> =
        [("global.ron", GLOBAL), ("platforms/web.ron", PLATFORM), ("servers/s.ron", SERVER)].into_iter().collect();
    for (path, text) in changes {
        match text {
            Some(text) => files.insert(path, text),
            None => files.remove(path),
        };
    }
    ConfigTree::from_files(Path::new(DIR), files)
}

fn render(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| format!("{}: {}", p.source, p.message)).collect()
}

/// Every problem `cellar check` reports for the base tree with `changes`, as `file:line:column: message`.
fn check_tree(changes: &[(&str, Option<&str>)], expected: &[&str]) {
    let got = render(&tree(changes).all_problems(Some(&FakeHooks)));
    assert_eq!(got, expected, "changes: {changes:#?}");
}

fn server(t: &ConfigTree, name: &str) -> Result<ServerConfig, ConfigErrors> {
    t.server(&ServerName::parse(name).unwrap())
}

fn check_entries(changes: &[(&str, Option<&str>)], expected: &[(&str, &str, &str)]) {
    let t = tree(changes);
    let config = server(&t, "s").unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, String, String)> =
        config.entries().into_iter().map(|(f, v, s)| (f, v, s.to_string())).collect();
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(f, v, s)| (f.to_string(), v.to_string(), s.to_string())).collect();
    assert_eq!(got, expected);
}

#[test]
fn merges_layers_with_provenance() {
    check_entries(
        &[],
        &[
            ("platform", "\"web\"", "cfg/servers/s.ron:2:15"),
            ("region", "\"us-east-1\"", "cfg/global.ron:3:13"),
            ("zone", "\"b\"", "cfg/servers/s.ron:3:11"),
            ("instance_type", "\"t3.medium\"", "cfg/platforms/web.ron:2:20"),
            ("ami_type", "\"web-server\"", "cfg/global.ron:6:15"),
            ("architecture", "\"x86_64\"", "cfg/global.ron:7:19"),
            ("ebs_size_gb", "None", "(default)"),
            ("auto_scale_capacity", "1", "(default)"),
            ("persist", "[\"/etc\", \"/var/www\"]", "cfg/platforms/web.ron:4:14"),
            ("dns_name", "None", "(default)"),
            ("tags.app", "\"shop\"", "cfg/servers/s.ron:4:12"),
            ("tags.owner", "\"ops\"", "cfg/global.ron:9:12"),
            ("tags.team", "\"web\"", "cfg/platforms/web.ron:3:12"),
            ("spawn", "None", "(default)"),
            ("launch", "Template", "(default)"),
            ("instance_profile", "\"cellar-agent\"", "cfg/global.ron:9:62"),
            ("security_groups", "[]", "(default)"),
            ("vpc", "None", "(default)"),
            ("subnets", "{}", "(default)"),
            ("key_name", "None", "(default)"),
            ("metadata.http_tokens", "Required", "(default)"),
            ("metadata.hop_limit", "None", "(default)"),
            ("ebs.type", "gp3", "(default)"),
            ("ebs.iops", "None", "(default)"),
            ("ebs.throughput", "None", "(default)"),
            ("ebs.encrypted", "true", "(default)"),
            ("ebs.kms_key", "None", "(default)"),
            ("root_volume_gb", "None", "(default)"),
            ("volumes", "None", "(default)"),
            ("health_check", "None", "(default)"),
            ("notify", "None", "(default)"),
            (
                "backups",
                "(daily_at: \"03:00\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [])",
                "(default)",
            ),
        ],
    );
}

#[test]
fn server_file_overrides_everything() {
    let server = r#"(platform: "web", region: "us-west-2", zone: "c", instance_type: "t4g.small",
 ami_type: "db", architecture: "arm64", ebs_size_gb: 50, auto_scale_capacity: 0,
 persist: [], dns_name: "s.example.com", tags: {"team": "db"}, spawn: "echo hi", launch: Configuration)"#;
    check_entries(
        &[("servers/s.ron", Some(server))],
        &[
            ("platform", "\"web\"", "cfg/servers/s.ron:1:12"),
            ("region", "\"us-west-2\"", "cfg/servers/s.ron:1:27"),
            ("zone", "\"c\"", "cfg/servers/s.ron:1:46"),
            ("instance_type", "\"t4g.small\"", "cfg/servers/s.ron:1:66"),
            ("ami_type", "\"db\"", "cfg/servers/s.ron:2:12"),
            ("architecture", "\"arm64\"", "cfg/servers/s.ron:2:32"),
            ("ebs_size_gb", "50", "cfg/servers/s.ron:2:54"),
            ("auto_scale_capacity", "0", "cfg/servers/s.ron:2:79"),
            ("persist", "[]", "cfg/servers/s.ron:3:11"),
            ("dns_name", "\"s.example.com\"", "cfg/servers/s.ron:3:25"),
            ("tags.owner", "\"ops\"", "cfg/global.ron:9:12"),
            ("tags.team", "\"db\"", "cfg/servers/s.ron:3:49"),
            ("spawn", "r#\"echo hi\"#", "cfg/servers/s.ron:3:71"),
            ("launch", "Configuration", "cfg/servers/s.ron:3:90"),
            ("instance_profile", "\"cellar-agent\"", "cfg/global.ron:9:62"),
            ("security_groups", "[]", "(default)"),
            ("vpc", "None", "(default)"),
            ("subnets", "{}", "(default)"),
            ("key_name", "None", "(default)"),
            ("metadata.http_tokens", "Required", "(default)"),
            ("metadata.hop_limit", "None", "(default)"),
            ("ebs.type", "gp3", "(default)"),
            ("ebs.iops", "None", "(default)"),
            ("ebs.throughput", "None", "(default)"),
            ("ebs.encrypted", "true", "(default)"),
            ("ebs.kms_key", "None", "(default)"),
            ("root_volume_gb", "None", "(default)"),
            ("volumes", "None", "(default)"),
            ("health_check", "None", "(default)"),
            ("notify", "None", "(default)"),
            (
                "backups",
                "(daily_at: \"03:00\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [])",
                "(default)",
            ),
        ],
    );
    let t = tree(&[("servers/s.ron", Some(server))]);
    let config = server_cfg(&t);
    assert_eq!(config.zone_name(), Zone::new("us-west-2c"));
    assert_eq!(config.architecture.value, Architecture::Arm64);
    assert_eq!(config.launch.value, LaunchKind::Configuration);
}

fn server_cfg(t: &ConfigTree) -> ServerConfig {
    server(t, "s").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_apply_when_no_layer_gives_a_value() {
    let global = r#"(region: "us-east-1", zone: "d", instance_type: "m5.large", ami_type: "web-server", architecture: "x86_64", instance_profile: "p")"#;
    let t = tree(&[
        ("global.ron", Some(global)),
        ("platforms/web.ron", Some("// nothing here\n")),
        ("servers/s.ron", Some("(platform: \"web\")")),
    ]);
    let c = server_cfg(&t);
    assert_eq!(c.auto_scale_capacity, Sourced::default_value(1));
    assert_eq!(c.persist, Sourced::default_value(vec![]));
    assert_eq!(c.launch, Sourced::default_value(LaunchKind::Template));
    assert_eq!((c.tags.len(), &c.dns_name, &c.spawn, &c.ebs_size_gb), (0, &None, &None, &None));
    assert_eq!(c.zone_name(), Zone::new("us-east-1d"));
    assert_eq!(c.file, Path::new("cfg/servers/s.ron"));
    let tags = c.entries().into_iter().find(|(f, _, _)| f == "tags").unwrap();
    assert_eq!((tags.1.as_str(), tags.2.to_string()), ("{}", "(default)".to_string()));
}

#[test]
fn global_file_is_optional() {
    let server = r#"(platform: "web", region: "us-east-2", zone: "a", ami_type: "web-server", architecture: "x86_64", instance_profile: "p")"#;
    let t = tree(&[("global.ron", None), ("servers/s.ron", Some(server))]);
    assert_eq!(server_cfg(&t).instance_type.value, InstanceType::new("t3.medium"));
}

#[test]
fn unknown_server() {
    let t = tree(&[("servers/other.ron", Some("(platform: \"web\")"))]);
    let err = server(&t, "nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cfg/servers/nope.ron: unknown server nope (known servers: other, s)\n  fix: add cfg/servers/nope.ron with at least `platform: \"<platform>\"`"
    );
    assert_eq!(t.server_names(), vec![ServerName::new("other"), ServerName::new("s")]);
}

#[test]
fn server_reports_its_problems() {
    let t = tree(&[("servers/s.ron", Some("(platform: \"web\", zone: \"z\", ebs_size_gb: 0)"))]);
    let err = server(&t, "s").unwrap_err();
    assert_eq!(
        render(&err.0),
        [
            "cfg/servers/s.ron:1:25: zone \"z\" does not exist in region us-east-1 (its zones are a, b, c, d, e, f)",
            "cfg/servers/s.ron:1:43: ebs_size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not 0",
        ]
    );
    // Hooks are not checked by `server`, only by `check`.
    let t = tree(&[("servers/s.ron", Some("(platform: \"web\", spawn: \"BROKEN\")"))]);
    assert!(server(&t, "s").is_ok());
}

#[test]
fn problem_display() {
    let p = Problem {
        source: Source { file: "cfg/global.ron".into(), line: 3, column: 5 },
        message: "unknown instance type \"m5.larg\"".into(),
        fix: Some("did you mean \"m5.large\"?".into()),
    };
    assert_eq!(
        p.to_string(),
        "cfg/global.ron:3:5: unknown instance type \"m5.larg\"\n  fix: did you mean \"m5.large\"?"
    );
    let q = Problem { fix: None, ..p.clone() };
    assert_eq!(ConfigErrors(vec![p, q.clone()]).to_string().lines().count(), 3);
    assert_eq!(q.to_string(), "cfg/global.ron:3:5: unknown instance type \"m5.larg\"");
}

#[test]
fn base_tree_is_clean() {
    check_tree(&[], &[]);
}

#[test]
fn malformed_ron() {
    check_tree(
        &[("servers/s.ron", Some("(\n  platform: \"web\",\n  zone: \"b\"\n  tags: {},\n)\n"))],
        &["cfg/servers/s.ron:4:3: malformed RON: Expected comma"],
    );
    check_tree(
        &[("platforms/web.ron", Some("(instance_type: \"t3.medium)\n"))],
        &["cfg/platforms/web.ron:1:18: malformed RON: Expected end of string"],
    );
    check_tree(
        &[("global.ron", Some("[\"us-east-1\"]"))],
        &["cfg/global.ron:1:1: expected a struct: `(field: value, ...)`"],
    );
}

#[test]
fn value_of_the_wrong_type() {
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\", zone: 2, launch: Tempalte, persist: \"/etc\", tags: [\"a\"])"))],
        &[
            "cfg/servers/s.ron:1:25: invalid value for `zone`: Expected string",
            "cfg/servers/s.ron:1:36: invalid value for `launch`: expected `Template` or `Configuration`, not `Tempalte`",
            "cfg/servers/s.ron:1:55: invalid value for `persist`: expected a list of directories",
            "cfg/servers/s.ron:1:69: invalid value for `tags`: expected a map of strings",
        ],
    );
}

#[test]
fn unknown_and_misplaced_fields() {
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\",\n regoin: \"us-east-1\", zone: \"b\", zone: \"c\")"))],
        &[
            "cfg/servers/s.ron:2:2: unknown field `regoin` (allowed fields: platform, region, zone, instance_type, ami_type, architecture, ebs_size_gb, auto_scale_capacity, persist, dns_name, tags, spawn, launch, instance_profile, security_groups, vpc, subnets, key_name, metadata, ebs, root_volume_gb, volumes, health_check, notify, backups)",
            "cfg/servers/s.ron:2:34: field `zone` is given twice",
        ],
    );
    let t = tree(&[("servers/s.ron", Some("(platform: \"web\", regoin: \"x\")"))]);
    assert_eq!(t.all_problems(None)[0].fix.as_deref(), Some("did you mean `region`?"));
    check_tree(
        &[("platforms/web.ron", Some("(platform: \"web\", colour: \"red\")"))],
        &[
            "cfg/platforms/web.ron:1:2: field `platform` is only allowed in server files",
            "cfg/platforms/web.ron:1:19: unknown field `colour` (allowed fields: region, zone, instance_type, ami_type, architecture, ebs_size_gb, auto_scale_capacity, persist, dns_name, tags, spawn, launch, instance_profile, security_groups, vpc, subnets, key_name, metadata, ebs, root_volume_gb, volumes, health_check, notify, backups)",
        ],
    );
}

#[test]
fn platforms() {
    check_tree(
        &[("servers/s.ron", Some("(\n  platform: \"wbe\",\n)"))],
        &["cfg/servers/s.ron:2:13: unknown platform \"wbe\": cfg/platforms/wbe.ron does not exist"],
    );
    let t = tree(&[("servers/s.ron", Some("(platform: \"wbe\")"))]);
    assert_eq!(t.all_problems(None)[0].fix.as_deref(), Some("did you mean \"web\"? (platforms: web)"));
    check_tree(
        &[("servers/s.ron", Some("(zone: \"b\")"))],
        &["cfg/servers/s.ron:1:1: server file does not name its `platform`"],
    );
}

#[test]
fn invalid_server_file_name() {
    check_tree(
        &[("servers/Duvel_2.ron", Some("(platform: \"web\", zone: \"bb\")"))],
        &[
            "cfg/servers/Duvel_2.ron:1:1: the file name is not a valid server name: invalid server name \"Duvel_2\": it does not start with a lowercase letter (use 1-63 lowercase letters, digits and '-', starting with a letter)",
            "cfg/servers/Duvel_2.ron:1:25: zone must be a single letter such as \"a\", not \"bb\"",
        ],
    );
    let t = tree(&[("servers/Duvel_2.ron", Some("(platform: \"web\")"))]);
    assert_eq!(t.all_problems(None)[0].fix.as_deref(), Some("rename it to cfg/servers/duvel-2.ron"));
    assert_eq!(t.server_names(), vec![ServerName::new("s")]);
}

#[test]
fn regions_and_zones() {
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\", region: \"us-east-9\", zone: \"us-east-1a\")"))],
        &[
            "cfg/servers/s.ron:1:27: unknown region \"us-east-9\"",
            "cfg/servers/s.ron:1:46: zone must be a single letter such as \"a\", not \"us-east-1a\"",
        ],
    );
    // Zone letter not in the region; reported at the later layer of the two.
    check_tree(
        &[
            ("global.ron", Some(&GLOBAL.replace("zone: \"a\"", "zone: \"b\""))),
            ("servers/s.ron", Some("(platform: \"web\", region: \"us-west-1\")")),
        ],
        &["cfg/servers/s.ron:1:27: zone \"b\" does not exist in region us-west-1 (its zones are a, c)"],
    );
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\",\n zone: \"f\", region: \"us-east-2\")"))],
        &["cfg/servers/s.ron:2:8: zone \"f\" does not exist in region us-east-2 (its zones are a, b, c)"],
    );
    let t = tree(&[("servers/s.ron", Some("(platform: \"web\", zone: \"g\")"))]);
    assert_eq!(t.all_problems(None)[0].fix.as_deref(), Some("use one of a, b, c, d, e, f"));
}

#[test]
fn instance_types_and_architectures() {
    // A bad value in global.ron is reported once, at global.ron, however many servers use it.
    check_tree(
        &[
            ("global.ron", Some(&GLOBAL.replace("m5.large", "m5.larg"))),
            ("servers/t.ron", Some("(platform: \"web\", instance_type: \"m5.larj\")")),
            ("platforms/web.ron", Some("(tags: {})")),
        ],
        &[
            "cfg/global.ron:5:20: unknown instance type \"m5.larg\"",
            "cfg/servers/t.ron:1:34: unknown instance type \"m5.larj\"",
        ],
    );
    let t = tree(&[("platforms/web.ron", Some("(instance_type: \"m5.larg\")"))]);
    assert_eq!(t.all_problems(None)[0].fix.as_deref(), Some("did you mean \"m5.large\"?"));
    // Cannot run the architecture: at whichever of the two is set later.
    check_tree(
        &[("platforms/web.ron", Some("(instance_type: \"t4g.small\")"))],
        &["cfg/platforms/web.ron:1:17: instance type t4g.small cannot run x86_64 (it runs arm64)"],
    );
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\", architecture: \"i386\")"))],
        &["cfg/servers/s.ron:1:33: instance type t3.medium cannot run i386 (it runs x86_64)"],
    );
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\", architecture: \"amd64\")"))],
        &["cfg/servers/s.ron:1:33: unknown architecture \"amd64\" (known: x86_64, i386, arm64)"],
    );
}

#[test]
fn sizes_capacity_persist_dns_and_tags() {
    check_tree(
        &[(
            "servers/s.ron",
            Some(
                r#"(
    platform: "web",
    ebs_size_gb: 70000,
    auto_scale_capacity: 2,
    persist: ["/etc", "var/www"],
    dns_name: "bad..name",
    tags: {"Name": "x", "cellar:role": "data", "AWS:x": "y", "ok": "fine"},
)"#,
            ),
        )],
        &[
            "cfg/servers/s.ron:3:18: ebs_size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not 70000",
            "cfg/servers/s.ron:4:26: auto_scale_capacity must be 0 (no auto scaling group) or 1 (keep the server running), not 2",
            "cfg/servers/s.ron:5:23: persisted directory \"var/www\" is not an absolute path",
            "cfg/servers/s.ron:6:15: invalid DNS name \"bad..name\"",
            "cfg/servers/s.ron:7:12: tag key \"Name\" is reserved: cellar sets `Name` to the server's name",
            "cfg/servers/s.ron:7:25: tag key \"cellar:role\" is reserved: keys starting with `cellar:` are cellar's own",
            "cfg/servers/s.ron:7:48: tag key \"AWS:x\" is reserved: keys starting with `aws:` are reserved by AWS",
        ],
    );
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\", ebs_size_gb: -1)"))],
        &["cfg/servers/s.ron:1:32: ebs_size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not -1"],
    );
}

#[test]
fn spawn_hook_lines_map_into_the_file() {
    let server = "(\n    platform: \"web\",\n    spawn: r#\"\nset -eu\nif true; then BROKEN\nfi\n\"#,\n)\n";
    check_tree(
        &[("servers/s.ron", Some(server))],
        &["cfg/servers/s.ron:5:1: spawn hook: syntax error on line 3 of the script: unexpected token"],
    );
    // An escaped string: lines start after each `\n`.
    check_tree(
        &[("platforms/web.ron", Some("(spawn: \"echo a\\necho BROKEN\")"))],
        &["cfg/platforms/web.ron:1:18: spawn hook: syntax error on line 2 of the script: unexpected token"],
    );
}

#[test]
fn user_data_limit() {
    let big = format!("(platform: \"web\",\n spawn: r#\"{}\"#)", "echo hello\n".repeat(1600));
    check_tree(
        &[("servers/s.ron", Some(&big))],
        &["cfg/servers/s.ron:2:9: the user data of server s would be 17890 bytes, over AWS's limit of 16384 bytes"],
    );
    let fits = format!("(platform: \"web\",\n spawn: r#\"{}\"#)", "echo hello\n".repeat(1400));
    check_tree(&[("servers/s.ron", Some(&fits))], &[]);
}

#[test]
fn missing_required_fields() {
    let global = r#"(region: "us-east-1", ami_type: "web-server", instance_profile: "p")"#;
    check_tree(
        &[
            ("global.ron", Some(global)),
            (
                "servers/t.ron",
                Some("(platform: \"web\", zone: \"a\", architecture: \"arm64\", instance_type: \"m6g.large\")"),
            ),
        ],
        &["cfg/servers/s.ron:1:1: server s has no `architecture`: no layer sets it"],
    );
    let t = tree(&[("global.ron", Some(global))]);
    assert_eq!(
        t.all_problems(None)[0].fix.as_deref(),
        Some("set `architecture: \"x86_64\"` in cfg/global.ron or cfg/platforms/web.ron or cfg/servers/s.ron")
    );
    // A field whose value failed to parse is not reported missing as well.
    check_tree(
        &[("global.ron", Some(&GLOBAL.replace("\"x86_64\"", "x86_64")))],
        &["cfg/global.ron:7:19: invalid value for `architecture`: Expected string"],
    );
}

#[test]
fn loads_and_checks_the_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    assert_eq!(render(&check(&dir, &FakeHooks)), Vec::<String>::new());
    let tree = ConfigTree::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.dir(), dir);
    let names: Vec<String> = tree.server_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(names, ["achel", "chimay", "duvel", "kwak", "ommegang"]);
    for name in tree.server_names() {
        let c = tree.server(&name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.region.value, Region::new("us-east-1"));
        assert!(('a'..='d').contains(&c.zone.value), "{name}: zone {}", c.zone.value);
        assert_eq!(c.dns_name.as_ref().map(|d| d.value.clone()), Some(format!("{name}.imarc.net")));
    }
    let ommegang = tree.server(&ServerName::new("ommegang")).unwrap();
    assert_eq!(ommegang.zone_name(), Zone::new("us-east-1b"));
    assert_eq!(ommegang.zone.source.file, dir.join("servers/ommegang.ron"));
    assert!(ommegang.spawn.is_some());
    let duvel = tree.server(&ServerName::new("duvel")).unwrap();
    assert_eq!(duvel.instance_type.value, InstanceType::new("m5.large"));
    let chimay = tree.server(&ServerName::new("chimay")).unwrap();
    assert_eq!(chimay.auto_scale_capacity.value, 0);
}

#[test]
fn load_reports_every_problem_and_missing_dirs() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-config-dir");
    let err = ConfigTree::load(&missing).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].message, "configuration directory not found");
    assert_eq!(
        render(&check(&missing, &FakeHooks)),
        [format!("{}: configuration directory not found", missing.display())]
    );
}

#[test]
fn spawn_renders_as_a_raw_string() {
    assert_eq!(raw_string("echo \"hi\"\n"), "r#\"echo \"hi\"\n\"#");
    assert_eq!(raw_string("echo \"#x\""), "r##\"echo \"#x\"\"##");
}

/// The effective spawn hook of server `s` when the global, platform and server files set
/// the given hooks (`None`: the file sets none): its text and where it came from.
fn check_spawn(global: Option<&str>, platform: Option<&str>, server: Option<&str>, expected: Option<(&str, &str)>) {
    let with = |base: &str, hook: Option<&str>| match hook {
        Some(h) => format!(
            "{},\n    spawn: {h:?},\n)\n",
            base.trim_end().trim_end_matches(')').trim_end().trim_end_matches(',')
        ),
        None => base.to_string(),
    };
    let files = [
        ("global.ron", with(GLOBAL, global)),
        ("platforms/web.ron", with(PLATFORM, platform)),
        ("servers/s.ron", with(SERVER, server)),
    ];
    let t = tree(&files.iter().map(|(p, text)| (*p, Some(text.as_str()))).collect::<Vec<_>>());
    let spawn = server_cfg(&t).spawn.map(|s| (s.value, s.source.to_string()));
    let expected = expected.map(|(v, s)| (v.to_string(), s.to_string()));
    assert_eq!(spawn, expected, "global {global:?}, platform {platform:?}, server {server:?}");
}

#[test]
fn later_layers_override_the_spawn_hook() {
    check_spawn(None, None, None, None);
    check_spawn(Some("echo g"), None, None, Some(("echo g", "cfg/global.ron:10:12")));
    check_spawn(Some("echo g"), Some("echo p"), None, Some(("echo p", "cfg/platforms/web.ron:5:12")));
    check_spawn(None, Some("echo p"), Some("echo s"), Some(("echo s", "cfg/servers/s.ron:5:12")));
    check_spawn(Some("echo g"), Some("echo p"), Some("echo s"), Some(("echo s", "cfg/servers/s.ron:5:12")));
    check_spawn(Some("echo g"), None, Some("echo s"), Some(("echo s", "cfg/servers/s.ron:5:12")));
}

#[test]
fn hook_errors_point_into_the_layer_that_sets_the_hook() {
    // The server's hook replaces the platform's: a syntax error is reported in the server's
    // file, at the line of the hook it is on.
    let platform = "(spawn: \"echo fine\")";
    let server = "(platform: \"web\",\n spawn: \"echo a\\necho BROKEN\")";
    check_tree(
        &[("platforms/web.ron", Some(platform)), ("servers/s.ron", Some(server))],
        &["cfg/servers/s.ron:2:18: spawn hook: syntax error on line 2 of the script: unexpected token"],
    );
}

#[test]
fn default_sources() {
    let check = |source: Source, default: bool, shown: &str| {
        assert_eq!((source.is_default(), source.to_string().as_str()), (default, shown), "{source:?}");
    };
    check(Source::default_value(), true, "(default)");
    check(Source { file: DEFAULT_SOURCE.into(), line: 3, column: 1 }, false, "(default):3:1");
    check(Source::file("cfg/servers/s.ron"), false, "cfg/servers/s.ron");
    check(Source { file: "cfg/global.ron".into(), line: 2, column: 7 }, false, "cfg/global.ron:2:7");
}

#[test]
fn tag_values_are_the_merged_tags() {
    let c = server_cfg(&tree(&[]));
    let tags: Vec<(String, String)> = c.tag_values().into_iter().collect();
    let expected = [("app", "shop"), ("owner", "ops"), ("team", "web")];
    assert_eq!(tags, expected.map(|(k, v)| (k.to_string(), v.to_string())));
}

#[test]
fn files_outside_the_layout_are_ignored() {
    // Only global.ron, platforms/*.ron and servers/*.ron are layers.
    let t = tree(&[
        ("other.ron", Some("(region: \"us-west-2\")")),
        ("notes/global.ron", Some("(region: \"us-west-2\")")),
        ("servers/s.txt", Some("not RON")),
    ]);
    assert_eq!(server_cfg(&t).region.value, Region::new("us-east-1"));
    assert_eq!(t.server_names(), vec![ServerName::new("s")]);
    assert_eq!(render(&t.all_problems(Some(&FakeHooks))), Vec::<String>::new());
}

/// `defaults()` of the base tree with `changes`: the global settings as one line, or the
/// problems it reports.
fn check_defaults(changes: &[(&str, Option<&str>)], expected: Result<&str, &[&str]>) {
    let got = tree(changes).defaults().map(|d| {
        let tags: Vec<String> = d.tag_values().iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{} {} {} {} [{}] zone from {}",
            d.region.value,
            d.zone.value,
            d.ami_type.value,
            d.architecture.value,
            tags.join(" "),
            d.zone.source
        )
    });
    let got = got.map_err(|e| render(&e.0));
    let expected = expected.map(String::from).map_err(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(got, expected, "changes: {changes:#?}");
}

#[test]
fn defaults_come_from_global_ron_alone() {
    check_defaults(&[], Ok("us-east-1 a web-server x86_64 [owner=ops team=all] zone from cfg/global.ron:4:11"));
    // Other files' problems are theirs: a broken server file does not stop create-workspace.
    check_defaults(
        &[("servers/t.ron", Some("(platform: \"web\""))],
        Ok("us-east-1 a web-server x86_64 [owner=ops team=all] zone from cfg/global.ron:4:11"),
    );
    check_defaults(
        &[("global.ron", Some("(region: \"us-east-1\", ami_type: \"web-server\", architecture: \"x86_64\")"))],
        Err(&["cfg/global.ron:1:1: zone is not set in global.ron, and this command needs it"]),
    );
    check_defaults(
        &[("global.ron", Some("(region: \"us-east-1\", zone: 7, ami_type: \"web-server\", architecture: \"x86_64\")"))],
        Err(&[
            "cfg/global.ron:1:1: zone is not set in global.ron, and this command needs it",
            "cfg/global.ron:1:29: invalid value for `zone`: Expected string",
        ]),
    );
    check_defaults(
        &[("global.ron", None)],
        Err(&["cfg/global.ron: there is no global.ron, and this command takes its region, zone, AMI type and architecture from it"]),
    );
}

#[test]
fn a_server_is_not_refused_for_another_files_problems() {
    let t = tree(&[("servers/t.ron", Some("(platform: \"web\""))]);
    assert!(server(&t, "s").is_ok(), "{:?}", server(&t, "s"));
    let err = server(&t, "t").unwrap_err();
    assert!(render(&err.0).iter().any(|p| p.starts_with("cfg/servers/t.ron:") && p.contains("malformed RON")), "{err}");
    assert_eq!(t.platform_names(), ["web"]);
}

#[test]
fn an_invalid_value_shows_how_to_write_the_field() {
    let check = |field: &str, bad: &str, fix: &str| {
        let text = if field == "platform" {
            format!("(platform: {bad})")
        } else {
            format!("(platform: \"web\", {field}: {bad})")
        };
        let problems = tree(&[("servers/s.ron", Some(&text))]).all_problems(None);
        let invalid = problems
            .iter()
            .find(|p| p.message.starts_with(&format!("invalid value for `{field}`")))
            .unwrap_or_else(|| panic!("{text}: {problems:#?}"));
        assert_eq!(invalid.fix.as_deref(), Some(fix), "{text}");
    };
    check("platform", "7", "write it like `platform: \"debian-web\"`");
    check("region", "7", "write it like `region: \"us-east-1\"`");
    check("zone", "7", "write it like `zone: \"a\"`");
    check("instance_type", "7", "write it like `instance_type: \"m5.large\"`");
    check("ami_type", "7", "write it like `ami_type: \"web-server\"`");
    check("architecture", "7", "write it like `architecture: \"x86_64\"`");
    check("ebs_size_gb", "\"20\"", "write it like `ebs_size_gb: 20`");
    check("auto_scale_capacity", "\"1\"", "write it like `auto_scale_capacity: 1`");
    check("persist", "\"/etc\"", "write it like `persist: [\"/etc\", \"/var/www\"]`");
    check("persist", "[7]", "write it like `persist: [\"/etc\", \"/var/www\"]`");
    check("dns_name", "7", "write it like `dns_name: \"ommegang.example.com\"`");
    check("tags", "[\"a\"]", "write it like `tags: {\"team\": \"web\"}`");
    check("tags", "{\"a\": 7}", "write it like `tags: {\"team\": \"web\"}`");
    check("spawn", "7", "write it like `spawn: r#\"apt-get install -y figlet\"#`");
    check("launch", "Tempalte", "write it like `launch: Template`");
}

#[test]
fn ron_attributes_and_a_struct_name_are_allowed() {
    let check = |text: &str, zone_at: &str| {
        let t = tree(&[("servers/s.ron", Some(text))]);
        assert_eq!(render(&t.all_problems(Some(&FakeHooks))), Vec::<String>::new(), "{text}");
        let zone = server_cfg(&t).zone;
        assert_eq!((zone.value, zone.source.to_string().as_str()), ('c', zone_at), "{text}");
    };
    check("(platform: \"web\", zone: \"c\")", "cfg/servers/s.ron:1:25");
    check("Server(platform: \"web\", zone: \"c\")", "cfg/servers/s.ron:1:31");
    check("#![enable(implicit_some)]\n(platform: \"web\", zone: \"c\")", "cfg/servers/s.ron:2:25");
    check(
        "#![enable(implicit_some)]\n#![enable(unwrap_newtypes)]\nServer(\n  platform: \"web\",\n  zone: \"c\",\n)",
        "cfg/servers/s.ron:5:9",
    );
}

#[test]
fn raw_string_hooks_keep_quotes_commas_and_brackets() {
    // Inside r#"..."# and r##"..."## nothing ends the value early: not a quote, a comma,
    // a bracket or a lone `"#`.
    let check = |value: &str, hook: &str| {
        let text = format!("(platform: \"web\",\n spawn: {value},\n zone: \"c\")");
        let t = tree(&[("servers/s.ron", Some(&text))]);
        assert_eq!(render(&t.all_problems(Some(&FakeHooks))), Vec::<String>::new(), "{text}");
        let c = server_cfg(&t);
        assert_eq!(c.spawn.map(|s| s.value).as_deref(), Some(hook), "{text}");
        assert_eq!(c.zone.source.to_string(), "cfg/servers/s.ron:3:8", "{text}");
    };
    check(r##"r#"printf "%s, %s\n" "[a]" "{b}""#"##, r#"printf "%s, %s\n" "[a]" "{b}""#);
    check(r###"r##"echo "#(x)", y"##"###, r##"echo "#(x)", y"##);
    check(r#"r"echo (a, b)""#, "echo (a, b)");
    // A hook's lines map into the file for raw strings with hashes too.
    check_tree(
        &[("servers/s.ron", Some("(platform: \"web\",\n spawn: r##\"echo \"#\"\nBROKEN\"##)"))],
        &["cfg/servers/s.ron:3:1: spawn hook: syntax error on line 2 of the script: unexpected token"],
    );
}

#[test]
fn malformed_ron_positions_count_characters() {
    // ron reports the byte column; the problem names the character column (`zone` is the
    // 36th character and starts at byte 39).
    check_tree(
        &[("servers/s.ron", Some("(platform: \"wéb\", tags: {\"é\": \"ü\"} zone: \"b\")"))],
        &["cfg/servers/s.ron:1:36: malformed RON: Expected comma"],
    );
}

/// Every problem (with its fix) `cellar check` reports when server `s` sets `fields`
/// (RON text after `platform: "web", `), as `line:column: message [fix]`.
fn check_fields(fields: &str, expected: &[&str]) {
    let text = format!("(platform: \"web\", {fields})");
    let got: Vec<String> = tree(&[("servers/s.ron", Some(&text))])
        .all_problems(Some(&FakeHooks))
        .iter()
        .map(|p| {
            let fix = p.fix.as_deref().map(|f| format!(" [{f}]")).unwrap_or_default();
            format!("{}:{}: {}{fix}", p.source.line, p.source.column, p.message)
        })
        .collect();
    assert_eq!(got, expected, "{text}");
}

#[test]
fn value_limits_and_fixes() {
    // Zones: one lowercase letter; a whole zone name gets its letter suggested.
    check_fields(
        "zone: \"B\"",
        &["1:25: zone must be a single letter such as \"a\", not \"B\" [write the zone's letter, like zone: \"a\"]"],
    );
    check_fields(
        "zone: \"us-east-1a\"",
        &["1:25: zone must be a single letter such as \"a\", not \"us-east-1a\" [write only the zone's letter: zone: \"a\"]"],
    );
    check_fields(
        "zone: \"A1\"",
        &["1:25: zone must be a single letter such as \"a\", not \"A1\" [write the zone's letter, like zone: \"a\"]"],
    );
    // DNS names: letters, digits and inner hyphens.
    check_fields("dns_name: \"my-host.example.com\"", &[]);
    check_fields(
        "dns_name: \"my_host.example.com\"",
        &["1:29: invalid DNS name \"my_host.example.com\" [use a host name such as \"ommegang.example.com\"]"],
    );
    // AMI types: no blanks.
    check_fields(
        "ami_type: \"web server\"",
        &["1:29: invalid AMI type \"web server\": images are named <ami-type>-<YYYY-MM-DD> [use a name such as \"web-server\"]"],
    );
    // Architectures: common other spellings are recognised.
    check_fields(
        "architecture: \"amd64\"",
        &["1:33: unknown architecture \"amd64\" (known: x86_64, i386, arm64) [did you mean \"x86_64\"?]"],
    );
    check_fields(
        "architecture: \"aarch64\"",
        &["1:33: unknown architecture \"aarch64\" (known: x86_64, i386, arm64) [did you mean \"arm64\"?]"],
    );
    check_fields(
        "architecture: \"sparc\"",
        &["1:33: unknown architecture \"sparc\" (known: x86_64, i386, arm64) [use one of x86_64, i386, arm64]"],
    );
    // A type that cannot run the architecture: an example type that can.
    check_fields(
        "instance_type: \"m5.large\", architecture: \"arm64\"",
        &["1:34: instance type m5.large cannot run arm64 (it runs x86_64) [set architecture to x86_64, or choose an instance type that runs arm64 such as m6g.large]"],
    );
    check_fields(
        "instance_type: \"t4g.small\", architecture: \"i386\"",
        &["1:34: instance type t4g.small cannot run i386 (it runs arm64) [set architecture to arm64, or choose an instance type that runs i386 such as m1.small]"],
    );
    // EBS sizes: 1 to 65536 GiB (gp3's limits, the widest), both ends included.
    check_fields("ebs_size_gb: 1", &[]);
    check_fields("ebs_size_gb: 65536", &[]);
    check_fields(
        "ebs_size_gb: 65537",
        &["1:32: ebs_size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not 65537"],
    );
    // Tags: keys of 1 to 128 characters, values up to 256.
    let key = |n: usize| "k".repeat(n);
    check_fields(&format!("tags: {{\"{}\": \"v\"}}", key(128)), &[]);
    check_fields(&format!("tags: {{\"{}\": \"v\"}}", key(129)), &["1:26: tag keys must be 1 to 128 characters long"]);
    check_fields("tags: {\"\": \"v\"}", &["1:26: tag keys must be 1 to 128 characters long"]);
    check_fields(&format!("tags: {{\"k\": \"{}\"}}", "v".repeat(256)), &[]);
    check_fields(
        &format!("tags: {{\"k\": \"{}\"}}", "v".repeat(257)),
        &["1:31: the value of tag \"k\" is longer than 256 characters"],
    );
}

#[test]
fn user_data_limit_is_inclusive() {
    use crate::agent::{user_data, AgentInvocation, USER_DATA_LIMIT};
    use crate::model::AgentMode;
    // A hook that makes the server's user data exactly `len` bytes long.
    let hook_for = |len: usize| {
        let size = |hook: &str| {
            user_data(&AgentInvocation {
                mode: AgentMode::Persist,
                server: ServerName::new("s"),
                persist: vec!["/etc".into(), "/var/www".into()],
                spawn_hook: Some(hook.to_string()),
                volumes: vec![],
            })
            .unwrap()
            .len()
        };
        let hook = "x".repeat(len - size("x") + 1);
        assert_eq!(size(&hook), len);
        hook
    };
    let file = |hook: String| format!("(platform: \"web\",\n spawn: r#\"{hook}\"#)");
    check_tree(&[("servers/s.ron", Some(&file(hook_for(USER_DATA_LIMIT))))], &[]);
    check_tree(
        &[("servers/s.ron", Some(&file(hook_for(USER_DATA_LIMIT + 1))))],
        &["cfg/servers/s.ron:2:9: the user data of server s would be 16385 bytes, over AWS's limit of 16384 bytes"],
    );
}

/// What `forget` drops is worked out again, the same, on the next ask; an unknown name is
/// ignored.
#[test]
fn a_forgotten_server_is_worked_out_again() {
    let mut t = tree(&[]);
    let name = ServerName::parse("s").unwrap();
    let (config, settings, tags) = {
        let planned = t.planned(&name).unwrap();
        (planned.config.clone(), planned.settings.clone(), planned.tags.clone())
    };
    let first = Arc::as_ptr(t.settings(&name).unwrap());
    t.forget(&[name.clone(), ServerName::parse("unknown").unwrap()]);
    let planned = t.planned(&name).unwrap();
    assert_eq!((planned.config, planned.settings, planned.tags), (&config, &settings, &tags));
    assert_ne!(Arc::as_ptr(planned.settings), first, "worked out again, not kept");
}
