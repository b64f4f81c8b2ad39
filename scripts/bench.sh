#!/usr/bin/env bash
# Whole-system benchmarks against the real components, side by side in one run, written up
# as Markdown (docs/benchmarks.md by default). See docs/benchmarks.md for what each figure
# means and how it is measured.
#
#   scripts/bench.sh                  full run, release builds, ~8 minutes on 2 cores
#   scripts/bench.sh --smoke          seconds per phase, debug builds, report to a temp file
#   scripts/bench.sh --out FILE       write the report to FILE
#
# It starts its own api (twice: instrumented and with ORATOR_INSTRUMENT_HTTP=false), worker
# and a bare axum server on free ports, with a database, queue prefix and Redis prefix of
# its own, and removes all of it at the end. PostgreSQL, Redis and RabbitMQ must be local
# (scripts/setup.sh starts them when they are not). Builds go to $CARGO_TARGET_DIR
# (default target/). The smoke run exits non-zero unless the report has all eight sections.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

smoke=false
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=true ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --out=*) out=${1#--out=} ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Arithmetic on decimals (bash has integers only).
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**missed**"; fi; }

# ---------------------------------------------------------------- settings per mode
if $smoke; then
  profile=dev; bin_sub=debug
  wrk_rounds=1; wrk_secs=1
  hit_max_secs=2; hit_open_secs=3
  miss_secs=3; accept_secs=2
  queue_rate=50; queue_secs=2; drain_limit=60; steady_secs=2
  bench_profile=(--profile dev)
  bench_args=(--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10)
  name=bench_smoke
  first_audio_chars=600; first_audio_rounds=1
  out=${out:-$(mktemp /tmp/orator-bench-smoke.XXXXXX.md)}
  # A debug build spends ~2 ms on a request, so wrk's 32 connections on 2 cores hold their
  # slots ~20 ms: at the release build's latency target admission would shed them, and
  # wrk's section fails on any non-2xx. Ten times the target for ten times the cost.
  export ORATOR_ADMISSION_LATENCY_TARGET_MS=200
else
  profile=release; bin_sub=release
  wrk_rounds=3; wrk_secs=5
  hit_max_secs=10; hit_open_secs=15
  miss_secs=20; accept_secs=15
  queue_rate=500; queue_secs=4; drain_limit=120; steady_secs=10
  bench_profile=()  # cargo bench's own (optimised) profile
  bench_args=(--warm-up-time 2 --measurement-time 5)
  name=bench
  first_audio_chars=4096; first_audio_rounds=3
  out=${out:-docs/benchmarks.md}
fi
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
bin=$target_dir/$bin_sub
key=orator-bench-key
db=orator_$name
queue_prefix=$name.
redis_prefix=$name:
started=$(date +%s)

# One run per mode at a time: they share the database and queue names.
exec 9>"/tmp/orator-$name.lock"
flock -n 9 || die "another scripts/bench.sh ($name) is running"

# ---------------------------------------------------------------- tools and servers
for tool in wrk jq curl psql redis-benchmark; do
  command -v "$tool" >/dev/null && continue
  pkg=$tool; [ "$tool" = psql ] && pkg=postgresql-client; [ "$tool" = redis-benchmark ] && pkg=redis-tools
  log "installing $pkg"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$pkg" >/dev/null
done
if ! port_open 5432 || ! port_open 6379 || ! port_open 5672 || ! command -v espeak-ng >/dev/null; then
  log "starting PostgreSQL, Redis and RabbitMQ (scripts/setup.sh)"
  scripts/setup.sh
fi

log "building api, worker and loadgen ($profile)"
build_started=$(date +%s)
cargo build --locked --profile "$profile" -p orator-api -p orator-worker -p orator-loadgen --bins >&2
build_secs=$(( $(date +%s) - build_started ))
for b in orator-api orator-worker orator-loadgen orator-bare; do
  [ -x "$bin/$b" ] || die "$bin/$b was not built"
done

work=$(mktemp -d /tmp/orator-bench.XXXXXX)
pids=()
export PGOPTIONS='-c client_min_messages=warning'  # no NOTICEs from DROP ... IF EXISTS
psql_db() { psql -X -q -h 127.0.0.1 -U postgres -d "$db" -At -c "$1"; }

cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  if [ "$status" != 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  for q in tts.jobs tts.jobs.retry tts.jobs.dead; do
    rabbitmqctl -q delete_queue "$queue_prefix$q" >/dev/null 2>&1
  done
  # rabbitmqctl has no delete_exchange; this internal call works on 3.x. Should it fail, one
  # idle exchange per mode stays behind (the name is fixed, so it never accumulates).
  rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"${queue_prefix}tts\">>), false, <<\"bench\">>)." >/dev/null 2>&1
  redis-cli --scan --pattern "$redis_prefix*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run.
psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
for q in tts.jobs tts.jobs.retry tts.jobs.dead; do rabbitmqctl -q purge_queue "$queue_prefix$q" >/dev/null 2>&1 || true; done

api_port=$(free_port); raw_port=$(free_port); worker_port=$(free_port); bare_port=$(free_port)
api=http://127.0.0.1:$api_port
raw=http://127.0.0.1:$raw_port
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export ORATOR_QUEUE_PREFIX=$queue_prefix ORATOR_REDIS_PREFIX=$redis_prefix
export ORATOR_BOOTSTRAP_API_KEY=$key OTEL_SDK_DISABLED=true
# The per-key limit (600/min by default) would turn a benchmark into a 429 test.
export ORATOR_RATE_LIMIT=1000000000
# Acceptance (section 4) queues jobs with the worker stopped: the backlog bound would refuse
# them after 600. Every other admission budget stays at its default.
export ORATOR_ADMISSION_MAX_QUEUED_JOBS=1000000000
unset RUST_LOG

# Starts a binary in the background; its own PID (not a subshell's) goes to the variable $1.
start() {
  local var=$1 logfile=$2; shift 2
  "$@" >"$work/$logfile" 2>&1 &
  pids+=("$!")
  printf -v "$var" '%s' "$!"
}
wait_ready() {
  for _ in $(seq 1 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health/ready")" = 200 ] && return 0
    sleep 0.25
  done
  die "$1 did not become ready"
}
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
# Peak resident memory (VmHWM) in MB; writing 5 to clear_refs resets it, so each phase
# gets its own peak.
peak() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
peak_reset() { echo 5 >"/proc/$1/clear_refs"; }
declare -A peak_api=() peak_worker=() peak_storm=()
# Between phases: no job left over from one phase may compete with the next.
settle() {
  rabbitmqctl -q purge_queue "${queue_prefix}tts.jobs" >/dev/null 2>&1 || true
  psql_db "UPDATE jobs SET status = 'canceled', finished_at = now() WHERE status = 'queued'" >/dev/null
  for _ in $(seq 1 60); do
    [ "$(psql_db "SELECT count(*) FROM jobs WHERE status = 'running'")" = 0 ] && break
    sleep 0.5
  done
}
loadgen() { "$bin/orator-loadgen" --url "$api" --api-key "$key" --no-progress --json "$@" 2>>"$work/loadgen.log"; }
start_worker() {
  start worker_pid "$1" env ORATOR_HTTP_ADDR="127.0.0.1:$worker_port" ORATOR_ENGINE_CONCURRENCY=2 \
    ORATOR_SHUTDOWN_GRACE_MS=2000 "$bin/orator-worker"
}

log "starting api (instrumented), api (ORATOR_INSTRUMENT_HTTP=false), worker, bare axum"
start api_pid api.log env ORATOR_HTTP_ADDR="127.0.0.1:$api_port" "$bin/orator-api"
wait_ready "$api"  # it migrates first; the second api then finds the schema in place
start raw_pid api-raw.log env ORATOR_HTTP_ADDR="127.0.0.1:$raw_port" ORATOR_INSTRUMENT_HTTP=false "$bin/orator-api"
start_worker worker.log
start bare_pid bare.log "$bin/orator-bare" "127.0.0.1:$bare_port"
wait_ready "$raw"
wait_ready "http://127.0.0.1:$worker_port"
for _ in $(seq 1 40); do port_open "$bare_port" && break; sleep 0.25; done

# ---------------------------------------------------------------- 1. instrumentation overhead
log "1. GET /v1/models: instrumented vs ORATOR_INSTRUMENT_HTTP=false vs bare axum (wrk, ${wrk_rounds}x${wrk_secs}s each)"
auth=(-H "Authorization: Bearer $key")
switch_works=yes
curl -s -D - -o /dev/null "${auth[@]}" "$raw/v1/models" | grep -qi '^x-request-id' && switch_works=no
curl -s -D - -o /dev/null "${auth[@]}" "$api/v1/models" | grep -qi '^x-request-id' || die "the instrumented api sends no x-request-id"
wrk_rps() {  # url → requests/s; fails on errors or non-2xx answers
  local result
  result=$(wrk -t2 -c32 -d"${wrk_secs}s" "${auth[@]}" "$1")
  echo "$result" >>"$work/wrk.log"
  if echo "$result" | grep -qE 'Non-2xx|Socket errors'; then
    echo "$result" >&2; return 1
  fi
  echo "$result" | awk '/^Requests\/sec/ { print $2 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A rps=([api]="" [raw]="" [bare]="")
declare -A url=([api]="$api/v1/models" [raw]="$raw/v1/models" [bare]="http://127.0.0.1:$bare_port/v1/models")
peak_reset "$api_pid"
$smoke || for t in api raw bare; do wrk -t2 -c32 -d1s "${auth[@]}" "${url[$t]}" >/dev/null; done  # warm-up
for round in $(seq 1 "$wrk_rounds"); do
  line=""
  for t in api raw bare; do
    v=$(wrk_rps "${url[$t]}") || die "wrk failed on ${url[$t]}"
    rps[$t]+="$v "; line+=" $t=$v"
  done
  log "   round $round:$line"
done
med_api=$(tr ' ' '\n' <<<"${rps[api]}" | grep . | median)
med_raw=$(tr ' ' '\n' <<<"${rps[raw]}" | grep . | median)
med_bare=$(tr ' ' '\n' <<<"${rps[bare]}" | grep . | median)
ratio_raw=$(calc "$med_api / $med_raw")
ratio_bare=$(calc "$med_api / $med_bare")
peak_api[wrk]=$(peak "$api_pid")
stop "$raw_pid"

# ---------------------------------------------------------------- 3. cache-miss throughput
log "3. cache misses through api and worker vs espeak-ng alone (parallelism 2)"
peak_reset "$api_pid"; peak_reset "$worker_pid"
loadgen --mode closed --users 8 --mix miss=100 --format wav --duration "${miss_secs}s" >"$work/miss.json"
miss_rate=$(jq '.scenarios.miss.ok / .window_s' "$work/miss.json")
miss_ok=$(jq '.scenarios.miss.ok' "$work/miss.json")
miss_errors=$(jq '.scenarios.miss.errors' "$work/miss.json")
miss_p50=$(jq '.scenarios.miss.latency_us.p50 / 1000' "$work/miss.json")
miss_n=$miss_ok
[ "$miss_n" -ge 20 ] || miss_n=20
# The same texts (the loadgen's generator), voice (alloy = en-us+f3), rate and output (WAV
# on stdout) as the worker, two processes at a time like ORATOR_ENGINE_CONCURRENCY=2.
"$bin/orator-loadgen" --emit-texts "$miss_n" >"$work/texts.txt"
raw_started=$(date +%s.%N)
xargs -P 2 -d '\n' -n 1 espeak-ng -b 1 -v en-us+f3 -s 175 --stdout <"$work/texts.txt" >/dev/null
raw_secs=$(calc "$(date +%s.%N) - $raw_started")
engine_rate=$(calc "$miss_n / $raw_secs" 1)
miss_ratio=$(calc "$miss_rate / $engine_rate")
if ! $smoke; then
  loadgen --mode closed --users 8 --mix miss=100 --format mp3 --duration 10s >"$work/miss-mp3.json"
  miss_mp3_rate=$(jq '.scenarios.miss.ok / .window_s' "$work/miss-mp3.json")
fi
peak_api[misses]=$(peak "$api_pid"); peak_worker[misses]=$(peak "$worker_pid")
settle

# ---------------------------------------------------------------- 4. jobs: acceptance and queue time
log "4a. job acceptance with the worker stopped (POST /v1/jobs -> PostgreSQL -> outbox -> RabbitMQ)"
stop "$worker_pid"
peak_reset "$api_pid"
phase_start=$(psql_db "SELECT now()")
loadgen --mode closed --users 32 --mix submit=100 --format wav --duration "${accept_secs}s" >"$work/accept.json"
accept_http=$(jq '.scenarios.submit.ok / .window_s' "$work/accept.json")
accept_errors=$(jq '.scenarios.submit.errors' "$work/accept.json")
accept_p99=$(jq '.scenarios.submit.latency_us.p99 / 1000' "$work/accept.json")
for _ in $(seq 1 120); do
  [ "$(psql_db "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ] && break
  sleep 0.5
done
read -r accept_rows accept_span < <(psql_db "SELECT count(*), EXTRACT(EPOCH FROM max(published_at) - min(created_at))
  FROM outbox WHERE created_at >= '$phase_start'" | tr '|' ' ')
accept_e2e=$(calc "$accept_rows / $accept_span" 0)
peak_api[acceptance]=$(peak "$api_pid")
settle

queue_time() {  # label rate seconds: open-loop submits with the worker running; sets q_*
  local label=$1 rate=$2 secs=$3 since pending waited=0
  since=$(psql_db "SELECT now()")
  loadgen --mode open --rate "$rate" --mix submit=100 --format wav --duration "${secs}s" >"$work/queue-$label.json"
  q_sent=$(jq '.scenarios.submit.ok' "$work/queue-$label.json")
  while :; do
    pending=$(psql_db "SELECT count(*) FROM jobs WHERE created_at >= '$since' AND status IN ('queued', 'running')")
    [ "$pending" = 0 ] && break
    [ "$waited" -ge $((drain_limit * 2)) ] && break
    sleep 0.5; waited=$((waited + 1))
  done
  q_unfinished=$pending
  # Our own measurement, per job: claim time minus the start of the relay transaction that
  # published it (an upper bound on publish-to-delivery; includes the publish and the claim).
  read -r q_p50 q_p99 q_max < <(psql_db "SELECT
      round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1),
      round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1),
      round(1000 * max(d)::numeric, 1)
    FROM (SELECT EXTRACT(EPOCH FROM j.started_at - o.published_at) AS d
          FROM jobs j JOIN outbox o ON o.job_id = j.id
          WHERE j.created_at >= '$since' AND j.started_at IS NOT NULL) t" | tr '|' ' ')
  # What the worker got through: finished jobs / (first created .. last finished).
  q_done_rate=$(psql_db "SELECT round((count(finished_at)
      / GREATEST(EXTRACT(EPOCH FROM max(finished_at) - min(created_at)), 0.001))::numeric, 1)
    FROM jobs WHERE created_at >= '$since'")
}
# p-quantile of a Prometheus histogram on stdin (the buckets of one series), interpolated
# within the bucket like histogram_quantile(); an answer in +Inf returns the last bound.
histogram_quantile() {
  awk -v q="$1" -F'[{}" ]+' '/_bucket/ { for (i = 1; i <= NF; i++) if ($i ~ /^,?le=$/) le = $(i + 1);
      n++; bound[n] = (le == "+Inf") ? "inf" : le; count[n] = $NF }
    END { total = count[n]; if (total == 0) { print "nan"; exit } rank = q * total; prev_b = 0; prev_c = 0
      for (i = 1; i <= n; i++) { if (count[i] >= rank) { if (bound[i] == "inf") { print prev_b; exit }
          printf "%.4f\n", prev_b + (bound[i] - prev_b) * (rank - prev_c) / (count[i] - prev_c); exit }
        prev_b = bound[i]; prev_c = count[i] } }'
}
queue_buckets() { curl -s "http://127.0.0.1:$worker_port/metrics" | grep '^orator_message_queue_time_seconds_bucket'; }

log "4b. time in queue at $queue_rate jobs/s (worker restarted: its histogram starts empty)"
start_worker worker2.log
wait_ready "http://127.0.0.1:$worker_port"
peak_reset "$api_pid"
queue_time burst "$queue_rate" "$queue_secs"
read -r b_sent b_unfinished b_p50 b_p99 b_max <<<"$q_sent $q_unfinished $q_p50 $q_p99 $q_max"
worker_capacity=$q_done_rate
queue_buckets >"$work/qt-burst.txt"
b_hist_p99=$(histogram_quantile 0.99 <"$work/qt-burst.txt")
b_hist_n=$(awk -F'[} ]+' '/le="\+Inf"/ { print $NF }' "$work/qt-burst.txt")
settle

# The same at half of what the worker just sustained: what the queue adds when it keeps up.
steady_rate=$(calc "$worker_capacity / 2" 0)
[ "$steady_rate" -ge 1 ] || steady_rate=1
log "4c. time in queue at $steady_rate jobs/s (half the worker's capacity)"
queue_time steady "$steady_rate" "$steady_secs"
read -r s_sent s_unfinished s_p50 s_p99 s_max <<<"$q_sent $q_unfinished $q_p50 $q_p99 $q_max"
queue_buckets >"$work/qt-all.txt"
# The steady phase alone: each bucket now minus the same bucket after the burst.
s_hist_p99=$(paste -d' ' "$work/qt-all.txt" "$work/qt-burst.txt" | awk '{ print $1, $2 - $4 }' | histogram_quantile 0.99)
peak_api[queue]=$(peak "$api_pid"); peak_worker[queue]=$(peak "$worker_pid")
settle

# ---------------------------------------------------------------- 5. /metrics render
log "5. criterion: /metrics rendering of 5,000 series ($profile build)"
CRITERION_HOME=$work/criterion cargo bench --locked "${bench_profile[@]}" -p orator-telemetry --bench metrics -- \
  "${bench_args[@]}" metrics/render >"$work/criterion.txt" 2>&1 || { cat "$work/criterion.txt" >&2; die "cargo bench failed"; }
estimates=$work/criterion/metrics_render_5000_series/new/estimates.json
[ -f "$estimates" ] || die "no criterion estimates at $estimates"
render_ms=$(jq '.mean.point_estimate / 1e6' "$estimates")
render_lo=$(jq '.mean.confidence_interval.lower_bound / 1e6' "$estimates")
render_hi=$(jq '.mean.confidence_interval.upper_bound / 1e6' "$estimates")

# ---------------------------------------------------------------- 2. cache-hit latency
# Last, because an overloaded api can take long to recover (see docs/benchmarks.md).
log "2. cache hits: maximum rate (closed loop), then open loop at 10, 50 and 70 % of it"
peak_reset "$api_pid"
loadgen --mode closed --users 16 --mix hit=100 --duration "${hit_max_secs}s" >"$work/hit-max.json"
hit_max=$(jq '.scenarios.hit.ok / .window_s' "$work/hit-max.json")
# Redis itself serving values of the same size, side by side (the cache's own ceiling).
hit_bytes=$(curl -s "$api/metrics" | awk -F'[ ]' '/^http_server_response_body_size_bytes_(sum|count)\{http_request_method="POST",http_route="\/v1\/audio\/speech",http_response_status_code="200"\}/ {
    if ($1 ~ /_sum/) s = $2; else c = $2 } END { printf "%d", (c > 0) ? s / c : 0 }')
# Database 9, so its one key never meets anyone's data; removed afterwards.
redis_get=$(redis-benchmark -h 127.0.0.1 -p 6379 --dbnum 9 -t set,get -d "${hit_bytes:-1}" -c 32 \
  -n "$($smoke && echo 5000 || echo 100000)" --csv 2>/dev/null | awk -F'"' '$2 == "GET" { print $4 }')
redis-cli -n 9 DEL key:__rand_int__ >/dev/null
hit_vs_redis=$(calc "$hit_max / ${redis_get:-1}")
declare -A hit
for share in 10 50 70; do
  rate=$(calc "$hit_max * $share / 100" 0)
  # A 5 s client timeout bounds the run should the api fall over.
  loadgen --mode open --rate "$rate" --mix hit=100 --timeout 5s --duration "${hit_open_secs}s" >"$work/hit-$share.json"
  hit[$share]="$rate $(jq -r '.scenarios.hit | [.latency_us.p50, .latency_us.p99, .latency_us.p999,
    .latency_us.max, .count, .errors] | map(tostring) | join(" ")' "$work/hit-$share.json") $(jq '.schedule_lag_us.p99 // 0' "$work/hit-$share.json")"
  peak_api[hits$share]=$(peak "$api_pid"); peak_reset "$api_pid"
  log "   $share %: rate p50 p99 p99.9 max (µs) count errors lag: ${hit[$share]}"
