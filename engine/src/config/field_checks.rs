//! What the tests of one configuration field share: a tree of global.ron, one platform
//! file and one server file `s`, and `cellar check`'s problems of it as text.

use super::*;

pub(super) const GLOBAL: &str = r#"(region: "us-east-1", zone: "a", instance_type: "m5.large", ami_type: "web-server",
 architecture: "x86_64", instance_profile: "cellar-agent")"#;

pub(super) fn tree(platform: &str, server: &str) -> ConfigTree {
    ConfigTree::from_files(
        Path::new("cfg"),
        [("global.ron", GLOBAL), ("platforms/web.ron", platform), ("servers/s.ron", server)],
    )
}

/// Every problem `cellar check` reports for platform file `platform` and server file
/// `server`, as `file:line:column: message (fix: ...)`.
pub(super) fn check_files(platform: &str, server: &str, expected: &[&str]) {
    let got: Vec<String> = tree(platform, server)
        .all_problems(None)
        .iter()
        .map(|p| match &p.fix {
            Some(fix) => format!("{}: {} (fix: {fix})", p.source, p.message),
            None => format!("{}: {}", p.source, p.message),
        })
        .collect();
    assert_eq!(got, expected, "platform: {platform}\nserver: {server}");
}

/// The problems of server `s` setting `fields` (RON text after `platform: "web", `, so a
/// value's column is 19 plus its offset in `fields`).
pub(super) fn check(fields: &str, expected: &[&str]) {
    check_files("()", &format!("(platform: \"web\", {fields})"), expected);
}

pub(super) const AT: &str = "cfg/servers/s.ron:1:";

/// `check` of one field, expected to give exactly `problem` at column `column`.
pub(super) fn refused(fields: &str, column: u32, problem: &str) {
    check(fields, &[&format!("{AT}{column}: {problem}")]);
}
