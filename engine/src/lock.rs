//! Server locks: one operator at a time per server.
//!
//! `cellar apply` takes the lock of every server its plan touches before it re-reads the
//! world, and releases it when it ends. The lock is an object whose name is unique in an
//! account and region, so that taking it is one atomic create: a second create of the
//! same name fails with `AlreadyExists`. On AWS it is a launch template named
//! `cellar-lock.<server>` ([`object_name`]; CreateLaunchTemplate of a taken name fails with
//! `InvalidLaunchTemplateName.AlreadyExistsException`); the simulator models the same
//! namespace. The holder is carried as tags ([`LockHolder::to_tags`]).
//!
//! A lock is never one of a server's own resources: it carries no `Name` tag (so no
//! `Filter::Server` read, the inventory, `status` or the doctor ever sees it), and its name
//! has a `.`, which no server name and so no name cellar gives a template can have.

use crate::model::{ServerName, Tags};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The tag naming the server a lock object is for.
pub const LOCK_TAG: &str = "cellar:lock";
const PID_TAG: &str = "cellar:lock-pid";
const HOST_TAG: &str = "cellar:lock-host";
const USER_TAG: &str = "cellar:lock-user";
const COMMAND_TAG: &str = "cellar:lock-command";
const SINCE_TAG: &str = "cellar:lock-since";
const PLAN_TAG: &str = "cellar:lock-plan";

/// AWS's longest tag value, in characters.
const TAG_VALUE_LIMIT: usize = 256;

/// The name of `server`'s lock object: `cellar-lock.<server>` (a launch template's name on
/// AWS: 3 to 128 characters of `[a-zA-Z0-9().-/_]`, which every server name fits).
pub fn object_name(server: &ServerName) -> String {
    format!("cellar-lock.{server}")
}

/// Who holds a server's lock, as its lock object tells it. Every field is optional: a lock
/// object made by hand (or by a newer cellar) may lack some.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockHolder {
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub user: Option<String>,
    /// The command line (`cellar apply ommegang.plan.ron`), cut to 256 characters.
    pub command: Option<String>,
    /// When it was taken, RFC 3339, by the holder's own wall clock.
    pub since: Option<String>,
    /// The digest of the plan the holder applies (an apply of the same plan may take over
    /// the lock its killed predecessor left).
    pub plan: Option<String>,
}

/// Cuts `value` to AWS's tag value limit, on a character boundary.
fn tag_value(value: &str) -> String {
    value.chars().take(TAG_VALUE_LIMIT).collect()
}

impl LockHolder {
    /// The lock object's tags for `server`.
    pub fn to_tags(&self, server: &ServerName) -> Tags {
        let mut tags = Tags::new();
        tags.insert(LOCK_TAG.to_string(), server.to_string());
        let fields = [
            (PID_TAG, self.pid.map(|p| p.to_string())),
            (HOST_TAG, self.host.clone()),
            (USER_TAG, self.user.clone()),
            (COMMAND_TAG, self.command.clone()),
            (SINCE_TAG, self.since.clone()),
            (PLAN_TAG, self.plan.clone()),
        ];
        for (key, value) in fields {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                tags.insert(key.to_string(), tag_value(&value));
            }
        }
        tags
    }

    /// The holder a lock object's tags name (unknown fields stay `None`).
    pub fn from_tags(tags: &Tags) -> LockHolder {
        let get = |key: &str| tags.get(key).cloned();
        LockHolder {
            pid: tags.get(PID_TAG).and_then(|p| p.parse().ok()),
            host: get(HOST_TAG),
            user: get(USER_TAG),
            command: get(COMMAND_TAG),
            since: get(SINCE_TAG),
            plan: get(PLAN_TAG),
        }
    }

    /// Whether `self` and `other` are the same holder (the same process taking it at the
    /// same time): what a lock create whose answer was lost finds when it looks.
    pub fn same_as(&self, other: &LockHolder) -> bool {
        self.pid.is_some() && self.since.is_some() && self == other
    }
}

/// One line: `pid 4242 on host1 (user ann) since 2026-11-26T13:00:00Z: cellar apply x.plan.ron`.
impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("an unknown process")?,
        }
        write!(f, " on {}", self.host.as_deref().unwrap_or("an unknown host"))?;
        if let Some(user) = &self.user {
            write!(f, " (user {user})")?;
        }
        write!(f, " since {}", self.since.as_deref().unwrap_or("an unknown time"))?;
        write!(f, ": {}", self.command.as_deref().unwrap_or("an unknown command"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> LockHolder {
        LockHolder {
            pid: Some(4242),
            host: Some("build1".into()),
            user: Some("ann".into()),
            command: Some("cellar apply ommegang.plan.ron".into()),
            since: Some("2026-11-26T13:00:00Z".into()),
            plan: Some("cbf29ce484222325".into()),
        }
    }

    #[test]
    fn names_never_collide_with_a_server_s() {
        let server = ServerName::new("ommegang");
        assert_eq!(object_name(&server), "cellar-lock.ommegang");
        assert!(ServerName::parse(&object_name(&server)).is_err());
    }

    #[test]
    fn holders_round_trip_through_tags() {
        let server = ServerName::new("ommegang");
        for h in [holder(), LockHolder::default(), LockHolder { user: None, plan: None, ..holder() }] {
            let tags = h.to_tags(&server);
            assert_eq!(tags.get(LOCK_TAG).map(String::as_str), Some("ommegang"));
            assert!(!tags.contains_key(crate::model::NAME_TAG), "a lock is no server's resource");
            assert_eq!(LockHolder::from_tags(&tags), h);
        }
    }

    #[test]
    fn long_commands_are_cut_to_a_tag_value() {
        let long = LockHolder { command: Some("é".repeat(300)), ..holder() };
        let tags = long.to_tags(&ServerName::new("x"));
        assert_eq!(tags[COMMAND_TAG].chars().count(), 256);
    }

    #[test]
    fn rendering() {
        for (h, expected) in [
            (holder(), "pid 4242 on build1 (user ann) since 2026-11-26T13:00:00Z: cellar apply ommegang.plan.ron"),
            (LockHolder::default(), "an unknown process on an unknown host since an unknown time: an unknown command"),
        ] {
            assert_eq!(h.to_string(), expected);
        }
    }

    #[test]
    fn sameness_needs_a_pid_and_a_time() {
        assert!(holder().same_as(&holder()));
        assert!(!holder().same_as(&LockHolder { pid: Some(1), ..holder() }));
        assert!(!LockHolder::default().same_as(&LockHolder::default()));
    }
}
