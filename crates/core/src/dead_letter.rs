//! The one shape of a dead letter: a record that could not be written where it was meant to go, kept with
//! everything needed to fix and replay it. to-cos (JSON lines), to-es (documents) and to-sql (the members as
//! a table's columns) store it; to-kafka carries the same facts as Kafka Connect-style headers.
//!
//! ```json
//! {"topic":"orders","partition":3,"offset":42,"timestamp":1700000000000,"timestampType":"CREATE_TIME",
//!  "key":"k1","value":"not json","headers":[{"key":"trace","value":"t1"}],
//!  "error":{"cause":"transform","reason":"the value is not JSON: …","target":"logs-2026-12-03"},
//!  "failed_at":"2026-12-03T08:00:00.000Z"}
//! ```
//!
//! Bytes that are not UTF-8 are base64 with a `<name>_encoding` member, as in to-cos's JSON lines. A record too
//! large for any request its target takes (`"cause":"too_large"`) would make a letter as large: it keeps
//! `"not_stored"`, where to read the key, value and headers, instead of them. `failed_at` is left out where the
//! letter's bytes must follow from its records alone (to-cos's objects: a re-delivery rewrites them identically).

use std::io::Write;

use crate::json;
use crate::time::DateTime;
use crate::Record;

/// Why a record is a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The transform stage refused it.
    Transform,
    /// Its target's name (an index, a topic, an object key) could not be made from it.
    Route,
    /// The target refused it: a mapping, a type, a constraint, a missing topic.
    Refused,
    /// Too large for any request the target takes.
    TooLarge,
}

impl Cause {
    /// `reason` as one line of text that says the cause where the reason alone does not: a stage rejection
    /// reads `transform: …`, as [`Rejection`](crate::Rejection) displays it.
    pub fn describe(self, reason: &str) -> String {
        match self {
            Cause::Transform => crate::Rejection(reason.to_owned()).to_string(),
            _ => reason.to_owned(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Transform => "transform",
            Cause::Route => "route",
            Cause::Refused => "refused",
            Cause::TooLarge => "too_large",
        }
    }
}

/// A record that could not be written, why, and where it was meant to go.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'r> {
    /// The record as it came: its original key, value and headers, byte for byte.
    pub record: &'r Record<'r>,
    pub cause: Cause,
    pub reason: &'r str,
    /// The index, table, topic or object key it was meant for; empty when none could be named.
    pub target: &'r str,
}

impl DeadLetter<'_> {
    /// Whether the letter holds the record's key, value and headers (all but [`Cause::TooLarge`]).
    pub fn keeps_bytes(&self) -> bool {
        self.cause != Cause::TooLarge
    }

    /// Where the bytes a letter does not keep are read.
    pub fn not_stored(&self) -> String {
        let r = self.record;
        format!(
            "read the key, value and headers at {}/{}/{}",
            r.topic, r.partition, r.offset
        )
    }

    /// The letter as one JSON object (no line end), with `failed_at` when it is given (epoch ms).
    pub fn write_json(&self, failed_at: Option<i64>, out: &mut Vec<u8>) {
        let record = self.record;
        out.push(b'{');
        if self.keeps_bytes() {
            json::push_record_members(out, record, record.value);
        } else {
            out.extend_from_slice(b"\"topic\":");
            json::push_string(out, record.topic);
            let _ = write!(out, ",\"partition\":{},\"offset\":{}", record.partition, record.offset);
            out.extend_from_slice(b",\"not_stored\":");
            json::push_string(out, &self.not_stored());
        }
        out.extend_from_slice(b",\"error\":{\"cause\":");
        json::push_string(out, self.cause.as_str());
        out.extend_from_slice(b",\"reason\":");
        json::push_string(out, self.reason);
        out.extend_from_slice(b",\"target\":");
        json::push_string(out, self.target);
        out.push(b'}');
        if let Some(failed_at) = failed_at {
            out.extend_from_slice(b",\"failed_at\":");
            json::push_string(out, &DateTime::from_epoch_ms(failed_at).rfc3339());
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_letter_keeps_a_binary_key_value_and_every_header_byte_exact_with_why_and_where() {
        let event = r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":3,"timestamp":5,
            "timestampType":"LOG_APPEND_TIME","key":"/wE=","value":"/w==","headers":[{"h":[97]},{"h":[-1]}]}]}}"#;
        let batch = crate::decode(event).unwrap().into_batch().unwrap();
        let record = batch.get(0).unwrap();
        let letter = DeadLetter {
            record: &record,
            cause: Cause::Refused,
            reason: "mapper_parsing_exception: failed to parse",
            target: "logs",
        };
        let mut out = Vec::new();
        letter.write_json(Some(0), &mut out);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            parsed,
            json!({"topic": "t", "partition": 0, "offset": 3, "timestamp": 5, "timestampType": "LOG_APPEND_TIME",
                "key": "/wE=", "key_encoding": "base64", "value": "/w==", "value_encoding": "base64",
                "headers": [{"key": "h", "value": "a"}, {"key": "h", "value": "/w==", "value_encoding": "base64"}],
                "error": {"cause": "refused", "reason": "mapper_parsing_exception: failed to parse", "target": "logs"},
                "failed_at": "1970-01-01T00:00:00.000Z"})
        );
        let too_large = DeadLetter {
            cause: Cause::TooLarge,
            ..letter
        };
        out.clear();
        too_large.write_json(None, &mut out);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["not_stored"], "read the key, value and headers at t/0/3");
        assert!(parsed.get("value").is_none() && parsed.get("headers").is_none());
        assert_eq!(parsed["error"]["cause"], "too_large");
        assert!(parsed.get("failed_at").is_none(), "left out when not given");
    }
}
