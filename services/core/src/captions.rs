//! Captions: each sentence's time in the audio, as WebVTT cues whose text is the sentence
//! exactly as it stands in the caller's input (not the text the engine was fed).

use std::fmt::Write;

use crate::db::audio::Cue;

/// `HH:MM:SS.mmm`, as WebVTT wants it.
fn timestamp(ms: u32) -> String {
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// Cue text: one line, with WebVTT's three special characters escaped (`-->` cannot
/// survive that either, since its `>` is escaped).
fn cue_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A WebVTT file for `input` spoken with `cues`; cues whose range is not in `input` (it
/// cannot happen for a job's own audio) are left out.
pub fn webvtt(input: &str, cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (number, cue) in cues.iter().enumerate() {
        let Some(text) = input.get(cue.text_start..cue.text_end) else {
            continue;
        };
        let end = cue.end_ms.max(cue.start_ms + 1);
        let _ = write!(
            out,
            "\n{}\n{} --> {}\n{}\n",
            number + 1,
            timestamp(cue.start_ms),
            timestamp(end),
            cue_text(text)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start_ms: u32, end_ms: u32, text_start: usize, text_end: usize) -> Cue {
        Cue {
            start_ms,
            end_ms,
            text_start,
            text_end,
        }
    }

    #[test]
    fn cues_carry_the_original_text_escaped_on_one_line() {
        let input = "Fish & chips.  A <b>bold</b>\tclaim --> yes.";
        let vtt = webvtt(input, &[cue(0, 1_250, 0, 13), cue(1_500, 3_661_001, 15, input.len())]);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.250\nFish &amp; chips.\n\n\
             2\n00:00:01.500 --> 01:01:01.001\nA &lt;b&gt;bold&lt;/b&gt; claim --&gt; yes.\n"
        );
        assert_eq!(webvtt("short", &[cue(0, 10, 2, 99)]), "WEBVTT\n");
    }
}
