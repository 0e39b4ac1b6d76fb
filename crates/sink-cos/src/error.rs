use ckafka_dump_core::{ConfigError, Retryable};
use ckafka_dump_kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum CosError {
    #[error("{op} {key}: {detail}")]
    Store {
        op: &'static str,
        key: String,
        detail: String,
        retryable: bool,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("encoding {key}: {source}")]
    Encode { key: String, source: std::io::Error },
    #[error("scheduled dump: {0}")]
    Kafka(#[from] KafkaError),
    #[error("scheduled dump: {source} (at offset {offset})")]
    Fetch { offset: i64, source: KafkaError },
    #[error("checkpoint {key} is unreadable ({reason}); delete it to start the partition again from offset_type")]
    Checkpoint { key: String, reason: String },
    #[error("dating ledger {key} is unreadable ({reason}); delete it to date its records anew")]
    Ledger { key: String, reason: String },
    #[error("{failed} of {total} {what} failed; first: {first}")]
    Some {
        failed: usize,
        total: usize,
        what: &'static str,
        first: Box<CosError>,
    },
}

impl CosError {
    pub fn store(op: &'static str, key: &str, detail: impl Into<String>, retryable: bool) -> Self {
        CosError::Store {
            op,
            key: key.to_owned(),
            detail: detail.into(),
            retryable,
        }
    }

    /// The first of `errors` standing for all of them, or `Ok` when there are none.
    pub fn first_of(errors: Vec<CosError>, total: usize, what: &'static str) -> Result<(), CosError> {
        let failed = errors.len();
        match errors.into_iter().next() {
            None => Ok(()),
            Some(first) if total == 1 => Err(first),
            Some(first) => Err(CosError::Some {
                failed,
                total,
                what,
                first: Box::new(first),
            }),
        }
    }
}

impl Retryable for CosError {
    fn is_retryable(&self) -> bool {
        match self {
            CosError::Store { retryable, .. } => *retryable,
            CosError::Kafka(e) | CosError::Fetch { source: e, .. } => e.is_retryable(),
            CosError::Some { first, .. } => first.is_retryable(),
            CosError::Config(_) | CosError::Encode { .. } | CosError::Checkpoint { .. } | CosError::Ledger { .. } => {
                false
            }
        }
    }
}

impl From<CosError> for ckafka_dump_core::Error {
    fn from(e: CosError) -> Self {
        ckafka_dump_core::Error::sink("cos", &e)
    }
}
