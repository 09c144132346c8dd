//! PSYNC from the replica's side (R45–R47): the request built from the cached master,
//! the `+FULLRESYNC` / `+CONTINUE` / error reply, and the SYNC fallback (R46, R42).
//!
//! Owns: what PSYNC asks for (`<cached replid> <reploff + 1>`, else `? -1`), parsing the
//! reply, turning the cached master back into the live one on `+CONTINUE` (R47, a new id
//! is adopted) and recording what a full sync's RDB stands for (`transfer`).
//! Must never: apply stream bytes, load the RDB (transfer.rs does), or invent a cached
//! master: it is made when a link is freed (R59, link.rs), from this instance's own
//! history on REPLICAOF (R60) or from the RDB at startup (R67, both in lib.rs).

use proto::{encode_command, Millis, ReplId};
use tracing::info;

use crate::{lossy, Action, Observation, ReplState, Replica, ReplicaError, TransferTarget};

impl Replica {
    /// R45.
    pub(crate) fn send_psync(&mut self) {
        let cmd = match self.cached {
            Some(c) => encode_command(&[&b"PSYNC"[..], &c.replid.0, (c.reploff + 1).to_string().as_bytes()]),
            None => encode_command(&["PSYNC", "?", "-1"]),
        };
        self.send(cmd);
        self.goto(ReplState::ReceivePsync);
    }

    /// R46/R47.
    pub(crate) fn on_psync_reply(&mut self, now: Millis, line: &[u8]) -> Result<(), ReplicaError> {
        if let Some(rest) = line.strip_prefix(b"+FULLRESYNC") {
            let mut parts = rest.split(|&c| c == b' ').filter(|p| !p.is_empty());
            let id = parts.next().and_then(ReplId::from_bytes).unwrap_or(ReplId::ZERO);
            let offset = parts
                .next()
                .and_then(proto::resp::parse_i64)
                .and_then(|o| u64::try_from(o).ok())
                .ok_or_else(|| ReplicaError::BadFullResync { line: lossy(line) })?;
            self.transfer = Some(TransferTarget::FullResync { replid: id, offset });
            self.goto(ReplState::Transfer);
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"+CONTINUE") {
            if self.cached.is_none() {
                // We sent `PSYNC ? -1`: a +CONTINUE is a peer error (STYLE §3), not a panic.
                return Err(ReplicaError::UnexpectedReply {
                    state: self.state,
                    got: lossy(line),
                });
            }
            self.on_continue(now, rest.strip_prefix(b" ").unwrap_or(rest));
            return Ok(());
        }
        if line.starts_with(b"-NOMASTERLINK") || line.starts_with(b"-LOADING") {
            return Err(ReplicaError::MasterError { line: lossy(line) }); // try later
        }
        // Anything else: PSYNC unsupported → inline SYNC, RDB with no offset (R46, R42).
        info!(reply = %lossy(line), "PSYNC not supported, falling back to SYNC");
        self.send(&b"SYNC\r\n"[..]);
        self.decoder.expect_rdb();
        self.transfer = Some(TransferTarget::Sync);
        self.goto(ReplState::Transfer);
        Ok(())
    }

    fn on_continue(&mut self, now: Millis, id: &[u8]) {
        let mut cached = self
            .cached
            .take()
            .expect("CONTINUE only answers a PSYNC with a cached master");
        if let Some(new) = ReplId::from_bytes(id) {
            if new != cached.replid {
                cached.replid = new;
                self.actions.push(Action::AdoptReplid { replid: new });
            }
        }
        self.actions.push(Action::Observe(Observation::Continue {
            replid: cached.replid,
            offset: cached.reploff + 1,
        }));
        self.master = Some(cached);
        self.lastio = now;
        self.goto(ReplState::Connected);
    }
}
