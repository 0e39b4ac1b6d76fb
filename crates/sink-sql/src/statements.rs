//! The SQL ckafka-dump sends, per dialect: pure text building, tested without a database.

use std::borrow::Cow;
use std::time::Duration;

use ckafka_dump_core::dead_letter::DeadLetter;
use ckafka_dump_core::{OffsetRanges, PartitionSpan};

use crate::encode::{push_copy_row, Cell, Dialect};
use crate::rows::{Group, Row};
use crate::schema::{Table, TableName};

/// Rows are sent in statements of about this size (also under the server's own limit, which may be smaller).
pub const STATEMENT_BYTES: usize = 4 << 20;

/// How large a statement may be: [`STATEMENT_BYTES`] for several rows, the server's limit for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimit {
    pub server_max: usize,
}

impl SizeLimit {
    fn rows_target(self) -> usize {
        STATEMENT_BYTES.min(self.server_max)
    }
}

/// INSERT statements of some rows, and the rows (their positions) that fit in no statement the server takes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Statements {
    pub sql: Vec<String>,
    pub oversized: Vec<usize>,
}

/// The session every connection starts with: UTC, and (MySQL) strict conversions, so a value the column cannot
/// hold is an error instead of a silently truncated row.
pub fn session_setup(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SET TIME ZONE 'UTC'; SET standard_conforming_strings = on; SET client_min_messages = warning"
        }
        Dialect::Mysql => {
            "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
             ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', NAMES utf8mb4"
        }
    }
}

/// Opens the batch's transaction; statements and lock waits end before `limit`.
pub fn begin(dialect: Dialect, limit: Duration) -> String {
    let ms = limit.as_millis().max(1);
    match dialect {
        Dialect::Postgres => format!("BEGIN; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"),
        Dialect::Mysql => format!(
            "SET SESSION innodb_lock_wait_timeout = {}; START TRANSACTION",
            ms.div_ceil(1000)
        ),
    }
}

/// The table's schema as SQL: its own, or the session's (PostgreSQL's search path, MySQL's database).
fn schema_of(dialect: Dialect, table: &TableName) -> String {
    match (&table.schema, dialect) {
        (Some(schema), _) => dialect.str_literal(schema),
        (None, Dialect::Postgres) => "current_schema()".to_owned(),
        (None, Dialect::Mysql) => "database()".to_owned(),
    }
}

/// The target table's columns: name, data type, nullable, default (non-NULL when there is one), max chars,
/// and whether the database computes it (a generated column, or an identity that refuses given values).
pub fn columns_query(dialect: Dialect, table: &TableName) -> String {
    let (extra_default, generated) = match dialect {
        Dialect::Postgres => (
            "OR is_identity = 'YES'",
            "is_generated <> 'NEVER' OR identity_generation = 'ALWAYS'",
        ),
        Dialect::Mysql => (
            "OR extra LIKE '%auto_increment%'",
            "extra LIKE '%VIRTUAL GENERATED%' OR extra LIKE '%STORED GENERATED%' OR extra LIKE '%PERSISTENT%'",
        ),
    };
    let schema = schema_of(dialect, table);
    format!(
        "SELECT column_name, data_type, is_nullable, \
         CASE WHEN column_default IS NOT NULL {extra_default} THEN 'YES' ELSE 'NO' END, \
         character_maximum_length, CASE WHEN {generated} THEN 'YES' ELSE 'NO' END \
         FROM information_schema.columns \
         WHERE table_schema = {schema} AND {} ORDER BY ordinal_position",
        table_name_is(dialect, "table_name", &table.name)
    )
}

/// MariaDB's JSON columns (a `longtext` with a `json_valid` CHECK): the CHECK clauses of the table. For MariaDB
/// only: MySQL's check_constraints has no table_name (and MySQL's JSON is a type of its own).
pub fn mariadb_checks_query(table: &TableName) -> String {
    let dialect = Dialect::Mysql;
    format!(
        "SELECT check_clause FROM information_schema.check_constraints \
         WHERE constraint_schema = {} AND {}",
        schema_of(dialect, table),
        table_name_is(dialect, "table_name", &table.name)
    )
}

