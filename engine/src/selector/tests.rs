use super::*;
use std::path::Path;

const GLOBAL: &str = "(region: \"us-east-1\", zone: \"a\", instance_type: \"t3.small\", ami_type: \"web-server\", architecture: \"x86_64\", instance_profile: \"cellar-agent\", tags: {\"team\": \"ops\"})";

fn tree() -> ConfigTree {
    let files = [
        ("global.ron", GLOBAL),
        ("platforms/web.ron", "(tags: {\"team\": \"web\"})"),
        ("platforms/db.ron", "()"),
        ("platforms/empty.ron", "()"),
        ("servers/web-1.ron", "(platform: \"web\")"),
        ("servers/web-2.ron", "(platform: \"web\")"),
        ("servers/web-10.ron", "(platform: \"web\", tags: {\"team\": \"shop\"})"),
        ("servers/db-1.ron", "(platform: \"db\")"),
    ];
    ConfigTree::from_files(Path::new("cfg"), files)
}

/// `text` → the servers it selects, or the first line of its error.
fn check(text: &str, expected: Result<&[&str], &str>) {
    let got = Selector::parse(text).and_then(|s| s.select(&tree()));
    let got = got
        .map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string());
    let expected = expected.map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(String::from);
    assert_eq!(got, expected, "{text}");
}

#[test]
fn every_form_selects_what_it_says() {
    check("web-1", Ok(&["web-1"]));
    check("workspace-3", Ok(&["workspace-3"])); // a lone name is the command's to resolve
    check("web-2,db-1", Ok(&["db-1", "web-2"]));
    check("web-1,web-1", Ok(&["web-1"]));
    check("all", Ok(&["db-1", "web-1", "web-10", "web-2"]));
    check("web-*", Ok(&["web-1", "web-10", "web-2"]));
    check("web-?", Ok(&["web-1", "web-2"]));
    check("*-1*", Ok(&["db-1", "web-1", "web-10"]));
    check("db-1,web-1?", Ok(&["db-1", "web-10"]));
    check("platform=web", Ok(&["web-1", "web-10", "web-2"]));
    check("platform=db", Ok(&["db-1"]));
    check("tag:team=web", Ok(&["web-1", "web-2"]));
    check("tag:team=shop", Ok(&["web-10"]));
    check("tag:team=ops", Ok(&["db-1"]));
}

#[test]
fn a_selector_that_selects_nothing_or_is_malformed_is_refused() {
    check("mail-*", Err("selector mail-* selects no server (known: db-1, web-1, web-10, web-2)"));
    check("platform=empty", Err("selector platform=empty selects no server (known: db, empty, web)"));
    check("tag:team=none", Err("selector tag:team=none selects no server (known: db-1, web-1, web-10, web-2)"));
    check(
        "web-1,mail",
        Err("selector web-1,mail: mail is not a configured server (known: db-1, web-1, web-10, web-2)"),
    );
    check("web-1,", Err("selector \"web-1,\": an empty item in the list"));
    check("Web-*", Err("selector \"Web-*\": glob \"Web-*\" can only match server names (a-z, 0-9, -)"));
    check("tag:team", Err("selector \"tag:team\": a tag selector is tag:KEY=VALUE"));
    check("platform=", Err("selector \"platform=\": \"\" is not a platform name"));
    assert!(Selector::parse("bad name").is_err());
}

#[test]
fn globs_match_as_shells_do() {
    for (glob, name, expected) in [
        ("*", "a", true),
        ("*", "", true),
        ("a*b", "ab", true),
        ("a*b", "axxb", true),
        ("a*b", "axxbc", false),
        ("a*b*c", "abxbc", true),
        ("?", "", false),
        ("??", "ab", true),
        ("web-*-db", "web-1-2-db", true),
        ("web-*-db", "web-1-2-dbx", false),
    ] {
        assert_eq!(glob_matches(glob, name), expected, "{glob} {name}");
    }
}

#[test]
fn a_selector_prints_as_written() {
    for text in ["web-1", "web-1,db-*", "all", "platform=web", "tag:team=web"] {
        assert_eq!(Selector::parse(text).unwrap().to_string(), text);
    }
}
