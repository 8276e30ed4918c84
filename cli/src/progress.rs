//! Apply progress: the executor's [`Event`]s as lines for a person ([`Console`]) or as one
//! JSON object per line for a program ([`JsonEvents`], `apply --format json`, schema in
//! `docs/apply-events.md`), and the DNS gate's question.
//!
//! A long wait ([`Event::Waiting`], sent after every look once a step has waited 10 s) is
//! updated in place on a terminal, and said every 30 s otherwise (and in JSON).

use crate::output::{Output, Prompter};
use cellar_engine::executor::{Event, Operator};
use cellar_engine::model::Timestamp;
use cellar_engine::plan::StepId;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::sync::Mutex;
use std::time::Duration;

/// The `version` of every JSON event object; bumped when a field changes meaning or goes.
pub const EVENTS_VERSION: u32 = 1;

/// Off a terminal, a wait is said again after this long.
const WAIT_REPEAT_SECS: u64 = 30;

/// `1m10s`, `45s`, `1h02m05s`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

/// `400 ms`, `4 s`, `1.5 s`.
pub fn delay(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Which wait reports are said: every one (updated in place), or the first and then one
/// every [`WAIT_REPEAT_SECS`] per step.
struct WaitPace {
    every_report: bool,
    last: Mutex<BTreeMap<StepId, u64>>,
}

impl WaitPace {
    fn new(every_report: bool) -> Self {
        WaitPace { every_report, last: Mutex::new(BTreeMap::new()) }
    }

    fn due(&self, step: StepId, elapsed: Duration) -> bool {
        if self.every_report {
            return true;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let secs = elapsed.as_secs();
        match last.get(&step) {
            Some(said) if secs < said + WAIT_REPEAT_SECS => false,
            _ => {
                last.insert(step, secs);
                true
            }
        }
    }
}

/// How a DNS gate was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateAnswer {
    Flag,
    Yes,
    No,
    NoTerminal,
}

impl GateAnswer {
    fn ask(dns_confirmed: bool, prompter: &dyn Prompter, host: &str, ip: &str) -> GateAnswer {
        if dns_confirmed {
            return GateAnswer::Flag;
        }
        let question = format!("\n  Point the DNS record {host} at {ip} now. Type 'yes' once it is updated: ");
        match prompter.ask(&question) {
            Some(answer) if answer.trim() == "yes" => GateAnswer::Yes,
            Some(_) => GateAnswer::No,
            None => GateAnswer::NoTerminal,
        }
    }

    fn passes(self) -> bool {
        matches!(self, GateAnswer::Flag | GateAnswer::Yes)
    }

    fn name(self) -> &'static str {
        match self {
            GateAnswer::Flag => "flag",
            GateAnswer::Yes => "confirmed",
            GateAnswer::No => "refused",
            GateAnswer::NoTerminal => "no terminal",
        }
    }
}

/// Prints progress lines and answers DNS gates (from `--dns-confirmed` or by asking).
///
/// Printing never stops an apply: a line that cannot be written is dropped (the apply's
/// outcome does not depend on anybody reading it; a full disk is reported once it is over).
pub struct Console {
    dns_confirmed: bool,
    started: Timestamp,
    prompter: Box<dyn Prompter>,
    out: Output,
    /// On a terminal: waits are rewritten in place.
    live: bool,
    waits: WaitPace,
    /// A wait line is on screen without its newline.
    in_place: Mutex<bool>,
}

impl Console {
    pub fn new(dns_confirmed: bool, started: Timestamp, prompter: Box<dyn Prompter>, out: Output) -> Self {
        Console::with_live(dns_confirmed, started, prompter, out, io::stdout().is_terminal())
    }

    fn with_live(
        dns_confirmed: bool,
        started: Timestamp,
        prompter: Box<dyn Prompter>,
        out: Output,
        live: bool,
    ) -> Self {
        let waits = WaitPace::new(live);
        Console { dns_confirmed, started, prompter, out, live, waits, in_place: Mutex::new(false) }
    }

    fn clock(&self, at: Timestamp) -> String {
        let s = at.0.saturating_sub(self.started.0);
        format!("[+{:02}:{:02}]", s / 60, s % 60)
    }

