//! `cellar unlock SERVER`: removes a server lock an apply left behind (killed with
//! `kill -9`, a second Ctrl-C, a lost machine), after showing who held it and asking.

use super::Ctx;
use crate::backend::Backend;
use crate::locks::{self, Liveness};
use crate::output::{Prompter, TerminalPrompter};
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::api::Api;
use cellar_engine::caller::{Caller, Policy};
use cellar_engine::cloud::CloudErrorKind;
use cellar_engine::model::{Region, ServerName};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server (or workspace) whose lock to remove.
    server: String,
    /// The region of the lock (default: the server's configured region; for a workspace or
    /// an unconfigured name, the global region).
    #[arg(long)]
    region: Option<String>,
    /// Do not ask before removing the lock.
    #[arg(long)]
    yes: bool,
}

pub const AFTER_HELP: &str = "`cellar apply` locks every server its plan touches while it runs, so that two \
operators never apply to one server at once: a second apply is refused, naming the holder (pid, host, user, \
its command) and since when. The lock is released when the apply ends, also at a DNS gate (exit 3) and after \
one Ctrl-C (exit 130). A process killed outright (kill -9, a second Ctrl-C, a lost machine) leaves it.\n\n\
unlock shows the holder and whether it looks stale: on the same host, a holder whose process is gone is \
stale; on another host this machine cannot tell, and says so. It asks before removing the lock (only 'yes' is \
accepted; --yes skips the question; with no terminal and no --yes it refuses). Remove a lock only when you are \
sure its apply is not running: the next apply of the same plan resumes from its journal.\n\n\
An apply of the same plan, resuming its unfinished journal on the same host after its process was killed, \
takes that process's lock over by itself (the note says so); any other apply is refused.\n\n\
On AWS the lock is a launch template named cellar-lock.<server> (names are unique per region, so taking it is \
atomic), tagged with the holder; on the simulator, its model. Exit codes: 0 removed (or no lock), 1 refused or error.\n\n\
Examples:\n  cellar unlock ommegang\n  cellar unlock ommegang --yes";

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let server = ServerName::parse(&args.server)?;
    let region = match args.region.as_deref() {
        Some(region) => Region::new(region),
        None => region_of(ctx, &server)?,
    };
    let backend = Backend::open(ctx).await?;
    let cloud = backend.cloud();
    let caller = Caller::new(&Policy::default());
    let found = caller.call(&*cloud, Api::DescribeLaunchTemplates, || cloud.describe_server_lock(&region, &server));
    let Some(holder) = found.await.with_context(|| format!("reading the lock of {server} in {region}"))? else {
        ctx.out.line(&format!("{server} is not locked in {region}: nothing to do."))?;
        return Ok(0);
    };
    ctx.out.line(&format!("{server} is locked in {region} by {holder}."))?;
    let verdict = match locks::liveness(&holder) {
        Liveness::Gone => "It looks stale: its process is no longer running on this host.".to_string(),
        Liveness::Running => "Its process is still running on this host: the apply may be in progress; \
                              removing its lock lets another apply in beside it."
            .to_string(),
        Liveness::CannotTell(why) => format!("Whether it is stale cannot be told: {why}."),
    };
    ctx.out.line(&verdict)?;
    if !args.yes {
        match TerminalPrompter.ask(&format!("Remove the lock of {server}? Only 'yes' is accepted: ")) {
            None => bail!(
                "refusing to remove the lock of {server} without confirmation: standard input is not a terminal\n  \
                 fix: check that the apply holding it is not running, then pass --yes"
            ),
            Some(answer) if answer.trim() == "yes" => {}
            Some(_) => bail!("unlock cancelled; the lock of {server} is kept"),
        }
    }
    let removed = caller.call(&*cloud, Api::DeleteLaunchTemplate, || cloud.delete_server_lock(&region, &server)).await;
    match removed {
        Ok(()) => {}
        Err(e) if e.kind == CloudErrorKind::InvalidLaunchTemplateNotFound => {}
        Err(e) => return Err(anyhow!(e).context(format!("removing the lock of {server} in {region}"))),
    }
    drop(cloud);
    backend.finish().context("the lock was removed, but the simulator's state could not be saved")?;
    ctx.out.line(&format!("Removed the lock of {server}."))?;
    Ok(0)
}

/// The server's configured region; for a workspace or an unconfigured name, the global one.
fn region_of(ctx: &Ctx, server: &ServerName) -> Result<Region> {
    let tree = ctx.load_config()?;
    if tree.has_server(server) {
        return Ok(tree.server(server)?.region.value);
    }
    Ok(tree.defaults()?.region.value)
}
