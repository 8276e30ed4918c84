//! `cellar apply`: apply a saved plan (without asking), or plan a command, show it, ask,
//! and apply it.

use super::{commands_help, load_plan, make_plan, CommandFlags, Ctx, Invocation};
use crate::backend::{Backend, Checkpoint};
use crate::journal::{self, FileJournal, JournalFile};
use crate::locks::{self, Held, Liveness};
use crate::output::{self, Prompter, TerminalPrompter};
use crate::progress::{Console, JsonEvents};
use crate::{EXIT_BLOCKED, EXIT_ERROR};
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::cloud::Cloud;
use cellar_engine::executor::journal::{resumed_staleness, Ending, Journal, Record, Resume};
use cellar_engine::executor::walk::Cancel;
use cellar_engine::executor::{self, ApplyReport, Journaled, Operator, Outcome, Policy};
use cellar_engine::inventory;
use cellar_engine::lock::LockHolder;
use cellar_engine::model::{ServerName, Timestamp};
use cellar_engine::plan::{self, Plan};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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
    /// At a DNS gate, wait up to this long (e.g. 10m) for the record to point at the new
    /// address, looking it up every 5 s, before asking.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    wait_dns: Option<std::time::Duration>,
    /// At most this many actions at once.
    #[arg(long, default_value_t = 8)]
    parallelism: usize,
    /// Progress as text lines, or as one JSON object per event and line (docs/apply-events.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    fleet: super::FleetArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub fn after_help() -> String {
    format!(
        "{}\nDNS gate: a new Elastic IP's address is only known once it is allocated, and the server's DNS record \
must point at it before anything else is created. Apply stops there (exit 3) unless the record points \
at the address (--wait-dns waits for it), you confirm at the prompt, or you pass --dns-confirmed; the new address is kept. \
Update the record and apply the same plan again: it goes on from its journal (PLAN.journal.ron).\n\n\
A saved plan is refused if it was edited (its first line is the sha256 of the rest), if a setting of its server \
changed in the configuration since it was made (each is named, old and new, with its file:line), or if the world \
moved past it. --format json prints one JSON object per event and line (docs/apply-events.md).\n\n\
Exit codes: 0 applied (or nothing to do), 1 error (refused, stale or failed; a failed server's changes are undone), \
3 stopped at a DNS gate, \
130 interrupted (Ctrl-C: the steps running then finish; apply the plan again to go on).\n\nExamples:\n  cellar apply ommegang.plan.ron --dns-confirmed\n  \
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

/// An empty plan: nothing to apply (exit 0); in JSON, its `apply` and `finished` events,
/// so a script reading the events always gets both.
fn no_changes(ctx: &Ctx, json: bool, command: String) -> Result<i32> {
    if json {
        let apply = serde_json::json!({ "command": command, "steps": 0, "resumed_done": 0 });
        JsonEvents::emit(&ctx.out, "apply", apply);
        let finished = serde_json::json!({ "succeeded": true, "blocked": false, "summary": "no changes" });
        ctx.out.line(&JsonEvents::object("finished", finished))?;
    }
    Ok(0)
}

fn steps(n: usize) -> String {
    if n == 1 {
        "1 step".to_string()
    } else {
        format!("{n} steps")
    }
}

/// 128 + SIGINT: the apply was interrupted (Ctrl-C) and can be resumed.
pub const EXIT_INTERRUPTED: i32 = 130;

/// A plan to apply, where its journal goes, and what an earlier apply of it did.
struct Target {
    plan: Plan,
    /// The plan file (`cellar apply PLAN` resumes it).
    file: PathBuf,
    journal: JournalFile,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let looks_like_file = Path::new(&args.target).is_file() || args.target.ends_with(".ron");
    let backend = Backend::open(ctx).await?;
    let cloud = backend.cloud();
    let json = args.format == Format::Json;
    if json && !looks_like_file && !args.yes {
        bail!("`apply --format json` of a command cannot show the plan and ask\n  fix: pass --yes, or save the plan with `cellar plan ... -o FILE`, review it, and apply the file");
    }
    let target = if looks_like_file {
        saved_plan(ctx, &args)?
    } else {
        let plan = planned_and_confirmed(ctx, &*cloud, &invocation(&args), (args.yes, json)).await?;
        if plan.is_empty() {
            return no_changes(ctx, json, plan.command);
        }
        command_target(ctx, plan)
    };
    if target.plan.is_empty() {
        return no_changes(ctx, json, target.plan.command);
    }
    let saved = looks_like_file.then_some(args.target.as_str());
    let held = lock_and_recheck(ctx, &*cloud, &target, (saved, json)).await?;
    let Target { plan, file, journal } = target;
    let resume = Resume::from_records(&journal.records);
    let started = cloud.now().await;
    let cancel = Cancel::default();
    // From here on a refusal is no longer possible: every change is saved as it is made.
    let ready = backend
        .checkpoint()
        .save_every_change()
        .and_then(|()| announce(ctx, json, &plan, &resume, &file))
        .and_then(|()| watch_interrupts(cancel.clone(), ctx.out.clone(), file.clone(), json));
    if let Err(e) = ready {
        held.release(&*cloud).await;
        return Err(e);
    }
    let prompter = Box::new(ReleasingPrompter(backend.checkpoint()));
    let (inner, say): (Box<dyn Operator>, Option<Console>) = if json {
        (Box::new(JsonEvents::new(args.dns_confirmed, started, prompter, ctx.out.clone())), None)
    } else {
        let console = Console::new(args.dns_confirmed, started, prompter, ctx.out.clone());
        let say = Console::new(args.dns_confirmed, started, Box::new(TerminalPrompter), ctx.out.clone());
        (Box::new(console), Some(say))
    };
    let operator = Gate { inner, say, wait: args.wait_dns, checkpoint: backend.checkpoint(), said: Default::default() };
    let policy = Policy { concurrency: args.parallelism.max(1), ..Policy::default() };
    let sink = Arc::new(FileJournal::new(journal::path_for(&file), journal, backend.checkpoint()));
    let journaled = Journaled { journal: sink.clone(), resume };
    let report = executor::apply_journaled(cloud.clone(), Arc::new(operator), &plan, policy, &cancel, journaled).await;
    held.release(&*cloud).await;
    let ended = cloud.now().await;
    drop(cloud); // the simulator is saved only once nothing else holds it
    let ending = ending(&report);
    let ended_record = Record::Ended { how: ending, summary: report.summary() };
    let recorded = sink.record(&ended_record).map_err(|e| anyhow!(e));
    let printed = if json {
        finished_event(ctx, &report, started, ended)
    } else {
        let applied = if looks_like_file { output::Applied::SavedPlan(&args.target) } else { output::Applied::Command };
        ctx.out.print(&output::render_report(&plan, &report, applied))
    };
    // The report first: if saving the simulated world fails, what the apply did is still said.
    backend.finish().context(
        "the apply ran (its report is above), but the simulator's state could not be saved: its changes are lost",
    )?;
    recorded.with_context(|| {
        format!("the apply ran (its report is above), but its end could not be journaled in {}", sink.path().display())
    })?;
    if let Err(e) = printed {
        let summary = report.summary();
        return Err(anyhow!(e).context(format!("the apply ended ({summary}), but its report could not be printed")));
    }
    if ctx.out.is_closed() && !report.succeeded() {
        // Nobody reads the report any more: the outcome must not go unsaid.
        output::stderr(&format!("Apply did not complete: {}.\n", report.summary()));
    }
    Ok(match ending {
        Ending::Succeeded => 0,
        Ending::Blocked => EXIT_BLOCKED,
        Ending::Cancelled => {
            output::stderr(&format!(
                "Interrupted: steps running then finished and are journaled; resume with `cellar apply {}`\n",
                file.display()
            ));
            EXIT_INTERRUPTED
        }
        Ending::Failed => EXIT_ERROR,
    })
}

/// The line (or JSON event) that starts an apply or its resumption.
fn announce(ctx: &Ctx, json: bool, plan: &Plan, resume: &Resume, file: &Path) -> Result<()> {
    if json {
        let resumed = resume.done.len();
        JsonEvents::emit(
            &ctx.out,
            "apply",
            serde_json::json!({ "command": plan.command, "steps": plan.steps.len(), "resumed_done": resumed }),
        );
    } else if resume.is_empty() {
        ctx.out.line(&format!("\nApplying {}:", steps(plan.steps.len())))?;
    } else {
        ctx.out.line(&format!(
            "\nResuming the apply journaled in {} ({} of {} done):",
            journal::path_for(file).display(),
            resume.done.len(),
            steps(plan.steps.len())
        ))?;
    }
    Ok(())
}

/// Asks at the terminal with the simulator's state saved and unlocked meanwhile, so the
/// person can run `cellar sim dns` (or `status`) while the apply waits for them.
struct ReleasingPrompter(Checkpoint);

impl Prompter for ReleasingPrompter {
    fn ask(&self, question: &str) -> Option<String> {
        match self.0.released(|| TerminalPrompter.ask(question)) {
            Ok(answer) => answer,
            Err(e) => {
                output::stderr(&format!("error: {e:#}\n"));
                None
            }
        }
    }
}

/// The console (or the JSON events), and `--wait-dns`: between two lookups the
/// simulator's state is unlocked (so `cellar sim dns` can change the record) and read again.
struct Gate {
    inner: Box<dyn Operator>,
    /// Where the wait is said, in text mode (JSON events carry no free text).
    say: Option<Console>,
    wait: Option<std::time::Duration>,
    checkpoint: Checkpoint,
    said: std::sync::atomic::AtomicBool,
}

impl Operator for Gate {
    fn confirm_dns(&self, host: &str, ip: &str) -> bool {
        self.inner.confirm_dns(host, ip)
    }
    fn event(&self, event: &executor::Event) {
        self.inner.event(event)
    }
    fn dns_wait(&self) -> Option<std::time::Duration> {
        self.wait
    }
    fn dns_pause(&self, host: &str, ip: &str, interval: std::time::Duration) {
        if !self.said.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let limit = humantime::format_duration(self.wait.unwrap_or_default());
            if let Some(console) = &self.say {
                console.say(&format!("        DNS gate: waiting up to {limit} for {host} to point at {ip}"));
            }
        }
        if let Err(e) = self.checkpoint.released(|| std::thread::sleep(interval)) {
            output::stderr(&format!("error: {e:#}\n"));
        }
    }
}

