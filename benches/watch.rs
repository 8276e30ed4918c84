//! Benchmark: `cellar watch`'s two-minute promise and its cost, on the simulator's
//! virtual clock.
//!
//! **Time to notice.** N servers (`s00`, ... of `tests/support/scenario`, each with a TCP
//! health check of `{address}:80`) are created, then watched at the default interval
//! (30 s) for H virtual hours, under AWS's token buckets and 50–150 ms of latency a call,
//! while incidents happen, one every ten minutes (at every phase of the interval), each to
//! another server, in turn:
//! - an Amazon termination with capacity to respawn;
//! - an Amazon termination in a zone without capacity (back eight minutes later);
//! - the instance's system status check impaired (for ten minutes; its group replaces it);
//! - its service unreachable from outside (five minutes);
//! - its data volume detached by hand (attached again five minutes later).
//!
//! For each incident: the time from the fault to the watch's first `down` or `degraded`
//! event for that server (median, p99, maximum; all must be under two minutes), and any
//! incident never noticed. A **false alarm** is an incident event for a server with no
//! fault under way (from its fault to five minutes after it was undone): zero expected.
//!
//! **With backups.** As `cellar watch` does, the watch takes the servers' scheduled
//! backups alongside its looks (`cellar_cli::watch_backups`: the same rounds, locks, fleet
//! plans and unattended applies): every server at the first look (never backed up), and
//! every server again at its `daily_at`, set three hours into the run, both rounds of all N
//! servers at once while incidents happen. The incidents noticed while a round was under
//! way are reported apart (`CELLAR_BENCH_WATCH_BACKUPS=0` watches without them).
//!
//! **Cost.** One look at 10, 100 and 1,000 healthy servers: the calls the simulator served
//! (its call count) by operation (the watch's call counts), and the share of each token
//! bucket's refill over one interval that a look takes.
//!
//! Run: `cargo bench -p cellar --no-default-features --bench watch`
//! (`CELLAR_BENCH_WATCH_SERVERS=100`, `CELLAR_BENCH_WATCH_HOURS=12`,
//! `CELLAR_BENCH_WATCH_COST=10,100,1000`, `CELLAR_BENCH_WATCH_BACKUPS=1`).

#[path = "../tests/support/mod.rs"]
mod support;

use cellar_cli::watch_backups::{drive, Backups};
use cellar_engine::caller::{CallCounts, Policy};
use cellar_engine::cloud::Cloud;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor;
use cellar_engine::limits::Bucket;
use cellar_engine::model::*;
use cellar_engine::monitoring::{HealthCheck, HealthCheckKind};
use cellar_engine::plan::Plan;
use cellar_engine::watch::{self, EventKind, Target, Tracker, WatchEvent};
use cellar_sim::{CapacityChange, Faults, Impairment, ScheduledTermination, Sim, StatusCheck, Unreachable};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const INTERVAL: u64 = 30;
/// Ten minutes between two incidents.
const SPACING: u64 = 600;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    TerminatedRespawns,
    TerminatedNoCapacity,
    Impaired,
    Unreachable,
    VolumeDetached,
}

const KINDS: [Kind; 5] =
    [Kind::TerminatedRespawns, Kind::TerminatedNoCapacity, Kind::Impaired, Kind::Unreachable, Kind::VolumeDetached];

/// One incident: its server, kind, when the fault happens and when it is undone.
#[derive(Clone, Debug)]
struct Incident {
    server: ServerName,
    zone: Zone,
    kind: Kind,
    at: u64,
    undone: u64,
    noticed: Option<u64>,
}

fn main() {
    let servers: usize = env_or("CELLAR_BENCH_WATCH_SERVERS", 100);
    let hours: u64 = env_or("CELLAR_BENCH_WATCH_HOURS", 12);
    let cost_sizes: Vec<usize> = std::env::var("CELLAR_BENCH_WATCH_COST")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    let backups = env_or("CELLAR_BENCH_WATCH_BACKUPS", 1) != 0;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let wall = Instant::now();
        // The backup rounds are local tasks beside the looks, as in `cellar watch`.
        tokio::task::LocalSet::new().run_until(time_to_notice(servers, hours, backups)).await;
        println!("  (wall {:.1} s)", wall.elapsed().as_secs_f64());
        for n in cost_sizes {
            cost(n).await;
        }
    });
}

