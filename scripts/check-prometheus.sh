#!/usr/bin/env bash
# Checks the Prometheus part of the monitoring stack, offline:
#   0. slo.py --check          the SLO rules and their generated tests are what
#                              monitoring/prometheus/slos.yaml gives
#   1. promtool check config   monitoring/prometheus/prometheus.yml (on a copy whose
#                              rule_files and /run/secrets files point into the repo)
#      promtool check web-config monitoring/prometheus/web.yml
#   2. promtool check rules    monitoring/prometheus/rules/*.yml
#   3. promtool test rules     monitoring/prometheus/tests/*.yml (unit tests)
#   4. conventions (python):   labels/annotations of every alert, one runbook per alert,
#                              a firing and a quiet test per alert, every recording rule
#                              tested, metric and label names as in monitoring/metrics.yaml,
#                              scrape job names as agreed, credentials on the jobs that
#                              need them (orator-*: bearer token; prometheus, alertmanager
#                              and alerting: basic auth).
#   5. live: Debian's Prometheus with --web.config.file=monitoring/prometheus/web.yml answers
#      401 without credentials (or with a wrong password) and 200 with the demo ones; the real
#      jobs' credentials scrape it and a bearer-protected /metrics, the same jobs without them
#      get 401; compose's healthcheck command passes (busybox wget); the commented TLS block
#      of web.yml, uncommented, serves HTTPS.
# Installs what it needs when missing (Debian's `prometheus` for promtool, busybox, PyYAML
# into .venv). Exits non-zero on the first failing step. Leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[check-prometheus] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v busybox >/dev/null 2>&1 || missing+=(busybox)  # the images' wget, for the healthcheck
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # a test certificate
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (Debian; prometheus provides promtool)"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Debian does not start services in containers; the package's own daemon stays stopped.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
log "$(promtool --version 2>&1 | head -1)"

# PyYAML: the system's if it has one, else the project's venv.
if python3 -c 'import yaml' 2>/dev/null; then
  PY=python3
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -c 'import yaml' 2>/dev/null || .venv/bin/pip install -q pyyaml
  PY=.venv/bin/python
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

log "slo.py --check: rules/slo-*.yml and tests/slo-generated-test.yml from monitoring/prometheus/slos.yaml"
"$PY" monitoring/prometheus/slo.py monitoring/prometheus/slos.yaml \
  --out monitoring/prometheus/rules --tests monitoring/prometheus/tests --check

log "promtool check config monitoring/prometheus/prometheus.yml"
# Compose mounts the rules at /etc/prometheus/rules and the secrets at /run/secrets; point a
# copy at the repo instead (promtool then also finds the credentials files).
# (The DNS names in the config are not resolved by check config.)
sed -e "s#/etc/prometheus/rules/#$PWD/monitoring/prometheus/rules/#" \
    -e "s#/run/secrets/#$PWD/monitoring/secrets/#" \
  monitoring/prometheus/prometheus.yml >"$tmp/prometheus.yml"
grep -q "$PWD/monitoring/prometheus/rules/" "$tmp/prometheus.yml" \
  || { log "rule_files does not point at /etc/prometheus/rules/"; exit 1; }
promtool check config "$tmp/prometheus.yml"

log "promtool check web-config monitoring/prometheus/web.yml"
promtool check web-config monitoring/prometheus/web.yml

