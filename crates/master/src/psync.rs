//! Partial resynchronisation (spec §3.2, R23–R25): the decision, as a pure function of the
//! replication state, so the core, the reference model tests and the simulator's oracle can
//! all ask the same question and compare answers; and the master's handling of a
//! PSYNC/SYNC command: its preconditions, the decision, and `+CONTINUE` with the backlog.
//!
//! Owns: [`decide`] and the PSYNC command path up to the point a full sync begins.
//! Must never: let [`decide`] read anything but [`PsyncState`] (it stays pure), serve a
//! byte the backlog does not hold (I4), or produce a snapshot (fullsync.rs does).

use bytes::Bytes;
use proto::{ConnId, Millis, ReplId};
use rand_core::RngCore;
use tracing::debug;

use crate::replicas::{new_replica, SlaveState, SLAVE_CAPA_PSYNC2};
use crate::{Action, Master, Observation, Upstream};

/// The part of a master's state R23 reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsyncState {
    pub replid: ReplId,
    pub replid2: ReplId,
    pub second_replid_offset: i64,
    /// `(first_byte_offset, histlen)` when a backlog exists.
    pub backlog: Option<(u64, u64)>,
}

/// Why a PSYNC was answered with a full resync (the reasons redis logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FullReason {
    /// `PSYNC ? -1` (or any id starting with `?`): the replica asked for a full sync.
    Requested,
    /// The id matches neither replid nor replid2.
    IdMismatch,
    /// The id is replid2 but the offset is past `second_replid_offset` (B2, B10).
    Replid2OffsetTooHigh,
    /// No backlog exists.
    NoBacklog,
    /// The offset is before the backlog's first byte (overrun, B9c).
    BeforeBacklog,
    /// The offset is after the next byte the master will produce.
    AfterBacklog,
    /// Plain `SYNC` (R26).
    Sync,
}

/// The answer to one PSYNC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PsyncDecision {
    /// `+CONTINUE`: stream from the requested offset.
    Continue,
    /// `+FULLRESYNC`, for the reason given.
    Full(FullReason),
}

impl PsyncDecision {
    /// A short stable label for coverage tables.
    pub fn label(&self) -> &'static str {
        match self {
            PsyncDecision::Continue => "continue",
            PsyncDecision::Full(FullReason::Requested) => "full:requested",
            PsyncDecision::Full(FullReason::IdMismatch) => "full:id-mismatch",
            PsyncDecision::Full(FullReason::Replid2OffsetTooHigh) => "full:replid2-offset-too-high",
            PsyncDecision::Full(FullReason::NoBacklog) => "full:no-backlog",
            PsyncDecision::Full(FullReason::BeforeBacklog) => "full:before-backlog",
            PsyncDecision::Full(FullReason::AfterBacklog) => "full:after-backlog",
            PsyncDecision::Full(FullReason::Sync) => "full:sync",
        }
    }
}

/// R23: accept iff the id matches (replid, or replid2 with `off <= second_replid_offset`),
/// a backlog exists, and `first_byte <= off <= first_byte + histlen`.
/// Mirrors `masterTryPartialResynchronization()`, including its check order.
pub fn decide(state: &PsyncState, id: &[u8], off: i64) -> PsyncDecision {
    if id.first() == Some(&b'?') {
        return PsyncDecision::Full(FullReason::Requested);
    }
    let is_id = state.replid.eq_ignore_case(id);
    let is_id2 = state.replid2.eq_ignore_case(id);
    if !is_id {
        if !is_id2 {
            return PsyncDecision::Full(FullReason::IdMismatch);
        }
        if off > state.second_replid_offset {
            return PsyncDecision::Full(FullReason::Replid2OffsetTooHigh);
        }
    }
    let Some((first, histlen)) = state.backlog else {
        return PsyncDecision::Full(FullReason::NoBacklog);
    };
    // Offsets in the stream are >= 1, so a negative `off` is before any backlog.
    let Ok(uoff) = u64::try_from(off) else {
        return PsyncDecision::Full(FullReason::BeforeBacklog);
    };
    if uoff < first {
        return PsyncDecision::Full(FullReason::BeforeBacklog);
    }
    if uoff > first + histlen {
        return PsyncDecision::Full(FullReason::AfterBacklog);
    }
    PsyncDecision::Continue
}

impl<R: RngCore> Master<R> {
    /// The state R23 reads, for oracles.
    pub fn psync_state(&self) -> PsyncState {
        PsyncState {
            replid: self.replid,
            replid2: self.replid2,
            second_replid_offset: self.second_replid_offset,
            backlog: self.backlog.as_ref().map(|b| (b.first_byte_offset(), b.histlen())),
        }
    }

