//! Any text as a trigger event (both formats are detected from the text): decoding returns a batch or an
//! error, never panics, and every record of a batch resolves (topic, key, value, headers within the batch).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = std::str::from_utf8(data) else { return };
    if let Some(batch) = ckafka_dump_core::decode(event)
        .ok()
        .and_then(ckafka_dump_core::Event::into_batch)
    {
        let mut bytes = 0;
        for record in batch.records() {
            bytes += record.topic.len() + record.payload_len();
            bytes += record
                .headers()
                .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                .sum::<usize>();
            let _ = record.value_str();
        }
        assert!(bytes <= event.len() * 4, "decoded more bytes than the event could hold");
        let _ = batch.partitions();
    }
});
