//! Delivering `cellar watch`'s events to webhooks and commands (`notify` in the
//! configuration), each target on a thread of its own so that a slow or failing one never
//! holds up the watch or the other targets.
//!
//! A delivery is tried [`ATTEMPTS`] times, [`BACKOFF`] apart and doubling; one that still
//! fails is reported through the watch's own output (a `notify-failed` line) and dropped.
//! [`Notifier::finish`] waits for what is queued (a `--for` watch ends after its last
//! notification went out).

use crate::output::{self, Output};
use cellar_engine::model::ServerName;
use cellar_engine::monitoring::{Notify, Webhook, WebhookBody};
use cellar_engine::watch::WatchEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Tries per delivery.
pub const ATTEMPTS: u32 = 4;
/// The wait before the second try; doubled before each next one (0.5 s, 1 s, 2 s).
pub const BACKOFF: Duration = Duration::from_millis(500);
/// How long one webhook request or one command may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a notification goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Destination {
    Webhook { url: String, slack: bool },
    Command(Vec<String>),
}

impl Destination {
    fn describe(&self) -> String {
        match self {
            Destination::Webhook { url, .. } => format!("webhook {url}"),
            Destination::Command(argv) => format!(
                "command {}",
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
            ),
        }
    }

    /// One attempt.
    fn deliver(&self, event: &WatchEvent) -> Result<(), String> {
        match self {
            Destination::Webhook { url, slack } => post(url, &body(event, *slack)),
            Destination::Command(argv) => run_command(argv, event),
        }
    }
}

/// The webhook body: the event's JSON, or Slack's `{"text": ...}`.
fn body(event: &WatchEvent, slack: bool) -> String {
    match slack {
        false => event.to_json(),
        true => serde_json::json!({ "text": format!("cellar: {}", event.to_text()) }).to_string(),
    }
}

fn post(url: &str, body: &str) -> Result<(), String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(DELIVERY_TIMEOUT)).http_status_as_error(false).build().into();
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("cellar/", env!("CARGO_PKG_VERSION")))
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status();
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("HTTP {}", status.as_u16())),
    }
}

/// Runs the command with the event in `CELLAR_*` variables and as JSON on its standard
/// input; a non-zero exit or a run over [`DELIVERY_TIMEOUT`] is a failure.
fn run_command(argv: &[String], event: &WatchEvent) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    for (key, value) in environment(event) {
        command.env(key, value);
    }
    let mut child = command.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not a failure.
        let _ = stdin.write_all(format!("{}\n", event.to_json()).as_bytes());
    }
    let deadline = std::time::Instant::now() + DELIVERY_TIMEOUT;
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                let err = err.trim();
                return Err(match err.is_empty() {
                    true => format!("{program} exited with {status}"),
                    false => format!("{program} exited with {status}: {}", err.lines().last().unwrap_or(err)),
                });
            }
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} took more than {}s and was killed", DELIVERY_TIMEOUT.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The event as environment variables (docs/watch-events.md).
pub fn environment(event: &WatchEvent) -> Vec<(&'static str, String)> {
    vec![
        ("CELLAR_EVENT", event.kind.as_str().to_string()),
        ("CELLAR_AT", event.at.rfc3339()),
        ("CELLAR_SERVER", event.server.as_ref().map(|s| s.to_string()).unwrap_or_default()),
        ("CELLAR_REGION", event.region.as_ref().map(|r| r.to_string()).unwrap_or_default()),
        ("CELLAR_HEALTH", event.health.map(|h| h.as_str().to_string()).unwrap_or_default()),
        ("CELLAR_PREVIOUS", event.previous.map(|h| h.as_str().to_string()).unwrap_or_default()),
        ("CELLAR_REASON", event.reason.clone()),
        ("CELLAR_INCIDENT", event.incident.as_ref().map(|i| i.id.clone()).unwrap_or_default()),
        ("CELLAR_TEXT", event.summary()),
    ]
}

