//! A substitute that coordinates an update (no replica of the key reachable: the small side of a
//! partition) counts it in its own slot inside the hints it keeps for a down replica. Once those
//! hints are handed over (`take_hints`), the next hinted update must count on from that slot's
//! value, not from nothing: merging keeps the larger of two values of a slot, so a restart from
//! nothing loses the smaller round of updates (the shape of scylladb#27306). `tests/jepsen_multi.rs`
//! found this under repeated partitions; this is its smallest form, on one `NodeData`.

use ringkv::node_data::NodeData;

#[test]
fn hinted_updates_in_two_rounds_both_count_after_hand_over() {
    let (down, substitute) = (1, 7);
    let mut stand_in = NodeData::new(substitute, None);
    let mut replica = NodeData::new(down, None);

    // First partition: 5 counted for the down replica, then handed over when it is back.
    stand_in.increment("k", 5, Some(down)).unwrap();
    replica.merge(stand_in.take_hints(down), None).unwrap();
    // Second partition: 3 more, handed over again.
    stand_in.increment("k", 3, Some(down)).unwrap();
    replica.merge(stand_in.take_hints(down), None).unwrap();

    let value = replica.read("k", None).map(|c| c.value());
    assert_eq!(
        value,
        Some(8),
        "an acknowledged round of hinted updates was lost"
    );
}
