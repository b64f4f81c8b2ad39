#!/usr/bin/env python3
"""Writes SLO recording rules, burn-rate alerts and their promtool tests from a spec.

A service's SLOs are a few lines of YAML (Orator's: monitoring/prometheus/slos.yaml); the
rules they need are hundreds of lines of very regular PromQL. This script writes them, so
every SLO gets the same windows, thresholds and traffic guard, and a service generated
from Orator's template (scripts/template) uses the very same code. Never edit the outputs
by hand: change the spec and run

    .venv/bin/python monitoring/prometheus/slo.py monitoring/prometheus/slos.yaml \\
        --out monitoring/prometheus/rules --tests monitoring/prometheus/tests
    (the same with --check: write nothing, exit 1 naming each stale file)

It writes RULES_DIR/slo-recording.yml (the error ratios over seven windows and the event
rates of the traffic guard), RULES_DIR/slo-alerts.yml (one alert name per SLO, a page and
a ticket rule) and, with --tests, TESTS_DIR/slo-generated-test.yml: for every SLO, all
events good (no alert, 5m error ratio 0), every event bad for an hour (page, then ticket)
and every event bad at a trickle under the minimum-traffic guard (nothing fires).
scripts/check-prometheus.sh runs the --check form.

The spec, field by field (Orator's values):

    service: orator            # group names: orator-slo-<id>, orator-slo-<id>-alerts, orator-sli-<group>
    name: Orator               # in comments, and the prefix of alert names
    runbook_base: https://github.com/orator-tts/orator/blob/main/docs/runbooks/
                               # runbook_url = runbook_base + alert name + ".md"
    job: orator-api            # the job label of the events, unless an SLO says otherwise
    slos:
      - id: api_availability   # slo:api_availability:..., label slo="api-availability",
                               # alert OratorApiAvailabilityBudgetBurn
        title: API availability                  # "API availability SLO: error budget ..."
        objective: 99.5 % of API requests answered without a 5xx   # budget 0.005
        events: requests       # what one event is, plural (comments and test names)
        comment: |             # the comment of the SLO's recording group
          ...
        # The events, either from a counter: every series of `counter` matching `total` is
        # an event, those matching `bad` are the bad ones (matchers as in PromQL, without
        # the job, which comes first):
        counter: http_server_request_duration_seconds_count
        total: 'http_route!="unmatched"'
        bad: 'http_route!="unmatched",http_response_status_code=~"5.."'
        # or from a histogram: every event of `histogram` matching `total` (optional), the
        # bad ones above the `le` bucket (the label's text, quoted: "1", "0.5"):
        #   histogram: http_server_request_duration_seconds
        #   le: "1"
        # For the generated tests, the labels (beside job) of a good event and, for a
        # counter, of a bad one:
        example: {http_route: /v1/audio/speech, http_response_status_code: "200"}
        bad_example: {http_route: /v1/audio/speech, http_response_status_code: "500"}
        job: orator-worker     # optional, overrides the service's job
    slis:                      # optional: ratios for dashboards, with no objective or alert
      - id: first_audio_within_1s            # records sli:first_audio_within_1s:ratio_rate5m
        group: first-audio                   # group orator-sli-first-audio
        comment: |
          ...
        by: [job, engine]                    # the labels the ratio keeps
        histogram: orator_speech_time_to_first_audio_seconds
        le: "1"                              # the share of events within this bucket
        # total and job as for an SLO

A plain HTTP service needs two SLOs: availability (the counter above) and latency (the
histogram with `total: 'http_route="/route",http_response_status_code!~"5.."'`, or
`http_route!="unmatched",...` for every route). Wrong example labels show up as failing
generated tests, not here.

Needs PyYAML (the spec is YAML; .venv has it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

RECORDING_FILE = "slo-recording.yml"
ALERTS_FILE = "slo-alerts.yml"
TESTS_FILE = "slo-generated-test.yml"

# The error ratio windows of the multi-window multi-burn-rate alerts (Google SRE workbook,
# chapter 5), from the short window of the fast page to the long one of the slow ticket.
WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


@dataclass(frozen=True)
class Severity:
    name: str
    for_: str
    pairs: tuple[tuple[str, str, str], ...]  # (short window, long window, burn rate), as written
    guard_window: str  # the minimum-traffic guard: at least min_events over this window
    guard_seconds: int
    min_events: int
    consequence: str  # the last sentence of the alert's description


SEVERITIES = [
    Severity("page", "2m", (("5m", "1h", "14.4"), ("30m", "6h", "6")), "1h", 3600, 60,
             "At 14.4x the whole month's budget is gone in about two days."),
    Severity("ticket", "15m", (("2h", "1d", "3"), ("6h", "3d", "1")), "1d", 86400, 100,
             "Not urgent, but the budget runs out before the month ends."),
]

# The headers explain the constants above: change them together.
RECORDING_HEADER = """\
# SLI recording rules for {name}'s {count} SLOs (docs/runbooks/README.md lists the SLOs).
#
# Naming follows level:metric:operations:
#   slo:<slo>:error_ratio_rate<window>  share of bad events over the window (0..1)
#   slo:<slo>:events_rate<window>       valid events per second over the window (the
#                                       minimum-traffic guard of the burn-rate alerts)
# Every series keeps only the `job` label, so alerts can be inhibited per job.
# The windows are the ones the multi-window multi-burn-rate alerts need (Google SRE
# workbook, chapter 5): 5m/1h and 30m/6h page, 2h/1d and 6h/3d open tickets.
# The long windows read raw counters on purpose: averaging a short-window ratio would weigh
# quiet and busy hours alike.
"""

ALERTS_HEADER = """\
# Multi-window multi-burn-rate alerts, one alert name per SLO (Google SRE workbook, ch. 5).
#
# Burn rate = error ratio / error budget (1 - objective). A burn rate of 1 spends exactly
# the 30-day budget in 30 days.
#   page:   (5m and 1h burn > 14.4)  2 % of the budget in 1 h
#        or (30m and 6h burn > 6)     5 % of the budget in 6 h
#   ticket: (2h and 1d burn > 3)     10 % of the budget in 1 d
#        or (6h and 3d burn > 1)     10 % of the budget in 3 d
# The long window proves the problem is real, the short one that it is still happening (so
# the alert clears soon after a fix).
# Minimum-traffic guard: with a handful of events one failure is a huge ratio, so pages need
# at least 60 events ({events}) in the last hour and tickets 100 in the last day.
# (events_rate<window> is a rate over the whole window, so right after Prometheus starts
# it counts only the data there is.)
# The alert value is the burn rate of the short window that matched.
# Alertmanager should let the page inhibit the ticket of the same alert name and slo.
"""

TESTS_HEADER = """\
# GENERATED by monitoring/prometheus/slo.py from {spec}: do not edit.
# For every SLO, three scenarios with one sample a minute (so the 5m window has data):
#   every event good for an hour: no alert, and the 5m error ratio is 0, not missing
#     (a counter SLO's bad series does not exist then; `or ... * 0` covers that);
#   every event bad for an hour: the page fires after minutes, the ticket after its for:;
#   every event bad, one every 20 minutes for two hours: the error ratio is 1 in every
#     window, yet the minimum-traffic guards (60 an hour, 100 a day) hold every alert back.
"""

NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
OBJECTIVE = re.compile(r"^(\d+(?:\.\d+)?) % of (.+)$")
ID = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(Exception):
    """A spec the generator cannot turn into rules."""


# ------------------------------------------------------------------------------------ spec


def check_keys(obj: object, where: str, required: set[str], optional: frozenset[str] = frozenset()) -> None:
    if not isinstance(obj, dict):
        raise SpecError(f"{where}: expected a mapping")
    missing, unknown = required - obj.keys(), obj.keys() - required - optional
    if missing:
        raise SpecError(f"{where}: missing {', '.join(sorted(missing))}")
    if unknown:
        raise SpecError(f"{where}: unknown {', '.join(sorted(unknown))}")


def load_spec(path: Path) -> dict:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: {e}") from e
    check_keys(spec, str(path), {"service", "name", "runbook_base", "job", "slos"}, {"slis"})
    if not isinstance(spec["slos"], list) or not spec["slos"]:
        raise SpecError(f"{path}: slos must be a non-empty list")
    for i, slo in enumerate(spec["slos"]):
        where = f"{path}: slos[{i}]"
        if not isinstance(slo, dict):
            raise SpecError(f"{where}: expected a mapping")
        kind = "counter" if "counter" in slo else "histogram"
        check_keys(slo, where, {"id", "title", "objective", "events", "comment", "example", kind}
                   | ({"bad", "bad_example"} if kind == "counter" else {"le"}), {"job", "total"})
        if not ID.match(str(slo["id"])):
            raise SpecError(f"{where}: id {slo['id']!r} is not lower_snake_case")
        match = OBJECTIVE.match(str(slo["objective"]))
        if not match or not 0 < Decimal(match[1]) < 100:
            raise SpecError(f"{where}: objective {slo['objective']!r} is not like '99.5 % of requests ...'")
    for i, sli in enumerate(spec.get("slis") or []):
        check_keys(sli, f"{path}: slis[{i}]", {"id", "group", "comment", "by", "histogram", "le"}, {"job", "total"})
    return spec


def budget(slo: dict) -> str:
    """1 - objective, as written in the alert expressions ("0.005")."""
    percent = Decimal(OBJECTIVE.match(str(slo["objective"]))[1])
    return format(((100 - percent) / 100).normalize(), "f")


def dashed(identifier: str) -> str:
    return identifier.replace("_", "-")


def alert_name(spec: dict, slo: dict) -> str:
    return spec["name"] + "".join(w.capitalize() for w in slo["id"].split("_")) + "BudgetBurn"


def job(spec: dict, slo: dict) -> str:
    return slo.get("job", spec["job"])


# ------------------------------------------------------------------------------------ PromQL


def selector(metric: str, job_label: str, *matchers: str) -> str:
    return metric + "{" + ",".join([f'job="{job_label}"', *(m for m in matchers if m)]) + "}"


def events(spec: dict, slo: dict) -> str:
    """The selector of every valid event."""
    if "counter" in slo:
        return selector(slo["counter"], job(spec, slo), slo.get("total", ""))
    return selector(slo["histogram"] + "_count", job(spec, slo), slo.get("total", ""))


def within(spec: dict, slo: dict) -> str:
    """A histogram's events within the threshold."""
    return selector(slo["histogram"] + "_bucket", job(spec, slo), slo.get("total", ""), f'le="{slo["le"]}"')


