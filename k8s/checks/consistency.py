#!/usr/bin/env python3
"""Cross-checks rendered Kubernetes manifests against each other and against the code.

    .venv/bin/python k8s/checks/consistency.py --rules-dir DIR NAME=rendered.yaml ...

Schema validators see one object at a time; this sees how they fit together, and reads the
Rust source rather than hard-coding what the binaries serve, so drift on either side fails:

* probes: paths are routes of services/telemetry/src/health.rs (live for startup and
  liveness, ready for readiness) and their port is the port the binary listens on, i.e.
  ORATOR_HTTP_ADDR from the rendered config or else the default in services/*/src/config.rs;
* that port is the containerPort, the Service's targetPort, the ServiceMonitor's port (whose
  path is the /metrics route of services/telemetry/src/metrics.rs) and the NetworkPolicy's
  Prometheus port; the Service is named after the Prometheus job (orator-api, orator-worker);
* the ServiceMonitor sends a bearer token (`authorization`) from an existing Secret key, and
  that value is the pods' token (set, so /metrics is not open): the file ORATOR_METRICS_TOKEN_FILE
  names, resolved through the container's volumeMounts to a Secret volume's key (readable by
  the pod's user, and no ORATOR_METRICS_TOKEN beside it), or else ORATOR_METRICS_TOKEN;
* every ConfigMap, Secret and key a pod or TriggerAuthentication references exists;
* egress allows DNS and the ports of DATABASE_URL, REDIS_URL, AMQP_URL (from the rendered
  Secret) and of OTEL_EXPORTER_OTLP_ENDPOINT;
* the security context and resources the project requires, the /tmp emptyDir, and grace
  periods longer than the drain (worker: ORATOR_SHUTDOWN_GRACE_MS; api: preStop sleep plus
  ORATOR_SYNC_TIMEOUT_MS);
* autoscalers target existing Deployments (which then set no replicas); KEDA's queue is
  ORATOR_QUEUE_PREFIX + tts.jobs; its PromQL names catalogued metrics and passes promtool;
* the PrometheusRule's groups equal monitoring/prometheus/rules/*.yml (at least one group),
  and pass `promtool check rules`;
* the Piper voices: the api and the worker get the same ORATOR_PIPER_VOICES and
  ORATOR_PIPER_ALIASES (the image's ENV when unset); every voice (and the worker's
  ORATOR_ONNXRUNTIME_LIB) is a file the image holds (the Dockerfile's COPY --from=models
  folder plus what scripts/fetch-models.sh writes there; a voice needs its .onnx.json too)
  or lies on a volume the container mounts; ORATOR_PIPER_SESSIONS x ORATOR_PIPER_THREADS
  fits in the worker's CPU limit.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = "promtool"

# (component, Deployment/Service name = Prometheus job, container, config.rs with the default)
COMPONENTS = [
    ("api", "orator-api", "api", ROOT / "services/api/src/config.rs"),
    ("worker", "orator-worker", "worker", ROOT / "services/worker/src/config.rs"),
]
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "amqp": 5672, "http": 80, "https": 443}

errors: list[str] = []
passed = 0


def check(ok: bool, what: str) -> bool:
    global passed
    if ok:
        passed += 1
    else:
        errors.append(what)
    return ok


# --------------------------------------------------------------------------- the code


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rust_default(source: Path, var: str) -> str:
    """The default of `var` in a config.rs: config::<fn>("VAR", "default"), or for the listen
    address, which each binary passes to the shared settings, Common::from_env("default")."""
    text = read(source)
    m = re.search(r'config::\w+\(\s*"' + re.escape(var) + r'"\s*,\s*&?"([^"]*)"', text)
    if not m and var == "ORATOR_HTTP_ADDR":
        m = re.search(r'Common::from_env\(\s*"([^"]*)"\s*\)', text)
    if not m:
        raise SystemExit(f"consistency: cannot find the default of {var} in {source.relative_to(ROOT)}")
    return m.group(1)


def code_facts() -> dict:
    health_rs = ROOT / "services/telemetry/src/health.rs"
    metrics_rs = ROOT / "services/telemetry/src/metrics.rs"
    health_routes = set(re.findall(r'\.route\(\s*"(/[^"]*)"', read(health_rs)))
    metrics_routes = set(re.findall(r'\.route\(\s*"(/[^"]*)"', read(metrics_rs)))
    facts = {
        "health_routes": health_routes,
        "live": "/health/live",
        "ready": "/health/ready",
        "metrics_routes": metrics_routes,
        "addr": {c: rust_default(src, "ORATOR_HTTP_ADDR") for c, _, _, src in COMPONENTS},
        "shutdown_grace_ms": rust_default(ROOT / "services/worker/src/config.rs", "ORATOR_SHUTDOWN_GRACE_MS"),
        "sync_timeout_ms": rust_default(ROOT / "services/api/src/config.rs", "ORATOR_SYNC_TIMEOUT_MS"),
    }
    facts["image_files"], facts["image_env"] = image_models()
    check(facts["live"] in health_routes, f"{health_rs.relative_to(ROOT)} no longer serves /health/live")
    check(facts["ready"] in health_routes, f"{health_rs.relative_to(ROOT)} no longer serves /health/ready")
    check("/metrics" in metrics_routes, f"{metrics_rs.relative_to(ROOT)} no longer serves /metrics")
    # Both binaries must mount those routers on their listener: core's startup::probes()
    # merges them, and each binary's startup.rs mounts that.
    shared = read(ROOT / "services/core/src/startup.rs")
    for router in ("health::router", "metrics::router"):
        check(router in shared, f"services/core/src/startup.rs: probes() no longer merges {router}")
    for component in ("api", "worker"):
        startup = read(ROOT / f"services/{component}/src/startup.rs")
        check("startup::probes(" in startup, f"services/{component}/src/startup.rs no longer mounts startup::probes()")
    print(
        f"code: health routes {sorted(health_routes)}, metrics {sorted(metrics_routes)}, "
        f"default addrs {facts['addr']}, worker grace {facts['shutdown_grace_ms']} ms, "
        f"api sync timeout {facts['sync_timeout_ms']} ms"
    )
    return facts


def image_models() -> tuple[set[str], dict[str, str]]:
    """What the image holds for the neural engine: the files in its models folder (where the
    Dockerfile's runtime stage copies the `models` stage's output, joined with every file
    scripts/fetch-models.sh writes), and the defaults its ENV sets."""
    dockerfile = "\n".join(line for line in read(ROOT / "Dockerfile").splitlines() if not line.lstrip().startswith("#"))
    dest = re.search(r"^COPY\s+--from=models\s+\S+\s+(\S+)\s*$", dockerfile, re.M)
    fetched = re.findall(r'^\s*"\S+ (\S+) \S+"\s*$', read(ROOT / "scripts/fetch-models.sh"), re.M)
    if not dest or not fetched:
        raise SystemExit("consistency: cannot find the Dockerfile's COPY --from=models or fetch-models.sh's files")
    files = {dest.group(1).rstrip("/") + "/" + f for f in fetched}
    env = dict(re.findall(r"\b(ORATOR_ONNXRUNTIME_LIB|ORATOR_PIPER_VOICES|ORATOR_PIPER_ALIASES)=(\S+)", dockerfile))
    print(f"image: {len(files)} model files under {dest.group(1)}, ENV {sorted(env)}")
    return files, env


def catalogue_metrics() -> set[str]:
    doc = yaml.safe_load(read(ROOT / "monitoring/metrics.yaml"))
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("name"), str) and "type" in node:
                names.add(node["name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return names


# --------------------------------------------------------------------------- helpers


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def url_port(url: str) -> int | None:
    parts = urlsplit(url)
    return parts.port or DEFAULT_PORTS.get(parts.scheme)


def matches(selector: dict | None, labels: dict) -> bool:
    """matchLabels / matchExpressions (In, NotIn, Exists, DoesNotExist) against labels."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def duration_seconds(text: str) -> float:
    total = 0.0
    for value, unit in re.findall(r"(\d+)(ms|s|m|h)", text):
        total += int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def promql_ok(expr: str, where: str) -> None:
    """promtool has no `check query`; a recording rule is the smallest valid wrapper."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "query", "rules": [{"record": "query:check", "expr": expr}]}]}, f)
    try:
        r = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
    finally:
        Path(f.name).unlink()
    check(r.returncode == 0, f"{where}: PromQL does not parse: {r.stdout.strip()} {r.stderr.strip()}")


# --------------------------------------------------------------------------- an overlay


class Rendered:
    def __init__(self, name: str, path: Path):
        self.name = name
        self.docs = [d for d in yaml.safe_load_all(read(path)) if d]
        namespaces = [d["metadata"]["name"] for d in self.docs if d["kind"] == "Namespace"]
        check(len(namespaces) == 1, f"{name}: expected one Namespace, found {namespaces}")
        self.namespace = namespaces[0] if namespaces else None

    def all(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict | None:
        return next((d for d in self.all(kind) if d["metadata"]["name"] == name), None)

    def where(self, what: str) -> str:
        return f"{self.name}: {what}"


def check_namespaces(r: Rendered) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}
    for d in r.docs:
        if d["kind"] in cluster_scoped:
            continue
        ns = d["metadata"].get("namespace")
        check(ns == r.namespace, r.where(f"{d['kind']}/{d['metadata']['name']} is in namespace {ns!r}, not {r.namespace!r}"))


def pod_env(r: Rendered, pod_spec: dict, container: dict, where: str) -> dict[str, str]:
    """The environment the container gets: envFrom ConfigMaps/Secrets, then env (values and
    secretKeyRefs resolved), checking that every reference exists."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            cm = r.get("ConfigMap", name)
            if check(cm is not None, f"{where}: envFrom ConfigMap {name} does not exist"):
                env.update(cm.get("data") or {})
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            secret = r.get("Secret", name)
            if check(secret is not None, f"{where}: envFrom Secret {name} does not exist"):
                env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secret = r.get("Secret", ref["name"])
            if check(secret is not None, f"{where}: {var['name']}: Secret {ref['name']} does not exist") and check(
                ref["key"] in (secret.get("data") or {}), f"{where}: {var['name']}: Secret {ref['name']} has no key {ref['key']}"
            ):
                env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            cm = r.get("ConfigMap", ref["name"])
            if check(cm is not None and ref["key"] in (cm.get("data") or {}), f"{where}: {var['name']}: ConfigMap key missing"):
                env[var["name"]] = cm["data"][ref["key"]]
    return env


