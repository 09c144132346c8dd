//! A reference model of the backlog and the PSYNC decision (spec §2–§3: R5, R11–R16,
//! R19, R23–R28, R37, R62, R68; invariants I4–I9, I13, I16, I19), run against the real
//! master core.
//!
//! The model is deliberately plain: it keeps a `Vec` of every stream byte ever written
//! (byte `i` of the vec is stream offset `i + 1`), its own replid history, and a *lower
//! bound* on how much of the tail the backlog must still hold. It never mirrors the block
//! list. The real backlog window `[first_byte, first_byte + histlen]` is accepted when it
//! ends at the model's offset, holds at least `min(size, bytes since creation)` (R14/R15:
//! trimming never goes below the size) and at most `size + one block` (I6). The PSYNC
//! decision must then be `+CONTINUE` exactly when R23 holds for that window, and the bytes
//! streamed after `+CONTINUE` (and after a full sync's RDB) must be exactly the model's
//! bytes from the requested offset on (I4, I7).
//!
//! Case counts: `model_agrees_with_master_core_on_random_histories` runs 256 cases and
//! `model_agrees_with_master_core_with_large_blocks` 128 cases, each of up to 90
//! operations; the coverage and bounded-exhaustive tests are deterministic.
//!
//! (Over ~500 lines on purpose: the model, the harness that runs it against the core and the
//! two drivers of it, random and bounded-exhaustive, are one test of one property.)

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use master::{Action, Event, Master, MasterConfig, SnapshotTarget, PING_BYTES};
use proptest::prelude::*;
use proto::{encode_command, ConnId, Millis, ReplId};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Block capacity for the small configuration: max(size/16, block_min) = 4 for sizes
/// 16..=64 (R12 with the test-only block_min). The large configuration multiplies sizes
/// by [`LARGE_SCALE`] and uses 32-byte blocks, so PINGs and short writes fit in the tail
/// block without a trim (R14 trims only when a block is added).
const BLOCK: u64 = 4;
const LARGE_SCALE: u64 = 4;
const LARGE_BLOCK: u64 = 32;
const TTL_S: u64 = 3;
const PING_PERIOD_S: u64 = 3;
/// An id no master here generates (ids are random lowercase hex from a seeded RNG).
const UNKNOWN_ID: &[u8; 40] = b"feedfacefeedfacefeedfacefeedfacefeedface";
/// The connection a WAIT-less test never uses for replicas: conns start at 1.
const FIRST_CONN: u32 = 1;

fn cfg(size: u64, block: u64) -> MasterConfig {
    MasterConfig {
        backlog_block_min: block,
        repl_backlog_size: size,
        repl_backlog_ttl_s: TTL_S,
        // Disk snapshots: every full sync is answered at once, so the model knows the
        // +FULLRESYNC offset (R28) without simulating the diskless delay (R30).
        repl_diskless_sync: false,
        repl_ping_replica_period_s: PING_PERIOD_S,
        // Replicas here never ACK; R38 is tested elsewhere.
        repl_timeout_s: 1_000_000,
        ..Default::default()
    }
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Which id a PSYNC carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Current,
    /// The current id in upper case: R23 compares case-insensitively.
    CurrentUpper,
    Replid2,
    Unknown,
    Question,
}

/// Which offset a PSYNC asks for, chosen around the interesting points of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffKind {
    Exact(i64),
    /// Index into the candidate list computed from the live state, plus a random term.
    Around(u8, u16),
}

#[derive(Debug, Clone)]
pub enum Op {
    Append {
        db: usize,
        key: u8,
        val_len: usize,
    },
    Tick,
    Resize(u64),
    /// Close the n-th attached replica (modulo the count).
    Disconnect(usize),
    Psync {
        id: IdKind,
        off: OffKind,
        psync2: bool,
    },
    Promote,
    Restart,
}

/// The model's knowledge of the backlog: only how much it must at least hold.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Lower bound on histlen: min(size, bytes since creation), lowered by shrinks.
    lo: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ModelCounters {
    sync_full: u64,
    sync_partial_ok: u64,
    sync_partial_err: u64,
}