log "promtool check rules monitoring/prometheus/rules/*.yml"
promtool check rules monitoring/prometheus/rules/*.yml

log "promtool test rules monitoring/prometheus/tests/*.yml"
promtool test rules monitoring/prometheus/tests/*.yml

log "conventions: alerts, runbooks, test coverage, metric catalogue, job names"
"$PY" - <<'PYTHON'
import glob
import os
import re
import sys

import yaml

RULES = sorted(glob.glob("monitoring/prometheus/rules/*.yml"))
TESTS = sorted(glob.glob("monitoring/prometheus/tests/*.yml"))
RUNBOOKS = "docs/runbooks"
RUNBOOK_URL = "https://github.com/orator-tts/orator/blob/main/docs/runbooks/{}.md"
CATALOGUE_PREFIXES = ("orator_", "http_server_", "db_client_", "cache_", "messaging_",
                      "health_check_", "otel_", "process_")
JOBS = {"orator-api", "orator-worker", "postgres", "redis", "rabbitmq", "node", "blackbox",
        "prometheus", "alertmanager"}

errors = []
def fail(msg):
    errors.append(msg)

# ---------------------------------------------------------------- the metric catalogue
catalogue = {}  # name -> (type, set of label names)
for group in yaml.safe_load(open("monitoring/metrics.yaml"))["groups"]:
    for m in group["metrics"]:
        catalogue[m["name"]] = (m["type"], set((m.get("labels") or {}).keys()))

def catalogue_entry(name):
    """The catalogue entry a series name belongs to (histograms add _bucket/_sum/_count)."""
    if name in catalogue:
        return name, False
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and catalogue.get(base, ("",))[0] == "histogram":
            return base, suffix == "_bucket"
    return None, False

def allowed_labels(name):
    base, bucket = catalogue_entry(name)
    return catalogue[base][1] | {"job", "instance"} | ({"le"} if bucket else set())

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)")
MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")

def check_expr(where, expr):
    """Catalogue metric names and their label names in one PromQL expression."""
    code = STRING.sub('""', expr)
    for name, matchers in SELECTOR.findall(code):
        if name.startswith(CATALOGUE_PREFIXES) and catalogue_entry(name)[0]:
            for label in MATCHER.findall(matchers):
                if label not in allowed_labels(name):
                    fail(f"{where}: {name} has no label {label!r} in monitoring/metrics.yaml")
    bare = GROUPING.sub(" ", re.sub(r"\{[^}]*\}", " ", code))
    for name in set(IDENT.findall(bare)):
        if name.startswith(CATALOGUE_PREFIXES) and not catalogue_entry(name)[0]:
            fail(f"{where}: metric {name} is not in monitoring/metrics.yaml")

# ---------------------------------------------------------------- rules
alerts = {}      # alert name -> list of rules
records = {}     # record name -> expr
for path in RULES:
    text = open(path).read()
    doc = yaml.safe_load(text)
    n_alerts = 0
    for group in doc["groups"]:
        for rule in group["rules"]:
            expr = str(rule["expr"])
            if "record" in rule:
                records[rule["record"]] = expr
                check_expr(f"{path}: record {rule['record']}", expr)
                continue
            name = rule["alert"]
            n_alerts += 1
            alerts.setdefault(name, []).append(rule)
            where = f"{path}: alert {name}"
            check_expr(where, expr)
            labels = rule.get("labels") or {}
            ann = rule.get("annotations") or {}
            if labels.get("severity") not in ("page", "ticket"):
                fail(f"{where}: label severity must be page or ticket, not {labels.get('severity')!r}")
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    fail(f"{where}: annotation {key} is missing")
            if "$value" not in ann.get("description", ""):
                fail(f"{where}: the description does not show {{{{ $value }}}}")
            if ann.get("runbook_url") != RUNBOOK_URL.format(name):
                fail(f"{where}: runbook_url should be {RUNBOOK_URL.format(name)}")
            if "for" not in rule:
                fail(f"{where}: no for: duration")
    # The drill overlay rewrites `for:` lines: each must stand alone as `for: <duration>`.
    for_lines = re.findall(r"(?m)^\s+for: \d+[smhdwy]\s*$", text)
    if len(for_lines) != n_alerts:
        fail(f"{path}: {n_alerts} alerts but {len(for_lines)} lines of the form 'for: <duration>'")

for name, rules in alerts.items():
    if len({frozenset((r.get("labels") or {}).items()) for r in rules}) != len(rules):
        fail(f"alert {name}: two rules with the same labels (Alertmanager could not tell them apart)")

# ---------------------------------------------------------------- runbooks
index = open(os.path.join(RUNBOOKS, "README.md")).read() if os.path.exists(os.path.join(RUNBOOKS, "README.md")) else ""
if not index:
    fail(f"{RUNBOOKS}/README.md is missing")
for name in alerts:
    path = os.path.join(RUNBOOKS, f"{name}.md")
    if not os.path.exists(path) or os.path.getsize(path) < 200:
        fail(f"alert {name}: runbook {path} is missing or empty")
    elif f"({name}.md)" not in index:
        fail(f"alert {name}: {RUNBOOKS}/README.md does not link {name}.md")
for path in glob.glob(os.path.join(RUNBOOKS, "*.md")):
    base = os.path.basename(path)[:-3]
    if base != "README" and base not in alerts:
        fail(f"{path}: no alert of that name in the rules")

# ---------------------------------------------------------------- tests
firing, quiet = {}, {}   # alert name -> number of test cases
fired_labels = {}        # alert name -> label sets expected to fire
expr_tests = []
for path in TESTS:
    doc = yaml.safe_load(open(path))
    for i, tg in enumerate(doc.get("tests") or []):
        where = f"{path}: test {tg.get('name', i)!r}"
        for s in tg.get("input_series") or []:
            series = s["series"]
            name = series.split("{", 1)[0].strip()
            if name.startswith(CATALOGUE_PREFIXES):
                if not catalogue_entry(name)[0]:
                    fail(f"{where}: input series {name} is not in monitoring/metrics.yaml")
                else:
                    for label in re.findall(r'([a-zA-Z_]\w*)\s*=\s*"', series):
                        if label not in allowed_labels(name):
                            fail(f"{where}: input series {name} has no label {label!r} in monitoring/metrics.yaml")
        for at in tg.get("alert_rule_test") or []:
            name = at["alertname"]
            if name not in alerts:
                fail(f"{where}: tests unknown alert {name}")
            if at.get("exp_alerts"):
                firing[name] = firing.get(name, 0) + 1
                for a in at["exp_alerts"]:
                    fired_labels.setdefault(name, []).append(a.get("exp_labels") or {})
            else:
                quiet[name] = quiet.get(name, 0) + 1
        for et in tg.get("promql_expr_test") or []:
            expr_tests.append(et["expr"])

for name, rules in sorted(alerts.items()):
    if not firing.get(name):
        fail(f"alert {name}: no test where it fires")
    if not quiet.get(name):
        fail(f"alert {name}: no test where it stays quiet")
    # Alerts with several rules (page and ticket): each rule must fire in some test.
    for r in rules:
        static = (r.get("labels") or {}).items()
        if not any(static <= got.items() for got in fired_labels.get(name, [])):
            fail(f"alert {name}: the rule labelled {dict(static)} never fires in a test")

tested_alert_exprs = [str(r["expr"]) for n, rs in alerts.items() if firing.get(n) for r in rs]
for record in sorted(records):
    token = re.compile(r"(?<![\w:])" + re.escape(record) + r"(?![\w:])")
    if not any(token.search(e) for e in expr_tests) and not any(token.search(e) for e in tested_alert_exprs):
        fail(f"recording rule {record}: no promql_expr_test and no tested alert uses it")

# ---------------------------------------------------------------- prometheus.yml
prom = yaml.safe_load(open("monitoring/prometheus/prometheus.yml"))
if prom.get("rule_files") != ["/etc/prometheus/rules/*.yml"]:
    fail("prometheus.yml: rule_files should be [/etc/prometheus/rules/*.yml]")
jobs = set()
for sc in prom["scrape_configs"]:
    job = sc["job_name"]
    for rc in sc.get("relabel_configs") or []:
        if rc.get("target_label") == "job" and "replacement" in rc:
            job = rc["replacement"]
    jobs.add(job)
if jobs != JOBS:
    fail(f"prometheus.yml: job labels {sorted(jobs)} differ from the agreed {sorted(JOBS)}")

# Credentials: Orator's /metrics wants the bearer token (ORATOR_METRICS_TOKEN_FILE), Prometheus
# and Alertmanager basic auth (their web.yml). Always from files under /run/secrets/.
def secret_file(path):
    return isinstance(path, str) and path.startswith("/run/secrets/")
for sc in prom["scrape_configs"]:
    job, auth, basic = sc["job_name"], sc.get("authorization") or {}, sc.get("basic_auth") or {}
    if job.startswith("orator-"):
        if auth.get("type", "Bearer") != "Bearer" or not secret_file(auth.get("credentials_file")):
            fail(f"prometheus.yml job {job}: needs authorization: {{type: Bearer, credentials_file: /run/secrets/...}}")
    if job in ("prometheus", "alertmanager"):
        if not basic.get("username") or not secret_file(basic.get("password_file")):
            fail(f"prometheus.yml job {job}: needs basic_auth with username and password_file: /run/secrets/...")
    if "password" in basic or "credentials" in auth or "bearer_token" in sc:
        fail(f"prometheus.yml job {job}: a literal secret; use password_file/credentials_file")
ams = (prom.get("alerting") or {}).get("alertmanagers") or []
if not ams or not all((am.get("basic_auth") or {}).get("username") and secret_file((am.get("basic_auth") or {}).get("password_file")) for am in ams):
    fail("prometheus.yml: alerting.alertmanagers need basic_auth with username and password_file: /run/secrets/...")

n_alert_rules = sum(len(r) for r in alerts.values())
print(f"  {len(alerts)} alerts ({n_alert_rules} rules), {len(records)} recording rules, "
      f"{sum(firing.values())} firing and {sum(quiet.values())} quiet alert tests, "
      f"{len(expr_tests)} expression tests, {len(glob.glob(os.path.join(RUNBOOKS, '*.md'))) - 1} runbooks, "
      f"{len(jobs)} scrape jobs")
if errors:
    for e in errors:
        print(f"  FAIL {e}")
    sys.exit(1)
print("  conventions OK")
PYTHON

# ---------------------------------------------------------------- live
log "live: Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') with --web.config.file=monitoring/prometheus/web.yml"
user=$("$PY" -c 'import yaml; print(*yaml.safe_load(open("monitoring/prometheus/web.yml"))["basic_auth_users"])')
password=$(tr -d '\n' <monitoring/secrets/prometheus-password)
token=$(tr -d '\n' <monitoring/secrets/metrics-token)
read -r port sink_port tls_port < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
failed() { log "FAIL: $*"; tail -20 "$tmp"/prom*.log >&2 2>/dev/null || true; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }
start_prometheus() { # start_prometheus NAME PORT CONFIG WEB_CONFIG [URL]: background, waits until it listens
  local name=$1 p=$2 url=${5:-http://127.0.0.1:$2}
  prometheus --config.file="$3" --web.config.file="$4" --storage.tsdb.path="${TSDB:-$tmp/$name-data}" \
    --web.listen-address="127.0.0.1:$p" --web.enable-admin-api >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    [ "$(status -k "$url/-/ready")" = 000 ] || return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  failed "Prometheus ($name) did not start"
}

# The scrape jobs whose credentials matter, from prometheus.yml, pointed at local targets:
# Prometheus itself, and a stand-in for Orator's /metrics that wants the bearer token.
"$PY" - "$tmp/live.yml" "$PWD/monitoring/secrets/" "$port" "$sink_port" <<'PYTHON'
import json, sys, yaml
out, secrets, port, sink = sys.argv[1:]
prom = yaml.safe_load(open("monitoring/prometheus/prometheus.yml"))
jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
def local(job, name, target, auth=True):
    j = {"job_name": name, "static_configs": [{"targets": [target]}]}
    for key in ("basic_auth", "authorization"):
        if auth and key in job:
            j[key] = json.loads(json.dumps(job[key]).replace("/run/secrets/", secrets))
    return j
scrapes = [
    local(jobs["prometheus"], "prometheus", f"127.0.0.1:{port}"),
    local(jobs["prometheus"], "prometheus-without-auth", f"127.0.0.1:{port}", auth=False),
    local(jobs["orator-api"], "orator-api", f"127.0.0.1:{sink}"),
    local(jobs["orator-worker"], "orator-worker", f"127.0.0.1:{sink}"),
    local(jobs["orator-api"], "orator-without-token", f"127.0.0.1:{sink}", auth=False),
]
yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": scrapes},
               open(out, "w"), sort_keys=False)
PYTHON
promtool check config "$tmp/live.yml" >/dev/null || failed "the live configuration"

# Orator's /metrics with a token configured: 401 without the bearer token.
"$PY" - "$sink_port" "$token" >"$tmp/sink.log" 2>&1 <<'PYTHON' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, token = int(sys.argv[1]), sys.argv[2]
class Metrics(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/metrics" and self.headers.get("Authorization") == f"Bearer {token}"
        body = b"orator_check_up 1\n" if ok else b"unauthorized\n"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), Metrics).serve_forever()
PYTHON
pids+=($!)
start_prometheus prom "$port" "$tmp/live.yml" monitoring/prometheus/web.yml
base="http://127.0.0.1:$port"
for path in /-/ready /api/v1/status/buildinfo /metrics; do
  [ "$(status "$base$path")" = 401 ] || failed "$path without credentials: $(status "$base$path"), expected 401"
  [ "$(status -u "$user:wrong-$password" "$base$path")" = 401 ] || failed "$path with a wrong password is not refused"
  [ "$(status -u "$user:$password" "$base$path")" = 200 ] || failed "$path with $user and monitoring/secrets/prometheus-password: $(status -u "$user:$password" "$base$path"), expected 200"
done
printf '  ok  /-/ready, /api/v1/status/buildinfo, /metrics: 401 without credentials or with a wrong password, 200 as %s\n' "$user"

# Scrapes: with the jobs' credentials up, without them refused with 401.
"$PY" - "$base" "$user" "$password" <<'PYTHON' || failed "scrapes with and without credentials"
import base64, json, sys, time, urllib.request
base, user, password = sys.argv[1:]
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
want = {"prometheus": "up", "orator-api": "up", "orator-worker": "up",
        "prometheus-without-auth": "down", "orator-without-token": "down"}
deadline = time.time() + 20
while True:
    req = urllib.request.Request(f"{base}/api/v1/targets", headers={"Authorization": auth})
    targets = json.load(urllib.request.urlopen(req, timeout=5))["data"]["activeTargets"]
    got = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
    done = all(got.get(job, ("unknown",))[0] == health for job, health in want.items())
    refused = all("401" in got[job][1] for job, health in want.items() if health == "down") if done else False
    if done and refused:
        break
    if time.time() > deadline:
        sys.exit(f"  FAIL targets: {got}, expected {want} (down ones with 401)")
    time.sleep(0.5)
for job, health in want.items():
    print(f"  ok  job {job}: {health}" + (f" ({got[job][1]})" if health == "down" else ""))
PYTHON

# docker-compose.yml's healthcheck, run by busybox (the image's sh and wget) on this instance.
mkdir "$tmp/busybox"
for applet in sh wget cat; do ln -s "$(command -v busybox)" "$tmp/busybox/$applet"; done
healthcheck=$("$PY" - "$PWD/monitoring/secrets/" "$port" <<'PYTHON'
import sys, yaml
secrets, port = sys.argv[1:]
test = yaml.safe_load(open("docker-compose.yml"))["services"]["prometheus"]["healthcheck"]["test"]
assert test[0] == "CMD-SHELL", f"expected a CMD-SHELL healthcheck, got {test}"
# compose turns $$ into $; the secrets are at /run/secrets; the port is compose's 9090.
print(test[1].replace("$$", "$").replace("/run/secrets/", secrets).replace("127.0.0.1:9090", f"127.0.0.1:{port}"))
PYTHON
)
env -i PATH="$tmp/busybox" sh -c "$healthcheck" || failed "compose's healthcheck fails: $healthcheck"
! env -i PATH="$tmp/busybox" wget -q -O /dev/null "$base/-/ready" 2>/dev/null || failed "wget without credentials passed"
printf "  ok  compose's healthcheck passes (busybox wget, password from the secret file); without credentials it fails\n"

# The commented TLS block of web.yml, uncommented, with a self-signed certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$tmp/tls.key" -out "$tmp/tls.crt" >/dev/null 2>&1 || failed "openssl could not make a test certificate"
awk -v crt="$tmp/tls.crt" -v key="$tmp/tls.key" '
  /^# tls_server_config:$/ { on = 1 }
  !/^#/ { on = 0 }   # the block ends at the first line that is not a comment
  on { sub(/^# /, ""); sub(/cert_file: .*/, "cert_file: " crt); sub(/key_file: .*/, "key_file: " key) }
  { print }' monitoring/prometheus/web.yml >"$tmp/web-tls.yml"
