#!/usr/bin/env bash
# Runs Orator locally: starts the dependencies, then the worker in the background and the
# api in the foreground (Ctrl-C stops both). Any setting from the README can be exported
# first; a demo key is created unless ORATOR_BOOTSTRAP_API_KEY says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --bins --locked
export ORATOR_BOOTSTRAP_API_KEY="${ORATOR_BOOTSTRAP_API_KEY:-orator-dev-key}"
# The neural voice that scripts/setup.sh fetched serves model tts-1-hd (docs/models.md has
# its licence; export ORATOR_PIPER_VOICES= to serve espeak-ng only).
export ORATOR_PIPER_VOICES="${ORATOR_PIPER_VOICES-$PWD/.models/piper/en_US-joe-medium.onnx}"
export ORATOR_ONNXRUNTIME_LIB="${ORATOR_ONNXRUNTIME_LIB:-$PWD/.models/onnxruntime/libonnxruntime.so.1.31.1}"

./target/release/orator-api migrate
./target/release/orator-worker &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT
echo "Orator: http://127.0.0.1:8000 (key: $ORATOR_BOOTSTRAP_API_KEY), worker health on :8001" >&2
./target/release/orator-api
