//! Console output: apply progress, the final report, the DNS prompt, `bash -n`.

use cellar_engine::config::HookSyntaxError;
use cellar_engine::executor::{ApplyReport, Event, Operator, Outcome};
use cellar_engine::model::Timestamp;
use cellar_engine::plan::Plan;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

/// Asks a person a question; `None` when there is nobody to ask (no terminal).
pub trait Prompter: Send + Sync {
    fn ask(&self, question: &str) -> Option<String>;
}

/// Asks on the terminal: the question on stderr, the answer from stdin.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&self, question: &str) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(answer)
    }
}

/// Prints progress lines and answers DNS gates (from `--dns-confirmed` or by asking).
pub struct Console {
    dns_confirmed: bool,
    started: Timestamp,
    prompter: Box<dyn Prompter>,
}

impl Console {
    pub fn new(dns_confirmed: bool, started: Timestamp, prompter: Box<dyn Prompter>) -> Self {
        Console { dns_confirmed, started, prompter }
    }

    fn clock(&self, at: Timestamp) -> String {
        let s = at.0.saturating_sub(self.started.0);
        format!("[+{:02}:{:02}]", s / 60, s % 60)
    }
}

impl Operator for Console {
    fn confirm_dns(&self, host: &str, ip: &str) -> bool {
        if self.dns_confirmed {
            println!("        DNS gate: {host} → {ip} confirmed by --dns-confirmed");
            return true;
        }
        let question = format!("\n  Point the DNS record {host} at {ip} now. Type 'yes' once it is updated: ");
        match self.prompter.ask(&question) {
            Some(answer) => answer.trim() == "yes",
            None => {
                println!("        DNS gate: {host} does not point at {ip} yet, and there is no terminal to ask");
                false
            }
        }
    }

    fn event(&self, event: &Event) {
        let line = match event {
            Event::Started { step, at, summary } => {
                format!("{} {step} {summary} ...", self.clock(*at))
            }
            Event::Done { step, at, output } => {
                format!("{} {step} done: {output}", self.clock(*at))
            }
            Event::Failed { step, at, error } => {
                format!("{} {step} FAILED: {error}", self.clock(*at))
            }
            Event::Blocked { step, at, reason } => {
                format!("{} {step} stopped: {reason}", self.clock(*at))
            }
            Event::Skipped { step, because } => {
                format!("         {step} skipped (because of {because})")
            }
            Event::Retrying { step, at, error, attempt, delay, .. } => {
                format!("{} {step} retry {attempt} in {}s: {error}", self.clock(*at), delay.as_secs())
            }
            Event::Undoing { step, at, what } => {
                format!("{} {step} undo: {what} ...", self.clock(*at))
            }
            Event::Undone { step, at } => format!("{} {step} undone", self.clock(*at)),
            Event::UndoFailed { step, at, error } => {
                format!("{} {step} UNDO FAILED: {error}", self.clock(*at))
            }
        };
        println!("  {line}");
    }
}

/// The end-of-apply report: a summary line plus what needs attention.
pub fn render_report(plan: &Plan, report: &ApplyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nApply {}: {}.",
        if report.succeeded() { "complete" } else { "did not complete" },
        report.summary()
    );
    for (id, outcome) in &report.outcomes {
        let summary = plan.step(*id).map(|s| s.describe().1).unwrap_or_default();
        match outcome {
            Outcome::Failed(e) => {
                let _ = writeln!(out, "  failed  {id} {summary}\n          {e}");
            }
            Outcome::Blocked(e) => {
                let _ = writeln!(
                    out,
                    "  stopped {id} {summary}\n          {e}\n          Update the record, then run the same command again with --dns-confirmed (the new address is kept and reused)."
                );
            }
            _ => {}
        }
    }
    for undo in &report.undone {
        match &undo.result {
            Ok(()) => {
                let _ = writeln!(out, "  undone  {} {} ({})", undo.step, undo.undo.describe(), undo.target);
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "  LEFT    {} could not {} ({}): {e}; remove it by hand",
                    undo.step,
                    undo.undo.describe(),
                    undo.target
                );
            }
        }
    }
    out
}

/// Runs `bash -n` on a script, mapping its complaints to script lines.
pub fn bash_syntax_check(script: &str) -> Result<(), Vec<HookSyntaxError>> {
    let child = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Err(vec![HookSyntaxError { line: 1, message: format!("cannot run bash -n: {e}") }]),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let output = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Err(vec![HookSyntaxError { line: 1, message: format!("bash -n failed: {e}") }]),
    };
    if output.status.success() {
        return Ok(());
    }
    // bash: line 3: syntax error near unexpected token `fi'
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut errors = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.split_once("line ").map(|(_, r)| r) else {
            continue;
        };
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let message = rest[number.len()..].trim_start_matches(':').trim().to_string();
        if let Ok(n) = number.parse() {
            errors.push(HookSyntaxError { line: n, message });
        }
    }
    if errors.is_empty() {
        errors.push(HookSyntaxError { line: 1, message: stderr.trim().to_string() });
    }
    Err(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(Option<&'static str>);

    impl Prompter for Scripted {
        fn ask(&self, _question: &str) -> Option<String> {
            self.0.map(String::from)
        }
    }

    fn check(flag: bool, answer: Option<&'static str>, expected: bool) {
        let console = Console::new(flag, Timestamp(0), Box::new(Scripted(answer)));
        assert_eq!(console.confirm_dns("a.example.com", "198.51.100.1"), expected, "flag {flag}, answer {answer:?}");
    }

    #[test]
    fn dns_gate_answers() {
        check(true, None, true);
        check(false, Some("yes\n"), true);
        check(false, Some("y\n"), false);
        check(false, Some("no\n"), false);
        check(false, None, false);
    }

    #[test]
    fn bash_syntax_errors_carry_script_lines() {
        assert_eq!(bash_syntax_check("echo ok\n"), Ok(()));
        let errors = bash_syntax_check("echo ok\nif then\n").unwrap_err();
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }
}
