//! EC2 instances: RunInstances (with client tokens), TerminateInstances, Amazon's own
//! terminations, DescribeInstances, and the instance state machine on the virtual clock:
//! pending → running → shutting-down → terminated → gone from describe.
//!
//! Invariants: an instance id is never reused; a client token names at most one
//! instance, and outlives it by a day (`tokens.rs`); only live (pending or running)
//! instances count for capacity and for their group; a terminated instance holds no
//! volume and no address; an instance invisible under [`Faults::invisible_secs`] is
//! unknown to every call naming it.
//!
//! [`Faults::invisible_secs`]: crate::Faults::invisible_secs

use super::render::image_state;
use super::tokens::{Answer, INSTANCE_TOKEN_SECS};
use super::{err, tag_suffix, Transition, World, MAX_CLOCK};
use cellar_engine::agent::parse_user_data;
use cellar_engine::api::Api;
use cellar_engine::catalog;
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult, Filter, RunInstanceRequest};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

/// pending → running.
pub const PENDING_SECS: u64 = 30;
/// shutting-down → terminated.
pub const SHUTDOWN_SECS: u64 = 20;
/// How long a terminated instance stays visible to describe.
pub const TERMINATED_VISIBLE_SECS: u64 = 3600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimInstance {
    pub id: InstanceId,
    pub state: InstanceState,
    pub zone: Zone,
    pub instance_type: InstanceType,
    pub image: ImageId,
    pub architecture: Architecture,
    pub launched_at: Timestamp,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub group: Option<AutoScalingGroupName>,
    /// The launch template version a group launched it from (AWS tags the instance
    /// `aws:ec2launchtemplate:id` and `aws:ec2launchtemplate:version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_from: Option<(LaunchTemplateId, u32)>,
    #[serde(default)]
    pub user_data: String,
    #[serde(default)]
    pub client_token: Option<String>,
    /// Eventual consistency ([`Faults::invisible_secs`](crate::Faults::invisible_secs)):
    /// until this virtual time (in milliseconds since the epoch) the API does not know the
    /// instance yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_at_ms: Option<u64>,
    /// The subnet it launched into.
    #[serde(default)]
    pub subnet: Option<SubnetId>,
    /// Its security groups (the VPC's default group when the launch named none).
    #[serde(default)]
    pub security_groups: Vec<SecurityGroupId>,
    /// The IAM instance profile it runs with, as the launch named it (name or ARN).
    #[serde(default)]
    pub instance_profile: Option<String>,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default)]
    pub metadata: MetadataOptions,
    /// The root volume mapping it launched with (`None`: the image's as it is).
    #[serde(default)]
    pub root_volume: Option<RootVolume>,
    /// When its status checks started: it turned running, or rebooted (`status.rs`).
    /// `None` (pending, or an older state file): no boot to initialize from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booted_at: Option<Timestamp>,
    /// Its impaired status checks (`status.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impairments: Vec<super::status::SimImpairment>,
    /// The events AWS scheduled for it, pending and completed (`status.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<cellar_engine::monitoring::ScheduledEvent>,
}

impl SimInstance {
    /// Pending or running: counts for capacity and for its auto scaling group.
    pub fn is_live(&self) -> bool {
        matches!(self.state, InstanceState::Pending | InstanceState::Running)
    }

    /// Whether the API knows the instance at `now_ms` (see [`SimInstance::visible_at_ms`]).
    pub fn is_visible(&self, now_ms: u64) -> bool {
        self.visible_at_ms.is_none_or(|t| now_ms >= t)
    }

    /// Whether `request` would launch it (for a client token used again): the same zone,
    /// type, image and subnet (when the request names one) and the same launch settings.
    fn launched_as(&self, request: &RunInstanceRequest) -> bool {
        self.zone == request.zone
            && self.instance_type == request.instance_type
            && self.image == request.image
            && self.launched_with(&request.settings)
            && request.subnet.as_ref().is_none_or(|s| self.subnet.as_ref() == Some(s))
    }

