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

scripts/setup.sh --tests
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
# The dependencies of a generated service, into the target directory tests/tests/template.rs
# uses: that test then compiles only the service's own two crates, instead of taking both
# cores for two minutes while the other tests run beside it.
echo "== build a generated service's dependencies (target/template)"
generated=$(mktemp -d)
scripts/new-service.sh warm-up "$generated/warm-up" >/dev/null
(export CARGO_TARGET_DIR="$PWD/target/template" && cd "$generated/warm-up" &&
  cargo build --locked --offline --quiet && cargo test --locked --offline --quiet --no-run)
rm -rf "$generated"
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
