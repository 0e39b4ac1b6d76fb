//! Trigger event → [`Batch`]. The format is detected from the JSON itself: a `Records` array is a
//! Tencent SCF CKafka event, a `records` object an AWS Lambda Kafka event.
//!
//! Two steps: serde parses the envelope into raw records that borrow from the event text (base64 stays
//! text, headers stay raw JSON), then a [`BatchBuilder`] turns them into record descriptors, decoding
//! base64 and header bytes once, straight into the batch's arena.

mod aws;
mod scf;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::record::{Batch, Format, HeaderMeta, RecordMeta, Span};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("unknown event shape: expected `Records` (Tencent SCF CKafka) or `records` (AWS Lambda Kafka)")]
    UnknownShape,
    #[error("malformed event: {0}")]
    Malformed(serde_json::Error),
    #[error("event larger than 4 GiB")]
    TooLarge,
    #[error("invalid base64 in {field} at {topic}/{partition}/{offset}: {source}")]
    InvalidBase64 {
        field: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        source: base64_simd::Error,
    },
    #[error("headers at {topic}/{partition}/{offset}: {problem}")]
    BadHeader {
        topic: String,
        partition: i32,
        offset: i64,
        problem: String,
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
    if u32::try_from(event.len()).is_err() {
        return Err(DecodeError::TooLarge);
    }
    let envelope: Envelope<'_> = serde_json::from_str(event).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            DecodeError::NotJson(e)
        } else {
            DecodeError::Malformed(e)
        }
    })?;
    match envelope {
        Envelope::Scf(records) => Ok(scf::build(event, records)),
        Envelope::Aws(partitions) => aws::build(event, partitions),
        Envelope::Unknown => Err(DecodeError::UnknownShape),
    }
}

enum Envelope<'a> {
    Scf(Vec<scf::RawRecord<'a>>),
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
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    match key.as_ref() {
                        "Records" => envelope = Envelope::Scf(map.next_value::<scf::RawRecords>()?.0),
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

/// A string that borrows from the event when it holds no JSON escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Wraps an element error with its position so the message says which record is wrong.
fn at_record<E: de::Error>(index: usize, error: impl fmt::Display) -> E {
    E::custom(format_args!("record {index}: {error}"))
}

/// Builds a [`Batch`]: text that borrows from the event becomes an event span, everything else is
/// appended to the arena.
struct BatchBuilder<'a> {
    event: &'a str,
    arena: Vec<u8>,
    records: Vec<RecordMeta>,
    headers: Vec<HeaderMeta>,
}

impl<'a> BatchBuilder<'a> {
    fn new(event: &'a str, records: usize, arena_bytes: usize) -> Self {
        BatchBuilder {
            event,
            arena: Vec::with_capacity(arena_bytes),
            records: Vec::with_capacity(records),
            headers: Vec::new(),
        }
    }

    /// Text that lies inside the event (borrowed by serde) becomes an event span; other text, such as
    /// a string serde had to unescape, is copied into the arena.
    fn text(&mut self, text: &str) -> Span {
        let base = self.event.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        if at >= base && at + text.len() <= base + self.event.len() {
            // Event offsets fit in u32: `decode` rejects larger events.
            Span::Event {
                start: (at - base) as u32,
                len: text.len() as u32,
            }
        } else {
            self.append(|arena| arena.extend_from_slice(text.as_bytes()))
        }
    }

    /// Runs `write`, which appends to the arena, and returns the span of what it appended.
    fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Span {
        self.try_append(|arena| {
            write(arena);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {})
    }

    fn try_append<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Span, E> {
        let start = self.arena.len();
        write(&mut self.arena)?;
        Ok(Span::Arena {
            start: start as u32,
            len: (self.arena.len() - start) as u32,
        })
    }

    fn finish(self, format: Format) -> Batch<'a> {
        Batch {
            format,
            event: self.event,
            arena: self.arena,
            records: self.records,
            headers: self.headers,
        }
    }
}

#[cfg(test)]
mod tests;
