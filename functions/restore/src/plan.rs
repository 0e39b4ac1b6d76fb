//! What a run restores and where: the backup's objects in offset order per partition, where each record
//! goes, and the job's progress in the bucket. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use ckafka_dump_sink_kafka::partition::murmur2;

use crate::backup::Compression;
use crate::config::Partitioning;

/// One object of the backup, placed by its first offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackupObject {
    pub start_offset: i64,
    pub key: String,
    pub size: u64,
    pub compression: Compression,
}

/// Each partition's objects, in the order they are read: by first offset, then key.
pub type Plan = BTreeMap<i32, Vec<BackupObject>>;

pub fn order(plan: &mut Plan) {
    for objects in plan.values_mut() {
        objects.sort();
    }
}

/// The objects of a partition still to read after `resume`, the object a run was reading when it stopped
/// (every object before it was read to its end; it too, when `read_to_end`).
pub fn objects_from<'p>(objects: &'p [BackupObject], resume: Option<&Resume>) -> &'p [BackupObject] {
    match resume {
        None => objects,
        Some(resume) => {
            let at = objects
                .partition_point(|o| (o.start_offset, o.key.as_str()) < (resume.start_offset, resume.key.as_str()));
            let done = resume.read_to_end && objects.get(at).is_some_and(|o| o.key == resume.key);
            &objects[at + usize::from(done)..]
        }
    }
}

/// Where a record goes: its partition number, its key's hash, or one partition.
pub fn target_partition(partitioning: Partitioning, one: i32, key: Option<&[u8]>, source: i32, count: i32) -> i32 {
    match (partitioning, key) {
        (Partitioning::Same, _) => source,
        (Partitioning::KeyHash, Some(key)) => (murmur2(key) & 0x7fff_ffff) % count,
        (Partitioning::KeyHash, None) => source % count,
        (Partitioning::One, _) => one,
    }
}

/// Why the target cannot take the plan, naming both counts.
pub fn partition_problem(
    partitioning: Partitioning,
    one: i32,
    sources: &[i32],
    topic: &str,
    count: i32,
) -> Option<String> {
    let needed = match partitioning {
        Partitioning::Same => sources.iter().max().map_or(0, |p| p + 1),
        Partitioning::KeyHash => 0,
        Partitioning::One => one + 1,
    };
    (needed > count).then(|| match partitioning {
        Partitioning::One => format!("restore_target_partition is {one}, but topic `{topic}` has {count} partitions"),
        _ => format!(
            "the backup has partitions up to {} ({needed} partitions), but topic `{topic}` has {count}: add partitions, or set restore_partitioning=key_hash or one",
            needed - 1
        ),
    })
}

/// The object a partition was being read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub start_offset: i64,
    pub key: String,
    /// The run read it to its end: the partition's last object, which later runs need not read again.
    #[serde(default)]
    pub read_to_end: bool,
}

/// A partition's progress, `<prefix>.ckafka-dump/restore/<job>/<partition>.json`: written after the broker
/// acknowledged every record before `next_offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub job: String,
    pub topic: String,
    pub partition: i32,
    /// The first source offset not yet restored (or passed over).
    pub next_offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Set before the records from `next_offset` through this are produced, cleared after their progress is
    /// saved: a run that finds it set reads the target's provenance headers before producing them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producing_through: Option<i64>,
    /// Records produced so far by the job.
    pub produced: u64,
    /// Per target partition, the offset after the last record of this partition's it acknowledged: where a
    /// run that finds `producing_through` set starts reading.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_offsets: BTreeMap<i32, i64>,
    pub updated_ms: i64,
}

impl Progress {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("progress always serializes")
    }

    pub fn parse(key: &str, body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body)
            .map_err(|e| format!("{key}: unreadable restore progress ({e}); delete it to start the partition over"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(start_offset: i64, key: &str) -> BackupObject {
        BackupObject {
            start_offset,
            key: key.into(),
            size: 1,
            compression: Compression::None,
        }
    }

    #[test]
    fn objects_are_read_by_first_offset_and_a_run_resumes_at_its_object() {
        let mut plan = Plan::new();
        plan.insert(
            0,
            vec![object(200, "b"), object(0, "z"), object(100, "c"), object(100, "a")],
        );
        order(&mut plan);
        let keys = |objects: &[BackupObject]| objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&plan[&0]), ["z", "a", "c", "b"]);
        let resume = |start_offset, key: &str, read_to_end| Resume {
            start_offset,
            key: key.into(),
            read_to_end,
        };
        assert_eq!(
            keys(objects_from(&plan[&0], Some(&resume(100, "c", false)))),
            ["c", "b"]
        );
        assert_eq!(keys(objects_from(&plan[&0], Some(&resume(150, "gone", false)))), ["b"]);
        assert_eq!(keys(objects_from(&plan[&0], Some(&resume(200, "b", false)))), ["b"]);
        assert!(
            objects_from(&plan[&0], Some(&resume(200, "b", true))).is_empty(),
            "a complete partition reads nothing"
        );
    }

    #[test]
    fn records_go_to_their_partition_their_key_hash_or_one() {
        assert_eq!(target_partition(Partitioning::Same, 0, Some(b"k"), 3, 4), 3);
        // Kafka's partitioner: `Utils.toPositive(murmur2(key)) % count`.
        assert_eq!(
            target_partition(Partitioning::KeyHash, 0, Some(b"k"), 3, 4),
            (murmur2(b"k") & 0x7fff_ffff) % 4
        );
        assert_eq!(target_partition(Partitioning::KeyHash, 0, None, 5, 4), 1);
        assert_eq!(target_partition(Partitioning::One, 2, Some(b"k"), 3, 4), 2);
        let e = partition_problem(Partitioning::Same, 0, &[0, 5], "t", 3).unwrap();
        assert!(e.contains("up to 5 (6 partitions)") && e.contains("`t` has 3"), "{e}");
        assert!(partition_problem(Partitioning::Same, 0, &[0, 2], "t", 3).is_none());
        assert!(partition_problem(Partitioning::KeyHash, 0, &[9], "t", 1).is_none());
        assert!(partition_problem(Partitioning::One, 3, &[0], "t", 3)
            .unwrap()
            .contains("restore_target_partition is 3"));
    }
}
