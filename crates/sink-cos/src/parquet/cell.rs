//! One value of a Parquet row as it was read (a JSON field, a piece of Kafka metadata), the column types a user
//! declares, and the conversions between them. Nothing is converted that would change a value: a number a
//! double cannot hold as written, a timestamp finer than its column, a decimal with more digits than declared
//! are refused, naming what they are.

use std::borrow::Cow;

use ckafka_dump_core::value::Slot;
use serde_json::value::RawValue;
use serde_json::Value;

/// A value read from a record, before it meets its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    /// A JSON integer in i64's range; also the stored form of int32, date (days) and timestamp (its unit).
    Int(i64),
    /// A JSON number a double holds as written (its shortest form means the same decimal value).
    Float(f64),
    /// Any other JSON number, as written: beyond i64 and not exact as a double (`12345678901234567890123`,
    /// `0.1000000000000000055511`, `1e400`).
    Number(Cow<'a, str>),
    /// Milliseconds since the epoch (a record's timestamp).
    Timestamp(i64),
    /// The unscaled value of a declared decimal column.
    Decimal(i128),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// An object or array (or, converted for a `json` column, any value) as JSON text.
    Json(Cow<'a, str>),
}

/// The largest integer every smaller one of which a double holds exactly.
const EXACT_IN_DOUBLE: i64 = 1 << 53;

impl<'a> Cell<'a> {
    /// A field of the value as the stage left it: still JSON text, or a value made.
    pub fn of_slot(slot: &Slot<'a>) -> Cell<'a> {
        match slot {
            Slot::Raw(raw) => Cell::of_raw(raw),
            Slot::Made(value) => Cell::of_value(value).into_owned(),
            Slot::Bytes(bytes) => Cell::Bytes(bytes.clone()),
            Slot::Timestamp(millis) => Cell::Timestamp(*millis),
        }
    }

    /// JSON text, read without building a tree: objects and arrays stay the text they were.
    fn of_raw(raw: &'a RawValue) -> Cell<'a> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'n') => Cell::Null,
            Some(b't') => Cell::Bool(true),
            Some(b'f') => Cell::Bool(false),
            Some(b'{' | b'[') => Cell::Json(Cow::Borrowed(text)),
            Some(b'"') => match text.contains('\\') {
                false => Cell::Text(Cow::Borrowed(&text[1..text.len() - 1])),
                // A string no UTF-8 text holds (a lone surrogate, `"\ud800"`), which readers refuse as text and
                // as JSON, is kept as the bytes of its JSON text.
                true => serde_json::from_str(text).map_or(Cell::Bytes(Cow::Borrowed(text.as_bytes())), |s| {
                    Cell::Text(Cow::Owned(s))
                }),
            },
            _ => Cell::number(Cow::Borrowed(text)),
        }
    }

    pub fn of_value(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::number(Cow::Owned(n.to_string())),
            Value::String(s) => Cell::Text(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Cell::Json(Cow::Owned(value.to_string())),
        }
    }

    /// Text when UTF-8, else bytes: a key, a header value, a value that is not JSON.
    pub fn of_bytes(bytes: &'a [u8]) -> Cell<'a> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Cell::Text(Cow::Borrowed(text)),
            Err(_) => Cell::Bytes(Cow::Borrowed(bytes)),
        }
    }

    /// A JSON number's text as the narrowest cell that keeps it.
    fn number(text: Cow<'a, str>) -> Cell<'a> {
        if !text.contains(['.', 'e', 'E']) {
            if let Ok(int) = text.parse::<i64>() {
                return Cell::Int(int);
            }
            return Cell::Number(text);
        }
        match exact_double(&text) {
            Some(double) => Cell::Float(double),
            None => Cell::Number(text),
        }
    }

    /// About the bytes this cell adds to a row group.
    pub fn size(&self) -> usize {
        match self {
            Cell::Null => 1,
            Cell::Bool(_) => 2,
            Cell::Int(_) | Cell::Float(_) | Cell::Timestamp(_) => 9,
            Cell::Decimal(_) => 17,
            Cell::Number(t) | Cell::Text(t) | Cell::Json(t) => t.len() + 5,
            Cell::Bytes(b) => b.len() + 5,
        }
    }

    /// The cell as JSON text (a `json` column's bytes): strings quoted, bytes as a base64 string, a timestamp
    /// as RFC 3339 in UTC.
    pub fn to_json(&self, out: &mut Vec<u8>) {
        match self {
            Cell::Null => out.extend_from_slice(b"null"),
            Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Cell::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Cell::Float(f) => out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes()),
            Cell::Number(t) | Cell::Json(t) => out.extend_from_slice(t.as_bytes()),
            Cell::Text(t) => ckafka_dump_core::json::push_string(out, t),
            Cell::Bytes(b) => ckafka_dump_core::json::push_string(out, &base64_simd::STANDARD.encode_to_string(b)),
            Cell::Timestamp(ms) => ckafka_dump_core::json::push_string(
                out,
                &ckafka_dump_core::time::DateTime::from_epoch_ms(*ms).rfc3339(),
            ),
            Cell::Decimal(d) => out.extend_from_slice(d.to_string().as_bytes()),
        }
    }

    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Int(i) => Cell::Int(i),
            Cell::Float(f) => Cell::Float(f),
            Cell::Timestamp(t) => Cell::Timestamp(t),
            Cell::Decimal(d) => Cell::Decimal(d),
            Cell::Number(t) => Cell::Number(Cow::Owned(t.into_owned())),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Json(t) => Cell::Json(Cow::Owned(t.into_owned())),
            Cell::Bytes(b) => Cell::Bytes(Cow::Owned(b.into_owned())),
        }
    }

    /// What kind of value this is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Bool(_) => "a boolean",
            Cell::Int(_) | Cell::Float(_) | Cell::Number(_) | Cell::Decimal(_) => "a number",
            Cell::Timestamp(_) => "a timestamp",
            Cell::Text(_) => "a string",
            Cell::Bytes(_) => "bytes that are not UTF-8",
            Cell::Json(t) if t.starts_with('[') => "an array",
            Cell::Json(_) => "an object",
        }
    }
}

