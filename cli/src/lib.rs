//! The `cellar` command line: the top-level arguments, dispatch to the subcommands (one
//! module each under `commands/`), and exit codes.
//!
//! Everything here is a thin layer over `cellar-engine` (planning, applying, status) and
//! `cellar-sim` (the built-in backend). Exit codes: 0 success (or no changes), 1 error,
//! 2 changes present (`plan --detailed-exitcode`) or a server at or past the health
//! `status --fail-on` names, 3 apply stopped at a DNS gate; `diff`
//! exits as diff(1) does: 0 the same, 1 different, 2 trouble.

#[doc(hidden)]
pub mod allocator;
mod backend;
mod commands;
/// `cellar watch`'s backup rounds, for the benchmark that watches with them under way.
#[doc(hidden)]
pub use commands::watch::backups as watch_backups;
#[cfg(feature = "aws")]
mod host;
#[cfg(feature = "aws")]
mod imds;
mod journal;
mod local;
mod locks;
mod notify;
mod output;
mod probe;
mod progress;

use anyhow::Result;
use backend::BackendKind;
use clap::{ColorChoice, CommandFactory, FromArgMatches, Parser, Subcommand};
use commands::*;
use output::Output;
use std::ffi::OsString;
use std::path::PathBuf;

pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
/// `status --fail-on HEALTH`: a server shown is at or past that health.
pub const EXIT_UNHEALTHY: i32 = 2;
pub const EXIT_BLOCKED: i32 = 3;

const AFTER_HELP: &str = "Exit codes:\n  \
0  success, or no changes\n  \
1  error: bad input, a refused or stale plan, a failed apply (each message says where and how to fix it)\n  \
2  changes present (plan --detailed-exitcode), or a server at or past the health status --fail-on names\n  \
3  apply stopped at a DNS gate\n  \
diff exits as diff(1): 0 the plans are the same, 1 they differ, 2 trouble.\n\
A closed output pipe (cellar status | head -1) is not an error: output stops quietly and the exit code is the command's own.\n\n\
Examples:\n  cellar --config fixtures/config plan create-server@ommegang 20 -o ommegang.plan.ron\n  \
cellar --config fixtures/config apply ommegang.plan.ron --dns-confirmed\n  cellar --config fixtures/config status ommegang";

#[derive(Parser, Debug)]
#[command(
    name = "cellar",
    version,
    about = "Keep long-lived EC2 servers alive and change them safely, as reviewable plans.",
    long_about = "cellar turns each server command (create-server@ommegang 20, ...) into a plan: a dependency \
graph of resource actions you can read, save, diff and then apply, against the built-in simulator \
(default) or real AWS.\n\nA server is an instance, an Elastic IP, a data EBS volume, a launch template and \
an auto scaling group of one, tied together by the tag Name=<server>.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Configuration directory (global.ron, platforms/, servers/).
    #[arg(long, global = true, help_heading = "Global options", value_name = "DIR", env = "CELLAR_CONFIG", default_value = "config",
          value_parser = config_dir, value_hint = clap::ValueHint::DirPath)]
    config: PathBuf,
    /// The simulator's state file (created from the default world on first use).
    #[arg(long, global = true, help_heading = "Global options", value_name = "FILE", env = "CELLAR_SIM_STATE", default_value = ".cellar/sim.db",
          value_parser = sim_state_file, value_hint = clap::ValueHint::FilePath)]
    sim_state: PathBuf,
    /// Let the simulator's virtual time follow the wall clock, N times faster (1: as slow as
    /// AWS): every wait also takes 1/N of its length in real time. Unset: waits take no time.
    #[arg(long, global = true, help_heading = "Global options", value_name = "N", env = "CELLAR_SIM_PACE",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    sim_pace: Option<u32>,
    /// Where plan, apply and status look and act: the built-in simulator, or AWS (credentials,
    /// region and endpoint from the AWS chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance
    /// role; AWS_ENDPOINT_URL for an AWS-compatible endpoint). Each server's region comes from its config.
    #[arg(long, global = true, help_heading = "Global options", value_enum, env = "CELLAR_BACKEND", default_value_t = BackendKind::Sim)]
    backend: BackendKind,
    /// The AWS profile for --backend aws (from ~/.aws/config and ~/.aws/credentials), as the
    /// AWS CLI's --profile. Without it the AWS_PROFILE variable chooses, else the default chain.
    #[arg(long, global = true, help_heading = "Global options", value_name = "NAME", value_parser = profile_name)]
    profile: Option<String>,
    /// Colour the change signs of plans and the health in status: auto (on a terminal, unless
    /// NO_COLOR is set), always, never.
    #[arg(long, global = true, help_heading = "Global options", value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Sub,
}

