//! `health_check` and `notify`: how `cellar watch` probes a server from outside and whom
//! it tells about the server's incidents. Parsed here into a `Layer`, checked here (each
//! value where it is written; `{dns_name}` against the merged server), built into
//! [`HealthCheck`] and [`Notify`], and shown by `cellar config`.
//!
//! ```ron
//! health_check: (http: "https://{dns_name}/health", expect_status: 200, timeout_secs: 5),
//! health_check: (tcp: "{address}:22", timeout_secs: 3),      // or "[2001:db8::1]:22"
//! notify: (
//!     webhooks: [(url: "https://hooks.example.com/cellar"), (url: "https://hooks.slack.com/services/T0/B0/x", body: Slack)],
//!     commands: [["/usr/local/bin/page-oncall", "--team", "web"]],
//!     remind_every_mins: 60,   // 0: never remind; default 60
//! ),
//! ```
//!
//! Each is replaced whole by a later layer, like `persist` (`notify: ()` in a server file
//! drops its platform's webhooks and commands). Neither is a launch setting: no plan
//! records them ([`super::settings_of`] leaves them out), and changing them changes
//! nothing in the cloud.

use super::layer::{example, Layer, Parser};
use super::scan::{Field, Item};
use super::validate::valid_dns_name;
use super::{Problem, Source, Sourced};
use crate::model::ServerName;
use crate::monitoring::{
    HealthCheck, HealthCheckKind, Notify, Webhook, WebhookBody, DEFAULT_REMIND_EVERY, PLACEHOLDERS,
};
use std::net::Ipv6Addr;
use std::time::Duration;

/// `health_check` as a file writes it.
#[derive(Clone, Debug)]
pub(crate) struct HealthCheckLayer {
    pub http: Option<Sourced<String>>,
    pub tcp: Option<Sourced<String>>,
    pub expect_status: Option<Sourced<i64>>,
    pub timeout_secs: Option<Sourced<i64>>,
    /// False when a sub-field could not be read (that is reported): the values read are
    /// still checked, but not what seems to be missing.
    pub complete: bool,
}

/// `notify` as a file writes it.
#[derive(Clone, Debug)]
pub(crate) struct NotifyLayer {
    pub webhooks: Vec<WebhookLayer>,
    pub commands: Vec<CommandLayer>,
    pub remind_every_mins: Option<Sourced<i64>>,
}

/// One entry of `notify.commands`.
#[derive(Clone, Debug)]
pub(crate) struct CommandLayer {
    /// The program and its arguments (sourced at the list), each sourced at its string.
    pub words: Sourced<Vec<Sourced<String>>>,
    /// As [`HealthCheckLayer::complete`].
    pub complete: bool,
}

/// One entry of `notify.webhooks`.
#[derive(Clone, Debug)]
pub(crate) struct WebhookLayer {
    /// Where the entry starts.
    pub source: Source,
    pub url: Option<Sourced<String>>,
    pub body: Option<Sourced<WebhookBody>>,
    /// As [`HealthCheckLayer::complete`].
    pub complete: bool,
}

const HEALTH_CHECK_FIELDS: &[&str] = &["http", "tcp", "expect_status", "timeout_secs"];
const NOTIFY_FIELDS: &[&str] = &["webhooks", "commands", "remind_every_mins"];
const WEBHOOK_FIELDS: &[&str] = &["url", "body"];

/// A probe's timeout in seconds: the default and the range.
const DEFAULT_TIMEOUT_SECS: i64 = 5;
const TIMEOUT_SECS: std::ops::RangeInclusive<i64> = 1..=60;
/// The HTTP status a check expects: the default and the range.
const DEFAULT_EXPECT_STATUS: i64 = 200;
const STATUSES: std::ops::RangeInclusive<i64> = 100..=599;
/// How often a lasting incident is notified again, in minutes (0: never; at most a week).
const REMIND_EVERY_MINS: std::ops::RangeInclusive<i64> = 0..=10080;

/// The fields of a struct value (`health_check`, `notify`, a webhook); `None` (reported
/// with `not_struct` and the example of `name`) when the value is not a struct.
pub(super) fn struct_fields(p: &mut Parser<'_>, v: &Item, name: &str, not_struct: &str) -> Option<Vec<Field>> {
    let fields = p.scanned.fields(v);
    if fields.is_none() {
        p.problem(v.pos, not_struct.to_string(), Some(format!("write it like `{}`", example(name))));
    }
    fields
}

