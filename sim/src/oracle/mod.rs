//! Oracles, checked in every run: offsets (I1, I19-style monotonicity), prefix
//! consistency by dataset digests keyed by `(replid, offset)` (I3), the PSYNC decision
//! against a plain reference model (R23, I4), backlog bounds (I5, I6), WAIT promises,
//! and convergence (I2) in the liveness phase.
//!
//! Owns: judging. Must never: influence the run (it only reads), or hide a violation.
//!
//! Submodules: `model` (the stream model every dataset and read is judged against),
//! `clients` (acknowledged writes and reads per client), `transfer` (full syncs must end),
//! `efficiency` (PSYNC requests and avoidable full syncs).

pub mod clients;
pub mod efficiency;
pub mod model;
pub mod transfer;

use std::collections::{BTreeMap, BTreeSet};

use master::{HistoryChange, Observation as MObs, PsyncDecision, PsyncState};
use proto::{ConnId, ReplId};
use replica::ReplState;
use serde::Serialize;

/// What the harness reads off one node between two simulation steps.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub idx: usize,
    pub boot: u64,
    pub replid: ReplId,
    pub offset: u64,
    /// The backlog's bounds, when one exists (R5: without one the offset is no stream
    /// position).
    pub backlog: Option<BacklogView>,
    pub top_level: bool,
    pub repl_state: ReplState,
    /// Replicas this node sees ONLINE.
    pub online_replicas: usize,
    /// Computed only when `(replid, offset)` moved.
    /// Dataset fingerprint ([`node::keyspace::Keyspace::fingerprint`]).
    pub digest: Option<u64>,
    /// The keyspace's change counter ([`node::keyspace::Keyspace::version`]).
    pub version: u64,
}

/// Which oracle found a violation: one id per checker, so shrink and tests compare ids,
/// not strings a typo could silently change. Serialized (and displayed) as its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OracleId {
    /// I5/I6/R14: backlog bounds.
    Backlog,
    /// I10/I18: data changed at one offset.
    Dataset,
    /// R45/R67/R68: PSYNC requests and restart continuity.
    Efficiency,
    /// a simulated process failed.
    Host,
    /// I2: convergence after healing.
    Liveness,
    /// B7: continue-and-drop loops.
    ObufLoop,
    /// I1/I19: offsets.
    Offset,
    /// I3: datasets by position.
    Prefix,
    /// R23/I4: PSYNC decisions.
    Psync,
    /// reads come from the stream.
    Read,
    /// read-back after convergence.
    Readback,
    /// I14: sub-replicas dropped only with a history change.
    Replicas,
    /// R3/I9: ids.
    Replid,
    /// R70/R72/I17: the generated stream's form.
    Stream,
    /// full syncs end, or a fault explains why not.
    Transfer,
    /// WAIT promises and acknowledged writes.
    Wait,
}

impl OracleId {
    /// Every oracle, for tables and documentation tests.
    pub const ALL: [OracleId; 16] = [
        OracleId::Backlog,
        OracleId::Dataset,
        OracleId::Efficiency,
        OracleId::Host,
        OracleId::Liveness,
        OracleId::ObufLoop,
        OracleId::Offset,
        OracleId::Prefix,
        OracleId::Psync,
        OracleId::Read,
        OracleId::Readback,
        OracleId::Replicas,
        OracleId::Replid,
        OracleId::Stream,
        OracleId::Transfer,
        OracleId::Wait,
    ];

