#!/usr/bin/env bash
# `make test`: tools, real servers, format and lint checks, every test, the deployment checks. Prints each
# step with the time so far; servers this run started are stopped on exit.
#
# On a fresh machine most of the time is compiling: the servers that come from crates.io (tansu with sqlite,
# s3s-fs; cached after the first run), the debug test build and one release build (which serves both the
# `sam build` check and the package smoke test). They run side by side, so both cores stay busy through the
# long single-threaded stretches (LTO, C sources, linking).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
logs=$target/test-logs
mkdir -p "$logs"
step() { printf '\n== [%s, %dm%02ds] %s\n' "$(date +%H:%M:%S)" $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "toolchain components and test tools (cargo-lambda, SAM CLI, cfn-lint)"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
scripts/services.sh tools
cargo fmt --all --check
python3 scripts/check_links.py

step "in the background: the servers from crates.io ($logs/servers-build.log) and the release build ($logs/release-build.log)"
scripts/services.sh build >"$logs/servers-build.log" 2>&1 &
servers_build=$!
# x86_64: what SCF runs, and what this machine can run for the smoke tests below.
make -s lambda ARCH=x86_64 >"$logs/release-build.log" 2>&1 &
release_build=$!
wait_for() { # pid log what
  if ! wait "$1"; then
    echo "$3 failed; the end of $2:" >&2
    tail -40 "$2" >&2
    exit 1
  fi
}

step "clippy (every target, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
step "debug build of every test and binary"
# One invocation, one feature resolution: every function has an integration test, so this builds the four
# binaries the fault tests run too (a separate `cargo build --bins` resolves features without the
# dev-dependencies and recompiles what they touch).
cargo test --workspace --no-run

step "waiting for the servers' build"
wait_for $servers_build "$logs/servers-build.log" "building the test servers"
step "starting the servers"
# Stop on exit only what this run started, not servers that were already up.
started=$(scripts/services.sh start ${SERVICES:-})
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env

step "every cargo test, against the real servers"
cargo test --workspace
step "the binaries as users run them: no secret in any output at trace level; a stalled target fails in time"
"$CKD_VENV/bin/python" scripts/fault_tests.py "$target/debug"

step "waiting for the release build"
wait_for $release_build "$logs/release-build.log" "the release build"
step "deployment descriptors, checked by the real tools: cfn-lint, and sam build running the Makefile's build-<LogicalId> targets"
"$CKD_SAM_VENV/bin/cfn-lint" template.yaml
# The release build above serves sam build too (ARCH reaches the Makefile through sam): nothing is rebuilt.
ARCH=x86_64 SAM_CLI_TELEMETRY=0 "$CKD_SAM_VENV/bin/sam" build --build-in-source --template template.yaml
for function in ToCosFunction ToEsFunction ToKafkaFunction ToSqlFunction RestoreFunction; do
  test -x ".aws-sam/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
done

step "the packages users deploy: x86_64 zips, unpacked and driven through the runtime tests"
make -s package ARCH=x86_64
unpacked=$(mktemp -d)
# Unpacked with the mode bits stored in the zip (what Lambda and SCF apply); fails unless bootstrap is executable.
python3 scripts/fixtures/scf_harness.py unpack dist/to-es-x86_64.zip "$unpacked"
# --workspace keeps the feature set of the build above, so nothing is recompiled.
CKD_TO_ES_BOOTSTRAP=$unpacked/bootstrap cargo test --workspace --test runtimes
rm -rf "$unpacked"
# The to-cos package as SCF runs it: trigger events into a file:// bucket, a timer event refused clearly.
python3 scripts/smoke_package.py dist/to-cos-x86_64.zip
step "all tests passed"