done
read -r _ _ hit_p99 _ <<<"${hit[70]}"
hit_p99_ms=$(calc "$hit_p99 / 1000")
hit_row() {  # share → a table row
  local rate p50 p99 p999 max n errors lag
  read -r rate p50 p99 p999 max n errors lag <<<"${hit[$1]}"
  echo "| $1 % | $rate /s | $(calc "$p50 / 1000") ms | $(calc "$p99 / 1000") ms | $(calc "$p999 / 1000" 2) ms | $(calc "$max / 1000" 1) ms | $n | $errors | $(calc "$lag / 1000") ms |"
}
api_metrics_time=$(curl -s -o "$work/api-metrics.txt" -w '%{time_total}' "$api/metrics")
api_series=$(grep -vc '^#' "$work/api-metrics.txt" || true)
settle

# ---------------------------------------------------------------- 6. overload storms
# Open loop above capacity. Latency of admitted requests (200) and of refusals (503) comes
# from the api's own histogram for the speech route, as a delta over the storm: the load
# generator's percentiles mix both.
speech_buckets() {  # status → that series' buckets (none yet: nothing)
  curl -s "$api/metrics" | grep "^http_server_request_duration_seconds_bucket{http_request_method=\"POST\",http_route=\"/v1/audio/speech\",http_response_status_code=\"$1\"" || true
}
storm_p99_ms() {  # status before-file after-file → p99 in ms over the storm, or n/a
  local q
  q=$(paste -d' ' "$3" "$2" | awk '{ print $1, $2 - $4 }' | histogram_quantile 0.99)
  if [ -z "$q" ] || [ "$q" = nan ]; then echo n/a; else calc "$q * 1000" 1; fi
}
known() { if [ "$1" = n/a ]; then echo 1e9; else echo "$1"; fi; }  # n/a never meets a goal
count_kind() {  # json file, scenario, regex → errors whose kind matches
  jq --arg re "$3" "[.scenarios.$2.errors_by_kind | to_entries[] | select(.key | test(\$re)) | .value] | add // 0" "$1"
}
kinds() { jq -r ".scenarios.$2.errors_by_kind | to_entries | map(\"\(.key): \(.value)\") | join(\", \") | if . == \"\" then \"none\" else . end" "$1"; }
snapshot() { for st in 200 503; do speech_buckets "$st" >"$work/$1-$st.txt"; done; }
storm_hit_rate=$(calc "$hit_max * 1.5" 0)
log "6a. hit storm: open loop at 1.5x the closed-loop maximum ($storm_hit_rate /s)"
peak_reset "$api_pid"
snapshot hit-before
loadgen --mode open --rate "$storm_hit_rate" --mix hit=100 --timeout 5s --duration "${hit_open_secs}s" >"$work/storm-hit.json"
snapshot hit-after
storm_hit_ok=$(jq '.scenarios.hit.ok / .window_s' "$work/storm-hit.json")
storm_hit_count=$(jq '.scenarios.hit.count' "$work/storm-hit.json")
storm_hit_goodput=$(calc "$storm_hit_ok / $hit_max")
storm_hit_bad=$(count_kind "$work/storm-hit.json" hit '500|504|timeout|connect')
storm_hit_kinds=$(kinds "$work/storm-hit.json" hit)
storm_hit_p99=$(storm_p99_ms 200 "$work/hit-before-200.txt" "$work/hit-after-200.txt")
storm_hit_shed_p99=$(storm_p99_ms 503 "$work/hit-before-503.txt" "$work/hit-after-503.txt")
storm_jobs_before=$(psql_db "SELECT count(*) FROM jobs")
peak_storm[hits]=$(peak "$api_pid")
storm_hit_jobs=$(( $(psql_db "SELECT count(*) FROM jobs") - storm_jobs_before ))
log "   ok/s $storm_hit_ok ($storm_hit_goodput of max), errors: $storm_hit_kinds, p99 admitted $storm_hit_p99 ms"
settle

