//! The transform stage's CPU cost in to-es, on the 10k-record MSK event (~6 MB): decode → ES bulk items
//! without a stage, with a typical stage (filter + rename + metadata fields + index by a field), and the
//! floor — decode, then serde_json parsing and re-serializing every value. Pure code, no server: the
//! added CPU of the stage (stage − no-stage) is compared with the floor's (floor − decode).

use std::path::Path;
use std::time::Instant;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_sink_es::config::EsConfig;
use ckafka_dump_sink_es::request;
use criterion::{Criterion, Throughput};

fn event() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-events/msk-10k.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; make bench generates it (python3 scripts/bench/gen_events.py msk > it)",
            path.display()
        )
    })
}

fn es_config(pairs: &[(&str, &str)]) -> EsConfig {
    let mut all = pairs.to_vec();
    all.extend_from_slice(&[("ES_Address", "http://127.0.0.1:9200"), ("ES_Index_KeyWord", "bench")]);
    EsConfig::from_env(&Env::from_pairs(&all)).unwrap()
}

/// Decodes, stages and plans the bulk items; returns their total size.
fn to_es(event: &str, stage: &Stage, config: &EsConfig) -> usize {
    let batch = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
    let staged = stage.apply(&batch);
    let routing: Vec<i64> = staged.records().map(|r| r.timestamp.map_or(0, |t| t.millis)).collect();
    let plan = request::plan(&staged, config, &routing, 0);
    plan.items.iter().map(|i| i.lines.len()).sum()
}

/// What every case runs on, built once.
struct Setup {
    event: String,
    plain: EsConfig,
    routed: EsConfig,
    none: Stage,
    typical: Stage,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            event: event(),
            plain: es_config(&[]),
            routed: es_config(&[("ES_Index_Template", "bench-{field:level}-{date}")]),
            none: Stage::default(),
            typical: Stage::from_env(&Env::from_pairs(&[
                ("TRANSFORM_FILTER", r#"level != "DEBUG""#),
                ("TRANSFORM_RENAME", "msg:message"),
                ("TRANSFORM_ADD", "kafka_topic:@topic, kafka_offset:@offset"),
            ]))
            .unwrap(),
        }
    }
}

type Case = (&'static str, fn(&Setup) -> usize);

const CASES: [Case; 5] = [
    ("decode", |s| {
        ckafka_dump_core::decode(std::hint::black_box(&s.event))
            .unwrap()
            .into_batch()
            .unwrap()
            .len()
    }),
    ("to-es-no-stage", |s| {
        to_es(std::hint::black_box(&s.event), &s.none, &s.plain)
    }),
    ("to-es-typical-stage", |s| {
        to_es(std::hint::black_box(&s.event), &s.typical, &s.routed)
    }),
    ("to-es-typical-stage-fixed-index", |s| {
        to_es(std::hint::black_box(&s.event), &s.typical, &s.plain)
    }),
    ("decode-serde-json-roundtrip-floor", |s| {
        let batch = ckafka_dump_core::decode(std::hint::black_box(&s.event))
            .unwrap()
            .into_batch()
            .unwrap();
        batch
            .records()
            .map(|r| {
                let value: serde_json::Value = serde_json::from_slice(r.value_bytes()).unwrap();
                serde_json::to_vec(&value).unwrap().len()
            })
            .sum::<usize>()
    }),
];

fn main() {
    let setup = Setup::new();
    // `CKD_BENCH_ONCE=<case>` runs one case once and exits: `make bench` counts its instructions under
    // callgrind, which a busy machine does not disturb.
    if let Ok(name) = std::env::var("CKD_BENCH_ONCE") {
        let (_, run) = CASES
            .iter()
            .find(|(case, _)| *case == name)
            .unwrap_or_else(|| panic!("CKD_BENCH_ONCE={name}: no such case"));
        println!("{}", run(&setup));
        return;
    }
    // `CKD_BENCH_INTERLEAVED=<rounds>`: every case once per round, in turn, timed alone; the cases share
    // whatever the machine is doing, so their minimums and medians compare where criterion's runs of
    // seconds each do not on a busy VM.
    if let Ok(rounds) = std::env::var("CKD_BENCH_INTERLEAVED") {
        let rounds: usize = rounds
            .parse()
            .unwrap_or_else(|_| panic!("CKD_BENCH_INTERLEAVED={rounds}: a number of rounds"));
        let mut times = vec![Vec::with_capacity(rounds); CASES.len()];
        for _ in 0..rounds {
            for ((_, run), times) in CASES.iter().zip(&mut times) {
                let start = Instant::now();
                std::hint::black_box(run(&setup));
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        for ((name, _), mut times) in CASES.iter().zip(times) {
            times.sort_by(f64::total_cmp);
            println!(
                "{{\"case\": \"{name}\", \"min_ms\": {:.3}, \"median_ms\": {:.3}}}",
                times[0],
                times[times.len() / 2]
            );
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("stage");
    group.throughput(Throughput::Bytes(setup.event.len() as u64));
    for (name, run) in CASES {
        group.bench_function(name, |b| b.iter(|| run(&setup)));
    }
    group.finish();
    criterion.final_summary();
}
