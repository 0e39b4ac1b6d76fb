//! Source record → Kafka record, and splitting a partition's records into produce requests by size.

use ckafka_dump_core::sink::split_by_size;
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::routing_text;
use ckafka_dump_core::{Failure, Record, StagedRecord};

use crate::config::KafkaConfig;
use rskafka::chrono::{DateTime, Utc};
use rskafka::record::Headers;

/// Header names of the optional provenance headers (`provenance_headers=true`): with them a consumer can
/// recognise a re-delivered record.
pub const SOURCE_TOPIC_HEADER: &str = "ckafka-dump-source-topic";
pub const SOURCE_PARTITION_HEADER: &str = "ckafka-dump-source-partition";
pub const SOURCE_OFFSET_HEADER: &str = "ckafka-dump-source-offset";
/// Why a dead letter could not be produced as it was (`kafka_dead_letter_topic`).
pub const ERROR_HEADER: &str = "ckafka-dump-error";

/// Per-record framing a produce request adds on top of key, value and headers (a generous bound).
const RECORD_OVERHEAD: usize = 64;

/// A record on its way out, with the index of its source record in the batch.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub source: usize,
    pub record: rskafka::record::Record,
}

/// The target topic of a record and the record produced there: value, key, headers (in order, repeated names
/// and headers without a value kept) and timestamp as the source had them, unless the configuration takes the
/// key from a field. An undated record (SCF events carry no timestamp) is stamped now.
/// A topic or key field a record lacks, and a record the transform stage rejected, are refused, never
/// rewritten.
pub fn outgoing(source: usize, record: &StagedRecord<'_>, config: &KafkaConfig) -> Result<(String, Outgoing), Failure> {
    let refused = |reason: &str| {
        Failure::new(
            format!("{}/{}/{}: {reason}", record.topic, record.partition, record.offset),
            false,
        )
    };
    if let Some(rejection) = record.rejection() {
        return Err(refused(&rejection.to_string()));
    }
    let topic = config
        .topic
        .resolve(record)
        .map_err(|e| refused(&format!("target topic: {e}")))?;
    let key = match &config.key_field {
        None => record.key.map(<[u8]>::to_vec),
        Some(path) => {
            let value = record.field(path, &Zone::utc()).ok();
            let text = value.as_deref().and_then(routing_text);
            Some(
                text.ok_or_else(|| refused("key field is missing or not a string or number"))?
                    .into_owned()
                    .into_bytes(),
            )
        }
    };
    let mut headers = own_headers(record);
    if config.provenance_headers {
        add_keeping_own(&mut headers, provenance(record.topic, record.partition, record.offset));
    }
    let timestamp = stamp(record);
    Ok((
        topic,
        Outgoing {
            source,
            record: rskafka::record::Record {
                key,
                value: record.value_to_write(&mut Vec::new()).map(<[u8]>::to_vec),
                headers,
                timestamp,
            },
        },
    ))
}

/// A record that could not be produced as it is (`refusal`), as the dead letter for `kafka_dead_letter_topic`:
/// its key, value and headers, the provenance headers, and the refusal in `ckafka-dump-error`. Its timestamp
/// is kept when it has one, else it is stamped now.
pub fn dead_letter(source: usize, record: &Record<'_>, refusal: &Failure) -> Outgoing {
    letter(source, record, refusal, true)
}

/// The dead letter of a record too large for its topic: the provenance and error headers only, since its key,
/// value and headers would be refused again; the error says where to read them.
pub fn dead_letter_without_bytes(source: usize, record: &Record<'_>, refusal: &Failure) -> Outgoing {
    letter(source, record, refusal, false)
}

fn letter(source: usize, record: &Record<'_>, refusal: &Failure, with_bytes: bool) -> Outgoing {
    let mut headers = Headers::new();
    let mut reason = refusal.reason.clone();
    if with_bytes {
        headers = own_headers(record);
    } else {
        reason.push_str(&format!(
            " (its key, value and headers are not in this letter: read them at {}/{}/{})",
            record.topic, record.partition, record.offset
        ));
    }
    let error = (ERROR_HEADER.to_owned(), reason.into_bytes());
    add_keeping_own(
        &mut headers,
        provenance(record.topic, record.partition, record.offset)
            .into_iter()
            .chain([error]),
    );
    let bytes = |b: Option<&[u8]>| b.filter(|_| with_bytes).map(<[u8]>::to_vec);
    Outgoing {
        source,
        record: rskafka::record::Record {
            key: bytes(record.key),
            value: bytes(record.value),
            headers,
            timestamp: stamp(record),
        },
    }
}

/// The record's own time, or now for an undated record (SCF events, Kafka's `-1`, times past year 9999).
fn stamp(record: &Record<'_>) -> DateTime<Utc> {
    let millis = record.timestamp.map_or_else(now_epoch_ms, |t| t.millis);
    DateTime::<Utc>::from_timestamp_millis(millis).expect("a dated record's time and now are in chrono's range")
}

