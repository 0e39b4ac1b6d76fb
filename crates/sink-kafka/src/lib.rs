//! Kafka sink of `to-kafka`: every record acknowledged by the target cluster, or the invocation fails.

pub mod client;
pub mod config;
pub mod error;
pub mod partition;
pub mod request;

use std::collections::BTreeMap;

use ckafka_dump_core::{Batch, Deadline, Delivery, Sink};
use futures_util::stream::{self, StreamExt};

use ckafka_dump_core::error::error_chain;

use crate::client::{is_auth_failure, KafkaClient};
use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::partition::Partitioner;
use crate::request::Outgoing;

pub struct KafkaSink {
    config: KafkaConfig,
    client: KafkaClient,
    partitioner: Partitioner,
}

/// What became of one target partition's records.
struct PartitionOutcome {
    acknowledged: usize,
    /// Why the rest were not acknowledged, and whether a retry may help.
    failed: Option<(String, bool)>,
}

impl KafkaSink {
    pub fn new(config: KafkaConfig) -> Result<Self, KafkaError> {
        let client = KafkaClient::new(config.connection.clone())?;
        Ok(KafkaSink {
            config,
            client,
            partitioner: Partitioner::default(),
        })
    }

    /// Produces one partition's records in order, request by request; after a failed request the rest are
    /// not sent, so the target keeps the source order when the batch is re-delivered.
    async fn produce_partition(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<Outgoing>,
        deadline: Deadline,
    ) -> PartitionOutcome {
        let mut chunks = request::chunk(records, self.config.max_request_bytes).into_iter();
        // Chunks keep the partition's order, so the acknowledged records are always the first ones.
        let mut acknowledged = 0;
        let failure = match self.client.partition_client(topic, partition).await {
            Err(message) => Some(message),
            Ok(client) => loop {
                let Some(chunk) = chunks.next() else { break None };
                let sources: Vec<usize> = chunk.iter().map(|o| o.source).collect();
                let records = chunk.into_iter().map(|o| o.record).collect();
                let produce = client.produce(records, self.config.compression);
                match tokio::time::timeout_at(deadline.with_safety_margin().instant(), produce).await {
                    Ok(Ok(offsets)) if offsets.len() == sources.len() => acknowledged += sources.len(),
                    Ok(Ok(offsets)) => {
                        break Some(format!(
                            "broker acknowledged {} of {} records",
                            offsets.len(),
                            sources.len()
                        ))
                    }
                    Ok(Err(e)) => break Some(error_chain(&e)),
                    Err(_) => break Some("no acknowledgement before the invocation deadline".to_owned()),
                }
            },
        };
        PartitionOutcome {
            acknowledged,
            failed: failure.map(|message| (format!("{topic}/{partition}: {message}"), !is_auth_failure(&message))),
        }
    }
}

impl Sink for KafkaSink {
    type Error = KafkaError;

    fn target(&self) -> String {
        format!(
            "kafka {} topic {}",
            self.client.brokers(),
            self.config.topic.resolve("{topic}")
        )
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, KafkaError> {
        let mut groups: BTreeMap<(String, i32), Vec<Outgoing>> = BTreeMap::new();
        let mut counts: BTreeMap<String, i32> = BTreeMap::new();
        for (i, record) in batch.records().enumerate() {
            let topic = self.config.topic.resolve(record.topic);
            let partitions = match counts.get(&topic) {
                Some(&n) => n,
                None => {
                    let n = self.client.partition_count(&topic).await?;
                    counts.insert(topic.clone(), n);
                    n
                }
            };
            let partition =
                self.partitioner
                    .choose(self.config.partition_strategy, record.key, record.partition, partitions);
            let outgoing = request::outgoing(i, &record, self.config.provenance_headers);
            groups.entry((topic, partition)).or_default().push(outgoing);
        }
        let outcomes: Vec<(Vec<usize>, PartitionOutcome)> = stream::iter(groups)
            .map(|((topic, partition), records)| async move {
                let sources = records.iter().map(|o| o.source).collect();
                (
                    sources,
                    self.produce_partition(&topic, partition, records, deadline).await,
                )
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;

        let mut written = 0;
        let (mut failed, mut reasons, mut retryable) = (Vec::new(), Vec::new(), false);
        for (sources, outcome) in outcomes {
            written += outcome.acknowledged;
            if let Some((reason, can_retry)) = outcome.failed {
                failed.extend(sources.into_iter().skip(outcome.acknowledged));
                reasons.push(reason);
                retryable |= can_retry;
            }
        }
        if failed.is_empty() {
            return Ok(Delivery {
                written,
                ..Delivery::default()
            });
        }
        failed.sort_unstable();
        Err(KafkaError::NotWritten {
            count: failed.len(),
            total: batch.len(),
            offsets: batch.coordinates(&failed),
            message: reasons.join("; "),
            retryable,
        })
    }
}
