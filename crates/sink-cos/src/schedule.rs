//! Mode 2, the console's time-granular COS dump: on each timer event every partition of `topic_name` is
//! consumed from its checkpoint until it is caught up, idle for `consumer_timeout_ms`, or the time budget
//! (the deadline minus an upload reserve) is spent, and written as objects. The checkpoint is written after
//! each object, and keys derive from the object's first record, so a run that dies in between re-writes
//! the same key next time: every offset before the checkpoint is in exactly one object. Runs that overlap
//! (a timer firing while the last run still drains) are fenced per partition by leases ([`crate::lease`]):
//! one drains it, the others leave it alone.

use std::sync::Arc;
use std::time::Duration;

use ckafka_dump_core::dating;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Drained, Outcome, Record, StagedRecord, Timestamp, TimestampType};
use ckafka_dump_kafka::{KafkaClient, KafkaError};
use futures_util::stream::{self, StreamExt};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;
use tokio::time::Instant;

use crate::checkpoint::Checkpoint;
use crate::config::{ScheduleConfig, StartFrom};
use crate::encode::Content;
use crate::error::CosError;
use crate::fence::{run_id, store_fences, Fence, Held};
use crate::lease::Fenced;
use crate::naming::{checkpoint_key, dead_letter_key};
use crate::store::Created;
use crate::trigger::Ledgers;
use crate::writer::{coordinates, KeyClaims, ObjectWritten, Objects, PartitionWriter, SetAside};

/// The template's upload reserve: 5 s plus a part's worth at 50 MiB/s.
fn upload_reserve(part_bytes: usize) -> Duration {
    Duration::from_secs(5) + Duration::from_secs_f64(part_bytes as f64 / (50.0 * 1024.0 * 1024.0))
}

/// When a partition's run stops fetching: nothing came within the idle timeout, or it has caught up.
fn done_fetching(fetched: usize, next_offset: i64, high_watermark: i64) -> bool {
    fetched == 0 || next_offset >= high_watermark
}

/// A fetched record in the model every sink writes, with its headers in their order and its timestamp type.
fn fetched_record<'a>(topic: &'a str, partition: i32, fetched: &'a RecordAndOffset) -> Record<'a> {
    let kind = match fetched.timestamp_type {
        rskafka::record::TimestampType::CreateTime => TimestampType::CreateTime,
        rskafka::record::TimestampType::LogAppendTime => TimestampType::LogAppendTime,
    };
    let timestamp = Timestamp::dated(fetched.record.timestamp.timestamp_millis(), Some(kind));
    Record::new(
        topic,
        partition,
        fetched.offset,
        timestamp,
        fetched.record.key.as_deref(),
        fetched.record.value.as_deref(),
    )
    .with_headers(&fetched.record.headers)
}

pub struct Scheduler {
    pub config: ScheduleConfig,
    pub kafka: KafkaClient,
}

impl Scheduler {
    pub fn new(config: ScheduleConfig, kafka: KafkaClient) -> Self {
        Scheduler { config, kafka }
    }

