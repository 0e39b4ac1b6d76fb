//! Why a restore run stopped, each knowing whether the next run can do better.

use ckafka_dump_core::{ConfigError, Retryable};
use ckafka_dump_kafka::KafkaError;
use ckafka_dump_sink_cos::error::CosError;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Store(#[from] CosError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An object the restore cannot read: a format it refuses, a line that is no backup record.
    #[error("{key}: {reason}")]
    Backup { key: String, reason: String },
    /// The target refused a record alone: it will refuse it again.
    #[error("{key}: the record at source offset {offset}: {reason}")]
    Refused { key: String, offset: i64, reason: String },
    /// The target topic cannot take the plan (too few partitions).
    #[error("{0}")]
    Target(String),
    #[error("{what}: no answer before the invocation's deadline (its cut-off)")]
    Deadline { what: String },
    #[error("restore runs on a timer or from a terminal (`restore run`); it takes no Kafka trigger events")]
    NotATrigger,
    #[error("{failed} of {total} partitions failed; the first: {first}")]
    Some {
        failed: usize,
        total: usize,
        first: Box<RestoreError>,
    },
}

impl RestoreError {
    pub fn backup(key: &str, reason: impl Into<String>) -> Self {
        RestoreError::Backup {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// The first of `errors`, with how many of `total` partitions failed.
    pub fn first_of(errors: Vec<RestoreError>, total: usize) -> Result<(), RestoreError> {
        let failed = errors.len();
        match errors.into_iter().next() {
            None => Ok(()),
            Some(first) if total == 1 => Err(first),
            Some(first) => Err(RestoreError::Some {
                failed,
                total,
                first: Box::new(first),
            }),
        }
    }
}

impl Retryable for RestoreError {
    fn is_retryable(&self) -> bool {
        match self {
            RestoreError::Store(e) => e.is_retryable(),
            RestoreError::Kafka(e) => e.is_retryable(),
            RestoreError::Deadline { .. } => true,
            RestoreError::Some { first, .. } => first.is_retryable(),
            RestoreError::Config(_)
            | RestoreError::Backup { .. }
            | RestoreError::Refused { .. }
            | RestoreError::Target(_)
            | RestoreError::NotATrigger => false,
        }
    }
}

impl From<RestoreError> for ckafka_dump_core::Error {
    fn from(e: RestoreError) -> Self {
        ckafka_dump_core::Error::sink("restore", &e)
    }
}
