//! The steps of a scenario: seed commands ([`Cmd`]) and world changes ([`Op`]), how they
//! are written and read back (for replays), and how they are generated: [`op_strategy`]
//! for proptest, [`generate`] for seeded replays and the benchmark.

use super::crash::CrashPoint;
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::fmt;

/// A seed command of a scenario, on a server (`s00`, `s01`, ...) or a workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    CreateServer { server: usize, gb: u32 },
    StopAutoScaling { server: usize, keep_group: bool },
    AttachInstance { server: usize },
    StartAutoScaling { server: usize },
    UpgradeAmi { server: usize, restart: bool },
    Sync { server: usize, restart: bool },
    DestroyServer { server: usize, delete_data: bool },
    CreateWorkspace,
    BundleAmi { workspace: u32 },
    DestroyWorkspace { workspace: u32 },
    Backup { server: usize, due: bool },
    Prune { server: usize, orphans: bool },
    Restore { server: usize, at: RestoreTo, delete_old: bool },
}

/// What a scenario's restore-server restores: the newest backups (`--at 2099-12-31`), or
/// fresh snapshots into zone `us-east-1<letter>` (`--at now --zone LETTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreTo {
    Latest,
    Now(char),
}

/// The `--at` of [`RestoreTo::Latest`]: after every backup a scenario takes.
pub const LATEST: &str = "2099-12-31";

/// Every kind of command a scenario runs ([`Cmd::kind`]), in the order they are reported.
pub const KINDS: &[&str] = &[
    "create-server",
    "stop-auto-scaling",
    "stop-auto-scaling --keep-group",
    "attach-instance",
    "start-auto-scaling",
    "upgrade-ami",
    "upgrade-ami --restart",
    "sync",
    "sync --restart",
    "destroy-server",
    "destroy-server --delete-data",
    "create-workspace",
    "bundle-ami",
    "destroy-workspace",
    "backup",
    "backup --due",
    "prune",
    "prune --orphans",
    "restore-server",
    "restore-server --at now",
    "fleet",
];

pub(super) fn server_name(i: usize) -> String {
    format!("s{i:02}")
}

impl Cmd {
    /// The command line, e.g. `create-server@s01 20`.
    pub fn line(&self) -> String {
        let flag = |on: bool, flag: &str| if on { format!(" {flag}") } else { String::new() };
        match self {
            Cmd::CreateServer { server, gb } => format!("create-server@{} {gb}", server_name(*server)),
            Cmd::StopAutoScaling { server, keep_group } => {
                format!("stop-auto-scaling@{}{}", server_name(*server), flag(*keep_group, "--keep-group"))
            }
            Cmd::AttachInstance { server } => format!("attach-instance@{}", server_name(*server)),
            Cmd::StartAutoScaling { server } => format!("start-auto-scaling@{}", server_name(*server)),
            Cmd::UpgradeAmi { server, restart } => {
                format!("upgrade-ami@{}{}", server_name(*server), flag(*restart, "--restart"))
            }
            Cmd::Sync { server, restart } => format!("sync@{}{}", server_name(*server), flag(*restart, "--restart")),
            Cmd::DestroyServer { server, delete_data } => {
                format!("destroy-server@{}{}", server_name(*server), flag(*delete_data, "--delete-data"))
            }
            Cmd::CreateWorkspace => "create-workspace".into(),
            Cmd::BundleAmi { workspace } => format!("bundle-ami@workspace-{workspace}"),
            Cmd::DestroyWorkspace { workspace } => format!("destroy-workspace@workspace-{workspace}"),
            Cmd::Backup { server, due } => format!("backup@{}{}", server_name(*server), flag(*due, "--due")),
            Cmd::Prune { server, orphans } => format!("prune@{}{}", server_name(*server), flag(*orphans, "--orphans")),
            Cmd::Restore { server, at, delete_old } => {
                let at = match at {
                    RestoreTo::Latest => format!("--at {LATEST}"),
                    RestoreTo::Now(zone) => format!("--at now --zone {zone}"),
                };
                format!("restore-server@{} {at}{}", server_name(*server), flag(*delete_old, "--delete-old"))
            }
        }
    }

