//! The engine's model types as the state file holds them, refusing unknown fields.
//!
//! The engine's `Image`, `Volume`, `RegionInfo`, `LaunchConfiguration`, `LaunchSpec`,
//! `LaunchSource`, `ScalingActivity` and `TokenBucket` are shared with plans and the AWS
//! adapter and accept fields they do not know. Inside a state file they go through the
//! serde "remote" definitions below: the same fields, the same attributes, so the file
//! reads and writes byte-identically, plus `deny_unknown_fields`, so a field this version
//! does not know is refused like one in the simulator's own structs.
//!
//! Invariant: each definition lists exactly its engine type's fields with the engine's
//! serde attributes (the compiler checks the fields; `file.rs`'s round-trip tests check the
//! attributes).

use cellar_engine::limits::TokenBucket;
use cellar_engine::model::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(remote = "RegionInfo", rename = "RegionInfo", deny_unknown_fields)]
pub(super) struct RegionInfoDef {
    region: Region,
    zones: Vec<Zone>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Image", rename = "Image", deny_unknown_fields)]
pub(super) struct ImageDef {
    id: ImageId,
    name: String,
    architecture: Architecture,
    region: Region,
    created_at: Timestamp,
    #[serde(default)]
    state: ImageState,
    tags: Tags,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Volume", rename = "Volume", deny_unknown_fields)]
pub(super) struct VolumeDef {
    id: VolumeId,
    state: VolumeState,
    zone: Zone,
    size_gb: u32,
    attached_to: Option<InstanceId>,
    device: Option<String>,
    tags: Tags,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "LaunchSpec", rename = "LaunchSpec", deny_unknown_fields)]
pub(super) struct LaunchSpecDef {
    instance_type: InstanceType,
    image: ImageId,
    user_data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "LaunchConfiguration", rename = "LaunchConfiguration", deny_unknown_fields)]
pub(super) struct LaunchConfigurationDef {
    name: String,
    #[serde(with = "LaunchSpecDef")]
    spec: LaunchSpec,
    created_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "LaunchSource", rename = "LaunchSource", deny_unknown_fields)]
pub(super) enum LaunchSourceDef {
    Template { id: LaunchTemplateId, version: Option<u32> },
    Configuration { name: String },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ScalingActivity", rename = "ScalingActivity", deny_unknown_fields)]
pub(super) struct ScalingActivityDef {
    at: Timestamp,
    succeeded: bool,
    description: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    zones: Vec<Zone>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "TokenBucket", rename = "TokenBucket", deny_unknown_fields)]
pub(super) struct TokenBucketDef {
    tokens: f64,
    updated_ms: u64,
}

/// One value through its remote definition, as an element of a list or a map.
macro_rules! strict_wrapper {
    ($wrapper:ident, $ty:ty, $def:literal) => {
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        pub(super) struct $wrapper(#[serde(with = $def)] pub $ty);
    };
}

strict_wrapper!(StrictRegionInfo, RegionInfo, "RegionInfoDef");
strict_wrapper!(StrictImage, Image, "ImageDef");
strict_wrapper!(StrictVolume, Volume, "VolumeDef");
strict_wrapper!(StrictLaunchSpec, LaunchSpec, "LaunchSpecDef");
strict_wrapper!(StrictLaunchConfiguration, LaunchConfiguration, "LaunchConfigurationDef");
strict_wrapper!(StrictScalingActivity, ScalingActivity, "ScalingActivityDef");
strict_wrapper!(StrictTokenBucket, TokenBucket, "TokenBucketDef");

/// `#[serde(with = ...)]` for a `Vec` of engine values, each through its definition.
macro_rules! strict_vec {
    ($module:ident, $ty:ty, $def:ident, $wrapper:ident) => {
        pub(super) mod $module {
            use super::*;

            struct Ref<'a>(&'a $ty);

            impl Serialize for Ref<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    $def::serialize(self.0, s)
                }
            }

            pub fn serialize<S: Serializer>(values: &[$ty], s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(values.iter().map(Ref))
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$ty>, D::Error> {
                Ok(Vec::<$wrapper>::deserialize(d)?.into_iter().map(|w| w.0).collect())
            }
        }
    };
}

strict_vec!(launch_specs, LaunchSpec, LaunchSpecDef, StrictLaunchSpec);
strict_vec!(scaling_activities, ScalingActivity, ScalingActivityDef, StrictScalingActivity);
strict_vec!(region_infos, RegionInfo, RegionInfoDef, StrictRegionInfo);

/// `#[serde(with = "launch_source")]` for a group's launch source.
pub(super) mod launch_source {
    use super::*;

    pub fn serialize<S: Serializer>(value: &LaunchSource, s: S) -> Result<S::Ok, S::Error> {
        LaunchSourceDef::serialize(value, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LaunchSource, D::Error> {
        LaunchSourceDef::deserialize(d)
    }
}
