//! AWS Lambda Kafka event records (MSK and self-managed): `records` maps `"topic-partition"` to lists
//! whose `key`/`value` are base64 and whose header values are arrays of signed bytes. EventBridge Pipes sends
//! the same records flat, in a top-level array, each naming its `"topic-partition"` in `eventSourceKey`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::base64::{self, Invalid};
use super::int::IntSeed;
use super::{at_record, BatchBuilder, DecodeError, Text, RECORD_BYTES_ESTIMATE};
use crate::record::{HeaderMeta, RecordMeta, Span, Timestamp, TimestampType};

/// `"my-topic-7"` → `"my-topic"`: the topic of records that do not name theirs.
fn topic_of_map_key(map_key: &str) -> &str {
    map_key.rsplit_once('-').map_or(map_key, |(topic, _)| topic)
}

/// The `records` object.
pub(super) struct PartitionsSeed<'b, 'a>(pub &'b mut BatchBuilder<'a>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for PartitionsSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for PartitionsSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object mapping \"topic-partition\" to record arrays")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let batch = self.0;
        batch.reserve_for_base64();
        while let Some(Text(map_key)) = map.next_key::<Text<'de>>()? {
            let map_topic = batch.text(topic_of_map_key(&map_key));
            map.next_value_seed(PartitionSeed {
                batch: &mut *batch,
                map_key: &map_key,
                map_topic,
            })?;
        }
        Ok(())
    }
}

/// EventBridge Pipes' top-level array of records.
pub(super) fn flat_records<'de: 'a, 'a, S: SeqAccess<'de>>(
    seq: S,
    batch: &mut BatchBuilder<'a>,
) -> Result<(), S::Error> {
    batch.reserve_for_base64();
    read_records(seq, batch, None)
}

/// Reads a list of records into the batch, those of one `"topic-partition"` (`listed_under`, its key and
/// topic) or Pipes' flat list; an error says which record of which list.
fn read_records<'de: 'a, 'a, S: SeqAccess<'de>>(
    mut seq: S,
    batch: &mut BatchBuilder<'a>,
    listed_under: Option<(&str, Span)>,
) -> Result<(), S::Error> {
    let mut index = 0;
    loop {
        let seed = RecordSeed {
            batch: &mut *batch,
            map_topic: listed_under.map(|(_, topic)| topic),
        };
        match seq.next_element_seed(seed) {
            Ok(Some(())) => index += 1,
            Ok(None) => return Ok(()),
            Err(e) if batch.error.is_some() => return Err(e),
            Err(e) => {
                return Err(match listed_under {
                    Some((map_key, _)) => at_record(index, format_args!("in `{map_key}`: {e}")),
                    None => at_record(index, e),
                })
            }
        }
    }
}

impl BatchBuilder<'_> {
    /// Base64 decodes to at most 3/4 of the event; reserving it spares the copies of a growing buffer
    /// (untouched pages cost no memory).
    fn reserve_for_base64(&mut self) {
        self.bytes.reserve(self.event.len() / 4 * 3);
        self.records.reserve(self.event.len() / RECORD_BYTES_ESTIMATE);
    }
}

/// One `"topic-partition": [records]` list.
struct PartitionSeed<'b, 'a, 'k> {
    batch: &'b mut BatchBuilder<'a>,
    map_key: &'k str,
    map_topic: Span,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for PartitionSeed<'_, 'a, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for PartitionSeed<'_, 'a, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of records for `{}`", self.map_key)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<(), S::Error> {
        read_records(seq, self.batch, Some((self.map_key, self.map_topic)))
    }
}

