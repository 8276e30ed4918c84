//! The servers waiting to be healthy, looked at together: every `WaitHealthy` poll of an
//! apply reads its server's instances, volumes and addresses from one batched look (a
//! describe of each kind per [`MAX_FILTER_VALUES`] waiting servers, `Filter::Servers`)
//! shared by every poll within the same second, instead of four describes per server and
//! poll. A hundred servers waiting in a wave so cost three describes a poll, not four
//! hundred, and do not exhaust the describe buckets.
//!
//! A second board ([`Board::instances_only`]) serves the waits for an instance to run or
//! to terminate: one DescribeInstances of the waiting servers' instances a poll, shared,
//! instead of one describe by id per instance (an instance the look does not show, say
//! one without its server's `Name` tag, is described by id as before).
//!
//! A third ([`Board::snapshots_only`]) serves the waits for a snapshot to complete: one
//! DescribeSnapshots of the waiting servers' snapshots a poll, shared, instead of one
//! describe by id per snapshot, which for a fleet's backups kept DescribeSnapshots' bucket
//! empty for the whole apply (a snapshot the look does not show is described by id).

use super::ctx::Ctx;
use super::StepError;
use crate::api::Api;
use crate::cloud::{Filter, MAX_FILTER_VALUES};
use crate::model::*;
use crate::plan::StepId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The servers waiting and the latest look at them.
#[derive(Default)]
pub(super) struct Board {
    /// Each waiting server and how many of its steps wait.
    waiting: Mutex<BTreeMap<ServerName, usize>>,
    latest: tokio::sync::Mutex<Option<Arc<Look>>>,
    /// What a look describes.
    kinds: Kinds,
}

/// What a board's looks describe of the waiting servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kinds {
    /// Instances, volumes and addresses (the health waits).
    #[default]
    Health,
    Instances,
    Snapshots,
}

/// What one batched look saw.
pub(super) struct Look {
    /// When (the cloud's second it began).
    at: u64,
    servers: BTreeSet<ServerName>,
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    pub addresses: Vec<Address>,
    pub snapshots: Vec<Snapshot>,
}

impl Look {
    fn of<'a, T>(
        items: &'a [T],
        server: &'a ServerName,
        tags: impl Fn(&T) -> &Tags + 'a,
    ) -> impl Iterator<Item = &'a T> {
        items.iter().filter(move |i| tags(i).get(NAME_TAG).map(String::as_str) == Some(server.as_str()))
    }

    /// The server's instances.
    pub fn instances<'a>(&'a self, server: &'a ServerName) -> impl Iterator<Item = &'a Instance> {
        Look::of(&self.instances, server, |i| &i.tags)
    }

    /// The server's volumes.
    pub fn volumes(&self, server: &ServerName) -> Vec<Volume> {
        Look::of(&self.volumes, server, |v| &v.tags).cloned().collect()
    }

    /// The server's addresses.
    pub fn addresses<'a>(&'a self, server: &'a ServerName) -> impl Iterator<Item = &'a Address> {
        Look::of(&self.addresses, server, |a| &a.tags)
    }
}

/// A server's place on the board while one of its steps waits (left when dropped).
pub(super) struct Waiting<'a> {
    board: &'a Board,
    server: ServerName,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.board.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = waiting.get_mut(&self.server) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.server);
            }
        }
    }
}

impl Board {
    /// A board whose looks describe the waiting servers' instances only.
    pub fn instances_only() -> Self {
        Board { kinds: Kinds::Instances, ..Board::default() }
    }

    /// A board whose looks describe the waiting servers' snapshots only.
    pub fn snapshots_only() -> Self {
        Board { kinds: Kinds::Snapshots, ..Board::default() }
    }

    /// Puts `server` on the board until the guard is dropped.
    pub fn enter(&self, server: &ServerName) -> Waiting<'_> {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()).entry(server.clone()).or_default() += 1;
        Waiting { board: self, server: server.clone() }
    }
}

impl Ctx {
    /// A look at `server` (on the board) no older than the current second: the latest one
    /// if it is that fresh and covers the server, else a new look at every waiting server
    /// (the other polls of the moment wait for it and share it).
    pub async fn board_look(&self, step: StepId, server: &ServerName) -> Result<Arc<Look>, StepError> {
        self.look_on(&self.board, step, server).await
    }

    /// The instance `id` of `server` (on [`Ctx::instance_board`]) as a look no older than
    /// the current second saw it; described by id when the look does not show it (it may
    /// not carry its server's `Name` tag).
    pub async fn instance_on_board(
        &self,
        step: StepId,
        server: &ServerName,
        id: &InstanceId,
    ) -> Result<Option<Instance>, StepError> {
        let look = self.look_on(&self.instance_board, step, server).await?;
        let seen = look.instances.iter().find(|i| i.id == *id).cloned();
        match seen {
            Some(found) => Ok(Some(found)),
            None => self.instance(step, id).await,
        }
    }

    /// The snapshot `id` of `server` (on [`Ctx::snapshot_board`]) as a look no older than
    /// the current second saw it; described by id when the look does not show it.
    pub async fn snapshot_on_board(
        &self,
        step: StepId,
        server: &ServerName,
        id: &SnapshotId,
    ) -> Result<Option<Snapshot>, StepError> {
        let look = self.look_on(&self.snapshot_board, step, server).await?;
        if let Some(found) = look.snapshots.iter().find(|s| s.id == *id) {
            return Ok(Some(found.clone()));
        }
        let filter = Filter::Id(id.to_string());
        let found =
            self.call(step, Api::DescribeSnapshots, || self.cloud.describe_snapshots(&self.region, &filter)).await?;
        Ok(found.into_iter().find(|s| s.id == *id))
    }

    /// [`Ctx::board_look`] on `board`.
    async fn look_on(&self, board: &Board, step: StepId, server: &ServerName) -> Result<Arc<Look>, StepError> {
        // Waiting for the look another poll is making holds no slot: that poll may need one.
        let mut latest = crate::caller::unslotted(board.latest.lock()).await;
        let now = self.cloud.now().await.0;
        if let Some(look) = latest.as_ref().filter(|l| l.at >= now && l.servers.contains(server)) {
            return Ok(look.clone());
        }
        let mut servers: BTreeSet<ServerName> =
            board.waiting.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        servers.insert(server.clone());
        let names: Vec<ServerName> = servers.iter().cloned().collect();
        let mut look = Look {
            at: now,
            servers,
            instances: Vec::new(),
            volumes: Vec::new(),
            addresses: Vec::new(),
            snapshots: Vec::new(),
        };
        for chunk in names.chunks(MAX_FILTER_VALUES) {
            let filter = Filter::Servers(chunk.to_vec());
            let region = &self.region;
            if board.kinds == Kinds::Snapshots {
                look.snapshots.extend(
                    self.call(step, Api::DescribeSnapshots, || self.cloud.describe_snapshots(region, &filter)).await?,
                );
                continue;
            }
            look.instances.extend(
                self.call(step, Api::DescribeInstances, || self.cloud.describe_instances(region, &filter)).await?,
            );
            if board.kinds == Kinds::Instances {
                continue;
            }
            look.volumes
                .extend(self.call(step, Api::DescribeVolumes, || self.cloud.describe_volumes(region, &filter)).await?);
            look.addresses.extend(
                self.call(step, Api::DescribeAddresses, || self.cloud.describe_addresses(region, &filter)).await?,
            );
        }
        let look = Arc::new(look);
        *latest = Some(look.clone());
        Ok(look)
    }
}