    /// The kind it is counted under: the command and its flags (one of [`KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Cmd::CreateServer { .. } => "create-server",
            Cmd::StopAutoScaling { keep_group: false, .. } => "stop-auto-scaling",
            Cmd::StopAutoScaling { keep_group: true, .. } => "stop-auto-scaling --keep-group",
            Cmd::AttachInstance { .. } => "attach-instance",
            Cmd::StartAutoScaling { .. } => "start-auto-scaling",
            Cmd::UpgradeAmi { restart: false, .. } => "upgrade-ami",
            Cmd::UpgradeAmi { restart: true, .. } => "upgrade-ami --restart",
            Cmd::Sync { restart: false, .. } => "sync",
            Cmd::Sync { restart: true, .. } => "sync --restart",
            Cmd::DestroyServer { delete_data: false, .. } => "destroy-server",
            Cmd::DestroyServer { delete_data: true, .. } => "destroy-server --delete-data",
            Cmd::CreateWorkspace => "create-workspace",
            Cmd::BundleAmi { .. } => "bundle-ami",
            Cmd::DestroyWorkspace { .. } => "destroy-workspace",
            Cmd::Backup { due: false, .. } => "backup",
            Cmd::Backup { due: true, .. } => "backup --due",
            Cmd::Prune { orphans: false, .. } => "prune",
            Cmd::Prune { orphans: true, .. } => "prune --orphans",
            Cmd::Restore { at: RestoreTo::Latest, .. } => "restore-server",
            Cmd::Restore { at: RestoreTo::Now(_), .. } => "restore-server --at now",
        }
    }

    /// The server or workspace it names (create-workspace names none before it is planned).
    pub fn target(&self) -> Option<String> {
        match self {
            Cmd::CreateServer { server, .. }
            | Cmd::StopAutoScaling { server, .. }
            | Cmd::AttachInstance { server }
            | Cmd::StartAutoScaling { server }
            | Cmd::UpgradeAmi { server, .. }
            | Cmd::Sync { server, .. }
            | Cmd::DestroyServer { server, .. }
            | Cmd::Backup { server, .. }
            | Cmd::Prune { server, .. }
            | Cmd::Restore { server, .. } => Some(server_name(*server)),
            Cmd::CreateWorkspace => None,
            Cmd::BundleAmi { workspace } | Cmd::DestroyWorkspace { workspace } => {
                Some(format!("workspace-{workspace}"))
            }
        }
    }
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A seed command, planned and (unless refused) applied.
    Command(Cmd),
    /// Amazon terminates the server's instance (if it has one).
    Terminate(usize),
    /// The capacity for t3.medium in zone `us-east-1<zone>` becomes `count`.
    Capacity { zone: char, count: u32 },
    /// Virtual time passes (seconds).
    Advance(u64),
    /// Days pass as they do under cron: each day, a day of virtual time, then every
    /// server's `backup@sNN --due` (as `cellar apply backup@all --due --yes` takes them).
    Cron(u32),
    /// A newer web-server image appears (so upgrade-ami has work).
    NewImage,
    /// The next apply is killed at its `at`-th mutating call (before it is sent, or after
    /// it took effect with its response lost), then resumed from its journal.
    Crash(CrashPoint),
    /// One command for several servers (`sync@s01,s03 --restart`): one fleet plan, as
    /// `cellar plan` makes it, applied in waves of `max_unavailable` servers.
    Fleet { cmds: Vec<Cmd>, max_unavailable: u32 },
}

