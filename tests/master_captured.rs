//! The master core against the redis-server 7.0.15 captures and the master-side rules of
//! spec §3 (R20–R38, R71, R73, I13).
//!
//! Part 1 replays the replica→master requests of the `s1_*` captures into a master core
//! on the capture's timeline (PING/AUTH are the node's, not the core's: the replay answers
//! them itself), derives the writes from the captured stream, and checks that everything
//! the core writes to the replica is byte-identical to the captured master→replica bytes,
//! up to the random replid and EOF mark (which are substituted).
//! Part 2 checks single rules with exact action lists.
//!
//! (Over ~500 lines on purpose: Part 2's rules run on Part 1's capture configuration
//! (`disk_cfg`) and helpers; both pin the same core to redis 7.0.15's behaviour.)

use std::collections::BTreeMap;

use bytes::Bytes;
use master::{
    Action, Counters, Event, Master, MasterConfig, Observation, SlaveState, SnapshotTarget, Upstream, GETACK_BYTES,
    PING_BYTES,
};
use proto::{encode_command, ConnId, LinkItem, Millis, ReplId, Request};
use psync_tests::vectors::{decode_m2r, read, timeline, LogLine};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

type M = Master<ChaCha8Rng>;

const REPL: ConnId = ConnId(1);
const CLIENT: ConnId = ConnId(900);

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
}

fn master(cfg: MasterConfig, now: u64) -> M {
    Master::new(cfg, ChaCha8Rng::seed_from_u64(42), Millis(now))
}

// ----- Part 1: captures ----------------------------------------------------------------

/// How the master's 1 Hz cron is placed relative to the capture's clock.
struct Schedule {
    first_tick_ms: u64,
    /// Check at each captured master→replica chunk that the core had already written it.
    causal: bool,
}

struct MasterReplay {
    m: M,
    now: u64,
    out: Vec<u8>,
    client_out: Vec<u8>,
    pending_snapshot: Option<u64>,
    want_rdb: Option<Bytes>,
    db: usize,
    snapshots: Vec<(SnapshotTarget, ReplId, u64)>,
    /// The node runs with requirepass: PING before AUTH gets -NOAUTH (s1_auth).
    requirepass: bool,
}

impl MasterReplay {
    fn pump(&mut self) {
        loop {
            let acts: Vec<Action> = self.m.drain_actions().collect();
            if acts.is_empty() {
                return;
            }
            for a in acts {
                match a {
                    Action::Send { conn, bytes } | Action::SendRdb { conn, bytes } if conn == REPL => {
                        self.out.extend_from_slice(&bytes)
                    }
                    Action::Send { conn, bytes } if conn == CLIENT => self.client_out.extend_from_slice(&bytes),
                    Action::SendBulk { conn, bytes } => {
                        assert_eq!(conn, REPL);
                        self.out.extend_from_slice(&bytes);
                        self.m.handle(Millis(self.now), Event::BulkSent { conn });
                    }
                    Action::StartSnapshot {
                        id,
                        target,
                        replid,
                        offset,
                        ..
                    } => {
                        self.snapshots.push((target, replid, offset));
                        self.pending_snapshot = Some(id);
                        self.deliver_rdb();
                    }
                    Action::Send { conn, .. } | Action::SendRdb { conn, .. } | Action::Close { conn, .. } => {
                        panic!("unexpected action for {conn}")
                    }
                    Action::Observe(_) => {}
                }
            }
        }
    }

    fn deliver_rdb(&mut self) {
        if let (Some(id), Some(payload)) = (self.pending_snapshot, self.want_rdb.clone()) {
            self.pending_snapshot = None;
            self.want_rdb = None;
            self.m.handle(Millis(self.now), Event::SnapshotReady { id, payload });
        }
    }

    fn handle(&mut self, ev: Event) {
        self.m.handle(Millis(self.now), ev);
        self.pump();
    }

    /// One captured request: PING and AUTH are answered by the node (not the core).
    fn request(&mut self, req: Request) {
        let name = req.argv[0].to_ascii_lowercase();
        match name.as_slice() {
            b"ping" => {
                let reply: &[u8] = if self.requirepass {
                    b"-NOAUTH Authentication required.\r\n"
                } else {
                    b"+PONG\r\n"
                };
                self.out.extend_from_slice(reply);
            }
            b"auth" => self.out.extend_from_slice(b"+OK\r\n"),
            _ => self.handle(Event::Command {
                conn: REPL,
                argv: req.argv,
            }),
        }
    }

    /// One captured stream item: derive the event that made redis write it.
    fn m2r_item(&mut self, item: &LinkItem) {
        match item {
            LinkItem::Rdb { payload, .. } => {
                self.want_rdb = Some(payload.clone());
                self.deliver_rdb();
                self.pump();
            }
            LinkItem::Command(req) => {
                let name = req.argv[0].to_ascii_lowercase();
                match name.as_slice() {
                    b"select" => self.db = std::str::from_utf8(&req.argv[1]).expect("ascii").parse().expect("db"),
                    b"ping" => {} // from the cron (R37)
                    b"replconf" => {
                        // GETACK is how the core asks for acks for a WAIT (R22).
                        let offset = self.m.master_repl_offset();
                        self.handle(Event::Wait {
                            conn: CLIENT,
                            numreplicas: 1,
                            timeout_ms: 1000,
                            offset,
                        });
                    }
                    _ => {
                        let db = self.db;
                        self.handle(Event::Propagate {
                            db,
                            argv: req.argv.clone(),
                        })
                    }
                }
            }
            LinkItem::Line(_) | LinkItem::Keepalive => {}
        }
    }
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

fn find_after<'a>(hay: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    let at = hay.windows(tag.len()).position(|w| w == tag)?;
    hay.get(at + tag.len()..at + tag.len() + 40)
}

