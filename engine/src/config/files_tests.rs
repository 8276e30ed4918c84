//! [`ConfigTree::load`] on real directories: what the file system can put in the way.

use super::*;

/// A config tree on disk with a global layer and one platform.
fn tree_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("platforms")).unwrap();
    std::fs::create_dir_all(dir.path().join("servers")).unwrap();
    std::fs::write(
        dir.path().join("global.ron"),
        r#"(region: "us-east-1", zone: "a", instance_type: "m5.large", ami_type: "web-server", architecture: "x86_64", instance_profile: "p")"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("platforms/web.ron"), "()").unwrap();
    std::fs::write(dir.path().join("servers/ok.ron"), r#"(platform: "web")"#).unwrap();
    dir
}

/// Loads `dir` and compares its problems (paths relative to `dir`) with `expected`.
fn check(dir: &Path, expected: &[&str]) {
    let got: Vec<String> = match ConfigTree::load(dir) {
        Ok(tree) => tree.all_problems(None).iter().map(|p| p.to_string()).collect(),
        Err(e) => e.0.iter().map(|p| p.to_string()).collect(),
    };
    let prefix = format!("{}/", dir.display());
    let got: Vec<String> = got.iter().map(|p| p.replace(&prefix, "")).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_dangling_symlink_in_servers_is_reported() {
    let dir = tree_dir();
    std::os::unix::fs::symlink("gone.ron", dir.path().join("servers/ghost.ron")).unwrap();
    check(
        dir.path(),
        &["servers/ghost.ron: is a symbolic link to gone.ron, which does not exist\n  fix: point the link at an existing file, or remove it"],
    );
}

#[test]
fn a_symlink_loop_in_servers_is_reported() {
    let dir = tree_dir();
    std::os::unix::fs::symlink("b.ron", dir.path().join("servers/a.ron")).unwrap();
    std::os::unix::fs::symlink("a.ron", dir.path().join("servers/b.ron")).unwrap();
    check(
        dir.path(),
        &[
            "servers/a.ron: is a symbolic link that leads round in a loop\n  fix: point the link at a real file, or remove it",
            "servers/b.ron: is a symbolic link that leads round in a loop\n  fix: point the link at a real file, or remove it",
        ],
    );
}

#[test]
fn a_directory_named_like_a_server_file_is_reported() {
    let dir = tree_dir();
    std::fs::create_dir(dir.path().join("servers/odd.ron")).unwrap();
    check(
        dir.path(),
        &["servers/odd.ron: is a directory, not a configuration file\n  fix: rename it so it does not end in .ron"],
    );
}

#[test]
fn a_symlink_to_a_real_server_file_is_read() {
    let dir = tree_dir();
    std::fs::write(dir.path().join("elsewhere.ron"), r#"(platform: "web", zone: "b")"#).unwrap();
    std::os::unix::fs::symlink("../elsewhere.ron", dir.path().join("servers/linked.ron")).unwrap();
    check(dir.path(), &[]);
    let tree = ConfigTree::load(dir.path()).unwrap();
    assert_eq!(tree.server(&ServerName::new("linked")).unwrap().zone.value, 'b');
}

#[test]
fn too_many_tags_for_aws() {
    let dir = tree_dir();
    let tags = |n: usize| (0..n).map(|i| format!("\"k{i:02}\": \"v\"")).collect::<Vec<_>>().join(", ");
    std::fs::write(dir.path().join("servers/ok.ron"), format!("(platform: \"web\", tags: {{{}}})", tags(48))).unwrap();
    check(dir.path(), &[]);
    std::fs::write(dir.path().join("servers/ok.ron"), format!("(platform: \"web\", tags: {{{}}})", tags(60))).unwrap();
    let got =
        ConfigTree::load(dir.path()).map(|t| t.all_problems(None).iter().map(|p| p.to_string()).collect::<Vec<_>>());
    let problems = got.unwrap_or_else(|e| e.0.iter().map(|p| p.to_string()).collect());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("server ok has 60 tags; AWS allows 50 per resource")
            && problems[0].contains("at most 48 can be configured"),
        "{problems:?}"
    );
}

#[test]
fn a_server_file_is_read_on_first_use_and_only_its_own() {
    let dir = tree_dir();
    std::os::unix::fs::symlink("gone.ron", dir.path().join("servers/ghost.ron")).unwrap();
    std::fs::write(dir.path().join("servers/typo.ron"), "(platform: \"web\" zone: \"b\")").unwrap();
    std::fs::write(dir.path().join("servers/Typo_2.ron"), "(platform: \"web\")").unwrap();
    let tree = ConfigTree::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.server_names(), ["ghost", "ok", "typo"].map(ServerName::new));
    assert_eq!(tree.misnamed_files().len(), 1);
    assert!(tree.parsed_servers().is_empty());
    // Read when first used, not when listed.
    std::fs::write(dir.path().join("servers/ok.ron"), r#"(platform: "web", zone: "c")"#).unwrap();
    assert_eq!(tree.server(&ServerName::new("ok")).unwrap().zone.value, 'c');
    assert_eq!(tree.parsed_servers(), ["ok"]);
    // The broken ones are refused for their own problems when they are used.
    let ghost = tree.server(&ServerName::new("ghost")).unwrap_err().to_string();
    assert!(ghost.ends_with("servers/ghost.ron: is a symbolic link to gone.ron, which does not exist\n  fix: point the link at an existing file, or remove it"), "{ghost}");
    let typo = tree.server(&ServerName::new("typo")).unwrap_err().to_string();
    assert!(typo.ends_with("servers/typo.ron:1:18: malformed RON: Expected comma"), "{typo}");
}

#[test]
fn an_unlistable_servers_directory_stops_every_command() {
    let dir = tree_dir();
    std::fs::remove_dir_all(dir.path().join("servers")).unwrap();
    std::fs::write(dir.path().join("servers"), "not a directory").unwrap();
    // No server can be found, so no command runs (not even one that names none).
    check(dir.path(), &["servers: cannot read the file: Not a directory (os error 20)"]);
}
