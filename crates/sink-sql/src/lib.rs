//! PostgreSQL / MySQL sink of `to-sql`: each batch in one transaction with each partition's next offset, so a
//! re-delivered batch writes nothing twice; rows shaped by the target table; poison rows found and dead-lettered.

pub mod config;
pub mod db;
pub mod encode;
pub mod error;
pub mod outcome;
pub mod rows;
pub mod schema;
pub mod statements;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ckafka_dump_core::dead_letter::{Cause, DeadLetter};
use ckafka_dump_core::retry::{Bound, RetryPolicy};
use ckafka_dump_core::time::now_epoch_ms;
use ckafka_dump_core::{
    Deadline, Delivery, Failure, NotWritten, OffsetRanges, PartitionSpan, Record, Retryable, Sink, StagedBatch,
    Unwritten,
};
use tokio::sync::Mutex;

use crate::config::{SqlConfig, WriteMode};
use crate::db::{Connection, DbError};
use crate::encode::Dialect;
use crate::error::SqlError;
use crate::outcome::ErrorClass;
use crate::rows::{Group, Mode, Row, Shape};
use crate::schema::{Column, ColumnType, Table};
use crate::statements::{SizeLimit, Statements};

impl From<SqlError> for ckafka_dump_core::Error {
    fn from(e: SqlError) -> Self {
        ckafka_dump_core::Error::sink("sql", &e)
    }
}

pub struct SqlSink {
    config: SqlConfig,
    /// The table, read on the first batch of the process, and again when the database says it changed.
    table: Mutex<Option<Arc<Resolved>>>,
    /// One connection per process (an invocation is one batch), opened on first use and after a failure.
    connection: Mutex<Option<Connection>>,
}

