//! The master side of replication as a sans-IO state machine (spec §1–§3).
//!
//! Owns: the replication identity (replid, replid2, offsets), the backlog, the registry of
//! attached replicas with their `SlaveState`, full/partial sync decisions, propagation
//! framing (SELECT, offsets), PING/keepalive/timeout cron duties and WAIT.
//! Used both by a top-level master and by a replica serving sub-replicas (chained).
//! Must never: read a clock or OS entropy (time is `now`, randomness is the injected RNG),
//! touch a socket, or hold replication logic that belongs to the upstream link.

pub mod backlog;
pub mod psync;

use std::collections::BTreeMap;

use bytes::Bytes;
use proto::{encode_command, ConnId, Millis, ReplId};
use rand_core::RngCore;
use tracing::{debug, info, warn};

pub use backlog::{ReplBacklog, REPL_BACKLOG_MIN_SIZE};
pub use psync::{decide, FullReason, PsyncDecision, PsyncState};

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
    fn is_fed(self) -> bool {
        !matches!(self, SlaveState::WaitBgsaveStart)
    }
}

/// Where a replication snapshot goes (R29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotTarget {
    Disk,
    Socket,
}

/// Configuration (redis config names).
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub repl_backlog_size: u64,
    /// Smallest backlog block; 16 KiB as redis (tests lower it to see eviction).
    pub backlog_block_min: u64,
    /// `repl-backlog-ttl` in seconds; 0 disables (R16).
    pub repl_backlog_ttl_s: u64,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay_s: u64,
    pub repl_diskless_sync_max_replicas: u64,
    pub repl_ping_replica_period_s: u64,
    pub repl_timeout_s: u64,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag_s: u64,
    /// `client-output-buffer-limit replica <hard> <soft> <seconds>` (R39).
    pub replica_obuf_limit: ObufLimit,
    /// Report every stream byte this node appends ([`Observation::Fed`]). Off by default:
    /// only the simulator's stream oracles need it, and a server must not queue a copy
    /// per write that nobody drains.
    pub observe_stream: bool,
}

/// An output-buffer limit as redis's `client-output-buffer-limit` class line: a client whose
/// unsent output exceeds `hard_bytes`, or stays above `soft_bytes` for more than
/// `soft_seconds`, is closed. 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

impl ObufLimit {
    /// redis's default for the replica class: `256mb 64mb 60`.
    pub const REPLICA_DEFAULT: ObufLimit = ObufLimit {
        hard_bytes: 256 * 1024 * 1024,
        soft_bytes: 64 * 1024 * 1024,
        soft_seconds: 60,
    };

    /// No limit (`0 0 0`).
    pub const NONE: ObufLimit = ObufLimit {
        hard_bytes: 0,
        soft_bytes: 0,
        soft_seconds: 0,
    };
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            repl_backlog_size: 1024 * 1024,
            backlog_block_min: REPL_BACKLOG_MIN_SIZE,
            repl_backlog_ttl_s: 3600,
            repl_diskless_sync: true,
            repl_diskless_sync_delay_s: 5,
            repl_diskless_sync_max_replicas: 0,
            repl_ping_replica_period_s: 10,
            repl_timeout_s: 60,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 10,
            replica_obuf_limit: ObufLimit::REPLICA_DEFAULT,
            observe_stream: false,
        }
    }
}

/// Inputs to the master core.
#[derive(Debug, Clone)]
pub enum Event {
    /// `replicationCron`: the caller delivers it every 1000 ms.
    Tick,
    /// A replication command (REPLCONF, PSYNC, SYNC) from connection `conn`.
    Command { conn: ConnId, argv: Vec<Bytes> },
    /// A write the keyspace executed on db `db`, already rewritten for propagation (R72).
    Propagate { db: usize, argv: Vec<Bytes> },
    /// Bytes a replica applied from its own master, proxied verbatim (R18, R55, R74).
    Proxy { bytes: Bytes },
    /// The RDB of snapshot `id` is ready.
    SnapshotReady { id: u64, payload: Bytes },
    /// Snapshot `id` failed (R35).
    SnapshotFailed { id: u64 },
    /// All bytes of the disk bulk transfer to `conn` were written (R31).
    BulkSent { conn: ConnId },
    /// Connection `conn` closed (by the peer or by us).
    Closed { conn: ConnId },
    /// A client issued `WAIT numreplicas timeout` after writing up to `offset`.
    Wait {
        conn: ConnId,
        numreplicas: u64,
        timeout_ms: u64,
        offset: u64,
    },
    /// Wakes the core for WAIT deadlines (see [`Master::next_wakeup`]).
    Wakeup,
    /// The IO layer's count of bytes queued for `conn` and not yet written to its socket,
    /// RDB transfers excluded (R39 needs it: only the IO layer sees a peer that stops
    /// reading). Sends made after this report are added by the core itself.
    Unflushed { conn: ConnId, bytes: u64 },
}

