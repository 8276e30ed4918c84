use super::*;
use crate::planner::COMMANDS;

/// Parses `input` (words, flags among them) and renders the canonical command or the error.
fn check(input: &str, expected: &str) {
    let words: Vec<String> = input.split_whitespace().map(String::from).collect();
    let got = match parse_words(COMMANDS, &words) {
        Ok(command) => format!("ok: {command}"),
        Err(e) => format!("error: {e}"),
    };
    assert_eq!(got, expected, "input {input:?}");
}

#[test]
fn create_server() {
    check("create-server@ommegang 20", "ok: create-server@ommegang 20");
    check(
        "create-server@ommegang 20 m5.large web-server us-east-1 b",
        "ok: create-server@ommegang 20 m5.large web-server us-east-1 b",
    );
    check("create-server@ommegang 20 - - - c", "ok: create-server@ommegang 20 - - - c");
    check("create-server@ommegang", "ok: create-server@ommegang");
    check(
        "create-server@ommegang 0",
        "error: argument 1 (EBS size in GB) \"0\" is invalid: must be between 1 and 65536 GB (the smallest and largest EBS volumes)",
    );
    check(
        "create-server@ommegang 65537",
        "error: argument 1 (EBS size in GB) \"65537\" is invalid: must be between 1 and 65536 GB (the smallest and largest EBS volumes)",
    );
    check(
        "create-server@ommegang big",
        "error: argument 1 (EBS size in GB) \"big\" is invalid: not a whole number of GB",
    );
    check(
        "create-server@ommegang 20 m5.larg",
        "error: argument 2 (instance type) \"m5.larg\" is invalid: unknown instance type; did you mean m5.large?",
    );
    check(
        "create-server@ommegang 20 - - us-east-1 ab",
        "error: argument 5 (zone letter) \"ab\" is invalid: give the zone's letter only, e.g. a or b",
    );
    check(
        "create-server 20",
        "error: create-server needs a server: create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]",
    );
    check(
        "create-server@Ommegang 20",
        "error: invalid server name \"Ommegang\": it does not start with a lowercase letter (use 1-63 lowercase letters, digits and '-', starting with a letter)",
    );
    check("create-server@x 1 2 3 4 5 6", "error: too many arguments for create-server: create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]");
}

#[test]
fn unknown_commands() {
    check("create-sever@x", "error: unknown command \"create-sever\" (did you mean create-server?); commands: create-server, stop-auto-scaling, attach-instance, start-auto-scaling, upgrade-ami, sync, create-workspace, bundle-ami, destroy-server, destroy-workspace, backup, prune, restore-server");
    check("mystery", "error: unknown command \"mystery\"; commands: create-server, stop-auto-scaling, attach-instance, start-auto-scaling, upgrade-ami, sync, create-workspace, bundle-ami, destroy-server, destroy-workspace, backup, prune, restore-server");
}

#[test]
fn region_check() {
    check("create-server@x 5 - - mars-1", "error: argument 4 (region) \"mars-1\" is invalid: unknown region; known regions: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, ap-southeast-2, sa-east-1");
}

#[test]
fn other_commands() {
    check("stop-auto-scaling@ommegang", "ok: stop-auto-scaling@ommegang");
    check("stop-auto-scaling@ommegang --keep-group", "ok: stop-auto-scaling@ommegang --keep-group");
    check("attach-instance@duvel m1.small web-server i386", "ok: attach-instance@duvel m1.small web-server i386");
    check("attach-instance@duvel - - arm64", "ok: attach-instance@duvel - - arm64");
    check(
        "attach-instance@duvel - - sparc",
        "error: argument 3 (architecture) \"sparc\" is invalid: use x86_64, i386 or arm64",
    );
    check("start-auto-scaling@chimay t3.small", "ok: start-auto-scaling@chimay t3.small");
    check("upgrade-ami@ommegang --restart", "ok: upgrade-ami@ommegang --restart");
    check(
        "upgrade-ami@ommegang --keep-group",
        "error: --keep-group does not apply to upgrade-ami: upgrade-ami@NAME [--restart]",
    );
    check("upgrade-ami@ommegang now", "error: too many arguments for upgrade-ami: upgrade-ami@NAME [--restart]");
    check("create-workspace", "ok: create-workspace");
    check("create-workspace web-server x86_64 us-west-2", "ok: create-workspace web-server x86_64 us-west-2");
    check(
        "create-workspace@w1",
        "error: create-workspace takes no server (it names its own workspace): create-workspace [ami-type] [arch] [region]",
    );
    check(
        "bundle-ami@workspace-1 web-server --copy-to=us-west-2 --copy-to=us-west-2",
        "ok: bundle-ami@workspace-1 web-server --copy-to us-west-2",
    );
    check(
        "bundle-ami@workspace-1 --copy-to=mars-1",
        "error: --copy-to \"mars-1\" is invalid: unknown region; known regions: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, ap-southeast-2, sa-east-1",
    );
    check("destroy-server@chimay --delete-data", "ok: destroy-server@chimay --delete-data");
    check("destroy-server", "error: destroy-server needs a server: destroy-server@NAME [--delete-data]");
}

