//! The replica core's link state machine (spec §4: R39a–R59), state by state, and the
//! real redis-server 7.0.15 handshakes replayed byte for byte from the captures.
//!
//! Part 1 puts a replica in each of the sixteen `ReplState`s and checks the bytes it
//! writes on entering it and its reaction to each kind of reply: the expected one, an
//! error line, garbage, a disconnect, and silence (a `Tick` past the timeout).
//! Part 2 replays `s1_*.log` timelines: every master→replica chunk is fed at its time,
//! every replica→master chunk must be exactly one `Action::Send` of exactly those bytes.
//! Part 3 feeds whole m2r captures in random chunkings (proptest, 128 cases).

use std::collections::VecDeque;

use bytes::Bytes;
use proptest::prelude::*;
use proto::rdb::{RdbDb, RdbEntry, RdbFile, ReplInfo};
use proto::{encode_command, LinkItem, Millis, ReplId};
use replica::{Action, Event, Observation, ReplState, Replica, ReplicaConfig, SYNCIO_TIMEOUT_MS};
use vectors::{decode_m2r, rdb_payload, read, timeline, LogLine};

/// The captures, read from the psync-tests package (tests/vectors/) with the helpers it uses.
#[allow(dead_code)] // the shared file has helpers this test does not need
mod vectors {
    /// Directory holding the capture files: tests/vectors/ of the workspace.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/redis-7.0.15")
    }

    include!("../../../tests/vectors_access.rs");
}

const MASTER_ID: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";
const OTHER_ID: &[u8; 40] = b"fedcba9876543210fedcba9876543210fedcba98";

fn id(b: &[u8; 40]) -> ReplId {
    ReplId(*b)
}

fn cmd(parts: &[&str]) -> Bytes {
    Bytes::from(encode_command(parts))
}

/// A small RDB as a 7.0 master writes it for a full sync at `offset` (R65).
fn rdb_bytes(offset: u64) -> Vec<u8> {
    let file = RdbFile::with_repl_aux(
        "7.0.15",
        0,
        0,
        Some(ReplInfo {
            repl_stream_db: 0,
            repl_id: id(MASTER_ID),
            repl_offset: offset,
        }),
        vec![RdbDb {
            index: 0,
            entries: vec![RdbEntry {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                expire_ms: None,
            }],
        }],
    );
    proto::rdb::write(&file)
}

/// A replica core plus what it did, split by kind.
struct Drive {
    r: Replica,
    now: u64,
    acts: Vec<Action>,
}

impl Drive {
    fn new(cfg: ReplicaConfig) -> Self {
        Drive {
            r: Replica::new(cfg),
            now: 10_000,
            acts: Vec::new(),
        }
    }

    fn collect(&mut self) {
        self.acts.extend(self.r.drain_actions());
    }

    fn handle(&mut self, ev: Event) {
        self.r.handle(Millis(self.now), ev);
        self.collect();
    }

    fn data(&mut self, bytes: &[u8]) {
        let link = self.r.link();
        self.handle(Event::Data {
            link,
            bytes: Bytes::copy_from_slice(bytes),
        });
    }

    fn tick_at(&mut self, now: u64) {
        self.now = now;
        self.handle(Event::Tick);
    }

    /// Takes the actions so far.
    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.acts)
    }

    fn sends(acts: &[Action]) -> Vec<Bytes> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Send { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    fn connects(acts: &[Action]) -> Vec<u64> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Connect { link } => Some(*link),
                _ => None,
            })
            .collect()
    }

    fn closes(acts: &[Action]) -> usize {
        acts.iter().filter(|a| matches!(a, Action::Close { .. })).count()
    }

    fn states(acts: &[Action]) -> Vec<ReplState> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Observe(Observation::State { to, .. }) => Some(*to),
                _ => None,
            })
            .collect()
    }
}

/// Every optional step enabled: AUTH with a user, announce-ip, a cached master (R45).
fn full_cfg() -> ReplicaConfig {
    ReplicaConfig {
        masterauth: Some(Bytes::from_static(b"pw")),
        masteruser: Some(Bytes::from_static(b"repl")),
        listening_port: 17002,
        announce_ip: Some(Bytes::from_static(b"10.0.0.9")),
        ..ReplicaConfig::default()
    }
}

/// Puts a fresh replica in `state` by the shortest legal path.
fn reach(state: ReplState) -> Drive {
    let mut d = Drive::new(full_cfg());
    if state == ReplState::None {
        return d;
    }
    d.r.replicaof(Millis(d.now), Some((id(MASTER_ID), 99)));
    d.collect();
    let steps: &[(ReplState, &[u8])] = &[
        (ReplState::ReceivePong, b""),
        (ReplState::ReceiveAuth, b"+PONG\r\n"),
        (ReplState::ReceivePort, b"+OK\r\n"),
        (ReplState::ReceiveIp, b"+OK\r\n"),
        (ReplState::ReceiveCapa, b"+OK\r\n"),
        (ReplState::ReceivePsync, b"+OK\r\n"),
        (
            ReplState::Transfer,
            b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 100\r\n",
        ),
    ];
    if state == ReplState::Connect {
        let link = d.r.link();
        d.handle(Event::ConnectFailed { link });
        assert_eq!(d.r.state(), ReplState::Connect);
        d.take();
        return d;
    }
    if state == ReplState::Connecting {
        assert_eq!(d.r.state(), ReplState::Connecting);
        d.take();
        return d;
    }
    let link = d.r.link();
    d.handle(Event::Connected { link });
    for (s, reply) in steps {
        if !reply.is_empty() {
            d.data(reply);
        }
        assert_eq!(d.r.state(), *s, "reach: path to {state:?}");
        if *s == state {
            d.take();
            return d;
        }
    }
    // CONNECTED: a disk RDB at offset 100.
    let rdb = rdb_bytes(100);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb);
    d.data(&bulk);
    assert_eq!(d.r.state(), ReplState::Connected);
    assert_eq!(state, ReplState::Connected, "reach: unknown target");
    d.take();
    d
}

// ----- Part 1: each state ---------------------------------------------------------------

/// R39a state 0: a core that is not a replica ignores every link event and tick.
#[test]
fn none_state_ignores_all_link_events_and_ticks() {
    let mut d = reach(ReplState::None);
    d.handle(Event::Data {
        link: 0,
        bytes: Bytes::from_static(b"+PONG\r\n"),
    });
    d.handle(Event::Closed { link: 0 });
    d.handle(Event::Connected { link: 0 });
    d.tick_at(1_000_000);
    assert_eq!(d.take(), vec![]);
    assert_eq!(d.r.state(), ReplState::None);
    assert_eq!(d.r.slave_repl_offset(), 0);
}