/// Replays a capture into a master core; returns it and the normalised bytes it wrote.
// Over ~70 lines on purpose: one loop over a capture timeline with its per-connection
// state.
fn replay_master(scenario: &str, cfg: MasterConfig, sched: Schedule) -> (MasterReplay, Vec<u8>) {
    let m2r = read(&format!("{scenario}.c1.m2r.bin"));
    let r2m = read(&format!("{scenario}.c1.r2m.bin"));
    let cap_id = find_after(&m2r, b"+FULLRESYNC ").expect("capture id").to_vec();
    let cap_mark = find_after(&m2r, b"$EOF:").map(<[u8]>::to_vec);
    let mut items: Vec<(usize, LinkItem)> = Vec::new();
    let mut at = 0;
    for (item, n) in decode_m2r(&m2r) {
        items.push((at, item));
        at += n;
    }
    let mut rp = MasterReplay {
        m: master(cfg, 0),
        now: 0,
        out: Vec::new(),
        client_out: Vec::new(),
        pending_snapshot: None,
        want_rdb: None,
        db: 0,
        snapshots: Vec::new(),
        requirepass: r2m.windows(4).any(|w| w == b"AUTH"),
    };
    // The server ran before the capture: one cron loop with no replica, so the PING phase
    // (cron_loops % 10 == 0, R37) falls ~10 s after the replica attaches, as captured.
    rp.handle(Event::Tick);
    let mut next_tick = sched.first_tick_ms;
    let (mut m_at, mut r_at) = (0usize, 0usize);
    let normalise = |rp: &MasterReplay| -> Vec<u8> {
        let mut out = rp.out.clone();
        replace_all(&mut out, &rp.m.replid().0, &cap_id);
        if let (Some(cap), Some(ours)) = (&cap_mark, find_after(&rp.out, b"$EOF:")) {
            let ours = ours.to_vec();
            replace_all(&mut out, &ours, cap);
        }
        out
    };
    for (t, line) in timeline(scenario) {
        while next_tick <= t {
            rp.now = next_tick;
            rp.handle(Event::Tick);
            next_tick += 1000;
        }
        rp.now = t;
        let (is_m2r, len) = match line {
            LogLine::Kill => break,
            LogLine::Chunk { conn: 1, m2r, len } => (m2r, len),
            _ => continue,
        };
        if is_m2r {
            for (start, item) in items.iter().filter(|(s, _)| (m_at..m_at + len).contains(s)) {
                let _ = start;
                rp.m2r_item(item);
            }
            m_at += len;
            if sched.causal {
                let got = normalise(&rp);
                assert!(
                    got.len() >= m_at,
                    "{scenario}: at {t} ms the core wrote {} bytes, redis {m_at}",
                    got.len()
                );
                assert_eq!(
                    String::from_utf8_lossy(&got[m_at - len..m_at]),
                    String::from_utf8_lossy(&m2r[m_at - len..m_at]),
                    "{scenario}: M>R chunk at {t} ms"
                );
            }
        } else {
            let mut chunk = &r2m[r_at..r_at + len];
            r_at += len;
            while let Some((req, n)) = Request::decode(chunk).expect("r2m decodes") {
                chunk = &chunk[n..];
                rp.request(req);
            }
        }
    }
    let got = normalise(&rp);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&m2r),
        "{scenario}: whole M>R byte stream"
    );
    (rp, got)
}

fn notes(scenario: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("{scenario}.notes.json"))).expect("notes")
}

fn info_u64(v: &serde_json::Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).expect("numeric INFO field")
}

/// The INFO numbers the master reported at the end of the capture.
fn check_master_final(scenario: &str, rp: &MasterReplay) {
    let n = notes(scenario);
    let f = &n["master_final"];
    assert_eq!(
        rp.m.master_repl_offset(),
        info_u64(&f["master_repl_offset"]),
        "{scenario}: master_repl_offset (R73)"
    );
    let c = rp.m.counters();
    assert_eq!(
        (c.sync_full, c.sync_partial_ok, c.sync_partial_err),
        (
            info_u64(&f["sync_full"]),
            info_u64(&f["sync_partial_ok"]),
            info_u64(&f["sync_partial_err"])
        ),
        "{scenario}: I13 counters"
    );
    let b = rp.m.backlog().expect("backlog");
    assert_eq!(
        (b.first_byte_offset(), b.histlen()),
        (
            info_u64(&f["repl_backlog_first_byte_offset"]),
            info_u64(&f["repl_backlog_histlen"])
        ),
        "{scenario}: backlog window"
    );
    let slave0 = f["slave0"].as_str().expect("slave0");
    let r: Vec<_> = rp.m.replicas().collect();
    assert_eq!(r.len(), 1);
    assert_eq!(
        format!(
            "port={},state={},offset={}",
            r[0].listening_port,
            r[0].state.info_name(),
            r[0].ack_off
        ),
        slave0
            .split(',')
            .filter(|kv| !kv.starts_with("ip=") && !kv.starts_with("lag="))
            .collect::<Vec<_>>()
            .join(","),
        "{scenario}: INFO slave0 line (R19)"
    );
    // WAIT 1 1000 answered 1 after the GETACK's ACK 228.
    let wait = n["wait_reply"].as_u64().expect("wait_reply");
    assert_eq!(rp.client_out, format!(":{wait}\r\n").into_bytes(), "{scenario}: WAIT");
    // +FULLRESYNC <id> 0: the snapshot is taken at offset 0 (R28).
    assert_eq!(rp.snapshots.len(), 1);
    assert_eq!(rp.snapshots[0].2, 0);
    assert_eq!(rp.snapshots[0].1, rp.m.replid());
}

fn disk_cfg() -> MasterConfig {
    MasterConfig {
        repl_diskless_sync: false,
        ..MasterConfig::default()
    }
}

