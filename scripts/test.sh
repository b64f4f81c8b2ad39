#!/usr/bin/env bash
# The test command: dependencies, formatting, lints, then every test against the real
# PostgreSQL, Redis, RabbitMQ and espeak-ng.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build binaries (the end-to-end tests run them)"
cargo build --workspace --bins --locked
export ORATOR_TEST_PYTHON="$PWD/.venv/bin/python"
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