storm_miss_rate=$(calc "$engine_rate * 3" 0)
log "6b. miss storm: open loop at 3x espeak-ng's own throughput ($storm_miss_rate /s)"
peak_reset "$api_pid"
snapshot miss-before
loadgen --mode open --rate "$storm_miss_rate" --mix miss=100 --format wav --timeout 35s --duration "${miss_secs}s" >"$work/storm-miss.json"
snapshot miss-after
storm_miss_ok=$(jq '.scenarios.miss.ok / .window_s' "$work/storm-miss.json")
storm_miss_count=$(jq '.scenarios.miss.count' "$work/storm-miss.json")
storm_miss_goodput=$(calc "$storm_miss_ok / $engine_rate")
storm_miss_bad=$(count_kind "$work/storm-miss.json" miss '500|timeout|connect')
storm_miss_504=$(count_kind "$work/storm-miss.json" miss '504')
storm_miss_kinds=$(kinds "$work/storm-miss.json" miss)
storm_miss_shed_p99=$(storm_p99_ms 503 "$work/miss-before-503.txt" "$work/miss-after-503.txt")
peak_storm[misses]=$(peak "$api_pid")
log "   ok/s $storm_miss_ok ($storm_miss_goodput of espeak-ng), errors: $storm_miss_kinds, refusal p99 $storm_miss_shed_p99 ms"
settle