/// The column a MariaDB CHECK clause `json_valid(`name`)` makes a JSON column.
pub fn json_checked_column(clause: &str) -> Option<String> {
    let name = clause.strip_prefix("json_valid(`")?.strip_suffix("`)")?;
    Some(name.replace("``", "`"))
}

pub fn primary_key_query(dialect: Dialect, table: &TableName) -> String {
    let schema = schema_of(dialect, table);
    format!(
        "SELECT k.column_name FROM information_schema.table_constraints c \
         JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name \
         AND k.table_schema = c.table_schema AND k.table_name = c.table_name \
         WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = {schema} AND {} \
         ORDER BY k.ordinal_position",
        table_name_is(dialect, "c.table_name", &table.name)
    )
}

/// Binary types of the dialect for a record's key and value, and a long text.
fn types(dialect: Dialect) -> (&'static str, &'static str, &'static str) {
    match dialect {
        Dialect::Postgres => ("bytea", "text", "timestamptz"),
        Dialect::Mysql => ("longblob", "longtext", "datetime(3)"),
    }
}

/// A topic or table name column of ckafka-dump's own tables (MySQL keys cannot be `text`). Names compare
/// exactly: MySQL's default collation would make topics `ORD` and `ord`, or tables `RCASE` and `rcase`, one.
fn name_type(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "text",
        Dialect::Mysql => MYSQL_NAME_TYPE,
    }
}

const MYSQL_NAME_TYPE: &str = "varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

/// The columns of one of ckafka-dump's own tables and their collations (empty: the table does not exist).
pub fn own_table_columns_query(dialect: Dialect, table: &TableName) -> String {
    format!(
        "SELECT column_name, collation_name FROM information_schema.columns WHERE table_schema = {} AND {}",
        schema_of(dialect, table),
        table_name_is(dialect, "table_name", &table.name)
    )
}

/// `<column> = 'name'`, compared as the database compares table names (MySQL's information_schema compares
/// without case, while its tables are distinct by case unless `lower_case_table_names` says otherwise).
fn table_name_is(dialect: Dialect, column: &str, name: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("{column} = {}", dialect.str_literal(name)),
        Dialect::Mysql => format!(
            "BINARY {column} = IF(@@lower_case_table_names = 0, {0}, LOWER({0}))",
            dialect.str_literal(name)
        ),
    }
}

/// The table as the database resolves the configured name: `schema.table`, the identity its offsets are kept
/// under, whatever the spelling (`ev`, `public.ev`) or the user's search path. No row: no such table.
pub fn resolve_table_query(dialect: Dialect, table: &TableName) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass({})",
            dialect.str_literal(&dialect.table(table))
        ),
        Dialect::Mysql => format!(
            "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables \
             WHERE table_schema = {} AND {}",
            schema_of(dialect, table),
            table_name_is(dialect, "table_name", &table.name)
        ),
    }
}

/// What an offsets table made by an earlier version lacks: the written ranges, and (MySQL) exact names.
pub fn upgrade_offsets_table(
    dialect: Dialect,
    offsets: &TableName,
    columns: &[(String, Option<String>)],
) -> Vec<String> {
    let mut changes = Vec::new();
    if !columns.iter().any(|(name, _)| name == "written") {
        changes.push(format!("ADD COLUMN {} {}", dialect.ident("written"), types(dialect).1));
    }
    if dialect == Dialect::Mysql {
        for name in ["target_table", "topic"] {
            let exact = columns
                .iter()
                .any(|(column, collation)| column == name && collation.as_deref().is_some_and(|c| c.ends_with("_bin")));
            if !exact {
                changes.push(format!("MODIFY {} {MYSQL_NAME_TYPE} NOT NULL", dialect.ident(name)));
            }
        }
    }
    if changes.is_empty() {
        return Vec::new();
    }
    vec![format!("ALTER TABLE {} {}", dialect.table(offsets), changes.join(", "))]
}

