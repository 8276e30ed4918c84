//! The actions a plan's steps take, how each is shown, and which earlier steps' outputs
//! it uses.

use super::{Ref, StepId};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the agent of a launched instance is told to do (rendered into its user data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub mode: AgentMode,
    pub persist: Vec<String>,
    pub spawn_hook: Option<String>,
    /// Every data volume (device, mount point, directories); empty: one volume at
    /// `/dev/sdf` and `/data` holding `persist`, as a server without `volumes` has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<crate::volumes::VolumeSpec>,
}

/// One resource action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Action {
    /// A new Elastic IP for the server. `awaiting_dns` tags it until its DNS gate passes.
    AllocateAddress {
        awaiting_dns: Option<String>,
    },
    /// Stops the apply until `host` points at the address (or the operator confirms it does).
    DnsGate {
        host: String,
        address: Ref<AllocationId>,
    },
    CreateVolume {
        zone: Zone,
        size_gb: u32,
        /// Type, IOPS, throughput, encryption.
        ebs: EbsSettings,
        /// The device the volume is for, tagged `cellar:device`; `None`: the server's first
        /// volume at `/dev/sdf`, untagged as every volume was before there were several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// The backup it is restored from (`restore-server`): such a volume is created with
        /// the role `restoring` and becomes a data volume at its [`Action::SwapDataVolume`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore_from: Option<Ref<SnapshotId>>,
    },
    RunInstance {
        zone: Zone,
        /// The subnet of `zone` the planner resolved.
        subnet: Option<SubnetId>,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        /// What the cellar agent does at boot; `None` for a workspace (no agent at all).
        agent: Option<AgentSpec>,
        /// Profile, security groups (resolved to ids), key pair, metadata, root volume.
        settings: LaunchSettings,
        /// Idempotency token for RunInstances, derived from the plan (never random).
        client_token: String,
    },
    AttachVolume {
        volume: Ref<VolumeId>,
        instance: Ref<InstanceId>,
        device: String,
    },
    AssociateAddress {
        address: Ref<AllocationId>,
        instance: Ref<InstanceId>,
    },
    CreateLaunchTemplate {
        name: String,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
        settings: LaunchSettings,
    },
    CreateLaunchTemplateVersion {
        template: LaunchTemplateId,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
        settings: LaunchSettings,
    },
    CreateLaunchConfiguration {
        name: String,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
        settings: LaunchSettings,
    },
    /// A group of at most one instance in the volume's zone; `desired` 0 when an instance
    /// is adopted afterwards, 1 when the group launches its own.
    CreateAutoScalingGroup {
        name: AutoScalingGroupName,
        launch: Ref<LaunchSource>,
        zone: Zone,
        /// The subnet of `zone` the group launches into (`VPCZoneIdentifier`).
        subnet: Option<SubnetId>,
        desired: u32,
    },
    UpdateAutoScalingGroup {
        group: AutoScalingGroupName,
        launch: Option<Ref<LaunchSource>>,
        min: Option<u32>,
        desired: Option<u32>,
        /// A new zone (and its subnet) for the group's launches (`restore-server --zone`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placement: Option<GroupPlacement>,
    },
    /// Puts the running instance under the group's care (desired = min = max = 1).
    AdoptInstance {
        group: AutoScalingGroupName,
        instance: Ref<InstanceId>,
    },
    /// Deletes the group and terminates its instances; waits until they are gone.
    DeleteAutoScalingGroup {
        group: AutoScalingGroupName,
    },
    /// Terminates the instance and waits until it is terminated (its volume detached).
    TerminateInstance {
        instance: InstanceId,
    },
    DeleteLaunchTemplate {
        template: LaunchTemplateId,
    },
    DeleteLaunchConfiguration {
        name: String,
    },
    ReleaseAddress {
        address: AllocationId,
        public_ip: String,
    },
    /// Snapshots the volume and waits until the snapshot is complete; a backup's snapshot
    /// (`backup@SERVER`) is also tagged as one, with the time it was taken.
    CreateSnapshot {
        volume: VolumeId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup: Option<crate::backup::SnapshotBackup>,
    },
    DeleteVolume {
        volume: VolumeId,
    },
    /// A restored volume takes the place of a data volume (`restore-server`): `retire` (if
    /// the server had one for this device) is tagged `cellar:role=replaced` with the time,
    /// `restore` `cellar:role=data`. The server's instance is gone by then, so its next
    /// agent attaches the restored one. Undone by swapping back.
    SwapDataVolume {
        retire: Option<VolumeId>,
        restore: Ref<VolumeId>,
    },
    /// Copies a backup to another region (its `backups` policy's `copy_to`), with its tags
    /// (its time, kind and volume), and waits until the copy is complete there.
    CopySnapshot {
        snapshot: Ref<SnapshotId>,
        to: Region,
    },
    /// Deletes a backup that the server's retention no longer keeps (`prune@SERVER`), in
    /// `region` if given (a copy), else the plan's; one already gone counts as deleted.
    /// What the plan shows of it: the volume it is of, when it was taken, its size and why
    /// it goes.
    DeleteSnapshot {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<Region>,
        snapshot: SnapshotId,
        volume: VolumeId,
        taken_at: Timestamp,
        size_gb: u32,
        why: String,
    },
    /// Images the instance as `name` and waits until the image is available. The instance
    /// reboots (AWS's default) unless `no_reboot`; `exclude_devices` are left out of the
    /// image (`NoDevice`): a server's data volume.
    CreateImage {
        instance: InstanceId,
        name: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_reboot: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude_devices: Vec<String>,
    },
    /// Copies the image to another region (same name) and waits until it is available there.
    CopyImage {
        image: Ref<ImageId>,
        to: Region,
        name: String,
    },
    /// Sets `tags` (the configured tags that are missing or differ) on an existing resource of
    /// the server: CreateTags for EC2's, Auto Scaling's CreateOrUpdateTags for a group (whose
    /// tags its next instances inherit). Tags the configuration does not name are left alone.
    TagResource {
        resource: TagTarget,
        tags: Tags,
    },
    /// Waits until the instance runs.
    WaitRunning {
        instance: Ref<InstanceId>,
    },
    /// Waits until the server runs with its volume attached and its address associated:
    /// on `instance` if given, else on whichever instance is current (other than `replacing`).
    WaitHealthy {
        instance: Option<Ref<InstanceId>>,
        replacing: Option<InstanceId>,
        /// What the group's replacement must be launched as (after new launch settings): one
        /// the group launched from the settings before (the old instance gone early) is refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        launched_as: Option<LaunchedAs>,
    },
}

