//! The state file's form: a redb database (one file, crash-safe transactions) holding the
//! world a shard at a time, so a command about one server reads that server's shard and
//! the core, and a save writes what changed.
//!
//! Tables (keys and values are text: RON for the core, JSON for the shards, which parses
//! several times faster and is read 10,000 at a time by `status` of a large fleet; any
//! `redb` tool and `cellar sim show` alike show what is there):
//! - `meta`: `format` ([`FORMAT`]), `core` (the world without its shards and its log, in
//!   the RON form of a whole world), `totals` (what AWS counts account-wide, over every
//!   shard: see `world/lazy.rs`), `unsettled` (the auto scaling groups that may act at the
//!   next move of the clock), `log_next` (the sequence number of the next log entry);
//! - `shards`: shard key → the shard's JSON;
//! - `directory`: what a call names (`name/web-1`, `id/i-0001`, `group/…`, `template/…`,
//!   `token/…`) → the key of the shard that holds it;
//! - `log`: sequence number → one log entry's RON; the last [`LOG_KEEP`] are kept.
//!
//! Invariants: one write transaction per save, so a `kill -9` leaves the state as the last
//! committed save left it; a reader sees a committed state only. The directory maps every
//! key of every stored shard to that shard and nothing else.

use crate::world::{directory_keys, LogEntry, Shard, ShardKey, ShardSource, Totals, LOG_KEEP};
use cellar_engine::model::AutoScalingGroupName;
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub(super) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
pub(super) const SHARDS: TableDefinition<&str, &str> = TableDefinition::new("shards");
pub(super) const DIRECTORY: TableDefinition<&str, &str> = TableDefinition::new("directory");
pub(super) const LOG: TableDefinition<u64, &str> = TableDefinition::new("log");

/// What `meta.format` says of a state file this version reads and writes.
pub(super) const FORMAT: &str = "cellar simulator state, sharded, version 1";

/// The first bytes of a redb file (anything else at the path is read as a RON world).
const MAGIC: &[u8] = b"redb";

/// Whether the file at `path` starts as a redb database does.
pub(super) fn is_database(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path)?;
    let n = file.read(&mut head)?;
    Ok(n == MAGIC.len() && head == MAGIC)
}

/// An open state database, for writing (exclusive lock) or reading (shared lock).
pub(super) enum Db {
    Write(Database),
    Read(ReadOnlyDatabase),
}

impl Db {
    pub(super) fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::Write(db) => db.begin_read(),
            Db::Read(db) => db.begin_read(),
        }
    }
}

