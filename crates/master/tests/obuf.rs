//! R39: replica output-buffer limits in the master core, against a plain model.
//!
//! The model knows only what the IO layer would: the bytes the core asked to send to the
//! replica (stream, replies; never RDB transfers) minus what the socket took. As in redis,
//! limits are checked only when the shared buffer gains a block (R39). At such a check a
//! replica must be dropped exactly when that count reaches the hard limit, or has been at
//! or above the soft limit at every check for more than the soft seconds — and never
//! otherwise. `obuf_model_agrees` runs 512 random histories.

use bytes::Bytes;
use master::{Action, Event, Master, MasterConfig, Observation, ObufLimit, SlaveState};
use proptest::prelude::*;
use proto::{ConnId, Millis};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const REPL: ConnId = ConnId(7);
/// Backlog 16 KiB with 1 KiB blocks (R12: max(size/16, block_min)): a write longer than a
/// block always adds one, so it always triggers the R39 check.
const BACKLOG: u64 = 16 * 1024;
const BLOCK: u64 = 1024;
const BIG: usize = 1_100;
const OTHER: ConnId = ConnId(8);

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

struct Rig {
    m: Master<ChaCha8Rng>,
    now: u64,
    dropped: Vec<(ConnId, u64, bool)>,
    closed: Vec<ConnId>,
    /// Bytes sent to REPL since attach (what the IO layer queued).
    queued: u64,
    /// RDB bytes handed over outside the buffer.
    rdb: u64,
}

impl Rig {
    fn new(limit: ObufLimit, diskless: bool) -> Rig {
        let cfg = MasterConfig {
            replica_obuf_limit: limit,
            repl_backlog_size: BACKLOG,
            backlog_block_min: BLOCK,
            repl_diskless_sync: diskless,
            repl_diskless_sync_delay_s: 0,
            repl_timeout_s: 1_000_000,
            repl_ping_replica_period_s: 1_000_000,
            ..MasterConfig::default()
        };
        Rig {
            m: Master::new(cfg, ChaCha8Rng::seed_from_u64(1), Millis(0)),
            now: 0,
            dropped: Vec::new(),
            closed: Vec::new(),
            queued: 0,
            rdb: 0,
        }
    }

    fn ev(&mut self, e: Event) {
        self.m.handle(Millis(self.now), e);
        self.pump();
    }

    fn pump(&mut self) {
        let acts: Vec<Action> = self.m.drain_actions().collect();
        for a in acts {
            match a {
                Action::Send { conn, bytes } if conn == REPL => self.queued += bytes.len() as u64,
                Action::SendBulk { conn, bytes } => {
                    self.rdb += bytes.len() as u64;
                    self.m.handle(Millis(self.now), Event::BulkSent { conn });
                    self.pump();
                }
                Action::SendRdb { bytes, .. } => self.rdb += bytes.len() as u64,
                Action::StartSnapshot { id, .. } => {
                    // A big RDB: it must never count against the limit.
                    let payload = Bytes::from(vec![b'R'; 300_000]);
                    self.m.handle(Millis(self.now), Event::SnapshotReady { id, payload });
                    self.pump();
                }
                Action::Close { conn, .. } => self.closed.push(conn),
                Action::Observe(Observation::ObufLimit { conn, used, soft, .. }) => {
                    self.dropped.push((conn, used, soft))
                }
                _ => {}
            }
        }
    }

    fn attach(&mut self, conn: ConnId, psync: &[u8], off: &[u8]) {
        self.ev(Event::Command {
            conn,
            argv: argv(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]),
        });
        self.ev(Event::Command {
            conn,
            argv: argv(&[b"PSYNC", psync, off]),
        });
    }

    /// An online replica whose socket has taken everything so far.
    fn online(limit: ObufLimit, diskless: bool) -> Rig {
        let mut r = Rig::new(limit, diskless);
        r.attach(REPL, b"?", b"-1");
        if diskless {
            r.ev(Event::Command {
                conn: REPL,
                argv: argv(&[b"REPLCONF", b"ACK", b"0"]),
            });
        }
        assert_eq!(r.state(REPL), Some(SlaveState::Online));
        r.flush_all();
        r
    }

    fn flush_all(&mut self) {
        self.ev(Event::Unflushed { conn: REPL, bytes: 0 });
    }

    fn write(&mut self, len: usize) {
        let val = vec![b'v'; len];
        self.ev(Event::Propagate {
            db: 0,
            argv: argv(&[b"SET", b"k", &val]),
        });
    }

    fn state(&self, conn: ConnId) -> Option<SlaveState> {
        self.m.replicas().find(|v| v.conn == conn).map(|v| v.state)
    }
}

