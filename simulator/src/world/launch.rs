//! What instances launch from: launch templates (CreateLaunchTemplate,
//! CreateLaunchTemplateVersion, DeleteLaunchTemplate, DescribeLaunchTemplates) and launch
//! configurations (Create-, Delete-, DescribeLaunchConfigurations).
//!
//! Invariants: a template has at least one version (version `n` is `versions[n - 1]`) and
//! its name is unique in its region; a launch configuration is immutable and its name is
//! unique in its region; neither can be deleted while an auto scaling group uses it.

use super::tokens::Answer;
use super::{err, World};
use cellar_engine::api::Api;
use cellar_engine::catalog;
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult, CreateLaunchTemplateRequest, Filter};
use cellar_engine::model::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimTemplate {
    pub id: LaunchTemplateId,
    pub name: String,
    pub region: Region,
    /// Version `n` is `versions[n - 1]`.
    pub versions: Vec<LaunchSpec>,
    pub default_version: u32,
    #[serde(default)]
    pub tags: Tags,
}

impl SimTemplate {
    pub fn latest_version(&self) -> u32 {
        self.versions.len() as u32
    }
    pub fn version(&self, version: u32) -> Option<&LaunchSpec> {
        version.checked_sub(1).and_then(|i| self.versions.get(i as usize))
    }
    pub fn to_model(&self) -> LaunchTemplate {
        self.model_at(self.latest_version())
    }
    /// The template as a describe shows it when `latest` is the newest version the API sees.
    fn model_at(&self, latest: u32) -> LaunchTemplate {
        LaunchTemplate {
            id: self.id.clone(),
            name: self.name.clone(),
            latest_version: latest,
            default_version: self.default_version,
            latest: self.version(latest).cloned().expect("a launch template has at least one version"),
            tags: self.tags.clone(),
        }
    }
}

impl World {
    pub(super) fn template_in(&self, region: &Region, id: &LaunchTemplateId) -> CloudResult<&SimTemplate> {
        self.templates.get(id).filter(|t| t.region == *region && self.visible(id.as_str())).ok_or_else(|| {
            err(
                K::InvalidLaunchTemplateNotFound,
                format!("The specified launch template, with template ID {id}, does not exist."),
            )
        })
    }

    /// What CreateAutoScalingGroup and UpdateAutoScalingGroup launch from. A launch
    /// template, or version, that does not exist or is not visible yet is refused as AWS's
    /// Auto Scaling refuses it: `ValidationError`, "You must use a valid fully-formed
    /// launch template".
    pub(super) fn group_launch_spec(&self, region: &Region, launch: &LaunchSource) -> CloudResult<LaunchSpec> {
        if let LaunchSource::Template { id, version } = launch {
            let template = self.template_in(region, id).map_err(|_| {
                cellar_engine::cloud::CloudError::from_code(
                    "ValidationError",
                    format!("You must use a valid fully-formed launch template. The specified launch template, with template ID {id}, does not exist."),
                )
            })?;
            // A version named (cellar pins one) must be visible; `$Latest` resolves to the
            // latest version there is.
            let _ = template;
            if let Some(version) = version.filter(|v| !self.visible(&Self::version_key(id, *v))) {
                return Err(cellar_engine::cloud::CloudError::from_code(
                    "ValidationError",
                    format!("You must use a valid fully-formed launch template. The specified launch template version {version} of {id} does not exist."),
                ));
            }
        }
        self.launch_spec(region, launch)
    }

    fn launch_configuration_in(&self, region: &Region, name: &str) -> CloudResult<&LaunchConfiguration> {
        self.launch_configurations.get(region).and_then(|m| m.get(name)).ok_or_else(|| {
            err(
                K::Other("ValidationError".into()),
                format!("Launch configuration name not found - Launch configuration {name} not found"),
            )
        })
    }

    /// The instance settings a launch source stands for (the template version, `$Latest`
    /// resolved now, or the launch configuration's); errors if it does not exist.
    /// [`World::authorize_launch`] for a group given `launch` (CreateAutoScalingGroup,
    /// UpdateAutoScalingGroup): a launch template's launches need ec2:RunInstances and, if
    /// it names an instance profile, iam:PassRole of the caller. A launch that does not
    /// resolve is left to the call to refuse.
    pub(crate) fn authorize_group_launch(
        &self,
        agent: Option<&InstanceId>,
        api: Api,
        region: &Region,
        launch: Option<&LaunchSource>,
    ) -> CloudResult<()> {
        let Some(launch @ LaunchSource::Template { .. }) = launch else {
            return Ok(());
        };
        let Ok(spec) = self.launch_spec(region, launch) else {
            return Ok(());
        };
        let profile = spec.settings.instance_profile.as_ref().map(|p| p.name().to_string());
        self.authorize_launch(agent, api, profile.as_deref(), true)
    }

