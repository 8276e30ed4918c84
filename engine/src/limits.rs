//! AWS's API rate limits as token buckets, and their arithmetic.
//!
//! EC2 (the "Request throttling for the Amazon EC2 API" guide) limits each API action on
//! its own ("limits are applied to individual API actions, not API action categories"):
//! every action has a request bucket of its category's size (non-mutating 100, refill
//! 20/s; mutating 50, 5/s) or of its own (the guide's "uncategorized actions": RunInstances
//! 5, 2/s; TerminateInstances, CreateVolume, DeleteVolume, CreateSnapshot,
//! CreateLaunchTemplateVersion 100, 5/s; CreateTags, DeleteTags 100, 10/s; CopyImage 100,
//! 1/s). DeleteSnapshot and CopySnapshot have no figure of their own that cellar could
//! find in the guide, so they keep the mutating category's bucket (50, 5/s): the smaller,
//! so nothing relies on more. A describe of instances, volumes, snapshots or security groups sent with neither a
//! filter nor pagination draws from that action's smaller unfiltered bucket (50, 10/s)
//! instead. RunInstances and TerminateInstances also draw one token per instance from a
//! resource bucket (1000, 2/s and 1000, 20/s). Amazon EC2 Auto Scaling has one bucket
//! shared by all its actions, separate from EC2's; AWS publishes no figure for it, so
//! cellar assumes a small one ([`AUTO_SCALING_RATE`]). STS and the DNS resolver are not
//! limited here.
//!
//! [`crate::api::Api::buckets`] says which buckets a call draws from. The simulator
//! enforces them server-side (`RequestLimitExceeded`, Auto Scaling's `Throttling`); the
//! [`crate::caller::Caller`] mirrors them client-side so a big apply slows down instead of
//! failing.

use crate::api::Api;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Amazon EC2 Auto Scaling's shared bucket: (capacity, refill per second). Not published
/// by AWS; chosen small (stricter than what accounts see) so nothing relies on more.
pub const AUTO_SCALING_RATE: (f64, f64) = (40.0, 8.0);

/// One token bucket, per account and region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    /// The request bucket of one EC2 action.
    Request(Api),
    /// The smaller bucket of an unfiltered, unpaginated describe (DescribeInstances,
    /// DescribeVolumes, DescribeSnapshots, DescribeSecurityGroups).
    Unfiltered(Api),
    /// The resource bucket of RunInstances or TerminateInstances: a token per instance.
    Resource(Api),
    /// Every Amazon EC2 Auto Scaling action.
    AutoScaling,
}

impl Bucket {
    /// (capacity, refill per second), as the EC2 guide's tables give them.
    pub fn rate(self) -> (f64, f64) {
        match self {
            Bucket::Request(api) => match api {
                Api::RunInstances => (5.0, 2.0),
                Api::TerminateInstances
                | Api::CreateVolume
                | Api::DeleteVolume
                | Api::CreateSnapshot
                | Api::CreateLaunchTemplateVersion => (100.0, 5.0),
                Api::CreateTags | Api::DeleteTags => (100.0, 10.0),
                Api::CopyImage => (100.0, 1.0),
                api if api.is_mutating() => (50.0, 5.0),
                _ => (100.0, 20.0),
            },
            Bucket::Unfiltered(_) => (50.0, 10.0),
            Bucket::Resource(Api::TerminateInstances) => (1000.0, 20.0),
            Bucket::Resource(_) => (1000.0, 2.0),
            Bucket::AutoScaling => AUTO_SCALING_RATE,
        }
    }

    /// `DescribeInstances`, `DescribeInstances unfiltered`, `RunInstances instances`,
    /// `AutoScaling` (log lines and the simulator's state file).
    pub fn name(self) -> String {
        match self {
            Bucket::Request(api) => api.name().to_string(),
            Bucket::Unfiltered(api) => format!("{api} unfiltered"),
            Bucket::Resource(api) => format!("{api} instances"),
            Bucket::AutoScaling => "AutoScaling".to_string(),
        }
    }

    /// Reads [`Bucket::name`] back.
    pub fn parse(name: &str) -> Option<Bucket> {
        if name == "AutoScaling" {
            return Some(Bucket::AutoScaling);
        }
        if let Some(api) = name.strip_suffix(" unfiltered") {
            return Api::parse(api).map(Bucket::Unfiltered);
        }
        if let Some(api) = name.strip_suffix(" instances") {
            return Api::parse(api).map(Bucket::Resource);
        }
        Api::parse(name).map(Bucket::Request)
    }

    /// The tokens a burst of `calls` needs beyond what a full bucket holds, in seconds of
    /// refill: the least time `calls` calls from a full bucket take.
    pub fn least_seconds(self, calls: u64) -> f64 {
        let (capacity, per_second) = self.rate();
        (calls as f64 - capacity).max(0.0) / per_second
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Bucket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Bucket {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Bucket::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown token bucket `{name}`")))
    }
}

/// The spread of AWS's API latencies a client allows for when it paces its calls (see
/// [`TokenBucket::margin`]).
const JITTER_ALLOWANCE_SECS: f64 = 0.25;

/// A token bucket on a clock of milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBucket {
    pub tokens: f64,
    pub updated_ms: u64,
}

impl TokenBucket {
    pub fn full(bucket: Bucket, now_ms: u64) -> Self {
        TokenBucket { tokens: bucket.rate().0, updated_ms: now_ms }
    }

