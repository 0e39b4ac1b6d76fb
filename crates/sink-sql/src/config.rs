//! `to-sql` configuration from the environment, validated once at start. Three spellings, so a user of an old
//! template switches without renaming: `db_url` + `db_table`; the MySQL template's `dbhost`, `dbuser`, `dbpwd`,
//! `dbdatabase`, `dbtable`; the CDW template's `DB_HOST` … `DB_TABLE` with its delimited lines.

use std::time::Duration;

use ckafka_dump_core::config::{spellings, Choice, Env, Kind, Secret, Unset, Var};
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

ckafka_dump_core::variables! {
    /// to-sql's variables: a URL, or the MySQL template's names, or the CDW template's names, then the rest.
    VARIABLES;
    DB_URL = Var::new(
        "db_url",
        Kind::Secret(Unset::Means("required (or a template's variables)")),
        "`postgres://user:password@host:5432/db` or `mysql://user:password@host:3306/db` (`postgresql://`, `mariadb://` too; user and password percent-encoded). Parameters: `sslmode` = `disable`, `prefer` (PostgreSQL's default: TLS when offered, unverified), `require` (TLS, unverified), `verify-ca` (chain), `verify-full` (chain and host name; MySQL's `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY` work too; MySQL defaults to `disable`); `sslrootcert` (a CA file); `connect_timeout` (seconds). The URL is never shown.",
    );
    DB_TABLE_URL = Var::new("db_table", Kind::Text(Unset::Means("required with `db_url`")), "The target table, `schema.table` allowed.");
    DBHOST = Var::new("dbhost", Kind::Text(Unset::Nothing), "The MySQL template's host (MySQL, columns by name); may carry `:port`.");
    DBUSER = Var::new("dbuser", Kind::Text(Unset::Means("required with `dbhost`")), "The MySQL template's user.");
    DBPWD = Var::new("dbpwd", Kind::Secret(Unset::Nothing), "The MySQL template's password.");
    DBDATABASE = Var::new("dbdatabase", Kind::Text(Unset::Means("required with `dbhost`")), "The MySQL template's database.");
    DBTABLE = Var::new("dbtable", Kind::Text(Unset::Means("required with `dbhost`")), "The MySQL template's table.");
    DB_HOST = Var::new("DB_HOST", Kind::Text(Unset::Nothing), "The CDW template's host (PostgreSQL, delimited lines); may carry `:port`.");
    DB_PORT = Var::new("DB_PORT", Kind::Count { default: 5436, min: 1, max: 65535 }, "The CDW template's port.");
    DB_USER = Var::new("DB_USER", Kind::Text(Unset::Means("required with `DB_HOST`")), "The CDW template's user.");
    DB_PASSWORD = Var::new("DB_PASSWORD", Kind::Secret(Unset::Nothing), "The CDW template's password.");
    DB_DATABASE = Var::new("DB_DATABASE", Kind::Text(Unset::Means("required with `DB_HOST`")), "The CDW template's database.");
    DB_SCHEMA = Var::new("DB_SCHEMA", Kind::Text(Unset::Nothing), "The CDW template's schema.");
    DB_TABLE = Var::new("DB_TABLE", Kind::Text(Unset::Means("required with `DB_HOST`")), "The CDW template's table.");
    MSG_SEPARATOR_ASCII = Var::new(
        "MSG_SEPARATOR_ASCII",
        Kind::Count { default: 44, min: 1, max: 127 },
        "The delimited format's separator, as an ASCII code (44 is `,`).",
    );
    MSG_NULL = Var::new("MSG_NULL", Kind::Text(Unset::Default("\\N")), "The delimited format's NULL marker.");
    STATMENT_TIMEOUT = Var::new(
        "STATMENT_TIMEOUT",
        Kind::Count { default: 50, min: 1, max: MAX_TIME_LIMIT.as_secs() },
        "With the CDW names (sic): seconds a batch's transaction may take, below the deadline.",
    );
    DB_TYPE = Var::new(
        "db_type",
        Kind::Text(Unset::Means("from the URL or the names")),
        "`postgres` or `mysql` (`mariadb`), overriding what the URL or the names imply.",
    );
    ROW_FORMAT = Var::new(
        "row_format",
        Kind::Text(Unset::Means("`columns` (`delimited` with the CDW names)")),
        "`columns`: table columns by name from metadata and the value's fields; `delimited`: the value split by `MSG_SEPARATOR_ASCII` into the table's columns in order.",
    );
    WRITE_MODE = Var::new(
        "write_mode",
        Kind::Choice { default: "append", spellings: spellings::<WriteMode> },
        "`upsert` writes by the table's primary key or `key_columns`, updating only the columns a record fills.",
    );
    KEY_COLUMNS = Var::new("key_columns", Kind::List(Unset::Means("the primary key")), "Upsert key, comma-separated.");
    DELETE_ON_TOMBSTONE = Var::new("delete_on_tombstone", Kind::Flag { default: false }, "Upsert mode: a tombstone deletes its key's row.");
    OFFSETS_TABLE = Var::new(
        "offsets_table",
        Kind::Text(Unset::Default(DEFAULT_OFFSETS_TABLE)),
        "In the target table's schema unless qualified. The function's user needs SELECT/INSERT/UPDATE on it, and CREATE only while it (or the dead-letter table, or the `auto_create_table` table) is missing: what exists is never created again. ALTER once to upgrade a table of an earlier version.",
    );
    DEAD_LETTER_TABLE = Var::new(
        "dead_letter_table",
        Kind::Text(Unset::Nothing),
        "Where malformed records go — and records the transform stage rejects, with their original bytes; unset fails the batch naming them.",
    );
    AUTO_CREATE_TABLE = Var::new(
        "auto_create_table",
        Kind::Flag { default: false },
        "Creates a raw table when missing: topic, partition, offset (primary key), key (binary), timestamp, headers, value (text).",
    );
    DB_CA_CERT = Var::new(
        "db_ca_cert",
        Kind::Pem,
        "CA certificate (PEM text or a path) for `verify-ca` / `verify-full`, e.g. the RDS CA bundle; else the public roots.",
    );
    CONNECT_TIMEOUT_MS = Var::new(
        "connect_timeout_ms",
        Kind::Millis { default: 5000, max: MAX_TIME_LIMIT.as_millis() as u64 },
        "Connecting, TLS and login included (never past the deadline).",
    );
}

