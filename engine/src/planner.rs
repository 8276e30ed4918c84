//! The pure planner: `(command, configuration, inventory) → Plan`.
//!
//! No I/O, no clock, no randomness: the same inputs give the same plan, byte for byte.
//! [`scope`] says what to read for a command ([`crate::inventory::read`] does the reading);
//! [`plan`] decides. Refusals are [`PlanError`] values that name the value, where it came
//! from (command line or config file:line) and the fix.

use crate::agent::DATA_DEVICE;
use crate::catalog;
use crate::command::{Command, CreateServer};
use crate::config::{ServerConfig, Source};
use crate::inventory::Inventory;
use crate::model::*;
use crate::plan::*;
use std::collections::BTreeMap;
use std::fmt;

/// Where an effective setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    CommandLine(usize),
    Config(Source),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine(position) => write!(f, "command-line argument {position}"),
            Origin::Config(source) => write!(f, "{source}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("create-server@{server} needs an EBS size: give it as the first argument (e.g. `create-server@{server} 20`) or set ebs_size_gb in {file}")]
    MissingEbsSize { server: ServerName, file: String },
    #[error("region {region} (from {origin}) is not offered by this backend; regions: {known}")]
    UnknownRegion { region: Region, origin: Origin, known: String },
    #[error("zone {zone} (from {origin}) does not exist in {region}; zones: {known}")]
    UnknownZone { zone: Zone, origin: Origin, region: Region, known: String },
    #[error("server {server} already exists in {region}: {resources}\n  fix: pick a new name, or retire it first")]
    ServerExists { server: ServerName, region: Region, resources: String },
    #[error("no image named {ami_type}-YYYY-MM-DD for {architecture} in {region}{}\n  fix: bundle one (bundle-ami), or choose another AMI type or architecture", if available.is_empty() { String::new() } else { format!(" (images there: {available})") })]
    NoImage { ami_type: AmiType, architecture: Architecture, region: Region, available: String },
    #[error("instance type {instance_type} (from {origin}) cannot run {architecture} images; it runs {runs}")]
    ArchitectureMismatch { instance_type: InstanceType, origin: Origin, architecture: Architecture, runs: String },
    #[error("launch configurations (launch: Configuration in {origin}) are not supported by this version of cellar yet; use launch: Template")]
    LaunchConfigurationUnsupported { origin: Source },
}

/// What must be read to plan `command` for a server configured as `config`.
pub fn scope(command: &Command, config: &ServerConfig) -> Scope {
    match command {
        Command::CreateServer(c) => {
            let s = Settings::of(c, config);
            Scope {
                region: s.region.0,
                server: Some(c.server.clone()),
                dns_name: config.dns_name.as_ref().map(|d| d.value.clone()),
                image: Some((s.ami_type, s.architecture)),
            }
        }
    }
}

/// Makes the plan. Pure.
pub fn plan(command: &Command, config: &ServerConfig, inventory: &Inventory) -> Result<Plan, PlanError> {
    match command {
        Command::CreateServer(c) => create_server(command, c, config, inventory),
    }
}

/// create-server's effective settings: the command line over the configuration.
struct Settings {
    region: (Region, Origin),
    zone_letter: (char, Origin),
    instance_type: (InstanceType, Origin),
    ami_type: AmiType,
    architecture: Architecture,
}

impl Settings {
    fn of(c: &CreateServer, config: &ServerConfig) -> Settings {
        fn pick<T: Clone>(cli: &Option<T>, position: usize, sourced: &crate::config::Sourced<T>) -> (T, Origin) {
            match cli {
                Some(v) => (v.clone(), Origin::CommandLine(position)),
                None => (sourced.value.clone(), Origin::Config(sourced.source.clone())),
            }
        }
        Settings {
            instance_type: pick(&c.instance_type, 2, &config.instance_type),
            ami_type: c.ami_type.clone().unwrap_or_else(|| config.ami_type.value.clone()),
            region: pick(&c.region, 4, &config.region),
            zone_letter: pick(&c.zone_letter, 5, &config.zone),
            architecture: config.architecture.value,
        }
    }
}

/// A plan under construction: steps get ids in the order they are pushed.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    fn push(&mut self, action: Action, after: Vec<Option<StepId>>, undo: Option<Undo>) -> StepId {
        let id = StepId(self.steps.len() as u32 + 1);
        let mut after: Vec<StepId> = after.into_iter().flatten().collect();
        after.sort();
        after.dedup();
        self.steps.push(Step { id, action, after, undo });
        id
    }
}

