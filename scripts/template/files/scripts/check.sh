#!/usr/bin/env bash
# Every static check of __SERVICE__'s monitoring and deployment files, without Docker or a
# cluster: Prometheus config, rules and their unit tests; the SLO rules and dashboards are
# what their generators write; Alertmanager config; dashboards against Grafana's schema,
# their PromQL and metric names; the compose file; the kustomize base.
#
#   scripts/check.sh        (VENV=... and TOOLS_DIR=... reuse an existing venv / npm prefix)
#
# Installs what it lacks: PyPI packages into $VENV, npm packages into $TOOLS_DIR, Debian's
# prometheus, prometheus-alertmanager and docker-compose with apt. kubectl must be present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
TOOLS_DIR=${TOOLS_DIR:-.tools}
GRAFANA_SCHEMA_VERSION=$(sed -n 's|^ *image: *grafana/grafana:\([0-9][0-9.]*\) *$|\1|p' docker-compose.yml | head -n1)
PIP_PACKAGES=("check-jsonschema==0.39.0" "PyYAML==6.0.3" "kubernetes-validate==1.37.0")
NPM_PACKAGES=("@grafana/schema@$GRAFANA_SCHEMA_VERSION" "ts-json-schema-generator@2.9.0")

step() { printf '== %s\n' "$1"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools"
apt_missing=()
command -v promtool >/dev/null || apt_missing+=(prometheus)
command -v amtool >/dev/null || apt_missing+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || apt_missing+=(docker-compose)
if [ ${#apt_missing[@]} -gt 0 ]; then
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null || { echo "kubectl (with kustomize >= 5) is required" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import check_jsonschema, yaml, kubernetes_validate' 2>/dev/null \
  || "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
[ -d "$TOOLS_DIR/node_modules/@grafana/schema" ] && [ -d "$TOOLS_DIR/node_modules/ts-json-schema-generator" ] \
  || npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --save-exact --loglevel=error "${NPM_PACKAGES[@]}"
PY="$VENV/bin/python"

step "prometheus: the SLO rules are what monitoring/prometheus/slos.yaml generates"
"$PY" monitoring/prometheus/slo.py monitoring/prometheus/slos.yaml \
  --out monitoring/prometheus/rules --tests monitoring/prometheus/tests --check
step "prometheus: promtool check config, check rules, test rules"
# prometheus.yml names the rules where the container mounts them: check a copy that points here.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/etc/prometheus/rules|$PWD/monitoring/prometheus/rules|" monitoring/prometheus/prometheus.yml >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"
promtool check rules monitoring/prometheus/rules/*.yml
(cd monitoring/prometheus/tests && promtool test rules ./*.yml)

step "alertmanager: amtool check-config"
amtool check-config monitoring/alertmanager/alertmanager.yml

step "grafana: the dashboards are what dashboards.py writes"
"$PY" monitoring/grafana/dashboards.py --check
step "grafana: JSON schema of Dashboard from @grafana/schema $GRAFANA_SCHEMA_VERSION"
schema="$TOOLS_DIR/cache/grafana-dashboard-$GRAFANA_SCHEMA_VERSION.schema.json"
if [ ! -s "$schema" ]; then
  mkdir -p "$TOOLS_DIR/cache"
  types=$(ls "$TOOLS_DIR"/node_modules/@grafana/schema/dist/types/raw/dashboard/x/{dashboard_types,types}.gen.d.ts 2>/dev/null | head -n1 || true)
  "$TOOLS_DIR/node_modules/.bin/ts-json-schema-generator" --path "$types" --type Dashboard \
    --no-type-check --out "$schema.tmp"
  mv "$schema.tmp" "$schema"
fi
"$VENV/bin/check-jsonschema" --schemafile "$schema" monitoring/grafana/dashboards/*.json
step "grafana: every query parses (promtool) and names only catalogued metrics"
"$PY" - "$tmp" monitoring/grafana/dashboards/*.json <<'PY'
import json, re, sys, yaml
tmp, paths = sys.argv[1], sys.argv[2:]

def exprs(node):
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for value in node.values():
            yield from exprs(value)
    elif isinstance(node, list):
        for value in node:
            yield from exprs(value)

queries = sorted({q for p in paths for q in exprs(json.load(open(p)))})
# Grafana's variables, replaced by values PromQL accepts.
variables = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
def substitute(q):
    for var, value in variables.items():
        q = q.replace(var, value)
    return re.sub(r"\$\{?\w+\}?", "x", q)
rules = [{"record": f"dashboard:query{i}", "expr": substitute(q)} for i, q in enumerate(queries)]
yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, open(f"{tmp}/queries.yml", "w"))
catalogue = yaml.safe_load(open("monitoring/metrics.yaml"))
known = {m["name"] for g in catalogue["groups"] for m in g["metrics"]} | {"up"}
unknown = set()
for q in queries:
    for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]", q):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if ":" not in name and name not in known and base not in known:
            unknown.add(name)
if unknown:
    sys.exit(f"dashboard queries name metrics missing from monitoring/metrics.yaml: {sorted(unknown)}")
print(f"{len(queries)} queries, every metric catalogued")
PY
promtool check rules "$tmp/queries.yml" >/dev/null

step "compose: compose-spec schema and docker-compose config"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
docker-compose -f docker-compose.yml config -q

step "k8s: kubectl kustomize k8s/base and kubernetes-validate --strict"
kubectl kustomize k8s/base >"$tmp/base.yaml"
"$VENV/bin/kubernetes-validate" --strict --quiet "$tmp/base.yaml"
echo "check: ok"
