//! WAIT (spec R21–R22, R73): blocked clients waiting for `numreplicas` acknowledgements of
//! an offset, their deadlines, and the `REPLCONF GETACK *` that asks replicas for acks.
//!
//! Owns: the waiters, the GETACK request flag, the `WaitReply` observation.
//! Must never: count a replica that has not acknowledged the offset (its ACK starts at 0),
//! or send GETACK from a node that is not a top-level master (R7).

use proto::{ConnId, Millis};
use rand_core::RngCore;

use crate::replicas::SlaveState;
use crate::{Action, Master, Observation, Upstream};

/// `REPLCONF GETACK *` as propagated (37 bytes, R22, R73).
pub const GETACK_BYTES: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

/// A client blocked in WAIT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiter {
    numreplicas: u64,
    deadline: Option<Millis>,
    offset: u64,
}

impl<R: RngCore> Master<R> {
    /// The earliest time a WAIT deadline expires.
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.waiters.values().filter_map(|w| w.deadline).min()
    }

    /// ONLINE replicas whose last ACK reached `offset`.
    fn acked_at_least(&self, offset: u64) -> u64 {
        self.replicas
            .values()
            .filter(|r| r.state == SlaveState::Online && r.ack_off >= offset)
            .count() as u64
    }

    /// R21: `WAIT numreplicas timeout`: answer now if enough replicas acknowledged
    /// `offset`, else block the client and ask for acks (R22).
    pub(crate) fn wait(&mut self, now: Millis, conn: ConnId, numreplicas: u64, timeout_ms: u64, offset: u64) {
        let have = self.acked_at_least(offset);
        if have >= numreplicas {
            self.wait_reply(conn, offset, have);
            return;
        }
        let deadline = (timeout_ms > 0).then(|| Millis(now.0 + timeout_ms));
        self.waiters.insert(
            conn,
            Waiter {
                numreplicas,
                deadline,
                offset,
            },
        );
        self.getack_pending = true;
    }

    /// Releases every blocked WAIT without a reply, for the node to answer: a master
    /// that becomes a replica unblocks its blocked clients with an error and closes them
    /// (`disconnectAllBlockedClients()` in `replicationSetMaster()`), so no WAIT is
    /// answered by a node that no longer is a master.
    pub fn unblock_waiters(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.waiters).into_keys().collect()
    }

    /// Answers every WAIT whose count is now reached (after an ACK).
    pub(crate) fn check_waiters(&mut self, _now: Millis) {
        let done: Vec<(ConnId, u64)> = self
            .waiters
            .iter()
            .map(|(c, w)| (*c, self.acked_at_least(w.offset), w.numreplicas))
            .filter(|(_, have, want)| have >= want)
            .map(|(c, have, _)| (c, have))
            .collect();
        for (conn, have) in done {
            if let Some(w) = self.waiters.remove(&conn) {
                self.wait_reply(conn, w.offset, have);
            }
        }
    }

    /// Answers every WAIT whose deadline passed, with the count reached so far.
    pub(crate) fn expire_waiters(&mut self, now: Millis) {
        let expired: Vec<(ConnId, u64)> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now))
            .map(|(c, w)| (*c, self.acked_at_least(w.offset)))
            .collect();
        for (conn, have) in expired {
            if let Some(w) = self.waiters.remove(&conn) {
                self.wait_reply(conn, w.offset, have);
            }
        }
    }

    /// Replies to WAIT and tells the oracles what was promised.
    fn wait_reply(&mut self, conn: ConnId, offset: u64, acked: u64) {
        self.send(conn, format!(":{acked}\r\n").into_bytes());
        self.actions
            .push(Action::Observe(Observation::WaitReply { conn, offset, acked }));
    }

    /// R22/R73: one `REPLCONF GETACK *` per event when a WAIT needs acks (beforeSleep).
    pub(crate) fn flush_getack(&mut self) {
        if std::mem::take(&mut self.getack_pending) && !self.waiters.is_empty() && self.upstream == Upstream::None {
            self.feed(GETACK_BYTES);
        }
    }
}
