//! What the load generator sends: the mix of updates and gets, the keys, and their encoded bodies.
//!
//! Bodies are encoded once up front (through the protocol's own codec) for keyspaces up to
//! [`PREENCODE_MAX`] keys, so the hot loop only copies bytes; larger keyspaces encode per request.

use std::fmt;
use std::str::FromStr;

use ringkv::protocol::codec;
use ringkv::Request;

/// The largest keyspace whose request bodies are encoded up front (about 16 bytes per key and op).
const PREENCODE_MAX: u64 = 1 << 21;

/// Updates to gets, e.g. `1:0` (all updates) or `1:1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    updates: u32,
    gets: u32,
}

impl FromStr for Ratio {
    type Err = String;

    fn from_str(s: &str) -> Result<Ratio, String> {
        let bad = || format!("invalid ratio {s:?}: expected UPDATES:GETS, e.g. 1:0 or 1:1");
        let (u, g) = s.split_once(':').ok_or_else(bad)?;
        let updates = u.trim().parse().map_err(|_| bad())?;
        let gets = g.trim().parse().map_err(|_| bad())?;
        if updates == 0 && gets == 0 {
            return Err(bad());
        }
        Ok(Ratio { updates, gets })
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.updates, self.gets)
    }
}

/// Request bodies laid end to end: body `i` is `bytes[ends[i - 1]..ends[i]]`.
struct Table {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl Table {
    fn build(count: u64, make: impl Fn(u64) -> Request) -> Option<Table> {
        let mut table = Table {
            bytes: Vec::new(),
            ends: Vec::with_capacity(count as usize),
        };
        for i in 0..count {
            table.bytes.extend(codec::encode(&make(i)).ok()?);
            table.ends.push(u32::try_from(table.bytes.len()).ok()?);
        }
        Some(table)
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }
}

/// The requests of a run.
pub struct Workload {
    keyspace: Option<u64>,
    sequential: bool,
    ratio: Ratio,
    updates: Option<Table>,
    gets: Option<Table>,
}

fn update(key: u64) -> Request {
    Request::Update {
        key: format!("key:{key}"),
        amount: 1,
    }
}

fn get(key: u64) -> Request {
    Request::Get {
        key: format!("key:{key}"),
    }
}

impl Workload {
    /// Keys in `0..keyspace` (or the fixed key `key:0`), random or in order when `sequential`,
    /// updates and gets mixed by `ratio`.
    pub fn new(keyspace: Option<u64>, sequential: bool, ratio: Ratio) -> Workload {
        let count = keyspace.unwrap_or(1);
        let small = count <= PREENCODE_MAX;
        Workload {
            keyspace,
            sequential,
            ratio,
            updates: (small && ratio.updates > 0)
                .then(|| Table::build(count, update))
                .flatten(),
            gets: (small && ratio.gets > 0)
                .then(|| Table::build(count, get))
                .flatten(),
        }
    }

    /// The key of the request numbered `global` in the whole run: random from `rng`, or
    /// `global` modulo the keyspace when sequential.
    pub fn key(&self, global: u64, rng: &mut Rng) -> u64 {
        match self.keyspace {
            None => 0,
            Some(n) if self.sequential => global % n,
            Some(n) => rng.below(n),
        }
    }

    /// The body of request number `seq` of a connection, for `key`. Bodies that were not encoded up
    /// front are encoded into `scratch`.
    pub fn body<'a>(&'a self, seq: u64, key: u64, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let cycle = u64::from(self.ratio.updates) + u64::from(self.ratio.gets);
        let is_update = seq % cycle < u64::from(self.ratio.updates);
        let (table, make): (_, fn(u64) -> Request) = if is_update {
            (&self.updates, update)
        } else {
            (&self.gets, get)
        };
        match table {
            Some(t) => t.get(key as usize),
            None => {
                *scratch = codec::encode(&make(key)).unwrap_or_default();
                scratch
            }
        }
    }
}

/// A small, fast pseudo-random source (xorshift64*): benchmark keys need speed, not quality.
pub struct Rng(u64);

impl Rng {
    /// A source seeded with `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_parses_and_rejects() {
        assert_eq!("1:1".parse::<Ratio>().unwrap().to_string(), "1:1");
        assert!("0:0".parse::<Ratio>().is_err());
        assert!("3".parse::<Ratio>().is_err());
    }

    #[test]
    fn bodies_decode_to_the_requests_they_stand_for() {
        let w = Workload::new(Some(10), false, "1:1".parse().unwrap());
        let mut scratch = Vec::new();
        let a: Request = codec::decode(w.body(0, 3, &mut scratch)).unwrap();
        let b: Request = codec::decode(w.body(1, 4, &mut scratch)).unwrap();
        assert!(matches!(a, Request::Update { amount: 1, .. }), "{a:?}");
        assert!(matches!(b, Request::Get { .. }), "{b:?}");
    }

    #[test]
    fn fixed_key_is_key_0() {
        let w = Workload::new(None, false, "1:0".parse().unwrap());
        let key = w.key(5, &mut Rng::new(1));
        let body = w.body(5, key, &mut Vec::new()).to_vec();
        assert_eq!(codec::decode::<Request>(&body).unwrap(), update(0));
    }

    #[test]
    fn sequential_keys_wrap_the_keyspace() {
        let w = Workload::new(Some(3), true, "1:0".parse().unwrap());
        let mut rng = Rng::new(1);
        let keys: Vec<u64> = (0..5).map(|g| w.key(g, &mut rng)).collect();
        assert_eq!(keys, [0, 1, 2, 0, 1]);
    }
}
