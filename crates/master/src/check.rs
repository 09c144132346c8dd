//! The master core's invariants (STYLE §4), asserted at the end of every `handle()` and
//! every public role change in debug builds, as [`ReplBacklog`](crate::ReplBacklog) checks
//! its own after each append.
//!
//! Owns: the cross-field properties no single handler can see whole (ids, backlog end,
//! replica states against the running snapshot, waiters against the role).
//! Must never: change state, emit an action, or assert anything a peer's bytes can break
//! (a peer mistake is an `Err` or a dropped link, never a panic: STYLE §3). Hence no check
//! that `handshakes` and `replicas` are disjoint (a replica may send any REPLCONF) and
//! none on acknowledged offsets (`REPLCONF ACK` carries whatever the peer says).

use proto::ReplId;
use rand_core::RngCore;

use crate::replicas::SlaveState;
use crate::{Master, Upstream};

impl<R: RngCore> Master<R> {
    /// Asserts the invariants below; a no-op in release builds.
    pub(crate) fn check(&self) {
        // The replica loop is O(replicas) per event: debug builds only, as backlog.rs.
        if !cfg!(debug_assertions) {
            return;
        }
        self.check_replid();
        self.check_backlog();
        self.check_replicas();
        debug_assert!(
            self.waiters.is_empty() || self.upstream == Upstream::None,
            "R7/R21: {} WAIT waiter(s) on a node whose upstream is {:?} (unblock_waiters first)",
            self.waiters.len(),
            self.upstream
        );
        debug_assert!(
            !self.getack_pending,
            "R22: a GETACK request outlived the event that asked for it"
        );
    }

    /// R1–R4: every id change is observed (I9); replid2 and second_replid_offset are set
    /// and cleared together.
    fn check_replid(&self) {
        debug_assert_eq!(
            self.observed_replid, self.replid,
            "I9: replid changed to {} without a ReplidChanged (last observed {})",
            self.replid, self.observed_replid
        );
        // Only this direction: a replica that loaded a SYNC-fallback RDB (R46) or an
        // unparsable `+FULLRESYNC` id takes ReplId::ZERO as its replid, so a later shift
        // (R3, R47) may make replid2 ZERO with an offset.
        debug_assert!(
            self.second_replid_offset != -1 || self.replid2 == ReplId::ZERO,
            "R2: second_replid_offset -1 but replid2 {}",
            self.replid2
        );
        debug_assert!(
            self.second_replid_offset == -1
                || (1..=self.master_repl_offset as i64 + 1).contains(&self.second_replid_offset),
            "R3: second_replid_offset {} outside -1 or 1..=master_repl_offset + 1 ({})",
            self.second_replid_offset,
            self.master_repl_offset + 1
        );
    }

    /// R5/I5, the pair of the assert in `feed`: the backlog ends at master_repl_offset, and
    /// a node with replicas has one.
    fn check_backlog(&self) {
        match &self.backlog {
            Some(b) => debug_assert_eq!(
                b.first_byte_offset() + b.histlen(),
                self.master_repl_offset + 1,
                "I5: backlog first byte {} + histlen {} is not master_repl_offset {} + 1",
                b.first_byte_offset(),
                b.histlen(),
                self.master_repl_offset
            ),
            None => debug_assert!(
                self.replicas.is_empty(),
                "R5: {} replica(s) attached but no backlog",
                self.replicas.len()
            ),
        }
        if let Some(child) = self.child {
            debug_assert!(
                child.id < self.next_snapshot_id,
                "snapshot {} running but next id is {}",
                child.id,
                self.next_snapshot_id
            );
        }
    }

    /// R13/R27–R34: each replica's state agrees with the snapshot it waits for and with
    /// where its stream goes (held in `pending`, or sent).
    fn check_replicas(&self) {
        let child = self.child.map(|c| c.id);
        for (conn, r) in &self.replicas {
            match r.state {
                SlaveState::WaitBgsaveStart => {
                    debug_assert!(
                        r.snapshot.is_none(),
                        "R29: {conn} in WAIT_BGSAVE_START already has snapshot {:?}",
                        r.snapshot
                    );
                    debug_assert!(
                        r.pending.is_empty(),
                        "R13: {conn} in WAIT_BGSAVE_START holds {} stream bytes",
                        r.pending.len()
                    );
                }
                SlaveState::WaitBgsaveEnd => debug_assert!(
                    child.is_some() && r.snapshot == child,
                    "R27: {conn} in WAIT_BGSAVE_END waits for snapshot {:?}, running {:?}",
                    r.snapshot,
                    child
                ),
                SlaveState::SendBulk => {}
                SlaveState::Online => debug_assert!(
                    r.wait_first_ack || r.pending.is_empty(),
                    "R33/R34: {conn} ONLINE and streaming still holds {} bytes",
                    r.pending.len()
                ),
            }
            debug_assert!(
                !r.wait_first_ack || r.state == SlaveState::Online,
                "R34: {conn} waits for its first ACK in {:?}",
                r.state
            );
        }
    }
}
