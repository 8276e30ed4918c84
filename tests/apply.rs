//! The executor against the simulator, in-process: success, capacity failure with
//! compensation, a DNS gate that is not confirmed, and the report's accounting.

mod support;

use cellar_engine::cloud::Cloud;
use cellar_engine::executor::{self, ApplyReport, Event, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::{Action, Plan, Undo};
use cellar_sim::{default_world, Sim};
use std::sync::Arc;
use support::Recorder;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Plans `command_line` on `world` and applies it; the operator answers DNS gates with `confirm`.
async fn plan_and_apply(
    world: cellar_sim::World,
    command_line: &str,
    confirm: bool,
) -> (Arc<Sim>, Arc<Recorder>, Plan, ApplyReport) {
    let sim = Arc::new(Sim::new(world));
    let plan = support::plan(&*sim, command_line).await.unwrap();
    let operator = Arc::new(Recorder::new(confirm));
    let report = executor::apply(sim.clone(), operator.clone(), &plan, Policy::default()).await;
    (sim, operator, plan, report)
}

#[test]
fn create_server_applies_every_step_and_the_server_is_healthy() {
    rt().block_on(async {
        let (sim, operator, plan, report) = plan_and_apply(default_world(), "create-server@ommegang 20", true).await;
        assert!(report.succeeded(), "{report:#?}");
        assert_eq!(report.outcomes.len(), plan.steps.len());
        assert!(report.undone.is_empty());
        // Plan honesty: exactly one of each resource the plan creates, all tagged.
        let mut kinds: Vec<String> =
            support::tagged(&*sim, "ommegang").await.iter().map(|r| r.split(' ').next().unwrap().to_string()).collect();
        kinds.sort();
        assert_eq!(kinds, ["address", "group", "instance", "template", "volume"]);
        let region = Region::new("us-east-1");
        let addresses = sim.describe_addresses(&region, &cellar_engine::cloud::Filter::All).await.unwrap();
        assert!(addresses.iter().all(|a| !a.tags.contains_key(AWAITING_DNS_TAG)), "the gate removes the tag");
        let volumes = sim.describe_volumes(&region, &cellar_engine::cloud::Filter::All).await.unwrap();
        assert_eq!(volumes[0].tags.get("team").map(String::as_str), Some("web"), "configured tags are applied");
        // Every step started after its dependencies finished.
        let events = operator.events.lock().unwrap();
        let position = |f: &dyn Fn(&Event) -> bool| events.iter().position(f).unwrap();
        for step in &plan.steps {
            let started = position(&|e| matches!(e, Event::Started { step: s, .. } if *s == step.id));
            let done = position(&|e| matches!(e, Event::Done { step: s, .. } if *s == step.id));
            assert!(started < done);
            for dep in &step.after {
                let dep_done = position(&|e| matches!(e, Event::Done { step: s, .. } if s == dep));
                assert!(dep_done < started, "{} started before its dependency {dep} finished", step.id);
            }
        }
    });
}

#[test]
fn no_capacity_undoes_what_was_created_in_reverse() {
    rt().block_on(async {
        let mut world = default_world();
        world.set_capacity(&Zone::new("us-east-1b"), &InstanceType::new("t3.medium"), 0).unwrap();
        let (sim, operator, plan, report) = plan_and_apply(world, "create-server@ommegang 20", true).await;
        let run = plan.steps.iter().find(|s| matches!(s.action, Action::RunInstance { .. })).unwrap();
        match &report.outcomes[&run.id] {
            Outcome::Failed(e) => assert!(e.to_string().contains("InsufficientInstanceCapacity"), "{e}"),
            other => panic!("RunInstance should fail, got {other:?}"),
        }
        let retries = operator.events.lock().unwrap().iter().filter(|e| matches!(e, Event::Retrying { .. })).count();
        assert!(retries >= 2, "capacity errors are retried for a while before giving up ({retries} retries)");
        let undone: Vec<Undo> = report.undone.iter().map(|u| u.undo.clone()).collect();
        assert!(undone.contains(&Undo::DeleteVolume) && undone.contains(&Undo::ReleaseAddress), "{undone:?}");
        assert_eq!(undone.last(), Some(&Undo::ReleaseAddress), "the first step is undone last: {undone:?}");
        assert!(report.undone.iter().all(|u| u.result.is_ok()), "{:#?}", report.undone);
        assert!(report.count(|o| matches!(o, Outcome::Skipped { .. })) > 0);
        assert_eq!(support::tagged(&*sim, "ommegang").await, Vec::<String>::new());
    });
}

#[test]
fn unconfirmed_gate_blocks_without_undoing_the_address() {
    rt().block_on(async {
        let (sim, _, plan, report) = plan_and_apply(default_world(), "create-server@ommegang 20", false).await;
        assert!(report.blocked());
        assert!(report.undone.is_empty());
        assert_eq!(report.count(|o| matches!(o, Outcome::Done(_))), 1, "only the address: {report:#?}");
        assert_eq!(report.count(|o| matches!(o, Outcome::Skipped { .. })), plan.steps.len() - 2);
        let left = support::tagged(&*sim, "ommegang").await;
        assert_eq!(left.len(), 1);
        assert!(left[0].starts_with("address "), "{left:?}");
    });
}

/// Plans `command` on the default world changed by `setup` (capacity 0 for the zone's
/// t3.medium when `full_zone` names one), applies it (the operator answers the DNS gate with
/// `confirm`; with `cancelled` the apply is cancelled before it starts) and checks the
/// report's summary line.
fn check_summary(full_zone: Option<&str>, command: &str, confirm: bool, cancelled: bool, expected: &str) {
    rt().block_on(async {
        let mut world = default_world();
        if let Some(zone) = full_zone {
            world.set_capacity(&Zone::new(zone), &InstanceType::new("t3.medium"), 0).unwrap();
        }
        let sim = Arc::new(Sim::new(world));
        let plan = support::plan(&*sim, command).await.unwrap();
        let cancel = executor::walk::Cancel::default();
        if cancelled {
            cancel.cancel();
        }
        let operator = Arc::new(Recorder::new(confirm));
        let report = executor::apply_cancellable(sim.clone(), operator, &plan, Policy::default(), &cancel).await;
        assert_eq!(report.summary(), expected, "{command}: {report:#?}");
        assert_eq!(report.outcomes.len(), plan.steps.len(), "{command}: one outcome per step");
    });
}

#[test]
fn report_summary_counts() {
    // Everything done (duvel's DNS record already points at its address: no gate).
    check_summary(None, "create-server@duvel 30", false, false, "done 8, failed 0, skipped 0, blocked 0, undone 0");
    // The launch fails for lack of capacity: the address, the volume and the launch template
    // are undone, the steps after the launch are skipped.
    check_summary(
        Some("us-east-1b"),
        "create-server@ommegang 20",
        true,
        false,
        "done 4, failed 1, skipped 5, blocked 0, undone 3",
    );
    // An unconfirmed gate blocks: only the address was allocated, everything after is skipped.
    check_summary(None, "create-server@ommegang 20", false, false, "done 1, failed 0, skipped 8, blocked 1, undone 0");
    // Cancelled before anything started.
    check_summary(
        None,
        "create-server@ommegang 20",
        true,
        true,
        "done 0, failed 0, skipped 0, blocked 0, undone 0, cancelled 10",
    );
}

/// Applies `command` after `setup` and checks that the instance it launched carries its
/// step's token, as ClientToken and as the token tag: a RunInstances retried after a lost
/// response then returns that instance instead of launching a second one, and a launch
/// whose every answer was lost is found by its tag.
fn check_client_token(setup: &[&str], command: &str) {
    rt().block_on(async {
        let sim = support::world_after(setup).await;
        let plan = support::plan(&*sim, command).await.unwrap();
        let run = plan
            .steps
            .iter()
            .find_map(|s| matches!(s.action, Action::RunInstance { .. }).then_some(s.id))
            .unwrap_or_else(|| panic!("{command} launches no instance"));
        let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
        assert!(report.succeeded(), "{command}: {report:#?}");
        let Outcome::Done(executor::Output::Instance(id)) = &report.outcomes[&run] else {
            panic!("{command}: {:?}", report.outcomes[&run]);
        };
        let world = sim.world();
        let instance = &world.instances()[id];
        let sent =
            instance.client_token.clone().unwrap_or_else(|| panic!("{command}: {id} was launched without a token"));
        assert!(sent.starts_with(&format!("cellar-{}-", run.0)), "{command}: token {sent:?}");
        assert_eq!(instance.tags.get(executor::TOKEN_TAG), Some(&sent), "{command}: the token tag is the ClientToken");
    });
}

#[test]
fn run_instances_carries_its_steps_client_token() {
    check_client_token(&[], "create-server@ommegang 20");
    check_client_token(&["create-server@duvel 30", "stop-auto-scaling@duvel"], "attach-instance@duvel");
    check_client_token(&[], "create-workspace");
}

/// A lost response (the call takes effect, the answer never arrives) to each create of
/// create-server, once or every time: the apply succeeds and the server has exactly one of
/// each resource.
#[test]
fn lost_responses_create_nothing_twice() {
    let cases: &[(&str, f64, Option<u64>)] = &[
        ("CreateVolume", 0.0, Some(1)),
        ("CreateVolume", 1.0, None),
        ("AllocateAddress", 0.0, Some(1)),
        ("AllocateAddress", 1.0, None),
        ("RunInstances", 0.0, Some(1)),
        // Every answer lost, the retries run out: the lookup finds the step's instance.
        ("RunInstances", 1.0, None),
        ("CreateLaunchTemplate", 1.0, None),
        ("CreateAutoScalingGroup", 1.0, None),
    ];
    for (api, rate, at_call) in cases {
        rt().block_on(async {
            let mut world = default_world();
            let lost = cellar_sim::LostResponses { rate: *rate, at_call: *at_call, apis: vec![api.to_string()] };
            world.set_faults(cellar_sim::Faults { lost_responses: Some(lost), ..Default::default() }).unwrap();
            let (sim, _, _, report) = plan_and_apply(world, "create-server@ommegang 20", true).await;
            assert!(report.succeeded(), "{api} at rate {rate}, call {at_call:?}: {report:#?}");
            let lost_logged = sim.world().log().iter().filter(|e| e.message.contains("response lost")).count();
            assert!(lost_logged > 0, "{api}: no response was lost");
            let mut kinds: Vec<String> = support::tagged(&*sim, "ommegang")
                .await
                .iter()
                .map(|r| r.split(' ').next().unwrap().to_string())
                .collect();
            kinds.sort();
            assert_eq!(kinds, ["address", "group", "instance", "template", "volume"], "{api}: one of each");
        });
    }
}

/// A lost response to the creates that take a ClientToken cellar sends besides
/// CreateVolume (CreateLaunchTemplateVersion, CopyImage), every answer lost until the
/// retries run out or only the first: exactly one version, exactly one copy.
#[test]
fn lost_responses_to_versions_and_copies_create_nothing_twice() {
    const NEWER: &str = "!image web-server-2026-12-01 x86_64 us-east-1";
    // (api, setup, command, rate, at the k-th call)
    type Case<'a> = (&'a str, &'a [&'a str], &'a str, f64, Option<u64>);
    let cases: &[Case] = &[
        ("CreateLaunchTemplateVersion", &["create-server@duvel 30", NEWER], "upgrade-ami@duvel", 0.0, Some(1)),
        ("CreateLaunchTemplateVersion", &["create-server@duvel 30", NEWER], "upgrade-ami@duvel", 1.0, None),
        ("CopyImage", &["create-workspace"], "bundle-ami@workspace-1 web-server --copy-to us-west-2", 0.0, Some(1)),
    ];
    for (api, setup, command, rate, at_call) in cases {
        rt().block_on(async {
            let sim = support::world_after(setup).await;
            let lost = cellar_sim::LostResponses { rate: *rate, at_call: *at_call, apis: vec![api.to_string()] };
            sim.with_world(|w| w.set_faults(cellar_sim::Faults { lost_responses: Some(lost), ..Default::default() }))
                .unwrap();
            let plan = support::plan(&*sim, command).await.unwrap();
            let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
            let world = sim.world();
            let lost_logged = world.log().iter().filter(|e| e.message.contains("response lost")).count();
            assert!(lost_logged > 0, "{api}: no response was lost");
            match *api {
                "CreateLaunchTemplateVersion" => {
                    let versions: Vec<usize> = world.templates().values().map(|t| t.versions.len()).collect();
                    assert_eq!(versions, [2], "{api} at rate {rate}: one new version: {report:#?}");
                }
                _ => {
                    let copies = world.images().values().filter(|i| i.name.ends_with("2026-11-25")).count();
                    assert_eq!(copies, 2, "{api}: the image and one copy: {report:#?}");
                }
            }
            if *rate == 0.0 {
                assert!(report.succeeded(), "{api}: {report:#?}");
            }
        });
    }
}