/// The record's own headers as rskafka produces them.
fn own_headers(record: &Record<'_>) -> Headers {
    record
        .headers()
        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
        .collect()
}

/// Adds ckafka-dump's headers after the record's own; a header of the same name the record already carries (a
/// record mirrored twice) is renamed to the first free name `<name>.1`, `<name>.2`, …, never overwritten.
pub fn add_keeping_own(headers: &mut Headers, added: impl IntoIterator<Item = (String, Vec<u8>)>) {
    for (name, value) in added {
        if headers.iter().any(|(own, _)| *own == name) {
            let free = (1..)
                .map(|n| format!("{name}.{n}"))
                .find(|candidate| !headers.iter().any(|(own, _)| own == candidate))
                .expect("a free name exists");
            for (own, _) in headers.iter_mut().filter(|(own, _)| *own == name) {
                own.clone_from(&free);
            }
        }
        headers.push((name, Some(value)));
    }
}

/// The provenance headers of a record read at `topic`/`partition`/`offset`: where it was read.
pub fn provenance(topic: &str, partition: i32, offset: i64) -> [(String, Vec<u8>); 3] {
    [
        (SOURCE_TOPIC_HEADER.to_owned(), topic.as_bytes().to_vec()),
        (SOURCE_PARTITION_HEADER.to_owned(), partition.to_string().into_bytes()),
        (SOURCE_OFFSET_HEADER.to_owned(), offset.to_string().into_bytes()),
    ]
}

