//! How deep JSON text nests objects and arrays, bounded before the text is decoded: arrow-json
//! describes a value that does not fit its column by printing it, recursively, so a record a
//! few million arrays deep would exhaust the stack (it did, at two million, on an 8 MiB stack).
//! Records deeper than [`MAX_JSON_DEPTH`] go to the bad records instead.
//!
//! Reading every byte to follow strings and brackets costs a third of decoding, so the fast
//! path bounds the depth instead of measuring it: a value can nest no deeper than the opening
//! brackets it holds. [`bounded_pieces`] cuts a buffer at line breaks into pieces of at most
//! `limit` opening brackets (counted with vector instructions, strings or not); the decoder then
//! takes the pieces one at a time and checks that no value is left open at a piece's end, so
//! every value lies within one piece and is no deeper than the limit. Only a line with more
//! opening brackets than the limit is read byte by byte ([`json_too_deep`]).
//!
//! ```text
//!   buffer ─► pieces (≤ limit '{'/'[' each, cut after '\n') ─► decoder, piece by piece
//!                │                                               └─ a value open at a piece's end:
//!                └─ a line with more: json_too_deep(line)           the careful path
//! ```

use std::ops::Range;

/// The deepest nesting of JSON objects and arrays a record may have.
pub(crate) const MAX_JSON_DEPTH: usize = 128;

/// Whether `bytes` nest objects and arrays deeper than `limit` (strings and their escapes are
/// skipped; unbalanced records may make a buffer look deeper than its records, which only
/// sends it to the record-by-record path).
pub(crate) fn json_too_deep(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A piece of a buffer: its bytes, and whether it has more opening brackets than the limit
/// (then its depth must be measured with [`json_too_deep`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) range: Range<usize>,
    pub(crate) measure: bool,
}

/// The first window tried, and the bounds it adapts between.
const FIRST_WINDOW: usize = 8 << 10;
const MIN_WINDOW: usize = 256;
const MAX_WINDOW: usize = 1 << 20;

/// Cut `bytes` into consecutive pieces that end just after a line break (the last one at the
/// end of `bytes`), each with at most `limit` opening brackets, or a single line marked
/// `measure` when that line alone has more.
pub(crate) fn bounded_pieces(bytes: &[u8], limit: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    let (mut start, mut window) = (0, FIRST_WINDOW);
    while start < bytes.len() {
        let end = (start + window).min(bytes.len());
        let opens = opening_brackets(&bytes[start..end]);
        if opens > limit && window > MIN_WINDOW {
            window /= 2;
            continue;
        }
        if opens <= limit {
            if end == bytes.len() {
                out.push(Piece {
                    range: start..end,
                    measure: false,
                });
                break;
            }
            if let Some(nl) = memchr::memrchr(b'\n', &bytes[start..end]) {
                out.push(Piece {
                    range: start..start + nl + 1,
                    measure: false,
                });
                start += nl + 1;
                window = (window * 2).min(MAX_WINDOW);
                continue;
            }
        }
        // The line is longer than the window, or holds too many brackets: a piece of its own.
        let line_end =
            memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        out.push(Piece {
            range: start..line_end,
            measure: opening_brackets(&bytes[start..line_end]) > limit,
        });
        start = line_end;
    }
    out
}

/// How many `{` and `[` bytes `bytes` holds (`& 0xDF` folds `{` onto `[`). Counted in runs of
/// 255 into a byte, which the compiler turns into vector compares and adds.
fn opening_brackets(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|run| run.iter().fold(0u8, |n, &b| n + u8::from(b & 0xDF == b'[')) as usize)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(json_too_deep(deep.as_bytes(), MAX_JSON_DEPTH));
        let quoted = format!("{{\"a\":\"{}\"}}", "[".repeat(500));
        assert!(!json_too_deep(quoted.as_bytes(), MAX_JSON_DEPTH));
        // An escaped quote does not end the string; an escaped backslash before a quote does.
        let escaped = format!("{{\"a\":\"\\\"{}\"}}", "[".repeat(500));
        assert!(!json_too_deep(escaped.as_bytes(), MAX_JSON_DEPTH));
        let ended = format!("{{\"a\":\"\\\\\"{}", "[".repeat(200));
        assert!(json_too_deep(ended.as_bytes(), MAX_JSON_DEPTH));
        // A string that never ends (or ends in a lone backslash) holds the rest.
        let open = format!("{{\"a\":\"{}", "[".repeat(200));
        assert!(!json_too_deep(open.as_bytes(), MAX_JSON_DEPTH));
        assert!(!json_too_deep(b"{\"a\":\"\\", MAX_JSON_DEPTH));
        let lines = format!("{}\n", "{\"a\":[[[1]]]}").repeat(100);
        assert!(!json_too_deep(lines.as_bytes(), 5));
    }

    #[test]
    fn opening_brackets_are_counted_past_255() {
        let text = "{[}]a{".repeat(1000);
        assert_eq!(opening_brackets(text.as_bytes()), 3000);
        assert_eq!(opening_brackets(b""), 0);
    }

    #[test]
    fn a_dense_line_is_a_piece_to_measure() {
        let dense = format!("{{\"a\":{}}}", "[1],".repeat(300));
        let text = format!("{{\"a\":1}}\n{dense}\n{{\"b\":2}}\n");
        let pieces = bounded_pieces(text.as_bytes(), 128);
        let measured: Vec<&str> = pieces
            .iter()
            .filter(|p| p.measure)
            .map(|p| &text[p.range.clone()])
            .collect();
        assert_eq!(measured, vec![format!("{dense}\n")]);
    }

    proptest! {
        /// The pieces cover the buffer in order, end after line breaks, and hold at most
        /// `limit` opening brackets unless they are one line marked to be measured.
        #[test]
        fn pieces_cover_the_buffer_within_the_limit(
            lines in proptest::collection::vec(
                (0usize..40, 0usize..2000, any::<bool>()), 0..60),
            limit in 1usize..64,
        ) {
            let mut text = Vec::new();
            for (brackets, filler, newline) in lines {
                text.extend(std::iter::repeat_n(b'[', brackets));
                text.extend(std::iter::repeat_n(b'a', filler));
                if newline {
                    text.push(b'\n');
                }
            }
            let pieces = bounded_pieces(&text, limit);
            let mut at = 0;
            for (i, p) in pieces.iter().enumerate() {
                prop_assert_eq!(p.range.start, at);
                prop_assert!(p.range.end > p.range.start);
                let bytes = &text[p.range.clone()];
                if i + 1 < pieces.len() {
                    prop_assert_eq!(bytes.last(), Some(&b'\n'));
                }
                let opens = bytes.iter().filter(|b| **b == b'[').count();
                prop_assert_eq!(p.measure, opens > limit);
                if p.measure {
                    prop_assert!(!bytes[..bytes.len() - 1].contains(&b'\n'), "a measured piece is one line");
                }
                at = p.range.end;
            }
            prop_assert_eq!(at, text.len());
        }
    }
}
