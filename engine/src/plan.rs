//! The plan: a dependency graph of typed resource actions.
//!
//! A [`Plan`] is stored as a list of [`Step`]s in a stable order, each naming the steps it
//! runs after; [`Plan::graph`] turns that into a petgraph DAG for the executor, for
//! validation (a loaded plan file must be acyclic and reference only its own steps) and
//! for the DOT picture. A step's inputs may refer to another step's output
//! ([`Ref::Output`]: "the volume of #3"). A step that creates something names how it is
//! undone ([`Undo`]); the executor runs those compensations when the apply fails.
//!
//! The plan also records what the planner saw ([`Observation`]s): apply re-reads the same
//! resources and refuses a stale plan, naming what changed ([`staleness`]).
//!
//! Renderings: human text ([`Plan::render_text`]), RON (the saved plan: stable order, no
//! timestamps, no random ids), JSON and Graphviz DOT.

use crate::model::*;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// Bumped whenever the saved form changes incompatibly.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// The number of a step within its plan (`#3`), 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepId(pub u32);

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A value known when planning, or produced by an earlier step at apply time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ref<T> {
    Existing(T),
    Output(StepId),
}

impl<T: fmt::Display> Ref<T> {
    fn describe(&self, what: &str) -> String {
        match self {
            Ref::Existing(v) => format!("{what} {v}"),
            Ref::Output(step) => format!("the {what} of {step}"),
        }
    }
}

impl<T> Ref<T> {
    fn shift(&mut self, by: u32) {
        if let Ref::Output(step) = self {
            step.0 += by;
        }
    }

    pub fn step(&self) -> Option<StepId> {
        match self {
            Ref::Existing(_) => None,
            Ref::Output(s) => Some(*s),
        }
    }
}

/// What the agent of a launched instance is told to do (rendered into its user data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub mode: AgentMode,
    pub persist: Vec<String>,
    pub spawn_hook: Option<String>,
}

/// One resource action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// A new Elastic IP for the server. `awaiting_dns` tags it until its DNS gate passes.
    AllocateAddress {
        server: ServerName,
        awaiting_dns: Option<String>,
    },
    /// Stops the apply until `host` points at the address (or the operator confirms it does).
    DnsGate {
        server: ServerName,
        host: String,
        address: Ref<AllocationId>,
    },
    CreateVolume {
        server: ServerName,
        zone: Zone,
        size_gb: u32,
    },
    RunInstance {
        server: ServerName,
        zone: Zone,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        /// What the cellar agent does at boot; `None` for a workspace (no agent at all).
        agent: Option<AgentSpec>,
        /// Idempotency token for RunInstances, derived from the plan (never random).
        client_token: String,
    },
    AttachVolume {
        server: ServerName,
        volume: Ref<VolumeId>,
        instance: Ref<InstanceId>,
        device: String,
    },
    AssociateAddress {
        server: ServerName,
        address: Ref<AllocationId>,
        instance: Ref<InstanceId>,
    },
    CreateLaunchTemplate {
        server: ServerName,
        name: String,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
    },
    CreateLaunchTemplateVersion {
        server: ServerName,
        template: LaunchTemplateId,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
    },
    CreateLaunchConfiguration {
        server: ServerName,
        name: String,
        instance_type: InstanceType,
        image: ImageId,
        image_name: String,
        agent: AgentSpec,
    },
    /// A group of at most one instance in the volume's zone; `desired` 0 when an instance
    /// is adopted afterwards, 1 when the group launches its own.
    CreateAutoScalingGroup {
        server: ServerName,
        name: AutoScalingGroupName,
        launch: Ref<LaunchSource>,
        zone: Zone,
        desired: u32,
    },
    UpdateAutoScalingGroup {
        server: ServerName,
        group: AutoScalingGroupName,
        launch: Option<Ref<LaunchSource>>,
        min: Option<u32>,
        desired: Option<u32>,
    },
    /// Puts the running instance under the group's care (desired = min = max = 1).
    AdoptInstance {
        server: ServerName,
        group: AutoScalingGroupName,
        instance: Ref<InstanceId>,
    },
    /// Deletes the group and terminates its instances; waits until they are gone.
    DeleteAutoScalingGroup {
        server: ServerName,
        group: AutoScalingGroupName,
    },
    /// Terminates the instance and waits until it is terminated (its volume detached).
    TerminateInstance {
        server: ServerName,
        instance: InstanceId,
    },
    DeleteLaunchTemplate {
        server: ServerName,
        template: LaunchTemplateId,
    },
    DeleteLaunchConfiguration {
        server: ServerName,
        name: String,
    },
    ReleaseAddress {
        server: ServerName,
        address: AllocationId,
        public_ip: String,
    },
    /// Snapshots the volume and waits until the snapshot is complete.
    CreateSnapshot {
        server: ServerName,
        volume: VolumeId,
    },
    DeleteVolume {
        server: ServerName,
        volume: VolumeId,
    },
    /// Images the instance as `name` and waits until the image is available.
    CreateImage {
        server: ServerName,
        instance: InstanceId,
        name: String,
    },
    /// Copies the image to another region (same name) and waits until it is available there.
    CopyImage {
        server: ServerName,
        image: Ref<ImageId>,
        to: Region,
        name: String,
    },
    /// Waits until the instance runs.
    WaitRunning {
        server: ServerName,
        instance: Ref<InstanceId>,
    },
    /// Waits until the server runs with its volume attached and its address associated:
    /// on `instance` if given, else on whichever instance is current (other than `replacing`).
    WaitHealthy {
        server: ServerName,
        instance: Option<Ref<InstanceId>>,
        replacing: Option<InstanceId>,
    },
}