    /// Whether it launched with these settings: the same profile, key pair, metadata
    /// options and root volume, and the same security groups when the settings name any.
    fn launched_with(&self, settings: &LaunchSettings) -> bool {
        self.instance_profile.as_deref() == settings.instance_profile.as_ref().map(|p| p.as_str())
            && self.key_name.as_deref() == settings.key_name.as_ref().map(|k| k.as_str())
            && self.metadata == settings.metadata
            && self.root_volume == settings.root_volume
            && (settings.security_groups.is_empty() || self.security_groups == settings.security_groups)
    }
}

impl World {
    fn instance_model(&self, i: &SimInstance) -> Instance {
        Instance {
            id: i.id.clone(),
            state: i.state,
            zone: i.zone.clone(),
            instance_type: i.instance_type.clone(),
            image: i.image.clone(),
            architecture: i.architecture,
            public_ip: self.public_ip_of(&i.id),
            launched_at: i.launched_at,
            tags: i.tags.clone(),
            group: i.group.clone(),
            launched_from: i.launched_from.clone(),
        }
    }

    /// DescribeInstances (instances still invisible under
    /// [`Faults::invisible_secs`](crate::Faults::invisible_secs) are left out).
    pub fn describe_instances(&self, region: &Region, filter: &Filter) -> Vec<Instance> {
        let now_ms = self.now_ms();
        super::index::select(&self.instances, &self.index.instances, filter)
            .filter(|i| i.zone.region() == *region && i.is_visible(now_ms) && filter.matches(i.id.as_str(), &i.tags))
            .map(|i| self.instance_model(i))
            .collect()
    }

    /// The live instance (running preferred, then newest) tagged `Name=<server>`, in any region.
    pub fn find_server_instance(&self, server: &ServerName) -> Option<Instance> {
        self.instances
            .values()
            .filter(|i| i.state.is_alive() && i.tags.get(NAME_TAG).map(String::as_str) == Some(server.as_str()))
            .max_by_key(|i| (i.state == InstanceState::Running, i.launched_at, i.id.clone()))
            .map(|i| self.instance_model(i))
    }

    /// The id of [`World::find_server_instance`] (for `cellar sim terminate SERVER`).
    pub fn server_instance(&self, server: &ServerName) -> Option<InstanceId> {
        self.find_server_instance(server).map(|i| i.id)
    }

    pub fn run_instance(&mut self, region: &Region, request: RunInstanceRequest) -> CloudResult<Instance> {
        if !request.client_token.is_empty() {
            Self::check_client_token(Some(&request.client_token), 64)?;
            // Client tokens are per region; the same token with other parameters is an
            // error, not a second launch (AWS's IdempotentParameterMismatch). The token
            // outlives the instance (`tokens.rs`).
            let live = self.client_tokens.get(&request.client_token).and_then(|id| self.instances.get(id));
            let gone = match self.token_answer(Api::RunInstances, region, Some(&request.client_token), "")? {
                Some(Answer::Instance(gone)) => Some(*gone),
                _ => None,
            };
            if let Some(existing) = live.filter(|i| i.zone.region() == *region).or(gone.as_ref()) {
                if !existing.launched_as(&request) {
                    return Err(err(
                        K::Other("IdempotentParameterMismatch".into()),
                        format!(
                            "The client token {} was used for {} with other parameters",
                            request.client_token, existing.id
                        ),
                    ));
                }
                return Ok(self.instance_model(existing));
            }
        }
        super::tags::check_tags(&Tags::new(), &request.tags)?;
        let spec = LaunchSpec {
            instance_type: request.instance_type,
            image: request.image,
            user_data: request.user_data,
            settings: request.settings,
        };
        let token = Some(request.client_token).filter(|t| !t.is_empty());
        let id = self.launch(region, (&request.zone, request.subnet.as_ref()), &spec, request.tags, None, token)?;
        Ok(self.instance_model(&self.instances[&id]))
    }

