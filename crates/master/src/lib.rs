//! The master side of replication as a sans-IO state machine (spec §1–§3).
//!
//! Owns: the `Master` record, its inputs (`Event`), outputs (`Action`) and notes for the
//! oracles (`Observation`), its configuration, and `handle()`, which dispatches each event
//! to the module owning the concept:
//!
//! | module | concept |
//! |---|---|
//! | `replid` | replid/replid2/second_replid_offset and their changes (R1–R4, R47, R50, R62, R67) |
//! | `backlog` | the block backlog (R11–R19) |
//! | `replicas` | `SlaveState`, the replica record, REPLCONF/ACK, output-buffer limits (R20–R21, R39) |
//! | `psync` | the PSYNC decision (`decide`, R23) and PSYNC/SYNC handling, `+CONTINUE` (R24) |
//! | `fullsync` | snapshots, attach, diskless delay, `+FULLRESYNC`, RDB transfer (R26–R35) |
//! | `stream` | propagation framing, feeding the backlog and replicas, proxying (R5, R12, R70) |
//! | `cron` | `replicationCron` duties (R16, R36–R38) |
//! | `wait` | WAIT waiters and GETACK (R21–R22) |
//! | `check` | the invariants asserted after every event in debug builds (STYLE §4) |
//!
//! Used both by a top-level master and by a replica serving sub-replicas (chained).
//! Must never: read a clock or OS entropy (time is `now`, randomness is the injected RNG),
//! touch a socket, or hold replication logic that belongs to the upstream link.

pub mod backlog;
mod check;
mod cron;
mod fullsync;
pub mod psync;
mod replicas;
mod replid;
pub mod rules;
mod stream;
mod wait;

use std::collections::BTreeMap;

use bytes::Bytes;
use proto::{ConnId, Millis, ReplId};
use rand_core::RngCore;

pub use backlog::{ReplBacklog, REPL_BACKLOG_MIN_SIZE};
pub use cron::PING_BYTES;
pub use fullsync::SnapshotTarget;
pub use psync::{decide, FullReason, PsyncDecision, PsyncState};
pub use replicas::{ReplicaView, SlaveState, SLAVE_CAPA_EOF, SLAVE_CAPA_PSYNC2};
pub use wait::GETACK_BYTES;

use fullsync::Child;
use replicas::{PendingReplconf, Replica};
use replid::random_replid;
use wait::Waiter;

/// Configuration (redis config names).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(default))]
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
    /// The PSYNC rule set the core decides by ([`rules::Redis70`] unless a design is
    /// being tried).
    // A reference to code, not data: a recorded config names its rule set elsewhere
    // (the simulator's RunSpec) and loads with the default here.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub rules: rules::Rules,
}

/// An output-buffer limit as redis's `client-output-buffer-limit` class line: a client whose
/// unsent output exceeds `hard_bytes`, or stays above `soft_bytes` for more than
/// `soft_seconds`, is closed. 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
            rules: &rules::Redis70,
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
    /// A full-sync payload of `bytes` (framing included) was handed to replica `conn` (R31,
    /// R32): what a full sync costs on the wire. Only with `observe_stream`.
    RdbSent { conn: ConnId, bytes: u64 },
    /// replid changed (R4 events only, I9).
    ReplidChanged {
        replid: ReplId,
        replid2: ReplId,
        second_replid_offset: i64,
        why: HistoryChange,
        /// The id before the change, and the offset at which it changed.
        old_replid: ReplId,
        master_repl_offset: u64,
    },
}

/// Why a node's replid changed: R4's exhaustive list, typed so that a misspelt reason
/// cannot silently turn a check off (oracles and tests match on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HistoryChange {
    /// R62: `REPLICAOF NO ONE` shifts the id (R3).
    Promotion,
    /// R47: `+CONTINUE <new id>` on a replica (the old id becomes replid2).
    ContinueNewId,
    /// R50/R52: a replica loaded a full sync and took its master's id.
    FullSyncLoaded,
    /// R67: a replica restarted from an RDB with repl info adopts the stored id.
    RestartAsReplica,
    /// R68: a master restarted from an RDB with repl info keeps a fresh id, the stored one
    /// becomes replid2.
    RestartAsMaster,
    /// R27: the first replica of a master without a backlog: a new id, no continuity.
    FirstReplicaNoBacklog,
    /// R16: the backlog was freed after its TTL: a new id (B6).
    BacklogTtl,
    /// The offset moved back under the same id: never in redis 7.0, only under a rule set
    /// whose demotion rewinds (B2's 6.0.0 "meaningful offset").
    Rewind,
}

impl HistoryChange {
    /// The stable name traces and messages use.
    pub fn label(self) -> &'static str {
        match self {
            HistoryChange::Promotion => "promotion",
            HistoryChange::ContinueNewId => "continue-new-id",
            HistoryChange::FullSyncLoaded => "full-sync-loaded",
            HistoryChange::RestartAsReplica => "restart-as-replica",
            HistoryChange::RestartAsMaster => "restart-as-master",
            HistoryChange::FirstReplicaNoBacklog => "first-replica-no-backlog",
            HistoryChange::BacklogTtl => "backlog-ttl",
            HistoryChange::Rewind => "rewind",
        }
    }

    /// R3: the old id stays valid up to the change (replid2, second_replid_offset).
    pub fn shifts(self) -> bool {
        matches!(self, HistoryChange::Promotion | HistoryChange::ContinueNewId)
    }

    /// A new id for the same dataset without PSYNC continuity (R16, R27).
    pub fn renames(self) -> bool {
        matches!(self, HistoryChange::FirstReplicaNoBacklog | HistoryChange::BacklogTtl)
    }
}

impl std::fmt::Display for HistoryChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
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
        self.check();
    }

    /// Other runtime config changes.
    pub fn config_mut(&mut self) -> &mut MasterConfig {
        &mut self.cfg
    }

    /// Tells the core whether it is a top-level master or a replica (and its link state).
    pub fn set_upstream(&mut self, upstream: Upstream) {
        self.upstream = upstream;
        self.check();
    }

    /// A backlog starting after `master_repl_offset` (R11, R52).
    fn new_backlog(&self) -> ReplBacklog {
        ReplBacklog::new(
            self.master_repl_offset,
            self.cfg.repl_backlog_size,
            self.cfg.backlog_block_min,
        )
    }

    /// Creates the backlog if there is none (R5: a node with replicas always has one).
    fn ensure_backlog(&mut self) {
        if self.backlog.is_none() {
            self.backlog = Some(self.new_backlog());
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
            Event::Unflushed { conn, bytes } => self.set_unflushed(conn, bytes),
        }
        self.flush_getack();
        self.check();
    }

    /// A replication command: REPLCONF (replicas.rs) or PSYNC/SYNC (psync.rs).
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

    /// Queues a reply or stream bytes for `conn`; a replica counts them in its output
    /// buffer until the IO layer reports them written (R39).
    fn send(&mut self, conn: ConnId, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if let Some(r) = self.replicas.get_mut(&conn) {
            r.io_unflushed += bytes.len() as u64;
        }
        self.actions.push(Action::Send { conn, bytes });
    }
}
