//! Mode 1: a trigger batch becomes one object per topic-partition (more past the size cap), keyed by the
//! first offset of each, so a re-delivered batch overwrites the same keys.

use std::collections::HashMap;
use std::sync::Arc;

use ckafka_dump_core::dating::{self, Ledger, LedgerStore};
use ckafka_dump_core::value::Object;
use ckafka_dump_core::{Deadline, Delivery, Outcome, Rejection, StagedBatch, Timestamp};
use futures_util::stream::{self, StreamExt};

use ckafka_dump_core::retry::{Bound, RetryPolicy};
use ckafka_dump_core::OffsetRanges;

use crate::checkpoint::WrittenOffsets;
use crate::encode::Content;
use crate::error::CosError;
use crate::fence::{run_id, store_fences, Fence, Held};
use crate::lease::Fenced;
use crate::naming::{dead_letter_key, ledger_key, written_key, KeyTemplate, Route};
use crate::parquet::{Parquet, Row};
use crate::writer::{coordinates, KeyClaims, Objects, PartitionWriter, SetAside};

/// Writes the batch; `now_ms` dates records without a timestamp that were never seen before.
///
/// Each partition is written under its lease (overlapping invocations of one partition take turns), and only
/// its records whose offsets no earlier delivery wrote ([`WrittenOffsets`]): a re-delivery that starts at
/// another offset, arrives out of order or after newer batches writes each offset into exactly one object.
pub async fn write_batch(
    objects: &Arc<Objects>,
    batch: &StagedBatch<'_>,
    now_ms: i64,
    clock: fn() -> i64,
    deadline: Deadline,
) -> Result<Delivery, CosError> {
    let config = &objects.config;
    let (mut sorted, parsed) = sort(batch, &config.key_template, &config.content, &config.zone);
    let rows = match &config.content {
        Content::Parquet(parquet) => sorted.parquet_rows(parquet, batch, &parsed),
        Content::Lines(_) => Vec::new(),
    };
    // A key the store would refuse (too long, a segment that leaves its folder) is its records' fault: they
    // are set aside before anything is read or written. The latest time renders the longest `{timestamp}`.
    sorted.groups.retain(|group| {
        let first = batch.get(group.records[0]).expect("groups index the batch");
        let reason = match objects.key_for(&first, Timestamp::MAX_MILLIS, &group.route) {
            Ok(_) => return true,
            Err(CosError::Key { reason, .. }) => reason,
            Err(other) => other.to_string(),
        };
        let set_aside = group.records.iter().map(|&i| (i, SetAside::Unroutable(reason.clone())));
        sorted.dead_letters.extend(set_aside);
        false
    });
    sorted.dead_letters.sort_by_key(|(i, _)| *i);
    if config.dead_letter_prefix.is_none() {
        let refused = sorted.dead_letters.iter().map(|(i, why)| CosError::Refused {
            record: coordinates(&batch.get(*i).expect("dead letters index the batch")),
            reason: why.to_string(),
        });
        CosError::first_of(refused.collect(), batch.len(), "records")?;
    }
    let ledgers = Ledgers { objects, deadline };
    let granularity = config.key_template.granularity();
    let routing = dating::routing_times(
        &ledgers,
        &objects.ledgers,
        batch.records().map(|r| r.record),
        granularity,
        &config.zone,
        now_ms,
    )
    .await?;
    let run = run_id(now_ms);
    // A store that cannot fence (a versioned bucket) still gets every offset once from deliveries that do not
    // overlap in time.
    let fenced = store_fences(objects, &run, deadline).await?;
    let invocation = Invocation {
        objects,
        claims: Arc::new(KeyClaims::default()),
        batch,
        parsed: &parsed,
        rows: &rows,
        routing_ms: &routing,
        run: &run,
        fenced,
        clock,
        deadline,
    };
    let tombstones = sorted.skipped;
    let partitions = sorted.by_partition(batch);
    let total = partitions.len();
    let results: Vec<Result<Delivery, CosError>> = stream::iter(partitions)
        .map(|part| write_partition(&invocation, part))
        .buffer_unordered(config.concurrency)
        .collect()
        .await;
    let mut delivery = Delivery {
        skipped: tombstones,
        ..Delivery::default()
    };
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(part) => {
                delivery.written += part.written;
                delivery.dead_lettered += part.dead_lettered;
                delivery.skipped += part.skipped;
            }
            Err(e) => errors.push(e),
        }
    }
    CosError::first_of(errors, total, "topic-partitions")?;
    Ok(delivery)
}

