//! The simulator refuses what AWS refuses, end to end through the executor and `status`:
//! a launch naming an instance profile the account lacks, an instance with no profile, an
//! agent whose instance profile lacks an action, the Elastic IP quota, and what
//! bundle-ami of a server does to it (a reboot, its data volume left out of the image).
//! Each of these tests fails on a simulator without the rule it names.

mod support;

use cellar_engine::agent::DATA_DEVICE;
use cellar_engine::cloud::{Cloud, Filter};
use cellar_engine::executor::{self, Outcome, Policy};
use cellar_engine::model::*;
use cellar_engine::plan::Action;
use cellar_engine::status::{self, Health};
use cellar_sim::world::ImageDevice;
use cellar_sim::{default_world, Sim};
use std::sync::Arc;
use support::Recorder;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn east() -> Region {
    Region::new("us-east-1")
}

/// The actions of docs/agent-iam-policy.json but `missing`.
fn agent_actions_but(missing: &str) -> Vec<&'static str> {
    [
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeAddresses",
        "ec2:AttachVolume",
        "ec2:AssociateAddress",
        "autoscaling:DescribeAutoScalingInstances",
    ]
    .into_iter()
    .filter(|a| *a != missing)
    .collect()
}

/// A replacement instance's agent runs with the instance's profile: with a `cellar-agent`
/// that lacks `ec2:AttachVolume`, its AttachVolume is refused with UnauthorizedOperation
/// (the executor's own AttachVolume, at create-server, is not: the operator is not subject
/// to instance profiles), the server stays degraded, and `status` says why, from the
/// agent's line on the instance's console — read for the unhealthy server only (one call
/// more than for the healthy one). Today's simulator runs every agent with every right and
/// keeps no console output.
#[test]
fn an_agent_without_attach_volume_is_refused_and_status_says_why() {
    rt().block_on(async {
        let mut world = default_world();
        world.set_instance_profile_actions("cellar-agent", &agent_actions_but("ec2:AttachVolume")).unwrap();
        let sim = Arc::new(Sim::new(world));
        support::apply(&sim, "create-server@ommegang 20").await;
        sim.advance(std::time::Duration::from_secs(60)).await;
        let name = ServerName::new("ommegang");
        let calls = || sim.world().api_calls();
        let before = calls();
        let healthy = status::read(&*sim, &name, &east()).await.unwrap();
        let healthy_calls = calls() - before;
        assert_eq!(healthy.health, Health::Healthy, "{healthy:?}");

        support::change(&sim, "!terminate ommegang").await;
        sim.advance(std::time::Duration::from_secs(300)).await;
        let before = calls();
        let degraded = status::read(&*sim, &name, &east()).await.unwrap();
        assert_eq!(calls() - before, healthy_calls + 1, "one GetConsoleOutput, for the unhealthy server only");
        let instance = degraded.instance.as_ref().unwrap().id.clone();
        let volume = degraded.volume.as_ref().unwrap().id.clone();
        assert_eq!(degraded.health, Health::Degraded);
        assert!(
            degraded.reason.ends_with(&format!(
                "; agent on {instance} could not attach {volume}: UnauthorizedOperation \
                 (instance profile cellar-agent does not allow ec2:AttachVolume)"
            )),
            "{}",
            degraded.reason
        );
        let console = sim.world().console(&instance).to_vec();
        assert!(console.last().unwrap().starts_with("cellar agent: failed: could not attach"), "{console:?}");
    });
}