/// The default world with room for `n` servers, all created and healthy.
async fn fleet(n: usize) -> (tempfile::TempDir, ConfigTree, Arc<Sim>, Vec<Target>) {
    let (dir, tree) = support::scenario::config(n);
    let mut world = cellar_sim::default_world();
    world.reseed(12);
    world.set_address_limit(n as u32 + 1).unwrap();
    for zone in ["a", "b", "c", "d"] {
        world
            .set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), 2 * n as u32 + 10)
            .unwrap();
    }
    let sim = Arc::new(Sim::new(world));
    let mut plans = Vec::new();
    for server in tree.server_names() {
        let line = format!("create-server@{server} 10");
        plans.push(support::plan_in(&*sim, &tree, &line).await.unwrap_or_else(|e| panic!("{line}: {e}")));
    }
    let plan = Plan::merge(plans);
    let policy = Policy { concurrency: 32, seed: 12, ..Policy::default() };
    let report = executor::apply(sim.clone(), Arc::new(support::Recorder::new(true)), &plan, policy).await;
    assert!(report.succeeded(), "{}", report.summary());
    sim.advance(Duration::from_secs(300)).await;
    let check = HealthCheck {
        kind: HealthCheckKind::Tcp { host: "{address}".into(), port: 80 },
        timeout: Duration::from_secs(5),
    };
    let targets = tree
        .server_names()
        .into_iter()
        .map(|name| {
            let config = tree.server(&name).unwrap();
            Target {
                region: config.region.value.clone(),
                dns_name: config.dns_name.as_ref().map(|d| d.value.clone()),
                health_check: Some(check.clone()),
                name,
            }
        })
        .collect();
    (dir, tree, sim, targets)
}