grep -q '^tls_server_config:' "$tmp/web-tls.yml" || failed "web.yml has no commented '# tls_server_config:' block"
promtool check web-config "$tmp/web-tls.yml" >/dev/null 2>&1 || failed "web.yml with its TLS block uncommented"
printf 'global: {}\n' >"$tmp/empty.yml"
start_prometheus prom-tls "$tls_port" "$tmp/empty.yml" "$tmp/web-tls.yml" "https://127.0.0.1:$tls_port"
tls="https://127.0.0.1:$tls_port/api/v1/status/buildinfo"
[ "$(status --cacert "$tmp/tls.crt" -u "$user:$password" "$tls")" = 200 ] || failed "HTTPS with credentials is not 200"
[ "$(status --cacert "$tmp/tls.crt" "$tls")" = 401 ] || failed "HTTPS without credentials is not 401"
[ "$(status -u "$user:$password" "http://127.0.0.1:$tls_port/api/v1/status/buildinfo")" = 400 ] || failed "plain HTTP is not refused"
printf '  ok  TLS block uncommented: HTTPS 200 with credentials, 401 without, plain HTTP 400\n'

# Backup: a TSDB snapshot through the admin API (as docs/demo.md does it), restored as the
# data of a fresh Prometheus, answers a query about a time before the snapshot.
before=$(date +%s)
sleep 2
snapshot=$(curl -sf -u "$user:$password" -X POST "$base/api/v1/admin/tsdb/snapshot" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["data"]["name"])') \
  || failed "POST /api/v1/admin/tsdb/snapshot"
cp -r "$tmp/prom-data/snapshots/$snapshot" "$tmp/restored-data"
read -r restored_port < <("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TSDB="$tmp/restored-data" start_prometheus prom-restored "$restored_port" "$tmp/empty.yml" monitoring/prometheus/web.yml
restored=$(curl -sf -u "$user:$password" "http://127.0.0.1:$restored_port/api/v1/query" \
  --data-urlencode 'query=up{job="prometheus"}' --data-urlencode "time=$before" \
  | "$PY" -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')
[ "$restored" = 1 ] || failed "the restored snapshot does not answer up{job=\"prometheus\"} at $before: $restored"
printf '  ok  snapshot %s restored into a fresh Prometheus answers a query from before it\n' "$snapshot"

# The commented remote_write example of prometheus.yml, uncommented, is a valid config.
awk '
  /^# remote_write:$/ { on = 1 }
  !/^#/ { on = 0 }
  on { sub(/^# ?/, "") }
  { print }' monitoring/prometheus/prometheus.yml >"$tmp/remote-write.yml"
grep -q '^remote_write:' "$tmp/remote-write.yml" || failed "prometheus.yml has no commented '# remote_write:' block"
"$PY" - "$tmp/remote-write.yml" "$PWD/monitoring/secrets/" <<'PYTHON' || failed "prometheus.yml with remote_write uncommented"
import sys, yaml
path, secrets = sys.argv[1:]
text = open(path).read().replace("/run/secrets/", secrets)
config = yaml.safe_load(text)
assert config["remote_write"][0]["write_relabel_configs"], "remote_write keeps every series"
# Only the remote_write block is under test here; the rest was checked above.
config = {"remote_write": config["remote_write"]}
config["remote_write"][0]["basic_auth"]["password_file"] = secrets + "prometheus-password"
yaml.safe_dump(config, open(path, "w"))
PYTHON
promtool check config "$tmp/remote-write.yml" >/dev/null || failed "promtool check config on the remote_write example"
printf '  ok  the remote_write example, uncommented, passes promtool check config\n'

log "all Prometheus checks passed"
