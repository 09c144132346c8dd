//! Transfers must finish (issue 13f): a full sync that starts either completes or fails
//! for a reason a fault explains. The replica's own timeout (R58: no byte for
//! `repl-timeout`) bounds a stalled transfer, so a transfer may last at most that plus
//! the time to move its bytes; and once every fault is healed, a replica that keeps
//! failing transfers without ever finishing one is in a loop (as obuf-loop is for B7).
//!
//! A transfer that fails must be explained by a fault that touched the replica or the
//! master it synced from (or every node: a failover, the heal) from shortly before it
//! started until it failed: a transfer that fails on a quiet link (a closing mark never
//! found, a timeout while the master had sent everything) is a violation.
//!
//! Owns: per-replica transfer start times and failure runs, when each node was last
//! touched by a fault. Must never: count a transfer the nemesis broke against the node.

use std::collections::BTreeMap;

use replica::ReplState;

/// Failed transfers in a row, after the heal's grace period, that make a loop.
pub const FAILED_TRANSFERS_MAX: u32 = 3;

/// Transfer bookkeeping for every replica.
#[derive(Debug, Default)]
pub struct Transfers {
    /// Longest a transfer may take (ms): repl-timeout, a cron tick, and slack.
    pub bound_ms: u64,
    /// When the fault phase ended plus the grace period; failures after it count.
    pub strict_after_ms: Option<u64>,
    started: BTreeMap<usize, u64>,
    /// Extra time a running transfer is allowed: the replica was frozen meanwhile.
    frozen_ms: BTreeMap<usize, u64>,
    failed_in_row: BTreeMap<usize, u32>,
    reported: BTreeMap<usize, u64>,
    /// Replica → the node it transfers from.
    source: BTreeMap<usize, usize>,
    /// When each node was last touched by a fault, and when a fault last touched all.
    touched: BTreeMap<usize, u64>,
    touched_all: Option<u64>,
    /// Nodes armed to corrupt a snapshot they send (the corruption strikes at some later
    /// transfer, whenever that is): their transfers may fail at any time.
    corrupting: std::collections::BTreeSet<usize>,
    /// The last link error each replica reported (why its transfer failed).
    last_error: BTreeMap<usize, String>,
}

/// How long before a transfer started a fault may still explain its failure (a freeze or
/// a hold that began during the handshake, a latency change in flight).
const EXPLAIN_LEAD_MS: u64 = 2_000;

/// What a state change meant for a transfer.
pub enum Outcome {
    /// Nothing ended.
    None,
    /// A full sync finished.
    Done,
    /// A transfer failed; a violation message when nothing explains it.
    Failed {
        /// Why it is a violation, or `None` when a fault explains the failure.
        violation: Option<String>,
    },
}

impl Transfers {
    /// Node `idx` will corrupt a snapshot it sends, some time from now.
    pub fn corrupting(&mut self, idx: usize) {
        self.corrupting.insert(idx);
    }

    /// A fault touched `nodes` (`None`: every node) at `t_ms`.
    pub fn fault(&mut self, t_ms: u64, nodes: Option<&[usize]>) {
        match nodes {
            None => self.touched_all = Some(t_ms),
            Some(ns) => {
                for n in ns {
                    self.touched.insert(*n, t_ms);
                }
            }
        }
    }

    /// Replica `idx` moved `from → to` at `t_ms`; `source` is the node it replicates from
    /// and `why` the replica's last link error.
    pub fn state(
        &mut self,
        t_ms: u64,
        idx: usize,
        source: Option<usize>,
        from: ReplState,
        to: ReplState,
        why: &str,
    ) -> Outcome {
        if to == ReplState::Transfer {
            self.started.insert(idx, t_ms);
            self.frozen_ms.remove(&idx);
            if let Some(s) = source {
                self.source.insert(idx, s);
            }
            return Outcome::None;
        }
        if from != ReplState::Transfer {
            return Outcome::None;
        }
        let start = self.started.remove(&idx).unwrap_or(0);
        let src = self.source.remove(&idx);
        if to == ReplState::Connected {
            self.failed_in_row.remove(&idx);
            return Outcome::Done;
        }
        let since = start.saturating_sub(EXPLAIN_LEAD_MS);
        let hit = |n: &usize| self.touched.get(n).is_some_and(|t| *t >= since);
        // An error line from the master (`-NOAUTH`, `-LOADING`…, R42/R48) is a refusal that
        // says why, not a transfer lost on a quiet link.
        let refused = why.contains("master error reply \"-");
        let explained = refused
            || self.touched_all.is_some_and(|t| t >= since)
            || hit(&idx)
            || src.as_ref().is_some_and(|s| hit(s) || self.corrupting.contains(s));
        if !explained {
            return Outcome::Failed {
                violation: Some(format!(
                    "a full-sync transfer started at {start} ms failed with no fault on the replica or its master \
                     since {since} ms to explain it: {why}"
                )),
            };
        }
        let strict = self.strict_after_ms.is_some_and(|s| t_ms >= s);
        if !strict {
            return Outcome::Failed { violation: None };
        }
        let n = self.failed_in_row.entry(idx).or_insert(0);
        *n += 1;
        let violation = (*n == FAILED_TRANSFERS_MAX)
            .then(|| format!("{n} full-sync transfers failed in a row after every fault was healed, none finished"));
        Outcome::Failed { violation }
    }

    /// Node `idx` is frozen for `ms`: a transfer it runs may take that much longer.
    pub fn frozen(&mut self, idx: usize, ms: u64) {
        if self.started.contains_key(&idx) {
            *self.frozen_ms.entry(idx).or_insert(0) += ms;
        }
    }

    /// A node restarted: a transfer it had running is gone with it.
    pub fn restarted(&mut self, idx: usize) {
        self.started.remove(&idx);
    }

    /// Transfers running for longer than the bound (each reported once per start).
    pub fn overdue(&mut self, t_ms: u64) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for (idx, start) in &self.started {
            let allowed = self.bound_ms + self.frozen_ms.get(idx).copied().unwrap_or(0);
            if t_ms > start + allowed && self.reported.get(idx) != Some(start) {
                out.push((*idx, t_ms - start));
            }
        }
        for (idx, _) in &out {
            self.reported.insert(*idx, self.started[idx]);
        }
        out
    }
}

impl super::Oracle {
    /// Replica `idx` reported a link error or a failed transfer for `reason`.
    pub(crate) fn link_error(&mut self, idx: usize, reason: &str, transfer_failed: bool) {
        if !transfer_failed {
            self.efficiency.link_error(idx, reason);
        }
        self.transfers.last_error.insert(idx, reason.to_string());
    }

    /// Replica `idx` moved `from → to`; `source` is the node it replicates from.
    pub(crate) fn replica_state(
        &mut self,
        t_ms: u64,
        idx: usize,
        source: Option<usize>,
        from: ReplState,
        to: ReplState,
    ) {
        let why = self.transfers.last_error.remove(&idx).unwrap_or_default();
        match self.transfers.state(t_ms, idx, source, from, to, &why) {
            Outcome::None => {}
            Outcome::Done => self.checks.transfers_done += 1,
            Outcome::Failed { violation } => {
                self.checks.transfers_failed += 1;
                if let Some(msg) = violation {
                    self.violate(t_ms, super::OracleId::Transfer, Some(idx), msg);
                }
            }
        }
    }
}
