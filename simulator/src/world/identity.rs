//! Who may call what: IAM instance profiles and the instances that carry them.
//!
//! An instance's agent calls AWS with the credentials of the instance profile the instance
//! was launched with: a call succeeds only if the profile's role allows its IAM action,
//! and fails with AWS's `UnauthorizedOperation` (EC2) or `AccessDenied` (Auto Scaling)
//! otherwise. An instance without a profile has no credentials, so no rights. The
//! operator's calls (the executor's, the inventory's) are not subject to instance profiles.
//!
//! An instance carries the profile it was launched with (RunInstances' `IamInstanceProfile`,
//! or its group's launch template or configuration): [`SimInstance::instance_profile`], the
//! one place it is kept, as the launch named it (name or ARN). An instance launched
//! without one has none, as on AWS. A state file from before instance profiles gives its
//! instances and launch settings the documented `cellar-agent` (see `file.rs`).
//!
//! Invariants: profile names are IAM names (1-128 characters of `[A-Za-z0-9+=,.@_-]`);
//! actions are `service:Operation`; an instance's profile is recorded at launch, on the
//! instance, and disappears with it.

#[cfg(doc)]
use super::SimInstance;
use super::{err, World};
use cellar_engine::api::{Api, Service};
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult};
use cellar_engine::model::{InstanceId, Tags};
use std::collections::BTreeSet;

/// The instance profile the agent's role is documented with (`docs/agent-iam-policy.json`).
pub const AGENT_PROFILE: &str = "cellar-agent";

/// The actions of `docs/agent-iam-policy.json` (a test keeps them and the default world's
/// `cellar-agent` equal to the file): what a state file from before instance profiles
/// gives its instances (see `file.rs`).
pub const AGENT_ACTIONS: &[&str] = &[
    "autoscaling:DescribeAutoScalingInstances",
    "ec2:AssociateAddress",
    "ec2:AttachVolume",
    "ec2:CreateTags",
    "ec2:DescribeAddresses",
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
];

/// Whether `name` is a valid IAM instance profile name.
pub(super) fn check_profile_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if (1..=128).contains(&name.len()) && name.chars().all(allowed) {
        return Ok(());
    }
    Err(format!("{name:?} is not an instance profile name (1-128 letters, digits and + = , . @ _ -)"))
}

/// The name of a profile given by name or ARN (`arn:aws:iam::123456789012:instance-profile/path/NAME`).
pub(super) fn profile_name(profile: &str) -> &str {
    if profile.starts_with("arn:") {
        profile.rsplit('/').next().unwrap_or(profile)
    } else {
        profile
    }
}

