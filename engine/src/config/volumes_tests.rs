//! `volumes`: parsing, `cellar check`'s problems, the effective volumes and `cellar config`'s entries.

use super::*;
use std::path::Path;

const GLOBAL: &str = r#"(region: "us-east-1", zone: "a", instance_type: "m5.large", ami_type: "web-server",
 architecture: "x86_64", instance_profile: "cellar-agent", persist: ["/etc", "/var/lib/mysql"])"#;

fn tree(server: &str) -> ConfigTree {
    ConfigTree::from_files(
        Path::new("cfg"),
        [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/s.ron", server)],
    )
}

struct NoHooks;
impl HookChecker for NoHooks {
    fn check(&self, _: &str) -> Result<(), Vec<HookSyntaxError>> {
        Ok(())
    }
}

/// Every problem of the tree with server file `server`, as `line:column: message`.
fn check(server: &str, expected: &[&str]) {
    let got: Vec<String> = tree(server)
        .all_problems(Some(&NoHooks))
        .iter()
        .map(|p| format!("{}:{}: {}", p.source.line, p.source.column, p.message))
        .collect();
    assert_eq!(got, expected, "server file:\n{server}");
}

#[test]
fn volumes_are_checked() {
    let ok = r#"(platform: "web", volumes: [
  (device: "/dev/sdf", mount: "/data", persist: ["/etc"]),
  (device: "/dev/sdg", size_gb: 200, mount: "/srv/db", persist: ["/var/lib/mysql"]),
])"#;
    check(ok, &[]);
    check(r#"(platform: "web", volumes: [])"#, &["1:28: `volumes` is empty: a server has at least one data volume"]);
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/etc"]), (device: "/dev/sdf", mount: "/data", persist: ["/etc"])])"#,
        &[
            "1:86: volume 2 has no `size_gb` (only the first volume's size can come from create-server's <ebs-gb>)",
            "1:95: device \"/dev/sdf\" is given to two volumes (the other at cfg/servers/s.ron:1:38)",
            "1:114: mount point \"/data\" is given to two volumes (the other at cfg/servers/s.ron:1:57)",
            "1:133: persisted directory \"/etc\" is given to two volumes (the other at cfg/servers/s.ron:1:76)",
        ],
    );
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sda1", mount: "data", persist: ["/etc"]), (size_gb: 0)])"#,
        &[
            "1:38: invalid volume device: /dev/sda1 is the root device's name",
            "1:58: mount point \"data\" is not an absolute path",
            "1:86: volume 2 has no `device`",
            "1:86: volume 2 has no `mount`",
            "1:96: size_gb must be between 1 and 65536 (GiB, the smallest and largest EBS volumes), not 0",
        ],
    );
    check(
        r#"(platform: "web", volumes: [(device: "/dev/xvdg", mount: "/", persist: ["/etc"]), (device: "/dev/sdh", size_gb: 20, mount: "/srv/a b")])"#,
        &[
            "1:58: mount point \"/\" is the root file system",
            "1:124: mount point \"/srv/a b\" contains white space, which /etc/fstab cannot hold",
        ],
    );
}

#[test]
fn mount_points_do_not_hide_each_other() {
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data/", persist: ["/etc"]), (device: "/dev/sdg", size_gb: 9, mount: "/data/db")])"#,
        &["1:127: mount point \"/data/db\" is inside another volume's mount point \"/data/\" (cfg/servers/s.ron:1:57)"],
    );
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/srv"]), (device: "/dev/sdg", size_gb: 9, mount: "/srv/db")])"#,
        &["1:126: mount point \"/srv/db\" is inside persisted directory \"/srv\" (cfg/servers/s.ron:1:76), whose bind mount would hide it"],
    );
    // Side by side, and a name that only starts like another, are fine.
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/etc"]), (device: "/dev/sdg", size_gb: 9, mount: "/database")])"#,
        &[],
    );
}

#[test]
fn volume_entries_are_parsed_with_their_places() {
    check(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", colour: 1)])"#,
        &["1:66: unknown field `colour` in a volume (allowed fields: device, size_gb, mount, persist)"],
    );
    check(
        r#"(platform: "web", volumes: ["/dev/sdf"])"#,
        &["1:29: invalid entry in `volumes`: expected `(device: ..., size_gb: ..., mount: ..., persist: [...])`"],
    );
    check(
        r#"(platform: "web", volumes: [(device: 5, mount: "/data")])"#,
        &["1:38: invalid value for `volumes.device`: Expected string"],
    );
}

