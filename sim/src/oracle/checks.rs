//! How much each oracle checked, per run and summed over a sweep (a run that checks
//! nothing proves nothing).
//!
//! Owns: the counters and their merge. Must never: count what was not judged, or judge.

use serde::{Deserialize, Serialize};

/// How much each oracle checked (a run that checks nothing proves nothing).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Checks {
    /// Dataset fingerprints compared between nodes at one position (I3).
    pub prefix: u64,
    /// Offsets judged against what masters generated (I1, I19).
    pub offsets: u64,
    /// PSYNC decisions compared with the reference model (R23).
    pub psync: u64,
    /// Bytes of CONTINUEs checked to be exactly `offset..end` (I4).
    pub continue_bytes: u64,
    /// Backlog bounds checked (I5, I6, R14).
    pub backlog: u64,
    /// WAIT replies whose promise was judged.
    pub wait: u64,
    /// Acknowledged writes lost where a failover or master crash explains it.
    pub expected_losses: u64,
    /// Acknowledged writes found in the final history.
    pub survived_waits: u64,
    /// WAITs on a connection that had written nothing to the stream (`woff` 0, R5/R21):
    /// they promise nothing.
    pub empty_waits: u64,
    /// Reads judged against the stream model, and reads it could not judge.
    pub reads: u64,
    /// Reads the model could not judge (a position it cannot follow).
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
    /// Histories (or their tails) the model could not follow.
    pub model_unknown: u64,
    /// Full syncs that ended (started and loaded), and transfers that failed.
    pub transfers_done: u64,
    /// Full-sync transfers that failed.
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
