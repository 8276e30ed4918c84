//! `cellar watch` end to end on the simulator's virtual clock: transitions, dedup and
//! reminders, every notification target (a real HTTP server on 127.0.0.1, a real script),
//! a failing webhook, scheduled events, impairments, unreachable services, a lost
//! connection, and SIGTERM.

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The events of a `--format json` watch, parsed.
pub(super) fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// `kind server` of each event, with its seconds after `start`.
pub(super) fn kinds(events: &[Value], start: u64) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|e| {
            let at = e["at_unix"].as_u64().unwrap_or(0).saturating_sub(start);
            let server = e["server"].as_str().map(|s| format!(" {s}")).unwrap_or_default();
            (at, format!("{}{server}", e["kind"].as_str().unwrap_or("?")))
        })
        .collect()
}

/// Installs a fault schedule (RON) in which `{t+N}` is the world's time now plus N
/// seconds; returns that time.
pub(super) fn faults(c: &Cellar, ron: &str) -> u64 {
    let now = c.world().now().0;
    let mut text = String::new();
    let mut rest = ron;
    while let Some(i) = rest.find("{t+") {
        let end = i + rest[i..].find('}').expect("closed placeholder");
        let secs: u64 = rest[i + 3..end].parse().expect("seconds");
        text.push_str(&rest[..i]);
        text.push_str(&(now + secs).to_string());
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    let file = c.dir.path().join("faults.ron");
    std::fs::write(&file, text).unwrap();
    c.ok(&["sim", "faults", file.to_str().unwrap()]);
    now
}

/// duvel created, then from now on no capacity in its zone, its instance terminated
/// `terminated` seconds later and capacity back `back` seconds later; returns now.
fn failed_respawn(c: &Cellar, terminated: u64, back: u64) -> u64 {
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["sim", "advance", "2m"]);
    let schedule = r#"(
        capacity: [(at: {t+0}, zone: "us-east-1a", instance_type: "m5.large", count: 0),
                   (at: {t+BACK}, zone: "us-east-1a", instance_type: "m5.large", count: 5)],
        terminations: [(at: {t+TERMINATED}, target: "duvel")],
    )"#;
    faults(c, &schedule.replace("BACK", &back.to_string()).replace("TERMINATED", &terminated.to_string()))
}

/// Appends `text` to the copied config's global.ron (before its closing parenthesis).
pub(super) fn add_to_global(c: &Cellar, text: &str) {
    let path = c.config.join("global.ron");
    let global = std::fs::read_to_string(&path).unwrap();
    let end = global.rfind(')').expect("global.ron is a struct");
    std::fs::write(&path, format!("{}    {text},\n{}", &global[..end], &global[end..])).unwrap();
}

