//! Elasticsearch / OpenSearch sink of `to-es`.

pub mod client;
pub mod config;
pub mod document;
pub mod error;
pub mod outcome;
pub mod request;
pub mod response;

use std::time::Duration;

use ckafka_dump_core::dating::{self, Ledger, LedgerCache, LedgerStore};
use ckafka_dump_core::retry::{Bound, RetryPolicy};
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::{Deadline, Delivery, Failure, NotWritten, Sink, StagedBatch};
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
    /// Epoch milliseconds now: the wall clock, or a test's.
    clock: fn() -> i64,
    ledgers: LedgerCache,
}

impl EsSink {
    pub fn new(config: EsConfig) -> Result<Self, EsError> {
        let client = EsClient::new(&config)?;
        Ok(EsSink {
            config,
            client,
            clock: now_epoch_ms,
            ledgers: LedgerCache::default(),
        })
    }

    /// The same sink reading the time from `clock` (tests move it across midnight).
    pub fn with_clock(self, clock: fn() -> i64) -> Self {
        EsSink { clock, ..self }
    }

    /// Sends `items` until each has a final outcome or the deadline leaves no room for another round.
    /// Only retryable outcomes are sent again.
    async fn send_all(&self, items: &[BulkItem], op: OpType, deadline: Deadline) -> Vec<ItemOutcome> {
        let not_sent = Failure::new("not sent: no time left before the deadline", true);
        let mut outcomes = vec![ItemOutcome::Failed(not_sent); items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        // Halved while the server answers 413: requests shrink until they pass or hold one document.
        let mut max_bytes = self.config.bulk_max_bytes;
        let bound = Bound::Cutoff {
            deadline,
            attempt_budget: Duration::from_secs(1),
        };
        let mut retries = RetryPolicy::DEFAULT.retries("bulk request", bound);
        loop {
            let timeout = self.config.request_timeout.min(deadline.remaining());
            if timeout.is_zero() {
                break;
            }
            pending = self
                .send_round(items, op, &pending, max_bytes, timeout, &mut outcomes)
                .await;
            if pending.is_empty() {
                break;
            }
            pending.sort_unstable();
            // Each item's outcome says why it is not written; the retries' log only counts them.
            let still_pending = format!("{} bulk items not written", pending.len());
            if pending.iter().any(|&i| matches!(outcomes[i], ItemOutcome::TooLarge(_))) {
                max_bytes = (max_bytes / 2).max(1);
                retries.again(&still_pending);
            } else if retries.wait(still_pending).await.is_err() {
                break;
            }
        }
        outcomes
    }

    /// Sends the `pending` items in requests of at most `max_bytes`, records each answer in `outcomes` and
    /// returns the items worth sending again.
    async fn send_round(
        &self,
        items: &[BulkItem],
        op: OpType,
        pending: &[usize],
        max_bytes: usize,
        timeout: Duration,
        outcomes: &mut [ItemOutcome],
    ) -> Vec<usize> {
        let chunks = request::chunk(items, pending, max_bytes);
        let answers: Vec<_> = stream::iter(chunks)
            .map(|chunk| async move {
                let body = request::body(items, &chunk);
                let answer = self.client.bulk(body, op, chunk.len(), timeout).await;
                (chunk, answer)
            })
            .buffer_unordered(self.config.bulk_concurrency)
            .collect()
            .await;
        answers
            .into_iter()
            .flat_map(|(chunk, answer)| outcome::record_answer(outcomes, chunk, answer))
            .collect()
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

    fn dead_letters_rejected(&self) -> bool {
        self.config.dead_letter_index.is_some()
    }

    async fn write(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, EsError> {
        let now_ms = (self.clock)();
        let ledgers = Ledgers { sink: self, deadline };
        let routing = dating::routing_times(
            &ledgers,
            &self.ledgers,
            batch.records().map(|r| r.record),
            self.config.granularity(),
            &self.config.zone,
            now_ms,
        )
        .await
        .map_err(|failure| NotWritten::all(batch, failure.context("dating ledger")))?;
        let plan = request::plan(batch, &self.config, &routing, now_ms);
        let outcomes = self.send_all(&plan.items, self.config.op_type, deadline).await;
        let sorted = outcome::sort(&plan.items, outcomes);
        let mut unwritten = sorted.unwritten;
        let mut bad_documents = plan.rejected;
        bad_documents.extend(sorted.bad_documents);
        let mut dead_lettered = 0;
        match &self.config.dead_letter_index {
            None => unwritten.extend(outcome::refuse(bad_documents, "no dead-letter index")),
            Some(index) if !bad_documents.is_empty() => {
                let letters: Vec<BulkItem> = bad_documents
                    .iter()
                    .map(|bad| request::dead_letter_item(index, batch, bad, now_ms))
                    .collect();
                let letter_outcomes = self.send_all(&letters, OpType::Index, deadline).await;
                let letters_sorted = outcome::sort(&letters, letter_outcomes);
                dead_lettered = letters_sorted.written;
                let refused = outcome::refuse(letters_sorted.bad_documents, "refused by the dead-letter index");
                unwritten.extend(letters_sorted.unwritten.into_iter().chain(refused).map(|mut u| {
                    u.failure = u.failure.context("dead-letter index");
                    u
                }));
            }
            Some(_) => {}
        }
        match NotWritten::of(batch, unwritten) {
            None => Ok(Delivery {
                written: sorted.written + plan.superseded,
                dead_lettered,
                skipped: plan.skipped,
            }),
            Some(not_written) => Err(not_written.into()),
        }
    }
}

/// The dating ledgers of undated records, one document per topic-partition in the ledger index.
struct Ledgers<'a> {
    sink: &'a EsSink,
    deadline: Deadline,
}

impl Ledgers<'_> {
    fn timeout(&self) -> Duration {
        self.sink.config.request_timeout.min(self.deadline.remaining())
    }
}

impl LedgerStore for Ledgers<'_> {
    type Error = Failure;

    async fn load(&self, topic: &str, partition: i32) -> Result<Option<Ledger>, Failure> {
        let (index, id) = (
            request::ledger_index(&self.sink.config),
            request::ledger_id(topic, partition),
        );
        let Some(source) = self.sink.client.get_source(&index, &id, self.timeout()).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&source).map(Some).map_err(|e| {
            Failure::new(
                format!("{index}/{id} is unreadable ({e}); delete it to date its records anew"),
                false,
            )
        })
    }

    async fn save(&self, topic: &str, partition: i32, ledger: &Ledger) -> Result<(), Failure> {
        let (index, id) = (
            request::ledger_index(&self.sink.config),
            request::ledger_id(topic, partition),
        );
        let source = serde_json::to_vec(ledger).expect("a ledger always serializes");
        self.sink.client.put_document(&index, &id, source, self.timeout()).await
    }
}
