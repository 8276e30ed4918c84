//! `cellar watch`: checks the servers at an interval and reports each change of health,
//! on standard output and to the `notify` targets of the configuration.

use super::Ctx;
use crate::backend::{Backend, Checkpoint};
use crate::notify::Notifier;
use crate::output;
use anyhow::{bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::monitoring::{Prober, DEFAULT_REMIND_EVERY};
use cellar_engine::selector::Selector;
use cellar_engine::watch::{self, Target, Tracker, WatchEvent};
use clap::ValueEnum;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which servers: a selector (`ommegang,duvel`, `web-*`, `all`, `platform=NAME`,
    /// `tag:KEY=VALUE`). Default: every configured server.
    servers: Option<String>,
    /// Time between two looks (`30s`, `1m`): a server that goes down is reported at most
    /// this long after (two looks for a failing health check).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after this long. On the simulator this is virtual time, run as fast as it
    /// computes (`--for 1h` watches an hour in about a second) unless --sim-pace is given.
    /// Default: until stopped (Ctrl-C or SIGTERM).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_span)]
    span: Option<Duration>,
    /// A line per event for people, or one JSON object per line (docs/watch-events.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub const AFTER_HELP: &str = "Every interval, cellar reads the servers' status (as `cellar status` does, batched by \
region), EC2's status checks and scheduled events of their instances (DescribeInstanceStatus) and each server's \
`health_check` probe, and reports what changed:\n  \
down, degraded   an incident begins (or gets worse: degraded -> down); once per incident\n  \
reminder         it still lasts (notify.remind_every_mins, default 60; 0: never)\n  \
recovered        it ended: healthy again (resolved: stopped or absent on purpose)\n  \
scheduled        AWS scheduled a retirement, reboot or maintenance of the instance (once, with its date)\n  \
connection-lost  the cloud cannot be read (and connection-restored)\n  \
changed          another change (healthy -> stopped), on the output only\n\
A running server is down when its instance fails a status check or its health_check fails twice in a row.\n\n\
Notifications: every event but `changed` also goes to the server's `notify` webhooks (POST of the event's JSON, \
or Slack's {\"text\"}) and commands (the event in CELLAR_* variables and as JSON on stdin), each tried 4 times \
0.5 s, 1 s, 2 s apart; a delivery that still fails is reported as a `notify-failed` line and the watch goes on.\n\n\
On the simulator the watch runs on the virtual clock and the faults of `cellar sim faults` happen during it: \
with --for and no --sim-pace as fast as it computes, holding the state file; otherwise at --sim-pace N (default \
1: real time), letting other commands in between two looks.\n\n\
Exit codes: 0 when --for ends or on Ctrl-C / SIGTERM (after the queued notifications went out); 1 on error.\n\n\
Examples:\n  cellar watch\n  cellar watch 'web-*' --interval 1m --format json | tee -a watch.log\n  \
cellar watch --for 2h                      # on the simulator: two virtual hours, at once\n  \
cellar --backend aws watch platform=debian-web";

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 30s, 1m or 2m30s)"))?;
    match d.as_secs() {
        1..=86_400 => Ok(d),
        _ => Err("the interval must be from 1s to 1d".into()),
    }
}

fn parse_span(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 10m, 2h or 7d)"))?;
    match d.as_secs() {
        0..=31_536_000 => Ok(d),
        _ => Err("--for is at most 365d".into()),
    }
}

