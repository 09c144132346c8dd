//! A node: the keyspace plus both replication cores, driven by events from an IO adapter
//! (turmoil in the simulator, tokio TCP in `psync-node`) and answering with [`Io`] verbs.
//!
//! Owns: client connections (parsing, AUTH, command dispatch), the glue that carries out
//! the cores' actions on the keyspace and on each other. Must never: hold replication
//! rules (those live in the cores), read a clock (time is `now`), or do IO itself.
//!
//! By concept: `clients` (connections, parsing, replies), `persist` (startup from an RDB,
//! SAVE), `role` (REPLICAOF, demotion, promotion), `pump` (carrying out the cores'
//! actions), `dispatch` (a client's command), `commands` (AUTH, REPLICAOF, WAIT), `session`
//! (MULTI/EXEC, HELLO, CLIENT, COMMAND), `replicated` (commands from the master it cannot
//! apply); INFO and CONFIG are `crate::info` and `crate::config`. Here: the node's types,
//! accessors and adapter events.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use master::{Master, MasterConfig};
use proto::{ConnId, Millis};
use rand_core::RngCore;
use replica::{ReplState, Replica, ReplicaConfig};

use crate::keyspace::{Keyspace, Propagated, DB_COUNT};

mod clients;
mod commands;
mod dispatch;
mod persist;
mod pump;
mod replicated;
mod role;
mod session;

pub use persist::keyspace_from_rdb;
pub use replicated::Divergence;
pub use role::UNBLOCKED_REPLY;
pub use session::{command_count, command_names};

/// Node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The port this node listens on (announced to masters with REPLCONF listening-port).
    pub port: u16,
    /// `requirepass`: clients must AUTH first.
    pub requirepass: Option<Bytes>,
    pub master: MasterConfig,
    pub replica: ReplicaConfig,
    /// Per-client query buffer limit (`client-query-buffer-limit`, 1 GiB in redis; we are
    /// stricter because nothing we serve needs more).
    pub query_buffer_max: usize,
    /// INFO `process_id`: the real process's pid (psync-node); `None` in the simulator.
    pub process_id: Option<u32>,
    /// Keep [`Note`]s for [`Node::drain_notes`]. The simulator's oracles drain them after
    /// every event; a server nobody drains must not record them (one per write would
    /// grow without bound).
    pub record_notes: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            port: 6379,
            requirepass: None,
            master: MasterConfig::default(),
            replica: ReplicaConfig::default(),
            query_buffer_max: 64 * 1024 * 1024,
            process_id: None,
            record_notes: true,
        }
    }
}

/// IO verbs for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Io {
    /// Write to a client connection.
    Send { conn: ConnId, bytes: Bytes },
    /// Write a disk RDB transfer; call [`Node::on_bulk_sent`] once written.
    SendBulk { conn: ConnId, bytes: Bytes },
    /// Close a client connection: after writing what was sent, or (`discard`) at once,
    /// dropping unsent output as redis does when it frees a replica (R38, R39).
    Close { conn: ConnId, discard: bool },
    /// Write a diskless RDB transfer: raw bytes outside the output-buffer accounting.
    SendRdb { conn: ConnId, bytes: Bytes },
    /// Open the master link `link` to the configured master address.
    Connect { link: u64, host: String, port: u16 },
    /// Write on the master link.
    SendMaster { link: u64, bytes: Bytes },
    /// Close the master link.
    CloseMaster { link: u64 },
    /// A snapshot was taken (fork semantics: its content is fixed now); call
    /// [`Node::on_snapshot_done`] when the adapter deems the BGSAVE finished.
    Snapshot { id: u64 },
    /// Persist this RDB as the node's durable snapshot (SAVE, SHUTDOWN).
    Persist { payload: Bytes },
    /// The node was asked to SHUTDOWN.
    Shutdown,
}

/// Observations for oracles and traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Master(master::Observation),
    Replica(replica::Observation),
    /// A client write was executed and propagated; the stream now ends at `offset` under
    /// `replid` (the client's own write position, which WAIT must cover).
    Write {
        conn: ConnId,
        replid: proto::ReplId,
        offset: u64,
    },
    /// The whole dataset at `(replid, offset)`, where a history starts without a stream
    /// leading to it: process start (empty or loaded from an RDB) and a new id given to a
    /// dataset (R16 TTL, R27 first replica of a master without backlog). The simulator's
    /// stream model starts there; every other history is a stream from one of these.
    Base {
        replid: proto::ReplId,
        offset: u64,
        entries: Vec<BaseEntry>,
        /// The db the stream has selected (`slaveseldb`), `None` when the next keyed
        /// command must be preceded by SELECT (-1): a rename keeps the stream's db.
        stream_db: Option<usize>,
    },
    /// The node started from an RDB with valid replication info (R65): R67 (as a
    /// replica) or R68 (as a master) say what it must do with it.
    Loaded {
        replid: proto::ReplId,
        offset: u64,
        as_replica: bool,
    },
    /// The node applied a full sync RDB as its dataset.
    DatasetReplaced {
        keys: usize,
    },
}

