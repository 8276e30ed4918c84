//! The AWS backend against a real AWS API endpoint (moto server), through the real SDK.
//!
//! - `differential_*`: the same command scenarios on the simulator and on moto; after
//!   every step the two servers, normalized (ids replaced by roles), must be equal.
//! - `every_command_*`: the commands the differential suite does not cover (workspaces,
//!   bundling with a copy to another region).
//! - `injected_*`: AWS error responses moto cannot produce (throttling, capacity, 5xx,
//!   eventual consistency), injected by the test proxy in front of moto, handled by the
//!   adapter's error mapping and the engine's retries.
//! - `first_contact` (`tests/aws/first_contact.rs`): refused credentials, commands on a
//!   server's own instance, `cellar doctor`, `docs/agent-role.sh`.
//! - `launch_settings` (`tests/aws/launch_settings.rs`): what launches send and moto
//!   describes back.
//! - `locks` (`tests/aws/locks.rs`): server locks, their AlreadyExists, `apply` refused and `unlock`.
//! - `instance_status` (`tests/aws/instance_status.rs`): DescribeInstanceStatus through the adapter.
//! - `snapshots` (`tests/aws/snapshots.rs`): a volume restored from a snapshot, CopySnapshot, DeleteSnapshot.
//! - `backups` (`tests/aws/backups.rs`): `cellar apply backup@kwak` and `prune@kwak` through the binary.
//!
//! Where moto differs from AWS's documented behaviour, the test follows AWS and says so:
//! - moto replaces a terminated group instance inside the TerminateInstances call; AWS
//!   does it on its next health check. The tests wait for health either way.
//! - moto does not run user data; `support::aws::Booter` runs the agent as cloud-init would.
//! - moto ignores RunInstances' ClientToken (a retried call would launch twice); AWS
//!   honours it. The tests check that a retry *sends* the same token.
//! - moto keeps terminated instances forever; AWS lists them for about an hour. The
//!   simulator lists them too, so counts agree within a test.

mod support;

use cellar_engine::cloud::{Cloud, CloudErrorKind, Filter};
use cellar_engine::executor::Outcome;
use cellar_engine::model::*;
use cellar_engine::status::{self, Health};
use std::sync::Arc;
use std::time::Duration;
use support::aws::{apply_on, eventually, fast_policy, normalized, MotoAccount, REGION};
use support::moto::{moto_endpoint, Injection};

fn region() -> Region {
    Region::new(REGION)
}

/// The simulator's default world made to start where a fresh moto account starts: no
/// Elastic IP, no DNS records (on AWS the backend resolves real DNS, which these names do
/// not reach here), the same two x86_64 `web-server` images in us-east-1 and us-west-2.
fn sim_like_fresh_account() -> Arc<cellar_sim::Sim> {
    let sim = Arc::new(cellar_sim::Sim::new(cellar_sim::default_world()));
    sim.with_world(|w| {
        for host in ["ommegang.imarc.net", "duvel.imarc.net", "chimay.imarc.net", "achel.imarc.net"] {
            w.set_dns(host, vec![]).unwrap();
        }
        w.release_address(&region(), &AllocationId::new("eipalloc-0001")).unwrap();
    });
    sim
}

async fn health(cloud: &dyn Cloud, server: &str) -> Health {
    status::read(cloud, &ServerName::new(server), &region()).await.unwrap().health
}

/// One scenario step on the simulator, on a current-thread runtime of its own: the
/// simulator's shared virtual clock lets the earliest of concurrent sleepers advance it
/// after one `yield_now` round, which is only sound when all of them share one thread.
async fn sim_step(sim: &Arc<cellar_sim::Sim>, line: &str) {
    let (sim, line) = (sim.clone(), line.to_string());
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(sim_step_here(&sim, &line))
    })
    .await
    .unwrap()
}

/// A command, or a world change as AWS would make it.
async fn sim_step_here(sim: &Arc<cellar_sim::Sim>, line: &str) {
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["!image", name] => {
            sim.with_world(|w| w.add_image(name, Architecture::X86_64, &region(), Tags::new()));
        }
        ["!terminate", server] => {
            support::change(sim, &format!("!terminate {server}")).await;
            // The group notices, replaces, and the new instance's agent runs.
            sim.advance(Duration::from_secs(600)).await;
        }
        _ => {
            let report = apply_on(sim.clone(), line, cellar_engine::executor::Policy::default()).await.unwrap();
            assert!(report.succeeded(), "simulator: {line}: {report:#?}");
        }
    }
}

