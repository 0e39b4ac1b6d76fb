//! The one I/O piece for objects: a COS / S3 bucket through aws-sdk-s3, or a local directory. Both take
//! whole objects or multipart uploads, so the writer above them does not care which it has.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::config::{Credentials, Destination};
use crate::error::CosError;

/// How an object is stored: the headers S3 keeps with it.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    pub storage_class: Option<String>,
}

pub enum Store {
    Local {
        dir: PathBuf,
    },
    S3 {
        client: Box<LazyClient>,
        bucket: String,
        endpoint: String,
    },
}

/// The S3 client, built on first use: building it costs milliseconds of cold start (and loading the CA
/// certificates for TLS) that a function waiting for its first invocation should not spend.
pub struct LazyClient {
    destination: Destination,
    client: OnceLock<aws_sdk_s3::Client>,
}

impl LazyClient {
    fn get(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| {
            let Destination::S3 {
                region,
                endpoint,
                path_style,
                credentials,
                ..
            } = &self.destination
            else {
                unreachable!("a LazyClient is made for S3 destinations only")
            };
            // A plain-HTTP endpoint (a local S3-compatible server) skips loading the system CA certificates.
            let http = if endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
                aws_smithy_http_client::Builder::new().build_http()
            } else {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .build_https()
            };
            let mut config = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.clone()))
                .credentials_provider(sdk_credentials(credentials))
                .http_client(http)
                // COS (and other S3-compatible stores) reject the SDK's default CRC trailers.
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                .force_path_style(*path_style);
            if let Some(endpoint) = endpoint {
                config = config.endpoint_url(endpoint);
            }
            aws_sdk_s3::Client::from_conf(config.build())
        })
    }
}

/// A multipart upload in progress: S3's upload id, or the local temporary file.
pub struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
}

impl Store {
    pub fn new(destination: &Destination) -> Store {
        match destination {
            Destination::Local { dir } => Store::Local { dir: dir.clone() },
            Destination::S3 {
                bucket,
                region,
                endpoint,
                ..
            } => Store::S3 {
                client: Box::new(LazyClient {
                    destination: destination.clone(),
                    client: OnceLock::new(),
                }),
                bucket: bucket.clone(),
                endpoint: endpoint.clone().unwrap_or_else(|| format!("s3.{region}.amazonaws.com")),
            },
        }
    }

    /// The S3 client, for tests and tools that look into the bucket.
    pub fn s3_client(&self) -> Option<&aws_sdk_s3::Client> {
        match self {
            Store::S3 { client, .. } => Some(client.get()),
            Store::Local { .. } => None,
        }
    }

    /// Where objects go, for logs and results (no secret in it).
    pub fn describe(&self) -> String {
        match self {
            Store::Local { dir } => format!("file://{}", dir.display()),
            Store::S3 { bucket, endpoint, .. } => format!("s3://{bucket} at {endpoint}"),
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, meta: &ObjectMeta) -> Result<(), CosError> {
        match self {
            Store::Local { dir } => {
                let temp = temp_path(dir);
                local("put", key, write_new(&temp, &body).await)?;
                local("put", key, rename_into(&temp, &dir.join(key)).await)
            }
            Store::S3 { client, bucket, .. } => client
                .get()
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(meta.content_type)
                .set_content_encoding(meta.content_encoding.map(str::to_owned))
                .set_storage_class(meta.storage_class.as_deref().map(StorageClass::from))
                .body(ByteStream::from(body))
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("PutObject", key, e)),
        }
    }

    pub async fn start_upload(&self, key: &str, meta: &ObjectMeta) -> Result<Upload, CosError> {
        let id = match self {
            Store::Local { dir } => {
                let temp = temp_path(dir);
                local("start upload", key, write_new(&temp, &[]).await)?;
                temp.to_string_lossy().into_owned()
            }
            Store::S3 { client, bucket, .. } => client
                .get()
                .create_multipart_upload()
                .bucket(bucket)
                .key(key)
                .content_type(meta.content_type)
                .set_content_encoding(meta.content_encoding.map(str::to_owned))
                .set_storage_class(meta.storage_class.as_deref().map(StorageClass::from))
                .send()
                .await
                .map_err(|e| sdk_error("CreateMultipartUpload", key, e))?
                .upload_id
                .ok_or_else(|| CosError::store("CreateMultipartUpload", key, "the answer has no UploadId", true))?,
        };
        Ok(Upload { id, parts: Vec::new() })
    }

