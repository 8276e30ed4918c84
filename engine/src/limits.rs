//! AWS's API rate limits as token buckets (the EC2 throttling guide): the buckets and
//! their arithmetic; [`crate::api::Api::bucket`] says which bucket a call draws from. The
//! simulator enforces them server-side (`RequestLimitExceeded`); the executor mirrors them
//! client-side so a big apply slows down instead of failing.

use serde::{Deserialize, Serialize};

/// The buckets, per account and region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Bucket {
    /// Describe* and other reads.
    NonMutating,
    /// DescribeInstances / DescribeVolumes without a filter (cellar's `Filter::All`).
    UnfilteredDescribe,
    /// Other changes.
    Mutating,
    RunInstances,
    TerminateInstances,
    /// CreateVolume and DeleteVolume.
    VolumeCreateDelete,
    /// CreateTags and DeleteTags.
    Tags,
}

impl Bucket {
    /// (capacity, refill per second).
    pub fn rate(self) -> (f64, f64) {
        match self {
            Bucket::NonMutating => (100.0, 20.0),
            Bucket::UnfilteredDescribe => (50.0, 10.0),
            Bucket::Mutating => (50.0, 5.0),
            Bucket::RunInstances => (5.0, 2.0),
            Bucket::TerminateInstances => (100.0, 5.0),
            Bucket::VolumeCreateDelete => (100.0, 5.0),
            Bucket::Tags => (100.0, 10.0),
        }
    }
}

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

    /// Takes a token if there is one.
    pub fn try_take(&mut self, bucket: Bucket, now_ms: u64) -> bool {
        self.refill(bucket, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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
        let b = Bucket::RunInstances;
        let mut t = TokenBucket::full(b, 0);
        for _ in 0..5 {
            assert!(t.try_take(b, 0));
        }
        assert!(!t.try_take(b, 0), "5 requests, then throttled");
        assert_eq!(t.wait_ms(b, 0), 500, "2 per second");
        assert!(t.try_take(b, 500));
        assert!(!t.try_take(b, 500));
        assert!(t.try_take(b, 100_000));
    }
}
