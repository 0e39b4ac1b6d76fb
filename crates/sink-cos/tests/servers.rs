//! to-cos against real servers started by `scripts/services.sh`: s3s-fs (an S3 API server on a local
//! directory, SigV4 enforced) for the bucket and tansu for the scheduled mode's topic; plus `file://`
//! directories. Objects are read back and compared byte for byte. A test whose server is missing fails.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use aws_sdk_s3::Client as S3;
use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Error, Retryable};
use ckafka_dump_runtime::{invoke, Function, Summary};
use ckafka_dump_sink_cos::checkpoint::Checkpoint;
use ckafka_dump_sink_cos::config::{CosConfig, Destination};
use ckafka_dump_sink_cos::lease::{Fenced, Lease};
use ckafka_dump_sink_cos::naming::{checkpoint_key, lease_key, KeyTemplate};
use ckafka_dump_sink_cos::store::s3::Bucket;
use ckafka_dump_sink_cos::CosSink;
use ckafka_dump_testkit::{
    aws_event, free_port, join_overlapping, repo_root, setting, spawn_timed, unique, var, AwsRecord, FaultProxy,
};
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde_json::Value;

const SCF_MULTI: &str = include_str!("../../../events/scf-ckafka-multi-partition.json");
const MSK: &str = include_str!("../../../events/aws-msk.json");
const TIMER: &str = r#"{"Type":"Timer","TriggerName":"dump","Time":"2026-11-22T03:05:00Z","Message":""}"#;
const LIMIT: Duration = Duration::from_secs(60);

fn endpoint() -> String {
    setting("CKD_S3_ENDPOINT")
}

fn access_key() -> String {
    setting("CKD_S3_ACCESS_KEY")
}

fn secret_key() -> String {
    setting("CKD_S3_SECRET_KEY")
}

/// A sink on a new bucket of the S3 server (keys under `dump/`), and the bucket's name.
async fn s3_sink(extra: &[(&str, &str)]) -> (CosSink, String) {
    s3_sink_at(&endpoint(), extra).await
}

/// The same, reaching the server at `endpoint` (a fault proxy in front of it).
async fn s3_sink_at(endpoint: &str, extra: &[(&str, &str)]) -> (CosSink, String) {
    let bucket = unique("ckd");
    let (endpoint, access_key, secret_key) = (endpoint.to_owned(), access_key(), secret_key());
    let address = format!("s3://{bucket}/dump/");
    let mut pairs = vec![
        ("bucket_address", address.as_str()),
        ("endpoint_url", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret_key.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let sink = CosSink::new(CosConfig::from_env(&Env::from_pairs(&pairs)).unwrap()).unwrap();
    s3(&sink)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 server at {endpoint} refused CreateBucket: {e:?}"));
    (sink, bucket)
}

/// A client of the sink's bucket, to look at what it wrote.
fn s3(sink: &CosSink) -> S3 {
    match &sink.objects().config.destination {
        Destination::S3(bucket) => Bucket::new(bucket.clone()).client().clone(),
        other => panic!("not an S3 sink: {other:?}"),
    }
}

async fn run(sink: &CosSink, event: &str) -> Result<Summary, Error> {
    invoke(&Function::new(sink), event, Deadline::after(LIMIT), "test").await
}

/// Every data object of the bucket under `prefix`, key → bytes (the function's own bookkeeping under
/// `.ckafka-dump/` — checkpoints, dating ledgers — left out; see `bookkeeping`).
async fn objects(s3: &S3, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    let mut objects = BTreeMap::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_owned();
        if key.contains("/.ckafka-dump/") {
            continue;
        }
        let body = s3.get_object().bucket(bucket).key(&key).send().await.unwrap().body;
        objects.insert(key, body.collect().await.unwrap().into_bytes().to_vec());
    }
    objects
}

/// The keys of the function's bookkeeping objects (checkpoints, dating ledgers).
async fn bookkeeping(s3: &S3, bucket: &str) -> Vec<String> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| k.contains("/.ckafka-dump/"))
        .map(str::to_owned)
        .collect()
}

/// The partition leases in the bucket (runs let theirs go when they end).
async fn leases(sink: &CosSink, bucket: &str) -> Vec<String> {
    let keys = bookkeeping(&s3(sink), bucket).await;
    keys.into_iter().filter(|k| k.contains(".leases/")).collect()
}

fn base64_of(text: &str) -> String {
    base64_simd::STANDARD.encode_to_string(text)
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// An SCF CKafka event of `count` records of `size` bytes each on `topic`/0 from offset 0; returns the
/// event and the text object the records make.
fn large_event(topic: &str, count: usize, size: usize) -> (String, String) {
    let mut records = Vec::new();
    let mut content = String::new();
    for offset in 0..count {
        let body = format!("{offset:08}{}", "x".repeat(size - 8));
        content.push_str(&body);
        content.push('\n');
        records.push(serde_json::json!({"Ckafka": {"topic": topic, "partition": 0, "offset": offset, "msgKey": "None", "msgBody": body}}));
    }
    (serde_json::json!({ "Records": records }).to_string(), content)
}

// ---- trigger batches ----

#[tokio::test]
async fn a_trigger_batch_becomes_one_object_per_partition_with_exact_keys_and_bytes() {
    let (sink, bucket) = s3_sink(&[("kafka_instance_id", "ckafka-test")]).await;
    let summary = run(&sink, SCF_MULTI).await.unwrap();
    assert_eq!((summary.records, summary.written), (5, 5));
    let now = ckafka_dump_core::time::DateTime::now().date();
    let got = objects(&s3(&sink), &bucket, "dump/").await;
    let expected: BTreeMap<String, Vec<u8>> = [
        (
            format!("dump/ckafka-test/app-log/{now}/app-log+0+0000000000000001200.txt"),
            concat!(
                r#"{"log_id":"a1","level":"INFO","message":"{\"user\":\"u7\",\"action\":\"login\"}","time":"2026-11-21T08:00:00Z"}"#,
                "\nplain text line, not JSON\n"
            ),
        ),
        (
            format!("dump/ckafka-test/app-log/{now}/app-log+2+0000000000000000088.txt"),
            concat!(
                r#"{"level":"WARN","version":3,"routing":"eu","msg":"disk 91% full"}"#,
                "\n",
                r#""{\"level\":\"ERROR\",\"msg\":\"double-encoded\"}""#,
                "\n"
            ),
        ),
        (format!("dump/ckafka-test/audit/{now}/audit+1+0000000000000000005.txt"), "中文消息 ✓\n"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.as_bytes().to_vec()))
    .collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (key, bytes) in &expected {
        assert_eq!(text(&got[key]), text(bytes), "{key}");
    }
    // SCF records carry no timestamp: each partition's dating ledger remembers when its offsets came.
    assert_eq!(
        bookkeeping(&s3(&sink), &bucket).await,
        [
            "dump/.ckafka-dump/ckafka-test/app-log/0.dates.json",
            "dump/.ckafka-dump/ckafka-test/app-log/0.written.json",
            "dump/.ckafka-dump/ckafka-test/app-log/2.dates.json",
            "dump/.ckafka-dump/ckafka-test/app-log/2.written.json",
            "dump/.ckafka-dump/ckafka-test/audit/1.dates.json",
            "dump/.ckafka-dump/ckafka-test/audit/1.written.json",
        ]
    );
}

#[tokio::test]
async fn the_same_batch_twice_leaves_the_same_objects() {
    let (sink, bucket) = s3_sink(&[]).await;
    run(&sink, MSK).await.unwrap();
    let first = objects(&s3(&sink), &bucket, "").await;
    run(&sink, MSK).await.unwrap();
    let second = objects(&s3(&sink), &bucket, "").await;
    assert_eq!(first.len(), 2, "{:?}", first.keys());
    assert_eq!(first, second);
    // MSK records carry timestamps: the date is the first record's (2018-12-17), not today's.
    assert!(
        first
            .keys()
            .all(|k| k.starts_with("dump/kafka/mytopic/2018-12-17/mytopic+")),
        "{:?}",
        first.keys()
    );
}

#[tokio::test]
async fn keys_the_template_cannot_tell_apart_fail_the_invocation_instead_of_losing_records() {
    // A fixed topic_id and no {topic}: two topics' partition 0 from offset 5 would share one key.
    let (sink, bucket) = s3_sink(&[
        ("topic_id", "topic-fixed"),
        ("object_key_template", "{topic_id}/{partition}/{start_offset}"),
    ])
    .await;
    let event = r#"{"records":{
        "orders-0":[{"topic":"orders","partition":0,"offset":5,"value":"YQ=="}],
        "refunds-0":[{"topic":"refunds","partition":0,"offset":5,"value":"Yg=="},
                     {"topic":"refunds","partition":0,"offset":6,"value":"Yw=="}]}}"#;
    let error = run(&sink, event).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("is already the key of the object starting at") && text.contains("add {topic}"),
        "{text}"
    );
    assert!(!error.is_retryable());
    assert!(
        objects(&s3(&sink), &bucket, "").await.len() <= 1,
        "never two objects under one key"
    );

    // A topic no Kafka could name (70,000 bytes) is refused with the event, in a short message.
    let (sink, _) = s3_sink(&[]).await;
    let topic = "t".repeat(70_000);
    let long = format!(r#"{{"Records":[{{"Ckafka":{{"topic":"{topic}","partition":0,"offset":9,"msgBody":"x"}}}}]}}"#);
    let text = run(&sink, &long).await.unwrap_err().to_string();
    assert!(
        text.contains("(70000 bytes)` (partition 0, offset 9) is not a Kafka topic name") && text.len() < 1000,
        "{}",
        &text[..text.len().min(600)]
    );
}

