//! The launch settings reach the endpoint: what RunInstances, launch template versions,
//! launch configurations and CreateVolume send, and what moto describes back.

use super::*;

/// The fixture configuration plus `gueuze`: a key pair, a metadata hop limit, an io2 data
/// volume and a root volume size, auto-scaled from a launch template; and `lambic`, the
/// same from a launch configuration.
fn launch_settings_config() -> (tempfile::TempDir, cellar_engine::config::ConfigTree) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    for sub in ["", "platforms", "servers"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap().flatten().filter(|e| e.path().is_file()) {
            std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
        }
    }
    let server = |launch: &str| {
        format!(
            r#"(platform: "debian-web", zone: "a", key_name: "ops", metadata: (hop_limit: 2),
                ebs: (type: io2, iops: 1000), root_volume_gb: 24, launch: {launch})"#
        )
    };
    std::fs::write(dir.path().join("servers/gueuze.ron"), server("Template")).unwrap();
    std::fs::write(dir.path().join("servers/lambic.ron"), server("Configuration")).unwrap();
    let tree = cellar_engine::config::ConfigTree::load(dir.path()).unwrap();
    (dir, tree)
}

/// The text of `<tag>...</tag>` elements in an XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &xml[at + open.len()..];
            rest.find(&close).map(|end| rest[..end].to_string())
        })
        .collect()
}

/// RunInstances, the launch template version, the launch configuration, the group and
/// CreateVolume carry the launch settings (instance profile, security groups, subnet, key
/// pair, metadata options, root and data volume settings): checked in what was sent and in
/// what moto describes back. moto does not model a root volume's type, encryption or KMS
/// key on the instance (its root volume is a plain volume of the image's size), nor does it
/// check that a profile, group or key exists at launch: the simulator's tests check those
/// (`simulator/src/world/tests/network.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_settings_reach_the_endpoint() {
    let Some(upstream) = moto_endpoint("launch_settings_reach_the_endpoint") else { return };
    let account = MotoAccount::open(&upstream).await;
    account.endpoint.raw_ec2(REGION, &[("Action", "CreateKeyPair"), ("KeyName", "ops")]);
    let cloud = account.cloud();
    let (_dir, tree) = launch_settings_config();
    let web = cloud.describe_security_groups(&region()).await.unwrap();
    let vpcs = cloud.describe_vpcs(&region()).await.unwrap();
    let default_vpc = vpcs.iter().find(|v| v.is_default).expect("moto's default VPC").id.clone();
    let web = web.iter().find(|g| g.name == "web" && g.vpc == default_vpc).expect("the web group").id.clone();
    let subnet = cloud
        .describe_subnets(&region())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.vpc == default_vpc && s.zone.as_str() == "us-east-1a" && s.default_for_zone)
        .expect("the default subnet of us-east-1a")
        .id;
    for line in ["create-server@gueuze 20", "create-server@lambic 20"] {
        let plan = support::plan_in(&*cloud, &tree, line).await.unwrap();
        let report =
            cellar_engine::executor::apply(cloud.clone(), Arc::new(support::Recorder::new(true)), &plan, fast_policy())
                .await;
        assert!(report.succeeded(), "{line}: {report:#?}");
    }

    check_sent(&account.endpoint, &web, &subnet);
    check_described_back(&account.endpoint, &web, &subnet);
    check_adapter_reads(&*cloud, &web, &subnet).await;
}

