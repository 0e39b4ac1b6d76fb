#!/usr/bin/env bash
# `make test`: tools, real servers, format and lint checks, every test. Servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
scripts/services.sh tools
scripts/services.sh start ${SERVICES:-}
trap 'scripts/services.sh stop' EXIT
# shellcheck disable=SC1091
source .services/env

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

# Deployment descriptors, checked by the real tools: cfn-lint, and `sam build` running the Makefile's
# build-<LogicalId> targets (arm64 release bootstraps, cross-linked by cargo-lambda's zig).
"$CKD_SAM_VENV/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 "$CKD_SAM_VENV/bin/sam" build --build-in-source --template template.yaml
for function in ToEsFunction ToKafkaFunction; do
  test -x ".aws-sam/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
done
