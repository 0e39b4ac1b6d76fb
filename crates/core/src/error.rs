use crate::decode::DecodeError;

/// Whether retrying the same work can succeed. Sinks classify their own errors with it.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{target}: {message}")]
    Sink {
        target: String,
        message: String,
        retryable: bool,
    },
    #[error("{target}: deadline reached after {elapsed_ms} ms before {pending} confirmed written; the trigger will re-deliver")]
    Deadline {
        target: String,
        /// What was not confirmed: "all 500 records", "the scheduled run's objects".
        pending: String,
        elapsed_ms: u64,
    },
    #[error("{target}: sink accounted for {accounted} of {records} records; refusing to report success")]
    Unaccounted {
        target: String,
        records: usize,
        accounted: usize,
    },
    #[error("runtime API {url}: {message}")]
    RuntimeApi { url: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("reading event: {0}")]
    Io(#[from] std::io::Error),
}

impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        match self {
            Error::Sink { retryable, .. } => *retryable,
            Error::Deadline { .. } | Error::Unaccounted { .. } | Error::RuntimeApi { .. } | Error::Io(_) => true,
            Error::Decode(_) | Error::Config(_) | Error::Usage(_) => false,
        }
    }
}

impl Error {
    /// A sink's failure, keeping its message and whether it is worth a re-delivery.
    pub fn sink<E: std::error::Error + Retryable>(target: impl Into<String>, error: &E) -> Self {
        Error::Sink {
            target: target.into(),
            retryable: error.is_retryable(),
            message: error.to_string(),
        }
    }

    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// An error and its causes on one line. Clients' own Display often hides the cause ("error sending
/// request"); the chain names it ("Connection refused"). Causes already spelled out are not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A bad environment value. Names the variable; carries the value only when it is not a secret.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            var: var.into(),
            reason: reason.into(),
        }
    }
}
