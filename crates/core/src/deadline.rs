use std::time::Duration;

use tokio::time::Instant;

/// The longest an invocation may run (SCF event functions and Lambda: 15 min): no wait or timeout is longer.
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(900);

/// When the platform will kill the invocation, and the cut-off fixed with it: a tenth of the time limit
/// before the end, at most 500 ms. Sinks stop retrying at the cut-off and the driver stops waiting for
/// them there, so the error still reaches the runtime API. Every holder of a copy sees the same cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    end: Instant,
    cutoff: Instant,
}

const MAX_MARGIN: Duration = Duration::from_millis(500);

impl Deadline {
    pub fn after(limit: Duration) -> Self {
        let end = Instant::now() + limit;
        Deadline {
            end,
            cutoff: end - (limit / 10).min(MAX_MARGIN),
        }
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

    /// When the platform ends the invocation.
    pub fn end(self) -> Instant {
        self.end
    }

    /// When work must have finished (or failed) so the result can still be reported.
    pub fn cutoff(self) -> Instant {
        self.cutoff
    }

    /// Time left before the cut-off.
    pub fn remaining(self) -> Duration {
        self.cutoff.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lambda_deadlines_are_absolute_or_emulator_durations() {
        let in_a_minute = crate::time::now_epoch_ms() as u64 + 60_000;
        let absolute = Deadline::from_lambda_header(in_a_minute).remaining();
        assert!(absolute > Duration::from_secs(54) && absolute <= Duration::from_secs(60));
        let relative = Deadline::from_lambda_header(600_000).remaining();
        assert!(relative > Duration::from_secs(590) && relative <= Duration::from_secs(600));
    }

    #[tokio::test]
    async fn the_cutoff_is_fixed_when_the_deadline_is_made() {
        let deadline = Deadline::after(Duration::from_secs(3));
        assert_eq!(deadline.end() - deadline.cutoff(), Duration::from_millis(300));
        let long = Deadline::after(Duration::from_secs(60));
        assert_eq!(long.end() - long.cutoff(), MAX_MARGIN);
        let copy = long;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(copy.cutoff(), long.cutoff());
    }
}
