//! `content_format=parquet`: each object one Parquet file, its columns declared (`parquet_columns`) or inferred
//! from its records (the union of their top-level fields, with Kafka metadata columns). A record becomes a
//! [`Row`] before it meets an object, so a value a declared column cannot take is that record's fault (a dead
//! letter) and an inferred object can tell whether its schema holds the row.

mod cell;
mod file;

use std::borrow::Cow;

use ckafka_dump_core::config::Choice;
use ckafka_dump_core::value::{Meta, Object, Path};
use ckafka_dump_core::{Outcome, StagedRecord};

pub use cell::{Cell, ColumnType, TYPE_NAMES};
pub use file::ParquetFile;

/// Compression inside the file (`parquet_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    Zstd,
    Snappy,
    Gzip,
    None,
}

impl Choice for ParquetCompression {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("zstd", ParquetCompression::Zstd),
        ("snappy", ParquetCompression::Snappy),
        ("gzip", ParquetCompression::Gzip),
        ("none", ParquetCompression::None),
    ];
}

impl ParquetCompression {
    fn codec(self) -> parquet::basic::Compression {
        use parquet::basic::{Compression, GzipLevel, ZstdLevel};
        match self {
            // Level 1, as pyarrow and Spark write it.
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Gzip => Compression::GZIP(GzipLevel::default()),
            ParquetCompression::None => Compression::UNCOMPRESSED,
        }
    }
}

/// A Kafka metadata column of an inferred schema, named `<prefix><name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaColumn {
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Headers,
}

impl Choice for MetaColumn {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("topic", MetaColumn::Topic),
        ("partition", MetaColumn::Partition),
        ("offset", MetaColumn::Offset),
        ("timestamp", MetaColumn::Timestamp),
        ("key", MetaColumn::Key),
        ("headers", MetaColumn::Headers),
    ];
}

impl MetaColumn {
    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, c)| *c == self)
            .expect("every column is a choice")
            .0
    }

    /// Fixed, but for the key: a string column when every key of the object is UTF-8, else binary.
    fn column_type(self) -> Option<ColumnType> {
        match self {
            MetaColumn::Topic => Some(ColumnType::String),
            MetaColumn::Partition => Some(ColumnType::Int32),
            MetaColumn::Offset => Some(ColumnType::Int64),
            MetaColumn::Timestamp => Some(ColumnType::TimestampMillis),
            MetaColumn::Key => None,
            MetaColumn::Headers => Some(ColumnType::Json),
        }
    }

    fn cell<'a>(self, record: &StagedRecord<'a>) -> Cell<'a> {
        match self {
            MetaColumn::Topic => Cell::Text(Cow::Borrowed(record.record.topic)),
            MetaColumn::Partition => Cell::Int(i64::from(record.partition)),
            MetaColumn::Offset => Cell::Int(record.offset),
            MetaColumn::Timestamp => record.timestamp.map_or(Cell::Null, |t| Cell::Timestamp(t.millis)),
            MetaColumn::Key => record.record.key.map_or(Cell::Null, Cell::of_bytes),
            MetaColumn::Headers => match record.headers().len() {
                0 => Cell::Null,
                _ => Cell::Json(Cow::Owned(ckafka_dump_core::json::headers_json(record))),
            },
        }
    }
}

/// A column of `parquet_columns`: `source:type` (named as its source) or `name=source:type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub source: Path,
    pub ty: ColumnType,
}

impl Declared {
    pub fn parse(spec: &str) -> Result<Declared, String> {
        let (column, ty) = spec
            .rsplit_once(':')
            .ok_or_else(|| format!("`{spec}` is not `source:type` (e.g. `user.id:int64`, `@timestamp:timestamp`)"))?;
        let (name, source) = match column.split_once('=') {
            Some((name, source)) => (name.trim(), source.trim()),
            None => (column.trim(), column.trim()),
        };
        if name.is_empty() || source.is_empty() {
            return Err(format!("`{spec}` names no column"));
        }
        Ok(Declared {
            name: name.to_owned(),
            source: Path::parse(source)?,
            ty: ColumnType::parse(ty)?,
        })
    }