impl SqlSink {
    pub fn new(config: SqlConfig) -> Self {
        // mysql_async builds its TLS configuration with the process's default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        SqlSink {
            config,
            table: Mutex::new(None),
            connection: Mutex::new(None),
        }
    }

    fn dialect(&self) -> Dialect {
        self.config.target.dialect
    }

    /// Creates what is missing of ckafka-dump's own tables (and the target table, when configured to), then reads
    /// the table's identity, columns and key.
    async fn resolve(&self, conn: &mut Connection) -> Result<Resolved, SqlError> {
        let dialect = self.dialect();
        let config = &self.config;
        let offsets = &config.offsets_table;
        let offsets_columns: Vec<(String, Option<String>)> = conn
            .query(&statements::own_table_columns_query(dialect, offsets))
            .await?
            .into_iter()
            .filter_map(|row| {
                let mut row = row.into_iter();
                Some((row.next().flatten()?, row.next().flatten()))
            })
            .collect();
        let mut setup: Vec<(String, String)> = if offsets_columns.is_empty() {
            vec![(
                format!("creating the offsets table {offsets}"),
                statements::create_offsets_table(dialect, offsets),
            )]
        } else {
            let upgrade = statements::upgrade_offsets_table(dialect, offsets, &offsets_columns);
            upgrade
                .into_iter()
                .map(|sql| (format!("upgrading the offsets table {offsets}"), sql))
                .collect()
        };
        // Only what is missing is created: a user without CREATE runs once the tables are there.
        let mut missing = Vec::new();
        if let Some(dead_letters) = &config.dead_letter_table {
            missing.push((
                dead_letters,
                "dead-letter table",
                statements::create_dead_letter_table(dialect, dead_letters),
            ));
        }
        if config.auto_create_table {
            missing.push((
                &config.table,
                "table",
                statements::create_raw_table(dialect, &config.table),
            ));
        }
        for (table, what, create) in missing {
            if conn
                .query(&statements::own_table_columns_query(dialect, table))
                .await?
                .is_empty()
            {
                setup.push((format!("creating the {what} {table}"), create));
            }
        }
        for (doing, sql) in setup {
            // Concurrent cold starts may race on CREATE TABLE IF NOT EXISTS (a unique violation in the catalog).
            conn.execute(&sql).await.map_err(|e| {
                let e = e.context(&doing);
                match e.class {
                    ErrorClass::Row => DbError::new(ErrorClass::Transient, e.message),
                    _ => e,
                }
            })?;
        }
        let shape = self.read_shape(conn).await?;
        let identity = conn
            .query(&statements::resolve_table_query(dialect, &config.table))
            .await?
            .into_iter()
            .find_map(|row| row.into_iter().next().flatten())
            .ok_or_else(|| SqlError::Table {
                table: config.table.to_string(),
                reason: "cannot be resolved to a schema and a name".into(),
            })?;
        Ok(Resolved { shape, identity })
    }

    /// Reads the table's columns and key.
    async fn read_shape(&self, conn: &mut Connection) -> Result<Shape, SqlError> {
        let dialect = self.dialect();
        let config = &self.config;
        let table_error = |reason: String| SqlError::Table {
            table: config.table.to_string(),
            reason,
        };
        let json_columns: Vec<String> = if conn.is_mariadb() {
            conn.query(&statements::mariadb_checks_query(&config.table))
                .await?
                .into_iter()
                .filter_map(|row| statements::json_checked_column(row.first()?.as_deref()?))
                .collect()
        } else {
            Vec::new()
        };
        // Columns the database computes take no values: a field named like one is not written.
        let columns: Vec<Column> = conn
            .query(&statements::columns_query(dialect, &config.table))
            .await?
            .into_iter()
            .filter_map(|row| {
                let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
                if text(5) == "YES" {
                    return None;
                }
                let (name, data_type) = (text(0), text(1));
                let kind = if json_columns.contains(&name) {
                    ColumnType::Json
                } else {
                    ColumnType::of(&data_type)
                };
                Some(Column {
                    name,
                    kind,
                    data_type,
                    nullable: text(2) == "YES",
                    has_default: text(3) == "YES",
                    max_chars: text(4).parse().ok(),
                })
            })
            .collect();
        if columns.is_empty() {
            return Err(table_error(format!(
                "does not exist or has no column user `{}` may see; create it, or set auto_create_table=true",
                config.target.user
            )));
        }
        let primary_key: Vec<String> = conn
            .query(&statements::primary_key_query(dialect, &config.table))
            .await?
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect();
        let table = Table {
            name: config.table.clone(),
            columns,
            primary_key,
        };
        let mode = match config.write_mode {
            WriteMode::Append => Mode::Append,
            WriteMode::Upsert => {
                let names = if config.key_columns.is_empty() {
                    &table.primary_key
                } else {
                    &config.key_columns
                };
                if names.is_empty() {
                    return Err(table_error(
                        "has no primary key to upsert by; add one or set key_columns".into(),
                    ));
                }
                let key_columns = names
                    .iter()
                    .map(|name| {
                        table
                            .column(name)
                            .ok_or_else(|| table_error(format!("has no column `{name}` (key_columns)")))
                    })
                    .collect::<Result<_, _>>()?;
                Mode::Upsert {
                    key_columns,
                    delete_on_tombstone: config.delete_on_tombstone,
                }
            }
        };
        Ok(Shape::new(table, config.format.clone(), mode, dialect))
    }

    /// One attempt at the whole batch: connect when needed, then the transaction, both bounded by the deadline.
    async fn attempt(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, SqlError> {
        let mut connection = self.connection.lock().await;
        let limit = match self.config.statement_timeout {
            Some(timeout) => timeout.min(deadline.remaining()),
            None => deadline.remaining(),
        };
        let started = Instant::now();
        let work = async {
            let conn = match &mut *connection {
                Some(conn) => conn,
                empty => empty.insert(Connection::open(&self.config.target).await?),
            };
            self.transaction(conn, batch, limit).await
        };
        let result = match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(SqlError::TimedOut {
                elapsed_ms: started.elapsed().as_millis() as u64,
            }),
        };
        if result.as_ref().is_err_and(SqlError::table_changed) {
            *self.table.lock().await = None;
        }
        if result.is_err() {
            // A connection in an unknown state is not reused: closing it rolls the transaction back.
            let rolled_back = match (&result, &mut *connection) {
                (Err(SqlError::TimedOut { .. }), _) | (_, None) => false,
                (Err(e), Some(conn)) if !e.is_retryable() || matches!(e, SqlError::NotWritten(_)) => {
                    conn.execute("ROLLBACK").await.is_ok()
                }
                _ => false,
            };
            if !rolled_back {
                *connection = None;
            }
        }
        result
    }

    async fn transaction(
        &self,
        conn: &mut Connection,
        batch: &StagedBatch<'_>,
        limit: Duration,
    ) -> Result<Delivery, SqlError> {
        let resolved = {
            let mut table = self.table.lock().await;
            match &*table {
                Some(resolved) => Arc::clone(resolved),
                None => Arc::clone(table.insert(Arc::new(self.resolve(conn).await?))),
            }
        };
        let Resolved { shape, identity } = &*resolved;
        let dialect = self.dialect();
        let configured = self.config.table.to_string();
        let legacy = (configured != *identity).then_some(configured.as_str());
        let offsets = &self.config.offsets_table;
        let offsets_error = |e: DbError| e.context(format!("offsets table {offsets}"));
        let mut spans = batch.partitions();
        spans.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        conn.execute(&statements::begin(dialect, limit)).await?;
        conn.execute(&statements::insert_missing_offsets(dialect, offsets, identity, &spans))
            .await
            .map_err(offsets_error)?;
        // Each span's written offsets: the resolved table's row and an earlier version's under the configured name.
        let mut written = vec![OffsetRanges::default(); spans.len()];
        let span_of =
            |topic: &str, partition: i32| spans.iter().position(|s| s.partition == partition && s.topic == topic);
        for row in conn
            .query(&statements::lock_offsets(dialect, offsets, identity, legacy, &spans))
            .await
            .map_err(offsets_error)?
        {
            let [Some(topic), Some(partition), Some(next), stored] = &row[..] else {
                continue;
            };
            let ranges = match stored {
                Some(text) => OffsetRanges::parse(text),
                None => next.parse().ok().map(OffsetRanges::below),
            }
            .ok_or_else(|| {
                offsets_error(DbError::new(
                    ErrorClass::Permanent,
                    format!("the row of {topic}/{partition} holds no offset ranges: {next} {stored:?}"),
                ))
            })?;
            let Some(span) = partition.parse().ok().and_then(|partition| span_of(topic, partition)) else {
                return Err(offsets_error(DbError::new(
                    ErrorClass::Permanent,
                    format!("a locked row names no partition of the batch: {topic}/{partition}"),
                ))
                .into());
            };
            for (first, last) in ranges.iter() {
                written[span].insert(first, last);
            }
        }
        // Offsets written before, and an offset the event holds twice (its second copy), are skipped.
        let mut seen = vec![OffsetRanges::default(); spans.len()];
        let fresh: Vec<_> = batch
            .records()
            .enumerate()
            .filter(|(_, r)| {
                let Some(span) = span_of(r.topic, r.partition) else {
                    return false;
                };
                if written[span].contains(r.offset) || seen[span].contains(r.offset) {
                    return false;
                }
                seen[span].insert(r.offset, r.offset);
                true
            })
            .collect();
        let already_written = batch.len() - fresh.len();
        if fresh.is_empty() {
            conn.execute("COMMIT").await?;
            return Ok(Delivery {
                skipped: already_written,
                ..Delivery::default()
            });
        }
        let planned = rows::plan(shape, fresh);
        let mut bad: Vec<(usize, Cause, String)> = planned
            .rejected
            .into_iter()
            .map(|(index, reason)| (index, Cause::Transform, reason))
            .chain(
                planned
                    .malformed
                    .into_iter()
                    .map(|(index, reason)| (index, Cause::Refused, reason)),
            )
            .collect();
        let upsert_key = match &shape.mode {
            Mode::Append => None,
            Mode::Upsert { key_columns, .. } => Some(key_columns.as_slice()),
        };
        let mut loaded = planned.superseded;
        // Deletes first: a key deleted then written again in the batch ends with its new row.
        let deletes = upsert_key.map(|key| (Load::Deletes { key }, planned.deletes.as_slice()));
        let rows = planned
            .groups
            .iter()
            .map(|group| (Load::Rows { group, upsert_key }, group.rows.as_slice()));
        let loads: Vec<(Load<'_>, &[Row<'_>])> = deletes.into_iter().chain(rows).collect();
        for (load, rows) in loads {
            let refused = self
                .load_finding_refused(conn, shape, &load, rows.iter().collect())
                .await?;
            loaded += rows.len() - refused.len();
            bad.extend(
                refused
                    .into_iter()
                    .map(|(index, reason)| (index, Cause::Refused, reason)),
            );
        }
        let dead_lettered = bad.len();
        if !bad.is_empty() {
            self.dead_letter(conn, batch, bad).await?;
        }
        for (span, ranges) in spans.iter().zip(&mut written) {
            ranges.insert(span.first_offset, span.last_offset);
        }
        let saved = spans
            .iter()
            .zip(&written)
            .map(|(span, ranges)| (span.topic.as_str(), span.partition, ranges));
        for sql in statements::save_offsets(dialect, offsets, identity, saved) {
            conn.execute(&sql).await?;
        }
        conn.execute("COMMIT").await?;
        Ok(Delivery {
            written: loaded,
            dead_lettered,
            skipped: already_written + planned.tombstones_skipped,
        })
    }

    /// Loads `rows`; when the database refuses the load for a row's sake, halves it until each refused row is
    /// found alone (each try inside a savepoint, so the rest of the transaction stands).
    async fn load_finding_refused(
        &self,
        conn: &mut Connection,
        shape: &Shape,
        load: &Load<'_>,
        rows: Vec<&Row<'_>>,
    ) -> Result<Vec<(usize, String)>, SqlError> {
        let mut refused = Vec::new();
        let mut pending = vec![rows];
        while let Some(part) = pending.pop() {
            if part.is_empty() {
                continue;
            }
            conn.execute(statements::SAVEPOINT).await?;
            match self.load(conn, shape, load, &part).await {
                Ok(()) => conn.execute(statements::RELEASE_SAVEPOINT).await?,
                Err(e) if e.class == ErrorClass::Row => {
                    conn.execute(statements::ROLLBACK_TO_SAVEPOINT).await?;
                    if let [row] = part[..] {
                        refused.push((row.record, e.message));
                    } else {
                        let (first, second) = part.split_at(part.len() / 2);
                        pending.push(second.to_vec());
                        pending.push(first.to_vec());
                    }
                }
                Err(e) => return Err(e.context(format!("loading into {}", self.config.table)).into()),
            }
        }
        Ok(refused)
    }

    async fn load(
        &self,
        conn: &mut Connection,
        shape: &Shape,
        load: &Load<'_>,
        rows: &[&Row<'_>],
    ) -> Result<(), DbError> {
        let dialect = self.dialect();
        let limit = SizeLimit {
            server_max: conn.max_statement_bytes(),
        };
        let statements = match *load {
            Load::Rows {
                group,
                upsert_key: None,
            } => {
                if let Some(pg) = conn.postgres() {
                    let (sql, data) = statements::copy_in(&shape.table, group, rows);
                    return pg.copy_in(&sql, data).await;
                }
                statements::insert(dialect, &shape.table, group, rows, None, limit)
            }
            Load::Rows { group, upsert_key } => {
                statements::insert(dialect, &shape.table, group, rows, upsert_key, limit)
            }
            Load::Deletes { key } => Statements {
                sql: vec![statements::delete(dialect, &shape.table, key, rows)],
                oversized: Vec::new(),
            },
        };
        if !statements.oversized.is_empty() {
            // Found alone by halving, like any row the database refuses.
            return Err(DbError::new(
                ErrorClass::Row,
                format!(
                    "the row is larger than the largest statement the server takes ({} bytes: max_allowed_packet)",
                    limit.server_max
                ),
            ));
        }
        for sql in statements.sql {
            conn.execute(&sql).await?;
        }
        Ok(())
    }

    /// Stores the records that cannot be rows in the dead-letter table, in the batch's transaction; without one,
    /// the batch fails naming them.
    async fn dead_letter(
        &self,
        conn: &mut Connection,
        batch: &StagedBatch<'_>,
        bad: Vec<(usize, Cause, String)>,
    ) -> Result<(), SqlError> {
        let Some(table) = &self.config.dead_letter_table else {
            let unwritten = bad
                .into_iter()
                .map(|(record, cause, reason)| Unwritten {
                    record,
                    failure: Failure::new(format!("{} (no dead_letter_table)", cause.describe(&reason)), false),
                })
                .collect();
            return Err(NotWritten::of(batch, unwritten).expect("bad records exist").into());
        };
        let mut records: Vec<Record<'_>> = Vec::with_capacity(bad.len());
        let mut causes: Vec<Cause> = Vec::with_capacity(bad.len());
        let mut reasons: Vec<String> = Vec::with_capacity(bad.len());
        for (index, cause, reason) in bad {
            records.push(batch.get(index).expect("bad records index the batch").record);
            causes.push(cause);
            reasons.push(reason);
        }
        let target = self.config.table.to_string();
        let failed_at = rows::sql_time(now_epoch_ms());
        let limit = SizeLimit {
            server_max: conn.max_statement_bytes(),
        };
        let dialect = self.dialect();
        let mut statements = statements::insert_dead_letters(
            dialect,
            table,
            &dead_letters(&records, &causes, &reasons, &target),
            &failed_at,
            limit,
        );
        if !statements.oversized.is_empty() {
            // A record larger than any statement the server takes is stored without its bytes: its letter
            // says where to find them.
            for &i in &statements.oversized {
                let record = &records[i];
                let size = record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len);
                // The letter's cause becomes its size; the reason keeps what it was set aside for.
                reasons[i] = format!(
                    "{} (the record's key and value, {size} bytes, are over the server's max_allowed_packet)",
                    causes[i].describe(&reasons[i])
                );
                causes[i] = Cause::TooLarge;
            }
            statements = statements::insert_dead_letters(
                dialect,
                table,
                &dead_letters(&records, &causes, &reasons, &target),
                &failed_at,
                limit,
            );
            if let Some(&i) = statements.oversized.first() {
                let record = &records[i];
                return Err(DbError::new(
                    ErrorClass::Permanent,
                    format!(
                        "the dead letter of {}/{}/{} is over max_allowed_packet ({} bytes) even without its bytes",
                        record.topic, record.partition, record.offset, limit.server_max
                    ),
                )
                .context(format!("dead-letter table {table}"))
                .into());
            }
        }
        for sql in statements.sql {
            conn.execute(&sql).await.map_err(|e| {
                DbError::new(ErrorClass::Permanent, e.message).context(format!("dead-letter table {table}"))
            })?;
        }
        Ok(())
    }
}

