//! One invocation: decode the event, hand the batch to the sink within the deadline, and turn the
//! outcome into the invocation result (or an error, so the trigger re-delivers).

use std::time::Instant;

use serde::Serialize;
use tracing::Instrument;

use crate::deadline::Deadline;
use crate::decode::decode;
use crate::error::{Error, Retryable};
use crate::record::{Format, PartitionSpan};
use crate::sink::{Delivery, Drained, Sink};

/// The invocation result: returned to the runtime and logged as one `info` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub format: Format,
    pub records: usize,
    pub bytes: usize,
    pub written: usize,
    pub dead_lettered: usize,
    pub skipped: usize,
    pub target: String,
    pub ms: u64,
}

/// What `invoke --dry-run` prints: the decoded batch, no target touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub format: Format,
    pub records: usize,
    pub bytes: usize,
    pub partitions: Vec<PartitionSpan>,
}

pub fn dry_run(event: &str) -> Result<DryRun, Error> {
    let batch = decode(event)?;
    Ok(DryRun {
        format: batch.format,
        records: batch.len(),
        bytes: batch.payload_len(),
        partitions: batch.partitions(),
    })
}

pub async fn invoke<S: Sink>(sink: &S, event: &str, deadline: Deadline, request_id: &str) -> Result<Summary, Error> {
    let span = tracing::info_span!("invocation", request_id, target = %sink.target());
    async {
        let started = Instant::now();
        tracing::debug!(
            time_left_ms = deadline.remaining().as_millis() as u64,
            "invocation started"
        );
        let result = deliver(sink, event, deadline, started).await;
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(s) => tracing::info!(
                format = ?s.format, records = s.records, bytes = s.bytes, written = s.written,
                dead_lettered = s.dead_lettered, skipped = s.skipped, failed = 0, ms,
                "invocation done"
            ),
            Err(e) => tracing::error!(error = %e, retryable = e.is_retryable(), ms, "invocation failed"),
        }
        result
    }
    .instrument(span)
    .await
}

async fn deliver<S: Sink>(sink: &S, event: &str, deadline: Deadline, started: Instant) -> Result<Summary, Error> {
    let batch = decode(event)?;
    if batch.format == Format::Timer {
        return run_timer(sink, deadline, started).await;
    }
    let records = batch.len();
    let target = sink.target();
    let delivery = if records == 0 {
        Delivery::default()
    } else {
        // Boxed: sink futures nest deeply (rskafka), and inlining them into every runtime's future type
        // overflows the compiler's layout query depth.
        let write = Box::pin(sink.write(&batch, deadline));
        within_deadline(
            write,
            &target,
            &format!("all {records} records were"),
            deadline,
            started,
        )
        .await?
    };
    if delivery.accounted() != records {
        return Err(Error::Unaccounted {
            target,
            records,
            accounted: delivery.accounted(),
        });
    }
    Ok(Summary {
        format: batch.format,
        records,
        bytes: batch.payload_len(),
        written: delivery.written,
        dead_lettered: delivery.dead_lettered,
        skipped: delivery.skipped,
        target,
        ms: started.elapsed().as_millis() as u64,
    })
}

async fn run_timer<S: Sink>(sink: &S, deadline: Deadline, started: Instant) -> Result<Summary, Error> {
    let target = sink.target();
    let Some(run) = sink.on_timer(deadline) else {
        return Err(Error::Usage(format!(
            "{target}: got a timer event, but this function has no scheduled mode; give it a Kafka trigger"
        )));
    };
    let Drained { records, bytes } = within_deadline(
        Box::pin(run),
        &target,
        "the scheduled run's objects were",
        deadline,
        started,
    )
    .await?;
    Ok(Summary {
        format: Format::Timer,
        records,
        bytes,
        written: records,
        dead_lettered: 0,
        skipped: 0,
        target,
        ms: started.elapsed().as_millis() as u64,
    })
}

/// Runs a sink's work, failing it at the deadline's safety margin so the function still answers in time.
async fn within_deadline<T, E: std::error::Error + Retryable>(
    work: impl std::future::Future<Output = Result<T, E>>,
    target: &str,
    pending: &str,
    deadline: Deadline,
    started: Instant,
) -> Result<T, Error> {
    match tokio::time::timeout_at(deadline.with_safety_margin().instant(), work).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(Error::sink(target, &e)),
        Err(_elapsed) => Err(Error::Deadline {
            target: target.to_owned(),
            pending: pending.to_owned(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        }),
    }
}
