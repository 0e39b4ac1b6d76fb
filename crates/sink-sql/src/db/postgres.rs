use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbError;
use crate::config::{Target, TlsMode};
use crate::outcome::{class_of_sqlstate, ErrorClass};
use crate::statements;

pub struct Postgres {
    client: Client,
}

impl Postgres {
    pub async fn open(target: &Target) -> Result<Postgres, DbError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&target.host)
            .port(target.port)
            .user(&target.user)
            .dbname(&target.database)
            .application_name("ckafka-dump")
            .connect_timeout(target.connect_timeout)
            .ssl_mode(match target.tls {
                TlsMode::Disable => SslMode::Disable,
                TlsMode::Prefer => SslMode::Prefer,
                TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
            });
        if let Some(password) = &target.password {
            config.password(password.expose());
        }
        let tls = crate::tls::client_config(target.tls, target.ca_pem.as_deref())
            .map_err(|e| DbError::new(ErrorClass::Permanent, format!("TLS: {e}")))?;
        let (client, connection) = config.connect(MakeRustlsConnect::new(tls)).await.map_err(error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        let mut postgres = Postgres { client };
        postgres
            .execute(statements::session_setup(crate::encode::Dialect::Postgres))
            .await?;
        Ok(postgres)
    }

    pub async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).await.map_err(error)
    }

    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let messages = self.client.simple_query(sql).await.map_err(error)?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect()),
                _ => None,
            })
            .collect())
    }

    /// `COPY … FROM STDIN` with `data` in COPY's text format.
    pub async fn copy_in(&mut self, sql: &str, data: Vec<u8>) -> Result<(), DbError> {
        let sink = self.client.copy_in::<_, Bytes>(sql).await.map_err(error)?;
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(data)).await.map_err(error)?;
        sink.finish().await.map_err(error)?;
        Ok(())
    }
}

/// A server's error by its SQLSTATE; a statement the client cannot encode (a NUL character, which no
/// PostgreSQL text holds) is the rows' fault; anything else (connection refused, closed, TLS) is worth retrying.
fn error(e: tokio_postgres::Error) -> DbError {
    let Some(db) = e.as_db_error() else {
        let unencodable = std::error::Error::source(&e)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidInput);
        let class = if unencodable {
            ErrorClass::Row
        } else if crate::tls::refused_handshake(&e) {
            ErrorClass::Permanent
        } else {
            ErrorClass::Transient
        };
        return DbError::new(class, ckafka_dump_core::error::error_chain(&e));
    };
    // A message or its detail may quote a whole value (a key over an index's limit): cut short.
    let mut message = format!(
        "{} {}: {}",
        db.severity(),
        db.code().code(),
        ckafka_dump_core::error::shortened(db.message(), 300)
    );
    if let Some(detail) = db.detail() {
        message.push_str(&format!(" ({})", ckafka_dump_core::error::shortened(detail, 300)));
    }
    if let Some(context) = db.where_() {
        message.push_str(&format!(" [{}]", ckafka_dump_core::error::shortened(context, 200)));
    }
    DbError::new(class_of_sqlstate(db.code().code()), message)
}
