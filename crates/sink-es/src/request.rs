//! Bulk NDJSON: index names, `_id`s, action lines, and splitting into requests by size.

use std::collections::hash_map::{Entry, HashMap};
use std::io::Write;

use ckafka_dump_core::dead_letter::{Cause, DeadLetter};
use ckafka_dump_core::json;
use ckafka_dump_core::sink::split_by_size;
use ckafka_dump_core::time::DateTime;
use ckafka_dump_core::{Outcome, Record, StagedBatch, StagedRecord};

use crate::config::{EsConfig, IndexPart, IndexTimeFormat, OpType, REFUSED_IN_INDEX_NAMES};
use crate::document;
use crate::outcome::BadDocument;
use crate::response::TOO_LARGE;

/// The error types of records refused before anything is sent: the stage rejected them, or their index name
/// cannot be made.
const TRANSFORM: &str = "transform";
const INDEX_NAME: &str = "index_name";

/// What a batch becomes: bulk items, records to dead-letter before anything is sent (the transform stage
/// rejected them, or their index name cannot be made), tombstones skipped, and records superseded in the batch
/// by a later record of the same `_id` (written by its write: the document ends as the later one).
#[derive(Debug, Default)]
pub struct Plan {
    pub items: Vec<BulkItem>,
    pub rejected: Vec<BadDocument>,
    pub skipped: usize,
    pub superseded: usize,
}

/// Every record's bulk item. `routing_ms` gives each record's index date (its record time, or when its
/// offset was first seen); `now_ms` stamps the added timestamp field of records without one. Tombstones
/// (null values) delete the document with their key's `_id` when configured, else are skipped.
///
/// Writes to an `_id` follow the offsets: a document's external version is its record's offset, so an older
/// write (a redriven batch, a slower concurrent request) never replaces a newer one, and of the records of one
/// `_id` in a batch only the one of the highest offset is sent.
pub fn plan(batch: &StagedBatch<'_>, config: &EsConfig, routing_ms: &[i64], now_ms: i64) -> Plan {
    let mut plan = Plan::default();
    let mut by_id: HashMap<(String, String), (usize, i64)> = HashMap::new();
    let index_reads_fields = config
        .index_template
        .as_ref()
        .is_some_and(|template| !template.fields_read().is_empty());
    for (i, (record, &routing_ms)) in batch.records().zip(routing_ms).enumerate() {
        // A value no stage parsed is parsed here once when the index name reads its fields, and the document is
        // built from that parse too.
        let parsed;
        let record = match (record.outcome(), record.value) {
            (Outcome::Original, Some(_)) if index_reads_fields => match record.object() {
                Ok(object) => {
                    parsed = object.into_owned();
                    record.with_object(Some(&parsed))
                }
                Err(_) => record,
            },
            _ => record,
        };
        let key_id = || record.key.map(user_id);
        // A tombstone deletes its key's document, or is skipped before anything names its index.
        let delete_id = match record.value {
            Some(_) => None,
            None => match key_id().filter(|_| config.delete_on_tombstone) {
                Some(id) => Some(id),
                None => {
                    plan.skipped += 1;
                    continue;
                }
            },
        };
        let index = index_of(config, &record, routing_ms);
        let refusal = match (&index, record.rejection()) {
            (_, Some(rejection)) => Some((TRANSFORM, rejection.0.clone())),
            (Err(reason), None) => Some((INDEX_NAME, reason.clone())),
            (Ok(_), None) => None,
        };
        if let Some((error_type, reason)) = refusal {
            plan.rejected.push(BadDocument {
                record: i,
                target_index: index.unwrap_or_default(),
                error_type: error_type.to_owned(),
                reason,
            });
            continue;
        }
        let index = index.expect("refused above");
        let version = (record.offset >= 0 && config.op_type == OpType::Index).then_some(record.offset);
        let (id, item) = match delete_id {
            Some(id) => {
                let item = bulk_item(i, Action::Delete, &index, &id, version, None);
                (id, item)
            }
            None => {
                let doc = document::build(&record, &config.documents, now_ms);
                let id = match config.id_from_key {
                    true => key_id(),
                    false => doc.id.map(|id| user_id(id.as_bytes())),
                }
                .unwrap_or_else(|| coordinates_id(&record));
                let item = bulk_item(i, config.op_type.into(), &index, &id, version, Some(&doc.source));
                (id, item)
            }
        };
        match by_id.entry((index, id)) {
            Entry::Vacant(slot) => {
                slot.insert((plan.items.len(), record.offset));
                plan.items.push(item);
            }
            Entry::Occupied(mut slot) => {
                plan.superseded += 1;
                let (position, offset) = slot.get_mut();
                if record.offset >= *offset {
                    *offset = record.offset;
                    plan.items[*position] = item;
                }
            }
        }
    }
    plan
}

