//! Trigger event → [`Batch`]. The format is detected from the JSON itself: a `Records` array is a
//! Tencent SCF CKafka event, a `records` object an AWS Lambda Kafka event.

mod aws;
mod scf;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::record::{Batch, Format};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("unknown event shape: expected `Records` (Tencent SCF CKafka) or `records` (AWS Lambda Kafka)")]
    UnknownShape,
    #[error("malformed event: {0}")]
    Malformed(serde_json::Error),
    #[error("invalid base64 in {field} at {topic}/{partition}/{offset}: {source}")]
    InvalidBase64 {
        field: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        source: base64::DecodeError,
    },
    #[error("header `{header}` at {topic}/{partition}/{offset}: byte {value} is out of range -128..=127")]
    HeaderByteOutOfRange {
        header: String,
        topic: String,
        partition: i32,
        offset: i64,
        value: i64,
    },
    #[error("unknown timestampType `{value}` at {topic}/{partition}/{offset}")]
    UnknownTimestampType {
        value: String,
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// Decodes a trigger event. The batch borrows from `event`.
pub fn decode(event: &str) -> Result<Batch<'_>, DecodeError> {
    let envelope: Envelope<'_> = serde_json::from_str(event).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            DecodeError::NotJson(e)
        } else {
            DecodeError::Malformed(e)
        }
    })?;
    match envelope {
        Envelope::Scf(records) => Ok(Batch {
            format: Format::ScfCkafka,
            records,
        }),
        Envelope::Aws(partitions) => Ok(Batch {
            format: Format::AwsKafka,
            records: aws::into_records(partitions)?,
        }),
        Envelope::Unknown => Err(DecodeError::UnknownShape),
    }
}

enum Envelope<'a> {
    Scf(Vec<crate::record::Record<'a>>),
    Aws(Vec<aws::RawPartition<'a>>),
    Unknown,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (a CKafka or Kafka trigger event)")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut envelope = Envelope::Unknown;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "Records" => envelope = Envelope::Scf(map.next_value::<scf::ScfRecords>()?.0),
                        "records" => envelope = Envelope::Aws(map.next_value::<aws::RawPartitions>()?.0),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(envelope)
            }
        }
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

/// Wraps an element error with its position so the message says which record is wrong.
fn at_record<E: de::Error>(index: usize, error: impl fmt::Display) -> E {
    E::custom(format_args!("record {index}: {error}"))
}

#[cfg(test)]
mod tests;