async fn moto_step(account: &MotoAccount, line: &str) {
    let cloud = account.cloud();
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["!image", name] => {
            account.endpoint.raw_ec2(REGION, &[("Action", "RegisterImage"), ("Name", name)]);
        }
        ["!terminate", server] => {
            let live = cloud
                .describe_instances(&region(), &Filter::Server(ServerName::new(*server)))
                .await
                .unwrap()
                .into_iter()
                .find(|i| i.state.is_alive())
                .expect("a live instance to terminate");
            cloud.terminate_instance(&region(), &live.id).await.unwrap();
            eventually(&*cloud, Duration::from_secs(30), "the replacement to be healthy", || async {
                health(&*cloud, server).await == Health::Healthy
            })
            .await;
        }
        _ => {
            let report = apply_on(cloud.clone(), line, fast_policy()).await.unwrap();
            assert!(report.succeeded(), "moto: {line}: {report:#?}\nagent runs: {:#?}", account.booted.lock().unwrap());
        }
    }
}

/// Runs `steps` for `server` on both backends and compares them after every step.
async fn differential(test: &str, server: &str, steps: &[&str]) {
    let Some(upstream) = moto_endpoint(test) else { return };
    let account = MotoAccount::open(&upstream).await;
    let sim = sim_like_fresh_account();
    for step in steps {
        sim_step(&sim, step).await;
        moto_step(&account, step).await;
        let sim_health = health(&*sim, server).await;
        let moto_cloud = account.cloud();
        // The booter may still be running an agent on moto: let it finish before comparing.
        eventually(&*moto_cloud, Duration::from_secs(30), "moto's health to match the simulator's", || async {
            health(&*moto_cloud, server).await == sim_health
        })
        .await;
        let (on_sim, on_moto) = (normalized(&*sim, server).await, normalized(&*moto_cloud, server).await);
        assert_eq!(on_sim, on_moto, "after `{step}` the backends differ:\n--- simulator\n{on_sim}--- moto\n{on_moto}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_server_lifecycle_with_launch_template() {
    differential(
        "differential_server_lifecycle_with_launch_template",
        "duvel",
        &[
            "create-server@duvel 30",
            "stop-auto-scaling@duvel",
            "attach-instance@duvel",
            "start-auto-scaling@duvel",
            "!image web-server-2026-12-01",
            "upgrade-ami@duvel --restart",
            "!image web-server-2026-12-02",
            "sync@duvel --restart",
            "!terminate duvel",
            "destroy-server@duvel --delete-data",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_launch_configuration_and_kept_group() {
    differential(
        "differential_launch_configuration_and_kept_group",
        "achel",
        &[
            "create-server@achel 10",
            "stop-auto-scaling@achel --keep-group",
            "start-auto-scaling@achel",
            "!image web-server-2026-12-01",
            "upgrade-ami@achel --restart",
            "destroy-server@achel",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_workspace_and_bundle_with_copy() {
    let Some(upstream) = moto_endpoint("every_command_workspace_and_bundle_with_copy") else { return };
    let account = MotoAccount::open(&upstream).await;
    let cloud = account.cloud();
    let report = apply_on(cloud.clone(), "create-workspace", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let workspace = cloud.describe_instances(&region(), &Filter::Server(ServerName::new("workspace-1"))).await.unwrap();
    assert_eq!(workspace.len(), 1, "{workspace:#?}");
    assert_eq!(workspace[0].state, InstanceState::Running);
    let report =
        apply_on(cloud.clone(), "bundle-ami@workspace-1 web-server --copy-to us-west-2", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let today = cloud.now().await.date();
    let name = format!("web-server-{today}");
    for r in ["us-east-1", "us-west-2"] {
        let images = cloud.describe_images(&Region::new(r)).await.unwrap();
        assert_eq!(images.iter().filter(|i| i.name == name).count(), 1, "{r}: {images:#?}");
    }
    // Bundling again the same day is refused: the name is taken.
    let again = support::plan(&*cloud, "bundle-ami@workspace-1 web-server").await;
    assert!(again.as_ref().is_err_and(|e| e.contains(&name)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_refusals_come_from_the_endpoint_state() {
    let Some(upstream) = moto_endpoint("every_command_refusals_come_from_the_endpoint_state") else { return };
    let account = MotoAccount::open(&upstream).await;
    let cloud = account.cloud();
    // Nothing exists in a fresh account: every command but create-server is refused.
    for line in ["stop-auto-scaling@duvel", "attach-instance@duvel", "upgrade-ami@duvel", "destroy-server@duvel"] {
        assert!(support::plan(&*cloud, line).await.is_err(), "{line} should be refused on an empty account");
    }
    let report = apply_on(cloud.clone(), "create-server@ommegang 20", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let again = support::plan(&*cloud, "create-server@ommegang 20").await;
    assert!(again.is_err(), "create-server twice: {again:?}");
    // Everything was tagged at creation: no untagged CreateVolume/RunInstances/AllocateAddress.
    for seen in account.endpoint.seen() {
        if ["CreateVolume", "RunInstances", "AllocateAddress", "CreateLaunchTemplate"].contains(&seen.action.as_str()) {
            assert_eq!(
                seen.params.get("TagSpecification.1.Tag.1.Key").map(String::as_str),
                Some("Name"),
                "{} without tags at creation: {:?}",
                seen.action,
                seen.params
            );
        }
    }
}

/// RunInstances throttled twice: the engine retries, with the same client token each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_throttling_is_retried_with_the_same_client_token() {
    let Some(upstream) = moto_endpoint("injected_throttling_is_retried_with_the_same_client_token") else { return };
    let account = MotoAccount::open(&upstream).await;
    account.endpoint.inject(Injection::new("RunInstances", 2, 503, "RequestLimitExceeded"));
    account.endpoint.inject(Injection::new("CreateAutoScalingGroup", 1, 400, "Throttling"));
    let report = apply_on(account.cloud(), "create-server@chimay 10", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let runs = account.endpoint.seen_actions("RunInstances");
    assert_eq!(runs.len(), 3, "{runs:#?}");
    let tokens: Vec<_> = runs.iter().map(|r| r.params.get("ClientToken").cloned()).collect();
    assert!(tokens[0].is_some() && tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(account.endpoint.seen_actions("CreateAutoScalingGroup").len(), 0, "chimay has no auto scaling");
    let instances =
        account.cloud.describe_instances(&region(), &Filter::Server(ServerName::new("chimay"))).await.unwrap();
    assert_eq!(instances.len(), 1, "exactly one instance: {instances:#?}");
}

/// A zone without capacity: the apply fails after its capacity window, and everything it
/// created is removed again (the new volume and Elastic IP included). Never another zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_capacity_shortage_is_compensated() {
    let Some(upstream) = moto_endpoint("injected_capacity_shortage_is_compensated") else { return };
    let account = MotoAccount::open(&upstream).await;
    account.endpoint.inject(Injection::new("RunInstances", 1000, 500, "InsufficientInstanceCapacity"));
    let report = apply_on(account.cloud(), "create-server@ommegang 20", fast_policy()).await.unwrap();
    assert!(!report.succeeded());
    let failure = report.outcomes.iter().find_map(|(_, o)| match o {
        Outcome::Failed(e) => Some(e.to_string()),
        _ => None,
    });
    assert!(failure.as_ref().is_some_and(|f| f.contains("InsufficientInstanceCapacity")), "{failure:?}");
    let zones: std::collections::BTreeSet<_> = account
        .endpoint
        .seen_actions("RunInstances")
        .into_iter()
        .filter_map(|r| r.params.get("Placement.AvailabilityZone").cloned())
        .collect();
    assert_eq!(zones.into_iter().collect::<Vec<_>>(), vec!["us-east-1b".to_string()]);
    let left = support::tagged(&*account.cloud, "ommegang").await;
    let volumes_left: Vec<_> = left.iter().filter(|l| !l.ends_with("deleted")).collect();
    assert!(volumes_left.is_empty(), "left behind after compensation: {left:?}");
    assert!(!account.endpoint.seen_actions("DeleteVolume").is_empty());
    assert!(!account.endpoint.seen_actions("ReleaseAddress").is_empty());
}

/// 5xx on CreateVolume and AttachVolume, and a fresh instance that DescribeInstances does
/// not know yet (eventual consistency): all retried, the apply completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_5xx_and_eventual_consistency_are_retried() {
    let Some(upstream) = moto_endpoint("injected_5xx_and_eventual_consistency_are_retried") else { return };
    let account = MotoAccount::open(&upstream).await;
    account.endpoint.inject(Injection::new("CreateVolume", 2, 500, "InternalError"));
    account.endpoint.inject(Injection::new("AttachVolume", 1, 503, "Unavailable"));
    account.endpoint.inject(Injection::new("AllocateAddress", 1, 503, "ServiceUnavailable"));
    let report = apply_on(account.cloud(), "create-server@chimay 10", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let instance = account
        .cloud
        .describe_instances(&region(), &Filter::Server(ServerName::new("chimay")))
        .await
        .unwrap()
        .remove(0);
    // Now the instance "is not visible yet" three times: a read by id retries through it.
    account
        .endpoint
        .inject(Injection::new("DescribeInstances", 3, 400, "InvalidInstanceID.NotFound").when(instance.id.as_str()));
    let cloud = account.cloud();
    let caller = cellar_engine::caller::Caller::new(&support::aws::fast_policy());
    let found = caller
        .call(&*cloud, cellar_engine::api::Api::DescribeInstances, || async {
            let found = cloud.describe_instances(&region(), &Filter::Id(instance.id.to_string())).await?;
            if found.is_empty() {
                // Filter::Id turns NotFound into "no such instance yet": make the caller wait.
                return Err(cellar_engine::cloud::CloudError::new(
                    CloudErrorKind::InvalidInstanceIdNotFound,
                    "not yet",
                ));
            }
            Ok(found)
        })
        .await
        .unwrap();
    assert_eq!(found[0].id, instance.id);
    let injected = account.endpoint.seen().into_iter().filter(|s| s.injected.is_some()).count();
    assert_eq!(injected, 7, "every injection was hit");
}

/// Errors come back typed, by code, at once (the adapter retries nothing itself), and the
/// engine's retry table decides what is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_codes_are_typed() {
    let Some(upstream) = moto_endpoint("error_codes_are_typed") else { return };
    let account = MotoAccount::open(&upstream).await;
    let cloud = account.cloud();
    let err = cloud.terminate_instance(&region(), &InstanceId::new("i-0123456789abcdef0")).await.unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::InvalidInstanceIdNotFound, "{err}");
    // Retried only as eventual consistency (a fresh instance not visible yet), for a window.
    let policy = cellar_engine::caller::Policy::default();
    assert_eq!(policy.retry_for(&err.kind), cellar_engine::caller::RetryFor::Within(policy.consistency_window));
    let missing = cloud.describe_volumes(&region(), &Filter::Id("vol-0123456789abcdef0".into())).await.unwrap();
    assert!(missing.is_empty(), "a describe by a missing id is an empty list");
    account.endpoint.inject(Injection::new("DescribeAddresses", 1, 503, "RequestLimitExceeded"));
    let err = cloud.describe_addresses(&region(), &Filter::All).await.unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::RequestLimitExceeded);
    assert!(err.retryable());
    // Nothing listens at the endpoint: refused, typed, not retried (a misconfiguration).
    let nowhere = support::aws::connect("http://127.0.0.1:9").await;
    let err = nowhere.describe_regions(&[]).await.unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Other("EndpointConnectionRefused".into()), "{err}");
    assert!(!err.retryable());
}

/// The `cellar` binary with `--backend aws`, pointed at `endpoint` the way a user would
/// point it at AWS: environment only (AWS_ENDPOINT_URL, credentials, region). Runs off the
/// async workers, which keep serving the test's proxy meanwhile.
async fn cellar_aws(endpoint: &str, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (endpoint, args) = (endpoint.to_string(), own(args));
    let extra_env: Vec<(String, String)> = extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || run_cellar_aws(&endpoint, &args, &extra_env)).await.unwrap()
}

fn run_cellar_aws(endpoint: &str, args: &[String], extra_env: &[(String, String)]) -> std::process::Output {
    // The fixtures, unless the test gives its own tree as CELLAR_CONFIG.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/config").to_string();
    let given = extra_env.iter().find(|(k, _)| k == "CELLAR_CONFIG").map(|(_, v)| v.clone());
    let config = given.unwrap_or(fixtures);
    // Its own working directory: `apply COMMAND` journals under `./.cellar/journals` on AWS.
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cellar"));
    command
        .current_dir(cwd.path())
        .args(["--config", &config, "--backend", "aws"])
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("CELLAR_BACKEND");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command.output().expect("run cellar")
}

fn text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_plans_applies_and_reports_status_on_the_endpoint() {
    let Some(upstream) = moto_endpoint("cli_plans_applies_and_reports_status_on_the_endpoint") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    let plan_file = tempfile::NamedTempFile::new().unwrap();
    let plan_path = plan_file.path().to_str().unwrap().to_string();
    let out = cellar_aws(&url, &["plan", "create-server@chimay", "10", "-o", &plan_path], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("launch instance of chimay: t3.medium from web-server-2026-08-04 in us-east-1c"),
        "{}",
        text(&out)
    );
    let out = cellar_aws(&url, &["apply", &plan_path, "--dns-confirmed"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = cellar_aws(&url, &["status", "chimay", "--format", "json"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["servers"][0]["health"], "healthy", "{status:#}");
    // The same command again is refused, by what the endpoint now holds.
    let out = cellar_aws(&url, &["plan", "create-server@chimay", "10"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already"), "{}", text(&out));
}

/// `cellar agent spawn` on a replacement instance: identity from the metadata stand-in,
/// then the data volume and the address move over through the AWS API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_agent_takes_over_volume_and_address_on_a_replacement() {
    let Some(upstream) = moto_endpoint("cli_agent_takes_over_volume_and_address_on_a_replacement") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let cloud = account.cloud();
    let report = apply_on(cloud.clone(), "create-server@chimay 10", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let chimay = Filter::Server(ServerName::new("chimay"));
    let old = cloud.describe_instances(&region(), &chimay).await.unwrap().remove(0);
    cloud.terminate_instance(&region(), &old.id).await.unwrap();
    let new = cloud
        .run_instance(
            &region(),
            cellar_engine::cloud::RunInstanceRequest {
                zone: old.zone.clone(),
                instance_type: old.instance_type.clone(),
                image: old.image.clone(),
                subnet: None,
                user_data: String::new(),
                settings: LaunchSettings {
                    instance_profile: Some(InstanceProfile::new("cellar-agent")),
                    ..LaunchSettings::default()
                },
                tags: old.tags.clone(),
                client_token: "replacement-1".into(),
            },
        )
        .await
        .unwrap();
    let imds = support::moto::imds_stand_in(new.id.as_str(), old.zone.as_str());
    let url = account.endpoint.url.clone();
    // The wrong server is refused before anything is touched.
    let metadata = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())];
    let out = cellar_aws(&url, &["agent", "spawn", "--server", "duvel"], &metadata).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tagged Name=chimay"), "{}", text(&out));
    let args = ["agent", "spawn", "--server", "chimay", "--persist", "/var/www", "--dry-run"];
    let out = cellar_aws(&url, &args, &metadata).await;
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("instance {} in us-east-1c (us-east-1)", new.id)), "{said}");
    assert!(said.contains("mount --bind '/data/var/www' '/var/www'"), "{said}");
    let volume = cloud.describe_volumes(&region(), &chimay).await.unwrap().remove(0);
    assert_eq!(volume.attached_to.as_ref(), Some(&new.id), "{volume:#?}");
    let address = cloud.describe_addresses(&region(), &chimay).await.unwrap().remove(0);
    assert_eq!(address.associated_to.as_ref(), Some(&new.id), "{address:#?}");
    // DetachVolume is never sent without the instance (moto crashes; AWS checks it).
    for detach in account.endpoint.seen_actions("DetachVolume") {
        assert!(detach.params.contains_key("InstanceId"), "{detach:?}");
    }
}

#[path = "aws/backups.rs"]
mod backups;
#[path = "aws/first_contact.rs"]
mod first_contact;
#[path = "aws/fleet.rs"]
mod fleet;
#[path = "aws/instance_status.rs"]
mod instance_status;
#[path = "aws/journal.rs"]
mod journal;
#[path = "aws/launch_settings.rs"]
mod launch_settings;
#[path = "aws/locks.rs"]
mod locks;
#[path = "aws/lost_responses.rs"]
mod lost_responses;
#[path = "aws/snapshots.rs"]
mod snapshots;
#[path = "aws/sync.rs"]
mod sync;

/// A server with two data volumes (fixture kwak) on both backends: created with both,
/// its instance terminated, the replacement's agent attaches both (each at its device) and
/// associates the address; then attach-instance and destroy-server --delete-data handle both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_two_data_volumes_follow_the_replacement() {
    let test = "differential_two_data_volumes_follow_the_replacement";
    differential(test, "kwak", &["create-server@kwak 40", "!terminate kwak"]).await;
    let Some(upstream) = moto_endpoint(test) else { return };
    let account = MotoAccount::open(&upstream).await;
    for step in ["create-server@kwak 40", "!terminate kwak"] {
        moto_step(&account, step).await;
    }
    let cloud = account.cloud();
    let kwak = Filter::Server(ServerName::new("kwak"));
    let live = cloud.describe_instances(&region(), &kwak).await.unwrap().into_iter().find(|i| i.state.is_alive());
    let live = live.expect("the replacement runs").id;
    let volumes_now = cloud.describe_volumes(&region(), &kwak).await.unwrap();
    let mut volumes: Vec<(u32, Option<InstanceId>, Option<String>)> =
        volumes_now.iter().map(|v| (v.size_gb, v.attached_to.clone(), v.device.clone())).collect();
    volumes.sort();
    let on = |device: &str| (Some(live.clone()), Some(device.to_string()));
    assert_eq!(volumes, [(40, on("/dev/sdf").0, on("/dev/sdf").1), (200, on("/dev/sdg").0, on("/dev/sdg").1)]);
    let address = cloud.describe_addresses(&region(), &kwak).await.unwrap().remove(0);
    assert_eq!(address.associated_to.as_ref(), Some(&live), "{address:#?}");
    // The CLI agent on that instance, as its user data runs it: both volumes already
    // attached; the machine side (printed) finds each disk by its volume id.
    let zone =
        cloud.describe_instances(&region(), &kwak).await.unwrap().into_iter().find(|i| i.id == live).unwrap().zone;
    let imds = support::moto::imds_stand_in(live.as_str(), zone.as_str());
    let metadata = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())];
    let args = [
        "agent",
        "spawn",
        "--server",
        "kwak",
        "--volume",
        "/dev/sdf=/data",
        "--persist",
        "/etc",
        "--volume",
        "/dev/sdg=/srv/mysql",
        "--persist",
        "/var/lib/mysql",
        "--dry-run",
    ];
    let out = cellar_aws(&account.endpoint.url, &args, &metadata).await;
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    let by_id = |size: u32| {
        let v = volumes_now.iter().find(|v| v.size_gb == size).expect("the volume");
        format!("'/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}'", v.id.as_str().replace('-', ""))
    };
    for expected in [
        by_id(40),
        by_id(200),
        "mountpoint -q '/srv/mysql' || mount \"$dev\" '/srv/mysql'".to_string(),
        "mountpoint -q '/var/lib/mysql' || mount --bind '/srv/mysql/var/lib/mysql' '/var/lib/mysql'".to_string(),
    ] {
        assert!(said.contains(&expected), "{expected} in:\n{said}");
    }
    for step in ["stop-auto-scaling@kwak", "attach-instance@kwak", "destroy-server@kwak --delete-data"] {
        moto_step(&account, step).await;
    }
    let left = cloud.describe_volumes(&region(), &kwak).await.unwrap();
    assert!(left.is_empty(), "--delete-data deletes both volumes: {left:#?}");
}
#[path = "aws/watch.rs"]
mod watch;
