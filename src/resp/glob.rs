//! Redis's glob patterns, as `KEYS` and `SCAN ... MATCH` take them: `*` (any run), `?` (any one
//! byte), `[abc]`, `[^abc]`, `[a-z]` (a class), and `\x` (the byte x itself). Iterative, so a
//! hostile pattern costs at most pattern × text steps.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to go back to: the pattern just after the last `*`, and the text it stands for.
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            back = Some((p + 1, t));
            p += 1;
            continue;
        }
        if let Some(len) = one(&pattern[p.min(pattern.len())..], text[t]) {
            p += len;
            t += 1;
            continue;
        }
        match back {
            Some((bp, bt)) => {
                p = bp;
                t = bt + 1;
                back = Some((bp, bt + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Whether the pattern's first element (not `*`) matches the byte `c`; gives its length.
fn one(pattern: &[u8], c: u8) -> Option<usize> {
    match *pattern.first()? {
        b'?' => Some(1),
        b'\\' if pattern.len() >= 2 => (pattern[1] == c).then_some(2),
        b'[' => class(pattern, c),
        other => (other == c).then_some(1),
    }
}

/// A `[...]` class at the start of `pattern`: whether `c` is in it, and its length. As in Redis,
/// a class without its `]` runs to the end of the pattern.
fn class(pattern: &[u8], c: u8) -> Option<usize> {
    let mut i = 1;
    let not = pattern.get(i) == Some(&b'^');
    if not {
        i += 1;
    }
    let mut hit = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            hit |= pattern[i + 1] == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (lo, hi) = (
                pattern[i].min(pattern[i + 2]),
                pattern[i].max(pattern[i + 2]),
            );
            hit |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            hit |= pattern[i] == c;
            i += 1;
        }
    }
    let len = (i + 1).min(pattern.len());
    (hit != not).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn follows_redis_patterns() {
        let yes = [
            ("*", "anything"),
            ("*", ""),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("key:*:x", "key:1:2:x"),
            ("\\*", "*"),
            ("{user:1}:*", "{user:1}:hits"),
        ];
        for (p, t) in yes {
            assert!(matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
        let no = [
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("\\*", "x"),
            ("a*b", "ac"),
            ("", "a"),
        ];
        for (p, t) in no {
            assert!(!matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
        let long = vec![b'*'; 50_000];
        assert!(matches(&long, b"abc"));
    }
}
