//! murmur3 x64-128 (seed 0) over a byte slice, for the key tokens of the request path.
//!
//! The `murmur3` crate is the definition of a token: it hashes any `io::Read`, so a key goes through
//! a reader, a 16-byte buffer and a read loop, about 290 instructions for a 10-byte key. This is
//! the same function on a slice (about 60): blocks of 16 bytes, the tail as two little-endian
//! words. The tests pin it to the crate on every length up to 64 and on random bytes.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// The finalisation mix of murmur3's 64-bit lanes.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Up to 8 bytes as a little-endian word (missing high bytes are 0), with fixed-size loads
/// that overlap rather than a copy of variable length (a call to `memcpy`).
fn word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 4 {
        let lo = u64::from(u32_at(bytes, 0));
        let hi = u64::from(u32_at(bytes, n - 4));
        lo | (hi << (8 * (n - 4)))
    } else if n > 0 {
        let byte = |i: usize| u64::from(bytes[i]) << (8 * i);
        byte(0) | byte(n / 2) | byte(n - 1)
    } else {
        0
    }
}

/// The little-endian `u32` at `at` (`at + 4 <= bytes.len()`).
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Exactly 8 bytes as a little-endian word.
fn u64_of(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// The first lane's mix of a word.
fn mix1(k: u64) -> u64 {
    k.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

/// The second lane's mix of a word.
fn mix2(k: u64) -> u64 {
    k.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

/// The low 64 bits of murmur3 x64-128 with seed 0 of `bytes`: what
/// `murmur3::murmur3_x64_128(&mut Cursor::new(bytes), 0) as u64` gives.
pub(crate) fn low64(bytes: &[u8]) -> u64 {
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let (a, b) = block.split_at(8);
        h1 ^= mix1(u64_of(a));
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix2(u64_of(b));
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= mix2(word(&tail[8..]));
    }
    if !tail.is_empty() {
        h1 ^= mix1(word(&tail[..tail.len().min(8)]));
    }
    let len = bytes.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    fmix64(h1).wrapping_add(fmix64(h2))
}

#[cfg(test)]
mod tests {
    use super::low64;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn crate_low64(bytes: &[u8]) -> u64 {
        murmur3::murmur3_x64_128(&mut Cursor::new(bytes), 0).expect("in memory") as u64
    }

    #[test]
    fn equals_the_crate_on_every_length_up_to_64() {
        let bytes: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for len in 0..=bytes.len() {
            assert_eq!(
                low64(&bytes[..len]),
                crate_low64(&bytes[..len]),
                "length {len}"
            );
        }
        assert_eq!(low64(b"key:123456"), crate_low64(b"key:123456"));
    }

    proptest! {
        #[test]
        fn equals_the_crate(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(low64(&bytes), crate_low64(&bytes));
        }
    }
}
