//! `health_check` and `notify`: the forms accepted, `cellar check`'s problems (each at
//! its value, with its fix), layering, the built values and `cellar config`'s entries.

use super::field_checks::{check, check_files, refused, tree, AT};
use super::*;
use crate::monitoring::{HealthCheck, HealthCheckKind, Notify, Webhook, WebhookBody};
use std::time::Duration;

#[test]
fn the_documented_forms_are_accepted() {
    for fields in [
        r#"dns_name: "s.example.com", health_check: (http: "https://{dns_name}/health", expect_status: 200, timeout_secs: 5)"#,
        r#"health_check: (tcp: "{address}:22", timeout_secs: 3)"#,
        r#"health_check: (http: "http://{address}:8080/status?host={address}#top")"#,
        r#"health_check: (http: "https://status.example.com")"#,
        r#"health_check: (http: "http://192.0.2.10/", expect_status: 204, timeout_secs: 60)"#,
        r#"health_check: (http: "https://[2001:db8::1]:8443/health", timeout_secs: 1)"#,
        r#"health_check: (tcp: "[2001:db8::1]:22")"#,
        r#"health_check: (tcp: "db.internal.example.com:5432")"#,
        r#"dns_name: "s.example.com", health_check: (tcp: "{dns_name}:443")"#,
        r#"notify: (
            webhooks: [(url: "https://hooks.example.com/cellar"), (url: "https://hooks.slack.com/services/T0/B0/x", body: Slack)],
            commands: [["/usr/local/bin/page-oncall", "--team", "web"]],
            remind_every_mins: 60,
        )"#,
        r#"notify: (webhooks: [(url: "http://10.0.0.1:9000/hook", body: Json)], remind_every_mins: 0)"#,
        r#"notify: (commands: [["page-oncall"], ["/bin/sh", "-c", "echo \"$CELLAR_SERVER\" >> /tmp/incidents"]], remind_every_mins: 10080)"#,
        r#"notify: ()"#,
    ] {
        check(fields, &[]);
    }
}

#[test]
fn a_health_check_is_http_or_tcp() {
    refused(
        r#"health_check: (timeout_secs: 5)"#,
        33,
        "`health_check` has neither `http` nor `tcp` (fix: add `http: \"https://{dns_name}/health\"` or `tcp: \"{address}:22\"`)",
    );
    refused(
        r#"health_check: (http: "http://{address}/", tcp: "{address}:22")"#,
        66,
        "`health_check` has both `http` and `tcp`: a health check is one or the other (fix: keep one of them)",
    );
    refused(
        r#"health_check: (tcp: "{address}:22", expect_status: 200)"#,
        70,
        "`expect_status` goes with `http` only: a TCP check has no HTTP status (fix: remove `expect_status`, or check with `http`)",
    );
    refused(
        r#"health_check: "https://{dns_name}/health""#,
        33,
        "invalid value for `health_check`: expected `(http: \"...\", ...)` or `(tcp: \"...\", ...)` (fix: write it like \
         `health_check: (http: \"https://{dns_name}/health\", expect_status: 200, timeout_secs: 5)`)",
    );
    refused(
        r#"health_check: (http: "http://{address}/", timout_secs: 5)"#,
        61,
        "unknown field `timout_secs` in `health_check` (allowed fields: http, tcp, expect_status, timeout_secs) \
         (fix: did you mean `timeout_secs`?)",
    );
    refused(
        r#"health_check: (http: "http://{address}/", http: "http://{address}/")"#,
        61,
        "field `health_check.http` is given twice (fix: remove one of them)",
    );
}

