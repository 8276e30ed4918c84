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
//!
//! Layout: [`action`] (what a step does, how it is shown, what it refers to), [`observe`]
//! (observations and the stale check), `file` (the saved form), `render` (text, DOT, diff).

mod action;
mod drift;
mod file;
mod fleet;
mod observe;
mod render;
mod settings;

pub use action::{Action, AgentSpec, Change, GroupPlacement, LaunchedAs, TagTarget, Undo};
pub use drift::Drift;
pub use file::PlanFileError;
pub use fleet::{Fleet, FleetPlanning, FleetRow, Rollout, RolloutOptions, Unavailable};
pub use observe::{staleness, Observation, Observed, ResourceKey};
pub use render::diff;
pub use settings::{changed_settings, settings_of, Setting, SettingChange};

use crate::model::*;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Bumped whenever the saved form changes incompatibly. 2: a step names its server once
/// (`Step { server, action }`) instead of inside every action. 3: launch settings
/// (instance profile, security groups, subnet, key pair, metadata options, root volume)
/// on launches and launch settings, EBS settings on the data volume, the network in the scope.
/// 4: a first line with the sha256 of the rest (an edited plan is refused), and the
/// effective settings of the server planned (`settings`).
pub const PLAN_FORMAT_VERSION: u32 = 4;

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
    pub(crate) fn describe(&self, what: &str) -> String {
        match self {
            Ref::Existing(v) => format!("{what} {v}"),
            Ref::Output(step) => format!("the {what} of {step}"),
        }
    }
}

impl<T> Ref<T> {
    pub fn step(&self) -> Option<StepId> {
        match self {
            Ref::Existing(_) => None,
            Ref::Output(s) => Some(*s),
        }
    }
}

/// One step of a plan: an action for one server, the steps it runs after, and how it is
/// undone if the apply fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: StepId,
    /// The server (or workspace) the step acts for: failures are compensated per server.
    pub server: ServerName,
    pub action: Action,
    /// Steps that must finish first.
    pub after: Vec<StepId>,
    pub undo: Option<Undo>,
}

impl Step {
    /// The kind of change and the one-line summary shown in the text plan.
    pub fn describe(&self) -> (Change, String) {
        self.action.describe(&self.server)
    }
}

/// What apply must re-read to check the plan is still current.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The network a launch goes into (commands that launch or version launch settings).
    #[serde(default)]
    pub network: Option<NetworkScope>,
    /// The server's snapshots (`backup@` and `prune@` work from its backups). Read, not
    /// observed: a backup taken or deleted meanwhile does not make the plan stale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshots: bool,
    /// Other regions whose copies of the server's backups are read (`prune@`: its policy's
    /// `copy_to`). Read, not observed, as `snapshots`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<Region>,
}

impl Scope {
    pub fn new(region: Region) -> Self {
        Scope {
            region,
            server: None,
            dns_name: None,
            image: None,
            image_family: None,
            workspaces: false,
            network: None,
            snapshots: false,
            copies: Vec::new(),
        }
    }
}

/// The configured network settings a plan resolves (against DescribeVpcs, DescribeSubnets
/// and DescribeSecurityGroups) and apply reads again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetworkScope {
    /// `None`: the VPC of the configured subnets, else the region's default VPC.
    pub vpc: Option<VpcId>,
    /// Zone letter → subnet, as configured.
    pub subnets: BTreeMap<char, SubnetId>,
    /// Security group names or ids, as configured.
    pub security_groups: Vec<String>,
    /// The configured key pair (its region's key pairs are read when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<KeyName>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: u32,
    /// The canonical command line the plan was made for.
    pub command: String,
    pub scope: Scope,
    /// What the planner read, sorted by resource.
    pub observed: Vec<Observation>,
    pub steps: Vec<Step>,
    /// Extra tags (from the configuration) put on everything created for each server,
    /// besides `Name`. Shared with the configuration they come from
    /// (`ConfigTree::tag_values`), not copied per plan; the saved form is the map's.
    pub tags: BTreeMap<ServerName, std::sync::Arc<Tags>>,
    /// Decisions worth telling the reviewer (why an address is reused, why a gate exists).
    pub notes: Vec<String>,
    /// The effective settings of each configured server the plan was made for (`cellar
    /// config SERVER`): apply refuses the plan if they changed since. Shared with the
    /// configuration they come from (`ConfigTree::settings`), not copied per plan.
    pub settings: BTreeMap<ServerName, std::sync::Arc<[Setting]>>,
    /// A plan for many servers (`upgrade-ami@web-*`): the selector, the servers, their
    /// scopes and refusals (see `fleet.rs`); absent for one server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
    /// How the servers differ from their configuration (`sync`); empty for other commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Combines plans of different servers in one region into one, to apply them at once
    /// (independent servers carry on when one fails). Steps are renumbered; observations,
    /// tags, notes and drift are concatenated; the first plan's scope is kept, so a merged plan is
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
            settings: BTreeMap::new(),
            fleet: None,
            drift: Vec::new(),
        };
        for plan in plans {
            merged.append(plan);
        }
        merged
    }

    /// Moves `plan`'s steps in after this plan's (renumbered, nothing copied), then its
    /// observations, tags, notes and settings; returns its scope.
    fn append(&mut self, plan: Plan) -> Scope {
        let by = self.steps.len() as u32;
        self.steps.reserve(plan.steps.len());
        for mut step in plan.steps {
            step.id.0 += by;
            for dep in &mut step.after {
                dep.0 += by;
            }
            step.action.shift_references(by);
            self.steps.push(step);
        }
        self.observed.extend(plan.observed);
        self.notes.extend(plan.notes);
        self.drift.extend(plan.drift);
        // One server's entry is inserted; many (a fleet planned in parts) are merged in
        // one pass over both maps.
        let (mut tags, mut settings) = (plan.tags, plan.settings);
        if tags.len() > 1 {
            self.tags.append(&mut tags);
        } else {
            self.tags.extend(tags);
        }
        if settings.len() > 1 {
            self.settings.append(&mut settings);
        } else {
            self.settings.extend(settings);
        }
        plan.scope
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
    /// references that name steps of the plan, every step whose output is used among the
    /// steps run after, no cycles.
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
        self.fleet_problem().map_or(Ok(()), Err)
    }

    /// Longest chain of dependent steps (1 for a plan of independent steps, 0 when empty).
    pub fn depth(&self) -> usize {
        let (graph, _) = self.graph();
        let Ok(order) = petgraph::algo::toposort(&graph, None) else {
            return 0;
        };
        let mut depth: BTreeMap<NodeIndex, usize> = BTreeMap::new();
        for node in order {
            let d =
                graph.neighbors_directed(node, petgraph::Direction::Incoming).map(|n| depth[&n]).max().unwrap_or(0) + 1;
            depth.insert(node, d);
        }
        depth.values().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
