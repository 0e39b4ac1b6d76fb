//! The one record model both trigger formats decode into.
//!
//! A [`Batch`] keeps the event text it was decoded from plus two buffers holding what decoding had to
//! produce: `text` for strings serde unescaped (SCF bodies with JSON escapes), `bytes` for base64-decoded
//! keys, values and header bytes. Records are small descriptors into those three, so decoding allocates a
//! handful of times per event instead of several times per record. [`Record`] is the resolved, borrowed view
//! sinks work with.

use serde::Serialize;

/// Which trigger produced the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    /// Tencent SCF CKafka trigger: `{"Records":[{"Ckafka":{...}}]}`.
    #[serde(rename = "scf-ckafka")]
    ScfCkafka,
    /// AWS Lambda Kafka event source (MSK `aws:kafka` and `SelfManagedKafka`).
    #[serde(rename = "aws-kafka")]
    AwsKafka,
    /// EventBridge Pipes with an MSK or self-managed Kafka source: a JSON array of flat AWS Kafka records.
    #[serde(rename = "eventbridge-pipes")]
    EventBridgePipes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
    pub kind: Option<TimestampType>,
}

impl Timestamp {
    /// The last millisecond of year 9999: later times have no calendar date an index or a key can name.
    pub const MAX_MILLIS: i64 = 253_402_300_799_999;

    /// A record's time, when it has one: Kafka's `-1` means none, and a time before 1970 or after year 9999
    /// dates nothing either, so such a record is undated (dated by when it was first seen) in every function.
    pub fn dated(millis: i64, kind: Option<TimestampType>) -> Option<Timestamp> {
        (0..=Self::MAX_MILLIS)
            .contains(&millis)
            .then_some(Timestamp { millis, kind })
    }
}

/// The most characters a Kafka topic name has.
pub const MAX_TOPIC_CHARS: usize = 249;

/// Why `text` cannot be (part of) a Kafka topic name: too long, or a character Kafka does not allow.
pub fn topic_text_problem(text: &str) -> Option<String> {
    if text.len() > MAX_TOPIC_CHARS {
        return Some(format!(
            "a topic name of {} characters; Kafka allows at most {MAX_TOPIC_CHARS}",
            text.len()
        ));
    }
    let c = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))?;
    Some(format!(
        "`{text}`: `{c}` is not allowed in a topic name (letters, digits, `.`, `_`, `-`)"
    ))
}

/// Why `name` is not a Kafka topic name: [`topic_text_problem`], or empty, `.` or `..`, which Kafka refuses
/// too.
pub fn topic_name_problem(name: &str) -> Option<String> {
    match name {
        "" => Some("an empty topic name".to_owned()),
        "." | ".." => Some(format!("`{name}` is not a topic name")),
        _ => topic_text_problem(name),
    }
}

/// Where a string or byte string of a record lies: in the event text, in the batch's unescaped text, or in
/// its decoded bytes. The first two are UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    Event { start: u32, len: u32 },
    Text { start: u32, len: u32 },
    Bytes { start: u32, len: u32 },
}

impl Span {
    /// The text of an event or text span (slicing a `str`: no UTF-8 check); `None` for decoded bytes.
    pub(crate) fn str<'s>(self, event: &'s str, text: &'s str) -> Option<&'s str> {
        match self {
            Span::Event { start, len } => Some(&event[start as usize..(start + len) as usize]),
            Span::Text { start, len } => Some(&text[start as usize..(start + len) as usize]),
            Span::Bytes { .. } => None,
        }
    }

    /// Its bytes (slicing bytes: nothing is read).
    pub(crate) fn bytes<'s>(self, event: &'s str, text: &'s str, bytes: &'s [u8]) -> &'s [u8] {
        let (source, start, len) = match self {
            Span::Event { start, len } => (event.as_bytes(), start, len),
            Span::Text { start, len } => (text.as_bytes(), start, len),
            Span::Bytes { start, len } => (bytes, start, len),
        };
        &source[start as usize..(start + len) as usize]
    }

    fn text_span<'s>(self, event: &'s str, text: &'s str) -> Option<TextSpan<'s>> {
        let (text, start, len) = match self {
            Span::Event { start, len } => (event, start, len),
            Span::Text { start, len } => (text, start, len),
            Span::Bytes { .. } => return None,
        };
        Some(TextSpan {
            text,
            start,
            end: start + len,
        })
    }
}

/// A piece of UTF-8 text, not yet sliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextSpan<'s> {
    text: &'s str,
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub topic: Span,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<Timestamp>,
    pub key: Option<Span>,
    pub value: Option<Span>,
    /// Range into `Batch::headers`.
    pub headers: (u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderMeta {
    pub key: Span,
    pub value: Span,
}

/// A decoded trigger event. Records keep the event's order, which within one partition is offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a> {
    pub format: Format,
    pub(crate) event: &'a str,
    pub(crate) text: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) records: Vec<RecordMeta>,
    pub(crate) headers: Vec<HeaderMeta>,
}

/// One Kafka message as the trigger delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'b> {
    pub topic: &'b str,
    pub partition: i32,
    pub offset: i64,
    /// Absent for SCF CKafka events, which carry no timestamp.
    pub timestamp: Option<Timestamp>,
    /// `None` when the message has no key (SCF `msgKey` of `"None"` or `""` included).
    pub key: Option<&'b [u8]>,
    /// `None` for a null value (a tombstone).
    pub value: Option<&'b [u8]>,
    /// Where the value lies in text known to be UTF-8 (SCF bodies), sliced only when asked for: slicing a
    /// `str` reads the bytes at both ends, a cache miss per record in a large batch.
    value_text: Option<TextSpan<'b>>,
    headers: Headers<'b>,
}