/// How the apply ended, for its journal and exit code.
fn ending(report: &executor::ApplyReport) -> Ending {
    let failed = report.count(|o| matches!(o, Outcome::Failed(_)));
    if report.succeeded() {
        Ending::Succeeded
    } else if failed > 0 {
        Ending::Failed
    } else if report.count(|o| matches!(o, Outcome::Cancelled)) > 0 {
        Ending::Cancelled
    } else if report.blocked() {
        Ending::Blocked
    } else {
        Ending::Failed
    }
}

/// Ctrl-C once: no new step starts (running ones finish and are journaled). Twice: exit at
/// once (the journal says what was done; a step cut short is reconciled on resume). The
/// signals are watched on a thread of their own, so they are heard while the apply's one
/// thread waits for a person at the DNS prompt.
fn watch_interrupts(cancel: Cancel, out: output::Output, file: PathBuf, json: bool) -> Result<()> {
    let resume = format!("resume with `cellar apply {}`", file.display());
    let (ready, installed) = std::sync::mpsc::channel::<Result<()>>();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return drop(ready.send(Err(anyhow!(e).context("starting the Ctrl-C watcher")))),
        };
        runtime.block_on(async move {
            let mut signals = match Interrupts::install() {
                Ok(signals) => signals,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let _ = ready.send(Ok(()));
            if !signals.next().await {
                return;
            }
            cancel.cancel();
            let said = format!(
                "Interrupted: no new step starts; the running ones finish. Ctrl-C again stops at once. Then {resume}."
            );
            if json {
                // Standard output carries only JSON events.
                output::stderr(&format!("{said}\n"));
            } else {
                let _ = out.line(&format!("\n{said}"));
            }
            if signals.next().await {
                output::stderr(&format!("Stopped at once; the journal says what was done: {resume}\n"));
                std::process::exit(EXIT_INTERRUPTED);
            }
        })
    });
    // The handler is installed before the walk starts.
    installed.recv().map_err(|_| anyhow!("the Ctrl-C watcher did not start"))?
}

