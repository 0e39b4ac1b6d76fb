use serde_json::{json, Value};

use super::*;
use crate::decode::{decode, Event};

fn stage(pairs: &[(&str, &str)]) -> Stage {
    Stage::from_env(&Env::from_pairs(pairs)).unwrap_or_else(|e| panic!("{e}"))
}

fn config_error(pairs: &[(&str, &str)]) -> String {
    Stage::from_env(&Env::from_pairs(pairs)).unwrap_err().to_string()
}

/// An AWS Kafka event of `values` (topic `logs`, partition 0, offsets from 0, key `k<offset>`, a header).
fn event(values: &[Option<&str>]) -> String {
    let b64 = |s: &str| base64_simd::STANDARD.encode_to_string(s);
    let records: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = json!({"topic": "logs", "partition": 0, "offset": i, "timestamp": 1_709_310_600_000i64,
                "timestampType": "CREATE_TIME", "key": b64(&format!("k{i}")),
                "headers": [{"trace": [116, 49]}]});
            if let Some(v) = v {
                r["value"] = json!(b64(v));
            }
            r
        })
        .collect();
    json!({"eventSource": "aws:kafka", "records": {"logs-0": records}}).to_string()
}

/// Per record left in the batch: offset, value (as JSON, else as text), rejection, record time.
type Seen = (i64, Option<Value>, Option<String>, Option<i64>);

/// Runs `stage` over an event of `values`: (filtered, rejected) and what is left.
fn run(stage: &Stage, values: &[Option<&str>]) -> ((usize, usize), Vec<Seen>) {
    let event = event(values);
    let Ok(Event::Records(batch)) = decode(&event) else {
        panic!("decodes")
    };
    let staged = stage.apply(&batch);
    let mut scratch = Vec::new();
    let out = staged
        .records()
        .map(|r| {
            let value = r
                .value_to_write(&mut scratch)
                .map(|v| serde_json::from_slice(v).unwrap_or(Value::String(String::from_utf8_lossy(v).into())));
            (
                r.offset,
                value,
                r.rejection().map(|reason| reason.0.clone()),
                r.timestamp.map(|t| t.millis),
            )
        })
        .collect();
    ((staged.filtered, staged.rejected()), out)
}

#[test]
fn unconfigured_stage_leaves_the_batch_alone() {
    let s = stage(&[]);
    assert!(!s.is_configured());
    let (staging, out) = run(&s, &[Some("not json"), None]);
    assert_eq!(staging, (0, 0));
    assert_eq!(out[0].1, Some(json!("not json")));
}

