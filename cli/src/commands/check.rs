//! `cellar check` (the seed's `run.sh test`): every problem in the configuration tree.

use super::Ctx;
use crate::output::{self, bash_syntax_check};
use crate::EXIT_ERROR;
use anyhow::Result;
use cellar_engine::config::{self, HookChecker, HookSyntaxError};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub const AFTER_HELP: &str =
    "Checks the files alone (no cloud is asked). With --backend aws (or CELLAR_BACKEND=aws) it \
then asks the account too, as `cellar doctor` does: credentials, regions and zones, images, and the permissions of \
the calls cellar makes (EC2 DryRun).\n\n\
Exit codes: 0 the configuration is valid (and, with --backend aws, the account ready), 1 it has problems (each \
printed with file:line:column).";

/// Spawn hooks are checked with `bash -n`.
struct BashHookChecker;

impl HookChecker for BashHookChecker {
    fn check(&self, script: &str) -> std::result::Result<(), Vec<HookSyntaxError>> {
        bash_syntax_check(script)
    }
}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32> {
    let files = check_files(ctx)?;
    if ctx.backend != crate::backend::BackendKind::Aws {
        return Ok(files);
    }
    let account = ctx.runtime()?.block_on(super::doctor::run(ctx, super::doctor::Args::default()))?;
    Ok(files.max(account))
}

/// The configuration tree's problems, on standard error; the exit code.
fn check_files(ctx: &Ctx) -> Result<i32> {
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