/// Launches carry the configured instance profile, and one the account does not have is
/// refused as AWS refuses it (InvalidParameterValue): create-server
/// fails, compensates, and leaves nothing. Today's simulator launches without a profile.
#[test]
fn a_launch_naming_a_missing_instance_profile_is_refused() {
    rt().block_on(async {
        let mut world = default_world();
        world.remove_instance_profile("cellar-agent").unwrap();
        let sim = Arc::new(Sim::new(world));
        let plan = support::plan(&*sim, "create-server@ommegang 20").await.unwrap();
        assert!(plan.render_text().contains("instance profile cellar-agent"), "{}", plan.render_text());
        let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
        let failed: Vec<String> = report
            .outcomes
            .values()
            .filter_map(|o| match o {
                Outcome::Failed(e) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        // RunInstances and CreateLaunchTemplate run side by side after the gate; both name it.
        assert!(!failed.is_empty(), "{report:#?}");
        for e in &failed {
            assert!(
                e.contains("InvalidParameterValue: Value (cellar-agent) for parameter iamInstanceProfile.name"),
                "{e}"
            );
        }
        assert!(report.undone.iter().all(|u| u.result.is_ok()), "{:#?}", report.undone);
        let left = support::tagged(&*sim, "ommegang").await;
        assert!(left.iter().all(|r| r.starts_with("eipalloc")), "only the gated address may stay: {left:?}");
    });
}

/// An instance that carries no instance profile has no credentials: its agent's first call
/// is refused, nothing is attached or associated, and `status` says why.
#[test]
fn an_instance_without_a_profile_has_no_rights() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        support::apply(&sim, "create-server@ommegang 20").await;
        let name = ServerName::new("ommegang");
        let first = sim.world().find_server_instance(&name).unwrap().id;
        support::change(&sim, "!terminate ommegang").await;
        // The group launches a replacement; it loses its profile while it boots, before its
        // agent starts (20 s after it runs).
        let mut replacement = None;
        for _ in 0..120 {
            sim.advance(std::time::Duration::from_secs(5)).await;
            replacement = sim.world().find_server_instance(&name).map(|i| i.id).filter(|id| *id != first);
            if replacement.is_some() {
                break;
            }
        }
        let instance = replacement.expect("a replacement");
        sim.with_world(|w| w.set_instance_profile(&instance, None)).unwrap();
        sim.advance(std::time::Duration::from_secs(300)).await;
        let s = status::read(&*sim, &ServerName::new("ommegang"), &east()).await.unwrap();
        assert_eq!(s.instance.as_ref().map(|i| &i.id), Some(&instance));
        assert_eq!(sim.world().instance_profile(&instance), None);
        assert!(
            s.reason.ends_with(&format!(
                "agent on {instance} could not describe instance: UnauthorizedOperation (instance {instance} has no \
                 instance profile, so no credentials for ec2:DescribeInstances)"
            )),
            "{}",
            s.reason
        );
    });
}

/// Five Elastic IPs per region: with five held, create-server's AllocateAddress fails with
/// AddressLimitExceeded (not retried), the rest of the plan is skipped and nothing is left
/// behind. Today's simulator allocates without limit.
#[test]
fn the_address_quota_fails_create_server_and_leaves_nothing() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        for _ in 0..4 {
            sim.allocate_address(&east(), Tags::new()).await.unwrap();
        }
        let held = sim.describe_addresses(&east(), &Filter::All).await.unwrap().len();
        assert_eq!(held, 5, "duvel's and four more");
        let plan = support::plan(&*sim, "create-server@ommegang 20").await.unwrap();
        let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
        let allocate = plan.steps.iter().find(|s| matches!(s.action, Action::AllocateAddress { .. })).unwrap();
        match &report.outcomes[&allocate.id] {
            Outcome::Failed(e) => assert!(e.to_string().contains("AddressLimitExceeded"), "{e}"),
            other => panic!("AllocateAddress should fail, got {other:?}"),
        }
        assert!(!report.succeeded());
        assert!(report.undone.iter().all(|u| u.result.is_ok()), "{:#?}", report.undone);
        assert_eq!(support::tagged(&*sim, "ommegang").await, Vec::<String>::new(), "nothing left behind");
        assert_eq!(sim.describe_addresses(&east(), &Filter::All).await.unwrap().len(), 5);
        // A raised quota lets the same plan through.
        sim.with_world(|w| w.set_address_limit(6)).unwrap();
        support::apply(&sim, "create-server@ommegang 20").await;
    });
}

