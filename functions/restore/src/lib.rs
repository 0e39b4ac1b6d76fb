//! `restore`: replays a to-cos JSON-lines backup into a Kafka topic, exactly once — from a terminal
//! (`restore run`), or as a function on a timer that continues from where the last run stopped.

pub mod backup;
pub mod config;
pub mod error;
pub mod job;
pub mod plan;

use std::sync::Arc;

use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Delivery, Drained, Sink, StagedBatch};

use crate::error::RestoreError;
use crate::job::Restore;

/// The job as a function: a timer event runs it until the invocation's deadline nears.
pub struct RestoreFunction(pub Arc<Restore>);

impl Sink for RestoreFunction {
    type Error = RestoreError;

    fn target(&self) -> String {
        self.0.target()
    }

    async fn write(&self, _batch: &StagedBatch<'_>, _deadline: Deadline) -> Result<Delivery, RestoreError> {
        Err(RestoreError::NotATrigger)
    }

    async fn run_scheduled(&self, _stage: &Stage, deadline: Deadline) -> Option<Result<Drained, RestoreError>> {
        let report = self.0.run(deadline, false, &Arc::default()).await;
        Some(report.map(|report| {
            tracing::info!(
                job = report.job,
                complete = report.complete,
                objects = report.objects,
                "restore run: {}",
                if report.complete {
                    "the job is complete"
                } else {
                    "more to do on the next run"
                }
            );
            report.drained()
        }))
    }
}
