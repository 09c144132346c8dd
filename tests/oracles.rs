//! Issue 8: the oracles are never fooled by a lying master. Whatever a replica cannot see
//! locally — a `+CONTINUE` while it is ahead of its master, a stream that skipped or
//! altered bytes — must show up as a violation when the harness compares nodes.

use proto::ReplId;
use replica::ReplState;
use sim::oracle::{NodeView, Oracle};

const A: ReplId = ReplId(*b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

fn view(idx: usize, top: bool, offset: u64, digest: u64) -> NodeView {
    NodeView {
        idx,
        boot: 1,
        replid: A,
        offset,
        backlog: Some((1, offset, 1 << 20, 1 << 16)),
        top_level: top,
        repl_state: if top { ReplState::None } else { ReplState::Connected },
        online_replicas: usize::from(top),
        digest: Some(digest),
        version: 0,
    }
}

fn oracles_of(v: &Oracle) -> Vec<&'static str> {
    v.violations.iter().map(|v| v.oracle).collect()
}

#[test]
fn honest_history_passes() {
    let mut o = Oracle::default();
    o.observe(1, &[view(0, true, 100, 7), view(1, false, 90, 5)]);
    o.observe(2, &[view(0, true, 110, 8), view(1, false, 100, 7)]);
    o.observe(3, &[view(0, true, 110, 8), view(1, false, 110, 8)]);
    assert!(o.violations.is_empty(), "{:?}", o.violations);
}

#[test]
fn replica_ahead_of_its_master_after_a_lying_continue_is_flagged() {
    let mut o = Oracle::default();
    o.observe(1, &[view(0, true, 100, 7), view(1, false, 100, 7)]);
    // The master restarted from an older snapshot under the same id and said +CONTINUE;
    // the replica keeps its offset 100 and applies what follows at 101.. (R24 cannot tell).
    o.observe(2, &[view(0, true, 95, 3), view(1, false, 105, 9)]);
    assert!(oracles_of(&o).contains(&"offset"), "{:?}", o.violations);
}

#[test]
fn a_stream_that_skipped_bytes_is_flagged() {
    let mut o = Oracle::default();
    o.observe(1, &[view(0, true, 100, 7), view(1, false, 90, 5)]);
    // Bytes 91..=95 never arrived: the replica's offset counts only what it parsed, so at
    // 100 it holds another dataset than the master had at 100.
    o.observe(2, &[view(0, true, 110, 8), view(1, false, 100, 6)]);
    assert!(oracles_of(&o).contains(&"prefix"), "{:?}", o.violations);
}

#[test]
fn a_flipped_value_at_the_right_offset_is_flagged() {
    let mut o = Oracle::default();
    o.observe(1, &[view(0, true, 100, 7), view(1, false, 100, 7)]);
    o.observe(2, &[view(0, true, 120, 11), view(1, false, 120, 12)]);
    assert!(oracles_of(&o).contains(&"prefix"), "{:?}", o.violations);
}