/// What every partition's writing shares in one invocation.
struct Invocation<'i, 'b> {
    objects: &'i Arc<Objects>,
    claims: Arc<KeyClaims>,
    batch: &'i StagedBatch<'b>,
    /// Values no stage parsed, parsed once by `sort` where fields are read (by batch index).
    parsed: &'i [Option<Object<'i>>],
    /// Parquet rows by batch index (none for line formats).
    rows: &'i [Option<Row<'i>>],
    routing_ms: &'i [i64],
    run: &'i str,
    /// Whether the store can hold leases.
    fenced: bool,
    clock: fn() -> i64,
    deadline: Deadline,
}

/// The records of one topic-partition in a batch: its groups, its dead letters, and the span of its offsets.
#[derive(Debug)]
struct Partition {
    topic: String,
    partition: i32,
    first_offset: i64,
    last_offset: i64,
    groups: Vec<Group>,
    dead_letters: Vec<(usize, SetAside)>,
}

/// Writes what no earlier delivery wrote of one partition (holding its lease when the store can fence), then
/// adds the batch's span to the partition's written offsets.
async fn write_partition(invocation: &Invocation<'_, '_>, mut part: Partition) -> Result<Delivery, CosError> {
    let Invocation {
        objects,
        ref claims,
        batch,
        parsed,
        rows,
        routing_ms,
        clock,
        deadline,
        ..
    } = *invocation;
    let fence = Fence {
        objects,
        scope: &objects.config.instance,
        topic: &part.topic,
        partition: part.partition,
        deadline,
        clock,
        run: invocation.run,
    };
    let held = match invocation.fenced {
        false => None,
        true => Some(take_waiting(&fence).await?),
    };
    let config = &objects.config;
    let key = written_key(&config.prefix, &config.instance, &part.topic, part.partition);
    let result = async {
        let mut ranges = match objects.read_bookkeeping(&key, deadline).await? {
            Some(body) => WrittenOffsets::parse_ranges(&key, &body)?,
            None => OffsetRanges::default(),
        };
        let offset_of = |i: usize| batch.get(i).expect("records index the batch").offset;
        let before = part.groups.iter().map(|g| g.records.len()).sum::<usize>() + part.dead_letters.len();
        for group in &mut part.groups {
            group.records.retain(|&i| !ranges.contains(offset_of(i)));
        }
        part.groups.retain(|g| !g.records.is_empty());
        part.dead_letters.retain(|(i, _)| !ranges.contains(offset_of(*i)));
        let written: usize = part.groups.iter().map(|g| g.records.len()).sum();
        let delivery = Delivery {
            written,
            dead_lettered: part.dead_letters.len(),
            skipped: before - written - part.dead_letters.len(),
        };
        let dead_letters = write_dead_letters(objects, claims, batch, &part.dead_letters, deadline);
        let total = part.groups.len();
        let data = stream::iter(part.groups)
            .map(|group| write_group(objects, claims, batch, (parsed, rows), group, routing_ms, deadline))
            .buffer_unordered(config.concurrency)
            .filter_map(|result| async move { result.err() })
            .collect::<Vec<CosError>>();
        let (dead_letters, errors) = futures_util::join!(dead_letters, data);
        CosError::first_of(errors, total, "objects")?;
        dead_letters?;
        let known = ranges.clone();
        ranges.insert(part.first_offset, part.last_offset);
        // A re-delivery of written offsets leaves the ranges as they were: nothing to save.
        if ranges != known {
            let record = WrittenOffsets::new(&part.topic, part.partition, &ranges, clock());
            objects.write_bookkeeping(&key, record.to_json(), deadline).await?;
        }
        Ok(delivery)
    }
    .await;
    if let Some(held) = held {
        fence.release(held).await;
    }
    result
}

