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
#   7. web.yml (basic auth, bcrypt) passes `promtool check web-config` (amtool has no such
#      check; the format is exporter-toolkit's, shared with Prometheus);
#   8. live: Alertmanager started through entrypoint.sh with --web.config.file, as compose
#      does, delivers to a local webhook with the bearer token from the file, and does not
#      deliver inhibited alerts; it answers 401 without credentials or with a wrong password
#      and 200 with the demo ones (curl, amtool); compose's healthcheck passes (busybox wget);
#      a Prometheus with prometheus.yml's `alerting` block and `alertmanager` job delivers an
#      alert and scrapes it, the same job without credentials gets 401; the commented TLS
#      block of web.yml, uncommented, serves HTTPS.
# Installs what it needs when missing (Debian: prometheus-alertmanager for amtool, busybox,
# prometheus for promtool and the client side, openssl; pip: PyYAML into .venv). Exits
# non-zero on the first failure; leaves no process running.
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
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
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
pids=() # every server started here
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# The official image runs entrypoint.sh with busybox sh and awk: do the same here, with a
# PATH that holds nothing but busybox applets.
mkdir "$tmp/busybox"
for applet in sh awk cat dirname mv rm printf wget; do ln -s "$(command -v busybox)" "$tmp/busybox/$applet"; done
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

# --- 7. web.yml -------------------------------------------------------------------------------
log "promtool check web-config $AM_DIR/web.yml"
promtool check web-config "$AM_DIR/web.yml" >"$tmp/web.out" 2>&1 || {
  cat "$tmp/web.out" >&2
  fail "promtool check web-config $AM_DIR/web.yml"
}
ok "$AM_DIR/web.yml"

# --- 8. live -------------------------------------------------------------------------------------
log "live: Alertmanager started by entrypoint.sh (busybox) with --web.config.file, webhook on a local receiver"
read -r am_port sink_port prom_port tls_port < <($PY -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
user=$($PY -c 'import sys, yaml; print(*yaml.safe_load(open(sys.argv[1]))["basic_auth_users"])' "$AM_DIR/web.yml")
password=$(tr -d '\n' <monitoring/secrets/alertmanager-password)
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }
wait_listening() { # wait_listening PID URL LOG: until URL answers at all (401 counts)
  for _ in $(seq 1 50); do
    [ "$(status -k "$2")" = 000 ] || return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.2
  done
  cat "$3" >&2
  fail "nothing listens at $2"
}
token="check-token-$RANDOM$RANDOM"
mkdir "$tmp/run"
env -i PATH="$tmp/busybox" \
  ALERTMANAGER_RUNTIME_DIR="$tmp/run" \
  ALERTMANAGER_BIN="$(command -v prometheus-alertmanager)" \
  ORATOR_WEBHOOK_URL="http://127.0.0.1:$sink_port/admin/alerts" \
  ORATOR_WEBHOOK_TOKEN="$token" \
  "$tmp/busybox/sh" "$AM_DIR/entrypoint.sh" \
  --storage.path="$tmp/run/data" --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
  --web.config.file="$PWD/$AM_DIR/web.yml" \
  >"$tmp/am.log" 2>&1 &
am_pid=$! # env, then sh, exec into Alertmanager: one PID
pids+=("$am_pid")
base="http://127.0.0.1:$am_port"
for _ in $(seq 1 50); do
  curl -fs -u "$user:$password" "$base/-/ready" >/dev/null 2>&1 && break
  kill -0 "$am_pid" 2>/dev/null || break
  sleep 0.2
done
curl -fs -u "$user:$password" "$base/-/ready" >/dev/null || {
  cat "$tmp/am.log" >&2
  fail "Alertmanager did not start through entrypoint.sh (or refuses $user with monitoring/secrets/alertmanager-password)"
}
ok "started (pid $am_pid) from $tmp/run/alertmanager.yml, web config $AM_DIR/web.yml"
[ "$(stat -c %a "$tmp/run/webhook-token")" = 600 ] || fail "token file is not mode 600"
! grep -q "$token" "$tmp/run/alertmanager.yml" || fail "the token leaked into the rendered configuration"
ok "ORATOR_WEBHOOK_TOKEN written to a mode-600 file, absent from the configuration"
$CHECK live "http://$user:$password@127.0.0.1:$am_port" "$sink_port" "$token" || {
  tail -20 "$tmp/am.log" >&2
  fail "live check"
}

