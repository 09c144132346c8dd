//! `psync1`: redis 2.8–3.2 (PSYNC with the master's run id, before psync2 in 4.0). There is
//! no replid2: a promoted replica starts a new history, a master turned replica has no
//! cached master of its own, and no RDB carries replication info. Safe, and costly: every
//! failover and every restart needs full syncs.

use proto::ReplId;

use super::{Promotion, RuleSet};
use crate::backlog::ReplBacklog;

/// redis 2.8–3.2: no R3 shift on promotion (R62), no R60, no R67/R68.
#[derive(Debug, Clone, Copy, Default)]
pub struct Psync1;

impl RuleSet for Psync1 {
    fn name(&self) -> &'static str {
        "psync1"
    }

    fn summary(&self) -> &'static str {
        "redis 2.8-3.2: no replid2, no own cached master, no RDB continuity (safe, costly)"
    }

    fn promotion(&self) -> Promotion {
        Promotion::NewHistory
    }

    fn master_restart_continuity(&self) -> bool {
        false
    }

    fn replica_restart_continuity(&self) -> bool {
        false
    }

    fn demoted_position(&self, _: ReplId, _: u64, _: Option<&ReplBacklog>) -> Option<(ReplId, u64)> {
        None
    }
}
