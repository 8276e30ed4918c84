//! Spawn hooks at fleet scale: `cellar check` gives each distinct hook to the checker once
//! (a platform's hook is in the chain of every server on it), and resolving one server
//! does not resolve the others.

use super::*;
use std::cell::RefCell;

/// Counts the scripts it is given; a script containing `BROKEN` has an error on line 1.
#[derive(Default)]
struct Counting(RefCell<Vec<String>>);

impl HookChecker for Counting {
    fn check(&self, script: &str) -> Result<(), Vec<HookSyntaxError>> {
        self.0.borrow_mut().push(script.to_string());
        match script.contains("BROKEN") {
            true => Err(vec![HookSyntaxError { line: 1, message: "unexpected token".into() }]),
            false => Ok(()),
        }
    }
}

const GLOBAL: &str = "(region: \"us-east-1\", zone: \"a\", instance_type: \"t3.small\", ami_type: \"web-server\", architecture: \"x86_64\", instance_profile: \"cellar-agent\")";

/// A tree of `servers` servers on platform `web` (whose hook is `platform_hook`), the
/// servers in `own` with a hook of their own.
fn fleet(servers: usize, platform_hook: &str, own: &[(usize, &str)]) -> ConfigTree {
    let mut files = vec![
        ("global.ron".to_string(), GLOBAL.to_string()),
        ("platforms/web.ron".to_string(), format!("(spawn: {platform_hook:?})")),
    ];
    for n in 0..servers {
        let hook = own.iter().find(|(i, _)| *i == n).map(|(_, h)| format!(", spawn: {h:?}")).unwrap_or_default();
        files.push((format!("servers/web-{n}.ron"), format!("(platform: \"web\"{hook})")));
    }
    ConfigTree::from_files(Path::new("cfg"), files)
}

fn check(servers: usize, own: &[(usize, &str)], platform_hook: &str, expected_checked: usize, problems: &[&str]) {
    let tree = fleet(servers, platform_hook, own);
    let counting = Counting::default();
    let got: Vec<String> =
        tree.all_problems(Some(&counting)).iter().map(|p| format!("{}: {}", p.source, p.message)).collect();
    assert_eq!(got, problems, "{servers} servers, own hooks {own:?}");
    assert_eq!(counting.0.borrow().len(), expected_checked, "{:?}", counting.0.borrow());
}

#[test]
fn each_distinct_hook_is_checked_once() {
    check(50, &[], "echo ok", 1, &[]);
    check(50, &[(3, "echo other"), (7, "echo other"), (9, "echo third")], "echo ok", 3, &[]);
    check(
        20,
        &[],
        "BROKEN",
        1,
        &["cfg/platforms/web.ron:1:10: spawn hook: syntax error on line 1 of the script: unexpected token"],
    );
}

#[test]
fn one_server_is_resolved_alone() {
    let tree = fleet(100, "echo ok", &[]);
    let one = ServerName::parse("web-42").unwrap();
    assert_eq!(tree.server(&one).unwrap().name, one);
    let resolved: Vec<&ServerName> =
        tree.resolved.iter().filter(|(_, r)| r.config.get().is_some()).map(|(n, _)| n).collect();
    assert_eq!(resolved, [&one], "only the server asked for");
}
