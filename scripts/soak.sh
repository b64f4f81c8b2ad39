#!/usr/bin/env bash
# Soak test (not part of CI): the default orator-loadgen mix at a moderate open-loop rate
# for a long time, against release builds of orator-api and orator-worker, sampling their
# resident memory, open file descriptors and threads every 10 s. After the warm-up it fits
# a least-squares line to RSS and fds over time and reports the slopes per 10 minutes, the
# load generator's error rate and latency percentiles, as Markdown with the raw samples.
#
#   scripts/soak.sh                     30 minutes at 20 requests/s
#   scripts/soak.sh --minutes N         run N minutes (decimals allowed)
#   scripts/soak.sh --rate R            R scenario starts per second (open loop, Poisson)
#   scripts/soak.sh --out FILE          report file (default target/soak/soak-<UTC time>.md)
#   scripts/soak.sh --smoke             1 minute (checks the script; the figures mean nothing)
#
# Warm-up: the first 20 % of the run, at least 1 minute (but at most half the run, so a
# short run still has samples to fit). Exits non-zero when the error rate is above 1 %,
# when the api or the worker died, or when the load generator failed. It starts its own
# api and worker on free ports, with a database, queue prefix and Redis prefix unique to
# the run, and removes them and every process it started when it ends (normally, on an
# error, on Ctrl-C or SIGTERM).
# PostgreSQL, Redis and RabbitMQ must be local (scripts/setup.sh starts them when they
# are not). Builds go to $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

minutes=30
rate=20
out=""
smoke=false
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?--minutes needs a number}; shift ;;
    --minutes=*) minutes=${1#--minutes=} ;;
    --rate) rate=${2:?--rate needs a number}; shift ;;
    --rate=*) rate=${1#--rate=} ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --out=*) out=${1#--out=} ;;
    --smoke) smoke=true ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
$smoke && minutes=1
positive() { awk -v v="$1" 'BEGIN { exit !(v ~ /^[0-9]*\.?[0-9]+$/ && v + 0 > 0) }'; }
positive "$minutes" || { echo "--minutes must be a positive number, got $minutes" >&2; exit 2; }
positive "$rate" || { echo "--rate must be a positive number, got $rate" >&2; exit 2; }

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

interval=10
duration=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 0.5 }')
[ "$duration" -ge "$interval" ] || die "--minutes $minutes is shorter than one sample interval (${interval} s)"
# 20 % of the run, at least 60 s, but never more than half the run.
warmup=$(awk -v d="$duration" 'BEGIN { w = 0.2 * d; f = (60 < d / 2) ? 60 : d / 2; printf "%d", (w > f ? w : f) }')
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${out:-$ROOT/target/soak/soak-$stamp.md}
mkdir -p "$(dirname "$out")"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
bin=$target_dir/release
key=orator-soak-key
# Unique per run, so soaks (and the tests and benchmarks) can share the servers.
run_id=soak_$(date -u +%Y%m%d%H%M%S)_$$
db=orator_$run_id
queue_prefix=$run_id.
redis_prefix=$run_id:

# ---------------------------------------------------------------- servers and binaries
for tool in curl psql rabbitmqctl redis-cli python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs the servers and their clients)"
done
if ! port_open 5432 || ! port_open 6379 || ! port_open 5672 || ! command -v espeak-ng >/dev/null; then
  log "starting PostgreSQL, Redis and RabbitMQ (scripts/setup.sh)"
  scripts/setup.sh
fi
log "building release binaries"
cargo build --release --bins --locked >&2
for b in orator-api orator-worker orator-loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b was not built"
done

work=$(mktemp -d /tmp/orator-soak.XXXXXX)
samples=$work/samples.csv
pids=()
loadgen_pid=""
sleeper=""
export PGOPTIONS='-c client_min_messages=warning'  # no NOTICEs from DROP ... IF EXISTS

