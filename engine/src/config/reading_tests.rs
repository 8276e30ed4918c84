//! Which files a command reads: a server's own file, its platform's and global.ron, never
//! the other servers' (a mistake in one server's file does not block a command about
//! another), while `check` reads everything and selectors read what they need.

use super::*;
use crate::selector::Selector;

const DIR: &str = "cfg";

const GLOBAL: &str = r#"(region: "us-east-1", zone: "a", instance_type: "m5.large", ami_type: "web-server", architecture: "x86_64", instance_profile: "cellar-agent", tags: {"team": "ops"})"#;

/// Platforms web and db; servers web-1 and web-2 on web, db-1 on db; then `changes`
/// (a file replaced or added).
fn tree(changes: &[(&str, &str)]) -> ConfigTree {
    let mut files: BTreeMap<&str, &str> = [
        ("global.ron", GLOBAL),
        ("platforms/web.ron", r#"(tags: {"team": "web"})"#),
        ("platforms/db.ron", r#"(instance_type: "t3.small")"#),
        ("servers/web-1.ron", r#"(platform: "web")"#),
        ("servers/web-2.ron", r#"(platform: "web", zone: "b")"#),
        ("servers/db-1.ron", r#"(platform: "db", tags: {"team": "db"})"#),
    ]
    .into_iter()
    .collect();
    files.extend(changes.iter().copied());
    ConfigTree::from_files(Path::new(DIR), files)
}

fn render(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| p.to_string()).collect()
}

/// A problem in another server's file (or in a platform web-1 does not use): web-1
/// resolves, reading no server file but its own; `check` reports the problem.
#[test]
fn a_server_is_not_refused_for_another_servers_file() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("servers/web-2.ron", "(\n  platform: \"web\",\n  zone: \"b\"\n  tags: {},\n)\n", &[
            "cfg/servers/web-2.ron:4:3: malformed RON: Expected comma",
        ]),
        ("servers/web-2.ron", r#"(platform: "web", zonne: "b")"#, &[
            "cfg/servers/web-2.ron:1:19: unknown field `zonne` (allowed fields: platform, region, zone, instance_type, ami_type, architecture, ebs_size_gb, auto_scale_capacity, persist, dns_name, tags, spawn, launch, instance_profile, security_groups, vpc, subnets, key_name, metadata, ebs, root_volume_gb, volumes, health_check, notify, backups)\n  fix: did you mean `zone`?",
        ]),
        ("servers/web-2.ron", r#"(platform: "web", zone: "z")"#, &[
            "cfg/servers/web-2.ron:1:25: zone \"z\" does not exist in region us-east-1 (its zones are a, b, c, d, e, f)\n  fix: use one of a, b, c, d, e, f",
        ]),
        ("servers/web-2.ron", r#"(platform: "wev")"#, &[
            "cfg/servers/web-2.ron:1:12: unknown platform \"wev\": cfg/platforms/wev.ron does not exist\n  fix: did you mean \"web\"? (platforms: db, web)",
        ]),
        ("servers/Web_3.ron", r#"(platform: "web", zone: "bb")"#, &[
            "cfg/servers/Web_3.ron:1:1: the file name is not a valid server name: invalid server name \"Web_3\": it does not start with a lowercase letter (use 1-63 lowercase letters, digits and '-', starting with a letter)\n  fix: rename it to cfg/servers/web-3.ron",
            "cfg/servers/Web_3.ron:1:25: zone must be a single letter such as \"a\", not \"bb\"\n  fix: write only the zone's letter: zone: \"b\"",
        ]),
        ("platforms/db.ron", r#"(instance_type: 3)"#, &[
            "cfg/platforms/db.ron:1:17: invalid value for `instance_type`: Expected string\n  fix: write it like `instance_type: \"m5.large\"`",
        ]),
    ];
    for (file, text, expected) in cases {
        let t = tree(&[(file, text)]);
        let web1 = t.server(&ServerName::new("web-1"));
        assert!(web1.is_ok(), "{file}: {web1:?}");
        assert_eq!(t.parsed_servers(), ["web-1"], "{file}");
        assert_eq!(render(&t.all_problems(None)), *expected, "{file}");
    }
    // The other server itself is refused with those problems (the misnamed file is no server).
    let t = tree(&[("servers/web-2.ron", r#"(platform: "web", zone: "z")"#)]);
    assert_eq!(render(&t.server(&ServerName::new("web-2")).unwrap_err().0), render(&t.all_problems(None)));
}

/// A problem in the server's own file, its platform's or global.ron refuses it, with the
/// problems `check` reports for those files.
#[test]
fn a_server_is_refused_for_its_own_files_with_the_messages_of_check() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("servers/web-1.ron", "(platform: \"web\",\n zone: \"b\"\n)x", &[
            "cfg/servers/web-1.ron:3:2: malformed RON: Non-whitespace trailing characters",
        ]),
        ("servers/web-1.ron", r#"(platform: "web", ebs_size_gb: 0)"#, &[
            "cfg/servers/web-1.ron:1:32: ebs_size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not 0",
        ]),
        ("servers/web-1.ron", r#"(zone: "b")"#, &[
            "cfg/servers/web-1.ron:1:1: server file does not name its `platform`\n  fix: add `platform: \"db\"` (platforms: db, web)",
        ]),
        ("platforms/web.ron", r#"(tags: {"team": "web"}, instance_type: "m5.larg")"#, &[
            "cfg/platforms/web.ron:1:40: unknown instance type \"m5.larg\"\n  fix: did you mean \"m5.large\"?",
        ]),
        ("global.ron", &GLOBAL.replace("\"x86_64\"", "\"amd64\""), &[
            "cfg/global.ron:1:99: unknown architecture \"amd64\" (known: x86_64, i386, arm64)\n  fix: did you mean \"x86_64\"?",
        ]),
    ];
    for (file, text, expected) in cases {
        let t = tree(&[(file, text)]);
        let err = t.server(&ServerName::new("web-1")).unwrap_err();
        assert_eq!(render(&err.0), *expected, "{file}");
        assert_eq!(t.parsed_servers(), ["web-1"], "{file}");
        let all = render(&t.all_problems(None));
        assert!(expected.iter().all(|p| all.contains(&p.to_string())), "{file}: check reports {all:#?}");
    }
}

