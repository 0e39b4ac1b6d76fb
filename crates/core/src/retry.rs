//! The one retry policy of every sink: exponential backoff with jitter, bounded by the invocation's
//! cut-off. Code that retries itself (Elasticsearch bulk requests, SQL batches, the SCF runtime API, lease
//! waits) asks [`Retries`] before each attempt after the first; clients that retry inside (rskafka, the S3 SDK) are
//! configured from the same [`RetryPolicy`] and run under the cut-off.

use std::fmt::Display;
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

    fn backoff(self) -> Backoff {
        Backoff {
            next: self.initial_delay,
            max: self.max_delay,
        }
    }

    /// The retries of one piece of work (`what`, for the logs) within `bound`.
    pub fn retries(self, what: &str, bound: Bound) -> Retries<'_> {
        Retries {
            what,
            bound,
            backoff: self.backoff(),
            attempt: 1,
        }
    }
}

/// Until when attempts go on.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// While the next delay plus an attempt's budget ends before the deadline's cut-off.
    Cutoff {
        deadline: Deadline,
        attempt_budget: Duration,
    },
    /// At most this many attempts in all, however long they take (`None`: until one succeeds); for loops no
    /// invocation bounds (the runtime API).
    Attempts(Option<u32>),
}

/// The one retry executor: the caller's loop makes an attempt and, when it failed in a way worth another,
/// asks [`Retries::wait`] — which waits the policy's next delay, or ends the retries with the error when
/// the bound leaves no room. Each retry is logged as one `warn` line.
#[derive(Debug)]
pub struct Retries<'w> {
    what: &'w str,
    bound: Bound,
    backoff: Backoff,
    /// The number of the attempt that just failed, from 1.
    attempt: u32,
}

impl Retries<'_> {
    /// After a failed attempt worth another: waits before it, or gives `error` back when `bound` ends the
    /// retries.
    pub async fn wait<E: Display>(&mut self, error: E) -> Result<(), E> {
        let delay = match self.bound {
            Bound::Cutoff {
                deadline,
                attempt_budget,
            } => self.backoff.next_delay(deadline, attempt_budget),
            Bound::Attempts(Some(most)) if self.attempt >= most => None,
            Bound::Attempts(_) => Some(self.backoff.step()),
        };
        let Some(delay) = delay else {
            return Err(error);
        };
        tracing::warn!(%error, attempt = self.attempt, retry_in_ms = delay.as_millis() as u64, "{}: retrying", self.what);
        tokio::time::sleep(delay).await;
        self.attempt += 1;
        Ok(())
    }

    /// After a failed attempt that changed what the next one sends (smaller requests, a table read again):
    /// another at once, since waiting would gain nothing.
    pub fn again(&mut self, error: &impl Display) {
        tracing::warn!(%error, attempt = self.attempt, "{}: trying again at once", self.what);
        self.attempt += 1;
    }
}

#[derive(Debug, Clone)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The delay before the next attempt (half fixed, half random, so concurrent retries spread out), or
    /// `None` when waiting it plus `attempt_budget` would pass the deadline's cut-off.
    fn next_delay(&mut self, deadline: Deadline, attempt_budget: Duration) -> Option<Duration> {
        let delay = self.step();
        (delay + attempt_budget < deadline.remaining()).then_some(delay)
    }

    /// The delay before the next attempt, for a loop no deadline bounds.
    fn step(&mut self) -> Duration {
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

    const QUICK: RetryPolicy = RetryPolicy {
        initial_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(4),
        max_attempts: 10,
    };

    #[tokio::test]
    async fn an_attempt_bound_ends_retries_with_the_last_error() {
        let mut retries = QUICK.retries("test", Bound::Attempts(Some(3)));
        let mut failed = 0;
        let error = loop {
            failed += 1;
            if let Err(error) = retries.wait(failed).await {
                break error;
            }
        };
        assert_eq!(error, 3, "three attempts in all");
    }

    #[tokio::test]
    async fn a_cutoff_bound_ends_retries_before_the_cutoff() {
        let started = tokio::time::Instant::now();
        let bound = Bound::Cutoff {
            deadline: Deadline::after(Duration::from_millis(100)),
            attempt_budget: Duration::from_millis(10),
        };
        let mut retries = QUICK.retries("test", bound);
        retries.again(&"smaller requests");
        let mut failed = 0;
        while retries.wait(failed).await.is_ok() {
            failed += 1;
        }
        assert!(failed > 3, "retried until the cut-off");
        assert!(started.elapsed() < Duration::from_millis(100), "and stopped before it");
    }
}
