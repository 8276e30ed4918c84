//! Server locks on the endpoint and on the simulator alike: a launch template named
//! `cellar-lock.<server>`, whose second create fails with
//! `InvalidLaunchTemplateName.AlreadyExistsException` and is reported as held; it is never
//! one of the server's resources.

use super::*;
use cellar_engine::lock::LockHolder;

fn holder(pid: u32) -> LockHolder {
    LockHolder {
        pid: Some(pid),
        host: Some("build1".into()),
        user: Some("ann".into()),
        command: Some("cellar apply ommegang.plan.ron".into()),
        since: Some("2026-11-26T13:00:00Z".into()),
        plan: Some("cbf29ce484222325".into()),
    }
}

/// The same checks on either backend.
async fn locks_on(cloud: &dyn Cloud, backend: &str) {
    let (r, server) = (region(), ServerName::new("ommegang"));
    assert_eq!(cloud.describe_server_lock(&r, &server).await.unwrap(), None, "{backend}");
    cloud.create_server_lock(&r, &server, &holder(4242)).await.unwrap();
    let second = cloud.create_server_lock(&r, &server, &holder(4343)).await.unwrap_err();
    assert_eq!(second.kind, CloudErrorKind::AlreadyExists, "{backend}: {second}");
    assert_eq!(second.code, "InvalidLaunchTemplateName.AlreadyExistsException", "{backend}");
    assert_eq!(cloud.describe_server_lock(&r, &server).await.unwrap(), Some(holder(4242)), "{backend}: held");
    // Not the server's: no Name tag, so no read by server sees it.
    let templates = cloud.describe_launch_templates(&r, &Filter::Server(server.clone())).await.unwrap();
    assert!(templates.is_empty(), "{backend}: {templates:?}");
    // Another server's lock is another object.
    cloud.create_server_lock(&r, &ServerName::new("duvel"), &holder(7)).await.unwrap();
    cloud.delete_server_lock(&r, &server).await.unwrap();
    assert_eq!(cloud.describe_server_lock(&r, &server).await.unwrap(), None, "{backend}: released");
    let again = cloud.delete_server_lock(&r, &server).await.unwrap_err();
    // AWS answers InvalidLaunchTemplateName.NotFoundException; moto 5.2.5 looks the name up
    // first and answers MissingParameter. cellar reads a lock before deleting it, so only a
    // race reaches this answer, and it is reported either way.
    let moto_s = CloudErrorKind::Other("MissingParameter".into());
    assert!(
        again.kind == CloudErrorKind::InvalidLaunchTemplateNotFound || (backend == "moto" && again.kind == moto_s),
        "{backend}: {again}"
    );
    cloud.create_server_lock(&r, &server, &holder(4343)).await.unwrap();
    assert_eq!(cloud.describe_server_lock(&r, &server).await.unwrap(), Some(holder(4343)), "{backend}: retaken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_lock_of_a_server_fails_with_already_exists() {
    let Some(upstream) = moto_endpoint("a_second_lock_of_a_server_fails_with_already_exists") else { return };
    let account = MotoAccount::open(&upstream).await;
    locks_on(&*account.cloud(), "moto").await;
    let sim = sim_like_fresh_account();
    locks_on(&*sim, "simulator").await;
}

/// `cellar apply` on the endpoint releases its lock at the end; a held lock refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_apply_is_refused_while_another_holds_the_server() {
    let Some(upstream) = moto_endpoint("cli_apply_is_refused_while_another_holds_the_server") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    let cloud = account.cloud();
    // `apply COMMAND` keeps its plan and journal next to the simulator's state file.
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("sim.db").display().to_string();
    let env = [("CELLAR_SIM_STATE", state.as_str())];
    let (r, server) = (region(), ServerName::new("chimay"));
    cloud.create_server_lock(&r, &server, &holder(4242)).await.unwrap();
    let out = cellar_aws(&url, &["apply", "create-server@chimay", "10", "--yes", "--dns-confirmed"], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("server chimay is locked by another apply: pid 4242 on build1 (user ann)"), "{said}");
    assert!(said.contains("`cellar unlock chimay`"), "{said}");
    let out = cellar_aws(&url, &["unlock", "chimay", "--yes"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("another host (build1)"), "{}", text(&out));
    let out = cellar_aws(&url, &["apply", "create-server@chimay", "10", "--yes", "--dns-confirmed"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(cloud.describe_server_lock(&r, &server).await.unwrap(), None, "released at the end");
}
