//! Record → Elasticsearch document, as the `CkafkaToElasticsearch` template intended, minus its bugs:
//! a JSON-object `msgBody` (also double-encoded) is the document, a `message` field holding a JSON object
//! string is merged into it, anything else becomes `{"msg_body": ...}`. The user's fields are copied as
//! raw JSON (numbers keep their exact text) and never overwritten; nothing in the document is taken as
//! bulk metadata.

use std::borrow::Cow;
use std::io::Write;

use ckafka_dump_core::json;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::{routing_text, Object, Slot};
use ckafka_dump_core::{Record, StagedRecord};
use serde_json::Value;

/// What the document builder needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct DocumentSettings {
    pub ignore_fields: Vec<String>,
    pub id_field: Option<String>,
    pub timestamp_field: Option<String>,
    pub kafka_meta_field: Option<String>,
    /// The zone the added timestamp field is written in.
    pub zone: Zone,
}

/// The document's source JSON and the `_id` its id field asks for, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub source: Vec<u8>,
    pub id: Option<String>,
}

/// Builds the document of `record`: of the transform stage's object as it is, else of the value parsed here.
/// `fallback_ms` stamps records without a timestamp (SCF events).
pub fn build(record: &StagedRecord<'_>, settings: &DocumentSettings, fallback_ms: i64) -> Document {
    let body = record.value_bytes();
    let timestamp_ms = record.timestamp.map_or(fallback_ms, |t| t.millis);
    let mut source = Vec::with_capacity(body.len() + 96);
    let text = record.value_str();
    let message_text;
    let mut fields = match record.object() {
        Ok(fields) => fields,
        Err(_) => {
            write_fallback(&mut source, text, body, record, settings, timestamp_ms);
            return Document { source, id: None };
        }
    };
    let message = match fields.get("message") {
        Some(Slot::Raw(raw)) if raw.get().starts_with('"') => serde_json::from_str::<String>(raw.get()).ok(),
        Some(Slot::Made(Value::String(text))) => Some(text.clone()),
        _ => None,
    };
    if let Some(inner) = message.filter(|text| text.trim_start().starts_with('{')) {
        message_text = inner;
        if let Ok(merged) = Object::parse_json(&message_text) {
            let fields = fields.to_mut();
            fields.remove("message");
            fields.extend(merged);
        }
    }
    let kept = |name: &str| !settings.ignore_fields.iter().any(|f| f == name);
    let id = settings
        .id_field
        .as_deref()
        .filter(|f| kept(f))
        .and_then(|f| fields.get(f))
        .and_then(id_text);
    let mut first = !fields.write_open_where(&mut source, kept);
    let has = |name: &str| kept(name) && fields.get(name).is_some();
    write_added_fields(&mut source, &mut first, &has, record, settings, timestamp_ms);
    source.push(b'}');
    Document { source, id }
}

/// `{"msg_body": "<text>"}` (or `msg_body_base64` for bytes that are not UTF-8) plus the added fields.
fn write_fallback(
    out: &mut Vec<u8>,
    text: Option<&str>,
    body: &[u8],
    record: &Record<'_>,
    settings: &DocumentSettings,
    timestamp_ms: i64,
) {
    out.extend_from_slice(b"{");
    match text {
        Some(text) => {
            out.extend_from_slice(b"\"msg_body\":");
            json::push_string(out, text);
        }
        None => {
            out.extend_from_slice(b"\"msg_body_base64\":\"");
            out.extend_from_slice(base64_simd::STANDARD.encode_to_string(body).as_bytes());
            out.push(b'"');
        }
    }
    let mut first = false;
    write_added_fields(
        out,
        &mut first,
        &|n| n == "msg_body" || n == "msg_body_base64",
        record,
        settings,
        timestamp_ms,
    );
    out.push(b'}');
}

fn write_added_fields(
    out: &mut Vec<u8>,
    first: &mut bool,
    has: &dyn Fn(&str) -> bool,
    record: &Record<'_>,
    settings: &DocumentSettings,
    timestamp_ms: i64,
) {
    let mut field = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(first) {
            out.push(b',');
        }
        json::push_string(out, name);
        out.push(b':');
    };
    if let Some(name) = settings.timestamp_field.as_deref().filter(|n| !has(n)) {
        field(out, name);
        json::push_string(out, &settings.zone.date_time(timestamp_ms).rfc3339());
    }
    if let Some(name) = settings.kafka_meta_field.as_deref().filter(|n| !has(n)) {
        field(out, name);
        out.extend_from_slice(b"{\"topic\":");
        json::push_string(out, record.topic);
        let _ = write!(out, ",\"partition\":{},\"offset\":{}", record.partition, record.offset);
        // Byte-exact, as every function writes a key: text, or base64 with `key_encoding`.
        json::push_bytes_member(out, "key", record.key);
        out.push(b'}');
    }
}

