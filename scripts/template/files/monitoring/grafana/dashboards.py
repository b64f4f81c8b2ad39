#!/usr/bin/env python3
"""Writes __TITLE__'s Grafana dashboard into dashboards/ (with --check: fails if it differs).

The SLO panels come from monitoring/prometheus/slos.yaml, the spec the recording rules and
burn-rate alerts are generated from, so the dashboard shows exactly the SLIs that alert.
Everything else is panels.py's service_dashboard(): RED per route, health checks, trace
export, processes and recent failed and slow traces. Add this service's own panels by
appending rows to `dash["panels"]` before main(), or write a second dashboard with
panels.dashboard(). Needs PyYAML.
"""

import sys
from pathlib import Path

import yaml

import panels

HERE = Path(__file__).resolve().parent
SPEC = yaml.safe_load((HERE.parent / "prometheus/slos.yaml").read_text(encoding="utf-8"))

dash = panels.service_dashboard(
    "__SERVICE__",
    "__TITLE__",
    job="__SERVICE__",
    namespace="__NS__",
    slos=panels.slos_from_spec(SPEC),
    error_budget=0.001,
    slow="0.5s",
)

if __name__ == "__main__":
    sys.exit(panels.main({"__SERVICE__.json": dash}, HERE / "dashboards"))
