//! One module per subcommand, each with its clap arguments (`Args`) and its `run`; this
//! module holds what they share: the [`Ctx`] every `run` gets, loading the configuration
//! and plan files, and the command flags made from the engine's [`Flag::ALL`].

pub mod agent;
pub mod apply;
pub mod backups;
pub mod check;
pub mod completions;
pub mod config;
pub mod diff;
pub mod doctor;
mod fleet;
pub mod graph;
pub mod man;
pub mod plan;
pub mod show;
pub mod sim;
pub mod status;
mod status_table;
pub mod unlock;
pub mod watch;

use crate::backend::BackendKind;
use crate::output::Output;
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::command::{self, Flag};
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory;
use cellar_engine::plan::{Plan, RolloutOptions, Unavailable};
use cellar_engine::planner;
use cellar_engine::selector::Selector;
use clap::{Arg, ArgAction, ArgMatches};
use std::path::{Path, PathBuf};

/// What every subcommand runs with: the global options, resolved, and standard output.
pub struct Ctx {
    /// `--config` / `CELLAR_CONFIG` / `./config`.
    pub config: PathBuf,
    /// `--sim-state` / `CELLAR_SIM_STATE` / `.cellar/sim.db`.
    pub sim_state: PathBuf,
    /// `--sim-pace` / `CELLAR_SIM_PACE`: virtual time follows the wall clock, N times faster.
    pub sim_pace: Option<u32>,
    pub backend: BackendKind,
    /// `--profile`: the AWS profile for `--backend aws` (else aws-config reads `AWS_PROFILE`).
    pub profile: Option<String>,
    pub out: Output,
    /// Whether standard output gets ANSI colours (`--color`, `NO_COLOR`, a terminal).
    pub color: bool,
}

impl Ctx {
    /// The configuration tree, or an error saying where it was looked for and how to fix it.
    /// Server files are read when a command uses them: a problem in a file the command
    /// does not use does not stop it (`cellar check` finds every one). A server file
    /// whose name is not a server name is warned about on standard error, as the listing
    /// shows it for free and a server meant to be there would be left out of `all`.
    pub fn load_config(&self) -> Result<ConfigTree> {
        self.config_dir_exists()?;
        let tree =
            ConfigTree::load(&self.config).map_err(|e| anyhow!("{e}\n  run `cellar check` to see every problem"))?;
        for problem in tree.misnamed_files() {
            let problem = problem.to_string().replace('\n', "\n  ");
            crate::output::stderr(&format!("warning: {problem}\n  (no command but `cellar check` reads it)\n"));
        }
        Ok(tree)
    }

    /// Refuses a configuration directory that does not exist, saying where it was looked for.
    pub fn config_dir_exists(&self) -> Result<()> {
        if !self.config.is_dir() {
            bail!(
                "configuration directory {} does not exist\n  fix: pass --config DIR (or set CELLAR_CONFIG); the example tree is fixtures/config",
                self.config.display()
            );
        }
        Ok(())
    }

    /// The runtime async commands run on: one thread, as the simulator's virtual clock needs.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
    }

    /// A plan rendered for people, with coloured change signs on a colour terminal.
    pub fn render_plan(&self, plan: &Plan) -> String {
        if self.color {
            plan.render_text_colored()
        } else {
            plan.render_text()
        }
    }
}

/// Reads and validates a saved plan.
pub fn load_plan(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read plan file {}", path.display()))?;
    Ok(Plan::from_ron(&path.display().to_string(), &text)?)
}

/// A command as typed: `create-server@ommegang 20`, plus its flags.
pub struct Invocation {
    pub target: String,
    pub args: Vec<String>,
    pub flags: command::Flags,
    /// A fleet plan fails when the command refuses any server it selects.
    pub strict: bool,
    /// A fleet plan's waves (`--max-unavailable`, `--canary`, `--stop-after-failures`).
    pub rollout: RolloutOptions,
}

/// The options of a fleet plan, shared by `plan` and `apply`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FleetArgs {
    /// With a selector of several servers: fail if the command refuses any of them
    /// (by default they are listed with the reason, and the others are planned).
    #[arg(long)]
    pub strict: bool,
    /// Rolling change: at most this many servers (3) or this share of them (20%) change at
    /// once; each wave starts once the one before is healthy. Default 1 when servers restart.
    #[arg(long, value_name = "N|N%", value_parser = Unavailable::parse)]
    pub max_unavailable: Option<Unavailable>,
    /// Rolling change: these many servers first, alone; the rest only once they are healthy.
    #[arg(long, value_name = "N")]
    pub canary: Option<u32>,
    /// Rolling change: once this many servers failed (a step, or unhealthy after their
    /// steps), no new wave starts; the servers in flight finish or are undone.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub stop_after_failures: Option<u32>,
}

impl FleetArgs {
    pub fn rollout(&self) -> RolloutOptions {
        RolloutOptions {
            max_unavailable: self.max_unavailable,
            canary: self.canary,
            stop_after_failures: self.stop_after_failures,
        }
    }
}

