//! The doctor's decisions: pure functions of what `read` found. Which dry runs to try for
//! a server ([`dry_runs_for`]) and what every answer means ([`assess`]).

use super::{Finding, NetworkReading, Reading, Report, ServerReading, Setting, Severity, Subject};
use crate::api::{Api, Service};
use crate::cloud::*;
use crate::config::{Problem, ServerConfig, Sourced};
use crate::inventory::ServerResources;
use crate::model::*;
use crate::network::{resolve_network, Network, NetworkFinding};
use crate::planner::Origin;

/// Well-formed ids of nothing, for dry runs of a server that has no such resource yet.
const NO_INSTANCE: &str = "i-00000000000000000";
const NO_VOLUME: &str = "vol-00000000000000000";
const NO_ADDRESS: &str = "eipalloc-00000000000000000";

/// The changing calls cellar makes that the doctor does not try: EC2's that act on a
/// resource that must exist first (deletes, detach, release, images, snapshots, template
/// versions), and every Auto Scaling one (Auto Scaling has no DryRun).
pub const NOT_TRIED: &[Api] = &[
    Api::DeleteVolume,
    Api::DetachVolume,
    Api::ReleaseAddress,
    Api::DeleteTags,
    Api::CreateLaunchTemplateVersion,
    Api::DeleteLaunchTemplate,
    Api::CreateImage,
    Api::CopyImage,
    Api::CreateSnapshot,
    Api::DeleteSnapshot,
    Api::CopySnapshot,
    Api::CreateLaunchConfiguration,
    Api::DeleteLaunchConfiguration,
    Api::CreateAutoScalingGroup,
    Api::UpdateAutoScalingGroup,
    Api::CreateOrUpdateTags,
    Api::AttachInstances,
    Api::DeleteAutoScalingGroup,
];

/// The dry runs for one server: what its create-server plan sends, with its settings, its
/// newest image and its resources' ids where it has them (so AWS checks the request as it
/// will be made), placeholders otherwise. Only calls that would be harmless if carried out
/// name a real resource: TerminateInstances never does.
pub fn dry_runs_for(
    config: &ServerConfig,
    image: Option<&Image>,
    network: Option<&Network>,
    resources: &ServerResources,
    now: Timestamp,
) -> Vec<DryRun> {
    let server = &config.name;
    let mut tags = config.tag_values();
    tags.insert(NAME_TAG.to_string(), server.to_string());
    let zone = config.zone_name();
    let instance = resources.current_instance().map(|i| i.id.clone());
    let volume = resources.data_volume();
    let launch = &config.launch_settings;
    let region = &config.region.value;
    // The network as the planner resolves it; where it does not resolve (a finding says
    // why), the settings without it, so the permission is still asked.
    let resolved = network.and_then(|n| resolve_network(n, launch, region, Some(&zone)).ok());
    let mut out = Vec::new();
    if let Some(image) = image {
        let settings = resolved
            .as_ref()
            .and_then(|r| crate::planner::launch_settings(launch, r, image, true).ok())
            .unwrap_or_else(|| LaunchSettings {
                instance_profile: launch.instance_profile.as_ref().map(|p| p.value.clone()),
                metadata: launch.metadata(),
                ..LaunchSettings::default()
            });
        out.push(DryRun::RunInstances(RunInstanceRequest {
            zone: zone.clone(),
            subnet: resolved.as_ref().and_then(|r| r.subnet.clone()),
            instance_type: config.instance_type.value.clone(),
            image: image.id.clone(),
            user_data: String::new(),
            settings: settings.clone(),
            tags: tags.clone(),
            client_token: format!("cellar-doctor-{server}-{}", now.0),
        }));
        out.push(DryRun::CreateLaunchTemplate(CreateLaunchTemplateRequest {
            name: format!("{server}-cellar-doctor"),
            spec: LaunchSpec {
                instance_type: config.instance_type.value.clone(),
                image: image.id.clone(),
                user_data: String::new(),
                settings,
            },
            tags: tags.clone(),
            client_token: None,
        }));
    }
    let volume_type = launch.ebs.volume_type.value;
    let size_gb = config.ebs_size_gb.as_ref().map_or(crate::catalog::ebs_limits(volume_type).min_gb, |s| s.value);
    let origin = config
        .ebs_size_gb
        .as_ref()
        .map_or(Origin::Config(launch.ebs.volume_type.source.clone()), |s| Origin::Config(s.source.clone()));
    // Invalid EBS settings are `cellar check`'s errors; the permission is asked regardless.
    let ebs = crate::planner::data_volume(&launch.ebs, size_gb, origin).unwrap_or_else(|_| launch.ebs.settings());
    out.push(DryRun::CreateVolume(CreateVolumeRequest {
        client_token: None,
        zone,
        size_gb,
        tags: tags.clone(),
        ebs,
        snapshot: None,
    }));
    // Attached where it already is (a no-op), else ids of nothing.
    let (volume_id, holder) = match volume.and_then(|v| Some((v.id.clone(), v.attached_to.clone()?))) {
        Some((v, i)) => (v, i),
        None => (VolumeId::new(NO_VOLUME), InstanceId::new(NO_INSTANCE)),
    };
    out.push(DryRun::AttachVolume {
        volume: volume_id,
        instance: holder,
        device: crate::agent::DATA_DEVICE.to_string(),
    });
    out.push(DryRun::AllocateAddress { tags: tags.clone() });
    let associated = resources.addresses.iter().find_map(|a| Some((a.allocation_id.clone(), a.associated_to.clone()?)));
    let (address, on) = associated.unwrap_or((AllocationId::new(NO_ADDRESS), InstanceId::new(NO_INSTANCE)));
    out.push(DryRun::AssociateAddress { address, instance: on });
    let tagged = instance.as_ref().map(|i| i.to_string()).or_else(|| volume.map(|v| v.id.to_string()));
    out.push(DryRun::CreateTags {
        resource: tagged.unwrap_or_else(|| NO_INSTANCE.to_string()),
        tags: [(NAME_TAG.to_string(), server.to_string())].into_iter().collect(),
    });
    out.push(DryRun::TerminateInstances { instance: InstanceId::new(NO_INSTANCE) });
    out
}

