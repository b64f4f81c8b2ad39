"""Drives Orator with the official `openai` SDK, unmodified: plain and streaming speech, and
today's contract (gpt-4o-mini-tts, marin and cedar, the voice object, instructions, aac).

Usage: openai_sdk_check.py BASE_URL API_KEY OUT_DIR
"""
import pathlib
import sys

from openai import OpenAI

base_url, api_key, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
client = OpenAI(base_url=base_url, api_key=api_key)

plain = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the OpenAI SDK.")
(out / "plain.mp3").write_bytes(plain.content)

with client.audio.speech.with_streaming_response.create(
    model="tts-1", voice="coral", input="Streaming works too.", response_format="wav"
) as response:
    response.stream_to_file(out / "streamed.wav")

# gpt-4o-mini-tts with a new voice name, instructions (accepted, not applied) and aac.
with client.audio.speech.with_streaming_response.create(
    model="gpt-4o-mini-tts",
    voice="marin",
    input="Today's contract, in AAC.",
    instructions="Speak like a calm radio host.",
    response_format="aac",
) as response:
    assert response.headers["x-orator-instructions"] == "ignored", response.headers
    assert response.headers["content-type"] == "audio/aac", response.headers
    response.stream_to_file(out / "contract.aac")

# The voice object, with the dated model name.
dated = client.audio.speech.create(
    model="gpt-4o-mini-tts-2025-12-15", voice={"id": "cedar"}, input="A voice object.", response_format="wav"
)
(out / "object.wav").write_bytes(dated.content)

try:
    client.audio.speech.create(model="tts-1", voice="no-such-voice", input="x")
except Exception as error:  # the SDK raises BadRequestError carrying our JSON body
    assert getattr(error, "status_code", None) == 400, error
    assert error.body["param"] == "voice", error.body
else:
    raise SystemExit("an unknown voice was accepted")
print("openai SDK: ok")