/// The plain reference model.
#[derive(Debug, Clone)]
struct Model {
    stream: Vec<u8>,
    replid: ReplId,
    replid2: ReplId,
    second_replid_offset: i64,
    backlog: Option<Window>,
    size: u64,
    seldb: i64,
    replicas: BTreeSet<ConnId>,
    no_slaves_since: u64,
    cron_loops: u64,
    counters: ModelCounters,
}

impl Model {
    fn offset(&self) -> u64 {
        self.stream.len() as u64
    }

    /// R5/R12: bytes exist only when a backlog does.
    fn feed(&mut self, bytes: &[u8]) {
        if let Some(w) = self.backlog.as_mut() {
            self.stream.extend_from_slice(bytes);
            w.lo = (w.lo + bytes.len() as u64).min(self.size);
        }
    }

    /// R70/R71: SELECT when the stream's db differs; nothing at all without a backlog.
    fn propagate(&mut self, db: usize, cmd: &[Bytes]) {
        if self.backlog.is_none() {
            return;
        }
        if self.seldb != db as i64 {
            let sel = encode_command(&[&b"SELECT"[..], db.to_string().as_bytes()]);
            self.feed(&sel);
            self.seldb = db as i64;
        }
        self.feed(&encode_command(cmd));
    }

    /// R23 from the model's own id history and a validated window.
    fn accepts(&self, id: &[u8], off: i64, window: Option<(u64, u64)>) -> bool {
        if id.first() == Some(&b'?') {
            return false;
        }
        let id_ok = self.replid.0.eq_ignore_ascii_case(id)
            || (self.replid2.0.eq_ignore_ascii_case(id) && off <= self.second_replid_offset);
        let Some((first, histlen)) = window else {
            return false;
        };
        id_ok && off >= first as i64 && off <= (first + histlen) as i64
    }
}

/// What a replica connection has seen so far.
#[derive(Debug, Clone)]
enum Phase {
    /// Sent PSYNC, waiting for +CONTINUE / +FULLRESYNC.
    AwaitReply { requested: i64 },
    /// Got +FULLRESYNC at `offset`, waiting for the bulk.
    AwaitBulk { offset: u64 },
    /// Stream bytes; the next one must be stream offset `next` (I4, I7).
    Streaming { next: u64 },
}

/// The master core, the model, and a checker of every byte the core writes.
pub struct Harness {
    master: Master<ChaCha8Rng>,
    model: Model,
    now: u64,
    next_conn: u32,
    restarts: u64,
    seed: u64,
    views: BTreeMap<ConnId, Phase>,
    /// Events the pump owes the core (SnapshotReady, BulkSent).
    owed: VecDeque<Event>,
    /// I19: the backlog's first byte never moves back (within one process run).
    last_first_byte: u64,
    /// Decisions seen, for coverage.
    pub decisions: BTreeMap<&'static str, u64>,
    /// Block capacity (every size here is <= 16 blocks, so blocks are exactly this).
    block: u64,
    /// `Op::Resize(n)` sets n * scale.
    scale: u64,
    /// The reply of the last PSYNC, for callers.
    last_reply: Option<bool>,
}

impl Harness {
    pub fn new(seed: u64, size: u64) -> Self {
        Self::with_blocks(seed, size, BLOCK, 1)
    }

    /// A harness whose sizes are `scale` times larger, with `block`-byte blocks.
    pub fn with_blocks(seed: u64, size: u64, block: u64, scale: u64) -> Self {
        let size = size * scale;
        let now = 1_000;
        let master = Master::new(cfg(size, block), ChaCha8Rng::seed_from_u64(seed), Millis(now));
        let model = Model {
            stream: Vec::new(),
            replid: master.replid(),
            replid2: ReplId::ZERO,
            second_replid_offset: -1,
            backlog: None,
            size,
            seldb: -1,
            replicas: BTreeSet::new(),
            no_slaves_since: now,
            cron_loops: 0,
            counters: ModelCounters::default(),
        };
        let mut h = Harness {
            master,
            model,
            now,
            next_conn: FIRST_CONN,
            restarts: 0,
            seed,
            views: BTreeMap::new(),
            owed: VecDeque::new(),
            last_first_byte: 0,
            decisions: BTreeMap::new(),
            last_reply: None,
            block,
            scale,
        };
        h.check_state("new");
        h
    }

