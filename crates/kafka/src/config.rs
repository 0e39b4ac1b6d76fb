//! How to reach and authenticate to a cluster, from the environment: `kafka_address` (the templates' name)
//! plus the client settings Kafka users know (`security_protocol`, `sasl_mechanism`, ...).

use std::time::Duration;

use ckafka_dump_core::config::{spellings, Choice, Env, Kind, Secret, Unset};
use ckafka_dump_core::record::topic_name_problem;
use ckafka_dump_core::{ConfigError, MAX_TIME_LIMIT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    SaslPlaintext,
    Ssl,
    SaslSsl,
}

impl Choice for SecurityProtocol {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("PLAINTEXT", SecurityProtocol::Plaintext),
        ("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext),
        ("SSL", SecurityProtocol::Ssl),
        ("SASL_SSL", SecurityProtocol::SaslSsl),
    ];
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

impl Choice for SaslMechanism {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("PLAIN", SaslMechanism::Plain),
        ("SCRAM-SHA-256", SaslMechanism::ScramSha256),
        ("SCRAM-SHA-512", SaslMechanism::ScramSha512),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub brokers: Vec<String>,
    pub security_protocol: SecurityProtocol,
    pub sasl: Option<SaslSettings>,
    pub ca_cert_pem: Option<Vec<u8>>,
    /// How long rskafka keeps retrying a broker request before it reports the failure.
    pub request_timeout: Duration,
}

ckafka_dump_core::variables! {
    /// How to reach a cluster: to-kafka's target, to-cos's scheduled source.
    VARIABLES;
    KAFKA_ADDRESS = Var::new(
        "kafka_address",
        Kind::List(Unset::Required),
        "One or more comma-separated `host:port` bootstrap brokers.",
    );
    SECURITY_PROTOCOL = Var::new(
        "security_protocol",
        Kind::Choice { default: "PLAINTEXT", spellings: spellings::<SecurityProtocol> },
        "How to connect: SASL and/or TLS.",
    );
    SASL_MECHANISM = Var::new(
        "sasl_mechanism",
        Kind::Choice { default: "PLAIN", spellings: spellings::<SaslMechanism> },
        "With a SASL protocol.",
    );
    SASL_PLAIN_USERNAME = Var::new(
        "sasl_plain_username",
        Kind::Text(Unset::Means("required with SASL")),
        "The SASL user; CKafka's `<instanceId>#<user>` works as is.",
    );
    SASL_PLAIN_PASSWORD = Var::new(
        "sasl_plain_password",
        Kind::Secret(Unset::Means("required with SASL")),
        "The SASL password.",
    );
    SSL_CAFILE = Var::new(
        "ssl_cafile",
        Kind::Pem,
        "CA certificate (PEM path or PEM text) trusted besides the public roots, for `SSL` / `SASL_SSL`.",
    );
    KAFKA_TIMEOUT_MS = Var::new(
        "kafka_timeout_ms",
        Kind::Millis { default: 30_000, max: MAX_TIME_LIMIT.as_millis() as u64 },
        "How long rskafka retries a connection or a request before giving up (never past the invocation's deadline).",
    )
    .also(&["produce_timeout_ms"]);
}

impl ConnectionConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let brokers = env.list(&KAFKA_ADDRESS)?;
        if brokers.is_empty() {
            return Err(ConfigError::new(KAFKA_ADDRESS.name, "is required but names no broker"));
        }
        for broker in &brokers {
            let port = broker
                .rsplit_once(':')
                .and_then(|(host, port)| (!host.is_empty()).then_some(port));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return Err(ConfigError::new(
                    KAFKA_ADDRESS.name,
                    format!("`{broker}` is not host:port"),
                ));
            }
        }
        let security_protocol: SecurityProtocol = env.choice(&SECURITY_PROTOCOL)?;
        let sasl = if security_protocol.uses_sasl() {
            Some(SaslSettings {
                mechanism: env.choice(&SASL_MECHANISM)?,
                username: env.required(&SASL_PLAIN_USERNAME)?,
                password: env.secret(&SASL_PLAIN_PASSWORD)?.ok_or_else(|| {
                    ConfigError::new(SASL_PLAIN_PASSWORD.name, "is required when security_protocol uses SASL")
                })?,
            })
        } else {
            None
        };
        Ok(ConnectionConfig {
            brokers,
            security_protocol,
            sasl,
            ca_cert_pem: env.pem(&SSL_CAFILE)?,
            request_timeout: env.millis(&KAFKA_TIMEOUT_MS)?,
        })
    }
}

/// Kafka's limit on a topic name's length.
/// Checks a topic name against Kafka's rule (core's [`topic_name_problem`]), naming the variable.
pub fn check_topic_name(var: &str, topic: &str) -> Result<(), ConfigError> {
    match topic_name_problem(topic) {
        None => Ok(()),
        Some(problem) => Err(ConfigError::new(var, problem)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ConnectionConfig, ConfigError> {
        let mut all = vec![("kafka_address", "10.0.0.1:9092, 10.0.0.2:9092")];
        all.extend_from_slice(pairs);
        ConnectionConfig::from_env(&Env::from_pairs(&all))
    }

    #[test]
    fn brokers_and_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.brokers, ["10.0.0.1:9092", "10.0.0.2:9092"]);
        assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
        assert!(c.sasl.is_none());
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(
            config(&[("produce_timeout_ms", "3000")]).unwrap().request_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(
            config(&[("kafka_timeout_ms", "4000"), ("produce_timeout_ms", "3000")])
                .unwrap()
                .request_timeout,
            Duration::from_secs(4)
        );
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
        let sasl = c.sasl.unwrap();
        assert_eq!(
            (sasl.mechanism, sasl.username.as_str()),
            (SaslMechanism::ScramSha512, "ckafka-80o10xxx#lkoxx")
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_never_the_password() {
        let err = |extra: &[(&str, &str)]| config(extra).unwrap_err().to_string();
        assert!(err(&[("security_protocol", "TLS")]).contains("security_protocol"));
        let missing = err(&[("security_protocol", "SASL_SSL"), ("sasl_plain_password", "hunter2")]);
        assert!(
            missing.contains("sasl_plain_username") && !missing.contains("hunter2"),
            "{missing}"
        );
        assert!(err(&[("security_protocol", "SASL_SSL"), ("sasl_plain_username", "u")]).contains("sasl_plain_password"));
        let address = ConnectionConfig::from_env(&Env::from_pairs(&[("kafka_address", "broker")]));
        assert!(address.unwrap_err().to_string().contains("kafka_address"));
        assert!(
            ConnectionConfig::from_env(&Env::from_pairs(&[("kafka_address", " , ")]))
                .unwrap_err()
                .to_string()
                .contains("kafka_address")
        );
        assert!(check_topic_name("topic_name", "a b")
            .unwrap_err()
            .to_string()
            .contains("topic_name"));
        assert!(check_topic_name("topic_name", "orders.v2_x-1").is_ok());
    }
}
