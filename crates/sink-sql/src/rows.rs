//! Records → rows, shaped by the target table: metadata columns, a JSON value's fields, or delimited lines.
//! Pure: what a record cannot become (a conversion the column refuses) is found here, before any load.

use std::borrow::Cow;
use std::collections::HashMap;

use ckafka_dump_core::time::DateTime;
use ckafka_dump_core::value::{Meta, Object, Slot};
use ckafka_dump_core::{Outcome, Record, StagedRecord};

use crate::encode::{Cell, Dialect};
use crate::schema::{Column, ColumnType, Table};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFormat {
    /// Columns by name: record metadata and the top-level fields of a JSON object value.
    Columns,
    /// The CDW template's lines: the value split by `separator` into the table's columns in order.
    Delimited { separator: char, null: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Append,
    /// By `key_columns` (table column indices); a tombstone deletes its key's row when `delete_on_tombstone`.
    Upsert {
        key_columns: Vec<usize>,
        delete_on_tombstone: bool,
    },
}

/// What a column takes from a record besides the value's fields: Kafka metadata, or the whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Whole {
    Meta(Meta),
    Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// Kafka names (`offset`, `msgBody`, `kafka_*`): always the record's.
    Record(Whole),
    /// Generic names (`key`, `value`, `timestamp`, `headers`): the value's field when it has one.
    FieldOrRecord(Whole),
    Field,
}

impl Source {
    fn of(column: &str) -> Source {
        match column.to_ascii_lowercase().as_str() {
            "topic" | "kafka_topic" => Source::Record(Whole::Meta(Meta::Topic)),
            "partition" | "kafka_partition" => Source::Record(Whole::Meta(Meta::Partition)),
            "offset" | "kafka_offset" => Source::Record(Whole::Meta(Meta::Offset)),
            "msgkey" | "kafka_key" => Source::Record(Whole::Meta(Meta::Key)),
            "msgbody" | "kafka_value" => Source::Record(Whole::Value),
            "kafka_timestamp" => Source::Record(Whole::Meta(Meta::Timestamp)),
            "kafka_headers" => Source::Record(Whole::Meta(Meta::Headers)),
            "key" => Source::FieldOrRecord(Whole::Meta(Meta::Key)),
            "value" => Source::FieldOrRecord(Whole::Value),
            "timestamp" => Source::FieldOrRecord(Whole::Meta(Meta::Timestamp)),
            "headers" => Source::FieldOrRecord(Whole::Meta(Meta::Headers)),
            _ => Source::Field,
        }
    }
}

/// How records become rows of one table, decided once at cold start.
#[derive(Debug, Clone)]
pub struct Shape {
    pub table: Table,
    pub format: RowFormat,
    pub mode: Mode,
    sources: Vec<Source>,
    /// Some column takes a field of the value: values are parsed as JSON objects.
    reads_fields: bool,
    /// Fields are the only home of the value's content: a value that is not a JSON object is malformed.
    needs_object: bool,
    /// The database's text cannot hold the NUL character (PostgreSQL): such a value is the record's fault.
    nul_refused: bool,
}

impl Shape {
    pub fn new(table: Table, format: RowFormat, mode: Mode, dialect: Dialect) -> Shape {
        let sources: Vec<Source> = table.columns.iter().map(|c| Source::of(&c.name)).collect();
        let reads_fields = format == RowFormat::Columns && sources.iter().any(|s| !matches!(s, Source::Record(_)));
        let keeps_value = sources
            .iter()
            .any(|s| matches!(s, Source::Record(Whole::Value) | Source::FieldOrRecord(Whole::Value)));
        let needs_object = reads_fields && !keeps_value && sources.contains(&Source::Field);
        Shape {
            table,
            format,
            mode,
            sources,
            reads_fields,
            needs_object,
            nul_refused: dialect == Dialect::Postgres,
        }
    }

