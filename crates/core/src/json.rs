//! A record's parts as JSON, written one way by every function that stores them (to-cos JSON lines and dead
//! letters, to-sql's headers columns): text as JSON strings, bytes that are not UTF-8 as base64 marked by a
//! `<name>_encoding` member, headers as a list in their order (a repeated name keeps every value).

use std::io::Write;

use crate::{Record, TimestampType};

/// `s` as a JSON string.
pub fn push_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
}

/// `,"<name>":<bytes>`: a string when UTF-8, else base64 followed by `,"<name>_encoding":"base64"`; `null`
/// when absent.
pub fn push_bytes_member(out: &mut Vec<u8>, name: &str, bytes: Option<&[u8]>) {
    let _ = write!(out, ",\"{name}\":");
    match bytes {
        None => out.extend_from_slice(b"null"),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => push_string(out, text),
            Err(_) => {
                push_string(out, &base64_simd::STANDARD.encode_to_string(bytes));
                let _ = write!(out, ",\"{name}_encoding\":\"base64\"");
            }
        },
    }
}

/// The record's headers: `[{"key":…,"value":…}, …]` in their order (`"value":null` for a header without a
/// value), empty when it has none.
pub fn push_headers(out: &mut Vec<u8>, record: &Record<'_>) {
    out.push(b'[');
    for (i, header) in record.headers().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"key\":" } else { b",{\"key\":" });
        push_string(out, header.key);
        push_bytes_member(out, "value", header.value);
        out.push(b'}');
    }
    out.push(b']');
}

/// The record's members, without braces: topic, partition, offset, timestamp, timestampType, key, `value` (the
/// record's own or, for a data line, the value as the stage made it) and headers — all a restore needs to rebuild
/// the record.
pub fn push_record_members(out: &mut Vec<u8>, record: &Record<'_>, value: Option<&[u8]>) {
    out.extend_from_slice(b"\"topic\":");
    push_string(out, record.topic);
    let _ = write!(out, ",\"partition\":{},\"offset\":{}", record.partition, record.offset);
    match record.timestamp {
        Some(t) => {
            let kind = match t.kind {
                None => "null",
                Some(TimestampType::CreateTime) => "\"CREATE_TIME\"",
                Some(TimestampType::LogAppendTime) => "\"LOG_APPEND_TIME\"",
            };
            let _ = write!(out, ",\"timestamp\":{},\"timestampType\":{kind}", t.millis);
        }
        None => out.extend_from_slice(b",\"timestamp\":null,\"timestampType\":null"),
    }
    push_bytes_member(out, "key", record.key);
    push_bytes_member(out, "value", value);
    out.extend_from_slice(b",\"headers\":");
    push_headers(out, record);
}

/// [`push_headers`] as a string.
pub fn headers_json(record: &Record<'_>) -> String {
    let mut out = Vec::new();
    push_headers(&mut out, record);
    String::from_utf8(out).expect("JSON text is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_header_names_keep_every_value_and_bytes_say_their_encoding() {
        let event = r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":3,
            "headers":[{"h":[97]},{"h":[-1]},{"g":[]}]}]}}"#;
        let batch = crate::decode(event).unwrap().into_batch().unwrap();
        assert_eq!(
            headers_json(&batch.get(0).unwrap()),
            r#"[{"key":"h","value":"a"},{"key":"h","value":"/w==","value_encoding":"base64"},{"key":"g","value":""}]"#
        );
        let none = crate::decode(r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":3}]}}"#).unwrap();
        assert_eq!(headers_json(&none.into_batch().unwrap().get(0).unwrap()), "[]");
    }
}