const LIMIT: ObufLimit = ObufLimit {
    hard_bytes: 10_000,
    soft_bytes: 4_000,
    soft_seconds: 2,
};

#[test]
fn hard_limit_drops_only_the_slow_replica() {
    let mut r = Rig::online(LIMIT, false);
    r.attach(OTHER, b"?", b"-1");
    r.ev(Event::Unflushed { conn: OTHER, bytes: 0 });
    // OTHER's socket keeps up; REPL's does not.
    for _ in 0..30 {
        r.write(500);
        r.ev(Event::Unflushed { conn: OTHER, bytes: 0 });
    }
    assert_eq!(r.closed, vec![REPL], "R39: only the replica over the hard limit goes");
    assert_eq!(r.m.counters().client_output_buffer_limit_disconnections, 1);
    let (conn, used, soft) = r.dropped[0];
    assert_eq!((conn, soft), (REPL, false));
    assert!(used >= LIMIT.hard_bytes, "dropped at {used}");
    assert_eq!(
        r.state(OTHER),
        Some(SlaveState::Online),
        "the master keeps serving the rest"
    );
}

#[test]
fn flushed_output_does_not_count() {
    let mut r = Rig::online(LIMIT, false);
    for _ in 0..200 {
        r.write(500);
        r.flush_all();
    }
    assert!(
        r.closed.is_empty(),
        "a replica that reads is never dropped: {:?}",
        r.dropped
    );
    assert_eq!(r.m.obuf_used(REPL), Some(0));
}

#[test]
fn soft_limit_needs_its_seconds() {
    let mut r = Rig::online(LIMIT, false);
    r.write(5_000); // over soft, under hard
    assert!(r.closed.is_empty());
    r.now += 2_000;
    r.write(BIG);
    assert!(
        r.closed.is_empty(),
        "exactly soft_seconds over the limit is still allowed"
    );
    r.now += 1;
    r.write(BIG);
    assert_eq!(r.dropped.first().map(|d| (d.0, d.2)), Some((REPL, true)));
}

#[test]
fn dipping_under_the_soft_limit_restarts_its_clock() {
    let mut r = Rig::online(LIMIT, false);
    r.write(5_000);
    r.now += 1_500;
    r.ev(Event::Unflushed { conn: REPL, bytes: 100 });
    r.write(BIG); // a check while under the soft limit resets its clock
    r.write(5_000);
    r.now += 1_500;
    r.write(BIG);
    assert!(
        r.closed.is_empty(),
        "3 s over soft in total but never 2 s in a row: {:?}",
        r.dropped
    );
}

#[test]
fn stream_held_during_a_full_sync_counts() {
    // Disk sync whose snapshot is not ready yet: the stream accumulates for the replica (R13).
    let mut r = Rig::new(LIMIT, false);
    r.ev(Event::Command {
        conn: REPL,
        argv: argv(&[b"REPLCONF", b"capa", b"psync2"]),
    });
    r.m.handle(
        Millis(0),
        Event::Command {
            conn: REPL,
            argv: argv(&[b"PSYNC", b"?", b"-1"]),
        },
    );
    // Leave the StartSnapshot unanswered.
    let _: Vec<Action> = r.m.drain_actions().collect();
    assert_eq!(r.state(REPL), Some(SlaveState::WaitBgsaveEnd));
    r.ev(Event::Unflushed { conn: REPL, bytes: 0 });
    for _ in 0..25 {
        r.write(500);
    }
    assert_eq!(r.closed, vec![REPL], "R39 counts the accumulated stream (R13)");
}

#[test]
fn rdb_transfers_are_outside_the_buffer() {
    for diskless in [false, true] {
        let r = Rig::online(LIMIT, diskless);
        assert!(r.rdb > LIMIT.hard_bytes, "the test RDB must exceed the limit");
        assert!(r.closed.is_empty(), "diskless={diskless}: {:?}", r.dropped);
    }
}

