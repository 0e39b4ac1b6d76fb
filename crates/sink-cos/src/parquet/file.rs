//! One Parquet object as it is written: rows are buffered column by column until a row group's worth, then
//! encoded and handed out as bytes for the upload, so memory is one row group plus one part. An inferred
//! schema is fixed when the first row group is written; a later row it cannot hold (a new field, a type no
//! column of it takes) does not fit, and the writer starts the next object at that row.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::cell::{Cell, ColumnType, Seen};
use super::{Columns, Parquet, Row};

/// A cell in a column buffer; text and bytes are ranges of the column's arena.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Bool(bool),
    Int(i64),
    Float(f64),
    Timestamp(i64),
    Decimal(u32),
    Text(u32, u32),
    Number(u32, u32),
    Json(u32, u32),
    Bytes(u32, u32),
}

#[derive(Debug)]
struct Column {
    name: String,
    /// Declared, a metadata column's, or fixed with the first row group; `None` while inferring.
    ty: Option<ColumnType>,
    seen: Seen,
    /// Per row: 1 for a value, 0 for null.
    defs: Vec<i16>,
    values: Vec<Stored>,
    arena: Vec<u8>,
}

impl Column {
    fn new(name: String, ty: Option<ColumnType>, rows_before: usize) -> Column {
        Column {
            name,
            ty,
            seen: Seen::default(),
            defs: vec![0; rows_before],
            values: Vec::new(),
            arena: Vec::new(),
        }
    }

    fn holds(&self, cell: &Cell<'_>) -> bool {
        self.ty.is_none_or(|ty| ty.holds(cell))
    }

    fn push(&mut self, cell: &Cell<'_>) {
        self.seen.add(cell);
        let mut text = |bytes: &[u8]| {
            let start = self.arena.len() as u32;
            self.arena.extend_from_slice(bytes);
            (start, bytes.len() as u32)
        };
        let stored = match cell {
            Cell::Null => {
                self.defs.push(0);
                return;
            }
            Cell::Bool(b) => Stored::Bool(*b),
            Cell::Int(i) => Stored::Int(*i),
            Cell::Float(f) => Stored::Float(*f),
            Cell::Timestamp(ms) => Stored::Timestamp(*ms),
            Cell::Decimal(d) => Stored::Decimal(text(&d.to_be_bytes()).0),
            Cell::Text(t) => {
                let (start, len) = text(t.as_bytes());
                Stored::Text(start, len)
            }
            Cell::Number(t) => {
                let (start, len) = text(t.as_bytes());
                Stored::Number(start, len)
            }
            Cell::Json(t) => {
                let (start, len) = text(t.as_bytes());
                Stored::Json(start, len)
            }
            Cell::Bytes(b) => {
                let (start, len) = text(b);
                Stored::Bytes(start, len)
            }
        };
        self.defs.push(1);
        self.values.push(stored);
    }

    fn clear(&mut self) {
        self.defs.clear();
        self.values.clear();
        self.arena.clear();
    }

    /// The column's type: declared or fixed, else what its cells were.
    fn ty(&self) -> ColumnType {
        self.ty.unwrap_or_else(|| ColumnType::inferred(&self.seen))
    }

