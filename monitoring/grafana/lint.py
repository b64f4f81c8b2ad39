#!/usr/bin/env python3
"""Checks the Orator dashboards beyond what the Grafana JSON schema can say.

    lint.py                    run every check; fail if panel-queries.json is stale
    lint.py --write-queries    same, but rewrite panel-queries.json instead of failing

Other dashboards, e.g. those of a service generated from Orator's template (written by the
same panels.py), are checked with --dashboards DIR and the service's own names:

    lint.py --dashboards DIR --provisioning PROV_DIR --catalogue METRICS_YAML \
            --tag acme --title Acme --namespace acme [--queries FILE [--write-queries]]

Then the checks specific to Orator's stack (the Elasticsearch, Alertmanager and basic-auth
provisioning, every exporter-metrics.txt entry used) are left out, and panel-queries.json
is neither checked nor written unless --queries names a file.

Checks (scripts/check-grafana.sh runs this after the JSON-schema validation):
  * provisioning: the datasources have the uids the dashboards use, the trace <-> log links
    point at existing datasources, the dashboard provider reads /var/lib/grafana/dashboards;
  * conventions: every panel has a description and a unit; every Prometheus panel and query
    uses the `${datasource}` variable, other panels a provisioned uid; every range selector
    is [$__rate_interval] (the 30-day SLO window only in panels titled "(30d)"); uids,
    panel ids and panel titles are unique; dashboards are tagged, versioned and linked;
  * every PromQL query parses: they go, variables substituted, into a temporary rules file
    that `promtool check rules` reads;
  * every metric name exists: Orator's in monitoring/metrics.yaml, exporters' in
    exporter-metrics.txt (whose entries must carry an exporter prefix and all be used);
    label names in Orator-only queries exist in the catalogue; Orator's counters and
    histogram series appear only inside rate()/irate()/increase(), its gauges never.
It also derives panel-queries.json: every query over Orator's own metrics, for the live test.

Needs PyYAML (scripts/check-grafana.sh installs it into .venv) and promtool.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DASHBOARD_DIR = HERE / "dashboards"
PROVISIONING = HERE / "provisioning"  # datasources/datasources.yml, dashboards/dashboards.yml
EXPORTER_METRICS = HERE / "exporter-metrics.txt"
PANEL_QUERIES = HERE / "panel-queries.json"
CATALOGUE = REPO / "monitoring" / "metrics.yaml"

PROM_VAR = "${datasource}"
RATE_INTERVAL = "$__rate_interval"
# The value the live test and promtool use for $__rate_interval: 4 x a 15 s scrape interval.
RATE_INTERVAL_VALUE = "1m"
SLO_WINDOW = "30d"
MIN_SCHEMA_VERSION = 39

# Non-Orator metrics must come from one of these (exporters, Prometheus, Alertmanager).
EXPORTER_PREFIXES = ("pg_", "redis_", "rabbitmq_", "node_", "probe_", "alertmanager_", "prometheus_", "scrape_")
EXPORTER_EXACT = ("up", "ALERTS")

# Orator metrics whose series exist only after a particular event, so a live test cannot
# expect data from them after ordinary traffic.
PIPER = "a worker with Piper voices (ORATOR_PIPER_VOICES)"
PIPER_TRAFFIC = "tts-1-hd syntheses on a worker with Piper voices (ORATOR_PIPER_VOICES)"
ONLY_AFTER = {
    "orator_alerts_received_total": "an Alertmanager notification delivered to POST /admin/alerts",
    # Only the Piper engine has model files and a session pool; its histograms need syntheses
    # within the rate window (the warm-up alone is one observation at start).
    **{m: PIPER for m in (
        "orator_model_up", "orator_model_load_duration_seconds", "orator_model_warmup_duration_seconds",
        "orator_model_size_bytes", "orator_model_info", "orator_inference_sessions_busy", "orator_inference_sessions",
    )},
    **{f"{m}_{suffix}": PIPER_TRAFFIC
       for m in ("orator_inference_phonemize_duration_seconds", "orator_inference_session_wait_seconds")
       for suffix in ("bucket", "sum", "count")},
}

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan", "start", "end",
}


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, where: str, msg: str) -> None:
        self.errors.append(f"{where}: {msg}")


# --------------------------------------------------------------------------------------------
# PromQL helpers (enough of a tokenizer to find metric and label names; promtool does the parse)
# --------------------------------------------------------------------------------------------

STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
RANGE_RE = re.compile(r"\[([^\]]*)\]")
MATCHERS_RE = re.compile(r"\{([^}]*)\}")
MATCHER_LABEL_RE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
IDENT_RE = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])")


RATE_CALL_RE = re.compile(r"\b(rate|irate|increase)\s*\(")


def _blank(pattern: re.Pattern, text: str, keep_ends: bool = False) -> str:
    """Replace matches by spaces of the same length, so positions stay valid."""
    def repl(m):
        g = m.group(0)
        return g[0] + " " * (len(g) - 2) + g[-1] if keep_ends else " " * len(g)
    return pattern.sub(repl, text)


def parse_promql(expr: str) -> dict:
    """Metric names (and whether each use sits inside rate/irate/increase), label names and
    range selectors of a PromQL expression."""
    text = _blank(STRING_RE, expr, keep_ends=True)
    ranges = RANGE_RE.findall(text)
    text = _blank(RANGE_RE, text)
    labels: set[str] = set()
    for body in MATCHERS_RE.findall(text):
        labels.update(MATCHER_LABEL_RE.findall(body))
    text = _blank(MATCHERS_RE, text)
    for _, body in GROUPING_RE.findall(text):
        labels.update(x.strip() for x in body.split(",") if x.strip())
    text = _blank(GROUPING_RE, text)
    rated = []  # (start, end) of the arguments of rate/irate/increase calls
    for m in RATE_CALL_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        rated.append((m.end(), i))
    metrics: dict[str, set[bool]] = {}
    for m in IDENT_RE.finditer(text):
        name = m.group(1)
        rest = text[m.end():].lstrip()
        if rest.startswith("(") or name.lower() in PROMQL_KEYWORDS:
            continue  # a function or aggregation call, or a keyword
        inside = any(a <= m.start() < b for a, b in rated)
        metrics.setdefault(name, set()).add(inside)
    return {"metrics": set(metrics), "rated": metrics, "labels": labels, "ranges": ranges}


def substitute(expr: str) -> str:
    return expr.replace(RATE_INTERVAL, RATE_INTERVAL_VALUE)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def load_catalogue(path: Path) -> dict[str, tuple[str, set[str]]]:
    """metric name (with histogram suffixes) -> (kind, label names the catalogue allows).
    kind is "counter" for counters and histogram series (only meaningful through rate() or
    increase()), "gauge" otherwise."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    names: dict[str, tuple[str, set[str]]] = {}
    for group in doc["groups"]:
        for m in group["metrics"]:
            labels = set((m.get("labels") or {}).keys())
            if m["type"] == "histogram":
                names[m["name"] + "_bucket"] = ("counter", labels | {"le"})
                names[m["name"] + "_sum"] = ("counter", labels)
                names[m["name"] + "_count"] = ("counter", labels)
            else:
                names[m["name"]] = ("counter" if m["type"] == "counter" else "gauge", labels)
    return names


