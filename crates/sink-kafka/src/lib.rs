//! Kafka sink of `to-kafka`: every record acknowledged by the target cluster, or the invocation fails.

pub mod config;
pub mod error;
pub mod partition;
pub mod request;

use std::collections::{BTreeMap, HashMap, VecDeque};

use ckafka_dump_core::error::Unwritten;
use ckafka_dump_core::{Deadline, Delivery, Failure, NotWritten, Sink, StagedBatch};
use ckafka_dump_kafka::error::{record_refusal, RecordRefusal};
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

/// Makes the record produced for a source again.
type Rebuild<'a> = dyn Fn(usize) -> Outgoing + Sync + 'a;

/// The records of a partition's failed request and those after it, each with why.
fn not_acknowledged(failed: Option<(Vec<usize>, Failure)>) -> impl Iterator<Item = Unwritten> {
    failed.into_iter().flat_map(|(sources, failure)| {
        sources.into_iter().map(move |record| Unwritten {
            record,
            failure: failure.clone(),
        })
    })
}

/// What became of one target partition's records.
#[derive(Default)]
struct PartitionOutcome {
    /// The records the broker acknowledged (their sources), in order.
    acknowledged: Vec<usize>,
    /// Records the broker refused alone (too large, a record the topic does not take): their own fault.
    refused: Vec<(usize, Failure, RecordRefusal)>,
    /// The records not acknowledged, and why.
    failed: Option<(Vec<usize>, Failure)>,
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
    /// not sent, so the target keeps the source order when the batch is re-delivered. A request the broker
    /// refuses for its size is sent again in halves, down to the record that is too large alone; the client
    /// takes the records it sends, so `rebuild` makes a refused request's records again from their sources
    /// (rare, where a copy of every request would cost each batch).
    async fn produce_partition(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<Outgoing>,
        rebuild: &Rebuild<'_>,
        deadline: Deadline,
    ) -> PartitionOutcome {
        let mut pending: VecDeque<Vec<Outgoing>> = request::chunk(records, self.config.max_request_bytes).into();
        let mut outcome = PartitionOutcome::default();
        let unsent = |pending: VecDeque<Vec<Outgoing>>, chunk: Vec<usize>| -> Vec<usize> {
            chunk
                .into_iter()
                .chain(pending.into_iter().flatten().map(|o| o.source))
                .collect()
        };
        let client = match self.client.partition_client(topic, partition).await {
            Ok(client) => client,
            Err(e) => {
                outcome.failed = Some((unsent(pending, Vec::new()), Failure::of(&e)));
                return outcome;
            }
        };
        while let Some(chunk) = pending.pop_front() {
            let sources: Vec<usize> = chunk.iter().map(|o| o.source).collect();
            let size = chunk.first().map_or(0, |o| o.record.approximate_size());
            let records = chunk.into_iter().map(|o| o.record).collect();
            let produce = client.produce(records, self.config.compression);
            let failure = match tokio::time::timeout_at(deadline.cutoff(), produce).await {
                Ok(Ok(offsets)) if offsets.len() == sources.len() => {
                    outcome.acknowledged.extend(sources);
                    continue;
                }
                Ok(Ok(offsets)) => Failure::new(
                    format!(
                        "{topic}/{partition}: broker acknowledged {} of {} records",
                        offsets.len(),
                        sources.len()
                    ),
                    true,
                ),
                Ok(Err(e)) => match record_refusal(&e) {
                    Some(_) if sources.len() > 1 => {
                        let mut first: Vec<Outgoing> = sources.iter().map(|&source| rebuild(source)).collect();
                        let second = first.split_off(first.len() / 2);
                        pending.push_front(second);
                        pending.push_front(first);
                        continue;
                    }
                    Some(refusal) => {
                        let why = match refusal {
                            RecordRefusal::Size => {
                                format!("the broker refused the record for its size ({size} bytes)")
                            }
                            RecordRefusal::Record => "the broker refused the record".to_owned(),
                        };
                        let error = KafkaError::partition(topic, partition, "producing", &e);
                        let failure = Failure::new(format!("{topic}/{partition}: {why}: {error}"), false);
                        outcome.refused.push((sources[0], failure, refusal));
                        continue;
                    }
                    None => Failure::of(&KafkaError::partition(topic, partition, "producing", &e)),
                },
                Err(_) => Failure::new(
                    format!("{topic}/{partition}: no acknowledgement before the invocation deadline"),
                    true,
                ),
            };
            outcome.failed = Some((unsent(pending, sources), failure));
            break;
        }
        outcome
    }