/// The fields that are one of `allowed` and given once (the others are reported, and make
/// the second value false). `name`: the field as problems call it (`health_check`,
/// `notify.webhooks`); `in_what`: where an unknown field is (`` in `health_check` ``).
pub(super) fn known_fields(
    p: &mut Parser<'_>,
    fields: Vec<Field>,
    name: &str,
    in_what: &str,
    allowed: &[&str],
) -> (Vec<Field>, bool) {
    let mut ok = true;
    let mut seen: Vec<&str> = Vec::new();
    let mut kept = Vec::new();
    for field in fields {
        let Some(sub) = allowed.iter().copied().find(|f| *f == field.name) else {
            let suggestion = super::layer::did_you_mean(allowed, &field.name);
            p.problem(
                field.name_pos,
                format!("unknown field `{}` {in_what} (allowed fields: {})", field.name, allowed.join(", ")),
                suggestion,
            );
            ok = false;
            continue;
        };
        if seen.contains(&sub) {
            p.problem(
                field.name_pos,
                format!("field `{name}.{sub}` is given twice"),
                Some("remove one of them".into()),
            );
            ok = false;
            continue;
        }
        seen.push(sub);
        kept.push(field);
    }
    (kept, ok)
}

pub(crate) fn set_health_check(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let not_struct = "invalid value for `health_check`: expected `(http: \"...\", ...)` or `(tcp: \"...\", ...)`";
    let Some(fields) = struct_fields(p, v, "health_check", not_struct) else { return false };
    let (fields, mut ok) = known_fields(p, fields, "health_check", "in `health_check`", HEALTH_CHECK_FIELDS);
    let mut hc = HealthCheckLayer { http: None, tcp: None, expect_status: None, timeout_secs: None, complete: true };
    for field in &fields {
        let value = &field.value;
        let set = match field.name.as_str() {
            "http" => p.value("health_check.http", value).map(|v| hc.http = Some(v)),
            "tcp" => p.value("health_check.tcp", value).map(|v| hc.tcp = Some(v)),
            "expect_status" => p.value("health_check.expect_status", value).map(|v| hc.expect_status = Some(v)),
            _ => p.value("health_check.timeout_secs", value).map(|v| hc.timeout_secs = Some(v)),
        };
        ok &= set.is_some();
    }
    // Kept even when not all of it could be read, so that `cellar check` reports the
    // problems of the rest too; the layer's problems keep it from being used.
    hc.complete = ok;
    layer.health_check = Some(Box::new(Sourced::new(hc, p.source(v.pos))));
    ok
}

pub(crate) fn set_notify(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    let not_struct = "invalid value for `notify`: expected `(webhooks: [...], commands: [...], remind_every_mins: 60)`";
    let Some(fields) = struct_fields(p, v, "notify", not_struct) else { return false };
    let (fields, mut ok) = known_fields(p, fields, "notify", "in `notify`", NOTIFY_FIELDS);
    let mut n = NotifyLayer { webhooks: Vec::new(), commands: Vec::new(), remind_every_mins: None };
    for field in &fields {
        let value = &field.value;
        let set = match field.name.as_str() {
            "webhooks" => {
                let (webhooks, read) = webhooks(p, value);
                n.webhooks = webhooks;
                read
            }
            "commands" => {
                let (commands, read) = commands(p, value);
                n.commands = commands;
                read
            }
            _ => p.value("notify.remind_every_mins", value).map(|m| n.remind_every_mins = Some(m)).is_some(),
        };
        ok &= set;
    }
    // Kept whole or not, as `health_check` is.
    layer.notify = Some(Box::new(Sourced::new(n, p.source(v.pos))));
    ok
}

