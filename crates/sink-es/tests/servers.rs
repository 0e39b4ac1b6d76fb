//! to-es against real ES-API servers started by `scripts/services.sh`: noida-db (Elasticsearch 8 API) and
//! osmem-server (OpenSearch API) — both reimplementations of the REST API, not Elasticsearch itself — and
//! nginx basic auth in front of noida-db. A test whose server is missing fails.

use std::collections::BTreeMap;
use std::time::Duration;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Error};
use ckafka_dump_runtime::{invoke, Function, Summary};
use ckafka_dump_sink_es::config::EsConfig;
use ckafka_dump_sink_es::EsSink;
use ckafka_dump_testkit::{self as testkit, free_port, setting, site_package, unique, AwsRecord, FaultProxy, Owned};
use serde_json::Value;

const SCF_MULTI: &str = include_str!("../../../events/scf-ckafka-multi-partition.json");
const MSK: &str = include_str!("../../../events/aws-msk.json");
const SELF_MANAGED: &str = include_str!("../../../events/aws-self-managed-headers.json");

fn es_url() -> String {
    setting("CKD_ES_URL")
}

fn opensearch_url() -> String {
    setting("CKD_OPENSEARCH_URL")
}

fn sink(url: &str, keyword: &str, extra: &[(&str, &str)]) -> EsSink {
    let mut pairs = vec![("ES_Address", url), ("ES_Index_KeyWord", keyword)];
    pairs.extend_from_slice(extra);
    EsSink::new(EsConfig::from_env(&Env::from_pairs(&pairs)).unwrap()).unwrap()
}

async fn run(sink: &EsSink, event: &str, limit: Duration) -> Result<Summary, Error> {
    invoke(&Function::new(sink), event, Deadline::after(limit), "test").await
}

async fn get(url: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("server at {url} unreachable: {e}"));
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn count(url: &str, pattern: &str) -> u64 {
    reqwest::Client::new()
        .post(format!("{url}/{pattern}/_refresh"))
        .send()
        .await
        .unwrap();
    get(&format!("{url}/{pattern}/_count")).await["count"]
        .as_u64()
        .unwrap_or(0)
}

async fn doc(url: &str, index: &str, id: &str) -> Value {
    get(&format!("{url}/{index}/_doc/{id}")).await
}

async fn samples_land_with_index_names_and_ids(url: String) {
    let keyword = unique("samples");
    let sink = sink(&url, &keyword, &[("ES_Kafka_Meta_Field", "kafka")]);
    let msk = run(&sink, MSK, Duration::from_secs(30)).await.unwrap();
    assert_eq!((msk.records, msk.written, msk.skipped), (3, 3, 0));
    let hit = doc(&url, &format!("{keyword}-2018-12-17"), "mytopic-0-16").await;
    assert_eq!(hit["_source"]["msg"], "second", "{hit}");
    assert_eq!(hit["_source"]["time"], "2018-12-17T22:10:50.990Z");
    assert_eq!(hit["_source"]["kafka"]["offset"], 16);
    let plain = doc(&url, &format!("{keyword}-2018-12-17"), "mytopic-0-15").await;
    assert_eq!(plain["_source"]["msg_body"], "Hello, this is a test.");

    let tombstones = run(&sink, SELF_MANAGED, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (tombstones.written, tombstones.skipped),
        (2, 1),
        "the tombstone is counted as skipped"
    );
    let binary = doc(&url, &format!("{keyword}-2025-11-21"), "orders.v1-3-1001").await;
    assert_eq!(binary["_source"]["msg_body_base64"], "/wCAAQ==", "{binary}");

    let scf = run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
    assert_eq!((scf.records, scf.written), (5, 5));
    let today = ckafka_dump_core::time::DateTime::now().date();
    let index = format!("{keyword}-{today}");
    let by_log_id = doc(&url, &index, "a1").await;
    assert_eq!(
        by_log_id["_source"]["user"], "u7",
        "the `message` JSON is merged: {by_log_id}"
    );
    assert_eq!(
        by_log_id["_source"]["time"], "2026-11-21T08:00:00Z",
        "the user's time is kept"
    );
    let text = doc(&url, &index, "app-log-0-1201").await;
    assert_eq!(text["_source"]["msg_body"], "plain text line, not JSON");
    let metadata_names = doc(&url, &index, "app-log-2-88").await;
    assert_eq!(
        metadata_names["_source"]["version"], 3,
        "`version` stays a document field: {metadata_names}"
    );
    assert_eq!(metadata_names["_source"]["routing"], "eu");
    let double = doc(&url, &index, "app-log-2-89").await;
    assert_eq!(double["_source"]["msg"], "double-encoded");
    assert_eq!(count(&url, &format!("{keyword}-*")).await, 10);
}