    /// The stable name used in reports, failure files and the README.
    pub fn label(self) -> &'static str {
        match self {
            OracleId::Backlog => "backlog",
            OracleId::Dataset => "dataset",
            OracleId::Efficiency => "efficiency",
            OracleId::Host => "host",
            OracleId::Liveness => "liveness",
            OracleId::ObufLoop => "obuf-loop",
            OracleId::Offset => "offset",
            OracleId::Prefix => "prefix",
            OracleId::Psync => "psync",
            OracleId::Read => "read",
            OracleId::Readback => "readback",
            OracleId::Replicas => "replicas",
            OracleId::Replid => "replid",
            OracleId::Stream => "stream",
            OracleId::Transfer => "transfer",
            OracleId::Wait => "wait",
        }
    }

    /// The id with this label.
    pub fn from_label(s: &str) -> Option<OracleId> {
        OracleId::ALL.into_iter().find(|o| o.label() == s)
    }
}

impl std::fmt::Display for OracleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for OracleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl PartialEq<&str> for OracleId {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

/// What the backlog oracle reads of a node's backlog (R11–R15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogView {
    pub first_byte: u64,
    pub histlen: u64,
    /// `repl-backlog-size` now.
    pub size: u64,
    /// The largest block it holds (I6's slack).
    pub block_capacity: u64,
}

/// One broken rule.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub t_ms: u64,
    pub oracle: OracleId,
    pub node: Option<usize>,
    pub message: String,
}

/// The reference PSYNC model: R23 written as plainly as possible, independently of the
/// master core's `psync::decide`.
pub fn model_accepts(st: &PsyncState, id: &[u8], off: i64) -> bool {
    if id == b"?" || id.first() == Some(&b'?') {
        return false;
    }
    let same = |r: &ReplId| r.0.eq_ignore_ascii_case(id);
    let history = same(&st.replid) || (same(&st.replid2) && off <= st.second_replid_offset);
    match st.backlog {
        None => false,
        Some((first, histlen)) => history && off >= first as i64 && off <= (first + histlen) as i64,
    }
}

/// A write WAIT promised was on `acked` replicas: the connection's last write, made at
/// `t_ms` at `(replid, offset)`.
#[derive(Debug, Clone)]
struct Promise {
    t_ms: u64,
    node: usize,
    replid: ReplId,
    offset: u64,
}

/// All oracles' state.
#[derive(Debug, Default)]
pub struct Oracle {
    /// `(replid, offset)` → (first node that reported it, its digest).
    history: BTreeMap<(ReplId, u64), (usize, u64)>,
    gen_max: BTreeMap<ReplId, u64>,
    last: BTreeMap<usize, (u64, ReplId, u64)>,
    /// Nodes that loaded a full sync since the last check (offset may move anywhere).
    resynced: BTreeSet<usize>,
    /// History links: new id → (old id, last valid offset of old id).
    links: BTreeMap<ReplId, (ReplId, u64)>,
    promises: Vec<Promise>,
    /// Times at which history could legitimately be lost (failover, master restart).
    loss_events: Vec<u64>,
    /// Highest offset each node was seen at, per replid.
    reached: BTreeMap<(usize, ReplId), u64>,
    /// Node → ((boot, replid), first byte) of its backlog at the last step (R14).
    backlog_seen: BTreeMap<usize, ((u64, ReplId), u64, u64)>,
    /// (master node, connection) → the offset its replica was continued at, and the
    /// replica's address (connections change at every reconnect, addresses do not).
    continued_at: BTreeMap<(usize, ConnId), (i64, String)>,
    /// (master node, replica address, continue offset) → times that replica was continued
    /// there and then dropped for its output buffer before acknowledging anything (B7).
    obuf_loops: BTreeMap<(usize, String, i64), u32>,
    /// Per node: (boot, replid, offset, keyspace version) at the last step (I10/I18).
    dataset_seen: BTreeMap<usize, (u64, ReplId, u64, u64)>,
    /// Nodes whose dataset was replaced by a full sync in this step.
    replaced: BTreeSet<usize>,
    pub model: model::StreamModel,
    pub clients: clients::Clients,
    pub transfers: transfer::Transfers,
    pub efficiency: efficiency::Efficiency,
    pub violations: Vec<Violation>,
    pub checks: Checks,
    pub converged_at: Option<u64>,
}