    fn key_columns(&self) -> &[usize] {
        match &self.mode {
            Mode::Append => &[],
            Mode::Upsert { key_columns, .. } => key_columns,
        }
    }
}

/// Rows of one set of columns: one COPY or INSERT statement's worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'b> {
    /// Table column indices, in table order.
    pub columns: Vec<usize>,
    pub rows: Vec<Row<'b>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'b> {
    /// The record's index in the batch.
    pub record: usize,
    /// Aligned with the group's columns (for a delete: the key columns).
    pub cells: Vec<Cell<'b>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Planned<'b> {
    pub groups: Vec<Group<'b>>,
    /// Upsert mode's tombstones with `delete_on_tombstone`: the key columns' values, deleted before the rows
    /// are written (a key deleted then upserted again in the batch has both).
    pub deletes: Vec<Row<'b>>,
    /// Records the transform stage rejected, and why.
    pub rejected: Vec<(usize, String)>,
    /// Records that cannot become rows, and why.
    pub malformed: Vec<(usize, String)>,
    /// Tombstones nothing is done with.
    pub tombstones_skipped: usize,
    /// Upserts merged into a later record's row of the same key, and upserts or deletes a later delete of the
    /// key made moot: written, as their effect is in the final state.
    pub superseded: usize,
}

enum Pending<'b> {
    Upsert(Vec<Option<Cell<'b>>>),
    Delete(Vec<Cell<'b>>),
}

/// What a batch does to one key (upsert mode), its records applied in order: the columns its upserts gave
/// (later values over earlier ones, as separate batches would leave them) and the delete that comes first.
struct KeyState<'b> {
    /// The record whose row it is (the last upsert's); with no upsert after a delete, unused.
    record: usize,
    cells: Option<Vec<Option<Cell<'b>>>>,
    /// A tombstone's delete (its record, the key), run before the rows.
    delete: Option<(usize, Vec<Cell<'b>>)>,
}

/// The rows of `records` (batch index, record): one group per set of columns the records give values for, so a
/// column a record has no value for keeps its default. In upsert mode the records of one key become one row
/// and at most one delete, whatever the batch boundaries: an upsert sets the columns it has values for.
pub fn plan<'b>(shape: &Shape, records: impl IntoIterator<Item = (usize, StagedRecord<'b>)>) -> Planned<'b> {
    let mut planned = Planned::default();
    let mut kept: Vec<KeyState<'b>> = Vec::new();
    let mut by_key: HashMap<Vec<String>, usize> = HashMap::new();
    for (index, record) in records {
        if let Some(rejection) = record.rejection() {
            planned.rejected.push((index, rejection.0.clone()));
            continue;
        }
        let outcome = match (record.value, &shape.mode) {
            (
                None,
                Mode::Upsert {
                    delete_on_tombstone: true,
                    ..
                },
            ) => tombstone_key(shape, &record).map(|cells| Some(Pending::Delete(cells))),
            (None, _) => {
                planned.tombstones_skipped += 1;
                Ok(None)
            }
            (Some(_), _) => row_cells(shape, &record).map(|cells| Some(Pending::Upsert(cells))),
        };
        let one = match outcome {
            Ok(Some(one)) => one,
            Ok(None) => continue,
            Err(reason) => {
                planned.malformed.push((index, reason));
                continue;
            }
        };
        let fresh = |one: Pending<'b>| match one {
            Pending::Upsert(cells) => KeyState {
                record: index,
                cells: Some(cells),
                delete: None,
            },
            Pending::Delete(key) => KeyState {
                record: index,
                cells: None,
                delete: Some((index, key)),
            },
        };
        if shape.key_columns().is_empty() {
            kept.push(fresh(one));
            continue;
        }
        let key: Vec<String> = match &one {
            Pending::Upsert(cells) => shape
                .key_columns()
                .iter()
                .map(|&c| {
                    cells[c]
                        .as_ref()
                        .map_or_else(String::new, |cell| cell.key_text().into_owned())
                })
                .collect(),
            Pending::Delete(cells) => cells.iter().map(|cell| cell.key_text().into_owned()).collect(),
        };
        let Some(&slot) = by_key.get(&key) else {
            by_key.insert(key, kept.len());
            kept.push(fresh(one));
            continue;
        };
        let state = &mut kept[slot];
        match one {
            Pending::Upsert(cells) => {
                state.record = index;
                match &mut state.cells {
                    Some(earlier) => {
                        for (earlier, later) in earlier.iter_mut().zip(cells) {
                            if later.is_some() {
                                *earlier = later;
                            }
                        }
                        planned.superseded += 1;
                    }
                    none => *none = Some(cells),
                }
            }
            Pending::Delete(key) => {
                planned.superseded += usize::from(state.cells.take().is_some());
                planned.superseded += usize::from(state.delete.replace((index, key)).is_some());
            }
        }
    }
    let mut group_of: HashMap<Vec<usize>, usize> = HashMap::new();
    for state in kept {
        if let Some((record, cells)) = state.delete {
            planned.deletes.push(Row { record, cells });
        }
        let Some(cells) = state.cells else { continue };
        let columns: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].is_some()).collect();
        let slot = *group_of.entry(columns.clone()).or_insert_with(|| {
            planned.groups.push(Group {
                columns,
                rows: Vec::new(),
            });
            planned.groups.len() - 1
        });
        let cells = cells.into_iter().flatten().collect();
        planned.groups[slot].rows.push(Row {
            record: state.record,
            cells,
        });
    }
    planned
}