def load_exporter_metrics(path: Path, report: Report) -> set[str]:
    names = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not (line in EXPORTER_EXACT or line.startswith(EXPORTER_PREFIXES)):
            report.error(f"{path.name}:{n}", f"{line} has no exporter prefix {EXPORTER_PREFIXES + EXPORTER_EXACT}")
        names.add(line)
    return names


def all_panels(dash: dict):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])  # panels folded into a collapsed row


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_provisioning(report: Report, provisioning: Path, folder: str, orator_stack: bool) -> dict[str, dict]:
    """Returns the provisioned datasources by uid. Every stack: Prometheus (uid prometheus)
    is the default datasource and a provider loads /var/lib/grafana/dashboards into `folder`.
    With orator_stack, also what Orator's stack needs of the other datasources."""
    doc = yaml.safe_load((provisioning / "datasources" / "datasources.yml").read_text(encoding="utf-8"))
    by_uid = {d["uid"]: d for d in doc.get("datasources", [])}
    where = "provisioning/datasources/datasources.yml"
    defaults = [uid for uid, d in by_uid.items() if d.get("isDefault")]
    if defaults != ["prometheus"] or by_uid.get("prometheus", {}).get("type") != "prometheus":
        report.error(where, f"exactly Prometheus (uid prometheus) must be the default datasource, got {defaults}")
    prov = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text(encoding="utf-8"))
    providers = prov.get("providers", [])
    if not any(p.get("options", {}).get("path") == "/var/lib/grafana/dashboards" and p.get("folder") == folder for p in providers):
        report.error("provisioning/dashboards/dashboards.yml", f"a provider must load /var/lib/grafana/dashboards into folder {folder}")
    if orator_stack:
        check_orator_datasources(by_uid, where, report)
    return by_uid


