//! The variables the runtimes read: the platforms' own (which decide where a function runs and how it logs) and
//! the one every function shares.

use ckafka_dump_core::config::{Kind, Unset};

ckafka_dump_core::variables! {
    /// The one every function reads.
    SHARED;
    REPORT_BATCH_ITEM_FAILURES = Var::new(
        "report_batch_item_failures",
        Kind::Flag { default: false },
        "Lambda only: answer the records a sink names as not written as `batchItemFailures` (a partial batch response) instead of failing the invocation. Needs `FunctionResponseTypes: [ReportBatchItemFailures]` on the event source mapping, else Lambda takes the answer for success and those records are lost.",
    );
}

ckafka_dump_core::variables! {
    /// The platforms' variables the runtimes read.
    VARIABLES;
    AWS_LAMBDA_RUNTIME_API = Var::new(
        "AWS_LAMBDA_RUNTIME_API",
        Kind::Text(Unset::Means("set by Lambda")),
        "Set: the function runs under the AWS Lambda Runtime API. `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION` and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` must be set with it.",
    );
    AWS_LAMBDA_FUNCTION_NAME = Var::new("AWS_LAMBDA_FUNCTION_NAME", Kind::Text(Unset::Means("set by Lambda")), "Required with `AWS_LAMBDA_RUNTIME_API`.");
    AWS_LAMBDA_FUNCTION_VERSION = Var::new("AWS_LAMBDA_FUNCTION_VERSION", Kind::Text(Unset::Means("set by Lambda")), "Required with `AWS_LAMBDA_RUNTIME_API`.");
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE = Var::new(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        Kind::Text(Unset::Means("set by Lambda")),
        "Required with `AWS_LAMBDA_RUNTIME_API`; an integer.",
    );
    SCF_RUNTIME_API = Var::new(
        "SCF_RUNTIME_API",
        Kind::Text(Unset::Means("set by SCF")),
        "Set (`host` or `host:port`): the function runs under the Tencent SCF custom runtime API.",
    );
    SCF_RUNTIME_API_PORT = Var::new("SCF_RUNTIME_API_PORT", Kind::Text(Unset::Means("`9001`")), "The SCF runtime API's port when `SCF_RUNTIME_API` names none.");
    AWS_LAMBDA_LOG_FORMAT = Var::new("AWS_LAMBDA_LOG_FORMAT", Kind::Text(Unset::Nothing), "`json`: logs as JSON lines (Lambda sets it with JSON logging).");
    LOG_FORMAT = Var::new("LOG_FORMAT", Kind::Text(Unset::Nothing), "`json`: logs as JSON lines, anywhere.");
    AWS_LAMBDA_LOG_LEVEL = Var::new(
        "AWS_LAMBDA_LOG_LEVEL",
        Kind::Text(Unset::Means("`RUST_LOG` decides")),
        "Lambda's log level: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL` (which is `error`: the error line of a failed invocation is always kept).",
    );
    RUST_LOG = Var::new(
        "RUST_LOG",
        Kind::Text(Unset::Means("`info`")),
        "A `tracing` filter when `AWS_LAMBDA_LOG_LEVEL` is unset; a filter that does not parse is a start-up error, not silence.",
    );
}