/// The double a JSON number's text means, when its shortest form is the same decimal value (so `0.1` and
/// `2.50` are doubles; `1e400` and 20 significant digits are not).
fn exact_double(text: &str) -> Option<f64> {
    let double: f64 = text.parse().ok().filter(|d: &f64| d.is_finite())?;
    let shortest = ryu::Buffer::new().format_finite(double).to_owned();
    (Decimal::parse(text)? == Decimal::parse(&shortest)?).then_some(double)
}

/// A decimal number's value as sign, significant digits (no leading or trailing zeros) and the power of ten of
/// the last digit: `-12.50` is (true, "125", -1).
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, power) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && fraction.is_empty()
            || !(whole.chars().chain(fraction.chars())).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let all: String = whole.chars().chain(fraction.chars()).collect();
        let trimmed_end = all.trim_end_matches('0');
        let exponent = power
            .checked_sub(fraction.len() as i64)?
            .checked_add((all.len() - trimmed_end.len()) as i64)?;
        let digits = trimmed_end.trim_start_matches('0').to_owned();
        Some(match digits.is_empty() {
            true => Decimal {
                negative: false,
                digits,
                exponent: 0,
            },
            false => Decimal {
                negative,
                digits,
                exponent,
            },
        })
    }

    /// The unscaled value at `scale` decimals, when it has no more and fits `precision` digits.
    fn unscaled(&self, precision: u8, scale: u8) -> Result<i128, String> {
        let shift = self.exponent.saturating_add(i64::from(scale));
        if shift < 0 {
            return Err(format!("has more than {scale} decimals"));
        }
        let total_digits = (self.digits.len() as i64).saturating_add(shift);
        if !self.digits.is_empty() && total_digits > i64::from(precision) {
            return Err(format!("has more than {precision} digits"));
        }
        let mut unscaled: i128 = if self.digits.is_empty() {
            0
        } else {
            self.digits.parse().expect("at most 38 digits")
        };
        for _ in 0..shift.min(38) {
            unscaled *= 10;
        }
        Ok(if self.negative { -unscaled } else { unscaled })
    }
}