/// `--config` / `CELLAR_CONFIG`: an empty value is a mistake (an unset variable in a script), not `.`.
fn config_dir(value: &str) -> Result<PathBuf, String> {
    non_empty(value, "CELLAR_CONFIG", "DIR")
}

/// `--sim-state` / `CELLAR_SIM_STATE`: an empty value would name no file at all.
fn sim_state_file(value: &str) -> Result<PathBuf, String> {
    non_empty(value, "CELLAR_SIM_STATE", "FILE")
}

/// `--profile`: a name as ~/.aws/config spells profiles (no blanks, not empty).
fn profile_name(value: &str) -> Result<String, String> {
    let valid = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == ']');
    if !valid {
        return Err(format!(
            "{value:?} is not a profile name\n  fix: give a profile of ~/.aws/config (`aws configure list-profiles` lists them), or leave --profile out to use AWS_PROFILE"
        ));
    }
    Ok(value.to_string())
}

fn non_empty(value: &str, variable: &str, what: &str) -> Result<PathBuf, String> {
    if value.trim().is_empty() {
        return Err(format!(
            "the path is empty (an empty {variable} counts too)\n  fix: give a {what}, or unset {variable} to use the default"
        ));
    }
    Ok(PathBuf::from(value))
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Show what a command would change, without changing anything.
    #[command(after_help = plan::after_help())]
    Plan(plan::Args),
    /// Apply a saved plan (without asking), or plan a command, show it, ask, and apply it.
    #[command(after_help = apply::after_help())]
    Apply(apply::Args),
    /// Print a saved plan.
    Show(show::Args),
    /// Print a saved plan's graph as Graphviz DOT (compensations dashed).
    #[command(after_help = graph::AFTER_HELP)]
    Graph(graph::Args),
    /// What changed between two saved plans, step by step (exit 0 same, 1 different, 2 trouble).
    #[command(after_help = diff::AFTER_HELP)]
    Diff(diff::Args),
    /// Health of configured servers (healthy, degraded, down or stopped, with the reason) and the workspaces.
    #[command(after_help = status::AFTER_HELP)]
    Status(status::Args),
    /// Watch the servers: report each change of health (down, degraded, recovered, AWS's
    /// scheduled events) as it happens, and notify webhooks and commands; take their
    /// scheduled backups and prune.
    #[command(after_help = watch::AFTER_HELP)]
    Watch(watch::Args),
    /// A server's backups (snapshots tagged by backup@), newest first, and what retention does with each.
    #[command(after_help = backups::AFTER_HELP)]
    Backups(backups::Args),
    /// Validate the whole configuration tree; report every problem with file:line:column
    /// (with --backend aws, then check the account as `doctor` does).
    #[command(after_help = check::AFTER_HELP)]
    Check(check::Args),
    /// Is the account ready for the configured servers: credentials, regions and zones,
    /// images, reads, and the permissions of the changing calls (EC2 DryRun).
    #[command(after_help = doctor::AFTER_HELP)]
    Doctor(doctor::Args),
    /// Print a server's effective configuration, each value with the file:line it came from.
    Config(config::Args),
    /// Run on an instance at boot (its user data does): attach the server's data volume,
    /// associate its Elastic IP, persist or mount directories, run the spawn hook.
    #[command(long_about = agent::LONG_ABOUT, after_help = agent::AFTER_HELP)]
    Agent(agent::Args),
    /// The built-in simulator's world.
    Sim(sim::Args),
    /// Remove a server lock an apply left behind (shows the holder, asks first).
    #[command(after_help = unlock::AFTER_HELP)]
    Unlock(unlock::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = completions::AFTER_HELP)]
    Completions(completions::Args),
    /// Print the manual page (roff), e.g. `cellar man > cellar.1`.
    #[command(after_help = man::AFTER_HELP)]
    Man(man::Args),
}

impl Sub {
    /// The exit code of an error: `diff`'s trouble is 2, as diff(1)'s.
    fn error_code(&self) -> i32 {
        match self {
            Sub::Diff(_) => diff::EXIT_TROUBLE,
            _ => EXIT_ERROR,
        }
    }
}