/// The instance type and image a replacement instance must have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchedAs {
    pub instance_type: InstanceType,
    pub image: ImageId,
}

/// A resource whose tags a plan may change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TagTarget {
    Instance(InstanceId),
    Volume(VolumeId),
    Address(AllocationId),
    LaunchTemplate(LaunchTemplateId),
    Group(AutoScalingGroupName),
}

impl fmt::Display for TagTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagTarget::Instance(id) => write!(f, "instance {id}"),
            TagTarget::Volume(id) => write!(f, "volume {id}"),
            TagTarget::Address(id) => write!(f, "address {id}"),
            TagTarget::LaunchTemplate(id) => write!(f, "launch template {id}"),
            TagTarget::Group(name) => write!(f, "auto scaling group {name}"),
        }
    }
}

/// Where an auto scaling group launches: a zone, and its subnet (`None`: the default VPC's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPlacement {
    pub zone: Zone,
    pub subnet: Option<SubnetId>,
}

impl fmt::Display for GroupPlacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subnet {
            Some(subnet) => write!(f, "{} (subnet {subnet})", self.zone),
            None => write!(f, "{}", self.zone),
        }
    }
}

/// How a completed step is undone when the apply fails (applied to the step's output, or,
/// for a change to something that existed before, to what the step's action names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Undo {
    ReleaseAddress,
    DeleteVolume,
    TerminateInstance,
    DeleteLaunchTemplate,
    DeleteLaunchConfiguration,
    /// Deletes the group and terminates its instances.
    DeleteAutoScalingGroup,
    /// Puts the group of an `UpdateAutoScalingGroup` back: these sizes, and this placement
    /// when the step moved it.
    UpdateAutoScalingGroup {
        min: u32,
        desired: u32,
        placement: Option<GroupPlacement>,
    },
    /// Swaps a `SwapDataVolume` back: the retired volume is the data volume again, the
    /// restored one `restoring`.
    SwapBack,
}

