//! Oracles, checked in every run: one file per checker, named after the README's oracle
//! table, each saying which rules it checks and what it must never do.
//!
//! Owns: judging, and what every checker shares: the [`NodeView`] the harness reads off a
//! node between two steps, [`Violation`], the [`Oracle`] state, and the per-step and
//! per-observation dispatch ([`Oracle::observe`], [`Oracle::master_obs`], [`Oracle::fed`]).
//! Must never: influence the run (it only reads), or hide a violation.
//!
//! Checkers: `offset` (I1, I19), `prefix` (I3), `dataset` (I10/I18), `backlog` (I5, I6,
//! R14), `psync` (R23 against a reference model, I4), `replid` (R3, history links), `wait`
//! (WAIT promises, acknowledged writes), `obuf_loop` (B7), `replicas` (I14), `liveness` (I2),
//! `readback`, `clients` (reads; per-connection writes), `transfer` (full syncs must end),
//! `efficiency` (R45, avoidable full syncs). `model` is the stream model every dataset and
//! read is judged against; `ids` and `checks` name the oracles and count what they judged.

mod backlog;
mod checks;
pub mod clients;
pub mod costs;
mod dataset;
pub mod efficiency;
mod ids;
mod liveness;
pub mod model;
mod obuf_loop;
mod offset;
mod prefix;
mod psync;
mod readback;
mod replicas;
mod replid;
pub mod transfer;
mod user;
mod wait;

use std::collections::{BTreeMap, BTreeSet};

use crate::rules::RuleSetRef;
use master::Observation as MObs;
use proto::{ConnId, ReplId};
use replica::ReplState;
use serde::Serialize;

pub use checks::Checks;
pub use ids::OracleId;
pub use psync::model_accepts;
pub use user::{register_check, registered_checks, Check, CheckFactory, Finding};

/// What the harness reads off one node between two simulation steps.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Node index (`n0` = 0).
    pub idx: usize,
    /// Boot count (restarts count up).
    pub boot: u64,
    /// Its current replid.
    pub replid: ReplId,
    /// Its `master_repl_offset`.
    pub offset: u64,
    /// The backlog's bounds, when one exists (R5: without one the offset is no stream
    /// position).
    pub backlog: Option<BacklogView>,
    /// No master configured: a top-level master.
    pub top_level: bool,
    /// Replica link state.
    pub repl_state: ReplState,
    /// Replicas this node sees ONLINE.
    pub online_replicas: usize,
    /// Computed only when `(replid, offset)` moved.
    /// Dataset fingerprint ([`node::keyspace::Keyspace::fingerprint`]).
    pub digest: Option<u64>,
    /// The keyspace's change counter ([`node::keyspace::Keyspace::version`]).
    pub version: u64,
}

/// What the backlog oracle reads of a node's backlog (R11–R15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogView {
    /// The first byte the backlog holds (`repl_backlog_first_byte_offset`).
    pub first_byte: u64,
    /// `repl_backlog_histlen`.
    pub histlen: u64,
    /// `repl-backlog-size` now.
    pub size: u64,
    /// The largest block it holds (I6's slack).
    pub block_capacity: u64,
}

/// One broken rule.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// When it was found (simulated ms).
    pub t_ms: u64,
    /// Which oracle found it.
    pub oracle: OracleId,
    /// The node it is about, if any.
    pub node: Option<usize>,
    /// What broke, with the values seen.
    pub message: String,
}

/// All oracles' state.
#[derive(Debug, Default)]
pub struct Oracle {
    /// `(offset, replid)` → (first node that reported it, its digest). Offset first: it
    /// grows with every write, so a lookup compares integers, not 40-byte replids.
    history: BTreeMap<(u64, ReplId), (usize, u64)>,
    gen_max: BTreeMap<ReplId, u64>,
    last: BTreeMap<usize, (u64, ReplId, u64)>,
    /// Nodes that loaded a full sync since the last check (offset may move anywhere).
    resynced: BTreeSet<usize>,
    /// History links: new id → (old id, last valid offset of old id).
    links: BTreeMap<ReplId, (ReplId, u64)>,
    promises: Vec<wait::Promise>,
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
    /// The stream model every dataset and read is judged against.
    pub model: model::StreamModel,
    /// Reads and per-connection writes.
    pub clients: clients::Clients,
    /// Full-sync transfers in flight.
    pub transfers: transfer::Transfers,
    /// PSYNC efficiency (R45) and avoidable full syncs.
    pub efficiency: efficiency::Efficiency,
    /// Everything found so far.
    pub violations: Vec<Violation>,
    /// What each oracle judged.
    pub checks: Checks,
    /// When the liveness phase converged.
    pub converged_at: Option<u64>,
    /// The rule set the run decides by: the psync oracle judges the core against it, and
    /// redis 7.0's conformance checks apply only under redis 7.0 (issue 15).
    pub rules: RuleSetRef,
    /// What replication cost so far (not judged; compared across rule sets).
    pub costs: costs::Costs,
}

impl Oracle {
    /// Oracles for a run under `rules`.
    pub fn with_rules(rules: master::rules::Rules) -> Oracle {
        Oracle {
            rules: RuleSetRef(rules),
            ..Oracle::default()
        }
    }

    /// Whether redis 7.0's own rules are under test (its independent PSYNC model and the
    /// R45/R67/R68 conformance checks apply only then).
    pub(crate) fn redis_7_0(&self) -> bool {
        self.rules.is_default()
    }

    /// Records a violation (the harness reports its own checks through it too).
    pub(crate) fn violate(&mut self, t_ms: u64, oracle: OracleId, node: Option<usize>, message: String) {
        self.violations.push(Violation {
            t_ms,
            oracle,
            node,
            message,
        });
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
        self.costs.observe(o);
        match o {
            MObs::Psync { .. } => self.check_psync(t_ms, idx, o),
            MObs::RdbSent { .. } => {}
            MObs::ReplidChanged { .. } => self.check_history_change(t_ms, idx, o),
            MObs::ReplicasDisconnected { .. } => {}
            MObs::ObufLimit { .. } => self.check_obuf_limit(t_ms, idx, o),
            MObs::WaitReply { .. } => {}
            MObs::SlaveState { .. } | MObs::Fed { .. } => {}
        }
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

    fn note_reached(&mut self, v: &NodeView) {
        if v.backlog.is_some() {
            let e = self.reached.entry((v.idx, v.replid)).or_insert(0);
            *e = (*e).max(v.offset);
        }
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
}
