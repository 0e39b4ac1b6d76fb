//! The `to-es` binary through its three ways in, against real peers: `cargo lambda watch` (the AWS Lambda
//! Runtime API emulator), `scripts/fixtures/scf_runtime_api.py` (the four SCF custom-runtime endpoints) and the
//! local `invoke` command — each writing to the noida-db ES-API server started by `scripts/services.sh`.

use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ckafka_dump_testkit::{free_port, repo_root as repo, setting, spawn_listening, var, venv_path, Owned};
use serde_json::Value;

/// The binary under test: this build's, or a packaged `bootstrap` (`CKD_TO_ES_BOOTSTRAP`, set by
/// `scripts/test.sh` after `make package`), so the zip users deploy is checked the same way.
fn bin() -> String {
    var("CKD_TO_ES_BOOTSTRAP", env!("CARGO_BIN_EXE_to-es"))
}

fn es_url() -> String {
    setting("CKD_ES_URL")
}

fn function(envs: &[(&str, String)]) -> Command {
    let mut command = Command::new(bin());
    command
        .env_clear()
        .env("PATH", var("PATH", "/usr/bin"))
        .env("ES_Address", es_url());
    for (k, v) in envs {
        command.env(k, v);
    }
    command
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn aws_lambda_runtime_through_cargo_lambda_watch() {
    let port = free_port().to_string();
    let cargo_lambda = venv_path("bin/cargo-lambda");
    let watch = Command::new(&cargo_lambda)
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cargo_lambda} (scripts/services.sh tools installs it): {e}"));
    let _watch = Owned(watch);
    let started = Instant::now();
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let handler = function(&[
        ("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt")),
        ("AWS_LAMBDA_FUNCTION_NAME", "_".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("ES_Index_KeyWord", "runtime-aws".to_owned()),
    ])
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _handler = Owned(handler);

    // The emulator may still be restarting its server just after it first listened (seen once in a CI run:
    // the invoke's connection refused): an invoke is tried again while nothing listens on the port.
    let listening = || std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok();
    let invoke = |data: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = Command::new(&cargo_lambda)
                .args(["lambda", "invoke", "-A", "127.0.0.1", "-P", &port])
                .args(data)
                .arg("_")
                .current_dir(repo())
                .output()
                .unwrap();
            if output.status.success() || listening() || Instant::now() > deadline {
                return output;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let summary = json(&invoke(&["--data-file", "events/aws-msk.json"]));
    assert_eq!(
        (summary["format"].as_str(), summary["written"].as_u64()),
        (Some("aws-kafka"), Some(3))
    );

    let bad = invoke(&[
        "--data-ascii",
        r#"{"records":{"t-0":[{"partition":0,"offset":1,"value":"!!"}]}}"#,
    ]);
    assert!(!bad.status.success());
    let error = String::from_utf8_lossy(&bad.stderr);
    assert!(
        error.contains("invalid base64") && error.contains("NonRetryable"),
        "{error}"
    );
}

#[test]
fn scf_custom_runtime_binary_answers_each_invocation() {
    let record = std::env::temp_dir().join(format!("to-es-scf-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&record);
    let record_arg = record.to_string_lossy();
    let (_server, url) = spawn_listening(
        "scf_runtime_api.py",
        &[
            "--record",
            &record_arg,
            "events/scf-ckafka.json@30000",
            "events/aws-msk.json@30000",
        ],
    );
    let address = url.trim_start_matches("http://");
    let (host, port) = address.split_once(':').unwrap();

    let handler = function(&[
        ("SCF_RUNTIME_API", host.to_owned()),
        ("SCF_RUNTIME_API_PORT", port.to_owned()),
        ("ES_Index_KeyWord", "runtime-scf".to_owned()),
    ])
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _handler = Owned(handler);

    let started = Instant::now();
    let posts: Vec<Value> = loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        if text.lines().count() >= 3 {
            break text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the function answered only: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let paths: Vec<&str> = posts.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/runtime/init/ready",
            "/runtime/invocation/response",
            "/runtime/invocation/response"
        ]
    );
    let first: Value = serde_json::from_str(posts[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (first["format"].as_str(), first["written"].as_u64()),
        (Some("scf-ckafka"), Some(2))
    );
    let second: Value = serde_json::from_str(posts[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(second["written"], 3);
}

#[test]
fn local_dry_run_summarises_every_sample_without_a_target() {
    let expected = [
        ("events/scf-ckafka.json", "scf-ckafka", 2, 1),
        ("events/scf-ckafka-multi-partition.json", "scf-ckafka", 5, 3),
        ("events/aws-msk.json", "aws-kafka", 3, 2),
        ("events/aws-self-managed-headers.json", "aws-kafka", 3, 1),
    ];
    for (event, format, records, partitions) in expected {
        // No ES_* variables: a dry run needs no configuration.
        let output = Command::new(bin())
            .env_clear()
            .args(["invoke", "--dry-run", "--event", event])
            .current_dir(repo())
            .output()
            .unwrap();
        let summary = json(&output);
        assert_eq!(summary["format"], format, "{event}");
        assert_eq!(summary["records"], records, "{event}");
        assert_eq!(summary["partitions"].as_array().unwrap().len(), partitions, "{event}");
    }
    let msk = json(
        &Command::new(bin())
            .args(["invoke", "--dry-run", "--event", "events/aws-msk.json"])
            .current_dir(repo())
            .output()
            .unwrap(),
    );
    assert_eq!(
        msk["partitions"][0],
        serde_json::json!({"topic":"mytopic","partition":0,"first_offset":15,"last_offset":16,"count":2})
    );
    assert_eq!(msk["bytes"], 65);
}

/// `--dry-run --show N`: the records after the transform stage, as a user checks a configuration; a
/// mistake in it is a start-up error naming the variable and the position.
#[test]
fn dry_run_shows_records_after_the_stage() {
    let output = Command::new(bin())
        .env_clear()
        .env("TRANSFORM_FILTER", r#"level != "INFO""#)
        .env("time_zone", "Asia/Shanghai")
        .args(["invoke", "--dry-run", "--show", "5", "--event", "events/aws-msk.json"])
        .current_dir(repo())
        .output()
        .unwrap();
    let shown = json(&output);
    assert_eq!(
        (
            shown["records"].as_u64(),
            shown["filtered"].as_u64(),
            shown["rejected"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    let records = shown["shown"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{shown}");
    assert_eq!(
        records[0]["rejected"],
        "the value is not JSON: expected value at line 1 column 1"
    );
    assert_eq!(records[0]["value"], "Hello, this is a test.");
    assert_eq!(records[0]["time"], "2018-12-18T06:10:50.987+08:00");
    assert_eq!(
        (records[1]["offset"].as_i64(), records[1]["value"].as_str()),
        (Some(3), Some("third")),
        "offset 16 (level INFO) was filtered: {shown}"
    );

    let mistake = Command::new(bin())
        .env_clear()
        .env("TRANSFORM_FILTER", "level = 1")
        .args(["invoke", "--dry-run", "--show", "1", "--event", "events/aws-msk.json"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!mistake.status.success());
    let stderr = String::from_utf8_lossy(&mistake.stderr);
    assert!(
        stderr.contains("TRANSFORM_FILTER: at character 7: unexpected `=`"),
        "{stderr}"
    );
}

#[test]
fn local_invoke_reads_stdin_and_bad_input_exits_non_zero_with_the_cause() {
    let run = |args: &[&str], stdin: &str, envs: &[(&str, String)]| {
        let mut child = function(envs)
            .args(args)
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A process that refuses its configuration exits before reading stdin: a broken pipe is fine.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    let keyword = ("ES_Index_KeyWord", "runtime-local".to_owned());
    let ok = run(
        &["invoke", "--event", "-"],
        include_str!("../../../events/scf-ckafka.json"),
        std::slice::from_ref(&keyword),
    );
    assert_eq!(json(&ok)["written"], 2);

    let not_json = run(&["invoke", "--event", "-"], "{oops", std::slice::from_ref(&keyword));
    assert!(!not_json.status.success());
    assert!(String::from_utf8_lossy(&not_json.stderr).contains("not valid JSON"));

    let missing_var = run(&["invoke", "--event", "events/scf-ckafka.json"], "", &[]);
    assert!(!missing_var.status.success());
    assert!(String::from_utf8_lossy(&missing_var.stderr).contains("ES_Index_KeyWord"));

    let bad_value = run(
        &["invoke", "--event", "events/scf-ckafka.json"],
        "",
        &[keyword.clone(), ("ES_Index_TimeFormat", "weekly".to_owned())],
    );
    let stderr = String::from_utf8_lossy(&bad_value.stderr);
    assert!(
        stderr.contains("ES_Index_TimeFormat") && stderr.contains("weekly"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one log line per failure: {stderr}");

    // Lambda's own FATAL level keeps the error line of a failed invocation; a level it does not offer is refused.
    let fatal = run(
        &["invoke", "--event", "-"],
        "{oops",
        &[keyword.clone(), ("AWS_LAMBDA_LOG_LEVEL", "FATAL".to_owned())],
    );
    let stderr = String::from_utf8_lossy(&fatal.stderr);
    assert!(
        !fatal.status.success() && stderr.contains("ERROR") && stderr.contains("not valid JSON"),
        "{stderr}"
    );
    let garbage = run(
        &["invoke", "--event", "-"],
        "{}",
        &[keyword.clone(), ("AWS_LAMBDA_LOG_LEVEL", "LOUD".to_owned())],
    );
    let stderr = String::from_utf8_lossy(&garbage.stderr);
    assert!(
        !garbage.status.success() && stderr.contains("AWS_LAMBDA_LOG_LEVEL: `LOUD`"),
        "{stderr}"
    );

    // A value that is not UTF-8 is refused, not taken as unset.
    let mut not_utf8 = function(std::slice::from_ref(&keyword));
    not_utf8.env("ES_Index_TimeFormat", std::ffi::OsStr::from_bytes(b"d\xffy"));
    let output = not_utf8
        .args(["invoke", "--event", "events/scf-ckafka.json"])
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("ES_Index_TimeFormat: is not valid UTF-8"),
        "{stderr}"
    );

    // AWS_LAMBDA_RUNTIME_API without the variables Lambda sets beside it: a start-up error, not a panic.
    let lambda = run(
        &[],
        "",
        &[keyword, ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9".to_owned())],
    );
    let stderr = String::from_utf8_lossy(&lambda.stderr);
    assert!(
        lambda.status.code() == Some(1)
            && stderr.contains("AWS_LAMBDA_FUNCTION_NAME: is required with AWS_LAMBDA_RUNTIME_API")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn dry_run_reads_the_event_corpus() {
    ckafka_dump_testkit::check_event_corpus(&bin());
}
