//! `cellar show FILE`: print a saved plan (and the journal of its apply, if it has one),
//! or an apply journal (`*.journal.ron`).

use super::plan::Format;
use super::{load_plan, Ctx};
use crate::journal;
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The saved plan (from `cellar plan ... -o FILE`), or an apply journal (`PLAN.journal.ron`).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    file: PathBuf,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    if journal::is_journal(&args.file) {
        let Some(file) = journal::load(&args.file)? else {
            bail!(
                "no apply journal at {}\n  fix: give the path of a plan's journal (PLAN.journal.ron)",
                args.file.display()
            );
        };
        ctx.out.print(&journal::render(&file))?;
        return Ok(0);
    }
    let plan = load_plan(&args.file)?;
    ctx.out.print(&args.format.render(ctx, &plan))?;
    let journal_path = journal::path_for(&args.file);
    if let (Format::Text, Some(file)) = (args.format, journal::load(&journal_path)?) {
        ctx.out.print(&format!("\nApply journal ({}):\n{}", journal_path.display(), journal::render(&file)))?;
    }
    Ok(0)
}