    /// The template version `launch` resolves to now (`$Latest`: the latest one visible).
    pub(super) fn launched_version(&self, region: &Region, launch: &LaunchSource) -> Option<(LaunchTemplateId, u32)> {
        let LaunchSource::Template { id, version } = launch else { return None };
        let template = self.template_in(region, id).ok()?;
        Some((id.clone(), version.unwrap_or_else(|| self.visible_latest(template))))
    }

    /// The newest version of `template` the API sees now: a version made a moment before
    /// is not visible yet under eventual consistency ([`World::hide_new`]), so `$Latest`
    /// resolves to the one before it, in a group's launch as in a describe. Version 1 is
    /// visible with its template.
    pub(super) fn visible_latest(&self, template: &SimTemplate) -> u32 {
        (2..=template.latest_version()).rev().find(|v| self.visible(&Self::version_key(&template.id, *v))).unwrap_or(1)
    }

    pub(super) fn launch_spec(&self, region: &Region, launch: &LaunchSource) -> CloudResult<LaunchSpec> {
        match launch {
            LaunchSource::Template { id, version } => {
                let template = self.template_in(region, id)?;
                let version = version.unwrap_or_else(|| self.visible_latest(template));
                template.version(version).cloned().ok_or_else(|| {
                    err(
                        K::InvalidParameterValue,
                        format!("The specified launch template version {version} of {id} does not exist"),
                    )
                })
            }
            LaunchSource::Configuration { name } => Ok(self.launch_configuration_in(region, name)?.spec.clone()),
        }
    }

    pub fn describe_launch_templates(&self, region: &Region, filter: &Filter) -> Vec<LaunchTemplate> {
        super::index::select(&self.templates, &self.index.templates, filter)
            .filter(|t| t.region == *region && filter.matches(t.id.as_str(), &t.tags))
            .filter(|t| self.visible(t.id.as_str()))
            .map(|t| t.model_at(self.visible_latest(t)))
            .collect()
    }

    /// CreateLaunchTemplate; a client token used before in the region returns the first
    /// answer (`tokens.rs`).
    pub fn create_launch_template(
        &mut self,
        region: &Region,
        request: CreateLaunchTemplateRequest,
    ) -> CloudResult<LaunchTemplate> {
        self.check_region(region)?;
        let token = request.client_token.clone();
        Self::check_client_token(token.as_deref(), 128)?;
        let params = format!("{} {:?} {:?}", request.name, request.spec, request.tags);
        if let Some(Answer::LaunchTemplate(first)) =
            self.token_answer(Api::CreateLaunchTemplate, region, token.as_deref(), &params)?
        {
            self.record(format!("CreateLaunchTemplate: client token already used, {} returned again", first.id));
            return Ok(first);
        }
        super::tags::check_tags(&Tags::new(), &request.tags)?;
        self.check_launch_spec_settings(region, &request.spec.settings, false)?;
        let taken = self.templates.values().any(|t| t.region == *region && t.name == request.name);
        if taken || self.lock_named(region, &request.name) {
            // EC2's own code for it (Auto Scaling's is `AlreadyExists`); the same kind.
            let code = K::Other("InvalidLaunchTemplateName.AlreadyExistsException".into());
            return Err(err(code, format!("Launch template name already in use: {}", request.name)));
        }
        let id = LaunchTemplateId::new(self.next_id("lt"));
        let template = SimTemplate {
            id: id.clone(),
            name: request.name,
            region: region.clone(),
            versions: vec![request.spec],
            default_version: 1,
            tags: request.tags,
        };
        self.record(format!("created launch template {id} ({}) version 1", template.name));
        let model = template.to_model();
        self.hide_new(id.to_string());
        self.index.templates.add(&template.tags, &id);
        self.templates.insert(id, template);
        let answer = (params, Answer::LaunchTemplate(model.clone()), None);
        self.keep_token_answer(Api::CreateLaunchTemplate, region, token.as_deref(), answer);
        Ok(model)
    }

