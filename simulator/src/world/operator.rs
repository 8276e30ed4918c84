//! The operator: who cellar's own calls (the executor's, the inventory's, `cellar doctor`'s)
//! are made as, and what its IAM policy allows.
//!
//! AWS answers a request sent with EC2's `DryRun` flag without carrying it out:
//! `DryRunOperation` ("Request would have succeeded, but DryRun flag is set.") when the
//! caller may make it, `UnauthorizedOperation` naming the caller and the missing action
//! when not. The simulator does the same for the operator and for an instance's agent
//! (whose rights are its instance profile's, `identity.rs`), and refuses a real call the
//! operator's policy does not allow with the same code (`AccessDenied` for Auto Scaling).
//!
//! Invariants: the operator's policy is `None` (everything allowed, as for an
//! administrator: the default, and every state file from before operators) or a set of
//! IAM action patterns: `service:Operation`, `service:Prefix*` or `*`. STS
//! GetCallerIdentity and the DNS lookup need no permission, as on AWS.

use super::identity::check_action;
use super::{err, World};
use cellar_engine::api::{Api, Service};
use cellar_engine::cloud::{CallerIdentity, CloudErrorKind as K, CloudResult};
use cellar_engine::model::InstanceId;
use std::collections::BTreeSet;

/// The simulated account's id.
pub const SIM_ACCOUNT: &str = "123456789012";

/// The operator's ARN in the simulated account.
pub const OPERATOR_ARN: &str = "arn:aws:iam::123456789012:user/cellar-operator";

/// AWS's answer to an allowed dry run.
pub const DRY_RUN_ALLOWED: &str = "Request would have succeeded, but DryRun flag is set.";

/// Whether `pattern` is an action pattern of an operator policy (see the module doc).
fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => check_action(&format!("{prefix}X")),
        Some(prefix) => check_action(prefix),
        None => check_action(pattern),
    }
}

