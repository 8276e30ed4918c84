//! `cellar backups SERVER`: the server's backups (snapshots cellar tagged as backups), newest
//! first, with what its retention does with each.

use super::status_table::age;
use super::Ctx;
use crate::backend::Backend;
use anyhow::Result;
use cellar_engine::api::Api;
use cellar_engine::backup::{retention, BackupSnapshot, Verdict};
use cellar_engine::caller::{Caller, Policy};
use cellar_engine::cloud::Filter;
use cellar_engine::model::{ServerName, Timestamp};
use clap::ValueEnum;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server (its configuration names its region and its `backups` policy).
    server: String,
    /// A table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub const AFTER_HELP: &str = "Lists the snapshots cellar tagged as backups of the server (`backup@NAME`, and the \
daily ones), newest first: when it was taken, its kind (scheduled or manual), the volume (and device), size, state, \
age, and what the server's `backups` retention does with it (keep, for which rule and until when; or delete, \
and why). Snapshots cellar did not tag are never listed, nor ever deleted.\n\n\
JSON (--format json): {\"server\", \"region\", \"policy\" (null with backups: Off), \"backups\": [{\"snapshot\", \
\"volume\", \"device\", \"kind\", \"taken_at\", \"state\", \"size_gb\", \"retention\": {\"keep\": {\"reasons\", \
\"expires\"}} or {\"delete\": reason}}]}\n\n\
Examples:\n  cellar backups ommegang\n  cellar backups ommegang --format json | jq '.backups[0]'";

/// The JSON of `cellar backups --format json`.
#[derive(Serialize)]
struct Report {
    server: ServerName,
    region: cellar_engine::model::Region,
    policy: Option<PolicyJson>,
    backups: Vec<Listed>,
}

/// The server's `backups`, as the configuration writes it.
#[derive(Serialize)]
struct PolicyJson {
    daily_at: String,
    keep_daily: u32,
    keep_weekly: u32,
    keep_monthly: u32,
    copy_to: Vec<cellar_engine::model::Region>,
}

#[derive(Serialize)]
struct Listed {
    snapshot: String,
    volume: String,
    device: Option<String>,
    kind: String,
    taken_at: String,
    state: String,
    size_gb: u32,
    /// What retention does with it; `null` with backups off (nothing is ever pruned).
    retention: Option<Verdict>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let name = ServerName::parse(&args.server)?;
    let config = tree.server(&name)?;
    let region = config.region.value.clone();
    let policy = config.backups.value.clone();
    let backend = Backend::open_read_only(ctx).await?;
    let cloud = backend.cloud();
    let caller = Caller::new(&Policy::for_reads());
    let filter = Filter::Server(name.clone());
    let snapshots = caller.call(&*cloud, Api::DescribeSnapshots, || cloud.describe_snapshots(&region, &filter)).await?;
    let now = cloud.now().await;
    drop(cloud);
    drop(backend);
    let mut backups: Vec<BackupSnapshot> = snapshots.iter().filter_map(BackupSnapshot::from_snapshot).collect();
    backups.sort_by(|a, b| (b.taken_at(), b.id()).cmp(&(a.taken_at(), a.id())));
    let verdicts = policy.as_ref().map(|p| retention(p, &backups, now, true, false));
    let listed: Vec<Listed> = backups
        .iter()
        .map(|b| Listed {
            snapshot: b.id().to_string(),
            volume: b.volume_id().to_string(),
            device: b.volume().device.clone(),
            kind: b.kind().to_string(),
            taken_at: b.taken_at().rfc3339(),
            state: b.state().as_str().to_string(),
            size_gb: b.size_gb(),
            retention: verdicts
                .as_ref()
                .and_then(|r| r.decisions.iter().find(|d| &d.id == b.id()).map(|d| d.verdict.clone())),
        })
        .collect();
    let policy = policy.map(|p| PolicyJson {
        daily_at: p.daily_at_text(),
        keep_daily: p.keep_daily,
        keep_weekly: p.keep_weekly,
        keep_monthly: p.keep_monthly,
        copy_to: p.copy_to,
    });
    let report = Report { server: name, region, policy, backups: listed };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Text => render(&report, now),
    };
    ctx.out.print(&text)?;
    Ok(0)
}

/// A line per backup, under a header.
fn render(report: &Report, now: Timestamp) -> String {
    if report.backups.is_empty() {
        let off = if report.policy.is_none() { " (its backups are Off)" } else { "" };
        return format!(
            "{} has no backups in {}{off}\n  take one with `cellar apply backup@{} --yes`\n",
            report.server, report.region, report.server
        );
    }
    let mut rows =
        vec![["TAKEN", "AGE", "KIND", "SNAPSHOT", "VOLUME", "SIZE", "STATE", "RETENTION"].map(String::from).to_vec()];
    for b in &report.backups {
        let taken = humantime::parse_rfc3339(&b.taken_at)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| age(now, Timestamp(d.as_secs())))
            .unwrap_or_else(|| "-".into());
        let volume = match &b.device {
            Some(d) => format!("{} ({d})", b.volume),
            None => b.volume.clone(),
        };
        let retention = match &b.retention {
            Some(v) => v.to_string(),
            None => "kept (backups Off: never pruned)".to_string(),
        };
        rows.push(vec![
            b.taken_at.clone(),
            taken,
            b.kind.clone(),
            b.snapshot.clone(),
            volume,
            format!("{} GiB", b.size_gb),
            b.state.clone(),
            retention,
        ]);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| if c + 1 == row.len() { cell.clone() } else { format!("{cell:<w$}", w = widths[c]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