/// A column's type as `parquet_columns` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int32,
    Int64,
    Double,
    Boolean,
    /// Milliseconds since the epoch, UTC-adjusted.
    TimestampMillis,
    /// Microseconds since the epoch, UTC-adjusted.
    TimestampMicros,
    /// Days since the epoch.
    Date,
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// JSON text (Parquet's JSON logical type).
    Json,
    Binary,
}

/// The spellings, for messages and docs.
pub const TYPE_NAMES: &str =
    "string, int32, int64, double, boolean, timestamp (ms), timestamp_us, date, decimal(P,S), json, binary";

impl ColumnType {
    pub fn parse(text: &str) -> Result<ColumnType, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "string" | "text" => ColumnType::String,
            "int32" | "int" => ColumnType::Int32,
            "int64" | "long" | "bigint" => ColumnType::Int64,
            "double" => ColumnType::Double,
            "boolean" | "bool" => ColumnType::Boolean,
            "timestamp" | "timestamp_ms" => ColumnType::TimestampMillis,
            "timestamp_us" => ColumnType::TimestampMicros,
            "date" => ColumnType::Date,
            "json" => ColumnType::Json,
            "binary" | "bytes" => ColumnType::Binary,
            other => {
                let bad = || format!("`{text}` is not a column type (known: {TYPE_NAMES})");
                let inner = other
                    .strip_prefix("decimal(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .ok_or_else(bad)?;
                let (p, s) = inner.split_once(',').ok_or_else(bad)?;
                let precision: u8 = p.trim().parse().map_err(|_| bad())?;
                let scale: u8 = s.trim().parse().map_err(|_| bad())?;
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(format!(
                        "`{text}`: a decimal's precision is 1 to 38 and its scale at most the precision"
                    ));
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }

    /// The type an inferred column takes from what its cells were: one kind keeps its type, integers with
    /// doubles are doubles (when each integer is exact as one), text with bytes is binary, nothing but nulls
    /// is a string; anything else is JSON.
    pub fn inferred(seen: &Seen) -> ColumnType {
        let Seen { kinds, .. } = *seen;
        match kinds {
            0 => ColumnType::String,
            BOOL => ColumnType::Boolean,
            INT => ColumnType::Int64,
            FLOAT => ColumnType::Double,
            k if k == INT | FLOAT && seen.ints_exact_in_double => ColumnType::Double,
            TEXT => ColumnType::String,
            k if k == BYTES || k == TEXT | BYTES => ColumnType::Binary,
            TIMESTAMP => ColumnType::TimestampMillis,
            _ => ColumnType::Json,
        }
    }

    /// Whether a column of this type holds `cell` as it is (an inferred column's later rows).
    pub fn holds(self, cell: &Cell<'_>) -> bool {
        match (self, cell) {
            (_, Cell::Null) => true,
            (ColumnType::Boolean, Cell::Bool(_)) | (ColumnType::Int64, Cell::Int(_)) => true,
            (ColumnType::Int32, Cell::Int(i)) => i32::try_from(*i).is_ok(),
            (ColumnType::Double, Cell::Float(_)) => true,
            (ColumnType::Double, Cell::Int(i)) => i.unsigned_abs() <= EXACT_IN_DOUBLE as u64,
            (ColumnType::String, Cell::Text(_)) => true,
            (ColumnType::Binary, Cell::Text(_) | Cell::Bytes(_)) => true,
            (ColumnType::TimestampMillis, Cell::Timestamp(_)) => true,
            (ColumnType::Json, cell) => !matches!(cell, Cell::Bytes(_) | Cell::Decimal(_)),
            _ => false,
        }
    }

    /// `cell` stored in a declared column of this type, or why it cannot be without changing it.
    pub fn convert<'a>(self, cell: Cell<'a>) -> Result<Cell<'a>, String> {
        let refused = |cell: &Cell<'_>| Err(format!("{} is not {}", cell.kind(), self.spelled()));
        match (self, cell) {
            (_, Cell::Null) => Ok(Cell::Null),
            (ColumnType::String, Cell::Text(t)) => Ok(Cell::Text(t)),
            (ColumnType::String, Cell::Bytes(b)) => refused(&Cell::Bytes(b)),
            (ColumnType::String, Cell::Timestamp(ms)) => Ok(Cell::Text(Cow::Owned(
                ckafka_dump_core::time::DateTime::from_epoch_ms(ms).rfc3339(),
            ))),
            (ColumnType::String, other) => {
                let mut json = Vec::new();
                other.to_json(&mut json);
                Ok(Cell::Text(Cow::Owned(String::from_utf8(json).expect("JSON is UTF-8"))))
            }
            (ColumnType::Int32, Cell::Int(i)) => match i32::try_from(i) {
                Ok(_) => Ok(Cell::Int(i)),
                Err(_) => Err(format!("{i} is out of int32's range")),
            },
            (ColumnType::Int64, Cell::Int(i)) => Ok(Cell::Int(i)),
            (ColumnType::Int64, Cell::Timestamp(ms)) => Ok(Cell::Int(ms)),
            (ColumnType::Int32 | ColumnType::Int64, Cell::Number(n)) if !n.contains(['.', 'e', 'E']) => {
                Err(format!("{n} is out of {}'s range", self.spelled()))
            }
            (ColumnType::Double, Cell::Float(f)) => Ok(Cell::Float(f)),
            (ColumnType::Double, Cell::Int(i)) if self.holds(&Cell::Int(i)) => Ok(Cell::Float(i as f64)),
            (ColumnType::Double, Cell::Int(i)) => Err(format!("{i} is not exact as a double")),
            (ColumnType::Double, Cell::Number(n)) => Err(format!("{n} is not exact as a double")),
            (ColumnType::Boolean, Cell::Bool(b)) => Ok(Cell::Bool(b)),
            (ColumnType::TimestampMillis | ColumnType::TimestampMicros, cell) => self.timestamp(cell),
            (ColumnType::Date, Cell::Text(t)) => date_days(&t).map(Cell::Int),
            (ColumnType::Decimal { precision, scale }, cell) => {
                let text = match &cell {
                    Cell::Int(_) | Cell::Float(_) => {
                        let mut text = Vec::new();
                        cell.to_json(&mut text);
                        Cow::Owned(String::from_utf8(text).expect("JSON is UTF-8"))
                    }
                    Cell::Number(n) | Cell::Text(n) => Cow::Borrowed(n.as_ref()),
                    other => return refused(other),
                };
                let decimal = Decimal::parse(&text).ok_or_else(|| format!("`{text}` is not a decimal number"))?;
                decimal
                    .unscaled(precision, scale)
                    .map(Cell::Decimal)
                    .map_err(|why| format!("{text} {why} ({})", self.spelled()))
            }
            (ColumnType::Json, cell) => {
                let mut json = Vec::new();
                cell.to_json(&mut json);
                Ok(Cell::Json(Cow::Owned(String::from_utf8(json).expect("JSON is UTF-8"))))
            }
            (ColumnType::Binary, Cell::Bytes(b)) => Ok(Cell::Bytes(b)),
            (ColumnType::Binary, Cell::Text(t)) => Ok(Cell::Bytes(match t {
                Cow::Borrowed(t) => Cow::Borrowed(t.as_bytes()),
                Cow::Owned(t) => Cow::Owned(t.into_bytes()),
            })),
            (_, other) => refused(&other),
        }
    }

    /// Epoch milliseconds (a number or a record's timestamp) or RFC 3339 text, in this column's unit.
    fn timestamp(self, cell: Cell<'_>) -> Result<Cell<'static>, String> {
        let per_milli = if self == ColumnType::TimestampMicros { 1000 } else { 1 };
        let from_millis = |ms: i64| {
            ms.checked_mul(per_milli)
                .map(Cell::Int)
                .ok_or_else(|| format!("{ms} ms is out of range"))
        };
        match cell {
            Cell::Int(ms) | Cell::Timestamp(ms) => from_millis(ms),
            Cell::Text(text) => {
                let at: jiff::Timestamp = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not an RFC 3339 time with an offset"))?;
                let nanos = at.as_nanosecond();
                let unit = 1_000_000 / i128::from(per_milli);
                if nanos % unit != 0 {
                    return Err(format!("`{text}` is finer than {}", self.spelled()));
                }
                Ok(Cell::Int((nanos / unit) as i64))
            }
            other => Err(format!("{} is not {}", other.kind(), self.spelled())),
        }
    }

    /// As `parquet_columns` spells it.
    pub fn spelled(self) -> String {
        match self {
            ColumnType::String => "string".into(),
            ColumnType::Int32 => "int32".into(),
            ColumnType::Int64 => "int64".into(),
            ColumnType::Double => "double".into(),
            ColumnType::Boolean => "boolean".into(),
            ColumnType::TimestampMillis => "timestamp".into(),
            ColumnType::TimestampMicros => "timestamp_us".into(),
            ColumnType::Date => "date".into(),
            ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::Json => "json".into(),
            ColumnType::Binary => "binary".into(),
        }
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn date_days(text: &str) -> Result<i64, String> {
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
    let epoch = jiff::civil::date(1970, 1, 1);
    Ok(i64::from(epoch.until(date).expect("dates are within range").get_days()))
}

pub const BOOL: u8 = 1;
pub const INT: u8 = 1 << 1;
pub const FLOAT: u8 = 1 << 2;
pub const NUMBER: u8 = 1 << 3;
pub const TEXT: u8 = 1 << 4;
pub const BYTES: u8 = 1 << 5;
pub const JSON: u8 = 1 << 6;
pub const TIMESTAMP: u8 = 1 << 7;

/// The kinds of cells an inferred column has seen.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub kinds: u8,
    /// Whether every integer seen is exact as a double.
    pub ints_exact_in_double: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            kinds: 0,
            ints_exact_in_double: true,
        }
    }
}

