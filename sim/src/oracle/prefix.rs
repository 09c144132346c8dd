//! The prefix oracle, I3: a node's dataset fingerprint (values and absolute expiry
//! deadlines) at `(replid, offset)` equals what the stream model gives there and what every
//! other node had there.
//!
//! Owns: the first digest recorded at each position. Must never: judge a node without a
//! backlog (R5), or replace a recorded digest (the first node to report one defines it).

use proto::ReplId;

use super::{NodeView, Oracle, OracleId};

impl Oracle {
    /// Whether some node already recorded the dataset at `(replid, offset)`.
    pub fn knows(&self, replid: ReplId, offset: u64) -> bool {
        self.history.contains_key(&(replid, offset))
    }

    pub(super) fn check_prefix(&mut self, t_ms: u64, v: &NodeView) {
        let Some(d) = v.digest else { return };
        if v.backlog.is_none() {
            return;
        }
        // The stream itself says what the dataset is at this position (I3 against the
        // model, so a master whose data differs from its own stream is caught too).
        if let Some(want) = self.model.fingerprint(v.replid, v.offset) {
            self.checks.model_prefix += 1;
            if want != d {
                let msg = format!(
                    "I3: dataset at ({}, {}) differs from what the stream gives there: fingerprint {d:016x} vs {want:016x}",
                    v.replid, v.offset
                );
                self.violate(t_ms, OracleId::Prefix, Some(v.idx), msg);
            }
        }
        match self.history.get(&(v.replid, v.offset)) {
            None => {
                self.history.insert((v.replid, v.offset), (v.idx, d));
            }
            Some((other, od)) => {
                self.checks.prefix += 1;
                if *od != d {
                    let msg = format!(
                        "I3: dataset at ({}, {}) differs from n{other}'s: fingerprint {d:016x} vs {od:016x}",
                        v.replid, v.offset
                    );
                    self.violate(t_ms, OracleId::Prefix, Some(v.idx), msg);
                }
            }
        }
    }
}