#[test]
fn without_a_stage_a_field_is_read_by_parsing_the_value_it_is_in() {
    let event = event(&[Some(r#"{"b":1,  "a":2}"#), Some("plain")]);
    let Ok(Event::Records(batch)) = decode(&event) else {
        panic!()
    };
    let unconfigured = stage(&[]);
    let staged = unconfigured.apply(&batch);
    assert_eq!(staged.rejected(), 0);
    let first = staged.get(0).unwrap();
    assert_eq!(
        first.value_to_write(&mut Vec::new()),
        Some(&br#"{"b":1,  "a":2}"#[..]),
        "the original bytes are written"
    );
    let utc = Zone::utc();
    assert_eq!(
        first.field(&Path::parse("a").unwrap(), &utc).unwrap().into_owned(),
        json!(2)
    );
    assert_eq!(
        first.field(&Path::parse("missing").unwrap(), &utc).unwrap_err(),
        "field `missing` is missing"
    );
    assert_eq!(
        staged
            .get(1)
            .unwrap()
            .field(&Path::parse("a").unwrap(), &utc)
            .unwrap_err(),
        "field `a`: the value is not JSON: expected value at line 1 column 1"
    );
}

#[test]
fn filter_rename_drop_keep_flatten_and_metadata() {
    let s = stage(&[
        (
            "TRANSFORM_FILTER",
            r#"level == "error" and @topic == "logs" and @header.trace == "t1""#,
        ),
        ("TRANSFORM_FLATTEN", "."),
        (
            "TRANSFORM_ADD",
            "kafka_topic:@topic, kafka_offset:@offset, kafka_key:@key, kafka_time:@timestamp, trace:@header.trace",
        ),
        ("TRANSFORM_RENAME", "msg:message, user.id:uid"),
        ("TRANSFORM_DROP", "secret"),
        ("time_zone", "Asia/Shanghai"),
    ]);
    let (staging, out) = run(
        &s,
        &[
            Some(r#"{"level":"error","msg":"boom","user":{"id":7},"secret":"x"}"#),
            Some(r#"{"level":"info","msg":"fine"}"#),
            None,
        ],
    );
    assert_eq!(staging, (1, 0));
    assert_eq!(out.len(), 2, "the filtered record left the batch; the tombstone stays");
    assert_eq!(
        out[0].1,
        Some(
            json!({"level": "error", "message": "boom", "uid": 7, "kafka_topic": "logs", "kafka_offset": 0,
                    "kafka_key": "k0", "kafka_time": "2024-03-02T00:30:00.000+08:00", "trace": "t1"})
        )
    );
    assert_eq!((out[1].0, &out[1].1), (2, &None));

    let keep = stage(&[("TRANSFORM_KEEP", "a, c")]);
    let (_, out) = run(&keep, &[Some(r#"{"a":1,"b":2,"c":{"d":3}}"#)]);
    assert_eq!(out[0].1, Some(json!({"a": 1, "c": {"d": 3}})));
}

#[test]
fn delimited_and_regex_values_become_fields() {
    let delimited = stage(&[
        ("TRANSFORM_PARSE", "delimited"),
        ("TRANSFORM_DELIMITER", "|"),
        ("TRANSFORM_FIELDS", "time, level, msg"),
    ]);
    let (staging, out) = run(&delimited, &[Some("2024-03-01|warn|disk | 91%"), Some("just text")]);
    assert_eq!(
        out[0].1,
        Some(json!({"time": "2024-03-01", "level": "warn", "msg": "disk | 91%"}))
    );
    assert_eq!(staging.1, 1);
    assert_eq!(out[1].2.as_deref(), Some("3 fields expected, 1 found between `|`"));
    assert_eq!(
        out[1].1,
        Some(json!("just text")),
        "a rejected record keeps its original bytes"
    );

    let regex = stage(&[
        ("TRANSFORM_PARSE", "regex"),
        ("TRANSFORM_REGEX", r"^(?P<ip>\S+) (?P<method>[A-Z]+) (?P<path>\S+)"),
        ("TRANSFORM_FILTER", r#"method in ["GET"]"#),
    ]);
    let (staging, out) = run(&regex, &[Some("10.0.0.1 GET /a"), Some("10.0.0.2 POST /b"), Some("-")]);
    assert_eq!(staging, (1, 1));
    assert_eq!(out[0].1, Some(json!({"ip": "10.0.0.1", "method": "GET", "path": "/a"})));
    assert!(out[1].2.as_deref().unwrap().contains("does not match the regex"));
}

#[test]
fn record_time_from_a_field_replaces_the_kafka_time() {
    let s = stage(&[
        ("TRANSFORM_TIME_FIELD", "ts"),
        ("TRANSFORM_TIME_FORMAT", "%Y-%m-%d %H:%M:%S"),
        ("time_zone", "Asia/Shanghai"),
    ]);
    let (staging, out) = run(
        &s,
        &[
            Some(r#"{"ts":"2024-03-02 07:59:59"}"#),
            Some(r#"{"ts":"soon"}"#),
            Some("{}"),
        ],
    );
    assert_eq!(
        out[0].3,
        Some(1_709_337_599_000),
        "07:59:59 in Beijing is 23:59:59 UTC the day before"
    );
    assert_eq!(staging.1, 2);
    assert!(out[1]
        .2
        .as_deref()
        .unwrap()
        .starts_with("record time field `ts`: `soon` does not match"));
    assert_eq!(out[2].2.as_deref(), Some("record time field `ts` is missing"));
    assert_eq!(
        out[2].3,
        Some(1_709_310_600_000),
        "a rejected record keeps its Kafka time"
    );
}

#[test]
fn json_values_double_encoded_are_unwrapped_and_others_rejected() {
    let s = stage(&[("TRANSFORM_DROP", "x")]);
    let (_, out) = run(&s, &[Some(r#""{\"a\":1,\"x\":2}""#), Some("[1]"), Some("{bad")]);
    assert_eq!(out[0].1, Some(json!({"a": 1})));
    assert_eq!(out[1].2.as_deref(), Some("the value is not a JSON object"));
    assert!(out[2].2.as_deref().unwrap().starts_with("the value is not JSON"));
}

#[test]
fn configuration_errors_name_the_variable_and_the_mistake() {
    let e = config_error(&[("TRANSFORM_FILTER", r#"level == "error" and"#)]);
    assert!(
        e.contains("TRANSFORM_FILTER: at character 21: expected a field name"),
        "{e}"
    );
    let e = config_error(&[("TRANSFORM_RENAME", "a:b, c")]);
    assert!(e.contains("TRANSFORM_RENAME: item 2 `c` is not `name:name`"), "{e}");
    let e = config_error(&[("TRANSFORM_ADD", "t:topic")]);
    assert!(
        e.contains("TRANSFORM_ADD") && e.contains("must be Kafka metadata"),
        "{e}"
    );
    let e = config_error(&[("TRANSFORM_PARSE", "xml")]);
    assert!(
        e.contains("TRANSFORM_PARSE: `xml` is not json, delimited or regex"),
        "{e}"
    );
    let e = config_error(&[("TRANSFORM_PARSE", "delimited")]);
    assert!(e.contains("TRANSFORM_FIELDS"), "{e}");
    let e = config_error(&[("TRANSFORM_PARSE", "regex"), ("TRANSFORM_REGEX", "(a")]);
    assert!(e.contains("TRANSFORM_REGEX"), "{e}");
    let e = config_error(&[("TRANSFORM_PARSE", "regex"), ("TRANSFORM_REGEX", "(a)")]);
    assert!(e.contains("no named group"), "{e}");
    let e = config_error(&[("TRANSFORM_TIME_FIELD", "ts"), ("TRANSFORM_TIME_FORMAT", "unix")]);
    assert!(e.contains("TRANSFORM_TIME_FORMAT"), "{e}");
    let e = config_error(&[("time_zone", "Beijing")]);
    assert!(e.contains("time_zone"), "{e}");
}
