"""Grafana dashboard builders that know nothing about any particular service.

A dashboard is written as Python: a list of rows and panels built by the functions below,
which `dashboard()` lays out on Grafana's 24-column grid and `main()` writes as JSON (or,
with --check, compares with the JSON on disk). Writing dashboards from code keeps the
conventions uniform: every Prometheus panel uses the `${datasource}` variable, every
rate()/increase() uses `$__rate_interval`, every panel has a unit and a description.

What is here:
  * panel builders: prom() makes a query; timeseries(), stat(), gauge(), table(),
    state_timeline(), es_logs(), jaeger_search(), alert_list() make panels; row() a row;
  * dashboard(): the dashboard around them (datasource variable, links to the dashboards
    carrying the same tag);
  * query fragments: quantile(), ratio_or_zero(), selector(), job_matcher();
  * SLO panels: slo_panels() from a list of SLOs, made by http_availability_slo(),
    http_latency_slo(), slos_from_spec() (monitoring/prometheus/slo.py's spec) or by hand;
  * rows over the metrics every service built on the shared telemetry crate exposes:
    red_rows() (HTTP rate, errors, duration per route), health_rows() (`up`, health checks,
    trace export), process_rows() (CPU, memory, files, threads, uptime, build), and
    traces_rows() (recent failed and slow traces, optionally error logs);
  * service_dashboard(): all of those as one dashboard, the whole dashboard of a new service;
  * annotate(): service-specific sentences (alert names...) added to shared panels.

A service's dashboards.py, next to this file, can be as short as:

    import sys
    from pathlib import Path
    import panels

    slos = [panels.http_availability_slo("Availability", 0.999, "acme"),
            panels.http_latency_slo("Latency", 0.99, "acme", le="0.5")]
    dash = panels.service_dashboard("acme", "Acme", job="acme", namespace="acme", slos=slos,
                                    error_budget=0.001, slow="0.5s")
    sys.exit(panels.main({"acme.json": dash}, Path(__file__).resolve().parent / "dashboards"))

This file is copied unchanged into every service generated from the template, so the same
code draws the reference dashboards and the generated ones: change it here, for all of them.
It must stay free of any one service's names. Standard library only, so it runs anywhere
python3 does.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

# Grafana 11.0's dashboard schema version. Newer Grafana releases migrate it on load; the
# JSON is validated against the Dashboard schema of @grafana/schema (scripts/check-grafana.sh).
SCHEMA_VERSION = 39

# Every Prometheus query goes through this variable so that a dashboard works unchanged
# against another Prometheus (a staging one, Thanos, Mimir...).
PROM = {"type": "prometheus", "uid": "${datasource}"}
JAEGER = {"type": "jaeger", "uid": "jaeger"}
ELASTIC = {"type": "elasticsearch", "uid": "elasticsearch"}

RI = "$__rate_interval"

# The SLO window. SLO panels are the one place where a fixed range is right: the objective is
# defined over 30 days whatever the dashboard's time range. Titles of those panels say "(30d)".
SLO_WINDOW = "30d"

# Colours Grafana knows by name.
GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"


# --------------------------------------------------------------------------------------------
# Panel builders
# --------------------------------------------------------------------------------------------


def prom(expr: str, legend: str = "__auto", instant: bool = False, table: bool = False) -> dict:
    """A Prometheus query. refId is filled in by the panel."""
    t = {
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps) -> dict:
    """thresholds((GREEN, None), (RED, 0.9)) — the first step's value is -Infinity (null)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def updown_mappings(up: str = "up", down: str = "down") -> list:
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": down, "color": RED, "index": 0},
                "1": {"text": up, "color": GREEN, "index": 1},
            },
        }
    ]


def flag_mappings(off: str, on: str) -> list:
    """0/1 gauges where 1 is the bad state (a breaker open): 0 green, 1 red."""
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": off, "color": GREEN, "index": 0},
                "1": {"text": on, "color": RED, "index": 1},
            },
        }
    ]


def _panel(kind, title, description, unit, targets, w, h, datasource=PROM, **extra) -> dict:
    defaults = {"unit": unit}
    for key in ("min", "max", "decimals", "noValue", "mappings", "thresholds", "color", "custom"):
        if key in extra:
            defaults[key] = extra.pop(key)
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "fieldConfig": {"defaults": defaults, "overrides": extra.pop("overrides", [])},
        "options": extra.pop("options", {}),
        "targets": [],
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
    }
    for i, t in enumerate(targets):
        t = dict(t)
        t["refId"] = chr(ord("A") + i)
        p["targets"].append(t)
    if "transformations" in extra:
        p["transformations"] = extra.pop("transformations")
    assert not extra, f"unknown panel options {sorted(extra)}"
    return p


