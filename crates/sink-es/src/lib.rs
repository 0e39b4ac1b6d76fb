//! Elasticsearch / OpenSearch sink of `to-es`.

pub mod client;
pub mod config;
pub mod document;
pub mod error;
pub mod request;
pub mod response;

use std::time::Duration;

use ckafka_dump_core::retry::Backoff;
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::{Batch, Deadline, Delivery, Sink};
use futures_util::stream::{self, StreamExt};

use crate::client::{EsClient, RequestError};
use crate::config::{EsConfig, OpType};
use crate::error::EsError;
use crate::request::BulkItem;
use crate::response::ItemOutcome;

impl From<EsError> for ckafka_dump_core::Error {
    fn from(e: EsError) -> Self {
        ckafka_dump_core::Error::sink("elasticsearch", &e)
    }
}

pub struct EsSink {
    config: EsConfig,
    client: EsClient,
}

impl EsSink {
    pub fn new(config: EsConfig) -> Result<Self, EsError> {
        let client = EsClient::new(&config)?;
        Ok(EsSink { config, client })
    }

    /// Sends `items` until each has a final outcome or the deadline leaves no room for another round.
    /// Only retryable outcomes are sent again; what is still `Retry` at the end was not written.
    async fn send_all(&self, items: &[BulkItem], op: OpType, deadline: Deadline) -> Vec<ItemOutcome> {
        let mut outcomes =
            vec![ItemOutcome::Retry("not sent: no time left before the deadline".to_owned()); items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        while !pending.is_empty() {
            let timeout = self
                .config
                .request_timeout
                .min(deadline.with_safety_margin().remaining());
            if timeout.is_zero() {
                break;
            }
            let chunks = request::chunk(items, &pending, self.config.bulk_max_bytes);
            let results: Vec<_> = stream::iter(chunks)
                .map(|chunk| async move {
                    let result = self
                        .client
                        .bulk(request::body(items, &chunk), op, chunk.len(), timeout)
                        .await;
                    (chunk, result)
                })
                .buffer_unordered(self.config.bulk_concurrency)
                .collect()
                .await;
            pending.clear();
            for (chunk, result) in results {
                match result {
                    Ok(answers) => {
                        for (i, outcome) in chunk.into_iter().zip(answers) {
                            if matches!(outcome, ItemOutcome::Retry(_)) {
                                pending.push(i);
                            }
                            outcomes[i] = outcome;
                        }
                    }
                    Err(RequestError::Retryable(message)) => {
                        for i in chunk {
                            outcomes[i] = ItemOutcome::Retry(message.clone());
                            pending.push(i);
                        }
                    }
                    Err(RequestError::Permanent(message)) => {
                        for i in chunk {
                            outcomes[i] = ItemOutcome::Failed(message.clone());
                        }
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            pending.sort_unstable();
            tracing::debug!(pending = pending.len(), "retrying bulk items");
            match backoff.next_delay(deadline, Duration::from_secs(1)) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        outcomes
    }
}

impl Sink for EsSink {
    type Error = EsError;

    fn target(&self) -> String {
        format!(
            "elasticsearch {} index {}-*",
            self.config.nodes.join(","),
            self.config.index_keyword
        )
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, EsError> {
        let now_ms = now_epoch_ms();
        let op = self.config.op_type;
        let items = request::bulk_items(batch, &self.config, now_ms);
        let skipped = batch.len() - items.len();
        let outcomes = self.send_all(&items, op, deadline).await;

        let mut written = 0;
        let mut failures: Vec<(usize, String, bool)> = Vec::new();
        let mut dead_letters = Vec::new();
        for (item, outcome) in items.iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Written => written += 1,
                ItemOutcome::Retry(reason) => failures.push((item.record, reason, true)),
                ItemOutcome::Failed(reason) => failures.push((item.record, reason, false)),
                ItemOutcome::BadDocument { error_type, reason } => match &self.config.dead_letter_index {
                    Some(dead_letter_index) => {
                        let record = batch.get(item.record).expect("items index the batch");
                        let target = request::index_of(&self.config, &record, now_ms);
                        let source = document::dead_letter(&record, &target, &error_type, &reason, now_ms);
                        let id = request::coordinates_id(&record);
                        dead_letters.push(request::bulk_item(
                            item.record,
                            OpType::Index,
                            dead_letter_index,
                            &id,
                            &source,
                        ));
                    }
                    None => failures.push((
                        item.record,
                        format!("{error_type}: {reason} (no dead-letter index)"),
                        false,
                    )),
                },
            }
        }
        let mut dead_lettered = 0;
        if !dead_letters.is_empty() {
            for (item, outcome) in dead_letters
                .iter()
                .zip(self.send_all(&dead_letters, OpType::Index, deadline).await)
            {
                match outcome {
                    ItemOutcome::Written => dead_lettered += 1,
                    ItemOutcome::Retry(reason) => {
                        failures.push((item.record, format!("dead-letter index: {reason}"), true))
                    }
                    ItemOutcome::Failed(reason) | ItemOutcome::BadDocument { reason, .. } => {
                        failures.push((item.record, format!("dead-letter index: {reason}"), false))
                    }
                }
            }
        }
        if failures.is_empty() {
            return Ok(Delivery {
                written,
                dead_lettered,
                skipped,
            });
        }
        failures.sort_by_key(|f| f.0);
        Err(EsError::NotWritten {
            count: failures.len(),
            total: batch.len(),
            offsets: batch.coordinates(&failures.iter().map(|f| f.0).collect::<Vec<_>>()),
            reason: failures[0].1.clone(),
            retryable: failures.iter().any(|f| f.2),
        })
    }
}
