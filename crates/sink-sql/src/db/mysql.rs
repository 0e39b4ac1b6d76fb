use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts, Value};
use mysql_common::proto::codec::error::PacketCodecError;

use super::DbError;
use crate::config::{Target, TlsMode};
use crate::outcome::{class_of_mysql, ErrorClass};
use crate::statements;

pub struct Mysql {
    conn: Conn,
    /// The session's `max_allowed_packet`: no statement may be larger.
    pub max_allowed_packet: usize,
    /// The server is MariaDB (its JSON columns are `longtext` with a CHECK), not MySQL.
    pub mariadb: bool,
}

impl Mysql {
    pub async fn open(target: &Target) -> Result<Mysql, DbError> {
        let ssl = match target.tls {
            TlsMode::Disable | TlsMode::Prefer => None,
            mode => {
                let mut ssl = SslOpts::default();
                if let Some(ca) = &target.ca_pem {
                    ssl = ssl
                        .with_root_certs(vec![ca.clone().into()])
                        .with_disable_built_in_roots(true);
                }
                Some(match mode {
                    TlsMode::Require => ssl.with_danger_accept_invalid_certs(true),
                    TlsMode::VerifyCa => ssl.with_danger_skip_domain_validation(true),
                    _ => ssl,
                })
            }
        };
        let opts = OptsBuilder::default()
            .ip_or_hostname(target.host.clone())
            .tcp_port(target.port)
            .user(Some(target.user.clone()))
            .pass(target.password.as_ref().map(|p| p.expose().to_owned()))
            .db_name(Some(target.database.clone()))
            .stmt_cache_size(0)
            .ssl_opts(ssl);
        let conn = Conn::new(opts).await.map_err(error)?;
        let mut mysql = Mysql {
            conn,
            max_allowed_packet: 0,
            mariadb: false,
        };
        mysql
            .execute(statements::session_setup(crate::encode::Dialect::Mysql))
            .await?;
        let server: Option<(u64, String)> = mysql
            .conn
            .query_first("SELECT @@max_allowed_packet, @@version")
            .await
            .map_err(error)?;
        let (packet, version) = server.unwrap_or((4 << 20, String::new()));
        mysql.max_allowed_packet = packet as usize;
        mysql.mariadb = version.contains("MariaDB");
        Ok(mysql)
    }

    pub async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.query_drop(sql).await.map_err(error)
    }

    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let rows: Vec<mysql_async::Row> = self.conn.query(sql).await.map_err(error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .map(|value| match value {
                        Value::NULL => None,
                        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                        other => Some(other.as_sql(true)),
                    })
                    .collect()
            })
            .collect())
    }
}

/// A server's error by its number and SQLSTATE; a lost or refused connection is worth retrying, a statement
/// the client refuses to send for its size is the rows' fault.
fn error(e: mysql_async::Error) -> DbError {
    match &e {
        mysql_async::Error::Io(mysql_async::IoError::Io(io))
            if io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<PacketCodecError>())
                .is_some_and(|codec| matches!(codec, PacketCodecError::PacketTooLarge)) =>
        {
            DbError::new(ErrorClass::Row, ckafka_dump_core::error::error_chain(&e))
        }
        mysql_async::Error::Server(server) => DbError::new(
            class_of_mysql(server.code, &server.state),
            format!("ERROR {} ({}): {}", server.code, server.state, server.message),
        ),
        _ if crate::tls::refused_handshake(&e) => {
            DbError::new(ErrorClass::Permanent, ckafka_dump_core::error::error_chain(&e))
        }
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
            DbError::new(ErrorClass::Transient, ckafka_dump_core::error::error_chain(&e))
        }
        _ => DbError::new(ErrorClass::Permanent, ckafka_dump_core::error::error_chain(&e)),
    }
}
