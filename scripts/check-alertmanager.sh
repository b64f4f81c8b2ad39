#!/usr/bin/env bash
# Checks the Alertmanager configuration in monitoring/alertmanager/:
#   1. alertmanager.yml is exactly the template rendered with no environment (no drift);
#   2. amtool check-config passes on it and on a render with every receiver enabled, made by
#      entrypoint.sh under busybox (the shell and awk of the official image);
#   3. entrypoint.sh refuses half-configured receivers and bad values;
#   4. the notification template renders the expected text;
#   5. routing: the cases in tests/routes.txt and every alerting rule under
#      monitoring/prometheus/rules, with `amtool config routes test`;
#   6. structure and inhibition rules (amtool cannot evaluate inhibition), in Python;
#   7. live: Alertmanager started through entrypoint.sh delivers to a local webhook with the
#      bearer token from the file, and does not deliver inhibited alerts.
# Installs what it needs when missing (Debian: prometheus-alertmanager for amtool, busybox;
# pip: PyYAML into .venv). Exits non-zero on the first failure; leaves no process running.
set -euo pipefail
cd "$(dirname "$0")/.."

AM_DIR=monitoring/alertmanager
RULES_DIR=monitoring/prometheus/rules
log() { printf '[alertmanager] %s\n' "$*"; }
ok() { printf '  ok  %s\n' "$*"; }
fail() {
  printf '[alertmanager] FAIL: %s\n' "$*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools -------------------------------------------------------------------------------
missing=()
command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v busybox >/dev/null || missing+=(busybox)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Debian does not start services in containers; the package's own daemon stays stopped.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import yaml' 2>/dev/null || .venv/bin/pip install -q pyyaml
PY=.venv/bin/python
CHECK="$PY $AM_DIR/tests/check_alertmanager.py"
log "$(amtool --version 2>&1 | head -1)"

tmp=$(mktemp -d)
am_pid=
cleanup() {
  if [ -n "$am_pid" ]; then
    kill "$am_pid" 2>/dev/null || true
    wait "$am_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The official image runs entrypoint.sh with busybox sh and awk: do the same here, with a
# PATH that holds nothing but busybox applets.
mkdir "$tmp/busybox"
for applet in sh awk cat dirname mv rm printf; do ln -s "$(command -v busybox)" "$tmp/busybox/$applet"; done
render() { # render [VAR=value ...] -> stdout, with only the given environment
  env -i PATH="$tmp/busybox" "$@" "$tmp/busybox/sh" "$AM_DIR/entrypoint.sh" --render-only
}
amcheck() { # amcheck FILE: amtool check-config, its report shown only on failure
  amtool check-config "$1" >"$tmp/check.out" 2>&1 || {
    cat "$tmp/check.out" >&2
    fail "amtool check-config $1"
  }
}

# --- 1. rendered default is up to date --------------------------------------------------
log "alertmanager.yml = alertmanager.yml.tmpl rendered with no environment"
render >"$tmp/default.yml" || fail "entrypoint.sh could not render the template with no environment"
env -i PATH=/usr/bin:/bin sh "$AM_DIR/entrypoint.sh" --render-only >"$tmp/default-dash.yml"
cmp -s "$tmp/default.yml" "$tmp/default-dash.yml" || fail "busybox and dash renders differ"
diff -u "$AM_DIR/alertmanager.yml" "$tmp/default.yml" >&2 \
  || fail "alertmanager.yml is stale; regenerate: env -i sh $AM_DIR/entrypoint.sh --render-only > $AM_DIR/alertmanager.yml"
ok "up to date (busybox and dash render it identically)"

# --- 2. check-config ---------------------------------------------------------------------
log "amtool check-config"
amcheck "$AM_DIR/alertmanager.yml"
ok "$AM_DIR/alertmanager.yml"
# Dummy values with characters that break naive sed/YAML substitution (& | \ ' /).
dummy=(
  "ALERTMANAGER_CONFIG_DIR=$PWD/$AM_DIR"
  "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/x&y|z\\q'quote"
  "PAGERDUTY_ROUTING_KEY=0123456789abcdef0123456789abcdef"
  "SMTP_SMARTHOST=smtp.example.com:587"
  "SMTP_FROM=alertmanager@example.com"
  "SMTP_TO=oncall@example.com, team@example.com"
  "SMTP_AUTH_USERNAME=alertmanager"
  "SMTP_AUTH_PASSWORD=p@ss'w&rd\\1"
  "ORATOR_WEBHOOK_URL=http://api.example:8000/admin/alerts"
)
render "${dummy[@]}" >"$tmp/full.yml" || fail "entrypoint.sh could not render with every receiver enabled"
amcheck "$tmp/full.yml"
grep -q ' - 1 templates' "$tmp/check.out" || fail "notification templates not loaded from $AM_DIR/templates"
ok "template rendered by entrypoint.sh (busybox) with every receiver enabled, notification template loaded"
$PY - "$tmp/full.yml" <<'EOF' || fail "dummy values did not survive rendering unchanged"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
r = {x["name"]: x for x in c["receivers"]}
assert r["page"]["slack_configs"][0]["api_url"] == "https://hooks.slack.com/services/T000/B000/x&y|z\\q'quote"
assert c["global"]["smtp_auth_password"] == "p@ss'w&rd\\1"
assert c["global"]["smtp_require_tls"] is True
assert r["ticket"]["email_configs"][0]["to"] == "oncall@example.com, team@example.com"
EOF
ok "values with & | \\ ' / reach the YAML unchanged"
$CHECK structure "$AM_DIR/alertmanager.yml"
$CHECK structure "$tmp/full.yml" --dummy

# --- 3. entrypoint refuses bad input -----------------------------------------------------
log "entrypoint.sh rejects incomplete or invalid settings"
refuses() { # refuses DESCRIPTION VAR=value...
  local what=$1
  shift
  if render "$@" >/dev/null 2>"$tmp/err"; then fail "entrypoint.sh accepted $what"; fi
  ok "$what: $(head -1 "$tmp/err" | sed 's/^entrypoint: error: //')"
}
refuses "SMTP_SMARTHOST without SMTP_FROM/SMTP_TO" SMTP_SMARTHOST=smtp.example.com:587
refuses "SMTP_AUTH_USERNAME without SMTP_AUTH_PASSWORD" SMTP_AUTH_USERNAME=am
refuses "SMTP_REQUIRE_TLS=yes" SMTP_REQUIRE_TLS=yes
refuses "a value with a newline" "PAGERDUTY_ROUTING_KEY=abc
def"
printf '# @if A\n# @if B\n# @end\n# @end\n' >"$tmp/nested.tmpl"
refuses "nested @if blocks" ALERTMANAGER_TEMPLATE="$tmp/nested.tmpl"

# --- 4. notification template --------------------------------------------------------------
log "notification template (amtool template render)"
amtool template render --template.glob="$AM_DIR/templates/*.tmpl" \
  --template.data="$AM_DIR/tests/template-data.json" \
  --template.text='{{ template "orator.title" . }}
---
{{ template "orator.text" . }}' >"$tmp/rendered.txt" || fail "amtool template render"
diff -u "$AM_DIR/tests/template-expected.txt" "$tmp/rendered.txt" >&2 \
  || fail "orator.title/orator.text render differs from tests/template-expected.txt"
ok "orator.title and orator.text match tests/template-expected.txt"

# --- 5. routing ------------------------------------------------------------------------------
route_test() { # route_test CONFIG EXPECTED LABEL=VALUE...
  local config=$1 expected=$2
  shift 2
  amtool config routes test --config.file="$config" --verify.receivers="$expected" "$@" >/dev/null 2>&1
}
log "routing cases ($AM_DIR/tests/routes.txt)"
n=0
while read -r expected labels; do
  case "$expected" in '' | '#'*) continue ;; esac
  # shellcheck disable=SC2086 # labels are space-separated label=value words
  for config in "$AM_DIR/alertmanager.yml" "$tmp/full.yml"; do
    route_test "$config" "$expected" $labels || {
      got=$(amtool config routes test --config.file="$config" $labels 2>/dev/null | head -1)
      fail "$labels: expected $expected, got $got ($config)"
    }
  done
  n=$((n + 1))
done <"$AM_DIR/tests/routes.txt"
ok "$n cases, on the default render and on the render with every receiver enabled"

if compgen -G "$RULES_DIR/*.y*ml" >/dev/null; then
  log "every alerting rule in $RULES_DIR routes to the webhook and to page or ticket"
  $CHECK rule-alerts "$RULES_DIR" >"$tmp/rule-alerts.txt"
  n=0
  while read -r alertname severity slo file; do
    case "$severity" in page | ticket) ;; *) fail "$file: $alertname has severity '$severity' (must be page or ticket)" ;; esac
    labels=(alertname="$alertname" severity="$severity")
    [ "$slo" = - ] || labels+=(slo="$slo")
    route_test "$AM_DIR/alertmanager.yml" "orator-webhook,$severity" "${labels[@]}" \
      || fail "$file: $alertname ($severity) does not route to orator-webhook,$severity"
    n=$((n + 1))
  done <"$tmp/rule-alerts.txt"
  [ "$n" -gt 0 ] || fail "no alerting rules found in $RULES_DIR"
  ok "$n alerting rules"