log "live: basic auth (user $user, password from monitoring/secrets/alertmanager-password)"
for path in /-/ready /api/v2/status /metrics; do
  [ "$(status "$base$path")" = 401 ] || fail "$path without credentials: $(status "$base$path"), expected 401"
  [ "$(status -u "$user:wrong-$password" "$base$path")" = 401 ] || fail "$path with a wrong password is not refused"
  [ "$(status -u "$user:$password" "$base$path")" = 200 ] \
    || fail "$path with the demo credentials: $(status -u "$user:$password" "$base$path"), expected 200"
done
ok "/-/ready, /api/v2/status, /metrics: 401 without credentials or with a wrong password, 200 with them"
amtool --alertmanager.url="http://$user:$password@127.0.0.1:$am_port" alert query >/dev/null 2>&1 \
  || fail "amtool with credentials in --alertmanager.url"
! amtool --alertmanager.url="$base" alert query >/dev/null 2>&1 || fail "amtool without credentials was let in"
ok "amtool: --alertmanager.url=http://$user:…@host works, without credentials refused"
healthcheck=$($PY - "$PWD/monitoring/secrets/" "$am_port" <<'PYTHON'
import sys, yaml
secrets, port = sys.argv[1:]
test = yaml.safe_load(open("docker-compose.yml"))["services"]["alertmanager"]["healthcheck"]["test"]
assert test[0] == "CMD-SHELL", f"expected a CMD-SHELL healthcheck, got {test}"
# compose turns $$ into $; the secrets are at /run/secrets; the port is compose's 9093.
print(test[1].replace("$$", "$").replace("/run/secrets/", secrets).replace("127.0.0.1:9093", f"127.0.0.1:{port}"))
PYTHON
)
env -i PATH="$tmp/busybox" sh -c "$healthcheck" || fail "compose's healthcheck fails: $healthcheck"
! env -i PATH="$tmp/busybox" wget -q -O /dev/null "$base/-/ready" 2>/dev/null || fail "wget without credentials passed"
ok "compose's healthcheck passes (busybox wget, password from the secret file); without credentials it fails"

log "live: Prometheus with prometheus.yml's alerting block and alertmanager job (basic auth)"
$PY - "$tmp" "$PWD/monitoring/secrets/" "$am_port" <<'PYTHON' || fail "could not build the Prometheus configuration"
import json, sys, yaml
tmp, secrets, port = sys.argv[1:]
prom = yaml.safe_load(open("monitoring/prometheus/prometheus.yml"))
local = lambda block: json.loads(json.dumps(block).replace("/run/secrets/", secrets))
here = {"static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
ams = [local({k: v for k, v in am.items() if k != "static_configs"}) | here
       for am in prom["alerting"]["alertmanagers"]]
job = next(j for j in prom["scrape_configs"] if j["job_name"] == "alertmanager")
scrape = local({k: v for k, v in job.items() if k != "static_configs"}) | here
bare = {"job_name": "alertmanager-without-auth"} | here
rules = {"groups": [{"name": "auth-check", "rules": [
    {"alert": "AlertmanagerAuthCheck", "expr": "vector(1)", "labels": {"severity": "ticket"}}]}]}
yaml.safe_dump(rules, open(f"{tmp}/auth-rules.yml", "w"))
yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "alerting": {"alertmanagers": ams}, "rule_files": [f"{tmp}/auth-rules.yml"],
                "scrape_configs": [scrape, bare]}, open(f"{tmp}/prometheus.yml", "w"), sort_keys=False)