/// Parses the invocation, reads what it needs through `cloud`, and plans it. A command
/// about a server typed without `@SERVER` is about the server of the instance cellar runs
/// on (`local.rs`).
pub async fn make_plan(ctx: &Ctx, cloud: &dyn Cloud, tree: &ConfigTree, invocation: &Invocation) -> Result<Plan> {
    let Invocation { target, args, flags, strict, rollout } = invocation;
    if let Some((name, selector)) = fleet_target(target)? {
        return fleet::plan(cloud, tree, (name, &selector), (args, flags), (*strict, rollout)).await;
    }
    if *rollout != RolloutOptions::default() || *strict {
        bail!("--strict, --max-unavailable, --canary and --stop-after-failures are for a selector of several servers (`{target}` names one)\n  fix: leave them out, or select servers: web-*, all, platform=NAME, tag:KEY=VALUE");
    }
    let command = if command::server_from_instance(planner::COMMANDS, target) {
        let server = crate::local::server_of_this_instance(ctx, cloud, target).await?;
        command::parse_on_instance(planner::COMMANDS, target, args, flags, &server)?
    } else {
        command::parse(planner::COMMANDS, target, args, flags)?
    };
    let scope = planner::scope(&command, tree)?;
    let inventory = inventory::read(cloud, &scope).await.context("reading the current state")?;
    Ok(planner::plan(&command, tree, &inventory)?)
}

/// `command@SELECTOR` with a selector of more than one name (`web-*`, `all`, `a,b`,
/// `platform=NAME`, `tag:KEY=VALUE`); a lone name is left to the command's own parser
/// (and its errors).
fn fleet_target(target: &str) -> Result<Option<(&str, Selector)>> {
    let Some((name, after)) = target.split_once('@') else { return Ok(None) };
    if after != "all" && !after.contains([',', '*', '?', '=', ':']) {
        return Ok(None);
    }
    Ok(Some((name, Selector::parse(after)?)))
}

/// The `after_help` of `plan` and `apply`: every command of [`planner::COMMANDS`] with its
/// synopsis and what its plan does.
pub fn commands_help() -> String {
    let mut out = String::from(
        "Commands (positional arguments in the seed's order; `-` takes the value from the server's configuration; \
command flags go after the command):\n",
    );
    for spec in planner::COMMANDS {
        out.push_str(&format!("  {}\n      {}\n", spec.synopsis(), spec.help));
    }
    out
}

/// The flags of the seed's commands (`--keep-group`, `--restart`, `--copy-to REGION`, ...),
/// made from the engine's [`Flag::ALL`] with its names and help, so that a flag added to the
/// engine needs no change here. Whether a flag applies to the command given is the engine's
/// parser's to say (`--keep-group does not apply to upgrade-ami: ...`).
#[derive(Clone, Debug, Default)]
pub struct CommandFlags(pub command::Flags);

/// The flag's clap id and long name: its name without the dashes (`keep-group`).
fn flag_id(flag: Flag) -> &'static str {
    flag.name().trim_start_matches("--")
}

impl clap::FromArgMatches for CommandFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = command::Flags::default();
        for flag in Flag::ALL {
            let id = flag_id(flag);
            match flag.value_name() {
                Some(_) => {
                    let values = matches
                        .try_get_many::<String>(id)
                        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))?;
                    for value in values.into_iter().flatten() {
                        flags.add(flag, value.clone());
                    }
                }
                None => {
                    if matches.try_get_one::<bool>(id).ok().flatten().copied().unwrap_or(false) {
                        flags.set(flag);
                    }
                }
            }
        }
        Ok(CommandFlags(flags))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = CommandFlags::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for CommandFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Flag::ALL.into_iter().fold(cmd, |cmd, flag| {
            let id = flag_id(flag);
            let arg = Arg::new(id).long(id).help(flag.help()).help_heading("Command flags");
            cmd.arg(match flag.value_name() {
                Some(value) => arg.value_name(value).action(ArgAction::Append),
                None => arg.action(ArgAction::SetTrue),
            })
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        CommandFlags::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    #[test]
    fn every_engine_flag_is_a_cli_flag() {
        let mut words = vec!["t".to_string()];
        let mut expected = command::Flags::default();
        for flag in Flag::ALL {
            match flag.value_name() {
                Some(_) => {
                    words.extend([flag.name().to_string(), "a".into(), format!("{}=b", flag.name())]);
                    expected.add(flag, "a");
                    expected.add(flag, "b");
                }
                None => {
                    words.push(flag.name().to_string());
                    expected.set(flag);
                }
            }
        }
        let cmd = CommandFlags::augment_args(clap::Command::new("t"));
        let matches = cmd.try_get_matches_from(words).unwrap();
        assert_eq!(CommandFlags::from_arg_matches(&matches).unwrap().0, expected);
        let none = CommandFlags::augment_args(clap::Command::new("t")).try_get_matches_from(["t"]).unwrap();
        assert_eq!(CommandFlags::from_arg_matches(&none).unwrap().0, command::Flags::default());
        let help = CommandFlags::augment_args(clap::Command::new("t")).render_help().to_string();
        for flag in Flag::ALL {
            assert!(help.contains(flag.name()), "{help}");
        }
    }
}
