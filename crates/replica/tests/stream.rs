//! The replica core once CONNECTED (R22, R55, R57, R59, R62): applying the stream with
//! exact offsets, ACKs and GETACK, proxying, link loss mid-command, MULTI across a role change.

mod common;

use bytes::Bytes;
use proto::{encode_command, Millis, ReplId};
use replica::{Action, Event, ReplState};

use common::{cmd, reach, Drive, MASTER_ID};

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
