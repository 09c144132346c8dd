//! The replication stream (spec R5, R7, R12–R13, R70–R74): framing writes with SELECT,
//! appending stream bytes to the backlog and to every replica that is fed, proxying a
//! replica's upstream bytes verbatim to its own sub-replicas.
//!
//! Owns: `master_repl_offset` growth and `slaveseldb`, the `Fed` observation, and the
//! R39 check that redis runs when the shared buffer gains a block.
//! Must never: originate stream bytes on a replica (R7), move the offset without a
//! backlog (R5), or reorder bytes between the backlog and a replica.

use bytes::Bytes;
use proto::{encode_command, ConnId};
use rand_core::RngCore;

use crate::replicas::SlaveState;
use crate::{Action, Master, Observation, Upstream};

impl<R: RngCore> Master<R> {
    /// R70/R71: encode a write, preceded by SELECT when the stream's db differs.
    pub(crate) fn propagate(&mut self, db: usize, argv: &[Bytes]) {
        if self.upstream != Upstream::None || self.backlog.is_none() {
            return; // R7 (replicas never originate stream bytes), R5 (no backlog, no offset).
        }
        let mut bytes = Vec::new();
        if self.slaveseldb != db as i64 {
            bytes.extend_from_slice(&encode_command(&[&b"SELECT"[..], db.to_string().as_bytes()]));
            self.slaveseldb = db as i64;
        }
        bytes.extend_from_slice(&encode_command(argv));
        self.feed(&bytes);
    }

    /// R12/R13: append stream bytes to the backlog and every fed replica.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Some(backlog) = self.backlog.as_mut() else {
            // R5: with no backlog the offset does not move (a replica always has one, R52).
            return;
        };
        let added_block = backlog.append(bytes);
        self.master_repl_offset += bytes.len() as u64;
        debug_assert_eq!(
            backlog.first_byte_offset() + backlog.histlen(),
            self.master_repl_offset + 1,
            "STYLE §4 pair: backlog end equals master_repl_offset"
        );
        let mut sends = Vec::new();
        for (conn, r) in self.replicas.iter_mut().filter(|(_, r)| r.state.is_fed()) {
            if r.state == SlaveState::Online && !r.wait_first_ack {
                sends.push(*conn);
            } else {
                r.pending.extend_from_slice(bytes);
            }
        }
        let shared = Bytes::copy_from_slice(bytes);
        if self.cfg.observe_stream {
            self.actions.push(Action::Observe(Observation::Fed {
                replid: self.replid,
                end: self.master_repl_offset,
                bytes: shared.clone(),
                generated: self.upstream == Upstream::None,
            }));
        }
        for conn in sends {
            if let Some(r) = self.replicas.get_mut(&conn) {
                r.io_unflushed += shared.len() as u64;
            }
            self.actions.push(Action::Send {
                conn,
                bytes: shared.clone(),
            });
        }
        // R39: redis checks the limits only when the shared buffer gains a block, so a
        // replica continued with a big backlog range has until then to drain it.
        if !added_block {
            return;
        }
        let fed: Vec<ConnId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state.is_fed())
            .map(|(c, _)| *c)
            .collect();
        for conn in fed {
            self.check_obuf(self.now, conn);
        }
    }
}