/// A selector, on the base tree with `change`: the servers it selects (or the first two
/// lines of its error), and the server files it read.
#[test]
fn selectors_read_what_they_need() {
    let broken = ("servers/web-2.ron", "(platform: \"web\" zone: \"b\")");
    let bad_zone = ("servers/web-2.ron", r#"(platform: "web", zone: "z")"#);
    let bad_platform_value = ("servers/web-2.ron", r#"(platform: 3)"#);
    let bad_tags = ("servers/web-2.ron", r#"(platform: "web", tags: ["a"])"#);
    let unknown_platform = ("servers/web-2.ron", r#"(platform: "wev")"#);
    let broken_platform = ("platforms/web.ron", r#"(tags: {"team": "web"}"#);
    let all: &[&str] = &["db-1", "web-1", "web-2"];
    let cannot_tell = |selector: &str, server: &str, problem: &str| {
        format!("selector {selector}: cannot tell whether {server} is selected, its files have problems:\n  {problem}")
    };
    /// (file changed, selector, what it selects or its error, the server files read)
    type Case<'a> = ((&'a str, &'a str), &'a str, Result<&'a [&'a str], String>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        // Names, lists, globs and `all` need only the listing.
        (broken, "all", Ok(all), &[]),
        (broken, "web-*", Ok(&["web-1", "web-2"]), &[]),
        (broken, "web-1,db-1", Ok(&["db-1", "web-1"]), &[]),
        // `platform=` reads each server file as far as its platform.
        (bad_zone, "platform=db", Ok(&["db-1"]), all),
        (unknown_platform, "platform=db", Ok(&["db-1"]), all),
        (broken_platform, "platform=db", Ok(&["db-1"]), all),
        (
            broken,
            "platform=db",
            Err(cannot_tell("platform=db", "web-2", "cfg/servers/web-2.ron:1:18: malformed RON: Expected comma")),
            all,
        ),
        (
            bad_platform_value,
            "platform=db",
            Err(cannot_tell(
                "platform=db",
                "web-2",
                "cfg/servers/web-2.ron:1:12: invalid value for `platform`: Expected string",
            )),
            all,
        ),
        // `tag:` reads each server's files as far as their tags.
        (bad_zone, "tag:team=db", Ok(&["db-1"]), all),
        (
            bad_platform_value,
            "tag:team=web",
            Err(cannot_tell(
                "tag:team=web",
                "web-2",
                "cfg/servers/web-2.ron:1:12: invalid value for `platform`: Expected string",
            )),
            all,
        ),
        (
            bad_tags,
            "tag:team=db",
            Err(cannot_tell(
                "tag:team=db",
                "web-2",
                "cfg/servers/web-2.ron:1:25: invalid value for `tags`: expected a map of strings",
            )),
            all,
        ),
        (
            unknown_platform,
            "tag:team=db",
            Err(cannot_tell(
                "tag:team=db",
                "web-2",
                "cfg/servers/web-2.ron:1:12: unknown platform \"wev\": cfg/platforms/wev.ron does not exist",
            )),
            all,
        ),
        (
            broken_platform,
            "tag:team=db",
            Err(cannot_tell(
                "tag:team=db",
                "web-1",
                "cfg/platforms/web.ron:1:23: malformed RON: Unexpected end of RON",
            )),
            &["db-1", "web-1"],
        ),
    ];
    for ((file, text), selector, expected, read) in cases {
        let t = tree(&[(file, text)]);
        let got = Selector::parse(selector).unwrap().select(&t);
        let got = got
            .map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(|e| e.to_string().lines().take(2).collect::<Vec<_>>().join("\n"));
        let expected = expected.map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(got, expected, "{selector} with {file}: {text}");
        assert_eq!(t.parsed_servers(), read, "{selector} with {file}: {text}");
    }
}

/// What a listed server costs before it is read: a few hundred bytes, not a parsed layer
/// and a configuration (kilobytes each) reserved for every one of 10,000 servers.
#[test]
fn an_unread_server_is_small() {
    let unread = std::mem::size_of::<listing::ServerFile>() + std::mem::size_of::<Resolved>();
    assert!(unread <= 256, "{unread} bytes");
    assert!(std::mem::size_of::<Layer>() + std::mem::size_of::<ServerConfig>() > 1024);
}
