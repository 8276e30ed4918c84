//! `cellar doctor`: is the account ready for the configured servers? The engine's doctor
//! reads (`doctor::read`) and decides (`doctor::assess`); this prints its findings.

use super::Ctx;
use crate::backend::{Backend, BackendKind};
use crate::EXIT_ERROR;
use anyhow::Result;
use cellar_engine::doctor;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub const AFTER_HELP: &str = "Checks, for every configured server: the credentials (whose account: STS GetCallerIdentity), \
that the server's region and zone exist for the account, that an image of its AMI type and architecture exists there, \
that the reads cellar makes are allowed, and the permissions of the changing EC2 calls with DryRun (DryRunOperation: \
allowed; UnauthorizedOperation: the action is missing). Auto Scaling has no DryRun: its calls are listed, not checked. \
Every finding names the server, the setting and its file:line, and the fix. `cellar check` checks the files alone, \
without asking the cloud.\n\nExit codes: 0 no errors (warnings and notes allowed), 1 at least one error.\n\n\
Examples:\n  cellar --backend aws --profile hosting doctor\n  cellar doctor   (against the simulator: DryRun is not modelled there)";

pub async fn run(ctx: &Ctx, _args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let backend = Backend::open(ctx).await?;
    let reading = doctor::read(&*backend.cloud(), &tree).await;
    drop(backend); // read only: the simulator's state stays as it was
    let report = doctor::assess(&reading);
    let against = match ctx.backend {
        BackendKind::Sim => format!("the simulator ({})", ctx.sim_state.display()),
        BackendKind::Aws => match &ctx.profile {
            Some(profile) => format!("AWS (profile {profile})"),
            None => "AWS".to_string(),
        },
    };
    let mut text = format!("cellar doctor: {} against {against}\n\n", ctx.config.display());
    for finding in &report.findings {
        text.push_str(&format!("{finding}\n"));
    }
    let verdict = if report.has_errors() { "fix the errors above before the first apply" } else { "ready" };
    text.push_str(&format!("\n{}: {verdict}\n", report.summary()));
    ctx.out.print(&text)?;
    Ok(if report.has_errors() { EXIT_ERROR } else { 0 })
}
