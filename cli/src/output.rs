//! Console output: every byte cellar prints goes through here, never through `println!`.
//!
//! [`Output`] is standard output for command output. A reader that goes away
//! (`cellar status | head -1`: `BrokenPipe`) is not an error: from then on output is
//! dropped and the command finishes as it would have, so an apply whose pipe closes still
//! runs to its end, compensates as usual and saves its state; the exit code stays the
//! command's own, and nothing is said about it (as `cat` says nothing). Any other write
//! error (`cellar status > /dev/full`) is returned, and becomes a one-line error and exit 1.
//! [`stderr`] writes messages and questions; it cannot fail (there is nowhere left to say so).
//!
//! Also here: the end-of-apply report (apply progress and the DNS prompt are `progress.rs`),
//! colour decisions and `bash -n`.

use cellar_engine::config::HookSyntaxError;
use cellar_engine::executor::{ApplyReport, Outcome};
use cellar_engine::plan::Plan;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// A write to standard output failed for a reason other than a closed reader.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct OutputError(String);

/// Standard output (or, in tests, any writer), shared by a command and its apply's progress.
#[derive(Clone)]
pub struct Output {
    sink: Arc<Mutex<Sink>>,
}

struct Sink {
    writer: Box<dyn Write + Send>,
    /// The reader went away: drop whatever comes.
    closed: bool,
    /// The first other write error; later writes report it again without trying.
    failed: Option<String>,
}

impl Output {
    pub fn stdout() -> Output {
        Output::new(Box::new(io::stdout()))
    }

    pub fn new(writer: Box<dyn Write + Send>) -> Output {
        Output { sink: Arc::new(Mutex::new(Sink { writer, closed: false, failed: None })) }
    }

    /// Writes `text` and flushes it. A closed reader is `Ok` (see the module doc).
    pub fn print(&self, text: &str) -> Result<(), OutputError> {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if sink.closed {
            return Ok(());
        }
        if let Some(failed) = &sink.failed {
            return Err(OutputError(failed.clone()));
        }
        let result = sink.writer.write_all(text.as_bytes()).and_then(|()| sink.writer.flush());
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                sink.closed = true;
                Ok(())
            }
            Err(e) => {
                sink.failed = Some(e.to_string());
                Err(OutputError(e.to_string()))
            }
        }
    }

    /// [`Output::print`] with a newline.
    pub fn line(&self, text: &str) -> Result<(), OutputError> {
        self.print(&format!("{text}\n"))
    }

    /// Whether the reader has gone away (nothing printed since reached anybody).
    pub fn is_closed(&self) -> bool {
        self.sink.lock().unwrap_or_else(|e| e.into_inner()).closed
    }
}

/// Writes to standard error, ignoring failures: a message that cannot be shown has nowhere
/// else to go, and must not turn into a panic.
pub fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `--color`: whether standard output gets ANSI colours. `auto` colours a terminal unless
/// `NO_COLOR` is set (or `TERM=dumb`, `CLICOLOR=0`); `CLICOLOR_FORCE` forces it (anstream's
/// rules, which clap's own help output follows too).
pub fn colors_stdout(choice: clap::ColorChoice) -> bool {
    match choice {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => !matches!(anstream::AutoStream::choice(&io::stdout()), anstream::ColorChoice::Never),
    }
}

/// `text` in an ANSI colour (`"32"` green, ...) when `color`, else as it is.
pub fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Asks a person a question; `None` when there is nobody to ask (no terminal).
pub trait Prompter: Send + Sync {
    fn ask(&self, question: &str) -> Option<String>;
}

/// Asks on the terminal: the question on stderr, the answer from stdin.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&self, question: &str) -> Option<String> {
        if !io::stdin().is_terminal() {
            return None;
        }
        stderr(question);
        let mut answer = String::new();
        match io::stdin().read_line(&mut answer) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(answer),
        }
    }
}

/// The end-of-apply report: a summary line plus what needs attention.
/// Where an applied plan came from, for the advice after a DNS gate stopped it.
pub enum Applied<'a> {
    /// `cellar apply FILE`.
    SavedPlan(&'a str),
    /// `cellar apply COMMAND`.
    Command,
}

pub fn render_report(plan: &Plan, report: &ApplyReport, applied: Applied<'_>) -> String {
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
                let next = match applied {
                    Applied::SavedPlan(file) => format!(
                        "Update the record, then run `cellar apply {file}` again: the gate looks the name up and goes on once it points at the address (--wait-dns waits for it; --dns-confirmed passes a name this machine cannot resolve)."
                    ),
                    Applied::Command => "Update the record, then run the same command again: the new address is kept and reused (--dns-confirmed passes the gate if the record is not updated yet).".to_string(),
                };
                let _ = writeln!(out, "  stopped {id} {summary}\n          {e}\n          {next}");
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

    /// A writer that fails every write with this OS error.
    struct Failing(i32);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_is_quiet_and_a_full_disk_is_an_error() {
        const EPIPE: i32 = 32;
        const ENOSPC: i32 = 28;
        let closed = Output::new(Box::new(Failing(EPIPE)));
        assert!(closed.print("a\n").is_ok());
        assert!(closed.is_closed());
        assert!(closed.line("b").is_ok(), "later writes are dropped too");
        let full = Output::new(Box::new(Failing(ENOSPC)));
        let e = full.print("a\n").unwrap_err().to_string();
        assert!(e.starts_with("cannot write to standard output: "), "{e}");
        assert!(full.print("b\n").is_err(), "the failure sticks");
        assert!(!full.is_closed());
    }

    #[test]
    fn bash_syntax_errors_carry_script_lines() {
        assert_eq!(bash_syntax_check("echo ok\n"), Ok(()));
        let errors = bash_syntax_check("echo ok\nif then\n").unwrap_err();
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }
}
