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
        let undone: Vec<Undo> = report.undone.iter().map(|u| u.undo).collect();
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

#[test]
fn report_summary_counts() {
    rt().block_on(async {
        let (_, _, plan, report) = plan_and_apply(default_world(), "create-server@duvel 30", false).await;
        assert_eq!(report.summary(), format!("done {}, failed 0, skipped 0, blocked 0, undone 0", plan.steps.len()));
    });
}
