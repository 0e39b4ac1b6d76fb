//! One run of a restore job: list the backup once, then per source partition (several at a time) take its
//! lease, read its objects in offset order from where the job stopped, and produce the records in windows —
//! each window's progress saved in the bucket after the broker acknowledged it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression as WireCompression, OffsetAt, PartitionClient};
use serde::Serialize;
use tokio::time::Instant;

use ckafka_dump_core::sink::split_by_size;
use ckafka_dump_core::{Deadline, Drained};
use ckafka_dump_kafka::error::record_refusal;
use ckafka_dump_kafka::{KafkaClient, KafkaError};
use ckafka_dump_sink_cos::error::CosError;
use ckafka_dump_sink_cos::fence::{run_id, store_fences, Fence, Held};
use ckafka_dump_sink_cos::lease::Fenced;
use ckafka_dump_sink_cos::naming::{checkpoint_key, KeyReader};
use ckafka_dump_sink_cos::store::{by_cutoff, Created};
use ckafka_dump_sink_cos::writer::Objects;
use ckafka_dump_sink_kafka::request::{
    add_keeping_own, provenance, SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER, SOURCE_TOPIC_HEADER,
};

use crate::backup::{content_of, parse_line, BackedUp, ObjectLines};
use crate::config::{Partitioning, RestoreConfig};
use crate::error::RestoreError;
use crate::plan::{objects_from, order, partition_problem, target_partition, BackupObject, Plan, Progress, Resume};

/// Per-record framing a produce request adds on top of key, value and headers (a generous bound).
const RECORD_OVERHEAD: usize = 64;

/// How long a fetch of the target's end may wait for records: there are some, so a broker answers at once
/// (tansu answers a fetch that may not wait with no topic at all).
const FETCH_WAIT_MS: i32 = 500;

/// The folder of restore jobs under `.ckafka-dump/`.
const SCOPE: &str = "restore";

/// Counters a terminal's progress line reads while a run goes on.
#[derive(Debug, Default)]
pub struct Meter {
    pub objects: AtomicU64,
    pub object_bytes: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// Bytes of the objects the run has to read: the ETA's whole.
    pub planned_bytes: AtomicU64,
}

/// What a run did with one partition (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionReport {
    pub partition: i32,
    pub objects: usize,
    /// Records produced (dry: in range and not yet restored).
    pub records: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_time_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_time_ms: Option<i64>,
    /// Records of an offset already read from another object (overlapping objects).
    pub duplicates: u64,
    /// Records out of the offset or time range.
    pub out_of_range: u64,
    /// Records a killed run had produced without saving its progress, found in the target and not produced again.
    pub already_in_target: u64,
    /// Another run of the job holds the partition.
    pub held_elsewhere: bool,
    /// Every object of the partition has been read.
    pub complete: bool,
}

impl PartitionReport {
    fn counted(&mut self, offset: i64, timestamp: Option<i64>, size: usize) {
        self.records += 1;
        self.bytes += size as u64;
        self.first_offset = Some(self.first_offset.map_or(offset, |f| f.min(offset)));
        self.last_offset = self.last_offset.max(Some(offset));
        if let Some(t) = timestamp {
            self.first_time_ms = Some(self.first_time_ms.map_or(t, |f| f.min(t)));
            self.last_time_ms = Some(self.last_time_ms.map_or(t, |l| l.max(t)));
        }
    }
}

/// A run's result: the JSON summary of `restore run` and the timer's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub job: String,
    pub source_topic: String,
    pub target_topic: String,
    pub dry_run: bool,
    /// Every partition is restored: later runs have nothing to do.
    pub complete: bool,
    pub objects: usize,
    pub records: u64,
    pub bytes: u64,
    pub partitions: Vec<PartitionReport>,
}

impl Report {
    pub fn drained(&self) -> Drained {
        Drained {
            records: self.records as usize,
            bytes: self.bytes as usize,
            held_elsewhere: self.partitions.iter().filter(|p| p.held_elsewhere).count(),
            ..Drained::default()
        }
    }
}

pub struct Restore {
    pub config: RestoreConfig,
    pub objects: Objects,
    kafka: KafkaClient,
    keys: KeyReader,
    clock: fn() -> i64,
}

