use ckafka_dump_core::Retryable;

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("connecting to {brokers}: {message}")]
    Connect {
        brokers: String,
        message: String,
        retryable: bool,
    },
    #[error(
        "target topic `{topic}` does not exist on {brokers}; create it first (to-kafka never auto-creates topics)"
    )]
    TopicMissing { topic: String, brokers: String },
    #[error("{count} of {total} records not acknowledged ({offsets}): {message}")]
    NotWritten {
        count: usize,
        total: usize,
        /// `topic/partition/offset` of the first source records not written.
        offsets: String,
        message: String,
        retryable: bool,
    },
}

impl Retryable for KafkaError {
    fn is_retryable(&self) -> bool {
        match self {
            KafkaError::Tls(_) | KafkaError::TopicMissing { .. } => false,
            KafkaError::Connect { retryable, .. } | KafkaError::NotWritten { retryable, .. } => *retryable,
        }
    }
}

impl From<KafkaError> for ckafka_dump_core::Error {
    fn from(e: KafkaError) -> Self {
        ckafka_dump_core::Error::sink("kafka", &e)
    }
}