    pub fn say(&self, line: &str) {
        let mut in_place = self.in_place.lock().unwrap_or_else(|e| e.into_inner());
        let end = if std::mem::take(&mut *in_place) { "\n" } else { "" };
        let _ = self.out.line(&format!("{end}{line}"));
    }

    /// Rewrites the current terminal line.
    fn say_in_place(&self, line: &str) {
        let mut in_place = self.in_place.lock().unwrap_or_else(|e| e.into_inner());
        *in_place = true;
        let _ = self.out.print(&format!("\r\x1b[K{line}"));
    }

    fn line(&self, event: &Event) -> String {
        match event {
            Event::Started { step, at, summary } => format!("{} {step} {summary} ...", self.clock(*at)),
            Event::Done { step, at, output } => format!("{} {step} done: {output}", self.clock(*at)),
            Event::Failed { step, at, error } => format!("{} {step} FAILED: {error}", self.clock(*at)),
            Event::Blocked { step, at, reason } => format!("{} {step} stopped: {reason}", self.clock(*at)),
            Event::Skipped { step, because } => format!("         {step} skipped (because of {because})"),
            Event::Retrying { step, at, api, error, attempt, delay: d, .. } => {
                format!("{} {step} retry {attempt} of {api} in {}: {error}", self.clock(*at), delay(*d))
            }
            Event::Waiting { step, at, what, elapsed: e } => {
                format!("{} {step} still waiting for {what} [{} elapsed]", self.clock(*at), elapsed(*e))
            }
            Event::Undoing { step, at, what } => format!("{} {step} undo: {what} ...", self.clock(*at)),
            Event::Undone { step, at } => format!("{} {step} undone", self.clock(*at)),
            Event::UndoFailed { step, at, error } => format!("{} {step} UNDO FAILED: {error}", self.clock(*at)),
            Event::WaveStarted { wave, of, servers } => {
                let names: Vec<&str> = servers.iter().map(|s| s.as_str()).collect();
                format!("wave {wave}/{of}: {}", names.join(", "))
            }
            Event::Unhealthy { reason, .. } => format!("         UNHEALTHY: {reason}"),
            Event::WaveDone { wave, of, healthy, failed, budget_left, checked } => {
                let budget = budget_left.map(|b| format!(", budget {b} left")).unwrap_or_default();
                let passed = if *checked { "healthy" } else { "done" };
                format!("wave {wave}/{of}: {healthy} {passed}, {failed} failed{budget}")
            }
        }
    }
}

impl Operator for Console {
    fn confirm_dns(&self, host: &str, ip: &str) -> bool {
        let answer = GateAnswer::ask(self.dns_confirmed, &*self.prompter, host, ip);
        match answer {
            GateAnswer::Flag => self.say(&format!("        DNS gate: {host} → {ip} confirmed by --dns-confirmed")),
            GateAnswer::NoTerminal => self
                .say(&format!("        DNS gate: {host} does not point at {ip} yet, and there is no terminal to ask")),
            GateAnswer::Yes | GateAnswer::No => {}
        }
        answer.passes()
    }

    fn event(&self, event: &Event) {
        let line = format!("  {}", self.line(event));
        match event {
            Event::Waiting { step, elapsed, .. } if self.waits.due(*step, *elapsed) => {
                if self.live {
                    self.say_in_place(&line)
                } else {
                    self.say(&line)
                }
            }
            Event::Waiting { .. } => {}
            _ => self.say(&line),
        }
    }
}

/// `apply --format json`: one JSON object per event, one per line (`docs/apply-events.md`).
pub struct JsonEvents {
    dns_confirmed: bool,
    started: Timestamp,
    prompter: Box<dyn Prompter>,
    out: Output,
    waits: WaitPace,
}

impl JsonEvents {
    pub fn new(dns_confirmed: bool, started: Timestamp, prompter: Box<dyn Prompter>, out: Output) -> Self {
        JsonEvents { dns_confirmed, started, prompter, out, waits: WaitPace::new(false) }
    }

    /// `{"version": 1, "event": kind, ...fields}` on one line (no newline).
    pub fn object(kind: &str, fields: Value) -> String {
        let mut object = serde_json::Map::new();
        object.insert("version".into(), json!(EVENTS_VERSION));
        object.insert("event".into(), json!(kind));
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        Value::Object(object).to_string()
    }

