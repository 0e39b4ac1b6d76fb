//! to-sql against real PostgreSQL 15 and MariaDB 10.11 started by `scripts/services.sh`; every behaviour on both.
//! A test whose server is missing fails. Faults go through a TCP proxy (testkit's `TcpCut`) that cuts the
//! connection at a chosen point of the batch, and proves the point was reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Error, Retryable};
use ckafka_dump_runtime::{invoke, Function, Summary};
use ckafka_dump_sink_sql::config::SqlConfig;
use ckafka_dump_sink_sql::db::Connection;
use ckafka_dump_sink_sql::SqlSink;
use ckafka_dump_testkit::{
    aws_event, join_overlapping, repo_root, setting, spawn_timed, unique, url_address, var, AwsRecord, Cut, TcpCut,
};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Postgres,
    Mysql,
}

impl Db {
    fn url(self) -> String {
        setting(match self {
            Db::Postgres => "CKD_PG_URL",
            Db::Mysql => "CKD_MYSQL_URL",
        })
    }

    /// The server's type for a kind of column.
    fn ty(self, kind: &str) -> &'static str {
        match (self, kind) {
            (Db::Postgres, "json") => "jsonb",
            (Db::Mysql, "json") => "json",
            (Db::Postgres, "time") => "timestamptz",
            (Db::Mysql, "time") => "datetime(3)",
            (Db::Postgres, "bytes") => "bytea",
            (Db::Mysql, "bytes") => "blob",
            _ => panic!("no type for {kind}"),
        }
    }

    fn q(self, name: &str) -> String {
        match self {
            Db::Postgres => format!("\"{name}\""),
            Db::Mysql => format!("`{name}`"),
        }
    }
}

fn config(db: Db, table: &str, extra: &[(&str, &str)]) -> SqlConfig {
    config_at(&db.url(), table, extra)
}

fn config_at(url: &str, table: &str, extra: &[(&str, &str)]) -> SqlConfig {
    let mut pairs = vec![("db_url", url), ("db_table", table)];
    pairs.extend_from_slice(extra);
    SqlConfig::from_env(&Env::from_pairs(&pairs)).unwrap()
}

async fn admin(db: Db) -> Connection {
    Connection::open(&config(db, "unused", &[]).target)
        .await
        .unwrap_or_else(|e| panic!("{db:?} at {} unreachable: {e}", db.url()))
}

async fn exec(db: Db, sql: &str) {
    admin(db)
        .await
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn rows(db: Db, sql: &str) -> Vec<Vec<Option<String>>> {
    admin(db)
        .await
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(db: Db, table: &str) -> usize {
    rows(db, &format!("SELECT COUNT(*) FROM {table}")).await[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn table_name(prefix: &str) -> String {
    unique(prefix).replace('-', "_")
}

/// An SCF CKafka event of `values` at offsets `first..` of `topic`/0.
fn scf_event(topic: &str, first: i64, values: &[String]) -> String {
    let records: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"Ckafka": {"topic": topic, "partition": 0, "offset": first + i as i64, "msgKey": "None", "msgBody": v}}))
        .collect();
    json!({ "Records": records }).to_string()
}

/// An AWS MSK event: (offset, key, value) on `topic`/3 with a timestamp and a header.
fn msk_event(topic: &str, records: &[(i64, Option<&str>, Option<&str>)]) -> String {
    let records: Vec<AwsRecord> = records
        .iter()
        .map(|&(offset, key, value)| (offset, 1_700_000_000_000 + offset, key, value))
        .collect();
    aws_event(topic, 3, &records, &[("source", "app")])
}

async fn run(sink: &SqlSink, event: &str) -> Result<Summary, Error> {
    invoke(
        &Function::new(sink),
        event,
        Deadline::after(Duration::from_secs(60)),
        "test",
    )
    .await
}

fn lines(n: usize, line: impl Fn(usize) -> String) -> Vec<String> {
    (0..n).map(line).collect()
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::Db::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::Db::Mysql).await })*
        }
    };
}

on_both!(
    template_table_gets_offset_and_body_once,
    json_fields_and_metadata_fill_columns_by_name,
    a_poison_row_among_1000_is_dead_lettered_alone,
    without_a_dead_letter_table_a_malformed_record_fails_the_batch,
    records_the_stage_rejects_go_to_the_dead_letter_table,
    upserts_keep_the_final_state_and_tombstones_delete,
    delimited_lines_split_into_columns,
    auto_create_table_makes_a_raw_table,
    missing_table_and_wrong_password_fail_at_once_naming_them,
    tls_verified_against_the_test_ca,
    overlapping_invocations_write_each_offset_once,
    connection_cut_mid_load_is_retried_and_rows_land_once,
    connection_cut_after_commit_sent_is_retried_without_duplicates,
    a_batch_redriven_after_newer_ones_is_written,
    consecutive_batches_started_at_once_write_every_row,
    names_differing_in_case_are_distinct_and_spellings_of_one_table_are_one,
    offsets_kept_by_an_earlier_version_are_read_and_upgraded,
    one_unqualified_name_of_two_tables_is_two_identities,
);

async fn template_table_gets_offset_and_body_once(db: Db) {
    let table = table_name("template");
    exec(
        db,
        &format!(
            "CREATE TABLE {table} ({} bigint, {} text)",
            db.q("offset"),
            db.q("msgBody")
        ),
    )
    .await;
    let sink = SqlSink::new(config(db, &table, &[]));
    let event = scf_event(
        "t",
        40,
        &lines(3, |i| format!("line {i} with a ' quote, a \\ and\ta tab")),
    );
    let first = run(&sink, &event).await.unwrap();
    assert_eq!((first.written, first.skipped), (3, 0));
    let again = run(&sink, &event).await.unwrap();
    assert_eq!((again.written, again.skipped), (0, 3), "a re-delivery writes nothing");
    // A batch overlapping the last one: only the new offsets are written.
    let overlapping = scf_event("t", 41, &lines(4, |i| format!("second {i}")));
    let third = run(&sink, &overlapping).await.unwrap();
    assert_eq!((third.written, third.skipped), (2, 2));
    let stored = rows(
        db,
        &format!("SELECT {}, {} FROM {table} ORDER BY 1", db.q("offset"), db.q("msgBody")),
    )
    .await;
    let stored: Vec<(String, String)> = stored
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(stored.len(), 5);
    assert_eq!(
        stored[0],
        ("40".into(), "line 0 with a ' quote, a \\ and\ta tab".into())
    );
    assert_eq!(stored[4], ("44".into(), "second 3".into()));
}

