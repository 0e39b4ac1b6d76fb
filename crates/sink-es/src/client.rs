//! The one I/O piece: POST `/_bulk` to the configured nodes over one reused HTTP client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ckafka_dump_core::error::{body_excerpt, error_chain};
use ckafka_dump_core::Failure;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::config::{Auth, EsConfig, OpType};
use crate::error::EsError;
use crate::response::{self, ItemOutcome};

pub struct EsClient {
    http: reqwest::Client,
    nodes: Vec<String>,
    next_node: AtomicUsize,
    pipeline: Option<String>,
}

impl EsClient {
    pub fn new(config: &EsConfig) -> Result<Self, EsError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        let authorization = match &config.auth {
            Auth::None => None,
            Auth::Basic { user, password } => {
                let token = base64_simd::STANDARD.encode_to_string(format!("{user}:{}", password.expose()));
                Some(format!("Basic {token}"))
            }
            Auth::ApiKey(key) => Some(format!("ApiKey {}", key.expose())),
        };
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| EsError::Client("credentials contain characters not allowed in a header".to_owned()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(pem) = &config.ca_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| EsError::Client(format!("ES_CA_Cert is not a PEM certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(EsClient {
            http: builder.build().map_err(|e| EsError::Client(e.to_string()))?,
            nodes: config.nodes.clone(),
            next_node: AtomicUsize::new(0),
            pipeline: config.pipeline.clone(),
        })
    }

    /// Sends one bulk body of `sent` documents to the next node in turn.
    pub async fn bulk(
        &self,
        body: Vec<u8>,
        op: OpType,
        sent: usize,
        timeout: Duration,
    ) -> Result<Vec<ItemOutcome>, Failure> {
        let node = self.next_node();
        let mut request = self.http.post(format!("{node}/_bulk")).timeout(timeout).body(body);
        if let Some(pipeline) = &self.pipeline {
            request = request.query(&[("pipeline", pipeline)]);
        }
        let (status, bytes) = send(node, request).await?;
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let excerpt = body_excerpt(bytes.as_ref(), 300);
            let failure = Failure::new(format!("{node} answered HTTP {status}: {excerpt}"), false);
            return Ok(vec![ItemOutcome::TooLarge(failure); sent]);
        }
        classify_status(node, status, bytes.as_ref())?;
        response::parse(bytes.as_ref(), op, sent).map_err(|e| Failure::new(format!("{node}: {e}"), true))
    }

    /// A document's `_source`, or `None` when it (or its index) does not exist.
    pub async fn get_source(&self, index: &str, id: &str, timeout: Duration) -> Result<Option<Vec<u8>>, Failure> {
        let node = self.next_node();
        let request = self.http.get(document_url(node, index, id)?).timeout(timeout);
        let (status, bytes) = send(node, request).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        classify_status(node, status, bytes.as_ref())?;
        response::source(bytes.as_ref())
            .map(Some)
            .map_err(|e| Failure::new(format!("{node}: {index}/{id}: {e}"), true))
    }

    pub async fn put_document(&self, index: &str, id: &str, source: Vec<u8>, timeout: Duration) -> Result<(), Failure> {
        let node = self.next_node();
        let request = self
            .http
            .put(document_url(node, index, id)?)
            .header(CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(source);
        let (status, bytes) = send(node, request).await?;
        classify_status(node, status, bytes.as_ref())
    }

    fn next_node(&self) -> &str {
        &self.nodes[self.next_node.fetch_add(1, Ordering::Relaxed) % self.nodes.len()]
    }
}

fn document_url(node: &str, index: &str, id: &str) -> Result<reqwest::Url, Failure> {
    let mut url = reqwest::Url::parse(node).map_err(|e| Failure::new(format!("{node}: {e}"), false))?;
    url.path_segments_mut()
        .map_err(|()| Failure::new(format!("{node} cannot take a path"), false))?
        .pop_if_empty()
        .extend([index, "_doc", id]);
    Ok(url)
}

async fn send(node: &str, request: reqwest::RequestBuilder) -> Result<(StatusCode, impl AsRef<[u8]>), Failure> {
    let response = request.send().await.map_err(|e| {
        let kind = if e.is_timeout() { "timed out" } else { "unreachable" };
        Failure::new(format!("{node} {kind}: {}", error_chain(&e)), true)
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::new(format!("{node}: reading the response: {e}"), true))?;
    Ok((status, bytes))
}

fn classify_status(node: &str, status: StatusCode, body: &[u8]) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let excerpt = body_excerpt(body, 300);
    let message = format!("{node} answered HTTP {status}: {excerpt}");
    Err(match status.as_u16() {
        401 | 403 => Failure::new(
            format!("{node} refused the credentials (HTTP {status}); check ES_User / ES_Password or ES_Api_Key"),
            false,
        ),
        413 => Failure::new(format!("{message}; lower ES_Bulk_Max_Bytes"), false),
        408 | 429 | 500..=599 => Failure::new(message, true),
        _ => Failure::new(message, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let auth = classify_status("http://n", StatusCode::UNAUTHORIZED, b"").unwrap_err();
        assert!(!auth.retryable && auth.reason.contains("http://n") && auth.reason.contains("401"));
        assert!(
            classify_status("n", StatusCode::TOO_MANY_REQUESTS, b"")
                .unwrap_err()
                .retryable
        );
        assert!(
            classify_status("n", StatusCode::BAD_GATEWAY, b"")
                .unwrap_err()
                .retryable
        );
        let too_large = classify_status("n", StatusCode::PAYLOAD_TOO_LARGE, b"").unwrap_err();
        assert!(!too_large.retryable && too_large.reason.contains("ES_Bulk_Max_Bytes"));
        assert!(classify_status("n", StatusCode::OK, b"").is_ok());
    }
}
