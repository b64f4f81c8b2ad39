// Orator's web console: the playground and the live status page. Plain JavaScript, no
// dependencies: everything comes from the API this page is served by, and from Prometheus
// and Alertmanager when /console/config.json names them.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "orator.apiKey";

// The SLOs of monitoring/prometheus/slos.yaml: with Prometheus, the SLI is read from the
// recording rules (1 day), the budget left from the 3-day error ratio (the share of the
// budget a month at that rate would leave); without it, from the service's own numbers.
const SLOS = [
  { id: "api_availability", title: "API availability", objective: 0.995 },
  { id: "api_latency", title: "API latency (1 s)", objective: 0.99 },
  { id: "job_success", title: "Job success", objective: 0.99 },
  { id: "job_latency", title: "Job latency (10 s)", objective: 0.99 },
];

let config = { jaeger_url: null, prometheus_url: null, alertmanager_url: null, refresh_seconds: 5 };
let audioUrl = null;
let timer = null;

function key() {
  return sessionStorage.getItem(KEY) || "";
}

function authHeaders() {
  return key() ? { Authorization: `Bearer ${key()}` } : {};
}

function text(el, value) {
  el.textContent = value;
}

function percent(x, digits = 2) {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : "–";
}

function ms(x) {
  return `${Math.round(x)} ms`;
}

