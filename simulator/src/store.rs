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

use crate::world::{Need, Shard, ShardKey, Totals, World};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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
    /// The database could not be read or written, or holds what this version cannot use.
    #[error(
        "simulator state file {}: {message}; run `cellar sim init` to reset it to the default world",
        path.display()
    )]
    Database { path: PathBuf, message: String },
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
    /// The open database, shared with the world's shard source; `None` while there is no
    /// state file, or it holds a world in RON (written by hand, or by an older cellar): the
    /// first save makes the database. Opened for reading until the first save, which
    /// reopens it for writing, so a command that changes nothing changes no byte of it.
    db: db::Shared,
    /// What was read from or written to the database, per shard.
    seen: Arc<Mutex<db::Seen>>,
}

/// Which lock a store holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// One holder: it may save.
    Exclusive,
    /// Any number of readers at once, never with a writer: nothing is saved.
    Shared,
}

/// How much of the world a store loads when it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    /// All of it.
    Whole,
    /// The core; the shards as the world's calls need them (`world/lazy.rs`).
    Lazily,
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
        Self::open_with(path, waiting, Access::Exclusive, Load::Whole)
    }

    /// Takes a shared lock on the state file and loads it, for a command that never saves:
    /// other readers may hold it at the same time, a writer ([`SimStore::open`]) waits for
    /// all of them to finish. [`SimStore::save`], [`SimStore::write`] and
    /// [`SimStore::flush`] refuse ([`StoreError::ReadOnly`]). A wait is reported as
    /// [`SimStore::open_reporting`] does.
    pub fn open_shared(path: &Path, waiting: &dyn Fn(&str)) -> Result<SimStore, StoreError> {
        Self::open_with(path, waiting, Access::Shared, Load::Whole)
    }

    /// [`SimStore::open_reporting`] (or, `shared`, [`SimStore::open_shared`]), loading the
    /// world's core only: its shards load as the world's calls need them, so a command
    /// about one server of 10,000 reads that server's (`world/lazy.rs`). What the world
    /// changed is saved with [`SimStore::write`].
    pub fn open_lazily(path: &Path, waiting: &dyn Fn(&str), shared: bool) -> Result<SimStore, StoreError> {
        let access = if shared { Access::Shared } else { Access::Exclusive };
        Self::open_with(path, waiting, access, Load::Lazily)
    }

    fn open_with(path: &Path, waiting: &dyn Fn(&str), access: Access, load: Load) -> Result<SimStore, StoreError> {
        let lock = lock(path, waiting, access)?;
        let is_db = match db::is_database(path) {
            Ok(is_db) => is_db,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(path)(e)),
        };
        let (lock, reader) = if is_db {
            let (lock, reader) = open_reader(path, waiting, access, lock)?;
            (lock, Some(reader))
        } else {
            (lock, None)
        };
        let mut store = SimStore {
            path: path.to_path_buf(),
            world: World::new(cellar_engine::model::Timestamp(0), Vec::new()),
            _lock: lock,
            shared: access == Access::Shared,
            db: Arc::default(),
            seen: Arc::default(),
        };
        match reader {
            Some(reader) => store.load_database(reader, load)?,
            None => {
                store.world = match fs::read_to_string(path) {
                    Ok(text) => parse_world(&text).map_err(|e| parse_error(path, e))?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => default_world(),
                    Err(e) => return Err(io_err(path)(e)),
                };
            }
        }
        store
            .world
            .check_consistency()
            .map_err(|problem| StoreError::Inconsistent { path: path.to_path_buf(), problem })?;
        Ok(store)
    }

    /// Loads the world from the open database (see [`Load`]).
    fn load_database(&mut self, reader: redb::ReadOnlyDatabase, load: Load) -> Result<(), StoreError> {
        let path = self.path.clone();
        let corrupt = |message: String| StoreError::Database { path: path.clone(), message };
        let database = db::Db::Read(reader);
        let core = db::read_core(&database).map_err(corrupt)?;
        let log = if load == Load::Whole { Some(db::read_log(&database).map_err(corrupt)?) } else { None };
        *self.db.lock().unwrap_or_else(|e| e.into_inner()) = Some(database);
        let mut world = parse_world(&core.text).map_err(|e| parse_error(&path, e))?;
        let source =
            Arc::new(db::DbSource { db: Arc::clone(&self.db), seen: Arc::clone(&self.seen), path: path.clone() });
        world.load_lazily(source, core.totals);
        if let Some(unsettled) = core.unsettled.filter(|_| log.is_none()) {
            world.set_unsettled_groups(unsettled);
        }
        if let Some(log) = log {
            world.make_whole();
            if let Some(failure) = world.load_failure() {
                return Err(corrupt(failure.to_string()));
            }
            world.prepend_log(log);
        }
        self.world = world;
        Ok(())
    }

    /// Locks the state file and overwrites it with `world` (atomically), whatever it held.
    pub fn init(path: &Path, world: World) -> Result<SimStore, StoreError> {
        Self::init_reporting(path, world, &|_| {})
    }

    /// [`SimStore::init`], reporting a wait as [`SimStore::open_reporting`] does.
    pub fn init_reporting(path: &Path, world: World, waiting: &dyn Fn(&str)) -> Result<SimStore, StoreError> {
        let lock = lock(path, waiting, Access::Exclusive)?;
        let mut store = SimStore {
            path: path.to_path_buf(),
            world,
            _lock: lock,
            shared: false,
            db: Arc::default(),
            seen: Arc::default(),
        };
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

    pub fn into_world(mut self) -> World {
        self.take_world()
    }

    /// Takes the loaded world out (no copy: a 10,000-server world is tens of MB), leaving
    /// an empty one in the store, which stays locked; [`SimStore::write`] still writes
    /// whatever world it is given.
    pub fn take_world(&mut self) -> World {
        std::mem::replace(&mut self.world, World::new(cellar_engine::model::Timestamp(0), Vec::new()))
    }

    /// Writes `world` to the state file and makes it the store's world.
    pub fn save(&mut self, world: &World) -> Result<(), StoreError> {
        let mut world = world.clone();
        self.write(&mut world)?;
        self.world = world;
        Ok(())
    }

    /// Writes what `world` changed since the last write, in one transaction (a crash keeps
    /// the last one whole): the core, the shards whose content changed, the log entries
    /// recorded since. The first write to a file that held no database (none, or a RON
    /// world) writes the whole world into a new database and puts it in place atomically.
    /// `world` comes back as it was (its shards are taken out to be written and put back).
    pub fn write(&self, world: &mut World) -> Result<(), StoreError> {
        if self.shared {
            return Err(StoreError::ReadOnly { path: self.path.clone() });
        }
        if let Some(failure) = world.load_failure() {
            let message = format!("the world could not be loaded whole and is not saved: {failure}");
            return Err(StoreError::Database { path: self.path.clone(), message });
        }
        self.load_what_a_save_touches(world);
        let shards = world.split_for_save();
        let log = world.take_log();
        let core = render_world(world);
        let mut totals = world.unloaded_totals();
        let texts: BTreeMap<ShardKey, String> = shards
            .iter()
            .map(|(key, shard)| {
                totals.add(&Totals::of(shard));
                (key.clone(), render_shard(shard))
            })
            .collect();
        for shard in shards.into_values() {
            world.absorb(shard);
        }
        let mut database = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = database.is_none();
        let unsettled = world.unsettled_groups();
        let save = db::Save {
            core: &core,
            shards: &texts,
            totals: &totals,
            unsettled: &unsettled,
            log: &log,
            log_seq: world.log_seq(),
            whole: fresh,
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let fail = |message: String| StoreError::Database { path: self.path.clone(), message };
        if let Some(db::Db::Read(_)) = database.as_ref() {
            // The first write of this store: the reader gives way to a writer (the store
            // holds the exclusive lock, so no other process has the file open).
            *database = None;
            *database = Some(db::Db::Write(redb::Database::open(&self.path).map_err(|e| fail(db::words(e)))?));
        }
        match database.as_ref() {
            Some(db::Db::Write(d)) => db::write(d, &mut seen, &save).map_err(fail)?,
            Some(db::Db::Read(_)) => unreachable!("reopened for writing above"),
            None => {
                *seen = db::Seen::default();
                *database = Some(self.create_database(&mut seen, &save)?);
            }
        }
        drop(seen);
        world.restore_log(log);
        Ok(())
    }

    /// A lazily loaded world about to be saved: a shard it would write under a key it never
    /// read, while the state file holds one by that name, would lose that one. Every call
    /// ensures what it names (`sim/needs.rs`), so this loads nothing; were one missed, the
    /// shard is loaded and written together rather than lost (debug builds stop on it).
    fn load_what_a_save_touches(&self, world: &mut World) {
        if world.loaded_shards().is_none() {
            return;
        }
        loop {
            let keys = world.shard_keys();
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let unseen: Vec<Need> = keys
                .shards()
                .into_iter()
                .filter(|k| !seen.shards.contains_key(*k))
                .map(|k| Need::Name(k.clone()))
                .collect();
            drop(seen);
            let before = world.loaded_shards().map(|s| s.len());
            world.ensure(&unseen);
            if world.loaded_shards().map(|s| s.len()) == before {
                return;
            }
            debug_assert!(false, "a save found a shard no call ensured: {unseen:?}");
        }
    }

    /// Writes `save` into a new database beside the state file, then puts it in place.
    fn create_database(&self, seen: &mut db::Seen, save: &db::Save<'_>) -> Result<db::Db, StoreError> {
        let dir = parent_dir(&self.path);
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".new.{}", std::process::id()));
        let fresh = dir.join(name);
        let fail = |message: String| StoreError::Database { path: self.path.clone(), message };
        let _ = fs::remove_file(&fresh);
        {
            let created = redb::Database::create(&fresh).map_err(|e| fail(db::words(e)))?;
            db::write(&created, seen, save).map_err(fail)?;
        }
        fs::rename(&fresh, &self.path).map_err(io_err(&self.path))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        redb::Database::open(&self.path).map(db::Db::Write).map_err(|e| fail(db::words(e)))
    }

    /// Writes the store's own world.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut world = self.take_world();
        let result = self.write(&mut world);
        self.world = world;
        result
    }

    /// Whether this store was opened with a shared lock ([`SimStore::open_shared`]).
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

