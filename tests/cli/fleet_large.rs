//! The CLI on a generated configuration of 1,000 servers: one fleet
//! plan for all of them, saved and shown again, and `cellar status` of all of them, each in
//! one process of the real binary against the simulator.

use super::*;

const SERVERS: usize = 1000;

/// The fixture's global and platform files and `SERVERS` servers `web-0000`… on the
/// platform, every tenth with its own instance type.
fn generated_fleet() -> Cellar {
    let mut c = Cellar::new();
    let config = c.dir.path().join("config");
    std::fs::create_dir_all(config.join("platforms")).unwrap();
    std::fs::create_dir_all(config.join("servers")).unwrap();
    std::fs::copy(fixtures().join("config/global.ron"), config.join("global.ron")).unwrap();
    let platform = "platforms/debian-web.ron";
    std::fs::copy(fixtures().join("config").join(platform), config.join(platform)).unwrap();
    for i in 0..SERVERS {
        let own_type = if i % 10 == 0 { "    instance_type: \"m5.large\",\n" } else { "" };
        let text = format!("(\n    platform: \"debian-web\",\n{own_type}    tags: {{\"team\": \"web\"}},\n)\n");
        std::fs::write(config.join(format!("servers/web-{i:04}.ron")), text).unwrap();
    }
    c.config = config;
    c
}

/// `create-server@all 20`: every server planned (nine steps each, none refused), the
/// summary counts them, the saved plan shows the same text; then `upgrade-ami@all`
/// refuses every one (none auto-scales yet), naming the first refusals.
#[test]
fn a_thousand_servers_plan_as_one_fleet() {
    let c = generated_fleet();
    let r = c.ok(&["plan", "create-server@all", "20", "-o", "fleet.plan.ron"]);
    for needle in [
        format!("Plan for `create-server@all 20` in us-east-1:\n\n{SERVERS} servers selected by all:\n"),
        format!("\n  {SERVERS} to change, 0 without changes, 0 refused.\n"),
        "\n  web-0000      9  no        \n".to_string(),
        "\n  web-0999      9  no        \n".to_string(),
        "\nweb-0999:\n\n  + #8992 allocate Elastic IP for web-0999\n".to_string(),
    ] {
        assert!(r.stdout.contains(&needle), "no {needle:?} in the plan's first lines:\n{}", head(&r.stdout));
    }
    assert_eq!(r.stdout.matches(" allocate Elastic IP for web-").count(), SERVERS, "{}", head(&r.stdout));
    let shown = c.ok(&["show", "fleet.plan.ron"]);
    assert_eq!(shown.stdout, r.stdout.split("\nSaved the plan").next().unwrap());

    let r = c.run(&["plan", "upgrade-ami@all"]);
    assert_eq!(r.code, 1, "{}", head(&r.stdout));
    assert!(
        r.stderr.starts_with(
            "error: upgrade-ami@all refuses every server it selects:\n  web-0000: web-0000 is not auto-scaling"
        ),
        "{}",
        head(&r.stderr)
    );
    assert_eq!(r.stderr.matches(" is not auto-scaling (it has no auto scaling group)").count(), SERVERS);
}

/// `cellar status all` reports every server, none of which exists yet.
#[test]
fn status_of_a_thousand_servers() {
    let c = generated_fleet();
    let r = c.ok(&["status", "all", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let servers = report["servers"].as_array().unwrap();
    assert_eq!(servers.len(), SERVERS);
    assert_eq!(servers[0]["name"], "web-0000");
    assert_eq!(servers[SERVERS - 1]["name"], "web-0999");
    let absent = servers.iter().filter(|s| s["health"] == servers[0]["health"]).count();
    assert_eq!(absent, SERVERS, "every server alike: {}", servers[0]);
}

/// The first 40 lines, for failure messages.
fn head(text: &str) -> String {
    text.lines().take(40).collect::<Vec<_>>().join("\n")
}