// The API's error shape, {"error": {"message", "code", "param"}}, as one sentence.
async function errorText(response) {
  try {
    const body = await response.json();
    const e = body.error || {};
    const code = e.code ? ` (${e.code}${e.param ? `, ${e.param}` : ""})` : "";
    return `${response.status}: ${e.message || response.statusText}${code}`;
  } catch {
    return `${response.status}: ${response.statusText}`;
  }
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

function fill(table, rows, empty) {
  const body = table.tBodies[0];
  body.replaceChildren(...(rows.length ? rows.map(row) : [row([empty])]));
  if (!rows.length) body.rows[0].cells[0].colSpan = table.tHead.rows[0].cells.length;
}

function badge(status) {
  const span = document.createElement("span");
  span.className = `badge ${status}`;
  span.textContent = status;
  return span;
}

// --- pages ----------------------------------------------------------------------------

function showPage() {
  const page = location.hash === "#status" ? "status" : "playground";
  for (const name of ["playground", "status"]) {
    $(`page-${name}`).hidden = name !== page;
    const link = $(`nav-${name}`);
    if (name === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clearInterval(timer);
  if (page === "status") {
    refresh();
    timer = setInterval(refresh, config.refresh_seconds * 1000);
  }
}

// --- playground -----------------------------------------------------------------------

async function loadVoices() {
  if (!key()) return;
  const response = await fetch("/v1/audio/voices", { headers: authHeaders() });
  if (!response.ok) {
    showError(`Voices: ${await errorText(response)}`);
    return;
  }
  const { data } = await response.json();
  const groups = new Map();
  for (const v of data) {
    const label = `${v.engine} · ${v.language}`;
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(v);
  }
  const select = $("voice");
  const chosen = select.value;
  const openai = document.createElement("optgroup");
  openai.label = "OpenAI names";
  for (const name of new Set(data.flatMap((v) => v.openai_aliases))) {
    openai.append(new Option(name, `${name}|tts-1`));
  }
  const options = [openai];
  for (const [label, voices] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const group = document.createElement("optgroup");
    group.label = label;
    for (const v of voices) group.append(new Option(`${v.name} (${v.id})`, `${v.id}|${v.models[0] || "tts-1"}`));
    options.push(group);
  }
  select.replaceChildren(...options);
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "alloy|tts-1";
}

function showError(message) {
  const box = $("speak-error");
  box.textContent = message;
  box.hidden = !message;
}

async function speak(event) {
  event.preventDefault();
  showError("");
  if (!key()) {
    showError("Enter an API key first (the demo's is orator-dev-key).");
    $("api-key").focus();
    return;
  }
  const [voice, model] = $("voice").value.split("|");
  const body = {
    model: model || "tts-1",
    voice,
    input: $("input").value,
    response_format: $("format").value,
    speed: Number($("speed").value),
  };
  const button = $("speak");
  button.disabled = true;
  button.textContent = "Speaking…";
  const started = performance.now();
  try {
    const response = await fetch("/v1/audio/speech", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      showError(await errorText(response));
      return;
    }
    // The answer streams sentence by sentence. MP3 plays as it arrives (Media Source
    // Extensions); the other formats once complete.
    const type = response.headers.get("content-type") || "audio/mpeg";
    const player = $("player");
    const stream = streamingPlayer(type);
    player.dataset.streamed = String(Boolean(stream));
    const reader = response.body.getReader();
    const chunks = [];
    let firstByte = null;
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (firstByte === null) {
        firstByte = performance.now() - started;
        if (stream) {
          $("result").hidden = false;
          stream.append(value).then(() => {
            player.dataset.playableAfterMs = String(Math.round(performance.now() - started));
            player.play().catch(() => {});
          });
        }
      } else if (stream) {
        stream.append(value);
      }
      chunks.push(value);
      size += value.length;
    }
    const total = performance.now() - started;
    player.dataset.completeAfterMs = String(Math.round(total));
    if (stream) {
      await stream.end();
    } else {
      if (audioUrl) URL.revokeObjectURL(audioUrl);
      audioUrl = URL.createObjectURL(new Blob(chunks, { type }));
      player.src = audioUrl;
    }
    text($("first-byte"), firstByte === null ? "–" : ms(firstByte));
    text($("latency"), ms(total));
    text($("cache"), response.headers.get("x-orator-cache") || "–");
    text($("size"), `${(size / 1024).toFixed(1)} KiB (${type})`);
    showTrace(response.headers.get("traceparent"));
    $("result").hidden = false;
  } catch (e) {
    showError(`The request failed: ${e.message}`);
  } finally {
    button.disabled = false;
    button.textContent = "Speak";
  }
}

// Feeds the audio element through a MediaSource as chunks arrive, or null when the browser
// cannot play `type` that way. append() and end() queue behind each other, as a SourceBuffer
// takes one append at a time.
function streamingPlayer(type) {
  if (type !== "audio/mpeg" || !window.MediaSource || !MediaSource.isTypeSupported(type)) return null;
  const source = new MediaSource();
  if (audioUrl) URL.revokeObjectURL(audioUrl);
  audioUrl = URL.createObjectURL(source);
  $("player").src = audioUrl;
  const open = new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
  let buffer = null;
  let queue = open;
  const appendOne = (chunk) =>
    new Promise((resolve, reject) => {
      buffer.addEventListener("updateend", resolve, { once: true });
      buffer.addEventListener("error", () => reject(new Error("the browser could not decode the audio")), { once: true });
      buffer.appendBuffer(chunk);
    });
  return {
    append(chunk) {
      queue = queue.then(() => {
        buffer = buffer || source.addSourceBuffer(type);
        return appendOne(chunk);
      });
      return queue;
    },
    end() {
      queue = queue.then(() => source.readyState === "open" && source.endOfStream());
      return queue;
    },
  };
}

function showTrace(traceparent) {
  const cell = $("trace");
  const id = traceparent ? traceparent.split("-")[1] : null;
  if (!id) {
    text(cell, "–");
    return;
  }
  if (config.jaeger_url) {
    const a = document.createElement("a");
    a.href = `${config.jaeger_url}/trace/${id}`;
    a.textContent = id;
    a.target = "_blank";
    a.rel = "noopener";
    cell.replaceChildren(a);
  } else {
    cell.replaceChildren(Object.assign(document.createElement("code"), { textContent: id }));
  }
}

// --- status ---------------------------------------------------------------------------

async function json(url, options) {
  const response = await fetch(url, options);
  if (!response.ok && response.status !== 503) throw new Error(await errorText(response));
  return response.json();
}

async function promQuery(expr) {
  const url = `${config.prometheus_url}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const body = await json(url);
  const value = body.data && body.data.result[0] && Number(body.data.result[0].value[1]);
  return Number.isFinite(value) ? value : NaN;
}

async function refreshHealth() {
  const report = await json("/health");
  const readiness = $("readiness");
  readiness.textContent = report.status === "unhealthy" ? "not ready" : `ready (${report.status})`;
  readiness.className = `badge ${report.status}`;
  fill(
    $("checks"),
    report.checks.map((c) => [c.name, badge(c.status), `${c.latency_ms.toFixed(1)} ms${c.error ? ` — ${c.error}` : ""}`]),
    "no checks",
  );
}

function budgetLeft(errorRatio, objective) {
  return 1 - errorRatio / (1 - objective);
}

async function refreshSlos(summary) {
  let rows;
  if (config.prometheus_url) {
    text($("slo-source"), `From Prometheus (${config.prometheus_url}): SLI over 1 day, budget left at the 3-day error rate.`);
    rows = await Promise.all(
      SLOS.map(async (s) => {
        const [day, threeDays] = await Promise.all([
          promQuery(`max(slo:${s.id}:error_ratio_rate1d)`),
          promQuery(`max(slo:${s.id}:error_ratio_rate3d)`),
        ]);
        return [s.title, percent(1 - day, 3), percent(s.objective, 1), percent(budgetLeft(threeDays, s.objective), 0)];
      }),
    );
  } else {
    text($("slo-source"), "Prometheus is not configured (ORATOR_CONSOLE_PROMETHEUS_URL): the service's own counts since it started; latency SLIs need Prometheus.");
    const requests = summary.requests.total;
    const availability = requests ? 1 - summary.requests.server_errors / requests : NaN;
    const jobs = summary.jobs || {};
    const finished = (jobs.succeeded || 0) + (jobs.failed || 0);
    const success = finished ? (jobs.succeeded || 0) / finished : NaN;
    const sli = { api_availability: availability, job_success: success };
    rows = SLOS.map((s) => {
      const value = sli[s.id];
      return value === undefined
        ? [s.title, "needs Prometheus", percent(s.objective, 1), "–"]
        : [s.title, percent(value, 3), percent(s.objective, 1), percent(budgetLeft(1 - value, s.objective), 0)];
    });
  }
  fill($("slos"), rows, "no SLOs");
}

function refreshSummary(summary) {
  const queues = Array.isArray(summary.queues) ? summary.queues : [];
  fill(
    $("queues"),
    queues.map((q) => [q.queue, String(q.messages), String(q.consumers)]),
    summary.queues && summary.queues.error ? `RabbitMQ: ${summary.queues.error}` : "no queues",
  );
  const age = summary.outbox.oldest_age_seconds;
  text($("outbox"), `${summary.outbox.pending} pending${summary.outbox.pending ? `, oldest ${Number(age).toFixed(0)} s` : ""}`);
  const a = summary.admission;
  text($("in-flight"), `${a.in_flight} of ${a.limit}`);
  text($("waiters"), String(a.sync_waiters));
  text($("shed"), String(a.rejected));
  text($("requests"), `${summary.requests.total} (${summary.requests.server_errors} 5xx, ${summary.requests.client_errors} 4xx)`);
  text($("hit-ratio"), percent(summary.cache.hit_ratio, 1));
}

async function refreshAlerts() {
  const list = $("alerts");
  if (!config.alertmanager_url) {
    list.replaceChildren(Object.assign(document.createElement("li"), {
      textContent: "Alertmanager is not configured (ORATOR_CONSOLE_ALERTMANAGER_URL): unavailable.",
    }));
    return;
  }
  const alerts = await json(`${config.alertmanager_url}/api/v2/alerts?active=true&silenced=false&inhibited=false`);
  const items = alerts.map((a) => {
    const li = document.createElement("li");
    li.append(badge(a.labels.severity || "alert"), ` ${a.labels.alertname}: ${(a.annotations && a.annotations.summary) || ""}`);
    return li;
  });
  list.replaceChildren(...(items.length ? items : [Object.assign(document.createElement("li"), { textContent: "none firing" })]));
}

async function refreshJobs() {
  if (!key()) {
    fill($("jobs"), [], "enter an API key to see your jobs");
    return;
  }
  const page = await json("/v1/jobs?limit=10", { headers: authHeaders() });
  fill(
    $("jobs"),
    // Job ids are UUIDv7: their first digits are the time, the same for jobs made together.
    page.data.map((j) => [
      Object.assign(document.createElement("code"), { textContent: `…${j.id.slice(-8)}`, title: j.id }),
      badge(j.status),
      j.voice,
      new Date(j.created_at).toLocaleTimeString(),
    ]),
    "no jobs yet",
  );
}

// Each part fails on its own: an unreachable Alertmanager does not hide the queues.
async function refresh() {
  const parts = [
    refreshHealth(),
    json("/monitoring/summary").then((summary) => {
      refreshSummary(summary);
      return refreshSlos(summary);
    }),
    refreshAlerts(),
    refreshJobs(),
  ];
  const results = await Promise.allSettled(parts);
  const sections = ["checks", "slos", "alerts", "jobs"];
  results.forEach((r, i) => {
    if (r.status === "rejected") {
      const el = $(sections[i]);
      const message = `unavailable: ${r.reason.message}`;
      if (el.tBodies) fill(el, [], message);
      else el.replaceChildren(Object.assign(document.createElement("li"), { textContent: message }));
    }
  });
  text($("updated"), new Date().toLocaleTimeString());
}

// --- start ----------------------------------------------------------------------------

async function start() {
  try {
    config = { ...config, ...(await json("/console/config.json")) };
  } catch {
    // The defaults: no monitoring links.
  }
  text($("refresh"), String(config.refresh_seconds));
  $("api-key").value = key();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    showError("");
    loadVoices();
    if (location.hash === "#status") refresh();
  });
  $("speed").addEventListener("input", () => text($("speed-value"), Number($("speed").value).toFixed(2)));
  $("speak-form").addEventListener("submit", speak);
  window.addEventListener("hashchange", showPage);
  showPage();
  loadVoices();
}

start();
