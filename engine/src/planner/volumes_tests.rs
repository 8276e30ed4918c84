//! Plans of servers with several data volumes (the planner's unit tests; the plan
//! snapshots of fixture kwak are under `plans/`).

use super::tests::{address, check, data_volume, instance, world};
use crate::inventory::ServerResources;
use crate::model::*;

const TWO: &str = r#"(platform: "web", zone: "b", volumes: [
  (device: "/dev/sdf", mount: "/data"),
  (device: "/dev/sdg", size_gb: 100, mount: "/srv/db", persist: ["/var/lib/mysql"]),
])"#;

fn second_volume(attached_to: Option<&str>) -> Volume {
    let mut v = data_volume();
    v.id = VolumeId::new("vol-2");
    v.size_gb = 100;
    v.tags.insert(crate::volumes::DEVICE_TAG.into(), "/dev/sdg".into());
    v.attached_to = attached_to.map(InstanceId::new);
    v
}

fn stopped(volumes: Vec<Volume>) -> crate::inventory::Inventory {
    world(
        ServerResources { volumes, addresses: vec![address("eipalloc-1", "198.51.100.1", &[])], ..Default::default() },
        &[],
    )
}

#[test]
fn create_server_creates_and_attaches_every_volume() {
    check(
        "create-server@ale 20",
        r#"(platform: "web", zone: "b", auto_scale_capacity: 0, volumes: [
  (device: "/dev/sdh", mount: "/data"), (device: "/dev/sdg", size_gb: 100, mount: "/srv/db")])"#,
        world(ServerResources::default(), &[]),
        &[
            "#1 allocate Elastic IP for ale []",
            "#2 create data volume /dev/sdh of ale: 20 GiB gp3 in us-east-1b []",
            "#3 create data volume /dev/sdg of ale: 100 GiB gp3 in us-east-1b []",
            "#4 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b []",
            "#5 attach the volume of #2 to the instance of #4 as /dev/sdh [#2 #4]",
            "#6 attach the volume of #3 to the instance of #4 as /dev/sdg [#3 #4]",
            "#7 associate the address of #1 with the instance of #4 [#1 #4]",
            "#8 wait until ale is healthy on the instance of #4 [#4 #5 #6 #7]",
        ],
    );
}

#[test]
fn attach_instance_attaches_every_volume_or_refuses() {
    let attach = |volumes| {
        let mut lines =
            vec!["#1 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b []".to_string()];
        lines.extend(volumes);
        lines
    };
    let both = attach(vec![
        "#2 attach volume vol-1 to the instance of #1 as /dev/sdf [#1]".to_string(),
        "#3 attach volume vol-2 to the instance of #1 as /dev/sdg [#1]".to_string(),
        "#4 associate address eipalloc-1 with the instance of #1 [#1]".to_string(),
        "#5 wait until ale is healthy on the instance of #1 [#1 #2 #3 #4]".to_string(),
    ]);
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    // Listed in any order, the untagged volume is the first (/dev/sdf).
    check("attach-instance@ale", TWO, stopped(vec![second_volume(None), data_volume()]), &both);
    check(
        "attach-instance@ale",
        TWO,
        stopped(vec![data_volume()]),
        &["error: ale has no data volume for /dev/sdg, which `volumes` (cfg/servers/ale.ron:1:39) names\n  fix: a volume added to the configuration after create-server is not created by cellar: create it in the server's zone and tag it Name=ale cellar:role=data cellar:device=<device>, or remove it from `volumes`"],
    );
    let mut held = ServerResources { instances: vec![instance("i-1", InstanceState::Running)], ..Default::default() };
    held.volumes = vec![data_volume(), second_volume(Some("i-1"))];
    check(
        "attach-instance@ale",
        TWO,
        world(held, &[]),
        &["error: instance i-1 is already attached to volume vol-2 of ale\n  fix: terminate it first (or use it as it is)"],
    );
    check(
        "start-auto-scaling@ale",
        TWO,
        stopped(vec![second_volume(None)]),
        &["error: ale has no data volume for /dev/sdf, which `volumes` (cfg/servers/ale.ron:1:39) names\n  fix: a volume added to the configuration after create-server is not created by cellar: create it in the server's zone and tag it Name=ale cellar:role=data cellar:device=<device>, or remove it from `volumes`"],
    );
}

#[test]
fn upgrade_ami_of_a_server_missing_a_configured_volume_is_refused() {
    let mut r = ServerResources { volumes: vec![data_volume()], ..Default::default() };
    let mut g = crate::model::AutoScalingGroup {
        name: AutoScalingGroupName::new("ale"),
        launch: LaunchSource::Template { id: LaunchTemplateId::new("lt-1"), version: Some(1) },
        zones: vec![Zone::new("us-east-1b")],
        subnets: vec![],
        min: 1,
        max: 1,
        desired: 1,
        instances: vec![],
        activities: vec![],
        tags: Default::default(),
        deleting: false,
    };
    g.tags.insert(NAME_TAG.into(), "ale".into());
    r.groups = vec![g];
    check(
        "upgrade-ami@ale",
        TWO,
        world(r, &[]),
        &["error: ale has no data volume for /dev/sdg, which `volumes` (cfg/servers/ale.ron:1:39) names\n  fix: a volume added to the configuration after create-server is not created by cellar: create it in the server's zone and tag it Name=ale cellar:role=data cellar:device=<device>, or remove it from `volumes`"],
    );
}
