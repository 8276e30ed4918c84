//! Server locks as `cellar apply` and `cellar unlock` use them (the lock object itself is
//! the engine's `lock` module, made atomic by the cloud).
//!
//! `apply` takes the lock of every server its plan touches, in the plan's region, before
//! it re-reads the world, and releases them when it ends (succeeded, failed, stopped at a
//! DNS gate, interrupted by one Ctrl-C). A process that dies without releasing (`kill -9`,
//! a second Ctrl-C, a lost machine) leaves its locks; `cellar unlock SERVER` removes one
//! after a person confirms, and an apply of the same plan, resuming its unfinished journal
//! on the same host whose previous process is gone, takes it over by itself.

use anyhow::{anyhow, bail, Result};
use cellar_engine::api::Api;
use cellar_engine::caller::{Caller, Policy};
use cellar_engine::cloud::{Cloud, CloudErrorKind};
use cellar_engine::lock::LockHolder;
use cellar_engine::model::{Region, ServerName, Timestamp};
use std::collections::BTreeSet;

/// This process as a lock holder: pid, host, user, command line, now; `plan` the digest of
/// the plan it applies.
pub fn this_process(plan: Option<String>) -> LockHolder {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut words = std::env::args();
    let program = words.next().map(|p| {
        let name = std::path::Path::new(&p).file_name().map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or(p)
    });
    let command: Vec<String> = program.into_iter().chain(words).collect();
    LockHolder {
        pid: Some(std::process::id()),
        host: host_name(),
        user: std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty()),
        command: Some(command.join(" ")),
        since: Some(Timestamp(since.as_secs()).rfc3339()),
        plan,
    }
}

/// The machine's host name (Linux's `/proc`, else `/etc/hostname`, else `HOSTNAME`).
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Whether a lock's holder can still be running, as far as this machine can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Same host, and no such process (or only its zombie): the lock is stale.
    Gone,
    /// Same host, and the process runs.
    Running,
    /// Why this machine cannot tell (another host, no pid, no `/proc`).
    CannotTell(String),
}

pub fn liveness(holder: &LockHolder) -> Liveness {
    let (Some(pid), Some(host)) = (holder.pid, holder.host.as_deref()) else {
        return Liveness::CannotTell("the lock does not name its process and host".into());
    };
    if host_name().as_deref() != Some(host) {
        return Liveness::CannotTell(format!(
            "it was taken on another host ({host}), whose processes cannot be seen from here"
        ));
    }
    if !std::path::Path::new("/proc/self").exists() {
        return Liveness::CannotTell("this system has no /proc to look for the process in".into());
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses; Z is a zombie, X dead.
        Ok(stat) => match stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) {
            Some("Z" | "X") => Liveness::Gone,
            _ => Liveness::Running,
        },
        Err(_) => Liveness::Gone,
    }
}

/// The locks an apply holds (release them with [`Held::release`]).
pub struct Held {
    region: Region,
    servers: Vec<ServerName>,
    holder: LockHolder,
}

/// What to do with a lock found taken: take it over (its holder is the caller's own dead
/// predecessor) or refuse.
pub type TakeOver<'a> = &'a dyn Fn(&LockHolder) -> bool;

/// Takes the lock of each of `servers` in `region`, in name order. A lock held by another
/// is refused (those already taken are released), unless `take_over` says the holder is
/// this apply's own dead predecessor. A create whose answer was lost and whose retry
/// found the name taken is recognised as this process's own.
pub async fn take(
    cloud: &dyn Cloud,
    region: &Region,
    servers: &BTreeSet<ServerName>,
    holder: &LockHolder,
    take_over: TakeOver<'_>,
) -> Result<Held> {
    let mut held = Held { region: region.clone(), servers: Vec::new(), holder: holder.clone() };
    for server in servers {
        match take_one(cloud, region, server, holder, take_over).await {
            Ok(()) => held.servers.push(server.clone()),
            Err(e) => {
                held.release(cloud).await;
                return Err(e);
            }
        }
    }
    Ok(held)
}

async fn take_one(
    cloud: &dyn Cloud,
    region: &Region,
    server: &ServerName,
    holder: &LockHolder,
    take_over: TakeOver<'_>,
) -> Result<()> {
    match try_take(cloud, region, server, holder).await? {
        None => Ok(()),
        Some(other) if take_over(&other) => {
            crate::output::stderr(&format!(
                "Taking over the lock of {server} left by {other} (the same plan's apply, its process gone).\n"
            ));
            replace(cloud, region, server, holder).await
        }
        Some(other) => bail!(refused_message(server, &other)),
    }
}