/// One record object, decoded straight into the batch. Its topic, when it does not name one, is the one of
/// the `"topic-partition"` it is listed under (`map_topic`) or names in `eventSourceKey` (Pipes).
struct RecordSeed<'b, 'a> {
    batch: &'b mut BatchBuilder<'a>,
    map_topic: Option<Span>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A problem found in a field before the record's coordinates are known (fields come in any order).
enum Deferred<'a> {
    Base64(&'static str, Invalid),
    HeaderByte(String, i64),
    TimestampType(Cow<'a, str>),
}

impl<'de: 'a, 'a> Visitor<'de> for RecordSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kafka record object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let batch = self.batch;
        let (mut topic, mut partition, mut offset, mut timestamp) = (None, None, None, None);
        let (mut kind, mut key, mut value, mut deferred) = (None, None, None, None);
        let mut source_key_topic = None;
        let first_header = batch.headers.len() as u32;
        while let Some(Text(field)) = map.next_key::<Text<'de>>()? {
            match field.as_ref() {
                "topic" => topic = map.next_value::<Option<Text<'de>>>()?.map(|Text(t)| batch.topic(&t)),
                "partition" => partition = map.next_value_seed(IntSeed::<i32>::new("partition"))?,
                "offset" => offset = map.next_value_seed(IntSeed::<i64>::new("offset"))?,
                "timestamp" => timestamp = map.next_value_seed(IntSeed::<i64>::new("timestamp"))?,
                "eventSourceKey" => {
                    source_key_topic = map
                        .next_value::<Option<Text<'de>>>()?
                        .map(|Text(k)| batch.text(topic_of_map_key(&k)))
                }
                "timestampType" => match map.next_value::<Option<Text<'de>>>()?.map(|t| t.0) {
                    None => kind = None,
                    Some(t) => match t.as_ref() {
                        "NO_TIMESTAMP_TYPE" => kind = None,
                        "CREATE_TIME" => kind = Some(TimestampType::CreateTime),
                        "LOG_APPEND_TIME" => kind = Some(TimestampType::LogAppendTime),
                        _ => deferred = deferred.or(Some(Deferred::TimestampType(t))),
                    },
                },
                name @ ("key" | "value") => {
                    let field: &'static str = if name == "key" { "key" } else { "value" };
                    let span = match map.next_value::<Option<Text<'de>>>()? {
                        None => None,
                        Some(Text(text)) => match batch.try_append(|out| base64::decode_append(&text, out)) {
                            Ok(span) => Some(span),
                            Err(e) => {
                                deferred = deferred.or(Some(Deferred::Base64(field, e)));
                                None
                            }
                        },
                    };
                    if field == "key" {
                        key = span;
                    } else {
                        value = span;
                    }
                }
                "headers" => {
                    let mut bad = None;
                    map.next_value_seed(HeadersSeed {
                        batch: &mut *batch,
                        bad: &mut bad,
                    })?;
                    if let Some((header, byte)) = bad {
                        deferred = deferred.or(Some(Deferred::HeaderByte(header, byte)));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let partition = partition.ok_or_else(|| de::Error::missing_field("partition"))?;
        let offset = offset.ok_or_else(|| de::Error::missing_field("offset"))?;
        let topic = topic
            .or(self.map_topic)
            .or(source_key_topic)
            .ok_or_else(|| de::Error::missing_field("topic"))?;
        if let Err(e) = batch.check_topic(topic, partition, offset) {
            return Err(batch.fail(e));
        }
        if let Some(problem) = deferred {
            let topic = batch.span_text(topic);
            let error = match problem {
                Deferred::Base64(field, reason) => DecodeError::InvalidBase64 {
                    field,
                    topic,
                    partition,
                    offset,
                    reason,
                },
                Deferred::HeaderByte(header, byte) => DecodeError::HeaderByteOutOfRange {
                    header,
                    topic,
                    partition,
                    offset,
                    byte,
                },
                Deferred::TimestampType(value) => DecodeError::UnknownTimestampType {
                    value: value.into_owned(),
                    topic,
                    partition,
                    offset,
                },
            };
            return Err(batch.fail(error));
        }
        batch.records.push(RecordMeta {
            topic,
            partition,
            offset,
            timestamp: timestamp.and_then(|millis| Timestamp::dated(millis, kind)),
            key,
            value,
            headers: (first_header, batch.headers.len() as u32),
        });
        Ok(())
    }
}

/// `[{"name": [signed bytes]}, ...]` or `null`: names and values go into the batch; the first byte out of
/// range is reported through `bad` (the rest of the list is still read).
struct HeadersSeed<'b, 'a> {
    batch: &'b mut BatchBuilder<'a>,
    bad: &'b mut Option<(String, i64)>,
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
                bad: &mut *self.bad,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct HeaderMapSeed<'b, 'a> {
    batch: &'b mut BatchBuilder<'a>,
    bad: &'b mut Option<(String, i64)>,
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
            let mut bad_byte = None;
            let start = self.batch.bytes.len();
            map.next_value_seed(SignedBytesSeed {
                out: &mut self.batch.bytes,
                bad: &mut bad_byte,
            })
            .map_err(|e| de::Error::custom(format_args!("header `{name}`: {e}")))?;
            if let (Some(byte), None) = (bad_byte, &self.bad) {
                *self.bad = Some((name.into_owned(), byte));
            }
            let value = Span::Bytes {
                start: start as u32,
                len: (self.batch.bytes.len() - start) as u32,
            };
            self.batch.headers.push(HeaderMeta { key, value });
        }
        Ok(())
    }
}

/// One header value: signed bytes appended to the batch as unsigned.
struct SignedBytesSeed<'b> {
    out: &'b mut Vec<u8>,
    bad: &'b mut Option<i64>,
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
        f.write_str("an array of signed bytes (-128..=127)")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(byte) = seq.next_element::<i64>()? {
            match i8::try_from(byte) {
                Ok(signed) => self.out.push(signed as u8),
                Err(_) => *self.bad = self.bad.or(Some(byte)),
            }
        }
        Ok(())
    }
}
