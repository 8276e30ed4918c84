//! Server locks (`cellar_engine::lock`): on AWS a launch template named
//! `cellar-lock.<server>` with no launch data cellar reads, created and deleted by name
//! (CreateLaunchTemplate, DescribeLaunchTemplates, DeleteLaunchTemplate). Here each is kept
//! by its name and tags only, in the launch templates' namespace: a name is taken once per
//! region, by a template or a lock, and a second create gets AWS's
//! `InvalidLaunchTemplateName.AlreadyExistsException`.

use super::{err, World};
use cellar_engine::cloud::{CloudError, CloudErrorKind as K, CloudResult};
use cellar_engine::lock::{object_name, LockHolder};
use cellar_engine::model::*;

impl World {
    /// Whether a lock object of this name exists in `region`.
    pub(super) fn lock_named(&self, region: &Region, name: &str) -> bool {
        self.locks.get(region).is_some_and(|l| l.contains_key(name))
    }

    pub fn create_server_lock(&mut self, region: &Region, server: &ServerName, holder: &LockHolder) -> CloudResult<()> {
        self.check_region(region)?;
        let name = object_name(server);
        let tags = holder.to_tags(server);
        super::tags::check_tags(&Tags::new(), &tags)?;
        let taken = self.templates.values().any(|t| t.region == *region && t.name == name);
        if taken || self.lock_named(region, &name) {
            return Err(CloudError::from_code(
                "InvalidLaunchTemplateName.AlreadyExistsException",
                format!("Launch template name already in use: {name}"),
            ));
        }
        // The holder (pid, host, wall-clock time) stays out of the log, which replays.
        self.record(format!("created lock {name} in {region}"));
        self.locks.entry(region.clone()).or_default().insert(name, tags);
        Ok(())
    }

    pub fn describe_server_lock(&self, region: &Region, server: &ServerName) -> Option<LockHolder> {
        self.locks.get(region).and_then(|l| l.get(&object_name(server))).map(LockHolder::from_tags)
    }

    pub fn delete_server_lock(&mut self, region: &Region, server: &ServerName) -> CloudResult<()> {
        let name = object_name(server);
        let removed = self.locks.get_mut(region).and_then(|l| l.remove(&name));
        if removed.is_none() {
            return Err(err(
                K::InvalidLaunchTemplateNotFound,
                format!("At least one of the launch templates specified in the request does not exist: {name}"),
            ));
        }
        self.locks.retain(|_, l| !l.is_empty());
        self.record(format!("deleted lock {name} in {region}"));
        Ok(())
    }

    /// Every lock, by region and object name, with its tags (`sim show`, consistency).
    pub fn locks(&self) -> impl Iterator<Item = (&Region, &String, &Tags)> {
        self.locks.iter().flat_map(|(r, l)| l.iter().map(move |(name, tags)| (r, name, tags)))
    }

    /// The part of [`World::check_consistency`] about locks: in known regions, named as
    /// cellar names them, with tags AWS would take.
    pub(super) fn check_locks(&self) -> Result<(), String> {
        for (region, name, tags) in self.locks() {
            if !self.regions.iter().any(|r| r.region == *region) {
                return Err(format!("lock {name} is in region {region}, which does not exist"));
            }
            let server = tags.get(cellar_engine::lock::LOCK_TAG).and_then(|s| ServerName::parse(s).ok());
            if server.map(|s| object_name(&s)).as_deref() != Some(name.as_str()) {
                return Err(format!(
                    "lock {name} does not carry the tag {}=<its server>",
                    cellar_engine::lock::LOCK_TAG
                ));
            }
            super::tags::check_tags(&Tags::new(), tags).map_err(|e| format!("lock {name}: {e}"))?;
            if self.templates.values().any(|t| t.region == *region && t.name == *name) {
                return Err(format!("lock {name} has the name of a launch template of {region}"));
            }
        }
        Ok(())
    }
}