else
  log "no rule files in $RULES_DIR: skipping the real-alert routing check"
fi

# --- 6. inhibition -----------------------------------------------------------------------------
log "inhibition rules (Alertmanager semantics applied to $AM_DIR/tests/inhibit.yml)"
$CHECK inhibit "$AM_DIR/alertmanager.yml" "$AM_DIR/tests/inhibit.yml"

# --- 7. live -------------------------------------------------------------------------------------
log "live: Alertmanager started by entrypoint.sh (busybox), webhook on a local receiver"
read -r am_port sink_port < <($PY -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
token="check-token-$RANDOM$RANDOM"
mkdir "$tmp/run"
env -i PATH="$tmp/busybox" \
  ALERTMANAGER_RUNTIME_DIR="$tmp/run" \
  ALERTMANAGER_BIN="$(command -v prometheus-alertmanager)" \
  ORATOR_WEBHOOK_URL="http://127.0.0.1:$sink_port/admin/alerts" \
  ORATOR_WEBHOOK_TOKEN="$token" \
  "$tmp/busybox/sh" "$AM_DIR/entrypoint.sh" \
  --storage.path="$tmp/run/data" --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
  >"$tmp/am.log" 2>&1 &
am_pid=$! # env, then sh, exec into Alertmanager: one PID
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$am_port/-/ready" >/dev/null 2>&1 && break
  kill -0 "$am_pid" 2>/dev/null || break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$am_port/-/ready" >/dev/null || {
  cat "$tmp/am.log" >&2
  fail "Alertmanager did not start through entrypoint.sh"
}
ok "started (pid $am_pid) from $tmp/run/alertmanager.yml"
[ "$(stat -c %a "$tmp/run/webhook-token")" = 600 ] || fail "token file is not mode 600"
! grep -q "$token" "$tmp/run/alertmanager.yml" || fail "the token leaked into the rendered configuration"
ok "ORATOR_WEBHOOK_TOKEN written to a mode-600 file, absent from the configuration"
$CHECK live "http://127.0.0.1:$am_port" "$sink_port" "$token" || {
  tail -20 "$tmp/am.log" >&2
  fail "live check"
}
kill "$am_pid"
wait "$am_pid" 2>/dev/null || true
am_pid=
log "all Alertmanager checks passed"
