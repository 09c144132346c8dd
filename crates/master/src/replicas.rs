//! The replica registry (spec §3, R20–R21, R38–R39): who is attached, in which
//! `SlaveState` (6–9), what REPLCONF announced, what each replica acknowledged, and how
//! much output each one holds against `client-output-buffer-limit replica` (R39).
//!
//! Owns: the `Replica` record and its lifecycle (attach via `new_replica`, state changes,
//! removal through `remove_replica`, which also starts the no-replicas clock R16),
//! REPLCONF options and ACKs, INFO's replica views and the good-replica count of
//! `min-replicas-to-write`.
//! Must never: decide a PSYNC or start a snapshot (psync.rs, fullsync.rs), write stream
//! bytes (stream.rs), or drop replicas all at once except through
//! [`Master::disconnect_all_replicas`] (I14).

use bytes::Bytes;
use proto::{ConnId, Millis};
use rand_core::RngCore;
use tracing::warn;

use crate::{Action, Master, Observation, Upstream};

/// `SLAVE_CAPA_EOF`.
pub const SLAVE_CAPA_EOF: u8 = 1 << 0;
/// `SLAVE_CAPA_PSYNC2`.
pub const SLAVE_CAPA_PSYNC2: u8 = 1 << 1;

/// Master-side state of an attached replica, with redis's numbers (`src/server.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SlaveState {
    WaitBgsaveStart = 6,
    WaitBgsaveEnd = 7,
    SendBulk = 8,
    Online = 9,
}

impl SlaveState {
    /// The `state=` word of INFO's `slaveN` line.
    pub fn info_name(self) -> &'static str {
        match self {
            SlaveState::WaitBgsaveStart | SlaveState::WaitBgsaveEnd => "wait_bgsave",
            SlaveState::SendBulk => "send_bulk",
            SlaveState::Online => "online",
        }
    }

    /// R13: replicas past WAIT_BGSAVE_START accumulate the stream.
    pub(crate) fn is_fed(self) -> bool {
        !matches!(self, SlaveState::WaitBgsaveStart)
    }
}

/// One attached replica (redis's replica `client` fields the master reads).
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub(crate) state: SlaveState,
    pub(crate) capa: u8,
    pub(crate) listening_port: u16,
    pub(crate) ip: Option<Bytes>,
    pub(crate) ack_off: u64,
    pub(crate) ack_time: Millis,
    /// When the replica entered WAIT_BGSAVE_START (for the R30 diskless delay).
    pub(crate) since: Millis,
    pub(crate) psync_initial_offset: u64,
    /// Stream bytes accumulated while the RDB is produced/sent (R13).
    pub(crate) pending: Vec<u8>,
    /// `SYNC` replica: no `+FULLRESYNC`, no ACKs expected (R26).
    pub(crate) pre_psync: bool,
    /// Diskless: stream held until the first ACK (R34).
    pub(crate) wait_first_ack: bool,
    /// Which snapshot this replica waits for.
    pub(crate) snapshot: Option<u64>,
    /// Stream and reply bytes handed to the IO layer and not yet written (R39).
    pub(crate) io_unflushed: u64,
    /// Since when the output buffer has been above the soft limit (R39).
    pub(crate) soft_since: Option<Millis>,
}

/// Why a replica record goes away ([`Master::remove_replica`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RemoveReason<'a> {
    /// Its connection closed ([`Event::Closed`](crate::Event::Closed)): nothing to close.
    Closed,
    /// We drop it: close its connection, with this reason for the log.
    Drop(&'a str),
}

/// What REPLCONF told us about a connection before it becomes a replica.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingReplconf {
    pub(crate) port: Option<u16>,
    pub(crate) ip: Option<Bytes>,
    pub(crate) capa: u8,
}

/// A newly attached replica. Its acked offset starts at 0 (a fresh client in redis), so
/// WAIT never counts it before its first `REPLCONF ACK` (found by the simulator's WAIT oracle).
pub(crate) fn new_replica(h: &PendingReplconf, state: SlaveState, now: Millis) -> Replica {
    Replica {
        state,
        capa: h.capa,
        listening_port: h.port.unwrap_or(0),
        ip: h.ip.clone(),
        ack_off: 0,
        ack_time: now,
        since: now,
        psync_initial_offset: 0,
        pending: Vec::new(),
        pre_psync: false,
        wait_first_ack: false,
        snapshot: None,
        io_unflushed: 0,
        soft_since: None,
    }
}

