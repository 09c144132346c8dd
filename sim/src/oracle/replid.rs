//! The replid oracle: R3, `second_replid_offset = offset + 1` on every shift (B5); the
//! history links between ids (promotions, restarts, renames), so that a write made under one
//! id can be followed into the final history; a history id continues only one predecessor.
//!
//! Owns: the history links. Must never: shorten a link (a late adopter of an id inherited
//! less than its creator), or follow a link past the offset it covers.

use master::rules::Promotion;
use master::{HistoryChange, Observation as MObs};
use proto::ReplId;

use super::{Oracle, OracleId};

impl Oracle {
    /// Judges one history change of node `idx` (R3) and records what the new id inherits.
    pub(super) fn check_history_change(&mut self, t_ms: u64, idx: usize, o: &MObs) {
        let MObs::ReplidChanged {
            replid,
            replid2,
            second_replid_offset,
            why,
            old_replid,
            master_repl_offset,
        } = o
        else {
            return;
        };
        // R3 (shiftReplicationId): the old history is valid up to and including
        // the current offset, so a PSYNC for the next byte may continue (B5). A rule set
        // may promote without a shift (a new history: no replid2 at all).
        let new_history = *why == HistoryChange::Promotion && self.rules.0.promotion() == Promotion::NewHistory;
        if new_history && (*replid2 != ReplId::ZERO || *second_replid_offset != -1) {
            let msg = format!(
                "rule set {} promotes to a new history, but the promotion left replid2 {replid2} second {second_replid_offset}",
                self.rules
            );
            self.violate(t_ms, OracleId::Replid, Some(idx), msg);
        }
        let shifted = why.shifts() && !new_history;
        if shifted && *second_replid_offset != *master_repl_offset as i64 + 1 {
            let msg = format!(
                "R3: {why} set second_replid_offset {second_replid_offset}, expected offset {} + 1",
                master_repl_offset
            );
            self.violate(t_ms, OracleId::Replid, Some(idx), msg);
        }
        if *second_replid_offset > 0 && (shifted || *why == HistoryChange::RestartAsMaster) {
            self.link(t_ms, idx, *replid, *replid2, (*second_replid_offset - 1) as u64);
        }
        // R16 / R27: a master renames its history but keeps its dataset, so what
        // was written under the old id is still there (no PSYNC continuity though); so
        // does a promotion to a new history.
        if why.renames() || new_history {
            self.link(t_ms, idx, *replid, *old_replid, *master_repl_offset);
        }
        if matches!(why, HistoryChange::Promotion | HistoryChange::RestartAsMaster) {
            self.loss_event(t_ms);
        }
        if *why == HistoryChange::FullSyncLoaded {
            self.resynced.insert(idx);
        }
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
    pub(super) fn canon(&self, mut id: ReplId, off: u64) -> ReplId {
        for _ in 0..=self.links.len() {
            match self.links.get(&id) {
                Some((old, upto)) if off <= *upto => id = *old,
                _ => break,
            }
        }
        id
    }

    /// Whether `(id, off)` is part of the history named `fin` at `fin_off`.
    pub(super) fn survives(&self, id: ReplId, off: u64, fin: ReplId, fin_off: u64) -> bool {
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
}
