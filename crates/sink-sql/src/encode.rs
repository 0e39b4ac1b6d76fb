//! Values as the databases read them: PostgreSQL's COPY text format, and SQL literals of both dialects.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::schema::TableName;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
}

/// One value of a row, as text the column's type parses, or bytes for a binary column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell<'r> {
    Null,
    Text(Cow<'r, str>),
    Bytes(Cow<'r, [u8]>),
}

impl Cell<'_> {
    /// The same value, owning its text or bytes.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Text(text) => Cell::Text(Cow::Owned(text.into_owned())),
            Cell::Bytes(bytes) => Cell::Bytes(Cow::Owned(bytes.into_owned())),
        }
    }

    /// Characters of a text value, for a `varchar(n)` check.
    pub fn chars(&self) -> usize {
        match self {
            Cell::Text(text) => text.chars().count(),
            _ => 0,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// The value as text for comparing keys (bytes in hex).
    pub fn key_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Null => Cow::Borrowed("\u{0}null"),
            Cell::Text(text) => Cow::Borrowed(text),
            Cell::Bytes(bytes) => Cow::Owned(hex(bytes)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl Dialect {
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    pub fn table(self, table: &TableName) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(&table.name)),
            None => self.ident(&table.name),
        }
    }

    /// A string literal. PostgreSQL runs with `standard_conforming_strings` (backslashes are plain); MySQL with
    /// its default backslash escapes, which the session keeps (`NO_BACKSLASH_ESCAPES` is never set).
    pub fn push_str_literal(self, out: &mut String, text: &str) {
        out.push('\'');
        for c in text.chars() {
            match (self, c) {
                (_, '\'') => out.push_str("''"),
                (Dialect::Mysql, '\\') => out.push_str("\\\\"),
                (Dialect::Mysql, '\0') => out.push_str("\\0"),
                _ => out.push(c),
            }
        }
        out.push('\'');
    }

    pub fn push_literal(self, out: &mut String, cell: &Cell<'_>) {
        match cell {
            Cell::Null => out.push_str("NULL"),
            Cell::Text(text) => self.push_str_literal(out, text),
            Cell::Bytes(bytes) => match self {
                Dialect::Postgres => {
                    let _ = write!(out, "'\\x{}'::bytea", hex(bytes));
                }
                Dialect::Mysql if bytes.is_empty() => out.push_str("''"),
                Dialect::Mysql => {
                    let _ = write!(out, "X'{}'", hex(bytes));
                }
            },
        }
    }

    pub fn literal(self, cell: &Cell<'_>) -> String {
        let mut out = String::new();
        self.push_literal(&mut out, cell);
        out
    }

    pub fn str_literal(self, text: &str) -> String {
        let mut out = String::new();
        self.push_str_literal(&mut out, text);
        out
    }
}

/// Appends one row in PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
pub fn push_copy_row(out: &mut Vec<u8>, cells: &[Cell<'_>]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match cell {
            Cell::Null => out.extend_from_slice(b"\\N"),
            Cell::Text(text) => push_copy_text(out, text.as_bytes()),
            Cell::Bytes(bytes) => {
                // bytea's hex input form, its backslash escaped for COPY.
                out.extend_from_slice(b"\\\\x");
                out.extend_from_slice(hex(bytes).as_bytes());
            }
        }
    }
    out.push(b'\n');
}

fn push_copy_text(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell<'_> {
        Cell::Text(Cow::Borrowed(s))
    }

    #[test]
    fn copy_rows_escape_separators_and_mark_nulls() {
        let mut out = Vec::new();
        push_copy_row(
            &mut out,
            &[text("a\tb\\c\nd\re"), Cell::Null, Cell::Bytes(Cow::Borrowed(&[0, 255]))],
        );
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re\t\\N\t\\\\x00ff\n");
    }

    #[test]
    fn literals_quote_per_dialect() {
        assert_eq!(Dialect::Postgres.literal(&text("it's a\\b")), "'it''s a\\b'");
        assert_eq!(Dialect::Mysql.literal(&text("it's a\\b\0")), "'it''s a\\\\b\\0'");
        assert_eq!(Dialect::Mysql.literal(&Cell::Bytes(Cow::Borrowed(&[1, 2]))), "X'0102'");
        assert_eq!(
            Dialect::Postgres.literal(&Cell::Bytes(Cow::Borrowed(&[1, 2]))),
            "'\\x0102'::bytea"
        );
        assert_eq!(Dialect::Mysql.literal(&Cell::Null), "NULL");
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(Dialect::Postgres.ident("off\"set"), "\"off\"\"set\"");
        assert_eq!(Dialect::Mysql.ident("partition"), "`partition`");
        let t = TableName::parse("s.t").unwrap();
        assert_eq!(Dialect::Mysql.table(&t), "`s`.`t`");
    }
}
