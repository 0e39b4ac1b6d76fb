//! Source record → Kafka record, and splitting a partition's records into produce requests by size.

use std::collections::BTreeMap;

use ckafka_dump_core::sink::split_by_size;
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::{Failure, Record};
use rskafka::chrono::{DateTime, Utc};

/// Header names of the optional provenance headers (`provenance_headers=true`): with them a consumer can
/// recognise a re-delivered record.
pub const SOURCE_TOPIC_HEADER: &str = "ckafka-dump-source-topic";
pub const SOURCE_PARTITION_HEADER: &str = "ckafka-dump-source-partition";
pub const SOURCE_OFFSET_HEADER: &str = "ckafka-dump-source-offset";

/// Per-record framing a produce request adds on top of key, value and headers (a generous bound).
const RECORD_OVERHEAD: usize = 64;

/// A record on its way out, with the index of its source record in the batch.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub source: usize,
    pub record: rskafka::record::Record,
}

/// Value, key, headers and timestamp kept as the source had them. rskafka keeps headers in a map, so of
/// repeated header names the last wins. SCF events carry no timestamp: the record is stamped now. A timestamp
/// the producer cannot carry (beyond ±262,000 years) is refused, never rewritten.
pub fn outgoing(source: usize, record: &Record<'_>, provenance: bool) -> Result<Outgoing, Failure> {
    let mut headers: BTreeMap<String, Vec<u8>> =
        record.headers().map(|h| (h.key.to_owned(), h.value.to_vec())).collect();
    if provenance {
        headers.insert(SOURCE_TOPIC_HEADER.to_owned(), record.topic.as_bytes().to_vec());
        headers.insert(
            SOURCE_PARTITION_HEADER.to_owned(),
            record.partition.to_string().into_bytes(),
        );
        headers.insert(SOURCE_OFFSET_HEADER.to_owned(), record.offset.to_string().into_bytes());
    }
    let millis = record.timestamp.map_or_else(now_epoch_ms, |t| t.millis);
    let timestamp = DateTime::<Utc>::from_timestamp_millis(millis).ok_or_else(|| {
        Failure::new(
            format!(
                "{}/{}/{}: timestamp {millis} ms is out of the range a produced record can carry",
                record.topic, record.partition, record.offset
            ),
            false,
        )
    })?;
    Ok(Outgoing {
        source,
        record: rskafka::record::Record {
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers,
            timestamp,
        },
    })
}

/// Splits one partition's records, in order, into requests of at most `max_bytes` (a record larger than
/// that goes alone and the broker decides).
pub fn chunk(records: Vec<Outgoing>, max_bytes: usize) -> Vec<Vec<Outgoing>> {
    split_by_size(records, max_bytes, |o| o.record.approximate_size() + RECORD_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::decode;

    #[test]
    fn records_keep_key_value_headers_and_timestamp() {
        let event = include_str!("../../../events/aws-self-managed-headers.json");
        let batch = decode(event).unwrap().into_batch().unwrap();
        let out = outgoing(0, &batch.get(0).unwrap(), true).unwrap();
        assert_eq!(out.record.key.as_deref(), Some(&b"customer-42"[..]));
        assert_eq!(
            out.record.value.as_deref(),
            Some(&br#"{"order_id":77,"total":19.99}"#[..])
        );
        assert_eq!(out.record.headers["name"], "Zoë".as_bytes());
        assert_eq!(out.record.headers[SOURCE_OFFSET_HEADER], b"1000");
        assert_eq!(out.record.timestamp.timestamp_millis(), 1763712000000);
        let tombstone = outgoing(2, &batch.get(2).unwrap(), false).unwrap();
        assert_eq!(tombstone.record.value, None);
        assert!(!tombstone.record.headers.contains_key(SOURCE_TOPIC_HEADER));
    }

    #[test]
    fn timestamps_out_of_range_are_refused_not_rewritten() {
        for millis in [i64::MAX, i64::MIN, 9_000_000_000_000_000] {
            let event = format!(
                r#"{{"records":{{"t-0":[{{"partition":0,"offset":7,"timestamp":{millis},"value":"eA=="}}]}}}}"#
            );
            let batch = decode(&event).unwrap().into_batch().unwrap();
            let refused = outgoing(0, &batch.get(0).unwrap(), false).unwrap_err();
            assert!(!refused.retryable);
            assert_eq!(
                refused.reason,
                format!("t/0/7: timestamp {millis} ms is out of the range a produced record can carry")
            );
        }
    }

    #[test]
    fn chunks_keep_order_and_respect_the_size() {
        let event = include_str!("../../../events/scf-ckafka.json");
        let batch = decode(event).unwrap().into_batch().unwrap();
        let records: Vec<Outgoing> = (0..10)
            .map(|i| outgoing(i, &batch.get(0).unwrap(), false).unwrap())
            .collect();
        let per_record = records[0].record.approximate_size() + RECORD_OVERHEAD;
        let chunks = chunk(records, per_record * 3);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        assert_eq!(chunks[1][0].source, 3);
    }
}
