//! `to-sql` configuration from the environment, validated once at start. Three spellings, so a user of an old
//! template switches without renaming: `db_url` + `db_table`; the MySQL template's `dbhost`, `dbuser`, `dbpwd`,
//! `dbdatabase`, `dbtable`; the CDW template's `DB_HOST` … `DB_TABLE` with its delimited lines.

use std::time::Duration;

use ckafka_dump_core::config::{Choice, Env, Secret};
use ckafka_dump_core::{ConfigError, MAX_TIME_LIMIT};
use percent_encoding::percent_decode_str;

use crate::encode::Dialect;
use crate::rows::RowFormat;
use crate::schema::TableName;

impl Choice for Dialect {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("postgres", Dialect::Postgres),
        ("postgresql", Dialect::Postgres),
        ("mysql", Dialect::Mysql),
        ("mariadb", Dialect::Mysql),
    ];
}

/// libpq's `sslmode` (MySQL's `ssl-mode` spellings are read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    /// TLS when the server offers it, unverified (libpq's default; MySQL connections treat it as `disable`).
    Prefer,
    /// TLS, the certificate not verified (as libpq does).
    Require,
    /// TLS, the certificate chain verified against the CA, the host name not.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl Choice for TlsMode {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("disable", TlsMode::Disable),
        ("disabled", TlsMode::Disable),
        ("prefer", TlsMode::Prefer),
        ("preferred", TlsMode::Prefer),
        ("require", TlsMode::Require),
        ("required", TlsMode::Require),
        ("verify-ca", TlsMode::VerifyCa),
        ("verify_ca", TlsMode::VerifyCa),
        ("verify-full", TlsMode::VerifyFull),
        ("verify_identity", TlsMode::VerifyFull),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Append,
    Upsert,
}

impl Choice for WriteMode {
    const CHOICES: &'static [(&'static str, Self)] = &[("append", WriteMode::Append), ("upsert", WriteMode::Upsert)];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormatChoice {
    Columns,
    Delimited,
}

impl Choice for FormatChoice {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("columns", FormatChoice::Columns),
        ("delimited", FormatChoice::Delimited),
    ];
}

/// Where the database is. Never shows the password.
#[derive(Debug, Clone)]
pub struct Target {
    pub dialect: Dialect,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
    pub tls: TlsMode,
    /// PEM of the CA that signed the server's certificate (`db_ca_cert` or `sslrootcert`); else the web PKI roots.
    pub ca_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
}

impl Target {
    /// `postgres://user@host:port/database`, for logs.
    pub fn describe(&self) -> String {
        let scheme = match self.dialect {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        };
        format!("{scheme}://{}@{}:{}/{}", self.user, self.host, self.port, self.database)
    }
}

#[derive(Debug, Clone)]
pub struct SqlConfig {
    pub target: Target,
    pub table: TableName,
    pub format: RowFormat,
    pub write_mode: WriteMode,
    /// Upsert mode's key; empty: the table's primary key.
    pub key_columns: Vec<String>,
    pub delete_on_tombstone: bool,
    pub offsets_table: TableName,
    pub dead_letter_table: Option<TableName>,
    pub auto_create_table: bool,
    /// A bound of each batch's transaction below the invocation's deadline (the CDW template's
    /// `STATMENT_TIMEOUT`).
    pub statement_timeout: Option<Duration>,
}

pub const DEFAULT_OFFSETS_TABLE: &str = "ckafka_dump_offsets";