/// Runs cellar with `args` (the first is the program name) and returns the exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let parsed = Cli::command()
        .color(color_before_parsing(&args))
        .try_get_matches_from(&args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, args),
    };
    let error_code = cli.command.error_code();
    let ctx = Ctx {
        config: cli.config,
        sim_state: cli.sim_state,
        sim_pace: cli.sim_pace,
        backend: cli.backend,
        profile: cli.profile,
        out: Output::stdout(),
        color: output::colors_stdout(cli.color),
    };
    match run(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            error_code
        }
    }
}

/// `--color WHEN` as typed, so that clap's own help and errors follow it too.
fn color_before_parsing(args: &[OsString]) -> ColorChoice {
    let mut words = args.iter().skip(1).map(|a| a.to_str().unwrap_or_default());
    while let Some(word) = words.next() {
        let value = match word.strip_prefix("--color") {
            _ if word == "--" => break,
            Some("") => words.next().unwrap_or_default(),
            Some(rest) if rest.starts_with('=') => &rest[1..],
            _ => continue,
        };
        return clap::ValueEnum::from_str(value, true).unwrap_or(ColorChoice::Auto);
    }
    ColorChoice::Auto
}

/// `--help` and `--version` (exit 0), or a usage error: 1, or 2 for `diff` (as diff(1)).
fn usage_error(e: &clap::Error, args: Vec<OsString>) -> i32 {
    // clap prints through its own writer, which returns write errors instead of panicking.
    let printed = e.print();
    if !e.use_stderr() {
        return match printed {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                output::stderr(&format!("error: cannot write to standard output: {e}\n"));
                EXIT_ERROR
            }
            _ => 0,
        };
    }
    let matches = Cli::command().ignore_errors(true).try_get_matches_from(args);
    match matches.ok().as_ref().and_then(|m| m.subcommand_name()) {
        Some("diff") => diff::EXIT_TROUBLE,
        _ => EXIT_ERROR,
    }
}

/// `error: ...` and each cause the message does not already say, on stderr.
fn print_error(e: &anyhow::Error) {
    let mut said = e.to_string();
    let mut text = format!("error: {said}\n");
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !said.contains(&cause) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        said.push_str(&cause);
    }
    output::stderr(&text);
}

fn run(ctx: &Ctx, command: Sub) -> Result<i32> {
    match command {
        Sub::Plan(args) => ctx.runtime()?.block_on(plan::run(ctx, args)),
        Sub::Apply(args) => ctx.runtime()?.block_on(apply::run(ctx, args)),
        Sub::Status(args) => ctx.runtime()?.block_on(status::run(ctx, args)),
        Sub::Watch(args) => ctx.runtime()?.block_on(watch::run(ctx, args)),
        Sub::Backups(args) => ctx.runtime()?.block_on(backups::run(ctx, args)),
        Sub::Agent(args) => ctx.runtime()?.block_on(agent::run(ctx, args)),
        Sub::Doctor(args) => ctx.runtime()?.block_on(doctor::run(ctx, args)),
        Sub::Unlock(args) => ctx.runtime()?.block_on(unlock::run(ctx, args)),
        Sub::Show(args) => show::run(ctx, args),
        Sub::Graph(args) => graph::run(ctx, args),
        Sub::Diff(args) => diff::run(ctx, args),
        Sub::Check(args) => check::run(ctx, args),
        Sub::Config(args) => config::run(ctx, args),
        Sub::Sim(args) => sim::run(ctx, args),
        Sub::Completions(args) => completions::run(ctx, args),
        Sub::Man(args) => man::run(ctx, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn color_is_known_before_parsing() {
        let check = |words: &[&str], expected: ColorChoice| {
            let args: Vec<OsString> = std::iter::once("cellar").chain(words.iter().copied()).map(Into::into).collect();
            assert_eq!(color_before_parsing(&args), expected, "{words:?}");
        };
        check(&["--help"], ColorChoice::Auto);
        check(&["--color", "never", "--help"], ColorChoice::Never);
        check(&["plan", "--help", "--color=always"], ColorChoice::Always);
        check(&["--color=purple"], ColorChoice::Auto);
        check(&["sim", "dns", "--", "--color", "never"], ColorChoice::Auto);
    }
}
