#!/usr/bin/env bash
# `make demo-restore`: a backup brought back, on this machine. Starts tansu (a Kafka broker from crates.io, built
# on first use), produces records with confluent-kafka (binary keys, headers, a tombstone) into a new topic, dumps
# it with to-cos's scheduled mode into a local directory (bucket_address=file://...), dry-runs and then runs the
# restore into a new topic, runs it again (nothing left to do), and shows the restored records beside the
# originals. Stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tools (a Python venv with confluent-kafka) and the broker"
scripts/services.sh tools >/dev/null
started=$(scripts/services.sh start tansu)
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env
python=$CKD_VENV/bin/python
records() { "$python" scripts/fixtures/kafka_records.py "$@"; }

target=${CARGO_TARGET_DIR:-target}
echo "== building to-cos and restore (a few minutes on a fresh machine; cargo shows its progress)"
cargo build --profile demo -p to-cos -p restore

out=$PWD/demo-out-restore
rm -rf "$out"
suffix=$(date +%s)
source_topic=demo-orders-$suffix
restored_topic=demo-orders-restored-$suffix
records create "$CKD_KAFKA_BOOTSTRAP" "$source_topic" 2
records create "$CKD_KAFKA_BOOTSTRAP" "$restored_topic" 2
echo "== producing 1000 records into $source_topic (2 partitions)"
"$python" - "$CKD_KAFKA_BOOTSTRAP" "$source_topic" <<'PY' | records produce "$CKD_KAFKA_BOOTSTRAP" "$source_topic"
import base64, json, sys
b = lambda data: base64.b64encode(data).decode()
for i in range(1000):
    key = None if i % 10 == 0 else b(b"\xff\x00" + str(i).encode()) if i % 7 == 0 else b(f"customer-{i % 50}".encode())
    value = None if i % 100 == 99 else b(json.dumps({"order": i, "total": i * 1.5}).encode())
    headers = [["trace", b(f"t-{i}".encode())], ["source", b(b"demo")]]
    print(json.dumps({"partition": i % 2, "key": key, "value": value, "headers": headers, "timestamp": 1764547200000 + i * 1000}))
PY

export LOG_FORMAT=text RUST_LOG=${RUST_LOG:-info,rskafka=error} NO_COLOR=1
export bucket_address=file://$out/ kafka_instance_id=demo content_format=json compression_type=gzip
export kafka_address=$CKD_KAFKA_BOOTSTRAP topic_name=$source_topic consumer_timeout_ms=500
echo "== to-cos: the scheduled dump of $source_topic into $out"
"$target/demo/to-cos" invoke --event events/timer/scf-timer.json 2>/dev/null
echo
(cd "$out" && find . -type f -not -path './.uploads/*' | sort)

export kafka_topic_name=$restored_topic
echo "== restore run --dry-run: what would be restored"
"$target/demo/restore" run --dry-run 2>/dev/null
echo "== restore run: $source_topic's backup into $restored_topic"
"$target/demo/restore" run
echo "== restore run again: the job is complete, nothing is produced twice"
"$target/demo/restore" run 2>/dev/null
echo "== progress kept in the bucket:"
cat "$out/.ckafka-dump/restore/$restored_topic/0.json"
echo
echo "== the first records of partition 0, original then restored (confluent-kafka reads both):"
records consume "$CKD_KAFKA_BOOTSTRAP" "$source_topic" >"$out/source.jsonl"
records consume "$CKD_KAFKA_BOOTSTRAP" "$restored_topic" >"$out/restored.jsonl"
head -2 "$out/source.jsonl"
head -2 "$out/restored.jsonl"
echo "== records: $(wc -l <"$out/source.jsonl") in $source_topic, $(wc -l <"$out/restored.jsonl") in $restored_topic"