/// The partition's lease, waiting while an overlapping invocation holds it (it ends by its deadline).
async fn take_waiting(fence: &Fence<'_>) -> Result<Held, CosError> {
    // The holder writes one batch: ask again soon.
    let policy = RetryPolicy {
        initial_delay: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_secs(1),
        ..RetryPolicy::DEFAULT
    };
    let bound = Bound::Cutoff {
        deadline: fence.deadline,
        attempt_budget: std::time::Duration::from_millis(200),
    };
    let held = |key| CosError::Lease {
        key,
        reason: "another invocation holds this partition".to_owned(),
        retryable: true,
    };
    let mut retries = policy.retries("the partition's lease", bound);
    loop {
        match fence.take(Fenced::Partition).await? {
            Some(taken) => return Ok(taken),
            None => retries.wait(held(fence.key(Fenced::Partition, 1))).await?,
        }
    }
}

/// Records of one topic-partition that share a route, in offset order: one object (more past the size cap).
#[derive(Debug, PartialEq, Eq)]
struct Group {
    route: Route,
    records: Vec<usize>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Sorted {
    groups: Vec<Group>,
    dead_letters: Vec<(usize, SetAside)>,
    /// Tombstones, which have no fields to route by.
    skipped: usize,
}

impl Sorted {
    /// Each grouped record's Parquet row (by batch index); a record a declared column cannot take is set aside.
    fn parquet_rows<'p>(
        &mut self,
        parquet: &Parquet,
        batch: &'p StagedBatch<'_>,
        parsed: &'p [Option<Object<'p>>],
    ) -> Vec<Option<Row<'p>>> {
        let mut rows: Vec<Option<Row<'p>>> = (0..batch.len()).map(|_| None).collect();
        for group in &mut self.groups {
            group.records.retain(|&i| {
                let record = batch.get(i).expect("groups index the batch");
                match parquet.row(&record.with_object(parsed[i].as_ref())) {
                    Ok(row) => {
                        rows[i] = Some(row);
                        true
                    }
                    Err(reason) => {
                        self.dead_letters.push((i, SetAside::Unencodable(reason)));
                        false
                    }
                }
            });
        }
        self.groups.retain(|g| !g.records.is_empty());
        rows
    }

    /// The groups and dead letters of each topic-partition (in order of first appearance), with the span of
    /// all its records in the batch — tombstones skipped included, so a re-delivery skips them too.
    fn by_partition(self, batch: &StagedBatch<'_>) -> Vec<Partition> {
        let mut parts: Vec<Partition> = Vec::new();
        for span in batch.partitions() {
            parts.push(Partition {
                topic: span.topic,
                partition: span.partition,
                first_offset: span.first_offset,
                last_offset: span.last_offset,
                groups: Vec::new(),
                dead_letters: Vec::new(),
            });
        }
        let position = |parts: &[Partition], i: usize| {
            let record = batch.get(i).expect("records index the batch");
            parts
                .iter()
                .position(|p| p.partition == record.partition && p.topic == record.topic)
                .expect("every record has its partition")
        };
        for group in self.groups {
            let at = position(&parts, group.records[0]);
            parts[at].groups.push(group);
        }
        for (i, reason) in self.dead_letters {
            let at = position(&parts, i);
            parts[at].dead_letters.push((i, reason));
        }
        parts
    }
}

