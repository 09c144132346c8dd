//! The replication identity (spec R1–R4, R47, R50, R52, R62, R67/R68): `replid`, `replid2`,
//! `second_replid_offset` and every way they change — a new history, a shift on promotion,
//! an id adopted from `+CONTINUE`, a loaded full sync, a restart from an RDB.
//!
//! Owns: the id fields' transitions and the `ReplidChanged` observation each one emits
//! (I9: the oracle rebuilds the history graph from these, so every change reports here).
//! Must never: change an id without observing it, draw an id from anything but the
//! injected RNG, or move `master_repl_offset` except to a position a history change names.

use crate::rules::Promotion;
use crate::HistoryChange;
use proto::{Millis, ReplId};
use rand_core::RngCore;
use tracing::info;

use crate::{Action, Master, Observation, Upstream};

/// A fresh 40-hex-digit id from the injected RNG (never OS entropy, STYLE §5).
pub(crate) fn random_replid<R: RngCore>(rng: &mut R) -> ReplId {
    let mut raw = [0u8; 20];
    rng.fill_bytes(&mut raw);
    ReplId::from_random(raw)
}

impl<R: RngCore> Master<R> {
    pub(crate) fn observe_replid(&mut self, why: HistoryChange) {
        let old_replid = std::mem::replace(&mut self.observed_replid, self.replid);
        self.actions.push(Action::Observe(Observation::ReplidChanged {
            replid: self.replid,
            replid2: self.replid2,
            second_replid_offset: self.second_replid_offset,
            old_replid,
            master_repl_offset: self.master_repl_offset,
            why,
        }));
    }

    /// R1 + R2.
    pub(crate) fn new_history(&mut self, why: HistoryChange) {
        self.replid = random_replid(&mut self.rng);
        self.replid2 = ReplId::ZERO;
        self.second_replid_offset = -1;
        self.observe_replid(why);
    }

    /// R3 (`shiftReplicationId`): used on promotion (R62).
    pub fn shift_replid(&mut self, why: HistoryChange) {
        self.replid2 = self.replid;
        self.second_replid_offset = self.master_repl_offset as i64 + 1;
        self.replid = random_replid(&mut self.rng);
        info!(replid = %self.replid, replid2 = %self.replid2, second = self.second_replid_offset, "replid shifted");
        self.observe_replid(why);
    }

    /// R62 (`REPLICAOF NO ONE` on a replica): shift (or what the rule set's promotion says), disconnect all replicas, reset SELECT,
    /// start the no-replicas clock. The backlog is kept.
    pub fn promote(&mut self, now: Millis) {
        match self.cfg.rules.promotion() {
            Promotion::Shift => self.shift_replid(HistoryChange::Promotion),
            Promotion::NewHistory => self.new_history(HistoryChange::Promotion),
        }
        self.disconnect_all_replicas("promoted: replicas must PSYNC again (R62)");
        self.slaveseldb = -1;
        self.repl_no_slaves_since = now;
        self.upstream = Upstream::None;
        self.ensure_backlog();
        self.check();
    }

    /// R47: a replica adopting a new id from `+CONTINUE <id>`: replid2 := old id,
    /// second offset := offset + 1, and sub-replicas are disconnected (I14).
    pub fn adopt_replid(&mut self, new: ReplId) {
        self.replid2 = self.replid;
        self.second_replid_offset = self.master_repl_offset as i64 + 1;
        self.replid = new;
        self.observe_replid(HistoryChange::ContinueNewId);
        self.disconnect_all_replicas("upstream replid changed (R47)");
        self.ensure_backlog();
        self.check();
    }

    /// R50 + R52: a replica finished loading a full sync at `(replid, offset)`: sub-replicas
    /// dropped, backlog freed then created at `offset + 1`, replid2 cleared.
    pub fn reset_to_full_sync(&mut self, replid: ReplId, offset: u64) {
        self.disconnect_all_replicas("full sync loaded (R50)");
        self.backlog = None;
        self.replid = replid;
        self.master_repl_offset = offset;
        self.replid2 = ReplId::ZERO;
        self.second_replid_offset = -1;
        self.observe_replid(HistoryChange::FullSyncLoaded);
        self.ensure_backlog();
        self.check();
    }

    /// Rewinds the stream to `offset` under the same id, dropping the backlog's bytes after
    /// it: never in redis 7.0; what a rule set's demotion may ask (B2's 6.0.0 design cut
    /// trailing PINGs this way). Observed, so the oracles see the offset move back.
    pub fn rewind(&mut self, offset: u64) {
        let offset = offset.min(self.master_repl_offset);
        self.master_repl_offset = offset;
        match self.backlog.as_mut() {
            Some(b) if offset + 1 >= b.first_byte_offset() => b.truncate_to(offset),
            Some(_) => self.backlog = Some(self.new_backlog()),
            None => {}
        }
        self.observe_replid(HistoryChange::Rewind);
        self.check();
    }

    /// R67/R68 at startup from an RDB with valid repl info. As a replica the stored id is
    /// adopted; as a master the fresh id stays and the stored one becomes replid2.
    pub fn restore_from_rdb(&mut self, replid: ReplId, offset: u64, as_replica: bool, now: Millis) {
        if as_replica {
            self.replid = replid;
            self.master_repl_offset = offset;
            self.observe_replid(HistoryChange::RestartAsReplica);
        } else {
            self.replid2 = replid;
            self.second_replid_offset = offset as i64 + 1;
            self.master_repl_offset = offset;
            self.repl_no_slaves_since = now;
            self.observe_replid(HistoryChange::RestartAsMaster);
        }
        self.backlog = Some(self.new_backlog());
        self.check();
    }
}
