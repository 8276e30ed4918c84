//! Every seed command (and destroy-server) applied end to end on the simulator, in-process:
//! what exists afterwards (exactly the resources the seed says, tagged, attached and
//! associated), the server's health, idempotence (planning the same command again is empty,
//! or refused with the refusal each situation names), and stale-plan refusal (a plan made
//! before the world moved is refused, naming what changed).

mod support;

use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::inventory;
use cellar_engine::model::*;
use cellar_engine::plan::staleness;
use cellar_engine::status;
use cellar_sim::Sim;
use std::collections::BTreeMap;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The resources tagged `Name=<server>` in a region, one normalized line each: ids become
/// the role they play (`the instance`), image ids become image names. Also checks that
/// everything cellar created carries the configured tags.
async fn describe(sim: &Sim, server: &str, region: &str) -> Vec<String> {
    let region = Region::new(region);
    let f = Filter::Server(ServerName::new(server));
    let mut image_names: BTreeMap<ImageId, String> = BTreeMap::new();
    for r in ["us-east-1", "us-west-2"] {
        for i in sim.describe_images(&Region::new(r)).await.unwrap() {
            image_names.insert(i.id.clone(), i.name.clone());
        }
    }
    let name_of = |id: &ImageId| image_names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let instances: Vec<Instance> =
        sim.describe_instances(&region, &f).await.unwrap().into_iter().filter(|i| i.state.is_alive()).collect();
    let role = |id: &Option<InstanceId>| match id {
        None => "nothing".to_string(),
        Some(id) if instances.iter().any(|i| i.id == *id) => "the instance".to_string(),
        Some(id) => format!("unknown instance {id}"),
    };
    let tagged = |tags: &Tags, what: &str| {
        assert!(tags.contains_key("owner"), "{what} of {server} lacks the configured tags: {tags:?}");
    };
    let mut out = Vec::new();
    for i in &instances {
        tagged(&i.tags, "instance");
        let group = if i.group.is_some() { " in group" } else { "" };
        out.push(format!("instance {} {} in {} from {}{group}", i.state, i.instance_type, i.zone, name_of(&i.image)));
    }
    for v in sim.describe_volumes(&region, &f).await.unwrap() {
        tagged(&v.tags, "volume");
        out.push(format!("volume {} GiB {} in {}, attached to {}", v.size_gb, v.state, v.zone, role(&v.attached_to)));
    }
    for a in sim.describe_addresses(&region, &f).await.unwrap() {
        out.push(format!("address associated with {}", role(&a.associated_to)));
    }
    for t in sim.describe_launch_templates(&region, &f).await.unwrap() {
        tagged(&t.tags, "launch template");
        out.push(format!(
            "launch template v{} {} from {}",
            t.latest_version,
            t.latest.instance_type,
            name_of(&t.latest.image)
        ));
    }
    for c in sim.describe_launch_configurations(&region).await.unwrap() {
        if c.name.starts_with(&format!("{server}-")) {
            out.push(format!(
                "launch configuration {} {} from {}",
                c.name,
                c.spec.instance_type,
                name_of(&c.spec.image)
            ));
        }
    }
    for g in sim.describe_auto_scaling_groups(&region, &f).await.unwrap() {
        tagged(&g.tags, "group");
        let launch = match &g.launch {
            LaunchSource::Template { version, .. } => {
                format!("template v{}", version.map_or("$Latest".into(), |v| v.to_string()))
            }
            LaunchSource::Configuration { name } => format!("configuration {name}"),
        };
        out.push(format!("group min {} desired {} from {launch}, {} instance(s)", g.min, g.desired, g.instances.len()));
    }
    for s in sim.describe_snapshots(&region, &f).await.unwrap() {
        tagged(&s.tags, "snapshot");
        out.push(format!("snapshot of {} GiB {:?}", s.size_gb, s.state));
    }
    out
}

async fn health(sim: &Sim, server: &str) -> String {
    let s = status::read(sim, &ServerName::new(server), &Region::new("us-east-1")).await.unwrap();
    format!("{} {}", s.health.as_str(), s.reason).trim().to_string()
}

