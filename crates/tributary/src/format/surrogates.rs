//! arrow-json 59 reads some escaped UTF-16 surrogate pairs as the wrong character: it joins the
//! two halves with `|` where `+` is meant, so a pair whose high half has bit 6 set comes out
//! 0x10000 too low (`\ud840\udc00`, U+20000, the first of CJK extension B, reads as U+10000).
//! Until that is mended upstream, such pairs are written as the character itself (its UTF-8
//! bytes) before arrow-json reads the text. Nothing else changes: other escapes, bytes outside
//! strings and line breaks stay where they are, so records keep their lines.

use std::borrow::Cow;

/// `text` with every escaped surrogate pair arrow-json would misread written as its character;
/// borrowed as it is when there is none (the common case, found with one vector search).
pub(crate) fn mend_surrogates(text: &[u8]) -> Cow<'_, [u8]> {
    if !memchr::memmem::find_iter(text, b"\\u").any(|at| misread_high(text, at).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let (mut i, mut in_string) = (0, false);
    while i < text.len() {
        let c = text[i];
        match c {
            // A string never spans lines: a broken line does not confuse the next one.
            b'\n' => in_string = false,
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if let Some(ch) = misread_pair(text, i) {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += 12;
                    continue;
                }
                // Any other escape, copied whole so that `\"` does not end the string.
                if let Some(&next) = text.get(i + 1).filter(|n| **n != b'\n') {
                    out.extend_from_slice(&[c, next]);
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex4(text: &[u8], at: usize) -> Option<u32> {
    text.get(at..at + 4)?
        .iter()
        .try_fold(0u32, |v, b| Some(v * 16 + (*b as char).to_digit(16)?))
}

/// The high half of the `\uXXXX` at `at` when arrow-json would misread a pair it starts.
fn misread_high(text: &[u8], at: usize) -> Option<u32> {
    let high = hex4(text, at + 2)?;
    ((0xD800..0xDC00).contains(&high) && (high - 0xD800) & 0x40 != 0).then_some(high)
}

/// The character of the pair `\uHIGH\uLOW` at `at`, when arrow-json would misread it.
fn misread_pair(text: &[u8], at: usize) -> Option<char> {
    let high = misread_high(text, at)?;
    if text.get(at..at + 2)? != b"\\u" || text.get(at + 6..at + 8)? != b"\\u" {
        return None;
    }
    let low = hex4(text, at + 8)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn arrow_reads(text: &[u8]) -> Vec<String> {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let mut d = arrow::json::ReaderBuilder::new(schema)
            .build_decoder()
            .unwrap();
        d.decode(text).unwrap();
        let b = d.flush().unwrap().unwrap();
        b.column(0)
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    }

    #[test]
    fn misread_pairs_are_written_as_their_characters() {
        let text = concat!(
            "{\"s\":\"\\ud840\\udc00 \\uD869\\uDED6 \\udbff\\udfff\"}\n",
            "{\"s\":\"\\ud83d\\ude00 \\\\ud840\\\\udc00 \\\" \\ud840\\udc00\"}\n",
        );
        let mended = mend_surrogates(text.as_bytes());
        assert!(matches!(mended, Cow::Owned(_)));
        assert_eq!(
            arrow_reads(&mended),
            vec![
                "\u{20000} \u{2A6D6} \u{10FFFF}".to_string(),
                "\u{1F600} \\ud840\\udc00 \" \u{20000}".to_string(),
            ]
        );
        // The bug this works around, so that the mending goes when arrow-json is fixed.
        assert_eq!(
            arrow_reads(text.as_bytes())[0].chars().next(),
            Some('\u{10000}')
        );
    }

    #[test]
    fn text_without_misread_pairs_is_left_as_it_is() {
        for text in [
            "{\"s\":\"\\ud83d\\ude00 \\u00e9\"}\n",
            "{\"s\":\"plain\"}\n",
            "\\ud840\\udc00 outside a string\n",
        ] {
            let mended = mend_surrogates(text.as_bytes());
            if let Cow::Owned(o) = &mended {
                // Outside a string nothing is rewritten even when the search found a pair.
                assert_eq!(o, text.as_bytes());
            }
        }
    }
}
