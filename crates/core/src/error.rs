use crate::decode::DecodeError;
use crate::staged::StagedBatch;

/// Whether retrying the same work can succeed. Every error type decides it from what it knows (a status,
/// a typed cause), never from its message.
pub trait Retryable {
    fn is_retryable(&self) -> bool;

    /// The records the error leaves unwritten, when it knows them one by one.
    fn not_written(&self) -> Option<&NotWritten> {
        None
    }
}

/// An invocation's error, as the runtimes report it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{target}: {message}")]
    Sink {
        target: String,
        message: String,
        retryable: bool,
        /// The records not written, when the sink knows them (a partial batch response can name them).
        not_written: Option<Box<NotWritten>>,
    },
    #[error("{target}: deadline reached after {elapsed_ms} ms before {pending} confirmed written; the trigger will re-deliver")]
    Deadline {
        target: String,
        /// What was not confirmed: "all 500 records", "the scheduled run's objects".
        pending: String,
        elapsed_ms: u64,
    },
    #[error("{target}: sink accounted for {accounted} of {records} records; refusing to report success")]
    Unaccounted {
        target: String,
        records: usize,
        accounted: usize,
    },
    #[error("{target}: got a timer event, but this function has no scheduled mode; give it a Kafka trigger")]
    NoSchedule { target: String },
}

impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        match self {
            Error::Sink { retryable, .. } => *retryable,
            Error::Deadline { .. } | Error::Unaccounted { .. } => true,
            Error::Decode(_) | Error::Config(_) | Error::NoSchedule { .. } => false,
        }
    }

    fn not_written(&self) -> Option<&NotWritten> {
        match self {
            Error::Sink { not_written, .. } => not_written.as_deref(),
            _ => None,
        }
    }
}

impl Error {
    /// A sink's failure, keeping its message and whether it is worth a re-delivery.
    pub fn sink<E: std::error::Error + Retryable>(target: impl Into<String>, error: &E) -> Self {
        Error::Sink {
            target: target.into(),
            retryable: error.is_retryable(),
            message: error.to_string(),
            not_written: error.not_written().cloned().map(Box::new),
        }
    }

    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

/// Why something was not written, and whether trying again can succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub retryable: bool,
}

impl Failure {
    pub fn new(reason: impl Into<String>, retryable: bool) -> Self {
        Failure {
            reason: reason.into(),
            retryable,
        }
    }

    /// The failure of `error`, its causes spelled out.
    pub fn of<E: std::error::Error + Retryable + 'static>(error: &E) -> Self {
        Failure::new(error_chain(error), error.is_retryable())
    }

    /// The same failure with `context` in front ("dead-letter index: …", "orders/3: …").
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Failure {
            reason: format!("{context}: {}", self.reason),
            ..self
        }
    }
}

/// A record of a batch (by index) that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwritten {
    pub record: usize,
    pub failure: Failure,
}

/// Records of a batch that were not written: the one shape in which every sink reports them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{count} of {total} records not written ({offsets}): {reasons}")]
pub struct NotWritten {
    pub count: usize,
    pub total: usize,
    /// `topic/partition/offset` of the first records not written.
    pub offsets: String,
    /// The distinct reasons, in batch order.
    pub reasons: String,
    pub retryable: bool,
    /// Every record not written, in batch order.
    pub records: Vec<RecordAt>,
}

/// Where a record was read: its topic, partition and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAt {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl NotWritten {
    /// `None` when every record was written. Retryable when any failure is: a re-delivery writes again
    /// what can be written, and what cannot fails again.
    pub fn of(batch: &StagedBatch<'_>, mut unwritten: Vec<Unwritten>) -> Option<NotWritten> {
        if unwritten.is_empty() {
            return None;
        }
        unwritten.sort_by_key(|u| u.record);
        let mut reasons: Vec<&str> = Vec::new();
        for u in &unwritten {
            if !reasons.contains(&u.failure.reason.as_str()) {
                reasons.push(&u.failure.reason);
            }
        }
        const SHOWN: usize = 3;
        let mut reasons_text = reasons[..reasons.len().min(SHOWN)].join("; ");
        if reasons.len() > SHOWN {
            reasons_text.push_str(&format!("; and {} other reasons", reasons.len() - SHOWN));
        }
        let records: Vec<usize> = unwritten.iter().map(|u| u.record).collect();
        Some(NotWritten {
            count: unwritten.len(),
            total: batch.len(),
            offsets: batch.coordinates(&records),
            reasons: reasons_text,
            retryable: unwritten.iter().any(|u| u.failure.retryable),
            records: records
                .iter()
                .filter_map(|&i| batch.get(i))
                .map(|r| RecordAt {
                    topic: r.topic.to_owned(),
                    partition: r.partition,
                    offset: r.offset,
                })
                .collect(),
        })
    }
}

impl NotWritten {
    /// Every record of a non-empty `batch` failed the same way (nothing could be sent).
    pub fn all(batch: &StagedBatch<'_>, failure: Failure) -> NotWritten {
        let unwritten = (0..batch.len())
            .map(|record| Unwritten {
                record,
                failure: failure.clone(),
            })
            .collect();
        NotWritten::of(batch, unwritten).expect("a batch the sink was given has records")
    }
}

impl Retryable for NotWritten {
    fn is_retryable(&self) -> bool {
        self.retryable
    }

    fn not_written(&self) -> Option<&NotWritten> {
        Some(self)
    }
}

/// An error and its causes on one line. Clients' own Display often hides the cause ("error sending
/// request"); the chain names it ("Connection refused"). Causes already spelled out are not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A bad environment value. Names the variable; carries the value only when it is not a secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            var: var.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_written_names_records_in_order_with_distinct_reasons() {
        let event = include_str!("../../../events/scf-ckafka.json");
        let decoded = crate::decode(event).unwrap().into_batch().unwrap();
        let batch = StagedBatch::unstaged(&decoded);
        let fail = |record, reason: &str, retryable| Unwritten {
            record,
            failure: Failure::new(reason, retryable),
        };
        assert_eq!(NotWritten::of(&batch, Vec::new()), None);
        let e = NotWritten::of(&batch, vec![fail(1, "b", false), fail(0, "a", true)]);
        let e = e.unwrap();
        assert_eq!((e.count, e.total, e.retryable), (2, 2, true));
        assert!(
            e.to_string()
                .starts_with("2 of 2 records not written (test-topic/1/36, test-topic/1/37)"),
            "{e}"
        );
        assert!(e.to_string().ends_with("): a; b"), "{e}");
        let permanent = NotWritten::of(&batch, vec![fail(0, "x", false)]).unwrap();
        assert!(!permanent.is_retryable());
    }
}

/// A server's answer body as it may appear in an error: one line (runs of whitespace, line breaks included,
/// become one space; other control characters are escaped), at most `max_chars` characters.
pub fn body_excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let line: Vec<String> = text
        .split_whitespace()
        .map(|word| word.chars().flat_map(char::escape_debug).collect())
        .collect();
    shortened(&line.join(" "), max_chars)
}

/// `text` for a message: whole when it has at most `max_chars` characters, else its start, `…` and its length.
pub fn shortened(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn an_html_page_becomes_one_short_line() {
        let page = b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
        let excerpt = body_excerpt(page, 60);
        assert_eq!(
            excerpt,
            "<html> <head><title>413 Request Entity Too Large</title></he… (168 bytes)"
        );
        assert_eq!(body_excerpt(b"a\x07b", 10), "a\\u{7}b");
        assert_eq!(body_excerpt(b"", 10), "");
    }
}