/// How a completed step is undone when the apply fails (applied to the step's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Undo {
    ReleaseAddress,
    DeleteVolume,
    TerminateInstance,
    DeleteLaunchTemplate,
    DeleteLaunchConfiguration,
    /// Deletes the group and terminates its instances.
    DeleteAutoScalingGroup,
}

impl Undo {
    pub fn describe(self) -> &'static str {
        match self {
            Undo::ReleaseAddress => "release the address",
            Undo::DeleteVolume => "delete the volume",
            Undo::TerminateInstance => "terminate the instance",
            Undo::DeleteLaunchTemplate => "delete the launch template",
            Undo::DeleteLaunchConfiguration => "delete the launch configuration",
            Undo::DeleteAutoScalingGroup => "delete the auto scaling group and its instances",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub action: Action,
    /// Steps that must finish first.
    pub after: Vec<StepId>,
    pub undo: Option<Undo>,
}

/// A resource the planner looked at, by identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKey {
    Instance(InstanceId),
    Volume(VolumeId),
    Address(AllocationId),
    LaunchTemplate(LaunchTemplateId),
    LaunchConfiguration(String),
    Group(AutoScalingGroupName),
    /// The names of the images of a type in a region.
    ImageFamily {
        region: Region,
        ami_type: AmiType,
    },
    /// The newest image of a type and architecture in the plan's region.
    NewestImage {
        ami_type: AmiType,
        architecture: Architecture,
    },
    /// The A records of a DNS name.
    Dns(String),
}

/// What the planner saw of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observed {
    Instance { state: InstanceState, zone: Zone },
    Volume { state: VolumeState, attached_to: Option<InstanceId>, size_gb: u32 },
    Address { public_ip: String, associated_to: Option<InstanceId> },
    LaunchTemplate { latest_version: u32, image: ImageId, instance_type: InstanceType },
    LaunchConfiguration { image: ImageId, instance_type: InstanceType },
    Group { launch: LaunchSource, desired: u32, instances: Vec<InstanceId> },
    ImageNames { names: Vec<String> },
    Image { id: ImageId, name: String },
    NoImage,
    Dns { addresses: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub resource: ResourceKey,
    pub observed: Observed,
}

/// What apply must re-read to check the plan is still current.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub region: Region,
    /// The server (or workspace) whose resources are read by `Name` tag.
    pub server: Option<ServerName>,
    pub dns_name: Option<String>,
    /// The newest image of this type and architecture in the region.
    pub image: Option<(AmiType, Architecture)>,
    /// The names of images of this type in these regions (bundle-ami must not reuse one).
    pub image_family: Option<(AmiType, Vec<Region>)>,
    /// Every workspace instance of the region (create-workspace picks the next number).
    pub workspaces: bool,
}

