//! Big merges sent in pieces: a node port takes frames of at most `--max-frame-len` (1 MiB by
//! default), and a refill or anti-entropy merge of many keys can be larger. A `Merge` whose
//! entries would pass [`MERGE_CHUNK_BYTES`] is sent as several merges, whose counts add up.

use crate::actors::node::NodeOp;
use crate::store::Entry;

/// About how many bytes of entries one merge call carries at most.
pub const MERGE_CHUNK_BYTES: usize = 256 * 1024;

/// A generous estimate of an entry's encoded size.
pub fn entry_bytes(entry: &Entry) -> usize {
    let slots = entry.counter.slots().len() + entry.counter.base().len();
    let tokens = entry
        .counter
        .tokens()
        .map_or(0, |t| 16 + 48 * t.entries().len());
    16 + entry.key.len() + 32 * slots + tokens
}

/// `op` as the calls to send: itself, or a big `Merge` cut into merges of at most about
/// [`MERGE_CHUNK_BYTES`] each (every one with at least one entry).
pub fn split(op: NodeOp) -> Vec<NodeOp> {
    let NodeOp::Merge { entries, hint_for } = op else {
        return vec![op];
    };
    let total: usize = entries.iter().map(entry_bytes).sum();
    if total <= MERGE_CHUNK_BYTES {
        return vec![NodeOp::Merge { entries, hint_for }];
    }
    let mut calls = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for entry in entries {
        let size = entry_bytes(&entry);
        if !chunk.is_empty() && bytes + size > MERGE_CHUNK_BYTES {
            calls.push(NodeOp::Merge {
                entries: std::mem::take(&mut chunk),
                hint_for,
            });
            bytes = 0;
        }
        bytes += size;
        chunk.push(entry);
    }
    if !chunk.is_empty() {
        calls.push(NodeOp::Merge {
            entries: chunk,
            hint_for,
        });
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::Counter;

    fn entry(i: usize) -> Entry {
        let mut counter = Counter::new();
        counter.increment(1, 1).unwrap();
        Entry {
            key: format!("{i:0>100}"),
            counter,
        }
    }

    #[test]
    fn small_merges_go_whole_and_big_ones_in_pieces_that_keep_every_entry() {
        let small = split(NodeOp::Merge {
            entries: (0..10).map(entry).collect(),
            hint_for: None,
        });
        assert_eq!(small.len(), 1);
        let big = split(NodeOp::Merge {
            entries: (0..20_000).map(entry).collect(),
            hint_for: Some(7),
        });
        assert!(big.len() > 5);
        let mut seen = 0;
        for call in big {
            let NodeOp::Merge { entries, hint_for } = call else {
                panic!("a merge")
            };
            assert_eq!(hint_for, Some(7));
            assert!(entries.iter().map(entry_bytes).sum::<usize>() <= MERGE_CHUNK_BYTES);
            seen += entries.len();
        }
        assert_eq!(seen, 20_000);
        assert_eq!(split(NodeOp::Ping).len(), 1);
    }
}
