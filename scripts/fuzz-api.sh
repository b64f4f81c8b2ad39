#!/usr/bin/env bash
# A long schemathesis run against the served OpenAPI document (CI runs 60 s of it as
# tests/tests/fuzz.rs). Usage: scripts/fuzz-api.sh [SECONDS]   (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --bins --locked
export ORATOR_TEST_PYTHON="$PWD/.venv/bin/python"
export ORATOR_FUZZ_SECONDS="${1:-600}"
cargo nextest run -p orator-e2e --locked --no-capture -E 'binary(fuzz)'
