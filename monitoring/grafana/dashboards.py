#!/usr/bin/env python3
"""Source of the Orator Grafana dashboards.

The JSON files in dashboards/ are what Grafana loads; this file writes them. Writing the
dashboards from code keeps the conventions uniform across ~150 panels: every Prometheus
panel uses the `${datasource}` variable, every rate()/increase() uses `$__rate_interval`,
every panel has a unit and a description, every dashboard links to the others.

    python3 monitoring/grafana/dashboards.py          # rewrite dashboards/*.json
    python3 monitoring/grafana/dashboards.py --check  # fail if the JSON is stale

Edit the panels here, not in the JSON (scripts/check-grafana.sh fails when they differ).
If you prefer to build a panel in the Grafana UI, export it and port it here.

The builders, and the rows every service of the shared telemetry crate has (SLOs, RED per
route, health, processes, traces), live in panels.py: services generated from Orator's
template draw their dashboard with the very same code. Panels about Orator alone (admission,
speech, queue, engines...) belong here; a panel that would fit any such service belongs there.

Standard library only, so it runs anywhere python3 does.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The builders are shared with the services generated from Orator's template (panels.py is
# copied into them unchanged); what is Orator's alone stays in this file.
from panels import GREEN, HTTP, ORANGE, RED, RI
from panels import dashboard as _dashboard
from panels import alert_list, es_logs, prom, row, stat, state_timeline, table, thresholds, timeseries, updown_mappings
from panels import quantile, ratio_or_zero
from panels import annotate, health_rows, process_rows, red_rows, traces_rows
from panels import http_availability_slo, http_latency_slo, slo_panels
from panels import main

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

API, WORKER = "orator-api", "orator-worker"


def dashboard(uid: str, title: str, description: str, items: list) -> dict:
    """An Orator dashboard: tagged orator, linked to the other Orator dashboards."""
    return _dashboard(uid, title, description, items, tag="orator", family="Orator")


# The four SLOs of monitoring/prometheus/slos.yaml (from which monitoring/prometheus/slo.py
# writes the recording rules and burn-rate alerts), as panels.py's SLO dicts. Written out
# rather than read from the YAML so that this file needs nothing beyond the standard
# library; panels.slos_from_spec() turns the spec into equivalent dicts if that changes.
SLOS = [
    http_availability_slo(
        "API availability", 0.995, API,
        explain="share of API requests (every route except \"unmatched\") answered without a 5xx",
    ),
    http_latency_slo(
        "API latency", 0.99, API, le="1", route="/v1/audio/speech",
        explain="share of successful (non-5xx) POST /v1/audio/speech requests served within 1 s",
    ),
    {
        "name": "Job success",
        "objective": 0.99,
        "explain": "share of finished jobs that succeeded: succeeded / (succeeded + failed)",
        "good": f'orator_jobs_processed_total{{job="{WORKER}",outcome="succeeded"}}',
        "total": f'orator_jobs_processed_total{{job="{WORKER}",outcome=~"succeeded|failed"}}',
    },
    {
        "name": "Job latency",
        "objective": 0.99,
        "explain": "share of jobs that went from creation to success within 10 s",
        "good": f'orator_job_duration_seconds_bucket{{job="{WORKER}",le="10"}}',
        "total": f'orator_job_duration_seconds_count{{job="{WORKER}"}}',
    },
]


# --------------------------------------------------------------------------------------------
# Dashboards
# --------------------------------------------------------------------------------------------


def overview() -> dict:
    items = [row("Service level objectives (30 days)"), *slo_panels(SLOS)]
    items += annotate(red_rows(API), {
        "p95 duration by route": "The OratorHighLatencyP95 alert watches this.",
        "p95 response body size by route": "Audio for the speech routes.",
    })
    items += [
        row("Admission"),
        timeseries(
            "In flight vs admission limit",
            "/v1 requests admitted and in progress (orator_admission_in_flight) against the adaptive in-flight "
            "limit (orator_admission_limit), summed over api instances. The limit grows while requests finish "
            "within the latency target and shrinks when they are slower (AIMD), never above "
            "ORATOR_ADMISSION_MAX_IN_FLIGHT; in flight at the limit means new requests are refused (reason in_flight).",
            "short",
            [
                prom("sum(orator_admission_in_flight)", "in flight"),
                prom("sum(orator_admission_limit)", "limit"),
            ],
            w=8,
        ),
        timeseries(
            "Refused by reason",
            "Requests refused with 503 and Retry-After before doing any work, per second, by reason: in_flight "
            "(in-flight limit), sync_waiters (sync waiter budget, ORATOR_MAX_SYNC_WAITERS), backlog (more queued "
            "jobs than ORATOR_ADMISSION_MAX_QUEUED_JOBS), cache_busy (Redis pool saturated). OratorLoadShedding "
            "fires above 5 % of /v1 requests.",
            "reqps",
            [prom(f"sum by (reason) (rate(orator_admission_rejected_total[{RI}]))", "{{reason}}")],
            w=8, stack=True,
        ),
        timeseries(
            "Sync waiters and completion waiters",
            "Sync speech jobs being waited on (orator_admission_sync_waiters: slots of the sync waiter budget in "
            "use) and entries in the api's in-process map of requests waiting for a job to end "
            "(orator_completion_waiters), summed over api instances. Both return to 0 when the api is idle; a "
            "completion-waiter count that stays up while traffic is gone is a leak.",
            "short",
            [
                prom("sum(orator_admission_sync_waiters)", "sync waiters"),
                prom("sum(orator_completion_waiters)", "completion waiters"),
            ],
            w=8,
        ),
        state_timeline(
            "Redis circuit breaker",
            "orator_cache_breaker_open per api and worker instance: open (1) while Redis is considered down after "
            "repeated failures, for a cool-down; the cache is bypassed and speech goes to synthesis. "
            "OratorCacheBreakerOpen fires when it stays open for 5 minutes.",
            [prom("max by (job, instance) (orator_cache_breaker_open)", "{{job}} {{instance}}")],
            w=8, up="closed", down="open", one_is_bad=True,
        ),
        timeseries(
            "Expired sync jobs",
            "Sync jobs per second whose caller's deadline passed before a worker got to them: the worker skips "
            "them without synthesising (orator_jobs_processed_total{outcome=\"expired\"}). A steady rate means "
            "the queue is longer than the sync timeout.",
            "suffix: jobs/s",
            [prom(f'sum(rate(orator_jobs_processed_total{{outcome="expired"}}[{RI}]))', "expired")],
            w=8,
        ),
        timeseries(
            "Single-flight joins",
            "Sync cache misses per second that joined an identical job already in flight instead of creating "
            "a new one (orator_single_flight_joined_total): identical concurrent requests cost one synthesis.",
            "reqps",
            [prom(f"sum(rate(orator_single_flight_joined_total[{RI}]))", "joined")],
            w=8,
        ),
    ]
    items += annotate(health_rows([API, WORKER]), {
        "Targets up": "OratorTargetDown fires when one stays down.",
        "Dependency health checks": "The checks: postgres, redis, rabbitmq, and models on a worker with Piper voices.",
        "Spans exported and export failures": "OratorTraceExportFailing fires on failures.",
    })
    items += process_rows([API, WORKER], "orator")
    items += traces_rows(API, "1s", logs_query="level:(ERROR OR WARN)")
    annotate(items, {
        "Errors and warnings (logs)": "Orator's log lines, api and worker (index orator-logs-*).",
        "Recent slow requests (traces)": "1 s is the latency SLO threshold.",
    })
    return dashboard(
        "orator-overview",
        "Orator / Service overview",
        "SLOs, per-route traffic, errors and latency (RED) of the Orator API, admission control, service health, "
        "processes and builds, logs and traces.",
        items,
    )


def speech() -> dict:
    sp = "orator_speech_requests_total"
    items = [
        row("Speech requests"),
        stat(
            "Speech requests",
            "Valid speech requests per second, all voices, formats and modes.",
            "reqps",
            [prom(f"sum(rate({sp}[{RI}]))", "requests/s")],
        ),
        stat(
            "Speech failure ratio",
            "Share of speech requests that failed or timed out (sync outcomes failed and timeout).",
            "percentunit",
            [prom(f'(sum(rate({sp}{{outcome=~"failed|timeout"}}[{RI}])) or vector(0)) / sum(rate({sp}[{RI}]))', "failed")],
            thresholds=thresholds((GREEN, None), (ORANGE, 0.01), (RED, 0.05)),
        ),
        stat(
            "Characters synthesised",
            "Characters of text synthesised per second by the workers.",
            "suffix: chars/s",
            [prom(f"sum(rate(orator_characters_synthesized_total[{RI}]))", "characters/s")],
        ),
        stat(
            "Audio produced",
            "Seconds of audio produced per second of wall-clock time (rate of orator_audio_duration_seconds_sum).",
            "suffix: s/s",
            [prom(f"sum(rate(orator_audio_duration_seconds_sum[{RI}]))", "audio s/s")],
        ),
        timeseries(
            "Requests by mode and outcome",
            "Speech requests per second by mode (sync waits for the audio, async answers 202 with a job) "
            "and outcome: succeeded, failed, timeout (sync); accepted, replayed (async, idempotent replay).",
            "reqps",
            [prom(f"sum by (mode, outcome) (rate({sp}[{RI}]))", "{{mode}} {{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Requests by voice",
            "Speech requests per second by voice (the OpenAI voice name when one was asked for, else the engine voice).",
            "reqps",
            [prom(f"sum by (voice) (rate({sp}[{RI}]))", "{{voice}}")],
            stack=True,
        ),
        timeseries(
            "Requests by format",
            "Speech requests per second by audio format (mp3, opus, flac, wav, pcm).",
            "reqps",
            [prom(f"sum by (format) (rate({sp}[{RI}]))", "{{format}}")],
            stack=True,
        ),
        timeseries(
            "Sync speech p95 latency",
            "95th percentile duration of POST /v1/audio/speech, by status code. The latency SLO counts "
            "non-5xx requests within 1 s.",
            "s",
            [prom(quantile(0.95, HTTP, "http_response_status_code", '{http_route="/v1/audio/speech"}'), "{{http_response_status_code}}")],
            thresholds=thresholds((GREEN, None), (RED, 1)),
        ),
        row("Output"),
        timeseries(
            "Characters synthesised by engine",
            "Characters of input text synthesised per second, by engine.",
            "suffix: chars/s",
            [prom(f"sum by (engine) (rate(orator_characters_synthesized_total[{RI}]))", "{{engine}}")],
            w=8,
        ),
        timeseries(
            "Audio produced by format",
            "Seconds of audio produced per second, by output format (rate of orator_audio_duration_seconds_sum).",
            "suffix: s/s",
            [prom(f"sum by (format) (rate(orator_audio_duration_seconds_sum[{RI}]))", "{{format}}")],
            w=8, stack=True,
        ),
        timeseries(
            "Clip length p50 / p95",
            "Length of the clips produced (orator_audio_duration_seconds), median and 95th percentile.",
            "s",
            [
                prom(quantile(0.5, "orator_audio_duration_seconds"), "p50"),
                prom(quantile(0.95, "orator_audio_duration_seconds"), "p95"),
            ],
            w=8,
        ),
        row("Jobs and refusals"),
        timeseries(
            "Jobs by status",
            "Jobs in PostgreSQL by status (orator_jobs, refreshed by each api instance; max() because every "
            "instance reports the same table).",
            "short",
            [prom("max by (status) (orator_jobs)", "{{status}}")],
            w=8,
        ),
        timeseries(
            "Rate-limited requests",
            "Requests refused with 429 Too Many Requests per second by the per-key rate limit (addresses throttled for "
            "failed authentication count under Authentication failures, reason throttled).",
            "reqps",
            [prom(f"sum(rate(orator_rate_limited_requests_total[{RI}]))", "429")],
            w=8,
        ),
        timeseries(
            "Authentication failures",
            "Requests refused for want of a valid key, per second: missing = no bearer token, invalid = unknown or "
            "revoked key (both 401); throttled = refused with 429 before any key lookup, the client address being over "
            "ORATOR_AUTH_FAILURES_PER_MINUTE.",
            "reqps",
            [prom(f"sum by (reason) (rate(orator_auth_failures_total[{RI}]))", "{{reason}}")],
            w=8,
        ),
    ]
    return dashboard(
        "orator-speech",
        "Orator / Speech",
        "Business view of Orator: speech requests by voice, format, mode and outcome, characters and audio produced, jobs, refusals.",
        items,
    )


def queue() -> dict:
    q = "orator_queue_messages"
    items = [
        row("Queues (reported by the workers)"),
        stat(
            "Ready in tts.jobs",
            "Messages waiting in the work queue (orator_queue_messages, polled by the workers; max() "
            "because every worker replica reports the same queue).",
            "short",
            [prom(f'max({q}{{queue=~".*tts.jobs"}})', "tts.jobs")],
            w=4, thresholds=thresholds((GREEN, None), (ORANGE, 100), (RED, 1000)),
        ),
        stat(
            "Ready in tts.jobs.retry",
            "Messages waiting out their retry delay in tts.jobs.retry.",
            "short",
            [prom(f'max({q}{{queue=~".*tts.jobs.retry"}})', "tts.jobs.retry")],
            w=4, thresholds=thresholds((GREEN, None), (ORANGE, 10)),
        ),
        stat(
            "Ready in tts.jobs.dead",
            "Messages dead-lettered into tts.jobs.dead (exhausted retries, permanent failures or unreadable). They stay until someone looks.",
            "short",
            [prom(f'max({q}{{queue=~".*tts.jobs.dead"}})', "tts.jobs.dead")],
            w=4, thresholds=thresholds((GREEN, None), (RED, 1)),
        ),
        stat(
            "Consumers on tts.jobs",
            "Consumers attached to the work queue. 0 means nobody processes jobs (OratorNoConsumers).",
            "short",
            [prom('max(orator_queue_consumers{queue=~".*tts.jobs"})', "consumers")],
            w=4, thresholds=thresholds((RED, None), (GREEN, 1)),
        ),
        stat(
            "Outbox pending",
            "Jobs written to PostgreSQL whose message is not yet published to RabbitMQ (max over api instances).",
            "short",
            [prom("max(orator_outbox_pending_messages)", "pending")],
            w=4, thresholds=thresholds((GREEN, None), (ORANGE, 10), (RED, 100)),
        ),
        stat(
            "Outbox oldest age",
            "Age of the oldest unpublished outbox row; grows while RabbitMQ is unreachable (OratorOutboxLag).",
            "s",
            [prom("max(orator_outbox_oldest_age_seconds)", "age")],
            w=4, thresholds=thresholds((GREEN, None), (ORANGE, 30), (RED, 120)),
        ),
        timeseries(
            "Queue depth",
            "Messages ready in each queue (max over worker replicas, which all report the same value).",
            "short",
            [prom(f"max by (queue) ({q})", "{{queue}}")],
        ),
        timeseries(
            "Consumers per queue",
            "Consumers attached to each queue (max over worker replicas).",
            "short",
            [prom("max by (queue) (orator_queue_consumers)", "{{queue}}")],
        ),
        timeseries(
            "Outbox pending and oldest age",
            "Outbox rows waiting for the relay (left axis) and the age of the oldest (right axis).",
            "short",
            [
                prom("max(orator_outbox_pending_messages)", "pending rows"),
                prom("max(orator_outbox_oldest_age_seconds)", "oldest age"),
            ],
            overrides=[{
                "matcher": {"id": "byName", "options": "oldest age"},
                "properties": [{"id": "unit", "value": "s"}, {"id": "custom.axisPlacement", "value": "right"}],
            }],
        ),
        timeseries(
            "Worker replicas up",
            "Worker instances Prometheus scraped successfully.",
            "short",
            [prom('sum(up{job="orator-worker"})', "workers up")],
        ),
        row("Publishing and consuming"),
        timeseries(
            "Publish results",
            "Messages published per second by destination (exchange tts, queues tts.jobs.retry and tts.jobs.dead) "
            "and broker answer: confirmed, returned (unroutable) or failed.",
            "mps",
            [prom(f"sum by (messaging_destination_name, result) (rate(messaging_client_sent_messages_total[{RI}]))", "{{messaging_destination_name}} {{result}}")],
        ),
        timeseries(
            "Publish p95 duration",
            "95th percentile time to hand a message to the broker and get its confirm, by destination.",
            "s",
            [prom(quantile(0.95, "messaging_client_operation_duration_seconds", "messaging_destination_name"), "{{messaging_destination_name}}")],
        ),
        timeseries(
            "Messages consumed",
            "Deliveries the workers received per second.",
            "mps",
            [prom(f"sum by (messaging_destination_name) (rate(messaging_client_consumed_messages_total[{RI}]))", "{{messaging_destination_name}}")],
            w=8,
        ),
        timeseries(
            "Settled dispositions",
            "How the workers settled deliveries: ack (done, or retry scheduled), reject (dead-letters an "
            "unreadable message), requeue (a dependency failed).",
            "mps",
            [prom(f"sum by (disposition) (rate(orator_messages_settled_total[{RI}]))", "{{disposition}}")],
            w=8, stack=True,
        ),
        timeseries(
            "Dead-lettered",
            "Messages sent to tts.jobs.dead per second: exhausted (out of retries), permanent (failed at once: the input "
            "can never succeed, e.g. audio longer than ORATOR_MAX_AUDIO_SECONDS or no speech) or unreadable.",
            "mps",
            [prom(f"sum by (reason) (rate(orator_messages_dead_lettered_total[{RI}]))", "{{reason}}")],
            w=8,
        ),
        timeseries(
            "Processing duration p50 / p95 / p99",
            "Time a worker spends on one delivery, from receipt to settlement decision (messaging_process_duration_seconds).",
            "s",
            [
                prom(quantile(0.5, "messaging_process_duration_seconds"), "p50"),
                prom(quantile(0.95, "messaging_process_duration_seconds"), "p95"),
                prom(quantile(0.99, "messaging_process_duration_seconds"), "p99"),
            ],
        ),
        timeseries(
            "Time in queue p50 / p95 / p99",
            "Time from publish (x-published-at-ms header) to delivery to a worker. Grows when workers fall behind.",
            "s",
            [
                prom(quantile(0.5, "orator_message_queue_time_seconds"), "p50"),
                prom(quantile(0.95, "orator_message_queue_time_seconds"), "p95"),
                prom(quantile(0.99, "orator_message_queue_time_seconds"), "p99"),
            ],
        ),
        row("Jobs"),
        timeseries(
            "Job outcomes",
            "Deliveries the workers handled per second by outcome: succeeded, retried, failed (out of retries), "
            "skipped (already ended, e.g. a redelivery or a canceled job), expired (a sync job whose caller's "
            "deadline passed before a worker got to it; not synthesised).",
            "suffix: jobs/s",
            [prom(f"sum by (outcome) (rate(orator_jobs_processed_total[{RI}]))", "{{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Job failure ratio",
            "failed / (succeeded + failed) — the complement of the job success SLI (objective 99 %).",
            "percentunit",
            [prom(
                f'(sum(rate(orator_jobs_processed_total{{outcome="failed"}}[{RI}])) or vector(0)) '
                f'/ sum(rate(orator_jobs_processed_total{{outcome=~"succeeded|failed"}}[{RI}]))',
                "failed",
            )],
            thresholds=thresholds((GREEN, None), (RED, 0.01)),
        ),
        timeseries(
            "Job end-to-end latency p50 / p95 / p99",
            "Job creation to success (orator_job_duration_seconds), by mode. The job latency SLO counts jobs within 10 s.",
            "s",
            [
                prom(quantile(0.5, "orator_job_duration_seconds", "mode"), "p50 {{mode}}"),
                prom(quantile(0.95, "orator_job_duration_seconds", "mode"), "p95 {{mode}}"),
                prom(quantile(0.99, "orator_job_duration_seconds", "mode"), "p99 {{mode}}"),
            ],
            w=24, thresholds=thresholds((GREEN, None), (RED, 10)),
        ),
        row("Maintenance"),
        timeseries(
            "Jobs swept",
            "Jobs left running past their lease (ORATOR_JOB_LEASE_MS: their worker vanished, or could not record the "
            "outcome) that the sweeper found, per interval: requeued = sent back to the queue for another attempt, "
            "failed = out of attempts, failed for good (OratorJobsAbandoned).",
            "short",
            [prom(f"sum by (action) (increase(orator_jobs_swept_total[{RI}]))", "{{action}}")],
            w=8, bars=True, stack=True, legend_calcs=("sum", "max"),
        ),
        timeseries(
            "Rows deleted by retention",
            "Rows the retention reaper deleted per interval, by table: audio past ORATOR_AUDIO_RETENTION_HOURS (and "
            "audio no job refers to), finished jobs past ORATOR_JOB_RETENTION_HOURS, published outbox rows past "
            "ORATOR_OUTBOX_RETENTION_HOURS.",
            "short",
            [prom(f"sum by (table) (increase(orator_retention_deleted_total[{RI}]))", "{{table}}")],
            w=8, bars=True, stack=True, legend_calcs=("sum", "max"),
        ),
        timeseries(
            "Time since last maintenance pass",
            "Time since the newest pass of each task, on any worker, that completed without error (the sweeper runs "
            "every ORATOR_SWEEP_INTERVAL_MS, 30 s; retention every ORATOR_RETENTION_INTERVAL_MS, 60 s). "
            "OratorMaintenanceStalled fires past 15 minutes.",
            "s",
            [prom("time() - max by (task) (orator_maintenance_last_success_timestamp_seconds)", "{{task}}")],
            w=8, thresholds=thresholds((GREEN, None), (ORANGE, 300), (RED, 900)),
        ),
        row("Broker (RabbitMQ exporter)"),
        timeseries(
            "Ready messages (broker)",
            "Messages ready per queue as RabbitMQ itself reports them (rabbitmq_prometheus, per-object endpoint). "
            "Should match the worker-reported depth above.",
            "short",
            [prom("sum by (queue) (rabbitmq_queue_messages_ready)", "{{queue}}")],
            w=8,
        ),
        timeseries(
            "Consumers (broker)",
            "Consumers per queue as RabbitMQ reports them.",
            "short",
            [prom("sum by (queue) (rabbitmq_queue_consumers)", "{{queue}}")],
            w=8,
        ),
        state_timeline(
            "Resource alarms (broker)",
            "RabbitMQ memory and disk alarms: when one is raised the broker blocks publishers (RabbitMQResourceAlarm).",
            [
                prom("max(rabbitmq_alarms_memory_used_watermark)", "memory alarm"),
                prom("max(rabbitmq_alarms_free_disk_space_watermark)", "disk alarm"),
            ],
            w=8, up="raised", down="ok",
        ),
    ]
    return dashboard(
        "orator-queue",
        "Orator / Queue and worker",
        "RabbitMQ queues as the workers see them, publishing, consuming, settlement, dead letters, the outbox, job outcomes and latency, and the workers' maintenance (sweeper, retention).",
        items,
    )


def data_stores() -> dict:
    db = "db_client_operation_duration_seconds"
    items = [
        row("PostgreSQL (Orator's client side)"),
        timeseries(
            "Query p95 by operation and table",
            "95th percentile duration of database statements by operation (SELECT, INSERT, UPDATE, NOTIFY) "
            "and table, api and workers together.",
            "s",
            [prom(quantile(0.95, db, "db_operation_name, db_collection_name"), "{{db_operation_name}} {{db_collection_name}}")],
        ),
        timeseries(
            "Queries by operation and table",
            "Database statements per second by operation and table.",
            "ops",
            [prom(f"sum by (db_operation_name, db_collection_name) (rate({db}_count[{RI}]))", "{{db_operation_name}} {{db_collection_name}}")],
            stack=True,
        ),
        timeseries(
            "Query error ratio",
            "Share of database statements that failed (series with error_type=\"error\"), per service.",
            "percentunit",
            [prom(ratio_or_zero('{error_type="error"}', "", f"{db}_count", "job"), "{{job}}")],
            w=8, thresholds=thresholds((GREEN, None), (RED, 0.01)),
        ),
        timeseries(
            "Pool connections",
            "Pooled connections by state per service, and the largest size the pools may grow to.",
            "short",
            [
                prom("sum by (job, state) (db_client_connection_count)", "{{job}} {{state}}"),
                prom("sum by (job) (db_client_connection_max)", "{{job}} max"),
            ],
            w=8,
        ),
        timeseries(
            "Pool utilisation (busiest instance)",
            "Used / max connections of the busiest pool per service. Near 100 % requests queue for a "
            "connection (OratorDbPoolSaturation).",
            "percentunit",
            [prom(
                'max by (job) (sum by (job, instance) (db_client_connection_count{state="used"}) '
                "/ sum by (job, instance) (db_client_connection_max))",
                "{{job}}",
            )],
            w=8, max=1, thresholds=thresholds((GREEN, None), (ORANGE, 0.8), (RED, 0.9)),
        ),
        timeseries(
            "Connection wait p95",
            "95th percentile time to get a pooled connection (for transactions, including BEGIN), per service.",
            "s",
            [prom(quantile(0.95, "db_client_connection_wait_time_seconds", "job"), "{{job}}")],
        ),
        row("PostgreSQL (postgres-exporter)"),
        stat(
            "PostgreSQL up",
            "1 when postgres-exporter could connect to PostgreSQL at its last scrape.",
            "none",
            [prom("min(pg_up)", "pg_up")],
            w=4, graph=False, color_mode="background", mappings=updown_mappings(),
            thresholds=thresholds((RED, None), (GREEN, 1)),
        ),
        stat(
            "Connections / max_connections",
            "Backends connected to all databases over PostgreSQL's max_connections.",
            "percentunit",
            [prom("sum(pg_stat_database_numbackends) / max(pg_settings_max_connections)", "used")],
            w=4, thresholds=thresholds((GREEN, None), (ORANGE, 0.8), (RED, 0.9)),
        ),
        timeseries(
            "Backends by database",
            "Connections per database (pg_stat_database_numbackends).",
            "short",
            [prom('sum by (datname) (pg_stat_database_numbackends{datname!~"template.*|"})', "{{datname}}")],
            w=8,
        ),
        timeseries(
            "Transactions",
            "Commits and rollbacks per second, all databases.",
            "ops",
            [
                prom(f"sum(rate(pg_stat_database_xact_commit[{RI}]))", "commits"),
                prom(f"sum(rate(pg_stat_database_xact_rollback[{RI}]))", "rollbacks"),
            ],
            w=8,
        ),
        timeseries(
            "Buffer cache hit ratio",
            "Share of block reads served from PostgreSQL's shared buffers.",
            "percentunit",
            [prom(
                f"sum(rate(pg_stat_database_blks_hit[{RI}])) / "
                f"(sum(rate(pg_stat_database_blks_hit[{RI}])) + sum(rate(pg_stat_database_blks_read[{RI}])))",
                "hit ratio",
            )],
            w=8, max=1,
        ),
        timeseries(
            "Deadlocks",
            "Deadlocks detected per second, all databases.",
            "ops",
            [prom(f"sum(rate(pg_stat_database_deadlocks[{RI}]))", "deadlocks")],
            w=8,
        ),
        timeseries(
            "Database size",
            "On-disk size of each database.",
            "bytes",
            [prom('sum by (datname) (pg_database_size_bytes{datname!~"template.*"})', "{{datname}}")],
            w=8,
        ),
        row("Redis cache (Orator's client side)"),
        stat(
            "Cache hit ratio",
            "hit / (hit + miss) of audio cache reads. 0 (not \"no data\") until the first hit.",
            "percentunit",
            [prom(
                f'sum(rate(cache_operations_total{{operation="get",result="hit"}}[{RI}]) '
                f'or rate(cache_operations_total{{operation="get"}}[{RI}]) * 0) '
                f'/ sum(rate(cache_operations_total{{operation="get",result=~"hit|miss"}}[{RI}]))',
                "hit ratio",
            )],
            w=4, decimals=1, thresholds=thresholds((ORANGE, None), (GREEN, 0.2)),
        ),
        timeseries(
            "Cache operations by result",
            "Audio cache operations per second: get (hit, miss, error) and set (ok, error).",
            "ops",
            [prom(f"sum by (operation, result) (rate(cache_operations_total[{RI}]))", "{{operation}} {{result}}")],
            w=10, stack=True,
        ),
        timeseries(
            "Cache latency p95 by operation",
            "95th percentile Redis call latency, errors and timeouts included, by operation "
            "(get, set, ping, ratelimit).",
            "s",
            [prom(quantile(0.95, "cache_operation_duration_seconds", "operation"), "{{operation}}")],
            w=10,
        ),
        timeseries(
            "Cache bytes",
            "Bytes read from the cache (hits) and written to it, per second.",
            "Bps",
            [prom(f"sum by (operation) (rate(cache_bytes_total[{RI}]))", "{{operation}}")],
            w=8,
        ),
        row("Redis (redis-exporter)"),
        stat(
            "Redis up",
            "1 when redis-exporter could reach Redis at its last scrape (OratorRedisDown).",
            "none",
            [prom("min(redis_up)", "redis_up")],
            w=4, graph=False, color_mode="background", mappings=updown_mappings(),
            thresholds=thresholds((RED, None), (GREEN, 1)),
        ),
        stat(
            "Redis clients",
            "Client connections to Redis.",
            "short",
            [prom("sum(redis_connected_clients)", "clients")],
            w=4,
        ),
        timeseries(
            "Redis memory",
            "Memory Redis uses, and its maxmemory limit (0 = no limit).",
            "bytes",
            [
                prom("sum(redis_memory_used_bytes)", "used"),
                prom("sum(redis_memory_max_bytes)", "maxmemory"),
            ],
            w=8,
        ),
        timeseries(
            "Redis commands and evictions",
            "Commands processed and keys evicted per second (evictions mean cached audio is being dropped).",
            "ops",
            [
                prom(f"sum(rate(redis_commands_processed_total[{RI}]))", "commands"),
                prom(f"sum(rate(redis_evicted_keys_total[{RI}]))", "evictions"),
            ],
            w=8,
        ),
    ]
    return dashboard(
        "orator-data",
        "Orator / Database and cache",
        "PostgreSQL and Redis from Orator's side (statement latency, errors, pool, cache hits) and from their exporters.",
        items,
    )


def inference() -> dict:
    inf = "orator_inference_duration_seconds"
    items = [
        row("Engine"),
        stat(
            "Engine up",
            "1 while the engine is loaded and usable on every worker (min over workers).",
            "none",
            [prom("min by (engine) (orator_engine_up)", "{{engine}}")],
            w=6, graph=False, color_mode="background", mappings=updown_mappings(),
            thresholds=thresholds((RED, None), (GREEN, 1)),
        ),
        table(
            "Engine versions",
            "Engines and versions loaded (orator_engine_info); the value is the number of workers running each.",
            "short",
            [prom("count by (engine, version) (orator_engine_info)", instant=True, table=True)],
            w=6, h=4, rename="Workers",
        ),
        stat(
            "Syntheses in progress",
            "Syntheses running right now, all workers.",
            "short",
            [prom("sum(orator_inference_in_progress)", "in progress")],
            w=6,
        ),
        stat(
            "Synthesis errors",
            "Failed syntheses per second, all workers.",
            "ops",
            [prom(f"sum(rate(orator_inference_errors_total[{RI}]))", "errors/s")],
            w=6, thresholds=thresholds((GREEN, None), (RED, 0.01)),
        ),
        row("Synthesis"),
        timeseries(
            "Synthesis duration p50 by voice",
            "Median time to synthesise one request, by engine voice.",
            "s",
            [prom(quantile(0.5, inf, "voice"), "{{voice}}")],
        ),
        timeseries(
            "Synthesis duration p95 by voice",
            "95th percentile time to synthesise one request, by engine voice (OratorInferenceSlow).",
            "s",
            [prom(quantile(0.95, inf, "voice"), "{{voice}}")],
        ),
        timeseries(
            "Real-time factor p50 / p95",
            "Synthesis time divided by the length of the audio produced: 0.01 means 1 s of audio in 10 ms. "
            "Above 1 the engine is slower than real time.",
            "none",
            [
                prom(quantile(0.5, "orator_inference_real_time_factor", "engine"), "p50 {{engine}}"),
                prom(quantile(0.95, "orator_inference_real_time_factor", "engine"), "p95 {{engine}}"),
            ],
            decimals=4,
        ),
        timeseries(
            "Encode duration p95 by format",
            "95th percentile time to encode PCM into the output format.",
            "s",
            [prom(quantile(0.95, "orator_inference_encode_duration_seconds", "format"), "{{format}}")],
        ),
        timeseries(
            "Syntheses and errors",
            "Syntheses per second and failed syntheses per second, by engine.",
            "ops",
            [
                prom(f"sum by (engine) (rate({inf}_count[{RI}]))", "{{engine}} syntheses"),
                prom(f"sum by (engine) (rate(orator_inference_errors_total[{RI}]))", "{{engine}} errors"),
            ],
            w=8,
        ),
        timeseries(
            "In progress by worker",
            "Syntheses running on each worker (bounded by ORATOR_ENGINE_CONCURRENCY).",
            "short",
            [prom("sum by (instance) (orator_inference_in_progress)", "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Worker CPU",
            "CPU used by each worker process (1 = one core); synthesis is CPU-bound.",
            "percentunit",
            [prom(f'sum by (instance) (rate(process_cpu_seconds_total{{job="orator-worker"}}[{RI}]))', "{{instance}}")],
            w=8,
        ),
        *streaming_row(),
        *models_row(),
    ]
    return dashboard(
        "orator-inference",
        "Orator / Inference engine",
        "The text-to-speech engines (espeak-ng, and Piper voices in ONNX Runtime): availability, models, "
        "synthesis and encode latency, real-time factor, concurrency, session pool and errors.",
        items,
    )


def streaming_row() -> list:
    """Streamed sync answers: how soon the first audio leaves (the user-facing latency of
    synthesis) and what the streams carry. sli:first_audio_within_1s:ratio_rate5m records
    the same share as the stat."""
    ttfa = "orator_speech_time_to_first_audio_seconds"
    return [
        row("Streaming"),
        timeseries(
            "Time to first audio p50 / p95 by engine",
            "From a synthesised sync request to its first audio chunk (cache hits excluded). "
            "Goals: 0.3 s with espeak-ng, 1 s with a neural engine, for any input length.",
            "s",
            [
                prom(quantile(0.5, ttfa, "engine"), "p50 {{engine}}"),
                prom(quantile(0.95, ttfa, "engine"), "p95 {{engine}}"),
            ],
            w=8,
        ),
        timeseries(
            "Time to first audio p95 by format",
            "Containers differ in how much audio they hold back before the first bytes (an Ogg page, a FLAC block).",
            "s",
            [prom(quantile(0.95, ttfa, "format"), "{{format}}")],
            w=8,
        ),
        stat(
            "First audio within 1 s",
            "Share of synthesised sync requests whose first chunk left within 1 s, by engine "
            "(sli:first_audio_within_1s:ratio_rate5m).",
            "percentunit",
            [prom(
                f'sum by (engine) (rate({ttfa}_bucket{{le="1"}}[{RI}])) / sum by (engine) (rate({ttfa}_count[{RI}]))',
                "{{engine}}",
            )],
            w=8, h=8, thresholds=thresholds((RED, None), (ORANGE, 0.95), (GREEN, 0.99)),
        ),
        timeseries(
            "Streams under way",
            "Streamed answers between their first chunk and their end, by format.",
            "short",
            [prom("sum by (format) (orator_streams_active)", "{{format}}")],
            w=8,
        ),
        timeseries(
            "Streamed bytes and chunks",
            "Audio passed on to clients per second: bytes, and chunks (one per sentence, roughly).",
            "Bps",
            [
                prom(f"sum(rate(orator_stream_bytes_total[{RI}]))", "bytes/s"),
                prom(f"sum(rate(orator_stream_chunks_total[{RI}]))", "chunks/s"),
            ],
            w=8,
        ),
        timeseries(
            "Streams cancelled by the client",
            "Clients that went away mid-stream, per second; their jobs still finish and fill the cache.",
            "ops",
            [prom(f"sum by (format) (rate(orator_streams_cancelled_total[{RI}]))", "{{format}}")],
            w=8,
        ),
    ]


def models_row() -> list:
    """The model files an engine loads (Piper voices in ONNX Runtime): loading, warm-up, the
    session pool and the neural pipeline's steps. Series exist only on workers configured
    with ORATOR_PIPER_VOICES."""
    rtf = "orator_inference_real_time_factor"
    busy, pool = "orator_inference_sessions_busy", "orator_inference_sessions"
    return [
        row("Models"),
        stat(
            "Model up",
            "Per configured model, the minimum over workers of orator_model_up: up once every worker has loaded "
            "and warmed it up; down while one still loads or after a failed load (OratorModelNotLoaded after 5 minutes).",
            "none",
            [prom("min by (engine, model) (orator_model_up)", "{{model}}")],
            w=6, graph=False, color_mode="background", mappings=updown_mappings("up", "loading / failed"),
            thresholds=thresholds((RED, None), (GREEN, 1)),
        ),
        table(
            "Configured models",
            "Every configured model with its language and sample rate (orator_model_info) and the size of its "
            "file (orator_model_size_bytes; 0 when the file is missing), largest over workers.",
            "bytes",
            [prom(
                "max by (engine, model, language, sample_rate) ("
                "orator_model_size_bytes * on (job, instance, engine, model) group_left (language, sample_rate) orator_model_info)",
                instant=True, table=True,
            )],
            w=12, h=4, rename="Size",
        ),
        stat(
            "Model load and warm-up",
            "Seconds the last load of each model took (ONNX Runtime sessions for the whole pool) and its warm-up "
            "synthesis, slowest worker. Set once per load; absent while a model has never finished loading.",
            "s",
            [
                prom("max by (model) (orator_model_load_duration_seconds)", "load {{model}}"),
                prom("max by (model) (orator_model_warmup_duration_seconds)", "warm-up {{model}}"),
            ],
            w=6, graph=False,
        ),
        state_timeline(
            "Model up by worker",
            "orator_model_up per worker and model over time: red while the model loads (seconds) or after its "
            "load failed; the worker is not ready meanwhile and espeak-ng keeps serving tts-1.",
            [prom("min by (instance, model) (orator_model_up)", "{{instance}} {{model}}")],
            w=12, h=6, up="up", down="loading / failed",
        ),
        timeseries(
            "Inference sessions busy vs pool",
            "ONNX Runtime sessions running an inference now against the size of the session pool "
            "(ORATOR_PIPER_SESSIONS per voice), all workers. Busy at the pool size means requests queue for a session.",
            "short",
            [
                prom(f"sum by (engine) ({busy})", "{{engine}} busy"),
                prom(f"sum by (engine) ({pool})", "{{engine}} pool"),
            ],
            w=12, h=6,
        ),
        timeseries(
            "Session pool saturation",
            "Busy sessions divided by the pool size, per engine and worker: near 100 % the pool is the bottleneck "
            "(see the session wait), raise ORATOR_PIPER_SESSIONS if the cores allow or add workers.",
            "percentunit",
            [prom(f"sum by (engine, instance) ({busy}) / sum by (engine, instance) ({pool})", "{{engine}} {{instance}}")],
            w=8, max=1,
        ),
        timeseries(
            "Session wait p95",
            "95th percentile wait for a free inference session from the bounded pool, per engine. "
            "Above zero the pool is saturated.",
            "s",
            [prom(quantile(0.95, "orator_inference_session_wait_seconds", "engine"), "p95 {{engine}}")],
            w=8,
        ),
        timeseries(
            "Phonemize p95",
            "95th percentile time espeak-ng takes to turn one sentence into phonemes before the neural inference, per engine.",
            "s",
            [prom(quantile(0.95, "orator_inference_phonemize_duration_seconds", "engine"), "p95 {{engine}}")],
            w=8,
        ),
        timeseries(
            "Real-time factor p50 / p95 by engine and voice",
            "Synthesis time divided by the length of the audio produced, per engine and base voice: below 1 is "
            "faster than real time. A neural voice is far slower than espeak-ng.",
            "none",
            [
                prom(quantile(0.5, rtf, "engine, voice"), "p50 {{engine}} {{voice}}"),
                prom(quantile(0.95, rtf, "engine, voice"), "p95 {{engine}} {{voice}}"),
            ],
            decimals=4,
        ),
        timeseries(
            "Synthesis duration p95 by engine",
            "95th percentile time to synthesise one request, per engine (OratorInferenceSlow fires above 2 s).",
            "s",
            [prom(quantile(0.95, "orator_inference_duration_seconds", "engine"), "p95 {{engine}}")],
        ),
    ]


def infrastructure() -> dict:
    fs = '{fstype!~"tmpfs|ramfs|squashfs|nsfs"}'
    items = [
        row("Targets"),
        state_timeline(
            "Scrape targets up",
            "up for every target Prometheus scrapes: 1 scraped, 0 failed.",
            [prom("up", "{{job}} {{instance}}")],
            h=10,
        ),
        state_timeline(
            "Blackbox probes",
            "probe_success of each blackbox-exporter probe (the Orator health endpoints from outside).",
            [prom("probe_success", "{{service}} {{instance}}")],
            h=10, up="success", down="failure",
        ),
        timeseries(
            "Probe duration",
            "How long each blackbox probe took.",
            "s",
            [prom("probe_duration_seconds", "{{service}} {{instance}}")],
        ),
        timeseries(
            "Scrape duration",
            "How long Prometheus took to scrape each target.",
            "s",
            [prom("scrape_duration_seconds", "{{job}} {{instance}}")],
        ),
        row("Hosts (node-exporter)"),
        timeseries(
            "CPU used",
            "Share of CPU time not idle, per host, all cores.",
            "percentunit",
            [prom(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{RI}]))', "{{instance}}")],
            w=8, max=1, thresholds=thresholds((GREEN, None), (RED, 0.9)),
        ),
        timeseries(
            "Memory used",
            "Share of memory not available to new processes (1 - MemAvailable / MemTotal), per host.",
            "percentunit",
            [prom("1 - sum by (instance) (node_memory_MemAvailable_bytes) / sum by (instance) (node_memory_MemTotal_bytes)", "{{instance}}")],
            w=8, max=1, thresholds=thresholds((GREEN, None), (RED, 0.9)),
        ),
        timeseries(
            "Load average (1m)",
            "1-minute load average per host; compare with the host's core count.",
            "short",
            [prom("node_load1", "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Disk used",
            "Share of each filesystem used, per host and mount point (tmpfs and the like left out).",
            "percentunit",
            [prom(f"1 - node_filesystem_avail_bytes{fs} / node_filesystem_size_bytes{fs}", "{{instance}} {{mountpoint}}")],
            w=8, max=1, thresholds=thresholds((GREEN, None), (RED, 0.9)),
        ),
        timeseries(
            "Disk I/O",
            "Bytes read from and written to block devices per second, per host.",
            "Bps",
            [
                prom(f"sum by (instance) (rate(node_disk_read_bytes_total[{RI}]))", "{{instance}} read"),
                prom(f"sum by (instance) (rate(node_disk_written_bytes_total[{RI}]))", "{{instance}} written"),
            ],
            w=8,
        ),
        timeseries(
            "Network",
            "Bytes received and sent per second on every interface except loopback, per host.",
            "Bps",
            [
                prom(f'sum by (instance) (rate(node_network_receive_bytes_total{{device!="lo"}}[{RI}]))', "{{instance}} received"),
                prom(f'sum by (instance) (rate(node_network_transmit_bytes_total{{device!="lo"}}[{RI}]))', "{{instance}} sent"),
            ],
            w=8,
        ),
    ]
    # Every scraped process, the exporters' too; the builds are on the overview.
    items += annotate(process_rows(None, "orator", build_info=False), {
        "Process resident memory": "Per-container memory would need cAdvisor, which this stack does not run "
        "(n/a without cAdvisor): process RSS is the closest measure.",
    })
    return dashboard(
        "orator-infra",
        "Orator / Infrastructure",
        "Scrape targets, blackbox probes, hosts (node-exporter) and processes. Container metrics would need cAdvisor, which this stack does not run.",
        items,
    )


def alerts() -> dict:
    firing = 'ALERTS{alertstate="firing"}'
    items = [
        row("Prometheus alerts"),
        stat(
            "Firing: page",
            "Alerts firing now with severity=page (wake someone up).",
            "short",
            [prom('count(ALERTS{alertstate="firing",severity="page"})', "page")],
            w=4, graph=False, color_mode="background", noValue="0",
            thresholds=thresholds((GREEN, None), (RED, 1)),
        ),
        stat(
            "Firing: ticket",
            "Alerts firing now with severity=ticket (look at it during working hours).",
            "short",
            [prom('count(ALERTS{alertstate="firing",severity="ticket"})', "ticket")],
            w=4, graph=False, color_mode="background", noValue="0",
            thresholds=thresholds((GREEN, None), (ORANGE, 1)),
        ),
        table(
            "Firing alerts",
            "Alerts firing now, by name and severity; the value is the number of firing series.",
            "short",
            [prom(f"sum by (alertname, severity) ({firing})", instant=True, table=True)],
            w=16, h=8, rename="Series",
        ),
        timeseries(
            "Firing alerts over time",
            "Firing alert series by alert name and severity (Prometheus' ALERTS series).",
            "short",
            [prom(f"sum by (alertname, severity) ({firing})", "{{alertname}} ({{severity}})")],
            w=24, stack=True,
        ),
        alert_list(
            "Alert rules",
            "Prometheus alert rules that are firing, pending or in error, read through the Prometheus "
            "datasource's rules API. Each links to its rule; runbook_url annotations link to the runbooks.",
        ),
        row("Delivery"),
        timeseries(
            "Alertmanager alerts by state",
            "Alerts Alertmanager holds: active, suppressed (silenced or inhibited), unprocessed.",
            "short",
            [prom("sum by (state) (alertmanager_alerts)", "{{state}}")],
            w=8,
        ),
        timeseries(
            "Notifications sent by integration",
            "Notifications Alertmanager attempted per minute, and failed ones, by integration (webhook, email...).",
            "cpm",
            [
                prom(f"sum by (integration) (rate(alertmanager_notifications_total[{RI}])) * 60", "{{integration}} sent"),
                prom(f"sum by (integration) (rate(alertmanager_notifications_failed_total[{RI}])) * 60", "{{integration}} failed"),
            ],
            w=8,
        ),
        timeseries(
            "Prometheus → Alertmanager",
            "Alerts Prometheus sent to Alertmanager per minute, and send errors and drops.",
            "cpm",
            [
                prom(f"sum(rate(prometheus_notifications_sent_total[{RI}])) * 60", "sent"),
                prom(f"sum(rate(prometheus_notifications_errors_total[{RI}])) * 60", "errors"),
                prom(f"sum(rate(prometheus_notifications_dropped_total[{RI}])) * 60", "dropped"),
            ],
            w=8,
        ),
        timeseries(
            "Webhook notifications received by Orator",
            "Alert notifications the api's POST /admin/alerts webhook received per minute, by alert name and "
            "status (firing, resolved). Each one is also a log line (\"alert received\") in Elasticsearch.",
            "cpm",
            [prom(f"sum by (alertname, status) (rate(orator_alerts_received_total[{RI}])) * 60", "{{alertname}} {{status}}")],
            w=12,
        ),
        timeseries(
            "Rule evaluation failures",
            "Alerting and recording rule evaluations that failed per minute, by rule group.",
            "cpm",
            [prom(f"sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total[{RI}])) * 60", "{{rule_group}}")],
            w=12,
        ),
        es_logs(
            "Alert notifications (logs)",
            "The api's \"alert received\" log lines (alertname, status, severity, summary), newest first.",
            'message:"alert received"',
        ),
    ]
    return dashboard(
        "orator-alerts",
        "Orator / Alerts",
        "Alerts firing in Prometheus, Alertmanager's delivery, and the notifications Orator's webhook received.",
        items,
    )


DASHBOARDS = {
    "orator-overview.json": overview,
    "orator-speech.json": speech,
    "orator-queue.json": queue,
    "orator-data.json": data_stores,
    "orator-inference.json": inference,
    "orator-infra.json": infrastructure,
    "orator-alerts.json": alerts,
}


if __name__ == "__main__":
    sys.exit(main({name: build() for name, build in DASHBOARDS.items()}, OUT_DIR))
