//! The Kafka connection shared by the to-kafka producer and to-cos's scheduled consumer: one set of
//! variables (`kafka_address`, `security_protocol`, `sasl_*`, `ssl_cafile`, `kafka_timeout_ms`), one client
//! built on first use and cached across warm invocations, and errors classified from rskafka's typed ones.

pub mod client;
pub mod config;
pub mod error;

pub use client::KafkaClient;
pub use config::{check_topic_name, ConnectionConfig, SaslMechanism, SaslSettings, SecurityProtocol};
pub use error::KafkaError;