#[test]
fn statuses_and_timeouts_are_in_range() {
    let status = "(fix: write the status the server answers with when it is well, such as 200)";
    refused(
        r#"health_check: (http: "http://{address}/", expect_status: 99)"#,
        76,
        &format!("health_check.expect_status must be an HTTP status from 100 to 599, not 99 {status}"),
    );
    refused(
        r#"health_check: (http: "http://{address}/", expect_status: 600)"#,
        76,
        &format!("health_check.expect_status must be an HTTP status from 100 to 599, not 600 {status}"),
    );
    for (timeout, column) in [("0", 75), ("61", 75), ("-1", 75)] {
        refused(
            &format!(r#"health_check: (http: "http://{{address}}/", timeout_secs: {timeout})"#),
            column,
            &format!(
                "health_check.timeout_secs must be between 1 and 60 (seconds), not {timeout} (fix: leave it out for 5 seconds)"
            ),
        );
    }
    refused(
        r#"health_check: (http: "http://{address}/", expect_status: "200")"#,
        76,
        "invalid value for `health_check.expect_status`: Expected integer (fix: write it like `expect_status: 200`)",
    );
    refused(
        r#"health_check: (http: 80)"#,
        40,
        "invalid value for `health_check.http`: Expected string (fix: write it like `http: \"https://{dns_name}/health\"`)",
    );
}

#[test]
fn health_check_urls_are_http_urls_with_a_host() {
    let url = |url: &str, problem: &str, fix: &str| {
        refused(
            &format!("health_check: (http: {url:?})"),
            40,
            &format!("invalid health check URL {url:?}: {problem} (fix: {fix})"),
        );
    };
    let write_it = "write it like `https://{dns_name}/health`";
    let host_fix =
        "write it like `https://{dns_name}/health`: a host name, an IP address, {dns_name} or {address}, then an optional :port";
    url("ftp://{address}/health", "it does not start with http:// or https://", write_it);
    url("{address}/health", "it does not start with http:// or https://", write_it);
    url("HTTPS://{address}/", "it does not start with http:// or https://", write_it);
    url(
        "https://ops:secret@{address}/health",
        "it has a user name or password in it (`user:password@`)",
        "leave them out: `cellar config` and the watch's output show the URL",
    );
    url(
        "https://{address}/health check",
        "it contains white space or a control character",
        "leave it out, or percent-encode it (a space is %20)",
    );
    url("https:///health", "it has no host", host_fix);
    url("https://:8080/", "it has no host", host_fix);
    url("https://my_host.example.com/", "\"my_host.example.com\" is not a host name or an IP address", host_fix);
    url("https://{address}:0/", "its port \"0\" is not a number from 1 to 65535", host_fix);
    url("https://{address}:65536/", "its port \"65536\" is not a number from 1 to 65535", host_fix);
    url("https://{address}:/", "its port \"\" is not a number from 1 to 65535", host_fix);
    url("http://::1/", "an IPv6 address goes in brackets, like [2001:db8::1]:22", host_fix);
    url("http://[::1/", "its `[` has no `]`", host_fix);
    url("http://[fe80::zz]/", "\"fe80::zz\" in brackets is not an IPv6 address", host_fix);
}

#[test]
fn placeholders_are_dns_name_and_address_only() {
    let fix = "(fix: write {dns_name} for the server's `dns_name` or {address} for its Elastic IP)";
    refused(
        r#"health_check: (http: "https://{host}/health")"#,
        40,
        &format!(
            "`{{host}}` in the health check URL is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"
        ),
    );
    check(
        r#"health_check: (http: "https://{server}.{domain}/")"#,
        &[
            &format!("{AT}40: `{{domain}}` in the health check URL is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"),
            &format!("{AT}40: `{{server}}` in the health check URL is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"),
        ],
    );
    refused(
        r#"health_check: (http: "https://{dns_name/health")"#,
        40,
        &format!(
            "`{{dns_name/health` in the health check URL is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"
        ),
    );
    refused(
        r#"health_check: (tcp: "address}:22")"#,
        39,
        &format!(
            "`}}` in the health check address is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"
        ),
    );
    refused(
        r#"health_check: (tcp: "{ADDRESS}:22")"#,
        39,
        &format!(
            "`{{ADDRESS}}` in the health check address is not a placeholder (placeholders: {{dns_name}}, {{address}}) {fix}"
        ),
    );
}

#[test]
fn tcp_checks_are_host_and_port() {
    let tcp = |value: &str, problem: &str, fix: &str| {
        refused(
            &format!("health_check: (tcp: {value:?})"),
            39,
            &format!("invalid health check address {value:?}: {problem} (fix: {fix})"),
        );
    };
    let no_port = "write it as host:port, like `tcp: \"{address}:22\"`";
    let fix = "write it as host:port, like `tcp: \"{address}:22\"` (the host: a host name, an IP address, {dns_name} or {address})";
    tcp("{address}", "it has no port", no_port);
    tcp("[2001:db8::1]", "it has no port", no_port);
    tcp("{address}:ssh", "its port \"ssh\" is not a number from 1 to 65535", fix);
    tcp("{address}:0", "its port \"0\" is not a number from 1 to 65535", fix);
    tcp("{address}:+22", "its port \"+22\" is not a number from 1 to 65535", fix);
    tcp(":22", "it has no host", fix);
    tcp("2001:db8::1:22", "an IPv6 address goes in brackets, like [2001:db8::1]:22", fix);
    tcp("[2001:db8::1]22", "\"22\" follows the IPv6 address", fix);
    tcp(
        "https://{address}:443",
        "it is a URL, and a TCP check connects to host:port",
        "write it as host:port, like `tcp: \"{address}:443\"`, or give the URL to `http` instead",
    );
    tcp(
        "{address} :22",
        "it contains white space or a control character",
        "leave it out, or percent-encode it (a space is %20)",
    );
}

#[test]
fn dns_name_placeholders_need_the_servers_dns_name() {
    // The platform's check uses {dns_name}: a problem at the platform's value, for the server
    // that has none.
    let platform = r#"(health_check: (http: "https://{dns_name}/health"))"#;
    check_files(
        platform,
        r#"(platform: "web")"#,
        &["cfg/platforms/web.ron:1:23: the health check uses {dns_name}, and server s has no `dns_name` (fix: set \
           `dns_name: \"ommegang.example.com\"` for the server, or check {address} (its Elastic IP) instead)"],
    );
    check_files(platform, r#"(platform: "web", dns_name: "s.example.com")"#, &[]);
    check_files(
        "()",
        r#"(platform: "web", health_check: (tcp: "{dns_name}:22"))"#,
        &["cfg/servers/s.ron:1:39: the health check uses {dns_name}, and server s has no `dns_name` (fix: set \
           `dns_name: \"ommegang.example.com\"` for the server, or check {address} (its Elastic IP) instead)"],
    );
    // {address} needs nothing configured (the watch waits for the Elastic IP).
    check_files("()", r#"(platform: "web", health_check: (tcp: "{address}:22"))"#, &[]);
    // A dns_name that does not parse is reported alone.
    check_files(
        platform,
        r#"(platform: "web", dns_name: 7)"#,
        &["cfg/servers/s.ron:1:29: invalid value for `dns_name`: Expected string (fix: write it like `dns_name: \
           \"ommegang.example.com\"`)"],
    );
}

#[test]
fn notify_is_checked() {
    refused(
        r#"notify: [(url: "https://hooks.example.com/cellar")]"#,
        27,
        "invalid value for `notify`: expected `(webhooks: [...], commands: [...], remind_every_mins: 60)` (fix: write \
         it like `notify: (webhooks: [(url: \"https://hooks.example.com/cellar\")], commands: \
         [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]], remind_every_mins: 60)`)",
    );
    refused(
        r#"notify: (remind_every_min: 30)"#,
        28,
        "unknown field `remind_every_min` in `notify` (allowed fields: webhooks, commands, remind_every_mins) (fix: did \
         you mean `remind_every_mins`?)",
    );
    refused(
        r#"notify: (remind_every_mins: 10081)"#,
        47,
        "notify.remind_every_mins must be between 0 (never remind) and 10080 (a week), not 10081 (fix: leave it out \
         to be reminded every 60 minutes)",
    );
    refused(
        r#"notify: (remind_every_mins: -1)"#,
        47,
        "notify.remind_every_mins must be between 0 (never remind) and 10080 (a week), not -1 (fix: leave it out to \
         be reminded every 60 minutes)",
    );
}

#[test]
fn webhooks_are_checked() {
    refused(
        r#"notify: (webhooks: "https://hooks.example.com/cellar")"#,
        38,
        "invalid value for `notify.webhooks`: expected a list of `(url: \"...\", body: Json)` (fix: write it like \
         `webhooks: [(url: \"https://hooks.example.com/cellar\"), (url: \
         \"https://hooks.slack.com/services/T0/B0/x\", body: Slack)]`)",
    );
    refused(
        r#"notify: (webhooks: ["https://hooks.example.com/cellar"])"#,
        39,
        "invalid entry in `notify.webhooks`: expected `(url: \"...\", body: Json)` (fix: write it like `webhooks: \
         [(url: \"https://hooks.example.com/cellar\"), (url: \"https://hooks.slack.com/services/T0/B0/x\", body: \
         Slack)]`)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://hooks.example.com/cellar", method: POST)])"#,
        81,
        "unknown field `method` in a webhook (allowed fields: url, body)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://hooks.example.com/a"), (body: Slack)])"#,
        77,
        "webhook 2 has no `url` (fix: add `url: \"https://hooks.example.com/cellar\"`)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://hooks.example.com/cellar", body: Teams)])"#,
        87,
        "invalid value for `notify.webhooks.body`: expected `Json` or `Slack`, not `Teams` (fix: write it like \
         `body: Slack`)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://{dns_name}/hook")])"#,
        45,
        "invalid webhook URL \"https://{dns_name}/hook\": a webhook URL has no placeholders ({dns_name} and \
         {address} are the health check's) (fix: write the URL in full: it is the same for every server)",
    );
    refused(
        r#"notify: (webhooks: [(url: "hooks.example.com/cellar")])"#,
        45,
        "invalid webhook URL \"hooks.example.com/cellar\": it does not start with http:// or https:// (fix: write \
         it like `https://hooks.example.com/cellar`)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://bot:token@hooks.example.com/cellar")])"#,
        45,
        "invalid webhook URL \"https://bot:token@hooks.example.com/cellar\": it has a user name or password in it \
         (`user:password@`) (fix: leave them out: `cellar config` and the watch's output show the URL)",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://hooks example.com/")])"#,
        45,
        "invalid webhook URL \"https://hooks example.com/\": it contains white space or a control character (fix: \
         leave it out, or percent-encode it (a space is %20))",
    );
    refused(
        r#"notify: (webhooks: [(url: "https://hooks.example.com:99999/")])"#,
        45,
        "invalid webhook URL \"https://hooks.example.com:99999/\": its port \"99999\" is not a number from 1 to \
         65535 (fix: write it like `https://hooks.example.com/cellar`: a host name or an IP address, then an \
         optional :port)",
    );
}

