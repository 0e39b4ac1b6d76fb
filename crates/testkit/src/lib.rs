//! Helpers shared by the integration tests. Server addresses come from the variables `scripts/services.sh`
//! writes, with its loopback defaults; nothing here skips a test when a server is missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

mod poison;
mod tcp_cut;

pub use poison::{poison_seeds, poison_values, PoisonValue};
pub use tcp_cut::{url_address, Cut, TcpCut};

/// The environment variable `name`, or `default`.
pub fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A test server's address or credential (`CKD_ES_URL`, `CKD_S3_SECRET_KEY` ...): the environment's value
/// (`scripts/services.sh env`), else the one in `scripts/test-servers.env`, where they are written once.
pub fn setting(name: &str) -> String {
    const DEFAULTS: &str = include_str!("../../../scripts/test-servers.env");
    std::env::var(name).unwrap_or_else(|_| {
        DEFAULTS
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} is not in scripts/test-servers.env"))
            .to_owned()
    })
}

/// A name no other test run uses (indices, topics): `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// One record of [`aws_event`]: offset, timestamp (epoch ms), key, value (`None`: a tombstone).
pub type AwsRecord<'a> = (i64, i64, Option<&'a str>, Option<&'a str>);

/// An AWS Lambda Kafka event (MSK / self-managed) of `records` on `topic`/`partition`, every record carrying
/// `headers` (as the event writes them: signed bytes).
pub fn aws_event(topic: &str, partition: i32, records: &[AwsRecord<'_>], headers: &[(&str, &str)]) -> String {
    let b64 = |s: &str| base64_simd::STANDARD.encode_to_string(s);
    let headers: Vec<serde_json::Value> = headers
        .iter()
        .map(|(name, value)| {
            let bytes: Vec<i8> = value.bytes().map(|b| b as i8).collect();
            serde_json::json!({ *name: bytes })
        })
        .collect();
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(offset, timestamp, key, value)| {
            let mut record = serde_json::json!({"topic": topic, "partition": partition, "offset": offset,
                "timestamp": timestamp, "timestampType": "CREATE_TIME", "headers": headers,
                "value": value.map(b64)});
            if let Some(key) = key {
                record["key"] = b64(key).into();
            }
            record
        })
        .collect();
    serde_json::json!({"eventSource": "aws:kafka", "records": {format!("{topic}-{partition}"): records}}).to_string()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cache `scripts/services.sh` installs the test servers and tools into.
pub fn cache_dir() -> String {
    var("CKD_CACHE_DIR", &format!("{}/.cache/ckafka-dump", var("HOME", "/root")))
}

/// A file in the Python venv `scripts/services.sh` installs the test servers and tools into.
pub fn venv_path(relative: &str) -> String {
    let venv = var("CKD_VENV", &format!("{}/venv", cache_dir()));
    format!("{venv}/{relative}")
}

/// A file of a package installed in that venv (the servers that come from PyPI).
pub fn site_package(relative: &str) -> String {
    let site = std::env::var("CKD_SITE_PACKAGES").unwrap_or_else(|_| {
        let lib = std::path::PathBuf::from(venv_path("lib"));
        std::fs::read_dir(&lib)
            .ok()
            .and_then(|entries| {
                entries
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
            })
            .map(|python| python.path().join("site-packages").to_string_lossy().into_owned())
            .unwrap_or_else(|| {
                panic!(
                    "no python3 in {} (scripts/services.sh tools makes the venv)",
                    lib.display()
                )
            })
    });
    format!("{site}/{relative}")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process a test started; killed when the test ends, pass or fail.
pub struct Owned(pub Child);

impl Owned {
    /// Starts `program args…` with stdout and stderr discarded; panics naming the program when it cannot.
    pub fn spawn(program: &str, args: &[&str], hint: &str) -> Owned {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Owned)
            .unwrap_or_else(|e| panic!("cannot start {program} ({hint}): {e}"))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts one of the repository's Python test servers (`scripts/fixtures/<script>`), which prints `listening <url>`
/// once ready; returns the process (killed when dropped) and the URL.
pub fn spawn_listening(script: &str, args: &[&str]) -> (Owned, String) {
    let mut child = Command::new("python3")
        .arg(repo_root().join("scripts/fixtures").join(script))
        .args(args)
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 must be installed to run scripts/fixtures/{script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("scripts/fixtures/{script} did not start: {line:?}"))
        .to_owned();
    (Owned(child), url)
}

/// `scripts/fixtures/fault_proxy.py` in front of `upstream`; faults are armed through its control endpoints.
pub struct FaultProxy {
    _process: Owned,
    pub url: String,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let (process, url) = spawn_listening("fault_proxy.py", &["--upstream", upstream]);
        FaultProxy { _process: process, url }
    }

    /// `POST /__fault/<what>` with a JSON body (`GET` for `seen`); returns the answer's body.
    pub fn control(&self, what: &str, body: &str) -> String {
        let address = self.url.trim_start_matches("http://");
        let method = if what == "seen" { "GET" } else { "POST" };
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "{method} /__fault/{what} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

/// Runs `bin invoke --dry-run` on every event of `events/corpus/` (real events from public sources) and
/// checks each against `events/corpus/expected.json`: the exact summary for the good ones, the exact error
/// (and a failure exit) for the bad ones.
pub fn check_event_corpus(bin: &str) {
    let corpus = repo_root().join("events/corpus");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus.join("expected.json")).expect("events/corpus/expected.json"))
            .expect("expected.json is JSON");
    let cases = expected.as_array().expect("expected.json is a list");
    let files = std::fs::read_dir(&corpus).unwrap().count() - 1;
    assert_eq!(
        cases.len(),
        files,
        "every corpus file has an expectation in expected.json"
    );
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let output = Command::new(bin)
            .env_clear()
            .args(["invoke", "--dry-run", "--event"])
            .arg(corpus.join(file))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match case.get("error") {
            None => {
                assert!(output.status.success(), "{file}: {stderr}");
                let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
                assert_eq!(summary, case["dry_run"], "{file}");
            }
            Some(error) => {
                assert!(!output.status.success(), "{file} should be refused");
                let logged = stderr.lines().filter(|line| line.contains("ERROR")).collect::<Vec<_>>();
                assert_eq!(logged.len(), 1, "{file}: one error line, got {stderr}");
                assert!(
                    logged[0].ends_with(&format!("error={}", error.as_str().unwrap())),
                    "{file}: {stderr}"
                );
            }
        }
    }
}

/// What a task of [`spawn_timed`] gives back: when it started and ended, and its output.
pub type Timed<T> = (std::time::Instant, std::time::Instant, T);

/// Runs `work` as a task of its own (an invocation of a concurrency test), timing it.
pub fn spawn_timed<F>(work: F) -> tokio::task::JoinHandle<Timed<F::Output>>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let output = work.await;
        (started, std::time::Instant::now(), output)
    })
}

