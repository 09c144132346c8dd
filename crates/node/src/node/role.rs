//! Role changes: REPLICAOF host port (R61) and at boot, a master demoted to replica
//! (R60, the position it continues from), REPLICAOF NO ONE (R62).

use master::Upstream;
use proto::Millis;
use rand_core::RngCore;

use super::Node;

impl<R: RngCore> Node<R> {
    /// `REPLICAOF host port` (R61).
    pub fn replicaof(&mut self, now: Millis, host: String, port: u16) -> &'static [u8] {
        if self.master_addr.as_ref().is_some_and(|(h, p)| *h == host && *p == port) {
            return b"+OK Already connected to specified master\r\n";
        }
        let was_master = !self.is_replica();
        self.start_replication(now, host, port, was_master);
        self.pump_master();
        b"+OK\r\n"
    }

    /// `replicaof` from the config file at startup: no cached master, so the first PSYNC
    /// is `PSYNC ? -1` (vector s1_startup; R45).
    pub fn boot_replicaof(&mut self, now: Millis, host: String, port: u16) {
        self.start_replication(now, host, port, false);
        self.pump_master();
    }

    pub(super) fn start_replication(&mut self, now: Millis, host: String, port: u16, from_myself: bool) {
        // redis 7.0 `replicationSetMaster()`: clients blocked on the master (WAIT) get
        // -UNBLOCKED and are closed after the reply; a replica never answers a WAIT.
        for conn in self.master.unblock_waiters() {
            self.send(conn, UNBLOCKED_REPLY);
            self.close_client(conn, false);
        }
        self.master_addr = Some((host, port));
        let myself = if from_myself { self.demoted_position(now) } else { None };
        self.replica.replicaof(now, myself);
        self.master.set_upstream(Upstream::NotConnected);
        self.pump_replica(now);
    }

    /// R60/R61: the position a master turned replica asks to continue from, as the rule set
    /// says (redis 7.0: its own replid and offset). A position before its offset rewinds the
    /// node there, its backlog starting anew (B2's design).
    fn demoted_position(&mut self, now: Millis) -> Option<(proto::ReplId, u64)> {
        let (id, offset) = (self.master.replid(), self.master.master_repl_offset());
        let (pos_id, pos) = self
            .cfg
            .master
            .rules
            .demoted_position(id, offset, self.master.backlog())?;
        if pos_id == id && pos < offset {
            self.master.rewind(pos);
        } else if (pos_id, pos) != (id, offset) {
            self.master.restore_from_rdb(pos_id, pos, true, now);
        }
        Some((pos_id, pos))
    }

    /// `REPLICAOF NO ONE` (R62).
    pub fn replicaof_no_one(&mut self, now: Millis) {
        if !self.is_replica() {
            return;
        }
        self.master_addr = None;
        self.replica.unset();
        self.pump_replica(now);
        // Without a backlog the offset is not a stream position (R5): the dataset may hold
        // writes no stream carried (taken as a master before it became a replica), so the
        // new history starts from the dataset itself.
        let streamed = self.master.backlog().is_some();
        self.master.promote(now);
        self.pump_master();
        if !streamed {
            self.note_base();
        }
    }
}

/// What a client blocked in WAIT gets when its master becomes a replica (redis 7.0
/// `disconnectAllBlockedClients()`).
pub const UNBLOCKED_REPLY: &[u8] =
    b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";