#[test]
fn commands_are_a_program_and_its_arguments() {
    let example = "`commands: [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]]`";
    let program_fix =
        "give the program's absolute path (/usr/local/bin/page-oncall) or its name on the watch's PATH (page-oncall)";
    refused(
        r#"notify: (commands: "/usr/local/bin/page-oncall")"#,
        38,
        &format!(
            "invalid value for `notify.commands`: expected a list of commands, each a list of strings (fix: write it like {example})"
        ),
    );
    refused(
        r#"notify: (commands: ["/usr/local/bin/page-oncall --team web"])"#,
        39,
        &format!(
            "invalid entry in `notify.commands`: expected a list of strings (the program, then its arguments) (fix: write it like {example})"
        ),
    );
    refused(
        r#"notify: (commands: [["/usr/local/bin/page-oncall", 7]])"#,
        70,
        &format!("invalid value for `notify.commands`: Expected string (fix: write it like {example})"),
    );
    refused(
        r#"notify: (commands: [["page-oncall"], []])"#,
        56,
        &format!("command 2 of `notify.commands` is empty (fix: give the program, then its arguments: {example})"),
    );
    refused(
        r#"notify: (commands: [["", "--team"]])"#,
        40,
        &format!("the program of command 1 of `notify.commands` is empty (fix: {program_fix})"),
    );
    refused(
        r#"notify: (commands: [["bin/page-oncall"]])"#,
        40,
        &format!(
            "program \"bin/page-oncall\" is a relative path, which would depend on the directory the watch runs in (fix: {program_fix})"
        ),
    );
    refused(
        r#"notify: (commands: [["page-oncall --team web"]])"#,
        40,
        "program \"page-oncall --team web\" has white space in it: no shell splits it, the program and each argument \
         are strings of their own (fix: write it as [\"page-oncall\", \"--team\", \"web\"])",
    );
    refused(
        r#"notify: (commands: [["/usr/local/bin/page-oncall", "--team\u{0}web"]])"#,
        70,
        "argument 1 of command 1 of `notify.commands` contains a NUL byte, which no command line can hold (fix: remove it)",
    );
    // An absolute path may hold spaces.
    check(r#"notify: (commands: [["/opt/Page Oncall/bin/page"]])"#, &[]);
}

/// The effective `health_check` and `notify` of server `s`, as `cellar config` shows them.
fn check_entries(platform: &str, server: &str, expected: &[(&str, &str, &str)]) {
    let config = tree(platform, server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, String, String)> = config
        .entries()
        .into_iter()
        .filter(|(f, _, _)| f == "health_check" || f == "notify")
        .map(|(f, v, s)| (f, v, s.to_string()))
        .collect();
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(f, v, s)| (f.to_string(), v.to_string(), s.to_string())).collect();
    assert_eq!(got, expected, "platform: {platform}\nserver: {server}");
}