/// A failure of the database, in words (redb's error types differ per operation).
pub(super) fn words(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What a store knows of each shard it read or wrote: a hash of its text as stored (to
/// write only what changed; a shard that changes has its old directory keys read back).
#[derive(Default)]
pub(super) struct Seen {
    pub(super) shards: BTreeMap<ShardKey, u64>,
    /// A hash of the last save's core, totals, unsettled groups and log position.
    last_core: Option<u64>,
}

/// A hash of a shard's text (the same in every process of one build; only compared
/// within one).
fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The core of a stored world: its RON, the totals and the groups that may act.
pub(super) struct Core {
    pub(super) text: String,
    pub(super) totals: Totals,
    pub(super) unsettled: Option<BTreeSet<AutoScalingGroupName>>,
}

pub(super) fn read_core(db: &Db) -> Result<Core, String> {
    let tx = db.begin_read().map_err(words)?;
    let meta = tx.open_table(META).map_err(words)?;
    let get = |key: &str| -> Result<Option<String>, String> {
        Ok(meta.get(key).map_err(words)?.map(|v| v.value().to_string()))
    };
    match get("format")? {
        Some(f) if f == FORMAT => {}
        Some(f) => return Err(format!("it was written as `{f}`, and this cellar reads `{FORMAT}`")),
        None => return Err("it has no format marker".into()),
    }
    let text = get("core")?.ok_or("it has no core")?;
    let totals = match get("totals")? {
        Some(t) => ron::de::from_str(&t).map_err(|e| format!("its totals do not parse: {e}"))?,
        None => Totals::default(),
    };
    let unsettled = match get("unsettled")? {
        Some(t) => Some(ron::de::from_str(&t).map_err(|e| format!("its unsettled groups do not parse: {e}"))?),
        None => None,
    };
    Ok(Core { text, totals, unsettled })
}

/// Every stored shard's key.
pub(super) fn shard_keys(db: &Db) -> Result<Vec<ShardKey>, String> {
    let tx = db.begin_read().map_err(words)?;
    let shards = tx.open_table(SHARDS).map_err(words)?;
    let mut keys = Vec::new();
    for entry in shards.iter().map_err(words)? {
        let (key, _) = entry.map_err(words)?;
        keys.push(key.value().to_string());
    }
    Ok(keys)
}

/// The last [`LOG_KEEP`] log entries.
pub(super) fn read_log(db: &Db) -> Result<VecDeque<LogEntry>, String> {
    let tx = db.begin_read().map_err(words)?;
    let log = tx.open_table(LOG).map_err(words)?;
    let mut entries = VecDeque::new();
    for entry in log.iter().map_err(words)? {
        let (seq, text) = entry.map_err(words)?;
        let parsed: LogEntry =
            ron::de::from_str(text.value()).map_err(|e| format!("log entry {} does not parse: {e}", seq.value()))?;
        entries.push_back(parsed);
    }
    entries.drain(..entries.len().saturating_sub(LOG_KEEP));
    Ok(entries)
}

/// The store's database, shared with its world's [`DbSource`] (`None` until there is one).
pub(super) type Shared = Arc<Mutex<Option<Db>>>;

/// Where a lazily loaded world's shards come from: the store's database. Records what it
/// read in the store's [`Seen`].
pub(super) struct DbSource {
    pub(super) db: Shared,
    pub(super) seen: Arc<Mutex<Seen>>,
    /// The state file, for messages.
    pub(super) path: std::path::PathBuf,
}

impl DbSource {
    /// Runs `read` on the store's database.
    fn with_db<T>(&self, read: impl FnOnce(&Db) -> Result<T, String>) -> Result<T, String> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let result = match db.as_ref() {
            Some(db) => read(db),
            None => Err("the database is not open".to_string()),
        };
        result.map_err(|e| self.fail(e))
    }

    fn fail(&self, what: String) -> String {
        format!(
            "simulator state file {} cannot be read: {what}; run `cellar sim init` to reset it to the default world",
            self.path.display()
        )
    }
}

impl ShardSource for DbSource {
    fn locate(&self, key: &str) -> Result<Option<ShardKey>, String> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(words)?;
            let directory = tx.open_table(DIRECTORY).map_err(words)?;
            Ok(directory.get(key).map_err(words)?.map(|v| v.value().to_string()))
        })
    }

    fn load(&self, shard: &str) -> Result<Shard, String> {
        let mut loaded = self.load_many(&[shard.to_string()])?;
        loaded.pop().ok_or_else(|| format!("shard {shard} is missing"))
    }

    fn locate_many(&self, keys: &[String]) -> Result<Vec<Option<ShardKey>>, String> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(words)?;
            let directory = tx.open_table(DIRECTORY).map_err(words)?;
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                found.push(directory.get(key.as_str()).map_err(words)?.map(|v| v.value().to_string()));
            }
            Ok(found)
        })
    }

    fn load_many(&self, keys: &[ShardKey]) -> Result<Vec<Shard>, String> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(words)?;
            let shards = tx.open_table(SHARDS).map_err(words)?;
            let mut loaded = Vec::with_capacity(keys.len());
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for shard in keys {
                let text =
                    shards.get(shard.as_str()).map_err(words)?.ok_or_else(|| format!("shard {shard} is missing"))?;
                let text = text.value();
                let parsed: Shard =
                    serde_json::from_str(text).map_err(|e| format!("shard {shard} is not valid ({e})"))?;
                seen.shards.insert(shard.clone(), hash(text));
                loaded.push(parsed);
            }
            Ok(loaded)
        })
    }

    fn shards(&self) -> Result<Vec<ShardKey>, String> {
        self.with_db(shard_keys)
    }

    fn name(&self) -> String {
        format!("simulator state file {}", self.path.display())
    }
}

/// One save: the core, the shards the world holds now (by key, as RON), the shards it had
/// loaded that are gone, the totals, and the log entries recorded since the last save.
pub(super) struct Save<'a> {
    pub(super) core: &'a str,
    pub(super) shards: &'a BTreeMap<ShardKey, String>,
    pub(super) totals: &'a Totals,
    pub(super) unsettled: &'a BTreeSet<AutoScalingGroupName>,
    /// The world's log and how many entries it ever recorded (see `World::log_seq`): the
    /// entries the database does not have yet are appended.
    pub(super) log: &'a VecDeque<LogEntry>,
    pub(super) log_seq: u64,
    /// Every stored shard was read (a whole world): shards not among `shards` go.
    pub(super) whole: bool,
}