async fn json_fields_and_metadata_fill_columns_by_name(db: Db) {
    let table = table_name("columns");
    exec(
        db,
        &format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY {}, topic varchar(100), {} integer, {} bigint, {} text, \
             kafka_timestamp {}, headers text, level varchar(8) NOT NULL, n bigint, ok boolean, extra {}, msg text, \
             note text DEFAULT 'none')",
            if db == Db::Postgres {
                "GENERATED ALWAYS AS IDENTITY"
            } else {
                "AUTO_INCREMENT"
            },
            db.q("partition"),
            db.q("offset"),
            db.q("key"),
            db.ty("time"),
            db.ty("json"),
        ),
    )
    .await;
    let sink = SqlSink::new(config(db, &table, &[]));
    let value = r#"{"level":"WARN","n":"12","ok":true,"extra":{"a":[1,"x"]},"msg":"é \"q\"","unused":1}"#;
    let event = msk_event("orders", &[(7, Some("k7"), Some(value))]);
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!(summary.written, 1);
    let row = &rows(
        db,
        &format!(
            "SELECT topic, {}, {}, {}, kafka_timestamp, headers, level, n, ok, extra, msg, note FROM {table}",
            db.q("partition"),
            db.q("offset"),
            db.q("key")
        ),
    )
    .await[0];
    let row: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
    assert_eq!(&row[..4], ["orders", "3", "7", "k7"]);
    assert!(row[4].starts_with("2023-11-14 22:13:20.007"), "{}", row[4]);
    assert_eq!(row[5], r#"[{"key":"source","value":"app"}]"#);
    assert_eq!(&row[6..8], ["WARN", "12"]);
    assert!(matches!(row[8], "t" | "1"), "{}", row[8]);
    let extra: serde_json::Value = serde_json::from_str(row[9]).unwrap();
    assert_eq!(extra, json!({"a": [1, "x"]}));
    assert_eq!(row[10], "é \"q\"");
    assert_eq!(row[11], "none", "a column no record fills keeps its default");
}

async fn a_poison_row_among_1000_is_dead_lettered_alone(db: Db) {
    let table = table_name("poison");
    let dead = format!("{table}_dead");
    exec(
        db,
        &format!("CREATE TABLE {table} (n integer CHECK (n >= 0), msg text)"),
    )
    .await;
    let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
    // The CHECK constraint only the database knows: found by halving. Record 500 is refused by the database,
    // record 900 before any load (not an integer).
    let values = lines(1000, |i| match i {
        500 => r#"{"n":-1,"msg":"poison"}"#.to_owned(),
        900 => r#"{"n":"many","msg":"not a number"}"#.to_owned(),
        _ => format!(r#"{{"n":{i},"msg":"ok {i}"}}"#),
    });
    let event = scf_event("p", 0, &values);
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (998, 2));
    assert_eq!(count(db, &table).await, 998);
    let letters = rows(
        db,
        &format!("SELECT {}, error, value FROM {dead} ORDER BY 1", db.q("offset")),
    )
    .await;
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0][0].as_deref(), Some("500"));
    let error = letters[0][1].as_deref().unwrap();
    assert!(
        error.contains("23514") || error.contains("4025"),
        "the database's own error: {error}"
    );
    assert_eq!(letters[1][0].as_deref(), Some("900"));
    assert!(letters[1][1].as_deref().unwrap().contains("not an integer"));
    let again = run(&sink, &event).await.unwrap();
    assert_eq!((again.written, again.dead_lettered, again.skipped), (0, 0, 1000));
    assert_eq!((count(db, &table).await, count(db, &dead).await), (998, 2));
}

async fn records_the_stage_rejects_go_to_the_dead_letter_table(db: Db) {
    let table = table_name("staged");
    let dead = format!("{table}_dead");
    exec(db, &format!("CREATE TABLE {table} (n integer, msg text, source text)")).await;
    let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
    let stage = Stage::from_env(&Env::from_pairs(&[
        ("TRANSFORM_FILTER", "not msg == \"debug\""),
        ("TRANSFORM_RENAME", "num:n"),
        ("TRANSFORM_ADD", "source:@topic"),
    ]))
    .unwrap();
    let handler = Function::new(&sink).with_stage(stage);
    let values = [r#"{"num":1,"msg":"a"}"#, "not json", r#"{"num":2,"msg":"debug"}"#].map(str::to_owned);
    let event = scf_event("st", 0, &values);
    let deadline = || Deadline::after(Duration::from_secs(60));
    let summary = invoke(&handler, &event, deadline(), "test").await.unwrap();
    assert_eq!(
        (summary.written, summary.filtered, summary.dead_lettered),
        (1, 1, 1),
        "{summary:?}"
    );
    let got = rows(db, &format!("SELECT n, msg, source FROM {table}")).await;
    assert_eq!(
        got,
        [[Some("1".to_owned()), Some("a".to_owned()), Some("st".to_owned())]]
    );
    let value = match db {
        Db::Postgres => "convert_from(value, 'UTF8')",
        Db::Mysql => "value",
    };
    let letters = rows(db, &format!("SELECT {}, error, {value} FROM {dead}", db.q("offset"))).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0][0].as_deref(), Some("1"));
    assert!(
        letters[0][1].as_deref().unwrap().starts_with("transform: "),
        "{letters:?}"
    );
    assert_eq!(letters[0][2].as_deref(), Some("not json"), "the original bytes");
    let again = invoke(&handler, &event, deadline(), "test").await.unwrap();
    assert_eq!((again.written, again.dead_lettered, again.skipped), (0, 0, 2));
    assert_eq!((count(db, &table).await, count(db, &dead).await), (1, 1));
}