def timeseries(title, description, unit, targets, w=12, h=8, stack=False, bars=False, legend_calcs=("mean", "max"), **extra):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    options = {
        "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": list(legend_calcs)},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    extra.setdefault("min", 0)
    return _panel("timeseries", title, description, unit, targets, w, h, custom=custom, options=options, **extra)


def stat(title, description, unit, targets, w=6, h=4, color_mode="value", graph=True, **extra):
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": color_mode,
        "graphMode": "area" if graph else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
    }
    extra.setdefault("thresholds", thresholds((GREEN, None)))
    return _panel("stat", title, description, unit, targets, w, h, options=options, **extra)


def gauge(title, description, unit, targets, w=6, h=5, **extra):
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
        "orientation": "auto",
    }
    return _panel("gauge", title, description, unit, targets, w, h, options=options, **extra)


def table(title, description, unit, targets, w=12, h=8, rename=None, **extra):
    """An instant table: one row per series, the value in a column named by `rename`."""
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    transformations = [
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True}, "renameByName": {"Value": rename or "Value"}},
        }
    ]
    return _panel("table", title, description, unit, targets, w, h, options=options, transformations=transformations, **extra)


def state_timeline(title, description, targets, w=12, h=8, up="up", down="down", one_is_bad=False):
    """0/1 series as coloured bands: 1 = up (green), 0 = down (red); with one_is_bad, 1 is the
    bad state (red, labelled `down`) and 0 the good one (green, labelled `up`)."""
    options = {
        "mergeValues": True,
        "showValue": "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    if one_is_bad:
        mappings, steps = flag_mappings(up, down), thresholds((GREEN, None), (RED, 1))
    else:
        mappings, steps = updown_mappings(up, down), thresholds((RED, None), (GREEN, 1))
    return _panel(
        "state-timeline", title, description, "none", targets, w, h,
        options=options, mappings=mappings,
        thresholds=steps,
        custom={"fillOpacity": 70, "lineWidth": 0},
    )


def es_logs(title, description, query, w=24, h=10):
    """Log lines from Elasticsearch (Lucene query), newest first, trace ids linked to Jaeger."""
    target = {
        "datasource": ELASTIC,
        "query": query,
        "metrics": [{"id": "1", "type": "logs", "settings": {"limit": "100"}}],
        "bucketAggs": [],
        "timeField": "@timestamp",
    }
    options = {
        "showTime": True,
        "showLabels": False,
        "showCommonLabels": False,
        "wrapLogMessage": True,
        "prettifyLogMessage": False,
        "enableLogDetails": True,
        "dedupStrategy": "none",
        "sortOrder": "Descending",
    }
    # Log lines carry no numbers: "none" keeps the every-panel-has-a-unit rule honest.
    return _panel("logs", title, description, "none", [target], w, h, datasource=ELASTIC, options=options)


def jaeger_search(title, description, service, tags="", min_duration="", w=24, h=8):
    """A Jaeger trace search shown as a table; each trace id opens the trace view."""
    target = {
        "datasource": JAEGER,
        "queryType": "search",
        "service": service,
        "tags": tags,
        "minDuration": min_duration,
        "limit": 20,
    }
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    # Jaeger reports span durations in microseconds.
    return _panel("table", title, description, "µs", [target], w, h, datasource=JAEGER, options=options)


def alert_list(title, description, w=24, h=10):
    """Grafana's alert list, showing the Prometheus-managed rules (read from Prometheus'
    rules API through the datasource named "Prometheus")."""
    options = {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 50,
        "sortOrder": 1,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": "",
        "datasource": "Prometheus",
        "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
        "showInstances": True,
    }
    return _panel("alertlist", title, description, "none", [], w, h, options=options)


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


# --------------------------------------------------------------------------------------------
# Dashboard assembly
# --------------------------------------------------------------------------------------------


def layout(items: list) -> list:
    """Place panels left to right, 24 columns wide, wrapping lines; rows start a new line."""
    x = y = line_h = 0
    pid = 1
    out = []
    for item in items:
        if item["type"] == "row":
            if x:
                y += line_h
            item["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            item["id"] = pid
            y += 1
            x = line_h = 0
        else:
            w, h = item["gridPos"]["w"], item["gridPos"]["h"]
            if x + w > 24:
                y += line_h
                x = line_h = 0
            item["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            item["id"] = pid
            x += w
            line_h = max(line_h, h)
        pid += 1
        out.append(_ordered(item))
    return out


def _ordered(panel: dict) -> dict:
    """Key order as Grafana exports it, so diffs against an export stay readable."""
    order = ["type", "title", "description", "id", "gridPos", "datasource", "collapsed", "panels", "fieldConfig", "options", "targets", "transformations"]
    return {k: panel[k] for k in order if k in panel}



def dashboard(uid: str, title: str, description: str, items: list, *, tag: str, family: str) -> dict:
    """A dashboard holding `items` (rows and panels, in order). Every dashboard of a family
    (one service's dashboards) carries `tag`, and its "<family> dashboards" menu links to the
    others with that tag, keeping the time range and the datasource."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [tag],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": f"{family} dashboards",
                "type": "dashboards",
                "tags": [tag],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": f"The other {family} dashboards, same time range and datasource",
            }
        ],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "description": "Prometheus to query; every Prometheus panel of this dashboard uses it.",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                    "skipUrlSync": False,
                }
            ]
        },
        "panels": layout(items),
    }


def annotate(items: list, notes: dict[str, str]) -> list:
    """Appends notes[title] to the description of the panel with that title: how a shared
    panel relates to one service (the alert that watches it, what its routes return).
    A title matching no panel is an error, so a renamed panel cannot lose its note quietly."""
    unknown = set(notes) - {p.get("title") for p in items if p["type"] != "row"}
    if unknown:
        raise ValueError(f"notes for panels that do not exist: {sorted(unknown)}")
    for p in items:
        if p["type"] != "row" and p["title"] in notes:
            p["description"] = f"{p['description']} {notes[p['title']]}"
    return items


# --------------------------------------------------------------------------------------------
# Query fragments
# --------------------------------------------------------------------------------------------

# The OpenTelemetry HTTP server duration histogram (semantic conventions, as Prometheus
# names it): labels http_request_method, http_route (the route template, or "unmatched"
# when no route matched) and http_response_status_code.
HTTP = "http_server_request_duration_seconds"
UNMATCHED_ROUTE = "unmatched"


def job_matcher(jobs) -> str:
    """The label matcher for one Prometheus job or several: 'job="a"', 'job=~"a|b"', or ""
    for None (every job)."""
    if jobs is None:
        return ""
    if isinstance(jobs, str):
        return f'job="{jobs}"'
    if len(jobs) == 1:
        return f'job="{jobs[0]}"'
    # Job names are plain words; a regex alternation of them needs no escaping.
    return 'job=~"' + "|".join(jobs) + '"'


def selector(*matchers: str) -> str:
    """'{a,b}' from the non-empty matchers, "" when none is left (`x{}` is valid PromQL,
    but noise in every query of a dashboard over every job)."""
    kept = [m for m in matchers if m]
    return "{" + ",".join(kept) + "}" if kept else ""


def _scope(jobs) -> str:
    """The processes a panel covers, for its description: "the processes of job a"."""
    if jobs is None:
        return "every scraped process"
    names = [jobs] if isinstance(jobs, str) else list(jobs)
    return "the processes of " + ("job " if len(names) == 1 else "jobs ") + " and ".join(names)


def quantile(q: float, metric: str, by: str = "", sel: str = "") -> str:
    """histogram_quantile over a classic histogram, aggregated across instances; `sel` is
    a selector ('{job="a"}') for the _bucket series."""
    by_clause = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({by_clause}) (rate({metric}_bucket{sel}[{RI}])))"


def ratio_or_zero(num_selector: str, den_selector: str, metric: str, by: str) -> str:
    """num/den per `by` group, 0 (not "no data") for groups where the numerator series does not
    exist yet: error counters with labels appear only after the first error."""
    num = f"sum by ({by}) (rate({metric}{num_selector}[{RI}]))"
    den = f"sum by ({by}) (rate({metric}{den_selector}[{RI}]))"
    return f"({num} or {den} * 0) / {den}"


# --------------------------------------------------------------------------------------------
# SLOs
# --------------------------------------------------------------------------------------------
#
# An SLO is a dict:
#   name       "API availability" (panel titles start with it)
#   objective  0.995
#   explain    what the SLI measures, in words ("share of API requests answered without a 5xx")
#   total      series selector of every valid event, a counter: 'x_total{job="a"}'
#   good       selector of the good events,   or
#   bad        selector of the bad ones, for counters whose bad series appear only after the
#              first bad event (5xx): the SLI is then 1 - bad / total, with no bad series = 0.
# The selectors are counters (or a histogram's _count and _bucket); the panels wrap them in
# increase() over the SLO window or rate() over $__rate_interval.


def http_availability_slo(name: str, objective: float, job, explain: str | None = None) -> dict:
    """Share of the requests to every matched route answered without a 5xx."""
    base = [job_matcher(job), f'http_route!="{UNMATCHED_ROUTE}"']
    return {
        "name": name,
        "objective": objective,
        "explain": explain or f"share of requests (every route except \"{UNMATCHED_ROUTE}\") answered without a 5xx",
        "good": f"{HTTP}_count" + selector(*base, 'http_response_status_code!~"5.."'),
        "total": f"{HTTP}_count" + selector(*base),
    }


def http_latency_slo(name: str, objective: float, job, le: str, route: str | None = None,
                     explain: str | None = None) -> dict:
    """Share of the successful (non-5xx) requests, to `route` or to every matched route,
    served within `le` seconds. `le` is a bucket boundary as Prometheus writes it ("0.5",
    "1"): between two buckets the share cannot be computed."""
    routes = f'http_route="{route}"' if route else f'http_route!="{UNMATCHED_ROUTE}"'
    base = [job_matcher(job), routes, 'http_response_status_code!~"5.."']
    where = f" to {route}" if route else ""
    return {
        "name": name,
        "objective": objective,
        "explain": explain or f"share of successful (non-5xx) requests{where} served within {le} s",
        "good": f"{HTTP}_bucket" + selector(*base, f'le="{le}"'),
        "total": f"{HTTP}_count" + selector(*base),
    }


def slos_from_spec(spec: dict) -> list:
    """The SLOs of a monitoring/prometheus/slo.py spec (the YAML, already loaded), so that a
    dashboard shows exactly the SLIs the recording rules and burn-rate alerts compute.
    slo.py validates the spec; this only translates it."""
    slos = []
    for s in spec["slos"]:
        percent, what = re.fullmatch(r"(\d+(?:\.\d+)?) % of (.+)", s["objective"]).groups()
        job = job_matcher(s.get("job", spec["job"]))
        total = s.get("total", "")
        slo = {
            "name": s["title"][0].upper() + s["title"][1:],
            "objective": float(Decimal(percent) / 100),
            "explain": f"share of {what}",
        }
        if "counter" in s:
            slo["total"] = s["counter"] + selector(job, total)
            slo["bad"] = s["counter"] + selector(job, s["bad"])
        else:
            slo["total"] = s["histogram"] + "_count" + selector(job, total)
            slo["good"] = s["histogram"] + "_bucket" + selector(job, total, f'le="{s["le"]}"')
        slos.append(slo)
    return slos


def _sli(slo: dict, fn: str, window: str) -> str:
    """The SLI as PromQL: good / total, or 1 - bad / total."""
    total = f"sum({fn}({slo['total']}[{window}]))"
    if "good" in slo:
        return f"sum({fn}({slo['good']}[{window}])) / {total}"
    return f"1 - (sum({fn}({slo['bad']}[{window}])) or vector(0)) / {total}"


def slo_panels(slos: list) -> list:
    """Per SLO: the SLI against its objective and the error budget left, over the SLO window
    (30 days, whatever the dashboard's time range), and the burn rate now."""
    panels = []
    for slo in slos:
        name, obj = slo["name"], slo["objective"]
        sli30 = _sli(slo, "increase", SLO_WINDOW)
        sli_now = _sli(slo, "rate", RI)
        budget = 1 - obj
        panels.append(stat(
            f"{name}: SLI and objective (30d)",
            f"SLI = {slo['explain']}, over the last 30 days (not the dashboard's time range). "
            f"Objective {obj:.1%}. Red when the SLI is below the objective.",
            "percentunit",
            # Instant queries: a 30-day increase() at every step of a range query is costly.
            [prom(sli30, "SLI (30d)", instant=True), prom(f"vector({obj})", "Objective", instant=True)],
            w=6, h=5, decimals=3, graph=False,
            thresholds=thresholds((RED, None), (GREEN, obj)),
        ))
        panels.append(stat(
            f"{name}: error budget left (30d)",
            f"Share of the 30-day error budget ({budget:.1%} of events may be bad) still unspent: "
            f"1 - (1 - SLI) / (1 - {obj}). 100% = no bad events, 0% = budget spent, negative = SLO broken.",
            "percentunit",
            [prom(f"1 - (1 - ({sli30})) / (1 - {obj})", "Budget left", instant=True)],
            w=6, h=5, decimals=1, graph=False, color_mode="background",
            thresholds=thresholds((RED, None), (ORANGE, 0), (GREEN, 0.25)),
        ))
        # The thresholds quoted are those of monitoring/prometheus/slo.py's alerts.
        panels.append(timeseries(
            f"{name}: error budget burn rate",
            f"How fast the budget burns right now: (1 - SLI over $__rate_interval) / (1 - {obj}). "
            "1 spends exactly the budget in 30 days; the page alerts fire at 14.4 (1h and 5m windows) "
            "and 6 (6h and 30m), the tickets at 3 and 1 (longer windows).",
            "none",
            [prom(f"(1 - ({sli_now})) / (1 - {obj})", "burn rate")],
            w=12, h=5, legend_calcs=("mean", "max"),
            thresholds=thresholds((GREEN, None), (ORANGE, 1), (RED, 14.4)),
        ))
    return panels


# --------------------------------------------------------------------------------------------
# Rows over the shared telemetry crate's metrics
# --------------------------------------------------------------------------------------------
#
# `jobs` is a Prometheus job name, a list of them, or None for every job. The panel titles
# are fixed: annotate() hangs service-specific sentences on them.


def red_rows(jobs, error_budget: float = 0.005) -> list:
    """Rate, errors and duration (RED) per route, from the OpenTelemetry HTTP server
    metrics. The 5xx ratio turns red above `error_budget` (the availability SLO's budget)."""
    job = job_matcher(jobs)
    sel = selector(job)
    five_xx = selector(job, 'http_response_status_code=~"5.."')
    scope = _scope(jobs)
    return [
        row("Traffic, errors and duration per route (RED)"),
        timeseries(
            "Request rate by route",
            f"HTTP requests per second served by {scope}, by method and route template "
            f"(\"{UNMATCHED_ROUTE}\" = no route matched). Source: {HTTP}_count.",
            "reqps",
            [prom(f"sum by (http_request_method, http_route) (rate({HTTP}_count{sel}[{RI}]))", "{{http_request_method}} {{http_route}}")],
        ),
        timeseries(
            "Responses by status code",
            "HTTP responses per second by status code: 4xx are client errors (auth, validation, "
            "rate limits), 5xx are server errors and count against the availability SLO.",
            "reqps",
            [prom(f"sum by (http_response_status_code) (rate({HTTP}_count{sel}[{RI}]))", "{{http_response_status_code}}")],
            stack=True,
        ),
        timeseries(
            "5xx error ratio by route",
            "Share of requests to each route answered with a 5xx. Routes without any 5xx yet show 0.",
            "percentunit",
            [prom(ratio_or_zero(five_xx, sel, f"{HTTP}_count", "http_route"), "{{http_route}}")],
            thresholds=thresholds((GREEN, None), (RED, error_budget)),
        ),
        timeseries(
            "Requests in progress by route",
            f"HTTP requests being served right now by {scope}, summed over instances.",
            "short",
            [prom(f"sum by (http_route) (http_server_active_requests{sel})", "{{http_route}}")],
        ),
        timeseries(
            "p50 duration by route",
            "Median HTTP request duration per route (histogram_quantile over all instances).",
            "s",
            [prom(quantile(0.5, HTTP, "http_route", sel), "{{http_route}}")],
            w=8,
        ),
        timeseries(
            "p95 duration by route",
            "95th percentile HTTP request duration per route.",
            "s",
            [prom(quantile(0.95, HTTP, "http_route", sel), "{{http_route}}")],
            w=8,
        ),
        timeseries(
            "p99 duration by route",
            # The telemetry crate's latency buckets end at 30 s.
            "99th percentile HTTP request duration per route. Buckets end at 30 s: values there mean \"30 s or more\".",
            "s",
            [prom(quantile(0.99, HTTP, "http_route", sel), "{{http_route}}")],
            w=8,
        ),
        timeseries(
            "p95 response body size by route",
            "95th percentile of response body sizes.",
            "bytes",
            [prom(quantile(0.95, "http_server_response_body_size_bytes", "http_route", sel), "{{http_route}}")],
        ),
        timeseries(
            "p95 request body size by route",
            "95th percentile of request body sizes, from Content-Length.",
            "bytes",
            [prom(quantile(0.95, "http_server_request_body_size_bytes", "http_route", sel), "{{http_route}}")],
        ),
    ]


def health_rows(jobs) -> list:
    """Is the service there and are its dependencies? `up`, the health checks behind
    /health and /health/ready (health_check_status and _duration_seconds, label `check`),
    and whether traces still leave the process (otel_*)."""
    sel = selector(job_matcher(jobs))
    scope = _scope(jobs)
    return [
        row("Service health"),
        state_timeline(
            "Targets up",
            f"1 when Prometheus scraped the target at its last attempt, for {scope}.",
            [prom(f"up{sel}", "{{job}} {{instance}}")],
        ),
        state_timeline(
            "Dependency health checks",
            f"Worst result of each dependency check across {scope}: 1 passed, 0 failed. "
            "Updated whenever /health or /health/ready runs.",
            [prom(f"min by (check) (health_check_status{sel})", "{{check}}")],
            up="pass", down="fail",
        ),
        timeseries(
            "Health check p95 latency",
            "95th percentile latency of the dependency checks behind /health/ready.",
            "s",
            [prom(quantile(0.95, "health_check_duration_seconds", "check", sel), "{{check}}")],
            w=12,
        ),
        timeseries(
            "Spans exported and export failures",
            "Spans delivered to the OTLP endpoint (Jaeger) and failed export batches, per second. "
            "Failures mean traces are being lost; the service keeps running.",
            "ops",
            [
                prom(f"sum by (job) (rate(otel_exported_spans_total{sel}[{RI}]))", "{{job}} spans"),
                prom(f"sum by (job) (rate(otel_export_failures_total{sel}[{RI}]))", "{{job}} failed batches"),
            ],
            w=12,
        ),
    ]


def process_rows(jobs, namespace: str, build_info: bool = True) -> list:
    """The process metrics of the telemetry crate (process.rs: CPU, memory, open files,
    threads, start time) per job and instance, and which build each instance runs
    (<namespace>_build_info, left out with build_info=False). Exporters written with the
    Prometheus Go client expose the same process_* names except process_threads."""
    sel = selector(job_matcher(jobs))
    scope = _scope(jobs)
    panels = [
        row("Processes"),
        timeseries(
            "Process CPU",
            f"CPU used by {scope}, per job and instance (1 = one core).",
            "percentunit",
            [prom(f"sum by (job, instance) (rate(process_cpu_seconds_total{sel}[{RI}]))", "{{job}} {{instance}}")],
        ),
        timeseries(
            "Process resident memory",
            f"Resident memory (RSS) of {scope}, per job and instance.",
            "bytes",
            [prom(f"sum by (job, instance) (process_resident_memory_bytes{sel})", "{{job}} {{instance}}")],
        ),
        timeseries(
            "Open file descriptors",
            "Open file descriptors per process (sockets included); the limit is process_max_fds.",
            "short",
            [prom(f"sum by (job, instance) (process_open_fds{sel})", "{{job}} {{instance}}")],
            w=8,
        ),
        timeseries(
            "Threads",
            "OS threads per process."
            + (" Exporters written in Go report go_threads instead (not shown)." if jobs is None else ""),
            "short",
            [prom(f"sum by (job, instance) (process_threads{sel})", "{{job}} {{instance}}")],
            w=8,
        ),
        timeseries(
            "Uptime",
            "Time since each process started: a drop to 0 is a restart, a sawtooth a crash loop.",
            "s",
            [prom(f"time() - max by (job, instance) (process_start_time_seconds{sel})", "{{job}} {{instance}}")],
            w=8,
        ),
    ]
    if build_info:
        panels.append(table(
            "Running builds",
            f"Which version and git revision each job runs ({namespace}_build_info); the value is the number of instances.",
            "short",
            [prom(f"count by (job, version, revision) ({namespace}_build_info{sel})", instant=True, table=True)],
            w=24, h=5, rename="Instances",
        ))
    return panels


def traces_rows(service: str, slow: str, logs_query: str | None = None) -> list:
    """Recent failed and slow traces of `service` (its OpenTelemetry service.name) from
    Jaeger, `slow` being a duration like "1s" (the latency SLO's threshold); with
    `logs_query` (Lucene), first the matching log lines from Elasticsearch."""
    panels = [row("Logs and traces" if logs_query else "Traces")]
    if logs_query:
        panels.append(es_logs(
            "Errors and warnings (logs)",
            "Log lines at WARN or ERROR from Elasticsearch, newest first. "
            "Open a line's details: its trace_id links to the trace in Jaeger.",
            logs_query,
        ))
    panels += [
        jaeger_search(
            "Recent failed requests (traces)",
            f"Traces of {service} with an error span (tag error=true) in the time range, from Jaeger. "
            "Click a trace id to open it; a span's \"Logs for this span\" shows its log lines.",
            service, tags="error=true",
        ),
        jaeger_search(
            "Recent slow requests (traces)",
            f"Traces of {service} that took at least {slow}, from Jaeger.",
            service, min_duration=slow,
        ),
    ]
    return panels


def service_dashboard(name: str, title: str, job: str, namespace: str, slos: list, *,
                      error_budget: float = 0.005, slow: str = "1s", traces: bool = True,
                      logs_query: str | None = None, notes: dict[str, str] | None = None,
                      uid: str | None = None) -> dict:
    """The whole dashboard of an HTTP service built on the shared telemetry crate: SLOs,
    RED per route, health, processes, and (with traces) recent failed and slow traces.

    Titled "<title> / Service" and tagged `name` (the service's other dashboards, if any,
    take the same tag, so the link menu finds them); uid `uid`, by default `name`. `job` is
    both the Prometheus job and the service.name of its traces; `namespace` prefixes its own
    metrics (<namespace>_build_info). `error_budget`: the 5xx ratio turns red above it;
    `slow`: the slow-trace search's threshold (the latency SLO's, "0.5s"); `logs_query`: a
    Lucene query for an Elasticsearch logs panel; `notes`: see annotate()."""
    items = [row("Service level objectives (30 days)"), *slo_panels(slos)]
    items += red_rows(job, error_budget)
    items += health_rows(job)
    items += process_rows(job, namespace)
    if traces or logs_query:
        items += traces_rows(job, slow, logs_query)
    annotate(items, notes or {})
    return dashboard(
        uid or name,
        f"{title} / Service",
        f"{title}: SLOs, per-route traffic, errors and latency (RED), health checks, processes"
        + (", recent failed and slow traces." if traces else "."),
        items,
        tag=name,
        family=title,
    )


# --------------------------------------------------------------------------------------------
# Writing and checking the JSON
# --------------------------------------------------------------------------------------------


def render(dash: dict) -> str:
    return json.dumps(dash, indent=2, ensure_ascii=False) + "\n"


def main(dashboards: dict[str, dict], out_dir: Path, argv: list[str] | None = None) -> int:
    """Writes each dashboard to out_dir/<file name>, or with --check fails if a file differs
    from what would be written or out_dir holds a dashboard nobody writes. The caller's
    script is the source: run it, not this module."""
    script = Path(sys.argv[0]).as_posix()
    parser = argparse.ArgumentParser(description=f"Write the dashboards of {script} into {out_dir}.")
    parser.add_argument("--check", action="store_true", help=f"fail if {out_dir.name}/*.json differ from what {script} writes")
    args = parser.parse_args(argv)

    stale = []
    for name, dash in dashboards.items():
        path = out_dir / name
        text = render(dash)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    extra = sorted(p.name for p in out_dir.glob("*.json") if p.name not in dashboards) if out_dir.exists() else []
    if args.check:
        if stale or extra:
            for name in stale:
                print(f"stale: {out_dir.name}/{name} (run python3 {script})", file=sys.stderr)
            for name in extra:
                print(f"unknown: {out_dir.name}/{name} is not written by {script}", file=sys.stderr)
            return 1
        print(f"{out_dir.name}/*.json up to date ({len(dashboards)} dashboards)")
    else:
        print(f"wrote {len(dashboards)} dashboards to {out_dir}")
    return 0
