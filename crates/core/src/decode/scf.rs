//! Tencent SCF CKafka trigger records: `Records[].Ckafka{topic, partition, offset, msgKey, msgBody}`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{at_record, BatchBuilder, Text};
use crate::record::{Batch, Format, RecordMeta};

pub(super) struct RawRecords<'a>(pub Vec<RawRecord<'a>>);

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "Ckafka", borrow)]
    ckafka: RawRecord<'a>,
}

#[derive(Deserialize)]
pub(super) struct RawRecord<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    #[serde(alias = "Partition")]
    partition: i32,
    offset: i64,
    #[serde(rename = "msgKey", default, borrow)]
    msg_key: Option<Text<'a>>,
    #[serde(rename = "msgBody", borrow)]
    msg_body: Cow<'a, str>,
}

pub(super) fn build<'a>(event: &'a str, raw: Vec<RawRecord<'a>>) -> Batch<'a> {
    let escaped: usize = raw
        .iter()
        .map(|r| match &r.msg_body {
            Cow::Owned(body) => body.len(),
            Cow::Borrowed(_) => 0,
        })
        .sum();
    let mut batch = BatchBuilder::new(event, raw.len(), escaped);
    for r in raw {
        // The templates treat both spellings as "no key" (KafkaToKafkaConsumer, 2020-08-20).
        let key = r
            .msg_key
            .filter(|Text(k)| !k.is_empty() && k != "None")
            .map(|Text(k)| batch.text(&k));
        let meta = RecordMeta {
            topic: batch.text(&r.topic),
            partition: r.partition,
            offset: r.offset,
            timestamp: None,
            key,
            value: Some(batch.text(&r.msg_body)),
            headers: (0, 0),
        };
        batch.records.push(meta);
    }
    batch.finish(Format::ScfCkafka)
}

impl<'de> Deserialize<'de> for RawRecords<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor;
        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = RawRecords<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of {\"Ckafka\": {...}} records")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                loop {
                    match seq.next_element::<Entry<'de>>() {
                        Ok(Some(entry)) => records.push(entry.ckafka),
                        Ok(None) => return Ok(RawRecords(records)),
                        Err(e) => return Err(at_record(records.len(), e)),
                    }
                }
            }
        }
        deserializer.deserialize_seq(SeqVisitor)
    }
}