/// Whether `pattern` allows `action` (IAM's trailing wildcard; actions compare without case).
fn allows(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

impl World {
    /// What the operator may do: `None` is everything.
    pub fn operator_actions(&self) -> Option<&BTreeSet<String>> {
        self.operator_actions.as_ref()
    }

    /// Sets the operator's policy: `None` allows everything, `Some(patterns)` exactly what
    /// they match. Refuses a pattern that is not an IAM action pattern (and changes nothing).
    pub fn set_operator_actions(&mut self, patterns: Option<&[String]>) -> Result<(), String> {
        let Some(patterns) = patterns else {
            self.record("operator policy: everything allowed");
            self.operator_actions = None;
            return Ok(());
        };
        for pattern in patterns {
            check_pattern(pattern).map_err(|e| format!("operator policy: {e}"))?;
        }
        let set: BTreeSet<String> = patterns.iter().cloned().collect();
        self.record(format!("operator policy allows {}", set.iter().cloned().collect::<Vec<_>>().join(", ")));
        self.operator_actions = Some(set);
        Ok(())
    }

    /// Who the caller is: the operator, or the role of `agent`'s instance profile.
    pub(crate) fn caller_identity(&self, agent: Option<&InstanceId>) -> CallerIdentity {
        let arn = match agent {
            None => OPERATOR_ARN.to_string(),
            Some(instance) => {
                let role = self.instance_profile(instance).unwrap_or("no-profile");
                format!("arn:aws:sts::{SIM_ACCOUNT}:assumed-role/{role}/{instance}")
            }
        };
        CallerIdentity { account: SIM_ACCOUNT.to_string(), arn }
    }

    /// Whether the caller (the operator, or `agent`'s instance) may make `api` call.
    pub(crate) fn authorize_caller(&self, agent: Option<&InstanceId>, api: Api) -> CloudResult<()> {
        match agent {
            Some(instance) => self.authorize(instance, api),
            None => self.authorize_operator(api),
        }
    }

    /// Whether the operator's policy allows `api`, refused as AWS refuses it.
    fn authorize_operator(&self, api: Api) -> CloudResult<()> {
        let (Some(patterns), Some(action)) = (&self.operator_actions, api.iam_action()) else {
            return Ok(());
        };
        if patterns.iter().any(|p| allows(p, &action)) {
            return Ok(());
        }
        let message = format!(
            "You are not authorized to perform this operation. User: {OPERATOR_ARN} is not authorized to perform: \
{action} because no identity-based policy allows the {action} action"
        );
        let code = match api.service() {
            Service::AutoScaling => "AccessDenied",
            _ => "UnauthorizedOperation",
        };
        Err(err(K::Other(code.into()), message))
    }

    /// The actions AWS checks with a launch beyond the call's own (its "dependent actions"):
    /// `iam:PassRole` (on the profile's role) whenever the launch names an instance profile
    /// (RunInstances, CreateLaunchConfiguration, and a group given a launch template that
    /// names one); for a group given a launch template, `ec2:RunInstances` too. Refused as
    /// the call itself would be (`UnauthorizedOperation`, Auto Scaling's `AccessDenied`).
    pub(crate) fn authorize_launch(
        &self,
        agent: Option<&InstanceId>,
        api: Api,
        profile: Option<&str>,
        with_template: bool,
    ) -> CloudResult<()> {
        let (None, Some(patterns)) = (agent, &self.operator_actions) else {
            // An agent makes no launches (its profile allows none); an administrator may.
            return Ok(());
        };
        let mut needed: Vec<(String, Option<String>)> = Vec::new();
        if let Some(profile) = profile {
            needed.push(("iam:PassRole".into(), Some(format!("arn:aws:iam::{SIM_ACCOUNT}:role/{profile}"))));
        }
        if with_template {
            needed.push(("ec2:RunInstances".into(), None));
        }
        let Some((action, resource)) = needed.into_iter().find(|(a, _)| !patterns.iter().any(|p| allows(p, a))) else {
            return Ok(());
        };
        let on = resource.map(|r| format!(" on resource: {r}")).unwrap_or_default();
        let message = format!(
            "You are not authorized to perform this operation. User: {OPERATOR_ARN} is not authorized to perform: \
{action}{on} because no identity-based policy allows the {action} action"
        );
        let code = match api.service() {
            Service::AutoScaling => "AccessDenied",
            _ => "UnauthorizedOperation",
        };
        Err(err(K::Other(code.into()), message))
    }

    /// The answer to `api` sent with DryRun: `DryRunOperation` if the caller may make it
    /// (an error, as AWS answers it), the refusal otherwise. Nothing changes.
    pub(crate) fn dry_run(&self, agent: Option<&InstanceId>, api: Api) -> CloudResult<()> {
        self.authorize_caller(agent, api)?;
        Err(err(K::DryRunOperation, DRY_RUN_ALLOWED))
    }

    /// The part of [`World::check_consistency`] about the operator: valid patterns.
    pub(super) fn check_operator(&self) -> Result<(), String> {
        for pattern in self.operator_actions.iter().flatten() {
            check_pattern(pattern).map_err(|e| format!("operator_actions: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(patterns: Option<&[&str]>, api: Api, expected: Result<(), &str>) {
        let mut world = World::new(cellar_engine::model::Timestamp(0), Vec::new());
        let patterns: Option<Vec<String>> = patterns.map(|p| p.iter().map(|s| s.to_string()).collect());
        world.set_operator_actions(patterns.as_deref()).unwrap();
        let got = world.authorize_caller(None, api).map_err(|e| e.code);
        assert_eq!(got, expected.map_err(str::to_string), "{patterns:?} {api}");
        let dry = world.dry_run(None, api).unwrap_err();
        let expected_code = expected.err().unwrap_or("DryRunOperation");
        assert_eq!(dry.code, expected_code, "{patterns:?} {api} dry run");
        if let Err(code) = expected {
            let action = api.iam_action().unwrap();
            assert!(
                dry.message.contains(&format!("is not authorized to perform: {action}")),
                "{code}: {}",
                dry.message
            );
            assert!(dry.message.contains(OPERATOR_ARN), "{}", dry.message);
        } else {
            assert_eq!(dry.message, DRY_RUN_ALLOWED);
        }
    }

    #[test]
    fn the_operator_policy_decides() {
        check(None, Api::RunInstances, Ok(()));
        check(Some(&["*"]), Api::DeleteAutoScalingGroup, Ok(()));
        check(Some(&["ec2:RunInstances"]), Api::RunInstances, Ok(()));
        check(Some(&["ec2:Describe*"]), Api::DescribeVolumes, Ok(()));
        check(Some(&["ec2:Describe*"]), Api::RunInstances, Err("UnauthorizedOperation"));
        check(Some(&["ec2:*"]), Api::CreateAutoScalingGroup, Err("AccessDenied"));
        check(Some(&[]), Api::CreateVolume, Err("UnauthorizedOperation"));
        // No permission needed, as on AWS.
        check(Some(&[]), Api::GetCallerIdentity, Ok(()));
    }

    #[test]
    fn patterns_are_checked() {
        for good in ["*", "ec2:*", "ec2:Describe*", "autoscaling:CreateAutoScalingGroup"] {
            assert_eq!(check_pattern(good), Ok(()), "{good}");
        }
        for bad in ["", "ec2", "ec2:", "*:RunInstances", "ec2:Run Instances", "**"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        let mut world = World::new(cellar_engine::model::Timestamp(0), Vec::new());
        assert!(world.set_operator_actions(Some(&["ec2:RunInstances".into(), "nope".into()])).is_err());
        assert_eq!(world.operator_actions(), None, "a refused policy changes nothing");
    }

    #[test]
    fn the_caller_is_named() {
        let world = World::new(cellar_engine::model::Timestamp(0), Vec::new());
        assert_eq!(world.caller_identity(None).arn, OPERATOR_ARN);
        let agent = world.caller_identity(Some(&InstanceId::new("i-0001")));
        assert_eq!(agent.arn, "arn:aws:sts::123456789012:assumed-role/no-profile/i-0001");
    }
}