/// An HTTP server on 127.0.0.1 that answers `status` and keeps each request's body.
fn webhook(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            kept.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let mut stream = reader.into_inner();
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

/// A respawn that fails for want of capacity is down within a look of the termination,
/// said once however long it lasts (no reminder under the default hour), and recovered
/// once capacity is back; the other, absent, servers say nothing.
#[test]
fn a_failed_respawn_is_down_once_then_recovered() {
    let c = Cellar::new();
    let t = failed_respawn(&c, 300, 1200);
    let r = c.ok(&["watch", "--for", "40m", "--format", "json", "--no-backups"]);
    let got = events(&r.stdout);
    let seen = kinds(&got, t);
    assert_eq!(seen.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["down duvel", "recovered duvel"], "{seen:?}");
    // Seen at the first look after the fault (30 s apart), and after capacity came back.
    assert!((300..=330).contains(&seen[0].0), "{seen:?}");
    assert!(seen[1].0 >= 1200, "{seen:?}");
    assert_eq!(got[0]["reason"], "failed to respawn: InsufficientInstanceCapacity in us-east-1a");
    assert_eq!(got[0]["previous"], "healthy");
    assert_eq!(got[0]["incident"]["id"], got[1]["incident"]["id"]);
    assert_eq!(got[1]["health"], "healthy");
    assert!(r.stderr.contains("watching 5 servers every 30s for 40m"), "{}", r.stderr);
    assert!(r.stderr.contains("no backups (--no-backups)"), "{}", r.stderr);
    // The watch saved the clock it moved: a second one starts after the incident.
    let text = c.ok(&["watch", "--for", "40m", "--no-backups"]).stdout;
    assert_eq!(text.lines().count(), 0, "the incident ended before this watch: {text}");
}

/// Reminders at the configured interval while the incident lasts; every notification
/// reaches the webhook (the event's JSON), the Slack webhook (`{"text"}`) and the command
/// (environment and standard input); a webhook that answers 500 is retried, reported as
/// `notify-failed`, and the watch goes on to its end.
#[test]
fn notifications_reach_webhooks_and_commands_and_a_failing_one_is_reported() {
    let c = Cellar::with_config_copy();
    let (json_url, json_bodies) = webhook(200);
    let (slack_url, slack_bodies) = webhook(204);
    let (broken_url, broken_bodies) = webhook(500);
    let log = c.dir.path().join("notified.log");
    let script = c.dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s %s %s|' \"$CELLAR_EVENT\" \"$CELLAR_SERVER\" \"$CELLAR_HEALTH\" >> {log}\ncat >> {log}\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    add_to_global(
        &c,
        &format!(
            r#"notify: (webhooks: [(url: "{json_url}"), (url: "{slack_url}", body: Slack), (url: "{broken_url}")], commands: [["{}"]], remind_every_mins: 10)"#,
            script.display()
        ),
    );
    let t = failed_respawn(&c, 60, 1500);
    let r = c.ok(&["watch", "duvel", "--for", "30m", "--no-backups"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    // Events start with their time; a failed delivery with NOTIFY-FAILED.
    let (failures, events): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.starts_with("NOTIFY-FAILED"));
    let kinds: Vec<&str> = events.iter().map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
    // down at ~60 s, reminders every 10 minutes after it, recovered after 1500 s; each
    // notification to the broken webhook failed after its retries.
    assert_eq!(kinds, ["DOWN", "REMINDER", "REMINDER", "RECOVERED"], "{}", r.stdout);
    assert_eq!(failures.len(), 4, "{}", r.stdout);
    let failed = lines.iter().find(|l| l.starts_with("NOTIFY-FAILED")).unwrap();
    assert!(failed.contains(&format!("webhook {broken_url}: HTTP 500 (after 4 attempts")), "{failed}");
    assert_eq!(broken_bodies.lock().unwrap().len(), 16, "4 attempts for each of 4 notifications");
    let bodies = json_bodies.lock().unwrap().clone();
    let sent: Vec<Value> = bodies.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    let sent_kinds: Vec<&str> = sent.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(sent_kinds, ["down", "reminder", "reminder", "recovered"]);
    assert_eq!(sent[0]["version"], 1);
    assert_eq!(sent[0]["server"], "duvel");
    assert!(sent[0]["at_unix"].as_u64().unwrap() >= t + 60);
    let slack = slack_bodies.lock().unwrap().clone();
    assert_eq!(slack.len(), 4);
    let first: Value = serde_json::from_str(&slack[0]).unwrap();
    assert!(first["text"].as_str().unwrap().starts_with("cellar: "), "{first}");
    assert!(first["text"].as_str().unwrap().contains("DOWN"), "{first}");
    let logged = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<&str> = logged.split_terminator('\n').collect();
    assert_eq!(entries.len(), 4, "{logged}");
    assert!(entries[0].starts_with("down duvel down|{"), "{logged}");
    assert!(entries[3].starts_with("recovered duvel healthy|{"), "{logged}");
    let stdin: Value = serde_json::from_str(entries[0].split_once('|').unwrap().1).unwrap();
    assert_eq!(stdin["kind"], "down");
}

/// `status --watch` prints the table, then a server's line again when its status changes
/// (what another command did to the world), and nothing for the servers that did not change.
#[test]
fn status_watch_prints_the_lines_that_change() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["sim", "advance", "2m"]);
    let mut child = c
        .command(&["status", "--watch", "--no-drift"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellar runs");
    // Lines as they come, on a thread (a missing line fails the test, not hangs it).
    let (send, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let next = || lines.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_default();
    // The header and the five servers.
    let table: Vec<String> = (0..6).map(|_| next()).collect();
    assert!(table[0].starts_with("NAME"), "{table:?}");
    assert!(table[3].starts_with("duvel") && table[3].contains("healthy"), "{table:?}");
    c.ok(&["sim", "terminate", "duvel"]);
    let line = next();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("duvel") && line.contains("down"), "{line:?}");
}

/// SIGTERM ends a watch cleanly (exit 0, the state file saved and whole): on the simulator
/// at its pace between two looks, with the state file let go meanwhile (so another command
/// runs while it waits), and with duvel's first backup under way (a 30 GiB snapshot takes
/// 90 s): that backup is stopped and its lock released, and the snapshot it asked for
/// completes on its own and counts as the scheduled backup.
#[test]
fn sigterm_ends_a_watch_cleanly() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    let child = c.command(&["watch"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cellar runs");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Between two looks the state file is free: another command runs (at once, or as soon
    // as the first look is over).
    let r = c.ok(&["sim", "show"]);
    assert!(r.stdout.contains("duvel"), "{}", r.stdout);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("in real time") && stderr.contains("SIGTERM: the watch stops"), "{stderr}");
    assert!(stderr.contains("the backups of duvel under way were stopped and their locks released"), "{stderr}");
    c.ok(&["status", "duvel"]);
    // Its lock is gone: another apply takes it. Its snapshot is the day's scheduled backup.
    let plan = c.ok(&["plan", "backup@duvel", "--due"]).stdout;
    assert!(plan.contains("duvel's scheduled backup is not due") && plan.contains("No changes"), "{plan}");
    let applied = c.ok(&["apply", "backup@duvel", "--yes"]).stdout;
    assert!(applied.contains("a manual snapshot") && applied.contains("Apply complete"), "{applied}");
}

/// Every kind of incident of the simulator's faults, in one watch: an impaired instance
/// (its group replaces it), a service that stops answering its health check (down at the
/// second failed probe), AWS's scheduled retirement (announced with its date; when it falls
/// due the group replaces the instance, seen booting), and a lost connection to the API.
#[test]
fn impairments_probes_scheduled_events_and_outages_are_reported() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@duvel", "30", "--yes"]);
    c.ok(&["apply", "create-server@ommegang", "20", "--yes", "--dns-confirmed"]);
    let address = c.status("ommegang")["address"]["public_ip"].as_str().unwrap().to_string();
    c.ok(&["sim", "dns", "ommegang.imarc.net", &address]);
    c.ok(&["sim", "advance", "5m"]);
    let t = faults(
        &c,
        r#"(
            impairments: [(at: {t+100}, target: "duvel", check: instance, secs: Some(600))],
            unreachable: [(at: {t+700}, server: "ommegang", secs: 300)],
            scheduled_events: [(at: {t+1300}, target: "ommegang", code: r#instance-retirement, not_before: {t+1900})],
            outages: [(at: {t+2500}, secs: 120)],
        )"#,
    );
    let r = c.ok(&["watch", "duvel,ommegang", "--for", "50m", "--format", "json", "--no-backups"]);
    let got = events(&r.stdout);
    let seen = kinds(&got, t);
    let names: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "down duvel",
            "recovered duvel",
            "down ommegang",
            "recovered ommegang",
            "scheduled ommegang",
            "degraded ommegang",
            "recovered ommegang",
            "connection-lost",
            "connection-restored",
        ],
        "{seen:?}\n{}",
        r.stdout
    );
    let at = |i: usize| seen[i].0;
    assert!((100..=130).contains(&at(0)), "{seen:?}");
    assert!(got[0]["reason"].as_str().unwrap().contains("is impaired: its instance status check"), "{}", got[0]);
    // Two failed probes: down within two looks of the outage.
    assert!((730..=760).contains(&at(2)), "{seen:?}");
    assert!(
        got[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("health check GET https://ommegang.imarc.net/ failed 2 times in a row: connection timed out"),
        "{}",
        got[2]
    );
    assert!((1300..=1330).contains(&at(4)), "{seen:?}");
    assert_eq!(got[4]["scheduled"]["code"], "instance-retirement");
    assert_eq!(got[4]["scheduled"]["not_before"].as_str(), Some(Timestamp(t + 1900).rfc3339().as_str()));
    assert!(at(5) >= 1900, "{seen:?}");
    assert!((2500..=2530).contains(&at(7)), "{seen:?}");
    assert!(got[7]["reason"].as_str().unwrap().contains("Unavailable"), "{}", got[7]);
    assert!(at(8) >= 2620, "{seen:?}");
}