/// What planning a command again after applying it must give: nothing to do, or a refusal
/// containing this text.
#[derive(Clone, Copy, Debug)]
enum Again {
    Empty,
    Refused(&'static str),
}

/// Applies `command` after `setup`, then checks the server's resources, its health, and
/// what planning the command again gives (`again`; `None` for create-workspace, which
/// plans the next workspace).
fn check(setup: &[&str], command: &str, expected: &[&str], expected_health: &str, again: Option<Again>) {
    rt().block_on(async {
        let sim = support::world_after(setup).await;
        support::apply(&sim, command).await;
        let server = command.split(['@', ' ']).nth(1).filter(|s| !s.starts_with('-')).unwrap_or("workspace-1");
        assert_eq!(describe(&sim, server, "us-east-1").await, expected, "{command} after {setup:?}");
        assert_eq!(health(&sim, server).await, expected_health, "{command} after {setup:?}");
        let replanned = support::plan(&*sim, command).await;
        match (again, replanned) {
            (None, _) => {
                assert!(command.starts_with("create-workspace"), "{command}: say what planning it again gives")
            }
            (Some(Again::Empty), Ok(plan)) => {
                assert!(plan.is_empty(), "{command} planned again is not empty:\n{}", plan.render_text())
            }
            (Some(Again::Refused(text)), Err(refusal)) => {
                assert!(
                    refusal.contains(text),
                    "{command} planned again: expected a refusal containing {text:?}, got:\n{refusal}"
                )
            }
            (Some(want), Ok(plan)) => {
                panic!("{command} planned again: expected {want:?}, got a plan:\n{}", plan.render_text())
            }
            (Some(want), Err(refusal)) => panic!("{command} planned again: expected {want:?}, got:\n{refusal}"),
        }
    });
}

#[test]
fn create_server() {
    check(
        &[],
        "create-server@duvel 30",
        &[
            "instance running m5.large in us-east-1a from web-server-2026-08-04 in group",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
            "launch template v1 m5.large from web-server-2026-08-04",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("server duvel already exists in us-east-1")),
    );
    check(
        &[],
        "create-server@achel 15",
        &[
            "instance running t3.medium in us-east-1d from web-server-2026-08-04 in group",
            "volume 15 GiB in-use in us-east-1d, attached to the instance",
            "address associated with the instance",
            "launch configuration achel-v1 t3.medium from web-server-2026-08-04",
            "group min 1 desired 1 from configuration achel-v1, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("server achel already exists in us-east-1")),
    );
    check(
        &[],
        "create-server@chimay 10",
        &[
            "instance running t3.medium in us-east-1c from web-server-2026-08-04",
            "volume 10 GiB in-use in us-east-1c, attached to the instance",
            "address associated with the instance",
        ],
        "healthy",
        Some(Again::Refused("server chimay already exists in us-east-1")),
    );
}

#[test]
fn stop_auto_scaling() {
    check(
        &["create-server@duvel 30"],
        "stop-auto-scaling@duvel",
        &["volume 30 GiB available in us-east-1a, attached to nothing", "address associated with nothing"],
        "stopped no instance and no auto scaling group (auto scaling stopped)",
        Some(Again::Refused("duvel has no auto scaling group in us-east-1, so there is no auto scaling to stop")),
    );
    check(
        &["create-server@duvel 30"],
        "stop-auto-scaling@duvel --keep-group",
        &[
            "volume 30 GiB available in us-east-1a, attached to nothing",
            "address associated with nothing",
            "launch template v1 m5.large from web-server-2026-08-04",
            "group min 0 desired 0 from template v$Latest, 0 instance(s)",
        ],
        "stopped auto scaling stopped: group duvel is kept with desired 0",
        Some(Again::Refused("auto scaling of duvel is already stopped (group duvel is kept with desired 0)")),
    );
    check(
        &["create-server@achel 15"],
        "stop-auto-scaling@achel",
        &["volume 15 GiB available in us-east-1d, attached to nothing", "address associated with nothing"],
        "stopped no instance and no auto scaling group (auto scaling stopped)",
        Some(Again::Refused("achel has no auto scaling group in us-east-1")),
    );
}

#[test]
fn attach_instance() {
    check(
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "attach-instance@duvel m1.small web-server x86_64",
        &[
            "instance running m1.small in us-east-1a from web-server-2026-08-04",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
        ],
        "healthy",
        Some(Again::Refused("instance i-0002 is already attached to volume vol-0001 of duvel")),
    );
}

#[test]
fn start_auto_scaling() {
    // No instance: the group launches one in the volume's zone; the agent attaches.
    check(
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "start-auto-scaling@duvel",
        &[
            "instance running m5.large in us-east-1a from web-server-2026-08-04 in group",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
            "launch template v1 m5.large from web-server-2026-08-04",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("duvel is already auto-scaling (group duvel, desired 1)")),
    );
    // A running attached instance is adopted, not replaced.
    check(
        &["create-server@chimay 10"],
        "start-auto-scaling@chimay",
        &[
            "instance running t3.medium in us-east-1c from web-server-2026-08-04 in group",
            "volume 10 GiB in-use in us-east-1c, attached to the instance",
            "address associated with the instance",
            "launch template v1 t3.medium from web-server-2026-08-04",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("chimay is already auto-scaling (group chimay, desired 1)")),
    );
    // A kept group gets a new template version with the requested type.
    check(
        &["create-server@duvel 30", "stop-auto-scaling@duvel --keep-group"],
        "start-auto-scaling@duvel t3.large",
        &[
            "instance running t3.large in us-east-1a from web-server-2026-08-04 in group",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
            "launch template v2 t3.large from web-server-2026-08-04",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("duvel is already auto-scaling (group duvel, desired 1)")),
    );
    check(
        &["create-server@achel 15", "stop-auto-scaling@achel --keep-group"],
        "start-auto-scaling@achel",
        &[
            "instance running t3.medium in us-east-1d from web-server-2026-08-04 in group",
            "volume 15 GiB in-use in us-east-1d, attached to the instance",
            "address associated with the instance",
            "launch configuration achel-v2 t3.medium from web-server-2026-08-04",
            "group min 1 desired 1 from configuration achel-v2, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Refused("achel is already auto-scaling (group achel, desired 1)")),
    );
}

#[test]
fn chimay_keeps_its_instance_when_adopted() {
    rt().block_on(async {
        let sim = support::world_after(&["create-server@chimay 10"]).await;
        let before = sim.world().server_instance(&ServerName::new("chimay")).unwrap();
        support::apply(&sim, "start-auto-scaling@chimay").await;
        assert_eq!(sim.world().server_instance(&ServerName::new("chimay")), Some(before));
    });
}

#[test]
fn upgrade_ami() {
    let newer = "!image web-server-2026-12-01 x86_64 us-east-1";
    check(
        &["create-server@duvel 30", newer],
        "upgrade-ami@duvel",
        &[
            "instance running m5.large in us-east-1a from web-server-2026-08-04 in group",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
            "launch template v2 m5.large from web-server-2026-12-01",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Empty),
    );
    check(
        &["create-server@duvel 30", newer],
        "upgrade-ami@duvel --restart",
        &[
            "instance running m5.large in us-east-1a from web-server-2026-12-01 in group",
            "volume 30 GiB in-use in us-east-1a, attached to the instance",
            "address associated with the instance",
            "launch template v2 m5.large from web-server-2026-12-01",
            "group min 1 desired 1 from template v$Latest, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Empty),
    );
    check(
        &["create-server@achel 15", newer],
        "upgrade-ami@achel --restart",
        &[
            "instance running t3.medium in us-east-1d from web-server-2026-12-01 in group",
            "volume 15 GiB in-use in us-east-1d, attached to the instance",
            "address associated with the instance",
            "launch configuration achel-v2 t3.medium from web-server-2026-12-01",
            "group min 1 desired 1 from configuration achel-v2, 1 instance(s)",
        ],
        "healthy",
        Some(Again::Empty),
    );
}

#[test]
fn create_workspace() {
    check(
        &[],
        "create-workspace",
        &["instance running t3.small in us-east-1a from web-server-2026-08-04"],
        "degraded no data volume; no Elastic IP",
        None,
    );
}

#[test]
fn bundle_ami_names_the_image_by_type_and_date_and_copies_it() {
    rt().block_on(async {
        let sim = support::world_after(&["create-workspace"]).await;
        support::apply(&sim, "bundle-ami@workspace-1 web-server --copy-to us-west-2").await;
        for region in ["us-east-1", "us-west-2"] {
            let images = sim.describe_images(&Region::new(region)).await.unwrap();
            let made: Vec<_> = images.iter().filter(|i| i.name == "web-server-2026-11-25").collect();
            assert_eq!(made.len(), 1, "{region}: {images:#?}");
            assert_eq!(made[0].state, ImageState::Available);
        }
        // The new image is now the newest: a new workspace boots from it.
        let plan = support::plan(&*sim, "create-workspace").await.unwrap();
        assert!(plan.render_text().contains("from web-server-2026-11-25"), "{}", plan.render_text());
        let again = support::plan(&*sim, "bundle-ami@workspace-1").await.unwrap_err();
        assert!(again.contains("an image named web-server-2026-11-25 already exists in us-east-1"), "{again}");
    });
}

#[test]
fn destroy_server() {
    check(
        &["create-server@duvel 30"],
        "destroy-server@duvel",
        &["volume 30 GiB available in us-east-1a, attached to nothing"],
        // Only the data volume is kept: not stopped (its address is gone), not absent.
        "incomplete no Elastic IP; no instance; no auto scaling group",
        Some(Again::Empty),
    );
    check(
        &["create-server@duvel 30"],
        "destroy-server@duvel --delete-data",
        &["snapshot of 30 GiB Completed"],
        "absent nothing exists (no resource is tagged Name=duvel)",
        Some(Again::Refused("duvel has no resources in us-east-1 (nothing is tagged Name=duvel)")),
    );
    check(
        &["create-server@achel 15", "stop-auto-scaling@achel --keep-group"],
        "destroy-server@achel",
        &["volume 15 GiB available in us-east-1d, attached to nothing"],
        // Only the data volume is kept: not stopped (its address is gone), not absent.
        "incomplete no Elastic IP; no instance; no auto scaling group",
        Some(Again::Empty),
    );
}

/// A server with two data volumes (fixture kwak): every command handles both.
#[test]
fn two_volumes_follow_every_command() {
    let both_attached = [
        "volume 40 GiB in-use in us-east-1c, attached to the instance",
        "volume 200 GiB in-use in us-east-1c, attached to the instance",
    ];
    let both_free = [
        "volume 40 GiB available in us-east-1c, attached to nothing",
        "volume 200 GiB available in us-east-1c, attached to nothing",
    ];
    let created = ["create-server@kwak 40"];
    let stopped = ["create-server@kwak 40", "stop-auto-scaling@kwak"];
    let instance = "instance running t3.medium in us-east-1c from web-server-2026-08-04";
    let in_group = format!("{instance} in group");
    let template = "launch template v1 t3.medium from web-server-2026-08-04";
    let group = "group min 1 desired 1 from template v$Latest, 1 instance(s)";
    let address = "address associated with the instance";
    let exists = Some(Again::Refused("server kwak already exists in us-east-1"));
    let listed = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let mut expected = listed(&[&in_group]);
    expected.extend(listed(&both_attached));
    expected.extend(listed(&[address, template, group]));
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    check(&[], "create-server@kwak 40", &expected, "healthy", exists);
    let mut free = listed(&both_free);
    free.push("address associated with nothing".into());
    let free: Vec<&str> = free.iter().map(String::as_str).collect();
    check(
        &created,
        "stop-auto-scaling@kwak",
        &free,
        "stopped no instance and no auto scaling group (auto scaling stopped)",
        Some(Again::Refused("kwak has no auto scaling group")),
    );
    let mut attached = vec![instance];
    attached.extend(both_attached);
    attached.push(address);
    check(
        &stopped,
        "attach-instance@kwak",
        &attached,
        "healthy",
        Some(Again::Refused("is already attached to volume")),
    );
    check(
        &created,
        "destroy-server@kwak --delete-data",
        &["snapshot of 40 GiB Completed", "snapshot of 200 GiB Completed"],
        "absent nothing exists (no resource is tagged Name=kwak)",
        Some(Again::Refused("kwak has no resources in us-east-1")),
    );
}

/// Plans `command` after `setup`, changes the world with `change`, and expects the plan
/// to be stale with a message containing `expected`.
fn check_stale(setup: &[&str], command: &str, change: &str, expected: &str) {
    rt().block_on(async {
        let sim = support::world_after(setup).await;
        let plan = support::plan(&*sim, command).await.unwrap();
        support::change(&sim, change).await;
        let now = inventory::read(&*sim, &plan.scope).await.unwrap();
        let changes = staleness(&plan, &now.observe(&plan.scope));
        assert!(changes.iter().any(|c| c.contains(expected)), "{command}, then {change}: {changes:#?}");
    });
}

#[test]
fn stale_plans_are_refused_for_every_command() {
    let sim_instance = |n: u32| format!("instance i-{n:04x}");
    check_stale(
        &[],
        "create-server@ommegang 20",
        "!dns ommegang.imarc.net 192.0.2.7",
        "DNS record ommegang.imarc.net of ommegang: 203.0.113.10 → 192.0.2.7 since plan",
    );
    check_stale(&[], "create-server@duvel 30", "create-server@duvel 30", "appeared since plan");
    check_stale(
        &["create-server@duvel 30"],
        "stop-auto-scaling@duvel",
        "!terminate duvel",
        &format!("{} of duvel: running → shutting-down since plan", sim_instance(1)),
    );
    check_stale(
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "attach-instance@duvel",
        "attach-instance@duvel",
        "appeared since plan",
    );
    check_stale(
        &["create-server@duvel 30", "stop-auto-scaling@duvel"],
        "start-auto-scaling@duvel",
        "!image web-server-2026-12-01 x86_64 us-east-1",
        "newest web-server image for x86_64 of duvel: web-server-2026-08-04",
    );
    check_stale(
        &["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"],
        "upgrade-ami@duvel --restart",
        "!terminate duvel",
        "running → shutting-down since plan",
    );
    check_stale(
        &[],
        "create-workspace",
        "create-workspace",
        &format!("{} of workspace-1: appeared since plan", sim_instance(1)),
    );
    check_stale(
        &["create-workspace"],
        "bundle-ami@workspace-1",
        "!image web-server-2026-11-25 x86_64 us-east-1",
        "web-server-2026-08-04, web-server-2026-11-25 since plan",
    );
    check_stale(
        &["create-server@duvel 30"],
        "destroy-server@duvel",
        "!terminate duvel",
        "running → shutting-down since plan",
    );
}

/// Launch configurations cannot be tagged: a server's are those named `<server>-v<n>`
/// (a leftover of an earlier apply included) and the one its group launches from; nobody
/// else's.
#[test]
fn launch_configurations_are_the_servers_by_name_or_by_its_group() {
    rt().block_on(async {
        let sim = support::world_after(&["create-server@achel 15"]).await;
        let region = Region::new("us-east-1");
        let spec = sim.describe_launch_configurations(&region).await.unwrap()[0].spec.clone();
        for name in ["achel-v7", "achel-blue", "duvel-v1"] {
            sim.create_launch_configuration(&region, name, spec.clone()).await.unwrap();
        }
        let plan = support::plan(&*sim, "destroy-server@achel").await.unwrap();
        let deleted: Vec<String> = plan
            .steps
            .iter()
            .map(|s| s.describe().1)
            .filter(|d| d.starts_with("delete launch configuration"))
            .collect();
        assert_eq!(deleted, ["delete launch configuration achel-v1", "delete launch configuration achel-v7"]);
    });
}

#[test]
fn destroy_workspace_looks_in_the_region_it_is_given() {
    rt().block_on(async {
        let sim = support::world_after(&["create-workspace - - us-west-2"]).await;
        let here = support::plan(&*sim, "destroy-workspace@workspace-1").await.unwrap_err();
        assert!(here.contains("workspace workspace-1 has no instance in us-east-1"), "{here}");
        support::apply(&sim, "destroy-workspace@workspace-1 us-west-2").await;
        let f = Filter::Server(ServerName::new("workspace-1"));
        let left = sim.describe_instances(&Region::new("us-west-2"), &f).await.unwrap();
        assert!(!left.is_empty() && left.iter().all(|i| !i.state.is_alive()), "{left:#?}");
    });
}
