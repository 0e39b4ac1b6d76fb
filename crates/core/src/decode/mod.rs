//! Trigger event → [`Batch`], in one pass over the event text. The format is detected from the JSON itself:
//! a `Records` array is a Tencent SCF CKafka event, a `records` object an AWS Lambda Kafka event, a top-level
//! array the flat records EventBridge Pipes delivers from an MSK or self-managed Kafka source, and
//! `"Type":"Timer"` (SCF) or `"detail-type":"Scheduled Event"` (EventBridge) a timer with no records.
//! A UTF-8 byte-order mark before the event (Windows editors write one) is skipped.
//!
//! serde visits the event with seeds that hold a [`BatchBuilder`]: strings that need no unescaping stay
//! where they are in the event text, base64 and header bytes are decoded once, straight into the batch's
//! byte buffer, and no per-record allocation is made.

mod aws;
mod base64;
mod int;
mod scf;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::record::{Batch, Format, HeaderMeta, RecordMeta, Span};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "unknown event shape: expected `Records` (Tencent SCF CKafka), `records` (AWS Lambda Kafka) or a timer event"
    )]
    UnknownShape,
    #[error("malformed event: {0}")]
    Malformed(serde_json::Error),
    #[error("event larger than 4 GiB")]
    TooLarge,
    #[error("invalid base64 in {field} at {topic}/{partition}/{offset}: {reason}")]
    InvalidBase64 {
        field: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        reason: base64::Invalid,
    },
    #[error("headers at {topic}/{partition}/{offset}: header `{header}`: byte {byte} is out of range -128..=127")]
    HeaderByteOutOfRange {
        header: String,
        topic: String,
        partition: i32,
        offset: i64,
        byte: i64,
    },
    #[error(
        "topic `{topic}` (partition {partition}, offset {offset}) is not a Kafka topic name (1 to 249 of the \
         characters a-z A-Z 0-9 . _ -, and not `.` or `..`)"
    )]
    InvalidTopic { topic: String, partition: i32, offset: i64 },
    #[error("unknown timestampType `{value}` at {topic}/{partition}/{offset}")]
    UnknownTimestampType {
        value: String,
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// A decoded event: a batch of records from a Kafka trigger, or a timer (Tencent SCF `{"Type":"Timer"}`,
/// AWS EventBridge `"detail-type":"Scheduled Event"`) that carries none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    Records(Batch<'a>),
    Timer,
}

impl<'a> Event<'a> {
    /// The batch, or `None` for a timer.
    pub fn into_batch(self) -> Option<Batch<'a>> {
        match self {
            Event::Records(batch) => Some(batch),
            Event::Timer => None,
        }
    }
}

/// What the envelope said the event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Records(Format),
    Timer,
}

/// Decodes a trigger event. The batch borrows from `event`.
pub fn decode(event: &str) -> Result<Event<'_>, DecodeError> {
    let event = event.strip_prefix('\u{feff}').unwrap_or(event);
    if u32::try_from(event.len()).is_err() {
        return Err(DecodeError::TooLarge);
    }
    let mut batch = BatchBuilder::new(event);
    let mut de = serde_json::Deserializer::from_str(event);
    let format = EnvelopeSeed(&mut batch)
        .deserialize(&mut de)
        .and_then(|format| de.end().map(|()| format));
    match format {
        Ok(Some(Shape::Records(format))) => Ok(Event::Records(batch.finish(format))),
        Ok(Some(Shape::Timer)) => Ok(Event::Timer),
        Ok(None) => Err(DecodeError::UnknownShape),
        Err(e) => Err(not_json(event)
            .or(batch.error.take())
            .unwrap_or(DecodeError::Malformed(e))),
    }
}

/// The syntax error of an event that is not JSON at all, found anew: the seeds wrap errors with the record
/// they were in, which hides whether serde met a syntax error (docs/running.md promises line and column).
fn not_json(event: &str) -> Option<DecodeError> {
    serde_json::from_str::<IgnoredAny>(event)
        .err()
        .filter(|e| e.is_syntax() || e.is_eof())
        .map(DecodeError::NotJson)
}

