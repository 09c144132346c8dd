//! Real redis-server 7.0.15 handshakes replayed against the replica core. Part 1 replays
//! the `s1_*.log` timelines: every master→replica chunk is fed at its time, every
//! replica→master chunk must be exactly one `Action::Send` of exactly those bytes. Part 2
//! feeds whole m2r captures in random chunkings (proptest, 128 cases).

mod common;

use std::collections::VecDeque;

use bytes::Bytes;
use proptest::prelude::*;
use proto::rdb::RdbFile;
use proto::{LinkItem, Millis, ReplId};
use replica::{Action, Event, ReplState, ReplicaConfig};

use common::vectors::{self, decode_m2r, rdb_payload, read, timeline, LogLine};
use common::{cfg_17002, cmd, own_id_before_replicaof, Drive};

// ----- Part 1: captures replayed on their timelines --------------------------------------

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
// Over ~70 lines on purpose: one loop over a capture timeline with its per-connection
// state; the checks live in the loop.
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

// ----- Part 2: random chunkings of the captures -------------------------------------------

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
