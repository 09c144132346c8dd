//! The dataset oracle, I10/I18: a dataset that changes while its `(replid, offset)` does
//! not must still be what the stream gives there (a replica never changes its data on its
//! own); only a full sync, or a master without a backlog (R5), may change it freely.
//!
//! Owns: each node's last position and keyspace version, and who loaded a full sync this
//! step. Must never: fingerprint a node itself (the harness does, only when asked), or
//! judge a change the stream model cannot follow.

use super::{NodeView, Oracle, OracleId};

impl Oracle {
    /// Node `idx` loaded a full sync in this step: its dataset may change at any offset.
    pub fn dataset_replaced(&mut self, idx: usize) {
        self.replaced.insert(idx);
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
}