/// s1_disk: REPLCONF → `+OK` (R20); PSYNC with the replica's own id → `+FULLRESYNC <id> 0`
/// (R25 err+1, R27, R28); `$350\r\n` + RDB (R31); SELECT 0 before the first SET (R71);
/// SET…PXAT propagated verbatim; GETACK for WAIT (R22, 37 bytes counted, R73); lower-case
/// `ping` every 10 cron ticks (R37) — 0 → 50 → 100 → 228 → 265 → 279 → 293.
#[test]
fn s1_disk_master_core_writes_the_captured_bytes() {
    let (rp, _) = replay_master(
        "s1_disk",
        disk_cfg(),
        Schedule {
            first_tick_ms: 1_020,
            causal: true,
        },
    );
    check_master_final("s1_disk", &rp);
    assert_eq!(rp.snapshots[0].0, SnapshotTarget::Disk);
}

/// s1_startup: `PSYNC ? -1` is a requested full sync: sync_partial_err stays 0 (R25).
#[test]
fn s1_startup_master_core_writes_the_captured_bytes() {
    let (rp, _) = replay_master(
        "s1_startup",
        disk_cfg(),
        Schedule {
            first_tick_ms: 1_020,
            causal: true,
        },
    );
    check_master_final("s1_startup", &rp);
}

/// s1_auth: PING and AUTH are answered by the node (`-NOAUTH`, `+OK`); the pipelined
/// REPLCONFs get the core's `+OK+OK`, then as s1_disk.
#[test]
fn s1_auth_master_core_writes_the_captured_bytes() {
    let (rp, _) = replay_master(
        "s1_auth",
        disk_cfg(),
        Schedule {
            first_tick_ms: 1_020,
            causal: true,
        },
    );
    check_master_final("s1_auth", &rp);
}

/// s1_diskless (R29, R32, R34): `$EOF:<mark>\r\n` + RDB + mark, ONLINE but the stream is
/// held until the replica's first `REPLCONF ACK` (the captured `ACK 0`).
#[test]
fn s1_diskless_master_core_writes_the_captured_bytes() {
    let cfg = MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 0,
        ..MasterConfig::default()
    };
    let (rp, _) = replay_master(
        "s1_diskless",
        cfg,
        Schedule {
            first_tick_ms: 1_020,
            causal: true,
        },
    );
    check_master_final("s1_diskless", &rp);
    assert_eq!(rp.snapshots[0].0, SnapshotTarget::Socket);
}

/// s1_keepalive_disk (R36): after `+FULLRESYNC`, one `\n` per cron tick while the disk
/// BGSAVE runs, then `$350`.
#[test]
fn s1_keepalive_disk_master_core_writes_newlines_while_saving() {
    let (rp, _) = replay_master(
        "s1_keepalive_disk",
        disk_cfg(),
        Schedule {
            first_tick_ms: 990,
            causal: true,
        },
    );
    check_master_final("s1_keepalive_disk", &rp);
}

/// s1_keepalive_diskless (R30, R36): with a 3 s diskless delay the replica waits in
/// WAIT_BGSAVE_START and gets `\n` before `+FULLRESYNC`; the third tick writes `\n`,
/// then starts the BGSAVE. (Redis measures the delay in whole unix seconds; the core in
/// ms, so the tick that starts it is placed 3 s after PSYNC and the check is on the
/// whole byte stream rather than per chunk.)
#[test]
fn s1_keepalive_diskless_master_core_writes_newlines_before_fullresync() {
    let cfg = MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 3,
        ..MasterConfig::default()
    };
    let (rp, got) = replay_master(
        "s1_keepalive_diskless",
        cfg,
        Schedule {
            first_tick_ms: 1_040,
            causal: false,
        },
    );
    assert!(got.starts_with(b"+PONG\r\n+OK\r\n+OK\r\n\n\n\n+FULLRESYNC "));
    check_master_final("s1_keepalive_diskless", &rp);
}

// ----- Part 2: single rules -------------------------------------------------------------

fn drain(m: &mut M) -> Vec<Action> {
    m.drain_actions().collect()
}

fn sends_to(acts: &[Action], conn: ConnId) -> Vec<Bytes> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { conn: c, bytes }
            | Action::SendBulk { conn: c, bytes }
            | Action::SendRdb { conn: c, bytes }
                if *c == conn =>
            {
                Some(bytes.clone())
            }
            _ => None,
        })
        .collect()
}