impl Undo {
    pub fn describe(&self) -> String {
        match self {
            Undo::ReleaseAddress => "release the address".into(),
            Undo::DeleteVolume => "delete the volume".into(),
            Undo::TerminateInstance => "terminate the instance".into(),
            Undo::DeleteLaunchTemplate => "delete the launch template".into(),
            Undo::DeleteLaunchConfiguration => "delete the launch configuration".into(),
            Undo::DeleteAutoScalingGroup => "delete the auto scaling group and its instances".into(),
            Undo::UpdateAutoScalingGroup { min, desired, placement } => format!(
                "put the group back to min {min}, desired {desired}{}",
                placement.as_ref().map(|p| format!(", launching in {p}")).unwrap_or_default()
            ),
            Undo::SwapBack => "swap the volumes back".into(),
        }
    }
}

/// The kind of change a step makes, as the text plan shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Create,
    Destroy,
    Modify,
    Gate,
    Wait,
}

impl Change {
    /// Every kind, in the order the plan's summary line counts them.
    pub const ALL: [Change; 5] = [Change::Create, Change::Destroy, Change::Modify, Change::Gate, Change::Wait];

    /// The sign in the text plan: `+` create, `-` destroy, `~` change, `?` gate, `=` wait.
    pub fn sign(self) -> char {
        match self {
            Change::Create => '+',
            Change::Destroy => '-',
            Change::Modify => '~',
            Change::Gate => '?',
            Change::Wait => '=',
        }
    }

    /// How `n` steps of this kind are counted in the summary line (`2 to create`, `1 gate`).
    pub fn count(self, n: usize) -> String {
        let plural = if n == 1 { "" } else { "s" };
        match self {
            Change::Create => format!("{n} to create"),
            Change::Destroy => format!("{n} to destroy"),
            Change::Modify => format!("{n} to change"),
            Change::Gate => format!("{n} gate{plural}"),
            Change::Wait => format!("{n} wait{plural}"),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.sign())
    }
}

/// A field of an action that may name an earlier step's output.
trait RefField {
    fn output_step(&self) -> Option<StepId>;
    fn output_step_mut(&mut self) -> Option<&mut StepId>;
}

impl<T> RefField for Ref<T> {
    fn output_step(&self) -> Option<StepId> {
        self.step()
    }
    fn output_step_mut(&mut self) -> Option<&mut StepId> {
        match self {
            Ref::Existing(_) => None,
            Ref::Output(step) => Some(step),
        }
    }
}

impl<T> RefField for Option<Ref<T>> {
    fn output_step(&self) -> Option<StepId> {
        self.as_ref().and_then(Ref::step)
    }
    fn output_step_mut(&mut self) -> Option<&mut StepId> {
        self.as_mut().and_then(RefField::output_step_mut)
    }
}

