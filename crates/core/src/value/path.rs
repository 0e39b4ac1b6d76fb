//! Field paths (`user.id`, `@topic`) and Kafka metadata as field values.

use std::borrow::Cow;

use serde_json::Value;

use crate::record::Record;
use crate::time::Zone;

/// A field of the record's value, or a piece of Kafka metadata (`@...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// `a.b.c`: the top-level field named `a.b.c` if there is one (a flattened name), else `c` in `b` in `a`.
    Field {
        name: String,
        segments: Vec<String>,
    },
    Meta(Meta),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    Topic,
    Partition,
    Offset,
    /// The key as text (bytes that are not UTF-8 are replaced), or null.
    Key,
    /// The Kafka timestamp in RFC 3339 in the function's zone, or null.
    Timestamp,
    TimestampMs,
    /// Every header as `{name: text}`.
    Headers,
    Header(String),
}

pub const META_NAMES: &str = "@topic, @partition, @offset, @key, @timestamp, @timestamp_ms, @headers, @header.NAME";

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let Some(meta) = text.strip_prefix('@') else {
            return Ok(Path::literal(text));
        };
        Ok(Path::Meta(match meta {
            "topic" => Meta::Topic,
            "partition" => Meta::Partition,
            "offset" => Meta::Offset,
            "key" => Meta::Key,
            "timestamp" => Meta::Timestamp,
            "timestamp_ms" => Meta::TimestampMs,
            "headers" => Meta::Headers,
            _ => match meta.strip_prefix("header.") {
                Some(name) if !name.is_empty() => Meta::Header(name.to_owned()),
                _ => return Err(format!("`{text}` is not Kafka metadata (known: {META_NAMES})")),
            },
        }))
    }

    /// A field path taken as written (no metadata).
    pub fn literal(text: &str) -> Path {
        Path::Field {
            name: text.to_owned(),
            segments: text.split('.').map(str::to_owned).collect(),
        }
    }
}

/// As the user wrote it: `user.id`, `@topic`.
impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Field { name, .. } => f.write_str(name),
            Path::Meta(meta) => meta.fmt(f),
        }
    }
}

/// `@topic`, `@header.NAME`: as `TRANSFORM_ADD` and filters spell it.
impl std::fmt::Display for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Meta::Topic => "topic",
            Meta::Partition => "partition",
            Meta::Offset => "offset",
            Meta::Key => "key",
            Meta::Timestamp => "timestamp",
            Meta::TimestampMs => "timestamp_ms",
            Meta::Headers => "headers",
            Meta::Header(name) => return write!(f, "@header.{name}"),
        };
        write!(f, "@{name}")
    }
}

impl Meta {
    pub fn value(&self, record: &Record<'_>, zone: &Zone) -> Option<Value> {
        let text = |bytes: &[u8]| Value::String(String::from_utf8_lossy(bytes).into_owned());
        Some(match self {
            Meta::Topic => Value::String(record.topic.to_owned()),
            Meta::Partition => Value::from(record.partition),
            Meta::Offset => Value::from(record.offset),
            Meta::Key => record.key.map_or(Value::Null, text),
            Meta::Timestamp => record
                .timestamp
                .map_or(Value::Null, |t| Value::String(zone.date_time(t.millis).rfc3339())),
            Meta::TimestampMs => record.timestamp.map_or(Value::Null, |t| Value::from(t.millis)),
            Meta::Headers => Value::Object(
                record
                    .headers()
                    .map(|h| (h.key.to_owned(), h.value.map_or(Value::Null, text)))
                    .collect(),
            ),
            Meta::Header(name) => {
                return record
                    .headers()
                    .find(|h| h.key == name)
                    .map(|h| h.value.map_or(Value::Null, text))
            }
        })
    }
}

/// A value as routing text (an index name, a key, a topic): strings as they are, numbers and booleans as
/// written; objects, arrays and null cannot name anything.
pub fn routing_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_parse_as_written() {
        assert_eq!(
            Path::parse("@header.trace").unwrap(),
            Path::Meta(Meta::Header("trace".into()))
        );
        assert!(Path::parse("@partitions").unwrap_err().contains("@partition,"));
        for spelling in ["user.id", "@topic", "@timestamp_ms", "@header.trace"] {
            assert_eq!(
                Path::parse(spelling).unwrap().to_string(),
                spelling,
                "errors name a path as written"
            );
        }
    }

    #[test]
    fn metadata_values() {
        let record = Record::new("orders", 3, 42, None, Some(b"k\xff"), Some(b"{}"));
        let utc = Zone::utc();
        assert_eq!(Meta::Topic.value(&record, &utc), Some(json!("orders")));
        assert_eq!(Meta::Partition.value(&record, &utc), Some(json!(3)));
        assert_eq!(Meta::Offset.value(&record, &utc), Some(json!(42)));
        assert_eq!(Meta::Key.value(&record, &utc), Some(json!("k\u{fffd}")));
        assert_eq!(Meta::Timestamp.value(&record, &utc), Some(Value::Null));
        assert_eq!(Meta::Headers.value(&record, &utc), Some(json!({})));
        assert_eq!(Meta::Header("h".into()).value(&record, &utc), None);
        let timed = Record::new(
            "t",
            0,
            0,
            Some(crate::Timestamp {
                millis: 1_709_310_600_000,
                kind: None,
            }),
            None,
            None,
        );
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(
            Meta::Timestamp.value(&timed, &shanghai),
            Some(json!("2024-03-02T00:30:00.000+08:00"))
        );
        assert_eq!(Meta::Key.value(&timed, &utc), Some(Value::Null));
    }
}
