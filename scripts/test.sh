#!/usr/bin/env bash
# The test command: dependencies, formatting, lints, the monitoring/deployment artifact
# checks, then every test against the real PostgreSQL, Redis, RabbitMQ, Prometheus,
# Alertmanager and espeak-ng. Arguments go to the test runner.
#
#   scripts/test.sh                     everything (what CI runs)
#   scripts/test.sh --quick [FILTER]    the inner loop: unit and end-to-end tests only (no
#                                       fmt, clippy, static checks or bench smoke)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
if [ "${1:-}" = --quick ]; then quick=true; shift; fi

scripts/setup.sh
if ! $quick; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
  echo "== cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings

  # Static checks of the monitoring stack, the demo and the manifests (each installs its
  # own validators on first use).
  for check in prometheus alertmanager grafana compose k8s; do
    echo "== scripts/check-$check.sh"
    "scripts/check-$check.sh"
  done
fi

echo "== build binaries (the end-to-end tests run them)"
cargo build --workspace --bins --locked
if ! $quick; then
  echo "== benchmark smoke (the full run is scripts/bench.sh)"
  scripts/bench.sh --smoke --out "$(mktemp)"
fi

export ORATOR_TEST_PYTHON="$PWD/.venv/bin/python"
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
