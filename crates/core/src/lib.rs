//! Shared core of the ckafka-dump functions: trigger-event decoding into one [`Record`] model, the
//! [`Sink`] trait, the invocation driver and the runtime adapters (AWS Lambda, Tencent SCF, local).

pub mod config;
pub mod deadline;
pub mod decode;
pub mod driver;
pub mod error;
pub mod logging;
pub mod record;
pub mod retry;
pub mod runtime;
pub mod sink;
pub mod time;

pub use deadline::Deadline;
pub use decode::{decode, DecodeError};
pub use driver::{dry_run, invoke, DryRun, Summary};
pub use error::{ConfigError, Error, Retryable};
pub use record::{Batch, Format, Header, PartitionSpan, Record, Timestamp, TimestampType};
pub use sink::{Delivery, Drained, Sink};