    /// Prints [`JsonEvents::object`]; like the console, never stops an apply.
    pub fn emit(out: &Output, kind: &str, fields: Value) {
        let _ = out.line(&JsonEvents::object(kind, fields));
    }

    fn at(&self, at: Timestamp) -> Value {
        json!({ "at": at.0, "elapsed_s": at.0.saturating_sub(self.started.0) })
    }
}

/// The event's kind and its own fields (besides `version`, `event` and the time).
fn json_fields(event: &Event) -> (&'static str, Option<Timestamp>, Value) {
    match event {
        Event::Started { step, at, summary } => ("started", Some(*at), json!({ "step": step.0, "summary": summary })),
        Event::Done { step, at, output } => ("done", Some(*at), json!({ "step": step.0, "output": output })),
        Event::Failed { step, at, error } => ("failed", Some(*at), json!({ "step": step.0, "error": error })),
        Event::Blocked { step, at, reason } => ("blocked", Some(*at), json!({ "step": step.0, "reason": reason })),
        Event::Skipped { step, because } => ("skipped", None, json!({ "step": step.0, "because": because.0 })),
        Event::Retrying { step, at, api, error, attempt, delay } => (
            "retrying",
            Some(*at),
            json!({ "step": step.0, "api": api.to_string(), "attempt": attempt,
                    "delay_ms": delay.as_millis() as u64, "error": error }),
        ),
        Event::Waiting { step, at, what, elapsed } => {
            ("waiting", Some(*at), json!({ "step": step.0, "what": what, "waited_s": elapsed.as_secs() }))
        }
        Event::Undoing { step, at, what } => ("undoing", Some(*at), json!({ "step": step.0, "what": what })),
        Event::Undone { step, at } => ("undone", Some(*at), json!({ "step": step.0 })),
        Event::UndoFailed { step, at, error } => ("undo_failed", Some(*at), json!({ "step": step.0, "error": error })),
        Event::WaveStarted { wave, of, servers } => {
            ("wave_started", None, json!({ "wave": wave, "of": of, "servers": servers }))
        }
        Event::Unhealthy { server, reason } => ("unhealthy", None, json!({ "server": server, "reason": reason })),
        Event::WaveDone { wave, of, healthy, failed, budget_left, checked } => (
            "wave_done",
            None,
            json!({ "wave": wave, "of": of, "healthy": healthy, "failed": failed, "budget_left": budget_left,
                    "health_checked": checked }),
        ),
    }
}

impl Operator for JsonEvents {
    fn confirm_dns(&self, host: &str, ip: &str) -> bool {
        let answer = GateAnswer::ask(self.dns_confirmed, &*self.prompter, host, ip);
        let fields = json!({ "host": host, "ip": ip, "passed": answer.passes(), "answer": answer.name() });
        JsonEvents::emit(&self.out, "gate", fields);
        answer.passes()
    }

