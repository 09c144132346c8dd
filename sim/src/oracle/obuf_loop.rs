//! The obuf-loop oracle, B7: no replica is continued at the same offset and dropped for its
//! output buffer (R39) three times without acknowledging progress.
//!
//! Owns: which connection was continued where, and the drop counts per replica address.
//! Must never: key a loop by connection (connections change at every reconnect), or count
//! a drop after the replica acknowledged the offset it asked for.

use master::Observation as MObs;
use proto::ConnId;

use super::{Oracle, OracleId};

/// Output-buffer drops after a continue at one offset that make a PSYNC loop (B7).
const OBUF_LOOP_LIMIT: u32 = 3;

impl Oracle {
    /// Node `idx` continued connection `conn` at `offset` (its peer is named later).
    pub(super) fn watch_continue(&mut self, idx: usize, conn: ConnId, offset: i64) {
        self.continued_at.insert((idx, conn), (offset, String::new()));
    }

    /// Names the peer of a connection just continued (the harness knows addresses).
    pub fn continued_peer(&mut self, idx: usize, conn: ConnId, peer: String) {
        if let Some(e) = self.continued_at.get_mut(&(idx, conn)) {
            e.1 = peer;
        }
    }

    /// Judges one output-buffer drop of node `idx` (B7).
    pub(super) fn check_obuf_limit(&mut self, t_ms: u64, idx: usize, o: &MObs) {
        let MObs::ObufLimit { conn, ack_off, .. } = o else {
            return;
        };
        // B7 invariant: a replica dropped for its output buffer must not be
        // continued from the same offset again and again without progress (an ACK
        // at or past the offset it asked for shows it applied something).
        let continued = self.continued_at.remove(&(idx, *conn));
        if let Some((off, peer)) = continued.filter(|(off, _)| (*ack_off as i64) < *off) {
            let n = self.obuf_loops.entry((idx, peer.clone(), off)).or_insert(0);
            *n += 1;
            if *n >= OBUF_LOOP_LIMIT {
                let msg = format!(
                    "B7: replica {peer} was continued at offset {off} and dropped for its output \
                     buffer {n} times without progress: a PSYNC loop"
                );
                self.violate(t_ms, OracleId::ObufLoop, Some(idx), msg);
            }
        }
    }
}