fn closed(acts: &[Action]) -> Vec<ConnId> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Close { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn cmd(m: &mut M, now: u64, conn: ConnId, parts: &[&str]) -> Vec<Action> {
    m.handle(
        Millis(now),
        Event::Command {
            conn,
            argv: argv(parts),
        },
    );
    drain(m)
}

fn propagate(m: &mut M, now: u64, db: usize, parts: &[&str]) -> Vec<Action> {
    m.handle(Millis(now), Event::Propagate { db, argv: argv(parts) });
    drain(m)
}

/// Completes every snapshot the actions start, and every bulk transfer.
fn complete(m: &mut M, now: u64, mut acts: Vec<Action>) -> Vec<Action> {
    let mut all = Vec::new();
    while !acts.is_empty() {
        let mut next = Vec::new();
        for a in &acts {
            match a {
                Action::StartSnapshot { id, .. } => {
                    m.handle(
                        Millis(now),
                        Event::SnapshotReady {
                            id: *id,
                            payload: Bytes::from_static(b"RDB"),
                        },
                    );
                    next.extend(drain(m));
                }
                Action::SendBulk { conn, .. } => {
                    m.handle(Millis(now), Event::BulkSent { conn: *conn });
                    next.extend(drain(m));
                }
                _ => {}
            }
        }
        all.extend(acts);
        acts = next;
    }
    all
}

/// A replica attached by a full sync and ONLINE (disk), with capa eof+psync2.
fn online_replica(m: &mut M, now: u64, conn: ConnId) -> Vec<Action> {
    cmd(m, now, conn, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    let acts = cmd(m, now, conn, &["PSYNC", "?", "-1"]);
    complete(m, now, acts)
}

/// R24: `+CONTINUE <replid>` for a psync2 replica, bare `+CONTINUE` otherwise; the reply
/// is followed by exactly the missing bytes (R19, I4); sync_partial_ok += 1.
#[test]
fn continue_carries_current_replid_only_with_capa_psync2() {
    let mut m = master(disk_cfg(), 0);
    online_replica(&mut m, 0, ConnId(1));
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let id = m.replid().as_str();
    let off = m.master_repl_offset();
    let set = encode_command(&["SET", "b", "2"]);
    propagate(&mut m, 0, 0, &["SET", "b", "2"]);
    cmd(&mut m, 0, ConnId(2), &["REPLCONF", "capa", "psync2"]);
    let a = cmd(&mut m, 0, ConnId(2), &["PSYNC", &id, &(off + 1).to_string()]);
    let mut want = format!("+CONTINUE {id}\r\n").into_bytes();
    want.extend_from_slice(&set);
    assert_eq!(sends_to(&a, ConnId(2)), vec![Bytes::from(want)]);
    cmd(&mut m, 0, ConnId(3), &["REPLCONF", "capa", "eof"]);
    let a = cmd(&mut m, 0, ConnId(3), &["PSYNC", &id, &(off + 1).to_string()]);
    let mut want = b"+CONTINUE\r\n".to_vec();
    want.extend_from_slice(&set);
    assert_eq!(sends_to(&a, ConnId(3)), vec![Bytes::from(want)]);
    assert_eq!(m.counters().sync_partial_ok, 2);
    // The end of the window is still PSYNC-able with nothing to send.
    let end = (m.master_repl_offset() + 1).to_string();
    let a = cmd(&mut m, 0, ConnId(4), &["PSYNC", &id, &end]);
    assert_eq!(sends_to(&a, ConnId(4)), vec![Bytes::from(b"+CONTINUE\r\n".to_vec())]);
}

/// R71/I17: SELECT precedes the first write, is not repeated for the same db, and is
/// emitted again after a full-sync setup (R28) and after promotion (R62).
#[test]
fn select_precedes_first_write_and_follows_full_sync_setup() {
    let mut m = master(disk_cfg(), 0);
    online_replica(&mut m, 0, ConnId(1));
    let sel0 = encode_command(&["SELECT", "0"]);
    let set = encode_command(&["SET", "a", "1"]);
    let a = propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    assert_eq!(
        sends_to(&a, ConnId(1)),
        vec![Bytes::from([sel0.clone(), set.clone()].concat())]
    );
    let a = propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    assert_eq!(sends_to(&a, ConnId(1)), vec![Bytes::from(set.clone())]);
    online_replica(&mut m, 0, ConnId(2));
    assert_eq!(m.slaveseldb(), -1, "R28 resets slaveseldb");
    let a = propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let both = Bytes::from([sel0.clone(), set.clone()].concat());
    assert_eq!(sends_to(&a, ConnId(1)), vec![both.clone()]);
    assert_eq!(sends_to(&a, ConnId(2)), vec![both]);
    m.promote(Millis(0));
    drain(&mut m);
    assert_eq!(m.slaveseldb(), -1, "R62 resets slaveseldb");
    // A PING never triggers SELECT (dictid = slaveseldb).
    online_replica(&mut m, 0, ConnId(3));
    m.handle(Millis(0), Event::Tick);
    let a = drain(&mut m);
    assert_eq!(sends_to(&a, ConnId(3)), vec![Bytes::from_static(PING_BYTES)]);
}

/// R37/R73: with a replica attached, PING is propagated when cron_loops % period == 0:
/// exactly `*1\r\n$4\r\nping\r\n` (14 bytes), counted in the offset; no PING without
/// replicas, none on a replica (R7).
#[test]
fn ping_every_period_ticks_is_fourteen_counted_bytes() {
    let cfg = MasterConfig {
        repl_ping_replica_period_s: 3,
        ..disk_cfg()
    };
    let mut m = master(cfg, 0);
    m.handle(Millis(1000), Event::Tick); // loop 0, no replica: nothing
    assert_eq!(m.master_repl_offset(), 0);
    online_replica(&mut m, 1000, ConnId(1));
    let mut pings = vec![];
    for t in 2..=9u64 {
        let before = m.master_repl_offset();
        m.handle(Millis(t * 1000), Event::Tick);
        let a = drain(&mut m);
        let s = sends_to(&a, ConnId(1));
        if !s.is_empty() {
            assert_eq!(s, vec![Bytes::from_static(b"*1\r\n$4\r\nping\r\n")]);
            assert_eq!(m.master_repl_offset(), before + 14);
            pings.push(t);
        }
    }
    // cron loops 1..=8 ran at t = 2..=9; loops 3 and 6 are multiples of 3.
    assert_eq!(pings, vec![4, 7]);
    m.set_upstream(Upstream::Connected);
    for t in 10..=16u64 {
        m.handle(Millis(t * 1000), Event::Tick);
    }
    assert!(
        sends_to(&drain(&mut m), ConnId(1)).is_empty(),
        "R7: replicas never PING"
    );
}

/// R36: `\n` once per tick to WAIT_BGSAVE_START replicas and to WAIT_BGSAVE_END ones while
/// a *disk* child runs; none to a replica waiting on a socket (diskless) child; never
/// counted in the offset (I12).
#[test]
fn keepalive_newlines_only_while_waiting_for_bgsave() {
    // Disk: WAIT_BGSAVE_END gets \n. (PINGs off: this is about keepalives only.)
    let cfg = MasterConfig {
        repl_ping_replica_period_s: 1000,
        ..disk_cfg()
    };
    let mut m = master(cfg, 0);
    m.handle(Millis(0), Event::Tick);
    cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    m.handle(Millis(1000), Event::Tick);
    let a = drain(&mut m);
    assert!(sends_to(&a, ConnId(1)).contains(&Bytes::from_static(b"\n")));
    assert_eq!(m.master_repl_offset(), 0, "I12: keepalives are not stream bytes");
    // Diskless with a delay: WAIT_BGSAVE_START gets \n; once the socket child runs, none.
    let cfg = MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 2,
        repl_ping_replica_period_s: 1000,
        ..MasterConfig::default()
    };
    let mut m = master(cfg, 0);
    m.handle(Millis(0), Event::Tick);
    cmd(&mut m, 0, ConnId(1), &["REPLCONF", "capa", "eof"]);
    let a = cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    assert!(sends_to(&a, ConnId(1)).is_empty(), "R27c: delayed start, no reply yet");
    m.handle(Millis(1000), Event::Tick);
    assert_eq!(sends_to(&drain(&mut m), ConnId(1)), vec![Bytes::from_static(b"\n")]);
    m.handle(Millis(2000), Event::Tick);
    let a = drain(&mut m);
    let s = sends_to(&a, ConnId(1));
    assert_eq!(s[0], Bytes::from_static(b"\n"));
    assert!(s[1].starts_with(b"+FULLRESYNC "), "R30: started after the delay");
    m.handle(Millis(3000), Event::Tick);
    assert!(sends_to(&drain(&mut m), ConnId(1)).is_empty(), "socket child: no \\n");
}

/// R38: an ONLINE replica silent for more than repl-timeout is closed; a SYNC
/// (PRE_PSYNC) replica is exempt; an ACK refreshes the clock.
#[test]
fn replica_timeout_closes_silent_online_replicas_only() {
    let cfg = MasterConfig {
        repl_timeout_s: 60,
        repl_ping_replica_period_s: 1000,
        ..disk_cfg()
    };
    let mut m = master(cfg, 0);
    online_replica(&mut m, 0, ConnId(1));
    online_replica(&mut m, 0, ConnId(2));
    let a = cmd(&mut m, 0, ConnId(3), &["SYNC"]);
    complete(&mut m, 0, a);
    cmd(&mut m, 30_000, ConnId(2), &["REPLCONF", "ACK", "0"]);
    m.handle(Millis(60_000), Event::Tick);
    assert!(closed(&drain(&mut m)).is_empty(), "60 s is not > 60 s");
    m.handle(Millis(60_001), Event::Tick);
    assert_eq!(closed(&drain(&mut m)), vec![ConnId(1)]);
    m.handle(Millis(90_001), Event::Tick);
    assert_eq!(closed(&drain(&mut m)), vec![ConnId(2)]);
    m.handle(Millis(1_000_000), Event::Tick);
    assert!(closed(&drain(&mut m)).is_empty(), "R26: SYNC replica exempt");
    assert!(m.is_replica(ConnId(3)));
}

/// R16/B6: on a master with a backlog and no replicas for more than repl-backlog-ttl,
/// the backlog is freed and the replid changes; the offset stops advancing (R5) and the
/// old (id, offset) can no longer PSYNC.
#[test]
fn backlog_ttl_frees_backlog_and_changes_replid() {
    let cfg = MasterConfig {
        repl_backlog_ttl_s: 10,
        ..disk_cfg()
    };
    let mut m = master(cfg, 0);
    online_replica(&mut m, 0, ConnId(1));
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let (old_id, old_off) = (m.replid(), m.master_repl_offset());
    m.handle(Millis(5_000), Event::Closed { conn: ConnId(1) });
    m.handle(Millis(15_000), Event::Tick);
    assert!(m.backlog().is_some(), "10 s is not > 10 s");
    m.handle(Millis(15_001), Event::Tick);
    let a = drain(&mut m);
    assert!(m.backlog().is_none(), "R16: backlog freed");
    assert_ne!(m.replid(), old_id, "B6: freeing the backlog changes the id");
    assert_eq!(m.replid2(), ReplId::ZERO);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Observe(Observation::ReplidChanged {
            why: master::HistoryChange::BacklogTtl,
            ..
        })
    )));
    propagate(&mut m, 16_000, 0, &["SET", "a", "2"]);
    assert_eq!(m.master_repl_offset(), old_off, "R5: no backlog, no offset");
    let a = cmd(
        &mut m,
        16_000,
        ConnId(2),
        &["PSYNC", &old_id.as_str(), &(old_off + 1).to_string()],
    );
    assert!(sends_to(&a, ConnId(2))[0].starts_with(b"+FULLRESYNC "));
    let b = m.backlog().expect("R27: recreated for the first replica");
    assert_eq!(b.first_byte_offset(), old_off + 1, "I16");
}

