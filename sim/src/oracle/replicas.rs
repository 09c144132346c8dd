//! The replicas oracle, I14 (B3): a node drops all its sub-replicas only together with a
//! change of its own history (promotion, continue with a new id, full sync).
//!
//! Owns: nothing but the verdict. Must never: judge across steps (the drop and the history
//! change are notes of the same step), or excuse a drop with another node's history change.

use master::Observation as MObs;
use node::Note;

use super::{Oracle, OracleId};

impl Oracle {
    /// Whether a node's notes of one step change its own history: I14's only excuse for
    /// dropping all its sub-replicas.
    pub fn history_changed(notes: &[Note]) -> bool {
        notes
            .iter()
            .any(|n| matches!(n, Note::Master(MObs::ReplidChanged { .. })))
    }

    /// I14 (B3): judges one note of node `idx`; `history_changed` is
    /// [`Oracle::history_changed`] over the node's notes of the same step.
    pub fn check_replicas(&mut self, t_ms: u64, idx: usize, note: &Note, history_changed: bool) {
        if let Note::Master(MObs::ReplicasDisconnected { count, why }) = note {
            if !history_changed {
                let msg = format!("I14: {count} sub-replicas disconnected ({why}) while the history stayed");
                self.violate(t_ms, OracleId::Replicas, Some(idx), msg);
            }
        }
    }
}