/// One key of a [`Note::Base`]: db, key, value, absolute expiry (unix ms).
pub type BaseEntry = (usize, Bytes, Bytes, Option<i64>);

#[derive(Debug, Default)]
struct Client {
    buf: BytesMut,
    db: usize,
    authed: bool,
    /// The stream offset after this client's last write (WAIT waits for it).
    woff: u64,
    closing: bool,
    /// Peer address as INFO's `slaveN:ip=` shows it.
    ip: String,
    /// Output bytes queued for the socket (RDB transfers excluded).
    out_queued: u64,
    /// The open MULTI, if any.
    multi: Option<session::Multi>,
    /// CLIENT SETNAME.
    name: Option<Bytes>,
}

/// A node: the only way into its cores from outside this crate (issue 14). Its cores are
/// read through [`Node::master`], [`Node::replica`] and [`Node::keyspace`]; everything that
/// changes them is a node operation, so the node's own rules (notes, pumps, CONFIG SET's
/// clamps) are never skipped.
pub struct Node<R> {
    cfg: NodeConfig,
    pub(crate) keyspace: Keyspace,
    pub(crate) master: Master<R>,
    pub(crate) replica: Replica,
    master_addr: Option<(String, u16)>,
    clients: BTreeMap<ConnId, Client>,
    snapshots: BTreeMap<u64, Bytes>,
    io: Vec<Io>,
    notes: Vec<Note>,
    /// Reused buffers for the cores' actions (one allocation per command otherwise).
    master_actions: Vec<master::Action>,
    replica_actions: Vec<replica::Action>,
    freeze_ms: Option<u64>,
    /// Largest query buffer any client has had (INFO `client_recent_max_input_buffer`).
    max_input_buffer: usize,
    /// Flip a byte of the next snapshot sent (simulates corruption in flight).
    corrupt_next_snapshot: bool,
    /// While an EXEC runs: its client and the replies of its commands so far.
    capture: Option<(ConnId, Vec<u8>)>,
    /// While an EXEC runs: what its commands propagate, wrapped once at the end.
    exec_ops: Option<Vec<Propagated>>,
    /// Commands from the master this node could not apply (a replica never diverges
    /// silently).
    divergence: Divergence,
    /// INFO `run_id`, and when the process started (INFO `uptime_in_seconds`).
    run_id: String,
    started: Millis,
}

impl<R: RngCore> Node<R> {
    /// A fresh node (process start, R4 row 1) with an empty dataset.
    pub fn new(cfg: NodeConfig, rng: R, now: Millis) -> Self {
        let mut rcfg = cfg.replica.clone();
        rcfg.listening_port = cfg.port;
        let mut node = Node {
            master: Master::new(cfg.master.clone(), rng, now),
            replica: Replica::new(rcfg),
            cfg,
            keyspace: Keyspace::new(),
            master_addr: None,
            clients: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            io: Vec::new(),
            notes: Vec::new(),
            master_actions: Vec::new(),
            replica_actions: Vec::new(),
            freeze_ms: None,
            max_input_buffer: 0,
            corrupt_next_snapshot: false,
            capture: None,
            exec_ops: None,
            divergence: Divergence::default(),
            run_id: String::new(),
            started: now,
        };
        node.run_id = session::run_id(&node.master.replid());
        node.note_base();
        node
    }

    /// A master without a backlog changed its data: no stream carries the change (R5),
    /// so its position names the new dataset from now on (a later SAVE records it with
    /// this id and offset, R66) and the history starts again from it.
    fn note_unstreamed(&mut self) {
        if self.master.backlog().is_none() && !self.is_replica() {
            self.note_base();
        }
    }

    /// Records the dataset as the base of the current history ([`Note::Base`]).
    fn note_base(&mut self) {
        if !self.cfg.record_notes {
            return;
        }
        let mut entries = Vec::with_capacity(self.keyspace.len());
        for db in 0..DB_COUNT {
            for (k, e) in self.keyspace.iter_db(db) {
                entries.push((db, k.clone(), e.value.clone(), e.expire_ms));
            }
        }
        self.notes.push(Note::Base {
            replid: self.master.replid(),
            offset: self.master.master_repl_offset(),
            entries,
            stream_db: usize::try_from(self.master.slaveseldb()).ok(),
        });
    }

