//! Images (AMIs) and snapshots: registering images (what bundle-ami does), CreateImage,
//! CopyImage, DescribeImages, CreateSnapshot, CopySnapshot, DeleteSnapshot,
//! DescribeSnapshots, restoring a snapshot (CreateVolume's `SnapshotId`), and their
//! pending → available / completed transitions.
//!
//! A snapshot records the data generation its volume had when CreateSnapshot was called
//! (`volumes.rs`; what AWS captures is the data written when the call is made), a copy
//! keeps it, and a volume restored from it starts there. A snapshot takes time by its
//! size: [`snapshot_secs`] ([`SNAPSHOT_BASE_SECS`] plus [`SNAPSHOT_SECS_PER_GIB`] per GiB
//! of the volume), a copy [`copy_secs`] ([`COPY_BASE_SECS`] plus [`COPY_SECS_PER_GIB`] per
//! GiB). AWS publishes no figures (a first snapshot copies every written block, later
//! ones the changed blocks); these are the simulator's, with the size standing for the
//! data. Rules, in AWS's codes: CreateVolume from a snapshot not in the region
//! `InvalidSnapshot.NotFound`, from one not `completed` `IncorrectState`, smaller than it
//! `InvalidParameterValue`; DeleteSnapshot of one an image's block-device mapping uses
//! `InvalidSnapshot.InUse`; CopySnapshot of one not `completed` `IncorrectState`, into an
//! unknown region refused. CopySnapshot takes no client token (AWS's has none).
//!
//! CreateImage does what AWS documents: it reboots the instance first unless `NoReboot`,
//! and snapshots every EBS volume attached to the instance into the image's block-device
//! mappings ([`ImageDevice`]), except the devices mapped to `NoDevice`; the snapshots are
//! tagged as the image is. (Instances have no root volume in this world, so an image of an
//! instance with nothing attached has no snapshot.)
//!
//! Invariants: AMI names follow AWS's rules (3-128 characters of a fixed set) and are
//! unique per region among images that are not `failed`; only an `available` image can be
//! launched or copied; a snapshot completes even if its volume is deleted meanwhile; every
//! snapshot an image's mapping names was made with the image.

use super::render::image_state;
use super::tokens::Answer;
use super::{err, tag_suffix, Transition, World};
use cellar_engine::api::Api;
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult, Filter, ImageOptions};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// pending → available for an image made by CreateImage.
pub const IMAGE_CREATE_SECS: u64 = 300;
/// pending → available for an image made by CopyImage (in the target region).
pub const IMAGE_COPY_SECS: u64 = 600;
/// pending → completed for a snapshot: this, plus [`SNAPSHOT_SECS_PER_GIB`] per GiB.
pub const SNAPSHOT_BASE_SECS: u64 = 60;
/// What each GiB of the volume adds to a snapshot's time (a 40 GiB volume: 100 s).
pub const SNAPSHOT_SECS_PER_GIB: u64 = 1;
/// pending → completed for a snapshot copy (in the target region): this, plus
/// [`COPY_SECS_PER_GIB`] per GiB.
pub const COPY_BASE_SECS: u64 = 120;
/// What each GiB adds to a copy's time (a 40 GiB snapshot: 200 s).
pub const COPY_SECS_PER_GIB: u64 = 2;
/// The volume id AWS gives a copied snapshot ("an arbitrary volume ID that should not be
/// used for any purpose").
pub const COPIED_VOLUME: &str = "vol-ffffffff";

/// How long a snapshot of a `size_gb` volume stays pending.
pub fn snapshot_secs(size_gb: u32) -> u64 {
    SNAPSHOT_BASE_SECS + SNAPSHOT_SECS_PER_GIB * u64::from(size_gb)
}

/// How long a copy of a `size_gb` snapshot stays pending.
pub fn copy_secs(size_gb: u32) -> u64 {
    COPY_BASE_SECS + COPY_SECS_PER_GIB * u64::from(size_gb)
}
/// The root device and root snapshot size of an image registered by hand (`add_image`),
/// as most Linux AMIs have.
pub const DEFAULT_ROOT_DEVICE: &str = "/dev/xvda";
pub const DEFAULT_ROOT_GB: u32 = 8;