/// Group deletion is asynchronous (the group stays, deleting, until its instances are
/// terminated): a command right after one that deleted the server's group succeeds, and so
/// does one planned and applied while the old group is still being deleted (`!delete-group`:
/// its name is taken, its launch template or configuration in use, until it is gone).
#[test]
fn commands_right_after_a_group_deletion_succeed() {
    let cases: &[(&str, &[&str])] = &[
        ("ommegang", &["create-server@ommegang 20", "stop-auto-scaling@ommegang", "start-auto-scaling@ommegang"]),
        (
            "ommegang",
            &["create-server@ommegang 20", "destroy-server@ommegang --delete-data", "create-server@ommegang 20"],
        ),
        ("achel", &["create-server@achel 10", "stop-auto-scaling@achel", "start-auto-scaling@achel"]),
        ("achel", &["create-server@achel 10", "destroy-server@achel --delete-data", "create-server@achel 10"]),
        // The old group still deleting when the next command is planned and applied: the
        // template server's DeleteLaunchTemplate and the configuration server's
        // CreateAutoScalingGroup are refused until it is gone, and wait.
        ("ommegang", &["create-server@ommegang 20", "!delete-group ommegang", "start-auto-scaling@ommegang"]),
        ("achel", &["create-server@achel 10", "!delete-group achel", "start-auto-scaling@achel"]),
    ];
    // A step deleting a group waits until it is gone, not only its instances.
    for lines in [
        &["create-server@ommegang 20", "stop-auto-scaling@ommegang"],
        &["create-server@achel 10", "destroy-server@achel"],
    ] {
        rt().block_on(async {
            let sim = support::world_after(lines).await;
            let region = Region::new("us-east-1");
            let groups = sim.describe_auto_scaling_groups(&region, &cellar_engine::cloud::Filter::All).await.unwrap();
            assert_eq!(groups, vec![], "{lines:?}: the group is gone when the apply ends");
        });
    }
    for (server, lines) in cases {
        rt().block_on(async {
            let sim = support::world_after(lines).await;
            let what = lines.join(", then ");
            let groups = sim
                .describe_auto_scaling_groups(&Region::new("us-east-1"), &cellar_engine::cloud::Filter::All)
                .await
                .unwrap();
            assert_eq!(
                groups.iter().map(|g| (g.name.as_str(), g.deleting)).collect::<Vec<_>>(),
                vec![(*server, false)],
                "{what}: one group, not deleting"
            );
            let log: Vec<String> = sim.world().log().iter().map(|e| e.message.clone()).collect();
            let created = log.iter().rposition(|m| m.starts_with(&format!("created auto scaling group {server} ")));
            let deleted = log.iter().rposition(|m| *m == format!("deleted auto scaling group {server}"));
            assert!(
                deleted < created && deleted.is_some(),
                "{what}: the old group was gone before the new one: {log:#?}"
            );
            let mut kinds: Vec<String> =
                support::tagged(&*sim, server).await.iter().map(|r| r.split(' ').next().unwrap().to_string()).collect();
            kinds.sort();
            let launch = if *server == "achel" { vec![] } else { vec!["template"] };
            let expected: Vec<&str> =
                ["address", "group", "instance"].into_iter().chain(launch).chain(["volume"]).collect();
            assert_eq!(kinds, expected, "{what}: one of each");
        });
    }
}

