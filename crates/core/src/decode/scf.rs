//! Tencent SCF CKafka trigger records: `Records[].Ckafka{topic, partition, offset, msgKey, msgBody}`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::at_record;
use crate::record::Record;

pub(super) struct ScfRecords<'a>(pub Vec<Record<'a>>);

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "Ckafka", borrow)]
    ckafka: Ckafka<'a>,
}

#[derive(Deserialize)]
struct Ckafka<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    #[serde(alias = "Partition")]
    partition: i32,
    offset: i64,
    #[serde(rename = "msgKey", default, borrow)]
    msg_key: Option<Cow<'a, str>>,
    #[serde(rename = "msgBody", borrow)]
    msg_body: Cow<'a, str>,
}

impl<'a> From<Ckafka<'a>> for Record<'a> {
    fn from(c: Ckafka<'a>) -> Self {
        // The templates treat both spellings as "no key" (KafkaToKafkaConsumer, 2020-08-20).
        let key = c
            .msg_key
            .filter(|k| !k.is_empty() && k != "None")
            .map(cow_str_into_bytes);
        Record {
            topic: c.topic,
            partition: c.partition,
            offset: c.offset,
            timestamp: None,
            key,
            value: Some(cow_str_into_bytes(c.msg_body)),
            headers: Vec::new(),
        }
    }
}

fn cow_str_into_bytes(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.as_bytes()),
        Cow::Owned(o) => Cow::Owned(o.into_bytes()),
    }
}

impl<'de> Deserialize<'de> for ScfRecords<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor;
        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = ScfRecords<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of {\"Ckafka\": {...}} records")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                loop {
                    match seq.next_element::<Entry<'de>>() {
                        Ok(Some(entry)) => records.push(entry.ckafka.into()),
                        Ok(None) => return Ok(ScfRecords(records)),
                        Err(e) => return Err(at_record(records.len(), e)),
                    }
                }
            }
        }
        deserializer.deserialize_seq(SeqVisitor)
    }
}
