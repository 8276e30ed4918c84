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

use crate::model::Tags;
use crate::plan::{Plan, Step, StepId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The tag carrying the token of the step that created a resource, for calls that take no
/// ClientToken (AllocateAddress) and for a create whose every answer was lost: looked up
/// before such a call is retried.
pub const TOKEN_TAG: &str = "cellar:token";

/// The steps' tokens of one apply, each hashed when first asked for (most steps create
/// nothing and never ask), then kept: every retry of a step reads it back.
pub(super) struct Tokens {
    base: Fnv,
    known: Mutex<BTreeMap<StepId, String>>,
}

impl Tokens {
    /// The tokens of `plan`'s steps under `salt`; `given` (a resumed journal's) are kept as they are.
    pub fn new(plan: &Plan, salt: u64, given: BTreeMap<StepId, String>) -> Self {
        let mut base = Fnv::new();
        base.feed(&salt.to_le_bytes());
        base.feed(plan.command.as_bytes());
        base.feed_ron(&plan.observed);
        Tokens { base, known: Mutex::new(given) }
    }

    /// `step`'s token (`tags`: its server's configured tags).
    pub fn get(&self, step: &Step, tags: Option<&Tags>) -> String {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.entry(step.id).or_insert_with(|| step_token(&self.base, step, tags)).clone()
    }
}

/// Every step's token, by step.
#[cfg(test)]
fn step_tokens(plan: &Plan, salt: u64) -> BTreeMap<StepId, String> {
    let tokens = Tokens::new(plan, salt, BTreeMap::new());
    plan.steps.iter().map(|step| (step.id, tokens.get(step, plan.tags.get(&step.server).map(|t| &**t)))).collect()
}

fn step_token(base: &Fnv, step: &Step, tags: Option<&Tags>) -> String {
    let mut hash = base.clone();
    hash.feed(&step.id.0.to_le_bytes());
    hash.feed_ron(step);
    hash.feed_ron(&tags);
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

    /// Feeds `value`'s RON text (as `ron::to_string` writes it) without building the string.
    fn feed_ron<T: Serialize + ?Sized>(&mut self, value: &T) {
        let _ = ron::ser::to_writer(&mut *self, value);
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.feed(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
        let volume = Action::CreateVolume {
            zone: Zone::new("us-east-1a"),
            size_gb,
            ebs: EbsSettings::default(),
            device: None,
            restore_from: None,
        };
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
            drift: Vec::new(),
        }
    }

    /// The tokens hash the RON text of the plan's parts: fed as it is written, not built
    /// first, they must stay what they were (a resumed journal's tokens must still match).
    #[test]
    fn streamed_ron_hashes_as_the_ron_string() {
        let p = plan("create-server@ommegang 20", 20);
        for step in &p.steps {
            let (mut streamed, mut built) = (Fnv::new(), Fnv::new());
            streamed.feed_ron(step);
            built.feed(ron::to_string(step).unwrap().as_bytes());
            assert_eq!(streamed.0, built.0);
        }
        // The tokens as they were hashed before, from the built strings.
        let mut base = Fnv::new();
        base.feed(&7u64.to_le_bytes());
        base.feed(p.command.as_bytes());
        base.feed(ron::to_string(&p.observed).unwrap().as_bytes());
        for step in &p.steps {
            let mut hash = base.clone();
            hash.feed(&step.id.0.to_le_bytes());
            hash.feed(ron::to_string(step).unwrap().as_bytes());
            hash.feed(ron::to_string(&p.tags.get(&step.server)).unwrap().as_bytes());
            assert_eq!(step_tokens(&p, 7)[&step.id], format!("cellar-{}-{:016x}", step.id.0, hash.0));
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