/// One attached replica as INFO reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub conn: ConnId,
    pub state: SlaveState,
    pub listening_port: u16,
    /// `REPLCONF ip-address`, when announced.
    pub ip: Option<Bytes>,
    /// Last acknowledged offset (INFO `offset=`).
    pub ack_off: u64,
    pub ack_time: Millis,
}

impl<R: RngCore> Master<R> {
    /// Attached replicas in ConnId order, as INFO's `slaveN` lines describe them.
    pub fn replicas(&self) -> impl Iterator<Item = ReplicaView> + '_ {
        self.replicas.iter().map(|(c, r)| ReplicaView {
            conn: *c,
            state: r.state,
            listening_port: r.listening_port,
            ip: r.ip.clone(),
            ack_off: r.ack_off,
            ack_time: r.ack_time,
        })
    }

    /// True when `conn` is an attached replica (its commands are not client commands).
    pub fn is_replica(&self, conn: ConnId) -> bool {
        self.replicas.contains_key(&conn)
    }

    /// Number of replicas ONLINE with lag <= min-replicas-max-lag (`refreshGoodSlavesCount`).
    pub fn good_replicas(&self, now: Millis) -> u64 {
        let max_lag = self.cfg.min_replicas_max_lag_s * 1000;
        self.replicas
            .values()
            .filter(|r| r.state == SlaveState::Online && now.0.saturating_sub(r.ack_time.0) <= max_lag)
            .count() as u64
    }

    /// `min-replicas-to-write`: may a write be accepted now?
    pub fn writes_allowed(&self, now: Millis) -> bool {
        self.upstream != Upstream::None
            || self.cfg.min_replicas_to_write == 0
            || self.good_replicas(now) >= self.cfg.min_replicas_to_write
    }

    /// Drops every attached replica (I14). Unlike `Master::remove_replica` it leaves the
    /// no-replicas clock alone: its callers are history changes (R47, R50 on a replica,
    /// whose backlog TTL does not run, R16) and promotion (R62), which starts the clock
    /// itself even when no replica was attached.
    pub fn disconnect_all_replicas(&mut self, reason: &str) {
        let conns: Vec<ConnId> = self.replicas.keys().copied().collect();
        if conns.is_empty() {
            return;
        }
        for conn in &conns {
            self.detach_replica(*conn, RemoveReason::Drop(reason));
        }
        self.actions.push(Action::Observe(Observation::ReplicasDisconnected {
            count: conns.len(),
            why: reason.to_string(),
        }));
    }

    /// The one way a single replica leaves: forget it, close its connection unless it is
    /// already closed, and start the no-replicas clock when it was the last one (R16;
    /// redis's `freeClient()` sets `repl_no_slaves_since` whenever the list empties).
    pub(crate) fn remove_replica(&mut self, now: Millis, conn: ConnId, reason: RemoveReason<'_>) {
        if self.detach_replica(conn, reason) && self.replicas.is_empty() {
            self.repl_no_slaves_since = now;
        }
    }

    /// Forgets replica `conn` and closes its connection if we drop it; true if it was one.
    fn detach_replica(&mut self, conn: ConnId, reason: RemoveReason<'_>) -> bool {
        if self.replicas.remove(&conn).is_none() {
            return false;
        }
        if let RemoveReason::Drop(reason) = reason {
            self.actions.push(Action::Close {
                conn,
                reason: reason.to_string(),
            });
        }
        self.actions
            .push(Action::Observe(Observation::SlaveState { conn, state: None }));
        true
    }

    pub(crate) fn set_state(&mut self, conn: ConnId, state: SlaveState) {
        if let Some(r) = self.replicas.get_mut(&conn) {
            r.state = state;
            self.actions.push(Action::Observe(Observation::SlaveState {
                conn,
                state: Some(state),
            }));
        }
    }

    /// Connection `conn` closed: forget its WAIT, its handshake and its replica record.
    pub(crate) fn closed(&mut self, now: Millis, conn: ConnId) {
        self.waiters.remove(&conn);
        self.handshakes.remove(&conn);
        self.remove_replica(now, conn, RemoveReason::Closed);
    }

    /// [`Event::Unflushed`](crate::Event::Unflushed): only the count; redis checks the
    /// limit when the buffer grows (R39).
    pub(crate) fn set_unflushed(&mut self, conn: ConnId, bytes: u64) {
        if let Some(r) = self.replicas.get_mut(&conn) {
            r.io_unflushed = bytes;
        }
    }

    /// Output-buffer bytes of a replica as redis counts them: stream held for it (R13)
    /// plus what the socket has not taken yet. RDB transfers are not included.
    pub fn obuf_used(&self, conn: ConnId) -> Option<u64> {
        self.replicas
            .get(&conn)
            .map(|r| r.pending.len() as u64 + r.io_unflushed)
    }

    /// R39: close a replica over its hard limit, or over its soft limit for longer than
    /// the soft seconds (redis `checkClientOutputBufferLimits`).
    pub(crate) fn check_obuf(&mut self, now: Millis, conn: ConnId) {
        let limit = self.cfg.replica_obuf_limit;
        let Some(used) = self.obuf_used(conn) else { return };
        let Some(r) = self.replicas.get_mut(&conn) else { return };
        let hard = limit.hard_bytes > 0 && used >= limit.hard_bytes;
        let mut soft = false;
        if limit.soft_bytes > 0 && used >= limit.soft_bytes {
            let since = *r.soft_since.get_or_insert(now);
            soft = now.0.saturating_sub(since.0) > limit.soft_seconds * 1000;
        } else {
            r.soft_since = None;
        }
        if hard || soft {
            let lim = if hard { limit.hard_bytes } else { limit.soft_bytes };
            warn!(%conn, used, limit = lim, soft = !hard, "replica over its output buffer limit (R39)");
            let ack_off = r.ack_off;
            self.counters.client_output_buffer_limit_disconnections += 1;
            self.actions.push(Action::Observe(Observation::ObufLimit {
                conn,
                used,
                limit: lim,
                soft: !hard,
                ack_off,
            }));
            self.remove_replica(
                now,
                conn,
                RemoveReason::Drop("client output buffer limit reached (R39)"),
            );
        }
    }

    /// R20/R21: REPLCONF options; `ack`/`getack` reply nothing.
    pub(crate) fn replconf(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if argv.len().is_multiple_of(2) {
            self.send(conn, &b"-ERR syntax error\r\n"[..]);
            return;
        }
        let mut pending_replica = PendingReplconf::default();
        for pair in argv[1..].chunks(2) {
            let (opt, val) = (&pair[0], &pair[1]);
            let lower = opt.to_ascii_lowercase();
            match lower.as_slice() {
                b"ack" => {
                    self.on_ack(now, conn, val);
                    return;
                }
                b"getack" => return,
                b"listening-port" => match proto::resp::parse_i64(val).and_then(|p| u16::try_from(p).ok()) {
                    Some(p) => pending_replica.port = Some(p),
                    None => {
                        self.send(conn, &b"-ERR value is not an integer or out of range\r\n"[..]);
                        return;
                    }
                },
                b"ip-address" => pending_replica.ip = Some(val.clone()),
                b"capa" => {
                    if val.eq_ignore_ascii_case(b"eof") {
                        pending_replica.capa |= SLAVE_CAPA_EOF;
                    } else if val.eq_ignore_ascii_case(b"psync2") {
                        pending_replica.capa |= SLAVE_CAPA_PSYNC2;
                    }
                }
                b"rdb-only" | b"rdb-filter-only" => {}
                _ => {
                    let msg = format!(
                        "-ERR Unrecognized REPLCONF option: {}\r\n",
                        String::from_utf8_lossy(opt)
                    );
                    self.send(conn, msg.into_bytes());
                    return;
                }
            }
        }
        let h = self.handshakes.entry(conn).or_default();
        h.capa |= pending_replica.capa;
        if pending_replica.port.is_some() {
            h.port = pending_replica.port;
        }
        if pending_replica.ip.is_some() {
            h.ip = pending_replica.ip;
        }
        self.send(conn, &b"+OK\r\n"[..]);
    }

    /// R21: ACK from a replica; ignored from anyone else.
    fn on_ack(&mut self, now: Millis, conn: ConnId, val: &[u8]) {
        let Some(off) = proto::resp::parse_i64(val).and_then(|v| u64::try_from(v).ok()) else {
            return;
        };
        let Some(r) = self.replicas.get_mut(&conn) else {
            return;
        };
        r.ack_off = r.ack_off.max(off);
        r.ack_time = now;
        if r.state == SlaveState::Online && r.wait_first_ack {
            // R34: the diskless replica loaded the RDB; start its command stream.
            r.wait_first_ack = false;
            let pending = std::mem::take(&mut r.pending);
            if !pending.is_empty() {
                self.send(conn, pending);
            }
        }
        self.check_waiters(now);
    }
}
