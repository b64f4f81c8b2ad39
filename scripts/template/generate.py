#!/usr/bin/env python3
"""Generates a new monitored service from Orator: `scripts/new-service.sh NAME DEST`.

The new service is a Cargo workspace with Orator's telemetry crate copied unchanged and a
small axum service wired exactly as Orator's binaries are (health, metrics, traces, JSON
logs), plus everything that watches it: a metrics catalogue, SLO recording rules and
burn-rate alerts with promtool tests and runbooks, a Grafana dashboard, Prometheus and
Alertmanager config, a compose file, a kustomize base, a README and `scripts/check.sh`.

Why a script and not a cargo-generate template: most of the new service is not a template
at all but Orator's own files, copied as they are (the telemetry crate, the dashboard
builders in monitoring/grafana/panels.py, the rule generator monitoring/prometheus/slo.py,
Cargo.lock so the versions are the ones Orator is tested with) or derived from them (the
telemetry families of monitoring/metrics.yaml). A template directory would have to hold
second copies of those, which drift. cargo-generate is also not packaged for Debian and
takes minutes to build. What is a template, files/, uses these placeholders in file text
and paths (for NAME = acme-greeter):

    __SERVICE__  acme-greeter   package, binary, Prometheus job, k8s labels, service.name
    __CRATE__    acme_greeter   Rust library name
    __NS__       acme_greeter   metric namespace (acme_greeter_build_info, ...)
    __ENV__      ACME_GREETER   environment variables (ACME_GREETER_HTTP_ADDR, ...)
    __CAMEL__    AcmeGreeter    alert names (AcmeGreeterDown, ...)
    __TITLE__    Acme Greeter   dashboard titles and prose

Needs Python 3.11 (tomllib) and PyYAML.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ORATOR = HERE.parent.parent
FILES = HERE / "files"

# Orator's files that a new service gets as they are.
VERBATIM = [
    "services/telemetry",
    "Cargo.lock",
    "rustfmt.toml",
    "monitoring/grafana/panels.py",
    "monitoring/prometheus/slo.py",
]

# Telemetry families a service exposes without doing anything: the HTTP layer, health
# checks, process metrics and trace export. The client-side helpers of instrument.rs
# (database, cache, messaging) appear only once a service calls them.
TELEMETRY_SOURCES = {
    "services/telemetry/src/http.rs",
    "services/telemetry/src/health.rs",
    "services/telemetry/src/process.rs",
    "services/telemetry/src/traces.rs",
}

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class GenerationError(Exception):
    """A name or destination the generator refuses."""


def placeholders(name: str) -> dict[str, str]:
    if not NAME.match(name) or len(name) > 40:
        raise GenerationError(
            f"{name!r}: a service name is 1-40 lower-case letters, digits and single hyphens, starting with a letter"
        )
    words = name.split("-")
    snake = "_".join(words)
    return {
        "__SERVICE__": name,
        "__CRATE__": snake,
        "__NS__": snake,
        "__ENV__": snake.upper(),
        "__CAMEL__": "".join(w.capitalize() for w in words),
        "__TITLE__": " ".join(w.capitalize() for w in words),
    }


def substitute(text: str, names: dict[str, str]) -> str:
    for placeholder, value in names.items():
        text = text.replace(placeholder, value)
    return text


def copy_templates(dest: Path, names: dict[str, str]) -> None:
    for src in sorted(FILES.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        target = dest / substitute(str(src.relative_to(FILES)), names)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(substitute(src.read_text(encoding="utf-8"), names), encoding="utf-8")
        target.chmod(src.stat().st_mode)


def copy_verbatim(dest: Path) -> None:
    for rel in VERBATIM:
        src, target = ORATOR / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)


def workspace_manifest(dest: Path) -> None:
    """The workspace Cargo.toml: Orator's dependency lines, only those the members use, so
    versions and features are the ones Orator's Cargo.lock was resolved for."""
    orator = (ORATOR / "Cargo.toml").read_text(encoding="utf-8")
    members = [p.parent for p in sorted(dest.glob("services/*/Cargo.toml"))]
    used = set()
    for member in members:
        manifest = tomllib.loads((member / "Cargo.toml").read_text(encoding="utf-8"))
        for table in ("dependencies", "dev-dependencies", "build-dependencies"):
            used.update(manifest.get(table, {}))
    section = orator.split("[workspace.dependencies]\n", 1)[1].split("\n[", 1)[0]
    lines = []
    for line in section.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "orator-telemetry":
            lines.append(line)
        elif key in used and "path =" not in line:
            lines.append(line)
    missing = used - {l.split("=", 1)[0].strip() for l in lines}
    if missing:
        raise GenerationError(f"not in Orator's [workspace.dependencies]: {sorted(missing)}")
    package = tomllib.loads(orator)["workspace"]["package"]
    profiles = "[profile." + orator.split("\n[profile.", 1)[1]
    member_list = "".join(f'    "{m.relative_to(dest)}",\n' for m in members)
    package_lines = "".join(f'{k} = "{v}"\n' for k, v in package.items())
    (dest / "Cargo.toml").write_text(
        "[workspace]\n"
        'resolver = "3"\n'
        f"members = [\n{member_list}]\n\n"
        f"[workspace.package]\n{package_lines}\n"
        "[workspace.dependencies]\n" + "\n".join(lines) + "\n\n" + profiles,
        encoding="utf-8",
    )


