#!/usr/bin/env bash
# `make bench`: every benchmark, each side by side with its baseline in the same run; writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh start es opensearch
trap 'scripts/services.sh stop' EXIT
# shellcheck disable=SC1091
source .services/env
"$CKD_VENV/bin/pip" install -q "elasticsearch>=8,<9" opensearch-py
command -v hyperfine >/dev/null || true

mkdir -p target/bench-events
for format in msk scf; do
  [ -s "target/bench-events/$format-10k.json" ] || python3 scripts/gen_events.py "$format" >"target/bench-events/$format-10k.json"
done
cargo build -q --release -p to-es -p ckafka-dump-sink-es --example bulk_body

# Decode: criterion (Rust) and json+base64 as AWS Powertools does it (Python), same events, same run.
cargo bench -q -p ckafka-dump-core --bench decode -- --warm-up-time 2 --measurement-time 5 >target/bench-decode.log 2>&1
python3 scripts/bench_decode_baseline.py target/bench-events/msk-10k.json >target/bench-decode-py-msk.json
python3 scripts/bench_decode_baseline.py target/bench-events/scf-10k.json >target/bench-decode-py-scf.json
rss_kb=$( { /usr/bin/time -f %M target/release/to-es invoke --dry-run --event target/bench-events/msk-10k.json >/dev/null; } 2>&1 | tail -1)
noop_rss_kb=$( { /usr/bin/time -f %M target/release/to-es invoke --dry-run --event events/scf-ckafka.json >/dev/null; } 2>&1 | tail -1)

# to-es vs template vs curl, on both ES-API servers.
for target in "$CKD_ES_URL elasticsearch" "$CKD_OPENSEARCH_URL opensearch"; do
  set -- $target
  "$CKD_VENV/bin/python" scripts/bench_es.py --es "$1" --flavor "$2" --event target/bench-events/scf-10k.json \
    --to-es target/release/to-es --bulk-body target/release/examples/bulk_body --runs 5
done >target/bench-es.jsonl

python3 scripts/bench_report.py "$rss_kb" "$noop_rss_kb" >BENCHMARKS.md
cat BENCHMARKS.md
