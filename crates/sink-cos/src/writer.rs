//! Records of one topic-partition, in offset order → objects. An object is uploaded whole when it is
//! smaller than a part, else part by part as it grows (so memory is about one part, not one object); the
//! next record starts a new object when it would take the current one past `partition_max_to_cos_bytes`, or
//! when a Parquet object's schema, fixed by its first row group, cannot hold it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ckafka_dump_core::dating::LedgerCache;
use ckafka_dump_core::dead_letter::{Cause, DeadLetter};
use ckafka_dump_core::error::shortened;
use ckafka_dump_core::{Deadline, Record, Rejection, StagedRecord};

use crate::config::CosConfig;
use crate::encode::{Content, Line, Lines, ObjectBody};
use crate::error::CosError;
use crate::naming::{key_problem, KeyFields, Route};
use crate::parquet::{Parquet, ParquetFile, Row};
use crate::store::{self, by_cutoff, Created, ObjectMeta, ObjectStore, Upload};

/// The bucket and how objects in it are named and encoded; shared by all writers of a function.
pub struct Objects {
    pub store: Box<dyn ObjectStore>,
    pub config: CosConfig,
    /// The dating ledgers of undated records this process has read or written.
    pub ledgers: LedgerCache,
    /// Set once the store has refused to create a key that exists (leases need it).
    pub fencing: tokio::sync::OnceCell<()>,
    meta: ObjectMeta,
    extension: String,
}

impl Objects {
    pub fn new(config: CosConfig) -> Objects {
        Objects {
            store: store::open(&config.destination),
            ledgers: LedgerCache::default(),
            fencing: tokio::sync::OnceCell::new(),
            meta: ObjectMeta {
                content_type: config.content.content_type(),
                content_encoding: config.compression.content_encoding(),
                storage_class: config.storage_class.clone(),
            },
            extension: format!("{}{}", config.content.extension(), config.compression.extension()),
            config,
        }
    }

    /// The key of the object whose first record is `record`, routed by `routing_ms` (its timestamp, or when
    /// its offset was first seen) and its `route`; refused when longer than the store accepts or when a path
    /// segment of it is empty, `.` or `..`.
    pub fn key_for(&self, record: &Record<'_>, routing_ms: i64, route: &[String]) -> Result<String, CosError> {
        let fields = KeyFields {
            instance: &self.config.instance,
            topic: record.topic,
            topic_id: self.config.topic_id.as_deref().unwrap_or(record.topic),
            partition: record.partition,
            start_offset: record.offset,
            timestamp_ms: routing_ms,
            zone: &self.config.zone,
        };
        let key = self
            .config
            .key_template
            .render(&self.config.prefix, &fields, route, &self.extension);
        match key_problem(&key) {
            None => Ok(key),
            Some(reason) => Err(CosError::Key {
                record: coordinates(record),
                reason,
            }),
        }
    }

    /// A bookkeeping object beside the data (a checkpoint, a dating ledger): its bytes, or `None`.
    pub async fn read_bookkeeping(&self, key: &str, deadline: Deadline) -> Result<Option<Vec<u8>>, CosError> {
        by_cutoff(deadline, "GetObject", key, self.store.get(key)).await
    }

    /// Writes a bookkeeping object (JSON).
    pub async fn write_bookkeeping(&self, key: &str, body: Vec<u8>, deadline: Deadline) -> Result<(), CosError> {
        by_cutoff(deadline, "PutObject", key, self.store.put(key, body, &JSON)).await
    }

    /// Writes a bookkeeping object only if its key holds none.
    pub async fn create_bookkeeping(&self, key: &str, body: Vec<u8>, deadline: Deadline) -> Result<Created, CosError> {
        by_cutoff(
            deadline,
            "PutObject (if absent)",
            key,
            self.store.create(key, body, &JSON),
        )
        .await
    }

    /// Writes an object of dead letters (JSON lines, uncompressed so they can be read as they are).
    pub async fn write_dead_letters(&self, key: &str, body: Vec<u8>, deadline: Deadline) -> Result<(), CosError> {
        let meta = ObjectMeta {
            content_type: "application/x-ndjson",
            content_encoding: None,
            storage_class: self.meta.storage_class.clone(),
        };
        by_cutoff(deadline, "PutObject", key, self.store.put(key, body, &meta)).await
    }

