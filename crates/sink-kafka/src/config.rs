//! `to-kafka` configuration from the environment, validated once at start. `kafka_address` and
//! `kafka_topic_name` are the `KafkaToKafkaConsumer` template's names; security settings use the client
//! configuration names Kafka users know (`security_protocol`, `sasl_mechanism`, ...).

use ckafka_dump_core::config::{spellings, Choice, Env, Kind, Unset};
use ckafka_dump_core::record::{topic_name_problem, topic_text_problem};
use ckafka_dump_core::template::{Placeholder, Template};
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::Path;
use ckafka_dump_core::{ConfigError, StagedRecord};
use ckafka_dump_kafka::{check_topic_name, ConnectionConfig};
use rskafka::client::partition::Compression;

/// `compression_type`: rskafka's codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionChoice(pub Compression);

impl Choice for CompressionChoice {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("none", CompressionChoice(Compression::NoCompression)),
        ("gzip", CompressionChoice(Compression::Gzip)),
        ("lz4", CompressionChoice(Compression::Lz4)),
        ("snappy", CompressionChoice(Compression::Snappy)),
        ("zstd", CompressionChoice(Compression::Zstd)),
    ];
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

impl Choice for PartitionStrategy {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("key", PartitionStrategy::Key),
        ("same", PartitionStrategy::Same),
        ("round-robin", PartitionStrategy::RoundRobin),
    ];
}

/// Where records go: a fixed topic, or a template in which `{topic}` is the source topic and
/// `{field:NAME}` a field of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    text: String,
    template: Template<SourceTopic>,
}

/// `{topic}` in `kafka_topic_name`: the record's own topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTopic;

impl Placeholder for SourceTopic {
    const NAMES: &'static [(&'static str, Self)] = &[("topic", SourceTopic)];
}

impl TopicTemplate {
    pub fn parse(var: &str, text: &str) -> Result<Self, ConfigError> {
        let template = Template::parse(text).map_err(|e| ConfigError::new(var, e))?;
        Ok(TopicTemplate {
            text: text.to_owned(),
            template,
        })
    }

    pub fn fields_read(&self) -> Vec<Path> {
        self.template.fields_read()
    }

    /// The topic of `record`, or why it has none (a missing field, a name Kafka refuses).
    pub fn resolve(&self, record: &StagedRecord<'_>) -> Result<String, String> {
        let topic = self
            .template
            .render(record, &Zone::utc(), str::to_owned, |SourceTopic, out| {
                out.push_str(record.topic)
            })?;
        match topic_name_problem(&topic) {
            None => Ok(topic),
            Some(problem) => Err(problem),
        }
    }
}

impl std::fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub connection: ConnectionConfig,
    pub topic: TopicTemplate,
    /// `kafka_key_field`: the produced key is this field of the record, not its source key.
    pub key_field: Option<Path>,
    pub compression: Compression,
    pub partition_strategy: PartitionStrategy,
    pub provenance_headers: bool,
    /// Where records that cannot be produced as they are go (the stage rejected them, a topic or key field
    /// is missing); unset, such a record fails the invocation.
    pub dead_letter_topic: Option<String>,
    pub max_request_bytes: usize,
    pub concurrency: usize,
}

ckafka_dump_core::variables! {
    /// to-kafka's own variables (the connection's are the kafka crate's).
    VARIABLES;
    KAFKA_TOPIC_NAME = Var::new(
        "kafka_topic_name",
        Kind::Text(Unset::Required),
        "Target topic. `{topic}` is replaced by the source topic (e.g. `mirror.{topic}`), so many source topics map cleanly; `{field:NAME}` by a field of the record (`orders.{field:region}`). A record without the field, or whose topic name Kafka refuses, goes to `kafka_dead_letter_topic`, or fails the batch before anything is produced, naming it.",
    );
    KAFKA_KEY_FIELD = Var::new(
        "kafka_key_field",
        Kind::Text(Unset::Nothing),
        "The produced key is this field of the record (its text; numbers as written) instead of the source key; it also drives `partition_strategy=key`.",
    );
    KAFKA_DEAD_LETTER_TOPIC = Var::new(
        "kafka_dead_letter_topic",
        Kind::Text(Unset::Nothing),
        "Records that cannot be produced as they are — rejected by the transform stage, missing the topic or key field, a topic name Kafka refuses, a topic a field names that does not exist, refused by the broker alone — go to this topic (it must exist) with their key, value and headers, plus `ckafka-dump-error` (the reason) and the three source headers; counted as `dead_lettered`. Unset, they fail the batch.",
    );
    COMPRESSION_TYPE = Var::new(
        "compression_type",
        Kind::Choice { default: "none", spellings: spellings::<CompressionChoice> },
        "Compression of produced record batches.",
    );
    PARTITION_STRATEGY = Var::new(
        "partition_strategy",
        Kind::Choice { default: "key", spellings: spellings::<PartitionStrategy> },
        "`key`: murmur2 of the key as the Java client's default partitioner (keyless records round-robin); `same`: the source partition when the target has it, else as `key`; `round-robin`: every record to the next partition.",
    );
    PROVENANCE_HEADERS = Var::new(
        "provenance_headers",
        Kind::Flag { default: false },
        "Adds `ckafka-dump-source-topic`, `-partition` and `-offset` (a record's own header of the same name is kept as `<name>.1`).",
    );
    MAX_REQUEST_BYTES = Var::new(
        "max_request_bytes",
        // Kafka brokers refuse requests above `socket.request.max.bytes` (100 MiB by default).
        Kind::Count { default: 1_000_000, min: 1024, max: 100 * 1024 * 1024 },
        "Largest produce request (keep it under the broker's `message.max.bytes`).",
    );
    PRODUCE_CONCURRENCY = Var::new(
        "produce_concurrency",
        Kind::Count { default: 8, min: 1, max: 64 },
        "Target partitions produced at once.",
    );
}

