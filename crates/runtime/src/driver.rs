//! One invocation: decode the event, hand the batch (or the timer) to the handler within the deadline, and
//! turn the outcome into the invocation result (or an error, so the trigger re-delivers).

use std::time::Instant;

use base64::Engine;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::{decode, Deadline, Delivery, Drained, Error, Event, Format, PartitionSpan, Record, Retryable};
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
    /// Records the transform stage's filter left out.
    pub filtered: usize,
    /// Scheduled runs: partitions another run was draining, left to it.
    #[serde(skip_serializing_if = "is_zero")]
    pub partitions_held_elsewhere: usize,
    /// Records not written, answered as a partial batch response (`report_batch_item_failures`).
    #[serde(skip_serializing_if = "is_zero")]
    pub failed: usize,
    pub target: String,
    pub ms: u64,
    /// Lambda's partial batch response: the records to deliver again.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Vec::is_empty")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// A record of Lambda's partial batch response for Kafka: `{"itemIdentifier":{"partition":"topic-0","offset":15}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item: ItemIdentifier,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemIdentifier {
    /// `<topic>-<partition>`, as the event's `records` keys.
    pub partition: String,
    pub offset: i64,
}

/// What `invoke --dry-run` prints: the decoded batch after the transform stage, no target touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub format: EventKind,
    pub records: usize,
    pub bytes: usize,
    pub partitions: Vec<PartitionSpan>,
    pub filtered: usize,
    pub rejected: usize,
    /// `--show N`: the first N records as the sink would be given them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<serde_json::Value>,
}

pub fn dry_run(event: &str, stage: &Stage, show: usize) -> Result<DryRun, Error> {
    Ok(match decode(event)? {
        Event::Records(mut batch) => {
            let (records, bytes, partitions) = (batch.len(), batch.payload_len(), batch.partitions());
            let staging = stage.apply(&mut batch, &[]);
            DryRun {
                format: EventKind::Records(batch.format),
                records,
                bytes,
                partitions,
                filtered: staging.filtered,
                rejected: staging.rejected,
                shown: batch.records().take(show).map(|r| shown(&r, stage.zone())).collect(),
            }
        }
        Event::Timer => DryRun {
            format: EventKind::Timer,
            records: 0,
            bytes: 0,
            partitions: Vec::new(),
            filtered: 0,
            rejected: 0,
            shown: Vec::new(),
        },
    })
}

/// A record as `--show` prints it: coordinates, key, record time in the function's zone, and the value as
/// JSON when it is JSON (else as text, else base64), or why the stage rejected it.
fn shown(record: &Record<'_>, zone: &Zone) -> serde_json::Value {
    use serde_json::{json, Value};
    let value = match record.value {
        None => Value::Null,
        Some(bytes) => match (serde_json::from_slice::<Value>(bytes), record.value_str()) {
            (Ok(json), _) => json,
            (Err(_), Some(text)) => Value::String(text.to_owned()),
            (Err(_), None) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
        },
    };
    let mut out = json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.map(String::from_utf8_lossy),
        "time": record.timestamp.map(|t| zone.date_time(t.millis).rfc3339()),
        "value": value,
    });
    if let Some(reason) = record.rejection {
        out["rejected"] = Value::String(reason.to_owned());
    }
    out
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
                dead_lettered = s.dead_lettered, skipped = s.skipped, filtered = s.filtered,
                partitions_held_elsewhere = s.partitions_held_elsewhere, failed = s.failed, ms,
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
    let mut batch = match decode(event)? {
        Event::Records(batch) => batch,
        Event::Timer => return run_timer(handler, deadline, started).await,
    };
    let (records, bytes) = (batch.len(), batch.payload_len());
    let target = handler.target();
    let staging = handler.stage(&mut batch)?;
    let delivery = if batch.is_empty() {
        Delivery::default()
    } else {
        let pending = format!("all {} records were", batch.len());
        match within_deadline(handler.write(&batch, deadline), &target, &pending, deadline, started).await {
            Ok(delivery) => delivery,
            Err(e) => {
                let failures = handler
                    .reports_item_failures()
                    .then(|| item_failures(&e, batch.len()))
                    .flatten();
                let Some(batch_item_failures) = failures else {
                    return Err(e);
                };
                tracing::warn!(error = %e, failed = batch_item_failures.len(), "records answered as batch item failures");
                return Ok(Summary {
                    format: EventKind::Records(batch.format),
                    records,
                    bytes,
                    written: 0,
                    dead_lettered: 0,
                    skipped: 0,
                    filtered: staging.filtered,
                    partitions_held_elsewhere: 0,
                    failed: batch_item_failures.len(),
                    target,
                    ms: started.elapsed().as_millis() as u64,
                    batch_item_failures,
                });
            }
        }
    };
    if delivery.accounted() + staging.filtered != records {
        return Err(Error::Unaccounted {
            target,
            records,
            accounted: delivery.accounted() + staging.filtered,
        });
    }
    Ok(Summary {
        format: EventKind::Records(batch.format),
        records,
        bytes,
        written: delivery.written,
        dead_lettered: delivery.dead_lettered,
        skipped: delivery.skipped,
        filtered: staging.filtered,
        partitions_held_elsewhere: 0,
        failed: 0,
        target,
        ms: started.elapsed().as_millis() as u64,
        batch_item_failures: Vec::new(),
    })
}

/// The records an error names as not written, as a partial batch response; `None` when it names none, or all
/// of the batch (then the invocation fails as a whole, as Powertools does).
fn item_failures(error: &Error, batch_len: usize) -> Option<Vec<ItemFailure>> {
    let not_written = error.not_written()?;
    if not_written.records.is_empty() || not_written.records.len() >= batch_len {
        return None;
    }
    Some(
        not_written
            .records
            .iter()
            .map(|r| ItemFailure {
                item: ItemIdentifier {
                    partition: format!("{}-{}", r.topic, r.partition),
                    offset: r.offset,
                },
            })
            .collect(),
    )
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
        filtered: 0,
        partitions_held_elsewhere: held_elsewhere,
        failed: 0,
        target,
        ms: started.elapsed().as_millis() as u64,
        batch_item_failures: Vec::new(),
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

#[cfg(test)]
mod tests {
    use ckafka_dump_core::{Failure, NotWritten, Unwritten};

    use super::*;

    #[test]
    fn a_partial_response_names_the_records_not_written_never_the_whole_batch() {
        let event = include_str!("../../../events/scf-ckafka-multi-partition.json");
        let batch = decode(event).unwrap().into_batch().unwrap();
        let failed = |records: &[usize]| {
            let unwritten = records
                .iter()
                .map(|&record| Unwritten {
                    record,
                    failure: Failure::new("x", true),
                })
                .collect();
            Error::sink("t", &NotWritten::of(&batch, unwritten).unwrap())
        };
        let some = item_failures(&failed(&[4, 2]), batch.len()).unwrap();
        let named: Vec<(&str, i64)> = some
            .iter()
            .map(|f| (f.item.partition.as_str(), f.item.offset))
            .collect();
        assert_eq!(named, [("app-log-2", 88), ("audit-1", 5)]);
        assert_eq!(
            item_failures(&failed(&[0, 1, 2, 3, 4]), batch.len()),
            None,
            "all failed: an error"
        );
        let whole = Error::Deadline {
            target: "t".into(),
            pending: "all".into(),
            elapsed_ms: 1,
        };
        assert_eq!(item_failures(&whole, batch.len()), None, "no records named: an error");
    }
}
