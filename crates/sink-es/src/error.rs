use ckafka_dump_core::Retryable;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("{count} of {total} records not written ({offsets}): {reason}")]
    NotWritten {
        count: usize,
        total: usize,
        /// `topic/partition/offset` of the first records not written.
        offsets: String,
        reason: String,
        retryable: bool,
    },
}

impl Retryable for EsError {
    fn is_retryable(&self) -> bool {
        match self {
            EsError::Client(_) => false,
            EsError::NotWritten { retryable, .. } => *retryable,
        }
    }
}
