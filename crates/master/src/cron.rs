//! `replicationCron` duties of a master (spec R16, R30, R36–R38): the periodic PING,
//! newline keepalives to replicas waiting for an RDB, replica timeouts, the backlog TTL,
//! the delayed diskless start and WAIT deadlines.
//!
//! Owns: the cron loop counter and the order of the duties within one tick.
//! Must never: read a clock (the tick's `now` is the time), or hold a duty's logic that
//! has a home elsewhere (it calls fullsync.rs for R30 and wait.rs for deadlines).

use proto::{ConnId, Millis};
use rand_core::RngCore;
use tracing::warn;

use crate::fullsync::{Child, SnapshotTarget};
use crate::replicas::{RemoveReason, SlaveState};
use crate::{Master, Upstream};

/// `*1\r\n$4\r\nping\r\n` — the lower-case PING a master propagates (R37).
pub const PING_BYTES: &[u8] = b"*1\r\n$4\r\nping\r\n";

impl<R: RngCore> Master<R> {
    /// `replicationCron` (1 Hz): PING (R37), keepalives (R36), timeouts (R38), backlog
    /// TTL (R16), delayed diskless start (R30), WAIT deadlines.
    pub(crate) fn cron(&mut self, now: Millis) {
        let period = self.cfg.repl_ping_replica_period_s.max(1);
        if self.upstream == Upstream::None && !self.replicas.is_empty() && self.cron_loops.is_multiple_of(period) {
            self.feed(PING_BYTES);
        }
        self.cron_loops += 1;
        let disk_child = matches!(
            self.child,
            Some(Child {
                target: SnapshotTarget::Disk,
                ..
            })
        );
        let keepalive: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                r.state == SlaveState::WaitBgsaveStart || (r.state == SlaveState::WaitBgsaveEnd && disk_child)
            })
            .map(|(c, _)| *c)
            .collect();
        for conn in keepalive {
            self.send(conn, &b"\n"[..]);
        }
        self.replica_timeouts(now);
        self.backlog_ttl(now);
        self.delayed_bgsave(now);
        self.expire_waiters(now);
    }

    /// R38: drop ONLINE replicas silent for longer than `repl-timeout`.
    fn replica_timeouts(&mut self, now: Millis) {
        let limit = self.cfg.repl_timeout_s * 1000;
        let timed_out: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                r.state == SlaveState::Online && !r.pre_psync && now.0.saturating_sub(r.ack_time.0) > limit
            })
            .map(|(c, _)| *c)
            .collect();
        for conn in timed_out {
            warn!(%conn, "disconnecting timedout replica (R38)");
            self.remove_replica(now, conn, RemoveReason::Drop("replica timed out (R38)"));
        }
    }

    /// R16: free the backlog of a master without replicas for `repl-backlog-ttl`.
    fn backlog_ttl(&mut self, now: Millis) {
        let ttl = self.cfg.repl_backlog_ttl_s * 1000;
        if self.upstream == Upstream::None
            && self.backlog.is_some()
            && self.replicas.is_empty()
            && ttl > 0
            && now.0.saturating_sub(self.repl_no_slaves_since.0) > ttl
        {
            // B6: freeing the backlog must change the id, or a stale offset could match
            // (unless the rule set under trial says otherwise).
            if self.cfg.rules.ttl_frees_history() {
                self.new_history(crate::HistoryChange::BacklogTtl);
            }
            self.backlog = None;
        }
    }
}
