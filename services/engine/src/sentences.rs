//! Text cut into sentences, for engines that synthesise one sentence at a time, with the
//! pause that the end of each implies.

use std::ops::Range;
use std::time::Duration;

/// One sentence: where it is in the text and the silence that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    /// Byte range in the original text, trimmed of white space.
    pub range: Range<usize>,
    /// Silence after it: longer after a paragraph than after a sentence.
    pub pause: Duration,
}

/// After `.`, `!`, `?` or a line break.
const SENTENCE_PAUSE: Duration = Duration::from_millis(250);
/// After a blank line.
const PARAGRAPH_PAUSE: Duration = Duration::from_millis(600);

/// Splits at `.`, `!` or `?` (and closing quotes or brackets after them) followed by white
/// space, and at line breaks. Decimal points (`3.5`) and marks inside words stay put.
pub fn split(text: &str) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let end = at + c.len_utf8();
        let cut = match c {
            '\n' => true,
            '.' | '!' | '?' | '\u{3002}' => {
                // Closing quotes and brackets belong to the sentence they close.
                let mut end_at = end;
                while let Some(&(i, q)) = chars.peek() {
                    if matches!(q, '"' | '\'' | ')' | ']' | '\u{201d}' | '\u{2019}' | '.' | '!' | '?') {
                        end_at = i + q.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let followed_by_space = chars.peek().is_none_or(|&(_, n)| n.is_whitespace());
                if followed_by_space {
                    push(text, start..end_at, &mut sentences, SENTENCE_PAUSE);
                    start = end_at;
                }
                continue;
            }
            _ => false,
        };
        if cut {
            push(text, start..end, &mut sentences, SENTENCE_PAUSE);
            start = end;
            // A blank line ends a paragraph: the sentence before it gets the longer pause.
            let blank = text[end..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .filter(|&c| c == '\n')
                .count()
                > 0;
            if blank && let Some(last) = sentences.last_mut() {
                last.pause = PARAGRAPH_PAUSE;
            }
        }
    }
    push(text, start..text.len(), &mut sentences, SENTENCE_PAUSE);
    if let Some(last) = sentences.last_mut() {
        // Nothing follows the last sentence.
        last.pause = Duration::ZERO;
    }
    sentences
}

fn push(text: &str, range: Range<usize>, sentences: &mut Vec<Sentence>, pause: Duration) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if trimmed.chars().any(char::is_alphanumeric) {
        let start = range.start + lead;
        sentences.push(Sentence {
            range: start..start + trimmed.len(),
            pause,
        });
    } else if !trimmed.is_empty()
        && let Some(last) = sentences.last_mut()
    {
        // Punctuation alone joins the sentence before (an ellipsis, a stray mark).
        last.range.end = range.start + lead + trimmed.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split(text).into_iter().map(|s| &text[s.range]).collect()
    }

    #[test]
    fn sentences_end_at_marks_followed_by_space_and_at_line_breaks() {
        assert_eq!(
            texts("Hello there. It costs 3.50 dollars! Really? \"Yes.\" Done"),
            ["Hello there.", "It costs 3.50 dollars!", "Really?", "\"Yes.\"", "Done"]
        );
        assert_eq!(texts("one\ntwo\n\nthree..."), ["one", "two", "three..."]);
        assert_eq!(texts("Wait... what?!"), ["Wait...", "what?!"]);
        assert_eq!(texts("  "), Vec::<&str>::new());
        assert_eq!(texts("Hi. ... !"), ["Hi. ... !"]);
    }

    #[test]
    fn pauses_follow_the_kind_of_break() {
        let s = split("First.\n\nSecond. Third.");
        let pauses: Vec<_> = s.iter().map(|s| s.pause).collect();
        assert_eq!(pauses, [PARAGRAPH_PAUSE, SENTENCE_PAUSE, Duration::ZERO]);
    }
}