/// The commands a fleet op is made of, by index: one kind for every server of the op.
fn fleet_cmd(kind: u8, server: usize, flag: bool) -> Cmd {
    match kind {
        0 => Cmd::Sync { server, restart: flag },
        1 => Cmd::UpgradeAmi { server, restart: flag },
        2 => Cmd::StopAutoScaling { server, keep_group: flag },
        _ => Cmd::StartAutoScaling { server },
    }
}

/// `sync@s01,s03 --restart [--max-unavailable 2]`: the first command's line with every
/// server where its one was.
pub fn fleet_line(cmds: &[Cmd], max_unavailable: u32) -> String {
    let Some(first) = cmds.first() else { return String::new() };
    let names: Vec<String> = cmds.iter().filter_map(Cmd::target).collect();
    let one = format!("@{}", first.target().unwrap_or_default());
    let mut line = first.line().replacen(&one, &format!("@{}", names.join(",")), 1);
    if max_unavailable != 1 {
        line.push_str(&format!(" --max-unavailable {max_unavailable}"));
    }
    line
}

/// The text form, one op: a command line, or `!terminate s01`, `!capacity us-east-1b
/// t3.medium 0`, `!advance 600`, `!new-image`, `!crash 3 before`, `!crash 5 after`.
/// [`parse_ops`] reads it back.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Command(cmd) => f.write_str(&cmd.line()),
            Op::Terminate(server) => write!(f, "!terminate {}", server_name(*server)),
            Op::Capacity { zone, count } => write!(f, "!capacity us-east-1{zone} t3.medium {count}"),
            Op::Advance(secs) => write!(f, "!advance {secs}"),
            Op::Cron(days) => write!(f, "!cron {days}"),
            Op::NewImage => f.write_str("!new-image"),
            Op::Crash(CrashPoint { at, after }) => {
                write!(f, "!crash {at} {}", if *after { "after" } else { "before" })
            }
            Op::Fleet { cmds, max_unavailable } => f.write_str(&fleet_line(cmds, *max_unavailable)),
        }
    }
}

/// A sequence as one line, ops separated by `; ` (what `CELLAR_OPS` takes).
pub fn render_ops(ops: &[Op]) -> String {
    ops.iter().map(Op::to_string).collect::<Vec<_>>().join("; ")
}

/// Reads [`render_ops`]'s text back.
pub fn parse_ops(text: &str) -> Result<Vec<Op>, String> {
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(parse_op).collect()
}

