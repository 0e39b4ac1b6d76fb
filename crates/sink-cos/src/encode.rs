//! Object contents: one line per record (the value as the template wrote it, a JSON line, or a CSV row),
//! optionally compressed as it is written; or a Parquet file ([`crate::parquet`]).

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use ckafka_dump_core::config::Choice;
use ckafka_dump_core::json;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::Path;
use ckafka_dump_core::{Record, StagedRecord};
use serde_json::Value;

use crate::parquet::Parquet;

/// `content_format` as spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentFormat {
    Text,
    JsonLines,
    Csv,
    Parquet,
}

impl Choice for ContentFormat {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("text", ContentFormat::Text),
        ("json", ContentFormat::JsonLines),
        ("csv", ContentFormat::Csv),
        ("parquet", ContentFormat::Parquet),
    ];
}

/// What objects hold.
#[derive(Debug, Clone)]
pub enum Content {
    Lines(Lines),
    Parquet(Arc<Parquet>),
}

impl Content {
    pub fn extension(&self) -> &'static str {
        match self {
            Content::Lines(lines) => lines.extension(),
            Content::Parquet(_) => ".parquet",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Content::Lines(lines) => lines.content_type(),
            Content::Parquet(_) => "application/vnd.apache.parquet",
        }
    }

    /// The value fields the columns read (the value must be a JSON object for them).
    pub fn fields_read(&self) -> Vec<Path> {
        match self {
            Content::Lines(lines) => lines.fields_read(),
            Content::Parquet(parquet) => parquet.fields_read(),
        }
    }
}

/// How records become lines of an object.
#[derive(Debug, Clone)]
pub enum Lines {
    /// The values, each followed by `\n`, as the templates wrote them (bytes as they are).
    Text,
    /// One JSON object per record: topic, partition, offset, timestamp, timestampType, key, value and headers
    /// (a list, empty when the record has none): all a restore needs to rebuild the record. A key, value or
    /// header value that is not UTF-8 is base64 with `"key_encoding"` / `"value_encoding": "base64"`.
    JsonLines,
    /// RFC 4180 rows of the chosen columns, each object starting with a header row when asked.
    Csv(Csv),
}

#[derive(Debug, Clone)]
pub struct Csv {
    /// Fields of the value (after the transform stage) or metadata (`@topic` ...), in column order.
    pub columns: Vec<Path>,
    pub header: bool,
    /// Where `@timestamp` columns are rendered.
    pub zone: Zone,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Choice for Compression {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("zstd", Compression::Zstd),
    ];
}

impl Lines {
    pub fn extension(&self) -> &'static str {
        match self {
            Lines::Text => ".txt",
            Lines::JsonLines => ".jsonl",
            Lines::Csv(_) => ".csv",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Lines::Text => "text/plain; charset=utf-8",
            Lines::JsonLines => "application/x-ndjson",
            Lines::Csv(_) => "text/csv; charset=utf-8",
        }
    }

    /// The value fields lines read (the transform stage must parse them).
    pub fn fields_read(&self) -> Vec<Path> {
        match self {
            Lines::Csv(csv) => csv
                .columns
                .iter()
                .filter(|c| matches!(c, Path::Field { .. }))
                .cloned()
                .collect(),
            Lines::Text | Lines::JsonLines => Vec::new(),
        }
    }

    /// What every object starts with: the CSV header row.
    pub fn header(&self) -> Option<Vec<u8>> {
        match self {
            Lines::Csv(csv) if csv.header => {
                let mut row = Vec::new();
                let names: Vec<String> = csv.columns.iter().map(Path::to_string).collect();
                write_csv_row(&mut row, names.iter().map(|n| n.as_str()));
                Some(row)
            }
            _ => None,
        }
    }

    /// `record` as a line: its value as the stage made it (or as it came); a JSON line or CSV row is built
    /// in `scratch`.
    pub fn line<'a>(&self, record: &StagedRecord<'a>, scratch: &'a mut Vec<u8>) -> Line<'a> {
        match self {
            Lines::Text => Line::Value(record.value_to_write(scratch).unwrap_or_default()),
            Lines::JsonLines => {
                let mut staged = Vec::new();
                let value = record.value_to_write(&mut staged);
                json_line(record, value, scratch);
                Line::Built(scratch)
            }
            Lines::Csv(csv) => {
                scratch.clear();
                // The value's object is read once for all the columns.
                let object = record.object().ok();
                let cells: Vec<Cow<'_, str>> = csv
                    .columns
                    .iter()
                    .map(|column| {
                        let value = match column {
                            Path::Meta(meta) => meta.value(record, &csv.zone).map(Cow::Owned),
                            Path::Field { .. } => object.as_ref().and_then(|object| object.find(column)),
                        };
                        match value.as_deref() {
                            None | Some(Value::Null) => Cow::Borrowed(""),
                            Some(Value::String(text)) => Cow::Owned(text.clone()),
                            Some(other) => Cow::Owned(other.to_string()),
                        }
                    })
                    .collect();
                write_csv_row(scratch, cells.iter().map(|c| c.as_ref()));
                Line::Built(scratch)
            }
        }
    }
}