/// Output-buffer drops after a continue at one offset that make a PSYNC loop (B7).
const OBUF_LOOP_LIMIT: u32 = 3;

/// How much each oracle checked (a run that checks nothing proves nothing).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Checks {
    pub prefix: u64,
    pub offsets: u64,
    pub psync: u64,
    pub continue_bytes: u64,
    pub backlog: u64,
    pub wait: u64,
    pub expected_losses: u64,
    pub survived_waits: u64,
    /// WAITs on a connection that had written nothing to the stream (`woff` 0, R5/R21):
    /// they promise nothing.
    pub empty_waits: u64,
    /// Reads judged against the stream model, and reads it could not judge.
    pub reads: u64,
    pub reads_unchecked: u64,
    /// Keys compared with the stream model after convergence (read-back).
    pub readback_keys: u64,
    /// Dataset fingerprints compared with the stream model's at the same position.
    pub model_prefix: u64,
    /// Dataset changes seen at an unchanged offset, each judged (I10/I18).
    pub dataset_changes: u64,
    /// Generated stream commands the model applied, and histories (or their tails) it
    /// could not follow (an unknown command, a gap, an unknown parent).
    pub stream_commands: u64,
    pub model_unknown: u64,
    /// Full syncs that ended (started and loaded), and transfers that failed.
    pub transfers_done: u64,
    pub transfers_failed: u64,
    /// PSYNC requests judged against the replica's own history (R45).
    pub psync_requests: u64,
    /// Full syncs the master's own recorded history could have avoided (R23).
    pub avoidable_full_syncs: u64,
}

impl Checks {
    /// Adds another run's counts (sweep summaries).
    pub fn merge(&mut self, o: &Checks) {
        let pairs = [
            (&mut self.prefix, o.prefix),
            (&mut self.offsets, o.offsets),
            (&mut self.psync, o.psync),
            (&mut self.continue_bytes, o.continue_bytes),
            (&mut self.backlog, o.backlog),
            (&mut self.wait, o.wait),
            (&mut self.expected_losses, o.expected_losses),
            (&mut self.survived_waits, o.survived_waits),
            (&mut self.empty_waits, o.empty_waits),
            (&mut self.reads, o.reads),
            (&mut self.reads_unchecked, o.reads_unchecked),
            (&mut self.readback_keys, o.readback_keys),
            (&mut self.model_prefix, o.model_prefix),
            (&mut self.dataset_changes, o.dataset_changes),
            (&mut self.stream_commands, o.stream_commands),
            (&mut self.model_unknown, o.model_unknown),
            (&mut self.transfers_done, o.transfers_done),
            (&mut self.transfers_failed, o.transfers_failed),
            (&mut self.psync_requests, o.psync_requests),
            (&mut self.avoidable_full_syncs, o.avoidable_full_syncs),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }
}

impl Oracle {
    /// Records a violation (the harness reports its own checks through it too).
    pub(crate) fn violate(&mut self, t_ms: u64, oracle: OracleId, node: Option<usize>, message: String) {
        self.violations.push(Violation {
            t_ms,
            oracle,
            node,
            message,
        });
    }

    /// Marks a time after which acknowledged writes may be lost (reported, not hidden).
    pub fn loss_event(&mut self, t_ms: u64) {
        self.loss_events.push(t_ms);
    }

    /// Names the peer of a connection just continued (the harness knows addresses).
    pub fn continued_peer(&mut self, idx: usize, conn: ConnId, peer: String) {
        if let Some(e) = self.continued_at.get_mut(&(idx, conn)) {
            e.1 = peer;
        }
    }

    /// A node restarted: its offset history starts again.
    pub fn node_restarted(&mut self, idx: usize) {
        self.last.remove(&idx);
        self.transfers.restarted(idx);
        // Connection ids start again at every boot.
        self.continued_at.retain(|(i, _), _| *i != idx);
    }

