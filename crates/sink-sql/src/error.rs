use ckafka_dump_core::{NotWritten, Retryable};

use crate::db::DbError;
use crate::outcome::ErrorClass;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Database(#[from] DbError),
    #[error(transparent)]
    NotWritten(#[from] NotWritten),
    #[error("table {table} {reason}")]
    Table { table: String, reason: String },
    #[error("timed out at the invocation's deadline after {elapsed_ms} ms; the transaction was not committed")]
    TimedOut { elapsed_ms: u64 },
    /// An error of the batch whose records it names.
    #[error("{records}: {error}")]
    Batch { records: String, error: Box<SqlError> },
}

impl SqlError {
    /// The database says the table is not as read (a column the rows fill is gone): read it again.
    pub fn table_changed(&self) -> bool {
        matches!(
            self,
            SqlError::Database(DbError {
                class: ErrorClass::TableChanged,
                ..
            })
        )
    }

    /// The error naming the batch's records (`topic/partition offsets first-last`), unless it already names
    /// them one by one.
    pub fn records(self, records: &str) -> SqlError {
        match self {
            SqlError::NotWritten(_) => self,
            error => SqlError::Batch {
                records: records.to_owned(),
                error: Box::new(error),
            },
        }
    }
}

impl Retryable for SqlError {
    fn is_retryable(&self) -> bool {
        match self {
            SqlError::Database(e) => e.is_retryable(),
            SqlError::NotWritten(e) => e.is_retryable(),
            SqlError::Table { .. } => false,
            SqlError::TimedOut { .. } => true,
            SqlError::Batch { error, .. } => error.is_retryable(),
        }
    }

    fn not_written(&self) -> Option<&NotWritten> {
        match self {
            SqlError::NotWritten(e) => Some(e),
            _ => None,
        }
    }
}