    fn refill(&mut self, bucket: Bucket, now_ms: u64) {
        let (capacity, per_second) = bucket.rate();
        let elapsed = now_ms.saturating_sub(self.updated_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// Whether a token is there now (taking none).
    pub fn has_token(&mut self, bucket: Bucket, now_ms: u64) -> bool {
        self.refill(bucket, now_ms);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, bucket: Bucket, now_ms: u64) -> bool {
        let there = self.has_token(bucket, now_ms);
        if there {
            self.tokens -= 1.0;
        }
        there
    }

    /// Empties the bucket (the cloud said it is empty: a throttled answer).
    pub fn drain(&mut self, bucket: Bucket, now_ms: u64) {
        self.refill(bucket, now_ms);
        self.tokens = self.tokens.min(0.0);
    }

    /// Takes a token now or, if there is none, reserves the next one (the bucket goes into
    /// debt, so later callers queue behind): the milliseconds until the token is there (0:
    /// at once). A client's reservations keep [`TokenBucket::margin`] tokens in hand: calls
    /// sent the refill interval apart can arrive closer together (their latencies differ),
    /// and AWS counts them when they arrive.
    pub fn reserve(&mut self, bucket: Bucket, now_ms: u64) -> u64 {
        self.refill(bucket, now_ms);
        let wanted = 1.0 + Self::margin(bucket);
        let wait =
            if self.tokens >= wanted { 0 } else { ((wanted - self.tokens) / bucket.rate().1 * 1000.0).ceil() as u64 };
        self.tokens -= 1.0;
        wait
    }

    /// The tokens a client keeps in hand for calls that arrive sooner after each other than
    /// they were sent: a quarter of a second of refill (at least one, less than the bucket
    /// holds). It costs the burst that many calls, not the rate.
    pub fn margin(bucket: Bucket) -> f64 {
        let (capacity, per_second) = bucket.rate();
        (per_second * JITTER_ALLOWANCE_SECS).ceil().max(1.0).min(capacity - 1.0).max(0.0)
    }

    /// Milliseconds until a token is available (0 if one is).
    pub fn wait_ms(&mut self, bucket: Bucket, now_ms: u64) -> u64 {
        self.refill(bucket, now_ms);
        if self.tokens >= 1.0 {
            0
        } else {
            ((1.0 - self.tokens) / bucket.rate().1 * 1000.0).ceil() as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_empty_and_refill() {
        let b = Bucket::Request(Api::RunInstances);
        let mut t = TokenBucket::full(b, 0);
        for _ in 0..5 {
            assert!(t.try_take(b, 0));
        }
        assert!(!t.try_take(b, 0), "5 requests, then throttled");
        assert_eq!(t.wait_ms(b, 0), 500, "2 per second");
        assert!(t.try_take(b, 500));
        assert!(!t.try_take(b, 500));
        assert!(t.try_take(b, 100_000));
        t.drain(b, 100_000);
        assert_eq!(t.wait_ms(b, 100_000), 500, "drained: a token in 500 ms");
    }

    #[test]
    fn reservations_queue_in_order() {
        let b = Bucket::Request(Api::RunInstances);
        let mut t = TokenBucket::full(b, 0);
        let waits: Vec<u64> = (0..8).map(|_| t.reserve(b, 0)).collect();
        assert_eq!(TokenBucket::margin(b), 1.0, "a quarter second of 2 a second, rounded up");
        assert_eq!(waits, [0, 0, 0, 0, 500, 1000, 1500, 2000], "4 at once (one kept in hand), then one every 500 ms");
        // Half a second on, one reservation has matured; the next caller queues behind the rest.
        assert_eq!(t.reserve(b, 500), 2000);
        t.drain(b, 500);
        assert_eq!(t.reserve(b, 500), 2500, "a throttled answer keeps the queue");
    }

    #[test]
    fn rates_follow_the_ec2_guide() {
        // (bucket, capacity, refill per second)
        let table = [
            (Bucket::Request(Api::DescribeInstances), 100.0, 20.0),
            (Bucket::Request(Api::DescribeAutoScalingGroups), 100.0, 20.0),
            (Bucket::Unfiltered(Api::DescribeVolumes), 50.0, 10.0),
            (Bucket::Request(Api::AttachVolume), 50.0, 5.0),
            (Bucket::Request(Api::AllocateAddress), 50.0, 5.0),
            (Bucket::Request(Api::RunInstances), 5.0, 2.0),
            (Bucket::Resource(Api::RunInstances), 1000.0, 2.0),
            (Bucket::Request(Api::TerminateInstances), 100.0, 5.0),
            (Bucket::Resource(Api::TerminateInstances), 1000.0, 20.0),
            (Bucket::Request(Api::CreateVolume), 100.0, 5.0),
            (Bucket::Request(Api::DeleteVolume), 100.0, 5.0),
            (Bucket::Request(Api::CreateTags), 100.0, 10.0),
            (Bucket::Request(Api::CreateLaunchTemplateVersion), 100.0, 5.0),
            (Bucket::Request(Api::CreateLaunchTemplate), 50.0, 5.0),
            (Bucket::Request(Api::CopyImage), 100.0, 1.0),
            (Bucket::Request(Api::DeleteSnapshot), 50.0, 5.0),
            (Bucket::Request(Api::CopySnapshot), 50.0, 5.0),
            (Bucket::AutoScaling, AUTO_SCALING_RATE.0, AUTO_SCALING_RATE.1),
        ];
        for (bucket, capacity, refill) in table {
            assert_eq!(bucket.rate(), (capacity, refill), "{bucket}");
            assert_eq!(Bucket::parse(&bucket.name()), Some(bucket), "{bucket} round trips");
        }
        assert_eq!(Bucket::parse("Nothing"), None);
        assert_eq!(Bucket::Request(Api::RunInstances).least_seconds(25), 10.0);
        assert_eq!(Bucket::Request(Api::RunInstances).least_seconds(3), 0.0);
    }
}
