//! Transfers must finish (issue 13f): a full sync that starts either completes or fails
//! for a reason a fault explains. The replica's own timeout (R58: no byte for
//! `repl-timeout`) bounds a stalled transfer, so a transfer may last at most that plus
//! the time to move its bytes; and once every fault is healed, a replica that keeps
//! failing transfers without ever finishing one is in a loop (as obuf-loop is for B7).
//!
//! Owns: per-replica transfer start times and failure runs. Must never: count a
//! transfer the nemesis broke (faults before the heal) against liveness.

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
    failed_in_row: BTreeMap<usize, u32>,
    reported: BTreeMap<usize, u64>,
}

/// What a state change meant for a transfer.
pub enum Outcome {
    None,
    Done,
    Failed { violation: Option<String> },
}

impl Transfers {
    /// Replica `idx` moved `from → to` at `t_ms`.
    pub fn state(&mut self, t_ms: u64, idx: usize, from: ReplState, to: ReplState) -> Outcome {
        if to == ReplState::Transfer {
            self.started.insert(idx, t_ms);
            return Outcome::None;
        }
        if from != ReplState::Transfer {
            return Outcome::None;
        }
        self.started.remove(&idx);
        if to == ReplState::Connected {
            self.failed_in_row.remove(&idx);
            return Outcome::Done;
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
        if let Some(start) = self.started.get_mut(&idx) {
            *start += ms;
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
            if t_ms > start + self.bound_ms && self.reported.get(idx) != Some(start) {
                out.push((*idx, t_ms - start));
            }
        }
        for (idx, _) in &out {
            self.reported.insert(*idx, self.started[idx]);
        }
        out
    }
}