def error_ratio(spec: dict, slo: dict, window: str) -> list[str]:
    rate = lambda sel: f"sum by (job) (rate({sel}[{window}]))"
    if "counter" in slo:
        # The bad series only exist once a bad event has happened: `or total * 0` makes the
        # ratio 0 rather than missing while everything is fine.
        bad = selector(slo["counter"], job(spec, slo), slo["bad"])
        numerator = [rate(bad), "or", rate(events(spec, slo)) + " * 0"]
    else:
        numerator = [rate(events(spec, slo)), "-", rate(within(spec, slo))]
    return ["(", *("  " + line for line in numerator), ")", "/", rate(events(spec, slo))]


# ------------------------------------------------------------------------------------ rules


def comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in text.rstrip("\n").split("\n")]


def rule(kind: str, name: str, expr: list[str]) -> list[str]:
    return [f"      - {kind}: {name}", "        expr: |", *("          " + line for line in expr)]


def recording_rules(spec: dict) -> str:
    slos = spec["slos"]
    groups = []
    for slo in slos:
        lines = [f"  - name: {spec['service']}-slo-{dashed(slo['id'])}", *comment(slo["comment"], "    "), "    rules:"]
        for window in WINDOWS:
            lines += rule("record", f"slo:{slo['id']}:error_ratio_rate{window}", error_ratio(spec, slo, window))
        for s in SEVERITIES:
            lines += rule("record", f"slo:{slo['id']}:events_rate{s.guard_window}",
                          [f"sum by (job) (rate({events(spec, slo)}[{s.guard_window}]))"])
        groups.append(lines)
    for sli in spec.get("slis") or []:
        by = ", ".join(sli["by"])
        rate = lambda sel: f"sum by ({by}) (rate({sel}[5m]))"
        lines = [f"  - name: {spec['service']}-sli-{sli['group']}", *comment(sli["comment"], "    "), "    rules:"]
        lines += rule("record", f"sli:{sli['id']}:ratio_rate5m", [rate(within(spec, sli)), "/", rate(events(spec, sli))])
        groups.append(lines)
    count = NUMBERS[len(slos)] if len(slos) < len(NUMBERS) else str(len(slos))
    header = RECORDING_HEADER.format(name=spec["name"], count=count)
    return header + "groups:\n" + "\n\n".join("\n".join(g) for g in groups) + "\n"


