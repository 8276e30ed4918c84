//! Reading a configuration directory: global.ron and the platform files are read and
//! parsed at once (a handful of files, in the chain of every server); a server file is
//! only listed, and read and parsed the first time something asks for it (a command about
//! one server of 10,000 reads one server file, `cellar check` reads them all).

use super::layer::{self, FileKind, Layer};
use super::{Problem, Source};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One server file: its path, and its layer once read and parsed.
#[derive(Clone, Debug)]
pub(crate) struct ServerFile {
    pub path: PathBuf,
    /// The file name without `.ron` (not always a valid server name).
    pub stem: String,
    /// The text when the tree was built from texts; else the file is read on first use.
    text: Option<String>,
    /// Boxed: a layer is a few kilobytes, and 10,000 unread files must not reserve them.
    parsed: OnceLock<Box<Parsed>>,
}

/// A server file as read and parsed.
#[derive(Clone, Debug)]
pub(crate) struct Parsed {
    /// `None` when the file could not be read.
    pub layer: Option<Layer>,
    /// The problems of reading and parsing it (not those of its values: `validate`'s).
    pub problems: Vec<Problem>,
}

impl ServerFile {
    pub fn on_disk(path: PathBuf, stem: String) -> Self {
        ServerFile { path, stem, text: None, parsed: OnceLock::new() }
    }

    pub fn in_memory(path: PathBuf, stem: String, text: String) -> Self {
        ServerFile { path, stem, text: Some(text), parsed: OnceLock::new() }
    }

    /// Whether the file has been read and parsed.
    #[cfg(test)]
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }

    /// The file read and parsed, the first time it is asked for.
    pub fn parsed(&self) -> &Parsed {
        self.parsed.get_or_init(|| {
            let kind = FileKind::Server(self.stem.clone());
            let read;
            let text = match &self.text {
                Some(text) => text.as_str(),
                None => match std::fs::read_to_string(&self.path) {
                    Ok(text) => {
                        read = text;
                        read.as_str()
                    }
                    Err(e) => return Box::new(Parsed { layer: None, problems: vec![unreadable(&self.path, &e)] }),
                },
            };
            let (layer, problems) = layer::parse(self.path.clone(), kind, text);
            Box::new(Parsed { layer: Some(layer), problems })
        })
    }
}

/// The `*.ron` entries of a directory, sorted: every entry, whatever it is (a dangling
/// link, a link loop or a directory is a problem to report when the file is read, not a
/// file to skip silently). `Ok(None)` when the directory does not exist.
pub(crate) fn ron_entries(dir: &Path) -> Result<Option<Vec<std::ffi::OsString>>, Problem> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(dir, &e)),
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| Path::new(n).extension().is_some_and(|x| x == "ron"))
        .collect();
    names.sort();
    Ok(Some(names))
}

/// The problem of a configuration file that cannot be read, saying why in words: a
/// dangling symbolic link, a loop of links, a directory, or the system's reason.
pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Problem {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let (message, fix) = match e.kind() {
        _ if link && link_loops(path) => (
            "is a symbolic link that leads round in a loop".to_string(),
            Some("point the link at a real file, or remove it".to_string()),
        ),
        std::io::ErrorKind::NotFound if link => {
            let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            (
                format!("is a symbolic link to {target}, which does not exist"),
                Some("point the link at an existing file, or remove it".to_string()),
            )
        }
        std::io::ErrorKind::IsADirectory => (
            "is a directory, not a configuration file".to_string(),
            Some("rename it so it does not end in .ron".to_string()),
        ),
        _ => (format!("cannot read the file: {e}"), None),
    };
    Problem { source: Source::file(path), message, fix }
}

/// Whether following `path`'s symbolic links never reaches a non-link.
fn link_loops(path: &Path) -> bool {
    matches!(crate::files::follow_links(path), Err(crate::files::LinkError::Loop { .. }))
}
