#!/usr/bin/env python3
"""Checks of the Alertmanager configuration that amtool cannot do.

Run by scripts/check-alertmanager.sh:

  check_alertmanager.py structure CONFIG [--dummy]
      receivers, routes and options this project relies on (webhook everywhere, bearer
      token from a file, send_resolved, real receivers disabled unless --dummy).
  check_alertmanager.py inhibit CONFIG CASES
      applies Alertmanager's inhibition semantics to the cases in CASES (tests/inhibit.yml).
  check_alertmanager.py rule-alerts RULES_DIR
      prints "alertname severity slo" for every alerting rule under RULES_DIR (Prometheus
      rule files), so the shell script can route-test the real alerts.
  check_alertmanager.py live AM_URL RECEIVER_PORT TOKEN
      against a running Alertmanager whose webhook points at 127.0.0.1:RECEIVER_PORT:
      posts alerts, and checks what the webhook receives (bearer token, inhibition).
      AM_URL may carry basic-auth credentials (http://user:password@host:port).

Exit status 1 on the first failed check, with a message saying which.
"""

import base64
import json
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import yaml

WEBHOOK = "orator-webhook"
REAL_INTEGRATIONS = ("slack_configs", "email_configs", "pagerduty_configs")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"  ok  {msg}")


# --- matchers and inhibition (Alertmanager semantics) -----------------------------------

MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$')


def parse_matcher(text):
    m = MATCHER.match(text)
    if not m:
        fail(f"cannot parse matcher {text!r}")
    name, op, quoted, bare = m.groups()
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return name, op, value


def matches(matchers, labels):
    """Alertmanager matchers: regexes are anchored; a missing label has the value ""."""
    for name, op, value in matchers:
        actual = labels.get(name, "")
        if op == "=":
            good = actual == value
        elif op == "!=":
            good = actual != value
        elif op == "=~":
            good = re.fullmatch(value, actual) is not None
        else:
            good = re.fullmatch(value, actual) is None
        if not good:
            return False
    return True


def load_rules(config):
    rules = []
    for i, rule in enumerate(config.get("inhibit_rules") or []):
        deprecated = {"source_match", "source_match_re", "target_match", "target_match_re"} & rule.keys()
        if deprecated:
            fail(f"inhibit rule {i} uses deprecated {sorted(deprecated)}: use source_matchers/target_matchers")
        rules.append(
            {
                "source": [parse_matcher(m) for m in rule.get("source_matchers", [])],
                "target": [parse_matcher(m) for m in rule.get("target_matchers", [])],
                "equal": rule.get("equal", []),
            }
        )
    return rules


def inhibited(rules, source, target):
    """Whether a firing `source` alert mutes `target` (alertmanager/inhibit/inhibit.go)."""
    for r in rules:
        if not matches(r["target"], target) or not matches(r["source"], source):
            continue
        if any(source.get(n, "") != target.get(n, "") for n in r["equal"]):
            continue
        # An alert matching both sides is not muted by alerts that also match both sides.
        if matches(r["source"], target) and matches(r["target"], source):
            continue
        return True
    return False


def generated_cases(spec):
    """Cases for every alert name of the brief, so a new alert is covered by construction."""
    slo = spec["slo_alerts"]
    down = {"alertname": "OratorTargetDown", "severity": "page", "job": "orator-api", "instance": "api:8000"}
    for name in spec["symptom_alerts"]:
        if name == "OratorTargetDown":
            continue
        for sev in ("page", "ticket"):
            yield f"TargetDown mutes {name}/{sev} of the same job", down, {"alertname": name, "severity": sev, "job": "orator-api"}, True
            yield f"TargetDown leaves {name}/{sev} of another job", down, {"alertname": name, "severity": sev, "job": "postgres"}, False
    for name, s in slo.items():
        for sev in ("page", "ticket"):
            yield f"TargetDown never mutes {name}/{sev}", down, {"alertname": name, "severity": sev, "slo": s, "job": "orator-api"}, False
        page = {"alertname": name, "severity": "page", "slo": s}
        ticket = {"alertname": name, "severity": "ticket", "slo": s}
        yield f"{name} page mutes its ticket", page, ticket, True
        yield f"{name} ticket does not mute its page", ticket, page, False
        for other, o in slo.items():
            if other != name:
                yield f"{name} page leaves {other} ticket", page, {"alertname": other, "severity": "ticket", "slo": o}, False


