//! Text to phoneme ids the way Piper's models were trained: espeak-ng's IPA, one character
//! per phoneme (Unicode NFD), clause punctuation kept, each id followed by the pad id.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use unicode_normalization::UnicodeNormalization;

use super::voice::PiperVoice;
use crate::EngineError;

/// Between phonemes.
pub const PAD: char = '_';
/// Start of an utterance.
pub const BOS: char = '^';
/// End of an utterance.
pub const EOS: char = '$';

/// Punctuation that ends a clause inside a sentence; espeak-ng drops it from `--ipa`, but
/// Piper's models read it as a pause and a change of pitch.
const CLAUSE: &[char] = &[',', ';', ':'];

/// The phonemes of one sentence, as espeak-ng's `--ipa` writes them, with the clause and
/// sentence punctuation put back.
pub async fn phonemize(espeak: &Path, voice: &str, sentence: &str) -> Result<String, EngineError> {
    let mut child = crate::espeak::spawn(espeak, &["-q", "--ipa", "-b", "1", "-v", voice, "--stdin"])?;
    let mut stdin = child.stdin.take().expect("piped");
    let text = crate::espeak::neutralise(sentence);
    let feed = async move {
        stdin.write_all(text.as_bytes()).await?;
        stdin.shutdown().await
    };
    let (fed, output) = tokio::join!(feed, child.wait_with_output());
    let output = output?;
    if !output.status.success() {
        return Err(EngineError::Failed {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    fed?;
    let ipa = String::from_utf8_lossy(&output.stdout);
    Ok(with_punctuation(&ipa, sentence))
}

/// Joins espeak-ng's clause lines, each ended by the punctuation that ended it in the text.
/// When espeak-ng split the text differently from the punctuation found here, the clauses
/// are joined with commas: a pause in the right place matters more than which mark made it.
fn with_punctuation(ipa: &str, sentence: &str) -> String {
    let clauses: Vec<String> = ipa
        .lines()
        .map(|l| remove_switches(l.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    let mut marks: Vec<char> = Vec::new();
    let mut chars = sentence.chars().peekable();
    while let Some(c) = chars.next() {
        if CLAUSE.contains(&c) && chars.peek().is_none_or(|n| n.is_whitespace()) {
            marks.push(c);
        }
    }
    let end = sentence
        .trim_end()
        .chars()
        .rev()
        .find(|c| !matches!(c, '"' | '\'' | ')' | '\u{201d}' | '\u{2019}'))
        .filter(|c| matches!(c, '.' | '!' | '?'))
        .unwrap_or('.');
    if marks.len() + 1 != clauses.len() {
        marks = vec![','; clauses.len().saturating_sub(1)];
    }
    marks.push(end);
    let mut out = String::new();
    for (clause, mark) in clauses.iter().zip(marks) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(clause);
        out.push(mark);
    }
    out
}

/// espeak-ng marks words it reads in another language with `(fr)`…`(en)`; the models never
/// saw those marks.
fn remove_switches(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(')') {
            Some(close) if after[..close].chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
                rest = &after[close + 1..];
            }
            _ => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Cuts a sentence's phonemes into pieces of at most `max` characters: at clause marks
/// where one falls in the later two thirds, else between words. One inference's memory grows
/// with its length (about 30 MB per second of audio), so a sentence with no full stop in
/// 4,096 characters must not become one inference.
pub fn chunks(phonemes: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = phonemes.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let head = &rest[..limit];
        let cut = head
            .rfind(CLAUSE)
            .map(|i| i + 1)
            .filter(|&i| i > limit / 3)
            .or_else(|| head.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(limit);
        out.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Phoneme ids for the model: BOS, then each known phoneme followed by the pad, then EOS.
/// Characters the voice does not know are skipped (Piper does the same).
pub fn ids(voice: &PiperVoice, phonemes: &str) -> Vec<i64> {
    let map = &voice.phoneme_ids;
    let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
    ids.extend(&map[&BOS]);
    ids.extend(&map[&PAD]);
    for c in phonemes.nfd() {
        if let Some(known) = map.get(&c) {
            ids.extend(known);
            ids.extend(&map[&PAD]);
        }
    }
    ids.extend(&map[&EOS]);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_and_sentence_punctuation_is_put_back() {
        let ipa = "həlˈoʊ\nwˈɜːld\n";
        assert_eq!(with_punctuation(ipa, "Hello, world!"), "həlˈoʊ, wˈɜːld!");
        assert_eq!(with_punctuation("a\nb\nc\n", "A; b, c?\""), "a; b, c?");
        // espeak-ng split where no mark was found: commas keep the pauses.
        assert_eq!(with_punctuation("a\nb\n", "A b"), "a, b.");
        assert_eq!(with_punctuation("", "..."), "");
        // A comma inside a number is not a clause.
        assert_eq!(with_punctuation("wʌn θaʊzənd\n", "1,000 people."), "wʌn θaʊzənd.");
    }

    #[test]
    fn long_phonemes_are_cut_at_clauses_then_words() {
        assert_eq!(chunks("ab cd, ef gh", 8), ["ab cd,", "ef gh"]);
        assert_eq!(chunks("abc def ghi", 5), ["abc", "def", "ghi"]);
        assert_eq!(chunks("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(chunks("  short  ", 10), ["short"]);
        assert!(chunks("", 10).is_empty());
        let long = "wˈʌn ".repeat(200);
        assert!(chunks(&long, 200).iter().all(|c| c.chars().count() <= 200));
    }

    #[test]
    fn language_switch_marks_are_removed() {
        assert_eq!(remove_switches("(fr)bɔ̃ʒuːʁ(en) ænd"), "bɔ̃ʒuːʁ ænd");
        assert_eq!(remove_switches("a (b c) d"), "a (b c) d");
        assert_eq!(remove_switches("open (x"), "open (x");
    }
}