/// The one list of which fields of which action refer to other steps. Every variant is
/// listed (the match is exhaustive), so a new action must say what it refers to.
macro_rules! reference_fields {
    ($($variant:ident { $($field:ident),* })*) => {
        impl Action {
            /// Steps whose outputs this action uses.
            pub fn references(&self) -> Vec<StepId> {
                let mut steps = Vec::new();
                match self {
                    $(Action::$variant { $($field,)* .. } => {
                        $(steps.extend(RefField::output_step($field));)*
                    })*
                }
                steps
            }

            /// Adds `by` to every step id this action refers to ([`super::Plan::merge`]).
            pub(super) fn shift_references(&mut self, by: u32) {
                match self {
                    $(Action::$variant { $($field,)* .. } => {
                        $(if let Some(step) = RefField::output_step_mut($field) {
                            step.0 += by;
                        })*
                    })*
                }
            }
        }
    };
}

reference_fields! {
    AllocateAddress {}
    DnsGate { address }
    CreateVolume { restore_from }
    RunInstance {}
    AttachVolume { volume, instance }
    AssociateAddress { address, instance }
    CreateLaunchTemplate {}
    CreateLaunchTemplateVersion {}
    CreateLaunchConfiguration {}
    CreateAutoScalingGroup { launch }
    UpdateAutoScalingGroup { launch }
    AdoptInstance { instance }
    DeleteAutoScalingGroup {}
    TerminateInstance {}
    DeleteLaunchTemplate {}
    DeleteLaunchConfiguration {}
    ReleaseAddress {}
    CreateSnapshot {}
    DeleteVolume {}
    CopySnapshot { snapshot }
    DeleteSnapshot {}
    SwapDataVolume { restore }
    CreateImage {}
    CopyImage { image }
    TagResource {}
    WaitRunning { instance }
    WaitHealthy { instance }
}