    /// Uploads the next part; parts go in order, one at a time.
    pub async fn upload_part(&self, key: &str, upload: &mut Upload, body: Vec<u8>) -> Result<(), CosError> {
        let part_number = upload.parts.len() as i32 + 1;
        let e_tag = match self {
            Store::Local { .. } => {
                use tokio::io::AsyncWriteExt;
                let appended = async {
                    let mut file = tokio::fs::OpenOptions::new().append(true).open(&upload.id).await?;
                    file.write_all(&body).await?;
                    file.flush().await
                };
                local("upload part", key, appended.await)?;
                None
            }
            Store::S3 { client, bucket, .. } => {
                client
                    .get()
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload.id)
                    .part_number(part_number)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|e| sdk_error("UploadPart", key, e))?
                    .e_tag
            }
        };
        upload.parts.push(
            CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(e_tag)
                .build(),
        );
        Ok(())
    }

    pub async fn complete_upload(&self, key: &str, upload: Upload) -> Result<(), CosError> {
        match self {
            Store::Local { dir } => local(
                "complete upload",
                key,
                rename_into(Path::new(&upload.id), &dir.join(key)).await,
            ),
            Store::S3 { client, bucket, .. } => client
                .get()
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload.id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(upload.parts))
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("CompleteMultipartUpload", key, e)),
        }
    }

    /// Drops an upload's parts so none is left behind (or billed); failures are logged, the caller
    /// already has the error that matters.
    pub async fn abort_upload(&self, key: &str, upload: Upload) {
        let result = match self {
            Store::Local { .. } => local("abort upload", key, tokio::fs::remove_file(&upload.id).await),
            Store::S3 { client, bucket, .. } => client
                .get()
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("AbortMultipartUpload", key, e)),
        };
        if let Err(e) = result {
            tracing::warn!(key, error = %e, "could not abort a multipart upload; a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it");
        }
    }

    /// The object's bytes, or `None` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CosError> {
        match self {
            Store::Local { dir } => match tokio::fs::read(dir.join(key)).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                read => local("get", key, read).map(Some),
            },
            Store::S3 { client, bucket, .. } => {
                let output = match client.get().get_object().bucket(bucket).key(key).send().await {
                    Ok(output) => output,
                    Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(None),
                    Err(e) => return Err(sdk_error("GetObject", key, e)),
                };
                let body = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| CosError::store("GetObject", key, e.to_string(), true))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
        }
    }
}

fn sdk_credentials(c: &Credentials) -> aws_sdk_s3::config::Credentials {
    aws_sdk_s3::config::Credentials::new(
        &c.access_key_id,
        c.secret_access_key.expose(),
        c.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        c.source,
    )
}

/// An SDK failure as one line: the operation, the key, the HTTP status and the service's error code and
/// message. Throttling, server errors and transport failures are worth a retry; the rest (403 wrong
/// secret, 404 no bucket) are not.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &'static str,
    key: &str,
    e: SdkError<E, HttpResponse>,
) -> CosError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let detail = match (status, e.code(), e.message()) {
        (Some(status), Some(code), message) => format!("HTTP {status} {code}: {}", message.unwrap_or("")),
        (Some(status), None, _) => format!("HTTP {status}: {}", DisplayErrorContext(&e)),
        (None, ..) => DisplayErrorContext(&e).to_string(),
    };
    let retryable = match status {
        Some(status) => status == 429 || status >= 500 || e.code() == Some("SlowDown"),
        None => true,
    };
    CosError::store(op, key, detail, retryable)
}

fn local<T>(op: &'static str, key: &str, result: std::io::Result<T>) -> Result<T, CosError> {
    result.map_err(|e| CosError::store(op, key, e.to_string(), true))
}

/// A name in `dir` no other write uses: objects appear whole, by rename, or not at all.
fn temp_path(dir: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(".uploads").join(format!("{}-{n}", std::process::id()))
}

async fn write_new(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(path, body).await
}

async fn rename_into(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::rename(from, to).await
}