/// Each partition's written offsets (`written`, [`OffsetRanges`] text) and the offset after the highest, per
/// target table; rows are locked by the batch's transaction. Rows of earlier versions have no ranges: their
/// `next_offset` was a high-water mark.
pub fn create_offsets_table(dialect: Dialect, offsets: &TableName) -> String {
    let name_type = name_type(dialect);
    let text = types(dialect).1;
    let q = |s| dialect.ident(s);
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({} {name_type} NOT NULL, {} {name_type} NOT NULL, {} integer NOT NULL, \
         {} bigint NOT NULL, {} {text}, PRIMARY KEY ({}, {}, {}))",
        dialect.table(offsets),
        q("target_table"),
        q("topic"),
        q("partition"),
        q("next_offset"),
        q("written"),
        q("target_table"),
        q("topic"),
        q("partition")
    )
}

fn partition_rows(dialect: Dialect, target: &str, spans: &[PartitionSpan]) -> Vec<String> {
    spans
        .iter()
        .map(|s| {
            format!(
                "{}, {}, {}",
                dialect.str_literal(target),
                dialect.str_literal(&s.topic),
                s.partition
            )
        })
        .collect()
}

/// Makes sure each partition of the batch has an offsets row (spans sorted: concurrent batches lock in one order).
pub fn insert_missing_offsets(dialect: Dialect, offsets: &TableName, target: &str, spans: &[PartitionSpan]) -> String {
    let values: Vec<String> = partition_rows(dialect, target, spans)
        .into_iter()
        .map(|row| format!("({row}, 0)"))
        .collect();
    let columns = offsets_columns(dialect);
    match dialect {
        Dialect::Postgres => format!(
            "INSERT INTO {} ({columns}) VALUES {} ON CONFLICT DO NOTHING",
            dialect.table(offsets),
            values.join(", ")
        ),
        Dialect::Mysql => format!(
            "INSERT IGNORE INTO {} ({columns}) VALUES {}",
            dialect.table(offsets),
            values.join(", ")
        ),
    }
}

fn offsets_columns(dialect: Dialect) -> String {
    ["target_table", "topic", "partition", "next_offset"]
        .map(|c| dialect.ident(c))
        .join(", ")
}

/// Locks the batch's offsets rows (waiting for an overlapping invocation to commit) and reads them: the rows of
/// the resolved table, and those an earlier version kept under the configured spelling (`legacy`).
pub fn lock_offsets(
    dialect: Dialect,
    offsets: &TableName,
    target: &str,
    legacy: Option<&str>,
    spans: &[PartitionSpan],
) -> String {
    let q = |s| dialect.ident(s);
    let keys: Vec<String> = std::iter::once(target)
        .chain(legacy)
        .flat_map(|table| partition_rows(dialect, table, spans))
        .map(|row| format!("({row})"))
        .collect();
    format!(
        "SELECT {}, {}, {}, {} FROM {} WHERE ({}, {}, {}) IN ({}) ORDER BY {}, {}, {} FOR UPDATE",
        q("topic"),
        q("partition"),
        q("next_offset"),
        q("written"),
        dialect.table(offsets),
        q("target_table"),
        q("topic"),
        q("partition"),
        keys.join(", "),
        q("target_table"),
        q("topic"),
        q("partition")
    )
}

/// Stores each partition's written offsets after the batch.
pub fn save_offsets<'s>(
    dialect: Dialect,
    offsets: &TableName,
    target: &str,
    written: impl IntoIterator<Item = (&'s str, i32, &'s OffsetRanges)>,
) -> Vec<String> {
    let q = |s| dialect.ident(s);
    written
        .into_iter()
        .map(|(topic, partition, ranges)| {
            format!(
                "UPDATE {} SET {} = {}, {} = {} WHERE {} = {} AND {} = {} AND {} = {}",
                dialect.table(offsets),
                q("next_offset"),
                ranges.next_offset(),
                q("written"),
                dialect.str_literal(&ranges.to_string()),
                q("target_table"),
                dialect.str_literal(target),
                q("topic"),
                dialect.str_literal(topic),
                q("partition"),
                partition,
            )
        })
        .collect()
}

