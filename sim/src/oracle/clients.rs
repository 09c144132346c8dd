//! What clients were told, judged against the stream: acknowledged writes per connection
//! (a `WAIT` that returned k ≥ 1 promises that *this connection's* last write reached k
//! replicas) and reads (every reply is a value the stream gave that key at a position the
//! node held while the read was in flight).
//!
//! Owns: the per-connection write positions, the read history checks. Must never: take
//! the master's word for what WAIT waited for, or judge a read the stream model cannot
//! follow (those are counted as unchecked).

use std::collections::BTreeMap;

use bytes::Bytes;
use proto::{ConnId, ReplId};

use super::model::StreamModel;
use super::{Oracle, OracleId};

/// One read a workload client made (its history entry).
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// The node read from.
    pub node: usize,
    /// The db.
    pub db: usize,
    /// The key.
    pub key: Bytes,
    /// When the GET was sent.
    pub sent_ms: u64,
    /// When its reply arrived.
    pub recv_ms: u64,
    /// `None` for a nil reply.
    pub value: Option<Bytes>,
}

/// A node's position after a simulation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Simulated time.
    pub t_ms: u64,
    /// The node's boot (restarts count up).
    pub boot: u64,
    /// Its replid.
    pub replid: ReplId,
    /// Its `master_repl_offset`.
    pub offset: u64,
    /// Without a backlog the offset is not a stream position (R5): nothing to judge.
    pub streamed: bool,
}

/// Per-connection writes and per-node positions over time.
#[derive(Debug, Default)]
pub struct Clients {
    /// (node, boot, conn) → the last write on that connection: (replid, offset, time).
    last_write: BTreeMap<(usize, u64, ConnId), (ReplId, u64, u64)>,
    /// Every node's positions, appended when they change.
    positions: BTreeMap<usize, Vec<Position>>,
    /// No reads will be judged (a workload without readers): positions, which only
    /// reads need, are not kept (one per node per write otherwise).
    no_reads: bool,
}

/// What a read check concluded.
pub enum ReadVerdict {
    /// The value is one the stream gave the key while the read was in flight.
    Ok,
    /// The model cannot follow some position the node held (or it held none known).
    Unchecked,
    /// A value the stream never gave there, and why.
    Bad(String),
}

impl Clients {
    /// A write executed on `node` for `conn`; the stream ends at `(replid, offset)`.
    pub fn write(&mut self, node: usize, boot: u64, conn: ConnId, replid: ReplId, offset: u64, t_ms: u64) {
        self.last_write.insert((node, boot, conn), (replid, offset, t_ms));
    }

    /// The last write of a connection: (replid, offset, time).
    pub fn last_write(&self, node: usize, boot: u64, conn: ConnId) -> Option<(ReplId, u64, u64)> {
        self.last_write.get(&(node, boot, conn)).copied()
    }

    /// Stops keeping positions: the run has no reader, so no read will be judged.
    pub fn expect_no_reads(&mut self) {
        self.no_reads = true;
        self.positions.clear();
    }

    /// Records a node's position at the end of a step (only changes are kept).
    pub fn position(&mut self, node: usize, p: Position) {
        if self.no_reads {
            return;
        }
        let v = self.positions.entry(node).or_default();
        let same = v
            .last()
            .is_some_and(|l| (l.boot, l.replid, l.offset, l.streamed) == (p.boot, p.replid, p.offset, p.streamed));
        if !same {
            v.push(p);
        }
    }

