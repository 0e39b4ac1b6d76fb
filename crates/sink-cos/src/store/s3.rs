//! A COS / S3 bucket through aws-sdk-s3, with the one retry policy and explicit timeouts.

use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use ckafka_dump_core::retry::RetryPolicy;

use super::{Created, Listed, ObjectMeta, ObjectReader, ObjectStore, StoreFuture, Upload};
use crate::config::{Credentials, S3Bucket};
use crate::error::CosError;

/// How long to wait for a connection; each operation is also bounded by the invocation's cut-off.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Bucket {
    settings: S3Bucket,
    /// Built on first use: building it costs milliseconds of cold start (and loading the CA certificates
    /// for TLS) that a function waiting for its first invocation should not spend.
    client: OnceLock<aws_sdk_s3::Client>,
}

impl Bucket {
    pub fn new(settings: S3Bucket) -> Self {
        Bucket {
            settings,
            client: OnceLock::new(),
        }
    }

    /// The S3 client, for tests and tools that look into the bucket.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| build_client(&self.settings))
    }

    fn name(&self) -> &str {
        &self.settings.bucket
    }

    /// COS takes its own no-overwrite header; S3 and most S3-compatible stores take `If-None-Match: *`.
    fn is_cos(&self) -> bool {
        self.settings
            .endpoint
            .as_deref()
            .is_some_and(|e| e.ends_with(".myqcloud.com"))
    }
}

fn build_client(s: &S3Bucket) -> aws_sdk_s3::Client {
    // A plain-HTTP endpoint (a local S3-compatible server) skips loading the system CA certificates.
    let http = if s.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
        aws_smithy_http_client::Builder::new().build_http()
    } else {
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https()
    };
    let policy = RetryPolicy::DEFAULT;
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s.region.clone()))
        .credentials_provider(sdk_credentials(&s.credentials))
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(policy.max_attempts)
                .with_initial_backoff(policy.initial_delay)
                .with_max_backoff(policy.max_delay),
        )
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build())
        // COS (and other S3-compatible stores) reject the SDK's default CRC trailers.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .force_path_style(s.path_style);
    if let Some(endpoint) = &s.endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

impl ObjectStore for Bucket {
    fn describe(&self) -> String {
        let endpoint = match &self.settings.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("s3.{}.amazonaws.com", self.settings.region),
        };
        format!("s3://{} at {endpoint}", self.name())
    }

    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>, meta: &'a ObjectMeta) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .put_object()
                .bucket(self.name())
                .key(key)
                .content_type(meta.content_type)
                .set_content_encoding(meta.content_encoding.map(str::to_owned))
                .set_storage_class(meta.storage_class.as_deref().map(StorageClass::from))
                .body(ByteStream::from(body))
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("PutObject", key, e))
        })
    }

    fn start_upload<'a>(&'a self, key: &'a str, meta: &'a ObjectMeta) -> StoreFuture<'a, Upload> {
        Box::pin(async move {
            let id = self
                .client()
                .create_multipart_upload()
                .bucket(self.name())
                .key(key)
                .content_type(meta.content_type)
                .set_content_encoding(meta.content_encoding.map(str::to_owned))
                .set_storage_class(meta.storage_class.as_deref().map(StorageClass::from))
                .send()
                .await
                .map_err(|e| sdk_error("CreateMultipartUpload", key, e))?
                .upload_id
                .ok_or_else(|| CosError::store("CreateMultipartUpload", key, "the answer has no UploadId", true))?;
            Ok(Upload { id, parts: Vec::new() })
        })
    }

    fn upload_part<'a>(&'a self, key: &'a str, upload: &'a mut Upload, body: Vec<u8>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let e_tag = self
                .client()
                .upload_part()
                .bucket(self.name())
                .key(key)
                .upload_id(&upload.id)
                .part_number(upload.parts.len() as i32 + 1)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| sdk_error("UploadPart", key, e))?
                .e_tag;
            upload.parts.push(e_tag);
            Ok(())
        })
    }

    fn complete_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let parts = upload
                .parts
                .into_iter()
                .enumerate()
                .map(|(i, e_tag)| {
                    CompletedPart::builder()
                        .part_number(i as i32 + 1)
                        .set_e_tag(e_tag)
                        .build()
                })
                .collect();
            self.client()
                .complete_multipart_upload()
                .bucket(self.name())
                .key(key)
                .upload_id(&upload.id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("CompleteMultipartUpload", key, e))
        })
    }

    fn abort_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .abort_multipart_upload()
                .bucket(self.name())
                .key(key)
                .upload_id(&upload.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("AbortMultipartUpload", key, e))
        })
    }

    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>, meta: &'a ObjectMeta) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let mut request = self
                .client()
                .put_object()
                .bucket(self.name())
                .key(key)
                .content_type(meta.content_type)
                .if_none_match("*")
                .body(ByteStream::from(body))
                .customize();
            if self.is_cos() {
                request = request.mutate_request(|r| {
                    r.headers_mut().insert("x-cos-forbid-overwrite", "true");
                });
            }
            match request.send().await {
                Ok(_) => Ok(Created::Created),
                // S3: 412 PreconditionFailed, or 409 ConditionalRequestConflict while a racing write is in
                // flight (the caller reads the key to see who holds it); COS: 409 FileAlreadyExists.
                Err(e)
                    if e.raw_response()
                        .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
                {
                    Ok(Created::Exists)
                }
                Err(e) => Err(sdk_error("PutObject (if absent)", key, e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .delete_object()
                .bucket(self.name())
                .key(key)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error("DeleteObject", key, e))
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<Listed>> {
        Box::pin(async move {
            let mut listed = Vec::new();
            let mut pages = self
                .client()
                .list_objects_v2()
                .bucket(self.name())
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| sdk_error("ListObjectsV2", prefix, e))?;
                for object in page.contents.unwrap_or_default() {
                    if let Some(key) = object.key {
                        listed.push(Listed {
                            key,
                            size: object.size.unwrap_or(0).max(0) as u64,
                        });
                    }
                }
            }
            Ok(listed)
        })
    }

    fn read<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectReader>> {
        Box::pin(async move {
            let body = self.body(key).await?;
            Ok(body.map(|body| Box::new(body.into_async_read()) as ObjectReader))
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let Some(body) = self.body(key).await? else {
                return Ok(None);
            };
            let body = body
                .collect()
                .await
                .map_err(|e| CosError::store("GetObject", key, e.to_string(), true))?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }
}

impl Bucket {
    /// The object's body as it arrives, or `None` when there is no such key.
    async fn body(&self, key: &str) -> Result<Option<ByteStream>, CosError> {
        match self.client().get_object().bucket(self.name()).key(key).send().await {
            Ok(output) => Ok(Some(output.body)),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(sdk_error("GetObject", key, e)),
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
/// message.
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
    let retryable = is_retryable(&e, status);
    CosError::store(op, key, detail, retryable)
}

/// Throttling, server errors and transport trouble are worth a retry; a request that could not be built,
/// a client-side setup problem, or a refusal (403 wrong secret, 404 no bucket) is not.
fn is_retryable<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>, status: Option<u16>) -> bool {
    match e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        _ => match status {
            Some(status) => status == 429 || status >= 500 || e.code() == Some("SlowDown"),
            None => true,
        },
    }
}
