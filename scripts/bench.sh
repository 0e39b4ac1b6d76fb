#!/usr/bin/env bash
# `make bench`: every benchmark, each side by side with its baseline in the same run; writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Stop on exit only what this run started, not servers that were already up.
started=$(scripts/services.sh start tansu es opensearch s3 postgres mariadb)
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env
"$CKD_VENV/bin/pip" install -q -r scripts/bench/requirements.txt
# The benchmarks are the Python package scripts/bench (and use scripts/fixtures), run from the clone's root.
export PYTHONPATH=$PWD/scripts
command -v kcat >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null)
# Debian's kcat with the librdkafka of the confluent-kafka wheel (Debian's librdkafka 2.0.2 cannot talk to tansu).
rdkafka_dir=$CKD_CACHE_DIR/rdkafka
mkdir -p "$rdkafka_dir"
ln -sf "$(ls "$CKD_SITE_PACKAGES"/confluent_kafka.libs/librdkafka-*.so.1)" "$rdkafka_dir/librdkafka.so.1"

# Cargo's outputs (binaries, criterion's results) are under $out; the bench files stay in the clone's target/.
out=${CARGO_TARGET_DIR:-target}
mkdir -p target/bench-events
for format in msk scf; do
  [ -s "target/bench-events/$format-10k.json" ] || python3 scripts/bench/gen_events.py "$format" >"target/bench-events/$format-10k.json"
done
[ -s target/bench-events/scf-10k-1p.json ] || python3 scripts/bench/gen_events.py scf --partitions 1 >target/bench-events/scf-10k-1p.json
# --bins as well: naming an example alone would build only the example.
cargo build -q --release -p to-cos -p to-es -p to-kafka -p to-sql -p restore -p ckafka-dump-sink-es --bins --example bulk_body

# Decode: criterion (Rust) and json+base64 as AWS Powertools does it (Python), same events, same run.
cargo bench -q -p ckafka-dump-core --bench decode -- --warm-up-time 2 --measurement-time 5 >target/bench-decode.log 2>&1
# The transform stage: its cases interleaved (100 rounds, each case timed once per round), then once each under
# callgrind: instruction counts, which a busy machine does not move.
command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
stage_bench=$(cargo bench -q -p ckafka-dump-sink-es --bench stage --no-run --message-format=json |
  python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("target", {}).get("name") == "stage" and m.get("executable")][0])')
CKD_BENCH_INTERLEAVED=100 "$stage_bench" >target/bench-stage-interleaved.jsonl
for case in decode to-es-no-stage to-es-typical-stage to-es-typical-stage-fixed-index decode-serde-json-roundtrip-floor; do
  instructions=$(CKD_BENCH_ONCE=$case valgrind --tool=callgrind --callgrind-out-file=/dev/null "$stage_bench" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "{\"case\": \"$case\", \"instructions\": $instructions}"
done >target/bench-stage-instructions.jsonl
python3 -m bench.decode_baseline target/bench-events/msk-10k.json >target/bench-decode-py-msk.json
python3 -m bench.decode_baseline target/bench-events/scf-10k.json >target/bench-decode-py-scf.json
rss_kb=$( { /usr/bin/time -f %M "$out"/release/to-es invoke --dry-run --event target/bench-events/msk-10k.json >/dev/null; } 2>&1 | tail -1)
noop_rss_kb=$( { /usr/bin/time -f %M "$out"/release/to-es invoke --dry-run --event events/scf-ckafka.json >/dev/null; } 2>&1 | tail -1)

# to-es vs template vs curl, on both ES-API servers.
for target in "$CKD_ES_URL elasticsearch" "$CKD_OPENSEARCH_URL opensearch"; do
  set -- $target
  "$CKD_VENV/bin/python" -m bench.es --es "$1" --flavor "$2" --event target/bench-events/scf-10k.json \
    --to-es "$out"/release/to-es --bulk-body "$out"/release/examples/bulk_body --runs 5
done >target/bench-es.jsonl

# to-kafka vs template vs kcat, same broker.
"$CKD_VENV/bin/python" -m bench.kafka --broker "$CKD_KAFKA_BOOTSTRAP" --event target/bench-events/scf-10k.json \
  --to-kafka "$out"/release/to-kafka --rdkafka-dir "$rdkafka_dir" --runs 5 >target/bench-kafka.json

# to-cos: a 6 MB batch vs boto3 put_object of the same bytes; the scheduled drain vs the template's consumer.
"$CKD_VENV/bin/python" -m bench.cos --endpoint "$CKD_S3_ENDPOINT" --access-key "$CKD_S3_ACCESS_KEY" \
  --secret-key "$CKD_S3_SECRET_KEY" --broker "$CKD_KAFKA_BOOTSTRAP" --to-cos "$out"/release/to-cos \
  --event target/bench-events/scf-10k-1p.json --runs 5 --drain-mb 100 >target/bench-cos.json

# to-cos Parquet: the 6 MB batch vs pyarrow read_json + write_table; the scheduled drain into one Parquet object.
"$CKD_VENV/bin/python" -m bench.parquet --broker "$CKD_KAFKA_BOOTSTRAP" --to-cos "$out"/release/to-cos \
  --event target/bench-events/scf-10k-1p.json --runs 15 --drain-mb 100 >target/bench-parquet.json

# restore vs kcat -P of the same records into the same broker; peak RSS on one large object.
"$CKD_VENV/bin/python" -m bench.restore --broker "$CKD_KAFKA_BOOTSTRAP" --to-cos "$out"/release/to-cos \
  --restore "$out"/release/restore --rdkafka-dir "$rdkafka_dir" --runs 5 --big-mb 100 >target/bench-restore.json

# to-sql vs the MySQL and CDW templates' logic vs psql \copy and LOAD DATA, same rows; sustained batches.
"$CKD_VENV/bin/python" -m bench.sql --event target/bench-events/scf-10k.json --to-sql "$out"/release/to-sql \
  --pg-url "$CKD_PG_URL" --mysql-url "$CKD_MYSQL_URL" --runs 3 --batches 10 >target/bench-sql.json

# Start-up to the first `next`, binary sizes, peak RSS on the 6 MB event; then the fuzzers.
"$CKD_VENV/bin/python" -m bench.footprint --bin-dir "$out/release" --python "$CKD_VENV/bin/python" \
  --event target/bench-events/scf-10k.json --es "$CKD_ES_URL" --broker "$CKD_KAFKA_BOOTSTRAP" \
  --pg-url "$CKD_PG_URL" --runs 20 \
  >target/bench-footprint.json
scripts/fuzz.sh

CRITERION_DIR=$out/criterion python3 -m bench.report "$rss_kb" "$noop_rss_kb" >BENCHMARKS.md
cat BENCHMARKS.md
