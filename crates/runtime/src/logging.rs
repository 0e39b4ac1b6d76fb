use std::io::IsTerminal;

use ckafka_dump_core::config::Env;
use tracing_subscriber::EnvFilter;

/// rskafka logs every connection attempt and retry; the invocation's own error line already names the cause.
const QUIET_RSKAFKA: &str = "rskafka=error";

/// Logs go to stderr (stdout carries `invoke`'s JSON result). JSON lines when the platform asks for them
/// (`AWS_LAMBDA_LOG_FORMAT=json`) or `LOG_FORMAT=json`; level from `AWS_LAMBDA_LOG_LEVEL` (Lambda's levels,
/// `FATAL` being `error`), else `RUST_LOG`, else `info`. A level or filter that does not parse is refused
/// rather than silencing the logs, the error line of a failed invocation included.
pub fn init() -> Result<(), String> {
    let env = Env::process();
    let mut json = false;
    for var in ["AWS_LAMBDA_LOG_FORMAT", "LOG_FORMAT"] {
        json |= env
            .get(var)
            .map_err(|e| e.to_string())?
            .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    }
    let lambda_level = env.get("AWS_LAMBDA_LOG_LEVEL").map_err(|e| e.to_string())?;
    let rust_log = env.get("RUST_LOG").map_err(|e| e.to_string())?;
    let filter = filter(lambda_level.as_deref(), rust_log.as_deref())?;
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

fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let level = match lambda_level.map(|l| l.trim().to_ascii_uppercase()) {
        None => None,
        Some(level) => Some(match level.as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARN" => "warn",
            "ERROR" | "FATAL" => "error",
            _ => {
                return Err(format!(
                    "environment variable AWS_LAMBDA_LOG_LEVEL: `{level}` is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
                ))
            }
        }),
    };
    match (level, rust_log) {
        (Some(level @ ("trace" | "debug")), _) => Ok(EnvFilter::new(level)),
        (Some(level), _) => Ok(EnvFilter::new(format!("{level},{QUIET_RSKAFKA}"))),
        (None, Some(spec)) => EnvFilter::try_new(spec)
            .map_err(|e| format!("environment variable RUST_LOG: `{spec}` is not a log filter: {e}")),
        (None, None) => Ok(EnvFilter::new(format!("info,{QUIET_RSKAFKA}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_levels_map_and_unknown_ones_are_refused() {
        let shown = |lambda: Option<&str>, rust_log: Option<&str>| {
            filter(lambda, rust_log).map(|f| {
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
