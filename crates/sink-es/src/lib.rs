//! Elasticsearch / OpenSearch sink of `to-es`.

pub mod client;
pub mod config;
pub mod document;
pub mod error;
pub mod outcome;
pub mod request;
pub mod response;

use std::time::Duration;

use ckafka_dump_core::retry::RetryPolicy;
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::{Batch, Deadline, Delivery, Failure, NotWritten, Sink};
use futures_util::stream::{self, StreamExt};

use crate::client::EsClient;
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
    /// Only retryable outcomes are sent again.
    async fn send_all(&self, items: &[BulkItem], op: OpType, deadline: Deadline) -> Vec<ItemOutcome> {
        let not_sent = Failure::new("not sent: no time left before the deadline", true);
        let mut outcomes = vec![ItemOutcome::Failed(not_sent); items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut backoff = RetryPolicy::DEFAULT.backoff();
        while !pending.is_empty() {
            let timeout = self.config.request_timeout.min(deadline.remaining());
            if timeout.is_zero() {
                break;
            }
            let chunks = request::chunk(items, &pending, self.config.bulk_max_bytes);
            let answers: Vec<_> = stream::iter(chunks)
                .map(|chunk| async move {
                    let body = request::body(items, &chunk);
                    let answer = self.client.bulk(body, op, chunk.len(), timeout).await;
                    (chunk, answer)
                })
                .buffer_unordered(self.config.bulk_concurrency)
                .collect()
                .await;
            pending = answers
                .into_iter()
                .flat_map(|(chunk, answer)| outcome::record_answer(&mut outcomes, chunk, answer))
                .collect();
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
        let items = request::bulk_items(batch, &self.config, now_ms);
        let skipped = batch.len() - items.len();
        let outcomes = self.send_all(&items, self.config.op_type, deadline).await;
        let sorted = outcome::sort(&items, outcomes);
        let mut unwritten = sorted.unwritten;
        let mut dead_lettered = 0;
        match &self.config.dead_letter_index {
            None => unwritten.extend(outcome::refuse(&items, sorted.bad_documents, "no dead-letter index")),
            Some(index) if !sorted.bad_documents.is_empty() => {
                let letters: Vec<BulkItem> = sorted
                    .bad_documents
                    .iter()
                    .map(|bad| request::dead_letter_item(&self.config, index, batch, &items[bad.item], bad, now_ms))
                    .collect();
                let letter_outcomes = self.send_all(&letters, OpType::Index, deadline).await;
                let letters_sorted = outcome::sort(&letters, letter_outcomes);
                dead_lettered = letters_sorted.written;
                let refused = outcome::refuse(
                    &letters,
                    letters_sorted.bad_documents,
                    "refused by the dead-letter index",
                );
                unwritten.extend(letters_sorted.unwritten.into_iter().chain(refused).map(|mut u| {
                    u.failure = u.failure.context("dead-letter index");
                    u
                }));
            }
            Some(_) => {}
        }
        match NotWritten::of(batch, unwritten) {
            None => Ok(Delivery {
                written: sorted.written,
                dead_lettered,
                skipped,
            }),
            Some(not_written) => Err(not_written.into()),
        }
    }
}