/// The outputs of tasks of [`spawn_timed`], in order, once it is proven that they ran at one time: every one
/// started before any ended.
pub async fn join_overlapping<T>(tasks: Vec<tokio::task::JoinHandle<Timed<T>>>) -> Vec<T> {
    let mut timed = Vec::new();
    for task in tasks {
        timed.push(task.await.expect("the task ran to its end"));
    }
    let last_start = timed.iter().map(|(started, _, _)| *started).max();
    let first_end = timed.iter().map(|(_, ended, _)| *ended).min();
    assert!(last_start < first_end, "the {} tasks ran at the same time", timed.len());
    timed.into_iter().map(|(_, _, output)| output).collect()
}

/// Checks that the configuration table of the docs page `page` (the block `<!-- configuration: NAME -->`) is
/// the one `vars` render, so the documentation and the declarations cannot drift. With `CKD_WRITE_DOCS=1` it
/// writes the table into the page instead.
pub fn check_configuration_table(page: &str, name: &str, vars: &[ckafka_dump_core::config::Documented]) {
    let path = repo_root().join(page);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table = ckafka_dump_core::config::table(vars);
    let expected = ckafka_dump_core::config::with_table(&text, name, &table)
        .unwrap_or_else(|| panic!("{page} has no `<!-- configuration: {name} -->` … `<!-- /configuration -->` block"));
    if std::env::var_os("CKD_WRITE_DOCS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    assert!(
        text == expected,
        "{page}: the configuration table differs from the declarations (declare each variable once, in its crate's \
         `variables!`); regenerate the page with `CKD_WRITE_DOCS=1 cargo test --workspace --test docs`"
    );
}

/// Runs `scripts/fixtures/read_parquet.py` with the venv's Python (pyarrow and duckdb, installed by
/// `scripts/services.sh tools`) and returns what it printed; panics with its error output when it fails.
pub fn read_parquet(args: &[&str]) -> serde_json::Value {
    let python = venv_path("bin/python");
    let script = repo_root().join("scripts/fixtures/read_parquet.py");
    let output = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (scripts/services.sh tools makes the venv): {e}"));
    assert!(
        output.status.success(),
        "read_parquet.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("read_parquet.py prints JSON")
}
