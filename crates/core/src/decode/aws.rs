//! AWS Lambda Kafka event records (MSK and self-managed): `records` maps `"topic-partition"` to lists
//! whose `key`/`value` are base64 and whose header values are arrays of signed bytes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{at_record, BatchBuilder, DecodeError, Text};
use crate::record::{Batch, Format, HeaderMeta, RecordMeta, Span, Timestamp, TimestampType};

/// Standard alphabet, SIMD-decoded; padding accepted with or without, since producers of test events differ.
fn decode_base64(text: &str, arena: &mut Vec<u8>) -> Result<(), base64_simd::Error> {
    let engine = if text.len() % 4 == 0 {
        base64_simd::STANDARD
    } else {
        base64_simd::STANDARD_NO_PAD
    };
    engine.decode_append(text, arena)
}

pub(super) struct RawPartitions<'a>(pub Vec<RawPartition<'a>>);

pub(super) struct RawPartition<'a> {
    map_key: Cow<'a, str>,
    records: Vec<RawRecord<'a>>,
}

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
    /// Kept as raw JSON and decoded into the arena once the record's coordinates are known.
    #[serde(default, borrow)]
    headers: Option<&'a RawValue>,
}

pub(super) fn build<'a>(event: &'a str, partitions: Vec<RawPartition<'a>>) -> Result<Batch<'a>, DecodeError> {
    let records = partitions.iter().map(|p| p.records.len()).sum();
    let base64_len: usize = partitions
        .iter()
        .flat_map(|p| &p.records)
        .map(|r| r.key.as_ref().map_or(0, |t| t.0.len()) + r.value.as_ref().map_or(0, |t| t.0.len()))
        .sum();
    let mut batch = BatchBuilder::new(event, records, base64_len / 4 * 3 + 3 * records);
    for partition in partitions {
        let map_topic = batch.text(&topic_of_map_key(partition.map_key));
        for raw in partition.records {
            let topic = raw.topic.as_ref().map_or(map_topic, |Text(t)| batch.text(t));
            let meta = record_meta(&mut batch, raw, topic)?;
            batch.records.push(meta);
        }
    }
    Ok(batch.finish(Format::AwsKafka))
}

fn record_meta<'a>(batch: &mut BatchBuilder<'a>, raw: RawRecord<'a>, topic: Span) -> Result<RecordMeta, DecodeError> {
    let (partition, offset) = (raw.partition, raw.offset);
    let at = |batch: &BatchBuilder<'a>| (topic_name(batch, topic), partition, offset);
    let base64 = |batch: &mut BatchBuilder<'a>, field: &'static str, text: Option<Text<'a>>| {
        text.map(|Text(t)| {
            batch.try_append(|arena| decode_base64(&t, arena)).map_err(|source| {
                let (topic, partition, offset) = at(batch);
                DecodeError::InvalidBase64 {
                    field,
                    topic,
                    partition,
                    offset,
                    source,
                }
            })
        })
        .transpose()
    };
    let key = base64(batch, "key", raw.key)?;
    let value = base64(batch, "value", raw.value)?;
    let kind = match raw.timestamp_type.as_ref().map(|t| t.0.as_ref()) {
        None | Some("NO_TIMESTAMP_TYPE") => None,
        Some("CREATE_TIME") => Some(TimestampType::CreateTime),
        Some("LOG_APPEND_TIME") => Some(TimestampType::LogAppendTime),
        Some(other) => {
            let (topic, partition, offset) = at(batch);
            return Err(DecodeError::UnknownTimestampType {
                value: other.to_owned(),
                topic,
                partition,
                offset,
            });
        }
    };
    let first_header = batch.headers.len() as u32;
    if let Some(headers) = raw.headers {
        let mut out_of_range = None;
        let parsed = HeadersSeed {
            batch: &mut *batch,
            out_of_range: &mut out_of_range,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(headers.get()));
        if let Err(e) = parsed {
            let (topic, partition, offset) = at(batch);
            let problem = match out_of_range {
                Some((name, byte)) => format!("header `{name}`: byte {byte} is out of range -128..=127"),
                None => e.to_string(),
            };
            return Err(DecodeError::BadHeader {
                topic,
                partition,
                offset,
                problem,
            });
        }
    }
    Ok(RecordMeta {
        topic,
        partition,
        offset,
        timestamp: raw.timestamp.map(|millis| Timestamp { millis, kind }),
        key,
        value,
        headers: (first_header, batch.headers.len() as u32),
    })
}

/// `"my-topic-7"` → `"my-topic"`: the topic of records that do not name theirs.
fn topic_of_map_key(map_key: Cow<'_, str>) -> Cow<'_, str> {
    match map_key {
        Cow::Borrowed(key) => Cow::Borrowed(key.rsplit_once('-').map_or(key, |(topic, _)| topic)),
        Cow::Owned(key) => Cow::Owned(key.rsplit_once('-').map_or(key.as_str(), |(topic, _)| topic).to_owned()),
    }
}

fn topic_name(batch: &BatchBuilder<'_>, topic: Span) -> String {
    match topic {
        Span::Event { start, len } => batch.event[start as usize..(start + len) as usize].to_owned(),
        Span::Arena { start, len } => {
            String::from_utf8_lossy(&batch.arena[start as usize..(start + len) as usize]).into_owned()
        }
    }
}

/// `[{"name": [signed bytes]}, ...]` (or `null`): header values go into the arena as unsigned bytes.
struct HeadersSeed<'b, 'a> {
    batch: &'b mut BatchBuilder<'a>,
    out_of_range: &'b mut Option<(String, i64)>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for HeadersSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for HeadersSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {\"name\": [signed bytes]} objects")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq
            .next_element_seed(HeaderMapSeed {
                batch: &mut *self.batch,
                out_of_range: &mut *self.out_of_range,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct HeaderMapSeed<'b, 'a> {
    batch: &'b mut BatchBuilder<'a>,
    out_of_range: &'b mut Option<(String, i64)>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for HeaderMapSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for HeaderMapSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a {\"name\": [signed bytes]} object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            let key = self.batch.text(&name);
            let start = self.batch.arena.len();
            let mut bad_byte = None;
            map.next_value_seed(SignedBytesSeed {
                arena: &mut self.batch.arena,
                out_of_range: &mut bad_byte,
            })
            .inspect_err(|_| *self.out_of_range = bad_byte.map(|byte| (name.to_string(), byte)))?;
            let value = Span::Arena {
                start: start as u32,
                len: (self.batch.arena.len() - start) as u32,
            };
            self.batch.headers.push(HeaderMeta { key, value });
        }
        Ok(())
    }
}

/// One header value: signed bytes appended to the arena; an out-of-range byte is reported to the caller.
struct SignedBytesSeed<'b> {
    arena: &'b mut Vec<u8>,
    out_of_range: &'b mut Option<i64>,
}

impl<'de> DeserializeSeed<'de> for SignedBytesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SignedBytesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of signed bytes")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(byte) = seq.next_element::<i64>()? {
            match i8::try_from(byte) {
                Ok(signed) => self.arena.push(signed as u8),
                Err(_) => {
                    *self.out_of_range = Some(byte);
                    return Err(serde::de::Error::custom(format_args!("byte {byte} is out of range")));
                }
            }
        }
        Ok(())
    }
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

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<RawRecord<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
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
