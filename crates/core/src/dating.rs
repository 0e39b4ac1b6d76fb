//! Routing times for records that carry no timestamp (Tencent SCF CKafka events), so that a re-delivered
//! batch lands where its first delivery did whatever the clock says by then. A date or hour taken from
//! the wall clock would send the same records to a second index or object key once midnight (or the hour)
//! has passed, duplicating them.
//!
//! Per topic-partition a small [`Ledger`] records, in offset order, when offsets were first seen: offsets
//! up to `high` have been dated, each by the stamp that covers it; offsets above it are new and get "now".
//! The sink saves a changed ledger before it writes the records, so a failed write is re-delivered under
//! the same dates. Records with a timestamp (AWS events) are routed by it and need no ledger.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::record::Record;
use crate::time::Zone;

/// The finest time unit a sink's routing renders (an index per day or hour, a key with `{timestamp}`):
/// a new stamp is needed only when "now" falls into a new unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Hour,
    Millisecond,
}

impl Granularity {
    /// The unit `epoch_ms` falls in, as the clocks of `zone` count days and hours.
    fn unit(self, epoch_ms: i64, zone: &Zone) -> i64 {
        let local_ms = epoch_ms.saturating_add(i64::from(zone.date_time(epoch_ms).offset_seconds) * 1000);
        match self {
            Granularity::Day => local_ms.div_euclid(86_400_000),
            Granularity::Hour => local_ms.div_euclid(3_600_000),
            Granularity::Millisecond => epoch_ms,
        }
    }
}

/// Offsets from `from` on were first seen at `epoch_ms` (until the next stamp's `from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub from: i64,
    pub epoch_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// In offset order.
    pub stamps: Vec<Stamp>,
    /// The highest offset dated so far; `None` before the first.
    pub high: Option<i64>,
}

impl Ledger {
    /// Stamps kept; older ones go first (a re-delivery that old is dated anew).
    pub const MAX_STAMPS: usize = 2000;

    /// The routing time of each of `offsets`, dating the ones never seen with `now_ms` (a new stamp when
    /// `now_ms` is in a new unit of `zone`'s days or hours); `true` when the ledger changed and must be
    /// saved before the records are written.
    pub fn date(&mut self, offsets: &[i64], now_ms: i64, granularity: Granularity, zone: &Zone) -> (Vec<i64>, bool) {
        let first_new = offsets.iter().copied().filter(|&o| !self.has_seen(o)).min();
        let changed = first_new.is_some();
        if let Some(first_new) = first_new {
            let same_unit = self
                .stamps
                .last()
                .is_some_and(|s| granularity.unit(s.epoch_ms, zone) == granularity.unit(now_ms, zone));
            if !same_unit {
                self.stamps.push(Stamp {
                    from: first_new,
                    epoch_ms: now_ms,
                });
                let excess = self.stamps.len().saturating_sub(Self::MAX_STAMPS);
                self.stamps.drain(..excess);
            }
            self.high = offsets.iter().copied().max().max(self.high);
        }
        let times = offsets.iter().map(|&o| self.time_of(o).unwrap_or(now_ms)).collect();
        (times, changed)
    }

    /// Whether `offset` has been dated: its date is then fixed, in every copy of the ledger.
    fn has_seen(&self, offset: i64) -> bool {
        self.high.is_some_and(|high| offset <= high)
    }

    /// When `offset` was first seen, if the ledger knows.
    fn time_of(&self, offset: i64) -> Option<i64> {
        if !self.has_seen(offset) {
            return None;
        }
        let covering = self.stamps.partition_point(|s| s.from <= offset);
        covering.checked_sub(1).map(|i| self.stamps[i].epoch_ms)
    }
}

/// Where a sink keeps its ledgers (an object beside the data, a document beside the indices).
pub trait LedgerStore: Send + Sync {
    type Error;

    fn load(&self, topic: &str, partition: i32) -> impl Future<Output = Result<Option<Ledger>, Self::Error>> + Send;