/// The value of each table column for `record` (`None`: the record has none, the column keeps its default).
fn row_cells<'b>(shape: &Shape, record: &StagedRecord<'b>) -> Result<Vec<Option<Cell<'b>>>, String> {
    let columns = &shape.table.columns;
    let mut cells: Vec<Option<Cell<'b>>> = match &shape.format {
        RowFormat::Delimited { separator, null } => {
            let line = record
                .value_str()
                .ok_or("the value is not UTF-8 text, so it cannot be split into columns")?;
            let fields: Vec<&str> = line.split(*separator).collect();
            if fields.len() != columns.len() {
                return Err(format!(
                    "the value has {} fields separated by {separator:?}; the table has {} columns",
                    fields.len(),
                    columns.len()
                ));
            }
            fields
                .into_iter()
                .zip(columns)
                .map(|(field, column)| {
                    if field == null {
                        return Ok(Some(Cell::Null));
                    }
                    let cell = match column.kind {
                        ColumnType::Bytes => Cell::Bytes(Cow::Borrowed(field.as_bytes())),
                        _ => Cell::Text(Cow::Borrowed(field)),
                    };
                    Ok(Some(cell))
                })
                .collect::<Result<_, String>>()?
        }
        RowFormat::Columns => {
            // The stage's object, or the value parsed here when no stage ran: once either way.
            let fields = if shape.reads_fields { record.object().ok() } else { None };
            if shape.needs_object && fields.is_none() {
                return Err("the value is not a JSON object, and the table's columns take its fields".into());
            }
            let mut cells = Vec::with_capacity(columns.len());
            for (column, source) in columns.iter().zip(&shape.sources) {
                let field = match source {
                    Source::Record(_) => None,
                    Source::Field | Source::FieldOrRecord(_) => {
                        fields.as_ref().and_then(|f| f.get_ignoring_case(&column.name))
                    }
                };
                let cell = match (field, source) {
                    (Some(slot), _) => Some(slot_cell(slot, column)?),
                    (None, Source::Record(whole) | Source::FieldOrRecord(whole)) => {
                        Some(record_cell(record, whole, column)?)
                    }
                    (None, Source::Field) => None,
                };
                cells.push(cell);
            }
            cells
        }
    };
    for &k in shape.key_columns() {
        if cells[k].as_ref().is_none_or(Cell::is_null) {
            cells[k] = key_field(shape, record, k)?;
        }
    }
    for (cell, column) in cells.iter().zip(columns) {
        check(cell.as_ref(), column, shape.nul_refused)?;
    }
    for &k in shape.key_columns() {
        if cells[k].as_ref().is_none_or(Cell::is_null) {
            return Err(format!(
                "key column `{}` has no value (no field of that name in the value or the key)",
                columns[k].name
            ));
        }
    }
    Ok(cells)
}