/// The webhooks, and whether all of them could be read.
fn webhooks(p: &mut Parser<'_>, v: &Item) -> (Vec<WebhookLayer>, bool) {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `notify.webhooks`: expected a list of `(url: \"...\", body: Json)`".into(),
            Some(format!("write it like `{}`", example("notify.webhooks"))),
        );
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in &items {
        let not_struct = "invalid entry in `notify.webhooks`: expected `(url: \"...\", body: Json)`";
        let Some(fields) = struct_fields(p, item, "notify.webhooks", not_struct) else {
            ok = false;
            continue;
        };
        let (fields, mut complete) = known_fields(p, fields, "notify.webhooks", "in a webhook", WEBHOOK_FIELDS);
        let mut w = WebhookLayer { source: p.source(item.pos), url: None, body: None, complete: true };
        for field in &fields {
            let set = match field.name.as_str() {
                "url" => p.value("notify.webhooks.url", &field.value).map(|u| w.url = Some(u)),
                _ => p.value("notify.webhooks.body", &field.value).map(|b| w.body = Some(b)),
            };
            complete &= set.is_some();
        }
        w.complete = complete;
        ok &= complete;
        out.push(w);
    }
    (out, ok)
}

/// The commands, and whether all of them could be read.
fn commands(p: &mut Parser<'_>, v: &Item) -> (Vec<CommandLayer>, bool) {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `notify.commands`: expected a list of commands, each a list of strings".into(),
            Some(format!("write it like `{}`", example("notify.commands"))),
        );
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in &items {
        let Some(words) = p.scanned.list(item) else {
            p.problem(
                item.pos,
                "invalid entry in `notify.commands`: expected a list of strings (the program, then its arguments)"
                    .into(),
                Some(format!("write it like `{}`", example("notify.commands"))),
            );
            out.push(CommandLayer { words: Sourced::new(Vec::new(), p.source(item.pos)), complete: false });
            ok = false;
            continue;
        };
        let parsed: Vec<Sourced<String>> = words.iter().filter_map(|w| p.value("notify.commands", w)).collect();
        let complete = parsed.len() == words.len();
        ok &= complete;
        out.push(CommandLayer { words: Sourced::new(parsed, p.source(item.pos)), complete });
    }
    (out, ok)
}

fn problem(source: &Source, message: String, fix: Option<String>) -> Problem {
    Problem { source: source.clone(), message, fix }
}

/// Problems of one file's `health_check` and `notify`, each at the value.
pub(crate) fn layer_problems(layer: &Layer, out: &mut Vec<Problem>) {
    if let Some(hc) = &layer.health_check {
        health_check_problems(hc, out);
    }
    if let Some(n) = &layer.notify {
        notify_problems(&n.value, out);
    }
}

fn health_check_problems(hc: &Sourced<HealthCheckLayer>, out: &mut Vec<Problem>) {
    let h = &hc.value;
    match (&h.http, &h.tcp) {
        (None, None) if !h.complete => {}
        (None, None) => out.push(problem(
            &hc.source,
            "`health_check` has neither `http` nor `tcp`".into(),
            Some("add `http: \"https://{dns_name}/health\"` or `tcp: \"{address}:22\"`".into()),
        )),
        (Some(http), Some(tcp)) => out.push(problem(
            std::cmp::max(&http.source, &tcp.source),
            "`health_check` has both `http` and `tcp`: a health check is one or the other".into(),
            Some("keep one of them".into()),
        )),
        _ => {}
    }
    if let Some(url) = &h.http {
        url_problems(url, "health check URL", true, out);
    }
    if let Some(tcp) = &h.tcp {
        tcp_problems(tcp, out);
    }
    if let Some(Sourced { value, source }) = &h.expect_status {
        if h.http.is_none() && h.tcp.is_some() && h.complete {
            out.push(problem(
                source,
                "`expect_status` goes with `http` only: a TCP check has no HTTP status".into(),
                Some("remove `expect_status`, or check with `http`".into()),
            ));
        } else if !STATUSES.contains(value) {
            out.push(problem(
                source,
                format!(
                    "health_check.expect_status must be an HTTP status from {} to {}, not {value}",
                    STATUSES.start(),
                    STATUSES.end()
                ),
                Some(format!(
                    "write the status the server answers with when it is well, such as {DEFAULT_EXPECT_STATUS}"
                )),
            ));
        }
    }
    if let Some(Sourced { value, source }) = &h.timeout_secs {
        if !TIMEOUT_SECS.contains(value) {
            out.push(problem(
                source,
                format!(
                    "health_check.timeout_secs must be between {} and {} (seconds), not {value}",
                    TIMEOUT_SECS.start(),
                    TIMEOUT_SECS.end()
                ),
                Some(format!("leave it out for {DEFAULT_TIMEOUT_SECS} seconds")),
            ));
        }
    }
}

