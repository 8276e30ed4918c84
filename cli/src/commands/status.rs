//! `cellar status`: the health of configured servers, and the workspaces that exist.

use super::status_table;
use super::Ctx;
use crate::backend::Backend;
use crate::output::paint;
use anyhow::{bail, Result};
use cellar_engine::api::Api;
use cellar_engine::caller::{Caller, Policy};
use cellar_engine::cloud::Cloud;
use cellar_engine::command;
use cellar_engine::config::ConfigTree;
use cellar_engine::inventory::workspace_number;
use cellar_engine::model::{Image, Region, ServerName, Timestamp};
use cellar_engine::plan::Drift;
use cellar_engine::planner;
use cellar_engine::selector::Selector;
use cellar_engine::status::{self, Health, ServerStatus, WorkspaceStatus};
use clap::ValueEnum;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which servers: one server or workspace, or a selector (`ommegang,duvel`, `web-*`,
    /// `all`, `platform=NAME`, `tag:KEY=VALUE`). Default: every configured server, and
    /// every workspace in their regions and the global one.
    server: Option<String>,
    /// How to print the status.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Leave out the comparison with the configuration (what `sync` would change: an
    /// outdated image, a changed hook or setting), which reads the images and network of
    /// each region too.
    #[arg(long)]
    no_drift: bool,
    /// Exit with 2 (after printing the status) when any server shown is at or past this
    /// health: `degraded` (degraded, incomplete or down) or `down`; for cron, CI and
    /// monitoring checks. Healthy, stopped and absent servers never fail it.
    #[arg(long, value_enum, value_name = "HEALTH")]
    fail_on: Option<FailOn>,
    /// `wide`: the table of several servers adds each server's data volumes and what its
    /// group launches from.
    #[arg(short = 'o', long = "output", value_enum, value_name = "LAYOUT")]
    output: Option<Layout>,
    /// Keep looking, every 2 seconds, and print a server's line again whenever its status
    /// changes (as `kubectl get -w`), until Ctrl-C. Always the table; not with --format json.
    #[arg(short = 'w', long, conflicts_with_all = ["format", "fail_on"])]
    watch: bool,
}

/// How often `status --watch` looks (real time: on the simulator, what other commands do
/// to the world, such as a paced `cellar watch` or apply).
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// More columns in the table (`-o wide`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// The data volumes and the launch settings version, too.
    Wide,
}

/// The version of `cellar status --format json`'s schema (docs/status-json.md): changed
/// when a field changes meaning or disappears, not when one is added.
const STATUS_JSON_VERSION: u32 = 1;

/// The health `--fail-on` fails at.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FailOn {
    /// Degraded, incomplete or down.
    Degraded,
    /// Down.
    Down,
}