impl SqlConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (mut target, table_var, table, template_format, statement_timeout) =
            if let Some(url) = env.secret("db_url")? {
                let target = parse_url(env, &url)?;
                let table = env.required("db_table")?;
                (target, "db_table", table, FormatChoice::Columns, None)
            } else if env.get("dbhost")?.is_some() {
                (
                    mysql_template(env)?,
                    "dbtable",
                    env.required("dbtable")?,
                    FormatChoice::Columns,
                    None,
                )
            } else if env.get("DB_HOST")?.is_some() {
                let target = cdw_template(env)?;
                let table = match env.get("DB_SCHEMA")? {
                    Some(schema) => format!("{schema}.{}", env.required("DB_TABLE")?),
                    None => env.required("DB_TABLE")?,
                };
                let timeout = Duration::from_secs(env.within("STATMENT_TIMEOUT", 50, 1..=MAX_TIME_LIMIT.as_secs())?);
                (target, "DB_TABLE", table, FormatChoice::Delimited, Some(timeout))
            } else {
                return Err(ConfigError::new(
                    "db_url",
                    "is required (postgres://… or mysql://…), or the MySQL template's dbhost, dbuser, dbpwd, \
                     dbdatabase, dbtable, or the CDW template's DB_HOST … DB_TABLE",
                ));
            };
        target.dialect = env.choice("db_type", target.dialect)?;
        if target.dialect == Dialect::Mysql && target.tls == TlsMode::Prefer {
            target.tls = TlsMode::Disable;
        }
        if let Some(ca) = env.pem("db_ca_cert")? {
            target.ca_pem = Some(ca);
        }
        let table = TableName::parse(&table)
            .ok_or_else(|| ConfigError::new(table_var, format!("`{table}` is not a table name or schema.table")))?;
        let sibling = |var: &str, default: &str| -> Result<TableName, ConfigError> {
            let name = env.get(var)?.unwrap_or_else(|| default.to_owned());
            table
                .sibling(&name)
                .ok_or_else(|| ConfigError::new(var, format!("`{name}` is not a table name or schema.table")))
        };
        let offsets_table = sibling("offsets_table", DEFAULT_OFFSETS_TABLE)?;
        let dead_letter_table = match env.get("dead_letter_table")? {
            None => None,
            Some(name) => Some(sibling("dead_letter_table", &name)?),
        };
        let format = match env.choice("row_format", template_format)? {
            FormatChoice::Columns => RowFormat::Columns,
            FormatChoice::Delimited => {
                let code = env.within("MSG_SEPARATOR_ASCII", 44, 1..=127)?;
                RowFormat::Delimited {
                    separator: char::from(code as u8),
                    null: env.get("MSG_NULL")?.unwrap_or_else(|| "\\N".to_owned()),
                }
            }
        };
        let write_mode = env.choice("write_mode", WriteMode::Append)?;
        let key_columns = env.list("key_columns")?;
        let delete_on_tombstone = env.bool_or("delete_on_tombstone", false)?;
        if write_mode == WriteMode::Append && (delete_on_tombstone || !key_columns.is_empty()) {
            let var = if delete_on_tombstone {
                "delete_on_tombstone"
            } else {
                "key_columns"
            };
            return Err(ConfigError::new(var, "applies to write_mode=upsert only"));
        }
        Ok(SqlConfig {
            target,
            table,
            format,
            write_mode,
            key_columns,
            delete_on_tombstone,
            offsets_table,
            dead_letter_table,
            auto_create_table: env.bool_or("auto_create_table", false)?,
            statement_timeout,
        })
    }
}

fn connect_timeout(env: &Env) -> Result<Duration, ConfigError> {
    env.millis_within("connect_timeout_ms", Duration::from_secs(5), MAX_TIME_LIMIT)
}

fn parse_url(env: &Env, url: &Secret) -> Result<Target, ConfigError> {
    const VAR: &str = "db_url";
    let parsed = url::Url::parse(url.expose()).map_err(|e| ConfigError::new(VAR, format!("is not a URL ({e})")))?;
    let dialect = match parsed.scheme() {
        "postgres" | "postgresql" => Dialect::Postgres,
        "mysql" | "mariadb" => Dialect::Mysql,
        other => {
            return Err(ConfigError::new(
                VAR,
                format!("scheme `{other}` is not postgres://, postgresql://, mysql:// or mariadb://"),
            ))
        }
    };
    let decode = |part: &str, what: &str| -> Result<String, ConfigError> {
        percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| ConfigError::new(VAR, format!("the {what} is not UTF-8 once percent-decoded")))
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ConfigError::new(VAR, "has no host"))?;
    let database = decode(parsed.path().trim_start_matches('/'), "database")?;
    if database.is_empty() {
        return Err(ConfigError::new(
            VAR,
            "has no database: postgres://user:password@host:port/database",
        ));
    }
    let mut target = Target {
        dialect,
        host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        port: parsed.port().unwrap_or(default_port(dialect)),
        user: decode(parsed.username(), "user")?,
        password: parsed
            .password()
            .map(|p| decode(p, "password"))
            .transpose()?
            .map(Secret::from),
        database,
        tls: TlsMode::Prefer,
        ca_pem: None,
        connect_timeout: connect_timeout(env)?,
    };
    if target.user.is_empty() {
        return Err(ConfigError::new(
            VAR,
            "has no user: postgres://user:password@host:port/database",
        ));
    }
    for (name, value) in parsed.query_pairs() {
        match name.as_ref() {
            "sslmode" | "ssl-mode" | "ssl_mode" => {
                target.tls = TlsMode::from_spelling(&value)
                    .map_err(|reason| ConfigError::new(VAR, format!("{name}: {reason}")))?;
            }
            "sslrootcert" | "ssl-ca" => {
                target.ca_pem = Some(
                    std::fs::read(value.as_ref())
                        .map_err(|e| ConfigError::new(VAR, format!("{name}: cannot read `{value}`: {e}")))?,
                );
            }
            "connect_timeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| ConfigError::new(VAR, format!("connect_timeout `{value}` is not whole seconds")))?;
                target.connect_timeout = Duration::from_secs(secs.clamp(1, MAX_TIME_LIMIT.as_secs()));
            }
            other => {
                return Err(ConfigError::new(
                    VAR,
                    format!("parameter `{other}` is not supported (sslmode, sslrootcert, connect_timeout are)"),
                ))
            }
        }
    }
    Ok(target)
}

fn default_port(dialect: Dialect) -> u16 {
    match dialect {
        Dialect::Postgres => 5432,
        Dialect::Mysql => 3306,
    }
}