/// What happened, for oracles and traces (not bytes on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A PSYNC/SYNC was decided: the request, the state it was decided in, the outcome.
    Psync {
        conn: ConnId,
        id: Bytes,
        offset: i64,
        state: PsyncState,
        decision: PsyncDecision,
        /// For `Continue`: the exact bytes streamed from the backlog (I4).
        continued: Option<Bytes>,
        /// For full syncs: the `+FULLRESYNC` offset once chosen (None while waiting).
        master_repl_offset: u64,
    },
    /// A replica's master-side state changed (None = removed).
    SlaveState { conn: ConnId, state: Option<SlaveState> },
    /// Every attached replica was disconnected at once (I14: only when this node's history
    /// changes — promotion, a new id from `+CONTINUE`, a loaded full sync).
    ReplicasDisconnected { count: usize, why: String },
    /// A replica was dropped for its output buffer (R39): `used` bytes against `limit`.
    ObufLimit {
        conn: ConnId,
        used: u64,
        limit: u64,
        soft: bool,
        /// The replica's last acknowledged offset (did it make progress before the drop?).
        ack_off: u64,
    },
    /// WAIT answered: `acked` replicas had acknowledged `offset`.
    WaitReply { conn: ConnId, offset: u64, acked: u64 },
    /// Stream bytes appended to this node's backlog (R5, R73), ending at offset `end`
    /// under `replid`: `generated` when this node is a top-level master writing its own
    /// stream, not a replica proxying its master's (R55). Only with `observe_stream`.
    Fed {
        replid: ReplId,
        end: u64,
        bytes: Bytes,
        generated: bool,
    },
    /// replid changed (R4 events only, I9).
    ReplidChanged {
        replid: ReplId,
        replid2: ReplId,
        second_replid_offset: i64,
        why: &'static str,
        /// The id before the change, and the offset at which it changed.
        old_replid: ReplId,
        master_repl_offset: u64,
    },
}

/// Outputs of the master core, drained by the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write bytes to a connection.
    Send { conn: ConnId, bytes: Bytes },
    /// Write a disk bulk transfer; report [`Event::BulkSent`] when written (R31).
    SendBulk { conn: ConnId, bytes: Bytes },
    /// Close a connection now, discarding output not yet written (redis frees the
    /// client), with a reason for the log.
    Close { conn: ConnId, reason: String },
    /// Write a diskless RDB transfer (R32). Unlike `Send` it is not output-buffer data:
    /// redis streams it from the child's pipe, outside the client's buffer (R39).
    SendRdb { conn: ConnId, bytes: Bytes },
    /// Take a snapshot of the dataset *now* (as fork would) with these repl aux fields
    /// (R65), then report [`Event::SnapshotReady`].
    StartSnapshot {
        id: u64,
        target: SnapshotTarget,
        replid: ReplId,
        offset: u64,
        stream_db: u32,
    },
    /// For oracles and traces.
    Observe(Observation),
}

#[derive(Debug, Clone)]
struct Replica {
    state: SlaveState,
    capa: u8,
    listening_port: u16,
    ip: Option<Bytes>,
    ack_off: u64,
    ack_time: Millis,
    /// When the replica entered WAIT_BGSAVE_START (for the R30 diskless delay).
    since: Millis,
    psync_initial_offset: u64,
    /// Stream bytes accumulated while the RDB is produced/sent (R13).
    pending: Vec<u8>,
    /// `SYNC` replica: no `+FULLRESYNC`, no ACKs expected (R26).
    pre_psync: bool,
    /// Diskless: stream held until the first ACK (R34).
    wait_first_ack: bool,
    /// Which snapshot this replica waits for.
    snapshot: Option<u64>,
    /// Stream and reply bytes handed to the IO layer and not yet written (R39).
    io_unflushed: u64,
    /// Since when the output buffer has been above the soft limit (R39).
    soft_since: Option<Millis>,
}

#[derive(Debug, Clone, Copy)]
struct Child {
    id: u64,
    target: SnapshotTarget,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    numreplicas: u64,
    deadline: Option<Millis>,
    offset: u64,
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

/// Sync counters, as INFO shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Replicas dropped for their output buffer (R39; INFO name from redis 7.2).
    pub client_output_buffer_limit_disconnections: u64,
}

/// Whether this instance replicates from someone (affects P3, R7, R16, R37).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// A top-level master.
    None,
    /// A replica whose link is CONNECTED.
    Connected,
    /// A replica whose link is not CONNECTED (P3 refuses SYNC).
    NotConnected,
}

/// The master core.
pub struct Master<R> {
    cfg: MasterConfig,
    rng: R,
    replid: ReplId,
    replid2: ReplId,
    master_repl_offset: u64,
    second_replid_offset: i64,
    slaveseldb: i64,
    backlog: Option<ReplBacklog>,
    replicas: BTreeMap<ConnId, Replica>,
    child: Option<Child>,
    next_snapshot_id: u64,
    cron_loops: u64,
    repl_no_slaves_since: Millis,
    upstream: Upstream,
    counters: Counters,
    waiters: BTreeMap<ConnId, Waiter>,
    getack_pending: bool,
    handshakes: BTreeMap<ConnId, PendingReplconf>,
    /// The replid last reported in an observation (so changes name their predecessor).
    observed_replid: ReplId,
    actions: Vec<Action>,
    /// The time of the event being handled (paths like `feed` need it for R39).
    now: Millis,
}