    pub async fn drain(
        &self,
        objects: &Arc<Objects>,
        stage: &Stage,
        deadline: Deadline,
        clock: fn() -> i64,
    ) -> Result<Drained, CosError> {
        let partitions = self.kafka.partition_count(&self.config.topic).await?;
        let reserve = upload_reserve(objects.config.part_bytes);
        if deadline.remaining() <= reserve {
            return Err(CosError::NoTimeToDrain {
                left_ms: deadline.remaining().as_millis() as u64,
                reserve_ms: reserve.as_millis() as u64,
            });
        }
        let stop_at = deadline.end() - reserve;
        let run = run_id(clock());
        if !store_fences(objects, &run, deadline).await? {
            return Err(CosError::NoFencing {
                store: objects.store.describe(),
            });
        }
        let claims = Arc::new(KeyClaims::default());
        let results: Vec<Result<Drained, CosError>> = stream::iter(0..partitions)
            .map(|partition| {
                let progress = Progress {
                    objects,
                    key: checkpoint_key(
                        &objects.config.prefix,
                        &objects.config.instance,
                        &self.config.topic,
                        partition,
                    ),
                    topic: &self.config.topic,
                    partition,
                    deadline,
                    clock,
                    run: &run,
                };
                self.drain_partition(progress, &claims, stop_at, stage)
            })
            .buffer_unordered(objects.config.concurrency)
            .collect()
            .await;
        let mut total = Drained::default();
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(drained) => {
                    total.records += drained.records;
                    total.bytes += drained.bytes;
                    total.dead_lettered += drained.dead_lettered;
                    total.filtered += drained.filtered;
                    total.held_elsewhere += drained.held_elsewhere;
                }
                Err(e) => errors.push(e),
            }
        }
        CosError::first_of(errors, partitions as usize, "partitions")?;
        Ok(total)
    }

    /// Drains one partition if no other run holds it.
    async fn drain_partition(
        &self,
        progress: Progress<'_>,
        claims: &Arc<KeyClaims>,
        stop_at: Instant,
        stage: &Stage,
    ) -> Result<Drained, CosError> {
        let client = self.kafka.partition_client(progress.topic, progress.partition).await?;
        let Some((start, mut held)) = self.take_partition(&progress, &client).await? else {
            tracing::info!(
                topic = progress.topic,
                partition = progress.partition,
                "another run is draining this partition; left to it"
            );
            return Ok(Drained {
                held_elsewhere: 1,
                ..Drained::default()
            });
        };
        let drained = self
            .drain_held(&progress, &client, claims, start, &mut held, stop_at, stage)
            .await;
        progress.fence().release(held).await;
        drained
    }

    /// The partition's checkpoint and its lease, or `None` when another run holds it.
    async fn take_partition(
        &self,
        progress: &Progress<'_>,
        client: &PartitionClient,
    ) -> Result<Option<(i64, Held)>, CosError> {
        // The checkpoint may move between reading it and taking its lease: then read it again.
        for _ in 0..3 {
            let start = match progress.load().await? {
                Some(checkpoint) => checkpoint.next_offset,
                None => {
                    let start = self.start_offset(client, progress.partition).await?;
                    // Pinned now, so `latest` or a timestamp means the same offset on every later run; of
                    // runs racing to pin it, the first wins and the others read its checkpoint.
                    let first = Checkpoint::new(progress.topic, progress.partition, start, None, (progress.clock)());
                    match progress.create(&first).await? {
                        Created::Created => start,
                        Created::Exists => continue,
                    }
                }
            };
            let Some(held) = progress.fence().take(Fenced::Offset(start)).await? else {
                return Ok(None);
            };
            if progress.load().await?.map(|c| c.next_offset) == Some(start) {
                return Ok(Some((start, held)));
            }
            progress.fence().release(held).await;
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    async fn drain_held(
        &self,
        progress: &Progress<'_>,
        client: &PartitionClient,
        claims: &Arc<KeyClaims>,
        start: i64,
        held: &mut Held,
        stop_at: Instant,
        stage: &Stage,
    ) -> Result<Drained, CosError> {
        let (topic, partition) = (progress.topic, progress.partition);
        let objects = progress.objects;
        let mut writer = PartitionWriter::new(
            Arc::clone(objects),
            Arc::clone(claims),
            Vec::new(),
            objects.config.part_bytes,
            progress.deadline,
        );
        let mut next = start;
        let mut drained = Drained::default();
        let mut set_aside = SetAsideLines::default();
        // An undated record (Kafka's `-1`) is dated when its offset was first seen, as in trigger mode, so a
        // re-run dates it the same.
        let ledgers = Ledgers {
            objects,
            deadline: progress.deadline,
        };
        let granularity = objects.config.key_template.granularity();
        let (cache, zone) = (&objects.ledgers, &objects.config.zone);
        while Instant::now() < stop_at {
            let fetch = client.fetch_records(next, self.fetch_bytes(), self.max_wait_ms());
            let (records, high_watermark) = match tokio::time::timeout_at(stop_at, fetch).await {
                Err(_budget_spent) => break,
                Ok(Err(e)) => {
                    let source = KafkaError::partition(topic, partition, "fetching", &e);
                    return Err(CosError::Fetch { offset: next, source });
                }
                Ok(Ok(fetched)) => fetched,
            };
            let fetched: Vec<Record<'_>> = records.iter().map(|f| fetched_record(topic, partition, f)).collect();
            for record in &fetched {
                drained.records += 1;
                drained.bytes += record.payload_len();
                next = record.offset + 1;
            }
            let staged: Vec<(Record<'_>, Outcome<'_>)> = fetched
                .iter()
                .filter_map(|record| {
                    let (timestamp, outcome) = stage.stage_record(record)?;
                    let mut staged = *record;
                    staged.timestamp = timestamp;
                    Some((staged, outcome))
                })
                .collect();
            drained.filtered += fetched.len() - staged.len();
            let now_ms = (progress.clock)();
            let kept = staged.iter().map(|(record, _)| *record);
            let routing = dating::routing_times(&ledgers, cache, kept, granularity, zone, now_ms).await?;
            for ((record, outcome), routing_ms) in staged.iter().zip(routing) {
                let record = StagedRecord::new(*record, outcome);
                let pushed = match (&objects.config.content, record.rejection()) {
                    (_, Some(rejection)) => Err(SetAside::Rejected(rejection.clone())),
                    (Content::Lines(_), None) => Ok(writer.push_line(&record, routing_ms).await?),
                    (Content::Parquet(parquet), None) => match parquet.row(&record) {
                        Ok(row) => Ok(writer.push_row(&record, &row, routing_ms).await?),
                        Err(reason) => Err(SetAside::Unencodable(reason)),
                    },
                };
                match pushed {
                    Ok(Some(object)) => {
                        let letters = set_aside.take_through(object.last_offset);
                        progress
                            .saved_after(object.last_offset + 1, Some(&object), letters, held)
                            .await?;
                    }
                    Ok(None) => {}
                    Err(why) => {
                        if objects.config.dead_letter_prefix.is_none() {
                            return Err(CosError::Refused {
                                record: coordinates(&record),
                                reason: why.to_string(),
                            });
                        }
                        set_aside.add(&record, &why);
                        drained.dead_lettered += 1;
                    }
                }
            }
            if done_fetching(records.len(), next, high_watermark) {
                break;
            }
        }
        let last = writer.finish().await?;
        // The rest (the last object, the records after it that were set aside or filtered out) is saved up
        // to where fetching stopped, so a partition of nothing but such records still moves on.
        if next > start {
            progress
                .saved_after(next, last.as_ref(), set_aside.take_through(i64::MAX), held)
                .await?;
        }
        tracing::info!(
            topic,
            partition,
            from = start,
            to = next,
            records = drained.records,
            dead_lettered = drained.dead_lettered,
            filtered = drained.filtered,
            "partition drained"
        );
        Ok(drained)
    }

    fn fetch_bytes(&self) -> std::ops::Range<i32> {
        1..self.config.fetch_max_bytes as i32
    }

    fn max_wait_ms(&self) -> i32 {
        self.config.idle_timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// Where a partition without a checkpoint starts, per `offset_type`.
    async fn start_offset(&self, client: &PartitionClient, partition: i32) -> Result<i64, CosError> {
        let topic = self.config.topic.as_str();
        let failed = |e: rskafka::client::error::Error| {
            CosError::from(KafkaError::partition(topic, partition, "finding the start offset", &e))
        };
        let ms = match self.config.start {
            StartFrom::Earliest => return client.get_offset(OffsetAt::Earliest).await.map_err(failed),
            StartFrom::Latest => return client.get_offset(OffsetAt::Latest).await.map_err(failed),
            StartFrom::Timestamp(ms) => ms,
        };
        let at = rskafka::chrono::DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| ckafka_dump_core::ConfigError::new("offset_type", format!("{ms} is out of range")))?;
        let mut offset = client.get_offset(OffsetAt::Timestamp(at)).await.map_err(failed)?;
        if offset < 0 {
            // No record at or after the timestamp: start where the next record will be.
            return client.get_offset(OffsetAt::Latest).await.map_err(failed);
        }
        // Some brokers (tansu) answer with the first offset of the record batch holding the timestamp: step
        // to the first record at or after it, as Kafka does.
        loop {
            let (records, _) = client
                .fetch_records(offset, self.fetch_bytes(), self.max_wait_ms())
                .await
                .map_err(failed)?;
            match records.iter().find(|r| r.record.timestamp.timestamp_millis() >= ms) {
                Some(first) => return Ok(first.offset),
                None => match records.last() {
                    Some(last) => offset = last.offset + 1,
                    None => return Ok(offset),
                },
            }
        }
    }
}

/// A partition's checkpoint and leases.
struct Progress<'a> {
    objects: &'a Arc<Objects>,
    key: String,
    topic: &'a str,
    partition: i32,
    deadline: Deadline,
    clock: fn() -> i64,
    run: &'a str,
}

