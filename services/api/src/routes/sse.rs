//! Speech as server-sent events (`stream_format: "sse"`), in the shapes OpenAI documents:
//! `speech.audio.delta` events whose `audio` is base64 of the next bytes of the file, then
//! one `speech.audio.done` with usage. Orator's usage counts are its own, since it has no
//! tokens: input tokens are the input's characters, output tokens are 20 ms frames of audio.

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use orator_core::speech::Audio;
use serde_json::json;

/// Largest piece of a cached file in one delta event (before base64).
const DELTA: usize = 32 * 1024;

/// One event's bytes on the wire.
fn event(data: serde_json::Value) -> Bytes {
    format!("data: {data}\n\n").into()
}

fn delta(audio: &[u8]) -> Bytes {
    let audio = base64::engine::general_purpose::STANDARD.encode(audio);
    event(json!({ "type": "speech.audio.delta", "audio": audio }))
}

/// `speech.audio.done` for `characters` of input and `duration_ms` of audio.
fn done(characters: usize, duration_ms: u32) -> Bytes {
    let output = duration_ms.div_ceil(20) as usize;
    event(json!({
        "type": "speech.audio.done",
        "usage": { "input_tokens": characters, "output_tokens": output, "total_tokens": characters + output },
    }))
}

/// The event stream of `audio` spoken from `characters` of input.
pub fn body(audio: Audio, characters: usize) -> Body {
    match audio {
        Audio::Whole(audio) => {
            let mut events: Vec<Bytes> = audio.bytes.chunks(DELTA).map(delta).collect();
            events.push(done(characters, audio.duration_ms));
            Body::from_stream(futures::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>)))
        }
        Audio::Stream(listener) => {
            let events = futures::stream::unfold(Some(listener), move |listener| async move {
                let mut listener = listener?;
                match listener.next().await {
                    Some(Ok(chunk)) => Some((Ok(delta(&chunk)), Some(listener))),
                    Some(Err(e)) => Some((Err(e), None)),
                    None => Some((Ok(done(characters, listener.duration_ms())), None)),
                }
            });
            Body::from_stream(events.boxed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_openais_shapes() {
        let text = String::from_utf8(delta(b"abc").to_vec()).unwrap();
        assert_eq!(text, "data: {\"audio\":\"YWJj\",\"type\":\"speech.audio.delta\"}\n\n");
        let done: serde_json::Value = serde_json::from_str(
            String::from_utf8(done(10, 1001).to_vec())
                .unwrap()
                .trim()
                .strip_prefix("data: ")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(done["type"], "speech.audio.done");
        assert_eq!(done["usage"]["input_tokens"], 10);
        assert_eq!(done["usage"]["output_tokens"], 51);
        assert_eq!(done["usage"]["total_tokens"], 61);
    }
}