/// The text between braces that is not one of [`PLACEHOLDERS`]: `{host}`, an unclosed
/// `{dns`, a lone `}`.
fn unknown_placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix('}') {
            out.push("}");
            rest = after;
            continue;
        }
        let end = tail[1..].find(['{', '}']).map(|e| e + 1);
        match end {
            Some(e) if tail[e..].starts_with('}') => {
                let candidate = &tail[..=e];
                if !PLACEHOLDERS.contains(&candidate) {
                    out.push(candidate);
                }
                rest = &tail[e + 1..];
            }
            Some(e) => {
                out.push(&tail[..e]);
                rest = &tail[e..];
            }
            None => {
                out.push(tail);
                rest = "";
            }
        }
    }
    out
}

/// The text with each placeholder replaced by a host name (for checking its syntax).
fn filled(text: &str) -> String {
    PLACEHOLDERS.iter().fold(text.to_string(), |t, p| t.replace(p, "x"))
}

/// Problems of the placeholders of `v` (`what`: "health check URL"); true when there are none.
fn placeholder_problems(v: &Sourced<String>, what: &str, out: &mut Vec<Problem>) -> bool {
    let unknown = unknown_placeholders(&v.value);
    for bad in &unknown {
        out.push(problem(
            &v.source,
            format!("`{bad}` in the {what} is not a placeholder (placeholders: {})", PLACEHOLDERS.join(", ")),
            Some("write {dns_name} for the server's `dns_name` or {address} for its Elastic IP".into()),
        ));
    }
    unknown.is_empty()
}

/// Reports white space or a control character in `v` (`what`: "webhook URL"); true when
/// there is none.
fn blank_problem(v: &Sourced<String>, what: &str, out: &mut Vec<Problem>) -> bool {
    if v.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        out.push(problem(
            &v.source,
            format!("invalid {what} {:?}: it contains white space or a control character", v.value),
            Some("leave it out, or percent-encode it (a space is %20)".into()),
        ));
        return false;
    }
    true
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` split into the host (without brackets) and
/// the port's text; the host must be a host name or an IP address (placeholders filled).
fn host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return Err("its `[` has no `]`".into());
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{ip:?} in brackets is not an IPv6 address"));
        }
        match after {
            "" => (ip, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return Err(format!("{after:?} follows the IPv6 address")),
            },
        }
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err("an IPv6 address goes in brackets, like [2001:db8::1]:22".into());
            }
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if !s.starts_with('[') && !valid_dns_name(&filled(host)) {
        return Err(format!("{host:?} is not a host name or an IP address"));
    }
    if let Some(port) = port {
        port_number(port)?;
    }
    Ok((host, port))
}

/// A port number from 1 to 65535, written in digits.
fn port_number(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(n) if n > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(n),
        _ => Err(format!("its port {port:?} is not a number from 1 to 65535")),
    }
}

/// Problems of an http(s) URL (`what`: "health check URL", "webhook URL"); placeholders
/// only where `placeholders`.
fn url_problems(v: &Sourced<String>, what: &str, placeholders: bool, out: &mut Vec<Problem>) {
    if !blank_problem(v, what, out) {
        return;
    }
    let url = &v.value;
    let invalid = |why: &str, fix: String| problem(&v.source, format!("invalid {what} {url:?}: {why}"), Some(fix));
    let example = if placeholders { "https://{dns_name}/health" } else { "https://hooks.example.com/cellar" };
    if placeholders {
        if !placeholder_problems(v, what, out) {
            return;
        }
    } else if url.contains(['{', '}']) {
        out.push(invalid(
            "a webhook URL has no placeholders ({dns_name} and {address} are the health check's)",
            "write the URL in full: it is the same for every server".into(),
        ));
        return;
    }
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        out.push(invalid("it does not start with http:// or https://", format!("write it like `{example}`")));
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        out.push(invalid(
            "it has a user name or password in it (`user:password@`)",
            "leave them out: `cellar config` and the watch's output show the URL".into(),
        ));
        return;
    }
    if let Err(why) = host_port(authority) {
        let hosts = if placeholders {
            "a host name, an IP address, {dns_name} or {address}"
        } else {
            "a host name or an IP address"
        };
        out.push(invalid(&why, format!("write it like `{example}`: {hosts}, then an optional :port")));
    }
}

/// Problems of `tcp: "host:port"`.
fn tcp_problems(v: &Sourced<String>, out: &mut Vec<Problem>) {
    let what = "health check address";
    if !blank_problem(v, what, out) || !placeholder_problems(v, what, out) {
        return;
    }
    let invalid =
        |why: &str, fix: &str| problem(&v.source, format!("invalid {what} {:?}: {why}", v.value), Some(fix.into()));
    if v.value.contains("://") {
        out.push(invalid(
            "it is a URL, and a TCP check connects to host:port",
            "write it as host:port, like `tcp: \"{address}:443\"`, or give the URL to `http` instead",
        ));
        return;
    }
    match host_port(&v.value) {
        Ok((_, Some(_))) => {}
        Ok((_, None)) => out.push(invalid("it has no port", "write it as host:port, like `tcp: \"{address}:22\"`")),
        Err(why) => out.push(invalid(
            &why,
            "write it as host:port, like `tcp: \"{address}:22\"` (the host: a host name, an IP address, {dns_name} or {address})",
        )),
    }
}