    fn save(
        &self,
        topic: &str,
        partition: i32,
        ledger: &Ledger,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The ledgers a warm process has read or written, so a re-delivered batch is dated without a round trip to
/// the store. New offsets always read the store first: another instance may have dated further, and a
/// ledger saved from an older copy would forget those offsets.
#[derive(Debug, Default)]
pub struct LedgerCache(Mutex<HashMap<(String, i32), Ledger>>);

impl LedgerCache {
    fn get(&self, topic: &str, partition: i32) -> Option<Ledger> {
        let ledgers = self.0.lock().expect("not poisoned");
        ledgers.get(&(topic.to_owned(), partition)).cloned()
    }

    fn put(&self, topic: &str, partition: i32, ledger: Ledger) {
        self.0
            .lock()
            .expect("not poisoned")
            .insert((topic.to_owned(), partition), ledger);
    }
}

/// The routing time of every one of `records`: its own timestamp, or for an undated record the time its
/// offset was first seen (by `granularity` in `zone`). Without a granularity (the sink renders no time) or without
/// undated records, no ledger is read or written.
pub async fn routing_times<'r, S: LedgerStore>(
    store: &S,
    cache: &LedgerCache,
    records: impl IntoIterator<Item = Record<'r>>,
    granularity: Option<Granularity>,
    zone: &Zone,
    now_ms: i64,
) -> Result<Vec<i64>, S::Error> {
    let mut times = Vec::new();
    let mut undated: Vec<Undated<'r>> = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        times.push(record.timestamp.map_or(now_ms, |t| t.millis));
        if record.timestamp.is_some() || granularity.is_none() {
            continue;
        }
        let at = undated
            .iter()
            .position(|u| u.partition == record.partition && u.topic == record.topic)
            .unwrap_or_else(|| {
                undated.push(Undated {
                    topic: record.topic,
                    partition: record.partition,
                    positions: Vec::new(),
                    offsets: Vec::new(),
                });
                undated.len() - 1
            });
        undated[at].positions.push(i);
        undated[at].offsets.push(record.offset);
    }
    let Some(granularity) = granularity else {
        return Ok(times);
    };
    for u in undated {
        let mut ledger = match cache.get(u.topic, u.partition) {
            Some(cached) if u.offsets.iter().all(|&o| cached.has_seen(o)) => cached,
            _ => store.load(u.topic, u.partition).await?.unwrap_or_default(),
        };
        let (dated, changed) = ledger.date(&u.offsets, now_ms, granularity, zone);
        if changed {
            store.save(u.topic, u.partition, &ledger).await?;
        }
        cache.put(u.topic, u.partition, ledger);
        for (i, time) in u.positions.into_iter().zip(dated) {
            times[i] = time;
        }
    }
    Ok(times)
}