    /// The image, if `spec` can launch in the region: the image exists and is available,
    /// the instance type is known and runs the image's architecture.
    fn check_launch_spec(&self, region: &Region, spec: &LaunchSpec) -> CloudResult<Image> {
        let image = self.image_in(region, &spec.image)?;
        if image.state != ImageState::Available {
            return Err(err(
                K::Other("InvalidAMIID.Unavailable".into()),
                format!("The image id '[{}]' is not available (it is {})", spec.image, image_state(image.state)),
            ));
        }
        let architecture = image.architecture;
        let instance_type = &spec.instance_type;
        let type_archs = catalog::instance_type_architectures(instance_type.as_str()).ok_or_else(|| {
            err(K::InvalidParameterValue, format!("Invalid value '{instance_type}' for InstanceType."))
        })?;
        if !type_archs.contains(&architecture) {
            let names: Vec<&str> = type_archs.iter().map(|a| a.as_str()).collect();
            return Err(err(
                K::InvalidParameterValue,
                format!(
                    "The architecture '{}' of the specified instance type does not match the architecture '{architecture}' \
                     of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.",
                    names.join(", ")
                ),
            ));
        }
        Ok(image.clone())
    }

    /// Validates and launches one instance (pending; running after [`PENDING_SECS`] or
    /// [`Faults::boot_secs`](crate::Faults::boot_secs); invisible to the API for
    /// [`Faults::invisible_secs`](crate::Faults::invisible_secs)).
    pub(super) fn launch(
        &mut self,
        region: &Region,
        (zone, subnet): (&Zone, Option<&SubnetId>),
        spec: &LaunchSpec,
        tags: Tags,
        group: Option<AutoScalingGroupName>,
        client_token: Option<String>,
    ) -> CloudResult<InstanceId> {
        self.check_zone(region, zone)?;
        let image = self.check_launch_spec(region, spec)?;
        let placement = self.check_launch_settings(region, zone, subnet, &image, &spec.settings)?;
        let architecture = image.architecture;
        let instance_type = &spec.instance_type;
        if self.available_capacity(zone, instance_type) == 0 {
            return Err(err(
                K::InsufficientInstanceCapacity,
                format!(
                    "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested ({zone})"
                ),
            ));
        }
        self.consume_capacity(zone, instance_type);
        let id = InstanceId::new(self.next_id("i"));
        let instance = SimInstance {
            id: id.clone(),
            state: InstanceState::Pending,
            zone: zone.clone(),
            instance_type: instance_type.clone(),
            image: spec.image.clone(),
            architecture,
            launched_at: self.now,
            tags,
            group: group.clone(),
            launched_from: None,
            user_data: spec.user_data.clone(),
            client_token: client_token.clone(),
            visible_at_ms: match self.faults.invisible_secs {
                0 => None,
                secs => Some(self.now_ms().saturating_add(secs.saturating_mul(1000))),
            },
            subnet: Some(placement.subnet.clone()),
            security_groups: placement.security_groups,
            instance_profile: spec.settings.instance_profile.as_ref().map(|p| p.to_string()),
            key_name: spec.settings.key_name.as_ref().map(|k| k.to_string()),
            metadata: spec.settings.metadata,
            root_volume: spec.settings.root_volume.clone(),
            booted_at: None,
            impairments: Vec::new(),
            events: Vec::new(),
        };
        let by = group.as_ref().map(|g| format!(" by group {g}")).unwrap_or_default();
        self.record(format!(
            "launched {id} ({instance_type}, {}) in {zone} ({}){by}{}",
            spec.image,
            placement.subnet,
            tag_suffix(&instance.tags)
        ));
        self.index.instances.add(&instance.tags, &id);
        self.instances.insert(id.clone(), instance);
        if let Some(token) = client_token {
            self.client_tokens.insert(token, id.clone());
        }
        self.schedule(self.faults.boot_secs.unwrap_or(PENDING_SECS), Transition::InstanceRunning(id.clone()));
        Ok(id)
    }

