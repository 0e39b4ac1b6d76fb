//! The one record model both trigger formats decode into.

use std::borrow::Cow;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: Cow<'a, str>,
    pub value: Vec<u8>,
}

/// One Kafka message as the trigger delivered it. Borrows from the event text where it can
/// (topic, SCF bodies without JSON escapes); base64 payloads are decoded once into owned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub topic: Cow<'a, str>,
    pub partition: i32,
    pub offset: i64,
    /// Absent for SCF CKafka events, which carry no timestamp.
    pub timestamp: Option<Timestamp>,
    /// `None` when the message has no key (SCF `msgKey` of `"None"` or `""` included).
    pub key: Option<Cow<'a, [u8]>>,
    /// `None` for a null value (a tombstone).
    pub value: Option<Cow<'a, [u8]>>,
    pub headers: Vec<Header<'a>>,
}

impl Record<'_> {
    pub fn value_bytes(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// Key plus value length: what the record weighs on the wire, headers aside.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len()) + self.value.as_ref().map_or(0, |v| v.len())
    }
}

/// A decoded trigger event. Records keep the event's order, which within one partition is offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a> {
    pub format: Format,
    pub records: Vec<Record<'a>>,
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

impl Batch<'_> {
    pub fn payload_len(&self) -> usize {
        self.records.iter().map(Record::payload_len).sum()
    }

    /// One span per topic-partition, in order of first appearance.
    pub fn partitions(&self) -> Vec<PartitionSpan> {
        let mut spans: Vec<PartitionSpan> = Vec::new();
        for record in &self.records {
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
                    topic: record.topic.to_string(),
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
