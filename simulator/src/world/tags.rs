//! CreateTags and DeleteTags, by resource id (`i-`, `vol-`, `eipalloc-`, `lt-`, `snap-`,
//! `ami-`), as EC2 does them.
//!
//! Invariants: tags change only on a resource the API knows in that region (an invisible
//! instance is unknown); an id of no taggable kind is `InvalidParameterValue`; a refused
//! call changes nothing.

use super::{err, tag_suffix, World};
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult};
use cellar_engine::model::*;

impl World {
    fn tags_of_mut(&mut self, region: &Region, resource: &str) -> CloudResult<&mut Tags> {
        let not_found = |kind: K, what: &str| err(kind, format!("The {what} '{resource}' does not exist"));
        if resource.starts_with("i-") {
            let id = InstanceId::new(resource);
            self.instance_in(region, &id)?;
            Ok(&mut self.instances.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("vol-") {
            let id = VolumeId::new(resource);
            self.volume_in(region, &id)?;
            Ok(&mut self.volumes.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("eipalloc-") {
            let id = AllocationId::new(resource);
            self.address_in(region, &id)?;
            Ok(&mut self.addresses.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("lt-") {
            let id = LaunchTemplateId::new(resource);
            self.template_in(region, &id)?;
            Ok(&mut self.templates.get_mut(&id).expect("checked").tags)
        } else if resource.starts_with("snap-") {
            let id = SnapshotId::new(resource);
            match self.snapshots.get_mut(&id).filter(|s| s.region == *region) {
                Some(snapshot) => Ok(&mut snapshot.tags),
                None => Err(err(
                    K::Other("InvalidSnapshot.NotFound".into()),
                    format!("The snapshot '{resource}' does not exist."),
                )),
            }
        } else if resource.starts_with("ami-") {
            let id = ImageId::new(resource);
            match self.images.get_mut(&id).filter(|i| i.region == *region) {
                Some(image) => Ok(&mut image.tags),
                None => Err(not_found(K::InvalidAmiIdNotFound, "image id")),
            }
        } else {
            Err(err(K::InvalidParameterValue, format!("Invalid id: \"{resource}\"")))
        }
    }

    pub fn create_tags(&mut self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        let text = tag_suffix(&tags);
        target.extend(tags);
        self.record(format!("tagged {resource}{text}"));
        Ok(())
    }

    pub fn delete_tags(&mut self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        for key in &keys {
            target.remove(key);
        }
        self.record(format!("removed tags {} from {resource}", keys.join(", ")));
        Ok(())
    }
}
