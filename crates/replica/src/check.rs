//! The replica core's invariants (STYLE §4), asserted at the end of every `handle()` and
//! every public role change in debug builds.
//!
//! Owns: the properties that tie the link state to the data each state carries: the live
//! master only when CONNECTED, the `+FULLRESYNC` target only in TRANSFER, the cached
//! master never beside a live one, a held MULTI only on a live link, ACKs (I11).
//! Must never: change state, emit an action, or assert anything a peer's bytes can break
//! (a peer mistake closes the link: STYLE §3).

use crate::{ReplState, Replica};

impl Replica {
    /// Asserts the invariants below; a no-op in release builds.
    pub(crate) fn check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let connected = self.state == ReplState::Connected;
        debug_assert_eq!(
            self.master.is_some(),
            connected,
            "R47/R50/R59: live master {:?} in state {:?}",
            self.master,
            self.state
        );
        debug_assert_eq!(
            self.transfer.is_some(),
            self.state == ReplState::Transfer,
            "R46/R49: transfer target {:?} in state {:?}",
            self.transfer,
            self.state
        );
        debug_assert!(
            !(connected && self.cached.is_some()),
            "R47/R50: cached master {:?} beside a live one",
            self.cached
        );
        debug_assert!(
            self.multi.is_none() || connected,
            "R59: a MULTI block of {} command(s) held in state {:?}",
            self.multi.as_ref().map_or(0, |(cmds, _)| cmds.len()),
            self.state
        );
        debug_assert!(
            !self.pipelined || self.state < ReplState::SendPsync,
            "R39b: pipelined handshake flag still set in state {:?}",
            self.state
        );
        if let Some(m) = self.master {
            // I11, the pair of send_ack's assert: no ACK ahead of the applied offset, and
            // none at all to a SYNC-fallback master (R26).
            debug_assert!(
                self.last_ack_sent.is_none_or(|a| a <= m.reploff),
                "I11: last ACK {:?} ahead of reploff {}",
                self.last_ack_sent,
                m.reploff
            );
            debug_assert!(
                !m.pre_psync || self.last_ack_sent.is_none(),
                "R26: ACK {:?} sent to a SYNC-fallback master",
                self.last_ack_sent
            );
        }
    }
}
