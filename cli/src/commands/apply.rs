//! `cellar apply`: apply a saved plan (without asking), or plan a command, show it, ask,
//! and apply it.

use super::{commands_help, load_plan, make_plan, CommandFlags, Ctx, Invocation};
use crate::backend::Backend;
use crate::output::{self, Prompter, TerminalPrompter};
use crate::progress::{Console, JsonEvents};
use crate::{EXIT_BLOCKED, EXIT_ERROR};
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::executor::{ApplyReport, Operator};
use cellar_engine::inventory;
use cellar_engine::model::Timestamp;
use cellar_engine::plan::{self, Plan};
use std::path::Path;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A saved plan file, or a command such as create-server@ommegang (every command is listed below).
    target: String,
    /// The command's positional arguments (when TARGET is a command).
    args: Vec<String>,
    #[command(flatten)]
    flags: CommandFlags,
    /// Do not ask before applying a command.
    #[arg(long)]
    yes: bool,
    /// The server's DNS record is (or will be) updated to a newly allocated Elastic IP: pass DNS gates.
    #[arg(long)]
    dns_confirmed: bool,
    /// At most this many actions at once.
    #[arg(long, default_value_t = 8)]
    parallelism: usize,
    /// Progress as text lines, or as one JSON object per event and line (docs/apply-events.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub fn after_help() -> String {
    format!(
        "{}\nDNS gate: a new Elastic IP's address is only known once it is allocated, and the server's DNS record \
must point at it before anything else is created. Apply stops there (exit 3) unless you confirm at the prompt \
or pass --dns-confirmed; the new address is kept, and the next apply reuses it.\n\n\
A saved plan is refused if it was edited (its first line is the sha256 of the rest), if a setting of its server \
changed in the configuration since it was made (each is named, old and new, with its file:line), or if the world \
moved past it. --format json prints one JSON object per event and line (docs/apply-events.md).\n\n\
Exit codes: 0 applied (or nothing to do), 1 error (refused, stale or failed; a failed server's changes are undone), \
3 stopped at a DNS gate.\n\nExamples:\n  cellar apply ommegang.plan.ron --dns-confirmed\n  \
cellar apply upgrade-ami@duvel --restart --yes",
        commands_help()
    )
}

/// The last JSON event: how the apply ended.
fn finished_event(
    ctx: &Ctx,
    report: &ApplyReport,
    started: Timestamp,
    now: Timestamp,
) -> Result<(), output::OutputError> {
    let fields = serde_json::json!({
        "succeeded": report.succeeded(),
        "blocked": report.blocked(),
        "summary": report.summary(),
        "at": now.0,
        "elapsed_s": now.0.saturating_sub(started.0),
    });
    ctx.out.line(&JsonEvents::object("finished", fields))
}

