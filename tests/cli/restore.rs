//! `restore-server@SERVER --at DATE|SNAPSHOT|now [--zone LETTER] [--delete-old]`: the
//! server's data volumes replaced by ones restored from its backups, the data honest (the
//! simulator's data generations), an availability-zone outage survived, and a failed
//! restore undone.

use super::backup::backup_generations;
use super::*;

/// kwak's data volumes: (device tag, volume id, zone, data generation), by device.
fn data_volumes(c: &Cellar, server: &str) -> Vec<(Option<String>, VolumeId, Zone, u64)> {
    let world = c.world();
    let mut out: Vec<_> = world
        .volumes()
        .values()
        .filter(|v| v.tags.get("Name").map(String::as_str) == Some(server))
        .filter(|v| v.tags.get("cellar:role").map(String::as_str) == Some("data"))
        .map(|v| {
            let generation = world.volume_generation(&v.id).expect("the world holds it");
            (v.tags.get("cellar:device").cloned(), v.id.clone(), v.zone.clone(), generation)
        })
        .collect();
    out.sort();
    out
}

impl Cellar {
    /// `days` days, each ended by the server's scheduled backup (as cron would take it).
    fn sim_advance_and_back_up(&self, server: &str, days: usize) {
        for _ in 0..days {
            self.ok(&["sim", "advance", "1d"]);
            self.ok(&["apply", &format!("backup@{server}"), "--due", "--yes"]);
        }
    }
}

/// Three days of backups, then the server back to the second day's: the restored volumes
/// hold exactly what those backups captured (their data generations), the old ones are
/// kept, tagged as replaced, and the server is healthy on the new ones.
#[test]
fn restore_returns_the_server_to_a_days_backups() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.sim_advance_and_back_up("kwak", 3);
    c.ok(&["sim", "advance", "5h"]);
    let backups = backup_generations(&c, "kwak");
    assert_eq!(backups.len(), 6, "{backups:?}");
    let day2 = &backups[2..4];
    let date = day2[0].0.taken_at().date();
    let old = data_volumes(&c, "kwak");
    assert!(old.iter().all(|(_, _, _, g)| *g > day2[0].1), "the volumes moved on since: {old:?}");

    let plan = c.ok(&["plan", "restore-server@kwak", "--at", &date]).stdout;
    let age = format!("Data as of {}", day2[0].0.taken_at().utc_minute());
    assert!(plan.contains(&age) && plan.contains(" old (the backups restored)"), "{plan}");
    for (b, _) in day2 {
        assert!(plan.contains(&format!("restored from snapshot {}", b.id())), "{plan}");
    }
    assert!(plan.contains("if the apply fails: swap the volumes back"), "{plan}");
    assert!(plan.contains("The replaced volumes vol-0001, vol-0002 stay"), "{plan}");
    c.ok(&["apply", "restore-server@kwak", "--at", &date, "--yes"]);

    let new = data_volumes(&c, "kwak");
    let restored: Vec<(Option<String>, u64)> = new.iter().map(|(d, _, _, g)| (d.clone(), *g)).collect();
    let wanted: Vec<(Option<String>, u64)> = {
        let mut w: Vec<_> = day2.iter().map(|(b, g)| (b.volume().device.clone(), *g)).collect();
        w.sort();
        w
    };
    // The new instance ran for a moment since: at most a generation or so later.
    for ((device, got), (_, captured)) in restored.iter().zip(&wanted) {
        assert!(got >= captured && *got <= captured + 2, "{device:?}: restored {got}, backup {captured}");
    }
    assert!(new.iter().all(|(_, id, _, _)| old.iter().all(|(_, o, _, _)| o != id)), "new volumes: {new:?}");
    let world = c.world();
    for (_, id, _, _) in &old {
        let v = &world.volumes()[id];
        assert_eq!(v.tags.get("cellar:role").map(String::as_str), Some("replaced"), "{v:?}");
        assert!(v.tags.contains_key("cellar:replaced-at"), "{v:?}");
    }
    assert_eq!(c.status("kwak")["health"], "healthy");
}