/// R40 CONNECT row / R44: a replica in CONNECT connects on the next cron tick, and only
/// then (no bytes are written before the TCP connect succeeds).
#[test]
fn connect_state_connects_on_next_tick() {
    let mut d = reach(ReplState::Connect);
    let link = d.r.link();
    d.data(b"+PONG\r\n");
    assert_eq!(d.take(), vec![], "no socket, nothing read");
    d.tick_at(d.now + 1_000);
    let acts = d.take();
    assert_eq!(Drive::connects(&acts), vec![link + 1]);
    assert!(Drive::sends(&acts).is_empty());
    assert_eq!(d.r.state(), ReplState::Connecting);
}

/// R40 CONNECTING row: on connect the replica writes exactly `RESP(PING)` (14 bytes).
/// A failed connect returns to CONNECT; events of a stale link are ignored.
#[test]
fn connecting_writes_ping_on_connect_and_ignores_stale_links() {
    let mut d = reach(ReplState::Connecting);
    let link = d.r.link();
    d.handle(Event::Connected { link: link - 1 });
    assert_eq!(d.take(), vec![], "stale link ignored");
    d.handle(Event::Connected { link });
    let acts = d.take();
    assert_eq!(Drive::sends(&acts), vec![Bytes::from_static(b"*1\r\n$4\r\nPING\r\n")]);
    assert_eq!(d.r.state(), ReplState::ReceivePong);

    let mut d = reach(ReplState::Connecting);
    let link = d.r.link();
    d.handle(Event::ConnectFailed { link });
    assert_eq!(d.r.state(), ReplState::Connect);
}

/// R43/R56: a connect that hangs longer than repl-timeout is cancelled and retried at once;
/// a tick before the timeout does nothing.
#[test]
fn connecting_times_out_after_repl_timeout_and_reconnects_at_once() {
    let mut d = reach(ReplState::Connecting);
    let link = d.r.link();
    let t0 = d.now;
    d.tick_at(t0 + 60_000);
    assert_eq!(d.take(), vec![], "idle == timeout is not > timeout");
    d.tick_at(t0 + 60_001);
    let acts = d.take();
    assert!(Drive::connects(&acts).iter().all(|l| *l > link));
    assert_eq!(Drive::connects(&acts).len(), 1, "immediate reconnect");
    assert_eq!(d.r.state(), ReplState::Connecting);
}

/// What a waiting state does with one kind of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reaction {
    /// Moves to this state (writing the bytes checked separately).
    Next(ReplState),
    /// R44: closes and waits in CONNECT for the next tick.
    ErrorPath,
    /// R56/R58/R59: closes and connects again at once.
    ReconnectNow,
}

#[derive(Debug, Clone, Copy)]
enum Input {
    Expected,
    ErrorLine,
    Garbage,
    Disconnect,
    Timeout,
}

fn expected_reply(state: ReplState) -> Vec<u8> {
    match state {
        ReplState::ReceivePong => b"+PONG\r\n".to_vec(),
        ReplState::ReceiveAuth | ReplState::ReceivePort | ReplState::ReceiveIp | ReplState::ReceiveCapa => {
            b"+OK\r\n".to_vec()
        }
        ReplState::ReceivePsync => b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 7\r\n".to_vec(),
        ReplState::Transfer => {
            let rdb = rdb_bytes(100);
            let mut v = format!("${}\r\n", rdb.len()).into_bytes();
            v.extend_from_slice(&rdb);
            v
        }
        ReplState::Connected => b"*1\r\n$4\r\nping\r\n".to_vec(),
        s => unreachable!("{s:?} does not wait for a reply"),
    }
}

fn feed(d: &mut Drive, state: ReplState, input: Input) {
    match input {
        Input::Expected => d.data(&expected_reply(state)),
        Input::ErrorLine => d.data(b"-ERR boom\r\n"),
        Input::Garbage => d.data(b"hello world\r\n"),
        Input::Disconnect => {
            let link = d.r.link();
            d.handle(Event::Closed { link });
        }
        Input::Timeout => {
            // Handshake replies: 5 s (R40/R46, B8); transfer and stream: repl-timeout (R58).
            let limit = if state.is_handshake() {
                SYNCIO_TIMEOUT_MS
            } else {
                60_000
            };
            let t0 = d.now;
            d.tick_at(t0 + limit);
            let quiet = d.take();
            assert_eq!(Drive::closes(&quiet), 0, "{state:?}: no timeout at exactly the limit");
            d.tick_at(t0 + limit + 1);
        }
    }
}

/// The table: R40 (handshake rows), R41, R42, R43, R46, R48, R49, R56, R58, R59.
fn expected_reaction(state: ReplState, input: Input) -> Reaction {
    use Input::*;
    use ReplState as S;
    match (state, input) {
        (S::ReceivePong, Expected) => Reaction::Next(S::ReceiveAuth),
        (S::ReceivePong, ErrorLine | Garbage) => Reaction::ErrorPath,
        (S::ReceiveAuth, Expected | Garbage) => Reaction::Next(S::ReceivePort),
        (S::ReceiveAuth, ErrorLine) => Reaction::ErrorPath, // R41
        (S::ReceivePort, Expected | ErrorLine | Garbage) => Reaction::Next(S::ReceiveIp),
        (S::ReceiveIp, Expected | ErrorLine | Garbage) => Reaction::Next(S::ReceiveCapa),
        (S::ReceiveCapa, Expected | ErrorLine | Garbage) => Reaction::Next(S::ReceivePsync),
        (S::ReceivePsync, Expected | ErrorLine | Garbage) => Reaction::Next(S::Transfer),
        (S::Transfer, Expected) => Reaction::Next(S::Connected),
        (S::Transfer, ErrorLine | Garbage) => Reaction::ReconnectNow, // R48 → R56
        (S::Connected, Expected | ErrorLine | Garbage) => Reaction::Next(S::Connected),
        (S::Transfer | S::Connected, Disconnect | Timeout) => Reaction::ReconnectNow,
        (_, Disconnect | Timeout) => Reaction::ErrorPath,
        (s, i) => unreachable!("{s:?} {i:?}"),
    }
}

