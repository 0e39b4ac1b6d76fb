//! Kafka failures, each knowing whether a retry can help — decided from rskafka's typed errors.

use ckafka_dump_core::error::error_chain;
use ckafka_dump_core::Retryable;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::{BackoffError, ConnectionError};

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
    #[error("topic `{topic}` does not exist on {brokers}")]
    TopicMissing { topic: String, brokers: String },
    /// A request about one partition (its leader, a produce, a fetch, an offset lookup) failed.
    #[error("{topic}/{partition}: {what}: {message}")]
    Partition {
        topic: String,
        partition: i32,
        what: &'static str,
        message: String,
        retryable: bool,
    },
}

impl KafkaError {
    pub fn partition(topic: &str, partition: i32, what: &'static str, error: &ClientError) -> Self {
        KafkaError::Partition {
            topic: topic.to_owned(),
            partition,
            what,
            message: error_chain(error),
            retryable: is_retryable(error),
        }
    }
}

impl Retryable for KafkaError {
    fn is_retryable(&self) -> bool {
        match self {
            KafkaError::Tls(_) | KafkaError::TopicMissing { .. } => false,
            KafkaError::Connect { retryable, .. } | KafkaError::Partition { retryable, .. } => *retryable,
        }
    }
}

/// Whether an rskafka failure may pass on a retry: authentication, authorization and requests the broker
/// finds invalid will fail the same way again; connection trouble, timeouts and a busy broker may not.
pub fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::ServerError { protocol_error, .. } => !is_permanent(*protocol_error),
        ClientError::Connection(connection) => connection_is_retryable(connection),
        _ => true,
    }
}

pub(crate) fn connection_is_retryable(error: &ConnectionError) -> bool {
    match error {
        ConnectionError::SaslFailed(_) => false,
        ConnectionError::RetryFailed(BackoffError::DeadlineExceded { source, .. }) => {
            // rskafka folds each broker's connection error into a private `MultiError` that cannot be
            // downcast; a SASL rejection inside it is visible only in its text (rskafka's own wording of
            // `ConnectionError::SaslFailed`).
            !source.to_string().contains("Sasl handshake failed")
        }
        _ => true,
    }
}

/// Whether the broker refused a produce for the size of its record batch (`max.message.bytes`): smaller
/// requests may pass, and a record that is too large alone is that record's fault.
pub fn refuses_size(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::ServerError {
            protocol_error: ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge,
            ..
        }
    )
}

fn is_permanent(error: ProtocolError) -> bool {
    matches!(
        error,
        ProtocolError::SaslAuthenticationFailed
            | ProtocolError::UnsupportedSaslMechanism
            | ProtocolError::IllegalSaslState
            | ProtocolError::TopicAuthorizationFailed
            | ProtocolError::ClusterAuthorizationFailed
            | ProtocolError::GroupAuthorizationFailed
            | ProtocolError::TransactionalIdAuthorizationFailed
            | ProtocolError::InvalidTopicException
            | ProtocolError::UnknownTopicOrPartition
            | ProtocolError::MessageTooLarge
            | ProtocolError::RecordListTooLarge
            | ProtocolError::InvalidRecord
            | ProtocolError::UnsupportedCompressionType
            | ProtocolError::UnsupportedVersion
            | ProtocolError::PolicyViolation
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(protocol_error: ProtocolError) -> ClientError {
        ClientError::ServerError {
            protocol_error,
            error_message: None,
            request: rskafka::client::error::RequestContext::Topic("t".to_owned()),
            response: None,
            is_virtual: false,
        }
    }

    #[test]
    fn typed_errors_are_classified() {
        assert!(!is_retryable(&server_error(ProtocolError::SaslAuthenticationFailed)));
        assert!(!is_retryable(&server_error(ProtocolError::TopicAuthorizationFailed)));
        assert!(!is_retryable(&server_error(ProtocolError::MessageTooLarge)));
        assert!(refuses_size(&server_error(ProtocolError::MessageTooLarge)));
        assert!(!refuses_size(&server_error(ProtocolError::InvalidRecord)));
        assert!(is_retryable(&server_error(ProtocolError::NotLeaderOrFollower)));
        assert!(is_retryable(&server_error(ProtocolError::RequestTimedOut)));
        assert!(is_retryable(&ClientError::Timeout));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(is_retryable(&ClientError::Request(
            rskafka::client::error::RequestError::IO(refused)
        )));
    }

    #[test]
    fn only_some_variants_are_permanent() {
        let topic = KafkaError::TopicMissing {
            topic: "t".into(),
            brokers: "b:1".into(),
        };
        assert!(!topic.is_retryable());
        assert!(!KafkaError::Tls("x".into()).is_retryable());
    }
}
