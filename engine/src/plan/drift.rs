//! How a server differs from its configuration (what `sync` found): each setting whose
//! launched value is not the configured one, with the file:line the configured value
//! comes from. Carried by the plan (so JSON readers and `cellar status` see it typed) and
//! rendered as `old → new`, a script as a unified diff.

use crate::model::ServerName;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One setting of one server that differs from the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    pub server: ServerName,
    /// The configuration's name for it (`instance_type`, `spawn`, `tags.team`), as `cellar
    /// config` shows it.
    pub setting: String,
    /// What the server launches (or carries) now.
    pub launched: String,
    /// What the configuration says.
    pub configured: String,
    /// Where the configured value comes from, relative to the configuration directory
    /// (`servers/duvel.ron:4:20`), or `(default)`.
    pub source: String,
}

impl Drift {
    /// `duvel: instance_type "t3.medium" → "m5.large" (servers/duvel.ron:4:20)`; a value of
    /// several lines (the spawn hook) as a unified diff of the two texts under that line.
    pub fn render(&self, out: &mut String) {
        let multiline = self.launched.contains('\n') || self.configured.contains('\n');
        let source = match self.source.as_str() {
            crate::config::DEFAULT_SOURCE => "the default".to_string(),
            file => file.to_string(),
        };
        if !multiline {
            let _ = writeln!(
                out,
                "  {}: {} {} → {} ({})",
                self.server, self.setting, self.launched, self.configured, source
            );
            return;
        }
        let _ = writeln!(out, "  {}: {} differs ({source}):", self.server, self.setting);
        let diff = similar::TextDiff::from_lines(&self.launched, &self.configured)
            .unified_diff()
            .context_radius(3)
            .header("launched", "configured")
            .to_string();
        for line in diff.lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
}

/// The text section of a plan's drift (nothing when there is none).
pub fn render_drift(drift: &[Drift], out: &mut String) {
    if drift.is_empty() {
        return;
    }
    out.push_str("\nDiffers from the configuration:\n");
    for d in drift {
        d.render(out);
    }
}
