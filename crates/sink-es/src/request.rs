//! Bulk NDJSON: index names, `_id`s, action lines, and splitting into requests by size.

use ckafka_dump_core::sink::split_by_size;
use ckafka_dump_core::time::DateTime;
use ckafka_dump_core::{Batch, Record};

use crate::config::{EsConfig, IndexTimeFormat, OpType};
use crate::document::{self, write_json_string};
use crate::outcome::BadDocument;

/// Every record's bulk item, tombstones (null values: no document) left out. `routing_ms` gives each
/// record's index date (its timestamp, or when its offset was first seen); `now_ms` stamps the added
/// timestamp field of records without one.
pub fn bulk_items(batch: &Batch<'_>, config: &EsConfig, routing_ms: &[i64], now_ms: i64) -> Vec<BulkItem> {
    let settings = &config.documents;
    batch
        .records()
        .zip(routing_ms)
        .enumerate()
        .filter(|(_, (record, _))| record.value.is_some())
        .map(|(i, (record, &routing_ms))| {
            let doc = document::build(&record, settings, now_ms);
            let id = doc.id.unwrap_or_else(|| coordinates_id(&record));
            bulk_item(i, config.op_type, &index_of(config, routing_ms), &id, &doc.source)
        })
        .collect()
}

pub fn index_of(config: &EsConfig, routing_ms: i64) -> String {
    index_name(&config.index_keyword, config.index_time_format, routing_ms)
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
pub fn index_name(keyword: &str, format: IndexTimeFormat, timestamp_ms: i64) -> String {
    let t = DateTime::from_epoch_ms(timestamp_ms);
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

/// One document's two NDJSON lines, kept whole so it can be re-sent alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// Index of the record in the batch.
    pub record: usize,
    pub lines: Vec<u8>,
}

pub fn bulk_item(record: usize, op: OpType, index: &str, id: &str, source: &[u8]) -> BulkItem {
    let mut lines = Vec::with_capacity(source.len() + index.len() + id.len() + 40);
    lines.extend_from_slice(match op {
        OpType::Index => b"{\"index\":{\"_index\":",
        OpType::Create => b"{\"create\":{\"_index\":",
    });
    write_json_string(&mut lines, index);
    lines.extend_from_slice(b",\"_id\":");
    write_json_string(&mut lines, id);
    lines.extend_from_slice(b"}}\n");
    lines.extend_from_slice(source);
    lines.push(b'\n');
    BulkItem { record, lines }
}

/// The dead-letter document of a record whose document the index refused: the raw record, where it was
/// going and why it was refused, under the record's coordinates as `_id` (a re-delivery overwrites it).
pub fn dead_letter_item(
    config: &EsConfig,
    dead_letter_index: &str,
    batch: &Batch<'_>,
    refused: &BulkItem,
    bad: &BadDocument,
    routing_ms: &[i64],
    now_ms: i64,
) -> BulkItem {
    let record = batch.get(refused.record).expect("items index the batch");
    let target = index_of(config, routing_ms[refused.record]);
    let source = document::dead_letter(&record, &target, &bad.error_type, &bad.reason, now_ms);
    bulk_item(
        refused.record,
        OpType::Index,
        dead_letter_index,
        &coordinates_id(&record),
        &source,
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
        assert_eq!(index_name("log", IndexTimeFormat::Day, ms), "log-2018-12-17");
        assert_eq!(index_name("log", IndexTimeFormat::Hour, ms), "log-2018-12-17-22");
        assert_eq!(index_name("log", IndexTimeFormat::None, ms), "log");
    }

    #[test]
    fn action_lines_escape_and_choose_the_op() {
        let item = bulk_item(3, OpType::Create, "log", "a\"b", b"{}");
        assert_eq!(
            item.lines,
            b"{\"create\":{\"_index\":\"log\",\"_id\":\"a\\\"b\"}}\n{}\n"
        );
        assert!(bulk_item(0, OpType::Index, "i", "x", b"{}")
            .lines
            .starts_with(b"{\"index\":"));
    }

    #[test]
    fn chunks_respect_the_size_limit_and_oversized_items_go_alone() {
        let items: Vec<BulkItem> = [10, 10, 10, 50, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| BulkItem {
                record: i,
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
