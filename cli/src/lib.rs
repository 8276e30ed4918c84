//! The `cellar` command line: argument parsing, backend choice, output and exit codes.
//!
//! Everything here is a thin layer over `cellar-engine` (planning, applying, status) and
//! `cellar-sim` (the built-in backend). Exit codes: 0 success (or no changes), 1 error,
//! 2 changes present (`plan --detailed-exitcode`), 3 apply stopped at a DNS gate.

mod backend;
pub mod host;
pub mod imds;
mod output;

use anyhow::{anyhow, bail, Context, Result};
use backend::{Backend, BackendKind};
use cellar_engine::cloud::Cloud;
use cellar_engine::command;
use cellar_engine::config::{self, ConfigTree, HookChecker, HookSyntaxError};
use cellar_engine::executor::{self, Policy};
use cellar_engine::inventory;
use cellar_engine::model::*;
use cellar_engine::plan::{self, Plan};
use cellar_engine::planner;
use cellar_engine::status;
use cellar_sim::{Sim, SimStore};
use clap::{Parser, Subcommand, ValueEnum};
use output::Prompter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
pub const EXIT_BLOCKED: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "cellar",
    version,
    about = "Keep long-lived EC2 servers alive and change them safely, as reviewable plans.",
    long_about = "cellar turns each server command (create-server@ommegang 20, ...) into a plan: a dependency \
graph of resource actions you can read, save, diff and then apply, against the built-in simulator \
(default) or real AWS.\n\nA server is an instance, an Elastic IP, a data EBS volume, a launch template and \
an auto scaling group of one, tied together by the tag Name=<server>.",
    after_help = "Exit codes: 0 success or no changes, 1 error, 2 changes present (plan --detailed-exitcode), \
3 apply stopped at a DNS gate.\n\nExample:\n  cellar --config fixtures/config plan create-server@ommegang 20 -o ommegang.plan.ron\n  \
cellar --config fixtures/config apply ommegang.plan.ron --dns-confirmed\n  cellar --config fixtures/config status ommegang"
)]
pub struct Cli {
    /// Configuration directory (global.ron, platforms/, servers/). Default: $CELLAR_CONFIG, else ./config.
    #[arg(long, global = true, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Simulator state file. Default: $CELLAR_SIM_STATE, else .cellar/sim.ron.
    #[arg(long, global = true, value_name = "FILE")]
    sim_state: Option<PathBuf>,
    /// Where plan, apply and status look and act: the built-in simulator, or AWS (credentials,
    /// region and endpoint from the AWS chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance
    /// role; AWS_ENDPOINT_URL for an AWS-compatible endpoint). Each server's region comes from its config.
    #[arg(long, global = true, value_enum, env = "CELLAR_BACKEND", default_value_t = BackendKind::Sim)]
    backend: BackendKind,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Show what a command would change, without changing anything.
    #[command(
        after_help = "Commands (positional arguments in the seed's order; `-` takes the value from the server's config):\n  \
create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]"
    )]
    Plan {
        /// The command and its server, e.g. create-server@ommegang.
        target: String,
        /// The command's positional arguments.
        args: Vec<String>,
        #[command(flatten)]
        flags: CommandFlags,
        /// Save the plan (RON) to FILE for `cellar apply FILE`.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Apply a saved plan (without asking), or plan a command, show it, ask, and apply it.
    Apply {
        /// A saved plan file, or a command such as create-server@ommegang.
        target: String,
        /// The command's positional arguments (when TARGET is a command).
        args: Vec<String>,
        #[command(flatten)]
        flags: CommandFlags,
        /// Do not ask before applying a command.
        #[arg(long)]
        yes: bool,
        /// The server's DNS record is (or will be) updated to a newly allocated Elastic IP: pass DNS gates.
        #[arg(long)]
        dns_confirmed: bool,
        /// At most this many actions at once.
        #[arg(long, default_value_t = 8)]
        parallelism: usize,
    },
    /// Print a saved plan.
    Show {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a saved plan's graph as Graphviz DOT (compensations dashed).
    Graph { file: PathBuf },
    /// Show what changed between two saved plans, action by action (unified diff; exit 1 if they differ).
    Diff { old: PathBuf, new: PathBuf },
    /// Health of configured servers: healthy, degraded, down or stopped, with the reason.
    Status {
        /// One server (default: every configured server).
        server: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validate the whole configuration tree; report every problem with file:line:column.
    Check,
    /// Print a server's effective configuration, each value with the file:line it came from.
    Config { server: String },
    /// Run on an instance at boot (its user data does): attach the server's data volume,
    /// associate its Elastic IP, persist or mount directories, run the spawn hook.
    #[command(
        long_about = "Run on an EC2 instance at boot; the user data cellar writes into every instance and launch \
template calls it. It asks the instance metadata service (IMDSv2; AWS_EC2_METADATA_SERVICE_ENDPOINT \
overrides the address) which instance it is and in which region, then, through the AWS API, attaches the \
data volume tagged Name=<server> cellar:role=data and associates the server's Elastic IP, waiting for a \
dying predecessor to let go of them. `persist` (first boot) copies the directories onto the data volume; \
`spawn` (a replacement instance) mounts them from it. Both then run the spawn hook.",
        after_help = "Needs an instance role with docs/agent-iam-policy.json: ec2:DescribeInstances, ec2:DescribeVolumes, \
ec2:AttachVolume, ec2:DescribeAddresses, ec2:AssociateAddress and autoscaling:DescribeAutoScalingInstances.\n\nExample (what the user data runs):\n  \
cellar agent spawn --server ommegang --persist /etc --persist /var/www --hook /etc/cellar/spawn-hook.sh"
    )]
    Agent {
        /// persist: first boot of a new server; spawn: a replacement instance.
        mode: AgentModeArg,
        /// The server this instance belongs to (the instance's Name tag decides; this must match it).
        #[arg(long)]
        server: String,
        /// A directory kept on the data volume (repeatable).
        #[arg(long = "persist", value_name = "DIR")]
        persist: Vec<String>,
        /// The spawn hook script to run last.
        #[arg(long, value_name = "FILE")]
        hook: Option<PathBuf>,
        /// Do the cloud side, but print the machine-side scripts instead of running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// The built-in simulator's world.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AgentModeArg {
    Persist,
    Spawn,
}

#[derive(Subcommand, Debug)]
enum SimCommand {
    /// Reset the world to the default (fixtures/worlds/default.ron).
    Init {
        /// Seed of the world's random faults (the same seed replays the same run).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print the world: clock, resources, recent events.
    Show,
    /// Let virtual time pass (e.g. 10m, 90s, 2h): instances boot, auto scaling replaces, agents run.
    Advance { duration: String },
    /// Terminate a server's instance (or an instance by id), as Amazon might.
    Terminate { target: String },
    /// Set how many more instances of TYPE fit in ZONE (e.g. us-east-1b m5.large 0).
    Capacity { zone: String, instance_type: String, count: u32 },
    /// Point a DNS name at addresses (none: remove the record).
    Dns { host: String, addresses: Vec<String> },
    /// Install a fault schedule (RON; see fixtures/worlds/faults-example.ron): throttling,
    /// transient errors, random or scheduled terminations, eventual consistency, latency,
    /// capacity changes. An empty file `()` turns every fault off.
    Faults { file: PathBuf },
    /// The event trace with virtual timestamps.
    Log {
        /// Only the last N entries.
        #[arg(long)]
        last: Option<usize>,
    },
}

/// Flags of the seed's commands (given after the command).
#[derive(clap::Args, Debug, Default)]
struct CommandFlags {
    /// stop-auto-scaling: keep the auto scaling group and launch settings (desired 0), as the seed's "run locally".
    #[arg(long)]
    keep_group: bool,
    /// upgrade-ami: replace the instance now and wait until the server is healthy again.
    #[arg(long)]
    restart: bool,
    /// destroy-server: also delete the data volume, after snapshotting it.
    #[arg(long)]
    delete_data: bool,
    /// bundle-ami: copy the new image to REGION too (repeatable).
    #[arg(long, value_name = "REGION")]
    copy_to: Vec<String>,
}

impl CommandFlags {
    fn to_flags(&self) -> command::Flags {
        let mut flags = command::Flags::default();
        for (flag, set) in [
            (command::Flag::KeepGroup, self.keep_group),
            (command::Flag::Restart, self.restart),
            (command::Flag::DeleteData, self.delete_data),
        ] {
            if set {
                flags.set(flag);
            }
        }
        for region in &self.copy_to {
            flags.add(command::Flag::CopyTo, region.clone());
        }
        flags
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Ron,
}

/// Runs cellar with `args` (the first is the program name) and returns the exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { 0 };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            EXIT_ERROR
        }
    }
}