impl Scope {
    pub fn new(region: Region) -> Self {
        Scope { region, server: None, dns_name: None, image: None, image_family: None, workspaces: false }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// The canonical command line the plan was made for.
    pub command: String,
    pub scope: Scope,
    /// What the planner read, sorted by resource.
    pub observed: Vec<Observation>,
    pub steps: Vec<Step>,
    /// Extra tags (from the configuration) put on everything created for each server,
    /// besides `Name`.
    pub tags: BTreeMap<ServerName, Tags>,
    /// Decisions worth telling the reviewer (why an address is reused, why a gate exists).
    pub notes: Vec<String>,
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{path}:{line}:{column}: not a cellar plan: {message}\n  fix: make the plan again with `cellar plan ... -o {path}`")]
    Syntax { path: String, line: usize, column: usize, message: String },
    #[error("{path}: plan format {found} is not supported (this cellar reads format {PLAN_FORMAT_VERSION})\n  fix: make the plan again with this version of cellar")]
    Version { path: String, found: u32 },
    #[error("{path}: the plan is inconsistent: {problem}\n  fix: make the plan again with `cellar plan ... -o {path}` (plan files are not meant to be edited by hand)")]
    Inconsistent { path: String, problem: String },
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Combines plans of different servers in one region into one, to apply them at once
    /// (independent servers carry on when one fails). Steps are renumbered; observations,
    /// tags and notes are concatenated; the first plan's scope is kept, so a merged plan is
    /// applied directly, not saved for a later stale check.
    pub fn merge(plans: Vec<Plan>) -> Plan {
        let mut merged = Plan {
            format: PLAN_FORMAT_VERSION,
            command: plans.iter().map(|p| p.command.as_str()).collect::<Vec<_>>().join(" && "),
            scope: plans.first().map(|p| p.scope.clone()).unwrap_or_else(|| Scope::new(Region::new("us-east-1"))),
            observed: Vec::new(),
            steps: Vec::new(),
            tags: BTreeMap::new(),
            notes: Vec::new(),
        };
        for plan in plans {
            let by = merged.steps.len() as u32;
            for mut step in plan.steps {
                step.id.0 += by;
                for dep in &mut step.after {
                    dep.0 += by;
                }
                step.action.shift_references(by);
                merged.steps.push(step);
            }
            merged.observed.extend(plan.observed);
            merged.tags.extend(plan.tags);
            merged.notes.extend(plan.notes);
        }
        merged
    }

    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The DAG: one node per step (weight = step id), an edge from each dependency to its dependent.
    pub fn graph(&self) -> (DiGraph<StepId, ()>, BTreeMap<StepId, NodeIndex>) {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        for step in &self.steps {
            index.insert(step.id, graph.add_node(step.id));
        }
        for step in &self.steps {
            for dep in &step.after {
                if let (Some(&from), Some(&to)) = (index.get(dep), index.get(&step.id)) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        (graph, index)
    }

    /// Checks what a hand-edited or corrupt file could break: unique ids, dependencies and
    /// references that name existing earlier-declared steps, no cycles.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for step in &self.steps {
            if !seen.insert(step.id) {
                return Err(format!("step {} appears twice", step.id));
            }
        }
        for step in &self.steps {
            for dep in step.after.iter().chain(step.action.references().iter()) {
                if !seen.contains(dep) {
                    return Err(format!("step {} depends on {dep}, which is not in the plan", step.id));
                }
                if !step.after.contains(dep) {
                    return Err(format!("step {} uses the output of {dep} but does not run after it", step.id));
                }
            }
        }
        let (graph, _) = self.graph();
        if let Err(cycle) = petgraph::algo::toposort(&graph, None) {
            return Err(format!("steps form a cycle through {}", graph[cycle.node_id()]));
        }
        Ok(())
    }

    /// Longest chain of dependent steps (1 for a plan of independent steps, 0 when empty).
    pub fn depth(&self) -> usize {
        let (graph, index) = self.graph();
        let Ok(order) = petgraph::algo::toposort(&graph, None) else {
            return 0;
        };
        let mut depth: BTreeMap<NodeIndex, usize> = BTreeMap::new();
        for node in order {
            let d =
                graph.neighbors_directed(node, petgraph::Direction::Incoming).map(|n| depth[&n]).max().unwrap_or(0) + 1;
            depth.insert(node, d);
        }
        let _ = index;
        depth.values().copied().max().unwrap_or(0)
    }

    /// The saved form.
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new().struct_names(true).indentor("    ".to_string());
        let mut out = ron::ser::to_string_pretty(self, config).expect("plans always serialize");
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans always serialize")
    }

    /// Reads a saved plan; `path` is only used in messages.
    pub fn from_ron(path: &str, text: &str) -> Result<Plan, PlanFileError> {
        let parsed: Result<Plan, _> = ron::from_str(text);
        // A plan of another format version gets the version message, not a parse error.
        let found = declared_format(text);
        if let Some(found) = found.filter(|f| *f != PLAN_FORMAT_VERSION) {
            return Err(PlanFileError::Version { path: path.to_string(), found });
        }
        let plan = parsed.map_err(|e| PlanFileError::Syntax {
            path: path.to_string(),
            line: e.position.line,
            column: e.position.col,
            message: e.code.to_string(),
        })?;
        plan.validate().map_err(|problem| PlanFileError::Inconsistent { path: path.to_string(), problem })?;
        Ok(plan)
    }