/// An `_id` from the id field: strings as they are, numbers as written; anything else is ignored.
fn id_text(value: &Slot<'_>) -> Option<String> {
    match value {
        Slot::Raw(raw) => {
            let raw = raw.get();
            match raw.as_bytes().first()? {
                b'"' => serde_json::from_str::<String>(raw).ok().filter(|s| !s.is_empty()),
                b'-' | b'0'..=b'9' => Some(raw.to_owned()),
                _ => None,
            }
        }
        made => {
            let value = made.value()?;
            routing_text(&value).filter(|s| !s.is_empty()).map(Cow::into_owned)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::decode;

    fn settings() -> DocumentSettings {
        DocumentSettings {
            ignore_fields: vec!["secret".into()],
            id_field: Some("log_id".into()),
            timestamp_field: Some("time".into()),
            kafka_meta_field: None,
            zone: Default::default(),
        }
    }

    fn doc_of(body: &str, settings: &DocumentSettings) -> (serde_json::Value, Option<String>) {
        let event = serde_json::json!({"Records":[{"Ckafka":{"topic":"t","partition":1,"offset":7,"msgKey":"k","msgBody":body}}]})
            .to_string();
        let decoded = decode(&event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let doc = build(&batch.get(0).unwrap(), settings, 1_545_084_650_987);
        (serde_json::from_slice(&doc.source).unwrap(), doc.id)
    }

    #[test]
    fn object_bodies_keep_user_fields_and_get_a_timestamp_only_when_absent() {
        let (doc, id) = doc_of(
            r#"{"log_id":"a1","version":3,"routing":"eu","big":12345678901234567890,"secret":"x"}"#,
            &settings(),
        );
        assert_eq!(id.as_deref(), Some("a1"));
        assert_eq!(doc["version"], 3, "metadata-looking fields stay in the document");
        assert_eq!(doc["routing"], "eu");
        assert!(doc.get("secret").is_none(), "ES_Log_IgnoreWord drops fields");
        assert_eq!(doc["time"], "2018-12-17T22:10:50.987Z");
        let (doc, _) = doc_of(r#"{"time":"mine"}"#, &settings());
        assert_eq!(doc["time"], "mine", "the user's time is never overwritten");
    }

    #[test]
    fn raw_numbers_are_copied_exactly() {
        let event = serde_json::json!({"Records":[{"Ckafka":{"topic":"t","partition":1,"offset":7,"msgBody":r#"{"n":12345678901234567890.50}"#}}]}).to_string();
        let decoded = decode(&event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let doc = build(&batch.get(0).unwrap(), &settings(), 0);
        assert!(String::from_utf8(doc.source)
            .unwrap()
            .contains(r#""n":12345678901234567890.50"#));
    }

    /// Found by the `es_document` fuzz target: a number beyond f64 is valid JSON and must pass as written
    /// (Elasticsearch decides what to make of it), not break the document.
    #[test]
    fn numbers_beyond_f64_pass_as_written() {
        let event = serde_json::json!({"Records":[{"Ckafka":{"topic":"t","partition":0,"offset":1,"msgBody":r#"{"d":11115e0551}"#}}]}).to_string();
        let decoded = decode(&event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let source = String::from_utf8(build(&batch.get(0).unwrap(), &settings(), 0).source).unwrap();
        assert!(source.starts_with(r#"{"d":11115e0551,"#), "{source}");
        serde_json::from_str::<serde::de::IgnoredAny>(&source).unwrap();
    }

    #[test]
    fn double_encoded_and_message_fields_are_unwrapped() {
        let (doc, _) = doc_of(r#""{\"level\":\"ERROR\"}""#, &settings());
        assert_eq!(doc["level"], "ERROR");
        let (doc, _) = doc_of(
            r#"{"level":"INFO","message":"{\"user\":\"u7\",\"level\":\"DEBUG\"}"}"#,
            &settings(),
        );
        assert_eq!(
            (doc["user"].as_str(), doc["level"].as_str()),
            (Some("u7"), Some("DEBUG"))
        );
        assert!(doc.get("message").is_none());
        let (doc, _) = doc_of(r#"{"message":"plain words"}"#, &settings());
        assert_eq!(doc["message"], "plain words", "a message that is not JSON stays");
    }

    #[test]
    fn anything_else_becomes_msg_body() {
        for body in [
            "plain text",
            "123",
            "[1,2]",
            "{broken",
            r#""just a string""#,
            r#"{"a":1} trailing"#,
        ] {
            let (doc, id) = doc_of(body, &settings());
            assert_eq!(doc["msg_body"], body);
            assert_eq!(id, None);
            assert!(doc["time"].is_string());
        }
    }

    #[test]
    fn binary_values_are_base64_and_kafka_metadata_is_optional() {
        let event =
            r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":3,"timestamp":0,"key":"azE=","value":"/wA="}]}}"#;
        let decoded = decode(event).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let mut s = settings();
        s.kafka_meta_field = Some("kafka".into());
        let doc: serde_json::Value = serde_json::from_slice(&build(&batch.get(0).unwrap(), &s, 99).source).unwrap();
        assert_eq!(doc["msg_body_base64"], "/wA=");
        assert_eq!(
            doc["kafka"],
            serde_json::json!({"topic":"t","partition":0,"offset":3,"key":"k1"})
        );
        let binary_key =
            r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":4,"timestamp":0,"key":"/wE=","value":"/wA="}]}}"#;
        let decoded = decode(binary_key).unwrap().into_batch().unwrap();
        let batch = ckafka_dump_core::StagedBatch::unstaged(&decoded);
        let doc: serde_json::Value = serde_json::from_slice(&build(&batch.get(0).unwrap(), &s, 99).source).unwrap();
        assert_eq!(
            doc["kafka"],
            serde_json::json!({"topic":"t","partition":0,"offset":4,"key":"/wE=","key_encoding":"base64"}),
            "a key that is not UTF-8 is kept byte for byte, never replaced with U+FFFD"
        );
        assert_eq!(
            doc["time"], "1970-01-01T00:00:00.000Z",
            "the record timestamp wins over invocation time"
        );
    }

    #[test]
    fn numeric_ids_and_unusable_ids() {
        assert_eq!(doc_of(r#"{"log_id":42}"#, &settings()).1.as_deref(), Some("42"));
        assert_eq!(doc_of(r#"{"log_id":{"a":1}}"#, &settings()).1, None);
        assert_eq!(doc_of(r#"{"log_id":""}"#, &settings()).1, None);
    }
}
