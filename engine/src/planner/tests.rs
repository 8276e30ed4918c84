use super::*;
use crate::command;
use crate::config::ConfigTree;
use crate::inventory::{Inventory, ServerResources};
use crate::planner::COMMANDS;
use std::path::Path;

const GLOBAL: &str = r#"(
region: "us-east-1",
zone: "a",
instance_type: "m5.large",
ami_type: "web-server",
architecture: "x86_64",
persist: ["/etc", "/var/www"],
instance_profile: "cellar-agent",
)"#;

fn config(server_file: &str) -> ConfigTree {
    ConfigTree::from_files(
        Path::new("cfg"),
        [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/ale.ron", server_file)],
    )
}

pub(super) fn tags(server: &str) -> Tags {
    Tags::from([(NAME_TAG.to_string(), server.to_string())])
}

pub(super) fn address(id: &str, ip: &str, extra: &[(&str, &str)]) -> Address {
    let mut t = tags("ale");
    for (k, v) in extra {
        t.insert(k.to_string(), v.to_string());
    }
    Address { allocation_id: AllocationId::new(id), public_ip: ip.into(), associated_to: None, tags: t }
}

pub(super) fn world(resources: ServerResources, dns: &[&str]) -> Inventory {
    let region = Region::new("us-east-1");
    let image = |id: &str, name: &str, arch| Image {
        id: ImageId::new(id),
        name: name.into(),
        architecture: arch,
        region: region.clone(),
        created_at: Timestamp(0),
        state: ImageState::Available,
        tags: Tags::new(),
        root_device: Some("/dev/xvda".into()),
        root_size_gb: Some(8),
    };
    Inventory {
        regions: vec![RegionInfo {
            region: region.clone(),
            zones: "abcd".chars().map(|c| Zone::in_region(&region, c)).collect(),
        }],
        resources,
        images: vec![
            image("ami-1", "web-server-2026-04-02", Architecture::X86_64),
            image("ami-2", "web-server-2026-08-04", Architecture::X86_64),
            image("ami-3", "web-server-2026-11-01", Architecture::Arm64),
            image("ami-4", "base-2026-10-01", Architecture::X86_64),
        ]
        .into(),
        dns: dns.iter().map(|s| s.to_string()).collect(),
        network: default_network(&region, "abcd").into(),
        ..Default::default()
    }
}

/// A default VPC (`vpc-d`) with a default subnet per zone (`subnet-a`, ...) and its
/// `default` security group (`sg-d`).
pub(super) fn default_network(region: &Region, letters: &str) -> crate::network::Network {
    let vpc = VpcId::new("vpc-d");
    crate::network::Network {
        vpcs: vec![Vpc { id: vpc.clone(), is_default: true }],
        subnets: letters
            .chars()
            .map(|c| Subnet {
                id: SubnetId::new(format!("subnet-{c}")),
                vpc: vpc.clone(),
                zone: Zone::in_region(region, c),
                default_for_zone: true,
            })
            .collect(),
        security_groups: vec![SecurityGroup { id: SecurityGroupId::new("sg-d"), name: "default".into(), vpc }],
        key_pairs: None,
    }
}

/// Plans `command` and renders the outcome as one line per step (or the error).
pub(super) fn check(command_line: &str, server_file: &str, inventory: Inventory, expected: &[&str]) {
    let words: Vec<String> = command_line.split_whitespace().map(String::from).collect();
    let command = command::parse_words(COMMANDS, &words).unwrap();
    let got: Vec<String> = match plan(&command, &config(server_file), &inventory) {
        Ok(p) => {
            p.validate().expect("planned plans are valid");
            p.steps
                .iter()
                .map(|s| {
                    let after: Vec<String> = s.after.iter().map(|a| a.to_string()).collect();
                    format!("{} {} [{}]", s.id, s.describe().1, after.join(" "))
                })
                .collect()
        }
        Err(e) => vec![format!("error: {e}")],
    };
    assert_eq!(got, expected, "command {command_line}");
}

const WITH_DNS: &str = r#"(platform: "web", dns_name: "ale.example.com", zone: "b")"#;

#[test]
fn fresh_server_with_new_address_has_a_gate_first() {
    check(
        "create-server@ale 20",
        WITH_DNS,
        world(ServerResources::default(), &["203.0.113.1"]),
        &[
            "#1 allocate Elastic IP for ale []",
            "#2 DNS gate: ale.example.com must point at the address of #1 before apply goes on [#1]",
            "#3 create data volume of ale: 20 GiB gp3 in us-east-1b [#2]",
            "#4 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b [#2]",
            "#5 attach the volume of #3 to the instance of #4 as /dev/sdf [#3 #4]",
            "#6 associate the address of #1 with the instance of #4 [#1 #4]",
            "#7 create launch template ale for ale: m5.large from web-server-2026-08-04 [#2]",
            "#8 create auto scaling group ale of one in us-east-1b from the launch settings of #7 [#5 #6 #7]",
            "#9 put the instance of #4 into auto scaling group ale [#4 #8]",
            "#10 wait until ale is healthy on the instance of #4 [#4 #9]",
        ],
    );
}

#[test]
fn address_matching_dns_is_reused() {
    let r = ServerResources { addresses: vec![address("eipalloc-9", "198.51.100.9", &[])], ..Default::default() };
    check(
        "create-server@ale 20 t3.small - - c",
        WITH_DNS,
        world(r, &["198.51.100.9"]),
        &[
            "#1 create data volume of ale: 20 GiB gp3 in us-east-1c []",
            "#2 launch instance of ale: t3.small from web-server-2026-08-04 in us-east-1c []",
            "#3 attach the volume of #1 to the instance of #2 as /dev/sdf [#1 #2]",
            "#4 associate address eipalloc-9 with the instance of #2 [#2]",
            "#5 create launch template ale for ale: t3.small from web-server-2026-08-04 []",
            "#6 create auto scaling group ale of one in us-east-1c from the launch settings of #5 [#3 #4 #5]",
            "#7 put the instance of #2 into auto scaling group ale [#2 #6]",
            "#8 wait until ale is healthy on the instance of #2 [#2 #7]",
        ],
    );
}

#[test]
fn address_awaiting_dns_is_reused_behind_a_gate() {
    let waiting = address("eipalloc-7", "198.51.100.7", &[(AWAITING_DNS_TAG, "ale.example.com")]);
    let stale = address("eipalloc-3", "198.51.100.3", &[]);
    let r = ServerResources { addresses: vec![stale, waiting], ..Default::default() };
    let inventory = world(r, &["203.0.113.1"]);
    check(
        "create-server@ale 20",
        WITH_DNS,
        inventory.clone(),
        &[
            "#1 DNS gate: ale.example.com must point at address eipalloc-7 before apply goes on []",
            "#2 create data volume of ale: 20 GiB gp3 in us-east-1b [#1]",
            "#3 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b [#1]",
            "#4 attach the volume of #2 to the instance of #3 as /dev/sdf [#2 #3]",
            "#5 associate address eipalloc-7 with the instance of #3 [#3]",
            "#6 create launch template ale for ale: m5.large from web-server-2026-08-04 [#1]",
            "#7 create auto scaling group ale of one in us-east-1b from the launch settings of #6 [#4 #5 #6]",
            "#8 put the instance of #3 into auto scaling group ale [#3 #7]",
            "#9 wait until ale is healthy on the instance of #3 [#3 #8]",
        ],
    );
    let cmd = command::parse_words(COMMANDS, &["create-server@ale".into(), "20".into()]).unwrap();
    let notes = plan(&cmd, &config(WITH_DNS), &inventory).unwrap().notes.join("\n");
    assert!(notes.contains("198.51.100.3 (eipalloc-3) of ale does not match the DNS record"), "{notes}");
}

#[test]
fn no_auto_scaling_and_no_dns() {
    check(
        "create-server@ale 5",
        r#"(platform: "web", auto_scale_capacity: 0)"#,
        world(ServerResources::default(), &[]),
        &[
            "#1 allocate Elastic IP for ale []",
            "#2 create data volume of ale: 5 GiB gp3 in us-east-1a []",
            "#3 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1a []",
            "#4 attach the volume of #2 to the instance of #3 as /dev/sdf [#2 #3]",
            "#5 associate the address of #1 with the instance of #3 [#1 #3]",
            "#6 wait until ale is healthy on the instance of #3 [#3 #4 #5]",
        ],
    );
}

#[test]
fn refusals() {
    let existing = ServerResources {
        volumes: vec![Volume {
            id: VolumeId::new("vol-1"),
            state: VolumeState::Available,
            zone: Zone::new("us-east-1b"),
            size_gb: 20,
            attached_to: None,
            device: None,
            tags: tags("ale"),
            ebs: EbsSettings::default(),
        }],
        ..Default::default()
    };
    check(
        "create-server@ale 20",
        WITH_DNS,
        world(existing, &[]),
        &["error: server ale already exists in us-east-1: volume vol-1\n  fix: pick a new name, or retire it first (destroy-server@ale)"],
    );
    check(
        "create-server@ale",
        WITH_DNS,
        world(ServerResources::default(), &[]),
        &["error: create-server@ale needs an EBS size: give it as the first argument (e.g. `create-server@ale 20`) or set ebs_size_gb in cfg/servers/ale.ron"],
    );
    check(
        "create-server@ale 20 - - - f",
        WITH_DNS,
        world(ServerResources::default(), &[]),
        &["error: zone us-east-1f (from command-line argument 5) does not exist in us-east-1; zones: a, b, c, d"],
    );
    check(
        "create-server@ale 20 - - us-west-2",
        WITH_DNS,
        world(ServerResources::default(), &[]),
        &["error: region us-west-2 (from command-line argument 4) is not offered by this backend; regions: us-east-1"],
    );
    check(
        "create-server@ale 20 - db",
        WITH_DNS,
        world(ServerResources::default(), &[]),
        &["error: no image named db-YYYY-MM-DD for x86_64 in us-east-1 (images there: web-server-2026-04-02, web-server-2026-08-04, web-server-2026-11-01, base-2026-10-01)\n  fix: bundle one (bundle-ami), or choose another AMI type or architecture"],
    );
    check(
        "create-server@ale 20 t4g.small",
        WITH_DNS,
        world(ServerResources::default(), &[]),
        &["error: instance type t4g.small (from command-line argument 2) cannot run x86_64 images; it runs arm64"],
    );
}

#[test]
fn same_inputs_same_plan_bytes() {
    let cmd = command::parse_words(COMMANDS, &["create-server@ale".into(), "20".into()]).unwrap();
    let a = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
    let b = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
    assert_eq!(a.to_ron(), b.to_ron());
    let reread = Plan::from_ron("p.ron", &a.to_ron()).unwrap();
    assert_eq!(reread, a);
}

/// The RunInstances client token of `command_line` planned on `inventory`.
fn token(command_line: &str, inventory: &Inventory) -> String {
    let words: Vec<String> = command_line.split_whitespace().map(String::from).collect();
    let command = command::parse_words(COMMANDS, &words).unwrap();
    let plan = plan(&command, &config(WITH_DNS), inventory).unwrap();
    let tokens: Vec<&String> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::RunInstance { client_token, .. } => Some(client_token),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), 1, "{command_line}");
    tokens[0].clone()
}