    /// Feeds a master-core observation of node `idx`.
    pub fn master_obs(&mut self, t_ms: u64, idx: usize, o: &MObs) {
        match o {
            MObs::Psync {
                conn,
                id,
                offset,
                state,
                decision,
                continued,
                master_repl_offset,
                ..
            } => {
                self.checks.psync += 1;
                let model = model_accepts(state, id, *offset);
                let real = *decision == PsyncDecision::Continue;
                if model != real {
                    let msg = format!(
                        "PSYNC {} {} decided {:?} but the model says {} (state {:?})",
                        String::from_utf8_lossy(id),
                        offset,
                        decision,
                        if model { "CONTINUE" } else { "FULLRESYNC" },
                        state
                    );
                    self.violate(t_ms, OracleId::Psync, Some(idx), msg);
                }
                if real {
                    self.continued_at.insert((idx, *conn), (*offset, String::new()));
                }
                if let (true, Some(bytes)) = (real, continued) {
                    self.checks.continue_bytes += 1;
                    let want = master_repl_offset + 1 - *offset as u64;
                    if bytes.len() as u64 != want {
                        let msg = format!("I4: CONTINUE at {offset} sent {} bytes, expected {want}", bytes.len());
                        self.violate(t_ms, OracleId::Psync, Some(idx), msg);
                    }
                }
            }
            MObs::ReplidChanged {
                replid,
                replid2,
                second_replid_offset,
                why,
                old_replid,
                master_repl_offset,
            } => {
                // R3 (shiftReplicationId): the old history is valid up to and including
                // the current offset, so a PSYNC for the next byte may continue (B5).
                let shifted = why.shifts();
                if shifted && *second_replid_offset != *master_repl_offset as i64 + 1 {
                    let msg = format!(
                        "R3: {why} set second_replid_offset {second_replid_offset}, expected offset {} + 1",
                        master_repl_offset
                    );
                    self.violate(t_ms, OracleId::Replid, Some(idx), msg);
                }
                if *second_replid_offset > 0 && (why.shifts() || *why == HistoryChange::RestartAsMaster) {
                    self.link(t_ms, idx, *replid, *replid2, (*second_replid_offset - 1) as u64);
                }
                // R16 / R27: a master renames its history but keeps its dataset, so what
                // was written under the old id is still there (no PSYNC continuity though).
                if why.renames() {
                    self.link(t_ms, idx, *replid, *old_replid, *master_repl_offset);
                }
                if matches!(why, HistoryChange::Promotion | HistoryChange::RestartAsMaster) {
                    self.loss_event(t_ms);
                }
                if *why == HistoryChange::FullSyncLoaded {
                    self.resynced.insert(idx);
                }
            }
            MObs::ReplicasDisconnected { .. } => {}
            MObs::ObufLimit { conn, ack_off, .. } => {
                // B7 invariant: a replica dropped for its output buffer must not be
                // continued from the same offset again and again without progress (an ACK
                // at or past the offset it asked for shows it applied something).
                let continued = self.continued_at.remove(&(idx, *conn));
                if let Some((off, peer)) = continued.filter(|(off, _)| (*ack_off as i64) < *off) {
                    let n = self.obuf_loops.entry((idx, peer.clone(), off)).or_insert(0);
                    *n += 1;
                    if *n >= OBUF_LOOP_LIMIT {
                        let msg = format!(
                            "B7: replica {peer} was continued at offset {off} and dropped for its output \
                             buffer {n} times without progress: a PSYNC loop"
                        );
                        self.violate(t_ms, OracleId::ObufLoop, Some(idx), msg);
                    }
                }
            }
            MObs::WaitReply { .. } => {}
            MObs::SlaveState { .. } | MObs::Fed { .. } => {}
        }
    }

