//! restore-server makes its new volumes before it touches the server: when one cannot be
//! made, the server is as it was.

use super::support::{change, plan, world_after, Recorder};
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::Action;
use std::sync::Arc;

/// kwak's restore is planned from its backups; one of them is deleted before the apply
/// (by hand, or another prune), so its volume cannot be restored
/// (`InvalidSnapshot.NotFound`): the other new volume is deleted again, and kwak's group,
/// instance and data volumes are untouched.
#[tokio::test]
async fn a_volume_that_cannot_be_restored_leaves_the_server_untouched() {
    let sim = world_after(&["create-server@kwak 40", "backup@kwak", "!advance 3600"]).await;
    let plan = plan(&*sim, "restore-server@kwak --at 2026-11-25").await.unwrap();
    let from: Vec<SnapshotId> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::CreateVolume { restore_from: Some(cellar_engine::plan::Ref::Existing(id)), .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(from.len(), 2, "{}", plan.render_text());
    let region = Region::new("us-east-1");
    sim.with_world(|w| w.delete_snapshot(&region, &from[1])).unwrap();
    let server = ServerName::new("kwak");
    let volumes_before: Vec<VolumeId> = sim.world().volumes().keys().cloned().collect();
    let instance = sim.world().server_instance(&server);
    let group_before = sim.world().groups()[&AutoScalingGroupName::new("kwak")].desired;

    let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
    assert!(!report.succeeded(), "{}", report.summary());
    let failed: Vec<&Action> = plan
        .steps
        .iter()
        .filter(|s| matches!(report.outcomes.get(&s.id), Some(Outcome::Failed(_))))
        .map(|s| &s.action)
        .collect();
    assert!(matches!(failed.as_slice(), [Action::CreateVolume { .. }]), "{}", report.summary());
    let touched = |a: &Action| !matches!(a, Action::CreateVolume { .. });
    let ran: Vec<&Action> = plan
        .steps
        .iter()
        .filter(|s| matches!(report.outcomes.get(&s.id), Some(Outcome::Done(_))))
        .map(|s| &s.action)
        .filter(|a| touched(a))
        .collect();
    assert!(ran.is_empty(), "nothing but volume creation may run: {ran:?}");
    change(&sim, "!advance 60").await;
    assert_eq!(sim.world().volumes().keys().cloned().collect::<Vec<_>>(), volumes_before, "the new volume is deleted");
    assert_eq!(sim.world().server_instance(&server), instance);
    assert_eq!(sim.world().groups()[&AutoScalingGroupName::new("kwak")].desired, group_before);
}