pub fn create_dead_letter_table(dialect: Dialect, dead_letters: &TableName) -> String {
    let (bytes, text, time) = types(dialect);
    let name_type = name_type(dialect);
    let q = |s| dialect.ident(s);
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({} {name_type} NOT NULL, {} {name_type} NOT NULL, {} integer NOT NULL, \
         {} bigint NOT NULL, {} {bytes}, {} {bytes}, {} {text}, {} {text} NOT NULL, {} {time} NOT NULL, \
         PRIMARY KEY ({}, {}, {}, {}))",
        dialect.table(dead_letters),
        q("target_table"),
        q("topic"),
        q("partition"),
        q("offset"),
        q("key"),
        q("value"),
        q("headers"),
        q("error"),
        q("failed_at"),
        q("target_table"),
        q("topic"),
        q("partition"),
        q("offset"),
    )
}

/// The `error` column of a dead letter: why, as every function reports it (a stage rejection as
/// `transform: …`), without a NUL (unstorable on PostgreSQL) and cut short (a database's error may quote a whole
/// value); for a letter without its bytes, where to read them.
fn error_text(letter: &DeadLetter<'_>) -> String {
    let mut error = letter.cause.describe(letter.reason);
    if !letter.keeps_bytes() {
        error.push_str(&format!(" (not stored here: {})", letter.not_stored()));
    }
    ckafka_dump_core::error::shortened(&error.replace('\0', "\\0"), 2000)
}

/// The layout's members as the dead-letter table's columns: `target` (the table the records were meant for),
/// the coordinates, key, value, headers (a JSON list), the error and when.
pub fn insert_dead_letters(
    dialect: Dialect,
    dead_letters: &TableName,
    letters: &[DeadLetter<'_>],
    failed_at: &str,
    limit: SizeLimit,
) -> Statements {
    let columns = [
        "target_table",
        "topic",
        "partition",
        "offset",
        "key",
        "value",
        "headers",
        "error",
        "failed_at",
    ]
    .map(|c| dialect.ident(c))
    .join(", ");
    let rows: Vec<Vec<Cell<'_>>> = letters
        .iter()
        .map(|l| {
            let r = l.record;
            let bytes = |b: Option<&[u8]>| {
                b.filter(|_| l.keeps_bytes())
                    .map_or(Cell::Null, |b| Cell::Bytes(Cow::Owned(b.to_vec())))
            };
            let headers = match l.keeps_bytes() {
                true => ckafka_dump_core::json::headers_json(r),
                false => "[]".to_owned(),
            };
            vec![
                Cell::Text(Cow::Borrowed(l.target)),
                Cell::Text(Cow::Borrowed(r.topic)),
                Cell::Text(Cow::Owned(r.partition.to_string())),
                Cell::Text(Cow::Owned(r.offset.to_string())),
                bytes(r.key),
                bytes(r.value),
                Cell::Text(Cow::Owned(headers)),
                Cell::Text(Cow::Owned(error_text(l))),
                Cell::Text(Cow::Borrowed(failed_at)),
            ]
        })
        .collect();
    let head = format!("INSERT INTO {} ({columns}) VALUES ", dialect.table(dead_letters));
    // A record dead-lettered again (its offsets row reset by hand) replaces its letter instead of failing.
    let tail = match dialect {
        Dialect::Postgres => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            ["target_table", "topic", "partition", "offset"]
                .map(|c| dialect.ident(c))
                .join(", "),
            ["key", "value", "headers", "error", "failed_at"]
                .map(|c| format!("{0} = EXCLUDED.{0}", dialect.ident(c)))
                .join(", ")
        ),
        Dialect::Mysql => format!(
            " ON DUPLICATE KEY UPDATE {}",
            ["key", "value", "headers", "error", "failed_at"]
                .map(|c| format!("{0} = VALUES({0})", dialect.ident(c)))
                .join(", ")
        ),
    };
    values_statements(dialect, &head, rows.iter().map(Vec::as_slice), &tail, limit)
}