/// A record waiting in a window, as it will be produced, with the object it came from (to name it when the
/// target refuses it).
struct Pending {
    record: rskafka::record::Record,
    offset: i64,
    timestamp: Option<i64>,
    size: usize,
    object: usize,
    target: i32,
}

impl Restore {
    pub fn new(config: RestoreConfig) -> Result<Arc<Self>, RestoreError> {
        let backup = &config.backup;
        let keys = KeyReader::new(
            &backup.key_template,
            &backup.prefix,
            &backup.instance,
            backup.topic_id.as_deref(),
            &config.source_topic,
        );
        let kafka = KafkaClient::new(config.connection.clone())?;
        let objects = Objects::new(config.backup.clone());
        Ok(Arc::new(Restore {
            config,
            objects,
            kafka,
            keys,
            clock: ckafka_dump_core::time::now_epoch_ms,
        }))
    }

    pub fn target(&self) -> String {
        format!("topic {} on {}", self.config.target_topic, self.kafka.brokers())
    }

    /// The backup's objects of the source topic, per partition in reading order. Keys the template did not
    /// write are placed by their first record.
    pub async fn plan(&self, deadline: Deadline) -> Result<Plan, RestoreError> {
        let store = &self.objects.store;
        let listing_prefix = self.keys.listing_prefix();
        let listed = tokio::time::timeout_at(deadline.cutoff(), store.list(listing_prefix))
            .await
            .map_err(|_| RestoreError::Deadline {
                what: format!("listing {listing_prefix}"),
            })??;
        let backup = &self.config.backup;
        let bookkeeping = format!("{}.ckafka-dump/", backup.prefix);
        let mut plan = Plan::new();
        for object in listed {
            let key = object.key;
            if key.starts_with(&bookkeeping) || backup.dead_letter_prefix.as_deref().is_some_and(|d| key.starts_with(d))
            {
                continue;
            }
            let Some(compression) = content_of(&key).map_err(|reason| RestoreError::backup(&key, reason))? else {
                continue;
            };
            let (partition, start_offset) = match self.keys.read(&key) {
                Some(at) => (at.partition, at.start_offset),
                None => match self.first_record(&key, compression, deadline).await? {
                    Some(first) if first.topic == self.config.source_topic => (first.partition, first.offset),
                    _ => continue,
                },
            };
            if !self.config.partitions.is_empty() && !self.config.partitions.contains(&partition) {
                continue;
            }
            plan.entry(partition).or_default().push(BackupObject {
                start_offset,
                key,
                size: object.size,
                compression,
            });
        }
        order(&mut plan);
        Ok(plan)
    }

    async fn first_record(
        &self,
        key: &str,
        compression: crate::backup::Compression,
        deadline: Deadline,
    ) -> Result<Option<BackedUp>, RestoreError> {
        let Some(mut lines) = self.open(key, compression, deadline).await? else {
            return Ok(None);
        };
        let line = lines.next_line().await.map_err(|e| read_error(key, e))?;
        line.map(|line| parse_line(line).map_err(|reason| RestoreError::backup(key, reason)))
            .transpose()
    }

    async fn open(
        &self,
        key: &str,
        compression: crate::backup::Compression,
        deadline: Deadline,
    ) -> Result<Option<ObjectLines>, RestoreError> {
        let reader = by_cutoff(deadline, "GetObject", key, self.objects.store.read(key)).await?;
        reader
            .map(|reader| {
                ObjectLines::new(reader, compression, deadline.cutoff())
                    .map_err(|e| RestoreError::backup(key, e.to_string()))
            })
            .transpose()
    }

