#!/usr/bin/env bash
# Checks the Kubernetes manifests (k8s/) without a cluster:
#   1. `kubectl kustomize` renders the base and every overlay (never `kubectl apply`);
#   2. the committed PrometheusRule equals a fresh generation from
#      monitoring/prometheus/rules/*.yml (scripts/gen-prometheus-rule.py --check);
#   3. kubernetes-validate --strict on every rendered object of a built-in kind;
#   4. the custom resources (ServiceMonitor, PrometheusRule, ScaledObject,
#      TriggerAuthentication) against the CRD models of @kubernetes-models;
#   5. k8s/checks/consistency.py: probes, ports, references, security, grace periods,
#      autoscaling and NetworkPolicies against each other and against the Rust source; the
#      PrometheusRule's groups against the rule files (at least one) and `promtool check rules`.
# Installs what it needs, idempotently: kubernetes-validate and PyYAML into .venv,
# the npm packages into .tools, promtool/node from Debian when missing. kubectl must be on
# the machine (Debian's kubernetes-client is too old for kustomize components).
#
# Usage: scripts/check-k8s.sh    (RULES_DIR=... to read the rule files from elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[check-k8s] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

RULES_DIR=${RULES_DIR:-monitoring/prometheus/rules}
OVERLAYS=(dev prod)
# Pinned so a run means the same thing tomorrow.
PIP_PACKAGES=("kubernetes-validate==1.37.0" "PyYAML==6.0.3")
NPM_PACKAGES=("@kubernetes-models/prometheus-operator@6.0.0" "@kubernetes-models/keda@2.0.0" "js-yaml@5.5.0")

# ---------------------------------------------------------------- tools
command -v kubectl >/dev/null || { log "kubectl is required (with built-in kustomize >= 5)"; exit 1; }
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c 'import yaml' 2>/dev/null \
  || [ "$(.venv/bin/kubernetes-validate --version 2>/dev/null)" != "${PIP_PACKAGES[0]#*==}" ]; then
  log "installing ${PIP_PACKAGES[*]} into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

npm_missing=()
for spec in "${NPM_PACKAGES[@]}"; do
  name=${spec%@*}
  [ -f ".tools/node_modules/$name/package.json" ] || npm_missing+=("$spec")
done
if [ ${#npm_missing[@]} -gt 0 ]; then
  log "installing ${npm_missing[*]} into .tools"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "${npm_missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- checks
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
step() { # step NAME COMMAND...: runs one check, keeps going on failure
  local name=$1
  shift
  log "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    log "FAILED: $name"
  fi
}

rendered=()
render() {
  local target=$1 name=$2
  kubectl kustomize "$target" >"$tmp/$name.yaml" || return 1
  log "$target: $(grep -c '^kind:' "$tmp/$name.yaml") objects"
  rendered+=("$name=$tmp/$name.yaml")
}
step "kubectl kustomize k8s/base" render k8s/base base
for overlay in "${OVERLAYS[@]}"; do
  step "kubectl kustomize k8s/overlays/$overlay" render "k8s/overlays/$overlay" "$overlay"
done
files=("${rendered[@]#*=}")

step "PrometheusRule is generated from $RULES_DIR" \
  .venv/bin/python scripts/gen-prometheus-rule.py --check --rules-dir "$RULES_DIR"

# CRDs have no schema in kubernetes-validate: it warns about them, and step 4 covers them.
step "kubernetes-validate --strict (built-in kinds)" \
  .venv/bin/kubernetes-validate --strict --quiet "${files[@]}"

step "custom resources against @kubernetes-models" \
  node k8s/checks/validate-crds.mjs .tools "${files[@]}"

step "consistency with each other, the Rust source and the rule files; promtool check rules" \
  .venv/bin/python k8s/checks/consistency.py --promtool "$(command -v promtool)" --rules-dir "$RULES_DIR" "${rendered[@]}"

echo "check-k8s: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