/// Where a record's headers are: in its batch, in a fetched record's list, or none (a record built from parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headers<'b> {
    None,
    InBatch {
        headers: &'b [HeaderMeta],
        batch: &'b Batch<'b>,
    },
    Fetched(&'b [(String, Option<Vec<u8>>)]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    pub key: &'b str,
    /// `None`: a header without a value, which Kafka allows (trigger events cannot carry one; a fetched record
    /// can).
    pub value: Option<&'b [u8]>,
}

/// A record's headers from wherever they are, with their count (a chain of iterators does not know it).
struct HeaderIter<I> {
    inner: I,
    len: usize,
}

impl<'b, I: Iterator<Item = Header<'b>>> Iterator for HeaderIter<I> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        let header = self.inner.next()?;
        self.len -= 1;
        Some(header)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<'b, I: Iterator<Item = Header<'b>>> ExactSizeIterator for HeaderIter<I> {}

impl<'b> Record<'b> {
    /// A record that did not come from a trigger event (a fetched one), without headers.
    pub fn new(
        topic: &'b str,
        partition: i32,
        offset: i64,
        timestamp: Option<Timestamp>,
        key: Option<&'b [u8]>,
        value: Option<&'b [u8]>,
    ) -> Self {
        Record {
            topic,
            partition,
            offset,
            timestamp,
            key,
            value,
            value_text: None,
            headers: Headers::None,
        }
    }

    /// The same record with the headers a client fetched, in their order.
    pub fn with_headers(self, headers: &'b [(String, Option<Vec<u8>>)]) -> Self {
        Record {
            headers: Headers::Fetched(headers),
            ..self
        }
    }

    pub fn value_bytes(&self) -> &'b [u8] {
        self.value.unwrap_or_default()
    }

    /// The value as UTF-8 text, or `None` when it is absent or not UTF-8.
    pub fn value_str(&self) -> Option<&'b str> {
        match self.value_text {
            Some(TextSpan { text, start, end }) => text.get(start as usize..end as usize),
            None => std::str::from_utf8(self.value?).ok(),
        }
    }

    pub fn headers(&self) -> impl ExactSizeIterator<Item = Header<'b>> + 'b {
        let (in_batch, batch, fetched) = match self.headers {
            Headers::None => (&[][..], None, &[][..]),
            Headers::InBatch { headers, batch } => (headers, Some(batch), &[][..]),
            Headers::Fetched(fetched) => (&[][..], None, fetched),
        };
        let from_batch = in_batch.iter().map(move |h| {
            let batch = batch.expect("headers come with their batch");
            Header {
                key: batch.text(h.key),
                value: Some(batch.bytes(h.value)),
            }
        });
        let from_fetch = fetched.iter().map(|(key, value)| Header {
            key,
            value: value.as_deref(),
        });
        HeaderIter {
            inner: from_batch.chain(from_fetch),
            len: in_batch.len() + fetched.len(),
        }
    }

    /// Key plus value length: what the record weighs on the wire, headers aside.
    pub fn payload_len(&self) -> usize {
        self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len)
    }
}

/// The offsets a batch holds for one topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSpan {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub count: usize,
}

impl PartitionSpan {
    /// One span per topic-partition of `records`, in order of first appearance.
    pub fn of<'r>(records: impl IntoIterator<Item = Record<'r>>) -> Vec<PartitionSpan> {
        let mut spans: Vec<PartitionSpan> = Vec::new();
        for record in records {
            match spans
                .iter_mut()
                .find(|s| s.partition == record.partition && s.topic == record.topic)
            {
                Some(span) => {
                    span.first_offset = span.first_offset.min(record.offset);
                    span.last_offset = span.last_offset.max(record.offset);
                    span.count += 1;
                }
                None => spans.push(PartitionSpan {
                    topic: record.topic.to_owned(),
                    partition: record.partition,
                    first_offset: record.offset,
                    last_offset: record.offset,
                    count: 1,
                }),
            }
        }
        spans
    }
}

impl<'a> Batch<'a> {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> impl ExactSizeIterator<Item = Record<'_>> + Clone + '_ {
        self.records.iter().map(|m| self.resolve(m))
    }

    pub fn get(&self, index: usize) -> Option<Record<'_>> {
        self.records.get(index).map(|m| self.resolve(m))
    }

    pub fn payload_len(&self) -> usize {
        self.records().map(|r| r.payload_len()).sum()
    }

    /// One span per topic-partition, in order of first appearance.
    pub fn partitions(&self) -> Vec<PartitionSpan> {
        PartitionSpan::of(self.records())
    }

    fn resolve<'b>(&'b self, m: &RecordMeta) -> Record<'b> {
        Record {
            topic: self.text(m.topic),
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key.map(|s| self.bytes(s)),
            value: m.value.map(|s| self.bytes(s)),
            value_text: m.value.and_then(|s| s.text_span(self.event, &self.text)),
            headers: Headers::InBatch {
                headers: &self.headers[m.headers.0 as usize..m.headers.1 as usize],
                batch: self,
            },
        }
    }

    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        span.bytes(self.event, &self.text, &self.bytes)
    }

    pub(crate) fn str_of(&self, span: Span) -> Option<&str> {
        span.str(self.event, &self.text)
    }

    /// Topics and header names are always built as text spans.
    pub(crate) fn text(&self, span: Span) -> &str {
        self.str_of(span).unwrap_or_default()
    }
}
