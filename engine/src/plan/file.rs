//! The saved form of a plan (RON), and reading it back with every check a hand-edited or
//! corrupt file needs.

use super::{Plan, PLAN_FORMAT_VERSION};

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
}

/// The `format: N` a plan file declares, if it has one near its start.
fn declared_format(text: &str) -> Option<u32> {
    let rest = &text[text.find("format:")? + "format:".len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
