//! Redis Cluster hash tags: the part of a key that is hashed onto the ring.
//!
//! As in Redis Cluster, when a key contains a `{`, and a `}` somewhere after it, and at least
//! one byte between them, only the bytes between the first `{` and the first `}` after it are
//! hashed: `{user:1}:hits` and `{user:1}:misses` both hash by `user:1`, so they land on the
//! same arc and share one replica set. Otherwise (no `{`, no `}` after it, or `{}` with nothing
//! between) the whole key is hashed: `{}x`, `a{b` and `a}b{` hash as themselves. Only the
//! first `{` counts: `{}{x}` hashes whole, `{a}{b}` hashes by `a`.

/// The bytes of `key` that decide its place on the ring.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::hashed_part;

    #[test]
    fn follows_redis_cluster_rules() {
        let cases: &[(&str, &str)] = &[
            ("{user:1}:hits", "user:1"),
            ("{user:1}:misses", "user:1"),
            ("foo{bar}zap", "bar"),
            ("plain", "plain"),
            ("{}x", "{}x"),
            ("{}{x}", "{}{x}"),
            ("{a}{b}", "a"),
            ("a{b", "a{b"),
            ("a}b{", "a}b{"),
            ("x{{y}}", "{y"),
            ("{", "{"),
            ("", ""),
        ];
        for (key, part) in cases {
            assert_eq!(hashed_part(key.as_bytes()), part.as_bytes(), "{key}");
        }
    }
}
