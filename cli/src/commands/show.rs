//! `cellar show FILE`: print a saved plan.

use super::plan::Format;
use super::{load_plan, Ctx};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The saved plan (from `cellar plan ... -o FILE`).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    file: PathBuf,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let plan = load_plan(&args.file)?;
    ctx.out.print(&args.format.render(ctx, &plan))?;
    Ok(0)
}