#[test]
fn a_later_layer_replaces_the_whole_value() {
    let platform = r#"(
    health_check: (http: "https://{address}/health", expect_status: 204),
    notify: (webhooks: [(url: "https://hooks.example.com/cellar")], remind_every_mins: 30),
)"#;
    check_entries(
        platform,
        r#"(platform: "web")"#,
        &[
            ("health_check", "(http: \"https://{address}/health\", expect_status: 204, timeout_secs: 5)", "cfg/platforms/web.ron:2:19"),
            ("notify", "(webhooks: [(url: \"https://hooks.example.com/cellar\", body: Json)], commands: [], remind_every_mins: 30)", "cfg/platforms/web.ron:3:13"),
        ],
    );
    // The server's check replaces the platform's whole (no expect_status of the platform's
    // is left on a TCP check); its `notify: ()` drops the platform's webhook.
    check_entries(
        platform,
        r#"(platform: "web", health_check: (tcp: "[2001:db8::1]:22", timeout_secs: 2), notify: ())"#,
        &[
            ("health_check", "(tcp: \"[2001:db8::1]:22\", timeout_secs: 2)", "cfg/servers/s.ron:1:33"),
            ("notify", "(webhooks: [], commands: [], remind_every_mins: 60)", "cfg/servers/s.ron:1:85"),
        ],
    );
    check_entries(
        "()",
        r#"(platform: "web", notify: (commands: [["/usr/local/bin/page-oncall", "--team", "web"]], webhooks: [(url: "https://hooks.slack.com/services/T0/B0/x", body: Slack)], remind_every_mins: 0))"#,
        &[
            ("health_check", "None", "(default)"),
            ("notify", "(webhooks: [(url: \"https://hooks.slack.com/services/T0/B0/x\", body: Slack)], commands: [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]], remind_every_mins: 0)", "cfg/servers/s.ron:1:27"),
        ],
    );
}