/// One RFC 4180 row ending in CRLF: a cell holding `,`, `"`, CR or LF is quoted, its quotes doubled.
fn write_csv_row<'c>(row: &mut Vec<u8>, cells: impl Iterator<Item = &'c str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            row.push(b',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            row.push(b'"');
            row.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            row.push(b'"');
        } else {
            row.extend_from_slice(cell.as_bytes());
        }
    }
    row.extend_from_slice(b"\r\n");
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

/// One record's line (with its `\n`): text lines are the value itself, so only JSON lines need building.
pub enum Line<'a> {
    Value(&'a [u8]),
    Built(&'a [u8]),
}

impl Line<'_> {
    pub fn size(&self) -> usize {
        match self {
            Line::Value(value) => value.len() + 1,
            Line::Built(line) => line.len(),
        }
    }

    pub fn write_to(&self, body: &mut ObjectBody) -> io::Result<()> {
        match self {
            Line::Value(value) => {
                body.write(value)?;
                body.write(b"\n")
            }
            Line::Built(line) => body.write(line),
        }
    }
}

/// Writes `record` with `value` as one JSON line (with its `\n`) into `line`, replacing what was there.
pub fn json_line(record: &Record<'_>, value: Option<&[u8]>, line: &mut Vec<u8>) {
    line.clear();
    line.push(b'{');
    json::push_record_members(line, record, value);
    line.extend_from_slice(b"}\n");
}

/// An object's bytes as they are produced: plain, or through a streaming compressor. Finished bytes
/// are taken out part by part, so memory stays at about one part however large the object grows.
pub enum ObjectBody {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl ObjectBody {
    pub fn new(compression: Compression, capacity: usize) -> io::Result<Self> {
        let out = Vec::with_capacity(capacity);
        Ok(match compression {
            Compression::None => ObjectBody::Plain(out),
            Compression::Gzip => ObjectBody::Gzip(flate2::write::GzEncoder::new(out, flate2::Compression::default())),
            Compression::Zstd => ObjectBody::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            ObjectBody::Plain(out) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            ObjectBody::Gzip(encoder) => encoder.write_all(bytes),
            ObjectBody::Zstd(encoder) => encoder.write_all(bytes),
        }
    }

    /// Bytes produced so far and not yet taken.
    pub fn output(&mut self) -> &mut Vec<u8> {
        match self {
            ObjectBody::Plain(out) => out,
            ObjectBody::Gzip(encoder) => encoder.get_mut(),
            ObjectBody::Zstd(encoder) => encoder.get_mut(),
        }
    }

    /// The rest of the object's bytes (compressor trailer included).
    pub fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            ObjectBody::Plain(out) => Ok(out),
            ObjectBody::Gzip(encoder) => encoder.finish(),
            ObjectBody::Zstd(encoder) => encoder.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use ckafka_dump_core::Timestamp;

    fn record(timestamp_ms: Option<i64>, key: Option<&'static [u8]>, value: Option<&'static [u8]>) -> Record<'static> {
        let timestamp = timestamp_ms.map(|millis| Timestamp { millis, kind: None });
        Record::new("t", 1, 7, timestamp, key, value)
    }

    fn sample() -> Record<'static> {
        record(Some(1_700_000_000_000), Some(b"k\"1"), Some("值\n".as_bytes()))
    }