/// An availability-zone outage: kwak's zone can launch nothing and Amazon terminates its
/// instance, so its group cannot bring it back. `restore-server --at now --zone b`
/// snapshots its volumes, restores them in us-east-1b, moves the group there and is
/// healthy again, with no data lost (the generation its volumes had when it stopped).
#[test]
fn restore_moves_a_server_out_of_a_zone_outage() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["sim", "advance", "3h"]);
    let zone = data_volumes(&c, "kwak")[0].2.clone();
    assert_eq!(zone.as_str(), "us-east-1c");
    c.ok(&["sim", "capacity", "us-east-1c", "t3.medium", "0"]);
    c.ok(&["sim", "terminate", "kwak"]);
    c.ok(&["sim", "advance", "10m"]);
    assert_eq!(c.status("kwak")["health"], "down");
    let stopped = data_volumes(&c, "kwak");

    let plan = c.ok(&["plan", "restore-server@kwak", "--at", "now", "--zone", "b", "--delete-old"]).stdout;
    assert!(plan.contains("launch in us-east-1b"), "{plan}");
    assert!(plan.contains("kwak moves from us-east-1c to us-east-1b; set zone: \"b\" in"), "{plan}");
    assert!(plan.contains("Data as of the moment the server has stopped"), "{plan}");
    c.ok(&["apply", "restore-server@kwak", "--at", "now", "--zone", "b", "--delete-old", "--yes"]);
    let moved = data_volumes(&c, "kwak");
    assert_eq!(moved.len(), 2);
    for ((device, _, zone, got), (_, _, _, had)) in moved.iter().zip(&stopped) {
        assert_eq!(zone.as_str(), "us-east-1b", "{device:?}");
        assert!(got >= had && *got <= had + 2, "{device:?}: restored {got}, had {had}");
    }
    let world = c.world();
    assert!(stopped.iter().all(|(_, id, _, _)| !world.volumes().contains_key(id)), "--delete-old deleted them");
    let status = c.status("kwak");
    assert_eq!(status["health"], "healthy", "{status:#}");
    assert_eq!(status["instance"]["zone"], "us-east-1b", "{status:#}");
}

/// A restore into a zone that cannot launch fails at its health wait, and is undone: the
/// group goes back to its zone, the old volumes are the data volumes again, the restored
/// ones are deleted, and the server comes back as it was.
#[test]
fn a_failed_restore_leaves_the_server_as_it_was() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "backup@kwak", "--yes"]);
    c.ok(&["sim", "advance", "2h"]);
    let before = data_volumes(&c, "kwak");
    let volumes_before: Vec<VolumeId> = c.world().volumes().keys().cloned().collect();
    c.ok(&["sim", "capacity", "us-east-1b", "t3.medium", "0"]);
    let r = c.run(&["apply", "restore-server@kwak", "--at", "now", "--zone", "b", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("swap the volumes back") && r.stdout.contains("undone"), "{}", r.stdout);
    c.ok(&["sim", "advance", "10m"]);
    let after = data_volumes(&c, "kwak");
    let ids =
        |v: &[(Option<String>, VolumeId, Zone, u64)]| -> Vec<VolumeId> { v.iter().map(|x| x.1.clone()).collect() };
    assert_eq!(ids(&after), ids(&before));
    let world = c.world();
    let volumes_after: Vec<VolumeId> = world.volumes().keys().cloned().collect();
    assert_eq!(volumes_after, volumes_before, "the restored volumes are deleted");
    for (_, id, _, _) in &after {
        assert!(!world.volumes()[id].tags.contains_key("cellar:replaced-at"), "{id}");
    }
    let status = c.status("kwak");
    assert_eq!(status["health"], "healthy", "{status:#}");
    assert_eq!(status["instance"]["zone"], "us-east-1c", "{status:#}");
}

#[track_caller]
fn refused(c: &Cellar, args: &[&str], expected: &str) {
    let r = c.run(args);
    assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
    assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
}

