use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs go to stderr (stdout carries `invoke`'s JSON result). JSON lines when the platform asks for them
/// (`AWS_LAMBDA_LOG_FORMAT=json`) or `LOG_FORMAT=json`; level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
/// else `info` for our code and `error` for rskafka, which logs every connection attempt and retry (the
/// invocation's own error line already names the cause).
pub fn init() {
    let json = ["AWS_LAMBDA_LOG_FORMAT", "LOG_FORMAT"]
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|v| v.eq_ignore_ascii_case("json")));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,rskafka=error".to_owned());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