/// R16 with R38: when the last replica leaves by *timeout*, the no-replicas clock starts
/// then, so the backlog survives a full TTL after that (not TTL after process start).
#[test]
fn backlog_ttl_clock_starts_when_last_replica_times_out() {
    let cfg = MasterConfig {
        repl_backlog_ttl_s: 10,
        repl_timeout_s: 60,
        repl_ping_replica_period_s: 1000,
        ..disk_cfg()
    };
    let mut m = master(cfg, 1_000);
    online_replica(&mut m, 1_000, ConnId(1));
    m.handle(Millis(62_000), Event::Tick);
    assert_eq!(closed(&drain(&mut m)), vec![ConnId(1)], "R38");
    for t in 63..=72u64 {
        m.handle(Millis(t * 1000), Event::Tick);
        assert!(
            m.backlog().is_some(),
            "R16: freed at {t} s, 10 s TTL after the 62 s timeout"
        );
    }
    m.handle(Millis(72_001), Event::Tick);
    assert!(m.backlog().is_none(), "freed once idle > TTL");
}

/// R35 with R16: replicas dropped by a failed snapshot also start the no-replicas clock.
#[test]
fn snapshot_failure_closes_waiting_replicas_and_starts_ttl_clock() {
    let cfg = MasterConfig {
        repl_backlog_ttl_s: 10,
        ..disk_cfg()
    };
    let mut m = master(cfg, 1_000);
    let a = cmd(&mut m, 1_000, ConnId(1), &["PSYNC", "?", "-1"]);
    let id = a
        .iter()
        .find_map(|x| match x {
            Action::StartSnapshot { id, .. } => Some(*id),
            _ => None,
        })
        .expect("snapshot started");
    m.handle(Millis(50_000), Event::SnapshotFailed { id });
    assert_eq!(closed(&drain(&mut m)), vec![ConnId(1)], "R35");
    m.handle(Millis(59_000), Event::Tick);
    assert!(m.backlog().is_some(), "R16: clock starts at the drop (50 s)");
    m.handle(Millis(60_001), Event::Tick);
    assert!(m.backlog().is_none());
}