fn notify_problems(n: &NotifyLayer, out: &mut Vec<Problem>) {
    for (i, w) in n.webhooks.iter().enumerate() {
        match &w.url {
            None if !w.complete => {}
            None => out.push(problem(
                &w.source,
                format!("webhook {} has no `url`", i + 1),
                Some(format!("add `{}`", example("notify.webhooks.url"))),
            )),
            Some(url) => url_problems(url, "webhook URL", false, out),
        }
    }
    for (i, c) in n.commands.iter().enumerate() {
        command_problems(i + 1, c, out);
    }
    if let Some(Sourced { value, source }) = &n.remind_every_mins {
        if !REMIND_EVERY_MINS.contains(value) {
            out.push(problem(
                source,
                format!(
                    "notify.remind_every_mins must be between {} (never remind) and {} (a week), not {value}",
                    REMIND_EVERY_MINS.start(),
                    REMIND_EVERY_MINS.end()
                ),
                Some(format!("leave it out to be reminded every {} minutes", DEFAULT_REMIND_EVERY.as_secs() / 60)),
            ));
        }
    }
}

fn command_problems(n: usize, command: &CommandLayer, out: &mut Vec<Problem>) {
    let CommandLayer { words: command, complete } = command;
    if !complete {
        return; // a string that could not be read is reported; the others' places are unknown
    }
    let Some(program) = command.value.first() else {
        out.push(problem(
            &command.source,
            format!("command {n} of `notify.commands` is empty"),
            Some(format!("give the program, then its arguments: `{}`", example("notify.commands"))),
        ));
        return;
    };
    for (k, word) in command.value.iter().enumerate() {
        if word.value.contains('\0') {
            let what = if k == 0 { "the program".to_string() } else { format!("argument {k}") };
            out.push(problem(
                &word.source,
                format!(
                    "{what} of command {n} of `notify.commands` contains a NUL byte, which no command line can hold"
                ),
                Some("remove it".into()),
            ));
        }
    }
    let name = &program.value;
    let fix =
        "give the program's absolute path (/usr/local/bin/page-oncall) or its name on the watch's PATH (page-oncall)";
    if name.is_empty() {
        out.push(problem(
            &program.source,
            format!("the program of command {n} of `notify.commands` is empty"),
            Some(fix.into()),
        ));
    } else if !name.starts_with('/') && name.contains('/') {
        out.push(problem(
            &program.source,
            format!("program {name:?} is a relative path, which would depend on the directory the watch runs in"),
            Some(fix.into()),
        ));
    } else if !name.starts_with('/') && name.contains(char::is_whitespace) {
        let words: Vec<String> = name.split_whitespace().map(|w| format!("{w:?}")).collect();
        out.push(problem(
            &program.source,
            format!("program {name:?} has white space in it: no shell splits it, the program and each argument are strings of their own"),
            Some(format!("write it as [{}]", words.join(", "))),
        ));
    }
}

