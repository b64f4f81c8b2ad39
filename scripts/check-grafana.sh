#!/usr/bin/env bash
# Checks the Grafana provisioning and dashboards in monitoring/grafana:
#   1. dashboards/*.json are what monitoring/grafana/dashboards.py writes (not stale);
#   2. every dashboard validates against the Dashboard JSON schema generated from the
#      TypeScript types of @grafana/schema (npm) by ts-json-schema-generator, with
#      check-jsonschema (PyPI);
#   3. monitoring/grafana/lint.py: provisioning cross-references, panel conventions
#      (description, unit, ${datasource}, $__rate_interval), every PromQL query parsed by
#      `promtool check rules`, every metric known (monitoring/metrics.yaml or
#      exporter-metrics.txt) and used as its type allows, panel-queries.json up to date.
#
# Usage: scripts/check-grafana.sh [--write]           --write regenerates the dashboards
#                                  [--write-queries]   and/or panel-queries.json first
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboards are validated against the dashboard model of the Grafana that runs them:
# @grafana/schema is published with every Grafana release under the same version, so take
# the version of the grafana/grafana image in docker-compose.yml (fallback: the one below).
GRAFANA_SCHEMA_VERSION=$(sed -n 's|^ *image: *grafana/grafana:\([0-9][0-9.]*\) *$|\1|p' docker-compose.yml 2>/dev/null | head -n1)
GRAFANA_SCHEMA_VERSION=${GRAFANA_SCHEMA_VERSION:-12.1.1}
TS_JSON_SCHEMA_GENERATOR_VERSION=2.9.0
CHECK_JSONSCHEMA_VERSION=0.39.0
PYYAML_VERSION=6.0.3

write_dashboards=0
write_queries=0
for arg in "$@"; do
  case "$arg" in
    --write) write_dashboards=1; write_queries=1 ;;
    --write-queries) write_queries=1 ;;
    *) echo "usage: $0 [--write] [--write-queries]" >&2; exit 2 ;;
  esac
done

GRAFANA_DIR=monitoring/grafana

version_of() { # version_of path/to/package.json -> version or nothing
  [ -f "$1" ] && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$1" || true
}

echo "== grafana: tools"
[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python - "$CHECK_JSONSCHEMA_VERSION" "$PYYAML_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if (version("check-jsonschema"), version("PyYAML")) == tuple(sys.argv[1:]) else 1)
EOF
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"
fi
if [ "$(version_of .tools/node_modules/@grafana/schema/package.json)" != "$GRAFANA_SCHEMA_VERSION" ] ||
   [ "$(version_of .tools/node_modules/ts-json-schema-generator/package.json)" != "$TS_JSON_SCHEMA_GENERATOR_VERSION" ]; then
  # ts-json-schema-generator declares node >= 22 but runs on Debian 12's node 20 (checked).
  npm install --prefix .tools --no-audit --no-fund --save-exact --loglevel=error \
    "@grafana/schema@$GRAFANA_SCHEMA_VERSION" "ts-json-schema-generator@$TS_JSON_SCHEMA_GENERATOR_VERSION"
fi
if ! command -v promtool >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus
fi

echo "== grafana: dashboards generated from $GRAFANA_DIR/dashboards.py"
if [ "$write_dashboards" = 1 ]; then
  python3 "$GRAFANA_DIR/dashboards.py"
fi
python3 "$GRAFANA_DIR/dashboards.py" --check

# The schema is generated, not committed: it takes ~3 s, and deriving it from the pinned
# package keeps it honest. It is cached per version under .tools/ (git-ignored).
echo "== grafana: JSON schema of Dashboard from @grafana/schema $GRAFANA_SCHEMA_VERSION"
SCHEMA=".tools/cache/grafana-dashboard-$GRAFANA_SCHEMA_VERSION.schema.json"
if [ ! -s "$SCHEMA" ]; then
  mkdir -p .tools/cache
  # The file is dashboard_types.gen.d.ts up to Grafana 12, types.gen.d.ts from 13 on.
  types=""
  for f in dashboard_types.gen.d.ts types.gen.d.ts; do
    f=".tools/node_modules/@grafana/schema/dist/types/raw/dashboard/x/$f"
    if [ -f "$f" ]; then types=$f; break; fi
  done
  [ -n "$types" ] || { echo "no dashboard types in @grafana/schema $GRAFANA_SCHEMA_VERSION" >&2; exit 1; }
  .tools/node_modules/.bin/ts-json-schema-generator \
    --path "$types" --type Dashboard --no-type-check --out "$SCHEMA.tmp"
  mv "$SCHEMA.tmp" "$SCHEMA"
fi
.venv/bin/check-jsonschema --schemafile "$SCHEMA" "$GRAFANA_DIR"/dashboards/*.json

echo "== grafana: conventions, PromQL (promtool), metric names, panel-queries.json"
lint_args=(--promtool "$(command -v promtool)")
[ "$write_queries" = 1 ] && lint_args+=(--write-queries)
.venv/bin/python "$GRAFANA_DIR/lint.py" "${lint_args[@]}"
echo "grafana: ok"