#[test]
fn sizes_follow_the_ebs_type_and_persist_is_inherited_once() {
    // st1 volumes are 125 GiB at least; the first volume inherits the top-level `persist`,
    // which already holds /var/lib/mysql.
    check(
        r#"(platform: "web", ebs: (type: st1), volumes: [(device: "/dev/sdf", size_gb: 500, mount: "/data"), (device: "/dev/sdg", size_gb: 20, mount: "/srv/db", persist: ["/var/lib/mysql"])])"#,
        &[
            "1:129: size_gb 20 is outside st1 volumes' 125 to 16384 GiB",
            "1:161: persisted directory \"/var/lib/mysql\" is on this volume and, through `persist` (cfg/global.ron:2:78), on the first volume",
        ],
    );
}

fn entries(server: &str) -> Vec<(String, String, String)> {
    let config = tree(server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    config
        .entries()
        .into_iter()
        .filter(|(f, _, _)| f.starts_with("volumes"))
        .map(|(f, v, s)| (f, v, s.to_string()))
        .collect()
}

fn check_entries(server: &str, expected: &[(&str, &str, &str)]) {
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(f, v, s)| (f.to_string(), v.to_string(), s.to_string())).collect();
    assert_eq!(entries(server), expected, "{server}");
}

#[test]
fn effective_volumes_with_origins() {
    check_entries(r#"(platform: "web")"#, &[("volumes", "None", "(default)")]);
    check_entries(
        r#"(platform: "web", ebs_size_gb: 40,
 volumes: [(device: "/dev/sdf", mount: "/data"), (device: "/dev/sdg", size_gb: 200, mount: "/srv/db", persist: ["/srv/x"])])"#,
        &[
            ("volumes[0].device", "\"/dev/sdf\"", "cfg/servers/s.ron:2:21"),
            ("volumes[0].size_gb", "40", "cfg/servers/s.ron:1:32"),
            ("volumes[0].mount", "\"/data\"", "cfg/servers/s.ron:2:40"),
            ("volumes[0].persist", "[\"/etc\", \"/var/lib/mysql\"]", "cfg/global.ron:2:69"),
            ("volumes[1].device", "\"/dev/sdg\"", "cfg/servers/s.ron:2:59"),
            ("volumes[1].size_gb", "200", "cfg/servers/s.ron:2:80"),
            ("volumes[1].mount", "\"/srv/db\"", "cfg/servers/s.ron:2:92"),
            ("volumes[1].persist", "[\"/srv/x\"]", "cfg/servers/s.ron:2:112"),
        ],
    );
}

/// (server file, expected persist and volumes as the agent gets them).
fn check_agent(server: &str, expected_persist: &[&str], expected_volumes: &[&str]) {
    let config = tree(server).server(&ServerName::new("s")).unwrap_or_else(|e| panic!("{e}"));
    let (persist, volumes) = agent_volumes(&config.volumes.value);
    let volumes: Vec<String> =
        volumes.iter().map(|v| format!("{}={}:{}", v.device, v.mount, v.persist.join(","))).collect();
    assert_eq!(
        (persist, volumes),
        (
            expected_persist.iter().map(|s| s.to_string()).collect(),
            expected_volumes.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        )
    );
}

#[test]
fn one_volume_at_the_default_place_is_written_as_before() {
    check_agent(r#"(platform: "web")"#, &["/etc", "/var/lib/mysql"], &[]);
    check_agent(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/etc"])])"#,
        &["/etc"],
        &[],
    );
    check_agent(
        r#"(platform: "web", volumes: [(device: "/dev/sdh", mount: "/data", persist: ["/etc"])])"#,
        &[],
        &["/dev/sdh=/data:/etc"],
    );
    check_agent(
        r#"(platform: "web", volumes: [(device: "/dev/sdf", mount: "/data", persist: ["/etc"]), (device: "/dev/sdg", size_gb: 9, mount: "/db", persist: ["/var/lib/mysql"])])"#,
        &[],
        &["/dev/sdf=/data:/etc", "/dev/sdg=/db:/var/lib/mysql"],
    );
}