    /// A WAIT answered `acked` on node `idx` for connection `conn`: the promise is about
    /// this connection's own last write (redis `c->woff`), judged against where the
    /// replicas really got, not against the offset the master says it waited for. A
    /// connection that wrote nothing has `woff` 0, which every ONLINE replica has acked:
    /// redis 7.0 then returns the count of ONLINE replicas and promises nothing (R5, R21).
    pub fn check_wait(&mut self, t_ms: u64, idx: usize, boot: u64, conn: ConnId, offset: u64, acked: u64) {
        self.checks.wait += 1;
        // R5: a write made while the master had no backlog did not move the offset, so
        // the connection's `woff` stays 0 and every ONLINE replica counts (R21: ack_off is
        // never below 0), loaded or not: such a WAIT promises nothing (seed 0x1b9).
        let last = self
            .clients
            .last_write(idx, boot, conn)
            .filter(|(_, woff, _)| *woff > 0);
        let Some((replid, woff, t_write)) = last else {
            self.checks.empty_waits += 1;
            return;
        };
        if acked == 0 {
            return;
        }
        // A replica that acked and then crashed still counts: ACKs never exceed what the
        // replica applied (I11), so "reached" is what matters, not "is up now".
        // Histories renamed by a promotion share their prefix: compare canonical ids.
        let want = self.canon(replid, woff);
        let mut nodes = BTreeSet::new();
        for ((n, id), off) in &self.reached {
            if *n != idx && *off >= woff && self.canon(*id, woff) == want {
                nodes.insert(*n);
            }
        }
        let have = nodes.len() as u64;
        if have < acked {
            let msg = format!(
                "WAIT returned {acked} for a connection whose last write ends at ({replid}, {woff}) \
                 (the master waited for offset {offset}), but only {have} replicas have it"
            );
            self.violate(t_ms, OracleId::Wait, Some(idx), msg);
        }
        self.promises.push(Promise {
            t_ms: t_write,
            node: idx,
            replid,
            offset: woff,
        });
    }

    /// Node `idx` now holds stream bytes up to `end` under `replid` (every feed, within a
    /// step: sampling views between steps misses positions passed inside one).
    pub fn fed(&mut self, idx: usize, replid: ReplId, end: u64, generated: bool) {
        let e = self.reached.entry((idx, replid)).or_insert(0);
        *e = (*e).max(end);
        if generated {
            // I1's bound: every offset a master generated, even one it left in the same
            // step (a frozen master that wakes, writes and is demoted at once).
            let g = self.gen_max.entry(replid).or_insert(0);
            *g = (*g).max(end);
        }
    }

    /// Node `idx` loaded a full sync in this step: its dataset may change at any offset.
    pub fn dataset_replaced(&mut self, idx: usize) {
        self.replaced.insert(idx);
    }

    fn note_reached(&mut self, v: &NodeView) {
        if v.backlog.is_some() {
            let e = self.reached.entry((v.idx, v.replid)).or_insert(0);
            *e = (*e).max(v.offset);
        }
    }

    /// Whether some node already recorded the dataset at `(replid, offset)`.
    pub fn knows(&self, replid: ReplId, offset: u64) -> bool {
        self.history.contains_key(&(replid, offset))
    }

    /// Per-step checks over every live node.
    pub fn observe(&mut self, t_ms: u64, views: &[NodeView]) {
        for v in views {
            self.note_reached(v);
        }
        // Generators (top-level masters with a backlog) first: they define history.
        for v in views.iter().filter(|v| v.top_level && v.backlog.is_some()) {
            let e = self.gen_max.entry(v.replid).or_insert(0);
            *e = (*e).max(v.offset);
        }
        for v in views {
            self.check_backlog(t_ms, v);
            self.check_offsets(t_ms, v);
            self.check_prefix(t_ms, v);
        }
        self.model.advance();
        for f in std::mem::take(&mut self.model.faults) {
            let msg = format!("{} (at {}, {})", f.message, f.replid, f.offset);
            self.violate(t_ms, OracleId::Stream, None, msg);
        }
        self.checks.stream_commands = self.model.commands;
        self.checks.model_unknown = self.model.unknown.len() as u64;
        self.replaced.clear();
    }