async fn without_a_dead_letter_table_a_malformed_record_fails_the_batch(db: Db) {
    let table = table_name("strict");
    exec(db, &format!("CREATE TABLE {table} (n integer NOT NULL)")).await;
    let sink = SqlSink::new(config(db, &table, &[]));
    let event = scf_event("s", 10, &[r#"{"n":1}"#.to_owned(), r#"{"n":"x"}"#.to_owned()]);
    let error = run(&sink, &event).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("s/0/11") && text.contains("\"x\", not an integer") && text.contains("dead_letter_table"),
        "{text}"
    );
    assert_eq!(count(db, &table).await, 0, "nothing of the batch is committed");
    // The connection stays usable after the rollback: a good batch goes through.
    let good = run(&sink, &scf_event("s", 10, &[r#"{"n":1}"#.to_owned()]))
        .await
        .unwrap();
    assert_eq!(good.written, 1);
}

async fn upserts_keep_the_final_state_and_tombstones_delete(db: Db) {
    let table = table_name("upsert");
    exec(
        db,
        &format!("CREATE TABLE {table} (id varchar(20) PRIMARY KEY, name text, n integer)"),
    )
    .await;
    exec(
        db,
        &format!("INSERT INTO {table} VALUES ('gone', 'old', 0), ('kept', 'old', 0)"),
    )
    .await;
    let sink = SqlSink::new(config(
        db,
        &table,
        &[("write_mode", "upsert"), ("delete_on_tombstone", "true")],
    ));
    let event = msk_event(
        "u",
        &[
            (1, Some("a"), Some(r#"{"name":"first","n":1}"#)),
            (2, Some("b"), Some(r#"{"name":"b","n":2}"#)),
            (3, Some("a"), Some(r#"{"name":"second","n":3}"#)),
            (4, Some("gone"), None),
            (5, Some("kept"), Some(r#"{"name":"new"}"#)),
        ],
    );
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!((summary.written, summary.skipped), (5, 0));
    let state = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
        rows.into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|c| c.unwrap_or("NULL".into()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    let expected = ["a,second,3", "b,b,2", "kept,new,0"];
    assert_eq!(
        state(rows(db, &format!("SELECT id, name, n FROM {table} ORDER BY id")).await),
        expected
    );
    run(&sink, &event).await.unwrap();
    assert_eq!(
        state(rows(db, &format!("SELECT id, name, n FROM {table} ORDER BY id")).await),
        expected
    );
    // Without delete_on_tombstone a tombstone is skipped and counted.
    let keep = SqlSink::new(config(db, &table, &[("write_mode", "upsert")]));
    let tombstone = run(&keep, &msk_event("u2", &[(1, Some("a"), None)])).await.unwrap();
    assert_eq!((tombstone.written, tombstone.skipped), (0, 1));
    assert_eq!(count(db, &table).await, 3);
}

async fn delimited_lines_split_into_columns(db: Db) {
    let table = table_name("cdw");
    exec(db, &format!("CREATE TABLE {table} (a text, b integer, c text)")).await;
    let sink = SqlSink::new(config(
        db,
        &table,
        &[("row_format", "delimited"), ("MSG_SEPARATOR_ASCII", "124")],
    ));
    let event = scf_event(
        "d",
        0,
        &["x|1|\\N".to_owned(), "y|2|z".to_owned(), "short|3".to_owned()],
    );
    let error = run(&sink, &event).await.unwrap_err();
    assert!(error.to_string().contains("has 2 fields"), "{error}");
    let event = scf_event("d", 0, &["x|1|\\N".to_owned(), "y|2|z".to_owned()]);
    run(&sink, &event).await.unwrap();
    let stored = rows(db, &format!("SELECT a, b, c FROM {table} ORDER BY a")).await;
    assert_eq!(stored[0], [Some("x".to_owned()), Some("1".to_owned()), None]);
    assert_eq!(
        stored[1],
        [Some("y".to_owned()), Some("2".to_owned()), Some("z".to_owned())]
    );
}

async fn auto_create_table_makes_a_raw_table(db: Db) {
    let table = table_name("raw");
    let sink = SqlSink::new(config(db, &table, &[("auto_create_table", "true")]));
    let summary = run(
        &sink,
        &msk_event("r", &[(1, Some("k"), Some("v1")), (2, None, Some("v2"))]),
    )
    .await
    .unwrap();
    assert_eq!(summary.written, 2);
    let stored = rows(
        db,
        &format!(
            "SELECT topic, {}, {}, value, headers FROM {table} ORDER BY 3",
            db.q("partition"),
            db.q("offset")
        ),
    )
    .await;
    assert_eq!(
        stored[1],
        ["r", "3", "2", "v2", r#"[{"key":"source","value":"app"}]"#].map(|s| Some(s.to_owned()))
    );
}

async fn missing_table_and_wrong_password_fail_at_once_naming_them(db: Db) {
    let missing = table_name("missing");
    let sink = SqlSink::new(config(db, &missing, &[]));
    let started = Instant::now();
    let error = run(&sink, &scf_event("m", 0, &["x".to_owned()])).await.unwrap_err();
    assert!(!error.is_retryable() && error.to_string().contains(&missing), "{error}");
    assert!(
        error.to_string().contains("m/0 offsets 0-0"),
        "names the records: {error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    let url = db.url();
    let wrong = url.replacen(":ckd-", ":wrong-", 1);
    assert_ne!(url, wrong);
    let sink = SqlSink::new(config_at(&wrong, "t", &[]));
    let error = run(&sink, &scf_event("m", 0, &["x".to_owned()])).await.unwrap_err();
    let text = error.to_string();
    assert!(!error.is_retryable(), "{text}");
    assert!(text.contains("28P01") || text.contains("1045"), "{text}");
    assert!(
        !text.contains("wrong-") && !text.contains("password@"),
        "no password in: {text}"
    );
}

fn ca_path() -> String {
    var(
        "CKD_SQL_CA",
        &repo_root().join(".services/sql-tls/ca.pem").to_string_lossy(),
    )
}

async fn tls_verified_against_the_test_ca(db: Db) {
    let table = table_name("tls");
    exec(
        db,
        &format!(
            "CREATE TABLE {table} ({} bigint, {} text)",
            db.q("offset"),
            db.q("msgBody")
        ),
    )
    .await;
    let ca = ca_path();
    for (mode, host) in [
        ("require", "127.0.0.1"),
        ("verify-ca", "127.0.0.1"),
        ("verify-full", "localhost"),
    ] {
        let url = format!(
            "{}?sslmode={mode}&sslrootcert={ca}",
            db.url().replace("127.0.0.1", host)
        );
        let sink = SqlSink::new(config_at(&url, &table, &[]));
        let offset = ["require", "verify-ca", "verify-full"]
            .iter()
            .position(|m| *m == mode)
            .unwrap() as i64;
        let summary = run(&sink, &scf_event("tls", offset, &[mode.to_owned()]))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(summary.written, 1, "{mode}");
    }
    let check = match db {
        Db::Postgres => "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()".to_owned(),
        Db::Mysql => "SHOW STATUS LIKE 'Ssl_cipher'".to_owned(),
    };
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        db.url().replace("127.0.0.1", "localhost")
    );
    let mut conn = Connection::open(&config_at(&url, "t", &[]).target).await.unwrap();
    let answer = conn.query(&check).await.unwrap();
    let last = answer[0].last().cloned().flatten().unwrap();
    assert!(
        last == "true" || last.contains("AES") || last.contains("CHACHA"),
        "{last}"
    );
    // Verifying with the public roots only: this server's certificate is refused, and no retry helps.
    let url = format!("{}?sslmode=verify-full", db.url().replace("127.0.0.1", "localhost"));
    let sink = SqlSink::new(config_at(&url, &table, &[]));
    let started = Instant::now();
    let error = run(&sink, &scf_event("tls", 9, &["x".to_owned()])).await.unwrap_err();
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
    assert!(
        !error.is_retryable() && started.elapsed() < Duration::from_secs(5),
        "{error}"
    );
    assert_eq!(count(db, &table).await, 3);
}

async fn overlapping_invocations_write_each_offset_once(db: Db) {
    let table = table_name("overlap");
    exec(
        db,
        &format!(
            "CREATE TABLE {table} ({} bigint, {} text)",
            db.q("offset"),
            db.q("msgBody")
        ),
    )
    .await;
    let event = Arc::new(scf_event(
        "o",
        0,
        &lines(5000, |i| format!("record {i} {}", "x".repeat(200))),
    ));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (event, table) = (event.clone(), table.clone());
            spawn_timed(async move { run(&SqlSink::new(config(db, &table, &[])), &event).await.unwrap() })
        })
        .collect();
    let results = join_overlapping(tasks).await;
    let written: usize = results.iter().map(|s| s.written).sum();
    let skipped: usize = results.iter().map(|s| s.skipped).sum();
    assert_eq!(
        (written, skipped),
        (5000, 15000),
        "one invocation wrote, the others found it committed"
    );
    assert_eq!(count(db, &table).await, 5000);
    let distinct = rows(db, &format!("SELECT COUNT(DISTINCT {}) FROM {table}", db.q("offset"))).await;
    assert_eq!(distinct[0][0].as_deref(), Some("5000"));
}

async fn connection_cut_mid_load_is_retried_and_rows_land_once(db: Db) {
    let table = table_name("cut");
    exec(
        db,
        &format!(
            "CREATE TABLE {table} ({} bigint, {} text)",
            db.q("offset"),
            db.q("msgBody")
        ),
    )
    .await;
    let values = lines(20_000, |i| format!("record {i} {}", "y".repeat(300)));
    let total: usize = values.iter().map(String::len).sum();
    let proxy = TcpCut::start(&url_address(&db.url()), Cut::AfterBytes(total / 2));
    let sink = SqlSink::new(config_at(&proxy.url(&db.url()), &table, &[]));
    let summary = run(&sink, &scf_event("c", 0, &values)).await.unwrap();
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    let at = proxy.bytes_at_cut();
    assert!(
        at > total / 4 && at < total,
        "cut in the middle of the load: {at} of {total} bytes"
    );
    assert_eq!(summary.written, 20_000);
    assert_eq!(count(db, &table).await, 20_000);
}

async fn connection_cut_after_commit_sent_is_retried_without_duplicates(db: Db) {
    for cut in [Cut::BeforeCommit, Cut::AfterCommit] {
        let table = table_name("commit");
        exec(
            db,
            &format!(
                "CREATE TABLE {table} ({} bigint, {} text)",
                db.q("offset"),
                db.q("msgBody")
            ),
        )
        .await;
        let proxy = TcpCut::start(&url_address(&db.url()), cut);
        let sink = SqlSink::new(config_at(&proxy.url(&db.url()), &table, &[]));
        let summary = run(&sink, &scf_event("k", 0, &lines(1000, |i| format!("r{i}"))))
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 1, "the commit met the cut");
        let (written, skipped) = match cut {
            Cut::BeforeCommit => (1000, 0),
            // The first attempt committed; the retry finds its offsets and writes nothing.
            _ => (0, 1000),
        };
        assert_eq!((summary.written, summary.skipped), (written, skipped));
        assert_eq!(count(db, &table).await, 1000);
    }
}

async fn offset_body_table(db: Db, prefix: &str) -> String {
    let table = table_name(prefix);
    create_offset_body_table(db, &table).await;
    table
}

async fn create_offset_body_table(db: Db, table: &str) {
    exec(
        db,
        &format!(
            "CREATE TABLE {} ({} bigint, {} text)",
            match db {
                Db::Postgres => format!("\"{table}\""),
                Db::Mysql => format!("`{table}`"),
            },
            db.q("offset"),
            db.q("msgBody")
        ),
    )
    .await;
}

/// The offsets stored in `table`, sorted.
async fn stored_offsets(db: Db, table: &str) -> Vec<i64> {
    let quoted = match db {
        Db::Postgres => format!("\"{table}\""),
        Db::Mysql => format!("`{table}`"),
    };
    rows(db, &format!("SELECT {} FROM {quoted} ORDER BY 1", db.q("offset")))
        .await
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
}

async fn a_batch_redriven_after_newer_ones_is_written(db: Db) {
    let table = offset_body_table(db, "redrive").await;
    let sink = SqlSink::new(config(db, &table, &[]));
    let newer = run(&sink, &scf_event("r", 20, &lines(10, |i| format!("n{i}"))))
        .await
        .unwrap();
    assert_eq!((newer.written, newer.skipped), (10, 0));
    // Lambda redrives a batch that exhausted its retries after newer batches succeeded.
    let redriven = run(&sink, &scf_event("r", 10, &lines(10, |i| format!("o{i}"))))
        .await
        .unwrap();
    assert_eq!(
        (redriven.written, redriven.skipped),
        (10, 0),
        "offsets 10-19 were never written"
    );
    // A bisected half that overlaps both, and a re-delivery from an earlier offset.
    let straddling = run(&sink, &scf_event("r", 5, &lines(30, |i| format!("s{i}"))))
        .await
        .unwrap();
    assert_eq!((straddling.written, straddling.skipped), (5 + 5, 20));
    assert_eq!(stored_offsets(db, &table).await, (5..35).collect::<Vec<_>>());
}

async fn consecutive_batches_started_at_once_write_every_row(db: Db) {
    let table = offset_body_table(db, "burst").await;
    // The offsets table exists (a first batch elsewhere), and stays locked until every invocation has started:
    // they meet in flight, then take the offsets rows in whatever order the server grants them.
    let warm = offset_body_table(db, "warm").await;
    run(
        &SqlSink::new(config(db, &warm, &[])),
        &scf_event("w", 0, &lines(1, |_| "w".into())),
    )
    .await
    .unwrap();
    let mut locker = admin(db).await;
    let lock = match db {
        Db::Postgres => "BEGIN; LOCK TABLE ckafka_dump_offsets IN EXCLUSIVE MODE",
        Db::Mysql => "LOCK TABLES ckafka_dump_offsets WRITE",
    };
    locker.execute(lock).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .rev()
        .map(|batch| {
            let table = table.clone();
            let event = scf_event(
                "b",
                batch * 1000,
                &lines(1000, |i| format!("batch {batch} record {i} {}", "z".repeat(200))),
            );
            spawn_timed(async move { run(&SqlSink::new(config(db, &table, &[])), &event).await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unlock = match db {
        Db::Postgres => "COMMIT",
        Db::Mysql => "UNLOCK TABLES",
    };
    locker.execute(unlock).await.unwrap();
    let results = join_overlapping(tasks).await;
    let written: usize = results.iter().map(|s| s.written).sum();
    assert_eq!(written, 8000);
    assert_eq!(stored_offsets(db, &table).await, (0..8000).collect::<Vec<_>>());
}

async fn names_differing_in_case_are_distinct_and_spellings_of_one_table_are_one(db: Db) {
    let lower = table_name("rcase");
    let upper = lower.to_uppercase();
    create_offset_body_table(db, &lower).await;
    create_offset_body_table(db, &upper).await;
    let event = scf_event("ORD", 0, &lines(2, |i| format!("v{i}")));
    for table in [&upper, &lower] {
        let summary = run(&SqlSink::new(config(db, table, &[])), &event).await.unwrap();
        assert_eq!(summary.written, 2, "{table} is a table of its own");
    }
    let lower_topic = scf_event("ord", 0, &lines(2, |i| format!("w{i}")));
    let summary = run(&SqlSink::new(config(db, &lower, &[])), &lower_topic).await.unwrap();
    assert_eq!(summary.written, 2, "topic ord is not topic ORD");
    assert_eq!(stored_offsets(db, &upper).await, [0, 1]);
    assert_eq!(stored_offsets(db, &lower).await, [0, 0, 1, 1]);
    // The same table under another spelling: the re-delivery finds its offsets.
    let qualified = format!("{}.{lower}", db_schema(db));
    let again = run(&SqlSink::new(config(db, &qualified, &[])), &lower_topic)
        .await
        .unwrap();
    assert_eq!((again.written, again.skipped), (0, 2));
    assert_eq!(stored_offsets(db, &lower).await, [0, 0, 1, 1]);
}

async fn offsets_kept_by_an_earlier_version_are_read_and_upgraded(db: Db) {
    let table = offset_body_table(db, "legacy").await;
    let offsets = table_name("legacy_offsets");
    // The layout of earlier versions: a high-water mark per partition, and (MySQL) names compared without case.
    let name = match db {
        Db::Postgres => "text",
        Db::Mysql => "varchar(255) COLLATE utf8mb4_general_ci",
    };
    let q = |s| db.q(s);
    exec(
        db,
        &format!(
            "CREATE TABLE {offsets} ({} {name} NOT NULL, {} {name} NOT NULL, {} integer NOT NULL, {} bigint NOT NULL, \
             PRIMARY KEY ({}, {}, {}))",
            q("target_table"),
            q("topic"),
            q("partition"),
            q("next_offset"),
            q("target_table"),
            q("topic"),
            q("partition")
        ),
    )
    .await;
    exec(db, &format!("INSERT INTO {offsets} VALUES ('{table}', 'L', 0, 10)")).await;
    let sink = SqlSink::new(config(db, &table, &[("offsets_table", &offsets)]));
    let summary = run(&sink, &scf_event("L", 5, &lines(10, |i| format!("l{i}"))))
        .await
        .unwrap();
    assert_eq!(
        (summary.written, summary.skipped),
        (5, 5),
        "below the old mark counts as written"
    );
    let stored = rows(
        db,
        &format!(
            "SELECT {}, {} FROM {offsets} ORDER BY 1",
            q("written"),
            q("target_table")
        ),
    )
    .await;
    assert_eq!(
        stored.len(),
        2,
        "the resolved table's row beside the old one: {stored:?}"
    );
    assert!(stored.iter().any(|r| r[0].as_deref() == Some("0-14")), "{stored:?}");
    let other_case = scf_event("l", 0, &lines(3, |i| format!("c{i}")));
    let summary = run(&sink, &other_case).await.unwrap();
    assert_eq!(summary.written, 3, "topic l is not topic L");
}

/// One unqualified name, two tables: PostgreSQL resolves it by the user's search path (a user with a schema of
/// its name gets its own table), MySQL by the connection's database. Both keep their offsets in one shared
/// offsets table, each under the table it resolves to, and each table gets its rows.
async fn one_unqualified_name_of_two_tables_is_two_identities(db: Db) {
    let name = table_name("resolved");
    let (schema, offsets) = (db_schema(db), table_name("shared_offsets"));
    let shared = [("offsets_table", format!("{schema}.{offsets}"))];
    let shared: Vec<(&str, &str)> = shared.iter().map(|(k, v)| (*k, v.as_str())).collect();
    create_offset_body_table(db, &name).await;
    let event = scf_event("u", 0, &lines(2, |i| format!("r{i}")));
    let first = run(&SqlSink::new(config(db, &name, &shared)), &event).await.unwrap();
    assert_eq!(first.written, 2);
    let url = db.url();
    let columns = format!("({} bigint, {} text)", db.q("offset"), db.q("msgBody"));
    let (other_url, other_table) = match db {
        Db::Postgres => {
            let role = table_name("other_user");
            exec(
                db,
                &format!(
                    "CREATE ROLE {role} LOGIN PASSWORD 'other-pw'; CREATE SCHEMA {role} AUTHORIZATION {role}; \
                     CREATE TABLE {role}.{name} {columns}; ALTER TABLE {role}.{name} OWNER TO {role}; \
                     GRANT SELECT, INSERT, UPDATE ON {schema}.{offsets} TO {role}"
                ),
            )
            .await;
            let at = url.split_once('@').unwrap().1;
            (format!("postgres://{role}:other-pw@{at}"), format!("{role}.{name}"))
        }
        Db::Mysql => {
            let database = table_name("other_db");
            exec(db, &format!("CREATE DATABASE {database}")).await;
            exec(db, &format!("CREATE TABLE {database}.{name} {columns}")).await;
            let (server, _) = url.rsplit_once('/').unwrap();
            (format!("{server}/{database}"), format!("{database}.{name}"))
        }
    };
    let second = run(&SqlSink::new(config_at(&other_url, &name, &shared)), &event)
        .await
        .unwrap();
    assert_eq!(
        (second.written, second.skipped),
        (2, 0),
        "another table under the same name"
    );
    assert_eq!(count(db, &other_table).await, 2);
    assert_eq!(stored_offsets(db, &name).await, [0, 1]);
}

fn db_schema(db: Db) -> &'static str {
    match db {
        Db::Postgres => "public",
        Db::Mysql => "ckd",
    }
}

// ---- poison records: each is its record's fault, never its batch's ----

mod poison {
    use super::*;

    on_both!(
        values_no_column_holds_are_dead_lettered_and_their_neighbours_written,
        a_nul_in_an_upserted_text_is_dead_lettered_not_retried,
        one_key_in_two_spellings_the_database_finds_equal_is_upserted_in_order,
        a_field_named_like_a_generated_column_is_not_written,
        a_column_dropped_while_the_process_is_warm_is_read_again,
        an_offset_twice_in_one_event_is_written_or_dead_lettered_once,
        headers_and_json_columns_keep_what_the_record_holds,
        upserts_of_one_key_leave_one_row_whatever_the_batch_boundaries,
    );

    /// A new table of `columns`, and the name of its dead-letter table.
    async fn dead_letter_setup(db: Db, prefix: &str, columns: &str) -> (String, String) {
        let table = table_name(prefix);
        exec(db, &format!("CREATE TABLE {table} ({columns})")).await;
        let dead = format!("{table}_dead");
        (table, dead)
    }

    async fn letters(db: Db, dead: &str) -> Vec<(i64, String)> {
        rows(db, &format!("SELECT {}, error FROM {dead} ORDER BY 1", db.q("offset")))
            .await
            .into_iter()
            .map(|r| (r[0].as_deref().unwrap().parse().unwrap(), r[1].clone().unwrap()))
            .collect()
    }

    /// A NUL in a string bound for an integer (its error quotes the NUL), a NUL in text (PostgreSQL's text
    /// cannot hold it; MariaDB's can), a lone surrogate: each is dead-lettered, and the letter itself is stored.
    pub async fn values_no_column_holds_are_dead_lettered_and_their_neighbours_written(db: Db) {
        let (table, dead) = dead_letter_setup(db, "nul", "n integer, msg text").await;
        let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
        let values = lines(10, |i| match i {
            3 => r#"{"n":"1\u0000"}"#.to_owned(),
            5 => r#"{"n":5,"msg":"a\u0000b"}"#.to_owned(),
            7 => r#"{"n":7,"msg":"\ud800"}"#.to_owned(),
            _ => format!(r#"{{"n":{i},"msg":"ok"}}"#),
        });
        let event = scf_event("nul", 0, &values);
        let summary = run(&sink, &event).await.unwrap();
        let refused: Vec<i64> = letters(db, &dead).await.into_iter().map(|(o, _)| o).collect();
        match db {
            Db::Postgres => {
                assert_eq!((summary.written, summary.dead_lettered), (7, 3));
                assert_eq!(refused, [3, 5, 7]);
            }
            Db::Mysql => {
                assert_eq!((summary.written, summary.dead_lettered), (8, 2));
                assert_eq!(refused, [3, 7]);
            }
        }
        let errors = letters(db, &dead).await;
        assert!(errors[0].1.contains("not an integer"), "{errors:?}");
        assert!(errors.last().unwrap().1.contains("lone UTF-16 surrogate"), "{errors:?}");
        assert_eq!(count(db, &table).await, summary.written);
    }

    pub async fn a_nul_in_an_upserted_text_is_dead_lettered_not_retried(db: Db) {
        let (table, dead) = dead_letter_setup(db, "nul_upsert", "id integer PRIMARY KEY, msg text").await;
        let sink = SqlSink::new(config(
            db,
            &table,
            &[("dead_letter_table", &dead), ("write_mode", "upsert")],
        ));
        let values = lines(4, |i| match i {
            2 => r#"{"id":2,"msg":"a\u0000b"}"#.to_owned(),
            _ => format!(r#"{{"id":{i},"msg":"ok"}}"#),
        });
        let started = Instant::now();
        let summary = invoke(
            &Function::new(&sink),
            &scf_event("nu", 0, &values),
            Deadline::after(Duration::from_secs(20)),
            "test",
        )
        .await
        .unwrap();
        let expected = match db {
            Db::Postgres => (3, 1),
            Db::Mysql => (4, 0),
        };
        assert_eq!((summary.written, summary.dead_lettered), expected);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "answered before the deadline, not retried to it"
        );
    }

    /// PostgreSQL refuses one upsert statement that touches a key twice (21000); MariaDB applies it row by
    /// row. Either way the later record is the final state.
    pub async fn one_key_in_two_spellings_the_database_finds_equal_is_upserted_in_order(db: Db) {
        let number = match db {
            Db::Postgres => "numeric(10, 2)",
            Db::Mysql => "decimal(10, 2)",
        };
        let (table, dead) = dead_letter_setup(db, "spellings", &format!("id {number} PRIMARY KEY, name text")).await;
        let sink = SqlSink::new(config(
            db,
            &table,
            &[("dead_letter_table", &dead), ("write_mode", "upsert")],
        ));
        let values = [
            r#"{"id":1,"name":"a"}"#,
            r#"{"id":1.0,"name":"b"}"#,
            r#"{"id":2,"name":"c"}"#,
        ]
        .map(str::to_owned);
        let summary = run(&sink, &scf_event("sp", 0, &values)).await.unwrap();
        assert_eq!((summary.written, summary.dead_lettered), (3, 0), "{summary:?}");
        let got = rows(db, &format!("SELECT name FROM {table} ORDER BY id")).await;
        assert_eq!(got, [[Some("b".to_owned())], [Some("c".to_owned())]]);
    }

    pub async fn a_field_named_like_a_generated_column_is_not_written(db: Db) {
        let generated = match db {
            Db::Postgres => "doubled integer GENERATED ALWAYS AS (n * 2) STORED",
            Db::Mysql => "doubled integer AS (n * 2) PERSISTENT, tripled integer AS (n * 3) VIRTUAL",
        };
        let (table, dead) = dead_letter_setup(db, "generated", &format!("n integer, {generated}")).await;
        let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
        let values = [r#"{"n":2,"doubled":99,"tripled":99}"#.to_owned()];
        let summary = run(&sink, &scf_event("g", 0, &values)).await.unwrap();
        assert_eq!((summary.written, summary.dead_lettered), (1, 0));
        let got = rows(db, &format!("SELECT n, doubled FROM {table}")).await;
        assert_eq!(got, [[Some("2".to_owned()), Some("4".to_owned())]]);
    }

    pub async fn a_column_dropped_while_the_process_is_warm_is_read_again(db: Db) {
        let (table, _) = dead_letter_setup(db, "dropped", "n integer, extra text").await;
        let sink = SqlSink::new(config(db, &table, &[]));
        let first = run(&sink, &scf_event("d", 0, &[r#"{"n":1,"extra":"x"}"#.to_owned()]))
            .await
            .unwrap();
        assert_eq!(first.written, 1);
        exec(db, &format!("ALTER TABLE {table} DROP COLUMN extra")).await;
        let second = run(&sink, &scf_event("d", 1, &[r#"{"n":2,"extra":"y"}"#.to_owned()]))
            .await
            .unwrap();
        assert_eq!(second.written, 1, "the warm process writes what a fresh one would");
        let got = rows(db, &format!("SELECT n FROM {table} ORDER BY n")).await;
        assert_eq!(got, [[Some("1".to_owned())], [Some("2".to_owned())]]);
    }

    pub async fn an_offset_twice_in_one_event_is_written_or_dead_lettered_once(db: Db) {
        let (table, dead) = dead_letter_setup(db, "twice", "n integer").await;
        let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
        let record = |offset: i64, body: &str| json!({"Ckafka": {"topic": "tw", "partition": 0, "offset": offset, "msgKey": "None", "msgBody": body}});
        let event = json!({"Records": [
            record(5, r#"{"n":"x"}"#),
            record(5, r#"{"n":"x"}"#),
            record(6, r#"{"n":6}"#),
            record(6, r#"{"n":6}"#),
        ]})
        .to_string();
        let summary = run(&sink, &event).await.unwrap();
        assert_eq!(
            (summary.written, summary.dead_lettered, summary.skipped),
            (1, 1, 2),
            "{summary:?}"
        );
        assert_eq!((count(db, &table).await, count(db, &dead).await), (1, 1));
    }

    pub async fn headers_and_json_columns_keep_what_the_record_holds(db: Db) {
        let (table, _) = dead_letter_setup(db, "kept", &format!("headers text, j {}, s text", db.ty("json"))).await;
        let sink = SqlSink::new(config(db, &table, &[]));
        let event = aws_event(
            "h",
            0,
            &[(0, 1_700_000_000_000, None, Some(r#"{"j":"text","s":"x"}"#))],
            &[("h", "a"), ("h", "b")],
        );
        run(&sink, &event).await.unwrap();
        let got = &rows(db, &format!("SELECT headers, j, s FROM {table}")).await[0];
        assert_eq!(
            got[0].as_deref(),
            Some(r#"[{"key":"h","value":"a"},{"key":"h","value":"b"}]"#),
            "a repeated header name keeps every value"
        );
        assert_eq!(
            got[1].as_deref(),
            Some(r#""text""#),
            "a JSON string stays a JSON string"
        );
    }

    pub async fn upserts_of_one_key_leave_one_row_whatever_the_batch_boundaries(db: Db) {
        let columns = "id integer PRIMARY KEY, a text, b text";
        let (together, _) = dead_letter_setup(db, "one_batch", columns).await;
        let (apart, _) = dead_letter_setup(db, "two_batches", columns).await;
        let upsert = [("write_mode", "upsert"), ("delete_on_tombstone", "true")];
        let first = (1, Some("1"), Some(r#"{"id":1,"a":"x"}"#));
        let second = (2, Some("1"), Some(r#"{"id":1,"b":"y"}"#));
        let deleted = (3, Some("2"), None);
        let again = (4, Some("2"), Some(r#"{"id":2,"b":"z"}"#));
        exec(db, &format!("INSERT INTO {together} VALUES (2, 'old', 'old')")).await;
        exec(db, &format!("INSERT INTO {apart} VALUES (2, 'old', 'old')")).await;
        let one = SqlSink::new(config(db, &together, &upsert));
        run(&one, &msk_event("ub", &[first, second, deleted, again]))
            .await
            .unwrap();
        let two = SqlSink::new(config(db, &apart, &upsert));
        for records in [[first, second], [deleted, again]] {
            run(&two, &msk_event("ub", &records)).await.unwrap();
        }
        let state = |table: String| async move { rows(db, &format!("SELECT id, a, b FROM {table} ORDER BY id")).await };
        let expected = vec![
            vec![Some("1".to_owned()), Some("x".to_owned()), Some("y".to_owned())],
            vec![Some("2".to_owned()), None, Some("z".to_owned())],
        ];
        assert_eq!(state(apart).await, expected);
        assert_eq!(state(together).await, expected, "one batch leaves what two do");
    }
}

/// What only PostgreSQL refuses: one uuid in two cases, an index row over the page's limit; a user without
/// CREATE.
mod postgres_only {
    use super::*;

    /// Printable characters no compressor shrinks much: an index row of 12 KB stays over PostgreSQL's limit.
    fn incompressible(len: usize) -> String {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'!' + ((state >> 33) % 90) as u8)
            })
            .filter(|c| *c != '"' && *c != '\\')
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_index_row_too_large_and_a_uuid_in_two_cases_are_the_records_not_the_batchs() {
        let db = Db::Postgres;
        let table = table_name("indexed");
        let dead = format!("{table}_dead");
        exec(db, &format!("CREATE TABLE {table} (id uuid PRIMARY KEY, tag text)")).await;
        exec(db, &format!("CREATE INDEX ON {table} (tag)")).await;
        let sink = SqlSink::new(config(
            db,
            &table,
            &[("dead_letter_table", &dead), ("write_mode", "upsert")],
        ));
        let big = incompressible(12_000);
        let values = [
            r#"{"id":"6f1c0d6e-8d1a-4d4b-9b7e-0a5b1c2d3e4f","tag":"lower"}"#.to_owned(),
            r#"{"id":"6F1C0D6E-8D1A-4D4B-9B7E-0A5B1C2D3E4F","tag":"upper"}"#.to_owned(),
            format!(r#"{{"id":"00000000-0000-0000-0000-000000000001","tag":"{big}"}}"#),
            r#"{"id":"00000000-0000-0000-0000-000000000002","tag":"small"}"#.to_owned(),
        ];
        let summary = run(&sink, &scf_event("ix", 0, &values)).await.unwrap();
        assert_eq!((summary.written, summary.dead_lettered), (3, 1), "{summary:?}");
        let got = rows(db, &format!("SELECT tag FROM {table} ORDER BY id")).await;
        assert_eq!(got, [[Some("small".to_owned())], [Some("upper".to_owned())]]);
        let letters = rows(db, &format!("SELECT \"offset\", error FROM {dead}")).await;
        assert_eq!(letters[0][0].as_deref(), Some("2"));
        assert!(letters[0][1].as_deref().unwrap().contains("54000"), "{letters:?}");
    }

    /// The offsets, dead-letter and target tables exist: a user that may only read and write them runs; a
    /// missing dead-letter table is named when it cannot be created.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_user_without_create_runs_once_its_tables_exist_and_is_told_which_is_missing() {
        let db = Db::Postgres;
        let table = table_name("least");
        let (dead, offsets) = (format!("{table}_dead"), format!("{table}_offsets"));
        exec(db, &format!("CREATE TABLE {table} (n integer)")).await;
        let tables = [
            ("dead_letter_table", dead.as_str()),
            ("offsets_table", offsets.as_str()),
        ];
        run(
            &SqlSink::new(config(db, &table, &tables)),
            &scf_event("lp", 0, &[r#"{"n":0}"#.to_owned()]),
        )
        .await
        .unwrap();
        let role = table_name("writer");
        exec(
            db,
            &format!(
                "CREATE ROLE {role} LOGIN PASSWORD 'writer-pw'; \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON {table}, {dead}, {offsets} TO {role}"
            ),
        )
        .await;
        let url = format!("postgres://{role}:writer-pw@{}", db.url().split_once('@').unwrap().1);
        let summary = run(
            &SqlSink::new(config_at(&url, &table, &tables)),
            &scf_event("lp", 1, &[r#"{"n":1}"#.to_owned(), r#"{"n":"x"}"#.to_owned()]),
        )
        .await
        .unwrap();
        assert_eq!((summary.written, summary.dead_lettered), (1, 1));
        let missing = format!("{table}_other_dead");
        let error = run(
            &SqlSink::new(config_at(
                &url,
                &table,
                &[("dead_letter_table", &missing), ("offsets_table", &offsets)],
            )),
            &scf_event("lp", 3, &[r#"{"n":3}"#.to_owned()]),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(&format!("creating the dead-letter table {missing}")) && error.contains("42501"),
            "{error}"
        );
    }
}

/// MariaDB's `max_allowed_packet`: statements are built under the server's limit, and a row over it is that
/// row's fault. The limit is lowered to 4 MiB (an old server's default) for connections opened meanwhile.
mod mysql_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn statements_stay_under_max_allowed_packet_and_a_row_over_it_is_dead_lettered() {
        let db = Db::Mysql;
        let table = table_name("packet");
        let dead = format!("{table}_dead");
        exec(db, &format!("CREATE TABLE {table} (n integer, body longtext)")).await;
        let before = rows(db, "SELECT @@global.max_allowed_packet").await[0][0]
            .clone()
            .unwrap();
        exec(db, "SET GLOBAL max_allowed_packet = 4194304").await;
        let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
        let mib = 1 << 20;
        let values = [3 * mib, 3 * mib, 5 * mib, 10]
            .iter()
            .enumerate()
            .map(|(i, &len)| format!(r#"{{"n":{i},"body":"{}"}}"#, "b".repeat(len)))
            .collect::<Vec<_>>();
        let result = run(&sink, &scf_event("pk", 0, &values)).await;
        exec(db, &format!("SET GLOBAL max_allowed_packet = {before}")).await;
        let summary = result.unwrap();
        assert_eq!((summary.written, summary.dead_lettered), (3, 1), "{summary:?}");
        let got = rows(db, &format!("SELECT n, LENGTH(body) FROM {table} ORDER BY n")).await;
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [("0", "3145728"), ("1", "3145728"), ("3", "10")].map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let letter = &rows(db, &format!("SELECT `offset`, error, value IS NULL FROM {dead}")).await[0];
        assert_eq!(letter[0].as_deref(), Some("2"));
        let error = letter[1].as_deref().unwrap();
        assert!(
            error.contains("max_allowed_packet") && error.contains("read the key, value and headers at pk/0/2"),
            "{error}"
        );
        assert_eq!(
            letter[2].as_deref(),
            Some("1"),
            "the value is not stored, and the letter is"
        );
    }
}

/// Random poison rows (testkit's generator, several seeds) with a dead-letter table: every offset lands in
/// exactly one of the table and the dead letters, every plain record in the table, and a re-delivery writes
/// nothing.
mod property {
    use super::*;
    use ckafka_dump_testkit::{poison_seeds, poison_values};
    use std::collections::BTreeSet;

    on_both!(random_poison_rows_are_dead_lettered_and_every_plain_row_is_written);

    pub async fn random_poison_rows_are_dead_lettered_and_every_plain_row_is_written(db: Db) {
        for seed in poison_seeds() {
            let table = table_name("prop");
            let dead = format!("{table}_dead");
            exec(
                db,
                &format!("CREATE TABLE {table} ({} bigint, n integer, s text)", db.q("offset")),
            )
            .await;
            let sink = SqlSink::new(config(db, &table, &[("dead_letter_table", &dead)]));
            let generated = poison_values(seed, 200);
            let values: Vec<String> = generated.iter().map(|p| p.value.clone()).collect();
            let event = scf_event("prop", 0, &values);
            let summary = run(&sink, &event).await.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let offsets = |rows: Vec<Vec<Option<String>>>| -> BTreeSet<i64> {
                rows.into_iter()
                    .map(|r| r[0].as_deref().unwrap().parse().unwrap())
                    .collect()
            };
            let written = offsets(rows(db, &format!("SELECT {} FROM {table}", db.q("offset"))).await);
            let lettered = offsets(rows(db, &format!("SELECT {} FROM {dead}", db.q("offset"))).await);
            assert_eq!(
                (summary.written, summary.dead_lettered),
                (written.len(), lettered.len()),
                "seed {seed}"
            );
            eprintln!(
                "seed {seed}: written {}, dead-lettered {}",
                written.len(),
                lettered.len()
            );
            assert!(
                written.is_disjoint(&lettered),
                "seed {seed}: an offset both written and dead-lettered"
            );
            assert_eq!(
                written.len() + lettered.len(),
                200,
                "seed {seed}: every offset lands once"
            );
            for (offset, generated) in generated.iter().enumerate() {
                if generated.plain {
                    assert!(
                        written.contains(&(offset as i64)),
                        "seed {seed}: plain {} not written",
                        generated.value
                    );
                }
            }
            let again = run(&sink, &event).await.unwrap();
            assert_eq!(
                (again.written, again.dead_lettered, again.skipped),
                (0, 0, 200),
                "seed {seed}"
            );
        }
    }
}
