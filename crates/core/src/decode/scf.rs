//! Tencent SCF CKafka trigger records: `Records[].Ckafka{topic, partition, offset, msgKey, msgBody}`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{at_record, int, BatchBuilder, Text, RECORD_BYTES_ESTIMATE};
use crate::record::RecordMeta;

pub(super) struct RecordsSeed<'b, 'a>(pub &'b mut BatchBuilder<'a>);

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "Ckafka", borrow)]
    ckafka: Ckafka<'a>,
}

#[derive(Deserialize)]
struct Ckafka<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    // The SCF console's own test event has `"partition": ""`: refused by `int`, naming the field.
    #[serde(alias = "Partition", deserialize_with = "int::partition")]
    partition: i32,
    #[serde(deserialize_with = "int::offset")]
    offset: i64,
    #[serde(rename = "msgKey", default, borrow)]
    msg_key: Option<Text<'a>>,
    #[serde(rename = "msgBody", borrow)]
    msg_body: Cow<'a, str>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordsSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RecordsSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {\"Ckafka\": {...}} records")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let batch = self.0;
        // Unescaped bodies are never longer than the event; reserving spares the copies of a growing buffer
        // (untouched pages cost no memory).
        batch.text.reserve(batch.event.len());
        batch.records.reserve(batch.event.len() / RECORD_BYTES_ESTIMATE);
        let mut index = 0;
        loop {
            let c = match seq.next_element::<Entry<'de>>() {
                Ok(Some(entry)) => entry.ckafka,
                Ok(None) => return Ok(()),
                Err(e) => return Err(at_record(index, e)),
            };
            // The templates treat both spellings as "no key" (KafkaToKafkaConsumer, 2020-08-20).
            let key = c
                .msg_key
                .filter(|Text(k)| !k.is_empty() && k != "None")
                .map(|Text(k)| batch.text(&k));
            let topic = batch.topic(&c.topic);
            if let Err(e) = batch.check_topic(topic, c.partition, c.offset) {
                return Err(batch.fail(e));
            }
            let meta = RecordMeta {
                topic,
                partition: c.partition,
                offset: c.offset,
                timestamp: None,
                key,
                value: Some(batch.text(&c.msg_body)),
                headers: (0, 0),
            };
            batch.records.push(meta);
            index += 1;
        }
    }
}
