//! Fencing the runs of one partition. In trigger mode an invocation holds its partition's lease while it
//! writes (two invocations of one partition may overlap on both platforms). In the scheduled mode a timer may
//! fire while the previous run still drains (a backlog, a slow store), and both platforms run both. Before a run writes the object that starts at
//! offset N — and the checkpoint after it — it takes the lease of N: it creates
//! `<partition>.leases/<N>-<attempt>.json` only if that key holds nothing (S3 `If-None-Match: *`, COS
//! `x-cos-forbid-overwrite`), so of runs that read the same checkpoint exactly one goes on and the others
//! leave the partition to it. The holder takes the lease of the next object's first offset before it writes
//! the checkpoint that points there, so a run reading the new checkpoint finds it held too.
//!
//! A lease expires a margin after its run's deadline, when that run can no longer write: a run that died
//! holding one delays its partition until then, and the next run takes the next attempt number. Pure: the
//! lease, its key and whether it still holds.

use serde::{Deserialize, Serialize};

use crate::error::CosError;

/// How long after its run's deadline a lease still holds: a request sent before the deadline may still land,
/// and hosts' clocks differ a little.
pub const MARGIN_MS: i64 = 10_000;

/// Attempts at one offset (each a run that died holding it) before the partition is reported stuck.
pub const MAX_ATTEMPTS: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub topic: String,
    pub partition: i32,
    /// The scheduled mode's: the offset whose object, and the checkpoint after it, only the holder may write.
    /// None for the trigger mode's lease of a whole partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    pub attempt: u32,
    /// The run holding it, for people reading the bucket.
    pub holder: String,
    /// Epoch milliseconds after which it no longer holds: the holder's deadline plus [`MARGIN_MS`].
    pub expires_ms: i64,
}

impl Lease {
    pub fn holds_at(&self, now_ms: i64) -> bool {
        now_ms <= self.expires_ms
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lease always serializes")
    }

    pub fn parse(key: &str, body: &[u8]) -> Result<Self, CosError> {
        serde_json::from_slice(body).map_err(|e| CosError::Lease {
            key: key.to_owned(),
            reason: format!("unreadable ({e}); delete it"),
            retryable: false,
        })
    }
}

/// What a lease fences: the scheduled mode's object starting at an offset, or a trigger batch's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    Offset(i64),
    Partition,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::lease_key;

    #[test]
    fn a_lease_holds_until_it_expires_and_round_trips() {
        let lease = Lease {
            topic: "orders".into(),
            partition: 2,
            offset: Some(300),
            attempt: 1,
            holder: "run-1".into(),
            expires_ms: 1_000,
        };
        assert!(lease.holds_at(999) && lease.holds_at(1_000) && !lease.holds_at(1_001));
        assert_eq!(Lease::parse("k", &lease.to_json()).unwrap(), lease);
        assert_eq!(
            lease_key("dump/", "kafka", "orders", 2, Fenced::Offset(300), 1),
            "dump/.ckafka-dump/kafka/orders/2.leases/0000000000000000300-0001.json"
        );
        assert_eq!(
            lease_key("dump/", "kafka", "orders", 2, Fenced::Partition, 3),
            "dump/.ckafka-dump/kafka/orders/2.leases/trigger-0003.json"
        );
        assert!(Lease::parse("k", b"{").unwrap_err().to_string().contains("k"));
    }
}
