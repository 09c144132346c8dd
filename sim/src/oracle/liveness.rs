//! The liveness oracle, I2: after healing, one tree, every replica CONNECTED and ONLINE,
//! equal replid, offset and digest.
//!
//! Owns: the convergence time. Must never: judge during the fault phase, or count a node
//! that is down as converged.

use replica::ReplState;

use super::{NodeView, Oracle};

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
