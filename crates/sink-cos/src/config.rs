//! `to-cos` configuration from the environment, validated once at start. The names are the COS templates'
//! (`bucket_address`, `partition_max_to_cos_bytes`, `kafka_address`, `topic_name`, `consumer_timeout_ms`,
//! `offset_type`, `kafka_instance_id`, `topic_id`, `region`, `TENCENTCLOUD_SECRETID` ...).

use std::path::PathBuf;
use std::time::Duration;

use ckafka_dump_core::config::{spellings, Choice, Env, Kind, Secret, Unset};
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::Path;
use ckafka_dump_core::{ConfigError, Timestamp, MAX_TIME_LIMIT};
use ckafka_dump_kafka::{check_topic_name, ConnectionConfig};

use crate::encode::{Compression, Content, ContentFormat, Csv, Lines};
use crate::naming::{bad_segment, KeyFields, KeyTemplate, MAX_KEY_BYTES};
use crate::parquet::{Columns, Declared, MetaColumn, Parquet, ParquetCompression};

/// The console's limit for one file ("单个文件最大500MB").
pub const MAX_OBJECT_BYTES: usize = 500 * 1024 * 1024;
/// S3's smallest part (all parts but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// The longest object key COS and S3 accept.
const MAX_CONCURRENCY: usize = 64;
/// One fetch response is held in memory; Kafka's own `fetch.max.bytes` default is 50 MiB.
const MAX_FETCH_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `file:///dir`: objects are files under `dir`, written to a temporary name and renamed.
    Local {
        dir: PathBuf,
    },
    S3(S3Bucket),
}

/// A COS / S3 bucket and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Bucket {
    pub bucket: String,
    pub region: String,
    /// `None`: AWS S3's own endpoint for `region`.
    pub endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which S3-compatible servers expect; COS and AWS get
    /// virtual-hosted ones.
    pub path_style: bool,
    pub credentials: Credentials,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Which variables they came from, for error messages.
    pub source: &'static str,
}

#[derive(Debug, Clone)]
pub struct CosConfig {
    pub destination: Destination,
    /// Prepended to every key; empty or ending in `/`.
    pub prefix: String,
    pub key_template: KeyTemplate,
    /// `{instance}` in keys; also names the checkpoint folder.
    pub instance: String,
    /// `{topic_id}` in keys; the record's topic when unset.
    pub topic_id: Option<String>,
    /// Where `{date}` and `{hour}` in keys (and `@timestamp` CSV columns) are read.
    pub zone: Zone,
    pub content: Content,
    /// Where records the transform stage rejected, or whose key fields are missing, are written (their
    /// original bytes, headers and the error as JSON lines); unset, such a record fails the invocation.
    pub dead_letter_prefix: Option<String>,
    pub compression: Compression,
    /// Content bytes (before compression) per object; the next record starts a new object.
    pub max_object_bytes: usize,
    pub part_bytes: usize,
    pub storage_class: Option<String>,
    /// Objects uploaded at the same time (trigger mode) / partitions drained at the same time (scheduled).
    pub concurrency: usize,
    pub schedule: Option<ScheduleConfig>,
}

/// Where a partition starts when the bucket holds no checkpoint for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
    /// The first record at or after this epoch-ms timestamp.
    Timestamp(i64),
}

/// The scheduled (timer) mode: consume `topic` from `kafka_address` and write objects.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub connection: ConnectionConfig,
    pub topic: String,
    pub start: StartFrom,
    /// A partition with nothing new for this long is done for this run.
    pub idle_timeout: Duration,
    pub fetch_max_bytes: usize,
}

