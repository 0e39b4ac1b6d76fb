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