    /// Human text: one block per step with `+` create, `-` destroy, `~` change, `?` gate, `=` wait.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Plan for `{}` in {}:", self.command, self.scope.region);
        if self.steps.is_empty() {
            out.push_str("\nNo changes.\n");
        }
        for step in &self.steps {
            let (sign, text) = step.action.describe();
            let _ = writeln!(out, "\n  {sign} {:<4} {text}", step.id.to_string());
            for detail in step.action.details() {
                let _ = writeln!(out, "         {detail}");
            }
            if !step.after.is_empty() {
                let deps: Vec<String> = step.after.iter().map(|d| d.to_string()).collect();
                let _ = writeln!(out, "         after {}", deps.join(", "));
            }
            if let Some(undo) = step.undo {
                let _ = writeln!(out, "         if the apply fails: {}", undo.describe());
            }
        }
        if self.steps.iter().any(|s| s.action.describe().0 == '+') {
            for (server, tags) in &self.tags {
                let mut all = vec![format!("{NAME_TAG}={server}")];
                all.extend(tags.iter().map(|(k, v)| format!("{k}={v}")));
                let _ = writeln!(out, "\nTags on everything created for {server}: {}", all.join(", "));
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n");
            for note in &self.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        if !self.steps.is_empty() {
            let count = |sign: char| self.steps.iter().filter(|s| s.action.describe().0 == sign).count();
            let kinds: Vec<String> =
                [('+', "to create"), ('-', "to destroy"), ('~', "to change"), ('?', "gate"), ('=', "wait")]
                    .iter()
                    .filter_map(|(sign, what)| match count(*sign) {
                        0 => None,
                        n => Some(format!("{n} {what}{}", if n > 1 && !what.starts_with("to ") { "s" } else { "" })),
                    })
                    .collect();
            let _ = writeln!(out, "\nPlan: {} steps ({}), depth {}.", self.steps.len(), kinds.join(", "), self.depth());
        }
        out
    }

    /// Graphviz DOT: steps as boxes; dependencies solid; each undo as a dashed red edge to a
    /// compensation node.
    pub fn render_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
        let _ = writeln!(out, "  label={:?};", format!("{} ({})", self.command, self.scope.region));
        for step in &self.steps {
            let (sign, text) = step.action.describe();
            let _ = writeln!(out, "  s{} [label={:?}];", step.id.0, format!("{} {sign} {text}", step.id));
        }
        for step in &self.steps {
            for dep in &step.after {
                let _ = writeln!(out, "  s{} -> s{};", dep.0, step.id.0);
            }
        }
        for step in &self.steps {
            if let Some(undo) = step.undo {
                let _ = writeln!(
                    out,
                    "  u{} [label={:?}, style=dashed, color=red, fontcolor=red];\n  s{} -> u{} [style=dashed, color=red, label=\"on failure\"];",
                    step.id.0,
                    undo.describe(),
                    step.id.0,
                    step.id.0
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

/// The `format: N` a plan file declares, if it has one near its start.
fn declared_format(text: &str) -> Option<u32> {
    let rest = &text[text.find("format:")? + "format:".len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Action {
    /// Adds `by` to every step this action refers to (for [`Plan::merge`]).
    fn shift_references(&mut self, by: u32) {
        match self {
            Action::DnsGate { address, .. } => address.shift(by),
            Action::AttachVolume { volume, instance, .. } => {
                volume.shift(by);
                instance.shift(by);
            }
            Action::AssociateAddress { address, instance, .. } => {
                address.shift(by);
                instance.shift(by);
            }
            Action::CreateAutoScalingGroup { launch, .. } => launch.shift(by),
            Action::UpdateAutoScalingGroup { launch, .. } => {
                if let Some(launch) = launch {
                    launch.shift(by);
                }
            }
            Action::AdoptInstance { instance, .. } | Action::WaitRunning { instance, .. } => instance.shift(by),
            Action::WaitHealthy { instance, .. } => {
                if let Some(instance) = instance {
                    instance.shift(by);
                }
            }
            Action::CopyImage { image, .. } => image.shift(by),
            _ => debug_assert!(self.references().is_empty(), "every reference is shifted"),
        }
    }

    /// The server the action belongs to (failures compensate per server).
    pub fn server(&self) -> &ServerName {
        match self {
            Action::AllocateAddress { server, .. }
            | Action::DnsGate { server, .. }
            | Action::CreateVolume { server, .. }
            | Action::RunInstance { server, .. }
            | Action::AttachVolume { server, .. }
            | Action::AssociateAddress { server, .. }
            | Action::CreateLaunchTemplate { server, .. }
            | Action::CreateLaunchTemplateVersion { server, .. }
            | Action::CreateLaunchConfiguration { server, .. }
            | Action::CreateAutoScalingGroup { server, .. }
            | Action::UpdateAutoScalingGroup { server, .. }
            | Action::AdoptInstance { server, .. }
            | Action::DeleteAutoScalingGroup { server, .. }
            | Action::TerminateInstance { server, .. }
            | Action::DeleteLaunchTemplate { server, .. }
            | Action::DeleteLaunchConfiguration { server, .. }
            | Action::ReleaseAddress { server, .. }
            | Action::CreateSnapshot { server, .. }
            | Action::DeleteVolume { server, .. }
            | Action::CreateImage { server, .. }
            | Action::CopyImage { server, .. }
            | Action::WaitRunning { server, .. }
            | Action::WaitHealthy { server, .. } => server,
        }
    }

    /// Steps whose outputs this action uses.
    pub fn references(&self) -> Vec<StepId> {
        match self {
            Action::DnsGate { address, .. } => address.step().into_iter().collect(),
            Action::AttachVolume { volume, instance, .. } => volume.step().into_iter().chain(instance.step()).collect(),
            Action::AssociateAddress { address, instance, .. } => {
                address.step().into_iter().chain(instance.step()).collect()
            }
            Action::CreateAutoScalingGroup { launch, .. } => launch.step().into_iter().collect(),
            Action::UpdateAutoScalingGroup { launch, .. } => launch.iter().filter_map(Ref::step).collect(),
            Action::AdoptInstance { instance, .. } | Action::WaitRunning { instance, .. } => {
                instance.step().into_iter().collect()
            }
            Action::WaitHealthy { instance, .. } => instance.iter().filter_map(Ref::step).collect(),
            Action::CopyImage { image, .. } => image.step().into_iter().collect(),
            Action::AllocateAddress { .. }
            | Action::CreateVolume { .. }
            | Action::RunInstance { .. }
            | Action::CreateLaunchTemplate { .. }
            | Action::CreateLaunchTemplateVersion { .. }
            | Action::CreateLaunchConfiguration { .. }
            | Action::DeleteAutoScalingGroup { .. }
            | Action::TerminateInstance { .. }
            | Action::DeleteLaunchTemplate { .. }
            | Action::DeleteLaunchConfiguration { .. }
            | Action::ReleaseAddress { .. }
            | Action::CreateSnapshot { .. }
            | Action::DeleteVolume { .. }
            | Action::CreateImage { .. } => Vec::new(),
        }
    }

    /// The sign and one-line summary shown in the text plan: `+` create, `-` destroy,
    /// `~` change, `?` gate, `=` wait.
    pub fn describe(&self) -> (char, String) {
        match self {
            Action::AllocateAddress { server, .. } => ('+', format!("allocate Elastic IP for {server}")),
            Action::DnsGate { host, address, .. } => {
                ('?', format!("DNS gate: {host} must point at {} before apply goes on", address.describe("address")))
            }
            Action::CreateVolume { server, zone, size_gb } => {
                ('+', format!("create data volume of {server}: {size_gb} GiB gp3 in {zone}"))
            }
            Action::RunInstance { server, zone, instance_type, image_name, .. } => {
                ('+', format!("launch instance of {server}: {instance_type} from {image_name} in {zone}"))
            }
            Action::AttachVolume { volume, instance, device, .. } => {
                ('~', format!("attach {} to {} as {device}", volume.describe("volume"), instance.describe("instance")))
            }
            Action::AssociateAddress { address, instance, .. } => {
                ('~', format!("associate {} with {}", address.describe("address"), instance.describe("instance")))
            }
            Action::CreateLaunchTemplate { server, name, instance_type, image_name, .. } => {
                ('+', format!("create launch template {name} for {server}: {instance_type} from {image_name}"))
            }
            Action::CreateLaunchTemplateVersion { template, instance_type, image_name, .. } => {
                ('~', format!("add a version to launch template {template}: {instance_type} from {image_name}"))
            }
            Action::CreateLaunchConfiguration { server, name, instance_type, image_name, .. } => {
                ('+', format!("create launch configuration {name} for {server}: {instance_type} from {image_name}"))
            }
            Action::CreateAutoScalingGroup { name, launch, zone, .. } => (
                '+',
                format!(
                    "create auto scaling group {name} of one in {zone} from {}",
                    launch.describe("launch settings")
                ),
            ),
            Action::UpdateAutoScalingGroup { group, launch, min, desired, .. } => {
                let mut changes = Vec::new();
                if let Some(launch) = launch {
                    changes.push(format!("launch from {}", launch.describe("launch settings")));
                }
                if let Some(min) = min {
                    changes.push(format!("min {min}"));
                }
                if let Some(desired) = desired {
                    changes.push(format!("desired {desired}"));
                }
                ('~', format!("update auto scaling group {group}: {}", changes.join(", ")))
            }
            Action::AdoptInstance { group, instance, .. } => {
                ('~', format!("put {} into auto scaling group {group}", instance.describe("instance")))
            }
            Action::DeleteAutoScalingGroup { group, .. } => ('-', format!("delete auto scaling group {group}")),
            Action::TerminateInstance { instance, .. } => ('-', format!("terminate instance {instance}")),
            Action::DeleteLaunchTemplate { template, .. } => ('-', format!("delete launch template {template}")),
            Action::DeleteLaunchConfiguration { name, .. } => ('-', format!("delete launch configuration {name}")),
            Action::ReleaseAddress { address, public_ip, .. } => {
                ('-', format!("release Elastic IP {public_ip} ({address})"))
            }
            Action::CreateSnapshot { volume, .. } => ('+', format!("snapshot volume {volume}")),
            Action::DeleteVolume { volume, .. } => ('-', format!("delete volume {volume}")),
            Action::CreateImage { instance, name, .. } => {
                ('+', format!("create image {name} from instance {instance}"))
            }
            Action::CopyImage { image, to, name, .. } => {
                ('+', format!("copy {} to {to} as {name}", image.describe("image")))
            }
            Action::WaitRunning { instance, .. } => ('=', format!("wait until {} runs", instance.describe("instance"))),
            Action::WaitHealthy { server, instance, replacing } => {
                let on = match (instance, replacing) {
                    (Some(i), _) => format!(" on {}", i.describe("instance")),
                    (None, Some(old)) => format!(" on a new instance (not {old})"),
                    (None, None) => String::new(),
                };
                ('=', format!("wait until {server} is healthy{on}"))
            }
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
            if let Some(hook) = &a.spawn_hook {
                parts.push(format!("spawn hook of {} lines", hook.lines().count()));
            }
            parts.join("; ")
        };
        match self {
            Action::AllocateAddress { awaiting_dns: Some(host), .. } => {
                vec![format!("tagged {AWAITING_DNS_TAG}={host} until the DNS gate passes")]
            }
            Action::RunInstance { image, agent: a, client_token, .. } => vec![
                format!("image {image}; client token {client_token}"),
                a.as_ref().map(agent).unwrap_or_else(|| "no user data: the image untouched, no agent".to_string()),
            ],
            Action::CreateLaunchTemplate { image, agent: a, .. }
            | Action::CreateLaunchTemplateVersion { image, agent: a, .. }
            | Action::CreateLaunchConfiguration { image, agent: a, .. } => vec![format!("image {image}"), agent(a)],
            Action::CreateAutoScalingGroup { desired: 0, .. } => {
                vec!["min 0, max 1, desired 0 until the instance is adopted".to_string()]
            }
            Action::CreateAutoScalingGroup { .. } => {
                vec!["min 1, max 1, desired 1: the group launches the instance; its agent attaches the volume and associates the address".to_string()]
            }
            Action::DeleteAutoScalingGroup { .. } => vec!["its instances are terminated with it".to_string()],
            Action::WaitHealthy { .. } => {
                vec!["instance running, data volume attached, Elastic IP associated".to_string()]
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceKey::Instance(id) => write!(f, "instance {id}"),
            ResourceKey::Volume(id) => write!(f, "volume {id}"),
            ResourceKey::Address(id) => write!(f, "address {id}"),
            ResourceKey::LaunchTemplate(id) => write!(f, "launch template {id}"),
            ResourceKey::LaunchConfiguration(name) => write!(f, "launch configuration {name}"),
            ResourceKey::ImageFamily { region, ami_type } => write!(f, "{ami_type} images in {region}"),
            ResourceKey::Group(name) => write!(f, "auto scaling group {name}"),
            ResourceKey::NewestImage { ami_type, architecture } => {
                write!(f, "newest {ami_type} image for {architecture}")
            }
            ResourceKey::Dns(host) => write!(f, "DNS record {host}"),
        }
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Instance { state, zone } => write!(f, "{state} in {zone}"),
            Observed::Volume { state, attached_to, size_gb } => {
                write!(f, "{state}, {size_gb} GiB")?;
                match attached_to {
                    Some(i) => write!(f, ", attached to {i}"),
                    None => Ok(()),
                }
            }
            Observed::Address { public_ip, associated_to } => match associated_to {
                Some(i) => write!(f, "{public_ip} on {i}"),
                None => write!(f, "{public_ip}, unassociated"),
            },
            Observed::LaunchTemplate { latest_version, image, instance_type } => {
                write!(f, "version {latest_version} ({instance_type} from {image})")
            }
            Observed::LaunchConfiguration { image, instance_type } => write!(f, "{instance_type} from {image}"),
            Observed::Group { launch, desired, instances } => {
                let ids: Vec<&str> = instances.iter().map(|i| i.as_str()).collect();
                write!(f, "desired {desired}, instances [{}], {launch}", ids.join(", "))
            }
            Observed::ImageNames { names } if names.is_empty() => f.write_str("none"),
            Observed::ImageNames { names } => f.write_str(&names.join(", ")),
            Observed::Image { id, name } => write!(f, "{name} ({id})"),
            Observed::NoImage => f.write_str("none"),
            Observed::Dns { addresses } if addresses.is_empty() => f.write_str("no A record"),
            Observed::Dns { addresses } => f.write_str(&addresses.join(", ")),
        }
    }
}

/// What changed between two saved plans, as a unified diff of their text renderings (one
/// block per step, so each changed action shows as its own hunk). Empty when they render
/// the same.
pub fn diff(old: &Plan, old_name: &str, new: &Plan, new_name: &str) -> String {
    let (old_text, new_text) = (old.render_text(), new.render_text());
    if old_text == new_text {
        return String::new();
    }
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

/// Compares what a plan saw with what is there now; one line per difference, e.g.
/// `instance i-0003 of ommegang: running in us-east-1b → terminated since plan`.
pub fn staleness(plan: &Plan, now: &[Observation]) -> Vec<String> {
    let before: BTreeMap<&ResourceKey, &Observed> = plan.observed.iter().map(|o| (&o.resource, &o.observed)).collect();
    let after: BTreeMap<&ResourceKey, &Observed> = now.iter().map(|o| (&o.resource, &o.observed)).collect();
    let owner = plan.scope.server.as_ref().map(|s| format!(" of {s}")).unwrap_or_default();
    let gone = |o: &Observed| matches!(o, Observed::Instance { state: InstanceState::Terminated, .. });
    let mut changes = Vec::new();
    for (key, old) in &before {
        match after.get(key) {
            Some(new) if new == old => {}
            Some(new) => changes.push(format!("{key}{owner}: {} → {} since plan", short(old), short(new))),
            None if gone(old) => {}
            None => changes.push(format!("{key}{owner}: {} → gone since plan", short(old))),
        }
    }
    for (key, new) in &after {
        if !before.contains_key(key) && !gone(new) {
            changes.push(format!("{key}{owner}: appeared since plan ({new})"));
        }
    }
    changes
}

/// The most telling part of an observation, for stale messages.
fn short(o: &Observed) -> String {
    match o {
        Observed::Instance { state, .. } => state.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: u32, action: Action, after: &[u32]) -> Step {
        Step { id: StepId(id), action, after: after.iter().map(|a| StepId(*a)).collect(), undo: None }
    }

    fn server() -> ServerName {
        ServerName::new("ale")
    }

    fn plan_of(steps: Vec<Step>) -> Plan {
        Plan {
            format: PLAN_FORMAT_VERSION,
            command: "create-server@ale 20".into(),
            scope: Scope { server: Some(server()), ..Scope::new(Region::new("us-east-1")) },
            observed: vec![],
            steps,
            tags: BTreeMap::new(),
            notes: vec![],
        }
    }

    fn volume(size: u32) -> Action {
        Action::CreateVolume { server: server(), zone: Zone::new("us-east-1a"), size_gb: size }
    }

    fn attach(volume: u32) -> Action {
        Action::AttachVolume {
            server: server(),
            volume: Ref::Output(StepId(volume)),
            instance: Ref::Existing(InstanceId::new("i-1")),
            device: "/dev/sdf".into(),
        }
    }

    fn check_validate(steps: Vec<Step>, expected: Result<usize, &str>) {
        let plan = plan_of(steps);
        let got = plan.validate().map(|()| plan.depth());
        assert_eq!(got, expected.map_err(String::from));
    }

    #[test]
    fn validation_and_depth() {
        check_validate(vec![], Ok(0));
        check_validate(vec![step(1, volume(1), &[]), step(2, volume(2), &[])], Ok(1));
        check_validate(vec![step(1, volume(1), &[]), step(2, attach(1), &[1]), step(3, volume(3), &[2])], Ok(3));
        check_validate(vec![step(1, volume(1), &[]), step(1, volume(2), &[])], Err("step #1 appears twice"));
        check_validate(vec![step(1, volume(1), &[7])], Err("step #1 depends on #7, which is not in the plan"));
        check_validate(
            vec![step(1, volume(1), &[]), step(2, attach(1), &[])],
            Err("step #2 uses the output of #1 but does not run after it"),
        );
        check_validate(vec![step(1, volume(1), &[2]), step(2, volume(2), &[1])], Err("steps form a cycle through #2"));
    }

    fn obs(resource: ResourceKey, observed: Observed) -> Observation {
        Observation { resource, observed }
    }

    fn check_stale(before: Vec<Observation>, after: Vec<Observation>, expected: &[&str]) {
        let mut plan = plan_of(vec![]);
        plan.observed = before;
        assert_eq!(staleness(&plan, &after), expected);
    }

    #[test]
    fn stale_plans_name_what_changed() {
        let instance = |state| {
            obs(
                ResourceKey::Instance(InstanceId::new("i-0003")),
                Observed::Instance { state, zone: Zone::new("us-east-1a") },
            )
        };
        let dns = |ips: &[&str]| {
            obs(
                ResourceKey::Dns("ale.example.com".into()),
                Observed::Dns { addresses: ips.iter().map(|s| s.to_string()).collect() },
            )
        };
        check_stale(vec![instance(InstanceState::Running)], vec![instance(InstanceState::Running)], &[]);
        check_stale(
            vec![instance(InstanceState::Running)],
            vec![instance(InstanceState::Terminated)],
            &["instance i-0003 of ale: running → terminated since plan"],
        );
        check_stale(vec![instance(InstanceState::Terminated)], vec![], &[]);
        check_stale(
            vec![instance(InstanceState::Running)],
            vec![],
            &["instance i-0003 of ale: running → gone since plan"],
        );
        check_stale(
            vec![dns(&[])],
            vec![dns(&["192.0.2.1"]), instance(InstanceState::Pending)],
            &[
                "DNS record ale.example.com of ale: no A record → 192.0.2.1 since plan",
                "instance i-0003 of ale: appeared since plan (pending in us-east-1a)",
            ],
        );
    }

    #[test]
    fn plan_files() {
        let plan = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
        let text = plan.to_ron();
        assert_eq!(Plan::from_ron("p.ron", &text).unwrap(), plan);
        let check_err = |text: &str, expected: &str| {
            let e = Plan::from_ron("p.ron", text).unwrap_err().to_string();
            assert!(e.starts_with(expected), "got {e}");
        };
        check_err(&text.replace("format: 1", "format: 2"), "p.ron: plan format 2 is not supported");
        check_err(&text[..40], "p.ron:");
        check_err("", "p.ron:1:1: not a cellar plan");
        let dangling = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[5])]);
        check_err(&dangling.to_ron(), "p.ron: the plan is inconsistent: step #2 depends on #5");
    }

    #[test]
    fn diff_shows_changed_actions() {
        let old = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
        let new = plan_of(vec![step(1, volume(30), &[]), step(2, attach(1), &[1])]);
        assert_eq!(diff(&old, "a.ron", &old, "b.ron"), "");
        let d = diff(&old, "a.ron", &new, "b.ron");
        assert!(d.starts_with("--- a.ron\n+++ b.ron\n@@"), "{d}");
        assert!(d.contains("\n-  + #1   create data volume of ale: 20 GiB gp3 in us-east-1a\n"), "{d}");
        assert!(d.contains("\n+  + #1   create data volume of ale: 30 GiB gp3 in us-east-1a\n"), "{d}");
        assert!(!d.contains("-  ~ #2"), "an unchanged step is context, not a change: {d}");
    }

    #[test]
    fn merge_renumbers_steps_and_references() {
        let one = plan_of(vec![step(1, volume(20), &[]), step(2, attach(1), &[1])]);
        let merged = Plan::merge(vec![one.clone(), one]);
        merged.validate().unwrap();
        assert_eq!(merged.steps.len(), 4);
        assert_eq!(merged.steps[3].after, vec![StepId(3)]);
        assert_eq!(merged.steps[3].action.references(), vec![StepId(3)]);
        assert_eq!(merged.depth(), 2);
    }

    #[test]
    fn dot_marks_compensation_edges() {
        let mut s = step(1, volume(20), &[]);
        s.undo = Some(Undo::DeleteVolume);
        let dot = plan_of(vec![s, step(2, attach(1), &[1])]).render_dot();
        assert!(dot.contains("s1 -> s2;"), "{dot}");
        assert!(dot.contains("s1 -> u1 [style=dashed, color=red"), "{dot}");
        assert!(dot.starts_with("digraph plan {") && dot.ends_with("}\n"));
    }
}
