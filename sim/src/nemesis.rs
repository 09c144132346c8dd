//! The nemesis: every fault is a value in a schedule that can be printed, replayed and
//! shrunk. Swarm mode draws, per seed, which fault kinds are on and how often.
//!
//! Owns: fault kinds, schedule generation from a seed. Must never: draw from any RNG but
//! its own derived stream, or decide anything at run time that is not in the schedule.

use std::fmt;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::net::{Corruption, Cut};
use crate::world::derive_seed;

/// One fault. Node indices refer to the topology (`n0` is the initial master).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// Full partition between two nodes (both directions).
    Partition {
        a: usize,
        b: usize,
    },
    /// Only `from → to` is cut.
    PartitionOneway {
        from: usize,
        to: usize,
    },
    /// Repairs a partition.
    Heal {
        a: usize,
        b: usize,
    },
    /// Holds all messages on a link (delivered on release).
    Hold {
        a: usize,
        b: usize,
    },
    Release {
        a: usize,
        b: usize,
    },
    /// Random message loss on a link (turmoil's fail rate: the link flaps between
    /// partitioned and repaired); `per_mille` = 0 turns it off.
    Loss {
        a: usize,
        b: usize,
        per_mille: u32,
    },
    /// Sets a fixed latency on a link.
    Latency {
        a: usize,
        b: usize,
        ms: u64,
    },
    /// The node crashes (unsynced disk writes are lost).
    Crash {
        node: usize,
    },
    /// A crashed node starts again from its snapshot and config.
    Restart {
        node: usize,
    },
    /// `SAVE` on a node (so a later restart has a snapshot with repl aux fields).
    Save {
        node: usize,
    },
    /// Sentinel-style failover: promote `to`, repoint every other live node at it.
    Failover {
        to: usize,
    },
    /// `REPLICAOF NO ONE` on one node only (writers stay where they are).
    Promote {
        node: usize,
    },
    /// `REPLICAOF <to>` on one node only.
    Repoint {
        node: usize,
        to: usize,
    },
    /// The node's event loop stalls for `ms` (DEBUG SLEEP / SIGSTOP).
    Freeze {
        node: usize,
        ms: u64,
    },
    /// The next RDB transfer `node` sends is corrupted in flight (one byte flipped).
    CorruptTransfer {
        node: usize,
    },
    /// Writers stop writing for `ms` (clients going quiet; not a node fault).
    PauseWrites {
        ms: u64,
    },
    /// The replica drops its master link (`CLIENT KILL TYPE master`).
    KillLink {
        node: usize,
    },
    /// `CONFIG SET repl-backlog-size` at run time.
    BacklogResize {
        node: usize,
        size: u64,
    },
    /// One `SET` of a `len`-byte value on the current master (B7: bigger than a replica's
    /// output-buffer limit).
    BigWrite {
        len: u64,
    },
    /// `CONFIG SET masterauth` on a replica (`None` clears it).
    Masterauth {
        node: usize,
        pass: Option<String>,
    },
    /// Bytes `from` writes to `to` get corrupted in flight, `skip` bytes from now: TCP's
    /// checksum is assumed broken, so only the protocol, CRC-64 and the oracles stand.
    CorruptLink {
        from: usize,
        to: usize,
        corruption: Corruption,
    },
    /// The replication link of `node` (to the master its config names) breaks at `cut`:
    /// `down` = the master's bytes to it (handshake replies, RDB, stream), else its own
    /// bytes to the master (handshake, PSYNC, ACKs). Bytes after the cut never arrive.
    CutLink {
        node: usize,
        down: bool,
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
            Failover { .. } | BigWrite { .. } => None,
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
    pub at_ms: u64,
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms {:?}", self.at_ms, self.kind)
    }
}