# ---------------------------------------------------------------- 7. engines
# In-process, one child process per configuration (its peak RSS is its own); needs the
# models that scripts/setup.sh fetches.
log "7. engines: espeak-ng and Piper side by side ($profile build)"
engines_args=()
$smoke && engines_args=(--quick)
cargo bench --locked "${bench_profile[@]}" -p orator-engine --bench engines -- "${engines_args[@]}" \
  >"$work/engines.txt" 2>"$work/engines.err" || { cat "$work/engines.err" >&2; die "engines bench failed"; }
engines_table=$(grep '^|' "$work/engines.txt")
engines_note=$(grep -v '^|' "$work/engines.txt" | sed '/^[[:space:]]*$/d' | tail -1)
[ -n "$engines_table" ] || die "the engines bench printed no table"
# The row for Piper at 2 threads (or 1 on a 1-core machine): its RTF and throughput ratio.
piper_row=$(grep '^| piper, 1 session(s) x 2' <<<"$engines_table" || grep '^| piper, 1 session(s) x 1' <<<"$engines_table")
piper_rtf=$(awk -F'|' '{ gsub(/ /, "", $4); print $4 }' <<<"$piper_row")
piper_ratio=$(awk -F'|' '{ gsub(/ /, "", $6); print $6 }' <<<"$piper_row")