fn create_server(
    command: &Command,
    c: &CreateServer,
    config: &ServerConfig,
    inventory: &Inventory,
) -> Result<Plan, PlanError> {
    let server = &c.server;
    let s = Settings::of(c, config);
    let scope = scope(command, config);
    let region = s.region.0.clone();

    let size_gb = match (c.ebs_size_gb, &config.ebs_size_gb) {
        (Some(size), _) => size,
        (None, Some(sourced)) => sourced.value,
        (None, None) => {
            return Err(PlanError::MissingEbsSize { server: server.clone(), file: config.file.display().to_string() })
        }
    };
    if config.launch.value == crate::config::LaunchKind::Configuration {
        return Err(PlanError::LaunchConfigurationUnsupported { origin: config.launch.source.clone() });
    }
    let Some(zones) = inventory.zones_of(&region) else {
        let known: Vec<&str> = inventory.regions.iter().map(|r| r.region.as_str()).collect();
        return Err(PlanError::UnknownRegion { region, origin: s.region.1, known: known.join(", ") });
    };
    let zone = Zone::in_region(&region, s.zone_letter.0);
    if !zones.contains(&zone) {
        let letters: Vec<String> = zones.iter().map(|z| z.letter().to_string()).collect();
        return Err(PlanError::UnknownZone { zone, origin: s.zone_letter.1, region, known: letters.join(", ") });
    }
    let (instance_type, type_origin) = s.instance_type;
    if let Some(runs) = catalog::instance_type_architectures(instance_type.as_str()) {
        if !runs.contains(&s.architecture) {
            let runs: Vec<&str> = runs.iter().map(|a| a.as_str()).collect();
            return Err(PlanError::ArchitectureMismatch {
                instance_type,
                origin: type_origin,
                architecture: s.architecture,
                runs: runs.join(", "),
            });
        }
    }

    let r = &inventory.resources;
    let mut existing: Vec<String> = Vec::new();
    existing.extend(r.live_instances().map(|i| format!("instance {} ({})", i.id, i.state)));
    existing.extend(r.volumes.iter().map(|v| format!("volume {}", v.id)));
    existing.extend(r.launch_templates.iter().map(|t| format!("launch template {}", t.id)));
    existing.extend(r.groups.iter().map(|g| format!("auto scaling group {}", g.name)));
    if !existing.is_empty() {
        return Err(PlanError::ServerExists { server: server.clone(), region, resources: existing.join(", ") });
    }

    let Some(image) = inventory.newest_image(&s.ami_type, s.architecture) else {
        let available: Vec<&str> = inventory.images.iter().map(|i| i.name.as_str()).collect();
        return Err(PlanError::NoImage {
            ami_type: s.ami_type,
            architecture: s.architecture,
            region,
            available: available.join(", "),
        });
    };

    let mut notes = Vec::new();
    let mut b = Builder::default();
    let dns_name = config.dns_name.as_ref().map(|d| d.value.clone());

    // Elastic IP: reuse the server's address that the DNS record already points at; else
    // reuse one still waiting for its DNS record; else allocate. A new or unconfirmed
    // address gets a DNS gate that everything else waits for.
    let unassociated = |a: &&Address| a.associated_to.is_none();
    let matching = dns_name
        .as_ref()
        .and_then(|_| r.addresses.iter().filter(unassociated).find(|a| inventory.dns.contains(&a.public_ip)));
    let (address, gate): (Ref<AllocationId>, Option<StepId>) = match (&dns_name, matching) {
        (Some(host), Some(a)) => {
            notes.push(format!(
                "Elastic IP {} ({}) is reused: {host} already points at it.",
                a.public_ip, a.allocation_id
            ));
            (Ref::Existing(a.allocation_id.clone()), None)
        }
        (Some(host), None) => {
            for a in &r.addresses {
                if !a.tags.contains_key(AWAITING_DNS_TAG) {
                    notes.push(format!(
                        "Elastic IP {} ({}) of {server} does not match the DNS record of {host} and is left as it is.",
                        a.public_ip, a.allocation_id
                    ));
                }
            }
            let record = if inventory.dns.is_empty() {
                format!("{host} has no A record")
            } else {
                format!("{host} points at {}", inventory.dns.join(", "))
            };
            let waiting = r.addresses.iter().filter(unassociated).find(|a| a.tags.contains_key(AWAITING_DNS_TAG));
            let address = match waiting {
                Some(a) => {
                    notes.push(format!(
                        "Elastic IP {} ({}) allocated by an earlier apply is still waiting for its DNS record ({record}); it is reused.",
                        a.public_ip, a.allocation_id
                    ));
                    Ref::Existing(a.allocation_id.clone())
                }
                None => {
                    notes
                        .push(format!("A new Elastic IP is allocated: {record}, which is not an address of {server}."));
                    let id = b.push(
                        Action::AllocateAddress { server: server.clone(), awaiting_dns: Some(host.clone()) },
                        vec![],
                        Some(Undo::ReleaseAddress),
                    );
                    Ref::Output(id)
                }
            };
            let gate = b.push(
                Action::DnsGate { server: server.clone(), host: host.clone(), address: address.clone() },
                vec![address.step()],
                None,
            );
            notes.push(format!(
                "Apply stops at {gate} until {host} points at the address: update the record, then confirm at the prompt or pass --dns-confirmed. Nothing else is created before that."
            ));
            (address, Some(gate))
        }
        (None, _) => match r.addresses.iter().find(unassociated) {
            Some(a) => {
                notes.push(format!(
                    "No dns_name is configured; the unassociated Elastic IP {} ({}) of {server} is reused.",
                    a.public_ip, a.allocation_id
                ));
                (Ref::Existing(a.allocation_id.clone()), None)
            }
            None => {
                notes
                    .push("No dns_name is configured, so no DNS record is checked for the new Elastic IP.".to_string());
                let id = b.push(
                    Action::AllocateAddress { server: server.clone(), awaiting_dns: None },
                    vec![],
                    Some(Undo::ReleaseAddress),
                );
                (Ref::Output(id), None)
            }
        },
    };

    let volume = b.push(
        Action::CreateVolume { server: server.clone(), zone: zone.clone(), size_gb },
        vec![gate],
        Some(Undo::DeleteVolume),
    );
    let agent = |mode| AgentSpec {
        mode,
        persist: config.persist.value.clone(),
        spawn_hook: config.spawn.as_ref().map(|h| h.value.clone()),
    };
    let instance = b.push(
        Action::RunInstance {
            server: server.clone(),
            zone: zone.clone(),
            instance_type: instance_type.clone(),
            image: image.id.clone(),
            image_name: image.name.clone(),
            agent: agent(AgentMode::Persist),
            client_token: client_token(server, &command.to_string(), &inventory.observe(&scope), 0),
        },
        vec![gate],
        Some(Undo::TerminateInstance),
    );
    let attach = b.push(
        Action::AttachVolume {
            server: server.clone(),
            volume: Ref::Output(volume),
            instance: Ref::Output(instance),
            device: DATA_DEVICE.to_string(),
        },
        vec![Some(volume), Some(instance)],
        None,
    );
    let associate = b.push(
        Action::AssociateAddress { server: server.clone(), address: address.clone(), instance: Ref::Output(instance) },
        vec![address.step(), Some(instance)],
        None,
    );
    let mut healthy_after = vec![Some(attach), Some(associate)];
    if config.auto_scale_capacity.value >= 1 {
        let template = b.push(
            Action::CreateLaunchTemplate {
                server: server.clone(),
                name: server.to_string(),
                launch: config.launch.value,
                instance_type: instance_type.clone(),
                image: image.id.clone(),
                image_name: image.name.clone(),
                agent: agent(AgentMode::Spawn),
            },
            vec![gate],
            Some(Undo::DeleteLaunchTemplate),
        );
        let group_name = AutoScalingGroupName::new(server.as_str());
        let group = b.push(
            Action::CreateAutoScalingGroup {
                server: server.clone(),
                name: group_name.clone(),
                template: Ref::Output(template),
                zone: zone.clone(),
            },
            vec![Some(template), Some(attach), Some(associate)],
            Some(Undo::DeleteAutoScalingGroup),
        );
        let adopt = b.push(
            Action::AdoptInstance { server: server.clone(), group: group_name, instance: Ref::Output(instance) },
            vec![Some(group), Some(instance)],
            None,
        );
        healthy_after = vec![Some(adopt)];
    } else {
        notes.push(format!(
            "auto_scale_capacity is 0 ({}): no launch template or auto scaling group; start-auto-scaling adds them later.",
            config.auto_scale_capacity.source
        ));
    }
    let mut wait_after = healthy_after;
    wait_after.push(Some(instance));
    b.push(Action::WaitHealthy { server: server.clone(), instance: Ref::Output(instance) }, wait_after, None);
    notes.push(format!(
        "If the instance cannot launch (for example InsufficientInstanceCapacity in {zone}), everything this apply created is removed again, the new volume{} included.",
        if address.step().is_some() { " and Elastic IP" } else { "" }
    ));

    Ok(Plan {
        format: PLAN_FORMAT_VERSION,
        command: command.to_string(),
        observed: inventory.observe(&scope),
        scope,
        steps: b.steps,
        tags: BTreeMap::from([(server.clone(), config.tag_values())]),
        notes,
    })
}

