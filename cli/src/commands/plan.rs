//! `cellar plan`: what a command would change, without changing anything.

use super::{commands_help, make_plan, CommandFlags, Ctx, Invocation};
use crate::backend::Backend;
use crate::EXIT_CHANGES;
use anyhow::Result;
use cellar_engine::plan::Plan;
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The command and its server, e.g. create-server@ommegang (every command is listed below).
    target: String,
    /// The command's positional arguments, in the seed's order (`-`: from the server's configuration).
    args: Vec<String>,
    #[command(flatten)]
    flags: CommandFlags,
    /// Save the plan (RON) to FILE for `cellar apply FILE`. A symbolic link is written
    /// through to its target; a directory or device is refused.
    #[arg(short = 'o', long = "out", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are (1 on error).
    #[arg(long)]
    detailed_exitcode: bool,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    fleet: super::FleetArgs,
}

/// How a plan is printed (`plan`, `show`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For people: one block per step, with the change signs + ~ - ? =.
    Text,
    /// The plan as JSON, for scripts.
    Json,
    /// The plan as saved (RON), what `cellar apply FILE` reads.
    Ron,
}

impl Format {
    pub fn render(self, ctx: &Ctx, plan: &Plan) -> String {
        match self {
            Format::Text => ctx.render_plan(plan),
            Format::Json => plan.to_json() + "\n",
            Format::Ron => plan.to_ron(),
        }
    }
}

pub fn after_help() -> String {
    format!(
        "{}\nExit codes: 0 planned (with --detailed-exitcode: no changes), 1 error, 2 changes present \
(--detailed-exitcode only).\n\nExamples:\n  cellar plan create-server@ommegang 20 -o ommegang.plan.ron\n  \
cellar plan upgrade-ami@duvel --restart\n  cellar plan create-server@ommegang 20 - - - c   (zone letter c; the rest from the config)",
        commands_help()
    )
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let backend = Backend::open_read_only(ctx).await?;
    let invocation = Invocation {
        target: args.target,
        args: args.args,
        flags: args.flags.0,
        strict: args.fleet.strict,
        rollout: args.fleet.rollout(),
    };
    let plan = make_plan(ctx, &*backend.cloud(), &tree, &invocation).await?;
    drop(backend);
    if let Some(out) = &args.out {
        cellar_engine::files::write_atomically(out, plan.to_ron().as_bytes())?;
    }
    ctx.out.print(&args.format.render(ctx, &plan))?;
    if let (Some(out), Format::Text) = (&args.out, args.format) {
        let out = out.display();
        ctx.out.line(&format!("\nSaved the plan to {out}. Apply it with: cellar apply {out}"))?;
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() { EXIT_CHANGES } else { 0 })
}