impl KafkaConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let connection = ConnectionConfig::from_env(env)?;
        let topic_text = env.required(&KAFKA_TOPIC_NAME)?;
        let topic = TopicTemplate::parse(KAFKA_TOPIC_NAME.name, &topic_text)?;
        // The text around the placeholders: a field fills in the rest of the name.
        if let Some(problem) = topic_text_problem(&topic.template.literals()) {
            return Err(ConfigError::new(KAFKA_TOPIC_NAME.name, problem));
        }
        let key_field = match env.get(&KAFKA_KEY_FIELD)? {
            None => None,
            Some(name) => Some(Path::parse(&name).map_err(|e| ConfigError::new(KAFKA_KEY_FIELD.name, e))?),
        };
        let compression = env.choice::<CompressionChoice>(&COMPRESSION_TYPE)?.0;
        let partition_strategy = env.choice(&PARTITION_STRATEGY)?;
        let max_request_bytes = env.size(&MAX_REQUEST_BYTES)?;
        let concurrency = env.size(&PRODUCE_CONCURRENCY)?;
        let dead_letter_topic = env.get(&KAFKA_DEAD_LETTER_TOPIC)?;
        if let Some(dead) = &dead_letter_topic {
            check_topic_name(KAFKA_DEAD_LETTER_TOPIC.name, dead)?;
            if *dead == topic_text {
                return Err(ConfigError::new(
                    KAFKA_DEAD_LETTER_TOPIC.name,
                    format!("`{dead}` is kafka_topic_name too; dead letters need a topic of their own"),
                ));
            }
        }
        Ok(KafkaConfig {
            connection,
            topic,
            key_field,
            compression,
            partition_strategy,
            provenance_headers: env.flag(&PROVENANCE_HEADERS)?,
            dead_letter_topic,
            max_request_bytes,
            concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::{Outcome, Record};

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
        let record = Record::new("orders", 0, 0, None, None, None);
        let record = StagedRecord::new(record, &Outcome::Original);
        assert_eq!(c.topic.resolve(&record), Ok("mirror.orders".to_owned()));
        assert_eq!(c.partition_strategy, PartitionStrategy::Key);
        assert_eq!(c.compression, Compression::NoCompression);
    }

    #[test]
    fn bad_values_name_the_variable_and_never_the_password() {
        assert_eq!(
            config(&[("compression_type", "ZSTD"), ("partition_strategy", "round-robin")])
                .map(|c| (c.compression, c.partition_strategy))
                .unwrap(),
            (Compression::Zstd, PartitionStrategy::RoundRobin)
        );
        let err = |extra: &[(&str, &str)]| config(extra).unwrap_err().to_string();
        assert!(err(&[("security_protocol", "TLS")]).contains("security_protocol"));
        assert!(err(&[("compression_type", "brotli")]).contains("compression_type"));
        assert!(err(&[("partition_strategy", "random")]).contains("partition_strategy"));
        assert!(err(&[("kafka_dead_letter_topic", "dead letters")]).contains("kafka_dead_letter_topic"));
        let same = KafkaConfig::from_env(&Env::from_pairs(&[
            ("kafka_address", "b:1"),
            ("kafka_topic_name", "copy"),
            ("kafka_dead_letter_topic", "copy"),
        ]));
        assert!(same.unwrap_err().to_string().contains("a topic of their own"));
        let missing = err(&[("security_protocol", "SASL_SSL"), ("sasl_plain_password", "hunter2")]);
        assert!(
            missing.contains("sasl_plain_username") && !missing.contains("hunter2"),
            "{missing}"
        );
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