/// SIGINT (Ctrl-C), its handler installed before the walk starts.
#[cfg(unix)]
struct Interrupts(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Interrupts {
    /// Within a runtime.
    fn install() -> Result<Interrupts> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Interrupts(signal(SignalKind::interrupt()).context("watching for Ctrl-C")?))
    }
    async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// Ctrl-C elsewhere (tokio's `ctrl_c`, installed when first awaited).
#[cfg(not(unix))]
struct Interrupts;

#[cfg(not(unix))]
impl Interrupts {
    fn install() -> Result<Interrupts> {
        Ok(Interrupts)
    }
    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Where `cellar apply COMMAND` (and `cellar watch`'s backups) save their plans and
/// journals: `journals/` next to the simulator's state (`.cellar/journals/`).
pub fn journals_dir(ctx: &Ctx) -> PathBuf {
    match ctx.sim_state.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("journals"),
        _ => PathBuf::from("journals"),
    }
}

/// `cellar apply COMMAND`: its plan is to be saved under `.cellar/journals/` (next to the
/// simulator's state; [`save_command_plan`], once its servers are locked), so that an
/// interrupted apply resumes like a saved plan's.
fn command_target(ctx: &Ctx, plan: Plan) -> Target {
    let dir = journals_dir(ctx);
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let who = plan.scope.server.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "cellar".into());
    let file = dir.join(format!("{who}-{}-{}.plan.ron", since_epoch.as_secs(), std::process::id()));
    let journal =
        JournalFile { plan: file.display().to_string(), digest: journal::digest(&plan.to_ron()), records: vec![] };
    Target { plan, file, journal }
}

