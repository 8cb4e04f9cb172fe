//! Property tests of Redis Cluster hash tags on the ring: keys with the same tag share a token,
//! an owner and a whole replica set, on any ring.

use std::collections::BTreeSet;

use proptest::prelude::*;
use ringkv::hashtag::hashed_part;
use ringkv::ring::{key_token, NodeId, Ring};

fn ring_strategy() -> impl Strategy<Value = (BTreeSet<NodeId>, u32)> {
    (prop::collection::btree_set(1u32..1000, 1..12), 1u32..32)
}

proptest! {
    #[test]
    fn keys_with_one_tag_share_their_replica_set(
        (nodes, vnodes) in ring_strategy(),
        tag in "[a-z0-9:]{1,10}",
        affixes in prop::collection::vec(("[a-z0-9:}]{0,6}", "[a-z0-9:{}]{0,6}"), 2..20),
        r in 1usize..5,
    ) {
        let ring = Ring::with_nodes(vnodes, nodes.iter().copied());
        let want = ring.preference_list(tag.as_bytes(), r);
        for (before, after) in &affixes {
            // `before` may hold a `}` but no `{`, so the tag is the first `{...}`.
            let key = format!("{before}{{{tag}}}{after}");
            prop_assert_eq!(hashed_part(key.as_bytes()), tag.as_bytes());
            prop_assert_eq!(key_token(key.as_bytes()), key_token(tag.as_bytes()));
            prop_assert_eq!(ring.preference_list(key.as_bytes(), r), want.clone());
        }
    }

    #[test]
    fn keys_without_a_usable_tag_hash_whole(key in "[a-z0-9:]{0,12}", tail in "[a-z0-9:{]{0,6}") {
        // No `{`; or `{` with no `}` after it; or an empty `{}` first.
        for key in [key.clone(), format!("{key}{{{tail}"), format!("{{}}{key}{tail}")] {
            if key.contains('{') && key.split_once('{').is_some_and(|(_, rest)| rest.contains('}')) && !key.starts_with("{}") {
                continue;
            }
            prop_assert_eq!(hashed_part(key.as_bytes()), key.as_bytes());
        }
    }
}

#[test]
fn tagged_counters_land_together_and_untagged_ones_spread() {
    let ring = Ring::with_nodes(64, 1..=10);
    let tagged: BTreeSet<Vec<NodeId>> = (0..200)
        .map(|i| ring.preference_list(format!("{{user:1}}:c{i}").as_bytes(), 3))
        .collect();
    assert_eq!(tagged.len(), 1);
    let plain: BTreeSet<Vec<NodeId>> = (0..200)
        .map(|i| ring.preference_list(format!("user:1:c{i}").as_bytes(), 3))
        .collect();
    assert!(plain.len() > 10, "{} replica sets", plain.len());
}
