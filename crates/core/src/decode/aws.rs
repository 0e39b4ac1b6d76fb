//! AWS Lambda Kafka event records (MSK and self-managed): `records` maps `"topic-partition"` to lists
//! whose `key`/`value` are base64 and whose header values are arrays of signed bytes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{at_record, DecodeError};
use crate::record::{Header, Record, Timestamp, TimestampType};

/// Standard alphabet; padding accepted with or without, since producers of test events differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) struct RawPartitions<'a>(pub Vec<RawPartition<'a>>);

pub(super) struct RawPartition<'a> {
    map_key: Cow<'a, str>,
    records: Vec<RawRecord<'a>>,
}

/// A string that borrows from the event when it holds no JSON escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord<'a> {
    #[serde(default, borrow)]
    topic: Option<Text<'a>>,
    partition: i32,
    offset: i64,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default, borrow)]
    timestamp_type: Option<Text<'a>>,
    #[serde(default, borrow)]
    key: Option<Text<'a>>,
    #[serde(default, borrow)]
    value: Option<Text<'a>>,
    #[serde(default, borrow)]
    headers: Option<RawHeaders<'a>>,
}

/// `[{"name": [signed bytes]}, ...]`, kept in order and range-checked after parsing so the error
/// can name the record.
struct RawHeaders<'a>(Vec<(Cow<'a, str>, Vec<i64>)>);

pub(super) fn into_records(partitions: Vec<RawPartition<'_>>) -> Result<Vec<Record<'_>>, DecodeError> {
    let total = partitions.iter().map(|p| p.records.len()).sum();
    let mut records = Vec::with_capacity(total);
    for partition in partitions {
        let map_topic = partition
            .map_key
            .rsplit_once('-')
            .map_or(partition.map_key.as_ref(), |(topic, _)| topic)
            .to_owned();
        for mut raw in partition.records {
            let topic = match raw.topic.take() {
                Some(Text(topic)) => topic,
                None => Cow::Owned(map_topic.clone()),
            };
            records.push(into_record(raw, topic)?);
        }
    }
    Ok(records)
}

fn into_record<'a>(raw: RawRecord<'a>, topic: Cow<'a, str>) -> Result<Record<'a>, DecodeError> {
    let (partition, offset) = (raw.partition, raw.offset);
    let decode = |field: &'static str, text: Option<Text<'a>>| -> Result<Option<Cow<'a, [u8]>>, DecodeError> {
        text.map(|Text(t)| {
            BASE64
                .decode(t.as_bytes())
                .map(Cow::Owned)
                .map_err(|source| DecodeError::InvalidBase64 {
                    field,
                    topic: topic.to_string(),
                    partition,
                    offset,
                    source,
                })
        })
        .transpose()
    };
    let key = decode("key", raw.key)?;
    let value = decode("value", raw.value)?;
    let kind = match raw.timestamp_type.as_ref().map(|t| t.0.as_ref()) {
        None | Some("NO_TIMESTAMP_TYPE") => None,
        Some("CREATE_TIME") => Some(TimestampType::CreateTime),
        Some("LOG_APPEND_TIME") => Some(TimestampType::LogAppendTime),
        Some(other) => {
            return Err(DecodeError::UnknownTimestampType {
                value: other.to_owned(),
                topic: topic.to_string(),
                partition,
                offset,
            })
        }
    };
    let headers = raw
        .headers
        .map(|h| h.0)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, bytes)| {
            let value = bytes
                .iter()
                .map(|&b| {
                    i8::try_from(b)
                        .map(|signed| signed as u8)
                        .map_err(|_| DecodeError::HeaderByteOutOfRange {
                            header: name.to_string(),
                            topic: topic.to_string(),
                            partition,
                            offset,
                            value: b,
                        })
                })
                .collect::<Result<Vec<u8>, _>>()?;
            Ok(Header { key: name, value })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    Ok(Record {
        topic,
        partition,
        offset,
        timestamp: raw.timestamp.map(|millis| Timestamp { millis, kind }),
        key,
        value,
        headers,
    })
}

impl<'de> Deserialize<'de> for RawPartitions<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = RawPartitions<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping \"topic-partition\" to record arrays")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut partitions = Vec::new();
                while let Some(Text(map_key)) = map.next_key::<Text<'de>>()? {
                    let records = map.next_value_seed(RecordsSeed(&map_key))?;
                    partitions.push(RawPartition { map_key, records });
                }
                Ok(RawPartitions(partitions))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Deserializes one partition's record array, naming the partition and index on error.
struct RecordsSeed<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<RawRecord<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        struct SeqVisitor<'k>(&'k str);
        impl<'de> Visitor<'de> for SeqVisitor<'_> {
            type Value = Vec<RawRecord<'de>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of records for `{}`", self.0)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                loop {
                    match seq.next_element::<RawRecord<'de>>() {
                        Ok(Some(record)) => records.push(record),
                        Ok(None) => return Ok(records),
                        Err(e) => return Err(at_record(records.len(), format_args!("in `{}`: {e}", self.0))),
                    }
                }
            }
        }
        deserializer.deserialize_seq(SeqVisitor(self.0))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawHeaders<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for HeadersVisitor<'a> {
            type Value = RawHeaders<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of {\"name\": [bytes]} objects")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut headers = Vec::new();
                while let Some(HeaderMap(entries)) = seq.next_element::<HeaderMap<'a>>()? {
                    headers.extend(entries);
                }
                Ok(RawHeaders(headers))
            }
        }
        deserializer.deserialize_seq(HeadersVisitor(PhantomData))
    }
}

struct HeaderMap<'a>(Vec<(Cow<'a, str>, Vec<i64>)>);

impl<'de: 'a, 'a> Deserialize<'de> for HeaderMap<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = HeaderMap<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a {\"name\": [bytes]} object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(1);
                while let Some(Text(name)) = map.next_key::<Text<'a>>()? {
                    entries.push((name, map.next_value::<Vec<i64>>()?));
                }
                Ok(HeaderMap(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