/// `*1\r\n$4\r\nping\r\n` — the lower-case PING a master propagates (R37).
pub const PING_BYTES: &[u8] = b"*1\r\n$4\r\nping\r\n";
/// `REPLCONF GETACK *` as propagated (37 bytes, R22, R73).
pub const GETACK_BYTES: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

fn random_replid<R: RngCore>(rng: &mut R) -> ReplId {
    let mut raw = [0u8; 20];
    rng.fill_bytes(&mut raw);
    ReplId::from_random(raw)
}

impl<R: RngCore> Master<R> {
    /// Process start (R4 row 1): a random replid, offset 0, no backlog.
    pub fn new(cfg: MasterConfig, mut rng: R, now: Millis) -> Self {
        let replid = random_replid(&mut rng);
        Master {
            cfg,
            rng,
            replid,
            replid2: ReplId::ZERO,
            master_repl_offset: 0,
            second_replid_offset: -1,
            slaveseldb: -1,
            backlog: None,
            replicas: BTreeMap::new(),
            child: None,
            next_snapshot_id: 1,
            cron_loops: 0,
            repl_no_slaves_since: now,
            upstream: Upstream::None,
            counters: Counters::default(),
            waiters: BTreeMap::new(),
            getack_pending: false,
            handshakes: BTreeMap::new(),
            observed_replid: replid,
            actions: Vec::new(),
            now,
        }
    }

    // ----- accessors -------------------------------------------------------------------

    pub fn replid(&self) -> ReplId {
        self.replid
    }
    pub fn replid2(&self) -> ReplId {
        self.replid2
    }
    pub fn master_repl_offset(&self) -> u64 {
        self.master_repl_offset
    }
    pub fn second_replid_offset(&self) -> i64 {
        self.second_replid_offset
    }
    pub fn backlog(&self) -> Option<&ReplBacklog> {
        self.backlog.as_ref()
    }
    pub fn counters(&self) -> Counters {
        self.counters
    }
    pub fn config(&self) -> &MasterConfig {
        &self.cfg
    }
    pub fn upstream(&self) -> Upstream {
        self.upstream
    }
    /// The selected db of the stream (`slaveseldb`), -1 when the next command needs SELECT.
    pub fn slaveseldb(&self) -> i64 {
        self.slaveseldb
    }

    /// The state R23 reads, for oracles.
    pub fn psync_state(&self) -> PsyncState {
        PsyncState {
            replid: self.replid,
            replid2: self.replid2,
            second_replid_offset: self.second_replid_offset,
            backlog: self.backlog.as_ref().map(|b| (b.first_byte_offset(), b.histlen())),
        }
    }

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