/// `host` or `host:port` (the MySQL template's example carried a port it could not parse).
fn host_port(var: &str, value: &str, default: u16) -> Result<(String, u16), ConfigError> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => port
            .parse()
            .map(|port| (host.to_owned(), port))
            .map_err(|_| ConfigError::new(var, format!("port `{port}` is not a number"))),
        _ => Ok((value.to_owned(), default)),
    }
}

fn mysql_template(env: &Env) -> Result<Target, ConfigError> {
    let (host, port) = host_port("dbhost", &env.required("dbhost")?, 3306)?;
    Ok(Target {
        dialect: Dialect::Mysql,
        host,
        port,
        user: env.required("dbuser")?,
        password: env.secret("dbpwd")?,
        database: env.required("dbdatabase")?,
        tls: TlsMode::Disable,
        ca_pem: None,
        connect_timeout: connect_timeout(env)?,
    })
}

fn cdw_template(env: &Env) -> Result<Target, ConfigError> {
    let (host, port) = host_port("DB_HOST", &env.required("DB_HOST")?, 5436)?;
    let port = match env.get("DB_PORT")? {
        Some(_) => env.within("DB_PORT", 5436, 1..=65535)? as u16,
        None => port,
    };
    Ok(Target {
        dialect: Dialect::Postgres,
        host,
        port,
        user: env.required("DB_USER")?,
        password: env.secret("DB_PASSWORD")?,
        database: env.required("DB_DATABASE")?,
        tls: TlsMode::Prefer,
        ca_pem: None,
        connect_timeout: connect_timeout(env)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<SqlConfig, ConfigError> {
        SqlConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn a_url_names_the_database_and_its_tls() {
        let c = config(&[
            (
                "db_url",
                "postgres://app:p%40ss@db.internal:6432/logs?sslmode=verify-full",
            ),
            ("db_table", "raw.events"),
        ])
        .unwrap();
        let t = &c.target;
        assert_eq!(
            (t.dialect, t.host.as_str(), t.port),
            (Dialect::Postgres, "db.internal", 6432)
        );
        assert_eq!(t.password.as_ref().unwrap().expose(), "p@ss");
        assert_eq!(t.tls, TlsMode::VerifyFull);
        assert_eq!(t.describe(), "postgres://app@db.internal:6432/logs");
        assert_eq!(c.table.to_string(), "raw.events");
        assert_eq!(c.offsets_table.to_string(), "raw.ckafka_dump_offsets");
        assert_eq!((c.format, c.write_mode), (RowFormat::Columns, WriteMode::Append));
    }

    #[test]
    fn the_mysql_template_names_work_with_a_port_in_dbhost() {
        let c = config(&[
            ("dbhost", "sh-cdb-abc.sql.tencentcdb.com:63374"),
            ("dbuser", "root"),
            ("dbpwd", "secret"),
            ("dbdatabase", "kafka"),
            ("dbtable", "messages"),
        ])
        .unwrap();
        assert_eq!(c.target.dialect, Dialect::Mysql);
        assert_eq!(
            (c.target.host.as_str(), c.target.port),
            ("sh-cdb-abc.sql.tencentcdb.com", 63374)
        );
        assert_eq!(c.table.to_string(), "messages");
    }

    #[test]
    fn the_cdw_template_names_mean_delimited_lines_into_postgres() {
        let c = config(&[
            ("DB_HOST", "10.0.0.8"),
            ("DB_USER", "dw"),
            ("DB_PASSWORD", "pw"),
            ("DB_DATABASE", "warehouse"),
            ("DB_SCHEMA", "public"),
            ("DB_TABLE", "events"),
            ("MSG_SEPARATOR_ASCII", "124"),
        ])
        .unwrap();
        assert_eq!((c.target.dialect, c.target.port), (Dialect::Postgres, 5436));
        assert_eq!(
            c.format,
            RowFormat::Delimited {
                separator: '|',
                null: "\\N".into()
            }
        );
        assert_eq!(c.statement_timeout, Some(Duration::from_secs(50)));
        assert_eq!(c.table.to_string(), "public.events");
    }

    #[test]
    fn mistakes_name_the_variable_and_never_the_password() {
        let e = config(&[
            ("db_url", "postgres://u:hunter2@h/db?sslmode=sometimes"),
            ("db_table", "t"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "db_url");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = config(&[("db_url", "redis://u:hunter2@h/db"), ("db_table", "t")]).unwrap_err();
        assert!(
            e.to_string().contains("scheme `redis`") && !e.to_string().contains("hunter2"),
            "{e}"
        );
        let e = config(&[
            ("db_url", "postgres://u:hunter2@h/db"),
            ("db_table", "t"),
            ("delete_on_tombstone", "true"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "delete_on_tombstone");
        assert_eq!(config(&[]).unwrap_err().var, "db_url");
        let e = config(&[("db_url", "postgres://u:hunter2@h/db"), ("db_table", "a.b.c")]).unwrap_err();
        assert_eq!(e.var, "db_table");
    }
}
