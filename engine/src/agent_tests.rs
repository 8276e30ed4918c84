use super::*;

fn check_roundtrip(invocation: AgentInvocation) {
    let text = user_data(&invocation).unwrap();
    assert_eq!(parse_user_data(&text), Some(invocation), "user data:\n{text}");
}

#[test]
fn user_data_roundtrips() {
    check_roundtrip(AgentInvocation {
        mode: AgentMode::Persist,
        server: ServerName::new("ommegang"),
        persist: vec!["/etc".into(), "/var/www".into(), "/srv/it's".into()],
        spawn_hook: Some("echo hello\napt-get install -y figlet\n".into()),
        volumes: vec![],
    });
    check_roundtrip(AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new("duvel"),
        persist: vec![],
        spawn_hook: None,
        volumes: vec![],
    });
}

#[test]
fn user_data_with_volumes_roundtrips() {
    let volume = |device: &str, mount: &str, persist: &[&str]| VolumeSpec {
        device: device.into(),
        mount: mount.into(),
        persist: persist.iter().map(|d| d.to_string()).collect(),
    };
    let invocation = AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new("ommegang"),
        persist: vec![],
        spawn_hook: None,
        volumes: vec![
            volume("/dev/sdf", "/data", &["/etc", "/srv/it's"]),
            volume("/dev/sdg", "/srv/db $(touch x)", &[]),
            volume("/dev/sdh", "/srv/logs", &["/var/log"]),
        ],
    };
    let text = user_data(&invocation).unwrap();
    assert!(
        text.ends_with("exec cellar agent spawn --server ommegang --volume '/dev/sdf=/data' --persist /etc --persist \"/srv/it's\" --volume '/dev/sdg=/srv/db $(touch x)' --volume '/dev/sdh=/srv/logs' --persist /var/log\n"),
        "{text}"
    );
    check_roundtrip(invocation);
}

/// (flags, expected (first volume's directories, volumes as device=mount:dirs) or error).
fn check_flags(flags: &[(&str, &str)], expected: Result<(&[&str], &[&str]), &str>) {
    let parsed = flags
        .iter()
        .map(|(f, v)| match *f {
            "volume" => VolumeFlag::Volume(v.to_string()),
            _ => VolumeFlag::Persist(v.to_string()),
        })
        .collect();
    let got = volumes_from_flags(parsed).map(|(persist, volumes)| {
        let volumes: Vec<String> =
            volumes.iter().map(|v| format!("{}={}:{}", v.device, v.mount, v.persist.join(","))).collect();
        (persist, volumes)
    });
    let want = expected
        .map(|(p, v)| (p.iter().map(|s| s.to_string()).collect(), v.iter().map(|s| s.to_string()).collect()))
        .map_err(str::to_string);
    assert_eq!(got, want, "{flags:?}");
}

#[test]
fn persisted_directories_belong_to_the_volume_before_them() {
    check_flags(&[("persist", "/etc"), ("persist", "/home")], Ok((&["/etc", "/home"], &[])));
    check_flags(
        &[
            ("volume", "/dev/sdf=/data"),
            ("persist", "/etc"),
            ("volume", "/dev/sdg=/srv/db"),
            ("persist", "/var/lib/mysql"),
        ],
        Ok((&[], &["/dev/sdf=/data:/etc", "/dev/sdg=/srv/db:/var/lib/mysql"])),
    );
    check_flags(&[("volume", "/dev/sdg=/a=b")], Ok((&[], &["/dev/sdg=/a=b:"])));
    check_flags(
        &[("volume", "/dev/sdg")],
        Err("--volume \"/dev/sdg\": expected DEVICE=MOUNT, such as /dev/sdg=/srv/db"),
    );
    check_flags(&[("volume", "=/data")], Err("--volume \"=/data\": expected DEVICE=MOUNT, such as /dev/sdg=/srv/db"));
    check_flags(
        &[("persist", "/etc"), ("volume", "/dev/sdf=/data")],
        Err("--persist before the first --volume: with --volume, give each volume's directories after it"),
    );
}

/// A hook that tries to end the heredoc early and run its own commands as root: the
/// rendered user data, run by bash (with a stand-in `cellar` and the hook directory moved
/// into a temporary one), writes the hook byte for byte and runs nothing of it.
#[test]
fn a_hostile_hook_cannot_escape_the_user_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let hook = format!(
        "echo fine\nCELLAR_SPAWN_HOOK\ntouch {d}/pwned\nCELLAR_SPAWN_HOOK_1\ntouch {d}/pwned1\n'\\$(touch {d}/pwned2)\n"
    );
    let server = "ale";
    let invocation = AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new(server),
        persist: vec!["/srv/it's here".into(), "/srv/$(touch pwned3)".into()],
        spawn_hook: Some(hook.clone()),
        volumes: vec![],
    };
    let text = user_data(&invocation).unwrap();
    assert_eq!(parse_user_data(&text), Some(invocation), "user data:\n{text}");
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    let stand_in = dir.path().join("bin/cellar");
    std::fs::write(&stand_in, format!("#!/bin/bash\nprintf '%s\\n' \"$@\" > {d}/args\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = text.replace("/etc/cellar", &format!("{d}/etc"));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", format!("{d}/bin:/usr/bin:/bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("etc/spawn-hook.sh")).unwrap(), hook);
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args,
        format!("agent\nspawn\n--server\n{server}\n--persist\n/srv/it's here\n--persist\n/srv/$(touch pwned3)\n--hook\n{d}/etc/spawn-hook.sh\n")
    );
    for marker in ["pwned", "pwned1", "pwned2", "pwned3"] {
        assert!(!dir.path().join(marker).exists(), "{marker}: part of the hook ran outside the agent");
    }
}

/// A server name goes into the script: one that is not a valid name (config and plan
/// files cannot carry one; this one is built by hand) is refused, not quoted across lines.
#[test]
fn only_valid_server_names_are_written() {
    let invocation = AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new("ale\ntouch /tmp/pwned #"),
        persist: vec![],
        spawn_hook: None,
        volumes: vec![],
    };
    assert!(user_data(&invocation).unwrap_err().to_string().starts_with("invalid server name"));
}

