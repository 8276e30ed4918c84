//! `--backend aws` before anything reaches AWS: no credentials (a fast, clear error that is
//! never retried as an outage), `--profile`, and commands without `@server` run off EC2.
//! Nothing here leaves the machine: the AWS endpoint is a closed local port, the metadata
//! service is disabled or a local port.

use super::*;
use std::time::{Duration, Instant};

/// A local port nothing listens on.
fn closed_port() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    url
}

/// `cellar --backend aws ARGS` with an empty environment: no credentials anywhere (empty
/// config and credentials files, no variables), the metadata service off, and AWS's
/// endpoint a closed local port (were credentials found, nothing would leave the machine).
fn bare_aws(c: &Cellar, args: &[&str], env: &[(&str, &str)]) -> (Run, Duration) {
    let empty = c.dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cellar"));
    command
        .current_dir(c.dir.path())
        .stdin(Stdio::null())
        .env_clear()
        .env("HOME", c.dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_ENDPOINT_URL", closed_port())
        .arg("--config")
        .arg(&c.config)
        .args(["--backend", "aws"])
        .args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let started = Instant::now();
    let run = run_command(command);
    (run, started.elapsed())
}

fn says_the_credential_chain(text: &str) {
    for needed in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "aws sso login",
        "instance role",
    ] {
        assert!(text.contains(needed), "the credentials error should name {needed}:\n{text}");
    }
}

/// No credentials: exit 1 well within 5 seconds (it used to retry for minutes as an outage),
/// naming every place the chain looks, for plan, status and apply alike.
#[test]
fn missing_credentials_fail_fast_and_name_the_chain() {
    let c = Cellar::new();
    for args in [&["plan", "stop-auto-scaling@duvel"][..], &["status"], &["apply", "upgrade-ami@duvel", "--yes"]] {
        let (r, took) = bare_aws(&c, args, &[]);
        assert_eq!(r.code, 1, "{args:?}\n{}{}", r.stdout, r.stderr);
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
        assert!(r.stderr.contains("NoCredentials") && r.stderr.contains("no AWS credentials"), "{}", r.stderr);
        says_the_credential_chain(&r.stderr);
    }
}

/// `--profile NAME` is passed to the chain: a profile with keys in the credentials file is
/// used (the call then reaches the closed endpoint), and AWS_PROFILE stays the default.
#[test]
fn profile_chooses_the_credentials() {
    let c = Cellar::new();
    let files = c.dir.path();
    std::fs::write(files.join("config"), "[profile hosting]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        files.join("credentials"),
        "[hosting]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
    )
    .unwrap();
    let (config, credentials) = (files.join("config"), files.join("credentials"));
    let (config, credentials) = (config.to_str().unwrap(), credentials.to_str().unwrap());
    let files = [("AWS_CONFIG_FILE", config), ("AWS_SHARED_CREDENTIALS_FILE", credentials)];
    let reached = |r: &Run| r.stderr.contains("EndpointConnectionRefused");
    let (r, _) = bare_aws(&c, &["--profile", "hosting", "status", "duvel"], &files);
    assert!(reached(&r), "{}", r.stderr);
    let mut with_variable = files.to_vec();
    with_variable.push(("AWS_PROFILE", "hosting"));
    let (r, _) = bare_aws(&c, &["status", "duvel"], &with_variable);
    assert!(reached(&r), "{}", r.stderr);
    // No profile chosen: the default has no keys.
    let (r, took) = bare_aws(&c, &["status", "duvel"], &files);
    assert!(r.stderr.contains("NoCredentials") && took < Duration::from_secs(5), "{}", r.stderr);
    let r = c.run(&["--profile", "", "status"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not a profile name") && r.stderr.contains("fix:"), "{}", r.stderr);
}

/// A command without `@SERVER` is about the server of the EC2 instance cellar runs on. Off
/// EC2 the metadata service does not answer (here: a port that accepts and never answers,
/// and a closed one): a clear error within seconds, naming the fix.
#[test]
fn a_command_without_a_server_off_ec2_says_so() {
    let c = Cellar::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        // Accept and hold the connections without a word, as a black hole would.
        let mut held = Vec::new();
        for stream in silent.incoming().take(8).flatten() {
            held.push(stream);
        }
    });
    for endpoint in [silent_url.as_str(), closed_port().as_str()] {
        let variables = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)];
        let (r, took) = bare_aws(&c, &["plan", "stop-auto-scaling"], &variables);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(took < Duration::from_secs(8), "{endpoint}: {took:?}");
        for needed in
            ["stop-auto-scaling names no server", "instance metadata service", endpoint, "stop-auto-scaling@NAME"]
        {
            assert!(r.stderr.contains(needed), "{needed}:\n{}", r.stderr);
        }
    }
    drop(held);
    // The simulator has no instance to be on.
    let r = c.run(&["plan", "stop-auto-scaling"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("names no server") && r.stderr.contains("fix: name the server"), "{}", r.stderr);
}

/// `cellar check --backend aws` checks the files, then the account as `cellar doctor`
/// does: with no credentials, one error naming the chain, within seconds, and nothing else
/// asked. A profile that does not exist is named.
#[test]
fn check_and_doctor_without_credentials() {
    let c = Cellar::new();
    for args in [&["check"][..], &["doctor"], &["doctor", "--format", "json"]] {
        let (r, took) = bare_aws(&c, args, &[]);
        assert_eq!(r.code, 1, "{args:?}\n{}{}", r.stdout, r.stderr);
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
        assert!(r.stdout.contains("NoCredentials: GetCallerIdentity"), "{args:?}: {}", r.stdout);
        says_the_credential_chain(&r.stdout);
        assert!(!r.stdout.contains("not tried"), "nothing else is asked: {}", r.stdout);
    }
    let (r, _) = bare_aws(&c, &["check"], &[]);
    assert!(
        r.stdout.contains("configuration OK") && r.stdout.contains("1 error, 0 warnings, 0 notes, 0 ok"),
        "{}",
        r.stdout
    );
    // A named profile that is not in the config file.
    let config = c.dir.path().join("aws-config");
    std::fs::write(&config, "[profile hosting]\nregion = us-east-1\n").unwrap();
    let config = config.to_str().unwrap();
    let (r, took) = bare_aws(&c, &["--profile", "nosuch", "status"], &[("AWS_CONFIG_FILE", config)]);
    assert_eq!(r.code, 1);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        r.stderr.contains("profile `nosuch` was not defined") && r.stderr.contains("--profile NAME"),
        "{}",
        r.stderr
    );
}