    pub async fn delete_bookkeeping(&self, key: &str, deadline: Deadline) -> Result<(), CosError> {
        by_cutoff(deadline, "DeleteObject", key, self.store.delete(key)).await
    }
}

const JSON: ObjectMeta = ObjectMeta {
    content_type: "application/json",
    content_encoding: None,
    storage_class: None,
};

/// Why a record goes to the dead letters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SetAside {
    /// The transform stage rejected it, or its value has no fields for the CSV columns that read them.
    Rejected(Rejection),
    /// A field its key needs is missing or holds no text.
    Unroutable(String),
    /// A declared Parquet column cannot take its value.
    Unencodable(String),
}

impl SetAside {
    /// The record as a line of a dead-letter object. No `failed_at`: a re-delivery or a re-run rewrites the
    /// object byte for byte.
    pub(crate) fn write_line(&self, record: &Record<'_>, out: &mut Vec<u8>) {
        let (cause, reason) = match self {
            SetAside::Rejected(Rejection(reason)) => (Cause::Transform, reason),
            SetAside::Unroutable(reason) => (Cause::Route, reason),
            SetAside::Unencodable(reason) => (Cause::Refused, reason),
        };
        let letter = DeadLetter {
            record,
            cause,
            reason,
            target: "",
        };
        letter.write_json(None, out);
        out.push(b'\n');
    }
}

impl std::fmt::Display for SetAside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetAside::Rejected(rejection) => rejection.fmt(f),
            SetAside::Unroutable(reason) => write!(f, "object key: {reason}"),
            SetAside::Unencodable(reason) => f.write_str(reason),
        }
    }
}

/// `topic/partition/offset` for errors, a topic longer than 100 bytes cut short.
pub(crate) fn coordinates(record: &Record<'_>) -> String {
    format!(
        "{}/{}/{}",
        shortened(record.topic, 100),
        record.partition,
        record.offset
    )
}

fn mismatch(record: &Record<'_>, why: &str) -> CosError {
    CosError::Encode {
        key: coordinates(record),
        source: std::io::Error::other(why.to_owned()),
    }
}

/// The keys one invocation has given objects, with the record each object starts at: a second object under
/// a key would overwrite the first and lose its records.
#[derive(Debug, Default)]
pub struct KeyClaims(Mutex<HashMap<String, String>>);

impl KeyClaims {
    pub fn claim(&self, key: &str, record: &Record<'_>) -> Result<(), CosError> {
        let mut claims = self.0.lock().expect("not poisoned");
        let first = coordinates(record);
        match claims.get(key) {
            Some(other) => Err(CosError::Key {
                record: first,
                reason: format!(
                    "`{key}` is already the key of the object starting at {other} in this invocation; object_key_template must tell them apart (add {{topic}} when topic_id is set)"
                ),
            }),
            None => {
                claims.insert(key.to_owned(), first);
                Ok(())
            }
        }
    }
}

/// One object once it is in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectWritten {
    pub key: String,
    pub records: usize,
    pub first_offset: i64,
    pub last_offset: i64,
    /// Content bytes before compression.
    pub content_bytes: usize,
    pub stored_bytes: usize,
}

/// What one record adds to an object: a line, or a Parquet row.
enum Entry<'a> {
    Line(Line<'a>, &'a Lines),
    Row(&'a Row<'a>, &'a Arc<Parquet>),
}

impl Entry<'_> {
    fn size(&self) -> usize {
        match self {
            Entry::Line(line, _) => line.size(),
            Entry::Row(row, _) => row.size(),
        }
    }
}

/// An object's bytes as they are made.
enum Body {
    Lines(ObjectBody),
    Parquet(ParquetFile),
}

impl Body {
    /// Whether `entry` can join this object.
    fn takes(&self, entry: &Entry<'_>) -> bool {
        match (self, entry) {
            (Body::Lines(_), Entry::Line(..)) => true,
            (Body::Parquet(file), Entry::Row(row, _)) => file.fits(row),
            _ => false,
        }
    }

