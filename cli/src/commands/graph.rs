//! `cellar graph FILE`: a saved plan's graph as Graphviz DOT.

use super::{load_plan, Ctx};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The saved plan (from `cellar plan ... -o FILE`).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    file: PathBuf,
}

pub const AFTER_HELP: &str = "Example:\n  cellar graph ommegang.plan.ron | dot -Tsvg > ommegang.svg";

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    ctx.out.print(&load_plan(&args.file)?.render_dot())?;
    Ok(0)
}