cleanup() {
  local status=$?
  set +e
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$status" != 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  for q in tts.jobs tts.jobs.retry tts.jobs.dead; do
    rabbitmqctl -q delete_queue "$queue_prefix$q" >/dev/null 2>&1
  done
  # rabbitmqctl has no delete_exchange; this internal call works on 3.x (as in bench.sh).
  rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"${queue_prefix}tts\">>), false, <<\"soak\">>)." >/dev/null 2>&1
  redis-cli --scan --pattern "$redis_prefix*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

api_port=$(free_port); worker_port=$(free_port)
api=http://127.0.0.1:$api_port
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export ORATOR_QUEUE_PREFIX=$queue_prefix ORATOR_REDIS_PREFIX=$redis_prefix
export ORATOR_BOOTSTRAP_API_KEY=$key OTEL_SDK_DISABLED=true
# All traffic comes from one key and one address: the per-key limit (600/min) would turn
# 20 requests/s into 429s, and the bad scenario's wrong keys would trip the per-address
# limit on failed authentications (30/min). Every other setting stays at its default.
export ORATOR_RATE_LIMIT=1000000000 ORATOR_AUTH_FAILURES_PER_MINUTE=1000000000
unset RUST_LOG ORATOR_METRICS_TOKEN ORATOR_METRICS_TOKEN_FILE

# Starts a binary in the background; its own PID (env execs it) goes to the variable $1.
start() {
  local var=$1 logfile=$2; shift 2
  "$@" >"$work/$logfile" 2>&1 &
  pids+=("$!")
  printf -v "$var" '%s' "$!"
}
wait_ready() {
  for _ in $(seq 1 240); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health/ready")" = 200 ] && return 0
    sleep 0.25
  done
  die "$1 did not become ready"
}

log "starting orator-api (:$api_port) and orator-worker (:$worker_port); database $db"
start api_pid api.log env ORATOR_HTTP_ADDR="127.0.0.1:$api_port" "$bin/orator-api"
wait_ready "$api"
start worker_pid worker.log env ORATOR_HTTP_ADDR="127.0.0.1:$worker_port" "$bin/orator-worker"
wait_ready "http://127.0.0.1:$worker_port"

# ---------------------------------------------------------------- load and samples
# "alive" unless the process is gone or a zombie (it exited and we have not reaped it).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# RSS (kB) and threads from /proc/PID/status, open fds from /proc/PID/fd.
proc_sample() {
  local rss threads fds
  read -r rss threads < <(awk '/^VmRSS:/ { r = $2 } /^Threads:/ { t = $2 } END { print r + 0, t + 0 }' "/proc/$1/status" 2>/dev/null || echo "0 0")
  fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
  printf '%s,%s,%s' "$rss" "$fds" "$threads"
}
# Cumulative api responses with a 5xx status (from its own histogram); empty if unreadable.
api_5xx() {
  curl -s --max-time 2 "$api/metrics" 2>/dev/null \
    | awk '/^http_server_request_duration_seconds_count\{/ && /http_response_status_code="5/ { n += $NF; seen = 1 }
           END { if (seen) printf "%d", n; else if (NR > 0) printf "0" }'
}

log "load: orator-loadgen, default mix, open loop at $rate/s for ${duration} s (warm-up ${warmup} s, samples every ${interval} s)"
echo "t_s,utc,load,api_rss_kb,api_fds,api_threads,worker_rss_kb,worker_fds,worker_threads,api_5xx_total" >"$samples"
"$bin/orator-loadgen" --url "$api" --api-key "$key" --mode open --rate "$rate" --duration "${duration}s" \
  --no-progress --json >"$work/loadgen.json" 2>"$work/loadgen.log" &
loadgen_pid=$!
pids+=("$loadgen_pid")
t0=$(date +%s.%N)
died=""
i=0
while :; do
  now=$(date +%s.%N)
  t=$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
  for p in api worker; do
    pid_var=${p}_pid
    alive "${!pid_var}" || died+="${died:+, }orator-$p (at ${t} s)"
  done
  [ -n "$died" ] && { log "process died: $died"; break; }
  # load: 1 while the load generator runs; the sample after it ended (connections closed)
  # is kept in the CSV but not fitted.
  load=1
  kill -0 "$loadgen_pid" 2>/dev/null || load=0
  echo "$t,$(date -u +%H:%M:%S),$load,$(proc_sample "$api_pid"),$(proc_sample "$worker_pid"),$(api_5xx)" >>"$samples"
  if [ $((i % 6)) = 0 ]; then
    log "  t=${t}s api $(awk -F, 'END { printf "%.1f MB, %d fds", $4 / 1024, $5 }' "$samples"), worker $(awk -F, 'END { printf "%.1f MB, %d fds", $7 / 1024, $8 }' "$samples")"
  fi
  kill -0 "$loadgen_pid" 2>/dev/null || break
  i=$((i + 1))
  # Sleep to the next tick of the schedule (no drift), in steps of at most 1 s so the end
  # of the load generator (bash reaps it, so kill -0 fails) or of a service is noticed at once.
  while kill -0 "$loadgen_pid" 2>/dev/null && alive "$api_pid" && alive "$worker_pid"; do
    delay=$(awk -v t0="$t0" -v i="$i" -v s="$interval" -v now="$(date +%s.%N)" \
      'BEGIN { d = t0 + i * s - now; printf "%.2f", (d > 1 ? 1 : (d > 0 ? d : 0)) }')
    [ "$delay" = 0.00 ] && break
    sleep "$delay" &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