async fn time_to_notice(n: usize, hours: u64, with_backups: bool) {
    let (dir, tree, sim, targets) = fleet(n).await;
    let start = sim.now().await.0;
    let end = start + hours * 3600;
    // The daily backup three hours in (on the minute), for every server.
    let daily_at = (start + 3 * 3600) % 86_400 / 60;
    let journals = tempfile::tempdir().unwrap();
    let mut backups = match with_backups {
        true => {
            let global = dir.path().join("global.ron");
            let text = std::fs::read_to_string(&global).unwrap();
            let at = format!(r#", backups: (daily_at: "{:02}:{:02}"))"#, daily_at / 60, daily_at % 60);
            std::fs::write(&global, format!("{}{at}", text.trim_end().trim_end_matches(')'))).unwrap();
            let tree = Arc::new(ConfigTree::load(dir.path()).unwrap());
            let cloud: Arc<dyn Cloud> = sim.clone();
            Some(Backups::new(cloud, tree, &tree_names(&targets), journals.path().to_path_buf()).unwrap())
        }
        false => None,
    };
    // When each round was under way, and what it said.
    let mut rounds: Vec<(u64, Option<u64>)> = Vec::new();
    let mut backup_events: BTreeMap<&'static str, usize> = BTreeMap::new();
    // The incidents, each to another server (round the fleet, a prime step apart).
    let names = tree.server_names();
    let count = ((end - start) / SPACING).saturating_sub(1) as usize;
    let mut incidents: Vec<Incident> = (0..count)
        .map(|i| {
            let server = names[(i * 7) % names.len()].clone();
            let zone = tree.server(&server).unwrap().zone_name();
            let kind = KINDS[i % KINDS.len()];
            // At every phase of the watch's interval (1 to 30 s past a look), not on a look.
            let at = start + SPACING * (i as u64 + 1) + (i as u64 * 11) % INTERVAL + 1;
            let undone = at
                + match kind {
                    Kind::TerminatedRespawns => 0,
                    Kind::TerminatedNoCapacity => 480,
                    Kind::Impaired => 600,
                    Kind::Unreachable | Kind::VolumeDetached => 300,
                };
            Incident { server, zone, kind, at, undone, noticed: None }
        })
        .collect();
    // AWS's latency on every call and its token buckets, as in the other benchmarks.
    let mut faults = Faults { throttling: true, latency_ms: (50, 150), ..Faults::default() };
    let t3 = InstanceType::new("t3.medium");
    for i in &incidents {
        let target = i.server.to_string();
        match i.kind {
            Kind::TerminatedRespawns => faults.terminations.push(ScheduledTermination { at: Timestamp(i.at), target }),
            Kind::TerminatedNoCapacity => {
                faults.capacity.push(CapacityChange {
                    at: Timestamp(i.at - 1),
                    zone: i.zone.clone(),
                    instance_type: t3.clone(),
                    count: 0,
                });
                faults.terminations.push(ScheduledTermination { at: Timestamp(i.at), target });
                let back = 2 * n as u32 + 10;
                faults.capacity.push(CapacityChange {
                    at: Timestamp(i.undone),
                    zone: i.zone.clone(),
                    instance_type: t3.clone(),
                    count: back,
                });
            }
            Kind::Impaired => faults.impairments.push(Impairment {
                at: Timestamp(i.at),
                target,
                check: StatusCheck::System,
                secs: Some(i.undone - i.at),
            }),
            Kind::Unreachable => faults.unreachable.push(Unreachable {
                at: Timestamp(i.at),
                server: i.server.clone(),
                secs: i.undone - i.at,
            }),
            Kind::VolumeDetached => {}
        }
    }
    sim.with_world(|w| w.set_faults(faults)).unwrap();
    // The detaches and attaches the bench does by hand, by time.
    let mut by_hand: BTreeMap<u64, (bool, ServerName)> = BTreeMap::new();
    for i in incidents.iter().filter(|i| i.kind == Kind::VolumeDetached) {
        by_hand.insert(i.at, (false, i.server.clone()));
        by_hand.insert(i.undone, (true, i.server.clone()));
    }
    let mut tracker = Tracker::new(targets.iter().map(|t| (t.name.clone(), None)));
    let policy = watch::policy();
    let mut false_alarms = Vec::new();
    let mut events = 0usize;
    let grace = 300;
    loop {
        let at = sim.now().await;
        let mut backup_said: Vec<WatchEvent> = Vec::new();
        let mut said = |events: Vec<WatchEvent>| {
            backup_said.extend(events);
            Ok(())
        };
        let observed = drive(&mut backups, watch::observe(&*sim, &*sim, &targets, &policy), &mut said).await.unwrap();
        let mut found = match &observed {
            Ok(observations) => tracker.observe(at, observations),
            Err(e) => tracker.unreadable(at, &e.to_string()),
        };
        if let (Ok(observations), Some(b)) = (&observed, backups.as_mut()) {
            let was = b.running();
            b.after_look(at, observations).await;
            if !was && b.running() {
                rounds.push((at.0, None));
            }
        }
        found.append(&mut backup_said);
        for event in found {
            if let Some(kind) = backup_kind(event.kind) {
                *backup_events.entry(kind).or_default() += 1;
                if let Some((_, ended)) = rounds.last_mut().filter(|(_, ended)| ended.is_none()) {
                    *ended = Some(event.at.0);
                }
                continue;
            }
            events += 1;
            if !matches!(event.kind, EventKind::Down | EventKind::Degraded) {
                continue;
            }
            let server = event.server.clone().expect("a server's event");
            let open = incidents
                .iter_mut()
                .find(|i| i.server == server && i.at <= event.at.0 && event.at.0 <= i.undone + grace);
            match open {
                Some(i) => {
                    i.noticed.get_or_insert(event.at.0);
                }
                None => false_alarms.push(event.to_text()),
            }
        }
        let next = at.0 + INTERVAL;
        if next > end {
            break;
        }
        // Sleep to the next look, doing by hand what falls due meanwhile.
        let due: Vec<(u64, (bool, ServerName))> =
            by_hand.range(at.0 + 1..=next).map(|(t, w)| (*t, w.clone())).collect();
        let mut said = |events: Vec<WatchEvent>| {
            for e in events.iter().filter_map(|e| backup_kind(e.kind).map(|k| (k, e.at.0))) {
                *backup_events.entry(e.0).or_default() += 1;
                if let Some((_, ended)) = rounds.last_mut().filter(|(_, ended)| ended.is_none()) {
                    *ended = Some(e.1);
                }
            }
            Ok(())
        };
        for (t, (attach, server)) in due {
            let now = sim.now().await.0;
            drive(&mut backups, sim.sleep(Duration::from_secs(t.saturating_sub(now))), &mut said).await.unwrap();
            by_hand_volume(&sim, &server, attach).await;
        }
        let now_ms = sim.now_ms().await;
        let wait = Duration::from_millis((next * 1000).saturating_sub(now_ms));
        drive(&mut backups, sim.sleep(wait), &mut said).await.unwrap();
    }
    if let Some(b) = backups.as_mut() {
        for e in b.finish().await {
            *backup_events.entry(backup_kind(e.kind).unwrap_or("other")).or_default() += 1;
        }
    }
    let mut latencies: Vec<u64> = incidents.iter().filter_map(|i| i.noticed.map(|t| t - i.at)).collect();
    latencies.sort_unstable();
    let missed: Vec<&Incident> = incidents.iter().filter(|i| i.noticed.is_none()).collect();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0);
    println!(
        "time to notice: {n} servers watched every {INTERVAL} s for {hours} virtual hours, {} incidents ({events} events)",
        incidents.len()
    );
    println!(
        "  fault → event: median {} s, p99 {} s, max {} s (promise: under 120 s); noticed {} of {}",
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len(),
        incidents.len()
    );
    let mut by_kind: BTreeMap<Kind, Vec<u64>> = BTreeMap::new();
    for i in &incidents {
        by_kind.entry(i.kind).or_default().extend(i.noticed.map(|t| t - i.at));
    }
    for (kind, mut l) in by_kind {
        l.sort_unstable();
        println!(
            "  {kind:?}: {} noticed, median {} s, max {} s",
            l.len(),
            l.get(l.len() / 2).copied().unwrap_or(0),
            l.last().copied().unwrap_or(0)
        );
    }
    if with_backups {
        let during: Vec<u64> = incidents
            .iter()
            .filter(|i| rounds.iter().any(|(from, to)| *from <= i.at && i.at <= to.unwrap_or(end)))
            .filter_map(|i| i.noticed.map(|t| t - i.at))
            .collect();
        let spans: Vec<String> = rounds
            .iter()
            .map(|(from, to)| format!("+{} s for {} s", from - start, to.unwrap_or(end).saturating_sub(*from)))
            .collect();
        let said: Vec<String> = backup_events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "  with backups: {} rounds of all {n} servers ({}), daily_at {:02}:{:02}; events: {}",
            rounds.len(),
            spans.join(", "),
            daily_at / 60,
            daily_at % 60,
            said.join(", ")
        );
        println!(
            "  incidents while a round was under way: {} noticed, max {} s",
            during.len(),
            during.iter().max().copied().unwrap_or(0)
        );
    }
    println!("  missed: {}; false alarms: {} (zero expected)", missed.len(), false_alarms.len());
    for m in missed.iter().take(5) {
        println!("    missed {m:?}");
    }
    for f in false_alarms.iter().take(5) {
        println!("    false alarm: {f}");
    }
}