def renamed_variables(entry, env: str):
    """`entry` (a catalogue entry, or any part of one) with ORATOR_* variables renamed."""
    if isinstance(entry, str):
        return re.sub(r"\bORATOR_", env + "_", entry)
    if isinstance(entry, list):
        return [renamed_variables(e, env) for e in entry]
    if isinstance(entry, dict):
        return {k: renamed_variables(v, env) for k, v in entry.items()}
    return entry


def catalogue(dest: Path, names: dict[str, str]) -> None:
    """monitoring/metrics.yaml: Orator's entries for the telemetry families (emitted by the
    new service, namespaced as it is), then the service's own from the template."""
    orator = yaml.safe_load((ORATOR / "monitoring/metrics.yaml").read_text(encoding="utf-8"))
    telemetry = []
    for group in orator["groups"]:
        kept = [m for m in group["metrics"] if m["source"] in TELEMETRY_SOURCES]
        for metric in kept:
            metric["name"] = metric["name"].replace("orator_", names["__NS__"] + "_", 1)
            metric["emitted_by"] = [names["__SERVICE__"]]
            # Orator's texts name its variables (ORATOR_REVISION); the new service's differ.
            metric.update(renamed_variables(metric, names["__ENV__"]))
        if kept:
            telemetry.append({"name": group["name"], "metrics": kept})
    path = dest / "monitoring/metrics.yaml"
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    header = "".join(l + "\n" for l in path.read_text(encoding="utf-8").splitlines() if l.startswith("#"))
    body = yaml.safe_dump({"groups": telemetry + own["groups"]}, sort_keys=False, width=120, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")


def run(dest: Path, *args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=dest, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate a new monitored service from Orator.")
    parser.add_argument("name", help="service name, e.g. acme-greeter")
    parser.add_argument("dest", type=Path, help="directory to create (must not exist or be empty)")
    args = parser.parse_args()
    try:
        names = placeholders(args.name)
        if args.dest.exists() and any(args.dest.iterdir()):
            raise GenerationError(f"{args.dest} exists and is not empty")
    except GenerationError as e:
        print(f"new-service: {e}", file=sys.stderr)
        return 2
    dest = args.dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    copy_templates(dest, names)
    copy_verbatim(dest)
    workspace_manifest(dest)
    catalogue(dest, names)
    # The generated artifacts are written by the same generators as Orator's.
    run(dest, "monitoring/prometheus/slo.py", "monitoring/prometheus/slos.yaml",
        "--out", "monitoring/prometheus/rules", "--tests", "monitoring/prometheus/tests")
    run(dest, "monitoring/grafana/dashboards.py")
    # Drops the lock file's entries for Orator's other crates, keeping every version, so
    # that `cargo build --locked` (the Dockerfile's) works from the start.
    subprocess.run(["cargo", "update", "--workspace", "--offline", "--quiet"], cwd=dest, check=True)
    print(f"created {names['__SERVICE__']} in {dest}")
    print(f"  cd {dest} && cargo run            # serves on :8080 (see README.md)")
    print(f"  cd {dest} && scripts/check.sh     # every static check of the monitoring and deployment files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
