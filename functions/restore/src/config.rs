//! A restore job from the environment: where the backup is (the dump's own variables: `bucket_address`,
//! `destination_path`, `object_key_template`, `kafka_instance_id`, `topic_id`, `topic_name`), where it goes
//! (`kafka_address` and its SASL/TLS variables, `kafka_topic_name`) and what to restore.

use ckafka_dump_core::config::{spellings, Choice, Env, Kind, Unset};
use ckafka_dump_core::time::{TimeFormat, Zone};
use ckafka_dump_core::ConfigError;
use ckafka_dump_kafka::config::{check_topic_name, ConnectionConfig};
use ckafka_dump_sink_cos::config::CosConfig;

/// Where a restored record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// The partition number it had.
    Same,
    /// Kafka's default partitioner (murmur2 of the key); a record without a key keeps its partition number
    /// modulo the target's partitions, so a re-run puts it where the first run did.
    KeyHash,
    /// All into `restore_target_partition`.
    One,
}

impl Choice for Partitioning {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("same", Partitioning::Same),
        ("key_hash", Partitioning::KeyHash),
        ("one", Partitioning::One),
    ];
}

/// Half-open ranges: `from` included, `to` not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Range {
    pub fn holds(&self, n: i64) -> bool {
        self.from.is_none_or(|from| n >= from) && self.to.is_none_or(|to| n < to)
    }

    pub fn is_set(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct RestoreConfig {
    /// The backup: the dump's bucket, prefix and key template.
    pub backup: CosConfig,
    /// The topic whose backup is restored (`topic_name`, as the scheduled dump names it).
    pub source_topic: String,
    pub connection: ConnectionConfig,
    pub target_topic: String,
    /// Names the job's progress and leases in the bucket.
    pub job: String,
    /// The source partitions restored; all when empty.
    pub partitions: Vec<i32>,
    pub offsets: Range,
    /// Record times (epoch ms); an undated record is in no time range.
    pub times: Range,
    pub partitioning: Partitioning,
    pub target_partition: i32,
    pub provenance_headers: bool,
    /// Record bytes gathered before they are produced and the progress moves: the memory a partition uses.
    pub window_bytes: usize,
    pub max_request_bytes: usize,
}

ckafka_dump_core::variables! {
    /// The restore job's own variables (the backup's and the cluster's are the dump's and the producer's, and
    /// `max_request_bytes` to-kafka's).
    VARIABLES;
    KAFKA_TOPIC_NAME = Var::new(
        "kafka_topic_name",
        Kind::Text(Unset::Required),
        "The topic records are restored into; it must exist.",
    );
    TOPIC_NAME = Var::new(
        "topic_name",
        Kind::Text(Unset::Required),
        "The topic whose backup is restored (the dumped topic, as the scheduled dump names it).",
    );
    RESTORE_JOB = Var::new(
        "restore_job",
        Kind::Text(Unset::Means("`kafka_topic_name`")),
        "Names the job's progress in the bucket (`<prefix>.ckafka-dump/restore/<job>/`); a new name starts over.",
    );
    RESTORE_PARTITIONS = Var::new(
        "restore_partitions",
        Kind::List(Unset::Means("every partition in the backup")),
        "The source partitions to restore, comma-separated.",
    );
    RESTORE_FROM = Var::new(
        "restore_from",
        Kind::Text(Unset::Nothing),
        "Restores records whose time is at or after this: RFC 3339, a date and time without offset (read in `time_zone`), or epoch ms.",
    );
    RESTORE_TO = Var::new(
        "restore_to",
        Kind::Text(Unset::Nothing),
        "Restores records whose time is before this (same forms as `restore_from`).",
    );
    RESTORE_FROM_OFFSET = Var::new(
        "restore_from_offset",
        Kind::Text(Unset::Nothing),
        "Restores records at or after this source offset, in every partition.",
    );
    RESTORE_TO_OFFSET = Var::new(
        "restore_to_offset",
        Kind::Text(Unset::Nothing),
        "Restores records before this source offset, in every partition.",
    );
    RESTORE_PARTITIONING = Var::new(
        "restore_partitioning",
        Kind::Choice { default: "same", spellings: spellings::<Partitioning> },
        "`same` partition number (the target must have as many), `key_hash` (Kafka's murmur2; keyless records keep their number modulo the count) or `one` (`restore_target_partition`).",
    );
    RESTORE_TARGET_PARTITION = Var::new(
        "restore_target_partition",
        Kind::Count { default: 0, min: 0, max: i32::MAX as u64 },
        "The partition every record goes to with `restore_partitioning=one`.",
    );
    PROVENANCE_HEADERS = Var::new(
        "provenance_headers",
        Kind::Flag { default: true },
        "Adds `ckafka-dump-source-topic`, `-partition` and `-offset` to every record; a re-run after a kill reads them to produce nothing twice.",
    );
    RESTORE_WINDOW_BYTES = Var::new(
        "restore_window_bytes",
        Kind::Count { default: 8 << 20, min: 1 << 16, max: 1 << 30 },
        "Record bytes a partition gathers before producing them and saving its progress: its memory, and how much a killed run re-checks.",
    );
}

impl RestoreConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut backup = CosConfig::from_env(env)?;
        let schedule = backup.schedule.take().ok_or_else(|| {
            ConfigError::new(
                "kafka_address",
                "is required: the cluster the records are restored into",
            )
        })?;
        let target_topic = env.required(&KAFKA_TOPIC_NAME)?;
        check_topic_name(KAFKA_TOPIC_NAME.name, &target_topic)?;
        let job = env.text(&RESTORE_JOB)?.unwrap_or_else(|| target_topic.clone());
        if job.is_empty() || job.contains('/') || job.starts_with('.') {
            return Err(ConfigError::new(
                RESTORE_JOB.name,
                format!("`{job}` must be one key segment: no `/`, not starting with `.`"),
            ));
        }
        let partitions = env
            .list(&RESTORE_PARTITIONS)?
            .iter()
            .map(|p| {
                p.parse::<i32>().ok().filter(|p| *p >= 0).ok_or_else(|| {
                    ConfigError::new(RESTORE_PARTITIONS.name, format!("`{p}` is not a partition number"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let zone = &backup.zone;
        let times = Range {
            from: env
                .get(&RESTORE_FROM)?
                .map(|t| instant(&RESTORE_FROM, &t, zone))
                .transpose()?,
            to: env
                .get(&RESTORE_TO)?
                .map(|t| instant(&RESTORE_TO, &t, zone))
                .transpose()?,
        };
        let offsets = Range {
            from: env
                .get(&RESTORE_FROM_OFFSET)?
                .map(|o| offset(&RESTORE_FROM_OFFSET, &o))
                .transpose()?,
            to: env
                .get(&RESTORE_TO_OFFSET)?
                .map(|o| offset(&RESTORE_TO_OFFSET, &o))
                .transpose()?,
        };
        for (range, from, to) in [
            (times, &RESTORE_FROM, &RESTORE_TO),
            (offsets, &RESTORE_FROM_OFFSET, &RESTORE_TO_OFFSET),
        ] {
            if let (Some(start), Some(end)) = (range.from, range.to) {
                if start >= end {
                    return Err(ConfigError::new(
                        to.name,
                        format!("is not after {} (the range is from included, to not)", from.name),
                    ));
                }
            }
        }
        Ok(RestoreConfig {
            source_topic: env.required(&TOPIC_NAME)?,
            connection: schedule.connection,
            target_topic,
            job,
            partitions,
            offsets,
            times,
            partitioning: env.choice(&RESTORE_PARTITIONING)?,
            target_partition: env.count(&RESTORE_TARGET_PARTITION)? as i32,
            provenance_headers: env.flag(&PROVENANCE_HEADERS)?,
            window_bytes: env.size(&RESTORE_WINDOW_BYTES)?,
            max_request_bytes: env.size(&ckafka_dump_sink_kafka::config::MAX_REQUEST_BYTES)?,
            backup,
        })
    }
}

/// Epoch ms of `text`: digits are epoch ms; else RFC 3339, or a date and time without offset in `zone`.
fn instant(var: &ckafka_dump_core::config::Var, text: &str, zone: &Zone) -> Result<i64, ConfigError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let value = serde_json::Value::String(text.to_owned());
    std::iter::once(TimeFormat::Rfc3339)
        .chain(
            ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
                .map(|p| TimeFormat::Pattern(p.to_owned())),
        )
        .find_map(|format| format.read(&value, zone).ok())
        .or_else(|| {
            TimeFormat::Pattern("%Y-%m-%d %H:%M:%S".to_owned())
                .read(&serde_json::Value::String(format!("{text} 00:00:00")), zone)
                .ok()
        })
        .ok_or_else(|| {
            ConfigError::new(
                var.name,
                format!("`{text}` is not epoch ms, RFC 3339 (2026-12-03T08:00:00Z), or a local date and time (2026-12-03 08:00:00)"),
            )
        })
}

fn offset(var: &ckafka_dump_core::config::Var, text: &str) -> Result<i64, ConfigError> {
    text.parse::<i64>()
        .ok()
        .filter(|o| *o >= 0)
        .ok_or_else(|| ConfigError::new(var.name, format!("`{text}` is not an offset")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<RestoreConfig, ConfigError> {
        let mut all = pairs.to_vec();
        all.extend_from_slice(&[
            ("bucket_address", "file:///tmp/backups"),
            ("kafka_address", "127.0.0.1:9092"),
            ("topic_name", "orders"),
            ("kafka_topic_name", "orders-restored"),
        ]);
        RestoreConfig::from_env(&Env::from_pairs(&all))
    }

    #[test]
    fn defaults_restore_everything_into_the_same_partitions_with_provenance() {
        let c = config(&[]).unwrap();
        assert_eq!((c.source_topic.as_str(), c.job.as_str()), ("orders", "orders-restored"));
        assert_eq!(c.partitioning, Partitioning::Same);
        assert!(c.provenance_headers && c.partitions.is_empty());
        assert!(!c.times.is_set() && !c.offsets.is_set());
    }

    #[test]
    fn times_are_read_in_the_zone_and_ranges_must_be_ordered() {
        let c = config(&[
            ("time_zone", "Asia/Shanghai"),
            ("restore_from", "2024-03-02 00:30:00"),
            ("restore_to", "2024-03-01T17:00:00Z"),
        ])
        .unwrap();
        assert_eq!(
            c.times,
            Range {
                from: Some(1_709_310_600_000),
                to: Some(1_709_312_400_000)
            }
        );
        assert_eq!(
            config(&[("restore_from", "1709310600000")]).unwrap().times.from,
            Some(1_709_310_600_000)
        );
        assert_eq!(
            config(&[("restore_from", "2024-03-02")]).unwrap().times.from,
            Some(1_709_337_600_000)
        );
        let e = config(&[("restore_from_offset", "10"), ("restore_to_offset", "10")]).unwrap_err();
        assert!(e.to_string().contains("restore_to_offset"), "{e}");
        let e = config(&[("restore_to", "yesterday")]).unwrap_err();
        assert!(
            e.to_string().contains("restore_to") && e.to_string().contains("yesterday"),
            "{e}"
        );
        let e = config(&[("restore_partitions", "0,x")]).unwrap_err();
        assert!(e.to_string().contains("`x`"), "{e}");
    }

    #[test]
    fn the_target_cluster_and_topic_are_required() {
        let e = RestoreConfig::from_env(&Env::from_pairs(&[("bucket_address", "file:///tmp/b")])).unwrap_err();
        assert!(e.to_string().contains("kafka_address"), "{e}");
        let e = RestoreConfig::from_env(&Env::from_pairs(&[
            ("bucket_address", "file:///tmp/b"),
            ("kafka_address", "h:1"),
            ("topic_name", "t"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("kafka_topic_name"), "{e}");
    }
}
