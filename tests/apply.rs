//! The executor against the simulator, in-process: success, capacity failure with
//! compensation, a DNS gate that is not confirmed, and the report's accounting.

mod support;

use cellar_engine::cloud::Cloud;
use cellar_engine::executor::{self, Event, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::{Action, Undo};
use cellar_sim::{default_world, Sim};
use std::sync::Arc;
use support::Recorder;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn create_server_applies_every_step_and_the_server_is_healthy() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        let plan = support::plan(&*sim, "create-server@ommegang 20")
            .await
            .unwrap();
        let operator = Arc::new(Recorder::new(true));
        let report = executor::apply(sim.clone(), operator.clone(), &plan, Policy::default()).await;
        assert!(report.succeeded(), "{report:#?}");
        assert_eq!(report.outcomes.len(), plan.steps.len());
        assert!(report.undone.is_empty());
        // Plan honesty: exactly one of each resource the plan creates, all tagged.
        let mut kinds: Vec<String> = support::tagged(&*sim, "ommegang")
            .await
            .iter()
            .map(|r| r.split(' ').next().unwrap().to_string())
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            ["address", "group", "instance", "template", "volume"]
        );
        let region = Region::new("us-east-1");
        let addresses = sim
            .describe_addresses(&region, &cellar_engine::cloud::Filter::All)
            .await
            .unwrap();
        assert!(
            addresses
                .iter()
                .all(|a| !a.tags.contains_key(AWAITING_DNS_TAG)),
            "the gate removes the tag"
        );
        // Every step started before it finished, and in dependency order.
        let events = operator.events.lock().unwrap();
        for step in &plan.steps {
            let done_at = events
                .iter()
                .position(|e| matches!(e, Event::Done { step: s, .. } if *s == step.id))
                .unwrap();
            for dep in &step.after {
                let dep_done = events
                    .iter()
                    .position(|e| matches!(e, Event::Done { step: s, .. } if s == dep))
                    .unwrap();
                let started = events
                    .iter()
                    .position(|e| matches!(e, Event::Started { step: s, .. } if *s == step.id))
                    .unwrap();
                assert!(
                    dep_done < started && started < done_at,
                    "{} ran before its dependency {dep}",
                    step.id
                );
            }
        }
    });
}

#[test]
fn no_capacity_undoes_what_was_created_in_reverse() {
    rt().block_on(async {
        let mut world = default_world();
        world.set_capacity(&Zone::new("us-east-1b"), &InstanceType::new("t3.medium"), 0);
        let sim = Arc::new(Sim::new(world));
        let plan = support::plan(&*sim, "create-server@ommegang 20")
            .await
            .unwrap();
        let report = executor::apply(
            sim.clone(),
            Arc::new(Recorder::new(true)),
            &plan,
            Policy::default(),
        )
        .await;
        let run = plan
            .steps
            .iter()
            .find(|s| matches!(s.action, Action::RunInstance { .. }))
            .unwrap();
        match &report.outcomes[&run.id] {
            Outcome::Failed(e) => assert!(
                e.to_string().contains("InsufficientInstanceCapacity"),
                "{e}"
            ),
            other => panic!("RunInstance should fail, got {other:?}"),
        }
        let undone: Vec<Undo> = report.undone.iter().map(|u| u.undo).collect();
        assert!(
            undone.contains(&Undo::DeleteVolume) && undone.contains(&Undo::ReleaseAddress),
            "{undone:?}"
        );
        assert_eq!(
            undone.last(),
            Some(&Undo::ReleaseAddress),
            "the first step is undone last: {undone:?}"
        );
        assert!(
            report.undone.iter().all(|u| u.result.is_ok()),
            "{:#?}",
            report.undone
        );
        assert!(report.count(|o| matches!(o, Outcome::Skipped { .. })) > 0);
        assert_eq!(
            support::tagged(&*sim, "ommegang").await,
            Vec::<String>::new()
        );
    });
}

#[test]
fn unconfirmed_gate_blocks_without_undoing_the_address() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        let plan = support::plan(&*sim, "create-server@ommegang 20")
            .await
            .unwrap();
        let report = executor::apply(
            sim.clone(),
            Arc::new(Recorder::new(false)),
            &plan,
            Policy::default(),
        )
        .await;
        assert!(report.blocked());
        assert!(report.undone.is_empty());
        assert_eq!(
            report.count(|o| matches!(o, Outcome::Done(_))),
            1,
            "only the address: {report:#?}"
        );
        let left = support::tagged(&*sim, "ommegang").await;
        assert_eq!(left.len(), 1);
        assert!(left[0].starts_with("address "), "{left:?}");
    });
}

#[test]
fn report_summary_counts() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        let plan = support::plan(&*sim, "create-server@duvel 30")
            .await
            .unwrap();
        let report = executor::apply(
            sim.clone(),
            Arc::new(Recorder::new(false)),
            &plan,
            Policy::default(),
        )
        .await;
        assert_eq!(
            report.summary(),
            format!(
                "done {}, failed 0, skipped 0, blocked 0, undone 0",
                plan.steps.len()
            )
        );
    });
}
