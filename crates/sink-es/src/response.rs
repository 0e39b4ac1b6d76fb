//! Bulk responses: HTTP 200 with `"errors":true` is not success. Each item is classified as written,
//! bad document (dead-letter), or failed — retryable (429, 5xx, rejected execution) or not.

use ckafka_dump_core::Failure;
use serde::Deserialize;

use crate::config::OpType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Written,
    /// The document itself is malformed for the index: store it in the dead-letter index.
    BadDocument {
        error_type: String,
        reason: String,
    },
    /// Retryable ones (429, 5xx, rejected execution) are sent again after a backoff; the rest (closed
    /// index, blocked cluster, bad index name …) fail the invocation.
    Failed(Failure),
    /// The request that carried it was over the server's (or a proxy's) body limit, HTTP 413: sent again in a
    /// smaller request; alone, the document is too large, its own fault.
    TooLarge(Failure),
}

/// The `error.type` of a document too large for any request the server takes.
pub const TOO_LARGE: &str = "request_entity_too_large";

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(alias = "index", alias = "create", alias = "update")]
    result: Option<ItemResult>,
    delete: Option<ItemResult>,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<ItemError>,
}

#[derive(Deserialize)]
struct ItemError {
    #[serde(rename = "type", default)]
    error_type: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct GetResponse<'a> {
    #[serde(borrow, rename = "_source")]
    source: &'a serde_json::value::RawValue,
}

/// The `_source` of a get-document answer, as its JSON text.
pub fn source(body: &[u8]) -> Result<Vec<u8>, String> {
    serde_json::from_slice::<GetResponse<'_>>(body)
        .map(|r| r.source.get().as_bytes().to_vec())
        .map_err(|e| format!("unreadable document answer: {e}"))
}

/// Outcomes in request order; an answer whose item count differs from what was sent is an error.
pub fn parse(body: &[u8], op: OpType, sent: usize) -> Result<Vec<ItemOutcome>, String> {
    let response: BulkResponse = serde_json::from_slice(body).map_err(|e| format!("unreadable bulk response: {e}"))?;
    if response.items.len() != sent {
        return Err(format!(
            "bulk response has {} items for {sent} documents sent",
            response.items.len()
        ));
    }
    Ok(response
        .items
        .into_iter()
        .map(|item| match (item.result, item.delete) {
            // Deleting a document that is not there (deleted by an earlier delivery, or never indexed).
            (_, Some(deleted)) if deleted.status == 404 && deleted.error.is_none() => ItemOutcome::Written,
            (_, Some(deleted)) => classify(op, deleted),
            (Some(result), None) => classify(op, result),
            (None, None) => ItemOutcome::Failed(Failure::new("bulk response item without a result", true)),
        })
        .collect())
}

