#!/usr/bin/env bash
# Smoke-tests a running Orator from the outside: the OpenAI contract, every audio format
# decoding, an async job, the error shape, /metrics against the catalogue, health and
# traceparent; with --prometheus / --alertmanager also that its targets are up and no alert
# fires. One line per check; exits non-zero when one fails.
#
#   scripts/smoke.sh URL [KEY] [--metrics-token T] [--prometheus URL] [--alertmanager URL]
#
# KEY defaults to $ORATOR_SMOKE_KEY, else orator-dev-key (what scripts/run.sh creates).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/smoke.sh URL [KEY] [orator-smoke options]}
shift
key=${ORATOR_SMOKE_KEY:-orator-dev-key}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then key=$1; shift; fi
cargo build --quiet --locked -p orator-e2e --bin orator-smoke
exec "${CARGO_TARGET_DIR:-target}/debug/orator-smoke" --url "$url" --key "$key" "$@"