/// R27(a): a replica arriving while a disk BGSAVE for another replica runs shares it:
/// `+FULLRESYNC` with the *first* replica's offset, a copy of its accumulated stream, and
/// the same RDB; both end with identical streams.
#[test]
fn second_replica_attaches_to_in_progress_disk_snapshot() {
    let mut m = master(disk_cfg(), 0);
    cmd(&mut m, 0, ConnId(1), &["REPLCONF", "capa", "psync2"]);
    let a1 = cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    let id = a1
        .iter()
        .find_map(|x| match x {
            Action::StartSnapshot { id, offset, .. } => Some((*id, *offset)),
            _ => None,
        })
        .expect("snapshot");
    assert_eq!(id.1, 0);
    let w1 = propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    assert!(sends_to(&w1, ConnId(1)).is_empty(), "R13: accumulated, not written");
    cmd(&mut m, 0, ConnId(2), &["REPLCONF", "capa", "psync2", "capa", "eof"]);
    let a2 = cmd(&mut m, 0, ConnId(2), &["PSYNC", "?", "-1"]);
    assert!(
        !a2.iter().any(|x| matches!(x, Action::StartSnapshot { .. })),
        "attached, no new BGSAVE"
    );
    assert_eq!(
        sends_to(&a2, ConnId(2)),
        vec![Bytes::from(format!("+FULLRESYNC {} 0\r\n", m.replid()))],
        "R28 with the first replica's offset"
    );
    assert_eq!(m.counters().sync_full, 2);
    propagate(&mut m, 0, 0, &["SET", "b", "2"]);
    m.handle(
        Millis(0),
        Event::SnapshotReady {
            id: id.0,
            payload: Bytes::from_static(b"RDB"),
        },
    );
    let a = drain(&mut m);
    assert_eq!(sends_to(&a, ConnId(1)), vec![Bytes::from_static(b"$3\r\nRDB")]);
    assert_eq!(sends_to(&a, ConnId(2)), vec![Bytes::from_static(b"$3\r\nRDB")]);
    let mut streams = BTreeMap::new();
    for c in [ConnId(1), ConnId(2)] {
        m.handle(Millis(0), Event::BulkSent { conn: c });
        streams.insert(c, sends_to(&drain(&mut m), c).concat());
    }
    // R28 resets slaveseldb for the attached replica too, so redis re-emits SELECT.
    let want = [
        encode_command(&["SELECT", "0"]),
        encode_command(&["SET", "a", "1"]),
        encode_command(&["SELECT", "0"]),
        encode_command(&["SET", "b", "2"]),
    ]
    .concat();
    assert_eq!(streams[&ConnId(1)], want, "I7: stream from offset 1");
    assert_eq!(streams[&ConnId(2)], want);
}

/// R27(a) capability rule: a newcomer lacking a capability of the replica that owns the
/// running BGSAVE waits for the next one (no +FULLRESYNC yet), which starts when the
/// current one ends (disk, R30).
#[test]
fn newcomer_with_fewer_capabilities_waits_for_next_bgsave() {
    let mut m = master(disk_cfg(), 0);
    cmd(&mut m, 0, ConnId(1), &["REPLCONF", "capa", "eof"]);
    let a1 = cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    let id1 = a1
        .iter()
        .find_map(|x| match x {
            Action::StartSnapshot { id, .. } => Some(*id),
            _ => None,
        })
        .expect("snapshot");
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let a2 = cmd(&mut m, 0, ConnId(2), &["PSYNC", "?", "-1"]);
    assert!(sends_to(&a2, ConnId(2)).is_empty(), "waits in WAIT_BGSAVE_START");
    let st: Vec<_> = m.replicas().map(|r| (r.conn, r.state)).collect();
    assert_eq!(
        st,
        vec![
            (ConnId(1), SlaveState::WaitBgsaveEnd),
            (ConnId(2), SlaveState::WaitBgsaveStart)
        ]
    );
    m.handle(
        Millis(0),
        Event::SnapshotReady {
            id: id1,
            payload: Bytes::from_static(b"RDB"),
        },
    );
    let a = drain(&mut m);
    let off = m.master_repl_offset();
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::StartSnapshot { offset, .. } if *offset == off)));
    assert_eq!(
        sends_to(&a, ConnId(2)),
        vec![Bytes::from(format!("+FULLRESYNC {} {off}\r\n", m.replid()))]
    );
}

/// R26: plain SYNC gets no `+FULLRESYNC` line, only the bulk; sync_full += 1 and no
/// partial error (I13).
#[test]
fn sync_command_gets_bulk_without_fullresync_line() {
    let mut m = master(disk_cfg(), 0);
    let a = cmd(&mut m, 0, ConnId(1), &["SYNC"]);
    let all = complete(&mut m, 0, a);
    assert_eq!(sends_to(&all, ConnId(1)), vec![Bytes::from_static(b"$3\r\nRDB")]);
    assert_eq!(
        m.counters(),
        Counters {
            sync_full: 1,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            client_output_buffer_limit_disconnections: 0
        }
    );
}