fn classify(op: OpType, result: ItemResult) -> ItemOutcome {
    let (error_type, reason) = match result.error {
        Some(e) => {
            let reason = e.reason.unwrap_or_default();
            (e.error_type, reason)
        }
        None => (String::new(), String::new()),
    };
    let describe = || format!("HTTP {} {error_type}: {reason}", result.status);
    match result.status {
        200..=299 => ItemOutcome::Written,
        // A `create` whose id exists: an earlier delivery of the same record already wrote it. A versioned
        // write refused as older than the document's version: a later record of the id is already there.
        409 if op == OpType::Create || error_type == "version_conflict_engine_exception" => ItemOutcome::Written,
        429 | 500..=599 => ItemOutcome::Failed(Failure::new(describe(), true)),
        _ if error_type == "es_rejected_execution_exception" => ItemOutcome::Failed(Failure::new(describe(), true)),
        // The target refuses whatever the document: no permission, a blocked or missing index.
        401 | 403 | 404 => ItemOutcome::Failed(Failure::new(describe(), false)),
        // Any other 4xx will fail again however often it is sent (a mapping conflict, a body the server
        // cannot parse such as `1e400` or a lone surrogate): the document's fault, so it is dead-lettered
        // rather than blocking its partition forever.
        400..=499 => ItemOutcome::BadDocument { error_type, reason },
        _ => ItemOutcome::Failed(Failure::new(describe(), false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_classified() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"a","_id":"1","status":201}},
            {"index":{"_index":"a","_id":"2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_index":"a","_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}},
            {"index":{"_index":"a","_id":"4","status":403,"error":{"type":"cluster_block_exception","reason":"read-only"}}},
            {"index":{"_index":"a","_id":"5","status":503,"error":{"type":"unavailable_shards_exception","reason":"x"}}},
            {"index":{"_index":"a","_id":"6","status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}}
        ]}"#;
        let outcomes = parse(body, OpType::Index, 6).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Written);
        assert!(matches!(outcomes[1], ItemOutcome::Failed(ref f) if f.retryable && f.reason.contains("queue full")));
        assert!(
            matches!(outcomes[2], ItemOutcome::BadDocument { ref error_type, .. } if error_type == "mapper_parsing_exception")
        );
        assert!(matches!(outcomes[3], ItemOutcome::Failed(ref f) if !f.retryable && f.reason.contains("403")));
        assert!(matches!(outcomes[4], ItemOutcome::Failed(ref f) if f.retryable));
        assert_eq!(
            outcomes[5],
            ItemOutcome::Written,
            "a versioned write older than the document: a later record is there"
        );
    }

    #[test]
    fn every_4xx_the_document_causes_is_a_bad_document() {
        let body = br#"{"errors":true,"items":[
            {"index":{"status":400,"error":{"type":"x_content_parse_exception","reason":"Failed to parse content to map"}}},
            {"index":{"status":413,"error":{"type":"some_new_exception","reason":"too big"}}},
            {"index":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index"}}},
            {"index":{"status":401,"error":{"type":"security_exception","reason":"unauthenticated"}}}
        ]}"#;
        let outcomes = parse(body, OpType::Index, 4).unwrap();
        assert!(
            matches!(outcomes[0], ItemOutcome::BadDocument { ref error_type, .. } if error_type == "x_content_parse_exception")
        );
        assert!(matches!(outcomes[1], ItemOutcome::BadDocument { .. }));
        assert!(matches!(outcomes[2], ItemOutcome::Failed(ref f) if !f.retryable));
        assert!(matches!(outcomes[3], ItemOutcome::Failed(ref f) if !f.retryable));
    }

    #[test]
    fn document_answers_give_their_source() {
        let body = br#"{"_index":"i","_id":"t-0","found":true,"_source":{"high":3,"stamps":[]}}"#;
        assert_eq!(source(body).unwrap(), br#"{"high":3,"stamps":[]}"#);
        assert!(source(b"{}").is_err());
    }

    #[test]
    fn deleting_a_missing_document_is_done() {
        let body = br#"{"errors":false,"items":[{"delete":{"status":404,"result":"not_found"}},
            {"delete":{"status":200,"result":"deleted"}},
            {"delete":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index"}}}]}"#;
        let outcomes = parse(body, OpType::Index, 3).unwrap();
        assert_eq!(outcomes[..2], [ItemOutcome::Written, ItemOutcome::Written]);
        assert!(matches!(&outcomes[2], ItemOutcome::Failed(f) if !f.retryable));
    }

    #[test]
    fn create_conflicts_are_already_written() {
        let body = br#"{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
        assert_eq!(parse(body, OpType::Create, 1).unwrap(), [ItemOutcome::Written]);
    }

    #[test]
    fn mismatched_or_garbled_responses_are_errors() {
        assert!(parse(br#"{"items":[]}"#, OpType::Index, 1)
            .unwrap_err()
            .contains("0 items for 1"));
        assert!(parse(b"<html>", OpType::Index, 1).is_err());
    }
}