/// The names of the watched servers.
fn tree_names(targets: &[Target]) -> Vec<ServerName> {
    targets.iter().map(|t| t.name.clone()).collect()
}

/// A backup event's kind, by name; `None` for the health events.
fn backup_kind(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Backup
        | EventKind::BackupFailed
        | EventKind::BackupPostponed
        | EventKind::Pruned
        | EventKind::PruneFailed => Some(kind.as_str()),
        _ => None,
    }
}

/// Detaches the server's data volume from its instance, or attaches it again.
async fn by_hand_volume(sim: &Arc<Sim>, server: &ServerName, attach: bool) {
    let region = Region::new("us-east-1");
    let filter = cellar_engine::cloud::Filter::Server(server.clone());
    let instance =
        sim.describe_instances(&region, &filter).await.unwrap().into_iter().find(|i| i.state == InstanceState::Running);
    let volume = sim.describe_volumes(&region, &filter).await.unwrap().into_iter().next();
    let (Some(instance), Some(volume)) = (instance, volume) else { return };
    let done = match attach {
        false if volume.attached_to.as_ref() == Some(&instance.id) => {
            sim.detach_volume(&region, &volume.id, &instance.id).await
        }
        true if volume.attached_to.is_none() => sim.attach_volume(&region, &volume.id, &instance.id, "/dev/sdf").await,
        _ => Ok(()),
    };
    if let Err(e) = done {
        println!("    by hand on {server}: {e}");
    }
}

/// One look at `n` healthy servers: the calls it makes, by operation and by bucket.
async fn cost(n: usize) {
    let (_dir, _tree, sim, targets) = fleet(n).await;
    let counts = Arc::new(CallCounts::default());
    let policy = Policy { counts: Some(counts.clone()), ..watch::policy() };
    let before = sim.world().api_calls();
    let observed = watch::observe(&*sim, &*sim, &targets, &policy).await.expect("a look at healthy servers");
    let served = sim.world().api_calls() - before;
    let healthy = observed.iter().filter(|o| o.status.health == cellar_engine::status::Health::Healthy).count();
    let mut by_api = Vec::new();
    let mut by_bucket: BTreeMap<Bucket, u64> = BTreeMap::new();
    for (request, (calls, _)) in counts.by_request() {
        by_api.push(format!("{} {calls}", request.api));
        for bucket in request.buckets() {
            *by_bucket.entry(bucket).or_default() += calls;
        }
    }
    let busiest = by_bucket
        .iter()
        .map(|(b, calls)| (*calls as f64 / (b.rate().1 * INTERVAL as f64), *b, *calls))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (share, bucket, calls) = busiest.unwrap_or((0.0, Bucket::AutoScaling, 0));
    println!(
        "cost of a look at {n} servers ({healthy} healthy): {served} calls ({}); busiest bucket {bucket}: {calls} a look = {:.2}% of its refill in {INTERVAL} s",
        by_api.join(", "),
        share * 100.0
    );
}
