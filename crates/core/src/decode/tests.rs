use super::*;
use crate::record::{Header, Record, Timestamp, TimestampType};

const SCF_SAMPLE: &str = include_str!("../../../../events/scf-ckafka.json");
const SCF_MULTI: &str = include_str!("../../../../events/scf-ckafka-multi-partition.json");
const MSK: &str = include_str!("../../../../events/aws-msk.json");
const SELF_MANAGED: &str = include_str!("../../../../events/aws-self-managed-headers.json");

fn records<'b>(batch: &'b Batch<'_>) -> Vec<Record<'b>> {
    batch.records().collect()
}

fn batch_of(event: &str) -> Batch<'_> {
    decode(event).unwrap().into_batch().expect("a record batch")
}

fn error_of(event: &str) -> String {
    decode(event).unwrap_err().to_string()
}

#[test]
fn scf_documented_sample_decodes_without_key_or_timestamp() {
    let batch = batch_of(SCF_SAMPLE);
    assert_eq!(batch.format, Format::ScfCkafka);
    assert_eq!(batch.len(), 2);
    let first = batch.get(0).unwrap();
    assert_eq!((first.topic, first.partition, first.offset), ("test-topic", 1, 36));
    assert_eq!(first.key, None, "msgKey \"None\" means no key");
    assert_eq!(first.value_bytes(), b"Hello from Ckafka!");
    assert_eq!(first.timestamp, None);
    assert!(
        batch.text.is_empty() && batch.bytes.is_empty(),
        "unescaped bodies borrow from the event"
    );
}

