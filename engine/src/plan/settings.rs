//! The effective settings a plan was made from (what `cellar config SERVER` shows, each
//! with its file:line), and what changed in them since: apply refuses a plan whose
//! configuration moved on, naming each changed setting.

pub use crate::config::{settings_of, Setting};
use std::fmt;

/// A setting whose value differs between the plan and the configuration now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingChange {
    pub name: String,
    /// `None`: the setting did not exist when the plan was made.
    pub old: Option<Setting>,
    /// `None`: the setting no longer exists.
    pub new: Option<Setting>,
}

/// `ebs_size_gb: 20 (servers/duvel.ron:4:17) → 30 (servers/duvel.ron:4:17)`.
impl fmt::Display for SettingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<Setting>| match s {
            Some(s) if s.source == crate::config::DEFAULT_SOURCE => format!("{} (default)", first_line(&s.value)),
            Some(s) => format!("{} ({})", first_line(&s.value), s.source),
            None => "(not set)".to_string(),
        };
        write!(f, "{}: {} → {}", self.name, side(&self.old), side(&self.new))
    }
}

/// A multi-line value (a spawn hook) is shown by its first line and its length.
fn first_line(value: &str) -> String {
    let lines = value.lines().count();
    match value.lines().next() {
        Some(first) if lines > 1 => format!("{first} … ({lines} lines)"),
        _ => value.to_string(),
    }
}

/// The settings whose values differ, in the plan's order, then the settings added since.
/// A value that moved to another file but kept its value is no change.
pub fn changed_settings(recorded: &[Setting], current: &[Setting]) -> Vec<SettingChange> {
    let find = |list: &[Setting], name: &str| list.iter().find(|s| s.name == name).cloned();
    let mut changes = Vec::new();
    for old in recorded {
        let new = find(current, &old.name);
        if new.as_ref().map(|n| &n.value) != Some(&old.value) {
            changes.push(SettingChange { name: old.name.clone(), old: Some(old.clone()), new });
        }
    }
    for new in current.iter().filter(|n| find(recorded, &n.name).is_none()) {
        changes.push(SettingChange { name: new.name.clone(), old: None, new: Some(new.clone()) });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, value: &str, source: &str) -> Setting {
        Setting { name: name.into(), value: value.into(), source: source.into() }
    }

    #[test]
    fn changes_are_named_with_both_values_and_sources() {
        let plan = [s("region", "\"us-east-1\"", "global.ron:2:13"), s("ebs_size_gb", "20", "servers/a.ron:3:18")];
        let cases: &[(&[Setting], &[&str])] = &[
            (&plan, &[]),
            // Moved to another file with the same value: not a change.
            (&[s("region", "\"us-east-1\"", "platforms/p.ron:2:13"), plan[1].clone()], &[]),
            (
                &[plan[0].clone(), s("ebs_size_gb", "99999", "servers/a.ron:3:18")],
                &["ebs_size_gb: 20 (servers/a.ron:3:18) → 99999 (servers/a.ron:3:18)"],
            ),
            (&[plan[1].clone()], &["region: \"us-east-1\" (global.ron:2:13) → (not set)"]),
            (
                &[plan[0].clone(), s("ebs_size_gb", "None", "(default)")],
                &["ebs_size_gb: 20 (servers/a.ron:3:18) → None (default)"],
            ),
            (
                &[plan[0].clone(), plan[1].clone(), s("tags.team", "\"web\"", "servers/a.ron:6:5")],
                &["tags.team: (not set) → \"web\" (servers/a.ron:6:5)"],
            ),
            (
                &[plan[0].clone(), plan[1].clone(), s("spawn", "r#\"a\nb\"#", "servers/a.ron:7:5")],
                &["spawn: (not set) → r#\"a … (2 lines) (servers/a.ron:7:5)"],
            ),
        ];
        for (current, expected) in cases {
            let got: Vec<String> = changed_settings(&plan, current).iter().map(|c| c.to_string()).collect();
            assert_eq!(got, *expected, "current {current:?}");
        }
    }
}
