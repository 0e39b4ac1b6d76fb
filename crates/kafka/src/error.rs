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

/// Why a broker refused a produce for the records in it, not for the request or the connection: smaller
/// requests may pass, and what one record alone is refused for is that record's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRefusal {
    /// The record batch is over the topic's `max.message.bytes` (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE).
    Size,
    /// A record the topic does not take: no key on a compacted topic (INVALID_RECORD), a timestamp outside
    /// `message.timestamp.difference.max.ms` (INVALID_TIMESTAMP).
    Record,
}

pub fn record_refusal(error: &ClientError) -> Option<RecordRefusal> {
    let ClientError::ServerError { protocol_error, .. } = error else {
        return None;
    };
    match protocol_error {
        ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge => Some(RecordRefusal::Size),
        ProtocolError::InvalidRecord | ProtocolError::InvalidTimestamp => Some(RecordRefusal::Record),
        _ => None,
    }
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
        let refusal = |e| record_refusal(&server_error(e));
        assert_eq!(refusal(ProtocolError::MessageTooLarge), Some(RecordRefusal::Size));
        assert_eq!(refusal(ProtocolError::InvalidRecord), Some(RecordRefusal::Record));
        assert_eq!(refusal(ProtocolError::NotLeaderOrFollower), None);
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