#[test]
fn the_built_values_are_what_the_watch_reads() {
    let server = r#"(platform: "web", dns_name: "s.example.com",
 health_check: (http: "https://{dns_name}/health", timeout_secs: 3),
 notify: (webhooks: [(url: "https://hooks.example.com/cellar"), (url: "https://hooks.slack.com/services/T0/B0/x", body: Slack)],
          commands: [["/usr/local/bin/page-oncall", "--team", "web"]], remind_every_mins: 15))"#;
    let config = tree("()", server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.health_check,
        Some(Sourced::new(
            HealthCheck {
                kind: HealthCheckKind::Http { url: "https://{dns_name}/health".into(), expect_status: 200 },
                timeout: Duration::from_secs(3),
            },
            Source { file: "cfg/servers/s.ron".into(), line: 2, column: 16 },
        ))
    );
    assert_eq!(
        config.notify.map(|n| n.value),
        Some(Notify {
            webhooks: vec![
                Webhook { url: "https://hooks.example.com/cellar".into(), body: WebhookBody::Json },
                Webhook { url: "https://hooks.slack.com/services/T0/B0/x".into(), body: WebhookBody::Slack },
            ],
            commands: vec![vec!["/usr/local/bin/page-oncall".into(), "--team".into(), "web".into()]],
            remind_every: Some(Duration::from_secs(15 * 60)),
        })
    );
    let build = |server: &str| tree("()", server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    let tcp = build(r#"(platform: "web", health_check: (tcp: "[2001:db8::1]:2222"))"#).health_check.unwrap().value;
    assert_eq!(
        tcp,
        HealthCheck {
            kind: HealthCheckKind::Tcp { host: "2001:db8::1".into(), port: 2222 },
            timeout: Duration::from_secs(5)
        }
    );
    let never = build(r#"(platform: "web", notify: (remind_every_mins: 0))"#).notify.unwrap().value;
    assert_eq!(never, Notify { webhooks: vec![], commands: vec![], remind_every: None });
    let default = build(r#"(platform: "web", notify: ())"#).notify.unwrap().value;
    assert_eq!(default.remind_every, Some(crate::monitoring::DEFAULT_REMIND_EVERY));
}

/// A plan records the launch settings, not how the watch looks at the server: adding a
/// health check or a webhook leaves a saved plan's settings as they were.
#[test]
fn plans_do_not_record_health_checks_or_notifications() {
    let without = tree("()", r#"(platform: "web")"#);
    let with = tree(
        r#"(notify: (webhooks: [(url: "https://hooks.example.com/cellar")]))"#,
        r#"(platform: "web", health_check: (tcp: "{address}:22"))"#,
    );
    let s = ServerName::new("s");
    let names = |t: &ConfigTree| -> Vec<String> { t.settings(&s).unwrap().iter().map(|x| x.name.clone()).collect() };
    assert_eq!(with.settings(&s).unwrap(), without.settings(&s).unwrap());
    assert!(!names(&with).iter().any(|n| n == "health_check" || n == "notify"), "{:?}", names(&with));
    let shown: Vec<String> = with.server(&s).unwrap().entries().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(shown[shown.len() - 3..shown.len() - 1], ["health_check", "notify"]);
}

/// A value that cannot be read is reported, and so are the problems of the rest of the
/// field; what seems missing because it could not be read is not.
#[test]
fn what_can_be_read_is_checked_too() {
    check(
        r#"health_check: (http: 80, timeout_secs: 0)"#,
        &[
            "cfg/servers/s.ron:1:40: invalid value for `health_check.http`: Expected string (fix: write it like `http: \"https://{dns_name}/health\"`)",
            "cfg/servers/s.ron:1:58: health_check.timeout_secs must be between 1 and 60 (seconds), not 0 (fix: leave it out for 5 seconds)",
        ],
    );
    check(
        r#"health_check: (htp: "http://{address}/")"#,
        &["cfg/servers/s.ron:1:34: unknown field `htp` in `health_check` (allowed fields: http, tcp, expect_status, timeout_secs) (fix: did you mean `http`?)"],
    );
    check(
        r#"notify: (webhooks: [(url: 7), (url: "https://a:b@hooks.example.com/", body: Teams)], commands: [[7, "x"], ["bin/x"]], remind_every_mins: 20000)"#,
        &[
            "cfg/servers/s.ron:1:45: invalid value for `notify.webhooks.url`: Expected string (fix: write it like `url: \"https://hooks.example.com/cellar\"`)",
            "cfg/servers/s.ron:1:55: invalid webhook URL \"https://a:b@hooks.example.com/\": it has a user name or password in it (`user:password@`) (fix: leave them out: `cellar config` and the watch's output show the URL)",
            "cfg/servers/s.ron:1:95: invalid value for `notify.webhooks.body`: expected `Json` or `Slack`, not `Teams` (fix: write it like `body: Slack`)",
            "cfg/servers/s.ron:1:116: invalid value for `notify.commands`: Expected string (fix: write it like `commands: [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]]`)",
            "cfg/servers/s.ron:1:126: program \"bin/x\" is a relative path, which would depend on the directory the watch runs in (fix: give the program's absolute path (/usr/local/bin/page-oncall) or its name on the watch's PATH (page-oncall))",
            "cfg/servers/s.ron:1:156: notify.remind_every_mins must be between 0 (never remind) and 10080 (a week), not 20000 (fix: leave it out to be reminded every 60 minutes)",
        ],
    );
}
