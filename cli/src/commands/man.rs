//! `cellar man`: the manual page (roff, clap_mangen), e.g. `cellar man > cellar.1`.

use super::Ctx;
use anyhow::{Context, Result};
use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The page of one subcommand (e.g. plan) instead of cellar's own.
    subcommand: Option<String>,
}

pub const AFTER_HELP: &str =
    "Examples:\n  cellar man | man -l -\n  cellar man > cellar.1\n  cellar man plan > cellar-plan.1";

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let mut cellar = crate::Cli::command();
    // Building names each subcommand for its page: display name `cellar-plan`, bin name `cellar plan`.
    cellar.build();
    let page = match &args.subcommand {
        None => cellar,
        Some(name) => {
            let known: Vec<String> = cellar.get_subcommands().map(|c| c.get_name().to_string()).collect();
            let Some(sub) = cellar.find_subcommand(name) else {
                anyhow::bail!("cellar has no subcommand {name:?}\n  fix: one of {}", known.join(", "));
            };
            sub.clone()
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff).context("rendering the manual page")?;
    ctx.out.print(&String::from_utf8_lossy(&roff))?;
    Ok(0)
}