    /// Adds a version; returns the template with its new latest version. A client token
    /// used before in the region returns the first answer (`tokens.rs`).
    pub fn create_launch_template_version(
        &mut self,
        region: &Region,
        id: &LaunchTemplateId,
        spec: LaunchSpec,
        client_token: Option<&str>,
    ) -> CloudResult<LaunchTemplate> {
        Self::check_client_token(client_token, 128)?;
        let params = format!("{id} {spec:?}");
        if let Some(Answer::LaunchTemplate(first)) =
            self.token_answer(Api::CreateLaunchTemplateVersion, region, client_token, &params)?
        {
            let version = first.latest_version;
            self.record(format!(
                "CreateLaunchTemplateVersion: client token already used, {id} version {version} returned again"
            ));
            return Ok(first);
        }
        self.template_in(region, id)?;
        self.check_launch_spec_settings(region, &spec.settings, false)?;
        let template = self.templates.get_mut(id).expect("checked");
        template.versions.push(spec);
        let version = template.latest_version();
        let model = template.to_model();
        self.hide_new(Self::version_key(id, version));
        self.record(format!("created launch template {id} version {version}"));
        let answer = (params, Answer::LaunchTemplate(model.clone()), None);
        self.keep_token_answer(Api::CreateLaunchTemplateVersion, region, client_token, answer);
        Ok(model)
    }

    pub fn delete_launch_template(&mut self, region: &Region, id: &LaunchTemplateId) -> CloudResult<()> {
        self.template_in(region, id)?;
        let uses = |g: &&super::SimGroup| matches!(&g.launch, LaunchSource::Template { id: t, .. } if t == id);
        if let Some(group) = self.groups.values().find(uses) {
            return Err(err(
                K::ResourceInUse,
                format!("Launch template {id} is in use by auto scaling group {}", group.name),
            ));
        }
        if let Some(template) = self.templates.remove(id) {
            self.index.templates.remove(&template.tags, id);
        }
        self.record(format!("deleted launch template {id}"));
        Ok(())
    }

    pub fn describe_launch_configurations(&self, region: &Region) -> Vec<LaunchConfiguration> {
        self.launch_configurations_in(region).cloned().collect()
    }

    /// CreateLaunchConfiguration: immutable, named settings (names are unique per region).
    pub fn create_launch_configuration(
        &mut self,
        region: &Region,
        name: &str,
        spec: LaunchSpec,
    ) -> CloudResult<LaunchConfiguration> {
        self.check_region(region)?;
        let validation = |message: String| err(K::Other("ValidationError".into()), message);
        if name.is_empty() || name.chars().count() > 255 {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'launchConfigurationName' failed to satisfy constraint: \
                 Member must have length between 1 and 255"
            )));
        }
        if self.launch_configurations.get(region).is_some_and(|m| m.contains_key(name)) {
            return Err(err(
                K::AlreadyExists,
                format!("Launch Configuration by this name already exists - A launch configuration already exists with the name {name}"),
            ));
        }
        if let Err(e) = self.image_in(region, &spec.image) {
            return Err(validation(format!("AMI {} is invalid: {}", spec.image, e.message)));
        }
        if catalog::instance_type_architectures(spec.instance_type.as_str()).is_none() {
            return Err(validation(format!("Invalid instance type: {}", spec.instance_type)));
        }
        self.check_launch_spec_settings(region, &spec.settings, true)?;
        let configuration = LaunchConfiguration { name: name.to_string(), spec, created_at: self.now };
        self.record(format!(
            "created launch configuration {name} ({}, {}) in {region}",
            configuration.spec.instance_type, configuration.spec.image
        ));
        self.launch_configurations.entry(region.clone()).or_default().insert(name.to_string(), configuration.clone());
        Ok(configuration)
    }

    /// DeleteLaunchConfiguration: refused (ResourceInUse) while a group uses it.
    pub fn delete_launch_configuration(&mut self, region: &Region, name: &str) -> CloudResult<()> {
        self.launch_configuration_in(region, name)?;
        let uses = |g: &&super::SimGroup| {
            g.region == *region && matches!(&g.launch, LaunchSource::Configuration { name: n } if n == name)
        };
        let user = self.groups.values().find(uses).map(|g| g.name.clone());
        if let Some(group) = user.or_else(|| self.unloaded_configuration_user(region, name)) {
            return Err(err(
                K::ResourceInUse,
                format!("Cannot delete launch configuration {name} because it is attached to AutoScalingGroup {group}"),
            ));
        }
        if let Some(m) = self.launch_configurations.get_mut(region) {
            m.remove(name);
            if m.is_empty() {
                self.launch_configurations.remove(region);
            }
        }
        self.record(format!("deleted launch configuration {name} in {region}"));
        Ok(())
    }

    /// The launch configurations of a region, by name.
    pub fn launch_configurations_in(&self, region: &Region) -> impl Iterator<Item = &LaunchConfiguration> {
        self.launch_configurations.get(region).into_iter().flat_map(|m| m.values())
    }
}
