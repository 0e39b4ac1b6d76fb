//! A second opinion on every event the decoder accepts: an independent decoder — the `aws_lambda_events`
//! crate's Kafka event for AWS events, a `serde_json::Value` walk for Tencent SCF events, both with the
//! `base64` crate — must read the same records (topic, partition, offset, timestamp, key, value, headers).
//! A crash is not the only finding: a wrong answer is one too.
#![no_main]

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ckafka_dump_core::{Batch, Event, Timestamp};
use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What both decoders must agree on, per record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

/// Standard alphabet, padding optional, trailing bits ignored (what the decoder documents it accepts).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn ours(batch: &Batch<'_>, with_timestamps: bool) -> Vec<Seen> {
    let mut seen: Vec<Seen> = batch
        .records()
        .map(|r| {
            let mut headers: Vec<(String, Vec<u8>)> = r
                .headers()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect();
            headers.sort();
            Seen {
                topic: r.topic.to_owned(),
                partition: r.partition,
                offset: r.offset,
                timestamp_ms: if with_timestamps {
                    r.timestamp.map(|t| t.millis)
                } else {
                    None
                },
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers,
            }
        })
        .collect();
    seen.sort();
    seen
}

fn aws_reference(event: &str) -> Option<Vec<Seen>> {
    // Timestamps come from the JSON itself: aws_lambda_events reads them through floating-point seconds,
    // which can land a millisecond off (1545084650987 -> ...986; found by this target).
    let raw: Value = serde_json::from_str(event).ok()?;
    let event: KafkaEvent = serde_json::from_str(event).ok()?;
    let mut seen = Vec::new();
    for (map_key, records) in event.records {
        let raw_records = raw.get("records")?.get(&map_key)?.as_array()?;
        for (r, raw_record) in records.into_iter().zip(raw_records) {
            let decode = |text: Option<String>| text.map(|t| BASE64.decode(t)).transpose();
            let mut headers: Vec<(String, Vec<u8>)> = r
                .headers
                .iter()
                .flat_map(|h| h.iter().map(|(k, v)| (k.clone(), v.iter().map(|&b| b as u8).collect())))
                .collect();
            headers.sort();
            // Kafka's -1 and times past year 9999 leave a record undated.
            let timestamp_ms =
                Some(raw_record.get("timestamp")?.as_i64()?).filter(|&ms| Timestamp::dated(ms, None).is_some());
            seen.push(Seen {
                topic: r
                    .topic
                    .unwrap_or_else(|| map_key.rsplit_once('-').map_or(map_key.as_str(), |(t, _)| t).to_owned()),
                partition: i32::try_from(r.partition).ok()?,
                offset: r.offset,
                timestamp_ms,
                key: decode(r.key).ok()?,
                value: decode(r.value).ok()?,
                headers,
            });
        }
    }
    seen.sort();
    Some(seen)
}

fn scf_reference(event: &str) -> Option<Vec<Seen>> {
    let event: Value = serde_json::from_str(event).ok()?;
    let mut seen = Vec::new();
    for entry in event.get("Records")?.as_array()? {
        let ckafka = entry.get("Ckafka")?;
        let key = match ckafka.get("msgKey") {
            None | Some(Value::Null) => None,
            Some(k) => Some(k.as_str()?)
                .filter(|k| !k.is_empty() && *k != "None")
                .map(|k| k.as_bytes().to_vec()),
        };
        let partition = ckafka.get("partition").or_else(|| ckafka.get("Partition"))?.as_i64()?;
        seen.push(Seen {
            topic: ckafka.get("topic")?.as_str()?.to_owned(),
            partition: i32::try_from(partition).ok()?,
            offset: ckafka.get("offset")?.as_i64()?,
            timestamp_ms: None,
            key,
            value: Some(ckafka.get("msgBody")?.as_str()?.as_bytes().to_vec()),
            headers: Vec::new(),
        });
    }
    seen.sort();
    Some(seen)
}

/// Whether any JSON object in the text repeats a key: maps (and `Value`) keep one of them, the decoder
/// reads the event in order, so such events have no single right answer to compare.
fn has_repeated_keys(event: &str) -> bool {
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            let mut keys = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !keys.insert(key) {
                    return Err(serde::de::Error::custom("repeated key"));
                }
                map.next_value_seed(Check)?;
            }
            Ok(())
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            while seq.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    Check
        .deserialize(&mut serde_json::Deserializer::from_str(event))
        .is_err()
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = std::str::from_utf8(data) else { return };
    let Ok(Event::Records(batch)) = ckafka_dump_core::decode(event) else {
        return;
    };
    if has_repeated_keys(event) {
        return;
    }
    let (reference, with_timestamps) = match batch.format {
        ckafka_dump_core::Format::AwsKafka => (aws_reference(event), true),
        ckafka_dump_core::Format::ScfCkafka => (scf_reference(event), false),
        // aws_lambda_events has no type for Pipes' flat records; the unit tests and the corpus cover them.
        ckafka_dump_core::Format::EventBridgePipes => return,
    };
    // The reference may refuse what the decoder reads leniently (a missing field it requires); where it
    // reads the event, it must read the same records.
    if let Some(reference) = reference {
        assert_eq!(
            ours(&batch, with_timestamps),
            reference,
            "the decoders disagree on {event}"
        );
    }
});
