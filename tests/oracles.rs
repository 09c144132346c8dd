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

/// Seed 0xd52: n0 (history D) answers a WAIT for offset 9 231 late, after n2 was promoted at
/// 9 268 (P, second_replid_offset 9 269) and n3 at 10 512 (F). A replica thawed at 7 860
/// that continued into P (second_replid_offset 7 861) must not shorten P's link to D: the
/// write is in F's history, not lost.
#[test]
fn a_late_continue_into_a_promoted_id_does_not_shorten_its_history() {
    const D: ReplId = ReplId(*b"dddddddddddddddddddddddddddddddddddddddd");
    const P: ReplId = ReplId(*b"pppppppppppppppppppppppppppppppppppppppp");
    const F: ReplId = ReplId(*b"ffffffffffffffffffffffffffffffffffffffff");
    let shift = |replid, replid2, off: u64, why| master::Observation::ReplidChanged {
        replid,
        replid2,
        second_replid_offset: off as i64 + 1,
        why,
        old_replid: replid2,
        master_repl_offset: off,
    };
    let mut o = Oracle::default();
    o.master_obs(8_968, 2, None, &shift(P, D, 9_268, "promotion"));
    o.master_obs(8_980, 3, None, &shift(P, D, 9_268, "continue-new-id"));
    o.master_obs(9_646, 1, None, &shift(P, D, 7_860, "continue-new-id"));
    o.master_obs(9_880, 3, None, &shift(F, P, 10_512, "promotion"));
    let n0 = NodeView {
        replid: D,
        ..view(0, false, 9_268, 1)
    };
    let wait = master::Observation::WaitReply {
        conn: proto::ConnId(11),
        offset: 9_231,
        acked: 1,
    };
    o.master_obs(12_457, 0, Some(&n0), &wait);
    let fin = NodeView {
        replid: F,
        ..view(3, true, 10_849, 2)
    };
    o.finish_waits(14_184, Some(&fin));
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.checks.survived_waits, 1);
}
