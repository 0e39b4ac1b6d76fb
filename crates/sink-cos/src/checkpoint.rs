//! A partition's progress in the scheduled mode, kept in the bucket next to the data: written after each
//! data object, so a run that dies between the two re-writes that object's key on the next run.

use serde::{Deserialize, Serialize};

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

/// `<prefix>.ckafka-dump/<instance>/<topic>/<partition>.json`: beside the data, apart from its keys.
pub fn checkpoint_key(prefix: &str, instance: &str, topic: &str, partition: i32) -> String {
    format!("{prefix}.ckafka-dump/{instance}/{topic}/{partition}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_under_their_own_folder() {
        assert_eq!(
            checkpoint_key("dump/", "kafka", "orders", 2),
            "dump/.ckafka-dump/kafka/orders/2.json"
        );
        let c = Checkpoint {
            topic: "orders".into(),
            partition: 2,
            next_offset: 100,
            last_object: Some("k".into()),
            updated: "2026-11-22T03:00:00.000Z".into(),
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&text).unwrap(), c);
    }
}