impl Action {
    /// The kind of change and the one-line summary shown in the text plan; `server` is the
    /// step's.
    pub fn describe(&self, server: &ServerName) -> (Change, String) {
        match self {
            Action::AllocateAddress { .. } => (Change::Create, format!("allocate Elastic IP for {server}")),
            Action::DnsGate { host, address, .. } => (
                Change::Gate,
                format!("DNS gate: {host} must point at {} before apply goes on", address.describe("address")),
            ),
            Action::CreateVolume { zone, size_gb, ebs, device, restore_from } => (
                Change::Create,
                format!(
                    "create data volume {}of {server}: {size_gb} GiB {} in {zone}{}",
                    device.as_ref().map(|d| format!("{d} ")).unwrap_or_default(),
                    ebs.volume_type,
                    restore_from
                        .as_ref()
                        .map(|s| format!(", restored from {}", s.describe("snapshot")))
                        .unwrap_or_default()
                ),
            ),
            Action::RunInstance { zone, instance_type, image_name, .. } => {
                (Change::Create, format!("launch instance of {server}: {instance_type} from {image_name} in {zone}"))
            }
            Action::AttachVolume { volume, instance, device, .. } => (
                Change::Modify,
                format!("attach {} to {} as {device}", volume.describe("volume"), instance.describe("instance")),
            ),
            Action::AssociateAddress { address, instance, .. } => (
                Change::Modify,
                format!("associate {} with {}", address.describe("address"), instance.describe("instance")),
            ),
            Action::CreateLaunchTemplate { name, instance_type, image_name, .. } => (
                Change::Create,
                format!("create launch template {name} for {server}: {instance_type} from {image_name}"),
            ),
            Action::CreateLaunchTemplateVersion { template, instance_type, image_name, .. } => (
                Change::Modify,
                format!("add a version to launch template {template}: {instance_type} from {image_name}"),
            ),
            Action::CreateLaunchConfiguration { name, instance_type, image_name, .. } => (
                Change::Create,
                format!("create launch configuration {name} for {server}: {instance_type} from {image_name}"),
            ),
            Action::CreateAutoScalingGroup { name, launch, zone, .. } => (
                Change::Create,
                format!(
                    "create auto scaling group {name} of one in {zone} from {}",
                    launch.describe("launch settings")
                ),
            ),
            Action::UpdateAutoScalingGroup { group, launch, min, desired, placement } => {
                let mut changes = Vec::new();
                if let Some(placement) = placement {
                    changes.push(format!("launch in {placement}"));
                }
                match launch {
                    Some(Ref::Existing(source)) => changes.push(format!("launch from {source}")),
                    Some(launch) => changes.push(format!("launch from {}", launch.describe("launch settings"))),
                    None => {}
                }
                if let Some(min) = min {
                    changes.push(format!("min {min}"));
                }
                if let Some(desired) = desired {
                    changes.push(format!("desired {desired}"));
                }
                (Change::Modify, format!("update auto scaling group {group}: {}", changes.join(", ")))
            }
            Action::AdoptInstance { group, instance, .. } => {
                (Change::Modify, format!("put {} into auto scaling group {group}", instance.describe("instance")))
            }
            Action::DeleteAutoScalingGroup { group, .. } => {
                (Change::Destroy, format!("delete auto scaling group {group}"))
            }
            Action::TerminateInstance { instance, .. } => (Change::Destroy, format!("terminate instance {instance}")),
            Action::DeleteLaunchTemplate { template, .. } => {
                (Change::Destroy, format!("delete launch template {template}"))
            }
            Action::DeleteLaunchConfiguration { name, .. } => {
                (Change::Destroy, format!("delete launch configuration {name}"))
            }
            Action::ReleaseAddress { address, public_ip, .. } => {
                (Change::Destroy, format!("release Elastic IP {public_ip} ({address})"))
            }
            Action::CreateSnapshot { volume, backup: None } => (Change::Create, format!("snapshot volume {volume}")),
            Action::CreateSnapshot { volume, backup: Some(b) } => {
                let device = b.volume.device.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                (Change::Create, format!("back up volume {volume}{device}: a {} snapshot", b.kind))
            }
            Action::DeleteVolume { volume, .. } => (Change::Destroy, format!("delete volume {volume}")),
            Action::SwapDataVolume { retire, restore } => (
                Change::Modify,
                match retire {
                    Some(old) => format!(
                        "make {} the data volume of {server} in place of {old} (kept, tagged cellar:role=replaced)",
                        restore.describe("volume")
                    ),
                    None => format!("make {} a data volume of {server}", restore.describe("volume")),
                },
            ),
            Action::CopySnapshot { snapshot, to } => {
                (Change::Create, format!("copy {} to {to}", snapshot.describe("backup")))
            }
            Action::DeleteSnapshot { region, snapshot, volume, taken_at, size_gb, why } => (
                Change::Destroy,
                format!(
                    "delete backup {snapshot}{} of volume {volume}, taken {}, {size_gb} GiB: {why}",
                    region.as_ref().map(|r| format!(" (the copy in {r})")).unwrap_or_default(),
                    taken_at.rfc3339()
                ),
            ),
            Action::CreateImage { instance, name, no_reboot, exclude_devices } => {
                let reboot = if *no_reboot { " without rebooting it" } else { " (it reboots)" };
                let without = match exclude_devices.as_slice() {
                    [] => String::new(),
                    devices => format!(", leaving out {}", devices.join(", ")),
                };
                (Change::Create, format!("create image {name} from instance {instance}{reboot}{without}"))
            }
            Action::CopyImage { image, to, name, .. } => {
                (Change::Create, format!("copy {} to {to} as {name}", image.describe("image")))
            }
            Action::WaitRunning { instance, .. } => {
                (Change::Wait, format!("wait until {} runs", instance.describe("instance")))
            }
            Action::TagResource { resource, tags } => {
                let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (Change::Modify, format!("tag {resource} of {server}: {}", tags.join(", ")))
            }
            Action::WaitHealthy { instance, replacing, .. } => {
                let on = match (instance, replacing) {
                    (Some(i), _) => format!(" on {}", i.describe("instance")),
                    (None, Some(old)) => format!(" on a new instance (not {old})"),
                    (None, None) => String::new(),
                };
                (Change::Wait, format!("wait until {server} is healthy{on}"))
            }
        }
    }

