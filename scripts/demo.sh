#!/usr/bin/env bash
# `make demo`: the main job on this machine, no server and no cloud account: builds to-cos, dumps every
# sample event in events/ into a local directory (bucket_address=file://...) twice — the second time is a
# re-delivery, which finds every offset written and writes nothing — and shows the keys, the invocation summaries and the
# files. `make demo-es` does the same for to-es with a local ES-API server.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$PWD/demo-out
target=${CARGO_TARGET_DIR:-target}
rm -rf "$out"
echo "== building to-cos (a few minutes on a fresh machine; cargo shows its progress)"
cargo build --profile demo -p to-cos
export bucket_address=file://$out/ kafka_instance_id=demo LOG_FORMAT=text RUST_LOG=info NO_COLOR=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for round in first re-delivery; do
  echo "== $round: to-cos invoke for each sample event"
  for event in events/*.json; do
    echo "-- $event"
    # stdout is the invocation's result; the log (stderr) names each object written.
    result=$("$target/demo/to-cos" invoke --event "$event" 2>"$log") || { cat "$log"; exit 1; }
    sed -n 's/.*object written key=\([^ ]*\) records=\([0-9]*\).*/   wrote \1 (\2 records)/p' "$log"
    echo "   result: $result"
  done
done

echo
echo "== files under $out after two deliveries of every event (each offset stored once: the re-delivery skipped"
echo "   them; .ckafka-dump/ holds each partition's written offsets and the dates of the SCF records, which carry"
echo "   no timestamp):"
(cd "$out" && find . -type f -not -path './.uploads/*' | sort)
first=$(cd "$out" && find . -type f -not -path './.uploads/*' -not -path './.ckafka-dump/*' | sort | head -1)
echo "== $first:"
cat "$out/$first"
