"""Drives Orator with the official `openai` SDK, unmodified: plain and streaming speech.

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

try:
    client.audio.speech.create(model="tts-1", voice="no-such-voice", input="x")
except Exception as error:  # the SDK raises BadRequestError carrying our JSON body
    assert getattr(error, "status_code", None) == 400, error
    assert error.body["param"] == "voice", error.body
else:
    raise SystemExit("an unknown voice was accepted")
print("openai SDK: ok")
