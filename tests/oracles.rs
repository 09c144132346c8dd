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
        backlog: Some(sim::oracle::BacklogView {
            first_byte: 1,
            histlen: offset,
            size: 1 << 20,
            block_capacity: 1 << 16,
        }),
        top_level: top,
        repl_state: if top { ReplState::None } else { ReplState::Connected },
        online_replicas: usize::from(top),
        digest: Some(digest),
        version: 0,
    }
}

fn oracles_of(v: &Oracle) -> Vec<&'static str> {
    v.violations.iter().map(|v| v.oracle.label()).collect()
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
    o.master_obs(8_968, 2, &shift(P, D, 9_268, master::HistoryChange::Promotion));
    o.master_obs(8_980, 3, &shift(P, D, 9_268, master::HistoryChange::ContinueNewId));
    o.master_obs(9_646, 1, &shift(P, D, 7_860, master::HistoryChange::ContinueNewId));
    o.master_obs(9_880, 3, &shift(F, P, 10_512, master::HistoryChange::Promotion));
    // n0's client wrote at (D, 9 231) at 7.176 s; n2 and n3 applied up to 9 268 under D.
    o.clients.write(0, 1, proto::ConnId(11), D, 9_231, 7_176);
    o.fed(2, D, 9_268, false);
    o.fed(3, D, 9_268, false);
    o.check_wait(12_457, 0, 1, proto::ConnId(11), 9_231, 1);
    let fin = NodeView {
        replid: F,
        ..view(3, true, 10_849, 2)
    };
    o.finish_waits(14_184, Some(&fin));
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.checks.survived_waits, 1);
}

const CONN: proto::ConnId = proto::ConnId(7);

/// Seed 0x1b9 (issue 13.1): writes made before the master had a backlog do not move the
/// offset (R5), so the connection's `woff` is 0 and redis 7.0 answers WAIT with every
/// ONLINE replica, loaded or not (R21: `ack_off >= 0`). Such a WAIT promises nothing.
#[test]
fn wait_on_a_connection_with_no_stream_write_promises_nothing() {
    let mut o = Oracle::default();
    o.check_wait(229, 0, 1, CONN, 0, 3);
    o.clients.write(0, 1, CONN, A, 0, 200);
    o.check_wait(230, 0, 1, CONN, 0, 3);
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.checks.empty_waits, 2);
}

/// Issue 13a: WAIT's promise is about the connection's own last write, whatever offset the
/// master says it waited for (a master that waited for a stale offset is caught).
#[test]
fn wait_is_judged_against_the_connections_own_write() {
    let mut o = Oracle::default();
    o.clients.write(0, 1, CONN, A, 500, 10);
    o.fed(1, A, 300, false);
    o.check_wait(20, 0, 1, CONN, 300, 1);
    assert_eq!(oracles_of(&o), vec!["wait"], "{:?}", o.violations);
    let mut ok = Oracle::default();
    ok.clients.write(0, 1, CONN, A, 500, 10);
    ok.fed(1, A, 500, false);
    ok.check_wait(20, 0, 1, CONN, 500, 1);
    assert!(ok.violations.is_empty(), "{:?}", ok.violations);
}

/// Seeds 0x724, 0x860, 0x10d4: a frozen master wakes, applies a queued write *as master*
/// and is demoted in the same step; views between steps never show it at the new offset.
/// Its fed notes do, so its later offset as a replica is within what a master generated.
#[test]
fn offsets_a_master_generated_within_one_step_bound_the_history() {
    let run = |fed: bool| {
        let mut o = Oracle::default();
        o.observe(1, &[view(0, true, 100, 7), view(1, false, 100, 7)]);
        if fed {
            o.fed(0, A, 1_100, true);
        }
        // n0 is now a replica at 1 100; no view ever showed a master there.
        let demoted = NodeView {
            top_level: false,
            digest: None,
            ..view(0, false, 1_100, 0)
        };
        o.observe(2, &[demoted, view(1, true, 100, 7)]);
        oracles_of(&o)
    };
    assert!(run(true).is_empty(), "{:?}", run(true));
    assert!(
        run(false).contains(&"offset"),
        "without the fed note the oracle would see an I1 break"
    );
}

fn cmd(args: &[&str]) -> bytes::Bytes {
    bytes::Bytes::from(proto::encode_command(args))
}

/// Feeds `cmds` as node 0's generated stream under A, starting at offset 0 from an empty
/// base; returns the end offset.
fn stream(o: &mut Oracle, cmds: &[&[&str]]) -> u64 {
    o.model.base(A, 0, &[], None);
    let mut end = 0;
    for c in cmds {
        let b = cmd(c);
        end += b.len() as u64;
        o.model.fed(A, end, b);
    }
    end
}