done
loadgen_status=0
if [ -n "$died" ]; then
  kill -INT "$loadgen_pid" 2>/dev/null || true  # it stops and still prints its summary
fi
wait "$loadgen_pid" || loadgen_status=$?
log "load generator exited with status $loadgen_status"

# ---------------------------------------------------------------- report
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
args=(--minutes "$minutes" --rate "$rate")
$smoke && args=(--smoke)
report_status=0
SOAK_DURATION=$duration SOAK_WARMUP=$warmup SOAK_INTERVAL=$interval SOAK_RATE=$rate \
  SOAK_MINUTES=$minutes SOAK_SMOKE=$smoke SOAK_DIED=$died SOAK_LOADGEN_STATUS=$loadgen_status \
  SOAK_COMMAND="scripts/soak.sh ${args[*]}" SOAK_GENERATED="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  SOAK_MACHINE="$(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)" \
  SOAK_REVISION=$revision \
  python3 - "$samples" "$work/loadgen.json" "$out" <<'PY' || report_status=$?
# The fit (least squares, stdlib only) and the Markdown report; exits 1 when the run failed.
import csv, json, os, sys
samples_path, loadgen_path, out_path = sys.argv[1:4]
env = os.environ
duration, warmup, interval = int(env["SOAK_DURATION"]), int(env["SOAK_WARMUP"]), int(env["SOAK_INTERVAL"])
rate, minutes, smoke = env["SOAK_RATE"], env["SOAK_MINUTES"], env["SOAK_SMOKE"] == "true"
died, loadgen_status = env["SOAK_DIED"], int(env["SOAK_LOADGEN_STATUS"])
command, generated = env["SOAK_COMMAND"], env["SOAK_GENERATED"]
machine, revision = env["SOAK_MACHINE"], env["SOAK_REVISION"]

with open(samples_path) as f:
    raw = f.read()
rows = list(csv.DictReader(raw.splitlines()))
fit = [r for r in rows if r["load"] == "1" and float(r["t_s"]) >= warmup]