#[test]
fn client_tokens_differ_with_the_inputs() {
    // Two plans must never share a token: AWS would answer the second RunInstances with
    // the first one's instance instead of launching. Plans differing in one character of
    // the command, or only in what was observed, get different tokens; the same plan gets
    // the same one.
    let empty = world(ServerResources::default(), &[]);
    let mut seen = std::collections::BTreeMap::new();
    for size in 1..=300 {
        let line = format!("create-server@ale {size}");
        let t = token(&line, &empty);
        assert!(t.starts_with("cellar-ale-") && t.len() == "cellar-ale-".len() + 16, "{t}");
        assert_eq!(t, token(&line, &empty), "{line}: not deterministic");
        if let Some(other) = seen.insert(t.clone(), line.clone()) {
            panic!("{line} and {other} share the token {t}");
        }
    }
    for dns in ["198.51.100.1", "198.51.100.3", "198.51.100.5", "198.51.100.7"] {
        let t = token("create-server@ale 20", &world(ServerResources::default(), &[dns]));
        if let Some(other) = seen.insert(t.clone(), format!("DNS {dns}")) {
            panic!("DNS {dns} and {other} share the token {t}");
        }
    }
}

pub(super) fn instance(id: &str, state: InstanceState) -> Instance {
    Instance {
        id: InstanceId::new(id),
        state,
        zone: Zone::new("us-east-1b"),
        instance_type: InstanceType::new("m5.large"),
        image: ImageId::new("ami-2"),
        architecture: Architecture::X86_64,
        public_ip: None,
        launched_at: Timestamp(0),
        tags: tags("ale"),
        group: None,
        launched_from: None,
    }
}