/// The operator of an apply no person watches: no DNS gate is passed (no command it
/// applies has one), and its progress goes nowhere (the report says how it ended).
struct Unattended;

impl Operator for Unattended {
    fn confirm_dns(&self, _host: &str, _ip: &str) -> bool {
        false
    }
    fn event(&self, _event: &executor::Event) {}
}

/// Applies a plan nobody reviews, made under the locks of its servers that the caller took
/// and still holds (so the world cannot have moved past it: there is no stale check): what
/// `cellar watch` does with the backups it takes and prunes. Like `cellar apply COMMAND`,
/// the plan is saved as `<journals>/<name>-<time>-<pid>.plan.ron` and its apply journaled
/// next to it (`cellar apply` that file resumes an apply cut short); nothing is printed.
/// `cancel` stops new steps from starting.
pub async fn apply_unattended(
    (cloud, checkpoint): (Arc<dyn Cloud>, Checkpoint),
    plan: &Plan,
    (journals, name): (&Path, &str),
    cancel: &Cancel,
) -> Result<ApplyReport> {
    let now = cloud.now().await;
    let file = journals.join(format!("{name}-{}-{}.plan.ron", now.0, std::process::id()));
    let text = plan.to_ron();
    cellar_engine::files::write_atomically(&file, text.as_bytes())
        .with_context(|| format!("saving the plan to journal its apply ({})", file.display()))?;
    let journal = JournalFile { plan: file.display().to_string(), digest: journal::digest(&text), records: vec![] };
    let sink = Arc::new(FileJournal::new(journal::path_for(&file), journal, checkpoint));
    let journaled = Journaled { journal: sink.clone(), resume: Resume::default() };
    let report =
        executor::apply_journaled(cloud, Arc::new(Unattended), plan, Policy::default(), cancel, journaled).await;
    let ended = Record::Ended { how: ending(&report), summary: report.summary() };
    sink.record(&ended).map_err(|e| anyhow!(e)).with_context(|| {
        format!("the apply ran ({}), but its end could not be journaled in {}", report.summary(), sink.path().display())
    })?;
    Ok(report)
}