/// A cell the column cannot take, caught before the load.
fn check(cell: Option<&Cell<'_>>, column: &Column, nul_refused: bool) -> Result<(), String> {
    let default_applies = cell.is_none() && column.has_default;
    if let (Some(Cell::Text(text)), true) = (cell, nul_refused) {
        if text.contains('\0') {
            return Err(format!(
                "column `{}`: the value holds the NUL character, which PostgreSQL text cannot store",
                column.name
            ));
        }
    }
    match cell {
        None | Some(Cell::Null) if !(column.nullable || default_applies) => Err(format!(
            "column `{}` is NOT NULL and the record has no value for it",
            column.name
        )),
        Some(cell) => match column.max_chars {
            Some(max) if cell.chars() > max => Err(format!(
                "column `{}` holds at most {max} characters ({}); the value has {}",
                column.name,
                column.data_type,
                cell.chars()
            )),
            _ => Ok(()),
        },
        None => Ok(()),
    }
}

/// A key column's value from the record's key: a field of a JSON object key, or the whole key when the table
/// has one key column.
fn key_field<'b>(shape: &Shape, record: &Record<'b>, column: usize) -> Result<Option<Cell<'b>>, String> {
    let Some(key) = record.key else { return Ok(None) };
    let column = &shape.table.columns[column];
    let text = std::str::from_utf8(key).ok();
    if let Some(fields) = text.and_then(|t| Object::parse_json(t).ok()) {
        return fields
            .get_ignoring_case(&column.name)
            .map(|slot| slot_cell(slot, column))
            .transpose();
    }
    if shape.key_columns().len() > 1 {
        return Ok(None);
    }
    Ok(Some(match (column.kind, text) {
        (ColumnType::Bytes, _) => Cell::Bytes(Cow::Borrowed(key)),
        (_, Some(text)) => Cell::Text(Cow::Borrowed(text)),
        (_, None) => {
            return Err(format!(
                "the key is not UTF-8 text, and column `{}` is text",
                column.name
            ))
        }
    }))
}

fn tombstone_key<'b>(shape: &Shape, record: &Record<'b>) -> Result<Vec<Cell<'b>>, String> {
    shape
        .key_columns()
        .iter()
        .map(|&k| {
            key_field(shape, record, k)?.filter(|c| !c.is_null()).ok_or_else(|| {
                format!(
                    "a tombstone to delete by, but its key gives no value for key column `{}`",
                    shape.table.columns[k].name
                )
            })
        })
        .collect()
}

/// A field's value as the column takes it: JSON text read as the column's type, or a typed value.
fn slot_cell<'b>(slot: &Slot<'b>, column: &Column) -> Result<Cell<'b>, String> {
    match slot {
        Slot::Raw(raw) => json_cell(raw.get(), column),
        Slot::Bytes(bytes) if column.kind == ColumnType::Bytes => Ok(Cell::Bytes(bytes.clone())),
        Slot::Timestamp(millis) if column.kind == ColumnType::Time => Ok(Cell::Text(Cow::Owned(sql_time(*millis)))),
        made => {
            let value = made.value().expect("a made value is JSON");
            let text = serde_json::to_string(&value).expect("a JSON value always serializes");
            json_cell(&text, column).map(Cell::into_owned)
        }
    }
}

