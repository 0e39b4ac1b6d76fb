//! Any message value through to-es's document transform (JSON object, double-encoded JSON, `message`
//! merging, plain text, binary): the document is always one JSON object, syntactically valid.
#![no_main]

use ckafka_dump_sink_es::document::{build, DocumentSettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let event = serde_json::json!({"Records": [{"Ckafka": {
        "topic": "t", "partition": 0, "offset": 1, "msgKey": "k", "msgBody": value}}]})
    .to_string();
    let batch = ckafka_dump_core::decode(&event)
        .ok()
        .and_then(ckafka_dump_core::Event::into_batch)
        .expect("a generated event decodes");
    let settings = DocumentSettings {
        ignore_fields: vec!["drop".to_owned()],
        id_field: Some("log_id".to_owned()),
        timestamp_field: Some("time".to_owned()),
        kafka_meta_field: Some("kafka".to_owned()),
        ..DocumentSettings::default()
    };
    let document = build(
        &ckafka_dump_core::StagedRecord::unstaged(batch.get(0).unwrap()),
        &settings,
        1_700_000_000_000,
    );
    // Syntax only: user numbers are copied as written and may lie beyond f64, which is still valid JSON.
    serde_json::from_slice::<serde::de::IgnoredAny>(&document.source).unwrap_or_else(|e| {
        panic!(
            "invalid document JSON ({e}): {}",
            String::from_utf8_lossy(&document.source)
        )
    });
    assert!(document.source.starts_with(b"{") && document.source.ends_with(b"}"));
});