def cmd_inhibit(config_path, cases_path):
    config = yaml.safe_load(Path(config_path).read_text())
    spec = yaml.safe_load(Path(cases_path).read_text())
    rules = load_rules(config)
    if len(rules) != 2:
        fail(f"expected the 2 documented inhibit rules, found {len(rules)}")
    for i, r in enumerate(rules):
        if not r["equal"]:
            fail(f"inhibit rule {i} has no `equal`: it would mute across jobs/SLOs")
    cases = [(c["name"], c["source"], c["target"], c["inhibited"]) for c in spec["cases"]]
    explicit = len(cases)
    cases += list(generated_cases(spec))
    failures = 0
    for name, source, target, expected in cases:
        source = {k: str(v) for k, v in source.items()}
        target = {k: str(v) for k, v in target.items()}
        got = inhibited(rules, source, target)
        if got != expected:
            failures += 1
            print(f"FAIL: {name}: inhibited={got}, expected {expected}", file=sys.stderr)
    if failures:
        fail(f"{failures} inhibition case(s) failed")
    ok(f"inhibition: {explicit} explicit + {len(cases) - explicit} generated cases")


# --- structure ----------------------------------------------------------------------------


def cmd_structure(config_path, dummy):
    config = yaml.safe_load(Path(config_path).read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    for name in (WEBHOOK, "page", "ticket", "default"):
        if name not in receivers:
            fail(f"receiver {name!r} missing")
    route = config["route"]
    children = route.get("routes", [])
    first = children[0] if children else {}
    if first.get("receiver") != WEBHOOK or not first.get("continue") or first.get("matchers"):
        fail(f"the first route must send every alert to {WEBHOOK} with continue: true")
    if children[-1].get("receiver") != "default" or children[-1].get("matchers"):
        fail("the last route must be a catch-all to `default` (the root receiver is unreachable)")
    for key in ("match", "match_re"):
        if any(key in r for r in children):
            fail(f"routes use deprecated `{key}`: use `matchers`")
    if set(route.get("group_by", [])) != {"alertname", "job", "slo"}:
        fail(f"root group_by is {route.get('group_by')}, expected alertname, job, slo")
    ok("routes: webhook first with continue, page, ticket, catch-all default; group_by alertname, job, slo")

    timing = {r["receiver"]: r for r in children}
    to_s = lambda d: int(d[:-1]) * {"s": 1, "m": 60, "h": 3600}[d[-1]]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        page, ticket = to_s(timing["page"][key]), to_s(timing["ticket"][key])
        if not page < ticket:
            fail(f"page {key} ({page}s) must be shorter than ticket's ({ticket}s)")
    ok("page routes notify faster and repeat more often than ticket routes")

    hooks = receivers[WEBHOOK].get("webhook_configs", [])
    if len(hooks) != 1:
        fail(f"{WEBHOOK} must have exactly one webhook_config")
    hook = hooks[0]
    if not hook["url"].endswith("/admin/alerts"):
        fail(f"webhook url {hook['url']} is not the api's /admin/alerts")
    if hook.get("send_resolved") is not True:
        fail("webhook must set send_resolved: true")
    auth = hook.get("http_config", {}).get("authorization", {})
    if auth.get("type", "Bearer") != "Bearer" or not auth.get("credentials_file") or "credentials" in auth:
        fail("webhook must authenticate with a Bearer token read from credentials_file (no inline credentials)")
    ok(f"webhook {hook['url']}: Bearer token from {auth['credentials_file']}, send_resolved")

    real = {name: [k for k in REAL_INTEGRATIONS if r.get(k)] for name, r in receivers.items()}
    if dummy:
        want = {"page": ["slack_configs", "pagerduty_configs"], "ticket": ["slack_configs", "email_configs"],
                "default": ["slack_configs", "email_configs"]}
        for name, kinds in want.items():
            if sorted(real[name]) != sorted(kinds):
                fail(f"with every variable set, receiver {name} has {real[name]}, expected {kinds}")
            for kind in kinds:
                for c in receivers[name][kind]:
                    if c.get("send_resolved") is not True:
                        fail(f"{name}/{kind} must set send_resolved: true")
        ok("all variables set: page = PagerDuty + Slack, ticket and default = email + Slack")
    else:
        enabled = {n: k for n, k in real.items() if k}
        if enabled:
            fail(f"with no variables set, real receivers must be disabled, found {enabled}")
        ok("no variables set: Slack, email and PagerDuty are disabled (only the webhook delivers)")


# --- alerts defined in the Prometheus rules -------------------------------------------------


def cmd_rule_alerts(rules_dir):
    for path in sorted(Path(rules_dir).glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for group in (doc or {}).get("groups", []) or []:
                for rule in group.get("rules", []) or []:
                    if "alert" in rule:
                        labels = rule.get("labels") or {}
                        print(rule["alert"], labels.get("severity", "-"), labels.get("slo", "-"), path.name)


# --- live check against a running Alertmanager ----------------------------------------------


def split_credentials(url):
    """(url without userinfo, headers with Basic auth if the url had some)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return parts._replace(netloc=netloc).geturl(), {"Authorization": f"Basic {auth}"}


def cmd_live(am_url, receiver_port, token):
    am_url, auth = split_credentials(am_url)
    received = []  # (authorization header, alert labels, status)
    lock = threading.Lock()

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                for a in body["alerts"]:
                    received.append((self.path, self.headers.get("Authorization"), a["labels"], a["status"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", int(receiver_port)), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def alert(**labels):
        return {"labels": labels, "annotations": {"summary": f"test {labels['alertname']}"}}

    delivered = [
        alert(alertname="OratorTargetDown", severity="page", job="orator-api", instance="api:8000"),
        alert(alertname="OratorWorkerFailureRate", severity="ticket", job="orator-worker"),
        alert(alertname="OratorApiAvailabilityBudgetBurn", severity="page", slo="api-availability", job="orator-api"),
        alert(alertname="OratorJobSuccessBudgetBurn", severity="page", slo="job-success"),
        alert(alertname="OratorApiLatencyBudgetBurn", severity="ticket", slo="api-latency"),
    ]
    muted = [
        alert(alertname="OratorHigh5xxRatio", severity="page", job="orator-api"),
        alert(alertname="OratorJobSuccessBudgetBurn", severity="ticket", slo="job-success"),
    ]
    key = lambda labels: (labels["alertname"], labels["severity"])
    req = urllib.request.Request(
        f"{am_url}/api/v2/alerts", data=json.dumps(delivered + muted).encode(),
        headers={"Content-Type": "application/json", **auth}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    ok(f"posted {len(delivered) + len(muted)} alerts to {am_url}")

    # Alertmanager marks muted alerts in its API as soon as it evaluates them.
    deadline = time.time() + 15
    while True:
        alerts = json.load(urllib.request.urlopen(
            urllib.request.Request(f"{am_url}/api/v2/alerts", headers=auth), timeout=10))
        state = {key(a["labels"]): bool(a["status"]["inhibitedBy"]) for a in alerts}
        want = {key(a["labels"]): False for a in delivered} | {key(a["labels"]): True for a in muted}
        if state == want:
            break
        if time.time() > deadline:
            fail(f"inhibition state in the API: {state}, expected {want}")
        time.sleep(0.5)
    ok("API shows exactly the expected alerts as inhibited")

    # The webhook route waits group_wait (10 s) before its first notification.
    deadline = time.time() + 40
    expected = {key(a["labels"]) for a in delivered}
    while True:
        with lock:
            got = {key(labels) for _, _, labels, _ in received}
        if expected <= got:
            break
        if time.time() > deadline:
            fail(f"webhook received {sorted(got)}, expected {sorted(expected)}")
        time.sleep(0.5)
    time.sleep(2)  # groups are flushed together; leave time for a muted one to (wrongly) arrive
    server.shutdown()
    paths = {p for p, _, _, _ in received}
    auths = {h for _, h, _, _ in received}
    if paths != {"/admin/alerts"}:
        fail(f"webhook called on {paths}, expected /admin/alerts")
    if auths != {f"Bearer {token}"}:
        fail(f"webhook Authorization headers {auths}, expected the bearer token from the file")
    leaked = {key(labels) for _, _, labels, _ in received} & {key(a["labels"]) for a in muted}
    if leaked:
        fail(f"inhibited alerts reached the webhook: {leaked}")
    ok(f"webhook got the {len(expected)} expected alerts with 'Authorization: Bearer <token from file>'")
    ok("inhibited alerts (OratorHigh5xxRatio under OratorTargetDown, SLO ticket under page) were not delivered")


def main(argv):
    if len(argv) >= 2 and argv[0] == "structure":
        cmd_structure(argv[1], "--dummy" in argv[2:])
    elif len(argv) == 3 and argv[0] == "inhibit":
        cmd_inhibit(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "rule-alerts":
        cmd_rule_alerts(argv[1])
    elif len(argv) == 4 and argv[0] == "live":
        cmd_live(*argv[1:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
