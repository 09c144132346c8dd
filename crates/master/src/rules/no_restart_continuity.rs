//! `no-restart-continuity`: redis 7.0, except that a master restarted from its RDB never
//! serves PSYNC for its old history (R68 off, as before psync2's RDB aux fields in 4.0):
//! it starts a fresh history at offset 0 and its replicas full-sync. Safe, and costly.

use super::RuleSet;

/// redis 7.0 without R68.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRestartContinuity;

impl RuleSet for NoRestartContinuity {
    fn name(&self) -> &'static str {
        "no-restart-continuity"
    }

    fn summary(&self) -> &'static str {
        "redis 7.0 without R68: a restarted master starts a fresh history (safe, costly)"
    }

    fn master_restart_continuity(&self) -> bool {
        false
    }
}