    /// The action only waits for a state (polling, changing nothing): it needs no slot of
    /// the apply's concurrency.
    pub fn only_waits(&self) -> bool {
        matches!(self, Action::WaitRunning { .. } | Action::WaitHealthy { .. })
    }

    /// What the cellar agent of the instances this action launches is given, if any.
    pub fn agent(&self) -> Option<&AgentSpec> {
        match self {
            Action::RunInstance { agent, .. } => agent.as_ref(),
            Action::CreateLaunchTemplate { agent, .. }
            | Action::CreateLaunchTemplateVersion { agent, .. }
            | Action::CreateLaunchConfiguration { agent, .. } => Some(agent),
            _ => None,
        }
    }

    /// Indented detail lines under the summary.
    pub fn details(&self) -> Vec<String> {
        let agent = |a: &AgentSpec| {
            let mut parts = vec![format!("user data: cellar agent {}", a.mode)];
            if !a.persist.is_empty() {
                let verb = match a.mode {
                    AgentMode::Persist => "persists",
                    AgentMode::Spawn => "mounts from the data volume",
                };
                parts.push(format!("{verb} {}", a.persist.join(", ")));
            }
            parts.extend(a.volumes.iter().map(|v| {
                let dirs = if v.persist.is_empty() { String::new() } else { format!(": {}", v.persist.join(", ")) };
                format!("volume {} at {}{dirs}", v.device, v.mount)
            }));
            if let Some(hook) = &a.spawn_hook {
                parts.push(format!("spawn hook of {} lines", hook.lines().count()));
            }
            parts.join("; ")
        };
        let subnet = |s: &Option<SubnetId>| match s {
            Some(s) => format!("subnet {s}"),
            None => "the default VPC's subnet of the zone".to_string(),
        };
        match self {
            Action::AllocateAddress { awaiting_dns: Some(host), .. } => {
                vec![format!("tagged {AWAITING_DNS_TAG}={host} until the DNS gate passes")]
            }
            Action::CreateVolume { ebs, .. } => vec![ebs.details()],
            Action::RunInstance { image, agent: a, settings, subnet: s, client_token, .. } => {
                let mut lines = vec![format!("image {image}; client token {client_token}"), subnet(s)];
                lines.extend(launch_settings(settings));
                lines.push(
                    a.as_ref().map(agent).unwrap_or_else(|| "no user data: the image untouched, no agent".to_string()),
                );
                lines
            }
            Action::CreateLaunchTemplate { image, agent: a, settings, .. }
            | Action::CreateLaunchTemplateVersion { image, agent: a, settings, .. }
            | Action::CreateLaunchConfiguration { image, agent: a, settings, .. } => {
                let mut lines = vec![format!("image {image}")];
                lines.extend(launch_settings(settings));
                lines.push(agent(a));
                lines
            }
            Action::CreateAutoScalingGroup { desired: 0, subnet: s, .. } => {
                vec![subnet(s), "min 0, max 1, desired 0 until the instance is adopted".to_string()]
            }
            Action::CreateAutoScalingGroup { subnet: s, .. } => {
                vec![subnet(s), "min 1, max 1, desired 1: the group launches the instance; its agent attaches the volume and associates the address".to_string()]
            }
            Action::DeleteAutoScalingGroup { .. } => vec!["its instances are terminated with it".to_string()],
            Action::WaitHealthy { launched_as, .. } => {
                let mut details = vec!["instance running, data volume attached, Elastic IP associated".to_string()];
                if let Some(LaunchedAs { instance_type, image }) = launched_as {
                    details.push(format!("the new instance: {instance_type} from {image} (one launched from the settings before fails the step)"));
                }
                details
            }
            _ => Vec::new(),
        }
    }
}

/// The detail lines of launch settings: profile, groups, key and metadata; the root volume.
fn launch_settings(settings: &LaunchSettings) -> Vec<String> {
    let mut lines = vec![settings.summary()];
    lines.extend(settings.root_volume.as_ref().map(|r| r.to_string()));
    lines
}