def check_orator_datasources(by_uid: dict, where: str, report: Report) -> None:
    """Orator's datasources: types and URLs, the trace <-> log links, Elasticsearch's index,
    basic auth with the password from a file."""
    expected = {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "jaeger": ("jaeger", "http://jaeger:16686"),
        "elasticsearch": ("elasticsearch", "http://elasticsearch:9200"),
        "alertmanager": ("alertmanager", "http://alertmanager:9093"),
    }
    for uid, (kind, url) in expected.items():
        ds = by_uid.get(uid)
        if not ds:
            report.error(where, f"no datasource with uid {uid}")
            continue
        if ds.get("type") != kind or ds.get("url") != url:
            report.error(where, f"{uid}: expected type {kind} at {url}, got {ds.get('type')} at {ds.get('url')}")
    jaeger = by_uid.get("jaeger", {}).get("jsonData", {})
    t2l = jaeger.get("tracesToLogsV2", {})
    if t2l.get("datasourceUid") not in by_uid or by_uid[t2l.get("datasourceUid")]["type"] != "elasticsearch":
        report.error(where, "jaeger.tracesToLogsV2.datasourceUid must name the Elasticsearch datasource")
    if "trace_id" not in t2l.get("query", "") or "$${__trace.traceId}" not in t2l.get("query", ""):
        report.error(where, "jaeger.tracesToLogsV2.query must match trace_id against $${__trace.traceId}")

    es = by_uid.get("elasticsearch", {}).get("jsonData", {})
    if es.get("index") != "orator-logs-*" or es.get("timeField") != "@timestamp":
        report.error(where, "elasticsearch must read index orator-logs-* with time field @timestamp")
    links = es.get("dataLinks", [])
    if not any(l.get("field") == "trace_id" and l.get("datasourceUid") == "jaeger" for l in links):
        report.error(where, "elasticsearch.dataLinks must link field trace_id to the jaeger datasource")
    if by_uid.get("alertmanager", {}).get("jsonData", {}).get("implementation") != "prometheus":
        report.error(where, "alertmanager.jsonData.implementation must be prometheus")
    # Prometheus and Alertmanager require basic auth (their web.yml); the password comes from
    # a file, never written here. scripts/check-compose.sh checks it against the bcrypt hash.
    for uid in ("prometheus", "alertmanager"):
        ds = by_uid.get(uid, {})
        password = str((ds.get("secureJsonData") or {}).get("basicAuthPassword", ""))
        if ds.get("basicAuth") is not True or not ds.get("basicAuthUser"):
            report.error(where, f"{uid}: needs basicAuth: true and a basicAuthUser")
        if not re.fullmatch(r"\$__file\{/[^}]+\}", password):
            report.error(where, f"{uid}: secureJsonData.basicAuthPassword must be $__file{{/path}}, not a literal")


def check_dashboard(path: Path, dash: dict, datasources: dict, report: Report, queries: list, names: argparse.Namespace) -> None:
    where = f"{path.parent.name}/{path.name}"
    uid = dash.get("uid", "")
    if not uid or path.stem != uid:
        report.error(where, f"uid {uid!r} must be set and equal the file name")
    if not dash.get("title", "").startswith(f"{names.title} / "):
        report.error(where, f"title must start with '{names.title} / '")
    if names.tag not in dash.get("tags", []):
        report.error(where, f"tags must include {names.tag}")
    if dash.get("schemaVersion", 0) < MIN_SCHEMA_VERSION:
        report.error(where, f"schemaVersion must be >= {MIN_SCHEMA_VERSION}")
    if not dash.get("description"):
        report.error(where, "dashboard description missing")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    dsvar = variables.get("datasource")
    if not dsvar or dsvar.get("type") != "datasource" or dsvar.get("query") != "prometheus":
        report.error(where, "needs a template variable `datasource` of type datasource, query prometheus")
    if not any(l.get("type") == "dashboards" and names.tag in l.get("tags", []) for l in dash.get("links", [])):
        report.error(where, f"needs a dashboards link to the other dashboards tagged {names.tag}")

    ids, titles, boxes = set(), set(), []
    for p in all_panels(dash):
        pid = p.get("id")
        if pid in ids:
            report.error(where, f"panel id {pid} used twice")
        ids.add(pid)
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            report.error(where, f"panel {pid} is wider than the grid")
        boxes.append((pid, g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0)))
        if p.get("type") == "row":
            continue
        title = p.get("title", "")
        pw = f"{where} panel {pid} {title!r}"
        if not title:
            report.error(pw, "no title")
        if title in titles:
            report.error(pw, "title used twice in this dashboard")
        titles.add(title)
        if not p.get("description", "").strip():
            report.error(pw, "no description")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            report.error(pw, "no fieldConfig.defaults.unit")
        check_panel_datasource(p, pw, datasources, report)
        if p.get("type") == "alertlist":
            name = p.get("options", {}).get("datasource")
            if name not in {d["name"] for d in datasources.values()}:
                report.error(pw, f"alert list filters on datasource {name!r}, which is not provisioned")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("type") == "prometheus":
                check_prom_target(t, p, pw, report)
                queries.append({"dashboard": dash, "panel": p, "target": t})
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[1] < b[1] + b[3] and b[1] < a[1] + a[3] and a[2] < b[2] + b[4] and b[2] < a[2] + a[4]:
                report.error(where, f"panels {a[0]} and {b[0]} overlap")