thread_local! {
    /// The time the sinks of this test thread read (each `tokio::test` runs on a thread of its own).
    static NOW_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn test_clock() -> i64 {
    NOW_MS.with(std::cell::Cell::get)
}

#[tokio::test]
async fn a_batch_redelivered_after_midnight_or_the_hour_overwrites_its_first_objects() {
    const MIDNIGHT_MS: i64 = 1_795_392_000_000; // 2026-11-23T00:00:00Z
    const HOUR_MS: i64 = 3_600_000;
    let later_record =
        r#"{"Records":[{"Ckafka":{"topic":"audit","partition":1,"offset":6,"msgKey":"None","msgBody":"later"}}]}"#;
    for (template, boundary, first, next) in [
        (KeyTemplate::DEFAULT, MIDNIGHT_MS, "2026-11-22", "2026-11-23"),
        (
            "{topic}/{date}/{hour}/{partition}+{start_offset}",
            MIDNIGHT_MS + HOUR_MS,
            "2026-11-23/00",
            "2026-11-23/01",
        ),
    ] {
        let (sink, bucket) = s3_sink(&[("object_key_template", template)]).await;
        let sink = sink.with_clock(test_clock);
        NOW_MS.with(|now| now.set(boundary - 1_000));
        run(&sink, SCF_MULTI).await.unwrap();
        let first_objects = objects(&s3(&sink), &bucket, "").await;
        assert_eq!(first_objects.len(), 3, "{template}");
        assert!(
            first_objects.keys().all(|k| k.contains(first)),
            "{template}: {:?}",
            first_objects.keys()
        );
        NOW_MS.with(|now| now.set(boundary + 1_000));
        run(&sink, SCF_MULTI).await.unwrap();
        assert_eq!(
            objects(&s3(&sink), &bucket, "").await,
            first_objects,
            "{template}: the same objects, none added"
        );
        run(&sink, later_record).await.unwrap();
        let after = objects(&s3(&sink), &bucket, "").await;
        let new: Vec<&String> = after.keys().filter(|k| !first_objects.contains_key(*k)).collect();
        assert_eq!(new.len(), 1, "{template}: {new:?}");
        assert!(new[0].contains(next), "{template}: a new offset is dated now: {new:?}");
    }
}

/// Orders of two apps, a debug record, a value that is not JSON and one without `app`, with record times
/// around Beijing midnight: 16:30Z is 00:30 on 2 March in Beijing, 15:59:59Z still 1 March.
fn orders_event() -> String {
    let at = 1_700_000_000_000;
    let records: [AwsRecord; 6] = [
        (
            10,
            at,
            Some("k1"),
            Some(r#"{"app":"pay","id":1,"note":"a, \"quoted\"\nline","time":"2024-03-01T16:30:00Z"}"#),
        ),
        (
            11,
            at,
            Some("k2"),
            Some(r#"{"app":"auth","id":2,"note":"plain","time":"2024-03-01T15:59:59Z"}"#),
        ),
        (
            12,
            at,
            None,
            Some(r#"{"app":"pay","id":3,"time":"2024-03-01T23:00:00Z"}"#),
        ),
        (13, at, None, Some("not json")),
        (14, at, None, Some(r#"{"id":5,"time":"2024-03-01T16:00:00Z"}"#)),
        (
            15,
            at,
            None,
            Some(r#"{"app":"debug","id":6,"time":"2024-03-01T16:00:00Z"}"#),
        ),
    ];
    aws_event("orders", 0, &records, &[("trace", "t-1")])
}

const ORDERS_ROUTING: [(&str, &str); 5] = [
    (
        "object_key_template",
        "{field:app}/{date}/{topic}+{partition}+{start_offset}",
    ),
    ("time_zone", "Asia/Shanghai"),
    ("TRANSFORM_TIME_FIELD", "time"),
    ("TRANSFORM_FILTER", "not app == \"debug\""),
    ("content_format", "csv"),
];

async fn run_staged(sink: &CosSink, env: &[(&str, &str)], event: &str) -> Result<Summary, Error> {
    let handler = Function::new(sink).with_stage(Stage::from_env(&Env::from_pairs(env)).unwrap());
    invoke(&handler, event, Deadline::after(LIMIT), "test").await
}

#[tokio::test]
async fn records_route_by_field_to_beijing_dated_csv_objects_and_unroutable_ones_to_dead_letters() {
    let env = [
        &ORDERS_ROUTING[..],
        &[
            ("csv_columns", "id,app,note,@offset,@timestamp"),
            ("dead_letter_prefix", "dead/"),
        ],
    ]
    .concat();
    let (sink, bucket) = s3_sink(&env).await;
    let mut first = None;
    for delivery in ["first", "re-delivery"] {
        let summary = run_staged(&sink, &env, &orders_event()).await.unwrap();
        assert_eq!(
            (
                summary.records,
                summary.written,
                summary.filtered,
                summary.dead_lettered,
                summary.skipped
            ),
            match delivery {
                "first" => (6, 3, 1, 2, 0),
                _ => (6, 0, 1, 0, 5),
            },
            "{delivery}: a re-delivery finds its offsets written"
        );
        let got = objects(&s3(&sink), &bucket, "").await;
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "dead/orders+0+0000000000000000013.jsonl",
                "dump/auth/2024-03-01/orders+0+0000000000000000011.csv",
                "dump/pay/2024-03-02/orders+0+0000000000000000010.csv",
            ],
            "{delivery}: the same keys, nothing added"
        );
        match &first {
            None => first = Some(got),
            Some(first) => assert_eq!(first, &got, "{delivery}: the same bytes"),
        }
    }
    let got = first.unwrap();
    let rows = |key: &str| -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_reader(&got[key][..]);
        assert_eq!(
            reader.headers().unwrap(),
            vec!["id", "app", "note", "@offset", "@timestamp"]
        );
        reader
            .records()
            .map(|row| row.unwrap().iter().map(str::to_owned).collect())
            .collect()
    };
    assert_eq!(
        rows("dump/pay/2024-03-02/orders+0+0000000000000000010.csv"),
        [
            ["1", "pay", "a, \"quoted\"\nline", "10", "2024-03-02T00:30:00.000+08:00"],
            ["3", "pay", "", "12", "2024-03-02T07:00:00.000+08:00"],
        ],
        "a CSV parser reads back the quoted comma, quote and newline"
    );
    assert_eq!(
        rows("dump/auth/2024-03-01/orders+0+0000000000000000011.csv"),
        [["2", "auth", "plain", "11", "2024-03-01T23:59:59.000+08:00"]]
    );
    let letters: Vec<Value> = text(&got["dead/orders+0+0000000000000000013.jsonl"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(letters.len(), 2);
    assert_eq!(
        (letters[0]["offset"].as_i64(), letters[0]["value"].as_str()),
        (Some(13), Some("not json"))
    );
    assert_eq!(letters[0]["error"]["cause"], "transform", "{}", letters[0]);
    assert!(
        letters[0].get("failed_at").is_none(),
        "no time in an object a re-delivery rewrites: {}",
        letters[0]
    );
    assert!(
        letters[0]["error"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the value is not JSON"),
        "{}",
        letters[0]
    );
    assert_eq!(
        letters[0]["headers"],
        serde_json::json!([{"key": "trace", "value": "t-1"}])
    );
    assert_eq!(letters[1]["offset"], 14);
    assert_eq!(
        (
            letters[1]["error"]["cause"].as_str(),
            letters[1]["error"]["reason"].as_str()
        ),
        (Some("route"), Some("field `app` is missing"))
    );
    assert_eq!(
        letters[1]["value"], r#"{"id":5,"time":"2024-03-01T16:00:00Z"}"#,
        "the original bytes"
    );
}

#[tokio::test]
async fn without_a_dead_letter_prefix_an_unroutable_record_fails_the_invocation_naming_it() {
    let env = [&ORDERS_ROUTING[..], &[("csv_columns", "id")]].concat();
    let (sink, bucket) = s3_sink(&env).await;
    let event = orders_event();
    let e = run_staged(&sink, &env, &event).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.to_string().contains("orders/0/13") && e.to_string().contains("transform:"),
        "{e}"
    );
    // Without the record the stage rejects, the record missing `app` is what stops the batch.
    let staged_ok = event.replace(
        &base64_of("not json"),
        &base64_of(r#"{"app":"pay","time":"2024-03-01T16:00:00Z"}"#),
    );
    let e = run_staged(&sink, &env, &staged_ok).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.to_string()
            .contains("record orders/0/14: object key: field `app` is missing (set dead_letter_prefix"),
        "{e}"
    );
    assert!(objects(&s3(&sink), &bucket, "").await.is_empty(), "nothing is written");
}

#[tokio::test]
async fn an_object_above_the_part_size_goes_up_in_parts_byte_exact() {
    let (sink, bucket) = s3_sink(&[("part_size_bytes", "5242880")]).await;
    let (event, content) = large_event("big", 1200, 10_000); // 12 MB: three parts
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!(summary.written, 1200);
    let got = objects(&s3(&sink), &bucket, "").await;
    assert_eq!(got.len(), 1);
    let (key, bytes) = got.iter().next().unwrap();
    assert!(key.ends_with("big+0+0000000000000000000.txt"), "{key}");
    assert!(
        bytes == content.as_bytes(),
        "object differs: {} vs {} bytes",
        bytes.len(),
        content.len()
    );
    let head = s3(&sink).head_object().bucket(&bucket).key(key).send().await.unwrap();
    assert!(
        head.e_tag().unwrap_or_default().ends_with("-3\""),
        "not a 3-part upload: {:?}",
        head.e_tag()
    );
}

#[tokio::test]
async fn objects_roll_over_at_partition_max_to_cos_bytes_on_record_boundaries() {
    let (sink, bucket) = s3_sink(&[("partition_max_to_cos_bytes", "35000")]).await;
    let (event, content) = large_event("roll", 10, 10_000); // 10 records of 10,001 bytes: 3 per object
    run(&sink, &event).await.unwrap();
    let got = objects(&s3(&sink), &bucket, "").await;
    let starts: Vec<&str> = got.keys().map(|k| &k[k.len() - 23..k.len() - 4]).collect();
    assert_eq!(
        starts,
        [
            "0000000000000000000",
            "0000000000000000003",
            "0000000000000000006",
            "0000000000000000009"
        ]
    );
    assert!(got.values().all(|b| b.len() <= 35_000));
    assert_eq!(got.values().flatten().copied().collect::<Vec<u8>>(), content.as_bytes());
}

/// An SCF CKafka event of `offsets` on `topic`/0, each record's body naming its offset (`size` bytes).
fn scf_offsets(topic: &str, offsets: impl IntoIterator<Item = i64>, size: usize) -> String {
    let records: Vec<Value> = offsets
        .into_iter()
        .map(|offset| {
            let body = format!("{offset:08}{}", "x".repeat(size.saturating_sub(8)));
            serde_json::json!({"Ckafka": {"topic": topic, "partition": 0, "offset": offset, "msgKey": "None", "msgBody": body}})
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// Every offset of partition 0 in the data objects, with how many objects hold it.
async fn offsets_written(sink: &CosSink, bucket: &str) -> BTreeMap<i64, usize> {
    let got = objects(&s3(sink), bucket, "").await;
    coverage(&got).into_iter().map(|((_, offset), n)| (offset, n)).collect()
}

fn once(offsets: impl IntoIterator<Item = i64>) -> BTreeMap<i64, usize> {
    offsets.into_iter().map(|o| (o, 1)).collect()
}

/// Re-deliveries that start at another offset, arrive out of order, or cross a rollover: every offset ends
/// in exactly one object, and what an earlier delivery wrote is counted as skipped.
#[tokio::test]
async fn a_redelivery_starting_at_another_offset_writes_each_offset_once() {
    let (sink, bucket) = s3_sink(&[("content_format", "json")]).await;
    let first = run(&sink, &scf_offsets("t", 10..=20, 20)).await.unwrap();
    assert_eq!((first.written, first.skipped), (11, 0));
    let overlapping = run(&sink, &scf_offsets("t", 15..=25, 20)).await.unwrap();
    assert_eq!((overlapping.written, overlapping.skipped), (5, 6));
    let older = run(&sink, &scf_offsets("t", [5, 3, 4], 20)).await.unwrap();
    assert_eq!(older.written, 3, "offsets below every written one are still written");
    let reordered = run(&sink, &scf_offsets("t", [3, 4, 5], 20)).await.unwrap();
    assert_eq!((reordered.written, reordered.skipped), (0, 3));
    assert_eq!(offsets_written(&sink, &bucket).await, once((3..=5).chain(10..=25)));

    let (sink, bucket) = s3_sink(&[("content_format", "json"), ("partition_max_to_cos_bytes", "35000")]).await;
    run(&sink, &scf_offsets("roll", 0..10, 10_000)).await.unwrap();
    let again = run(&sink, &scf_offsets("roll", 3..13, 10_000)).await.unwrap();
    assert_eq!((again.written, again.skipped), (3, 7));
    assert_eq!(offsets_written(&sink, &bucket).await, once(0..13));
}

/// Eight invocations of one partition at once, each a process of its own (a sink of its own) on one
/// `file://` bucket, their batches overlapping: they take the partition's lease in turn, and every offset ends in
/// one object. (A file system's hard link is an atomic create-if-absent, as S3's and COS's conditional PUTs are;
/// s3s-fs checks `If-None-Match` and then writes, so racing creates can both succeed there.)
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_invocations_of_a_partition_write_each_offset_once() {
    let dir = std::env::temp_dir().join(unique("ckd-overlap"));
    let address = format!("file://{}", dir.display());
    let env = [("bucket_address", address.as_str()), ("content_format", "json")];
    // Another invocation holds the partition until all eight have started: they meet in flight, then take the
    // lease in whatever order they get it.
    let holder = dir.join(lease_key("", "kafka", "burst", 0, Fenced::Partition, 1));
    let lease = Lease {
        topic: "burst".into(),
        partition: 0,
        offset: None,
        attempt: 1,
        holder: "test".into(),
        expires_ms: ckafka_dump_core::time::now_epoch_ms() + 60_000,
    };
    std::fs::create_dir_all(holder.parent().unwrap()).unwrap();
    std::fs::write(&holder, lease.to_json()).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let sink = CosSink::new(CosConfig::from_env(&Env::from_pairs(&env)).unwrap()).unwrap();
            let event = scf_offsets("burst", i * 100..i * 100 + 150, 200);
            spawn_timed(async move { run(&sink, &event).await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(&holder).unwrap();
    let results = join_overlapping(tasks).await;
    let written: usize = results.iter().map(|s| s.written).sum();
    let skipped: usize = results.iter().map(|s| s.skipped).sum();
    assert_eq!((written, skipped), (850, 350));
    let mut held = BTreeMap::new();
    let mut leases = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if name.contains(".leases/") {
                leases.push(name);
            } else if !name.contains("/.ckafka-dump/") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let record: Value = serde_json::from_str(line).unwrap();
                    *held.entry(record["offset"].as_i64().unwrap()).or_insert(0) += 1;
                }
            }
        }
    }
    assert_eq!(held, once(0..850));
    assert_eq!(leases, Vec::<String>::new(), "every lease let go");
}

#[tokio::test]
async fn gzip_and_zstd_json_lines_round_trip_with_content_encoding() {
    for (compression, extension) in [("gzip", ".jsonl.gz"), ("zstd", ".jsonl.zst")] {
        let (sink, bucket) = s3_sink(&[("content_format", "json"), ("compression_type", compression)]).await;
        run(&sink, MSK).await.unwrap();
        let got = objects(&s3(&sink), &bucket, "").await;
        let key = "dump/kafka/mytopic/2018-12-17/mytopic+0+0000000000000000015".to_owned() + extension;
        let stored = &got[&key];
        let mut plain = Vec::new();
        match compression {
            "gzip" => {
                flate2::read::GzDecoder::new(&stored[..])
                    .read_to_end(&mut plain)
                    .unwrap();
            }
            _ => plain = zstd::decode_all(&stored[..]).unwrap(),
        }
        let lines: Vec<Value> = text(&plain).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["offset"], 15);
        assert_eq!(lines[0]["topic"], "mytopic");
        assert_eq!(lines[0]["value"], "Hello, this is a test.");
        assert_eq!(lines[0]["timestamp"], 1545084650987i64);
        let head = s3(&sink).head_object().bucket(&bucket).key(&key).send().await.unwrap();
        assert_eq!(head.content_encoding(), Some(compression));
    }
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_permanent_error_without_the_secret() {
    let bucket = unique("ckd");
    let (address, endpoint) = (format!("s3://{bucket}"), endpoint());
    let env = Env::from_pairs(&[
        ("bucket_address", &address),
        ("endpoint_url", &endpoint),
        ("TENCENTCLOUD_SECRETID", &access_key()),
        ("TENCENTCLOUD_SECRETKEY", "not-the-secret-42"),
    ]);
    let sink = CosSink::new(CosConfig::from_env(&env).unwrap()).unwrap();
    let error = run(&sink, MSK).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("PutObject") && message.contains("HTTP 403"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret-42"), "{message}");
    assert!(!error.is_retryable(), "{message}");
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_the_invocation_as_retryable() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let env = Env::from_pairs(&[
        ("bucket_address", "s3://nowhere"),
        ("endpoint_url", &endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIA"),
        ("AWS_SECRET_ACCESS_KEY", "sk"),
    ]);
    let sink = CosSink::new(CosConfig::from_env(&env).unwrap()).unwrap();
    let error = run(&sink, MSK).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("PutObject"), "{error}");
}

#[tokio::test]
async fn a_file_directory_gets_the_same_keys_and_bytes() {
    let dir = std::env::temp_dir().join(unique("ckd-file"));
    let address = format!("file://{}", dir.display());
    let sink = CosSink::new(CosConfig::from_env(&Env::from_pairs(&[("bucket_address", &address)])).unwrap()).unwrap();
    let (event, content) = large_event("local", 700, 10_000); // 7 MB: the multipart path on files too
    for _ in 0..2 {
        run(&sink, &event).await.unwrap();
    }
    run(&sink, MSK).await.unwrap();
    let files = files_under(&dir);
    let today = ckafka_dump_core::time::DateTime::now().date();
    assert_eq!(
        files,
        [
            ".ckafka-dump/kafka/local/0.dates.json".to_owned(),
            ".ckafka-dump/kafka/local/0.written.json".to_owned(),
            ".ckafka-dump/kafka/mytopic/0.written.json".to_owned(),
            ".ckafka-dump/kafka/mytopic/1.written.json".to_owned(),
            format!("kafka/local/{today}/local+0+0000000000000000000.txt"),
            "kafka/mytopic/2018-12-17/mytopic+0+0000000000000000015.txt".to_owned(),
            "kafka/mytopic/2018-12-17/mytopic+1+0000000000000000003.txt".to_owned(),
        ]
    );
    assert!(std::fs::read(dir.join(&files[4])).unwrap() == content.as_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- scheduled mode ----

fn bootstrap() -> String {
    setting("CKD_KAFKA_BOOTSTRAP")
}

async fn kafka() -> Client {
    let broker = bootstrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        ClientBuilder::new(vec![broker.clone()]).build(),
    )
    .await
    .unwrap_or_else(|_| panic!("broker {broker} did not answer"))
    .unwrap_or_else(|e| panic!("broker {broker} unreachable: {e}"))
}

/// A new topic of `partitions` partitions.
async fn topic(client: &Client, partitions: i32) -> String {
    let topic = unique("dump");
    client
        .controller_client()
        .unwrap()
        .create_topic(&topic, partitions, 1, 5_000)
        .await
        .unwrap();
    topic
}

/// Produces `count` records to `topic`/`partition`, values `p<partition>-<n>`, timestamps `base + n` s.
async fn produce(client: &Client, topic: &str, partition: i32, from: usize, count: usize, base_ms: i64) {
    let pc = client
        .partition_client(topic, partition, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let records: Vec<Record> = (from..from + count)
        .map(|n| Record {
            key: Some(format!("k{n}").into_bytes()),
            value: Some(format!("p{partition}-{n:06}").into_bytes()),
            headers: Vec::new(),
            timestamp: rskafka::chrono::DateTime::from_timestamp_millis(base_ms + n as i64 * 1000).unwrap(),
        })
        .collect();
    for chunk in records.chunks(500) {
        pc.produce(chunk.to_vec(), Compression::NoCompression).await.unwrap();
    }
}

async fn scheduled_sink(topic: &str, extra: &[(&str, &str)]) -> (CosSink, String) {
    scheduled_sink_at(&endpoint(), topic, extra).await
}

async fn scheduled_sink_at(endpoint: &str, topic: &str, extra: &[(&str, &str)]) -> (CosSink, String) {
    let broker = bootstrap();
    let mut pairs = vec![
        ("kafka_address", broker.as_str()),
        ("topic_name", topic),
        ("content_format", "json"),
        ("consumer_timeout_ms", "500"),
    ];
    pairs.retain(|(name, _)| !extra.iter().any(|(set, _)| set == name));
    pairs.extend_from_slice(extra);
    s3_sink_at(endpoint, &pairs).await
}

/// (partition, offset) → how many objects hold it, from the JSON lines of every data object.
fn coverage(objects: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(i64, i64), usize> {
    let mut seen = BTreeMap::new();
    for (key, bytes) in objects {
        if key.contains("/.ckafka-dump/") {
            continue;
        }
        for line in text(bytes).lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            let at = (
                record["partition"].as_i64().unwrap(),
                record["offset"].as_i64().unwrap(),
            );
            *seen.entry(at).or_insert(0) += 1;
        }
    }
    seen
}

async fn checkpoint(sink: &CosSink, topic: &str, partition: i32) -> Option<Checkpoint> {
    let key = checkpoint_key("dump/", "kafka", topic, partition);
    let body = sink.objects().store.get(&key).await.unwrap()?;
    Some(serde_json::from_slice(&body).unwrap())
}

/// Every offset below each partition's checkpoint is in exactly one object, and nothing else is.
async fn assert_exactly_once(sink: &CosSink, bucket: &str, topic: &str, partitions: i32, start: i64) {
    let got = coverage(&objects(&s3(sink), bucket, "dump/").await);
    let mut expected = BTreeMap::new();
    for partition in 0..partitions {
        let next = checkpoint(sink, topic, partition).await.unwrap().next_offset;
        for offset in start..next {
            expected.insert((partition as i64, offset), 1);
        }
    }
    if got != expected {
        let missing: Vec<_> = expected.keys().filter(|at| !got.contains_key(*at)).collect();
        let repeated: Vec<_> = got.iter().filter(|(_, &n)| n > 1).collect();
        let extra: Vec<_> = got.keys().filter(|at| !expected.contains_key(*at)).collect();
        panic!(
            "not exactly once: {} (partition, offset) in no object (first {:?}), {} in more than one (first {:?}), {} past the checkpoints (first {:?})",
            missing.len(),
            &missing[..missing.len().min(5)],
            repeated.len(),
            &repeated[..repeated.len().min(5)],
            extra.len(),
            &extra[..extra.len().min(5)],
        );
    }
}

#[tokio::test]
async fn a_timer_drains_every_partition_from_earliest_and_resumes_from_its_checkpoint() {
    let client = kafka().await;
    let topic = topic(&client, 2).await;
    for partition in 0..2 {
        produce(&client, &topic, partition, 0, 300, 1_700_000_000_000).await;
    }
    let (sink, bucket) = scheduled_sink(&topic, &[]).await;
    let summary = run(&sink, TIMER).await.unwrap();
    assert_eq!((summary.records, summary.written), (600, 600));
    assert_eq!(checkpoint(&sink, &topic, 1).await.unwrap().next_offset, 300);
    assert_exactly_once(&sink, &bucket, &topic, 2, 0).await;

    produce(&client, &topic, 0, 300, 50, 1_700_000_000_000).await;
    assert_eq!(run(&sink, TIMER).await.unwrap().records, 50);
    assert_eq!(checkpoint(&sink, &topic, 0).await.unwrap().next_offset, 350);
    assert_exactly_once(&sink, &bucket, &topic, 2, 0).await;
    let keys = objects(&s3(&sink), &bucket, "dump/kafka/")
        .await
        .into_keys()
        .collect::<Vec<_>>();
    assert!(
        keys.contains(&format!(
            "dump/kafka/{topic}/2023-11-14/{topic}+0+0000000000000000300.jsonl"
        )),
        "{keys:?}"
    );

    let idle = run(&sink, TIMER).await.unwrap();
    assert_eq!(idle.records, 0);
    assert_eq!(objects(&s3(&sink), &bucket, "dump/kafka/").await.len(), keys.len());
}

#[tokio::test]
async fn offset_type_as_a_timestamp_starts_at_the_first_record_at_or_after_it() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    let base = 1_700_000_000_000;
    produce(&client, &topic, 0, 0, 100, base).await;
    let at = (base + 40_000).to_string(); // record 40's timestamp
    let (sink, bucket) = scheduled_sink(&topic, &[("offset_type", &at)]).await;
    assert_eq!(run(&sink, TIMER).await.unwrap().records, 60);
    assert_exactly_once(&sink, &bucket, &topic, 1, 40).await;
}

#[tokio::test]
async fn a_run_that_died_between_object_and_checkpoint_rewrites_the_same_key() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    produce(&client, &topic, 0, 0, 400, 1_700_000_000_000).await;
    // JSON lines of ~115 bytes: about 100 records per object, four objects or so per run.
    let (sink, bucket) = scheduled_sink(&topic, &[("partition_max_to_cos_bytes", "11500")]).await;
    run(&sink, TIMER).await.unwrap();
    let complete = objects(&s3(&sink), &bucket, "dump/kafka/").await;
    let keys: Vec<&String> = complete.keys().collect();
    let n = keys.len();
    assert!(n >= 3, "{keys:?}");

    // Put the bucket in the state of a run killed after writing its next-to-last object, before that
    // object's checkpoint: the last object never written, the checkpoint after the one before.
    s3(&sink)
        .delete_object()
        .bucket(&bucket)
        .key(keys[n - 1])
        .send()
        .await
        .unwrap();
    let killed_at = keys[n - 2];
    let killed_start: i64 = killed_at[killed_at.len() - 25..killed_at.len() - 6].parse().unwrap();
    let stale = Checkpoint {
        next_offset: killed_start,
        last_object: Some(keys[n - 3].clone()),
        ..checkpoint(&sink, &topic, 0).await.unwrap()
    };
    let checkpoint_key = checkpoint_key("dump/", "kafka", &topic, 0);
    s3(&sink)
        .put_object()
        .bucket(&bucket)
        .key(&checkpoint_key)
        .body(serde_json::to_vec(&stale).unwrap().into())
        .send()
        .await
        .unwrap();

    produce(&client, &topic, 0, 400, 10, 1_700_000_000_000).await;
    assert_eq!(run(&sink, TIMER).await.unwrap().records as i64, 410 - killed_start);
    assert_eq!(checkpoint(&sink, &topic, 0).await.unwrap().next_offset, 410);
    assert_exactly_once(&sink, &bucket, &topic, 1, 0).await;
    let after = objects(&s3(&sink), &bucket, "dump/kafka/").await;
    assert_eq!(after.keys().take(n - 1).collect::<Vec<_>>(), keys[..n - 1]);
}

#[tokio::test]
async fn a_time_limit_that_leaves_nothing_beyond_the_upload_reserve_is_an_error_not_a_silent_no_op() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    produce(&client, &topic, 0, 0, 10, 1_700_000_000_000).await;
    let (sink, _) = scheduled_sink(&topic, &[]).await;
    // SCF's default time limit (3 s) is less than the reserve of 5 s plus a 16 MiB part at 50 MiB/s.
    let error = invoke(
        &Function::new(&sink),
        TIMER,
        Deadline::after(Duration::from_secs(3)),
        "test",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("is no more than the upload reserve") && error.contains("raise the function's timeout"),
        "{error}"
    );
}

#[tokio::test]
async fn a_timer_without_kafka_settings_names_the_missing_variable() {
    let (sink, _) = s3_sink(&[]).await;
    let error = run(&sink, TIMER).await.unwrap_err();
    assert!(error.to_string().contains("kafka_address"), "{error}");
}

#[tokio::test]
async fn runs_cut_off_at_any_point_then_re_run_leave_every_offset_in_exactly_one_object() {
    let client = kafka().await;
    let topic = topic(&client, 2).await;
    let (sink, bucket) = scheduled_sink(&topic, &[("partition_max_to_cos_bytes", "20000")]).await;
    let sink = sink.with_clock(test_clock);
    NOW_MS.with(|now| now.set(ckafka_dump_core::time::now_epoch_ms()));
    let mut produced = 0;
    // Each run is abandoned after `cut_ms`, as if the function were killed there: between an object and
    // its checkpoint, mid-fetch, mid-upload. Only what is in the bucket carries over — the leases of the
    // partitions it held included, so each next timer comes an hour later, when they have expired.
    for (round, cut_ms) in [3u64, 10, 25, 40, 70, 110, 160, 240].into_iter().enumerate() {
        for partition in 0..2 {
            produce(&client, &topic, partition, produced, 1500, 1_700_000_000_000).await;
        }
        produced += 1500;
        let cut = tokio::time::timeout(Duration::from_millis(cut_ms), run(&sink, TIMER)).await;
        eprintln!("round {round}: cut after {cut_ms} ms, finished: {}", cut.is_ok());
        NOW_MS.with(|now| now.set(now.get() + 3_600_000));
    }
    loop {
        let summary = run(&sink, TIMER).await.unwrap();
        if summary.records == 0 {
            break;
        }
    }
    for partition in 0..2 {
        assert_eq!(
            checkpoint(&sink, &topic, partition).await.unwrap().next_offset,
            produced as i64
        );
    }
    assert_exactly_once(&sink, &bucket, &topic, 2, 0).await;
}

#[tokio::test]
async fn overlapping_runs_while_producing_leave_every_offset_in_exactly_one_object() {
    let client = kafka().await;
    let topic = topic(&client, 2).await;
    // One object per partition per run: overlapping runs would write the same key with different ends.
    // Through the fault proxy, which passes conditional creates one at a time: S3 and COS make them atomic,
    // s3s-fs checks and writes in two steps (two runs racing for one lease could both get it).
    let proxy = FaultProxy::start(&endpoint());
    let (sink, bucket) = scheduled_sink_at(&proxy.url, &topic, &[]).await;
    let producing = async {
        for round in 0..60 {
            for partition in 0..2 {
                produce(&client, &topic, partition, round * 50, 50, 1_700_000_000_000).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Timers that fire while the last run still drains: three runs started 30 ms apart, over and over.
    let sink = &sink;
    let overlapping = async {
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            let runs = (0..3u64).map(|i| async move {
                tokio::time::sleep(Duration::from_millis(30 * i)).await;
                run(sink, TIMER).await.unwrap()
            });
            outcomes.extend(futures_util::future::join_all(runs).await);
        }
        outcomes
    };
    let ((), outcomes) = tokio::join!(producing, overlapping);
    loop {
        if run(sink, TIMER).await.unwrap().records == 0 {
            break;
        }
    }
    for partition in 0..2 {
        assert_eq!(checkpoint(sink, &topic, partition).await.unwrap().next_offset, 3000);
    }
    assert_exactly_once(sink, &bucket, &topic, 2, 0).await;
    let leases = leases(sink, &bucket).await;
    assert!(leases.is_empty(), "every run let its leases go: {leases:?}");
    let held_elsewhere: usize = outcomes.iter().map(|s| s.partitions_held_elsewhere).sum();
    eprintln!(
        "partitions found held by another run: {held_elsewhere} in {} runs",
        outcomes.len()
    );
    assert!(
        held_elsewhere > 0,
        "the runs overlapped: some found a partition another run held"
    );
}

#[tokio::test]
async fn a_store_that_ignores_create_if_absent_stops_the_scheduled_dump_before_it_writes() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    produce(&client, &topic, 0, 0, 10, 1_700_000_000_000).await;
    let proxy = FaultProxy::start(&endpoint());
    let (sink, bucket) = scheduled_sink_at(&proxy.url, &topic, &[]).await;
    // As a COS bucket with versioning answers: every create succeeds, an existing key or not.
    proxy.control("unconditional", "{}");
    let error = run(&sink, TIMER).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("overwrote an object that a create-if-absent") && text.contains("without versioning"),
        "{text}"
    );
    assert!(!error.is_retryable());
    assert!(
        objects(&s3(&sink), &bucket, "dump/").await.is_empty(),
        "nothing written"
    );
    proxy.control("off", "{}");
    assert_eq!(
        run(&sink, TIMER).await.unwrap().records,
        10,
        "a store that fences: the dump runs"
    );
}

#[tokio::test]
async fn a_lease_left_by_a_run_that_died_holds_until_it_expires_then_the_next_run_takes_over() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    produce(&client, &topic, 0, 0, 100, 1_700_000_000_000).await;
    let (sink, bucket) = scheduled_sink(&topic, &[]).await;
    let sink = sink.with_clock(test_clock);
    let now = ckafka_dump_core::time::now_epoch_ms();
    NOW_MS.with(|clock| clock.set(now));
    // A run that died holding offset 0: its lease expires a minute from now.
    let dead = Lease {
        topic: topic.clone(),
        partition: 0,
        offset: Some(0),
        attempt: 1,
        holder: "died".into(),
        expires_ms: now + 60_000,
    };
    let dead_key = lease_key("dump/", "kafka", &topic, 0, Fenced::Offset(0), 1);
    s3(&sink)
        .put_object()
        .bucket(&bucket)
        .key(&dead_key)
        .body(dead.to_json().into())
        .send()
        .await
        .unwrap();
    let held = run(&sink, TIMER).await.unwrap();
    assert_eq!(
        (held.records, held.partitions_held_elsewhere),
        (0, 1),
        "the lease still holds"
    );
    NOW_MS.with(|clock| clock.set(now + 61_000));
    assert_eq!(run(&sink, TIMER).await.unwrap().records, 100, "expired: taken over");
    assert_exactly_once(&sink, &bucket, &topic, 1, 0).await;
    let left = leases(&sink, &bucket).await;
    assert!(left.is_empty(), "the expired lease was removed too: {left:?}");
}

// ---- faults ----

#[tokio::test]
async fn a_part_refused_with_5xx_fails_the_invocation_aborts_the_upload_and_redelivery_writes_one_object() {
    let proxy = FaultProxy::start(&endpoint());
    let (sink, bucket) = s3_sink_at(&proxy.url, &[("part_size_bytes", "5242880")]).await;
    let (event, content) = large_event("faulty", 1200, 10_000); // 12 MB: three parts
    proxy.control("fail", r#"{"match": "^PUT .*partNumber=2", "status": 503}"#);
    let error = run(&sink, &event).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("UploadPart") && message.contains("503"), "{message}");
    assert!(error.is_retryable(), "{message}");
    assert!(objects(&s3(&sink), &bucket, "").await.is_empty());
    let seen: Value = serde_json::from_str(&proxy.control("seen", "")).unwrap();
    let upload_ids: Vec<&str> = seen["upload_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(upload_ids.len(), 1, "{seen}");
    assert!(
        !upload_is_open(upload_ids[0]),
        "the failed upload {} was left open",
        upload_ids[0]
    );

    // The trigger re-delivers the batch once the store is healthy: exactly one object, byte-exact.
    proxy.control("off", "");
    run(&sink, &event).await.unwrap();
    let got = objects(&s3(&sink), &bucket, "").await;
    assert_eq!(got.len(), 1);
    assert!(got.values().next().unwrap() == content.as_bytes());
    let seen: Value = serde_json::from_str(&proxy.control("seen", "")).unwrap();
    for id in seen["upload_ids"].as_array().unwrap() {
        assert!(!upload_is_open(id.as_str().unwrap()), "{id} left open");
    }
}

/// Whether s3s-fs still holds the multipart upload `id` (it keeps `.upload-<id>.json` while one is open).
fn upload_is_open(id: &str) -> bool {
    let default = repo_root().join(".services/s3-data");
    let dir = var("CKD_S3_DATA", &default.to_string_lossy());
    assert!(
        std::path::Path::new(&dir).is_dir(),
        "s3s-fs directory {dir} not found (scripts/services.sh sets CKD_S3_DATA)"
    );
    std::path::Path::new(&dir).join(format!(".upload-{id}.json")).exists()
}

// ---- poison records ----

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn routing_values_that_would_leave_the_bucket_or_pass_the_key_limit_stay_inside_or_go_to_dead_letters() {
    // The bucket is a directory inside `parent`: nothing may appear in `parent` beside it.
    let parent = std::env::temp_dir().join(unique("ckd-escape"));
    let dir = parent.join("bucket");
    let address = format!("file://{}", dir.display());
    let env = [
        ("bucket_address", address.as_str()),
        ("object_key_template", "{field:app}/{topic}+{partition}+{start_offset}"),
        ("content_format", "json"),
        ("dead_letter_prefix", "dead/"),
    ];
    let sink = CosSink::new(CosConfig::from_env(&Env::from_pairs(&env)).unwrap()).unwrap();
    let long = "a".repeat(2000);
    let values = [
        r#"{"app":".."}"#.to_owned(),
        r#"{"app":"."}"#.to_owned(),
        r#"{"app":""}"#.to_owned(),
        r#"{"app":"../../x"}"#.to_owned(),
        format!(r#"{{"app":"{long}"}}"#),
        r#"{"app":"ok"}"#.to_owned(),
    ];
    let records: Vec<AwsRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, 1_700_000_000_000, None, Some(v.as_str())))
        .collect();
    let event = aws_event("esc", 0, &records, &[]);
    let summary = run_staged(&sink, &env, &event).await.unwrap();
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (4, 2),
        "an empty value names nothing and the 2,000-character one passes the key limit: the records' fault"
    );
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        1,
        "nothing beside the bucket"
    );
    let files: Vec<String> = files_under(&dir)
        .into_iter()
        .filter(|f| !f.starts_with(".ckafka-dump/"))
        .collect();
    assert_eq!(
        files,
        [
            ".._.._x/esc+0+0000000000000000003.jsonl",
            "_/esc+0+0000000000000000001.jsonl",
            "__/esc+0+0000000000000000000.jsonl",
            "dead/esc+0+0000000000000000002.jsonl",
            "ok/esc+0+0000000000000000005.jsonl",
        ]
    );
    let letters: Vec<Value> = text(&std::fs::read(dir.join("dead/esc+0+0000000000000000002.jsonl")).unwrap())
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        (letters[0]["offset"].as_i64(), letters[1]["offset"].as_i64()),
        (Some(2), Some(4))
    );
    let error = letters[1]["error"]["reason"].as_str().unwrap();
    assert!(error.contains("longer than the 1024 the store accepts"), "{error}");
    let again = run_staged(&sink, &env, &event).await.unwrap();
    assert_eq!((again.written, again.dead_lettered, again.skipped), (0, 0, 6));
    std::fs::remove_dir_all(&parent).unwrap();
}

#[tokio::test]
async fn csv_cells_keep_every_digit_of_a_number() {
    let env = [
        ("content_format", "csv"),
        ("csv_columns", "n,m,f,i"),
        ("object_key_template", "{topic}+{partition}+{start_offset}"),
    ];
    let (sink, bucket) = s3_sink(&env).await;
    let value = r#"{"n":1e400,"m":123456789012345678901234567890,"f":0.1000000000000000055511151231257827,"i":-0}"#;
    let event = aws_event("nums", 0, &[(0, 1_700_000_000_000, None, Some(value))], &[]);
    run_staged(&sink, &env, &event).await.unwrap();
    let got = objects(&s3(&sink), &bucket, "").await;
    let body = &got["dump/nums+0+0000000000000000000.csv"];
    let mut reader = csv::Reader::from_reader(&body[..]);
    let row: Vec<String> = reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        row,
        [
            "1e+400",
            "123456789012345678901234567890",
            "0.1000000000000000055511151231257827",
            "-0"
        ],
        "the numbers as JSON wrote them (serde_json writes an exponent with its sign)"
    );
}

/// An MSK event of `values` on `prop`/0, each at the offset of its place.
fn poison_event(values: &[ckafka_dump_testkit::PoisonValue]) -> String {
    let records: Vec<AwsRecord> = values
        .iter()
        .enumerate()
        .map(|(i, p)| (i as i64, 1_700_000_000_000, None, Some(p.value.as_str())))
        .collect();
    aws_event("prop", 0, &records, &[])
}

/// Random poison records (testkit's generator, several seeds) routed by a field, with dead letters on: every
/// offset is in exactly one object — a data object or a dead letter — every plain record in a data object, and
/// a re-delivery writes nothing.
#[tokio::test]
async fn random_poison_records_land_once_each_in_data_or_dead_letter_objects() {
    use ckafka_dump_testkit::{poison_seeds, poison_values};
    let env = [
        (
            "object_key_template",
            "{field:t}/{field:s}/{topic}+{partition}+{start_offset}",
        ),
        ("content_format", "json"),
        ("dead_letter_prefix", "dead/"),
    ];
    for seed in poison_seeds() {
        let (sink, bucket) = s3_sink(&env).await;
        let generated = poison_values(seed, 200);
        let event = poison_event(&generated);
        let summary = run_staged(&sink, &env, &event)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut landed: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (key, body) in objects(&s3(&sink), &bucket, "").await {
            for line in text(&body).lines() {
                let line: Value = serde_json::from_str(line).unwrap();
                landed
                    .entry(line["offset"].as_i64().unwrap())
                    .or_default()
                    .push(key.clone());
            }
        }
        let dead = landed.values().filter(|keys| keys[0].starts_with("dead/")).count();
        eprintln!("seed {seed}: {summary:?}");
        assert_eq!(
            (summary.written + summary.dead_lettered, summary.dead_lettered),
            (200, dead),
            "seed {seed}"
        );
        for (offset, generated) in generated.iter().enumerate() {
            let keys = &landed[&(offset as i64)];
            assert_eq!(keys.len(), 1, "seed {seed}: offset {offset} in {keys:?}");
            if generated.plain {
                assert!(
                    !keys[0].starts_with("dead/"),
                    "seed {seed}: plain {} dead-lettered",
                    generated.value
                );
            }
        }
        let again = run_staged(&sink, &env, &event).await.unwrap();
        assert_eq!(
            (again.written, again.dead_lettered, again.skipped),
            (0, 0, 200),
            "seed {seed}"
        );
    }
}

/// The scheduled dump keeps what a restore needs: a fetched record's headers, and no 1969 for Kafka's "no
/// timestamp" — an undated record is dated when first seen, from the partition's ledger, so a re-run keeps it.
#[tokio::test]
async fn the_scheduled_dump_keeps_headers_in_order_with_repeats_and_nulls_and_dates_an_undated_record_when_first_seen()
{
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    let pc = client
        .partition_client(&topic, 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let record = |value: &str, millis: i64| Record {
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: vec![
            ("trace".to_owned(), Some(b"t-1".to_vec())),
            ("bin".to_owned(), Some(vec![0xff])),
            ("trace".to_owned(), Some(b"t-2".to_vec())),
            ("nil".to_owned(), None),
        ],
        timestamp: rskafka::chrono::DateTime::from_timestamp_millis(millis).unwrap(),
    };
    // The object's key follows its first record: the undated one.
    pc.produce(
        vec![record("undated", -1), record("dated", 1_700_000_000_000)],
        Compression::NoCompression,
    )
    .await
    .unwrap();
    let (sink, bucket) = scheduled_sink(&topic, &[]).await;
    assert_eq!(run(&sink, TIMER).await.unwrap().written, 2);
    let got = objects(&s3(&sink), &bucket, "dump/").await;
    let keys: Vec<&String> = got.keys().collect();
    assert!(
        keys.iter().all(|k| !k.contains("1969-") && !k.contains("1970-")),
        "{keys:?}"
    );
    let today = ckafka_dump_core::time::DateTime::now().date();
    assert!(keys.len() == 1 && keys[0].contains(&format!("/{today}/")), "{keys:?}");
    let lines: Vec<Value> = got
        .values()
        .flat_map(|body| {
            text(body)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect();
    for line in &lines {
        assert_eq!(
            line["headers"],
            serde_json::json!([{"key": "trace", "value": "t-1"}, {"key": "bin", "value": "/w==", "value_encoding": "base64"},
                {"key": "trace", "value": "t-2"}, {"key": "nil", "value": null}]),
            "{line}"
        );
    }
    let dated = lines.iter().find(|l| l["value"] == "dated").unwrap();
    assert_eq!(dated["timestampType"], "CREATE_TIME", "{dated}");
    let undated = lines.iter().find(|l| l["value"] == "undated").unwrap();
    assert!(
        undated["timestamp"].is_null() && undated["timestampType"].is_null(),
        "{undated}"
    );
    let ledger = bookkeeping(&s3(&sink), &bucket).await;
    assert!(
        ledger.iter().any(|k| k.ends_with(&format!("{topic}/0.dates.json"))),
        "{ledger:?}"
    );
}

// ---- Parquet ----

/// One record of [`raw_event`]: offset, key bytes, value bytes, headers.
type RawRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>, &'a [(&'a str, &'a [u8])]);

/// An MSK event of raw records on `topic`/0; timestamps are 1,700,000,000,000 ms plus the offset.
fn raw_event(topic: &str, records: &[RawRecord<'_>]) -> String {
    let b64 = |bytes: &[u8]| base64_simd::STANDARD.encode_to_string(bytes);
    let records: Vec<Value> = records
        .iter()
        .map(|(offset, key, value, headers)| {
            let headers: Vec<Value> = headers
                .iter()
                .map(|(name, value)| serde_json::json!({ *name: value.iter().map(|&b| b as i8).collect::<Vec<i8>>() }))
                .collect();
            let mut record = serde_json::json!({"topic": topic, "partition": 0, "offset": offset,
                "timestamp": 1_700_000_000_000i64 + offset, "timestampType": "CREATE_TIME", "headers": headers,
                "value": value.map(b64)});
            if let Some(key) = key {
                record["key"] = b64(key).into();
            }
            record
        })
        .collect();
    serde_json::json!({"eventSource": "aws:kafka", "records": {format!("{topic}-0"): records}}).to_string()
}

/// The bucket's Parquet objects under `prefix`, saved as files in a new directory; returns it and the files.
async fn parquet_files(sink: &CosSink, bucket: &str, prefix: &str) -> (std::path::PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(unique("ckd-parquet"));
    let mut files = Vec::new();
    for (key, bytes) in objects(&s3(sink), bucket, prefix).await {
        if key.ends_with(".parquet") {
            let path = dir.join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            files.push(path.to_string_lossy().into_owned());
        }
    }
    (dir, files)
}

/// Each file as pyarrow and duckdb read it; the two readers must agree on every row.
fn read_both(files: &[String]) -> Vec<Value> {
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let read = ckafka_dump_testkit::read_parquet(&args);
    let files = read["files"].as_array().unwrap().clone();
    for file in &files {
        assert_eq!(
            file["pyarrow"]["rows"], file["duckdb"]["rows"],
            "pyarrow and duckdb read {} differently",
            file["path"]
        );
    }
    files
}

fn schema(file: &Value, reader: &str) -> Vec<(String, String)> {
    let columns = file[reader]["schema"].as_array().unwrap();
    let pair = |c: &Value| (c[0].as_str().unwrap().to_owned(), c[1].as_str().unwrap().to_owned());
    columns.iter().map(pair).collect()
}

#[tokio::test]
async fn an_inferred_parquet_object_reads_back_the_same_in_pyarrow_and_duckdb() {
    let records: [RawRecord<'_>; 6] = [
        (
            100,
            Some(b"k1"),
            Some(br#"{"user":"ann","n":1,"score":1.5,"tags":["a","b"],"geo":{"lat":1.25}}"#),
            &[("h", b"1"), ("h", b"2")],
        ),
        (
            101,
            Some(&[0xff, 0x01]),
            Some(br#"{"user":"bob","n":2,"score":2,"extra":"only here"}"#),
            &[],
        ),
        (
            102,
            None,
            Some(br#"{"user":"cy","n":3,"score":null,"_kafka_offset":"mine"}"#),
            &[],
        ),
        (103, None, Some(b"plain text"), &[]),
        (104, None, Some(&[0x00, 0xff]), &[]),
        (105, None, None, &[]),
    ];
    let event = raw_event("clicks", &records);
    let (sink, bucket) = s3_sink(&[("content_format", "parquet")]).await;
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!((summary.records, summary.written), (6, 6));
    let (_dir, files) = parquet_files(&sink, &bucket, "dump/").await;
    assert_eq!(files.len(), 1, "one object for the batch");
    assert!(files[0].ends_with("clicks+0+0000000000000000100.parquet"), "{files:?}");
    let file = &read_both(&files)[0];
    let columns = [
        ("_kafka_topic", "string", "VARCHAR"),
        ("_kafka_partition", "int32", "INTEGER"),
        ("_kafka_offset", "int64", "BIGINT"),
        ("_kafka_timestamp", "timestamp[ms, tz=UTC]", "TIMESTAMP WITH TIME ZONE"),
        ("_kafka_key", "binary", "BLOB"),
        ("_kafka_headers", "extension<arrow.json>", "JSON"),
        ("user", "string", "VARCHAR"),
        ("n", "int64", "BIGINT"),
        ("score", "double", "DOUBLE"),
        ("tags", "extension<arrow.json>", "JSON"),
        ("geo", "extension<arrow.json>", "JSON"),
        ("extra", "string", "VARCHAR"),
        ("_kafka__kafka_offset", "string", "VARCHAR"),
        ("_kafka_value", "binary", "BLOB"),
    ];
    let expected = |i: usize| -> Vec<(String, String)> {
        columns
            .iter()
            .map(|c| (c.0.to_owned(), [c.1, c.2][i].to_owned()))
            .collect()
    };
    assert_eq!(schema(file, "pyarrow"), expected(0));
    assert_eq!(schema(file, "duckdb"), expected(1));
    let rows = file["pyarrow"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let column = |name: &str| rows.iter().map(|r| r[name].clone()).collect::<Vec<Value>>();
    let b64 = |bytes: &[u8]| serde_json::json!({"base64": base64_simd::STANDARD.encode_to_string(bytes)});
    assert_eq!(column("_kafka_offset"), (100..106).map(Value::from).collect::<Vec<_>>());
    assert_eq!(rows[0]["_kafka_timestamp"], "2023-11-14T22:13:20.100000");
    assert_eq!(column("_kafka_key")[..3], [b64(b"k1"), b64(&[0xff, 0x01]), Value::Null]);
    assert_eq!(
        rows[0]["_kafka_headers"],
        r#"[{"key":"h","value":"1"},{"key":"h","value":"2"}]"#
    );
    assert_eq!(rows[1]["_kafka_headers"], Value::Null);
    assert_eq!(
        column("n"),
        [1.into(), 2.into(), 3.into(), Value::Null, Value::Null, Value::Null]
    );
    assert_eq!(column("score")[..3], [1.5.into(), 2.0.into(), Value::Null]);
    assert_eq!(
        (rows[0]["tags"].clone(), rows[0]["geo"].clone()),
        (r#"["a","b"]"#.into(), r#"{"lat":1.25}"#.into())
    );
    assert_eq!(column("extra")[..2], [Value::Null, "only here".into()]);
    assert_eq!(
        rows[2]["_kafka__kafka_offset"], "mine",
        "a field named like a metadata column keeps its value"
    );
    assert_eq!(
        column("_kafka_value"),
        [
            Value::Null,
            Value::Null,
            Value::Null,
            b64(b"plain text"),
            b64(&[0x00, 0xff]),
            Value::Null
        ],
        "a value that is not a JSON object is kept whole; a tombstone has none"
    );
    // Doubles' min/max are written under Parquet's IEEE 754 total order, which duckdb reads and pyarrow 26
    // does not use yet.
    let with_min_max: Vec<bool> = columns.iter().map(|c| c.0 != "score").collect();
    assert_eq!(
        file["pyarrow"]["min_max"],
        serde_json::json!(with_min_max),
        "min/max statistics"
    );
    let path = file["path"].as_str().unwrap();
    let sql = format!(
        "select stats_min_value, stats_max_value from parquet_metadata('{path}') where path_in_schema = 'score'"
    );
    let score = &ckafka_dump_testkit::read_parquet(&["--sql", &sql])["rows"][0];
    assert_eq!(
        (&score["stats_min_value"], &score["stats_max_value"]),
        (&"1.5".into(), &"2.0".into())
    );
}

#[tokio::test]
async fn declared_parquet_columns_are_typed_a_value_they_cannot_take_is_a_dead_letter_and_objects_repeat_byte_for_byte()
{
    let records: [RawRecord<'_>; 4] = [
        (
            7,
            Some(&[0xfe]),
            Some(br#"{"id":1,"amount":"12.50","day":"2026-12-03","ok":true,"meta":{"a":[1]}}"#),
            &[("trace", b"t-1")],
        ),
        (
            8,
            Some(b"k"),
            Some(br#"{"id":2,"amount":0.07,"day":"1970-01-02","ok":false}"#),
            &[],
        ),
        (9, None, Some(br#"{"id":3,"amount":12.345,"day":"2026-12-03"}"#), &[]),
        (
            10,
            None,
            Some(br#"{"id":12345678901,"amount":-3,"day":null,"meta":"text"}"#),
            &[],
        ),
    ];
    let event = raw_event("orders", &records);
    let columns = "id:int64, amount:decimal(10,2), day:date, at=@timestamp:timestamp_us, key=@key:binary, \
                   trace=@header.trace:string, ok:boolean, meta:json, offset=@offset:int64";
    let env = [
        ("content_format", "parquet"),
        ("parquet_columns", columns),
        ("parquet_compression", "snappy"),
        ("dead_letter_prefix", "dead/"),
    ];
    let (sink, bucket) = s3_sink(&env).await;
    let summary = run(&sink, &event).await.unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (3, 1));
    let dead = objects(&s3(&sink), &bucket, "dead/").await;
    let letter: Value = serde_json::from_slice(&dead["dead/orders+0+0000000000000000009.jsonl"]).unwrap();
    assert_eq!(letter["error"]["cause"], "refused");
    assert_eq!(
        letter["error"]["reason"],
        "parquet column `amount` (decimal(10,2)): 12.345 has more than 2 decimals (decimal(10,2))"
    );
    let (_dir, files) = parquet_files(&sink, &bucket, "dump/").await;
    let file = &read_both(&files)[0];
    let types: Vec<String> = schema(file, "pyarrow").into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        [
            "int64",
            "decimal128(10, 2)",
            "date32[day]",
            "timestamp[us, tz=UTC]",
            "binary",
            "string",
            "bool",
            "extension<arrow.json>",
            "int64"
        ]
    );
    let duck: Vec<String> = schema(file, "duckdb").into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        duck,
        [
            "BIGINT",
            "DECIMAL(10,2)",
            "DATE",
            "TIMESTAMP WITH TIME ZONE",
            "BLOB",
            "VARCHAR",
            "BOOLEAN",
            "JSON",
            "BIGINT"
        ]
    );
    let rows = file["pyarrow"]["rows"].as_array().unwrap();
    let row = |i: usize, names: &[&str]| names.iter().map(|n| rows[i][*n].clone()).collect::<Vec<Value>>();
    let names = ["id", "amount", "day", "at", "trace", "ok", "meta", "offset"];
    assert_eq!(
        row(0, &names),
        serde_json::json!([
            1,
            "12.50",
            "2026-12-03",
            "2023-11-14T22:13:20.007000",
            "t-1",
            true,
            r#"{"a":[1]}"#,
            7
        ])
        .as_array()
        .unwrap()[..]
    );
    assert_eq!(rows[0]["key"], serde_json::json!({"base64": "/g=="}));
    assert_eq!(
        row(2, &names),
        serde_json::json!([
            12345678901i64,
            "-3.00",
            null,
            "2023-11-14T22:13:20.010000",
            null,
            null,
            "\"text\"",
            10
        ])
        .as_array()
        .unwrap()[..]
    );
    assert_eq!(rows.len(), 3);

    let object = objects(&s3(&sink), &bucket, "dump/").await;
    let (again, again_bucket) = s3_sink(&env).await;
    run(&again, &event).await.unwrap();
    let repeated = objects(&s3(&again), &again_bucket, "dump/").await;
    assert!(
        object == repeated,
        "the same records make the same Parquet object, byte for byte"
    );
}

#[tokio::test]
async fn a_scheduled_parquet_dump_runs_the_stage_and_starts_one_new_object_where_the_records_change_shape() {
    let client = kafka().await;
    let topic = topic(&client, 1).await;
    let pc = client
        .partition_client(topic.as_str(), 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    // 5,000 records of ~250 bytes fill more than the 1 MiB row group; then `id` turns into a double and
    // `extra` appears. One record is filtered out by the stage, one rejected by it (its time is no time).
    let pad = "x".repeat(200);
    let mut values: Vec<String> = (0..5000)
        .map(|n| {
            format!(
                r#"{{"id":{n},"name":"user-{}","time":"2026-12-03T00:00:00Z","pad":"{pad}"}}"#,
                n % 97
            )
        })
        .collect();
    values.extend((5000..5300).map(|n| {
        format!(
            r#"{{"id":{n}.5,"name":"user-{}","time":"2026-12-03T00:00:00Z","pad":"{pad}","extra":true}}"#,
            n % 97
        )
    }));
    values[10] = r#"{"id":-1,"name":"skip","time":"2026-12-03T00:00:00Z"}"#.to_owned();
    values[5100] = r#"{"id":-2,"name":"bad","time":"no time"}"#.to_owned();
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record {
            key: None,
            value: Some(v.clone().into_bytes()),
            headers: Vec::new(),
            timestamp: rskafka::chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
        })
        .collect();
    for chunk in records.chunks(500) {
        pc.produce(chunk.to_vec(), Compression::NoCompression).await.unwrap();
    }
    let env = [
        ("content_format", "parquet"),
        ("parquet_row_group_bytes", "1048576"),
        ("dead_letter_prefix", "dead/"),
        ("TRANSFORM_FILTER", "not name == \"skip\""),
        ("TRANSFORM_TIME_FIELD", "time"),
    ];
    let (sink, bucket) = scheduled_sink(&topic, &env).await;
    let summary = run_staged(&sink, &env, TIMER).await.unwrap();
    assert_eq!(
        (
            summary.records,
            summary.written,
            summary.filtered,
            summary.dead_lettered
        ),
        (5300, 5298, 1, 1)
    );
    assert_eq!(checkpoint(&sink, &topic, 0).await.unwrap().next_offset, 5300);
    let (dir, files) = parquet_files(&sink, &bucket, "dump/").await;
    let names: Vec<&str> = files.iter().map(|f| f.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            format!("{topic}+0+0000000000000000000.parquet"),
            format!("{topic}+0+0000000000000005000.parquet")
        ],
        "the change of shape starts one new object, at the first record that has it"
    );
    assert!(
        files.iter().all(|f| f.contains("/2026-12-03/")),
        "keys are dated by the stage's record time: {files:?}"
    );
    let read = read_both(&files);
    assert!(
        read[0]["pyarrow"]["row_groups"].as_i64().unwrap() >= 2,
        "row groups were written as they filled"
    );
    assert_eq!(
        schema(&read[0], "pyarrow")[6..8],
        [("id".into(), "int64".into()), ("name".into(), "string".into())]
    );
    assert_eq!(schema(&read[1], "pyarrow")[6], ("id".into(), "double".into()));
    let dead = objects(&s3(&sink), &bucket, "dead/").await;
    assert_eq!(
        dead.keys().collect::<Vec<_>>(),
        [&format!("dead/{topic}+0+0000000000000005100.jsonl")]
    );

    // One query over the prefix gives what the records it came from give.
    let source = dir.join("source.jsonl");
    let kept: Vec<&String> = values
        .iter()
        .filter(|v| !v.contains("\"skip\"") && !v.contains("no time"))
        .collect();
    std::fs::write(&source, kept.iter().map(|v| format!("{v}\n")).collect::<String>()).unwrap();
    let query = |from: &str| {
        let sql = format!(
            "select count(*) as n, sum(id) as ids, count(extra) as extras, count(distinct name) as names from {from}"
        );
        ckafka_dump_testkit::read_parquet(&["--sql", &sql])["rows"].clone()
    };
    let glob = format!("{}/**/*.parquet", dir.display());
    let from_parquet = query(&format!("read_parquet('{glob}', union_by_name=true)"));
    let from_json = query(&format!("read_json('{}')", source.display()));
    assert_eq!(from_parquet, from_json);
    assert_eq!(from_parquet[0]["n"], 5298);
}

/// Random poison records (testkit's generator, several seeds) into inferred Parquet objects: every record is a
/// row exactly once — a value no column type holds as it is lands in a JSON or `_kafka_value` column — and
/// pyarrow and duckdb read every object alike.
#[tokio::test]
async fn random_poison_records_become_one_parquet_row_each_that_both_readers_read_alike() {
    use ckafka_dump_testkit::{poison_seeds, poison_values};
    for seed in poison_seeds() {
        let (sink, bucket) = s3_sink(&[("content_format", "parquet"), ("parquet_row_group_bytes", "1048576")]).await;
        let summary = run(&sink, &poison_event(&poison_values(seed, 200)))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(summary.written, 200, "seed {seed}");
        let (_dir, files) = parquet_files(&sink, &bucket, "dump/").await;
        let mut offsets: Vec<i64> = Vec::new();
        for file in read_both(&files) {
            let rows = file["pyarrow"]["rows"].as_array().unwrap();
            offsets.extend(rows.iter().map(|r| r["_kafka_offset"].as_i64().unwrap()));
        }
        offsets.sort();
        assert_eq!(
            offsets,
            (0..200).collect::<Vec<i64>>(),
            "seed {seed}: every offset once"
        );
    }
}