/// A user's id (a key's bytes, or an id field's text) as an `_id`, losslessly: as it is when it is UTF-8 and
/// could not be taken for another record's id — neither a coordinates id (`<topic>-<partition>-<offset>`, what
/// records without an id get) nor starting with `b64:` —, else `b64:` and the bytes in URL-safe base64
/// without padding. Different ids never share an `_id`.
pub fn user_id(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.starts_with(ESCAPED_ID) && !looks_like_coordinates(text) => text.to_owned(),
        _ => format!("{ESCAPED_ID}{}", base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)),
    }
}

const ESCAPED_ID: &str = "b64:";

/// `<anything>-<partition>-<offset>`, both numbers as Rust writes them (no sign, no leading zero).
fn looks_like_coordinates(id: &str) -> bool {
    let canonical =
        |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
    let mut parts = id.rsplitn(3, '-');
    let (Some(offset), Some(partition), Some(topic)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !topic.is_empty() && canonical(partition) && canonical(offset)
}

/// The data index of `record`: the template's, or `<keyword>[-date[-hour]]`; an error says which field
/// could not name it.
pub fn index_of(config: &EsConfig, record: &StagedRecord<'_>, routing_ms: i64) -> Result<String, String> {
    match &config.index_template {
        Some(template) => {
            let time = config.zone.date_time(routing_ms);
            template.render(record, &config.zone, index_text, |part, out| match part {
                IndexPart::Date => out.push_str(&time.date()),
                IndexPart::Hour => out.push_str(&format!("{:02}", time.hour)),
            })
        }
        None => Ok(index_name(
            &config.index_keyword,
            config.index_time_format,
            config.zone.date_time(routing_ms),
        )),
    }
}

/// A field value as part of an index name: lowercase, with the characters index names refuse as `_`.
fn index_text(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            c if REFUSED_IN_INDEX_NAMES.contains(c) => '_',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// Where the dating ledgers of undated records are kept: apart from the data indices (a `<keyword>-*`
/// pattern does not match it).
pub fn ledger_index(config: &EsConfig) -> String {
    format!("ckafka-dump-dates-{}", config.index_keyword)
}

/// The ledger document of a topic-partition.
pub fn ledger_id(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// `<keyword>-YYYY-MM-DD[-HH]` from a record's routing time (deterministic on re-delivery).
pub fn index_name(keyword: &str, format: IndexTimeFormat, t: DateTime) -> String {
    match format {
        IndexTimeFormat::None => keyword.to_owned(),
        IndexTimeFormat::Day => format!("{keyword}-{}", t.date()),
        IndexTimeFormat::Hour => format!("{keyword}-{}-{:02}", t.date(), t.hour),
    }
}

/// The `_id` of a record without an id field: its Kafka coordinates, so a re-delivered batch overwrites.
pub fn coordinates_id(record: &Record<'_>) -> String {
    format!("{}-{}-{}", record.topic, record.partition, record.offset)
}

/// One document's NDJSON lines (an action line, and a source line unless it deletes), kept whole so it can
/// be re-sent alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// Index of the record in the batch.
    pub record: usize,
    pub index: String,
    pub lines: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Index,
    Create,
    Delete,
}

impl From<OpType> for Action {
    fn from(op: OpType) -> Self {
        match op {
            OpType::Index => Action::Index,
            OpType::Create => Action::Create,
        }
    }
}

/// One item's lines; `version` (the record's offset) makes the write external-versioned (`external_gte`: a
/// re-delivery of the same record writes again, an older record is refused with a 409).
pub fn bulk_item(
    record: usize,
    action: Action,
    index: &str,
    id: &str,
    version: Option<i64>,
    source: Option<&[u8]>,
) -> BulkItem {
    let source = source.unwrap_or_default();
    let mut lines = Vec::with_capacity(source.len() + index.len() + id.len() + 40);
    lines.extend_from_slice(match action {
        Action::Index => b"{\"index\":{\"_index\":",
        Action::Create => b"{\"create\":{\"_index\":",
        Action::Delete => b"{\"delete\":{\"_index\":",
    });
    json::push_string(&mut lines, index);
    lines.extend_from_slice(b",\"_id\":");
    json::push_string(&mut lines, id);
    if let Some(version) = version {
        write!(lines, ",\"version\":{version},\"version_type\":\"external_gte\"").expect("writing to a Vec");
    }
    lines.extend_from_slice(b"}}\n");
    if action != Action::Delete {
        lines.extend_from_slice(source);
        lines.push(b'\n');
    }
    BulkItem {
        record,
        index: index.to_owned(),
        lines,
    }
}

/// The dead-letter document of a record that could not be indexed: the raw record, where it was going and
/// why, under the record's coordinates as `_id` (a re-delivery overwrites it).
pub fn dead_letter_item(dead_letter_index: &str, batch: &StagedBatch<'_>, bad: &BadDocument, now_ms: i64) -> BulkItem {
    let record = batch.get(bad.record).expect("bad documents index the batch");
    let (cause, reason) = match bad.error_type.as_str() {
        TRANSFORM => (Cause::Transform, bad.reason.clone()),
        INDEX_NAME => (Cause::Route, bad.reason.clone()),
        TOO_LARGE => (Cause::TooLarge, bad.reason.clone()),
        error_type => (Cause::Refused, format!("{error_type}: {}", bad.reason)),
    };
    let letter = DeadLetter {
        record: &record,
        cause,
        reason: &reason,
        target: &bad.target_index,
    };
    let mut source = Vec::with_capacity(record.value_bytes().len() + 512);
    letter.write_json(Some(now_ms), &mut source);
    bulk_item(
        bad.record,
        Action::Index,
        dead_letter_index,
        &coordinates_id(&record),
        None,
        Some(&source),
    )
}

/// Groups items (given by position in `items`) into request bodies of at most `max_bytes`; an item larger
/// than that travels alone.
pub fn chunk(items: &[BulkItem], pending: &[usize], max_bytes: usize) -> Vec<Vec<usize>> {
    split_by_size(pending.iter().copied(), max_bytes, |&i| items[i].lines.len())
}

pub fn body(items: &[BulkItem], chunk: &[usize]) -> Vec<u8> {
    let mut body = Vec::with_capacity(chunk.iter().map(|&i| items[i].lines.len()).sum());
    for &i in chunk {
        body.extend_from_slice(&items[i].lines);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_follow_the_template_formats() {
        let ms = 1_545_084_650_987; // 2018-12-17T22:10:50Z
        let utc = DateTime::from_epoch_ms(ms);
        assert_eq!(index_name("log", IndexTimeFormat::Day, utc), "log-2018-12-17");
        assert_eq!(index_name("log", IndexTimeFormat::Hour, utc), "log-2018-12-17-22");
        assert_eq!(index_name("log", IndexTimeFormat::None, utc), "log");
        let beijing = ckafka_dump_core::time::Zone::named("Asia/Shanghai")
            .unwrap()
            .date_time(ms);
        assert_eq!(index_name("log", IndexTimeFormat::Hour, beijing), "log-2018-12-18-06");
        assert_eq!(index_text("Pay Ops/EU"), "pay_ops_eu");
    }

    /// A tombstone has no fields: with deletes off it is skipped before its index is named, even by a
    /// template that reads fields (it is not a record the index name could not be made for).
    #[test]
    fn tombstones_are_skipped_before_a_field_template_names_their_index() {
        let event = r#"{"records":{"t-0":[
            {"topic":"t","partition":0,"offset":1,"timestamp":0,"key":"aw==","value":"eyJhcHAiOiJwYXkifQ=="},
            {"topic":"t","partition":0,"offset":2,"timestamp":0,"key":"aw=="}]}}"#;
        let decoded = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let config = EsConfig::from_env(&ckafka_dump_core::config::Env::from_pairs(&[
            ("ES_Address", "http://127.0.0.1:9200"),
            ("ES_Index_Template", "logs-{field:app}"),
        ]))
        .unwrap();
        let plan = plan(&batch, &config, &[0, 0], 0);
        assert_eq!((plan.items.len(), plan.rejected.len(), plan.skipped), (1, 0, 1));
        assert_eq!(plan.items[0].index, "logs-pay");
    }

    #[test]
    fn action_lines_escape_and_choose_the_op() {
        let item = bulk_item(3, Action::Create, "log", "a\"b", None, Some(b"{}"));
        assert_eq!(
            item.lines,
            b"{\"create\":{\"_index\":\"log\",\"_id\":\"a\\\"b\"}}\n{}\n"
        );
        assert!(bulk_item(0, Action::Index, "i", "x", Some(7), Some(b"{}"))
            .lines
            .starts_with(
                b"{\"index\":{\"_index\":\"i\",\"_id\":\"x\",\"version\":7,\"version_type\":\"external_gte\"}}"
            ));
        assert_eq!(
            bulk_item(0, Action::Delete, "i", "k", None, None).lines,
            b"{\"delete\":{\"_index\":\"i\",\"_id\":\"k\"}}\n"
        );
    }

    #[test]
    fn user_ids_are_lossless_and_never_another_records_coordinates() {
        let ids: Vec<String> = [&b"\xff1"[..], b"\xfe1", "\u{FFFD}1".as_bytes()].map(user_id).into();
        assert_eq!(ids, ["b64:_zE", "b64:_jE", "\u{FFFD}1"]);
        assert_eq!(user_id(b"order-17"), "order-17");
        assert_eq!(
            user_id(b"2024-05-06"),
            "2024-05-06",
            "leading zeros are not coordinates"
        );
        assert_eq!(user_id(b"orders-0-42"), "b64:b3JkZXJzLTAtNDI");
        assert_eq!(user_id(b"b64:_zE"), "b64:YjY0Ol96RQ", "the escape prefix is escaped");
        assert_eq!(user_id(b"-0-1"), "-0-1");
    }

    #[test]
    fn of_one_id_in_a_batch_the_highest_offset_is_sent_with_its_offset_as_version() {
        let record = |offset: i64, value: Option<&str>| {
            let value = value.map(|v| format!(r#","value":"{}""#, base64_simd::STANDARD.encode_to_string(v)));
            format!(
                r#"{{"topic":"t","partition":0,"offset":{offset},"timestamp":0,"key":"aw=="{}}}"#,
                value.unwrap_or_default()
            )
        };
        let records = [
            record(1, Some("{\"n\":1}")),
            record(3, None),
            record(2, Some("{\"n\":2}")),
        ];
        let event = format!(r#"{{"records":{{"t-0":[{}]}}}}"#, records.join(","));
        let decoded = ckafka_dump_core::decode(&event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let config = EsConfig::from_env(&ckafka_dump_core::config::Env::from_pairs(&[
            ("ES_Address", "http://127.0.0.1:9200"),
            ("ES_Index_KeyWord", "k"),
            ("ES_Index_TimeFormat", "none"),
            ("ES_Id_Field", "@key"),
            ("ES_Delete_On_Tombstone", "true"),
        ]))
        .unwrap();
        let plan = plan(&batch, &config, &[0, 0, 0], 0);
        assert_eq!((plan.items.len(), plan.superseded), (1, 2));
        assert_eq!(
            plan.items[0].lines,
            b"{\"delete\":{\"_index\":\"k\",\"_id\":\"k\",\"version\":3,\"version_type\":\"external_gte\"}}\n"
        );
    }

    #[test]
    fn chunks_respect_the_size_limit_and_oversized_items_go_alone() {
        let items: Vec<BulkItem> = [10, 10, 10, 50, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| BulkItem {
                record: i,
                index: String::new(),
                lines: vec![b'x'; n],
            })
            .collect();
        assert_eq!(
            chunk(&items, &[0, 1, 2, 3, 4], 25),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
        assert_eq!(body(&items, &[0, 4]).len(), 15);
    }
}
