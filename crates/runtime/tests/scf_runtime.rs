//! The SCF custom-runtime loop against `scripts/fixtures/scf_runtime_api.py`, a real HTTP server implementing the
//! four documented endpoints and headers (no SCF emulator exists publicly).

use std::path::PathBuf;
use std::time::Duration;

use ckafka_dump_core::{Deadline, Delivery, Error, Format, Sink, StagedBatch};
use ckafka_dump_runtime::scf::RuntimeApi;
use ckafka_dump_runtime::Function;
use ckafka_dump_testkit::{repo_root as repo, spawn_listening, Owned};

/// Counts records as written; sleeps past any deadline for AWS-format batches.
struct FakeSink;

impl Sink for FakeSink {
    type Error = Error;
    fn target(&self) -> String {
        "fake".to_owned()
    }
    async fn write(&self, batch: &StagedBatch<'_>, _deadline: Deadline) -> Result<Delivery, Error> {
        if batch.format == Format::AwsKafka {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(Delivery {
            written: batch.len(),
            ..Delivery::default()
        })
    }
}

struct Server {
    _process: Owned,
    url: String,
    record: PathBuf,
}

fn start_server(events: &[&str]) -> Server {
    start_server_with(&[], events)
}

fn start_server_with(options: &[&str], events: &[&str]) -> Server {
    let record = std::env::temp_dir().join(format!(
        "scf-runtime-{}-{}.jsonl",
        std::process::id(),
        events.len() + options.len()
    ));
    let _ = std::fs::remove_file(&record);
    let record_arg = record.to_string_lossy().into_owned();
    let args: Vec<&str> = ["--record", record_arg.as_str()]
        .into_iter()
        .chain(options.iter().copied())
        .chain(events.iter().copied())
        .collect();
    let (process, url) = spawn_listening("scf_runtime_api.py", &args);
    Server {
        _process: process,
        url,
        record,
    }
}

fn posts(server: &Server) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&server.record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn scf_loop_posts_results_errors_and_beats_the_deadline() {
    let bad_event = std::env::temp_dir().join("scf-runtime-bad-event.json");
    std::fs::write(&bad_event, br#"{"Records":[{"Ckafka":{"topic":"t","partition":0}}]}"#).unwrap();
    let server = start_server(&[
        "events/scf-ckafka.json@5000",
        &format!("{}@5000", bad_event.display()),
        "events/aws-msk.json@600",
    ]);
    let api = RuntimeApi::new(server.url.clone());
    api.ready().await.unwrap();
    for _ in 0..3 {
        api.serve_next(&Function::new(FakeSink)).await.unwrap();
    }

    let posts = posts(&server);
    let paths: Vec<&str> = posts.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/runtime/init/ready",
            "/runtime/invocation/response",
            "/runtime/invocation/error",
            "/runtime/invocation/error"
        ]
    );

    let summary: serde_json::Value = serde_json::from_str(posts[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(posts[1]["request_id"], "req-0");
    assert_eq!(summary["format"], "scf-ckafka");
    assert_eq!(summary["records"], 2);
    assert_eq!(summary["written"], 2);
    assert_eq!(summary["target"], "fake");

    let decode_error = posts[2]["body"].as_str().unwrap();
    assert!(
        decode_error.contains("record 0") && decode_error.contains("offset"),
        "{decode_error}"
    );

    let deadline_error = posts[3]["body"].as_str().unwrap();
    assert!(deadline_error.contains("deadline"), "{deadline_error}");
    let answered_after_ms = posts[3]["ms"].as_f64().unwrap();
    assert!(
        answered_after_ms < 600.0,
        "the error must reach the runtime API before the 600 ms time limit, took {answered_after_ms} ms"
    );
}

#[tokio::test]
async fn the_loop_outlives_5xx_from_next_and_from_the_response_post() {
    let server = start_server_with(
        &["--fail-next", "3", "--fail-posts", "2"],
        &["events/scf-ckafka.json@5000"],
    );
    let api = RuntimeApi::new(server.url.clone());
    api.ready().await.unwrap();
    api.serve_next(&Function::new(FakeSink)).await.unwrap();
    let posts = posts(&server);
    let seen: Vec<(&str, bool)> = posts
        .iter()
        .map(|p| (p["path"].as_str().unwrap(), p.get("failed").is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/runtime/init/ready", false),
            ("/runtime/invocation/next", true),
            ("/runtime/invocation/next", true),
            ("/runtime/invocation/next", true),
            ("/runtime/invocation/response", true),
            ("/runtime/invocation/response", true),
            ("/runtime/invocation/response", false),
        ],
        "the injected failures met the loop, and the result still arrived"
    );
    let summary: serde_json::Value = serde_json::from_str(posts[6]["body"].as_str().unwrap()).unwrap();
    assert_eq!(summary["written"], 2);
}

#[tokio::test]
async fn unreachable_runtime_api_is_an_error_naming_the_url() {
    let api = RuntimeApi::new("http://127.0.0.1:9".to_owned());
    let error = api.ready().await.unwrap_err().to_string();
    assert!(error.contains("127.0.0.1:9/runtime/init/ready"), "{error}");
}

#[tokio::test]
async fn a_timer_event_to_a_function_without_scheduled_mode_is_a_clear_error() {
    let timer = std::fs::read_to_string(repo().join("events/timer/scf-timer.json")).unwrap();
    let error = ckafka_dump_runtime::invoke(
        &Function::new(FakeSink),
        &timer,
        Deadline::after(Duration::from_secs(5)),
        "t",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("no scheduled mode"), "{error}");
}
