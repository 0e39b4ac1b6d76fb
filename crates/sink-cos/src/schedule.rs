//! Mode 2, the console's time-granular COS dump: on each timer event every partition of `topic_name` is
//! consumed from its checkpoint until it is caught up, idle for `consumer_timeout_ms`, or the time budget
//! (the deadline minus an upload reserve) is spent, and written as objects. The checkpoint is written after
//! each object, and keys derive from the object's first record, so a run that dies in between re-writes
//! the same key next time: every offset before the checkpoint is in exactly one object.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use ckafka_dump_core::error::error_chain;
use ckafka_dump_core::time::{now_epoch_ms, UtcDateTime};
use ckafka_dump_core::{Deadline, Drained};
use ckafka_dump_sink_kafka::client::KafkaClient;
use futures_util::stream::{self, StreamExt};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use tokio::time::Instant;

use crate::checkpoint::{checkpoint_key, Checkpoint};
use crate::config::{ScheduleConfig, StartFrom};
use crate::encode::Entry;
use crate::error::CosError;
use crate::writer::{Objects, PartitionWriter};

/// The template's upload reserve: 5 s plus a part's worth at 50 MiB/s.
fn upload_reserve(part_bytes: usize) -> Duration {
    Duration::from_secs(5) + Duration::from_secs_f64(part_bytes as f64 / (50.0 * 1024.0 * 1024.0))
}

pub struct Scheduler {
    pub config: ScheduleConfig,
    pub kafka: KafkaClient,
}

impl Scheduler {
    pub async fn drain(&self, objects: &Arc<Objects>, deadline: Deadline) -> Result<Drained, CosError> {
        let partitions = self.kafka.partition_count(&self.config.topic).await?;
        let reserve = upload_reserve(objects.config.part_bytes);
        let stop_at = deadline.instant().checked_sub(reserve).unwrap_or_else(Instant::now);
        if deadline.remaining() <= reserve {
            tracing::warn!(
                time_left_ms = deadline.remaining().as_millis() as u64,
                reserve_ms = reserve.as_millis() as u64,
                "the time limit leaves nothing beyond the upload reserve; raise the function's timeout"
            );
        }
        let results: Vec<Result<Drained, CosError>> = stream::iter(0..partitions)
            .map(|partition| self.drain_partition(objects, partition, stop_at))
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
                }
                Err(e) => errors.push(e),
            }
        }
        CosError::first_of(errors, partitions as usize, "partitions")?;
        Ok(total)
    }

    async fn drain_partition(
        &self,
        objects: &Arc<Objects>,
        partition: i32,
        stop_at: Instant,
    ) -> Result<Drained, CosError> {
        let topic = &self.config.topic;
        let config = &objects.config;
        let fetch_error = |offset: i64, message: String| CosError::Fetch {
            topic: topic.clone(),
            partition,
            offset,
            message,
            retryable: true,
        };
        let client = self
            .kafka
            .partition_client(topic, partition)
            .await
            .map_err(|message| fetch_error(-1, message))?;
        let max_bytes = 1..self.config.fetch_max_bytes as i32;
        let max_wait_ms = self.config.idle_timeout.as_millis().min(i32::MAX as u128) as i32;
        let checkpoint_key = checkpoint_key(&config.prefix, &config.instance, topic, partition);
        let save = |next_offset: i64, last_object: Option<String>| {
            let checkpoint = Checkpoint {
                topic: topic.clone(),
                partition,
                next_offset,
                last_object,
                updated: UtcDateTime::now().rfc3339(),
            };
            let body = serde_json::to_vec_pretty(&checkpoint).expect("a checkpoint always serializes");
            let meta = crate::store::ObjectMeta {
                content_type: "application/json",
                ..Default::default()
            };
            let key = checkpoint_key.clone();
            async move { objects.store.put(&key, body, &meta).await }
        };
        let start = match objects.store.get(&checkpoint_key).await? {
            Some(body) => {
                serde_json::from_slice::<Checkpoint>(&body)
                    .map_err(|e| CosError::Checkpoint {
                        key: checkpoint_key.clone(),
                        reason: e.to_string(),
                    })?
                    .next_offset
            }
            None => {
                let start = start_offset(&client, self.config.start, (max_bytes.clone(), max_wait_ms))
                    .await
                    .map_err(|e| fetch_error(-1, format!("finding the start ({:?}): {e}", self.config.start)))?;
                // Pinned now, so `latest` or a timestamp means the same offset on every later run.
                save(start, None).await?;
                start
            }
        };

        let mut writer = PartitionWriter::new(Arc::clone(objects), now_epoch_ms(), objects.config.part_bytes);
        let mut next = start;
        let mut drained = Drained::default();
        while Instant::now() < stop_at {
            let fetch = client.fetch_records(next, max_bytes.clone(), max_wait_ms);
            let (records, high_watermark) = match tokio::time::timeout_at(stop_at, fetch).await {
                Err(_budget_spent) => break,
                Ok(Err(e)) => return Err(fetch_error(next, error_chain(&e))),
                Ok(Ok(fetched)) => fetched,
            };
            if records.is_empty() {
                break; // idle for consumer_timeout_ms
            }
            for fetched in &records {
                let entry = Entry {
                    topic,
                    partition,
                    offset: fetched.offset,
                    timestamp_ms: Some(fetched.record.timestamp.timestamp_millis()),
                    key: fetched.record.key.as_deref(),
                    value: fetched.record.value.as_deref(),
                };
                if let Some(object) = writer.push(&entry).await? {
                    save(object.last_offset + 1, Some(object.key)).await?;
                }
                drained.records += 1;
                drained.bytes += entry.key.map_or(0, <[u8]>::len) + entry.value.map_or(0, <[u8]>::len);
                next = fetched.offset + 1;
            }
            if next >= high_watermark {
                break; // caught up
            }
        }
        if let Some(object) = writer.finish().await? {
            save(object.last_offset + 1, Some(object.key)).await?;
        }
        tracing::info!(
            topic,
            partition,
            from = start,
            to = next,
            records = drained.records,
            "partition drained"
        );
        Ok(drained)
    }
}

async fn start_offset(client: &PartitionClient, start: StartFrom, fetch: (Range<i32>, i32)) -> Result<i64, String> {
    let at = match start {
        StartFrom::Earliest => OffsetAt::Earliest,
        StartFrom::Latest => OffsetAt::Latest,
        StartFrom::Timestamp(ms) => OffsetAt::Timestamp(
            chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("{ms} is out of range"))?,
        ),
    };
    let mut offset = client.get_offset(at).await.map_err(|e| error_chain(&e))?;
    let StartFrom::Timestamp(ms) = start else {
        return Ok(offset);
    };
    if offset < 0 {
        // No record at or after the timestamp: start where the next record will be.
        return client.get_offset(OffsetAt::Latest).await.map_err(|e| error_chain(&e));
    }
    // Some brokers (tansu) answer with the first offset of the record batch holding the timestamp: step
    // to the first record at or after it, as Kafka does.
    loop {
        let (records, _) = client
            .fetch_records(offset, fetch.0.clone(), fetch.1)
            .await
            .map_err(|e| error_chain(&e))?;
        match records.iter().find(|r| r.record.timestamp.timestamp_millis() >= ms) {
            Some(first) => return Ok(first.offset),
            None => match records.last() {
                Some(last) => offset = last.offset + 1,
                None => return Ok(offset),
            },
        }
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
}
