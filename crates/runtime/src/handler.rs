//! What the runtimes drive: a sink that takes trigger batches, with or without a scheduled mode of its own.

use std::future::Future;

use ckafka_dump_core::{Batch, Deadline, Delivery, Drained, Error, Scheduled, Sink};

pub trait Handler: Send + Sync {
    /// Where the records go, for logs and the invocation result. Never holds a secret.
    fn target(&self) -> String;

    fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> impl Future<Output = Result<Delivery, Error>> + Send;

    /// A timer event: the scheduled mode, or an error for functions that have none.
    fn run_scheduled(&self, deadline: Deadline) -> impl Future<Output = Result<Drained, Error>> + Send;
}

/// A function driven by Kafka triggers only; timer events are refused.
pub struct Triggered<S>(pub S);

/// A function with a scheduled mode as well (to-cos): timer events run it.
pub struct WithSchedule<S>(pub S);

impl<S: Sink> Handler for Triggered<S> {
    fn target(&self) -> String {
        self.0.target()
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
        write(&self.0, batch, deadline).await
    }

    async fn run_scheduled(&self, _deadline: Deadline) -> Result<Drained, Error> {
        Err(Error::NoSchedule {
            target: self.0.target(),
        })
    }
}

impl<S: Scheduled> Handler for WithSchedule<S> {
    fn target(&self) -> String {
        self.0.target()
    }

    async fn write(&self, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
        write(&self.0, batch, deadline).await
    }

    async fn run_scheduled(&self, deadline: Deadline) -> Result<Drained, Error> {
        // Boxed like the batch write: the consumer's futures nest deeply.
        Box::pin(self.0.run_scheduled(deadline))
            .await
            .map_err(|e| Error::sink(self.0.target(), &e))
    }
}

async fn write<S: Sink>(sink: &S, batch: &Batch<'_>, deadline: Deadline) -> Result<Delivery, Error> {
    // Boxed: sink futures nest deeply (rskafka), and inlining them into every runtime's future type
    // overflows the compiler's layout query depth.
    Box::pin(sink.write(batch, deadline))
        .await
        .map_err(|e| Error::sink(sink.target(), &e))
}