/// The undated records of one partition: their positions among the records, and their offsets.
struct Undated<'r> {
    topic: &'r str,
    partition: i32,
    positions: Vec<usize>,
    offsets: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    const DAY: i64 = 86_400_000;
    const BEFORE_MIDNIGHT: i64 = 20_000 * DAY - 1_000;
    const AFTER_MIDNIGHT: i64 = 20_000 * DAY + 1_000;

    #[test]
    fn a_redelivery_after_midnight_keeps_the_first_date_and_new_offsets_get_the_new_one() {
        let mut ledger = Ledger::default();
        let (first, changed) = ledger.date(&[10, 11, 12], BEFORE_MIDNIGHT, Granularity::Day, &Zone::utc());
        assert_eq!((first, changed), (vec![BEFORE_MIDNIGHT; 3], true));
        let (again, changed) = ledger.date(&[10, 11, 12], AFTER_MIDNIGHT, Granularity::Day, &Zone::utc());
        assert_eq!((again, changed), (vec![BEFORE_MIDNIGHT; 3], false));
        let (mixed, changed) = ledger.date(&[12, 13], AFTER_MIDNIGHT, Granularity::Day, &Zone::utc());
        assert_eq!((mixed, changed), (vec![BEFORE_MIDNIGHT, AFTER_MIDNIGHT], true));
        assert_eq!(ledger.stamps.len(), 2);
        assert_eq!(ledger.high, Some(13));
        let (old, _) = ledger.date(&[11, 13], AFTER_MIDNIGHT + DAY, Granularity::Day, &Zone::utc());
        assert_eq!(old, [BEFORE_MIDNIGHT, AFTER_MIDNIGHT]);
    }

    #[test]
    fn stamps_are_added_only_when_now_is_in_a_new_unit() {
        let mut ledger = Ledger::default();
        ledger.date(&[1], 1_000, Granularity::Hour, &Zone::utc());
        ledger.date(&[2], 2_000, Granularity::Hour, &Zone::utc());
        assert_eq!(ledger.stamps.len(), 1, "the same hour needs no new stamp");
        ledger.date(&[3], 3_600_000, Granularity::Hour, &Zone::utc());
        assert_eq!(ledger.stamps.len(), 2);
        let mut exact = Ledger::default();
        exact.date(&[1], 1_000, Granularity::Millisecond, &Zone::utc());
        exact.date(&[2], 1_001, Granularity::Millisecond, &Zone::utc());
        assert_eq!(exact.stamps.len(), 2);
        for o in 0..(Ledger::MAX_STAMPS as i64 + 5) {
            exact.date(&[o + 3], 2_000 + o, Granularity::Millisecond, &Zone::utc());
        }
        assert_eq!(exact.stamps.len(), Ledger::MAX_STAMPS);
    }

    #[test]
    fn days_are_counted_by_the_zones_clocks() {
        // 16:30 UTC is 00:30 the next day in Beijing: a new stamp there, none in UTC.
        let (evening, late) = (20_000 * DAY + 15 * 3_600_000, 20_000 * DAY + 16 * 3_600_000 + 1_800_000);
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        for (zone, stamps) in [(Zone::utc(), 1), (shanghai, 2)] {
            let mut ledger = Ledger::default();
            ledger.date(&[1], evening, Granularity::Day, &zone);
            let (times, _) = ledger.date(&[2], late, Granularity::Day, &zone);
            assert_eq!(ledger.stamps.len(), stamps, "{}", zone.name());
            assert_eq!(times[0], if stamps == 1 { evening } else { late });
        }
    }

    #[test]
    fn offsets_older_than_the_ledger_are_dated_now() {
        let mut ledger = Ledger::default();
        ledger.date(&[100], BEFORE_MIDNIGHT, Granularity::Day, &Zone::utc());
        let (times, _) = ledger.date(&[50], AFTER_MIDNIGHT, Granularity::Day, &Zone::utc());
        assert_eq!(times, [AFTER_MIDNIGHT]);
    }

    /// Ledgers, saves, loads.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<(String, i32), Ledger>>, Mutex<usize>, Mutex<usize>);

    impl LedgerStore for Memory {
        type Error = std::convert::Infallible;
        async fn load(&self, topic: &str, partition: i32) -> Result<Option<Ledger>, Self::Error> {
            *self.2.lock().unwrap() += 1;
            Ok(self.0.lock().unwrap().get(&(topic.to_owned(), partition)).cloned())
        }
        async fn save(&self, topic: &str, partition: i32, ledger: &Ledger) -> Result<(), Self::Error> {
            *self.1.lock().unwrap() += 1;
            self.0
                .lock()
                .unwrap()
                .insert((topic.to_owned(), partition), ledger.clone());
            Ok(())
        }
    }

    /// Routing times by day in UTC.
    async fn by_day(store: &Memory, cache: &LedgerCache, batch: &crate::Batch<'_>, now_ms: i64) -> Vec<i64> {
        routing_times(
            store,
            cache,
            batch.records(),
            Some(Granularity::Day),
            &Zone::utc(),
            now_ms,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn batches_route_dated_records_by_their_timestamp_and_undated_ones_by_the_ledger() {
        let scf = include_str!("../../../events/scf-ckafka-multi-partition.json");
        let batch = crate::decode(scf).unwrap().into_batch().unwrap();
        let store = Memory::default();
        let first = by_day(&store, &LedgerCache::default(), &batch, BEFORE_MIDNIGHT).await;
        assert_eq!(first, vec![BEFORE_MIDNIGHT; batch.len()]);
        let saves = *store.1.lock().unwrap();
        assert_eq!(saves, batch.partitions().len(), "one ledger per partition, saved once");
        // Another instance (a cache of its own) after midnight reads the ledgers and dates as the first did.
        let other = LedgerCache::default();
        let again = by_day(&store, &other, &batch, AFTER_MIDNIGHT).await;
        assert_eq!(again, first);
        assert_eq!(*store.1.lock().unwrap(), saves, "nothing new: no save");
        let loads = *store.2.lock().unwrap();
        let warm = by_day(&store, &other, &batch, AFTER_MIDNIGHT).await;
        assert_eq!(warm, first);
        assert_eq!(*store.2.lock().unwrap(), loads, "a warm re-delivery needs no load");
        // The same day, a third instance dates offset 1300 of partition 0; then the warm instance above gets
        // 1250, new to its copy: it must read the store before saving, or the ledger would forget 1300.
        let one = |offset: i64| {
            format!(
                r#"{{"Records":[{{"Ckafka":{{"topic":"app-log","partition":0,"offset":{offset},"msgKey":"None","msgBody":"x"}}}}]}}"#
            )
        };
        let (later, earlier) = (one(1300), one(1250));
        let later = crate::decode(&later).unwrap().into_batch().unwrap();
        let earlier = crate::decode(&earlier).unwrap().into_batch().unwrap();
        let third = LedgerCache::default();
        by_day(&store, &third, &later, BEFORE_MIDNIGHT + 100).await;
        by_day(&store, &other, &earlier, BEFORE_MIDNIGHT + 200).await;
        let mut saved = store.0.lock().unwrap()[&("app-log".to_owned(), 0)].clone();
        assert_eq!(saved.high, Some(1300));
        let (redelivered, _) = saved.date(&[1300], AFTER_MIDNIGHT, Granularity::Day, &Zone::utc());
        assert_eq!(
            redelivered,
            [BEFORE_MIDNIGHT],
            "1300 keeps its first date after the warm instance's save"
        );
        let unrouted = routing_times(&store, &other, batch.records(), None, &Zone::utc(), AFTER_MIDNIGHT)
            .await
            .unwrap();
        assert_eq!(unrouted, vec![AFTER_MIDNIGHT; batch.len()]);

        let msk = include_str!("../../../events/aws-msk.json");
        let dated = crate::decode(msk).unwrap().into_batch().unwrap();
        let empty = Memory::default();
        let times = by_day(&empty, &LedgerCache::default(), &dated, AFTER_MIDNIGHT).await;
        let own: Vec<i64> = dated.records().map(|r| r.timestamp.unwrap().millis).collect();
        assert_eq!(times, own);
        assert_eq!(*empty.1.lock().unwrap(), 0, "dated records need no ledger");
    }
}