/// The dead letters of `records`, each with its cause and reason, meant for `target`.
fn dead_letters<'a>(
    records: &'a [Record<'a>],
    causes: &[Cause],
    reasons: &'a [String],
    target: &'a str,
) -> Vec<DeadLetter<'a>> {
    records
        .iter()
        .zip(causes)
        .zip(reasons)
        .map(|((record, cause), reason)| DeadLetter {
            record,
            cause: *cause,
            reason,
            target,
        })
        .collect()
}

/// The target table as the database resolved it on the first batch of the process.
struct Resolved {
    shape: Shape,
    /// `schema.table`: what the offsets rows are kept under.
    identity: String,
}

/// What one load writes: a group's rows (appended, or upserted by a key), or the tombstones' deletes.
#[derive(Clone, Copy)]
enum Load<'p> {
    Rows {
        group: &'p Group<'p>,
        upsert_key: Option<&'p [usize]>,
    },
    Deletes {
        key: &'p [usize],
    },
}

fn describe_spans(spans: &[PartitionSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{}/{} offsets {}-{}",
                s.topic, s.partition, s.first_offset, s.last_offset
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Sink for SqlSink {
    type Error = SqlError;

    fn target(&self) -> String {
        format!("{} table {}", self.config.target.describe(), self.config.table)
    }

    fn dead_letters_rejected(&self) -> bool {
        self.config.dead_letter_table.is_some()
    }

    async fn write(&self, batch: &StagedBatch<'_>, deadline: Deadline) -> Result<Delivery, SqlError> {
        let bound = Bound::Cutoff {
            deadline,
            attempt_budget: Duration::from_millis(100),
        };
        let mut retries = RetryPolicy::DEFAULT.retries("the batch", bound);
        let mut reread = false;
        let failed = loop {
            let e = match self.attempt(batch, deadline).await {
                Ok(delivery) => return Ok(delivery),
                Err(e) => e,
            };
            // Once: the table as read again (attempt forgot the old shape) must take the batch, or the error
            // is the configuration's, not a change.
            if e.table_changed() && !reread {
                reread = true;
                retries.again(&e);
            } else if !e.is_retryable() {
                break e;
            } else if let Err(e) = retries.wait(e).await {
                break e;
            }
        };
        Err(failed.records(&describe_spans(&batch.partitions())))
    }
}
