//! The nemesis: every fault is a value in a schedule that can be printed, replayed and
//! shrunk. What a fault is lives here; how each is carried out in `apply.rs`; swarm mode
//! (which kinds a seed turns on, how often, the schedule) in `swarm.rs`.
//!
//! Owns: fault kinds, schedule generation from a seed. Must never: draw from any RNG but
//! its own derived stream, or decide anything at run time that is not in the schedule.

mod apply;
mod swarm;

use std::fmt;

pub use swarm::{draw_cut, swarm_schedule, Family, FamilyRow, Swarm, FAMILIES};

use serde::{Deserialize, Serialize};

use crate::net::{Corruption, Cut};

/// One fault. Node indices refer to the topology (`n0` is the initial master).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// Full partition between two nodes (both directions).
    Partition {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
    },
    /// Only `from → to` is cut.
    PartitionOneway {
        /// The sending side, whose bytes are dropped.
        from: usize,
        /// The receiving side.
        to: usize,
    },
    /// Repairs a partition.
    Heal {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
    },
    /// Holds all messages on a link (delivered on release).
    Hold {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
    },
    /// Delivers what a [`FaultKind::Hold`] kept on a link.
    Release {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
    },
    /// Random message loss on a link (turmoil's fail rate: the link flaps between
    /// partitioned and repaired); `per_mille` = 0 turns it off.
    Loss {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
        /// Loss rate in thousandths.
        per_mille: u32,
    },
    /// Sets a fixed latency on a link.
    Latency {
        /// First node.
        a: usize,
        /// Second node.
        b: usize,
        /// Latency in ms.
        ms: u64,
    },
    /// The node crashes (unsynced disk writes are lost).
    Crash {
        /// The node.
        node: usize,
    },
    /// A crashed node starts again from its snapshot and config.
    Restart {
        /// The node.
        node: usize,
    },
    /// `SAVE` on a node (so a later restart has a snapshot with repl aux fields).
    Save {
        /// The node.
        node: usize,
    },
    /// Sentinel-style failover: promote `to`, repoint every other live node at it.
    Failover {
        /// The node to promote.
        to: usize,
    },
    /// Sentinel-style failover that cannot reach the old master (a split brain): promote
    /// `to`, repoint every other live node but the current master, which stays a master
    /// for the clients still on its side until [`FaultKind::RejoinStale`].
    SplitFailover {
        /// The node to promote.
        to: usize,
    },
    /// A client still on the old master's side of a split brain writes one key there
    /// (no effect unless a [`FaultKind::SplitFailover`] left a stale master).
    StaleWrite,
    /// Sentinel reaches the stale master again and repoints it at the current one.
    RejoinStale,
    /// `REPLICAOF NO ONE` on one node only (writers stay where they are).
    Promote {
        /// The node.
        node: usize,
    },
    /// `REPLICAOF <to>` on one node only.
    Repoint {
        /// The node to repoint.
        node: usize,
        /// Its new master.
        to: usize,
    },
    /// The node's event loop stalls for `ms` (DEBUG SLEEP / SIGSTOP).
    Freeze {
        /// The node.
        node: usize,
        /// How long it stays frozen.
        ms: u64,
    },
    /// The next RDB transfer `node` sends is corrupted in flight (one byte flipped).
    CorruptTransfer {
        /// The node whose next transfer is corrupted.
        node: usize,
    },
    /// Writers stop writing for `ms` (clients going quiet; not a node fault).
    PauseWrites {
        /// How long.
        ms: u64,
    },
    /// The replica drops its master link (`CLIENT KILL TYPE master`).
    KillLink {
        /// The replica.
        node: usize,
    },
    /// `CONFIG SET repl-backlog-size` at run time.
    BacklogResize {
        /// The node.
        node: usize,
        /// The new `repl-backlog-size` (the node clamps it, R15).
        size: u64,
    },
    /// One `SET` of a `len`-byte value on the current master (B7: bigger than a replica's
    /// output-buffer limit).
    BigWrite {
        /// Value size in bytes.
        len: u64,
    },
    /// `CONFIG SET masterauth` on a replica (`None` clears it).
    Masterauth {
        /// The replica.
        node: usize,
        /// The new password, or none.
        pass: Option<String>,
    },
    /// Bytes `from` writes to `to` get corrupted in flight, `skip` bytes from now: TCP's
    /// checksum is assumed broken, so only the protocol, CRC-64 and the oracles stand.
    CorruptLink {
        /// The writing node.
        from: usize,
        /// The reading node.
        to: usize,
        /// What happens to the bytes.
        corruption: Corruption,
    },
    /// The replication link of `node` (to the master its config names) breaks at `cut`:
    /// `down` = the master's bytes to it (handshake replies, RDB, stream), else its own
    /// bytes to the master (handshake, PSYNC, ACKs). Bytes after the cut never arrive.
    CutLink {
        /// The replica whose link breaks.
        node: usize,
        /// Which direction breaks (see above).
        down: bool,
        /// Where it breaks.
        cut: Cut,
    },
}

