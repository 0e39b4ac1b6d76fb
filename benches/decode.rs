//! Decoding throughput of ~6 MB / 10k-record trigger events (AWS MSK and Tencent SCF CKafka).
//! The events come from `scripts/bench/gen_events.py` and are generated into `target/bench-events/` if absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn event(format: &str) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path: PathBuf = repo.join(format!("target/bench-events/{format}-10k.json"));
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let out = Command::new("python3")
            .arg(repo.join("scripts/bench/gen_events.py"))
            .arg(format)
            .output()
            .expect("python3 generates the bench events");
        assert!(
            out.status.success(),
            "gen_events.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&path, out.stdout).unwrap();
    }
    std::fs::read_to_string(path).unwrap()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for format in ["msk", "scf"] {
        let event = event(format);
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_function(format!("{format}-10k"), |b| {
            b.iter(|| {
                ckafka_dump_core::decode(std::hint::black_box(&event))
                    .unwrap()
                    .into_batch()
                    .unwrap()
                    .len()
            })
        });
        // The floor of any serde_json-based decoder: validating and skipping the same text.
        group.bench_function(format!("{format}-10k-json-skip-floor"), |b| {
            b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(std::hint::black_box(&event)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