# ---------------------------------------------------------------- 8. streaming
# A worker and a second api with the Piper voice as well, so that both engines serve; the
# worker is ready once its model is loaded. One request at a time, each a new text.
log "8. streaming: first audio for ${first_audio_chars}-character inputs, each engine"
models_dir=${ORATOR_MODELS_DIR:-$ROOT/.models}
piper_env=(ORATOR_PIPER_VOICES="$models_dir/piper/en_US-joe-medium.onnx"
  ORATOR_ONNXRUNTIME_LIB="$models_dir/onnxruntime/libonnxruntime.so.1.31.1")
stop "$worker_pid"
settle
start worker_pid worker-piper.log env ORATOR_HTTP_ADDR="127.0.0.1:$worker_port" ORATOR_ENGINE_CONCURRENCY=2 \
  "${piper_env[@]}" "$bin/orator-worker"
piper_api_port=$(free_port)
start piper_api_pid api-piper.log env ORATOR_HTTP_ADDR="127.0.0.1:$piper_api_port" "${piper_env[@]}" "$bin/orator-api"
wait_ready "http://127.0.0.1:$piper_api_port"
wait_ready "http://127.0.0.1:$worker_port"
python3 scripts/first-audio.py "http://127.0.0.1:$piper_api_port" "$key" espeak-ng,piper mp3,opus,pcm \
  "$first_audio_chars" "$first_audio_rounds" >"$work/first-audio.txt" || die "the first-audio measurement failed"