#[test]
fn sizes_beyond_any_integer_are_too_big_not_malformed() {
    check(
        "create-server@x 4294967297",
        "error: argument 1 (EBS size in GB) \"4294967297\" is invalid: must be between 1 and 65536 GB (the smallest and largest EBS volumes)",
    );
    check(
        "create-server@x 99999999999999999999999",
        "error: argument 1 (EBS size in GB) \"99999999999999999999999\" is invalid: must be between 1 and 65536 GB (the smallest and largest EBS volumes)",
    );
    check("create-server@x -5", "error: argument 1 (EBS size in GB) \"-5\" is invalid: not a whole number of GB");
    check("create-server@x +5", "error: argument 1 (EBS size in GB) \"+5\" is invalid: not a whole number of GB");
}

#[test]
fn flags_by_word() {
    check("bundle-ami@workspace-1 --copy-to us-west-2", "ok: bundle-ami@workspace-1 --copy-to us-west-2");
    check(
        "bundle-ami@workspace-1 --copy-to",
        "error: --copy-to needs a value: bundle-ami@WORKSPACE [ami-type] [--copy-to REGION ...]",
    );
    check(
        "upgrade-ami@duvel --restrat",
        "error: unknown flag \"--restrat\" for upgrade-ami: upgrade-ami@NAME [--restart]",
    );
    check("destroy-workspace@workspace-2", "ok: destroy-workspace@workspace-2");
    check(
        "upgrade-ami@duvel --restart=no",
        "error: unknown flag \"--restart=no\" for upgrade-ami: upgrade-ami@NAME [--restart]",
    );
}

/// Every argument position a command reports as an origin exists in its spec.
#[test]
fn origins_name_arguments_that_exist() {
    for spec in COMMANDS {
        for (i, arg) in spec.args.iter().enumerate() {
            assert_eq!(spec.position(arg.kind), Some(i + 1), "{}: {:?} appears twice", spec.name, arg.kind);
        }
        let words: Vec<String> = std::iter::once(match spec.target() {
            Target::None => spec.name.to_string(),
            _ => format!("{}@workspace-1", spec.name),
        })
        .chain(spec.args.iter().map(|a| match a.kind {
            ArgKind::EbsSizeGb => "20".to_string(),
            ArgKind::InstanceType => "t3.small".to_string(),
            ArgKind::AmiType => "web-server".to_string(),
            ArgKind::Region => "us-west-2".to_string(),
            ArgKind::ZoneLetter => "b".to_string(),
            ArgKind::Architecture => "arm64".to_string(),
        }))
        .collect();
        let command = parse_words(COMMANDS, &words).unwrap();
        let origins = [
            command.ebs_size_gb().map(|v| v.1),
            command.instance_type().map(|v| v.1),
            command.ami_type().map(|v| v.1),
            command.region().map(|v| v.1),
            command.zone_letter().map(|v| v.1),
            command.architecture().map(|v| v.1),
        ];
        let mut positions: Vec<usize> = origins
            .into_iter()
            .flatten()
            .map(|o| match o {
                Origin::CommandLine(n) => n,
                other => panic!("{other}"),
            })
            .collect();
        positions.sort();
        assert_eq!(positions, (1..=spec.args.len()).collect::<Vec<_>>(), "{}", spec.name);
        assert_eq!(command.to_string(), words.join(" "), "{} round-trips", spec.name);
    }
}