def check_panel_datasource(p: dict, pw: str, datasources: dict, report: Report) -> None:
    ds = p.get("datasource") or {}
    if ds.get("type") == "prometheus":
        if ds.get("uid") != PROM_VAR:
            report.error(pw, f"Prometheus panels must use uid {PROM_VAR}, not {ds.get('uid')!r}")
        for t in p.get("targets", []):
            if t.get("datasource") != {"type": "prometheus", "uid": PROM_VAR}:
                report.error(pw, f"query {t.get('refId')} must use the {PROM_VAR} datasource")
    else:
        known = datasources.get(ds.get("uid"))
        if not known or known["type"] == "prometheus" or known["type"] != ds.get("type"):
            report.error(pw, f"datasource {ds} is neither {PROM_VAR} nor a provisioned Jaeger/Elasticsearch/Alertmanager uid")
        for t in p.get("targets", []):
            if t.get("datasource") != ds:
                report.error(pw, f"query {t.get('refId')} must use the panel's datasource {ds}")


def check_prom_target(t: dict, p: dict, pw: str, report: Report) -> None:
    expr = t.get("expr", "")
    if not expr.strip():
        report.error(pw, f"query {t.get('refId')} has no expr")
        return
    parsed = parse_promql(expr)
    for r in parsed["ranges"]:
        if r == RATE_INTERVAL:
            continue
        if r == SLO_WINDOW and "(30d)" in p.get("title", ""):
            continue
        report.error(pw, f"range [{r}] in {expr!r}: use [{RATE_INTERVAL}] ([{SLO_WINDOW}] only in panels titled '(30d)')")
    leftover = re.findall(r"\$\{?\w+\}?", substitute(expr))
    if leftover:
        report.error(pw, f"unsupported variables {leftover} in {expr!r}")


def check_metrics(queries: list, catalogue: dict, exporter: set, report: Report, namespace: str, all_exporter_used: bool) -> list:
    """Checks names; returns panel-queries.json entries (queries over the service's own
    metrics, those in the catalogue)."""
    used_exporter = set()
    entries = []
    for q in queries:
        dash, p, t = q["dashboard"], q["panel"], q["target"]
        pw = f"{dash['uid']}.json panel {p['id']} {p['title']!r} query {t['refId']}"
        parsed = parse_promql(t["expr"])
        own = {m for m in parsed["metrics"] if m in catalogue}
        others = parsed["metrics"] - own
        for m in sorted(others):
            if m in exporter:
                used_exporter.add(m)
            elif m.startswith(f"{namespace}_") or not (m in EXPORTER_EXACT or m.startswith(EXPORTER_PREFIXES)):
                report.error(pw, f"metric {m} is in neither the catalogue nor an exporter's namespace")
            else:
                report.error(pw, f"exporter metric {m} is not listed in exporter-metrics.txt")
        for m in sorted(own):
            kind, uses = catalogue[m][0], parsed["rated"][m]
            if kind == "counter" and False in uses:
                report.error(pw, f"counter {m} used outside rate()/increase(): its raw value resets with the process")
            if kind == "gauge" and True in uses:
                report.error(pw, f"gauge {m} used inside rate()/increase()")
        if own and not others:
            allowed = set().union(*(catalogue[m][1] for m in own)) | {"job", "instance"}
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
            for label in sorted((parsed["labels"] | legend) - allowed):
                report.error(pw, f"label {label} is not a label of {sorted(own)} in the catalogue")
            requires = sorted({ONLY_AFTER[m] for m in own if m in ONLY_AFTER})
            entries.append({
                "dashboard": dash["title"],
                "dashboard_uid": dash["uid"],
                "panel": p["title"],
                "ref_id": t["refId"],
                "expr": substitute(t["expr"]),
                "requires": requires[0] if requires else None,
            })
    for m in sorted(exporter - used_exporter if all_exporter_used else ()):
        report.error("exporter-metrics.txt", f"{m} is listed but no dashboard uses it")
    return entries