/// What was sent: RunInstances (the instance create-server adopts) and CreateVolume.
fn check_sent(endpoint: &support::moto::Endpoint, web: &SecurityGroupId, subnet: &SubnetId) {
    let runs = endpoint.seen_actions("RunInstances");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for run in &runs {
        let p = |k: &str| run.params.get(k).map(String::as_str);
        assert_eq!(p("IamInstanceProfile.Name"), Some("cellar-agent"));
        assert_eq!(p("SecurityGroupId.1"), Some(web.as_str()));
        assert_eq!(p("SubnetId"), Some(subnet.as_str()));
        assert_eq!(p("KeyName"), Some("ops"));
        assert_eq!(p("MetadataOptions.HttpTokens"), Some("required"));
        assert_eq!(p("MetadataOptions.HttpPutResponseHopLimit"), Some("2"));
        assert_eq!(p("BlockDeviceMapping.1.Ebs.VolumeSize"), Some("24"));
        assert_eq!(p("BlockDeviceMapping.1.Ebs.VolumeType"), Some("gp3"));
        assert_eq!(p("BlockDeviceMapping.1.Ebs.Encrypted"), Some("true"));
    }
    for create in endpoint.seen_actions("CreateVolume") {
        let p = |k: &str| create.params.get(k).map(String::as_str);
        assert_eq!((p("VolumeType"), p("Iops"), p("Encrypted")), (Some("io2"), Some("1000"), Some("true")));
    }
}

/// The running instances as moto's DescribeInstances reports them.
fn check_described_back(endpoint: &support::moto::Endpoint, web: &SecurityGroupId, subnet: &SubnetId) {
    let described = endpoint.raw_ec2(
        REGION,
        &[("Action", "DescribeInstances"), ("Filter.1.Name", "instance-state-name"), ("Filter.1.Value.1", "running")],
    );
    let arns: Vec<String> =
        xml_values(&described, "arn").into_iter().filter(|a| a.contains(":instance-profile/")).collect();
    assert_eq!(arns.len(), 2, "{described}");
    assert!(arns.iter().all(|a| a.ends_with(":instance-profile/cellar-agent")), "{arns:?}");
    let subnets = xml_values(&described, "subnetId");
    assert!(subnets.len() >= 2 && subnets.iter().all(|s| *s == subnet.as_str()), "{described}");
    assert_eq!(xml_values(&described, "httpTokens"), ["required", "required"], "{described}");
    assert_eq!(xml_values(&described, "httpPutResponseHopLimit"), ["2", "2"], "{described}");
    assert_eq!(xml_values(&described, "keyName"), ["ops", "ops"], "{described}");
    assert!(xml_values(&described, "groupId").iter().filter(|g| **g == web.as_str()).count() >= 2, "{described}");
}

/// The data volumes, the launch template version, the launch configuration and the groups,
/// read through the adapter.
async fn check_adapter_reads(cloud: &dyn Cloud, web: &SecurityGroupId, subnet: &SubnetId) {
    for server in ["gueuze", "lambic"] {
        let filter = Filter::Server(ServerName::new(server));
        let volumes = cloud.describe_volumes(&region(), &filter).await.unwrap();
        let data = volumes.iter().find(|v| v.tags.get("cellar:role").map(String::as_str) == Some("data")).unwrap();
        assert_eq!((data.ebs.volume_type, data.ebs.iops, data.ebs.encrypted), (VolumeType::Io2, Some(1000), true));
        let groups = cloud.describe_auto_scaling_groups(&region(), &filter).await.unwrap();
        assert_eq!(groups[0].subnets, std::slice::from_ref(subnet), "{server}: VPCZoneIdentifier");
    }
    let expected = |settings: &LaunchSettings| {
        assert_eq!(settings.instance_profile.as_ref().map(|p| p.as_str()), Some("cellar-agent"));
        assert_eq!(settings.security_groups, std::slice::from_ref(web));
        assert_eq!(settings.key_name.as_ref().map(|k| k.as_str()), Some("ops"));
        assert_eq!(settings.metadata, MetadataOptions { http_tokens: HttpTokens::Required, hop_limit: Some(2) });
        let root = settings.root_volume.as_ref().expect("a root volume mapping");
        assert_eq!((root.size_gb, root.volume_type, root.encrypted), (Some(24), VolumeType::Gp3, true));
    };
    let templates =
        cloud.describe_launch_templates(&region(), &Filter::Server(ServerName::new("gueuze"))).await.unwrap();
    expected(&templates[0].latest.settings);
    let configurations = cloud.describe_launch_configurations(&region()).await.unwrap();
    let lambic = configurations.iter().find(|c| c.name.starts_with("lambic-v")).expect("lambic's configuration");
    expected(&lambic.spec.settings);
}
