//! The wait oracle: a `WAIT` that returned k >= 1 promises the connection's own last write
//! (its `woff`) reached k replicas, judged against where the replicas got; `woff` 0 (no
//! stream write yet, R5/R21) promises nothing. At the end each promised write must be in the
//! final history unless a failover or master crash after the write explains its loss.
//!
//! Owns: the promises and the loss events. Must never: take the master's word for the
//! offset it waited for, or hide a loss (expected losses are counted and reported).

use std::collections::BTreeSet;

use proto::{ConnId, ReplId};

use super::{NodeView, Oracle, OracleId};

/// A write WAIT promised was on `acked` replicas: the connection's last write, made at
/// `t_ms` at `(replid, offset)`.
#[derive(Debug, Clone)]
pub(super) struct Promise {
    t_ms: u64,
    node: usize,
    replid: ReplId,
    offset: u64,
}

impl Oracle {
    /// Marks a time after which acknowledged writes may be lost (reported, not hidden).
    pub fn loss_event(&mut self, t_ms: u64) {
        self.loss_events.push(t_ms);
    }

    /// A WAIT answered `acked` on node `idx` for connection `conn`: the promise is about
    /// this connection's own last write (redis `c->woff`), judged against where the
    /// replicas really got, not against the offset the master says it waited for. A
    /// connection that wrote nothing has `woff` 0, which every ONLINE replica has acked:
    /// redis 7.0 then returns the count of ONLINE replicas and promises nothing (R5, R21).
    pub fn check_wait(&mut self, t_ms: u64, idx: usize, boot: u64, conn: ConnId, offset: u64, acked: u64) {
        self.checks.wait += 1;
        // R5: a write made while the master had no backlog did not move the offset, so
        // the connection's `woff` stays 0 and every ONLINE replica counts (R21: ack_off is
        // never below 0), loaded or not: such a WAIT promises nothing (seed 0x1b9).
        let last = self
            .clients
            .last_write(idx, boot, conn)
            .filter(|(_, woff, _)| *woff > 0);
        let Some((replid, woff, t_write)) = last else {
            self.checks.empty_waits += 1;
            return;
        };
        if acked == 0 {
            return;
        }
        // A replica that acked and then crashed still counts: ACKs never exceed what the
        // replica applied (I11), so "reached" is what matters, not "is up now".
        // Histories renamed by a promotion share their prefix: compare canonical ids.
        let want = self.canon(replid, woff);
        let mut nodes = BTreeSet::new();
        for ((n, id), off) in &self.reached {
            if *n != idx && *off >= woff && self.canon(*id, woff) == want {
                nodes.insert(*n);
            }
        }
        let have = nodes.len() as u64;
        if have < acked {
            let msg = format!(
                "WAIT returned {acked} for a connection whose last write ends at ({replid}, {woff}) \
                 (the master waited for offset {offset}), but only {have} replicas have it"
            );
            self.violate(t_ms, OracleId::Wait, Some(idx), msg);
        }
        self.promises.push(Promise {
            t_ms: t_write,
            node: idx,
            replid,
            offset: woff,
        });
    }

    /// End of run: WAIT-acknowledged writes must be in the final history, unless a
    /// failover or master restart after them makes the loss expected (reported).
    pub fn finish_waits(&mut self, t_ms: u64, final_view: Option<&NodeView>) {
        let Some(f) = final_view else { return };
        let promises = std::mem::take(&mut self.promises);
        for p in promises {
            if self.survives(p.replid, p.offset, f.replid, f.offset) {
                self.checks.survived_waits += 1;
            } else if self.loss_events.iter().any(|t| *t >= p.t_ms) {
                // A failover or master crash after the write was made (not after the ack,
                // which a frozen master may send late) can lose it: WAIT is not consensus.
                self.checks.expected_losses += 1;
            } else {
                let msg = format!(
                    "write acknowledged by WAIT at ({}, {}) on n{} was lost with no failover or master crash after it was made",
                    p.replid, p.offset, p.node
                );
                self.violate(t_ms, OracleId::Wait, Some(p.node), msg);
            }
        }
    }
}