/// The table `auto_create_table=true` makes: the record's metadata and its value as text.
pub fn create_raw_table(dialect: Dialect, table: &TableName) -> String {
    let (bytes, text, time) = types(dialect);
    let q = |s| dialect.ident(s);
    let topic = match dialect {
        Dialect::Postgres => "text",
        Dialect::Mysql => "varchar(249)",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({} {topic} NOT NULL, {} integer NOT NULL, {} bigint NOT NULL, {} {bytes}, \
         {} {time}, {} {text}, {} {text}, PRIMARY KEY ({}, {}, {}))",
        dialect.table(table),
        q("topic"),
        q("partition"),
        q("offset"),
        q("key"),
        q("timestamp"),
        q("headers"),
        q("value"),
        q("topic"),
        q("partition"),
        q("offset"),
    )
}

fn column_list(dialect: Dialect, table: &Table, columns: &[usize]) -> String {
    columns
        .iter()
        .map(|&c| dialect.ident(&table.columns[c].name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's bulk load of a group: the COPY statement and its data.
pub fn copy_in(table: &Table, group: &Group<'_>, rows: &[&Row<'_>]) -> (String, Vec<u8>) {
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        Dialect::Postgres.table(&table.name),
        column_list(Dialect::Postgres, table, &group.columns)
    );
    let mut data = Vec::with_capacity(rows.iter().map(|r| r.cells.len() * 16).sum());
    for row in rows {
        push_copy_row(&mut data, &row.cells);
    }
    (sql, data)
}

/// Multi-row INSERTs of `rows` (of `group`) within `limit`; with `upsert_key`, a row whose key exists is
/// updated instead (`ON CONFLICT` / `ON DUPLICATE KEY UPDATE`).
pub fn insert(
    dialect: Dialect,
    table: &Table,
    group: &Group<'_>,
    rows: &[&Row<'_>],
    upsert_key: Option<&[usize]>,
    limit: SizeLimit,
) -> Statements {
    let head = format!(
        "INSERT INTO {} ({}) VALUES ",
        dialect.table(&table.name),
        column_list(dialect, table, &group.columns)
    );
    let tail = match upsert_key {
        None => String::new(),
        Some(key) => {
            let updated: Vec<String> = group
                .columns
                .iter()
                .filter(|c| !key.contains(c))
                .map(|&c| {
                    let name = dialect.ident(&table.columns[c].name);
                    match dialect {
                        Dialect::Postgres => format!("{name} = EXCLUDED.{name}"),
                        Dialect::Mysql => format!("{name} = VALUES({name})"),
                    }
                })
                .collect();
            match (dialect, updated.is_empty()) {
                (Dialect::Postgres, true) => {
                    format!(" ON CONFLICT ({}) DO NOTHING", column_list(dialect, table, key))
                }
                (Dialect::Postgres, false) => format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    column_list(dialect, table, key),
                    updated.join(", ")
                ),
                (Dialect::Mysql, _) => {
                    let first_key = dialect.ident(&table.columns[key[0]].name);
                    let updated = if updated.is_empty() {
                        format!("{first_key} = {first_key}")
                    } else {
                        updated.join(", ")
                    };
                    format!(" ON DUPLICATE KEY UPDATE {updated}")
                }
            }
        }
    };
    values_statements(dialect, &head, rows.iter().map(|r| r.cells.as_slice()), &tail, limit)
}

/// `head` + rows + `tail` statements: rows join a statement while it stays under the limit's target, a row
/// alone may fill what the server takes, and a row too large even alone is left out and named.
fn values_statements<'c, 'r: 'c>(
    dialect: Dialect,
    head: &str,
    rows: impl Iterator<Item = &'c [Cell<'r>]>,
    tail: &str,
    limit: SizeLimit,
) -> Statements {
    let mut out = Statements::default();
    let mut sql = String::new();
    let mut row = String::new();
    for (i, cells) in rows.enumerate() {
        row.clear();
        row.push('(');
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                row.push_str(", ");
            }
            dialect.push_literal(&mut row, cell);
        }
        row.push(')');
        if head.len() + row.len() + tail.len() > limit.server_max {
            out.oversized.push(i);
            continue;
        }
        if !sql.is_empty() && sql.len() + 2 + row.len() + tail.len() > limit.rows_target() {
            sql.push_str(tail);
            out.sql.push(std::mem::take(&mut sql));
        }
        sql.push_str(if sql.is_empty() { head } else { ", " });
        sql.push_str(&row);
    }
    if !sql.is_empty() {
        sql.push_str(tail);
        out.sql.push(sql);
    }
    out
}

