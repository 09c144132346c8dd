//! `meaningful-offset-6.0.0`: the design shipped in redis 6.0.0 and withdrawn in 6.0.4 (B2,
//! `psync2-pingoff.tcl`): a master turned replica cuts the PINGs at the end of its stream
//! from its offset (its "meaningful offset") before asking to continue, hoping to PSYNC
//! where the trailing PINGs exist on one side only. Unsafe: its replicas already hold
//! those bytes, so offsets name different streams on different nodes.

use proto::ReplId;

use super::RuleSet;
use crate::backlog::ReplBacklog;
use crate::cron::PING_BYTES;

/// redis 6.0.0–6.0.3: R60 with the trailing PINGs cut (B2).
#[derive(Debug, Clone, Copy, Default)]
pub struct MeaningfulOffset600;

impl RuleSet for MeaningfulOffset600 {
    fn name(&self) -> &'static str {
        "meaningful-offset-6.0.0"
    }

    fn summary(&self) -> &'static str {
        "redis 6.0.0-6.0.3: a demoted master cuts trailing PINGs from its offset (B2, withdrawn)"
    }

    fn demoted_position(&self, replid: ReplId, offset: u64, backlog: Option<&ReplBacklog>) -> Option<(ReplId, u64)> {
        let ping = PING_BYTES.len() as u64;
        let mut off = offset;
        while off >= ping
            && backlog
                .and_then(|b| b.range_from(off + 1 - ping))
                .is_some_and(|tail| tail.starts_with(PING_BYTES))
        {
            off -= ping;
        }
        Some((replid, off))
    }
}
