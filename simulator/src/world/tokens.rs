//! Client tokens (AWS's idempotency) for the calls that take one besides CreateVolume
//! (`volumes.rs`): CreateLaunchTemplate, CreateLaunchTemplateVersion and CopyImage, and
//! RunInstances once its instance is gone.
//!
//! AWS: the same token with the same parameters returns the first answer and does
//! nothing more; other parameters give `IdempotentParameterMismatch`; tokens are per
//! region. A RunInstances token is valid "for at least 24 hours after the termination of
//! the instance": while the instance exists its token is in `client_tokens`
//! (`instances.rs`, compared with the live instance); when it disappears it moves here
//! with the instance as it was, for [`INSTANCE_TOKEN_SECS`] more. The other tokens are
//! kept for good (as CreateVolume's).
//!
//! Invariants: a key is `<operation>/<region>/<token>`, so a token names at most one
//! answer per operation and region; `params` is the request's parameters but the token,
//! in one fixed form per operation.

use super::{err, SimInstance, World};
use cellar_engine::api::Api;
use cellar_engine::cloud::{CloudErrorKind as K, CloudResult};
use cellar_engine::model::{Image, LaunchTemplate, Region, Timestamp};
use serde::{Deserialize, Serialize};

/// How long a RunInstances token outlives its instance's removal (AWS: at least 24 hours
/// after termination; the instance is removed an hour after it, so this is 24 more).
pub const INSTANCE_TOKEN_SECS: u64 = 24 * 3600;

/// The first answer to a call with a client token, and what it was asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAnswer {
    /// The request's parameters (all but the token), as compared on a repeat.
    pub params: String,
    pub answer: Answer,
    /// When the token is forgotten (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

/// What the first call answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    LaunchTemplate(LaunchTemplate),
    Image(Image),
    /// A RunInstances whose instance is gone: the instance as it was last.
    Instance(Box<SimInstance>),
}

pub(crate) fn key(api: Api, region: &Region, token: &str) -> String {
    format!("{}/{region}/{token}", api.name())
}

impl World {
    /// The first answer to `api` with `token` in `region`, if the token was used and has
    /// not expired; `IdempotentParameterMismatch` if it was used with other parameters.
    pub(super) fn token_answer(
        &self,
        api: Api,
        region: &Region,
        token: Option<&str>,
        params: &str,
    ) -> CloudResult<Option<Answer>> {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
        let Some(kept) = self.tokens.get(&key(api, region, token)) else { return Ok(None) };
        if kept.expires.is_some_and(|at| at <= self.now) {
            return Ok(None);
        }
        if kept.params != params {
            return Err(err(
                K::Other("IdempotentParameterMismatch".into()),
                format!("The client token {token} was used for another {} request with other parameters.", api.name()),
            ));
        }
        Ok(Some(kept.answer.clone()))
    }

    /// Keeps the first answer to `api` with `token` (nothing without a token); forgets
    /// the expired ones.
    pub(super) fn keep_token_answer(
        &mut self,
        api: Api,
        region: &Region,
        token: Option<&str>,
        (params, answer, expires): (String, Answer, Option<Timestamp>),
    ) {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return };
        let now = self.now;
        self.tokens.retain(|_, kept| kept.expires.is_none_or(|at| at > now));
        self.tokens.insert(key(api, region, token), TokenAnswer { params, answer, expires });
    }

    /// A client token's problem, if any: AWS takes at most 64 ASCII characters (128 for
    /// launch templates).
    pub(super) fn check_client_token(token: Option<&str>, max: usize) -> CloudResult<()> {
        match token {
            Some(t) if t.len() > max || !t.is_ascii() => Err(err(
                K::InvalidParameterValue,
                format!("Value ({t}) for parameter clientToken is invalid: at most {max} ASCII characters."),
            )),
            _ => Ok(()),
        }
    }
}
