//! The doctor's decisions over hand-made readings: each finding names the server, the
//! setting with its file:line, and the fix.

use super::*;
use crate::cloud::{CloudErrorKind, DryRun};
use crate::config::ConfigTree;
use crate::inventory::ServerResources;
use crate::model::*;

const GLOBAL: &str = "(\n    region: \"us-east-1\",\n    zone: \"a\",\n    instance_type: \"t3.medium\",\n    ami_type: \"web-server\",\n    architecture: \"x86_64\",\n    instance_profile: \"cellar-agent\",\n)\n";
const SERVER: &str = "(\n    platform: \"web\",\n    zone: \"f\",\n)\n";

fn config() -> ServerConfig {
    let files = [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/duvel.ron", SERVER)];
    ConfigTree::from_files(std::path::Path::new("cfg"), files).server(&ServerName::new("duvel")).unwrap()
}

fn image(name: &str, architecture: Architecture) -> Image {
    Image {
        id: ImageId::new(format!("ami-{name}")),
        name: name.to_string(),
        architecture,
        region: Region::new("us-east-1"),
        created_at: Timestamp(0),
        state: ImageState::Available,
        tags: Tags::new(),
        root_device: None,
        root_size_gb: None,
    }
}

fn regions() -> Vec<RegionInfo> {
    let zones = ["a", "b", "c"].iter().map(|l| Zone::new(format!("us-east-1{l}"))).collect();
    vec![RegionInfo { region: Region::new("us-east-1"), zones }]
}

fn error(kind: CloudErrorKind) -> CloudError {
    CloudError::new(kind, "from the test")
}

/// duvel with zone "f" (not offered to the account), no image of its kind, CreateVolume not allowed,
/// AttachVolume undecided, AllocateAddress allowed.
fn broken() -> Reading {
    let dry_runs = vec![
        // No image of duvel's kind: nothing to launch from, so no RunInstances.
        (Api::AllocateAddress, Ok(DryRunAnswer::Allowed)),
        (Api::CreateVolume, Err(error(CloudErrorKind::UnauthorizedOperation))),
        (Api::AttachVolume, Err(error(CloudErrorKind::InvalidVolumeNotFound))),
    ];
    let reads = vec![
        (Api::DescribeInstances, Ok(())),
        (Api::DescribeVolumes, Err(error(CloudErrorKind::UnauthorizedOperation))),
    ];
    Reading {
        identity: Ok(Some(CallerIdentity {
            account: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/ops".into(),
        })),
        regions: Some(Ok(regions())),
        servers: vec![ServerReading {
            name: ServerName::new("duvel"),
            config: Ok(config()),
            images: Some(Ok(vec![image("web-server-2026-01-01", Architecture::Arm64)])),
            reads,
            dry_runs,
            network: None,
        }],
    }
}

fn find<'a>(report: &'a Report, subject: &Subject) -> &'a Finding {
    report.findings.iter().find(|f| f.subject == *subject).unwrap_or_else(|| panic!("no {subject} in {report:#?}"))
}

#[test]
fn a_broken_server_names_each_setting_its_place_and_the_fix() {
    let report = assess(&broken());
    assert!(report.has_errors());
    let credentials = find(&report, &Subject::Credentials);
    assert_eq!(credentials.severity, Severity::Ok);
    assert!(credentials.message.contains("123456789012"), "{credentials}");
    let zone = find(&report, &Subject::Zone).to_string();
    assert!(
        zone.starts_with("error   duvel: zone (zone at cfg/servers/duvel.ron:3:11): us-east-1f does not exist"),
        "{zone}"
    );
    assert!(zone.contains("fix: set zone to a letter of us-east-1's zones: a, b, c"), "{zone}");
    let image = find(&report, &Subject::Image).to_string();
    assert!(
        image.contains("(ami_type at cfg/global.ron:5:15)") && image.contains("architecture at cfg/global.ron:6:19"),
        "{image}"
    );
    assert!(image.contains("web-server arm64") && image.contains("fix: bundle one"), "{image}");
    let volume = find(&report, &Subject::Permission(Api::CreateVolume));
    assert_eq!(volume.severity, Severity::Error);
    assert!(volume.to_string().contains("fix: allow ec2:CreateVolume"), "{volume}");
    let read = find(&report, &Subject::Read(Api::DescribeVolumes));
    assert!(read.severity == Severity::Error && read.to_string().contains("allow ec2:DescribeVolumes"), "{read}");
    assert!(read.to_string().contains("(or the action AWS's message names)"), "a read may call twice: {read}");
    assert!(!volume.to_string().contains("or the action"), "a dry run is one call: {volume}");
    let attach = find(&report, &Subject::Permission(Api::AttachVolume));
    assert_eq!(attach.severity, Severity::Warning, "{attach}");
    assert!(find(&report, &Subject::Permissions).message.contains("ec2:AllocateAddress"));
    let not_tried: Vec<&Finding> = report.findings.iter().filter(|f| f.subject == Subject::NotTried).collect();
    assert!(not_tried.iter().any(|f| f.message.contains("Auto Scaling has no DryRun")), "{not_tried:#?}");
    // No image of duvel's kind, so no launch was tried: said, not silently skipped.
    let launch = not_tried.iter().find(|f| f.server.is_some()).expect("a note about duvel's launches");
    assert!(launch.to_string().contains("not tried (ami_type at cfg/global.ron:5:15): ec2:RunInstances and ec2:CreateLaunchTemplate, for there is no image"), "{launch}");
    assert_eq!(report.count(Severity::Error), 4, "{:#?}", report.findings);
}