/// The bytes a waiting state writes when it gets the reply `input`.
fn expected_writes(state: ReplState, input: Input) -> Vec<Bytes> {
    use ReplState as S;
    match (state, input) {
        (S::ReceivePong, Input::Expected) => vec![cmd(&["AUTH", "repl", "pw"])],
        (S::ReceiveAuth, Input::Expected | Input::Garbage) => {
            vec![cmd(&["REPLCONF", "listening-port", "17002"])]
        }
        (S::ReceivePort, Input::Expected | Input::ErrorLine | Input::Garbage) => {
            vec![cmd(&["REPLCONF", "ip-address", "10.0.0.9"])]
        }
        (S::ReceiveIp, Input::Expected | Input::ErrorLine | Input::Garbage) => {
            vec![cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"])]
        }
        // R45: the cached master at reploff 99 asks for byte 100.
        (S::ReceiveCapa, Input::Expected | Input::ErrorLine | Input::Garbage) => {
            vec![Bytes::from(encode_command(&[&b"PSYNC"[..], MASTER_ID, b"100"]))]
        }
        // R46 last row: anything but FULLRESYNC/CONTINUE/NOMASTERLINK/LOADING → inline SYNC.
        (S::ReceivePsync, Input::ErrorLine | Input::Garbage) => {
            vec![Bytes::from_static(b"SYNC\r\n")]
        }
        _ => vec![],
    }
}

/// Every waiting state × every kind of input: next state, bytes written, and whether the
/// link is closed and re-opened at once or on the next tick (R40–R59).
#[test]
fn every_waiting_state_reacts_to_expected_error_garbage_disconnect_and_timeout() {
    let waiting = [
        ReplState::ReceivePong,
        ReplState::ReceiveAuth,
        ReplState::ReceivePort,
        ReplState::ReceiveIp,
        ReplState::ReceiveCapa,
        ReplState::ReceivePsync,
        ReplState::Transfer,
        ReplState::Connected,
    ];
    let inputs = [
        Input::Expected,
        Input::ErrorLine,
        Input::Garbage,
        Input::Disconnect,
        Input::Timeout,
    ];
    for state in waiting {
        for input in inputs {
            let mut d = reach(state);
            let link = d.r.link();
            feed(&mut d, state, input);
            let acts = d.take();
            let ctx = format!("{state:?} + {input:?}");
            match expected_reaction(state, input) {
                Reaction::Next(next) => {
                    assert_eq!(d.r.state(), next, "{ctx}");
                    assert_eq!(Drive::closes(&acts), 0, "{ctx}: link kept");
                    assert_eq!(d.r.link(), link, "{ctx}: same link");
                    let mut writes = Drive::sends(&acts);
                    if state == ReplState::Connected && matches!(input, Input::Timeout) {
                        writes.clear();
                    }
                    assert_eq!(writes, expected_writes(state, input), "{ctx}: bytes");
                }
                Reaction::ErrorPath => {
                    assert_eq!(d.r.state(), ReplState::Connect, "{ctx}");
                    assert_eq!(Drive::closes(&acts), 1, "{ctx}: link closed");
                    assert!(Drive::connects(&acts).is_empty(), "{ctx}: waits for cron");
                    assert!(Drive::sends(&acts).is_empty(), "{ctx}: nothing written");
                    d.tick_at(d.now + 1_000);
                    let acts = d.take();
                    assert_eq!(Drive::connects(&acts).len(), 1, "{ctx}: R44 retry on tick");
                }
                Reaction::ReconnectNow => {
                    assert_eq!(d.r.state(), ReplState::Connecting, "{ctx}");
                    assert_eq!(Drive::closes(&acts), 1, "{ctx}: link closed");
                    assert_eq!(Drive::connects(&acts).len(), 1, "{ctx}: R56 at once");
                    assert!(Drive::sends(&acts).is_empty(), "{ctx}: nothing written");
                }
            }
            if state == ReplState::Transfer && !matches!(input, Input::Expected) {
                assert!(
                    acts.iter()
                        .any(|a| matches!(a, Action::Observe(Observation::TransferFailed { .. }))),
                    "{ctx}: R51 transfer failure observed"
                );
            }
        }
    }
}

/// R39a: the SEND_x states are passed through in order and each writes its command
/// (AUTH with masteruser, REPLCONF listening-port, ip-address, capa, PSYNC).
#[test]
fn send_states_are_walked_in_order_writing_one_command_each() {
    let mut d = reach(ReplState::ReceivePong);
    let mut states = vec![];
    let mut writes = vec![];
    for reply in [&b"+PONG\r\n"[..], b"+OK\r\n", b"+OK\r\n", b"+OK\r\n", b"+OK\r\n"] {
        d.data(reply);
        let acts = d.take();
        states.extend(Drive::states(&acts));
        writes.extend(Drive::sends(&acts));
    }
    use ReplState as S;
    assert_eq!(
        states,
        vec![
            S::SendAuth,
            S::ReceiveAuth,
            S::SendPort,
            S::ReceivePort,
            S::SendIp,
            S::ReceiveIp,
            S::SendCapa,
            S::ReceiveCapa,
            S::SendPsync,
            S::ReceivePsync
        ]
    );
    assert_eq!(
        writes,
        vec![
            cmd(&["AUTH", "repl", "pw"]),
            cmd(&["REPLCONF", "listening-port", "17002"]),
            cmd(&["REPLCONF", "ip-address", "10.0.0.9"]),
            cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]),
            Bytes::from(encode_command(&[&b"PSYNC"[..], MASTER_ID, b"100"])),
        ]
    );
}

/// R40: without masterauth and announce-ip the optional states are skipped (no bytes);
/// without a cached master PSYNC is `? -1` (R45).
#[test]
fn optional_auth_and_ip_steps_are_skipped_and_psync_asks_for_full() {
    let mut d = Drive::new(ReplicaConfig {
        listening_port: 6380,
        ..ReplicaConfig::default()
    });
    d.r.replicaof(Millis(d.now), None);
    d.collect();
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n");
    let acts = d.take();
    assert_eq!(
        Drive::sends(&acts),
        vec![
            cmd(&["PING"]),
            cmd(&["REPLCONF", "listening-port", "6380"]),
            cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]),
            cmd(&["PSYNC", "?", "-1"]),
        ]
    );
    assert!(!Drive::states(&acts).contains(&ReplState::ReceiveAuth));
    assert!(!Drive::states(&acts).contains(&ReplState::ReceiveIp));
    assert_eq!(d.r.state(), ReplState::ReceivePsync);
}

/// R39b: the pipelined handshake writes AUTH, then both REPLCONFs in one write (the
/// 109-byte segment of s1_auth), and still consumes one reply per state.
#[test]
fn pipelined_handshake_writes_replconfs_at_once_and_reads_replies_in_order() {
    let mut d = Drive::new(ReplicaConfig {
        masterauth: Some(Bytes::from_static(b"s3cret-pw")),
        listening_port: 17002,
        pipelined_handshake: true,
        ..ReplicaConfig::default()
    });
    d.r.replicaof(Millis(d.now), None);
    d.collect();
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.take();
    d.data(b"-NOAUTH Authentication required.\r\n");
    let w = Drive::sends(&d.take());
    assert_eq!(w.len(), 2);
    assert_eq!(w[0], cmd(&["AUTH", "s3cret-pw"]));
    assert_eq!(w[1].len(), 109);
    d.data(b"+OK\r\n");
    assert!(Drive::sends(&d.take()).is_empty(), "already written");
    assert_eq!(d.r.state(), ReplState::ReceivePort);
    d.data(b"+OK\r\n+OK\r\n");
    assert_eq!(Drive::sends(&d.take()), vec![cmd(&["PSYNC", "?", "-1"])]);
}