    /// Judges one read: the reply must be a value of the key at some position the node
    /// held between sending and receiving (a key whose deadline had passed may read nil).
    pub fn check_read(&self, r: &ReadRecord, model: &mut StreamModel, epoch_ms: u64) -> ReadVerdict {
        debug_assert!(!self.no_reads, "a read judged in a run built without readers");
        let Some(ps) = self.positions.get(&r.node) else {
            return ReadVerdict::Unchecked;
        };
        // The position at the end of the step the read was sent in, then every later one
        // up to the reply.
        let first = ps.iter().rposition(|p| p.t_ms <= r.sent_ms).unwrap_or(0);
        let window: Vec<&Position> = ps[first..].iter().take_while(|p| p.t_ms <= r.recv_ms).collect();
        if window.is_empty() || window.iter().any(|p| !p.streamed || p.boot != window[0].boot) {
            return ReadVerdict::Unchecked;
        }
        // Group consecutive positions by replid: offsets within a group only grow.
        let mut groups: Vec<(ReplId, u64, u64)> = Vec::new();
        for p in &window {
            match groups.last_mut() {
                Some(g) if g.0 == p.replid && p.offset >= g.2 => g.2 = p.offset,
                _ => groups.push((p.replid, p.offset, p.offset)),
            }
        }
        let key = (r.db, r.key.clone());
        let mut seen = Vec::new();
        let last = groups.len() - 1;
        for (i, (id, lo, hi)) in groups.iter().enumerate() {
            // A history left within a step may have moved on before it was left.
            let hi = if i < last {
                model.end_of(*id).unwrap_or(*hi).max(*hi)
            } else {
                *hi
            };
            let Some(vals) = model.values_between(*id, &key, *lo, hi) else {
                return ReadVerdict::Unchecked;
            };
            seen.extend(vals);
        }
        let (sent_abs, recv_abs) = ((epoch_ms + r.sent_ms) as i64, (epoch_ms + r.recv_ms) as i64);
        let ok = seen.iter().any(|v| match (v, &r.value) {
            (None, None) => true,
            // A deadline passed before the reply: the node may have hidden the key.
            (Some((_, Some(t))), None) => *t < recv_abs,
            (Some((_, None)), None) => false,
            (Some((val, t)), Some(got)) => val == got && t.is_none_or(|t| t >= sent_abs),
            (None, Some(_)) => false,
        });
        if ok {
            return ReadVerdict::Ok;
        }
        ReadVerdict::Bad(bad_read(r, &seen, &groups))
    }
}

fn short(v: &Bytes) -> String {
    let s = String::from_utf8_lossy(v);
    if s.chars().count() > 24 {
        format!("{}…({} bytes)", s.chars().take(24).collect::<String>(), v.len())
    } else {
        s.into_owned()
    }
}

impl Oracle {
    /// Judges every read the clients made (at the end of the run: reads are judged
    /// against positions the nodes held until the reply).
    pub fn check_reads(&mut self, reads: &[ReadRecord], epoch_ms: u64) {
        for r in reads {
            match self.clients.check_read(r, &mut self.model, epoch_ms) {
                ReadVerdict::Ok => self.checks.reads += 1,
                ReadVerdict::Unchecked => self.checks.reads_unchecked += 1,
                ReadVerdict::Bad(msg) => {
                    self.checks.reads += 1;
                    self.violate(r.recv_ms, OracleId::Read, Some(r.node), msg);
                }
            }
        }
    }
}

/// What a bad read returned, what the stream allowed, and at which positions.
fn bad_read(r: &ReadRecord, seen: &[Option<(Bytes, Option<i64>)>], groups: &[(ReplId, u64, u64)]) -> String {
    let shown: Vec<String> = seen
        .iter()
        .map(|v| match v {
            None => "nil".to_string(),
            Some((val, t)) => format!(
                "{:?}{}",
                short(val),
                t.map(|t| format!(" (deadline {t})")).unwrap_or_default()
            ),
        })
        .collect();
    let got = r
        .value
        .as_ref()
        .map_or("nil".to_string(), |v| format!("{:?}", short(v)));
    let where_: Vec<String> = groups
        .iter()
        .map(|(id, lo, hi)| format!("{}@{lo}..={hi}", &id.to_string()[..8]))
        .collect();
    format!(
        "GET db{} {} on n{} ({}..{} ms) returned {got}, but the stream gave only [{}] at the node's positions {}",
        r.db,
        String::from_utf8_lossy(&r.key),
        r.node,
        r.sent_ms,
        r.recv_ms,
        shown.join(", "),
        where_.join(" ")
    )
}