impl Seen {
    pub fn add(&mut self, cell: &Cell<'_>) {
        self.kinds |= match cell {
            Cell::Null => 0,
            Cell::Bool(_) => BOOL,
            Cell::Int(i) => {
                self.ints_exact_in_double &= i.unsigned_abs() <= EXACT_IN_DOUBLE as u64;
                INT
            }
            Cell::Float(_) => FLOAT,
            Cell::Number(_) | Cell::Decimal(_) => NUMBER,
            Cell::Text(_) => TEXT,
            Cell::Bytes(_) => BYTES,
            Cell::Json(_) => JSON,
            Cell::Timestamp(_) => TIMESTAMP,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Cell<'static> {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        Cell::of_raw(Box::leak(raw))
    }

    #[test]
    fn json_text_becomes_the_narrowest_cell_that_keeps_it() {
        assert_eq!(raw("7"), Cell::Int(7));
        assert_eq!(raw("-9223372036854775808"), Cell::Int(i64::MIN));
        assert_eq!(raw("9223372036854775808"), Cell::Number("9223372036854775808".into()));
        assert_eq!(raw("2.50"), Cell::Float(2.5));
        assert_eq!(raw("0.1"), Cell::Float(0.1));
        assert_eq!(raw("1e3"), Cell::Float(1000.0));
        assert_eq!(raw("1e400"), Cell::Number("1e400".into()));
        assert_eq!(
            raw("0.12345678901234567890"),
            Cell::Number("0.12345678901234567890".into())
        );
        assert_eq!(raw(r#""a\"b""#), Cell::Text("a\"b".into()));
        assert_eq!(raw(r#""plain""#), Cell::Text("plain".into()));
        assert_eq!(
            raw(r#""\ud800""#),
            Cell::Bytes(br#""\ud800""#.to_vec().into()),
            "a lone surrogate: the bytes of its JSON"
        );
        assert_eq!(raw(r#"{"a": [1]}"#), Cell::Json(r#"{"a": [1]}"#.into()));
        assert_eq!((raw("null"), raw("true")), (Cell::Null, Cell::Bool(true)));
    }

    #[test]
    fn inferred_types_widen_only_where_nothing_changes() {
        let seen = |cells: &[Cell<'_>]| {
            let mut seen = Seen::default();
            cells.iter().for_each(|c| seen.add(c));
            ColumnType::inferred(&seen)
        };
        assert_eq!(seen(&[Cell::Int(1), Cell::Null]), ColumnType::Int64);
        assert_eq!(seen(&[Cell::Int(1), Cell::Float(1.5)]), ColumnType::Double);
        assert_eq!(seen(&[Cell::Int(1 << 60), Cell::Float(1.5)]), ColumnType::Json);
        assert_eq!(seen(&[Cell::Int(1), Cell::Text("a".into())]), ColumnType::Json);
        assert_eq!(
            seen(&[Cell::Text("a".into()), Cell::Bytes(vec![0xff].into())]),
            ColumnType::Binary
        );
        assert_eq!(seen(&[Cell::Null]), ColumnType::String);
        assert_eq!(seen(&[Cell::Number("1e400".into())]), ColumnType::Json);
        assert!(ColumnType::Double.holds(&Cell::Int(3)) && !ColumnType::Int64.holds(&Cell::Float(3.5)));
        assert!(!ColumnType::String.holds(&Cell::Bytes(vec![0xff].into())));
        assert!(ColumnType::Int32.holds(&Cell::Int(7)) && !ColumnType::Int32.holds(&Cell::Int(1 << 40)));
    }

    #[test]
    fn declared_types_convert_only_without_loss() {
        let convert = |ty: &str, cell: Cell<'static>| ColumnType::parse(ty).unwrap().convert(cell);
        assert_eq!(convert("int32", Cell::Int(5)), Ok(Cell::Int(5)));
        assert!(convert("int32", Cell::Int(1 << 40))
            .unwrap_err()
            .contains("out of int32's range"));
        assert_eq!(convert("string", Cell::Int(5)), Ok(Cell::Text("5".into())));
        assert_eq!(
            convert("timestamp", Cell::Text("2026-12-03T08:00:00.123+08:00".into())),
            Ok(Cell::Int(1_796_256_000_123))
        );
        assert!(convert("timestamp", Cell::Text("2026-12-03T00:00:00.1234Z".into()))
            .unwrap_err()
            .contains("finer"));
        assert_eq!(
            convert("timestamp_us", Cell::Text("2026-12-03T00:00:00.1234Z".into())),
            Ok(Cell::Int(1_796_256_000_123_400))
        );
        assert_eq!(convert("timestamp_us", Cell::Timestamp(2)), Ok(Cell::Int(2000)));
        assert_eq!(convert("date", Cell::Text("1970-01-02".into())), Ok(Cell::Int(1)));
        assert_eq!(convert("decimal(10,2)", Cell::Float(12.5)), Ok(Cell::Decimal(1250)));
        assert_eq!(
            convert("decimal(10,2)", Cell::Text("-0.07".into())),
            Ok(Cell::Decimal(-7))
        );
        assert!(convert("decimal(10,2)", Cell::Float(12.345))
            .unwrap_err()
            .contains("more than 2 decimals"));
        assert!(convert("decimal(4,2)", Cell::Int(123))
            .unwrap_err()
            .contains("more than 4 digits"));
        assert_eq!(
            convert("decimal(38,0)", Cell::Number("12345678901234567890123".into())),
            Ok(Cell::Decimal(12345678901234567890123))
        );
        assert!(convert("double", Cell::Int((1 << 53) + 1))
            .unwrap_err()
            .contains("not exact"));
        assert!(convert("boolean", Cell::Text("true".into()))
            .unwrap_err()
            .contains("a string is not boolean"));
        assert_eq!(convert("json", Cell::Text("a".into())), Ok(Cell::Json("\"a\"".into())));
        assert!(convert("string", Cell::Bytes(vec![0xff].into())).is_err());
        assert_eq!(
            convert("binary", Cell::Text("a".into())),
            Ok(Cell::Bytes(b"a".to_vec().into()))
        );
        assert_eq!(convert("int64", Cell::Null), Ok(Cell::Null));
        assert!(ColumnType::parse("decimal(39,1)").is_err() && ColumnType::parse("float").is_err());
        for huge in [
            "10e9223372036854775807",
            "1e-9223372036854775808",
            "0.5e9223372036854775807",
        ] {
            assert!(convert("decimal(38,2)", Cell::Text(huge.into())).is_err(), "{huge}");
        }
    }
}