#[test]
fn nul_bytes_cannot_be_written() {
    let mut invocation = AgentInvocation {
        mode: AgentMode::Persist,
        server: ServerName::new("ale"),
        persist: vec!["/srv/a\0b".into()],
        spawn_hook: None,
        volumes: vec![],
    };
    assert_eq!(
        user_data(&invocation).unwrap_err().to_string(),
        "persisted directory \"/srv/a\\0b\" contains a NUL byte, which no shell script can carry"
    );
    invocation.persist.clear();
    invocation.spawn_hook = Some("echo \0".into());
    assert_eq!(
        user_data(&invocation).unwrap_err().to_string(),
        "the spawn hook contains a NUL byte, which no shell script can carry"
    );
}

/// The outcome line is one line whatever the messages hold, and reads back from a
/// console with other output around it (the last agent line counts).
/// The outcome tag reads back, stays within AWS's 256 characters on one line, and a
/// value that is not one reads as nothing.
#[test]
fn outcome_tags_read_back() {
    let at = Timestamp(1_795_752_600);
    let done: Result<AgentReport, AgentError> = Ok(AgentReport { steps: vec!["ran spawn hook".into()] });
    assert_eq!(outcome_tag_value(&done, at), "done 2026-11-27T04:10:00Z");
    assert_eq!(parse_outcome_tag("done 2026-11-27T04:10:00Z"), Some((AgentOutcome::Done(String::new()), at, None)));
    let refused: Result<AgentReport, AgentError> = Err(AgentError::NoServerTag(InstanceId::new("i-1")));
    let value = outcome_tag_value(&refused, at);
    assert!(value.starts_with("failed 2026-11-27T04:10:00Z: "), "{value}");
    assert_eq!(parse_outcome_tag(&value).map(|(_, _, stage)| stage), Some(Some(FailedAt::Cloud)));
    let long: Result<AgentReport, AgentError> =
        Err(AgentError::Host { what: "spawn hook", message: format!("line one\n{}", "x".repeat(400)) });
    let value = outcome_tag_value(&long, at);
    assert_eq!(value.chars().count(), 256);
    assert!(!value.contains('\n'));
    let (outcome, when, stage) = parse_outcome_tag(&value).unwrap();
    assert_eq!((when, stage), (at, Some(FailedAt::Machine)));
    assert!(matches!(outcome, AgentOutcome::Failed(why) if why.starts_with("spawn hook failed: line one xxx")));
    for bad in ["", "done", "done yesterday", "maybe 2026-11-27T04:10:00Z", "failed 2026-13-27T04:10:00Z: x"] {
        assert_eq!(parse_outcome_tag(bad), None, "{bad:?}");
    }
}

#[test]
fn outcome_lines_read_back_from_a_console() {
    let done = Ok(AgentReport { steps: vec!["attached volume vol-1 as /dev/sdf".into(), "ran spawn hook".into()] });
    assert_eq!(outcome_line(&done), "cellar agent: done: attached volume vol-1 as /dev/sdf; ran spawn hook");
    let refused = CloudError::from_code("UnauthorizedOperation", "instance profile p does not allow ec2:AttachVolume");
    let failed: Result<AgentReport, AgentError> =
        Err(AgentError::Cloud { step: "attach vol-1".into(), error: refused });
    let line = outcome_line(&failed);
    assert_eq!(
        line,
        "cellar agent: failed: could not attach vol-1: UnauthorizedOperation (instance profile p does not allow ec2:AttachVolume)"
    );
    let wrong: Result<AgentReport, AgentError> = Err(AgentError::WrongServer {
        instance: InstanceId::new("i-1"),
        tagged: "a".into(),
        expected: ServerName::new("b"),
    });
    assert!(!outcome_line(&wrong).contains('\n'), "{}", outcome_line(&wrong));
    let console =
        format!("[    3.1] booting\r\ncloud-init[812]: {}\ncloud-init[812]: {line}\r\nlogin: \n", outcome_line(&done));
    assert_eq!(
        parse_outcome(&console),
        Some(AgentOutcome::Failed(
            "could not attach vol-1: UnauthorizedOperation (instance profile p does not allow ec2:AttachVolume)".into()
        ))
    );
    assert_eq!(parse_outcome("cellar agent: done\n"), Some(AgentOutcome::Done(String::new())));
    assert_eq!(parse_outcome("cellar agent spawn: instance i-1 in us-east-1a (us-east-1)\n"), None);
    assert_eq!(parse_outcome(""), None);
}

#[test]
fn foreign_user_data_is_not_an_agent() {
    assert_eq!(parse_user_data("#!/bin/bash\necho hi\n"), None);
    assert_eq!(parse_user_data("exec cellar agent dance --server x\n"), None);
}