    /// The earliest time a WAIT deadline expires.
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.waiters.values().filter_map(|w| w.deadline).min()
    }

    /// Drains the actions produced so far.
    pub fn drain_actions(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    // ----- configuration and role changes (called by the node) --------------------------

    /// R15: `CONFIG SET repl-backlog-size` (the node clamps to 16384 as redis does).
    pub fn set_backlog_size(&mut self, size: u64) {
        self.cfg.repl_backlog_size = size;
        if let Some(b) = self.backlog.as_mut() {
            b.resize(size);
        }
    }

    /// Other runtime config changes.
    pub fn config_mut(&mut self) -> &mut MasterConfig {
        &mut self.cfg
    }

    /// Tells the core whether it is a top-level master or a replica (and its link state).
    pub fn set_upstream(&mut self, upstream: Upstream) {
        self.upstream = upstream;
    }

    fn observe_replid(&mut self, why: &'static str) {
        let old_replid = std::mem::replace(&mut self.observed_replid, self.replid);
        self.actions.push(Action::Observe(Observation::ReplidChanged {
            replid: self.replid,
            replid2: self.replid2,
            second_replid_offset: self.second_replid_offset,
            old_replid,
            master_repl_offset: self.master_repl_offset,
            why,
        }));
    }

    /// R1 + R2.
    fn new_history(&mut self, why: &'static str) {
        self.replid = random_replid(&mut self.rng);
        self.replid2 = ReplId::ZERO;
        self.second_replid_offset = -1;
        self.observe_replid(why);
    }

    /// R3 (`shiftReplicationId`): used on promotion (R62).
    pub fn shift_replid(&mut self, why: &'static str) {
        self.replid2 = self.replid;
        self.second_replid_offset = self.master_repl_offset as i64 + 1;
        self.replid = random_replid(&mut self.rng);
        info!(replid = %self.replid, replid2 = %self.replid2, second = self.second_replid_offset, "replid shifted");
        self.observe_replid(why);
    }

    /// R62 (`REPLICAOF NO ONE` on a replica): shift, disconnect all replicas, reset SELECT,
    /// start the no-replicas clock. The backlog is kept.
    pub fn promote(&mut self, now: Millis) {
        self.shift_replid("promotion");
        self.disconnect_all_replicas("promoted: replicas must PSYNC again (R62)");
        self.slaveseldb = -1;
        self.repl_no_slaves_since = now;
        self.upstream = Upstream::None;
        self.ensure_backlog();
    }

    /// R47: a replica adopting a new id from `+CONTINUE <id>`: replid2 := old id,
    /// second offset := offset + 1, and sub-replicas are disconnected (I14).
    pub fn adopt_replid(&mut self, new: ReplId) {
        self.replid2 = self.replid;
        self.second_replid_offset = self.master_repl_offset as i64 + 1;
        self.replid = new;
        self.observe_replid("continue-new-id");
        self.disconnect_all_replicas("upstream replid changed (R47)");
        self.ensure_backlog();
    }

    /// R50 + R52: a replica finished loading a full sync at `(replid, offset)`: sub-replicas
    /// dropped, backlog freed then created at `offset + 1`, replid2 cleared.
    pub fn reset_to_full_sync(&mut self, replid: ReplId, offset: u64) {
        self.disconnect_all_replicas("full sync loaded (R50)");
        self.backlog = None;
        self.replid = replid;
        self.master_repl_offset = offset;
        self.replid2 = ReplId::ZERO;
        self.second_replid_offset = -1;
        self.observe_replid("full-sync-loaded");
        self.ensure_backlog();
    }

    /// R67/R68 at startup from an RDB with valid repl info. As a replica the stored id is
    /// adopted; as a master the fresh id stays and the stored one becomes replid2.
    pub fn restore_from_rdb(&mut self, replid: ReplId, offset: u64, as_replica: bool, now: Millis) {
        if as_replica {
            self.replid = replid;
            self.master_repl_offset = offset;
            self.observe_replid("restart-as-replica");
        } else {
            self.replid2 = replid;
            self.second_replid_offset = offset as i64 + 1;
            self.master_repl_offset = offset;
            self.repl_no_slaves_since = now;
            self.observe_replid("restart-as-master");
        }
        self.backlog = Some(self.new_backlog());
    }

    fn new_backlog(&self) -> ReplBacklog {
        ReplBacklog::new(
            self.master_repl_offset,
            self.cfg.repl_backlog_size,
            self.cfg.backlog_block_min,
        )
    }

    fn ensure_backlog(&mut self) {
        if self.backlog.is_none() {
            self.backlog = Some(self.new_backlog());
        }
    }

    /// Drops every attached replica (I14).
    pub fn disconnect_all_replicas(&mut self, reason: &str) {
        let conns: Vec<ConnId> = self.replicas.keys().copied().collect();
        if conns.is_empty() {
            return;
        }
        for conn in &conns {
            self.drop_replica(*conn, reason);
        }
        self.actions.push(Action::Observe(Observation::ReplicasDisconnected {
            count: conns.len(),
            why: reason.to_string(),
        }));
    }

    fn drop_replica(&mut self, conn: ConnId, reason: &str) {
        if self.replicas.remove(&conn).is_some() {
            self.actions.push(Action::Close {
                conn,
                reason: reason.to_string(),
            });
            self.actions
                .push(Action::Observe(Observation::SlaveState { conn, state: None }));
        }
    }

    fn set_state(&mut self, conn: ConnId, state: SlaveState) {
        if let Some(r) = self.replicas.get_mut(&conn) {
            r.state = state;
            self.actions.push(Action::Observe(Observation::SlaveState {
                conn,
                state: Some(state),
            }));
        }
    }

    // ----- events ----------------------------------------------------------------------

    /// Feeds one event.
    pub fn handle(&mut self, now: Millis, ev: Event) {
        self.now = now;
        match ev {
            Event::Tick => self.cron(now),
            Event::Command { conn, argv } => self.command(now, conn, &argv),
            Event::Propagate { db, argv } => self.propagate(db, &argv),
            Event::Proxy { bytes } => self.feed(&bytes),
            Event::SnapshotReady { id, payload } => self.snapshot_ready(now, id, payload),
            Event::SnapshotFailed { id } => self.snapshot_failed(now, id),
            Event::BulkSent { conn } => self.bulk_sent(now, conn),
            Event::Closed { conn } => self.closed(now, conn),
            Event::Wait {
                conn,
                numreplicas,
                timeout_ms,
                offset,
            } => self.wait(now, conn, numreplicas, timeout_ms, offset),
            Event::Wakeup => self.expire_waiters(now),
            Event::Unflushed { conn, bytes } => {
                // Only the count: redis checks the limit when the buffer grows (R39).
                if let Some(r) = self.replicas.get_mut(&conn) {
                    r.io_unflushed = bytes;
                }
            }
        }
        self.flush_getack();
    }

    fn closed(&mut self, now: Millis, conn: ConnId) {
        self.waiters.remove(&conn);
        self.handshakes.remove(&conn);
        if self.replicas.remove(&conn).is_some() {
            self.actions
                .push(Action::Observe(Observation::SlaveState { conn, state: None }));
            if self.replicas.is_empty() {
                self.repl_no_slaves_since = now;
            }
        }
    }

    fn command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        let Some(name) = argv.first() else { return };
        if name.eq_ignore_ascii_case(b"replconf") {
            self.replconf(now, conn, argv);
        } else if name.eq_ignore_ascii_case(b"psync") || name.eq_ignore_ascii_case(b"sync") {
            self.sync_command(now, conn, argv);
        } else {
            let msg = format!(
                "-ERR unknown replication command '{}'\r\n",
                String::from_utf8_lossy(name)
            );
            self.send(conn, msg.into_bytes());
        }
    }

    fn send(&mut self, conn: ConnId, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if let Some(r) = self.replicas.get_mut(&conn) {
            r.io_unflushed += bytes.len() as u64;
        }
        self.actions.push(Action::Send { conn, bytes });
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
    fn check_obuf(&mut self, now: Millis, conn: ConnId) {
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
            self.drop_replica(conn, "client output buffer limit reached (R39)");
            if self.replicas.is_empty() {
                self.repl_no_slaves_since = now;
            }
        }
    }

    /// R20/R21: REPLCONF options; `ack`/`getack` reply nothing.
    fn replconf(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
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
}

