//! What the runtimes drive: a sink that takes trigger batches, with or without a scheduled mode of its own,
//! behind the transform stage.

use std::future::Future;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::{Stage, Staging};
use ckafka_dump_core::{
    Batch, ConfigError, Deadline, Delivery, Drained, Error, Failure, NotWritten, Scheduled, Sink, Unwritten,
};

pub trait Handler: Send + Sync {
    /// Where the records go, for logs and the invocation result. Never holds a secret.
    fn target(&self) -> String;

    /// Runs the transform stage over a decoded batch; fails when it rejected records the sink has no dead
    /// letters for.
    fn stage(&self, batch: &mut Batch<'_>) -> Result<Staging, Error>;

    fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> impl Future<Output = Result<Delivery, Error>> + Send;

    /// A timer event: the scheduled mode, or an error for functions that have none.
    fn run_scheduled(&self, deadline: Deadline) -> impl Future<Output = Result<Drained, Error>> + Send;

    /// Whether records a sink names as not written are answered as a partial batch response
    /// (`report_batch_item_failures`) instead of failing the invocation.
    fn reports_item_failures(&self) -> bool;
}

/// `report_batch_item_failures`: on only when the Lambda event source mapping has `ReportBatchItemFailures`
/// (else Lambda takes the answer for success and the records named in it are lost).
pub fn report_item_failures(env: &Env) -> Result<bool, ConfigError> {
    env.bool_or("report_batch_item_failures", false)
}

/// A function driven by Kafka triggers only; timer events are refused.
pub struct Triggered<S> {
    sink: S,
    stage: Stage,
    item_failures: bool,
}

/// A function with a scheduled mode as well (to-cos): timer events run it.
pub struct WithSchedule<S> {
    sink: S,
    stage: Stage,
    item_failures: bool,
}

impl<S: Sink> Triggered<S> {
    /// The sink without a transform stage.
    pub fn new(sink: S) -> Self {
        Triggered {
            sink,
            stage: Stage::default(),
            item_failures: false,
        }
    }

    pub fn with_stage(self, stage: Stage) -> Self {
        Triggered { stage, ..self }
    }

    pub fn with_item_failures(self, item_failures: bool) -> Self {
        Triggered { item_failures, ..self }
    }
}

impl<S: Scheduled> WithSchedule<S> {
    pub fn new(sink: S) -> Self {
        WithSchedule {
            sink,
            stage: Stage::default(),
            item_failures: false,
        }
    }

    pub fn with_stage(self, stage: Stage) -> Self {
        WithSchedule { stage, ..self }
    }

    pub fn with_item_failures(self, item_failures: bool) -> Self {
        WithSchedule { item_failures, ..self }
    }
}

impl<S: Sink> Handler for Triggered<S> {
    fn target(&self) -> String {
        self.sink.target()
    }

    fn stage(&self, batch: &mut Batch<'_>) -> Result<Staging, Error> {
        stage(&self.stage, &self.sink, batch)
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
        write(&self.sink, batch, deadline).await
    }

    async fn run_scheduled(&self, _deadline: Deadline) -> Result<Drained, Error> {
        Err(Error::NoSchedule {
            target: self.sink.target(),
        })
    }

    fn reports_item_failures(&self) -> bool {
        self.item_failures
    }
}

impl<S: Scheduled> Handler for WithSchedule<S> {
    fn target(&self) -> String {
        self.sink.target()
    }

    fn stage(&self, batch: &mut Batch<'_>) -> Result<Staging, Error> {
        stage(&self.stage, &self.sink, batch)
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
        write(&self.sink, batch, deadline).await
    }

    async fn run_scheduled(&self, deadline: Deadline) -> Result<Drained, Error> {
        // Boxed like the batch write: the consumer's futures nest deeply.
        Box::pin(self.sink.run_scheduled(deadline))
            .await
            .map_err(|e| Error::sink(self.sink.target(), &e))
    }

    fn reports_item_failures(&self) -> bool {
        self.item_failures
    }
}

fn stage<S: Sink>(stage: &Stage, sink: &S, batch: &mut Batch<'_>) -> Result<Staging, Error> {
    let staging = stage.apply(batch, &sink.fields_read());
    if staging.rejected > 0 && !sink.dead_letters_rejected() {
        let rejected = batch
            .records()
            .enumerate()
            .filter_map(|(record, r)| {
                let reason = format!("transform: {}", r.rejection?);
                Some(Unwritten {
                    record,
                    failure: Failure::new(reason, false),
                })
            })
            .collect();
        let not_written = NotWritten::of(batch, rejected).expect("rejected records are listed");
        return Err(Error::sink(sink.target(), &not_written));
    }
    Ok(staging)
}

async fn write<S: Sink>(sink: &S, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
    // Boxed: sink futures nest deeply (rskafka), and inlining them into every runtime's future type
    // overflows the compiler's layout query depth.
    Box::pin(sink.write(batch, deadline))
        .await
        .map_err(|e| Error::sink(sink.target(), &e))
}
