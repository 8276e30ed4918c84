//! `cellar watch`: checks the servers at an interval and reports each change of health,
//! on standard output and to the `notify` targets of the configuration; and takes their
//! scheduled backups when they fall due, then prunes (`backups.rs`), alongside the looks.

pub mod backups;

use super::{apply, Ctx};
use crate::backend::{Backend, Checkpoint};
use crate::notify::Notifier;
use crate::output;
use anyhow::{anyhow, bail, Context, Result};
use backups::{drive, Backups};
use cellar_engine::cloud::Cloud;
use cellar_engine::model::ServerName;
use cellar_engine::monitoring::{Prober, DEFAULT_REMIND_EVERY};
use cellar_engine::selector::Selector;
use cellar_engine::watch::{self, Target, Tracker, WatchEvent};
use clap::ValueEnum;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Only watch: take no scheduled backup and prune nothing (cron can, with `cellar apply
    /// backup@all --due --yes` and `cellar apply prune@all --yes`).
    #[arg(long)]
    no_backups: bool,
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
changed          another change (healthy -> stopped), on the output only\n  \
backup           a scheduled backup was taken (notified only when missed: the machine was off)\n  \
backup-failed    it could not be taken (tried again in 5 min, doubling), or waited 1 h for a lock\n  \
backup-postponed another apply holds the server's lock: tried at each look (output only)\n  \
pruned           the backups retention no longer keeps were deleted (output only; prune-failed)\n\
A running server is down when its instance fails a status check or its health_check fails twice in a row.\n\n\
Backups: every watched server whose `backups` is not Off has its scheduled backup taken when it falls due (daily_at, \
UTC; read from its snapshots once, at the first look), as `cellar apply backup@SERVERS --due --yes` takes it, then \
prune@SERVERS: under each server's lock, planned and applied unattended, journaled under journals/ next to the \
simulator's state. A backup the watch was not running for (the machine was off) is taken at the first look and said \
to be missed. The looks go on while a backup waits for its snapshots; a failing backup never stops the watch. \
--no-backups only watches (cron can take the backups instead: see the README).\n\n\
Notifications: every event but `changed`, `backup-postponed`, `pruned` and a `backup` on time also goes to the server's `notify` webhooks (POST of the event's JSON, \
or Slack's {\"text\"}) and commands (the event in CELLAR_* variables and as JSON on stdin), each tried 4 times \
0.5 s, 1 s, 2 s apart; a delivery that still fails is reported as a `notify-failed` line and the watch goes on.\n\n\
On the simulator the watch runs on the virtual clock and the faults of `cellar sim faults` happen during it: \
with --for and no --sim-pace as fast as it computes, holding the state file; otherwise at --sim-pace N (default \
1: real time), letting other commands in between two looks (a backup under way waits meanwhile).\n\n\
Exit codes: 0 when --for ends or on Ctrl-C / SIGTERM (after the queued notifications went out); 1 on error.\n\n\
Examples:\n  cellar watch\n  cellar watch 'web-*' --interval 1m --format json | tee -a watch.log\n  \
cellar watch --for 2h                      # on the simulator: two virtual hours, at once\n  \
cellar watch --for 2d                      # ... and two days of scheduled backups\n  \
cellar watch --no-backups                  # only watch\n  \
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
    // The backup rounds are tasks of the watch's one thread, beside its looks.
    tokio::task::LocalSet::new().run_until(watch(ctx, args)).await
}

async fn watch(ctx: &Ctx, args: Args) -> Result<i32> {
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
    let names: Vec<ServerName> = targets.iter().map(|t| t.name.clone()).collect();
    let mut backups = match args.no_backups {
        true => None,
        false => Some(
            Backups::new(backend.cloud(), Arc::new(tree), &names, apply::journals_dir(ctx))?
                .with_checkpoint(backend.checkpoint()),
        ),
    };
    let json = args.format == Format::Json;
    let notifier = Notifier::start(&notify, ctx.out.clone(), json);
    let backed_up = backups.as_ref().map(Backups::len);
    output::stderr(&header(&targets, &args, pace, notifier.destinations(), backed_up));
    let stop = StopSignal::listen()?;
    let stopped = stop.stopped.clone();

    let (cloud, prober, checkpoint) = (backend.cloud(), backend.prober(), backend.checkpoint());
    let parts = (&*cloud, &*prober, &checkpoint);
    let looks = watch_loop(ctx, parts, (&targets, &mut tracker, &mut backups), &notifier, &args, (pace, &stopped));
    let stopped = tokio::select! {
        ended = looks => { ended?; None }
        signal = stop.first() => Some(signal),
    };
    if let Some(signal) = stopped {
        output::stderr(&format!("{signal}: the watch stops (notifications still queued go out first)\n"));
        let aborted = match backups.as_mut() {
            Some(b) => b.abort().await,
            None => Vec::new(),
        };
        if !aborted.is_empty() {
            let names: Vec<&str> = aborted.iter().map(ServerName::as_str).collect();
            output::stderr(&format!(
                "the backups of {} under way were stopped and their locks released; snapshots already asked for \
                 complete on their own, and the next watch (or `cellar apply backup@all --due`) takes what is still due\n",
                names.join(", ")
            ));
        }
    }
    drop((cloud, prober, backups));
    notifier.finish();
    // Stopped between two looks at --sim-pace, the state is already saved and let go.
    checkpoint.save_if_held()?;
    drop(backend);
    Ok(0)
}

/// `watching 5 servers every 30s (...)`, on stderr.
fn header(targets: &[Target], args: &Args, pace: Pace, destinations: usize, backed_up: Option<usize>) -> String {
    let probes = targets.iter().filter(|t| t.health_check.is_some()).count();
    let clock = match pace {
        Pace::Real => String::new(),
        Pace::Virtual => " on the simulator's virtual clock".to_string(),
        Pace::Paced(1) => " on the simulator, in real time".to_string(),
        Pace::Paced(n) => format!(" on the simulator, {n} times faster than real time"),
    };
    let span = args.span.map(|d| format!(" for {}", humantime::format_duration(d))).unwrap_or_default();
    let backups = match backed_up {
        None => "no backups (--no-backups)".to_string(),
        Some(n) => format!("{n} backed up on schedule"),
    };
    format!(
        "watching {} server{} every {}{span}{clock}; {probes} with a health check, {destinations} notification target{}; {backups}\n",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        humantime::format_duration(args.interval),
        if destinations == 1 { "" } else { "s" },
    )
}

/// Looks, reports, starts the backups that are due, waits; until `--for` is over (forever
/// without it). A backup round runs alongside the looks and waits ([`drive`]); the one
/// under way when the watch ends is finished first.
async fn watch_loop(
    ctx: &Ctx,
    (cloud, prober, checkpoint): (&dyn Cloud, &dyn Prober, &Checkpoint),
    (targets, tracker, backups): (&[Target], &mut Tracker, &mut Option<Backups>),
    notifier: &Notifier,
    args: &Args,
    (pace, stopped): (Pace, &AtomicBool),
) -> Result<()> {
    let json = args.format == Format::Json;
    let mut said = |events: Vec<WatchEvent>| report(ctx, &events, notifier, json);
    let until = match args.span {
        Some(span) => Some(cloud.now().await.plus_secs(span.as_secs())),
        None => None,
    };
    let policy = watch::policy();
    loop {
        if stopped.load(Ordering::SeqCst) {
            // A stop signal cut the wait short: its branch of `run` ends the watch.
            return std::future::pending().await;
        }
        let at = cloud.now().await;
        let started_ms = cloud.now_ms().await;
        let observed = drive(backups, watch::observe(cloud, prober, targets, &policy), &mut said).await?;
        let events = match &observed {
            Ok(observations) => tracker.observe(at, observations),
            Err(e) => tracker.unreadable(at, &e.to_string()),
        };
        said(events)?;
        // Whoever read the events is gone (`cellar watch | head -3`): so is the watch.
        if ctx.out.is_closed() {
            break;
        }
        if let (Ok(observations), Some(b)) = (&observed, backups.as_mut()) {
            b.after_look(at, observations).await;
        }
        if until.is_some_and(|until| at.plus_secs(args.interval.as_secs()) > until) {
            break;
        }
        let spent = Duration::from_millis(cloud.now_ms().await.saturating_sub(started_ms));
        let wait = args.interval.saturating_sub(spent);
        match pace {
            Pace::Real => drive(backups, cloud.sleep(wait), &mut said).await?,
            Pace::Virtual => {
                drive(backups, cloud.sleep(wait), &mut said).await?;
                checkpoint.save()?;
            }
            // A backup's steps run on this thread: they go on with the clock up to the
            // next look, then nothing runs while the state file is let go.
            Pace::Paced(n) if backups.as_ref().is_some_and(Backups::running) => {
                drive(backups, cloud.sleep(wait), &mut said).await?;
                checkpoint.released(|| pause(wait / n, stopped))?;
            }
            Pace::Paced(n) => {
                cloud.sleep(wait).await;
                checkpoint.released_while(tokio::time::sleep(wait / n)).await?;
            }
        }
    }
    if let Some(b) = backups.as_mut() {
        let events = b.finish().await;
        said(events)?;
    }
    Ok(())
}

/// Waits `length` in real time blocking the watch's thread (so nothing of it runs), in
/// short slices, ended early by a stop signal.
fn pause(length: Duration, stopped: &AtomicBool) {
    let end = std::time::Instant::now() + length;
    while !stopped.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
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

/// SIGTERM and Ctrl-C, heard on a thread of their own, so that they are heard while the
/// watch's one thread is blocked in a [`pause`].
struct StopSignal {
    /// Set when one came.
    stopped: Arc<AtomicBool>,
    first: tokio::sync::oneshot::Receiver<&'static str>,
}

impl StopSignal {
    /// Listens from now on (the handlers are installed when this returns).
    fn listen() -> Result<StopSignal> {
        let stopped = Arc::new(AtomicBool::new(false));
        let (send, first) = tokio::sync::oneshot::channel();
        let (ready, installed) = std::sync::mpsc::channel::<Result<()>>();
        let flag = stopped.clone();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return drop(ready.send(Err(anyhow!(e).context("starting the signal watcher")))),
            };
            runtime.block_on(async move {
                let signal = match stop_signal() {
                    Ok(signal) => signal,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                let _ = ready.send(Ok(()));
                let name = signal.await;
                flag.store(true, Ordering::SeqCst);
                let _ = send.send(name);
            })
        });
        installed.recv().map_err(|_| anyhow!("the signal watcher did not start"))??;
        Ok(StopSignal { stopped, first })
    }

    /// The first signal's name (never, if its thread is gone).
    async fn first(self) -> &'static str {
        match self.first.await {
            Ok(name) => name,
            Err(_) => std::future::pending().await,
        }
    }
}

/// The first of SIGTERM and SIGINT, by name (installed within a runtime).
#[cfg(unix)]
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("watching for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching for Ctrl-C")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "Ctrl-C",
        }
    })
}

#[cfg(not(unix))]
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}
