//! The agent of a server with several data volumes, as the simulator boots it: every
//! volume attached at its device (the untagged one at the first), or a clear failure on the
//! console when a configured volume does not exist.

use super::*;
use crate::store::default_world;
use cellar_engine::agent::{user_data, AgentInvocation, DATA_ROLE};
use cellar_engine::volumes::{VolumeSpec, DEVICE_TAG};

fn east() -> Region {
    Region::new("us-east-1")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn spec(device: &str, mount: &str, persist: &[&str]) -> VolumeSpec {
    VolumeSpec { device: device.into(), mount: mount.into(), persist: persist.iter().map(|d| d.to_string()).collect() }
}

/// Server `x` with a volume per `(size, device tag)` and an address; boots an instance whose
/// user data names `volumes`; returns the volumes, the instance and its console output.
async fn boot(volumes: &[(u32, Option<&str>)], specs: Vec<VolumeSpec>) -> (Sim, Vec<VolumeId>, InstanceId, String) {
    let sim = Sim::new(default_world());
    let r = east();
    sim.allocate_address(&r, tags(&[("Name", "x")])).await.unwrap();
    let mut ids = Vec::new();
    for (size_gb, device) in volumes {
        let mut t = tags(&[("Name", "x"), (ROLE_TAG, DATA_ROLE)]);
        t.extend(device.map(|d| (DEVICE_TAG.to_string(), d.to_string())));
        let request = CreateVolumeRequest {
            client_token: None,
            zone: Zone::new("us-east-1a"),
            size_gb: *size_gb,
            tags: t,
            ebs: EbsSettings::default(),
            snapshot: None,
        };
        ids.push(sim.create_volume(&r, request).await.unwrap().id);
    }
    let invocation = AgentInvocation {
        mode: AgentMode::Spawn,
        server: ServerName::new("x"),
        persist: vec![],
        spawn_hook: None,
        volumes: specs,
    };
    let request = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        subnet: None,
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: user_data(&invocation).unwrap(),
        settings: LaunchSettings {
            instance_profile: Some(InstanceProfile::new("cellar-agent")),
            ..LaunchSettings::default()
        },
        tags: tags(&[("Name", "x")]),
        client_token: "x".into(),
    };
    let instance = sim.run_instance(&r, request).await.unwrap().id;
    sim.sleep(Duration::from_secs(300)).await;
    let console = sim.get_console_output(&r, &instance).await.unwrap();
    (sim, ids, instance, console)
}

#[tokio::test]
async fn the_agent_attaches_every_volume_at_its_device() {
    let specs = vec![spec("/dev/sdf", "/data", &["/etc"]), spec("/dev/sdg", "/srv/db", &["/var/lib/mysql"])];
    // The second volume is created first: the match is by tag, not by order.
    let (sim, ids, instance, console) = boot(&[(200, Some("/dev/sdg")), (40, None)], specs).await;
    let w = sim.world();
    let attached: Vec<(u32, Option<&InstanceId>, Option<&str>)> = ids
        .iter()
        .map(|id| &w.volumes()[id])
        .map(|v| (v.size_gb, v.attached_to.as_ref(), v.device.as_deref()))
        .collect();
    assert_eq!(attached, [(200, Some(&instance), Some("/dev/sdg")), (40, Some(&instance), Some("/dev/sdf"))]);
    assert!(
        console.contains(&format!(
            "cellar agent: done: attached volume {} as /dev/sdf; attached volume {} as /dev/sdg;",
            ids[1], ids[0]
        )),
        "{console}"
    );
    assert!(
        w.render_log(None).contains(&format!("agent {instance}: mounted /etc, /var/lib/mysql")),
        "{}",
        w.render_log(None)
    );
}

#[tokio::test]
async fn a_configured_volume_that_does_not_exist_fails_the_agent_clearly() {
    let specs = vec![spec("/dev/sdf", "/data", &[]), spec("/dev/sdh", "/srv/logs", &["/var/log"])];
    let (_, _, _, console) = boot(&[(40, None)], specs).await;
    assert!(
        console.contains("cellar agent: failed: server x has no data volume for /dev/sdh (at /srv/logs): no volume is tagged cellar:role=data cellar:device=/dev/sdh fix: "),
        "{console}"
    );
}
