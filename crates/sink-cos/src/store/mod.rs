//! Where objects go, behind one trait: a COS / S3 bucket ([`s3`]) or a local directory ([`local`]). Both
//! take whole objects or multipart uploads, so the writer above them does not care which it has.

pub mod local;
pub mod s3;

use std::future::Future;
use std::pin::Pin;

use ckafka_dump_core::Deadline;

use crate::config::Destination;
use crate::error::CosError;
use crate::naming::key_problem;

/// How an object is stored: the headers S3 keeps with it.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    pub storage_class: Option<String>,
}

/// A multipart upload in progress: the store's upload id and the parts sent so far (their ETags).
#[derive(Debug)]
pub struct Upload {
    pub id: String,
    pub parts: Vec<Option<String>>,
}

/// An object a listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// An object's bytes as they arrive, so an object of any size is read in bounded memory.
pub type ObjectReader = Box<dyn tokio::io::AsyncBufRead + Send + Unpin>;

/// What a create-if-absent found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// The key already held an object; nothing was written.
    Exists,
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CosError>> + Send + 'a>>;

pub trait ObjectStore: Send + Sync {
    /// Where objects go, for logs and results (no secret in it).
    fn describe(&self) -> String;

    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>, meta: &'a ObjectMeta) -> StoreFuture<'a, ()>;

    fn start_upload<'a>(&'a self, key: &'a str, meta: &'a ObjectMeta) -> StoreFuture<'a, Upload>;

    /// Sends the next part; parts go in order, one at a time.
    fn upload_part<'a>(&'a self, key: &'a str, upload: &'a mut Upload, body: Vec<u8>) -> StoreFuture<'a, ()>;

    fn complete_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()>;

    /// Drops an upload's parts so none is left behind (or billed).
    fn abort_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()>;

    /// The object's bytes, or `None` when there is no such key.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Every object whose key starts with `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<Listed>>;

    /// The object's bytes as a stream, or `None` when there is no such key.
    fn read<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectReader>>;

    /// Writes the object only if the key holds none, atomically (S3 `If-None-Match: *`, COS
    /// `x-cos-forbid-overwrite`): of writers racing for one key, exactly one gets `Created`.
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>, meta: &'a ObjectMeta) -> StoreFuture<'a, Created>;

    /// Removes the object; a key that holds none is fine.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

pub fn open(destination: &Destination) -> Box<dyn ObjectStore> {
    match destination {
        Destination::Local { dir } => Box::new(local::LocalDir::new(dir.clone())),
        Destination::S3(bucket) => Box::new(s3::Bucket::new(bucket.clone())),
    }
}

/// A store operation that must end by the invocation's cut-off: past it, it fails (retryable) so the
/// invocation can still report and the trigger re-deliver.
pub async fn by_cutoff<T>(
    deadline: Deadline,
    op: &'static str,
    key: &str,
    work: impl Future<Output = Result<T, CosError>>,
) -> Result<T, CosError> {
    // The S3 SDK panics on a URI this long; COS and S3 refuse such keys anyway.
    if let Some(problem) = key_problem(key) {
        return Err(CosError::store(op, key, problem, false));
    }
    tokio::time::timeout_at(deadline.cutoff(), work)
        .await
        .unwrap_or_else(|_| {
            Err(CosError::store(
                op,
                key,
                "no answer before the invocation's deadline (its cut-off)",
                true,
            ))
        })
}

/// Aborts an upload; a failure is logged, since the caller already has the error that matters.
pub async fn abort_quietly(store: &dyn ObjectStore, key: &str, upload: Upload) {
    if let Err(e) = store.abort_upload(key, upload).await {
        tracing::warn!(key, error = %e, "could not abort a multipart upload; a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it");
    }
}
