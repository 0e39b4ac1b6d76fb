//! The one I/O piece: an rskafka client built on first use and kept across warm invocations, with the
//! topics' partition counts and partition clients cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ckafka_dump_core::config::Choice;
use ckafka_dump_core::error::error_chain;
use ckafka_dump_core::retry::RetryPolicy;
use rskafka::client::error::Error as ClientError;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::{BackoffConfig, BackoffError, ConnectionError};
use tokio::sync::OnceCell;

use crate::config::{ConnectionConfig, SaslMechanism};
use crate::error::{is_retryable, KafkaError};

pub struct KafkaClient {
    config: ConnectionConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    client: OnceCell<Client>,
    partition_counts: Mutex<HashMap<String, i32>>,
    partition_clients: Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
}

impl KafkaClient {
    pub fn new(config: ConnectionConfig) -> Result<Self, KafkaError> {
        let tls = config
            .security_protocol
            .uses_tls()
            .then(|| tls_config(config.ca_cert_pem.as_deref()))
            .transpose()?;
        Ok(KafkaClient {
            config,
            tls,
            client: OnceCell::new(),
            partition_counts: Mutex::default(),
            partition_clients: Mutex::default(),
        })
    }

    pub fn brokers(&self) -> String {
        self.config.brokers.join(",")
    }

    /// Connects on first use, so a broker that is down at cold start fails an invocation (which the
    /// trigger re-delivers) rather than the process. With SASL, one attempt comes first: rskafka retries a
    /// refused login like a broker that is down, until the request timeout, so refused credentials would
    /// end as a retryable deadline error that does not say why; the single attempt fails at once instead.
    pub async fn client(&self) -> Result<&Client, KafkaError> {
        self.client
            .get_or_try_init(|| async {
                if self.config.sasl.is_some() {
                    match self
                        .builder(BackoffConfig {
                            deadline: Some(Duration::ZERO),
                            ..backoff_config(self.config.request_timeout)
                        })
                        .build()
                        .await
                    {
                        Err(e) if !is_retryable(&e) => return Err(self.connect_error(&e)),
                        // Connected, or the broker is not there yet: the client below retries as usual.
                        _ => {}
                    }
                }
                let builder = self.builder(backoff_config(self.config.request_timeout));
                builder.build().await.map_err(|e| self.connect_error(&e))
            })
            .await
    }

    fn builder(&self, backoff: BackoffConfig) -> ClientBuilder {
        let mut builder = ClientBuilder::new(self.config.brokers.clone())
            .client_id("ckafka-dump")
            .backoff_config(backoff);
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(Arc::clone(tls));
        }
        if let Some(sasl) = &self.config.sasl {
            let credentials = Credentials::new(sasl.username.clone(), sasl.password.expose().to_owned());
            builder = builder.sasl_config(match sasl.mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(credentials),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
            });
        }
        builder
    }

    /// The number of partitions of `topic`, fetched once per process.
    pub async fn partition_count(&self, topic: &str) -> Result<i32, KafkaError> {
        if let Some(&count) = self.partition_counts.lock().expect("not poisoned").get(topic) {
            return Ok(count);
        }
        let topics = self
            .client()
            .await?
            .list_topics()
            .await
            .map_err(|e| self.connect_error(&e))?;
        let count = topics
            .iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.len() as i32)
            .filter(|&n| n > 0)
            .ok_or_else(|| KafkaError::TopicMissing {
                topic: topic.to_owned(),
                brokers: self.brokers(),
            })?;
        self.partition_counts
            .lock()
            .expect("not poisoned")
            .insert(topic.to_owned(), count);
        Ok(count)
    }

    pub async fn partition_client(&self, topic: &str, partition: i32) -> Result<Arc<PartitionClient>, KafkaError> {
        let key = (topic.to_owned(), partition);
        if let Some(client) = self.partition_clients.lock().expect("not poisoned").get(&key) {
            return Ok(Arc::clone(client));
        }
        let client = self.client().await?;
        let partition_client = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .map_err(|e| KafkaError::partition(topic, partition, "finding its leader", &e))?;
        let partition_client = Arc::new(partition_client);
        self.partition_clients
            .lock()
            .expect("not poisoned")
            .insert(key, Arc::clone(&partition_client));
        Ok(partition_client)
    }

    /// A refused login names the mechanism and the user (never the password).
    fn connect_error(&self, e: &ClientError) -> KafkaError {
        let retryable = is_retryable(e);
        let message = match &self.config.sasl {
            Some(sasl) if !retryable && matches!(e, ClientError::Connection(_)) => format!(
                "SASL {} authentication of user `{}` failed (check sasl_plain_username / sasl_plain_password): {}",
                sasl.mechanism.spelling(),
                sasl.username,
                match e {
                    // The single attempt's own failure, without rskafka's "retries failed" wrapping.
                    ClientError::Connection(ConnectionError::RetryFailed(BackoffError::DeadlineExceded {
                        source,
                        ..
                    })) => error_chain(source.as_ref()),
                    e => error_chain(e),
                }
            ),
            _ => error_chain(e),
        };
        KafkaError::Connect {
            brokers: self.brokers(),
            retryable,
            message,
        }
    }
}

/// rskafka's retries under the one retry policy; rskafka retries forever by default, so they stop after
/// the request timeout (and the caller's cut-off ends them sooner when it comes first).
fn backoff_config(request_timeout: std::time::Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: RetryPolicy::DEFAULT.initial_delay,
        max_backoff: RetryPolicy::DEFAULT.max_delay,
        base: f64::from(RetryPolicy::FACTOR),
        deadline: Some(request_timeout),
    }
}

/// rustls with the ring provider (rskafka's), trusting the public web roots plus `ssl_cafile`.
fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, KafkaError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(mut pem) = ca_pem {
        for cert in rustls_pemfile::certs(&mut pem) {
            let cert = cert.map_err(|e| KafkaError::Tls(format!("ssl_cafile: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| KafkaError::Tls(format!("ssl_cafile: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| KafkaError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_config_accepts_a_ca_and_rejects_garbage() {
        assert!(tls_config(None).is_ok());
        let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(matches!(tls_config(Some(garbage)), Err(KafkaError::Tls(_))));
    }
}
