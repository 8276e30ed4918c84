//! CreateTags and DeleteTags, by resource id (`i-`, `vol-`, `eipalloc-`, `lt-`, `snap-`,
//! `ami-`), as EC2 does them.
//!
//! Invariants: tags change only on a resource the API knows in that region (an invisible
//! instance is unknown); an id of no taggable kind is `InvalidParameterValue`; a refused
//! call changes nothing. Every tag set, at creation (TagSpecifications) or by CreateTags,
//! obeys AWS's tag restrictions ([`check_tags`]): at most 50 tags per resource (`aws:`
//! tags do not count; more is `TagLimitExceeded`), keys of 1 to 128 characters not
//! starting with `aws:`, values of at most 256 characters (else `InvalidParameterValue`).

use super::{err, tag_suffix, World};
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult};
use cellar_engine::model::*;

/// AWS's limit of tags per resource (`aws:` tags do not count).
pub const MAX_TAGS: usize = 50;

/// Refuses `new` tags on a resource that has `existing` ones where AWS would.
pub(super) fn check_tags(existing: &Tags, new: &Tags) -> CloudResult<()> {
    for (key, value) in new {
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(err(
                K::InvalidParameterValue,
                format!("Tag keys starting with 'aws:' are reserved for internal use: {key}"),
            ));
        }
        if key.is_empty() || key.chars().count() > 128 {
            return Err(err(K::InvalidParameterValue, format!("Tag key must be 1 to 128 characters long: {key:?}")));
        }
        if value.chars().count() > 256 {
            return Err(err(K::InvalidParameterValue, format!("Tag value for {key} is longer than 256 characters")));
        }
    }
    let counted = existing.keys().chain(new.keys()).filter(|k| !k.to_ascii_lowercase().starts_with("aws:"));
    let distinct: std::collections::BTreeSet<&String> = counted.collect();
    if distinct.len() > MAX_TAGS {
        return Err(err(
            K::Other("TagLimitExceeded".into()),
            format!("The maximum number of Tags for a resource has been reached ({} > {MAX_TAGS}).", distinct.len()),
        ));
    }
    Ok(())
}

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
            let visible = self.visible(resource);
            match self.snapshots.get_mut(&id).filter(|s| s.region == *region && visible) {
                Some(snapshot) => Ok(&mut snapshot.tags),
                None => Err(err(K::InvalidSnapshotNotFound, format!("The snapshot '{resource}' does not exist."))),
            }
        } else if resource.starts_with("ami-") {
            let id = ImageId::new(resource);
            let visible = self.visible(resource);
            match self.images.get_mut(&id).filter(|i| i.region == *region && visible) {
                Some(image) => Ok(&mut image.tags),
                None => Err(not_found(K::InvalidAmiIdNotFound, "image id")),
            }
        } else {
            Err(err(K::InvalidParameterValue, format!("Invalid id: \"{resource}\"")))
        }
    }

    /// Moves `resource` in the Name index if its tags (formerly `before`) changed its name.
    fn reindex(&mut self, resource: &str, before: &Tags) {
        let index = &mut self.index;
        if let Some(i) = self.instances.get(&InstanceId::new(resource)) {
            index.instances.retag(before, &i.tags, &i.id);
        } else if let Some(v) = self.volumes.get(&VolumeId::new(resource)) {
            index.volumes.retag(before, &v.tags, &v.id);
        } else if let Some(a) = self.addresses.get(&AllocationId::new(resource)) {
            index.addresses.retag(before, &a.tags, &a.allocation_id);
        } else if let Some(t) = self.templates.get(&LaunchTemplateId::new(resource)) {
            index.templates.retag(before, &t.tags, &t.id);
        } else if let Some(s) = self.snapshots.get(&SnapshotId::new(resource)) {
            index.snapshots.retag(before, &s.tags, &s.id);
        }
    }

    pub fn create_tags(&mut self, region: &Region, resource: &str, tags: Tags) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        check_tags(target, &tags)?;
        let text = tag_suffix(&tags);
        let before = target.clone();
        target.extend(tags);
        self.reindex(resource, &before);
        self.record(format!("tagged {resource}{text}"));
        Ok(())
    }

    pub fn delete_tags(&mut self, region: &Region, resource: &str, keys: Vec<String>) -> CloudResult<()> {
        let target = self.tags_of_mut(region, resource)?;
        let before = target.clone();
        for key in &keys {
            target.remove(key);
        }
        self.reindex(resource, &before);
        self.record(format!("removed tags {} from {resource}", keys.join(", ")));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cellar_engine::cloud::CreateVolumeRequest;

    fn many(n: usize, prefix: &str) -> Tags {
        (0..n).map(|i| (format!("{prefix}{i:02}"), "v".to_string())).collect()
    }

    /// Creates a volume with `at_creation` tags, then adds `later` with CreateTags;
    /// renders each call's outcome as `ok` or `CODE`.
    fn check(at_creation: Tags, later: Tags, expected: (&str, &str)) {
        let mut w = crate::default_world();
        let region = Region::new("us-east-1");
        let request = CreateVolumeRequest {
            client_token: None,
            zone: Zone::new("us-east-1a"),
            size_gb: 1,
            tags: at_creation,
            ebs: EbsSettings::default(),
            snapshot: None,
        };
        let created = w.create_volume(&region, request);
        let first = match &created {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code.clone(),
        };
        let second = match &created {
            Ok(v) => match w.create_tags(&region, v.id.as_str(), later) {
                Ok(()) => "ok".to_string(),
                Err(e) => e.code,
            },
            Err(_) => "-".to_string(),
        };
        assert_eq!((first.as_str(), second.as_str()), expected);
    }

    #[test]
    fn aws_tag_restrictions() {
        check(many(50, "k"), Tags::new(), ("ok", "ok"));
        check(many(51, "k"), Tags::new(), ("TagLimitExceeded", "-"));
        check(many(50, "k"), many(1, "x"), ("ok", "TagLimitExceeded"));
        // Overwriting an existing key adds nothing; aws: tags do not count (but cannot be set).
        check(many(50, "k"), many(1, "k"), ("ok", "ok"));
        check(
            Tags::from([("aws:cloudformation:stack".into(), "x".into())]),
            Tags::new(),
            ("InvalidParameterValue", "-"),
        );
        check(Tags::from([("k".repeat(129), "v".into())]), Tags::new(), ("InvalidParameterValue", "-"));
        check(Tags::from([("k".into(), "v".repeat(257))]), Tags::new(), ("InvalidParameterValue", "-"));
        check(Tags::from([(String::new(), "v".into())]), Tags::new(), ("InvalidParameterValue", "-"));
    }
}