/// Eventual consistency of every kind (`Faults::invisible_secs`: a new volume, address,
/// launch template or version, group, image or snapshot is missing from its describe and
/// refused by id for a while; Auto Scaling refuses a new launch template with a generic
/// ValidationError): create-server, then upgrade-ami --restart, apply with exactly one of
/// each resource, also when every response of a create is lost (what the lost attempt made
/// is still invisible when the retry looks for it).
#[test]
fn eventual_consistency_of_every_kind_is_waited_out() {
    let cases: &[(&str, Option<&str>)] = &[
        ("duvel", None),
        ("achel", None),
        ("duvel", Some("CreateVolume")),
        ("duvel", Some("AllocateAddress")),
        ("duvel", Some("CreateLaunchTemplate")),
        ("duvel", Some("CreateAutoScalingGroup")),
        ("achel", Some("CreateLaunchConfiguration")),
    ];
    for (server, lost) in cases {
        rt().block_on(async {
            let mut world = default_world();
            let lost_responses =
                lost.map(|api| cellar_sim::LostResponses { rate: 1.0, at_call: None, apis: vec![api.to_string()] });
            let faults = cellar_sim::Faults { invisible_secs: 20, lost_responses, ..Default::default() };
            world.set_faults(faults).unwrap();
            let sim = Arc::new(Sim::new(world));
            let operator = Arc::new(Recorder::new(true));
            let what = format!("{server}, lost responses of {lost:?}");
            for command in [format!("create-server@{server} 20"), format!("upgrade-ami@{server} --restart")] {
                if command.starts_with("upgrade") {
                    let region = Region::new("us-east-1");
                    sim.with_world(|w| {
                        w.add_image("web-server-2026-12-01", Architecture::X86_64, &region, Tags::new())
                    });
                }
                let plan = support::plan(&*sim, &command).await.unwrap_or_else(|e| panic!("{what}: {command}: {e}"));
                let report = executor::apply(sim.clone(), operator.clone(), &plan, Policy::default()).await;
                assert!(report.succeeded(), "{what}: {command}: {report:#?}");
                let mut kinds: Vec<String> = support::tagged(&*sim, server)
                    .await
                    .iter()
                    .map(|r| r.split(' ').next().unwrap().to_string())
                    .collect();
                kinds.sort();
                let launch = if *server == "achel" { vec![] } else { vec!["template"] };
                let expected: Vec<&str> =
                    ["address", "group", "instance"].into_iter().chain(launch).chain(["volume"]).collect();
                assert_eq!(kinds, expected, "{what}: {command}: one of each");
            }
            let configurations = sim.with_world(|w| w.launch_configurations_in(&Region::new("us-east-1")).count());
            assert_eq!(configurations, usize::from(*server == "achel"), "{what}: one launch configuration for achel");
            // The apply met what it made before it was visible, and waited it out.
            let events = operator.events.lock().unwrap();
            let met = events.iter().any(|e| match e {
                Event::Retrying { error, .. } => error.contains(".NotFound"),
                Event::Waiting { what, .. } => what.contains("visible"),
                _ => false,
            });
            assert!(met, "{what}: no resource was met before it was visible: {events:#?}");
        });
    }
}

/// Resuming an interrupted apply from its journal, in-process.
#[path = "apply/journal.rs"]
mod journal;

/// Rolling fleet plans: waves, health gates, the error budget.
#[path = "apply/fleet.rs"]
mod fleet;

/// Which client-side token bucket paces which call.
#[path = "apply/buckets.rs"]
mod buckets;

/// A restart's wait refuses a replacement launched before the group's update.
#[path = "apply/restart.rs"]
mod restart;

// restore-server: a volume that cannot be restored leaves the server untouched.
#[path = "apply/restore.rs"]
mod restore;