    fn add(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        match (self, entry) {
            (Body::Lines(body), Entry::Line(line, _)) => line.write_to(body),
            (Body::Parquet(file), Entry::Row(row, _)) => file.push(row),
            _ => Err(std::io::Error::other("a line and a Parquet row cannot share an object")),
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Body::Lines(body) => body.output(),
            Body::Parquet(file) => file.output(),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Lines(body) => body.finish(),
            Body::Parquet(file) => file.finish(),
        }
    }
}

struct ObjectInProgress {
    body: Body,
    upload: Option<Upload>,
    written: ObjectWritten,
}

pub struct PartitionWriter {
    objects: Arc<Objects>,
    claims: Arc<KeyClaims>,
    /// The `{field:NAME}` texts every record of this writer shares.
    route: Route,
    /// Every store operation ends by its cut-off.
    deadline: Deadline,
    /// Content bytes expected (trigger batches know theirs): sizes the first buffer so it does not regrow.
    expected_bytes: usize,
    scratch: Vec<u8>,
    current: Option<ObjectInProgress>,
}

impl PartitionWriter {
    pub fn new(
        objects: Arc<Objects>,
        claims: Arc<KeyClaims>,
        route: Route,
        expected_bytes: usize,
        deadline: Deadline,
    ) -> Self {
        PartitionWriter {
            objects,
            claims,
            route,
            deadline,
            expected_bytes,
            scratch: Vec::new(),
            current: None,
        }
    }

