//! The full-sync transfer (R48–R53): a complete RDB payload from the master, loaded and
//! handed to the node with the `(replid, offset)` the `+FULLRESYNC` line announced.
//!
//! Owns: turning the payload into the new master client (R50: the cached master is
//! discarded), `Action::FullSyncLoaded` and the ACK that opens the diskless gate (R52).
//! Must never: replace the dataset itself (the node does), keep a partly loaded dataset
//! (a corrupt payload is an `Err` and the old dataset stays), or accept a payload that no
//! `+FULLRESYNC`/SYNC asked for. Its timeout (R58) is one arm of the cron in link.rs;
//! RDB framing (`$<len>`, `$EOF:`) is the decoder's (`proto::LinkDecoder`).

use proto::{RdbFraming, ReplId};

use crate::{Action, MasterLink, Observation, ReplState, Replica, ReplicaError, TransferTarget};

impl Replica {
    /// R49–R52: a complete transfer. A corrupt payload keeps the old dataset (we differ
    /// from redis, which exits; see the note in the README).
    pub(crate) fn on_rdb(&mut self, framing: RdbFraming, payload: &[u8]) -> Result<(), ReplicaError> {
        let target = self.transfer.take().ok_or_else(|| ReplicaError::UnexpectedReply {
            state: self.state,
            got: "rdb payload".into(),
        })?;
        let rdb = proto::rdb::load(payload)?;
        let (replid, offset, pre_psync) = match target {
            TransferTarget::FullResync { replid, offset } => (replid, offset, false),
            TransferTarget::Sync => (ReplId::ZERO, 0, true),
        };
        let db = rdb.repl_info().map_or(0, |r| r.repl_stream_db as usize);
        self.cached = None; // R50: the cached master is discarded on a full sync.
        self.master = Some(MasterLink {
            replid,
            reploff: offset,
            db: Some(db),
            pre_psync,
        });
        self.actions.push(Action::FullSyncLoaded {
            replid,
            offset,
            rdb: Box::new(rdb),
        });
        self.actions
            .push(Action::Observe(Observation::FullSync { replid, offset }));
        self.goto(ReplState::Connected);
        if matches!(framing, RdbFraming::EofMark(_)) {
            self.send_ack(); // R52: the diskless gate (R34) waits for this ACK.
        }
        Ok(())
    }
}
