use ckafka_dump_core::{NotWritten, Retryable};

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    NotWritten(#[from] NotWritten),
}

impl Retryable for EsError {
    fn is_retryable(&self) -> bool {
        match self {
            EsError::Client(_) => false,
            EsError::NotWritten(e) => e.is_retryable(),
        }
    }

    fn not_written(&self) -> Option<&NotWritten> {
        match self {
            EsError::NotWritten(e) => Some(e),
            _ => None,
        }
    }
}
