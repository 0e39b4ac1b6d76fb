use ckafka_dump_core::error::shortened;
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
    #[error("written offsets {key} are unreadable ({reason}); restore it, or delete it and re-delivered records are written again")]
    WrittenOffsets { key: String, reason: String },
    #[error("partition lease {key}: {reason}")]
    Lease {
        key: String,
        reason: String,
        retryable: bool,
    },
    #[error("scheduled dump: {store} overwrote an object that a create-if-absent (If-None-Match: *, x-cos-forbid-overwrite) should have refused — a bucket with versioning, or an S3-compatible store without conditional writes; overlapping runs could not be fenced, so the dump does not run: use a bucket without versioning")]
    NoFencing { store: String },
    #[error("scheduled dump: the time left ({left_ms} ms) is no more than the upload reserve ({reserve_ms} ms: 5 s plus a part at 50 MiB/s); raise the function's timeout or lower part_size_bytes")]
    NoTimeToDrain { left_ms: u64, reserve_ms: u64 },
    /// A key the template gave two objects of one invocation, or one longer than the store accepts: the
    /// naming settings cannot hold these records apart.
    #[error("object key for {record}: {reason}")]
    Key { record: String, reason: String },
    /// A record the stage rejected or a column cannot take, with nowhere to set it aside.
    #[error("record {record}: {reason} (set dead_letter_prefix to write such records aside)")]
    Refused { record: String, reason: String },
    #[error("{failed} of {total} {what} failed; first: {first}")]
    Some {
        failed: usize,
        total: usize,
        what: &'static str,
        first: Box<CosError>,
    },
}

impl CosError {
    /// A failed store operation; a key longer than 200 bytes is cut short in the message.
    pub fn store(op: &'static str, key: &str, detail: impl Into<String>, retryable: bool) -> Self {
        CosError::Store {
            op,
            key: shortened(key, 200),
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
            CosError::Store { retryable, .. } | CosError::Lease { retryable, .. } => *retryable,
            CosError::Kafka(e) | CosError::Fetch { source: e, .. } => e.is_retryable(),
            CosError::Some { first, .. } => first.is_retryable(),
            CosError::Config(_)
            | CosError::Encode { .. }
            | CosError::Checkpoint { .. }
            | CosError::Ledger { .. }
            | CosError::WrittenOffsets { .. }
            | CosError::Key { .. }
            | CosError::Refused { .. }
            | CosError::NoTimeToDrain { .. }
            | CosError::NoFencing { .. } => false,
        }
    }
}

impl From<CosError> for ckafka_dump_core::Error {
    fn from(e: CosError) -> Self {
        ckafka_dump_core::Error::sink("cos", &e)
    }
}