/// R46 rows: `-NOMASTERLINK` and `-LOADING` mean "try later" (error path, no SYNC);
/// a keepalive newline keeps waiting; `+FULLRESYNC` with a short id zeroes the id.
#[test]
fn psync_reply_try_later_keepalive_and_short_id() {
    for line in [
        &b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"[..],
        b"-LOADING Redis is loading the dataset in memory\r\n",
    ] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(line);
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connect);
        assert!(Drive::sends(&acts).is_empty(), "no SYNC fallback");
    }
    let mut d = reach(ReplState::ReceivePsync);
    d.data(b"\n");
    assert_eq!(d.take(), vec![]);
    assert_eq!(d.r.state(), ReplState::ReceivePsync);
    // R46 row 1: the id is not 40 chars → zero id; the transfer still happens.
    d.data(b"+FULLRESYNC shortid 5\r\n");
    assert_eq!(d.r.state(), ReplState::Transfer);
    let rdb = rdb_bytes(5);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb);
    d.data(&bulk);
    assert_eq!(d.r.master().map(|m| m.replid), Some(ReplId::ZERO));
    assert_eq!(d.r.master().map(|m| m.reploff), Some(5));
}

/// R46: a `+FULLRESYNC` whose offset is not a number is a protocol violation: the link
/// is closed (error path), nothing panics.
#[test]
fn fullresync_with_bad_offset_closes_the_link() {
    let mut d = reach(ReplState::ReceivePsync);
    d.data(b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 x\r\n");
    assert_eq!(d.r.state(), ReplState::Connect);
    assert_eq!(Drive::closes(&d.take()), 1);
}

/// R47: `+CONTINUE <new id>` adopts the id (the node tells the master core); bare
/// `+CONTINUE` and `+CONTINUE <same id>` keep it. The stream continues at reploff + 1.
#[test]
fn continue_reply_adopts_new_id_only_when_it_differs() {
    for (reply, adopt) in [
        (format!("+CONTINUE {}\r\n", String::from_utf8_lossy(OTHER_ID)), true),
        (format!("+CONTINUE {}\r\n", String::from_utf8_lossy(MASTER_ID)), false),
        ("+CONTINUE\r\n".to_string(), false),
    ] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(reply.as_bytes());
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connected, "{reply}");
        let adopted: Vec<ReplId> = acts
            .iter()
            .filter_map(|a| match a {
                Action::AdoptReplid { replid } => Some(*replid),
                _ => None,
            })
            .collect();
        if adopt {
            assert_eq!(adopted, vec![id(OTHER_ID)]);
        } else {
            assert!(adopted.is_empty(), "{reply}");
        }
        let m = *d.r.master().expect("master link");
        assert_eq!(m.reploff, 99, "I4: nothing applied yet");
        assert!(acts.contains(&Action::Observe(Observation::Continue {
            replid: m.replid,
            offset: 100
        })));
        d.data(b"*1\r\n$4\r\nping\r\n");
        assert_eq!(d.r.master().map(|m| m.reploff), Some(113));
    }
}

/// STYLE §3 / R46: a `+CONTINUE` answering `PSYNC ? -1` (no cached master) is a protocol
/// violation from the peer; it must close the link, never panic.
#[test]
fn continue_without_cached_master_closes_the_link_without_panicking() {
    let mut d = Drive::new(ReplicaConfig::default());
    d.r.replicaof(Millis(d.now), None);
    d.collect();
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n");
    assert_eq!(d.r.state(), ReplState::ReceivePsync);
    d.data(b"+CONTINUE\r\n*1\r\n$4\r\nping\r\n");
    assert_ne!(d.r.state(), ReplState::Connected);
    assert_eq!(Drive::closes(&d.take()), 1);
}

/// STYLE §3 / I10: stream-looking bytes while the handshake is not done (here a
/// `+CONTINUE` line given as the PING reply) must not be applied and must not panic.
#[test]
fn stream_bytes_before_connected_close_the_link_without_panicking() {
    let mut d = reach(ReplState::ReceivePong);
    d.data(b"+CONTINUE\r\n+OK\r\n*1\r\n$4\r\nping\r\n");
    let acts = d.take();
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Proxy { .. } | Action::Apply { .. })),
        "I10: nothing applied outside CONNECTED"
    );
    assert_ne!(d.r.state(), ReplState::Connected);
}

/// R48/R49: keepalive newlines during the transfer refresh the transfer timeout.
#[test]
fn transfer_keepalive_refreshes_the_timeout() {
    let mut d = reach(ReplState::Transfer);
    let t0 = d.now;
    d.now = t0 + 40_000;
    d.data(b"\n");
    d.tick_at(t0 + 60_001);
    assert_eq!(d.r.state(), ReplState::Transfer, "refreshed at +40 s");
    d.tick_at(t0 + 100_001);
    assert_eq!(d.r.state(), ReplState::Connecting, "R58: timed out, reconnect now");
}

/// R49/R51: the link closing mid-RDB keeps the cached master (the dataset is untouched)
/// so the next attempt PSYNCs again with the same id and offset (R53).
#[test]
fn transfer_cut_mid_rdb_keeps_cached_master_and_retries_psync() {
    let mut d = reach(ReplState::Transfer);
    let rdb = rdb_bytes(100);
    let mut bulk = format!("${}\r\n", rdb.len()).into_bytes();
    bulk.extend_from_slice(&rdb[..rdb.len() / 2]);
    d.data(&bulk);
    let link = d.r.link();
    d.handle(Event::Closed { link });
    let acts = d.take();
    assert!(!acts.iter().any(|a| matches!(a, Action::FullSyncLoaded { .. })));
    assert_eq!(d.r.cached().map(|c| (c.replid, c.reploff)), Some((id(MASTER_ID), 99)));
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    let w = Drive::sends(&d.take());
    assert_eq!(
        w.last(),
        Some(&Bytes::from(encode_command(&[&b"PSYNC"[..], MASTER_ID, b"100"])))
    );
}