    /// Adds a record as a line of a line format (routed by `routing_ms` when it starts an object); returns the
    /// object it closed when it started a new one.
    pub async fn push_line(
        &mut self,
        record: &StagedRecord<'_>,
        routing_ms: i64,
    ) -> Result<Option<ObjectWritten>, CosError> {
        let objects = Arc::clone(&self.objects);
        let Content::Lines(lines) = &objects.config.content else {
            return Err(mismatch(record, "content_format=parquet writes rows, not lines"));
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let line = lines.line(record, &mut scratch);
        let result = self.push(record, Entry::Line(line, lines), routing_ms).await;
        self.scratch = scratch;
        result
    }

    /// Adds a record's Parquet row ([`crate::parquet::Parquet::row`]), as [`PartitionWriter::push_line`].
    pub async fn push_row(
        &mut self,
        record: &StagedRecord<'_>,
        row: &Row<'_>,
        routing_ms: i64,
    ) -> Result<Option<ObjectWritten>, CosError> {
        let objects = Arc::clone(&self.objects);
        let Content::Parquet(parquet) = &objects.config.content else {
            return Err(mismatch(record, "a line format writes lines, not Parquet rows"));
        };
        self.push(record, Entry::Row(row, parquet), routing_ms).await
    }

    async fn push(
        &mut self,
        record: &StagedRecord<'_>,
        entry: Entry<'_>,
        routing_ms: i64,
    ) -> Result<Option<ObjectWritten>, CosError> {
        let objects = Arc::clone(&self.objects);
        let config = &objects.config;
        let size = entry.size();
        let closed = match &self.current {
            Some(current)
                if current.written.content_bytes + size > config.max_object_bytes || !current.body.takes(&entry) =>
            {
                self.finish_current().await?
            }
            _ => None,
        };
        let current = match &mut self.current {
            Some(current) => current,
            None => {
                let key = self.objects.key_for(record, routing_ms, &self.route)?;
                self.claims.claim(&key, record)?;
                let capacity = self.expected_bytes.clamp(1 << 16, config.part_bytes);
                let encode_error = |source| CosError::Encode {
                    key: key.clone(),
                    source,
                };
                let (body, header_bytes) = match &entry {
                    Entry::Row(_, parquet) => (Body::Parquet(ParquetFile::new(parquet)), 0),
                    Entry::Line(_, lines) => {
                        let mut body = ObjectBody::new(config.compression, capacity).map_err(encode_error)?;
                        let header = lines.header().unwrap_or_default();
                        body.write(&header).map_err(encode_error)?;
                        (Body::Lines(body), header.len())
                    }
                };
                self.current.insert(ObjectInProgress {
                    body,
                    upload: None,
                    written: ObjectWritten {
                        key,
                        records: 0,
                        first_offset: record.offset,
                        last_offset: record.offset,
                        content_bytes: header_bytes,
                        stored_bytes: 0,
                    },
                })
            }
        };
        let written = &mut current.written;
        current.body.add(&entry).map_err(|source| CosError::Encode {
            key: written.key.clone(),
            source,
        })?;
        written.records += 1;
        written.last_offset = record.offset;
        written.content_bytes += size;
        if current.body.output().len() >= config.part_bytes {
            let part = std::mem::replace(current.body.output(), Vec::with_capacity(config.part_bytes));
            if let Err(e) = self.upload_part(part).await {
                self.abort_current().await;
                return Err(e);
            }
        }
        Ok(closed)
    }

    /// Writes the last object, if any record is pending.
    pub async fn finish(mut self) -> Result<Option<ObjectWritten>, CosError> {
        self.finish_current().await
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<(), CosError> {
        let (store, meta, deadline) = (&self.objects.store, &self.objects.meta, self.deadline);
        let current = self.current.as_mut().expect("a part belongs to an object in progress");
        let key = &current.written.key;
        let upload = match &mut current.upload {
            Some(upload) => upload,
            None => {
                let started = by_cutoff(deadline, "CreateMultipartUpload", key, store.start_upload(key, meta)).await?;
                current.upload.insert(started)
            }
        };
        current.written.stored_bytes += part.len();
        by_cutoff(deadline, "UploadPart", key, store.upload_part(key, upload, part)).await
    }

    async fn finish_current(&mut self) -> Result<Option<ObjectWritten>, CosError> {
        let Some(current) = self.current.take() else {
            return Ok(None);
        };
        let ObjectInProgress {
            body,
            upload,
            mut written,
        } = current;
        let (store, deadline) = (&self.objects.store, self.deadline);
        let key = written.key.as_str();
        let rest = body.finish().map_err(|source| CosError::Encode {
            key: written.key.clone(),
            source,
        });
        written.stored_bytes += rest.as_ref().map_or(0, Vec::len);
        let result = match (rest, upload) {
            (Ok(rest), None) => by_cutoff(deadline, "PutObject", key, store.put(key, rest, &self.objects.meta)).await,
            (rest, Some(mut upload)) => {
                let uploaded = match rest {
                    Ok(rest) if rest.is_empty() => Ok(()),
                    Ok(rest) => by_cutoff(deadline, "UploadPart", key, store.upload_part(key, &mut upload, rest)).await,
                    Err(e) => Err(e),
                };
                match uploaded {
                    Ok(()) => {
                        by_cutoff(
                            deadline,
                            "CompleteMultipartUpload",
                            key,
                            store.complete_upload(key, upload),
                        )
                        .await
                    }
                    Err(e) => {
                        store::abort_quietly(store.as_ref(), key, upload).await;
                        Err(e)
                    }
                }
            }
            (Err(e), None) => Err(e),
        };
        result?;
        tracing::info!(
            key = %written.key, records = written.records, first_offset = written.first_offset,
            last_offset = written.last_offset, bytes = written.stored_bytes, "object written"
        );
        Ok(Some(written))
    }

    async fn abort_current(&mut self) {
        if let Some((key, upload)) = self.take_open_upload() {
            store::abort_quietly(self.objects.store.as_ref(), &key, upload).await;
        }
    }

    /// The multipart upload of the object in progress, if it has one, leaving no object in progress.
    fn take_open_upload(&mut self) -> Option<(String, Upload)> {
        match self.current.take()? {
            ObjectInProgress {
                upload: Some(upload),
                written,
                ..
            } => Some((written.key, upload)),
            _ => None,
        }
    }
}

impl Drop for PartitionWriter {
    /// A writer dropped mid-object (the invocation hit its deadline) must not leave parts behind.
    fn drop(&mut self) {
        if let Some((key, upload)) = self.take_open_upload() {
            let objects = Arc::clone(&self.objects);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { store::abort_quietly(objects.store.as_ref(), &key, upload).await });
            }
        }
    }
}