/// I13 and §3.2: exactly one counter moves per PSYNC/SYNC; P0 (already a replica),
/// P3 (replica whose link is down: -NOMASTERLINK), P6 (bad offset) and wrong arity
/// change nothing.
#[test]
fn sync_counters_move_once_per_request_and_not_for_rejections() {
    let mut m = master(disk_cfg(), 0);
    let c = |m: &M| {
        let c = m.counters();
        (c.sync_full, c.sync_partial_ok, c.sync_partial_err)
    };
    online_replica(&mut m, 0, ConnId(1));
    assert_eq!(c(&m), (1, 0, 0), "PSYNC ? -1");
    let a = cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    assert!(a.is_empty(), "P0: ignored, no reply");
    assert_eq!(c(&m), (1, 0, 0));
    let a = cmd(&mut m, 0, ConnId(2), &["PSYNC", "abc", "x1"]);
    assert_eq!(
        sends_to(&a, ConnId(2)),
        vec![Bytes::from_static(b"-ERR value is not an integer or out of range\r\n")]
    );
    let a = cmd(&mut m, 0, ConnId(2), &["PSYNC", "abc"]);
    assert!(sends_to(&a, ConnId(2))[0].starts_with(b"-ERR wrong number of arguments"));
    assert_eq!(c(&m), (1, 0, 0), "P6 / arity: no counter");
    let a = cmd(&mut m, 0, ConnId(3), &["PSYNC", "nope", "5"]);
    complete(&mut m, 0, a);
    assert_eq!(c(&m), (2, 0, 1), "R25: id mismatch counts an error");
    let id = m.replid().as_str();
    let end = (m.master_repl_offset() + 1).to_string();
    cmd(&mut m, 0, ConnId(4), &["PSYNC", &id, &end]);
    assert_eq!(c(&m), (2, 1, 1));
    let a = cmd(&mut m, 0, ConnId(5), &["PSYNC", &id, "999999"]);
    complete(&mut m, 0, a);
    assert_eq!(c(&m), (3, 1, 2), "R23.4: past the end");
    m.set_upstream(Upstream::NotConnected);
    let a = cmd(&mut m, 0, ConnId(6), &["PSYNC", "?", "-1"]);
    assert_eq!(
        sends_to(&a, ConnId(6)),
        vec![Bytes::from_static(
            b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"
        )]
    );
    assert_eq!(c(&m), (3, 1, 2), "P3: no counter");
    assert!(!m.is_replica(ConnId(6)));
}

/// R20/R21: REPLCONF options reply `+OK`; `ack`/`getack` reply nothing; unknown options
/// and an even argc are errors; ACK from a non-replica is ignored.
#[test]
fn replconf_replies_per_option() {
    let mut m = master(disk_cfg(), 0);
    let ok = vec![Bytes::from_static(b"+OK\r\n")];
    assert_eq!(
        sends_to(
            &cmd(&mut m, 0, ConnId(1), &["REPLCONF", "listening-port", "17002"]),
            ConnId(1)
        ),
        ok
    );
    assert_eq!(
        sends_to(
            &cmd(&mut m, 0, ConnId(1), &["REPLCONF", "ip-address", "10.1.1.1"]),
            ConnId(1)
        ),
        ok
    );
    assert_eq!(
        sends_to(
            &cmd(
                &mut m,
                0,
                ConnId(1),
                &["replconf", "CAPA", "eof", "capa", "psync2", "capa", "zzz"]
            ),
            ConnId(1)
        ),
        ok,
        "unknown capas are ignored"
    );
    assert!(
        cmd(&mut m, 0, ConnId(1), &["REPLCONF", "ACK", "5"]).is_empty(),
        "not a replica"
    );
    assert!(cmd(&mut m, 0, ConnId(1), &["REPLCONF", "GETACK", "*"]).is_empty());
    assert_eq!(
        sends_to(&cmd(&mut m, 0, ConnId(1), &["REPLCONF", "bogus", "1"]), ConnId(1)),
        vec![Bytes::from_static(b"-ERR Unrecognized REPLCONF option: bogus\r\n")]
    );
    assert_eq!(
        sends_to(&cmd(&mut m, 0, ConnId(1), &["REPLCONF", "listening-port"]), ConnId(1)),
        vec![Bytes::from_static(b"-ERR syntax error\r\n")]
    );
    online_replica(&mut m, 0, ConnId(1));
    let r: Vec<_> = m.replicas().collect();
    assert_eq!(r[0].listening_port, 17002);
    assert_eq!(r[0].ip, Some(Bytes::from_static(b"10.1.1.1")));
    m.handle(
        Millis(5),
        Event::Command {
            conn: ConnId(1),
            argv: argv(&["REPLCONF", "ACK", "7"]),
        },
    );
    m.handle(
        Millis(6),
        Event::Command {
            conn: ConnId(1),
            argv: argv(&["REPLCONF", "ACK", "3"]),
        },
    );
    let r: Vec<_> = m.replicas().collect();
    assert_eq!(
        (r[0].ack_off, r[0].ack_time),
        (7, Millis(6)),
        "R21/I11: max, time refreshed"
    );
}

