//! The Tencent SCF custom runtime API: `POST /runtime/init/ready` once, then a loop of
//! `GET /runtime/invocation/next` (headers `request_id`, `time_limit_in_ms`) and a POST of the result
//! to `/runtime/invocation/response` or of the error to `/runtime/invocation/error`.
//!
//! Like lambda_runtime, the loop outlives the runtime API's transient failures (an unreachable API, 429,
//! 5xx): `next` is asked again after a growing delay (never in a tight loop, never giving up), and an
//! outcome is posted again a few times before the loop logs it lost and goes on (the platform then times
//! the invocation out and retries it).

use std::future::Future;
use std::time::Duration;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::retry::{Bound, RetryPolicy};
use ckafka_dump_core::{ConfigError, Deadline, MAX_TIME_LIMIT};

use crate::driver::invoke;
use crate::function::Function;
use crate::variables::{SCF_RUNTIME_API, SCF_RUNTIME_API_PORT};
use crate::RuntimeError as Error;

const DEFAULT_PORT: &str = "9001";
/// Attempts at posting `ready` or an invocation's outcome (about 3 s of delays in all).
const POST_ATTEMPTS: u32 = 5;

/// A runtime API call that did not succeed; `transient` ones are worth another attempt.
struct CallFailed {
    error: Error,
    transient: bool,
}

pub struct RuntimeApi {
    base_url: String,
    // No timeout: `next` is a long poll that may wait for minutes.
    client: reqwest::Client,
}

impl RuntimeApi {
    /// `SCF_RUNTIME_API` (host, or host:port) plus `SCF_RUNTIME_API_PORT`, as the platform sets them.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(host) = env.get(&SCF_RUNTIME_API)? else {
            return Ok(None);
        };
        let address = if host.contains(':') {
            host
        } else {
            let port = env
                .get(&SCF_RUNTIME_API_PORT)?
                .unwrap_or_else(|| DEFAULT_PORT.to_owned());
            format!("{host}:{port}")
        };
        Ok(Some(RuntimeApi::new(format!("http://{address}"))))
    }

    pub fn new(base_url: String) -> Self {
        RuntimeApi {
            base_url,
            client: reqwest::Client::new(),
        }
    }

    pub(super) async fn run<S, F, Fut>(self, build: F) -> Result<(), Error>
    where
        S: ckafka_dump_core::Sink,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Function<S>, ckafka_dump_core::Error>>,
    {
        // SCF has no init-error endpoint: a failed build is logged and the process exits, which the
        // platform reports as an init failure.
        let function = build().await?;
        self.ready().await?;
        loop {
            self.serve_next(&function).await?;
        }
    }

    pub async fn ready(&self) -> Result<(), Error> {
        self.post("/runtime/init/ready", " ".to_owned()).await
    }

    /// Waits for the next invocation, runs it and posts its outcome.
    pub async fn serve_next<S: ckafka_dump_core::Sink>(&self, function: &Function<S>) -> Result<(), Error> {
        let url = format!("{}/runtime/invocation/next", self.base_url);
        let response = self.call_retrying(&url, None, || self.client.get(&url)).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("request_id").unwrap_or_default();
        let time_limit = match header("time_limit_in_ms").and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => Duration::from_millis(ms),
            None => {
                tracing::warn!(
                    request_id,
                    "no usable time_limit_in_ms header; assuming {MAX_TIME_LIMIT:?}"
                );
                MAX_TIME_LIMIT
            }
        };
        let deadline = Deadline::after(time_limit);
        let event = response.text().await.map_err(|e| self.error(&url, e))?;
        let posted = match invoke(function, &event, deadline, &request_id).await {
            Ok(summary) => {
                let body = serde_json::to_string(&summary).expect("a summary always serializes");
                self.post("/runtime/invocation/response", body).await
            }
            Err(e) => self.post("/runtime/invocation/error", e.to_string()).await,
        };
        if let Err(e) = posted {
            tracing::error!(request_id, error = %e, "the invocation's outcome could not be posted; the platform will time it out");
        }
        Ok(())
    }

    async fn post(&self, path: &str, body: String) -> Result<(), Error> {
        let url = format!("{}{path}", self.base_url);
        let post = || self.client.post(&url).body(body.clone());
        self.call_retrying(&url, Some(POST_ATTEMPTS), post).await.map(drop)
    }

    /// Sends what `request` builds until it succeeds: after a transient failure, again after a growing
    /// delay, at most `attempts` times in all (`None`: for as long as it takes).
    async fn call_retrying(
        &self,
        url: &str,
        attempts: Option<u32>,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let mut retries = RetryPolicy::DEFAULT.retries("runtime API", Bound::Attempts(attempts));
        loop {
            match self.call(url, request()).await {
                Ok(response) => return Ok(response),
                Err(CallFailed { error, transient: true }) => retries.wait(error).await?,
                Err(CallFailed { error, .. }) => return Err(error),
            }
        }
    }

    /// Sends a request; connection failures, 429 and 5xx are transient.
    async fn call(&self, url: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallFailed> {
        let response = request.send().await.map_err(|e| CallFailed {
            error: self.error(url, e),
            transient: true,
        })?;
        let status = response.status();
        match response.error_for_status() {
            Ok(response) => Ok(response),
            Err(e) => Err(CallFailed {
                error: self.error(url, e),
                transient: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            }),
        }
    }

    fn error(&self, url: &str, e: reqwest::Error) -> Error {
        Error::RuntimeApi {
            url: url.to_owned(),
            message: e.to_string(),
        }
    }
}