/// Which fault families a swarm run enables, and how often they strike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swarm {
    pub partitions: bool,
    pub holds: bool,
    pub latency: bool,
    pub crashes: bool,
    pub failovers: bool,
    pub kill_links: bool,
    pub resizes: bool,
    /// Huge single writes (B7), with small replica output-buffer limits drawn per run.
    #[serde(default)]
    pub big_writes: bool,
    /// Mean ms between fault episodes.
    pub mean_gap_ms: u64,
    /// Node-to-node connections deliver their bytes at seed-drawn boundaries (not a fault
    /// episode: the whole run's links, see `net::Fragmentation`).
    #[serde(default)]
    pub fragments: bool,
    /// Replication links cut at exact byte positions (handshake, RDB, marks, stream).
    #[serde(default)]
    pub cuts: bool,
}

impl Swarm {
    /// Draws the swarm configuration of a seed: each family on with probability 1/2
    /// (at least one on), and a rate.
    pub fn draw(seed: u64) -> Swarm {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "swarm"));
        let mut s = Swarm {
            partitions: rng.gen_bool(0.5),
            holds: rng.gen_bool(0.3),
            latency: rng.gen_bool(0.3),
            crashes: rng.gen_bool(0.5),
            failovers: rng.gen_bool(0.5),
            kill_links: rng.gen_bool(0.5),
            resizes: rng.gen_bool(0.3),
            mean_gap_ms: rng.gen_range(500..3000),
            big_writes: false,
            fragments: false,
            cuts: false,
        };
        // Drawn last so the draws above keep their meaning for older seeds.
        s.big_writes = rng.gen_bool(0.3);
        s.fragments = rng.gen_bool(0.3);
        s.cuts = rng.gen_bool(0.3);
        if !(s.partitions
            || s.holds
            || s.latency
            || s.crashes
            || s.failovers
            || s.kill_links
            || s.resizes
            || s.big_writes)
        {
            // The newer families are left out of this test so older seeds keep their meaning.
            s.kill_links = true;
        }
        s
    }

    /// The enabled families' labels.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.partitions, "partitions"),
            (self.holds, "holds"),
            (self.latency, "latency"),
            (self.crashes, "crashes"),
            (self.failovers, "failovers"),
            (self.kill_links, "kill-links"),
            (self.resizes, "resizes"),
            (self.big_writes, "big-writes"),
            (self.fragments, "fragments"),
            (self.cuts, "cuts"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }
}

/// Where a cut lands: in the handshake and PSYNC reply (tens of bytes), around the
/// `+FULLRESYNC` line, the RDB header and the opening `$EOF:` mark, anywhere (log-uniform:
/// inside RESP headers, bulks and MULTI…EXEC blocks of the stream, inside RDBs), or in the
/// last bytes of a large write (inside the closing mark of a diskless transfer).
pub fn draw_cut(rng: &mut ChaCha8Rng) -> Cut {
    match rng.gen_range(0..4u8) {
        0 => Cut::After {
            after: rng.gen_range(0..64),
        },
        1 => Cut::After {
            after: rng.gen_range(60..240),
        },
        2 => {
            let bits = rng.gen_range(3..18);
            Cut::After {
                after: rng.gen_range(0..1u64 << bits),
            }
        }
        _ => Cut::BeforeEnd {
            min_len: 256,
            before_end: rng.gen_range(0..=48),
        },
    }
}

/// Fault family 8: a replication link cut at an exact byte, on the link as it is, on a
/// fresh link (the replica drops it first: handshake, PSYNC reply, CONTINUE), or on the
/// link of a replica restarting (often a full sync: the RDB and its marks).
fn cut_episode(rng: &mut ChaCha8Rng, out: &mut Vec<Fault>, a: usize, t: u64, until: u64) {
    let cut = draw_cut(rng);
    let down = rng.gen_bool(0.7);
    let kind = FaultKind::CutLink { node: a, down, cut };
    match rng.gen_range(0..3u8) {
        0 => out.push(Fault { at_ms: t, kind }),
        1 => {
            out.push(Fault {
                at_ms: t,
                kind: FaultKind::KillLink { node: a },
            });
            out.push(Fault { at_ms: t + 1, kind });
        }
        _ => {
            let restart = until.max(t + 2);
            out.push(Fault {
                at_ms: t,
                kind: FaultKind::Crash { node: a },
            });
            out.push(Fault {
                at_ms: restart,
                kind: FaultKind::Restart { node: a },
            });
            out.push(Fault { at_ms: restart, kind });
        }
    }
}

