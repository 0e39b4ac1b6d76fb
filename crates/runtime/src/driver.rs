//! One invocation: decode the event, hand the batch (or the timer) to the function within the deadline, and
//! turn the outcome into the invocation result (or an error, so the trigger re-delivers).

use std::time::Instant;

use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::{
    decode, Deadline, Delivery, Drained, Error, Event, Format, PartitionSpan, Retryable, Sink, StagedRecord,
};
use serde::{Serialize, Serializer};
use tracing::Instrument;

use crate::function::Function;

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
        Event::Records(batch) => {
            let staged = stage.apply(&batch);
            DryRun {
                format: EventKind::Records(batch.format),
                records: batch.len(),
                bytes: batch.payload_len(),
                partitions: batch.partitions(),
                filtered: staged.filtered,
                rejected: staged.rejected(),
                shown: staged.records().take(show).map(|r| shown(&r, stage.zone())).collect(),
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
fn shown(record: &StagedRecord<'_>, zone: &Zone) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut scratch = Vec::new();
    let value = match record.value_to_write(&mut scratch) {
        None => Value::Null,
        Some(bytes) => match (serde_json::from_slice::<Value>(bytes), record.value_str()) {
            (Ok(json), _) => json,
            (Err(_), Some(text)) => Value::String(text.to_owned()),
            (Err(_), None) => json!({ "base64": base64_simd::STANDARD.encode_to_string(bytes) }),
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
    if let Some(reason) = record.rejection() {
        out["rejected"] = Value::String(reason.0.clone());
    }
    out
}

pub async fn invoke<S: Sink>(
    function: &Function<S>,
    event: &str,
    deadline: Deadline,
    request_id: &str,
) -> Result<Summary, Error> {
    let span = tracing::info_span!("invocation", request_id, target = %function.target());
    async {
        let started = Instant::now();
        tracing::debug!(
            time_left_ms = deadline.remaining().as_millis() as u64,
            "invocation started"
        );
        let result = deliver(function, event, deadline, started).await;
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

async fn deliver<S: Sink>(
    function: &Function<S>,
    event: &str,
    deadline: Deadline,
    started: Instant,
) -> Result<Summary, Error> {
    let decoded = match decode(event)? {
        Event::Records(batch) => batch,
        Event::Timer => return run_timer(function, deadline, started).await,
    };
    let (records, bytes) = (decoded.len(), decoded.payload_len());
    let target = function.target();
    let batch = function.stage(&decoded)?;
    let delivery = if batch.is_empty() {
        Delivery::default()
    } else {
        let pending = format!("all {} records were", batch.len());
        match within_deadline(function.write(&batch, deadline), &target, &pending, deadline, started).await {
            Ok(delivery) => delivery,
            Err(e) => {
                let failures = function
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
                    filtered: batch.filtered,
                    partitions_held_elsewhere: 0,
                    failed: batch_item_failures.len(),
                    target,
                    ms: started.elapsed().as_millis() as u64,
                    batch_item_failures,
                });
            }
        }
    };
    if delivery.accounted() + batch.filtered != records {
        return Err(Error::Unaccounted {
            target,
            records,
            accounted: delivery.accounted() + batch.filtered,
        });
    }
    Ok(Summary {
        format: EventKind::Records(batch.format),
        records,
        bytes,
        written: delivery.written,
        dead_lettered: delivery.dead_lettered,
        skipped: delivery.skipped,
        filtered: batch.filtered,
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

async fn run_timer<S: Sink>(function: &Function<S>, deadline: Deadline, started: Instant) -> Result<Summary, Error> {
    let target = function.target();
    let run = function.run_scheduled(deadline);
    let Drained {
        records,
        bytes,
        dead_lettered,
        filtered,
        held_elsewhere,
    } = within_deadline(run, &target, "the scheduled run's objects were", deadline, started).await?;
    Ok(Summary {
        format: EventKind::Timer,
        records,
        bytes,
        written: records - dead_lettered - filtered,
        dead_lettered,
        skipped: 0,
        filtered,
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

/// Runs the function's work, failing it at the deadline's cut-off so the function still answers in time.
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
    use std::sync::Mutex;
    use std::time::Duration;

    use ckafka_dump_core::config::Env;
    use ckafka_dump_core::{Failure, NotWritten, StagedBatch, Unwritten};

    use super::*;

    const MULTI: &str = include_str!("../../../events/scf-ckafka-multi-partition.json");
    const TIMER: &str = include_str!("../../../events/timer/scf-timer.json");

    /// A batch as the fake sink was given it: each record's offset and rejection.
    type Given = Vec<(i64, Option<String>)>;

    /// Answers each batch with what `answer` makes of it, and records what it was given.
    struct FakeSink {
        answer: fn(&StagedBatch<'_>) -> Result<Delivery, Error>,
        dead_letters: bool,
        seen: Mutex<Vec<Given>>,
    }

    impl FakeSink {
        fn new(answer: fn(&StagedBatch<'_>) -> Result<Delivery, Error>) -> Self {
            FakeSink {
                answer,
                dead_letters: false,
                seen: Mutex::new(Vec::new()),
            }
        }

        fn seen(&self) -> Vec<Given> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Sink for FakeSink {
        type Error = Error;

        fn target(&self) -> String {
            "fake".to_owned()
        }

        fn dead_letters_rejected(&self) -> bool {
            self.dead_letters
        }

        async fn write(&self, batch: &StagedBatch<'_>, _deadline: Deadline) -> Result<Delivery, Error> {
            let records = batch
                .records()
                .map(|r| (r.offset, r.rejection().map(|reason| reason.0.clone())))
                .collect();
            self.seen.lock().unwrap().push(records);
            (self.answer)(batch)
        }
    }

    fn all_written(batch: &StagedBatch<'_>) -> Result<Delivery, Error> {
        Ok(Delivery {
            written: batch.len(),
            ..Delivery::default()
        })
    }

    fn run<S: Sink>(function: &Function<S>, event: &str, limit: Duration) -> Result<Summary, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(invoke(function, event, Deadline::after(limit), "test"))
    }

    fn staged<'s>(sink: &'s FakeSink, vars: &[(&str, &str)]) -> Function<&'s FakeSink> {
        Function::new(sink).with_stage(Stage::from_env(&Env::from_pairs(vars)).unwrap())
    }

    #[test]
    fn every_record_is_accounted_for_or_the_invocation_fails() {
        let summary = run(
            &Function::new(FakeSink::new(all_written)),
            MULTI,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((summary.records, summary.written, summary.failed), (5, 5, 0));
        assert_eq!(
            summary.bytes,
            decode(MULTI).unwrap().into_batch().unwrap().payload_len()
        );

        let split = |batch: &StagedBatch<'_>| {
            Ok(Delivery {
                written: 2,
                dead_lettered: 2,
                skipped: batch.len() - 4,
            })
        };
        let summary = run(&Function::new(FakeSink::new(split)), MULTI, Duration::from_secs(5)).unwrap();
        assert_eq!((summary.written, summary.dead_lettered, summary.skipped), (2, 2, 1));

        let one_short = |batch: &StagedBatch<'_>| {
            Ok(Delivery {
                written: batch.len() - 1,
                ..Delivery::default()
            })
        };
        let error = run(&Function::new(FakeSink::new(one_short)), MULTI, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Unaccounted {
                    records: 5,
                    accounted: 4,
                    ..
                }
            ),
            "a record the sink did not account for fails the invocation: {error}"
        );
    }

    #[test]
    fn filtered_records_never_reach_the_sink_and_are_counted() {
        let mut sink = FakeSink::new(all_written);
        sink.dead_letters = true;
        let function = staged(&sink, &[("TRANSFORM_FILTER", "level == \"WARN\"")]);
        let summary = run(&function, MULTI, Duration::from_secs(5)).unwrap();
        assert_eq!((summary.records, summary.filtered, summary.written), (5, 2, 3));
        let given: Vec<i64> = sink.seen()[0].iter().map(|(offset, _)| *offset).collect();
        assert_eq!(
            given,
            [1201, 88, 5],
            "the kept record and the two rejected ones, in order"
        );

        let json_only =
            r#"{"Records":[{"Ckafka":{"topic":"t","partition":0,"offset":1,"msgKey":"None","msgBody":"{\"a\":1}"}}]}"#;
        let sink = FakeSink::new(all_written);
        let summary = run(
            &staged(&sink, &[("TRANSFORM_FILTER", "a == 2")]),
            json_only,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((summary.filtered, summary.written), (1, 0));
        assert!(sink.seen().is_empty(), "an empty batch is not written");
    }

    #[test]
    fn rejected_records_fail_a_sink_without_dead_letters_before_it_writes() {
        let vars = [("TRANSFORM_DROP", "time")];
        let sink = FakeSink::new(all_written);
        let error = run(&staged(&sink, &vars), MULTI, Duration::from_secs(5)).unwrap_err();
        let not_written = error.not_written().expect("the records are named");
        let named: Vec<i64> = not_written.records.iter().map(|r| r.offset).collect();
        assert_eq!(named, [1201, 5], "the values that are not JSON objects");
        assert!(!error.is_retryable(), "a re-delivery would reject them again");
        assert!(
            error.to_string().contains("transform: the value is not JSON"),
            "{error}"
        );
        assert!(sink.seen().is_empty(), "nothing was written");

        let mut with_dead_letters = FakeSink::new(all_written);
        with_dead_letters.dead_letters = true;
        run(&staged(&with_dead_letters, &vars), MULTI, Duration::from_secs(5)).unwrap();
        let rejected: Vec<i64> = with_dead_letters.seen()[0]
            .iter()
            .filter(|(_, rejection)| rejection.is_some())
            .map(|(offset, _)| *offset)
            .collect();
        assert_eq!(rejected, [1201, 5], "the sink is given them to dead-letter");
    }

    #[test]
    fn a_write_still_running_at_the_cut_off_fails_the_invocation_in_time() {
        struct Stuck;
        impl Sink for Stuck {
            type Error = Error;
            fn target(&self) -> String {
                "stuck".to_owned()
            }
            async fn write(&self, _batch: &StagedBatch<'_>, _deadline: Deadline) -> Result<Delivery, Error> {
                tokio::time::sleep(Duration::from_secs(60)).await;
                unreachable!("the driver stops waiting at the cut-off")
            }
        }
        let started = Instant::now();
        let error = run(&Function::new(Stuck), MULTI, Duration::from_millis(400)).unwrap_err();
        assert!(matches!(error, Error::Deadline { .. }), "{error}");
        assert!(error.is_retryable(), "the trigger delivers the batch again");
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "answered before the time limit"
        );
    }

    #[test]
    fn records_named_as_not_written_become_a_partial_batch_response_when_asked() {
        let two_failed = |batch: &StagedBatch<'_>| {
            let unwritten = [2, 4]
                .map(|record| Unwritten {
                    record,
                    failure: Failure::new("busy", true),
                })
                .into();
            Err(Error::sink("fake", &NotWritten::of(batch, unwritten).unwrap()))
        };
        let function = Function::new(FakeSink::new(two_failed)).with_item_failures(true);
        let summary = run(&function, MULTI, Duration::from_secs(5)).unwrap();
        assert_eq!(summary.failed, 2);
        let named: Vec<(&str, i64)> = summary
            .batch_item_failures
            .iter()
            .map(|f| (f.item.partition.as_str(), f.item.offset))
            .collect();
        assert_eq!(named, [("app-log-2", 88), ("audit-1", 5)]);
        let without = Function::new(FakeSink::new(two_failed));
        assert!(
            run(&without, MULTI, Duration::from_secs(5)).is_err(),
            "off: the invocation fails"
        );
    }

    #[test]
    fn a_timer_event_fails_for_a_sink_without_a_scheduled_mode() {
        let error = run(
            &Function::new(FakeSink::new(all_written)),
            TIMER,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(error, Error::NoSchedule { .. }), "{error}");
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_partial_response_names_the_records_not_written_never_the_whole_batch() {
        let event = include_str!("../../../events/scf-ckafka-multi-partition.json");
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
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