ckafka_dump_core::variables! {
    /// to-cos's variables (the scheduled mode's connection is the kafka crate's, `kafka_address` aside).
    VARIABLES;
    BUCKET_ADDRESS = Var::new(
        "bucket_address",
        Kind::Text(Unset::Required),
        "Where objects go: `<bucket>-<appid>.cos.<region>.myqcloud.com[/prefix/]`, a bare COS bucket name with `region`, `s3://<bucket>[/prefix/]` (any S3 API), or `file:///dir` (a local directory).",
    );
    REGION = Var::new(
        "region",
        Kind::Text(Unset::Means("from the COS domain, else `us-east-1`")),
        "Bucket region; required with a bare COS bucket name.",
    )
    .also(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
    ENDPOINT_URL = Var::new(
        "endpoint_url",
        Kind::Text(Unset::Nothing),
        "S3-compatible endpoint for `s3://` (MinIO, Ceph, R2, COS's S3 endpoint, …); path-style requests.",
    )
    .also(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
    TENCENTCLOUD_SECRETID = Var::new(
        "TENCENTCLOUD_SECRETID",
        Kind::Text(Unset::Means("set by SCF for the function's role")),
        "Credentials, with `TENCENTCLOUD_SECRETKEY` and `TENCENTCLOUD_SESSIONTOKEN`; else the `AWS_*` ones.",
    );
    TENCENTCLOUD_SECRETKEY = Var::new("TENCENTCLOUD_SECRETKEY", Kind::Secret(Unset::Means("set by SCF")), "With `TENCENTCLOUD_SECRETID`.");
    TENCENTCLOUD_SESSIONTOKEN = Var::new("TENCENTCLOUD_SESSIONTOKEN", Kind::Secret(Unset::Means("set by SCF")), "With `TENCENTCLOUD_SECRETID`.");
    AWS_ACCESS_KEY_ID = Var::new(
        "AWS_ACCESS_KEY_ID",
        Kind::Text(Unset::Means("set by Lambda for the execution role")),
        "Credentials when `TENCENTCLOUD_SECRETID` is unset, with `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. Profiles, SSO and instance metadata are not read.",
    );
    AWS_SECRET_ACCESS_KEY = Var::new("AWS_SECRET_ACCESS_KEY", Kind::Secret(Unset::Means("set by Lambda")), "With `AWS_ACCESS_KEY_ID`.");
    AWS_SESSION_TOKEN = Var::new("AWS_SESSION_TOKEN", Kind::Secret(Unset::Means("set by Lambda")), "With `AWS_ACCESS_KEY_ID`.");
    DESTINATION_PATH = Var::new(
        "destination_path",
        Kind::Text(Unset::Nothing),
        "Key prefix (the console's 目标路径); must end with `/`. Or give it as the path of `bucket_address`.",
    );
    OBJECT_KEY_TEMPLATE = Var::new(
        "object_key_template",
        Kind::Text(Unset::Default(KeyTemplate::DEFAULT)),
        "Key template: `{instance}`, `{topic}`, `{topic_id}`, `{partition}`, `{start_offset}`, `{date}`, `{hour}`, `{timestamp}` and `{field:NAME}`, each of the object's first record; it must contain `{partition}`, `{start_offset}` and `{topic}` or `{topic_id}`.",
    );
    KAFKA_INSTANCE_ID = Var::new("kafka_instance_id", Kind::Text(Unset::Default("kafka")), "The key's `{instance}`.");
    TOPIC_ID = Var::new("topic_id", Kind::Text(Unset::Means("the topic")), "The key's `{topic_id}`.");
    CONTENT_FORMAT = Var::new(
        "content_format",
        Kind::Choice { default: "text", spellings: spellings::<ContentFormat> },
        "`text`: each value and `\\n`; `json`: one JSON line per record with everything a restore needs; `csv`: the `csv_columns`; `parquet`: a Parquet file of typed columns.",
    );
    CSV_COLUMNS = Var::new(
        "csv_columns",
        Kind::List(Unset::Means("required with `csv`")),
        "Columns in order: value fields (`user.id`) or metadata (`@offset`).",
    );
    CSV_HEADER = Var::new("csv_header", Kind::Flag { default: true }, "A header row at the top of each object.");
    PARQUET_COLUMNS = Var::new(
        "parquet_columns",
        Kind::List(Unset::Means("inferred from each object's records")),
        "Parquet columns in order, `source:type` or `name=source:type`: a value field (`user.id`) or metadata (`@offset`, `@timestamp`, `@key`, `@header.NAME`); types string, int32, int64, double, boolean, timestamp, timestamp_us, date, decimal(P,S), json, binary.",
    );
    PARQUET_COMPRESSION = Var::new(
        "parquet_compression",
        Kind::Choice { default: "zstd", spellings: spellings::<ParquetCompression> },
        "Compression inside Parquet files (`compression_type` must stay `none`).",
    );
    PARQUET_ROW_GROUP_BYTES = Var::new(
        "parquet_row_group_bytes",
        // A row group is held in memory until it is written.
        Kind::Count { default: 32 * 1024 * 1024, min: 1024 * 1024, max: MAX_OBJECT_BYTES as u64 },
        "Cell bytes buffered before a row group is written and uploaded (held in memory).",
    );
    PARQUET_METADATA_COLUMNS = Var::new(
        "parquet_metadata_columns",
        Kind::List(Unset::Means("`topic,partition,offset,timestamp,key,headers`")),
        "Kafka metadata columns of inferred Parquet objects, or `none`.",
    );
    PARQUET_METADATA_PREFIX = Var::new(
        "parquet_metadata_prefix",
        Kind::Text(Unset::Default("_kafka_")),
        "Starts the metadata columns' names (and a value field's name that starts with it, so none collide).",
    );
    DEAD_LETTER_PREFIX = Var::new(
        "dead_letter_prefix",
        Kind::Text(Unset::Nothing),
        "Where records the stage rejects or a key cannot be made for go (a key prefix from the bucket's root, ending in `/`); unset, they fail the invocation.",
    );
    COMPRESSION_TYPE = Var::new(
        "compression_type",
        Kind::Choice { default: "none", spellings: spellings::<Compression> },
        "Compresses objects as they are written, and sets `Content-Encoding`.",
    );
    PARTITION_MAX_TO_COS_BYTES = Var::new(
        "partition_max_to_cos_bytes",
        // The console's limit per object ("单个文件最大500MB").
        Kind::Count { default: MAX_OBJECT_BYTES as u64, min: 1, max: MAX_OBJECT_BYTES as u64 },
        "Content bytes per object: the next record starts the next object.",
    );
    PART_SIZE_BYTES = Var::new(
        "part_size_bytes",
        // A part is held in memory: no larger than an object may be.
        Kind::Count { default: 16 * 1024 * 1024, min: MIN_PART_BYTES as u64, max: MAX_OBJECT_BYTES as u64 },
        "Multipart part size (held in memory).",
    );
    STORAGE_CLASS = Var::new(
        "storage_class",
        Kind::Text(Unset::Means("the bucket's default")),
        "E.g. `STANDARD_IA` (what the template used).",
    );
    UPLOAD_CONCURRENCY = Var::new(
        "upload_concurrency",
        Kind::Count { default: 4, min: 1, max: MAX_CONCURRENCY as u64 },
        "Objects uploaded at once (trigger) / partitions drained at once (scheduled).",
    );
    KAFKA_ADDRESS = Var::new(
        "kafka_address",
        Kind::List(Unset::Nothing),
        "The scheduled mode's bootstrap brokers (`host:port`, comma-separated); required for timer events.",
    );
    TOPIC_NAME = Var::new("topic_name", Kind::Text(Unset::Means("required with `kafka_address`")), "The scheduled mode's topic.");
    OFFSET_TYPE = Var::new(
        "offset_type",
        Kind::Text(Unset::Default("earliest")),
        "Where a partition without a checkpoint starts: `earliest`, `latest`, or an epoch-ms time (the first record at or after it).",
    );
    CONSUMER_TIMEOUT_MS = Var::new(
        "consumer_timeout_ms",
        Kind::Millis { default: 3000, max: MAX_TIME_LIMIT.as_millis() as u64 },
        "A partition with nothing new for this long is done for this run.",
    );
    FETCH_MAX_BYTES = Var::new(
        "fetch_max_bytes",
        Kind::Count { default: 8 * 1024 * 1024, min: 1024, max: MAX_FETCH_BYTES as u64 },
        "Bytes per fetch request.",
    );
}

impl CosConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let address = env.required(&BUCKET_ADDRESS)?;
        let (destination, path) = destination(env, &address)?;
        let prefix = match (path.is_empty(), env.get(&DESTINATION_PATH)?) {
            (_, None) => path,
            (true, Some(p)) => p.trim_start_matches('/').to_owned(),
            (false, Some(_)) => {
                return Err(ConfigError::new(
                    "destination_path",
                    "bucket_address already has a path; set the prefix in one place",
                ))
            }
        };
        if !(prefix.is_empty() || prefix.ends_with('/')) {
            return Err(ConfigError::new(
                "destination_path",
                format!("`{prefix}` must end with `/` (the path prefix of the bucket_address is checked too)"),
            ));
        }
        let key_template = KeyTemplate::parse(&env.text(&OBJECT_KEY_TEMPLATE)?.expect("the template has a default"))
            .map_err(|reason| ConfigError::new("object_key_template", reason))?;
        let zone = Zone::from_env(env)?;
        let content = content(env, &zone)?;
        let compression = env.choice(&COMPRESSION_TYPE)?;
        if matches!(content, Content::Parquet(_)) && compression != Compression::None {
            return Err(ConfigError::new(
                "compression_type",
                "does not wrap a Parquet file: leave it `none` and set parquet_compression (zstd by default)",
            ));
        }
        let max_object_bytes = env.size(&PARTITION_MAX_TO_COS_BYTES)?;
        let schedule = match env.get(&KAFKA_ADDRESS)? {
            Some(_) => Some(ScheduleConfig::from_env(env)?),
            None => None,
        };
        if schedule.is_some() && key_template.routes_by_field() {
            return Err(ConfigError::new(
                "object_key_template",
                "{field:NAME} keys follow trigger batches; the scheduled dump (kafka_address) keeps one checkpoint per partition, which objects of several routes written at different times cannot share",
            ));
        }
        let dead_letter_prefix = env
            .get(&DEAD_LETTER_PREFIX)?
            .map(|p| p.trim_start_matches('/').to_owned());
        if let Some(dead) = &dead_letter_prefix {
            if !dead.ends_with('/') || dead.as_str() == prefix {
                return Err(ConfigError::new(
                    "dead_letter_prefix",
                    format!("`{dead}` must end with `/` and differ from the data's prefix (e.g. `dead-letter/`)"),
                ));
            }
            // Room for the longest topic (249 bytes), a partition and a 19-digit offset.
            if dead.len() > MAX_KEY_BYTES - 300 {
                return Err(ConfigError::new(
                    "dead_letter_prefix",
                    format!(
                        "is {} bytes; keys under it would pass the store's {MAX_KEY_BYTES}",
                        dead.len()
                    ),
                ));
            }
        }
        let config = CosConfig {
            destination,
            prefix,
            key_template,
            instance: env.text(&KAFKA_INSTANCE_ID)?.expect("the instance has a default"),
            topic_id: env.get(&TOPIC_ID)?,
            zone,
            content,
            dead_letter_prefix,
            compression,
            max_object_bytes,
            part_bytes: env.size(&PART_SIZE_BYTES)?,
            storage_class: env.get(&STORAGE_CLASS)?,
            concurrency: env.size(&UPLOAD_CONCURRENCY)?,
            schedule,
        };
        config.check_key_length()?;
        Ok(config)
    }

    /// The shortest key the naming settings give (a one-letter topic) must fit the store's limit, and no
    /// setting may make a segment that leaves its folder.
    fn check_key_length(&self) -> Result<(), ConfigError> {
        let fields = KeyFields {
            instance: &self.instance,
            topic: "t",
            topic_id: self.topic_id.as_deref().unwrap_or("t"),
            partition: 0,
            start_offset: 0,
            timestamp_ms: 0,
            zone: &self.zone,
        };
        let one_letter_route = vec!["x".to_owned(); self.key_template.route_len()];
        let sample = self.key_template.render(&self.prefix, &fields, &one_letter_route, "");
        if let Some(segment) = bad_segment(&sample) {
            return Err(ConfigError::new(
                "destination_path",
                format!(
                    "object keys such as `{sample}` have a path segment `{segment}`: with the bucket_address path, \
                     kafka_instance_id and topic_id, segments between `/` must not be empty, `.` or `..`"
                ),
            ));
        }
        let shortest = sample.len();
        if shortest > MAX_KEY_BYTES {
            return Err(ConfigError::new(
                "kafka_instance_id",
                format!(
                    "with topic_id, destination_path and object_key_template it makes object keys of {shortest} bytes or more; the store allows {MAX_KEY_BYTES}"
                ),
            ));
        }
        Ok(())
    }
}

