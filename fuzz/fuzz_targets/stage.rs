//! Any message value through a configured transform stage (parse, flatten, metadata, filter, rename, drop,
//! a routing field picked): each record is filtered, rejected with a reason, or kept as one syntactically
//! valid JSON object.
#![no_main]

use std::sync::LazyLock;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::fields::Path;
use ckafka_dump_core::stage::Stage;
use libfuzzer_sys::fuzz_target;

static STAGE: LazyLock<Stage> = LazyLock::new(|| {
    Stage::from_env(&Env::from_pairs(&[
        ("TRANSFORM_FLATTEN", "_"),
        ("TRANSFORM_ADD", "topic:@topic, at:@timestamp, h:@headers"),
        ("TRANSFORM_FILTER", r#"not level == "DEBUG" or n > 3"#),
        ("TRANSFORM_RENAME", "msg:message, a_b:ab"),
        ("TRANSFORM_DROP", "drop"),
    ]))
    .expect("a valid stage")
});

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let event = serde_json::json!({"Records": [{"Ckafka": {
        "topic": "t", "partition": 0, "offset": 1, "msgKey": "k", "msgBody": value}}]})
    .to_string();
    let mut batch = ckafka_dump_core::decode(&event)
        .ok()
        .and_then(ckafka_dump_core::Event::into_batch)
        .expect("a generated event decodes");
    let read = [Path::parse("app").unwrap(), Path::parse("a.c").unwrap()];
    let staging = STAGE.apply(&mut batch, &read);
    assert_eq!(staging.filtered + batch.len(), 1, "a record is filtered or stays");
    for record in batch.records() {
        if let Some(reason) = record.rejection {
            assert!(!reason.is_empty());
            continue;
        }
        let staged = record.value_bytes();
        serde_json::from_slice::<serde::de::IgnoredAny>(staged)
            .unwrap_or_else(|e| panic!("invalid staged JSON ({e}): {}", String::from_utf8_lossy(staged)));
        assert!(staged.starts_with(b"{") && staged.ends_with(b"}"));
    }
});
