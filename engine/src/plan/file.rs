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
    #[error("{path}: the plan has no digest line (its first line must be `{DIGEST_PREFIX}<sha256>`)\n  fix: make the plan again with `cellar plan ... -o {path}` and review it")]
    NoDigest { path: String },
    #[error("{path}: the plan was changed after it was made (its content does not match the sha256 on its first line), so it is not the plan that was reviewed\n  fix: make the plan again with `cellar plan ... -o {path}` and review it; plan files are not edited by hand")]
    Edited { path: String },
}

/// The first line of a saved plan, before the sha256 of everything after that line.
pub const DIGEST_PREFIX: &str = "// cellar plan; sha256 of the lines below: ";

/// The lowercase hex sha256 of `text`.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Plan {
    /// The saved form: a first line with the sha256 of the rest (so an edited plan is
    /// refused), then the plan as RON.
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new().struct_names(true).indentor("    ".to_string());
        let mut content = ron::ser::to_string_pretty(self, config).expect("plans always serialize");
        content.push('\n');
        format!("{DIGEST_PREFIX}{}\n{content}", sha256_hex(&content))
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
        // Checked last, so a broken file gets the message that says where it is broken.
        let (first, content) = text.split_once('\n').unwrap_or((text, ""));
        let digest =
            first.strip_prefix(DIGEST_PREFIX).ok_or_else(|| PlanFileError::NoDigest { path: path.to_string() })?;
        if digest.trim_end_matches('\r') != sha256_hex(content) {
            return Err(PlanFileError::Edited { path: path.to_string() });
        }
        Ok(plan)
    }
}

/// The `format: N` a plan file declares, if it has one near its start.
fn declared_format(text: &str) -> Option<u32> {
    let rest = &text[text.find("format:")? + "format:".len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