/// bundle-ami of a server: the plan says the server reboots and leaves its data volume out;
/// applied, the instance reboots and the image maps the data volume's device to NoDevice,
/// with no snapshot of the data. Today's CreateImage neither reboots nor records devices,
/// and the plan says neither.
#[test]
fn bundle_ami_of_a_server_reboots_it_and_leaves_its_data_out() {
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        support::apply(&sim, "create-server@ommegang 20").await;
        let plan = support::plan(&*sim, "bundle-ami@ommegang").await.unwrap();
        let text = plan.render_text();
        assert!(text.contains("(it reboots), leaving out /dev/sdf"), "{text}");
        assert!(text.contains("reboots while it is imaged"), "{text}");
        assert!(text.contains("is left out of the image"), "{text}");
        let report = executor::apply(sim.clone(), Arc::new(Recorder::new(true)), &plan, Policy::default()).await;
        assert!(report.succeeded(), "{report:#?}");
        let w = sim.world();
        let image = w.images().values().max_by_key(|i| (i.created_at, i.id.clone())).unwrap().id.clone();
        assert_eq!(w.image_block_devices(&image), [ImageDevice { device: DATA_DEVICE.into(), snapshot: None }]);
        assert!(w.snapshots().is_empty(), "no snapshot of the data volume");
        let instance = w.server_instance(&ServerName::new("ommegang")).unwrap();
        assert!(w
            .log()
            .iter()
            .any(|e| e.message == format!("{instance}: rebooting for CreateImage (NoReboot not set)")));
    });
}

/// What a doctor does for every server: read each region's network once
/// (`inventory::read_network`) and resolve each server's settings in it
/// (`network::resolve_network`), getting every finding at once, typed. The fixture servers
/// resolve; a server naming a group only another VPC has, a group of another VPC by id and
/// a missing key pair gets the three findings.
#[test]
fn every_servers_network_resolves_or_lists_its_findings() {
    use cellar_engine::network::{resolve_network, NetworkFinding};
    rt().block_on(async {
        let sim = Arc::new(Sim::new(default_world()));
        // A second VPC of us-east-1 (its default group is sg-00000005) with a `db` group.
        sim.with_world(|w| {
            let vpc = w.add_vpc(&east(), false).unwrap();
            w.add_security_group(&vpc, "db").unwrap();
        });
        let tree = support::fixture_config();
        let network = cellar_engine::inventory::read_network(&*sim, &east(), true).await.unwrap();
        for name in tree.server_names() {
            let config = tree.server(&name).unwrap();
            let zone = Zone::in_region(&config.region.value, config.zone.value);
            let resolved = resolve_network(&network, &config.launch_settings, &east(), Some(&zone)).unwrap();
            assert_eq!(resolved.subnet.as_ref().map(|s| sim.world().subnets()[s].zone.clone()), Some(zone), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("global.ron"),
            r#"(region: "us-east-1", zone: "a", instance_type: "t3.small", ami_type: "web-server",
                architecture: "x86_64", instance_profile: "cellar-agent")"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("servers")).unwrap();
        std::fs::create_dir_all(dir.path().join("platforms")).unwrap();
        std::fs::write(dir.path().join("platforms/web.ron"), "()").unwrap();
        std::fs::write(
            dir.path().join("servers/broken.ron"),
            "(platform: \"web\", security_groups: [\"db\", \"sg-00000005\"],\n key_name: \"nobody\")",
        )
        .unwrap();
        let tree = cellar_engine::config::ConfigTree::load(dir.path()).unwrap();
        let config = tree.server(&ServerName::new("broken")).unwrap();
        let findings =
            resolve_network(&network, &config.launch_settings, &east(), Some(&Zone::new("us-east-1a"))).unwrap_err();
        let findings: Vec<&NetworkFinding> = findings.iter().collect();
        let kinds: Vec<&str> = findings
            .iter()
            .map(|f| match *f {
                NetworkFinding::UnknownSecurityGroup { .. } => "unknown group",
                NetworkFinding::SecurityGroupOutsideVpc { .. } => "group of another VPC",
                NetworkFinding::UnknownKeyPair { .. } => "unknown key pair",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["unknown group", "group of another VPC", "unknown key pair"], "{findings:#?}");
        let text = findings[0].to_string();
        assert!(text.contains("servers/broken.ron:1:37") && text.contains("fix: create it"), "{text}");
    });
}