    /// I10/I18: a node's dataset changed at an unchanged position. Only a full sync, or a
    /// master without a backlog (R5), may do that; otherwise the data must still be what
    /// the stream gives at that position. Returns whether `fingerprint` is wanted now.
    pub fn dataset_changed(&self, v: &NodeView) -> bool {
        let now = (v.boot, v.replid, v.offset, v.version);
        match self.dataset_seen.get(&v.idx) {
            Some(prev) => {
                prev.3 != now.3
                    && (prev.0, prev.1, prev.2) == (now.0, now.1, now.2)
                    && v.backlog.is_some()
                    && !self.replaced.contains(&v.idx)
            }
            None => false,
        }
    }

    /// Judges a dataset change at an unchanged position (see [`Oracle::dataset_changed`]).
    pub fn check_dataset_change(&mut self, t_ms: u64, v: &NodeView, fingerprint: u64) {
        self.checks.dataset_changes += 1;
        match self.model.fingerprint(v.replid, v.offset) {
            Some(want) if want != fingerprint => {
                let msg = format!(
                    "I10: dataset changed at ({}, {}) with no stream byte applied: fingerprint {fingerprint:016x}, \
                     the stream gives {want:016x}",
                    v.replid, v.offset
                );
                self.violate(t_ms, OracleId::Dataset, Some(v.idx), msg);
            }
            _ => {}
        }
    }

    /// Remembers every node's position and keyspace version for the next step.
    pub fn remember_datasets(&mut self, views: &[NodeView]) {
        for v in views {
            self.dataset_seen.insert(v.idx, (v.boot, v.replid, v.offset, v.version));
        }
    }

    fn check_backlog(&mut self, t_ms: u64, v: &NodeView) {
        let Some(BacklogView {
            first_byte: first,
            histlen,
            size,
            block_capacity: block,
        }) = v.backlog
        else {
            self.backlog_seen.remove(&v.idx);
            return;
        };
        self.checks.backlog += 1;
        if first + histlen != v.offset + 1 {
            let msg = format!("I5: first_byte {first} + histlen {histlen} != offset {} + 1", v.offset);
            self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
        }
        // R14 trims only when a block is added, to histlen - head <= size; the tail may
        // then fill: so at most two blocks over the size while no replica pins blocks.
        if histlen > size + 2 * block {
            let msg = format!("I6: histlen {histlen} > size {size} + 2 blocks of {block}");
            self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
        }
        // R14 lower bound: trimming (the first byte moving forward within one history)
        // never leaves less than the configured size — the smaller of the sizes before and
        // after the step: a resize within the step may follow the trim (seed 0x1349: a
        // frozen master woke, appended a big write under its old size, then grew).
        let key = (v.boot, v.replid);
        let prev = self.backlog_seen.insert(v.idx, (key, first, size));
        if let Some((k, prev_first, prev_size)) = prev {
            let size = size.min(prev_size);
            if k == key && first > prev_first && histlen < size && !self.resynced.contains(&v.idx) {
                let msg =
                    format!("R14: trimmed to histlen {histlen} below size {size} (first byte {prev_first} -> {first})");
                self.violate(t_ms, OracleId::Backlog, Some(v.idx), msg);
            }
        }
    }

