//! `backups`: the forms accepted, `cellar check`'s problems (each at its value, with its
//! fix), layering, the built policy and `cellar config`'s entry.

use super::field_checks::{check, check_files, refused, tree};
use super::*;
use crate::backup::BackupPolicy;

#[test]
fn the_documented_forms_are_accepted() {
    for fields in [
        r#"backups: (daily_at: "03:00", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: ["us-west-2"])"#,
        r#"backups: (keep_daily: 14)"#,
        r#"backups: (daily_at: "00:00", keep_daily: 0, keep_weekly: 0, keep_monthly: 3650)"#,
        r#"backups: (daily_at: "23:59", copy_to: [])"#,
        r#"backups: (copy_to: ["us-west-2", "eu-west-1"])"#,
        r#"backups: ()"#,
        r#"backups: Off"#,
    ] {
        check(fields, &[]);
    }
}

#[test]
fn backups_is_a_struct_or_off_with_known_fields() {
    let example =
        "`backups: (daily_at: \"03:00\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [\"us-west-2\"])`";
    for value in ["None", "false", "\"03:00\"", "On"] {
        refused(
            &format!("backups: {value}"),
            28,
            &format!(
                "invalid value for `backups`: expected `(daily_at: \"03:00\", keep_daily: 8, ...)` or `Off` (fix: write it like {example})"
            ),
        );
    }
    refused(
        r#"backups: (keep_dayly: 7)"#,
        29,
        "unknown field `keep_dayly` in `backups` (allowed fields: daily_at, keep_daily, keep_weekly, keep_monthly, \
         copy_to) (fix: did you mean `keep_daily`?)",
    );
    refused(
        r#"backups: (keep_daily: 7, keep_daily: 8)"#,
        44,
        "field `backups.keep_daily` is given twice (fix: remove one of them)",
    );
    refused(
        r#"backups: (keep_daily: "7")"#,
        41,
        "invalid value for `backups.keep_daily`: Expected integer (fix: write it like `keep_daily: 8`)",
    );
    refused(
        r#"backups: (daily_at: 3)"#,
        39,
        "invalid value for `backups.daily_at`: Expected string (fix: write it like `daily_at: \"03:00\"`)",
    );
}

#[test]
fn the_time_is_hh_mm_and_the_counts_in_range() {
    for time in ["24:00", "3:00", "03:60", "03:00:00", "3am", "", "-1:00", "０３:００"] {
        refused(
            &format!("backups: (daily_at: {time:?})"),
            39,
            &format!(
                "backups.daily_at must be a time of day from \"00:00\" to \"23:59\" (HH:MM, UTC), not {time:?} (fix: \
                 write it like `daily_at: \"03:00\"`)"
            ),
        );
    }
    for (field, value, default) in [("keep_daily", "-1", 8), ("keep_weekly", "3651", 4), ("keep_monthly", "100000", 3)]
    {
        let fields = format!("backups: ({field}: {value})");
        refused(
            &fields,
            (19 + fields.find(value).unwrap()) as u32,
            &format!("backups.{field} must be between 0 and 3650, not {value} (fix: leave it out for {default})"),
        );
    }
    refused(
        r#"backups: (keep_daily: 0, keep_weekly: 0, keep_monthly: 0)"#,
        28,
        "`backups` keeps no day, week or month: every backup but the newest would be deleted (fix: leave the counts \
         out for 8 days, 4 weeks and 3 months, or write `backups: Off` to take no backups)",
    );
}