/// What the answers mean: every finding, account-wide first, then server by server.
pub fn assess(reading: &Reading) -> Report {
    let mut findings = vec![identity(&reading.identity)];
    for server in &reading.servers {
        findings.extend(assess_server(reading, server));
    }
    if reading.servers.is_empty() {
        findings.push(finding(Severity::Warning, None, Subject::Config, None, "no servers are configured", None));
    }
    if reading.regions.is_some() {
        // Said only when the credentials worked: otherwise nothing was tried at all.
        findings.push(not_tried(reading));
    }
    Report { findings }
}

fn finding(
    severity: Severity,
    server: Option<&ServerName>,
    subject: Subject,
    setting: Option<Setting>,
    message: impl Into<String>,
    fix: Option<String>,
) -> Finding {
    Finding { severity, server: server.cloned(), subject, setting, message: message.into(), fix }
}

fn setting<T>(field: &'static str, value: &Sourced<T>) -> Option<Setting> {
    Some(Setting { field, source: value.source.clone() })
}

fn identity(answer: &Result<Option<CallerIdentity>, CloudError>) -> Finding {
    let (severity, message) = match answer {
        Ok(Some(id)) => (Severity::Ok, format!("account {} as {} (STS GetCallerIdentity)", id.account, id.arn)),
        Ok(None) => (Severity::Note, "this backend has no credentials to check".into()),
        // The adapter's message says where credentials come from and how to fix them.
        Err(e) => (Severity::Error, e.to_string()),
    };
    finding(severity, None, Subject::Credentials, None, message, None)
}