    /// One run: every partition until it is restored or the deadline nears.
    /// Partitions run as tasks of their own, so that reading and encoding use every core.
    pub async fn run(
        self: &Arc<Self>,
        deadline: Deadline,
        dry_run: bool,
        meter: &Arc<Meter>,
    ) -> Result<Report, RestoreError> {
        let plan = self.plan(deadline).await?;
        let sources: Vec<i32> = plan.keys().copied().collect();
        let target_partitions = if dry_run {
            0
        } else {
            let count = self.kafka.partition_count(&self.config.target_topic).await?;
            let c = &self.config;
            if let Some(problem) =
                partition_problem(c.partitioning, c.target_partition, &sources, &c.target_topic, count)
            {
                return Err(RestoreError::Target(problem));
            }
            count
        };
        let run: Arc<str> = run_id((self.clock)()).into();
        if !dry_run && !store_fences(&self.objects, &run, deadline).await? {
            return Err(RestoreError::Store(CosError::NoFencing {
                store: self.objects.store.describe(),
            }));
        }
        // Stop starting windows when what is left of the invocation may not see one through.
        let stop_at = deadline.end() - deadline.remaining() / 5;
        let results: Vec<Result<PartitionReport, RestoreError>> = stream::iter(plan)
            .map(|(partition, objects)| {
                let work = PartitionRun {
                    restore: Arc::clone(self),
                    partition,
                    objects,
                    target_partitions,
                    deadline,
                    stop_at,
                    run: Arc::clone(&run),
                    meter: Arc::clone(meter),
                };
                let task = tokio::spawn(async move {
                    match dry_run {
                        true => work.dry().await,
                        false => work.restore().await,
                    }
                });
                async move {
                    task.await.unwrap_or_else(|e| {
                        Err(RestoreError::Target(format!("partition {partition}'s task ended: {e}")))
                    })
                }
            })
            .buffer_unordered(self.config.backup.concurrency.max(1))
            .collect()
            .await;
        let total = results.len();
        let mut report = Report {
            job: self.config.job.clone(),
            source_topic: self.config.source_topic.clone(),
            target_topic: self.config.target_topic.clone(),
            dry_run,
            ..Report::default()
        };
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(partition) => {
                    report.objects += partition.objects;
                    report.records += partition.records;
                    report.bytes += partition.bytes;
                    report.partitions.push(partition);
                }
                Err(e) => errors.push(e),
            }
        }
        RestoreError::first_of(errors, total)?;
        report.partitions.sort_by_key(|p| p.partition);
        report.complete = report.partitions.iter().all(|p| p.complete);
        Ok(report)
    }

    /// The rskafka record produced for a backed-up one: its key, value, headers (in order) and time as
    /// CreateTime, with the provenance headers after its own unless they are turned off.
    fn outgoing(&self, record: BackedUp) -> rskafka::record::Record {
        let mut headers = record.headers;
        if self.config.provenance_headers {
            add_keeping_own(&mut headers, provenance(&record.topic, record.partition, record.offset));
        }
        rskafka::record::Record {
            key: record.key,
            value: record.value,
            headers,
            // Kafka's "no timestamp" for a record it had not dated.
            timestamp: DateTime::<Utc>::from_timestamp_millis(record.timestamp.unwrap_or(-1))
                .expect("epoch milliseconds of an i64 are in chrono's range"),
        }
    }
}

/// The value of the header named `name` that was added last.
fn header<'h>(headers: &'h rskafka::record::Headers, name: &str) -> Option<&'h [u8]> {
    headers.iter().rev().find(|(own, _)| own == name)?.1.as_deref()
}

/// A failed read of an object: bytes that do not decompress are the object's fault; a read cut off by the
/// deadline or the connection may pass on the next run.
fn read_error(key: &str, e: std::io::Error) -> RestoreError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidData => RestoreError::backup(key, e.to_string()),
        ErrorKind::TimedOut => RestoreError::Deadline {
            what: format!("reading {key}"),
        },
        _ => CosError::store("GetObject", key, e.to_string(), true).into(),
    }
}

/// One partition's part of a run.
struct PartitionRun {
    restore: Arc<Restore>,
    partition: i32,
    objects: Vec<BackupObject>,
    target_partitions: i32,
    deadline: Deadline,
    stop_at: Instant,
    run: Arc<str>,
    meter: Arc<Meter>,
}

/// What to do with a record read from the backup.
enum Verdict {
    Restore,
    Duplicate,
    OutOfRange,
}

impl PartitionRun {
    fn progress_key(&self) -> String {
        let c = &self.restore.config;
        checkpoint_key(&c.backup.prefix, SCOPE, &c.job, self.partition)
    }