    fn event(&self, event: &Event) {
        if let Event::Waiting { step, elapsed, .. } = event {
            if !self.waits.due(*step, *elapsed) {
                return;
            }
        }
        let (kind, at, mut fields) = json_fields(event);
        if let (Some(at), Value::Object(map)) = (at, &mut fields) {
            if let Value::Object(time) = self.at(at) {
                map.extend(time);
            }
        }
        JsonEvents::emit(&self.out, kind, fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cellar_engine::api::Api;
    use std::sync::Arc;

    struct Scripted(Option<&'static str>);

    impl Prompter for Scripted {
        fn ask(&self, _question: &str) -> Option<String> {
            self.0.map(String::from)
        }
    }

    /// A writer into a shared buffer, to read what was printed.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn dns_gate_answers() {
        for (flag, answer, expected) in [
            (true, None, true),
            (false, Some("yes\n"), true),
            (false, Some("y\n"), false),
            (false, Some("no\n"), false),
            (false, None, false),
        ] {
            let out = Output::new(Box::new(io::sink()));
            let console = Console::new(flag, Timestamp(0), Box::new(Scripted(answer)), out.clone());
            assert_eq!(
                console.confirm_dns("a.example.com", "198.51.100.1"),
                expected,
                "flag {flag}, answer {answer:?}"
            );
            let json = JsonEvents::new(flag, Timestamp(0), Box::new(Scripted(answer)), out);
            assert_eq!(json.confirm_dns("a.example.com", "198.51.100.1"), expected, "flag {flag}, answer {answer:?}");
        }
    }

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        for (secs, expected) in [(0, "0s"), (45, "45s"), (70, "1m10s"), (600, "10m00s"), (3725, "1h02m05s")] {
            assert_eq!(elapsed(Duration::from_secs(secs)), expected);
        }
        for (ms, expected) in [(0, "0 ms"), (400, "400 ms"), (4000, "4 s"), (1500, "1.5 s")] {
            assert_eq!(delay(Duration::from_millis(ms)), expected);
        }
    }

    fn waiting(secs: u64) -> Event {
        Event::Waiting {
            step: StepId(3),
            at: Timestamp(100 + secs),
            what: "instance i-0007 to run".into(),
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn waits_are_said_every_30_s_off_a_terminal_and_in_place_on_one() {
        let events: Vec<Event> = [10, 15, 20, 40, 45, 70].into_iter().map(waiting).collect();
        let retry = Event::Retrying {
            step: StepId(2),
            at: Timestamp(104),
            api: Api::RunInstances,
            error: "RequestLimitExceeded: Request limit exceeded.".into(),
            attempt: 2,
            delay: Duration::from_secs(4),
        };
        for (live, expected) in [
            (
                false,
                "  [+00:04] #2 retry 2 of RunInstances in 4 s: RequestLimitExceeded: Request limit exceeded.\n\
                 \x20 [+00:10] #3 still waiting for instance i-0007 to run [10s elapsed]\n\
                 \x20 [+00:40] #3 still waiting for instance i-0007 to run [40s elapsed]\n\
                 \x20 [+01:10] #3 still waiting for instance i-0007 to run [1m10s elapsed]\n\
                 \x20 [+01:10] #3 done: ok\n",
            ),
            (
                true,
                "  [+00:04] #2 retry 2 of RunInstances in 4 s: RequestLimitExceeded: Request limit exceeded.\n\
                 \r\x1b[K  [+00:10] #3 still waiting for instance i-0007 to run [10s elapsed]\
                 \r\x1b[K  [+00:15] #3 still waiting for instance i-0007 to run [15s elapsed]\
                 \r\x1b[K  [+00:20] #3 still waiting for instance i-0007 to run [20s elapsed]\
                 \r\x1b[K  [+00:40] #3 still waiting for instance i-0007 to run [40s elapsed]\
                 \r\x1b[K  [+00:45] #3 still waiting for instance i-0007 to run [45s elapsed]\
                 \r\x1b[K  [+01:10] #3 still waiting for instance i-0007 to run [1m10s elapsed]\n\
                 \x20 [+01:10] #3 done: ok\n",
            ),
        ] {
            let buffer = Buffer::default();
            let console = Console::with_live(
                false,
                Timestamp(100),
                Box::new(Scripted(None)),
                Output::new(Box::new(buffer.clone())),
                live,
            );
            console.event(&retry);
            for e in &events {
                console.event(e);
            }
            console.event(&Event::Done { step: StepId(3), at: Timestamp(170), output: "ok".into() });
            assert_eq!(buffer.text(), expected, "live {live}");
        }
    }

    #[test]
    fn json_events_are_one_versioned_object_per_line() {
        let buffer = Buffer::default();
        let json =
            JsonEvents::new(false, Timestamp(100), Box::new(Scripted(None)), Output::new(Box::new(buffer.clone())));
        for secs in [10, 15, 40, 45] {
            json.event(&waiting(secs));
        }
        json.event(&Event::Skipped { step: StepId(4), because: StepId(3) });
        json.confirm_dns("a.example.com", "198.51.100.1");
        let lines: Vec<Value> = buffer.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let expected = [
            json!({"version": 1, "event": "waiting", "step": 3, "what": "instance i-0007 to run", "waited_s": 10, "at": 110, "elapsed_s": 10}),
            json!({"version": 1, "event": "waiting", "step": 3, "what": "instance i-0007 to run", "waited_s": 40, "at": 140, "elapsed_s": 40}),
            json!({"version": 1, "event": "skipped", "step": 4, "because": 3}),
            json!({"version": 1, "event": "gate", "host": "a.example.com", "ip": "198.51.100.1", "passed": false, "answer": "no terminal"}),
        ];
        assert_eq!(lines, expected);
    }
}