/// What REPLCONF told us about a connection before it becomes a replica.
#[derive(Debug, Clone, Default)]
struct PendingReplconf {
    port: Option<u16>,
    ip: Option<Bytes>,
    capa: u8,
}

impl<R: RngCore> Master<R> {
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

    /// §3.2 preconditions, then R23–R27.
    fn sync_command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if self.replicas.contains_key(&conn) {
            return; // P0: already a replica, ignore.
        }
        let is_psync = argv[0].eq_ignore_ascii_case(b"psync");
        // PSYNC's arity is -3 in redis' command table: extra arguments are accepted.
        if is_psync && argv.len() < 3 {
            self.send(conn, &b"-ERR wrong number of arguments for 'psync' command\r\n"[..]);
            return;
        }
        if !is_psync && argv.len() != 1 {
            self.send(conn, &b"-ERR wrong number of arguments for 'sync' command\r\n"[..]);
            return;
        }
        if is_psync && argv.len() > 3 && argv[3].eq_ignore_ascii_case(b"failover") {
            // P1: coordinated failover hand-off is out of scope; refuse it as a master does.
            // Any other 4th argument is ignored, as syncCommand() does.
            self.send(conn, &b"-ERR PSYNC FAILOVER can't be sent to a master.\r\n"[..]);
            return;
        }
        if self.upstream == Upstream::NotConnected {
            self.send(
                conn,
                &b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"[..],
            );
            return; // P3
        }
        let (id, off) = if is_psync {
            let Some(off) = proto::resp::parse_i64(&argv[2]) else {
                self.send(conn, &b"-ERR value is not an integer or out of range\r\n"[..]);
                return; // P6
            };
            (argv[1].clone(), off)
        } else {
            (Bytes::from_static(b"?"), -1)
        };
        let state = self.psync_state();
        let decision = if is_psync {
            decide(&state, &id, off)
        } else {
            PsyncDecision::Full(FullReason::Sync)
        };
        debug!(%conn, id = %String::from_utf8_lossy(&id), off, ?decision, "psync");
        match decision {
            PsyncDecision::Continue => self.partial_resync(now, conn, id, off, state),
            PsyncDecision::Full(reason) => {
                if reason != FullReason::Requested && reason != FullReason::Sync {
                    self.counters.sync_partial_err += 1; // R25
                }
                self.actions.push(Action::Observe(Observation::Psync {
                    conn,
                    id,
                    offset: off,
                    state,
                    decision,
                    continued: None,
                    master_repl_offset: self.master_repl_offset,
                }));
                self.full_resync(now, conn, !is_psync);
            }
        }
    }

    /// R24: `+CONTINUE`, then exactly the backlog bytes from `off` on.
    fn partial_resync(&mut self, now: Millis, conn: ConnId, id: Bytes, off: i64, state: PsyncState) {
        let h = self.handshakes.remove(&conn).unwrap_or_default();
        let from = u64::try_from(off).expect("decide() accepted a non-negative offset");
        let data = self
            .backlog
            .as_ref()
            .and_then(|b| b.range_from(from))
            .expect("decide() accepted an offset inside the backlog");
        debug_assert_eq!(
            from + data.len() as u64,
            self.master_repl_offset + 1,
            "I4: no gap, no overlap"
        );
        let mut out = if h.capa & SLAVE_CAPA_PSYNC2 != 0 {
            format!("+CONTINUE {}\r\n", self.replid).into_bytes()
        } else {
            b"+CONTINUE\r\n".to_vec()
        };
        out.extend_from_slice(&data);
        self.replicas.insert(conn, new_replica(&h, SlaveState::Online, now));
        self.send(conn, out); // counted in its output buffer, as redis's shared blocks are
        self.counters.sync_partial_ok += 1;
        self.actions.push(Action::Observe(Observation::Psync {
            conn,
            id,
            offset: off,
            state,
            decision: PsyncDecision::Continue,
            continued: Some(Bytes::from(data)),
            master_repl_offset: self.master_repl_offset,
        }));
        self.actions.push(Action::Observe(Observation::SlaveState {
            conn,
            state: Some(SlaveState::Online),
        }));
    }

    /// R27: register a full-sync replica and pick how its RDB is produced.
    fn full_resync(&mut self, now: Millis, conn: ConnId, pre_psync: bool) {
        let h = self.handshakes.remove(&conn).unwrap_or_default();
        self.counters.sync_full += 1;
        let mut r = new_replica(&h, SlaveState::WaitBgsaveStart, now);
        r.pre_psync = pre_psync;
        self.replicas.insert(conn, r);
        self.actions.push(Action::Observe(Observation::SlaveState {
            conn,
            state: Some(SlaveState::WaitBgsaveStart),
        }));
        if self.replicas.len() == 1 && self.backlog.is_none() {
            self.new_history("first-replica-no-backlog");
            self.ensure_backlog();
        }
        match self.child {
            Some(Child {
                id,
                target: SnapshotTarget::Disk,
            }) => self.try_attach(conn, id),
            Some(Child {
                target: SnapshotTarget::Socket,
                ..
            }) => {} // (b) wait for the next one
            None => {
                let capa_eof = h.capa & SLAVE_CAPA_EOF != 0;
                if !(self.cfg.repl_diskless_sync && capa_eof && self.cfg.repl_diskless_sync_delay_s > 0) {
                    self.start_bgsave();
                }
            }
        }
    }

    /// R27(a): share a disk BGSAVE in progress with a replica already waiting for it.
    fn try_attach(&mut self, conn: ConnId, child_id: u64) {
        let newcomer_capa = self.replicas.get(&conn).map_or(0, |r| r.capa);
        let donor = self
            .replicas
            .iter()
            .find(|(c, r)| {
                **c != conn
                    && r.state == SlaveState::WaitBgsaveEnd
                    && r.snapshot == Some(child_id)
                    && newcomer_capa & r.capa == r.capa
            })
            .map(|(_, r)| (r.psync_initial_offset, r.pending.clone()));
        if let Some((offset, pending)) = donor {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.pending = pending;
                r.snapshot = Some(child_id);
            }
            self.setup_full_resync(conn, offset);
        }
    }

    /// R28: `+FULLRESYNC <replid> <off>` (unless SYNC), state WAIT_BGSAVE_END, SELECT reset.
    fn setup_full_resync(&mut self, conn: ConnId, offset: u64) {
        self.slaveseldb = -1;
        let replid = self.replid;
        let Some(r) = self.replicas.get_mut(&conn) else {
            return;
        };
        r.psync_initial_offset = offset;
        let pre_psync = r.pre_psync;
        self.set_state(conn, SlaveState::WaitBgsaveEnd);
        if !pre_psync {
            self.send(conn, format!("+FULLRESYNC {replid} {offset}\r\n").into_bytes());
        }
    }

    /// R29: start a snapshot for every replica in WAIT_BGSAVE_START.
    fn start_bgsave(&mut self) {
        debug_assert!(self.child.is_none(), "one snapshot at a time");
        let waiting: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state == SlaveState::WaitBgsaveStart)
            .map(|(c, _)| *c)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let all_eof = waiting.iter().all(|c| self.replicas[c].capa & SLAVE_CAPA_EOF != 0);
        let target = if self.cfg.repl_diskless_sync && all_eof {
            SnapshotTarget::Socket
        } else {
            SnapshotTarget::Disk
        };
        let id = self.next_snapshot_id;
        self.next_snapshot_id += 1;
        self.child = Some(Child { id, target });
        // R66: a master with a backlog reports slaveseldb (or 0); we always have one here.
        let stream_db = u32::try_from(self.slaveseldb.max(0)).unwrap_or(0);
        let offset = self.master_repl_offset;
        self.actions.push(Action::StartSnapshot {
            id,
            target,
            replid: self.replid,
            offset,
            stream_db,
        });
        for conn in waiting {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.snapshot = Some(id);
                r.pending.clear();
            }
            self.setup_full_resync(conn, offset);
        }
    }

    fn snapshot_ready(&mut self, now: Millis, id: u64, payload: Bytes) {
        let Some(child) = self.child.take_if(|c| c.id == id) else {
            return;
        };
        let targets: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state == SlaveState::WaitBgsaveEnd && r.snapshot == Some(id))
            .map(|(c, _)| *c)
            .collect();
        for conn in targets {
            match child.target {
                SnapshotTarget::Disk => {
                    // R31: `$<len>\r\n` + payload, no trailing CRLF.
                    let mut out = format!("${}\r\n", payload.len()).into_bytes();
                    out.extend_from_slice(&payload);
                    self.set_state(conn, SlaveState::SendBulk);
                    self.actions.push(Action::SendBulk {
                        conn,
                        bytes: out.into(),
                    });
                }
                SnapshotTarget::Socket => {
                    // R32: `$EOF:<mark>\r\n` + payload + mark; ONLINE, stream held (R34).
                    let mark = random_replid(&mut self.rng);
                    let mut out = format!("$EOF:{mark}\r\n").into_bytes();
                    out.extend_from_slice(&payload);
                    out.extend_from_slice(&mark.0);
                    self.actions.push(Action::SendRdb {
                        conn,
                        bytes: out.into(),
                    });
                    if let Some(r) = self.replicas.get_mut(&conn) {
                        r.wait_first_ack = true;
                        r.ack_time = now;
                    }
                    self.set_state(conn, SlaveState::Online);
                }
            }
        }
        // Replicas that arrived during this snapshot get the next one now (R30 would too).
        if !self.cfg.repl_diskless_sync || self.cfg.repl_diskless_sync_delay_s == 0 {
            self.start_bgsave();
        }
    }

    /// R35: every replica waiting for this snapshot is dropped.
    fn snapshot_failed(&mut self, now: Millis, id: u64) {
        if self.child.take_if(|c| c.id == id).is_none() {
            return;
        }
        let victims: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.snapshot == Some(id) && r.state == SlaveState::WaitBgsaveEnd)
            .map(|(c, _)| *c)
            .collect();
        let any = !victims.is_empty();
        for conn in victims {
            self.drop_replica(conn, "snapshot failed (R35)");
        }
        if any && self.replicas.is_empty() {
            self.repl_no_slaves_since = now; // R16: the no-replicas clock starts here
        }
    }

    /// R31 end: ONLINE, then the accumulated stream (R33).
    fn bulk_sent(&mut self, now: Millis, conn: ConnId) {
        let Some(r) = self.replicas.get_mut(&conn) else {
            return;
        };
        if r.state != SlaveState::SendBulk {
            return;
        }
        r.ack_time = now;
        let pending = std::mem::take(&mut r.pending);
        self.set_state(conn, SlaveState::Online);
        if !pending.is_empty() {
            self.send(conn, pending);
        }
    }

    /// R70/R71: encode a write, preceded by SELECT when the stream's db differs.
    fn propagate(&mut self, db: usize, argv: &[Bytes]) {
        if self.upstream != Upstream::None || self.backlog.is_none() {
            return; // R7 (replicas never originate stream bytes), R5 (no backlog, no offset).
        }
        let mut bytes = Vec::new();
        if self.slaveseldb != db as i64 {
            bytes.extend_from_slice(&encode_command(&[&b"SELECT"[..], db.to_string().as_bytes()]));
            self.slaveseldb = db as i64;
        }
        bytes.extend_from_slice(&encode_command(argv));
        self.feed(&bytes);
    }

    /// R12/R13: append stream bytes to the backlog and every fed replica.
    fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Some(backlog) = self.backlog.as_mut() else {
            // R5: with no backlog the offset does not move (a replica always has one, R52).
            return;
        };
        let added_block = backlog.append(bytes);
        self.master_repl_offset += bytes.len() as u64;
        debug_assert_eq!(
            backlog.first_byte_offset() + backlog.histlen(),
            self.master_repl_offset + 1,
            "STYLE §4 pair: backlog end equals master_repl_offset"
        );
        let mut sends = Vec::new();
        for (conn, r) in self.replicas.iter_mut().filter(|(_, r)| r.state.is_fed()) {
            if r.state == SlaveState::Online && !r.wait_first_ack {
                sends.push(*conn);
            } else {
                r.pending.extend_from_slice(bytes);
            }
        }
        let shared = Bytes::copy_from_slice(bytes);
        if self.cfg.observe_stream {
            self.actions.push(Action::Observe(Observation::Fed {
                replid: self.replid,
                end: self.master_repl_offset,
                bytes: shared.clone(),
                generated: self.upstream == Upstream::None,
            }));
        }
        for conn in sends {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.io_unflushed += shared.len() as u64;
            }
            self.actions.push(Action::Send {
                conn,
                bytes: shared.clone(),
            });
        }
        // R39: redis checks the limits only when the shared buffer gains a block, so a
        // replica continued with a big backlog range has until then to drain it.
        if !added_block {
            return;
        }
        let fed: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state.is_fed())
            .map(|(c, _)| *c)
            .collect();
        for conn in fed {
            self.check_obuf(self.now, conn);
        }
    }

    /// `replicationCron` (1 Hz): PING (R37), keepalives (R36), timeouts (R38), backlog
    /// TTL (R16), delayed diskless start (R30), WAIT deadlines.
    fn cron(&mut self, now: Millis) {
        let period = self.cfg.repl_ping_replica_period_s.max(1);
        if self.upstream == Upstream::None && !self.replicas.is_empty() && self.cron_loops.is_multiple_of(period) {
            self.feed(PING_BYTES);
        }
        self.cron_loops += 1;
        let disk_child = matches!(
            self.child,
            Some(Child {
                target: SnapshotTarget::Disk,
                ..
            })
        );
        let keepalive: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                r.state == SlaveState::WaitBgsaveStart || (r.state == SlaveState::WaitBgsaveEnd && disk_child)
            })
            .map(|(c, _)| *c)
            .collect();
        for conn in keepalive {
            self.send(conn, &b"\n"[..]);
        }
        self.replica_timeouts(now);
        self.backlog_ttl(now);
        self.delayed_bgsave(now);
        self.expire_waiters(now);
    }

    fn replica_timeouts(&mut self, now: Millis) {
        let limit = self.cfg.repl_timeout_s * 1000;
        let timed_out: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                r.state == SlaveState::Online && !r.pre_psync && now.0.saturating_sub(r.ack_time.0) > limit
            })
            .map(|(c, _)| *c)
            .collect();
        let any = !timed_out.is_empty();
        for conn in timed_out {
            warn!(%conn, "disconnecting timedout replica (R38)");
            self.drop_replica(conn, "replica timed out (R38)");
        }
        // The last replica left by timeout: start the no-replicas clock now (R16; redis
        // sets repl_no_slaves_since whenever freeing a replica empties the list).
        if any && self.replicas.is_empty() {
            self.repl_no_slaves_since = now;
        }
    }

    fn backlog_ttl(&mut self, now: Millis) {
        let ttl = self.cfg.repl_backlog_ttl_s * 1000;
        if self.upstream == Upstream::None
            && self.backlog.is_some()
            && self.replicas.is_empty()
            && ttl > 0
            && now.0.saturating_sub(self.repl_no_slaves_since.0) > ttl
        {
            // B6: freeing the backlog must change the id, or a stale offset could match.
            self.new_history("backlog-ttl");
            self.backlog = None;
        }
    }

    fn delayed_bgsave(&mut self, now: Millis) {
        if self.child.is_some() {
            return;
        }
        let waiting: Vec<&Replica> = self
            .replicas
            .values()
            .filter(|r| r.state == SlaveState::WaitBgsaveStart)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let max_idle = waiting
            .iter()
            .map(|r| now.0.saturating_sub(r.since.0))
            .max()
            .unwrap_or(0);
        let max_replicas = self.cfg.repl_diskless_sync_max_replicas;
        if !self.cfg.repl_diskless_sync
            || (max_replicas > 0 && waiting.len() as u64 >= max_replicas)
            || max_idle >= self.cfg.repl_diskless_sync_delay_s * 1000
        {
            self.start_bgsave();
        }
    }

    fn acked_at_least(&self, offset: u64) -> u64 {
        self.replicas
            .values()
            .filter(|r| r.state == SlaveState::Online && r.ack_off >= offset)
            .count() as u64
    }

    fn wait(&mut self, now: Millis, conn: ConnId, numreplicas: u64, timeout_ms: u64, offset: u64) {
        let have = self.acked_at_least(offset);
        if have >= numreplicas {
            self.wait_reply(conn, offset, have);
            return;
        }
        let deadline = (timeout_ms > 0).then(|| Millis(now.0 + timeout_ms));
        self.waiters.insert(
            conn,
            Waiter {
                numreplicas,
                deadline,
                offset,
            },
        );
        self.getack_pending = true;
    }

    /// Releases every blocked WAIT without a reply, for the node to answer: a master
    /// that becomes a replica unblocks its blocked clients with an error and closes them
    /// (`disconnectAllBlockedClients()` in `replicationSetMaster()`), so no WAIT is
    /// answered by a node that no longer is a master.
    pub fn unblock_waiters(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.waiters).into_keys().collect()
    }

    fn check_waiters(&mut self, _now: Millis) {
        let done: Vec<(ConnId, u64)> = self
            .waiters
            .iter()
            .map(|(c, w)| (*c, self.acked_at_least(w.offset), w.numreplicas))
            .filter(|(_, have, want)| have >= want)
            .map(|(c, have, _)| (c, have))
            .collect();
        for (conn, have) in done {
            if let Some(w) = self.waiters.remove(&conn) {
                self.wait_reply(conn, w.offset, have);
            }
        }
    }

    fn expire_waiters(&mut self, now: Millis) {
        let expired: Vec<(ConnId, u64)> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now))
            .map(|(c, w)| (*c, self.acked_at_least(w.offset)))
            .collect();
        for (conn, have) in expired {
            if let Some(w) = self.waiters.remove(&conn) {
                self.wait_reply(conn, w.offset, have);
            }
        }
    }

    /// Replies to WAIT and tells the oracles what was promised.
    fn wait_reply(&mut self, conn: ConnId, offset: u64, acked: u64) {
        self.send(conn, format!(":{acked}\r\n").into_bytes());
        self.actions
            .push(Action::Observe(Observation::WaitReply { conn, offset, acked }));
    }

    /// R22/R73: one `REPLCONF GETACK *` per event when a WAIT needs acks (beforeSleep).
    fn flush_getack(&mut self) {
        if std::mem::take(&mut self.getack_pending) && !self.waiters.is_empty() && self.upstream == Upstream::None {
            self.feed(GETACK_BYTES);
        }
    }
}

/// A newly attached replica. Its acked offset starts at 0 (a fresh client in redis), so
/// WAIT never counts it before its first `REPLCONF ACK` (found by the simulator's WAIT oracle).
fn new_replica(h: &PendingReplconf, state: SlaveState, now: Millis) -> Replica {
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
