//! Random scenarios for the property tests and the benchmark: sequences of seed commands
//! across several servers and workspaces, interleaved with world changes (Amazon
//! terminations, capacity shortages, time passing, newer images), all under every fault.
//!
//! [`run`] checks the invariants listed at the top of `tests/properties.rs` after every
//! step and returns the first violation (with the sequence and the line that replays it).
//! It also judges every plan or refusal against a small model of the world ([`Model`],
//! [`expect`]), and counts per kind of command what was planned, applied, refused (and
//! why) and which plans could not be made because reads failed ([`Tally`]).
//!
//! Sequences come from [`op_strategy`] (proptest generates and shrinks them op by op) or,
//! for seeded replays and the benchmark, from [`generate`]: the same strategy driven by a
//! generator seeded from one `u64`.

use cellar_engine::agent::DATA_ROLE;
use cellar_engine::cloud::{Cloud, CloudError, Filter};
use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::inventory::{self, ServerResources};
use cellar_engine::model::*;
use cellar_engine::plan::Plan;
use cellar_engine::planner::{self, PlanError};
use cellar_engine::status;
use cellar_sim::{Faults, Sim};
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A seed command of a scenario, on a server (`s00`, `s01`, ...) or a workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    CreateServer { server: usize, gb: u32 },
    StopAutoScaling { server: usize, keep_group: bool },
    AttachInstance { server: usize },
    StartAutoScaling { server: usize },
    UpgradeAmi { server: usize, restart: bool },
    DestroyServer { server: usize, delete_data: bool },
    CreateWorkspace,
    BundleAmi { workspace: u32 },
    DestroyWorkspace { workspace: u32 },
}

/// Every kind of command a scenario runs ([`Cmd::kind`]), in the order they are reported.
pub const KINDS: &[&str] = &[
    "create-server",
    "stop-auto-scaling",
    "stop-auto-scaling --keep-group",
    "attach-instance",
    "start-auto-scaling",
    "upgrade-ami",
    "upgrade-ami --restart",
    "destroy-server",
    "destroy-server --delete-data",
    "create-workspace",
    "bundle-ami",
    "destroy-workspace",
];

fn server_name(i: usize) -> String {
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
            Cmd::DestroyServer { server, delete_data } => {
                format!("destroy-server@{}{}", server_name(*server), flag(*delete_data, "--delete-data"))
            }
            Cmd::CreateWorkspace => "create-workspace".into(),
            Cmd::BundleAmi { workspace } => format!("bundle-ami@workspace-{workspace}"),
            Cmd::DestroyWorkspace { workspace } => format!("destroy-workspace@workspace-{workspace}"),
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
            Cmd::DestroyServer { delete_data: false, .. } => "destroy-server",
            Cmd::DestroyServer { delete_data: true, .. } => "destroy-server --delete-data",
            Cmd::CreateWorkspace => "create-workspace",
            Cmd::BundleAmi { .. } => "bundle-ami",
            Cmd::DestroyWorkspace { .. } => "destroy-workspace",
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
            | Cmd::DestroyServer { server, .. } => Some(server_name(*server)),
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
    /// A newer web-server image appears (so upgrade-ami has work).
    NewImage,
}

/// The text form, one op: a command line, or `!terminate s01`, `!capacity us-east-1b
/// t3.medium 0`, `!advance 600`, `!new-image`. [`parse_ops`] reads it back.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Command(cmd) => f.write_str(&cmd.line()),
            Op::Terminate(server) => write!(f, "!terminate {}", server_name(*server)),
            Op::Capacity { zone, count } => write!(f, "!capacity us-east-1{zone} t3.medium {count}"),
            Op::Advance(secs) => write!(f, "!advance {secs}"),
            Op::NewImage => f.write_str("!new-image"),
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
        ("!new-image", []) => Ok(Op::NewImage),
        ("create-server", [gb]) => {
            cmd(Cmd::CreateServer { server: server(target)?, gb: gb.parse().map_err(|_| bad())? })
        }
        ("stop-auto-scaling", _) => {
            cmd(Cmd::StopAutoScaling { server: server(target)?, keep_group: flag("--keep-group")? })
        }
        ("attach-instance", _) => none(Op::Command(Cmd::AttachInstance { server: server(target)? })),
        ("start-auto-scaling", _) => none(Op::Command(Cmd::StartAutoScaling { server: server(target)? })),
        ("upgrade-ami", _) => cmd(Cmd::UpgradeAmi { server: server(target)?, restart: flag("--restart")? }),
        ("destroy-server", _) => {
            cmd(Cmd::DestroyServer { server: server(target)?, delete_data: flag("--delete-data")? })
        }
        ("create-workspace", _) if target.is_empty() => none(Op::Command(Cmd::CreateWorkspace)),
        ("bundle-ami", _) => none(Op::Command(Cmd::BundleAmi { workspace: workspace(target)? })),
        ("destroy-workspace", _) => none(Op::Command(Cmd::DestroyWorkspace { workspace: workspace(target)? })),
        _ => Err(bad()),
    }
}

