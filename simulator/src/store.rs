//! The world's state file: so that `plan` and `apply` in separate processes see one world.
//!
//! [`SimStore::open`] takes an exclusive lock on `<path>.lock` and holds it until the store
//! is dropped, so two processes doing load → modify → save never lose each other's
//! updates. [`SimStore::open_shared`] takes a shared lock instead, for commands that
//! never save (`status`, `plan`, `doctor`, `sim show`, `sim log`): readers run together,
//! a writer waits for them and they for it; such a store refuses to save
//! ([`StoreError::ReadOnly`]). The holder writes who it is into the lock file (`pid 4242: cellar apply
//! ommegang.plan.ron`); a process that finds the lock taken polls for it and, after
//! [`WAIT_REPORTED_AFTER`], tells its caller once who it waits for
//! ([`SimStore::open_reporting`]). Saves are atomic (temporary file in the same directory, fsync, rename): a
//! crash leaves either the old or the new world, never half of one.

use crate::world::World;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a wait for the state lock lasts before it is reported.
pub const WAIT_REPORTED_AFTER: Duration = Duration::from_secs(1);

/// How often a waiting process tries the lock again.
const POLL: Duration = Duration::from_millis(50);

/// The default world's RON text (`fixtures/worlds/default.ron`).
pub const DEFAULT_WORLD_RON: &str = include_str!("../../fixtures/worlds/default.ron");

/// The world `cellar sim init` starts from. Panics only if the embedded fixture is broken
/// (a unit test guarantees it parses).
pub fn default_world() -> World {
    // Parsed once per process: property tests and benchmarks start thousands of worlds.
    static DEFAULT: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| match parse_world(DEFAULT_WORLD_RON) {
            Ok(world) => world,
            Err(e) => panic!("the embedded fixtures/worlds/default.ron does not parse: {e}"),
        })
        .clone()
}

/// Parses a world from RON.
pub fn parse_world(text: &str) -> Result<World, ron::error::SpannedError> {
    ron::de::from_str(text)
}

/// Renders a world as the state file's RON.
pub fn render_world(world: &World) -> String {
    let config = ron::ser::PrettyConfig::default().struct_names(false);
    let mut text = ron::ser::to_string_pretty(world, config).expect("a world always serializes");
    text.push('\n');
    text
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("simulator state {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "simulator state file {} is not a valid world (line {line}, column {column}: {message}); \
         run `cellar sim init` to reset it to the default world, or fix the file",
        path.display()
    )]
    Corrupt { path: PathBuf, line: usize, column: usize, message: String },
    /// A field this version does not know (a newer cellar wrote the file, or a typo): refused
    /// rather than dropped on the next save.
    #[error(
        "simulator state file {} has a field this version of cellar does not know (line {line}, column {column}: \
         `{field}`; known here: {expected}); it was written by a newer cellar or mistyped: fix or remove the field, \
         or run `cellar sim init` to reset the file to the default world",
        path.display()
    )]
    UnknownField { path: PathBuf, line: usize, column: usize, field: String, expected: String },
    #[error(
        "simulator state file {} is inconsistent: {problem}; run `cellar sim init` to reset it to the default world, or fix the file",
        path.display()
    )]
    Inconsistent { path: PathBuf, problem: String },
    #[error("simulator state: {source}")]
    Write {
        #[source]
        source: cellar_engine::files::WriteError,
    },
    /// A save through a store opened with [`SimStore::open_shared`] (a bug of the caller).
    #[error("internal error: simulator state {} was opened read-only (shared lock) and cannot be saved", path.display())]
    ReadOnly { path: PathBuf },
    #[error("cannot lock simulator state {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A state file that does not parse: an unknown field, or anything else that is not a world.