/// Problems of a server's merged `health_check`: `{dns_name}` without a `dns_name`.
pub(crate) fn merged_problems(name: &ServerName, merged: &Layer, out: &mut Vec<Problem>) {
    let Some(hc) = &merged.health_check else { return };
    if merged.dns_name.is_some() || merged.failed.contains("dns_name") {
        return;
    }
    for v in [&hc.value.http, &hc.value.tcp].into_iter().flatten() {
        if v.value.contains("{dns_name}") {
            out.push(problem(
                &v.source,
                format!("the health check uses {{dns_name}}, and server {name} has no `dns_name`"),
                Some(format!(
                    "set `{}` for the server, or check {{address}} (its Elastic IP) instead",
                    example("dns_name")
                )),
            ));
        }
    }
}

/// The health check of a merged, validated layer.
pub(crate) fn build_health_check(merged: &Layer) -> Option<Sourced<HealthCheck>> {
    let hc = merged.health_check.as_deref()?;
    let h = &hc.value;
    let kind = match (&h.http, &h.tcp) {
        (Some(url), _) => HealthCheckKind::Http {
            url: url.value.clone(),
            expect_status: h.expect_status.as_ref().map_or(DEFAULT_EXPECT_STATUS, |s| s.value) as u16,
        },
        (None, Some(tcp)) => {
            let (host, port) = host_port(&tcp.value).expect("validated health check address");
            let port = port_number(port.expect("validated: a port")).expect("validated port");
            HealthCheckKind::Tcp { host: host.to_string(), port }
        }
        (None, None) => unreachable!("validated: http or tcp"),
    };
    let timeout = h.timeout_secs.as_ref().map_or(DEFAULT_TIMEOUT_SECS, |t| t.value);
    Some(Sourced::new(HealthCheck { kind, timeout: Duration::from_secs(timeout as u64) }, hc.source.clone()))
}

/// The notifications of a merged, validated layer.
pub(crate) fn build_notify(merged: &Layer) -> Option<Sourced<Notify>> {
    let n = merged.notify.as_deref()?;
    let notify = Notify {
        webhooks: n
            .value
            .webhooks
            .iter()
            .map(|w| Webhook {
                url: w.url.as_ref().expect("validated: a webhook has a url").value.clone(),
                body: w.body.as_ref().map_or_else(WebhookBody::default, |b| b.value),
            })
            .collect(),
        commands: n.value.commands.iter().map(|c| c.words.value.iter().map(|w| w.value.clone()).collect()).collect(),
        remind_every: match n.value.remind_every_mins.as_ref().map(|m| m.value) {
            None => Some(DEFAULT_REMIND_EVERY),
            Some(0) => None,
            Some(mins) => Some(Duration::from_secs(mins as u64 * 60)),
        },
    };
    Some(Sourced::new(notify, n.source.clone()))
}

/// `cellar config`'s `health_check` and `notify` entries: each one line of RON, every
/// default written out; `None` when no layer sets it.
pub(crate) fn entries(
    health_check: &Option<Sourced<HealthCheck>>,
    notify: &Option<Sourced<Notify>>,
    out: &mut Vec<(String, String, Source)>,
) {
    let quote = |s: &str| format!("{s:?}");
    let none = || ("None".to_string(), Source::default_value());
    let (text, source) = health_check.as_ref().map_or_else(none, |hc| {
        let timeout = hc.value.timeout.as_secs();
        let text = match &hc.value.kind {
            HealthCheckKind::Http { url, expect_status } => {
                format!("(http: {}, expect_status: {expect_status}, timeout_secs: {timeout})", quote(url))
            }
            HealthCheckKind::Tcp { host, port } => {
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                format!("(tcp: {}, timeout_secs: {timeout})", quote(&format!("{host}:{port}")))
            }
        };
        (text, hc.source.clone())
    });
    out.push(("health_check".to_string(), text, source));
    let (text, source) = notify.as_ref().map_or_else(none, |n| {
        let webhooks: Vec<String> =
            n.value.webhooks.iter().map(|w| format!("(url: {}, body: {:?})", quote(&w.url), w.body)).collect();
        let commands: Vec<String> = n
            .value
            .commands
            .iter()
            .map(|c| format!("[{}]", c.iter().map(|w| quote(w)).collect::<Vec<_>>().join(", ")))
            .collect();
        let remind = n.value.remind_every.map_or(0, |d| d.as_secs() / 60);
        let text = format!(
            "(webhooks: [{}], commands: [{}], remind_every_mins: {remind})",
            webhooks.join(", "),
            commands.join(", ")
        );
        (text, n.source.clone())
    });
    out.push(("notify".to_string(), text, source));
}
