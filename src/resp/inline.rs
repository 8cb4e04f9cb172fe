//! Inline commands: a request that does not start with `*` is one text line, split into words the
//! way Redis splits it (spaces separate; "double" and 'single' quotes group, with escapes).
//! redis-benchmark's `PING_INLINE` and people typing into `nc` send these.

use bytes::{Bytes, BytesMut};

use super::parse::{ProtocolError, Words};

/// Takes one inline line from the front of `buf` and splits it. `Ok(None)`: the line is not
/// complete yet. A blank line gives no words.
///
/// # Errors
/// A line longer than `max_len` ("too big inline request") or with unbalanced quotes.
pub fn take_line(buf: &mut BytesMut, max_len: usize) -> Result<Option<Words>, ProtocolError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > max_len {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    if end > max_len {
        return Err(ProtocolError::new("too big inline request"));
    }
    let line = buf.split_to(end + 1);
    let mut text = &line[..end];
    if let Some(stripped) = text.strip_suffix(b"\r") {
        text = stripped;
    }
    split_args(text).map(Some)
}

/// Splits a line into words like Redis's `sdssplitargs`.
///
/// # Errors
/// Unbalanced quotes, or a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Result<Words, ProtocolError> {
    let mut words = Words::new();
    let mut pos = 0;
    loop {
        while pos < line.len() && line[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= line.len() {
            return Ok(words);
        }
        let (word, next) = word_at(line, pos)?;
        words.push(Bytes::from(word));
        pos = next;
    }
}

/// Reads one word starting at `pos`; returns it and the position after it.
fn word_at(line: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    let mut word = Vec::new();
    while pos < line.len() && !line[pos].is_ascii_whitespace() {
        match line[pos] {
            b'"' => pos = quoted(line, pos + 1, b'"', &mut word)?,
            b'\'' => pos = quoted(line, pos + 1, b'\'', &mut word)?,
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
    Ok((word, pos))
}

/// Reads a quoted part from `pos` (after the opening quote) up to its closing `quote`, which must
/// be followed by a space or the end of the line. Returns the position after the quote.
fn quoted(
    line: &[u8],
    mut pos: usize,
    quote: u8,
    word: &mut Vec<u8>,
) -> Result<usize, ProtocolError> {
    loop {
        let Some(&b) = line.get(pos) else {
            return Err(ProtocolError::new("unbalanced quotes in request"));
        };
        if b == quote {
            return match line.get(pos + 1) {
                Some(next) if !next.is_ascii_whitespace() => {
                    Err(ProtocolError::new("unbalanced quotes in request"))
                }
                _ => Ok(pos + 1),
            };
        }
        if b == b'\\' && pos + 1 < line.len() {
            pos += escape(line, pos + 1, quote, word);
        } else {
            word.push(b);
            pos += 1;
        }
    }
}

/// Decodes the escape after a backslash at `pos - 1`; returns how many bytes it used (with the
/// backslash).
fn escape(line: &[u8], pos: usize, quote: u8, word: &mut Vec<u8>) -> usize {
    let c = line[pos];
    if quote == b'\'' {
        word.push(if c == b'\'' { b'\'' } else { b'\\' });
        return if c == b'\'' { 2 } else { 1 };
    }
    if c == b'x' {
        let hex = line
            .get(pos + 1..pos + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            word.push(v);
            return 4;
        }
    }
    word.push(match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 8,
        b'a' => 7,
        other => other,
    });
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_args(line.as_bytes())
            .unwrap()
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    #[test]
    fn splits_like_redis() {
        assert_eq!(words("PING"), ["PING"]);
        assert_eq!(words("  incrby  a   5 "), ["incrby", "a", "5"]);
        assert_eq!(words(r#"echo "a b\n" 'c\'d'"#), ["echo", "a b\n", "c'd"]);
        assert_eq!(words(r#"echo "\x41\x4a""#), ["echo", "AJ"]);
        assert!(words("").is_empty());
        assert!(split_args(b"echo \"open").is_err());
        assert!(split_args(b"echo \"a\"b").is_err());
    }

    #[test]
    fn takes_whole_lines_only() {
        let mut buf = BytesMut::from(&b"PING\r\nINCR"[..]);
        let first = take_line(&mut buf, 100).unwrap().unwrap();
        assert_eq!(first.as_slice(), [Bytes::from_static(b"PING")]);
        assert_eq!(take_line(&mut buf, 100).unwrap(), None);
        assert_eq!(&buf[..], b"INCR");
        let mut long = BytesMut::from(&[b'a'; 200][..]);
        assert!(take_line(&mut long, 100).is_err());
    }
}
