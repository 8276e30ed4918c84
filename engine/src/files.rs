//! Writing files so that a crash never leaves half of one: [`write_atomically`], the one
//! helper the CLI's plan files and the simulator's state file are written with.
//!
//! This is the engine's only file-writing code (the planner, plan and executor do no I/O).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: it is {kind}, not a regular file\n  fix: give the path of a file")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("cannot write {path}: the symbolic link {link} leads round in a loop")]
    SymlinkLoop { path: PathBuf, link: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How many symbolic links are followed before giving up (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Replaces the file at `path` with `bytes` atomically: the bytes go to a temporary file in
/// the same directory, which is flushed to disk and renamed over the target; then the
/// directory is flushed, so the rename survives a power loss. Readers see the old file or
/// the new one, never a mix.
///
/// A symbolic link is written through (its target is replaced, the link stays); a
/// directory, device, FIFO or socket at the path is refused, never replaced by a regular
/// file. An existing file keeps its permissions. Missing parent directories are created.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let target = resolve(path)?;
    let io = |source| WriteError::Io { path: target.clone(), source };
    let existing = match std::fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    if let Some(meta) = &existing {
        if !meta.is_file() {
            return Err(WriteError::NotAFile { path: target.clone(), kind: kind_of(meta) });
        }
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| WriteError::Io { path: dir.clone(), source })?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).map_err(|source| WriteError::Io { path: dir.clone(), source })?;
    tmp.write_all(bytes).map_err(io)?;
    if let Some(meta) = &existing {
        tmp.as_file().set_permissions(meta.permissions()).map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&target).map_err(|e| io(e.error))?;
    // The rename is durable once the directory is; not every file system can open a
    // directory for syncing, and the data itself is already on disk.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Why a path's symbolic links could not be followed.
#[derive(Debug)]
pub enum LinkError {
    /// After [`MAX_LINKS`] links there was still a link: they lead round in a loop. `last`
    /// is where following stopped.
    Loop {
        last: PathBuf,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The path `path` names once its symbolic links are followed (the last may dangle). Used
/// to write through links and by `cellar check` to report link loops.
pub fn follow_links(path: &Path) -> Result<PathBuf, LinkError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link =
                    std::fs::read_link(&current).map_err(|source| LinkError::Io { path: current.clone(), source })?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(LinkError::Loop { last: current })
}

/// The file `path` names once its symbolic links are followed (the final one may dangle:
/// writing then creates its target).
fn resolve(path: &Path) -> Result<PathBuf, WriteError> {
    follow_links(path).map_err(|e| match e {
        LinkError::Loop { last } => WriteError::SymlinkLoop { path: path.to_path_buf(), link: last },
        LinkError::Io { path, source } => WriteError::Io { path, source },
    })
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn writes_creates_and_replaces() {
        let d = dir();
        let p = d.path().join("sub/plan.ron");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plan.ron")], "no temporary file is left");
    }

    #[test]
    fn writes_through_a_symlink_and_keeps_it() {
        let d = dir();
        let real = d.path().join("real.ron");
        std::fs::write(&real, "old").unwrap();
        let link = d.path().join("link.ron");
        std::os::unix::fs::symlink("real.ron", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link creates its target.
        let dangling = d.path().join("dangling.ron");
        std::os::unix::fs::symlink("made.ron", &dangling).unwrap();
        write_atomically(&dangling, b"x").unwrap();
        assert_eq!(std::fs::read(d.path().join("made.ron")).unwrap(), b"x");
    }

    #[test]
    fn keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let p = d.path().join("state.ron");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&p, b"new").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }

    fn check_refused(path: &Path, expected: &str) {
        let e = write_atomically(path, b"x").unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }

    #[test]
    fn refuses_what_is_not_a_file() {
        let d = dir();
        check_refused(d.path(), "is a directory");
        check_refused(Path::new("/dev/null"), "is a device");
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        check_refused(&a, "leads round in a loop");
        let to_device = d.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
        check_refused(&to_device, "is a device");
        assert!(std::fs::symlink_metadata(&to_device).unwrap().file_type().is_symlink(), "the link is left alone");
    }
}