/// Every refusal names what is wrong and the fix, and changes nothing.
#[test]
fn restore_refusals() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.ok(&["apply", "backup@kwak", "--yes"]);
    let restore = |more: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["plan", "restore-server@kwak"];
        args.extend(more);
        args
    };
    refused(&c, &restore(&[]), "restore-server@kwak needs --at");
    refused(&c, &restore(&["--at", "now"]), "give --zone LETTER");
    refused(
        &c,
        &restore(&["--at", "2020-01-01"]),
        "kwak has no completed backup of /dev/sdf at or before 2020-01-01 23:59 UTC",
    );
    refused(&c, &restore(&["--at", "snap-ffff"]), "snap-ffff is not a completed backup of kwak");
    refused(&c, &restore(&["--at", "yesterday"]), "--at \"yesterday\" is invalid");
    refused(&c, &restore(&["--at", "now", "--zone", "bb"]), "--zone \"bb\" is invalid");
    refused(&c, &restore(&["--at", "now", "--zone", "q"]), "zone us-east-1q (from --zone) does not exist in us-east-1");
    refused(&c, &restore(&["--at", "now", "--at", "snap-1"]), "--at is given more than once");
    refused(&c, &["plan", "restore-server@achel", "--at", "now", "--zone", "b"], "achel has no data volume");
}

/// A restore drill: a day's backups restored onto a new workspace, each at its device, the
/// data what the backups captured; kwak is not touched; destroy-workspace removes the
/// workspace and the restored volumes.
#[test]
fn a_drill_restores_onto_a_workspace_and_leaves_the_server_alone() {
    let c = Cellar::new();
    c.ok(&["apply", "create-server@kwak", "20", "--yes", "--dns-confirmed"]);
    c.sim_advance_and_back_up("kwak", 2);
    let backups = backup_generations(&c, "kwak");
    let first_day = &backups[0..2];
    let date = first_day[0].0.taken_at().date();
    let before = data_volumes(&c, "kwak");
    let instance_before = c.status("kwak")["instance"]["id"].clone();

    let plan = c.ok(&["plan", "restore-server@kwak", "--at", &date, "--drill"]).stdout;
    assert!(plan.contains("A restore drill: kwak is not touched. workspace-1 gets kwak's backups"), "{plan}");
    assert!(plan.contains("destroy-workspace@workspace-1 deletes it and them"), "{plan}");
    assert!(!plan.contains("update auto scaling group"), "{plan}");
    refused(
        &c,
        &["plan", "restore-server@kwak", "--at", &date, "--drill", "--delete-old"],
        "--drill and --delete-old do not go together",
    );
    c.ok(&["apply", "restore-server@kwak", "--at", &date, "--drill", "--yes"]);

    assert_eq!(
        data_volumes(&c, "kwak").iter().map(|v| &v.1).collect::<Vec<_>>(),
        before.iter().map(|v| &v.1).collect::<Vec<_>>()
    );
    assert_eq!(c.status("kwak")["instance"]["id"], instance_before);
    let world = c.world();
    let workspace: Vec<_> =
        world.volumes().values().filter(|v| v.tags.get("Name").map(String::as_str) == Some("workspace-1")).collect();
    assert_eq!(workspace.len(), 2, "{workspace:?}");
    for v in &workspace {
        let device = v.tags.get("cellar:device").cloned();
        let (_, captured) =
            first_day.iter().find(|(b, _)| b.volume().device == device).expect("a backup of its device");
        let attached = v.attached_to.as_ref().expect("attached to the workspace");
        assert_eq!(world.instances()[attached].tags.get("Name").map(String::as_str), Some("workspace-1"));
        let got = world.volume_generation(&v.id).unwrap();
        assert!(got >= *captured && got <= captured + 2, "{device:?}: {got} vs {captured}");
    }
    drop(world);
    c.ok(&["apply", "destroy-workspace@workspace-1", "--yes"]);
    let world = c.world();
    assert!(world.volumes().values().all(|v| v.tags.get("Name").map(String::as_str) != Some("workspace-1")));
}