/// `content_format`, with `csv_columns` and `csv_header` for CSV and the `parquet_*` settings for Parquet.
fn content(env: &Env, zone: &Zone) -> Result<Content, ConfigError> {
    Ok(Content::Lines(match env.choice(&CONTENT_FORMAT)? {
        ContentFormat::Text => Lines::Text,
        ContentFormat::JsonLines => Lines::JsonLines,
        ContentFormat::Parquet => return parquet(env).map(|p| Content::Parquet(std::sync::Arc::new(p))),
        ContentFormat::Csv => {
            let columns = env
                .list(&CSV_COLUMNS)?
                .iter()
                .map(|column| Path::parse(column).map_err(|e| ConfigError::new("csv_columns", e)))
                .collect::<Result<Vec<_>, _>>()?;
            if columns.is_empty() {
                return Err(ConfigError::new(
                    "csv_columns",
                    "is required with content_format=csv: the columns in order, fields of the value or metadata (e.g. `id,user.name,@topic,@offset`)",
                ));
            }
            Lines::Csv(Csv {
                columns,
                header: env.flag(&CSV_HEADER)?,
                zone: zone.clone(),
            })
        }
    }))
}

fn parquet(env: &Env) -> Result<Parquet, ConfigError> {
    let columns = match env.get(&PARQUET_COLUMNS)? {
        Some(list) => {
            let declared = Declared::parse_list(&list).map_err(|e| ConfigError::new("parquet_columns", e))?;
            let mut names = std::collections::HashSet::new();
            if let Some(twice) = declared.iter().find(|c| !names.insert(c.name.as_str())) {
                return Err(ConfigError::new(
                    "parquet_columns",
                    format!("names the column `{}` twice; name one `name=source:type`", twice.name),
                ));
            }
            Columns::Declared(declared)
        }
        None => {
            let prefix = env.text(&PARQUET_METADATA_PREFIX)?.expect("the prefix has a default");
            let listed = env.list(&PARQUET_METADATA_COLUMNS)?;
            let metadata = match listed.as_slice() {
                [] => MetaColumn::CHOICES.iter().map(|&(_, column)| column).collect(),
                [none] if none == "none" => Vec::new(),
                names => metadata_columns(names).map_err(|e| ConfigError::new("parquet_metadata_columns", e))?,
            };
            Columns::Inferred { prefix, metadata }
        }
    };
    Ok(Parquet {
        columns,
        compression: env.choice(&PARQUET_COMPRESSION)?,
        row_group_bytes: env.size(&PARQUET_ROW_GROUP_BYTES)?,
    })
}

