//! Mode 1: a trigger batch becomes one object per topic-partition (more past the size cap), keyed by the
//! first offset of each, so a re-delivered batch overwrites the same keys.

use std::collections::HashMap;
use std::sync::Arc;

use ckafka_dump_core::dating::{self, Ledger, LedgerStore};
use ckafka_dump_core::{Batch, Deadline, Delivery};
use futures_util::stream::{self, StreamExt};

use crate::checkpoint::ledger_key;
use crate::error::CosError;
use crate::writer::{KeyClaims, Objects, PartitionWriter};

/// Writes the batch; `now_ms` dates records without a timestamp that were never seen before.
pub async fn write_batch(
    objects: &Arc<Objects>,
    batch: &Batch<'_>,
    now_ms: i64,
    deadline: Deadline,
) -> Result<Delivery, CosError> {
    let groups = by_partition(batch);
    // A key the store would refuse (too long) fails before anything is read or written, naming the record.
    for group in &groups {
        let first = batch.get(group[0]).expect("groups index the batch");
        objects.key_for(&first, 0)?;
    }
    let ledgers = Ledgers { objects, deadline };
    let granularity = objects.config.key_template.granularity();
    let routing = dating::routing_times(&ledgers, &objects.ledgers, batch, granularity, now_ms).await?;
    let total = groups.len();
    let claims = Arc::new(KeyClaims::default());
    let errors: Vec<CosError> = stream::iter(groups)
        .map(|records| write_partition(objects, &claims, batch, records, &routing, deadline))
        .buffer_unordered(objects.config.concurrency)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await;
    CosError::first_of(errors, total, "topic-partitions")?;
    Ok(Delivery {
        written: batch.len(),
        ..Delivery::default()
    })
}

async fn write_partition(
    objects: &Arc<Objects>,
    claims: &Arc<KeyClaims>,
    batch: &Batch<'_>,
    records: Vec<usize>,
    routing_ms: &[i64],
    deadline: Deadline,
) -> Result<(), CosError> {
    let content_bytes = records
        .iter()
        .filter_map(|&i| batch.get(i))
        .map(|r| r.payload_len() + 1)
        .sum();
    let mut writer = PartitionWriter::new(Arc::clone(objects), Arc::clone(claims), content_bytes, deadline);
    for &i in &records {
        let record = batch.get(i).expect("groups index the batch");
        writer.push(&record, routing_ms[i]).await?;
    }
    writer.finish().await.map(drop)
}

/// The dating ledgers of undated records, one object per topic-partition beside the checkpoints.
struct Ledgers<'a> {
    objects: &'a Objects,
    deadline: Deadline,
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

/// Record indices grouped by topic-partition, in batch order within each group and by first appearance.
fn by_partition(batch: &Batch<'_>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<(&str, i32), usize> = HashMap::new();
    for (i, record) in batch.records().enumerate() {
        let group = *index.entry((record.topic, record.partition)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_partitions_group_in_order() {
        let event = r#"{"Records":[
            {"Ckafka":{"topic":"a","partition":0,"offset":1,"msgKey":"None","msgBody":"x"}},
            {"Ckafka":{"topic":"a","partition":1,"offset":5,"msgKey":"None","msgBody":"y"}},
            {"Ckafka":{"topic":"a","partition":0,"offset":2,"msgKey":"None","msgBody":"z"}},
            {"Ckafka":{"topic":"b","partition":0,"offset":9,"msgKey":"None","msgBody":"w"}}]}"#;
        let batch = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
        assert_eq!(by_partition(&batch), vec![vec![0, 2], vec![1], vec![3]]);
    }
}
