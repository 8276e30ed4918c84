//! `cellar completions SHELL`: a shell completion script (clap_complete).

use super::Ctx;
use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    shell: Shell,
}

pub const AFTER_HELP: &str = "Install:\n  \
bash: cellar completions bash > ~/.local/share/bash-completion/completions/cellar\n  \
zsh:  cellar completions zsh > \"${fpath[1]}/_cellar\"\n  \
fish: cellar completions fish > ~/.config/fish/completions/cellar.fish";

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "cellar", &mut script);
    ctx.out.print(&String::from_utf8_lossy(&script))?;
    Ok(0)
}
