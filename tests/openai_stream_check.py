"""Streams long speech through the official `openai` SDK, unmodified, in every format and as
server-sent events, and records when the bytes arrived.

Usage: openai_stream_check.py BASE_URL API_KEY OUT_DIR MODEL

Writes OUT_DIR/stream.<format>, OUT_DIR/sse.mp3 and OUT_DIR/results.json; the Rust test
decodes the files. The SDK has no types for speech events, so they are parsed by the SDK's
own SSE decoder and checked against the shapes OpenAI documents.
"""
import base64
import json
import pathlib
import sys
import time

from openai import OpenAI
from openai._streaming import SSEDecoder

base_url, api_key, out, model = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
client = OpenAI(base_url=base_url, api_key=api_key)

SENTENCE = "Streaming speech reaches the listener sentence by sentence, long before the end. "


def long_text(tag):
    # A different text per request, so each one is synthesised rather than a cache hit.
    return f"This is the {tag} stream. " + SENTENCE * 24


def timed_stream(**params):
    """The body's chunks with the seconds after the request at which each arrived."""
    start = time.monotonic()
    with client.audio.speech.with_streaming_response.create(**params) as response:
        headers = dict(response.headers)
        chunks = [(time.monotonic() - start, chunk) for chunk in response.iter_bytes()]
    return headers, chunks


results = {"formats": {}}
for fmt in ["pcm", "wav", "mp3", "opus", "flac", "aac"]:
    headers, chunks = timed_stream(model=model, voice="alloy", input=long_text(fmt), response_format=fmt)
    assert headers["x-orator-cache"] == "miss", headers
    body = b"".join(chunk for _, chunk in chunks)
    (out / f"stream.{fmt}").write_bytes(body)
    results["formats"][fmt] = {
        "first_s": chunks[0][0],
        "last_s": chunks[-1][0],
        "chunks": len(chunks),
        "bytes": len(body),
        "sample_rate": int(headers["x-sample-rate"]),
        "content_type": headers["content-type"],
    }

# The same request again: a cache hit, the same bytes.
headers, chunks = timed_stream(model=model, voice="alloy", input=long_text("mp3"), response_format="mp3")
assert headers["x-orator-cache"] == "hit", headers
assert b"".join(c for _, c in chunks) == (out / "stream.mp3").read_bytes(), "a repeat gave other bytes"

# Server-sent events.
start = time.monotonic()
events = []
with client.audio.speech.with_streaming_response.create(
    model=model, voice="alloy", input=long_text("sse"), response_format="mp3", stream_format="sse"
) as response:
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    for sse in SSEDecoder().iter_bytes(response.iter_bytes()):
        events.append((time.monotonic() - start, sse.json()))
kinds = [event["type"] for _, event in events]
assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"}, kinds
usage = events[-1][1]["usage"]
assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"], usage
assert usage["input_tokens"] == len(long_text("sse")), usage
(out / "sse.mp3").write_bytes(b"".join(base64.b64decode(event["audio"]) for _, event in events[:-1]))
results["sse"] = {"first_s": events[0][0], "last_s": events[-1][0], "deltas": len(events) - 1, "usage": usage}

(out / "results.json").write_text(json.dumps(results, indent=2))
print(json.dumps(results))
