#!/usr/bin/env bash
# `make test`: tools, real servers, format and lint checks, every test. Servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
scripts/services.sh tools
# Stop on exit only what this run started, not servers that were already up.
started=$(scripts/services.sh start ${SERVICES:-})
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The binaries as users run them: no secret in any output at trace level; a stalled target fails in time.
# (cargo test builds only the binaries integration tests ask for; same profile, so this only links.)
cargo build --workspace --bins
"$CKD_VENV/bin/python" scripts/fault_tests.py target/debug

# Deployment descriptors, checked by the real tools: cfn-lint, and `sam build` running the Makefile's
# build-<LogicalId> targets (arm64 release bootstraps, cross-linked by cargo-lambda's zig).
"$CKD_SAM_VENV/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 "$CKD_SAM_VENV/bin/sam" build --build-in-source --template template.yaml
for function in ToCosFunction ToEsFunction ToKafkaFunction; do
  test -x ".aws-sam/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
done

# The package users deploy: x86_64 zips (what SCF runs, and Lambda's x86_64), unpacked and driven through the
# same runtime tests (AWS Lambda Runtime API via cargo lambda watch, the SCF runtime API, local invoke).
make package ARCH=x86_64
unpacked=$(mktemp -d)
# Unpacked with the mode bits stored in the zip (what Lambda and SCF apply); fails unless bootstrap is executable.
python3 scripts/scf_harness.py unpack dist/to-es-x86_64.zip "$unpacked"
# --workspace keeps the feature set of the build above, so nothing is recompiled.
CKD_TO_ES_BOOTSTRAP=$unpacked/bootstrap cargo test --workspace --test runtimes
rm -rf "$unpacked"
# The to-cos package as SCF runs it: trigger events into a file:// bucket, a timer event refused clearly.
python3 scripts/smoke_package.py dist/to-cos-x86_64.zip