    pub fn end(&self) -> u64 {
        self.model.offset()
    }

    /// Delivers actions until the core is quiet, checking each one.
    fn pump(&mut self) {
        loop {
            let acts: Vec<Action> = self.master.drain_actions().collect();
            if acts.is_empty() {
                match self.owed.pop_front() {
                    Some(ev) => {
                        self.master.handle(Millis(self.now), ev);
                        continue;
                    }
                    None => return,
                }
            }
            for a in acts {
                self.on_action(a);
            }
        }
    }

    fn on_action(&mut self, a: Action) {
        match a {
            Action::Send { conn, bytes } => self.on_send(conn, &bytes),
            Action::SendBulk { conn, bytes } => {
                let phase = self.views.get_mut(&conn).expect("bulk to a known replica");
                let Phase::AwaitBulk { offset } = *phase else {
                    panic!("R31: bulk to {conn} in phase {phase:?}");
                };
                assert!(bytes.starts_with(b"$"), "R31: disk preamble `$<len>`");
                *phase = Phase::Streaming { next: offset + 1 };
                self.owed.push_back(Event::BulkSent { conn });
            }
            Action::Close { conn, reason } => {
                assert!(self.views.remove(&conn).is_some(), "close of unknown {conn}: {reason}");
            }
            Action::SendRdb { conn, .. } => panic!("R29: diskless is off, yet an RDB went to {conn} over the socket"),
            Action::StartSnapshot {
                id,
                target,
                replid,
                offset,
                ..
            } => {
                assert_eq!(target, SnapshotTarget::Disk, "R29: diskless is off");
                assert_eq!(replid, self.model.replid, "R65: snapshot carries replid");
                assert_eq!(offset, self.model.offset(), "R28: fork-time offset");
                self.owed.push_back(Event::SnapshotReady {
                    id,
                    payload: Bytes::from_static(b"REDIS0010-fake"),
                });
            }
            Action::Observe(_) => {}
        }
    }

    fn on_send(&mut self, conn: ConnId, bytes: &[u8]) {
        let phase = self
            .views
            .get(&conn)
            .cloned()
            .unwrap_or_else(|| panic!("bytes to unknown {conn}: {bytes:?}"));
        match phase {
            Phase::AwaitReply { requested } => {
                if bytes == b"\n" {
                    return; // R36 keepalive before +FULLRESYNC
                }
                let nl = bytes
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .expect("PSYNC reply is a line");
                let line = &bytes[..nl];
                let rest = &bytes[nl + 2..];
                if let Some(id) = line.strip_prefix(b"+CONTINUE") {
                    self.last_reply = Some(true);
                    if !id.is_empty() {
                        // R24: always the *current* replid.
                        assert_eq!(id, format!(" {}", self.master.replid()).as_bytes());
                    }
                    let from = u64::try_from(requested).expect("accepted offsets are >= 0");
                    self.views.insert(conn, Phase::Streaming { next: from });
                    self.on_send(conn, rest);
                } else if let Some(tail) = line.strip_prefix(b"+FULLRESYNC ") {
                    self.last_reply = Some(false);
                    let text = std::str::from_utf8(tail).expect("ascii");
                    let (id, off) = text.split_once(' ').expect("id and offset");
                    assert_eq!(id, self.model.replid.as_str(), "R28: +FULLRESYNC <replid>");
                    let off: u64 = off.parse().expect("offset");
                    assert_eq!(off, self.model.offset(), "R28: offset at snapshot start");
                    assert!(rest.is_empty(), "nothing follows +FULLRESYNC in its write");
                    self.views.insert(conn, Phase::AwaitBulk { offset: off });
                } else {
                    panic!("unexpected PSYNC reply {:?}", String::from_utf8_lossy(line));
                }
            }
            Phase::AwaitBulk { .. } => {
                assert_eq!(bytes, b"\n", "R13/R36: only keepalives before the bulk");
            }
            Phase::Streaming { next } => {
                let start = usize::try_from(next - 1).expect("small");
                let end = start + bytes.len();
                assert!(
                    end <= self.model.stream.len(),
                    "I1/I4: {conn} got bytes past the master offset ({end} > {})",
                    self.model.stream.len()
                );
                assert_eq!(
                    bytes,
                    &self.model.stream[start..end],
                    "I4: {conn} stream bytes at offset {next}"
                );
                self.views.insert(
                    conn,
                    Phase::Streaming {
                        next: next + bytes.len() as u64,
                    },
                );
            }
        }
    }