    fn check_offsets(&mut self, t_ms: u64, v: &NodeView) {
        if v.backlog.is_none() {
            return; // R5: without a backlog the offset is not a stream position.
        }
        self.checks.offsets += 1;
        if !v.top_level {
            let max = self.gen_max.get(&v.replid).copied();
            if let Some(max) = max {
                if v.offset > max {
                    let msg = format!(
                        "I1: offset {} under {} exceeds every master's ({max})",
                        v.offset, v.replid
                    );
                    self.violate(t_ms, OracleId::Offset, Some(v.idx), msg);
                }
            }
        }
        let resynced = self.resynced.remove(&v.idx);
        if let Some((boot, id, off)) = self.last.insert(v.idx, (v.boot, v.replid, v.offset)) {
            if boot == v.boot && id == v.replid && v.offset < off && !resynced {
                let msg = format!("offset went backwards under {id}: {off} -> {}", v.offset);
                self.violate(t_ms, OracleId::Offset, Some(v.idx), msg);
            }
        }
    }

    fn check_prefix(&mut self, t_ms: u64, v: &NodeView) {
        let Some(d) = v.digest else { return };
        if v.backlog.is_none() {
            return;
        }
        // The stream itself says what the dataset is at this position (I3 against the
        // model, so a master whose data differs from its own stream is caught too).
        if let Some(want) = self.model.fingerprint(v.replid, v.offset) {
            self.checks.model_prefix += 1;
            if want != d {
                let msg = format!(
                    "I3: dataset at ({}, {}) differs from what the stream gives there: fingerprint {d:016x} vs {want:016x}",
                    v.replid, v.offset
                );
                self.violate(t_ms, OracleId::Prefix, Some(v.idx), msg);
            }
        }
        match self.history.get(&(v.replid, v.offset)) {
            None => {
                self.history.insert((v.replid, v.offset), (v.idx, d));
            }
            Some((other, od)) => {
                self.checks.prefix += 1;
                if *od != d {
                    let msg = format!(
                        "I3: dataset at ({}, {}) differs from n{other}'s: fingerprint {d:016x} vs {od:016x}",
                        v.replid, v.offset
                    );
                    self.violate(t_ms, OracleId::Prefix, Some(v.idx), msg);
                }
            }
        }
    }

    /// Liveness phase: converged when every node is up, one top-level master, every other
    /// node CONNECTED and ONLINE at the master, all with one replid, offset and digest.
    pub fn check_converged(&mut self, t_ms: u64, views: &[NodeView], digests: &[u64], nodes: usize) -> bool {
        if self.converged_at.is_some() {
            return true;
        }
        let ok = views.len() == nodes
            && views.iter().filter(|v| v.top_level).count() == 1
            && views
                .iter()
                .all(|v| v.top_level || v.repl_state == ReplState::Connected)
            && views.iter().map(|v| v.online_replicas).sum::<usize>() == nodes - 1
            && views
                .windows(2)
                .all(|w| w[0].replid == w[1].replid && w[0].offset == w[1].offset)
            && digests.windows(2).all(|w| w[0] == w[1]);
        if ok {
            self.converged_at = Some(t_ms);
        }
        ok
    }

    /// Records that history `new` inherits `old` up to and including offset `upto`. The
    /// node that created `new` (promotion) inherited the most; a replica adopting `new` later
    /// from `+CONTINUE` (R47) records only its own, lower offset + 1 as second_replid_offset,
    /// which must not shorten the link (seed 0xd52: a replica thawed at 7 860 continued into
    /// an id promoted at 9 268, and a WAIT-acked write at 9 231 looked lost).
    fn link(&mut self, t_ms: u64, idx: usize, new: ReplId, old: ReplId, upto: u64) {
        let e = self.links.entry(new).or_insert((old, upto));
        if e.0 == old {
            e.1 = e.1.max(upto);
        } else {
            // Only one history can have been renamed to `new` (ids are random, R1), and a
            // replica continues into it only from that same predecessor (R47).
            let msg = format!("history {new} continues {} and also {old}", e.0);
            self.violate(t_ms, OracleId::Replid, Some(idx), msg);
        }
    }

    /// The oldest id naming the same stream prefix as `(id, off)` (follows promotions
    /// and renames back while `off` is inside the inherited part).
    fn canon(&self, mut id: ReplId, off: u64) -> ReplId {
        for _ in 0..=self.links.len() {
            match self.links.get(&id) {
                Some((old, upto)) if off <= *upto => id = *old,
                _ => break,
            }
        }
        id
    }

