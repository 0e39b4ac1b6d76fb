#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target (fuzz/fuzz_targets/; FUZZ_TARGETS to pick) for FUZZ_RUNS executions each
# (default 10,000,000), seeded from events/ (whole events for the decoder, their message bodies for the ES
# document transform).
# Writes target/fuzz-results.json, which `make bench` reports in BENCHMARKS.md. A crash stops the run with
# libFuzzer's reproducer in fuzz/artifacts/<target>/; each one found becomes a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${XDG_CACHE_HOME:-$HOME/.cache}/ckafka-dump
cargo_fuzz=$cache/cargo-fuzz/bin/cargo-fuzz
[ -x "$cargo_fuzz" ] || cargo install -q cargo-fuzz --locked --root "$cache/cargo-fuzz"
# cargo fuzz passes unstable -Z flags; the machine has one stable toolchain, which accepts them this way.
export RUSTC_BOOTSTRAP=1
runs=${FUZZ_RUNS:-10000000}

mkdir -p fuzz/corpus/decode_event fuzz/corpus/decode_differential fuzz/corpus/es_document fuzz/corpus/stage target
cp events/*.json events/timer/*.json fuzz/corpus/decode_event/
cp events/*.json fuzz/corpus/decode_differential/
python3 - <<'PY'
import glob, hashlib, json
for path in glob.glob("events/*.json"):
    event = json.load(open(path, encoding="utf-8"))
    bodies = [r["Ckafka"]["msgBody"] for r in event.get("Records", [])]
    for body in bodies:
        name = hashlib.sha1(body.encode()).hexdigest()
        for target in ("es_document", "stage"):
            open(f"fuzz/corpus/{target}/seed-{name}", "w", encoding="utf-8").write(body)
PY

results=()
for target in ${FUZZ_TARGETS:-decode_event decode_differential es_document stage}; do
  log=target/fuzz-$target.log
  # No sanitizer: the code under test is safe Rust, so libFuzzer catches what matters (panics, aborts,
  # timeouts, memory blow-ups) at full speed. -max_len 8192 leaves room for multi-record events.
  "$cargo_fuzz" run --fuzz-dir fuzz -s none "$target" "fuzz/corpus/$target" -- \
    -runs="$runs" -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
  executed=$(echo "$done_line" | awk '{print $2}')
  seconds=$(echo "$done_line" | awk '{print $5}')
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  echo "$target: $done_line; corpus $corpus inputs"
  results+=("{\"target\":\"$target\",\"runs\":$executed,\"seconds\":$seconds,\"corpus\":$corpus,\"crashes\":0}")
done
(IFS=,; echo "[${results[*]}]") >target/fuzz-results.json
cat target/fuzz-results.json