    /// Compares everything the core exposes with the model.
    fn check_state(&mut self, ctx: &str) {
        let m = &self.master;
        let md = &self.model;
        assert_eq!(m.master_repl_offset(), md.offset(), "{ctx}: master_repl_offset");
        assert_eq!(m.replid(), md.replid, "{ctx}: replid (I9)");
        assert_eq!(m.replid2(), md.replid2, "{ctx}: replid2");
        assert_eq!(
            m.second_replid_offset(),
            md.second_replid_offset,
            "{ctx}: second_replid_offset"
        );
        // I8: second offset is -1 with a zero replid2, or positive.
        assert!(
            (md.second_replid_offset == -1 && md.replid2 == ReplId::ZERO) || md.second_replid_offset > 0,
            "{ctx}: I8"
        );
        match (m.backlog(), md.backlog) {
            (None, None) => {}
            (Some(b), Some(w)) => {
                let (first, histlen) = (b.first_byte_offset(), b.histlen());
                assert_eq!(b.size(), md.size, "{ctx}: configured size");
                assert_eq!(first + histlen, md.offset() + 1, "{ctx}: I5 window end");
                assert!(histlen >= w.lo, "{ctx}: R14 histlen {histlen} < {}", w.lo);
                // I6, as R14 really behaves: trimming runs only when a block is added, so
                // the tail can fill past size + head block (< size + 2 blocks).
                assert!(
                    histlen < md.size + 2 * self.block,
                    "{ctx}: I6 histlen {histlen} >= {} + 2 * {}",
                    md.size,
                    self.block
                );
                assert!(first >= self.last_first_byte, "{ctx}: I19 first byte");
                self.last_first_byte = first;
                // R19: what the backlog serves is the model's bytes.
                let held = b.range_from(first).expect("first byte is servable");
                assert_eq!(held, md.stream[(first - 1) as usize..], "{ctx}: backlog bytes");
            }
            (b, w) => panic!("{ctx}: backlog presence core={:?} model={w:?}", b.is_some()),
        }
        let c = m.counters();
        assert_eq!(
            (c.sync_full, c.sync_partial_ok, c.sync_partial_err),
            (
                md.counters.sync_full,
                md.counters.sync_partial_ok,
                md.counters.sync_partial_err
            ),
            "{ctx}: I13 counters"
        );
        let core: BTreeSet<ConnId> = m.replicas().map(|r| r.conn).collect();
        assert_eq!(core, md.replicas, "{ctx}: attached replicas");
        let viewed: BTreeSet<ConnId> = self.views.keys().copied().collect();
        assert_eq!(viewed, md.replicas, "{ctx}: connections with a stream");
        // After each step every online replica has received everything (no lag here).
        for (conn, p) in &self.views {
            if let Phase::Streaming { next } = p {
                assert_eq!(*next, md.offset() + 1, "{ctx}: {conn} is fully fed");
            }
        }
    }

    fn window(&self) -> Option<(u64, u64)> {
        self.master.backlog().map(|b| (b.first_byte_offset(), b.histlen()))
    }

