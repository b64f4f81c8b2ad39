#!/usr/bin/env bash
# Checks the docker-compose demo without a Docker engine (none runs in CI):
#
#   1. docker-compose.yml against the compose-spec JSON schema (check-jsonschema) and with
#      docker-compose 1.29 (Debian's), which also resolves the interpolation and rejects keys
#      it does not know (top-level `name:`, `develop`, `depends_on.required`);
#   2. the Logstash pipeline's syntax (logstash-pipeline-parser: grammar only);
#   3. the blackbox exporter configuration (the exporter's own --config.check);
#   4. the Alertmanager configuration that compose's environment renders (entrypoint.sh
#      --render-only, then amtool check-config);
#   5. the rules the file follows (python below): every service has a healthcheck, a memory
#      limit and a pinned image or a build; depends_on waits on health or completion; every
#      ./ file it mounts, and every mounted path a command names, exists; published ports bind
#      to 127.0.0.1; Prometheus' and Grafana's targets are compose services; the Dockerfile
#      copies every workspace manifest, builds the binaries compose runs and runs as non-root,
#      .dockerignore lets in every file it COPYs (and keeps .models/ out), and its
#      ORATOR_ONNXRUNTIME_LIB and ORATOR_PIPER_VOICES name files scripts/fetch-models.sh writes;
#      the index template, the pipeline, the Kibana objects and the Jaeger configuration agree;
#   6. the monitoring stack's own security (python below): Prometheus and Alertmanager run
#      with a web.yml of bcrypt-hashed users; every client of theirs (Prometheus' jobs and
#      alerting, Grafana's datasources, the healthchecks) sends a user of that file and a
#      password file that matches the hash; the api and the worker read the /metrics bearer
#      token from the metrics-token secret (ORATOR_METRICS_TOKEN_FILE, no ORATOR_METRICS_TOKEN
#      beside it) and every Orator scrape job sends that same file; Grafana's anonymous
#      access is off unless GRAFANA_ANONYMOUS=true; no service uses the host's network.
#
# Installs what it needs, idempotently: check-jsonschema, logstash-pipeline-parser,
# dockerfile-parse, bcrypt and PyYAML into .venv; docker-compose, prometheus-blackbox-exporter and
# prometheus-alertmanager (amtool) from Debian. Exits non-zero on the first failed step.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[check-compose] %s\n' "$*"; }
fail() { printf '[check-compose] FAIL: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools --------------------------------------------------------------------------------
apt_missing=()
command -v docker-compose >/dev/null 2>&1 || apt_missing+=(docker-compose)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || apt_missing+=(prometheus-blackbox-exporter)
command -v amtool >/dev/null 2>&1 || apt_missing+=(prometheus-alertmanager)
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing ${apt_missing[*]} (apt)"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Debian blocks service start-up during install in containers; nothing is started here.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c 'import check_jsonschema, logstash_pipeline_parser, dockerfile_parse, yaml, bcrypt' 2>/dev/null; then
  log "installing check-jsonschema, logstash-pipeline-parser, dockerfile-parse, PyYAML, bcrypt into .venv"
  .venv/bin/pip install -q --disable-pip-version-check \
    'check-jsonschema>=0.29' 'logstash-pipeline-parser>=0.0.3' 'dockerfile-parse>=2' 'PyYAML>=6' 'bcrypt>=4'
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A .env next to the compose file would change what is validated; check the file as shipped.
export COMPOSE_PROJECT_NAME=orator
unset ORATOR_ADMIN_API_KEY SLACK_WEBHOOK_URL PAGERDUTY_ROUTING_KEY SMTP_SMARTHOST \
      SMTP_FROM SMTP_TO SMTP_AUTH_USERNAME SMTP_AUTH_PASSWORD SMTP_REQUIRE_TLS \
      ORATOR_METRICS_TOKEN ORATOR_METRICS_TOKEN_FILE GRAFANA_ANONYMOUS GRAFANA_ADMIN_PASSWORD || true

# --- 1. schema and docker-compose ---------------------------------------------------------
log "compose-spec schema (check-jsonschema $(.venv/bin/check-jsonschema --version | awk '{print $NF}'))"
.venv/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml \
  || fail "docker-compose.yml does not match the compose-spec schema"

log "docker-compose $(docker-compose version --short 2>/dev/null) config -q (default services, then --profile elk)"
docker-compose -f docker-compose.yml config -q || fail "docker-compose config rejected the file"
docker-compose -f docker-compose.yml --profile elk config -q \
  || fail "docker-compose config rejected the file with the elk profile"
# The resolved file (interpolation done) feeds the Alertmanager render below.
docker-compose -f docker-compose.yml --profile elk config >"$tmp/resolved.yml"

# --- 2. Logstash pipeline syntax ------------------------------------------------------------
log "Logstash pipeline syntax (logstash-pipeline-parser)"
.venv/bin/python - monitoring/elk/logstash/pipeline/*.conf <<'PY' || fail "Logstash pipeline syntax"
import sys
from logstash_pipeline_parser import Pipeline

for path in sys.argv[1:]:
    pipeline = Pipeline(open(path, encoding="utf-8").read())
    # Grammar only: the library's value coercions (e.g. `path` to a single Path) reject
    # valid arrays, so they are switched off.
    for name in list(pipeline.get_types()):
        pipeline.remove_type(name)
    try:
        tree = pipeline.parse()
    except Exception as err:  # the parser raises its own ParseError with a location
        sys.exit(f"{path}: {err}")
    sections = [section for section, _ in tree]
    if not {"input", "output"} <= set(sections):
        sys.exit(f"{path}: needs an input and an output section, has {sections}")
    print(f"  {path}: ok ({', '.join(sections)})")
PY

# --- 3. blackbox exporter -------------------------------------------------------------------
log "blackbox exporter config ($(prometheus-blackbox-exporter --version 2>&1 | head -1 | awk '{print $3}'))"
prometheus-blackbox-exporter --config.file=monitoring/blackbox/blackbox.yml --config.check \
  >"$tmp/blackbox.log" 2>&1 || { cat "$tmp/blackbox.log" >&2; fail "blackbox.yml"; }

# --- 4. Alertmanager as compose configures it ---------------------------------------------
log "Alertmanager config rendered with compose's environment, then amtool check-config"
.venv/bin/python - "$tmp/resolved.yml" >"$tmp/alertmanager.env" <<'PY' || fail "alertmanager environment"
import shlex, sys, yaml
resolved = yaml.safe_load(open(sys.argv[1]))
env = resolved["services"]["alertmanager"].get("environment") or {}
if isinstance(env, list):
    env = dict(item.split("=", 1) for item in env)
for key, value in env.items():
    print(f"export {key}={shlex.quote('' if value is None else str(value))}")
PY
(
  # shellcheck disable=SC1091
  . "$tmp/alertmanager.env"
  mkdir -p "$tmp/am-runtime"
  ALERTMANAGER_TEMPLATE=monitoring/alertmanager/alertmanager.yml.tmpl \
  ALERTMANAGER_CONFIG_DIR="$PWD/monitoring/alertmanager" \
  ALERTMANAGER_RUNTIME_DIR="$tmp/am-runtime" \
    sh monitoring/alertmanager/entrypoint.sh --render-only >"$tmp/alertmanager.yml"
) || fail "monitoring/alertmanager/entrypoint.sh could not render with compose's environment"
amtool check-config "$tmp/alertmanager.yml" >"$tmp/amtool.log" 2>&1 \
  || { cat "$tmp/amtool.log" >&2; fail "the rendered Alertmanager configuration"; }

# --- 5. the file's rules and cross-file agreement ---------------------------------------------
log "structure: healthchecks, memory limits, pinned images, depends_on, mounts, ports, Dockerfile, ELK, Jaeger"
.venv/bin/python - <<'PY' || fail "structure checks (see above)"
import json, os, re, shlex, sys, tomllib
from pathlib import Path
from urllib.parse import urlparse

import yaml
from dockerfile_parse import DockerfileParser

errors = []
def error(msg): errors.append(msg)

compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
names = set(services)

if "name" in compose:
    error("top-level `name:` (docker-compose 1.29 rejects it)")

def one_shot(svc):
    return str(svc.get("restart", "no")) == "no"

# -- per service: image, healthcheck, memory, depends_on, profiles, ports
for name, svc in services.items():
    image, build = svc.get("image"), svc.get("build")
    if not build:
        if not image:
            error(f"{name}: neither image nor build")
        else:
            ref = image.split("@", 1)[0]
            last = ref.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if "@sha256:" not in image and (tag is None or tag == "latest" or "$" in tag):
                error(f"{name}: image {image!r} is not pinned to a version")

    hc = svc.get("healthcheck")
    if not hc:
        error(f"{name}: no healthcheck")
    elif hc.get("disable"):
        if not one_shot(svc):
            error(f"{name}: healthcheck disabled, allowed only for a one-shot job (restart: \"no\")")
    elif not hc.get("test"):
        error(f"{name}: healthcheck without a test")

    memory = ((svc.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory") or svc.get("mem_limit")
    if not memory:
        error(f"{name}: no memory limit (deploy.resources.limits.memory or mem_limit)")

    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        error(f"{name}: depends_on as a list starts without waiting; use conditions")
        deps = {}
    for dep, spec in deps.items():
        if dep not in names:
            error(f"{name}: depends_on unknown service {dep}")
            continue
        cond = (spec or {}).get("condition")
        if cond not in ("service_healthy", "service_completed_successfully"):
            error(f"{name}: depends_on {dep} with condition {cond!r}")
        if "required" in (spec or {}):
            error(f"{name}: depends_on.{dep}.required (docker-compose 1.29 rejects it)")
        dep_hc = services[dep].get("healthcheck") or {}
        if cond == "service_healthy" and (not dep_hc or dep_hc.get("disable")):
            error(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
        if cond == "service_completed_successfully" and not one_shot(services[dep]):
            error(f"{name}: waits for {dep} to complete, but {dep} restarts")
        # A service outside a profile must not need one inside it (compose refuses to start).
        mine, theirs = set(svc.get("profiles") or []), set(services[dep].get("profiles") or [])
        if theirs and not (mine and mine <= theirs):
            error(f"{name}: depends on {dep}, which only runs with profile(s) {sorted(theirs)}")

    for port in svc.get("ports") or []:
        text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
        if not str(text).startswith("127.0.0.1:"):
            error(f"{name}: port {port!r} is not bound to 127.0.0.1")

elk = {n for n, s in services.items() if "elk" in (s.get("profiles") or [])}
for needed in ("elasticsearch", "kibana", "kibana-init"):
    if needed not in elk:
        error(f"{needed}: must be in the `elk` profile")
if not ({"logstash", "filebeat"} & elk):
    error("no log shipper (logstash or filebeat) in the `elk` profile")

# -- bind mounts: ./ sources exist; paths named in commands resolve to existing files
def mounts(svc):
    out = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, str):
            # SOURCE:TARGET[:MODE]; SOURCE may be ${VAR:-default}, which has a colon itself.
            end = vol.index("}") + 1 if vol.startswith("${") else vol.find(":")
            src, rest = (vol, None) if end < 0 else (vol[:end], vol[end + 1:])
            dst = rest.split(":")[0] if rest else None
        else:
            src, dst = vol.get("source"), vol.get("target")
        out.append((src, dst))
    return out

for name, svc in services.items():
    repo_mounts = []
    for src, dst in mounts(svc):
        if src and src.startswith("./"):
            if not Path(src).exists():
                error(f"{name}: mounts {src}, which does not exist in the repository")
            else:
                repo_mounts.append((Path(src), dst))
    words = []
    for key in ("entrypoint", "command"):
        value = svc.get(key) or []
        words += value.split() if isinstance(value, str) else [str(v) for v in value]
    for word in words:
        path = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word
        if not path.startswith("/"):
            continue
        for src, dst in repo_mounts:
            if path == dst or path.startswith(dst.rstrip("/") + "/"):
                local = src / os.path.relpath(path, dst) if path != dst else src
                if not local.exists():
                    error(f"{name}: {word} names {local}, which does not exist")
                elif (svc.get("entrypoint") or [None])[0] == word and not os.access(local, os.X_OK):
                    error(f"{name}: entrypoint {local} is not executable")

# -- Dockerfile: manifests, binaries, non-root runtime
members = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]
df = DockerfileParser(path="Dockerfile")
instructions = [(i["instruction"], i["value"]) for i in df.structure]
copies = " ".join(v for ins, v in instructions if ins == "COPY")
for member in members:
    if f"{member}/Cargo.toml" not in copies:
        error(f"Dockerfile: the dependency layer does not copy {member}/Cargo.toml")
bins = set()
for member in members:
    manifest = tomllib.load(open(f"{member}/Cargo.toml", "rb"))
    bins |= {b["name"] for b in manifest.get("bin", [])}
    if Path(f"{member}/src/main.rs").exists() and not manifest.get("bin"):
        bins.add(manifest["package"]["name"])
runs = " ".join(v for ins, v in instructions if ins == "RUN")
for needed in ("orator-api", "orator-worker", "orator-loadgen"):
    if needed not in bins:
        error(f"Dockerfile: no workspace binary named {needed}")
    if f"target/release/{needed}" not in runs:
        error(f"Dockerfile: {needed} is not copied out of the builder")
for name, svc in services.items():
    if svc.get("build"):
        cmd = svc.get("command") or ["orator-api"]
        program = cmd.split()[0] if isinstance(cmd, str) else cmd[0]
        if program not in bins:
            error(f"{name}: runs {program}, which the workspace does not build")
stages, current = [], None
for ins, value in instructions:
    if ins == "FROM":
        current = {"from": value, "user": None, "expose": []}
        stages.append(current)
    elif ins == "USER" and current is not None:
        current["user"] = value.strip()
    elif ins == "EXPOSE" and current is not None:
        current["expose"] += value.split()
runtime = stages[-1]
user = (runtime["user"] or "root").split(":")[0]
if user in ("root", "0"):
    error(f"Dockerfile: the runtime stage ({runtime['from']}) runs as root; add a USER")
for port in ("8000", "8001"):
    if port not in runtime["expose"]:
        error(f"Dockerfile: the runtime stage does not EXPOSE {port}")
for stage in stages:
    base = stage["from"].split()[0]
    if base.endswith(":latest") or (":" not in base.rsplit("/", 1)[-1] and "@" not in base):
        error(f"Dockerfile: FROM {base} is not pinned")

# -- Dockerfile: every file COPY takes from the build context gets past .dockerignore (last
#    matching pattern wins; a pattern also matches the folders above a path, as Docker's)
def ignore_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            c = pattern[i]
            out, i = out + ("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)), i + 1
    return re.compile(out + r"\Z")
ignore_rules = []
for line in Path(".dockerignore").read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        negate = line.startswith("!")
        ignore_rules.append((negate, ignore_regex(line.lstrip("!").strip("/"))))
def in_context(path):
    parts = Path(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for negate, rx in ignore_rules:
        if any(rx.match(p) for p in prefixes):
            included = negate
    return included
for ins, value in instructions:
    if ins != "COPY" or "--from=" in value:
        continue
    for src in value.split()[:-1]:
        if not src.startswith("--") and not in_context(src):
            error(f"Dockerfile: COPY {src}, which .dockerignore keeps out of the build context")
if in_context(".models/piper/en_US-joe-medium.onnx"):
    error(".dockerignore lets .models/ (the host's fetched models) into the build context")

# -- Dockerfile: the runtime's ORATOR_ONNXRUNTIME_LIB and ORATOR_PIPER_VOICES name files that
#    scripts/fetch-models.sh writes, in the folder the runtime copies from the models stage
stage_of, stage = [], None
for ins, value in instructions:
    if ins == "FROM":
        stage = value.split()[-1] if " as " in value.lower() else value
    stage_of.append((stage, ins, value))
runtime_name = stage_of[-1][0]
runtime_env = {}
for st, ins, value in stage_of:
    if st == runtime_name and ins == "ENV":
        runtime_env.update(w.split("=", 1) for w in shlex.split(value) if "=" in w)
fetch = Path("scripts/fetch-models.sh").read_text()
fetched = set(re.findall(r'^\s*"\S+ (\S+) \S+"\s*$', fetch, re.M))
model_copies = [v.split()[-2:] for st, ins, v in stage_of if st == runtime_name and ins == "COPY" and "--from=models" in v]
fetch_dirs = [m.group(1) for st, ins, v in stage_of if ins == "RUN" for m in [re.search(r"fetch-models\.sh\s+(\S+)", v)] if m]
if not fetched:
    error("scripts/fetch-models.sh: no `files` entries found")
if len(model_copies) != 1 or len(fetch_dirs) != 1 or model_copies[0][0].rstrip("/") != fetch_dirs[0].rstrip("/"):
    error(f"Dockerfile: the runtime must COPY --from=models the folder fetch-models.sh fills ({fetch_dirs}), copies {model_copies}")
else:
    models_dir = model_copies[0][1].rstrip("/") + "/"
    wanted = {"ORATOR_ONNXRUNTIME_LIB": [runtime_env.get("ORATOR_ONNXRUNTIME_LIB", "")]}
    wanted["ORATOR_PIPER_VOICES"] = [v for v in runtime_env.get("ORATOR_PIPER_VOICES", "").split(",") if v]
    for var, paths in wanted.items():
        for path in paths or [""]:
            rel = path[len(models_dir):] if path.startswith(models_dir) else None
            need = [rel] + ([rel + ".json"] if var == "ORATOR_PIPER_VOICES" and rel else [])
            if rel is None or any(n not in fetched for n in need):
                error(f"Dockerfile: {var}={path!r} is not a file fetch-models.sh puts in {models_dir} ({sorted(fetched)})")

# -- Prometheus targets and Grafana datasources point at compose services
def host_of(target):
    return target.rsplit(":", 1)[0] if ":" in target else target
prom_path = Path("monitoring/prometheus/prometheus.yml")
if prom_path.exists():
    prom = yaml.safe_load(prom_path.read_text())
    for job in prom.get("scrape_configs", []):
        hosts = []
        for sc in job.get("static_configs", []):
            for target in sc.get("targets", []):
                hosts.append(urlparse(target).hostname if "://" in target else host_of(target))
        for sd in job.get("dns_sd_configs", []):
            hosts += sd.get("names", [])
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__" and "replacement" in relabel:
                hosts.append(host_of(relabel["replacement"]))
        for host in hosts:
            if host not in names and host not in ("localhost", "127.0.0.1"):
                error(f"prometheus.yml job {job['job_name']}: target host {host} is not a compose service")
    for am in prom.get("alerting", {}).get("alertmanagers", []):
        for sc in am.get("static_configs", []):
            for target in sc.get("targets", []):
                if host_of(target) not in names:
                    error(f"prometheus.yml: alertmanager {target} is not a compose service")
for ds_file in sorted(Path("monitoring/grafana/provisioning/datasources").glob("*.y*ml")):
    for ds in (yaml.safe_load(ds_file.read_text()) or {}).get("datasources", []):
        url = ds.get("url")
        if url and "$" not in url:
            host = urlparse(url).hostname
            if host not in names:
                error(f"{ds_file}: datasource {ds.get('name')} points at {host}, not a compose service")
            elif "elk" in (services[host].get("profiles") or []):
                print(f"  note: datasource {ds.get('name')} needs the elk profile ({host})")

# -- ELK: pipeline ↔ template ↔ compose mounts ↔ Kibana objects
pipeline_files = sorted(Path("monitoring/elk/logstash/pipeline").glob("*.conf"))
pipeline = "\n".join(p.read_text() for p in pipeline_files)
logstash_mounts = dict((dst, src) for src, dst in mounts(services.get("logstash", {})))
template_in_ls = re.search(r'^\s*template\s*=>\s*"([^"]+)"', pipeline, re.M)
if not template_in_ls:
    error("Logstash pipeline: the elasticsearch output installs no index template")
else:
    container_path = template_in_ls.group(1)
    src = logstash_mounts.get(container_path)
    if not src:
        error(f"logstash: the pipeline's template {container_path} is not mounted by compose")
    else:
        template = json.load(open(src))
        patterns = template.get("index_patterns", [])
        props = template.get("template", {}).get("mappings", {}).get("properties", {})
        for field in ("level", "service", "trace_id", "span_id", "request_id", "target"):
            if props.get(field, {}).get("type") != "keyword":
                error(f"{src}: {field} must be mapped as keyword")
        if props.get("message", {}).get("type") != "text":
            error(f"{src}: message must be mapped as text")
        index = re.search(r'^\s*index\s*=>\s*"([^"%]+)', pipeline, re.M)
        if not index or not any(re.fullmatch(p.replace("*", ".*"), index.group(1) + "x") for p in patterns):
            error(f"Logstash index {index and index.group(1)!r} is not covered by {patterns}")
        ndjson = Path("monitoring/elk/kibana/saved-objects.ndjson")
        objects = [json.loads(line) for line in ndjson.read_text().splitlines() if line.strip()]
        by_id = {(o["type"], o["id"]): o for o in objects}
        views = [o for o in objects if o["type"] == "index-pattern"]
        if [v["attributes"]["title"] for v in views] != ["orator-logs-*"] or "orator-logs-*" not in patterns:
            error(f"{ndjson}: one data view titled orator-logs-* (the template's pattern) is expected")
        titles = {o["attributes"]["title"] for o in objects if o["type"] == "search"}
        for wanted in ("Orator errors", "Orator by trace_id"):
            if wanted not in titles:
                error(f"{ndjson}: no saved search {wanted!r}")
        for o in objects:
            for ref in o.get("references", []):
                if (ref["type"], ref["id"]) not in by_id:
                    error(f"{ndjson}: {o['id']} references missing {ref['type']} {ref['id']}")
            meta = o["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
            if meta:
                json.loads(meta)
if "/var/lib/docker/containers" not in logstash_mounts:
    error("logstash: Docker's log directory is not mounted at /var/lib/docker/containers")

# -- Jaeger: every pipeline component is defined; the ports compose uses are configured
jaeger = yaml.safe_load(open("monitoring/jaeger/config.yaml"))
svc_cfg = jaeger.get("service", {})
for ext in svc_cfg.get("extensions", []):
    if ext not in jaeger.get("extensions", {}):
        error(f"jaeger config: extension {ext} is used but not defined")
for pname, p in svc_cfg.get("pipelines", {}).items():
    for kind in ("receivers", "processors", "exporters"):
        for comp in p.get(kind, []):
            if comp not in (jaeger.get(kind) or {}):
                error(f"jaeger config: pipeline {pname} uses {kind[:-1]} {comp}, not defined")
jaeger_text = Path("monitoring/jaeger/config.yaml").read_text()
for port in ("4317", "4318", "13133"):
    if f":{port}" not in jaeger_text:
        error(f"jaeger config: nothing listens on {port}, which compose uses")
if "13133" not in " ".join(services["jaeger"]["healthcheck"]["test"]):
    error("jaeger: the healthcheck does not probe the healthcheckv2 port 13133")

# -- blackbox module used by Prometheus exists
blackbox = yaml.safe_load(open("monitoring/blackbox/blackbox.yml"))
if prom_path.exists():
    for job in prom.get("scrape_configs", []):
        for module in (job.get("params") or {}).get("module", []):
            if module not in blackbox.get("modules", {}):
                error(f"prometheus job {job['job_name']} uses blackbox module {module}, not in blackbox.yml")

for e in errors:
    print(f"  - {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"  {len(services)} services ok: {', '.join(sorted(services))}")
PY

# --- 6. the monitoring stack's own security -------------------------------------------------
log "monitoring security: web.yml hashes vs secret files, every client's credentials, metrics token, Grafana login"
.venv/bin/python - "$tmp/resolved.yml" <<'PY' || fail "monitoring security (see above)"
import re, sys
from pathlib import Path
from urllib.parse import urlparse

import bcrypt
import yaml

errors = []
def error(msg): errors.append(msg)

compose = yaml.safe_load(open("docker-compose.yml"))
resolved = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
secrets = compose.get("secrets") or {}

def env(name):
    e = resolved["services"][name].get("environment") or {}
    return dict(i.split("=", 1) for i in e) if isinstance(e, list) else e

# -- compose secrets: files exist; services name defined ones
for name, spec in secrets.items():
    if not Path(spec.get("file", "")).is_file():
        error(f"secret {name}: file {spec.get('file')!r} does not exist")

def repo_file(service, path):
    """The repository file that `path` inside `service`'s container is, or None."""
    svc = services[service]
    for s in svc.get("secrets") or []:
        source, target = (s, s) if isinstance(s, str) else (s["source"], s.get("target", s["source"]))
        if source not in secrets:
            error(f"{service}: secret {source} is not defined at the top level")
            continue
        if path == (target if target.startswith("/") else f"/run/secrets/{target}"):
            return Path(secrets[source]["file"])
    for vol in svc.get("volumes") or []:
        if isinstance(vol, str) and vol.startswith("./"):
            src, dst = vol.split(":")[:2]
            if path == dst or path.startswith(dst.rstrip("/") + "/"):
                return Path(src) / Path(path).relative_to(dst) if path != dst else Path(src)
    return None

def read_secret(service, path, where):
    f = repo_file(service, path)
    if f is None or not f.is_file():
        error(f"{where}: {path} is not a file compose gives {service}")
        return None
    value = f.read_text().strip()
    if not value:
        error(f"{where}: {f} is empty")
    return value

# -- web configs: which services require basic auth, and their users
web_users = {}  # service -> {user: bcrypt hash}
for name in ("prometheus", "alertmanager"):
    flags = [str(w) for w in services[name].get("command") or []]
    web = next((w.split("=", 1)[1] for w in flags if w.startswith("--web.config.file=")), None)
    f = web and repo_file(name, web)
    if not f or not f.is_file():
        error(f"{name}: no --web.config.file pointing at a file of the repository")
        continue
    users = (yaml.safe_load(f.read_text()) or {}).get("basic_auth_users") or {}
    if not users:
        error(f"{f}: no basic_auth_users")
    for user, hashed in users.items():
        if not str(hashed).startswith(("$2a$", "$2b$", "$2y$")):
            error(f"{f}: user {user}: not a bcrypt hash")
    web_users[name] = users

def check_login(server, user, password, where):
    """user/password must be accepted by `server`'s web.yml."""
    users = web_users.get(server, {})
    if user not in users:
        error(f"{where}: user {user!r} is not in {server}'s web.yml ({sorted(users)})")
    elif password is not None and not bcrypt.checkpw(password.encode(), str(users[user]).encode()):
        error(f"{where}: the password does not match the bcrypt hash of {user} in {server}'s web.yml")
    if password is not None and not re.fullmatch(r"[A-Za-z0-9._~-]+", password):
        error(f"{where}: the password must be URL-safe ([A-Za-z0-9._~-]): the healthcheck puts it in a URL")

def server_of(host):
    return "prometheus" if host in ("localhost", "127.0.0.1") else host

# -- Prometheus' clients: its jobs and alerting
prom = yaml.safe_load(open("monitoring/prometheus/prometheus.yml"))
# Orator's /metrics token: one file, the metrics-token secret. The api and the worker read it
# through ORATOR_METRICS_TOKEN_FILE (which wins over ORATOR_METRICS_TOKEN: a second copy in
# the environment could only drift, so none may be set); Prometheus sends the same file.
token_file = {}  # service -> repository file holding its token
for n in ("api", "worker"):
    e = env(n)
    if e.get("ORATOR_METRICS_TOKEN") is not None:
        error(f"{n}: sets ORATOR_METRICS_TOKEN; the token lives in the metrics-token secret only "
              f"(ORATOR_METRICS_TOKEN_FILE wins over it anyway)")
    path = e.get("ORATOR_METRICS_TOKEN_FILE")
    if not path:
        error(f"{n}: ORATOR_METRICS_TOKEN_FILE is not set: /metrics would be open")
        continue
    f = repo_file(n, path)
    if f is None or not f.is_file():
        error(f"{n}: ORATOR_METRICS_TOKEN_FILE={path} is not a file compose gives {n} (secrets: [metrics-token])")
    elif not f.read_text().strip():
        error(f"{n}: {f} (ORATOR_METRICS_TOKEN_FILE) is empty: /metrics would be open")
    else:
        token_file[n] = f
n_orator = 0
for job in prom["scrape_configs"]:
    name = job["job_name"]
    if any(r.get("target_label") == "__address__" for r in job.get("relabel_configs") or []):
        hosts = set()  # scraped through another service (blackbox)
    else:
        hosts = {t.rsplit(":", 1)[0] for sc in job.get("static_configs", []) for t in sc.get("targets", [])}
        hosts |= {n for sd in job.get("dns_sd_configs", []) for n in sd.get("names", [])}
    for server in {server_of(h) for h in hosts} & set(web_users):
        basic = job.get("basic_auth") or {}
        where = f"prometheus.yml job {name} (scrapes {server})"
        if not basic.get("password_file"):
            error(f"{where}: no basic_auth with password_file")
        else:
            check_login(server, basic.get("username"), read_secret("prometheus", basic["password_file"], where), where)
    if name.startswith("orator-") or hosts & {"api", "worker"}:
        n_orator += 1
        auth = job.get("authorization") or {}
        where = f"prometheus.yml job {name}"
        if auth.get("type", "Bearer") != "Bearer" or not auth.get("credentials_file"):
            error(f"{where}: no authorization {{type: Bearer, credentials_file}}: Orator's /metrics answers 401")
            continue
        value = read_secret("prometheus", auth["credentials_file"], where)
        sent = repo_file("prometheus", auth["credentials_file"])
        for n, f in token_file.items():
            if value is not None and sent is not None and sent.resolve() != f.resolve():
                error(f"{where}: sends {sent}, but {n} reads its token from {f} (ORATOR_METRICS_TOKEN_FILE): "
                      f"both must be the metrics-token secret")
if n_orator < 2:
    error(f"prometheus.yml: expected the orator-api and orator-worker jobs, found {n_orator} Orator jobs")
for am in (prom.get("alerting") or {}).get("alertmanagers") or []:
    basic = am.get("basic_auth") or {}
    for sc in am.get("static_configs", []):
        for target in sc.get("targets", []):
            server = server_of(target.rsplit(":", 1)[0])
            where = f"prometheus.yml alerting -> {target}"
            if server in web_users:
                if not basic.get("password_file"):
                    error(f"{where}: no basic_auth with password_file")
                else:
                    check_login(server, basic.get("username"), read_secret("prometheus", basic["password_file"], where), where)

# -- Grafana's datasources
for ds_file in sorted(Path("monitoring/grafana/provisioning/datasources").glob("*.y*ml")):
    for ds in (yaml.safe_load(ds_file.read_text()) or {}).get("datasources", []):
        server = urlparse(ds.get("url", "")).hostname
        if server not in web_users:
            continue
        where = f"{ds_file}: datasource {ds.get('name')}"
        password = str((ds.get("secureJsonData") or {}).get("basicAuthPassword", ""))
        m = re.fullmatch(r"\$__file\{([^}]+)\}", password)
        if ds.get("basicAuth") is not True or not m:
            error(f"{where}: needs basicAuth: true and secureJsonData.basicAuthPassword: $__file{{...}}")
        else:
            check_login(server, ds.get("basicAuthUser"), read_secret("grafana", m.group(1), where), where)

# -- healthchecks of the servers that require a login
for server in web_users:
    test = services[server].get("healthcheck", {}).get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    m = re.search(r"http://([^:@/\s]+):\$\$\(cat ([^)\s]+)\)@", text)
    where = f"{server}: healthcheck"
    if not m:
        error(f"{where}: must send credentials (http://USER:$$(cat /run/secrets/FILE)@...)")
    else:
        check_login(server, m.group(1), read_secret(server, m.group(2), where), where)

# -- Grafana: a login unless the demo switch says otherwise
raw = str((services["grafana"].get("environment") or {}).get("GF_AUTH_ANONYMOUS_ENABLED", ""))
if not re.fullmatch(r"\$\{GRAFANA_ANONYMOUS:-false\}", raw):
    error(f"grafana: GF_AUTH_ANONYMOUS_ENABLED must be ${{GRAFANA_ANONYMOUS:-false}}, is {raw!r}")
if str(env("grafana").get("GF_AUTH_ANONYMOUS_ENABLED")).lower() != "false":
    error("grafana: anonymous access is on by default")

# -- nothing bypasses the 127.0.0.1-only port bindings
for name, svc in services.items():
    if svc.get("network_mode") == "host":
        error(f"{name}: network_mode: host publishes every port on every interface")

for e in errors:
    print(f"  - {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"  ok: basic auth (bcrypt) on {', '.join(sorted(web_users))}; every client's password matches; "
      f"{n_orator} Orator jobs send the token file api and worker read (ORATOR_METRICS_TOKEN_FILE); "
      f"Grafana anonymous access off by default")
PY

log "all compose checks passed"
