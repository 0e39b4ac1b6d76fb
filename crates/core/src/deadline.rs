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

    /// From AWS `Lambda-Runtime-Deadline-Ms`: absolute epoch milliseconds on Lambda. Local emulators
    /// (cargo lambda watch) send the time limit itself (e.g. `600000`); any value before 2001 can only be
    /// that, so it is taken as a duration.
    pub fn from_lambda_header(value_ms: u64) -> Self {
        const YEAR_2001_MS: u64 = 978_307_200_000;
        if value_ms < YEAR_2001_MS {
            Deadline::after(Duration::from_millis(value_ms))
        } else {
            Deadline::at_epoch_ms(value_ms)
        }
    }

    /// From an absolute deadline in epoch milliseconds.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lambda_deadlines_are_absolute_or_emulator_durations() {
        let in_a_minute = crate::time::now_epoch_ms() as u64 + 60_000;
        let absolute = Deadline::from_lambda_header(in_a_minute).remaining();
        assert!(absolute > Duration::from_secs(55) && absolute <= Duration::from_secs(60));
        let relative = Deadline::from_lambda_header(600_000).remaining();
        assert!(relative > Duration::from_secs(590) && relative <= Duration::from_secs(600));
    }
}