/// One random step over `servers` servers. Each part shrinks towards the simplest value
/// (server `s00`, 1 GiB, no flag, zone a, capacity 0, 10 s).
pub fn op_strategy(servers: usize) -> BoxedStrategy<Op> {
    let s = 0..servers;
    let command = |c: BoxedStrategy<Cmd>| c.prop_map(Op::Command).boxed();
    Union::new_weighted(vec![
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
        (8, s.prop_map(Op::Terminate).boxed()),
        (
            6,
            (prop::sample::select(vec!['a', 'b', 'c', 'd']), prop::sample::select(vec![0u32, 100]))
                .prop_map(|(zone, count)| Op::Capacity { zone, count })
                .boxed(),
        ),
        (9, (10u64..1800).prop_map(Op::Advance).boxed()),
        (4, Just(Op::NewImage).boxed()),
    ])
    .boxed()
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

/// A configuration tree of `n` servers (`s00`, `s01`, ...) spread over zones a-d, in a temp dir.
pub fn config(n: usize) -> (tempfile::TempDir, ConfigTree) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("platforms")).unwrap();
    std::fs::create_dir_all(dir.path().join("servers")).unwrap();
    std::fs::write(
        dir.path().join("global.ron"),
        r#"(region: "us-east-1", zone: "a", instance_type: "t3.medium", ami_type: "web-server",
            architecture: "x86_64", persist: ["/etc", "/var/www"], tags: {"owner": "ops"})"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("platforms/web.ron"), "()").unwrap();
    for i in 0..n {
        let zone = ["a", "b", "c", "d"][i % 4];
        let launch = if i % 5 == 4 { "Configuration" } else { "Template" };
        std::fs::write(
            dir.path().join(format!("servers/s{i:02}.ron")),
            format!(r#"(platform: "web", zone: "{zone}", dns_name: "s{i:02}.example.com", launch: {launch})"#),
        )
        .unwrap();
    }
    let tree = ConfigTree::load(dir.path()).unwrap();
    (dir, tree)
}

/// The faults a scenario runs with: all on, at rates that make every apply meet some.
pub fn faults() -> Faults {
    Faults {
        throttling: true,
        transient_error_rate: 0.02,
        terminations_per_hour: 0.2,
        invisible_secs: 5,
        latency_ms: (20, 400),
        ..Faults::default()
    }
}

/// What planning a command gave: a failed read (an injected fault outlasted the retries)
/// is not a refusal.
pub enum Planned {
    Plan(Plan),
    Refused(PlanError),
    ReadFailed(CloudError),
}

/// Plans `line` against `cloud` with `tree`, keeping refusals and failed reads apart.
pub async fn plan_command(cloud: &dyn Cloud, tree: &ConfigTree, line: &str) -> Planned {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    let command = command::parse_words(planner::COMMANDS, &words).unwrap_or_else(|e| panic!("{line}: {e}"));
    let scope = match planner::scope(&command, tree) {
        Ok(scope) => scope,
        Err(e) => return Planned::Refused(e),
    };
    match inventory::read(cloud, &scope).await {
        Err(e) => Planned::ReadFailed(e),
        Ok(inventory) => match planner::plan(&command, tree, &inventory) {
            Ok(plan) => Planned::Plan(plan),
            Err(e) => Planned::Refused(e),
        },
    }
}