def annotations(spec: dict, slo: dict, s: Severity, value: str, job_label: str) -> dict[str, str]:
    """An alert's annotations; the rules pass Prometheus' templates for value and job, the
    tests the values they expect."""
    shorts = " or ".join(short for short, _, _ in s.pairs)
    longs = " or ".join(long for _, long, _ in s.pairs)
    title = slo["title"][0].upper() + slo["title"][1:]
    return {
        "summary": f"{title} SLO: error budget burning {value}x too fast",
        "description": f"{job_label} spends the 30-day error budget of the {slo['title']} SLO ({slo['objective']})"
                       f" {value} times faster than sustainable over the short window ({shorts}), confirmed by the"
                       f" long window ({longs}). {s.consequence}",
        "runbook_url": spec["runbook_base"] + alert_name(spec, slo) + ".md",
    }


def quoted(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def alerting_rules(spec: dict) -> str:
    groups = []
    for slo in spec["slos"]:
        b = budget(slo)
        lines = [f"  - name: {spec['service']}-slo-{dashed(slo['id'])}-alerts", "    rules:"]
        for s in SEVERITIES:
            expr = ["("]
            for i, (short, long, burn) in enumerate(s.pairs):
                expr += ["  or"] if i else []
                expr += ["  (",
                         f"    slo:{slo['id']}:error_ratio_rate{short} > ({burn} * {b})",
                         "    and",
                         f"    slo:{slo['id']}:error_ratio_rate{long} > ({burn} * {b})",
                         "  )"]
            expr += [f") / {b}", "and", f"slo:{slo['id']}:events_rate{s.guard_window} * {s.guard_seconds} >= {s.min_events}"]
            lines += rule("alert", alert_name(spec, slo), expr)
            lines += [f"        for: {s.for_}",
                      "        labels:",
                      f"          severity: {s.name}",
                      f"          slo: {dashed(slo['id'])}",
                      "        annotations:"]
            ann = annotations(spec, slo, s, "{{ $value | humanize }}", "{{ $labels.job }}")
            lines += [f"          {key}: {quoted(text)}" for key, text in ann.items()]
        groups.append(lines)
    nouns = " or ".join(dict.fromkeys(slo["events"] for slo in spec["slos"]))
    return ALERTS_HEADER.format(events=nouns) + "groups:\n" + "\n\n".join("\n".join(g) for g in groups) + "\n"


# ------------------------------------------------------------------------------------ tests


class Quoted(str):
    """Written in single quotes, as the hand-written tests write series."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as in the hand-written tests.
        return super().increase_indent(flow, False)


_Dumper.add_representer(Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="'"))


def humanize(value: float) -> str:
    """Prometheus' `humanize` for values >= 1 (a burn rate of every event bad is 1/budget)."""
    prefix = ""
    for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
        if abs(value) < 1000:
            break
        prefix, value = p, value / 1000
    return f"{value:.4g}{prefix}"


def input_series(spec: dict, slo: dict, good: float, bad: float, minutes: int) -> list[dict]:
    """A steady `good` and `bad` events a minute; a counter's bad series only if there are bad events."""
    def labelled(metric: str, labels: dict) -> str:
        pairs = {"job": job(spec, slo), **labels}
        return metric + "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"

    def counter(metric: str, labels: dict, per_minute: float) -> dict:
        values = f"0+{per_minute:g}x{minutes}" if per_minute else f"0x{minutes}"
        return {"series": Quoted(labelled(metric, labels)), "values": Quoted(values)}

    if "counter" in slo:
        return ([counter(slo["counter"], slo["example"], good)] if good else []) + \
               ([counter(slo["counter"], slo["bad_example"], bad)] if bad else [])
    h, labels = slo["histogram"], slo["example"]
    return [counter(f"{h}_count", labels, good + bad),
            counter(f"{h}_bucket", {**labels, "le": str(slo["le"])}, good),
            counter(f"{h}_bucket", {**labels, "le": "+Inf"}, good + bad)]


def slo_tests(spec: dict, slo: dict) -> list[dict]:
    """Three scenarios; the alerts are evaluated every minute from 1m, the first evaluation
    with two samples in the 5m window. With every event bad the error ratio is one series'
    rate over itself, exactly 1, so the burn rate is exactly 1/budget (as Go computes it)."""
    name, j, ratio = alert_name(spec, slo), job(spec, slo), f"slo:{slo['id']}:error_ratio_rate"
    burn = humanize(1 / float(budget(slo)))

    def firing(*severities: Severity) -> list[dict]:
        # promtool compares the annotations too, so they are rendered as Prometheus would.
        return [{"exp_labels": {"severity": s.name, "slo": dashed(slo["id"]), "job": j},
                 "exp_annotations": annotations(spec, slo, s, burn, j)} for s in severities]

    def sample(window: str, value: float) -> dict:
        return {"labels": Quoted(f'{ratio}{window}{{job="{j}"}}'), "value": value}

    page, ticket = SEVERITIES
    ev = slo["events"]
    return [
        {"name": f"{slo['id']}: 100 good {ev} a minute: no alert, the 5m error ratio is 0",
         "interval": "1m",
         "input_series": input_series(spec, slo, good=100, bad=0, minutes=60),
         "alert_rule_test": [{"eval_time": "1h", "alertname": name, "exp_alerts": []}],
         "promql_expr_test": [{"expr": f"{ratio}5m", "eval_time": "1h", "exp_samples": [sample("5m", 0)]}]},
        {"name": f"{slo['id']}: 100 bad {ev} a minute page within minutes, then open a ticket",
         "interval": "1m",
         "input_series": input_series(spec, slo, good=0, bad=100, minutes=60),
         # Active from 1m: the page (for: 2m) fires at 3m, the ticket (for: 15m) at 16m.
         "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": firing(page)},
                             {"eval_time": "1h", "alertname": name, "exp_alerts": firing(page, ticket)}]},
        {"name": f"{slo['id']}: bad {ev} at one every 20 minutes stay under both traffic guards",
         "interval": "1m",
         # 0.05 a minute: 3 events an hour (page guard 60), 72 a day (ticket guard 100).
         "input_series": input_series(spec, slo, good=0, bad=0.05, minutes=120),
         "alert_rule_test": [{"eval_time": t, "alertname": name, "exp_alerts": []} for t in ("1h", "2h")],
         "promql_expr_test": [{"expr": f"{ratio}{w}", "eval_time": "2h", "exp_samples": [sample(w, 1)]}
                              for w in ("5m", "2h")]},
    ]