/// On a server's own instance the server comes from the instance (the CLI reads its Name
/// tag); stop-auto-scaling then keeps the group, as the seed's scripts run locally did.
#[test]
fn commands_run_on_the_instance() {
    let duvel = ServerName::new("duvel");
    let on_instance = |target: &str, words: &[&str]| {
        let (mut args, mut flags) = (Vec::new(), Flags::default());
        for w in words {
            match Flag::parse(w) {
                Some(flag) => flags.set(flag),
                None => args.push(w.to_string()),
            }
        }
        match parse_on_instance(COMMANDS, target, &args, &flags, &duvel) {
            Ok(command) => format!("ok: {command}"),
            Err(e) => format!("error: {e}"),
        }
    };
    assert!(server_from_instance(COMMANDS, "stop-auto-scaling"));
    assert!(server_from_instance(COMMANDS, "bundle-ami"));
    assert!(!server_from_instance(COMMANDS, "stop-auto-scaling@duvel"));
    assert!(!server_from_instance(COMMANDS, "create-workspace"), "takes no server");
    assert!(!server_from_instance(COMMANDS, "mystery"), "unknown: parse says so");
    assert_eq!(on_instance("stop-auto-scaling", &[]), "ok: stop-auto-scaling@duvel --keep-group");
    assert_eq!(on_instance("stop-auto-scaling", &["--keep-group"]), "ok: stop-auto-scaling@duvel --keep-group");
    assert_eq!(on_instance("upgrade-ami", &["--restart"]), "ok: upgrade-ami@duvel --restart");
    assert_eq!(on_instance("attach-instance", &["m5.large"]), "ok: attach-instance@duvel m5.large");
    // A server typed explicitly is parsed as typed: nothing is implied.
    assert_eq!(on_instance("stop-auto-scaling@chimay", &[]), "ok: stop-auto-scaling@chimay");
    assert_eq!(
        on_instance("upgrade-ami", &["--keep-group"]),
        "error: --keep-group does not apply to upgrade-ami: upgrade-ami@NAME [--restart]"
    );
    assert!(Flag::ALL.iter().filter(|f| f.implied_on_the_instance()).eq([Flag::KeepGroup].iter()));
}

#[test]
fn backup_prune_and_restore_flags() {
    check("backup@ommegang --due", "ok: backup@ommegang --due");
    check("prune@ommegang --orphans", "ok: prune@ommegang --orphans");
    check(
        "restore-server@ommegang --zone b --at 2026-11-24",
        "ok: restore-server@ommegang --at 2026-11-24T23:59:59Z --zone b",
    );
    check("restore-server@ommegang --at=2026-11-24T03:00Z", "ok: restore-server@ommegang --at 2026-11-24T03:00:00Z");
    check("restore-server@ommegang --at 2026-11-24T03:00:00Z", "ok: restore-server@ommegang --at 2026-11-24T03:00:00Z");
    check("restore-server@ommegang --at 2026-11-24 03:00", "error: too many arguments for restore-server: restore-server@NAME [--at WHEN] [--zone LETTER] [--delete-old] [--drill]");
    check(
        "restore-server@ommegang --at snap-0a1b --delete-old",
        "ok: restore-server@ommegang --at snap-0a1b --delete-old",
    );
    check("restore-server@ommegang --at now --zone c", "ok: restore-server@ommegang --at now --zone c");
    check(
        "restore-server@ommegang --at snap-",
        "error: --at \"snap-\" is invalid: a snapshot id is snap- and letters or digits (`cellar backups NAME` lists them)",
    );
    check(
        "restore-server@ommegang --at 2026-13-01",
        "error: --at \"2026-13-01\" is invalid: numeric component is out of range: give a UTC date (2026-11-24), a time (2026-11-24T03:00:00Z), a snapshot id (snap-...) or now",
    );
    check(
        "restore-server@ommegang --zone B",
        "error: --zone \"B\" is invalid: give the zone's letter only, e.g. a or b",
    );
    check("restore-server@ommegang --at now --at now", "error: --at is given more than once (now, now): give it once");
    check("backup@ommegang --orphans", "error: --orphans does not apply to backup: backup@NAME [--due]");
}