    /// §3.2 preconditions, then R23–R27.
    pub(crate) fn sync_command(&mut self, now: Millis, conn: ConnId, argv: &[Bytes]) {
        if self.replicas.contains_key(&conn) {
            return; // P0: already a replica, ignore.
        }
        let is_psync = argv[0].eq_ignore_ascii_case(b"psync");
        // PSYNC's arity is -3 in redis' command table: extra arguments are accepted.
        if is_psync && argv.len() < 3 {
            self.send(conn, &b"-ERR wrong number of arguments for 'psync' command\r\n"[..]);
            return;
        }
        if !is_psync && argv.len() != 1 {
            self.send(conn, &b"-ERR wrong number of arguments for 'sync' command\r\n"[..]);
            return;
        }
        if is_psync && argv.len() > 3 && argv[3].eq_ignore_ascii_case(b"failover") {
            // P1: coordinated failover hand-off is out of scope; refuse it as a master does.
            // Any other 4th argument is ignored, as syncCommand() does.
            self.send(conn, &b"-ERR PSYNC FAILOVER can't be sent to a master.\r\n"[..]);
            return;
        }
        if self.upstream == Upstream::NotConnected {
            self.send(
                conn,
                &b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"[..],
            );
            return; // P3
        }
        let (id, off) = if is_psync {
            let Some(off) = proto::resp::parse_i64(&argv[2]) else {
                self.send(conn, &b"-ERR value is not an integer or out of range\r\n"[..]);
                return; // P6
            };
            (argv[1].clone(), off)
        } else {
            (Bytes::from_static(b"?"), -1)
        };
        let state = self.psync_state();
        let decision = if is_psync {
            self.cfg.rules.decide(&state, &id, off)
        } else {
            PsyncDecision::Full(FullReason::Sync)
        };
        debug!(%conn, id = %String::from_utf8_lossy(&id), off, ?decision, "psync");
        match decision {
            PsyncDecision::Continue => self.partial_resync(now, conn, id, off, state),
            PsyncDecision::Full(reason) => {
                if reason != FullReason::Requested && reason != FullReason::Sync {
                    self.counters.sync_partial_err += 1; // R25
                }
                self.actions.push(Action::Observe(Observation::Psync {
                    conn,
                    id,
                    offset: off,
                    state,
                    decision,
                    continued: None,
                    master_repl_offset: self.master_repl_offset,
                }));
                self.full_resync(now, conn, !is_psync);
            }
        }
    }

    /// R24: `+CONTINUE`, then exactly the backlog bytes from `off` on.
    fn partial_resync(&mut self, now: Millis, conn: ConnId, id: Bytes, off: i64, state: PsyncState) {
        let h = self.handshakes.remove(&conn).unwrap_or_default();
        let from = u64::try_from(off).expect("decide() accepted a non-negative offset");
        let data = self
            .backlog
            .as_ref()
            .and_then(|b| b.range_from(from))
            .expect("decide() accepted an offset inside the backlog");
        debug_assert_eq!(
            from + data.len() as u64,
            self.master_repl_offset + 1,
            "I4: no gap, no overlap"
        );
        let mut out = if h.capa & SLAVE_CAPA_PSYNC2 != 0 {
            format!("+CONTINUE {}\r\n", self.replid).into_bytes()
        } else {
            b"+CONTINUE\r\n".to_vec()
        };
        out.extend_from_slice(&data);
        self.replicas.insert(conn, new_replica(&h, SlaveState::Online, now));
        self.send(conn, out); // counted in its output buffer, as redis's shared blocks are
        self.counters.sync_partial_ok += 1;
        self.actions.push(Action::Observe(Observation::Psync {
            conn,
            id,
            offset: off,
            state,
            decision: PsyncDecision::Continue,
            continued: Some(Bytes::from(data)),
            master_repl_offset: self.master_repl_offset,
        }));
        self.actions.push(Action::Observe(Observation::SlaveState {
            conn,
            state: Some(SlaveState::Online),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage tables key on these labels: they must be distinct and name the reason.
    #[test]
    fn labels_are_distinct_and_descriptive() {
        let all = [
            PsyncDecision::Continue,
            PsyncDecision::Full(FullReason::Requested),
            PsyncDecision::Full(FullReason::IdMismatch),
            PsyncDecision::Full(FullReason::Replid2OffsetTooHigh),
            PsyncDecision::Full(FullReason::NoBacklog),
            PsyncDecision::Full(FullReason::BeforeBacklog),
            PsyncDecision::Full(FullReason::AfterBacklog),
            PsyncDecision::Full(FullReason::Sync),
        ];
        let labels: std::collections::BTreeSet<&str> = all.iter().map(|d| d.label()).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(PsyncDecision::Continue.label(), "continue");
        assert!(all[1..].iter().all(|d| d.label().starts_with("full:")));
    }
}