    fn resolve_off(&self, off: OffKind) -> i64 {
        let end = self.model.offset() as i64;
        let (first, _) = self.window().unwrap_or((end as u64 + 1, 0));
        let first = first as i64;
        let second = self.model.second_replid_offset;
        match off {
            OffKind::Exact(o) => o,
            OffKind::Around(i, r) => {
                let cands = [
                    -1,
                    0,
                    1,
                    first - 1,
                    first,
                    first + 1,
                    end,
                    end + 1,
                    end + 2,
                    second - 1,
                    second,
                    second + 1,
                    end - i64::from(r % 80),
                    i64::from(r) % (end + 3).max(1),
                ];
                cands[usize::from(i) % cands.len()]
            }
        }
    }

    fn id_bytes(&self, id: IdKind) -> Vec<u8> {
        match id {
            IdKind::Current => self.model.replid.0.to_vec(),
            IdKind::CurrentUpper => self.model.replid.0.to_ascii_uppercase(),
            IdKind::Replid2 => self.model.replid2.0.to_vec(),
            IdKind::Unknown => UNKNOWN_ID.to_vec(),
            IdKind::Question => b"?".to_vec(),
        }
    }

    /// Runs one operation on both the core and the model, checking everything.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Append { db, key, val_len } => {
                let key = format!("k{key}");
                let val = vec![b'v'; *val_len];
                let cmd = argv(&[b"SET", key.as_bytes(), &val]);
                self.model.propagate(*db, &cmd);
                self.master
                    .handle(Millis(self.now), Event::Propagate { db: *db, argv: cmd });
                self.pump();
            }
            Op::Tick => self.tick(),
            Op::Resize(size) => {
                let size = &(size * self.scale);
                self.model.size = *size;
                if let Some(w) = self.model.backlog.as_mut() {
                    w.lo = w.lo.min(*size); // R15: never below the new size
                }
                self.master.set_backlog_size(*size);
                self.pump();
            }
            Op::Disconnect(n) => {
                let Some(conn) = self
                    .model
                    .replicas
                    .iter()
                    .nth(n % self.model.replicas.len().max(1))
                    .copied()
                else {
                    return;
                };
                self.model.replicas.remove(&conn);
                if self.model.replicas.is_empty() {
                    self.model.no_slaves_since = self.now;
                }
                self.views.remove(&conn);
                self.master.handle(Millis(self.now), Event::Closed { conn });
                self.pump();
            }
            Op::Psync { id, off, psync2 } => {
                let id = self.id_bytes(*id);
                let off = self.resolve_off(*off);
                self.psync(&id, off, *psync2);
            }
            Op::Promote => self.promote(),
            Op::Restart => self.restart(),
        }
        self.check_state(&format!("after {op:?}"));
    }

    /// R37 PING, R16 TTL; the model mirrors `replicationCron`'s order.
    fn tick(&mut self) {
        self.now += 1_000;
        if !self.model.replicas.is_empty() && self.model.cron_loops.is_multiple_of(PING_PERIOD_S) {
            self.model.feed(PING_BYTES);
        }
        self.model.cron_loops += 1;
        let ttl_fires = self.model.backlog.is_some()
            && self.model.replicas.is_empty()
            && self.now - self.model.no_slaves_since > TTL_S * 1000;
        let before = self.master.replid();
        self.master.handle(Millis(self.now), Event::Tick);
        if ttl_fires {
            // R16/B6: a new id, replid2 cleared, backlog freed; the offset stays.
            assert_ne!(self.master.replid(), before, "B6: freeing the backlog changes replid");
            self.model.replid = self.master.replid();
            self.model.replid2 = ReplId::ZERO;
            self.model.second_replid_offset = -1;
            self.model.backlog = None;
        }
        self.pump();
    }

    /// One PSYNC on a fresh connection; returns whether it was a +CONTINUE.
    // Over ~70 lines on purpose: the model's expected reply and bytes next to the core's,
    // for one PSYNC.
    pub fn psync(&mut self, id: &[u8], off: i64, psync2: bool) -> bool {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let now = Millis(self.now);
        if psync2 {
            self.master.handle(
                now,
                Event::Command {
                    conn,
                    argv: argv(&[b"REPLCONF", b"capa", b"psync2"]),
                },
            );
            let acts: Vec<Action> = self.master.drain_actions().collect();
            assert_eq!(
                acts,
                vec![Action::Send {
                    conn,
                    bytes: Bytes::from_static(b"+OK\r\n")
                }],
                "R20"
            );
        }
        // The model decides from its own ids and the (validated) real window.
        let window = self.model.backlog.and(self.window());
        let accept = self.model.accepts(id, off, window);
        self.views.insert(conn, Phase::AwaitReply { requested: off });
        self.model.replicas.insert(conn);
        let old_id = self.model.replid;
        if accept {
            self.model.counters.sync_partial_ok += 1;
        } else {
            self.model.counters.sync_full += 1;
            if id.first() != Some(&b'?') {
                self.model.counters.sync_partial_err += 1; // R25
            }
            if self.model.backlog.is_none() && self.model.replicas.len() == 1 {
                // R27: first replica and no backlog: new history, backlog at off+1 (I16).
                self.model.backlog = Some(Window { lo: 0 });
                self.model.replid2 = ReplId::ZERO;
                self.model.second_replid_offset = -1;
                self.model.replid = ReplId::ZERO; // placeholder, read below
            }
            self.model.seldb = -1; // R28
        }
        self.master.handle(
            now,
            Event::Command {
                conn,
                argv: vec![
                    Bytes::from_static(b"PSYNC"),
                    Bytes::copy_from_slice(id),
                    Bytes::from(off.to_string()),
                ],
            },
        );
        if self.model.replid == ReplId::ZERO {
            assert_ne!(self.master.replid(), old_id, "R4: first replica, new id");
            self.model.replid = self.master.replid();
        }
        self.last_reply = None;
        self.pump();
        let got = self.last_reply.expect("PSYNC was answered");
        assert_eq!(
            got,
            accept,
            "R23: PSYNC {} {off} with window {window:?}, model ids {} / {} (second {})",
            String::from_utf8_lossy(id),
            self.model.replid,
            self.model.replid2,
            self.model.second_replid_offset
        );
        if !psync2 && accept {
            // R24: bare +CONTINUE without capa psync2 is checked in on_send (empty id).
        }
        *self
            .decisions
            .entry(if accept { "continue" } else { "full" })
            .or_default() += 1;
        accept
    }

    /// R62 / R3: shift ids, drop every replica, reset SELECT, keep (or create) the backlog.
    fn promote(&mut self) {
        let old = self.model.replid;
        self.master.promote(Millis(self.now));
        let closed: BTreeSet<ConnId> = self
            .master
            .drain_actions()
            .filter_map(|a| match a {
                Action::Close { conn, .. } => Some(conn),
                _ => None,
            })
            .collect();
        assert_eq!(closed, self.model.replicas, "R62: all replicas disconnected");
        self.views.clear();
        self.model.replicas.clear();
        self.model.replid2 = old;
        self.model.second_replid_offset = self.model.offset() as i64 + 1; // R3
        assert_ne!(self.master.replid(), old, "R3: new replid");
        self.model.replid = self.master.replid();
        self.model.seldb = -1;
        self.model.no_slaves_since = self.now;
        if self.model.backlog.is_none() {
            self.model.backlog = Some(Window { lo: 0 });
        }
    }

    /// A new process: R68 when the old one had repl info (a backlog, R66), else R4 row 1.
    fn restart(&mut self) {
        self.restarts += 1;
        let cfg = self.master.config().clone();
        let rng = ChaCha8Rng::seed_from_u64(self.seed ^ (self.restarts << 32));
        let old_id = self.master.replid();
        let old_off = self.master.master_repl_offset();
        let had_backlog = self.master.backlog().is_some();
        self.master = Master::new(cfg, rng, Millis(self.now));
        self.views.clear();
        self.owed.clear();
        self.model.replicas.clear();
        self.model.counters = ModelCounters::default();
        self.model.cron_loops = 0;
        self.model.seldb = -1;
        self.model.no_slaves_since = self.now;
        self.model.replid = self.master.replid();
        if had_backlog {
            self.master.restore_from_rdb(old_id, old_off, false, Millis(self.now));
            self.model.replid2 = old_id;
            self.model.second_replid_offset = old_off as i64 + 1;
            self.model.backlog = Some(Window { lo: 0 });
        } else {
            self.model.stream.clear();
            self.model.replid2 = ReplId::ZERO;
            self.model.second_replid_offset = -1;
            self.model.backlog = None;
            self.last_first_byte = 0;
        }
        self.master.drain_actions().for_each(drop);
    }
}