def tests(spec: dict, spec_path: Path, rules_dir: Path, tests_dir: Path) -> str:
    rel = lambda name: os.path.relpath(rules_dir.resolve() / name, tests_dir.resolve())
    recording = [f"{spec['service']}-slo-{dashed(s['id'])}" for s in spec["slos"]]
    recording += [f"{spec['service']}-sli-{s['group']}" for s in spec.get("slis") or []]
    doc = {
        "rule_files": [rel(RECORDING_FILE), rel(ALERTS_FILE)],
        "evaluation_interval": "1m",
        # Recording rules before the alerts that read them; promtool puts unlisted groups first
        # in no fixed order, so every group is listed.
        "group_eval_order": recording + [f"{spec['service']}-slo-{dashed(s['id'])}-alerts" for s in spec["slos"]],
        "tests": [t for slo in spec["slos"] for t in slo_tests(spec, slo)],
    }
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
    return TESTS_HEADER.format(spec=spec_path.name) + body


# ------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="the SLO spec (YAML)")
    parser.add_argument("--out", type=Path, required=True, metavar="RULES_DIR",
                        help=f"where {RECORDING_FILE} and {ALERTS_FILE} go")
    parser.add_argument("--tests", type=Path, metavar="TESTS_DIR", help=f"where {TESTS_FILE} goes")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args()

    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        print(f"slo: {e}", file=sys.stderr)
        return 2
    files = {args.out / RECORDING_FILE: recording_rules(spec), args.out / ALERTS_FILE: alerting_rules(spec)}
    if args.tests:
        files[args.tests / TESTS_FILE] = tests(spec, args.spec, args.out, args.tests)

    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"slo: stale: {path}", file=sys.stderr)
        if stale:
            command = [a for a in sys.argv if a != "--check"]
            print(f"slo: regenerate with: {shlex.join(command)}", file=sys.stderr)
            return 1
        print(f"slo: {len(files)} files up to date ({len(spec['slos'])} SLOs)")
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"slo: wrote {', '.join(str(p) for p in files)} ({len(spec['slos'])} SLOs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
