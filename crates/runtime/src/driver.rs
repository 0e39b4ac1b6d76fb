//! One invocation: decode the event, hand the batch (or the timer) to the handler within the deadline, and
//! turn the outcome into the invocation result (or an error, so the trigger re-delivers).

use std::time::Instant;

use ckafka_dump_core::{decode, Deadline, Delivery, Drained, Error, Event, Format, PartitionSpan, Retryable};
use serde::{Serialize, Serializer};
use tracing::Instrument;

use crate::handler::Handler;

/// What the invocation was given: a record batch of a trigger format, or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Records(Format),
    Timer,
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventKind::Records(format) => format.serialize(serializer),
            EventKind::Timer => serializer.serialize_str("timer"),
        }
    }
}

/// The invocation result: returned to the runtime and logged as one `info` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub format: EventKind,
    pub records: usize,
    pub bytes: usize,
    pub written: usize,
    pub dead_lettered: usize,
    pub skipped: usize,
    /// Scheduled runs: partitions another run was draining, left to it.
    #[serde(skip_serializing_if = "is_zero")]
    pub partitions_held_elsewhere: usize,
    pub target: String,
    pub ms: u64,
}

/// What `invoke --dry-run` prints: the decoded batch, no target touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub format: EventKind,
    pub records: usize,
    pub bytes: usize,
    pub partitions: Vec<PartitionSpan>,
}

pub fn dry_run(event: &str) -> Result<DryRun, Error> {
    Ok(match decode(event)? {
        Event::Records(batch) => DryRun {
            format: EventKind::Records(batch.format),
            records: batch.len(),
            bytes: batch.payload_len(),
            partitions: batch.partitions(),
        },
        Event::Timer => DryRun {
            format: EventKind::Timer,
            records: 0,
            bytes: 0,
            partitions: Vec::new(),
        },
    })
}

pub async fn invoke<H: Handler>(
    handler: &H,
    event: &str,
    deadline: Deadline,
    request_id: &str,
) -> Result<Summary, Error> {
    let span = tracing::info_span!("invocation", request_id, target = %handler.target());
    async {
        let started = Instant::now();
        tracing::debug!(
            time_left_ms = deadline.remaining().as_millis() as u64,
            "invocation started"
        );
        let result = deliver(handler, event, deadline, started).await;
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(s) => tracing::info!(
                format = ?s.format, records = s.records, bytes = s.bytes, written = s.written,
                dead_lettered = s.dead_lettered, skipped = s.skipped,
                partitions_held_elsewhere = s.partitions_held_elsewhere, failed = 0, ms,
                "invocation done"
            ),
            Err(e) => tracing::error!(error = %e, retryable = e.is_retryable(), ms, "invocation failed"),
        }
        result
    }
    .instrument(span)
    .await
}

async fn deliver<H: Handler>(handler: &H, event: &str, deadline: Deadline, started: Instant) -> Result<Summary, Error> {
    let batch = match decode(event)? {
        Event::Records(batch) => batch,
        Event::Timer => return run_timer(handler, deadline, started).await,
    };
    let records = batch.len();
    let target = handler.target();
    let delivery = if records == 0 {
        Delivery::default()
    } else {
        let pending = format!("all {records} records were");
        within_deadline(handler.write(&batch, deadline), &target, &pending, deadline, started).await?
    };
    if delivery.accounted() != records {
        return Err(Error::Unaccounted {
            target,
            records,
            accounted: delivery.accounted(),
        });
    }
    Ok(Summary {
        format: EventKind::Records(batch.format),
        records,
        bytes: batch.payload_len(),
        written: delivery.written,
        dead_lettered: delivery.dead_lettered,
        skipped: delivery.skipped,
        partitions_held_elsewhere: 0,
        target,
        ms: started.elapsed().as_millis() as u64,
    })
}

async fn run_timer<H: Handler>(handler: &H, deadline: Deadline, started: Instant) -> Result<Summary, Error> {
    let target = handler.target();
    let run = handler.run_scheduled(deadline);
    let Drained {
        records,
        bytes,
        held_elsewhere,
    } = within_deadline(run, &target, "the scheduled run's objects were", deadline, started).await?;
    Ok(Summary {
        format: EventKind::Timer,
        records,
        bytes,
        written: records,
        dead_lettered: 0,
        skipped: 0,
        partitions_held_elsewhere: held_elsewhere,
        target,
        ms: started.elapsed().as_millis() as u64,
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Runs the handler's work, failing it at the deadline's cut-off so the function still answers in time.
async fn within_deadline<T>(
    work: impl std::future::Future<Output = Result<T, Error>>,
    target: &str,
    pending: &str,
    deadline: Deadline,
    started: Instant,
) -> Result<T, Error> {
    match tokio::time::timeout_at(deadline.cutoff(), work).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Error::Deadline {
            target: target.to_owned(),
            pending: pending.to_owned(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        }),
    }
}
