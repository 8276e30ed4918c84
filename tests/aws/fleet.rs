//! Fleets on the moto endpoint: a batched inventory read (one describe per kind with a
//! `tag:Name` filter of several values) gives each server what reading it alone gives.

use super::*;
use cellar_engine::{command, inventory, planner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_read_in_batches_the_same_as_one_by_one() {
    let Some(upstream) = moto_endpoint("a_fleet_is_read_in_batches_the_same_as_one_by_one") else { return };
    let account = MotoAccount::open(&upstream).await;
    let cloud = account.cloud();
    for line in ["create-server@chimay 10", "create-server@duvel 30"] {
        let report = apply_on(cloud.clone(), line, fast_policy()).await.unwrap();
        assert!(report.succeeded(), "{line}: {report:#?}");
    }
    // The agents (the account's boot loop) tag their instances when done: wait for both, so
    // nothing changes between the two reads compared below.
    for _ in 0..300 {
        let instances = cloud.describe_instances(&region(), &Filter::All).await.unwrap();
        let running = instances.iter().filter(|i| i.state == InstanceState::Running);
        let (all, tagged) = running.fold((0, 0), |(all, tagged), i| {
            (all + 1, tagged + usize::from(i.tags.contains_key(cellar_engine::agent::OUTCOME_TAG)))
        });
        if all == 2 && tagged == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tree = support::fixture_config();
    let scopes: Vec<_> = ["chimay", "duvel", "ommegang"]
        .iter()
        .map(|s| {
            let c =
                command::parse(planner::COMMANDS, &format!("stop-auto-scaling@{s}"), &[], &Default::default()).unwrap();
            planner::scope(&c, &tree).unwrap()
        })
        .collect();
    let seen = account.endpoint.seen().len();
    let batched = inventory::read_many(&*cloud, &scopes).await.unwrap();
    // (The agents' boot loop describes instances too, by id: only the tag filters count.)
    let by_name: Vec<_> = account.endpoint.seen()[seen..]
        .iter()
        .filter(|s| {
            s.action == "DescribeInstances" && s.params.get("Filter.1.Name").map(String::as_str) == Some("tag:Name")
        })
        .map(|s| s.params.clone())
        .collect();
    assert_eq!(by_name.len(), 1, "one DescribeInstances for the three servers: {by_name:#?}");
    assert_eq!(by_name[0].get("Filter.1.Value.3").map(String::as_str), Some("ommegang"), "{by_name:#?}");
    for (scope, read) in scopes.iter().zip(&batched) {
        let alone = inventory::read(&*cloud, scope).await.unwrap();
        assert_eq!(read.resources, alone.resources, "{:?}", scope.server);
    }
    assert!(!batched[0].resources.is_empty() && !batched[1].resources.is_empty() && batched[2].resources.is_empty());
}