impl Progress<'_> {
    fn fence(&self) -> Fence<'_> {
        Fence {
            objects: self.objects,
            scope: &self.objects.config.instance,
            topic: self.topic,
            partition: self.partition,
            deadline: self.deadline,
            clock: self.clock,
            run: self.run,
        }
    }

    async fn load(&self) -> Result<Option<Checkpoint>, CosError> {
        let body = self.objects.read_bookkeeping(&self.key, self.deadline).await?;
        body.map(|body| Checkpoint::parse(&self.key, &body)).transpose()
    }

    async fn create(&self, checkpoint: &Checkpoint) -> Result<Created, CosError> {
        self.objects
            .create_bookkeeping(&self.key, checkpoint.to_json(), self.deadline)
            .await
    }

    /// After the records before `next` are stored (`object` the last of their objects, `letters` those of them
    /// set aside): the dead letters, the lease of `next`, then the checkpoint that points there, then the old
    /// lease let go.
    async fn saved_after(
        &self,
        next: i64,
        object: Option<&ObjectWritten>,
        letters: Option<(i64, Vec<u8>)>,
        held: &mut Held,
    ) -> Result<(), CosError> {
        if let (Some((first, body)), Some(prefix)) = (letters, &self.objects.config.dead_letter_prefix) {
            let first = Record::new(self.topic, self.partition, first, None, None, None);
            let key = dead_letter_key(prefix, &first);
            self.objects.write_dead_letters(&key, body, self.deadline).await?;
        }
        let Some(next_lease) = self.fence().take(Fenced::Offset(next)).await? else {
            return Err(CosError::Lease {
                key: self.fence().key(Fenced::Offset(next), 1),
                reason: "another run took the offset after this run's object; this run stops".to_owned(),
                retryable: true,
            });
        };
        let checkpoint = Checkpoint::new(self.topic, self.partition, next, object, (self.clock)());
        self.objects
            .write_bookkeeping(&self.key, checkpoint.to_json(), self.deadline)
            .await?;
        let done = std::mem::replace(held, next_lease);
        self.fence().release(done).await;
        Ok(())
    }
}

