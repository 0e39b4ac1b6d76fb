//! The one I/O part: a connection to PostgreSQL or MySQL / MariaDB that runs SQL text, reads rows as text, and
//! (PostgreSQL) bulk-loads with COPY.

mod mysql;
mod postgres;

use std::fmt;

use ckafka_dump_core::Retryable;

use crate::config::Target;
use crate::outcome::ErrorClass;

/// A database's answer that was not success: what it means for the batch, and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub class: ErrorClass,
    pub message: String,
}

impl DbError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        DbError {
            class,
            message: message.into(),
        }
    }

    /// The same error with what was being done in front ("loading into public.events: …").
    pub fn context(self, context: impl fmt::Display) -> Self {
        DbError {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

impl Retryable for DbError {
    fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Transient
    }
}

pub enum Connection {
    Postgres(postgres::Postgres),
    Mysql(mysql::Mysql),
}

impl Connection {
    pub async fn open(target: &Target) -> Result<Connection, DbError> {
        let opening = async {
            match target.dialect {
                crate::encode::Dialect::Postgres => postgres::Postgres::open(target).await.map(Connection::Postgres),
                crate::encode::Dialect::Mysql => mysql::Mysql::open(target).await.map(Connection::Mysql),
            }
        };
        match tokio::time::timeout(target.connect_timeout, opening).await {
            Ok(opened) => opened.map_err(|e| e.context(format!("connecting to {}", target.describe()))),
            Err(_) => Err(DbError::new(
                ErrorClass::Transient,
                format!(
                    "connecting to {}: no answer within {} ms",
                    target.describe(),
                    target.connect_timeout.as_millis()
                ),
            )),
        }
    }

    /// Runs statements, ignoring what they return.
    pub async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Connection::Postgres(c) => c.execute(sql).await,
            Connection::Mysql(c) => c.execute(sql).await,
        }
    }

    /// The rows of one query, each value as text (`None`: NULL).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        match self {
            Connection::Postgres(c) => c.query(sql).await,
            Connection::Mysql(c) => c.query(sql).await,
        }
    }

    /// The largest statement the server takes: MySQL's `max_allowed_packet` as the session has it, less room
    /// for the packet's framing; PostgreSQL's 1 GB query limit.
    pub fn max_statement_bytes(&self) -> usize {
        match self {
            Connection::Postgres(_) => (1 << 30) - 1024,
            Connection::Mysql(c) => c.max_allowed_packet.saturating_sub(1024),
        }
    }

    /// The server is MariaDB.
    pub fn is_mariadb(&self) -> bool {
        matches!(self, Connection::Mysql(c) if c.mariadb)
    }

    /// PostgreSQL's bulk load; `None` for MySQL, which loads with INSERT statements.
    pub fn postgres(&mut self) -> Option<&mut postgres::Postgres> {
        match self {
            Connection::Postgres(c) => Some(c),
            Connection::Mysql(_) => None,
        }
    }
}
