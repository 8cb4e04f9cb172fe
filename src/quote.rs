//! Keys in text output, quoted the way redis-cli quotes strings when they need it.
//!
//! A key may hold any bytes a client sends: newlines, terminal escapes, quotes. Printed raw, such a
//! key could forge lines of `status` (`Node on port 9999:`) or drive the operator's terminal. A key
//! of plain printable ASCII (`0x21..=0x7e`, not starting with `"`) prints as it is, so the seed's
//! `a: 1` is unchanged; any other key prints in double quotes with redis-cli's escapes: `\n` `\r`
//! `\t` `\a` `\b` `\"` `\\`, and `\xHH` for every other byte outside printable ASCII (non-ASCII
//! UTF-8 included). A space stays a space inside the quotes.

use std::borrow::Cow;
use std::fmt::Write;

/// `key` as text output shows it: unchanged when plain, else quoted and escaped.
pub fn key(key: &str) -> Cow<'_, str> {
    if is_plain(key) {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(quoted(key))
    }
}

/// `key` between single quotes for error messages (`'a'`), or quoted and escaped (`"a\nb"`)
/// when it is not plain.
pub fn in_message(key: &str) -> String {
    if is_plain(key) {
        format!("'{key}'")
    } else {
        quoted(key)
    }
}

/// Whether `key` prints as it is: non-empty printable ASCII without spaces, not starting with `"`.
fn is_plain(key: &str) -> bool {
    !key.is_empty() && !key.starts_with('"') && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// `text` in double quotes with redis-cli's escapes.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for b in text.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// `text` with every control character (and DEL) written as an escape, without quotes: for
/// messages from a server that must not reach the terminal raw. Other characters stay.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_stay_as_they_are() {
        for k in ["a", "key:1", "user-42_x", "a\"b", "~!@#$%^&*()"] {
            assert_eq!(key(k), k);
        }
    }

    #[test]
    fn other_keys_are_quoted_like_redis_cli() {
        for (k, shown) in [
            ("a\nb", r#""a\nb""#),
            ("\x1b[31mred", r#""\x1b[31mred""#),
            ("a b", r#""a b""#),
            ("tab\there\r", r#""tab\there\r""#),
            ("\x07\x08\x7f\0", r#""\a\b\x7f\x00""#),
            ("\"quoted\"", r#""\"quoted\"""#),
            ("back\\slash ", r#""back\\slash ""#),
            ("café", r#""caf\xc3\xa9""#),
            ("", r#""""#),
        ] {
            assert_eq!(key(k), shown, "{k:?}");
        }
    }

    #[test]
    fn quoted_text_has_no_control_bytes() {
        let all: String = (0u8..=127).map(char::from).collect();
        let shown = key(&all);
        assert!(shown.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{shown}");
    }

    #[test]
    fn messages_name_keys_safely() {
        assert_eq!(in_message("a"), "'a'");
        assert_eq!(in_message("a\nb"), r#""a\nb""#);
        assert_eq!(escape_controls("x\x1b[2J\ny"), "x\\x{1b}[2J\\ny");
        assert_eq!(escape_controls("plain"), "plain");
    }
}