fn assess_server(reading: &Reading, server: &ServerReading) -> Vec<Finding> {
    let name = &server.name;
    let config = match &server.config {
        Ok(config) => config,
        Err(errors) => return errors.0.iter().map(|p| config_problem(name, p)).collect(),
    };
    let mut out = Vec::new();
    match &reading.regions {
        None => {} // the credentials failed: said once, above
        Some(Err(e)) => out.push(refused(config, Subject::Read(Api::DescribeRegions), e)),
        Some(Ok(regions)) => out.extend(region_and_zone(config, regions)),
    }
    if let Some(images) = &server.images {
        out.push(image(config, images));
    }
    let no_image = matches!(&server.images, Some(Ok(images)) if super::read::newest_image(images, config).is_none());
    if no_image {
        let message = "ec2:RunInstances and ec2:CreateLaunchTemplate, for there is no image to launch from";
        let fix = Some("fix the image first, then run the doctor again".to_string());
        out.push(finding(
            Severity::Note,
            Some(name),
            Subject::NotTried,
            setting("ami_type", &config.ami_type),
            message,
            fix,
        ));
    }
    out.extend(reads(config, &server.reads));
    out.extend(permissions(config, &server.dry_runs));
    out.extend(launch_settings(config, server.network.as_ref()));
    out
}

fn config_problem(server: &ServerName, problem: &Problem) -> Finding {
    let setting = Some(Setting { field: "file", source: problem.source.clone() });
    finding(Severity::Error, Some(server), Subject::Config, setting, problem.message.clone(), problem.fix.clone())
}

fn region_and_zone(config: &ServerConfig, regions: &[RegionInfo]) -> Vec<Finding> {
    let server = Some(&config.name);
    let region = &config.region.value;
    let Some(info) = regions.iter().find(|r| r.region == *region) else {
        let known: Vec<&str> = regions.iter().map(|r| r.region.as_str()).collect();
        let fix = format!(
            "enable {region} for the account (opt-in regions: Account settings), or set region to one of: {}",
            known.join(", ")
        );
        let message = format!("{region} is not offered to this account");
        return vec![finding(
            Severity::Error,
            server,
            Subject::Region,
            setting("region", &config.region),
            message,
            Some(fix),
        )];
    };
    let mut out = vec![finding(
        Severity::Ok,
        server,
        Subject::Region,
        setting("region", &config.region),
        region.to_string(),
        None,
    )];
    let zone = config.zone_name();
    if info.zones.contains(&zone) {
        out.push(finding(Severity::Ok, server, Subject::Zone, setting("zone", &config.zone), zone.to_string(), None));
    } else {
        let letters: Vec<String> = info.zones.iter().map(|z| z.letter().to_string()).collect();
        let fix = format!("set zone to a letter of {region}'s zones: {}", letters.join(", "));
        let message = format!("{zone} does not exist for this account");
        out.push(finding(Severity::Error, server, Subject::Zone, setting("zone", &config.zone), message, Some(fix)));
    }
    out
}

fn image(config: &ServerConfig, images: &Result<Vec<Image>, CloudError>) -> Finding {
    let (server, at) = (Some(&config.name), setting("ami_type", &config.ami_type));
    let (ami_type, arch, region) = (&config.ami_type.value, config.architecture.value, &config.region.value);
    let images = match images {
        Ok(images) => images,
        Err(e) => return refused(config, Subject::Read(Api::DescribeImages), e),
    };
    if let Some(found) = super::read::newest_image(images, config) {
        let message = format!("{} ({}) for {arch} in {region}", found.name, found.id);
        return finding(Severity::Ok, server, Subject::Image, at, message, None);
    }
    let mut families: Vec<String> =
        images.iter().filter_map(|i| Some(format!("{} {}", i.type_and_date()?.0, i.architecture))).collect();
    families.sort();
    families.dedup();
    let there = if families.is_empty() { "none".to_string() } else { families.join(", ") };
    let message = format!(
        "no image named {ami_type}-YYYY-MM-DD for {arch} (architecture at {}) among the account's images in {region} (there: {there})",
        config.architecture.source
    );
    let fix = format!(
        "bundle one: `cellar apply create-workspace {ami_type} {arch} {region} --yes`, set it up, then `cellar apply bundle-ami@workspace-N {ami_type} --yes`; or set ami_type/architecture to a kind listed"
    );
    finding(Severity::Error, server, Subject::Image, at, message, Some(fix))
}