/// `[topic, offset]` → the metadata columns, each once.
fn metadata_columns(names: &[String]) -> Result<Vec<MetaColumn>, String> {
    let mut columns = Vec::new();
    for name in names {
        let column = MetaColumn::from_spelling(name)?;
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    Ok(columns)
}

impl ScheduleConfig {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let connection = ConnectionConfig::from_env(env)?;
        let topic = env.required(&TOPIC_NAME)?;
        if topic.contains("{topic}") {
            return Err(ConfigError::new(
                "topic_name",
                "names one topic; `{topic}` is not a placeholder here",
            ));
        }
        check_topic_name("topic_name", &topic)?;
        let start = match env.text(&OFFSET_TYPE)?.as_deref() {
            None | Some("earliest") => StartFrom::Earliest,
            Some("latest") => StartFrom::Latest,
            Some(other) => StartFrom::Timestamp(
                other
                    .parse::<i64>()
                    .ok()
                    .filter(|&ms| ms >= 0 && Timestamp::dated(ms, None).is_some())
                    .ok_or_else(|| {
                        ConfigError::new(
                            "offset_type",
                            format!("`{other}` is not `earliest`, `latest` or an epoch-milliseconds timestamp"),
                        )
                    })?,
            ),
        };
        Ok(ScheduleConfig {
            connection,
            topic,
            start,
            idle_timeout: env.millis(&CONSUMER_TIMEOUT_MS)?,
            fetch_max_bytes: env.size(&FETCH_MAX_BYTES)?,
        })
    }
}