def slope(points):
    """Least-squares slope of (x, y) points, per second; None with fewer than two x values."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx

def signed(v, digits):
    return "n/a" if v is None else f"{v:+.{digits}f}"

procs = []
for name, col in (("orator-api", "api"), ("orator-worker", "worker")):
    rss = [(float(r["t_s"]), int(r[col + "_rss_kb"]) / 1024) for r in fit]
    fds = [(float(r["t_s"]), int(r[col + "_fds"])) for r in fit]
    threads = [int(r[col + "_threads"]) for r in rows]
    s_rss, s_fds = slope(rss), slope(fds)
    procs.append({
        "name": name,
        "n": len(fit),
        "rss_first": rss[0][1] if rss else None,
        "rss_last": rss[-1][1] if rss else None,
        "rss_max": max((int(r[col + "_rss_kb"]) / 1024 for r in rows), default=None),
        "rss_slope": None if s_rss is None else s_rss * 600,
        "fds_first": fds[0][1] if fds else None,
        "fds_last": fds[-1][1] if fds else None,
        "fds_slope": None if s_fds is None else s_fds * 600,
        "threads": f"{min(threads)}–{max(threads)}" if threads else "n/a",
    })

try:
    with open(loadgen_path) as f:
        summary = json.load(f)
except (OSError, ValueError):
    summary = None

failures = []
if died:
    failures.append(f"process died: {died}")
if summary is None:
    failures.append(f"the load generator reported nothing (exit status {loadgen_status})")
elif loadgen_status != 0:
    failures.append(f"the load generator exited with status {loadgen_status}")
error_rate = None
if summary is not None:
    total = summary["total"]
    error_rate = total["errors"] / total["count"] if total["count"] else 1.0
    if error_rate > 0.01:
        failures.append(f"error rate {error_rate:.2%} is above 1 %")
if len(fit) < 2:
    failures.append("fewer than two samples after the warm-up: no slope")

def mb(v):
    return "n/a" if v is None else f"{v:.1f} MB"

def n(v):
    return "n/a" if v is None else f"{v:g}"

def ms(us):
    return f"{us / 1000:.1f}" if us >= 100_000 else f"{us / 1000:.2f}"

# The mix as it came out: each scenario's share of what was started.
mix = "n/a"
if summary is not None and summary["total"]["count"]:
    mix = ", ".join(f"{k} {100 * r['count'] / summary['total']['count']:.0f} %" for k, r in summary["scenarios"].items())
lines = []
w = lines.append
title = "Soak smoke run" if smoke else f"Soak: {minutes} min of the default mix at {rate} requests/s"
w(f"# {title}")
w("")
w(f"Generated by `{command}` on {generated}; revision {revision}; {machine}.")
if smoke:
    w("**Smoke run (1 minute): it checks the script; the slopes mean nothing.**")
w(f"Release builds of orator-api and orator-worker at their defaults (except the per-key and per-address "
  f"limits, raised because all load comes from one key and one address), `orator-loadgen` with its default "
  f"mix (no `--mix`: {mix}) in an open loop at {rate}/s for {duration} s. "
  f"Samples every {interval} s of VmRSS, open fds and threads; the slopes are least-squares fits over the "
  f"{len(fit)} samples after the warm-up ({warmup} s).")
w("")
w("| Process | Samples fitted | RSS after warm-up | RSS at end | RSS max | RSS slope | fds after warm-up | fds at end | fd slope | Threads |")
w("|---|---|---|---|---|---|---|---|---|---|")
for p in procs:
    w(f"| {p['name']} | {p['n']} | {mb(p['rss_first'])} | {mb(p['rss_last'])} | {mb(p['rss_max'])} | "
      f"**{signed(p['rss_slope'], 2)} MB/10 min** | {n(p['fds_first'])} | {n(p['fds_last'])} | "
      f"**{signed(p['fds_slope'], 1)} fds/10 min** | {p['threads']} |")
w("")
if summary is not None:
    total = summary["total"]
    w(f"Load generator: {total['count']} scenarios in {summary['window_s']:.0f} s "
      f"(+{summary['elapsed_s'] - summary['window_s']:.1f} s to finish), **error rate {error_rate:.3%}** "
      f"(limit 1 %), latency counted from each scheduled start:")
    w("")
    w("| Scenario | Count | OK | Errors | p50 ms | p99 ms | max ms |")
    w("|---|---|---|---|---|---|---|")
    for name, r in list(summary["scenarios"].items()) + [("**total**", total)]:
        l = r["latency_us"]
        w(f"| {name} | {r['count']} | {r['ok']} | {r['errors']} | {ms(l['p50'])} | {ms(l['p99'])} | {ms(l['max'])} |")
    w("")
    if total["errors_by_kind"]:
        w("Errors by kind: " + ", ".join(f"{k}: {v}" for k, v in sorted(total["errors_by_kind"].items())) + ".")
    lag = summary.get("schedule_lag_us")
    if lag:
        w(f"Load generator's own lag behind its schedule: p50 {ms(lag['p50'])} ms, p99 {ms(lag['p99'])} ms.")
    fives = [r["api_5xx_total"] for r in rows if r["api_5xx_total"] != ""]
    if fives:
        w(f"5xx answers counted by the api itself over the run: {int(fives[-1]) - int(fives[0])}.")
    w("")
w("**Passed**: error rate at most 1 %, both processes alive." if not failures
  else "**Failed**: " + "; ".join(failures) + ".")
w("")
w("Raw samples (`t_s`: seconds since the load started; `load`: 1 while the load generator ran, only those "
  "samples are fitted; `api_5xx_total`: the api's cumulative 5xx answers):")
w("")
w("```csv")
w(raw.rstrip("\n"))
w("```")
report = "\n".join(lines) + "\n"
with open(out_path, "w") as f:
    f.write(report)
print(report, end="")
sys.exit(1 if failures else 0)
PY
log "report written to $out"
[ "$report_status" = 0 ] || die "see the report: $out"