/// The table says each health in its word, one server each: healthy (chimay, running
/// without a group), degraded (duvel's replacement still booting), down (kwak: no capacity
/// for its respawn), stopped (achel, auto scaling stopped), incomplete (ommegang, kept at its
/// DNS gate; absent is `status_json_is_versioned_and_names_each_health`'s); and `--fail-on`
/// sees them.
#[test]
fn the_status_table_names_every_health() {
    let c = Cellar::new();
    for server in ["duvel", "achel", "kwak", "chimay"] {
        c.ok(&["apply", &format!("create-server@{server}"), "30", "--yes", "--dns-confirmed"]);
    }
    assert_eq!(c.run(&["apply", "create-server@ommegang", "20", "--yes"]).code, 3);
    c.ok(&["apply", "stop-auto-scaling@achel", "--yes"]);
    c.ok(&["sim", "advance", "2m"]);
    c.ok(&["sim", "capacity", "us-east-1c", "t3.medium", "0"]);
    c.ok(&["sim", "terminate", "kwak"]);
    c.ok(&["sim", "terminate", "duvel"]);
    c.ok(&["sim", "advance", "20s"]);
    let table = c.ok(&["status", "--no-drift"]).stdout;
    let health: Vec<(&str, &str)> = table
        .lines()
        .skip(1)
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap(), words.next().unwrap())
        })
        .collect();
    assert_eq!(
        health,
        [
            ("achel", "stopped"),
            ("chimay", "healthy"),
            ("duvel", "degraded"),
            ("kwak", "down"),
            ("ommegang", "incomplete")
        ],
        "{table}"
    );
    let row = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap().to_string();
    assert!(row("duvel").ends_with("is starting"), "{table}");
    assert!(row("kwak").contains("failed to respawn: InsufficientInstanceCapacity in us-east-1c"), "{table}");
    assert_eq!(c.run(&["status", "--no-drift", "--fail-on", "down"]).code, 2);
    assert_eq!(c.run(&["status", "achel,chimay", "--no-drift", "--fail-on", "degraded"]).code, 0);
}

/// A watch whose reader went away (`cellar watch | head -1`) ends at its next event, quietly
/// (exit 0, nothing but its header on stderr), rather than watch for nobody.
#[test]
fn a_watch_whose_output_closes_ends_quietly() {
    let c = Cellar::new();
    assert_eq!(c.run(&["apply", "create-server@ommegang", "20", "--yes"]).code, 3);
    let mut child = c.command(&["watch"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cellar runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("cellar ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "only the header: {stderr}");
    assert!(stderr.starts_with("watching 5 servers every 30s"), "{stderr}");
}