/// How the watch waits between two looks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pace {
    /// AWS: real time, on the cloud's own clock.
    Real,
    /// The simulator's virtual clock only, as fast as it computes (state file held).
    Virtual,
    /// The simulator's clock moves, then the watch waits 1/N of it in real time with the
    /// state file unlocked.
    Paced(u32),
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let names = match args.servers.as_deref() {
        None => tree.server_names(),
        Some(text) => Selector::parse(text)?.select(&tree)?,
    };
    if names.is_empty() {
        bail!(
            "no server is configured in {}: nothing to watch\n  fix: add servers/<name>.ron (see fixtures/config)",
            tree.dir().display()
        );
    }
    let mut targets = Vec::with_capacity(names.len());
    let mut notify = Vec::with_capacity(names.len());
    for name in names {
        let config = tree.server(&name)?;
        notify.push((name.clone(), config.notify.as_ref().map(|n| n.value.clone())));
        targets.push(Target {
            name,
            region: config.region.value.clone(),
            dns_name: config.dns_name.as_ref().map(|d| d.value.clone()),
            health_check: config.health_check.as_ref().map(|h| h.value.clone()),
        });
    }
    let remind = notify
        .iter()
        .map(|(name, n)| (name.clone(), n.as_ref().map_or(Some(DEFAULT_REMIND_EVERY), |n| n.remind_every)));
    let mut tracker = Tracker::new(remind);

    let backend = Backend::open_unpaced(ctx).await?;
    let pace = match (backend.is_simulated(), args.span, ctx.sim_pace) {
        (false, _, _) => Pace::Real,
        (true, Some(_), None) => Pace::Virtual,
        (true, _, pace) => Pace::Paced(pace.unwrap_or(1)),
    };
    let json = args.format == Format::Json;
    let notifier = Notifier::start(&notify, ctx.out.clone(), json);
    output::stderr(&header(&targets, &args, pace, notifier.destinations()));

    let (cloud, prober, checkpoint) = (backend.cloud(), backend.prober(), backend.checkpoint());
    let looks = watch_loop(ctx, (&*cloud, &*prober, &checkpoint), &targets, &mut tracker, &notifier, &args, pace);
    let stopped = tokio::select! {
        ended = looks => { ended?; None }
        signal = stop_signal() => Some(signal?),
    };
    drop((cloud, prober));
    if let Some(signal) = stopped {
        output::stderr(&format!("{signal}: the watch stops (notifications still queued go out first)\n"));
    }
    notifier.finish();
    // Stopped between two looks at --sim-pace, the state is already saved and let go.
    checkpoint.save_if_held()?;
    drop(backend);
    Ok(0)
}

/// `watching 5 servers every 30s (...)`, on stderr.
fn header(targets: &[Target], args: &Args, pace: Pace, destinations: usize) -> String {
    let probes = targets.iter().filter(|t| t.health_check.is_some()).count();
    let clock = match pace {
        Pace::Real => String::new(),
        Pace::Virtual => " on the simulator's virtual clock".to_string(),
        Pace::Paced(1) => " on the simulator, in real time".to_string(),
        Pace::Paced(n) => format!(" on the simulator, {n} times faster than real time"),
    };
    let span = args.span.map(|d| format!(" for {}", humantime::format_duration(d))).unwrap_or_default();
    format!(
        "watching {} server{} every {}{span}{clock}; {probes} with a health check, {destinations} notification target{}\n",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        humantime::format_duration(args.interval),
        if destinations == 1 { "" } else { "s" },
    )
}

/// Looks, reports, waits; until `--for` is over (forever without it).
async fn watch_loop(
    ctx: &Ctx,
    (cloud, prober, checkpoint): (&dyn Cloud, &dyn Prober, &Checkpoint),
    targets: &[Target],
    tracker: &mut Tracker,
    notifier: &Notifier,
    args: &Args,
    pace: Pace,
) -> Result<()> {
    let until = match args.span {
        Some(span) => Some(cloud.now().await.plus_secs(span.as_secs())),
        None => None,
    };
    let policy = watch::policy();
    loop {
        let at = cloud.now().await;
        let started_ms = cloud.now_ms().await;
        let events = match watch::observe(cloud, prober, targets, &policy).await {
            Ok(observations) => tracker.observe(at, &observations),
            Err(e) => tracker.unreadable(at, &e.to_string()),
        };
        report(ctx, &events, notifier, args.format == Format::Json)?;
        // Whoever read the events is gone (`cellar watch | head -3`): so is the watch.
        if ctx.out.is_closed() {
            return Ok(());
        }
        if until.is_some_and(|until| at.plus_secs(args.interval.as_secs()) > until) {
            return Ok(());
        }
        let spent = Duration::from_millis(cloud.now_ms().await.saturating_sub(started_ms));
        let wait = args.interval.saturating_sub(spent);
        cloud.sleep(wait).await;
        match pace {
            Pace::Real => {}
            Pace::Virtual => checkpoint.save()?,
            Pace::Paced(n) => checkpoint.released_while(tokio::time::sleep(wait / n)).await?,
        }
    }
}

/// Prints the events and queues their notifications.
fn report(ctx: &Ctx, events: &[WatchEvent], notifier: &Notifier, json: bool) -> Result<()> {
    for event in events {
        ctx.out.line(&if json { event.to_json() } else { event.to_text() })?;
        notifier.send(event);
    }
    Ok(())
}

/// The first of SIGTERM and SIGINT, by name.
#[cfg(unix)]
async fn stop_signal() -> Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("watching for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching for Ctrl-C")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "Ctrl-C",
    })
}

#[cfg(not(unix))]
async fn stop_signal() -> Result<&'static str> {
    tokio::signal::ctrl_c().await.context("watching for Ctrl-C")?;
    Ok("Ctrl-C")
}