    fn parquet_type(&self) -> io::Result<Type> {
        let ty = self.ty();
        let (physical, logical) = match ty {
            ColumnType::String => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            ColumnType::Json => (PhysicalType::BYTE_ARRAY, Some(LogicalType::Json)),
            ColumnType::Binary => (PhysicalType::BYTE_ARRAY, None),
            ColumnType::Int32 => (PhysicalType::INT32, None),
            ColumnType::Int64 => (PhysicalType::INT64, None),
            ColumnType::Double => (PhysicalType::DOUBLE, None),
            ColumnType::Boolean => (PhysicalType::BOOLEAN, None),
            ColumnType::Date => (PhysicalType::INT32, Some(LogicalType::Date)),
            ColumnType::TimestampMillis => (
                PhysicalType::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            ),
            ColumnType::TimestampMicros => (
                PhysicalType::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
            ),
            ColumnType::Decimal { precision, scale } => {
                let physical = decimal_physical(precision);
                let builder = Type::primitive_type_builder(&self.name, physical)
                    .with_repetition(Repetition::OPTIONAL)
                    .with_logical_type(Some(LogicalType::decimal(i32::from(scale), i32::from(precision))))
                    .with_precision(i32::from(precision))
                    .with_scale(i32::from(scale));
                let builder = match physical {
                    PhysicalType::FIXED_LEN_BYTE_ARRAY => builder.with_length(16),
                    _ => builder,
                };
                return builder.build().map_err(io::Error::other);
            }
        };
        Type::primitive_type_builder(&self.name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
            .map_err(io::Error::other)
    }

    /// The buffered rows as the column chunk of a row group.
    fn write(&mut self, column: &mut parquet::file::writer::SerializedColumnWriter<'_>) -> parquet::errors::Result<()> {
        // Text and bytes are handed over as slices of the arena, which the writer may keep (its dictionary).
        let arena = Bytes::from(std::mem::take(&mut self.arena));
        let defs = Some(&self.defs[..]);
        let slice = |start: u32, len: u32| arena.slice(start as usize..(start + len) as usize);
        let ints = || {
            self.values.iter().map(|v| match *v {
                Stored::Int(i) | Stored::Timestamp(i) => i,
                _ => unreachable!("an integer column holds integers"),
            })
        };
        match self.ty() {
            ColumnType::Boolean => {
                let values: Vec<bool> = self.values.iter().map(|v| matches!(v, Stored::Bool(true))).collect();
                column.typed::<BoolType>().write_batch(&values, defs, None)?;
            }
            ColumnType::Int32 | ColumnType::Date => {
                let values: Vec<i32> = ints().map(|i| i as i32).collect();
                column.typed::<Int32Type>().write_batch(&values, defs, None)?;
            }
            ColumnType::Int64 | ColumnType::TimestampMillis | ColumnType::TimestampMicros => {
                let values: Vec<i64> = ints().collect();
                column.typed::<Int64Type>().write_batch(&values, defs, None)?;
            }
            ColumnType::Double => {
                let values: Vec<f64> = self
                    .values
                    .iter()
                    .map(|v| match *v {
                        Stored::Float(f) => f,
                        Stored::Int(i) => i as f64,
                        _ => unreachable!("a double column holds numbers"),
                    })
                    .collect();
                column.typed::<DoubleType>().write_batch(&values, defs, None)?;
            }
            ColumnType::String | ColumnType::Binary => {
                let values: Vec<ByteArray> = self
                    .values
                    .iter()
                    .map(|v| match *v {
                        Stored::Text(start, len) | Stored::Bytes(start, len) => ByteArray::from(slice(start, len)),
                        _ => unreachable!("a string or binary column holds text or bytes"),
                    })
                    .collect();
                column.typed::<ByteArrayType>().write_batch(&values, defs, None)?;
            }
            ColumnType::Json => {
                let mut json = Vec::with_capacity(arena.len() + self.values.len() * 2);
                let mut ends = Vec::with_capacity(self.values.len());
                for value in &self.values {
                    let bytes = |start: u32, len: u32| &arena[start as usize..(start + len) as usize];
                    match *value {
                        Stored::Json(start, len) | Stored::Number(start, len) => {
                            json.extend_from_slice(bytes(start, len))
                        }
                        Stored::Text(start, len) => {
                            Cell::Text(String::from_utf8_lossy(bytes(start, len))).to_json(&mut json)
                        }
                        Stored::Bytes(start, len) => Cell::Bytes(bytes(start, len).into()).to_json(&mut json),
                        Stored::Bool(b) => Cell::Bool(b).to_json(&mut json),
                        Stored::Int(i) => Cell::Int(i).to_json(&mut json),
                        Stored::Float(f) => Cell::Float(f).to_json(&mut json),
                        Stored::Timestamp(ms) => Cell::Timestamp(ms).to_json(&mut json),
                        Stored::Decimal(start) => Cell::Decimal(decimal_at(&arena, start)).to_json(&mut json),
                    }
                    ends.push(json.len());
                }
                let json = Bytes::from(json);
                let mut start = 0;
                let values: Vec<ByteArray> = ends
                    .into_iter()
                    .map(|end| {
                        let value = ByteArray::from(json.slice(start..end));
                        start = end;
                        value
                    })
                    .collect();
                column.typed::<ByteArrayType>().write_batch(&values, defs, None)?;
            }
            ColumnType::Decimal { precision, .. } => {
                let decimals = self.values.iter().map(|v| match *v {
                    Stored::Decimal(start) => decimal_at(&arena, start),
                    _ => unreachable!("a decimal column holds decimals"),
                });
                match decimal_physical(precision) {
                    PhysicalType::INT32 => {
                        let values: Vec<i32> = decimals.map(|d| d as i32).collect();
                        column.typed::<Int32Type>().write_batch(&values, defs, None)?;
                    }
                    PhysicalType::INT64 => {
                        let values: Vec<i64> = decimals.map(|d| d as i64).collect();
                        column.typed::<Int64Type>().write_batch(&values, defs, None)?;
                    }
                    _ => {
                        let values: Vec<FixedLenByteArray> = decimals
                            .map(|d| FixedLenByteArray::from(d.to_be_bytes().to_vec()))
                            .collect();
                        column
                            .typed::<FixedLenByteArrayType>()
                            .write_batch(&values, defs, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn decimal_at(arena: &[u8], start: u32) -> i128 {
    let start = start as usize;
    i128::from_be_bytes(arena[start..start + 16].try_into().expect("16 bytes"))
}

/// Parquet's smallest physical type for a decimal of `precision` digits.
fn decimal_physical(precision: u8) -> PhysicalType {
    match precision {
        0..=9 => PhysicalType::INT32,
        10..=18 => PhysicalType::INT64,
        _ => PhysicalType::FIXED_LEN_BYTE_ARRAY,
    }
}

/// A Parquet object being written.
pub struct ParquetFile {
    settings: Arc<Parquet>,
    columns: Vec<Column>,
    /// Inferred columns by name.
    by_name: HashMap<String, usize>,
    /// Rows buffered for the next row group, and their cells' size.
    rows: usize,
    buffered_bytes: usize,
    /// Created with the first row group, which fixes the schema.
    file: Option<SerializedFileWriter<Vec<u8>>>,
    /// What [`ParquetFile::output`] lends before there is a file: nothing.
    no_output: Vec<u8>,
}

impl ParquetFile {
    pub fn new(settings: &Arc<Parquet>) -> ParquetFile {
        let columns = match &settings.columns {
            Columns::Declared(declared) => declared
                .iter()
                .map(|c| Column::new(c.name.clone(), Some(c.ty), 0))
                .collect(),
            Columns::Inferred { prefix, metadata } => metadata
                .iter()
                .map(|m| Column::new(format!("{prefix}{}", m.name()), m.column_type(), 0))
                .collect(),
        };
        ParquetFile {
            settings: Arc::clone(settings),
            columns,
            by_name: HashMap::new(),
            rows: 0,
            buffered_bytes: 0,
            file: None,
            no_output: Vec::new(),
        }
    }

    /// Whether this object's schema holds `row`: always, until its first row group is written.
    pub fn fits(&self, row: &Row<'_>) -> bool {
        if self.file.is_none() {
            return true;
        }
        match row {
            Row::Declared(_) => true,
            Row::Inferred { metadata, fields } => {
                metadata
                    .iter()
                    .zip(&self.columns)
                    .all(|(cell, column)| column.holds(cell))
                    && fields.iter().enumerate().all(|(at, (name, cell))| {
                        match self.column_of(metadata.len() + at, name) {
                            Some(i) => self.columns[i].holds(cell),
                            None => matches!(cell, Cell::Null),
                        }
                    })
            }
        }
    }

    /// Adds a row the schema holds ([`ParquetFile::fits`]), writing a row group when one is full; the bytes
    /// written so far are in [`ParquetFile::output`].
    pub fn push(&mut self, row: &Row<'_>) -> io::Result<()> {
        match row {
            Row::Declared(cells) => {
                for (column, cell) in self.columns.iter_mut().zip(cells) {
                    column.push(cell);
                }
            }
            Row::Inferred { metadata, fields } => {
                for (column, cell) in self.columns.iter_mut().zip(metadata) {
                    column.push(cell);
                }
                for (position, (name, cell)) in fields.iter().enumerate() {
                    let at = match self.column_of(metadata.len() + position, name) {
                        Some(at) => at,
                        None if matches!(cell, Cell::Null) && self.file.is_some() => continue,
                        None => {
                            self.columns.push(Column::new(name.to_string(), None, self.rows));
                            self.by_name.insert(name.to_string(), self.columns.len() - 1);
                            self.columns.len() - 1
                        }
                    };
                    self.columns[at].push(cell);
                }
            }
        }
        self.rows += 1;
        for column in &mut self.columns {
            if column.defs.len() < self.rows {
                column.defs.push(0);
            }
        }
        self.buffered_bytes += row.size();
        if self.buffered_bytes >= self.settings.row_group_bytes {
            self.write_row_group()?;
        }
        Ok(())
    }

    /// The column of an inferred field: where the same field was in the last row (records of one shape keep
    /// their fields in one order), else looked up by name.
    fn column_of(&self, guess: usize, name: &str) -> Option<usize> {
        match self.columns.get(guess) {
            Some(column) if column.name == name => Some(guess),
            _ => self.by_name.get(name).copied(),
        }
    }

    /// Encoded bytes not yet taken.
    pub fn output(&mut self) -> &mut Vec<u8> {
        match &mut self.file {
            Some(file) => file.inner_mut(),
            None => &mut self.no_output,
        }
    }

    /// The rest of the object: the last row group and the footer.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        if self.rows > 0 || self.file.is_none() {
            self.write_row_group()?;
        }
        let file = self.file.take().expect("a row group was written");
        file.into_inner().map_err(io::Error::other)
    }

    fn write_row_group(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(self.create()?);
            for column in &mut self.columns {
                column.ty = Some(column.ty());
            }
        }
        let file = self.file.as_mut().expect("created above");
        let mut row_group = file.next_row_group().map_err(io::Error::other)?;
        for column in &mut self.columns {
            let mut writer = row_group
                .next_column()
                .map_err(io::Error::other)?
                .expect("the schema has a column per buffer");
            column.write(&mut writer).map_err(io::Error::other)?;
            writer.close().map_err(io::Error::other)?;
        }
        row_group.close().map_err(io::Error::other)?;
        file.flush()?;
        for column in &mut self.columns {
            column.clear();
        }
        self.rows = 0;
        self.buffered_bytes = 0;
        Ok(())
    }

    fn create(&self) -> io::Result<SerializedFileWriter<Vec<u8>>> {
        let fields = self
            .columns
            .iter()
            .map(|c| c.parquet_type().map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let schema = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .map_err(io::Error::other)?;
        // Min/max per column chunk (a row group), as pyarrow and Spark write them: what engines prune by.
        let properties = WriterProperties::builder()
            .set_compression(self.settings.compression.codec())
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .build();
        SerializedFileWriter::new(
            Vec::with_capacity(self.settings.row_group_bytes / 2),
            Arc::new(schema),
            Arc::new(properties),
        )
        .map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::parquet::MetaColumn;

    fn settings(row_group_bytes: usize) -> Arc<Parquet> {
        Arc::new(Parquet {
            columns: Columns::Inferred {
                prefix: "_kafka_".to_owned(),
                metadata: vec![MetaColumn::Partition, MetaColumn::Offset],
            },
            compression: crate::parquet::ParquetCompression::Zstd,
            row_group_bytes,
        })
    }

    fn row(offset: i64, fields: &[(&'static str, Cell<'static>)]) -> Row<'static> {
        Row::Inferred {
            metadata: vec![Cell::Int(3), Cell::Int(offset)],
            fields: fields.iter().map(|(n, c)| (Cow::Borrowed(*n), c.clone())).collect(),
        }
    }

    fn read(bytes: Vec<u8>) -> SerializedFileReader<Bytes> {
        SerializedFileReader::new(Bytes::from(bytes)).unwrap()
    }

    #[test]
    fn the_first_row_group_fixes_an_inferred_schema_and_later_rows_must_fit_it() {
        let mut file = ParquetFile::new(&settings(1 << 20));
        assert!(
            file.fits(&row(0, &[("new", Cell::Float(1.5))])),
            "nothing is fixed before a row group"
        );
        for offset in 0..3 {
            let cells = [("id", Cell::Int(offset)), ("name", Cell::Text("a".into()))];
            file.push(&row(offset, &cells)).unwrap();
        }
        file.push(&row(3, &[("id", Cell::Float(3.5))])).unwrap();
        file.write_row_group().unwrap();
        assert!(
            file.fits(&row(4, &[("id", Cell::Int(4))])),
            "an integer fits a double column"
        );
        assert!(
            file.fits(&row(4, &[("other", Cell::Null)])),
            "a null of an unknown field is no field"
        );
        assert!(
            !file.fits(&row(4, &[("other", Cell::Int(1))])),
            "a new field does not fit"
        );
        assert!(
            !file.fits(&row(4, &[("name", Cell::Int(1))])),
            "a number does not fit a string column"
        );
        file.push(&row(4, &[("id", Cell::Int(4)), ("other", Cell::Null)]))
            .unwrap();
        let bytes = file.finish().unwrap();
        let reader = read(bytes);
        let metadata = reader.metadata();
        assert_eq!(metadata.num_row_groups(), 2);
        assert_eq!(metadata.file_metadata().num_rows(), 5);
        let columns: Vec<String> = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| format!("{} {}", c.name(), c.physical_type()))
            .collect();
        assert_eq!(
            columns,
            [
                "_kafka_partition INT32",
                "_kafka_offset INT64",
                "id DOUBLE",
                "name BYTE_ARRAY"
            ]
        );
    }

    #[test]
    fn the_same_rows_make_the_same_bytes_and_row_groups_leave_as_they_fill() {
        let write = || {
            let mut file = ParquetFile::new(&settings(1 << 10));
            let mut taken = Vec::new();
            for offset in 0..400 {
                let text = Cell::Text(Cow::Owned(format!("value {offset}")));
                file.push(&row(offset, &[("v", text)])).unwrap();
                taken.append(file.output());
            }
            assert!(!taken.is_empty(), "full row groups were handed out before the end");
            taken.extend(file.finish().unwrap());
            taken
        };
        let bytes = write();
        assert!(bytes == write());
        assert!(read(bytes).metadata().num_row_groups() > 5);
    }
}