fn save_command_plan(target: &Target) -> Result<()> {
    cellar_engine::files::write_atomically(&target.file, target.plan.to_ron().as_bytes())
        .with_context(|| format!("saving the plan to journal its apply ({})", target.file.display()))
}

/// `cellar apply FILE`: the saved plan, unless it was edited or made from another
/// configuration, and its journal (the world is re-read under the servers' locks, in
/// [`lock_and_recheck`]).
fn saved_plan(ctx: &Ctx, args: &Args) -> Result<Target> {
    let target = &args.target;
    if !args.args.is_empty() || !args.flags.0 .0.is_empty() {
        let mut extra = args.args.clone();
        extra.extend(args.flags.0 .0.keys().map(|f| f.name().to_string()));
        bail!(
            "`cellar apply FILE` takes no further arguments (got {})\n  fix: the command and its flags are in the plan; make a new plan to change them",
            extra.join(" ")
        );
    }
    if args.fleet.strict || args.fleet.rollout() != cellar_engine::plan::RolloutOptions::default() {
        bail!("`cellar apply FILE` takes no --strict, --max-unavailable, --canary or --stop-after-failures\n  fix: the waves are in the plan; make a new plan with them (cellar plan COMMAND@SELECTOR ... -o {target})");
    }
    let file = PathBuf::from(target);
    let plan = load_plan(&file)?;
    refuse_changed_settings(ctx, &plan, target)?;
    let journal = journal_of(&file, &plan)?;
    Ok(Target { plan, file, journal })
}

/// Takes the lock of every server the plan touches (`locks.rs`), then re-reads the world:
/// a plan the world moved past (but for what its journal says an earlier, interrupted
/// apply of it did) is refused, its locks released. An apply of the same plan resuming its
/// unfinished journal on this host takes over the lock its dead predecessor left. Then a
/// saved plan (`saved`: its file) is shown, and a command's plan saved.
async fn lock_and_recheck(
    ctx: &Ctx,
    cloud: &dyn Cloud,
    target: &Target,
    (saved, json): (Option<&str>, bool),
) -> Result<Held> {
    let Target { plan, journal, .. } = target;
    let servers: BTreeSet<ServerName> = plan.steps.iter().map(|s| s.server.clone()).collect();
    let holder = locks::this_process(Some(journal.digest.clone()));
    let unfinished = !journal.records.is_empty();
    let own_predecessor = |other: &LockHolder| {
        unfinished && other.plan.as_ref() == Some(&journal.digest) && locks::liveness(other) == Liveness::Gone
    };
    let held = locks::take(cloud, &plan.scope.region, &servers, &holder, &own_predecessor).await?;
    let resume = Resume::from_records(&journal.records);
    // Every scope the plan read: its server's, and a fleet plan's other servers'.
    let scopes: Vec<_> = plan.scopes().cloned().collect();
    let changes = match inventory::read_many(cloud, &scopes).await {
        Ok(read) => {
            let now: Vec<_> = scopes.iter().zip(&read).flat_map(|(scope, read)| read.observe(scope)).collect();
            resumed_staleness(plan, &now, &resume)
        }
        Err(e) => {
            held.release(cloud).await;
            return Err(anyhow!(e).context("re-reading the resources the plan saw"));
        }
    };
    if changes.is_empty() {
        // A saved plan is shown; a command's (shown before the question) is saved to journal it.
        let ready = match saved {
            // In JSON, standard output holds the events and nothing else.
            Some(_) if json => Ok(()),
            Some(_) => ctx.out.print(&ctx.render_plan(plan)).map_err(anyhow::Error::from),
            None => save_command_plan(target),
        };
        if let Err(e) = ready {
            held.release(cloud).await;
            return Err(e);
        }
        return Ok(held);
    }
    held.release(cloud).await;
    match saved {
        Some(file) => bail!(
            "the plan in {file} is stale: the world changed since it was made:\n  {}\n  fix: make a new plan (cellar plan {} -o {file}) and review it",
            changes.join("\n  "),
            plan.command
        ),
        None => bail!(
            "the world changed while the plan was being confirmed:\n  {}\n  fix: apply the command again and review its new plan",
            changes.join("\n  ")
        ),
    }
}

