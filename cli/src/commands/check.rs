//! `cellar check` (the seed's `run.sh test`): every problem in the configuration tree.

use super::Ctx;
use crate::output::{self, bash_syntax_check};
use crate::EXIT_ERROR;
use anyhow::Result;
use cellar_engine::config::{self, HookChecker, HookSyntaxError};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub const AFTER_HELP: &str =
    "Exit codes: 0 the configuration is valid, 1 it has problems (each printed with file:line:column).";

/// Spawn hooks are checked with `bash -n`.
struct BashHookChecker;

impl HookChecker for BashHookChecker {
    fn check(&self, script: &str) -> std::result::Result<(), Vec<HookSyntaxError>> {
        bash_syntax_check(script)
    }
}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32> {
    ctx.config_dir_exists()?;
    let problems = config::check(&ctx.config, &BashHookChecker);
    if problems.is_empty() {
        ctx.out.line(&format!("{}: configuration OK", ctx.config.display()))?;
        return Ok(0);
    }
    let mut text = String::new();
    for problem in &problems {
        text.push_str(&format!("{problem}\n"));
    }
    let plural = if problems.len() == 1 { "" } else { "s" };
    text.push_str(&format!("\n{} problem{plural} found in {}\n", problems.len(), ctx.config.display()));
    output::stderr(&text);
    Ok(EXIT_ERROR)
}
