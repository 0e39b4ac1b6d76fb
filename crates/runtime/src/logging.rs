use std::io::IsTerminal;

use ckafka_dump_core::config::{Choice, Env};
use tracing_subscriber::EnvFilter;

use crate::variables::{AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, LOG_FORMAT, RUST_LOG};

/// rskafka logs every connection attempt and retry; the invocation's own error line already names the cause.
const QUIET_RSKAFKA: &str = "rskafka=error";

/// Logs go to stderr (stdout carries `invoke`'s JSON result). JSON lines when the platform asks for them
/// (`AWS_LAMBDA_LOG_FORMAT=json`) or `LOG_FORMAT=json`; level from `AWS_LAMBDA_LOG_LEVEL` (Lambda's levels,
/// `FATAL` being `error`), else `RUST_LOG`, else `info`. A level or filter that does not parse is refused
/// rather than silencing the logs, the error line of a failed invocation included.
pub fn init() -> Result<(), String> {
    let env = Env::process();
    let mut json = false;
    for var in [&AWS_LAMBDA_LOG_FORMAT, &LOG_FORMAT] {
        json |= env
            .get(var)
            .map_err(|e| e.to_string())?
            .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    }
    let filter = filter(&env)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

/// `AWS_LAMBDA_LOG_LEVEL`: the levels Lambda offers, `FATAL` being `error` (tracing has no level above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LambdaLevel {
    Unset,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Choice for LambdaLevel {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("TRACE", LambdaLevel::Trace),
        ("DEBUG", LambdaLevel::Debug),
        ("INFO", LambdaLevel::Info),
        ("WARN", LambdaLevel::Warn),
        ("ERROR", LambdaLevel::Error),
        ("FATAL", LambdaLevel::Error),
    ];
}

fn filter(env: &Env) -> Result<EnvFilter, String> {
    let level = env
        .choice_given(&AWS_LAMBDA_LOG_LEVEL)
        .map_err(|e| e.to_string())?
        .unwrap_or(LambdaLevel::Unset);
    let rust_log = env.get(&RUST_LOG).map_err(|e| e.to_string())?;
    Ok(match (level, rust_log) {
        (LambdaLevel::Trace, _) => EnvFilter::new("trace"),
        (LambdaLevel::Debug, _) => EnvFilter::new("debug"),
        (LambdaLevel::Info, _) => EnvFilter::new(format!("info,{QUIET_RSKAFKA}")),
        (LambdaLevel::Warn, _) => EnvFilter::new(format!("warn,{QUIET_RSKAFKA}")),
        (LambdaLevel::Error, _) => EnvFilter::new(format!("error,{QUIET_RSKAFKA}")),
        (LambdaLevel::Unset, Some(spec)) => EnvFilter::try_new(&spec)
            .map_err(|e| format!("environment variable RUST_LOG: `{spec}` is not a log filter: {e}"))?,
        (LambdaLevel::Unset, None) => EnvFilter::new(format!("info,{QUIET_RSKAFKA}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_levels_map_and_unknown_ones_are_refused() {
        let shown = |lambda: Option<&str>, rust_log: Option<&str>| {
            let pairs: Vec<(&str, &str)> = [("AWS_LAMBDA_LOG_LEVEL", lambda), ("RUST_LOG", rust_log)]
                .into_iter()
                .filter_map(|(var, value)| Some((var, value?)))
                .collect();
            filter(&Env::from_pairs(&pairs)).map(|f| {
                let mut directives: Vec<String> = f.to_string().split(',').map(str::to_owned).collect();
                directives.sort();
                directives.join(",")
            })
        };
        assert_eq!(shown(Some("FATAL"), None).unwrap(), "error,rskafka=error");
        assert_eq!(shown(Some("warn"), Some("trace")).unwrap(), "rskafka=error,warn");
        assert_eq!(shown(Some("DEBUG"), None).unwrap(), "debug");
        assert_eq!(shown(None, None).unwrap(), "info,rskafka=error");
        let garbage = shown(Some("LOUD"), None).unwrap_err();
        assert!(
            garbage.contains("AWS_LAMBDA_LOG_LEVEL: `LOUD` is not one of"),
            "{garbage}"
        );
        assert!(shown(None, Some("info,[")).unwrap_err().contains("RUST_LOG"));
    }
}
