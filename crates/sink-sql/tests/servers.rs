//! to-sql against real PostgreSQL 15 and MariaDB 10.11 started by `scripts/services.sh`; every behaviour on both.
//! A test whose server is missing fails. Faults go through a TCP proxy (testkit's `TcpCut`) that cuts the
//! connection at a chosen point of the batch, and proves the point was reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Error, Retryable};
use ckafka_dump_runtime::{invoke, Summary, Triggered};
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
        &Triggered::new(sink),
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
    assert_eq!(row[5], r#"{"source":"app"}"#);
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
    let handler = Triggered::new(&sink).with_stage(stage);
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
        ["r", "3", "2", "v2", r#"{"source":"app"}"#].map(|s| Some(s.to_owned()))
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