/// R52: a diskless (`$EOF:`) transfer is acknowledged at once with `REPLCONF ACK <off>`;
/// a disk (`$len`) transfer is not. Both load the RDB and adopt id and offset (I7).
#[test]
fn eof_transfer_acks_at_once_and_length_transfer_does_not() {
    let rdb = rdb_bytes(7);
    for eof in [true, false] {
        let mut d = reach(ReplState::ReceivePsync);
        d.data(b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 7\r\n");
        let mut bulk = Vec::new();
        if eof {
            bulk.extend_from_slice(b"$EOF:");
            bulk.extend_from_slice(OTHER_ID);
            bulk.extend_from_slice(b"\r\n");
            bulk.extend_from_slice(&rdb);
            bulk.extend_from_slice(OTHER_ID);
        } else {
            bulk.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
            bulk.extend_from_slice(&rdb);
        }
        d.data(&bulk);
        let acts = d.take();
        assert_eq!(d.r.state(), ReplState::Connected);
        let loaded: Vec<(ReplId, u64, usize)> = acts
            .iter()
            .filter_map(|a| match a {
                Action::FullSyncLoaded { replid, offset, rdb } => {
                    Some((*replid, *offset, rdb.dbs.iter().map(|d| d.entries.len()).sum()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(loaded, vec![(id(MASTER_ID), 7, 1)]);
        let acks = Drive::sends(&acts);
        if eof {
            assert_eq!(acks, vec![cmd(&["REPLCONF", "ACK", "7"])]);
        } else {
            assert!(acks.is_empty());
        }
        assert_eq!(d.r.cached(), None, "R50: cached master discarded");
    }
}

/// R22/R57: in CONNECTED a GETACK is answered with the offset *before* it; every tick
/// sends the current offset; SELECT changes the db of applied commands; every command's
/// exact bytes are proxied (R55).
#[test]
fn connected_applies_acks_and_proxies_exact_bytes() {
    let mut d = reach(ReplState::Connected);
    let stream = [
        cmd(&["SELECT", "3"]),
        cmd(&["SET", "a", "1"]),
        cmd(&["REPLCONF", "GETACK", "*"]),
        cmd(&["ping"]),
    ];
    let all: Vec<u8> = stream.iter().flat_map(|b| b.to_vec()).collect();
    d.data(&all);
    let acts = d.take();
    let before_getack = 100 + stream[0].len() + stream[1].len();
    assert_eq!(
        Drive::sends(&acts),
        vec![cmd(&["REPLCONF", "ACK", &before_getack.to_string()])]
    );
    assert!(acts.contains(&Action::Apply {
        db: 3,
        argv: vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"1")
        ]
    }));
    let proxied: Vec<Bytes> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Proxy { bytes } => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(proxied, stream.to_vec());
    let end = 100 + all.len() as u64;
    assert_eq!(d.r.master().map(|m| m.reploff), Some(end));
    d.tick_at(d.now + 1_000);
    assert_eq!(
        Drive::sends(&d.take()),
        vec![cmd(&["REPLCONF", "ACK", &end.to_string()])]
    );
}

/// R55/R59: a command cut by a link loss is not applied or counted; the cached master
/// keeps the applied offset, and the next PSYNC asks for the byte after it.
#[test]
fn link_loss_mid_command_caches_applied_offset_only() {
    let mut d = reach(ReplState::Connected);
    let set = cmd(&["SET", "a", "1"]);
    let mut bytes = set.to_vec();
    bytes.extend_from_slice(&set[..10]);
    d.data(&bytes);
    let link = d.r.link();
    d.handle(Event::Closed { link });
    assert_eq!(d.r.cached().map(|c| c.reploff), Some(100 + set.len() as u64));
    assert_eq!(d.r.cached().and_then(|c| c.db), Some(0), "R59: keeps the db");
    assert_eq!(d.r.state(), ReplState::Connecting, "R59: immediate reconnect");
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    let want = (100 + set.len() as u64 + 1).to_string();
    assert_eq!(
        Drive::sends(&d.take()).last(),
        Some(&Bytes::from(encode_command(&[
            &b"PSYNC"[..],
            MASTER_ID,
            want.as_bytes()
        ])))
    );
}

/// R59: a protocol error on the master link frees the master without caching it, so the
/// next attempt is `PSYNC ? -1`.
#[test]
fn protocol_error_in_stream_drops_master_without_caching() {
    let mut d = reach(ReplState::Connected);
    d.data(b"*1\r\n$x\r\n");
    assert_eq!(d.r.state(), ReplState::Connecting);
    assert_eq!(d.r.cached(), None);
    let link = d.r.link();
    d.handle(Event::Connected { link });
    d.data(b"+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    assert_eq!(Drive::sends(&d.take()).last(), Some(&cmd(&["PSYNC", "?", "-1"])));
}

/// R62: `REPLICAOF NO ONE` from any state closes the link and forgets the cached master.
#[test]
fn unset_from_any_state_returns_to_none() {
    for s in [
        ReplState::Connect,
        ReplState::Connecting,
        ReplState::ReceivePong,
        ReplState::ReceiveCapa,
        ReplState::ReceivePsync,
        ReplState::Transfer,
        ReplState::Connected,
    ] {
        let mut d = reach(s);
        d.r.unset();
        d.collect();
        assert_eq!(d.r.state(), ReplState::None, "{s:?}");
        assert_eq!(d.r.cached(), None);
        assert_eq!(d.r.master(), None);
        d.tick_at(d.now + 5_000);
        assert!(Drive::connects(&d.take()).is_empty(), "{s:?}: stays NONE");
    }
}

/// R62: unset closes the live link exactly once, and a core that is not a replica has no
/// link to close.
#[test]
fn unset_closes_a_live_link_and_nothing_when_not_replicating() {
    let mut d = reach(ReplState::Connected);
    d.r.unset();
    d.collect();
    assert_eq!(Drive::closes(&d.take()), 1);
    let mut d = reach(ReplState::None);
    d.r.unset();
    d.collect();
    assert_eq!(Drive::closes(&d.take()), 0, "NONE: nothing to close");
}

/// Events of a link the core already closed (the IO layer reports them late) and connect
/// results outside CONNECTING change nothing: no state, no bytes applied, no second close.
#[test]
fn late_events_of_a_closed_link_are_ignored() {
    // A stream byte of the old link after an error must not reach the keyspace.
    let mut d = reach(ReplState::Connected);
    let old = d.r.link();
    d.data(b"*1\r\n$x\r\n"); // protocol error: closes `old`, reconnects
    d.take();
    let state = d.r.state();
    d.handle(Event::Data {
        link: old,
        bytes: cmd(&["SET", "late", "1"]),
    });
    d.handle(Event::Closed { link: old });
    d.handle(Event::ConnectFailed { link: old });
    assert_eq!(d.take(), vec![], "late events of link {old}");
    assert_eq!(d.r.state(), state);

    // Between the close and the next connect (state CONNECT) the old tag is stale too.
    let mut d = reach(ReplState::ReceivePong);
    let old = d.r.link();
    d.data(b"-WRONG\r\n");
    assert_eq!(d.r.state(), ReplState::Connect);
    d.take();
    d.handle(Event::Closed { link: old });
    assert_eq!(d.take(), vec![], "a late close after the error path");

    // A connect failure reported while the handshake runs is not this link's news.
    let mut d = reach(ReplState::ReceivePong);
    let link = d.r.link();
    d.handle(Event::ConnectFailed { link });
    assert_eq!(d.r.state(), ReplState::ReceivePong);
    let mut d = reach(ReplState::Connecting);
    let link = d.r.link();
    d.handle(Event::ConnectFailed { link: link - 1 });
    assert_eq!(d.r.state(), ReplState::Connecting, "stale failure ignored");
}

/// R40: besides `+…`, the PING reply may be an auth refusal (the AUTH step follows).
#[test]
fn ping_replies_that_mean_auth_comes_next_are_accepted() {
    for reply in [
        &b"-NOAUTH Authentication required.\r\n"[..],
        b"-NOPERM this user has no permissions to run the 'ping' command\r\n",
        b"-ERR operation not permitted\r\n",
    ] {
        let mut d = reach(ReplState::ReceivePong);
        d.data(reply);
        assert_eq!(
            d.r.state(),
            ReplState::ReceiveAuth,
            "{}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// R55: a bare `\n` in the stream once CONNECTED is a (no-op) command: it counts one byte
/// and is proxied, as redis's replicas count it.
#[test]
fn a_newline_in_the_stream_counts_one_byte() {
    let mut d = reach(ReplState::Connected);
    assert_eq!(d.r.slave_repl_offset(), 100);
    d.data(b"\n");
    let acts = d.take();
    assert!(acts.contains(&Action::Proxy {
        bytes: Bytes::from_static(b"\n")
    }));
    assert_eq!(d.r.slave_repl_offset(), 101);
    assert_eq!(d.r.master().map(|m| m.reploff), Some(101));
}

/// R22: only `REPLCONF GETACK` is answered; any other REPLCONF in the stream is counted
/// and proxied but neither applied nor acknowledged.
#[test]
fn only_getack_among_stream_replconfs_is_answered() {
    let mut d = reach(ReplState::Connected);
    let other = cmd(&["REPLCONF", "rdb-only", "0"]);
    d.data(&other);
    let acts = d.take();
    assert_eq!(Drive::sends(&acts), Vec::<Bytes>::new());
    assert!(!acts.iter().any(|a| matches!(a, Action::Apply { .. })));
    assert_eq!(d.r.slave_repl_offset(), 100 + other.len() as u64);
}

/// R39a: the ROLE state words, and which states the handshake timeout covers.
#[test]
fn role_words_and_handshake_states_follow_the_r39a_table() {
    let words: Vec<&str> = ReplState::ALL.iter().map(|s| s.role_name()).collect();
    let mut want = vec!["none", "connect", "connecting"];
    want.extend(std::iter::repeat_n("handshake", 11));
    want.extend(["sync", "connected"]);
    assert_eq!(words, want);
    let handshake: Vec<u8> = ReplState::ALL
        .iter()
        .filter(|s| s.is_handshake())
        .map(|s| *s as u8)
        .collect();
    assert_eq!(handshake, (3..=13).collect::<Vec<u8>>());
    let d = Drive::new(full_cfg());
    assert_eq!(d.r.config().listening_port, 17002, "config() is the one given");
    assert_eq!(d.r.slave_repl_offset(), 0, "R6: no master, no cached master");
}

// ----- Part 2: captures replayed on their timelines --------------------------------------

fn own_id_before_replicaof(scenario: &str) -> Option<(ReplId, u64)> {
    let raw = String::from_utf8(read(&format!("{scenario}.log"))).expect("utf8");
    let at = raw.find("master_replid=")?;
    let id = &raw.as_bytes()[at + 14..at + 54];
    Some((ReplId::from_bytes(id).expect("40 chars"), 0))
}

fn has_bins(scenario: &str, conn: u32) -> bool {
    vectors::dir().join(format!("{scenario}.c{conn}.m2r.bin")).exists()
}

/// What a replay saw.
struct Replayed {
    d: Drive,
    acks: Vec<u64>,
    loaded: Vec<(ReplId, u64, RdbFile)>,
    /// (conn, whether the next Connect was already issued when the replica closed it).
    closed: Vec<(u32, bool)>,
}

/// Replays a capture on its timeline; every R>M chunk must be exactly one `Send`.
fn replay(scenario: &str, cfg: ReplicaConfig) -> Replayed {
    let mut d = Drive::new(cfg);
    let lines = timeline(scenario);
    let start = lines.first().map_or(0, |(t, _)| *t);
    d.now = start;
    d.r.replicaof(Millis(d.now), own_id_before_replicaof(scenario));
    let mut pending: VecDeque<Action> = d.take().into();
    let mut conns: Vec<(u32, u64, usize, usize)> = Vec::new(); // conn, link, m2r pos, r2m pos
    let mut out = Replayed {
        d: Drive::new(ReplicaConfig::default()),
        acks: vec![],
        loaded: vec![],
        closed: vec![],
    };
    let mut sends: VecDeque<(u64, Bytes)> = VecDeque::new();
    let mut connects: VecDeque<u64> = VecDeque::new();
    let mut closes: Vec<u64> = Vec::new();
    let absorb = |pending: &mut VecDeque<Action>,
                  sends: &mut VecDeque<(u64, Bytes)>,
                  connects: &mut VecDeque<u64>,
                  closes: &mut Vec<u64>,
                  out: &mut Replayed| {
        while let Some(a) = pending.pop_front() {
            match a {
                Action::Send { link, bytes } => {
                    if let Some(off) = bytes
                        .strip_prefix(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n")
                        .and_then(|rest| rest.split(|c| *c == b'\n').nth(1))
                    {
                        let v = std::str::from_utf8(off).expect("ascii");
                        out.acks.push(v.trim_end().parse().expect("ack offset"));
                    }
                    sends.push_back((link, bytes));
                }
                Action::Connect { link } => connects.push_back(link),
                Action::Close { link, .. } => closes.push(link),
                Action::FullSyncLoaded { replid, offset, rdb } => out.loaded.push((replid, offset, *rdb)),
                _ => {}
            }
        }
    };
    absorb(&mut pending, &mut sends, &mut connects, &mut closes, &mut out);
    for (t, line) in lines {
        d.now = d.now.max(t);
        match line {
            LogLine::Kill => break,
            LogLine::Opened(conn) => {
                if !has_bins(scenario, conn) {
                    break;
                }
                if connects.is_empty() {
                    d.tick_at(d.now);
                    pending.extend(d.take());
                    absorb(&mut pending, &mut sends, &mut connects, &mut closes, &mut out);
                }
                let link = connects.pop_front().expect("the replica connects (R40/R44)");
                conns.push((conn, link, 0, 0));
                d.handle(Event::Connected { link });
                pending.extend(d.take());
                absorb(&mut pending, &mut sends, &mut connects, &mut closes, &mut out);
            }
            LogLine::ClosedByReplica(conn) => {
                let link = conns.iter().find(|c| c.0 == conn).expect("known conn").1;
                assert!(closes.contains(&link), "{scenario}: c{conn} closed by the replica");
                out.closed.push((conn, !connects.is_empty()));
            }
            LogLine::Chunk { conn, m2r, len } => {
                let entry = conns.iter_mut().find(|c| c.0 == conn).expect("chunk on an opened conn");
                let (link, m_at, r_at) = (entry.1, entry.2, entry.3);
                if m2r {
                    let bytes = read(&format!("{scenario}.c{conn}.m2r.bin"));
                    let chunk = Bytes::copy_from_slice(&bytes[m_at..m_at + len]);
                    entry.2 += len;
                    d.handle(Event::Data { link, bytes: chunk });
                } else {
                    entry.3 += len;
                    if sends.is_empty() {
                        d.tick_at(d.now); // R57: the 1 Hz ACK
                    }
                    pending.extend(d.take());
                    absorb(&mut pending, &mut sends, &mut connects, &mut closes, &mut out);
                    let bytes = read(&format!("{scenario}.c{conn}.r2m.bin"));
                    let want = &bytes[r_at..r_at + len];
                    let (slink, got) = sends
                        .pop_front()
                        .unwrap_or_else(|| panic!("{scenario}: no write for R>M at {t} ms"));
                    assert_eq!(slink, link, "{scenario}: write on the right link");
                    assert_eq!(
                        &got[..],
                        want,
                        "{scenario}: R>M chunk at {t} ms:\n got  {:?}\n want {:?}",
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(want)
                    );
                }
                pending.extend(d.take());
                absorb(&mut pending, &mut sends, &mut connects, &mut closes, &mut out);
            }
        }
    }
    assert!(
        sends.is_empty(),
        "{scenario}: replica wrote bytes redis did not: {sends:?}"
    );
    for (conn, _, m_at, r_at) in &conns {
        assert_eq!(*m_at, read(&format!("{scenario}.c{conn}.m2r.bin")).len());
        assert_eq!(*r_at, read(&format!("{scenario}.c{conn}.r2m.bin")).len());
    }
    out.d = d;
    out
}

fn cfg_17002() -> ReplicaConfig {
    ReplicaConfig {
        listening_port: 17002,
        pipelined_handshake: true,
        ..ReplicaConfig::default()
    }
}

fn notes(scenario: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("{scenario}.notes.json"))).expect("notes")
}

fn final_offset(scenario: &str) -> u64 {
    notes(scenario)["replica_final"]["slave_repl_offset"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("replica_final.slave_repl_offset")
}

fn fullresync_id(scenario: &str) -> ReplId {
    decode_m2r(&read(&format!("{scenario}.c1.m2r.bin")))
        .into_iter()
        .find_map(|(i, _)| match i {
            LinkItem::Line(l) if l.starts_with(b"+FULLRESYNC ") => ReplId::from_bytes(&l[12..52]),
            _ => None,
        })
        .expect("+FULLRESYNC in capture")
}

/// Replays a full-sync capture and checks what redis's INFO and ACKs reported.
fn check_sync_capture(scenario: &str, cfg: ReplicaConfig, expect_acks_prefix: &[u64]) {
    let r = replay(scenario, cfg);
    assert_eq!(r.d.r.state(), ReplState::Connected, "{scenario}");
    let m = r.d.r.master().expect("master link");
    assert_eq!(m.reploff, final_offset(scenario), "{scenario}: R6 offset");
    assert_eq!(m.replid, fullresync_id(scenario), "{scenario}: I7 replid");
    assert!(r.acks.starts_with(expect_acks_prefix), "{scenario}: acks {:?}", r.acks);
    assert!(r.acks.contains(&228), "{scenario}: R22 GETACK at 228 → ACK 228");
    assert!(r.acks.windows(2).all(|w| w[0] <= w[1]), "I11: {:?}", r.acks);
    // FullSyncLoaded carries the RDB's keys (and its repl aux fields, R65).
    assert_eq!(r.loaded.len(), 1, "{scenario}: one full sync");
    let (replid, offset, rdb) = &r.loaded[0];
    assert_eq!((*replid, *offset), (fullresync_id(scenario), 0));
    let want =
        proto::rdb::load(&rdb_payload(&format!("{scenario}.c1.m2r.bin")).expect("rdb")).expect("capture RDB loads");
    assert_eq!(rdb, &want);
    assert!(rdb.dbs.iter().map(|d| d.entries.len()).sum::<usize>() > 0);
    assert_eq!(
        rdb.repl_info().map(|i| (i.repl_id, i.repl_offset)),
        Some((fullresync_id(scenario), 0))
    );
}

/// s1_startup: `--replicaof` replica: PING, REPLCONF listening-port 17002, capa, `PSYNC ? -1`
/// (R45), disk RDB, ACK 100 / 228 (GETACK, R22) / 265 (R57), byte for byte.
#[test]
fn s1_startup_replays_byte_for_byte() {
    check_sync_capture("s1_startup", cfg_17002(), &[100, 228, 265, 265]);
}

/// s1_disk: demoted master PSYNCs with its own id at 1 (R60), disk transfer, offsets
/// 100 → 228 → 265 → 279 → 293 (PINGs counted, R73), ACK every tick.
#[test]
fn s1_disk_replays_byte_for_byte() {
    check_sync_capture("s1_disk", cfg_17002(), &[100, 228, 265]);
    let r = replay("s1_disk", cfg_17002());
    assert!(r.acks.contains(&279) && r.acks.contains(&293), "{:?}", r.acks);
}

/// s1_diskless: `$EOF:` transfer → immediate `REPLCONF ACK 0` (R52), then as s1_disk.
#[test]
fn s1_diskless_replays_byte_for_byte() {
    check_sync_capture("s1_diskless", cfg_17002(), &[0, 100, 228, 265]);
}

/// s1_keepalive_disk / s1_keepalive_diskless: `\n` keepalives before the bulk or before
/// `+FULLRESYNC` are skipped (R46, R48); diskless ACKs 0 twice (load, then cron).
#[test]
fn s1_keepalive_captures_replay_byte_for_byte() {
    check_sync_capture("s1_keepalive_disk", cfg_17002(), &[100, 228, 265]);
    check_sync_capture("s1_keepalive_diskless", cfg_17002(), &[0, 0, 100, 228, 265]);
}

/// s1_auth: PING → `-NOAUTH` tolerated (R40), `AUTH s3cret-pw` (29 bytes), then both
/// REPLCONFs in one 109-byte write (R39b), `+OK+OK`, PSYNC.
#[test]
fn s1_auth_replays_byte_for_byte() {
    let cfg = ReplicaConfig {
        masterauth: Some(Bytes::from_static(b"s3cret-pw")),
        ..cfg_17002()
    };
    check_sync_capture("s1_auth", cfg, &[100, 228, 265]);
    let r2m = read("s1_auth.c1.r2m.bin");
    assert_eq!(&r2m[14..14 + 29], &cmd(&["AUTH", "s3cret-pw"])[..]);
}

/// s1_authuser: `AUTH repl replpw` (3 arguments, 36 bytes).
#[test]
fn s1_authuser_replays_byte_for_byte() {
    let cfg = ReplicaConfig {
        masteruser: Some(Bytes::from_static(b"repl")),
        masterauth: Some(Bytes::from_static(b"replpw")),
        ..cfg_17002()
    };
    check_sync_capture("s1_authuser", cfg, &[100, 228, 265]);
    assert_eq!(
        &read("s1_authuser.c1.r2m.bin")[14..14 + 36],
        &cmd(&["AUTH", "repl", "replpw"])[..]
    );
}

/// s1_noauth (R42): `-NOAUTH` tolerated for PING and both REPLCONFs; PSYNC `-NOAUTH` →
/// inline `SYNC`; its `-NOAUTH` aborts the transfer with an immediate reconnect (R56).
#[test]
fn s1_noauth_falls_back_to_sync_and_reconnects_at_once() {
    let r = replay("s1_noauth", cfg_17002());
    assert_eq!(r.closed, vec![(1, true)], "closed c1 and reconnected without a tick");
    assert_eq!(r.d.r.state(), ReplState::Connecting);
    assert_eq!(&read("s1_noauth.c1.r2m.bin")[14 + 50 + 59 + 69..], b"SYNC\r\n");
}

/// s1_authwrong (R41): `-WRONGPASS` to AUTH closes the link; the retry waits for the next
/// cron tick (c2 opens ~1 s later); the master's `-NOAUTH` to the pipelined REPLCONFs
/// arrives after we closed (c2) and is never read.
#[test]
fn s1_authwrong_closes_and_retries_on_next_tick() {
    let cfg = ReplicaConfig {
        masterauth: Some(Bytes::from_static(b"wrong-pw")),
        ..cfg_17002()
    };
    let r = replay("s1_authwrong", cfg);
    assert_eq!(r.closed.len(), 4, "{:?}", r.closed);
    assert!(r.closed.iter().all(|(_, immediate)| !immediate), "R41: retry on tick");
}

// ----- Part 3: random chunkings of the captures -------------------------------------------

/// Feeds a whole m2r capture in chunks (sizes cycled from `cuts`), no ticks.
fn feed_chunked(scenario: &str, cuts: &[usize]) -> (Drive, Vec<Action>) {
    let mut d = Drive::new(cfg_17002());
    d.r.replicaof(Millis(d.now), own_id_before_replicaof(scenario));
    d.collect();
    let link = d.r.link();
    d.handle(Event::Connected { link });
    let bytes = read(&format!("{scenario}.c1.m2r.bin"));
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = cuts[i % cuts.len()].clamp(1, bytes.len() - at);
        i += 1;
        d.data(&bytes[at..at + n]);
        at += n;
    }
    let acts = d.take();
    (d, acts)
}

fn stream_bytes(scenario: &str) -> Vec<u8> {
    let bytes = read(&format!("{scenario}.c1.m2r.bin"));
    let mut at = 0;
    let mut out = Vec::new();
    for (item, n) in decode_m2r(&bytes) {
        if matches!(item, LinkItem::Command(_)) {
            out.extend_from_slice(&bytes[at..at + n]);
        }
        at += n;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// R54/R55/R22/R52/I4: any chunking of the s1_disk / s1_diskless / s1_startup master
    /// bytes gives the same end state: CONNECTED at the captured offset, the proxied bytes
    /// are exactly the stream, applies are identical, ACKs are [0 (diskless)] + [228].
    #[test]
    fn captures_in_random_chunks_reach_connected_with_exact_offsets(
        cuts in prop::collection::vec(1usize..400, 1..40),
        which in 0usize..3,
    ) {
        let scenario = ["s1_disk", "s1_diskless", "s1_startup"][which];
        let (d, acts) = feed_chunked(scenario, &cuts);
        let (_, whole) = feed_chunked(scenario, &[usize::MAX]);
        prop_assert_eq!(d.r.state(), ReplState::Connected);
        let stream = stream_bytes(scenario);
        prop_assert_eq!(d.r.master().map(|m| m.reploff), Some(stream.len() as u64));
        let proxied: Vec<u8> = acts.iter().filter_map(|a| match a {
            Action::Proxy { bytes } => Some(bytes.to_vec()),
            _ => None,
        }).flatten().collect();
        prop_assert_eq!(&proxied, &stream);
        let applies = |v: &[Action]| -> Vec<Action> {
            v.iter().filter(|a| matches!(a, Action::Apply { .. })).cloned().collect()
        };
        prop_assert_eq!(applies(&acts), applies(&whole));
        let acks: Vec<Bytes> = Drive::sends(&acts)
            .into_iter()
            .filter(|b| b.starts_with(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK"))
            .collect();
        let mut want = vec![];
        if scenario == "s1_diskless" {
            want.push(cmd(&["REPLCONF", "ACK", "0"]));
        }
        want.push(cmd(&["REPLCONF", "ACK", "228"]));
        prop_assert_eq!(acks, want);
        // The handshake bytes equal the capture's first four requests.
        let r2m = read(&format!("{scenario}.c1.r2m.bin"));
        let hs: Vec<u8> = Drive::sends(&acts).iter().take(4).flat_map(|b| b.to_vec()).collect();
        prop_assert_eq!(&hs[..], &r2m[..hs.len()]);
    }
}

/// R62: `REPLICAOF NO ONE` frees the master client with its half-read MULTI; a later
/// master's EXEC must not apply the old master's queued commands nor count their bytes
/// (found by `Replica::check()`: the open MULTI survived `unset()`).
#[test]
fn replicaof_no_one_discards_an_open_multi() {
    use replica::{Event, ReplState, Replica, ReplicaConfig};
    let connect_continue = |r: &mut Replica, now: u64| {
        r.replicaof(
            Millis(now),
            Some((ReplId(*b"0123456789abcdef0123456789abcdef01234567"), 99)),
        );
        let link = r.link();
        r.handle(Millis(now), Event::Connected { link });
        let replies = Bytes::from_static(b"+PONG\r\n+OK\r\n+OK\r\n+CONTINUE\r\n");
        r.handle(Millis(now), Event::Data { link, bytes: replies });
        assert_eq!(r.state(), ReplState::Connected);
    };
    let mut r = Replica::new(ReplicaConfig::default());
    connect_continue(&mut r, 1_000);
    let mut half = encode_command(&["MULTI"]);
    half.extend(encode_command(&["SET", "a", "1"]));
    r.handle(
        Millis(1_000),
        Event::Data {
            link: r.link(),
            bytes: half.into(),
        },
    );
    r.unset();
    r.drain_actions().for_each(drop);
    connect_continue(&mut r, 2_000);
    r.drain_actions().for_each(drop);
    let link = r.link();
    let set_b = encode_command(&["SET", "b", "2"]);
    let exec = encode_command(&["EXEC"]);
    let want = 99 + (set_b.len() + exec.len()) as u64;
    r.handle(
        Millis(2_000),
        Event::Data {
            link,
            bytes: set_b.into(),
        },
    );
    r.handle(
        Millis(2_000),
        Event::Data {
            link,
            bytes: exec.into(),
        },
    );
    let applied: Vec<Vec<Bytes>> = r
        .drain_actions()
        .filter_map(|a| match a {
            replica::Action::Apply { argv, .. } => Some(argv),
            _ => None,
        })
        .collect();
    assert!(
        applied
            .iter()
            .all(|argv| argv.get(1).map(|k| k.as_ref()) != Some(&b"a"[..])),
        "the old master's queued SET a was applied: {applied:?}"
    );
    assert_eq!(
        r.master().map(|m| m.reploff),
        Some(want),
        "only this master's bytes count"
    );
}
