#!/usr/bin/env bash
# Generates a new monitored service from Orator's template (scripts/template/generate.py
# says what it holds and why it is a script):
#
#   scripts/new-service.sh acme-greeter ../acme-greeter
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 2 ] || { echo "usage: $0 NAME DEST" >&2; exit 2; }
if ! "$root/.venv/bin/python" -c 'import yaml' 2>/dev/null; then
  [ -x "$root/.venv/bin/python" ] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check 'PyYAML==6.0.3'
fi
exec "$root/.venv/bin/python" "$root/scripts/template/generate.py" "$@"