def check_promql_parses(queries: list, promtool: str, report: Report) -> int:
    """Every query as a recording rule; promtool parses them all in one go."""
    rules = []
    for q in queries:
        dash, p, t = q["dashboard"], q["panel"], q["target"]
        record = f"grafana:{dash['uid'].replace('-', '_')}:panel{p['id']}_{t['refId']}"
        rules.append({"record": record, "expr": substitute(t["expr"])})
    doc = {"groups": [{"name": "grafana-dashboard-queries", "rules": rules}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard-queries.rules.yml"
        # JSON is YAML: no quoting surprises with PromQL's braces and quotes.
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            report.error("promtool check rules", (res.stdout + res.stderr).strip())
    return len(rules)


def main() -> int:
    parser = argparse.ArgumentParser(description="Lint Grafana dashboards (by default Orator's).")
    parser.add_argument("--dashboards", type=Path, help="lint DIR/*.json instead of Orator's dashboards, "
                        "without the checks specific to Orator's stack")
    parser.add_argument("--provisioning", type=Path, default=PROVISIONING,
                        help="Grafana provisioning directory (default monitoring/grafana/provisioning)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE, help="metrics catalogue (default monitoring/metrics.yaml)")
    parser.add_argument("--exporter-metrics", type=Path, default=EXPORTER_METRICS,
                        help="the non-catalogue metrics allowed (default monitoring/grafana/exporter-metrics.txt)")
    parser.add_argument("--queries", type=Path, help="panel-queries.json to check or write "
                        "(default: Orator's, and none with --dashboards)")
    parser.add_argument("--write-queries", action="store_true", help="rewrite the panel-queries file")
    parser.add_argument("--tag", default="orator", help="tag every dashboard carries and links by (default orator)")
    parser.add_argument("--title", default="Orator",
                        help="dashboard titles start with 'TITLE / '; the provider's folder is TITLE (default Orator)")
    parser.add_argument("--namespace", default="orator", help="prefix of the service's own metrics (default orator)")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    args = parser.parse_args()
    orator_stack = args.dashboards is None
    dashboard_dir = args.dashboards or DASHBOARD_DIR
    queries_file = args.queries or (PANEL_QUERIES if orator_stack else None)
    if args.write_queries and not queries_file:
        parser.error("--write-queries needs --queries FILE with --dashboards")

    report = Report()
    datasources = check_provisioning(report, args.provisioning, args.title, orator_stack)
    catalogue = load_catalogue(args.catalogue)
    exporter = load_exporter_metrics(args.exporter_metrics, report)

    queries: list = []
    uids: dict[str, str] = {}
    paths = sorted(dashboard_dir.glob("*.json"))
    if not paths:
        report.error(str(dashboard_dir), "no dashboards (*.json)")
    panel_count = 0
    for path in paths:
        dash = json.loads(path.read_text(encoding="utf-8"))
        if dash.get("uid") in uids:
            report.error(f"{dashboard_dir.name}/{path.name}", f"uid {dash.get('uid')} also used by {uids[dash['uid']]}")
        uids[dash.get("uid")] = path.name
        check_dashboard(path, dash, datasources, report, queries, args)
        n = sum(1 for p in all_panels(dash) if p.get("type") != "row")
        panel_count += n
        print(f"  {dash.get('title')}: {n} panels")

    n_rules = check_promql_parses(queries, args.promtool, report)
    # Orator's exporter-metrics.txt lists exactly what Orator's dashboards use; other
    # dashboards may use a part of it.
    entries = check_metrics(queries, catalogue, exporter, report, args.namespace, all_exporter_used=orator_stack)

    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    if queries_file and args.write_queries:
        queries_file.write_text(text, encoding="utf-8")
        print(f"wrote {queries_file.name} ({len(entries)} queries)")
    elif queries_file and (not queries_file.exists() or queries_file.read_text(encoding="utf-8") != text):
        report.error(queries_file.name, "stale: run scripts/check-grafana.sh --write-queries")

    print(f"checked {len(paths)} dashboards, {panel_count} panels, {len(queries)} Prometheus queries "
          f"({n_rules} parsed by promtool), {len(entries)} over the catalogue's metrics"
          + (f" in {queries_file.name}" if queries_file else ""))
    if report.errors:
        for e in report.errors:
            print(f"ERROR {e}", file=sys.stderr)
        print(f"{len(report.errors)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