/// Deletes the rows with the tombstones' keys.
pub fn delete(dialect: Dialect, table: &Table, key: &[usize], rows: &[&Row<'_>]) -> String {
    let keys: Vec<String> = rows
        .iter()
        .map(|r| {
            let values: Vec<String> = r.cells.iter().map(|c| dialect.literal(c)).collect();
            format!("({})", values.join(", "))
        })
        .collect();
    format!(
        "DELETE FROM {} WHERE ({}) IN ({})",
        dialect.table(&table.name),
        column_list(dialect, table, key),
        keys.join(", ")
    )
}

/// Around each load: a load the database refuses for a row's sake is undone alone, the transaction goes on.
pub const SAVEPOINT: &str = "SAVEPOINT ckafka_dump_load";
pub const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT ckafka_dump_load";
pub const RELEASE_SAVEPOINT: &str = "RELEASE SAVEPOINT ckafka_dump_load";

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::dead_letter::Cause;

    fn cells(text: &str) -> Vec<Cell<'_>> {
        vec![Cell::Text(Cow::Borrowed(text))]
    }

    #[test]
    fn rows_join_statements_under_the_server_limit_and_a_row_over_it_is_named() {
        let (small, large, huge) = ("s".repeat(10), "l".repeat(600), "h".repeat(2000));
        let rows = [cells(&small), cells(&large), cells(&large), cells(&huge), cells(&small)];
        let limit = SizeLimit { server_max: 1000 };
        let out = values_statements(
            Dialect::Mysql,
            "INSERT INTO t (a) VALUES ",
            rows.iter().map(Vec::as_slice),
            "",
            limit,
        );
        assert_eq!(out.oversized, [3], "the 2,000-byte row fits no statement");
        assert_eq!(
            out.sql.len(),
            2,
            "two 600-byte rows never share a 1,000-byte statement: {:?}",
            out.sql
        );
        assert!(out.sql.iter().all(|sql| sql.len() <= 1000));
        assert!(out.sql[1].ends_with(&format!("'{large}'), ('{small}')")));
    }

    #[test]
    fn dead_letters_replace_a_letter_of_the_same_record() {
        let target = TableName::parse("dead").unwrap();
        let record = ckafka_dump_core::Record::new("t", 0, 5, None, None, Some(b"v"));
        let letter = DeadLetter {
            record: &record,
            cause: Cause::Refused,
            reason: "bad",
            target: "public.ev",
        };
        let limit = SizeLimit { server_max: 1 << 20 };
        let pg = insert_dead_letters(
            Dialect::Postgres,
            &target,
            std::slice::from_ref(&letter),
            "2024-01-01",
            limit,
        );
        assert!(pg.sql[0].contains("ON CONFLICT (\"target_table\", \"topic\", \"partition\", \"offset\") DO UPDATE"));
        let my = insert_dead_letters(Dialect::Mysql, &target, &[letter], "2024-01-01", limit);
        assert!(
            my.sql[0].ends_with("`failed_at` = VALUES(`failed_at`)"),
            "{}",
            my.sql[0]
        );
    }
}
