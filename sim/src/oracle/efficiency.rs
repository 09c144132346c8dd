//! Avoidable full syncs (issue 13e). A full sync costs a whole dataset transfer; the rules
//! avoid it whenever both sides' histories allow. Two questions, each a violation:
//! - the replica's request (R45): it asks for the best position its history allows, its
//!   own `(replid, offset + 1)` — which is also what its cached master holds (R59, R60,
//!   R67) — whenever it has a history (a backlog); `PSYNC ? -1` only without one;
//! - the master's ids (I9): the replid, replid2 and second_replid_offset it decides with
//!   are the ones its last recorded history change left (R1–R4), so a full sync its own
//!   recorded history could have avoided is counted (`avoidable_full_syncs`) and flagged.
//!
//! A node restarted from an RDB with repl info must continue that history (R67, R68):
//! a PSYNC it decides or sends before restoring it is a violation (restart continuity).
//!
//! Owns: each node's recorded ids. Must never: judge a request whose replica it cannot
//! identify (it is counted unchecked instead).

use std::collections::BTreeMap;

use master::{HistoryChange, PsyncDecision, PsyncState};
use proto::ReplId;

use super::{model_accepts, NodeView};

/// Recorded ids per node: (replid, replid2, second_replid_offset).
#[derive(Debug, Default)]
pub struct Efficiency {
    ids: BTreeMap<usize, (ReplId, ReplId, i64)>,
    /// Nodes that started from an RDB with repl info and have not yet restored it:
    /// (stored id, stored offset, as a replica).
    restoring: BTreeMap<usize, (ReplId, u64, bool)>,
    /// Replicas whose last link was freed for a protocol error: redis frees such a master
    /// client without caching it (R59), so `PSYNC ? -1` is what the rules leave them.
    uncached: std::collections::BTreeSet<usize>,
}

impl Efficiency {
    /// Node `idx` booted from an RDB holding `(replid, offset)` (R65): the rules say it
    /// continues that history (R67 as a replica, R68 as a master).
    pub fn loaded(&mut self, idx: usize, replid: ReplId, offset: u64, as_replica: bool) {
        self.restoring.insert(idx, (replid, offset, as_replica));
    }

    /// A recorded history change: does it carry out a pending R67/R68 restore? Returns a
    /// violation message when the node's first change after the load is not the restore.
    pub fn changed(
        &mut self,
        idx: usize,
        why: HistoryChange,
        replid: ReplId,
        replid2: ReplId,
        second: i64,
        offset: u64,
    ) -> Option<String> {
        let (id, off, as_replica) = self.restoring.remove(&idx)?;
        let ok = if as_replica {
            why == HistoryChange::RestartAsReplica && replid == id && offset == off
        } else {
            why == HistoryChange::RestartAsMaster && replid2 == id && second == off as i64 + 1
        };
        (!ok).then(|| {
            let rule = if as_replica { "R67" } else { "R68" };
            format!("{rule}: restarted from an RDB of ({id}, {off}) but its first history change was {why} ({replid}, {replid2}, {second})")
        })
    }

    /// R67/R68 (restart continuity): a node that loaded an RDB with repl info must have
    /// restored it before it answers or sends any PSYNC.
    pub fn restore_pending(&self, idx: usize) -> Option<String> {
        let (id, off, as_replica) = self.restoring.get(&idx)?;
        let rule = if *as_replica { "R67" } else { "R68" };
        Some(format!(
            "{rule}: restarted from an RDB of ({id}, {off}) and takes part in a PSYNC without having restored it"
        ))
    }

    /// Node `idx` now has these ids (a base or a recorded history change).
    pub fn ids(&mut self, idx: usize, replid: ReplId, replid2: ReplId, second: i64) {
        self.ids.insert(idx, (replid, replid2, second));
    }

    /// Node `idx` started a history from a dataset ([`node::Note::Base`]): at boot its
    /// ids are fresh; after a recorded change (rename, promotion) they stay as recorded.
    pub fn base(&mut self, idx: usize, replid: ReplId) {
        if self.ids.get(&idx).is_none_or(|ids| ids.0 != replid) {
            self.ids.insert(idx, (replid, ReplId::ZERO, -1));
        }
    }