    /// A comma-separated list of columns (a comma inside `decimal(P,S)` does not separate).
    pub fn parse_list(list: &str) -> Result<Vec<Declared>, String> {
        let mut columns = Vec::new();
        let (mut depth, mut start) = (0usize, 0);
        for (i, c) in list.char_indices().chain([(list.len(), ',')]) {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    let spec = list[start..i].trim();
                    if !spec.is_empty() {
                        columns.push(Declared::parse(spec)?);
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        if columns.is_empty() {
            return Err("lists no column".to_owned());
        }
        Ok(columns)
    }

    /// The record's value for this column, converted to its type.
    fn cell<'a>(&self, record: &StagedRecord<'a>, object: Option<&Object<'a>>) -> Result<Cell<'a>, String> {
        let cell = match &self.source {
            Path::Meta(meta) => meta_cell(meta, record),
            Path::Field { name, .. } => match object {
                None => Cell::Null,
                Some(object) => match object.get(name) {
                    Some(slot) => Cell::of_slot(slot),
                    None => object
                        .find(&self.source)
                        .map_or(Cell::Null, |value| Cell::of_value(&value).into_owned()),
                },
            },
        };
        self.ty
            .convert(cell)
            .map_err(|why| format!("parquet column `{}` ({}): {why}", self.name, self.ty.spelled()))
    }
}

/// Metadata as a declared column reads it: the timestamp as a time, bytes as they are.
fn meta_cell<'a>(meta: &Meta, record: &StagedRecord<'a>) -> Cell<'a> {
    match meta {
        Meta::Topic => MetaColumn::Topic.cell(record),
        Meta::Partition => MetaColumn::Partition.cell(record),
        Meta::Offset => MetaColumn::Offset.cell(record),
        Meta::Key => MetaColumn::Key.cell(record),
        Meta::Timestamp | Meta::TimestampMs => MetaColumn::Timestamp.cell(record),
        Meta::Headers => MetaColumn::Headers.cell(record),
        Meta::Header(name) => record
            .record
            .headers()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map_or(Cell::Null, Cell::of_bytes),
    }
}

#[derive(Debug, Clone)]
pub enum Columns {
    Declared(Vec<Declared>),
    /// The union of the records' top-level fields; a field whose name starts with `prefix` gets another
    /// `prefix` in front, so no field is ever named like a metadata column.
    Inferred {
        prefix: String,
        metadata: Vec<MetaColumn>,
    },
}

/// How records become Parquet objects.
#[derive(Debug, Clone)]
pub struct Parquet {
    pub columns: Columns,
    pub compression: ParquetCompression,
    /// Cell bytes buffered before a row group is written.
    pub row_group_bytes: usize,
}

/// One record's cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Row<'a> {
    /// In `parquet_columns` order, converted to their types.
    Declared(Vec<Cell<'a>>),
    Inferred {
        /// In the order of the metadata columns.
        metadata: Vec<Cell<'a>>,
        /// The value's fields by column name; a value that is not a JSON object is one field, `<prefix>value`.
        fields: Vec<(Cow<'a, str>, Cell<'a>)>,
    },
}

impl Row<'_> {
    /// About the bytes it adds to an object (the cells' data).
    pub fn size(&self) -> usize {
        match self {
            Row::Declared(cells) => cells.iter().map(Cell::size).sum(),
            Row::Inferred { metadata, fields } => {
                metadata.iter().map(Cell::size).sum::<usize>()
                    + fields
                        .iter()
                        .map(|(name, cell)| name.len() + cell.size())
                        .sum::<usize>()
            }
        }
    }
}

impl Parquet {
    /// The value fields declared columns read.
    pub fn fields_read(&self) -> Vec<Path> {
        match &self.columns {
            Columns::Declared(columns) => columns
                .iter()
                .filter(|c| matches!(c.source, Path::Field { .. }))
                .map(|c| c.source.clone())
                .collect(),
            Columns::Inferred { .. } => Vec::new(),
        }
    }

    /// `record`'s cells, or why a declared column cannot take its value.
    pub fn row<'a>(&self, record: &StagedRecord<'a>) -> Result<Row<'a>, String> {
        if let Outcome::Rejected(rejection) = record.outcome() {
            return Err(rejection.to_string());
        }
        let object = match record.value {
            None => None,
            Some(_) => record.object().ok(),
        };
        match &self.columns {
            Columns::Declared(columns) => columns
                .iter()
                .map(|column| column.cell(record, object.as_deref()))
                .collect::<Result<_, _>>()
                .map(Row::Declared),
            Columns::Inferred { prefix, metadata } => {
                let metadata = metadata.iter().map(|m| m.cell(record)).collect();
                let escaped = |name: Cow<'a, str>| match name.starts_with(prefix.as_str()) {
                    true => Cow::Owned(format!("{prefix}{name}")),
                    false => name,
                };
                let fields = match (object, record.value) {
                    (Some(Cow::Borrowed(object)), _) => object
                        .fields()
                        .map(|(name, slot)| (escaped(Cow::Borrowed(name)), Cell::of_slot(slot)))
                        .collect(),
                    (Some(Cow::Owned(object)), _) => object
                        .into_fields()
                        .map(|(name, slot)| (escaped(name), Cell::of_slot(&slot)))
                        .collect(),
                    (None, Some(value)) => vec![(Cow::Owned(format!("{prefix}value")), Cell::of_bytes(value))],
                    (None, None) => Vec::new(),
                };
                Ok(Row::Inferred { metadata, fields })
            }
        }
    }
}
