//! `cellar watch --backend aws` against the endpoint: a few looks at a healthy server, then
//! its instance terminated from outside, reported as an incident within a look or two.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_a_termination_on_the_endpoint() {
    let Some(upstream) = moto_endpoint("watch_reports_a_termination_on_the_endpoint") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    let out = cellar_aws(&url, &["apply", "create-server@chimay", "10", "--yes", "--dns-confirmed"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    // Looks every 2 s for 16 s; the instance is terminated 5 s in. Health only: the endpoint
    // runs on the wall clock, so a scheduled backup may fall due (tests/aws/backups.rs).
    let args: Vec<String> = ["watch", "chimay", "--interval", "2s", "--for", "16s", "--format", "json", "--no-backups"]
        .map(String::from)
        .to_vec();
    let endpoint = url.clone();
    let watching = tokio::task::spawn_blocking(move || run_cellar_aws(&endpoint, &args, &[]));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cloud = account.cloud();
    let instances = cloud.describe_instances(&region(), &Filter::Server(ServerName::new("chimay"))).await.unwrap();
    let running = instances.iter().find(|i| i.state == InstanceState::Running).expect("chimay runs");
    cloud.terminate_instance(&region(), &running.id).await.unwrap();
    let out = watching.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = events.first().unwrap_or_else(|| panic!("no event: {}", text(&out)));
    assert!(matches!(first["kind"].as_str(), Some("down" | "degraded")), "{}", text(&out));
    assert_eq!(first["server"], "chimay");
    assert_eq!(first["previous"], "healthy", "healthy at the looks before the termination: {}", text(&out));
    assert!(first["reason"].as_str().unwrap().contains(running.id.as_str()), "{first}");
    // The looks read the instances' status checks through the adapter.
    assert!(!account.endpoint.seen_actions("DescribeInstanceStatus").is_empty());
    assert!(text(&out).contains("watching 1 server every 2s for 16s"), "{}", text(&out));
}