    fn line(format: &Lines, entry: &Record<'_>) -> String {
        let mut scratch = Vec::new();
        let mut body = ObjectBody::new(Compression::None, 0).unwrap();
        let line = format.line(&StagedRecord::unstaged(*entry), &mut scratch);
        let len = line.size();
        line.write_to(&mut body).unwrap();
        let out = body.finish().unwrap();
        assert_eq!(out.len(), len);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_lines_are_the_values_as_the_template_wrote_them() {
        assert_eq!(line(&Lines::Text, &sample()), "值\n\n");
        assert_eq!(line(&Lines::Text, &record(None, None, None)), "\n");
    }

    #[test]
    fn json_lines_carry_coordinates_and_mark_binary_as_base64() {
        let text = line(&Lines::JsonLines, &sample());
        assert_eq!(
            text,
            "{\"topic\":\"t\",\"partition\":1,\"offset\":7,\"timestamp\":1700000000000,\"timestampType\":null,\"key\":\"k\\\"1\",\"value\":\"值\\n\",\"headers\":[]}\n"
        );
        let binary = line(&Lines::JsonLines, &record(None, None, Some(&[0xff, 0x00])));
        let parsed: serde_json::Value = serde_json::from_str(&binary).unwrap();
        assert_eq!(parsed["value"], "/wA=");
        assert_eq!(parsed["value_encoding"], "base64");
        assert!(parsed["key"].is_null() && parsed["timestamp"].is_null());
        assert_eq!(
            parsed["headers"],
            serde_json::json!([]),
            "no headers is an empty list, never absent"
        );
    }

    #[test]
    fn json_lines_keep_headers_byte_exact() {
        let event = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":3,
            "timestamp":1,"timestampType":"CREATE_TIME","value":"/w==",
            "headers":[{"trace":[97,98]},{"bin":[-1]}]}]}}"#;
        let batch = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
        let mut out = Vec::new();
        let record = batch.get(0).unwrap();
        json_line(&record, record.value, &mut out);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["value"], "/w==");
        assert_eq!(parsed["value_encoding"], "base64");
        assert_eq!(
            parsed["headers"],
            serde_json::json!([{"key": "trace", "value": "ab"}, {"key": "bin", "value": "/w==", "value_encoding": "base64"}])
        );
        assert_eq!(
            (parsed["timestamp"].as_i64(), parsed["timestampType"].as_str()),
            (Some(1), Some("CREATE_TIME"))
        );
    }

    #[test]
    fn csv_rows_quote_as_rfc_4180_says_and_leave_missing_cells_empty() {
        let columns = ["id", "name", "@offset", "tags", "missing", "@timestamp"];
        let csv = Lines::Csv(Csv {
            columns: columns.iter().map(|c| Path::parse(c).unwrap()).collect(),
            header: true,
            zone: Zone::named("Asia/Shanghai").unwrap(),
        });
        assert_eq!(
            String::from_utf8(csv.header().unwrap()).unwrap(),
            "id,name,@offset,tags,missing,@timestamp\r\n"
        );
        let value = serde_json::json!({"id": 7, "name": "a \"b\", c\nd", "tags": ["x", "y"]}).to_string();
        let sample = sample();
        let entry = Record::new(sample.topic, 1, 7, sample.timestamp, sample.key, Some(value.as_bytes()));
        assert_eq!(
            line(&csv, &entry),
            "7,\"a \"\"b\"\", c\nd\",7,\"[\"\"x\"\",\"\"y\"\"]\",,2023-11-15T06:13:20.000+08:00\r\n"
        );
        assert!(csv.fields_read().len() == 4 && Lines::JsonLines.fields_read().is_empty());
        assert_eq!(
            (csv.extension(), csv.content_type()),
            (".csv", "text/csv; charset=utf-8")
        );
    }

    #[test]
    fn compressed_bodies_round_trip_when_taken_in_pieces() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut body = ObjectBody::new(compression, 0).unwrap();
            let mut stored = Vec::new();
            for chunk in data.chunks(10_000) {
                body.write(chunk).unwrap();
                stored.append(body.output());
            }
            stored.extend(body.finish().unwrap());
            let mut plain = Vec::new();
            match compression {
                Compression::None => plain = stored,
                Compression::Gzip => {
                    flate2::read::GzDecoder::new(&stored[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                Compression::Zstd => plain = zstd::decode_all(&stored[..]).unwrap(),
            }
            assert!(plain == data, "{compression:?}");
        }
    }
}