first_audio_table=$(cat "$work/first-audio.txt")
first_of() { awk -F'|' -v m="$1" -v f="$2" '$2 ~ " "m" " && $3 ~ " "f" " { gsub(/[ ms]/, "", $4); print $4 }' "$work/first-audio.txt"; }
espeak_first=$(first_of espeak-ng mp3)
piper_first=$(first_of piper mp3)
[ -n "$espeak_first" ] && [ -n "$piper_first" ] || die "no first-audio figures"

max_of() { printf '%s\n' "$@" | sort -g | tail -1; }
api_hwm=$(max_of "${peak_api[@]}")
worker_hwm=$(max_of "${peak_worker[@]}")
total_secs=$(( $(date +%s) - started ))

# ---------------------------------------------------------------- the report
# A hand-written analysis between these markers survives re-runs into the same file.
analysis=$(sed -n '/<!-- analysis:start -->/,/<!-- analysis:end -->/p' "$out" 2>/dev/null || true)
[ -n "$analysis" ] || analysis=$'<!-- analysis:start -->\n## Analysis\n\n(Not written yet.)\n<!-- analysis:end -->'

r1() { calc "$1" 1; }
r0() { calc "$1" 0; }
f2() { calc "$1" 2; }
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
{
cat <<EOF
# Benchmarks

Generated by \`scripts/bench.sh$($smoke && echo ' --smoke')\` on $(date -u +%Y-%m-%d) in ${total_secs} s (plus ${build_secs} s of builds).
$($smoke && echo '**Smoke run (debug builds, seconds per phase): the figures mean nothing.**')
Each figure is measured in the same run as what it is compared with. On a small shared
machine absolute numbers move by several percent between runs; the ratios move less.

| Machine | |
|---|---|
| CPUs (nproc) | $(nproc) |
| CPU | ${cpu:-unknown} |
| Memory | $mem |
| Kernel | $(uname -r) |
| Rust | $(rustc --version | cut -d' ' -f2) |
| Revision | $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)') |

Everything runs on this one machine: PostgreSQL, Redis, RabbitMQ, the api, the worker and
the load generator share its CPUs, as on a small single-node deployment.

## Summary

| # | Figure | Measured | Goal | |
|---|---|---|---|---|
| 1 | Instrumented / uninstrumented api, GET /v1/models throughput | $(f2 "$ratio_raw") | ≥ 0.97 | $(verdict "$ratio_raw >= 0.97") |
| 2 | Cache-hit speech max / Redis GET of the same size (${hit_bytes} B: $(r0 "$redis_get") /s) | $(f2 "$hit_vs_redis") | ≥ 0.5 | $(verdict "$hit_vs_redis >= 0.5") |
| 2 | Cache-hit speech p99 at 70 % of the maximum rate (${hit[70]%% *} /s) | $(f2 "$hit_p99_ms") ms | < 2 ms | $(verdict "$hit_p99_ms < 2") |
| 3 | Cache-miss speech / espeak-ng alone, throughput | $(f2 "$miss_ratio") | ≥ 0.85 | $(verdict "$miss_ratio >= 0.85") |
| 4 | Job acceptance (HTTP → PostgreSQL → outbox → RabbitMQ) | $(r0 "$accept_e2e") jobs/s | ≥ 2,000 jobs/s | $(verdict "$accept_e2e >= 2000") |
| 4 | Time in queue p99 at $queue_rate jobs/s | $(r1 "$b_p99") ms | < 20 ms | $(verdict "$b_p99 < 20 && $b_unfinished == 0") |
| 5 | /metrics render, 5,000 series | $(f2 "$render_ms") ms | < 5 ms | $(verdict "$render_ms < 5") |
| 5 | Peak RSS, api | $(r1 "$api_hwm") MB | < 40 MB | $(verdict "$api_hwm < 40") |
| 5 | Peak RSS, worker | $(r1 "$worker_hwm") MB | < 80 MB | $(verdict "$worker_hwm < 80") |
| 6 | Hit storm at 1.5x max: successes / closed-loop max | $(f2 "$storm_hit_goodput") | ≥ 0.90 | $(verdict "$storm_hit_goodput >= 0.9") |
| 6 | Hit storm: 500, 504 and time-outs | $storm_hit_bad | 0 | $(verdict "$storm_hit_bad == 0") |
| 6 | Hit storm: p99 of admitted requests (api histogram) | $storm_hit_p99 ms | < 50 ms | $(verdict "$(known "$storm_hit_p99") < 50") |
| 6 | Hit storm: jobs created | $storm_hit_jobs | 0 | $(verdict "$storm_hit_jobs == 0") |
| 6 | Miss storm at 3x the engine: successes / espeak-ng alone | $(f2 "$storm_miss_goodput") | ≥ 0.80 | $(verdict "$storm_miss_goodput >= 0.8") |
| 6 | Miss storm: 500s and time-outs (504s: $storm_miss_504) | $storm_miss_bad | 0 | $(verdict "$storm_miss_bad == 0") |
| 6 | Miss storm: p99 of refusals (api histogram) | $storm_miss_shed_p99 ms | < 100 ms | $(verdict "$(known "$storm_miss_shed_p99") < 100") |
| 6 | Peak RSS, api, during the storms | $(r1 "$(max_of "${peak_storm[hits]}" "${peak_storm[misses]}")") MB | < 100 MB | $(verdict "$(max_of "${peak_storm[hits]}" "${peak_storm[misses]}") < 100") |
| 7 | Piper real-time factor, 1 session x 2 threads | $piper_rtf | < 0.1 | $(verdict "$piper_rtf < 0.1") |
| 7 | Piper texts/s per core / espeak-ng's | $piper_ratio | (measured) | |
| 8 | Time to first audio, ${first_audio_chars} characters, espeak-ng (mp3) | ${espeak_first} ms | < 300 ms | $(verdict "$espeak_first < 300") |
| 8 | Time to first audio, ${first_audio_chars} characters, Piper (mp3) | ${piper_first} ms | < 1,000 ms | $(verdict "$piper_first < 1000") |

## 1. Instrumentation overhead

\`wrk -t2 -c32 -d${wrk_secs}s\` with the bench key on \`GET /v1/models\` (authenticated: the key
check, cached in the api for a few seconds, and a Redis rate-limit call per request), alternating ${wrk_rounds} rounds
between three servers so drift hits all of them alike: the api as deployed, the same binary
with \`ORATOR_INSTRUMENT_HTTP=false\` (no request ids, server spans, HTTP metrics or access
log), and \`orator-bare\` (one axum handler returning the same JSON, no middleware, no key).

| Server | Requests/s, each round | Median | / instrumented |
|---|---|---|---|
| api, instrumented | ${rps[api]}| $(r0 "$med_api") | 1 |
| api, ORATOR_INSTRUMENT_HTTP=false | ${rps[raw]}| $(r0 "$med_raw") | $(f2 "$(calc "$med_raw / $med_api")") |
| orator-bare | ${rps[bare]}| $(r0 "$med_bare") | $(f2 "$(calc "$med_bare / $med_api")") |

Instrumented / uninstrumented = **$(f2 "$ratio_raw")** (goal ≥ 0.97); instrumented / bare axum = $(f2 "$ratio_bare").
$([ "$switch_works" = yes ] || echo '**The api ignored ORATOR_INSTRUMENT_HTTP=false (its answers still had x-request-id): the ratio compares two identical servers.**')
The in-process cost per request: \`cargo bench -p orator-telemetry --bench requests\`
(\`http/instrumented\` vs \`http/bare\`, \`logging/json_line\`).

## 2. Cache-hit latency

\`orator-loadgen --mix hit=100\` (8 texts, warmed into the cache first). Maximum rate, closed
loop with 16 users for ${hit_max_secs} s: **$(r0 "$hit_max") /s**. Then open loops (Poisson arrivals) of
${hit_open_secs} s at 10 %, 50 % and 70 % of it, latency counted from each request's *scheduled* start (no
coordinated omission), with a 5 s client timeout:

| Load | Rate | p50 | p99 | p99.9 | max | requests | errors | generator lag p99 |
|---|---|---|---|---|---|---|---|---|
$(hit_row 10)
$(hit_row 50)
$(hit_row 70)

Goal: p99 < 2 ms at 70 %. The generator lag (how late the load generator itself started
requests) is part of every latency. For scale: the api's own \`GET /metrics\` answered in
$(calc "$api_metrics_time * 1000" 1) ms with $api_series series after this phase.

## 3. Cache-miss throughput vs the engine

\`orator-loadgen --mix miss=100 --format wav\`, closed loop, 8 users, ${miss_secs} s: every request is a
new text, so it becomes a job, goes through the outbox and RabbitMQ to the worker
(\`ORATOR_ENGINE_CONCURRENCY=2\`), is synthesised by espeak-ng, encoded, stored in PostgreSQL
and Redis, and the waiting request is woken by NOTIFY. The engine alone: as many texts from
the same generator (\`orator-loadgen --emit-texts N\`) through
\`xargs -P 2 espeak-ng -b 1 -v en-us+f3 -s 175 --stdout\` (what the worker runs, two at a time).

| Path | Texts/s |
|---|---|
| api → worker → espeak-ng (WAV): $miss_ok requests, p50 $(calc "$miss_p50" 1) ms, $miss_errors errors | $(r1 "$miss_rate") |
| espeak-ng alone: $miss_n texts in $(f2 "$raw_secs") s | $(r1 "$engine_rate") |
$($smoke || echo "| api → worker → espeak-ng (MP3, 10 s, for comparison) | $(r1 "$miss_mp3_rate") |")

Ratio: **$(f2 "$miss_ratio")** (goal ≥ 0.85).

## 4. Jobs: acceptance and time in queue

**Acceptance.** Worker stopped (so synthesis does not compete for the CPUs), closed loop with
32 users sending \`POST /v1/jobs\` for ${accept_secs} s. HTTP: $(r0 "$accept_http") jobs/s accepted (202), p99
$(calc "$accept_p99" 1) ms, $accept_errors errors. End to end, counted in PostgreSQL from the first job's
insert to the last outbox row the relay had published and confirmed: $accept_rows jobs in
$(f2 "$accept_span") s = **$(r0 "$accept_e2e") jobs/s** (goal ≥ 2,000 jobs/s on 2 cores).

**Time in queue.** Worker restarted; an open loop of \`POST /v1/jobs\` (WAV) with the worker
consuming, then up to ${drain_limit} s for every job to end. Two measurements: per job in PostgreSQL,
claim time minus the start of the relay transaction that published it (an upper bound: it
includes the publish and the claim), and the worker's \`orator_message_queue_time_seconds\`
histogram (publish to delivery; p99 interpolated within buckets 10 ms and 25 ms apart near
the goal).

| Rate | Jobs | Unfinished | p50 (per job) | p99 (per job) | max | p99 (histogram) |
|---|---|---|---|---|---|---|
| $queue_rate /s for ${queue_secs} s | $b_sent | $b_unfinished | $(r1 "$b_p50") ms | **$(r1 "$b_p99") ms** | $(r1 "$b_max") ms | $(calc "${b_hist_p99:-0} * 1000" 1) ms ($b_hist_n deliveries) |
| $steady_rate /s for ${steady_secs} s | $s_sent | $s_unfinished | $(r1 "$s_p50") ms | $(r1 "$s_p99") ms | $(r1 "$s_max") ms | $(calc "${s_hist_p99:-0} * 1000" 1) ms |

The worker got through the $queue_rate/s burst at **$worker_capacity jobs/s** (first job created to last
finished); the second row runs at half that, where the queue is not a backlog.

## 5. /metrics rendering and memory

\`cargo bench -p orator-telemetry --bench metrics\` (criterion, $profile build): rendering an
exposition of 5,000 series (250 request-duration histograms, 500 counters, 250 gauges) with
the recorder configured as the binaries configure it: **$(f2 "$render_ms") ms** (95 % interval
$(f2 "$render_lo")–$(f2 "$render_hi") ms; goal < 5 ms).

Peak resident memory (VmHWM in /proc/PID/status, reset at the start of each phase):

| Phase | api | worker |
|---|---|---|
| 1. wrk on /v1/models | ${peak_api[wrk]} MB | |
| 3. cache misses | ${peak_api[misses]} MB | ${peak_worker[misses]} MB |
| 4. acceptance (worker stopped) | ${peak_api[acceptance]} MB | |
| 4. time in queue | ${peak_api[queue]} MB | ${peak_worker[queue]} MB |
| 2. closed loop and hits at 10 % | ${peak_api[hits10]} MB | |
| 2. hits at 50 % | ${peak_api[hits50]} MB | |
| 2. hits at 70 % | ${peak_api[hits70]} MB | |
| **Peak** (goals < 40 MB and < 80 MB) | **$(r1 "$api_hwm") MB** | **$(r1 "$worker_hwm") MB** |

## 6. Overload storms

Open loops (Poisson arrivals that do not wait for answers) above capacity, with admission
control at its defaults. Latency of admitted requests and of refusals is read from the
api's own \`http_server_request_duration_seconds\` for \`POST /v1/audio/speech\`, as the
difference over the storm.

| Storm | Offered | Requests | Successes/s | Goodput | Errors by kind | p99 admitted | p99 refused | Jobs created | api peak RSS |
|---|---|---|---|---|---|---|---|---|---|
| Cache hits at 1.5x the closed-loop max | $storm_hit_rate /s | $storm_hit_count | $(r1 "$storm_hit_ok") | $(f2 "$storm_hit_goodput") of max | $storm_hit_kinds | $storm_hit_p99 ms | $storm_hit_shed_p99 ms | $storm_hit_jobs | ${peak_storm[hits]} MB |
| Distinct misses at 3x espeak-ng alone | $storm_miss_rate /s | $storm_miss_count | $(r1 "$storm_miss_ok") | $(f2 "$storm_miss_goodput") of espeak-ng | $storm_miss_kinds | | $storm_miss_shed_p99 ms | | ${peak_storm[misses]} MB |

## 7. Engines

\`cargo bench -p orator-engine --bench engines\` ($profile build): espeak-ng and the Piper voice
en_US-joe-medium (ONNX Runtime 1.31.1, CPU), each configuration in a process of its own.

$engines_table

$engines_note

## 8. Streaming: time to first audio

\`scripts/first-audio.py\` against an api and a worker serving both engines ($profile build):
${first_audio_chars}-character inputs of plain prose, a new text each time (every request a
miss), one request at a time, read as the answer streams; medians of ${first_audio_rounds}
round(s). The worker synthesises sentence by sentence and the api passes each sentence's
bytes on as they arrive, so the first byte waits for one sentence, not the whole text.

| Model | Format | First byte | Last byte | First / last |
|---|---|---|---|---|
$first_audio_table

## How to run

\`\`\`sh
scripts/bench.sh                     # this report (release builds; about 6 minutes on 2 cores)
scripts/bench.sh --smoke --out FILE  # a few seconds per phase, debug builds (CI)
cargo bench -p orator-telemetry      # in-process: /metrics render, JSON log line, HTTP middleware
cargo bench -p orator-core           # in-process: request validation, cache key
cargo bench -p orator-engine --bench engines  # espeak-ng and Piper: load, RTF, texts/s, RSS
orator-loadgen --help                # the load generator on its own
\`\`\`

$analysis
EOF
} >"$out.tmp"
mv "$out.tmp" "$out"

# ---------------------------------------------------------------- self-check
for section in "## 1. " "## 2. " "## 3. " "## 4. " "## 5. " "## 6. " "## 7. " "## 8. "; do
  grep -q "^$section" "$out" || die "report lacks section $section"
done
if grep -qiw 'nan' "$out"; then die "report has a NaN figure: $out"; fi
log "report written to $out (${total_secs} s)"
