//! What a database error means for the batch, from its SQLSTATE or MySQL error number (never its text).

/// What to do about a database error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connection lost, deadlock, serialization failure, too many connections, a timeout: try the batch again.
    Transient,
    /// A row the table refuses (a conversion, a constraint, a value too long): find it, dead-letter it.
    Row,
    /// The table is not as it was read (a column the rows fill was dropped): read it again, then retry once.
    TableChanged,
    /// No such table, permission denied, bad password: fail now, naming it.
    Permanent,
}

/// PostgreSQL's SQLSTATE classes (Appendix A of its manual).
pub fn class_of_sqlstate(code: &str) -> ErrorClass {
    match code {
        "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" => ErrorClass::Transient,
        // One key twice in one upsert (two spellings the type makes equal: a uuid's case, `1` and `1.0`),
        // an index row over the page's limit: rows of the statement, found by halving it.
        "21000" | "54000" => ErrorClass::Row,
        "42703" => ErrorClass::TableChanged,
        _ if code.starts_with("08") || code.starts_with("53") => ErrorClass::Transient,
        _ if code.starts_with("22") || code.starts_with("23") => ErrorClass::Row,
        _ => ErrorClass::Permanent,
    }
}

/// MySQL / MariaDB server error numbers, then the SQLSTATE they come with.
pub fn class_of_mysql(code: u16, sqlstate: &str) -> ErrorClass {
    match code {
        // lock wait timeout, deadlock, too many connections, user's connection limit, shutdown in progress,
        // server gone / lost, query interrupted, connection killed, MySQL / MariaDB statement time limits
        1205 | 1213 | 1040 | 1203 | 1053 | 2006 | 2013 | 1317 | 1927 | 3024 | 1969 => ErrorClass::Transient,
        // NOT NULL, duplicate key, out of range, truncated, bad date / number / value, too long, foreign key,
        // invalid JSON, CHECK constraints (MariaDB 4025, MySQL 3819), a statement or a value over
        // max_allowed_packet (1153 comes with SQLSTATE 08S01, yet the row is the cause)
        1048 | 1062 | 1264 | 1265 | 1292 | 1366 | 1367 | 1406 | 1411 | 1451 | 1452 | 1690 | 3140 | 3819 | 4025
        | 1153 | 1301 => ErrorClass::Row,
        // unknown column: the table changed since it was read
        1054 => ErrorClass::TableChanged,
        _ if sqlstate.starts_with("08") => ErrorClass::Transient,
        _ if sqlstate.starts_with("22") || sqlstate.starts_with("23") => ErrorClass::Row,
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_sort_into_retry_row_and_permanent() {
        assert_eq!(class_of_sqlstate("40P01"), ErrorClass::Transient);
        assert_eq!(class_of_sqlstate("08006"), ErrorClass::Transient);
        assert_eq!(class_of_sqlstate("53300"), ErrorClass::Transient);
        assert_eq!(class_of_sqlstate("22P02"), ErrorClass::Row);
        assert_eq!(class_of_sqlstate("23502"), ErrorClass::Row);
        assert_eq!(class_of_sqlstate("42P01"), ErrorClass::Permanent);
        assert_eq!(class_of_sqlstate("28P01"), ErrorClass::Permanent);
        assert_eq!(class_of_sqlstate("21000"), ErrorClass::Row);
        assert_eq!(class_of_sqlstate("54000"), ErrorClass::Row);
        assert_eq!(class_of_sqlstate("42703"), ErrorClass::TableChanged);
    }

    #[test]
    fn mysql_numbers_sort_the_same_way() {
        assert_eq!(class_of_mysql(1213, "40001"), ErrorClass::Transient);
        assert_eq!(class_of_mysql(1406, "22001"), ErrorClass::Row);
        assert_eq!(class_of_mysql(1366, "HY000"), ErrorClass::Row);
        assert_eq!(class_of_mysql(1146, "42S02"), ErrorClass::Permanent);
        assert_eq!(class_of_mysql(1045, "28000"), ErrorClass::Permanent);
        assert_eq!(class_of_mysql(9999, "22003"), ErrorClass::Row);
        assert_eq!(class_of_mysql(1153, "08S01"), ErrorClass::Row);
        assert_eq!(class_of_mysql(1054, "42S22"), ErrorClass::TableChanged);
    }
}