struct Paths {
    config: PathBuf,
    sim_state: PathBuf,
    backend: BackendKind,
}

fn run(cli: Cli) -> Result<i32> {
    let paths = Paths {
        config: cli
            .config
            .or_else(|| std::env::var_os("CELLAR_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("config")),
        sim_state: cli
            .sim_state
            .or_else(|| std::env::var_os("CELLAR_SIM_STATE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".cellar/sim.ron")),
        backend: cli.backend,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match cli.command {
        Sub::Plan { target, args, flags, out, detailed_exitcode, format } => {
            let invocation = Invocation { target, args, flags: flags.to_flags() };
            runtime.block_on(plan_cmd(&paths, &invocation, out.as_deref(), detailed_exitcode, format))
        }
        Sub::Apply { target, args, flags, yes, dns_confirmed, parallelism } => {
            let invocation = Invocation { target, args, flags: flags.to_flags() };
            runtime.block_on(apply_cmd(&paths, &invocation, yes, dns_confirmed, parallelism))
        }
        Sub::Diff { old, new } => {
            let (old_plan, new_plan) = (load_plan(&old)?, load_plan(&new)?);
            let diff = plan::diff(&old_plan, &old.display().to_string(), &new_plan, &new.display().to_string());
            if diff.is_empty() {
                println!("No differences.");
                return Ok(0);
            }
            print!("{diff}");
            Ok(EXIT_ERROR)
        }
        Sub::Show { file, format } => {
            let plan = load_plan(&file)?;
            print!(
                "{}",
                match format {
                    Format::Text => plan.render_text(),
                    Format::Json => plan.to_json() + "\n",
                    Format::Ron => plan.to_ron(),
                }
            );
            Ok(0)
        }
        Sub::Graph { file } => {
            print!("{}", load_plan(&file)?.render_dot());
            Ok(0)
        }
        Sub::Status { server, format } => runtime.block_on(status_cmd(&paths, server.as_deref(), format)),
        Sub::Check => check_cmd(&paths),
        Sub::Config { server } => config_cmd(&paths, &server),
        Sub::Sim { command } => runtime.block_on(sim_cmd(&paths, command)),
        Sub::Agent { mode, server, persist, hook, dry_run } => {
            let mode = match mode {
                AgentModeArg::Persist => AgentMode::Persist,
                AgentModeArg::Spawn => AgentMode::Spawn,
            };
            runtime.block_on(agent_cmd(mode, &server, persist, hook.as_deref(), dry_run))
        }
    }
}

fn load_config(paths: &Paths) -> Result<ConfigTree> {
    if !paths.config.is_dir() {
        bail!(
            "configuration directory {} does not exist\n  fix: pass --config DIR (or set CELLAR_CONFIG); the example tree is fixtures/config",
            paths.config.display()
        );
    }
    ConfigTree::load(&paths.config).map_err(|e| anyhow!("{e}\n  run `cellar check` to see every problem"))
}

fn server_config(tree: &ConfigTree, name: &str) -> Result<config::ServerConfig> {
    let name = ServerName::parse(name)?;
    Ok(tree.server(&name)?)
}

fn open_store(paths: &Paths) -> Result<SimStore> {
    Ok(SimStore::open(&paths.sim_state)?)
}

/// A command as typed: `create-server@ommegang 20`, plus its flags.
struct Invocation {
    target: String,
    args: Vec<String>,
    flags: command::Flags,
}

async fn make_plan(cloud: &dyn Cloud, tree: &ConfigTree, invocation: &Invocation) -> Result<Plan> {
    let command = command::parse(planner::COMMANDS, &invocation.target, &invocation.args, &invocation.flags)?;
    let scope = planner::scope(&command, tree)?;
    let inventory = inventory::read(cloud, &scope).await.context("reading the current state")?;
    Ok(planner::plan(&command, tree, &inventory)?)
}

async fn plan_cmd(
    paths: &Paths,
    invocation: &Invocation,
    out: Option<&Path>,
    detailed: bool,
    format: Format,
) -> Result<i32> {
    let tree = load_config(paths)?;
    let backend = Backend::open(paths.backend, &paths.sim_state).await?;
    let plan = make_plan(&*backend.cloud(), &tree, invocation).await?;
    match format {
        Format::Text => print!("{}", plan.render_text()),
        Format::Json => println!("{}", plan.to_json()),
        Format::Ron => print!("{}", plan.to_ron()),
    }
    if let Some(out) = out {
        write_atomically(out, plan.to_ron().as_bytes())?;
        if format == Format::Text {
            println!("\nSaved the plan to {}. Apply it with: cellar apply {}", out.display(), out.display());
        }
    }
    Ok(if detailed && !plan.is_empty() { EXIT_CHANGES } else { 0 })
}

fn load_plan(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read plan file {}", path.display()))?;
    Ok(Plan::from_ron(&path.display().to_string(), &text)?)
}

async fn apply_cmd(
    paths: &Paths,
    invocation: &Invocation,
    yes: bool,
    dns_confirmed: bool,
    parallelism: usize,
) -> Result<i32> {
    let (target, args) = (invocation.target.as_str(), &invocation.args);
    let looks_like_file = Path::new(target).is_file() || target.ends_with(".ron");
    let backend = Backend::open(paths.backend, &paths.sim_state).await?;
    let cloud = backend.cloud();
    let plan = if looks_like_file {
        if !args.is_empty() {
            bail!("`cellar apply FILE` takes no further arguments (got {})", args.join(" "));
        }
        let plan = load_plan(Path::new(target))?;
        let now = inventory::read(&*cloud, &plan.scope).await.context("re-reading the resources the plan saw")?;
        let changes = plan::staleness(&plan, &now.observe(&plan.scope));
        if !changes.is_empty() {
            bail!(
                "the plan in {target} is stale: the world changed since it was made:\n  {}\n  fix: make a new plan (cellar plan {} -o {target}) and review it",
                changes.join("\n  "),
                plan.command
            );
        }
        print!("{}", plan.render_text());
        plan
    } else {
        let tree = load_config(paths)?;
        let plan = make_plan(&*cloud, &tree, invocation).await?;
        print!("{}", plan.render_text());
        if plan.is_empty() {
            return Ok(0);
        }
        if !yes {
            let question = format!("\nApply these {} steps? Only 'yes' is accepted: ", plan.steps.len());
            match output::TerminalPrompter.ask(&question) {
                None => bail!("refusing to apply without confirmation: standard input is not a terminal\n  fix: pass --yes, or save the plan with `cellar plan ... -o FILE` and apply the file"),
                Some(answer) if answer.trim() == "yes" => {}
                Some(_) => {
                    eprintln!("Apply cancelled; nothing was changed.");
                    return Ok(EXIT_ERROR);
                }
            }
        }
        plan
    };
    if plan.is_empty() {
        return Ok(0);
    }
    println!("\nApplying {} steps:", plan.steps.len());
    let operator = Arc::new(output::Console::new(dns_confirmed, cloud.now().await, Box::new(output::TerminalPrompter)));
    let policy = Policy { concurrency: parallelism.max(1), ..Policy::default() };
    let report = executor::apply(cloud, operator, &plan, policy).await;
    backend.finish()?;
    print!("{}", output::render_report(&plan, &report));
    Ok(if report.succeeded() {
        0
    } else if report.blocked() && report.count(|o| matches!(o, executor::Outcome::Failed(_))) == 0 {
        EXIT_BLOCKED
    } else {
        EXIT_ERROR
    })
}

async fn status_cmd(paths: &Paths, server: Option<&str>, format: Format) -> Result<i32> {
    let tree = load_config(paths)?;
    let names = match server {
        Some(name) => vec![ServerName::parse(name)?],
        None => tree.server_names(),
    };
    let backend = Backend::open(paths.backend, &paths.sim_state).await?;
    let cloud = backend.cloud();
    let mut statuses = Vec::new();
    for name in names {
        let config = tree.server(&name)?;
        statuses.push(status::read(&*cloud, &name, &config.region.value).await?);
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&statuses)?),
        Format::Text | Format::Ron => print!("{}", status::render_text(&statuses)),
    }
    Ok(0)
}

/// `cellar agent`: who am I (IMDSv2), then the engine's agent over the AWS backend.
async fn agent_cmd(
    mode: AgentMode,
    server: &str,
    persist: Vec<String>,
    hook: Option<&Path>,
    dry_run: bool,
) -> Result<i32> {
    let server = ServerName::parse(server)?;
    let spawn_hook = match hook {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read spawn hook {}", path.display()))?)
        }
        None => None,
    };
    let identity = tokio::task::spawn_blocking(|| imds::Imds::from_env().and_then(|imds| imds.identity()))
        .await?
        .context("asking the instance metadata service who this instance is")?;
    println!("cellar agent {mode}: instance {} in {} ({})", identity.instance, identity.zone, identity.region);
    let cloud = backend::aws_cloud().await?;
    let tagged = cloud
        .describe_instances(&identity.region, &cellar_engine::cloud::Filter::Id(identity.instance.to_string()))
        .await
        .context("describing this instance")?;
    if let Some(name) = tagged.first().and_then(|i| i.tags.get(NAME_TAG)) {
        if name != server.as_str() {
            bail!(
                "this instance {} is tagged Name={name}, but the agent was started for --server {server}\n  fix: the user data and the instance's tags disagree; re-create the launch settings with `cellar upgrade-ami@{name}`",
                identity.instance
            );
        }
    }
    let host = host::SystemHost { instance: identity.instance.clone(), region: identity.region.clone(), dry_run };
    let invocation = cellar_engine::agent::AgentInvocation { mode, server, persist, spawn_hook };
    let report = cellar_engine::agent::run(&*cloud, &host, &invocation).await?;
    for step in &report.steps {
        println!("  {step}");
    }
    println!("cellar agent {mode}: done");
    Ok(0)
}

struct BashHookChecker;

impl HookChecker for BashHookChecker {
    fn check(&self, script: &str) -> std::result::Result<(), Vec<HookSyntaxError>> {
        output::bash_syntax_check(script)
    }
}

fn check_cmd(paths: &Paths) -> Result<i32> {
    if !paths.config.is_dir() {
        bail!(
            "configuration directory {} does not exist\n  fix: pass --config DIR (or set CELLAR_CONFIG)",
            paths.config.display()
        );
    }
    let problems = config::check(&paths.config, &BashHookChecker);
    if problems.is_empty() {
        println!("{}: configuration OK", paths.config.display());
        return Ok(0);
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!(
        "\n{} problem{} found in {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        paths.config.display()
    );
    Ok(EXIT_ERROR)
}

fn config_cmd(paths: &Paths, server: &str) -> Result<i32> {
    let tree = load_config(paths)?;
    let config = server_config(&tree, server)?;
    let entries = config.entries();
    let width = entries.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    println!("Effective configuration of {} (later layers override earlier ones):", config.name);
    for (key, value, source) in entries {
        let mut lines = value.lines();
        println!("  {key:<width$} = {:<40} # {source}", lines.next().unwrap_or(""));
        for line in lines {
            println!("  {:<width$}   {line}", "");
        }
    }
    Ok(0)
}

async fn sim_cmd(paths: &Paths, command: SimCommand) -> Result<i32> {
    match command {
        SimCommand::Init { seed } => {
            let mut world = cellar_sim::default_world();
            world.reseed(seed);
            SimStore::init(&paths.sim_state, world)?;
            println!("Simulator world reset to the default (seed {seed}) in {}", paths.sim_state.display());
        }
        SimCommand::Faults { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read fault schedule {}", file.display()))?;
            let faults = cellar_sim::parse_faults(&text).map_err(|e| {
                anyhow!(
                    "{}:{}:{}: not a fault schedule: {}\n  fix: see fixtures/worlds/faults-example.ron for every field",
                    file.display(),
                    e.position.line,
                    e.position.col,
                    e.code
                )
            })?;
            let mut store = open_store(paths)?;
            let mut world = store.world().clone();
            world.set_faults(faults).map_err(|e| anyhow!("{}: {e}", file.display()))?;
            store.save(&world)?;
            println!("Fault schedule {} installed.", file.display());
        }
        SimCommand::Log { last } => {
            let store = open_store(paths)?;
            print!("{}", store.world().render_log(last));
        }
        SimCommand::Show => {
            let store = open_store(paths)?;
            print!("{}", store.world().render_summary());
        }
        SimCommand::Advance { duration } => {
            let duration = parse_duration(&duration)?;
            let mut store = open_store(paths)?;
            store.world().check_advance(duration).map_err(|e| anyhow!(e))?;
            let sim = Sim::new(store.world().clone());
            sim.advance(duration).await;
            let world = sim.into_world();
            println!("Virtual clock now {}", world.now().rfc3339());
            store.save(&world)?;
        }
        SimCommand::Terminate { target } => {
            let mut store = open_store(paths)?;
            let mut world = store.world().clone();
            let id = if target.starts_with("i-") {
                InstanceId::new(target.clone())
            } else {
                let name = ServerName::parse(&target)?;
                world
                    .server_instance(&name)
                    .ok_or_else(|| anyhow!("server {name} has no live instance in the simulator"))?
            };
            world.terminate_instance_by_amazon(&id)?;
            store.save(&world)?;
            println!("Instance {id} is shutting down (terminated by Amazon).");
        }
        SimCommand::Capacity { zone, instance_type, count } => {
            let mut store = open_store(paths)?;
            let mut world = store.world().clone();
            world
                .set_capacity(&Zone::new(zone.clone()), &InstanceType::new(instance_type.clone()), count)
                .map_err(|e| anyhow!(e))?;
            store.save(&world)?;
            println!("{zone} now has room for {count} more {instance_type} instance(s).");
        }
        SimCommand::Dns { host, addresses } => {
            let mut store = open_store(paths)?;
            let mut world = store.world().clone();
            world.set_dns(&host, addresses.clone()).map_err(|e| anyhow!(e))?;
            store.save(&world)?;
            println!(
                "{host} → {}",
                if addresses.is_empty() { "(no record)".to_string() } else { addresses.join(", ") }
            );
        }
    }
    Ok(0)
}

/// `90s`, `10m`, `2h`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid duration {text:?}: use a number with s, m or h, e.g. 90s, 10m, 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let n: u64 = number.parse().map_err(|_| bad())?;
            number.clear();
            total += n * match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
        }
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(cellar_engine::files::write_atomically(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<u64>) {
        assert_eq!(parse_duration(input).ok().map(|d| d.as_secs()), expected, "input {input:?}");
    }

    #[test]
    fn durations() {
        check("90s", Some(90));
        check("10m", Some(600));
        check("1h30m", Some(5400));
        check("2d", Some(172_800));
        check("10", None);
        check("m", None);
        check("", None);
        check("5x", None);
    }
}