fn steps(n: usize) -> String {
    if n == 1 {
        "1 step".to_string()
    } else {
        format!("{n} steps")
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let looks_like_file = Path::new(&args.target).is_file() || args.target.ends_with(".ron");
    let target = args.target.clone();
    let backend = Backend::open(ctx).await?;
    let cloud = backend.cloud();
    let json = args.format == Format::Json;
    if json && !looks_like_file && !args.yes {
        bail!("`apply --format json` of a command cannot show the plan and ask\n  fix: pass --yes, or save the plan with `cellar plan ... -o FILE`, review it, and apply the file");
    }
    let plan = if looks_like_file {
        saved_plan(ctx, &*cloud, &args).await?
    } else {
        match planned_and_confirmed(ctx, &*cloud, args.target, args.args, args.flags, args.yes, json).await? {
            Some(plan) => plan,
            None => return Ok(0),
        }
    };
    if plan.is_empty() {
        return Ok(0);
    }
    let started = cloud.now().await;
    let operator: Arc<dyn Operator> = if json {
        JsonEvents::emit(&ctx.out, "apply", serde_json::json!({ "command": plan.command, "steps": plan.steps.len() }));
        Arc::new(JsonEvents::new(args.dns_confirmed, started, Box::new(TerminalPrompter), ctx.out.clone()))
    } else {
        ctx.out.line(&format!("\nApplying {}:", steps(plan.steps.len())))?;
        Arc::new(Console::new(args.dns_confirmed, started, Box::new(TerminalPrompter), ctx.out.clone()))
    };
    let policy = Policy { concurrency: args.parallelism.max(1), ..Policy::default() };
    let report = executor::apply(cloud.clone(), operator, &plan, policy).await;
    let ended = cloud.now().await;
    drop(cloud); // the simulator is saved only once nothing else holds it
    let printed = if json {
        finished_event(ctx, &report, started, ended)
    } else {
        let applied = if looks_like_file { output::Applied::SavedPlan(&target) } else { output::Applied::Command };
        ctx.out.print(&output::render_report(&plan, &report, applied))
    };
    // The report first: if saving the simulated world fails, what the apply did is still said.
    backend.finish().context(
        "the apply ran (its report is above), but the simulator's state could not be saved: its changes are lost",
    )?;
    if let Err(e) = printed {
        let summary = report.summary();
        return Err(anyhow!(e).context(format!("the apply ended ({summary}), but its report could not be printed")));
    }
    if ctx.out.is_closed() && !report.succeeded() {
        // Nobody reads the report any more: the outcome must not go unsaid.
        output::stderr(&format!("Apply did not complete: {}.\n", report.summary()));
    }
    let failed = report.count(|o| matches!(o, Outcome::Failed(_)));
    Ok(if report.succeeded() {
        0
    } else if report.blocked() && failed == 0 {
        EXIT_BLOCKED
    } else {
        EXIT_ERROR
    })
}

/// `cellar apply FILE`: the saved plan, if the world has not moved past it.
async fn saved_plan(ctx: &Ctx, cloud: &dyn Cloud, args: &Args) -> Result<Plan> {
    let target = &args.target;
    if !args.args.is_empty() || !args.flags.0 .0.is_empty() {
        let mut extra = args.args.clone();
        extra.extend(args.flags.0 .0.keys().map(|f| f.name().to_string()));
        bail!(
            "`cellar apply FILE` takes no further arguments (got {})\n  fix: the command and its flags are in the plan; make a new plan to change them",
            extra.join(" ")
        );
    }
    let plan = load_plan(Path::new(target))?;
    refuse_changed_settings(ctx, &plan, target)?;
    let now = inventory::read(cloud, &plan.scope).await.context("re-reading the resources the plan saw")?;
    let changes = plan::staleness(&plan, &now.observe(&plan.scope));
    if !changes.is_empty() {
        bail!(
            "the plan in {target} is stale: the world changed since it was made:\n  {}\n  fix: make a new plan (cellar plan {} -o {target}) and review it",
            changes.join("\n  "),
            plan.command
        );
    }
    if args.format == Format::Text {
        ctx.out.print(&ctx.render_plan(&plan))?;
    }
    Ok(plan)
}

/// Refuses a plan whose servers' effective settings changed since it was made, naming
/// each changed setting, its old and new value and where each came from.
fn refuse_changed_settings(ctx: &Ctx, plan: &Plan, target: &str) -> Result<()> {
    if plan.settings.is_empty() {
        return Ok(());
    }
    let tree = ctx.load_config()?;
    let mut changes = Vec::new();
    for (server, recorded) in &plan.settings {
        let config = tree.server(server).with_context(|| {
            format!("the plan in {target} was made for {server}, whose configuration cannot be read now")
        })?;
        let current = plan::settings_of(&config, tree.dir());
        changes.extend(plan::changed_settings(recorded, &current).into_iter().map(|c| format!("{server}: {c}")));
    }
    if !changes.is_empty() {
        bail!(
            "the plan in {target} was made from another configuration: these settings changed since (files in {}):\n  {}\n  fix: make a new plan (cellar plan {} -o {target}) and review it",
            tree.dir().display(),
            changes.join("\n  "),
            plan.command
        );
    }
    Ok(())
}

/// `cellar apply COMMAND`: plan it, show it, and ask (unless `--yes`). `None`: nothing to do.
async fn planned_and_confirmed(
    ctx: &Ctx,
    cloud: &dyn Cloud,
    target: String,
    args: Vec<String>,
    flags: CommandFlags,
    yes: bool,
    json: bool,
) -> Result<Option<Plan>> {
    let tree = ctx.load_config()?;
    let plan = make_plan(ctx, cloud, &tree, &Invocation { target, args, flags: flags.0 }).await?;
    if !json {
        ctx.out.print(&ctx.render_plan(&plan))?;
    }
    if plan.is_empty() {
        return Ok(None);
    }
    if yes {
        return Ok(Some(plan));
    }
    if ctx.out.is_closed() {
        bail!("refusing to apply: the plan could not be shown (standard output is closed), so it cannot be confirmed\n  fix: save the plan with `cellar plan ... -o FILE`, read it, and apply the file");
    }
    let n = plan.steps.len();
    let question = if n == 1 { "this step".to_string() } else { format!("these {n} steps") };
    match TerminalPrompter.ask(&format!("\nApply {question}? Only 'yes' is accepted: ")) {
        None => bail!("refusing to apply without confirmation: standard input is not a terminal\n  fix: pass --yes, or save the plan with `cellar plan ... -o FILE` and apply the file"),
        Some(answer) if answer.trim() == "yes" => Ok(Some(plan)),
        Some(_) => bail!("apply cancelled; nothing was changed"),
    }
}
