//! Records of one topic-partition, in offset order → objects. An object is uploaded whole when it is
//! smaller than a part, else part by part as it grows (so memory is about one part, not one object); the
//! next record starts a new object when it would take the current one past `partition_max_to_cos_bytes`.

use std::sync::Arc;

use crate::config::CosConfig;
use crate::encode::{line, Entry, ObjectBody};
use crate::error::CosError;
use crate::key::KeyFields;
use crate::store::{ObjectMeta, Store, Upload};

/// The bucket and how objects in it are named and encoded; shared by all writers of a function.
pub struct Objects {
    pub store: Store,
    pub config: CosConfig,
    meta: ObjectMeta,
    extension: String,
}

impl Objects {
    pub fn new(config: CosConfig) -> Objects {
        Objects {
            store: Store::new(&config.destination),
            meta: ObjectMeta {
                content_type: config.content.content_type(),
                content_encoding: config.compression.content_encoding(),
                storage_class: config.storage_class.clone(),
            },
            extension: format!("{}{}", config.content.extension(), config.compression.extension()),
            config,
        }
    }

    /// The key of the object whose first record is `entry`.
    pub fn key_for(&self, entry: &Entry<'_>, fallback_time_ms: i64) -> String {
        let fields = KeyFields {
            instance: &self.config.instance,
            topic: entry.topic,
            topic_id: self.config.topic_id.as_deref().unwrap_or(entry.topic),
            partition: entry.partition,
            start_offset: entry.offset,
            timestamp_ms: entry.timestamp_ms.unwrap_or(fallback_time_ms),
        };
        self.config
            .key_template
            .render(&self.config.prefix, &fields, &self.extension)
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
    /// Key time for records without a timestamp (SCF CKafka events carry none).
    fallback_time_ms: i64,
    /// Content bytes expected (trigger batches know theirs): sizes the first buffer so it does not regrow.
    expected_bytes: usize,
    scratch: Vec<u8>,
    current: Option<ObjectInProgress>,
}

impl PartitionWriter {
    pub fn new(objects: Arc<Objects>, fallback_time_ms: i64, expected_bytes: usize) -> Self {
        PartitionWriter {
            objects,
            fallback_time_ms,
            expected_bytes,
            scratch: Vec::new(),
            current: None,
        }
    }

    /// Adds a record; returns the object it closed when it started a new one.
    pub async fn push(&mut self, entry: &Entry<'_>) -> Result<Option<ObjectWritten>, CosError> {
        let objects = Arc::clone(&self.objects);
        let config = &objects.config;
        let mut scratch = std::mem::take(&mut self.scratch);
        let line = line(config.content, entry, &mut scratch);
        let closed = match &self.current {
            Some(current) if current.written.content_bytes + line.size() > config.max_object_bytes => {
                self.finish_current().await?
            }
            _ => None,
        };
        let current = match &mut self.current {
            Some(current) => current,
            None => {
                let key = self.objects.key_for(entry, self.fallback_time_ms);
                let capacity = self.expected_bytes.clamp(1 << 16, config.part_bytes);
                let body = ObjectBody::new(config.compression, capacity).map_err(|source| CosError::Encode {
                    key: key.clone(),
                    source,
                })?;
                self.current.insert(ObjectInProgress {
                    body,
                    upload: None,
                    written: ObjectWritten {
                        key,
                        records: 0,
                        first_offset: entry.offset,
                        last_offset: entry.offset,
                        content_bytes: 0,
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
        written.last_offset = entry.offset;
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
        let (store, meta) = (&self.objects.store, &self.objects.meta);
        let current = self.current.as_mut().expect("a part belongs to an object in progress");
        let key = &current.written.key;
        let upload = match &mut current.upload {
            Some(upload) => upload,
            None => current.upload.insert(store.start_upload(key, meta).await?),
        };
        current.written.stored_bytes += part.len();
        store.upload_part(key, upload, part).await
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
        let store = &self.objects.store;
        let rest = body.finish().map_err(|source| CosError::Encode {
            key: written.key.clone(),
            source,
        });
        written.stored_bytes += rest.as_ref().map_or(0, Vec::len);
        let result = match (rest, upload) {
            (Ok(rest), None) => store.put(&written.key, rest, &self.objects.meta).await,
            (rest, Some(mut upload)) => {
                let uploaded = match rest {
                    Ok(rest) if rest.is_empty() => Ok(()),
                    Ok(rest) => store.upload_part(&written.key, &mut upload, rest).await,
                    Err(e) => Err(e),
                };
                match uploaded {
                    Ok(()) => store.complete_upload(&written.key, upload).await,
                    Err(e) => {
                        store.abort_upload(&written.key, upload).await;
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
            self.objects.store.abort_upload(&key, upload).await;
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
                runtime.spawn(async move { objects.store.abort_upload(&key, upload).await });
            }
        }
    }
}
