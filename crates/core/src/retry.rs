//! The one retry policy of every sink: exponential backoff with jitter, bounded by the invocation's
//! cut-off. Sinks that retry themselves (Elasticsearch) take delays from [`Backoff`]; clients that retry
//! inside (rskafka, the S3 SDK) are configured from the same [`RetryPolicy`] and run under the cut-off.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use crate::deadline::Deadline;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay; each later one doubles, up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Attempts a client that counts them may make in all (the S3 SDK); the deadline still ends them.
    pub max_attempts: u32,
}

impl RetryPolicy {
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        max_attempts: 10,
    };

    /// The growth factor of the delays.
    pub const FACTOR: u32 = 2;

    pub fn backoff(self) -> Backoff {
        Backoff {
            next: self.initial_delay,
            max: self.max_delay,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The delay before the next attempt (half fixed, half random, so concurrent retries spread out), or
    /// `None` when waiting it plus `attempt_budget` would pass the deadline's cut-off.
    pub fn next_delay(&mut self, deadline: Deadline, attempt_budget: Duration) -> Option<Duration> {
        let delay = self.step();
        (delay + attempt_budget < deadline.remaining()).then_some(delay)
    }

    /// The delay before the next attempt, for a loop no deadline bounds (the runtime API's long poll).
    pub fn step(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * RetryPolicy::FACTOR).min(self.max);
        let jitter = RandomState::new().hash_one(std::time::Instant::now()) % (base.as_millis() as u64 / 2 + 1);
        base / 2 + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delays_grow_to_the_cap_and_stop_at_the_deadline() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::DEFAULT
        };
        let mut backoff = policy.backoff();
        let far = Deadline::after(Duration::from_secs(60));
        let delays: Vec<Duration> = (0..4)
            .map(|_| backoff.next_delay(far, Duration::ZERO).unwrap())
            .collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(200) && delays[3] <= Duration::from_millis(400));
        let near = Deadline::after(Duration::from_millis(300));
        assert_eq!(backoff.next_delay(near, Duration::from_millis(100)), None);
    }
}
