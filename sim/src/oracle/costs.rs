//! What a run's replication cost, for comparing rule sets (`psync-sim compare`): PSYNC
//! outcomes, full-sync payload bytes, backlog bytes served. Counted from the masters'
//! observations as they happen, so a node that crashes later still counts.
//!
//! Owns: the counters and their merge. Must never: judge (costs are not violations).

use master::{Observation as MObs, PsyncDecision};
use serde::{Deserialize, Serialize};

/// Replication work done in one run (or summed over many).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Costs {
    /// PSYNC/SYNC requests answered with a full resync (R23 refused, `? -1`, SYNC).
    pub full_syncs: u64,
    /// PSYNC requests answered `+CONTINUE`.
    pub partial_syncs: u64,
    /// Full-sync payload bytes handed to replicas (RDB plus framing, R31/R32).
    pub rdb_bytes: u64,
    /// Backlog bytes sent with `+CONTINUE` (I4).
    pub backlog_bytes: u64,
}

impl Costs {
    /// Counts one master observation.
    pub fn observe(&mut self, o: &MObs) {
        match o {
            MObs::Psync {
                decision, continued, ..
            } => {
                if *decision == PsyncDecision::Continue {
                    self.partial_syncs += 1;
                    self.backlog_bytes += continued.as_ref().map_or(0, |b| b.len() as u64);
                } else {
                    self.full_syncs += 1;
                }
            }
            MObs::RdbSent { bytes, .. } => self.rdb_bytes += bytes,
            _ => {}
        }
    }

    /// Adds another run's costs.
    pub fn merge(&mut self, o: &Costs) {
        self.full_syncs += o.full_syncs;
        self.partial_syncs += o.partial_syncs;
        self.rdb_bytes += o.rdb_bytes;
        self.backlog_bytes += o.backlog_bytes;
    }
}