impl SqlConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (mut target, table_var, table, template_format, statement_timeout) =
            if let Some(url) = env.secret(&DB_URL)? {
                let target = parse_url(env, &url)?;
                let table = env.required(&DB_TABLE_URL)?;
                (target, DB_TABLE_URL.name, table, FormatChoice::Columns, None)
            } else if env.get(&DBHOST)?.is_some() {
                (
                    mysql_template(env)?,
                    DBTABLE.name,
                    env.required(&DBTABLE)?,
                    FormatChoice::Columns,
                    None,
                )
            } else if env.get(&DB_HOST)?.is_some() {
                let target = cdw_template(env)?;
                let table = match env.get(&DB_SCHEMA)? {
                    Some(schema) => format!("{schema}.{}", env.required(&DB_TABLE)?),
                    None => env.required(&DB_TABLE)?,
                };
                let timeout = Duration::from_secs(env.count(&STATMENT_TIMEOUT)?);
                (target, DB_TABLE.name, table, FormatChoice::Delimited, Some(timeout))
            } else {
                return Err(ConfigError::new(
                    "db_url",
                    "is required (postgres://… or mysql://…), or the MySQL template's dbhost, dbuser, dbpwd, \
                     dbdatabase, dbtable, or the CDW template's DB_HOST … DB_TABLE",
                ));
            };
        target.dialect = env.choice_given(&DB_TYPE)?.unwrap_or(target.dialect);
        if target.dialect == Dialect::Mysql && target.tls == TlsMode::Prefer {
            target.tls = TlsMode::Disable;
        }
        if let Some(ca) = env.pem(&DB_CA_CERT)? {
            target.ca_pem = Some(ca);
        }
        let table = TableName::parse(&table)
            .ok_or_else(|| ConfigError::new(table_var, format!("`{table}` is not a table name or schema.table")))?;
        let sibling = |var: &Var| -> Result<Option<TableName>, ConfigError> {
            let Some(name) = env.text(var)? else {
                return Ok(None);
            };
            let sibling = table.sibling(&name);
            sibling
                .map(Some)
                .ok_or_else(|| ConfigError::new(var.name, format!("`{name}` is not a table name or schema.table")))
        };
        let offsets_table = sibling(&OFFSETS_TABLE)?.expect("the offsets table has a default");
        let dead_letter_table = sibling(&DEAD_LETTER_TABLE)?;
        let format = match env.choice_given(&ROW_FORMAT)?.unwrap_or(template_format) {
            FormatChoice::Columns => RowFormat::Columns,
            FormatChoice::Delimited => {
                let code = env.count(&MSG_SEPARATOR_ASCII)?;
                RowFormat::Delimited {
                    separator: char::from(code as u8),
                    null: env.text(&MSG_NULL)?.expect("the NULL marker has a default"),
                }
            }
        };
        let write_mode = env.choice(&WRITE_MODE)?;
        let key_columns = env.list(&KEY_COLUMNS)?;
        let delete_on_tombstone = env.flag(&DELETE_ON_TOMBSTONE)?;
        if write_mode == WriteMode::Append && (delete_on_tombstone || !key_columns.is_empty()) {
            let var = if delete_on_tombstone {
                DELETE_ON_TOMBSTONE.name
            } else {
                KEY_COLUMNS.name
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
            auto_create_table: env.flag(&AUTO_CREATE_TABLE)?,
            statement_timeout,
        })
    }
}

fn connect_timeout(env: &Env) -> Result<Duration, ConfigError> {
    env.millis(&CONNECT_TIMEOUT_MS)
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
    let (host, port) = host_port(DBHOST.name, &env.required(&DBHOST)?, 3306)?;
    Ok(Target {
        dialect: Dialect::Mysql,
        host,
        port,
        user: env.required(&DBUSER)?,
        password: env.secret(&DBPWD)?,
        database: env.required(&DBDATABASE)?,
        tls: TlsMode::Disable,
        ca_pem: None,
        connect_timeout: connect_timeout(env)?,
    })
}

fn cdw_template(env: &Env) -> Result<Target, ConfigError> {
    let (host, port) = host_port(DB_HOST.name, &env.required(&DB_HOST)?, 5436)?;
    let port = match env.get(&DB_PORT)? {
        Some(_) => env.count(&DB_PORT)? as u16,
        None => port,
    };
    Ok(Target {
        dialect: Dialect::Postgres,
        host,
        port,
        user: env.required(&DB_USER)?,
        password: env.secret(&DB_PASSWORD)?,
        database: env.required(&DB_DATABASE)?,
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