fn parse_op(text: &str) -> Result<Op, String> {
    let bad = || format!("cannot read the scenario step {text:?}");
    if let Some((head, rest)) = text.split_once(' ').filter(|(h, _)| h.contains(',')).or_else(|| {
        let head = text.split_whitespace().next()?;
        head.contains(',').then_some((head, ""))
    }) {
        // A fleet: each server's command read as one, the wave size after `--max-unavailable`.
        let (name, targets) = head.split_once('@').ok_or_else(bad)?;
        let (flags, max_unavailable) = match rest.split_once("--max-unavailable") {
            Some((flags, n)) => (flags.trim(), n.trim().parse().map_err(|_| bad())?),
            None => (rest.trim(), 1),
        };
        let cmds = targets
            .split(',')
            .map(|t| match parse_op(&format!("{name}@{t} {flags}"))? {
                Op::Command(cmd) => Ok(cmd),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<Cmd>, String>>()?;
        return Ok(Op::Fleet { cmds, max_unavailable });
    }
    let server = |s: &str| s.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()).ok_or_else(bad);
    let workspace = |s: &str| s.strip_prefix("workspace-").and_then(|n| n.parse::<u32>().ok()).ok_or_else(bad);
    let words: Vec<&str> = text.split_whitespace().collect();
    let (head, rest) = words.split_first().ok_or_else(bad)?;
    let (name, target) = head.split_once('@').unwrap_or((head, ""));
    let flag = |f: &str| match rest {
        [] => Ok(false),
        [x] if *x == f => Ok(true),
        _ => Err(bad()),
    };
    let none = |op: Op| if rest.is_empty() { Ok(op) } else { Err(bad()) };
    let cmd = |c: Cmd| Ok(Op::Command(c));
    match (name, rest) {
        ("!terminate", [s]) => Ok(Op::Terminate(server(s)?)),
        ("!capacity", [zone, "t3.medium", count]) => Ok(Op::Capacity {
            zone: zone.strip_prefix("us-east-1").and_then(|z| z.chars().next()).ok_or_else(bad)?,
            count: count.parse().map_err(|_| bad())?,
        }),
        ("!advance", [secs]) => Ok(Op::Advance(secs.parse().map_err(|_| bad())?)),
        ("!cron", [days]) => Ok(Op::Cron(days.parse().ok().filter(|d| *d > 0).ok_or_else(bad)?)),
        ("!new-image", []) => Ok(Op::NewImage),
        ("!crash", [at, when]) => Ok(Op::Crash(CrashPoint {
            at: at.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?,
            after: match *when {
                "before" => false,
                "after" => true,
                _ => return Err(bad()),
            },
        })),
        ("create-server", [gb]) => {
            cmd(Cmd::CreateServer { server: server(target)?, gb: gb.parse().map_err(|_| bad())? })
        }
        ("stop-auto-scaling", _) => {
            cmd(Cmd::StopAutoScaling { server: server(target)?, keep_group: flag("--keep-group")? })
        }
        ("attach-instance", _) => none(Op::Command(Cmd::AttachInstance { server: server(target)? })),
        ("start-auto-scaling", _) => none(Op::Command(Cmd::StartAutoScaling { server: server(target)? })),
        ("upgrade-ami", _) => cmd(Cmd::UpgradeAmi { server: server(target)?, restart: flag("--restart")? }),
        ("sync", _) => cmd(Cmd::Sync { server: server(target)?, restart: flag("--restart")? }),
        ("destroy-server", _) => {
            cmd(Cmd::DestroyServer { server: server(target)?, delete_data: flag("--delete-data")? })
        }
        ("create-workspace", _) if target.is_empty() => none(Op::Command(Cmd::CreateWorkspace)),
        ("bundle-ami", _) => none(Op::Command(Cmd::BundleAmi { workspace: workspace(target)? })),
        ("destroy-workspace", _) => none(Op::Command(Cmd::DestroyWorkspace { workspace: workspace(target)? })),
        ("backup", _) => cmd(Cmd::Backup { server: server(target)?, due: flag("--due")? }),
        ("prune", _) => cmd(Cmd::Prune { server: server(target)?, orphans: flag("--orphans")? }),
        ("restore-server", _) => {
            let (at, more) = match rest {
                ["--at", LATEST, more @ ..] => (RestoreTo::Latest, more),
                ["--at", "now", "--zone", zone, more @ ..] => {
                    (RestoreTo::Now(zone.chars().next().filter(|_| zone.len() == 1).ok_or_else(bad)?), more)
                }
                _ => return Err(bad()),
            };
            let delete_old = match more {
                [] => false,
                ["--delete-old"] => true,
                _ => return Err(bad()),
            };
            cmd(Cmd::Restore { server: server(target)?, at, delete_old })
        }
        _ => Err(bad()),
    }
}

/// The latest mutating call a crash is drawn at (create-server makes about a dozen).
pub const MAX_CRASH_AT: u32 = 16;

/// One random step over `servers` servers. Each part shrinks towards the simplest value
/// (server `s00`, 1 GiB, no flag, zone a, capacity 0, 10 s, a crash at the first mutating
/// call, before it).
pub fn op_strategy(servers: usize) -> BoxedStrategy<Op> {
    let s = 0..servers;
    let command = |c: BoxedStrategy<Cmd>| c.prop_map(Op::Command).boxed();
    let mut ops = vec![
        (20, command((s.clone(), 1u32..=64).prop_map(|(server, gb)| Cmd::CreateServer { server, gb }).boxed())),
        (
            15,
            command(
                (s.clone(), prop::bool::weighted(0.33))
                    .prop_map(|(server, keep_group)| Cmd::StopAutoScaling { server, keep_group })
                    .boxed(),
            ),
        ),
        (10, command(s.clone().prop_map(|server| Cmd::AttachInstance { server }).boxed())),
        (10, command(s.clone().prop_map(|server| Cmd::StartAutoScaling { server }).boxed())),
        (
            10,
            command(
                (s.clone(), any::<bool>()).prop_map(|(server, restart)| Cmd::UpgradeAmi { server, restart }).boxed(),
            ),
        ),
        (6, command((s.clone(), any::<bool>()).prop_map(|(server, restart)| Cmd::Sync { server, restart }).boxed())),
        (
            8,
            command(
                (s.clone(), prop::bool::weighted(0.4))
                    .prop_map(|(server, delete_data)| Cmd::DestroyServer { server, delete_data })
                    .boxed(),
            ),
        ),
        (3, command(Just(Cmd::CreateWorkspace).boxed())),
        (3, command((1u32..=2).prop_map(|workspace| Cmd::BundleAmi { workspace }).boxed())),
        (2, command((1u32..=2).prop_map(|workspace| Cmd::DestroyWorkspace { workspace }).boxed())),
        (6, command((s.clone(), any::<bool>()).prop_map(|(server, due)| Cmd::Backup { server, due }).boxed())),
        (
            3,
            command(
                (s.clone(), prop::bool::weighted(0.3))
                    .prop_map(|(server, orphans)| Cmd::Prune { server, orphans })
                    .boxed(),
            ),
        ),
        (
            5,
            command(
                (
                    s.clone(),
                    prop_oneof![
                        Just(RestoreTo::Latest),
                        prop::sample::select(vec!['a', 'b', 'c', 'd']).prop_map(RestoreTo::Now)
                    ],
                    prop::bool::weighted(0.3),
                )
                    .prop_map(|(server, at, delete_old)| Cmd::Restore { server, at, delete_old })
                    .boxed(),
            ),
        ),
        // Days pass under cron: scheduled backups are taken, retention has something to prune.
        (5, (1u32..=3).prop_map(Op::Cron).boxed()),
        (8, s.prop_map(Op::Terminate).boxed()),
        (
            6,
            (prop::sample::select(vec!['a', 'b', 'c', 'd']), prop::sample::select(vec![0u32, 100]))
                .prop_map(|(zone, count)| Op::Capacity { zone, count })
                .boxed(),
        ),
        (9, (10u64..1800).prop_map(Op::Advance).boxed()),
        (4, Just(Op::NewImage).boxed()),
        (12, (1u32..=MAX_CRASH_AT, any::<bool>()).prop_map(|(at, after)| Op::Crash(CrashPoint { at, after })).boxed()),
    ];
    if servers >= 2 {
        let fleet =
            (0u8..4, prop::sample::subsequence((0..servers).collect::<Vec<_>>(), 2..=servers), any::<bool>(), 1u32..=2)
                .prop_map(|(kind, servers, flag, max_unavailable)| Op::Fleet {
                    cmds: servers.into_iter().map(|s| fleet_cmd(kind, s, flag)).collect(),
                    max_unavailable,
                });
        ops.push((8, fleet.boxed()));
    }
    Union::new_weighted(ops).boxed()
}

/// `len` steps over `servers` servers drawn from [`op_strategy`] by a generator seeded
/// with `seed`: what `CELLAR_SEED`/`CELLAR_LEN` replay and the benchmark runs.
pub fn generate(seed: u64, servers: usize, len: usize) -> Vec<Op> {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = cellar_engine::rng::Rng::new(seed ^ 0x5eed ^ i as u64).next_u64();
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let strategy = op_strategy(servers);
    (0..len).map(|_| strategy.new_tree(&mut runner).expect("steps always generate").current()).collect()
}
