//! The offset oracle, I1: no node's offset under a replid exceeds every offset a master
//! generated under it (fed positions count, see [`Oracle::fed`]); I19: offsets never go
//! backwards under one replid and boot, except across a full resync.
//!
//! Owns: judging positions. Must never: judge a node without a backlog (R5: its offset is
//! no stream position), or forget a full resync's licence before its next check.

use super::{NodeView, Oracle, OracleId};

impl Oracle {
    pub(super) fn check_offsets(&mut self, t_ms: u64, v: &NodeView) {
        if v.backlog.is_none() {
            return; // R5: without a backlog the offset is not a stream position.
        }
        self.checks.offsets += 1;
        if !v.top_level {
            let max = self.gen_max.get(&v.replid).copied();
            if let Some(max) = max {
                if v.offset > max {
                    let msg = format!(
                        "I1: offset {} under {} exceeds every master's ({max})",
                        v.offset, v.replid
                    );
                    self.violate(t_ms, OracleId::Offset, Some(v.idx), msg);
                }
            }
        }
        let resynced = self.resynced.remove(&v.idx);
        if let Some((boot, id, off)) = self.last.insert(v.idx, (v.boot, v.replid, v.offset)) {
            if boot == v.boot && id == v.replid && v.offset < off && !resynced {
                let msg = format!("offset went backwards under {id}: {off} -> {}", v.offset);
                self.violate(t_ms, OracleId::Offset, Some(v.idx), msg);
            }
        }
    }
}