/// Dead-letter lines of records set aside since the last checkpoint, with their offsets. Those up to an
/// object's end go with it, into an object keyed by the first of them: a re-run from the same checkpoint
/// sets the same records aside under the same key.
#[derive(Default)]
struct SetAsideLines {
    lines: Vec<(i64, Vec<u8>)>,
}

impl SetAsideLines {
    fn add(&mut self, record: &Record<'_>, why: &SetAside) {
        let mut line = Vec::new();
        why.write_line(record, &mut line);
        self.lines.push((record.offset, line));
    }

    /// The first offset and the lines of the records up to `last_offset`.
    fn take_through(&mut self, last_offset: i64) -> Option<(i64, Vec<u8>)> {
        let count = self
            .lines
            .iter()
            .take_while(|(offset, _)| *offset <= last_offset)
            .count();
        let first = self.lines.first()?.0;
        let taken: Vec<(i64, Vec<u8>)> = self.lines.drain(..count).collect();
        (!taken.is_empty()).then(|| (first, taken.into_iter().flat_map(|(_, line)| line).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_reserve_is_the_templates() {
        assert_eq!(upload_reserve(0), Duration::from_secs(5));
        assert_eq!(upload_reserve(50 * 1024 * 1024), Duration::from_secs(6));
    }

    #[test]
    fn fetching_stops_when_idle_or_caught_up() {
        assert!(done_fetching(0, 10, 20), "nothing within the idle timeout");
        assert!(done_fetching(5, 20, 20), "caught up with the high watermark");
        assert!(!done_fetching(5, 15, 20));
    }

    #[test]
    fn fetched_records_keep_coordinates_timestamp_and_its_type_key_value_and_headers() {
        let fetched = RecordAndOffset {
            record: rskafka::record::Record {
                key: Some(b"k".to_vec()),
                value: None,
                headers: vec![("h".into(), Some(b"1".to_vec())), ("h".into(), None)],
                timestamp: rskafka::chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            },
            offset: 42,
            timestamp_type: rskafka::record::TimestampType::LogAppendTime,
        };
        let record = fetched_record("t", 3, &fetched);
        assert_eq!((record.topic, record.partition, record.offset), ("t", 3, 42));
        assert_eq!(
            record.timestamp,
            Some(Timestamp {
                millis: 1_700_000_000_123,
                kind: Some(TimestampType::LogAppendTime)
            })
        );
        assert_eq!((record.key, record.value), (Some(&b"k"[..]), None));
        let headers: Vec<_> = record.headers().map(|h| (h.key, h.value)).collect();
        assert_eq!(headers, [("h", Some(&b"1"[..])), ("h", None)]);
    }
}
