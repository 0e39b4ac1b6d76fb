//! The target table as the database describes it: read once at cold start, it decides every row's shape.

/// How a column's values are written, from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Boolean,
    /// float, double, numeric, decimal
    Number,
    Json,
    Bytes,
    /// timestamp, timestamptz, datetime, date
    Time,
    /// text, varchar, char, uuid, enum and every other type the database parses from text
    Text,
}

impl ColumnType {
    /// From `information_schema.columns.data_type` of PostgreSQL or MySQL / MariaDB.
    pub fn of(data_type: &str) -> Self {
        match data_type.to_ascii_lowercase().as_str() {
            "smallint" | "integer" | "int" | "bigint" | "tinyint" | "mediumint" => ColumnType::Integer,
            "boolean" => ColumnType::Boolean,
            "real" | "double precision" | "numeric" | "decimal" | "float" | "double" => ColumnType::Number,
            "json" | "jsonb" => ColumnType::Json,
            "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => ColumnType::Bytes,
            t if t.starts_with("timestamp") || t == "datetime" || t == "date" => ColumnType::Time,
            _ => ColumnType::Text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the database names it, for messages.
    pub data_type: String,
    pub kind: ColumnType,
    pub nullable: bool,
    /// A default, identity or auto-increment fills the column when a batch gives it no value.
    pub has_default: bool,
    /// `varchar(n)` / `char(n)`: the most characters a value may have.
    pub max_chars: Option<usize>,
}

/// A table name as configured: `table` or `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn parse(text: &str) -> Option<TableName> {
        let (schema, name) = match text.split_once('.') {
            Some((schema, name)) => (Some(schema.to_owned()), name),
            None => (None, text),
        };
        let valid = |part: &str| !part.is_empty() && !part.contains('.') && !part.chars().any(char::is_control);
        (valid(name) && schema.as_deref().is_none_or(valid)).then(|| TableName {
            schema,
            name: name.to_owned(),
        })
    }

    /// The same table in `schema` (a related table: offsets, dead letters) unless its name is qualified.
    pub fn sibling(&self, text: &str) -> Option<TableName> {
        let mut name = TableName::parse(text)?;
        if name.schema.is_none() {
            name.schema.clone_from(&self.schema);
        }
        Some(name)
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: TableName,
    /// In the table's order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_of_both_databases_map_to_kinds() {
        assert_eq!(ColumnType::of("bigint"), ColumnType::Integer);
        assert_eq!(ColumnType::of("timestamp with time zone"), ColumnType::Time);
        assert_eq!(ColumnType::of("datetime"), ColumnType::Time);
        assert_eq!(ColumnType::of("jsonb"), ColumnType::Json);
        assert_eq!(ColumnType::of("longblob"), ColumnType::Bytes);
        assert_eq!(ColumnType::of("character varying"), ColumnType::Text);
        assert_eq!(ColumnType::of("uuid"), ColumnType::Text);
    }

    #[test]
    fn table_names_may_carry_a_schema() {
        let t = TableName::parse("logs.events").unwrap();
        assert_eq!((t.schema.as_deref(), t.name.as_str()), (Some("logs"), "events"));
        assert_eq!(t.sibling("offsets").unwrap().to_string(), "logs.offsets");
        assert_eq!(TableName::parse("a.b.c"), None);
        assert_eq!(TableName::parse(".b"), None);
    }
}
