//! `cellar doctor` (and `cellar check --backend aws`): is the account ready for the
//! configured servers? The engine's doctor reads (`doctor::read`) and decides
//! (`doctor::assess`); this prints its findings, for people or as JSON.

use super::Ctx;
use crate::backend::{Backend, BackendKind};
use crate::EXIT_ERROR;
use anyhow::Result;
use cellar_engine::doctor::{self, Finding, Report, Severity};
use clap::ValueEnum;
use serde::Serialize;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// One finding a line (and its fix), then a summary, for people.
    #[default]
    Text,
    /// `{"ready", "summary", "findings": [...]}`, for scripts.
    Json,
}

pub const AFTER_HELP: &str = "Checks, for every configured server: the credentials (whose account: STS GetCallerIdentity), \
that the server's region and zone exist for the account, that an image of its AMI type and architecture exists there, \
that the reads cellar makes are allowed, and the permissions of the changing EC2 calls with DryRun (DryRunOperation: \
allowed; UnauthorizedOperation: the action is missing). Nothing is created or changed. Auto Scaling has no DryRun: its \
calls are listed, not checked. Every finding names the server, the setting and its file:line, and the fix.\n\n\
`cellar check` checks the files alone; `cellar check --backend aws` checks the files, then runs this.\n\n\
On the simulator (--backend sim) the operator's policy is the world's (`cellar sim operator-policy`): an administrator's \
unless set, so `cellar sim operator-policy --file docs/iam-policy.json --without ec2:RunInstances` shows what a missing \
permission looks like.\n\n\
JSON (--format json): {\"ready\": bool, \"summary\": {\"errors\", \"warnings\", \"notes\", \"ok\"}, \"findings\": \
[{\"severity\", \"server\", \"subject\", \"setting\", \"at\", \"message\", \"fix\"}, ...]}\n\n\
Exit codes: 0 no errors (warnings and notes allowed), 1 at least one error.\n\n\
Examples:\n  cellar --backend aws --profile hosting doctor\n  cellar check --backend aws\n  \
cellar doctor --format json | jq -r '.findings[] | select(.severity == \"error\") | .fix'";

/// One finding in the JSON form.
#[derive(Serialize)]
struct JsonFinding<'a> {
    severity: &'static str,
    server: Option<&'a str>,
    subject: String,
    /// The configuration field the finding is about.
    setting: Option<&'static str>,
    /// Where that field's value came from: `file:line:column`.
    at: Option<String>,
    message: &'a str,
    fix: Option<&'a str>,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
    ok: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    ready: bool,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
}

fn json(report: &Report) -> Result<String> {
    let findings = report
        .findings
        .iter()
        .map(|f: &Finding| JsonFinding {
            severity: f.severity.as_str(),
            server: f.server.as_ref().map(|s| s.as_str()),
            subject: f.subject.to_string(),
            setting: f.setting.as_ref().map(|s| s.field),
            at: f.setting.as_ref().map(|s| s.source.to_string()),
            message: &f.message,
            fix: f.fix.as_deref(),
        })
        .collect();
    let summary = Summary {
        errors: report.count(Severity::Error),
        warnings: report.count(Severity::Warning),
        notes: report.count(Severity::Note),
        ok: report.count(Severity::Ok),
    };
    Ok(serde_json::to_string_pretty(&JsonReport { ready: !report.has_errors(), summary, findings })? + "\n")
}

fn text(ctx: &Ctx, report: &Report) -> String {
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
    text
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let backend = Backend::open_read_only(ctx).await?;
    let reading = doctor::read(&*backend.cloud(), &tree).await;
    drop(backend); // read only: the simulator's state stays as it was
    let report = doctor::assess(&reading);
    let out = match args.format {
        Format::Json => json(&report)?,
        Format::Text => text(ctx, &report),
    };
    ctx.out.print(&out)?;
    Ok(if report.has_errors() { EXIT_ERROR } else { 0 })
}