struct EnvelopeSeed<'b, 'a>(&'b mut BatchBuilder<'a>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for EnvelopeSeed<'_, 'a> {
    type Value = Option<Shape>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for EnvelopeSeed<'_, 'a> {
    type Value = Option<Shape>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (a CKafka or Kafka trigger event) or an array of Kafka records (EventBridge Pipes)")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
        aws::flat_records(seq, &mut *self.0)?;
        Ok(Some(Shape::Records(Format::EventBridgePipes)))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut format = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "Records" if format.is_none() => {
                    map.next_value_seed(scf::RecordsSeed(&mut *self.0))?;
                    format = Some(Shape::Records(Format::ScfCkafka));
                }
                "records" if format.is_none() => {
                    map.next_value_seed(aws::PartitionsSeed(&mut *self.0))?;
                    format = Some(Shape::Records(Format::AwsKafka));
                }
                "Type" | "detail-type" if format.is_none() => {
                    let value: &RawValue = map.next_value()?;
                    if matches!(value.get(), r#""Timer""# | r#""Scheduled Event""#) {
                        format = Some(Shape::Timer);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(format)
    }
}

/// Event bytes per record to size the record list for (an underestimate of the count only costs a regrowth).
const RECORD_BYTES_ESTIMATE: usize = 256;

/// A string that borrows from the event when it holds no JSON escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Wraps an element error with its position so the message says which record is wrong.
fn at_record<E: de::Error>(index: usize, error: impl fmt::Display) -> E {
    E::custom(format_args!("record {index}: {error}"))
}

/// Collects what the seeds decode. A record-level error found while visiting (bad base64, a header byte
/// out of range) is kept in `error` with the record's coordinates, since serde's error type cannot carry it.
struct BatchBuilder<'a> {
    event: &'a str,
    text: String,
    bytes: Vec<u8>,
    records: Vec<RecordMeta>,
    headers: Vec<HeaderMeta>,
    error: Option<DecodeError>,
    /// The span of the last topic seen: records of a batch share a few topics, and one span for each keeps
    /// the later passes over the records from touching every record's copy in the event.
    last_topic: Option<Span>,
    /// The last topic found to be a Kafka topic name.
    valid_topic: Option<Span>,
}

impl<'a> BatchBuilder<'a> {
    fn new(event: &'a str) -> Self {
        BatchBuilder {
            event,
            text: String::new(),
            bytes: Vec::new(),
            records: Vec::new(),
            headers: Vec::new(),
            error: None,
            last_topic: None,
            valid_topic: None,
        }
    }

    /// Text that lies inside the event (borrowed by serde) becomes an event span; other text, such as
    /// a string serde had to unescape, is copied into the batch's text.
    fn text(&mut self, text: &str) -> Span {
        let base = self.event.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        if at >= base && at + text.len() <= base + self.event.len() {
            // Offsets fit in u32: `decode` rejects events of 4 GiB and more, and unescaped text is shorter.
            Span::Event {
                start: (at - base) as u32,
                len: text.len() as u32,
            }
        } else {
            let start = self.text.len();
            self.text.push_str(text);
            Span::Text {
                start: start as u32,
                len: text.len() as u32,
            }
        }
    }

    /// A topic's span: the last topic's when it is the same text.
    fn topic(&mut self, topic: &str) -> Span {
        if let Some(last) = self.last_topic {
            if last.str(self.event, &self.text) == Some(topic) {
                return last;
            }
        }
        let span = self.text(topic);
        self.last_topic = Some(span);
        span
    }

    /// Refuses a topic Kafka could not have named: the topic becomes part of object keys, index names and
    /// table rows, so `../x` or an empty name must never get that far.
    fn check_topic(&mut self, topic: Span, partition: i32, offset: i64) -> Result<(), DecodeError> {
        if self.valid_topic == Some(topic) {
            return Ok(());
        }
        let text = topic.str(self.event, &self.text).unwrap_or_default();
        if crate::record::topic_name_problem(text).is_some() {
            return Err(DecodeError::InvalidTopic {
                topic: crate::error::shortened(&self.span_text(topic), 60),
                partition,
                offset,
            });
        }
        self.valid_topic = Some(topic);
        Ok(())
    }

    fn span_text(&self, span: Span) -> String {
        String::from_utf8_lossy(span.bytes(self.event, &self.text, &self.bytes)).into_owned()
    }

    /// Runs `write`, which appends to the byte buffer, and returns the span of what it appended.
    fn try_append<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Span, E> {
        let start = self.bytes.len();
        write(&mut self.bytes)?;
        Ok(Span::Bytes {
            start: start as u32,
            len: (self.bytes.len() - start) as u32,
        })
    }

    /// Keeps `error` for `decode` to return and gives serde an error that ends the parse.
    fn fail<E: de::Error>(&mut self, error: DecodeError) -> E {
        let message = E::custom(&error);
        self.error = Some(error);
        message
    }

    fn finish(self, format: Format) -> Batch<'a> {
        Batch {
            format,
            event: self.event,
            text: self.text,
            bytes: self.bytes,
            records: self.records,
            headers: self.headers,
        }
    }
}

#[cfg(test)]
mod tests;