/// A snapshot and the region it lives in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSnapshot {
    pub id: SnapshotId,
    pub region: Region,
    pub volume: VolumeId,
    pub size_gb: u32,
    pub state: SnapshotState,
    pub created_at: Timestamp,
    #[serde(default)]
    pub tags: Tags,
    /// The volume's data generation when the snapshot was taken (absent in older files: 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SimSnapshot {
    pub fn to_model(&self) -> Snapshot {
        Snapshot {
            id: self.id.clone(),
            volume: self.volume.clone(),
            size_gb: self.size_gb,
            state: self.state,
            created_at: self.created_at,
            tags: self.tags.clone(),
        }
    }
}

/// One block-device mapping of an image made by CreateImage: a snapshot of the volume that
/// was attached at `device`, or `NoDevice` (`snapshot: None`: the device was left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDevice {
    pub device: String,
    #[serde(default)]
    pub snapshot: Option<SnapshotId>,
}

/// AMI names: 3-128 characters; letters, digits and `( ) [ ] . / - ' @ _` and spaces.
fn check_image_name(name: &str) -> CloudResult<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    if (3..=128).contains(&name.chars().count()) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(err(
            K::Other("InvalidAMIName.Malformed".into()),
            format!(
                "AMI name '{name}' is invalid: AMI names must be between 3 and 128 characters long, and may contain \
                 letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'"
            ),
        ))
    }
}

