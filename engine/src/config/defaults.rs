//! The global settings alone ([`Defaults`]), for commands that have no server file.

use super::{
    finish, launch, layer, validate, ConfigErrors, ConfigTree, LaunchConfig, Problem, Source, Sourced, GLOBAL_FILE,
};
use crate::model::{AmiType, Architecture, Region};
use std::collections::BTreeMap;

/// The global settings alone, for commands that have no server file: create-workspace,
/// and bundle-ami of a workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub region: Sourced<Region>,
    pub zone: Sourced<char>,
    pub ami_type: Sourced<AmiType>,
    pub architecture: Sourced<Architecture>,
    pub tags: BTreeMap<String, Sourced<String>>,
    /// The global layer's launch settings (a workspace launches with them, less the
    /// instance profile: it runs no agent).
    pub launch_settings: LaunchConfig,
}

impl Defaults {
    pub fn tag_values(&self) -> crate::model::Tags {
        self.tags.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect()
    }
}

impl ConfigTree {
    /// The global layer's region, zone, AMI type, architecture and tags. Errors: a missing
    /// global.ron or field, or an invalid value in it.
    pub fn defaults(&self) -> Result<Defaults, ConfigErrors> {
        let path = self.dir.join(GLOBAL_FILE);
        let Some(global) = &self.global else {
            return Err(ConfigErrors(vec![Problem {
                source: Source::file(&path),
                message:
                    "there is no global.ron, and this command takes its region, zone, AMI type and architecture from it"
                        .into(),
                fix: Some(format!("create {} with region, zone, ami_type and architecture", path.display())),
            }]));
        };
        let mut problems: Vec<Problem> =
            self.problems.iter().filter(|p| p.source.file == global.file).cloned().collect();
        problems.extend(validate::layer_problems(global, None));
        let mut missing = |field: &str, present: bool| {
            if !present {
                problems.push(Problem {
                    source: Source { file: path.clone(), line: 1, column: 1 },
                    message: format!("{field} is not set in global.ron, and this command needs it"),
                    fix: Some(format!("add `{field}: {}` to {}", layer::example(field), path.display())),
                });
            }
        };
        missing("region", global.region.is_some());
        missing("zone", global.zone.is_some());
        missing("ami_type", global.ami_type.is_some());
        missing("architecture", global.architecture.is_some());
        if !problems.is_empty() {
            return Err(ConfigErrors(finish(problems)));
        }
        let g = global.clone();
        let req = |v: Option<Sourced<String>>| v.expect("checked above");
        let zone = req(g.zone);
        let architecture = req(g.architecture);
        Ok(Defaults {
            region: req(g.region).map(Region::new),
            zone: Sourced {
                value: validate::zone_letter(&zone.value).expect("validated zone letter"),
                source: zone.source,
            },
            ami_type: req(g.ami_type).map(AmiType::new),
            architecture: Sourced {
                value: Architecture::parse(&architecture.value).expect("validated architecture"),
                source: architecture.source,
            },
            launch_settings: launch::build(&g.settings),
            tags: g.tags.into_iter().map(|(k, (v, _))| (k, v)).collect(),
        })
    }
}