/// The journal of the plan in `file`: a new one, or the one of an earlier apply of it to
/// resume. A finished apply of the same plan is refused; the journal of another plan (made
/// again over the same file) is replaced if that apply ended, refused if it did not.
fn journal_of(file: &Path, plan: &Plan) -> Result<JournalFile> {
    let path = journal::path_for(file);
    let digest = journal::digest(&plan.to_ron());
    let fresh = JournalFile { plan: file.display().to_string(), digest: digest.clone(), records: vec![] };
    let Some(journal) = journal::load(&path)? else { return Ok(fresh) };
    let resume = Resume::from_records(&journal.records);
    let summary = journal.records.iter().rev().find_map(|r| match r {
        Record::Ended { summary, .. } => Some(summary.clone()),
        _ => None,
    });
    let (file, path) = (file.display(), path.display());
    match resume.ended {
        _ if journal.digest != digest && resume.ended.is_some() => Ok(fresh),
        _ if journal.digest != digest => bail!(
            "the apply journal {path} records an unfinished apply of another plan than the one now in {file}\n  \
             fix: apply that plan again to finish it, or, once you have checked what it left (cellar status), move {path} away"
        ),
        Some(how) if !how.resumable() => bail!(
            "the plan in {file} was applied already ({}: {}; journaled in {path})\n  fix: make a new plan (cellar plan {} -o {file}) and review it",
            if how == Ending::Succeeded { "succeeded" } else { "failed, and its changes were undone" },
            summary.unwrap_or_default(),
            plan.command
        ),
        _ => Ok(journal),
    }
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

fn invocation(args: &Args) -> Invocation {
    Invocation {
        target: args.target.clone(),
        args: args.args.clone(),
        flags: args.flags.0.clone(),
        strict: args.fleet.strict,
        rollout: args.fleet.rollout(),
    }
}

/// `cellar apply COMMAND`: plan it, show it, and ask (unless `--yes` or the plan is empty).
async fn planned_and_confirmed(
    ctx: &Ctx,
    cloud: &dyn Cloud,
    invocation: &Invocation,
    (yes, json): (bool, bool),
) -> Result<Plan> {
    let tree = ctx.load_config()?;
    let plan = make_plan(ctx, cloud, &tree, invocation).await?;
    if !json {
        ctx.out.print(&ctx.render_plan(&plan))?;
    }
    if plan.is_empty() || yes {
        return Ok(plan);
    }
    if ctx.out.is_closed() {
        bail!("refusing to apply: the plan could not be shown (standard output is closed), so it cannot be confirmed\n  fix: save the plan with `cellar plan ... -o FILE`, read it, and apply the file");
    }
    let n = plan.steps.len();
    let question = if n == 1 { "this step".to_string() } else { format!("these {n} steps") };
    match TerminalPrompter.ask(&format!("\nApply {question}? Only 'yes' is accepted: ")) {
        None => bail!("refusing to apply without confirmation: standard input is not a terminal\n  fix: pass --yes, or save the plan with `cellar plan ... -o FILE` and apply the file"),
        Some(answer) if answer.trim() == "yes" => Ok(plan),
        Some(_) => bail!("apply cancelled; nothing was changed"),
    }
}
