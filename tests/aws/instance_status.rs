//! DescribeInstanceStatus through the adapter (moto) and on the simulator: a running
//! instance is listed with its zone, state and checks, an unknown id fails the call with
//! `InvalidInstanceID.NotFound`, a terminated one is not listed.
//!
//! moto answers `ok` for both checks from the first moment and schedules no events; AWS
//! (and the simulator) say `initializing` for a few minutes first. moto does not refuse
//! more than 100 ids or a malformed id (AWS: `InvalidRequest`,
//! `InvalidInstanceID.Malformed`): those refusals are the simulator's tests
//! (`simulator/src/sim/status_tests.rs`).

use super::*;
use cellar_engine::cloud::RunInstanceRequest;
use cellar_engine::monitoring::CheckStatus;

/// The same checks on either backend; `settle` lets a launched instance run (the
/// simulator's clock; moto's instances run at once).
async fn status_on(cloud: &dyn Cloud, backend: &str, settle: Duration) {
    let r = region();
    let images = cloud.describe_images(&r).await.unwrap();
    let image = images.iter().find(|i| i.architecture == Architecture::X86_64).expect("a web-server image");
    let request = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        image: image.id.clone(),
        user_data: String::new(),
        tags: [(NAME_TAG.to_string(), "gose".to_string())].into_iter().collect(),
        client_token: "status-gose".into(),
        subnet: None,
        settings: LaunchSettings::default(),
    };
    let instance = cloud.run_instance(&r, request).await.unwrap();
    cloud.sleep(settle).await;
    let listed = cloud.describe_instance_status(&r, std::slice::from_ref(&instance.id)).await.unwrap();
    assert_eq!(listed.len(), 1, "{backend}: {listed:?}");
    let checks = &listed[0];
    assert_eq!(
        (&checks.instance, checks.zone.as_str(), checks.state),
        (&instance.id, "us-east-1a", InstanceState::Running),
        "{backend}"
    );
    for status in [checks.system, checks.instance_check] {
        assert!(matches!(status, CheckStatus::Ok | CheckStatus::Initializing), "{backend}: {checks:?}");
    }
    assert!(checks.events.is_empty(), "{backend}: {checks:?}");
    // No ids: every running instance of the region.
    let all = cloud.describe_instance_status(&r, &[]).await.unwrap();
    assert_eq!(all.iter().map(|c| &c.instance).collect::<Vec<_>>(), vec![&instance.id], "{backend}");
    // An id that does not exist fails the whole call.
    let unknown = [instance.id.clone(), InstanceId::new("i-0123456789abcdef0")];
    let e = cloud.describe_instance_status(&r, &unknown).await.unwrap_err();
    assert_eq!(
        (&e.kind, e.code.as_str()),
        (&CloudErrorKind::InvalidInstanceIdNotFound, "InvalidInstanceID.NotFound"),
        "{backend}: {e}"
    );
    // Terminated: no longer listed (without IncludeAllInstances), and not an error.
    cloud.terminate_instance(&r, &instance.id).await.unwrap();
    cloud.sleep(settle).await;
    let listed = cloud.describe_instance_status(&r, std::slice::from_ref(&instance.id)).await.unwrap();
    assert!(listed.is_empty(), "{backend}: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_instance_status_through_the_adapter() {
    let Some(upstream) = moto_endpoint("describe_instance_status_through_the_adapter") else { return };
    let account = MotoAccount::open(&upstream).await;
    status_on(&*account.cloud(), "moto", Duration::ZERO).await;
    let sent = account.endpoint.seen().into_iter().filter(|s| s.action == "DescribeInstanceStatus").count();
    assert_eq!(sent, 4, "one request each, no retry");
    let sim = sim_like_fresh_account();
    status_on(&*sim, "simulator", Duration::from_secs(60)).await;
}