/// Splits one partition's records, in order, into requests of at most `max_bytes` (a record larger than
/// that goes alone and the broker decides).
pub fn chunk(records: Vec<Outgoing>, max_bytes: usize) -> Vec<Vec<Outgoing>> {
    split_by_size(records, max_bytes, |o| o.record.approximate_size() + RECORD_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::config::Env;
    use ckafka_dump_core::decode;
    use ckafka_dump_core::StagedBatch;

    fn config(pairs: &[(&str, &str)]) -> KafkaConfig {
        // The first pair of a name wins: the test's own come first.
        let mut all = pairs.to_vec();
        all.extend_from_slice(&[("kafka_address", "127.0.0.1:9092"), ("kafka_topic_name", "copy")]);
        KafkaConfig::from_env(&Env::from_pairs(&all)).unwrap()
    }

    /// The value of the only header named `name`.
    fn header<'h>(headers: &'h Headers, name: &str) -> &'h [u8] {
        let mut named = headers.iter().filter(|(own, _)| own == name);
        let (_, value) = named.next().unwrap_or_else(|| panic!("no header {name}"));
        assert!(named.next().is_none(), "one header {name}");
        value.as_deref().expect("a value")
    }

    fn outgoing(source: usize, record: &StagedRecord<'_>, provenance: bool) -> Result<Outgoing, Failure> {
        let config = config(&[("provenance_headers", if provenance { "true" } else { "false" })]);
        super::outgoing(source, record, &config).map(|(topic, out)| {
            assert_eq!(topic, "copy");
            out
        })
    }

    #[test]
    fn topic_and_key_from_fields_and_refusals_named() {
        let event = r#"{"Records":[
            {"Ckafka":{"topic":"src","partition":0,"offset":1,"msgKey":"k","msgBody":"{\"region\":\"eu\",\"user\":42}"}},
            {"Ckafka":{"topic":"src","partition":0,"offset":2,"msgKey":"k","msgBody":"{\"region\":\"a b\",\"user\":1}"}},
            {"Ckafka":{"topic":"src","partition":0,"offset":3,"msgKey":"k","msgBody":"{\"user\":1}"}},
            {"Ckafka":{"topic":"src","partition":0,"offset":4,"msgKey":"k","msgBody":"{\"region\":\"us\"}"}},
            {"Ckafka":{"topic":"src","partition":0,"offset":5,"msgKey":"k","msgBody":"text"}},
            {"Ckafka":{"topic":"src","partition":0,"offset":6,"msgKey":"k","msgBody":"{\"region\":\"..\",\"user\":1}"}}]}"#;
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let config = config(&[
            ("kafka_topic_name", "{topic}.{field:region}"),
            ("kafka_key_field", "user"),
        ]);
        let whole = KafkaConfig::from_env(&Env::from_pairs(&[
            ("kafka_address", "h:1"),
            ("kafka_topic_name", "{field:region}"),
        ]))
        .unwrap();
        assert_eq!(
            super::outgoing(5, &batch.get(5).unwrap(), &whole).unwrap_err().reason,
            "src/0/6: target topic: `..` is not a topic name",
            "a field that makes the whole name `..`, which Kafka refuses"
        );
        let (topic, out) = super::outgoing(0, &batch.get(0).unwrap(), &config).unwrap();
        assert_eq!(
            (topic.as_str(), out.record.key.as_deref()),
            ("src.eu", Some(&b"42"[..]))
        );
        let reason = |i: usize| super::outgoing(i, &batch.get(i).unwrap(), &config).unwrap_err().reason;
        assert!(
            reason(1).starts_with("src/0/2: target topic: `src.a b`: ` ` is not allowed"),
            "{}",
            reason(1)
        );
        assert_eq!(reason(2), "src/0/3: target topic: field `region` is missing");
        assert_eq!(reason(3), "src/0/4: key field is missing or not a string or number");
        assert!(
            reason(4).starts_with("src/0/5: target topic: field `region`: the value is not JSON"),
            "{}",
            reason(4)
        );
        let e = KafkaConfig::from_env(&Env::from_pairs(&[
            ("kafka_address", "h:1"),
            ("kafka_topic_name", "x/{field:a}"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("kafka_topic_name"), "{e}");
    }

    #[test]
    fn records_keep_key_value_headers_and_timestamp() {
        let event = include_str!("../../../events/aws-self-managed-headers.json");
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let out = outgoing(0, &batch.get(0).unwrap(), true).unwrap();
        assert_eq!(out.record.key.as_deref(), Some(&b"customer-42"[..]));
        assert_eq!(
            out.record.value.as_deref(),
            Some(&br#"{"order_id":77,"total":19.99}"#[..])
        );
        assert_eq!(header(&out.record.headers, "name"), "Zoë".as_bytes());
        assert_eq!(header(&out.record.headers, SOURCE_OFFSET_HEADER), b"1000");
        assert_eq!(out.record.timestamp.timestamp_millis(), 1763712000000);
        let tombstone = outgoing(2, &batch.get(2).unwrap(), false).unwrap();
        assert_eq!(tombstone.record.value, None);
        assert!(!tombstone
            .record
            .headers
            .iter()
            .any(|(name, _)| name == SOURCE_TOPIC_HEADER));
    }

    #[test]
    fn a_records_own_header_of_a_provenance_name_is_kept_aside_not_overwritten() {
        let own = |name: &str, value: &str| {
            let bytes: Vec<i8> = value.bytes().map(|b| b as i8).collect();
            serde_json::json!({ name: bytes })
        };
        let event = serde_json::json!({"eventSource": "aws:kafka", "records": {"mirror-0": [{
            "topic": "mirror", "partition": 0, "offset": 9, "timestamp": 1, "value": "eA==",
            "headers": [own(SOURCE_OFFSET_HEADER, "41"), own("ckafka-dump-source-offset.1", "7")]}]}})
        .to_string();
        let decoded = decode(&event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let out = outgoing(0, &batch.get(0).unwrap(), true).unwrap();
        assert_eq!(header(&out.record.headers, SOURCE_OFFSET_HEADER), b"9");
        assert_eq!(header(&out.record.headers, "ckafka-dump-source-offset.1"), b"7");
        assert_eq!(header(&out.record.headers, "ckafka-dump-source-offset.2"), b"41");
        assert_eq!(header(&out.record.headers, SOURCE_TOPIC_HEADER), b"mirror");
    }

    #[test]
    fn records_kafka_could_not_date_are_stamped_when_produced() {
        for millis in [i64::MAX, i64::MIN, -1, 9_000_000_000_000_000] {
            let event = format!(
                r#"{{"records":{{"t-0":[{{"partition":0,"offset":7,"timestamp":{millis},"value":"eA=="}}]}}}}"#
            );
            let decoded = decode(&event).unwrap().into_batch().unwrap();
            let batch = StagedBatch::unstaged(&decoded);
            let before = now_epoch_ms();
            let out = outgoing(0, &batch.get(0).unwrap(), false).unwrap();
            assert!(out.record.timestamp.timestamp_millis() >= before, "{millis}");
        }
    }

    #[test]
    fn dead_letters_keep_the_record_and_say_where_it_came_from_and_why() {
        let event = include_str!("../../../events/aws-self-managed-headers.json");
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let record = batch.get(0).unwrap();
        let refusal = Failure::new("orders.v1/0/1000: transform: the value is not JSON", false);
        let letter = dead_letter(0, &record, &refusal);
        assert_eq!(letter.record.key.as_deref(), record.key);
        assert_eq!(letter.record.value.as_deref(), record.value);
        assert_eq!(header(&letter.record.headers, "name"), "Zoë".as_bytes());
        assert_eq!(header(&letter.record.headers, SOURCE_OFFSET_HEADER), b"1000");
        assert_eq!(header(&letter.record.headers, ERROR_HEADER), refusal.reason.as_bytes());
        assert_eq!(letter.record.timestamp.timestamp_millis(), 1763712000000);
    }

    #[test]
    fn chunks_keep_order_and_respect_the_size() {
        let event = include_str!("../../../events/scf-ckafka.json");
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let records: Vec<Outgoing> = (0..10)
            .map(|i| outgoing(i, &batch.get(0).unwrap(), false).unwrap())
            .collect();
        let per_record = records[0].record.approximate_size() + RECORD_OVERHEAD;
        let chunks = chunk(records, per_record * 3);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        assert_eq!(chunks[1][0].source, 3);
    }
}
