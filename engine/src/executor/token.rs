//! Idempotency tokens: one per step, so a call retried after a lost response (the change
//! made, the answer never received) finds its first result instead of creating twice.
//!
//! A step's token is a hash of the plan's inputs (its command and what it observed), the
//! apply's salt (the cloud's clock when the apply started), the step's id and the step
//! itself (server, action, parameters), plus the tags configured for the server: every
//! retry within an apply sends the same token, while a different plan, the same step with
//! other parameters, or the same plan applied again after a failed apply was undone gets
//! a different one, so an apply never collides with an old one (AWS would answer the old
//! result, or `IdempotentParameterMismatch`). No randomness. Tokens are at most 64 ASCII
//! characters (AWS's ClientToken limit). A resumed apply sends a step its journal started
//! with the token recorded then (`journal::Resume::tokens`).

use crate::plan::{Plan, Step, StepId};
use std::collections::BTreeMap;

/// The tag carrying the token of the step that created a resource, for calls that take no
/// ClientToken (AllocateAddress) and for a create whose every answer was lost: looked up
/// before such a call is retried.
pub const TOKEN_TAG: &str = "cellar:token";

/// Every step's token, by step.
pub(super) fn step_tokens(plan: &Plan, salt: u64) -> BTreeMap<StepId, String> {
    let mut base = Fnv::new();
    base.feed(&salt.to_le_bytes());
    base.feed(plan.command.as_bytes());
    base.feed(ron::to_string(&plan.observed).unwrap_or_default().as_bytes());
    plan.steps.iter().map(|step| (step.id, step_token(&base, plan, step))).collect()
}

fn step_token(base: &Fnv, plan: &Plan, step: &Step) -> String {
    let mut hash = base.clone();
    hash.feed(&step.id.0.to_le_bytes());
    hash.feed(ron::to_string(step).unwrap_or_default().as_bytes());
    hash.feed(ron::to_string(&plan.tags.get(&step.server)).unwrap_or_default().as_bytes());
    format!("cellar-{}-{:016x}", step.id.0, hash.0)
}

/// FNV-1a, 64 bits: stable across builds and platforms (the std hasher is not).
#[derive(Clone)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::plan::{Action, Scope};

    fn plan(command: &str, size_gb: u32) -> Plan {
        let server = ServerName::new("ommegang");
        let action = Action::AllocateAddress { awaiting_dns: None };
        let volume =
            Action::CreateVolume { zone: Zone::new("us-east-1a"), size_gb, ebs: EbsSettings::default(), device: None };
        let step = |id, action| Step { id: StepId(id), server: server.clone(), action, after: vec![], undo: None };
        Plan {
            format: crate::plan::PLAN_FORMAT_VERSION,
            command: command.to_string(),
            scope: Scope::new(Region::new("us-east-1")),
            observed: Vec::new(),
            steps: vec![step(1, action), step(2, volume)],
            tags: Default::default(),
            notes: Vec::new(),
            settings: Default::default(),
            fleet: None,
        }
    }

    #[test]
    fn tokens_are_stable_distinct_short_and_cover_the_parameters() {
        let a = step_tokens(&plan("create-server@ommegang 20", 20), 1);
        assert_eq!(a, step_tokens(&plan("create-server@ommegang 20", 20), 1), "same plan, same tokens");
        let again = step_tokens(&plan("create-server@ommegang 20", 20), 2);
        assert!(a.iter().all(|(id, t)| again[id] != *t), "the same plan applied again: other tokens");
        assert_ne!(a[&StepId(1)], a[&StepId(2)], "each step its own token");
        let other_command = step_tokens(&plan("create-server@ommegang 30", 20), 1);
        let other_size = step_tokens(&plan("create-server@ommegang 20", 30), 1);
        for id in [StepId(1), StepId(2)] {
            assert_ne!(a[&id], other_command[&id], "another plan, another token");
            assert!(a[&id].len() <= 64 && a[&id].is_ascii(), "{}", a[&id]);
        }
        assert_eq!(a[&StepId(1)], other_size[&StepId(1)], "an unchanged step of the same plan inputs");
        assert_ne!(a[&StepId(2)], other_size[&StepId(2)], "the step's parameters are covered");
    }
}