    /// I9: the state a PSYNC was decided in must carry the node's recorded ids. Returns a
    /// violation message, and whether the full sync was avoidable under the recorded ids.
    pub fn decided(
        &self,
        idx: usize,
        st: &PsyncState,
        id: &[u8],
        off: i64,
        decision: PsyncDecision,
    ) -> (Option<String>, bool) {
        let Some((replid, replid2, second)) = self.ids.get(&idx).copied() else {
            return (None, false);
        };
        let recorded = PsyncState {
            replid,
            replid2,
            second_replid_offset: second,
            backlog: st.backlog,
        };
        let avoidable = decision != PsyncDecision::Continue && model_accepts(&recorded, id, off);
        let same = (st.replid, st.replid2, st.second_replid_offset) == (replid, replid2, second);
        let msg = (!same).then(|| {
            format!(
                "I9: PSYNC decided with replid {} replid2 {} second {}, but the last recorded history change left \
                 {replid} {replid2} {second}",
                st.replid, st.replid2, st.second_replid_offset
            )
        });
        (msg, avoidable)
    }

    /// Replica `idx` lost its link for `reason` (R59 caches the master unless the
    /// reason is a protocol error).
    pub fn link_error(&mut self, idx: usize, reason: &str) {
        if reason.contains("protocol error") {
            self.uncached.insert(idx);
        }
    }

    /// Replica `idx` has a master link again (CONTINUE or a loaded full sync).
    pub fn linked(&mut self, idx: usize) {
        self.uncached.remove(&idx);
    }

    /// R45: the request a replica sent, against its own position (`view`, taken while it
    /// waits for the reply, so unchanged since it asked).
    pub fn request(&self, id: &[u8], off: i64, view: &NodeView) -> Option<String> {
        view.backlog?; // no history yet: `PSYNC ? -1` is its best
        if id == b"?" && self.uncached.contains(&view.idx) {
            return None; // R59: a protocol error freed the master without caching it
        }
        let best_off = view.offset as i64 + 1;
        let best = view.replid.0.eq_ignore_ascii_case(id) && off == best_off;
        (!best).then(|| {
            format!(
                "R45: n{} asked PSYNC {} {off}, but its history allows {} {best_off}",
                view.idx,
                String::from_utf8_lossy(id),
                view.replid
            )
        })
    }
}

impl super::Oracle {
    /// Judges one PSYNC decision of node `idx` for the efficiency questions, in this order:
    /// the requester's own request (R45) and restore (R67/R68), when the harness could
    /// name the requester and it is waiting for this reply; the deciding node's restore;
    /// the ids it decided with (I9), counting a full sync its recorded ids could avoid.
    pub(crate) fn judge_psync(&mut self, t_ms: u64, idx: usize, requester: Option<&NodeView>, o: &master::Observation) {
        let master::Observation::Psync {
            id,
            offset: off,
            state: st,
            decision,
            ..
        } = o
        else {
            return;
        };
        let (off, decision) = (*off, *decision);
        let sync = decision == PsyncDecision::Full(master::FullReason::Sync);
        // R45 and R67/R68 are redis 7.0's requests: another rule set may ask otherwise.
        let conformance = self.redis_7_0();
        if let Some(v) = requester.filter(|_| !sync && conformance) {
            self.checks.psync_requests += 1;
            if let Some(msg) = self.efficiency.restore_pending(v.idx) {
                self.violate(t_ms, super::OracleId::Efficiency, Some(v.idx), msg);
            }
            if let Some(msg) = self.efficiency.request(id, off, v) {
                self.violate(t_ms, super::OracleId::Efficiency, Some(idx), msg);
            }
        }
        if let Some(msg) = self.efficiency.restore_pending(idx).filter(|_| conformance) {
            self.violate(t_ms, super::OracleId::Efficiency, Some(idx), msg);
        }
        let (msg, avoidable) = self.efficiency.decided(idx, st, id, off, decision);
        self.checks.avoidable_full_syncs += u64::from(avoidable);
        if let Some(msg) = msg {
            self.violate(t_ms, super::OracleId::Replid, Some(idx), msg);
        }
    }

    /// Node `idx` recorded a history change: its ids from now on (I9), and whether it
    /// carried out a pending R67/R68 restore.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn history_recorded(
        &mut self,
        t_ms: u64,
        idx: usize,
        why: HistoryChange,
        replid: ReplId,
        replid2: ReplId,
        second: i64,
        offset: u64,
    ) {
        self.efficiency.ids(idx, replid, replid2, second);
        let restore = self.efficiency.changed(idx, why, replid, replid2, second, offset);
        if let Some(msg) = restore.filter(|_| self.redis_7_0()) {
            self.violate(t_ms, super::OracleId::Efficiency, Some(idx), msg);
        }
    }
}
