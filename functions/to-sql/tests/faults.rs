//! The `to-sql` binary under the faults a database user fears, against the real servers of
//! `scripts/services.sh`: the process killed between the bulk load and the commit, then the batch re-delivered;
//! PostgreSQL restarted while a COPY is running. Every offset must land exactly once.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ckafka_dump_core::config::Env;
use ckafka_dump_sink_sql::config::SqlConfig;
use ckafka_dump_sink_sql::db::Connection;
use ckafka_dump_sink_sql::SqlSink;
use ckafka_dump_testkit::{setting, unique, url_address, var, Cut, Owned, TcpCut};

const BIN: &str = env!("CARGO_BIN_EXE_to-sql");

fn url(postgres: bool) -> String {
    setting(if postgres { "CKD_PG_URL" } else { "CKD_MYSQL_URL" })
}

async fn admin(url: &str) -> Connection {
    let config = SqlConfig::from_env(&Env::from_pairs(&[("db_url", url), ("db_table", "t")])).unwrap();
    Connection::open(&config.target)
        .await
        .unwrap_or_else(|e| panic!("{url} unreachable: {e}"))
}

async fn count(url: &str, table: &str) -> usize {
    let rows = admin(url)
        .await
        .query(&format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

/// A table of the MySQL template's shape and an SCF event of `n` records for it, in a file.
async fn table_and_event(url: &str, postgres: bool, n: usize, prefix: &str) -> (String, std::path::PathBuf) {
    let table = unique(prefix).replace('-', "_");
    let q = |name: &str| {
        if postgres {
            format!("\"{name}\"")
        } else {
            format!("`{name}`")
        }
    };
    admin(url)
        .await
        .execute(&format!(
            "CREATE TABLE {table} ({} bigint, {} text)",
            q("offset"),
            q("msgBody")
        ))
        .await
        .unwrap();
    let records: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"Ckafka": {"topic": "faults", "partition": 0, "offset": i, "msgKey": "None",
            "msgBody": format!("{{\"n\":{i},\"line\":\"{}\"}}", "z".repeat(300))}})
        })
        .collect();
    let path = std::env::temp_dir().join(format!("{table}.json"));
    std::fs::write(&path, serde_json::json!({ "Records": records }).to_string()).unwrap();
    (table, path)
}

fn invoke(db_url: &str, table: &str, event: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(["invoke", "--event"])
        .arg(event)
        .env("db_url", db_url)
        .env("db_table", table)
        .output()
        .unwrap()
}

fn summary(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn killed_before_commit_then_redelivered(postgres: bool) {
    let url = url(postgres);
    let (table, event) = table_and_event(&url, postgres, 20_000, "killed").await;
    let proxy = TcpCut::start(&url_address(&url), Cut::HoldCommit);
    let mut child = Owned(
        Command::new(BIN)
            .args(["invoke", "--event"])
            .arg(&event)
            .env("db_url", proxy.url(&url))
            .env("db_table", &table)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while proxy.cuts() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the batch never reached its COMMIT"
        );
        assert!(child.0.try_wait().unwrap().is_none(), "to-sql ended before its COMMIT");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        proxy.bytes_at_cut() > 20_000 * 300,
        "the whole load had passed: {}",
        proxy.bytes_at_cut()
    );
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert_eq!(count(&url, &table).await, 0, "nothing of the killed run is visible");
    let first = summary(&invoke(&url, &table, &event));
    assert_eq!(
        (first["written"].as_u64(), first["skipped"].as_u64()),
        (Some(20_000), Some(0))
    );
    let again = summary(&invoke(&url, &table, &event));
    assert_eq!(
        (again["written"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(20_000))
    );
    assert_eq!(count(&url, &table).await, 20_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_killed_before_commit_then_redelivered() {
    killed_before_commit_then_redelivered(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_killed_before_commit_then_redelivered() {
    killed_before_commit_then_redelivered(false).await;
}

/// `pg_ctl restart -m fast` on the test cluster, as its owner when this runs as root. The server's output goes to
/// its log file: a pipe would be held open by the restarted server.
fn restart_postgres() {
    let data = var("CKD_PG_DATA", "/var/tmp/ckafka-dump-postgres/data");
    let log = format!("{data}/../log");
    let pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl";
    let args = ["-D", data.as_str(), "-l", log.as_str(), "-m", "fast", "-w", "restart"];
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", pg_ctl]);
        c
    } else {
        Command::new(pg_ctl)
    };
    let status = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl restart failed; see {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_mid_copy_every_offset_once() {
    let url = url(true);
    let n = 200_000;
    let (table, event) = table_and_event(&url, true, n, "restart").await;
    let text = std::fs::read_to_string(&event).unwrap();
    let config = SqlConfig::from_env(&Env::from_pairs(&[("db_url", &url), ("db_table", &table)])).unwrap();
    let sink = SqlSink::new(config);
    let batch = ckafka_dump_core::decode(&text).unwrap().into_batch().unwrap();
    let watcher = async {
        // The restart must meet the COPY running: watch the server's own view of our session.
        let mut conn = admin(&url).await;
        let query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ckafka-dump' \
                     AND state = 'active' AND query LIKE 'COPY%'";
        let started = Instant::now();
        loop {
            let rows = conn.query(query).await.unwrap();
            if rows[0][0].as_deref() == Some("1") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the COPY never ran");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::task::spawn_blocking(restart_postgres).await.unwrap();
    };
    let deadline = ckafka_dump_core::Deadline::after(Duration::from_secs(120));
    let staged = ckafka_dump_core::StagedBatch::unstaged(&batch);
    let (delivery, ()) = tokio::join!(ckafka_dump_core::Sink::write(&sink, &staged, deadline), watcher);
    let delivery = delivery.unwrap();
    assert_eq!((delivery.written, delivery.skipped), (n, 0));
    assert_eq!(count(&url, &table).await, n);
}
