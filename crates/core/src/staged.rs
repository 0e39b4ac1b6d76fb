//! What the transform stage hands a sink: the batch's records that were not filtered out, in order, each with
//! its record time and its outcome — the value as it came (no stage configured: nothing parsed), the object
//! the stage made of it, or why the stage refused it.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::record::{Batch, Format, PartitionSpan, Record, Timestamp};
use crate::time::Zone;
use crate::value::{Object, Path};

/// What the stage made of one record.
#[derive(Debug, Clone)]
pub enum Outcome<'s> {
    /// The value as the record carried it (no stage is configured, or a tombstone).
    Original,
    /// The object the stage made of the value.
    Object(Object<'s>),
    /// The stage could not process the record: the sink dead-letters it, or the invocation fails naming it.
    Rejected(Rejection),
}

/// Why the transform stage refused a record; displayed as every sink and log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transform: {}", self.0)
    }
}

#[derive(Debug, Clone)]
struct Entry<'s> {
    /// Index into the batch's records.
    index: usize,
    /// The record time the stage took from a field, over the record's own.
    timestamp: Option<Timestamp>,
    outcome: Outcome<'s>,
}

/// A batch after the transform stage.
#[derive(Debug, Clone)]
pub struct StagedBatch<'s> {
    pub format: Format,
    batch: &'s Batch<'s>,
    entries: Vec<Entry<'s>>,
    /// Records the stage's filter left out.
    pub filtered: usize,
}

impl<'s> StagedBatch<'s> {
    /// Every record of `batch` as it came: what a function without a transform stage writes.
    pub fn unstaged(batch: &'s Batch<'s>) -> Self {
        StagedBatch::new(batch, batch.records().map(|r| Some((r.timestamp, Outcome::Original))))
    }

    /// The staged records: `outcomes` gives, per record of `batch` in order, its record time and outcome, or
    /// `None` when the filter left it out.
    pub(crate) fn new(
        batch: &'s Batch<'s>,
        outcomes: impl IntoIterator<Item = Option<(Option<Timestamp>, Outcome<'s>)>>,
    ) -> Self {
        let mut filtered = 0;
        let entries = outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(index, outcome)| {
                filtered += usize::from(outcome.is_none());
                let (timestamp, outcome) = outcome?;
                Some(Entry {
                    index,
                    timestamp,
                    outcome,
                })
            })
            .collect();
        StagedBatch {
            format: batch.format,
            batch,
            entries,
            filtered,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records the stage rejected.
    pub fn rejected(&self) -> usize {
        self.records().filter(|r| r.rejection().is_some()).count()
    }

    pub fn records(&self) -> impl ExactSizeIterator<Item = StagedRecord<'_>> + Clone + '_ {
        self.entries.iter().map(|entry| self.resolve(entry))
    }

    pub fn get(&self, index: usize) -> Option<StagedRecord<'_>> {
        self.entries.get(index).map(|entry| self.resolve(entry))
    }

    pub fn payload_len(&self) -> usize {
        self.records().map(|r| r.payload_len()).sum()
    }

    /// One span per topic-partition, in order of first appearance.
    pub fn partitions(&self) -> Vec<PartitionSpan> {
        PartitionSpan::of(self.records().map(|r| r.record))
    }

    /// `topic/partition/offset` of up to ten of the given records (indices), then a count of the rest: what an
    /// error names when records were not written.
    pub fn coordinates(&self, records: &[usize]) -> String {
        let mut listed: Vec<String> = records
            .iter()
            .take(10)
            .filter_map(|&i| self.get(i))
            .map(|r| format!("{}/{}/{}", r.topic, r.partition, r.offset))
            .collect();
        if records.len() > listed.len() {
            listed.push(format!("and {} more", records.len() - listed.len()));
        }
        listed.join(", ")
    }

    fn resolve<'r>(&'r self, entry: &'r Entry<'s>) -> StagedRecord<'r> {
        let mut record = self.batch.get(entry.index).expect("entries index the batch");
        record.timestamp = entry.timestamp;
        StagedRecord {
            record,
            outcome: &entry.outcome,
            parsed: None,
        }
    }
}

