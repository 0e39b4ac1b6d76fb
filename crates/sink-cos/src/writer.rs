//! Records of one topic-partition, in offset order → objects. An object is uploaded whole when it is
//! smaller than a part, else part by part as it grows (so memory is about one part, not one object); the
//! next record starts a new object when it would take the current one past `partition_max_to_cos_bytes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ckafka_dump_core::dating::LedgerCache;
use ckafka_dump_core::error::shortened;
use ckafka_dump_core::{Deadline, Record, StagedRecord};

use crate::config::CosConfig;
use crate::encode::ObjectBody;
use crate::error::CosError;
use crate::naming::{key_problem, KeyFields, Route};
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

/// `topic/partition/offset` for errors, a topic longer than 100 bytes cut short.
pub(crate) fn coordinates(record: &Record<'_>) -> String {
    format!(
        "{}/{}/{}",
        shortened(record.topic, 100),
        record.partition,
        record.offset
    )
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

struct ObjectInProgress {
    body: ObjectBody,
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

    /// Adds a record (routed by `routing_ms` when it starts an object); returns the object it closed when
    /// it started a new one.
    pub async fn push(
        &mut self,
        record: &StagedRecord<'_>,
        routing_ms: i64,
    ) -> Result<Option<ObjectWritten>, CosError> {
        let objects = Arc::clone(&self.objects);
        let config = &objects.config;
        let mut scratch = std::mem::take(&mut self.scratch);
        let line = config.content.line(record, &mut scratch);
        let closed = match &self.current {
            Some(current) if current.written.content_bytes + line.size() > config.max_object_bytes => {
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
                let mut body = ObjectBody::new(config.compression, capacity).map_err(encode_error)?;
                let header = config.content.header().unwrap_or_default();
                body.write(&header).map_err(encode_error)?;
                self.current.insert(ObjectInProgress {
                    body,
                    upload: None,
                    written: ObjectWritten {
                        key,
                        records: 0,
                        first_offset: record.offset,
                        last_offset: record.offset,
                        content_bytes: header.len(),
                        stored_bytes: 0,
                    },
                })
            }
        };
        let written = &mut current.written;
        line.write_to(&mut current.body).map_err(|source| CosError::Encode {
            key: written.key.clone(),
            source,
        })?;
        written.records += 1;
        written.last_offset = record.offset;
        written.content_bytes += line.size();
        self.scratch = scratch;
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
