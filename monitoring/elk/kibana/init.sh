#!/bin/sh
# Kibana set-up for the demo, run once by compose's kibana-init service (curl image, POSIX
# sh): imports saved-objects.ndjson — the data view `orator-logs-*` and the saved searches
# "Orator errors" and "Orator by trace_id" — and makes the data view Kibana's default.
#
# Idempotent: the objects have fixed ids and the import overwrites them, so it is safe on
# every `docker compose up`. By hand, against any Kibana 8:
#   KIBANA_URL=http://localhost:5601 sh monitoring/elk/kibana/init.sh
set -eu

KIBANA_URL=${KIBANA_URL:-http://kibana:5601}
here=$(cd "$(dirname "$0")" && pwd)
objects=$here/saved-objects.ndjson

log() { printf 'kibana-init: %s\n' "$*" >&2; }

# Kibana reports "available" slightly before every saved-object type is registered; retry
# the import for up to ~2.5 minutes rather than fail on a cold start.
attempt=1
while :; do
  if out=$(curl -sS -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
             -H 'kbn-xsrf: orator-kibana-init' \
             --form "file=@$objects" 2>&1) \
     && printf '%s' "$out" | grep -q '"success":true'; then
    break
  fi
  if [ "$attempt" -ge 30 ]; then
    log "import failed after $attempt attempts: $out"
    exit 1
  fi
  log "import not accepted yet (attempt $attempt): $out"
  attempt=$((attempt + 1))
  sleep 5
done
log "imported $(printf '%s' "$out" | grep -o '"successCount":[0-9]*')"

# Discover opens on Orator's logs.
curl -fsS -X POST "$KIBANA_URL/api/data_views/default" \
  -H 'kbn-xsrf: orator-kibana-init' -H 'Content-Type: application/json' \
  -d '{"data_view_id":"orator-logs","force":true}' >/dev/null
log "default data view: orator-logs-*"

log "ready: http://localhost:5601/app/discover#/view/orator-errors (Orator errors)"
log "       http://localhost:5601/app/discover#/view/orator-by-trace-id (Orator by trace_id)"