pub(super) fn data_volume() -> Volume {
    let mut t = tags("ale");
    t.insert(ROLE_TAG.into(), crate::agent::DATA_ROLE.into());
    Volume {
        id: VolumeId::new("vol-1"),
        state: VolumeState::Available,
        zone: Zone::new("us-east-1b"),
        size_gb: 20,
        attached_to: None,
        device: None,
        tags: t,
        ebs: EbsSettings::default(),
    }
}

#[test]
fn an_address_still_shown_on_a_dead_instance_of_the_server_is_free() {
    // AWS drops the association only once the instance is gone: an address on the server's
    // terminated instance is reused; one on an instance that is not the server's is not.
    let on = |holder: &str, instances: Vec<Instance>| {
        let mut a = address("eipalloc-9", "198.51.100.9", &[]);
        a.associated_to = Some(InstanceId::new(holder));
        world(
            ServerResources { instances, volumes: vec![data_volume()], addresses: vec![a], ..Default::default() },
            &[],
        )
    };
    let reused = [
        "#1 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b []",
        "#2 attach volume vol-1 to the instance of #1 as /dev/sdf [#1]",
        "#3 associate address eipalloc-9 with the instance of #1 [#1]",
        "#4 wait until ale is healthy on the instance of #1 [#1 #2 #3]",
    ];
    check("attach-instance@ale", WITH_DNS, on("i-1", vec![instance("i-1", InstanceState::Terminated)]), &reused);
    check("attach-instance@ale", WITH_DNS, on("i-1", vec![instance("i-1", InstanceState::ShuttingDown)]), &reused);
    let not_ours = [
        "#1 allocate Elastic IP for ale []",
        "#2 DNS gate: ale.example.com must point at the address of #1 before apply goes on [#1]",
        "#3 launch instance of ale: m5.large from web-server-2026-08-04 in us-east-1b [#2]",
        "#4 attach volume vol-1 to the instance of #3 as /dev/sdf [#3]",
        "#5 associate the address of #1 with the instance of #3 [#1 #3]",
        "#6 wait until ale is healthy on the instance of #3 [#3 #4 #5]",
    ];
    check("attach-instance@ale", WITH_DNS, on("i-99", vec![instance("i-1", InstanceState::Terminated)]), &not_ours);
}

