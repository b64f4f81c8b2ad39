#!/usr/bin/env bash
# Checks the Prometheus part of the monitoring stack, offline:
#   1. promtool check config   monitoring/prometheus/prometheus.yml (on a copy whose
#                              rule_files point into the repo instead of /etc/prometheus)
#   2. promtool check rules    monitoring/prometheus/rules/*.yml
#   3. promtool test rules     monitoring/prometheus/tests/*.yml (unit tests)
#   4. conventions (python):   labels/annotations of every alert, one runbook per alert,
#                              a firing and a quiet test per alert, every recording rule
#                              tested, metric and label names as in monitoring/metrics.yaml,
#                              scrape job names as agreed.
# Installs what it needs when missing (Debian's `prometheus` for promtool, PyYAML into
# .venv). Exits non-zero on the first failing step. Leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[check-prometheus] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null 2>&1; then
  log "installing Debian's prometheus package (provides promtool)"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends prometheus >/dev/null
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
trap 'rm -rf "$tmp"' EXIT

log "promtool check config monitoring/prometheus/prometheus.yml"
# Compose mounts the rules at /etc/prometheus/rules; point a copy at the repo instead.
# (The DNS names in the config are not resolved by check config.)
sed "s#/etc/prometheus/rules/#$PWD/monitoring/prometheus/rules/#" \
  monitoring/prometheus/prometheus.yml >"$tmp/prometheus.yml"
grep -q "$PWD/monitoring/prometheus/rules/" "$tmp/prometheus.yml" \
  || { log "rule_files does not point at /etc/prometheus/rules/"; exit 1; }
promtool check config "$tmp/prometheus.yml"

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

log "all Prometheus checks passed"
