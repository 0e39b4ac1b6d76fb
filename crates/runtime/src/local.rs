//! `<function> invoke --event FILE|- [--dry-run] [--time-limit-ms N]`: runs the function once and prints
//! the JSON result on stdout.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_core::Deadline;

use crate::driver::{dry_run, invoke};
use crate::function::Function;
use crate::RuntimeError as Error;

const DEFAULT_TIME_LIMIT_MS: u64 = 900_000;

struct Args {
    event: String,
    dry_run: bool,
    show: usize,
    time_limit: Duration,
}

fn usage(function: &str) -> String {
    format!(
        "usage: {function} invoke --event FILE|- [--dry-run [--show N]] [--time-limit-ms N]\n\
         Outside AWS Lambda (AWS_LAMBDA_RUNTIME_API) and Tencent SCF (SCF_RUNTIME_API) the function runs one\n\
         event from a file or stdin and prints the JSON result; --dry-run only decodes the event and runs the\n\
         transform stage (TRANSFORM_*, time_zone), --show N prints its first N records as they would be written."
    )
}

fn parse_args(function: &str, mut args: impl Iterator<Item = String>) -> Result<Args, Error> {
    if args.next().as_deref() != Some("invoke") {
        return Err(Error::Usage(usage(function)));
    }
    let (mut event, mut dry_run, mut show, mut time_limit_ms) = (None, false, 0, DEFAULT_TIME_LIMIT_MS);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--event" => event = args.next(),
            "--dry-run" => dry_run = true,
            "--show" => {
                show = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Error::Usage("--show needs a number of records".to_owned()))?
            }
            "--time-limit-ms" => {
                time_limit_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Error::Usage("--time-limit-ms needs a number of milliseconds".to_owned()))?
            }
            _ => return Err(Error::Usage(usage(function))),
        }
    }
    let event = event.ok_or_else(|| Error::Usage(usage(function)))?;
    if show > 0 && !dry_run {
        return Err(Error::Usage("--show goes with --dry-run".to_owned()));
    }
    Ok(Args {
        event,
        dry_run,
        show,
        time_limit: Duration::from_millis(time_limit_ms),
    })
}

async fn read_event(path: &str) -> Result<String, Error> {
    if path == "-" {
        let mut event = String::new();
        tokio::io::stdin().read_to_string(&mut event).await?;
        Ok(event)
    } else {
        // std sizes the buffer from the file's length up front (tokio's grows it chunk by chunk); nothing
        // else runs while the one event is read.
        std::fs::read_to_string(path).map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")).into())
    }
}

/// A failed invocation is logged by the driver and ends in a failure exit code, not a second log line.
pub(super) async fn run<S, F, Fut>(function: &str, build: F) -> Result<ExitCode, Error>
where
    S: ckafka_dump_core::Sink,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Function<S>, ckafka_dump_core::Error>>,
{
    let args = parse_args(function, std::env::args().skip(1))?;
    let deadline = Deadline::after(args.time_limit);
    let event = read_event(&args.event).await?;
    let output = if args.dry_run {
        let stage = Stage::from_env(&Env::process()).map_err(ckafka_dump_core::Error::from)?;
        let dry_run = dry_run(&event, &stage, args.show)?;
        match args.show {
            0 => serde_json::to_string(&dry_run),
            _ => serde_json::to_string_pretty(&dry_run),
        }
    } else {
        let function = build().await?;
        match invoke(&function, &event, deadline, "local").await {
            Ok(summary) => serde_json::to_string(&summary),
            Err(_) => return Ok(ExitCode::FAILURE),
        }
    };
    println!("{}", output.expect("results always serialize"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, Error> {
        parse_args("to-es", list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_invoke_flags() {
        let a = args(&[
            "invoke",
            "--event",
            "-",
            "--dry-run",
            "--show",
            "3",
            "--time-limit-ms",
            "1500",
        ])
        .unwrap();
        assert_eq!(a.event, "-");
        assert!(a.dry_run);
        assert_eq!(a.show, 3);
        assert_eq!(a.time_limit, Duration::from_millis(1500));
    }

    #[test]
    fn rejects_missing_event_and_unknown_flags() {
        assert!(matches!(args(&["invoke"]), Err(Error::Usage(_))));
        assert!(matches!(
            args(&["invoke", "--event", "x", "--bogus"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(args(&[]), Err(Error::Usage(_))));
        assert!(matches!(
            args(&["invoke", "--event", "x", "--show", "2"]),
            Err(Error::Usage(_))
        ));
    }
}
