//! A partition's progress in the scheduled mode, kept in the bucket next to the data: written after each
//! data object, so a run that dies between the two re-writes that object's key on the next run. Pure:
//! the key, reading a checkpoint, and the checkpoint an object leads to.

use ckafka_dump_core::time::DateTime;
use ckafka_dump_core::OffsetRanges;
use serde::{Deserialize, Serialize};

use crate::error::CosError;
use crate::writer::ObjectWritten;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub topic: String,
    pub partition: i32,
    /// The first offset not yet in an object: every offset before it (from where the dump began) is in
    /// exactly one object.
    pub next_offset: i64,
    /// The object that ends just before `next_offset`, for people reading the bucket.
    pub last_object: Option<String>,
    pub updated: String,
}

impl Checkpoint {
    /// Where a partition starts when nothing is written yet (`last_object` none), or continues after
    /// `object`.
    pub fn new(
        topic: &str,
        partition: i32,
        next_offset: i64,
        last_object: Option<&ObjectWritten>,
        now_ms: i64,
    ) -> Self {
        Checkpoint {
            topic: topic.to_owned(),
            partition,
            next_offset,
            last_object: last_object.map(|o| o.key.clone()),
            updated: DateTime::from_epoch_ms(now_ms).rfc3339(),
        }
    }

    pub fn after(object: &ObjectWritten, topic: &str, partition: i32, now_ms: i64) -> Self {
        Checkpoint::new(topic, partition, object.last_offset + 1, Some(object), now_ms)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a checkpoint always serializes")
    }

    pub fn parse(key: &str, body: &[u8]) -> Result<Self, CosError> {
        serde_json::from_slice(body).map_err(|e| CosError::Checkpoint {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// The offsets of a partition trigger mode has written to objects, whatever the batches' boundaries and order:
/// a delivery writes only the records of offsets outside these ranges, then adds its span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenOffsets {
    pub topic: String,
    pub partition: i32,
    /// [`OffsetRanges`] text: `0-99,250-260`.
    pub written: String,
    pub updated: String,
}

impl WrittenOffsets {
    pub fn new(topic: &str, partition: i32, ranges: &OffsetRanges, now_ms: i64) -> Self {
        WrittenOffsets {
            topic: topic.to_owned(),
            partition,
            written: ranges.to_string(),
            updated: DateTime::from_epoch_ms(now_ms).rfc3339(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("written offsets always serialize")
    }

    pub fn parse_ranges(key: &str, body: &[u8]) -> Result<OffsetRanges, CosError> {
        let unreadable = |reason: String| CosError::WrittenOffsets {
            key: key.to_owned(),
            reason,
        };
        let written: WrittenOffsets = serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()))?;
        OffsetRanges::parse(&written.written)
            .ok_or_else(|| unreadable(format!("`{}` is no list of offset ranges", written.written)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{checkpoint_key, written_key};

    #[test]
    fn checkpoints_round_trip_under_their_own_folder() {
        assert_eq!(
            checkpoint_key("dump/", "kafka", "orders", 2),
            "dump/.ckafka-dump/kafka/orders/2.json"
        );
        let object = ObjectWritten {
            key: "k".into(),
            records: 3,
            first_offset: 97,
            last_offset: 99,
            content_bytes: 30,
            stored_bytes: 30,
        };
        let c = Checkpoint::after(&object, "orders", 2, 1_795_316_400_000);
        assert_eq!((c.next_offset, c.last_object.as_deref()), (100, Some("k")));
        assert_eq!(c.updated, "2026-11-22T03:00:00.000Z");
        assert_eq!(Checkpoint::parse("key", &c.to_json()).unwrap(), c);
        let ranges = OffsetRanges::parse("0-9,20-29").unwrap();
        let written = WrittenOffsets::new("orders", 2, &ranges, 0);
        assert_eq!(WrittenOffsets::parse_ranges("k", &written.to_json()).unwrap(), ranges);
        assert_eq!(
            written_key("dump/", "kafka", "orders", 2),
            "dump/.ckafka-dump/kafka/orders/2.written.json"
        );
        let broken = Checkpoint::parse("dump/.ckafka-dump/kafka/orders/2.json", b"{").unwrap_err();
        assert!(broken.to_string().contains("orders/2.json is unreadable"), "{broken}");
    }
}