#[test]
fn refused_credentials_are_said_once_and_nothing_else_is_asked() {
    let mut reading = broken();
    reading.identity = Err(error(CloudErrorKind::NoCredentials));
    reading.regions = None;
    reading.servers[0].images = None;
    reading.servers[0].reads.clear();
    reading.servers[0].dry_runs.clear();
    let report = assess(&reading);
    assert_eq!(report.count(Severity::Error), 1, "{:#?}", report.findings);
    assert_eq!(find(&report, &Subject::Credentials).severity, Severity::Error);
    assert!(report.findings.iter().all(|f| f.subject != Subject::NotTried), "nothing was tried: {report:#?}");
}

#[test]
fn a_backend_says_what_it_does_not_model() {
    let mut reading = broken();
    reading.identity = Ok(None);
    reading.servers[0].dry_runs = vec![(Api::RunInstances, Ok(DryRunAnswer::NotModelled))];
    let report = assess(&reading);
    assert!(find(&report, &Subject::Credentials).message.contains("no credentials to check"));
    let note = find(&report, &Subject::Permissions);
    assert_eq!(note.severity, Severity::Note);
    assert!(note.message.contains("does not model DryRun"), "{note}");
}

#[test]
fn a_server_whose_configuration_fails_is_reported_with_its_problems() {
    let files = [("global.ron", GLOBAL), ("servers/duvel.ron", SERVER)];
    let tree = ConfigTree::from_files(std::path::Path::new("cfg"), files);
    let name = ServerName::new("duvel");
    let reading = Reading {
        identity: Ok(None),
        regions: Some(Ok(regions())),
        servers: vec![ServerReading {
            name: name.clone(),
            config: tree.server(&name),
            images: None,
            reads: vec![],
            dry_runs: vec![],
            network: None,
        }],
    };
    let report = assess(&reading);
    let problem = find(&report, &Subject::Config);
    assert_eq!(problem.severity, Severity::Error);
    assert!(problem.to_string().contains("cfg/servers/duvel.ron"), "{problem}");
}

#[test]
fn dry_runs_use_real_ids_only_where_harmless() {
    let config = config();
    let fresh = dry_runs_for(&config, None, None, &ServerResources::default(), Timestamp(7));
    let apis: Vec<Api> = fresh.iter().map(DryRun::api).collect();
    // No image: nothing to launch from, so no RunInstances or template to try.
    assert!(!apis.contains(&Api::RunInstances) && apis.contains(&Api::CreateVolume), "{apis:?}");
    let image = image("web-server-2026-01-01", Architecture::X86_64);
    let mut resources = ServerResources::default();
    resources.instances.push(Instance {
        id: InstanceId::new("i-0abc"),
        state: InstanceState::Running,
        zone: Zone::new("us-east-1f"),
        instance_type: InstanceType::new("t3.medium"),
        image: image.id.clone(),
        architecture: Architecture::X86_64,
        public_ip: None,
        launched_at: Timestamp(0),
        tags: Tags::new(),
        group: None,
        launched_from: None,
    });
    for request in dry_runs_for(&config, Some(&image), None, &resources, Timestamp(7)) {
        match request {
            DryRun::RunInstances(r) => {
                assert_eq!((r.image, r.zone.as_str()), (image.id.clone(), "us-east-1f"));
                assert_eq!(r.tags.get(NAME_TAG).map(String::as_str), Some("duvel"));
            }
            DryRun::TerminateInstances { instance } => assert_ne!(instance.as_str(), "i-0abc", "never a real instance"),
            DryRun::CreateTags { resource, .. } => assert_eq!(resource, "i-0abc"),
            DryRun::AttachVolume { volume, .. } => assert!(volume.as_str().starts_with("vol-0000"), "no volume yet"),
            _ => {}
        }
    }
    // Every changing EC2 call is tried or listed as not tried.
    let tried: Vec<Api> =
        dry_runs_for(&config, Some(&image), None, &resources, Timestamp(7)).iter().map(DryRun::api).collect();
    for api in Api::ALL.iter().filter(|a| a.is_mutating()) {
        assert!(tried.contains(api) ^ NOT_TRIED.contains(api), "{api}");
    }
}

