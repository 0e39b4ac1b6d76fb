use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ckafka_dump_core::config::Env;
use ckafka_dump_core::Deadline;
use ckafka_dump_runtime::Function;
use restore::config::RestoreConfig;
use restore::error::RestoreError;
use restore::job::{Meter, Report, Restore};
use restore::RestoreFunction;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: restore run [--dry-run] [--round-ms N]\n\
    Restores the backup the environment names (see docs/restore.md) until every partition is done, in rounds of\n\
    --round-ms (default 60000: a killed run's partitions are free again 10 s after its round would have ended).\n\
    --dry-run reads the backup and prints what would be restored, touching no target.\n\
    Without `run` the binary is the timer function: AWS Lambda, Tencent SCF, or `restore invoke --event FILE`.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("run") {
        return ckafka_dump_runtime::main("restore", || async {
            let config = RestoreConfig::from_env(&Env::process())?;
            Ok(Function::new(RestoreFunction(Restore::new(config)?)))
        });
    }
    let (mut dry_run, mut round_ms) = (false, 60_000u64);
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "--round-ms" => match rest.next().and_then(|n| n.parse().ok()).filter(|&n| n >= 1000) {
                Some(n) => round_ms = n,
                None => return usage("--round-ms needs milliseconds, at least 1000"),
            },
            _ => return usage(&format!("unknown argument `{arg}`")),
        }
    }
    if let Err(e) = ckafka_dump_runtime::init_logging() {
        eprintln!("restore: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("restore: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(dry_run, Duration::from_millis(round_ms))) {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).expect("reports serialize"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "restore stopped");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("restore: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// Rounds until the job is complete (a dry run needs one), with a progress line on a terminal.
async fn run(dry_run: bool, round: Duration) -> Result<Report, RestoreError> {
    let config = RestoreConfig::from_env(&Env::process())?;
    let restore = Restore::new(config)?;
    let meter = Arc::new(Meter::default());
    let started = Instant::now();
    let progress_line = async {
        if !std::io::stderr().is_terminal() {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            eprint!("\r{}", line(&meter, started.elapsed()));
            let _ = std::io::stderr().flush();
        }
    };
    let rounds = async {
        let mut total: Option<Report> = None;
        loop {
            let report = restore.run(Deadline::after(round), dry_run, &meter).await?;
            let complete = report.complete;
            let held_elsewhere = report.partitions.iter().any(|p| p.held_elsewhere);
            total = Some(match total {
                None => report,
                Some(sum) => add(sum, report),
            });
            if complete || dry_run {
                return Ok::<_, RestoreError>(total.expect("one round ran"));
            }
            if held_elsewhere {
                tracing::info!("another run holds partitions of this job; waiting for it");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let result = tokio::select! {
        result = rounds => result,
        _ = progress_line => unreachable!("the progress line never ends"),
    };
    if std::io::stderr().is_terminal() {
        eprintln!("\r{}", line(&meter, started.elapsed()));
    }
    result
}

/// Two rounds' reports as one: counts added, partitions merged.
fn add(mut sum: Report, next: Report) -> Report {
    sum.objects += next.objects;
    sum.records += next.records;
    sum.bytes += next.bytes;
    sum.complete = next.complete;
    for partition in next.partitions {
        match sum.partitions.iter_mut().find(|p| p.partition == partition.partition) {
            Some(p) => {
                p.objects += partition.objects;
                p.records += partition.records;
                p.bytes += partition.bytes;
                p.duplicates += partition.duplicates;
                p.out_of_range += partition.out_of_range;
                p.already_in_target += partition.already_in_target;
                p.first_offset = p.first_offset.or(partition.first_offset);
                p.last_offset = partition.last_offset.or(p.last_offset);
                p.first_time_ms = min_of(p.first_time_ms, partition.first_time_ms);
                p.last_time_ms = p.last_time_ms.max(partition.last_time_ms);
                p.held_elsewhere = partition.held_elsewhere;
                p.complete = partition.complete;
            }
            None => sum.partitions.push(partition),
        }
    }
    sum
}

fn min_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `objects 12 · records 1.2M · 340.5 MB · 48.2 MB/s · ETA 0:42`
fn line(meter: &Meter, elapsed: Duration) -> String {
    let read = meter.object_bytes.load(Ordering::Relaxed);
    let planned = meter.planned_bytes.load(Ordering::Relaxed);
    let bytes = meter.bytes.load(Ordering::Relaxed);
    let seconds = elapsed.as_secs_f64().max(0.001);
    let eta = match (read, planned) {
        (0, _) | (_, 0) => "–".to_owned(),
        (read, planned) => {
            let left = (planned.saturating_sub(read) as f64 / (read as f64 / seconds)) as u64;
            format!("{}:{:02}", left / 60, left % 60)
        }
    };
    format!(
        "objects {} · records {} · {:.1} MB · {:.1} MB/s · ETA {eta}   ",
        meter.objects.load(Ordering::Relaxed),
        meter.records.load(Ordering::Relaxed),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / seconds,
    )
}
