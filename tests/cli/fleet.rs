//! Fleets: selectors (`web-*`, `all`, `platform=NAME`, `tag:KEY=VALUE`, lists) on the
//! commands that take them.

use super::*;

/// (selector, the servers `cellar status SELECTOR --format json` reports, in order)
#[test]
fn status_takes_a_selector() {
    let c = Cellar::new();
    for (selector, expected) in [
        ("o*,duvel", &["duvel", "ommegang"][..]),
        ("all", &["achel", "chimay", "duvel", "kwak", "ommegang"]),
        ("platform=debian-web", &["achel", "chimay", "duvel", "kwak", "ommegang"]),
        ("tag:team=web", &["duvel", "ommegang"]),
        ("?hima?", &["chimay"]),
    ] {
        let r = c.ok(&["status", selector, "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let names: Vec<&str> =
            report["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{selector}");
        assert_eq!(report["workspaces"], serde_json::json!([]), "{selector}");
    }
    let r = c.run(&["status", "nope-*"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("selector nope-* selects no server (known: achel, chimay, duvel, kwak, ommegang)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: write a name, a comma list"), "{}", r.stderr);
}
