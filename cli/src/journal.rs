//! The apply journal's file: `PLAN.journal.ron` next to a saved plan (`ommegang.plan.ron` →
//! `ommegang.plan.journal.ron`); `cellar apply COMMAND` saves its plan and journal under
//! `.cellar/journals/` (next to the simulator's state), so it resumes the same way.
//!
//! Every record rewrites the whole file atomically (temporary file, fsync, rename): a
//! crash leaves the journal with or without the last record, never half of one. Before
//! each record the simulator's world is saved ([`Checkpoint`]), so the world is never
//! behind the journal.

use crate::backend::Checkpoint;
use anyhow::{anyhow, Context, Result};
use cellar_engine::executor::journal::{Journal, Record};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalFile {
    /// The plan file this journal belongs to.
    pub plan: String,
    /// [`digest`] of that plan's text: a journal never resumes another plan.
    pub digest: String,
    pub records: Vec<Record>,
}

/// FNV-1a (64 bits) of a plan's RON text, in hex: stable across versions and machines.
pub fn digest(plan_ron: &str) -> String {
    let hash = plan_ron.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{hash:016x}")
}

/// The journal of the plan at `plan`: `x.plan.ron` → `x.plan.journal.ron`.
pub fn path_for(plan: &Path) -> PathBuf {
    let name = plan.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".ron").unwrap_or(&name);
    plan.with_file_name(format!("{stem}.journal.ron"))
}

/// Is `path` a journal (by its name)?
pub fn is_journal(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".journal.ron")
}

/// Reads a journal; `None` if there is none. A file that is not a journal is an error
/// naming it (it is never ignored: it may be all that records what an apply created).
pub fn load(path: &Path) -> Result<Option<JournalFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read the apply journal {}", path.display())),
    };
    ron::from_str(&text).map(Some).map_err(|e| {
        anyhow!(
            "the apply journal {} is not valid (line {}, column {}: {})\n  fix: it records what an earlier apply of \
             this plan created; repair the file, or, once you have checked by hand what that apply left \
             (cellar status), move it away and make a new plan",
            path.display(),
            e.position.line,
            e.position.col,
            e.code
        )
    })
}

/// Renders a journal for a person (`cellar show`).
pub fn render(file: &JournalFile) -> String {
    let config = ron::ser::PrettyConfig::default().struct_names(false);
    let mut text = ron::ser::to_string_pretty(file, config).unwrap_or_default();
    text.push('\n');
    text
}

/// The journal an apply writes: every record saves the simulated world, then the file.
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<JournalFile>,
    checkpoint: Checkpoint,
}

impl FileJournal {
    pub fn new(path: PathBuf, file: JournalFile, checkpoint: Checkpoint) -> FileJournal {
        FileJournal { path, file: Mutex::new(file), checkpoint }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, record: &Record) -> Result<()> {
        self.checkpoint.save().context("saving the simulator's state")?;
        let mut file = self.file.lock().map_err(|_| anyhow!("internal error: journal poisoned"))?;
        file.records.push(record.clone());
        cellar_engine::files::write_atomically(&self.path, render(&file).as_bytes())?;
        Ok(())
    }
}

impl Journal for FileJournal {
    fn record(&self, record: &Record) -> Result<(), String> {
        self.write(record).map_err(|e| format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_plans_apart() {
        assert_eq!(digest(""), "cbf29ce484222325");
        assert_eq!(digest("a"), "af63dc4c8601ec8c");
        assert_ne!(digest("(size_gb: 20)"), digest("(size_gb: 99999)"));
    }

    #[test]
    fn journal_paths() {
        for (plan, journal) in [
            ("ommegang.plan.ron", "ommegang.plan.journal.ron"),
            ("dir/x.ron", "dir/x.journal.ron"),
            ("plan", "plan.journal.ron"),
        ] {
            assert_eq!(path_for(Path::new(plan)), PathBuf::from(journal), "{plan}");
            assert!(is_journal(&path_for(Path::new(plan))));
        }
        assert!(!is_journal(Path::new("ommegang.plan.ron")));
    }
}