#[test]
fn scf_accepts_capital_partition_empty_key_and_escaped_bodies() {
    let batch = batch_of(SCF_MULTI);
    let r = records(&batch);
    assert_eq!(r[0].key, Some(&b"order-17"[..]));
    assert_eq!(r[1].key, None, "empty msgKey means no key");
    assert_eq!((r[2].partition, r[2].offset), (2, 88), "`Partition` is accepted");
    assert!(r[0].value_bytes().starts_with(br#"{"log_id":"a1""#));
    assert_eq!(r[4].value_bytes(), "中文消息 ✓".as_bytes());
    let spans = batch.partitions();
    assert_eq!(spans.len(), 3);
    assert_eq!(
        (
            spans[1].partition,
            spans[1].first_offset,
            spans[1].last_offset,
            spans[1].count
        ),
        (2, 88, 89, 2)
    );
}

#[test]
fn msk_decodes_base64_headers_and_timestamps() {
    let batch = batch_of(MSK);
    assert_eq!(batch.format, Format::AwsKafka);
    assert_eq!(batch.len(), 3);
    let all = records(&batch);
    let r = all[0];
    assert_eq!(r.key, Some(&b"order-1"[..]));
    assert_eq!(r.value_bytes(), b"Hello, this is a test.");
    assert_eq!(
        r.timestamp,
        Some(Timestamp {
            millis: 1545084650987,
            kind: Some(TimestampType::CreateTime)
        })
    );
    assert_eq!(
        r.headers().collect::<Vec<_>>(),
        [Header {
            key: "headerKey",
            value: Some(b"headerValue")
        }]
    );
    assert_eq!(all[1].key, None, "absent key");
    assert_eq!(all[1].headers().len(), 0);
    assert_eq!(all[2].key, None, "null key");
    assert_eq!(all[2].timestamp.unwrap().kind, Some(TimestampType::LogAppendTime));
}

#[test]
fn self_managed_signed_header_bytes_binary_values_and_tombstones() {
    let batch = batch_of(SELF_MANAGED);
    let r = records(&batch);
    assert_eq!(r[0].topic, "orders.v1");
    let headers: Vec<Header> = r[0].headers().collect();
    assert_eq!(headers.len(), 3);
    assert_eq!((headers[0].key, headers[0].value), ("trace-id", Some(&b"abc123"[..])));
    assert_eq!(
        headers[2].value,
        Some("Zoë".as_bytes()),
        "negative bytes are the high half of u8"
    );
    assert_eq!(r[1].value_bytes(), [0xff, 0x00, 0x80, 0x01]);
    assert_eq!(r[1].headers().len(), 0, "missing headers are an empty list");
    assert_eq!(r[2].value, None, "absent value is a tombstone");
}

#[test]
fn aws_topic_falls_back_to_the_map_key() {
    let batch = batch_of(r#"{"records":{"my-topic-7":[{"partition":7,"offset":1,"value":"eA=="}]}}"#);
    assert_eq!(batch.get(0).unwrap().topic, "my-topic");
}

#[test]
fn empty_batches_are_fine() {
    assert!(batch_of(r#"{"Records":[]}"#).is_empty());
    assert!(batch_of(r#"{"eventSource":"aws:kafka","records":{}}"#).is_empty());
}

#[test]
fn errors_name_the_problem_and_place() {
    assert!(error_of("not json").starts_with("event is not valid JSON"));
    let truncated = error_of(r#"{"Records":[{"Ckafka":{"topic":"t""#);
    assert!(
        truncated.starts_with("event is not valid JSON: EOF while parsing") && truncated.contains("line 1 column 34"),
        "{truncated}"
    );
    assert!(error_of(r#"{"foo":1}"#).starts_with("unknown event shape"));
    assert!(error_of("[1,2]").contains("malformed"));

    let missing = error_of(
        r#"{"Records":[{"Ckafka":{"topic":"t","partition":0,"offset":1,"msgBody":"a"}},{"Ckafka":{"topic":"t","partition":0,"msgBody":"b"}}]}"#,
    );
    assert!(missing.contains("record 1") && missing.contains("offset"), "{missing}");
    let no_ckafka = error_of(r#"{"Records":[{"eventSource":"aws:sqs"}]}"#);
    assert!(
        no_ckafka.contains("record 0") && no_ckafka.contains("Ckafka"),
        "{no_ckafka}"
    );

    let aws_missing = error_of(r#"{"records":{"t-0":[{"partition":0,"offset":1},{"offset":2}]}}"#);
    assert!(
        aws_missing.contains("record 1") && aws_missing.contains("t-0") && aws_missing.contains("partition"),
        "{aws_missing}"
    );

    let base64 = error_of(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":9,"value":"!!"}]}}"#);
    assert!(base64.contains("invalid base64 in value at t/0/9"), "{base64}");

    let header = error_of(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":4,"headers":[{"h":[1,200]}]}]}}"#);
    assert!(
        header.contains("headers at t/0/4: header `h`: byte 200 is out of range"),
        "{header}"
    );
    let header_shape =
        error_of(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":4,"headers":[{"h":"x"}]}]}}"#);
    assert!(
        header_shape.contains("record 0: in `t-0`") && header_shape.contains("signed bytes"),
        "{header_shape}"
    );

    let ts_type = error_of(r#"{"records":{"t-0":[{"partition":0,"offset":4,"timestampType":"WALL"}]}}"#);
    assert!(ts_type.contains("WALL") && ts_type.contains("t/0/4"), "{ts_type}");
}

#[test]
fn hostile_input_never_panics() {
    for event in [
        "",
        "{",
        "null",
        "1",
        r#"{"Records":null}"#,
        r#"{"Records":{}}"#,
        r#"{"records":[]}"#,
        r#"{"Records":[null]}"#,
        r#"{"Records":[{"Ckafka":{"topic":1}}]}"#,
        r#"{"records":{"t-0":null}}"#,
        r#"{"records":{"t-0":[{"partition":99999999999,"offset":1}]}}"#,
        r#"{"records":{"t-0":[{"partition":0,"offset":1,"headers":[{"h":[1e3]}]}]}}"#,
    ] {
        assert!(decode(event).is_err(), "{event:?} should be rejected");
    }
}

#[test]
fn escaped_bodies_and_null_headers_decode() {
    let batch = batch_of(
        r#"{"Records":[{"Ckafka":{"topic":"t","partition":0,"offset":1,"msgKey":"k\u0031","msgBody":"a\"b"}}]}"#,
    );
    let r = batch.get(0).unwrap();
    assert_eq!((r.key, r.value), (Some(&b"k1"[..]), Some(&b"a\"b"[..])));
    let aws = batch_of(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":1,"headers":null}]}}"#);
    assert_eq!(aws.get(0).unwrap().headers().len(), 0);
}

#[test]
fn record_errors_name_coordinates_whatever_the_field_order() {
    let header_first =
        error_of(r#"{"records":{"t-0":[{"headers":[{"h":[300]}],"key":"eA==","partition":0,"offset":4}]}}"#);
    assert!(
        header_first.contains("header `h`: byte 300") && header_first.contains("t/0/4"),
        "{header_first}"
    );
    let key_first = error_of(r#"{"records":{"x-1":[{"key":"*","topic":"x","partition":1,"offset":8}]}}"#);
    assert!(key_first.contains("invalid base64 in key at x/1/8"), "{key_first}");
    let second_record =
        error_of(r#"{"records":{"t-0":[{"partition":0,"offset":1},{"partition":0,"offset":2,"value":"?"}]}}"#);
    assert!(second_record.contains("value at t/0/2"), "{second_record}");
}

#[test]
fn timer_events_of_both_platforms_decode_to_an_empty_timer_batch() {
    let scf = r#"{"Type":"Timer","TriggerName":"every-5-min","Time":"2026-11-22T03:05:00Z","Message":""}"#;
    let eventbridge = r#"{"version":"0","id":"53dc4d37","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time":"2026-11-22T03:05:00Z","region":"us-east-1","resources":[],"detail":{}}"#;
    for event in [scf, eventbridge] {
        assert_eq!(decode(event).unwrap(), Event::Timer, "{event}");
    }
    assert!(matches!(decode(r#"{"Type":"Other"}"#), Err(DecodeError::UnknownShape)));
}

#[test]
fn syntax_errors_inside_records_are_invalid_json_with_line_and_column() {
    for (event, wording) in [
        (r#"{"Records":[{"Ckafka":{topic:"t"}}]}"#, "key must be a string"),
        (
            r#"{"records":{"t-0":[{"partition":0 "offset":1}]}}"#,
            "expected `,` or `}`",
        ),
        (r#"[{"topic":"t","partition":0,"offset":1,}]"#, "key must be a string"),
        // A record-level problem before the syntax error does not hide it.
        (
            r#"{"records":{"t-0":[{"partition":0,"offset":1,"key":"*"}, {]}}"#,
            "key must be a string",
        ),
    ] {
        let error = error_of(event);
        assert!(
            error.starts_with("event is not valid JSON: ")
                && error.contains(wording)
                && error.contains("line 1 column"),
            "{event}: {error}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let batch = batch_of(
        "\u{feff}{\"Records\":[{\"Ckafka\":{\"topic\":\"t\",\"partition\":0,\"offset\":1,\"msgBody\":\"x\"}}]}",
    );
    assert_eq!(batch.get(0).unwrap().value_bytes(), b"x");
}

#[test]
fn integer_fields_take_numeric_strings_and_name_themselves_when_wrong() {
    let batch = batch_of(r#"{"records":{"t-0":[{"partition":"3","offset":"15","timestamp":"1545084650987"}]}}"#);
    let r = batch.get(0).unwrap();
    assert_eq!(
        (r.partition, r.offset, r.timestamp.unwrap().millis),
        (3, 15, 1545084650987)
    );
    let scf = error_of(r#"{"Records":[{"Ckafka":{"topic":"t","partition":"","offset":1,"msgBody":"x"}}]}"#);
    assert!(
        scf.starts_with(r#"malformed event: record 0: invalid value: string "", expected `partition` as an integer"#),
        "{scf}"
    );
    let aws = error_of(r#"{"records":{"t-0":[{"partition":0,"offset":"x1"}]}}"#);
    assert!(
        aws.contains("record 0: in `t-0`") && aws.contains("`offset` as an integer"),
        "{aws}"
    );
}

#[test]
fn a_header_that_is_not_a_byte_array_is_named_with_its_record() {
    let error =
        error_of(r#"{"records":{"t-0":[{"partition":0,"offset":1,"headers":[{"headerKey":"aGVhZGVyVmFsdWU="}]}]}}"#);
    assert!(
        error.contains("record 0: in `t-0`: header `headerKey`: invalid type: string \"aGVhZGVyVmFsdWU=\", expected an array of signed bytes"),
        "{error}"
    );
}

#[test]
fn eventbridge_pipes_arrays_of_flat_records_decode() {
    let batch = batch_of(
        r#"[{"eventSource":"aws:kafka","eventSourceKey":"mytopic-0","topic":"mytopic","partition":"0","offset":15,
            "timestamp":1545084650987,"timestampType":"CREATE_TIME","key":"a2V5","value":"SGk=","headers":[{"h":[104]}]},
           {"eventSource":"SelfManagedKafka","eventSourceKey":"other-topic-2","partition":2,"offset":7,"value":"eA=="}]"#,
    );
    assert_eq!(batch.format, Format::EventBridgePipes);
    let r = records(&batch);
    assert_eq!((r[0].topic, r[0].partition, r[0].offset), ("mytopic", 0, 15));
    assert_eq!((r[0].key, r[0].value_bytes()), (Some(&b"key"[..]), &b"Hi"[..]));
    assert_eq!(r[0].headers().next().unwrap().value, Some(&b"h"[..]));
    assert_eq!(
        (r[1].topic, r[1].partition),
        ("other-topic", 2),
        "topic from eventSourceKey"
    );
    assert!(batch_of("[]").is_empty());
    let no_topic = error_of(r#"[{"partition":0,"offset":1}]"#);
    assert!(
        no_topic.contains("record 0") && no_topic.contains("missing field `topic`"),
        "{no_topic}"
    );
}

#[test]
fn base64_errors_say_which_character_and_where() {
    let error = error_of(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":9,"value":"aGV*bG8="}]}}"#);
    assert_eq!(
        error,
        "invalid base64 in value at t/0/9: character '*' at position 3 is not in the base64 alphabet"
    );
}

#[test]
fn no_timestamp_and_times_past_year_9999_leave_a_record_undated() {
    let event = r#"{"records":{"t-0":[
        {"partition":0,"offset":1,"timestamp":-1,"timestampType":"NO_TIMESTAMP_TYPE"},
        {"partition":0,"offset":2,"timestamp":9223372036854775807,"timestampType":"CREATE_TIME"},
        {"partition":0,"offset":3,"timestamp":-9223372036854775808,"timestampType":"CREATE_TIME"},
        {"partition":0,"offset":4,"timestamp":253402300799999,"timestampType":"CREATE_TIME"},
        {"partition":0,"offset":5,"timestamp":0,"timestampType":"LOG_APPEND_TIME"}]}}"#;
    let batch = batch_of(event);
    let times: Vec<Option<i64>> = records(&batch).iter().map(|r| r.timestamp.map(|t| t.millis)).collect();
    assert_eq!(times, [None, None, None, Some(253_402_300_799_999), Some(0)]);
}

#[test]
fn a_topic_kafka_could_not_have_named_is_refused_naming_the_record() {
    let scf = error_of(
        r#"{"Records":[{"Ckafka":{"topic":"../../escaped","partition":0,"offset":7,"msgKey":"None","msgBody":"x"}}]}"#,
    );
    assert!(
        scf.contains("topic `../../escaped` (partition 0, offset 7) is not a Kafka topic name"),
        "{scf}"
    );
    for topic in ["..", ".", "", "a/b", "t\u{0}"] {
        let event = serde_json::json!({"records": {"x-0": [{"topic": topic, "partition": 0, "offset": 1}]}});
        let error = error_of(&event.to_string());
        assert!(error.contains("is not a Kafka topic name"), "{topic:?}: {error}");
    }
    let long = "t".repeat(70_000);
    let event = serde_json::json!({"records": {"x-0": [{"topic": long, "partition": 0, "offset": 1}]}});
    let error = error_of(&event.to_string());
    assert!(
        error.contains("(70000 bytes)` (partition 0") && error.len() < 300,
        "{error}"
    );
    let ok = serde_json::json!({"records": {"x-0": [{"topic": "a.b_C-9", "partition": 0, "offset": 1}]}});
    assert_eq!(records(&batch_of(&ok.to_string()))[0].topic, "a.b_C-9");
}
