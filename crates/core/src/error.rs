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
    #[error("{target}: deadline reached after {elapsed_ms} ms before all {records} records were confirmed written; the trigger will re-deliver the batch")]
    Deadline {
        target: String,
        records: usize,
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