impl FaultKind {
    /// The nodes this fault touches directly (`None`: every node, e.g. a failover that
    /// repoints them all, or a write on whichever node is master). Oracles use it to tell
    /// a failure a fault explains from one nothing explains.
    pub fn involves(&self) -> Option<Vec<usize>> {
        use FaultKind::*;
        match *self {
            Partition { a, b } | Heal { a, b } | Hold { a, b } | Release { a, b } => Some(vec![a, b]),
            Loss { a, b, .. } | Latency { a, b, .. } => Some(vec![a, b]),
            PartitionOneway { from, to } | CorruptLink { from, to, .. } => Some(vec![from, to]),
            Crash { node }
            | Restart { node }
            | Save { node }
            | Freeze { node, .. }
            | CorruptTransfer { node }
            | KillLink { node }
            | BacklogResize { node, .. }
            | Masterauth { node, .. }
            | Promote { node }
            | CutLink { node, .. } => Some(vec![node]),
            Repoint { node, to } => Some(vec![node, to]),
            PauseWrites { .. } => Some(Vec::new()),
            Failover { .. } | BigWrite { .. } | SplitFailover { .. } | StaleWrite | RejoinStale => None,
        }
    }

    /// Why this fault can have had no effect ("never fired"): the swarm draws faults
    /// without knowing the state they will meet, so some find their target already in
    /// that state, or down (see `nemesis::apply`).
    pub fn no_effect_reason(&self) -> &'static str {
        use FaultKind::*;
        match self {
            Partition { .. } | PartitionOneway { .. } => "the two nodes were already partitioned",
            Heal { .. } => "the two nodes were not partitioned",
            Hold { .. } => "the link was already held",
            Release { .. } => "the link was not held",
            Crash { .. } => "the node was already down",
            Restart { .. } => "the node was up",
            Failover { .. } | SplitFailover { .. } => "the target was already the master, or down",
            StaleWrite | RejoinStale => "no split-brain failover had left a stale master, or it was down",
            KillLink { .. } | CutLink { .. } => "the node was down or had no master",
            _ => "the node was down",
        }
    }

    /// A short name for coverage tables.
    pub fn label(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::PartitionOneway { .. } => "partition-oneway",
            FaultKind::Heal { .. } => "heal",
            FaultKind::Hold { .. } => "hold",
            FaultKind::Release { .. } => "release",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Loss { .. } => "loss",
            FaultKind::PauseWrites { .. } => "pause-writes",
            FaultKind::CorruptTransfer { .. } => "corrupt-transfer",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Restart { .. } => "restart",
            FaultKind::Save { .. } => "save",
            FaultKind::Failover { .. } => "failover",
            FaultKind::SplitFailover { .. } => "split-failover",
            FaultKind::StaleWrite => "stale-write",
            FaultKind::RejoinStale => "rejoin-stale",
            FaultKind::KillLink { .. } => "kill-link",
            FaultKind::Promote { .. } => "promote",
            FaultKind::Freeze { .. } => "freeze",
            FaultKind::Repoint { .. } => "repoint",
            FaultKind::BacklogResize { .. } => "backlog-resize",
            FaultKind::BigWrite { .. } => "big-write",
            FaultKind::CorruptLink { .. } => "corrupt-link",
            FaultKind::Masterauth { .. } => "masterauth",
            FaultKind::CutLink { .. } => "cut-link",
        }
    }
}

/// A fault at a simulated time (ms since the run started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// When, in simulated ms since the start.
    pub at_ms: u64,
    /// What happens.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms {:?}", self.at_ms, self.kind)
    }
}
