use ckafka_dump_core::{NotWritten, Retryable};
use ckafka_dump_kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("target {0}; create it first (to-kafka never auto-creates topics)")]
    TargetTopicMissing(KafkaError),
    #[error(transparent)]
    Kafka(KafkaError),
    #[error(transparent)]
    NotWritten(#[from] NotWritten),
}

impl From<KafkaError> for ProduceError {
    fn from(e: KafkaError) -> Self {
        match e {
            KafkaError::TopicMissing { .. } => ProduceError::TargetTopicMissing(e),
            e => ProduceError::Kafka(e),
        }
    }
}

impl Retryable for ProduceError {
    fn is_retryable(&self) -> bool {
        match self {
            ProduceError::TargetTopicMissing(e) | ProduceError::Kafka(e) => e.is_retryable(),
            ProduceError::NotWritten(e) => e.is_retryable(),
        }
    }

    fn not_written(&self) -> Option<&NotWritten> {
        match self {
            ProduceError::NotWritten(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProduceError> for ckafka_dump_core::Error {
    fn from(e: ProduceError) -> Self {
        ckafka_dump_core::Error::sink("kafka", &e)
    }
}