#[test]
fn copies_go_to_other_known_regions_once() {
    refused(
        r#"backups: (copy_to: "us-west-2")"#,
        38,
        "invalid value for `backups.copy_to`: expected a list of regions (fix: write it like `copy_to: [\"us-west-2\"]`)",
    );
    refused(
        r#"backups: (copy_to: [2])"#,
        39,
        "invalid value for `backups.copy_to`: Expected string (fix: write it like `copy_to: [\"us-west-2\"]`)",
    );
    refused(
        r#"backups: (copy_to: ["us-west-3"])"#,
        39,
        "unknown region \"us-west-3\" in backups.copy_to (fix: did you mean \"us-west-1\"?)",
    );
    refused(
        r#"backups: (copy_to: ["mars-1"])"#,
        39,
        "unknown region \"mars-1\" in backups.copy_to (fix: known regions: us-east-1, us-east-2, us-west-1, \
         us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, \
         ap-southeast-2, sa-east-1)",
    );
    refused(
        r#"backups: (copy_to: ["us-west-2", "eu-west-1", "us-west-2"])"#,
        65,
        "region \"us-west-2\" is given twice in backups.copy_to (fix: remove one of them)",
    );
    // The server's own region: at the value, whichever layer writes it.
    refused(
        r#"backups: (copy_to: ["us-west-2", "us-east-1"])"#,
        52,
        "backups.copy_to names us-east-1, the region server s is in: a copy there is no safer than the backup \
         itself (fix: remove it, or copy to another region such as \"us-west-2\")",
    );
    let platform = r#"(backups: (copy_to: ["us-west-2"]))"#;
    check_files(platform, r#"(platform: "web")"#, &[]);
    check_files(
        platform,
        r#"(platform: "web", region: "us-west-2", zone: "a")"#,
        &["cfg/platforms/web.ron:1:22: backups.copy_to names us-west-2, the region server s is in: a copy there is \
           no safer than the backup itself (fix: remove it, or copy to another region such as \"us-east-1\")"],
    );
}

/// A value that cannot be read is reported, and so are the problems of the rest; what
/// depends on it (all counts zero) is not.
#[test]
fn what_can_be_read_is_checked_too() {
    check(
        r#"backups: (keep_daily: 0, keep_weekly: 0, keep_monthly: x, daily_at: "25:00", copy_to: ["us-east-1"])"#,
        &[
            "cfg/servers/s.ron:1:74: invalid value for `backups.keep_monthly`: Expected integer (fix: write it like `keep_monthly: 3`)",
            "cfg/servers/s.ron:1:87: backups.daily_at must be a time of day from \"00:00\" to \"23:59\" (HH:MM, UTC), not \"25:00\" (fix: write it like `daily_at: \"03:00\"`)",
            "cfg/servers/s.ron:1:106: backups.copy_to names us-east-1, the region server s is in: a copy there is no safer than the backup itself (fix: remove it, or copy to another region such as \"us-west-2\")",
        ],
    );
}

fn built(platform: &str, server: &str) -> Sourced<Option<BackupPolicy>> {
    tree(platform, server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}")).backups
}

/// The `backups` entry `cellar config` shows.
fn shown(platform: &str, server: &str) -> (String, String) {
    let config = tree(platform, server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    let (_, value, source) = config.entries().into_iter().find(|(f, _, _)| f == "backups").expect("a backups entry");
    (value, source.to_string())
}

#[test]
fn every_server_is_backed_up_unless_off_and_a_later_layer_replaces_the_value() {
    let defaults = "(daily_at: \"03:00\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [])";
    let s = |v: &str, at: &str| (v.to_string(), at.to_string());
    // Set nowhere: on, with the defaults.
    assert_eq!(built("()", r#"(platform: "web")"#), Sourced::default_value(Some(BackupPolicy::default())));
    assert_eq!(shown("()", r#"(platform: "web")"#), s(defaults, "(default)"));
    // The platform's value, the server's replacing it whole.
    let platform = r#"(backups: (daily_at: "01:30", copy_to: ["us-west-2"]))"#;
    assert_eq!(
        shown(platform, r#"(platform: "web")"#),
        s(
            "(daily_at: \"01:30\", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: [\"us-west-2\"])",
            "cfg/platforms/web.ron:1:11"
        )
    );
    assert_eq!(
        built(platform, r#"(platform: "web", backups: (keep_daily: 14, keep_monthly: 0))"#).value,
        Some(BackupPolicy { daily_at: (3, 0), keep_daily: 14, keep_weekly: 4, keep_monthly: 0, copy_to: vec![] })
    );
    assert_eq!(shown(platform, r#"(platform: "web", backups: Off)"#), s("Off", "cfg/servers/s.ron:1:28"));
    assert_eq!(built(platform, r#"(platform: "web", backups: Off)"#).value, None);
    // A server turns its platform's Off back into the defaults.
    assert_eq!(shown("(backups: Off)", r#"(platform: "web", backups: ())"#), s(defaults, "cfg/servers/s.ron:1:28"));
    assert_eq!(shown("(backups: Off)", r#"(platform: "web")"#), s("Off", "cfg/platforms/web.ron:1:11"));
}

/// A plan records the launch settings, not the backups: changing them leaves a saved
/// plan's settings as they were; `cellar config` shows them last.
#[test]
fn plans_do_not_record_backups() {
    let without = tree("()", r#"(platform: "web")"#);
    let with = tree(r#"(backups: (copy_to: ["us-west-2"]))"#, r#"(platform: "web", backups: (keep_daily: 30))"#);
    let off = tree("()", r#"(platform: "web", backups: Off)"#);
    let s = ServerName::new("s");
    assert_eq!(with.settings(&s).unwrap(), without.settings(&s).unwrap());
    assert_eq!(off.settings(&s).unwrap(), without.settings(&s).unwrap());
    assert!(!with.settings(&s).unwrap().iter().any(|x| x.name == "backups"));
    let shown: Vec<String> = with.server(&s).unwrap().entries().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(shown[shown.len() - 3..], ["health_check", "notify", "backups"]);
}
