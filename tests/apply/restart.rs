//! A restart's wait for the group's replacement: the new instance must be launched as the
//! group's update says, not one the group launched before it.

use super::support::{change, plan, world_after, Recorder};
use cellar_engine::executor::{self, Outcome, Policy, StepError};
use cellar_engine::model::*;
use cellar_engine::plan::Action;
use std::sync::Arc;

/// Amazon terminates duvel's instance after `upgrade-ami --restart` was planned, and the
/// group replaces it from the old image before the apply updates the group: the apply's
/// terminate finds the old instance gone, and its wait must not take the early
/// replacement (the old image) for the upgrade.
#[tokio::test]
async fn a_replacement_launched_before_the_group_update_is_refused() {
    let sim = world_after(&["create-server@duvel 30", "!image web-server-2026-12-01 x86_64 us-east-1"]).await;
    let plan = plan(&*sim, "upgrade-ami@duvel --restart").await.unwrap();
    let image_of = |id: &InstanceId| sim.world().instances()[id].image.clone();
    let old = sim.world().server_instance(&ServerName::new("duvel")).unwrap();
    let old_image = image_of(&old);
    change(&sim, "!terminate duvel").await;
    change(&sim, "!advance 300").await;
    let early = sim.world().server_instance(&ServerName::new("duvel")).expect("the group replaced the instance");
    assert_ne!(early, old);
    assert_eq!(image_of(&early), old_image, "the early replacement runs the old image");
    let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
    assert!(!report.succeeded(), "{}", report.summary());
    let wait = plan.steps.iter().find(|s| matches!(s.action, Action::WaitHealthy { .. })).unwrap().id;
    let refused = report.outcomes.iter().find(|(id, _)| **id == wait).map(|(_, o)| o);
    let Some(Outcome::Failed(StepError::Unexpected { what })) = refused else {
        panic!("the wait did not refuse the early replacement: {refused:?}\n{}", report.summary())
    };
    assert!(
        what.contains(&format!("instance {early} of duvel runs m5.large from {old_image}, not m5.large from ")),
        "{what}"
    );
    assert!(what.contains("fix: plan the command again"), "{what}");
    // Planned again, the upgrade replaces the early instance.
    let again = plan_again(&sim).await;
    let replaces = |s: &cellar_engine::plan::Step| matches!(&s.action, Action::TerminateInstance { instance } if *instance == early);
    assert!(again.steps.iter().any(replaces), "{}\n{}", report.summary(), again.render_text());
}

async fn plan_again(sim: &cellar_sim::Sim) -> cellar_engine::plan::Plan {
    plan(sim, "upgrade-ami@duvel --restart").await.unwrap()
}
