//! COS / S3 sink of `to-cos`: trigger batches become objects keyed by topic/partition/first offset, and
//! timer events run the scheduled dump that consumes the topic itself and keeps checkpoints in the bucket.

pub mod checkpoint;
pub mod config;
pub mod encode;
pub mod error;
pub mod fence;
pub mod lease;
pub mod naming;
pub mod parquet;
pub mod schedule;
pub mod store;
pub mod trigger;
pub mod writer;

use std::sync::Arc;

use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{ConfigError, Deadline, Delivery, Drained, Sink, StagedBatch};
use ckafka_dump_kafka::KafkaClient;

use crate::config::CosConfig;
use crate::error::CosError;
use crate::schedule::Scheduler;
use crate::writer::Objects;

pub struct CosSink {
    objects: Arc<Objects>,
    scheduler: Option<Scheduler>,
    /// Epoch milliseconds now: the wall clock, or a test's.
    clock: fn() -> i64,
}

impl CosSink {
    pub fn new(mut config: CosConfig) -> Result<Self, CosError> {
        let scheduler = config
            .schedule
            .take()
            .map(|schedule| {
                let kafka = KafkaClient::new(schedule.connection.clone())?;
                Ok::<_, CosError>(Scheduler::new(schedule, kafka))
            })
            .transpose()?;
        Ok(CosSink {
            objects: Arc::new(Objects::new(config)),
            scheduler,
            clock: ckafka_dump_core::time::now_epoch_ms,
        })
    }

    /// The same sink reading the time from `clock` (tests move it across midnight).
    pub fn with_clock(self, clock: fn() -> i64) -> Self {
        CosSink { clock, ..self }
    }

    /// The bucket and its naming, for tests and tools that look at what was written.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }
}

impl Sink for CosSink {
    type Error = CosError;

    fn target(&self) -> String {
        self.objects.store.describe()
    }

    fn dead_letters_rejected(&self) -> bool {
        self.objects.config.dead_letter_prefix.is_some()
    }

    async fn write(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, CosError> {
        trigger::write_batch(&self.objects, batch, (self.clock)(), self.clock, deadline).await
    }

    async fn run_scheduled(&self, stage: &Stage, deadline: Deadline) -> Option<Result<Drained, CosError>> {
        Some(match &self.scheduler {
            Some(scheduler) => scheduler.drain(&self.objects, stage, deadline, self.clock).await,
            None => Err(ConfigError::new(
                "kafka_address",
                "is required for the scheduled dump (timer events), with topic_name",
            )
            .into()),
        })
    }
}