/// A RunInstances client token derived from the plan's inputs: the same plan applied
/// (or retried) twice launches once; a new plan gets a new token. At most 64 characters.
fn client_token(server: &ServerName, command: &str, observed: &[Observation], salt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(command.as_bytes());
    feed(ron::to_string(observed).unwrap_or_default().as_bytes());
    feed(&salt.to_le_bytes());
    let name: String = server.as_str().chars().take(40).collect();
    format!("cellar-{name}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;
    use crate::config::ConfigTree;
    use crate::inventory::{Inventory, ServerResources};
    use std::path::Path;

    const GLOBAL: &str = r#"(
    region: "us-east-1",
    zone: "a",
    instance_type: "m5.large",
    ami_type: "web-server",
    architecture: "x86_64",
    persist: ["/etc", "/var/www"],
)"#;

    fn config(server_file: &str) -> crate::config::ServerConfig {
        let tree = ConfigTree::from_files(
            Path::new("cfg"),
            [("global.ron", GLOBAL), ("platforms/web.ron", "()"), ("servers/ale.ron", server_file)],
        );
        tree.server(&ServerName::new("ale")).expect("test config is valid")
    }

    fn tags(server: &str) -> Tags {
        Tags::from([(NAME_TAG.to_string(), server.to_string())])
    }

    fn address(id: &str, ip: &str, extra: &[(&str, &str)]) -> Address {
        let mut t = tags("ale");
        for (k, v) in extra {
            t.insert(k.to_string(), v.to_string());
        }
        Address { allocation_id: AllocationId::new(id), public_ip: ip.into(), associated_to: None, tags: t }
    }

    fn world(resources: ServerResources, dns: &[&str]) -> Inventory {
        let region = Region::new("us-east-1");
        let image = |id: &str, name: &str, arch| Image {
            id: ImageId::new(id),
            name: name.into(),
            architecture: arch,
            region: region.clone(),
            created_at: Timestamp(0),
            tags: Tags::new(),
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
            ],
            dns: dns.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Plans `command` and renders the outcome as one line per step (or the error).
    fn check(command_line: &str, server_file: &str, inventory: Inventory, expected: &[&str]) {
        let mut words = command_line.split_whitespace();
        let target = words.next().unwrap();
        let args: Vec<String> = words.map(String::from).collect();
        let command = command::parse(target, &args).unwrap();
        let got: Vec<String> = match plan(&command, &config(server_file), &inventory) {
            Ok(p) => {
                p.validate().expect("planned plans are valid");
                p.steps
                    .iter()
                    .map(|s| {
                        let after: Vec<String> = s.after.iter().map(|a| a.to_string()).collect();
                        format!("{} {} [{}]", s.id, s.action.describe().1, after.join(" "))
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
                "#8 create auto scaling group ale of one in us-east-1b from the template of #7 [#5 #6 #7]",
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
                "#6 create auto scaling group ale of one in us-east-1c from the template of #5 [#3 #4 #5]",
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
                "#7 create auto scaling group ale of one in us-east-1b from the template of #6 [#4 #5 #6]",
                "#8 put the instance of #3 into auto scaling group ale [#3 #7]",
                "#9 wait until ale is healthy on the instance of #3 [#3 #8]",
            ],
        );
        let cmd = command::parse("create-server@ale", &["20".into()]).unwrap();
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
            }],
            ..Default::default()
        };
        check(
            "create-server@ale 20",
            WITH_DNS,
            world(existing, &[]),
            &["error: server ale already exists in us-east-1: volume vol-1\n  fix: pick a new name, or retire it first"],
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
        let cmd = command::parse("create-server@ale", &["20".into()]).unwrap();
        let a = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
        let b = plan(&cmd, &config(WITH_DNS), &world(ServerResources::default(), &[])).unwrap();
        assert_eq!(a.to_ron(), b.to_ron());
        let reread = Plan::from_ron("p.ron", &a.to_ron()).unwrap();
        assert_eq!(reread, a);
    }
}
