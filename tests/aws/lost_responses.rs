//! Lost responses on the moto endpoint: the test proxy forwards the call (moto carries it
//! out) and then answers 500, as when AWS acted and the answer never arrived. The apply
//! still makes exactly one of each (moto ignores CreateVolume's ClientToken, so this is the
//! token tag looked up before the retry at work).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_volume_and_allocate_address_responses_make_one_of_each() {
    let Some(upstream) = moto_endpoint("lost_create_volume_and_allocate_address_responses_make_one_of_each") else {
        return;
    };
    let account = MotoAccount::open(&upstream).await;
    for action in ["CreateVolume", "AllocateAddress"] {
        account.endpoint.inject(Injection::new(action, 1, 500, "InternalError").after_forwarding());
    }
    let report = apply_on(account.cloud(), "create-server@chimay 10", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let lost = account.endpoint.seen().into_iter().filter(|s| s.injected.is_some()).count();
    assert_eq!(lost, 2, "both responses were lost");
    let chimay = Filter::Server(ServerName::new("chimay"));
    let volumes = account.cloud.describe_volumes(&region(), &chimay).await.unwrap();
    assert_eq!(volumes.len(), 1, "exactly one volume: {volumes:#?}");
    let addresses = account.cloud.describe_addresses(&region(), &chimay).await.unwrap();
    assert_eq!(addresses.len(), 1, "exactly one address: {addresses:#?}");
    let sent = account.endpoint.seen_actions("CreateVolume");
    assert_eq!(sent.len(), 1, "the retry found the first volume by its token tag: {sent:#?}");
    assert!(sent[0].params.get("ClientToken").is_some_and(|t| t.starts_with("cellar-")), "{sent:#?}");
    assert_eq!(account.endpoint.seen_actions("AllocateAddress").len(), 1);
}
