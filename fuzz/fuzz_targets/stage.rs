//! Any message value through a configured transform stage (parse, flatten, metadata, filter, rename, drop,
//! routing fields read): each record is filtered, rejected with a reason, or kept as one syntactically
//! valid JSON object.
#![no_main]

use std::sync::LazyLock;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::Path;
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
    let batch = ckafka_dump_core::decode(&event)
        .ok()
        .and_then(ckafka_dump_core::Event::into_batch)
        .expect("a generated event decodes");
    let staged = STAGE.apply(&batch);
    assert_eq!(staged.filtered + staged.len(), 1, "a record is filtered or stays");
    let utc = Zone::utc();
    for record in staged.records() {
        if let Some(rejection) = record.rejection() {
            assert!(!rejection.0.is_empty());
            continue;
        }
        for path in ["app", "a.c", "@topic"] {
            let _ = record.field(&Path::parse(path).unwrap(), &utc);
        }
        let mut scratch = Vec::new();
        let staged = record.value_to_write(&mut scratch).expect("a staged value");
        serde_json::from_slice::<serde::de::IgnoredAny>(staged)
            .unwrap_or_else(|e| panic!("invalid staged JSON ({e}): {}", String::from_utf8_lossy(staged)));
        assert!(staged.starts_with(b"{") && staged.ends_with(b"}"));
    }
});
