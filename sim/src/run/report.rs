//! What a run found and reached: the [`RunReport`], its per-node [`SyncCounters`] and the
//! [`Coverage`] a sweep adds up.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::oracle::Violation;
use crate::rules::RuleSetRef;
use crate::workload::Stats;

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The scenario.
    pub scenario: String,
    /// Everything the oracles found.
    pub violations: Vec<Violation>,
    /// SHA-1 over the trace text: same seed, same hash.
    pub trace_hash: String,
    /// Simulated ms the run lasted.
    pub sim_ms: u64,
    /// When every node converged, if they did.
    pub converged_at_ms: Option<u64>,
    /// When a run that stops at its first violation stopped ([`RunOptions`](crate::run::RunOptions)).
    pub stopped_at_ms: Option<u64>,
    /// Every scheduled fault and whether it had an effect.
    pub faults: Vec<(String, bool)>,
    /// What the run reached.
    pub coverage: Coverage,
    /// What the oracles judged.
    pub checks: crate::oracle::Checks,
    /// Client-side counts.
    pub stats: Stats,
    /// Per node: INFO's sync counters at the end (a crashed node's are zero).
    pub counters: Vec<SyncCounters>,
    /// The swarm's enabled families.
    pub swarm: Option<Vec<&'static str>>,
    /// The rule set the run decided by (issue 15).
    pub rules: RuleSetRef,
    /// What replication cost (full and partial syncs, bytes), for comparing rule sets.
    pub costs: crate::oracle::costs::Costs,
}

/// A node's INFO stats `sync_full`, `sync_partial_ok`, `sync_partial_err` (I13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounters {
    /// Full resyncs served.
    pub sync_full: u64,
    /// Partial resyncs accepted.
    pub sync_partial_ok: u64,
    /// Partial resyncs refused.
    pub sync_partial_err: u64,
}

impl SyncCounters {
    /// `(full, partial_ok, partial_err)`, for compact assertions.
    pub fn tuple(self) -> (u64, u64, u64) {
        (self.sync_full, self.sync_partial_ok, self.sync_partial_err)
    }
}

/// What a run (or a sweep) reached.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Coverage {
    /// ReplState values reached (0..=15).
    pub repl_states: BTreeSet<u8>,
    /// SlaveState values reached (6..=9).
    pub slave_states: BTreeSet<u8>,
    /// PSYNC outcomes reached.
    #[serde(deserialize_with = "crate::campaign::labels")]
    pub psync: BTreeSet<&'static str>,
    /// Fault kinds applied.
    #[serde(deserialize_with = "crate::campaign::labels")]
    pub faults: BTreeSet<&'static str>,
    /// Replicas dropped for their output buffer (R39): (hard, soft) counts.
    pub obuf_drops: (u64, u64),
    /// Writes corrupted in flight by the corrupting-link nemesis.
    pub corrupted_writes: u64,
    /// Replica-side detections: link errors (protocol, timeouts, closes) and failed
    /// transfers (CRC, short or malformed RDB).
    pub link_errors: u64,
    /// Transfers that failed.
    pub transfer_failures: u64,
    /// Partial writes on fragmenting links, and links cut at an exact byte (issue 13 c).
    pub fragmented_writes: u64,
    /// Links cut at an exact byte.
    pub cuts: u64,
}

impl Coverage {
    /// Adds another run's coverage.
    pub fn merge(&mut self, o: &Coverage) {
        self.repl_states.extend(&o.repl_states);
        self.slave_states.extend(&o.slave_states);
        self.psync.extend(&o.psync);
        self.faults.extend(&o.faults);
        self.obuf_drops.0 += o.obuf_drops.0;
        self.obuf_drops.1 += o.obuf_drops.1;
        self.corrupted_writes += o.corrupted_writes;
        self.link_errors += o.link_errors;
        self.transfer_failures += o.transfer_failures;
        self.fragmented_writes += o.fragmented_writes;
        self.cuts += o.cuts;
    }
}