/// Issue 13b/d: the stream model applies what the master generated, with absolute
/// deadlines, and its fingerprint equals a keyspace holding the same data.
#[test]
fn the_stream_model_gives_values_deadlines_and_fingerprints() {
    let mut o = Oracle::default();
    let end = stream(
        &mut o,
        &[
            &["SELECT", "2"],
            &["SET", "k", "v1", "PXAT", "1767225700000"],
            &["APPEND", "k", "x"],
            &["INCR", "c"],
        ],
    );
    let key = (2usize, bytes::Bytes::from_static(b"k"));
    let vals = o.model.values_between(A, &key, end, end).expect("known");
    assert_eq!(
        vals,
        vec![Some((bytes::Bytes::from_static(b"v1x"), Some(1_767_225_700_000)))]
    );
    let mut ks = node::keyspace::Keyspace::new();
    ks.insert(2, "k".into(), "v1x".into(), Some(1_767_225_700_000))
        .expect("db 2");
    ks.insert(2, "c".into(), "1".into(), None).expect("db 2");
    assert_eq!(o.model.fingerprint(A, end), Some(ks.fingerprint()));
    ks.insert(2, "k".into(), "v1x".into(), Some(1_767_225_700_001))
        .expect("db 2");
    assert_ne!(o.model.fingerprint(A, end), Some(ks.fingerprint()), "deadlines count");
}

/// R72: a relative expiry must never reach the stream.
#[test]
fn a_relative_expiry_in_the_stream_is_flagged() {
    let mut o = Oracle::default();
    stream(&mut o, &[&["SELECT", "0"], &["SET", "k", "v", "EX", "10"]]);
    o.observe(1, &[]);
    assert_eq!(oracles_of(&o), vec!["stream"], "{:?}", o.violations);
    let mut o = Oracle::default();
    stream(
        &mut o,
        &[&["SELECT", "0"], &["SET", "k", "v"], &["PEXPIRE", "k", "100"]],
    );
    o.observe(1, &[]);
    assert_eq!(oracles_of(&o), vec!["stream"], "{:?}", o.violations);
}

/// Issue 13b: a read must return a value the stream gave the key while the read was in
/// flight; a value from thin air (or an older one the node had left behind) is flagged.
#[test]
fn reads_come_from_the_stream_at_the_nodes_positions() {
    use sim::oracle::clients::{Position, ReadRecord};
    let mut o = Oracle::default();
    let set1 = stream(&mut o, &[&["SELECT", "0"], &["SET", "k", "old"]]);
    let end = set1 + cmd(&["SET", "k", "new"]).len() as u64;
    o.model.fed(A, end, cmd(&["SET", "k", "new"]));
    let at = |t_ms, offset| Position {
        t_ms,
        boot: 1,
        replid: A,
        offset,
        streamed: true,
    };
    o.clients.position(1, at(10, set1));
    o.clients.position(1, at(20, end));
    let read = |sent_ms, value: &'static str| ReadRecord {
        node: 1,
        db: 0,
        key: "k".into(),
        sent_ms,
        recv_ms: sent_ms + 2,
        value: Some(value.into()),
    };
    o.check_reads(
        &[read(19, "new"), read(12, "old"), read(30, "new")],
        sim::world::EPOCH_MS,
    );
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.checks.reads, 3);
    o.check_reads(&[read(30, "old"), read(30, "nope")], sim::world::EPOCH_MS);
    assert_eq!(oracles_of(&o), vec!["read", "read"], "{:?}", o.violations);
}

/// Issue 13f: a transfer that fails must be explained by a fault on the replica or its
/// master since shortly before it started (or a refusal line from the master); a freeze of
/// the replica extends its time bound but the failure is judged from its real start.
#[test]
fn failed_transfers_need_a_fault_to_explain_them() {
    use sim::oracle::transfer::{Outcome, Transfers};
    use ReplState::{Connect, Transfer};
    let failed = |o: Outcome| match o {
        Outcome::Failed { violation } => violation,
        _ => panic!("not a failure"),
    };
    let mut t = Transfers::default();
    t.bound_ms = 8_000;
    // A quiet link: nothing explains it.
    t.state(1_000, 1, Some(0), Connect, Transfer, "");
    assert!(failed(t.state(1_500, 1, Some(0), Transfer, Connect, "connection closed")).is_some());
    // A fault on the master after the start explains it; so does the master's refusal.
    t.state(2_000, 1, Some(0), Connect, Transfer, "");
    t.fault(2_100, Some(&[0]));
    assert!(failed(t.state(2_500, 1, Some(0), Transfer, Connect, "connection closed")).is_none());
    t.state(9_000, 1, Some(0), Connect, Transfer, "");
    let refusal = "replica error; master error reply \"-NOAUTH Authentication required.\"";
    assert!(failed(t.state(9_010, 1, Some(0), Transfer, Connect, refusal)).is_none());
    // Frozen for 5 s: overdue only past bound + 5 s; the freeze itself explains a failure.
    t.state(20_000, 2, Some(0), Connect, Transfer, "");
    t.frozen(2, 5_000);
    t.fault(20_001, Some(&[2]));
    assert!(t.overdue(28_500).is_empty());
    assert_eq!(t.overdue(33_001), vec![(2, 13_001)]);
    assert!(failed(t.state(33_100, 2, Some(0), Transfer, Connect, "timed out")).is_none());
}

/// The README's oracle table names every oracle the code has (issue 13), each once.
#[test]
fn the_readme_lists_every_oracle() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    for o in sim::oracle::OracleId::ALL {
        let row = format!("| `{}` |", o.label());
        assert_eq!(readme.matches(&row).count(), 1, "README oracle table row for {o}");
        assert_eq!(sim::oracle::OracleId::from_label(o.label()), Some(o));
    }
}