/// A refusal's reason, as counted and as the model names it.
pub fn reason(e: &PlanError) -> &'static str {
    match e {
        PlanError::Config(_) => "configuration",
        PlanError::NoTarget { .. } => "no target",
        PlanError::MissingEbsSize { .. } => "no EBS size",
        PlanError::UnknownRegion { .. } => "unknown region",
        PlanError::UnknownZone { .. } => "unknown zone",
        PlanError::ServerExists { .. } => "server exists",
        PlanError::NoImage { .. } => "no image",
        PlanError::ArchitectureMismatch { .. } => "architecture mismatch",
        PlanError::NoGroup { .. } => "no group",
        PlanError::AlreadyStopped { .. } => "already stopped",
        PlanError::NoVolume { .. } => "no volume",
        PlanError::InstanceAttached { .. } => "instance attached",
        PlanError::GroupKeepsInstance { .. } => "group keeps its instance",
        PlanError::AlreadyAutoScaling { .. } => "already auto-scaling",
        PlanError::NotAutoScaling { .. } => "not auto-scaling",
        PlanError::MissingLaunchSettings { .. } => "launch settings gone",
        PlanError::NothingToBundle { .. } => "nothing to bundle",
        PlanError::ImageNameTaken { .. } => "image name taken",
        PlanError::BadCopyRegion { .. } => "bad copy region",
        PlanError::NothingToDestroy { .. } => "nothing to destroy",
        PlanError::NotAWorkspace { .. } => "not a workspace",
        PlanError::NoWorkspace { .. } => "no workspace",
    }
}

/// What the scenario knows of one server or workspace, read from the world directly
/// (not through faults): enough to say whether a command must plan or be refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// A live instance, a volume, launch settings or a group: it exists as a server.
    pub exists: bool,
    /// Anything tagged with its name, an Elastic IP included.
    pub anything: bool,
    /// Its auto scaling group: desired count, and whether its launch settings still exist.
    pub group: Option<(u32, bool)>,
    /// It has a data volume.
    pub volume: bool,
    /// Its data volume is attached to one of its live instances.
    pub held: bool,
    /// It has a live instance, and a running one.
    pub live: bool,
    pub running: bool,
    /// An image with today's bundle name (`web-server-<date>`) exists and has not failed.
    pub bundled_today: bool,
}

/// Reads the model of `name` from the world.
pub fn model(sim: &Sim, name: &str) -> Model {
    let r = resources(sim, name);
    let live: Vec<&Instance> = r.instances.iter().filter(|i| i.state.is_alive()).collect();
    let data = r.volumes.iter().find(|v| v.tags.get(ROLE_TAG).map(String::as_str) == Some(DATA_ROLE));
    let group = r.groups.first().map(|g| {
        let settings = match &g.launch {
            LaunchSource::Template { id, .. } => r.launch_templates.iter().any(|t| t.id == *id),
            LaunchSource::Configuration { name } => r.launch_configurations.iter().any(|c| c.name == *name),
        };
        (g.desired, settings)
    });
    let exists = !live.is_empty()
        || !r.volumes.is_empty()
        || !r.launch_templates.is_empty()
        || !r.launch_configurations.is_empty()
        || !r.groups.is_empty();
    let w = sim.world();
    let today = format!("web-server-{}", w.now().date());
    Model {
        exists,
        anything: exists || !r.addresses.is_empty(),
        group,
        volume: data.is_some(),
        held: data.and_then(|v| v.attached_to.as_ref()).is_some_and(|id| live.iter().any(|i| i.id == *id)),
        live: !live.is_empty(),
        running: live.iter().any(|i| i.state == InstanceState::Running),
        bundled_today: w
            .describe_images(&Region::new("us-east-1"))
            .iter()
            .any(|i| i.name == today && i.state != ImageState::Failed),
    }
}