/// A device name as EC2 takes them in a block-device mapping (`/dev/sdf`, `xvdh`).
fn valid_device_name(name: &str) -> bool {
    let base = name.strip_prefix("/dev/").unwrap_or(name);
    (2..=32).contains(&base.len()) && base.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl World {
    pub fn describe_images(&self, region: &Region) -> Vec<Image> {
        self.images.values().filter(|i| i.region == *region && self.visible(i.id.as_str())).cloned().collect()
    }

    /// Registers an image (what bundle-ami will do); returns its id.
    pub fn add_image(&mut self, name: &str, architecture: Architecture, region: &Region, tags: Tags) -> ImageId {
        let id = ImageId::new(self.next_id("ami"));
        let image = Image {
            id: id.clone(),
            name: name.to_string(),
            architecture,
            region: region.clone(),
            created_at: self.now,
            state: ImageState::Available,
            tags,
            root_device: Some(DEFAULT_ROOT_DEVICE.to_string()),
            root_size_gb: Some(DEFAULT_ROOT_GB),
        };
        self.images.insert(id.clone(), image);
        self.record(format!("registered image {id} ({name}, {architecture}) in {region}"));
        id
    }

    /// AMI names are unique per region among images that are not `failed`.
    fn check_image_name_free(&self, region: &Region, name: &str) -> CloudResult<()> {
        check_image_name(name)?;
        match self.images.values().find(|i| i.region == *region && i.name == name && i.state != ImageState::Failed) {
            Some(taken) => Err(err(
                K::Other("InvalidAMIName.Duplicate".into()),
                format!("AMI name {name} is already in use by AMI {}", taken.id),
            )),
            None => Ok(()),
        }
    }

    fn insert_pending_image(
        &mut self,
        region: &Region,
        name: &str,
        architecture: Architecture,
        (tags, root): (Tags, (Option<String>, Option<u32>)),
        available_after: u64,
    ) -> Image {
        let id = ImageId::new(self.next_id("ami"));
        let image = Image {
            id: id.clone(),
            name: name.to_string(),
            architecture,
            region: region.clone(),
            created_at: self.now,
            state: ImageState::Pending,
            tags,
            root_device: root.0,
            root_size_gb: root.1,
        };
        self.images.insert(id.clone(), image.clone());
        self.hide_new(id.to_string());
        self.schedule(available_after, Transition::ImageAvailable(id));
        image
    }

    /// CreateImage: images a running or stopped instance (see the module doc): a running
    /// one reboots unless `options.no_reboot`; every attached volume whose device is not in
    /// `options.exclude_devices` is snapshotted into the image. The image is `pending` for
    /// [`IMAGE_CREATE_SECS`], then `available`.
    pub fn create_image(
        &mut self,
        region: &Region,
        instance_id: &InstanceId,
        name: &str,
        tags: Tags,
        options: &ImageOptions,
    ) -> CloudResult<Image> {
        super::tags::check_tags(&Tags::new(), &tags)?;
        let instance = self.instance_in(region, instance_id)?;
        Self::check_running_or_stopped(instance)?;
        let (architecture, running) = (instance.architecture, instance.state == InstanceState::Running);
        // The root device of the image it runs, at the size it launched with.
        let source = self.images.get(&instance.image);
        let root = (
            source.and_then(|i| i.root_device.clone()),
            instance.root_volume.as_ref().and_then(|r| r.size_gb).or(source.and_then(|i| i.root_size_gb)),
        );
        if let Some(bad) = options.exclude_devices.iter().find(|d| !valid_device_name(d)) {
            return Err(err(K::InvalidParameterValue, format!("Invalid device name '{bad}' in BlockDeviceMapping.")));
        }
        self.check_image_name_free(region, name)?;
        let image = self.insert_pending_image(region, name, architecture, (tags.clone(), root), IMAGE_CREATE_SECS);
        if running && !options.no_reboot {
            self.record(format!("{instance_id}: rebooting for CreateImage (NoReboot not set)"));
            self.print_to_console(instance_id, "cellar-sim: reboot (CreateImage without NoReboot)");
        }
        let devices = self.snapshot_devices(region, instance_id, &tags, &options.exclude_devices);
        let mapped: Vec<String> = devices
            .iter()
            .map(|d| format!("{}={}", d.device, d.snapshot.as_ref().map_or("NoDevice", |s| s.as_str())))
            .collect();
        self.record(format!(
            "creating image {} ({name}, {architecture}) from {instance_id} in {region}: pending, devices [{}]{}",
            image.id,
            mapped.join(", "),
            tag_suffix(&image.tags)
        ));
        self.image_devices.insert(image.id.clone(), devices);
        Ok(image)
    }

    /// The block-device mappings of an image made by CreateImage (empty for others).
    pub fn image_block_devices(&self, image: &ImageId) -> &[ImageDevice] {
        self.image_devices.get(image).map(Vec::as_slice).unwrap_or_default()
    }

    /// CreateImage's snapshots: one of each volume attached to the instance (tagged
    /// `tags`), and a `NoDevice` mapping for each excluded device.
    fn snapshot_devices(
        &mut self,
        region: &Region,
        instance: &InstanceId,
        tags: &Tags,
        exclude: &[String],
    ) -> Vec<ImageDevice> {
        let attached: Vec<(String, VolumeId)> = self
            .volumes
            .values()
            .filter(|v| v.attached_to.as_ref() == Some(instance))
            .filter_map(|v| Some((v.device.clone()?, v.id.clone())))
            .filter(|(device, _)| !exclude.contains(device))
            .collect();
        let mut devices = Vec::new();
        for (device, volume) in attached {
            // The volume is attached, so it is in use and in this region: this cannot fail.
            let snapshot = self.create_snapshot(region, &volume, tags.clone()).ok().map(|s| s.id);
            devices.push(ImageDevice { device, snapshot });
        }
        let mut excluded = exclude.to_vec();
        excluded.sort();
        excluded.dedup();
        devices.extend(excluded.into_iter().map(|device| ImageDevice { device, snapshot: None }));
        devices
    }

    /// CopyImage: copies an available image to `target_region` under `name` (tags are not
    /// copied, as with AWS's default `CopyImageTags=false`). The copy is `pending` for
    /// [`IMAGE_COPY_SECS`], then `available`.
    /// CopyImage into `target_region` under `name`; a client token used before in the
    /// target region returns the first copy (`tokens.rs`).
    pub fn copy_image(
        &mut self,
        source_region: &Region,
        image_id: &ImageId,
        target_region: &Region,
        (name, client_token): (&str, Option<&str>),
    ) -> CloudResult<Image> {
        self.check_region(target_region)?;
        Self::check_client_token(client_token, 64)?;
        let params = format!("{source_region} {image_id} {name}");
        if let Some(Answer::Image(first)) = self.token_answer(Api::CopyImage, target_region, client_token, &params)? {
            self.record(format!("CopyImage: client token already used, {} returned again", first.id));
            return Ok(first);
        }
        let source = self.image_in(source_region, image_id)?;
        if source.state != ImageState::Available {
            return Err(err(
                K::IncorrectState,
                format!(
                    "Image {image_id} is not in a valid state for this operation (it is {}).",
                    image_state(source.state)
                ),
            ));
        }
        let architecture = source.architecture;
        let root = (source.root_device.clone(), source.root_size_gb);
        self.check_image_name_free(target_region, name)?;
        let image = self.insert_pending_image(target_region, name, architecture, (Tags::new(), root), IMAGE_COPY_SECS);
        self.record(format!(
            "copying image {image_id} ({source_region}) to {} ({name}) in {target_region}: pending",
            image.id
        ));
        let answer = (params, Answer::Image(image.clone()), None);
        self.keep_token_answer(Api::CopyImage, target_region, client_token, answer);
        Ok(image)
    }

    /// CreateSnapshot: the snapshot records the volume's generation now, is `pending` for
    /// [`snapshot_secs`] of its size, then `completed` (even if the volume is deleted
    /// meanwhile, as AWS allows).
    pub fn create_snapshot(&mut self, region: &Region, volume_id: &VolumeId, tags: Tags) -> CloudResult<Snapshot> {
        super::tags::check_tags(&Tags::new(), &tags)?;
        let volume = self.volume_in(region, volume_id)?;
        if !matches!(volume.state, VolumeState::Available | VolumeState::InUse) {
            return Err(err(
                K::IncorrectState,
                format!("The volume '{volume_id}' is not in a valid state for this operation ({}).", volume.state),
            ));
        }
        let size_gb = volume.size_gb;
        let generation = self.volume_generation(volume_id).unwrap_or(0);
        let id = SnapshotId::new(self.next_id("snap"));
        let snapshot = SimSnapshot {
            id: id.clone(),
            region: region.clone(),
            volume: volume_id.clone(),
            size_gb,
            state: SnapshotState::Pending,
            created_at: self.now,
            tags,
            generation,
        };
        self.record(format!(
            "creating snapshot {id} of volume {volume_id} ({size_gb} GiB, generation {generation}): pending{}",
            tag_suffix(&snapshot.tags)
        ));
        Ok(self.insert_pending_snapshot(snapshot, snapshot_secs(size_gb)))
    }

    fn insert_pending_snapshot(&mut self, snapshot: SimSnapshot, completes_after: u64) -> Snapshot {
        let id = snapshot.id.clone();
        let model = snapshot.to_model();
        self.index.snapshots.add(&snapshot.tags, &id);
        self.snapshots.insert(id.clone(), snapshot);
        self.hide_new(id.to_string());
        self.schedule(completes_after, Transition::SnapshotCompleted(id));
        model
    }

    /// The data generation a snapshot captured; `None` for a snapshot the world does not hold.
    pub fn snapshot_generation(&self, id: &SnapshotId) -> Option<u64> {
        self.snapshots.get(id).map(|s| s.generation)
    }

    /// A snapshot the API knows (in the region, and visible).
    fn snapshot_in(&self, region: &Region, id: &SnapshotId) -> CloudResult<&SimSnapshot> {
        self.snapshots
            .get(id)
            .filter(|s| s.region == *region && self.visible(id.as_str()))
            .ok_or_else(|| err(K::InvalidSnapshotNotFound, format!("The snapshot '{id}' does not exist.")))
    }

    /// Refuses a snapshot that is not `completed`, as CreateVolume and CopySnapshot do.
    fn check_completed(snapshot: &SimSnapshot) -> CloudResult<()> {
        match snapshot.state {
            SnapshotState::Completed => Ok(()),
            SnapshotState::Pending => {
                Err(err(K::IncorrectState, format!("Snapshot {} is in invalid state - pending", snapshot.id)))
            }
        }
    }

    /// CreateVolume's checks of its `SnapshotId` (the volume may be in any zone of the
    /// region): the snapshot exists in the region and is completed, and `size_gb` holds
    /// it. The generation the volume starts at.
    pub(super) fn restorable(&self, region: &Region, id: &SnapshotId, size_gb: u32) -> CloudResult<u64> {
        let snapshot = self.snapshot_in(region, id)?;
        Self::check_completed(snapshot)?;
        if size_gb < snapshot.size_gb {
            return Err(err(
                K::InvalidParameterValue,
                format!(
                    "Volume of size {size_gb}GB is smaller than snapshot '{id}', expect size >= {}GB",
                    snapshot.size_gb
                ),
            ));
        }
        Ok(snapshot.generation)
    }

    /// DeleteSnapshot: refused while an image's block-device mapping uses the snapshot
    /// (deregister the image first, as on AWS). A pending snapshot may be deleted.
    pub fn delete_snapshot(&mut self, region: &Region, id: &SnapshotId) -> CloudResult<()> {
        self.snapshot_in(region, id)?;
        let user = self
            .image_devices
            .iter()
            .find(|(_, devices)| devices.iter().any(|d| d.snapshot.as_ref() == Some(id)))
            .map(|(image, _)| image.clone());
        if let Some(image) = user {
            return Err(err(
                K::Other("InvalidSnapshot.InUse".into()),
                format!("The snapshot {id} is currently in use by {image}"),
            ));
        }
        if let Some(snapshot) = self.snapshots.remove(id) {
            self.index.snapshots.remove(&snapshot.tags, id);
        }
        self.scheduler.cancel(|t| matches!(t, Transition::SnapshotCompleted(s) if s == id));
        self.record(format!("deleted snapshot {id}"));
        Ok(())
    }

    /// CopySnapshot: a completed snapshot copied into `target_region` (which may be its
    /// own), tagged `tags`; the copy keeps its size and generation, has AWS's arbitrary
    /// volume id ([`COPIED_VOLUME`]), is `pending` for [`copy_secs`] of its size, then
    /// `completed`.
    pub fn copy_snapshot(
        &mut self,
        source_region: &Region,
        id: &SnapshotId,
        target_region: &Region,
        tags: Tags,
    ) -> CloudResult<Snapshot> {
        self.check_region(target_region)?;
        super::tags::check_tags(&Tags::new(), &tags)?;
        let source = self.snapshot_in(source_region, id)?;
        Self::check_completed(source)?;
        let (size_gb, generation) = (source.size_gb, source.generation);
        let copy_id = SnapshotId::new(self.next_id("snap"));
        let copy = SimSnapshot {
            id: copy_id.clone(),
            region: target_region.clone(),
            volume: VolumeId::new(COPIED_VOLUME),
            size_gb,
            state: SnapshotState::Pending,
            created_at: self.now,
            tags,
            generation,
        };
        self.record(format!(
            "copying snapshot {id} ({source_region}) to {copy_id} in {target_region} ({size_gb} GiB, generation \
             {generation}): pending{}",
            tag_suffix(&copy.tags)
        ));
        Ok(self.insert_pending_snapshot(copy, copy_secs(size_gb)))
    }

    pub fn describe_snapshots(&self, region: &Region, filter: &Filter) -> Vec<Snapshot> {
        super::index::select(&self.snapshots, &self.index.snapshots, filter)
            .filter(|s| s.region == *region && filter.matches(s.id.as_str(), &s.tags))
            .filter(|s| self.visible(s.id.as_str()))
            .map(SimSnapshot::to_model)
            .collect()
    }

    /// [`Transition::ImageAvailable`]: pending → available.
    pub(super) fn image_available(&mut self, id: &ImageId) {
        if let Some(image) = self.images.get_mut(id) {
            if image.state == ImageState::Pending {
                image.state = ImageState::Available;
                let name = image.name.clone();
                self.record(format!("image {id} ({name}): pending -> available"));
            }
        }
    }

    /// [`Transition::SnapshotCompleted`]: pending → completed.
    pub(super) fn snapshot_completed(&mut self, id: &SnapshotId) {
        if let Some(snapshot) = self.snapshots.get_mut(id) {
            if snapshot.state == SnapshotState::Pending {
                snapshot.state = SnapshotState::Completed;
                self.record(format!("snapshot {id}: pending -> completed"));
            }
        }
    }
}