async fn redelivered_batch_overwrites(url: String) {
    let keyword = unique("redeliver");
    let sink = sink(&url, &keyword, &[("ES_Op_Type", "create")]);
    for _ in 0..2 {
        let summary = run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
        assert_eq!(summary.written, 5, "a create conflict means already written");
    }
    let index_sink = self::sink(&url, &keyword, &[]);
    run(&index_sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
    assert_eq!(count(&url, &format!("{keyword}-*")).await, 5);
}

thread_local! {
    /// The time the sinks of this test thread read (each `tokio::test` runs on a thread of its own).
    static NOW_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn test_clock() -> i64 {
    NOW_MS.with(std::cell::Cell::get)
}

fn set_clock(epoch_ms: i64) {
    NOW_MS.with(|now| now.set(epoch_ms));
}

/// 2026-11-23T00:00:00Z
const MIDNIGHT_MS: i64 = 1_795_392_000_000;
const HOUR_MS: i64 = 3_600_000;

/// SCF records carry no timestamp: a batch first delivered just before midnight (or the hour) and
/// re-delivered just after lands in the same index, while records never seen before go to the new one.
async fn a_redelivery_across_midnight_or_the_hour_lands_in_the_first_index(url: String) {
    let later_record = r#"{"Records":[{"Ckafka":{"topic":"app-log","partition":0,"offset":1300,"msgKey":"None","msgBody":"{\"level\":\"INFO\"}"}}]}"#;
    for (format, boundary, first, next) in [
        ("day", MIDNIGHT_MS, "2026-11-22", "2026-11-23"),
        ("hour", MIDNIGHT_MS + HOUR_MS, "2026-11-23-00", "2026-11-23-01"),
    ] {
        let keyword = unique("boundary");
        let sink = sink(&url, &keyword, &[("ES_Index_TimeFormat", format)]).with_clock(test_clock);
        set_clock(boundary - 1_000);
        run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
        set_clock(boundary + 1_000);
        let again = run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again.written, 5);
        assert_eq!(
            count(&url, &format!("{keyword}-*")).await,
            5,
            "{format}: each record once"
        );
        assert_eq!(count(&url, &format!("{keyword}-{first}")).await, 5, "{format}");
        run(&sink, later_record, Duration::from_secs(30)).await.unwrap();
        assert_eq!(
            count(&url, &format!("{keyword}-{next}")).await,
            1,
            "{format}: a new offset is dated now"
        );
        assert_eq!(count(&url, &format!("{keyword}-*")).await, 6, "{format}");
    }
}

/// Creates `index` with `field` mapped as a `long`.
async fn create_index_with_a_long(url: &str, index: &str, field: &str) {
    let created = reqwest::Client::new()
        .put(format!("{url}/{index}"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"mappings": {{"properties": {{"{field}": {{"type": "long"}}}}}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);
}

async fn mapping_conflict_goes_to_the_dead_letter_index(url: String) {
    let keyword = unique("conflict");
    create_index_with_a_long(&url, &keyword, "level").await;
    let sink = sink(&url, &keyword, &[("ES_Index_TimeFormat", "none")]);
    let summary = run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
    // Records whose `level` is a word ("INFO", "WARN", "ERROR") cannot be a long.
    assert_eq!((summary.written, summary.dead_lettered), (2, 3), "{summary:?}");
    assert_eq!(count(&url, &keyword).await, 2);
    let dead = doc(&url, &format!("{keyword}-dead-letter"), "app-log-2-88").await;
    assert_eq!(dead["_source"]["error"]["target"], keyword.as_str(), "{dead}");
    assert_eq!(dead["_source"]["offset"], 88);
    assert!(dead["_source"]["value"].as_str().unwrap().contains("disk 91% full"));
    assert_eq!(dead["_source"]["error"]["cause"], "refused", "{dead}");
    assert!(
        dead["_source"]["error"]["reason"].as_str().unwrap().contains("pars"),
        "{dead}"
    );

    let strict = self::sink(
        &url,
        &keyword,
        &[("ES_Index_TimeFormat", "none"), ("ES_Dead_Letter_Index", "none")],
    );
    let error = run(&strict, SCF_MULTI, Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("3 of 5 records not written"), "{error}");
    assert!(error.contains("app-log/0/1200"), "the error names the offsets: {error}");

    // With report_batch_item_failures (Lambda's ReportBatchItemFailures), the three are the partial response.
    let handler = Function::new(&strict).with_item_failures(true);
    let summary = invoke(&handler, SCF_MULTI, Deadline::after(Duration::from_secs(30)), "test")
        .await
        .unwrap();
    assert_eq!((summary.records, summary.failed), (5, 3), "{summary:?}");
    let answer = serde_json::to_value(&summary).unwrap();
    let failures: Vec<(String, i64)> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let item = &f["itemIdentifier"];
            (
                item["partition"].as_str().unwrap().to_owned(),
                item["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [("app-log-0", 1200), ("app-log-2", 88), ("app-log-2", 89)].map(|(p, o)| (p.to_owned(), o)),
        "{answer}"
    );
    assert_eq!(count(&url, &keyword).await, 2, "the two documents that fit are written");
}

/// Bodies that parse as JSON for us but not for some servers (`1e400` beyond a double, a lone surrogate): the
/// item error is the document's fault, so it is dead-lettered and a re-delivery does not fail again.
async fn a_poison_document_is_dead_lettered_not_retried_forever(url: String) {
    let keyword = unique("poison");
    let sink = sink(&url, &keyword, &[("ES_Index_TimeFormat", "none")]);
    let event = r#"{"Records":[
        {"Ckafka":{"topic":"p","partition":0,"offset":1,"msgKey":"None","msgBody":"{\"n\":1e400}"}},
        {"Ckafka":{"topic":"p","partition":0,"offset":2,"msgKey":"None","msgBody":"{\"s\":\"\\ud800\"}"}},
        {"Ckafka":{"topic":"p","partition":0,"offset":3,"msgKey":"None","msgBody":"{\"ok\":1}"}}]}"#;
    for delivery in ["first", "re-delivery"] {
        let summary = run(&sink, event, Duration::from_secs(30)).await.unwrap();
        assert!(summary.dead_lettered >= 1, "{delivery}: {summary:?}");
        assert_eq!(summary.written + summary.dead_lettered, 3, "{delivery}: {summary:?}");
    }
    assert!(doc(&url, &format!("{keyword}-dead-letter"), "p-0-1").await["found"] == true);
}

/// An AWS Kafka event on topic `t`, partition 0, offsets from `first_offset`: (key, value or tombstone).
fn aws_event(first_offset: i64, records: &[(&str, Option<&str>)]) -> String {
    let records: Vec<AwsRecord> = (first_offset..)
        .zip(records)
        .map(|(offset, (key, value))| (offset, 1_709_310_600_000, Some(*key), *value))
        .collect();
    testkit::aws_event("t", 0, &records, &[])
}

/// An AWS Kafka event on topic `t`, partition 0: (offset, key bytes, value).
fn aws_event_of_bytes(records: &[(i64, Option<&[u8]>, &str)]) -> String {
    let b64 = |b: &[u8]| base64_simd::STANDARD.encode_to_string(b);
    let records: Vec<Value> = records
        .iter()
        .map(|&(offset, key, value)| {
            serde_json::json!({"topic": "t", "partition": 0, "offset": offset, "timestamp": 1_709_310_600_000i64,
                "timestampType": "CREATE_TIME", "key": key.map(b64), "value": b64(value.as_bytes())})
        })
        .collect();
    serde_json::json!({"eventSource": "aws:kafka", "records": {"t-0": records}}).to_string()
}

async fn run_staged(sink: &EsSink, stage: &[(&str, &str)], event: &str) -> Result<Summary, Error> {
    let stage = Stage::from_env(&Env::from_pairs(stage)).unwrap();
    let handler = Function::new(sink).with_stage(stage);
    invoke(&handler, event, Deadline::after(Duration::from_secs(30)), "test").await
}

/// Filter, rename and metadata fields, an index per `app` field, dated by the record's own `ts` in Beijing
/// time (16:30 UTC is already the next day there); records the stage or the index name cannot take are
/// dead-lettered with the reason; a re-delivery changes nothing.
async fn a_stage_routes_records_to_indices_by_field_and_beijing_date(url: String) {
    let keyword = unique("routed");
    let template = format!("{keyword}-{{field:app}}-{{date}}");
    let sink = sink(
        &url,
        &keyword,
        &[
            ("ES_Index_Template", template.as_str()),
            ("time_zone", "Asia/Shanghai"),
            ("ES_Timestamp_Field", "@timestamp"),
        ],
    );
    let stage = [
        ("TRANSFORM_FILTER", r#"level != "debug""#),
        ("TRANSFORM_RENAME", "msg:message"),
        ("TRANSFORM_ADD", "kafka_offset:@offset, kafka_key:@key"),
        ("TRANSFORM_TIME_FIELD", "ts"),
        ("time_zone", "Asia/Shanghai"),
    ];
    let event = aws_event(
        0,
        &[
            (
                "a",
                Some(r#"{"app":"Pay","level":"info","msg":"paid","ts":"2024-03-01T16:30:00Z"}"#),
            ),
            (
                "b",
                Some(r#"{"app":"auth","level":"warn","msg":"slow","ts":"2024-03-01T15:59:59Z"}"#),
            ),
            (
                "c",
                Some(r#"{"app":"pay","level":"debug","msg":"noise","ts":"2024-03-01T16:31:00Z"}"#),
            ),
            ("d", Some("not json")),
            (
                "e",
                Some(r#"{"level":"info","msg":"no app","ts":"2024-03-01T16:30:00Z"}"#),
            ),
        ],
    );
    for delivery in ["first", "re-delivery"] {
        let summary = run_staged(&sink, &stage, &event).await.unwrap();
        assert_eq!(
            (
                summary.records,
                summary.written,
                summary.filtered,
                summary.dead_lettered
            ),
            (5, 2, 1, 2),
            "{delivery}: {summary:?}"
        );
    }
    let pay = doc(&url, &format!("{keyword}-pay-2024-03-02"), "t-0-0").await;
    assert_eq!(pay["_source"]["message"], "paid", "{pay}");
    assert_eq!(pay["_source"]["kafka_offset"], 0);
    assert_eq!(pay["_source"]["kafka_key"], "a");
    assert_eq!(
        pay["_source"]["@timestamp"], "2024-03-02T00:30:00.000+08:00",
        "the record time, in Beijing time"
    );
    assert!(pay["_source"].get("msg").is_none());
    assert_eq!(count(&url, &format!("{keyword}-auth-2024-03-01")).await, 1);
    assert_eq!(
        count(&url, &format!("{keyword}-pay-*")).await,
        1,
        "the debug record was filtered"
    );
    let not_json = doc(&url, &format!("{keyword}-dead-letter"), "t-0-3").await;
    assert_eq!(not_json["_source"]["error"]["cause"], "transform", "{not_json}");
    assert_eq!(not_json["_source"]["value"], "not json");
    let no_app = doc(&url, &format!("{keyword}-dead-letter"), "t-0-4").await;
    assert_eq!(no_app["_source"]["error"]["cause"], "route", "{no_app}");
    assert_eq!(no_app["_source"]["error"]["reason"], "field `app` is missing");
    assert_eq!(count(&url, &format!("{keyword}-dead-letter")).await, 2);
}

/// `ES_Delete_On_Tombstone` with `ES_Id_Field=@key`: a null value deletes the key's document; deleting it
/// again (a re-delivery) is done, not an error.
async fn a_tombstone_deletes_the_document_of_its_key(url: String) {
    let keyword = unique("tombstone");
    let sink = sink(
        &url,
        &keyword,
        &[
            ("ES_Index_TimeFormat", "none"),
            ("ES_Id_Field", "@key"),
            ("ES_Delete_On_Tombstone", "true"),
        ],
    );
    let puts = aws_event(
        0,
        &[
            ("user-1", Some(r#"{"n":1}"#)),
            ("user-2", Some(r#"{"n":2}"#)),
            ("user-1", Some(r#"{"n":3}"#)),
        ],
    );
    let summary = run(&sink, &puts, Duration::from_secs(30)).await.unwrap();
    assert_eq!(summary.written, 3);
    assert_eq!(count(&url, &keyword).await, 2, "one document per key");
    assert_eq!(doc(&url, &keyword, "user-1").await["_source"]["n"], 3);
    let delete = aws_event(3, &[("user-1", None)]);
    for delivery in ["first", "re-delivery"] {
        let summary = run(&sink, &delete, Duration::from_secs(30)).await.unwrap();
        assert_eq!((summary.written, summary.skipped), (1, 0), "{delivery}: {summary:?}");
        assert_eq!(count(&url, &keyword).await, 1, "{delivery}");
        assert_eq!(doc(&url, &keyword, "user-1").await["found"], false, "{delivery}");
    }
}

/// A data stream per `app` field: `create` actions, `@timestamp` from the record's own `ts`; a re-delivery
/// meets its own documents (409) and counts them written, adding nothing. Only noida-db: osmem-server
/// refuses data streams. noida-db accepts the data-stream index template and `create` into its name but
/// keeps the documents in a plain index of that name (it has no `_data_stream` API), so this proves what
/// to-es sends and how it reads the answers, not Elasticsearch's backing indices.
#[tokio::test]
async fn records_go_to_data_streams_by_field_with_their_own_timestamp() {
    let url = es_url();
    let keyword = unique("stream");
    let template = serde_json::json!({
        "index_patterns": [format!("{keyword}-*")],
        "data_stream": {},
        "template": {"mappings": {"properties": {"@timestamp": {"type": "date"}}}},
    });
    let answer = reqwest::Client::new()
        .put(format!("{url}/_index_template/{keyword}"))
        .header("content-type", "application/json")
        .body(template.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("server at {url} unreachable: {e}"));
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());
    let index_template = format!("{keyword}-{{field:app}}");
    let sink = sink(
        &url,
        &keyword,
        &[
            ("ES_Index_Template", index_template.as_str()),
            ("ES_Op_Type", "create"),
            ("ES_Timestamp_Field", "@timestamp"),
        ],
    );
    let stage = [("TRANSFORM_TIME_FIELD", "ts"), ("TRANSFORM_TIME_FORMAT", "epoch_ms")];
    let event = aws_event(
        0,
        &[
            ("a", Some(r#"{"app":"pay","ts":1709310600123,"n":1}"#)),
            ("b", Some(r#"{"app":"auth","ts":1709251199000,"n":2}"#)),
            ("c", Some(r#"{"app":"pay","ts":1709310601000,"n":3}"#)),
        ],
    );
    for delivery in ["first", "re-delivery"] {
        let summary = run_staged(&sink, &stage, &event).await.unwrap();
        assert_eq!(
            (summary.written, summary.dead_lettered),
            (3, 0),
            "{delivery}: {summary:?}"
        );
        assert_eq!(count(&url, &format!("{keyword}-pay")).await, 2, "{delivery}");
        assert_eq!(count(&url, &format!("{keyword}-auth")).await, 1, "{delivery}");
    }
    let first = doc(&url, &format!("{keyword}-pay"), "t-0-0").await;
    assert_eq!(first["_source"]["@timestamp"], "2024-03-01T16:30:00.123Z", "{first}");
    assert_eq!(first["_source"]["n"], 1);
    let auth = doc(&url, &format!("{keyword}-auth"), "t-0-1").await;
    assert_eq!(auth["_source"]["@timestamp"], "2024-02-29T23:59:59.000Z", "{auth}");
}

macro_rules! on_both_servers {
    ($($name:ident),*) => {
        mod noida_db {
            $(#[tokio::test] async fn $name() { super::$name(super::es_url()).await })*
        }
        mod osmem_server {
            $(#[tokio::test] async fn $name() { super::$name(super::opensearch_url()).await })*
        }
    };
}

on_both_servers!(
    samples_land_with_index_names_and_ids,
    redelivered_batch_overwrites,
    a_redelivery_across_midnight_or_the_hour_lands_in_the_first_index,
    mapping_conflict_goes_to_the_dead_letter_index,
    a_poison_document_is_dead_lettered_not_retried_forever,
    a_stage_routes_records_to_indices_by_field_and_beijing_date,
    a_tombstone_deletes_the_document_of_its_key,
    binary_keys_are_distinct_ids_and_never_another_records_coordinates,
    the_last_write_to_an_id_wins_in_a_batch_and_across_redeliveries,
    a_record_without_a_timestamp_is_dated_when_first_seen
);

/// noida-db only: osmem-server panics (and drops the connection) formatting its error for `1e400` in a `long`
/// field, where OpenSearch answers with a mapping error.
#[tokio::test]
async fn random_poison_records_land_once_each_against_noida_db() {
    random_poison_records_land_once_each_in_their_index_or_the_dead_letters(es_url()).await
}

#[tokio::test]
async fn basic_auth_through_nginx_and_wrong_password_is_a_clear_error() {
    let url = setting("CKD_ES_AUTH_URL");
    let user = setting("CKD_ES_AUTH_USER");
    let password = setting("CKD_ES_AUTH_PASSWORD");
    let keyword = unique("auth");
    let good = sink(&url, &keyword, &[("ES_User", &user), ("ES_Password", &password)]);
    assert_eq!(run(&good, MSK, Duration::from_secs(30)).await.unwrap().written, 3);
    assert_eq!(count(&es_url(), &format!("{keyword}-*")).await, 3);

    let bad = sink(
        &url,
        &keyword,
        &[("ES_User", &user), ("ES_Password", "not-the-password")],
    );
    let error = run(&bad, MSK, Duration::from_secs(30)).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("401") && text.contains(&url), "{text}");
    assert!(!text.contains("not-the-password"), "the password never appears: {text}");
    assert!(!ckafka_dump_core::Retryable::is_retryable(&error));
}

/// A private osmem-server on `port`, so this test can have its target down and then up without
/// disturbing the shared servers.
async fn start_private_opensearch(port: u16) -> Owned {
    let server = Owned::spawn(
        &site_package("osmem_server/bin/osmem-server"),
        &["-addr", &format!("127.0.0.1:{port}"), "-no-stdin-watch"],
        "scripts/services.sh start opensearch installs it",
    );
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("private osmem-server on port {port} did not start");
}

#[tokio::test]
async fn server_down_fails_the_invocation_then_redelivery_succeeds() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let keyword = unique("down");
    let sink = sink(&url, &keyword, &[]);
    let error = run(&sink, SCF_MULTI, Duration::from_secs(2)).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("5 of 5 records not written") && text.contains(&url),
        "{text}"
    );
    assert!(
        ckafka_dump_core::Retryable::is_retryable(&error),
        "an unreachable target is worth re-delivering"
    );

    let _server = start_private_opensearch(port).await;
    let summary = run(&sink, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
    assert_eq!(summary.written, 5);
    assert_eq!(count(&url, &format!("{keyword}-*")).await, 5);
}

#[tokio::test]
async fn a_proxy_answering_413_with_an_html_page_gives_one_short_error_line() {
    let proxy = FaultProxy::start(&es_url());
    let page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n".repeat(20);
    let fault = serde_json::json!({"match": "_bulk", "status": 413, "body": page, "content_type": "text/html"});
    proxy.control("fail", &fault.to_string());
    let failure = run(
        &sink(&proxy.url, &unique("too-large"), &[]),
        SCF_MULTI,
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert!(!ckafka_dump_core::Retryable::is_retryable(&failure));
    let error = failure.to_string();
    assert!(!error.contains(['\n', '\r']), "one line: {error:?}");
    // Every request is refused, down to one document each, and so are their dead letters.
    assert!(
        error.contains("HTTP 413 Payload Too Large: <html> <head><title>413 Request Entity Too Large</title>")
            && error.contains("(refused by the dead-letter index)")
            && error.len() < 1000,
        "{error}"
    );
}

#[tokio::test]
async fn items_rejected_with_429_are_retried_alone_and_the_final_count_is_exact() {
    let proxy = FaultProxy::start(&es_url());
    let keyword = unique("throttled");
    let records: Vec<Value> = (0..60)
        .map(|n| {
            serde_json::json!({"Ckafka": {"topic": "t", "partition": n % 3, "offset": n,
            "msgKey": "None", "msgBody": format!("{{\"n\":{n}}}")}})
        })
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    // Every third item of the next two bulk requests is refused as by a node whose write queue is full.
    proxy.control("reject", r#"{"every": 3, "requests": 2}"#);
    let summary = run(
        &sink(&proxy.url, &keyword, &[("ES_Timestamp_Field", "none")]),
        &event,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!((summary.records, summary.written, summary.dead_lettered), (60, 60, 0));
    let seen: Value = serde_json::from_str(&proxy.control("seen", "")).unwrap();
    assert!(seen["rejected_items"].as_u64().unwrap() >= 20, "{seen}");
    assert_eq!(count(&es_url(), &format!("{keyword}-*")).await, 60);
    // A re-delivery overwrites: still 60.
    run(
        &sink(&es_url(), &keyword, &[("ES_Timestamp_Field", "none")]),
        &event,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(count(&es_url(), &format!("{keyword}-*")).await, 60);
}

/// A noida-db (ES 8 API) of this test's own, keeping its data in `dir` across a restart.
fn own_es(dir: &std::path::Path, port: u16) -> Owned {
    let bin = site_package("noida_db/noida-db");
    let child = std::process::Command::new(&bin)
        .args(["start", "--host", "127.0.0.1", "--only", "elasticsearch"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--elasticsearch-port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (scripts/services.sh start es installs it): {e}"));
    let server = Owned(child);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "noida-db did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[tokio::test]
async fn a_server_killed_mid_bulk_and_restarted_ends_with_every_record_once() {
    let dir = std::env::temp_dir().join(unique("noida-restart"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = own_es(&dir, port);
    // The proxy counts the bulk requests that reached the server and the ones it could not answer.
    let proxy = FaultProxy::start(&url);
    let keyword = unique("restart");
    let records: Vec<Value> = (0..3000)
        .map(|n| {
            serde_json::json!({"Ckafka": {"topic": "t", "partition": 0, "offset": n,
            "msgKey": "None", "msgBody": format!("{{\"n\":{n},\"pad\":\"{}\"}}", "p".repeat(300))}})
        })
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    let sink = sink(
        &proxy.url,
        &keyword,
        &[("ES_Bulk_Max_Bytes", "50000"), ("ES_Bulk_Concurrency", "1")],
    );
    let seen = |what: &str| -> u64 {
        let seen: Value = serde_json::from_str(&proxy.control("seen", "")).unwrap();
        seen[what].as_u64().unwrap()
    };

    // The server is stopped once two of the batch's ~20 bulk requests have gone through (SIGTERM: noida-db,
    // unlike Elasticsearch, keeps acknowledged writes only in memory until it shuts down, so SIGKILL would lose
    // writes it had confirmed), and is back 500 ms later.
    let finished = std::sync::atomic::AtomicBool::new(false);
    let (first, (bulk_before_stop, finished_before_stop)) = tokio::join!(
        async {
            let result = run(&sink, &event, Duration::from_secs(30)).await;
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        },
        async {
            while seen("bulk_requests") < 2 && !finished.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let at_stop = (
                seen("bulk_requests"),
                finished.load(std::sync::atomic::Ordering::SeqCst),
            );
            let stopped = std::process::Command::new("kill")
                .args(["-TERM", &server.0.id().to_string()])
                .status();
            assert!(stopped.unwrap().success());
            let _ = server.0.wait();
            tokio::time::sleep(Duration::from_millis(500)).await;
            server = own_es(&dir, port);
            at_stop
        }
    );
    assert!(
        !finished_before_stop && bulk_before_stop < 20,
        "the server must stop while the batch is in flight ({bulk_before_stop} bulk requests had passed, finished: {finished_before_stop})"
    );
    let refused = seen("upstream_errors");
    assert!(
        refused > 0 || first.is_err(),
        "the stop must meet requests: none was refused and the first delivery succeeded"
    );
    eprintln!(
        "first delivery: {:?}; requests refused while the server was down: {refused}",
        first.as_ref().map(|s| s.written)
    );
    // Whatever the first delivery answered, the trigger re-delivers until one succeeds.
    if first.is_err() {
        run(&sink, &event, Duration::from_secs(30)).await.unwrap();
    }
    assert_eq!(count(&url, &format!("{keyword}-*")).await, 3000);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys that are not UTF-8 (or that look like another record's coordinates) are ids of their own: three
/// binary keys a lossy conversion would make one `_id`, a key spelled like the coordinates id of a keyless
/// record, and that record.
async fn binary_keys_are_distinct_ids_and_never_another_records_coordinates(url: String) {
    let keyword = unique("binkeys");
    let sink = sink(
        &url,
        &keyword,
        &[("ES_Index_TimeFormat", "none"), ("ES_Id_Field", "@key")],
    );
    let replacement = "\u{FFFD}1".as_bytes();
    let event = aws_event_of_bytes(&[
        (0, None, r#"{"who":"keyless"}"#),
        (1, Some(b"\xff1"), r#"{"who":"ff"}"#),
        (2, Some(b"\xfe1"), r#"{"who":"fe"}"#),
        (3, Some(replacement), r#"{"who":"replacement"}"#),
        (4, Some(b"t-0-0"), r#"{"who":"spelled like coordinates"}"#),
    ]);
    for delivery in ["first", "re-delivery"] {
        let summary = run(&sink, &event, Duration::from_secs(30)).await.unwrap();
        assert_eq!(summary.written, 5, "{delivery}");
        assert_eq!(count(&url, &keyword).await, 5, "{delivery}: one document per record");
    }
    assert_eq!(doc(&url, &keyword, "t-0-0").await["_source"]["who"], "keyless");
    assert_eq!(doc(&url, &keyword, "b64:_zE").await["_source"]["who"], "ff");
    assert_eq!(doc(&url, &keyword, "b64:_jE").await["_source"]["who"], "fe");
    let replacement_id = percent_encoding::utf8_percent_encode("\u{FFFD}1", percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(
        doc(&url, &keyword, &replacement_id.to_string()).await["_source"]["who"],
        "replacement"
    );
}

/// A document ends as the record of its `_id` with the highest offset: 200 writes of one key in a batch sent
/// over concurrent small bulk requests, 100 upserts then the tombstone, and an older batch redriven after a
/// newer one succeeded (refused by version, counted as written).
async fn the_last_write_to_an_id_wins_in_a_batch_and_across_redeliveries(url: String) {
    let keyword = unique("lastwins");
    let sink = sink(
        &url,
        &keyword,
        &[
            ("ES_Index_TimeFormat", "none"),
            ("ES_Id_Field", "@key"),
            ("ES_Delete_On_Tombstone", "true"),
            ("ES_Bulk_Max_Bytes", "1024"),
            ("ES_Bulk_Concurrency", "8"),
        ],
    );
    let values: Vec<String> = (0..200).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    let records: Vec<(&str, Option<&str>)> = values.iter().map(|v| ("same", Some(v.as_str()))).collect();
    let summary = run(&sink, &aws_event(0, &records), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(summary.written, 200);
    assert_eq!(doc(&url, &keyword, "same").await["_source"]["n"], 199);

    let mut upserts: Vec<(&str, Option<&str>)> = values[..100].iter().map(|v| ("gone", Some(v.as_str()))).collect();
    upserts.push(("gone", None));
    let summary = run(&sink, &aws_event(200, &upserts), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(summary.written, 101);
    assert_eq!(
        doc(&url, &keyword, "gone").await["found"],
        false,
        "the tombstone is the last write"
    );

    let newer = aws_event(1000, &[("redriven", Some(r#"{"n":1000}"#))]);
    run(&sink, &newer, Duration::from_secs(30)).await.unwrap();
    let older: Vec<(&str, Option<&str>)> = values[..10].iter().map(|v| ("redriven", Some(v.as_str()))).collect();
    let summary = run(&sink, &aws_event(500, &older), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(summary.written, 10, "superseded by a newer record: nothing to write");
    assert_eq!(doc(&url, &keyword, "redriven").await["_source"]["n"], 1000);
    assert_eq!(count(&url, &keyword).await, 2);
}

/// Random poison records (testkit's generator, several seeds) routed to an index per field, next to a
/// mapping that takes only numbers for `n`: every record is in exactly one place — its index or the dead
/// letters — and every plain one in its index.
async fn random_poison_records_land_once_each_in_their_index_or_the_dead_letters(url: String) {
    use ckafka_dump_testkit::{poison_seeds, poison_values};
    let http = reqwest::Client::new();
    for seed in poison_seeds() {
        let keyword = unique("prop");
        for index in ["a", "b"] {
            create_index_with_a_long(&url, &format!("{keyword}-{index}"), "n").await;
        }
        let template = format!("{keyword}-{{field:t}}");
        let sink = sink(&url, &keyword, &[("ES_Index_Template", template.as_str())]);
        let generated = poison_values(seed, 200);
        let records: Vec<AwsRecord> = generated
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i64, 1_709_310_600_000, None, Some(p.value.as_str())))
            .collect();
        let event = testkit::aws_event("p", 0, &records, &[]);
        let summary = run_staged(&sink, &[], &event)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        eprintln!(
            "seed {seed}: written {}, dead-lettered {}",
            summary.written, summary.dead_lettered
        );
        assert_eq!(summary.written + summary.dead_lettered, 200, "seed {seed}: {summary:?}");
        http.post(format!("{url}/{keyword}*/_refresh")).send().await.unwrap();
        let hits = get(&format!("{url}/{keyword}*/_search?size=1000")).await;
        let mut landed: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for hit in hits["hits"]["hits"].as_array().unwrap() {
            let id = hit["_id"].as_str().unwrap();
            let offset = id
                .strip_prefix("p-0-")
                .unwrap_or_else(|| panic!("seed {seed}: id {id}"));
            let index = hit["_index"].as_str().unwrap().to_owned();
            landed.entry(offset.parse().unwrap()).or_default().push(index);
        }
        let dead = format!("{keyword}-dead-letter");
        for (offset, generated) in generated.iter().enumerate() {
            let indices = landed.get(&(offset as i64)).cloned().unwrap_or_default();
            assert_eq!(
                indices.len(),
                1,
                "seed {seed}: offset {offset} ({}) in {indices:?}",
                generated.value
            );
            if generated.plain {
                assert_ne!(indices[0], dead, "seed {seed}: plain {} dead-lettered", generated.value);
            }
        }
        let lettered = landed.values().filter(|indices| indices[0] == dead).count();
        assert_eq!(summary.dead_lettered, lettered, "seed {seed}");
    }
}

/// Kafka's "no timestamp" (-1) dates nothing: the record goes to the index of the day it was first seen, not
/// to one of 1969.
async fn a_record_without_a_timestamp_is_dated_when_first_seen(url: String) {
    let keyword = unique("undated");
    let sink = sink(&url, &keyword, &[]);
    let event = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":1,
        "timestamp":-1,"timestampType":"NO_TIMESTAMP_TYPE","value":"eyJhIjoxfQ=="}]}}"#;
    let summary = run(&sink, event, Duration::from_secs(30)).await.unwrap();
    assert_eq!(summary.written, 1);
    let today = ckafka_dump_core::time::DateTime::now().date();
    assert_eq!(count(&url, &format!("{keyword}-{today}")).await, 1);
    assert_eq!(count(&url, &format!("{keyword}-1969*")).await, 0);
}

/// Behind a proxy with a small body limit (nginx, 64 KB, the es-auth service's `/small-body/`): requests the
/// proxy answers with 413 are sent again smaller, in order, until they pass; a document too large alone is its
/// own fault and goes to the dead-letter index without its bytes (it would be refused again there).
#[tokio::test]
async fn requests_refused_as_too_large_shrink_and_a_document_too_large_alone_is_dead_lettered() {
    let url = format!("{}/small-body", setting("CKD_ES_AUTH_URL"));
    let keyword = unique("small-body");
    let sink = sink(&url, &keyword, &[("ES_Index_TimeFormat", "none")]);
    let values: Vec<String> = (0..21)
        .map(|i| match i {
            7 => format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(100_000)),
            _ => format!(r#"{{"n":{i},"pad":"{}"}}"#, "y".repeat(10_000)),
        })
        .collect();
    let records: Vec<AwsRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, 1_709_310_600_000, None, Some(v.as_str())))
        .collect();
    let event = testkit::aws_event("big", 0, &records, &[]);
    let summary = run(&sink, &event, Duration::from_secs(60)).await.unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (20, 1), "{summary:?}");
    let es = es_url();
    assert_eq!(count(&es, &keyword).await, 20);
    let letter = doc(&es, &format!("{keyword}-dead-letter"), "big-0-7").await;
    assert_eq!(letter["_source"]["error"]["cause"], "too_large", "{letter}");
    assert!(letter["_source"]["value"].is_null(), "{letter}");
    assert!(
        letter["_source"]["not_stored"]
            .as_str()
            .unwrap()
            .contains("read the key, value and headers at big/0/7"),
        "{letter}"
    );
}