/// Generates a fault schedule over `[start_ms, end_ms)` for `nodes` nodes. Every episode
/// that breaks something also schedules its repair before `end_ms`, so the liveness
/// phase starts from a healed world (the run also heals everything at `end_ms`).
pub fn swarm_schedule(seed: u64, swarm: &Swarm, nodes: usize, start_ms: u64, end_ms: u64) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "nemesis"));
    let mut families = Vec::new();
    for (on, f) in [
        (swarm.partitions, 0u8),
        (swarm.holds, 1),
        (swarm.latency, 2),
        (swarm.crashes, 3),
        (swarm.failovers, 4),
        (swarm.kill_links, 5),
        (swarm.resizes, 6),
        (swarm.big_writes, 7),
        (swarm.cuts, 8),
    ] {
        if on {
            families.push(f);
        }
    }
    let mut out = Vec::new();
    let mut t = start_ms + rng.gen_range(0..swarm.mean_gap_ms.max(1));
    while t < end_ms && !families.is_empty() {
        let fam = families[rng.gen_range(0..families.len())];
        let a = rng.gen_range(0..nodes);
        let b = (a + rng.gen_range(1..nodes.max(2))) % nodes.max(1);
        let dur = rng.gen_range(200..4000u64);
        let until = (t + dur).min(end_ms.saturating_sub(1));
        match fam {
            0 if nodes > 1 => {
                if rng.gen_bool(0.3) {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::PartitionOneway { from: a, to: b },
                    });
                } else {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::Partition { a, b },
                    });
                }
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Heal { a, b },
                });
            }
            1 if nodes > 1 => {
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Hold { a, b },
                });
                out.push(Fault {
                    at_ms: until.min(t + 1500),
                    kind: FaultKind::Release { a, b },
                });
            }
            2 if nodes > 1 && rng.gen_bool(0.3) => {
                let per_mille = rng.gen_range(1..50);
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Loss { a, b, per_mille },
                });
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Loss { a, b, per_mille: 0 },
                });
            }
            2 if nodes > 1 => {
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Latency {
                        a,
                        b,
                        ms: rng.gen_range(1..200),
                    },
                });
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Latency { a, b, ms: 1 },
                });
            }
            3 => {
                if rng.gen_bool(0.3) {
                    // The restarted node will full-sync from someone: corrupt that transfer.
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::CorruptTransfer { node: b },
                    });
                }
                if rng.gen_bool(0.5) {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::Save { node: a },
                    });
                }
                out.push(Fault {
                    at_ms: t + 1,
                    kind: FaultKind::Crash { node: a },
                });
                out.push(Fault {
                    at_ms: until.max(t + 2),
                    kind: FaultKind::Restart { node: a },
                });
            }
            4 => out.push(Fault {
                at_ms: t,
                kind: FaultKind::Failover { to: a },
            }),
            5 if rng.gen_bool(0.3) => out.push(Fault {
                at_ms: t,
                kind: FaultKind::Freeze {
                    node: a,
                    ms: rng.gen_range(100..7000),
                },
            }),
            5 => out.push(Fault {
                at_ms: t,
                kind: FaultKind::KillLink { node: a },
            }),
            6 => {
                let size = [16 * 1024, 32 * 1024, 1024 * 1024][rng.gen_range(0..3)];
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::BacklogResize { node: a, size },
                });
            }
            7 => {
                let len = [64 * 1024, 256 * 1024, 1024 * 1024][rng.gen_range(0..3)];
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::BigWrite { len },
                });
            }
            // n0 starts as the master (no link of its own to cut): its peer instead.
            8 => cut_episode(&mut rng, &mut out, if a == 0 { b } else { a }, t, until),
            _ => {}
        }
        t += rng.gen_range(swarm.mean_gap_ms / 2..swarm.mean_gap_ms * 3 / 2 + 1);
    }
    out.sort_by_key(|f| f.at_ms);
    out
}
