//! Prints the bulk NDJSON to-es sends for an event (one request body, no size split), so benchmarks can
//! post exactly the same bytes with curl. `ES_*` variables as for to-es.
//!
//! usage: cargo run --release -p ckafka-dump-sink-es --example bulk_body -- EVENT_FILE > bulk.ndjson

use std::io::Write;

use ckafka_dump_core::config::Env;
use ckafka_dump_sink_es::config::EsConfig;
use ckafka_dump_sink_es::request;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: bulk_body EVENT_FILE")?;
    let event = std::fs::read_to_string(path)?;
    let batch = ckafka_dump_core::decode(&event)?
        .into_batch()
        .ok_or("a timer event has no records")?;
    let config = EsConfig::from_env(&Env::process())?;
    let stage = ckafka_dump_core::stage::Stage::from_env(&Env::process())?;
    let staged = stage.apply(&batch);
    let now_ms = ckafka_dump_core::time::now_epoch_ms();
    let routing = vec![now_ms; staged.len()];
    let plan = request::plan(&staged, &config, &routing, now_ms);
    let all: Vec<usize> = (0..plan.items.len()).collect();
    std::io::stdout().write_all(&request::body(&plan.items, &all))?;
    Ok(())
}