/// A JSON text's value as the column takes it.
fn json_cell<'b>(text: &'b str, column: &Column) -> Result<Cell<'b>, String> {
    // The value is quoted cut short: a dead letter or a log line never carries a huge value twice.
    let refuse = |value: &str, expected: &str| {
        Err(format!(
            "field `{}` is {}, {expected}; column `{}` is {}",
            column.name,
            ckafka_dump_core::error::shortened(value, 100),
            column.name,
            column.data_type
        ))
    };
    let first = text.as_bytes()[0];
    if text == "null" {
        return Ok(Cell::Null);
    }
    // A JSON string that holds no Unicode text (a lone UTF-16 surrogate such as "\ud800") no column takes.
    let string = || -> Result<Cow<'b, str>, String> {
        serde_json::from_str::<Cow<'b, str>>(text).map_err(|_| {
            format!(
                "field `{}` is {}, a string with a lone UTF-16 surrogate, which no text column holds",
                column.name,
                ckafka_dump_core::error::shortened(text, 40)
            )
        })
    };
    let is_string = first == b'"';
    let is_number = first == b'-' || first.is_ascii_digit();
    Ok(match column.kind {
        ColumnType::Json => Cell::Text(Cow::Borrowed(text)),
        ColumnType::Integer => match text {
            "true" => Cell::Text(Cow::Borrowed("1")),
            "false" => Cell::Text(Cow::Borrowed("0")),
            _ if is_number && text.bytes().skip(1).all(|b| b.is_ascii_digit()) => Cell::Text(Cow::Borrowed(text)),
            _ if is_string => {
                let s = string()?;
                let digits = s.trim().strip_prefix('-').unwrap_or(s.trim());
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return refuse(&format!("\"{s}\""), "not an integer");
                }
                Cell::Text(Cow::Owned(s.trim().to_owned()))
            }
            _ => return refuse(text, "not an integer"),
        },
        ColumnType::Boolean => match text {
            "true" | "false" => Cell::Text(Cow::Borrowed(text)),
            "1" => Cell::Text(Cow::Borrowed("true")),
            "0" => Cell::Text(Cow::Borrowed("false")),
            _ if is_string => Cell::Text(string()?),
            _ => return refuse(text, "not a boolean"),
        },
        ColumnType::Number if is_number => Cell::Text(Cow::Borrowed(text)),
        ColumnType::Number if is_string => Cell::Text(string()?),
        ColumnType::Number => return refuse(text, "not a number"),
        ColumnType::Time if is_number => match text.parse::<i64>() {
            Ok(millis) => Cell::Text(Cow::Owned(sql_time(millis))),
            Err(_) => return refuse(text, "not epoch milliseconds"),
        },
        ColumnType::Time if is_string => Cell::Text(string()?),
        ColumnType::Time => return refuse(text, "not a time"),
        ColumnType::Bytes if is_string => match string()? {
            Cow::Borrowed(s) => Cell::Bytes(Cow::Borrowed(s.as_bytes())),
            Cow::Owned(s) => Cell::Bytes(Cow::Owned(s.into_bytes())),
        },
        ColumnType::Bytes => Cell::Bytes(Cow::Borrowed(text.as_bytes())),
        ColumnType::Text if is_string => Cell::Text(string()?),
        ColumnType::Text => Cell::Text(Cow::Borrowed(text)),
    })
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC: what PostgreSQL and MySQL both parse (sessions run in UTC).
pub fn sql_time(epoch_ms: i64) -> String {
    let t = DateTime::from_epoch_ms(epoch_ms);
    format!(
        "{} {:02}:{:02}:{:02}.{:03}",
        t.date(),
        t.hour,
        t.minute,
        t.second,
        t.millisecond
    )
}