/// `bucket_address` → where objects go, plus the key prefix its path gives.
fn destination(env: &Env, address: &str) -> Result<(Destination, String), ConfigError> {
    let bad = |reason: String| ConfigError::new("bucket_address", reason);
    if let Some(dir) = address.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(bad("`file://` needs a directory, e.g. file:///tmp/dump".to_owned()));
        }
        return Ok((
            Destination::Local {
                dir: PathBuf::from(dir),
            },
            String::new(),
        ));
    }
    let (bucket, region, endpoint, path_style, path) = if let Some(rest) = address.strip_prefix("s3://") {
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let endpoint = env.get(&ENDPOINT_URL)?;
        let region = env.get(&REGION)?.unwrap_or_else(|| "us-east-1".to_owned());
        let path_style = endpoint.is_some();
        (bucket.to_owned(), region, endpoint, path_style, path.to_owned())
    } else {
        let rest = address
            .strip_prefix("https://")
            .or_else(|| address.strip_prefix("http://"))
            .unwrap_or(address);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, region) = match host.split_once(".cos.") {
            Some((bucket, domain)) => {
                let region = domain.strip_suffix(".myqcloud.com").ok_or_else(|| {
                    bad(format!("`{host}` is not a COS bucket domain (<bucket>-<appid>.cos.<region>.myqcloud.com)"))
                })?;
                (bucket.to_owned(), region.to_owned())
            }
            None if !host.contains(['.', ':']) => {
                let region = env.get(&REGION)?.ok_or_else(|| {
                    ConfigError::new(REGION.name, format!("is required with the bare COS bucket name `{host}`"))
                })?;
                (host.to_owned(), region)
            }
            None => {
                return Err(bad(format!(
                    "`{address}` is none of: file:///dir, s3://bucket/prefix/, <bucket>-<appid>.cos.<region>.myqcloud.com, or a COS bucket name with `region`"
                )))
            }
        };
        let endpoint = format!("https://cos.{region}.myqcloud.com");
        (bucket, region, Some(endpoint), false, path.to_owned())
    };
    if bucket.is_empty() {
        return Err(bad(format!("`{address}` names no bucket")));
    }
    let destination = Destination::S3(S3Bucket {
        bucket,
        region,
        endpoint,
        path_style,
        credentials: credentials(env)?,
    });
    Ok((destination, path))
}