def mounted_secret_file(r: Rendered, pod_spec: dict, container: dict, path: str) -> tuple[str | None, str]:
    """The content of the file `path` inside the container when a Secret volume provides it,
    else None; with a reason either way. Follows volumeMounts (subPath too) and the volume's
    `items`, and checks that the pod's user can read the file."""
    mount, rel = None, None
    for m in container.get("volumeMounts") or []:
        root = m["mountPath"].rstrip("/")
        if m.get("subPath"):
            if path == root:
                mount, rel = m, m["subPath"]
        elif path.startswith(root + "/"):
            mount, rel = m, path[len(root) + 1:]
    if mount is None:
        return None, f"no volumeMount provides {path}"
    volume = next((v for v in pod_spec.get("volumes") or [] if v["name"] == mount["name"]), None)
    if volume is None or "secret" not in volume:
        return None, f"{path} is on volume {mount['name']}, which is not a Secret volume"
    source = volume["secret"]
    secret = r.get("Secret", source.get("secretName"))
    if secret is None:
        return None, f"volume {mount['name']}: Secret {source.get('secretName')} does not exist"
    mode = source.get("defaultMode", 0o644)
    items = source.get("items")
    if items:
        item = next((i for i in items if i["path"] == rel), None)
        if item is None:
            return None, f"volume {mount['name']} has no item with path {rel}"
        key, mode = item["key"], item.get("mode", mode)
    else:
        key = rel
    data = secret.get("data") or {}
    if key not in data:
        return None, f"Secret {source.get('secretName')} has no key {key}"
    # Secret files belong to root, and to the group fsGroup when the pod sets one (a
    # supplementary group of its processes).
    fs_group = (pod_spec.get("securityContext") or {}).get("fsGroup")
    if not (mode & 0o004 or (mode & 0o040 and fs_group is not None)):
        return None, f"{path} has mode {mode:o}: the pod's user (not root) cannot read it"
    return base64.b64decode(data[key]).decode(), f"Secret {source.get('secretName')} key {key}"