fn record_cell<'b>(record: &StagedRecord<'b>, whole: &Whole, column: &Column) -> Result<Cell<'b>, String> {
    let bytes_or_text = |bytes: Option<&'b [u8]>, what: &str| -> Result<Cell<'b>, String> {
        let Some(bytes) = bytes else { return Ok(Cell::Null) };
        if column.kind == ColumnType::Bytes {
            return Ok(Cell::Bytes(Cow::Borrowed(bytes)));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Cell::Text(Cow::Borrowed(text))),
            Err(_) => Err(format!(
                "the {what} is not UTF-8 text and column `{}` is {}; make it a binary column",
                column.name, column.data_type
            )),
        }
    };
    let meta = match whole {
        Whole::Meta(meta) => meta,
        // The value as the sink writes it: the stage's object as JSON, or the original bytes.
        Whole::Value => {
            if let Outcome::Object(object) = record.outcome() {
                let mut text = String::new();
                object.write(&mut text);
                return Ok(match column.kind {
                    ColumnType::Bytes => Cell::Bytes(Cow::Owned(text.into_bytes())),
                    _ => Cell::Text(Cow::Owned(text)),
                });
            }
            return match record.value_str() {
                Some(text) if column.kind != ColumnType::Bytes => Ok(Cell::Text(Cow::Borrowed(text))),
                _ => bytes_or_text(record.value, "value"),
            };
        }
    };
    Ok(match meta {
        Meta::Topic => Cell::Text(Cow::Borrowed(record.topic)),
        Meta::Partition => Cell::Text(Cow::Owned(record.partition.to_string())),
        Meta::Offset => Cell::Text(Cow::Owned(record.offset.to_string())),
        Meta::Key => bytes_or_text(record.key, "key")?,
        Meta::Timestamp => match record.timestamp {
            None => Cell::Null,
            Some(ts) => Cell::Text(Cow::Owned(match column.kind {
                ColumnType::Time => sql_time(ts.millis),
                ColumnType::Text => DateTime::from_epoch_ms(ts.millis).rfc3339(),
                _ => ts.millis.to_string(),
            })),
        },
        Meta::TimestampMs => record
            .timestamp
            .map_or(Cell::Null, |ts| Cell::Text(Cow::Owned(ts.millis.to_string()))),
        Meta::Headers => {
            let json = ckafka_dump_core::json::headers_json(record);
            match column.kind {
                ColumnType::Bytes => Cell::Bytes(Cow::Owned(json.into_bytes())),
                _ => Cell::Text(Cow::Owned(json)),
            }
        }
        Meta::Header(name) => bytes_or_text(record.headers().find(|h| h.key == name).and_then(|h| h.value), "header")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TableName;

    fn column(name: &str, data_type: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            kind: ColumnType::of(data_type),
            nullable,
            has_default: false,
            max_chars: None,
        }
    }

    fn table(columns: Vec<Column>, primary_key: &[&str]) -> Table {
        Table {
            name: TableName::parse("t").unwrap(),
            columns,
            primary_key: primary_key.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn record<'b>(offset: i64, key: Option<&'b str>, value: Option<&'b str>) -> StagedRecord<'b> {
        let ts = ckafka_dump_core::Timestamp {
            millis: 1_700_000_000_123,
            kind: None,
        };
        StagedRecord::unstaged(Record::new(
            "orders",
            2,
            offset,
            Some(ts),
            key.map(str::as_bytes),
            value.map(str::as_bytes),
        ))
    }

    fn text(cell: &Cell<'_>) -> String {
        match cell {
            Cell::Null => "NULL".into(),
            Cell::Text(t) => t.to_string(),
            Cell::Bytes(b) => format!("bytes {b:?}"),
        }
    }

    fn texts(row: &Row<'_>) -> Vec<String> {
        row.cells.iter().map(text).collect()
    }

    #[test]
    fn the_mysql_template_table_takes_offset_and_body_without_parsing_values() {
        let shape = Shape::new(
            table(
                vec![column("offset", "bigint", true), column("msgBody", "text", true)],
                &[],
            ),
            RowFormat::Columns,
            Mode::Append,
            Dialect::Mysql,
        );
        assert!(!shape.reads_fields);
        let planned = plan(&shape, [(0, record(7, None, Some("{\"offset\": 99}")))]);
        assert_eq!(texts(&planned.groups[0].rows[0]), ["7", "{\"offset\": 99}"]);
    }

    #[test]
    fn json_fields_fill_columns_converted_by_type_and_metadata_fills_the_rest() {
        let mut level = column("level", "character varying", false);
        level.max_chars = Some(5);
        let shape = Shape::new(
            table(
                vec![
                    column("topic", "text", false),
                    column("kafka_timestamp", "timestamp with time zone", true),
                    level,
                    column("n", "integer", true),
                    column("ok", "boolean", true),
                    column("at", "timestamp without time zone", true),
                    column("extra", "jsonb", true),
                    column("Msg", "text", true),
                    column("absent", "text", true),
                ],
                &[],
            ),
            RowFormat::Columns,
            Mode::Append,
            Dialect::Mysql,
        );
        let value =
            r#"{"level":"WARN","n":"42","ok":1,"at":1700000000123,"extra":{"a":[1,2]},"msg":"a \"quoted\" line"}"#;
        let planned = plan(&shape, [(0, record(1, None, Some(value)))]);
        assert!(planned.malformed.is_empty(), "{:?}", planned.malformed);
        let group = &planned.groups[0];
        assert_eq!(group.columns, [0, 1, 2, 3, 4, 5, 6, 7], "`absent` keeps its default");
        assert_eq!(
            texts(&group.rows[0]),
            [
                "orders",
                "2023-11-14 22:13:20.123",
                "WARN",
                "42",
                "true",
                "2023-11-14 22:13:20.123",
                "{\"a\":[1,2]}",
                "a \"quoted\" line"
            ]
        );
    }

    #[test]
    fn values_the_columns_refuse_are_malformed_before_any_load() {
        let mut level = column("level", "varchar", true);
        level.max_chars = Some(4);
        let shape = Shape::new(
            table(vec![column("n", "bigint", false), level], &[]),
            RowFormat::Columns,
            Mode::Append,
            Dialect::Mysql,
        );
        let planned = plan(
            &shape,
            [
                (0, record(1, None, Some(r#"{"n":"abc"}"#))),
                (1, record(2, None, Some(r#"{"n":1.5}"#))),
                (2, record(3, None, Some(r#"{"level":"x"}"#))),
                (3, record(4, None, Some(r#"{"n":1,"level":"WARNING"}"#))),
                (4, record(5, None, Some("not json"))),
                (5, record(6, None, Some(r#"{"n":-3}"#))),
            ],
        );
        let reasons: Vec<&str> = planned.malformed.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].contains("\"abc\", not an integer"), "{}", reasons[0]);
        assert!(reasons[1].contains("1.5, not an integer"), "{}", reasons[1]);
        assert!(reasons[2].contains("`n` is NOT NULL"), "{}", reasons[2]);
        assert!(reasons[3].contains("at most 4 characters"), "{}", reasons[3]);
        assert!(reasons[4].contains("not a JSON object"), "{}", reasons[4]);
        assert_eq!(texts(&planned.groups[0].rows[0]), ["-3"]);
    }

    #[test]
    fn upserts_keep_each_keys_last_record_and_tombstones_delete_by_key() {
        let shape = Shape::new(
            table(
                vec![column("id", "integer", false), column("name", "text", true)],
                &["id"],
            ),
            RowFormat::Columns,
            Mode::Upsert {
                key_columns: vec![0],
                delete_on_tombstone: true,
            },
            Dialect::Mysql,
        );
        let planned = plan(
            &shape,
            [
                (0, record(1, None, Some(r#"{"id":1,"name":"a"}"#))),
                (1, record(2, Some("2"), Some(r#"{"name":"b"}"#))),
                (2, record(3, None, Some(r#"{"id":1,"name":"c"}"#))),
                (3, record(4, Some(r#"{"id":3}"#), None)),
                (4, record(5, None, None)),
            ],
        );
        assert_eq!(planned.superseded, 1);
        let rows: Vec<Vec<String>> = planned.groups[0].rows.iter().map(texts).collect();
        assert_eq!(
            rows,
            [["1", "c"], ["2", "b"]],
            "the key from the record key when the value lacks it"
        );
        assert_eq!(texts(&planned.deletes[0]), ["3"]);
        assert_eq!(planned.malformed.len(), 1, "a tombstone without a key cannot delete");
    }

    #[test]
    fn records_of_one_key_in_a_batch_leave_what_separate_batches_would() {
        let shape = Shape::new(
            table(
                vec![
                    column("id", "integer", false),
                    column("a", "text", true),
                    column("b", "text", true),
                ],
                &["id"],
            ),
            RowFormat::Columns,
            Mode::Upsert {
                key_columns: vec![0],
                delete_on_tombstone: true,
            },
            Dialect::Postgres,
        );
        let planned = plan(
            &shape,
            [
                (0, record(1, None, Some(r#"{"id":1,"a":"x"}"#))),
                (1, record(2, None, Some(r#"{"id":1,"b":"y"}"#))),
                (2, record(3, Some(r#"{"id":2}"#), None)),
                (3, record(4, None, Some(r#"{"id":2,"b":"z"}"#))),
                (4, record(5, None, Some(r#"{"id":3,"a":"nul\u0000"}"#))),
            ],
        );
        assert_eq!(planned.superseded, 1, "the first upsert of key 1 is in the merged row");
        let rows: Vec<(usize, Vec<String>)> = planned
            .groups
            .iter()
            .flat_map(|g| g.rows.iter().map(|r| (r.record, texts(r))))
            .collect();
        assert_eq!(
            rows,
            [
                (1, vec!["1".into(), "x".into(), "y".into()]),
                (3, vec!["2".into(), "z".into()])
            ],
            "key 1 gets both columns; key 2 is deleted, then written with only its own column"
        );
        assert_eq!(
            (planned.deletes[0].record, texts(&planned.deletes[0])),
            (2, vec!["2".to_owned()])
        );
        assert_eq!(planned.malformed.len(), 1);
        assert!(
            planned.malformed[0].1.contains("NUL character"),
            "{:?}",
            planned.malformed
        );
    }

    #[test]
    fn a_string_with_a_lone_surrogate_is_refused_not_stored_as_its_json() {
        let shape = Shape::new(
            table(vec![column("s", "text", true)], &[]),
            RowFormat::Columns,
            Mode::Append,
            Dialect::Mysql,
        );
        let planned = plan(&shape, [(0, record(1, None, Some(r#"{"s":"\ud800"}"#)))]);
        assert!(planned.groups.is_empty());
        assert!(
            planned.malformed[0].1.contains("lone UTF-16 surrogate"),
            "{:?}",
            planned.malformed
        );
    }

    #[test]
    fn delimited_lines_split_into_the_columns_in_order() {
        let shape = Shape::new(
            table(vec![column("a", "text", true), column("b", "integer", true)], &[]),
            RowFormat::Delimited {
                separator: '|',
                null: "\\N".into(),
            },
            Mode::Append,
            Dialect::Mysql,
        );
        let planned = plan(
            &shape,
            [
                (0, record(1, None, Some("x|\\N"))),
                (1, record(2, None, Some("x|1|2"))),
                (2, record(3, None, None)),
            ],
        );
        assert_eq!(texts(&planned.groups[0].rows[0]), ["x", "NULL"]);
        assert!(planned.malformed[0].1.contains("3 fields"), "{:?}", planned.malformed);
        assert_eq!(planned.tombstones_skipped, 1);
    }
}
