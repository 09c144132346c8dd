//! The psync oracle: every PSYNC decision equals a plain reference model of R23
//! ([`model_accepts`], written independently of the master core's `psync::decide`) when the
//! run's rule set is redis 7.0, or what the run's own rule set decides otherwise (the core
//! does what the design says); and every CONTINUE delivers exactly `offset..end` (I4).
//!
//! Owns: the reference model. Must never: share code with `master::psync::decide` (an
//! independent model is the point), or judge anything but the master's own decision.

use master::{Observation as MObs, PsyncDecision, PsyncState};
use proto::ReplId;

use super::{Oracle, OracleId};

/// The reference PSYNC model: R23 written as plainly as possible, independently of the
/// master core's `psync::decide`.
pub fn model_accepts(st: &PsyncState, id: &[u8], off: i64) -> bool {
    if id == b"?" || id.first() == Some(&b'?') {
        return false;
    }
    let same = |r: &ReplId| r.0.eq_ignore_ascii_case(id);
    let history = same(&st.replid) || (same(&st.replid2) && off <= st.second_replid_offset);
    match st.backlog {
        None => false,
        Some((first, histlen)) => history && off >= first as i64 && off <= (first + histlen) as i64,
    }
}

impl Oracle {
    /// Judges one PSYNC decision of node `idx` (R23, I4); a CONTINUE also starts the B7
    /// watch over that connection.
    pub(super) fn check_psync(&mut self, t_ms: u64, idx: usize, o: &MObs) {
        let MObs::Psync {
            conn,
            id,
            offset,
            state,
            decision,
            continued,
            master_repl_offset,
            ..
        } = o
        else {
            return;
        };
        self.checks.psync += 1;
        let real = *decision == PsyncDecision::Continue;
        if self.redis_7_0() {
            let model = model_accepts(state, id, *offset);
            if model != real {
                let msg = format!(
                    "PSYNC {} {} decided {:?} but the model says {} (state {:?})",
                    String::from_utf8_lossy(id),
                    offset,
                    decision,
                    if model { "CONTINUE" } else { "FULLRESYNC" },
                    state
                );
                self.violate(t_ms, OracleId::Psync, Some(idx), msg);
            }
        } else {
            // Another design: the core must do what its own rule set says.
            let want = self.rules.0.decide(state, id, *offset);
            if want != *decision {
                let msg = format!(
                    "PSYNC {} {} decided {:?} but rule set {} says {:?} (state {:?})",
                    String::from_utf8_lossy(id),
                    offset,
                    decision,
                    self.rules,
                    want,
                    state
                );
                self.violate(t_ms, OracleId::Psync, Some(idx), msg);
            }
        }
        if real {
            self.watch_continue(idx, *conn, *offset);
        }
        if let (true, Some(bytes)) = (real, continued) {
            self.checks.continue_bytes += 1;
            let want = master_repl_offset + 1 - *offset as u64;
            if bytes.len() as u64 != want {
                let msg = format!("I4: CONTINUE at {offset} sent {} bytes, expected {want}", bytes.len());
                self.violate(t_ms, OracleId::Psync, Some(idx), msg);
            }
        }
    }
}