/// Writes a save in one transaction; updates `seen` to what is stored now. A save that
/// would change nothing (an apply saves before each journal record, often just after the
/// call that changed the world was saved) commits nothing.
pub(super) fn write(db: &Database, seen: &mut Seen, save: &Save<'_>) -> Result<(), String> {
    let totals = ron::ser::to_string(save.totals).map_err(words)?;
    let unsettled = ron::ser::to_string(save.unsettled).map_err(words)?;
    let core_hash = hash(&format!("{}\n{totals}\n{unsettled}\n{}", save.core, save.log_seq));
    let unchanged = !save.whole
        && seen.last_core == Some(core_hash)
        && seen.shards.len() == save.shards.len()
        && save.shards.iter().all(|(k, text)| seen.shards.get(k) == Some(&hash(text)));
    if unchanged {
        return Ok(());
    }
    let mut tx = db.begin_write().map_err(words)?;
    tx.set_durability(redb::Durability::Immediate).map_err(words)?;
    // No quick repair: it saves the allocator state with every commit, two more syncs per
    // save (an apply saves some twenty times). A file left by a `kill -9` is repaired by
    // the next process that opens it instead (115 ms for a 10,000-server world), readers
    // included (`store.rs`, `open_reader`).
    tx.set_quick_repair(false);
    {
        let mut meta = tx.open_table(META).map_err(words)?;
        let mut shards = tx.open_table(SHARDS).map_err(words)?;
        let mut directory = tx.open_table(DIRECTORY).map_err(words)?;
        let mut log = tx.open_table(LOG).map_err(words)?;
        let stored: BTreeSet<ShardKey> = if save.whole {
            let mut keys = BTreeSet::new();
            for entry in shards.iter().map_err(words)? {
                keys.insert(entry.map_err(words)?.0.value().to_string());
            }
            keys
        } else {
            seen.shards.keys().cloned().collect()
        };
        // Shards read or written before and not held any more: their resources moved to
        // other shards, or are gone.
        for gone in stored.iter().filter(|k| !save.shards.contains_key(*k)) {
            seen.shards.remove(gone);
            let keys = stored_keys(&shards, gone)?;
            for key in keys {
                if directory.get(key.as_str()).map_err(words)?.is_some_and(|v| v.value() == gone) {
                    directory.remove(key.as_str()).map_err(words)?;
                }
            }
            shards.remove(gone.as_str()).map_err(words)?;
        }
        for (key, text) in save.shards {
            let new_hash = hash(text);
            if seen.shards.get(key) == Some(&new_hash) {
                continue;
            }
            let parsed: Shard =
                serde_json::from_str(text).map_err(|e| format!("shard {key} does not read back: {e}"))?;
            let keys = directory_keys(&parsed);
            seen.shards.remove(key);
            let before = stored_keys(&shards, key)?;
            for old in before.difference(&keys) {
                if directory.get(old.as_str()).map_err(words)?.is_some_and(|v| v.value() == key) {
                    directory.remove(old.as_str()).map_err(words)?;
                }
            }
            for k in &keys {
                directory.insert(k.as_str(), key.as_str()).map_err(words)?;
            }
            shards.insert(key.as_str(), text.as_str()).map_err(words)?;
            seen.shards.insert(key.clone(), new_hash);
        }
        meta.insert("format", FORMAT).map_err(words)?;
        meta.insert("core", save.core).map_err(words)?;
        meta.insert("totals", totals.as_str()).map_err(words)?;
        meta.insert("unsettled", unsettled.as_str()).map_err(words)?;
        let stored_next = match meta.get("log_next").map_err(words)? {
            Some(n) => n.value().parse::<u64>().map_err(words)?,
            None => 0,
        };
        let first = save.log_seq - save.log.len() as u64;
        for (seq, entry) in (first..).zip(save.log) {
            if seq >= stored_next {
                let text = ron::ser::to_string(entry).map_err(words)?;
                log.insert(seq, text.as_str()).map_err(words)?;
            }
        }
        let next = stored_next.max(save.log_seq);
        meta.insert("log_next", next.to_string().as_str()).map_err(words)?;
        let keep_from = next.saturating_sub(LOG_KEEP as u64);
        let old: Vec<u64> = {
            let mut old = Vec::new();
            for entry in log.range(..keep_from).map_err(words)? {
                old.push(entry.map_err(words)?.0.value());
            }
            old
        };
        for seq in old {
            log.remove(seq).map_err(words)?;
        }
    }
    tx.commit().map_err(words)?;
    seen.last_core = Some(core_hash);
    Ok(())
}

/// The directory keys of a stored shard (none if it is not stored).
fn stored_keys(shards: &redb::Table<'_, &str, &str>, key: &str) -> Result<BTreeSet<String>, String> {
    match shards.get(key).map_err(words)? {
        None => Ok(BTreeSet::new()),
        Some(text) => {
            let parsed: Shard =
                serde_json::from_str(text.value()).map_err(|e| format!("shard {key} is not valid: {e}"))?;
            Ok(directory_keys(&parsed))
        }
    }
}