// ----- the random-history state machine test -------------------------------------------

fn arb_id() -> impl Strategy<Value = IdKind> {
    prop_oneof![
        4 => Just(IdKind::Current),
        1 => Just(IdKind::CurrentUpper),
        3 => Just(IdKind::Replid2),
        1 => Just(IdKind::Unknown),
        1 => Just(IdKind::Question),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => (0usize..4, 0u8..4, 0usize..24).prop_map(|(db, key, val_len)| Op::Append { db, key, val_len }),
        15 => Just(Op::Tick),
        5 => (16u64..=64).prop_map(Op::Resize),
        8 => any::<usize>().prop_map(Op::Disconnect),
        25 => (arb_id(), any::<u8>(), any::<u16>(), prop::bool::weighted(0.8))
            .prop_map(|(id, i, r, psync2)| Op::Psync { id, off: OffKind::Around(i, r), psync2 }),
        3 => Just(Op::Promote),
        3 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// R23/R24/R19/I4/I6/I7/I13: on random histories of appends, ticks (PING, TTL),
    /// resizes, disconnects, PSYNCs, promotions and restarts, every PSYNC decision and
    /// every streamed byte of the master core agrees with the plain model.
    #[test]
    fn model_agrees_with_master_core_on_random_histories(
        seed in any::<u64>(),
        size in 16u64..=64,
        ops in prop::collection::vec(arb_op(), 1..90),
    ) {
        let mut h = Harness::new(seed, size);
        for op in &ops {
            h.apply(op);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The same with 32-byte blocks and sizes 64..=256: PINGs and short writes land in
    /// the tail block without trimming, so histlen rises past size + one block (R14, I6).
    #[test]
    fn model_agrees_with_master_core_with_large_blocks(
        seed in any::<u64>(),
        size in 16u64..=64,
        ops in prop::collection::vec(arb_op(), 1..90),
    ) {
        let mut h = Harness::with_blocks(seed, size, LARGE_BLOCK, LARGE_SCALE);
        for op in &ops {
            h.apply(op);
        }
    }
}

/// The generator actually reaches both outcomes and the eviction regime (guards against a
/// model test that silently only checks full syncs).
#[test]
fn random_histories_cover_continue_full_and_eviction() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut evicted = false;
    for _ in 0..64 {
        let ops = prop::collection::vec(arb_op(), 60..90)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let mut h = Harness::new(7, 16);
        for op in &ops {
            h.apply(op);
            evicted |= h.master.backlog().is_some_and(|b| b.first_byte_offset() > 1);
        }
        for (k, v) in h.decisions {
            *totals.entry(k).or_default() += v;
        }
    }
    assert!(evicted, "no history evicted backlog bytes");
    // The large-block configuration reaches the regime beyond size + one block.
    let mut excess = 0u64;
    for seed in 0..64 {
        let ops = prop::collection::vec(arb_op(), 60..90)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let mut h = Harness::with_blocks(seed, 16, LARGE_BLOCK, LARGE_SCALE);
        for op in &ops {
            h.apply(op);
            if let Some(b) = h.master.backlog() {
                excess = excess.max(b.histlen().saturating_sub(b.size()));
            }
        }
    }
    assert!(
        excess > LARGE_BLOCK,
        "histlen never exceeded size + one block ({excess})"
    );
    assert!(totals.get("continue").copied().unwrap_or(0) > 50, "{totals:?}");
    assert!(totals.get("full").copied().unwrap_or(0) > 50, "{totals:?}");
}

// ----- bounded-exhaustive ------------------------------------------------------------

fn append(db: usize, val_len: usize) -> Op {
    Op::Append { db, key: 1, val_len }
}

fn attach() -> Op {
    Op::Psync {
        id: IdKind::Question,
        off: OffKind::Exact(-1),
        psync2: true,
    }
}

/// A few fixed histories: appends of various sizes, a promotion in the middle, a resize,
/// ticks (PING), a disconnect, a restart, TTL expiry.
fn histories() -> Vec<(u64, Vec<Op>)> {
    vec![
        (
            16,
            vec![
                append(0, 0), // no backlog yet: R5, offset stays 0
                attach(),
                append(0, 1),
                append(0, 0),
                append(2, 7),
                Op::Tick, // PING
                append(2, 20),
                append(3, 2),
                Op::Disconnect(0),
                append(3, 3),
                Op::Promote,
                append(3, 1),
                append(0, 9),
                Op::Resize(64),
                append(1, 23),
                append(1, 0),
                Op::Resize(16),
                append(1, 5),
            ],
        ),
        (
            64,
            vec![
                attach(),
                append(0, 23),
                append(0, 23),
                append(5, 1),
                Op::Tick,
                Op::Tick,
                Op::Tick,
                Op::Tick, // second PING (period 3)
                Op::Promote,
                append(0, 4),
                Op::Restart, // R68: the promoted id becomes replid2 again
                append(0, 4),
                attach(),
                append(0, 17),
                Op::Resize(20),
                append(0, 2),
            ],
        ),
        (
            32,
            vec![
                attach(),
                append(0, 5),
                Op::Disconnect(0),
                Op::Tick,
                Op::Tick,
                Op::Tick,
                Op::Tick,     // R16: TTL (3 s) frees the backlog, new id
                append(0, 5), // no backlog: not counted (R5)
                attach(),     // backlog recreated at offset+1 (I16)
                append(0, 1),
                append(0, 30),
                Op::Promote,
                Op::Promote,
                append(0, 1),
            ],
        ),
    ]
}

/// R23 bounded-exhaustively: after every step of each fixed history, every
/// (replid ∈ {current, replid2, unknown}, offset ∈ [-1, end + 2]) is asked on a master
/// rebuilt from the history (same seed, so the same ids), and the core's answer and the
/// streamed bytes agree with the model (I4).
#[test]
fn every_psync_after_every_history_step_matches_model() {
    let mut asked = 0u64;
    let mut continued = 0u64;
    for (hi, (size, hist)) in histories().into_iter().enumerate() {
        for k in 0..=hist.len() {
            let probe = {
                let mut h = Harness::new(100 + hi as u64, size);
                hist[..k].iter().for_each(|op| h.apply(op));
                (h.end() as i64, h.model.replid2 != ReplId::ZERO)
            };
            let (end, has_id2) = probe;
            let kinds: &[IdKind] = if has_id2 {
                &[IdKind::Current, IdKind::Replid2, IdKind::Unknown]
            } else {
                &[IdKind::Current, IdKind::Unknown]
            };
            for &id in kinds {
                for off in -1..=end + 2 {
                    let mut h = Harness::new(100 + hi as u64, size);
                    hist[..k].iter().for_each(|op| h.apply(op));
                    let op = Op::Psync {
                        id,
                        off: OffKind::Exact(off),
                        psync2: true,
                    };
                    h.apply(&op);
                    // A Continue added the replica, a full sync too; closing removes it.
                    let n = h.model.replicas.len() - 1;
                    h.apply(&Op::Disconnect(n));
                    // And the history goes on unchanged for the replicas that remain.
                    h.apply(&append(0, 3));
                    asked += 1;
                    continued += h.decisions.get("continue").copied().unwrap_or(0);
                }
            }
        }
    }
    assert!(asked > 1_000, "asked {asked}");
    assert!(continued > 100, "continued {continued}");
}