/// Whether `action` looks like an IAM action (`ec2:AttachVolume`).
pub(super) fn check_action(action: &str) -> Result<(), String> {
    let valid = action.split_once(':').is_some_and(|(service, op)| {
        !service.is_empty()
            && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !op.is_empty()
            && op.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if valid {
        Ok(())
    } else {
        Err(format!("{action:?} is not an IAM action (service:Operation, such as ec2:AttachVolume)"))
    }
}

impl World {
    /// The instance profiles of the account, with the actions their roles allow.
    pub fn instance_profiles(&self) -> &std::collections::BTreeMap<String, BTreeSet<String>> {
        &self.instance_profiles
    }

    /// Creates or replaces an instance profile whose role allows exactly `actions`.
    pub fn set_instance_profile_actions(&mut self, name: &str, actions: &[&str]) -> Result<(), String> {
        check_profile_name(name)?;
        for action in actions {
            check_action(action).map_err(|e| format!("instance profile {name}: {e}"))?;
        }
        let actions: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        self.record(format!(
            "instance profile {name} allows {}",
            actions.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.instance_profiles.insert(name.to_string(), actions);
        Ok(())
    }

    /// Deletes an instance profile (instances that carry it keep its name, with no rights;
    /// launches that name it are refused).
    pub fn remove_instance_profile(&mut self, name: &str) -> Result<(), String> {
        if self.instance_profiles.remove(name).is_none() {
            return Err(format!("instance profile {name} does not exist"));
        }
        self.record(format!("instance profile {name} deleted"));
        Ok(())
    }

    /// The name of the instance profile `instance` carries (`None`: no profile, so no rights).
    pub fn instance_profile(&self, instance: &InstanceId) -> Option<&str> {
        self.instances.get(instance)?.instance_profile.as_deref().map(profile_name)
    }

    /// Sets (or clears) the profile `instance` carries, by name or ARN. Refuses an unknown
    /// instance or an invalid profile name (a profile the world does not hold is allowed:
    /// it has no rights).
    pub fn set_instance_profile(&mut self, instance: &InstanceId, profile: Option<&str>) -> Result<(), String> {
        if let Some(p) = profile {
            check_profile_name(profile_name(p))?;
        }
        let Some(i) = self.instances.get_mut(instance) else {
            return Err(format!("instance {instance} does not exist"));
        };
        i.instance_profile = profile.map(str::to_string);
        Ok(())
    }

    /// Forgets what the world keeps about an instance that no longer exists (its console
    /// output; its profile went with it).
    pub(super) fn forget_instance(&mut self, instance: &InstanceId) {
        if !self.instances.contains_key(instance) {
            self.console.remove(instance);
        }
    }

    /// The part of [`World::check_consistency`] about identities: valid profile names and
    /// actions, and consoles only of instances that exist.
    pub(super) fn check_identity(&self) -> Result<(), String> {
        for (name, actions) in &self.instance_profiles {
            check_profile_name(name).map_err(|e| format!("instance_profiles: {e}"))?;
            for action in actions {
                check_action(action).map_err(|e| format!("instance_profiles: {name}: {e}"))?;
            }
        }
        for (id, instance) in &self.instances {
            if let Some(profile) = &instance.instance_profile {
                check_profile_name(profile_name(profile))
                    .map_err(|e| format!("instances: {id}: instance_profile: {e}"))?;
            }
        }
        if let Some(instance) = self.console.keys().find(|i| !self.instances.contains_key(*i)) {
            return Err(format!("console names instance {instance}, which does not exist"));
        }
        Ok(())
    }

    /// Whether the agent of `instance` may make `api` call: its instance profile's role
    /// must allow the call's IAM action. EC2 refuses with `UnauthorizedOperation`, Auto
    /// Scaling with `AccessDenied`; the DNS lookup needs no AWS permission.
    pub(crate) fn authorize(&self, instance: &InstanceId, api: Api) -> CloudResult<()> {
        let Some(action) = api.iam_action() else {
            return Ok(());
        };
        let profile = self.instance_profile(instance);
        let allowed =
            profile.and_then(|p| self.instance_profiles.get(p)).is_some_and(|actions| actions.contains(&action));
        if allowed {
            return Ok(());
        }
        let code = match api.service() {
            Service::AutoScaling => "AccessDenied",
            _ => "UnauthorizedOperation",
        };
        let message = match profile {
            Some(p) => format!("instance profile {p} does not allow {action}"),
            None => format!("instance {instance} has no instance profile, so no credentials for {action}"),
        };
        Err(err(K::Other(code.into()), message))
    }
}

impl World {
    /// The conditions of docs/agent-iam-policy.json's CreateTags statement, which IAM
    /// checks on top of the action: an agent tags only its own instance (`aws:ARN` is
    /// `ec2:SourceInstanceARN`) and only with its outcome tag (`aws:TagKeys`); anything
    /// else is refused as IAM refuses it.
    pub(crate) fn authorize_agent_tags(&self, instance: &InstanceId, resource: &str, tags: &Tags) -> CloudResult<()> {
        let others: Vec<&str> =
            tags.keys().map(String::as_str).filter(|k| *k != cellar_engine::agent::OUTCOME_TAG).collect();
        if resource == instance.as_str() && others.is_empty() {
            return Ok(());
        }
        let profile = self.instance_profile(instance).unwrap_or("no-profile");
        let why = match resource == instance.as_str() {
            false => format!("{resource} is not the calling instance {instance}"),
            true => format!("the tag keys {} are not {}", others.join(", "), cellar_engine::agent::OUTCOME_TAG),
        };
        Err(err(
            K::Other("UnauthorizedOperation".into()),
            format!(
                "You are not authorized to perform this operation. The role of instance profile {profile} allows \
ec2:CreateTags only on its own instance with the key {}: {why}",
                cellar_engine::agent::OUTCOME_TAG
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_actions() {
        assert_eq!(check_profile_name("cellar-agent"), Ok(()));
        assert!(check_profile_name("").is_err());
        assert!(check_profile_name("a b").is_err());
        assert!(check_profile_name(&"a".repeat(129)).is_err());
        assert_eq!(check_action("ec2:AttachVolume"), Ok(()));
        assert_eq!(check_action("autoscaling:DescribeAutoScalingInstances"), Ok(()));
        assert!(check_action("AttachVolume").is_err());
        assert!(check_action("ec2:").is_err());
        assert!(check_action("EC2:Attach Volume").is_err());
    }
}