/// R22/R73: WAIT propagates one `REPLCONF GETACK *` (37 bytes, counted in the offset) and
/// answers once enough replicas ACK the requested offset; on timeout it answers with
/// the count so far.
#[test]
fn wait_sends_getack_and_replies_on_ack_or_timeout() {
    let mut m = master(disk_cfg(), 0);
    online_replica(&mut m, 0, ConnId(1));
    online_replica(&mut m, 0, ConnId(2));
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let off = m.master_repl_offset();
    m.handle(
        Millis(100),
        Event::Wait {
            conn: CLIENT,
            numreplicas: 2,
            timeout_ms: 1000,
            offset: off,
        },
    );
    let a = drain(&mut m);
    assert_eq!(sends_to(&a, ConnId(1)), vec![Bytes::from_static(GETACK_BYTES)]);
    assert_eq!(GETACK_BYTES.len(), 37);
    assert_eq!(m.master_repl_offset(), off + 37);
    assert!(sends_to(&a, CLIENT).is_empty());
    let a = cmd(&mut m, 200, ConnId(1), &["REPLCONF", "ACK", &off.to_string()]);
    assert!(sends_to(&a, CLIENT).is_empty(), "one of two");
    assert_eq!(m.next_wakeup(), Some(Millis(1100)));
    m.handle(Millis(1100), Event::Wakeup);
    assert_eq!(sends_to(&drain(&mut m), CLIENT), vec![Bytes::from_static(b":1\r\n")]);
    // Satisfied by ACKs.
    m.handle(
        Millis(2000),
        Event::Wait {
            conn: CLIENT,
            numreplicas: 2,
            timeout_ms: 0,
            offset: off,
        },
    );
    drain(&mut m);
    let a = cmd(&mut m, 2100, ConnId(2), &["REPLCONF", "ACK", &(off + 37).to_string()]);
    assert_eq!(sends_to(&a, CLIENT), vec![Bytes::from_static(b":2\r\n")]);
}

/// R24/R21 (s2_partial step 3: INFO `offset=0` right after `+CONTINUE`): a replica that
/// just partially resynced has acknowledged nothing yet, so WAIT must not count it until
/// it ACKs.
#[test]
fn wait_does_not_count_a_just_continued_replica_before_it_acks() {
    let mut m = master(disk_cfg(), 0);
    online_replica(&mut m, 0, ConnId(1));
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    m.handle(Millis(0), Event::Closed { conn: ConnId(1) });
    propagate(&mut m, 0, 0, &["SET", "b", "2"]);
    let id = m.replid().as_str();
    cmd(&mut m, 0, ConnId(2), &["REPLCONF", "capa", "psync2"]);
    cmd(&mut m, 0, ConnId(2), &["PSYNC", &id, "24"]);
    let r: Vec<_> = m.replicas().collect();
    assert_eq!(r[0].ack_off, 0, "INFO slave0 offset=0 after +CONTINUE (s2_partial)");
    let off = m.master_repl_offset();
    m.handle(
        Millis(10),
        Event::Wait {
            conn: CLIENT,
            numreplicas: 1,
            timeout_ms: 1000,
            offset: off,
        },
    );
    assert!(sends_to(&drain(&mut m), CLIENT).is_empty(), "not acked yet");
    let a = cmd(&mut m, 20, ConnId(2), &["REPLCONF", "ACK", &(off + 37).to_string()]);
    assert_eq!(sends_to(&a, CLIENT), vec![Bytes::from_static(b":1\r\n")]);
}

/// R34: after a diskless transfer the replica is ONLINE but its stream is held until its
/// first ACK; then everything accumulated since the snapshot offset is written at once.
#[test]
fn diskless_stream_is_held_until_first_ack() {
    let cfg = MasterConfig {
        repl_diskless_sync: true,
        repl_diskless_sync_delay_s: 0,
        ..MasterConfig::default()
    };
    let mut m = master(cfg, 0);
    cmd(&mut m, 0, ConnId(1), &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    let a = cmd(&mut m, 0, ConnId(1), &["PSYNC", "?", "-1"]);
    let all = complete(&mut m, 0, a);
    let s = sends_to(&all, ConnId(1));
    assert!(s[0].starts_with(b"+FULLRESYNC "));
    assert!(s[1].starts_with(b"$EOF:"));
    let mark = &s[1][5..45];
    assert!(s[1].ends_with(mark), "R32: the same 40 chars close the payload");
    assert_eq!(&s[1][45..47], b"\r\n");
    assert_eq!(m.replicas().next().map(|r| r.state), Some(SlaveState::Online));
    let a = propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    assert!(sends_to(&a, ConnId(1)).is_empty(), "R34: held");
    let a = cmd(&mut m, 0, ConnId(1), &["REPLCONF", "ACK", "0"]);
    assert_eq!(
        sends_to(&a, ConnId(1)),
        vec![Bytes::from(
            [encode_command(&["SELECT", "0"]), encode_command(&["SET", "a", "1"])].concat()
        )]
    );
    let a = propagate(&mut m, 0, 0, &["SET", "a", "2"]);
    assert_eq!(sends_to(&a, ConnId(1)).len(), 1, "live after the gate");
}

/// R68/B4: a master restarted from its RDB keeps serving its old history through replid2:
/// `PSYNC <old id> <old off + 1>` → `+CONTINUE <new id>`; one byte further is refused.
#[test]
fn restarted_master_continues_old_history_via_replid2() {
    let mut m = master(disk_cfg(), 0);
    online_replica(&mut m, 0, ConnId(1));
    propagate(&mut m, 0, 0, &["SET", "a", "1"]);
    let (old, off) = (m.replid(), m.master_repl_offset());
    let mut m2 = Master::new(disk_cfg(), ChaCha8Rng::seed_from_u64(43), Millis(0));
    m2.restore_from_rdb(old, off, false, Millis(0));
    drain(&mut m2);
    assert_eq!((m2.replid2(), m2.second_replid_offset()), (old, off as i64 + 1));
    assert_eq!(m2.backlog().map(|b| b.first_byte_offset()), Some(off + 1));
    cmd(&mut m2, 0, ConnId(2), &["REPLCONF", "capa", "psync2"]);
    let a = cmd(&mut m2, 0, ConnId(2), &["PSYNC", &old.as_str(), &(off + 1).to_string()]);
    assert_eq!(
        sends_to(&a, ConnId(2)),
        vec![Bytes::from(format!("+CONTINUE {}\r\n", m2.replid()))]
    );
    let a = cmd(&mut m2, 0, ConnId(3), &["PSYNC", &old.as_str(), &(off + 2).to_string()]);
    assert!(
        sends_to(&a, ConnId(3))[0].starts_with(b"+FULLRESYNC "),
        "B2: > second offset"
    );
}