#[test]
fn a_workspace_goes_to_the_global_zone_if_the_region_has_it_else_to_its_first() {
    let with_zones = |letters: &str| {
        let mut inventory = world(ServerResources::default(), &[]);
        let region = Region::new("us-east-1");
        inventory.regions[0].zones = letters.chars().map(|c| Zone::in_region(&region, c)).collect();
        inventory
    };
    let plan = |zone: &str| {
        vec![
            format!("#1 launch instance of workspace-1: t3.small from web-server-2026-08-04 in {zone} []"),
            "#2 wait until the instance of #1 runs [#1]".to_string(),
        ]
    };
    for (letters, zone) in [("abcd", "us-east-1a"), ("dcba", "us-east-1a"), ("bcd", "us-east-1b"), ("dc", "us-east-1d")]
    {
        let expected = plan(zone);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        check("create-workspace", WITH_DNS, with_zones(letters), &expected);
    }
}

fn group(desired: u32, min: u32, launch: LaunchSource) -> AutoScalingGroup {
    AutoScalingGroup {
        name: AutoScalingGroupName::new("ale"),
        launch,
        zones: vec![Zone::new("us-east-1b")],
        subnets: vec![SubnetId::new("subnet-b")],
        min,
        max: 1,
        desired,
        instances: vec![],
        activities: vec![],
        tags: tags("ale"),
        deleting: false,
    }
}

fn template(id: &str) -> LaunchTemplate {
    LaunchTemplate {
        id: LaunchTemplateId::new(id),
        name: "ale".into(),
        latest_version: 1,
        default_version: 1,
        latest: LaunchSpec {
            instance_type: InstanceType::new("m5.large"),
            image: ImageId::new("ami-2"),
            user_data: String::new(),
            settings: LaunchSettings::default(),
        },
        tags: tags("ale"),
    }
}

fn lt(id: &str) -> LaunchSource {
    LaunchSource::Template { id: LaunchTemplateId::new(id), version: Some(1) }
}