fn reads(config: &ServerConfig, answers: &[(Api, Result<(), CloudError>)]) -> Vec<Finding> {
    let server = Some(&config.name);
    let mut out = Vec::new();
    let mut allowed = Vec::new();
    for (api, answer) in answers {
        match answer {
            Ok(()) => allowed.extend(api.iam_action()),
            Err(e) => out.push(refused(config, Subject::Read(*api), e)),
        }
    }
    if !allowed.is_empty() {
        let message = format!("allowed: {}", allowed.join(", "));
        out.insert(0, finding(Severity::Ok, server, Subject::Reads, setting("region", &config.region), message, None));
    }
    out
}

fn permissions(config: &ServerConfig, answers: &[(Api, Result<DryRunAnswer, CloudError>)]) -> Vec<Finding> {
    let server = Some(&config.name);
    let at = setting("region", &config.region);
    let (mut allowed, mut unmodelled, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for (api, answer) in answers {
        match answer {
            Ok(DryRunAnswer::Allowed) => allowed.extend(api.iam_action()),
            Ok(DryRunAnswer::NotModelled) => unmodelled.extend(api.iam_action()),
            Err(e) => out.push(refused(config, Subject::Permission(*api), e)),
        }
    }
    if !allowed.is_empty() {
        let message = format!("allowed (DryRun): {}", allowed.join(", "));
        out.insert(0, finding(Severity::Ok, server, Subject::Permissions, at.clone(), message, None));
    }
    if !unmodelled.is_empty() {
        let message = format!("this backend does not model DryRun: {} not checked", unmodelled.join(", "));
        out.push(finding(Severity::Note, server, Subject::Permissions, at, message, None));
    }
    out
}

/// A refused read or dry run: a missing permission (an error, naming the action), refused
/// credentials or a failed read (errors), or a dry run whose answer does not settle the
/// question (a warning).
fn refused(config: &ServerConfig, subject: Subject, e: &CloudError) -> Finding {
    let (server, at) = (Some(&config.name), setting("region", &config.region));
    let (api, dry_run) = match &subject {
        Subject::Permission(api) => (*api, true),
        Subject::Read(api) => (*api, false),
        _ => (Api::DescribeRegions, false),
    };
    let action = api.iam_action().unwrap_or_else(|| api.to_string());
    if e.kind == CloudErrorKind::UnauthorizedOperation {
        // AWS's words, without the fix the adapter appends (the finding has its own).
        let said = e.message.split("\n  fix:").next().unwrap_or_default();
        // AWS names the action it refused, which may be a dependent one (iam:PassRole for
        // a launch with an instance profile): that is the one to allow.
        let refused_action = said
            .split("is not authorized to perform: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|a| a.trim_end_matches([',', '.']))
            .filter(|a| a.contains(':') && *a != action);
        let what = match refused_action {
            Some(dependent) => format!("{action} needs {dependent}, which"),
            None => action.clone(),
        };
        let message = format!("{what} is not allowed in {} ({}: {said})", config.region.value, e.code);
        let action = refused_action.map(str::to_string).unwrap_or(action);
        // A read may make a second call inside it (DescribeInstances asks Auto Scaling for
        // the instances' groups): then AWS's message names the action actually refused.
        let also = if dry_run { "" } else { " (or the action AWS's message names)" };
        let fix = format!(
            "allow {action}{also} for these credentials (docs/iam-policy.json lists every action cellar needs)"
        );
        return finding(Severity::Error, server, subject, at, message, Some(fix));
    }
    if e.kind.is_credentials() || !dry_run {
        return finding(Severity::Error, server, subject, at, e.to_string(), None);
    }
    let message = format!(
        "undecided: AWS answered {} rather than DryRunOperation or UnauthorizedOperation ({})",
        e.code, e.message
    );
    let fix = Some(
        "nothing, if the request's resource just does not exist yet; the first apply checks the permission for real"
            .to_string(),
    );
    finding(Severity::Warning, server, subject, at, message, fix)
}

/// The calls the doctor does not try, said once.
fn not_tried(_reading: &Reading) -> Finding {
    let names = |service: Service| -> Vec<String> {
        NOT_TRIED.iter().filter(|a| a.service() == service).filter_map(|a| a.iam_action()).collect()
    };
    let message = format!(
        "Auto Scaling has no DryRun, so {} are not checked; nor are EC2's {} (they need an existing resource to act on)",
        names(Service::AutoScaling).join(", "),
        names(Service::Ec2).join(", ")
    );
    let fix = Some("make sure docs/iam-policy.json (all of it) is attached to these credentials".to_string());
    finding(Severity::Note, None, Subject::NotTried, None, message, fix)
}

/// The findings of the server's network settings, resolved in its region's network as the
/// planner resolves them (`network::resolve_network`): every problem (a missing group or
/// VPC, no subnet in the server's zone, a subnet of another zone, a missing key pair) with
/// the setting's file:line and the fix, or one `ok` saying what the settings resolve to.
pub(super) fn launch_settings(config: &ServerConfig, network: Option<&NetworkReading>) -> Vec<Finding> {
    let Some(reading) = network else { return Vec::new() };
    let network = match reading.network.as_ref() {
        Ok(network) => network,
        Err(e) => return vec![refused(config, Subject::Read(Api::DescribeVpcs), e)],
    };
    let (server, launch, zone) = (Some(&config.name), &config.launch_settings, config.zone_name());
    match resolve_network(network, launch, &config.region.value, Some(&zone)) {
        Ok(resolved) => {
            let groups: Vec<String> =
                resolved.security_groups.iter().map(|g| format!("{} ({})", g.name, g.id)).collect();
            let groups = if groups.is_empty() { "the VPC's default group".to_string() } else { groups.join(", ") };
            let subnet = resolved.subnet.as_ref().map(|s| s.to_string()).unwrap_or_default();
            let key = resolved.key_name.as_ref().map(|k| format!(", key pair {k}")).unwrap_or_default();
            let message = format!("subnet {subnet} of {zone} in {}; security groups {groups}{key}", resolved.vpc.id);
            let at = network_setting(config, None);
            vec![finding(Severity::Ok, server, Subject::Network, at, message, None)]
        }
        Err(findings) => findings
            .iter()
            .map(|f| {
                let text = f.to_string();
                let (message, fix) = match text.split_once("\n  fix: ") {
                    Some((m, fix)) => (m.to_string(), Some(fix.to_string())),
                    None => (text, None),
                };
                finding(Severity::Error, server, Subject::Network, network_setting(config, Some(f)), message, fix)
            })
            .collect(),
    }
}

/// The setting a network finding is about, with where it was set: the field the finding
/// names, else `vpc` or `subnets` if configured, else the server's `zone`.
fn network_setting(config: &ServerConfig, finding: Option<&NetworkFinding>) -> Option<Setting> {
    use NetworkFinding as F;
    let origin = |field: &'static str, origin: &Origin| match origin {
        Origin::Config(source) => Some(Setting { field, source: source.clone() }),
        Origin::CommandLine(_) | Origin::Flag(_) => None,
    };
    let launch = &config.launch_settings;
    let named = match finding {
        Some(F::UnknownVpc { origin: o, .. }) => origin("vpc", o),
        Some(
            F::UnknownSubnet { origin: o, .. }
            | F::SubnetsInSeveralVpcs { origin: o, .. }
            | F::SubnetOutsideVpc { origin: o, .. }
            | F::SubnetInOtherZone { origin: o, .. },
        ) => origin("subnets", o),
        Some(F::UnknownSecurityGroup { origin: o, .. } | F::SecurityGroupOutsideVpc { origin: o, .. }) => {
            origin("security_groups", o)
        }
        Some(F::UnknownKeyPair { origin: o, .. }) => origin("key_name", o),
        Some(F::NoDefaultVpc { .. } | F::NoSubnet { .. } | F::AmbiguousSubnet { .. }) | None => None,
    };
    named
        .or_else(|| launch.vpc.as_ref().and_then(|v| setting("vpc", v)))
        .or_else(|| launch.subnets.values().next().and_then(|s| setting("subnets", s)))
        .or_else(|| setting("zone", &config.zone))
}