    /// Node configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// The master core, read-only (replication ids, offsets, backlog, counters).
    pub fn master(&self) -> &Master<R> {
        &self.master
    }

    /// The replica-link core, read-only (state, master link, cached master).
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The dataset, read-only (digests, fingerprints, values).
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// INFO `run_id` (see `session::run_id`).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// When this node (the process) started.
    pub fn started(&self) -> Millis {
        self.started
    }

    /// The configured master, if this node is a replica.
    pub fn master_addr(&self) -> Option<&(String, u16)> {
        self.master_addr.as_ref()
    }

    /// Drains IO verbs.
    pub fn drain_io(&mut self) -> Vec<Io> {
        std::mem::take(&mut self.io)
    }

    /// Drains observations.
    pub fn drain_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    fn note(&mut self, note: Note) {
        if self.cfg.record_notes {
            self.notes.push(note);
        }
    }

    /// True when this node is a replica (`masterhost != NULL`).
    pub fn is_replica(&self) -> bool {
        self.master_addr.is_some()
    }

    // ----- adapter events ----------------------------------------------------------------

    /// An event on the master link.
    pub fn on_master_event(&mut self, now: Millis, ev: replica::Event) {
        self.replica.handle(now, ev);
        self.pump_replica(now);
    }

    /// `SAVE`: persist the dataset now (with repl info when available, R65/R66).
    pub fn save(&mut self, now: Millis) {
        let payload = self.save_rdb((now.0 / 1000) as i64);
        self.io.push(Io::Persist { payload });
    }

    /// Freezes the node's event loop for `ms` (like `DEBUG SLEEP` or SIGSTOP): sockets
    /// keep buffering, nothing is processed. The runtime carries it out.
    pub fn freeze(&mut self, ms: u64) {
        self.freeze_ms = Some(ms);
    }

    /// The next RDB transfer this node sends gets one byte flipped (nemesis).
    pub fn corrupt_next_snapshot(&mut self) {
        self.corrupt_next_snapshot = true;
    }

    /// Takes a pending freeze request (for the runtime).
    pub fn take_freeze(&mut self) -> Option<u64> {
        self.freeze_ms.take()
    }

    /// `CLIENT KILL TYPE master`: drop the master link as if it broke (R59 caches it).
    pub fn kill_master_link(&mut self, now: Millis) {
        if self.replica.state() == ReplState::None {
            return;
        }
        let link = self.replica.link();
        self.on_master_event(now, replica::Event::Closed { link });
    }

    /// A snapshot's BGSAVE finished.
    pub fn on_snapshot_done(&mut self, now: Millis, id: u64, ok: bool) {
        let mut payload = self.snapshots.remove(&id);
        if std::mem::take(&mut self.corrupt_next_snapshot) {
            // A byte flipped in flight (the corrupting-link nemesis): CRC-64 must catch it.
            if let Some(p) = payload.as_mut() {
                let mut v = p.to_vec();
                let mid = v.len() / 2;
                if let Some(b) = v.get_mut(mid) {
                    *b ^= 0x5a;
                }
                *p = Bytes::from(v);
            }
        }
        let ev = match payload {
            Some(payload) if ok => master::Event::SnapshotReady { id, payload },
            _ => master::Event::SnapshotFailed { id },
        };
        self.master.handle(now, ev);
        self.pump_master();
    }

    /// A disk bulk transfer was written.
    pub fn on_bulk_sent(&mut self, now: Millis, conn: ConnId) {
        self.master.handle(now, master::Event::BulkSent { conn });
        self.pump_master();
    }

    /// `serverCron` / `replicationCron`, every 1000 ms: active expiry on a top-level
    /// master (I18: never on replicas), then both cores' cron.
    pub fn tick(&mut self, now: Millis) {
        if !self.is_replica() {
            let dels = self.keyspace.active_expire(now.0);
            let expired = !dels.is_empty();
            for p in dels {
                self.master
                    .handle(now, master::Event::Propagate { db: p.db, argv: p.argv });
            }
            if expired {
                self.note_unstreamed();
            }
        }
        self.master.handle(now, master::Event::Tick);
        self.pump_master();
        self.replica.handle(now, replica::Event::Tick);
        self.pump_replica(now);
    }

    /// Fires WAIT deadlines; call at [`Master::next_wakeup`].
    pub fn wakeup(&mut self, now: Millis) {
        self.master.handle(now, master::Event::Wakeup);
        self.pump_master();
    }
}