fn parse_error(path: &Path, e: ron::error::SpannedError) -> StoreError {
    let (line, column, path) = (e.position.line, e.position.col, path.to_path_buf());
    match e.code {
        ron::Error::NoSuchStructField { expected, found, .. } => {
            StoreError::UnknownField { path, line, column, field: found, expected: expected.join(", ") }
        }
        code => StoreError::Corrupt { path, line, column, message: code.to_string() },
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// An open, locked state file and the world loaded from it.
pub struct SimStore {
    path: PathBuf,
    world: World,
    /// The locked lock file; closing it (on drop) releases the lock.
    _lock: fd_lock::RwLock<File>,
    /// Opened with a shared lock ([`SimStore::open_shared`]): saving is refused.
    shared: bool,
}

/// Which lock a store holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// One holder: it may save.
    Exclusive,
    /// Any number of readers at once, never with a writer: nothing is saved.
    Shared,
}

impl std::fmt::Debug for SimStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SimStore {
    /// Locks the state file and loads it; a missing file means the default world.
    /// A file that does not parse is reported (and left untouched).
    pub fn open(path: &Path) -> Result<SimStore, StoreError> {
        Self::open_reporting(path, &|_| {})
    }

    /// [`SimStore::open`]; if the lock is held by another process for more than
    /// [`WAIT_REPORTED_AFTER`], `waiting` is called once with who holds it (`pid 4242:
    /// cellar apply ommegang.plan.ron`, or `another process` if it did not say), and the
    /// wait goes on.
    pub fn open_reporting(path: &Path, waiting: &dyn Fn(&str)) -> Result<SimStore, StoreError> {
        Self::open_with(path, waiting, Access::Exclusive)
    }

    /// Takes a shared lock on the state file and loads it, for a command that never saves:
    /// other readers may hold it at the same time, a writer ([`SimStore::open`]) waits for
    /// all of them to finish. [`SimStore::save`], [`SimStore::write`] and
    /// [`SimStore::flush`] refuse ([`StoreError::ReadOnly`]). A wait is reported as
    /// [`SimStore::open_reporting`] does.
    pub fn open_shared(path: &Path, waiting: &dyn Fn(&str)) -> Result<SimStore, StoreError> {
        Self::open_with(path, waiting, Access::Shared)
    }

    fn open_with(path: &Path, waiting: &dyn Fn(&str), access: Access) -> Result<SimStore, StoreError> {
        let lock = lock(path, waiting, access)?;
        let world = match fs::read_to_string(path) {
            Ok(text) => parse_world(&text).map_err(|e| parse_error(path, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => default_world(),
            Err(e) => return Err(io_err(path)(e)),
        };
        world.check_consistency().map_err(|problem| StoreError::Inconsistent { path: path.to_path_buf(), problem })?;
        Ok(SimStore { path: path.to_path_buf(), world, _lock: lock, shared: access == Access::Shared })
    }

    /// Locks the state file and overwrites it with `world` (atomically), whatever it held.
    pub fn init(path: &Path, world: World) -> Result<SimStore, StoreError> {
        Self::init_reporting(path, world, &|_| {})
    }

    /// [`SimStore::init`], reporting a wait as [`SimStore::open_reporting`] does.
    pub fn init_reporting(path: &Path, world: World, waiting: &dyn Fn(&str)) -> Result<SimStore, StoreError> {
        let lock = lock(path, waiting, Access::Exclusive)?;
        let store = SimStore { path: path.to_path_buf(), world, _lock: lock, shared: false };
        store.flush()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The world as loaded (or as last set with [`SimStore::world_mut`]).
    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    pub fn into_world(self) -> World {
        self.world
    }

    /// Takes the loaded world out (no copy: a 10,000-server world is tens of MB), leaving
    /// an empty one in the store, which stays locked; [`SimStore::write`] still writes
    /// whatever world it is given.
    pub fn take_world(&mut self) -> World {
        std::mem::replace(&mut self.world, World::new(cellar_engine::model::Timestamp(0), Vec::new()))
    }

    /// Writes `world` to the state file atomically and makes it the store's world.
    pub fn save(&mut self, world: &World) -> Result<(), StoreError> {
        self.write(world)?;
        self.world = world.clone();
        Ok(())
    }

    /// Writes `world` to the state file atomically, leaving the store's world as it was
    /// (no copy: for saving often).
    pub fn write(&self, world: &World) -> Result<(), StoreError> {
        if self.shared {
            return Err(StoreError::ReadOnly { path: self.path.clone() });
        }
        write_atomically(&self.path, render_world(world).as_bytes())
    }

    /// Writes the store's own world.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.write(&self.world)
    }

    /// Whether this store was opened with a shared lock ([`SimStore::open_shared`]).
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "world.ron".into());
    name.push(".lock");
    path.with_file_name(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// This process, as the lock file names its holder: `pid 4242: cellar apply x.plan.ron`.
fn holder() -> String {
    let mut words = std::env::args();
    let program = words.next().map(|p| match Path::new(&p).file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => p,
    });
    let command: Vec<String> = program.into_iter().chain(words).collect();
    format!("pid {}: {}", std::process::id(), command.join(" "))
}

/// Creates the directory, opens `<path>.lock` and waits until it holds the lock `access`
/// asks for (trying every [`POLL`], reporting a wait once, after [`WAIT_REPORTED_AFTER`], to
/// `waiting`), then writes [`holder`] into it (a reader among several: the last one to
/// arrive). An empty path is refused (it would lock `.lock` in the working directory).
fn lock(path: &Path, waiting: &dyn Fn(&str), access: Access) -> Result<fd_lock::RwLock<File>, StoreError> {
    if path.as_os_str().is_empty() {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "the state file's path is empty");
        return Err(StoreError::Io { path: path.to_path_buf(), source });
    }
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let lock_file = lock_path(path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_file)
        .map_err(io_err(&lock_file))?;
    let mut lock = fd_lock::RwLock::new(file);
    let (started, mut said) = (Instant::now(), false);
    loop {
        // The lock (flock / LockFileEx) belongs to the open file: it stays held until the
        // file is closed when the store drops, so the guard need not be kept.
        let taken = match access {
            Access::Exclusive => lock.try_write().map(std::mem::forget),
            Access::Shared => lock.try_read().map(std::mem::forget),
        };
        match taken {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !said && started.elapsed() >= WAIT_REPORTED_AFTER {
                    let text = fs::read_to_string(&lock_file).unwrap_or_default();
                    let held_by = text.lines().next().map(str::trim).filter(|l| !l.is_empty());
                    waiting(held_by.unwrap_or("another process"));
                    said = true;
                }
                std::thread::sleep(POLL);
            }
            Err(source) => return Err(StoreError::Lock { path: lock_file, source }),
        }
    }
    // Who holds it, for those who wait (advisory: the lock does not keep this write out).
    let _ = fs::write(&lock_file, format!("{}\n", holder()));
    Ok(lock)
}

/// The engine's atomic replace (temporary file, fsync, rename, directory fsync).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    cellar_engine::files::write_atomically(path, bytes).map_err(|source| StoreError::Write { source })
}

#[cfg(test)]
mod tests;