/// A delivery that failed every attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    pub destination: String,
    pub error: String,
    pub event: String,
}

impl Failed {
    pub fn to_text(&self) -> String {
        format!("NOTIFY-FAILED {}: {} (after {ATTEMPTS} attempts; event: {})", self.destination, self.error, self.event)
    }
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "version": cellar_engine::watch::WATCH_EVENT_VERSION,
            "kind": "notify-failed",
            "destination": self.destination,
            "error": self.error,
            "event": self.event,
            "attempts": ATTEMPTS,
        })
        .to_string()
    }
}

/// The delivery threads, one per destination, and which servers notify which.
pub struct Notifier {
    senders: Vec<mpsc::Sender<WatchEvent>>,
    workers: Vec<JoinHandle<()>>,
    /// Each server's destinations (indices into `senders`).
    routes: BTreeMap<ServerName, Vec<usize>>,
}

impl Notifier {
    /// Threads for every destination the servers' `notify` names (each once); failures are
    /// reported on `out`, as JSON lines when `json`.
    pub fn start(servers: &[(ServerName, Option<Notify>)], out: Output, json: bool) -> Notifier {
        let mut destinations: BTreeSet<Destination> = BTreeSet::new();
        for (_, notify) in servers {
            for d in notify.iter().flat_map(destinations_of) {
                destinations.insert(d);
            }
        }
        let destinations: Vec<Destination> = destinations.into_iter().collect();
        let routes = servers
            .iter()
            .map(|(name, notify)| {
                let mine: Vec<usize> = notify
                    .iter()
                    .flat_map(destinations_of)
                    .filter_map(|d| destinations.iter().position(|x| *x == d))
                    .collect();
                (name.clone(), mine)
            })
            .collect();
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for destination in destinations {
            let (send, receive) = mpsc::channel::<WatchEvent>();
            let out = out.clone();
            workers.push(std::thread::spawn(move || {
                for event in receive {
                    if let Err(error) = deliver_with_retries(&destination, &event, std::thread::sleep) {
                        let failed = Failed { destination: destination.describe(), error, event: event.summary() };
                        let line = if json { failed.to_json() } else { failed.to_text() };
                        if out.line(&line).is_err() {
                            output::stderr(&format!("{line}\n"));
                        }
                    }
                }
            }));
            senders.push(send);
        }
        Notifier { senders, workers, routes }
    }

    /// How many destinations there are.
    pub fn destinations(&self) -> usize {
        self.senders.len()
    }

    /// Queues `event` for its server's destinations (every destination for the
    /// connection's events); events that only inform ([`WatchEvent::notifies`] false) go
    /// nowhere.
    pub fn send(&self, event: &WatchEvent) {
        if !event.notifies() {
            return;
        }
        let all: Vec<usize> = (0..self.senders.len()).collect();
        let to = match &event.server {
            Some(server) => self.routes.get(server).unwrap_or(&all),
            None => &all,
        };
        for i in to {
            // A worker that is gone has nothing left to say.
            let _ = self.senders[*i].send(event.clone());
        }
    }

    /// Waits until every queued notification was delivered or given up.
    pub fn finish(self) {
        drop(self.senders);
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

fn destinations_of(notify: &Notify) -> Vec<Destination> {
    let hooks = notify
        .webhooks
        .iter()
        .map(|Webhook { url, body }| Destination::Webhook { url: url.clone(), slack: *body == WebhookBody::Slack });
    hooks.chain(notify.commands.iter().map(|c| Destination::Command(c.clone()))).collect()
}

/// [`ATTEMPTS`] tries, [`BACKOFF`] doubling between them (`sleep` is injected for tests).
fn deliver_with_retries(destination: &Destination, event: &WatchEvent, sleep: impl Fn(Duration)) -> Result<(), String> {
    let mut wait = BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match destination.deliver(event) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if attempt < ATTEMPTS {
            sleep(wait);
            wait *= 2;
        }
    }
    Err(last)
}