#[test]
fn stop_auto_scaling_scales_in_whatever_keeps_an_instance() {
    let plan_of = |g: AutoScalingGroup| {
        world(ServerResources { groups: vec![g], launch_templates: vec![template("lt-1")], ..Default::default() }, &[])
    };
    // A group that adopted its instance has min 0 and desired 1: it is scaled in too.
    check(
        "stop-auto-scaling@ale --keep-group",
        WITH_DNS,
        plan_of(group(1, 0, lt("lt-1"))),
        &["#1 update auto scaling group ale: min 0, desired 0 []"],
    );
    // Already at 0: nothing to scale, the group and its template are deleted.
    check(
        "stop-auto-scaling@ale",
        WITH_DNS,
        plan_of(group(0, 0, lt("lt-1"))),
        &["#1 delete auto scaling group ale []", "#2 delete launch template lt-1 [#1]"],
    );
}

#[test]
fn start_auto_scaling_launch_settings() {
    let volume = data_volume();
    let addr = address("eipalloc-9", "198.51.100.9", &[]);
    let resources = |groups: Vec<AutoScalingGroup>, templates: Vec<LaunchTemplate>| ServerResources {
        volumes: vec![volume.clone()],
        addresses: vec![addr.clone()],
        groups,
        launch_templates: templates,
        ..Default::default()
    };
    // The kept group's template exists: a new version of it, and the group launches the
    // template's latest version from then on.
    check(
        "start-auto-scaling@ale",
        WITH_DNS,
        world(resources(vec![group(0, 0, lt("lt-1"))], vec![template("lt-1")]), &[]),
        &[
            "#1 add a version to launch template lt-1: m5.large from web-server-2026-08-04 []",
            "#2 update auto scaling group ale: launch from launch template lt-1 version $Latest, min 1, desired 1 [#1]",
            "#3 wait until ale is healthy [#2]",
        ],
    );
    // The kept group's template is gone: a new template, and a leftover one of the server is
    // deleted first (its name would clash).
    check(
        "start-auto-scaling@ale",
        WITH_DNS,
        world(resources(vec![group(0, 0, lt("lt-1"))], vec![template("lt-9")]), &[]),
        &[
            "#1 delete launch template lt-9 []",
            "#2 create launch template ale for ale: m5.large from web-server-2026-08-04 [#1]",
            "#3 update auto scaling group ale: launch from the launch settings of #2, min 1, desired 1 [#2]",
            "#4 wait until ale is healthy [#3]",
        ],
    );
    // No group, a leftover template: deleted before the new one is created.
    check(
        "start-auto-scaling@ale",
        WITH_DNS,
        world(resources(vec![], vec![template("lt-9")]), &[]),
        &[
            "#1 delete launch template lt-9 []",
            "#2 create launch template ale for ale: m5.large from web-server-2026-08-04 [#1]",
            "#3 create auto scaling group ale of one in us-east-1b from the launch settings of #2 [#2]",
            "#4 wait until ale is healthy [#3]",
        ],
    );
}

#[test]
fn start_auto_scaling_adopts_a_running_instance_and_gives_it_the_address() {
    let mut volume = data_volume();
    volume.attached_to = Some(InstanceId::new("i-1"));
    volume.state = VolumeState::InUse;
    let unassociated = address("eipalloc-9", "198.51.100.9", &[]);
    let mut associated = unassociated.clone();
    associated.associated_to = Some(InstanceId::new("i-1"));
    let with = |a: &Address| {
        world(
            ServerResources {
                instances: vec![instance("i-1", InstanceState::Running)],
                volumes: vec![volume.clone()],
                addresses: vec![a.clone()],
                ..Default::default()
            },
            &[],
        )
    };
    check(
        "start-auto-scaling@ale",
        WITH_DNS,
        with(&unassociated),
        &[
            "#1 create launch template ale for ale: m5.large from web-server-2026-08-04 []",
            "#2 create auto scaling group ale of one in us-east-1b from the launch settings of #1 [#1]",
            "#3 associate address eipalloc-9 with instance i-1 []",
            "#4 put instance i-1 into auto scaling group ale [#2 #3]",
            "#5 wait until ale is healthy on instance i-1 [#4]",
        ],
    );
    check(
        "start-auto-scaling@ale",
        WITH_DNS,
        with(&associated),
        &[
            "#1 create launch template ale for ale: m5.large from web-server-2026-08-04 []",
            "#2 create auto scaling group ale of one in us-east-1b from the launch settings of #1 [#1]",
            "#3 put instance i-1 into auto scaling group ale [#2]",
            "#4 wait until ale is healthy on instance i-1 [#3]",
        ],
    );
}
