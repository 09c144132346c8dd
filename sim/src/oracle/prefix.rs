//! The prefix oracle, I3: a node's dataset fingerprint (values and absolute expiry
//! deadlines) at `(replid, offset)` equals what the stream model gives there and what every
//! other node had there.
//!
//! A node whose writes do not move its offset (no backlog, R5) re-bases its history at the
//! same position ([`Oracle::rebase`]): harmless while no other node shares that id (redis
//! renames on R16/R27 so none does); if one holds or inherited it, that position now names
//! two datasets and a PSYNC between them diverges silently (B6).
//!
//! Owns: the first digest recorded at each position. Must never: judge a node without a
//! backlog (R5), or replace a recorded digest (the first node to report one defines it).

use node::node::BaseEntry;
use proto::ReplId;

use super::{NodeView, Oracle, OracleId};

impl Oracle {
    /// Whether some node already recorded the dataset at `(replid, offset)`.
    pub fn knows(&self, replid: ReplId, offset: u64) -> bool {
        self.history.contains_key(&(offset, replid))
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
        match self.history.get(&(v.offset, v.replid)) {
            None => {
                self.history.insert((v.offset, v.replid), (v.idx, d));
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

    /// Node `idx` starts history `replid` at `offset` from its whole dataset (boot, a rename,
    /// writes without a backlog). Judged first: the same position re-based with other data
    /// while another node shares the id is I3 broken (B6); then the model takes the base.
    pub(crate) fn rebase(
        &mut self,
        t_ms: u64,
        idx: usize,
        replid: ReplId,
        offset: u64,
        entries: &[BaseEntry],
        stream_db: Option<usize>,
    ) {
        let before = self.model.fingerprint(replid, offset);
        self.model.base(replid, offset, entries, stream_db);
        let (Some(before), Some(after)) = (before, self.model.fingerprint(replid, offset)) else {
            return;
        };
        if before == after {
            return;
        }
        let holder = self
            .reached
            .keys()
            .find(|(n, r)| *n != idx && *r == replid)
            .map(|(n, _)| *n);
        let heir = self
            .links
            .iter()
            .find(|(_, (old, _))| *old == replid)
            .map(|(new, _)| *new);
        let why = match (holder, heir) {
            (Some(n), _) => format!("n{n} holds that history"),
            (None, Some(h)) => format!("history {h} continues it"),
            (None, None) => return,
        };
        let msg = format!(
            "I3: ({replid}, {offset}) now names another dataset (fingerprint {before:016x} -> {after:016x}: \
             written without moving the offset, R5) while {why} (B6)"
        );
        self.violate(t_ms, OracleId::Prefix, Some(idx), msg);
    }
}
