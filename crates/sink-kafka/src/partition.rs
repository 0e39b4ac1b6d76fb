//! Target partition choice. `murmur2` is the Java client's (and kafka-python's) hash, so keyed records
//! land where other producers would put the same key.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::PartitionStrategy;

/// Kafka's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Chooses partitions; the round-robin position survives across warm invocations.
#[derive(Debug, Default)]
pub struct Partitioner {
    next: AtomicUsize,
}

impl Partitioner {
    pub fn choose(
        &self,
        strategy: PartitionStrategy,
        key: Option<&[u8]>,
        source_partition: i32,
        partitions: i32,
    ) -> i32 {
        match (strategy, key) {
            (PartitionStrategy::Same, _) if source_partition < partitions => source_partition,
            (PartitionStrategy::Same | PartitionStrategy::Key, Some(key)) => (murmur2(key) & 0x7fff_ffff) % partitions,
            _ => (self.next.fetch_add(1, Ordering::Relaxed) % partitions as usize) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Kafka's UtilsTest.testMurmur2 vectors.
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            ("abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn strategies() {
        let p = Partitioner::default();
        assert_eq!(p.choose(PartitionStrategy::Same, None, 2, 4), 2);
        let by_key = p.choose(PartitionStrategy::Key, Some(b"foobar"), 0, 4);
        assert_eq!(by_key, (-790332482i32 & 0x7fff_ffff) % 4);
        assert_eq!(
            p.choose(PartitionStrategy::Same, Some(b"foobar"), 9, 4),
            by_key,
            "too few partitions: by key"
        );
        let spread: Vec<i32> = (0..4)
            .map(|_| p.choose(PartitionStrategy::RoundRobin, Some(b"k"), 0, 4))
            .collect();
        let mut sorted = spread.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3]);
    }
}