    fn fence(&self) -> Fence<'_> {
        Fence {
            objects: &self.restore.objects,
            scope: SCOPE,
            topic: &self.restore.config.job,
            partition: self.partition,
            deadline: self.deadline,
            clock: self.restore.clock,
            run: &self.run,
        }
    }

    async fn load(&self) -> Result<Option<Progress>, RestoreError> {
        let key = self.progress_key();
        let body = self.restore.objects.read_bookkeeping(&key, self.deadline).await?;
        body.map(|body| Progress::parse(&key, &body).map_err(|reason| RestoreError::backup(&key, reason)))
            .transpose()
    }

    async fn save(&self, progress: &Progress) -> Result<(), RestoreError> {
        let key = self.progress_key();
        Ok(self
            .restore
            .objects
            .write_bookkeeping(&key, progress.to_json(), self.deadline)
            .await?)
    }

    fn verdict(&self, record: &BackedUp, next_offset: i64) -> Verdict {
        let c = &self.restore.config;
        if record.offset < next_offset {
            Verdict::Duplicate
        } else if !c.offsets.holds(record.offset)
            || (c.times.is_set() && !record.timestamp.is_some_and(|t| c.times.holds(t)))
        {
            Verdict::OutOfRange
        } else {
            Verdict::Restore
        }
    }

    /// An object of the plan, to read: one listed and gone before it is read fails the run (its records would
    /// be passed over), and the next run lists again.
    async fn open_listed(&self, object: &BackupObject) -> Result<ObjectLines, RestoreError> {
        let lines = self
            .restore
            .open(&object.key, object.compression, self.deadline)
            .await?;
        lines.ok_or_else(|| {
            CosError::store("GetObject", &object.key, "listed, then gone before it was read", true).into()
        })
    }

    /// Reads the next record of an object, checking it belongs to this partition.
    async fn next_record(&self, lines: &mut ObjectLines, key: &str) -> Result<Option<BackedUp>, RestoreError> {
        let line = lines.next_line().await.map_err(|e| read_error(key, e))?;
        let Some(line) = line else { return Ok(None) };
        let record = parse_line(line).map_err(|reason| RestoreError::backup(key, reason))?;
        let source = &self.restore.config.source_topic;
        if record.topic != *source || record.partition != self.partition {
            return Err(RestoreError::backup(
                key,
                format!(
                    "holds a record of {}/{} among those of {source}/{}",
                    record.topic, record.partition, self.partition
                ),
            ));
        }
        Ok(Some(record))
    }

    /// What a run would restore: every record in range after the job's progress, nothing written.
    async fn dry(self) -> Result<PartitionReport, RestoreError> {
        let progress = self.load().await?;
        let mut next = progress.as_ref().map_or(0, |p| p.next_offset);
        let mut report = PartitionReport {
            partition: self.partition,
            ..PartitionReport::default()
        };
        for object in objects_from(&self.objects, progress.as_ref().and_then(|p| p.resume.as_ref())) {
            let mut lines = self.open_listed(object).await?;
            report.objects += 1;
            while let Some(record) = self.next_record(&mut lines, &object.key).await? {
                match self.verdict(&record, next) {
                    Verdict::Duplicate => report.duplicates += 1,
                    Verdict::OutOfRange => report.out_of_range += 1,
                    Verdict::Restore => report.counted(record.offset, record.timestamp, record.size()),
                }
                next = next.max(record.offset + 1);
            }
            self.meter.objects.fetch_add(1, Ordering::Relaxed);
            self.meter.object_bytes.fetch_add(object.size, Ordering::Relaxed);
        }
        report.complete = true;
        Ok(report)
    }

    /// The partition's progress and its lease, or `None` when another run holds it.
    async fn take(&self) -> Result<Option<(Progress, Held)>, RestoreError> {
        let c = &self.restore.config;
        for _ in 0..3 {
            let progress = match self.load().await? {
                Some(progress) => progress,
                None => {
                    let first = Progress {
                        job: c.job.clone(),
                        topic: c.source_topic.clone(),
                        partition: self.partition,
                        next_offset: 0,
                        resume: None,
                        producing_through: None,
                        produced: 0,
                        target_offsets: BTreeMap::new(),
                        updated_ms: (self.restore.clock)(),
                    };
                    let key = self.progress_key();
                    match self
                        .restore
                        .objects
                        .create_bookkeeping(&key, first.to_json(), self.deadline)
                        .await?
                    {
                        Created::Created => first,
                        Created::Exists => continue,
                    }
                }
            };
            let Some(held) = self.fence().take(Fenced::Offset(progress.next_offset)).await? else {
                return Ok(None);
            };
            if self.load().await?.map(|p| p.next_offset) == Some(progress.next_offset) {
                return Ok(Some((progress, held)));
            }
            self.fence().release(held).await;
        }
        Ok(None)
    }

    async fn restore(self) -> Result<PartitionReport, RestoreError> {
        let Some((progress, held)) = self.take().await? else {
            tracing::info!(
                partition = self.partition,
                "another run of the job holds this partition; left to it"
            );
            return Ok(PartitionReport {
                partition: self.partition,
                held_elsewhere: true,
                ..PartitionReport::default()
            });
        };
        let mut held = Some(held);
        let result = self.restore_held(progress, &mut held).await;
        if let Some(held) = held {
            self.fence().release(held).await;
        }
        result
    }

    async fn restore_held(
        &self,
        mut progress: Progress,
        held: &mut Option<Held>,
    ) -> Result<PartitionReport, RestoreError> {
        let c = &self.restore.config;
        let mut report = PartitionReport {
            partition: self.partition,
            ..PartitionReport::default()
        };
        let in_target = match (progress.producing_through, c.provenance_headers) {
            (Some(through), true) => self.already_in_target(&progress, through).await?,
            (Some(through), false) => {
                tracing::warn!(
                    partition = self.partition,
                    from = progress.next_offset,
                    through,
                    "a run stopped while producing these records; without provenance headers they cannot be found in the target and are produced again"
                );
                HashMap::new()
            }
            (None, _) => HashMap::new(),
        };
        let mut window: Vec<Pending> = Vec::new();
        let mut window_bytes = 0;
        let mut next = progress.next_offset;
        let todo = objects_from(&self.objects, progress.resume.as_ref());
        let planned: u64 = todo.iter().map(|o| o.size).sum();
        self.meter.planned_bytes.fetch_add(planned, Ordering::Relaxed);
        for (index, object) in todo.iter().enumerate() {
            let resume = Resume {
                start_offset: object.start_offset,
                key: object.key.clone(),
                read_to_end: false,
            };
            if Instant::now() >= self.stop_at {
                self.flush(
                    &mut progress,
                    &mut window,
                    next,
                    Some(resume),
                    held,
                    &in_target,
                    &mut report,
                    todo,
                )
                .await?;
                return Ok(report);
            }
            let mut lines = self.open_listed(object).await?;
            let mut read = 0;
            while let Some(record) = self.next_record(&mut lines, &object.key).await? {
                let offset = record.offset;
                match self.verdict(&record, next) {
                    Verdict::Duplicate => {
                        report.duplicates += 1;
                        continue;
                    }
                    Verdict::OutOfRange => report.out_of_range += 1,
                    Verdict::Restore => {
                        let size = record.size();
                        window_bytes += size + RECORD_OVERHEAD;
                        let target = target_partition(
                            c.partitioning,
                            c.target_partition,
                            record.key.as_deref(),
                            self.partition,
                            self.target_partitions,
                        );
                        window.push(Pending {
                            offset,
                            timestamp: record.timestamp,
                            size,
                            record: self.restore.outgoing(record),
                            object: index,
                            target,
                        });
                    }
                }
                next = offset + 1;
                self.meter
                    .object_bytes
                    .fetch_add(lines.read_bytes - read, Ordering::Relaxed);
                read = lines.read_bytes;
                if window_bytes >= c.window_bytes {
                    self.flush(
                        &mut progress,
                        &mut window,
                        next,
                        Some(resume.clone()),
                        held,
                        &in_target,
                        &mut report,
                        todo,
                    )
                    .await?;
                    window_bytes = 0;
                    if Instant::now() >= self.stop_at {
                        return Ok(report);
                    }
                }
            }
            self.meter
                .object_bytes
                .fetch_add(lines.read_bytes - read, Ordering::Relaxed);
            self.meter.objects.fetch_add(1, Ordering::Relaxed);
            report.objects += 1;
        }
        let resume = todo
            .last()
            .map(|last| Resume {
                start_offset: last.start_offset,
                key: last.key.clone(),
                read_to_end: true,
            })
            .or(progress.resume.clone());
        self.flush(
            &mut progress,
            &mut window,
            next,
            resume,
            held,
            &in_target,
            &mut report,
            todo,
        )
        .await?;
        report.complete = true;
        Ok(report)
    }

    /// Produces the window and moves the progress to `next`: the records' last offset is saved first, so a
    /// run killed before the progress moves knows to look for them in the target.
    #[allow(clippy::too_many_arguments)]
    async fn flush(
        &self,
        progress: &mut Progress,
        window: &mut Vec<Pending>,
        next: i64,
        resume: Option<Resume>,
        held: &mut Option<Held>,
        in_target: &HashMap<i32, i64>,
        report: &mut PartitionReport,
        objects: &[BackupObject],
    ) -> Result<(), RestoreError> {
        if window.is_empty() && next == progress.next_offset && resume == progress.resume {
            return Ok(());
        }
        let pending = std::mem::take(window);
        if let Some(last) = pending.last() {
            progress.producing_through = Some(last.offset);
            progress.updated_ms = (self.restore.clock)();
            self.save(progress).await?;
        }
        let mut by_target: BTreeMap<i32, Vec<Pending>> = BTreeMap::new();
        for record in pending {
            match in_target.get(&record.target) {
                Some(&found) if record.offset <= found => report.already_in_target += 1,
                _ => by_target.entry(record.target).or_default().push(record),
            }
        }
        let produced: Vec<(i64, Option<i64>, usize)> = by_target
            .values()
            .flatten()
            .map(|p| (p.offset, p.timestamp, p.size))
            .collect();
        let results: Vec<Result<(i32, Option<i64>), RestoreError>> = stream::iter(by_target)
            .map(|(target, records)| self.produce(target, records, objects))
            .buffer_unordered(self.restore.config.backup.concurrency.max(1))
            .collect()
            .await;
        let total = results.len();
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok((target, Some(end))) => {
                    progress.target_offsets.insert(target, end);
                }
                Ok((_, None)) => {}
                Err(e) => errors.push(e),
            }
        }
        RestoreError::first_of(errors, total)?;
        for (offset, timestamp, size) in produced {
            report.counted(offset, timestamp, size);
            self.meter.records.fetch_add(1, Ordering::Relaxed);
            self.meter.bytes.fetch_add(size as u64, Ordering::Relaxed);
            progress.produced += 1;
        }
        if next != progress.next_offset {
            // The next offset's lease first, so a run reading the new progress finds it held.
            let Some(next_held) = self.fence().take(Fenced::Offset(next)).await? else {
                return Err(RestoreError::Store(CosError::Lease {
                    key: self.fence().key(Fenced::Offset(next), 1),
                    reason: "another run took the lease of the offset this run was moving to".to_owned(),
                    retryable: true,
                }));
            };
            if let Some(old) = held.replace(next_held) {
                self.fence().release(old).await;
            }
        }
        progress.next_offset = next;
        progress.resume = resume;
        progress.producing_through = None;
        progress.updated_ms = (self.restore.clock)();
        self.save(progress).await
    }

    /// Produces one target partition's records in order, request by request. The records move into the
    /// requests (a copy of every record would cost every run), so a request refused for its size is not split:
    /// alone, the record is named; with others, `max_request_bytes` is above what the topic takes.
    async fn produce(
        &self,
        target: i32,
        records: Vec<Pending>,
        objects: &[BackupObject],
    ) -> Result<(i32, Option<i64>), RestoreError> {
        let c = &self.restore.config;
        let client = self.restore.kafka.partition_client(&c.target_topic, target).await?;
        let mut end = None;
        for chunk in split_by_size(records, c.max_request_bytes, |p| p.size + RECORD_OVERHEAD) {
            let (first, size, count) = (
                (chunk[0].object, chunk[0].offset),
                chunk.iter().map(|p| p.size).sum::<usize>(),
                chunk.len(),
            );
            let batch = chunk.into_iter().map(|p| p.record).collect();
            let produce = client.produce(batch, WireCompression::NoCompression);
            let e = match tokio::time::timeout_at(self.deadline.cutoff(), produce).await {
                Ok(Ok(offsets)) if offsets.len() == count => {
                    end = offsets.last().map(|o| o + 1).or(end);
                    continue;
                }
                Ok(Ok(offsets)) => {
                    return Err(RestoreError::Deadline {
                        what: format!(
                            "{}/{target}: the broker acknowledged {} of {count} records",
                            c.target_topic,
                            offsets.len(),
                        ),
                    })
                }
                Err(_) => {
                    return Err(RestoreError::Deadline {
                        what: format!("producing to {}/{target}", c.target_topic),
                    })
                }
                Ok(Err(e)) => e,
            };
            let why = ckafka_dump_core::error::error_chain(&e);
            return Err(match record_refusal(&e) {
                Some(_) if count == 1 => RestoreError::Refused {
                    key: objects[first.0].key.clone(),
                    offset: first.1,
                    reason: format!("{}/{target} refused it ({size} bytes): {why}", c.target_topic),
                },
                Some(_) => RestoreError::Refused {
                    key: objects[first.0].key.clone(),
                    offset: first.1,
                    reason: format!(
                        "{}/{target} refused a request of {count} records ({size} bytes) from it on: {why}; set max_request_bytes below the topic's max.message.bytes",
                        c.target_topic
                    ),
                },
                None => KafkaError::partition(&c.target_topic, target, "producing", &e).into(),
            });
        }
        Ok((target, end))
    }

    /// For each target partition this one's records go to, the last source offset from `from` through
    /// `through` it already holds: its records after the offset the progress saw acknowledged last, read for
    /// their provenance headers.
    async fn already_in_target(&self, progress: &Progress, through: i64) -> Result<HashMap<i32, i64>, RestoreError> {
        let c = &self.restore.config;
        let from = progress.next_offset;
        let targets: Vec<i32> = match c.partitioning {
            Partitioning::Same => vec![self.partition],
            Partitioning::One => vec![c.target_partition],
            Partitioning::KeyHash => (0..self.target_partitions).collect(),
        };
        let mut found = HashMap::new();
        for target in targets {
            let client = self.restore.kafka.partition_client(&c.target_topic, target).await?;
            let since = progress.target_offsets.get(&target).copied();
            let scan = self.last_restored(&client, target, from, since);
            let last = tokio::time::timeout_at(self.deadline.cutoff(), scan)
                .await
                .map_err(|_| RestoreError::Deadline {
                    what: format!("reading the end of {}/{target}", c.target_topic),
                })??;
            if let Some(last) = last.filter(|&last| last <= through) {
                tracing::info!(
                    partition = self.partition,
                    target,
                    from,
                    last,
                    "a stopped run produced these records already; not producing them again"
                );
                found.insert(target, last);
            }
        }
        Ok(found)
    }

    /// Reads `target` from `since` (the offset after the last record of the job's progress there; its log
    /// start when there is none) to its end: the largest source offset at or after `from` of this partition.
    async fn last_restored(
        &self,
        client: &PartitionClient,
        target: i32,
        from: i64,
        since: Option<i64>,
    ) -> Result<Option<i64>, RestoreError> {
        let c = &self.restore.config;
        let failed =
            |what: &'static str| move |e| RestoreError::Kafka(KafkaError::partition(&c.target_topic, target, what, &e));
        let earliest = client
            .get_offset(OffsetAt::Earliest)
            .await
            .map_err(failed("reading its first offset"))?;
        // The end as a fetch from the start reports it: some brokers (tansu) answer neither a ListOffsets for the
        // latest offset nor a fetch at the end as Kafka does.
        let (_, end) = client
            .fetch_records(earliest, 1..c.max_request_bytes.max(1 << 20) as i32, FETCH_WAIT_MS)
            .await
            .map_err(failed("reading its end"))?;
        let mut at = since.unwrap_or(earliest).max(earliest);
        if at >= end {
            return Ok(None);
        }
        let (topic, partition) = (c.source_topic.as_bytes(), self.partition.to_string().into_bytes());
        let mut last = None;
        loop {
            let (records, high_watermark) = client
                .fetch_records(at, 1..c.max_request_bytes.max(1 << 20) as i32, FETCH_WAIT_MS)
                .await
                .map_err(failed("reading what a stopped run produced"))?;
            for r in records.iter().filter(|r| r.offset >= at) {
                let h = &r.record.headers;
                if header(h, SOURCE_TOPIC_HEADER) != Some(topic)
                    || header(h, SOURCE_PARTITION_HEADER) != Some(&partition)
                {
                    continue;
                }
                let offset =
                    header(h, SOURCE_OFFSET_HEADER).and_then(|o| std::str::from_utf8(o).ok()?.parse::<i64>().ok());
                if let Some(o) = offset.filter(|&o| o >= from) {
                    last = last.max(Some(o));
                }
            }
            match records.last() {
                Some(r) if r.offset + 1 < high_watermark.min(end) => at = at.max(r.offset + 1),
                _ => return Ok(last),
            }
        }
    }
}