/// What the model says of `cmd`: it must plan (`Ok`, possibly nothing to do), or be
/// refused for this reason.
pub fn expect(cmd: &Cmd, m: &Model) -> Result<(), &'static str> {
    let desired = m.group.map_or(0, |g| g.0);
    match cmd {
        Cmd::CreateServer { .. } if m.exists => Err("server exists"),
        Cmd::CreateServer { .. } => Ok(()),
        Cmd::StopAutoScaling { keep_group, .. } => match m.group {
            None => Err("no group"),
            Some((0, _)) if *keep_group => Err("already stopped"),
            Some(_) => Ok(()),
        },
        Cmd::AttachInstance { .. } if !m.volume => Err("no volume"),
        Cmd::AttachInstance { .. } if m.held => Err("instance attached"),
        Cmd::AttachInstance { .. } if desired > 0 => Err("group keeps its instance"),
        Cmd::AttachInstance { .. } => Ok(()),
        Cmd::StartAutoScaling { .. } if desired > 0 => Err("already auto-scaling"),
        Cmd::StartAutoScaling { .. } if !m.volume => Err("no volume"),
        Cmd::StartAutoScaling { .. } => Ok(()),
        Cmd::UpgradeAmi { .. } => match m.group {
            Some((d, true)) if d > 0 => Ok(()),
            Some((d, false)) if d > 0 => Err("launch settings gone"),
            _ => Err("not auto-scaling"),
        },
        Cmd::DestroyServer { .. } if m.anything => Ok(()),
        Cmd::DestroyServer { .. } => Err("nothing to destroy"),
        Cmd::CreateWorkspace => Ok(()),
        Cmd::BundleAmi { .. } if !m.running => Err("nothing to bundle"),
        Cmd::BundleAmi { .. } if m.bundled_today => Err("image name taken"),
        Cmd::BundleAmi { .. } => Ok(()),
        Cmd::DestroyWorkspace { .. } if m.live => Ok(()),
        Cmd::DestroyWorkspace { .. } => Err("no workspace"),
    }
}

/// What happened to one kind of command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Plans made (empty ones included).
    pub planned: u64,
    /// Plans with nothing to do.
    pub empty: u64,
    /// Non-empty plans applied successfully.
    pub applied: u64,
    /// Non-empty plans whose apply failed (and was compensated).
    pub failed: u64,
    /// Refusals by reason.
    pub refused: BTreeMap<&'static str, u64>,
    /// Plans not made because a read failed under injected faults (not refusals).
    pub read_failed: u64,
    /// Plans the model could not judge: the server changed while it was being planned.
    pub unjudged: u64,
}

/// [`Counts`] per kind of command ([`KINDS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<&'static str, Counts>);

impl Tally {
    pub fn kind(&self, kind: &str) -> Counts {
        self.0.get(kind).cloned().unwrap_or_default()
    }

    pub fn add(&mut self, other: &Tally) {
        for (kind, c) in &other.0 {
            let t = self.0.entry(kind).or_default();
            t.planned += c.planned;
            t.empty += c.empty;
            t.applied += c.applied;
            t.failed += c.failed;
            t.read_failed += c.read_failed;
            t.unjudged += c.unjudged;
            for (why, n) in &c.refused {
                *t.refused.entry(why).or_default() += n;
            }
        }
    }

    /// One line per kind: `create-server planned 41 (empty 0) applied 38 failed 3 refused 12
    /// (server exists: 12) read failures 1`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for kind in KINDS {
            let c = self.kind(kind);
            let refused: u64 = c.refused.values().sum();
            let why: Vec<String> = c.refused.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            let why = if why.is_empty() { String::new() } else { format!(" ({})", why.join(", ")) };
            out.push_str(&format!(
                "{kind:<30} planned {} (empty {}) applied {} failed {} refused {refused}{why} read failures {}",
                c.planned, c.empty, c.applied, c.failed, c.read_failed
            ));
            if c.unjudged > 0 {
                out.push_str(&format!(" unjudged {}", c.unjudged));
            }
            out.push('\n');
        }
        out
    }
}