/// One record as the stage handed it on; reads as the [`Record`] it is (with the stage's record time).
#[derive(Debug, Clone, Copy)]
pub struct StagedRecord<'s> {
    pub record: Record<'s>,
    outcome: &'s Outcome<'s>,
    /// Its original value, parsed already by the sink that reads it.
    parsed: Option<&'s Object<'s>>,
}

impl<'s> std::ops::Deref for StagedRecord<'s> {
    type Target = Record<'s>;

    fn deref(&self) -> &Record<'s> {
        &self.record
    }
}

impl<'s> StagedRecord<'s> {
    /// A record with the outcome `outcome`.
    pub fn new(record: Record<'s>, outcome: &'s Outcome<'s>) -> Self {
        StagedRecord {
            record,
            outcome,
            parsed: None,
        }
    }

    /// A record as it came, through no stage (a record the scheduled dump fetched).
    pub fn unstaged(record: Record<'s>) -> Self {
        StagedRecord {
            record,
            outcome: &Outcome::Original,
            parsed: None,
        }
    }

    pub fn outcome(&self) -> &'s Outcome<'s> {
        self.outcome
    }

    /// The same record, its original value read from `parsed` when there is one (what [`StagedRecord::object`]
    /// parsed once, kept by a sink that reads several fields of it); the value it writes stays the original bytes.
    pub fn with_object(self, parsed: Option<&'s Object<'s>>) -> Self {
        StagedRecord {
            parsed: parsed.or(self.parsed),
            ..self
        }
    }

    pub fn rejection(&self) -> Option<&'s Rejection> {
        match self.outcome {
            Outcome::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// The value's object: the stage's, or — when no stage ran — the value parsed now as a JSON object (or a
    /// JSON string holding one), unless a sink kept its parse ([`StagedRecord::with_object`]). An error says why
    /// there is none (a tombstone, a value that is not an object, a rejected record).
    pub fn object(&self) -> Result<Cow<'s, Object<'s>>, String> {
        match (self.outcome, self.parsed) {
            (Outcome::Object(object), _) | (Outcome::Original, Some(object)) => Ok(Cow::Borrowed(object)),
            (Outcome::Rejected(rejection), _) => Err(rejection.to_string()),
            (Outcome::Original, None) => match (self.record.value, self.record.value_str()) {
                (None, _) => Err("the record has no value (a tombstone)".to_owned()),
                (Some(_), None) => Err("the value is not UTF-8 text".to_owned()),
                (Some(_), Some(text)) => Object::parse_json(text).map(Cow::Owned),
            },
        }
    }

    /// The value of `path`: a field of the value's object, or Kafka metadata. An error names the field that
    /// is missing, or says why the value has no fields.
    pub fn field(&self, path: &Path, zone: &Zone) -> Result<Cow<'s, Value>, String> {
        let missing = || format!("field `{path}` is missing");
        match path {
            Path::Meta(meta) => meta.value(&self.record, zone).map(Cow::Owned).ok_or_else(missing),
            Path::Field { .. } => match self.object().map_err(|reason| format!("field `{path}`: {reason}"))? {
                Cow::Borrowed(object) => object.find(path).ok_or_else(missing),
                Cow::Owned(object) => object
                    .find(path)
                    .map(|v| Cow::Owned(v.into_owned()))
                    .ok_or_else(missing),
            },
        }
    }

    /// The value as the sink writes it: the original bytes, or the stage's object as JSON (written into
    /// `scratch`); `None` for a tombstone.
    pub fn value_to_write<'o>(&self, scratch: &'o mut Vec<u8>) -> Option<&'o [u8]>
    where
        's: 'o,
    {
        match self.outcome {
            Outcome::Object(object) => {
                scratch.clear();
                object.write(scratch);
                Some(scratch)
            }
            Outcome::Original | Outcome::Rejected(_) => self.record.value,
        }
    }
}
