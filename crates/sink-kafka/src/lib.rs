//! Kafka sink of `to-kafka`: every record acknowledged by the target cluster, or the invocation fails.

pub mod config;
pub mod error;
pub mod partition;
pub mod request;

use std::collections::{BTreeMap, HashSet};

use ckafka_dump_core::error::Unwritten;
use ckafka_dump_core::stage::fields::Path;
use ckafka_dump_core::{Batch, Deadline, Delivery, Failure, NotWritten, Sink};
use ckafka_dump_kafka::{KafkaClient, KafkaError};
use futures_util::stream::{self, StreamExt};

use crate::config::KafkaConfig;
use crate::error::ProduceError;
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
    /// Why the rest were not acknowledged.
    failure: Option<Failure>,
}

impl KafkaSink {
    pub fn new(config: KafkaConfig) -> Result<Self, ProduceError> {
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
            Err(e) => Some(Failure::of(&e)),
            Ok(client) => loop {
                let Some(chunk) = chunks.next() else { break None };
                let sent = chunk.len();
                let records = chunk.into_iter().map(|o| o.record).collect();
                let produce = client.produce(records, self.config.compression);
                match tokio::time::timeout_at(deadline.cutoff(), produce).await {
                    Ok(Ok(offsets)) if offsets.len() == sent => acknowledged += sent,
                    Ok(Ok(offsets)) => {
                        let reason = format!(
                            "{topic}/{partition}: broker acknowledged {} of {sent} records",
                            offsets.len()
                        );
                        break Some(Failure::new(reason, true));
                    }
                    Ok(Err(e)) => break Some(Failure::of(&KafkaError::partition(topic, partition, "producing", &e))),
                    Err(_) => {
                        let reason = format!("{topic}/{partition}: no acknowledgement before the invocation deadline");
                        break Some(Failure::new(reason, true));
                    }
                }
            },
        };
        PartitionOutcome { acknowledged, failure }
    }
}

impl KafkaSink {
    /// The partition count of each topic records go to (`None`: a topic a field named that does not exist,
    /// when there is a dead-letter topic to take its records). The configured topic and the dead-letter topic
    /// must exist.
    async fn partition_counts(
        &self,
        ready: &[(String, Outgoing)],
    ) -> Result<BTreeMap<String, Option<i32>>, ProduceError> {
        let mut counts = BTreeMap::new();
        let routed = !self.config.topic.fields_read().is_empty();
        let dead = self.config.dead_letter_topic.as_ref();
        for topic in ready.iter().map(|(topic, _)| topic).chain(dead) {
            if counts.contains_key(topic) {
                continue;
            }
            let count = match self.client.partition_count(topic).await {
                Ok(n) => Some(n),
                Err(KafkaError::TopicMissing { .. }) if routed && dead.is_some_and(|d| d != topic) => None,
                Err(e) => return Err(e.into()),
            };
            counts.insert(topic.clone(), count);
        }
        Ok(counts)
    }
}

impl Sink for KafkaSink {
    type Error = ProduceError;

    fn target(&self) -> String {
        format!("kafka {} topic {}", self.client.brokers(), self.config.topic)
    }

    fn fields_read(&self) -> Vec<Path> {
        let mut fields = self.config.topic.fields_read();
        fields.extend(
            self.config
                .key_field
                .clone()
                .filter(|p| matches!(p, Path::Field { .. })),
        );
        fields
    }

    fn dead_letters_rejected(&self) -> bool {
        self.config.dead_letter_topic.is_some()
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, ProduceError> {
        // Records that cannot be produced as they are go to the dead-letter topic, or fail the batch before
        // anything is sent.
        let mut ready = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        let mut dead_letters = HashSet::new();
        for (i, record) in batch.records().enumerate() {
            match (
                request::outgoing(i, &record, &self.config),
                &self.config.dead_letter_topic,
            ) {
                (Ok(outgoing), _) => ready.push(outgoing),
                (Err(failure), Some(topic)) => {
                    dead_letters.insert(i);
                    ready.push((topic.clone(), request::dead_letter(i, &record, &failure)));
                }
                (Err(failure), None) => refused.push(Unwritten { record: i, failure }),
            }
        }
        if let Some(not_written) = NotWritten::of(batch, refused) {
            return Err(not_written.into());
        }
        let counts = self.partition_counts(&ready).await?;
        let mut groups: BTreeMap<(String, i32), Vec<Outgoing>> = BTreeMap::new();
        for (topic, mut outgoing) in ready {
            let (topic, partitions) = match (counts.get(&topic), &self.config.dead_letter_topic) {
                (Some(Some(n)), _) => (topic, *n),
                // A topic a field routed the record to that does not exist: the record's fault.
                (_, Some(dead)) => {
                    let record = batch.get(outgoing.source).expect("sources index the batch");
                    let failure = Failure::new(
                        format!(
                            "{}/{}/{}: target topic `{topic}` does not exist (to-kafka never creates topics)",
                            record.topic, record.partition, record.offset
                        ),
                        false,
                    );
                    dead_letters.insert(outgoing.source);
                    outgoing = request::dead_letter(outgoing.source, &record, &failure);
                    let n = counts
                        .get(dead)
                        .copied()
                        .flatten()
                        .expect("the dead-letter topic's count is known");
                    (dead.clone(), n)
                }
                (_, None) => unreachable!("partition_counts fails on a missing topic without a dead-letter topic"),
            };
            let source_partition = batch.get(outgoing.source).expect("sources index the batch").partition;
            let key = outgoing.record.key.as_deref();
            let partition = self
                .partitioner
                .choose(self.config.partition_strategy, key, source_partition, partitions);
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

        let (mut written, mut dead_lettered) = (0, 0);
        let mut unwritten = Vec::new();
        for (sources, outcome) in outcomes {
            let letters = sources[..outcome.acknowledged]
                .iter()
                .filter(|i| dead_letters.contains(*i))
                .count();
            dead_lettered += letters;
            written += outcome.acknowledged - letters;
            if let Some(failure) = outcome.failure {
                unwritten.extend(sources.into_iter().skip(outcome.acknowledged).map(|record| Unwritten {
                    record,
                    failure: failure.clone(),
                }));
            }
        }
        match NotWritten::of(batch, unwritten) {
            None => Ok(Delivery {
                written,
                dead_lettered,
                ..Delivery::default()
            }),
            Some(not_written) => Err(not_written.into()),
        }
    }
}
