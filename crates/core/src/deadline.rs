use std::time::Duration;

use tokio::time::Instant;

/// When the platform will kill the invocation. Sinks stop retrying before it; the driver stops waiting
/// for the sink a safety margin before it so the error still reaches the runtime API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(limit: Duration) -> Self {
        Deadline(Instant::now() + limit)
    }

    /// From an absolute deadline in epoch milliseconds (AWS `Lambda-Runtime-Deadline-Ms`).
    pub fn at_epoch_ms(epoch_ms: u64) -> Self {
        let now_ms = crate::time::now_epoch_ms().max(0) as u64;
        Deadline::after(Duration::from_millis(epoch_ms.saturating_sub(now_ms)))
    }

    pub fn instant(self) -> Instant {
        self.0
    }

    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The point at which the driver gives up on the sink: a tenth of the remaining time before the
    /// deadline, at most 500 ms before it.
    pub fn with_safety_margin(self) -> Deadline {
        let margin = (self.remaining() / 10).min(Duration::from_millis(500));
        Deadline(self.0 - margin)
    }
}