/// Record indices grouped by topic-partition and route, in batch order within each group and by first
/// appearance; records that cannot be routed set aside. Where keys or CSV columns read fields of values no
/// stage parsed, each value is parsed here, once, and the parse is kept for the rows (by batch index).
fn sort<'b>(
    batch: &'b StagedBatch<'_>,
    template: &KeyTemplate,
    content: &Content,
    zone: &ckafka_dump_core::time::Zone,
) -> (Sorted, Vec<Option<Object<'b>>>) {
    let columns_read_fields = !content.fields_read().is_empty();
    let reads_fields =
        columns_read_fields || matches!(content, Content::Parquet(_)) || !template.fields_read().is_empty();
    let mut sorted = Sorted::default();
    let mut parsed_values = Vec::with_capacity(batch.len());
    let mut index: HashMap<(&str, i32, Route), usize> = HashMap::new();
    for (i, record) in batch.records().enumerate() {
        parsed_values.push(None);
        if let Some(rejection) = record.rejection() {
            sorted.dead_letters.push((i, SetAside::Rejected(rejection.clone())));
            continue;
        }
        let unparsed = matches!(record.outcome(), Outcome::Original) && record.value.is_some();
        if reads_fields && unparsed {
            match record.object() {
                Ok(object) => parsed_values[i] = Some(object.into_owned()),
                Err(reason) if columns_read_fields => {
                    sorted.dead_letters.push((i, SetAside::Rejected(Rejection(reason))));
                    continue;
                }
                // The key's route names the field it cannot read.
                Err(_) => {}
            }
        }
        let route = match template.route(&record.with_object(parsed_values[i].as_ref()), zone) {
            Ok(route) => route,
            Err(_) if record.value.is_none() => {
                sorted.skipped += 1;
                continue;
            }
            Err(reason) => {
                sorted.dead_letters.push((i, SetAside::Unroutable(reason)));
                continue;
            }
        };
        let groups = &mut sorted.groups;
        let group = *index
            .entry((record.topic, record.partition, route.clone()))
            .or_insert_with(|| {
                groups.push(Group {
                    route,
                    records: Vec::new(),
                });
                groups.len() - 1
            });
        groups[group].records.push(i);
    }
    (sorted, parsed_values)
}

async fn write_group(
    objects: &Arc<Objects>,
    claims: &Arc<KeyClaims>,
    batch: &StagedBatch<'_>,
    (parsed, rows): (&[Option<Object<'_>>], &[Option<Row<'_>>]),
    group: Group,
    routing_ms: &[i64],
    deadline: Deadline,
) -> Result<(), CosError> {
    // Sizes the first buffer of a line object; a Parquet object buffers its own row group.
    let content_bytes = match rows.is_empty() {
        true => group
            .records
            .iter()
            .filter_map(|&i| batch.get(i))
            .map(|r| r.payload_len() + 1)
            .sum(),
        false => 0,
    };
    let mut writer = PartitionWriter::new(
        Arc::clone(objects),
        Arc::clone(claims),
        group.route,
        content_bytes,
        deadline,
    );
    for &i in &group.records {
        let record = batch.get(i).expect("groups index the batch");
        let record = record.with_object(parsed[i].as_ref());
        match rows.get(i) {
            Some(Some(row)) => writer.push_row(&record, row, routing_ms[i]).await?,
            _ => writer.push_line(&record, routing_ms[i]).await?,
        };
    }
    writer.finish().await.map(drop)
}

/// One JSON-lines object per topic-partition under `dead_letter_prefix`, keyed by its first offset: the
/// records' original bytes, headers and errors.
async fn write_dead_letters(
    objects: &Objects,
    claims: &KeyClaims,
    batch: &StagedBatch<'_>,
    dead_letters: &[(usize, SetAside)],
    deadline: Deadline,
) -> Result<(), CosError> {
    let Some(prefix) = &objects.config.dead_letter_prefix else {
        return Ok(());
    };
    let mut objects_by_partition: Vec<(String, Vec<u8>)> = Vec::new();
    let mut index: HashMap<(&str, i32), usize> = HashMap::new();
    for (i, reason) in dead_letters {
        let record = batch.get(*i).expect("dead letters index the batch");
        let at = *index.entry((record.topic, record.partition)).or_insert_with(|| {
            let key = dead_letter_key(prefix, &record);
            objects_by_partition.push((key, Vec::new()));
            objects_by_partition.len() - 1
        });
        if objects_by_partition[at].1.is_empty() {
            claims.claim(&objects_by_partition[at].0, &record)?;
        }
        reason.write_line(&record, &mut objects_by_partition[at].1);
    }
    let total = objects_by_partition.len();
    let errors: Vec<CosError> = stream::iter(objects_by_partition)
        .map(|(key, body)| async move { objects.write_dead_letters(&key, body, deadline).await })
        .buffer_unordered(objects.config.concurrency)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await;
    CosError::first_of(errors, total, "dead-letter objects")
}

/// The dating ledgers of undated records, one object per topic-partition beside the checkpoints.
pub(crate) struct Ledgers<'a> {
    pub objects: &'a Objects,
    pub deadline: Deadline,
}