/// Takes the lock of each of `servers` in `region` that no other process holds (in name
/// order): the locks taken, and the servers whose lock another process holds, with that
/// holder. A lock this very process left (`cellar watch`'s earlier backup round, whose
/// release failed) is taken over. An error (the cloud could not be asked) releases the
/// locks taken so far.
pub async fn take_free(
    cloud: &dyn Cloud,
    region: &Region,
    servers: &BTreeSet<ServerName>,
    holder: &LockHolder,
) -> Result<(Held, Vec<(ServerName, LockHolder)>)> {
    let mut held = Held { region: region.clone(), servers: Vec::new(), holder: holder.clone() };
    let mut busy = Vec::new();
    let mine = |other: &LockHolder| other.pid.is_some() && other.pid == holder.pid && other.host == holder.host;
    for server in servers {
        let taken = match try_take(cloud, region, server, holder).await {
            Ok(Some(other)) if mine(&other) => replace(cloud, region, server, holder).await.map(|()| None),
            other => other,
        };
        match taken {
            Ok(None) => held.servers.push(server.clone()),
            Ok(Some(other)) => busy.push((server.clone(), other)),
            Err(e) => {
                held.release(cloud).await;
                return Err(e);
            }
        }
    }
    Ok((held, busy))
}

/// Takes the lock of `server`: `None` once taken, else who holds it.
async fn try_take(
    cloud: &dyn Cloud,
    region: &Region,
    server: &ServerName,
    holder: &LockHolder,
) -> Result<Option<LockHolder>> {
    let caller = Caller::new(&Policy::default());
    let create = || cloud.create_server_lock(region, server, holder);
    let e = match caller.call(cloud, Api::CreateLaunchTemplate, create).await {
        Ok(()) => return Ok(None),
        Err(e) if e.kind == CloudErrorKind::AlreadyExists => e,
        Err(e) => return Err(anyhow!(e).context(format!("taking the lock of server {server} in {region}"))),
    };
    let found = caller.call(cloud, Api::DescribeLaunchTemplates, || cloud.describe_server_lock(region, server)).await;
    let found = found.map_err(|d| anyhow!(d).context(format!("reading who holds the lock of server {server}")))?;
    let Some(other) = found else {
        // Released between our create and our look: try once more.
        let created = caller.call(cloud, Api::CreateLaunchTemplate, create).await;
        return created
            .map(|()| None)
            .map_err(|_| anyhow!(e).context(format!("taking the lock of server {server} in {region}")));
    };
    Ok((!other.same_as(holder)).then_some(other))
}

/// Deletes the lock of `server` (one to take over) and takes it.
async fn replace(cloud: &dyn Cloud, region: &Region, server: &ServerName, holder: &LockHolder) -> Result<()> {
    let caller = Caller::new(&Policy::default());
    let delete = || cloud.delete_server_lock(region, server);
    caller.call(cloud, Api::DeleteLaunchTemplate, delete).await.map_err(|d| anyhow!(d))?;
    let create = || cloud.create_server_lock(region, server, holder);
    caller.call(cloud, Api::CreateLaunchTemplate, create).await.map_err(|c| anyhow!(c))
}

/// The one-line refusal, and its fix.
pub fn refused_message(server: &ServerName, holder: &LockHolder) -> String {
    format!(
        "server {server} is locked by another apply: {holder}\n  fix: wait for that apply to end; if you are sure it is \
         stale (its process is gone), remove the lock with `cellar unlock {server}`"
    )
}

impl Held {
    /// The servers whose lock is held.
    pub fn servers(&self) -> &[ServerName] {
        &self.servers
    }

    /// Releases every lock still this process's own; a lock someone removed (`cellar
    /// unlock`) and another took meanwhile is left to them, with a warning. Failures are
    /// said on stderr: the apply's own outcome stands.
    pub async fn release(self, cloud: &dyn Cloud) {
        let caller = Caller::new(&Policy::default());
        let region = &self.region;
        for server in self.servers.iter().rev() {
            let found = caller.call(cloud, Api::DescribeLaunchTemplates, || cloud.describe_server_lock(region, server));
            let warning = match found.await {
                Ok(Some(holder)) if holder.same_as(&self.holder) => {
                    let delete = || cloud.delete_server_lock(region, server);
                    match caller.call(cloud, Api::DeleteLaunchTemplate, delete).await {
                        Ok(()) => None,
                        Err(e) if e.kind == CloudErrorKind::InvalidLaunchTemplateNotFound => None,
                        Err(e) => Some(format!("could not release the lock of {server}: {e}")),
                    }
                }
                Ok(Some(other)) => {
                    Some(format!("the lock of {server} is no longer this apply's (now {other}); left to it"))
                }
                Ok(None) => Some(format!("the lock of {server} was removed while this apply ran (cellar unlock?)")),
                Err(e) => Some(format!("could not read the lock of {server} to release it: {e}")),
            };
            if let Some(warning) = warning {
                crate::output::stderr(&format!(
                    "warning: {warning}\n  fix: if it is left, `cellar unlock {server}` removes it\n"
                ));
            }
        }
    }
}
