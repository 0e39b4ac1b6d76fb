//! `to-kafka` configuration from the environment, validated once at start. `kafka_address` and
//! `kafka_topic_name` are the `KafkaToKafkaConsumer` template's names; security settings use the client
//! configuration names Kafka users know (`security_protocol`, `sasl_mechanism`, ...).

use std::time::Duration;

use ckafka_dump_core::config::{Env, Secret};
use ckafka_dump_core::ConfigError;
use rskafka::client::partition::Compression;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    SaslPlaintext,
    Ssl,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionStrategy {
    /// The source partition when the target has it, else as `Key`.
    Same,
    /// murmur2 of the key like the Java client's default partitioner; keyless records round-robin.
    Key,
    /// Every record to the next partition in turn.
    RoundRobin,
}

/// Where records go: a fixed topic, or a template in which `{topic}` is the source topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate(String);

impl TopicTemplate {
    pub fn resolve(&self, source_topic: &str) -> String {
        self.0.replace("{topic}", source_topic)
    }
}

/// How to reach and authenticate to a cluster: shared by to-kafka's producer and to-cos's scheduled consumer.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub brokers: Vec<String>,
    pub security_protocol: SecurityProtocol,
    pub sasl: Option<SaslSettings>,
    pub ca_cert_pem: Option<Vec<u8>>,
    /// How long rskafka keeps retrying a broker request before it reports the failure.
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub connection: ConnectionConfig,
    pub topic: TopicTemplate,
    pub compression: Compression,
    pub partition_strategy: PartitionStrategy,
    pub provenance_headers: bool,
    pub max_request_bytes: usize,
    pub concurrency: usize,
}

impl ConnectionConfig {
    /// `kafka_address` plus the security settings; `timeout_var` names the request timeout's variable.
    pub fn from_env(env: &Env, timeout_var: &str) -> Result<Self, ConfigError> {
        let brokers: Vec<String> = env
            .required("kafka_address")?
            .split(',')
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        for broker in &brokers {
            let port = broker
                .rsplit_once(':')
                .and_then(|(host, port)| (!host.is_empty()).then_some(port));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return Err(ConfigError::new(
                    "kafka_address",
                    format!("`{broker}` is not host:port"),
                ));
            }
        }
        if brokers.is_empty() {
            return Err(ConfigError::new("kafka_address", "names no broker"));
        }
        let security_protocol = match env.choice_or(
            "security_protocol",
            &["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"],
            "PLAINTEXT",
        )? {
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => SecurityProtocol::Plaintext,
        };
        let sasl = if security_protocol.uses_sasl() {
            let mechanism =
                match env.choice_or("sasl_mechanism", &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], "PLAIN")? {
                    "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
                    "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
                    _ => SaslMechanism::Plain,
                };
            Some(SaslSettings {
                mechanism,
                username: env.required("sasl_plain_username")?,
                password: env.secret("sasl_plain_password").ok_or_else(|| {
                    ConfigError::new("sasl_plain_password", "is required when security_protocol uses SASL")
                })?,
            })
        } else {
            None
        };
        Ok(ConnectionConfig {
            brokers,
            security_protocol,
            sasl,
            ca_cert_pem: env.pem("ssl_cafile")?,
            request_timeout: Duration::from_millis(env.parse_or(timeout_var, 30_000u64)?),
        })
    }
}

/// Checks a topic name, allowing `{topic}` where the template allows it.
pub fn check_topic_name(var: &str, topic: &str) -> Result<(), ConfigError> {
    match topic
        .replace("{topic}", "")
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        None => Ok(()),
        Some(c) => Err(ConfigError::new(
            var,
            format!("`{topic}`: `{c}` is not allowed in a topic name (letters, digits, `.`, `_`, `-`)"),
        )),
    }
}

impl KafkaConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let connection = ConnectionConfig::from_env(env, "produce_timeout_ms")?;
        let topic = env.required("kafka_topic_name")?;
        check_topic_name("kafka_topic_name", &topic)?;
        let compression = match env.choice_or("compression_type", &["none", "gzip", "lz4", "snappy", "zstd"], "none")? {
            "gzip" => Compression::Gzip,
            "lz4" => Compression::Lz4,
            "snappy" => Compression::Snappy,
            "zstd" => Compression::Zstd,
            _ => Compression::NoCompression,
        };
        let partition_strategy = match env.choice_or("partition_strategy", &["key", "same", "round-robin"], "key")? {
            "same" => PartitionStrategy::Same,
            "round-robin" => PartitionStrategy::RoundRobin,
            _ => PartitionStrategy::Key,
        };
        let max_request_bytes = env.at_least("max_request_bytes", 1_000_000, 1024)?;
        let concurrency = env.at_least("produce_concurrency", 8, 1)?;
        Ok(KafkaConfig {
            connection,
            topic: TopicTemplate(topic),
            compression,
            partition_strategy,
            provenance_headers: env.bool_or("provenance_headers", false)?,
            max_request_bytes,
            concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<KafkaConfig, ConfigError> {
        let mut pairs = vec![
            ("kafka_address", "10.0.0.1:9092, 10.0.0.2:9092"),
            ("kafka_topic_name", "mirror.{topic}"),
        ];
        pairs.extend_from_slice(extra);
        KafkaConfig::from_env(&Env::from_pairs(&pairs))
    }

    #[test]
    fn template_variables_and_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.connection.brokers, ["10.0.0.1:9092", "10.0.0.2:9092"]);
        assert_eq!(c.topic.resolve("orders"), "mirror.orders");
        assert_eq!(c.connection.security_protocol, SecurityProtocol::Plaintext);
        assert!(c.connection.sasl.is_none());
        assert_eq!(c.partition_strategy, PartitionStrategy::Key);
        assert_eq!(c.compression, Compression::NoCompression);
    }

    #[test]
    fn sasl_settings_take_ckafka_user_names_as_they_are() {
        let c = config(&[
            ("security_protocol", "sasl_plaintext"),
            ("sasl_mechanism", "SCRAM-SHA-512"),
            ("sasl_plain_username", "ckafka-80o10xxx#lkoxx"),
            ("sasl_plain_password", "pw"),
        ])
        .unwrap();
        let sasl = c.connection.sasl.unwrap();
        assert_eq!(
            (sasl.mechanism, sasl.username.as_str()),
            (SaslMechanism::ScramSha512, "ckafka-80o10xxx#lkoxx")
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_never_the_password() {
        let err = |extra: &[(&str, &str)]| config(extra).unwrap_err().to_string();
        assert!(err(&[("security_protocol", "TLS")]).contains("security_protocol"));
        assert!(err(&[("compression_type", "brotli")]).contains("compression_type"));
        assert!(err(&[("partition_strategy", "random")]).contains("partition_strategy"));
        let missing = err(&[("security_protocol", "SASL_SSL"), ("sasl_plain_password", "hunter2")]);
        assert!(
            missing.contains("sasl_plain_username") && !missing.contains("hunter2"),
            "{missing}"
        );
        assert!(err(&[("security_protocol", "SASL_SSL"), ("sasl_plain_username", "u")]).contains("sasl_plain_password"));
        let address = KafkaConfig::from_env(&Env::from_pairs(&[
            ("kafka_address", "broker"),
            ("kafka_topic_name", "t"),
        ]));
        assert!(address.unwrap_err().to_string().contains("kafka_address"));
        let topic = KafkaConfig::from_env(&Env::from_pairs(&[
            ("kafka_address", "b:1"),
            ("kafka_topic_name", "a b"),
        ]));
        assert!(topic.unwrap_err().to_string().contains("kafka_topic_name"));
    }
}
