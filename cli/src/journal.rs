//! The apply journal's file: `PLAN.journal.ron` next to a saved plan (`ommegang.plan.ron` →
//! `ommegang.plan.journal.ron`); `cellar apply COMMAND` saves its plan and journal under
//! `.cellar/journals/` (next to the simulator's state), so it resumes the same way.
//!
//! The file is a line of RON per entry: first the header (the plan's file and digest),
//! then one record per line, appended and flushed to disk (`fdatasync`) one at a time. The
//! header (with the records of an apply being resumed) is written atomically (temporary
//! file, fsync, rename) when the apply makes its first record. A crash leaves the journal
//! with or without the last record: a last line without its newline is an append cut
//! short and is dropped when the journal is read (and rewritten away when it is resumed).
//! Journals written before records were appended (one RON document with a `records`
//! list) are still read. Before each record the simulator's world is saved
//! ([`Checkpoint`]), so the world is never behind the journal.

use crate::backend::Checkpoint;
use anyhow::{anyhow, Context, Result};
use cellar_engine::executor::journal::{Journal, Record};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
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

/// The file's first line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    plan: String,
    digest: String,
}

/// Reads a journal; `None` if there is none. A file that is not a journal is an error
/// naming it (it is never ignored: it may be all that records what an apply created).
pub fn load(path: &Path) -> Result<Option<JournalFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read the apply journal {}", path.display())),
    };
    parse(&text).map(Some).map_err(|(line, e)| {
        anyhow!(
            "the apply journal {} is not valid (line {line}, column {}: {})\n  fix: it records what an earlier apply of \
             this plan created; repair the file, or, once you have checked by hand what that apply left \
             (cellar status), move it away and make a new plan",
            path.display(),
            e.position.col,
            e.code
        )
    })
}

/// A journal's text: a line per entry, or the one document of older journals (whose
/// first line is a lone `(`). An error names its line (from 1).
fn parse(text: &str) -> Result<JournalFile, (usize, ron::error::SpannedError)> {
    if text.lines().next().map(str::trim) == Some("(") {
        return ron::from_str(text).map_err(|e| (e.position.line, e));
    }
    let mut lines = text.split_inclusive('\n');
    let header: Header = ron::from_str(lines.next().unwrap_or_default()).map_err(|e| (1, e))?;
    let mut records = Vec::new();
    for (i, line) in lines.enumerate() {
        match ron::from_str(line) {
            Ok(record) => records.push(record),
            // The last line, cut short by a crash while it was appended: not recorded.
            Err(_) if !line.ends_with('\n') => break,
            Err(e) => return Err((i + 2, e)),
        }
    }
    Ok(JournalFile { plan: header.plan, digest: header.digest, records })
}

/// One entry as a line of RON (spaces where a person's rendering has line breaks).
fn line<T: Serialize>(value: &T) -> Result<String> {
    let config = ron::ser::PrettyConfig::default().struct_names(false).new_line(" ".into()).indentor(String::new());
    let mut text = ron::ser::to_string_pretty(value, config).context("rendering a journal record")?;
    text.push('\n');
    Ok(text)
}

/// The whole file: the header, then a line per record.
fn lines(file: &JournalFile) -> Result<String> {
    let mut text = line(&Header { plan: file.plan.clone(), digest: file.digest.clone() })?;
    for record in &file.records {
        text.push_str(&line(record)?);
    }
    Ok(text)
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
    state: Mutex<Written>,
    checkpoint: Checkpoint,
}

struct Written {
    file: JournalFile,
    /// Open for appending once the whole file was written (at the first record).
    appending: Option<File>,
}

impl FileJournal {
    pub fn new(path: PathBuf, file: JournalFile, checkpoint: Checkpoint) -> FileJournal {
        FileJournal { path, state: Mutex::new(Written { file, appending: None }), checkpoint }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, record: &Record) -> Result<()> {
        self.checkpoint.save().context("saving the simulator's state")?;
        let mut state = self.state.lock().map_err(|_| anyhow!("internal error: journal poisoned"))?;
        let written = &mut *state;
        let cannot = || format!("cannot write the apply journal {}", self.path.display());
        written.file.records.push(record.clone());
        match &mut written.appending {
            Some(file) => {
                file.write_all(line(record)?.as_bytes()).with_context(cannot)?;
                file.sync_data().with_context(cannot)?;
            }
            None => {
                cellar_engine::files::write_atomically(&self.path, lines(&written.file)?.as_bytes())?;
                written.appending =
                    Some(std::fs::OpenOptions::new().append(true).open(&self.path).with_context(cannot)?);
            }
        }
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
    use cellar_engine::plan::StepId;

    #[test]
    fn digests_tell_plans_apart() {
        assert_eq!(digest(""), "cbf29ce484222325");
        assert_eq!(digest("a"), "af63dc4c8601ec8c");
        assert_ne!(digest("(size_gb: 20)"), digest("(size_gb: 99999)"));
    }

    /// The file's lines read back; a last line cut short is dropped, a bad line elsewhere
    /// is an error naming it; the older one-document form is still read.
    #[test]
    fn journal_lines_read_back() {
        let file = JournalFile {
            plan: "p.ron".into(),
            digest: "00ff".into(),
            records: vec![
                Record::Started { step: StepId(1), token: Some("t-1".into()) },
                Record::Failed { step: StepId(1), error: "two\nlines".into() },
            ],
        };
        let text = lines(&file).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("step: 1,"), "{text}");
        assert_eq!(parse(&text).unwrap(), file);
        // An append cut short by a crash: without its newline, it was never recorded.
        let torn = format!("{text}Done( step: 2, outp");
        assert_eq!(parse(&torn).unwrap(), file);
        // A whole line that does not read is an error on its line.
        let bad = format!("{text}Done( step: 2, outp\n");
        assert_eq!(parse(&bad).unwrap_err().0, 4);
        assert_eq!(parse("(plan: \"p.ron\", records: [Done(step: 1,").unwrap_err().0, 1);
        assert_eq!(parse(&render(&file)).unwrap(), file, "the one-document form of older journals");
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