impl Ledgers<'_> {
    fn key(&self, topic: &str, partition: i32) -> String {
        let config = &self.objects.config;
        ledger_key(&config.prefix, &config.instance, topic, partition)
    }
}

impl LedgerStore for Ledgers<'_> {
    type Error = CosError;

    async fn load(&self, topic: &str, partition: i32) -> Result<Option<Ledger>, CosError> {
        let key = self.key(topic, partition);
        let Some(body) = self.objects.read_bookkeeping(&key, self.deadline).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&body).map(Some).map_err(|e| CosError::Ledger {
            key,
            reason: e.to_string(),
        })
    }

    async fn save(&self, topic: &str, partition: i32, ledger: &Ledger) -> Result<(), CosError> {
        let key = self.key(topic, partition);
        let body = serde_json::to_vec(ledger).expect("a ledger always serializes");
        self.objects.write_bookkeeping(&key, body, self.deadline).await
    }
}

#[cfg(test)]
mod tests {
    use ckafka_dump_core::time::Zone;

    use crate::encode::Lines;

    use super::*;

    fn groups(sorted: &Sorted) -> Vec<(Vec<&str>, Vec<usize>)> {
        let groups = sorted.groups.iter();
        groups
            .map(|g| (g.route.iter().map(String::as_str).collect(), g.records.clone()))
            .collect()
    }

    #[test]
    fn interleaved_partitions_group_in_order() {
        let event = r#"{"Records":[
            {"Ckafka":{"topic":"a","partition":0,"offset":1,"msgKey":"None","msgBody":"x"}},
            {"Ckafka":{"topic":"a","partition":1,"offset":5,"msgKey":"None","msgBody":"y"}},
            {"Ckafka":{"topic":"a","partition":0,"offset":2,"msgKey":"None","msgBody":"z"}},
            {"Ckafka":{"topic":"b","partition":0,"offset":9,"msgKey":"None","msgBody":"w"}}]}"#;
        let decoded = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let template = KeyTemplate::parse(KeyTemplate::DEFAULT).unwrap();
        let (sorted, _) = sort(&batch, &template, &Content::Lines(Lines::Text), &Zone::utc());
        assert_eq!(
            groups(&sorted),
            vec![(vec![], vec![0, 2]), (vec![], vec![1]), (vec![], vec![3])]
        );
    }

    #[test]
    fn fields_split_a_partition_and_unroutable_records_are_set_aside() {
        let value = |v: &str| base64_simd::STANDARD.encode_to_string(v);
        let record = |offset: i64, v: Option<&str>| {
            let mut r = serde_json::json!({"topic": "t", "partition": 0, "offset": offset, "timestamp": 1});
            if let Some(v) = v {
                r["value"] = value(v).into();
            }
            r
        };
        let event = serde_json::json!({"eventSource": "aws:kafka", "records": {"t-0": [
            record(1, Some(r#"{"app":"pay"}"#)),
            record(2, Some(r#"{"app":"auth"}"#)),
            record(3, Some("not json")),
            record(4, None),
            record(5, Some(r#"{"other":1}"#)),
            record(6, Some(r#"{"app":"pay"}"#)),
        ]}})
        .to_string();
        let decoded = ckafka_dump_core::decode(&event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let template = KeyTemplate::parse("{field:app}/{topic}+{partition}+{start_offset}").unwrap();
        let (sorted, parsed) = sort(&batch, &template, &Content::Lines(Lines::JsonLines), &Zone::utc());
        assert_eq!(
            parsed.iter().map(Option::is_some).collect::<Vec<_>>(),
            [true, true, false, false, true, true],
            "the values a key field is read from are parsed once, kept for the rows"
        );
        assert_eq!(
            groups(&sorted),
            vec![(vec!["pay"], vec![0, 5]), (vec!["auth"], vec![1])]
        );
        assert_eq!(sorted.skipped, 1, "the tombstone has no fields to route by");
        let reasons: Vec<(usize, String)> = sorted.dead_letters.iter().map(|(i, r)| (*i, r.to_string())).collect();
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0].0, 2);
        assert!(
            reasons[0]
                .1
                .starts_with("object key: field `app`: the value is not JSON"),
            "{reasons:?}"
        );
        assert_eq!(reasons[1], (4, "object key: field `app` is missing".to_owned()));
    }
}
