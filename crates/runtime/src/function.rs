//! What the runtimes drive: one function — a sink behind the transform stage — whatever the sink.

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{
    Batch, ConfigError, Deadline, Delivery, Drained, Error, Failure, NotWritten, Sink, StagedBatch, Unwritten,
};

/// `report_batch_item_failures`: on only when the Lambda event source mapping has `ReportBatchItemFailures`
/// (else Lambda takes the answer for success and the records named in it are lost).
pub fn report_item_failures(env: &Env) -> Result<bool, ConfigError> {
    env.flag(&crate::variables::REPORT_BATCH_ITEM_FAILURES)
}

/// A sink with its transform stage and how it answers records it could not write.
pub struct Function<S> {
    sink: S,
    stage: Stage,
    item_failures: bool,
}

impl<S: Sink> Function<S> {
    /// The sink without a transform stage.
    pub fn new(sink: S) -> Self {
        Function {
            sink,
            stage: Stage::default(),
            item_failures: false,
        }
    }

    pub fn with_stage(self, stage: Stage) -> Self {
        Function { stage, ..self }
    }

    /// Whether records a sink names as not written are answered as a partial batch response
    /// (`report_batch_item_failures`) instead of failing the invocation.
    pub fn with_item_failures(self, item_failures: bool) -> Self {
        Function { item_failures, ..self }
    }

    /// Where the records go, for logs and the invocation result. Never holds a secret.
    pub fn target(&self) -> String {
        self.sink.target()
    }

    pub(crate) fn reports_item_failures(&self) -> bool {
        self.item_failures
    }

    /// Runs the transform stage over a decoded batch; fails when it rejected records the sink has no dead
    /// letters for.
    pub(crate) fn stage<'s>(&'s self, batch: &'s Batch<'s>) -> Result<StagedBatch<'s>, Error> {
        let staged = self.stage.apply(batch);
        if !self.sink.dead_letters_rejected() {
            let rejected: Vec<Unwritten> = staged
                .records()
                .enumerate()
                .filter_map(|(record, r)| {
                    Some(Unwritten {
                        record,
                        failure: Failure::new(r.rejection()?.to_string(), false),
                    })
                })
                .collect();
            if let Some(not_written) = NotWritten::of(&staged, rejected) {
                return Err(Error::sink(self.target(), &not_written));
            }
        }
        Ok(staged)
    }

    pub(crate) async fn write(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
        // Boxed: sink futures nest deeply (rskafka), and inlining them into every runtime's future type
        // overflows the compiler's layout query depth.
        Box::pin(self.sink.write(batch, deadline))
            .await
            .map_err(|e| Error::sink(self.target(), &e))
    }

    /// A timer event: the sink's scheduled mode, or an error for sinks that have none.
    pub(crate) async fn run_scheduled(&self, deadline: Deadline) -> Result<Drained, Error> {
        match Box::pin(self.sink.run_scheduled(&self.stage, deadline)).await {
            Some(drained) => drained.map_err(|e| Error::sink(self.target(), &e)),
            None => Err(Error::NoSchedule { target: self.target() }),
        }
    }
}
