//! `ttl-keeps-replid`: freeing the backlog after `repl-backlog-ttl` without changing the
//! replication id — the hazard `replicationCron`'s comment warns of (B6). Writes to the
//! backlog-less master do not move its offset (R5), so a former replica promoted with this
//! id as replid2 later continues the old master at a stale offset: silent divergence.

use super::RuleSet;

/// redis 7.0 with R16's id change removed (B6).
#[derive(Debug, Clone, Copy, Default)]
pub struct TtlKeepsReplid;

impl RuleSet for TtlKeepsReplid {
    fn name(&self) -> &'static str {
        "ttl-keeps-replid"
    }

    fn summary(&self) -> &'static str {
        "the backlog freed by repl-backlog-ttl keeps the id (B6, the hazard replicationCron warns of)"
    }

    fn ttl_frees_history(&self) -> bool {
        false
    }
}
