//! The model every ckafka-dump function stands on: trigger-event decoding into one [`Record`] model, the
//! invocation [`Deadline`], environment configuration, typed errors with a retry class, one retry policy,
//! and the [`Sink`] trait. No runtime glue: the runtimes live in `ckafka-dump-runtime`.

pub mod config;
pub mod dating;
pub mod dead_letter;
pub mod deadline;
pub mod decode;
pub mod error;
pub mod json;
pub mod ranges;
pub mod record;
pub mod retry;
pub mod sink;
pub mod stage;
pub mod staged;
pub mod template;
pub mod time;
pub mod value;

pub use deadline::{Deadline, MAX_TIME_LIMIT};
pub use decode::{decode, DecodeError, Event};
pub use error::{ConfigError, Error, Failure, NotWritten, RecordAt, Retryable, Unwritten};
pub use ranges::OffsetRanges;
pub use record::{Batch, Format, Header, PartitionSpan, Record, Timestamp, TimestampType};
pub use sink::{Delivery, Drained, Sink};
pub use staged::{Outcome, Rejection, StagedBatch, StagedRecord};
