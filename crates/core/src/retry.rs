//! Bounded exponential backoff with jitter, always inside the invocation's deadline.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use crate::deadline::Deadline;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { next: initial, max }
    }

    /// The delay before the next attempt (half fixed, half random, so concurrent retries spread out), or
    /// `None` when waiting it plus `attempt_budget` would pass the deadline.
    pub fn next_delay(&mut self, deadline: Deadline, attempt_budget: Duration) -> Option<Duration> {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = RandomState::new().hash_one(std::time::Instant::now()) % (base.as_millis() as u64 / 2 + 1);
        let delay = base / 2 + Duration::from_millis(jitter);
        (delay + attempt_budget < deadline.with_safety_margin().remaining()).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delays_grow_to_the_cap_and_stop_at_the_deadline() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
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