impl FailOn {
    /// Whether a server of `health` fails the check.
    fn fails(self, health: Health) -> bool {
        let at = match self {
            FailOn::Degraded => Health::Degraded.severity(),
            FailOn::Down => Health::Down.severity(),
        };
        health.severity() >= at
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A block per server and workspace, for people.
    Text,
    /// `{"servers": [...], "workspaces": [...]}`, for scripts.
    Json,
}

pub const AFTER_HELP: &str = "Several servers (no argument, or a selector) print a table, a line each: name, health, \
since when (a running server: its instance's launch; a down or stopped one: its group's last scaling activity), instance, type, image name and age (\"outdated\" when a newer image of its \
type exists), zone, address, group (desired), config (matches, differs, or - when not compared) and the reason; \
-o wide adds the data volumes and what the group launches from. One server prints its details, with its \
group's last scaling activity.\n\n\
Health: healthy (instance running, data volume attached, Elastic IP associated), \
degraded (up, but something is missing or it is still booting), down (it should run but has no instance; \
the reason says why, e.g. failed to respawn: InsufficientInstanceCapacity), stopped (not running on purpose: \
auto scaling stopped, data volume and Elastic IP kept), absent (configured, nothing exists), incomplete \
(not running, and its data volume or Elastic IP is missing: half created or half destroyed; the reason \
names what).\n\n\
Exit codes: 0, or 2 with --fail-on when a server shown is at or past that health (degraded: degraded, \
incomplete or down; down: down); 1 on error.\n\n\
Config: `matches`, or `differs:` and the settings `sync@NAME --restart` would change (an image older than \
the newest of the server's type, a changed spawn hook, instance type, tag or launch setting); --no-drift \
leaves the comparison out.\n\n\
JSON (--format json; docs/status-json.md): {\"version\": 1, \"servers\": [{\"name\", \"region\", \"health\", \"reason\", \"instance\", \"volume\", \
\"address\", \"auto_scaling\", \"drift\": [{\"setting\", \"launched\", \"configured\", \"source\"}, ...]}, ...], \"workspaces\": [{\"name\", \"region\", \"instance\"}, ...]}\n\n\
Examples:\n  cellar status\n  cellar status 'web-*'\n  cellar status --fail-on down --no-drift > /dev/null || alert\n  cellar status platform=debian-web\n  cellar status ommegang --format json | jq -r '.servers[0].health'";

/// The JSON of `cellar status --format json` (docs/status-json.md).
#[derive(Serialize)]
struct Report {
    /// [`STATUS_JSON_VERSION`].
    version: u32,
    servers: Vec<ServerReport>,
    workspaces: Vec<WorkspaceStatus>,
}

/// A server's status and how it differs from its configuration.
#[derive(Serialize)]
struct ServerReport {
    #[serde(flatten)]
    status: ServerStatus,
    /// What `sync@NAME --restart` would change (the same [`Drift`] records a sync plan
    /// carries); absent with `--no-drift`, and for a server sync refuses (not created).
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<Vec<Drift>>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let mut tree = ctx.load_config()?;
    let selector = args.server.as_deref().map(Selector::parse).transpose()?;
    if args.watch {
        return watch(ctx, &args, &mut tree, selector).await;
    }
    // One server's details, or a table of many.
    let table = !matches!(selector, Some(Selector::One(_))) && args.format == Format::Text;
    let (report, images) = look(ctx, &args, &mut tree, selector, table).await?;
    let failing = args.fail_on.map(|level| report.servers.iter().filter(|s| level.fails(s.status.health)).count());
    let text = match (args.format, images) {
        (Format::Json, _) => serde_json::to_string_pretty(&report)? + "\n",
        (Format::Text, Some((images, now))) => {
            render_table(&report, &tree, (&images, now), args.output == Some(Layout::Wide), ctx.color)
        }
        (Format::Text, None) => render_text(&report, &tree, ctx.color),
    };
    ctx.out.print(&text)?;
    Ok(match failing {
        Some(1..) => crate::EXIT_UNHEALTHY,
        _ => 0,
    })
}

/// The images of the servers' regions and the backend's time, for the table.
type TableInputs = (Vec<Image>, Timestamp);

/// One look: the report, and what the table needs when `table`. The state file is locked
/// (shared) for the look only.
async fn look(
    ctx: &Ctx,
    args: &Args,
    tree: &mut ConfigTree,
    selector: Option<Selector>,
    table: bool,
) -> Result<(Report, Option<TableInputs>)> {
    let backend = Backend::open_read_only(ctx).await?;
    let cloud = backend.cloud();
    let (servers, workspaces) = match selector {
        None => everything(&*cloud, tree).await?,
        Some(Selector::One(name)) => one(&*cloud, tree, name).await?,
        Some(selector) => selected(&*cloud, tree, &selector).await?,
    };
    let mut drift = match args.no_drift {
        true => BTreeMap::new(),
        false => drift_of(&*cloud, tree, &servers).await?,
    };
    let servers =
        servers.into_iter().map(|status| ServerReport { drift: drift.remove(&status.name), status }).collect();
    let report = Report { version: STATUS_JSON_VERSION, servers, workspaces };
    let images = match table {
        true => Some((images_of(&*cloud, &report.servers).await?, cloud.now().await)),
        false => None,
    };
    Ok((report, images))
}

/// `status --watch`: the table, then each server's line again whenever its status or
/// drift changed, every [`WATCH_EVERY`], until interrupted.
async fn watch(ctx: &Ctx, args: &Args, tree: &mut ConfigTree, selector: Option<Selector>) -> Result<i32> {
    let wide = args.output == Some(Layout::Wide);
    let mut shown: BTreeMap<ServerName, String> = BTreeMap::new();
    let mut first = true;
    loop {
        let (report, images) = look(ctx, args, tree, selector.clone(), true).await?;
        let (images, now) = images.unwrap_or_default();
        let rendered = render_table(&report, tree, (&images, now), wide, ctx.color);
        // The rows follow the header line, in the report's order.
        let mut changed = Vec::new();
        for (server, line) in report.servers.iter().zip(rendered.lines().skip(1)) {
            let key = serde_json::to_string(server)?;
            if shown.insert(server.status.name.clone(), key.clone()).as_ref() != Some(&key) {
                changed.push(line);
            }
        }
        if first {
            ctx.out.print(&rendered)?;
            first = false;
        } else if !changed.is_empty() {
            ctx.out.print(&(changed.join("\n") + "\n"))?;
        }
        if ctx.out.is_closed() {
            return Ok(0);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The servers' and the workspaces' status.
type Found = (Vec<ServerStatus>, Vec<WorkspaceStatus>);

/// How many servers [`drift_of`] plans at once: the inventories and plans of a batch are
/// dropped before the next is read (all at once they would be a copy of the world); five
/// pages of names a batch, so the describes still grow with the pages.
const DRIFT_BATCH: usize = 5 * cellar_engine::cloud::MAX_FILTER_VALUES;

/// How each configured server differs from its configuration: what `sync@NAME --restart`
/// finds, with batched reads (as a fleet plan reads, [`DRIFT_BATCH`] servers at a time).
/// A server sync refuses (nothing created) has no entry.
async fn drift_of(
    cloud: &dyn Cloud,
    tree: &mut ConfigTree,
    servers: &[ServerStatus],
) -> Result<BTreeMap<ServerName, Vec<Drift>>> {
    let configured: BTreeSet<ServerName> = tree.server_names().into_iter().collect();
    let wanted: Vec<&ServerStatus> = servers.iter().filter(|s| configured.contains(&s.name)).collect();
    let mut out = BTreeMap::new();
    for batch in wanted.chunks(DRIFT_BATCH) {
        let mut commands = Vec::with_capacity(batch.len());
        for server in batch {
            let words = [format!("sync@{}", server.name), "--restart".to_string()];
            commands.push((server.name.clone(), command::parse_words(planner::COMMANDS, &words)?));
        }
        let names: Vec<ServerName> = commands.iter().map(|(name, _)| name.clone()).collect();
        super::fleet::plan_each(cloud, tree, commands, |server, planned| {
            if let Ok(plan) = planned {
                out.insert(server, plan.drift);
            }
        })
        .await?;
        // The batch's configurations, settings and tags are not needed again.
        tree.forget(&names);
    }
    Ok(out)
}

/// Every configured server, and the workspaces of their regions and the global region.
async fn everything(cloud: &dyn Cloud, tree: &mut ConfigTree) -> Result<Found> {
    let mut regions = BTreeSet::from([tree.defaults()?.region.value]);
    let mut asked = Vec::new();
    for name in tree.server_names() {
        let region = tree.server(&name)?.region.value;
        // Worked out again, a batch at a time, for the drift.
        tree.forget(std::slice::from_ref(&name));
        regions.insert(region.clone());
        asked.push((name, region));
    }
    let servers = status::read_many(cloud, &asked).await?;
    Ok((servers, workspaces(cloud, &regions).await?))
}

/// The servers a selector of several selects (no workspaces: they are not configured).
async fn selected(cloud: &dyn Cloud, tree: &ConfigTree, selector: &Selector) -> Result<Found> {
    let mut asked = Vec::new();
    for name in selector.select(tree)? {
        let region = tree.server(&name)?.region.value;
        asked.push((name, region));
    }
    Ok((status::read_many(cloud, &asked).await?, vec![]))
}

/// One server, or one workspace (`workspace-N`, which has no configuration of its own).
async fn one(cloud: &dyn Cloud, tree: &ConfigTree, name: ServerName) -> Result<Found> {
    let configured = tree.has_server(&name);
    if configured || workspace_number(name.as_str()).is_none() {
        let region = tree.server(&name)?.region.value;
        let server = status::read(cloud, &name, &region).await?;
        return Ok((vec![server], vec![]));
    }
    let regions: BTreeSet<Region> = std::iter::once(Ok(tree.defaults()?.region.value))
        .chain(tree.server_names().iter().map(|n| tree.server(n).map(|c| c.region.value)))
        .collect::<Result<_, _>>()?;
    let found: Vec<_> = workspaces(cloud, &regions).await?.into_iter().filter(|w| w.name == name).collect();
    if found.is_empty() {
        let regions: Vec<&str> = regions.iter().map(Region::as_str).collect();
        bail!(
            "workspace {name} has no live instance in {}\n  fix: `cellar status` lists the servers and workspaces; create-workspace makes one",
            regions.join(", ")
        );
    }
    Ok((vec![], found))
}

async fn workspaces(cloud: &dyn Cloud, regions: &BTreeSet<Region>) -> Result<Vec<WorkspaceStatus>> {
    let mut all = Vec::new();
    for region in regions {
        all.extend(status::workspaces(cloud, region).await?);
    }
    Ok(all)
}

/// The images of the servers' regions (one DescribeImages a region), for the table's image
/// names and ages.
async fn images_of(cloud: &dyn Cloud, servers: &[ServerReport]) -> Result<Vec<Image>> {
    let regions: BTreeSet<&Region> = servers.iter().map(|s| &s.status.region).collect();
    let caller = Caller::new(&Policy::for_reads());
    let mut images = Vec::new();
    for region in regions {
        images.extend(caller.call(cloud, Api::DescribeImages, || cloud.describe_images(region)).await?);
    }
    Ok(images)
}

/// The table of several servers (`status_table`), then the workspaces.
fn render_table(
    report: &Report,
    tree: &ConfigTree,
    (images, now): (&[Image], Timestamp),
    wide: bool,
    color: bool,
) -> String {
    let rows: Vec<status_table::Row<'_>> = report.servers.iter().map(|s| (&s.status, s.drift.as_deref())).collect();
    let mut out = String::new();
    if !rows.is_empty() {
        let paint = |s: &ServerStatus| paint(s.health.as_str(), health_colour(s.health), color);
        out.push_str(&status_table::render(&rows, images, now, wide, paint));
    }
    let workspaces = status::render_workspaces_text(&report.workspaces);
    if !workspaces.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&workspaces);
    }
    if out.is_empty() {
        out = format!("No servers are configured in {} and no workspace exists.\n", tree.dir().display());
    }
    out
}

/// The engine's text, with each server's health coloured on a colour terminal.
fn render_text(report: &Report, tree: &ConfigTree, color: bool) -> String {
    let mut out = String::new();
    for server in &report.servers {
        let text = status::render_text(std::slice::from_ref(&server.status));
        out.push_str(&if color { colour_health(&text, &server.status) } else { text });
        match server.drift.as_deref() {
            Some([]) => out.push_str("  config    matches\n"),
            Some(drift) => {
                // Each setting once (a tag differs on every resource: `tags.team on volume …`).
                let mut settings: Vec<&str> = Vec::new();
                for setting in drift.iter().map(|d| d.setting.split(' ').next().unwrap_or("")) {
                    if !settings.contains(&setting) {
                        settings.push(setting);
                    }
                }
                let name = &server.status.name;
                out.push_str(&format!(
                    "  config    differs: {} (cellar plan sync@{name} --restart)\n",
                    settings.join(", ")
                ));
            }
            None => {}
        }
    }
    out.push_str(&status::render_workspaces_text(&report.workspaces));
    if out.is_empty() {
        out = format!("No servers are configured in {} and no workspace exists.\n", tree.dir().display());
    }
    out
}

/// Colours the health word of a server's first line (`ommegang     healthy   us-east-1`).
fn colour_health(text: &str, server: &ServerStatus) -> String {
    let code = health_colour(server.health);
    let prefix = format!("{:<12} ", server.name.as_str());
    let health = server.health.as_str();
    match text.strip_prefix(&prefix).and_then(|rest| rest.strip_prefix(health)) {
        Some(rest) => format!("{prefix}{}{rest}", paint(health, code, true)),
        None => text.to_string(),
    }
}

/// The terminal colour of a health word.
fn health_colour(health: Health) -> &'static str {
    match health {
        Health::Healthy => "32",
        Health::Degraded => "33",
        Health::Down => "31",
        Health::Stopped | Health::Absent => "2",
        Health::Incomplete => "35",
    }
}