    pub fn terminate_instance(&mut self, region: &Region, id: &InstanceId) -> CloudResult<()> {
        self.instance_in(region, id)?;
        self.begin_termination(id, "TerminateInstances");
        Ok(())
    }

    /// AWS terminates the instance on its own (hardware retirement, spot, a bad day).
    pub fn terminate_instance_by_amazon(&mut self, id: &InstanceId) -> CloudResult<()> {
        if !self.instances.contains_key(id) {
            return Err(err(K::InvalidInstanceIdNotFound, format!("The instance ID '{id}' does not exist")));
        }
        self.begin_termination(id, "terminated by Amazon");
        Ok(())
    }

    pub(super) fn begin_termination(&mut self, id: &InstanceId, cause: &str) {
        let instance = self.instances.get_mut(id).expect("caller checked");
        if !instance.state.is_alive() {
            return; // already shutting down or terminated: TerminateInstances is idempotent
        }
        let old = instance.state;
        instance.state = InstanceState::ShuttingDown;
        if let Some(group) = &instance.group {
            self.index.unsettled.mark(group);
        }
        self.agents_due.retain(|a| a != id);
        self.scheduler.cancel(|t| matches!(t, Transition::AgentStart(a) if a == id));
        self.record(format!("{id}: {old} -> shutting-down ({cause})"));
        self.refresh_writes_of(id);
        self.schedule(SHUTDOWN_SECS, Transition::InstanceTerminated(id.clone()));
    }

    /// [`Transition::InstanceRunning`]: pending → running; with agent user data, its agent
    /// starts after the boot delay (`agents.rs`).
    pub(super) fn instance_running(&mut self, id: InstanceId) {
        let Some(instance) = self.instances.get_mut(&id) else {
            return;
        };
        if instance.state != InstanceState::Pending {
            return;
        }
        instance.state = InstanceState::Running;
        instance.booted_at = Some(self.now);
        let agent = parse_user_data(&instance.user_data).is_some();
        self.record(format!("{id}: pending -> running"));
        if agent {
            self.schedule_agent(&id);
        }
    }

    /// [`Transition::InstanceTerminated`]: shutting-down → terminated; its volumes detach
    /// and its addresses disassociate.
    pub(super) fn instance_terminated(&mut self, id: InstanceId) {
        let Some(instance) = self.instances.get_mut(&id) else {
            return;
        };
        if instance.state != InstanceState::ShuttingDown {
            return;
        }
        instance.state = InstanceState::Terminated;
        self.record(format!("{id}: shutting-down -> terminated"));
        self.release_volumes_of(&id);
        self.release_addresses_of(&id);
        self.schedule(TERMINATED_VISIBLE_SECS, Transition::InstanceRemoved(id));
    }

    /// [`Transition::InstanceRemoved`]: a terminated instance disappears; its client token
    /// is kept with it for [`INSTANCE_TOKEN_SECS`] more (`tokens.rs`).
    pub(super) fn instance_removed(&mut self, id: &InstanceId) {
        if self.instances.get(id).is_none_or(|i| i.state != InstanceState::Terminated) {
            return;
        }
        let Some(instance) = self.instances.remove(id) else { return };
        self.index.instances.remove(&instance.tags, id);
        if let Some(group) = &instance.group {
            self.index.unsettled.mark(group);
        }
        self.client_tokens.retain(|_, i| i != id);
        if let Some(token) = instance.client_token.clone() {
            let region = instance.zone.region();
            let expires = Some(self.now.plus_secs(INSTANCE_TOKEN_SECS).min(MAX_CLOCK));
            let answer = Answer::Instance(Box::new(instance));
            self.keep_token_answer(Api::RunInstances, &region, Some(&token), (String::new(), answer, expires));
        }
        self.record(format!("{id}: no longer visible"));
    }
}