#[test]
fn diskless_stream_waits_for_the_first_ack_in_the_buffer() {
    // R34: a diskless replica gets no stream before its first ACK; it is held for it and
    // counts against its limit.
    let mut r = Rig::new(LIMIT, true);
    r.attach(REPL, b"?", b"-1");
    assert_eq!(r.state(REPL), Some(SlaveState::Online));
    r.flush_all();
    let queued = r.queued;
    r.write(500);
    assert_eq!(r.queued, queued, "nothing sent before the first ACK");
    let held = r.m.obuf_used(REPL).unwrap();
    assert!(held > 500, "{held}");
    r.ev(Event::Command {
        conn: REPL,
        argv: argv(&[b"REPLCONF", b"ACK", b"0"]),
    });
    assert_eq!(r.queued, queued + held, "the held stream follows the ACK");
    assert_eq!(r.m.obuf_used(REPL), Some(held), "now unflushed instead of held");
}

#[test]
fn zero_disables_both_limits() {
    let mut r = Rig::online(ObufLimit::NONE, false);
    for _ in 0..100 {
        r.write(10_000);
        r.now += 1_000;
    }
    assert!(r.closed.is_empty());
    assert!(r.m.obuf_used(REPL).unwrap() > 1_000_000);
}

#[test]
fn dropped_replica_continues_when_the_backlog_still_has_its_offset() {
    let mut r = Rig::online(LIMIT, false);
    let id = r.m.replid().to_string();
    r.write(100);
    r.flush_all();
    let acked = r.m.master_repl_offset();
    for _ in 0..25 {
        r.write(500);
    }
    assert_eq!(r.closed, vec![REPL]);
    r.ev(Event::Closed { conn: REPL });
    let off = (acked + 1).to_string();
    r.attach(ConnId(9), id.as_bytes(), off.as_bytes());
    assert_eq!(
        r.state(ConnId(9)),
        Some(SlaveState::Online),
        "partial resync after the drop"
    );
    assert_eq!(r.m.counters().sync_partial_ok, 1);
}

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Flush(u64),
    Sleep(u64),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..3_000).prop_map(Op::Write),
        2 => (0u64..100).prop_map(Op::Flush),
        // Multiples of 500 ms land exactly on the soft-seconds boundary often.
        2 => (0u64..5).prop_map(|k| Op::Sleep(k * 500)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The model: buffer = queued − written; a write that crosses a block boundary of the
    /// stream makes the core check; hard drops at once, soft after more than
    /// `soft_seconds` of checks at or above the soft limit.
    #[test]
    fn obuf_model_agrees(ops in proptest::collection::vec(arb_op(), 1..60)) {
        let mut r = Rig::online(LIMIT, false);
        let mut written = r.queued;
        let mut soft_since: Option<u64> = None;
        let blocks = |offset: u64| offset.div_ceil(BLOCK);
        for op in ops {
            let before = r.m.master_repl_offset();
            match op {
                Op::Write(n) => r.write(n),
                Op::Flush(pct) => {
                    written += (r.queued - written) * pct / 100;
                    r.ev(Event::Unflushed { conn: REPL, bytes: r.queued - written });
                }
                Op::Sleep(ms) => r.now += ms,
            }
            let used = r.queued - written;
            let checked = blocks(r.m.master_repl_offset()) > blocks(before);
            let mut expect = None;
            if checked {
                if used >= LIMIT.soft_bytes {
                    let since = *soft_since.get_or_insert(r.now);
                    if r.now - since > LIMIT.soft_seconds * 1000 {
                        expect = Some(true);
                    }
                } else {
                    soft_since = None;
                }
                if used >= LIMIT.hard_bytes {
                    expect = Some(false);
                }
            }
            match expect {
                Some(soft) => {
                    prop_assert_eq!(r.dropped.len(), 1, "expected a drop at {} bytes", used);
                    prop_assert_eq!(r.dropped[0], (REPL, used, soft));
                    return Ok(());
                }
                None => prop_assert!(r.dropped.is_empty(), "dropped at {} bytes: {:?}", used, r.dropped),
            }
        }
    }
}

#[test]
fn hard_limit_is_inclusive_like_redis() {
    // redis: `used_mem >= hard_limit_bytes`.
    for (gap, dropped) in [(0u64, true), (1, false)] {
        let mut r = Rig::online(LIMIT, false);
        r.write(BIG); // the first write also carries a SELECT
        r.flush_all();
        r.write(BIG);
        let w = r.m.obuf_used(REPL).unwrap();
        r.ev(Event::Unflushed {
            conn: REPL,
            bytes: LIMIT.hard_bytes - w - gap,
        });
        assert!(r.closed.is_empty());
        r.write(BIG);
        assert_eq!(r.m.obuf_used(REPL).is_none(), dropped, "gap {gap}");
        assert_eq!(r.closed.len(), usize::from(dropped));
    }
}
