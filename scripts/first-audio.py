#!/usr/bin/env python3
"""Time to first audio and to the last byte of streamed speech, for a long input.

Usage: first-audio.py API_URL API_KEY MODEL[,MODEL...] FORMAT[,FORMAT...] CHARS ROUNDS

Each round sends a different text of CHARS characters (so every request is synthesised),
one request at a time, and reads the answer as it streams. Prints one Markdown row per
model and format: median first byte, median last byte, and their ratio. Standard library
only, so the bench needs nothing beyond python3.
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse

api, key, models, formats, chars, rounds = sys.argv[1:7]
chars, rounds = int(chars), int(rounds)
url = urllib.parse.urlparse(api)

PROSE = (
    "The lighthouse keeper climbed the stairs each evening and lit the lamp. "
    "Ships far out at sea saw the beam and knew where the rocks were. "
    "In winter the storms came often, and the keeper wrote them all down in a book. "
    "Nobody read the book, but the keeper wrote anyway, because the sea deserved a witness. "
)


def text(n):
    body = f"Round {n}. " + PROSE * (chars // len(PROSE) + 1)
    return body[:chars].rsplit(" ", 1)[0] + "."


def stream(model, fmt, n):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    body = json.dumps({"model": model, "voice": "alloy", "input": text(n), "response_format": fmt})
    start = time.monotonic()
    conn.request("POST", "/v1/audio/speech", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"{model}/{fmt}: {response.status} {response.read()[:300]!r}")
    first = None
    size = 0
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        if first is None:
            first = time.monotonic() - start
        size += len(chunk)
    last = time.monotonic() - start
    conn.close()
    return first, last, size, response.getheader("x-orator-cache")


for model in models.split(","):
    for fmt in formats.split(","):
        firsts, lasts = [], []
        for n in range(rounds):
            first, last, size, cache = stream(model, fmt, f"{model}-{fmt}-{n}-{time.time_ns()}")
            assert cache == "miss", cache
            firsts.append(first)
            lasts.append(last)
        f, l = statistics.median(firsts), statistics.median(lasts)
        print(f"| {model} | {fmt} | {f * 1000:.0f} ms | {l * 1000:.0f} ms | {f / l:.3f} |")