def resolve_port(container: dict, port) -> int | None:
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port), None)


def policies_for(r: Rendered, labels: dict) -> list[dict]:
    return [p for p in r.all("NetworkPolicy") if matches(p["spec"].get("podSelector"), labels)]


def peer_is(peer: dict, namespace: str, pod_label: str | None) -> bool:
    ns_sel = peer.get("namespaceSelector")
    if ns_sel is None or not matches(ns_sel, {"kubernetes.io/metadata.name": namespace}):
        return False
    if pod_label is None:
        return "podSelector" not in peer
    return matches(peer.get("podSelector"), {"app.kubernetes.io/name": pod_label})


def allowed_ports(rules: list[dict]) -> set[int]:
    return {p["port"] for rule in rules for p in rule.get("ports") or [] if isinstance(p.get("port"), int)}


def check_component(r: Rendered, facts: dict, component: str, name: str, container_name: str) -> None:
    where = lambda what: r.where(f"{name}: {what}")  # noqa: E731
    dep = r.get("Deployment", name)
    if not check(dep is not None, r.where(f"Deployment {name} missing")):
        return
    pod = dep["spec"]["template"]
    spec, labels = pod["spec"], pod["metadata"].get("labels") or {}
    check(matches(dep["spec"]["selector"], labels), where("selector does not match the pod template"))
    container = next((c for c in spec["containers"] if c["name"] == container_name), None)
    if not check(container is not None, where(f"no container {container_name}")):
        return
    env = pod_env(r, spec, container, f"{r.name}: {name}")

    # The port the binary listens on, as the code will compute it.
    addr = env.get("ORATOR_HTTP_ADDR", facts["addr"][component])
    port = port_of(addr)
    http = resolve_port(container, "http")
    check(http == port, where(f"containerPort 'http' is {http}, the binary listens on {port} (ORATOR_HTTP_ADDR={addr})"))

    for probe_name, path in (("startupProbe", facts["live"]), ("livenessProbe", facts["live"]), ("readinessProbe", facts["ready"])):
        probe = container.get(probe_name)
        if not check(probe is not None and "httpGet" in probe, where(f"{probe_name} must be an httpGet probe")):
            continue
        get = probe["httpGet"]
        check(get.get("path") == path, where(f"{probe_name} path {get.get('path')} != {path}"))
        check(get.get("path") in facts["health_routes"], where(f"{probe_name} path {get.get('path')} is not served"))
        check(resolve_port(container, get.get("port")) == port, where(f"{probe_name} port {get.get('port')} is not {port}"))
    print(f"  {r.name}/{name}: listens on :{port}; probes live={facts['live']} ready={facts['ready']}")

    # Security and resources.
    psc, csc = spec.get("securityContext") or {}, container.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, where("runAsNonRoot"))
    check(csc.get("runAsUser", psc.get("runAsUser")) == 10001, where("runAsUser must be 10001 (the image's user)"))
    check(csc.get("readOnlyRootFilesystem") is True, where("readOnlyRootFilesystem"))
    check(csc.get("allowPrivilegeEscalation") is False, where("allowPrivilegeEscalation: false"))
    check((csc.get("capabilities") or {}).get("drop") == ["ALL"], where("capabilities.drop [ALL]"))
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    check(seccomp == "RuntimeDefault", where("seccompProfile RuntimeDefault"))
    tmp = next((m for m in container.get("volumeMounts") or [] if m["mountPath"] == "/tmp"), None)
    volume = tmp and next((v for v in spec.get("volumes") or [] if v["name"] == tmp["name"]), None)
    check(bool(volume) and "emptyDir" in volume, where("/tmp must be an emptyDir (read-only root filesystem)"))
    res = container.get("resources") or {}
    for kind in ("requests", "limits"):
        check({"cpu", "memory"} <= set(res.get(kind) or {}), where(f"resources.{kind} needs cpu and memory"))
    spreads = spec.get("topologySpreadConstraints") or []
    check(bool(spreads) and all(matches(s.get("labelSelector"), labels) for s in spreads), where("topologySpreadConstraints"))
    check(spec.get("automountServiceAccountToken") is False, where("automountServiceAccountToken: false"))

    # Grace periods.
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if component == "worker":
        drain = int(env.get("ORATOR_SHUTDOWN_GRACE_MS", facts["shutdown_grace_ms"])) / 1000
        check(grace > drain, where(f"terminationGracePeriodSeconds {grace} must exceed ORATOR_SHUTDOWN_GRACE_MS ({drain} s)"))
    else:
        pre = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command") or []
        if check(len(pre) == 2 and pre[0] == "sleep" and pre[1].isdigit(), where("preStop must be [sleep, N]")):
            longest = int(pre[1]) + int(env.get("ORATOR_SYNC_TIMEOUT_MS", facts["sync_timeout_ms"])) / 1000
            check(grace > longest, where(f"terminationGracePeriodSeconds {grace} must exceed preStop + sync timeout ({longest} s)"))

    # Service, named after the Prometheus job.
    svc = r.get("Service", name)
    if check(svc is not None, where(f"Service {name} (the Prometheus job name) missing")):
        check(matches({"matchLabels": svc["spec"].get("selector")}, labels), where("Service selector does not match the pods"))
        svc_port = next((p for p in svc["spec"]["ports"] if resolve_port(container, p.get("targetPort", p["port"])) == port), None)
        check(svc_port is not None, where(f"no Service port targets :{port}"))
        monitors = [m for m in r.all("ServiceMonitor") if matches(m["spec"]["selector"], svc["metadata"].get("labels") or {})]
        if check(len(monitors) == 1, where(f"expected one ServiceMonitor for Service {name}, found {len(monitors)}")):
            for ep in monitors[0]["spec"]["endpoints"]:
                check(svc_port is not None and ep.get("port") == svc_port.get("name"), where(f"ServiceMonitor port {ep.get('port')} is not the Service's"))
                check(ep.get("path", "/metrics") in facts["metrics_routes"], where(f"ServiceMonitor path {ep.get('path')} is not served"))
                scrape = duration_seconds(ep.get("scrapeTimeout", "10s"))
                check(scrape <= duration_seconds(ep.get("interval", "30s")), where("scrapeTimeout exceeds interval"))
                # /metrics answers 401 without ORATOR_METRICS_TOKEN as a bearer token.
                auth = ep.get("authorization") or {}
                cred = auth.get("credentials") or {}
                if check(auth.get("type", "Bearer") == "Bearer" and bool(cred.get("name")) and bool(cred.get("key")),
                         where("ServiceMonitor endpoint needs authorization: {type: Bearer, credentials: {name, key}}")):
                    secret = r.get("Secret", cred["name"])
                    if check(secret is not None and cred["key"] in (secret.get("data") or {}),
                             where(f"ServiceMonitor credentials {cred['name']}/{cred['key']} do not exist")):
                        token = base64.b64decode(secret["data"][cred["key"]]).decode()
                        # As the binaries read it: the file wins over the variable; both trimmed.
                        path = env.get("ORATOR_METRICS_TOKEN_FILE")
                        if path:
                            mine, why = mounted_secret_file(r, spec, container, path)
                            check(mine is not None, where(f"ORATOR_METRICS_TOKEN_FILE={path}: {why}"))
                            check("ORATOR_METRICS_TOKEN" not in env,
                                  where("ORATOR_METRICS_TOKEN is set beside ORATOR_METRICS_TOKEN_FILE (the file wins): keep the token in one place"))
                            source = f"the file ORATOR_METRICS_TOKEN_FILE names ({why})"
                        else:
                            mine, source = env.get("ORATOR_METRICS_TOKEN"), "ORATOR_METRICS_TOKEN"
                        mine = (mine or "").strip()
                        check(bool(mine), where("neither ORATOR_METRICS_TOKEN_FILE nor ORATOR_METRICS_TOKEN gives a token: /metrics would be open"))
                        check(token.strip() == mine, where(f"the ServiceMonitor's token differs from the pods' token, {source}"))

    # NetworkPolicies.
    policies = policies_for(r, labels)
    check(any(p["spec"]["podSelector"] == {} and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"} and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies), where("no default-deny NetworkPolicy"))
    ingress = [rule for p in policies for rule in p["spec"].get("ingress") or []]
    egress = [rule for p in policies for rule in p["spec"].get("egress") or []]
    check(allowed_ports(ingress) == {port}, where(f"ingress ports {sorted(allowed_ports(ingress))} must be exactly [{port}]"))
    from_prometheus = [rule for rule in ingress if any(peer_is(peer, "monitoring", "prometheus") for peer in rule.get("from") or [])]
    check(port in allowed_ports(from_prometheus), where(f"Prometheus may not scrape :{port}"))
    if component == "api":
        from_ingress = [rule for rule in ingress if any(peer_is(peer, "ingress-nginx", None) for peer in rule.get("from") or [])]
        check(port in allowed_ports(from_ingress), where(f"the ingress controller may not reach :{port}"))
    check({53} <= allowed_ports(egress), where("DNS (53) egress not allowed"))
    wanted = {var: url_port(env[var]) for var in ("DATABASE_URL", "REDIS_URL", "AMQP_URL", "OTEL_EXPORTER_OTLP_ENDPOINT") if var in env}
    check(len(wanted) == 4, where(f"missing connection settings: {sorted({'DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT'} - set(wanted))}"))
    for var, p in wanted.items():
        check(p in allowed_ports(egress), where(f"egress does not allow :{p} ({var})"))
    extra = allowed_ports(egress) - set(wanted.values()) - {53, 4317, 4318}
    check(not extra, where(f"egress allows ports nothing here uses: {sorted(extra)}"))


def cpu_cores(quantity) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def check_piper(r: Rendered, facts: dict) -> None:
    """The neural engine's settings: api and worker agree, the files exist, the CPU fits."""
    found = {}
    for component, name, container_name, _ in COMPONENTS:
        dep = r.get("Deployment", name)
        spec = dep and dep["spec"]["template"]["spec"]
        container = spec and next((c for c in spec["containers"] if c["name"] == container_name), None)
        if container:
            env = dict(facts["image_env"])  # the image's ENV, which the pod's environment overrides
            env.update(pod_env(r, spec, container, r.where(name)))
            found[component] = (container, env)
    if set(found) != {"api", "worker"}:
        return  # check_component reports the missing Deployment or container
    for var in ("ORATOR_PIPER_VOICES", "ORATOR_PIPER_ALIASES"):
        api, worker = found["api"][1].get(var), found["worker"][1].get(var)
        check(api == worker, r.where(f"{var} differs: api {api!r}, worker {worker!r} (the api lists what the worker must load)"))

    def available(container: dict, path: str) -> bool:
        mounts = [m["mountPath"].rstrip("/") for m in container.get("volumeMounts") or []]
        return path in facts["image_files"] or any(path == m or path.startswith(m + "/") for m in mounts)

    voices: list[str] = []
    for component, (container, env) in found.items():
        voices = [v.strip() for v in (env.get("ORATOR_PIPER_VOICES") or "").split(",") if v.strip()]
        for voice in voices:
            check(voice.endswith(".onnx"), r.where(f"{component}: Piper voice {voice} is not an .onnx file"))
            # The api reads only the .onnx.json (the voice list); the worker both.
            needed = [voice + ".json"] if component == "api" else [voice, voice + ".json"]
            check(all(available(container, f) for f in needed),
                  r.where(f"{component}: Piper voice {voice}: {', '.join(needed)} not in the image nor on a mounted volume"))
    worker, env = found["worker"]
    lib = env.get("ORATOR_ONNXRUNTIME_LIB")
    if voices:
        check(bool(lib) and available(worker, lib),
              r.where(f"orator-worker: ORATOR_ONNXRUNTIME_LIB={lib!r} is neither in the image nor on a mounted volume"))
    limit = cpu_cores(((worker.get("resources") or {}).get("limits") or {}).get("cpu", 0))
    # The worker counts the cores as Rust's available_parallelism does: the cgroup's quota,
    # rounded down, at least 1. It refuses to start when sessions x threads exceed them.
    cores = max(1, int(limit))
    try:
        sessions = int(env.get("ORATOR_PIPER_SESSIONS") or 1)
        threads = int(env.get("ORATOR_PIPER_THREADS") or max(1, cores // max(sessions, 1)))
    except ValueError:
        check(False, r.where("orator-worker: ORATOR_PIPER_SESSIONS and ORATOR_PIPER_THREADS must be integers"))
        return
    check(sessions >= 1 and threads >= 1, r.where("orator-worker: ORATOR_PIPER_SESSIONS and ORATOR_PIPER_THREADS must be at least 1"))
    check(sessions * threads <= cores,
          r.where(f"orator-worker: ORATOR_PIPER_SESSIONS x ORATOR_PIPER_THREADS = {sessions} x {threads} exceeds the "
                  f"{cores} core(s) of the CPU limit {limit:g}: the worker would refuse to start"))
    print(f"  {r.name}: Piper voices {voices or 'none'}; worker {sessions} session(s) x {threads} thread(s), CPU limit {limit:g}")


def check_autoscaling(r: Rendered, facts: dict, metrics: set[str]) -> None:
    targets: set[str] = set()
    for hpa in r.all("HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        targets.add(ref["name"])
        check(ref["kind"] == "Deployment" and r.get("Deployment", ref["name"]) is not None, r.where(f"HPA {hpa['metadata']['name']} targets a missing {ref}"))
        check(hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"], r.where("HPA minReplicas > maxReplicas"))
    for so in r.all("ScaledObject"):
        where = lambda what: r.where(f"ScaledObject {so['metadata']['name']}: {what}")  # noqa: E731
        spec = so["spec"]
        ref = spec["scaleTargetRef"]
        targets.add(ref["name"])
        dep = r.get("Deployment", ref["name"])
        check(ref.get("kind", "Deployment") == "Deployment" and dep is not None, where(f"targets a missing {ref}"))
        check(spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), where("minReplicaCount > maxReplicaCount"))
        check(spec.get("minReplicaCount", 0) >= 1, where("minReplicaCount must be at least 1 (sync speech needs a worker)"))
        env = {}
        if dep:
            container = dep["spec"]["template"]["spec"]["containers"][0]
            env = pod_env(r, dep["spec"]["template"]["spec"], container, where("target"))
        kinds = set()
        for trigger in spec["triggers"]:
            kinds.add(trigger["type"])
            meta = trigger.get("metadata") or {}
            if trigger["type"] == "rabbitmq":
                queue = env.get("ORATOR_QUEUE_PREFIX", "") + "tts.jobs"
                check(meta.get("queueName") == queue, where(f"queueName {meta.get('queueName')} is not {queue}"))
                auth = r.get("TriggerAuthentication", (trigger.get("authenticationRef") or {}).get("name", ""))
                if check(auth is not None, where("rabbitmq trigger without an existing TriggerAuthentication")):
                    for ref in auth["spec"].get("secretTargetRef") or []:
                        secret = r.get("Secret", ref["name"])
                        check(secret is not None and ref["key"] in (secret.get("data") or {}), where(f"TriggerAuthentication references missing {ref['name']}/{ref['key']}"))
                        if ref["parameter"] == "host" and secret is not None and ref["key"] in (secret.get("data") or {}):
                            host = base64.b64decode(secret["data"][ref["key"]]).decode()
                            check(host == env.get("AMQP_URL"), where("KEDA's broker URL differs from the worker's AMQP_URL"))
            elif trigger["type"] == "prometheus":
                query = meta.get("query", "")
                promql_ok(query, where("prometheus trigger"))
                used = set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\{", query))
                for metric in used:
                    base = re.sub(r"_(bucket|sum|count)$", "", metric)
                    check(metric in metrics or base in metrics, where(f"query uses {metric}, not in monitoring/metrics.yaml"))
                check(f'namespace="{r.namespace}"' in query, where(f'query must select namespace="{r.namespace}"'))
                check('job="orator-worker"' in query, where('query must select job="orator-worker"'))
        check({"rabbitmq", "prometheus"} <= kinds, where("expected a rabbitmq (depth) and a prometheus (age) trigger"))
    for dep in r.all("Deployment"):
        if dep["metadata"]["name"] in targets:
            check("replicas" not in dep["spec"], r.where(f"{dep['metadata']['name']} is autoscaled: drop spec.replicas"))
    print(f"  {r.name}: autoscaled {sorted(targets) or 'nothing'}")


def check_references(r: Rendered) -> None:
    for ing in r.all("Ingress"):
        for rule in ing["spec"].get("rules") or []:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = r.get("Service", backend["name"])
                names = {p.get("name") for p in svc["spec"]["ports"]} if svc else set()
                numbers = {p["port"] for p in svc["spec"]["ports"]} if svc else set()
                check(svc is not None and (backend["port"].get("name") in names or backend["port"].get("number") in numbers), r.where(f"Ingress {ing['metadata']['name']} backend {backend} does not exist"))
                check(not path["path"].startswith(("/admin", "/metrics", "/health")), r.where(f"Ingress exposes {path['path']}"))
    for pdb in r.all("PodDisruptionBudget"):
        hits = [d for d in r.all("Deployment") if matches(pdb["spec"]["selector"], d["spec"]["template"]["metadata"].get("labels") or {})]
        check(len(hits) == 1, r.where(f"PDB {pdb['metadata']['name']} selects {len(hits)} Deployments"))
    for kind in ("Deployment", "StatefulSet"):
        for w in r.all(kind):
            spec = w["spec"]["template"]["spec"]
            for container in spec["containers"]:
                pod_env(r, spec, container, r.where(f"{kind}/{w['metadata']['name']}"))
            sa = spec.get("serviceAccountName")
            check(sa is None or r.get("ServiceAccount", sa) is not None, r.where(f"{w['metadata']['name']}: ServiceAccount {sa} missing"))


# --------------------------------------------------------------------------- rules


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_prometheus_rule", ROOT / "scripts/gen-prometheus-rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_rules(rendered: list[Rendered], rules_dir: Path) -> None:
    gen = load_generator()
    source_groups, sources = gen.load_groups(rules_dir)
    print(f"rules: {len(source_groups)} groups in {len(sources)} files under {rules_dir}")
    check(len(source_groups) >= 1, f"no rule group in {rules_dir}: the PrometheusRule would be empty")
    for r in rendered:
        objs = r.all("PrometheusRule")
        if not check(len(objs) == 1, r.where(f"expected one PrometheusRule, found {len(objs)}")):
            continue
        groups = objs[0]["spec"].get("groups") or []
        check(groups == source_groups, r.where("PrometheusRule groups differ from monitoring/prometheus/rules (run scripts/gen-prometheus-rule.py)"))
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump({"groups": groups}, f, sort_keys=False)
        try:
            res = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
        finally:
            Path(f.name).unlink()
        rules = sum(len(g.get("rules") or []) for g in groups)
        if check(res.returncode == 0, r.where(f"promtool check rules failed on the PrometheusRule:\n{res.stdout}{res.stderr}")):
            print(f"  {r.name}: PrometheusRule: {len(groups)} groups, {rules} rules, promtool check rules OK")


def main() -> int:
    global PROMTOOL
    parser = argparse.ArgumentParser(description="Cross-check rendered manifests with each other and the code.")
    parser.add_argument("--rules-dir", type=Path, default=ROOT / "monitoring/prometheus/rules")
    parser.add_argument("--promtool", default=PROMTOOL)
    parser.add_argument("rendered", nargs="+", help="NAME=path of `kubectl kustomize` output")
    args = parser.parse_args()
    PROMTOOL = args.promtool

    facts = code_facts()
    metrics = catalogue_metrics()
    overlays = []
    for item in args.rendered:
        name, _, path = item.partition("=")
        overlays.append(Rendered(name, Path(path)))
    for r in overlays:
        print(f"{r.name} (namespace {r.namespace}): {len(r.docs)} objects")
        check_namespaces(r)
        for component, name, container, _ in COMPONENTS:
            check_component(r, facts, component, name, container)
        check_piper(r, facts)
        check_autoscaling(r, facts, metrics)
        check_references(r)
    check_rules(overlays, args.rules_dir)

    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    print(f"consistency: {passed} checks passed, {len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
