//! The replica core's link state machine (spec §4: R39a–R59), state by state, up to the
//! PSYNC: each of the sixteen `ReplState`s with the bytes it writes on entering it and its
//! reaction to each kind of reply (the expected one, an error line, garbage, a disconnect,
//! silence past the timeout), the SEND_x walk, role changes and late link events.
//! The PSYNC reply, the transfer and the stream have their own files; `captures.rs` replays
//! real redis-server 7.0.15 handshakes byte for byte.

mod common;

use bytes::Bytes;
use proto::{encode_command, Millis};
use replica::{Action, Event, Observation, ReplState, ReplicaConfig, SYNCIO_TIMEOUT_MS};

use common::{cmd, full_cfg, rdb_bytes, reach, Drive, MASTER_ID};

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