PYTHON
promtool check config "$tmp/prometheus.yml" >"$tmp/promtool.out" 2>&1 || {
  cat "$tmp/promtool.out" >&2
  fail "the Prometheus configuration"
}
# Alerts evaluated before discovery has found Alertmanager (~5 s) are dropped; a 1 s resend
# delay (default 1 min) sends them again soon after.
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
  --web.listen-address="127.0.0.1:$prom_port" --rules.alert.resend-delay=1s >"$tmp/prom.log" 2>&1 &
pids+=($!)
wait_listening "${pids[-1]}" "http://127.0.0.1:$prom_port/-/ready" "$tmp/prom.log"
$PY - "http://127.0.0.1:$prom_port" "http://$user:$password@127.0.0.1:$am_port" <<'PYTHON' || {
import json, sys, time, urllib.request
sys.path.insert(0, "monitoring/alertmanager/tests")
from check_alertmanager import split_credentials
prom, (am, auth) = sys.argv[1], split_credentials(sys.argv[2])
def get(url, headers={}):
    return json.load(urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5))
deadline = time.time() + 30
while True:
    names = {a["labels"]["alertname"] for a in get(f"{am}/api/v2/alerts", auth)}
    targets = {t["labels"]["job"]: (t["health"], t["lastError"])
               for t in get(f"{prom}/api/v1/targets")["data"]["activeTargets"]}
    health = {job: h for job, (h, _) in targets.items()}
    if "AlertmanagerAuthCheck" in names and health == {"alertmanager": "up", "alertmanager-without-auth": "down"} \
            and "401" in targets["alertmanager-without-auth"][1]:
        break
    if time.time() > deadline:
        sys.exit(f"  alerts in Alertmanager {sorted(names)}, Prometheus targets {targets}")
    time.sleep(0.5)
print("  ok  Prometheus delivered AlertmanagerAuthCheck through alerting.alertmanagers' basic_auth")
print(f"  ok  job alertmanager up; the same without credentials down ({targets['alertmanager-without-auth'][1]})")
PYTHON
  tail -20 "$tmp/prom.log" >&2
  fail "Prometheus -> Alertmanager with basic auth"
}

log "live: the commented TLS block of $AM_DIR/web.yml, uncommented"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$tmp/tls.key" -out "$tmp/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
awk -v crt="$tmp/tls.crt" -v key="$tmp/tls.key" '
  /^# tls_server_config:$/ { on = 1 }
  !/^#/ { on = 0 }   # the block ends at the first line that is not a comment
  on { sub(/^# /, ""); sub(/cert_file: .*/, "cert_file: " crt); sub(/key_file: .*/, "key_file: " key) }
  { print }' "$AM_DIR/web.yml" >"$tmp/web-tls.yml"
grep -q '^tls_server_config:' "$tmp/web-tls.yml" || fail "$AM_DIR/web.yml has no commented '# tls_server_config:' block"
promtool check web-config "$tmp/web-tls.yml" >/dev/null 2>&1 || fail "web.yml with its TLS block uncommented"
prometheus-alertmanager --config.file="$tmp/run/alertmanager.yml" --storage.path="$tmp/tls-data" \
  --web.listen-address="127.0.0.1:$tls_port" --cluster.listen-address= --web.config.file="$tmp/web-tls.yml" \
  >"$tmp/am-tls.log" 2>&1 &
pids+=($!)
wait_listening "${pids[-1]}" "https://127.0.0.1:$tls_port/-/ready" "$tmp/am-tls.log"
tls="https://127.0.0.1:$tls_port/api/v2/status"
[ "$(status --cacert "$tmp/tls.crt" -u "$user:$password" "$tls")" = 200 ] || fail "HTTPS with credentials is not 200"
[ "$(status --cacert "$tmp/tls.crt" "$tls")" = 401 ] || fail "HTTPS without credentials is not 401"
[ "$(status -u "$user:$password" "http://127.0.0.1:$tls_port/api/v2/status")" = 400 ] || fail "plain HTTP is not refused"
ok "HTTPS 200 with credentials, 401 without, plain HTTP 400"
log "all Alertmanager checks passed"