    /// Whether `(id, off)` is part of the history named `fin` at `fin_off`.
    fn survives(&self, id: ReplId, off: u64, fin: ReplId, fin_off: u64) -> bool {
        let (mut cur, mut limit) = (fin, fin_off);
        for _ in 0..=self.links.len() {
            if cur == id {
                return off <= limit;
            }
            match self.links.get(&cur) {
                Some((old, upto)) => {
                    limit = limit.min(*upto);
                    cur = *old;
                }
                None => return false,
            }
        }
        false
    }

    /// After convergence, every key of the converged dataset is read back and compared
    /// with what the stream gives at the final position (value and deadline): a write the
    /// stream kept but the data lost, or data from a discarded branch, is a violation.
    pub fn readback(&mut self, t_ms: u64, v: &NodeView, data: &BTreeMap<model::Key, model::Val>) {
        let Some(want) = self.model.dataset_at(v.replid, v.offset) else {
            return;
        };
        let keys: BTreeSet<&model::Key> = want.keys().chain(data.keys()).collect();
        self.checks.readback_keys += keys.len() as u64;
        let show = |x: Option<&model::Val>| match x {
            None => "nil".to_string(),
            Some((val, t)) => format!(
                "{:?}{}",
                String::from_utf8_lossy(&val[..val.len().min(24)]),
                t.map(|t| format!(" deadline {t}")).unwrap_or_default()
            ),
        };
        let bad: Vec<String> = keys
            .into_iter()
            .filter(|k| want.get(*k) != data.get(*k))
            .take(3)
            .map(|k| {
                format!(
                    "db{} {}: has {}, the stream gives {}",
                    k.0,
                    String::from_utf8_lossy(&k.1),
                    show(data.get(k)),
                    show(want.get(k))
                )
            })
            .collect();
        if !bad.is_empty() {
            let msg = format!(
                "read-back after convergence at ({}, {}): {}",
                v.replid,
                v.offset,
                bad.join("; ")
            );
            self.violate(t_ms, OracleId::Readback, Some(v.idx), msg);
        }
    }

    /// Judges every read the clients made (at the end of the run: reads are judged
    /// against positions the nodes held until the reply).
    pub fn check_reads(&mut self, reads: &[clients::ReadRecord], epoch_ms: u64) {
        for r in reads {
            match self.clients.check_read(r, &mut self.model, epoch_ms) {
                clients::ReadVerdict::Ok => self.checks.reads += 1,
                clients::ReadVerdict::Unchecked => self.checks.reads_unchecked += 1,
                clients::ReadVerdict::Bad(msg) => {
                    self.checks.reads += 1;
                    self.violate(r.recv_ms, OracleId::Read, Some(r.node), msg);
                }
            }
        }
    }

    /// End of run: WAIT-acknowledged writes must be in the final history, unless a
    /// failover or master restart after them makes the loss expected (reported).
    pub fn finish_waits(&mut self, t_ms: u64, final_view: Option<&NodeView>) {
        let Some(f) = final_view else { return };
        let promises = std::mem::take(&mut self.promises);
        for p in promises {
            if self.survives(p.replid, p.offset, f.replid, f.offset) {
                self.checks.survived_waits += 1;
            } else if self.loss_events.iter().any(|t| *t >= p.t_ms) {
                // A failover or master crash after the write was made (not after the ack,
                // which a frozen master may send late) can lose it: WAIT is not consensus.
                self.checks.expected_losses += 1;
            } else {
                let msg = format!(
                    "write acknowledged by WAIT at ({}, {}) on n{} was lost with no failover or master crash after it was made",
                    p.replid, p.offset, p.node
                );
                self.violate(t_ms, OracleId::Wait, Some(p.node), msg);
            }
        }
    }
}
