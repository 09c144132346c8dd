//! The liveness oracle, I2: after healing, one tree, every replica CONNECTED and ONLINE,
//! equal replid, offset and digest.
//!
//! Owns: the convergence time. Must never: judge during the fault phase, or count a node
//! that is down as converged.

use std::collections::BTreeMap;

use replica::ReplState;
use serde_json::json;

use super::{NodeView, Oracle, OracleId, Violation};
use crate::run::Harness;
use crate::trace::Kind;

impl Oracle {
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
}

// The harness side of I2: reading the nodes for the verdict above, and the verdict of a
// run whose liveness phase ended unconverged.
impl Harness {
    /// A liveness-phase step: the cheap agreement first, then digests and the verdict; on
    /// first convergence, the trace line and the read-back of every key (issue 13a/b).
    pub(crate) fn check_converged(&mut self, t: u64, views: &[NodeView]) -> bool {
        // Digests are the expensive part: only compute them once everything cheap agrees.
        let cheap = views.len() == self.names.len()
            && views
                .windows(2)
                .all(|w| w[0].replid == w[1].replid && w[0].offset == w[1].offset)
            && views
                .iter()
                .all(|v| v.top_level || v.repl_state == replica::ReplState::Connected);
        if !cheap {
            return false;
        }
        let digests: Vec<u64> = views
            .iter()
            .filter_map(|v| self.node(v.idx).map(|n| n.borrow().keyspace().fingerprint()))
            .collect();
        let first = self.oracle.converged_at.is_none();
        let done = self.oracle.check_converged(t, views, &digests, self.names.len());
        if done && first {
            let args = json!({ "t_ms": t });
            self.trace
                .push_named(t, None, Kind::Event, "converged".into(), "converged", args);
            // Read back every key of every node against the stream (issue 13a/b).
            for v in views {
                if let Some(n) = self.node(v.idx) {
                    let data = dataset(n.borrow().keyspace());
                    self.oracle.readback(t, v, &data);
                }
            }
        }
        done
    }

    /// I2's verdict at the end of the liveness phase: no convergence, with every node's state.
    pub(crate) fn liveness_verdict(&mut self, liveness_ms: u64, now_ms: u64) {
        if self.oracle.converged_at.is_none() {
            let state = self.describe();
            self.oracle.violations.push(Violation {
                t_ms: now_ms,
                oracle: OracleId::Liveness,
                node: None,
                message: format!("no convergence within {liveness_ms} ms of healing: {state}"),
            });
        }
    }

    /// Every node's link state, replid, offset and digest, for the verdict's message.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for i in 0..self.names.len() {
            match self.node(i) {
                None => parts.push(format!("n{i}: down")),
                Some(n) => {
                    let nd = n.borrow();
                    parts.push(format!(
                        "n{i}: {:?} replid {} off {} digest {}",
                        nd.replica().state(),
                        nd.master().replid(),
                        nd.master().master_repl_offset(),
                        &nd.keyspace().digest_hex()[..8]
                    ));
                }
            }
        }
        parts.join("; ")
    }
}

/// A node's whole dataset as the stream model holds one.
fn dataset(ks: &node::keyspace::Keyspace) -> BTreeMap<crate::oracle::model::Key, crate::oracle::model::Val> {
    let mut out = BTreeMap::new();
    for db in 0..node::keyspace::DB_COUNT {
        for (k, e) in ks.iter_db(db) {
            out.insert((db, k.clone()), (e.value.clone(), e.expire_ms));
        }
    }
    out
}