    /// Produces each target partition's records, `concurrency` partitions at a time.
    async fn produce_groups(
        &self,
        groups: BTreeMap<(String, i32), Vec<Outgoing>>,
        rebuild: &Rebuild<'_>,
        deadline: Deadline,
    ) -> Vec<PartitionOutcome> {
        stream::iter(groups)
            .map(|((topic, partition), records)| async move {
                self.produce_partition(&topic, partition, records, rebuild, deadline)
                    .await
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await
    }

    /// Adds `outgoing` to its target partition's records.
    fn place(
        &self,
        groups: &mut BTreeMap<(String, i32), Vec<Outgoing>>,
        batch: &StagedBatch<'_>,
        topic: String,
        partitions: i32,
        outgoing: Outgoing,
    ) {
        let source_partition = batch.get(outgoing.source).expect("sources index the batch").partition;
        let key = outgoing.record.key.as_deref();
        let partition = self
            .partitioner
            .choose(self.config.partition_strategy, key, source_partition, partitions);
        groups.entry((topic, partition)).or_default().push(outgoing);
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

    fn dead_letters_rejected(&self) -> bool {
        self.config.dead_letter_topic.is_some()
    }

    async fn write(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, ProduceError> {
        // Records that cannot be produced as they are go to the dead-letter topic, or fail the batch before
        // anything is sent.
        let mut ready = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        // The dead letters, by source, with why: to count them, and to build them again if need be.
        let mut dead_letters: HashMap<usize, Failure> = HashMap::new();
        for (i, record) in batch.records().enumerate() {
            match (
                request::outgoing(i, &record, &self.config),
                &self.config.dead_letter_topic,
            ) {
                (Ok(outgoing), _) => ready.push(outgoing),
                (Err(failure), Some(topic)) => {
                    ready.push((topic.clone(), request::dead_letter(i, &record, &failure)));
                    dead_letters.insert(i, failure);
                }
                (Err(failure), None) => refused.push(Unwritten { record: i, failure }),
            }
        }
        if let Some(not_written) = NotWritten::of(batch, refused) {
            return Err(not_written.into());
        }
        let counts = self.partition_counts(&ready).await?;
        // The dead-letter topic and its partition count (partition_counts made sure it exists).
        let dead = self.config.dead_letter_topic.as_ref().map(|topic| {
            let partitions = counts.get(topic).copied().flatten();
            (topic, partitions.expect("the dead-letter topic's count is known"))
        });
        let mut groups: BTreeMap<(String, i32), Vec<Outgoing>> = BTreeMap::new();
        for (topic, mut outgoing) in ready {
            let (topic, partitions) = match (counts.get(&topic).copied().flatten(), dead) {
                (Some(n), _) => (topic, n),
                // A topic a field routed the record to that does not exist: the record's fault.
                (None, Some((dead, partitions))) => {
                    let record = batch.get(outgoing.source).expect("sources index the batch");
                    let failure = Failure::new(
                        format!(
                            "{}/{}/{}: target topic `{topic}` does not exist (to-kafka never creates topics)",
                            record.topic, record.partition, record.offset
                        ),
                        false,
                    );
                    outgoing = request::dead_letter(outgoing.source, &record, &failure);
                    dead_letters.insert(outgoing.source, failure);
                    (dead.clone(), partitions)
                }
                (None, None) => unreachable!("partition_counts fails on a missing topic without a dead-letter topic"),
            };
            self.place(&mut groups, batch, topic, partitions, outgoing);
        }
        let (mut written, mut dead_lettered) = (0, 0);
        let mut unwritten = Vec::new();
        let mut refused_alone = Vec::new();
        let rebuild = |source: usize| {
            let record = batch.get(source).expect("sources index the batch");
            match dead_letters.get(&source) {
                Some(failure) => request::dead_letter(source, &record, failure),
                None => {
                    request::outgoing(source, &record, &self.config)
                        .expect("a record made once is made again")
                        .1
                }
            }
        };
        for outcome in self.produce_groups(groups, &rebuild, deadline).await {
            let letters = outcome
                .acknowledged
                .iter()
                .filter(|i| dead_letters.contains_key(*i))
                .count();
            dead_lettered += letters;
            written += outcome.acknowledged.len() - letters;
            unwritten.extend(not_acknowledged(outcome.failed));
            refused_alone.extend(outcome.refused);
        }
        // A record the broker refused alone goes to the dead letters; one too large goes without its bytes
        // (they would be refused there too), its letter saying where to read them.
        let mut letters = BTreeMap::new();
        let mut refusals = HashMap::new();
        let letter = |source: usize, failure: &Failure, refusal: RecordRefusal| {
            let record = batch.get(source).expect("sources index the batch");
            match refusal {
                RecordRefusal::Size => request::dead_letter_without_bytes(source, &record, failure),
                RecordRefusal::Record => request::dead_letter(source, &record, failure),
            }
        };
        for (source, failure, refusal) in refused_alone {
            // A dead letter the broker refuses has nowhere else to go.
            let Some((dead, partitions)) = dead.filter(|_| !dead_letters.contains_key(&source)) else {
                unwritten.push(Unwritten {
                    record: source,
                    failure,
                });
                continue;
            };
            self.place(
                &mut letters,
                batch,
                dead.clone(),
                partitions,
                letter(source, &failure, refusal),
            );
            refusals.insert(source, (failure, refusal));
        }
        let rebuild_letter = |source: usize| {
            let (failure, refusal) = &refusals[&source];
            letter(source, failure, *refusal)
        };
        for outcome in self.produce_groups(letters, &rebuild_letter, deadline).await {
            dead_lettered += outcome.acknowledged.len();
            let refused = outcome
                .refused
                .into_iter()
                .map(|(record, failure, _)| Unwritten { record, failure });
            unwritten.extend(refused);
            unwritten.extend(not_acknowledged(outcome.failed));
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