/// The SCF role's `TENCENTCLOUD_*` variables, else the `AWS_*` ones Lambda sets from the execution role.
fn credentials(env: &Env) -> Result<Credentials, ConfigError> {
    for (id, key, token, source) in [
        (
            &TENCENTCLOUD_SECRETID,
            &TENCENTCLOUD_SECRETKEY,
            &TENCENTCLOUD_SESSIONTOKEN,
            "TENCENTCLOUD_SECRETID/TENCENTCLOUD_SECRETKEY",
        ),
        (
            &AWS_ACCESS_KEY_ID,
            &AWS_SECRET_ACCESS_KEY,
            &AWS_SESSION_TOKEN,
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
    ] {
        if let Some(access_key_id) = env.get(id)? {
            let secret_access_key = env
                .secret(key)?
                .ok_or_else(|| ConfigError::new(key.name, format!("is required when {} is set", id.name)))?;
            return Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: env.secret(token)?,
                source,
            });
        }
    }
    Err(ConfigError::new(
        "TENCENTCLOUD_SECRETID",
        "no credentials for the bucket: bind a role to the function (SCF sets TENCENTCLOUD_SECRETID/SECRETKEY/SESSIONTOKEN, Lambda sets AWS_ACCESS_KEY_ID/...), or set them",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<CosConfig, ConfigError> {
        CosConfig::from_env(&Env::from_pairs(pairs))
    }

    const KEYS: [(&str, &str); 2] = [("TENCENTCLOUD_SECRETID", "AKID1"), ("TENCENTCLOUD_SECRETKEY", "sk-1")];

    fn s3(c: &CosConfig) -> (&str, &str, Option<&str>, bool) {
        match &c.destination {
            Destination::S3(b) => (&b.bucket, &b.region, b.endpoint.as_deref(), b.path_style),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bucket_address_form() {
        let domain = config(
            &[
                &KEYS[..],
                &[("bucket_address", "logs-1250000000.cos.ap-guangzhou.myqcloud.com")],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            s3(&domain),
            (
                "logs-1250000000",
                "ap-guangzhou",
                Some("https://cos.ap-guangzhou.myqcloud.com"),
                false
            )
        );
        let name = config(
            &[
                &KEYS[..],
                &[("bucket_address", "logs-1250000000"), ("region", "ap-shanghai")],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(s3(&name).2, Some("https://cos.ap-shanghai.myqcloud.com"));
        let url = config(
            &[
                &KEYS[..],
                &[
                    ("bucket_address", "s3://dump/kafka/"),
                    ("endpoint_url", "http://127.0.0.1:9000"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(s3(&url), ("dump", "us-east-1", Some("http://127.0.0.1:9000"), true));
        assert_eq!(url.prefix, "kafka/");
        let local = config(&[("bucket_address", "file:///tmp/dump"), ("destination_path", "in/")]).unwrap();
        assert_eq!(
            (local.destination, local.prefix.as_str()),
            (
                Destination::Local {
                    dir: "/tmp/dump".into()
                },
                "in/"
            )
        );
    }

    #[test]
    fn credentials_prefer_the_scf_role_and_never_print_the_secret() {
        let both = [
            &KEYS[..],
            &[
                ("AWS_ACCESS_KEY_ID", "AKIA2"),
                ("AWS_SECRET_ACCESS_KEY", "sk-2"),
                ("bucket_address", "s3://b"),
            ],
        ]
        .concat();
        let c = config(&both).unwrap();
        let Destination::S3(bucket) = &c.destination else {
            panic!()
        };
        assert_eq!(bucket.credentials.access_key_id, "AKID1");
        assert!(!format!("{c:?}").contains("sk-1"));
        let missing = config(&[("bucket_address", "s3://b"), ("AWS_ACCESS_KEY_ID", "AKIA2")]).unwrap_err();
        assert!(missing.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{missing}");
        assert!(config(&[("bucket_address", "s3://b")])
            .unwrap_err()
            .to_string()
            .contains("credentials"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = |pairs: &[(&str, &str)]| config(&[&KEYS[..], pairs].concat()).unwrap_err().to_string();
        assert!(err(&[("bucket_address", "ftp://x/y")]).contains("bucket_address"));
        assert!(err(&[("bucket_address", "b-1.cos.ap-x.example.com")]).contains("bucket_address"));
        assert!(err(&[("bucket_address", "bucket-1250000000")]).contains("region"));
        assert!(err(&[("bucket_address", "s3://b/no-slash")]).contains("must end with `/`"));
        assert!(err(&[
            ("bucket_address", "s3://b"),
            ("partition_max_to_cos_bytes", "600000000")
        ])
        .contains("partition_max_to_cos_bytes: 600000000 is out of range: must be 1 to 524288000"));
        for (var, value) in [
            ("part_size_bytes", "40000000000"),
            ("part_size_bytes", "1000000000000"),
            ("upload_concurrency", "0"),
            ("upload_concurrency", "100000"),
        ] {
            let e = err(&[("bucket_address", "s3://b"), (var, value)]);
            assert!(e.contains(&format!("{var}: {value} is out of range")), "{e}");
        }
        let long = "x".repeat(70_000);
        for var in ["kafka_instance_id", "topic_id"] {
            let e = err(&[("bucket_address", "s3://b"), (var, &long)]);
            assert!(
                e.contains("object keys of 70") && e.contains("the store allows 1024"),
                "{e}"
            );
        }
        let e = err(&[("bucket_address", "s3://b"), ("region", "ap-guang\nzhou")]);
        assert!(
            e.contains("environment variable region: holds a control character"),
            "{e}"
        );
        let e = config(&[("bucket_address", "s3://b"), ("AWS_ACCESS_KEY_ID", "AKIA\n2")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("environment variable AWS_ACCESS_KEY_ID: holds a control character"),
            "{e}"
        );
        assert!(err(&[("bucket_address", "s3://b"), ("part_size_bytes", "1000")]).contains("part_size_bytes"));
        assert!(
            err(&[("bucket_address", "s3://b"), ("object_key_template", "{topic}/{date}")])
                .contains("object_key_template")
        );
        let schedule = |extra: &[(&str, &str)]| {
            err(&[
                &[
                    ("bucket_address", "s3://b"),
                    ("kafka_address", "k:9092"),
                    ("topic_name", "t"),
                ][..],
                extra,
            ]
            .concat())
        };
        assert!(schedule(&[("offset_type", "yesterday")]).contains("offset_type"));
        let routed = "{field:app}/{topic}+{partition}+{start_offset}";
        assert!(schedule(&[("object_key_template", routed)]).contains("object_key_template: {field:NAME} keys"));
        let scheduled = |extra: &[(&str, &str)]| {
            let base = [
                ("bucket_address", "s3://b"),
                ("kafka_address", "k:9092"),
                ("topic_name", "t"),
            ];
            config(&[&KEYS[..], &base[..], extra].concat())
        };
        let csv_of_fields = scheduled(&[("content_format", "csv"), ("csv_columns", "id,@offset")]);
        assert!(
            csv_of_fields.is_ok(),
            "the scheduled dump runs the stage, so CSV columns read fields"
        );
        let parquet = |extra: &[(&str, &str)]| {
            err(&[
                &[("bucket_address", "s3://b"), ("content_format", "parquet")][..],
                extra,
            ]
            .concat())
        };
        assert!(parquet(&[("compression_type", "gzip")]).contains("compression_type: does not wrap a Parquet file"));
        assert!(parquet(&[("parquet_columns", "id")]).contains("parquet_columns: `id` is not `source:type`"));
        assert!(parquet(&[("parquet_columns", "id:float")]).contains("parquet_columns: `float` is not a column type"));
        assert!(parquet(&[("parquet_columns", "id:int64,id:string")]).contains("names the column `id` twice"));
        assert!(parquet(&[("parquet_metadata_columns", "topic,lag")]).contains("parquet_metadata_columns"));
        assert!(parquet(&[("parquet_compression", "lz4")]).contains("parquet_compression"));
        assert!(parquet(&[("parquet_row_group_bytes", "10")]).contains("parquet_row_group_bytes"));
        let declared = scheduled(&[
            ("content_format", "parquet"),
            (
                "parquet_columns",
                "id:int64, amount=price:decimal(10,2), at=@timestamp:timestamp_us",
            ),
        ])
        .unwrap();
        let Content::Parquet(declared) = &declared.content else {
            panic!("parquet")
        };
        let Columns::Declared(columns) = &declared.columns else {
            panic!("declared")
        };
        let names: Vec<(&str, String)> = columns.iter().map(|c| (c.name.as_str(), c.ty.spelled())).collect();
        assert_eq!(
            names,
            [
                ("id", "int64".into()),
                ("amount", "decimal(10,2)".into()),
                ("at", "timestamp_us".into())
            ]
        );
        assert!(err(&[
            ("bucket_address", "s3://b"),
            ("object_key_template", "{topic}/../{partition}+{start_offset}")
        ])
        .contains("path segment `..`"));
        assert!(err(&[("bucket_address", "s3://b/a/../"), ("kafka_instance_id", "k")]).contains("path segment `..`"));
        assert!(err(&[("bucket_address", "s3://b"), ("kafka_instance_id", "..")]).contains("path segment `..`"));
        let csv = |extra: &[(&str, &str)]| {
            err(&[&[("bucket_address", "s3://b"), ("content_format", "csv")][..], extra].concat())
        };
        assert!(csv(&[]).contains("csv_columns: is required with content_format=csv"));
        assert!(csv(&[("csv_columns", "id,@nope")]).contains("csv_columns"));
        assert!(csv(&[("csv_columns", "id"), ("csv_header", "maybe")]).contains("csv_header"));
        for prefix in ["dead", "dump/"] {
            let e = err(&[("bucket_address", "s3://b/dump/"), ("dead_letter_prefix", prefix)]);
            assert!(
                e.contains("dead_letter_prefix") && e.contains("must end with `/` and differ"),
                "{e}"
            );
        }
        assert!(schedule(&[("consumer_timeout_ms", "0")]).contains("consumer_timeout_ms"));
        assert!(schedule(&[("fetch_max_bytes", "40000000000")]).contains("fetch_max_bytes"));
        let long_topic = "t".repeat(70_000);
        let e = err(&[
            ("bucket_address", "s3://b"),
            ("kafka_address", "k:9092"),
            ("topic_name", &long_topic),
        ]);
        assert!(e.contains("at most 249"), "{e}");
        let no_topic = config(&[&KEYS[..], &[("bucket_address", "s3://b"), ("kafka_address", "k:9092")]].concat());
        assert!(no_topic.unwrap_err().to_string().contains("topic_name"));
    }

    #[test]
    fn schedule_settings_default_as_the_template() {
        let c = config(
            &[
                &KEYS[..],
                &[
                    ("bucket_address", "s3://b"),
                    ("kafka_address", "k:9092"),
                    ("topic_name", "t"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        let s = c.schedule.unwrap();
        assert_eq!((s.start, s.idle_timeout), (StartFrom::Earliest, Duration::from_secs(3)));
        assert_eq!(c.max_object_bytes, MAX_OBJECT_BYTES);
        let at = config(
            &[
                &KEYS[..],
                &[
                    ("bucket_address", "s3://b"),
                    ("kafka_address", "k:9092"),
                    ("topic_name", "t"),
                    ("offset_type", "1700000000000"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(at.schedule.unwrap().start, StartFrom::Timestamp(1_700_000_000_000));
    }
}
