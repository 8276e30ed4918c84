//! `cellar diff OLD NEW`: what changed between two saved plans. Exit codes as diff(1)'s:
//! 0 the same, 1 different, 2 trouble (lib.rs maps this command's errors to 2).

use super::{load_plan, Ctx};
use crate::output::paint;
use anyhow::Result;
use cellar_engine::plan;
use std::path::PathBuf;

/// The plans differ.
pub const EXIT_DIFFERENT: i32 = 1;
/// A plan could not be read (diff(1)'s "trouble").
pub const EXIT_TROUBLE: i32 = 2;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plan as it was (e.g. the one reviewed).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    old: PathBuf,
    /// The plan as it is now.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    new: PathBuf,
}

pub const AFTER_HELP: &str = "Exit codes (as diff(1)'s): 0 the plans are the same, 1 they differ, 2 trouble \
(a file that cannot be read or is not a plan, or a usage error).\n\nExample:\n  \
cellar plan create-server@duvel 30 -o reviewed.ron   # reviewed and merged\n  \
cellar plan create-server@duvel 30 -o now.ron\n  cellar diff reviewed.ron now.ron && cellar apply now.ron";

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let (old, new) = (load_plan(&args.old)?, load_plan(&args.new)?);
    let (old_name, new_name) = (args.old.display().to_string(), args.new.display().to_string());
    let text = plan::diff(&old, &old_name, &new, &new_name);
    if !text.is_empty() {
        ctx.out.print(&colour_diff(&text, ctx.color))?;
        return Ok(EXIT_DIFFERENT);
    }
    let (old_ron, new_ron) = (old.to_ron(), new.to_ron());
    if old_ron == new_ron {
        ctx.out.line("No differences.")?;
        return Ok(0);
    }
    // The text, settings and hooks can agree while the saved forms differ (what the plan
    // observed, a token's inputs): show their saved forms' diff.
    let saved = similar::TextDiff::from_lines(&old_ron, &new_ron)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string();
    ctx.out.print(&format!(
        "The plans read the same, but their saved forms differ in details the text does not show \
(what the plan observed of the world, the inputs of its idempotency tokens):\n{}",
        colour_diff(&saved, ctx.color)
    ))?;
    Ok(EXIT_DIFFERENT)
}

/// Removed lines red, added lines green, hunk headers cyan (as git colours a diff).
fn colour_diff(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let code = match body {
            _ if body.starts_with("+++") || body.starts_with("---") => "1",
            _ if body.starts_with('+') => "32",
            _ if body.starts_with('-') => "31",
            _ if body.starts_with("@@") => "36",
            _ => "",
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&paint(body, code, true));
            out.push_str(end);
        }
    }
    out
}