impl Drop for SimStore {
    /// Closes the database before the lock is released (the lock field drops after this),
    /// so the next holder of the lock can open it. A world that outlives its store can
    /// load no more shards (its loads fail, and the world is poisoned: never saved).
    fn drop(&mut self) {
        self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The page cache of a reader (redb's default is 1 GiB): a reader reads each shard once,
/// so a cache as large as the file (142 MB at 10,000 servers) would only double what
/// `status` of every server holds.
const READ_CACHE: usize = 16 * 1024 * 1024;

/// Opens the database at `path` for reading, holding `lock`. A database not closed cleanly
/// (its writer was killed) is repaired first, by opening it for writing: a reader gives up
/// its shared lock for the exclusive one while it does, then takes a shared one again.
fn open_reader(
    path: &Path,
    waiting: &dyn Fn(&str),
    access: Access,
    mut lock: fd_lock::RwLock<File>,
) -> Result<(fd_lock::RwLock<File>, redb::ReadOnlyDatabase), StoreError> {
    let corrupt = |e: redb::DatabaseError| StoreError::Database { path: path.to_path_buf(), message: db::words(e) };
    let open = || redb::Builder::new().set_cache_size(READ_CACHE).open_read_only(path);
    match open() {
        Err(redb::DatabaseError::RepairAborted) => {
            if access == Access::Shared {
                drop(lock);
                let exclusive = self::lock(path, waiting, Access::Exclusive)?;
                drop(redb::Database::open(path).map_err(corrupt)?);
                drop(exclusive);
                lock = self::lock(path, waiting, Access::Shared)?;
            } else {
                drop(redb::Database::open(path).map_err(corrupt)?);
            }
            Ok((lock, open().map_err(corrupt)?))
        }
        other => Ok((lock, other.map_err(corrupt)?)),
    }
}

/// A shard's JSON (as the database keeps it).
fn render_shard(shard: &Shard) -> String {
    serde_json::to_string(shard).expect("a shard always serializes")
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

mod db;
#[cfg(test)]
mod tests;