/// us-east-1's default VPC with a subnet in zone a only, the groups `default` and `web`,
/// and the key pair `ops`.
fn network() -> crate::network::Network {
    let vpc = VpcId::new("vpc-1");
    crate::network::Network {
        vpcs: vec![Vpc { id: vpc.clone(), is_default: true }],
        subnets: vec![Subnet {
            id: SubnetId::new("subnet-a"),
            vpc: vpc.clone(),
            zone: Zone::new("us-east-1a"),
            default_for_zone: true,
        }],
        security_groups: ["default", "web"]
            .iter()
            .map(|n| SecurityGroup {
                id: SecurityGroupId::new(format!("sg-{n}")),
                name: n.to_string(),
                vpc: vpc.clone(),
            })
            .collect(),
        key_pairs: Some(vec![KeyName::new("ops")]),
    }
}

/// The server's network findings: (severity, field, file:line:column, message part, fix part).
fn network_findings(server_file: &str) -> Vec<(Severity, String, String, String)> {
    let files = [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/duvel.ron", server_file)];
    let config = ConfigTree::from_files(std::path::Path::new("cfg"), files).server(&ServerName::new("duvel")).unwrap();
    let reading = NetworkReading { network: std::sync::Arc::new(Ok(network())) };
    assess::launch_settings(&config, Some(&reading))
        .into_iter()
        .map(|f| {
            let at = f.setting.as_ref().map(|s| format!("{} at {}", s.field, s.source)).unwrap_or_default();
            (f.severity, at, f.message, f.fix.unwrap_or_default())
        })
        .collect()
}

#[test]
fn network_settings_are_resolved_as_the_planner_resolves_them() {
    let ok =
        network_findings("(\n    platform: \"web\",\n    security_groups: [\"web\"],\n    key_name: \"ops\",\n)\n");
    assert_eq!(ok.len(), 1, "{ok:#?}");
    assert_eq!(ok[0].0, Severity::Ok);
    assert_eq!(ok[0].2, "subnet subnet-a of us-east-1a in vpc-1; security groups web (sg-web), key pair ops");

    // Zone f has no subnet, `db` is no group of the VPC, `nokey` no key pair: each an
    // error at its own file:line, with its fix.
    let broken = "(\n    platform: \"web\",\n    zone: \"f\",\n    security_groups: [\"web\", \"db\"],\n    key_name: \"nokey\",\n)\n";
    let found = network_findings(broken);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().all(|f| f.0 == Severity::Error), "{found:#?}");
    let expect = [
        ("zone at cfg/servers/duvel.ron:3:11", "zone us-east-1f has no subnet in VPC vpc-1"),
        (
            "security_groups at cfg/servers/duvel.ron:4:30",
            "security group db (from cfg/servers/duvel.ron:4:30) does not exist in VPC vpc-1",
        ),
        (
            "key_name at cfg/servers/duvel.ron:5:15",
            "key pair nokey (from cfg/servers/duvel.ron:5:15) does not exist in us-east-1",
        ),
    ];
    for ((at, message), f) in expect.iter().zip(&found) {
        assert_eq!(&f.1, at, "{f:#?}");
        assert!(f.2.starts_with(message), "{f:#?}");
        assert!(!f.3.is_empty() && !f.2.contains("fix:"), "the fix is apart: {f:#?}");
    }

    // A refused read is said, naming the action.
    let config = config();
    let refused = NetworkReading { network: std::sync::Arc::new(Err(error(CloudErrorKind::UnauthorizedOperation))) };
    let found = assess::launch_settings(&config, Some(&refused));
    assert_eq!(found.len(), 1);
    assert!(found[0].to_string().contains("ec2:DescribeVpcs"), "{}", found[0]);
}