/// What a scenario did, for determinism checks, the counts and the benchmark.
pub struct ScenarioRun {
    /// The world's event trace with virtual timestamps (only rendered when asked for).
    pub trace: Option<String>,
    pub api_calls: u64,
    /// Non-empty plans applied (successfully or not).
    pub applies: usize,
    pub tally: Tally,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs one scenario with the world's faults seeded by `seed`, checking the invariants
/// after every step. `Err` is the first violation, with the line that replays it.
pub fn run(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> Result<ScenarioRun, String> {
    rt().block_on(run_async(seed, tree, servers, ops, false))
}

/// [`run`], also rendering the world's event trace.
pub fn run_traced(seed: u64, tree: &ConfigTree, servers: usize, ops: &[Op]) -> Result<ScenarioRun, String> {
    rt().block_on(run_async(seed, tree, servers, ops, true))
}

/// A server's resources, read from the world directly (the checker is not subject to faults).
fn resources(sim: &Sim, server: &str) -> ServerResources {
    let region = Region::new("us-east-1");
    let f = Filter::Server(ServerName::new(server));
    let w = sim.world();
    let groups = w.describe_auto_scaling_groups(&region, &f);
    let prefix = format!("{server}-v");
    let launch_configurations = w
        .describe_launch_configurations(&region)
        .into_iter()
        .filter(|c| {
            c.name.starts_with(&prefix)
                || groups.iter().any(|g| g.launch == LaunchSource::Configuration { name: c.name.clone() })
        })
        .collect();
    ServerResources {
        instances: w.describe_instances(&region, &f),
        volumes: w.describe_volumes(&region, &f),
        addresses: w.describe_addresses(&region, &f),
        launch_templates: w.describe_launch_templates(&region, &f),
        launch_configurations,
        groups,
    }
}

/// Everything in the region a failed apply could leave behind: volumes, addresses, launch
/// settings, groups and live instances outside a group (a group's own instances come and go).
fn created_ids(sim: &Sim) -> BTreeSet<String> {
    let region = Region::new("us-east-1");
    let w = sim.world();
    let mut out = BTreeSet::new();
    out.extend(w.describe_volumes(&region, &Filter::All).iter().map(|v| v.id.to_string()));
    out.extend(w.describe_addresses(&region, &Filter::All).iter().map(|a| a.allocation_id.to_string()));
    out.extend(w.describe_launch_templates(&region, &Filter::All).iter().map(|t| t.id.to_string()));
    out.extend(w.describe_launch_configurations(&region).into_iter().map(|c| c.name));
    out.extend(w.describe_auto_scaling_groups(&region, &Filter::All).iter().map(|g| g.name.to_string()));
    out.extend(
        w.describe_instances(&region, &Filter::All)
            .iter()
            .filter(|i| i.state.is_alive() && i.group.is_none())
            .map(|i| i.id.to_string()),
    );
    out
}

/// A copy of the world as it is now, with no faults: planning on it reads exactly this
/// moment (no latency moves its clock, nothing is throttled, nothing fails, nobody
/// terminates anything), and leaves the scenario's own world and random draws untouched.
fn quiet_copy(sim: &Sim) -> Sim {
    let mut copy = sim.world().clone_without_log();
    copy.set_faults(Faults::default()).expect("no faults are valid faults");
    Sim::new(copy)
}

async fn run_async(
    seed: u64,
    tree: &ConfigTree,
    servers: usize,
    ops: &[Op],
    trace: bool,
) -> Result<ScenarioRun, String> {
    let mut world = cellar_sim::default_world();
    world.reseed(seed);
    world.set_faults(faults()).expect("valid faults");
    let sim = Arc::new(Sim::new(world));
    let region = Region::new("us-east-1");
    let mut images = 0;
    let mut applies = 0;
    let mut tally = Tally::default();
    let fail = |step: usize, what: String| -> String {
        let at = ops.get(step).map(|op| format!(" ({op})")).unwrap_or_else(|| " (after the last step)".into());
        format!(
            "invariant violated at step {step}{at}: {what}\n  steps: {}\n  replay: CELLAR_SEED={seed} CELLAR_OPS='{}' cargo test -p cellar --test properties replay",
            ops.len(),
            render_ops(ops)
        )
    };
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Command(cmd) => {
                let line = cmd.line();
                let counts = tally.0.entry(cmd.kind()).or_default();
                let target = cmd.target();
                let model_before = target.as_deref().map(|t| model(&sim, t));
                let volumes_before = volumes_by_server(&sim);
                let ids_before = created_ids(&sim);
                let planned = plan_command(&*sim, tree, &line).await;
                let model_after = target.as_deref().map(|t| model(&sim, t));
                // The model judges the plan only when the server did not change while it
                // was being planned (time passes under latency: boots, terminations).
                let judge = model_before == model_after;
                let got = match &planned {
                    Planned::ReadFailed(_) => {
                        counts.read_failed += 1;
                        continue;
                    }
                    Planned::Refused(e) => Err(reason(e)),
                    Planned::Plan(_) => Ok(()),
                };
                if judge {
                    // Only create-workspace has no target, and it always plans.
                    let want = model_before.as_ref().map_or(Ok(()), |m| expect(cmd, m));
                    if got != want {
                        let said = match &planned {
                            Planned::Refused(e) => format!("refused: {e}"),
                            Planned::Plan(p) => format!("planned:\n{}", p.render_text()),
                            Planned::ReadFailed(_) => unreachable!(),
                        };
                        return Err(fail(
                            step,
                            format!("{line}: the model ({model_before:?}) expects {want:?}, but it was {said}"),
                        ));
                    }
                } else {
                    counts.unjudged += 1;
                }
                let plan = match planned {
                    Planned::Plan(plan) => plan,
                    Planned::Refused(e) => {
                        *counts.refused.entry(reason(&e)).or_default() += 1;
                        continue;
                    }
                    Planned::ReadFailed(_) => unreachable!(),
                };
                counts.planned += 1;
                if plan.is_empty() {
                    counts.empty += 1;
                    continue;
                }
                applies += 1;
                let policy = Policy { seed: seed.wrapping_add(step as u64), ..Policy::default() };
                let operator = Arc::new(super::Recorder::new(true));
                let report = executor::apply(sim.clone(), operator, &plan, policy).await;
                // Plan honesty: every planned step has exactly one outcome, and nothing else ran.
                let planned: BTreeSet<_> = plan.steps.iter().map(|s| s.id).collect();
                let reported: BTreeSet<_> = report.outcomes.keys().copied().collect();
                if planned != reported {
                    return Err(fail(step, format!("{line}: outcomes {reported:?} for steps {planned:?}")));
                }
                let volumes_after = volumes_by_server(&sim);
                for (name, volumes) in &volumes_before {
                    // No data loss: a data volume disappears only by destroy --delete-data, after a snapshot.
                    let now = volumes_after.get(name).map(Vec::as_slice).unwrap_or_default();
                    let lost: Vec<&Volume> = volumes.iter().filter(|v| !now.iter().any(|w| w.id == v.id)).collect();
                    let allowed = matches!(cmd, Cmd::DestroyServer { delete_data: true, .. })
                        && target.as_deref() == Some(name.as_str());
                    if !lost.is_empty() && !allowed {
                        return Err(fail(step, format!("{line}: data volume(s) {lost:?} of {name} lost")));
                    }
                    let snapshots = sim.world().describe_snapshots(&region, &Filter::All);
                    for v in &lost {
                        if !snapshots.iter().any(|snap| snap.volume == v.id) {
                            return Err(fail(
                                step,
                                format!("{line}: volume {} of {name} deleted without a snapshot", v.id),
                            ));
                        }
                    }
                }
                for (name, volumes) in &volumes_after {
                    if volumes.len() > 1 {
                        return Err(fail(step, format!("{line}: {name} has {} data volumes", volumes.len())));
                    }
                }
                if !report.succeeded() {
                    counts.failed += 1;
                    // No leaks: a failed apply leaves nothing it created, except what the report lists.
                    let left_listed: BTreeSet<String> = report
                        .undone
                        .iter()
                        .filter(|u| u.result.is_err())
                        .map(|u| match &u.target {
                            executor::Output::Address { allocation_id, .. } => allocation_id.to_string(),
                            executor::Output::Launch(LaunchSource::Configuration { name }) => name.clone(),
                            executor::Output::Launch(LaunchSource::Template { id, .. }) => id.to_string(),
                            other => other.to_string(),
                        })
                        .collect();
                    let created: Vec<String> = created_ids(&sim).difference(&ids_before).cloned().collect();
                    let leaked: Vec<&String> = created.iter().filter(|id| !left_listed.contains(*id)).collect();
                    if !leaked.is_empty() {
                        return Err(fail(step, format!("{line} failed ({}) and leaked {leaked:?}", report.summary())));
                    }
                    if !report.outcomes.values().any(|o| matches!(o, Outcome::Failed(_))) {
                        return Err(fail(step, format!("{line}: not succeeded but nothing failed: {report:?}")));
                    }
                    continue;
                }
                counts.applied += 1;
                if matches!(cmd, Cmd::CreateWorkspace) {
                    continue; // planning it again plans the next workspace
                }
                // Idempotence: the same command again, on the world exactly as the apply
                // left it, is empty or refused for the reason the model gives.
                let quiet = quiet_copy(&sim);
                let now = model(&quiet, target.as_deref().expect("only create-workspace names no target"));
                let want = expect(cmd, &now);
                match plan_command(&quiet, tree, &line).await {
                    Planned::ReadFailed(e) => {
                        return Err(fail(step, format!("{line} applied, but planning it again failed: {e}")))
                    }
                    Planned::Plan(again) if !again.is_empty() => {
                        return Err(fail(
                            step,
                            format!("{line} applied, but planning it again gives:\n{}", again.render_text()),
                        ))
                    }
                    Planned::Plan(_) if want.is_ok() => {}
                    Planned::Refused(e) if want == Err(reason(&e)) => {}
                    Planned::Plan(_) => {
                        return Err(fail(step, format!("{line} applied; planning it again should be refused ({want:?}) but plans nothing")))
                    }
                    Planned::Refused(e) => {
                        return Err(fail(
                            step,
                            format!("{line} applied; planning it again is refused ({e}), but the model ({now:?}) expects {want:?}"),
                        ))
                    }
                }
            }
            Op::Terminate(server) => {
                let id = sim.world().server_instance(&ServerName::new(server_name(*server)));
                if let Some(id) = id {
                    let _ = sim.with_world(|w| w.terminate_instance_by_amazon(&id));
                }
            }
            Op::Capacity { zone, count } => sim.with_world(|w| {
                w.set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), *count).unwrap()
            }),
            Op::Advance(secs) => sim.advance(Duration::from_secs(*secs)).await,
            Op::NewImage => {
                images += 1;
                let name = format!("web-server-2027-01-{images:02}");
                sim.with_world(|w| w.add_image(&name, Architecture::X86_64, &region, Tags::new()));
            }
        }
    }
    // Convergence: with capacity back and faults off, every auto-scaling server heals.
    sim.with_world(|w| {
        w.set_faults(Faults::default()).unwrap();
        for zone in ["a", "b", "c", "d"] {
            w.set_capacity(&Zone::new(format!("us-east-1{zone}")), &InstanceType::new("t3.medium"), 100).unwrap();
        }
    });
    sim.advance(Duration::from_secs(1800)).await;
    for name in (0..servers).map(server_name) {
        let s = status::read(&*sim, &ServerName::new(name.as_str()), &region).await.unwrap();
        let auto_scaling = s.auto_scaling.as_ref().is_some_and(|g| g.desired > 0);
        if auto_scaling && s.health != status::Health::Healthy {
            return Err(fail(ops.len(), format!("{name} did not converge: {:?} {}", s.health, s.reason)));
        }
    }
    // No duplicates: no server or workspace has two live instances.
    let mut live: BTreeMap<String, usize> = BTreeMap::new();
    for i in sim.describe_instances(&region, &Filter::All).await.unwrap() {
        if let Some(name) = i.tags.get(NAME_TAG).filter(|_| i.state.is_alive()) {
            *live.entry(name.clone()).or_default() += 1;
        }
    }
    if let Some((name, n)) = live.iter().find(|(_, n)| **n > 1) {
        return Err(fail(ops.len(), format!("{name} has {n} live instances")));
    }
    let world = sim.world();
    Ok(ScenarioRun { trace: trace.then(|| world.render_log(None)), api_calls: world.api_calls(), applies, tally })
}

/// Every server's data volumes (by `Name` tag), in one pass.
fn volumes_by_server(sim: &Sim) -> BTreeMap<String, Vec<Volume>> {
    let mut out: BTreeMap<String, Vec<Volume>> = Default::default();
    for v in sim.world().describe_volumes(&Region::new("us-east-1"), &Filter::All) {
        if let Some(name) = v.tags.get(NAME_TAG) {
            out.entry(name.clone()).or_default().push(v);
        }
    }
    out
}

/// Where the property tests' fixtures live.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}
